/*
 * review_steps.c - the REVIEW and WAIT_ANSWER steps the detection and sampling workflows share.
 *
 * REVIEW lists the label folders (the options people choose from: the known labels, plus the
 * model's label if it has no folder yet, then "None of the Above"), creates the task whose id
 * derives from the execution id (a repeated step finds its task) and moves on to WAIT_ANSWER.
 * WAIT_ANSWER registers a waiter with the review driver and parks: no timer runs while people
 * work. After a restart the step runs again and registers its wait again. When the machine
 * closes first, the wait is forgotten (unwait).
 */
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/journal_detections.h"
#include "retraind/journal_reviews.h"
#include "retraind/log.h"
#include "retraind/review.h"
#include "retraind/store.h"

/* Beyond this many open tasks, people get one digest an hour instead of a mail per task. */
#define DIGEST_OPEN_TASKS 20
#define DIGEST_PERIOD_MS (3600 * 1000)
#define DIGEST_STATE "review_digest_at"
#define RETRY_MS 5000

/* ---- REVIEW ---- */

struct review_job {
    struct rt_exec *x;
    const struct rt__review_states *st;
    char *labels[RT_REVIEW_MAX_OPTIONS]; /* owned, sorted */
    size_t n_labels;
    char task[RT_REVIEW_TASK_ID_MAX + 1];
    bool digest;
    bool listed; /* the labels come from a listing that ended well */
    int64_t open, oldest_ms;
};

static void job_free(struct review_job *j)
{
    for (size_t i = 0; i < j->n_labels; i++)
        rt_free(j->labels[i]);
    rt_free(j);
}

static void review_fail(struct rt_exec *x, int failed, const char *what, int status)
{
    char msg[400];
    rt_snprintf(msg, sizeof(msg), "%s: %s", what, rt_strerror(status));
    rt__exec_finish(x, failed, NULL, msg, NULL, NULL);
}

/* Adds label unless present or full (one slot stays for "None of the Above"). */
static void add_label(struct review_job *j, const char *p, size_t len)
{
    if (!len || j->n_labels >= RT_REVIEW_MAX_OPTIONS - 1 || len >= 128)
        return;
    for (size_t i = 0; i < j->n_labels; i++)
        if (strlen(j->labels[i]) == len && memcmp(j->labels[i], p, len) == 0)
            return;
    char *s = rt_malloc(len + 1);
    if (!s)
        return;
    memcpy(s, p, len);
    s[len] = '\0';
    j->labels[j->n_labels++] = s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tx_digest(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)x;
    (void)ud;
    return rt_jbatch_state_set_i64(b, DIGEST_STATE, rt_now_ms());
}

static void task_created(int status, const struct rt_error *err, void *ud)
{
    struct review_job *j = ud;
    struct rt_exec *x = j->x;
    const struct rt__review_states *st = j->st;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=review_create_failed exec=%s key=%s error=%s",
               x->id, rt_q(rt__ctx_str(x, "key")), rt_q(err ? err->msg : rt_strerror(status)));
        job_free(j);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    rt__ctx_set_str(x, "task", j->task);
    bool digest = false;
    if (st->notify) {
        struct rt_journal *jr = x->m->env.journal;
        int64_t open = 0, oldest = 0, last = 0;
        if (rt_journal_review_open_stats(jr, &open, &oldest) == 0 && open > DIGEST_OPEN_TASKS) {
            /* Several REVIEW steps may run before the first digest's transition commits: the
             * machine remembers the time too, so only one of them raises it. */
            if (x->m->digest_ms)
                last = x->m->digest_ms;
            else
                rt_journal_state_get_i64(jr, DIGEST_STATE, 0, &last);
            int64_t now = rt_now_ms();
            if (now - last >= DIGEST_PERIOD_MS) {
                x->m->digest_ms = now;
                struct rt_event ev = {.kind = RT_EV_REVIEW_DIGEST,
                                      .open_tasks = open,
                                      .oldest_age_ms = oldest ? now - oldest : 0};
                rt__exec_notify(x, &ev);
                digest = true;
            }
        } else {
            struct rt_event ev = {.kind = RT_EV_REVIEW_REQUESTED,
                                  .key = rt__ctx_str(x, "key"),
                                  .task = j->task,
                                  .label = rt__ctx_str(x, "label"),
                                  .confidence = rt__ctx_double(x, "confidence", 0),
                                  .version = rt__ctx_str(x, "version")};
            rt__exec_notify(x, &ev);
        }
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "task", j->task);
    cJSON *opts = cJSON_AddArrayToObject(out, "options");
    for (size_t i = 0; opts && i < j->n_labels; i++)
        cJSON_AddItemToArray(opts, cJSON_CreateString(j->labels[i]));
    cJSON_AddItemToArray(opts, cJSON_CreateString(RT_REVIEW_NONE_OF_THE_ABOVE));
    RT_LOG(RT_LOG_INFO, "workflow", "event=review_task exec=%s key=%s task=%s source=%s", x->id,
           rt_q(rt__ctx_str(x, "key")), j->task, st->source);
    job_free(j);
    rt__exec_next(x, st->wait, out, digest ? tx_digest : NULL, NULL);
}

