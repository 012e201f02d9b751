/*
 * http.h - the daemon's HTTP server: the review portal, the dashboard, the JSON API, /metrics and
 * /healthz (DESIGN.md "HTTP"), on the daemon's libuv loop through h2o (Debian's libh2o, the libuv
 * flavour). The server owns the transport, routing, sign-in, sessions, CSRF, roles, rate limits,
 * the embedded pages and the HTTP request counters; everything it answers with data from the rest
 * of the daemon comes through a backend: a table of asynchronous operations (struct
 * rt_http_backend_ops). A NULL operation answers 503 {"error":"not available"}, so parts of the
 * daemon that do not exist yet simply leave their slot empty.
 *
 * Each operation gets a call handle and completes it later, on the loop thread, exactly once, with
 * rt_http_call_done (or rt_http_call_json / rt_http_call_error). It may complete inside the
 * operation itself. When the client went away meanwhile, the completion is dropped quietly; the
 * handle stays valid until it is completed, so a backend never has to know.
 */
#ifndef RETRAIND_HTTP_H
#define RETRAIND_HTTP_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "retraind/config.h"
#include "retraind/error.h"

struct uv_loop_s;
struct rt_http_server;
struct rt_http_call;

/* What an operation is asked. Every string is borrowed and stays valid until the call is
 * completed; a field the route does not have is NULL (or 0). */
struct rt_http_request {
    const char *user; /* who asks: a portal user's or an API token's name (the review WORKER) */
    enum rt_role role;
    /* From the path: the execution (exec_json), the task (review_image, review_answer), the
     * parameter name (param_set). Only [A-Za-z0-9._-] characters ever reach a backend. */
    const char *id;
    /* review_answer: the label; param_set: the value as text (a JSON string's contents, or the
     * JSON text of a number or a boolean, as `params set NAME VALUE` would get it);
     * label_job_create: the whole body as sent (JSON text, no NUL inside); label_job_example:
     * "good" or "bad". */
    const char *value;
    /* Query parameters (history: workflow, state, limit; reviews: state; detections: label,
     * route, limit). limit is 0 when absent, else 1..10000. */
    const char *state, *workflow, *label, *route;
    int limit;
};

/* One operation: answer rq through call (see rt_http_call_done). Runs on the loop thread. */
typedef void rt_http_op_fn(void *ud, struct rt_http_call *call, const struct rt_http_request *rq);

/* The operations behind the routes (DESIGN.md and the brief's "HTTP routes"). Any may be NULL. */
struct rt_http_backend_ops {
    rt_http_op_fn *status_json;     /* GET /api/status: `status --json` */
    rt_http_op_fn *history_json;    /* GET /api/history: `history --json` */
    rt_http_op_fn *exec_json;       /* GET /api/history/ID: one execution with its steps */
    rt_http_op_fn *params_json;     /* GET /api/params: `params list --json` */
    rt_http_op_fn *param_set;       /* PUT /api/params/NAME: 200 {"name","value"} or 400 */
    rt_http_op_fn *reviews_json;    /* GET /api/reviews[?state=]: `review list --json` */
    rt_http_op_fn *review_next;     /* GET /api/reviews/next: 200 task or 204 */
    rt_http_op_fn *review_image;    /* GET /api/reviews/ID/image: the image bytes or 404 */
    rt_http_op_fn *review_answer;   /* POST /api/reviews/ID/answer: 200, 400, 404 or 409 */
    rt_http_op_fn *workflows_json;  /* GET /api/workflows: the state graphs */
    rt_http_op_fn *models_json;     /* GET /api/models: every version */
    rt_http_op_fn *detections_json; /* GET /api/detections: newest first */
    /* Labeling jobs (docs/labeling.md). id is the job name as the path gave it (the operation
     * checks it is one). */
    rt_http_op_fn *label_jobs_json;   /* GET /api/label-jobs: `label-job list --json` */
    rt_http_op_fn *label_job_json;    /* GET /api/label-jobs/NAME: `label-job status --json` */
    rt_http_op_fn *label_job_create;  /* POST /api/label-jobs: 201 {"name"}, 400 or 409 */
    rt_http_op_fn *label_job_example; /* GET /api/label-jobs/NAME/examples/good|bad: bytes */
    /* GET /metrics: completes with Prometheus text that the server appends after its own HTTP
     * counters (content type ignored). NULL: the HTTP counters alone. */
    rt_http_op_fn *metrics;
    /* GET /healthz: 200 "ok" while the loop runs and the journal is writable, else 503. */
    rt_http_op_fn *healthy;
};

struct rt_http_backend {
    const struct rt_http_backend_ops *ops; /* borrowed; must outlive the server */
    void *ud;                              /* passed to every operation */
};

/*
 * Completes call with status (200, 204, 400, ...), a content type (NULL: application/json) and
 * len bytes of body (copied; body may be NULL when len is 0). Must be called exactly once per
 * call, on the loop thread; the handle is invalid afterwards. The server adds the security
 * headers and Cache-Control: no-store.
 */
void rt_http_call_done(
    struct rt_http_call *call, int status, const char *content_type, const void *body, size_t len);
/* As rt_http_call_done with json printed unformatted; takes ownership of json (NULL: 500). */
void rt_http_call_json(struct rt_http_call *call, int status, cJSON *json);
/* As rt_http_call_done with {"error": message}. */
void rt_http_call_error(struct rt_http_call *call, int status, const char *message);

/*
 * Starts the server on loop (the process must ignore SIGPIPE, as the daemon does: a client that
 * went away makes a write fail, not the process die): listens on cfg->http.listen_host:listen_port
 * (port 0: any free port), with the portal users of cfg->review.users and the API tokens of
 * cfg->http.tokens. cfg and backend->ops are borrowed and must outlive the server. Returns: 0 and
 * *out (close with rt_http_server_close), or an error with err filled (nothing left open).
 */
int rt_http_server_new(struct uv_loop_s *loop,
                       const struct rt_config *cfg,
                       const struct rt_http_backend *backend,
                       struct rt_http_server **out,
                       struct rt_error *err);
/* Returns: the port the server listens on (the one picked when the config said 0). */
int rt_http_server_port(const struct rt_http_server *s);
/* Returns: "host:port" of the listener ("[v6]:port" for IPv6); borrowed, valid until close. */
const char *rt_http_server_address(const struct rt_http_server *s);
/*
 * Stops listening, closes every connection (a request still waiting on the backend is dropped;
 * its call handle stays valid until the backend completes it), then frees s once every call was
 * completed and every handle closed, and calls cb(ud) (may be NULL) on a later loop turn.
 */
void rt_http_server_close(struct rt_http_server *s, void (*cb)(void *ud), void *ud);

#endif
