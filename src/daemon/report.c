/*
 * report.c - builds the status and history JSON of DESIGN.md's "JSON shapes".
 *
 * Design: the key names are a contract with scripts and tests; everything here reads the journal
 * (never writes) so the CLI can run it while the daemon works.
 */
#include "retraind/report.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"
#include "retraind/journal_detections.h"
#include "retraind/journal_reviews.h"
#include "retraind/model_meter.h"
#include "retraind/params.h"
#include "retraind/registry.h"
#include "retraind/store.h"
#include "retraind/workflow.h"

/* A private loop for one blocking read through the drivers (the CLI's commands). */
struct private_run {
    uv_loop_t loop;
    struct rt_driver_env env;
    bool done;
    int rc;
    struct rt_error *err;
    struct rt_census *census;    /* census: where the result goes */
    struct rt_param_set *values; /* params: where the result goes */
};

static void nothing(void *ud)
{
    (void)ud;
}

/* Runs the loop until every handle closed after the work is done. Returns: 0, or RT_EINVAL when
 * the loop does not close (a driver left a handle open: a bug, said plainly). */
static int finish_loop(struct private_run *r)
{
    rt_driver_env_close(&r->env, nothing, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r->loop) != 0)
        return rt_error_set(r->err, RT_EINVAL, "internal error: a driver left the loop open");
    return 0;
}

static void run_until_done(struct private_run *r)
{
    while (!r->done && uv_run(&r->loop, UV_RUN_ONCE))
        ;
}

static void census_done(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct private_run *r = ud;
    r->done = true;
    r->rc = status;
    if (status) {
        if (err && r->err)
            *r->err = *err;
        return;
    }
    *r->census = *c; /* moved: the census frees what is left, which is nothing */
    memset(c, 0, sizeof(*c));
}

int rt_report_census(const struct rt_config *cfg,
                     struct rt_journal *j,
                     struct rt_census *out,
                     struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct private_run r = {.err = err, .census = out};
    uv_loop_init(&r.loop);
    r.env = (struct rt_driver_env){.loop = &r.loop, .cfg = cfg, .journal = j, .read_only = true};
    struct rt_store *s = NULL;
    int rc = rt_registry_new_store(&r.env, &s, err);
    if (!rc) {
        struct rt_census_opts o = {.store = s, .journal = j, .cfg = cfg};
        rc = rt_census_start(&o, census_done, &r, err);
        if (!rc) {
            run_until_done(&r);
            rc = r.rc;
        }
        s->ops->close(s, nothing, NULL);
    }
    int lrc = finish_loop(&r);
    if (!rc)
        rc = lrc;
    if (rc)
        rt_census_cleanup(out);
    return rc;
}

static void
params_done(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct private_run *r = ud;
    r->done = true;
    r->rc = status;
    if (status && err && r->err)
        *r->err = *err;
    if (!status)
        *r->values = *values;
}

int rt_report_params(const struct rt_config *cfg,
                     struct rt_journal *j,
                     struct rt_param_set *out,
                     struct rt_error *err)
{
    struct private_run r = {.err = err, .values = out};
    uv_loop_init(&r.loop);
    r.env = (struct rt_driver_env){.loop = &r.loop, .cfg = cfg, .journal = j, .read_only = true};
    struct rt_params *p = NULL;
    int rc = rt_registry_new_params(&r.env, &p, err);
    if (!rc) {
        rc = p->ops->load(p, params_done, &r);
        if (rc)
            rt_error_set(err, rc, "loading the parameters: %s", rt_strerror(rc));
        else
            run_until_done(&r);
        if (!rc)
            rc = r.rc;
        p->ops->close(p, nothing, NULL);
    }
    int lrc = finish_loop(&r);
    return rc ? rc : lrc;
}

static void param_written(int status, const struct rt_error *err, void *ud)
{
    struct private_run *r = ud;
    r->done = true;
    r->rc = status;
    if (status && err && r->err)
        *r->err = *err;
}

static void writer_closed(void *ud)
{
    *(bool *)ud = true;
}

