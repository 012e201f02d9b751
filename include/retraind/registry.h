/*
 * registry.h - the one table of drivers: family, name, constructor (curl's protocol handler
 * table). The daemon, the CLI's commands and check-config all build and check drivers here, so
 * the driver named in the config is the driver that runs, and a new driver is one row in
 * src/daemon/registry.c plus its own file.
 */
#ifndef RETRAIND_REGISTRY_H
#define RETRAIND_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/config.h"
#include "retraind/error.h"

struct uv_loop_s;
struct rt_journal;
struct rt_store;
struct rt_params;
struct rt_engine;
struct rt_notifier;
struct rt_httpc;
struct rt_review;
struct rt_credentials_provider;
struct rt_aws_client;

/* What constructors get. Pointers are borrowed and must outlive the drivers made from it. */
struct rt_driver_env {
    struct uv_loop_s *loop;
    const struct rt_config *cfg;
    struct rt_journal *journal; /* local parameters; NULL: none yet (read-only commands) */
    struct rt_store *store;     /* set before an engine is made: engines read through it */
    bool read_only;             /* read commands: create nothing, write nothing */
    struct rt_httpc *httpc;     /* owned: made by the first driver that needs HTTP or SMTP;
                                 * closed by rt_driver_env_close */
    struct rt_credentials_provider *creds; /* owned: the default credential chain, made with aws */
    struct rt_aws_client *aws; /* owned: made by the first AWS driver (rt_driver_env_aws) */
};

/* Returns: 0 and env->aws made if missing (httpc, the default credential chain, the config's
 * region, endpoints and path style), or an error. */
int rt_driver_env_aws(struct rt_driver_env *env, struct rt_error *err);

/*
 * Checks that every driver cfg names is built into this program. Returns: 0, or RT_ECONFIG with
 * err saying "file:line:col: store.driver: driver "s3" is not built into this version of retraind
 * yet (available: local)".
 */
int rt_registry_check(const struct rt_config *cfg, struct rt_error *err);

/* Makes the store cfg names. Returns: 0 and *out (closed with its ops->close), or an error. */
int rt_registry_new_store(struct rt_driver_env *env, struct rt_store **out, struct rt_error *err);
/* Makes the parameters driver. */
int rt_registry_new_params(struct rt_driver_env *env, struct rt_params **out, struct rt_error *err);
/* Makes the engine (env->store must be set). *poll_ms: how often a waiting workflow step asks it
 * about a version in progress. */
int rt_registry_new_engine(struct rt_driver_env *env,
                           struct rt_engine **out,
                           int64_t *poll_ms,
                           struct rt_error *err);
/* Makes the review driver (env->journal and env->store must be set; the local driver writes
 * through the journal's writer thread). Returns: 0 and *out (closed with its ops->close). */
int rt_registry_new_review(struct rt_driver_env *env, struct rt_review **out, struct rt_error *err);
/* Makes notifier index of cfg->notify. */
int rt_registry_new_notifier(struct rt_driver_env *env,
                             int index,
                             struct rt_notifier **out,
                             struct rt_error *err);
/* Writes the built drivers of family, "local, s3", into out. */
void rt_registry_names(enum rt_driver_family family, char *out, size_t size);
/* Closes what env made for the drivers (the AWS client, credentials, the HTTP client); cb (may be
 * NULL) runs once done, on a later loop turn. Close the drivers first. */
void rt_driver_env_close(struct rt_driver_env *env, void (*cb)(void *ud), void *ud);

#endif
