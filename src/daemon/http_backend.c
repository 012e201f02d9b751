/*
 * http_backend.c - the backend operations of the HTTP server (include/retraind/http.h) for the
 * daemon: status, history, one execution, parameters (read and set), models, the workflows'
 * state graphs, the review portal's tasks (through the local review driver), metrics and health.
 *
 * Design: every answer is built on the loop from short journal reads, except the census of
 * labeled images that `status` includes: that one lists the store page by page on the thread
 * pool, so concurrent /api/status calls share one census and its result is reused for
 * CENSUS_TTL_MS (a dashboard that refreshes every few seconds costs one listing, not one per
 * request). Health is a real write: /healthz commits a tiny batch through the journal's writer
 * (shared by concurrent calls, reused for HEALTH_TTL_MS), so a journal that cannot be written
 * turns the answer into 503.
 */
#include "http_backend.h"

#include <inttypes.h>
#include <string.h>

#include "counters.h"

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/detect.h"
#include "retraind/http.h"
#include "retraind/journal.h"
#include "retraind/journal_detections.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "retraind/label_report.h"
#include "retraind/log.h"
#include "retraind/model_meter.h"
#include "retraind/params.h"
#include "retraind/report.h"
#include "retraind/review_local.h"
#include "retraind/store.h"
#include "retraind/workflow.h"

#define CENSUS_TTL_MS 2000
#define HEALTH_TTL_MS 1000
#define LIVE_TTL_MS 1000
/* The longest a printed /api/status body is served again while nothing it depends on changed. */
#define STATUS_BODY_TTL_MS 250
#define MAX_WAITING 4096

/* A call waiting for a shared piece of work (the census, the health write). */
struct waiter {
    struct rt_http_call *call;
    struct waiter *next;
};

struct param_call {
    struct rt_daemon_http *h;
    struct rt_http_call *call;
    enum rt_param_id id;
    char text[64];
};

/* A printed /api/status body and what it was printed from. */
struct status_body {
    char *text;
    size_t len;
    int64_t at; /* rt_mono_ms() */
    int64_t data_version, census_at, live_at, in_flight, accepted, accepted_low, review;
};

struct rt_daemon_http {
    struct rt_daemon_http_env env;
    struct rt_http_server *server;
    char address[96];
    /* census for /api/status */
    struct rt_census census;
    bool census_valid, census_running;
    int64_t census_at;
    struct waiter *status_waiting;
    /* health */
    bool health_running, health_ok;
    int64_t health_at;
    struct waiter *health_waiting;
    /* the detection and review figures of status and /metrics (see live()) */
    struct rt_report_live live;
    int64_t live_at;
    int64_t in_flight_total;
    struct status_body status_body; /* the last /api/status body (see answer_status) */
    int n_waiting;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static int wait_on(struct rt_daemon_http *h, struct waiter **list, struct rt_http_call *call)
{
    if (h->n_waiting >= MAX_WAITING)
        return RT_EBUSY;
    struct waiter *w = rt_calloc(1, sizeof(*w));
    if (!w)
        return RT_ENOMEM;
    w->call = call;
    w->next = *list;
    *list = w;
    h->n_waiting++;
    return 0;
}

/* Takes the list over: the caller answers each call and frees the waiters. */
static struct waiter *take(struct rt_daemon_http *h, struct waiter **list)
{
    struct waiter *w = *list;
    *list = NULL;
    for (struct waiter *p = w; p; p = p->next)
        h->n_waiting--;
    return w;
}

/* ---- the live figures ---- */

/*
 * The detection and review figures shared by /api/status and /metrics. Routes and executions by
 * end state come from the daemon's counters (memory, kept from the machine's transitions), the
 * detections in flight from the detection service; what is left are indexed reads (the queued
 * rows, the open tasks, the sampled rows, the unfinished executions), made at most once per
 * LIVE_TTL_MS however often the dashboard or Prometheus ask.
 */
static const struct rt_report_live *live(struct rt_daemon_http *h)
{
    int64_t now = rt_mono_ms();
    if (h->live_at && now - h->live_at < LIVE_TTL_MS)
        goto memory;
    struct rt_report_live l;
    if (rt_report_live_read(h->env.journal, false, &l) == 0) {
        rt_report_live_cleanup(&h->live);
        h->live = l;
    }
    if (rt_journal_exec_unfinished_count(h->env.journal, &h->in_flight_total))
        h->in_flight_total = 0;
    h->live_at = now;
memory:
    if (h->env.counters) {
        h->live.accepted = h->env.counters->accepted;
        h->live.accepted_low = h->env.counters->accepted_low;
        h->live.review = h->env.counters->review;
    }
    if (h->env.detect) {
        struct rt_detect_stats ds;
        rt_detect_stats(h->env.detect, &ds);
        h->live.in_flight = ds.in_flight;
    }
    return &h->live;
}

/* ---- status ---- */

/*
 * A dashboard, Prometheus and a load balancer may all ask for the status many times a second; its
 * body is printed again only when something it shows may have changed: a commit by any journal
 * connection (PRAGMA data_version), a new census, re-read live figures, the in-memory counters,
 * or STATUS_BODY_TTL_MS passing (what the journal does not hold, such as parameters from SSM).
 */
static bool same_sources(const struct status_body *a, const struct status_body *b)
{
    return a->data_version == b->data_version && a->census_at == b->census_at &&
           a->live_at == b->live_at && a->in_flight == b->in_flight && a->accepted == b->accepted &&
           a->accepted_low == b->accepted_low && a->review == b->review;
}

static void answer_status(struct rt_daemon_http *h, struct rt_http_call *call)
{
    const struct rt_report_live *l = live(h);
    struct status_body now = {.at = rt_mono_ms(),
                              .data_version = rt_journal_data_version(h->env.journal),
                              .census_at = h->census_at,
                              .live_at = h->live_at,
                              .in_flight = l->in_flight,
                              .accepted = l->accepted,
                              .accepted_low = l->accepted_low,
                              .review = l->review};
    struct status_body *last = &h->status_body;
    if (last->text && now.data_version >= 0 && now.at - last->at < STATUS_BODY_TTL_MS &&
        same_sources(&now, last)) {
        rt_http_call_done(call, 200, "application/json", last->text, last->len);
        return;
    }
    cJSON *o = rt_report_status(h->env.cfg, h->env.journal, &h->census, h->env.values, true, l);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    cJSON_free(last->text);
    now.text = text;
    now.len = strlen(text);
    *last = now;
    rt_http_call_done(call, 200, "application/json", text, now.len);
}

static void census_done(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct rt_daemon_http *h = ud;
    h->census_running = false;
    struct waiter *w = take(h, &h->status_waiting);
    if (status) {
        char msg[600];
        const char *text = err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status);
        RT_LOG(RT_LOG_WARNING, "http", "event=status_census_failed error=%s", rt_q(text));
        while (w) {
            struct waiter *next = w->next;
            rt_http_call_error(w->call, 500, text);
            rt_free(w);
            w = next;
        }
        return;
    }
    rt_census_cleanup(&h->census);
    h->census = *c; /* moved */
    memset(c, 0, sizeof(*c));
    h->census_valid = true;
    h->census_at = rt_mono_ms();
    while (w) {
        struct waiter *next = w->next;
        answer_status(h, w->call);
        rt_free(w);
        w = next;
    }
}

