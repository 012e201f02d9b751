/*
 * test_workflow_alloc.c - allocation-failure torture of the workflow code (issue #7 section 5):
 * the census, the events' JSON for the outbox, and the machine's transitions, in the manner of
 * curl's -t (inject at allocation n = 1, 2, 3, ... until a run no longer reaches it).
 *
 * Two kinds of injection:
 *   - rt_alloc_fail_after(n): allocation n and every later one fail (SQLite's too, see
 *     sqlite_alloc_fixture.h), until the run ends: a lasting shortage.
 *   - a transient one: only the n-th allocation made by cJSON fails (cJSON's hooks wrap
 *     rt_malloc with a counter of their own), or the shortage ends at a point the test chooses
 *     (the fake store ends it when the census starts listing). A lasting shortage makes every
 *     later step fail too, which hides a caller that carries on after one failed allocation
 *     with less than it should (a notification dropped, a context lost, a count rule used
 *     instead of the key set); a transient one lets the run go on and shows what it wrote.
 *
 * At each n: an error code or a callback with RT_ENOMEM (never both, never neither), no leak
 * (rt_alloc_live() back where it was, SQLite's caches aside; ASan checks the rest), and in the
 * journal either the whole effect or nothing of it: a parameter change ends in DONE with exactly
 * one outbox row, or leaves no row at all and succeeds on its retry.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <uv.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/error.h"
#include "retraind/fsutil.h"
#include "retraind/hash.h"
#include "retraind/journal.h"
#include "retraind/manifest.h"
#include "retraind/notify.h"
#include "retraind/store.h"
#include "retraind/workflow.h"
#include "rt_test.h"

#include "sqlite_alloc_fixture.h"

#define N_MAX 20000

/* ---- the transient injection: one cJSON allocation fails ---- */

static atomic_ulong cj_count, cj_fail_at;

static void *cj_malloc(size_t size)
{
    unsigned long k = atomic_fetch_add(&cj_count, 1) + 1;
    if (k != atomic_load(&cj_fail_at))
        return rt_malloc(size);
    /* This one fails, through rt_malloc so that it counts as the project's failure. SQLite does
     * not allocate through rt_malloc in this mode (see arm), so nothing else meets it. */
    rt_alloc_fail_after(1);
    void *p = rt_malloc(size);
    rt_alloc_fail_after(0);
    return p;
}

/* From now on, only the n-th allocation cJSON makes fails. */
static void cj_arm(unsigned long n)
{
    cJSON_Hooks h = {.malloc_fn = cj_malloc, .free_fn = rt_free};
    cJSON_InitHooks(&h);
    atomic_store(&cj_count, 0);
    atomic_store(&cj_fail_at, n);
}

/* Ends the transient injection. Returns: true if the run reached allocation n. */
static bool cj_end(void)
{
    bool reached = atomic_load(&cj_count) >= atomic_load(&cj_fail_at);
    atomic_store(&cj_fail_at, 0);
    return reached;
}

enum mode { LASTING, TRANSIENT };

static void arm(enum mode mode, int n)
{
    if (mode == LASTING) {
        rt_alloc_fail_after((unsigned long)n);
    } else {
        atomic_store(&sq_route, 0); /* the writer thread's SQLite stays out of it */
        cj_arm((unsigned long)n);
    }
}

static bool disarm(enum mode mode)
{
    if (mode == LASTING)
        return inject_end();
    atomic_store(&sq_route, 1);
    return cj_end();
}

/* ---- events as JSON ---- */

static const struct rt_event full_event = {.kind = RT_EV_DEPLOYED,
                                           .exec_id = "tr-20260101T000000Z-0001",
                                           .workflow = "training",
                                           .state = "SWITCH",
                                           .version = "v2",
                                           .previous_version = "v1",
                                           .f1 = 0.875,
                                           .min_f1 = 0.5,
                                           .images = 120,
                                           .untrained = 20,
                                           .needed = 10,
                                           .error = "none at all",
                                           .param = "Minimum-F1-Score",
                                           .old_value = "0.4",
                                           .new_value = "0.5",
                                           .at_ms = 1700000000123LL};

static void to_json_torture(enum mode mode)
{
    char *ref = rt_event_to_json(&full_event);
    RT_ASSERT(ref != NULL);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        arm(mode, n);
        char *text = rt_event_to_json(&full_event);
        reached = disarm(mode);
        if (text) {
            RT_ASSERT_STR_EQ(text, ref); /* never a partial event */
            cJSON_free(text);
        } else {
            failures++;
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 5);
    cJSON_free(ref);
}

