/*
 * test_journal_writer.c - write batches, the writer thread with group commit, the outbox, manifest
 * key sets, reserved execution ids, and the migration from schema 1.
 */
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/error.h"
#include "retraind/journal.h"
#include "rt_test.h"

static const char *data_dir(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", rt_test_tmpdir(), name);
    return path;
}

static struct rt_journal *open_rw(const char *dir)
{
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(dir, RT_JOURNAL_READWRITE, &j, &err);
    if (rc)
        RT_FAIL("open %s: %s (%s)", dir, err.msg, rt_err_name(rc));
    return j;
}

static struct rt_jbatch *batch(void)
{
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    return b;
}

/* ---- batches applied synchronously ---- */

RT_TEST(apply_is_all_or_nothing)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_exec_create(b, "tr-1", "training", "CHECK", NULL, "{}", 10));
    RT_ASSERT_OK(rt_jbatch_exec_advance(b, "tr-1", "{\"a\":1}", NULL, "MANIFEST", false, "{}", 20));
    RT_ASSERT_OK(rt_jbatch_state_set(b, "k", "v"));
    RT_ASSERT_INT_EQ(rt_jbatch_count(b), 3);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);

    /* A batch whose second write fails (advance of an unknown execution) writes nothing. */
    b = batch();
    RT_ASSERT_OK(rt_jbatch_state_set(b, "k", "changed"));
    RT_ASSERT_OK(rt_jbatch_exec_advance(b, "nope", NULL, NULL, "X", false, NULL, 30));
    rt_error_clear(&err);
    RT_ASSERT(rt_journal_apply(j, b, &err) != 0);
    RT_ASSERT_CONTAINS(err.msg, "exec_advance");
    rt_jbatch_free(b);
    char v[16];
    RT_ASSERT_OK(rt_journal_state_get(j, "k", v, sizeof(v)));
    RT_ASSERT_STR_EQ(v, "v");
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(j, "tr-1", &e));
    RT_ASSERT_STR_EQ(e.state, "MANIFEST");
    RT_ASSERT_INT_EQ(e.checks, 1);
    rt_journal_exec_cleanup(&e);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(checked_counts_and_latest)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_exec_create(b, "tr-1", "training", "CHECK", NULL, "{}", 10));
    RT_ASSERT_OK(
        rt_jbatch_exec_advance(b, "tr-1", "{\"images\":3}", NULL, "NOT_MET", true, NULL, 11));
    RT_ASSERT_OK(rt_jbatch_exec_create(b, "pc-2", "parameter", "APPLY", NULL, "{}", 12));
    RT_ASSERT_OK(rt_jbatch_exec_checked(b, "tr-1", 50));
    RT_ASSERT_OK(rt_jbatch_exec_checked(b, "tr-1", 60));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_latest(j, "training", &e));
    RT_ASSERT_STR_EQ(e.id, "tr-1");
    RT_ASSERT_INT_EQ(e.checks, 3);
    RT_ASSERT_INT_EQ(e.last_checked_ms, 60);
    rt_journal_exec_cleanup(&e);
    RT_ASSERT_INT_EQ(rt_journal_exec_latest(j, "detection", &e), RT_ENOTFOUND);
    char *out = NULL;
    RT_ASSERT_OK(rt_journal_step_output(j, "tr-1", "CHECK", &out));
    RT_ASSERT_STR_EQ(out, "{\"images\":3}");
    rt_free(out);
    RT_ASSERT_OK(rt_journal_step_output(j, "tr-1", NULL, &out));
    RT_ASSERT(out == NULL); /* the terminal step has no output */
    RT_ASSERT_INT_EQ(rt_journal_step_output(j, "nope", "CHECK", &out), RT_ENOTFOUND);
    rt_journal_close(j);
}

