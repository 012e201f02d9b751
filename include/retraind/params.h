/*
 * params.h - where the ten runtime parameters live: the journal (local) or Parameter Store (ssm).
 *
 * A params driver loads the full set and stores one changed value. Values are validated with
 * paramdef.h before they reach a driver, so a refused value never changes anything.
 */
#ifndef RETRAIND_PARAMS_H
#define RETRAIND_PARAMS_H

#include "retraind/error.h"
#include "retraind/paramdef.h"

struct uv_loop_s;
struct rt_journal;
struct rt_params;

/* values is borrowed during the call. */
typedef void rt_params_load_fn(int status,
                               const struct rt_param_set *values,
                               const struct rt_error *err,
                               void *ud);
typedef void rt_params_done_fn(int status, const struct rt_error *err, void *ud);

struct rt_params_ops {
    const char *name; /* "local", "ssm" */
    /* Loads every value: the stored one, else the config default. */
    int (*load)(struct rt_params *p, rt_params_load_fn *cb, void *ud);
    /* Stores one already-validated value. */
    int (*set)(struct rt_params *p,
               enum rt_param_id id,
               const struct rt_param_value *v,
               rt_params_done_fn *cb,
               void *ud);
    void (*close)(struct rt_params *p, void (*cb)(void *ud), void *ud);
};

struct rt_params {
    const struct rt_params_ops *ops;
};

/*
 * Loads the set synchronously from the journal over defaults (shared by the local driver and by
 * the CLI, which reads the journal directly). A stored value that no longer parses is logged and
 * replaced by the default. j may be NULL (no journal yet: defaults only).
 */
int rt_params_read_journal(struct rt_journal *j,
                           const struct rt_param_set *defaults,
                           struct rt_param_set *out);

/* The local driver over the journal (borrowed; must outlive p). defaults is borrowed too (NULL:
 * the table's defaults): its owner may change it in place, e.g. on a config reload, and the next
 * load() uses the new values. */
int rt_params_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        const struct rt_param_set *defaults,
                        struct rt_params **out);

#endif
