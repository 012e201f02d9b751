/*
 * labeling_auto.c - automated labeling in a labeling job (`label-job create --auto-label`,
 * docs/labeling.md), as Ground Truth's automated data labeling does it:
 *
 *   LIST holds back every task but a first sample (rt__lj_auto_human_sample); people label the
 *   sample (WAIT_ANSWERS, CONSOLIDATE as usual); then
 *   AUTO_TRAIN          trains the job's own model version (labeling-<job>) on two thirds of the
 *                       sample, with the consolidated labels, through the engine interface;
 *   AUTO_WAIT_TRAINING  polls the training (lost to a crash: trained again, at most 3 times);
 *   AUTO_START, AUTO_WAIT_RUNNING  start it;
 *   AUTO_LABEL          classifies the held-out third of the sample and every held image;
 *                       measures on the held-out third the lowest confidence threshold at which
 *                       the model is right at least target_accuracy of the time; labels the held
 *                       images at or above it (machine labels: human-annotated "no" in the
 *                       output manifest) and sends the rest to people, least confident first
 *                       (the confidence is recorded on each task and the portal serves the
 *                       lowest first: active learning); then stops the version.
 *
 * Whatever goes wrong on the machine's side (too few images, a training that fails, a model
 * that will not start) ends the same way: the held images go to people, and the job's stats say
 * why ("skipped"). People's labels never wait on the machine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "labeling_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"

/* The first sample people label: a quarter of the images, at least 40. */
#define HUMAN_SHARE 0.25
#define MIN_HUMAN 40
/* Below these, a model or its threshold would be guesswork. */
#define MIN_TRAIN 20
#define MIN_VALIDATION 8
#define MIN_AT_THRESHOLD 5
#define MAX_ATTEMPTS 3
#define RETRY_MS LJ_RETRY_MS

size_t rt__lj_auto_human_sample(size_t n_tasks)
{
    size_t h = (size_t)ceil((double)n_tasks * HUMAN_SHARE);
    return h < MIN_HUMAN ? MIN_HUMAN : h;
}

static void version_of(struct rt_exec *x, char *out, size_t size)
{
    const char *job = rt__ctx_str(x, "job");
    rt_snprintf(out, size, "labeling-%s", job ? job : "");
}

/* The machine's side is given up: the held images go to people. */
static void skip(struct rt_exec *x, const char *reason)
{
    RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_label_skipped exec=%s job=%s reason=%s", x->id,
           rt_q(rt__ctx_str(x, "job")), rt_q(reason));
    rt__ctx_set_str(x, "auto_skip", reason);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "skipped", reason);
    rt__exec_next(x, LJ_AUTO_LABEL, out, NULL, NULL);
}

/* People's items (answered by people, not the machine) and whether each is in the held-out
 * third: every third in task-id order, which is hash order. */
static bool is_human(const struct lj_run *k, int i)
{
    return k->c.items[i].n_answers > 0 && k->c.items[i].machine_label < 0 && k->have_ds &&
           k->ds.label[i] >= 0;
}

/* ---- AUTO_TRAIN ---- */

static void train_started(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        char msg[400];
        rt_snprintf(msg, sizeof(msg), "the engine refused the training: %s",
                    err ? err->msg : rt_strerror(status));
        if (status == RT_EBUSY || status == RT_ETIMEDOUT || status == RT_EIO ||
            status == RT_ENETWORK || status == RT_ETHROTTLED) {
            RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_train_retry exec=%s error=%s", x->id,
                   rt_q(msg));
            rt__exec_wait(x, RETRY_MS);
            return;
        }
        skip(x, msg);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "version", rt__ctx_str(x, "auto_version"));
    cJSON_AddNumberToObject(out, "images", (double)rt__ctx_int(x, "auto_train_images", 0));
    rt__exec_next(x, LJ_AUTO_WAIT_TRAINING, out, NULL, NULL);
}

