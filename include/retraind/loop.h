/*
 * loop.h - loop helpers shared by every module: deferring a callback to a later loop turn.
 *
 * STYLE.md 2.4: a completion callback never runs inside the call that started the operation,
 * even when the answer is known at once. struct rt_defer_queue is the one way to do that: an
 * owner embeds a queue (one uv_idle_t), pushes items, and the queue runs them in FIFO order on a
 * later loop turn. An item is either embedded in the caller's own struct (rt_defer_item, which
 * cannot fail) or allocated here (rt_defer).
 *
 * Items pushed by a callback that the queue is running wait for the next turn, so a callback
 * that re-defers itself cannot starve the loop. Closing runs what is still queued (on a later
 * turn, never inside rt_defer_close) and then calls the close callback.
 */
#ifndef RETRAIND_LOOP_H
#define RETRAIND_LOOP_H

#include <stdbool.h>
#include <uv.h>

typedef void rt_deferred_fn(void *ud);

/* One deferred call. Embed it to defer without allocating; fields are the queue's. */
struct rt_deferred {
    struct rt_deferred *next;
    rt_deferred_fn *fn;
    void *ud;
    bool allocated; /* made by rt_defer: freed by the queue after fn ran */
};

struct rt_defer_queue {
    uv_idle_t idle; /* idle.data = the queue; active only while calls are queued */
    struct rt_deferred *head, **tail;
    bool closing;
    void (*closed_cb)(void *ud);
    void *closed_ud;
};

/* Initialises q on loop. Returns: 0 or a libuv error. q must then be closed with
 * rt_defer_close before its memory goes. */
int rt_defer_init(struct rt_defer_queue *q, uv_loop_t *loop);
/* Queues item to call fn(ud) on a later loop turn. item must stay valid until fn runs. Never
 * fails; after rt_defer_close began, the call still runs before the close callback. */
void rt_defer_item(struct rt_defer_queue *q,
                   struct rt_deferred *item,
                   rt_deferred_fn *fn,
                   void *ud);
/* As rt_defer_item with an item allocated here. Returns: 0 or RT_ENOMEM (nothing queued). */
int rt_defer(struct rt_defer_queue *q, rt_deferred_fn *fn, void *ud);
/* Returns: true while calls are queued. */
bool rt_defer_pending(const struct rt_defer_queue *q);
/* Runs what is still queued on a later turn, closes the handle, then calls cb(ud) (may be NULL).
 * Runs on the loop thread; cb is never called from inside this call. */
void rt_defer_close(struct rt_defer_queue *q, void (*cb)(void *ud), void *ud);

/*
 * Called first by thread-pool work that may keep a core busy for long (decoding, training,
 * consolidating, hashing a password): lowers the calling pool thread's scheduling priority to
 * RT_POOL_NICE, once per thread, so that on a machine with as many busy pool threads as cores the
 * loop thread still runs as soon as it wakes. An unprivileged thread cannot raise it back, so the
 * pool stays at that priority; the loop thread never calls this. Failure is ignored (the work
 * merely competes at the default priority).
 */
#define RT_POOL_NICE 5
void rt_pool_thread_background(void);

#endif
