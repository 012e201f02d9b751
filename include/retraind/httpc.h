/*
 * httpc.h - the HTTP (and SMTP) client on the libuv loop: libcurl's multi interface, retries in
 * the AWS SDKs' "standard" mode, bounded bodies, TLS always verified.
 *
 * One struct rt_httpc per loop holds one curl multi handle, so connections are kept alive and
 * reused by every request. A request is built with rt_httpc_req_new() and the setters below, then
 * handed to rt_httpc_send(), which owns it from then on. Its completion callback runs exactly once,
 * on the loop thread, never from inside rt_httpc_send().
 *
 * Retries (generic; httpc knows nothing of AWS):
 *   - up to max_attempts attempts (default 3, first try included);
 *   - retried: HTTP 5xx, transient network errors (connect failure, reset, timeout, truncated
 *     reply), and whatever the request's classify hook says (RT_HTTPC_RETRY / RT_HTTPC_THROTTLE);
 *   - delay before retry n (n = 1 for the first retry): random[0,1) * min(base * 2^(n-1), max),
 *     base 1 s and max 20 s by default (aws-wire.md 11.1; base is a parameter for the revised
 * mode);
 *   - a retry quota per client (token bucket: 500 tokens, a retry costs 5, one after a timeout 10;
 *     a success with no retry refunds 1, one after retries refunds the last retry's cost): when the
 *     bucket cannot pay, the error is surfaced at once, so a dead endpoint does not multiply
 * traffic;
 *   - the prepare hook runs before every attempt (re-sign with the current time there);
 *   - classify may answer RT_HTTPC_SKEW once per request: retried at once, no delay, no quota.
 *
 * Logs: one debug line per attempt, one warning per give-up. URLs are logged without their query
 * (presigned URLs carry credentials there) and headers are never logged.
 */
#ifndef RETRAIND_HTTPC_H
#define RETRAIND_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

struct uv_loop_s;
struct rt_httpc;
struct rt_httpc_req;

/* Client options; zero means the default shown. Strings are copied. */
struct rt_httpc_opts {
    const char *ca_file;     /* CA bundle for TLS verification; NULL: the system's */
    const char *user_agent;  /* NULL: "retraind/<version>" */
    int max_attempts;        /* default 3 (first try + 2 retries) */
    int64_t backoff_base_ms; /* default 1000 */
    int64_t backoff_max_ms;  /* default 20000 */
    int retry_quota;         /* default 500 tokens */
    int retry_cost;          /* default 5 */
    int retry_timeout_cost;  /* default 10 */
    long max_connections;    /* idle connections kept for reuse; default 128 */
};

/* Counters since rt_httpc_new (for tests, benchmarks and /metrics). */
struct rt_httpc_stats {
    uint64_t requests; /* requests completed (any outcome) */
    uint64_t attempts; /* attempts started */
    uint64_t retries;  /* attempts that were retries */
    uint64_t connects; /* new TCP connections curl made */
    uint64_t failures; /* requests completed with an error */
    int quota_tokens;  /* retry tokens left */
};

/*
 * Creates a client on loop. opts may be NULL (all defaults).
 * Returns: 0 and *out (close with rt_httpc_close), or RT_ENOMEM / RT_EINVAL with err filled.
 */
int rt_httpc_new(struct uv_loop_s *loop,
                 const struct rt_httpc_opts *opts,
                 struct rt_httpc **out,
                 struct rt_error *err);

/*
 * Closes h asynchronously: requests in flight or waiting for a retry complete with RT_ECANCELED
 * (their callbacks run before cb), connections are closed, every libuv handle is closed, h is
 * freed, then cb(ud) runs on the loop thread (cb may be NULL). After cb, uv_loop_close() succeeds
 * as far as h is concerned. No rt_httpc call may be made on h after rt_httpc_close.
 */
void rt_httpc_close(struct rt_httpc *h, void (*cb)(void *ud), void *ud);

/* Copies the counters into *out. */
void rt_httpc_get_stats(const struct rt_httpc *h, struct rt_httpc_stats *out);

/* ---- responses ---- */

struct rt_httpc_resp {
    int status;            /* HTTP status of the last attempt, 0 if no reply arrived */
    struct rt_buf body;    /* the body, bounded by the request's max_body (unused with a sink);
                            * the completion callback may take it with rt_buf_detach() */
    int attempts;          /* attempts made */
    int64_t date_ms;       /* the Date header as epoch ms, 0 when absent or unparsable */
    struct rt_buf headers; /* private: "Name: value\n" lines; use rt_httpc_resp_header() */
};

/*
 * Returns: the value of the first header named name (case-insensitive), NUL-terminated, borrowed
 * from resp (valid while resp is); NULL if absent. E.g. "Date", "x-amzn-RequestId", "ETag".
 */
const char *rt_httpc_resp_header(const struct rt_httpc_resp *resp, const char *name);

/* ---- hooks ---- */