static void create_task(struct review_job *j)
{
    struct rt_exec *x = j->x;
    struct rt_review *r = x->m->env.review;
    const char *model_label = rt__ctx_str(x, "label");
    if (j->listed)
        rt__detect_labels_put(x->m, j->labels, j->n_labels); /* before the model's label joins */
    if (model_label && model_label[0]) {
        /* The model's label is always an option: with the options full, it takes the last. */
        bool found = false;
        for (size_t i = 0; i < j->n_labels && !found; i++)
            found = strcmp(j->labels[i], model_label) == 0;
        if (!found && j->n_labels >= RT_REVIEW_MAX_OPTIONS - 1) {
            rt_free(j->labels[--j->n_labels]);
            j->labels[j->n_labels] = NULL;
        }
        add_label(j, model_label, strlen(model_label));
    }
    qsort(j->labels, j->n_labels, sizeof(j->labels[0]), cmp_str);
    const char *options[RT_REVIEW_MAX_OPTIONS];
    for (size_t i = 0; i < j->n_labels; i++)
        options[i] = j->labels[i];
    options[j->n_labels] = RT_REVIEW_NONE_OF_THE_ABOVE;
    int workers = x->m->env.cfg->review.workers_per_image;
    struct rt_review_task t = {
        .id = j->task,
        .source = j->st->source,
        .exec_id = x->id,
        .key = rt__ctx_str(x, "key"),
        .detected_label = model_label,
        .confidence = rt__ctx_double(x, "confidence", -1),
        .model_version = rt__ctx_str(x, "version"),
        .options = options,
        .n_options = j->n_labels + 1,
        .answers_needed = workers > 0 ? workers : 1,
    };
    int rc = r->ops->create(r, &t, task_created, j);
    if (rc) {
        int failed = j->st->failed;
        job_free(j);
        review_fail(x, failed, "creating the review task failed", rc);
    }
}

static int labels_page(const struct rt_store_entry *e,
                       size_t n,
                       bool last,
                       int status,
                       const struct rt_error *err,
                       void *ud)
{
    (void)err;
    struct review_job *j = ud;
    const char *prefix = j->x->m->env.cfg->store.prefixes.labeled;
    for (size_t i = 0; i < n; i++) {
        struct rt_str label;
        if (rt_store_training_label(prefix, e[i].key, &label))
            add_label(j, label.p, label.len);
    }
    if (!last)
        return 0;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=labels_list_failed exec=%s error=%s", j->x->id,
               rt_q(rt_strerror(status)));
    j->listed = status == 0;
    create_task(j);
    return 0;
}

