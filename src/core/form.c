/*
 * form.c - x-www-form-urlencoded encoding and decoding (see form.h).
 */
#include "retraind/form.h"

#include "retraind/error.h"

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int rt_form_encode(struct rt_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* Copy each run of unreserved bytes at once, then one escape. */
        const unsigned char *run = p;
        while (*p && unreserved(*p))
            p++;
        int rc = p > run ? rt_buf_append(b, run, (size_t)(p - run)) : 0;
        if (!rc && *p) {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = rt_buf_append(b, esc, sizeof(esc));
            p++;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int rt_form_add(struct rt_buf *b, const char *name, const char *value)
{
    int rc = b->len ? rt_buf_append_char(b, '&') : 0;
    if (!rc)
        rc = rt_form_encode(b, name);
    if (!rc)
        rc = rt_buf_append_char(b, '=');
    if (!rc)
        rc = rt_form_encode(b, value);
    return rc;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int rt_form_decode(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%') {
            int hi = hex_value(r[1]);
            int lo = hi < 0 ? -1 : hex_value(r[2]);
            if (lo < 0 || (hi | lo) == 0)
                return RT_EPARSE;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}
