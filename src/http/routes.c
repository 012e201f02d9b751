/*
 * routes.c - the route table (the brief's and DESIGN.md's "HTTP routes") and what each route
 * needs: who may call it, whether it is a page (no credentials: redirect to /login instead of
 * 401), which body it takes, and which backend operation answers it.
 *
 * Design: routing works on the raw request path, split at '/'. A path with a dot segment, a
 * '%'-escape, an empty segment or a segment that is not a plain id never matches, so
 * "/api/reviews/../x" or "/static/%2e%2e/x" are 404 and no request path is ever used to find a
 * file or a task by anything but its id. Every answer goes through rt__http_respond, which adds
 * the security headers and counts it under the route's static name.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"

#define MAX_SEGMENTS 8

enum kind {
    K_OP,      /* a backend operation */
    K_HEALTH,  /* /healthz */
    K_METRICS, /* /metrics */
    K_SESSION, /* /api/session */
    K_PAGE,    /* an embedded HTML page */
    K_STATIC,  /* /static/NAME */
    K_LOGIN_FORM,
    K_LOGIN_POST,
    K_LOGOUT,
};

/* B_JSON: the body itself goes to the operation (it parses the object). */
enum body { B_NONE, B_LABEL, B_VALUE, B_JSON };

struct route {
    const char *method;
    const char *pattern; /* literal segments and ":id" */
    enum rt_http_need need;
    enum kind kind;
    bool page; /* HTML: redirect to /login rather than 401 */
    enum body body;
    size_t op; /* K_OP: offset of the operation in rt_http_backend_ops */
    /* K_PAGE: the embedded file; K_OP: a constant given as rq->value (routes without a body) */
    const char *arg;
};

#define OP(name) offsetof(struct rt_http_backend_ops, name)