/* What the classify hook says about a reply. */
enum rt_httpc_verdict {
    RT_HTTPC_DEFAULT = 0, /* httpc decides: 2xx/3xx success, 5xx retry, anything else fail */
    RT_HTTPC_OK,          /* success: status 0 */
    RT_HTTPC_FAIL,        /* final failure, not retried */
    RT_HTTPC_RETRY,       /* transient: retry with backoff */
    RT_HTTPC_THROTTLE,    /* throttled: retry with backoff; RT_ETHROTTLED when retries run out */
    RT_HTTPC_SKEW         /* clock skew corrected by the caller: retry once at once */
};

/*
 * Called before every attempt (attempt = 1, 2, ...), on the loop thread. It may change the URL and
 * headers (rt_httpc_req_set_url / _set_header), e.g. to sign with the current time, and must reset
 * a response sink when attempt > 1 (a failed attempt may have written part of a body).
 * Returns: 0 to go on, or a negative code that ends the request with that error (fill err).
 */
typedef int
rt_httpc_prepare_fn(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err);

/*
 * Called with every complete reply (any status), on the loop thread. It may fill err (code,
 * message, aws_code, request_id) to describe a failure; httpc keeps what it fills (http_status is
 * filled by httpc). Returns: a verdict.
 */
typedef enum rt_httpc_verdict
rt_httpc_classify_fn(const struct rt_httpc_resp *resp, void *ud, struct rt_error *err);

/*
 * Called when an attempt is due (attempt 1 once sent, each retry after its backoff), on the loop
 * thread, with the hooks' ud: a client-side rate limiter. Returns: 0 (or less) to start the
 * attempt now, or the ms after which to ask again (no token yet). Waiting requests are asked in
 * the order they were sent.
 */
typedef int64_t rt_httpc_gate_fn(void *ud, int attempt);

/* Streams the response body: returns 0, or a negative code to abort (no retry). */
typedef int rt_httpc_sink_fn(void *ud, const char *p, size_t len);

/*
 * Streams the body of a 2xx reply as it arrives: resp has the status and every header (its body
 * stays empty); p/len is the next piece. The body of any other reply is kept in resp->body as
 * usual, so classify and the completion can read an error document. Runs on the loop thread from
 * inside curl's write callback: it may send requests (they are queued), and rt_httpc_close called
 * from it takes effect once it has returned. Each attempt streams from the first byte again
 * (reset the consumer in prepare when attempt > 1).
 * Returns: 0, or a negative code that aborts the request with that code (not retried).
 */
typedef int
rt_httpc_stream_fn(void *ud, const struct rt_httpc_resp *resp, const char *p, size_t len);

/*
 * Streams the request body like pread: fills up to size bytes of the body from offset.
 * Returns: bytes written (0 at the end), or a negative code to abort. Each attempt starts at 0.
 */
typedef int64_t rt_httpc_source_fn(void *ud, char *buf, size_t size, uint64_t offset);

/*
 * Completion, once per request, on the loop thread. status is 0 on success, else a negative code
 * also in err (RT_ETIMEDOUT, RT_ENETWORK, RT_ETOOBIG, RT_ETHROTTLED, RT_ECANCELED, RT_EIO for an
 * HTTP error status, or what classify/prepare/sink returned); err is NULL on success.
 * resp is never NULL; it and err are valid only during the call.
 */
typedef void
rt_httpc_done_fn(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud);

/* ---- requests ---- */

/*
 * Creates a request. method is e.g. "GET", "PUT", "POST", "HEAD", "DELETE"; url is http:// or
 * https:// (other schemes are refused when sent). Defaults: connect timeout 10 s, per-attempt
 * timeout 60 s, low-speed limit 1 byte/s over 30 s, max_body 16 MiB, the client's max_attempts.
 * Returns: 0 and *out (free with rt_httpc_req_free unless sent), or RT_ENOMEM / RT_EINVAL.
 */
int rt_httpc_req_new(const char *method, const char *url, struct rt_httpc_req **out);
/* Frees a request that was never sent. NULL is fine. */
void rt_httpc_req_free(struct rt_httpc_req *req);

/* Replaces the URL (e.g. from prepare). Returns: 0 or RT_ENOMEM / RT_EINVAL. */
int rt_httpc_req_set_url(struct rt_httpc_req *req, const char *url);
/*
 * Sets header name to value, replacing a header of the same name (case-insensitive); value NULL
 * removes it. CR or LF in either is refused. Both are copied.
 * Returns: 0, RT_EINVAL or RT_ENOMEM.
 */
int rt_httpc_req_set_header(struct rt_httpc_req *req, const char *name, const char *value);
/*
 * Sets the body. copy true: the bytes are copied; false: borrowed, they must outlive the request
 * (until its completion callback returns). Returns: 0 or RT_ENOMEM.
 */
int rt_httpc_req_set_body(struct rt_httpc_req *req, const void *p, size_t len, bool copy);
/* Streams the body from fn instead; len is its size, or -1 for chunked transfer encoding. */
void rt_httpc_req_set_source(struct rt_httpc_req *req,
                             rt_httpc_source_fn *fn,
                             void *ud,
                             int64_t len);
