/*
 * fuzz_http_parsers.c - fuzz target for the HTTP server's own parsers of outside input
 * (src/http/parse.c): the Cookie header, url-encoded forms and query strings, the two JSON bodies
 * the API accepts ({"label": L} and {"value": V}) and path ids.
 *
 * Input: one selector byte, then the text. Besides crashes it checks what the server relies on:
 * an output is always NUL-terminated within its buffer and never holds a NUL before its end; a
 * label is never empty; an accepted id has only [A-Za-z0-9._-] and is not "." or "..".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "retraind/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_out(int rc, const char *out, size_t size)
{
    if (rc != 0)
        return;
    if (!memchr(out, '\0', size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 6;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char out[256];
    int rc;
    switch (sel) {
    case 0:
        rc = rt__http_cookie_get(text, len, "rt_session", out, sizeof(out));
        check_out(rc, out, sizeof(out));
        if (rc && rc != RT_ENOTFOUND && rc != RT_ETOOBIG)
            abort();
        break;
    case 1:
        rc = rt__http_form_get(text, len, "password", out, sizeof(out));
        check_out(rc, out, sizeof(out));
        if (rc && rc != RT_ENOTFOUND && rc != RT_ETOOBIG && rc != RT_EPARSE)
            abort();
        break;
    case 2:
        rc = rt__http_json_label(text, len, out, sizeof(out));
        check_out(rc, out, sizeof(out));
        if (rc == 0 && out[0] == '\0')
            abort();
        break;
    case 3:
        rc = rt__http_json_value(text, len, out, sizeof(out));
        check_out(rc, out, sizeof(out));
        break;
    case 4:
        if (rt__http_id_ok(text, len)) {
            if (len == 0 || (len == 1 && text[0] == '.') || (len == 2 && !memcmp(text, "..", 2)))
                abort();
            for (size_t i = 0; i < len; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                            text[i]) ||
                    text[i] == '\0')
                    abort();
        }
        break;
    default: {
        /* A query string: every field the routes read. */
        static const char *const names[] = {"state", "workflow", "label", "route", "limit", "csrf"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            rc = rt__http_form_get(text, len, names[i], out, sizeof(out));
            check_out(rc, out, sizeof(out));
        }
        break;
    }
    }
    return 0;
}
