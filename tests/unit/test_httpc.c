/*
 * test_httpc.c - the HTTP client against a real server on loopback (tests/servers/http_server.py):
 * success and connection reuse, retries and their limits, the quota, hooks, timeouts, body caps,
 * loop responsiveness, close with requests in flight, and what reaches the log.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "../../src/httpc/httpc_int.h"
#include "../servers/spawn.h"
#include "retraind/alloc.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "rt_test.h"

/* ---- fixtures ---- */

static struct rt_test_server srv;
static uv_loop_t loop;
static struct rt_httpc *hc;

static void start(const struct rt_httpc_opts *opts)
{
    RT_ASSERT_INT_EQ(rt_test_server_start(&srv, "http_server.py", NULL), 0);
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts def = {.backoff_base_ms = 10, .backoff_max_ms = 200};
    RT_ASSERT_OK(rt_httpc_new(&loop, opts ? opts : &def, &hc, &err));
}

static void on_closed(void *ud)
{
    *(int *)ud = 1;
}

static void finish(void)
{
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_test_server_stop(&srv);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

struct result {
    int done;
    int status;
    int http;
    int attempts;
    int64_t date_ms;
    char body[8192];
    size_t body_len;
    char reqid[128];
    char echo_method[16];
    char echo_length[32];
    struct rt_error err;
};

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct result *r = ud;
    r->done++;
    r->status = status;
    r->http = resp->status;
    r->attempts = resp->attempts;
    r->date_ms = resp->date_ms;
    r->body_len = resp->body.len;
    if (resp->body.data)
        rt_strlcpy(r->body, resp->body.data, sizeof(r->body));
    const char *v = rt_httpc_resp_header(resp, "X-AMZN-REQUESTID");
    rt_strlcpy(r->reqid, v ? v : "", sizeof(r->reqid));
    v = rt_httpc_resp_header(resp, "x-echo-method");
    rt_strlcpy(r->echo_method, v ? v : "", sizeof(r->echo_method));
    v = rt_httpc_resp_header(resp, "X-Echo-Length");
    rt_strlcpy(r->echo_length, v ? v : "", sizeof(r->echo_length));
    if (err)
        r->err = *err;
    else
        rt_error_clear(&r->err);
}

static void url_for(char *out, size_t size, const char *path_query)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", srv.port, path_query);
}

static struct rt_httpc_req *new_req(const char *method, const char *path_query)
{
    char url[512];
    url_for(url, sizeof(url), path_query);
    struct rt_httpc_req *r = NULL;
    RT_ASSERT_OK(rt_httpc_req_new(method, url, &r));
    return r;
}

/* Sends req and runs the loop until it completes. */
static void run(struct rt_httpc_req *req, struct result *res)
{
    memset(res, 0, sizeof(*res));
    RT_ASSERT_OK(rt_httpc_send(hc, req, on_done, res));
    while (!res->done)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(res->done, 1);
}

static void get(const char *path_query, struct result *res)
{
    run(new_req("GET", path_query), res);
}

/* Reads /stats with a plain blocking socket (not through the client under test). */
static void stats(char *out, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    const char *q = "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    RT_ASSERT(write(fd, q, strlen(q)) == (ssize_t)strlen(q));
    size_t len = 0;
    ssize_t k;
    while (len < size - 1 && (k = read(fd, out + len, size - 1 - len)) > 0)
        len += (size_t)k;
    out[len] = '\0';
    close(fd);
}

/* Returns: the integer after "name": in the stats JSON, or -1. */
static long stat_int(const char *json, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\": ", name);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static long server_count(const char *key)
{
    char js[65536];
    stats(js, sizeof(js));
    const char *keys = strstr(js, "\"keys\": {");
    RT_ASSERT(keys != NULL);
    long n = stat_int(keys, key);
    return n < 0 ? 0 : n;
}

static long server_connections(void)
{
    char js[65536];
    stats(js, sizeof(js));
    return stat_int(js, "connections");
}

/* ---- success, headers, reuse ---- */

RT_TEST(get_ok_and_connection_reuse)
{
    start(NULL);
    struct result res;
    for (int i = 0; i < 10; i++) {
        get("/a?key=seq&body=hello", &res);
        RT_ASSERT_INT_EQ(res.status, 0);
        RT_ASSERT_INT_EQ(res.http, 200);
        RT_ASSERT_INT_EQ(res.attempts, 1);
        RT_ASSERT_STR_EQ(res.body, "hello");
        RT_ASSERT(strncmp(res.reqid, "req-", 4) == 0); /* header lookup ignores case */
        RT_ASSERT(res.date_ms > 1600000000000LL);
    }
    RT_ASSERT_INT_EQ(server_count("seq"), 10);
    RT_ASSERT_INT_EQ(server_connections(), 1);
    struct rt_httpc_stats st;
    rt_httpc_get_stats(hc, &st);
    RT_ASSERT_INT_EQ(st.connects, 1);
    RT_ASSERT_INT_EQ(st.requests, 10);
    RT_ASSERT_INT_EQ(st.retries, 0);
    finish();
}

