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
 * After a graceful stop the lost training is restarted without counting (the machine marks
 * executions stopped on purpose).
 *
 * CHECK counts untrained images by key (the census, census.c): the labeled images that are not
 * in the deployed version's manifest and, after a version that was not deployed, not in that
 * attempt's manifest either. MANIFEST records the key set of the manifest it writes, in the same
 * transaction as the transition. previous_trained_images becomes the number of images in the
 * deployed version's manifest, in the transaction that makes the version active; a version that
 * is not deployed (F1 below the minimum, or the engine rejected the data) records itself as the
 * last attempt. A check that finds exactly what the last NOT_MET check found adds no execution:
 * the last one's check count grows, and people hear of it only when the outcome changes.
 * Notifications are written to the outbox with the transition that causes them. A failure of a
 * driver call (I/O, network) records nothing else: the next poll simply tries again.
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
#define READ_RETRY_MS 5000
#define LABEL_ATTRIBUTE "retraind-label"

static const struct rt_config_prefixes *prefixes(struct rt_exec *x)
{
    return &x->m->env.cfg->store.prefixes;
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

static int start_census(struct rt_exec *x, bool write_manifest, rt_census_done_fn *cb)
{
    struct rt_census_opts o = {.store = x->m->env.store,
                               .journal = x->m->env.journal,
                               .cfg = x->m->env.cfg,
                               .write_manifest = write_manifest,
                               .job_name = x->id};
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_census_start(&o, cb, x, &err);
    if (rc)
        fail_with(x, "counting the labeled images failed", rc, &err);
    return rc;
}

static cJSON *labels_json(const struct rt_label_counts *l)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < l->n; i++)
        cJSON_AddNumberToObject(o, l->items[i].name, (double)l->items[i].count);
    return o;
}

/* ---- CHECK ---- */

static bool criteria_met(struct rt_exec *x, const struct rt_census *c)
{
    int64_t needed = x->m->env.params->v[RT_P_MIN_UNTRAINED].i;
    /* After a version that was not deployed, wait for new images beyond that attempt too. */
    return c->untrained >= needed && (c->new_since_attempt < 0 || c->new_since_attempt >= needed);
}

static cJSON *check_output(struct rt_exec *x, const struct rt_census *c)
{
    cJSON *out = cJSON_CreateObject();
    if (!out)
        return NULL;
    cJSON_AddNumberToObject(out, "images", (double)c->images);
    cJSON_AddNumberToObject(out, "untrained", (double)c->untrained);
    cJSON_AddNumberToObject(out, "needed", (double)x->m->env.params->v[RT_P_MIN_UNTRAINED].i);
    if (c->new_since_attempt >= 0) {
        cJSON_AddNumberToObject(out, "last_attempted", (double)c->attempt_images);
        cJSON_AddNumberToObject(out, "new_since_attempt", (double)c->new_since_attempt);
    }
    cJSON_AddNumberToObject(out, "previous_trained_images", (double)c->deployed_images);
    cJSON_AddItemToObject(out, "labels", labels_json(&c->labels));
    return out;
}

/* Returns: true if out equals the CHECK output of the newest training execution, which ended
 * NOT_MET: the same outcome again. (Any journal error means "not the same": a new row.) */
static bool same_as_last(struct rt_exec *x, const cJSON *out, char *prev_id, size_t size)
{
    if (x->persisted)
        return false; /* resumed from an older journal: this execution has a row already */
    struct rt_journal *j = x->m->env.journal;
    struct rt_journal_exec last;
    if (rt_journal_exec_latest(j, x->def->name, &last) != 0)
        return false;
    bool same = strcmp(last.state, "NOT_MET") == 0;
    rt_strlcpy(prev_id, last.id, size);
    rt_journal_exec_cleanup(&last);
    char *text = NULL;
    if (!same || rt_journal_step_output(j, prev_id, "CHECK", &text) != 0 || !text)
        return false;
    cJSON *prev = cJSON_Parse(text);
    rt_free(text);
    static const char *const keys[] = {"images", "untrained", "needed", "new_since_attempt",
                                       "previous_trained_images"};
    for (size_t i = 0; same && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(out, keys[i]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(prev, keys[i]);
        same = (!a && !b) ||
               (cJSON_IsNumber(a) && cJSON_IsNumber(b) && a->valuedouble == b->valuedouble);
    }
    cJSON_Delete(prev);
    return same;
}

static void check_done(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "counting the labeled images failed", status, err);
        return;
    }
    bool met = criteria_met(x, c);
    int64_t needed = x->m->env.params->v[RT_P_MIN_UNTRAINED].i;
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=training_check exec=%s images=%lld untrained=%lld needed=%lld met=%s", x->id,
           (long long)c->images, (long long)c->untrained, (long long)needed, met ? "yes" : "no");
    cJSON *out = check_output(x, c);
    if (!out) {
        rt__exec_finish(x, S_FAILED, NULL, "out of memory", NULL, NULL);
        return;
    }
    if (met) {
        rt__exec_next(x, S_MANIFEST, out, NULL, NULL);
        return;
    }
    char prev[64];
    if (same_as_last(x, out, prev, sizeof(prev))) {
        cJSON_Delete(out);
        rt__exec_coalesce(x, prev);
        return;
    }
    /* A new outcome: people hear of it once. */
    struct rt_event ev = {.kind = RT_EV_CRITERIA_NOT_MET,
                          .images = c->images,
                          .untrained = c->untrained,
                          .needed = needed};
    rt__exec_notify(x, &ev);
    rt__exec_finish(x, S_NOT_MET, out, NULL, NULL, NULL);
}

