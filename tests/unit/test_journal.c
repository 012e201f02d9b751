/*
 * test_journal.c - the SQLite journal: opening and migrations, executions and steps,
 * transactions, ids, models, requests, and behaviour with several connections and processes.
 *
 * The tests check the database with their own sqlite3 connection where the journal API cannot
 * show a property (journal mode, tables, a forged schema version); the library itself is the only
 * production code that includes sqlite3.h. Child processes end with _exit() so the harness's
 * atexit cleanup of the shared temporary folder runs only in the parent.
 */
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
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

static struct rt_journal *open_ro(const char *dir)
{
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(dir, RT_JOURNAL_READONLY, &j, &err);
    if (rc)
        RT_FAIL("open read-only %s: %s (%s)", dir, err.msg, rt_err_name(rc));
    return j;
}

/* A separate raw connection to the journal file, for checks the API does not expose. */
static sqlite3 *raw_open(const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, RT_JOURNAL_FILE);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        RT_FAIL("raw open %s failed", path);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        RT_FAIL("prepare %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        RT_FAIL("exec %s: %s", sql, msg ? msg : "?");
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- opening and schema ---- */

RT_TEST(open_creates_file_in_wal_mode)
{
    const char *dir = data_dir("a/b/data");
    char dir_copy[512];
    snprintf(dir_copy, sizeof(dir_copy), "%s", dir);
    struct rt_journal *j = open_rw(dir_copy);
    RT_ASSERT_INT_EQ(rt_journal_schema_version(j), 4);

    struct stat sb;
    RT_ASSERT(stat(dir_copy, &sb) == 0);
    RT_ASSERT_INT_EQ(sb.st_mode & 0777, 0700);
    char path[600];
    snprintf(path, sizeof(path), "%s/journal.db", dir_copy);
    RT_ASSERT(exists(path));

    sqlite3 *db = raw_open(dir_copy);
    char mode[32];
    raw_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
    RT_ASSERT_STR_EQ(mode, "wal");
    sqlite3_close(db);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(readonly_open_of_missing_journal_is_notfound)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("nothing"));
    struct rt_journal *j = (struct rt_journal *)1;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_open(dir, RT_JOURNAL_READONLY, &j, &err), RT_ENOTFOUND);
    RT_ASSERT(j == NULL);
    RT_ASSERT(!exists(dir)); /* the data folder was not created either */

    RT_ASSERT(mkdir(dir, 0700) == 0);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_open(dir, RT_JOURNAL_READONLY, &j, &err), RT_ENOTFOUND);
    char path[600];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    RT_ASSERT(!exists(path));
    RT_ASSERT_CONTAINS(err.msg, "no journal");
}

RT_TEST(migration_v1_creates_tables)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("d"));
    rt_journal_close(open_rw(dir));

    sqlite3 *db = raw_open(dir);
    char v[32];
    raw_text(db, "PRAGMA user_version", v, sizeof(v));
    RT_ASSERT_STR_EQ(v, "4");
    static const char *tables[] = {
        "label_jobs",   "params",         "system_state",       "executions",
        "steps",        "models",         "requests",           "detections",
        "review_tasks", "review_answers", "review_assignments", "outbox",
        "manifest_keys"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[200], n[16];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        raw_text(db, sql, n, sizeof(n));
        if (strcmp(n, "1") != 0)
            RT_FAIL("table %s is missing", tables[i]);
    }
    char n[16];
    raw_text(db,
             "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
             "('executions_started', 'executions_unfinished', 'models_one_active')",
             n, sizeof(n));
    RT_ASSERT_STR_EQ(n, "3");
    /* The steps table refers to executions, and foreign keys are enforced. */
    raw_exec(db, "PRAGMA foreign_keys = ON");
    RT_ASSERT(sqlite3_exec(db, "INSERT INTO steps(exec_id, seq, state, at) VALUES ('x', 1, 'A', 0)",
                           NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
}

RT_TEST(older_schema_refused_readonly_and_upgraded_readwrite)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("old"));
    RT_ASSERT(mkdir(dir, 0700) == 0);
    sqlite3 *db = raw_open(dir); /* a schema 0 file: exists, but has never been migrated */
    raw_exec(db, "CREATE TABLE unrelated(x)");
    sqlite3_close(db);

    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_open(dir, RT_JOURNAL_READONLY, &j, &err), RT_EJOURNAL);
    RT_ASSERT_CONTAINS(err.msg, "journal schema 0 is older than 4: start the daemon once");

    j = open_rw(dir);
    RT_ASSERT_INT_EQ(rt_journal_schema_version(j), 4);
    rt_journal_close(j);
    j = open_ro(dir);
    RT_ASSERT_INT_EQ(rt_journal_schema_version(j), 4);
    rt_journal_close(j);
}

