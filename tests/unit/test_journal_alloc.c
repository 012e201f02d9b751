/*
 * test_journal_alloc.c - allocation-failure torture of the journal (issue #7 section 5), in the
 * manner of curl's -t: an operation runs with allocation n failing (rt_alloc_fail_after: the n-th
 * and every later one), for n = 1, 2, 3, ... until a run no longer reaches the injection. At
 * every n it must fail cleanly (an error code, never a crash), leave no half-written state (a
 * fresh read through another connection sees all of a batch or none of it, and the write lock
 * is free again) and leak nothing (rt_alloc_live() back where it was; the ASan build checks the
 * rest). The SQLite-backed cases run a cold pass (each round right after the previous round's
 * failure) and a warm one (each round after the same call without injection).
 *
 * SQLite allocates through rt_malloc in this program (SQLITE_CONFIG_MALLOC, installed before
 * SQLite initialises), so the injection reaches inside SQLite's statements, transactions and
 * commits too, not only the journal's own copies. SQLite's caches keep memory between calls, so
 * the leak check counts only the project's allocations: rt_alloc_live() minus what SQLite holds.
 * While the writer thread runs, its SQLite allocations take part in the count: the loop thread
 * is idle in uv_run while the thread applies a batch, and whichever thread meets the injection,
 * the failure must come back through the batch's completion.
 */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/hash.h"
#include "retraind/journal.h"
#include "rt_test.h"

#include "sqlite_alloc_fixture.h"

/* The last n any torture loop may reach: far above what any operation here allocates. */
#define N_MAX 20000

/* ---- fixtures ---- */

static const char *case_dir(const char *name)
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
    rt_journal_set_busy_timeout(j, 2000);
    return j;
}

static struct rt_jbatch *batch(void)
{
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    return b;
}

static void apply(struct rt_journal *j, struct rt_jbatch *b)
{
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_apply(j, b, &err);
    if (rc)
        RT_FAIL("apply: %s (%s)", err.msg, rt_err_name(rc));
    rt_jbatch_free(b);
}

/* Row counts of every table a batch writes, read through a connection of our own (not the
 * journal's, whose cache might hide a half-done transaction). */
struct counts {
    long long executions, steps, state, params, models, active, manifests, outbox;
};

static struct counts fresh_counts(const char *dir)
{
    atomic_store(&sq_route, 0); /* the check itself must not meet the injection */
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, RT_JOURNAL_FILE);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        RT_FAIL("fresh open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM steps), "
                      "(SELECT count(*) FROM system_state), (SELECT count(*) FROM params), "
                      "(SELECT count(*) FROM models), "
                      "(SELECT count(*) FROM models WHERE active = 1), "
                      "(SELECT count(*) FROM manifest_keys), (SELECT count(*) FROM outbox)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        RT_FAIL("fresh read: %s", sqlite3_errmsg(db));
    struct counts c = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                       sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
                       sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7)};
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* No transaction was left open: the write lock is free at once. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        RT_FAIL("fresh open rw %s", path);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE; ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        RT_FAIL("the write lock is held after the call: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    atomic_store(&sq_route, 1);
    return c;
}

