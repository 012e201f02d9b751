/*
 * training.c - the training workflow's step table (DESIGN.md "Workflows"):
 *
 *   CHECK -> MANIFEST -> TRAIN -> WAIT_TRAINING -> EVALUATE -> START -> WAIT_RUNNING -> SWITCH
 *         -> STOP_OLD -> DONE,    ending instead in NOT_MET, FAILED_F1 or FAILED.
 *
 * Design: names derive from the execution id (manifest key, version name), so a step repeated
 * after a crash finds its own work: the manifest is rewritten under the same key, training the
 * same version again is a no-op for a completed version, starting a running version succeeds.
 * WAIT_TRAINING sends an execution back to TRAIN when the engine no longer knows the version (a
 * builtin training that died with the process), at most MAX_RETRAINS times.
 * previous_trained_images becomes the number of images in the deployed version's manifest, in
 * the same transaction that makes the version active. A version that is not deployed (F1 below
 * the minimum, or the engine rejected the data) records last_attempted_images, so the same
 * images are not trained twice in a row. A failure of a driver call (I/O, network) records
 * nothing: the next poll simply tries again.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"

enum {
    S_CHECK,
    S_MANIFEST,
    S_TRAIN,
    S_WAIT_TRAINING,
    S_EVALUATE,
    S_START,
    S_WAIT_RUNNING,
    S_SWITCH,
    S_STOP_OLD,
    S_DONE,
    S_NOT_MET,
    S_FAILED_F1,
    S_FAILED,
    S_COUNT
};

#define MAX_RETRAINS 3
#define MAX_BUSY_WAITS 120
#define MANIFEST_MAX_BYTES (512u << 20)
#define LABEL_ATTRIBUTE "retraind-label"
#define NOT_MET_NOTIFIED "not_met_notified_images"

/* ---- counting labeled images (CHECK and MANIFEST both list the labeled prefix) ---- */

struct listing {
    struct rt_exec *x;
    struct rt_label_counts labels;
    bool write_manifest;
    struct rt_buf manifest;
    char created[40];
    int rc;
    struct rt_error err;
};

static void listing_free(struct listing *l)
{
    rt_label_counts_cleanup(&l->labels);
    rt_buf_cleanup(&l->manifest);
    rt_free(l);
}

static const struct rt_config_prefixes *prefixes(struct rt_exec *x)
{
    return &x->m->env.cfg->store.prefixes;
}

static cJSON *labels_json(const struct listing *l)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < l->labels.n; i++)
        cJSON_AddNumberToObject(o, l->labels.items[i].name, (double)l->labels.items[i].count);
    return o;
}

static void listing_done(struct listing *l);

static int on_page(const struct rt_store_entry *entries,
                   size_t n,
                   bool last,
                   int status,
                   const struct rt_error *err,
                   void *ud)
{
    struct listing *l = ud;
    struct rt_exec *x = l->x;
    const char *prefix = prefixes(x)->labeled;
    for (size_t i = 0; i < n && !l->rc; i++) {
        struct rt_str label;
        if (!rt_store_training_label(prefix, entries[i].key, &label))
            continue;
        long idx = rt_label_counts_add(&l->labels, label);
        if (idx < 0) {
            l->rc = rt_error_set(&l->err, RT_ENOMEM, "out of memory while counting");
            break;
        }
        if (l->write_manifest) {
            struct rt_manifest_line me = {
                .bucket = x->m->env.store->bucket_name,
                .key = entries[i].key,
                .label = l->labels.items[idx].name,
                .class_index = (int)idx,
                .creation_date = l->created,
                .job_name = x->id,
            };
            int rc = rt_manifest_append(&l->manifest, LABEL_ATTRIBUTE, &me, &l->err);
            if (rc)
                l->rc = rt_error_set(&l->err, rc, "manifest too large or out of memory");
        }
    }
    if (status && !l->rc) {
        l->rc = status;
        if (err)
            l->err = *err;
        else
            rt_error_set(&l->err, status, "listing %s failed: %s", prefix, rt_strerror(status));
    }
    if (last || l->rc) {
        listing_done(l);
        return 1;
    }
    return 0;
}