static void manifest_put(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_manifest_failed exec=%s error=%s", x->id,
               rt_q(err ? err->msg : rt_strerror(status)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    struct rt_engine *e = x->m->env.engine;
    const char *manifest = rt__ctx_str(x, "auto_manifest");
    const char *eval = rt__ctx_str(x, "auto_evaluation");
    struct rt_train_request req = {.version = rt__ctx_str(x, "auto_version"),
                                   .manifest_key = manifest,
                                   .output_prefix = eval,
                                   .label_attribute = rt__ctx_str(x, "job")};
    int rc = e->ops->train(e, &req, train_started, x);
    if (rc) {
        struct rt_error e2;
        rt_error_set(&e2, rc, "%s", rt_strerror(rc));
        train_started(rc, &e2, x);
    }
}

static void train_ready(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    const struct rt_label_job *job = &k->job;
    const char *bucket = x->m->env.store->bucket_name;
    int n_train = 0, n_val = 0, n_human = 0;
    bool seen[RT_LABEL_JOB_MAX_LABELS] = {false};
    int n_seen = 0;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = 0;
    for (int i = 0; !rc && i < k->c.n_items; i++) {
        if (!is_human(k, i))
            continue;
        if (n_human++ % 3 == 2) {
            n_val++;
            continue;
        }
        int label = k->ds.label[i];
        char date[RT_MANIFEST_DATE_MAX];
        struct rt_manifest_line line = {
            .bucket = bucket,
            .key = k->c.items[i].key,
            .label = job->labels[label],
            .class_index = label,
            .creation_date = rt_manifest_date(k->c.items[i].last_at_ms, date, sizeof(date)),
            .job_name = job->name,
        };
        double conf = k->ds.confidence[i] > 1 ? 1 : k->ds.confidence[i];
        rc = rt_manifest_append_labeled(&k->text, job->name, &line, conf, true, &err);
        n_train++;
        if (!seen[label]) {
            seen[label] = true;
            n_seen++;
        }
    }
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_manifest_failed exec=%s error=%s", x->id,
               rt_q(err.msg));
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    char reason[200] = "";
    if (n_train < MIN_TRAIN || n_val < MIN_VALIDATION)
        rt_snprintf(reason, sizeof(reason),
                    "too few images labeled by people to train on (%d) and check with (%d)",
                    n_train, n_val);
    else if (n_seen < 2)
        rt_snprintf(reason, sizeof(reason), "people's labels so far have a single label");
    if (reason[0]) {
        rt__lj_run_free(k);
        skip(x, reason);
        return;
    }
    char version[128], manifest[RT_STORE_KEY_MAX + 1], eval[RT_STORE_KEY_MAX + 1];
    version_of(x, version, sizeof(version));
    rt_snprintf(manifest, sizeof(manifest), "%sauto/train.manifest", job->output_prefix);
    rt_snprintf(eval, sizeof(eval), "%sauto/evaluation/", job->output_prefix);
    rt__ctx_set_str(x, "auto_version", version);
    rt__ctx_set_str(x, "auto_manifest", manifest);
    rt__ctx_set_str(x, "auto_evaluation", eval);
    rt__ctx_set_int(x, "auto_train_images", n_train);
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=auto_train exec=%s job=%s version=%s images=%d held_out=%d", x->id, job->name,
           version, n_train, n_val);
    struct rt_store *s = x->m->env.store;
    rc = s->ops->put(s, manifest, k->text.data, k->text.len, "application/x-ndjson", manifest_put,
                     x);
    rt__lj_run_free(k);
    if (rc) {
        struct rt_error e2;
        rt_error_set(&e2, rc, "%s", rt_strerror(rc));
        manifest_put(rc, &e2, x);
    }
}

void rt__lj_step_auto_train(struct rt_exec *x)
{
    rt__lj_start(x, true, train_ready);
}

/* ---- AUTO_WAIT_TRAINING, AUTO_START, AUTO_WAIT_RUNNING ---- */

/* Counts one more attempt of what; false (and skipped) once there were MAX_ATTEMPTS. */
static bool attempt(struct rt_exec *x, const char *what)
{
    int64_t n = rt__ctx_int(x, "auto_attempts", 0) + 1;
    rt__ctx_set_int(x, "auto_attempts", n);
    if (n <= MAX_ATTEMPTS)
        return true;
    char reason[200];
    rt_snprintf(reason, sizeof(reason), "%s failed %d times", what, MAX_ATTEMPTS);
    skip(x, reason);
    return false;
}