RT_TEST(event_to_json_under_injection)
{
    to_json_torture(LASTING);
}

RT_TEST(event_to_json_transient)
{
    to_json_torture(TRANSIENT);
}

static void assert_full_event(const struct rt_event *ev)
{
    RT_ASSERT_INT_EQ(ev->kind, RT_EV_DEPLOYED);
    RT_ASSERT_STR_EQ(ev->exec_id, full_event.exec_id);
    RT_ASSERT_STR_EQ(ev->workflow, "training");
    RT_ASSERT_STR_EQ(ev->state, "SWITCH");
    RT_ASSERT_STR_EQ(ev->version, "v2");
    RT_ASSERT_STR_EQ(ev->previous_version, "v1");
    RT_ASSERT_STR_EQ(ev->error, "none at all");
    RT_ASSERT_STR_EQ(ev->param, "Minimum-F1-Score");
    RT_ASSERT_STR_EQ(ev->old_value, "0.4");
    RT_ASSERT_STR_EQ(ev->new_value, "0.5");
    RT_ASSERT(ev->f1 == 0.875 && ev->min_f1 == 0.5);
    RT_ASSERT_INT_EQ(ev->images, 120);
    RT_ASSERT_INT_EQ(ev->untrained, 20);
    RT_ASSERT_INT_EQ(ev->needed, 10);
    RT_ASSERT_INT_EQ(ev->at_ms, 1700000000123LL);
}

static void from_json_torture(enum mode mode)
{
    long live0 = live_own();
    char *ref = rt_event_to_json(&full_event);
    RT_ASSERT(ref != NULL);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct rt_event ev;
        void *holder = (void *)1;
        arm(mode, n);
        int rc = rt_event_from_json(ref, &ev, &holder);
        reached = disarm(mode);
        if (rc == 0) {
            assert_full_event(&ev);
            rt_event_holder_free(holder);
        } else {
            /* Out of memory is not a bad event: the outbox must not give the row up. */
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: from_json failed with %s, not RT_ENOMEM", n, rt_err_name(rc));
            RT_ASSERT(holder == NULL);
            failures++;
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 5);
    /* A text that is not an event still says so. */
    struct rt_event ev;
    void *holder;
    RT_ASSERT_INT_EQ(rt_event_from_json("{\"kind\":", &ev, &holder), RT_EPARSE);
    RT_ASSERT_INT_EQ(rt_event_from_json("{\"kind\":\"nope\"}", &ev, &holder), RT_EPARSE);
    cJSON_free(ref);
    RT_ASSERT_INT_EQ(live_own(), live0);
}

RT_TEST(event_from_json_under_injection)
{
    from_json_torture(LASTING);
}

RT_TEST(event_from_json_transient)
{
    from_json_torture(TRANSIENT);
}

/* ---- a journal with its writer on a loop ---- */

struct wf {
    char dir[512];
    uv_loop_t loop;
    struct rt_journal *j;
    struct rt_machine *m;
    struct rt_config *cfg;
    uv_timer_t tick; /* wakes the loop while settle() waits, so no poll sleeps past a change */
    int applied;     /* apply_param calls */
    int kicked;      /* outbox_kick calls */
};

static void on_apply(void *ud, enum rt_param_id id)
{
    struct wf *w = ud;
    (void)id;
    w->applied++;
}

static void on_kick(void *ud)
{
    struct wf *w = ud;
    w->kicked++;
}

static void wf_open(struct wf *w, const char *name, bool writer)
{
    static int seq; /* a folder of its own even when every case runs in one process */
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "%s/%s-%d", rt_test_tmpdir(), name, ++seq);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(uv_loop_init(&w->loop));
    RT_ASSERT_OK(uv_timer_init(&w->loop, &w->tick));
    int rc = rt_journal_open(w->dir, RT_JOURNAL_READWRITE, &w->j, &err);
    if (rc)
        RT_FAIL("open: %s", err.msg);
    rt_journal_set_busy_timeout(w->j, 2000);
    if (writer)
        RT_ASSERT_OK(rt_journal_writer_start(w->j, &w->loop, &err));
}

static void flag_closed(void *ud)
{
    *(bool *)ud = true;
}

static void wf_machine(struct wf *w)
{
    struct rt_workflow_env env = {.loop = &w->loop,
                                  .journal = w->j,
                                  .apply_param = on_apply,
                                  .outbox_kick = on_kick,
                                  .ud = w,
                                  /* A failed persist parks the execution for an hour: the test
                                   * sees it parked and runs the retry itself. */
                                  .persist_retry_ms = 3600 * 1000};
    RT_ASSERT_OK(rt_machine_new(&env, &w->m));
}