RT_TEST(reserved_ids_unique_and_counter_never_goes_back)
{
    const char *dir = data_dir("x");
    struct rt_journal *j = open_rw(dir);
    char a[64], b2[64];
    struct rt_jbatch *ba = batch(), *bb = batch();
    RT_ASSERT_OK(rt_journal_exec_reserve_id(j, "tr", 1000, a, sizeof(a)));
    RT_ASSERT_OK(rt_journal_exec_reserve_id(j, "tr", 1000, b2, sizeof(b2)));
    RT_ASSERT(strcmp(a, b2) < 0);
    RT_ASSERT_OK(rt_jbatch_exec_create(ba, a, "training", "CHECK", NULL, "{}", 1000));
    RT_ASSERT_OK(rt_jbatch_exec_create(bb, b2, "training", "CHECK", NULL, "{}", 1000));
    struct rt_error err;
    /* Committed in the other order: the stored counter keeps the larger one. */
    RT_ASSERT_OK(rt_journal_apply(j, bb, &err));
    RT_ASSERT_OK(rt_journal_apply(j, ba, &err));
    rt_jbatch_free(ba);
    rt_jbatch_free(bb);
    rt_journal_close(j);
    j = open_rw(dir);
    char c[64];
    RT_ASSERT_OK(rt_journal_exec_reserve_id(j, "tr", 1000, c, sizeof(c)));
    RT_ASSERT(strcmp(b2, c) < 0);
    RT_ASSERT_CONTAINS(c, "-0003");
    /* Reserved but never written: after a reopen the same number may come again, and the
     * synchronous generator shares the counter. */
    rt_journal_close(j);
    j = open_rw(dir);
    RT_ASSERT_OK(rt_journal_exec_new_id(j, "tr", 1000, c, sizeof(c)));
    RT_ASSERT_CONTAINS(c, "-0003");
    rt_journal_close(j);
}

struct outbox_seen {
    int n;
    int64_t id;
    char delivered[32];
};

static int collect(const struct rt_journal_outbox *o, void *ud)
{
    struct outbox_seen *s = ud;
    s->n++;
    s->id = o->id;
    snprintf(s->delivered, sizeof(s->delivered), "%s", o->delivered);
    RT_ASSERT(o->event && o->event[0] == '{');
    RT_ASSERT_STR_EQ(o->kind, "training.deployed");
    RT_ASSERT_STR_EQ(o->exec_id, "tr-1");
    return 0;
}

RT_TEST(outbox_due_update_and_ids)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_INT_EQ(rt_journal_outbox_max_id(j), 0);
    RT_ASSERT_INT_EQ(rt_journal_outbox_next_due(j), 0);
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_outbox_add(b, 1, "tr-1", "training.deployed", "{\"v\":1}", 100));
    RT_ASSERT_OK(rt_jbatch_outbox_add(b, 2, NULL, "parameter.changed", "{\"v\":2}", 100));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    RT_ASSERT_INT_EQ(rt_journal_outbox_max_id(j), 2);
    RT_ASSERT_INT_EQ(rt_journal_outbox_next_due(j), 100);

    b = batch();
    RT_ASSERT_OK(rt_jbatch_outbox_update(b, 1, 1, 5000, 0, "0:log", "smtp: connection refused"));
    RT_ASSERT_OK(rt_jbatch_outbox_update(b, 2, 1, 0, 200, "0:log,1:smtp", NULL));
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    RT_ASSERT_INT_EQ(rt_journal_outbox_next_due(j), 5000);
    struct outbox_seen s = {0};
    RT_ASSERT_OK(rt_journal_outbox_due(j, 4999, 10, collect, &s));
    RT_ASSERT_INT_EQ(s.n, 0); /* not due yet; the sent one never again */
    RT_ASSERT_OK(rt_journal_outbox_due(j, 5000, 10, collect, &s));
    RT_ASSERT_INT_EQ(s.n, 1);
    RT_ASSERT_INT_EQ(s.id, 1);
    RT_ASSERT_STR_EQ(s.delivered, "0:log");
    rt_journal_close(j);
}

RT_TEST(manifest_keys_round_trip)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    uint64_t in[5000];
    for (size_t i = 0; i < 5000; i++)
        in[i] = i * 0x9e3779b97f4a7c15ULL;
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, "tr-1", in, 5000, 5003));
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, "tr-2", NULL, 0, 0));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    uint64_t *out = NULL;
    size_t n = 0;
    int64_t images = 0;
    RT_ASSERT_OK(rt_journal_manifest_keys_get(j, "tr-1", &out, &n, &images));
    RT_ASSERT_INT_EQ(n, 5000);
    RT_ASSERT_INT_EQ(images, 5003);
    RT_ASSERT(memcmp(in, out, sizeof(in)) == 0);
    rt_free(out);
    RT_ASSERT_OK(rt_journal_manifest_keys_get(j, "tr-2", &out, &n, &images));
    RT_ASSERT_INT_EQ(n, 0);
    RT_ASSERT(out == NULL);
    RT_ASSERT_INT_EQ(rt_journal_manifest_keys_get(j, "tr-3", &out, &n, &images), RT_ENOTFOUND);
    rt_journal_close(j);
}

