/*
 * internal.h - what the files of src/http share: the server struct, the call handle, and the
 * functions of each concern (parse.c, sessions.c, ratelimit.c, auth.c, login.c, assets.c,
 * metrics.c, routes.c, server.c). Tests and fuzz targets include it to reach one stage alone.
 */
#ifndef RETRAIND_HTTP_INTERNAL_H
#define RETRAIND_HTTP_INTERNAL_H

#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/http.h"
#include "retraind/password.h"

/* ---- parse.c: pure parsers of outside input (fuzzed) ---- */

/*
 * Finds cookie name in a Cookie header value (len bytes, "a=1; b=2") and copies its value into
 * out (size bytes, NUL-terminated). Returns: 0, RT_ENOTFOUND, or RT_ETOOBIG when it does not fit.
 */
int rt__http_cookie_get(const char *header, size_t len, const char *name, char *out, size_t size);
/*
 * Finds field name in an application/x-www-form-urlencoded text (a body or a query string, len
 * bytes) and copies its decoded value into out. Returns: 0, RT_ENOTFOUND, RT_ETOOBIG, or
 * RT_EPARSE for a bad %-escape or an escaped NUL.
 */
int rt__http_form_get(const char *text, size_t len, const char *name, char *out, size_t size);
/*
 * Reads {"label": "L"} (len bytes): copies L into out. Returns: 0, or RT_EPARSE (not JSON, not an
 * object, no string "label", an empty label, a NUL inside) or RT_ETOOBIG.
 */
int rt__http_json_label(const char *body, size_t len, char *out, size_t size);
/*
 * Reads {"value": V}: a string gives its contents, a number or a boolean its JSON text.
 * Returns: 0, or RT_EPARSE (null, an object, an array, missing) or RT_ETOOBIG.
 */
int rt__http_json_value(const char *body, size_t len, char *out, size_t size);
/* Returns: true when s (len bytes) is a usable path id: 1..128 of [A-Za-z0-9._-], not "." or
 * "..". */
bool rt__http_id_ok(const char *s, size_t len);
/* Writes n random bytes as 2n lowercase hex digits and a NUL into out (2n+1 bytes).
 * Returns: 0 or RT_EIO when getrandom fails. */
int rt__http_random_hex(char *out, size_t n);
/* Returns: true when a and b are equal NUL-terminated strings, in time independent of where they
 * differ (lengths may leak). */
bool rt__http_secret_eq(const char *a, const char *b);

/* ---- sessions.c: signed-in sessions, in memory ---- */

#define RT_HTTP_SESSION_ID_HEX 64 /* 32 random bytes */

struct rt_http_session {
    char id[RT_HTTP_SESSION_ID_HEX + 1];   /* secret: the cookie value */
    char csrf[RT_HTTP_SESSION_ID_HEX + 1]; /* secret: the CSRF token */
    char user[128];
    enum rt_role role;
    int64_t created_ms, last_ms; /* monotonic */
    bool used;
};

struct rt_http_sessions {
    struct rt_http_session *v; /* owned array of max entries */
    int max;
    int64_t idle_ms, max_age_ms;
};

int rt__http_sessions_init(struct rt_http_sessions *ss,
                           int max,
                           int64_t idle_ms,
                           int64_t max_age_ms);
/* Wipes every secret and frees the table. */
void rt__http_sessions_cleanup(struct rt_http_sessions *ss);
/* Creates a session (evicting the least recently used when full). Returns: borrowed session
 * (valid until the next create or end), or NULL when no random bytes are available. */
struct rt_http_session *rt__http_sessions_create(struct rt_http_sessions *ss,
                                                 const char *user,
                                                 enum rt_role role,
                                                 int64_t now);
/* Returns: the live session with this id (and touches it), or NULL (unknown, idle too long, too
 * old: an expired one is wiped). */
struct rt_http_session *
rt__http_sessions_find(struct rt_http_sessions *ss, const char *id, int64_t now);
void rt__http_sessions_end(struct rt_http_sessions *ss, struct rt_http_session *s);