static const struct route routes[] = {
    {"GET", "/healthz", RT_HTTP_PUBLIC, K_HEALTH, false, B_NONE, OP(healthy), NULL},
    {"GET", "/metrics", RT_HTTP_PUBLIC, K_METRICS, false, B_NONE, OP(metrics), NULL},
    {"GET", "/login", RT_HTTP_PUBLIC, K_LOGIN_FORM, false, B_NONE, 0, NULL},
    {"POST", "/login", RT_HTTP_PUBLIC, K_LOGIN_POST, false, B_NONE, 0, NULL},
    {"POST", "/logout", RT_HTTP_PUBLIC, K_LOGOUT, false, B_NONE, 0, NULL},
    {"GET", "/", RT_HTTP_ADMIN, K_PAGE, true, B_NONE, 0, "dashboard.html"},
    {"GET", "/review", RT_HTTP_REVIEWER, K_PAGE, true, B_NONE, 0, "review.html"},
    {"GET", "/static/:id", RT_HTTP_PUBLIC, K_STATIC, false, B_NONE, 0, NULL},
    {"GET", "/api/session", RT_HTTP_REVIEWER, K_SESSION, false, B_NONE, 0, NULL},
    {"GET", "/api/reviews/next", RT_HTTP_REVIEWER, K_OP, false, B_NONE, OP(review_next), NULL},
    {"GET", "/api/reviews", RT_HTTP_REVIEWER, K_OP, false, B_NONE, OP(reviews_json), NULL},
    {"GET", "/api/reviews/:id/image", RT_HTTP_REVIEWER, K_OP, false, B_NONE, OP(review_image),
     NULL},
    {"POST", "/api/reviews/:id/answer", RT_HTTP_REVIEWER, K_OP, false, B_LABEL, OP(review_answer),
     NULL},
    {"GET", "/api/status", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(status_json), NULL},
    {"GET", "/api/history", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(history_json), NULL},
    {"GET", "/api/history/:id", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(exec_json), NULL},
    {"GET", "/api/params", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(params_json), NULL},
    {"PUT", "/api/params/:id", RT_HTTP_ADMIN, K_OP, false, B_VALUE, OP(param_set), NULL},
    {"GET", "/api/workflows", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(workflows_json), NULL},
    {"GET", "/api/models", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(models_json), NULL},
    {"GET", "/api/detections", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(detections_json), NULL},
    {"GET", "/api/label-jobs", RT_HTTP_ADMIN, K_OP, false, B_NONE, OP(label_jobs_json), NULL},
    {"POST", "/api/label-jobs", RT_HTTP_ADMIN, K_OP, false, B_JSON, OP(label_job_create), NULL},
    {"GET", "/api/label-jobs/:id", RT_HTTP_REVIEWER, K_OP, false, B_NONE, OP(label_job_json), NULL},
    {"GET", "/api/label-jobs/:id/examples/good", RT_HTTP_REVIEWER, K_OP, false, B_NONE,
     OP(label_job_example), "good"},
    {"GET", "/api/label-jobs/:id/examples/bad", RT_HTTP_REVIEWER, K_OP, false, B_NONE,
     OP(label_job_example), "bad"},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

struct seg {
    const char *p;
    size_t len;
};

/* Splits path (no query) into segments; a request path's segments must be plain ids (a route
 * pattern's need not). Returns: the count, or -1 for a path no route may see. */
static int split(const char *path, size_t len, bool check, struct seg *out)
{
    if (len == 0 || path[0] != '/')
        return -1;
    if (len == 1)
        return 0;
    int n = 0;
    size_t i = 1;
    while (i <= len) {
        size_t end = i;
        while (end < len && path[end] != '/')
            end++;
        if (n == MAX_SEGMENTS || end == i || (check && !rt__http_id_ok(path + i, end - i)))
            return -1;
        out[n++] = (struct seg){path + i, end - i};
        i = end + 1;
    }
    return n;
}

/* Returns: true when the route's pattern matches the segments; *id gets the ":id" segment. */
static bool matches(const struct route *r, const struct seg *segs, int n, struct seg *id)
{
    struct seg pat[MAX_SEGMENTS];
    int pn = split(r->pattern, strlen(r->pattern), false, pat);
    if (pn != n)
        return false;
    for (int i = 0; i < n; i++) {
        if (pat[i].len == 3 && memcmp(pat[i].p, ":id", 3) == 0)
            *id = segs[i];
        else if (pat[i].len != segs[i].len || memcmp(pat[i].p, segs[i].p, segs[i].len) != 0)
            return false;
    }
    return true;
}

static bool method_is(h2o_req_t *req, const char *m)
{
    return req->method.len == strlen(m) && memcmp(req->method.base, m, req->method.len) == 0;
}

static bool method_matches(h2o_req_t *req, const char *m)
{
    return method_is(req, m) || (strcmp(m, "GET") == 0 && method_is(req, "HEAD"));
}

static void redirect(struct rt_http_server *s, h2o_req_t *req, const char *route, const char *to)
{
    rt__http_header(req, "Location", to);
    rt__http_respond(s, req, route, 303, "text/plain; charset=utf-8", "see other\n", 10);
}

static void serve_asset(struct rt_http_server *s,
                        h2o_req_t *req,
                        const char *route,
                        const struct rt_http_asset *a,
                        const char *cache)
{
    rt__http_header(req, "Cache-Control", cache);
    rt__http_respond(s, req, route, 200, a->type, a->data, a->len);
}

static void serve_static(struct rt_http_server *s, h2o_req_t *req, const char *route, struct seg id)
{
    /* Only styles, scripts and the icon: pages have their own routes (and their own auth). */
    const struct rt_http_asset *a = rt__http_asset(id.p, id.len);
    struct rt_str name = {id.p, id.len};
    bool ok = a && (rt_str_ends_with_ci(name, ".css") || rt_str_ends_with_ci(name, ".js") ||
                    rt_str_ends_with_ci(name, ".svg"));
    if (!ok) {
        rt__http_respond_error(s, req, route, 404, "not found");
        return;
    }
    serve_asset(s, req, route, a, "no-cache");
}

static void serve_session(struct rt_http_server *s,
                          h2o_req_t *req,
                          const char *route,
                          const struct rt_http_who *who)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", who->user);
    cJSON_AddStringToObject(o, "role", who->role == RT_ROLE_ADMIN ? "admin" : "reviewer");
    if (who->session)
        cJSON_AddStringToObject(o, "csrf", who->session->csrf);
    else
        cJSON_AddNullToObject(o, "csrf");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text)
        rt__http_respond(s, req, route, 200, "application/json", text, strlen(text));
    else
        rt__http_respond_error(s, req, route, 500, "out of memory");
    cJSON_free(text);
}