static void machine_close(struct wf *w);

static void wf_close(struct wf *w)
{
    if (w->m)
        machine_close(w);
    if (rt_journal_writer_running(w->j)) {
        bool done = false;
        rt_journal_writer_close(w->j, flag_closed, &done);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        RT_ASSERT(done);
    }
    rt_journal_close(w->j);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    RT_ASSERT_OK(uv_loop_close(&w->loop));
    if (w->cfg)
        rt_config_destroy(w->cfg);
}

/* Returns: the execution parked after a failed persist (its retry is an hour away), or NULL. */
static struct rt_exec *parked(struct rt_machine *m)
{
    for (struct rt_exec *x = m->execs; x; x = x->next)
        if (!x->step_running && !x->persisting && !x->done &&
            uv_is_active((uv_handle_t *)&x->timer) && uv_timer_get_due_in(&x->timer) > 60 * 1000)
            return x;
    return NULL;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until the machine has no execution left or one is parked (bounded: 30 s). */
static void settle(struct wf *w)
{
    uv_update_time(&w->loop);
    uint64_t start = uv_now(&w->loop);
    uv_timer_start(&w->tick, on_tick, 2, 2);
    while (w->m->execs && !parked(w->m)) {
        if (uv_now(&w->loop) - start > 30 * 1000)
            RT_FAIL("the machine never settles");
        uv_run(&w->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&w->tick);
}

/* Runs a parked execution's retry now (the injection is over). */
static void retry_now(struct wf *w)
{
    struct rt_exec *x = parked(w->m);
    RT_ASSERT(x != NULL);
    uv_timer_start(&x->timer, x->timer.timer_cb, 0, 0);
    settle(w);
    RT_ASSERT(parked(w->m) == NULL);
    RT_ASSERT(w->m->execs == NULL);
}

/* ---- what the journal holds of parameter changes ---- */

struct snap {
    int execs, done, failed, unfinished;
    int outbox;
    char applied[64];
    char last_id[64];
    char last_state[32];
};

static int snap_exec(const struct rt_journal_exec *e, void *ud)
{
    struct snap *s = ud;
    if (s->execs++ == 0) {
        rt_strlcpy(s->last_id, e->id, sizeof(s->last_id));
        rt_strlcpy(s->last_state, e->state, sizeof(s->last_state));
    }
    if (strcmp(e->state, "DONE") == 0)
        s->done++;
    else if (strcmp(e->state, "FAILED") == 0)
        s->failed++;
    if (e->finished_ms == 0)
        s->unfinished++;
    return 0;
}

struct outbox_check {
    struct snap *s;
    const char *exec_id; /* count rows of this execution only, and check them */
    const char *new_value;
    int rows;
};

static int snap_outbox(const struct rt_journal_outbox *o, void *ud)
{
    struct outbox_check *c = ud;
    c->s->outbox++;
    if (c->exec_id && strcmp(o->exec_id, c->exec_id) == 0) {
        c->rows++;
        RT_ASSERT_STR_EQ(o->kind, "parameter.changed");
        struct rt_event ev;
        void *holder = NULL;
        RT_ASSERT_OK(rt_event_from_json(o->event, &ev, &holder));
        RT_ASSERT_INT_EQ(ev.kind, RT_EV_PARAM_CHANGED);
        RT_ASSERT_STR_EQ(ev.param, "Minimum-Untrained-Images");
        RT_ASSERT_STR_EQ(ev.new_value, c->new_value);
        RT_ASSERT_STR_EQ(ev.exec_id, c->exec_id);
        rt_event_holder_free(holder);
    }
    return 0;
}

#define APPLIED_KEY RT_STATE_PARAM_APPLIED "Minimum-Untrained-Images"

static struct snap
take_snap(struct rt_journal *j, const char *exec_id, const char *new_value, int *rows)
{
    struct snap s;
    memset(&s, 0, sizeof(s));
    atomic_store(&sq_route, 0); /* reading must not meet the injection */
    struct rt_journal_exec_filter f = {.workflow = "parameter", .limit = 100000};
    RT_ASSERT_OK(rt_journal_exec_list(j, &f, snap_exec, &s));
    struct outbox_check c = {&s, exec_id, new_value, 0};
    RT_ASSERT_OK(rt_journal_outbox_due(j, INT64_MAX, 100000, snap_outbox, &c));
    if (rows)
        *rows = c.rows;
    int rc = rt_journal_state_get(j, APPLIED_KEY, s.applied, sizeof(s.applied));
    RT_ASSERT(rc == 0 || rc == RT_ENOTFOUND);
    atomic_store(&sq_route, 1);
    return s;
}

/* Checks that the newest parameter execution is a complete change to new_value: DONE, its
 * APPLY output whole, exactly one outbox row, the value recorded as applied, and the execution
 * counter stored at least as far as its id. */
static void assert_change_complete(struct wf *w, const struct snap *before, const char *new_value)
{
    struct snap now = take_snap(w->j, NULL, NULL, NULL);
    RT_ASSERT_INT_EQ(now.execs, before->execs + 1);
    int rows = 0;
    now = take_snap(w->j, now.last_id, new_value, &rows);
    if (strcmp(now.last_state, "DONE") != 0)
        RT_FAIL("the change ended in %s, not DONE", now.last_state);
    if (rows != 1)
        RT_FAIL("DONE with %d outbox rows, not exactly one", rows);
    RT_ASSERT_INT_EQ(now.outbox, before->outbox + 1);
    RT_ASSERT_STR_EQ(now.applied, new_value);
    atomic_store(&sq_route, 0);
    char *out = NULL;
    RT_ASSERT_OK(rt_journal_step_output(w->j, now.last_id, "APPLY", &out));
    if (out) { /* an output is whole or absent, never a part */
        char want[160];
        snprintf(want, sizeof(want),
                 "{\"name\":\"Minimum-Untrained-Images\",\"old\":\"20\","
                 "\"new\":\"%s\"}",
                 new_value);
        RT_ASSERT_STR_EQ(out, want);
        rt_free(out);
    }
    int64_t counter = 0;
    RT_ASSERT_OK(rt_journal_state_get_i64(w->j, "exec_id_counter", 0, &counter));
    const char *num = strrchr(now.last_id, '-');
    RT_ASSERT(num != NULL);
    if (counter < strtoll(num + 1, NULL, 10))
        RT_FAIL("execution %s is committed but the stored id counter is %" PRId64, now.last_id,
                counter);
    atomic_store(&sq_route, 1);
}

static void assert_nothing_written(struct wf *w, const struct snap *before)
{
    struct snap now = take_snap(w->j, NULL, NULL, NULL);
    RT_ASSERT_INT_EQ(now.execs, before->execs);
    RT_ASSERT_INT_EQ(now.outbox, before->outbox);
    RT_ASSERT_STR_EQ(now.applied, before->applied);
}

/* One parameter change with the injection at n through its first attempt. Returns: true if the
 * run reached the injection. */
static bool param_round(struct wf *w, enum mode mode, int n, long live)
{
    char value[16];
    snprintf(value, sizeof(value), "%d", 100 + n);
    struct snap before = take_snap(w->j, NULL, NULL, NULL);
    int applied0 = w->applied;
    arm(mode, n);
    int rc = rt_machine_param_changed(w->m, RT_P_MIN_UNTRAINED, "20", value);
    if (rc == 0)
        settle(w);
    bool reached = disarm(mode);
    if (rc) {
        /* Refused at once: nothing runs, nothing is written. */
        RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
        settle(w);
        RT_ASSERT(w->m->execs == NULL);
        RT_ASSERT_INT_EQ(w->applied, applied0);
        assert_nothing_written(w, &before);
    } else if (parked(w->m)) {
        /* The first attempt failed: nothing of it is in the journal; its retry completes it. */
        assert_nothing_written(w, &before);
        retry_now(w);
        assert_change_complete(w, &before, value);
    } else {
        RT_ASSERT(w->m->execs == NULL);
        assert_change_complete(w, &before, value);
    }
    RT_ASSERT_INT_EQ(rt_machine_in_flight(w->m), 0);
    RT_ASSERT_INT_EQ(rt_journal_writer_pending(w->j), 0);
    RT_ASSERT_INT_EQ(live_own(), live);
    return reached;
}

/* warm: each round after a change without injection (as in a working daemon); cold: right after
 * the previous round's failure, which makes SQLite drop caches. */
static void param_torture(enum mode mode, bool warm)
{
    struct wf w;
    wf_open(&w, "param", true);
    wf_machine(&w);
    /* One change first, so the statement cache and the id counters are warm. */
    long live = live_own();
    param_round(&w, mode, N_MAX * 10, live);
    bool reached = true;
    int n;
    for (n = 1; n < N_MAX && reached; n++) {
        if (warm)
            RT_ASSERT(!param_round(&w, mode, N_MAX * 10, live));
        reached = param_round(&w, mode, n, live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(n > 10);
    wf_close(&w);
}

RT_TEST(param_change_under_injection)
{
    param_torture(LASTING, false);
    param_torture(LASTING, true);
}

RT_TEST(param_change_transient_json_failure)
{
    param_torture(TRANSIENT, false);
}

/* ---- resuming an execution from the journal ---- */

/* Closes the machine (gracefully, as the daemon does). */
static void machine_close(struct wf *w)
{
    bool done = false;
    rt_machine_close(w->m, flag_closed, &done);
    while (!done)
        RT_ASSERT(uv_run(&w->loop, UV_RUN_ONCE) || done);
    w->m = NULL;
}

/* Each round: an unfinished parameter change in APPLY is written through a connection of the
 * test's own (the journal's is the writer's), a new machine resumes it with the injection at n,
 * and the change must end DONE with its one notification, or stay in the journal as it was. */
static void resume_torture(enum mode mode)
{
    struct wf w;
    wf_open(&w, "resume", true);
    struct rt_journal *admin = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_open(w.dir, RT_JOURNAL_READWRITE, &admin, &err));
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        char id[64], ctx[160], value[16];
        snprintf(id, sizeof(id), "pc-20260101T000000Z-%04d", n);
        snprintf(value, sizeof(value), "%d", 200 + n);
        snprintf(ctx, sizeof(ctx),
                 "{\"name\":\"Minimum-Untrained-Images\",\"old\":\"20\",\"new\":\"%s\"}", value);
        RT_ASSERT_OK(rt_journal_exec_create(admin, id, "parameter", "APPLY", NULL, ctx, 1000));
        wf_machine(&w);
        struct snap before = take_snap(w.j, NULL, NULL, NULL);
        RT_ASSERT_INT_EQ(before.unfinished, 1);
        int applied0 = w.applied;
        arm(mode, n);
        int rc = rt_machine_resume(w.m);
        settle(&w);
        reached = disarm(mode);
        if (parked(w.m)) {
            assert_nothing_written(&w, &before);
            retry_now(&w);
        }
        struct snap now = take_snap(w.j, NULL, NULL, NULL);
        RT_ASSERT_STR_EQ(now.last_id, id);
        if (rc) {
            /* Not resumed: the execution waits in the journal as it was. */
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT_INT_EQ(now.unfinished, 1);
            RT_ASSERT_INT_EQ(now.outbox, before.outbox);
            RT_ASSERT_STR_EQ(now.last_state, "APPLY");
            RT_ASSERT_STR_EQ(now.applied, before.applied);
            /* Out of the way of the next round. */
            RT_ASSERT_OK(rt_journal_exec_advance(admin, id, NULL, "test", "FAILED", true, NULL, 2));
            failures++;
        } else {
            /* Resumed with its whole context: the change it carries is applied. */
            if (strcmp(now.last_state, "DONE") != 0)
                RT_FAIL("n=%d: the resumed change ended in %s, not DONE", n, now.last_state);
            RT_ASSERT_INT_EQ(now.outbox, before.outbox + 1);
            RT_ASSERT_STR_EQ(now.applied, value);
            RT_ASSERT(w.applied > applied0); /* again after a failed persist: idempotent */
        }
        machine_close(&w);
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures >= 1);
    rt_journal_close(admin);
    wf_close(&w);
}

RT_TEST(resume_under_injection)
{
    resume_torture(LASTING);
}

RT_TEST(resume_transient_json_failure)
{
    resume_torture(TRANSIENT);
}

/* ---- the census over a fake store ---- */

struct fake {
    struct rt_store base;
    uv_loop_t *loop;
    const char *const *keys;
    size_t n_keys;
    const char *manifest_key;  /* the one object get finds, or NULL */
    const char *manifest_text; /* its body */
    bool end_injection_at_list;
    bool reached_before_list; /* the injection had fired when the listing started */
};

struct fake_op {
    uv_timer_t timer;
    struct fake *f;
    rt_store_page_fn *page_cb;
    rt_store_done_fn *done_cb;
    void *ud;
    size_t next; /* list: the next key */
    struct rt_buf *body;
    bool found;
};

static void op_free(uv_handle_t *h)
{
    rt_free(h->data);
}

static void on_list_turn(uv_timer_t *t)
{
    struct fake_op *op = t->data;
    struct fake *f = op->f;
    struct rt_store_entry page[2];
    size_t n = 0;
    while (n < 2 && op->next < f->n_keys) {
        page[n] = (struct rt_store_entry){.key = f->keys[op->next++], .size = -1};
        n++;
    }
    bool last = op->next >= f->n_keys;
    int stop = op->page_cb(page, n, last, 0, NULL, op->ud);
    if (stop || last)
        uv_close((uv_handle_t *)&op->timer, op_free);
    else
        uv_timer_start(&op->timer, on_list_turn, 0, 0);
}

static int fake_list(struct rt_store *s,
                     const char *prefix,
                     size_t page_size,
                     unsigned flags,
                     rt_store_page_fn *cb,
                     void *ud)
{
    struct fake *f = (struct fake *)s;
    (void)prefix;
    (void)page_size;
    (void)flags;
    if (f->end_injection_at_list) {
        /* The shortage was transient: over by now. Note whether it struck before. */
        void *probe = rt_malloc(1);
        f->reached_before_list = probe == NULL;
        rt_alloc_fail_after(0);
        rt_free(probe);
    }
    struct fake_op *op = rt_calloc(1, sizeof(*op));
    if (!op)
        return RT_ENOMEM;
    op->f = f;
    op->page_cb = cb;
    op->ud = ud;
    uv_timer_init(f->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, on_list_turn, 0, 0);
    return 0;
}

static void on_get_turn(uv_timer_t *t)
{
    struct fake_op *op = t->data;
    struct rt_error err;
    rt_error_clear(&err);
    int status = RT_ENOTFOUND;
    if (op->found)
        status = rt_buf_append(op->body, op->f->manifest_text, strlen(op->f->manifest_text));
    if (status)
        rt_error_set(&err, status, "get: %s", rt_strerror(status));
    op->done_cb(status, status ? &err : NULL, op->ud);
    uv_close((uv_handle_t *)&op->timer, op_free);
}

static int
fake_get(struct rt_store *s, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud)
{
    struct fake *f = (struct fake *)s;
    struct fake_op *op = rt_calloc(1, sizeof(*op));
    if (!op)
        return RT_ENOMEM;
    op->f = f;
    op->done_cb = cb;
    op->ud = ud;
    op->body = body;
    op->found = f->manifest_key && strcmp(key, f->manifest_key) == 0;
    uv_timer_init(f->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, on_get_turn, 0, 0);
    return 0;
}

static const struct rt_store_ops fake_ops = {.name = "fake", .list = fake_list, .get = fake_get};

#define LAB "images_labeled_by_folder/"
/* v1 was trained on a b c, the last attempt on a b c d; c has since been deleted. Counted by key,
 * 4 of the 6 images are untrained (d e f g) and 3 are new since the attempt (e f g); the old
 * count rule (images minus manifest lines) would say 3 and 2. */
static const char *const trained_keys[] = {LAB "cat/a.jpg", LAB "cat/b.jpg", LAB "dog/c.png",
                                           LAB "dog/d.jpeg"};
static const char *const store_keys[] = {LAB "cat/a.jpg", LAB "cat/b.jpg",  LAB "dog/d.jpeg",
                                         LAB "cat/e.jpg", LAB "readme.txt", LAB "bird/f.PNG",
                                         LAB "dog/g.jpg"};

struct census_result {
    int calls;
    int status;
    char msg[512];
    int64_t images, untrained, new_since_attempt, deployed_images, attempt_images;
    size_t labels, manifest_len, keys;
};

static void on_census(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct census_result *r = ud;
    r->calls++;
    r->status = status;
    if (status) {
        RT_ASSERT(err != NULL && c == NULL);
        rt_strlcpy(r->msg, err->msg, sizeof(r->msg));
        return;
    }
    r->images = c->images;
    r->untrained = c->untrained;
    r->new_since_attempt = c->new_since_attempt;
    r->deployed_images = c->deployed_images;
    r->attempt_images = c->attempt_images;
    r->labels = c->labels.n;
    r->manifest_len = c->manifest.len;
    r->keys = c->keys.n;
}

static bool same_census(const struct census_result *a, const struct census_result *b)
{
    return a->images == b->images && a->untrained == b->untrained &&
           a->new_since_attempt == b->new_since_attempt &&
           a->deployed_images == b->deployed_images && a->attempt_images == b->attempt_images &&
           a->labels == b->labels && a->manifest_len == b->manifest_len && a->keys == b->keys;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Records a key set of the first n trained keys for exec (sorted hashes). */
static void add_keyset(struct rt_jbatch *b, const char *exec, size_t n)
{
    uint64_t h[8];
    for (size_t i = 0; i < n; i++)
        h[i] = rt_hash64(trained_keys[i], strlen(trained_keys[i]));
    qsort(h, n, sizeof(h[0]), cmp_u64);
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, exec, h, n, (int64_t)n));
}

/* A journal where v1 (execution tr-1, keys a b c) is deployed and tr-2 (keys a b c d) was the
 * last attempt; with legacy, tr-1 has no key set and its manifest is in the store instead
 * (a journal from before key sets). */
static void census_fixture(struct wf *w, struct fake *f, bool legacy, struct rt_buf *manifest)
{
    static const char yaml[] = "data_dir: data\nstore: { driver: local, root: bucket }\n";
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_config_load_string(yaml, sizeof(yaml) - 1, "t.yaml", w->dir, &w->cfg, &err));
    RT_ASSERT_STR_EQ(w->cfg->store.prefixes.labeled, LAB);
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_journal_model m = {.f1 = 0.9, .images = 3, .created_ms = 1};
    rt_strlcpy(m.version, "v1", sizeof(m.version));
    rt_strlcpy(m.exec_id, "tr-1", sizeof(m.exec_id));
    rt_strlcpy(m.status, "RUNNING", sizeof(m.status));
    RT_ASSERT_OK(rt_jbatch_model_put(b, &m));
    RT_ASSERT_OK(rt_jbatch_model_set_active(b, "v1", 2));
    if (!legacy)
        add_keyset(b, "tr-1", 3);
    add_keyset(b, "tr-2", 4);
    RT_ASSERT_OK(rt_jbatch_state_set(b, RT_STATE_LAST_ATTEMPT_EXEC, "tr-2"));
    RT_ASSERT_OK(rt_jbatch_state_set(b, RT_STATE_LAST_ATTEMPTED, "4"));
    RT_ASSERT_OK(rt_journal_apply(w->j, b, &err));
    rt_jbatch_free(b);