static void start_listing(struct rt_exec *x, bool write_manifest)
{
    struct listing *l = rt_calloc(1, sizeof(*l));
    if (!l) {
        rt__exec_finish(x, S_FAILED, NULL, "out of memory", NULL, NULL);
        return;
    }
    l->x = x;
    l->write_manifest = write_manifest;
    rt_buf_init(&l->manifest, MANIFEST_MAX_BYTES);
    rt_time_rfc3339(rt_now_ms(), l->created, sizeof(l->created));
    struct rt_store *s = x->m->env.store;
    int rc = s->ops->list(s, prefixes(x)->labeled, 1000, RT_STORE_LIST_KEYS_ONLY, on_page, l);
    if (rc) {
        char msg[256];
        rt_snprintf(msg, sizeof(msg), "listing %s failed: %s", prefixes(x)->labeled,
                    rt_strerror(rc));
        listing_free(l);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
    }
}

/* ---- CHECK ---- */

struct check_result {
    int64_t images, previous, last_attempted;
};

static int tx_note_not_met(struct rt_exec *x, void *ud)
{
    (void)x;
    const struct check_result *r = ud;
    return rt_journal_state_set_i64(x->m->env.journal, NOT_MET_NOTIFIED, r->images);
}

static void check_done(struct listing *l)
{
    struct rt_exec *x = l->x;
    struct rt_journal *j = x->m->env.journal;
    if (l->rc) {
        char msg[600];
        rt_error_format(&l->err, msg, sizeof(msg));
        listing_free(l);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
        return;
    }
    struct check_result r = {.images = l->labels.total};
    rt_journal_state_get_i64(j, RT_STATE_PREVIOUS_TRAINED, 0, &r.previous);
    rt_journal_state_get_i64(j, RT_STATE_LAST_ATTEMPTED, 0, &r.last_attempted);
    int64_t needed = x->m->env.params->v[RT_P_MIN_UNTRAINED].i;
    int64_t untrained = r.images > r.previous ? r.images - r.previous : 0;
    /* After a version that was not deployed, wait for new images beyond that attempt too. */
    bool retry_blocked = r.last_attempted > r.previous && r.images - r.last_attempted < needed;
    bool met = untrained >= needed && !retry_blocked;

    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "images", (double)r.images);
    cJSON_AddNumberToObject(out, "untrained", (double)untrained);
    cJSON_AddNumberToObject(out, "needed", (double)needed);
    if (r.last_attempted > r.previous)
        cJSON_AddNumberToObject(out, "last_attempted", (double)r.last_attempted);
    cJSON_AddItemToObject(out, "labels", labels_json(l));
    listing_free(l);

    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=training_check exec=%s images=%lld untrained=%lld needed=%lld met=%s", x->id,
           (long long)r.images, (long long)untrained, (long long)needed, met ? "yes" : "no");
    if (met) {
        rt__exec_next(x, S_MANIFEST, out, NULL, NULL);
        return;
    }
    /* Tell people once per distinct count, not at every poll. */
    int64_t notified = -1;
    rt_journal_state_get_i64(j, NOT_MET_NOTIFIED, -1, &notified);
    if (notified != r.images) {
        struct rt_event ev = {.kind = RT_EV_CRITERIA_NOT_MET,
                              .images = r.images,
                              .untrained = untrained,
                              .needed = needed};
        rt__exec_emit(x, &ev);
    }
    rt__exec_finish(x, S_NOT_MET, out, NULL, tx_note_not_met, &r);
}

static void step_check(struct rt_exec *x)
{
    start_listing(x, false);
}

/* ---- MANIFEST ---- */

struct manifest_put {
    struct rt_exec *x;
    char key[RT_STORE_KEY_MAX + 1];
    int64_t images;
    size_t n_labels;
};

static void manifest_written(int status, const struct rt_error *err, void *ud)
{
    struct manifest_put *mp = ud;
    struct rt_exec *x = mp->x;
    if (status) {
        char msg[600];
        if (err)
            rt_error_format(err, msg, sizeof(msg));
        else
            rt_snprintf(msg, sizeof(msg), "writing %s failed: %s", mp->key, rt_strerror(status));
        rt_free(mp);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
        return;
    }
    RT_LOG(RT_LOG_INFO, "workflow", "event=manifest_written exec=%s key=%s images=%lld", x->id,
           rt_q(mp->key), (long long)mp->images);
    rt__ctx_set_str(x, "manifest_key", mp->key);
    rt__ctx_set_int(x, "images", mp->images);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "key", mp->key);
    cJSON_AddNumberToObject(out, "images", (double)mp->images);
    cJSON_AddNumberToObject(out, "labels", (double)mp->n_labels);
    rt_free(mp);
    rt__exec_next(x, S_TRAIN, out, NULL, NULL);
}

