/*
 * parse.c - the small parsers of outside input the server needs beyond h2o's own HTTP parsing:
 * Cookie header values, url-encoded forms and query strings, the two JSON bodies it accepts, and
 * path ids. Pure functions with bounded output, each with a fuzz target (tests/fuzz/http.cmake).
 */
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/error.h"
#include "retraind/form.h"

static int copy_out(const char *p, size_t len, char *out, size_t size)
{
    if (len >= size)
        return RT_ETOOBIG;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int rt__http_cookie_get(const char *header, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        /* One "name=value" pair up to ';'. */
        size_t end = i;
        while (end < len && header[end] != ';')
            end++;
        size_t a = i, b = end;
        while (a < b && is_ows(header[a]))
            a++;
        while (b > a && is_ows(header[b - 1]))
            b--;
        const char *eq = memchr(header + a, '=', b - a);
        if (eq && (size_t)(eq - (header + a)) == nlen && memcmp(header + a, name, nlen) == 0) {
            const char *v = eq + 1;
            size_t vlen = (size_t)(header + b - v);
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (memchr(v, '\0', vlen))
                return RT_ENOTFOUND;
            return copy_out(v, vlen, out, size);
        }
        i = end + 1;
    }
    return RT_ENOTFOUND;
}

int rt__http_form_get(const char *text, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        const char *eq = memchr(text + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (text + i)) : end - i;
        /* Names we look for never need decoding; an encoded name simply does not match. */
        if (klen == nlen && memcmp(text + i, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : text + end;
            size_t vlen = (size_t)(text + end - v);
            int rc = copy_out(v, vlen, out, size);
            if (rc)
                return rc;
            if (strlen(out) != vlen) /* a raw NUL inside */
                return RT_EPARSE;
            return rt_form_decode(out) ? RT_EPARSE : 0;
        }
        i = end + 1;
    }
    return RT_ENOTFOUND;
}

static cJSON *parse_object(const char *body, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (o && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int rt__http_json_label(const char *body, size_t len, char *out, size_t size)
{
    cJSON *o = parse_object(body, len);
    if (!o)
        return RT_EPARSE;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "label");
    int rc = RT_EPARSE;
    if (cJSON_IsString(l) && l->valuestring[0])
        rc = copy_out(l->valuestring, strlen(l->valuestring), out, size);
    cJSON_Delete(o);
    return rc;
}

int rt__http_json_value(const char *body, size_t len, char *out, size_t size)
{
    cJSON *o = parse_object(body, len);
    if (!o)
        return RT_EPARSE;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    int rc = RT_EPARSE;
    if (cJSON_IsString(v)) {
        rc = copy_out(v->valuestring, strlen(v->valuestring), out, size);
    } else if (cJSON_IsBool(v)) {
        rc = copy_out(cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5, out, size);
    } else if (cJSON_IsNumber(v)) {
        char *text = cJSON_PrintUnformatted(v);
        if (text)
            rc = copy_out(text, strlen(text), out, size);
        else
            rc = RT_ENOMEM;
        cJSON_free(text);
    }
    cJSON_Delete(o);
    return rc;
}

bool rt__http_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int rt__http_random_hex(char *out, size_t n)
{
    unsigned char raw[64];
    if (n > sizeof(raw))
        return RT_EINVAL;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(raw + got, n - got, 0);
        if (r <= 0)
            return RT_EIO;
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

bool rt__http_secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}
