/*
 * detect_int.h - what the detection and sampling step tables share with the detection service
 * (private to src/workflow).
 */
#ifndef RT_WORKFLOW_DETECT_INT_H
#define RT_WORKFLOW_DETECT_INT_H

#include <stdbool.h>

#include "internal.h"

struct rt_detect;

/* A detection execution left DETECT or ended: its dispatch slot is free. */
void rt__detect_slot_free(struct rt_detect *d, struct rt_exec *x);
/* Adaptive concurrency of engine calls (AIMD). A DETECT step takes a call token before it reads
 * and classifies its image: false means the engine wants fewer in flight (wait and try again).
 * Every token taken is given back once with the outcome: 0 success, RT_ETHROTTLED throttled
 * (halves the limit, at most once a second), anything else neutral. The limit grows back by one
 * after `limit` successes in a row, up to detection.concurrency. No service: always true. */
bool rt__detect_call_begin(struct rt_machine *m);
void rt__detect_call_end(struct rt_machine *m, int outcome);

/* A detection result was written (one more line for detection-results/). */
void rt__detect_result_written(struct rt_detect *d);
/* The label folders, as the last REVIEW listed them (cached LABELS_TTL_MS by the service, so a
 * busy review queue does not list the labeled prefix per task). Returns: the number copied into
 * out (0 when the cache is cold or there is no service). */
size_t rt__detect_labels_get(struct rt_machine *m, char out[][128], size_t max);
void rt__detect_labels_put(struct rt_machine *m, char *const *labels, size_t n);

/* Logs once that review is enabled but no review driver runs. */
void rt__detect_warn_no_review(struct rt_machine *m);

/* Largest image read for a detection. */
#define RT__DETECT_MAX_IMAGE (16 * 1024 * 1024)

/* Shared REVIEW and WAIT_ANSWER steps (review_steps.c). The execution's context carries "key",
 * "label", "confidence", "version" (the model's) and, once created, "task". */
struct rt__review_states {
    const char *source; /* RT_REVIEW_SOURCE_* */
    int wait;           /* the WAIT_ANSWER state */
    int review;         /* the REVIEW state (WAIT_ANSWER goes back there when the task is gone) */
    int failed;
    bool notify; /* raise review.requested (or the digest) with the transition */
    /* WAIT_ANSWER got the consolidated answer label (ctx "answer" is set too): move on. */
    void (*answered)(struct rt_exec *x, const char *label);
};
extern const struct rt__review_states rt__detection_review;
extern const struct rt__review_states rt__sampling_review;
void rt__step_review(struct rt_exec *x, const struct rt__review_states *st);
void rt__step_wait_answer(struct rt_exec *x, const struct rt__review_states *st);

#endif