RT_TEST(concurrent_requests_all_complete)
{
    start(NULL);
    enum { N = 20 };
    struct result res[N];
    memset(res, 0, sizeof(res));
    for (int i = 0; i < N; i++)
        RT_ASSERT_OK(rt_httpc_send(hc, new_req("GET", "/c?key=conc&delay=50"), on_done, &res[i]));
    uv_run(&loop, UV_RUN_DEFAULT); /* ends when every request completed (timers idle) */
    for (int i = 0; i < N; i++) {
        RT_ASSERT_INT_EQ(res[i].done, 1);
        RT_ASSERT_INT_EQ(res[i].status, 0);
    }
    RT_ASSERT_INT_EQ(server_count("conc"), N);
    long conns = server_connections();
    RT_ASSERT(conns >= 2 && conns <= N);
    finish();
}

RT_TEST(post_body_and_headers)
{
    start(NULL);
    struct rt_httpc_req *r = new_req("POST", "/echo?key=post");
    RT_ASSERT_OK(rt_httpc_req_set_header(r, "X-Test", "one"));
    RT_ASSERT_OK(rt_httpc_req_set_header(r, "x-test", "two")); /* replaces, case-insensitive */
    RT_ASSERT_STR_EQ(rt_httpc_req_header(r, "X-TEST"), "two");
    RT_ASSERT_INT_EQ(rt_httpc_req_header_count(r), 1);
    RT_ASSERT_OK(rt_httpc_req_set_body(r, "{\"a\":1}", 7, true));
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_STR_EQ(res.echo_method, "POST");
    RT_ASSERT_STR_EQ(res.body, "{\"a\":1}");
    char js[65536];
    stats(js, sizeof(js));
    RT_ASSERT_CONTAINS(js, "\"X-Test\": \"two\"");
    RT_ASSERT_CONTAINS(js, "\"Content-Length\": \"7\"");
    RT_ASSERT(strstr(js, "Expect") == NULL);
    RT_ASSERT(strstr(js, "x-www-form-urlencoded") == NULL); /* only headers the caller set */

    /* empty-bodied DELETE and HEAD */
    run(new_req("DELETE", "/echo"), &res);
    RT_ASSERT_STR_EQ(res.echo_method, "DELETE");
    run(new_req("HEAD", "/x?body=abc"), &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ(res.body_len, 0);
    finish();
}

struct stream_state {
    uint64_t total;
    uint64_t seen;
    int prepares;
};

static int64_t source_fn(void *ud, char *buf, size_t size, uint64_t offset)
{
    struct stream_state *s = ud;
    if (offset >= s->total)
        return 0;
    size_t k = s->total - offset < size ? (size_t)(s->total - offset) : size;
    for (size_t i = 0; i < k; i++)
        buf[i] = (char)('a' + (offset + i) % 26);
    return (int64_t)k;
}

static int sink_fn(void *ud, const char *p, size_t len)
{
    struct stream_state *s = ud;
    (void)p;
    s->seen += len;
    return 0;
}

RT_TEST(streamed_bodies)
{
    start(NULL);
    struct stream_state up = {.total = 3u << 20};
    struct rt_httpc_req *r = new_req("PUT", "/echo");
    rt_httpc_req_set_source(r, source_fn, &up, -1); /* chunked */
    rt_httpc_req_set_sink(r, sink_fn, &up);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_STR_EQ(res.echo_method, "PUT");
    RT_ASSERT_STR_EQ(res.echo_length, "3145728");
    RT_ASSERT_INT_EQ(up.seen, 3u << 20);
    RT_ASSERT_INT_EQ(res.body_len, 0); /* went to the sink */

    struct stream_state down = {0};
    r = new_req("GET", "/big?huge=5000000");
    rt_httpc_req_set_sink(r, sink_fn, &down);
    rt_httpc_req_set_max_body(r, 8u << 20);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ(down.seen, 5000000);
    finish();
}

/* ---- streamed 2xx bodies (rt_httpc_req_set_stream) ---- */

struct st_state {
    size_t seen;
    int calls, status_seen;
    int fail_with;   /* return this from the first call (0: never) */
    bool close_from; /* close the client from inside the first call */
    int closed;
};

static int stream_fn(void *ud, const struct rt_httpc_resp *resp, const char *p, size_t len)
{
    struct st_state *s = ud;
    (void)p;
    s->calls++;
    s->seen += len;
    s->status_seen = resp->status;
    if (s->close_from && s->calls == 1)
        rt_httpc_close(hc, on_closed, &s->closed);
    return s->calls == 1 ? s->fail_with : 0;
}

RT_TEST(stream_gets_2xx_bodies_in_pieces_and_keeps_error_bodies)
{
    start(NULL);
    /* A 2xx body arrives in pieces, with the status known; nothing is kept in memory. */
    struct st_state s = {0};
    struct rt_httpc_req *r = new_req("GET", "/big?huge=3000000&chunked=1");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    rt_httpc_req_set_max_body(r, 4u << 20);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ((int)s.seen, 3000000);
    RT_ASSERT(s.calls > 1);
    RT_ASSERT_INT_EQ(s.status_seen, 200);
    RT_ASSERT_INT_EQ(res.body_len, 0);
    /* max_body still bounds it. */
    s = (struct st_state){0};
    r = new_req("GET", "/big?huge=3000000");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    rt_httpc_req_set_max_body(r, 1u << 20);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ETOOBIG);
    /* An error reply's body is kept for classify and the completion, never streamed. */
    s = (struct st_state){0};
    r = new_req("GET", "/x?status=404&body=nope");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_EIO);
    RT_ASSERT_STR_EQ(res.body, "nope");
    RT_ASSERT_INT_EQ(s.calls, 0);
    /* A 503 then a 200: only the 200's body is streamed. */
    s = (struct st_state){0};
    r = new_req("GET", "/x?key=st1&fail=1&body=hello");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ(res.attempts, 2);
    RT_ASSERT_INT_EQ((int)s.seen, 5);
    /* A stream error aborts with its code and is not retried. */
    s = (struct st_state){.fail_with = RT_EPARSE};
    r = new_req("GET", "/x?key=st2&body=hello");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_EPARSE);
    RT_ASSERT_INT_EQ(server_count("st2"), 1);
    finish();
}

