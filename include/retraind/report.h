/*
 * report.h - the JSON that `status` and `history` print (DESIGN.md "JSON shapes"), built from the
 * journal, the parameters driver and the store. Shared by the CLI and, later, the HTTP API.
 */
#ifndef RETRAIND_REPORT_H
#define RETRAIND_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/paramdef.h"
#include "retraind/workflow.h"

struct rt_config;
struct rt_journal;

/*
 * Counts the labeled images of cfg's store (the driver the config names, opened read-only: it
 * creates nothing) and compares them by key with the trained manifests recorded in j (NULL:
 * nothing trained), on a private loop (blocking; for the CLI). Returns: 0 and *out (clean up
 * with rt_census_cleanup), or an error in err.
 */
int rt_report_census(const struct rt_config *cfg,
                     struct rt_journal *j,
                     struct rt_census *out,
                     struct rt_error *err);
/*
 * Loads the parameters through the driver the config names, on a private loop (blocking; for the
 * CLI). j may be NULL (no journal yet: defaults). Returns: 0 and *out, or an error in err.
 */
int rt_report_params(const struct rt_config *cfg,
                     struct rt_journal *j,
                     struct rt_param_set *out,
                     struct rt_error *err);

/*
 * Sets (text) or resets (text NULL) parameter id through the driver the config names, on a
 * private loop (blocking; for the CLI): opens the journal read-write for the local driver.
 * Returns: 0 once the value is durable; RT_EINVAL when the value is refused (err names the
 * parameter and why; nothing changed); another error otherwise.
 */
int rt_report_params_write(const struct rt_config *cfg,
                           enum rt_param_id id,
                           const char *text,
                           struct rt_error *err);

/* Sampled answers of one model version and how many agreed with the model's label. */
struct rt_report_agreement {
    char version[128];
    int64_t answered, agreed;
};
/* The detection and review figures of status and /metrics. */
struct rt_report_live {
    int64_t queued, in_flight;              /* detections waiting, being detected */
    int64_t accepted, accepted_low, review; /* detections by route */
    int64_t review_open, review_oldest_ms;  /* open review tasks; the oldest's creation (0) */
    struct rt_report_agreement *agreement;  /* owned; per model version, by version */
    size_t n_agreement;
};
/*
 * Reads the live figures from the journal. With routes, the route and in-flight counts come
 * from a GROUP BY over every detection (the CLI, once); without, they are left at 0 for the
 * caller to fill (the daemon keeps them in memory) and only indexed reads run: the queued
 * count, the open tasks, the sampled rows. Returns: 0 or an error (*out cleaned up).
 */
int rt_report_live_read(struct rt_journal *j, bool routes, struct rt_report_live *out);
void rt_report_live_cleanup(struct rt_report_live *l);

/* How many in-flight executions of the detection and sampling workflows status lists (training
 * and parameter executions are always listed; "in_flight_total" counts every one). */
#define RT_REPORT_IN_FLIGHT_OTHERS 20

/* Returns: new status object (caller frees with cJSON_Delete), or NULL when out of memory.
 * j may be NULL (no journal yet): zero counters. live: the detection and review figures, or
 * NULL to read them from j (rt_report_live_read with routes). */
cJSON *rt_report_status(const struct rt_config *cfg,
                        struct rt_journal *j,
                        const struct rt_census *census,
                        const struct rt_param_set *values,
                        bool daemon_running,
                        const struct rt_report_live *live);

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