/* Reads the query field name into the call. Returns: 0, or -1 after answering 400. */
static int query_field(struct rt_http_server *s,
                       h2o_req_t *req,
                       const char *route,
                       struct rt_http_call *c,
                       const char *name,
                       const char **out)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t qlen = req->path.len - req->query_at - 1;
    char v[256];
    int rc = rt__http_form_get(q, qlen, name, v, sizeof(v));
    if (rc == RT_ENOTFOUND)
        return 0;
    if (rc || !v[0]) {
        char msg[96];
        rt_snprintf(msg, sizeof(msg), "bad query parameter %s", name);
        rt__http_respond_error(s, req, route, 400, msg);
        return -1;
    }
    *out = rt__http_call_keep(c, v, strlen(v));
    if (!*out) {
        rt__http_respond_error(s, req, route, 500, "out of memory");
        return -1;
    }
    return 0;
}

static int query_limit(struct rt_http_server *s, h2o_req_t *req, const char *route, int *out)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t qlen = req->path.len - req->query_at - 1;
    char v[16];
    int rc = rt__http_form_get(q, qlen, "limit", v, sizeof(v));
    if (rc == RT_ENOTFOUND)
        return 0;
    long n = 0;
    bool ok = rc == 0 && v[0];
    for (const char *p = v; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        n = n * 10 + (*p - '0');
        if (n > 10000)
            ok = false;
    }
    if (!ok || n < 1) {
        rt__http_respond_error(s, req, route, 400, "limit must be a whole number from 1 to 10000");
        return -1;
    }
    *out = (int)n;
    return 0;
}

static void run_op(struct rt_http_server *s,
                   h2o_req_t *req,
                   const struct route *r,
                   const struct rt_http_who *who,
                   struct seg id)
{
    const char *route = r->pattern;
    rt_http_op_fn *op = *(rt_http_op_fn *const *)((const char *)s->backend.ops + r->op);
    if (!op && r->kind != K_METRICS) {
        rt__http_respond_error(s, req, route, 503, "not available");
        return;
    }
    char value[1024];
    const char *body = req->entity.base ? req->entity.base : "";
    size_t len = req->entity.base ? req->entity.len : 0;
    if (r->body != B_NONE && len > s->limits.max_json_bytes) {
        rt__http_respond_error(s, req, route, 413, "the body is too big");
        return;
    }
    if (r->body == B_JSON && (len == 0 || memchr(body, 0, len))) {
        rt__http_respond_error(s, req, route, 400, "the body must be a JSON object");
        return;
    }
    if (r->body == B_LABEL || r->body == B_VALUE) {
        int rc = r->body == B_LABEL ? rt__http_json_label(body, len, value, sizeof(value))
                                    : rt__http_json_value(body, len, value, sizeof(value));
        if (rc) {
            rt__http_respond_error(s, req, route, 400,
                                   r->body == B_LABEL ? "the body must be {\"label\": L}"
                                                      : "the body must be {\"value\": V}");
            return;
        }
    }
    struct rt_http_call *c = rt__http_call_new(s, req, route);
    if (!c) {
        rt__http_respond_error(s, req, route, 500, "out of memory");
        return;
    }
    c->metrics = r->kind == K_METRICS;
    struct rt_http_request *rq = &c->rq;
    rq->role = who ? who->role : RT_ROLE_REVIEWER;
    bool oom = false;
    if (who && who->user)
        oom |= !(rq->user = rt__http_call_keep(c, who->user, strlen(who->user)));
    if (id.p)
        oom |= !(rq->id = rt__http_call_keep(c, id.p, id.len));
    if (r->body == B_JSON)
        oom |= !(rq->value = rt__http_call_keep(c, body, len));
    else if (r->body != B_NONE)
        oom |= !(rq->value = rt__http_call_keep(c, value, strlen(value)));
    else if (r->arg)
        rq->value = r->arg; /* static */
    if (oom) {
        rt__http_call_free(c);
        rt__http_respond_error(s, req, route, 500, "out of memory");
        return;
    }
    if (r->kind == K_OP && (query_field(s, req, route, c, "state", &rq->state) ||
                            query_field(s, req, route, c, "workflow", &rq->workflow) ||
                            query_field(s, req, route, c, "label", &rq->label) ||
                            query_field(s, req, route, c, "route", &rq->route) ||
                            query_limit(s, req, route, &rq->limit))) {
        c->req = NULL; /* already answered */
        rt__http_call_free(c);
        return;
    }
    if (!op) { /* /metrics with no backend part: the HTTP counters alone */
        rt_http_call_done(c, 200, NULL, NULL, 0);
        return;
    }
    op(s->backend.ud, c, rq);
}

