/*
 * workflow.h - persisted state machines (DESIGN.md "Workflows"): training and parameter changes,
 * and the census of labeled images the training check and `status` share.
 *
 * The machine (src/workflow/machine.c) decides *when*: it runs the step of an execution's state,
 * writes the transition — with the notifications it causes, in the outbox — as one batch through
 * the journal's writer, and only once that batch is durable moves on to the next step. The steps
 * (one table per workflow, e.g. src/workflow/training.c) decide *how*, through the driver
 * interfaces only. Every step is idempotent: names derive from the execution id, so a step
 * repeated after a crash finds its own earlier work.
 */
#ifndef RETRAIND_WORKFLOW_H
#define RETRAIND_WORKFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/hash.h"
#include "retraind/notify.h"
#include "retraind/paramdef.h"
#include "retraind/store.h"

struct uv_loop_s;
struct rt_journal;
struct rt_engine;
struct rt_config;
struct rt_machine;
struct cJSON;

/* A transition the journal has committed (rt_workflow_env.transitioned); every pointer is
 * borrowed for the call. */
struct rt_transition {
    const char *exec_id;
    const char *workflow; /* "training", "detection", ... */
    const char *from, *to;
    bool terminal;           /* to is an end state: the execution finished */
    const struct cJSON *ctx; /* the execution's context after the step (may be NULL) */
};

/* What the workflows run on; every pointer is borrowed and must outlive the machine. */
struct rt_workflow_env {
    struct uv_loop_s *loop;
    struct rt_journal *journal; /* reads on the loop; writes through its writer thread */
    struct rt_store *store;
    struct rt_engine *engine;
    /* The review driver, or NULL (then Enable-A2I-Workflow counts as off and sampling is
     * skipped, each with one warning). */
    struct rt_review *review;
    const struct rt_config *cfg;
    /* The current parameter values; the daemon updates them in place when they change. */
    const struct rt_param_set *params;
    /* Called after a committed transition carried notifications (the outbox has work). */
    void (*outbox_kick)(void *ud);
    /* APPLY of a parameter change: re-arm what the change affects. */
    void (*apply_param)(void *ud, enum rt_param_id id);
    /* Called after each committed transition, and after a coalesced training check (as CHECK ->
     * NOT_MET, the execution it repeats): the daemon keeps its metrics from it. */
    void (*transitioned)(void *ud, const struct rt_transition *t);
    void *ud; /* for the hooks above (may be NULL hooks) */
    /* How often a waiting step polls the engine (builtin: short; rekognition: status_poll). */
    int64_t engine_poll_ms;
    /* After a transition that could not be written, the step runs again after this; 0 = 5 s. */
    int64_t persist_retry_ms;
};

/* Creates the machine. Returns: 0 and *out, or RT_ENOMEM. */
int rt_machine_new(const struct rt_workflow_env *env, struct rt_machine **out);
/* Resumes every unfinished execution from its last recorded state. Returns: 0 or an error. */
int rt_machine_resume(struct rt_machine *m);
/*
 * Starts a training check (an execution in CHECK, written to the journal with its first
 * transition) unless one is in flight. reason: "schedule", "start", "trigger" (logged).
 * Returns: 0 (started; *id_out, if not NULL, gets the execution id), RT_EBUSY (a training is in
 * flight; *id_out gets its id), or an error.
 */
int rt_machine_start_training(struct rt_machine *m, const char *reason, char *id_out, size_t size);
/*
 * Starts a parameter-change execution: APPLY (env->apply_param) then DONE, notifying people of
 * name, old and new value in the transaction that records the change as applied.
 * Returns: 0 or an error.
 */
int rt_machine_param_changed(struct rt_machine *m,
                             enum rt_param_id id,
                             const char *old_text,
                             const char *new_text);
/*
 * Starts the `labeling` workflow (docs/labeling.md) for every labeling job in the journal that
 * is running and has no execution yet (one just created by `label-job create` or the API, or one
 * whose first transition a crash lost). A job already running here is left alone.
 * Returns: 0 or the first error (the other jobs are still started).
 */
