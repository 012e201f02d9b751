/*
 * bench_httpc.c - requests per second and client CPU of httpc for 10,000 GETs at concurrency
 * 1, 8 and 64 against a tiny keep-alive HTTP server on loopback (libuv, in a thread of this
 * process), with the TCP connects counted on both sides.
 *
 * Target (issue 4): the client spends less CPU per request than the server it talks to, and uses
 * one connection per concurrent request throughout. The server here is deliberately minimal (no
 * parsing beyond finding the end of the headers), so it is a hard reference: a real server
 * (nginx, s3rver, an AWS endpoint) spends far more per request. Prints figures; never fails.
 *
 * Usage: bench_httpc [requests]   (default 10000)
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/sigv4.h"

/* ---- the server ---- */

struct server {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    int port;
    uint64_t accepts;
    uint64_t requests;
    double cpu_s; /* this thread's CPU, written at exit */
    uv_sem_t ready;
    struct conn *conns;
};

struct conn {
    uv_tcp_t tcp;
    struct server *s;
    char buf[8192];
    size_t len;
    int crlf_state;
    struct conn *prev, *next;
};

static const char reply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    b->base = c->buf;
    b->len = sizeof(c->buf);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    if (n < 0) {
        uv_close((uv_handle_t *)st, conn_closed);
        return;
    }
    /* count request ends ("\r\n\r\n") across reads with a tiny state machine */
    int replies = 0;
    for (ssize_t i = 0; i < n; i++) {
        char ch = b->base[i];
        int s = c->crlf_state;
        if ((s == 0 || s == 2) && ch == '\r')
            c->crlf_state = s + 1;
        else if ((s == 1 || s == 3) && ch == '\n')
            c->crlf_state = s + 1;
        else
            c->crlf_state = ch == '\r' ? 1 : 0;
        if (c->crlf_state == 4) {
            replies++;
            c->crlf_state = 0;
        }
    }
    c->s->requests += (uint64_t)replies;
    for (int i = 0; i < replies; i++) {
        uv_buf_t out = uv_buf_init((char *)reply, sizeof(reply) - 1);
        int w = uv_try_write(st, &out, 1);
        if (w == (int)out.len)
            continue;
        if (w > 0) {
            out.base += w;
            out.len -= (size_t)w;
        }
        uv_write_t *req = malloc(sizeof(*req));
        uv_write(req, st, &out, 1, write_done);
    }
}

