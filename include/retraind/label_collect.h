/*
 * label_collect.h - a labeling job's answers gathered for the consolidation (issue #10).
 *
 * The job's workflow (OUTPUT, CONSOLIDATE, MOVE) and `label-job status` consolidate the same
 * answers the same way: items are the job's tasks in task-id order, workers are numbered
 * in name order, and each item's answers are ordered by worker. The numbering depends only on
 * the answers, never on when they came, so a job interrupted by a restart writes byte for byte
 * the manifest an uninterrupted run with the same answers writes.
 */
#ifndef RETRAIND_LABEL_COLLECT_H
#define RETRAIND_LABEL_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/consolidate.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"

struct rt_label_item {
    char *task_id, *key; /* owned */
    bool answered;       /* the task has all the answers it needs (or the machine labeled it) */
    bool held;           /* waiting for the machine's pass (automated labeling) */
    int n_answers;       /* answers with one of the job's labels */
    int64_t last_at_ms;  /* the latest answer's time */
    /* Labeled by the machine (automated labeling): its label; -1 when people label it. */
    int machine_label;
    /* The model's prediction recorded on the task: label index (-1: none, or not one of the
     * job's labels) and confidence 0..1. */
    int predicted;
    double predicted_conf;
    bool has_prediction; /* a model's prediction is recorded (whatever its label) */
};

struct rt_label_collection {
    struct rt_label_item *items; /* n_items, in task-id order */
    int n_items;
    char **workers; /* n_workers names, sorted (strcmp) */
    int n_workers;
    struct rt_ds_answer *answers; /* sorted by item, then worker */
    size_t n_answers;
};

/*
 * Reads every answer of job (its labels give the class indexes; an answer that is not one of
 * them, such as "None of the Above", is no opinion). Returns: 0 (out filled; free it with
 * rt_label_collection_free), RT_ENOMEM or a journal error.
 */
int rt_label_collect(struct rt_journal *j,
                     const struct rt_label_job *job,
                     struct rt_label_collection *out);
void rt_label_collection_free(struct rt_label_collection *c);

/* Returns: the class index of label among job's labels, or -1. */
int rt_label_job_label_index(const struct rt_label_job *job, const char *label);

/* How much a deployed model's prediction counts in the consolidation, against one calibrated
 * worker's answer (1): bench/consolidate measured 0.5 as a gain on every worker mix. */
#define RT_LABEL_MODEL_WEIGHT 0.5

/*
 * Runs the consolidation over c with the job's label count. The predictions recorded on the
 * tasks join as the model's opinion (RT_LABEL_MODEL_WEIGHT), except in a job with automated
 * labeling, whose predictions come from a model trained on these very answers.
 * Returns: as rt_ds_consolidate.
 */
int rt_label_consolidate(const struct rt_label_collection *c,
                         const struct rt_label_job *job,
                         struct rt_ds_result *out);

#endif