int rt_machine_start_label_jobs(struct rt_machine *m);
/*
 * Writes the review task id of job's image key ("lj-" + 16 hex digits of a hash of both), the
 * same for the same job and key whenever it is computed. Returns: 0, RT_ENOMEM or RT_EINVAL
 * (size too small).
 */
int rt_label_task_id(const char *job, const char *key, char *out, size_t size);
/* Returns: the number of executions this machine is running right now. */
int rt_machine_in_flight(struct rt_machine *m);
/*
 * Stops gracefully: no new step starts; steps already running reach their next persisted state;
 * waiting executions are marked in the journal as stopped on purpose (a training lost to a
 * graceful stop is restarted without counting as lost). cb runs once nothing is left (the
 * machine is freed before cb).
 */
void rt_machine_close(struct rt_machine *m, void (*cb)(void *ud), void *ud);

/* Names of the states of a workflow, NULL-terminated, and the workflows' names. */
extern const char *const rt_training_state_names[];
extern const int rt_training_state_count;
/* Returns: the workflows' names, NULL-terminated ("training", "parameter"). */
const char *const *rt_workflow_names(void);
/* Returns: true if state is a state of workflow (any workflow when workflow is NULL). */
bool rt_workflow_state_known(const char *workflow, const char *state);
/* Writes every state name of workflow (all workflows when NULL), "A, B, C", into out. */
void rt_workflow_state_list(const char *workflow, char *out, size_t size);
/* Returns: new JSON text (caller frees with cJSON_free) of every workflow's state graph,
 * {"training": {"states": [..], "edges": [["CHECK","MANIFEST"], ..], "terminal": [..],
 * "initial": S, "failed": S}, ..}, for the dashboard; NULL when out of memory. */
char *rt_workflow_graph_json(void);

/* System-state keys in the journal. */
#define RT_STATE_PREVIOUS_TRAINED "previous_trained_images" /* images in the deployed manifest */
#define RT_STATE_LAST_ATTEMPTED "last_attempted_images"     /* images in the last attempt's */
#define RT_STATE_LAST_ATTEMPT_EXEC "last_attempted_exec"    /* the execution of that attempt */
#define RT_STATE_PARAM_APPLIED "param_applied:"             /* + name: the value last applied */

/* ---- the census: labeled images compared by key with the trained manifests ---- */

struct rt_census {
    struct rt_label_counts labels; /* images per label (label = folder name) */
    int64_t images;                /* labeled images now */
    /* Not in the deployed version's manifest (all of them when nothing is deployed). */
    int64_t untrained;
    /* Not in the last attempted manifest, when an attempt was made after the deployment;
     * -1 when there is none. */
    int64_t new_since_attempt;
    int64_t deployed_images; /* images in the deployed manifest (previous_trained_images) */
    int64_t attempt_images;  /* images in the last attempt's manifest, or 0 */
    /* Filled when asked (the MANIFEST step): the manifest text and its sorted key hashes. */
    struct rt_buf manifest;
    struct rt_hashset keys;
};
/* Frees what a census holds. */
void rt_census_cleanup(struct rt_census *c);

struct rt_census_opts {
    struct rt_store *store;     /* listed for the labeled prefix */
    struct rt_journal *journal; /* the deployed and attempted key sets; NULL: nothing trained */
    const struct rt_config *cfg;
    bool write_manifest;  /* build census.manifest and census.keys */
    const char *job_name; /* manifest lines' job-name (the execution id) */
};
/* The census is ready (status 0), or failed (err says why). c is valid during the call; the
 * callee may move its contents out (leaving zeroed fields): what is left is freed after it. */
typedef void
rt_census_done_fn(int status, struct rt_census *c, const struct rt_error *err, void *ud);
/*
 * Lists the labeled images of the store page by page and counts them by label and by identity
 * against the key sets of the deployed and the last attempted manifests (8 bytes per key held in
 * memory). A manifest recorded before key sets existed is read from the store once instead.
 * Returns: 0 (cb runs later, exactly once) or an error with err filled (cb never runs): a
 * journal that cannot be read is an error, never "nothing trained".
 */
int rt_census_start(const struct rt_census_opts *o,
                    rt_census_done_fn *cb,
                    void *ud,
                    struct rt_error *err);

#endif
