/*
 * labeling.c - the labeling job workflow (issue #10; docs/labeling.md), one execution per job:
 *
 *   LIST -> PREDICT -> WAIT_ANSWERS -> CONSOLIDATE -> OUTPUT -> FOLD -> DONE   (a labeling job)
 *                          ^              |     \-> MOVE -> DONE            (a verification job)
 *                          '--------------'  (below the minimum confidence: one more worker)
 *   CONSOLIDATE -> AUTO_TRAIN -> AUTO_WAIT_TRAINING -> AUTO_START -> AUTO_WAIT_RUNNING ->
 *       AUTO_LABEL -> WAIT_ANSWERS                     (automated labeling, labeling_auto.c)
 *   FAILED from any step.
 *
 * Design:
 *  - The job's row (journal_label_jobs.h) says what was asked; the execution carries only the
 *    job's name. Every step reads the row again, so nothing big lives in the context.
 *  - LIST turns every image under the prefix into a review task whose id derives from the job's
 *    name and the key (rt_label_task_id): creating them again after a crash finds them (the
 *    journal ignores an existing id), and a task a consolidation reopened keeps its count.
 *  - PREDICT: when a model is deployed, its prediction for every image is recorded on the task;
 *    the consolidation takes it as one more opinion (the CROWDLAB idea) and people are served
 *    the images it is least sure of first.
 *  - WAIT_ANSWERS looks at the job's counts every second (one indexed query, nothing written)
 *    until every task has the answers it needs (tasks held for the machine's pass excepted).
 *  - CONSOLIDATE, OUTPUT, FOLD and MOVE gather the answers (label_collect.h) and run the
 *    consolidation on the thread pool. It is deterministic for the same answers, so each step
 *    computes it again instead of storing it: a restart writes the same manifests.
 *  - Stores writes are idempotent: the manifests are rewritten whole under the same keys, folded
 *    copies have names derived from the job and the key, and MOVE copies before it deletes, so a
 *    repeated MOVE finds the copy and only deletes.
 */
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"
#include "labeling_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/hash.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "retraind/label_collect.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/manifest.h"
#include "retraind/review.h"
#include "retraind/store.h"

#define RETRY_MS LJ_RETRY_MS
#define WAIT_POLL_MS 1000
#define TASKS_PER_BATCH 500
#define COPIES_IN_FLIGHT 4
#define PREDICTIONS_IN_FLIGHT 4
/* Ground Truth's limit on the lines of a manifest. */
#define MAX_IMAGES 250000
/* Ground Truth's limit on a manifest's size. */
#define MANIFEST_MAX ((size_t)1 << 30)

int rt_label_task_id(const char *job, const char *key, char *out, size_t size)
{
    size_t jl = strlen(job), kl = strlen(key);
    char *buf = rt_malloc(jl + kl + 2);
    if (!buf)
        return RT_ENOMEM;
    memcpy(buf, job, jl);
    buf[jl] = '\n';
    memcpy(buf + jl + 1, key, kl + 1);
    uint64_t h = rt_hash64(buf, jl + 1 + kl);
    rt_free(buf);
    return rt_snprintf(out, size, "lj-%016llx", (unsigned long long)h) ? RT_EINVAL : 0;
}

/* Reads the job of x; a job that vanished ends the execution. Returns: 0, or non-zero when the
 * step has already been ended or rescheduled. */
static int load_job(struct rt_exec *x, struct rt_label_job *job)
{
    const char *name = rt__ctx_str(x, "job");
    int rc = name ? rt_journal_label_job_get(x->m->env.journal, name, job) : RT_ENOTFOUND;
    if (rc == RT_ENOTFOUND) {
        rt__exec_finish(x, LJ_FAILED, NULL, "the labeling job's row is gone from the journal", NULL,
                        NULL);
        return rc;
    }
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_job_read_failed exec=%s job=%s error=%s",
               x->id, rt_q(name), rt_q(rt_strerror(rc)));
        rt__exec_wait(x, RETRY_MS);
    }
    return rc;
}

/* The folder label of key in a verification job (prefix/<label>/<file>), or false. */
static bool current_label(const struct rt_label_job *job, const char *key, struct rt_str *label)
{
    return rt_store_training_label(job->prefix, key, label);
}

static int tx_job_failed(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    return rt_jbatch_label_job_finish(b, rt__ctx_str(x, "job"), "failed", NULL, rt_now_ms());
}

void rt__lj_fail(struct rt_exec *x, const char *msg)
{
    rt__exec_finish(x, LJ_FAILED, NULL, msg, tx_job_failed, NULL);
}

/* ---- LIST ---- */

struct list_run {
    struct rt_exec *x;
    struct rt_label_job job;
    char **keys; /* owned, sorted once the listing ends */
    size_t n, cap;
    size_t created; /* keys whose tasks are durable */
    bool too_many;
    /* Automated labeling: tasks whose id sorts after this one wait for the machine's pass. */
    char cutoff[RT_REVIEW_TASK_ID_MAX + 1];
};

static void list_free(struct list_run *l)
{
    for (size_t i = 0; i < l->n; i++)
        rt_free(l->keys[i]);
    rt_free(l->keys);
    rt_label_job_cleanup(&l->job);
    rt_free(l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const struct rt_label_job *job, const char *key)
{
    if (!rt_store_is_image_key(key))
        return false;
    if (strcmp(job->kind, "verify") != 0)
        return true;
    struct rt_str label;
    if (!current_label(job, key, &label))
        return false;
    for (int k = 0; k < job->n_labels; k++)
        if (strlen(job->labels[k]) == label.len && memcmp(job->labels[k], label.p, label.len) == 0)
            return true;
    return false; /* a folder that is not one of the job's labels is not checked */
}

static int tx_started(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    return rt_jbatch_label_job_started(b, rt__ctx_str(x, "job"), x->id);
}

static void create_next_batch(struct list_run *l);

static void batch_written(int status, const struct rt_error *err, void *ud)
{
    struct list_run *l = ud;
    struct rt_exec *x = l->x;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_tasks_failed exec=%s job=%s error=%s",
               x->id, l->job.name, rt_q(err ? err->msg : rt_strerror(status)));
        list_free(l);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    size_t left = l->n - l->created;
    l->created += left < TASKS_PER_BATCH ? left : TASKS_PER_BATCH;
    create_next_batch(l);
}

