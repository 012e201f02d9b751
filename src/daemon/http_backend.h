/*
 * http_backend.h - the daemon's side of the HTTP server: starts it on the daemon's loop and
 * answers its backend operations from the journal, the params driver and the store.
 */
#ifndef RETRAIND_DAEMON_HTTP_BACKEND_H
#define RETRAIND_DAEMON_HTTP_BACKEND_H

#include <stdbool.h>
#include <uv.h>

#include "retraind/config.h"
#include "retraind/error.h"
#include "retraind/paramdef.h"

struct rt_journal;
struct rt_store;
struct rt_params;
struct rt_review;
struct rt_daemon_http;
struct rt_detect;
struct rt_daemon_counters;

/* The journal state key holding "host:port" while the server listens ("" otherwise). */
#define RT_STATE_HTTP_ADDRESS "http_address"

struct rt_daemon_http_env {
    uv_loop_t *loop;
    const struct rt_config *cfg;       /* borrowed */
    struct rt_journal *journal;        /* borrowed; its writer runs */
    struct rt_store *store;            /* borrowed: the census of /api/status */
    struct rt_params *params;          /* borrowed: PUT /api/params/NAME */
    const struct rt_param_set *values; /* borrowed: the daemon's current values */
    struct rt_review *review;          /* borrowed or NULL: the portal's tasks (local driver) */
    const struct rt_detect *detect;    /* borrowed or NULL: detections in flight */
    /* borrowed or NULL: executions by end state, detections by route (counters.h) */
    const struct rt_daemon_counters *counters;
    /* Called (on the loop, may be NULL) after POST /api/label-jobs committed a new job, so the
     * daemon starts it at once rather than at its next look at the journal. */
    void (*label_job_created)(void *ud);
    void *hook_ud;
};

/* Returns: true when cfg asks for the server: http.listen written, or portal users or API
 * tokens configured. */
bool rt_daemon_http_wanted(const struct rt_config *cfg);
/*
 * Starts the server, logs event=http_listening address=host:port and records the address in the
 * journal state for `status`. Returns: 0 and *out, or an error in err.
 */
int rt_daemon_http_start(const struct rt_daemon_http_env *env,
                         struct rt_daemon_http **out,
                         struct rt_error *err);
/* Returns: the listening address "host:port" (borrowed). */
const char *rt_daemon_http_address(const struct rt_daemon_http *h);
/* Records "no server" in the journal state (a daemon started without one). */
void rt_daemon_http_note_none(struct rt_journal *j);
/* Closes the server (every pending answer completes first), frees h, then cb(ud) later. */
void rt_daemon_http_close(struct rt_daemon_http *h, void (*cb)(void *ud), void *ud);

#endif