/* rt_httpc_close from inside a stream callback (inside curl's write callback) is deferred: the
 * transfer aborts with RT_ECANCELED, the client closes, the loop closes, nothing leaks. */
RT_TEST(stream_callback_may_close_the_client)
{
    start(NULL);
    struct st_state s = {.close_from = true};
    struct rt_httpc_req *r = new_req("GET", "/big?huge=3000000");
    rt_httpc_req_set_stream(r, stream_fn, &s);
    rt_httpc_req_set_max_body(r, 4u << 20);
    struct result res;
    memset(&res, 0, sizeof(res));
    RT_ASSERT_OK(rt_httpc_send(hc, r, on_done, &res));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(res.done, 1);
    RT_ASSERT_INT_EQ(res.status, RT_ECANCELED);
    RT_ASSERT_INT_EQ(s.calls, 1);
    RT_ASSERT_INT_EQ(s.closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_test_server_stop(&srv);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- retries ---- */

RT_TEST(retry_5xx_then_success)
{
    start(NULL);
    struct result res;
    get("/r?key=r1&fail=2", &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ(res.http, 200);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT_INT_EQ(server_count("r1"), 3);
    struct rt_httpc_stats st;
    rt_httpc_get_stats(hc, &st);
    RT_ASSERT_INT_EQ(st.retries, 2);
    RT_ASSERT_INT_EQ(st.quota_tokens, 495); /* 2 x 5 spent, the successful retry's 5 refunded */
    finish();
}

RT_TEST(retries_stop_at_the_limit)
{
    start(NULL);
    struct result res;
    get("/r?key=dead&fail=100", &res);
    RT_ASSERT_INT_EQ(res.status, RT_EIO);
    RT_ASSERT_INT_EQ(res.err.code, RT_EIO);
    RT_ASSERT_INT_EQ(res.err.http_status, 503);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT_CONTAINS(res.err.msg, "after 3 attempts");
    RT_ASSERT_INT_EQ(server_count("dead"), 3);

    struct rt_httpc_req *r = new_req("GET", "/r?key=dead5&fail=100");
    rt_httpc_req_set_max_attempts(r, 5);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.attempts, 5);
    RT_ASSERT_INT_EQ(server_count("dead5"), 5);
    finish();
}

RT_TEST(client_max_attempts_option)
{
    struct rt_httpc_opts o = {.max_attempts = 2, .backoff_base_ms = 5};
    start(&o);
    struct result res;
    get("/r?key=two&fail=100", &res);
    RT_ASSERT_INT_EQ(res.attempts, 2);
    RT_ASSERT_INT_EQ(server_count("two"), 2);
    finish();
}

RT_TEST(no_retry_on_4xx)
{
    start(NULL);
    struct result res;
    get("/r?key=nf&status=404&body=missing", &res);
    RT_ASSERT_INT_EQ(res.status, RT_EIO);
    RT_ASSERT_INT_EQ(res.err.http_status, 404);
    RT_ASSERT_INT_EQ(res.http, 404);
    RT_ASSERT_STR_EQ(res.body, "missing"); /* the body still reaches the caller */
    RT_ASSERT_INT_EQ(res.attempts, 1);
    RT_ASSERT_INT_EQ(server_count("nf"), 1);
    finish();
}

static enum rt_httpc_verdict
classify_throttle(const struct rt_httpc_resp *resp, void *ud, struct rt_error *err)
{
    (void)ud;
    if (resp->status == 400 && resp->body.data && strcmp(resp->body.data, "Throttling") == 0) {
        rt_error_set(err, RT_ETHROTTLED, "Rate exceeded");
        rt_strlcpy(err->aws_code, "Throttling", sizeof(err->aws_code));
        return RT_HTTPC_THROTTLE;
    }
    return RT_HTTPC_DEFAULT;
}

RT_TEST(classify_hook_throttling_is_retried)
{
    start(NULL);
    struct result res;
    struct rt_httpc_req *r = new_req("GET", "/t?key=th1&fail=1&throttle=1");
    rt_httpc_req_set_hooks(r, NULL, classify_throttle, NULL);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT_INT_EQ(res.attempts, 2);
    RT_ASSERT_INT_EQ(server_count("th1"), 2);

    r = new_req("GET", "/t?key=th2&fail=100&throttle=1");
    rt_httpc_req_set_hooks(r, NULL, classify_throttle, NULL);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ETHROTTLED);
    RT_ASSERT_STR_EQ(res.err.aws_code, "Throttling");
    RT_ASSERT_CONTAINS(res.err.msg, "Rate exceeded");
    RT_ASSERT_INT_EQ(res.err.http_status, 400);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT_INT_EQ(server_count("th2"), 3);

    /* the same 400 without the hook is a plain client error: not retried */
    get("/t?key=th3&fail=100&throttle=1", &res);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    RT_ASSERT_INT_EQ(server_count("th3"), 1);
    finish();
}

struct prep_state {
    int calls;
    uint64_t at[8];
};

static int prepare_mark(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err)
{
    (void)err;
    struct prep_state *p = ud;
    if (p->calls < 8)
        p->at[p->calls] = uv_now(&loop);
    p->calls++;
    char v[16];
    snprintf(v, sizeof(v), "%d", attempt);
    return rt_httpc_req_set_header(req, "X-Attempt", v);
}

RT_TEST(prepare_runs_before_every_attempt_and_backoff_grows)
{
    struct rt_httpc_opts o = {.max_attempts = 4, .backoff_base_ms = 40, .backoff_max_ms = 1000};
    start(&o);
    struct prep_state p = {0};
    struct rt_httpc_req *r = new_req("GET", "/b?key=bk&fail=100");
    rt_httpc_req_set_hooks(r, prepare_mark, NULL, &p);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.attempts, 4);
    RT_ASSERT_INT_EQ(p.calls, 4);
    RT_ASSERT_INT_EQ(server_count("bk"), 4);
    char js[65536];
    stats(js, sizeof(js));
    RT_ASSERT_CONTAINS(js, "\"X-Attempt\": \"4\""); /* the last attempt carried its own header */
    /* waits happened (full jitter: each is random in [0, cap), their sum is > 0) */
    RT_ASSERT(p.at[3] > p.at[0]);
    for (int i = 1; i < 4; i++)
        RT_ASSERT(p.at[i] >= p.at[i - 1]);
    /* the caps double and stop at the maximum (aws-wire.md 11.1) */
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 1), 1000);
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 2), 2000);
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 3), 4000);
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 5), 16000);
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 6), 20000);
    RT_ASSERT_INT_EQ(rt__backoff_cap_ms(1000, 20000, 60), 20000);
    finish();
}

