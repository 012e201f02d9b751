/*
 * journal.c - opening the journal, schema migrations, transactions, the statement cache,
 * parameters and system state (see journal.h and docs/journal.md).
 *
 * Design: SQLite in WAL mode so the CLI reads while the daemon writes; synchronous=FULL so a
 * committed state change survives a power cut, not only a crash of the process (each workflow
 * transition is one small transaction, so the extra fsync per commit is cheap next to the work a
 * step does). Writers start with BEGIN IMMEDIATE: taking the write lock up front means a second
 * writer waits in the busy handler (10 s) instead of failing later with a lock-upgrade deadlock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/fsutil.h"
#include "retraind/log.h"

#define BUSY_TIMEOUT_MS 10000

/*
 * The schema, one migration per version: migrations[i] takes user_version i to i + 1. Each runs
 * in its own transaction together with the user_version update, so a crash mid-upgrade leaves the
 * previous version intact. Never edit a released entry; append a new one.
 */
static const char *const migrations[] = {
    /* 1: executions and steps, parameters, system state, models, CLI requests, and the tables of
     * the detection and review work. Times are epoch milliseconds. */
    "CREATE TABLE params ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL) STRICT;"
    "CREATE TABLE system_state ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL) STRICT;"
    "CREATE TABLE executions ("
    "  id TEXT PRIMARY KEY,"
    "  workflow TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  error TEXT,"
    "  input TEXT,"
    "  context TEXT) STRICT;"
    "CREATE INDEX executions_started ON executions(started_at, id);"
    "CREATE INDEX executions_workflow ON executions(workflow, started_at, id);"
    "CREATE INDEX executions_unfinished ON executions(started_at, id) WHERE finished_at IS NULL;"
    "CREATE INDEX executions_unfinished_workflow ON executions(workflow, started_at, id) "
    "  WHERE finished_at IS NULL;"
    "CREATE TABLE steps ("
    "  exec_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  output TEXT,"
    "  error TEXT,"
    "  PRIMARY KEY (exec_id, seq)) STRICT;"
    "CREATE TABLE models ("
    "  version TEXT PRIMARY KEY,"
    "  exec_id TEXT,"
    "  status TEXT NOT NULL,"
    "  f1 REAL,"
    "  images INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  deployed_at INTEGER,"
    "  stopped_at INTEGER,"
    "  active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))) STRICT;"
    "CREATE UNIQUE INDEX models_one_active ON models(active) WHERE active = 1;"
    "CREATE INDEX models_created ON models(created_at, version);"
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  taken_at INTEGER) STRICT;"
    "CREATE INDEX requests_pending ON requests(id) WHERE taken_at IS NULL;"
    "CREATE TABLE detections ("
    "  key TEXT NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  exec_id TEXT,"
    "  label TEXT,"
    "  confidence REAL,"
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  flushed_at INTEGER,"
    "  PRIMARY KEY (key, etag)) STRICT;"
    "CREATE INDEX detections_unflushed ON detections(created_at) WHERE flushed_at IS NULL;"
    "CREATE INDEX detections_exec ON detections(exec_id);"
    "CREATE TABLE reviews ("
    "  id TEXT PRIMARY KEY,"
    "  exec_id TEXT,"
    "  key TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  detected_label TEXT,"
    "  confidence REAL,"
    "  options TEXT NOT NULL DEFAULT '[]',"
    "  state TEXT NOT NULL,"
    "  answer TEXT,"
    "  answered_by TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  answered_at INTEGER) STRICT;"
    "CREATE INDEX reviews_state ON reviews(state, created_at);"
    "CREATE INDEX reviews_exec ON reviews(exec_id);",
    /* 2: coalesced checks, the notification outbox, and the key sets of manifests. */
    "ALTER TABLE executions ADD COLUMN checks INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE executions ADD COLUMN last_checked_at INTEGER;"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  exec_id TEXT,"
    "  kind TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL DEFAULT 0,"
    "  delivered TEXT NOT NULL DEFAULT '',"
    "  last_error TEXT,"
    "  sent_at INTEGER) STRICT;"
    "CREATE INDEX outbox_unsent ON outbox(next_at, id) WHERE sent_at IS NULL;"
    "CREATE TABLE manifest_keys ("
    "  exec_id TEXT PRIMARY KEY,"
    "  images INTEGER NOT NULL,"
    "  hashes BLOB NOT NULL) STRICT;",
    /* 3: the detection queue and results, and review tasks with several answers each. The
     * detections and reviews tables of version 1 were never written: they are replaced. */
    "DROP TABLE IF EXISTS detections;"
    "DROP TABLE IF EXISTS reviews;"
    /* One row per (key, etag) seen under the detection prefix: queued, then detected. seq is
     * the arrival order (sampling counts detections by it); flushed_at marks the row written
     * to detection-results/ (result_key names the file). */
    "CREATE TABLE detections ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key TEXT NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  size INTEGER,"
    "  state TEXT NOT NULL,"
    "  exec_id TEXT,"
    "  queued_at INTEGER NOT NULL,"
    "  detected_at INTEGER,"
    "  request_id TEXT,"
    "  content_hash TEXT,"
    "  model_version TEXT,"
    "  label TEXT,"
    "  confidence REAL,"
    "  threshold REAL,"
    "  review_enabled INTEGER,"
    "  route TEXT,"
    "  sampled INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  result_key TEXT,"
    "  flushed_at INTEGER,"
    "  sample_exec TEXT,"
    "  sample_answer TEXT,"
    "  sample_agree INTEGER,"
    "  UNIQUE (key, etag)) STRICT;"
    "CREATE INDEX detections_queued ON detections(seq) WHERE state = 'queued';"
    "CREATE INDEX detections_unflushed ON detections(seq) "
    "  WHERE flushed_at IS NULL AND detected_at IS NOT NULL;"
    "CREATE INDEX detections_exec ON detections(exec_id);"
    "CREATE INDEX detections_hash ON detections(key, content_hash);"
    "CREATE INDEX detections_result ON detections(result_key) WHERE flushed_at IS NULL;"
    "CREATE INDEX detections_sampled ON detections(seq) WHERE sampled = 1;"
    /* A review task: one image, its options, how many answers it needs. */
    "CREATE TABLE review_tasks ("
    "  id TEXT PRIMARY KEY,"
    "  source TEXT NOT NULL,"
    "  exec_id TEXT,"
    "  job TEXT,"
    "  key TEXT NOT NULL,"
    "  detected_label TEXT,"
    "  confidence REAL,"
    "  model_version TEXT,"
    "  options TEXT NOT NULL,"
    "  instructions TEXT,"
    "  answers_needed INTEGER NOT NULL DEFAULT 1,"
    "  answers INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"
    "  result TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  answered_at INTEGER,"
    /* Order in which tasks became answered (1, 2, ...; given under the write lock, so it grows
     * in commit order whatever the clocks say): the cursor a waiting driver polls with. */
    "  answered_seq INTEGER) STRICT;"
    /* The serving order of open tasks: sampling or not, least confident first (none last),
     * oldest first (reviews.c writes its queries with these exact expressions). */
    "CREATE INDEX review_tasks_serve ON review_tasks("
    "  source = 'sampling', ifnull(confidence, 1000.0), created_at, id) WHERE state = 'open';"
    "CREATE UNIQUE INDEX review_tasks_answered ON review_tasks(answered_seq) "
    "  WHERE answered_seq IS NOT NULL;"
    "CREATE INDEX review_tasks_created ON review_tasks(created_at, id);"
    "CREATE INDEX review_tasks_exec ON review_tasks(exec_id);"
    /* One answer per reviewer per task. */
    "CREATE TABLE review_answers ("
    "  task_id TEXT NOT NULL REFERENCES review_tasks(id),"
    "  worker TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  answered_at INTEGER NOT NULL,"
    /* When the worker was handed the task (their assignment), NULL when they had none. */
    "  accepted_at INTEGER,"
    "  PRIMARY KEY (task_id, worker)) STRICT;"
    /* Who is working on which task right now (the portal hands a task to one reviewer at a
     * time until it expires). */
    "CREATE TABLE review_assignments ("
    "  task_id TEXT NOT NULL REFERENCES review_tasks(id),"
    "  worker TEXT NOT NULL,"
    "  assigned_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (task_id, worker)) STRICT;"
    "CREATE INDEX review_assignments_worker ON review_assignments(worker);",
    /* 4: labeling jobs (issue #10). A job's images are review tasks with review_tasks.job set;
     * the job's own row says what was asked for and how it ended. */
    "CREATE TABLE label_jobs ("
    "  name TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  spec TEXT NOT NULL," /* JSON: prefix, labels, instructions, examples, counts, flags */
    "  exec_id TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  output_manifest TEXT,"
    "  stats TEXT) STRICT;"
    "CREATE INDEX review_tasks_job ON review_tasks(job, state) WHERE job IS NOT NULL;",
};