static void training_described(int status,
                               const struct rt_model_info *info,
                               const struct rt_error *err,
                               void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_describe_failed exec=%s error=%s", x->id,
               rt_q(err ? err->msg : rt_strerror(status)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    switch (info->status) {
    case RT_MODEL_TRAINING_IN_PROGRESS:
        rt__exec_wait(x, x->m->env.engine_poll_ms > 0 ? x->m->env.engine_poll_ms : 1000);
        return;
    case RT_MODEL_UNKNOWN: /* a training lost to a restart: train again */
        if (attempt(x, "training the job's model"))
            rt__exec_next(x, LJ_AUTO_TRAIN, NULL, NULL, NULL);
        return;
    case RT_MODEL_TRAINING_FAILED: {
        char reason[400];
        rt_snprintf(reason, sizeof(reason), "the job's model did not train: %s", info->message);
        skip(x, reason);
        return;
    }
    default: {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "f1", info->f1);
        cJSON_AddNumberToObject(out, "images_used", (double)info->images_used);
        rt__ctx_set_int(x, "auto_attempts", 0);
        rt__exec_next(x, LJ_AUTO_START, out, NULL, NULL);
    }
    }
}

static void describe(struct rt_exec *x, rt_engine_describe_fn *cb)
{
    struct rt_engine *e = x->m->env.engine;
    int rc = e->ops->describe(e, rt__ctx_str(x, "auto_version"), cb, x);
    if (rc) {
        struct rt_error err;
        rt_error_set(&err, rc, "%s", rt_strerror(rc));
        cb(rc, NULL, &err, x);
    }
}

void rt__lj_step_auto_wait_training(struct rt_exec *x)
{
    describe(x, training_described);
}

static void started(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status == RT_EBUSY) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    if (status) {
        char reason[400];
        rt_snprintf(reason, sizeof(reason), "the job's model did not start: %s",
                    err ? err->msg : rt_strerror(status));
        skip(x, reason);
        return;
    }
    rt__exec_next(x, LJ_AUTO_WAIT_RUNNING, NULL, NULL, NULL);
}

void rt__lj_step_auto_start(struct rt_exec *x)
{
    struct rt_engine *e = x->m->env.engine;
    int rc = e->ops->start(e, rt__ctx_str(x, "auto_version"), 1, started, x);
    if (rc) {
        struct rt_error err;
        rt_error_set(&err, rc, "%s", rt_strerror(rc));
        started(rc, &err, x);
    }
}

