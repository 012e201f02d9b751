/*
 * outbox.c - delivery of the notification outbox (DESIGN.md "Notifications are an outbox").
 *
 * Design: a workflow step writes the notifications it causes in the same transaction as its state
 * change; this sender reads the committed, undelivered ones and hands each to every notifier that
 * does not have it yet. It works in rounds: read up to a page of due notifications, send them,
 * wait for every notifier's answer, write the outcome (delivered everywhere, or the next attempt
 * with the notifiers that have it, or given up after max_attempts), and start the next round
 * only once those writes are durable — so a round never reads a notification whose last outcome
 * is still on its way to the disk, and nothing is sent twice by the sender itself. Delivery is at
 * least once: a crash between a send and the write of its outcome sends it again after the
 * restart, with the same notification id (which the message carries). A notifier is known by its
 * place and driver in the config ("1:smtp"), so a retry skips the notifiers that already have it.
 */
#include "outbox.h"

#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/notify.h"

#define PAGE 50
#define MAX_RETRY_MS 3600000
#define DELIVERED_MAX 512

struct item;

/* One notifier's part of an item. */
struct send {
    struct item *it;
    int index;
};

struct item {
    struct rt_outbox *ob;
    int64_t id;
    int64_t attempts;
    char kind[64];
    char delivered[DELIVERED_MAX]; /* keys of the notifiers that have it */
    char error[300];               /* the first failure of this attempt */
    int waiting;                   /* sends not answered yet */
    int failed;
    struct send *sends; /* owned: one per notifier */
    void *holder;       /* the parsed event's strings */
    struct rt_event ev;
};