static bool counts_eq(struct counts a, struct counts b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static const uint64_t hashes3[] = {11, 22, 33};

/* A batch of eight writes to six tables, every one of them visible in struct counts. */
static int fill_big_batch(struct rt_jbatch *b, const char *id, int64_t outbox_id)
{
    struct rt_journal_model m = {.f1 = 0.9, .images = 3, .created_ms = 5};
    snprintf(m.version, sizeof(m.version), "v-%s", id);
    rt_strlcpy(m.exec_id, id, sizeof(m.exec_id));
    rt_strlcpy(m.status, "RUNNING", sizeof(m.status));
    char key[80];
    snprintf(key, sizeof(key), "k-%s", id);
    int rc = rt_jbatch_exec_create(b, id, "training", "CHECK", "{\"reason\":\"t\"}", "{}", 10);
    if (!rc)
        rc = rt_jbatch_exec_advance(b, id, "{\"images\":3}", NULL, "MANIFEST", false,
                                    "{\"images\":3}", 20);
    if (!rc)
        rc = rt_jbatch_state_set(b, key, "some value");
    if (!rc)
        rc = rt_jbatch_param_set(b, key, "7", 30);
    if (!rc)
        rc = rt_jbatch_model_put(b, &m);
    if (!rc)
        rc = rt_jbatch_model_set_active(b, m.version, 40);
    if (!rc)
        rc = rt_jbatch_manifest_keys(b, id, hashes3, 3, 3);
    if (!rc)
        rc = rt_jbatch_outbox_add(b, outbox_id, id, "training.started", "{\"kind\":\"x\"}", 50);
    return rc;
}

/* What a committed fill_big_batch adds to the counts (a model activated replaces the active
 * flag of the previous one, so "active" stays 1). */
static struct counts plus_big(struct counts c)
{
    c.executions += 1;
    c.steps += 2;
    c.state += 1;
    c.params += 1;
    c.models += 1;
    c.active = 1;
    c.manifests += 1;
    c.outbox += 1;
    return c;
}

/* The journal's connection is healthy: no transaction left open, writes work, and another
 * connection can take the write lock. */
static void assert_journal_usable(struct rt_journal *j, const char *dir)
{
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_state_set(b, "usable", "yes"));
    apply(j, b);
    struct rt_journal *other = open_rw(dir);
    rt_journal_set_busy_timeout(other, 200);
    RT_ASSERT_OK(rt_journal_state_set(other, "usable", "still"));
    rt_journal_close(other);
    char v[16];
    RT_ASSERT_OK(rt_journal_state_get(j, "usable", v, sizeof(v)));
    RT_ASSERT_STR_EQ(v, "still");
}

/* ---- building batches ---- */

RT_TEST(batch_add_failure_keeps_batch_usable)
{
    const char *dir = case_dir("build");
    struct rt_journal *j = open_rw(dir);
    long live = live_own();
    bool reached = true;
    int n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct counts before = fresh_counts(dir);
        char id[32];
        snprintf(id, sizeof(id), "tr-%d", n);
        struct rt_jbatch *b = NULL;
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_jbatch_new(&b);
        if (rc) {
            reached = inject_end();
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT(b == NULL);
            RT_ASSERT(reached);
            RT_ASSERT_INT_EQ(live_own(), live);
            continue;
        }
        rc = fill_big_batch(b, id, n);
        size_t kept = rt_jbatch_count(b);
        reached = inject_end();
        if (rc) {
            /* The add that failed added nothing; the ones before it are intact. */
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT(kept < 8);
            /* Still usable: a fresh batch built the same way, without injection, commits. */
            rt_jbatch_free(b);
            RT_ASSERT_INT_EQ(live_own(), live);
            b = batch();
            RT_ASSERT_OK(fill_big_batch(b, id, n));
        }
        RT_ASSERT_INT_EQ(rt_jbatch_count(b), 8);
        apply(j, b);
        RT_ASSERT(counts_eq(fresh_counts(dir), plus_big(before)));
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(n > 8); /* every add met the injection once */
    rt_journal_close(j);
}