static void running_described(int status,
                              const struct rt_model_info *info,
                              const struct rt_error *err,
                              void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_describe_failed exec=%s error=%s", x->id,
               rt_q(err ? err->msg : rt_strerror(status)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    if (info->status == RT_MODEL_RUNNING) {
        rt__exec_next(x, LJ_AUTO_LABEL, NULL, NULL, NULL);
    } else if (info->status == RT_MODEL_STARTING) {
        rt__exec_wait(x, x->m->env.engine_poll_ms > 0 ? x->m->env.engine_poll_ms : 1000);
    } else if (info->status == RT_MODEL_TRAINING_COMPLETED || info->status == RT_MODEL_STOPPED) {
        if (attempt(x, "starting the job's model")) /* stopped meanwhile (a restart) */
            rt__exec_next(x, LJ_AUTO_START, NULL, NULL, NULL);
    } else {
        char reason[400];
        rt_snprintf(reason, sizeof(reason), "the job's model is %s: %s",
                    rt_model_status_name(info->status), info->message);
        skip(x, reason);
    }
}

void rt__lj_step_auto_wait_running(struct rt_exec *x)
{
    describe(x, running_described);
}

/* ---- AUTO_LABEL ---- */

struct calibration {
    double threshold; /* model confidence 0..100; > 100 when no threshold meets the target */
    double accuracy;  /* measured on the held-out images at or above it */
    int validation;   /* held-out images classified */
    int at_threshold; /* of them, at or above the threshold */
};

struct pair {
    double conf;
    bool right;
};

static int cmp_pair_desc(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return (x->conf < y->conf) - (x->conf > y->conf);
}

/* The lowest threshold at which the held-out images at or above it are right at least
 * target of the time (with at least MIN_AT_THRESHOLD of them). */
static struct calibration calibrate(struct pair *p, int n, double target)
{
    struct calibration c = {.threshold = 101, .validation = n};
    qsort(p, (size_t)n, sizeof(*p), cmp_pair_desc);
    int right = 0;
    for (int j = 0; j < n; j++) {
        right += p[j].right;
        if (j + 1 < n && p[j + 1].conf == p[j].conf)
            continue; /* a threshold takes every image of the same confidence */
        double acc = (double)right / (j + 1);
        if (acc >= target && j + 1 >= MIN_AT_THRESHOLD) {
            c.threshold = p[j].conf;
            c.accuracy = acc;
            c.at_threshold = j + 1;
        }
    }
    return c;
}

struct auto_tx {
    struct lj_run *k;
    double threshold;
    bool release_only;
    char *stats; /* the job's stats with the automated labeling's figures */
};

static int tx_auto(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)x;
    struct auto_tx *t = ud;
    struct lj_run *k = t->k;
    int rc = t->stats ? rt_jbatch_label_job_stats(b, k->job.name, t->stats) : RT_ENOMEM;
    int64_t now = rt_now_ms();
    if (!rc && t->release_only) {
        for (int i = 0; !rc && i < k->c.n_items; i++)
            if (k->c.items[i].held)
                rc = rt_jbatch_label_task_release(b, k->c.items[i].task_id);
        return rc;
    }
    for (size_t n = 0; !rc && n < k->n_targets; n++) {
        const struct rt_label_item *it = &k->c.items[k->targets[n]];
        if (!it->held)
            continue; /* a held-out image people labeled: only measured */
        const char *label = k->pred_label[n];
        if (label)
            rc = rt_jbatch_label_task_predicted(b, it->task_id, label, k->pred_conf[n], k->version);
        if (rc)
            break;
        bool sure = label && k->pred_conf[n] >= t->threshold &&
                    rt_label_job_label_index(&k->job, label) >= 0;
        rc = sure ? rt_jbatch_label_task_machine(b, it->task_id, label, now)
                  : rt_jbatch_label_task_release(b, it->task_id);
    }
    return rc;
}

static char *stats_text(struct lj_run *k)
{
    cJSON *s = rt__lj_stats(k);
    char *text = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    return text;
}

static void version_stopped(int status, const struct rt_error *err, void *ud)
{
    char *version = ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_stop_failed version=%s error=%s", version,
               rt_q(err ? err->msg : rt_strerror(status)));
    rt_free(version);
}

/* The job's model has done its work: stop it (it costs money on Rekognition). */
static void stop_version(struct rt_exec *x, const char *version)
{
    struct rt_engine *e = x->m->env.engine;
    char *v = rt_strdup(version);
    if (v && e->ops->stop(e, v, version_stopped, v) != 0)
        rt_free(v);
}

