/*
 * model_meter.h - how long each model version has been RUNNING (a Custom Labels model is billed
 * per running hour), for `status` and /metrics.
 *
 * The meter is an engine that wraps the configured one and passes every call through; it notices
 * a version going RUNNING (a describe that says RUNNING, or a detection it answered) and leaving
 * it (a stop that succeeded, or a describe that says STOPPING, STOPPED, TRAINING_COMPLETED or
 * FAILED), and journals each change as two system_state keys per version:
 * "model_run_ms:<version>" (the closed RUNNING periods, summed) and "model_run_since:<version>"
 * (epoch ms the open period began, 0 when not running). The sum therefore survives idle stops
 * and starts and daemon restarts; a version left RUNNING while the daemon was down counts that
 * time too, as the provider bills it.
 */
#ifndef RETRAIND_MODEL_METER_H
#define RETRAIND_MODEL_METER_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"

struct rt_engine;
struct rt_journal;

/* Wraps inner (taken over: the meter's close closes it) into *out; j must have its writer
 * running and outlive the meter. Returns: 0 or RT_ENOMEM in err. */
int rt_model_meter_new(struct rt_engine *inner,
                       struct rt_journal *j,
                       struct rt_engine **out,
                       struct rt_error *err);

/* Reads version's running time up to now_ms from the journal: *ms the sum, *running whether a
 * period is open. A version never seen running reads 0 and false. Returns: 0 or a journal
 * error. */
int rt_model_meter_read(
    struct rt_journal *j, const char *version, int64_t now_ms, int64_t *ms, bool *running);

#endif