RT_TEST(newer_schema_refused_in_both_modes)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("new"));
    rt_journal_close(open_rw(dir));
    sqlite3 *db = raw_open(dir);
    raw_exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);

    struct rt_error err;
    struct rt_journal *j = NULL;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_open(dir, RT_JOURNAL_READWRITE, &j, &err), RT_EJOURNAL);
    RT_ASSERT_CONTAINS(err.msg, "newer");
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_open(dir, RT_JOURNAL_READONLY, &j, &err), RT_EJOURNAL);
    RT_ASSERT_CONTAINS(err.msg, "newer");

    db = raw_open(dir);
    char v[16];
    raw_text(db, "PRAGMA user_version", v, sizeof(v));
    RT_ASSERT_STR_EQ(v, "99"); /* untouched */
    sqlite3_close(db);
}

RT_TEST(readonly_journal_refuses_writes)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("ro"));
    rt_journal_close(open_rw(dir));
    struct rt_journal *j = open_ro(dir);
    RT_ASSERT(rt_journal_state_set(j, "k", "v") != 0);
    RT_ASSERT(rt_journal_begin(j) != 0);
    RT_ASSERT(rt_journal_exec_create(j, "e-1", "training", "CHECK", NULL, NULL, 1) != 0);
    char out[8];
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "k", out, sizeof(out)), RT_ENOTFOUND);
    rt_journal_close(j);
}

/* ---- executions and steps ---- */

struct step_rec {
    int n;
    int seq[8];
    char state[8][32];
    int64_t at[8];
    char output[8][64];
    char error[8][64];
};

static int collect_step(const struct rt_journal_step *s, void *ud)
{
    struct step_rec *r = ud;
    if (r->n >= 8)
        return 1;
    r->seq[r->n] = s->seq;
    snprintf(r->state[r->n], 32, "%s", s->state);
    r->at[r->n] = s->at_ms;
    snprintf(r->output[r->n], 64, "%s", s->output ? s->output : "(null)");
    snprintf(r->error[r->n], 64, "%s", s->error ? s->error : "(null)");
    r->n++;
    return 0;
}

struct exec_rec {
    int n;
    char id[200][64];
    char state[200][32];
};

static int collect_exec(const struct rt_journal_exec *e, void *ud)
{
    struct exec_rec *r = ud;
    if (r->n >= 200)
        return 1;
    snprintf(r->id[r->n], 64, "%s", e->id);
    snprintf(r->state[r->n], 32, "%s", e->state);
    r->n++;
    return 0;
}