static void labeled(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    struct pair *pairs = rt_calloc(k->n_targets + 1, sizeof(*pairs));
    if (!pairs) {
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    int n_pairs = 0;
    for (size_t n = 0; n < k->n_targets; n++) {
        int i = k->targets[n];
        if (k->c.items[i].held || !k->pred_label[n])
            continue;
        int p = rt_label_job_label_index(&k->job, k->pred_label[n]);
        pairs[n_pairs++] = (struct pair){k->pred_conf[n], p >= 0 && p == k->ds.label[i]};
    }
    struct calibration c = calibrate(pairs, n_pairs, k->job.target_accuracy);
    rt_free(pairs);
    int64_t machine = 0, people = 0;
    for (size_t n = 0; n < k->n_targets; n++) {
        if (!k->c.items[k->targets[n]].held)
            continue;
        bool sure = k->pred_label[n] && k->pred_conf[n] >= c.threshold &&
                    rt_label_job_label_index(&k->job, k->pred_label[n]) >= 0;
        machine += sure;
        people += !sure;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "version", k->version);
    cJSON_AddNumberToObject(a, "target_accuracy", k->job.target_accuracy);
    if (c.threshold <= 100) {
        cJSON_AddNumberToObject(a, "threshold", c.threshold);
        cJSON_AddNumberToObject(a, "measured_accuracy", c.accuracy);
    } else {
        cJSON_AddNullToObject(a, "threshold");
        cJSON_AddNullToObject(a, "measured_accuracy");
    }
    cJSON_AddNumberToObject(a, "validation_images", c.validation);
    cJSON_AddNumberToObject(a, "validation_at_threshold", c.at_threshold);
    cJSON_AddNumberToObject(a, "machine_labeled", (double)machine);
    cJSON_AddNumberToObject(a, "sent_to_people", (double)people);
    cJSON_AddNumberToObject(a, "trained_on", (double)rt__ctx_int(x, "auto_train_images", 0));
    cJSON *out = cJSON_Duplicate(a, true);
    cJSON_DeleteItemFromObjectCaseSensitive(x->ctx, "auto_label");
    cJSON_AddItemToObject(x->ctx, "auto_label", a);
    rt__ctx_set_int(x, "auto_done", 1);
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=auto_labeled exec=%s job=%s threshold=%.2f accuracy=%.3f validation=%d "
           "machine=%lld people=%lld",
           x->id, k->job.name, c.threshold, c.accuracy, c.validation, (long long)machine,
           (long long)people);
    stop_version(x, k->version);
    struct auto_tx t = {.k = k, .threshold = c.threshold, .stats = stats_text(k)};
    rt__exec_next(x, LJ_WAIT_ANSWERS, out, tx_auto, &t);
    cJSON_free(t.stats);
    rt__lj_run_free(k);
}

static void label_targets(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    rt_strlcpy(k->version, rt__ctx_str(x, "auto_version"), sizeof(k->version));
    k->targets = rt_malloc(((size_t)k->c.n_items + 1) * sizeof(int));
    if (!k->targets) {
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    int n_human = 0;
    for (int i = 0; i < k->c.n_items; i++) {
        if (k->c.items[i].held)
            k->targets[k->n_targets++] = i;
        else if (is_human(k, i) && n_human++ % 3 == 2)
            k->targets[k->n_targets++] = i; /* the held-out third, as AUTO_TRAIN left it out */
    }
    rt__lj_predict(k, labeled);
}

static void released(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "skipped", rt__ctx_str(x, "auto_skip"));
    cJSON_AddNumberToObject(a, "machine_labeled", 0);
    cJSON *out = cJSON_Duplicate(a, true);
    cJSON_DeleteItemFromObjectCaseSensitive(x->ctx, "auto_label");
    cJSON_AddItemToObject(x->ctx, "auto_label", a);
    rt__ctx_set_int(x, "auto_done", 1);
    struct auto_tx t = {.k = k, .release_only = true, .stats = stats_text(k)};
    rt__exec_next(x, LJ_WAIT_ANSWERS, out, tx_auto, &t);
    cJSON_free(t.stats);
    rt__lj_run_free(k);
}

static void
model_ready(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=auto_describe_failed exec=%s error=%s", x->id,
               rt_q(err ? err->msg : rt_strerror(status)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    if (info->status != RT_MODEL_RUNNING) {
        /* Stopped by a restart between AUTO_WAIT_RUNNING and here: start it again, or give up
         * after a few. */
        if (attempt(x, "starting the job's model"))
            rt__exec_next(x, LJ_AUTO_START, NULL, NULL, NULL);
        return;
    }
    rt__lj_start(x, true, label_targets);
}

void rt__lj_step_auto_label(struct rt_exec *x)
{
    if (rt__ctx_str(x, "auto_skip")) {
        rt__lj_start(x, false, released);
        return;
    }
    describe(x, model_ready);
}
