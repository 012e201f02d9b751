/*
 * journal_int.h - what the files of src/journal/ share: the connection struct, the table of
 * prepared statements and small helpers around sqlite3_step. Private to this folder.
 *
 * Design: every statement the journal runs has a slot in enum stmt_id and is prepared once per
 * connection (SQLITE_PREPARE_PERSISTENT) and reset after each use. A callback of a listing call
 * may call back into the journal while the listing statement is still stepping; when the cached
 * statement of a slot is busy, rt__stmt() prepares a temporary copy, so re-entry is safe.
 */
#ifndef RT_JOURNAL_INT_H
#define RT_JOURNAL_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "retraind/journal.h"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_READ_BEGIN,
    ST_DATA_VERSION,
    ST_PARAM_GET,
    ST_PARAM_SET,
    ST_PARAM_LIST,
    ST_STATE_GET,
    ST_STATE_SET,
    ST_EXEC_INSERT,
    ST_EXEC_GET,
    ST_EXEC_EXISTS,
    ST_EXEC_ADVANCE,
    ST_STEP_INSERT,
    ST_STEP_LAST,
    ST_STEP_FINISH,
    ST_STEP_LIST,
    ST_MODEL_PUT,
    ST_MODEL_GET,
    ST_MODEL_ACTIVE,
    ST_MODEL_CLEAR_ACTIVE,
    ST_MODEL_SET_ACTIVE,
    ST_MODEL_LIST,
    ST_REQ_ADD,
    ST_REQ_OLDEST,
    ST_REQ_MARK,
    ST_REQ_PEEK,
    ST_PARAM_DELETE,
    ST_STATE_MAX,
    ST_EXEC_CONTEXT,
    ST_EXEC_CHECKED,
    ST_EXEC_LATEST,
    ST_STEP_OUTPUT_STATE,
    ST_STEP_OUTPUT_LAST,
    ST_MODEL_STATUS,
    ST_MANIFEST_PUT,
    ST_MANIFEST_GET,
    ST_OUTBOX_ADD,
    ST_OUTBOX_UPDATE,
    ST_OUTBOX_DUE,
    ST_OUTBOX_NEXT,
    ST_OUTBOX_MAX,
    ST_EXEC_END_COUNTS,
    ST_EXEC_UNFINISHED_COUNT,
    /* Eight variants of the execution listing: bit 0 workflow filter, bit 1 state filter,
     * bit 2 unfinished only. Their SQL is built by rt__exec_list_sql(). */
    ST_EXEC_LIST_0,
    ST_EXEC_LIST_LAST = ST_EXEC_LIST_0 + 7,
    ST_COUNT
};

/*
 * Statements of the files that own one area of the schema (detections, reviews, ...) are
 * cached in slots of their own, so such a file adds statements without touching enum stmt_id.
 * Each file owns a range of slots, given here.
 */
enum rt__ext_slots {
    RT__EXT_DETECT = 0,  /* detections.c: 0..31 */
    RT__EXT_REVIEW = 32, /* reviews.c: 32..63 */
    RT__EXT_LABEL = 64,  /* label_jobs.c: 64..95 */
    RT__EXT_SLOTS = 96
};

struct rt_journal {
    sqlite3 *db; /* owned */
    enum rt_journal_mode mode;
    int schema;                    /* user_version after open */
    int depth;                     /* nesting depth of rt_journal_begin */
    bool doomed;                   /* a rollback happened inside the current transaction */
    bool reading;                  /* inside rt_journal_read_begin/end */
    sqlite3_stmt *cache[ST_COUNT]; /* owned, prepared on first use */
    char path[4096];
    char data_dir[4096];
    bool reads_only;           /* a writer thread owns the writes (see writer.c) */
    struct rt__writer *writer; /* owned while running, or NULL */
    int64_t id_counter;        /* last execution id number handed out; -1 = not loaded */
    int busy_timeout_ms;       /* 0 = BUSY_TIMEOUT_MS; the writer's connection uses it too */
    int64_t outbox_counter;    /* last notification id handed out; -1 = not loaded */
    sqlite3_stmt *ext_cache[RT__EXT_SLOTS]; /* owned: statements of rt__stmt_ext */
};