static void op_status(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    if (h->census_valid && rt_mono_ms() - h->census_at < CENSUS_TTL_MS) {
        answer_status(h, call);
        return;
    }
    int rc = wait_on(h, &h->status_waiting, call);
    if (rc) {
        rt_http_call_error(call, 503, "too many requests waiting");
        return;
    }
    if (h->census_running)
        return;
    struct rt_census_opts o = {.store = h->env.store, .journal = h->env.journal, .cfg = h->env.cfg};
    struct rt_error err;
    rt_error_clear(&err);
    h->census_running = true;
    rc = rt_census_start(&o, census_done, h, &err);
    if (rc) {
        h->census_running = false;
        census_done(rc, NULL, &err, h);
    }
}

/* ---- history, executions, parameters, models ---- */

static void op_history(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    struct rt_report_history_opts o = {
        .workflow = rq->workflow, .state = rq->state, .limit = rq->limit, .with_steps = true};
    rt_http_call_json(call, 200, rt_report_history(h->env.journal, &o));
}

static void op_exec(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    int rc = 0;
    cJSON *o = rt_report_execution(h->env.journal, rq->id, &rc);
    if (!o)
        rt_http_call_error(call, rc == RT_ENOTFOUND ? 404 : 500,
                           rc == RT_ENOTFOUND ? "no such execution" : rt_strerror(rc));
    else
        rt_http_call_json(call, 200, o);
}

static cJSON *param_json(const struct rt_param_value *v)
{
    struct rt_buf b;
    rt_buf_init(&b, 128);
    cJSON *item = rt_param_value_json(v, &b) == 0 && b.data ? cJSON_Parse(b.data) : NULL;
    rt_buf_cleanup(&b);
    return item ? item : cJSON_CreateNull();
}

static void op_params(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < RT_P_COUNT; i++)
        cJSON_AddItemToObject(o, rt_param_def_by_id((enum rt_param_id)i)->name,
                              param_json(&h->env.values->v[i]));
    rt_http_call_json(call, 200, o);
}

static void param_written(int status, const struct rt_error *err, void *ud)
{
    struct param_call *pc = ud;
    if (status == RT_EINVAL) {
        rt_http_call_error(pc->call, 400, err && err->msg[0] ? err->msg : "invalid value");
    } else if (status) {
        rt_http_call_error(pc->call, 500, err && err->msg[0] ? err->msg : rt_strerror(status));
    } else {
        const struct rt_param_def *def = rt_param_def_by_id(pc->id);
        struct rt_param_value v;
        struct rt_error perr;
        rt_error_clear(&perr);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", def->name);
        if (rt_param_parse(def, pc->text, &v, &perr) == 0)
            cJSON_AddItemToObject(o, "value", param_json(&v));
        else
            cJSON_AddStringToObject(o, "value", pc->text);
        RT_LOG(RT_LOG_NOTICE, "http", "event=param_set name=%s value=%s", def->name,
               rt_q(pc->text));
        rt_http_call_json(pc->call, 200, o);
    }
    rt_free(pc);
}

static void op_param_set(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    const struct rt_param_def *def = rt_param_def_by_name(rq->id);
    if (!def) {
        rt_http_call_error(call, 404, "unknown parameter");
        return;
    }
    struct param_call *pc = rt_calloc(1, sizeof(*pc));
    if (!pc || rt_strlcpy(pc->text, rq->value, sizeof(pc->text))) {
        rt_free(pc);
        rt_http_call_error(call, 400, "the value is too long");
        return;
    }
    pc->h = h;
    pc->call = call;
    pc->id = def->id;
    int rc = h->env.params->ops->set(h->env.params, def->id, pc->text, param_written, pc);
    if (rc) {
        struct rt_error err;
        rt_error_clear(&err);
        rt_error_set(&err, rc, "%s: %s", def->name, rt_strerror(rc));
        param_written(rc, &err, pc);
    }
}

static cJSON *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return cJSON_CreateNull();
    char t[40];
    return cJSON_CreateString(rt_time_rfc3339(ms, t, sizeof(t)));
}