static void step_check(struct rt_exec *x)
{
    start_census(x, false, check_done);
}

/* ---- MANIFEST ---- */

struct manifest_put {
    struct rt_exec *x;
    char key[RT_STORE_KEY_MAX + 1];
    int64_t images;
    size_t n_labels;
    uint64_t *hashes; /* owned: the manifest's sorted key set */
    size_t n_hashes;
};

static int tx_manifest_keys(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    const struct manifest_put *mp = ud;
    return rt_jbatch_manifest_keys(b, x->id, mp->hashes, mp->n_hashes, mp->images);
}

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
        rt_free(mp->hashes);
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
    rt__exec_next(x, S_TRAIN, out, tx_manifest_keys, mp);
    rt_free(mp->hashes); /* the batch copied them */
    rt_free(mp);
}

static void manifest_counted(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        fail_with(x, "listing the labeled images failed", status, err);
        return;
    }
    struct manifest_put *mp = rt_calloc(1, sizeof(*mp));
    if (mp && c->keys.n) {
        mp->hashes = rt_malloc(c->keys.n * sizeof(uint64_t));
        if (mp->hashes)
            memcpy(mp->hashes, c->keys.v, c->keys.n * sizeof(uint64_t));
    }
    if (!mp || (c->keys.n && !mp->hashes)) {
        if (mp)
            rt_free(mp->hashes);
        rt_free(mp);
        rt__exec_finish(x, S_FAILED, NULL, "out of memory", NULL, NULL);
        return;
    }
    mp->x = x;
    mp->n_hashes = c->keys.n;
    mp->images = c->images;
    mp->n_labels = c->labels.n;
    rt_snprintf(mp->key, sizeof(mp->key), "%s%s.manifest", prefixes(x)->manifests, x->id);
    struct rt_store *s = x->m->env.store;
    int rc = s->ops->put(s, mp->key, c->manifest.data ? c->manifest.data : "", c->manifest.len,
                         "application/x-ndjson", manifest_written, mp);
    if (rc) {
        char msg[300];
        rt_snprintf(msg, sizeof(msg), "writing the manifest failed: %s", rt_strerror(rc));
        rt_free(mp->hashes);
        rt_free(mp);
        rt__exec_finish(x, S_FAILED, NULL, msg, NULL, NULL);
    }
}

static void step_manifest(struct rt_exec *x)
{
    start_census(x, true, manifest_counted);
}

/* ---- TRAIN and WAIT_TRAINING ---- */

static void version_name(struct rt_exec *x, char *out, size_t size)
{
    rt_snprintf(out, size, "model-%s", x->id);
}