#define SCHEMA_LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_READ_BEGIN] = "BEGIN DEFERRED",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_PARAM_GET] = "SELECT value FROM params WHERE name = ?1",
    [ST_PARAM_SET] = "INSERT INTO params(name, value, updated_at) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT(name) DO UPDATE SET value = excluded.value, "
                     "updated_at = excluded.updated_at",
    [ST_PARAM_LIST] = "SELECT name, value FROM params ORDER BY name",
    [ST_STATE_GET] = "SELECT value FROM system_state WHERE key = ?1",
    [ST_STATE_SET] = "INSERT INTO system_state(key, value) VALUES (?1, ?2) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_EXEC_INSERT] = "INSERT INTO executions(id, workflow, state, started_at, input, context) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_EXEC_GET] = "SELECT " RT__EXEC_COLUMNS " FROM executions WHERE id = ?1",
    [ST_EXEC_EXISTS] = "SELECT 1 FROM executions WHERE id = ?1",
    [ST_EXEC_ADVANCE] = "UPDATE executions SET state = ?2, context = coalesce(?3, context), "
                        "finished_at = CASE WHEN ?4 THEN ?5 ELSE finished_at END, "
                        "error = CASE WHEN ?4 THEN ?6 ELSE error END WHERE id = ?1",
    [ST_STEP_INSERT] = "INSERT INTO steps(exec_id, seq, state, at) VALUES (?1, ?2, ?3, ?4)",
    [ST_STEP_LAST] = "SELECT max(seq) FROM steps WHERE exec_id = ?1",
    [ST_STEP_FINISH] = "UPDATE steps SET output = ?3, error = ?4 WHERE exec_id = ?1 AND seq = ?2",
    [ST_STEP_LIST] = "SELECT seq, state, at, output, error FROM steps WHERE exec_id = ?1 "
                     "ORDER BY seq",
    [ST_MODEL_PUT] = "INSERT INTO models(version, exec_id, status, f1, images, created_at, "
                     "deployed_at, stopped_at, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0) "
                     "ON CONFLICT(version) DO UPDATE SET exec_id = excluded.exec_id, "
                     "status = excluded.status, f1 = excluded.f1, images = excluded.images, "
                     "created_at = excluded.created_at, deployed_at = excluded.deployed_at, "
                     "stopped_at = excluded.stopped_at",
    [ST_MODEL_GET] = "SELECT version, exec_id, status, f1, images, created_at, deployed_at, "
                     "stopped_at, active FROM models WHERE version = ?1",
    [ST_MODEL_ACTIVE] = "SELECT version, exec_id, status, f1, images, created_at, deployed_at, "
                        "stopped_at, active FROM models WHERE active = 1",
    [ST_MODEL_CLEAR_ACTIVE] = "UPDATE models SET active = 0 WHERE active = 1 AND version <> ?1",
    [ST_MODEL_SET_ACTIVE] = "UPDATE models SET active = 1, deployed_at = ?2 WHERE version = ?1",
    [ST_MODEL_LIST] = "SELECT version, exec_id, status, f1, images, created_at, deployed_at, "
                      "stopped_at, active FROM models ORDER BY created_at DESC, version DESC",
    [ST_REQ_ADD] = "INSERT INTO requests(kind, created_at) VALUES (?1, ?2)",
    [ST_REQ_OLDEST] = "SELECT id, kind FROM requests WHERE taken_at IS NULL ORDER BY id LIMIT 1",
    [ST_REQ_MARK] = "UPDATE requests SET taken_at = ?2 WHERE id = ?1",
    [ST_REQ_PEEK] = "SELECT id, kind FROM requests WHERE taken_at IS NULL AND id > ?1 "
                    "ORDER BY id LIMIT 1",
    [ST_PARAM_DELETE] = "DELETE FROM params WHERE name = ?1",
    /* Counters only grow: batches reserved in one order may commit in another. */
    [ST_STATE_MAX] = "INSERT INTO system_state(key, value) VALUES (?1, ?2) "
                     "ON CONFLICT(key) DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), "
                     "CAST(excluded.value AS INTEGER)) AS TEXT)",
    [ST_EXEC_CONTEXT] = "UPDATE executions SET context = ?2 WHERE id = ?1",
    [ST_EXEC_CHECKED] = "UPDATE executions SET checks = checks + 1, last_checked_at = ?2 "
                        "WHERE id = ?1",
    [ST_EXEC_LATEST] = "SELECT " RT__EXEC_COLUMNS " FROM executions WHERE workflow = ?1 "
                       "ORDER BY started_at DESC, id DESC LIMIT 1",
    [ST_STEP_OUTPUT_STATE] = "SELECT output FROM steps WHERE exec_id = ?1 AND state = ?2 "
                             "ORDER BY seq LIMIT 1",
    [ST_STEP_OUTPUT_LAST] = "SELECT output FROM steps WHERE exec_id = ?1 ORDER BY seq DESC LIMIT 1",
    [ST_MODEL_STATUS] = "UPDATE models SET status = ?2, f1 = CASE WHEN ?3 < 0 THEN f1 ELSE ?3 END, "
                        "stopped_at = CASE WHEN ?4 > 0 THEN ?4 ELSE stopped_at END "
                        "WHERE version = ?1",
    [ST_MANIFEST_PUT] = "INSERT INTO manifest_keys(exec_id, images, hashes) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT(exec_id) DO UPDATE SET images = excluded.images, "
                        "hashes = excluded.hashes",
    [ST_MANIFEST_GET] = "SELECT images, hashes FROM manifest_keys WHERE exec_id = ?1",
    [ST_OUTBOX_ADD] = "INSERT INTO outbox(id, exec_id, kind, event, created_at, next_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    [ST_OUTBOX_UPDATE] = "UPDATE outbox SET attempts = ?2, next_at = ?3, "
                         "sent_at = CASE WHEN ?4 > 0 THEN ?4 ELSE NULL END, delivered = ?5, "
                         "last_error = ?6 WHERE id = ?1",
    [ST_OUTBOX_DUE] = "SELECT id, exec_id, kind, event, created_at, attempts, next_at, delivered "
                      "FROM outbox WHERE sent_at IS NULL AND next_at <= ?1 ORDER BY id LIMIT ?2",
    [ST_OUTBOX_NEXT] = "SELECT min(next_at) FROM outbox WHERE sent_at IS NULL",
    [ST_OUTBOX_MAX] = "SELECT max(id) FROM outbox",
    /* A coalesced check counts as the execution it stands for (checks). */
    [ST_EXEC_END_COUNTS] = "SELECT workflow, state, sum(checks) FROM executions "
                           "WHERE finished_at IS NOT NULL GROUP BY workflow, state",
    [ST_EXEC_UNFINISHED_COUNT] = "SELECT count(*) FROM executions WHERE finished_at IS NULL",
};

