/*
 * journal_reviews.h - review tasks, their answers and assignments in the journal
 * (src/journal/reviews.c; tables review_tasks, review_answers, review_assignments).
 *
 * A task shows one image with options and needs answers_needed answers, at most one per worker.
 * The answer that completes a task marks it answered with the consolidated label (majority; a
 * tie goes to the label answered first) in the same transaction, and gives it the next
 * answered_seq: the cursor a waiting driver polls with to notice answers another process (the
 * CLI) wrote. Each write exists twice: a synchronous call (the CLI, tests) and a batch operation
 * (rt_jbatch_review_*) that the daemon's writer thread applies with the very same code, so the
 * rules (one answer per worker, label among the options, no answer past the last one needed) hold
 * whoever writes. Reads are single indexed queries; nothing loads every task.
 *
 * Strings in the structs below are owned by the struct (freed by its _cleanup function) unless
 * said otherwise. Times are epoch milliseconds.
 */
#ifndef RETRAIND_JOURNAL_REVIEWS_H
#define RETRAIND_JOURNAL_REVIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/journal.h"
#include "retraind/review.h"

/* How long a served task stays assigned to its reviewer. */
#define RT_REVIEW_ASSIGN_MS (10 * 60 * 1000)
/* Every RT_REVIEW_SAMPLING_EVERY-th task served is a sampling task when one is open. */
#define RT_REVIEW_SAMPLING_EVERY 3

struct rt_journal_review {
    char id[RT_REVIEW_TASK_ID_MAX + 1];
    char source[32];
    char exec_id[64];     /* "" when none */
    char *job;            /* or NULL */
    char *key;            /* the image */
    char *detected_label; /* or NULL */
    double confidence;    /* < 0 when none */
    char *model_version;  /* or NULL */
    char *options;        /* JSON array of the labels */
    char *instructions;   /* or NULL */
    int answers_needed;
    int answers;
    char state[16]; /* "open", "answered", "cancelled" */
    char *result;   /* the consolidated label once answered, else NULL */
    int64_t created_ms;
    int64_t answered_ms;  /* 0 while open */
    int64_t answered_seq; /* 0 until first answered (kept when reopened) */
    char *request_id;     /* the detection's request id (detections.request_id), or NULL */
};
void rt_journal_review_cleanup(struct rt_journal_review *t);

struct rt_journal_review_answer {
    const char *worker;  /* borrowed during the callback */
    const char *label;   /* borrowed during the callback */
    int64_t at_ms;       /* when it was answered */
    int64_t accepted_ms; /* when the worker was handed the task (at_ms when never assigned) */
};

/*
 * Creates task t at now_ms (state open, no answers), or does nothing when a task with t->id
 * exists already (a retried step): creating is idempotent. t->answers_needed < 1 counts as 1.
 * Returns: 0, RT_EINVAL for a task that is not valid (no id or key, 2..RT_REVIEW_MAX_OPTIONS
 * distinct non-empty options, unknown source), or an error.
 */
int rt_journal_review_create(struct rt_journal *j, const struct rt_review_task *t, int64_t now_ms);
/* Checks t as create does, without writing. Returns: 0 or RT_EINVAL with err saying why. */
int rt_journal_review_check(const struct rt_review_task *t, struct rt_error *err);

/* What an answer did (filled by rt_journal_review_answer when it succeeds). */
struct rt_journal_review_outcome {
    bool completed; /* this answer was the last one needed: the task is answered now */
    int answers;    /* answers after this one */
    int answers_needed;
    char result[128]; /* the consolidated label when completed, else "" */
};
/*
 * Records worker's answer label to task_id at now_ms, in one transaction: the answer, the task's
 * answer count, and when the count reaches answers_needed the task's state (answered), its
 * consolidated label, answered_at and answered_seq; the worker's assignment of the task ends.
 * out may be NULL. Returns: 0; RT_ENOTFOUND (no such task); RT_EINVAL (label not among the
 * options, or an empty worker); -EEXIST (worker answered it already); -EALREADY (the task has
 * all its answers, or is not open); or an error. Nothing is written when it fails.
 */
int rt_journal_review_answer(struct rt_journal *j,
                             const char *task_id,
                             const char *worker,
                             const char *label,
                             int64_t now_ms,
                             struct rt_journal_review_outcome *out);

/* Reads task id. Returns: 0 and *out (clean up with rt_journal_review_cleanup), RT_ENOTFOUND. */
int rt_journal_review_get(struct rt_journal *j, const char *id, struct rt_journal_review *out);
/* Returns: true if label is one of the options of t (a JSON array). */
bool rt_journal_review_has_option(const struct rt_journal_review *t, const char *label);

