/*
 * creds_cached.c - the caching wrapper: hands out the last credentials its inner provider gave
 * while they are good, and refreshes temporary ones before they expire (aws-wire.md 10.3).
 *
 * Design: two windows before the expiry, as botocore has. Inside refresh_before_ms ("advisory")
 * a get still answers at once with the current set and starts one refresh in the background;
 * inside mandatory_before_ms, or once expired, gets wait for the refresh. Every get in flight
 * shares one fetch (waiters list). A refresh that fails keeps the current set while it has not
 * expired (botocore does the same in the advisory window: an IMDS outage must not take working
 * keys away), and min_refresh_interval_ms stops a source that keeps handing out nearly expired
 * sets from being asked at every get. The whole triple (key, secret, token) is replaced at once.
 * The refresh is lazy, driven by gets, so the wrapper owns no timer. A get that finds a usable
 * set is answered on the next loop turn through the provider's deferred-call queue, never through
 * the thread pool (an idle loop answers it at once; a busy pool does not delay it).
 */
#include <string.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"

#define DEFAULT_REFRESH_BEFORE_MS (5 * 60 * 1000)
#define DEFAULT_MANDATORY_BEFORE_MS (60 * 1000)
#define DEFAULT_MIN_REFRESH_INTERVAL_MS (60 * 1000)

struct cache_op {
    struct rt__creds_op op;
    struct cache_op *next; /* in the waiters list */
};

struct cache_provider {
    struct rt__creds_base base;
    struct rt_credentials_provider *inner; /* owned */
    struct rt_credentials *cur;            /* owned, NULL until the first fetch */
    bool refreshing;
    bool fetched;
    int64_t last_fetch_mono;
    int64_t refresh_before_ms, mandatory_before_ms, min_interval_ms;
    struct cache_op *waiters, **waiters_tail;
    uint64_t refreshes; /* fetches started (for logs) */
};

static void
deliver(struct cache_op *c, struct cache_provider *cp, int status, const struct rt_error *err)
{
    struct rt__creds_op *o = &c->op;
    if (status == 0 && cp->cur) {
        if (rt_credentials_dup(cp->cur, &o->creds) != 0)
            return rt__creds_op_fail(o, RT_ENOMEM, "out of memory");
        return rt__creds_op_finish(o);
    }
    if (err)
        o->err = *err;
    rt__creds_op_fail(o, status ? status : RT_ECREDENTIALS, "credentials: %s",
                      rt_strerror(status ? status : RT_ECREDENTIALS));
}

static void
on_refresh(int status, const struct rt_credentials *creds, const struct rt_error *err, void *ud)
{
    struct cache_provider *cp = ud;
    cp->refreshing = false;
    cp->fetched = true;
    cp->last_fetch_mono = rt_mono_ms();
    int64_t now = rt_now_ms();
    struct rt_credentials *fresh = NULL;
    if (status == 0 && rt_credentials_dup(creds, &fresh) != 0)
        status = RT_ENOMEM;
    char when[40];
    if (status == 0) {
        rt_credentials_free(cp->cur);
        cp->cur = fresh;
        RT_LOG(RT_LOG_INFO, "creds", "event=credentials_refreshed source=%s expires=%s fetch=%llu",
               fresh->source,
               fresh->expiration_ms ? rt_time_rfc3339(fresh->expiration_ms, when, sizeof(when))
                                    : "never",
               (unsigned long long)cp->refreshes);
    } else {
        bool keep = cp->cur && !rt_credentials_expiring(cp->cur, now, 0);
        /* A first fetch that fails is the waiting callers' to report; a refresh that fails is
         * news only the log can tell (loud once the current keys are gone). */
        enum rt_log_level lvl = !cp->cur ? RT_LOG_INFO : keep ? RT_LOG_WARNING : RT_LOG_ERR;
        RT_LOG(lvl, "creds", "event=credentials_refresh_failed keep_current=%s error=%s",
               keep ? "yes" : "no", rt_q(err ? err->msg : rt_strerror(status)));
        if (!keep) {
            rt_credentials_free(cp->cur);
            cp->cur = NULL;
        }
    }
    /* Hand the result to everyone who waited, then let a pending close go on. */
    struct cache_op *w = cp->waiters;
    cp->waiters = NULL;
    cp->waiters_tail = &cp->waiters;
    while (w) {
        struct cache_op *next = w->next;
        deliver(w, cp, cp->cur ? 0 : status, err);
        w = next;
    }
    rt__creds_base_release(&cp->base);
}

/* Starts one fetch from inner unless one is running. Returns: 0 or the start failure. */
static int start_refresh(struct cache_provider *cp, struct rt_error *err)
{
    if (cp->refreshing)
        return 0;
    cp->refreshing = true;
    cp->refreshes++;
    rt__creds_base_hold(&cp->base);
    int rc = rt_credentials_provider_get(cp->inner, on_refresh, cp, err);
    if (rc) {
        cp->refreshing = false;
        rt__creds_base_release(&cp->base);
    }
    return rc;
}