RT_TEST(request_peek_does_not_take)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_request_add(j, "training", 1));
    RT_ASSERT_OK(rt_journal_request_add(j, "sampling", 2));
    int64_t id = 0;
    char kind[32];
    RT_ASSERT_OK(rt_journal_request_peek(j, 0, &id, kind, sizeof(kind)));
    RT_ASSERT_STR_EQ(kind, "training");
    int64_t first = id;
    RT_ASSERT_OK(rt_journal_request_peek(j, first, &id, kind, sizeof(kind)));
    RT_ASSERT_STR_EQ(kind, "sampling");
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_request_taken(b, first, 5));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    RT_ASSERT_OK(rt_journal_request_peek(j, 0, &id, kind, sizeof(kind)));
    RT_ASSERT_STR_EQ(kind, "sampling");
    RT_ASSERT_OK(rt_journal_param_set(j, "Minimum-F1-Score", "0.5", 1));
    RT_ASSERT_OK(rt_journal_param_delete(j, "Minimum-F1-Score"));
    RT_ASSERT_INT_EQ(rt_journal_param_get(j, "Minimum-F1-Score", kind, sizeof(kind)), RT_ENOTFOUND);
    rt_journal_close(j);
}

/* ---- the writer thread ---- */

struct wstate {
    int done, failed, order_errors, next_expected;
    int64_t ticks;
};

static void on_written(int status, const struct rt_error *err, void *ud)
{
    struct wstate *w = *(struct wstate **)ud;
    int idx = ((int *)ud)[sizeof(void *) / sizeof(int)];
    (void)err;
    if (status)
        w->failed++;
    else
        w->done++;
    if (idx != w->next_expected)
        w->order_errors++;
    w->next_expected++;
    rt_free(ud);
}

static void *tag(struct wstate *w, int idx)
{
    char *p = rt_malloc(sizeof(void *) + sizeof(int));
    memcpy(p, &w, sizeof(void *));
    memcpy(p + sizeof(void *), &idx, sizeof(int));
    return p;
}

static void closed_flag(void *ud)
{
    *(bool *)ud = true;
}

RT_TEST(writer_group_commits_and_delivers_in_order)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_writer_start(j, &loop, &err));
    /* The loop's connection reads only now. */
    RT_ASSERT_INT_EQ(rt_journal_state_set(j, "k", "v"), RT_EINVAL);
    struct wstate w = {0};
    for (int i = 0; i < 2000; i++) {
        struct rt_jbatch *b = batch();
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        RT_ASSERT_OK(rt_jbatch_state_set(b, key, "x"));
        RT_ASSERT_OK(rt_journal_submit(j, b, on_written, tag(&w, i)));
    }
    RT_ASSERT_INT_EQ(w.done, 0); /* never inside submit */
    RT_ASSERT_INT_EQ(rt_journal_writer_pending(j), 2000);
    while (w.done + w.failed < 2000)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(w.done, 2000);
    RT_ASSERT_INT_EQ(w.order_errors, 0);
    struct rt_journal_writer_stats st;
    rt_journal_writer_stats(j, &st);
    RT_ASSERT_INT_EQ(st.batches, 2000);
    /* Queued together, they share commits: far fewer fsyncs than batches. */
    RT_ASSERT(st.commits < 200);
    RT_ASSERT(st.max_group > 10);
    char v[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "k1999", v, sizeof(v))); /* visible to the reader */
    bool closed = false;
    rt_journal_writer_close(j, closed_flag, &closed);
    RT_ASSERT(!closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT(closed);
    RT_ASSERT_OK(rt_journal_state_set(j, "k", "v")); /* writes allowed again */
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(writer_bad_batch_fails_alone)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_writer_start(j, &loop, &err));
    struct wstate w = {0};
    for (int i = 0; i < 50; i++) {
        struct rt_jbatch *b = batch();
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        RT_ASSERT_OK(rt_jbatch_state_set(b, key, "x"));
        if (i == 25) /* advancing an execution that does not exist fails */
            RT_ASSERT_OK(rt_jbatch_exec_advance(b, "ghost", NULL, NULL, "X", false, NULL, 1));
        RT_ASSERT_OK(rt_journal_submit(j, b, on_written, tag(&w, i)));
    }
    bool closed = false;
    rt_journal_writer_close(j, closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT); /* close waits for every submitted batch */
    RT_ASSERT(closed);
    RT_ASSERT_INT_EQ(w.done, 49);
    RT_ASSERT_INT_EQ(w.failed, 1);
    RT_ASSERT_INT_EQ(w.order_errors, 0);
    char v[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "k24", v, sizeof(v)));
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "k25", v, sizeof(v)), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_state_get(j, "k26", v, sizeof(v)));
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

