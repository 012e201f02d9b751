/*
 * local.c - the local params driver: parameters kept in the journal's params table.
 *
 * Design: reads are short SQLite reads on the loop's connection (WAL: never blocked by a
 * writer); writes are batches submitted to the journal's writer thread, so a set never waits for
 * an fsync or a lock on the loop. Completions of reads go through a defer queue, so no callback
 * runs inside the call that started it. The driver remembers the last set it delivered (by load,
 * on_change, or after its own writes); refresh reads the journal again and calls on_change only
 * when something differs, so the owner hears of each change once, however it was made (this
 * process through set/reset, or the CLI in another process followed by a poke).
 */
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/params.h"

struct completion {
    struct rt_deferred item; /* first: queued in the driver's defer queue */
    struct local *l;
    int status;
    struct rt_error err;
    struct rt_param_set values; /* load only */
    rt_params_load_fn *load_cb; /* at most one of load_cb and done_cb is set */
    rt_params_done_fn *done_cb;
    void *ud;
    char name[64]; /* set/reset: the parameter, for the log */
};

struct local {
    struct rt_params base; /* first, so a struct rt_params * is a struct local * */
    struct rt_journal *j;  /* borrowed, may be NULL */
    const struct rt_param_set *defaults;
    struct rt_param_set builtin_defaults;
    struct rt_defer_queue defer;
    struct rt_param_set last; /* the last set delivered to the owner */
    bool have_last;
    struct rt_deferred look; /* a look for changes on a later turn (never allocated) */
    bool look_queued;
    int writes; /* batches submitted and not completed */
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static bool same_set(const struct rt_param_set *a, const struct rt_param_set *b)
{
    for (int i = 0; i < RT_P_COUNT; i++)
        if (strcmp(a->v[i].text, b->v[i].text) != 0 || a->v[i].source != b->v[i].source)
            return false;
    return true;
}

static void deliver(void *ud)
{
    struct completion *c = ud;
    const struct rt_error *err = c->status ? &c->err : NULL;
    if (c->load_cb)
        c->load_cb(c->status, c->status ? NULL : &c->values, err, c->ud);
    else if (c->done_cb)
        c->done_cb(c->status, err, c->ud);
    rt_free(c);
}

static struct completion *completion_new(struct local *l)
{
    struct completion *c = rt_calloc(1, sizeof(*c));
    if (c)
        c->l = l;
    return c;
}

static int local_load(struct rt_params *p, rt_params_load_fn *cb, void *ud)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb)
        return RT_EINVAL;
    struct completion *c = completion_new(l);
    if (!c)
        return RT_ENOMEM;
    c->load_cb = cb;
    c->ud = ud;
    c->status = rt_params_read_journal(l->j, l->defaults, &c->values);
    if (c->status) {
        rt_error_set(&c->err, c->status, "parameters: cannot read the journal: %s",
                     rt_strerror(c->status));
    } else {
        l->last = c->values;
        l->have_last = true;
    }
    rt_defer_item(&l->defer, &c->item, deliver, c);
    return 0;
}

static void look(void *ud)
{
    struct local *l = ud;
    l->look_queued = false;
    if (l->closing || !l->base.on_change)
        return;
    /* Read again now: several pokes in a row collapse into one change. A read that fails leaves
     * last as it was, so the next refresh still tells the owner. */
    struct rt_param_set now;
    int rc = rt_params_read_journal(l->j, l->defaults, &now);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "params", "event=params_load_failed error=%s", rt_q(rt_strerror(rc)));
        return;
    }
    if (l->have_last && same_set(&now, &l->last))
        return;
    l->last = now;
    l->have_last = true;
    l->base.on_change(&now, l->base.on_change_ud);
}

/* Queues a look for changes (at most one at a time; it cannot fail). */
static void queue_look(struct local *l)
{
    if (l->look_queued)
        return;
    l->look_queued = true;
    rt_defer_item(&l->defer, &l->look, look, l);
}

static int local_refresh(struct rt_params *p)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return RT_ECANCELED;
    struct rt_param_set now;
    int rc = rt_params_read_journal(l->j, l->defaults, &now);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "params", "event=params_load_failed error=%s", rt_q(rt_strerror(rc)));
        return rc;
    }
    if (l->have_last && same_set(&now, &l->last))
        return 0;
    queue_look(l);
    return 0;
}

static void maybe_finish_close(struct local *l);

static void written(int status, const struct rt_error *err, void *ud)
{
    struct completion *c = ud;
    struct local *l = c->l;
    l->writes--;
    c->status = status;
    if (status) {
        rt_error_set(&c->err, status, "%s: cannot store the value: %s", c->name,
                     err ? err->msg : rt_strerror(status));
        RT_LOG(RT_LOG_ERR, "params", "event=set_failed name=%s error=%s", c->name,
               rt_q(c->err.msg));
    } else if (!l->closing) {
        /* This process changed it: tell the owner like any change, on a later turn. Neither
         * reading now nor allocating may stand in the way: either could fail while the write
         * itself succeeded, and the owner would not hear of it until some other change. */
        queue_look(l);
    }
    deliver(c);
    maybe_finish_close(l);
}