static int tx_model_training(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    struct rt_journal_model m = {
        .f1 = -1, .images = rt__ctx_int(x, "images", 0), .created_ms = rt_now_ms()};
    version_name(x, m.version, sizeof(m.version));
    rt_strlcpy(m.exec_id, x->id, sizeof(m.exec_id));
    rt_strlcpy(m.status, rt_model_status_name(RT_MODEL_TRAINING_IN_PROGRESS), sizeof(m.status));
    return rt_jbatch_model_put(b, &m);
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
    if (rt__ctx_int(x, "retrains", 0) == 0 && !rt__ctx_int(x, "restarts", 0)) {
        struct rt_event ev = {.kind = RT_EV_TRAINING_STARTED,
                              .version = version,
                              .images = rt__ctx_int(x, "images", 0)};
        rt__exec_notify(x, &ev);
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

/* A version that is not deployed becomes the last attempt: the next training needs new images
 * beyond it too. */
static int tx_attempted(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    const struct rt_model_info *info = ud;
    int rc = rt_jbatch_state_set_i64(b, RT_STATE_LAST_ATTEMPTED, rt__ctx_int(x, "images", 0));
    if (!rc)
        rc = rt_jbatch_state_set(b, RT_STATE_LAST_ATTEMPT_EXEC, x->id);
    if (!rc)
        rc =
            rt_jbatch_model_status(b, rt__ctx_str(x, "version"), rt_model_status_name(info->status),
                                   info->status == RT_MODEL_TRAINING_COMPLETED ? info->f1 : -1, 0);
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
        x->resumed_after_stop = false; /* the engine kept it: nothing was lost */
        rt__exec_wait(x, x->m->env.engine_poll_ms);
        return;
    case RT_MODEL_UNKNOWN: {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "status", "UNKNOWN");
        if (x->resumed_after_stop) {
            /* Our own graceful stop cancelled it: start it again without counting. */
            x->resumed_after_stop = false;
            rt__ctx_set_int(x, "restarts", rt__ctx_int(x, "restarts", 0) + 1);
            RT_LOG(RT_LOG_NOTICE, "workflow",
                   "event=training_restarted exec=%s version=%s reason=graceful_stop", x->id,
                   rt_q(info->version));
            cJSON_AddStringToObject(out, "restart", "after a graceful stop");
            rt__exec_next(x, S_TRAIN, out, NULL, NULL);
            return;
        }
        int64_t n = rt__ctx_int(x, "retrains", 0) + 1;
        if (n > MAX_RETRAINS) {
            cJSON_Delete(out);
            rt__exec_finish(x, S_FAILED, NULL, "the engine lost the training repeatedly", NULL,
                            NULL);
            return;
        }
        RT_LOG(RT_LOG_WARNING, "workflow", "event=training_lost exec=%s version=%s retrain=%lld",
               x->id, rt_q(info->version), (long long)n);
        rt__ctx_set_int(x, "retrains", n);
        cJSON_AddNumberToObject(out, "retrain", (double)n);
        rt__exec_next(x, S_TRAIN, out, NULL, NULL);
        return;
    }
    case RT_MODEL_TRAINING_FAILED: {
        /* The engine rejected the data: remember the attempt so the same images are not
         * retried. */
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
        cJSON_AddNumberToObject(out, "images_skipped", (double)(info->images - info->images_used));
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
    rt__exec_notify(x, &ev);
    if (info->f1 >= min_f1) {
        rt__exec_next(x, S_START, out, NULL, NULL);
        return;
    }
    struct rt_event nd = {
        .kind = RT_EV_NOT_DEPLOYED, .version = info->version, .f1 = info->f1, .min_f1 = min_f1};
    rt__exec_notify(x, &nd);
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

static int tx_model_status(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    return rt_jbatch_model_status(b, rt__ctx_str(x, "version"), ud, rt__ctx_double(x, "f1", -1), 0);
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

static int tx_switch(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    const char *version = rt__ctx_str(x, "version");
    int64_t images = rt__ctx_int(x, "images", 0);
    int rc = tx_model_status(x, b, (void *)rt_model_status_name(RT_MODEL_RUNNING));
    if (!rc)
        rc = rt_jbatch_model_set_active(b, version, rt_now_ms());
    if (!rc)
        rc = rt_jbatch_state_set_i64(b, RT_STATE_PREVIOUS_TRAINED, images);
    if (!rc)
        rc = rt_jbatch_state_set_i64(b, RT_STATE_LAST_ATTEMPTED, images);
    if (!rc)
        rc = rt_jbatch_state_set(b, RT_STATE_LAST_ATTEMPT_EXEC, x->id);
    return rc;
}

static void step_switch(struct rt_exec *x)
{
    const char *version = rt__ctx_str(x, "version");
    /* The previous active version is read once: a repeated SWITCH finds it in the context. */
    if (!cJSON_HasObjectItem(x->ctx, "previous_version")) {
        struct rt_journal_model active;
        int rc = rt_journal_model_get_active(x->m->env.journal, &active);
        if (rc && rc != RT_ENOTFOUND) {
            /* Not knowing what is active would leave it running: read again shortly. */
            RT_LOG(RT_LOG_WARNING, "workflow",
                   "event=read_failed exec=%s what=active_model "
                   "error=%s",
                   x->id, rt_q(rt_strerror(rc)));
            rt__exec_wait(x, READ_RETRY_MS);
            return;
        }
        if (rc == 0 && strcmp(active.version, version) != 0)
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
    /* Written with the switch: announced exactly when the switch commits. */
    struct rt_event ev = {.kind = RT_EV_DEPLOYED,
                          .version = version,
                          .previous_version = previous,
                          .f1 = rt__ctx_double(x, "f1", 0)};
    rt__exec_notify(x, &ev);
    rt__exec_next(x, S_STOP_OLD, out, tx_switch, NULL);
}

static int tx_stopped(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    return rt_jbatch_model_status(b, rt__ctx_str(x, "previous_version"),
                                  rt_model_status_name(RT_MODEL_STOPPED), -1, rt_now_ms());
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
