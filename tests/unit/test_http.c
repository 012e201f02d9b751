/*
 * test_http.c - the HTTP server with a fake backend, spoken to with real HTTP requests (libcurl)
 * over loopback: sign-in, sessions, cookies, CSRF, roles, bearer tokens, rate limits, body
 * limits, routing refusals, 503 for a missing operation, /metrics and /healthz.
 *
 * The server runs on its own loop in a second thread (the loop thread owns it entirely); the test
 * thread only makes blocking curl requests. Each case ends by closing the server from the loop
 * thread and checking that uv_loop_close() succeeds.
 */
#include <argon2.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/http.h"
#include "rt_test.h"

/* h2o keeps up to 16 freed chunks per thread in thread-local lists for reuse, by design; the
 * loop thread of these tests exits holding them, which LeakSanitizer would call a leak (in the
 * daemon the loop runs on the main thread, whose lists stay reachable). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

/* ---- the fake backend ---- */

struct fake {
    uv_timer_t timer; /* completes review_next on a later turn */
    struct rt_http_call *pending;
    int calls;
};

static void send_json(struct rt_http_call *call, int status, const char *text)
{
    rt_http_call_done(call, status, "application/json", text, strlen(text));
}

static void op_status(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    ((struct fake *)ud)->calls++;
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"fake\":\"status\",\"user\":\"%s\",\"limit\":%d}", rq->user,
             rq->limit);
    send_json(call, 200, buf);
}

static void op_param_set(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    ((struct fake *)ud)->calls++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", rq->id);
    cJSON_AddStringToObject(o, "value", rq->value);
    rt_http_call_json(call, 200, o);
}

static void op_answer(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    ((struct fake *)ud)->calls++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", rq->id);
    cJSON_AddStringToObject(o, "label", rq->value);
    cJSON_AddStringToObject(o, "worker", rq->user);
    rt_http_call_json(call, 200, o);
}

static void next_later(uv_timer_t *t)
{
    struct fake *f = t->data;
    struct rt_http_call *c = f->pending;
    f->pending = NULL;
    send_json(c, 200, "{\"id\":\"later\"}");
}

static void op_next(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct fake *f = ud;
    f->calls++;
    f->pending = call;
    uv_timer_start(&f->timer, next_later, 20, 0);
}

static void op_metrics(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)ud;
    (void)rq;
    static const char text[] = "# TYPE fake_metric gauge\nfake_metric 1\n";
    rt_http_call_done(call, 200, NULL, text, sizeof(text) - 1);
}

static void op_healthy(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)ud;
    (void)rq;
    rt_http_call_done(call, 200, "text/plain", "ok\n", 3);
}

/* The labeling-job operations echo what the route gave them. */
static void op_label_job_echo(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    ((struct fake *)ud)->calls++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "id", rq->id ? cJSON_CreateString(rq->id) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "value",
                          rq->value ? cJSON_CreateString(rq->value) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "role", rq->role == RT_ROLE_ADMIN ? "admin" : "reviewer");
    rt_http_call_json(call, 200, o);
}

static const struct rt_http_backend_ops fake_ops = {
    .label_jobs_json = op_label_job_echo,
    .label_job_json = op_label_job_echo,
    .label_job_create = op_label_job_echo,
    .label_job_example = op_label_job_echo,
    .status_json = op_status,
    .param_set = op_param_set,
    .review_answer = op_answer,
    .review_next = op_next,
    .metrics = op_metrics,
    .healthy = op_healthy,
    /* reviews_json and the others stay NULL: 503 */
};

/* ---- the fixture: a server on a loop thread ---- */

struct fx {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    struct rt_config *cfg;
    struct rt_http_server *s;
    struct fake fake;
    char base[64];
};

