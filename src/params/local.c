/*
 * local.c - the local params driver: parameters kept in the journal's params table.
 *
 * Design: the journal calls are short and synchronous, so load and set do their work inside
 * the call; only the completion is deferred. Results wait in a FIFO of completions that a 0 ms
 * timer delivers on a later loop turn, which keeps the rule that a callback never runs inside
 * the call that started it. Closing delivers what is still queued (the writes already happened,
 * so their real results are reported), then frees the driver after the timer's close callback.
 */
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/params.h"

struct completion {
    struct completion *next;
    int status;
    struct rt_error err;
    struct rt_param_set values; /* load only */
    rt_params_load_fn *load_cb; /* exactly one of load_cb and done_cb is set */
    rt_params_done_fn *done_cb;
    void *ud;
};

struct local {
    struct rt_params base; /* first, so a struct rt_params * is a struct local * */
    struct rt_journal *j;  /* borrowed */
    /* Borrowed from the owner (the daemon's config), which may update it in place on reload;
     * points at builtin_defaults when none was given. */
    const struct rt_param_set *defaults;
    struct rt_param_set builtin_defaults;
    uv_timer_t timer;        /* delivers completions; timer.data = this */
    struct completion *head; /* owned FIFO of undelivered completions */
    struct completion **tail;
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void deliver(struct completion *c)
{
    const struct rt_error *err = c->status ? &c->err : NULL;
    if (c->load_cb)
        c->load_cb(c->status, c->status ? NULL : &c->values, err, c->ud);
    else if (c->done_cb)
        c->done_cb(c->status, err, c->ud);
    rt_free(c);
}

/* Delivers the completions queued so far; ones queued by these callbacks wait for the next
 * firing of the timer. */
static void drain(struct local *l)
{
    struct completion *c = l->head;
    l->head = NULL;
    l->tail = &l->head;
    while (c) {
        struct completion *next = c->next;
        deliver(c);
        c = next;
    }
}

static void on_timer(uv_timer_t *t)
{
    drain(t->data);
}

static void enqueue(struct local *l, struct completion *c)
{
    c->next = NULL;
    *l->tail = c;
    l->tail = &c->next;
    uv_timer_start(&l->timer, on_timer, 0, 0);
}

static int local_load(struct rt_params *p, rt_params_load_fn *cb, void *ud)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb)
        return RT_EINVAL;
    struct completion *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    c->load_cb = cb;
    c->ud = ud;
    c->status = rt_params_read_journal(l->j, l->defaults, &c->values);
    if (c->status)
        rt_error_set(&c->err, c->status, "parameters: cannot read the journal: %s",
                     rt_strerror(c->status));
    enqueue(l, c);
    return 0;
}

static int local_set(struct rt_params *p,
                     enum rt_param_id id,
                     const struct rt_param_value *v,
                     rt_params_done_fn *cb,
                     void *ud)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return RT_ECANCELED;
    const struct rt_param_def *def = rt_param_def_by_id(id);
    if (!def || !v || v->type != def->type)
        return RT_EINVAL;
    /* The caller validated v; checking its text again costs nothing and guarantees that what
     * is stored parses on the next load. */
    struct rt_param_value check;
    if (rt_param_parse(def, v->text, &check, NULL) != 0)
        return RT_EINVAL;
    struct completion *c = NULL;
    if (cb) {
        c = rt_calloc(1, sizeof(*c));
        if (!c)
            return RT_ENOMEM;
        c->done_cb = cb;
        c->ud = ud;
    }
    int rc = rt_journal_param_set(l->j, def->name, v->text, rt_now_ms());
    if (rc)
        RT_LOG(RT_LOG_ERR, "params", "event=set_failed name=%s error=%s", def->name,
               rt_q(rt_strerror(rc)));
    else
        RT_LOG(RT_LOG_NOTICE, "params", "event=set name=%s value=%s", def->name, rt_q(v->text));
    if (c) {
        c->status = rc;
        if (rc)
            rt_error_set(&c->err, rc, "%s: cannot store the value: %s", def->name, rt_strerror(rc));
        enqueue(l, c);
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct local *l = h->data;
    drain(l);
    void (*cb)(void *) = l->close_cb;
    void *ud = l->close_ud;
    rt_free(l);
    if (cb)
        cb(ud);
}

static void local_close(struct rt_params *p, void (*cb)(void *ud), void *ud)
{
    struct local *l = (struct local *)p;
    if (l->closing)
        return;
    l->closing = true;
    l->close_cb = cb;
    l->close_ud = ud;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, on_closed);
}

static const struct rt_params_ops local_ops = {
    .name = "local",
    .load = local_load,
    .set = local_set,
    .close = local_close,
};

int rt_params_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        const struct rt_param_set *defaults,
                        struct rt_params **out)
{
    *out = NULL;
    if (!loop || !j)
        return RT_EINVAL;
    struct local *l = rt_calloc(1, sizeof(*l));
    if (!l)
        return RT_ENOMEM;
    l->base.ops = &local_ops;
    l->j = j;
    rt_param_set_defaults(&l->builtin_defaults);
    l->defaults = defaults ? defaults : &l->builtin_defaults;
    l->tail = &l->head;
    int rc = uv_timer_init(loop, &l->timer);
    if (rc) {
        rt_free(l);
        return rc;
    }
    l->timer.data = l;
    *out = &l->base;
    return 0;
}