/* Submits b for c (a set or reset of c->name). Returns: 0 or an error (c not used then). */
static int submit(struct local *l, struct rt_jbatch *b, struct completion *c)
{
    int rc = rt_journal_submit(l->j, b, written, c);
    if (rc == 0)
        l->writes++;
    return rc;
}

/* The checks set and reset share. Returns: 0 and *def, or the refusal. */
static int write_allowed(struct local *l,
                         enum rt_param_id id,
                         rt_params_done_fn *cb,
                         const struct rt_param_def **def)
{
    if (l->closing)
        return RT_ECANCELED;
    *def = rt_param_def_by_id(id);
    if (!*def || !cb)
        return RT_EINVAL;
    return l->j ? 0 : RT_ENOTFOUND; /* no journal: a read-only use */
}

/* Starts the write of def's value (text; NULL drops the stored value). Returns: 0 or an error
 * (cb never runs then). */
static int write_value(struct local *l,
                       const struct rt_param_def *def,
                       const char *text,
                       rt_params_done_fn *cb,
                       void *ud)
{
    struct completion *c = completion_new(l);
    if (!c)
        return RT_ENOMEM;
    c->done_cb = cb;
    c->ud = ud;
    rt_strlcpy(c->name, def->name, sizeof(c->name));
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    if (!rc) {
        rc = text ? rt_jbatch_param_set(b, def->name, text, rt_now_ms())
                  : rt_jbatch_param_delete(b, def->name);
        if (rc)
            rt_jbatch_free(b);
    }
    if (!rc)
        rc = submit(l, b, c);
    if (rc) {
        rt_free(c);
        return rc;
    }
    if (text)
        RT_LOG(RT_LOG_NOTICE, "params", "event=set name=%s value=%s", def->name, rt_q(text));
    else
        RT_LOG(RT_LOG_NOTICE, "params", "event=reset name=%s", def->name);
    return 0;
}

static int local_set(
    struct rt_params *p, enum rt_param_id id, const char *text, rt_params_done_fn *cb, void *ud)
{
    struct local *l = (struct local *)p;
    const struct rt_param_def *def = NULL;
    int rc = write_allowed(l, id, cb, &def);
    if (rc)
        return rc;
    if (!text)
        return RT_EINVAL;
    struct rt_param_value v;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_param_parse(def, text, &v, &err) == 0)
        return write_value(l, def, v.text, cb, ud);
    /* A refused value changes nothing; the caller hears why on a later turn. */
    struct completion *c = completion_new(l);
    if (!c)
        return RT_ENOMEM;
    c->done_cb = cb;
    c->ud = ud;
    c->status = err.code;
    c->err = err;
    RT_LOG(RT_LOG_INFO, "params", "event=set_refused name=%s error=%s", def->name, rt_q(err.msg));
    rt_defer_item(&l->defer, &c->item, deliver, c);
    return 0;
}

static int local_reset(struct rt_params *p, enum rt_param_id id, rt_params_done_fn *cb, void *ud)
{
    struct local *l = (struct local *)p;
    const struct rt_param_def *def = NULL;
    int rc = write_allowed(l, id, cb, &def);
    return rc ? rc : write_value(l, def, NULL, cb, ud);
}

static void defer_closed(void *ud)
{
    struct local *l = ud;
    void (*cb)(void *) = l->close_cb;
    void *ud2 = l->close_ud;
    rt_free(l);
    if (cb)
        cb(ud2);
}

static void maybe_finish_close(struct local *l)
{
    if (l->closing && l->writes == 0)
        rt_defer_close(&l->defer, defer_closed, l);
}

static void local_close(struct rt_params *p, void (*cb)(void *ud), void *ud)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return;
    l->closing = true;
    l->close_cb = cb;
    l->close_ud = ud;
    /* Writes in flight complete first (the journal's writer delivers them), then queued
     * completions run and the driver goes. */
    maybe_finish_close(l);
}

static const struct rt_params_ops local_ops = {
    .name = "local",
    .load = local_load,
    .set = local_set,
    .reset = local_reset,
    .refresh = local_refresh,
    .close = local_close,
};

int rt_params_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        const struct rt_param_set *defaults,
                        struct rt_params **out)
{
    *out = NULL;
    if (!loop)
        return RT_EINVAL;
    struct local *l = rt_calloc(1, sizeof(*l));
    if (!l)
        return RT_ENOMEM;
    l->base.ops = &local_ops;
    l->j = j;
    rt_param_set_defaults(&l->builtin_defaults);
    l->defaults = defaults ? defaults : &l->builtin_defaults;
    int rc = rt_defer_init(&l->defer, loop);
    if (rc) {
        rt_free(l);
        return rc;
    }
    *out = &l->base;
    return 0;
}