/* ---- ratelimit.c: failed sign-ins per user and per address ---- */

#define RT_HTTP_RL_MAX_FAILS 5

struct rt_http_rl_entry {
    char key[160];                       /* "u:NAME" or "a:ADDRESS"; "" = free */
    int64_t fails[RT_HTTP_RL_MAX_FAILS]; /* ring of failure times (monotonic ms) */
    int n, next;
};

struct rt_http_ratelimit {
    struct rt_http_rl_entry *v; /* owned */
    int max;
    int max_fails;
    int64_t window_ms;
};

int rt__http_rl_init(struct rt_http_ratelimit *rl,
                     int max_entries,
                     int max_fails,
                     int64_t window_ms);
void rt__http_rl_cleanup(struct rt_http_ratelimit *rl);
/* Returns: 0 when key may try now, else the seconds to wait (>= 1). */
int rt__http_rl_blocked(struct rt_http_ratelimit *rl, const char *key, int64_t now);
void rt__http_rl_fail(struct rt_http_ratelimit *rl, const char *key, int64_t now);
void rt__http_rl_clear(struct rt_http_ratelimit *rl, const char *key);

/* ---- metrics.c: requests by route and status ---- */

struct rt_http_counter {
    const char *route; /* static */
    int code;
    uint64_t n;
};

struct rt_http_metrics {
    struct rt_http_counter *v; /* owned */
    int n, cap;
};

void rt__http_metrics_count(struct rt_http_metrics *m, const char *route, int code);
/* Appends retraind_http_requests_total in Prometheus text. Returns: 0 or an rt_buf error. */
int rt__http_metrics_write(const struct rt_http_metrics *m, struct rt_buf *out);
void rt__http_metrics_cleanup(struct rt_http_metrics *m);

/* ---- assets.c: the files of src/http/www/, embedded at build time ---- */

