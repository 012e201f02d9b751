/*
 * httpc.c - libcurl's multi interface driven by the libuv loop, with the SDKs' standard retries.
 *
 * How the loop drives curl (curl's multi-uv pattern, written for one loop that owns all state):
 *   - curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION): each socket gets a
 *     struct sock_ctx owning a uv_poll_t, attached to the socket with curl_multi_assign and freed
 *     in the poll handle's close callback;
 *   - curl tells us when to call it back (CURLMOPT_TIMERFUNCTION): one uv_timer; a 0 ms request
 *     becomes 1 ms so curl is never re-entered from inside its own callback;
 *   - after every curl_multi_socket_action, finished transfers are collected (check_done).
 * A second uv_timer ("wake") runs queued work: first attempts, retries after their backoff, and
 * completions that must not run inside the call that caused them (cancellation, prepare errors).
 *
 * Retry rules and the quota are in httpc.h. One easy handle per request is reused across its
 * attempts; connections live in the multi handle's cache and are shared by all requests.
 *
 * Options are set only through curl_api.h's typed wrappers (checked at compile time) and every
 * result is checked: the first option curl refuses ends the request with an error naming it,
 * before its transfer starts. HTTP transfers set CURLOPT_PATH_AS_IS so the signed path is the
 * one sent.
 */
#include "retraind/httpc.h"

#include "curl_api.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <uv.h>

#include "httpc_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"

#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_TOTAL_MS 60000
#define DEFAULT_LOW_SPEED_SECS 30
#define DEFAULT_MAX_BODY (16u << 20)
#define MAX_RESP_HEADERS (64u << 10)
#define EASY_POOL 64 /* idle easy handles kept for the next requests */

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct rt_httpc *h;
    struct sock_ctx *prev, *next;
};

struct rt_httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer; /* curl's timeout */
    uv_timer_t wake;       /* queued attempts and deferred completions */
    struct rt_httpc_req *reqs;
    struct rt_httpc_req *reqs_tail;
    struct sock_ctx *socks;
    char *ca_file;
    char *user_agent;
    int max_attempts;
    int64_t backoff_base_ms, backoff_max_ms;
    int quota_max, tokens, retry_cost, timeout_cost;
    uint64_t rng;
    struct rt_httpc_stats stats;
    CURL *pool[EASY_POOL];
    int n_pool;
    bool closing;
    bool close_deferred; /* rt_httpc_close ran inside a stream callback: cancel in on_wake */
    int in_stream;       /* > 0 while a stream callback runs (inside curl's write callback) */
    bool torn_down;
    int pending_closes;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void check_done(struct rt_httpc *h);
static void arm_wake(struct rt_httpc *h);
static void cancel_all(struct rt_httpc *h);

/* ---- small helpers ---- */