const char *rt__exec_list_sql(int v, char *buf, size_t size)
{
    /* Literal "finished_at IS NULL" lets SQLite use the partial index executions_unfinished;
     * "workflow = ?1" alone lets it use executions_workflow. */
    rt_snprintf(buf, size,
                "SELECT " RT__EXEC_COLUMNS
                " FROM executions WHERE 1%s%s%s ORDER BY started_at DESC, id DESC LIMIT ?4",
                (v & 1) ? " AND workflow = ?1" : "", (v & 2) ? " AND state = ?2" : "",
                (v & 4) ? " AND finished_at IS NULL" : "");
    return buf;
}

int rt__fail(struct rt_journal *j, const char *op, int rc)
{
    RT_LOG(RT_LOG_ERR, "journal", "event=sqlite_error op=%s code=%s error=%s path=%s", op,
           rt_q(sqlite3_errstr(rc)), rt_q(sqlite3_errmsg(j->db)), rt_q(j->path));
    /* SQLite rolls a transaction back by itself after some errors (full disk, I/O, NOMEM); the
     * rest of our transaction must then fail instead of running in autocommit mode. */
    if (j->depth > 0 && sqlite3_get_autocommit(j->db))
        j->doomed = true;
    return (rc & 0xff) == SQLITE_NOMEM ? RT_ENOMEM : RT_EJOURNAL;
}