static void cheap_hash(const char *pw, char *out, size_t size)
{
    /* The verifier reads the costs from the hash: small ones keep the tests quick. */
    RT_ASSERT_INT_EQ(
        argon2id_hash_encoded(1, 256, 1, pw, strlen(pw), "saltsaltsalt", 12, 32, out, size),
        ARGON2_OK);
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[32];
    unsigned int n;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void server_closed(void *ud)
{
    struct fx *f = ud;
    uv_close((uv_handle_t *)&f->fake.timer, NULL);
}

static void on_stop(uv_async_t *a)
{
    struct fx *f = a->data;
    rt_http_server_close(f->s, server_closed, f);
    uv_close((uv_handle_t *)&f->stop, NULL);
}

static void loop_thread(void *arg)
{
    struct fx *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void fx_start_with(struct fx *f, const struct rt_http_backend_ops *ops)
{
    memset(f, 0, sizeof(*f));
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a write to a closed socket is an error */
    char alice[200], bob[200], admin_tok[65], rev_tok[65];
    cheap_hash("alice-pw", alice, sizeof(alice));
    cheap_hash("bob-pw", bob, sizeof(bob));
    sha256_hex("admin-token", admin_tok);
    sha256_hex("reviewer-token", rev_tok);
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/data\nstore: {driver: local, root: %s/store}\n"
             "review:\n  users:\n"
             "    - {name: alice, role: admin, password_hash: \"%s\"}\n"
             "    - {name: bob, password_hash: \"%s\"}\n"
             "http:\n  listen: 127.0.0.1:0\n  tokens:\n"
             "    - {name: ci-admin, role: admin, token_sha256: %s}\n"
             "    - {name: ci-reviewer, role: reviewer, token_sha256: %s}\n",
             rt_test_tmpdir(), rt_test_tmpdir(), alice, bob, admin_tok, rev_tok);
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_config_load_string(yaml, strlen(yaml), "t.yaml", rt_test_tmpdir(), &f->cfg, &err);
    if (rc)
        RT_FAIL("config: %s", err.msg);
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    uv_timer_init(&f->loop, &f->fake.timer);
    f->fake.timer.data = &f->fake;
    uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    struct rt_http_backend be = {.ops = ops, .ud = &f->fake};
    rc = rt_http_server_new(&f->loop, f->cfg, &be, &f->s, &err);
    if (rc)
        RT_FAIL("server: %s", err.msg);
    RT_ASSERT(rt_http_server_port(f->s) > 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", rt_http_server_port(f->s));
}

static void fx_run(struct fx *f)
{
    RT_ASSERT_OK(uv_thread_create(&f->thread, loop_thread, f));
}

static void fx_start(struct fx *f)
{
    fx_start_with(f, &fake_ops);
    fx_run(f);
}

static void fx_stop(struct fx *f)
{
    uv_async_send(&f->stop);
    uv_thread_join(&f->thread);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_config_destroy(f->cfg);
}

/* ---- requests ---- */

struct resp {
    long status;
    char headers[8192];
    size_t hlen;
    char body[70000];
    size_t blen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof(r->body) - 1 - r->blen;
    memcpy(r->body + r->blen, p, len < room ? len : room);
    r->blen += len < room ? len : room;
    r->body[r->blen] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof(r->headers) - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = '\0';
    return len;
}

/* Makes one request; headers is a NULL-terminated list of "Name: value" lines (may be NULL). */
static void request(struct fx *f,
                    const char *method,
                    const char *path,
                    const char *const *headers,
                    const char *body,
                    struct resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *e = curl_easy_init();
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    struct curl_slist *list = NULL;
    for (int i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK)
        RT_FAIL("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(e);
}

static void get(struct fx *f, const char *path, const char *header, struct resp *r)
{
    const char *h[] = {header, NULL};
    request(f, "GET", path, header ? h : NULL, NULL, r);
}

/* Copies the value of cookie name from the response's Set-Cookie lines into out. Returns: the
 * whole Set-Cookie line (static), or NULL. */
static const char *set_cookie(const struct resp *r, const char *name, char *out, size_t size)
{
    static char line[512];
    char want[80];
    snprintf(want, sizeof(want), "Set-Cookie: %s=", name);
    const char *p = strstr(r->headers, want);
    if (!p)
        return NULL;
    const char *end = strstr(p, "\r\n");
    snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
    const char *v = p + strlen(want);
    const char *semi = strchr(v, ';');
    snprintf(out, size, "%.*s", (int)(semi - v), v);
    return line;
}

/* Signs in; fills the session cookie header ("Cookie: rt_session=...") and the CSRF token. */
static long
sign_in(struct fx *f, const char *user, const char *pw, char *cookie, char *csrf, struct resp *r)
{
    get(f, "/login", NULL, r);
    RT_ASSERT_INT_EQ(r->status, 200);
    char login_csrf[100];
    RT_ASSERT(set_cookie(r, "rt_login_csrf", login_csrf, sizeof(login_csrf)));
    RT_ASSERT_CONTAINS(r->body, login_csrf); /* the form carries the same token */
    char form[400], ck[200];
    snprintf(form, sizeof(form), "user=%s&password=%s&csrf=%s", user, pw, login_csrf);
    snprintf(ck, sizeof(ck), "Cookie: rt_login_csrf=%s", login_csrf);
    const char *h[] = {ck, "Content-Type: application/x-www-form-urlencoded", NULL};
    request(f, "POST", "/login", h, form, r);
    if (r->status == 303 && cookie) {
        char id[100];
        RT_ASSERT(set_cookie(r, "rt_session", id, sizeof(id)));
        snprintf(cookie, 200, "Cookie: rt_session=%s", id);
        struct resp s;
        get(f, "/api/session", cookie, &s);
        RT_ASSERT_INT_EQ(s.status, 200);
        cJSON *o = cJSON_Parse(s.body);
        snprintf(csrf, 100, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "csrf")));
        cJSON_Delete(o);
    }
    return r->status;
}

/* ---- cases ---- */

RT_TEST(healthz_and_metrics)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    get(&f, "/healthz", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_STR_EQ(r.body, "ok\n");
    get(&f, "/api/status", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    get(&f, "/metrics", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "fake_metric 1\n");
    RT_ASSERT_CONTAINS(r.body, "retraind_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n");
    RT_ASSERT_CONTAINS(r.body,
                       "retraind_http_requests_total{route=\"/api/status\",code=\"401\"} 1\n");
    fx_stop(&f);
}

RT_TEST(api_refuses_without_credentials_or_with_a_bad_token)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    get(&f, "/api/status", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    RT_ASSERT_CONTAINS(r.body, "\"error\"");
    get(&f, "/api/status", "Authorization: Bearer wrong-token", &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    get(&f, "/api/status", "Authorization: Basic YWxpY2U6YWxpY2UtcHc=", &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    get(&f, "/api/status",
        "Cookie: rt_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    get(&f, "/api/status", "Authorization: Bearer reviewer-token", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    RT_ASSERT_INT_EQ(f.fake.calls, 0);
    get(&f, "/api/status?limit=7", "Authorization: Bearer admin-token", &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"user\":\"ci-admin\"");
    RT_ASSERT_CONTAINS(r.body, "\"limit\":7");
    RT_ASSERT_CONTAINS(r.headers, "X-Content-Type-Options: nosniff");
    RT_ASSERT_CONTAINS(r.headers, "X-Frame-Options: DENY");
    RT_ASSERT_CONTAINS(r.headers, "Content-Security-Policy: default-src 'self'");
    RT_ASSERT_CONTAINS(r.headers, "Cache-Control: no-store");
    get(&f, "/api/status?limit=0", "Authorization: Bearer admin-token", &r);
    RT_ASSERT_INT_EQ(r.status, 400);
    fx_stop(&f);
}

RT_TEST(pages_redirect_to_login)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    get(&f, "/", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /login");
    get(&f, "/review", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /login");
    fx_stop(&f);
}

RT_TEST(sign_in_sets_safe_cookies)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    get(&f, "/login", NULL, &r);
    char tok[100];
    const char *line = set_cookie(&r, "rt_login_csrf", tok, sizeof(tok));
    RT_ASSERT(line);
    RT_ASSERT_CONTAINS(line, "HttpOnly");
    RT_ASSERT_CONTAINS(line, "SameSite=Strict");
    RT_ASSERT_INT_EQ(strlen(tok), 64);
    char cookie[200], csrf[100];
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "alice-pw", cookie, csrf, &r), 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /\r\n");
    char id[100];
    line = set_cookie(&r, "rt_session", id, sizeof(id));
    RT_ASSERT(line);
    RT_ASSERT_CONTAINS(line, "HttpOnly");
    RT_ASSERT_CONTAINS(line, "SameSite=Strict");
    RT_ASSERT_CONTAINS(line, "Path=/");
    RT_ASSERT_INT_EQ(strlen(id), 64);
    RT_ASSERT_INT_EQ(strlen(csrf), 64);
    RT_ASSERT(strcmp(csrf, id) != 0);
    get(&f, "/", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.headers, "text/html");
    get(&f, "/api/status", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"user\":\"alice\"");
    fx_stop(&f);
}

RT_TEST(sign_in_refused)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "wrong", NULL, NULL, &r), 401);
    RT_ASSERT_CONTAINS(r.body, "Wrong user name or password.");
    RT_ASSERT(!strstr(r.headers, "rt_session="));
    RT_ASSERT_INT_EQ(sign_in(&f, "nobody", "alice-pw", NULL, NULL, &r), 401);
    /* No login CSRF cookie, or one that differs from the form's. */
    const char *h1[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    request(&f, "POST", "/login", h1, "user=alice&password=alice-pw&csrf=abc", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    const char *h2[] = {"Content-Type: application/x-www-form-urlencoded",
                        "Cookie: rt_login_csrf=abd", NULL};
    request(&f, "POST", "/login", h2, "user=alice&password=alice-pw&csrf=abc", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    RT_ASSERT(!strstr(r.headers, "rt_session="));
    fx_stop(&f);
}

RT_TEST(writes_need_the_csrf_token)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    char cookie[200], csrf[100], hdr[200];
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "alice-pw", cookie, csrf, &r), 303);
    const char *none[] = {cookie, NULL};
    request(&f, "PUT", "/api/params/Minimum-F1-Score", none, "{\"value\": 0.7}", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    const char *wrong[] = {cookie, "X-CSRF-Token: 0000", NULL};
    request(&f, "PUT", "/api/params/Minimum-F1-Score", wrong, "{\"value\": 0.7}", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    RT_ASSERT_INT_EQ(f.fake.calls, 0); /* refused before the backend */
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *right[] = {cookie, hdr, NULL};
    request(&f, "PUT", "/api/params/Minimum-F1-Score", right, "{\"value\": 0.7}", &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_STR_EQ(r.body, "{\"name\":\"Minimum-F1-Score\",\"value\":\"0.7\"}");
    request(&f, "PUT", "/api/params/Enable-A2I-Workflow", right, "{\"value\": false}", &r);
    RT_ASSERT_CONTAINS(r.body, "\"value\":\"false\"");
    request(&f, "PUT", "/api/params/X", right, "{\"value\": null}", &r);
    RT_ASSERT_INT_EQ(r.status, 400);
    /* A bearer token needs no CSRF token. */
    const char *bearer[] = {"Authorization: Bearer admin-token", NULL};
    request(&f, "PUT", "/api/params/Minimum-F1-Score", bearer, "{\"value\": \"0.5\"}", &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    fx_stop(&f);
}

RT_TEST(reviewer_kept_off_admin_pages)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    char cookie[200], csrf[100], hdr[200];
    RT_ASSERT_INT_EQ(sign_in(&f, "bob", "bob-pw", cookie, csrf, &r), 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /review");
    get(&f, "/", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /review");
    get(&f, "/api/status", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *h[] = {cookie, hdr, NULL};
    request(&f, "PUT", "/api/params/Minimum-F1-Score", h, "{\"value\": 0.7}", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    get(&f, "/review", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    request(&f, "POST", "/api/reviews/de-1.t/answer", h, "{\"label\": \"cat\"}", &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_STR_EQ(r.body, "{\"id\":\"de-1.t\",\"label\":\"cat\",\"worker\":\"bob\"}");
    request(&f, "POST", "/api/reviews/de-1.t/answer", h, "{\"label\": 3}", &r);
    RT_ASSERT_INT_EQ(r.status, 400);
    request(&f, "POST", "/api/reviews/de-1.t/answer", h, "not json", &r);
    RT_ASSERT_INT_EQ(r.status, 400);
    /* The backend may answer on a later loop turn. */
    get(&f, "/api/reviews/next", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_STR_EQ(r.body, "{\"id\":\"later\"}");
    fx_stop(&f);
}

RT_TEST(sign_in_rate_limited)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    for (int i = 0; i < RT_HTTP_RL_MAX_FAILS; i++)
        RT_ASSERT_INT_EQ(sign_in(&f, "bob", "guess", NULL, NULL, &r), 401);
    RT_ASSERT_INT_EQ(sign_in(&f, "bob", "guess", NULL, NULL, &r), 429);
    RT_ASSERT_CONTAINS(r.headers, "Retry-After: ");
    /* Even the right password waits now (per user and per address). */
    RT_ASSERT_INT_EQ(sign_in(&f, "bob", "bob-pw", NULL, NULL, &r), 429);
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "alice-pw", NULL, NULL, &r), 429);
    get(&f, "/metrics", NULL, &r);
    RT_ASSERT_CONTAINS(r.body, "retraind_http_requests_total{route=\"/login\",code=\"429\"} 3\n");
    fx_stop(&f);
}

RT_TEST(sessions_expire_and_end_at_sign_out)
{
    struct fx f;
    fx_start_with(&f, &fake_ops);
    f.s->sessions.idle_ms = 300; /* before the loop thread starts: no race */
    fx_run(&f);
    struct resp r;
    char cookie[200], csrf[100], hdr[200];
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "alice-pw", cookie, csrf, &r), 303);
    usleep(500 * 1000);
    get(&f, "/api/session", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    RT_ASSERT_INT_EQ(sign_in(&f, "alice", "alice-pw", cookie, csrf, &r), 303);
    const char *no_csrf[] = {cookie, NULL};
    request(&f, "POST", "/logout", no_csrf, "", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *h[] = {cookie, hdr, NULL};
    request(&f, "POST", "/logout", h, "", &r);
    RT_ASSERT_INT_EQ(r.status, 303);
    RT_ASSERT_CONTAINS(r.headers, "Location: /login");
    get(&f, "/api/session", cookie, &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    fx_stop(&f);
}

RT_TEST(missing_operation_is_503)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    get(&f, "/api/reviews", "Authorization: Bearer admin-token", &r);
    RT_ASSERT_INT_EQ(r.status, 503);
    RT_ASSERT_STR_EQ(r.body, "{\"error\":\"not available\"}");
    get(&f, "/api/models", "Authorization: Bearer admin-token", &r);
    RT_ASSERT_INT_EQ(r.status, 503);
    fx_stop(&f);
}

RT_TEST(unknown_routes_and_traversal_are_404)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    const char *tok = "Authorization: Bearer admin-token";
    static const char *const paths[] = {
        "/nope",
        "/api/status/",
        "/static/../review.html",
        "/static/%2e%2e/review.html",
        "/static/review.html", /* pages only through their routes */
        "/static/nope.css",
        "/static/..%2fapp.css",
        "/api/reviews/../status",
        "/api/reviews/..%2f..%2fetc%2fpasswd/image",
        "/api/reviews/%2e%2e/image",
        "/api/reviews/./image",
        "/api/reviews/a%00b/image",
        "//api/status",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        get(&f, paths[i], tok, &r);
        if (r.status != 404)
            RT_FAIL("%s: %ld, not 404", paths[i], r.status);
    }
    RT_ASSERT_INT_EQ(f.fake.calls, 0);
    get(&f, "/static/app.css", NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.headers, "Content-Type: text/css");
    request(&f, "DELETE", "/api/status", NULL, NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 405);
    fx_stop(&f);
}

RT_TEST(label_job_routes)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    const char *admin[] = {"Authorization: Bearer admin-token", NULL};
    const char *rev[] = {"Authorization: Bearer reviewer-token", NULL};
    /* POST gives the body itself to the operation; admins only. */
    request(&f, "POST", "/api/label-jobs", admin, "{\"name\": \"cats\", \"labels\": [1]}", &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"value\":\"{\\\"name\\\": \\\"cats\\\", \\\"labels\\\": [1]}\"");
    request(&f, "POST", "/api/label-jobs", rev, "{\"name\": \"cats\"}", &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    request(&f, "POST", "/api/label-jobs", admin, "", &r);
    RT_ASSERT_INT_EQ(r.status, 400);
    request(&f, "POST", "/api/label-jobs", NULL, "{}", &r);
    RT_ASSERT_INT_EQ(r.status, 401);
    get(&f, "/api/label-jobs", rev[0], &r);
    RT_ASSERT_INT_EQ(r.status, 403);
    get(&f, "/api/label-jobs", admin[0], &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"id\":null,\"value\":null");
    /* A reviewer reads a job's status and its examples; the route names the example. */
    get(&f, "/api/label-jobs/cats", rev[0], &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"id\":\"cats\",\"value\":null,\"role\":\"reviewer\"");
    get(&f, "/api/label-jobs/cats/examples/good", rev[0], &r);
    RT_ASSERT_INT_EQ(r.status, 200);
    RT_ASSERT_CONTAINS(r.body, "\"id\":\"cats\",\"value\":\"good\"");
    get(&f, "/api/label-jobs/cats/examples/bad", rev[0], &r);
    RT_ASSERT_CONTAINS(r.body, "\"value\":\"bad\"");
    int calls = f.fake.calls;
    static const char *const refused[] = {
        "/api/label-jobs/cats/examples/ugly",   "/api/label-jobs/cats/examples",
        "/api/label-jobs/../examples/good",     "/api/label-jobs/%2e%2e/examples/good",
        "/api/label-jobs/cats/examples/good/x",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        get(&f, refused[i], rev[0], &r);
        if (r.status != 404)
            RT_FAIL("%s: %ld, not 404", refused[i], r.status);
    }
    RT_ASSERT_INT_EQ(f.fake.calls, calls);
    request(&f, "DELETE", "/api/label-jobs/cats", admin, NULL, &r);
    RT_ASSERT_INT_EQ(r.status, 405);
    fx_stop(&f);
}

RT_TEST(big_bodies_refused)
{
    struct fx f;
    fx_start(&f);
    struct resp r;
    size_t n = 100 * 1024;
    char *big = rt_malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    const char *tok[] = {"Authorization: Bearer admin-token", NULL};
    request(&f, "POST", "/api/reviews/t1/answer", tok, big, &r);
    RT_ASSERT_INT_EQ(r.status, 413);
    /* Under h2o's limit but over the JSON one. */
    snprintf(big, 12 * 1024, "{\"label\": \"%*s\"}", 12000, "x");
    request(&f, "POST", "/api/reviews/t1/answer", tok, big, &r);
    RT_ASSERT_INT_EQ(r.status, 413);
    rt_free(big);
    RT_ASSERT_INT_EQ(f.fake.calls, 0);
    fx_stop(&f);
}

/* The parsers alone (their fuzz targets check crashes; these check answers). */
RT_TEST(parsers)
{
    char out[64];
    const char *c = "a=1; rt_session=abc;rt_login_csrf=\"q\" ; x";
    RT_ASSERT_OK(rt__http_cookie_get(c, strlen(c), "rt_session", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "abc");
    RT_ASSERT_OK(rt__http_cookie_get(c, strlen(c), "rt_login_csrf", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "q");
    RT_ASSERT_INT_EQ(rt__http_cookie_get(c, strlen(c), "rt", out, sizeof(out)), RT_ENOTFOUND);
    const char *form = "user=al%20ice&password=p+w%26&csrf=";
    RT_ASSERT_OK(rt__http_form_get(form, strlen(form), "user", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "al ice");
    RT_ASSERT_OK(rt__http_form_get(form, strlen(form), "password", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "p w&");
    RT_ASSERT_OK(rt__http_form_get(form, strlen(form), "csrf", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "");
    RT_ASSERT_INT_EQ(rt__http_form_get("a=%zz", 5, "a", out, sizeof(out)), RT_EPARSE);
    RT_ASSERT_INT_EQ(rt__http_form_get("a=%00", 5, "a", out, sizeof(out)), RT_EPARSE);
    RT_ASSERT_OK(rt__http_json_label("{\"label\":\"None of the Above\"}", 29, out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "None of the Above");
    RT_ASSERT_INT_EQ(rt__http_json_label("{\"label\":\"\"}", 12, out, sizeof(out)), RT_EPARSE);
    RT_ASSERT_INT_EQ(rt__http_json_label("[1]", 3, out, sizeof(out)), RT_EPARSE);
    RT_ASSERT_OK(rt__http_json_value("{\"value\":60}", 12, out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "60");
    RT_ASSERT_OK(rt__http_json_value("{\"value\":\"10m\"}", 15, out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "10m");
    RT_ASSERT_INT_EQ(rt__http_json_value("{\"value\":{}}", 12, out, sizeof(out)), RT_EPARSE);
    RT_ASSERT(rt__http_id_ok("de-20260101.x_1", 15));
    RT_ASSERT(!rt__http_id_ok("..", 2));
    RT_ASSERT(!rt__http_id_ok("a/b", 3));
    RT_ASSERT(!rt__http_id_ok("", 0));
}

struct client_arg {
    struct fx *f;
    struct resp r;
    CURLcode rc;
};

static void slow_client(void *p)
{
    struct client_arg *a = p;
    CURL *e = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "%s/api/reviews/next", a->f->base);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a->r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer reviewer-token");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    a->rc = curl_easy_perform(e);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

/* Closing with an idle keep-alive connection and a request still waiting on the backend: the
 * close ends both, waits for the backend's late completion, and leaves the loop closable. */
RT_TEST(close_with_open_connections)
{
    struct fx f;
    fx_start(&f);
    /* A kept-alive connection: the handle is not cleaned up before the close. */
    CURL *keep = curl_easy_init();
    char url[128];
    struct resp r;
    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "%s/healthz", f.base);
    curl_easy_setopt(keep, CURLOPT_URL, url);
    curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(keep, CURLOPT_WRITEDATA, &r);
    RT_ASSERT_INT_EQ(curl_easy_perform(keep), CURLE_OK);
    /* A request the fake backend answers 20 ms later; the close starts before that. */
    struct client_arg a = {.f = &f};
    uv_thread_t t;
    RT_ASSERT_OK(uv_thread_create(&t, slow_client, &a));
    for (int i = 0; i < 200 && !f.fake.pending; i++)
        usleep(1000);
    RT_ASSERT(f.fake.pending);
    uint64_t t0 = uv_hrtime();
    fx_stop(&f); /* asserts uv_loop_close() == 0 */
    /* At once: not after h2o's 10 s keep-alive timeout. */
    RT_ASSERT((uv_hrtime() - t0) / 1000000 < 2000);
    uv_thread_join(&t);
    curl_easy_cleanup(keep);
}