RT_TEST(batch_failed_add_then_more_adds)
{
    /* A batch whose add failed can take further adds and be freed or applied: the failed add is
     * simply absent. */
    const char *dir = case_dir("more");
    struct rt_journal *j = open_rw(dir);
    long live = live_own();
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_state_set(b, "a", "1"));
    rt_alloc_fail_after(1);
    int rc = rt_jbatch_state_set(b, "b", "2");
    int rc2 = rt_jbatch_manifest_keys(b, "tr-x", hashes3, 3, 3);
    int rc3 = rt_jbatch_request_taken(b, 1, 2);
    int rc4 = rt_jbatch_outbox_update(b, 1, 1, 2, 0, NULL, "e");
    rt_alloc_fail_after(0);
    RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
    RT_ASSERT_INT_EQ(rc2, RT_ENOMEM);
    RT_ASSERT_INT_EQ(rc3, RT_ENOMEM);
    RT_ASSERT_INT_EQ(rc4, RT_ENOMEM);
    RT_ASSERT_INT_EQ(rt_jbatch_count(b), 1);
    RT_ASSERT_OK(rt_jbatch_state_set(b, "c", "3"));
    RT_ASSERT_INT_EQ(rt_jbatch_count(b), 2);
    apply(j, b);
    char v[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "a", v, sizeof(v)));
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "b", v, sizeof(v)), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_state_get(j, "c", v, sizeof(v)));
    RT_ASSERT_INT_EQ(live_own(), live);
    rt_journal_close(j);
}

