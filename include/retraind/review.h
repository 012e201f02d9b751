/*
 * review.h - the human review interface: tasks that people answer (local portal or A2I).
 *
 * A task shows one image with options (the known labels plus "None of the Above") and needs
 * answers_needed answers, at most one per reviewer. Its source says why it exists: a
 * low-confidence detection ("detection"), an audit sample ("sampling") or, later, a labeling job
 * ("labeling-job"). The workflow that made a task waits for it through wait(); the driver calls
 * back once the task has all its answers, with the answers and the consolidated label.
 *
 * Task ids are derived from the execution id by the caller (rt_review_task_id), so creating a
 * task again after a crash finds the existing one. A2I's human loop names follow the same rule.
 *
 * Callbacks run on the loop thread, never from inside the starting call. If a starting call
 * returns an error, its callback is never called.
 */
#ifndef RETRAIND_REVIEW_H
#define RETRAIND_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/error.h"

struct uv_loop_s;
struct rt_store;
struct rt_journal;
struct rt_review;

/* The option every task carries last; answering it folds nothing back. */
#define RT_REVIEW_NONE_OF_THE_ABOVE "None of the Above"
/* A2I's limit on the categories of crowd-image-classifier, kept for the local driver too. */
#define RT_REVIEW_MAX_OPTIONS 10
/* Longest task id: "rt-" + a lowercase execution id, valid as an A2I human loop name. */
#define RT_REVIEW_TASK_ID_MAX 64

/* Sources of tasks (the JSON "source" values). */
#define RT_REVIEW_SOURCE_DETECTION "detection"
#define RT_REVIEW_SOURCE_SAMPLING "sampling"
#define RT_REVIEW_SOURCE_LABELING_JOB "labeling-job"

struct rt_review_task {
    const char *id;             /* rt_review_task_id of exec_id */
    const char *source;         /* RT_REVIEW_SOURCE_* */
    const char *exec_id;        /* the execution that waits for it (may be NULL) */
    const char *job;            /* labeling job name, or NULL */
    const char *key;            /* the image in the store */
    const char *detected_label; /* the model's label, or NULL */
    double confidence;          /* the model's confidence 0..100, or < 0 when none */
    const char *model_version;  /* or NULL */
    const char *const *options; /* labels, RT_REVIEW_NONE_OF_THE_ABOVE last */
    size_t n_options;           /* 2..RT_REVIEW_MAX_OPTIONS */
    const char *instructions;   /* shown to the reviewer, or NULL for the default text */
    int answers_needed;         /* >= 1 */
};

struct rt_review_answer {
    const char *worker; /* portal user or API token name */
    const char *label;  /* one of the task's options */
    int64_t at_ms;
};

/* A task with all its answers. Everything is borrowed, valid during the callback only. */
struct rt_review_result {
    const char *task_id;
    const char *source;
    const char *key;
    const char *label; /* consolidated (majority; ties to the earliest answer) */
    const struct rt_review_answer *answers;
    size_t n_answers;
    int64_t created_ms; /* when the task was created (A2I output key layout) */
};

typedef void rt_review_done_fn(int status, const struct rt_error *err, void *ud);
typedef void rt_review_result_fn(int status,
                                 const struct rt_review_result *r,
                                 const struct rt_error *err,
                                 void *ud);

struct rt_review_ops {
    const char *name; /* "local", "a2i" */
    /* Creates task t; done means durable (an existing task with the same id is a success). */
    int (*create)(struct rt_review *r,
                  const struct rt_review_task *t,
                  rt_review_done_fn *cb,
                  void *ud);
    /*
     * Calls cb once task_id has all its answers (on a later turn if it has them already), with
     * the answers written in A2I's output layout first. One waiter per task; a second wait on the
     * same task replaces the first (whose cb is never called). status RT_ENOTFOUND: no such task.
     * status RT_ECANCELED: the task ended without answers and never will have them (an A2I
     * human loop that Failed or was Stopped); err says why.
     */
    int (*wait)(struct rt_review *r, const char *task_id, rt_review_result_fn *cb, void *ud);
    /* Forgets the waiter of task_id (its cb is never called). Absent is fine. */
    void (*unwait)(struct rt_review *r, const char *task_id);
    /* Stops polling, drops waiters and frees r; cb (may be NULL) runs once everything is closed.
     */
    void (*close)(struct rt_review *r, void (*cb)(void *ud), void *ud);
};

struct rt_review {
    const struct rt_review_ops *ops;
};

/* Writes the task id of exec_id ("rt-" + exec_id in lowercase, '_' as '-') into out.
 * Returns: 0, or RT_EINVAL when the result would not be a valid A2I human loop name. */
int rt_review_task_id(const char *exec_id, char *out, size_t size);

#endif