static int add_task(struct list_run *l, struct rt_jbatch *b, const char *key, int64_t now)
{
    const struct rt_label_job *job = &l->job;
    char id[RT_REVIEW_TASK_ID_MAX + 1];
    int rc = rt_label_task_id(job->name, key, id, sizeof(id));
    if (rc)
        return rc;
    const char *options[RT_REVIEW_MAX_OPTIONS];
    size_t n_options = 0;
    char current[128] = "";
    if (strcmp(job->kind, "verify") == 0) {
        /* The current label first: "correct" is one key away. */
        struct rt_str label;
        if (current_label(job, key, &label) && label.len < sizeof(current)) {
            memcpy(current, label.p, label.len);
            current[label.len] = '\0';
            options[n_options++] = current;
        }
    }
    for (int k = 0; k < job->n_labels && n_options < RT_REVIEW_MAX_OPTIONS; k++)
        if (strcmp(job->labels[k], current) != 0)
            options[n_options++] = job->labels[k];
    struct rt_review_task t = {
        .id = id,
        .source = RT_REVIEW_SOURCE_LABELING_JOB,
        .job = job->name,
        .key = key,
        .detected_label = current[0] ? current : NULL,
        .confidence = -1,
        .options = options,
        .n_options = n_options,
        .instructions = job->instructions,
        .answers_needed = job->workers_per_image,
    };
    rc = rt_jbatch_review_create(b, &t, now);
    if (!rc && l->cutoff[0] && strcmp(id, l->cutoff) > 0)
        rc = rt_jbatch_label_task_hold(b, id);
    return rc;
}

static void create_next_batch(struct list_run *l)
{
    struct rt_exec *x = l->x;
    if (l->created >= l->n) {
        RT_LOG(RT_LOG_NOTICE, "workflow", "event=label_job_listed exec=%s job=%s images=%zu", x->id,
               l->job.name, l->n);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "images", (double)l->n);
        cJSON_AddStringToObject(out, "prefix", l->job.prefix);
        list_free(l);
        rt__exec_next(x, LJ_PREDICT, out, tx_started, NULL);
        return;
    }
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    int64_t now = rt_now_ms();
    for (size_t i = l->created; !rc && i < l->n && i < l->created + TASKS_PER_BATCH; i++)
        rc = add_task(l, b, l->keys[i], now);
    if (!rc)
        rc = rt_journal_submit(x->m->env.journal, b, batch_written, l);
    else if (b)
        rt_jbatch_free(b);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_tasks_failed exec=%s job=%s error=%s",
               x->id, l->job.name, rt_q(rt_strerror(rc)));
        list_free(l);
        rt__exec_wait(x, RETRY_MS);
    }
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Automated labeling: people label a first sample (the tasks whose ids sort first: ids are
 * hashes, so the sample is spread over the prefix); the rest wait for the machine's pass. */
static int choose_cutoff(struct list_run *l)
{
    size_t human = rt__lj_auto_human_sample(l->n);
    if (human >= l->n)
        return 0; /* too few images to be worth a model: people label them all */
    char(*ids)[RT_REVIEW_TASK_ID_MAX + 1] = rt_malloc(l->n * sizeof(*ids));
    if (!ids)
        return RT_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (rt_label_task_id(l->job.name, l->keys[i], ids[i], sizeof(ids[i]))) {
            rt_free(ids);
            return RT_ENOMEM;
        }
    qsort(ids, l->n, sizeof(*ids), cmp_id);
    rt_strlcpy(l->cutoff, ids[human - 1], sizeof(l->cutoff));
    rt_free(ids);
    return 0;
}

static int list_page(const struct rt_store_entry *e,
                     size_t n,
                     bool last,
                     int status,
                     const struct rt_error *err,
                     void *ud)
{
    struct list_run *l = ud;
    struct rt_exec *x = l->x;
    for (size_t i = 0; !status && i < n && !l->too_many; i++) {
        if (!wanted(&l->job, e[i].key))
            continue;
        if (l->n == MAX_IMAGES) {
            l->too_many = true;
            break;
        }
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            char **k = rt_realloc(l->keys, cap * sizeof(char *));
            if (!k) {
                status = RT_ENOMEM;
                break;
            }
            l->keys = k;
            l->cap = cap;
        }
        if (!(l->keys[l->n] = rt_strdup(e[i].key))) {
            status = RT_ENOMEM;
            break;
        }
        l->n++;
    }
    if (!last && !status && !l->too_many)
        return 0;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_list_failed exec=%s job=%s error=%s", x->id,
               l->job.name, rt_q(err ? err->msg : rt_strerror(status)));
        list_free(l);
        rt__exec_wait(x, RETRY_MS);
        return 1;
    }
    char msg[600];
    if (l->too_many) {
        rt_snprintf(msg, sizeof(msg), "more than %d images under %s (Ground Truth's limit)",
                    MAX_IMAGES, l->job.prefix);
        list_free(l);
        rt__lj_fail(x, msg);
        return 1;
    }
    if (l->n == 0) {
        rt_snprintf(msg, sizeof(msg), "no images (.jpg, .jpeg, .png) under %s%s", l->job.prefix,
                    strcmp(l->job.kind, "verify") == 0 ? " in folders named after the job's labels"
                                                       : "");
        list_free(l);
        rt__lj_fail(x, msg);
        return 1;
    }
    qsort(l->keys, l->n, sizeof(char *), cmp_str);
    if (l->job.auto_label && choose_cutoff(l)) {
        list_free(l);
        rt__exec_wait(x, RETRY_MS);
        return 1;
    }
    create_next_batch(l);
    return 1;
}

