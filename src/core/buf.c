/*
 * buf.c - string views and bounded buffers.
 */
#include "retraind/buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "retraind/alloc.h"
#include "retraind/error.h"

struct rt_str rt_str_c(const char *s)
{
    return (struct rt_str){s ? s : "", s ? strlen(s) : 0};
}

bool rt_str_eq(struct rt_str a, struct rt_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool rt_str_eq_c(struct rt_str a, const char *c)
{
    return rt_str_eq(a, rt_str_c(c));
}

bool rt_str_starts_with(struct rt_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

bool rt_str_ends_with_ci(struct rt_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && strncasecmp(s.p + s.len - n, suffix, n) == 0;
}

void rt_buf_init(struct rt_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_bytes = max_bytes;
}

void rt_buf_cleanup(struct rt_buf *b)
{
    rt_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rt_buf_cleanup_secret(struct rt_buf *b)
{
    if (b->data)
        rt_free_secret(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rt_buf_reset(struct rt_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int reserve(struct rt_buf *b, size_t extra)
{
    if (extra > b->max_bytes || b->len > b->max_bytes - extra)
        return RT_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (cap > b->max_bytes + 1)
        cap = b->max_bytes + 1;
    char *p = rt_realloc(b->data, cap);
    if (!p)
        return RT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int rt_buf_append(struct rt_buf *b, const void *p, size_t len)
{
    int rc = reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int rt_buf_append_str(struct rt_buf *b, const char *s)
{
    return rt_buf_append(b, s, strlen(s));
}

int rt_buf_append_char(struct rt_buf *b, char c)
{
    return rt_buf_append(b, &c, 1);
}

int rt_buf_vprintf(struct rt_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return RT_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int rt_buf_printf(struct rt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *rt_buf_detach(struct rt_buf *b)
{
    char *p = b->data;
    if (!p)
        p = rt_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int rt_snprintf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (size)
            out[0] = '\0';
        return RT_EINVAL;
    }
    return (size_t)n >= size ? RT_ETOOBIG : 0;
}

int rt_strlcpy(char *out, const char *src, size_t size)
{
    if (size == 0)
        return RT_ETOOBIG;
    size_t n = strlen(src);
    if (n >= size) {
        memcpy(out, src, size - 1);
        out[size - 1] = '\0';
        return RT_ETOOBIG;
    }
    memcpy(out, src, n + 1);
    return 0;
}

const char *rt_quote_bytes(const char *s, size_t len, size_t max_shown, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= size || i >= max_shown) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