int rt_report_params_write(const struct rt_config *cfg,
                           enum rt_param_id id,
                           const char *text,
                           struct rt_error *err)
{
    struct rt_journal *j = NULL;
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &j, err);
    if (rc)
        return rc;
    struct private_run r = {.err = err};
    uv_loop_init(&r.loop);
    r.env = (struct rt_driver_env){.loop = &r.loop, .cfg = cfg, .journal = j};
    bool writer = false, writer_done = false;
    rc = rt_journal_writer_start(j, &r.loop, err);
    writer = rc == 0;
    struct rt_params *p = NULL;
    if (!rc)
        rc = rt_registry_new_params(&r.env, &p, err);
    if (!rc) {
        rc = text ? p->ops->set(p, id, text, param_written, &r)
                  : p->ops->reset(p, id, param_written, &r);
        if (rc)
            rt_error_set(err, rc, "%s: %s", rt_param_def_by_id(id)->name, rt_strerror(rc));
        else
            run_until_done(&r);
        if (!rc)
            rc = r.rc;
        p->ops->close(p, nothing, NULL);
    }
    if (writer)
        rt_journal_writer_close(j, writer_closed, &writer_done);
    int lrc = finish_loop(&r);
    rt_journal_close(j);
    return rc ? rc : lrc;
}

static cJSON *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return cJSON_CreateNull();
    char t[40];
    return cJSON_CreateString(rt_time_rfc3339(ms, t, sizeof(t)));
}

static cJSON *json_or_null(const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    return v ? v : cJSON_CreateNull();
}

static cJSON *exec_json(const struct rt_journal_exec *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddStringToObject(o, "workflow", e->workflow);
    cJSON_AddStringToObject(o, "state", e->state);
    cJSON_AddItemToObject(o, "started_at", time_or_null(e->started_ms));
    cJSON_AddItemToObject(o, "finished_at", time_or_null(e->finished_ms));
    cJSON_AddItemToObject(o, "error", e->error ? cJSON_CreateString(e->error) : cJSON_CreateNull());
    /* A NOT_MET check repeated with the same outcome counts here instead of adding rows. */
    cJSON_AddNumberToObject(o, "checks", (double)(e->checks > 0 ? e->checks : 1));
    cJSON_AddItemToObject(o, "last_checked_at", time_or_null(e->last_checked_ms));
    return o;
}

static int add_step(const struct rt_journal_step *s, void *ud)
{
    cJSON *steps = ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", s->state);
    cJSON_AddItemToObject(o, "at", time_or_null(s->at_ms));
    cJSON_AddItemToObject(o, "output", json_or_null(s->output));
    cJSON_AddItemToObject(o, "error", s->error ? cJSON_CreateString(s->error) : cJSON_CreateNull());
    cJSON_AddItemToArray(steps, o);
    return 0;
}

struct history_run {
    struct rt_journal *j;
    cJSON *arr;
    bool with_steps;
};

static int add_exec(const struct rt_journal_exec *e, void *ud)
{
    struct history_run *h = ud;
    cJSON *o = exec_json(e);
    if (h->with_steps) {
        cJSON *steps = cJSON_AddArrayToObject(o, "steps");
        rt_journal_step_list(h->j, e->id, add_step, steps);
    }
    cJSON_AddItemToArray(h->arr, o);
    return 0;
}

cJSON *rt_report_history(struct rt_journal *j, const struct rt_report_history_opts *opts)
{
    cJSON *arr = cJSON_CreateArray();
    if (!j || !arr)
        return arr;
    struct rt_journal_exec_filter f = {
        .workflow = opts->workflow, .state = opts->state, .limit = opts->limit};
    struct history_run h = {j, arr, opts->with_steps};
    rt_journal_exec_list(j, &f, add_exec, &h);
    return arr;
}

cJSON *rt_report_execution(struct rt_journal *j, const char *id, int *rc)
{
    struct rt_journal_exec e;
    *rc = j ? rt_journal_exec_get(j, id, &e) : RT_ENOTFOUND;
    if (*rc)
        return NULL;
    cJSON *o = exec_json(&e);
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    rt_journal_step_list(j, e.id, add_step, steps);
    rt_journal_exec_cleanup(&e);
    return o;
}

static cJSON *param_json(const struct rt_param_value *v)
{
    struct rt_buf b;
    rt_buf_init(&b, 128);
    rt_param_value_json(v, &b);
    cJSON *item = cJSON_Parse(b.data ? b.data : "null");
    rt_buf_cleanup(&b);
    return item ? item : cJSON_CreateNull();
}

void rt_report_live_cleanup(struct rt_report_live *l)
{
    rt_free(l->agreement);
    memset(l, 0, sizeof(*l));
}

struct agreement_read {
    struct rt_report_live *l;
    int rc;
};

static int add_agreement(const char *version, int64_t answered, int64_t agreed, void *ud)
{
    struct agreement_read *r = ud;
    struct rt_report_live *l = r->l;
    struct rt_report_agreement *a =
        rt_realloc(l->agreement, (l->n_agreement + 1) * sizeof(*l->agreement));
    if (!a)
        return r->rc = RT_ENOMEM;
    l->agreement = a;
    a = &a[l->n_agreement++];
    rt_strlcpy(a->version, version, sizeof(a->version));
    a->answered = answered;
    a->agreed = agreed;
    return 0;
}