static void manifest_done(struct listing *l)
{
    struct rt_exec *x = l->x;
    if (l->rc) {
        char msg[600];
        rt_error_format(&l->err, msg, sizeof(msg));
        listing_free(l);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
        return;
    }
    struct manifest_put *mp = rt_calloc(1, sizeof(*mp));
    if (!mp) {
        listing_free(l);
        rt__exec_finish(x, S_FAILED, NULL, "out of memory", NULL, NULL);
        return;
    }
    mp->x = x;
    mp->images = l->labels.total;
    mp->n_labels = l->labels.n;
    rt_snprintf(mp->key, sizeof(mp->key), "%s%s.manifest", prefixes(x)->manifests, x->id);
    struct rt_store *s = x->m->env.store;
    int rc = s->ops->put(s, mp->key, l->manifest.data ? l->manifest.data : "", l->manifest.len,
                         "application/x-ndjson", manifest_written, mp);
    listing_free(l);
    if (rc) {
        char msg[300];
        rt_snprintf(msg, sizeof(msg), "writing the manifest failed: %s", rt_strerror(rc));
        rt_free(mp);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
    }
}

static void listing_done(struct listing *l)
{
    if (l->write_manifest)
        manifest_done(l);
    else
        check_done(l);
}

static void step_manifest(struct rt_exec *x)
{
    start_listing(x, true);
}

/* ---- TRAIN and WAIT_TRAINING ---- */

static void version_name(struct rt_exec *x, char *out, size_t size)
{
    rt_snprintf(out, size, "model-%s", x->id);
}

static void fail_with(struct rt_exec *x, const char *what, int status, const struct rt_error *err)
{
    char detail[600];
    if (err && err->code)
        rt_error_format(err, detail, sizeof(detail));
    else
        rt_strlcpy(detail, rt_strerror(status), sizeof(detail));
    char msg[700];
    rt_snprintf(msg, sizeof(msg), "%s: %s", what, detail);
    rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
}

static int tx_model_training(struct rt_exec *x, void *ud)
{
    (void)ud;
    struct rt_journal_model m = {
        .f1 = -1, .images = rt__ctx_int(x, "images", 0), .created_ms = rt_now_ms()};
    version_name(x, m.version, sizeof(m.version));
    rt_strlcpy(m.exec_id, x->id, sizeof(m.exec_id));
    rt_strlcpy(m.status, rt_model_status_name(RT_MODEL_TRAINING_IN_PROGRESS), sizeof(m.status));
    return rt_journal_model_put(x->m->env.journal, &m);
}

static void train_started(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "the engine refused to start the training", status, err);
        return;
    }
    char version[128];
    version_name(x, version, sizeof(version));
    rt__ctx_set_str(x, "version", version);
    if (rt__ctx_int(x, "retrains", 0) == 0) {
        struct rt_event ev = {.kind = RT_EV_TRAINING_STARTED,
                              .version = version,
                              .images = rt__ctx_int(x, "images", 0)};
        rt__exec_emit(x, &ev);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "version", version);
    rt__exec_next(x, S_WAIT_TRAINING, out, tx_model_training, NULL);
}

static void step_train(struct rt_exec *x)
{
    char version[128];
    char output_prefix[RT_STORE_KEY_MAX + 1];
    version_name(x, version, sizeof(version));
    rt_snprintf(output_prefix, sizeof(output_prefix), "%s%s/", prefixes(x)->evaluation, x->id);
    struct rt_train_request req = {
        .version = version,
        .manifest_key = rt__ctx_str(x, "manifest_key"),
        .output_prefix = output_prefix,
        .label_attribute = LABEL_ATTRIBUTE,
    };
    if (!req.manifest_key) {
        rt__exec_finish(x, S_FAILED, NULL, "no manifest recorded for this execution", NULL, NULL);
        return;
    }
    struct rt_engine *e = x->m->env.engine;
    int rc = e->ops->train(e, &req, train_started, x);
    if (rc)
        fail_with(x, "the engine refused to start the training", rc, NULL);
}