RT_TEST(exec_create_advance_get_list_steps)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-1", "training", "CHECK", "{\"why\":\"poll\"}",
                                        "{\"n\":0}", 1000));
    RT_ASSERT_INT_EQ(rt_journal_exec_create(j, "tr-1", "training", "CHECK", NULL, NULL, 1001),
                     -EEXIST);
    RT_ASSERT_OK(
        rt_journal_exec_advance(j, "tr-1", "{\"images\":5}", NULL, "MANIFEST", false, NULL, 2000));
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(j, "tr-1", &e));
    RT_ASSERT_STR_EQ(e.state, "MANIFEST");
    RT_ASSERT_STR_EQ(e.workflow, "training");
    RT_ASSERT_STR_EQ(e.context, "{\"n\":0}"); /* NULL context keeps the old one */
    RT_ASSERT_STR_EQ(e.input, "{\"why\":\"poll\"}");
    RT_ASSERT_INT_EQ(e.started_ms, 1000);
    RT_ASSERT_INT_EQ(e.finished_ms, 0);
    RT_ASSERT(e.error == NULL);
    rt_journal_exec_cleanup(&e);

    RT_ASSERT_OK(
        rt_journal_exec_advance(j, "tr-1", NULL, "disk full", "FAILED", true, "{\"n\":1}", 3000));
    RT_ASSERT_OK(rt_journal_exec_get(j, "tr-1", &e));
    RT_ASSERT_STR_EQ(e.state, "FAILED");
    RT_ASSERT_INT_EQ(e.finished_ms, 3000);
    RT_ASSERT_STR_EQ(e.error, "disk full");
    RT_ASSERT_STR_EQ(e.context, "{\"n\":1}");
    rt_journal_exec_cleanup(&e);

    struct step_rec r = {0};
    RT_ASSERT_OK(rt_journal_step_list(j, "tr-1", collect_step, &r));
    RT_ASSERT_INT_EQ(r.n, 3);
    RT_ASSERT_INT_EQ(r.seq[0], 1);
    RT_ASSERT_STR_EQ(r.state[0], "CHECK");
    RT_ASSERT_INT_EQ(r.at[0], 1000);
    RT_ASSERT_STR_EQ(r.output[0], "{\"images\":5}");
    RT_ASSERT_STR_EQ(r.error[0], "(null)");
    RT_ASSERT_STR_EQ(r.state[1], "MANIFEST");
    RT_ASSERT_INT_EQ(r.at[1], 2000);
    RT_ASSERT_STR_EQ(r.error[1], "disk full");
    RT_ASSERT_STR_EQ(r.state[2], "FAILED");
    RT_ASSERT_INT_EQ(r.seq[2], 3);
    RT_ASSERT_STR_EQ(r.output[2], "(null)");

    struct exec_rec l = {0};
    RT_ASSERT_OK(rt_journal_exec_list(j, NULL, collect_exec, &l));
    RT_ASSERT_INT_EQ(l.n, 1);
    RT_ASSERT_STR_EQ(l.id[0], "tr-1");

    RT_ASSERT_INT_EQ(rt_journal_exec_get(j, "nope", &e), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_step_list(j, "nope", collect_step, &r), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_exec_advance(j, "nope", NULL, NULL, "X", false, NULL, 1),
                     RT_ENOTFOUND);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(exec_list_newest_first_with_filters_and_limit)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_begin(j));
    char id[64];
    for (int i = 0; i < 120; i++) {
        snprintf(id, sizeof(id), "e-%03d", i);
        /* Pairs share a start time, so the id decides their order. */
        RT_ASSERT_OK(rt_journal_exec_create(j, id, i % 3 ? "detection" : "training", "START", NULL,
                                            NULL, 1000 + i / 2));
        if (i % 4 == 0)
            RT_ASSERT_OK(rt_journal_exec_advance(j, id, NULL, NULL, "DONE", true, NULL, 5000));
    }
    RT_ASSERT_OK(rt_journal_commit(j));

    struct exec_rec *r = rt_calloc(1, sizeof(*r));
    RT_ASSERT_OK(rt_journal_exec_list(j, NULL, collect_exec, r));
    RT_ASSERT_INT_EQ(r->n, 100); /* default limit */
    RT_ASSERT_STR_EQ(r->id[0], "e-119");
    RT_ASSERT_STR_EQ(r->id[1], "e-118");
    RT_ASSERT_STR_EQ(r->id[99], "e-020");

    struct rt_journal_exec_filter f = {.workflow = "training", .limit = 1000};
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(rt_journal_exec_list(j, &f, collect_exec, r));
    RT_ASSERT_INT_EQ(r->n, 40);
    RT_ASSERT_STR_EQ(r->id[0], "e-117");

    f = (struct rt_journal_exec_filter){.state = "DONE", .limit = 1000};
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(rt_journal_exec_list(j, &f, collect_exec, r));
    RT_ASSERT_INT_EQ(r->n, 30);

    f = (struct rt_journal_exec_filter){
        .workflow = "training", .unfinished_only = true, .limit = 1000};
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(rt_journal_exec_list(j, &f, collect_exec, r));
    RT_ASSERT_INT_EQ(r->n, 30); /* training: i % 3 == 0 (40); finished too: i % 12 == 0 (10) */
    for (int i = 0; i < r->n; i++)
        RT_ASSERT_STR_EQ(r->state[i], "START");

    f = (struct rt_journal_exec_filter){.limit = 2};
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(rt_journal_exec_list(j, &f, collect_exec, r));
    RT_ASSERT_INT_EQ(r->n, 2);
    rt_free(r);
    rt_journal_close(j);
}