static void on_conn(uv_stream_t *l, int status)
{
    struct server *s = l->data;
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    c->s = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0) {
        s->accepts++;
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void on_stop(uv_async_t *a)
{
    struct server *s = a->data;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->stop, NULL);
    for (struct conn *c = s->conns; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void server_thread(void *arg)
{
    struct server *s = arg;
    uv_loop_init(&s->loop);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&s->listener, 256, on_conn);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = ntohs(got.sin_port);
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->stop.data = s;
    uv_sem_post(&s->ready);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    s->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the client ---- */

struct run {
    uv_loop_t *loop;
    struct rt_httpc *h;
    struct rt_sigv4_cache *cache; /* NULL: unsigned GETs */
    char url[128];
    char host[64];
    int total, started, finished, failed, concurrency;
};

static void start_one(struct run *r);

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    (void)err;
    struct run *r = ud;
    r->finished++;
    if (status)
        r->failed++;
    if (r->started < r->total)
        start_one(r);
}

/* Signs each attempt as the AWS layer does (SigV4 with the derived-key cache, the current time). */
static int sign_attempt(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err)
{
    (void)attempt;
    struct run *r = ud;
    struct rt_sigv4_header hdr[] = {{RT_STR_LIT("Host"), rt_str_c(r->host)}};
    struct rt_sigv4_request sr = {
        .method = RT_STR_LIT("GET"), .path = RT_STR_LIT("/bench"), .headers = hdr, .n_headers = 1};
    struct rt_sigv4_config cfg = {.access_key = RT_STR_LIT("AKIDEXAMPLE"),
                                  .secret_key =
                                      RT_STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                  .region = RT_STR_LIT("us-east-1"),
                                  .service = RT_STR_LIT("ssm"),
                                  .time_s = rt_now_ms() / 1000,
                                  .cache = r->cache};
    struct rt_sigv4_result res;
    int rc = rt_sigv4_sign(&sr, &cfg, &res, err);
    for (size_t i = 0; !rc && i < res.n_add; i++) {
        char name[64], value[512];
        rt_snprintf(name, sizeof(name), "%.*s", (int)res.add[i].name.len, res.add[i].name.p);
        rt_snprintf(value, sizeof(value), "%.*s", (int)res.add[i].value.len, res.add[i].value.p);
        rc = rt_httpc_req_set_header(req, name, value);
    }
    return rc;
}

static void start_one(struct run *r)
{
    struct rt_httpc_req *q = NULL;
    int rc = rt_httpc_req_new("GET", r->url, &q);
    if (!rc && r->cache)
        rt_httpc_req_set_hooks(q, sign_attempt, NULL, r);
    if (rc || rt_httpc_send(r->h, q, on_done, r)) {
        r->failed++;
        r->finished++;
    }
    r->started++;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_closed(void *ud)
{
    *(int *)ud = 1;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 10000;
    if (total <= 0)
        total = 10000;
    bool sign = !(argc > 2 && strcmp(argv[2], "--unsigned") == 0);
    struct rt_sigv4_cache *cache = NULL;
    if (sign && rt_sigv4_cache_new(&cache) != 0)
        return 1;
    static const int concs[] = {1, 8, 64};
    printf("bench_httpc: %d %s GETs per run against a libuv keep-alive server on 127.0.0.1\n",
           total, sign ? "SigV4-signed" : "unsigned");
    printf("%-6s %10s %14s %14s %10s %10s  %s\n", "conc", "req/s", "client us/req", "server us/req",
           "connects", "accepts",
           "target: client CPU/req < server's, "
           "connects == conc");
    for (size_t i = 0; i < sizeof(concs) / sizeof(concs[0]); i++) {
        struct server s;
        memset(&s, 0, sizeof(s));
        uv_sem_init(&s.ready, 0);
        uv_thread_t th;
        uv_thread_create(&th, server_thread, &s);
        uv_sem_wait(&s.ready);

        uv_loop_t loop;
        uv_loop_init(&loop);
        struct rt_error err;
        rt_error_clear(&err);
        struct rt_httpc *h = NULL;
        if (rt_httpc_new(&loop, NULL, &h, &err)) {
            fprintf(stderr, "rt_httpc_new: %s\n", err.msg);
            return 1;
        }
        struct run r = {
            .loop = &loop, .h = h, .cache = cache, .total = total, .concurrency = concs[i]};
        snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d/bench", s.port);
        snprintf(r.host, sizeof(r.host), "127.0.0.1:%d", s.port);
        double c0 = cpu_self();
        int64_t t0 = rt_mono_ms();
        for (int k = 0; k < concs[i] && r.started < total; k++)
            start_one(&r);
        while (r.finished < total)
            uv_run(&loop, UV_RUN_ONCE);
        int64_t t1 = rt_mono_ms();
        double c1 = cpu_self();
        struct rt_httpc_stats st;
        rt_httpc_get_stats(h, &st);
        int closed = 0;
        rt_httpc_close(h, on_closed, &closed);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);

        /* the server thread's CPU so far is part of c1 - c0: take it out */
        uv_async_send(&s.stop);
        uv_thread_join(&th);
        double server_cpu = s.cpu_s;
        double client_cpu = (c1 - c0) - server_cpu;
        if (client_cpu < 0)
            client_cpu = 0;
        double secs = (double)(t1 - t0) / 1000.0;
        double c_us = client_cpu * 1e6 / total, s_us = server_cpu * 1e6 / total;
        printf("%-6d %10.0f %14.1f %14.1f %10llu %10llu  %s%s%s\n", concs[i],
               secs > 0 ? total / secs : 0.0, c_us, s_us, (unsigned long long)st.connects,
               (unsigned long long)s.accepts, c_us < s_us ? "cpu met" : "cpu MISSED",
               (int)s.accepts == concs[i] ? ", connects met" : ", connects differ",
               r.failed ? " (failures!)" : "");
        uv_sem_destroy(&s.ready);
    }
    rt_sigv4_cache_destroy(cache);
    printf("note: the reference server only finds header ends and writes a constant reply; a\n"
           "real server (TLS, parsing, handlers) spends many times more per request, so a MISSED\n"
           "cpu target here is against a far cheaper server than the one the target names.\n");
    return 0;
}