static int add_model(const struct rt_journal_model *m, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", m->version);
    cJSON_AddStringToObject(o, "status", m->status);
    if (m->f1 >= 0)
        cJSON_AddNumberToObject(o, "f1", m->f1);
    else
        cJSON_AddNullToObject(o, "f1");
    cJSON_AddNumberToObject(o, "images", (double)m->images);
    cJSON_AddItemToObject(o, "created_at", time_or_null(m->created_ms));
    cJSON_AddItemToObject(o, "deployed_at", time_or_null(m->deployed_ms));
    cJSON_AddBoolToObject(o, "active", m->active);
    cJSON_AddItemToArray(ud, o);
    return 0;
}

static void op_models(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    cJSON *arr = cJSON_CreateArray();
    int rc = arr ? rt_journal_model_list(h->env.journal, add_model, arr) : RT_ENOMEM;
    if (rc) {
        cJSON_Delete(arr);
        rt_http_call_error(call, 500, rt_strerror(rc));
        return;
    }
    rt_http_call_json(call, 200, arr);
}

/* ---- workflows ---- */

static void op_workflows(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)ud;
    (void)rq;
    char *text = rt_workflow_graph_json();
    if (!text) {
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    rt_http_call_done(call, 200, NULL, text, strlen(text));
    cJSON_free(text);
}

/* ---- the detection log ---- */

static int add_detection(const struct rt_detection_row *r, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)r->seq);
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddStringToObject(o, "state", r->state);
    if (r->label[0])
        cJSON_AddStringToObject(o, "label", r->label);
    else
        cJSON_AddNullToObject(o, "label");
    if (r->confidence >= 0 && r->route[0])
        cJSON_AddNumberToObject(o, "confidence", r->confidence);
    else
        cJSON_AddNullToObject(o, "confidence");
    if (r->route[0])
        cJSON_AddStringToObject(o, "route", r->route);
    else
        cJSON_AddNullToObject(o, "route");
    if (r->model_version[0])
        cJSON_AddStringToObject(o, "model_version", r->model_version);
    else
        cJSON_AddNullToObject(o, "model_version");
    cJSON_AddItemToObject(o, "queued_at", time_or_null(r->queued_ms));
    cJSON_AddItemToObject(o, "detected_at", time_or_null(r->detected_ms));
    char task[RT_REVIEW_TASK_ID_MAX + 1];
    if (r->exec_id[0])
        cJSON_AddStringToObject(o, "exec_id", r->exec_id);
    else
        cJSON_AddNullToObject(o, "exec_id");
    if (strcmp(r->route, RT_ROUTE_REVIEW) == 0 &&
        rt_review_task_id(r->exec_id, task, sizeof(task)) == 0)
        cJSON_AddStringToObject(o, "task", task);
    else
        cJSON_AddNullToObject(o, "task");
    cJSON_AddBoolToObject(o, "sampled", r->sampled);
    if (r->error[0])
        cJSON_AddStringToObject(o, "error", r->error);
    cJSON_AddItemToArray(ud, o);
    return 0;
}

static void op_detections(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    cJSON *arr = cJSON_CreateArray();
    int rc = arr ? rt_journal_detection_list(h->env.journal, rq->label, rq->route, rq->limit,
                                             add_detection, arr)
                 : RT_ENOMEM;
    if (rc) {
        cJSON_Delete(arr);
        rt_http_call_error(call, 500, rt_strerror(rc));
        return;
    }
    rt_http_call_json(call, 200, arr);
}

/* ---- the review portal (local review driver) ---- */

/* A portal call waiting for the review driver; owns the image buffer of review_image. */
struct review_call {
    struct rt_http_call *call;
    struct rt_buf body;
};

static bool review_ready(struct rt_daemon_http *h, struct rt_http_call *call)
{
    struct rt_review *r = h->env.review;
    if (r && strcmp(r->ops->name, "local") == 0)
        return true;
    rt_http_call_error(call, 503,
                       r ? "the review portal is local-only: the a2i driver uses A2I's worker "
                           "portal"
                         : "the review portal needs the local review driver");
    return false;
}

static void review_failed(struct rt_http_call *call, int status, const struct rt_error *err)
{
    rt_http_call_error(call, rt_review_http_status(status),
                       err && err->msg[0] ? err->msg : rt_strerror(status));
}

static void op_reviews(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (rq->state && strcmp(rq->state, "open") != 0 && strcmp(rq->state, "answered") != 0 &&
        strcmp(rq->state, "cancelled") != 0) {
        rt_http_call_error(call, 400, "state is open, answered or cancelled");
        return;
    }
    struct rt_journal_review_filter f = {.state = rq->state, .limit = rq->limit};
    int rc = 0;
    cJSON *arr = rt_review_list_json(h->env.journal, &f, &rc);
    if (!arr) {
        rt_http_call_error(call, 500, rt_strerror(rc ? rc : RT_ENOMEM));
        return;
    }
    rt_http_call_json(call, 200, arr);
}

static void next_done(int status, const cJSON *task, const struct rt_error *err, void *ud)
{
    struct rt_http_call *call = ud;
    if (status) {
        review_failed(call, status, err);
        return;
    }
    if (!task) {
        rt_http_call_done(call, 204, NULL, NULL, 0);
        return;
    }
    rt_http_call_json(call, 200, cJSON_Duplicate(task, true));
}

static void op_review_next(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (!review_ready(h, call))
        return;
    int rc = rt_review_local_next(h->env.review, rq->user, next_done, call);
    if (rc)
        review_failed(call, rc, NULL);
}

static void image_done(int status, const char *content_type, const struct rt_error *err, void *ud)
{
    struct review_call *rc = ud;
    if (status)
        review_failed(rc->call, status, err);
    else
        rt_http_call_done(rc->call, 200, content_type, rc->body.data, rc->body.len);
    rt_buf_cleanup(&rc->body);
    rt_free(rc);
}