static int tx_attempted(struct rt_exec *x, void *ud)
{
    const struct rt_model_info *info = ud;
    struct rt_journal *j = x->m->env.journal;
    int rc = rt_journal_state_set_i64(j, RT_STATE_LAST_ATTEMPTED, rt__ctx_int(x, "images", 0));
    struct rt_journal_model m;
    if (!rc && rt_journal_model_get(j, rt__ctx_str(x, "version"), &m) == 0) {
        rt_strlcpy(m.status, rt_model_status_name(info->status), sizeof(m.status));
        if (info->status == RT_MODEL_TRAINING_COMPLETED)
            m.f1 = info->f1;
        rc = rt_journal_model_put(j, &m);
    }
    return rc;
}

static void training_described(int status,
                               const struct rt_model_info *info,
                               const struct rt_error *err,
                               void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "describing the training failed", status, err);
        return;
    }
    cJSON *out;
    switch (info->status) {
    case RT_MODEL_TRAINING_IN_PROGRESS:
        rt__exec_wait(x, x->m->env.engine_poll_ms);
        return;
    case RT_MODEL_UNKNOWN: {
        int64_t n = rt__ctx_int(x, "retrains", 0) + 1;
        if (n > MAX_RETRAINS) {
            rt__exec_finish(x, S_FAILED, NULL, "the engine lost the training repeatedly", NULL,
                            NULL);
            return;
        }
        RT_LOG(RT_LOG_WARNING, "workflow", "event=training_lost exec=%s version=%s retrain=%lld",
               x->id, rt_q(info->version), (long long)n);
        rt__ctx_set_int(x, "retrains", n);
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "status", "UNKNOWN");
        cJSON_AddNumberToObject(out, "retrain", (double)n);
        rt__exec_next(x, S_TRAIN, out, NULL, NULL);
        return;
    }
    case RT_MODEL_TRAINING_FAILED: {
        /* The engine rejected the data: remember the count so the same images are not retried. */
        char msg[400];
        rt_snprintf(msg, sizeof(msg), "training failed: %s",
                    info->message[0] ? info->message : "the engine gave no reason");
        struct rt_model_info copy = *info;
        rt__exec_finish(x, S_FAILED, NULL, msg, tx_attempted, &copy);
        return;
    }
    default:
        /* Completed, or already deployed by an earlier run of this execution. */
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "status", rt_model_status_name(info->status));
        cJSON_AddNumberToObject(out, "images_used", (double)info->images_used);
        rt__exec_next(x, S_EVALUATE, out, NULL, NULL);
        return;
    }
}

static void step_describe(struct rt_exec *x, rt_engine_describe_fn *cb)
{
    struct rt_engine *e = x->m->env.engine;
    const char *version = rt__ctx_str(x, "version");
    if (!version) {
        rt__exec_finish(x, S_FAILED, NULL, "no model version recorded for this execution", NULL,
                        NULL);
        return;
    }
    int rc = e->ops->describe(e, version, cb, x);
    if (rc)
        fail_with(x, "describing the model version failed", rc, NULL);
}

static void step_wait_training(struct rt_exec *x)
{
    step_describe(x, training_described);
}

/* ---- EVALUATE ---- */

static void
evaluated(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "reading the evaluation failed", status, err);
        return;
    }
    double min_f1 = x->m->env.params->v[RT_P_MIN_F1].f;
    rt__ctx_set_double(x, "f1", info->f1);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "f1", info->f1);
    cJSON_AddNumberToObject(out, "min_f1", min_f1);
    cJSON_AddNumberToObject(out, "test_images", (double)info->test_images);
    struct rt_event ev = {.kind = RT_EV_TRAINING_FINISHED,
                          .version = info->version,
                          .f1 = info->f1,
                          .images = rt__ctx_int(x, "images", 0)};
    rt__exec_emit(x, &ev);
    if (info->f1 >= min_f1) {
        rt__exec_next(x, S_START, out, NULL, NULL);
        return;
    }
    struct rt_event nd = {
        .kind = RT_EV_NOT_DEPLOYED, .version = info->version, .f1 = info->f1, .min_f1 = min_f1};
    rt__exec_emit(x, &nd);
    char msg[200];
    rt_snprintf(msg, sizeof(msg), "F1 %.3f is below Minimum-F1-Score %.3f", info->f1, min_f1);
    struct rt_model_info copy = *info;
    rt__exec_finish(x, S_FAILED_F1, out, msg, tx_attempted, &copy);
}