static int prepare_fail(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err)
{
    (void)req;
    (void)ud;
    (void)attempt;
    return rt_error_set(err, RT_ECREDENTIALS, "no credentials");
}

RT_TEST(prepare_error_ends_the_request)
{
    start(NULL);
    struct rt_httpc_req *r = new_req("GET", "/p?key=pf");
    rt_httpc_req_set_hooks(r, prepare_fail, NULL, NULL);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ECREDENTIALS);
    RT_ASSERT_STR_EQ(res.err.msg, "no credentials");
    RT_ASSERT_INT_EQ(server_count("pf"), 0);
    finish();
}

RT_TEST(retry_quota_limits_a_dead_endpoint)
{
    struct rt_httpc_opts o = {.max_attempts = 10, .backoff_base_ms = 1, .retry_quota = 12};
    start(&o);
    struct result res;
    get("/q?key=q1&fail=1000", &res);
    /* 12 tokens pay two retries of 5 */
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT_CONTAINS(res.err.msg, "retry quota exhausted");
    get("/q?key=q2&fail=1000", &res);
    RT_ASSERT_INT_EQ(res.attempts, 1); /* 2 tokens left: no retry at all */
    RT_ASSERT_INT_EQ(server_count("q1"), 3);
    RT_ASSERT_INT_EQ(server_count("q2"), 1);
    /* successes refund one token each */
    for (int i = 0; i < 3; i++)
        get("/q?key=ok", &res);
    struct rt_httpc_stats st;
    rt_httpc_get_stats(hc, &st);
    RT_ASSERT_INT_EQ(st.quota_tokens, 5);
    get("/q?key=q3&fail=1000", &res);
    RT_ASSERT_INT_EQ(res.attempts, 2);
    finish();
}

