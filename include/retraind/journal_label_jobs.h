/*
 * journal_label_jobs.h - labeling jobs in the journal (src/journal/label_jobs.c; table
 * label_jobs, schema 4), issue #10.
 *
 * A labeling job turns every image under a prefix into a review task (source "labeling-job",
 * review_tasks.job = the job's name) answered by several workers, consolidates the answers and
 * writes Ground Truth manifests. This file keeps the job's own row - what was asked for and how
 * it ended - and the reads over its tasks and answers that the job's workflow and `label-job
 * status` need. The tasks and answers themselves are the review tables' (journal_reviews.h).
 *
 * Each write exists twice, as elsewhere in the journal: a synchronous call (the CLI, tests) and a
 * batch operation applied by the daemon's writer thread with the same code. Strings in struct
 * rt_label_job are owned by it (rt_label_job_cleanup) unless said otherwise. Times are epoch ms.
 */
#ifndef RETRAIND_JOURNAL_LABEL_JOBS_H
#define RETRAIND_JOURNAL_LABEL_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/journal.h"

/* A job's name: 1..RT_LABEL_JOB_NAME_MAX of a-z, 0-9 and '-', starting with a letter or digit
 * (it becomes part of task ids, store keys and Ground Truth's "labeling-job/<name>"). */
#define RT_LABEL_JOB_NAME_MAX 63
/* Ground Truth's image classification allows up to 10 labels. */
#define RT_LABEL_JOB_MAX_LABELS 10

struct rt_label_job {
    char name[RT_LABEL_JOB_NAME_MAX + 1];
    char kind[8];   /* "label", or "verify" (checking the labels people already have) */
    char state[16]; /* "running", "done", "failed", "cancelled" */
    char *prefix;   /* the images' prefix in the store */
    char **labels;  /* n_labels options, in the order given (class index = position) */
    int n_labels;
    char *instructions;
    char *good_example, *good_text; /* key and description, or NULL */
    char *bad_example, *bad_text;
    int workers_per_image; /* answers each image starts with, >= 1 */
    int max_workers;       /* cap when consolidation asks for one more, >= workers_per_image */
    double min_confidence; /* posterior below which an image gets one more worker, 0..1 */
    char *output_prefix;   /* where the manifests go */
    bool fold;             /* copy each image into images_labeled_by_folder/<label>/ */
    bool auto_label;       /* let a trained model label the images it is sure of */
    double target_accuracy;
    char exec_id[64]; /* the job's workflow execution, "" until started */
    int64_t created_ms, finished_ms;
    char *output_manifest; /* key, or NULL until written */
    char *stats;           /* JSON object (counts, worker quality...), or NULL */
};
void rt_label_job_cleanup(struct rt_label_job *job);

/* Checks a job's name. Returns: 0 or RT_EINVAL with err (may be NULL) saying why. */
int rt_label_job_name_check(const char *name, struct rt_error *err);
/* Checks the fields create needs (name, kind, prefix, 2..10 distinct labels, counts and ranges).
 * Returns: 0 or RT_EINVAL with err (may be NULL) saying why. */
int rt_label_job_check(const struct rt_label_job *job, struct rt_error *err);

/*
 * Creates job (state "running", created_ms = now_ms). A job of that name that exists already is
 * RT_EBUSY: names are never reused, so a job's tasks and manifests are its own.
 * Returns: 0, RT_EINVAL (see rt_label_job_check), RT_EBUSY, or a journal error.
 */
int rt_journal_label_job_create(struct rt_journal *j,
                                const struct rt_label_job *job,
                                int64_t now_ms);
int rt_jbatch_label_job_create(struct rt_jbatch *b, const struct rt_label_job *job, int64_t now_ms);

/* Returns: 0 (out filled; clean it up), RT_ENOTFOUND, or an error. */
int rt_journal_label_job_get(struct rt_journal *j, const char *name, struct rt_label_job *out);

typedef int rt_label_job_fn(const struct rt_label_job *job, void *ud);
/* Calls cb for every job, newest first; a non-zero return stops and is returned. */
int rt_journal_label_job_list(struct rt_journal *j, rt_label_job_fn *cb, void *ud);

/* Records the job's execution id. */
int rt_jbatch_label_job_started(struct rt_jbatch *b, const char *name, const char *exec_id);
/* Replaces the job's stats (a JSON object's text), e.g. after each consolidation. */
int rt_jbatch_label_job_stats(struct rt_jbatch *b, const char *name, const char *stats_json);
/* Ends the job: state ("done", "failed", "cancelled"), finished_ms, and the output manifest's
 * key (or NULL). A job that ended already keeps its first end. */
int rt_jbatch_label_job_finish(struct rt_jbatch *b,
                               const char *name,
                               const char *state,
                               const char *output_manifest,
                               int64_t now_ms);

/* Counts of a job's tasks. */
struct rt_label_job_counts {
    int64_t total;    /* tasks */
    int64_t answered; /* tasks with all the answers they need */
    int64_t answers;  /* answers given */
    int64_t held;     /* tasks held back for the machine's pass (automated labeling) */
    int64_t machine;  /* tasks labeled by the machine (answered with no answer needed) */
};
int rt_journal_label_job_counts(struct rt_journal *j,
                                const char *name,
                                struct rt_label_job_counts *out);

/* One answer of a job's task; strings borrowed during the callback. */
struct rt_label_job_answer {
    const char *task_id, *key, *worker, *label;
    int64_t at_ms;
    bool task_answered; /* the task has all the answers it needs */
};
typedef int rt_label_job_answer_fn(const struct rt_label_job_answer *a, void *ud);
/* Calls cb for every answer to the job's tasks, ordered by task id then time (the order the
 * consolidation numbers items and workers in, so it is the same after a restart). */
int rt_journal_label_job_answers(struct rt_journal *j,
                                 const char *name,
                                 rt_label_job_answer_fn *cb,
                                 void *ud);

/* One task of a job; strings borrowed during the callback. */
struct rt_label_job_task {
    const char *id, *key;
    const char *state;           /* "open", "answered", "held" (waiting for the machine's pass) */
    const char *detected_label;  /* the model's label (verification: the current label), or NULL */
    double confidence;           /* the model's confidence 0..100, or < 0 */
    const char *model_version;   /* or NULL */
    const char *result;          /* the task's result, or NULL */
    int answers, answers_needed; /* answers_needed 0 and answered: labeled by the machine */
};
typedef int rt_label_job_task_fn(const struct rt_label_job_task *t, void *ud);
/* Calls cb for every task of the job in task-id order; a non-zero return stops and is returned. */
int rt_journal_label_job_tasks(struct rt_journal *j,
                               const char *name,
                               rt_label_job_task_fn *cb,
                               void *ud);

/* ---- automated labeling: holding tasks back, the model's predictions, machine labels ---- */

/* An open task nobody answered waits for the machine's pass (not served). */
int rt_jbatch_label_task_hold(struct rt_jbatch *b, const char *task_id);
/* A held task goes to people. */
int rt_jbatch_label_task_release(struct rt_jbatch *b, const char *task_id);
/* Records a model's prediction (confidence 0..100) on a task: the serving order is least
 * confident first, so people get the images the model is least sure of first. */
int rt_jbatch_label_task_predicted(struct rt_jbatch *b,
                                   const char *task_id,
                                   const char *label,
                                   double confidence,
                                   const char *version);
/* Labels a task nobody answered with the machine's label (answered, no answer needed). */
int rt_jbatch_label_task_machine(struct rt_jbatch *b,
                                 const char *task_id,
                                 const char *label,
                                 int64_t now_ms);

#endif