int rt__stmt(struct rt_journal *j, enum stmt_id id, sqlite3_stmt **out)
{
    sqlite3_stmt *st = j->cache[id];
    if (st && !sqlite3_stmt_busy(st)) {
        *out = st;
        return 0;
    }
    char buf[512];
    const char *sql = id >= ST_EXEC_LIST_0
                          ? rt__exec_list_sql(id - ST_EXEC_LIST_0, buf, sizeof(buf))
                          : stmt_sql[id];
    /* Only the first copy of a statement is kept; a re-entrant second use gets a temporary. */
    unsigned flags = st ? 0 : SQLITE_PREPARE_PERSISTENT;
    int rc = sqlite3_prepare_v3(j->db, sql, -1, flags, &st, NULL);
    if (rc != SQLITE_OK)
        return rt__fail(j, "prepare", rc);
    if (!j->cache[id])
        j->cache[id] = st;
    *out = st;
    return 0;
}

int rt__stmt_ext(struct rt_journal *j, int slot, const char *sql, sqlite3_stmt **out)
{
    if (slot < 0 || slot >= RT__EXT_SLOTS)
        return RT_EINVAL;
    sqlite3_stmt *st = j->ext_cache[slot];
    if (st && !sqlite3_stmt_busy(st)) {
        *out = st;
        return 0;
    }
    unsigned flags = st ? 0 : SQLITE_PREPARE_PERSISTENT;
    int rc = sqlite3_prepare_v3(j->db, sql, -1, flags, &st, NULL);
    if (rc != SQLITE_OK)
        return rt__fail(j, "prepare", rc);
    if (!j->ext_cache[slot])
        j->ext_cache[slot] = st;
    *out = st;
    return 0;
}

