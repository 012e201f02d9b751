/*
 * assets.c - the pages, styles and scripts of src/http/www/, embedded in the binary at build time
 * (embed.cmake writes the table rt__http_assets). A file is found by its exact name only: a name
 * with a '/' or a dot segment can never match, so no request path ever reaches the file system.
 *
 * login.html is a template: {{csrf}} becomes the form's CSRF token and {{message}} a sentence
 * for the person (HTML-escaped), both filled by rt__http_login_page.
 */
#include <string.h>

#include "internal.h"
#include "retraind/error.h"

extern const struct rt_http_asset rt__http_assets[];

const struct rt_http_asset *rt__http_asset(const char *name, size_t len)
{
    for (const struct rt_http_asset *a = rt__http_assets; a->name; a++)
        if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return a;
    return NULL;
}

static int append_escaped(struct rt_buf *out, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '&':
            rc = rt_buf_append_str(out, "&amp;");
            break;
        case '<':
            rc = rt_buf_append_str(out, "&lt;");
            break;
        case '>':
            rc = rt_buf_append_str(out, "&gt;");
            break;
        case '"':
            rc = rt_buf_append_str(out, "&quot;");
            break;
        case '\'':
            rc = rt_buf_append_str(out, "&#39;");
            break;
        default:
            rc = rt_buf_append_char(out, *s);
        }
    }
    return rc;
}

int rt__http_login_page(const char *csrf, const char *message, struct rt_buf *out)
{
    const struct rt_http_asset *a = rt__http_asset("login.html", 10);
    if (!a)
        return rt_buf_append_str(out, "login.html is missing from this build");
    const char *p = (const char *)a->data, *end = p + a->len;
    int rc = 0;
    while (p < end && !rc) {
        const char *open = memmem(p, (size_t)(end - p), "{{", 2);
        if (!open)
            return rt_buf_append(out, p, (size_t)(end - p));
        rc = rt_buf_append(out, p, (size_t)(open - p));
        if (rc)
            break;
        if ((size_t)(end - open) >= 8 && memcmp(open, "{{csrf}}", 8) == 0) {
            rc = append_escaped(out, csrf);
            p = open + 8;
        } else if ((size_t)(end - open) >= 11 && memcmp(open, "{{message}}", 11) == 0) {
            rc = append_escaped(out, message ? message : "");
            p = open + 11;
        } else {
            rc = rt_buf_append(out, "{{", 2);
            p = open + 2;
        }
    }
    return rc;
}
