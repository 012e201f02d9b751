/*
 * workflow.h - persisted state machines (DESIGN.md "Workflows") and the training workflow.
 *
 * The machine (src/workflow/machine.c) decides *when*: it loads an execution, runs the step of
 * its current state, writes the transition to the journal in one transaction, then runs the next
 * step on a later loop turn. The steps (one table per workflow, e.g. src/workflow/training.c)
 * decide *how*, through the driver interfaces only. Every step is idempotent: names derive from
 * the execution id, so a step repeated after a crash finds its own earlier work.
 */
#ifndef RETRAIND_WORKFLOW_H
#define RETRAIND_WORKFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/notify.h"
#include "retraind/paramdef.h"

struct uv_loop_s;
struct rt_journal;
struct rt_store;
struct rt_engine;
struct rt_config;
struct rt_machine;

/* What the workflows run on; every pointer is borrowed and must outlive the machine. */
struct rt_workflow_env {
    struct uv_loop_s *loop;
    struct rt_journal *journal;
    struct rt_store *store;
    struct rt_engine *engine;
    const struct rt_config *cfg;
    /* The current parameter values; the daemon updates them in place when they change. */
    const struct rt_param_set *params;
    /* Called for every event people should hear about (on the loop thread). */
    void (*emit)(void *emit_ud, const struct rt_event *ev);
    void *emit_ud;
    /* How often a waiting step polls the engine (builtin: short; rekognition: status_poll). */
    int64_t engine_poll_ms;
};

/* Creates the machine. Returns: 0 and *out, or RT_ENOMEM. */
int rt_machine_new(const struct rt_workflow_env *env, struct rt_machine **out);
/* Resumes every unfinished execution from its last recorded state. Returns: 0 or an error. */
int rt_machine_resume(struct rt_machine *m);
/*
 * Starts a training check (a new execution in CHECK) unless one is in flight.
 * reason: "schedule", "start", "trigger" (logged). Returns: 0 (started), RT_EBUSY (a training is
 * in flight; nothing started), or an error.
 */
int rt_machine_start_training(struct rt_machine *m, const char *reason);
/* Returns: the number of executions this machine is running right now. */
int rt_machine_in_flight(struct rt_machine *m);
/*
 * Stops gracefully: no new step starts; steps already running reach their next persisted state;
 * waiting timers stop. cb runs once nothing is left (the machine is freed before cb).
 */
void rt_machine_close(struct rt_machine *m, void (*cb)(void *ud), void *ud);

/* Names of the training states, in table order (for tests and docs). */
extern const char *const rt_training_state_names[];
extern const int rt_training_state_count;

/* System-state keys in the journal. */
#define RT_STATE_PREVIOUS_TRAINED "previous_trained_images"
#define RT_STATE_LAST_ATTEMPTED "last_attempted_images"

#endif