static uint64_t rng_next(struct rt_httpc *h)
{
    /* xorshift64*: jitter only, not security */
    uint64_t x = h->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    h->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(struct rt_httpc *h)
{
    return (double)(rng_next(h) >> 11) * (1.0 / 9007199254740992.0);
}

void rt__url_for_log(const char *url, char *out, size_t size)
{
    if (!url) {
        rt_strlcpy(out, "-", size);
        return;
    }
    const char *p = strstr(url, "://");
    const char *start = p ? p + 3 : url;
    const char *end = start + strcspn(start, "/?#");
    const char *at = memchr(start, '@', (size_t)(end - start));
    size_t scheme_len = p ? (size_t)(start - url) : 0;
    const char *host = at ? at + 1 : start;
    size_t path_len = strcspn(end, "?#");
    rt_snprintf(out, size, "%.*s%.*s%.*s", (int)scheme_len, url, (int)(end - host), host,
                (int)path_len, end);
}

const char *rt__httpc_ca_file(const struct rt_httpc *h)
{
    return h->ca_file;
}

/* ---- requests: building ---- */

struct rt_httpc_req *rt__req_alloc(void)
{
    struct rt_httpc_req *r = rt_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->connect_ms = DEFAULT_CONNECT_MS;
    r->total_ms = DEFAULT_TOTAL_MS;
    r->low_bytes = 1;
    r->low_secs = DEFAULT_LOW_SPEED_SECS;
    r->max_body = DEFAULT_MAX_BODY;
    r->src_len = -1;
    rt_buf_init(&r->resp.body, r->max_body);
    rt_buf_init(&r->resp.headers, MAX_RESP_HEADERS);
    return r;
}

static bool has_crlf(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

int rt_httpc_req_new(const char *method, const char *url, struct rt_httpc_req **out)
{
    *out = NULL;
    if (!method || !*method || !url || has_crlf(method) || strpbrk(method, " \t"))
        return RT_EINVAL;
    struct rt_httpc_req *r = rt__req_alloc();
    if (!r)
        return RT_ENOMEM;
    r->method = rt_strdup(method);
    r->url = rt_strdup(url);
    if (!r->method || !r->url) {
        rt_httpc_req_free(r);
        return RT_ENOMEM;
    }
    *out = r;
    return 0;
}

void rt_httpc_req_free(struct rt_httpc_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->slist);
    curl_slist_free_all(r->rcpt);
    for (int i = 0; i < r->n_hdrs; i++) {
        /* header values may be credentials (Authorization, security tokens) */
        rt_free(r->hdrs[i].name);
        rt_free_secret_str(r->hdrs[i].value);
    }
    rt_free(r->hdrs);
    rt_free(r->method);
    rt_free(r->url);
    rt_free(r->body_owned);
    rt_free(r->mail_from);
    rt_free(r->username);
    rt_free_secret_str(r->password);
    rt_free(r->ca_file);
    rt_buf_cleanup(&r->resp.body);
    rt_buf_cleanup(&r->resp.headers);
    rt_free(r);
}

int rt_httpc_req_set_url(struct rt_httpc_req *r, const char *url)
{
    if (!url || has_crlf(url))
        return RT_EINVAL;
    char *u = rt_strdup(url);
    if (!u)
        return RT_ENOMEM;
    rt_free(r->url);
    r->url = u;
    return 0;
}

int rt_httpc_req_set_header(struct rt_httpc_req *r, const char *name, const char *value)
{
    if (!name || !*name || has_crlf(name) || has_crlf(value) || strchr(name, ':'))
        return RT_EINVAL;
    for (int i = 0; i < r->n_hdrs; i++) {
        if (strcasecmp(r->hdrs[i].name, name) != 0)
            continue;
        if (!value) {
            rt_free(r->hdrs[i].name);
            rt_free_secret_str(r->hdrs[i].value);
            memmove(&r->hdrs[i], &r->hdrs[i + 1], sizeof(r->hdrs[0]) * (size_t)(r->n_hdrs - i - 1));
            r->n_hdrs--;
            return 0;
        }
        char *v = rt_strdup(value);
        if (!v)
            return RT_ENOMEM;
        rt_free_secret_str(r->hdrs[i].value);
        r->hdrs[i].value = v;
        return 0;
    }
    if (!value)
        return 0;
    if (r->n_hdrs == r->cap_hdrs) {
        int cap = r->cap_hdrs ? r->cap_hdrs * 2 : 8;
        struct rt__hdr *n = rt_realloc(r->hdrs, sizeof(*n) * (size_t)cap);
        if (!n)
            return RT_ENOMEM;
        r->hdrs = n;
        r->cap_hdrs = cap;
    }
    char *nm = rt_strdup(name), *v = rt_strdup(value);
    if (!nm || !v) {
        rt_free(nm);
        rt_free(v);
        return RT_ENOMEM;
    }
    r->hdrs[r->n_hdrs].name = nm;
    r->hdrs[r->n_hdrs].value = v;
    r->n_hdrs++;
    return 0;
}

int rt_httpc_req_set_body(struct rt_httpc_req *r, const void *p, size_t len, bool copy)
{
    rt_free(r->body_owned);
    r->body_owned = NULL;
    r->src = NULL;
    if (copy) {
        r->body_owned = rt_malloc(len ? len : 1);
        if (!r->body_owned)
            return RT_ENOMEM;
        if (len)
            memcpy(r->body_owned, p, len);
        r->body = r->body_owned;
    } else {
        r->body = len ? p : "";
    }
    r->body_len = len;
    return 0;
}

void rt_httpc_req_set_source(struct rt_httpc_req *r, rt_httpc_source_fn *fn, void *ud, int64_t len)
{
    rt_free(r->body_owned);
    r->body_owned = NULL;
    r->body = NULL;
    r->body_len = 0;
    r->src = fn;
    r->src_ud = ud;
    r->src_len = len < 0 ? -1 : len;
}

void rt_httpc_req_set_sink(struct rt_httpc_req *r, rt_httpc_sink_fn *fn, void *ud)
{
    r->sink = fn;
    r->sink_ud = ud;
}

void rt_httpc_req_set_stream(struct rt_httpc_req *r, rt_httpc_stream_fn *fn, void *ud)
{
    r->stream = fn;
    r->stream_ud = ud;
}

void rt_httpc_req_set_timeouts(struct rt_httpc_req *r, int64_t connect_ms, int64_t total_ms)
{
    if (connect_ms > 0)
        r->connect_ms = connect_ms;
    if (total_ms > 0)
        r->total_ms = total_ms;
}

void rt_httpc_req_set_low_speed(struct rt_httpc_req *r, long bytes_per_s, long secs)
{
    r->low_bytes = bytes_per_s;
    r->low_secs = secs;
}

void rt_httpc_req_set_max_body(struct rt_httpc_req *r, size_t max_bytes)
{
    r->max_body = max_bytes;
    r->resp.body.max_bytes = max_bytes;
}

void rt_httpc_req_set_max_attempts(struct rt_httpc_req *r, int max_attempts)
{
    r->max_attempts = max_attempts > 0 ? max_attempts : 0;
}

void rt_httpc_req_set_hooks(struct rt_httpc_req *r,
                            rt_httpc_prepare_fn *prepare,
                            rt_httpc_classify_fn *classify,
                            void *ud)
{
    r->prepare = prepare;
    r->classify = classify;
    r->hook_ud = ud;
}

void rt_httpc_req_set_gate(struct rt_httpc_req *r, rt_httpc_gate_fn *gate)
{
    r->gate = gate;
}

/* Extra wait the gate asks for before attempt (0 without a gate). */
static uint64_t gate_ms(struct rt_httpc_req *r, int attempt)
{
    int64_t ms = r->gate ? r->gate(r->hook_ud, attempt) : 0;
    return ms > 0 ? (uint64_t)ms : 0;
}

const char *rt_httpc_req_method(const struct rt_httpc_req *r)
{
    return r->method;
}

const char *rt_httpc_req_url(const struct rt_httpc_req *r)
{
    return r->url;
}

const char *rt_httpc_req_header(const struct rt_httpc_req *r, const char *name)
{
    for (int i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdrs[i].name, name) == 0)
            return r->hdrs[i].value;
    return NULL;
}