/* A listing callback that calls back into the journal with the same listing statement. */
static int nested_list(const struct rt_journal_exec *e, void *ud)
{
    struct rt_journal *j = ud;
    struct exec_rec inner = {0};
    (void)e;
    if (rt_journal_exec_list(j, NULL, collect_exec, &inner) != 0 || inner.n != 3)
        return -1;
    struct step_rec s = {0};
    return rt_journal_step_list(j, e->id, collect_step, &s);
}

RT_TEST(exec_list_callback_may_reenter)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_exec_create(j, "a", "training", "CHECK", NULL, NULL, 1));
    RT_ASSERT_OK(rt_journal_exec_create(j, "b", "training", "CHECK", NULL, NULL, 2));
    RT_ASSERT_OK(rt_journal_exec_create(j, "c", "training", "CHECK", NULL, NULL, 3));
    RT_ASSERT_OK(rt_journal_exec_list(j, NULL, nested_list, j));
    rt_journal_close(j);
}

RT_TEST(advance_in_rolled_back_outer_transaction_leaves_nothing)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-1", "training", "EVALUATE", NULL, NULL, 1));
    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(
        rt_journal_exec_advance(j, "tr-1", "{\"f1\":0.9}", NULL, "START", false, "{\"v\":1}", 2));
    RT_ASSERT_OK(rt_journal_state_set_i64(j, "previous_trained_images", 10));
    rt_journal_rollback(j);

    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(j, "tr-1", &e));
    RT_ASSERT_STR_EQ(e.state, "EVALUATE");
    RT_ASSERT(e.context == NULL);
    rt_journal_exec_cleanup(&e);
    struct step_rec r = {0};
    RT_ASSERT_OK(rt_journal_step_list(j, "tr-1", collect_step, &r));
    RT_ASSERT_INT_EQ(r.n, 1);
    RT_ASSERT_STR_EQ(r.output[0], "(null)");
    int64_t v = 0;
    RT_ASSERT_OK(rt_journal_state_get_i64(j, "previous_trained_images", -1, &v));
    RT_ASSERT_INT_EQ(v, -1);
    rt_journal_close(j);
}