RT_TEST(reserve_id_failure_consumes_nothing)
{
    /* A reservation that cannot read the stored counter hands out no id and burns no number. */
    const char *dir = case_dir("reserve");
    struct rt_journal *j = open_rw(dir);
    long live = live_own();
    bool reached = true;
    int n;
    for (n = 1; n < N_MAX && reached; n++) {
        char id[64] = "";
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_exec_reserve_id(j, "tr", 1000, id, sizeof(id));
        reached = inject_end();
        if (rc) {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT_STR_EQ(id, "");
        } else {
            RT_ASSERT_STR_EQ(id, "tr-19700101T000001Z-0001");
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    /* The next id follows the one handed out, whatever failed before. */
    char id[64];
    RT_ASSERT_OK(rt_journal_exec_reserve_id(j, "tr", 1000, id, sizeof(id)));
    RT_ASSERT_STR_EQ(id, "tr-19700101T000001Z-0002");
    rt_journal_close(j);
}

/* ---- applying a batch synchronously ---- */

/* Applies a big batch without injection: every round starts from the caches a working journal
 * has (a failure makes SQLite drop some, and the next round would measure a colder path). */
static void warm_apply(struct rt_journal *j, int n)
{
    char id[32];
    snprintf(id, sizeof(id), "w-%d", n);
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(fill_big_batch(b, id, 100000 + n));
    apply(j, b);
}

static void apply_all_or_nothing_under_injection_pass(bool warm)
{
    const char *dir = case_dir(warm ? "apply-warm" : "apply");
    struct rt_journal *j = open_rw(dir);
    /* Something there already, so "nothing written" is not the same as "empty". */
    struct rt_jbatch *b0 = batch();
    RT_ASSERT_OK(fill_big_batch(b0, "tr-0", 1));
    apply(j, b0);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        /* Each round writes its own execution, so a round that succeeds despite a failure
         * SQLite absorbed does not end the search. */
        char id[32];
        snprintf(id, sizeof(id), "tr-%d", n);
        if (warm)
            warm_apply(j, n);
        struct counts before = fresh_counts(dir);
        struct rt_jbatch *b = batch();
        RT_ASSERT_OK(fill_big_batch(b, id, n + 1));
        struct rt_error err;
        rt_error_clear(&err);
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_apply(j, b, &err);
        reached = inject_end();
        rt_jbatch_free(b);
        struct counts now = fresh_counts(dir);
        struct rt_journal_exec e;
        int grc = rt_journal_exec_get(j, id, &e);
        if (rc) {
            failures++;
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: apply failed with %s, not RT_ENOMEM: %s", n, rt_err_name(rc),
                        err.msg);
            RT_ASSERT(err.msg[0] != '\0');
            RT_ASSERT(counts_eq(now, before)); /* nothing of the batch */
            RT_ASSERT_INT_EQ(grc, RT_ENOTFOUND);
        } else {
            RT_ASSERT(counts_eq(now, plus_big(before))); /* all of it */
            RT_ASSERT_OK(grc);
            RT_ASSERT_STR_EQ(e.state, "MANIFEST");
            RT_ASSERT_STR_EQ(e.context, "{\"images\":3}");
            rt_journal_exec_cleanup(&e);
            struct rt_journal_model m;
            RT_ASSERT_OK(rt_journal_model_get_active(j, &m));
            RT_ASSERT_STR_EQ(m.exec_id, id);
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 10); /* the injection reached inside SQLite */
    assert_journal_usable(j, dir);
    RT_ASSERT_INT_EQ(live_own(), live);
    rt_journal_close(j);
}

RT_TEST(apply_all_or_nothing_under_injection)
{
    apply_all_or_nothing_under_injection_pass(
        false); /* cold: each round after the last one's failure */
    apply_all_or_nothing_under_injection_pass(
        true); /* warm: each round after the same call without injection */
}

static void sync_create_under_injection_pass(bool warm)
{
    /* The synchronous calls the CLI makes: a create (execution row and first step in one
     * transaction) fails with RT_ENOMEM and writes nothing, or writes both. */
    const char *dir = case_dir(warm ? "create-warm" : "create");
    struct rt_journal *j = open_rw(dir);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        char id[32];
        snprintf(id, sizeof(id), "w-%d", n);
        if (warm)
            RT_ASSERT_OK(rt_journal_exec_create(j, id, "parameter", "APPLY", "{\"a\":1}", "{}", 5));
        struct counts before = fresh_counts(dir);
        snprintf(id, sizeof(id), "pc-%d", n);
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_exec_create(j, id, "parameter", "APPLY", "{\"a\":1}", "{}", 5);
        reached = inject_end();
        struct counts now = fresh_counts(dir);
        if (rc) {
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: create failed with %s, not RT_ENOMEM", n, rt_err_name(rc));
            RT_ASSERT(counts_eq(now, before));
            failures++;
        } else {
            RT_ASSERT_INT_EQ(now.executions, before.executions + 1);
            RT_ASSERT_INT_EQ(now.steps, before.steps + 1);
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 3);
    assert_journal_usable(j, dir);
    rt_journal_close(j);
}

RT_TEST(sync_create_under_injection)
{
    sync_create_under_injection_pass(false); /* cold: each round after the last one's failure */
    sync_create_under_injection_pass(
        true); /* warm: each round after the same call without injection */
}

static void sync_advance_under_injection_pass(bool warm)
{
    /* An advance (close the step, open the next, update the execution) is all or nothing. */
    const char *dir = case_dir(warm ? "advance-warm" : "advance");
    struct rt_journal *j = open_rw(dir);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        char id[32];
        snprintf(id, sizeof(id), "pc-%d", n);
        RT_ASSERT_OK(rt_journal_exec_create(j, id, "parameter", "APPLY", NULL, "{}", 5));
        /* The same call once without injection first, so every round starts from the caches
         * a working journal has (a failure makes SQLite drop some). */
        char wid[32];
        snprintf(wid, sizeof(wid), "w-%d", n);
        if (warm) {
            RT_ASSERT_OK(rt_journal_exec_create(j, wid, "parameter", "APPLY", NULL, "{}", 5));
            RT_ASSERT_OK(rt_journal_exec_advance(j, wid, "{\"o\":1}", NULL, "DONE", true, "{}", 6));
        }
        struct counts before = fresh_counts(dir);
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_exec_advance(j, id, "{\"o\":1}", NULL, "DONE", true, "{}", 6);
        reached = inject_end();
        struct counts now = fresh_counts(dir);
        struct rt_journal_exec e;
        RT_ASSERT_OK(rt_journal_exec_get(j, id, &e));
        if (rc) {
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: advance failed with %s, not RT_ENOMEM", n, rt_err_name(rc));
            RT_ASSERT(counts_eq(now, before));
            RT_ASSERT_STR_EQ(e.state, "APPLY");
            RT_ASSERT_INT_EQ(e.finished_ms, 0);
            failures++;
        } else {
            RT_ASSERT_INT_EQ(now.steps, before.steps + 1);
            RT_ASSERT_STR_EQ(e.state, "DONE");
            RT_ASSERT_INT_EQ(e.finished_ms, 6);
        }
        rt_journal_exec_cleanup(&e);
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures > 3);
    assert_journal_usable(j, dir);
    rt_journal_close(j);
}