int rt_httpc_req_header_count(const struct rt_httpc_req *r)
{
    return r->n_hdrs;
}

void rt_httpc_req_header_at(const struct rt_httpc_req *r,
                            int i,
                            const char **name,
                            const char **value)
{
    if (i < 0 || i >= r->n_hdrs) {
        *name = *value = NULL;
        return;
    }
    *name = r->hdrs[i].name;
    *value = r->hdrs[i].value;
}

const void *rt_httpc_req_body(const struct rt_httpc_req *r, size_t *len)
{
    *len = r->src ? 0 : r->body_len;
    return r->src ? NULL : r->body;
}

/* ---- responses ---- */

const char *rt_httpc_resp_header(const struct rt_httpc_resp *resp, const char *name)
{
    /* stored as name NUL value NUL pairs */
    const char *p = resp->headers.data;
    if (!p)
        return NULL;
    const char *end = p + resp->headers.len;
    while (p < end) {
        const char *v = p + strlen(p) + 1;
        if (v >= end)
            break;
        if (strcasecmp(p, name) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

/* ---- curl callbacks (never re-enter curl from these) ---- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct rt_httpc_req *r = ud;
    size_t len = size * n;
    r->received += len;
    if (r->received > r->max_body) {
        r->abort_code = RT_ETOOBIG;
        return 0;
    }
    int rc;
    if (r->stream) {
        struct rt_httpc *h = r->h;
        if (h->closing) {
            r->abort_code = RT_ECANCELED;
            return 0;
        }
        if (!r->status_known) {
            /* The status line and headers are complete once the body starts. */
            long status = 0;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
            r->resp.status = (int)status;
            r->status_known = true;
        }
        if (r->resp.status >= 200 && r->resp.status < 300) {
            h->in_stream++;
            rc = r->stream(r->stream_ud, &r->resp, p, len);
            h->in_stream--;
        } else {
            rc = rt_buf_append(&r->resp.body, p, len); /* an error reply: for classify */
        }
    } else {
        rc = r->sink ? r->sink(r->sink_ud, p, len) : rt_buf_append(&r->resp.body, p, len);
    }
    if (rc) {
        r->abort_code = rc;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct rt_httpc_req *r = ud;
    size_t len = size * n;
    if (r->is_mail)
        return len;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new reply (after a 100 Continue, say): forget the previous one's headers */
        rt_buf_reset(&r->resp.headers);
        return len;
    }
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    const char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return size * n; /* blank line or a folded continuation: ignored */
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    const char *vend = p + len;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    int rc = rt_buf_append(&r->resp.headers, p, nlen);
    if (!rc)
        rc = rt_buf_append_char(&r->resp.headers, '\0');
    if (!rc)
        rc = rt_buf_append(&r->resp.headers, v, (size_t)(vend - v));
    if (!rc)
        rc = rt_buf_append_char(&r->resp.headers, '\0');
    if (rc) {
        r->abort_code = rc;
        return 0;
    }
    return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct rt_httpc_req *r = ud;
    size_t want = size * n;
    if (r->src) {
        int64_t got = r->src(r->src_ud, buf, want, r->read_off);
        if (got < 0 || (uint64_t)got > want) {
            r->abort_code = got < 0 ? (int)got : RT_EINVAL;
            return CURL_READFUNC_ABORT;
        }
        r->read_off += (uint64_t)got;
        return (size_t)got;
    }
    if (r->read_off >= r->body_len)
        return 0;
    size_t left = r->body_len - (size_t)r->read_off;
    size_t k = left < want ? left : want;
    memcpy(buf, r->body + r->read_off, k);
    r->read_off += k;
    return k;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct rt_httpc_req *r = ud;
    if (origin != SEEK_SET || offset < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    r->read_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- the loop glue ---- */

static void maybe_free_client(struct rt_httpc *h)
{
    if (!h->torn_down || h->pending_closes > 0)
        return;
    void (*cb)(void *) = h->close_cb;
    void *ud = h->close_ud;
    rt_free(h->ca_file);
    rt_free(h->user_agent);
    rt_free(h);
    if (cb)
        cb(ud);
}

static void on_handle_closed(uv_handle_t *hd)
{
    struct rt_httpc *h = hd->data;
    h->pending_closes--;
    maybe_free_client(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
    struct sock_ctx *c = hd->data;
    struct rt_httpc *h = c->h;
    rt_free(c);
    h->pending_closes--;
    maybe_free_client(h);
}

static void sock_close(struct sock_ctx *c)
{
    struct rt_httpc *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->socks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    h->pending_closes++;
    uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *c = p->data;
    struct rt_httpc *h = c->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(h->multi, c->fd, flags, &running);
    check_done(h);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct rt_httpc *h = userp;
    struct sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            curl_multi_assign(h->multi, s, NULL);
            sock_close(c);
        }
        return 0;
    }
    if (!c) {
        c = rt_calloc(1, sizeof(*c));
        if (!c)
            return -1;
        if (uv_poll_init_socket(h->loop, &c->poll, s) != 0) {
            rt_free(c);
            return -1;
        }
        c->poll.data = c;
        c->fd = s;
        c->h = h;
        c->next = h->socks;
        if (h->socks)
            h->socks->prev = c;
        h->socks = c;
        curl_multi_assign(h->multi, s, c);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer_fire(uv_timer_t *t)
{
    struct rt_httpc *h = t->data;
    int running = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct rt_httpc *h = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->curl_timer);
        return 0;
    }
    /* 0 means "now": run it from the loop, never from inside this callback */
    uv_timer_start(&h->curl_timer, on_curl_timer_fire, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms,
                   0);
    return 0;
}

/* ---- request life cycle ---- */

static void req_unlink(struct rt_httpc *h, struct rt_httpc_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        h->reqs_tail = r->prev;
    r->prev = r->next = NULL;
}

static int effective_max_attempts(const struct rt_httpc_req *r)
{
    return r->max_attempts > 0 ? r->max_attempts : r->h->max_attempts;
}

/* Calls the completion callback and frees r. */
static void req_deliver(struct rt_httpc_req *r)
{
    struct rt_httpc *h = r->h;
    req_unlink(h, r);
    h->stats.requests++;
    if (r->final_status)
        h->stats.failures++;
    r->resp.attempts = r->attempt;
    const struct rt_error *err = r->final_status ? &r->err : NULL;
    if (r->is_mail) {
        if (r->mail_done)
            r->mail_done(r->final_status, err, r->ud);
    } else if (r->done) {
        r->done(r->final_status, &r->resp, err, r->ud);
    }
    if (r->easy && !h->closing && h->n_pool < EASY_POOL) {
        /* keeps nothing of r: options are reset; connections live in the multi handle */
        curl_easy_reset(r->easy);
        h->pool[h->n_pool++] = r->easy;
        r->easy = NULL;
    }
    rt_httpc_req_free(r);
    if (h->closing)
        arm_wake(h); /* a deferred close, or the last request gone: on_wake finishes the close */
}

/* Ends r with status (0 or an error already in r->err). now: deliver at once, else via wake. */
static void req_finish(struct rt_httpc_req *r, int status, bool now)
{
    r->final_status = status;
    if (status && !r->err.code)
        rt_error_set(&r->err, status, "%s", rt_strerror(status));
    r->state = RT__REQ_FINISH;
    if (now)
        req_deliver(r);
    else
        arm_wake(r->h);
}

/* ---- options (every setopt result is checked; curl_api.h types every value) ---- */

static int refused_option; /* test hook, see rt__httpc_refuse_option */

void rt__httpc_refuse_option(int option)
{
    refused_option = option;
}

/* Records the first option curl refused for r (first failure wins). Returns: rc. */
static CURLcode opt_result(struct rt_httpc_req *r, CURLcode rc, const char *name)
{
    if (rc != CURLE_OK && r->opt_rc == CURLE_OK) {
        r->opt_rc = rc;
        r->opt_name = name;
    }
    return rc;
}

/* Sets one easy option of r through a typed wrapper of curl_api.h (kind is LONG, OFF, STR,
 * SLIST, PTR or FUNC) and records a refusal. The test hook refuses an option the way curl does
 * when it does not know one, without calling curl. */
#define SETOPT(r, kind, opt, v)                                                                    \
    opt_result((r),                                                                                \
               refused_option == (int)(opt) ? CURLE_UNKNOWN_OPTION                                 \
                                            : RT__EASY_SETOPT_##kind((r)->easy, opt, v),           \
               #opt)

/* Turns the refusal recorded on r into the request's error. Returns: the error code. */
static int opt_failure(struct rt_httpc_req *r)
{
    CURLcode rc = r->opt_rc;
    int code = rc == CURLE_OUT_OF_MEMORY                                ? RT_ENOMEM
               : rc == CURLE_UNKNOWN_OPTION || rc == CURLE_NOT_BUILT_IN ? RT_ENOTIMPL
                                                                        : RT_EINVAL;
    char u[512];
    rt__url_for_log(r->url, u, sizeof(u));
    rt_error_set(&r->err, code, "%s %s: libcurl refused %s (%s); the transfer was not started",
                 r->is_mail ? "MAIL" : r->method, u, r->opt_name, curl_easy_strerror(rc));
    RT_LOG(RT_LOG_ERR, "httpc", "event=setopt_failed option=%s curl_code=%d error=%s", r->opt_name,
           (int)rc, rt_q(curl_easy_strerror(rc)));
    return code;
}

static void set_common_opts(struct rt_httpc_req *r)
{
    struct rt_httpc *h = r->h;
    SETOPT(r, PTR, CURLOPT_PRIVATE, (void *)r);
    SETOPT(r, LONG, CURLOPT_NOSIGNAL, 1L);
    SETOPT(r, STR, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(r, FUNC, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(r, PTR, CURLOPT_WRITEDATA, (void *)r);
    SETOPT(r, FUNC, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(r, PTR, CURLOPT_HEADERDATA, (void *)r);
    SETOPT(r, FUNC, CURLOPT_READFUNCTION, on_read);
    SETOPT(r, PTR, CURLOPT_READDATA, (void *)r);
    SETOPT(r, FUNC, CURLOPT_SEEKFUNCTION, on_seek);
    SETOPT(r, PTR, CURLOPT_SEEKDATA, (void *)r);
    /* TLS verification is always on; there is deliberately no way to turn it off */
    SETOPT(r, LONG, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(r, LONG, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = r->ca_file ? r->ca_file : h->ca_file;
    if (ca)
        SETOPT(r, STR, CURLOPT_CAINFO, ca);
    SETOPT(r, LONG, CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_ms);
    SETOPT(r, LONG, CURLOPT_TIMEOUT_MS, (long)r->total_ms);
    if (r->low_secs > 0 && r->low_bytes > 0) {
        SETOPT(r, LONG, CURLOPT_LOW_SPEED_LIMIT, r->low_bytes);
        SETOPT(r, LONG, CURLOPT_LOW_SPEED_TIME, r->low_secs);
    }
    SETOPT(r, LONG, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(r, LONG, CURLOPT_FOLLOWLOCATION, 0L);
}

static void setup_http(struct rt_httpc_req *r)
{
    SETOPT(r, STR, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(r, LONG, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(r, STR, CURLOPT_USERAGENT, r->h->user_agent);
    /* The path goes out exactly as given: no "/./" or "/../" squashing. AWS signs the path it
     * sends (S3 without any normalisation), so a path rewritten by curl would no longer match
     * its signature. */
    SETOPT(r, LONG, CURLOPT_PATH_AS_IS, 1L);
    /* A cap beyond curl_off_t is no cap (on_write still enforces max_body). */
    if (!r->sink && !r->stream && r->max_body <= (size_t)INT64_MAX)
        SETOPT(r, OFF, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    bool has_body = r->src || r->body;
    const char *m = r->method;
    if (strcmp(m, "HEAD") == 0) {
        SETOPT(r, LONG, CURLOPT_NOBODY, 1L);
    } else if (has_body || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        SETOPT(r, LONG, CURLOPT_UPLOAD, 1L);
        SETOPT(r, OFF, CURLOPT_INFILESIZE_LARGE,
               (curl_off_t)(r->src ? r->src_len : (int64_t)r->body_len));
        if (strcmp(m, "PUT") != 0)
            SETOPT(r, STR, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        SETOPT(r, LONG, CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(r, STR, CURLOPT_CUSTOMREQUEST, m);
    }
}

static void setup_mail(struct rt_httpc_req *r)
{
    SETOPT(r, STR, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    SETOPT(r, STR, CURLOPT_MAIL_FROM, r->mail_from);
    SETOPT(r, SLIST, CURLOPT_MAIL_RCPT, r->rcpt);
    SETOPT(r, LONG, CURLOPT_UPLOAD, 1L);
    SETOPT(r, OFF, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    SETOPT(r, LONG, CURLOPT_USE_SSL, r->use_ssl);
    if (r->username) {
        SETOPT(r, STR, CURLOPT_USERNAME, r->username);
        SETOPT(r, STR, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
}

/* Builds the header list for this attempt. Returns: 0 or RT_ENOMEM. */
static int build_headers(struct rt_httpc_req *r)
{
    curl_slist_free_all(r->slist);
    r->slist = NULL;
    struct rt_buf line;
    rt_buf_init(&line, 64 << 10);
    int rc = 0;
    for (int i = 0; i < r->n_hdrs && !rc; i++) {
        rt_buf_reset(&line);
        /* "Name;" is curl's way to send a header with an empty value */
        rc = *r->hdrs[i].value ? rt_buf_printf(&line, "%s: %s", r->hdrs[i].name, r->hdrs[i].value)
                               : rt_buf_printf(&line, "%s;", r->hdrs[i].name);
        if (!rc) {
            struct curl_slist *n = curl_slist_append(r->slist, line.data);
            if (!n)
                rc = RT_ENOMEM;
            else
                r->slist = n;
        }
    }
    if (!rc && !rt_httpc_req_header(r, "Expect")) {
        /* no 100-continue round trip */
        struct curl_slist *n = curl_slist_append(r->slist, "Expect:");
        if (!n)
            rc = RT_ENOMEM;
        else
            r->slist = n;
    }
    rt_buf_cleanup_secret(&line);
    return rc;
}

static void start_attempt(struct rt_httpc_req *r)
{
    struct rt_httpc *h = r->h;
    r->attempt++;
    h->stats.attempts++;
    if (r->attempt > 1)
        h->stats.retries++;
    r->resp.status = 0;
    r->status_known = false;
    r->resp.date_ms = 0;
    rt_buf_reset(&r->resp.body);
    rt_buf_reset(&r->resp.headers);
    r->abort_code = 0;
    r->received = 0;
    r->read_off = 0;
    r->errbuf[0] = '\0';
    rt_error_clear(&r->err);

    if (r->prepare) {
        int rc = r->prepare(r, r->attempt, r->hook_ud, &r->err);
        if (rc) {
            req_finish(r, rc, false);
            return;
        }
    }
    if (!r->easy) {
        r->easy = h->n_pool ? h->pool[--h->n_pool] : curl_easy_init();
        if (!r->easy) {
            req_finish(r, RT_ENOMEM, false);
            return;
        }
        set_common_opts(r);
        if (r->is_mail)
            setup_mail(r);
        else
            setup_http(r);
    }
    SETOPT(r, STR, CURLOPT_URL, r->url);
    if (!r->is_mail) {
        if (build_headers(r)) {
            req_finish(r, RT_ENOMEM, false);
            return;
        }
        SETOPT(r, SLIST, CURLOPT_HTTPHEADER, r->slist);
    }
    if (r->opt_rc != CURLE_OK) {
        /* An option curl refused would change what is sent (or how safely): never start. */
        req_finish(r, opt_failure(r), false);
        return;
    }
    if (rt_log_enabled(RT_LOG_DEBUG, "httpc")) {
        char u[512];
        rt__url_for_log(r->url, u, sizeof(u));
        RT_LOG(RT_LOG_DEBUG, "httpc", "event=attempt method=%s url=%s attempt=%d max=%d",
               r->is_mail ? "MAIL" : r->method, rt_q(u), r->attempt, effective_max_attempts(r));
    }
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        req_finish(r, RT_ENOMEM, false);
        return;
    }
    r->state = RT__REQ_RUNNING;
}

/* How a curl result code is treated. */
static void classify_curl(CURLcode rc, bool mail, int *code, bool *retry, bool *timeout)
{
    *retry = false;
    *timeout = false;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        *code = RT_ETIMEDOUT;
        *retry = true;
        *timeout = true;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        *code = RT_ENETWORK;
        *retry = true;
        break;
    case CURLE_FILESIZE_EXCEEDED:
        *code = RT_ETOOBIG;
        break;
    case CURLE_OUT_OF_MEMORY:
        *code = RT_ENOMEM;
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        *code = RT_EINVAL;
        break;
    default:
        *code = mail ? RT_ESMTP : RT_ENETWORK;
        break;
    }
}

int64_t rt__backoff_cap_ms(int64_t base_ms, int64_t max_ms, int retry)
{
    int64_t cap = base_ms;
    for (int i = 1; i < retry && cap < max_ms; i++)
        cap *= 2;
    return cap < max_ms ? cap : max_ms;
}

/* Spends quota on a retry. Returns: true and *delay_ms, or false (attempts or quota used up). */
static bool take_retry(struct rt_httpc_req *r, bool timeout, bool *quota_out, int64_t *delay_ms)
{
    struct rt_httpc *h = r->h;
    *quota_out = false;
    if (r->attempt >= effective_max_attempts(r))
        return false;
    int cost = timeout ? h->timeout_cost : h->retry_cost;
    if (h->tokens < cost) {
        *quota_out = true;
        return false;
    }
    h->tokens -= cost;
    r->last_retry_cost = cost;
    r->retries++;
    double cap = (double)rt__backoff_cap_ms(h->backoff_base_ms, h->backoff_max_ms, r->retries);
    *delay_ms = (int64_t)(rng_unit(h) * cap);
    return true;
}

static void refund(struct rt_httpc_req *r)
{
    struct rt_httpc *h = r->h;
    h->tokens += r->retries ? r->last_retry_cost : 1;
    if (h->tokens > h->quota_max)
        h->tokens = h->quota_max;
}

static void give_up_log(struct rt_httpc_req *r, bool exhausted, bool quota)
{
    char u[512], em[700];
    rt__url_for_log(r->url, u, sizeof(u));
    rt_error_format(&r->err, em, sizeof(em));
    RT_LOG(exhausted ? RT_LOG_WARNING : RT_LOG_DEBUG, "httpc",
           "event=give_up method=%s url=%s attempts=%d status=%d quota_exhausted=%s error=%s",
           r->is_mail ? "MAIL" : r->method, rt_q(u), r->attempt, r->resp.status,
           quota ? "yes" : "no", rt_q(em));
}

/* One attempt of r ended with curl result rc. Decides: done, failed, or retry later. */
static void attempt_done(struct rt_httpc_req *r, CURLcode rc)
{
    struct rt_httpc *h = r->h;
    curl_multi_remove_handle(h->multi, r->easy);
    r->state = RT__REQ_NEW;
    long nconn = 0;
    if (curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
        h->stats.connects += (uint64_t)nconn;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    char u[512];
    rt__url_for_log(r->url, u, sizeof(u));
    const char *what = r->is_mail ? "MAIL" : r->method;

    int code = 0;
    bool retry = false, timeout = false, throttle = false, skew = false;
    if (r->abort_code) {
        code = r->abort_code;
        if (code == RT_ETOOBIG)
            rt_error_set(&r->err, code, "%s %s: response larger than %zu bytes", what, u,
                         r->max_body);
        else
            rt_error_set(&r->err, code, "%s %s: aborted: %s", what, u, rt_strerror(code));
    } else if (rc != CURLE_OK) {
        classify_curl(rc, r->is_mail, &code, &retry, &timeout);
        if (code == RT_ETOOBIG)
            rt_error_set(&r->err, code, "%s %s: response larger than %zu bytes", what, u,
                         r->max_body);
        else if (r->is_mail && status > 0)
            rt_error_set(&r->err, code, "%s %s: %s (server replied %ld)", what, u,
                         r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc), status);
        else
            rt_error_set(&r->err, code, "%s %s: %s", what, u,
                         r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        if (r->is_mail && rc == CURLE_LOGIN_DENIED)
            retry = false;
    } else if (!r->is_mail) {
        r->resp.status = (int)status;
        const char *date = rt_httpc_resp_header(&r->resp, "Date");
        if (date) {
            time_t t = curl_getdate(date, NULL);
            r->resp.date_ms = t > 0 ? (int64_t)t * 1000 : 0;
        }
        enum rt_httpc_verdict v =
            r->classify ? r->classify(&r->resp, r->hook_ud, &r->err) : RT_HTTPC_DEFAULT;
        if (v == RT_HTTPC_DEFAULT)
            v = status >= 200 && status < 400 ? RT_HTTPC_OK
                : status >= 500               ? RT_HTTPC_RETRY
                                              : RT_HTTPC_FAIL;
        if (v == RT_HTTPC_SKEW && r->skew_used)
            v = RT_HTTPC_FAIL;
        if (v != RT_HTTPC_OK) {
            code = r->err.code ? r->err.code : v == RT_HTTPC_THROTTLE ? RT_ETHROTTLED : RT_EIO;
            rt_error_set(&r->err, code, "%s %s: HTTP %ld", what, u, status);
            r->err.http_status = (int)status;
            retry = v == RT_HTTPC_RETRY || v == RT_HTTPC_THROTTLE;
            throttle = v == RT_HTTPC_THROTTLE;
            skew = v == RT_HTTPC_SKEW;
        }
    }
    RT_LOG(RT_LOG_DEBUG, "httpc",
           "event=attempt_done method=%s url=%s attempt=%d status=%ld code=%s", what, rt_q(u),
           r->attempt, status, code ? rt_err_name(code) : "ok");
    if (!code) {
        refund(r);
        rt_error_clear(&r->err);
        req_finish(r, 0, true);
        return;
    }
    if (skew) {
        r->skew_used = true;
        r->max_attempts = effective_max_attempts(r) + 1; /* the skew retry is extra */
        r->state = RT__REQ_WAIT;
        r->due = uv_now(h->loop);
        RT_LOG(RT_LOG_DEBUG, "httpc", "event=retry_skew method=%s url=%s", what, rt_q(u));
        arm_wake(h);
        return;
    }
    bool quota = false;
    int64_t delay = 0;
    if (retry && !h->closing && take_retry(r, timeout, &quota, &delay)) {
        r->state = RT__REQ_WAIT;
        r->due = uv_now(h->loop) + (uint64_t)delay;
        RT_LOG(RT_LOG_DEBUG, "httpc",
               "event=retry method=%s url=%s attempt=%d delay_ms=%lld throttled=%s tokens=%d", what,
               rt_q(u), r->attempt, (long long)delay, throttle ? "yes" : "no", h->tokens);
        arm_wake(h);
        return;
    }
    if (retry && quota) {
        size_t n = strlen(r->err.msg);
        rt_snprintf(r->err.msg + n, sizeof(r->err.msg) - n, " (retry quota exhausted)");
    } else if (retry && r->attempt > 1) {
        size_t n = strlen(r->err.msg);
        rt_snprintf(r->err.msg + n, sizeof(r->err.msg) - n, " after %d attempts", r->attempt);
    }
    give_up_log(r, retry, quota);
    req_finish(r, code, true);
}

static void check_done(struct rt_httpc *h)
{
    CURLMsg *msg;
    int left = 0;
    while (!h->torn_down && (msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct rt_httpc_req *r = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &r);
        if (r && r->state == RT__REQ_RUNNING)
            attempt_done(r, rc);
    }
}

static void teardown(struct rt_httpc *h)
{
    h->torn_down = true;
    while (h->n_pool)
        curl_easy_cleanup(h->pool[--h->n_pool]);
    /* may call on_curl_socket(REMOVE) and on_curl_timer for the cached connections */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks)
        sock_close(h->socks);
    h->pending_closes += 2;
    uv_close((uv_handle_t *)&h->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&h->wake, on_handle_closed);
}

static void on_wake(uv_timer_t *t)
{
    struct rt_httpc *h = t->data;
    if (h->close_deferred) {
        h->close_deferred = false;
        cancel_all(h);
    }
    uint64_t now = uv_now(h->loop);
    struct rt_httpc_req *r = h->reqs;
    bool started = false;
    while (r) {
        struct rt_httpc_req *next = r->next;
        if (r->state == RT__REQ_FINISH) {
            req_deliver(r);
        } else if (r->state == RT__REQ_WAIT && r->due <= now && !h->closing) {
            uint64_t wait = gate_ms(r, r->attempt + 1);
            if (wait) {
                r->due = now + wait; /* no token yet: ask again then */
                r = next;
                continue;
            }
            start_attempt(r);
            started = started || r->state == RT__REQ_RUNNING;
        }
        r = next;
    }
    if (h->closing && !h->reqs) {
        teardown(h);
        return;
    }
    if (started) {
        /* Kick the new transfers off now (we are in our own timer callback, not in curl's)
         * instead of waiting for the 1 ms timer curl's "timeout 0" becomes. */
        int running = 0;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(h);
        if (h->torn_down)
            return;
    }
    arm_wake(h);
}

static void arm_wake(struct rt_httpc *h)
{
    if (h->torn_down)
        return;
    uint64_t now = uv_now(h->loop);
    uint64_t best = UINT64_MAX;
    for (struct rt_httpc_req *r = h->reqs; r; r = r->next) {
        if (r->state == RT__REQ_FINISH)
            best = now;
        else if (r->state == RT__REQ_WAIT && r->due < best)
            best = r->due;
    }
    if (h->closing && !h->reqs)
        best = now;
    if (best == UINT64_MAX) {
        uv_timer_stop(&h->wake);
        return;
    }
    uv_timer_start(&h->wake, on_wake, best > now ? best - now : 0, 0);
}

/* ---- the client ---- */

int rt_httpc_new(uv_loop_t *loop,
                 const struct rt_httpc_opts *opts,
                 struct rt_httpc **out,
                 struct rt_error *err)
{
    static struct rt_httpc_opts none;
    *out = NULL;
    if (!opts)
        opts = &none;
    int loaded = rt__curl_load(err);
    if (loaded)
        return loaded;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return rt_error_set(err, RT_ENOMEM, "curl_global_init failed");
    struct rt_httpc *h = rt_calloc(1, sizeof(*h));
    if (!h)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    h->loop = loop;
    h->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 3;
    h->backoff_base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 1000;
    h->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 20000;
    h->quota_max = opts->retry_quota > 0 ? opts->retry_quota : 500;
    h->tokens = h->quota_max;
    h->retry_cost = opts->retry_cost > 0 ? opts->retry_cost : 5;
    h->timeout_cost = opts->retry_timeout_cost > 0 ? opts->retry_timeout_cost : 10;
    if (getrandom(&h->rng, sizeof(h->rng), GRND_NONBLOCK) != (ssize_t)sizeof(h->rng))
        h->rng = (uint64_t)rt_mono_ms() ^ (uint64_t)(uintptr_t)h;
    h->rng |= 1;
    if (opts->ca_file && !(h->ca_file = rt_strdup(opts->ca_file)))
        goto nomem;
    if (opts->user_agent)
        h->user_agent = rt_strdup(opts->user_agent);
    else
        h->user_agent = rt_strdup("retraind/" RETRAIND_VERSION);
    if (!h->user_agent)
        goto nomem;
    h->multi = curl_multi_init();
    if (!h->multi)
        goto nomem;
    /* Every option matters (without the socket and timer callbacks nothing would ever run):
     * a refusal fails the client. */
    const char *bad = NULL;
    CURLMcode mrc = CURLM_OK;
#define MSETOPT(kind, opt, v)                                                                      \
    do {                                                                                           \
        if (mrc == CURLM_OK) {                                                                     \
            mrc = refused_option == (int)(opt) ? CURLM_UNKNOWN_OPTION                              \
                                               : RT__MULTI_SETOPT_##kind(h->multi, opt, v);        \
            bad = #opt;                                                                            \
        }                                                                                          \
    } while (0)
    MSETOPT(FUNC, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    MSETOPT(PTR, CURLMOPT_SOCKETDATA, (void *)h);
    MSETOPT(FUNC, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    MSETOPT(PTR, CURLMOPT_TIMERDATA, (void *)h);
    /* a fixed cache size: curl's default (4 x transfers in flight) shrinks between bursts and
     * closes connections that would be reused a moment later */
    MSETOPT(LONG, CURLMOPT_MAXCONNECTS, opts->max_connections > 0 ? opts->max_connections : 128L);
#undef MSETOPT
    if (mrc != CURLM_OK) {
        int code = mrc == CURLM_OUT_OF_MEMORY    ? RT_ENOMEM
                   : mrc == CURLM_UNKNOWN_OPTION ? RT_ENOTIMPL
                                                 : RT_EINVAL;
        rt_error_set(err, code, "httpc: libcurl refused %s (%s)", bad, curl_multi_strerror(mrc));
        curl_multi_cleanup(h->multi);
        rt_free(h->ca_file);
        rt_free(h->user_agent);
        rt_free(h);
        return code;
    }
    uv_timer_init(loop, &h->curl_timer);
    h->curl_timer.data = h;
    uv_timer_init(loop, &h->wake);
    h->wake.data = h;
    *out = h;
    return 0;
nomem:
    rt_free(h->ca_file);
    rt_free(h->user_agent);
    rt_free(h);
    return rt_error_set(err, RT_ENOMEM, "out of memory");
}

void rt_httpc_close(struct rt_httpc *h, void (*cb)(void *ud), void *ud)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    h->close_cb = cb;
    h->close_ud = ud;
    if (h->in_stream) {
        /* Inside curl's write callback curl refuses to remove a handle: the transfer aborts when
         * the callback returns (on_write sees closing), and on_wake cancels the rest. */
        h->close_deferred = true;
        arm_wake(h);
        return;
    }
    cancel_all(h);
}

static void cancel_all(struct rt_httpc *h)
{
    for (struct rt_httpc_req *r = h->reqs; r; r = r->next) {
        if (r->state == RT__REQ_FINISH)
            continue;
        if (r->state == RT__REQ_RUNNING)
            curl_multi_remove_handle(h->multi, r->easy);
        rt_error_clear(&r->err);
        rt_error_set(&r->err, RT_ECANCELED, "request cancelled: the HTTP client is closing");
        r->final_status = RT_ECANCELED;
        r->state = RT__REQ_FINISH;
    }
    uv_timer_stop(&h->curl_timer);
    arm_wake(h);
}

void rt_httpc_cancel(struct rt_httpc_req *r)
{
    struct rt_httpc *h = r ? r->h : NULL;
    if (!h || r->state == RT__REQ_FINISH)
        return;
    if (r->state == RT__REQ_RUNNING)
        curl_multi_remove_handle(h->multi, r->easy);
    rt_error_clear(&r->err);
    rt_error_set(&r->err, RT_ECANCELED, "request cancelled");
    r->final_status = RT_ECANCELED;
    r->state = RT__REQ_FINISH;
    arm_wake(h); /* delivered on a later turn, never from inside this call */
}

void rt_httpc_get_stats(const struct rt_httpc *h, struct rt_httpc_stats *out)
{
    *out = h->stats;
    out->quota_tokens = h->tokens;
}

int rt__httpc_enqueue(struct rt_httpc *h, struct rt_httpc_req *r)
{
    if (h->closing) {
        rt_httpc_req_free(r);
        return RT_ECANCELED;
    }
    r->h = h;
    r->state = RT__REQ_WAIT;
    r->due = uv_now(h->loop);
    r->prev = h->reqs_tail;
    r->next = NULL;
    if (h->reqs_tail)
        h->reqs_tail->next = r;
    else
        h->reqs = r;
    h->reqs_tail = r;
    arm_wake(h);
    return 0;
}

int rt_httpc_send(struct rt_httpc *h, struct rt_httpc_req *r, rt_httpc_done_fn *cb, void *ud)
{
    if (!r)
        return RT_EINVAL;
    r->done = cb;
    r->ud = ud;
    return rt__httpc_enqueue(h, r);
}
