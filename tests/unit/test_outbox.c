/*
 * test_outbox.c - the notification outbox sender (src/daemon/outbox.c) over a real journal with
 * its writer thread and scriptable fake notifiers: every notification reaches every notifier,
 * a notifier that already has one is never sent it again on a retry, failures are retried with
 * backoff and given up after the configured attempts, and what happened is durable in the
 * journal.
 */
#include <cjson/cJSON.h>
#include <uv.h>

#include "outbox.h"
#include "retraind/alloc.h"
#include "retraind/journal.h"
#include "retraind/loop.h"
#include "retraind/notify.h"
#include "rt_test.h"

#define MAX_SEEN 64

struct fake {
    struct rt_notifier base;
    struct rt_defer_queue defer;
    int fail_first; /* fail this many sends, then succeed (-1: always fail) */
    int calls;
    int64_t seen[MAX_SEEN]; /* notification ids delivered successfully */
    int n_seen;
};

struct pending {
    struct rt_deferred item;
    struct fake *f;
    int64_t id;
    bool fail;
    rt_notify_done_fn *cb;
    void *ud;
};

static void answer(void *ud)
{
    struct pending *p = ud;
    if (p->fail) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, RT_ESMTP, "the fake server said no");
        p->cb(RT_ESMTP, &e, p->ud);
    } else {
        if (p->f->n_seen < MAX_SEEN)
            p->f->seen[p->f->n_seen++] = p->id;
        p->cb(0, NULL, p->ud);
    }
    rt_free(p);
}

static int
fake_send(struct rt_notifier *n, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud)
{
    struct fake *f = (struct fake *)n;
    struct pending *p = rt_calloc(1, sizeof(*p));
    RT_ASSERT(p);
    RT_ASSERT(ev->id > 0); /* the stable id travels with the event */
    p->f = f;
    p->id = ev->id;
    p->cb = cb;
    p->ud = ud;
    p->fail = f->fail_first < 0 || f->calls < f->fail_first;
    f->calls++;
    rt_defer_item(&f->defer, &p->item, answer, p);
    return 0;
}

static void fake_close(struct rt_notifier *n, void (*cb)(void *ud), void *ud)
{
    struct fake *f = (struct fake *)n;
    rt_defer_close(&f->defer, cb, ud);
}

static const struct rt_notifier_ops fake_ops = {
    .name = "fake", .send = fake_send, .close = fake_close};

static void fake_init(struct fake *f, uv_loop_t *loop, int fail_first)
{
    memset(f, 0, sizeof(*f));
    f->base.ops = &fake_ops;
    f->fail_first = fail_first;
    RT_ASSERT_OK(rt_defer_init(&f->defer, loop));
}

struct fx {
    uv_loop_t loop;
    struct rt_journal *j;
    struct fake ok, flaky;
    struct rt_notifier *list[2];
    struct rt_outbox *ob;
    int closed;
};

static void count_closed(void *ud)
{
    (*(int *)ud)++;
}

static void fx_open(struct fx *f, int flaky_fails, int max_attempts, int notifications)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/data", rt_test_tmpdir());
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_open(dir, RT_JOURNAL_READWRITE, &f->j, &err));
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    for (int i = 0; i < notifications; i++) {
        struct rt_event ev = {.kind = RT_EV_DEPLOYED, .exec_id = "tr-1", .version = "v1"};
        char *json = rt_event_to_json(&ev);
        RT_ASSERT(json);
        int64_t id = 0;
        RT_ASSERT_OK(rt_journal_outbox_reserve_id(f->j, &id));
        RT_ASSERT_OK(rt_jbatch_outbox_add(b, id, "tr-1", "training.deployed", json, 1000));
        cJSON_free(json);
    }
    RT_ASSERT_OK(rt_journal_apply(f->j, b, &err));
    rt_jbatch_free(b);
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    fake_init(&f->ok, &f->loop, 0);
    fake_init(&f->flaky, &f->loop, flaky_fails);
    f->list[0] = &f->ok.base;
    f->list[1] = &f->flaky.base;
    struct rt_outbox_opts o = {.loop = &f->loop,
                               .journal = f->j,
                               .notifiers = f->list,
                               .n_notifiers = 2,
                               .max_attempts = max_attempts,
                               .first_retry_ms = 5};
    RT_ASSERT_OK(rt_outbox_new(&o, &f->ob));
}