RT_TEST(sync_advance_under_injection)
{
    sync_advance_under_injection_pass(false); /* cold: each round after the last one's failure */
    sync_advance_under_injection_pass(
        true); /* warm: each round after the same call without injection */
}

/* ---- reads that allocate ---- */

/* A journal with three executions (with error, input and context), steps with output, two
 * notifications and a key set. */
static struct rt_journal *reads_fixture(const char *dir)
{
    struct rt_journal *j = open_rw(dir);
    struct rt_jbatch *b = batch();
    for (int i = 1; i <= 3; i++) {
        char id[16], in[32];
        snprintf(id, sizeof(id), "tr-%d", i);
        snprintf(in, sizeof(in), "{\"n\":%d}", i);
        RT_ASSERT_OK(rt_jbatch_exec_create(b, id, "training", "CHECK", in, "{}", 100 * i));
        RT_ASSERT_OK(rt_jbatch_exec_advance(b, id, "{\"out\":\"check output\"}", "an error",
                                            "FAILED", true, "{\"ctx\":true}", 100 * i + 1));
        RT_ASSERT_OK(rt_jbatch_outbox_add(b, i, id, "workflow.failed",
                                          "{\"kind\":\"workflow.failed\"}", 10));
    }
    RT_ASSERT_OK(rt_jbatch_outbox_update(b, 2, 1, 20, 0, "log", "smtp: refused"));
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, "tr-1", hashes3, 3, 3));
    apply(j, b);
    return j;
}

/* Runs read with the injection at n = 1, 2, ... until a run does not meet it. read returns the
 * call's code and checks its result when the code is 0; on an error it must be RT_ENOMEM and
 * read must have left nothing allocated. */
static void
torture_read(struct rt_journal *j, int (*read)(struct rt_journal *j, int *calls), bool warm)
{
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        int calls = 0;
        if (warm)
            RT_ASSERT_OK(read(j, &calls)); /* as a working journal is */
        calls = 0;
        rt_alloc_fail_after((unsigned long)n);
        int rc = read(j, &calls);
        reached = inject_end();
        if (rc) {
            if (rc != RT_ENOMEM)
                RT_FAIL("n=%d: read failed with %s, not RT_ENOMEM", n, rt_err_name(rc));
            failures++;
        }
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures >= 1);
}

static int read_get(struct rt_journal *j, int *calls)
{
    (void)calls;
    struct rt_journal_exec e;
    int rc = rt_journal_exec_get(j, "tr-2", &e);
    if (rc) {
        /* Failed: nothing is owned by e. */
        RT_ASSERT(e.error == NULL && e.input == NULL && e.context == NULL);
        return rc;
    }
    RT_ASSERT_STR_EQ(e.state, "FAILED");
    RT_ASSERT_STR_EQ(e.error, "an error");
    RT_ASSERT_STR_EQ(e.input, "{\"n\":2}");
    RT_ASSERT_STR_EQ(e.context, "{\"ctx\":true}");
    rt_journal_exec_cleanup(&e);
    return 0;
}

static int list_cb(const struct rt_journal_exec *e, void *ud)
{
    int *calls = ud;
    (*calls)++;
    RT_ASSERT_STR_EQ(e->error, "an error");
    RT_ASSERT(e->input != NULL && e->context != NULL);
    return 0;
}