RT_TEST(nested_transactions_commit_at_outermost_and_rollback_dooms)
{
    const char *dir = data_dir("x");
    struct rt_journal *j = open_rw(dir);
    struct rt_journal *other = open_ro(dir);
    char out[16];

    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(rt_journal_state_set(j, "a", "1"));
    RT_ASSERT_OK(rt_journal_commit(j)); /* inner: nothing committed yet */
    RT_ASSERT_INT_EQ(rt_journal_state_get(other, "a", out, sizeof(out)), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_commit(j));
    RT_ASSERT_OK(rt_journal_state_get(other, "a", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "1");

    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(rt_journal_state_set(j, "b", "1"));
    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(rt_journal_state_set(j, "c", "1"));
    rt_journal_rollback(j); /* inner rollback rolls back everything */
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "b", out, sizeof(out)), RT_ENOTFOUND);
    /* Until the outermost level ends, writes and new levels fail instead of autocommitting. */
    RT_ASSERT_INT_EQ(rt_journal_state_set(j, "d", "1"), RT_EJOURNAL);
    RT_ASSERT_INT_EQ(rt_journal_begin(j), RT_EJOURNAL);
    RT_ASSERT_INT_EQ(rt_journal_commit(j), RT_EJOURNAL);
    RT_ASSERT_INT_EQ(rt_journal_state_get(other, "b", out, sizeof(out)), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_state_get(other, "c", out, sizeof(out)), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_state_get(other, "d", out, sizeof(out)), RT_ENOTFOUND);

    /* And afterwards the connection works normally again. */
    RT_ASSERT_INT_EQ(rt_journal_commit(j), RT_EINVAL);
    RT_ASSERT_OK(rt_journal_state_set(j, "e", "1"));
    RT_ASSERT_OK(rt_journal_state_get(other, "e", out, sizeof(out)));
    rt_journal_close(other);
    rt_journal_close(j);
}

RT_TEST(duplicate_create_inside_transaction_keeps_it_usable)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    RT_ASSERT_OK(rt_journal_exec_create(j, "d-1", "detection", "DETECT", NULL, NULL, 1));
    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_OK(rt_journal_state_set(j, "k", "v"));
    RT_ASSERT_INT_EQ(rt_journal_exec_create(j, "d-1", "detection", "DETECT", NULL, NULL, 2),
                     -EEXIST);
    RT_ASSERT_OK(rt_journal_commit(j));
    char out[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "k", out, sizeof(out)));
    rt_journal_close(j);
}

RT_TEST(new_ids_unique_and_increasing)
{
    const char *dir = data_dir("x");
    struct rt_journal *j = open_rw(dir);
    char prev[64] = "", id[64];
    /* 2024-01-02T03:04:05Z */
    int64_t t = 1704164645000;
    for (int i = 0; i < 300; i++) {
        RT_ASSERT_OK(rt_journal_exec_new_id(j, "tr", t + (i / 100) * 1000, id, sizeof(id)));
        if (strcmp(prev, id) >= 0)
            RT_FAIL("%s does not sort after %s", id, prev);
        snprintf(prev, sizeof(prev), "%s", id);
    }
    RT_ASSERT_STR_EQ(id, "tr-20240102T030407Z-0300");
    rt_journal_close(j);

    j = open_rw(dir); /* the counter survives a restart */
    RT_ASSERT_OK(rt_journal_exec_new_id(j, "tr", t + 2000, id, sizeof(id)));
    RT_ASSERT_STR_EQ(id, "tr-20240102T030407Z-0301");
    RT_ASSERT_OK(rt_journal_exec_new_id(j, "det", t, id, sizeof(id)));
    RT_ASSERT_STR_EQ(id, "det-20240102T030405Z-0302");
    RT_ASSERT_INT_EQ(rt_journal_exec_new_id(j, "a/b", t, id, sizeof(id)), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_journal_exec_new_id(j, "", t, id, sizeof(id)), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_journal_exec_new_id(j, "tr", t, id, 10), RT_ETOOBIG);
    rt_journal_close(j);
}

/* ---- models and requests ---- */

static struct rt_journal_model model(const char *version, int64_t created, double f1)
{
    struct rt_journal_model m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "%s", version);
    snprintf(m.exec_id, sizeof(m.exec_id), "tr-%s", version);
    snprintf(m.status, sizeof(m.status), "TRAINED");
    m.f1 = f1;
    m.images = 10;
    m.created_ms = created;
    return m;
}

static int collect_model(const struct rt_journal_model *m, void *ud)
{
    struct exec_rec *r = ud; /* reuse: id = version, state = "active"/"idle" */
    snprintf(r->id[r->n], 64, "%.63s", m->version);
    snprintf(r->state[r->n], 32, "%s", m->active ? "active" : "idle");
    r->n++;
    return 0;
}