static void step_list(struct rt_exec *x)
{
    struct list_run *l = rt_calloc(1, sizeof(*l));
    if (!l) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    l->x = x;
    if (load_job(x, &l->job)) {
        rt_free(l);
        return;
    }
    struct rt_store *s = x->m->env.store;
    int rc = s->ops->list(s, l->job.prefix, 1000, RT_STORE_LIST_KEYS_ONLY, list_page, l);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_list_failed exec=%s job=%s error=%s", x->id,
               l->job.name, rt_q(rt_strerror(rc)));
        list_free(l);
        rt__exec_wait(x, RETRY_MS);
    }
}

/* ---- WAIT_ANSWERS ---- */

static void step_wait_answers(struct rt_exec *x)
{
    const char *name = rt__ctx_str(x, "job");
    struct rt_label_job_counts c;
    int rc = name ? rt_journal_label_job_counts(x->m->env.journal, name, &c) : RT_ENOTFOUND;
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_counts_failed exec=%s job=%s error=%s",
               x->id, rt_q(name), rt_q(rt_strerror(rc)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    if (c.total == 0 || c.answered + c.held < c.total) {
        rt__exec_wait(x, WAIT_POLL_MS);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "labeled", (double)c.answered);
    cJSON_AddNumberToObject(out, "answers", (double)c.answers);
    if (c.held)
        cJSON_AddNumberToObject(out, "held", (double)c.held);
    rt__exec_next(x, LJ_CONSOLIDATE, out, NULL, NULL);
}

/* ---- the consolidation, on the thread pool ---- */

void rt__lj_run_free(struct lj_run *k)
{
    if (k->have_ds)
        rt_ds_result_free(&k->ds);
    rt_label_collection_free(&k->c);
    rt_label_job_cleanup(&k->job);
    rt_free(k->order);
    rt_free(k->targets);
    for (size_t i = 0; k->pred_label && i < k->n_targets; i++)
        rt_free(k->pred_label[i]);
    rt_free(k->pred_label);
    rt_free(k->pred_conf);
    rt_buf_cleanup(&k->text);
    rt_free(k);
}

static void consolidate_work(uv_work_t *w)
{
    rt_pool_thread_background();
    struct lj_run *k = w->data;
    k->rc = k->c.n_answers ? rt_label_consolidate(&k->c, &k->job, &k->ds) : RT_EINVAL;
    k->have_ds = k->rc == 0;
}

static void consolidate_after(uv_work_t *w, int status)
{
    struct lj_run *k = w->data;
    if (status)
        k->rc = RT_ECANCELED;
    if (k->rc) {
        struct rt_exec *x = k->x;
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_consolidate_failed exec=%s job=%s error=%s",
               x->id, k->job.name,
               rt_q(k->rc == RT_EINVAL ? "no answers with one of the job's labels"
                                       : rt_strerror(k->rc)));
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    k->done(k);
}

void rt__lj_start(struct rt_exec *x, bool consolidate, void (*done)(struct lj_run *k))
{
    struct lj_run *k = rt_calloc(1, sizeof(*k));
    if (!k) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    k->x = x;
    k->done = done;
    k->work.data = k;
    rt_buf_init(&k->text, MANIFEST_MAX);
    if (load_job(x, &k->job)) {
        rt_buf_cleanup(&k->text);
        rt_free(k);
        return;
    }
    int rc = rt_label_collect(x->m->env.journal, &k->job, &k->c);
    if (!rc && consolidate)
        rc = uv_queue_work(x->m->env.loop, &k->work, consolidate_work, consolidate_after);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_consolidate_failed exec=%s job=%s error=%s",
               x->id, k->job.name, rt_q(rt_strerror(rc)));
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    if (!consolidate)
        done(k);
}

static void consolidate_start(struct rt_exec *x, void (*done)(struct lj_run *k))
{
    rt__lj_start(x, true, done);
}

/* ---- predictions: read each image, classify it, a few at a time ---- */

struct predict_op {
    struct lj_run *k;
    size_t target;
    struct rt_buf body;
};

static void predict_pump(struct lj_run *k);

static void predict_end(struct predict_op *op)
{
    struct lj_run *k = op->k;
    rt_buf_cleanup(&op->body);
    rt_free(op);
    k->in_flight--;
    k->done_count++;
    predict_pump(k);
}

static void predicted(int status,
                      const struct rt_detection_label *labels,
                      size_t n,
                      const struct rt_error *err,
                      void *ud)
{
    struct predict_op *op = ud;
    struct lj_run *k = op->k;
    if (status || n == 0) {
        k->failed++;
        RT_LOG(RT_LOG_WARNING, "workflow",
               "event=label_predict_failed exec=%s job=%s key=%s error=%s", k->x->id, k->job.name,
               rt_q(k->c.items[k->targets[op->target]].key),
               rt_q(status ? (err ? err->msg : rt_strerror(status)) : "no label"));
    } else {
        k->pred_label[op->target] = rt_strdup(labels[0].name);
        k->pred_conf[op->target] = labels[0].confidence;
    }
    predict_end(op);
}

static void predict_read(int status, const struct rt_error *err, void *ud)
{
    struct predict_op *op = ud;
    struct lj_run *k = op->k;
    const char *key = k->c.items[k->targets[op->target]].key;
    struct rt_engine *e = k->x->m->env.engine;
    int rc = status;
    if (!rc)
        rc = e->ops->detect_key
                 ? e->ops->detect_key(e, k->version, key, op->body.data, op->body.len, 0, predicted,
                                      op)
                 : e->ops->detect(e, k->version, op->body.data, op->body.len, 0, predicted, op);
    if (rc) {
        k->failed++;
        RT_LOG(RT_LOG_WARNING, "workflow",
               "event=label_predict_failed exec=%s job=%s key=%s error=%s", k->x->id, k->job.name,
               rt_q(key), rt_q(status && err ? err->msg : rt_strerror(rc)));
        predict_end(op);
    }
}

