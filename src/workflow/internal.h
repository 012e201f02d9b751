/*
 * internal.h - what the machine and the workflow step tables share (private to src/workflow).
 *
 * A workflow is a static table indexed by its state enum. A step function starts the work of its
 * state and, when that work ends (usually in a driver callback), calls exactly one of
 * rt__exec_next, rt__exec_finish, rt__exec_wait or rt__exec_coalesce. The machine persists the
 * transition (one batch: the extra writes of tx, the step's output, the new state, and the
 * notifications the step raised) and runs the next step only once it is durable.
 */
#ifndef RT_WORKFLOW_INTERNAL_H
#define RT_WORKFLOW_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <uv.h>

#include "retraind/journal.h"
#include "retraind/workflow.h"

struct rt_exec;
typedef void rt_step_fn(struct rt_exec *x);
/* Adds writes to the transition's batch (atomic with it). Returns: 0 or an error. */
typedef int rt_tx_fn(struct rt_exec *x, struct rt_jbatch *b, void *ud);

#define RT_MAX_NEXT 6

struct rt_state_def {
    const char *name;
    rt_step_fn *step; /* NULL for terminal states */
    bool terminal;
    int next[RT_MAX_NEXT]; /* states the step may move to; -1 ends the list */
};

struct rt_workflow_def {
    const char *name;      /* "training" */
    const char *id_prefix; /* "tr" */
    const struct rt_state_def *states;
    int n_states;
    int initial;
    int failed; /* the terminal state of failures: entering it tells people (RT_EV_FAILED) */
    /* Optional: called on the loop thread after each durable transition of an execution of
     * this workflow (released false) and once when the execution is released (released true). */
    void (*on_settle)(struct rt_exec *x, bool released);
};

struct rt_machine {
    struct rt_workflow_env env;
    struct rt_exec *execs; /* running executions (owned list) */
    bool closing;
    struct rt_detect *detect; /* borrowed: the detection service, when the daemon runs one */
    int64_t digest_ms;        /* when the last review digest was raised (0: read the journal) */
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* A notification raised by the current step, written with its transition. */
struct rt__note {
    struct rt__note *next;
    char *json; /* owned (cJSON_free): rt_event_to_json of the event */
    enum rt_event_kind kind;
};

struct rt_exec {
    struct rt_machine *m; /* borrowed */
    const struct rt_workflow_def *def;
    char id[64];
    int state;
    cJSON *ctx;              /* owned: data carried between steps, persisted each transition */
    char *input;             /* owned JSON or NULL: written with the execution's first row */
    int64_t started_ms;      /* when the execution began (its first step's time) */
    uv_timer_t timer;        /* schedules this execution's next step or poll */
    bool persisted;          /* its row exists in the journal */
    bool step_running;       /* a step's work is outstanding */
    bool persisting;         /* a transition's batch is with the writer */
    bool done;               /* reached a terminal state (or closing): being freed */
    bool resumed_after_stop; /* resumed after a graceful stop (see rt_machine_close) */
    int64_t entered_mono_ms; /* when the current state was entered (for dur_ms) */
    struct rt__note *notes;  /* owned: raised by the current step */
    bool notes_lost;         /* one of them could not be built: the transition must fail */
    int pending_next;        /* the state being persisted */
    char *pending_error;     /* owned: its error text, for the log */
    /* ctx and resumed_after_stop as the current step found them: restored when its transition
     * cannot be written, so that the step runs again from there. */
    cJSON *ctx_before; /* owned or NULL */
    bool resumed_before;
    /* The step waits for an outside event with no timer (rt__exec_park): park_cancel forgets
     * that wait when the machine closes first. */
    bool parked;
    void (*park_cancel)(struct rt_exec *x);
    struct rt_exec *next;
};

/* Moves x to state next, recording output (owned; may be NULL) for the step that ended, with
 * tx's writes in the same batch (tx may be NULL). */
void rt__exec_next(struct rt_exec *x, int next, cJSON *output, rt_tx_fn *tx, void *tx_ud);
/* Ends x in terminal state term with error text (NULL for a normal end). */
void rt__exec_finish(
    struct rt_exec *x, int term, cJSON *output, const char *error, rt_tx_fn *tx, void *tx_ud);
/* Runs the current step again after delay_ms (polling an outside answer). Nothing is persisted. */
void rt__exec_wait(struct rt_exec *x, int64_t delay_ms);
/* The current step waits for an outside callback and costs no timer meanwhile: the step's
 * callback later calls rt__exec_next/finish as usual. cancel (may be NULL) is called if the
 * machine closes first; it must make sure the callback never comes. */
void rt__exec_park(struct rt_exec *x, void (*cancel)(struct rt_exec *x));
/* Ends a not-yet-persisted x without a row of its own: the finished execution prev_id stands for
 * it (its check count grows). Used when a check finds exactly what the last one found. */
void rt__exec_coalesce(struct rt_exec *x, const char *prev_id);
/* Raises a notification, written to the outbox with the step's transition. */
void rt__exec_notify(struct rt_exec *x, struct rt_event *ev);

/* Returns: the index of the state named name in def, or -1. */
int rt__state_index(const struct rt_workflow_def *def, const char *name);

extern const struct rt_workflow_def rt__training_def;
extern const struct rt_workflow_def rt__param_def;
extern const struct rt_workflow_def rt__detection_def;
extern const struct rt_workflow_def rt__sampling_def;
extern const struct rt_workflow_def rt__labeling_def;

/* Context helpers: read numbers and strings carried in x->ctx. */
int64_t rt__ctx_int(struct rt_exec *x, const char *key, int64_t dflt);
double rt__ctx_double(struct rt_exec *x, const char *key, double dflt);
const char *rt__ctx_str(struct rt_exec *x, const char *key); /* borrowed or NULL */
void rt__ctx_set_int(struct rt_exec *x, const char *key, int64_t v);
void rt__ctx_set_double(struct rt_exec *x, const char *key, double v);
void rt__ctx_set_str(struct rt_exec *x, const char *key, const char *v);

/* Makes an execution of def that is persisted with its first transition (or never, when it
 * coalesces). input is JSON (copied) or NULL. Returns: the execution (scheduled to run its first
 * step on a later turn) or NULL with *rc set. */
struct rt_exec *rt__exec_start(struct rt_machine *m,
                               const struct rt_workflow_def *def,
                               const char *input_json,
                               int *rc);

#endif