/* Streams the response body to fn instead of resp->body (max_body still bounds it). */
void rt_httpc_req_set_sink(struct rt_httpc_req *req, rt_httpc_sink_fn *fn, void *ud);
/* Streams 2xx response bodies to fn (see rt_httpc_stream_fn; max_body still bounds them). */
void rt_httpc_req_set_stream(struct rt_httpc_req *req, rt_httpc_stream_fn *fn, void *ud);
/* Timeouts in ms, per attempt; 0 keeps the default. */
void rt_httpc_req_set_timeouts(struct rt_httpc_req *req, int64_t connect_ms, int64_t total_ms);
/* Aborts an attempt slower than bytes_per_s for secs seconds (a timeout). 0 secs disables. */
void rt_httpc_req_set_low_speed(struct rt_httpc_req *req, long bytes_per_s, long secs);
/* Caps the response body (bytes); past it the request fails with RT_ETOOBIG, not retried. */
void rt_httpc_req_set_max_body(struct rt_httpc_req *req, size_t max_bytes);
/* Overrides the client's max attempts for this request (1 = no retry). */
void rt_httpc_req_set_max_attempts(struct rt_httpc_req *req, int max_attempts);
/* Sets the hooks (either may be NULL) and the ud they get. */
void rt_httpc_req_set_hooks(struct rt_httpc_req *req,
                            rt_httpc_prepare_fn *prepare,
                            rt_httpc_classify_fn *classify,
                            void *ud);

/* Sets the gate (NULL: none); it gets the ud of rt_httpc_req_set_hooks. */
void rt_httpc_req_set_gate(struct rt_httpc_req *req, rt_httpc_gate_fn *gate);

/* Accessors for hooks (signing): borrowed strings valid until the next change. */
const char *rt_httpc_req_method(const struct rt_httpc_req *req);
const char *rt_httpc_req_url(const struct rt_httpc_req *req);
/* Returns: the value of header name (case-insensitive) or NULL. */
const char *rt_httpc_req_header(const struct rt_httpc_req *req, const char *name);
/* Returns: the number of headers; rt_httpc_req_header_at gives the i-th name and value. */
int rt_httpc_req_header_count(const struct rt_httpc_req *req);
void rt_httpc_req_header_at(const struct rt_httpc_req *req,
                            int i,
                            const char **name,
                            const char **value);
/* Returns: the in-memory body (borrowed) and its length; NULL/0 for none or a streamed body. */
const void *rt_httpc_req_body(const struct rt_httpc_req *req, size_t *len);

/*
 * Sends req (ownership passes to h, also on failure). cb(status, resp, err, ud) runs once, later,
 * on the loop thread. Returns: 0, or RT_ECANCELED when h is closing / RT_ENOMEM (then cb never
 * runs and req is freed).
 */
int rt_httpc_send(struct rt_httpc *h, struct rt_httpc_req *req, rt_httpc_done_fn *cb, void *ud);
/*
 * Cancels a request sent with rt_httpc_send whose callback has not run yet (req is valid until
 * then): a transfer in progress is dropped and cb runs on a later loop turn with RT_ECANCELED.
 */
void rt_httpc_cancel(struct rt_httpc_req *req);

/* ---- SMTP ---- */

/* One mail. Everything is copied by rt_httpc_send_mail; the password is wiped when freed. */
struct rt_httpc_mail {
    const char *url;       /* smtp://host[:port] (STARTTLS) or smtps://host[:port] */
    const char *from;      /* envelope and From: address, e.g. "retraind@example.com" */
    const char *const *to; /* recipients */
    int n_to;
    const char *subject;  /* UTF-8; CR/LF refused */
    const char *body;     /* UTF-8 plain text, LF or CRLF line ends */
    const char *username; /* NULL: no AUTH */
    const char *password; /* secret, never logged */
    bool starttls;        /* require STARTTLS on smtp:// (loopback hosts: try only) */
    const char *ca_file;  /* NULL: the client's */
    int64_t timeout_ms;   /* whole transaction per attempt; 0: 60 s */
};

typedef void rt_httpc_mail_done_fn(int status, const struct rt_error *err, void *ud);

/*
 * Sends one mail through h's multi handle (retried like a request on connection errors).
 * Headers written: Date, From, To, Subject (RFC 2047 when not ASCII), Message-ID, MIME-Version,
 * Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding 8bit.
 * Returns: 0 (cb runs once later, status 0 or RT_ESMTP / RT_ENETWORK / RT_ETIMEDOUT ...), or
 * RT_EINVAL (a CR/LF or other control character in subject or addresses, no recipient, a non-smtp
 * URL) / RT_ENOMEM / RT_ECANCELED with err filled, and cb never runs.
 */
int rt_httpc_send_mail(struct rt_httpc *h,
                       const struct rt_httpc_mail *mail,
                       rt_httpc_mail_done_fn *cb,
                       void *ud,
                       struct rt_error *err);

/* Returns: true if url's host is 127.0.0.0/8, ::1 or "localhost". */
bool rt_httpc_url_is_loopback(const char *url);

#endif
