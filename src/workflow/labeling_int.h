/*
 * labeling_int.h - what the labeling workflow's files share (private to src/workflow):
 * labeling.c (listing, waiting, consolidating, manifests, folding, moving) and labeling_auto.c
 * (automated labeling: training the job's own model, calibrating it, machine labels).
 */
#ifndef RT_WORKFLOW_LABELING_INT_H
#define RT_WORKFLOW_LABELING_INT_H

#include "internal.h"
#include "retraind/buf.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/label_collect.h"

enum {
    LJ_LIST,
    LJ_PREDICT,
    LJ_WAIT_ANSWERS,
    LJ_CONSOLIDATE,
    LJ_AUTO_TRAIN,
    LJ_AUTO_WAIT_TRAINING,
    LJ_AUTO_START,
    LJ_AUTO_WAIT_RUNNING,
    LJ_AUTO_LABEL,
    LJ_OUTPUT,
    LJ_FOLD,
    LJ_MOVE,
    LJ_DONE,
    LJ_FAILED,
    LJ_COUNT
};

#define LJ_RETRY_MS 5000

/* A step's view of the job: its row, its tasks and answers, and (once run) the consolidation.
 * Also the state of a run of copies (FOLD, MOVE) or predictions (PREDICT, AUTO_LABEL). */
struct lj_run {
    uv_work_t work;
    struct rt_exec *x;
    struct rt_label_job job;
    struct rt_label_collection c;
    struct rt_ds_result ds;
    bool have_ds;
    int rc;
    void (*done)(struct lj_run *r);
    int *order; /* items in key order */
    /* copies and predictions, one item after another, a few at a time */
    int *targets;
    size_t n_targets, next, in_flight, done_count, failed, moved;
    bool pumping;
    /* predictions: per target, the model's top label (owned) and its confidence 0..100 */
    char version[128];
    char **pred_label;
    double *pred_conf;
    struct rt_buf text;
};

void rt__lj_run_free(struct lj_run *r);
/* Reads the job of x into r->job and gathers its tasks and answers; consolidates on the thread
 * pool when consolidate is true; then done(r) on the loop. Failures reschedule the step. */
void rt__lj_start(struct rt_exec *x, bool consolidate, void (*done)(struct lj_run *r));
/* Predicts r->targets with r->version (image read through the store, classified by the engine,
 * a few at a time); then done(r) on the loop. An image that cannot be classified gets no
 * prediction (pred_label NULL). */
void rt__lj_predict(struct lj_run *r, void (*done)(struct lj_run *r));
/* The job's figures kept on its row for `label-job status` (a new cJSON object). */
cJSON *rt__lj_stats(struct lj_run *r);
/* Ends the job FAILED with msg (the job's row says so too). */
void rt__lj_fail(struct rt_exec *x, const char *msg);
/* The key of file under the job's output prefix. */
void rt__lj_output_key(const struct rt_label_job *job, const char *file, char *out, size_t size);

/* Automated labeling (labeling_auto.c). */
void rt__lj_step_auto_train(struct rt_exec *x);
void rt__lj_step_auto_wait_training(struct rt_exec *x);
void rt__lj_step_auto_start(struct rt_exec *x);
void rt__lj_step_auto_wait_running(struct rt_exec *x);
void rt__lj_step_auto_label(struct rt_exec *x);
/* The tasks LIST holds back for the machine's pass: every task but a first sample of people's
 * (the ids sort in hash order, so the sample is spread over the prefix). Returns: how many of
 * n_tasks people label first. */
size_t rt__lj_auto_human_sample(size_t n_tasks);

#endif