static void predict_pump(struct lj_run *k)
{
    if (k->pumping)
        return; /* an image that failed at once, inside the loop below: the loop goes on */
    k->pumping = true;
    struct rt_store *s = k->x->m->env.store;
    while (k->in_flight < PREDICTIONS_IN_FLIGHT && k->next < k->n_targets) {
        struct predict_op *op = rt_calloc(1, sizeof(*op));
        if (!op) {
            k->failed++;
            k->next++;
            continue;
        }
        op->k = k;
        op->target = k->next++;
        rt_buf_init(&op->body, RT__DETECT_MAX_IMAGE);
        k->in_flight++;
        int rc =
            s->ops->get(s, k->c.items[k->targets[op->target]].key, &op->body, predict_read, op);
        if (rc)
            predict_read(rc, NULL, op);
    }
    k->pumping = false;
    if (!k->in_flight && k->next >= k->n_targets) {
        k->next = k->in_flight = 0;
        void (*done)(struct lj_run *) = k->done;
        done(k);
    }
}

void rt__lj_predict(struct lj_run *k, void (*done)(struct lj_run *k))
{
    k->done = done;
    k->next = k->in_flight = k->done_count = k->failed = 0;
    k->pred_label = rt_calloc(k->n_targets + 1, sizeof(char *));
    k->pred_conf = rt_calloc(k->n_targets + 1, sizeof(double));
    if (!k->pred_label || !k->pred_conf) {
        struct rt_exec *x = k->x;
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    predict_pump(k);
}

/* ---- PREDICT: a deployed model's opinion on every image ---- */

struct predicted_tx {
    struct lj_run *k;
};

static int tx_predicted(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)x;
    struct lj_run *k = ud;
    int rc = 0;
    for (size_t t = 0; !rc && t < k->n_targets; t++)
        if (k->pred_label[t])
            rc = rt_jbatch_label_task_predicted(b, k->c.items[k->targets[t]].task_id,
                                                k->pred_label[t], k->pred_conf[t], k->version);
    return rc;
}

static void predictions_done(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    size_t n = 0;
    for (size_t t = 0; t < k->n_targets; t++)
        n += k->pred_label[t] != NULL;
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=label_predicted exec=%s job=%s version=%s images=%zu failed=%zu", x->id,
           k->job.name, k->version, n, k->failed);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", k->version);
    cJSON_AddNumberToObject(out, "predicted", (double)n);
    cJSON_AddNumberToObject(out, "failed", (double)k->failed);
    rt__exec_next(x, LJ_WAIT_ANSWERS, out, tx_predicted, k);
    rt__lj_run_free(k);
}

