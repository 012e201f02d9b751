/*
 * test_params_alloc.c - allocation-failure torture of the local params driver (issue #7
 * section 5): load and set with allocation n failing (rt_alloc_fail_after, SQLite included, see
 * sqlite_alloc_fixture.h; the writer thread's too) for n = 1, 2, ... until a run no longer
 * reaches it. At each n: an error from the call (no callback ever) or exactly one callback; a
 * set that succeeded is stored and its owner hears of it exactly once through on_change; one
 * that failed stored nothing and told nobody; no leak.
 */
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/error.h"
#include "retraind/journal.h"
#include "retraind/params.h"
#include "rt_test.h"

#include "sqlite_alloc_fixture.h"

#define N_MAX 20000

struct fix {
    char dir[512];
    uv_loop_t loop;
    uv_timer_t tick;
    struct rt_journal *j;
    struct rt_params *p;
};

struct seen {
    int calls, status;
    bool end_injection; /* the shortage ends when the caller hears back */
    bool reached;       /* ... and it had struck by then */
    int64_t min_untrained;
    int changes;
    int64_t changed_to;
};

static void fix_open(struct fix *f, const char *name)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/%s", rt_test_tmpdir(), name);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    RT_ASSERT_OK(uv_timer_init(&f->loop, &f->tick));
    if (rt_journal_open(f->dir, RT_JOURNAL_READWRITE, &f->j, &err) != 0)
        RT_FAIL("open: %s", err.msg);
    RT_ASSERT_OK(rt_journal_param_set(f->j, "Minimum-Untrained-Images", "5", 1));
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    RT_ASSERT_OK(rt_params_local_new(&f->loop, f->j, NULL, &f->p));
}

static void flag(void *ud)
{
    *(bool *)ud = true;
}

