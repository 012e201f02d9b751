/*
 * store.c - helpers every store driver shares: key validation and the training-image rule.
 *
 * Design: a key is checked once, byte by byte, before any driver turns it into a path or a URL.
 * The rules are stricter than S3's own (S3 accepts "..", control characters and backslashes) so
 * that a key means the same thing in the local folder and in a bucket, and so that no key can
 * name anything outside the local store's root.
 */
#include "retraind/store.h"

#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"

/* Longest part of a refused key shown in an error message. */
#define QUOTE_MAX 100

static const char *quote_key(const char *key, size_t len, char *out, size_t size)
{
    return rt_quote_bytes(key, len, QUOTE_MAX, out, size);
}

/*
 * Length of the valid UTF-8 sequence starting at p (at most n bytes available), or 0 if it is
 * invalid: a stray continuation byte, a truncated sequence, an overlong form, a surrogate
 * (U+D800..U+DFFF) or a code point above U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t need;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1 (always overlong) or 0xf5.. */
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000))
        return 0; /* overlong */
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0; /* surrogate */
    if (cp > 0x10ffff)
        return 0;
    return need;
}

int rt_store_key_check(const char *key, size_t len, bool allow_trailing_slash, struct rt_error *err)
{
    char q[QUOTE_MAX * 4 + 16];
    if (!key)
        return rt_error_set(err, RT_EKEY, "store key refused: no key given");
    if (len == 0)
        return rt_error_set(err, RT_EKEY, "store key refused: the key is empty");
    if (len > RT_STORE_KEY_MAX)
        return rt_error_set(err, RT_EKEY,
                            "store key refused: %zu bytes is longer than the %d allowed: %s", len,
                            RT_STORE_KEY_MAX, quote_key(key, len, q, sizeof(q)));
    if (key[0] == '/')
        return rt_error_set(err, RT_EKEY, "store key refused: absolute key (leading '/'): %s",
                            quote_key(key, len, q, sizeof(q)));
    const unsigned char *p = (const unsigned char *)key;
    size_t seg_start = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == 0)
            return rt_error_set(err, RT_EKEY, "store key refused: NUL byte at offset %zu: %s", i,
                                quote_key(key, len, q, sizeof(q)));
        if (c < 0x20 || c == 0x7f)
            return rt_error_set(err, RT_EKEY,
                                "store key refused: control character 0x%02x at offset %zu: %s", c,
                                i, quote_key(key, len, q, sizeof(q)));
        if (c == '\\')
            return rt_error_set(err, RT_EKEY, "store key refused: backslash at offset %zu: %s", i,
                                quote_key(key, len, q, sizeof(q)));
        if (c >= 0x80) {
            size_t n = utf8_seq(p + i, len - i);
            if (n == 0)
                return rt_error_set(err, RT_EKEY,
                                    "store key refused: invalid UTF-8 at offset %zu: %s", i,
                                    quote_key(key, len, q, sizeof(q)));
            i += n;
            continue;
        }
        if (c == '/') {
            size_t seg_len = i - seg_start;
            if (seg_len == 0)
                return rt_error_set(err, RT_EKEY,
                                    "store key refused: empty segment ('//') at offset %zu: %s", i,
                                    quote_key(key, len, q, sizeof(q)));
            if ((seg_len == 1 && p[seg_start] == '.') ||
                (seg_len == 2 && p[seg_start] == '.' && p[seg_start + 1] == '.'))
                return rt_error_set(err, RT_EKEY,
                                    "store key refused: '.' or '..' segment at offset %zu: %s",
                                    seg_start, quote_key(key, len, q, sizeof(q)));
            seg_start = i + 1;
        }
        i++;
    }
    size_t seg_len = len - seg_start;
    if (seg_len == 0) {
        if (!allow_trailing_slash)
            return rt_error_set(err, RT_EKEY,
                                "store key refused: ends with '/' (a folder, not an object): %s",
                                quote_key(key, len, q, sizeof(q)));
    } else if ((seg_len == 1 && p[seg_start] == '.') ||
               (seg_len == 2 && p[seg_start] == '.' && p[seg_start + 1] == '.')) {
        return rt_error_set(err, RT_EKEY,
                            "store key refused: '.' or '..' segment at offset %zu: %s", seg_start,
                            quote_key(key, len, q, sizeof(q)));
    }
    return 0;
}

bool rt_store_is_image_key(const char *key)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png"};
    if (!key)
        return false;
    const char *slash = strrchr(key, '/');
    struct rt_str f = rt_str_c(slash ? slash + 1 : key);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (f.len > strlen(exts[i]) && rt_str_ends_with_ci(f, exts[i]))
            return true;
    return false;
}

const char *rt_store_image_content_type(const char *key)
{
    struct rt_str k = rt_str_c(key ? key : "");
    if (rt_str_ends_with_ci(k, ".jpg") || rt_str_ends_with_ci(k, ".jpeg"))
        return "image/jpeg";
    if (rt_str_ends_with_ci(k, ".png"))
        return "image/png";
    return "application/octet-stream";
}

bool rt_store_training_label(const char *labeled_prefix, const char *key, struct rt_str *label)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png"};
    if (!key)
        return false;
    size_t plen = labeled_prefix ? strlen(labeled_prefix) : 0;
    if (plen && strncmp(key, labeled_prefix, plen) != 0)
        return false;
    const char *rest = key + plen;
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest)
        return false; /* no label folder, or an empty label ("prefix//x.png") */
    const char *file = slash + 1;
    if (strchr(file, '/'))
        return false; /* nested deeper, or a placeholder of a sub-folder */
    struct rt_str f = rt_str_c(file);
    size_t lab_len = (size_t)(slash - rest);
    if ((lab_len == 1 && rest[0] == '.') || (lab_len == 2 && rest[0] == '.' && rest[1] == '.'))
        return false; /* never a class name; a validated key cannot hold it anyway */
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t elen = strlen(exts[i]);
        /* The file needs a name before its extension: a file called just ".png" is a hidden
         * file, not an image. An empty name ("a/", a placeholder) fails here too. */
        if (f.len > elen && rt_str_ends_with_ci(f, exts[i])) {
            if (label) {
                label->p = rest;
                label->len = lab_len;
            }
            return true;
        }
    }
    return false;
}

long rt_label_counts_add(struct rt_label_counts *c, struct rt_str label)
{
    /* Labels are few (folders), so a linear scan beats hashing here. */
    for (size_t i = 0; i < c->n; i++) {
        if (strlen(c->items[i].name) == label.len &&
            memcmp(c->items[i].name, label.p, label.len) == 0) {
            c->items[i].count++;
            c->total++;
            return (long)i;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct rt_label_count *p = rt_realloc(c->items, cap * sizeof(*p));
        if (!p)
            return RT_ENOMEM;
        c->items = p;
        c->cap = cap;
    }
    char *name = rt_strndup(label.p, label.len);
    if (!name)
        return RT_ENOMEM;
    c->items[c->n] = (struct rt_label_count){name, 1};
    c->total++;
    return (long)c->n++;
}

void rt_label_counts_cleanup(struct rt_label_counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        rt_free(c->items[i].name);
    rt_free(c->items);
    memset(c, 0, sizeof(*c));
}