static void predict_targets(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    struct rt_journal_model m;
    int rc = rt_journal_model_get_active(x->m->env.journal, &m);
    if (rc == RT_ENOTFOUND || strcmp(k->job.kind, "label") != 0 || k->job.auto_label) {
        /* No deployed model, or a job whose tasks carry something else: people alone. */
        rt__lj_run_free(k);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNullToObject(out, "model");
        rt__exec_next(x, LJ_WAIT_ANSWERS, out, NULL, NULL);
        return;
    }
    if (rc) {
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    rt_strlcpy(k->version, m.version, sizeof(k->version));
    k->targets = rt_malloc(((size_t)k->c.n_items + 1) * sizeof(int));
    if (!k->targets) {
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    for (int i = 0; i < k->c.n_items; i++)
        if (!k->c.items[i].has_prediction) /* a repeated step predicts what is left */
            k->targets[k->n_targets++] = i;
    rt__lj_predict(k, predictions_done);
}

static void step_predict(struct rt_exec *x)
{
    rt__lj_start(x, false, predict_targets);
}

/* The job's figures kept on its row (label-job status shows them). */
cJSON *rt__lj_stats(struct lj_run *k)
{
    cJSON *s = cJSON_CreateObject();
    struct rt_exec *x = k->x;
    cJSON_AddNumberToObject(s, "consolidations", (double)rt__ctx_int(x, "round", 0));
    cJSON_AddNumberToObject(s, "extra_asked", (double)rt__ctx_int(x, "extra_asked", 0));
    /* AUTO_LABEL's figures ride in the context: every later write of the stats keeps them. */
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x->ctx, "auto_label");
    cJSON *copy = a ? cJSON_Duplicate(a, true) : NULL;
    if (copy && !cJSON_AddItemToObject(s, "auto_label", copy))
        cJSON_Delete(copy);
    return s;
}

struct stats_tx {
    char *stats; /* owned JSON text */
    bool finish;
    const char *manifest;
    size_t n_reopen;
    struct lj_run *k;   /* reopen: items below the confidence */
    const bool *reopen; /* per item */
};

static int tx_stats(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    struct stats_tx *t = ud;
    const char *name = rt__ctx_str(x, "job");
    int rc = rt_jbatch_label_job_stats(b, name, t->stats);
    for (int i = 0; !rc && t->reopen && i < t->k->c.n_items; i++)
        if (t->reopen[i])
            rc = rt_jbatch_review_reopen(b, t->k->c.items[i].task_id,
                                         t->k->c.items[i].n_answers + 1);
    if (!rc && t->finish)
        rc = rt_jbatch_label_job_finish(b, name, "done", t->manifest, rt_now_ms());
    return rc;
}

/* ---- CONSOLIDATE ---- */

static void consolidated(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    const struct rt_label_job *job = &k->job;
    bool *reopen = rt_calloc((size_t)k->c.n_items + 1, sizeof(bool));
    if (!reopen) {
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    size_t n_reopen = 0, below = 0, held = 0;
    for (int i = 0; i < k->c.n_items; i++) {
        held += k->c.items[i].held;
        /* Only what people answered is theirs to improve (not the machine's labels). */
        if (!k->c.items[i].n_answers || k->ds.confidence[i] >= job->min_confidence)
            continue;
        below++;
        if (k->c.items[i].n_answers < job->max_workers) {
            reopen[i] = true;
            n_reopen++;
        }
    }
    rt__ctx_set_int(x, "round", rt__ctx_int(x, "round", 0) + 1);
    rt__ctx_set_int(x, "extra_asked", rt__ctx_int(x, "extra_asked", 0) + (int64_t)n_reopen);
    cJSON *stats = rt__lj_stats(k);
    cJSON_AddNumberToObject(stats, "below_confidence", (double)below);
    struct stats_tx t = {.stats = cJSON_PrintUnformatted(stats), .k = k, .reopen = reopen};
    cJSON_Delete(stats);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "images", k->c.n_items);
    cJSON_AddNumberToObject(out, "workers", k->c.n_workers);
    cJSON_AddNumberToObject(out, "below_confidence", (double)below);
    cJSON_AddNumberToObject(out, "asked_more", (double)n_reopen);
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=label_consolidated exec=%s job=%s images=%d below=%zu asked_more=%zu", x->id,
           job->name, k->c.n_items, below, n_reopen);
    int next = n_reopen                                  ? LJ_WAIT_ANSWERS
               : strcmp(job->kind, "verify") == 0        ? LJ_MOVE
               : held && !rt__ctx_int(x, "auto_done", 0) ? LJ_AUTO_TRAIN
                                                         : LJ_OUTPUT;
    if (!t.stats) {
        cJSON_Delete(out);
        rt_free(reopen);
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    /* The batch is built inside rt__exec_next: t, reopen and k must live until it returns. */
    rt__exec_next(x, next, out, tx_stats, &t);
    cJSON_free(t.stats);
    rt_free(reopen);
    rt__lj_run_free(k);
}

static void step_consolidate(struct rt_exec *x)
{
    consolidate_start(x, consolidated);
}

/* ---- OUTPUT ---- */

/* The label item i ends with: the machine's (automated labeling) or the consolidation of
 * people's answers. Returns: the class index, or -1 when nobody labeled it; *conf 0..1. */
static int final_label(const struct lj_run *k, int i, double *conf, bool *human)
{
    const struct rt_label_item *it = &k->c.items[i];
    *human = it->machine_label < 0;
    if (it->machine_label >= 0) {
        *conf = it->predicted == it->machine_label ? it->predicted_conf : 0;
        return it->machine_label;
    }
    if (!it->n_answers || !k->have_ds || k->ds.label[i] < 0) {
        *conf = 0;
        return -1;
    }
    *conf = k->ds.confidence[i] > 1 ? 1 : k->ds.confidence[i];
    return k->ds.label[i];
}

static const struct lj_run *sort_ctx;

static int cmp_item_key(const void *a, const void *b)
{
    const struct rt_label_item *items = sort_ctx->c.items;
    return strcmp(items[*(const int *)a].key, items[*(const int *)b].key);
}

/* k->order = the items in key order (manifests and copies go in that order). */
static int order_by_key(struct lj_run *k)
{
    k->order = rt_malloc(((size_t)k->c.n_items + 1) * sizeof(int));
    if (!k->order)
        return RT_ENOMEM;
    for (int i = 0; i < k->c.n_items; i++)
        k->order[i] = i;
    sort_ctx = k; /* loop thread only */
    qsort(k->order, (size_t)k->c.n_items, sizeof(int), cmp_item_key);
    sort_ctx = NULL;
    return 0;
}

void rt__lj_output_key(const struct rt_label_job *job, const char *file, char *out, size_t size)
{
    size_t n = strlen(job->output_prefix);
    bool slash = n && job->output_prefix[n - 1] == '/';
    rt_snprintf(out, size, "%s%smanifests/%s", job->output_prefix, slash ? "" : "/", file);
}

static int
build_manifests(struct lj_run *k, struct rt_buf *input, struct rt_buf *output, struct rt_error *err)
{
    const struct rt_label_job *job = &k->job;
    const char *bucket = k->x->m->env.store->bucket_name;
    for (int n = 0; n < k->c.n_items; n++) {
        int i = k->order[n];
        const struct rt_label_item *it = &k->c.items[i];
        int rc = rt_manifest_append_source(input, bucket, it->key, err);
        if (rc)
            return rc;
        double conf;
        bool human;
        int label = final_label(k, i, &conf, &human);
        if (label < 0)
            continue; /* no answer with one of the labels: not labeled */
        char date[RT_MANIFEST_DATE_MAX];
        struct rt_manifest_line line = {
            .bucket = bucket,
            .key = it->key,
            .label = job->labels[label],
            .class_index = label,
            .creation_date = rt_manifest_date(it->last_at_ms, date, sizeof(date)),
            .job_name = job->name,
        };
        if ((rc = rt_manifest_append_labeled(output, job->name, &line, conf, human, err)))
            return rc;
    }
    return 0;
}

static void output_put_done(int status, const struct rt_error *err, void *ud);

static void output_failed(struct lj_run *k, const char *what, const struct rt_error *err)
{
    struct rt_exec *x = k->x;
    RT_LOG(RT_LOG_WARNING, "workflow", "event=label_output_failed exec=%s job=%s what=%s error=%s",
           x->id, k->job.name, what, rt_q(err ? err->msg : "out of memory"));
    rt__lj_run_free(k);
    rt__exec_wait(x, RETRY_MS);
}

/* Tells people the job is done (written with the transition that ends it). */
static void notify_done(struct rt_exec *x, const struct rt_label_job *job, size_t moved)
{
    bool verify = strcmp(job->kind, "verify") == 0;
    struct rt_event ev = {.kind = RT_EV_LABEL_JOB_DONE,
                          .job = job->name,
                          .state = job->kind,
                          .images = rt__ctx_int(x, verify ? "checked" : "labeled", 0),
                          .machine = rt__ctx_int(x, "machine", 0),
                          .moved = (int64_t)moved,
                          .key = rt__ctx_str(x, "output_manifest")};
    rt__exec_notify(x, &ev);
}

static void outputs_written(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    char key[RT_STORE_KEY_MAX + 1];
    rt__lj_output_key(&k->job, "output/output.manifest", key, sizeof(key));
    size_t labeled = 0, machine = 0;
    for (int i = 0; i < k->c.n_items; i++) {
        double conf;
        bool human;
        if (final_label(k, i, &conf, &human) >= 0) {
            labeled++;
            machine += !human;
        }
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=label_manifests exec=%s job=%s key=%s images=%zu",
           x->id, k->job.name, rt_q(key), labeled);
    rt__ctx_set_str(x, "output_manifest", key);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "key", key);
    cJSON_AddNumberToObject(out, "images", (double)labeled);
    cJSON_AddNumberToObject(out, "machine_labeled", (double)machine);
    cJSON *stats = rt__lj_stats(k);
    struct stats_tx t = {.stats = cJSON_PrintUnformatted(stats), .manifest = key};
    cJSON_Delete(stats);
    if (!t.stats) {
        cJSON_Delete(out);
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    rt__ctx_set_int(x, "labeled", (int64_t)labeled);
    rt__ctx_set_int(x, "machine", (int64_t)machine);
    if (k->job.fold) {
        rt__exec_next(x, LJ_FOLD, out, tx_stats, &t);
    } else {
        notify_done(x, &k->job, 0);
        t.finish = true;
        rt__exec_finish(x, LJ_DONE, out, NULL, tx_stats, &t);
    }
    cJSON_free(t.stats);
    rt__lj_run_free(k);
}

static void output_put_done(int status, const struct rt_error *err, void *ud)
{
    struct lj_run *k = ud;
    if (status) {
        output_failed(k, "put", err);
        return;
    }
    if (++k->done_count < 2) {
        /* The input manifest is written; now the output manifest. */
        char key[RT_STORE_KEY_MAX + 1];
        rt__lj_output_key(&k->job, "output/output.manifest", key, sizeof(key));
        struct rt_store *s = k->x->m->env.store;
        int rc = s->ops->put(s, key, k->text.data, k->text.len, "application/x-ndjson",
                             output_put_done, k);
        if (rc) {
            struct rt_error e;
            rt_error_set(&e, rc, "%s: %s", key, rt_strerror(rc));
            output_failed(k, "put", &e);
        }
        return;
    }
    outputs_written(k);
}

static void manifests_ready(struct lj_run *k)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_buf input;
    rt_buf_init(&input, MANIFEST_MAX);
    rt_buf_init(&k->text, MANIFEST_MAX);
    int rc = order_by_key(k);
    if (!rc)
        rc = build_manifests(k, &input, &k->text, &err);
    if (rc) {
        rt_buf_cleanup(&input);
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        /* A line the writer refuses (a key with a control character) will be refused again. */
        struct rt_exec *x = k->x;
        char msg[700];
        rt_snprintf(msg, sizeof(msg), "cannot write the manifests: %s", err.msg);
        rt__lj_run_free(k);
        if (rc == RT_ENOMEM)
            rt__exec_wait(x, RETRY_MS);
        else
            rt__lj_fail(x, msg);
        return;
    }
    char key[RT_STORE_KEY_MAX + 1];
    rt__lj_output_key(&k->job, "input.manifest", key, sizeof(key));
    struct rt_store *s = k->x->m->env.store;
    rc = s->ops->put(s, key, input.data, input.len, "application/x-ndjson", output_put_done, k);
    rt_buf_cleanup(&input); /* put copied it */
    if (rc) {
        rt_error_set(&err, rc, "%s: %s", key, rt_strerror(rc));
        output_failed(k, "put", &err);
    }
}