static enum rt_httpc_verdict
classify_skew(const struct rt_httpc_resp *resp, void *ud, struct rt_error *err)
{
    int *seen = ud;
    (*seen)++;
    int64_t now = (int64_t)time(NULL) * 1000;
    if (resp->date_ms && (resp->date_ms < now - 900000 || resp->date_ms > now + 900000)) {
        rt_error_set(err, RT_ESIGNATURE, "RequestTimeTooSkewed");
        return RT_HTTPC_SKEW;
    }
    return RT_HTTPC_DEFAULT;
}

RT_TEST(skew_retries_once)
{
    start(NULL);
    int seen = 0;
    struct rt_httpc_req *r =
        new_req("GET", "/s?key=sk&status=403&date=Mon,%2001%20Jan%202001%2000:00:00%20GMT");
    rt_httpc_req_set_hooks(r, NULL, classify_skew, &seen);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(seen, 2);
    RT_ASSERT_INT_EQ(res.attempts, 2); /* retried once, then the skew verdict is a failure */
    RT_ASSERT_INT_EQ(res.status, RT_ESIGNATURE);
    RT_ASSERT_INT_EQ(res.date_ms, 978307200000LL);
    RT_ASSERT_INT_EQ(server_count("sk"), 2);
    finish();
}

/* ---- network failures, timeouts, caps ---- */

RT_TEST(reset_and_truncation_are_retried)
{
    start(NULL);
    struct result res;
    get("/n?key=rst&reset=1", &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENETWORK);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT(server_count("rst") >= 3);
    get("/n?key=tr&truncate=1", &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENETWORK);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT(server_count("tr") >= 3);
    finish();
}

RT_TEST(connect_failure_is_retried)
{
    start(NULL);
    /* a port nobody listens on: bind one, then close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    RT_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    RT_ASSERT(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct rt_httpc_req *r;
    RT_ASSERT_OK(rt_httpc_req_new("GET", url, &r));
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENETWORK);
    RT_ASSERT_INT_EQ(res.attempts, 3);
    RT_ASSERT_INT_EQ(res.http, 0);
    finish();
}

RT_TEST(total_timeout_fires)
{
    start(NULL);
    struct rt_httpc_req *r = new_req("GET", "/slow?key=slow&delay=3000");
    rt_httpc_req_set_timeouts(r, 0, 300);
    rt_httpc_req_set_max_attempts(r, 1);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ETIMEDOUT);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    finish();
}

RT_TEST(body_cap_gives_etoobig)
{
    start(NULL);
    struct rt_httpc_req *r = new_req("GET", "/h?key=big&huge=100000");
    rt_httpc_req_set_max_body(r, 1000);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ETOOBIG);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    /* without Content-Length the cap is found while reading */
    r = new_req("GET", "/h?key=bigc&huge=100000&chunked=1");
    rt_httpc_req_set_max_body(r, 1000);
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ETOOBIG);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    RT_ASSERT_INT_EQ(server_count("bigc"), 1);
    finish();
}

static void tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