int rt_report_live_read(struct rt_journal *j, bool routes, struct rt_report_live *out)
{
    memset(out, 0, sizeof(*out));
    if (!j)
        return 0;
    int rc = 0;
    if (routes) {
        struct rt_detection_counts c;
        rc = rt_journal_detection_counts(j, &c);
        out->queued = c.queued;
        out->in_flight = c.detecting;
        out->accepted = c.accepted;
        out->accepted_low = c.accepted_low;
        out->review = c.review;
    } else {
        rc = rt_journal_detection_queued_count(j, &out->queued);
    }
    if (!rc)
        rc = rt_journal_review_open_stats(j, &out->review_open, &out->review_oldest_ms);
    if (!rc) {
        struct agreement_read r = {out, 0};
        rc = rt_journal_sampling_agreement(j, add_agreement, &r);
        if (!rc)
            rc = r.rc;
    }
    if (rc)
        rt_report_live_cleanup(out);
    return rc;
}

static void add_live(cJSON *o, const struct rt_report_live *l)
{
    cJSON *r = cJSON_AddObjectToObject(o, "review");
    cJSON_AddNumberToObject(r, "open", (double)l->review_open);
    cJSON_AddItemToObject(r, "oldest_open_at", time_or_null(l->review_oldest_ms));
    cJSON *d = cJSON_AddObjectToObject(o, "detections");
    cJSON_AddNumberToObject(d, "queued", (double)l->queued);
    cJSON_AddNumberToObject(d, "in_flight", (double)l->in_flight);
    cJSON_AddNumberToObject(d, "accepted", (double)l->accepted);
    cJSON_AddNumberToObject(d, "accepted_low", (double)l->accepted_low);
    cJSON_AddNumberToObject(d, "review", (double)l->review);
    cJSON *s = cJSON_AddObjectToObject(o, "sampling_agreement");
    for (size_t i = 0; i < l->n_agreement; i++) {
        const struct rt_report_agreement *a = &l->agreement[i];
        cJSON *v = cJSON_AddObjectToObject(s, a->version);
        cJSON_AddNumberToObject(v, "answered", (double)a->answered);
        cJSON_AddNumberToObject(v, "agreed", (double)a->agreed);
        if (a->answered > 0)
            cJSON_AddNumberToObject(v, "rate", (double)a->agreed / (double)a->answered);
        else
            cJSON_AddNullToObject(v, "rate");
    }
}

static int by_started_desc(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *sx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "started_at"));
    const char *sy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "started_at"));
    int c = strcmp(sy ? sy : "", sx ? sx : ""); /* RFC 3339 UTC strings sort as times */
    if (c)
        return c;
    const char *ix = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "id"));
    const char *iy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "id"));
    return strcmp(iy ? iy : "", ix ? ix : "");
}

/*
 * The unfinished executions: every training and parameter execution (a few at most), and at most
 * RT_REPORT_IN_FLIGHT_OTHERS of the other workflows (detections parked in WAIT_ANSWER can be
 * thousands), newest first; "in_flight_total" counts them all.
 */
static void add_in_flight(cJSON *o, struct rt_journal *j)
{
    cJSON *in_flight = cJSON_AddArrayToObject(o, "in_flight");
    int64_t total = 0;
    if (!j) {
        cJSON_AddNumberToObject(o, "in_flight_total", 0);
        return;
    }
    cJSON *tmp = cJSON_CreateArray();
    struct history_run h = {j, tmp, false};
    int others = RT_REPORT_IN_FLIGHT_OTHERS;
    for (const char *const *wf = rt_workflow_names(); tmp && *wf; wf++) {
        bool main_wf = !strcmp(*wf, "training") || !strcmp(*wf, "parameter");
        int before = cJSON_GetArraySize(tmp);
        struct rt_journal_exec_filter f = {
            .workflow = *wf, .unfinished_only = true, .limit = main_wf ? 100 : others};
        if (main_wf || others > 0)
            rt_journal_exec_list(j, &f, add_exec, &h);
        if (!main_wf)
            others -= cJSON_GetArraySize(tmp) - before;
    }
    int n = cJSON_GetArraySize(tmp);
    cJSON **items = n > 0 ? rt_calloc((size_t)n, sizeof(*items)) : NULL;
    if (items) {
        for (int i = n - 1; i >= 0; i--)
            items[i] = cJSON_DetachItemFromArray(tmp, i);
        qsort(items, (size_t)n, sizeof(*items), by_started_desc);
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(in_flight, items[i]);
        rt_free(items);
    }
    cJSON_Delete(tmp);
    if (rt_journal_exec_unfinished_count(j, &total) || total < cJSON_GetArraySize(in_flight))
        total = cJSON_GetArraySize(in_flight);
    cJSON_AddNumberToObject(o, "in_flight_total", (double)total);
}