static void step_output(struct rt_exec *x)
{
    consolidate_start(x, manifests_ready);
}

/* ---- FOLD and MOVE: one copy after another, a few at a time ---- */

/* The folded copy's key: <labeled>/<label>/labeling-job-<job>-<path under the prefix, '/' as
 * '-'>, so two images with the same file name in different folders do not collide. */
static int fold_key(struct lj_run *k, int i, char *out, size_t size)
{
    const struct rt_label_job *job = &k->job;
    const char *key = k->c.items[i].key;
    size_t plen = strlen(job->prefix);
    const char *rel = strncmp(key, job->prefix, plen) == 0 ? key + plen : key;
    double conf;
    bool human;
    int label = final_label(k, i, &conf, &human);
    if (label < 0)
        return RT_EINVAL;
    if (rt_snprintf(out, size, "%s%s/labeling-job-%s-%s", k->x->m->env.cfg->store.prefixes.labeled,
                    job->labels[label], job->name, rel))
        return RT_ETOOBIG;
    for (char *p = out + strlen(out) - strlen(rel); *p; p++)
        if (*p == '/')
            *p = '-';
    return 0;
}

/* MOVE's destination: the same file name in the right label's folder of the job's prefix. */
static int move_key(struct lj_run *k, int i, char *out, size_t size)
{
    const char *key = k->c.items[i].key;
    const char *file = strrchr(key, '/');
    file = file ? file + 1 : key;
    return rt_snprintf(out, size, "%s%s/%s", k->job.prefix, k->job.labels[k->ds.label[i]], file)
               ? RT_ETOOBIG
               : 0;
}

struct copy_op {
    struct lj_run *k;
    int item;
    char dst[RT_STORE_KEY_MAX + 1];
};

static void pump(struct lj_run *k);
static bool pick_fold(struct lj_run *k, int i);
static bool pick_move(struct lj_run *k, int i);

static void op_end(struct copy_op *op, int status, const struct rt_error *err)
{
    struct lj_run *k = op->k;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_copy_failed exec=%s job=%s key=%s error=%s",
               k->x->id, k->job.name, rt_q(k->c.items[op->item].key),
               rt_q(err ? err->msg : rt_strerror(status)));
        k->failed++;
    } else {
        k->done_count++;
    }
    rt_free(op);
    k->in_flight--;
    pump(k);
}