RT_TEST(loop_stays_responsive_during_a_slow_call)
{
    start(NULL);
    uv_timer_t t;
    int ticks = 0;
    uv_timer_init(&loop, &t);
    t.data = &ticks;
    uv_timer_start(&t, tick, 10, 10);
    struct result res;
    get("/slow?delay=800", &res);
    RT_ASSERT_INT_EQ(res.status, 0);
    RT_ASSERT(ticks >= 5); /* the timer kept firing while the reply was awaited */
    uv_close((uv_handle_t *)&t, NULL);
    finish();
}

static void close_from_timer(uv_timer_t *t)
{
    int *closed = t->data;
    rt_httpc_close(hc, on_closed, closed);
    uv_close((uv_handle_t *)t, NULL);
}

RT_TEST(close_with_requests_in_flight)
{
    struct rt_httpc_opts o = {.backoff_base_ms = 5000};
    start(&o);
    enum { N = 4 };
    struct result res[N + 1];
    memset(res, 0, sizeof(res));
    for (int i = 0; i < N; i++)
        RT_ASSERT_OK(rt_httpc_send(hc, new_req("GET", "/slow?delay=3000"), on_done, &res[i]));
    /* and one waiting for its retry */
    RT_ASSERT_OK(rt_httpc_send(hc, new_req("GET", "/r?key=w&fail=100"), on_done, &res[N]));
    uv_timer_t t;
    int closed = 0;
    uv_timer_init(&loop, &t);
    t.data = &closed;
    uv_timer_start(&t, close_from_timer, 200, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    for (int i = 0; i <= N; i++) {
        RT_ASSERT_INT_EQ(res[i].done, 1);
        RT_ASSERT_INT_EQ(res[i].status, RT_ECANCELED);
    }
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_test_server_stop(&srv);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(send_after_close_is_refused)
{
    start(NULL);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    RT_ASSERT_INT_EQ(rt_httpc_send(hc, new_req("GET", "/"), on_done, NULL), RT_ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_test_server_stop(&srv);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- refusals and secrets ---- */

RT_TEST(refuses_other_schemes_and_header_injection)
{
    start(NULL);
    struct rt_httpc_req *r;
    RT_ASSERT_OK(rt_httpc_req_new("GET", "file:///etc/passwd", &r));
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_EINVAL);
    RT_ASSERT_INT_EQ(res.attempts, 1);

    r = new_req("GET", "/");
    RT_ASSERT_INT_EQ(rt_httpc_req_set_header(r, "X-A", "v\r\nX-Evil: 1"), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_httpc_req_set_header(r, "X-A\n", "v"), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_httpc_req_set_header(r, "X:A", "v"), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_httpc_req_header_count(r), 0);
    rt_httpc_req_free(r);
    RT_ASSERT_INT_EQ(rt_httpc_req_new("GET\r\n", "http://x/", &r), RT_EINVAL);
    finish();
}

RT_TEST(tls_is_verified)
{
    start(NULL);
    /* https against a plain-HTTP port: the handshake fails, nothing is accepted */
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/?key=tls", srv.port);
    struct rt_httpc_req *r;
    RT_ASSERT_OK(rt_httpc_req_new("GET", url, &r));
    rt_httpc_req_set_max_attempts(r, 1);
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENETWORK);
    RT_ASSERT_INT_EQ(res.http, 0);
    finish();
}

RT_TEST(secrets_never_reach_the_log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/log.txt", rt_test_tmpdir());
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    RT_ASSERT(fd >= 0);
    rt_log_set_fd(fd);
    rt_log_set_level(RT_LOG_DEBUG);
    start(NULL);
    struct rt_httpc_req *r =
        new_req("GET", "/sec?key=sec&fail=1&X-Amz-Signature=QUERYSECRET&X-Amz-Security-Token=TOK");
    RT_ASSERT_OK(rt_httpc_req_set_header(r, "Authorization", "AWS4-HMAC-SHA256 HEADERSECRET"));
    RT_ASSERT_OK(rt_httpc_req_set_header(r, "Cookie", "COOKIESECRET"));
    struct result res;
    run(r, &res);
    get("/sec?key=sec2&fail=100&X-Amz-Signature=QUERYSECRET", &res);
    RT_ASSERT_INT_EQ(res.status, RT_EIO);
    finish();
    rt_log_set_fd(2);
    close(fd);
    char buf[65536];
    FILE *f = fopen(path, "r");
    RT_ASSERT(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    RT_ASSERT_CONTAINS(buf, "event=attempt ");
    RT_ASSERT_CONTAINS(buf, "event=retry ");
    RT_ASSERT_CONTAINS(buf, "event=give_up");
    RT_ASSERT_CONTAINS(buf, "/sec");
    RT_ASSERT(strstr(buf, "QUERYSECRET") == NULL);
    RT_ASSERT(strstr(buf, "HEADERSECRET") == NULL);
    RT_ASSERT(strstr(buf, "COOKIESECRET") == NULL);
    RT_ASSERT(strstr(buf, "TOK") == NULL);
    RT_ASSERT(strstr(res.err.msg, "QUERYSECRET") == NULL);
}

RT_TEST(url_for_log_strips_userinfo_and_query)
{
    char out[256];
    rt__url_for_log("https://user:pw@host:8443/a/b?X-Amz-Signature=s#f", out, sizeof(out));
    RT_ASSERT_STR_EQ(out, "https://host:8443/a/b");
    rt__url_for_log("smtp://u:p@mail.example.com", out, sizeof(out));
    RT_ASSERT_STR_EQ(out, "smtp://mail.example.com");
    RT_ASSERT(rt_httpc_url_is_loopback("smtp://127.0.0.1:25"));
    RT_ASSERT(rt_httpc_url_is_loopback("smtp://u:p@localhost"));
    RT_ASSERT(rt_httpc_url_is_loopback("smtp://[::1]:2525"));
    RT_ASSERT(!rt_httpc_url_is_loopback("smtp://mail.example.com:587"));
    RT_ASSERT(!rt_httpc_url_is_loopback("smtp://127.0.0.1.evil.com"));
}

RT_TEST(https_with_ca_file_and_without)
{
    const char *args[] = {"--tls", rt_test_tmpdir(), NULL};
    RT_ASSERT_INT_EQ(rt_test_server_start(&srv, "http_server.py", args), 0);
    char ca[600], url[128];
    snprintf(ca, sizeof(ca), "%s/cert.pem", rt_test_tmpdir());
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/tls?key=tls&body=secure", srv.port);
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);

    /* the system CAs do not know the test certificate: refused, and not retried */
    RT_ASSERT_OK(rt_httpc_new(&loop, NULL, &hc, &err));
    struct rt_httpc_req *r;
    RT_ASSERT_OK(rt_httpc_req_new("GET", url, &r));
    struct result res;
    run(r, &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENETWORK);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);

    /* with the CA file the same request succeeds */
    struct rt_httpc_opts o = {.ca_file = ca};
    RT_ASSERT_OK(rt_httpc_new(&loop, &o, &hc, &err));
    for (int i = 0; i < 3; i++) {
        RT_ASSERT_OK(rt_httpc_req_new("GET", url, &r));
        run(r, &res);
        RT_ASSERT_INT_EQ(res.status, 0);
        RT_ASSERT_STR_EQ(res.body, "secure");
    }
    struct rt_httpc_stats st;
    rt_httpc_get_stats(hc, &st);
    RT_ASSERT_INT_EQ(st.connects, 1); /* TLS connections are reused too */
    finish();
}

/* ---- the path goes out exactly as given (CURLOPT_PATH_AS_IS) ---- */

/*
 * A raw loopback server on the test's own loop: it records the request line of each connection
 * and answers 200 with Connection: close. Python's http.server would do, but it normalises
 * nothing either way; this one shows the bytes curl put on the wire.
 */
struct raw_srv {
    uv_tcp_t tcp;
    uv_tcp_t client;
    bool client_open;
    int port;
    char buf[8192];
    size_t len;
    char line[2048]; /* the last request line */
    int requests;
    uv_write_t wr;
};

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct raw_srv *s = h->data;
    b->base = s->buf + s->len;
    b->len = sizeof(s->buf) - 1 - s->len;
}

