/*
 * review_local.h - what only the `local` review driver offers: the portal's side of a task
 * (the next task for a reviewer, answering, the image), and the `review list --json` shape.
 *
 * The driver (src/review/local.c) keeps tasks, answers and assignments in the journal
 * (journal_reviews.h). The daemon's HTTP server calls these functions with the driver the
 * registry made (rt_registry_new_review); the CLI writes to the journal directly and the driver
 * notices (a poll of answered tasks every second while someone waits).
 *
 * Every function below runs on the loop thread. Completion callbacks run on the loop thread,
 * exactly once, never from inside the starting call; if a starting call returns an error, its
 * callback is never called. A function given a review driver that is not `local` returns
 * RT_ENOTIMPL.
 *
 * Status codes of answers and images, and the HTTP status they stand for
 * (rt_review_http_status): RT_ENOTFOUND no such task (404); RT_EINVAL the label is not one of
 * the task's options (400); -EEXIST the worker answered this task already, -EALREADY the task
 * needs no more answers (both 409).
 */
#ifndef RETRAIND_REVIEW_LOCAL_H
#define RETRAIND_REVIEW_LOCAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/review.h"

struct uv_loop_s;
struct rt_config;
struct rt_journal;
struct rt_journal_review_filter;
struct rt_store;

/* The flow definition name of local tasks in the A2I output layout. */
#define RT_REVIEW_LOCAL_FLOW "retraind-local"
/* The pseudo ARN written as flowDefinitionArn (no AWS account is involved). */
#define RT_REVIEW_LOCAL_FLOW_ARN                                                                   \
    "arn:aws:sagemaker:local:000000000000:flow-definition/retraind-local"

/*
 * Makes the local review driver on loop. j: the daemon's journal (writes go through its writer
 * thread, which must be running before the first create or answer); store: where images are read
 * and A2I output is written; cfg: store.prefixes.human_loop and review.workers_per_image (a task
 * created with answers_needed 0 gets it). All three are borrowed and must outlive the driver.
 * Returns: 0 and *out (close with ops->close), or an error in err.
 */
int rt_review_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        struct rt_store *store,
                        const struct rt_config *cfg,
                        struct rt_review **out,
                        struct rt_error *err);
/* Sets how often answers written by another process are looked for while someone waits
 * (default 1000 ms; tests use less). */
void rt_review_local_set_poll_ms(struct rt_review *r, int64_t poll_ms);

/*
 * Next task for worker: cb gets the task as the portal's JSON object (borrowed during the call):
 * {"id", "source", "key", "options": [...], "instructions", "detected_label", "confidence",
 * "answers", "answers_needed", "image": "/api/reviews/ID/image", "open": N, "job": NAME|null,
 * "examples": {"good": {"image": URL, "text": T|null}|null, "bad": ...}|null,
 * "job_kind": "label"|"verify"|null} (a labeling job's task: its job, the job's example images,
 * served by /api/label-jobs/NAME/examples/good|bad, and whether it checks a current label)
 * with the task
 * assigned to worker for RT_REVIEW_ASSIGN_MS (durable when cb runs), or task NULL with status 0
 * when there is nothing to do (HTTP 204). Serving order: see rt_journal_review_next; every
 * RT_REVIEW_SAMPLING_EVERY-th task served is a sampling task when one is open.
 */
typedef void rt_review_next_fn(int status, const cJSON *task, const struct rt_error *err, void *ud);
int rt_review_local_next(struct rt_review *r, const char *worker, rt_review_next_fn *cb, void *ud);

/*
 * Answers task_id as worker with label. cb's status is 0 once the answer is durable, with state
 * "open" (more answers needed) or "answered"; else a code of the header comment. A waiter of the
 * task hears of the completing answer at once.
 */
typedef void
rt_review_answered_fn(int status, const char *state, const struct rt_error *err, void *ud);
int rt_review_local_answer(struct rt_review *r,
                           const char *task_id,
                           const char *worker,
                           const char *label,
                           rt_review_answered_fn *cb,
                           void *ud);

/*
 * Reads the image of task_id (the key the task names, through the store; never a path from the
 * caller) into body (appended; body's max_bytes bounds it). cb gets the content type from the
 * key's extension ("image/jpeg", "image/png", else "application/octet-stream").
 */
typedef void
rt_review_image_fn(int status, const char *content_type, const struct rt_error *err, void *ud);
int rt_review_local_image(struct rt_review *r,
                          const char *task_id,
                          struct rt_buf *body,
                          rt_review_image_fn *cb,
                          void *ud);

/* The `review list --json` array of the tasks f selects (f NULL: the newest 100) from the
 * driver's journal (a short read on the loop). Returns: new array (cJSON_Delete), or NULL. */
cJSON *rt_review_local_list(struct rt_review *r, const struct rt_journal_review_filter *f);

/*
 * The `review list --json` array (DESIGN.md): [{"id", "key", "source", "detected_label" (or
 * null), "confidence" (or null), "options": [...], "state", "answers", "answers_needed",
 * "result" (or null), "created_at", "answered_at" (or null), "exec_id" (or null)}], newest
 * first. j may be NULL (no journal yet): an empty array. Returns: new array (cJSON_Delete), or
 * NULL with *rc set (may be NULL).
 */
cJSON *rt_review_list_json(struct rt_journal *j, const struct rt_journal_review_filter *f, int *rc);

/* Writes the A2I output key of a task into out: "<prefix>retraind-local/YYYY/MM/DD/hh/mm/ss/
 * <task id>/output.json" (prefix is store.prefixes.human_loop; created_ms in UTC).
 * Returns: 0 or RT_ETOOBIG. */
int rt_review_a2i_key(
    const char *prefix, int64_t created_ms, const char *task_id, char *out, size_t size);

/* Returns: the HTTP status for a status of the functions above (200 for 0, 404, 400, 409; 503
 * for RT_ECANCELED; 500 otherwise). */
int rt_review_http_status(int status);

#endif