static void op_review_image(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (!review_ready(h, call))
        return;
    struct review_call *rc = rt_calloc(1, sizeof(*rc));
    if (!rc) {
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    rc->call = call;
    rt_buf_init(&rc->body, (size_t)16 << 20); /* the engine's own image limit is 15 MB */
    int st = rt_review_local_image(h->env.review, rq->id, &rc->body, image_done, rc);
    if (st) {
        rt_buf_cleanup(&rc->body);
        rt_free(rc);
        review_failed(call, st, NULL);
    }
}

struct answer_call {
    struct rt_http_call *call;
    char id[RT_REVIEW_TASK_ID_MAX + 1];
    char label[128];
};

static void answer_done(int status, const char *state, const struct rt_error *err, void *ud)
{
    struct answer_call *ac = ud;
    if (status) {
        review_failed(ac->call, status, err);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", ac->id);
        cJSON_AddStringToObject(o, "label", ac->label);
        cJSON_AddStringToObject(o, "state", state ? state : "open");
        rt_http_call_json(ac->call, 200, o);
    }
    rt_free(ac);
}

static void op_review_answer(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (!review_ready(h, call))
        return;
    struct answer_call *ac = rt_calloc(1, sizeof(*ac));
    if (!ac) {
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    ac->call = call;
    if (rt_strlcpy(ac->id, rq->id, sizeof(ac->id))) {
        rt_free(ac);
        rt_http_call_error(call, 404, "no such task");
        return;
    }
    if (!rq->value || rt_strlcpy(ac->label, rq->value, sizeof(ac->label))) {
        rt_free(ac);
        rt_http_call_error(call, 400, "the label is not one of the task's options");
        return;
    }
    int rc = rt_review_local_answer(h->env.review, rq->id, rq->user, rq->value, answer_done, ac);
    if (rc) {
        rt_free(ac);
        review_failed(call, rc, NULL);
    }
}

/* ---- labeling jobs ---- */

static int add_label_job(const struct rt_label_job *job, void *ud)
{
    struct rt_daemon_http *h = ((void **)ud)[0];
    cJSON *arr = ((void **)ud)[1];
    struct rt_label_job_counts n = {0};
    int rc = rt_journal_label_job_counts(h->env.journal, job->name, &n);
    if (rc)
        return rc;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "name", job->name) ||
        !cJSON_AddStringToObject(o, "kind", job->kind) ||
        !cJSON_AddStringToObject(o, "state", job->state) ||
        !cJSON_AddNumberToObject(o, "total", (double)n.total) ||
        !cJSON_AddNumberToObject(o, "labeled", (double)n.answered) ||
        !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return RT_ENOMEM;
    }
    return 0;
}

/* GET /api/label-jobs: `label-job list --json`, newest first. */
static void op_label_jobs(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    cJSON *arr = cJSON_CreateArray();
    void *pair[2] = {h, arr};
    int rc = arr ? rt_journal_label_job_list(h->env.journal, add_label_job, pair) : RT_ENOMEM;
    if (rc) {
        cJSON_Delete(arr);
        rt_http_call_error(call, 500, rt_strerror(rc));
        return;
    }
    rt_http_call_json(call, 200, arr);
}

/* Answers 400 with why when the path's NAME is not a job name. Returns: true when it is. */
static bool job_name_ok(struct rt_http_call *call, const char *name)
{
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_label_job_name_check(name, &err) == 0)
        return true;
    rt_http_call_error(call, 400, err.msg[0] ? err.msg : "not a labeling job name");
    return false;
}

/* GET /api/label-jobs/NAME: `label-job status --json`. */
static void op_label_job(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (!job_name_ok(call, rq->id))
        return;
    char *text = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_label_job_report(h->env.journal, rq->id, &text, &err);
    if (rc == RT_ENOTFOUND)
        rt_http_call_error(call, 404, "no such labeling job");
    else if (rc)
        rt_http_call_error(call, 500, err.msg[0] ? err.msg : rt_strerror(rc));
    else
        rt_http_call_done(call, 200, NULL, text, strlen(text));
    rt_free(text);
}

/* The create options, as `label-job create` takes them (docs/labeling.md). */
static const char *const create_fields[] = {
    "name",
    "prefix",
    "labels",
    "instructions",
    "good_example",
    "good_text",
    "bad_example",
    "bad_text",
    "workers_per_image",
    "max_workers",
    "min_confidence",
    "output_prefix",
    "fold",
    "verify",
    "auto_label",
    "target_accuracy",
};

/* Copies optional string field k of o into *out (absent, null or "": NULL). Returns: 0, or
 * RT_EINVAL (not a string) / RT_ENOMEM with err set. */
static int opt_string(const cJSON *o, const char *k, char **out, struct rt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return rt_error_set(err, RT_EINVAL, "%s must be a string", k);
    if (!v->valuestring[0])
        return 0;
    *out = rt_strdup(v->valuestring);
    return *out ? 0 : rt_error_set(err, RT_ENOMEM, "out of memory");
}

static int opt_int(const cJSON *o, const char *k, int *out, struct rt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -1e6 && v->valuedouble <= 1e6) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return rt_error_set(err, RT_EINVAL, "%s must be a whole number", k);
    *out = (int)v->valuedouble;
    return 0;
}

static int opt_number(const cJSON *o, const char *k, double *out, struct rt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return rt_error_set(err, RT_EINVAL, "%s must be a number", k);
    *out = v->valuedouble;
    return 0;
}

static int opt_bool(const cJSON *o, const char *k, bool *out, struct rt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return rt_error_set(err, RT_EINVAL, "%s must be true or false", k);
    *out = cJSON_IsTrue(v);
    return 0;
}