static int read_list(struct rt_journal *j, int *calls)
{
    struct rt_journal_exec_filter f = {.workflow = "training"};
    int rc = rt_journal_exec_list(j, &f, list_cb, calls);
    if (!rc)
        RT_ASSERT_INT_EQ(*calls, 3);
    else
        RT_ASSERT(*calls < 3);
    return rc;
}

static int latest_read(struct rt_journal *j, int *calls)
{
    (void)calls;
    struct rt_journal_exec e;
    int rc = rt_journal_exec_latest(j, "training", &e);
    if (rc) {
        RT_ASSERT(e.error == NULL && e.input == NULL && e.context == NULL);
        return rc;
    }
    RT_ASSERT_STR_EQ(e.id, "tr-3");
    RT_ASSERT_STR_EQ(e.input, "{\"n\":3}");
    rt_journal_exec_cleanup(&e);
    return 0;
}

static int step_cb(const struct rt_journal_step *s, void *ud)
{
    int *calls = ud;
    (*calls)++;
    if (s->seq == 1)
        RT_ASSERT_STR_EQ(s->output, "{\"out\":\"check output\"}");
    return 0;
}

static int read_steps(struct rt_journal *j, int *calls)
{
    int rc = rt_journal_step_list(j, "tr-1", step_cb, calls);
    if (!rc)
        RT_ASSERT_INT_EQ(*calls, 2);
    return rc;
}

static int outbox_cb(const struct rt_journal_outbox *o, void *ud)
{
    int *calls = ud;
    (*calls)++;
    RT_ASSERT_STR_EQ(o->event, "{\"kind\":\"workflow.failed\"}");
    RT_ASSERT(o->delivered != NULL);
    if (o->id == 2)
        RT_ASSERT_STR_EQ(o->delivered, "log");
    return 0;
}

static int read_outbox(struct rt_journal *j, int *calls)
{
    int rc = rt_journal_outbox_due(j, 1000, 10, outbox_cb, calls);
    if (!rc)
        RT_ASSERT_INT_EQ(*calls, 3);
    return rc;
}

static int read_keys(struct rt_journal *j, int *calls)
{
    (void)calls;
    uint64_t *h = (uint64_t *)1;
    size_t n = 99;
    int64_t images = -1;
    int rc = rt_journal_manifest_keys_get(j, "tr-1", &h, &n, &images);
    if (rc) {
        RT_ASSERT(h == NULL);
        RT_ASSERT_INT_EQ(n, 0);
        return rc;
    }
    RT_ASSERT_INT_EQ(n, 3);
    RT_ASSERT_INT_EQ(images, 3);
    RT_ASSERT(h[0] == 11 && h[1] == 22 && h[2] == 33);
    rt_free(h);
    return 0;
}

static int read_output(struct rt_journal *j, int *calls)
{
    (void)calls;
    char *out = (char *)1;
    int rc = rt_journal_step_output(j, "tr-3", "CHECK", &out);
    if (rc) {
        RT_ASSERT(out == NULL);
        return rc;
    }
    RT_ASSERT_STR_EQ(out, "{\"out\":\"check output\"}");
    rt_free(out);
    return 0;
}

RT_TEST(read_exec_get)
{
    struct rt_journal *j = reads_fixture(case_dir("r1"));
    torture_read(j, read_get, false);
    torture_read(j, read_get, true);
    rt_journal_close(j);
}

RT_TEST(read_exec_list)
{
    struct rt_journal *j = reads_fixture(case_dir("r2"));
    torture_read(j, read_list, false);
    torture_read(j, read_list, true);
    rt_journal_close(j);
}

RT_TEST(read_exec_latest)
{
    struct rt_journal *j = reads_fixture(case_dir("r3"));
    torture_read(j, latest_read, false);
    torture_read(j, latest_read, true);
    rt_journal_close(j);
}

RT_TEST(read_step_list)
{
    struct rt_journal *j = reads_fixture(case_dir("r4"));
    torture_read(j, read_steps, false);
    torture_read(j, read_steps, true);
    rt_journal_close(j);
}