static void cache_after(struct rt__creds_op *o)
{
    struct cache_op *c = (struct cache_op *)o;
    struct cache_provider *cp = (struct cache_provider *)o->base;
    int64_t now = rt_now_ms();
    bool recent = cp->fetched && rt_mono_ms() - cp->last_fetch_mono < cp->min_interval_ms;
    if (cp->cur && (!rt_credentials_expiring(cp->cur, now, cp->mandatory_before_ms) ||
                    (recent && !rt_credentials_expiring(cp->cur, now, 0)))) {
        if (rt_credentials_expiring(cp->cur, now, cp->refresh_before_ms) && !recent &&
            !cp->refreshing) {
            struct rt_error e;
            rt_error_clear(&e);
            RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_refresh mode=background source=%s",
                   cp->cur->source);
            if (start_refresh(cp, &e) != 0)
                RT_LOG(RT_LOG_WARNING, "creds", "event=credentials_refresh_failed error=%s",
                       rt_q(e.msg));
        }
        return deliver(c, cp, 0, NULL);
    }
    /* Nothing usable: wait for a fetch. */
    c->next = NULL;
    *cp->waiters_tail = c;
    cp->waiters_tail = &c->next;
    struct rt_error e;
    rt_error_clear(&e);
    if (start_refresh(cp, &e) != 0) {
        /* Take back every waiter (only we can be there: a running refresh would not fail). */
        struct cache_op *w = cp->waiters;
        cp->waiters = NULL;
        cp->waiters_tail = &cp->waiters;
        while (w) {
            struct cache_op *next = w->next;
            deliver(w, cp, e.code ? e.code : RT_ECREDENTIALS, &e);
            w = next;
        }
    }
}

static int cache_get(struct rt_credentials_provider *p,
                     rt_credentials_get_fn *cb,
                     void *ud,
                     struct rt_error *err)
{
    struct cache_provider *cp = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&cp->base, sizeof(struct cache_op), cb, ud, &o, err);
    if (rc)
        return rc;
    o->after_fn = cache_after;
    return rt__creds_op_start(o, err);
}

static void inner_closed(void *ud)
{
    struct cache_provider *cp = ud;
    rt_credentials_free(cp->cur);
    rt__creds_base_free(&cp->base);
}

static void cache_teardown(struct rt__creds_base *b)
{
    struct cache_provider *cp = (struct cache_provider *)b;
    rt_credentials_provider_close(cp->inner, inner_closed, cp);
}

static void cache_invalidate(struct rt_credentials_provider *p)
{
    struct cache_provider *cp = p->impl;
    rt_credentials_free(cp->cur);
    cp->cur = NULL;
    cp->fetched = false;
    rt_credentials_provider_invalidate(cp->inner);
}

static const struct rt_credentials_provider_vtable cache_vt = {
    .get = cache_get,
    .close = rt__creds_base_close,
    .invalidate = cache_invalidate,
};

int rt_credentials_provider_new_cached(const struct rt_credentials_opts *o,
                                       struct rt_credentials_provider *inner,
                                       struct rt_credentials_provider **out,
                                       struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop || !inner) {
        if (inner)
            rt_credentials_provider_close(inner, NULL, NULL);
        return rt_error_set(err, RT_EINVAL, "credentials: the cache needs a loop and a provider");
    }
    struct cache_provider *cp = rt_calloc(1, sizeof(*cp));
    if (!cp) {
        rt_credentials_provider_close(inner, NULL, NULL);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    cp->inner = inner;
    cp->refresh_before_ms =
        o->refresh_before_ms > 0 ? o->refresh_before_ms : DEFAULT_REFRESH_BEFORE_MS;
    cp->mandatory_before_ms =
        o->mandatory_before_ms > 0 ? o->mandatory_before_ms : DEFAULT_MANDATORY_BEFORE_MS;
    if (cp->mandatory_before_ms > cp->refresh_before_ms)
        cp->mandatory_before_ms = cp->refresh_before_ms;
    cp->min_interval_ms = o->min_refresh_interval_ms < 0   ? 0
                          : o->min_refresh_interval_ms > 0 ? o->min_refresh_interval_ms
                                                           : DEFAULT_MIN_REFRESH_INTERVAL_MS;
    cp->waiters_tail = &cp->waiters;
    int rc = rt__creds_base_init(&cp->base, o, &cache_vt, "cache", cache_teardown, err);
    if (rc) {
        rt_free(cp);
        rt_credentials_provider_close(inner, NULL, NULL);
        return rc;
    }
    *out = &cp->base.pub;
    return 0;
}