struct rt_outbox {
    struct rt_outbox_opts o;
    struct rt_defer_queue defer;
    uv_timer_t retry;   /* the next attempt that is not due yet */
    struct item *items; /* owned: this round's */
    int n_items;
    int waiting;          /* items whose sends are not all answered */
    int writes;           /* outcome batches not yet durable */
    bool running;         /* a round is in progress */
    bool again;           /* kicked during the round: look again after it */
    bool short_of_memory; /* a row could not be read this round: try again after a pause */
    bool closing;
    int handles; /* retry timer + defer queue */
    int64_t delivered_total;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void round_start(void *ud);

static void notifier_key(const struct rt_outbox *ob, int i, char *out, size_t size)
{
    rt_snprintf(out, size, "%d:%s", i, ob->o.notifiers[i]->ops->name);
}

/* Returns: true if key is in the comma-separated list. */
static bool has_key(const char *list, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void add_key(char *list, size_t size, const char *key)
{
    size_t len = strlen(list);
    rt_snprintf(list + len, size - len, "%s%s", len ? "," : "", key);
}

static void maybe_finish_close(struct rt_outbox *ob);

static void handle_closed(void *ud)
{
    struct rt_outbox *ob = ud;
    if (--ob->handles > 0)
        return;
    void (*cb)(void *) = ob->close_cb;
    void *cb_ud = ob->close_ud;
    rt_free(ob);
    if (cb)
        cb(cb_ud);
}

static void timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void maybe_finish_close(struct rt_outbox *ob)
{
    if (!ob->closing || ob->running || ob->writes > 0 || ob->handles != 2)
        return;
    uv_close((uv_handle_t *)&ob->retry, timer_closed);
    rt_defer_close(&ob->defer, handle_closed, ob);
}

static void round_free(struct rt_outbox *ob)
{
    for (int i = 0; i < ob->n_items; i++) {
        rt_free(ob->items[i].sends);
        rt_event_holder_free(ob->items[i].holder);
    }
    rt_free(ob->items);
    ob->items = NULL;
    ob->n_items = 0;
}

static void on_retry(uv_timer_t *t)
{
    round_start(t->data);
}

/* Arms the timer for the next notification that is not due yet. */
static void arm_retry(struct rt_outbox *ob)
{
    int64_t next = rt_journal_outbox_next_due(ob->o.journal);
    if (next == 0 || ob->closing)
        return;
    /* Unreadable just now: look again after the first retry period rather than never. */
    int64_t delay = next < 0 ? ob->o.first_retry_ms : next - rt_now_ms();
    uv_timer_start(&ob->retry, on_retry, (uint64_t)(delay > 0 ? delay : 0), 0);
}

static void round_end(struct rt_outbox *ob)
{
    round_free(ob);
    ob->running = false;
    if (ob->closing) {
        maybe_finish_close(ob);
        return;
    }
    if (ob->short_of_memory) {
        ob->short_of_memory = false;
        uv_timer_start(&ob->retry, on_retry, (uint64_t)ob->o.first_retry_ms, 0);
        return;
    }
    if (ob->again) {
        ob->again = false;
        rt_defer(&ob->defer, round_start, ob);
        return;
    }
    arm_retry(ob);
}

static void outcome_written(int status, const struct rt_error *err, void *ud)
{
    struct rt_outbox *ob = ud;
    if (status)
        RT_LOG(RT_LOG_ERR, "notify", "event=outbox_write_failed error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    if (--ob->writes == 0)
        round_end(ob);
}

static int64_t backoff_ms(const struct rt_outbox *ob, int64_t attempts)
{
    int64_t d = ob->o.first_retry_ms;
    for (int64_t i = 1; i < attempts && d < MAX_RETRY_MS; i++)
        d *= 2;
    return d < MAX_RETRY_MS ? d : MAX_RETRY_MS;
}

/* Every item of the round has its answers: write the outcomes in one batch. */
static void write_outcomes(struct rt_outbox *ob)
{
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    int64_t now = rt_now_ms();
    for (int i = 0; !rc && i < ob->n_items; i++) {
        struct item *it = &ob->items[i];
        int64_t attempts = it->attempts + 1;
        if (!it->failed) {
            ob->delivered_total++;
            rc = rt_jbatch_outbox_update(b, it->id, attempts, now, now, it->delivered, NULL);
        } else if (attempts >= ob->o.max_attempts) {
            RT_LOG(RT_LOG_ERR, "notify",
                   "event=notification_given_up notification=%lld kind=%s attempts=%lld "
                   "error=%s",
                   (long long)it->id, it->kind, (long long)attempts, rt_q(it->error));
            rc = rt_jbatch_outbox_update(b, it->id, attempts, now, now, it->delivered, it->error);
        } else {
            int64_t next = now + backoff_ms(ob, attempts);
            RT_LOG(RT_LOG_WARNING, "notify",
                   "event=notification_retry notification=%lld kind=%s attempt=%lld "
                   "retry_in_ms=%lld error=%s",
                   (long long)it->id, it->kind, (long long)attempts, (long long)(next - now),
                   rt_q(it->error));
            rc = rt_jbatch_outbox_update(b, it->id, attempts, next, 0, it->delivered, it->error);
        }
    }
    if (!rc && rt_jbatch_count(b) > 0) {
        rc = rt_journal_submit(ob->o.journal, b, outcome_written, ob);
        b = NULL;
        if (!rc) {
            ob->writes++;
            return;
        }
    }
    rt_jbatch_free(b);
    if (rc)
        RT_LOG(RT_LOG_ERR, "notify", "event=outbox_write_failed error=%s", rt_q(rt_strerror(rc)));
    round_end(ob);
}

static void sent(int status, const struct rt_error *err, void *ud)
{
    struct send *s = ud;
    struct item *it = s->it;
    struct rt_outbox *ob = it->ob;
    char key[64];
    notifier_key(ob, s->index, key, sizeof(key));
    if (status) {
        if (!it->failed++)
            rt_snprintf(it->error, sizeof(it->error), "%s: %s", key,
                        err && err->msg[0] ? err->msg : rt_strerror(status));
    } else {
        add_key(it->delivered, sizeof(it->delivered), key);
    }
    if (--it->waiting == 0 && --ob->waiting == 0)
        write_outcomes(ob);
}

static int collect(const struct rt_journal_outbox *row, void *ud)
{
    struct rt_outbox *ob = ud;
    struct item *it = &ob->items[ob->n_items];
    memset(it, 0, sizeof(*it));
    it->ob = ob;
    it->id = row->id;
    it->attempts = row->attempts;
    rt_strlcpy(it->kind, row->kind, sizeof(it->kind));
    rt_strlcpy(it->delivered, row->delivered ? row->delivered : "", sizeof(it->delivered));
    int rc = rt_event_from_json(row->event, &it->ev, &it->holder);
    if (rc == RT_ENOMEM) {
        /* Short of memory, not a bad row: leave it untouched for a round a little later. */
        ob->short_of_memory = true;
        return 0;
    }
    if (rc) {
        /* Unreadable (a newer version's kind?): record it as given up rather than loop on it. */
        it->failed = 1;
        it->attempts = ob->o.max_attempts;
        rt_strlcpy(it->error, "the stored event cannot be read", sizeof(it->error));
    }
    it->ev.id = row->id;
    ob->n_items++;
    return ob->n_items >= PAGE;
}

static void round_start(void *ud)
{
    struct rt_outbox *ob = ud;
    if (ob->closing)
        return;
    if (ob->running) {
        ob->again = true;
        return;
    }
    ob->items = rt_calloc(PAGE, sizeof(*ob->items));
    if (!ob->items) {
        RT_LOG(RT_LOG_ERR, "notify", "event=outbox_round_failed error=\"out of memory\"");
        return;
    }
    ob->running = true;
    uv_timer_stop(&ob->retry);
    int rc = rt_journal_outbox_due(ob->o.journal, rt_now_ms(), PAGE, collect, ob);
    if (rc)
        RT_LOG(RT_LOG_ERR, "notify", "event=outbox_read_failed error=%s", rt_q(rt_strerror(rc)));
    if (ob->n_items == PAGE)
        ob->again = true; /* more may wait behind this page */
    ob->waiting = 0;
    for (int i = 0; i < ob->n_items; i++) {
        struct item *it = &ob->items[i];
        if (it->failed)
            continue;
        it->sends = rt_calloc((size_t)ob->o.n_notifiers + 1, sizeof(*it->sends));
        if (!it->sends) {
            it->failed = 1;
            rt_strlcpy(it->error, "out of memory", sizeof(it->error));
            continue;
        }
        it->waiting = 1; /* held until every send is started */
        ob->waiting++;
        for (int k = 0; k < ob->o.n_notifiers; k++) {
            char key[64];
            notifier_key(ob, k, key, sizeof(key));
            if (has_key(it->delivered, key))
                continue;
            struct rt_notifier *n = ob->o.notifiers[k];
            it->sends[k].it = it;
            it->sends[k].index = k;
            it->waiting++;
            int src = n->ops->send(n, &it->ev, sent, &it->sends[k]);
            if (src) {
                it->waiting--;
                if (!it->failed++)
                    rt_snprintf(it->error, sizeof(it->error), "%s: %s", key, rt_strerror(src));
            }
        }
        if (--it->waiting == 0)
            ob->waiting--;
    }
    if (ob->waiting == 0)
        write_outcomes(ob);
}

int rt_outbox_new(const struct rt_outbox_opts *o, struct rt_outbox **out)
{
    struct rt_outbox *ob = rt_calloc(1, sizeof(*ob));
    if (!ob)
        return RT_ENOMEM;
    ob->o = *o;
    if (ob->o.max_attempts <= 0)
        ob->o.max_attempts = 8;
    if (ob->o.first_retry_ms <= 0)
        ob->o.first_retry_ms = 30000;
    int rc = rt_defer_init(&ob->defer, o->loop);
    if (rc) {
        rt_free(ob);
        return rc;
    }
    uv_timer_init(o->loop, &ob->retry);
    ob->retry.data = ob;
    ob->handles = 2;
    *out = ob;
    return 0;
}

void rt_outbox_kick(struct rt_outbox *ob)
{
    if (ob->closing)
        return;
    if (ob->running) {
        ob->again = true;
        return;
    }
    rt_defer(&ob->defer, round_start, ob);
}

int64_t rt_outbox_delivered(const struct rt_outbox *ob)
{
    return ob->delivered_total;
}

void rt_outbox_close(struct rt_outbox *ob, void (*cb)(void *ud), void *ud)
{
    if (ob->closing)
        return;
    ob->closing = true;
    ob->close_cb = cb;
    ob->close_ud = ud;
    uv_timer_stop(&ob->retry);
    maybe_finish_close(ob);
}