cJSON *rt_report_status(const struct rt_config *cfg,
                        struct rt_journal *j,
                        const struct rt_census *census,
                        const struct rt_param_set *values,
                        bool daemon_running,
                        const struct rt_report_live *live)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *params = cJSON_AddObjectToObject(o, "parameters");
    for (int i = 0; i < RT_P_COUNT; i++)
        cJSON_AddItemToObject(params, rt_param_def_by_id((enum rt_param_id)i)->name,
                              param_json(&values->v[i]));
    cJSON *labels = cJSON_AddObjectToObject(o, "labels");
    for (size_t i = 0; census && i < census->labels.n; i++)
        cJSON_AddNumberToObject(labels, census->labels.items[i].name,
                                (double)census->labels.items[i].count);
    int64_t attempted = 0;
    if (j)
        rt_journal_state_get_i64(j, RT_STATE_LAST_ATTEMPTED, 0, &attempted);
    cJSON_AddNumberToObject(o, "images_total", census ? (double)census->images : 0);
    cJSON_AddNumberToObject(o, "previous_trained_images",
                            census ? (double)census->deployed_images : 0);
    cJSON_AddNumberToObject(o, "last_attempted_images", (double)attempted);
    cJSON_AddNumberToObject(o, "untrained_images", census ? (double)census->untrained : 0);
    if (census && census->new_since_attempt >= 0)
        cJSON_AddNumberToObject(o, "new_since_last_attempt", (double)census->new_since_attempt);
    struct rt_journal_model m;
    if (j && rt_journal_model_get_active(j, &m) == 0) {
        cJSON *am = cJSON_AddObjectToObject(o, "active_model");
        cJSON_AddStringToObject(am, "version", m.version);
        if (m.f1 >= 0)
            cJSON_AddNumberToObject(am, "f1", m.f1);
        else
            cJSON_AddNullToObject(am, "f1");
        cJSON_AddNumberToObject(am, "images", (double)m.images);
        cJSON_AddItemToObject(am, "deployed_at", time_or_null(m.deployed_ms));
        cJSON_AddStringToObject(am, "status", m.status);
        /* Time in RUNNING, what the provider bills (model_meter.h). */
        int64_t run_ms = 0;
        bool running = false;
        if (rt_model_meter_read(j, m.version, rt_now_ms(), &run_ms, &running) == 0) {
            cJSON_AddNumberToObject(am, "running_hours", (double)run_ms / 3600000.0);
            cJSON_AddBoolToObject(am, "running", running);
        }
    } else {
        cJSON_AddNullToObject(o, "active_model");
    }
    add_in_flight(o, j);
    if (live) {
        add_live(o, live);
    } else {
        struct rt_report_live own;
        if (rt_report_live_read(j, true, &own))
            memset(&own, 0, sizeof(own)); /* a journal that cannot be read: zeros, as with none */
        add_live(o, &own);
        rt_report_live_cleanup(&own);
    }
    /* When the daemon runs, it records when its next check is due. */
    int64_t next = 0;
    if (j && daemon_running)
        rt_journal_state_get_i64(j, "next_check_at", 0, &next);
    cJSON_AddItemToObject(o, "next_check_at", time_or_null(next));
    const struct rt_param_value *poll = &values->v[RT_P_TRAINING_POLL];
    cJSON *period = cJSON_AddObjectToObject(o, "poll_period");
    cJSON_AddStringToObject(period, "text", poll->text);
    cJSON_AddNumberToObject(period, "seconds", (double)(poll->ms / 1000));
    cJSON_AddBoolToObject(o, "daemon_running", daemon_running);
    /* The HTTP server's address while the daemon runs with one (http_backend.c records it). */
    char http[128] = "";
    if (j && daemon_running && rt_journal_state_get(j, "http_address", http, sizeof(http)) == 0 &&
        http[0])
        cJSON_AddStringToObject(o, "http", http);
    else
        cJSON_AddNullToObject(o, "http");
    cJSON_AddStringToObject(o, "data_dir", cfg->data_dir);
    if (cfg->store.root)
        cJSON_AddStringToObject(o, "store_root", cfg->store.root);
    return o;
}

bool rt_report_daemon_running(const char *data_dir)
{
    char path[4096];
    rt_snprintf(path, sizeof(path), "%s/%s", data_dir, RT_LOCK_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool running = flock(fd, LOCK_SH | LOCK_NB) != 0;
    close(fd);
    return running;
}
