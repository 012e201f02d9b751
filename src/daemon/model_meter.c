/*
 * model_meter.c - the running time of model versions (model_meter.h): an engine wrapper that
 * watches the results of the calls it passes through.
 *
 * Design: a version's state (open period since, closed sum) is read from the journal the first
 * time the meter sees the version and kept in memory after that, so a change is decided without
 * waiting for an earlier batch to commit; each change is one write batch of both keys (the
 * writer thread applies batches in submission order). Detections of a version already known to
 * run pass straight through: the hot path costs one list lookup and no allocation.
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/engine.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/model_meter.h"

#define KEY_MS "model_run_ms:"
#define KEY_SINCE "model_run_since:"

struct mver {
    struct mver *next;
    int64_t since_ms; /* epoch ms the open RUNNING period began; 0: not running */
    int64_t total_ms; /* closed periods */
    char name[];
};

struct meter {
    struct rt_engine base;
    struct rt_engine *inner;
    struct rt_journal *j;
    struct mver *versions;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* One call whose result the meter looks at. */
struct call {
    struct meter *m;
    union {
        rt_engine_describe_fn *describe;
        rt_engine_done_fn *done;
        rt_engine_detect_fn *detect;
    } cb;
    void *ud;
    char version[128];
};

static void keys(const char *version, char *ms, char *since, size_t size)
{
    rt_snprintf(ms, size, KEY_MS "%s", version);
    rt_snprintf(since, size, KEY_SINCE "%s", version);
}

int rt_model_meter_read(
    struct rt_journal *j, const char *version, int64_t now_ms, int64_t *ms, bool *running)
{
    char kms[200], ksince[200];
    keys(version, kms, ksince, sizeof(kms));
    int64_t total = 0, since = 0;
    int rc = rt_journal_state_get_i64(j, kms, 0, &total);
    if (!rc)
        rc = rt_journal_state_get_i64(j, ksince, 0, &since);
    if (rc)
        return rc;
    *running = since > 0;
    *ms = total + (since > 0 && now_ms > since ? now_ms - since : 0);
    return 0;
}

static struct mver *version_get(struct meter *m, const char *name)
{
    for (struct mver *v = m->versions; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v;
    size_t n = strlen(name);
    struct mver *v = rt_calloc(1, sizeof(*v) + n + 1);
    if (!v)
        return NULL;
    memcpy(v->name, name, n + 1);
    char kms[200], ksince[200];
    keys(name, kms, ksince, sizeof(kms));
    if (rt_journal_state_get_i64(m->j, kms, 0, &v->total_ms) ||
        rt_journal_state_get_i64(m->j, ksince, 0, &v->since_ms)) {
        v->total_ms = 0;
        v->since_ms = 0;
    }
    v->next = m->versions;
    m->versions = v;
    return v;
}

static void written(int status, const struct rt_error *err, void *ud)
{
    (void)ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "engine", "event=model_hours_write_failed error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
}

/* Opens (running) or closes a version's RUNNING period; nothing when it is already so. */
static void mark(struct meter *m, const char *name, bool running)
{
    struct mver *v = version_get(m, name);
    if (!v || (v->since_ms > 0) == running)
        return;
    int64_t now = rt_now_ms();
    if (running) {
        v->since_ms = now;
    } else {
        v->total_ms += now > v->since_ms ? now - v->since_ms : 0;
        v->since_ms = 0;
    }
    char kms[200], ksince[200];
    keys(name, kms, ksince, sizeof(kms));
    struct rt_jbatch *b = NULL;
    if (rt_jbatch_new(&b) == 0 && rt_jbatch_state_set_i64(b, kms, v->total_ms) == 0 &&
        rt_jbatch_state_set_i64(b, ksince, v->since_ms) == 0) {
        rt_journal_submit(m->j, b, written, NULL);
    } else {
        rt_jbatch_free(b);
    }
    RT_LOG(RT_LOG_INFO, "engine", "event=%s version=%s running_ms=%lld",
           running ? "model_hours_open" : "model_hours_close", rt_q(name), (long long)v->total_ms);
}

static struct call *call_new(struct meter *m, const char *version, void *ud)
{
    struct call *c = rt_calloc(1, sizeof(*c));
    if (c) {
        c->m = m;
        c->ud = ud;
        rt_strlcpy(c->version, version, sizeof(c->version));
    }
    return c;
}

/* ---- the wrapped operations ---- */

static int
w_train(struct rt_engine *e, const struct rt_train_request *req, rt_engine_done_fn *cb, void *ud)
{
    struct meter *m = (struct meter *)e;
    return m->inner->ops->train(m->inner, req, cb, ud);
}

static void
described(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    struct call *c = ud;
    if (!status && info) {
        switch (info->status) {
        case RT_MODEL_RUNNING:
            mark(c->m, c->version, true);
            break;
        case RT_MODEL_STOPPING:
        case RT_MODEL_STOPPED:
        case RT_MODEL_TRAINING_COMPLETED:
        case RT_MODEL_FAILED:
            mark(c->m, c->version, false);
            break;
        default:
            break;
        }
    }
    c->cb.describe(status, info, err, c->ud);
    rt_free(c);
}

static int w_describe(struct rt_engine *e, const char *version, rt_engine_describe_fn *cb, void *ud)
{
    struct meter *m = (struct meter *)e;
    struct call *c = call_new(m, version, ud);
    if (!c)
        return RT_ENOMEM;
    c->cb.describe = cb;
    int rc = m->inner->ops->describe(m->inner, version, described, c);
    if (rc)
        rt_free(c);
    return rc;
}

static int
w_start(struct rt_engine *e, const char *version, int min_units, rt_engine_done_fn *cb, void *ud)
{
    struct meter *m = (struct meter *)e;
    return m->inner->ops->start(m->inner, version, min_units, cb, ud);
}

static void stopped(int status, const struct rt_error *err, void *ud)
{
    struct call *c = ud;
    if (!status)
        mark(c->m, c->version, false);
    c->cb.done(status, err, c->ud);
    rt_free(c);
}

static int w_stop(struct rt_engine *e, const char *version, rt_engine_done_fn *cb, void *ud)
{
    struct meter *m = (struct meter *)e;
    struct call *c = call_new(m, version, ud);
    if (!c)
        return RT_ENOMEM;
    c->cb.done = cb;
    int rc = m->inner->ops->stop(m->inner, version, stopped, c);
    if (rc)
        rt_free(c);
    return rc;
}

static void detected(int status,
                     const struct rt_detection_label *labels,
                     size_t n,
                     const struct rt_error *err,
                     void *ud)
{
    struct call *c = ud;
    if (!status)
        mark(c->m, c->version, true); /* it answered: it runs */
    c->cb.detect(status, labels, n, err, c->ud);
    rt_free(c);
}

/* Returns: true when version is known to run (the detection needs no watching). */
static bool known_running(struct meter *m, const char *version)
{
    struct mver *v = version_get(m, version);
    return !v || v->since_ms > 0;
}

static int w_detect(struct rt_engine *e,
                    const char *version,
                    const void *image,
                    size_t len,
                    double min_confidence,
                    rt_engine_detect_fn *cb,
                    void *ud)
{
    struct meter *m = (struct meter *)e;
    if (known_running(m, version))
        return m->inner->ops->detect(m->inner, version, image, len, min_confidence, cb, ud);
    struct call *c = call_new(m, version, ud);
    if (!c)
        return RT_ENOMEM;
    c->cb.detect = cb;
    int rc = m->inner->ops->detect(m->inner, version, image, len, min_confidence, detected, c);
    if (rc)
        rt_free(c);
    return rc;
}

static int w_detect_key(struct rt_engine *e,
                        const char *version,
                        const char *key,
                        const void *image,
                        size_t len,
                        double min_confidence,
                        rt_engine_detect_fn *cb,
                        void *ud)
{
    struct meter *m = (struct meter *)e;
    if (known_running(m, version))
        return m->inner->ops->detect_key(m->inner, version, key, image, len, min_confidence, cb,
                                         ud);
    struct call *c = call_new(m, version, ud);
    if (!c)
        return RT_ENOMEM;
    c->cb.detect = cb;
    int rc =
        m->inner->ops->detect_key(m->inner, version, key, image, len, min_confidence, detected, c);
    if (rc)
        rt_free(c);
    return rc;
}

/* The inner engine's identifiers; without any, a version is named by its name. */
static const char *w_arn(struct rt_engine *e, const char *version)
{
    struct meter *m = (struct meter *)e;
    if (m->inner->ops->arn)
        return m->inner->ops->arn(m->inner, version);
    return version;
}

static void inner_closed(void *ud)
{
    struct meter *m = ud;
    void (*cb)(void *) = m->close_cb;
    void *cud = m->close_ud;
    while (m->versions) {
        struct mver *v = m->versions;
        m->versions = v->next;
        rt_free(v);
    }
    rt_free(m);
    if (cb)
        cb(cud);
}

static void w_close(struct rt_engine *e, void (*cb)(void *ud), void *ud)
{
    struct meter *m = (struct meter *)e;
    m->close_cb = cb;
    m->close_ud = ud;
    m->inner->ops->close(m->inner, inner_closed, m);
}

int rt_model_meter_new(struct rt_engine *inner,
                       struct rt_journal *j,
                       struct rt_engine **out,
                       struct rt_error *err)
{
    struct meter *m = rt_calloc(1, sizeof(*m) + sizeof(struct rt_engine_ops));
    if (!m)
        return rt_error_set(err, RT_ENOMEM, "model meter: out of memory");
    /* Callers look at ops->name and at which optional ops exist: mirror the inner engine's. */
    struct rt_engine_ops *ops = (struct rt_engine_ops *)(m + 1);
    *ops = (struct rt_engine_ops){
        .name = inner->ops->name,
        .train = w_train,
        .describe = w_describe,
        .start = w_start,
        .stop = w_stop,
        .detect = w_detect,
        .detect_key = inner->ops->detect_key ? w_detect_key : NULL,
        .arn = w_arn,
        .close = w_close,
    };
    m->base.ops = ops;
    m->inner = inner;
    m->j = j;
    *out = &m->base;
    return 0;
}