static void step_evaluate(struct rt_exec *x)
{
    step_describe(x, evaluated);
}

/* ---- START and WAIT_RUNNING ---- */

static int tx_model_status(struct rt_exec *x, void *ud)
{
    const char *status = ud;
    struct rt_journal_model m;
    struct rt_journal *j = x->m->env.journal;
    int rc = rt_journal_model_get(j, rt__ctx_str(x, "version"), &m);
    if (rc)
        return rc == RT_ENOTFOUND ? 0 : rc;
    rt_strlcpy(m.status, status, sizeof(m.status));
    m.f1 = rt__ctx_double(x, "f1", m.f1);
    return rt_journal_model_put(j, &m);
}

static bool wait_if_busy(struct rt_exec *x, int status);

static void started(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (wait_if_busy(x, status))
        return;
    if (status) {
        fail_with(x, "starting the model version failed", status, err);
        return;
    }
    rt__exec_next(x, S_WAIT_RUNNING, NULL, tx_model_status,
                  (void *)rt_model_status_name(RT_MODEL_STARTING));
}

static void step_start(struct rt_exec *x)
{
    struct rt_engine *e = x->m->env.engine;
    int units = (int)x->m->env.params->v[RT_P_MIN_INFERENCE_UNITS].i;
    int rc = e->ops->start(e, rt__ctx_str(x, "version"), units, started, x);
    if (rc && !wait_if_busy(x, rc))
        fail_with(x, "starting the model version failed", rc, NULL);
}

static void running_described(int status,
                              const struct rt_model_info *info,
                              const struct rt_error *err,
                              void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "describing the model version failed", status, err);
        return;
    }
    if (info->status == RT_MODEL_STARTING) {
        rt__exec_wait(x, x->m->env.engine_poll_ms);
        return;
    }
    if (info->status != RT_MODEL_RUNNING) {
        char msg[400];
        rt_snprintf(msg, sizeof(msg), "the model version did not start: %s %s",
                    rt_model_status_name(info->status), info->message);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
        return;
    }
    rt__exec_next(x, S_SWITCH, NULL, NULL, NULL);
}

static void step_wait_running(struct rt_exec *x)
{
    step_describe(x, running_described);
}

/* ---- SWITCH and STOP_OLD ---- */

static int tx_switch(struct rt_exec *x, void *ud)
{
    (void)ud;
    struct rt_journal *j = x->m->env.journal;
    const char *version = rt__ctx_str(x, "version");
    int64_t images = rt__ctx_int(x, "images", 0);
    int rc = tx_model_status(x, (void *)rt_model_status_name(RT_MODEL_RUNNING));
    if (!rc)
        rc = rt_journal_model_set_active(j, version, rt_now_ms());
    if (!rc)
        rc = rt_journal_state_set_i64(j, RT_STATE_PREVIOUS_TRAINED, images);
    if (!rc)
        rc = rt_journal_state_set_i64(j, RT_STATE_LAST_ATTEMPTED, images);
    return rc;
}

static void step_switch(struct rt_exec *x)
{
    const char *version = rt__ctx_str(x, "version");
    /* The previous active version is read once: a repeated SWITCH finds it in the context. */
    if (!cJSON_HasObjectItem(x->ctx, "previous_version")) {
        struct rt_journal_model active;
        if (rt_journal_model_get_active(x->m->env.journal, &active) == 0 &&
            strcmp(active.version, version) != 0)
            rt__ctx_set_str(x, "previous_version", active.version);
        else
            rt__ctx_set_str(x, "previous_version", NULL);
    }
    const char *previous = rt__ctx_str(x, "previous_version");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "active", version);
    if (previous)
        cJSON_AddStringToObject(out, "previous", previous);
    else
        cJSON_AddNullToObject(out, "previous");
    cJSON_AddNumberToObject(out, "previous_trained_images", (double)rt__ctx_int(x, "images", 0));
    struct rt_event ev = {.kind = RT_EV_DEPLOYED,
                          .version = version,
                          .previous_version = previous,
                          .f1 = rt__ctx_double(x, "f1", 0)};
    rt__exec_emit(x, &ev);
    rt__exec_next(x, S_STOP_OLD, out, tx_switch, NULL);
}

