/*
 * registry.c - the driver registry: one row per built driver (see registry.h).
 *
 * Design: the config knows every driver name of DESIGN.md (its schema); this table knows which
 * of them this program can build and how. A row is (family, config value, constructor): adding a
 * driver is one row here plus its own file. A row with no constructor would accept the name and
 * build nothing. Constructors share one signature so the table stays a table; the typed
 * rt_registry_new_* wrappers give callers back the right type.
 */
#include "retraind/registry.h"

#include <string.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/credentials.h"
#include "retraind/engine.h"
#include "retraind/engine_rekognition.h"
#include "retraind/fsutil.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "retraind/notify.h"
#include "retraind/params.h"
#include "retraind/review.h"
#include "retraind/review_a2i.h"
#include "retraind/review_local.h"
#include "retraind/store.h"
#include "retraind/store_s3.h"

typedef int driver_new_fn(struct rt_driver_env *env, int index, void **out, struct rt_error *err);

struct row {
    enum rt_driver_family family;
    int value;             /* the config's enum rt_*_driver */
    driver_new_fn *create; /* NULL: accepted, nothing to build yet */
    int64_t poll_ms;       /* engines: how often a waiting step asks (0: engine.status_poll) */
};

/* ---- constructors ---- */

static int store_local(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    struct rt_store_local_opts o = {.root = env->cfg->store.root,
                                    .bucket_name = env->cfg->store.name,
                                    .read_only = env->read_only};
    return rt_store_local_new(env->loop, &o, (struct rt_store **)out, err);
}

static int params_local(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    int rc = rt_params_local_new(env->loop, env->journal, &env->cfg->parameters.defaults,
                                 (struct rt_params **)out);
    return rc ? rt_error_set(err, rc, "parameters: %s", rt_strerror(rc)) : 0;
}

static int engine_builtin(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    char models[4200];
    if (rt_snprintf(models, sizeof(models), "%s/models", env->cfg->data_dir) != 0)
        return rt_error_set(err, RT_ETOOBIG, "data_dir is too long");
    struct rt_engine_builtin_opts o = {
        .models_dir = models, .store = env->store, .threads = env->cfg->engine.training_threads};
    return rt_engine_builtin_new(env->loop, &o, (struct rt_engine **)out, err);
}

static int need_httpc(struct rt_driver_env *env, struct rt_error *err);

static int
engine_rekognition(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    int rc = rt_driver_env_aws(env, err);
    if (rc)
        return rc;
    const struct rt_config *cfg = env->cfg;
    struct rt_engine_rekognition_opts o = {
        .client = env->aws, /* shared: closed by rt_driver_env_close after the engine */
        .project = cfg->engine.project,
        .bucket = cfg->store.driver == RT_STORE_S3 ? cfg->store.bucket : cfg->store.name,
        .max_inference_units = cfg->engine.max_inference_units};
    return rt_engine_rekognition_new(env->loop, &o, (struct rt_engine **)out, err);
}

static int review_local(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    if (!env->journal || !env->store)
        return rt_error_set(err, RT_EINVAL, "review: the local driver needs the journal and store");
    return rt_review_local_new(env->loop, env->journal, env->store, env->cfg,
                               (struct rt_review **)out, err);
}

static int need_httpc(struct rt_driver_env *env, struct rt_error *err)
{
    if (env->httpc)
        return 0;
    struct rt_httpc_opts o = {.ca_file = env->cfg->aws.ca_file,
                              .max_attempts = env->cfg->aws.max_attempts};
    return rt_httpc_new(env->loop, &o, &env->httpc, err);
}

/* The AWS client every AWS driver shares: the default credential chain and the config's aws
 * section (region, endpoints, attempts, path style; a profile's region below the config's). */
int rt_driver_env_aws(struct rt_driver_env *env, struct rt_error *err)
{
    if (env->aws)
        return 0;
    int rc = need_httpc(env, err);
    if (rc)
        return rc;
    const struct rt_config *cfg = env->cfg;
    if (!env->creds) {
        struct rt_credentials_opts co = {.loop = env->loop, .httpc = env->httpc};
        rt_credentials_opts_from_config(&co, cfg);
        if ((rc = rt_credentials_provider_new_default(&co, &env->creds, err)))
            return rc;
    }
    char profile_region[64];
    struct rt_error perr;
    rt_error_clear(&perr);
    struct rt_aws_client_opts o = {.credentials = env->creds};
    rt_aws_client_opts_from_config(&o, cfg);
    if (rt_credentials_profile_region(cfg->aws.profile, profile_region, sizeof(profile_region),
                                      &perr) == 0)
        o.profile_region = profile_region;
    return rt_aws_client_new(env->loop, env->httpc, &o, &env->aws, err);
}

