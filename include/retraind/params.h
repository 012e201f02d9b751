/*
 * params.h - where the ten runtime parameters live: the journal (local) or Parameter Store (ssm).
 *
 * A params driver loads the full set, validates and stores one value, drops a stored value, and
 * tells its owner when the values changed: the local driver when asked to look (the daemon's
 * control socket was poked after `params set`, or a value was set through it), a remote one from
 * its own polling. Everything that reads or writes parameters goes through this interface — the
 * daemon, the CLI and (later) the HTTP API — so an SSM deployment behaves like the local one.
 *
 * Callbacks run on the loop thread, never inside the starting call; when a starting call returns
 * an error its callback never runs.
 */
#ifndef RETRAIND_PARAMS_H
#define RETRAIND_PARAMS_H

#include <stdint.h>

#include "retraind/error.h"
#include "retraind/paramdef.h"

struct uv_loop_s;
struct rt_journal;
struct rt_params;

/* values is borrowed during the call; each value's source says where it comes from. */
typedef void rt_params_load_fn(int status,
                               const struct rt_param_set *values,
                               const struct rt_error *err,
                               void *ud);
/* status RT_EINVAL: the value was refused (err says which parameter and why; nothing changed). */
typedef void rt_params_done_fn(int status, const struct rt_error *err, void *ud);
/* The values changed (values borrowed during the call): a full new set. */
typedef void rt_params_change_fn(const struct rt_param_set *values, void *ud);

struct rt_params_ops {
    const char *name; /* "local", "ssm" */
    /* Loads every value: the stored one, else the config default. */
    int (*load)(struct rt_params *p, rt_params_load_fn *cb, void *ud);
    /* Validates text as a value of id (paramdef.h) and stores it. */
    int (*set)(struct rt_params *p,
               enum rt_param_id id,
               const char *text,
               rt_params_done_fn *cb,
               void *ud);
    /* Drops the stored value of id, so the config's default applies again. */
    int (*reset)(struct rt_params *p, enum rt_param_id id, rt_params_done_fn *cb, void *ud);
    /* Looks for changes now: on_change runs (later) if the values differ from the last set this
     * driver delivered through load or on_change. Returns: 0 or an error. */
    int (*refresh)(struct rt_params *p);
    /* Stops work and frees p; cb (may be NULL) runs once everything is closed. */
    void (*close)(struct rt_params *p, void (*cb)(void *ud), void *ud);
};

struct rt_params {
    const struct rt_params_ops *ops;
    /* Set by the owner (NULL: nobody listens); called on the loop thread. */
    rt_params_change_fn *on_change;
    void *on_change_ud;
};

/*
 * Loads the set synchronously from the journal over defaults (the local driver's read). A stored
 * value that no longer parses is logged and replaced by the default. j may be NULL (no journal
 * yet: defaults only). Returns: 0, or the journal's error (out then holds the defaults).
 */
int rt_params_read_journal(struct rt_journal *j,
                           const struct rt_param_set *defaults,
                           struct rt_param_set *out);

/*
 * The local driver over the journal (borrowed; must outlive p). Writes go through the journal's
 * writer thread (rt_journal_writer_start must have run), so they never block the loop. j may be
 * NULL for a read-only use (the CLI's status with no journal yet): load gives the defaults and
 * set/reset refuse. defaults is borrowed (NULL: the table's defaults): its owner may change it in
 * place, e.g. on a config reload, and the next load or refresh uses the new values.
 */
int rt_params_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        const struct rt_param_set *defaults,
                        struct rt_params **out);

struct rt_aws_client;
/*
 * The ssm driver: the ten parameters as <path><Name> in Parameter Store through aws (borrowed;
 * must outlive p). path starts and ends with '/'. The driver reads Parameter Store on its own every
 * refresh_ms (0: only when refresh is called) and calls on_change when the values changed. defaults
 * as for the local driver. A value in Parameter Store that does not parse is logged once per
 * Version and the last good value kept. Returns: 0 and *out, or RT_EINVAL / RT_ECONFIG / RT_ENOMEM
 * with err filled.
 */
int rt_params_ssm_new(struct uv_loop_s *loop,
                      struct rt_aws_client *aws,
                      const char *path,
                      int64_t refresh_ms,
                      const struct rt_param_set *defaults,
                      struct rt_params **out,
                      struct rt_error *err);
/*
 * Mirrors one key of the daemon's system state into <path>For-System-Use-Only (a JSON object,
 * read-modify-write keeping keys retraind does not know). json_value is JSON text ("12",
 * "\"arn:...\""). Does nothing and returns 0 when p is not the ssm driver. Asynchronous; a
 * failure is logged (the journal stays the source of truth).
 * Returns: 0, or RT_EINVAL (not JSON) / RT_ENOMEM / RT_ECANCELED.
 */
int rt_params_ssm_system_put(struct rt_params *p, const char *key, const char *json_value);

/* object: the parsed JSON object, or NULL when the parameter does not exist (status 0);
 * borrowed, valid during the callback only. */
struct cJSON;
typedef void
rt_params_system_fn(int status, const struct cJSON *object, const struct rt_error *err, void *ud);
/*
 * Reads <path>For-System-Use-Only once (GetParameter), e.g. to take over the state of a
 * reference-solution deployment at the first start. A value that is not a JSON object is
 * RT_EPARSE. Returns: 0 (cb runs later, also with RT_ECANCELED when the driver closes first),
 * RT_EINVAL when p is not the ssm driver, RT_ENOMEM.
 */
int rt_params_ssm_system_get(struct rt_params *p, rt_params_system_fn *cb, void *ud);

#endif
