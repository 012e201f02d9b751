/*
 * provider_glue.c - lets an aws client take its credentials from a credentials.h provider (the
 * chain, a cached provider...): an rt_aws_creds_get_fn over rt_credentials_provider_get().
 */
#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/credentials.h"

struct glue {
    rt_aws_creds_done_fn *done;
    void *ud;
};

static void
on_get(int status, const struct rt_credentials *creds, const struct rt_error *err, void *ud)
{
    struct glue g = *(struct glue *)ud;
    rt_free(ud);
    if (status || !creds) {
        g.done(status ? status : RT_ECREDENTIALS, NULL, err, g.ud);
        return;
    }
    struct rt_aws_credentials c = {creds->access_key, creds->secret_key, creds->session_token,
                                   creds->expiration_ms};
    g.done(0, &c, NULL, g.ud);
}

int rt_aws_creds_provider_get(void *provider, rt_aws_creds_done_fn *done, void *ud)
{
    struct glue *g = rt_malloc(sizeof(*g));
    if (!g)
        return RT_ENOMEM;
    g->done = done;
    g->ud = ud;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_credentials_provider_get(provider, on_get, g, &err);
    if (rc)
        rt_free(g);
    return rc;
}
