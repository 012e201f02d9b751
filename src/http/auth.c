/*
 * auth.c - who is asking: an API bearer token or a signed-in session, and the CSRF check.
 *
 * Design: a bearer token is configured only as the SHA-256 of the token, so the config file never
 * holds a usable secret; the presented token is hashed and compared with every configured hash in
 * constant time (all of them, so the time does not say which one matched). A request that comes
 * with a bearer token is judged by it alone: a wrong token is 401 even when a session cookie is
 * also present. Browsers never send bearer tokens by themselves, so requests that carry one need
 * no CSRF token; cookie-authenticated writes do (X-CSRF-Token, or the form field csrf).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "internal.h"
#include "retraind/clock.h"

#define MAX_TOKEN_BYTES 512

const struct rt_config_http_token *rt__http_token_find(const struct rt_config *cfg,
                                                       const char *token)
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (!EVP_Digest(token, strlen(token), digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
        return NULL;
    char hex[65];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
    const struct rt_config_http_token *found = NULL;
    for (int i = 0; i < cfg->http.n_tokens; i++) {
        const char *want = cfg->http.tokens[i].token_sha256;
        if (want && strlen(want) == 64 && CRYPTO_memcmp(want, hex, 64) == 0)
            found = &cfg->http.tokens[i];
    }
    OPENSSL_cleanse(hex, sizeof(hex));
    OPENSSL_cleanse(digest, sizeof(digest));
    return found;
}

int rt__http_authenticate(struct rt_http_server *s, h2o_req_t *req, struct rt_http_who *who)
{
    memset(who, 0, sizeof(*who));
    struct rt_str auth = rt__http_req_header(req, "authorization");
    if (auth.len) {
        static const char bearer[] = "Bearer ";
        size_t bl = sizeof(bearer) - 1;
        if (auth.len <= bl || auth.len > bl + MAX_TOKEN_BYTES ||
            strncasecmp(auth.p, bearer, bl) != 0)
            return 401;
        char token[MAX_TOKEN_BYTES + 1];
        memcpy(token, auth.p + bl, auth.len - bl);
        token[auth.len - bl] = '\0';
        const struct rt_config_http_token *t =
            strlen(token) == auth.len - bl ? rt__http_token_find(s->cfg, token) : NULL;
        OPENSSL_cleanse(token, sizeof(token));
        if (!t)
            return 401;
        who->user = t->name;
        who->role = t->role;
        return 0;
    }
    struct rt_str cookie = rt__http_req_header(req, "cookie");
    char id[RT_HTTP_SESSION_ID_HEX + 1];
    if (!cookie.len || rt__http_cookie_get(cookie.p, cookie.len, "rt_session", id, sizeof(id)))
        return 401;
    struct rt_http_session *ses = rt__http_sessions_find(&s->sessions, id, rt_mono_ms());
    OPENSSL_cleanse(id, sizeof(id));
    if (!ses)
        return 401;
    who->user = ses->user;
    who->role = ses->role;
    who->session = ses;
    return 0;
}

static bool is_form(h2o_req_t *req)
{
    struct rt_str ct = rt__http_req_header(req, "content-type");
    static const char form[] = "application/x-www-form-urlencoded";
    return ct.len >= sizeof(form) - 1 && strncasecmp(ct.p, form, sizeof(form) - 1) == 0;
}

bool rt__http_csrf_ok(struct rt_http_server *s, h2o_req_t *req, const struct rt_http_who *who)
{
    (void)s;
    if (!who->session)
        return true; /* a bearer token: no ambient credential to forge */
    char got[RT_HTTP_SESSION_ID_HEX + 1] = "";
    struct rt_str h = rt__http_req_header(req, "x-csrf-token");
    if (h.len && h.len < sizeof(got)) {
        memcpy(got, h.p, h.len);
        got[h.len] = '\0';
    } else if (!h.len && is_form(req) && req->entity.base) {
        if (rt__http_form_get(req->entity.base, req->entity.len, "csrf", got, sizeof(got)))
            got[0] = '\0';
    }
    return got[0] && rt__http_secret_eq(got, who->session->csrf);
}