static void deleted(int status, const struct rt_error *err, void *ud)
{
    op_end(ud, status, err);
}

static void delete_source(struct copy_op *op)
{
    struct rt_store *s = op->k->x->m->env.store;
    int rc = s->ops->del(s, op->k->c.items[op->item].key, deleted, op);
    if (rc)
        op_end(op, rc, NULL);
}

static void dst_checked(
    int status, bool exists, const struct rt_store_entry *e, const struct rt_error *err, void *ud)
{
    (void)e;
    struct copy_op *op = ud;
    if (!status && !exists) {
        struct rt_error e2;
        rt_error_set(&e2, RT_ENOTFOUND, "neither %s nor its copy %s exists",
                     op->k->c.items[op->item].key, op->dst);
        op_end(op, RT_ENOTFOUND, &e2);
        return;
    }
    if (status) {
        op_end(op, status, err);
        return;
    }
    delete_source(op); /* copied before a crash: only the delete is left */
}

static void copied(int status, const struct rt_error *err, void *ud)
{
    struct copy_op *op = ud;
    bool move = op->k->x->state == LJ_MOVE;
    if (move && status == RT_ENOTFOUND) {
        struct rt_store *s = op->k->x->m->env.store;
        int rc = s->ops->head(s, op->dst, dst_checked, op);
        if (rc)
            op_end(op, rc, NULL);
        return;
    }
    if (move && !status) {
        delete_source(op);
        return;
    }
    op_end(op, status, err);
}

static void copies_done(struct lj_run *k);

static void pump(struct lj_run *k)
{
    bool move = k->x->state == LJ_MOVE;
    while (k->in_flight < COPIES_IN_FLIGHT && k->next < (size_t)k->c.n_items) {
        int i = k->order[k->next++];
        if (!(move ? pick_move(k, i) : pick_fold(k, i)))
            continue;
        struct copy_op *op = rt_calloc(1, sizeof(*op));
        int rc = op ? 0 : RT_ENOMEM;
        if (!rc) {
            op->k = k;
            op->item = i;
            rc = move ? move_key(k, i, op->dst, sizeof(op->dst))
                      : fold_key(k, i, op->dst, sizeof(op->dst));
        }
        struct rt_store *s = k->x->m->env.store;
        if (!rc)
            rc = s->ops->copy(s, k->c.items[i].key, op->dst, copied, op);
        if (rc) {
            RT_LOG(RT_LOG_WARNING, "workflow",
                   "event=label_copy_failed exec=%s job=%s key=%s error=%s", k->x->id, k->job.name,
                   rt_q(k->c.items[i].key), rt_q(rt_strerror(rc)));
            rt_free(op);
            k->failed++;
            continue;
        }
        k->in_flight++;
    }
    if (!k->in_flight && k->next >= (size_t)k->c.n_items)
        copies_done(k);
}

static bool pick_fold(struct lj_run *k, int i)
{
    double conf;
    bool human;
    return final_label(k, i, &conf, &human) >= 0;
}

/* A verification moves an image whose consolidated label differs from its folder, when the
 * consolidation is sure enough (an uncertain image stays where it is). */
static bool pick_move(struct lj_run *k, int i)
{
    int label = k->ds.label[i];
    if (label < 0 || k->ds.confidence[i] < k->job.min_confidence)
        return false;
    struct rt_str cur;
    if (!current_label(&k->job, k->c.items[i].key, &cur))
        return false;
    const char *want = k->job.labels[label];
    bool same = strlen(want) == cur.len && memcmp(want, cur.p, cur.len) == 0;
    if (!same)
        k->moved++;
    return !same;
}

/* Per folder: images checked, and those whose consolidated label is another (error rate). */
static void add_error_rates(struct lj_run *k, cJSON *stats)
{
    cJSON *rates = cJSON_AddObjectToObject(stats, "error_rate");
    cJSON *checked = cJSON_AddObjectToObject(stats, "checked");
    size_t n_uncertain = 0;
    for (int f = 0; rates && checked && f < k->job.n_labels; f++) {
        const char *folder = k->job.labels[f];
        size_t n = 0, wrong = 0;
        for (int i = 0; i < k->c.n_items; i++) {
            struct rt_str cur;
            if (!current_label(&k->job, k->c.items[i].key, &cur) || strlen(folder) != cur.len ||
                memcmp(folder, cur.p, cur.len) != 0)
                continue;
            n++;
            int label = k->ds.label[i];
            if (label >= 0 && label != f) {
                if (k->ds.confidence[i] >= k->job.min_confidence)
                    wrong++;
                else
                    n_uncertain++;
            }
        }
        cJSON_AddNumberToObject(checked, folder, (double)n);
        cJSON_AddNumberToObject(rates, folder, n ? (double)wrong / (double)n : 0);
    }
    cJSON_AddNumberToObject(stats, "uncertain", (double)n_uncertain);
}

static void copies_done(struct lj_run *k)
{
    struct rt_exec *x = k->x;
    bool move = x->state == LJ_MOVE;
    if (k->failed) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=label_copies_retry exec=%s job=%s failed=%zu",
               x->id, k->job.name, k->failed);
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, move ? "moved" : "copies",
                            (double)(move ? k->moved : k->done_count));
    cJSON *stats = rt__lj_stats(k);
    if (move) {
        cJSON_AddNumberToObject(stats, "moved", (double)k->moved);
        add_error_rates(k, stats);
    } else {
        cJSON_AddNumberToObject(stats, "folded", (double)k->done_count);
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=label_%s exec=%s job=%s images=%zu",
           move ? "moved" : "folded", x->id, k->job.name, move ? k->moved : k->done_count);
    if (move)
        rt__ctx_set_int(x, "checked", k->c.n_items);
    struct stats_tx t = {.stats = cJSON_PrintUnformatted(stats),
                         .finish = true,
                         .manifest = rt__ctx_str(x, "output_manifest")};
    cJSON_Delete(stats);
    if (!t.stats) {
        cJSON_Delete(out);
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    notify_done(x, &k->job, move ? k->moved : 0);
    rt__exec_finish(x, LJ_DONE, out, NULL, tx_stats, &t);
    cJSON_free(t.stats);
    rt__lj_run_free(k);
}