void rt__stmt_ext_done(struct rt_journal *j, int slot, sqlite3_stmt *st)
{
    if (!st)
        return;
    if (slot >= 0 && slot < RT__EXT_SLOTS && st == j->ext_cache[slot]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

void rt__stmt_done(struct rt_journal *j, enum stmt_id id, sqlite3_stmt *st)
{
    if (!st)
        return;
    if (st == j->cache[id]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

int rt__step_done(struct rt_journal *j, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return -EEXIST;
    return rt__fail(j, op, rc);
}

int rt__bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int rt__col_copy(sqlite3_stmt *st, int i, char *out, size_t size)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    if (!s) {
        if (size)
            out[0] = '\0';
        return 0;
    }
    return rt_strlcpy(out, (const char *)s, size) < 0 ? RT_ETOOBIG : 0;
}

char *rt__col_dup(sqlite3_stmt *st, int i, int *rc)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    if (!s)
        return NULL;
    char *d = rt_strndup((const char *)s, (size_t)sqlite3_column_bytes(st, i));
    if (!d)
        *rc = RT_ENOMEM;
    return d;
}

bool rt__writable(struct rt_journal *j)
{
    return j->mode == RT_JOURNAL_READWRITE && !j->reads_only && !j->doomed && !j->reading;
}

/* ---- opening ---- */

static int exec_sql(struct rt_journal *j, const char *sql, const char *op, struct rt_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(j->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rt_error_set(err, RT_EJOURNAL, "journal %s: %s failed: %s", j->path, op,
                     msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return RT_EJOURNAL;
    }
    return 0;
}

static int read_user_version(struct rt_journal *j, int *out, struct rt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rt_error_set(err, RT_EJOURNAL, "journal %s: cannot read the schema version: %s", j->path,
                     sqlite3_errmsg(j->db));
        sqlite3_finalize(st);
        return RT_EJOURNAL;
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* Brings the schema from its current version to SCHEMA_LATEST, one transaction per step. */
static int migrate(struct rt_journal *j, struct rt_error *err)
{
    for (;;) {
        int rc = exec_sql(j, "BEGIN IMMEDIATE", "begin migration", err);
        if (rc)
            return rc;
        /* Read again under the write lock: another process may have migrated meanwhile. */
        int v = 0;
        rc = read_user_version(j, &v, err);
        if (!rc && v > SCHEMA_LATEST)
            rc = rt_error_set(err, RT_EJOURNAL,
                              "journal %s: schema %d is newer than %d: this retraind is too old",
                              j->path, v, SCHEMA_LATEST);
        if (!rc && v == SCHEMA_LATEST) {
            exec_sql(j, "COMMIT", "commit", NULL);
            j->schema = v;
            return 0;
        }
        char pragma[64];
        rt_snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (!rc)
            rc = exec_sql(j, migrations[v], "migration", err);
        if (!rc)
            rc = exec_sql(j, pragma, "set schema version", err);
        if (!rc)
            rc = exec_sql(j, "COMMIT", "commit migration", err);
        if (rc) {
            sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        RT_LOG(RT_LOG_NOTICE, "journal", "event=migrated path=%s from=%d to=%d", rt_q(j->path), v,
               v + 1);
    }
}

static int open_db(struct rt_journal *j, const char *data_dir, struct rt_error *err)
{
    if (!data_dir || !*data_dir)
        return rt_error_set(err, RT_EINVAL, "journal: no data_dir given");
    if (rt_snprintf(j->path, sizeof(j->path), "%s/%s", data_dir, RT_JOURNAL_FILE) < 0)
        return rt_error_set(err, RT_ETOOBIG, "journal: data_dir path is too long");

    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (j->mode == RT_JOURNAL_READONLY) {
        /* Checked first so that a read command leaves no trace on a machine with no journal. */
        struct stat sb;
        if (stat(j->path, &sb) != 0) {
            int e = errno;
            if (e == ENOENT)
                return rt_error_set(err, RT_ENOTFOUND, "no journal at %s", j->path);
            return rt_error_set(err, -e, "journal %s: %s", j->path, rt_strerror(-e));
        }
        flags |= SQLITE_OPEN_READONLY;
    } else {
        int rc = rt_mkdir_p(data_dir, 0700);
        if (rc)
            return rt_error_set(err, rc, "journal: cannot create data_dir %s: %s", data_dir,
                                rt_strerror(rc));
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    }
    int rc = sqlite3_open_v2(j->path, &j->db, flags, NULL);
    if (rc != SQLITE_OK)
        return rt_error_set(err, RT_EJOURNAL, "journal %s: cannot open: %s", j->path,
                            j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);
    rc = exec_sql(j, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "set pragmas", err);
    if (rc)
        return rc;

    int v = 0;
    rc = read_user_version(j, &v, err);
    if (rc)
        return rc;
    if (v > SCHEMA_LATEST)
        return rt_error_set(err, RT_EJOURNAL,
                            "journal %s: schema %d is newer than %d: this retraind is too old",
                            j->path, v, SCHEMA_LATEST);
    if (j->mode == RT_JOURNAL_READONLY) {
        if (v < SCHEMA_LATEST)
            return rt_error_set(err, RT_EJOURNAL,
                                "journal schema %d is older than %d: start the daemon once to "
                                "upgrade it",
                                v, SCHEMA_LATEST);
        j->schema = v;
        return 0;
    }

    /* WAL is a property of the file, so only a read-write open sets it (it needs no lock
     * beyond what the busy handler waits for). */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!mode || strcmp(mode, "wal") != 0) {
        rt_error_set(err, RT_EJOURNAL, "journal %s: cannot switch to WAL mode: %s", j->path,
                     mode ? mode : sqlite3_errmsg(j->db));
        sqlite3_finalize(st);
        return RT_EJOURNAL;
    }
    sqlite3_finalize(st);
    if (v == SCHEMA_LATEST) {
        j->schema = v; /* current: no write lock needed, so an open never waits on a writer */
        return 0;
    }
    return migrate(j, err);
}

int rt_journal_open(const char *data_dir,
                    enum rt_journal_mode mode,
                    struct rt_journal **out,
                    struct rt_error *err)
{
    *out = NULL;
    struct rt_journal *j = rt_calloc(1, sizeof(*j));
    if (!j)
        return rt_error_set(err, RT_ENOMEM, "journal: out of memory");
    j->mode = mode;
    j->id_counter = -1;
    j->outbox_counter = -1;
    rt_strlcpy(j->data_dir, data_dir ? data_dir : "", sizeof(j->data_dir));
    int rc = open_db(j, data_dir, err);
    if (rc) {
        rt_journal_close(j);
        return rc;
    }
    RT_LOG(RT_LOG_DEBUG, "journal", "event=open path=%s mode=%s schema=%d", rt_q(j->path),
           mode == RT_JOURNAL_READONLY ? "ro" : "rw", j->schema);
    *out = j;
    return 0;
}

void rt_journal_close(struct rt_journal *j)
{
    if (!j)
        return;
    if (j->writer)
        rt__writer_abandon(j);
    if (j->db && j->depth > 0) {
        RT_LOG(RT_LOG_WARNING, "journal", "event=close_in_transaction path=%s depth=%d",
               rt_q(j->path), j->depth);
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->cache[i]);
    for (int i = 0; i < RT__EXT_SLOTS; i++)
        sqlite3_finalize(j->ext_cache[i]);
    if (j->db)
        sqlite3_close_v2(j->db);
    rt_free(j);
}

void rt_journal_set_busy_timeout(struct rt_journal *j, int ms)
{
    j->busy_timeout_ms = ms;
    sqlite3_busy_timeout(j->db, ms);
}

int rt_journal_schema_version(struct rt_journal *j)
{
    return j->schema;
}

int64_t rt_journal_data_version(struct rt_journal *j)
{
    sqlite3_stmt *st;
    if (rt__stmt(j, ST_DATA_VERSION, &st))
        return -1;
    int64_t v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        rt__fail(j, "data_version", rc);
    rt__stmt_done(j, ST_DATA_VERSION, st);
    return v;
}

int rt_journal_quick_check(struct rt_journal *j, char *first, size_t size, struct rt_error *err)
{
    sqlite3_stmt *st = NULL;
    if (size)
        first[0] = '\0';
    int rc = sqlite3_prepare_v2(j->db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rt_error_set(err, RT_EJOURNAL, "journal %s: quick_check: %s", j->path,
                            sqlite3_errmsg(j->db));
    int problems = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && strcmp(t, "ok") != 0 && problems++ == 0 && size)
            rt_strlcpy(first, t, size);
    }
    if (rc != SQLITE_DONE)
        rt_error_set(err, RT_EJOURNAL, "journal %s: quick_check: %s", j->path,
                     sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? problems : RT_EJOURNAL;
}

/* ---- transactions ---- */

static int run_simple(struct rt_journal *j, enum stmt_id id, const char *op)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    rc = rt__step_done(j, st, op);
    rt__stmt_done(j, id, st);
    return rc;
}

int rt_journal_begin(struct rt_journal *j)
{
    if (j->mode != RT_JOURNAL_READWRITE)
        return RT_EINVAL;
    if (j->reads_only) {
        /* A bug: the loop thread must submit batches to the writer instead. */
        RT_LOG(RT_LOG_CRIT, "journal", "event=write_on_read_connection path=%s", rt_q(j->path));
        return RT_EINVAL;
    }
    if (j->doomed)
        return RT_EJOURNAL; /* the caller's outer transaction is already rolled back */
    if (j->reading)
        return RT_EINVAL; /* a bug: writes inside a read snapshot */
    if (j->depth > 0) {
        j->depth++;
        return 0;
    }
    /* A transaction starts only when its ROLLBACK is prepared: preparing needs memory, and a
     * rollback that cannot run leaves SQLite's transaction open, holding the write lock and
     * failing every later BEGIN. One left open all the same (SQLite refused to roll back) is
     * ended here first. */
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_ROLLBACK, &st);
    if (rc)
        return rc;
    rt__stmt_done(j, ST_ROLLBACK, st);
    if (!sqlite3_get_autocommit(j->db) && (rc = run_simple(j, ST_ROLLBACK, "rollback")) != 0)
        return rc;
    rc = run_simple(j, ST_BEGIN, "begin");
    if (rc)
        return rc;
    j->depth = 1;
    return 0;
}

int rt_journal_commit(struct rt_journal *j)
{
    if (j->depth <= 0)
        return RT_EINVAL;
    if (--j->depth > 0)
        return j->doomed ? RT_EJOURNAL : 0;
    if (j->doomed) {
        j->doomed = false;
        return RT_EJOURNAL;
    }
    int rc = run_simple(j, ST_COMMIT, "commit");
    if (rc && !sqlite3_get_autocommit(j->db))
        run_simple(j, ST_ROLLBACK, "rollback"); /* prepared by begin: needs no memory */
    j->doomed = false;
    return rc;
}

void rt_journal_rollback(struct rt_journal *j)
{
    if (j->depth <= 0)
        return;
    /* Roll back at once, so nothing of the transaction stays visible to this connection; the
     * outer levels then fail until the outermost one ends. */
    if (!j->doomed && !sqlite3_get_autocommit(j->db))
        run_simple(j, ST_ROLLBACK, "rollback");
    if (--j->depth > 0)
        j->doomed = true;
    else
        j->doomed = false;
}

int rt_journal_read_begin(struct rt_journal *j)
{
    if (j->depth > 0 || j->reading || !sqlite3_get_autocommit(j->db))
        return RT_EINVAL;
    int rc = run_simple(j, ST_READ_BEGIN, "begin a read");
    if (rc)
        return rc;
    j->reading = true;
    return 0;
}

void rt_journal_read_end(struct rt_journal *j)
{
    if (!j->reading)
        return;
    j->reading = false;
    /* A read transaction has nothing to lose: should COMMIT fail, ROLLBACK ends it. */
    if (!sqlite3_get_autocommit(j->db) && run_simple(j, ST_COMMIT, "end a read") != 0 &&
        !sqlite3_get_autocommit(j->db))
        run_simple(j, ST_ROLLBACK, "end a read");
}

/* ---- parameters and system state ---- */

static int get_text(struct rt_journal *j, enum stmt_id id, const char *key, char *out, size_t size)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, key);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = rt__col_copy(st, 0, out, size);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "get", s);
    rt__stmt_done(j, id, st);
    return rc;
}

