/*
 * outbox.h - delivers the notifications the workflows wrote to the journal's outbox (private to
 * src/daemon).
 */
#ifndef RT_DAEMON_OUTBOX_H
#define RT_DAEMON_OUTBOX_H

#include <stdint.h>
#include <uv.h>

struct rt_journal;
struct rt_notifier;
struct rt_outbox;

struct rt_outbox_opts {
    uv_loop_t *loop;
    struct rt_journal *journal;     /* reads on the loop, writes through its writer */
    struct rt_notifier **notifiers; /* borrowed; must outlive the outbox */
    int n_notifiers;
    int max_attempts;       /* per notification; 0 = 8 */
    int64_t first_retry_ms; /* then doubling up to an hour; 0 = 30 s */
};

/* Returns: 0 and *out, or RT_ENOMEM. */
int rt_outbox_new(const struct rt_outbox_opts *o, struct rt_outbox **out);
/* Looks for due notifications on a later loop turn (a transition carrying some committed). */
void rt_outbox_kick(struct rt_outbox *ob);
/* Returns: notifications delivered (to every notifier) since start. */
int64_t rt_outbox_delivered(const struct rt_outbox *ob);
/* Lets deliveries in flight finish and their outcome be written, then frees ob and calls cb. */
void rt_outbox_close(struct rt_outbox *ob, void (*cb)(void *ud), void *ud);

#endif