RT_TEST(models_only_one_active)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    struct rt_journal_model m = model("v1", 100, 0.9), got;
    RT_ASSERT_OK(rt_journal_model_put(j, &m));
    m = model("v2", 200, -1);
    RT_ASSERT_OK(rt_journal_model_put(j, &m));
    RT_ASSERT_INT_EQ(rt_journal_model_get_active(j, &got), RT_ENOTFOUND);

    RT_ASSERT_OK(rt_journal_model_set_active(j, "v1", 1000));
    RT_ASSERT_OK(rt_journal_model_get_active(j, &got));
    RT_ASSERT_STR_EQ(got.version, "v1");
    RT_ASSERT_INT_EQ(got.deployed_ms, 1000);
    RT_ASSERT(got.f1 > 0.89 && got.f1 < 0.91);
    RT_ASSERT_STR_EQ(got.exec_id, "tr-v1");

    RT_ASSERT_OK(rt_journal_model_set_active(j, "v2", 2000));
    RT_ASSERT_OK(rt_journal_model_get_active(j, &got));
    RT_ASSERT_STR_EQ(got.version, "v2");
    RT_ASSERT(got.f1 == -1);
    RT_ASSERT_OK(rt_journal_model_get(j, "v1", &got));
    RT_ASSERT(!got.active);
    RT_ASSERT_INT_EQ(got.deployed_ms, 1000);
    RT_ASSERT_INT_EQ(got.stopped_ms, 0);

    /* Updating the active version's row keeps it active. */
    m = model("v2", 200, 0.95);
    snprintf(m.status, sizeof(m.status), "RUNNING");
    RT_ASSERT_OK(rt_journal_model_put(j, &m));
    RT_ASSERT_OK(rt_journal_model_get_active(j, &got));
    RT_ASSERT_STR_EQ(got.status, "RUNNING");

    /* An unknown version changes nothing. */
    RT_ASSERT_INT_EQ(rt_journal_model_set_active(j, "v9", 3000), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_model_get_active(j, &got));
    RT_ASSERT_STR_EQ(got.version, "v2");

    struct exec_rec r = {0};
    RT_ASSERT_OK(rt_journal_model_list(j, collect_model, &r));
    RT_ASSERT_INT_EQ(r.n, 2);
    RT_ASSERT_STR_EQ(r.id[0], "v2");
    RT_ASSERT_STR_EQ(r.state[0], "active");
    RT_ASSERT_STR_EQ(r.id[1], "v1");
    RT_ASSERT_STR_EQ(r.state[1], "idle");
    rt_journal_close(j);
}

RT_TEST(requests_fifo_taken_once)
{
    const char *dir = data_dir("x");
    struct rt_journal *cli = open_rw(dir);
    struct rt_journal *daemon = open_rw(dir);
    char kind[32];
    RT_ASSERT_INT_EQ(rt_journal_request_take(daemon, kind, sizeof(kind), 1), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_request_add(cli, "training", 10));
    RT_ASSERT_OK(rt_journal_request_add(cli, "sampling", 11));
    RT_ASSERT_OK(rt_journal_request_add(cli, "training", 12));
    RT_ASSERT_OK(rt_journal_request_take(daemon, kind, sizeof(kind), 20));
    RT_ASSERT_STR_EQ(kind, "training");
    RT_ASSERT_OK(rt_journal_request_take(cli, kind, sizeof(kind), 21));
    RT_ASSERT_STR_EQ(kind, "sampling");
    RT_ASSERT_OK(rt_journal_request_take(daemon, kind, sizeof(kind), 22));
    RT_ASSERT_STR_EQ(kind, "training");
    RT_ASSERT_INT_EQ(rt_journal_request_take(daemon, kind, sizeof(kind), 23), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_request_take(cli, kind, sizeof(kind), 23), RT_ENOTFOUND);
    rt_journal_close(cli);
    rt_journal_close(daemon);
}