static int put_text(struct rt_journal *j,
                    enum stmt_id id,
                    const char *key,
                    const char *value,
                    int64_t now_ms,
                    bool with_time)
{
    if (!key || !value)
        return RT_EINVAL;
    if (!rt__writable(j))
        return j->mode == RT_JOURNAL_READWRITE && !j->reads_only ? RT_EJOURNAL : RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, key);
    rt__bind_text(st, 2, value);
    if (with_time)
        sqlite3_bind_int64(st, 3, now_ms);
    rc = rt__step_done(j, st, "set");
    rt__stmt_done(j, id, st);
    return rc;
}

int rt_journal_param_get(struct rt_journal *j, const char *name, char *out, size_t size)
{
    return get_text(j, ST_PARAM_GET, name, out, size);
}

int rt_journal_param_set(struct rt_journal *j, const char *name, const char *value, int64_t now_ms)
{
    int rc = put_text(j, ST_PARAM_SET, name, value, now_ms, true);
    if (!rc)
        RT_LOG(RT_LOG_INFO, "journal", "event=param_set name=%s value=%s", rt_q(name), rt_q(value));
    return rc;
}

int rt_journal_param_list(struct rt_journal *j, rt_journal_param_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_PARAM_LIST, &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), ud);
    if (s != SQLITE_DONE)
        rc = rt__fail(j, "param_list", s);
    rt__stmt_done(j, ST_PARAM_LIST, st);
    return rc;
}

int rt_journal_state_get(struct rt_journal *j, const char *key, char *out, size_t size)
{
    return get_text(j, ST_STATE_GET, key, out, size);
}

int rt_journal_state_set(struct rt_journal *j, const char *key, const char *value)
{
    return put_text(j, ST_STATE_SET, key, value, 0, false);
}

int rt_journal_state_get_i64(struct rt_journal *j, const char *key, int64_t dflt, int64_t *out)
{
    char text[32];
    int rc = rt_journal_state_get(j, key, text, sizeof(text));
    if (rc == RT_ENOTFOUND) {
        *out = dflt;
        return 0;
    }
    if (rc)
        return rc;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        RT_LOG(RT_LOG_ERR, "journal", "event=bad_state key=%s value=%s", rt_q(key), rt_q(text));
        return RT_EPARSE;
    }
    *out = v;
    return 0;
}

int rt_journal_state_set_i64(struct rt_journal *j, const char *key, int64_t value)
{
    char text[32];
    rt_snprintf(text, sizeof(text), "%lld", (long long)value);
    return rt_journal_state_set(j, key, text);
}
