/*
 * creds_chain.c - the chain of credential providers (first hit wins) and the default chain of
 * DESIGN.md "Credentials": environment, web identity, profile, container, IMDS (unless
 * opts.no_imds), behind a cache.
 *
 * Design: the chain tries its providers one after the other, never in parallel, so a source after
 * the one that answers is never touched (no IMDS request when a profile answers). RT_ENOTFOUND
 * ("not configured here") moves on and its reason is kept for the final message; any other error
 * stops the chain, because a source that is configured but broken (a named profile that does not
 * exist, a container endpoint that fails) must not silently hand over to another identity. The
 * provider that answered is remembered and asked first next time, as botocore keeps the provider
 * it resolved; if it has nothing any more the whole chain is walked again.
 */
#include <string.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/log.h"

struct chain_provider {
    struct rt__creds_base base;
    struct rt_credentials_provider **subs; /* owned, each closed at teardown */
    size_t n;
    int winner;          /* index of the provider that answered last, -1 when none */
    size_t closing_left; /* sub-providers still closing at teardown */
};

struct chain_op {
    struct rt__creds_op op;
    size_t idx;          /* next provider to try */
    bool via_winner;     /* this attempt went straight to the remembered winner */
    size_t cur;          /* the provider asked now */
    struct rt_buf tried; /* "name (reason), ..." */
};

static void chain_next(struct rt__creds_op *o);

static void chain_op_free(struct rt__creds_op *o)
{
    rt_buf_cleanup(&((struct chain_op *)o)->tried);
}

static void
on_sub(int status, const struct rt_credentials *creds, const struct rt_error *err, void *ud)
{
    struct chain_op *c = ud;
    struct rt__creds_op *o = &c->op;
    struct chain_provider *cp = (struct chain_provider *)o->base;
    size_t idx = c->cur;
    const char *name = cp->subs[idx]->name;
    if (status == 0) {
        if (cp->winner != (int)idx)
            RT_LOG(RT_LOG_INFO, "creds", "event=credentials_chain source=%s", name);
        cp->winner = (int)idx;
        if (rt_credentials_dup(creds, &o->creds) != 0)
            return rt__creds_op_fail(o, RT_ENOMEM, "out of memory");
        return rt__creds_op_finish(o);
    }
    if (status == RT_ENOTFOUND && c->via_winner) {
        /* The source that answered before has nothing now: walk the whole chain again. */
        cp->winner = -1;
        c->via_winner = false;
        c->idx = 0;
        return chain_next(o);
    }
    if (status != RT_ENOTFOUND) {
        if (err)
            o->err = *err;
        RT_LOG(RT_LOG_INFO, "creds", "event=credentials_failed source=%s error=%s", name,
               rt_q(err ? err->msg : rt_strerror(status)));
        return rt__creds_op_fail(o, status, "%s: %s", name, rt_strerror(status));
    }
    rt_buf_printf(&c->tried, "%s%s (%s)", c->tried.len ? ", " : "", name,
                  err && err->msg[0] ? err->msg : "nothing");
    c->idx++;
    chain_next(o);
}

static void chain_next(struct rt__creds_op *o)
{
    struct chain_op *c = (struct chain_op *)o;
    struct chain_provider *cp = (struct chain_provider *)o->base;
    for (;;) {
        if (o->base->closing)
            return rt__creds_op_fail(o, RT_ECANCELED, "credentials: chain closed");
        c->via_winner = cp->winner >= 0 && c->idx == 0 && c->tried.len == 0;
        size_t idx = c->via_winner ? (size_t)cp->winner : c->idx;
        if (!c->via_winner && idx >= cp->n) {
            RT_LOG(RT_LOG_INFO, "creds", "event=credentials_none tried=%s",
                   rt_q(c->tried.data ? c->tried.data : ""));
            return rt__creds_op_fail(o, RT_ECREDENTIALS, "no credentials found; tried: %s",
                                     c->tried.data ? c->tried.data : "nothing");
        }
        c->cur = idx;
        struct rt_error e;
        rt_error_clear(&e);
        int rc = rt_credentials_provider_get(cp->subs[idx], on_sub, c, &e);
        if (rc == 0)
            return;
        /* A provider that cannot even start counts as its answer; we are already on a later
         * loop turn than the caller's get, so answering here is allowed. */
        if (rc != RT_ENOTFOUND) {
            o->err = e;
            return rt__creds_op_fail(o, rc, "%s: %s", cp->subs[idx]->name, rt_strerror(rc));
        }
        rt_buf_printf(&c->tried, "%s%s (%s)", c->tried.len ? ", " : "", cp->subs[idx]->name, e.msg);
        if (c->via_winner) {
            cp->winner = -1;
            c->idx = 0;
        } else {
            c->idx++;
        }
    }
}