static int store_s3(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    int rc = rt_driver_env_aws(env, err);
    if (rc)
        return rc;
    struct rt_store_s3_opts o = {.aws = env->aws,
                                 .bucket = env->cfg->store.bucket,
                                 .bucket_name = env->cfg->store.bucket,
                                 .read_only = env->read_only,
                                 .events_queue =
                                     env->read_only ? NULL : env->cfg->store.events_queue};
    return rt_store_s3_new(env->loop, &o, (struct rt_store **)out, err);
}

static int review_a2i(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    if (!env->store)
        return rt_error_set(err, RT_EINVAL, "review: the a2i driver needs the store");
    int rc = rt_driver_env_aws(env, err);
    if (rc)
        return rc;
    struct rt_review_a2i_opts o = {.flow_definition = env->cfg->review.flow_definition,
                                   .poll_ms = env->cfg->review.poll_ms};
    return rt_review_a2i_new(env->loop, env->aws, env->store, &o, (struct rt_review **)out, err);
}

static int notify_log(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    int rc = rt_notifier_log_new(env->loop, (struct rt_notifier **)out);
    return rc ? rt_error_set(err, rc, "notify[%d]: %s", index, rt_strerror(rc)) : 0;
}

static int notify_smtp(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    int rc = need_httpc(env, err);
    if (rc)
        return rc;
    return rt_notifier_smtp_new(env->loop, env->httpc, &env->cfg->notify[index],
                                (struct rt_notifier **)out, err);
}

static int notify_sns(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    int rc = rt_driver_env_aws(env, err);
    if (rc)
        return rc;
    return rt_notifier_sns_new(env->aws, env->cfg->notify[index].topic_arn,
                               (struct rt_notifier **)out, err);
}

static int params_ssm(struct rt_driver_env *env, int index, void **out, struct rt_error *err)
{
    (void)index;
    int rc = rt_driver_env_aws(env, err);
    if (rc)
        return rc;
    return rt_params_ssm_new(env->loop, env->aws, env->cfg->parameters.path,
                             env->cfg->parameters.refresh_ms, &env->cfg->parameters.defaults,
                             (struct rt_params **)out, err);
}

/* ---- the table ---- */

static const struct row rows[] = {
    {RT_FAMILY_STORE, RT_STORE_LOCAL, store_local, 0},
    {RT_FAMILY_STORE, RT_STORE_S3, store_s3, 0},
    {RT_FAMILY_PARAMS, RT_PARAMS_LOCAL, params_local, 0},
    {RT_FAMILY_ENGINE, RT_ENGINE_BUILTIN, engine_builtin, 500},
    {RT_FAMILY_ENGINE, RT_ENGINE_REKOGNITION, engine_rekognition, 0},
    {RT_FAMILY_REVIEW, RT_REVIEW_LOCAL, review_local, 0},
    {RT_FAMILY_REVIEW, RT_REVIEW_A2I, review_a2i, 0},
    {RT_FAMILY_NOTIFY, RT_NOTIFY_LOG, notify_log, 0},
    {RT_FAMILY_NOTIFY, RT_NOTIFY_SMTP, notify_smtp, 0},
    {RT_FAMILY_NOTIFY, RT_NOTIFY_SNS, notify_sns, 0},
    {RT_FAMILY_PARAMS, RT_PARAMS_SSM, params_ssm, 0},
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static const struct row *find(enum rt_driver_family family, int value)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].family == family && rows[i].value == value)
            return &rows[i];
    return NULL;
}

void rt_registry_names(enum rt_driver_family family, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].family != family)
            continue;
        size_t len = strlen(out);
        rt_snprintf(out + len, size - len, "%s%s", len ? ", " : "",
                    rt_config_driver_name(family, rows[i].value));
    }
}

/* Fails with the config position of a driver that is not built. */
static int not_built(const struct rt_config *cfg,
                     enum rt_driver_family family,
                     int value,
                     int index,
                     struct rt_config_pos pos,
                     struct rt_error *err)
{
    char key[48], names[128];
    if (family == RT_FAMILY_NOTIFY)
        rt_snprintf(key, sizeof(key), "notify[%d].driver", index);
    else
        rt_snprintf(key, sizeof(key), "%s.driver", rt_config_family_key(family));
    rt_registry_names(family, names, sizeof(names));
    const char *name = rt_config_driver_name(family, value);
    return rt_error_set_at(err, RT_ECONFIG, cfg->path, pos.line, pos.col,
                           "%s: driver \"%s\" is not built into this version of retraind yet "
                           "(available: %s)",
                           key, name ? name : "?", names);
}

