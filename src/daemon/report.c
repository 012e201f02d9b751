/*
 * report.c - builds the status and history JSON of DESIGN.md's "JSON shapes".
 *
 * Design: the key names are a contract with scripts and tests; everything here reads the journal
 * (never writes) so the CLI can run it while the daemon works.
 */
#include "retraind/report.h"

#include <fcntl.h>
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
#include "retraind/params.h"
#include "retraind/store.h"
#include "retraind/workflow.h"

struct count_run {
    const char *prefix;
    struct rt_label_counts *out;
    int rc;
    struct rt_error *err;
    bool done;
};

static int count_page(const struct rt_store_entry *entries,
                      size_t n,
                      bool last,
                      int status,
                      const struct rt_error *err,
                      void *ud)
{
    struct count_run *r = ud;
    for (size_t i = 0; i < n && !r->rc; i++) {
        struct rt_str label;
        if (rt_store_training_label(r->prefix, entries[i].key, &label) &&
            rt_label_counts_add(r->out, label) < 0)
            r->rc = RT_ENOMEM;
    }
    if (status && !r->rc) {
        r->rc = status;
        if (err && r->err)
            *r->err = *err;
    }
    if (last || r->rc)
        r->done = true;
    return r->rc ? 1 : 0;
}

static void store_closed(void *ud)
{
    (void)ud;
}

int rt_report_count_labels(const struct rt_config *cfg,
                           struct rt_label_counts *out,
                           struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    if (cfg->store.driver != RT_STORE_LOCAL)
        return rt_error_set(err, RT_ENOTIMPL, "counting needs the local store in this version");
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_store *s = NULL;
    struct rt_store_local_opts so = {
        .root = cfg->store.root, .bucket_name = cfg->store.name, .read_only = true};
    int rc = rt_store_local_new(&loop, &so, &s, err);
    struct count_run r = {.prefix = cfg->store.prefixes.labeled, .out = out, .err = err};
    if (!rc)
        rc = s->ops->list(s, cfg->store.prefixes.labeled, 1000, RT_STORE_LIST_KEYS_ONLY, count_page,
                          &r);
    while (!rc && !r.done && uv_run(&loop, UV_RUN_ONCE))
        ;
    if (s)
        s->ops->close(s, store_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (!rc)
        rc = r.rc;
    if (rc)
        rt_label_counts_cleanup(out);
    return rc;
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

cJSON *rt_report_status(const struct rt_config *cfg,
                        struct rt_journal *j,
                        const struct rt_label_counts *counts,
                        bool daemon_running)
{
    cJSON *o = cJSON_CreateObject();
    struct rt_param_set values;
    rt_params_read_journal(j, &cfg->parameters.defaults, &values);
    cJSON *params = cJSON_AddObjectToObject(o, "parameters");
    for (int i = 0; i < RT_P_COUNT; i++)
        cJSON_AddItemToObject(params, rt_param_def_by_id((enum rt_param_id)i)->name,
                              param_json(&values.v[i]));
    cJSON *labels = cJSON_AddObjectToObject(o, "labels");
    int64_t total = 0;
    for (size_t i = 0; counts && i < counts->n; i++) {
        cJSON_AddNumberToObject(labels, counts->items[i].name, (double)counts->items[i].count);
        total += counts->items[i].count;
    }
    int64_t previous = 0, attempted = 0;
    if (j) {
        rt_journal_state_get_i64(j, RT_STATE_PREVIOUS_TRAINED, 0, &previous);
        rt_journal_state_get_i64(j, RT_STATE_LAST_ATTEMPTED, 0, &attempted);
    }
    cJSON_AddNumberToObject(o, "images_total", (double)total);
    cJSON_AddNumberToObject(o, "previous_trained_images", (double)previous);
    cJSON_AddNumberToObject(o, "last_attempted_images", (double)attempted);
    cJSON_AddNumberToObject(o, "untrained_images",
                            (double)(total > previous ? total - previous : 0));
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
    } else {
        cJSON_AddNullToObject(o, "active_model");
    }
    cJSON *in_flight = cJSON_AddArrayToObject(o, "in_flight");
    if (j) {
        struct rt_journal_exec_filter f = {.unfinished_only = true, .limit = 100};
        struct history_run h = {j, in_flight, false};
        rt_journal_exec_list(j, &f, add_exec, &h);
    }
    cJSON_AddBoolToObject(o, "daemon_running", daemon_running);
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