static void raw_client_closed(uv_handle_t *h)
{
    ((struct raw_srv *)h->data)->client_open = false;
}

static void raw_written(uv_write_t *w, int status)
{
    (void)status;
    struct raw_srv *s = w->data;
    uv_close((uv_handle_t *)&s->client, raw_client_closed);
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct raw_srv *s = st->data;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)&s->client))
            uv_close((uv_handle_t *)&s->client, raw_client_closed);
        return;
    }
    s->len += (size_t)n;
    s->buf[s->len] = '\0';
    if (!strstr(s->buf, "\r\n\r\n"))
        return;
    uv_read_stop(st);
    size_t l = strcspn(s->buf, "\r\n");
    snprintf(s->line, sizeof(s->line), "%.*s", (int)l, s->buf);
    s->requests++;
    static char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    uv_buf_t out = uv_buf_init(reply, sizeof(reply) - 1);
    s->wr.data = s;
    uv_write(&s->wr, st, &out, 1, raw_written);
}

static void raw_connection(uv_stream_t *server, int status)
{
    struct raw_srv *s = server->data;
    RT_ASSERT_INT_EQ(status, 0);
    RT_ASSERT(!s->client_open); /* the client here sends one request at a time */
    RT_ASSERT_OK(uv_tcp_init(&loop, &s->client));
    s->client.data = s;
    s->client_open = true;
    s->len = 0;
    RT_ASSERT_OK(uv_accept(server, (uv_stream_t *)&s->client));
    RT_ASSERT_OK(uv_read_start((uv_stream_t *)&s->client, raw_alloc, raw_read));
}