static void fix_close(struct fix *f)
{
    bool closed = false, wclosed = false;
    f->p->ops->close(f->p, flag, &closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT(closed);
    rt_journal_writer_close(f->j, flag, &wclosed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT(wclosed);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_OK(uv_loop_close(&f->loop));
    rt_journal_close(f->j);
}

/* The stored text of Minimum-Untrained-Images, read with the injection off. */
static void stored(struct fix *f, char *out, size_t size)
{
    atomic_store(&sq_route, 0);
    int rc = rt_journal_param_get(f->j, "Minimum-Untrained-Images", out, size);
    atomic_store(&sq_route, 1);
    RT_ASSERT_OK(rc);
}

static void
on_load(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct seen *s = ud;
    s->calls++;
    s->status = status;
    if (status) {
        RT_ASSERT(values == NULL && err != NULL);
        return;
    }
    RT_ASSERT(err == NULL);
    s->min_untrained = values->v[RT_P_MIN_UNTRAINED].i;
    RT_ASSERT_INT_EQ(values->v[RT_P_MIN_UNTRAINED].source, RT_PSRC_SET);
}

RT_TEST(load_under_injection)
{
    struct fix f;
    fix_open(&f, "load");
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct seen s = {0};
        rt_alloc_fail_after((unsigned long)n);
        int rc = f.p->ops->load(f.p, on_load, &s);
        RT_ASSERT_INT_EQ(s.calls, 0); /* never from inside the call */
        uv_run(&f.loop, UV_RUN_DEFAULT);
        reached = inject_end();
        if (rc) {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT_INT_EQ(s.calls, 0);
            failures++;
        } else {
            RT_ASSERT_INT_EQ(s.calls, 1);
            if (s.status) {
                RT_ASSERT_INT_EQ(s.status, RT_ENOMEM); /* the journal's read failed */
                failures++;
            } else {
                RT_ASSERT_INT_EQ(s.min_untrained, 5);
            }
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures >= 2);
    fix_close(&f);
}

static void on_set(int status, const struct rt_error *err, void *ud)
{
    struct seen *s = ud;
    s->calls++;
    s->status = status;
    RT_ASSERT((status == 0) == (err == NULL));
    if (s->end_injection) {
        void *probe = rt_malloc(1);
        s->reached = probe == NULL;
        rt_alloc_fail_after(0);
        rt_free(probe);
    }
}

static void on_change(const struct rt_param_set *values, void *ud)
{
    struct seen *s = ud;
    s->changes++;
    s->changed_to = values->v[RT_P_MIN_UNTRAINED].i;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until s has its callback (bounded), then until nothing is left to run. */
static void run_set(struct fix *f, struct seen *s)
{
    uv_update_time(&f->loop);
    uint64_t start = uv_now(&f->loop);
    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (s->calls == 0) {
        if (uv_now(&f->loop) - start > 30 * 1000)
            RT_FAIL("the set never completes");
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->tick);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/*
 * end_at_callback: the shortage ends when the caller hears back (a transient one), so a set that
 * succeeded must reach on_change by itself. Otherwise it lasts until everything ran: on_change
 * may have been impossible (the journal could not be read), but the driver must not believe it
 * told the owner, so the next refresh does.
 */
static void set_torture(const char *name, bool end_at_callback, bool warm)
{
    struct fix f;
    fix_open(&f, name);
    struct seen first = {0};
    RT_ASSERT_OK(f.p->ops->load(f.p, on_load, &first)); /* the owner knows the values */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(first.min_untrained, 5);
    long live = live_own();
    bool reached = true;
    int failures = 0, told_late = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        char value[16], before[16], after[16];
        struct seen s = {.end_injection = end_at_callback};
        f.p->on_change = on_change;
        f.p->on_change_ud = &s;
        if (warm) {
            /* A set without injection first: the round starts from the caches a working
             * journal has (a failure makes SQLite drop some). */
            snprintf(value, sizeof(value), "%d", 50000 + n);
            s.end_injection = false;
            RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_MIN_UNTRAINED, value, on_set, &s));
            run_set(&f, &s);
            RT_ASSERT(s.status == 0 && s.changes == 1);
            s = (struct seen){.end_injection = end_at_callback};
        }
        snprintf(value, sizeof(value), "%d", 100 + n);
        stored(&f, before, sizeof(before));
        rt_alloc_fail_after((unsigned long)n);
        int rc = f.p->ops->set(f.p, RT_P_MIN_UNTRAINED, value, on_set, &s);
        RT_ASSERT_INT_EQ(s.calls, 0);
        if (rc == 0)
            run_set(&f, &s);
        reached = inject_end() || s.reached;
        stored(&f, after, sizeof(after));
        if (rc) {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            uv_run(&f.loop, UV_RUN_DEFAULT);
            RT_ASSERT_INT_EQ(s.calls, 0);
            RT_ASSERT_STR_EQ(after, before);
            RT_ASSERT_INT_EQ(s.changes, 0);
            failures++;
        } else if (s.status) {
            RT_ASSERT_INT_EQ(s.calls, 1);
            RT_ASSERT_INT_EQ(s.status, RT_ENOMEM);
            RT_ASSERT_STR_EQ(after, before);
            RT_ASSERT_INT_EQ(s.changes, 0);
            failures++;
        } else {
            RT_ASSERT_INT_EQ(s.calls, 1);
            RT_ASSERT_STR_EQ(after, value);
            if (!end_at_callback && s.changes == 0) {
                /* The owner could not be told while memory lacked: the next look tells it. */
                RT_ASSERT_OK(f.p->ops->refresh(f.p));
                uv_run(&f.loop, UV_RUN_DEFAULT);
                told_late++;
            }
            if (s.changes != 1)
                RT_FAIL("n=%d: the set of %s succeeded and the owner heard of it %d times", n,
                        value, s.changes);
            RT_ASSERT_INT_EQ(s.changed_to, 100 + n);
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s(%s, %s): %d rounds, %d failed, %d told on refresh\n", __func__, name,
            warm ? "warm" : "cold", n - 1, failures, told_late);
    RT_ASSERT(failures >= 2);
    f.p->on_change = NULL;
    fix_close(&f);
}

RT_TEST(set_under_injection)
{
    set_torture("set-lasting", false, false);
    set_torture("set-lasting-warm", false, true);
}

RT_TEST(set_transient_failure)
{
    set_torture("set-transient", true, false);
    set_torture("set-transient-warm", true, true);
}