RT_TEST(read_outbox_due)
{
    struct rt_journal *j = reads_fixture(case_dir("r5"));
    torture_read(j, read_outbox, false);
    torture_read(j, read_outbox, true);
    rt_journal_close(j);
}

RT_TEST(read_manifest_keys)
{
    struct rt_journal *j = reads_fixture(case_dir("r6"));
    torture_read(j, read_keys, false);
    torture_read(j, read_keys, true);
    rt_journal_close(j);
}

RT_TEST(read_step_output)
{
    struct rt_journal *j = reads_fixture(case_dir("r7"));
    torture_read(j, read_output, false);
    torture_read(j, read_output, true);
    rt_journal_close(j);
}

/* ---- the writer thread ---- */

struct done {
    int calls;
    int status;
    char msg[512];
};

static void on_written(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    d->calls++;
    d->status = status;
    if (status) {
        RT_ASSERT(err != NULL);
        rt_strlcpy(d->msg, err->msg, sizeof(d->msg));
    } else {
        RT_ASSERT(err == NULL);
    }
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static void submit_under_injection_pass(bool warm)
{
    const char *dir = case_dir(warm ? "writer-warm" : "writer");
    struct rt_journal *j = open_rw(dir);
    struct rt_jbatch *b0 = batch();
    RT_ASSERT_OK(fill_big_batch(b0, "tr-0", 1));
    apply(j, b0);
    uv_loop_t loop;
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    long live0 = live_own();
    RT_ASSERT_OK(rt_journal_writer_start(j, &loop, &err));
    long live = live_own();
    bool reached = true;
    int refused = 0, failed = 0, ok = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        char id[32];
        snprintf(id, sizeof(id), "w-%d", n);
        struct rt_jbatch *b = batch();
        RT_ASSERT_OK(fill_big_batch(b, id, 100000 + n));
        struct done d = {0};
        if (warm) {
            RT_ASSERT_OK(rt_journal_submit(j, b, on_written, &d)); /* without injection */
            uv_run(&loop, UV_RUN_DEFAULT);
            RT_ASSERT(d.calls == 1 && d.status == 0);
            ok++;
        } else {
            rt_jbatch_free(b);
        }
        snprintf(id, sizeof(id), "tr-%d", n);
        struct counts before = fresh_counts(dir);
        b = batch();
        RT_ASSERT_OK(fill_big_batch(b, id, n + 1));
        memset(&d, 0, sizeof(d));
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_submit(j, b, on_written, &d);
        if (rc == 0)
            uv_run(&loop, UV_RUN_DEFAULT); /* returns once the completion ran */
        reached = inject_end();
        struct counts now = fresh_counts(dir);
        if (rc) {
            /* Refused at once: the callback never runs, the batch was freed. */
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            uv_run(&loop, UV_RUN_NOWAIT);
            RT_ASSERT_INT_EQ(d.calls, 0);
            RT_ASSERT(counts_eq(now, before));
            refused++;
        } else {
            RT_ASSERT_INT_EQ(d.calls, 1);
            if (d.status) {
                if (d.status != RT_ENOMEM)
                    RT_FAIL("n=%d: batch failed with %s, not RT_ENOMEM: %s", n,
                            rt_err_name(d.status), d.msg);
                RT_ASSERT(counts_eq(now, before));
                failed++;
            } else {
                RT_ASSERT(counts_eq(now, plus_big(before)));
                ok++;
            }
        }
        RT_ASSERT_INT_EQ(rt_journal_writer_pending(j), 0);
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(refused >= 1);
    RT_ASSERT(failed >= 1); /* the writer thread's own failures came back */
    struct rt_journal_writer_stats ws;
    rt_journal_writer_stats(j, &ws);
    RT_ASSERT_INT_EQ(ws.failures, failed);
    RT_ASSERT_INT_EQ(ws.batches, ok);

    /* The writer still works after all that. */
    struct rt_jbatch *b = batch();
    RT_ASSERT_OK(rt_jbatch_state_set(b, "after", "1"));
    struct done d = {0};
    RT_ASSERT_OK(rt_journal_submit(j, b, on_written, &d));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(d.calls, 1);
    RT_ASSERT_INT_EQ(d.status, 0);
    bool done = false;
    rt_journal_writer_close(j, closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT(done);
    RT_ASSERT_INT_EQ(live_own(), live0);
    assert_journal_usable(j, dir);
    rt_journal_close(j);
    RT_ASSERT_OK(uv_loop_close(&loop));
}

RT_TEST(submit_under_injection)
{
    submit_under_injection_pass(false); /* cold: each round after the last one's failure */
    submit_under_injection_pass(true);  /* warm: each round after the same call without injection */
}

RT_TEST(writer_start_under_injection)
{
    /* Starting the writer (its struct, its own connection) fails cleanly at every allocation:
     * the journal's connection then still writes itself. */
    const char *dir = case_dir("wstart");
    struct rt_journal *j = open_rw(dir);
    uv_loop_t loop;
    RT_ASSERT_OK(uv_loop_init(&loop));
    long live = live_own();
    bool reached = true;
    int n;
    for (n = 1; n < N_MAX && reached; n++) {
        struct rt_error err;
        rt_error_clear(&err);
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_writer_start(j, &loop, &err);
        reached = inject_end();
        if (rc) {
            RT_ASSERT(rc == RT_ENOMEM || rc == RT_EJOURNAL);
            RT_ASSERT(err.msg[0] != '\0');
            RT_ASSERT(!rt_journal_writer_running(j));
            uv_run(&loop, UV_RUN_NOWAIT);
            RT_ASSERT_OK(rt_journal_state_set(j, "direct", "ok")); /* not switched to reads */
            RT_ASSERT_INT_EQ(live_own(), live);
            continue;
        }
        RT_ASSERT(rt_journal_writer_running(j));
        bool done = false;
        rt_journal_writer_close(j, closed, &done);
        uv_run(&loop, UV_RUN_DEFAULT);
        RT_ASSERT(done);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(n > 3);
    RT_ASSERT_INT_EQ(live_own(), live);
    rt_journal_close(j);
    RT_ASSERT_OK(uv_loop_close(&loop));
}

RT_TEST(outbox_reserve_id_under_injection)
{
    /* The first reservation of a connection reads the largest id so far; when that read fails
     * nothing may be reserved, least of all an id below it (its batch would fail forever on the
     * row that has it). */
    const char *dir = case_dir("outbox-ids");
    struct rt_journal *j = open_rw(dir);
    struct rt_jbatch *b = batch();
    for (int i = 1; i <= 3; i++)
        RT_ASSERT_OK(rt_jbatch_outbox_add(b, i, "tr-1", "training.started", "{}", 10));
    apply(j, b);
    rt_journal_close(j);
    long live = live_own();
    bool reached = true;
    int failures = 0, n;
    for (n = 1; n < N_MAX && reached; n++) {
        j = open_rw(dir); /* a new connection: nothing counted in memory yet */
        int64_t id = -1, id2 = -1;
        rt_alloc_fail_after((unsigned long)n);
        int rc = rt_journal_outbox_reserve_id(j, &id);
        reached = inject_end();
        RT_ASSERT_OK(rt_journal_outbox_reserve_id(j, &id2));
        if (rc) {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT_INT_EQ(id2, 4); /* nothing was reserved */
            failures++;
        } else {
            RT_ASSERT_INT_EQ(id, 4);
            RT_ASSERT_INT_EQ(id2, 5);
        }
        rt_journal_close(j);
        RT_ASSERT_INT_EQ(live_own(), live);
    }
    RT_ASSERT(!reached);
    fprintf(stderr, "%s: %d rounds\n", __func__, n - 1);
    RT_ASSERT(failures >= 1);
}