static void raw_start(struct raw_srv *s)
{
    memset(s, 0, sizeof(*s));
    RT_ASSERT_OK(uv_tcp_init(&loop, &s->tcp));
    s->tcp.data = s;
    struct sockaddr_in a;
    RT_ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &a));
    RT_ASSERT_OK(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0));
    RT_ASSERT_OK(uv_listen((uv_stream_t *)&s->tcp, 8, raw_connection));
    struct sockaddr_in got;
    int len = sizeof(got);
    RT_ASSERT_OK(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len));
    s->port = ntohs(got.sin_port);
}

RT_TEST(path_sent_exactly_as_given)
{
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_httpc_new(&loop, NULL, &hc, &err));
    struct raw_srv s;
    raw_start(&s);
    /* Dot segments and empty segments that a URL normaliser would squash; S3 signs the path as
     * sent, so any rewrite would break the signature. */
    const char *targets[] = {
        "/a/./b//c/../d",
        "/bucket/x/../../etc/passwd",
        "/./k//..//v/.?list-type=2&prefix=a%2F..%2F",
        "/bucket/%2E%2E/..%2F/key",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char url[512], want[600];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s.port, targets[i]);
        snprintf(want, sizeof(want), "GET %s HTTP/1.1", targets[i]);
        struct rt_httpc_req *r;
        RT_ASSERT_OK(rt_httpc_req_new("GET", url, &r));
        struct result res;
        run(r, &res);
        RT_ASSERT_INT_EQ(res.status, 0);
        RT_ASSERT_INT_EQ(s.requests, (int)i + 1);
        RT_ASSERT_STR_EQ(s.line, want);
    }
    uv_close((uv_handle_t *)&s.tcp, NULL);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT(!s.client_open);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- every setopt result is checked ---- */

RT_TEST(refused_option_fails_before_the_transfer_starts)
{
    start(NULL);
    /* curl refusing an option (the test hook makes it refuse PATH_AS_IS as an old libcurl
     * would) ends the request with an error naming the option; nothing reaches the server. */
    rt__httpc_refuse_option(CURLOPT_PATH_AS_IS);
    struct result res;
    get("/refused?key=refused", &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENOTIMPL);
    RT_ASSERT_INT_EQ(res.http, 0);
    RT_ASSERT_INT_EQ(res.attempts, 1);
    RT_ASSERT_CONTAINS(res.err.msg, "CURLOPT_PATH_AS_IS");
    RT_ASSERT_CONTAINS(res.err.msg, "not started");
    /* Also on a later attempt's options (the URL is set again at every attempt). */
    rt__httpc_refuse_option(CURLOPT_URL);
    get("/refused?key=refused", &res);
    RT_ASSERT_INT_EQ(res.status, RT_ENOTIMPL);
    RT_ASSERT_CONTAINS(res.err.msg, "CURLOPT_URL");
    rt__httpc_refuse_option(0);
    get("/ok?key=accepted", &res); /* the pooled easy handle is still good */
    RT_ASSERT_INT_EQ(res.status, 0);
    char st[4096];
    stats(st, sizeof(st));
    RT_ASSERT(strstr(st, "\"refused\"") == NULL);
    RT_ASSERT_CONTAINS(st, "\"accepted\": 1");
    finish();
    /* The multi handle's options too: the client is not made, nothing leaks. */
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    rt__httpc_refuse_option(CURLMOPT_TIMERFUNCTION);
    struct rt_httpc *h2 = NULL;
    RT_ASSERT_INT_EQ(rt_httpc_new(&loop, NULL, &h2, &err), RT_ENOTIMPL);
    RT_ASSERT(h2 == NULL);
    RT_ASSERT_CONTAINS(err.msg, "CURLMOPT_TIMERFUNCTION");
    rt__httpc_refuse_option(0);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