static int tx_stopped(struct rt_exec *x, void *ud)
{
    (void)ud;
    struct rt_journal *j = x->m->env.journal;
    struct rt_journal_model m;
    int rc = rt_journal_model_get(j, rt__ctx_str(x, "previous_version"), &m);
    if (rc)
        return rc == RT_ENOTFOUND ? 0 : rc;
    rt_strlcpy(m.status, rt_model_status_name(RT_MODEL_STOPPED), sizeof(m.status));
    m.stopped_ms = rt_now_ms();
    return rt_journal_model_put(j, &m);
}

/* A version in a transition (still starting after a restart, say) refuses start/stop with
 * RT_EBUSY; that is worth waiting for, a bounded number of polls. */
static bool wait_if_busy(struct rt_exec *x, int status)
{
    if (status != RT_EBUSY)
        return false;
    int64_t n = rt__ctx_int(x, "busy_waits", 0) + 1;
    if (n > MAX_BUSY_WAITS)
        return false;
    rt__ctx_set_int(x, "busy_waits", n);
    rt__exec_wait(x, x->m->env.engine_poll_ms);
    return true;
}

static void old_stopped(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (wait_if_busy(x, status))
        return;
    if (status) {
        fail_with(x, "stopping the previous version failed", status, err);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "stopped", rt__ctx_str(x, "previous_version"));
    rt__exec_finish(x, S_DONE, out, NULL, tx_stopped, NULL);
}

static void step_stop_old(struct rt_exec *x)
{
    const char *previous = rt__ctx_str(x, "previous_version");
    if (!previous) {
        rt__exec_finish(x, S_DONE, NULL, NULL, NULL, NULL);
        return;
    }
    struct rt_engine *e = x->m->env.engine;
    int rc = e->ops->stop(e, previous, old_stopped, x);
    if (rc && !wait_if_busy(x, rc))
        fail_with(x, "stopping the previous version failed", rc, NULL);
}

/* ---- the table ---- */

static const struct rt_state_def states[S_COUNT] = {
    [S_CHECK] = {"CHECK", step_check, false, {S_MANIFEST, S_NOT_MET, S_FAILED, -1}},
    [S_MANIFEST] = {"MANIFEST", step_manifest, false, {S_TRAIN, S_FAILED, -1}},
    [S_TRAIN] = {"TRAIN", step_train, false, {S_WAIT_TRAINING, S_FAILED, -1}},
    [S_WAIT_TRAINING] = {"WAIT_TRAINING",
                         step_wait_training,
                         false,
                         {S_EVALUATE, S_TRAIN, S_FAILED, -1}},
    [S_EVALUATE] = {"EVALUATE", step_evaluate, false, {S_START, S_FAILED_F1, S_FAILED, -1}},
    [S_START] = {"START", step_start, false, {S_WAIT_RUNNING, S_FAILED, -1}},
    [S_WAIT_RUNNING] = {"WAIT_RUNNING", step_wait_running, false, {S_SWITCH, S_FAILED, -1}},
    [S_SWITCH] = {"SWITCH", step_switch, false, {S_STOP_OLD, S_FAILED, -1}},
    [S_STOP_OLD] = {"STOP_OLD", step_stop_old, false, {S_DONE, S_FAILED, -1}},
    [S_DONE] = {"DONE", NULL, true, {-1}},
    [S_NOT_MET] = {"NOT_MET", NULL, true, {-1}},
    [S_FAILED_F1] = {"FAILED_F1", NULL, true, {-1}},
    [S_FAILED] = {"FAILED", NULL, true, {-1}},
};

const struct rt_workflow_def rt__training_def = {
    .name = "training",
    .id_prefix = "tr",
    .states = states,
    .n_states = S_COUNT,
    .initial = S_CHECK,
    .failed = S_FAILED,
};

const char *const rt_training_state_names[] = {
    "CHECK",  "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE",  "START", "WAIT_RUNNING",
    "SWITCH", "STOP_OLD", "DONE",  "NOT_MET",       "FAILED_F1", "FAILED"};
const int rt_training_state_count = S_COUNT;