int rt_registry_check(const struct rt_config *cfg, struct rt_error *err)
{
    const struct {
        enum rt_driver_family family;
        int value;
        struct rt_config_pos pos;
    } chosen[] = {
        {RT_FAMILY_STORE, (int)cfg->store.driver, cfg->store.driver_pos},
        {RT_FAMILY_PARAMS, (int)cfg->parameters.driver, cfg->parameters.driver_pos},
        {RT_FAMILY_ENGINE, (int)cfg->engine.driver, cfg->engine.driver_pos},
        {RT_FAMILY_REVIEW, (int)cfg->review.driver, cfg->review.driver_pos},
    };
    for (size_t i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++)
        if (!find(chosen[i].family, chosen[i].value))
            return not_built(cfg, chosen[i].family, chosen[i].value, 0, chosen[i].pos, err);
    for (int i = 0; i < cfg->n_notify; i++)
        if (!find(RT_FAMILY_NOTIFY, (int)cfg->notify[i].driver))
            return not_built(cfg, RT_FAMILY_NOTIFY, (int)cfg->notify[i].driver, i,
                             cfg->notify[i].driver_pos, err);
    return 0;
}

/* Builds the driver of family/value through its row. */
static int create(struct rt_driver_env *env,
                  enum rt_driver_family family,
                  int value,
                  int index,
                  void **out,
                  const struct row **used,
                  struct rt_error *err)
{
    *out = NULL;
    const struct row *r = find(family, value);
    const char *name = rt_config_driver_name(family, value);
    if (!r || !r->create)
        return rt_error_set(err, RT_ENOTIMPL, "%s driver \"%s\" is not built",
                            rt_config_family_key(family), name ? name : "?");
    if (used)
        *used = r;
    int rc = r->create(env, index, out, err);
    if (!rc)
        RT_LOG(RT_LOG_DEBUG, "daemon", "event=driver_made family=%s driver=%s",
               rt_config_family_key(family), name);
    return rc;
}

int rt_registry_new_store(struct rt_driver_env *env, struct rt_store **out, struct rt_error *err)
{
    return create(env, RT_FAMILY_STORE, (int)env->cfg->store.driver, 0, (void **)out, NULL, err);
}

int rt_registry_new_params(struct rt_driver_env *env, struct rt_params **out, struct rt_error *err)
{
    return create(env, RT_FAMILY_PARAMS, (int)env->cfg->parameters.driver, 0, (void **)out, NULL,
                  err);
}

int rt_registry_new_engine(struct rt_driver_env *env,
                           struct rt_engine **out,
                           int64_t *poll_ms,
                           struct rt_error *err)
{
    if (!env->store)
        return rt_error_set(err, RT_EINVAL, "an engine needs the store first");
    const struct row *r = NULL;
    int rc = create(env, RT_FAMILY_ENGINE, (int)env->cfg->engine.driver, 0, (void **)out, &r, err);
    if (!rc && poll_ms)
        *poll_ms = r->poll_ms ? r->poll_ms : env->cfg->engine.status_poll_ms;
    return rc;
}

int rt_registry_new_review(struct rt_driver_env *env, struct rt_review **out, struct rt_error *err)
{
    return create(env, RT_FAMILY_REVIEW, (int)env->cfg->review.driver, 0, (void **)out, NULL, err);
}

int rt_registry_new_notifier(struct rt_driver_env *env,
                             int index,
                             struct rt_notifier **out,
                             struct rt_error *err)
{
    if (index < 0 || index >= env->cfg->n_notify)
        return rt_error_set(err, RT_EINVAL, "notify[%d]: no such entry", index);
    return create(env, RT_FAMILY_NOTIFY, (int)env->cfg->notify[index].driver, index, (void **)out,
                  NULL, err);
}

struct env_closing {
    struct rt_httpc *h;
    void (*cb)(void *ud);
    void *ud;
};

static void creds_closed(void *ud)
{
    struct env_closing *c = ud;
    struct rt_httpc *h = c->h;
    void (*cb)(void *) = c->cb;
    void *cb_ud = c->ud;
    rt_free(c);
    if (h)
        rt_httpc_close(h, cb, cb_ud);
    else if (cb)
        cb(cb_ud);
}

void rt_driver_env_close(struct rt_driver_env *env, void (*cb)(void *ud), void *ud)
{
    /* The AWS client first (its calls are cancelled when httpc closes), then the credentials
     * (their fetches in flight end first, and they use httpc), then httpc. */
    rt_aws_client_destroy(env->aws);
    env->aws = NULL;
    if (env->creds) {
        struct env_closing *c = rt_calloc(1, sizeof(*c));
        struct rt_credentials_provider *p = env->creds;
        env->creds = NULL;
        if (c) {
            *c = (struct env_closing){env->httpc, cb, ud};
            env->httpc = NULL;
            rt_credentials_provider_close(p, creds_closed, c);
            return;
        }
        rt_credentials_provider_close(p, NULL, NULL);
    }
    struct rt_httpc *h = env->httpc;
    env->httpc = NULL;
    if (h)
        rt_httpc_close(h, cb, ud);
    else if (cb)
        cb(ud);
}
