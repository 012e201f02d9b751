/*
 * report.h - the JSON that `status` and `history` print (DESIGN.md "JSON shapes"), built from
 * the journal and the store. Shared by the CLI and, later, the HTTP API.
 */
#ifndef RETRAIND_REPORT_H
#define RETRAIND_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/store.h"

struct rt_config;
struct rt_journal;

/*
 * Counts the labeled images of cfg's store by listing it on a private loop (blocking; for the
 * CLI). Returns: 0 or an error in err.
 */
int rt_report_count_labels(const struct rt_config *cfg,
                           struct rt_label_counts *out,
                           struct rt_error *err);

/* Returns: new status object (caller frees with cJSON_Delete), or NULL when out of memory.
 * j may be NULL (no journal yet): defaults and zero counters. */
cJSON *rt_report_status(const struct rt_config *cfg,
                        struct rt_journal *j,
                        const struct rt_label_counts *counts,
                        bool daemon_running);

struct rt_report_history_opts {
    const char *workflow; /* NULL = any */
    const char *state;    /* NULL = any */
    int limit;            /* <= 0: 100 */
    bool with_steps;
};
/* Returns: new array of execution objects, newest first (NULL on failure). j may be NULL. */
cJSON *rt_report_history(struct rt_journal *j, const struct rt_report_history_opts *opts);
/* Returns: the execution object of id with its steps, or NULL with *rc = RT_ENOTFOUND. */
cJSON *rt_report_execution(struct rt_journal *j, const char *id, int *rc);
/* Returns: true if a daemon holds the lock of data_dir. */
bool rt_report_daemon_running(const char *data_dir);

#endif