static void copies_start(struct lj_run *k)
{
    if (order_by_key(k)) {
        struct rt_exec *x = k->x;
        rt__lj_run_free(k);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    pump(k);
}

static void step_fold(struct rt_exec *x)
{
    consolidate_start(x, copies_start);
}

static void step_move(struct rt_exec *x)
{
    consolidate_start(x, copies_start);
}

static const struct rt_state_def states[LJ_COUNT] = {
    [LJ_LIST] = {"LIST", step_list, false, {LJ_PREDICT, LJ_FAILED, -1}},
    [LJ_PREDICT] = {"PREDICT", step_predict, false, {LJ_WAIT_ANSWERS, LJ_FAILED, -1}},
    [LJ_WAIT_ANSWERS] = {"WAIT_ANSWERS", step_wait_answers, false, {LJ_CONSOLIDATE, LJ_FAILED, -1}},
    [LJ_CONSOLIDATE] = {"CONSOLIDATE",
                        step_consolidate,
                        false,
                        {LJ_WAIT_ANSWERS, LJ_AUTO_TRAIN, LJ_OUTPUT, LJ_MOVE, LJ_FAILED, -1}},
    [LJ_AUTO_TRAIN] = {"AUTO_TRAIN",
                       rt__lj_step_auto_train,
                       false,
                       {LJ_AUTO_WAIT_TRAINING, LJ_AUTO_LABEL, LJ_FAILED, -1}},
    [LJ_AUTO_WAIT_TRAINING] = {"AUTO_WAIT_TRAINING",
                               rt__lj_step_auto_wait_training,
                               false,
                               {LJ_AUTO_TRAIN, LJ_AUTO_START, LJ_AUTO_LABEL, LJ_FAILED, -1}},
    [LJ_AUTO_START] = {"AUTO_START",
                       rt__lj_step_auto_start,
                       false,
                       {LJ_AUTO_WAIT_RUNNING, LJ_AUTO_LABEL, LJ_FAILED, -1}},
    [LJ_AUTO_WAIT_RUNNING] = {"AUTO_WAIT_RUNNING",
                              rt__lj_step_auto_wait_running,
                              false,
                              {LJ_AUTO_LABEL, LJ_AUTO_START, LJ_FAILED, -1}},
    [LJ_AUTO_LABEL] = {"AUTO_LABEL",
                       rt__lj_step_auto_label,
                       false,
                       {LJ_WAIT_ANSWERS, LJ_AUTO_START, LJ_AUTO_LABEL, LJ_FAILED, -1}},
    [LJ_OUTPUT] = {"OUTPUT", step_output, false, {LJ_FOLD, LJ_DONE, LJ_FAILED, -1}},
    [LJ_FOLD] = {"FOLD", step_fold, false, {LJ_DONE, LJ_FAILED, -1}},
    [LJ_MOVE] = {"MOVE", step_move, false, {LJ_DONE, LJ_FAILED, -1}},
    [LJ_DONE] = {"DONE", NULL, true, {-1}},
    [LJ_FAILED] = {"FAILED", NULL, true, {-1}},
};

const struct rt_workflow_def rt__labeling_def = {
    .name = "labeling",
    .id_prefix = "lj",
    .states = states,
    .n_states = LJ_COUNT,
    .initial = LJ_LIST,
    .failed = LJ_FAILED,
};

/* ---- starting jobs ---- */

struct start_ctx {
    struct rt_machine *m;
    int started;
    int rc;
};

static bool running_here(struct rt_machine *m, const char *name)
{
    for (struct rt_exec *x = m->execs; x; x = x->next) {
        const char *job = x->def == &rt__labeling_def ? rt__ctx_str(x, "job") : NULL;
        if (job && strcmp(job, name) == 0 && !x->done)
            return true;
    }
    return false;
}

static int start_one(const struct rt_label_job *job, void *ud)
{
    struct start_ctx *s = ud;
    if (strcmp(job->state, "running") != 0 || job->exec_id[0] || running_here(s->m, job->name))
        return 0;
    cJSON *in = cJSON_CreateObject();
    char *input = NULL;
    if (in && cJSON_AddStringToObject(in, "job", job->name))
        input = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    int rc = input ? 0 : RT_ENOMEM;
    struct rt_exec *x = input ? rt__exec_start(s->m, &rt__labeling_def, input, &rc) : NULL;
    cJSON_free(input);
    if (!x) {
        s->rc = rc;
        return 0;
    }
    rt__ctx_set_str(x, "job", job->name);
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=label_job_start exec=%s job=%s kind=%s prefix=%s",
           x->id, job->name, job->kind, rt_q(job->prefix));
    struct rt_review *r = s->m->env.review;
    if (!r || strcmp(r->ops->name, "local") != 0)
        /* A job's tasks live in the journal: the portal serves them only with the local review
         * driver; otherwise only `retraind review answer` reaches them. */
        RT_LOG(RT_LOG_WARNING, "workflow",
               "event=label_job_no_portal job=%s review_driver=%s hint=\"labeling jobs are "
               "answered in the portal of review.driver local, or with retraind review answer\"",
               job->name, r ? r->ops->name : "none");
    s->started++;
    return 0;
}

int rt_machine_start_label_jobs(struct rt_machine *m)
{
    struct start_ctx s = {m, 0, 0};
    int rc = rt_journal_label_job_list(m->env.journal, start_one, &s);
    return rc ? rc : s.rc;
}