struct rt_http_asset {
    const char *name; /* "review.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};
/* Returns: the embedded file called name (exact; no path), or NULL. */
const struct rt_http_asset *rt__http_asset(const char *name, size_t len);
/* Renders login.html with {{csrf}} and {{message}} (HTML-escaped) replaced. Returns: 0 or an
 * rt_buf error. */
int rt__http_login_page(const char *csrf, const char *message, struct rt_buf *out);

/* ---- server.c: the server, calls and responses ---- */

struct rt_http_limits {
    size_t max_body_bytes; /* any request (h2o answers 413 past it) */
    size_t max_json_bytes; /* JSON and form bodies of our routes */
    int max_verifying;     /* argon2 verifications at once on the thread pool */
    int max_login_waiting; /* sign-ins queued behind them (past it: 429) */
};

struct rt_http_call {
    struct rt_http_server *s;
    h2o_req_t *req;                   /* NULL once the client went away */
    struct call_link *link;           /* lives in req's pool; tells us when req goes */
    const char *route;                /* static route name, for the counters */
    struct rt_http_call *prev, *next; /* the server's list of outstanding calls */
    struct rt_http_request rq;        /* strings below are owned copies */
    char *owned[8];                   /* user, id, value, state, workflow, label, route */
    bool metrics;                     /* /metrics: prepend the HTTP counters */
    /* sign-in on the thread pool */
    uv_work_t work;
    char *login_user, *login_password, *login_hash, *login_addr; /* owned; password wiped */
    enum rt_role login_role;
    bool login_ok, login_unknown;
    struct rt_http_call *next_login; /* queue of sign-ins waiting for a verifier */
};

struct rt_http_conn;

struct rt_http_server {
    uv_loop_t *loop;
    const struct rt_config *cfg;
    struct rt_http_backend backend;
    h2o_globalconf_t h2o_cfg;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    bool ctx_ready;
    uv_tcp_t listener;
    bool listener_open;
    struct rt_http_conn *conns;
    int n_conns;
    struct rt_http_call *calls; /* outstanding backend calls and sign-ins */
    int n_calls;
    int n_verifying;
    struct rt_http_call *login_head, *login_tail; /* sign-ins waiting for a verifier */
    int n_login_waiting;
    struct rt_http_sessions sessions;
    struct rt_http_ratelimit fails;
    struct rt_http_metrics metrics;
    struct rt_http_limits limits;
    char dummy_hash[RT_PASSWORD_HASH_MAX]; /* verified for unknown users: same cost */
    char address[96];
    int port;
    bool closing, freeing;
    int closing_handles;
    uv_timer_t sentinel[2];
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Serves an already connected stream socket fd as if it had been accepted (the fuzz target
 * feeds raw bytes through a socketpair). Returns: 0, or an error (fd is not taken then). */
int rt__http_server_adopt(struct rt_http_server *s, int fd);
/* Returns: connections open plus backend calls outstanding (0: nothing in flight). */
int rt__http_server_busy(const struct rt_http_server *s);

/* Header helpers: add a response header (name and value copied into req's pool). */
void rt__http_header(h2o_req_t *req, const char *name, const char *value);
/*
 * Sends the whole response: status, content type, body (copied), the security headers,
 * Cache-Control (no-store unless the caller set one), and counts it under route.
 */
void rt__http_respond(struct rt_http_server *s,
                      h2o_req_t *req,
                      const char *route,
                      int status,
                      const char *content_type,
                      const void *body,
                      size_t len);
void rt__http_respond_error(
    struct rt_http_server *s, h2o_req_t *req, const char *route, int status, const char *message);
/* Returns: a new call bound to req (freed by completing it), or NULL when out of memory. */
struct rt_http_call *rt__http_call_new(struct rt_http_server *s, h2o_req_t *req, const char *route);
/* Keeps a copy of s in the call (freed with it). Returns: the copy or NULL (out of memory). */
const char *rt__http_call_keep(struct rt_http_call *c, const char *s, size_t len);
/* Frees c and unlinks it (the backend completed, or it never started). */
void rt__http_call_free(struct rt_http_call *c);
/* Returns: the value of request header name (lower case) or an empty view. */
struct rt_str rt__http_req_header(h2o_req_t *req, const char *name);
/* Writes the client's address (no port) into out. */
void rt__http_peer(h2o_req_t *req, char *out, size_t size);

/* ---- auth.c: who is asking ---- */

enum rt_http_need { RT_HTTP_PUBLIC, RT_HTTP_REVIEWER, RT_HTTP_ADMIN };

struct rt_http_who {
    const char *user; /* borrowed from the session or the config */
    enum rt_role role;
    struct rt_http_session *session; /* NULL for a bearer token */
};

/*
 * Resolves the caller of req: a bearer token (Authorization) or the rt_session cookie.
 * Returns: 0 and *who; 401 when no valid credentials came (a wrong bearer token included).
 */
int rt__http_authenticate(struct rt_http_server *s, h2o_req_t *req, struct rt_http_who *who);
/* Returns: true when req (not GET/HEAD) carries the session's CSRF token: the X-CSRF-Token header,
 * or for a form body the field csrf. Bearer callers need none. */
bool rt__http_csrf_ok(struct rt_http_server *s, h2o_req_t *req, const struct rt_http_who *who);
/* Returns: true when the token (presented as is) matches one of the config's token_sha256. */
const struct rt_config_http_token *rt__http_token_find(const struct rt_config *cfg,
                                                       const char *token);

/* ---- login.c: GET/POST /login, POST /logout ---- */

void rt__http_login_form(struct rt_http_server *s, h2o_req_t *req, int status, const char *message);
void rt__http_login_post(struct rt_http_server *s, h2o_req_t *req);
void rt__http_logout(struct rt_http_server *s, h2o_req_t *req);
/* Called by close: answers queued sign-ins with 503. */
void rt__http_login_drain(struct rt_http_server *s);

/* ---- routes.c ---- */

/* Routes req (an h2o handler's work). Always answers (possibly later, through a call). */
void rt__http_route(struct rt_http_server *s, h2o_req_t *req);

#endif