static int chain_get(struct rt_credentials_provider *p,
                     rt_credentials_get_fn *cb,
                     void *ud,
                     struct rt_error *err)
{
    struct chain_provider *cp = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&cp->base, sizeof(struct chain_op), cb, ud, &o, err);
    if (rc)
        return rc;
    struct chain_op *c = (struct chain_op *)o;
    rt_buf_init(&c->tried, 2048);
    o->free_fn = chain_op_free;
    o->after_fn = chain_next;
    return rt__creds_op_start(o, err);
}

static void sub_closed(void *ud)
{
    struct chain_provider *cp = ud;
    if (--cp->closing_left == 0) {
        rt_free(cp->subs);
        rt__creds_base_free(&cp->base);
    }
}

static void chain_teardown(struct rt__creds_base *b)
{
    struct chain_provider *cp = (struct chain_provider *)b;
    if (cp->n == 0) {
        rt_free(cp->subs);
        return rt__creds_base_free(b);
    }
    cp->closing_left = cp->n;
    for (size_t i = 0; i < cp->n; i++)
        rt_credentials_provider_close(cp->subs[i], sub_closed, cp);
}

static void chain_invalidate(struct rt_credentials_provider *p)
{
    struct chain_provider *cp = p->impl;
    for (size_t i = 0; i < cp->n; i++)
        rt_credentials_provider_invalidate(cp->subs[i]);
}

static const struct rt_credentials_provider_vtable chain_vt = {
    .get = chain_get,
    .close = rt__creds_base_close,
    .invalidate = chain_invalidate,
};

/* Closes providers we were given but could not take (no one waits for them). */
static void discard(struct rt_credentials_provider **providers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (providers[i])
            rt_credentials_provider_close(providers[i], NULL, NULL);
}

int rt_credentials_provider_new_chain(const struct rt_credentials_opts *o,
                                      struct rt_credentials_provider **providers,
                                      size_t n,
                                      struct rt_credentials_provider **out,
                                      struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop) {
        discard(providers, n);
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    }
    struct chain_provider *cp = rt_calloc(1, sizeof(*cp));
    if (cp && n)
        cp->subs = rt_calloc(n, sizeof(*cp->subs));
    if (!cp || (n && !cp->subs)) {
        rt_free(cp);
        discard(providers, n);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    memcpy(cp->subs, providers, n * sizeof(*providers));
    cp->n = n;
    cp->winner = -1;
    int rc = rt__creds_base_init(&cp->base, o, &chain_vt, "chain", chain_teardown, err);
    if (rc) {
        rt_free(cp->subs);
        rt_free(cp);
        discard(providers, n);
        return rc;
    }
    *out = &cp->base.pub;
    return 0;
}

int rt_credentials_provider_new_default(const struct rt_credentials_opts *o,
                                        struct rt_credentials_provider **out,
                                        struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop || !o->httpc)
        return rt_error_set(err, RT_EINVAL,
                            "credentials: the default chain needs a loop and an "
                            "HTTP client");
    struct rt_credentials_provider *subs[5] = {0};
    size_t n = o->no_imds ? 4 : 5;
    int rc = rt_credentials_provider_new_environment(o, &subs[0], err);
    if (!rc)
        rc = rt_credentials_provider_new_web_identity(o, &subs[1], err);
    if (!rc)
        rc = rt_credentials_provider_new_profile(o, &subs[2], err);
    if (!rc)
        rc = rt_credentials_provider_new_container(o, &subs[3], err);
    if (!rc && !o->no_imds)
        rc = rt_credentials_provider_new_imds(o, &subs[4], err);
    if (rc) {
        discard(subs, n);
        return rc;
    }
    struct rt_credentials_provider *chain;
    rc = rt_credentials_provider_new_chain(o, subs, n, &chain, err);
    if (!rc)
        rc = rt_credentials_provider_new_cached(o, chain, out, err);
    return rc;
}