    memset(f, 0, sizeof(*f));
    f->base.ops = &fake_ops;
    f->base.bucket_name = "local";
    f->loop = &w->loop;
    f->keys = store_keys;
    f->n_keys = sizeof(store_keys) / sizeof(store_keys[0]);
    rt_buf_init(manifest, 1 << 20);
    if (legacy) {
        for (size_t i = 0; i < 3; i++) {
            const char *label = strstr(trained_keys[i], "cat/") ? "cat" : "dog";
            struct rt_manifest_line ml = {.bucket = "local",
                                          .key = trained_keys[i],
                                          .label = label,
                                          .class_index = 0,
                                          .creation_date = "2026-01-01T00:00:00Z",
                                          .job_name = "tr-1"};
            RT_ASSERT_OK(rt_manifest_append(manifest, "retraind-label", &ml, &err));
        }
        f->manifest_key = "manifests/tr-1.manifest";
        f->manifest_text = manifest->data;
    }
}

/* Runs one census; returns its start code and fills r (calls stays 0 when start failed). */
static int census_run(struct wf *w, struct fake *f, struct census_result *r)
{
    memset(r, 0, sizeof(*r));
    struct rt_census_opts o = {.store = &f->base,
                               .journal = w->j,
                               .cfg = w->cfg,
                               .write_manifest = true,
                               .job_name = "tr-3"};
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_census_start(&o, on_census, r, &err);
    RT_ASSERT_INT_EQ(r->calls, 0); /* never inside the start call */
    if (rc) {
        RT_ASSERT(err.msg[0] != '\0');
        rt_strlcpy(r->msg, err.msg, sizeof(r->msg));
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return rc;
}

static void census_torture(bool legacy, bool transient, bool warm)
{
    struct wf w;
    wf_open(&w, legacy ? "census-legacy" : "census", false);
    struct fake f;
    struct rt_buf manifest;
    census_fixture(&w, &f, legacy, &manifest);
    struct census_result ref;
    RT_ASSERT_OK(census_run(&w, &f, &ref));
    RT_ASSERT_INT_EQ(ref.calls, 1);
    RT_ASSERT_INT_EQ(ref.status, 0);
    RT_ASSERT_INT_EQ(ref.images, 6);
    RT_ASSERT_INT_EQ(ref.untrained, 4);         /* d, e, f, g: by key, not by count */
    RT_ASSERT_INT_EQ(ref.new_since_attempt, 3); /* e, f, g */
    RT_ASSERT_INT_EQ(ref.keys, 6);
    f.end_injection_at_list = transient;
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct census_result r;
        if (warm) { /* the same census without injection first, as in a working daemon */
            f.end_injection_at_list = false;
            RT_ASSERT_OK(census_run(&w, &f, &r));
            RT_ASSERT(r.calls == 1 && r.status == 0 && same_census(&r, &ref));
            f.end_injection_at_list = transient;
        }
        f.reached_before_list = false;
        rt_alloc_fail_after((unsigned long)n);
        int rc = census_run(&w, &f, &r);
        reached = inject_end() || f.reached_before_list;
        if (rc) {
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: census start failed with %s: %s", n, rt_err_name(rc), r.msg);
            RT_ASSERT_INT_EQ(r.calls, 0); /* an error from start: no callback, ever */
            failures++;
        } else {
            RT_ASSERT_INT_EQ(r.calls, 1); /* started: exactly one callback */
            if (r.status) {
                if (r.status != RT_ENOMEM)
                    RT_FAIL("n=%d: census failed with %s: %s", n, rt_err_name(r.status), r.msg);
                failures++;
            } else if (!same_census(&r, &ref)) {
                RT_FAIL("n=%d: the census succeeded with other counts: images %" PRId64
                        " untrained %" PRId64 " new_since_attempt %" PRId64 " (want %" PRId64
                        " %" PRId64 " %" PRId64 ")",
                        n, r.images, r.untrained, r.new_since_attempt, ref.images, ref.untrained,
                        ref.new_since_attempt);
            }
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 3);
    rt_buf_cleanup(&manifest);
    wf_close(&w);
}

RT_TEST(census_keysets_under_injection)
{
    census_torture(false, false, false);
    census_torture(false, false, true);
}

RT_TEST(census_keysets_transient)
{
    census_torture(false, true, false);
    census_torture(false, true, true);
}

RT_TEST(census_legacy_manifest_under_injection)
{
    census_torture(true, false, false);
    census_torture(true, false, true);
}

RT_TEST(census_legacy_manifest_transient)
{
    census_torture(true, true, false);
    census_torture(true, true, true);
}

/* ---- the census over a real local store ---- */

static void touch(const char *root, const char *key)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root, key);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    RT_ASSERT_OK(rt_mkdir_p(path, 0700));
    *slash = '/';
    FILE *f = fopen(path, "w");
    RT_ASSERT(f != NULL);
    fputs("x", f);
    fclose(f);
}