RT_TEST(params_and_state_round_trip)
{
    struct rt_journal *j = open_rw(data_dir("x"));
    char out[16];
    RT_ASSERT_INT_EQ(rt_journal_param_get(j, "Minimum-Untrained-Images", out, sizeof(out)),
                     RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_param_set(j, "Minimum-Untrained-Images", "5", 1));
    RT_ASSERT_OK(rt_journal_param_set(j, "Minimum-Untrained-Images", "7", 2));
    RT_ASSERT_OK(rt_journal_param_get(j, "Minimum-Untrained-Images", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "7");
    RT_ASSERT_OK(rt_journal_param_set(j, "Automatic-Training-Poll-Frequency", "30s", 3));
    RT_ASSERT_INT_EQ(rt_journal_param_get(j, "Automatic-Training-Poll-Frequency", out, 3),
                     RT_ETOOBIG);

    int64_t v = 0;
    RT_ASSERT_OK(rt_journal_state_get_i64(j, "previous_trained_images", 0, &v));
    RT_ASSERT_INT_EQ(v, 0);
    RT_ASSERT_OK(rt_journal_state_set_i64(j, "previous_trained_images", 1234567890123LL));
    RT_ASSERT_OK(rt_journal_state_get_i64(j, "previous_trained_images", 0, &v));
    RT_ASSERT_INT_EQ(v, 1234567890123LL);
    RT_ASSERT_OK(rt_journal_state_set(j, "previous_trained_images", "ten"));
    RT_ASSERT_INT_EQ(rt_journal_state_get_i64(j, "previous_trained_images", 0, &v), RT_EPARSE);
    rt_journal_close(j);
}

/* ---- several connections and processes ---- */

RT_TEST(second_writer_waits_instead_of_failing)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("x"));
    rt_journal_close(open_rw(dir)); /* create it before anyone forks */
    int ready[2];
    RT_ASSERT(pipe(ready) == 0);
    pid_t pid = fork();
    RT_ASSERT(pid >= 0);
    if (pid == 0) {
        /* Child: hold the write lock for a while, then commit. */
        close(ready[0]);
        struct rt_journal *cj = NULL;
        int ok = rt_journal_open(dir, RT_JOURNAL_READWRITE, &cj, NULL) == 0 &&
                 rt_journal_begin(cj) == 0 && rt_journal_state_set(cj, "child", "1") == 0;
        if (write(ready[1], ok ? "1" : "0", 1) != 1)
            ok = 0;
        usleep(500 * 1000);
        ok = ok && rt_journal_commit(cj) == 0;
        rt_journal_close(cj);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    char c = 0;
    RT_ASSERT(read(ready[0], &c, 1) == 1);
    RT_ASSERT(c == '1');
    close(ready[0]);

    /* The child is inside BEGIN IMMEDIATE: this write must queue on the busy timeout. */
    struct rt_journal *j = open_rw(dir);
    RT_ASSERT_OK(rt_journal_state_set(j, "parent", "1"));
    char out[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "child", out, sizeof(out))); /* it committed first */
    int status = 0;
    RT_ASSERT(waitpid(pid, &status, 0) == pid);
    RT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    RT_ASSERT_OK(rt_journal_state_get(j, "parent", out, sizeof(out)));
    rt_journal_close(j);
}

