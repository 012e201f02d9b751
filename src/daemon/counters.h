/*
 * counters.h - the daemon's counters for /metrics and status: finished executions by workflow
 * and end state, and detections by route.
 *
 * Design: both tables can grow without bound (one execution per detected image), so nothing
 * scans them per scrape. The counts are read once at start with one GROUP BY each (before any
 * execution runs), then kept current in memory from the machine's committed transitions
 * (rt_workflow_env.transitioned): an execution that reaches an end state adds one to its
 * (workflow, state); a detection's ROUTE transition adds one to its route. A transition is
 * counted only once its batch is durable, so memory never runs ahead of the journal, and a
 * restart starts again from the journal.
 */
#ifndef RETRAIND_DAEMON_COUNTERS_H
#define RETRAIND_DAEMON_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/workflow.h"

struct rt_journal;

#define RT_COUNTERS_MAX 64 /* (workflow, end state) pairs: the workflows have about 15 */

struct rt_exec_count {
    char workflow[32];
    char state[32];
    int64_t n;
};

struct rt_daemon_counters {
    struct rt_exec_count exec[RT_COUNTERS_MAX];
    int n_exec;
    int64_t accepted, accepted_low, review; /* detections by route */
};

/* Every (workflow, end state) at 0, then the journal's counts (one GROUP BY per table).
 * Returns: 0 or an error (the counters then start from what was read). */
int rt_counters_load(struct rt_daemon_counters *c, struct rt_journal *j);
/* The machine's hook: counts a committed transition. */
void rt_counters_transition(struct rt_daemon_counters *c, const struct rt_transition *t);
/* Appends retraind_executions_total and retraind_detections_total (Prometheus text). */
int rt_counters_write(const struct rt_daemon_counters *c, struct rt_buf *out);
/* Appends a Prometheus label value, escaped (backslash, double quote, newline). */
int rt_prom_label(struct rt_buf *out, const char *value);

#endif