void rt__http_route(struct rt_http_server *s, h2o_req_t *req)
{
    size_t plen = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    struct seg segs[MAX_SEGMENTS];
    int n = split(req->path.base, plen, true, segs);
    const struct route *r = NULL;
    bool other_method = false;
    struct seg id = {NULL, 0};
    for (size_t i = 0; n >= 0 && i < N_ROUTES && !r; i++) {
        struct seg got = {NULL, 0};
        if (!matches(&routes[i], segs, n, &got))
            continue;
        if (method_matches(req, routes[i].method)) {
            r = &routes[i];
            id = got;
        } else {
            other_method = true;
        }
    }
    if (!r) {
        if (other_method)
            rt__http_respond_error(s, req, "other", 405, "method not allowed");
        else
            rt__http_respond_error(s, req, "other", 404, "not found");
        return;
    }
    const char *route = r->pattern;

    struct rt_http_who who = {0};
    if (r->need != RT_HTTP_PUBLIC) {
        if (rt__http_authenticate(s, req, &who) != 0) {
            if (r->page) {
                redirect(s, req, route, "/login");
            } else {
                rt__http_header(req, "WWW-Authenticate", "Bearer realm=\"retraind\"");
                rt__http_respond_error(s, req, route, 401, "sign in or give a bearer token");
            }
            return;
        }
        if (r->need == RT_HTTP_ADMIN && who.role != RT_ROLE_ADMIN) {
            if (r->page)
                redirect(s, req, route, "/review");
            else
                rt__http_respond_error(s, req, route, 403, "this needs the admin role");
            return;
        }
        if (!method_is(req, "GET") && !method_is(req, "HEAD") && !rt__http_csrf_ok(s, req, &who)) {
            rt__http_respond_error(s, req, route, 403, "bad or missing CSRF token");
            return;
        }
    }

    switch (r->kind) {
    case K_HEALTH:
    case K_METRICS:
    case K_OP:
        run_op(s, req, r, r->need == RT_HTTP_PUBLIC ? NULL : &who, id);
        return;
    case K_SESSION:
        serve_session(s, req, route, &who);
        return;
    case K_PAGE: {
        const struct rt_http_asset *a = rt__http_asset(r->arg, strlen(r->arg));
        if (a)
            serve_asset(s, req, route, a, "no-store");
        else
            rt__http_respond_error(s, req, route, 404, "not found");
        return;
    }
    case K_STATIC:
        serve_static(s, req, route, id);
        return;
    case K_LOGIN_FORM:
        rt__http_login_form(s, req, 200, "");
        return;
    case K_LOGIN_POST:
        rt__http_login_post(s, req);
        return;
    case K_LOGOUT:
        rt__http_logout(s, req);
        return;
    }
}