RT_TEST(reader_is_not_blocked_by_a_writer)
{
    const char *dir = data_dir("x");
    struct rt_journal *w = open_rw(dir);
    RT_ASSERT_OK(rt_journal_state_set(w, "k", "old"));
    struct rt_journal *r = open_ro(dir);
    RT_ASSERT_OK(rt_journal_begin(w));
    RT_ASSERT_OK(rt_journal_state_set(w, "k", "new"));
    char out[8];
    RT_ASSERT_OK(rt_journal_state_get(r, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "old");
    RT_ASSERT_OK(rt_journal_commit(w));
    RT_ASSERT_OK(rt_journal_state_get(r, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "new");
    rt_journal_close(r);
    rt_journal_close(w);
}

/* The scanner's lookups share one read transaction: they see one state of the journal, however
 * many commits other connections make meanwhile, and the next reads see those commits. */
RT_TEST(read_snapshot_sees_one_state_until_it_ends)
{
    const char *dir = data_dir("x");
    struct rt_journal *loop = open_rw(dir);
    struct rt_journal *writer = open_rw(dir);
    RT_ASSERT_OK(rt_journal_state_set(writer, "k", "old"));
    char out[8];
    RT_ASSERT_OK(rt_journal_read_begin(loop));
    RT_ASSERT_INT_EQ(rt_journal_read_begin(loop), RT_EINVAL); /* not nested */
    RT_ASSERT_INT_EQ(rt_journal_begin(loop), RT_EINVAL);      /* no writes inside */
    RT_ASSERT_OK(rt_journal_state_get(loop, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "old");
    RT_ASSERT_OK(rt_journal_state_set(writer, "k", "new")); /* a reader never blocks a writer */
    RT_ASSERT_OK(rt_journal_state_get(loop, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "old");
    rt_journal_read_end(loop);
    rt_journal_read_end(loop); /* a second end is harmless */
    RT_ASSERT_OK(rt_journal_state_get(loop, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "new");
    /* Not inside a write transaction; writes work again once it ended. */
    RT_ASSERT_OK(rt_journal_begin(loop));
    RT_ASSERT_INT_EQ(rt_journal_read_begin(loop), RT_EINVAL);
    RT_ASSERT_OK(rt_journal_state_set(loop, "k", "mine"));
    RT_ASSERT_OK(rt_journal_commit(loop));
    RT_ASSERT_OK(rt_journal_state_get(writer, "k", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "mine");
    rt_journal_close(writer);
    rt_journal_close(loop);
}

RT_TEST(data_version_changes_after_other_connection_commits)
{
    const char *dir = data_dir("x");
    struct rt_journal *daemon = open_rw(dir);
    struct rt_journal *cli = open_rw(dir);
    int64_t v1 = rt_journal_data_version(daemon);
    RT_ASSERT(v1 >= 0);
    RT_ASSERT_OK(rt_journal_state_set(daemon, "own", "1"));
    RT_ASSERT_INT_EQ(rt_journal_data_version(daemon), v1); /* its own commits do not count */
    RT_ASSERT_OK(rt_journal_param_set(cli, "Minimum-Untrained-Images", "3", 1));
    int64_t v2 = rt_journal_data_version(daemon);
    RT_ASSERT(v2 != v1);
    RT_ASSERT_INT_EQ(rt_journal_data_version(daemon), v2);
    rt_journal_close(cli);
    rt_journal_close(daemon);
}

RT_TEST(crash_before_commit_leaves_nothing)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", data_dir("x"));
    rt_journal_close(open_rw(dir));
    pid_t pid = fork();
    RT_ASSERT(pid >= 0);
    if (pid == 0) {
        struct rt_journal *cj = NULL;
        if (rt_journal_open(dir, RT_JOURNAL_READWRITE, &cj, NULL) != 0 ||
            rt_journal_state_set(cj, "before", "1") != 0 || rt_journal_begin(cj) != 0 ||
            rt_journal_exec_create(cj, "tr-1", "training", "CHECK", NULL, NULL, 1) != 0 ||
            rt_journal_exec_advance(cj, "tr-1", "{}", NULL, "MANIFEST", false, NULL, 2) != 0 ||
            rt_journal_state_set(cj, "after", "1") != 0)
            _exit(1);
        _exit(0); /* dies inside the transaction: no commit, no close */
    }
    int status = 0;
    RT_ASSERT(waitpid(pid, &status, 0) == pid);
    RT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    struct rt_journal *j = open_rw(dir);
    char out[8];
    RT_ASSERT_OK(rt_journal_state_get(j, "before", out, sizeof(out)));
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "after", out, sizeof(out)), RT_ENOTFOUND);
    struct rt_journal_exec e;
    RT_ASSERT_INT_EQ(rt_journal_exec_get(j, "tr-1", &e), RT_ENOTFOUND);
    /* The journal is fully writable after the crash. */
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-1", "training", "CHECK", NULL, NULL, 3));
    rt_journal_close(j);
}