static void store_closed(void *ud)
{
    *(bool *)ud = true;
}

RT_TEST(census_local_store_under_injection)
{
    /* The local store lists on the thread pool, one page job after the other: its allocations
     * (the lister, a page, the walk's names) meet the injection too. */
    struct wf w;
    wf_open(&w, "census-local", false);
    struct fake unused;
    struct rt_buf manifest;
    census_fixture(&w, &unused, false, &manifest);
    char root[600];
    snprintf(root, sizeof(root), "%s/bucket", w.dir);
    for (size_t i = 0; i < sizeof(store_keys) / sizeof(store_keys[0]); i++)
        touch(root, store_keys[i]);
    struct rt_store_local_opts so = {.root = root};
    struct rt_store *s = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_store_local_new(&w.loop, &so, &s, &err));
    struct rt_census_opts o = {
        .store = s, .journal = w.j, .cfg = w.cfg, .write_manifest = true, .job_name = "tr-3"};
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct census_result r;
        memset(&r, 0, sizeof(r));
        rt_error_clear(&err);
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_census_start(&o, on_census, &r, &err);
        RT_ASSERT_INT_EQ(r.calls, 0);
        uv_run(&w.loop, UV_RUN_DEFAULT);
        reached = inject_end();
        if (rc) {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT_INT_EQ(r.calls, 0);
            failures++;
        } else {
            RT_ASSERT_INT_EQ(r.calls, 1);
            if (r.status) {
                if (r.status != RT_ENOMEM)
                    RT_FAIL("n=%d: census failed with %s: %s", n, rt_err_name(r.status), r.msg);
                failures++;
            } else {
                RT_ASSERT_INT_EQ(r.images, 6);
                RT_ASSERT_INT_EQ(r.untrained, 4);
                RT_ASSERT_INT_EQ(r.new_since_attempt, 3);
                RT_ASSERT_INT_EQ(r.keys, 6);
            }
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 3);
    bool closed = false;
    s->ops->close(s, store_closed, &closed);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    RT_ASSERT(closed);
    rt_buf_cleanup(&manifest);
    wf_close(&w);
}