struct rt__writer;
/* Stops a writer its owner did not close (see writer.c). */
void rt__writer_abandon(struct rt_journal *j);
/* Applies the writes of b on j, inside the caller's transaction (nested begin/commit).
 * Returns: 0 or the first error, with err filled. */
int rt__batch_run(struct rt_journal *j, const struct rt_jbatch *b, struct rt_error *err);
/* The system_state key of the execution id counter. */
#define RT__EXEC_ID_COUNTER "exec_id_counter"
/* Adds a write that raises the integer state key to at least value. Returns: 0 or RT_ENOMEM. */
int rt__jbatch_state_max(struct rt_jbatch *b, const char *key, int64_t value);
/* Returns: the columns every execution query selects, in read_exec's order. */
#define RT__EXEC_COLUMNS                                                                           \
    "id, workflow, state, started_at, finished_at, error, input, context, checks, last_checked_at"
/* Fills e from a row of RT__EXEC_COLUMNS. Returns: 0 or an error (e cleaned up then). */
int rt__read_exec(sqlite3_stmt *st, struct rt_journal_exec *e);

/* Prepares (or reuses) statement id. Returns: 0 and *out, or RT_EJOURNAL (logged). */
int rt__stmt(struct rt_journal *j, enum stmt_id id, sqlite3_stmt **out);
/* Gives a statement from rt__stmt back: resets the cached one, finalizes a temporary one. */
void rt__stmt_done(struct rt_journal *j, enum stmt_id id, sqlite3_stmt *st);
/* Prepares (or reuses) the statement of extension slot with text sql (the same text every time
 * for a slot). Returns: 0 and *out, or RT_EJOURNAL (logged). */
int rt__stmt_ext(struct rt_journal *j, int slot, const char *sql, sqlite3_stmt **out);
/* Gives a statement from rt__stmt_ext back. */
void rt__stmt_ext_done(struct rt_journal *j, int slot, sqlite3_stmt *st);

/*
 * Batch operations of other files of src/journal: the values of one operation, copied into the
 * batch, and the function the writer applies them with (inside the batch's transaction).
 */
struct rt__op_args {
    const char *s[6]; /* copied strings, or NULL */
    int64_t i[4];
    double d;
    bool flag;
    const void *blob; /* copied, or NULL */
    size_t blob_len;
};
typedef int rt__op_apply_fn(struct rt_journal *j, const struct rt__op_args *a);
/* Adds an operation applied by fn; name names it in error messages (a string literal).
 * a->s and a->blob are copied. Returns: 0 or RT_ENOMEM. */
int rt__jbatch_add_ext(struct rt_jbatch *b,
                       rt__op_apply_fn *fn,
                       const char *name,
                       const struct rt__op_args *a);

/* Logs a failed SQLite call and marks the transaction doomed if SQLite rolled it back.
 * Returns: RT_ENOMEM for SQLITE_NOMEM, else RT_EJOURNAL. */
int rt__fail(struct rt_journal *j, const char *op, int rc);
/* Steps a statement that returns no rows. Returns: 0, -EEXIST on a uniqueness conflict, or the
 * rt__fail code. */
int rt__step_done(struct rt_journal *j, sqlite3_stmt *st, const char *op);
/* Binds s as text, or NULL when s is NULL. The text must outlive the statement's use. */
int rt__bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies column i (text) into a fixed field. Returns: 0 or RT_ETOOBIG (field left truncated). */
int rt__col_copy(sqlite3_stmt *st, int i, char *out, size_t size);
/* Returns: a new copy of column i (caller frees with rt_free), or NULL when it is SQL NULL; sets
 * *rc to RT_ENOMEM when the copy failed. */
char *rt__col_dup(sqlite3_stmt *st, int i, int *rc);
/* Returns: the SQL of listing variant v (0..7), built in buf. */
const char *rt__exec_list_sql(int v, char *buf, size_t size);
/* Returns: true if the write functions may run (read-write, no writer thread owns the writes,
 * no doomed transaction in progress). */
bool rt__writable(struct rt_journal *j);

#endif