void rt__step_review(struct rt_exec *x, const struct rt__review_states *st)
{
    struct rt_review *r = x->m->env.review;
    if (!r) {
        /* Resumed in REVIEW by a daemon without a review driver: wait for one (next start). */
        rt__detect_warn_no_review(x->m);
        rt__exec_park(x, NULL);
        return;
    }
    struct review_job *j = rt_calloc(1, sizeof(*j));
    if (!j) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    j->x = x;
    j->st = st;
    if (rt_review_task_id(x->id, j->task, sizeof(j->task)) != 0 &&
        rt_review_task_id(x->id, j->task, sizeof(j->task)) != 0) {
        job_free(j);
        rt__exec_finish(x, st->failed, NULL, "no valid review task id", NULL, NULL);
        return;
    }
    char cached[RT_REVIEW_MAX_OPTIONS][128];
    size_t n = rt__detect_labels_get(x->m, cached, RT_REVIEW_MAX_OPTIONS);
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            add_label(j, cached[i], strlen(cached[i]));
        create_task(j);
        return;
    }
    struct rt_store *s = x->m->env.store;
    int rc = s->ops->list(s, x->m->env.cfg->store.prefixes.labeled, 1000, RT_STORE_LIST_KEYS_ONLY,
                          labels_page, j);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=labels_list_failed exec=%s error=%s", x->id,
               rt_q(rt_strerror(rc)));
        create_task(j);
    }
}

/* ---- WAIT_ANSWER ---- */

static const struct rt__review_states *states_of(const struct rt_exec *x)
{
    if (x->def == &rt__detection_def)
        return &rt__detection_review;
    if (x->def == &rt__sampling_def)
        return &rt__sampling_review;
    return NULL;
}

static void
answer_cb(int status, const struct rt_review_result *res, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    const struct rt__review_states *st = states_of(x);
    x->parked = false;
    x->park_cancel = NULL;
    x->step_running = true;
    if (status == RT_ENOTFOUND) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=review_task_missing exec=%s task=%s", x->id,
               rt_q(rt__ctx_str(x, "task")));
        rt__exec_next(x, st->review, NULL, NULL, NULL);
        return;
    }
    if (status == RT_ECANCELED) {
        /* The task ended without answers (an A2I loop Failed or Stopped): nobody will answer. */
        char msg[700];
        rt_snprintf(msg, sizeof(msg), "the review task ended without answers: %s",
                    err && err->msg[0] ? err->msg : rt_strerror(status));
        RT_LOG(RT_LOG_WARNING, "workflow", "event=review_task_ended exec=%s task=%s error=%s",
               x->id, rt_q(rt__ctx_str(x, "task")), rt_q(msg));
        rt__exec_finish(x, st->failed, NULL, msg, NULL, NULL);
        return;
    }
    if (status || !res || !res->label) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=review_wait_failed exec=%s error=%s", x->id,
               rt_q(err ? err->msg : rt_strerror(status ? status : RT_EINVAL)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=review_answered exec=%s task=%s label=%s answers=%zu",
           x->id, rt_q(res->task_id), rt_q(res->label), res->n_answers);
    rt__ctx_set_str(x, "answer", res->label);
    st->answered(x, res->label);
}

static void cancel_wait(struct rt_exec *x)
{
    struct rt_review *r = x->m->env.review;
    const char *task = rt__ctx_str(x, "task");
    if (r && task)
        r->ops->unwait(r, task);
}

void rt__step_wait_answer(struct rt_exec *x, const struct rt__review_states *st)
{
    struct rt_review *r = x->m->env.review;
    const char *task = rt__ctx_str(x, "task");
    if (!task) {
        rt__exec_next(x, st->review, NULL, NULL, NULL);
        return;
    }
    if (!r) {
        /* Nobody can answer until a review driver runs: wait for the next start. */
        rt__detect_warn_no_review(x->m);
        rt__exec_park(x, NULL);
        return;
    }
    int rc = r->ops->wait(r, task, answer_cb, x);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=review_wait_failed exec=%s task=%s error=%s",
               x->id, rt_q(task), rt_q(rt_strerror(rc)));
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    RT_LOG(RT_LOG_DEBUG, "workflow", "event=review_wait exec=%s task=%s", x->id, rt_q(task));
    rt__exec_park(x, cancel_wait);
}
