/*
 * login.c - signing in and out of the portal.
 *
 * GET /login serves the form with a fresh CSRF token that is also set as the cookie
 * rt_login_csrf (double submit: there is no session yet to keep it in). POST /login checks the
 * token, then the rate limits (per user name and per address: RT_HTTP_RL_MAX_FAILS failures in
 * 15 minutes, then 429 with Retry-After), then the password: argon2id verification takes about
 * 64 MiB and a tenth of a second, so it runs on the thread pool, at most max_verifying at once
 * with a bounded queue behind them. An unknown user is verified against a dummy hash, so the
 * answer takes as long as for a known one. Success starts a session (cookie rt_session,
 * HttpOnly, SameSite=Strict, Path=/) and sends the person to /review (reviewer) or / (admin).
 */
#include <openssl/crypto.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"
#include "retraind/loop.h"

#define ROUTE "/login"
#define FIELD_MAX 256

void rt__http_login_form(struct rt_http_server *s, h2o_req_t *req, int status, const char *message)
{
    char token[65];
    if (rt__http_random_hex(token, 32)) {
        rt__http_respond_error(s, req, ROUTE, 503, "no random bytes available");
        return;
    }
    char cookie[160];
    rt_snprintf(cookie, sizeof(cookie),
                "rt_login_csrf=%s; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600", token);
    rt__http_header(req, "Set-Cookie", cookie);
    struct rt_buf b;
    rt_buf_init(&b, (size_t)1 << 20);
    int rc = rt__http_login_page(token, message, &b);
    if (rc)
        rt__http_respond_error(s, req, ROUTE, 500, "out of memory");
    else
        rt__http_respond(s, req, ROUTE, status, "text/html; charset=utf-8", b.data, b.len);
    rt_buf_cleanup(&b);
    OPENSSL_cleanse(token, sizeof(token));
    OPENSSL_cleanse(cookie, sizeof(cookie));
}

static const struct rt_config_review_user *find_user(const struct rt_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->review.n_users; i++)
        if (cfg->review.users[i].name && strcmp(cfg->review.users[i].name, name) == 0)
            return &cfg->review.users[i];
    return NULL;
}

static void start_verify(struct rt_http_server *s, struct rt_http_call *c);

static void verify_work(uv_work_t *w)
{
    rt_pool_thread_background();
    struct rt_http_call *c = w->data;
    c->login_ok = rt_password_verify(c->login_hash, c->login_password, strlen(c->login_password));
}

/* Answers a finished sign-in (if the client is still there). */
static void finish(struct rt_http_server *s, struct rt_http_call *c)
{
    h2o_req_t *req = c->req;
    char ukey[200], akey[80];
    rt_snprintf(ukey, sizeof(ukey), "u:%s", c->login_user);
    rt_snprintf(akey, sizeof(akey), "a:%s", c->login_addr);
    int64_t now = rt_mono_ms();
    if (!c->login_ok) {
        rt__http_rl_fail(&s->fails, ukey, now);
        rt__http_rl_fail(&s->fails, akey, now);
        RT_LOG(RT_LOG_NOTICE, "http", "event=sign_in_failed user=%s address=%s",
               rt_q(c->login_user), rt_q(c->login_addr));
        if (req)
            rt__http_login_form(s, req, 401, "Wrong user name or password.");
        return;
    }
    rt__http_rl_clear(&s->fails, ukey);
    if (!req)
        return; /* the client went away: no session nobody holds */
    struct rt_http_session *ses =
        rt__http_sessions_create(&s->sessions, c->login_user, c->login_role, now);
    if (!ses) {
        rt__http_respond_error(s, req, ROUTE, 503, "no random bytes available");
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "http", "event=sign_in user=%s role=%s address=%s", rt_q(c->login_user),
           c->login_role == RT_ROLE_ADMIN ? "admin" : "reviewer", rt_q(c->login_addr));
    char cookie[200];
    rt_snprintf(cookie, sizeof(cookie), "rt_session=%s; Path=/; HttpOnly; SameSite=Strict",
                ses->id);
    rt__http_header(req, "Set-Cookie", cookie);
    OPENSSL_cleanse(cookie, sizeof(cookie));
    rt__http_header(req, "Set-Cookie",
                    "rt_login_csrf=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0");
    rt__http_header(req, "Location", c->login_role == RT_ROLE_ADMIN ? "/" : "/review");
    rt__http_respond(s, req, ROUTE, 303, "text/plain; charset=utf-8", "signed in\n", 10);
}

static void verify_done(uv_work_t *w, int status)
{
    struct rt_http_call *c = w->data;
    struct rt_http_server *s = c->s;
    s->n_verifying--;
    if (status || c->login_unknown)
        c->login_ok = false;
    finish(s, c);
    rt__http_call_free(c);
    /* The next waiting sign-in takes the freed verifier. */
    if (s->login_head && !s->closing) {
        struct rt_http_call *next = s->login_head;
        s->login_head = next->next_login;
        if (!s->login_head)
            s->login_tail = NULL;
        s->n_login_waiting--;
        start_verify(s, next);
    }
}

static void start_verify(struct rt_http_server *s, struct rt_http_call *c)
{
    c->work.data = c;
    s->n_verifying++;
    int rc = uv_queue_work(s->loop, &c->work, verify_work, verify_done);
    if (rc) {
        s->n_verifying--;
        if (c->req)
            rt__http_respond_error(s, c->req, ROUTE, 503, "cannot check the password now");
        rt__http_call_free(c);
    }
}

