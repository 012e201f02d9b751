/*
 * creds_env.c - the two providers with nothing to fetch: fixed keys given by the caller
 * ("static", the explicit config of the SDKs' chain) and the environment variables
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
 *
 * The environment is read at each get, on the loop thread; the answer is still delivered on a
 * later loop turn (the provider's deferred-call queue, no thread pool) so callers see one
 * behaviour for all sources.
 */
#include <string.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/log.h"

/* ---- static ---- */

struct static_provider {
    struct rt__creds_base base;
    struct rt_credentials *creds; /* owned */
};

static void static_teardown(struct rt__creds_base *b)
{
    struct static_provider *s = (struct static_provider *)b;
    rt_credentials_free(s->creds);
    rt__creds_base_free(b);
}

static int static_get(struct rt_credentials_provider *p,
                      rt_credentials_get_fn *cb,
                      void *ud,
                      struct rt_error *err)
{
    struct static_provider *s = p->impl;
    struct rt__creds_op *op;
    int rc = rt__creds_op_new(&s->base, sizeof(*op), cb, ud, &op, err);
    if (rc)
        return rc;
    if (rt_credentials_dup(s->creds, &op->creds) != 0) {
        rt_free(op);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    return rt__creds_op_start(op, err);
}

static const struct rt_credentials_provider_vtable static_vt = {
    .get = static_get,
    .close = rt__creds_base_close,
};

int rt_credentials_provider_new_static(const struct rt_credentials_opts *o,
                                       const char *access_key,
                                       const char *secret_key,
                                       const char *session_token,
                                       struct rt_credentials_provider **out,
                                       struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct static_provider *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    int rc = rt_credentials_new(access_key, secret_key, session_token, 0, "static", &s->creds);
    if (rc) {
        rt_free(s);
        return rt_error_set(err, rc,
                            rc == RT_EINVAL ? "credentials: static keys need an access "
                                              "key and a secret key"
                                            : "credentials: out of memory");
    }
    rc = rt__creds_base_init(&s->base, o, &static_vt, "static", static_teardown, err);
    if (rc) {
        rt_credentials_free(s->creds);
        rt_free(s);
        return rc;
    }
    *out = &s->base.pub;
    return 0;
}

/* ---- environment ---- */

static int env_get(struct rt_credentials_provider *p,
                   rt_credentials_get_fn *cb,
                   void *ud,
                   struct rt_error *err)
{
    struct rt__creds_base *b = p->impl;
    struct rt__creds_op *op;
    int rc = rt__creds_op_new(b, sizeof(*op), cb, ud, &op, err);
    if (rc)
        return rc;
    const char *ak = rt__creds_env("AWS_ACCESS_KEY_ID");
    const char *sk = rt__creds_env("AWS_SECRET_ACCESS_KEY");
    if (!ak && !sk) {
        op->status = rt_error_set(&op->err, RT_ENOTFOUND,
                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set");
    } else if (!ak || !sk) {
        /* botocore refuses a half-set pair instead of silently moving on. */
        op->status = rt_error_set(&op->err, RT_ECREDENTIALS, "environment: %s is set but %s is not",
                                  ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                                  ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    } else {
        rc = rt_credentials_new(ak, sk, rt__creds_env("AWS_SESSION_TOKEN"), 0, "environment",
                                &op->creds);
        if (rc)
            op->status = rt_error_set(&op->err, rc, "credentials: out of memory");
        else
            RT_LOG(RT_LOG_DEBUG, "creds",
                   "event=credentials_found source=environment expires=never");
    }
    return rt__creds_op_start(op, err);
}

static const struct rt_credentials_provider_vtable env_vt = {
    .get = env_get,
    .close = rt__creds_base_close,
};

static void plain_teardown(struct rt__creds_base *b)
{
    rt__creds_base_free(b);
}

int rt_credentials_provider_new_environment(const struct rt_credentials_opts *o,
                                            struct rt_credentials_provider **out,
                                            struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct rt__creds_base *b = rt_calloc(1, sizeof(*b));
    if (!b)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    int rc = rt__creds_base_init(b, o, &env_vt, "environment", plain_teardown, err);
    if (rc) {
        rt_free(b);
        return rc;
    }
    *out = &b->pub;
    return 0;
}