static void tick(uv_timer_t *t)
{
    struct wstate *w = t->data;
    w->ticks++;
}

/* Another process holds the write lock for a while: the writer waits, the loop does not. */
RT_TEST(writer_waits_for_a_lock_without_stalling_the_loop)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("x"));
    rt_journal_close(open_rw(dir));
    int ready[2];
    RT_ASSERT(pipe(ready) == 0);
    pid_t pid = fork();
    RT_ASSERT(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, RT_JOURNAL_FILE);
        sqlite3 *db = NULL;
        int ok = sqlite3_open(path, &db) == SQLITE_OK &&
                 sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
        if (write(ready[1], ok ? "1" : "0", 1) != 1)
            ok = 0;
        usleep(1500 * 1000); /* the lock held by "the CLI" */
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    char c = 0;
    RT_ASSERT(read(ready[0], &c, 1) == 1 && c == '1');
    close(ready[0]);

    struct rt_journal *j = open_rw(dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_writer_start(j, &loop, &err));
    struct wstate w = {0};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &w;
    uv_timer_start(&t, tick, 10, 10);
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_state_set(b, "after_lock", "1"));
    int64_t start = rt_mono_ms();
    RT_ASSERT_OK(rt_journal_submit(j, b, on_written, tag(&w, 0)));
    int64_t longest = 0, last = rt_mono_ms();
    while (w.done + w.failed == 0) {
        uv_run(&loop, UV_RUN_ONCE);
        int64_t now = rt_mono_ms();
        if (now - last > longest)
            longest = now - last;
        last = now;
    }
    RT_ASSERT_INT_EQ(w.done, 1);
    /* It waited for the lock (about 1.5 s) while the timer kept ticking every 10 ms. */
    RT_ASSERT(rt_mono_ms() - start >= 1000);
    RT_ASSERT(w.ticks >= 50);
    RT_ASSERT(longest < 500);
    uv_close((uv_handle_t *)&t, NULL);
    bool closed = false;
    rt_journal_writer_close(j, closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT(closed);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
    int status = 0;
    RT_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

RT_TEST(submit_without_writer_is_refused)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    struct wstate w = {0};
    void *t = tag(&w, 0);
    RT_ASSERT_INT_EQ(rt_journal_submit(j, batch(), on_written, t), RT_EINVAL);
    rt_free(t);
    RT_ASSERT_INT_EQ(w.done + w.failed, 0);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(close_without_writer_close_stops_the_thread)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_writer_start(j, &loop, &err));
    rt_journal_close(j); /* a bug in the owner: logged, and the thread still stops */
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- migration ---- */

RT_TEST(schema_1_journal_is_upgraded_keeping_its_rows)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("v1"));
    struct rt_journal *j = open_rw(dir);
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-old", "training", "CHECK", NULL, "{}", 5));
    rt_journal_close(j);
    /* Turn it back into what schema 1 looked like. */
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, RT_JOURNAL_FILE);
    sqlite3 *db = NULL;
    RT_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    RT_ASSERT(sqlite3_exec(db,
                           "DROP TABLE label_jobs;"
                           "DROP TABLE outbox; DROP TABLE manifest_keys;"
                           "DROP TABLE review_assignments; DROP TABLE review_answers;"
                           "DROP TABLE review_tasks;"
                           "ALTER TABLE executions DROP COLUMN checks;"
                           "ALTER TABLE executions DROP COLUMN last_checked_at;"
                           "PRAGMA user_version = 1",
                           NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    j = open_rw(dir);
    RT_ASSERT_INT_EQ(rt_journal_schema_version(j), 4);
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(j, "tr-old", &e));
    RT_ASSERT_INT_EQ(e.checks, 1);
    RT_ASSERT_INT_EQ(e.last_checked_ms, 0);
    rt_journal_exec_cleanup(&e);
    RT_ASSERT_INT_EQ(rt_journal_outbox_max_id(j), 0);
    rt_journal_close(j);
}