void rt__http_login_drain(struct rt_http_server *s)
{
    while (s->login_head) {
        struct rt_http_call *c = s->login_head;
        s->login_head = c->next_login;
        s->n_login_waiting--;
        if (c->req)
            rt__http_respond_error(s, c->req, ROUTE, 503, "the server is stopping");
        rt__http_call_free(c);
    }
    s->login_tail = NULL;
}

void rt__http_login_post(struct rt_http_server *s, h2o_req_t *req)
{
    const char *body = req->entity.base ? req->entity.base : "";
    size_t len = req->entity.base ? req->entity.len : 0;
    if (len > s->limits.max_json_bytes) {
        rt__http_respond_error(s, req, ROUTE, 413, "the form is too big");
        return;
    }
    /* The double-submit check: the form's token must equal the cookie's. */
    char form_csrf[80] = "", cookie_csrf[80] = "";
    struct rt_str cookie = rt__http_req_header(req, "cookie");
    bool csrf_ok = rt__http_form_get(body, len, "csrf", form_csrf, sizeof(form_csrf)) == 0 &&
                   cookie.len &&
                   rt__http_cookie_get(cookie.p, cookie.len, "rt_login_csrf", cookie_csrf,
                                       sizeof(cookie_csrf)) == 0 &&
                   rt__http_secret_eq(form_csrf, cookie_csrf);
    OPENSSL_cleanse(form_csrf, sizeof(form_csrf));
    OPENSSL_cleanse(cookie_csrf, sizeof(cookie_csrf));
    if (!csrf_ok) {
        rt__http_respond_error(s, req, ROUTE, 403, "bad CSRF token: reload the sign-in page");
        return;
    }
    char user[FIELD_MAX], password[FIELD_MAX];
    if (rt__http_form_get(body, len, "user", user, sizeof(user)) || !user[0] ||
        rt__http_form_get(body, len, "password", password, sizeof(password)) || !password[0]) {
        rt__http_login_form(s, req, 400, "Give a user name and a password.");
        return;
    }
    char addr[64];
    rt__http_peer(req, addr, sizeof(addr));
    char ukey[200], akey[80];
    rt_snprintf(ukey, sizeof(ukey), "u:%s", user);
    rt_snprintf(akey, sizeof(akey), "a:%s", addr);
    int64_t now = rt_mono_ms();
    int wait_u = rt__http_rl_blocked(&s->fails, ukey, now);
    int wait_a = rt__http_rl_blocked(&s->fails, akey, now);
    int wait_s = wait_u > wait_a ? wait_u : wait_a;
    if (wait_s > 0) {
        OPENSSL_cleanse(password, sizeof(password));
        RT_LOG(RT_LOG_WARNING, "http", "event=sign_in_limited user=%s address=%s retry_s=%d",
               rt_q(user), rt_q(addr), wait_s);
        char retry[24];
        rt_snprintf(retry, sizeof(retry), "%d", wait_s);
        rt__http_header(req, "Retry-After", retry);
        rt__http_respond_error(s, req, ROUTE, 429, "too many failed sign-ins; try again later");
        return;
    }
    if (s->n_verifying >= s->limits.max_verifying &&
        s->n_login_waiting >= s->limits.max_login_waiting) {
        OPENSSL_cleanse(password, sizeof(password));
        rt__http_header(req, "Retry-After", "1");
        rt__http_respond_error(s, req, ROUTE, 429, "too many sign-ins at once; try again");
        return;
    }
    const struct rt_config_review_user *u = find_user(s->cfg, user);
    struct rt_http_call *c = rt__http_call_new(s, req, ROUTE);
    if (c) {
        c->login_user = rt_strdup(user);
        c->login_password = rt_strdup(password);
        c->login_hash = rt_strdup(u && u->password_hash ? u->password_hash : s->dummy_hash);
        c->login_addr = rt_strdup(addr);
        c->login_role = u ? u->role : RT_ROLE_REVIEWER;
    }
    OPENSSL_cleanse(password, sizeof(password));
    if (!c || !c->login_user || !c->login_password || !c->login_hash || !c->login_addr) {
        if (c)
            rt__http_call_free(c);
        rt__http_respond_error(s, req, ROUTE, 500, "out of memory");
        return;
    }
    c->login_unknown = !u; /* verified anyway (same time), never accepted */
    if (s->n_verifying < s->limits.max_verifying) {
        start_verify(s, c);
    } else {
        if (s->login_tail)
            s->login_tail->next_login = c;
        else
            s->login_head = c;
        s->login_tail = c;
        s->n_login_waiting++;
    }
}

void rt__http_logout(struct rt_http_server *s, h2o_req_t *req)
{
    struct rt_http_who who;
    if (rt__http_authenticate(s, req, &who) == 0 && who.session) {
        if (!rt__http_csrf_ok(s, req, &who)) {
            rt__http_respond_error(s, req, "/logout", 403, "bad CSRF token");
            return;
        }
        RT_LOG(RT_LOG_INFO, "http", "event=sign_out user=%s", rt_q(who.user));
        rt__http_sessions_end(&s->sessions, who.session);
    }
    rt__http_header(req, "Set-Cookie", "rt_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    rt__http_header(req, "Location", "/login");
    rt__http_respond(s, req, "/logout", 303, "text/plain; charset=utf-8", "signed out\n", 11);
}
