/*
 * loop.c - deferred calls on a later loop turn (see loop.h).
 *
 * Design: one uv_idle_t per queue, active only while calls are queued. Its callback detaches the
 * whole list before running it, so calls queued meanwhile run on the next loop iteration; that
 * bounds the work of one turn to what was queued before it began. (A zero-timeout uv_timer_t
 * re-armed from its own callback runs again in the same timer pass on libuv 1.44, which would
 * let a call that re-defers itself starve the loop; an idle handle runs once per iteration.)
 */
#include "retraind/loop.h"

#include <sys/resource.h>
#include <unistd.h>

#include "retraind/alloc.h"
#include "retraind/error.h"

static void run_all(struct rt_defer_queue *q)
{
    struct rt_deferred *d = q->head;
    q->head = NULL;
    q->tail = &q->head;
    while (d) {
        struct rt_deferred *next = d->next;
        bool allocated = d->allocated;
        rt_deferred_fn *fn = d->fn;
        void *ud = d->ud;
        /* The item may be freed by its own callback (embedded in the caller's struct). */
        if (allocated)
            rt_free(d);
        fn(ud);
        d = next;
    }
}

static void on_idle(uv_idle_t *h)
{
    struct rt_defer_queue *q = h->data;
    run_all(q);
    if (!q->head && !q->closing)
        uv_idle_stop(&q->idle);
}

int rt_defer_init(struct rt_defer_queue *q, uv_loop_t *loop)
{
    q->head = NULL;
    q->tail = &q->head;
    q->closing = false;
    q->closed_cb = NULL;
    q->closed_ud = NULL;
    int rc = uv_idle_init(loop, &q->idle);
    if (rc == 0)
        q->idle.data = q;
    return rc;
}

void rt_defer_item(struct rt_defer_queue *q, struct rt_deferred *item, rt_deferred_fn *fn, void *ud)
{
    item->next = NULL;
    item->fn = fn;
    item->ud = ud;
    item->allocated = false;
    *q->tail = item;
    q->tail = &item->next;
    /* While closing, the handle is being closed; the close callback runs what is queued. */
    if (!q->closing)
        uv_idle_start(&q->idle, on_idle);
}

int rt_defer(struct rt_defer_queue *q, rt_deferred_fn *fn, void *ud)
{
    struct rt_deferred *d = rt_calloc(1, sizeof(*d));
    if (!d)
        return RT_ENOMEM;
    rt_defer_item(q, d, fn, ud);
    d->allocated = true;
    return 0;
}

bool rt_defer_pending(const struct rt_defer_queue *q)
{
    return q->head != NULL;
}

static void on_closed(uv_handle_t *h)
{
    struct rt_defer_queue *q = h->data;
    /* Calls queued by these callbacks run here too, until none is left. */
    while (q->head)
        run_all(q);
    void (*cb)(void *) = q->closed_cb;
    void *ud = q->closed_ud;
    if (cb)
        cb(ud);
}

void rt_defer_close(struct rt_defer_queue *q, void (*cb)(void *ud), void *ud)
{
    if (q->closing)
        return;
    q->closing = true;
    q->closed_cb = cb;
    q->closed_ud = ud;
    uv_idle_stop(&q->idle);
    uv_close((uv_handle_t *)&q->idle, on_closed);
}

void rt_pool_thread_background(void)
{
    static _Thread_local bool lowered;
    if (lowered)
        return;
    lowered = true;
    /* On Linux the "process" priority of a thread id is that thread's own (setpriority(2)). */
    int now = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (now < RT_POOL_NICE)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), RT_POOL_NICE);
}