typedef int rt_journal_review_answer_fn(const struct rt_journal_review_answer *a, void *ud);
/* Calls cb for each answer of task id in the order given (earliest first). Return non-zero from
 * cb to stop. Returns: 0 (also for a task without answers or no such task) or an error. */
int rt_journal_review_answers(struct rt_journal *j,
                              const char *id,
                              rt_journal_review_answer_fn *cb,
                              void *ud);
/* Returns: true if worker has answered task id (false on errors too). */
bool rt_journal_review_answered_by(struct rt_journal *j, const char *id, const char *worker);

struct rt_journal_review_filter {
    const char *state;  /* "open", "answered", "cancelled" or NULL = any */
    const char *source; /* RT_REVIEW_SOURCE_* or NULL = any */
    int limit;          /* <= 0: 100 */
};
/* Called per task, newest first (created_at, id); t is borrowed during the call. Return non-zero
 * to stop. */
typedef int rt_journal_review_fn(const struct rt_journal_review *t, void *ud);
int rt_journal_review_list(struct rt_journal *j,
                           const struct rt_journal_review_filter *f,
                           rt_journal_review_fn *cb,
                           void *ud);
/* Counts the open tasks (*open) and the creation time of the oldest one (*oldest_ms, 0 when
 * none); either pointer may be NULL. Returns: 0 or an error. */
int rt_journal_review_open_stats(struct rt_journal *j, int64_t *open, int64_t *oldest_ms);

/*
 * The next task for worker at now_ms, without assigning it: first the task worker holds an
 * unexpired assignment of (a reload of the portal gets the same image), else an open task that
 * worker has not answered, that still needs answers once the unexpired assignments of other
 * workers are counted, least confident first (no confidence last), then oldest. With
 * sampling_first, sampling tasks are looked at first, else the others; when that group has
 * nothing, the other group. pending (n_pending task ids, may be NULL) are the assignments to
 * other workers being written right now, not in the journal yet: a task id there k times is
 * served only while it can take k more workers besides this one. Returns: 0 and *out (clean up
 * with rt_journal_review_cleanup), RT_ENOTFOUND when there is nothing to do, or an error.
 */
int rt_journal_review_next(struct rt_journal *j,
                           const char *worker,
                           int64_t now_ms,
                           bool sampling_first,
                           const char *const *pending,
                           size_t n_pending,
                           struct rt_journal_review *out);
/* Assigns task_id to worker from now_ms to expires_ms (replacing worker's other assignments:
 * a reviewer works on one task at a time). Returns: 0 or an error. */
int rt_journal_review_assign(struct rt_journal *j,
                             const char *task_id,
                             const char *worker,
                             int64_t now_ms,
                             int64_t expires_ms);

/*
 * Asks for more answers: sets answers_needed of task_id to answers_needed (more than it has) and,
 * when the task was answered, opens it again (result and answered_at cleared; the next
 * completing answer gives it a new, larger answered_seq). For labeling jobs whose consolidated
 * label is not certain enough (one more reviewer). Returns: 0, RT_ENOTFOUND, RT_EINVAL
 * (answers_needed not above the answers it has, or the task is cancelled), or an error.
 */
int rt_journal_review_reopen(struct rt_journal *j, const char *task_id, int answers_needed);

/* Returns: the largest answered_seq (0 when no task is answered), or a negative error. */
int64_t rt_journal_review_answered_max(struct rt_journal *j);
/* Called per task answered after a cursor: its id and answered_seq. Return non-zero to stop. */
typedef int rt_journal_review_seq_fn(const char *id, int64_t answered_seq, void *ud);
/* Calls cb for tasks with answered_seq > after_seq, in answered_seq order, at most limit (<= 0:
 * 100). Returns: 0 or an error. */
int rt_journal_review_answered_after(
    struct rt_journal *j, int64_t after_seq, int limit, rt_journal_review_seq_fn *cb, void *ud);

/* ---- the same writes as batch operations (the daemon's writer thread) ---- */
/* rt_journal_review_create in a batch. Returns: 0, RT_EINVAL (t not valid) or RT_ENOMEM. */
int rt_jbatch_review_create(struct rt_jbatch *b, const struct rt_review_task *t, int64_t now_ms);
/* rt_journal_review_answer in a batch: the batch fails with its codes (RT_ENOTFOUND, RT_EINVAL,
 * -EEXIST, -EALREADY), and then nothing of the batch is written. */
int rt_jbatch_review_answer(struct rt_jbatch *b,
                            const char *task_id,
                            const char *worker,
                            const char *label,
                            int64_t now_ms);
int rt_jbatch_review_reopen(struct rt_jbatch *b, const char *task_id, int answers_needed);
int rt_jbatch_review_assign(struct rt_jbatch *b,
                            const char *task_id,
                            const char *worker,
                            int64_t now_ms,
                            int64_t expires_ms);

#endif