static void fx_close(struct fx *f)
{
    rt_outbox_close(f->ob, count_closed, &f->closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    fake_close(&f->ok.base, count_closed, &f->closed);
    fake_close(&f->flaky.base, count_closed, &f->closed);
    rt_journal_writer_close(f->j, count_closed, &f->closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(f->closed, 4);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_journal_close(f->j);
}

struct due {
    int n;
    int64_t attempts;
};

static int count_due(const struct rt_journal_outbox *o, void *ud)
{
    struct due *d = ud;
    d->n++;
    d->attempts = o->attempts;
    return 0;
}

/* Returns: the attempts recorded on the one pending notification (0 if none is pending). */
static int64_t attempts_recorded(struct fx *f)
{
    struct due d = {0};
    RT_ASSERT_OK(rt_journal_outbox_due(f->j, INT64_MAX / 2, 10, count_due, &d));
    return d.n ? d.attempts : 0;
}

/* Runs the loop until cond holds or 5 s pass (a bound, not a sleep). */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        uint64_t start_ = uv_now(&(f)->loop);                                                      \
        while (!(cond) && uv_now(&(f)->loop) - start_ < 5000) {                                    \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
            uv_update_time(&(f)->loop);                                                            \
        }                                                                                          \
        RT_ASSERT(cond);                                                                           \
    } while (0)

RT_TEST(every_notifier_gets_each_once_and_retries_skip_those_that_have_it)
{
    struct fx f;
    fx_open(&f, 2, 5, 3); /* flaky fails its first 2 sends */
    rt_outbox_kick(f.ob);
    RT_ASSERT_INT_EQ(f.ok.calls, 0); /* never inside kick */
    RUN_UNTIL(&f, f.flaky.n_seen == 3 && rt_outbox_delivered(f.ob) == 3);
    /* The notifier that had them was not sent them again on the retries. */
    RT_ASSERT_INT_EQ(f.ok.calls, 3);
    RT_ASSERT_INT_EQ(f.ok.n_seen, 3);
    RT_ASSERT(f.flaky.calls >= 4);
    /* Same ids everywhere. */
    for (int i = 0; i < 3; i++) {
        bool found = false;
        for (int k = 0; k < 3; k++)
            found |= f.flaky.seen[k] == f.ok.seen[i];
        RT_ASSERT(found);
    }
    /* Durable: nothing is due any more, however far in the future we look. */
    struct due d = {0};
    RUN_UNTIL(&f, rt_journal_writer_pending(f.j) == 0);
    RT_ASSERT_OK(rt_journal_outbox_due(f.j, INT64_MAX / 2, 10, count_due, &d));
    RT_ASSERT_INT_EQ(d.n, 0);
    RT_ASSERT_INT_EQ(rt_journal_outbox_next_due(f.j), 0);
    fx_close(&f);
}

RT_TEST(a_notifier_that_always_fails_is_given_up_after_max_attempts)
{
    struct fx f;
    fx_open(&f, -1, 3, 1);
    rt_outbox_kick(f.ob);
    RUN_UNTIL(&f, f.flaky.calls >= 3 && rt_journal_writer_pending(f.j) == 0 &&
                      rt_journal_outbox_next_due(f.j) == 0);
    /* Three attempts at the failing one, one at the other, then it stops trying. */
    RT_ASSERT_INT_EQ(f.flaky.calls, 3);
    RT_ASSERT_INT_EQ(f.ok.calls, 1);
    RT_ASSERT_INT_EQ(rt_outbox_delivered(f.ob), 0);
    struct due d = {0};
    RT_ASSERT_OK(rt_journal_outbox_due(f.j, INT64_MAX / 2, 10, count_due, &d));
    RT_ASSERT_INT_EQ(d.n, 0); /* given up: recorded, not due again */
    fx_close(&f);
}

RT_TEST(undelivered_rows_wait_for_their_next_attempt)
{
    struct fx f;
    fx_open(&f, 1, 5, 1); /* fails once, then works */
    rt_outbox_kick(f.ob);
    /* After the failed attempt the row records one attempt, and is due again later. */
    RUN_UNTIL(&f, attempts_recorded(&f) == 1);
    RT_ASSERT(rt_journal_outbox_next_due(f.j) > 1000);
    RUN_UNTIL(&f, f.flaky.n_seen == 1);
    RT_ASSERT_INT_EQ(f.ok.calls, 1);
    fx_close(&f);
}