/*
 * Fills job from the JSON body text with the CLI's defaults (workers per image 3, most workers
 * K+2 up to 10, minimum confidence 0.8, output prefix labeling-jobs/NAME/, target accuracy 0.95,
 * kind verify when "verify" is true) and checks it (rt_label_job_check).
 * Returns: 0, or RT_EINVAL / RT_ENOMEM with err saying why (clean job up either way).
 */
static int job_from_body(const char *text, struct rt_label_job *job, struct rt_error *err)
{
    memset(job, 0, sizeof(*job));
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return rt_error_set(err, RT_EINVAL, "the body must be a JSON object");
    }
    int rc = 0;
    const cJSON *f = NULL;
    cJSON_ArrayForEach(f, o)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(create_fields) / sizeof(create_fields[0]); i++)
            known |= f->string && strcmp(f->string, create_fields[i]) == 0;
        if (!known) {
            rc = rt_error_set(err, RT_EINVAL, "unknown field \"%.64s\"", f->string);
            goto out;
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof(job->name)) {
        rc = cJSON_IsString(name) ? rt_label_job_name_check(name->valuestring, err)
                                  : rt_error_set(err, RT_EINVAL, "name must be a string");
        goto out;
    }
    rt_strlcpy(job->name, name->valuestring, sizeof(job->name));
    if ((rc = rt_label_job_name_check(job->name, err)))
        goto out;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
    if (!cJSON_IsArray(labels)) {
        rc = rt_error_set(err, RT_EINVAL, "labels must be an array of 2 to 10 strings");
        goto out;
    }
    int n = cJSON_GetArraySize(labels);
    if (n < 2 || n > RT_LABEL_JOB_MAX_LABELS) {
        rc = rt_error_set(err, RT_EINVAL, "job %s needs 2 to 10 labels (got %d)", job->name, n);
        goto out;
    }
    job->labels = rt_calloc((size_t)n, sizeof(*job->labels));
    if (!job->labels) {
        rc = rt_error_set(err, RT_ENOMEM, "out of memory");
        goto out;
    }
    const cJSON *l = NULL;
    cJSON_ArrayForEach(l, labels)
    {
        if (!cJSON_IsString(l)) {
            rc = rt_error_set(err, RT_EINVAL, "labels must be strings");
            goto out;
        }
        if (!(job->labels[job->n_labels++] = rt_strdup(l->valuestring))) {
            rc = rt_error_set(err, RT_ENOMEM, "out of memory");
            goto out;
        }
    }
    bool verify = false;
    job->workers_per_image = 3;
    job->max_workers = -1;
    job->min_confidence = 0.8;
    job->target_accuracy = 0.95;
    if ((rc = opt_string(o, "prefix", &job->prefix, err)) ||
        (rc = opt_string(o, "instructions", &job->instructions, err)) ||
        (rc = opt_string(o, "good_example", &job->good_example, err)) ||
        (rc = opt_string(o, "good_text", &job->good_text, err)) ||
        (rc = opt_string(o, "bad_example", &job->bad_example, err)) ||
        (rc = opt_string(o, "bad_text", &job->bad_text, err)) ||
        (rc = opt_string(o, "output_prefix", &job->output_prefix, err)) ||
        (rc = opt_int(o, "workers_per_image", &job->workers_per_image, err)) ||
        (rc = opt_int(o, "max_workers", &job->max_workers, err)) ||
        (rc = opt_number(o, "min_confidence", &job->min_confidence, err)) ||
        (rc = opt_number(o, "target_accuracy", &job->target_accuracy, err)) ||
        (rc = opt_bool(o, "fold", &job->fold, err)) || (rc = opt_bool(o, "verify", &verify, err)) ||
        (rc = opt_bool(o, "auto_label", &job->auto_label, err)))
        goto out;
    rt_strlcpy(job->kind, verify ? "verify" : "label", sizeof(job->kind));
    if (!job->prefix) {
        rc = rt_error_set(err, RT_EINVAL, "job %s needs a prefix", job->name);
        goto out;
    }
    if (!job->instructions) {
        rc = rt_error_set(err, RT_EINVAL, "job %s needs instructions", job->name);
        goto out;
    }
    if ((job->good_text && !job->good_example) || (job->bad_text && !job->bad_example)) {
        rc = rt_error_set(err, RT_EINVAL, "an example's text needs the example's key");
        goto out;
    }
    /* As `label-job create` refuses them. */
    const cJSON *ta = cJSON_GetObjectItemCaseSensitive(o, "target_accuracy");
    if (ta && !cJSON_IsNull(ta) && !job->auto_label) {
        rc = rt_error_set(err, RT_EINVAL, "target_accuracy applies to auto_label, which is off");
        goto out;
    }
    if (verify && (job->auto_label || job->fold)) {
        rc = rt_error_set(err, RT_EINVAL,
                          job->fold ? "fold does not apply to verify (a verification moves the "
                                      "images it finds wrong)"
                                    : "auto_label does not apply to verify");
        goto out;
    }
    /* A prefix given without its final '/' means the folder, as for the CLI. */
    char **folders[] = {&job->prefix, &job->output_prefix};
    for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
        char *folder = *folders[i];
        size_t len = folder ? strlen(folder) : 0;
        if (!len || folder[len - 1] == '/')
            continue;
        char *with = rt_malloc(len + 2);
        if (!with) {
            rc = rt_error_set(err, RT_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(with, folder, len);
        memcpy(with + len, "/", 2);
        rt_free(folder);
        *folders[i] = with;
    }
    struct {
        const char *what, *key;
        bool folder;
    } keys[] = {{"prefix", job->prefix, true},
                {"good_example", job->good_example, false},
                {"bad_example", job->bad_example, false},
                {"output_prefix", job->output_prefix, true}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct rt_error kerr;
        rt_error_clear(&kerr);
        if (keys[i].key &&
            rt_store_key_check(keys[i].key, strlen(keys[i].key), keys[i].folder, &kerr)) {
            rc = rt_error_set(err, RT_EINVAL, "%s: %s", keys[i].what, kerr.msg);
            goto out;
        }
    }
    if (job->max_workers < 0)
        job->max_workers = job->workers_per_image + 2 > 10 ? 10 : job->workers_per_image + 2;
    if (!job->output_prefix) {
        char p[RT_LABEL_JOB_NAME_MAX + 32];
        rt_snprintf(p, sizeof(p), "labeling-jobs/%s/", job->name);
        if (!(job->output_prefix = rt_strdup(p))) {
            rc = rt_error_set(err, RT_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = rt_label_job_check(job, err);
out:
    cJSON_Delete(o);
    return rc;
}

struct create_call {
    struct rt_daemon_http *h;
    struct rt_http_call *call;
    char name[RT_LABEL_JOB_NAME_MAX + 1];
    char user[128];
};

static void job_created(int status, const struct rt_error *err, void *ud)
{
    struct create_call *cc = ud;
    struct rt_daemon_http *h = cc->h;
    if (status == RT_EBUSY) {
        char msg[128];
        rt_snprintf(msg, sizeof(msg), "labeling job %s exists already", cc->name);
        rt_http_call_error(cc->call, 409, msg);
    } else if (status == RT_EINVAL) {
        rt_http_call_error(cc->call, 400, err && err->msg[0] ? err->msg : "invalid job");
    } else if (status) {
        RT_LOG(RT_LOG_WARNING, "http", "event=label_job_create_failed job=%s error=%s",
               rt_q(cc->name), rt_q(err && err->msg[0] ? err->msg : rt_strerror(status)));
        rt_http_call_error(cc->call, 500, err && err->msg[0] ? err->msg : rt_strerror(status));
    } else {
        RT_LOG(RT_LOG_NOTICE, "http", "event=label_job_created job=%s user=%s", rt_q(cc->name),
               rt_q(cc->user));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", cc->name);
        rt_http_call_json(cc->call, 201, o);
        if (h->env.label_job_created)
            h->env.label_job_created(h->env.hook_ud);
    }
    rt_free(cc);
}

/* POST /api/label-jobs: creates a job (state running) through the journal writer. */
static void
op_label_job_create(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    struct rt_label_job job;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = job_from_body(rq->value ? rq->value : "", &job, &err);
    if (rc) {
        rt_label_job_cleanup(&job);
        rt_http_call_error(call, rc == RT_EINVAL ? 400 : 500,
                           err.msg[0] ? err.msg : rt_strerror(rc));
        return;
    }
    struct create_call *cc = rt_calloc(1, sizeof(*cc));
    if (cc) {
        cc->h = h;
        cc->call = call;
        rt_strlcpy(cc->name, job.name, sizeof(cc->name));
        rt_strlcpy(cc->user, rq->user ? rq->user : "", sizeof(cc->user));
    }
    /* A name in use is refused from a read here; the writer checks again in its transaction. */
    struct rt_label_job old;
    if (cc && rt_journal_label_job_get(h->env.journal, job.name, &old) == 0) {
        rt_label_job_cleanup(&old);
        rt_label_job_cleanup(&job);
        job_created(RT_EBUSY, NULL, cc);
        return;
    }
    struct rt_jbatch *b = NULL;
    rc = cc ? rt_jbatch_new(&b) : RT_ENOMEM;
    if (!rc && (rc = rt_jbatch_label_job_create(b, &job, rt_now_ms())))
        rt_jbatch_free(b);
    if (!rc)
        rc = rt_journal_submit(h->env.journal, b, job_created, cc);
    rt_label_job_cleanup(&job);
    if (rc) {
        rt_free(cc);
        rt_http_call_error(call, 500, rt_strerror(rc));
    }
}

/* GET /api/label-jobs/NAME/examples/good|bad: read through the store by the key in the job's
 * row (never a key from the request). */
struct example_call {
    struct rt_http_call *call;
    struct rt_buf body;
    const char *content_type; /* static */
    char name[RT_LABEL_JOB_NAME_MAX + 1];
};

static void example_read(int status, const struct rt_error *err, void *ud)
{
    struct example_call *ec = ud;
    if (status == RT_ENOTFOUND) {
        rt_http_call_error(ec->call, 404, "the example image is not in the store");
    } else if (status) {
        RT_LOG(RT_LOG_WARNING, "http", "event=label_job_example_failed job=%s error=%s",
               rt_q(ec->name), rt_q(err && err->msg[0] ? err->msg : rt_strerror(status)));
        rt_http_call_error(ec->call, 500, err && err->msg[0] ? err->msg : rt_strerror(status));
    } else {
        rt_http_call_done(ec->call, 200, ec->content_type, ec->body.data, ec->body.len);
    }
    rt_buf_cleanup(&ec->body);
    rt_free(ec);
}

static void
op_label_job_example(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    struct rt_daemon_http *h = ud;
    if (!job_name_ok(call, rq->id))
        return;
    bool good = rq->value && strcmp(rq->value, "good") == 0;
    struct rt_label_job job;
    int rc = rt_journal_label_job_get(h->env.journal, rq->id, &job);
    if (rc) {
        rt_http_call_error(call, rc == RT_ENOTFOUND ? 404 : 500,
                           rc == RT_ENOTFOUND ? "no such labeling job" : rt_strerror(rc));
        return;
    }
    const char *key = good ? job.good_example : job.bad_example;
    if (!key || !key[0]) {
        rt_label_job_cleanup(&job);
        rt_http_call_error(call, 404,
                           good ? "this job has no good example" : "this job has no bad example");
        return;
    }
    struct example_call *ec = rt_calloc(1, sizeof(*ec));
    if (!ec) {
        rt_label_job_cleanup(&job);
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    ec->call = call;
    ec->content_type = rt_store_image_content_type(key);
    rt_strlcpy(ec->name, job.name, sizeof(ec->name));
    rt_buf_init(&ec->body, (size_t)16 << 20); /* as a task's image */
    rc = h->env.store->ops->get(h->env.store, key, &ec->body, example_read, ec);
    rt_label_job_cleanup(&job);
    if (rc) {
        struct rt_error err;
        rt_error_clear(&err);
        rt_error_set(&err, rc, "example image: %s", rt_strerror(rc));
        example_read(rc, &err, ec);
    }
}

/* ---- metrics and health ---- */

/*
 * Prometheus text (HELP and TYPE for every family). Nothing here scans a table: see live() and
 * counters.h. No secret is ever written: names of workflows, states, routes and model versions.
 */
static int write_metrics(struct rt_daemon_http *h, struct rt_buf *b)
{
    const struct rt_report_live *l = live(h);
    int rc = rt_buf_append_str(b, "# HELP retraind_up The daemon answers.\n"
                                  "# TYPE retraind_up gauge\nretraind_up 1\n");
    struct rt_journal_model m;
    if (!rc && rt_journal_model_get_active(h->env.journal, &m) == 0 && m.f1 >= 0)
        rc = rt_buf_printf(b,
                           "# HELP retraind_active_model_f1 F1 score of the deployed version.\n"
                           "# TYPE retraind_active_model_f1 gauge\n"
                           "retraind_active_model_f1 %g\n",
                           m.f1);
    int64_t run_ms = 0;
    bool running = false;
    if (!rc && rt_journal_model_get_active(h->env.journal, &m) == 0 &&
        rt_model_meter_read(h->env.journal, m.version, rt_now_ms(), &run_ms, &running) == 0)
        rc = rt_buf_printf(b,
                           "# HELP retraind_active_model_running_hours Time the deployed version "
                           "spent RUNNING (billed by the hour), idle stops left out.\n"
                           "# TYPE retraind_active_model_running_hours counter\n"
                           "retraind_active_model_running_hours %.6f\n"
                           "# HELP retraind_active_model_running The deployed version runs now.\n"
                           "# TYPE retraind_active_model_running gauge\n"
                           "retraind_active_model_running %d\n",
                           (double)run_ms / 3600000.0, running ? 1 : 0);
    if (!rc)
        rc = rt_buf_printf(
            b,
            "# HELP retraind_executions_in_flight Executions not finished (detections "
            "waiting for an answer included).\n"
            "# TYPE retraind_executions_in_flight gauge\n"
            "retraind_executions_in_flight %" PRId64 "\n",
            h->in_flight_total);
    if (!rc && h->env.counters)
        rc = rt_counters_write(h->env.counters, b);
    int64_t oldest_s = 0;
    if (l->review_oldest_ms > 0) {
        oldest_s = (rt_now_ms() - l->review_oldest_ms) / 1000;
        if (oldest_s < 0)
            oldest_s = 0;
    }
    if (!rc)
        rc = rt_buf_printf(b,
                           "# HELP retraind_detections_queued Images waiting to be detected.\n"
                           "# TYPE retraind_detections_queued gauge\n"
                           "retraind_detections_queued %" PRId64 "\n"
                           "# HELP retraind_detections_in_flight Detections running now.\n"
                           "# TYPE retraind_detections_in_flight gauge\n"
                           "retraind_detections_in_flight %" PRId64 "\n"
                           "# HELP retraind_review_open_tasks Review tasks waiting for answers.\n"
                           "# TYPE retraind_review_open_tasks gauge\n"
                           "retraind_review_open_tasks %" PRId64 "\n"
                           "# HELP retraind_review_oldest_open_seconds Age of the oldest open "
                           "review task (0 when none).\n"
                           "# TYPE retraind_review_oldest_open_seconds gauge\n"
                           "retraind_review_oldest_open_seconds %" PRId64 "\n",
                           l->queued, l->in_flight, l->review_open, oldest_s);
    if (!rc)
        rc = rt_buf_append_str(b, "# HELP retraind_sampling_agreement Share of sampled answers "
                                  "that agree with the model's label, by model version.\n"
                                  "# TYPE retraind_sampling_agreement gauge\n");
    for (size_t i = 0; !rc && i < l->n_agreement; i++) {
        const struct rt_report_agreement *a = &l->agreement[i];
        if (a->answered <= 0)
            continue;
        rc = rt_buf_append_str(b, "retraind_sampling_agreement{version=\"");
        if (!rc)
            rc = rt_prom_label(b, a->version);
        if (!rc)
            rc = rt_buf_printf(b, "\"} %g\n", (double)a->agreed / (double)a->answered);
    }
    if (!rc)
        rc = rt_buf_append_str(b, "# HELP retraind_sampling_answered_total Sampled detections "
                                  "answered by people, by model version.\n"
                                  "# TYPE retraind_sampling_answered_total counter\n");
    for (size_t i = 0; !rc && i < l->n_agreement; i++) {
        rc = rt_buf_append_str(b, "retraind_sampling_answered_total{version=\"");
        if (!rc)
            rc = rt_prom_label(b, l->agreement[i].version);
        if (!rc)
            rc = rt_buf_printf(b, "\"} %" PRId64 "\n", l->agreement[i].answered);
    }
    struct rt_journal_writer_stats ws;
    rt_journal_writer_stats(h->env.journal, &ws);
    if (!rc)
        rc = rt_buf_printf(b,
                           "# HELP retraind_journal_batches_total Journal write batches.\n"
                           "# TYPE retraind_journal_batches_total counter\n"
                           "retraind_journal_batches_total %" PRId64 "\n"
                           "# HELP retraind_journal_commits_total Journal transactions committed "
                           "(one fsync each; batches are grouped).\n"
                           "# TYPE retraind_journal_commits_total counter\n"
                           "retraind_journal_commits_total %" PRId64 "\n"
                           "# HELP retraind_journal_failures_total Journal batches that failed.\n"
                           "# TYPE retraind_journal_failures_total counter\n"
                           "retraind_journal_failures_total %" PRId64 "\n"
                           "# HELP retraind_journal_max_group Most batches in one commit.\n"
                           "# TYPE retraind_journal_max_group gauge\n"
                           "retraind_journal_max_group %" PRId64 "\n",
                           ws.batches, ws.commits, ws.failures, ws.max_group);
    return rc;
}

static void op_metrics(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    struct rt_buf b;
    rt_buf_init(&b, (size_t)1 << 20);
    int rc = write_metrics(h, &b);
    if (rc)
        rt_http_call_error(call, 500, rt_strerror(rc));
    else
        rt_http_call_done(call, 200, NULL, b.data, b.len);
    rt_buf_cleanup(&b);
}

static void answer_health(struct rt_http_call *call, bool ok)
{
    if (ok)
        rt_http_call_done(call, 200, "text/plain; charset=utf-8", "ok\n", 3);
    else
        rt_http_call_done(call, 503, "text/plain; charset=utf-8", "journal not writable\n", 21);
}

static void health_written(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    struct rt_daemon_http *h = ud;
    h->health_running = false;
    h->health_ok = status == 0;
    h->health_at = rt_mono_ms();
    if (status)
        RT_LOG(RT_LOG_WARNING, "http", "event=health_write_failed error=%s",
               rt_q(rt_strerror(status)));
    struct waiter *w = take(h, &h->health_waiting);
    while (w) {
        struct waiter *next = w->next;
        answer_health(w->call, h->health_ok);
        rt_free(w);
        w = next;
    }
}

static void op_healthy(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)rq;
    struct rt_daemon_http *h = ud;
    if (h->health_at && rt_mono_ms() - h->health_at < HEALTH_TTL_MS && !h->health_running) {
        answer_health(call, h->health_ok);
        return;
    }
    if (wait_on(h, &h->health_waiting, call)) {
        answer_health(call, false);
        return;
    }
    if (h->health_running)
        return;
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    if (!rc)
        rc = rt_jbatch_state_set_i64(b, "healthz_at", rt_now_ms());
    if (!rc) {
        h->health_running = true;
        rc = rt_journal_submit(h->env.journal, b, health_written, h);
        b = NULL; /* taken over */
        if (rc)
            h->health_running = false;
    }
    rt_jbatch_free(b);
    if (rc) {
        h->health_running = true;
        health_written(rc, NULL, h);
    }
}

static const struct rt_http_backend_ops ops = {
    .status_json = op_status,
    .history_json = op_history,
    .exec_json = op_exec,
    .params_json = op_params,
    .param_set = op_param_set,
    .models_json = op_models,
    .workflows_json = op_workflows,
    .reviews_json = op_reviews,
    .review_next = op_review_next,
    .review_image = op_review_image,
    .review_answer = op_review_answer,
    .detections_json = op_detections,
    .label_jobs_json = op_label_jobs,
    .label_job_json = op_label_job,
    .label_job_create = op_label_job_create,
    .label_job_example = op_label_job_example,
    .metrics = op_metrics,
    .healthy = op_healthy,
};

/* ---- start and close ---- */

bool rt_daemon_http_wanted(const struct rt_config *cfg)
{
    return cfg->http.listen_set || cfg->review.n_users > 0 || cfg->http.n_tokens > 0;
}

static void note_written(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    (void)ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "http", "event=write_failed what=http_address error=%s",
               rt_q(rt_strerror(status)));
}

static void note_address(struct rt_journal *j, const char *address)
{
    struct rt_jbatch *b = NULL;
    if (rt_jbatch_new(&b))
        return;
    if (rt_jbatch_state_set(b, RT_STATE_HTTP_ADDRESS, address)) {
        rt_jbatch_free(b);
        return;
    }
    if (rt_journal_submit(j, b, note_written, NULL))
        RT_LOG(RT_LOG_WARNING, "http", "event=write_failed what=http_address");
}

void rt_daemon_http_note_none(struct rt_journal *j)
{
    note_address(j, "");
}

int rt_daemon_http_start(const struct rt_daemon_http_env *env,
                         struct rt_daemon_http **out,
                         struct rt_error *err)
{
    struct rt_daemon_http *h = rt_calloc(1, sizeof(*h));
    if (!h)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    h->env = *env;
    struct rt_http_backend be = {.ops = &ops, .ud = h};
    int rc = rt_http_server_new(env->loop, env->cfg, &be, &h->server, err);
    if (rc) {
        rt_free(h);
        return rc;
    }
    rt_strlcpy(h->address, rt_http_server_address(h->server), sizeof(h->address));
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=http_listening address=%s", h->address);
    note_address(env->journal, h->address);
    *out = h;
    return 0;
}

const char *rt_daemon_http_address(const struct rt_daemon_http *h)
{
    return h->address;
}

static void server_closed(void *ud)
{
    struct rt_daemon_http *h = ud;
    void (*cb)(void *) = h->close_cb;
    void *cb_ud = h->close_ud;
    rt_census_cleanup(&h->census);
    rt_report_live_cleanup(&h->live);
    cJSON_free(h->status_body.text);
    rt_free(h);
    if (cb)
        cb(cb_ud);
}

void rt_daemon_http_close(struct rt_daemon_http *h, void (*cb)(void *ud), void *ud)
{
    h->close_cb = cb;
    h->close_ud = ud;
    note_address(h->env.journal, "");
    rt_http_server_close(h->server, server_closed, h);
}
