/*
 * reviews.c - review tasks, answers and assignments (see journal_reviews.h).
 *
 * Design: every rule of a task lives here, in the transaction that writes the answer: the task
 * exists and is open, the worker has not answered it, the label is one of its options, the task
 * still needs an answer. The CLI (another process, its own connection) and the daemon's writer
 * thread (batch operations calling the same functions) therefore cannot break them between
 * them, whatever the daemon read before submitting. The answer that completes a task sets its
 * consolidated label and the next answered_seq under the write lock (BEGIN IMMEDIATE), so the
 * sequence grows in commit order: a driver that remembers the largest sequence it has seen finds
 * every later answer with one indexed query, even when the writer's clock disagrees with its own.
 *
 * Serving order ("next task for a worker") is one query per group (sampling or not) on the
 * partial index review_tasks_serve, whose expressions the queries repeat exactly so SQLite walks
 * the index in order and stops at the first task the worker may take; nothing loads every task.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/journal_reviews.h"
#include "retraind/log.h"

enum {
    S_CREATE = RT__EXT_REVIEW,
    S_GET,
    S_ANSWER_INSERT,
    S_ANSWER_COUNT,
    S_CONSOLIDATE,
    S_MARK_ANSWERED,
    S_UNASSIGN_ONE,
    S_UNASSIGN_TASK,
    S_ANSWERS,
    S_ANSWERED_BY,
    S_LIST,
    S_OPEN_STATS,
    S_NEXT_HELD,
    S_NEXT,
    S_UNASSIGN_WORKER,
    S_ASSIGN,
    S_ANSWERED_MAX,
    S_ANSWERED_AFTER,
    S_REOPEN,
    S_LAST
};
_Static_assert(S_LAST <= RT__EXT_REVIEW + 32, "reviews.c owns 32 statement slots");

/* The columns read_task reads, in its order; t is review_tasks. */
#define TASK_COLUMNS                                                                               \
    "t.id, t.source, t.exec_id, t.job, t.key, t.detected_label, t.confidence, t.model_version, "   \
    "t.options, t.instructions, t.answers_needed, t.answers, t.state, t.result, t.created_at, "    \
    "t.answered_at, t.answered_seq, "                                                              \
    "(SELECT d.request_id FROM detections d WHERE d.exec_id = t.exec_id LIMIT 1)"

static const char *const sql_create =
    "INSERT OR IGNORE INTO review_tasks (id, source, exec_id, job, key, detected_label, "
    "confidence, model_version, options, instructions, answers_needed, answers, state, "
    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 'open', ?12)";
static const char *const sql_get = "SELECT " TASK_COLUMNS " FROM review_tasks t WHERE t.id = ?1";
static const char *const sql_answer_insert =
    "INSERT INTO review_answers (task_id, worker, label, answered_at, accepted_at) VALUES "
    "(?1, ?2, ?3, ?4, (SELECT min(assigned_at, ?4) FROM review_assignments WHERE task_id = ?1 "
    "AND worker = ?2))";
static const char *const sql_answer_count =
    "UPDATE review_tasks SET answers = answers + 1 WHERE id = ?1";
/* Majority; a tie goes to the label whose first answer came first. */
static const char *const sql_consolidate =
    "SELECT label FROM review_answers WHERE task_id = ?1 GROUP BY label "
    "ORDER BY count(*) DESC, min(answered_at), min(rowid) LIMIT 1";
static const char *const sql_mark_answered =
    "UPDATE review_tasks SET state = 'answered', result = ?2, answered_at = ?3, "
    "answered_seq = (SELECT ifnull(max(answered_seq), 0) + 1 FROM review_tasks) WHERE id = ?1";
static const char *const sql_unassign_one =
    "DELETE FROM review_assignments WHERE task_id = ?1 AND worker = ?2";
static const char *const sql_unassign_task = "DELETE FROM review_assignments WHERE task_id = ?1";
static const char *const sql_answers =
    "SELECT worker, label, answered_at, ifnull(accepted_at, answered_at) FROM review_answers "
    "WHERE task_id = ?1 ORDER BY answered_at, rowid";
static const char *const sql_answered_by =
    "SELECT 1 FROM review_answers WHERE task_id = ?1 AND worker = ?2";
static const char *const sql_list =
    "SELECT " TASK_COLUMNS " FROM review_tasks t WHERE (?1 IS NULL OR t.state = ?1) AND "
    "(?2 IS NULL OR t.source = ?2) ORDER BY t.created_at DESC, t.id DESC LIMIT ?3";
static const char *const sql_open_stats =
    "SELECT count(*), ifnull(min(created_at), 0) FROM review_tasks WHERE state = 'open'";
/* The task worker holds (a reload of the portal page gets the same image). */
static const char *const sql_next_held =
    "SELECT " TASK_COLUMNS " FROM review_assignments a JOIN review_tasks t ON t.id = a.task_id "
    "WHERE a.worker = ?1 AND a.expires_at > ?2 AND t.state = 'open' AND t.answers < "
    "t.answers_needed AND NOT EXISTS (SELECT 1 FROM review_answers r WHERE r.task_id = t.id AND "
    "r.worker = ?1) ORDER BY a.assigned_at DESC LIMIT 1";
/* ?3: 1 for the sampling group, 0 for the others. The ORDER BY and the group test repeat the
 * expressions of review_tasks_serve, so the index gives the order. The last column (NEXT_FREE)
 * is how many more workers the task can take. */
#define NEXT_FREE 18
static const char *const sql_next =
    "SELECT " TASK_COLUMNS ", t.answers_needed - t.answers - (SELECT count(*) FROM "
    "review_assignments s WHERE s.task_id = t.id AND s.worker <> ?1 AND s.expires_at > ?2) "
    "FROM review_tasks t WHERE t.state = 'open' AND "
    "(t.source = 'sampling') = ?3 AND NOT EXISTS (SELECT 1 FROM review_answers r WHERE "
    "r.task_id = t.id AND r.worker = ?1) AND t.answers + (SELECT count(*) FROM "
    "review_assignments s WHERE s.task_id = t.id AND s.worker <> ?1 AND s.expires_at > ?2) < "
    "t.answers_needed ORDER BY ifnull(t.confidence, 1000.0), t.created_at, t.id LIMIT ?4";
static const char *const sql_unassign_worker = "DELETE FROM review_assignments WHERE worker = ?1";
static const char *const sql_assign = "INSERT OR REPLACE INTO review_assignments (task_id, worker, "
                                      "assigned_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
static const char *const sql_answered_max = "SELECT ifnull(max(answered_seq), 0) FROM review_tasks";
/* Only upwards: answers are never taken back. answered_seq stays, so the largest sequence
 * never goes down and the next completion of this task gets a sequence above every cursor. */
static const char *const sql_reopen =
    "UPDATE review_tasks SET state = 'open', answers_needed = ?2, result = NULL, answered_at = "
    "NULL WHERE id = ?1 AND state IN ('open', 'answered') AND answers < ?2";
static const char *const sql_answered_after =
    "SELECT id, answered_seq FROM review_tasks WHERE answered_seq > ?1 AND state = 'answered' "
    "ORDER BY answered_seq LIMIT ?2";

void rt_journal_review_cleanup(struct rt_journal_review *t)
{
    if (!t)
        return;
    rt_free(t->job);
    rt_free(t->key);
    rt_free(t->detected_label);
    rt_free(t->model_version);
    rt_free(t->options);
    rt_free(t->instructions);
    rt_free(t->result);
    rt_free(t->request_id);
    memset(t, 0, sizeof(*t));
}

/* Fills t from a row of TASK_COLUMNS. Returns: 0 or an error (t cleaned up then). */
static int read_task(sqlite3_stmt *st, struct rt_journal_review *t)
{
    memset(t, 0, sizeof(*t));
    int rc = rt__col_copy(st, 0, t->id, sizeof(t->id));
    if (!rc)
        rc = rt__col_copy(st, 1, t->source, sizeof(t->source));
    if (!rc)
        rc = rt__col_copy(st, 2, t->exec_id, sizeof(t->exec_id));
    if (!rc)
        rc = rt__col_copy(st, 12, t->state, sizeof(t->state));
    if (rc) {
        rt_journal_review_cleanup(t);
        return rc;
    }
    t->job = rt__col_dup(st, 3, &rc);
    t->key = rt__col_dup(st, 4, &rc);
    t->detected_label = rt__col_dup(st, 5, &rc);
    t->confidence = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 6);
    t->model_version = rt__col_dup(st, 7, &rc);
    t->options = rt__col_dup(st, 8, &rc);
    t->instructions = rt__col_dup(st, 9, &rc);
    t->answers_needed = sqlite3_column_int(st, 10);
    t->answers = sqlite3_column_int(st, 11);
    t->result = rt__col_dup(st, 13, &rc);
    t->created_ms = sqlite3_column_int64(st, 14);
    t->answered_ms = sqlite3_column_int64(st, 15);
    t->answered_seq = sqlite3_column_int64(st, 16);
    t->request_id = rt__col_dup(st, 17, &rc);
    if (!rc && !t->key)
        rc = RT_EJOURNAL; /* NOT NULL in the schema */
    if (rc)
        rt_journal_review_cleanup(t);
    return rc;
}

/* ---- checking and creating ---- */

static bool known_source(const char *s)
{
    return s && (strcmp(s, RT_REVIEW_SOURCE_DETECTION) == 0 ||
                 strcmp(s, RT_REVIEW_SOURCE_SAMPLING) == 0 ||
                 strcmp(s, RT_REVIEW_SOURCE_LABELING_JOB) == 0);
}

int rt_journal_review_check(const struct rt_review_task *t, struct rt_error *err)
{
    if (!t || !t->id || !*t->id || strlen(t->id) > RT_REVIEW_TASK_ID_MAX)
        return rt_error_set(err, RT_EINVAL, "a review task needs an id of 1 to %d characters",
                            RT_REVIEW_TASK_ID_MAX);
    if (!known_source(t->source))
        return rt_error_set(err, RT_EINVAL, "review task %s: unknown source \"%s\"", t->id,
                            t->source ? t->source : "");
    if (!t->key || !*t->key)
        return rt_error_set(err, RT_EINVAL, "review task %s: no image key", t->id);
    if (t->exec_id && strlen(t->exec_id) >= 64)
        return rt_error_set(err, RT_EINVAL, "review task %s: execution id too long", t->id);
    if (!t->options || t->n_options < 2 || t->n_options > RT_REVIEW_MAX_OPTIONS)
        return rt_error_set(err, RT_EINVAL, "review task %s: needs 2 to %d options, not %zu", t->id,
                            RT_REVIEW_MAX_OPTIONS, t->options ? t->n_options : 0);
    for (size_t i = 0; i < t->n_options; i++) {
        if (!t->options[i] || !*t->options[i] || strlen(t->options[i]) >= 128)
            return rt_error_set(err, RT_EINVAL,
                                "review task %s: option %zu is empty or longer than 127 bytes",
                                t->id, i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(t->options[k], t->options[i]) == 0)
                return rt_error_set(err, RT_EINVAL, "review task %s: option \"%s\" twice", t->id,
                                    t->options[i]);
    }
    return 0;
}

/* Returns: new JSON text of the options (caller frees with rt_free), or NULL. */
static char *options_json(const char *const *options, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *s = cJSON_CreateString(options[i]);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    if (!text)
        return NULL;
    char *out = rt_malloc(strlen(text) + 1);
    if (out)
        memcpy(out, text, strlen(text) + 1);
    cJSON_free(text);
    return out;
}

/* The fields of a task as create writes them (options already JSON). */
struct task_row {
    const char *id, *source, *exec_id, *job, *key, *detected_label, *model_version, *options,
        *instructions;
    double confidence;
    int64_t answers_needed;
};

static int insert_task(struct rt_journal *j, const struct task_row *r, int64_t now_ms)
{
    if (!rt__writable(j))
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_CREATE, sql_create, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, r->id);
    rt__bind_text(st, 2, r->source);
    rt__bind_text(st, 3, r->exec_id && *r->exec_id ? r->exec_id : NULL);
    rt__bind_text(st, 4, r->job);
    rt__bind_text(st, 5, r->key);
    rt__bind_text(st, 6, r->detected_label);
    if (r->confidence >= 0)
        sqlite3_bind_double(st, 7, r->confidence);
    else
        sqlite3_bind_null(st, 7);
    rt__bind_text(st, 8, r->model_version);
    rt__bind_text(st, 9, r->options);
    rt__bind_text(st, 10, r->instructions);
    sqlite3_bind_int64(st, 11, r->answers_needed < 1 ? 1 : r->answers_needed);
    sqlite3_bind_int64(st, 12, now_ms);
    rc = rt__step_done(j, st, "create review task");
    bool created = sqlite3_changes(j->db) > 0;
    rt__stmt_ext_done(j, S_CREATE, st);
    if (!rc && created)
        RT_LOG(RT_LOG_DEBUG, "journal", "event=review_created task=%s source=%s key=%s",
               rt_q(r->id), rt_q(r->source), rt_q(r->key));
    return rc;
}

static struct task_row task_row_of(const struct rt_review_task *t, const char *options)
{
    return (struct task_row){.id = t->id,
                             .source = t->source,
                             .exec_id = t->exec_id,
                             .job = t->job,
                             .key = t->key,
                             .detected_label = t->detected_label,
                             .model_version = t->model_version,
                             .options = options,
                             .instructions = t->instructions,
                             .confidence = t->confidence,
                             .answers_needed = t->answers_needed};
}

int rt_journal_review_create(struct rt_journal *j, const struct rt_review_task *t, int64_t now_ms)
{
    int rc = rt_journal_review_check(t, NULL);
    if (rc)
        return rc;
    char *options = options_json(t->options, t->n_options);
    if (!options)
        return RT_ENOMEM;
    struct task_row r = task_row_of(t, options);
    rc = insert_task(j, &r, now_ms);
    rt_free(options);
    return rc;
}

/* ---- reading ---- */

int rt_journal_review_get(struct rt_journal *j, const char *id, struct rt_journal_review *out)
{
    memset(out, 0, sizeof(*out));
    if (!id)
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_GET, sql_get, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_task(st, out);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "get review task", s);
    rt__stmt_ext_done(j, S_GET, st);
    return rc;
}

bool rt_journal_review_has_option(const struct rt_journal_review *t, const char *label)
{
    if (!t->options || !label)
        return false;
    cJSON *a = cJSON_Parse(t->options);
    bool found = false;
    const cJSON *o;
    cJSON_ArrayForEach(o, a)
    {
        const char *s = cJSON_GetStringValue(o);
        if (s && strcmp(s, label) == 0) {
            found = true;
            break;
        }
    }
    cJSON_Delete(a);
    return found;
}

int rt_journal_review_answers(struct rt_journal *j,
                              const char *id,
                              rt_journal_review_answer_fn *cb,
                              void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_ANSWERS, sql_answers, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_review_answer a = {
            .worker = (const char *)sqlite3_column_text(st, 0),
            .label = (const char *)sqlite3_column_text(st, 1),
            .at_ms = sqlite3_column_int64(st, 2),
            .accepted_ms = sqlite3_column_int64(st, 3),
        };
        if (!a.worker || !a.label) {
            rc = RT_ENOMEM;
            break;
        }
        if (cb(&a, ud))
            break;
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = rt__fail(j, "review answers", s);
    rt__stmt_ext_done(j, S_ANSWERS, st);
    return rc;
}

bool rt_journal_review_answered_by(struct rt_journal *j, const char *id, const char *worker)
{
    sqlite3_stmt *st;
    if (rt__stmt_ext(j, S_ANSWERED_BY, sql_answered_by, &st))
        return false;
    rt__bind_text(st, 1, id);
    rt__bind_text(st, 2, worker);
    bool yes = sqlite3_step(st) == SQLITE_ROW;
    rt__stmt_ext_done(j, S_ANSWERED_BY, st);
    return yes;
}

int rt_journal_review_list(struct rt_journal *j,
                           const struct rt_journal_review_filter *f,
                           rt_journal_review_fn *cb,
                           void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_LIST, sql_list, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, f ? f->state : NULL);
    rt__bind_text(st, 2, f ? f->source : NULL);
    sqlite3_bind_int(st, 3, f && f->limit > 0 ? f->limit : 100);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_review t;
        rc = read_task(st, &t);
        if (rc)
            break;
        int stop = cb(&t, ud);
        rt_journal_review_cleanup(&t);
        if (stop)
            break;
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = rt__fail(j, "list review tasks", s);
    rt__stmt_ext_done(j, S_LIST, st);
    return rc;
}

int rt_journal_review_open_stats(struct rt_journal *j, int64_t *open, int64_t *oldest_ms)
{
    if (open)
        *open = 0;
    if (oldest_ms)
        *oldest_ms = 0;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_OPEN_STATS, sql_open_stats, &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if (open)
            *open = sqlite3_column_int64(st, 0);
        if (oldest_ms)
            *oldest_ms = sqlite3_column_int64(st, 1);
    } else {
        rc = rt__fail(j, "open review stats", s);
    }
    rt__stmt_ext_done(j, S_OPEN_STATS, st);
    return rc;
}

/* ---- answering ---- */

/* Runs the write statement of slot with one or two text binds (b NULL: one). */
static int write2(struct rt_journal *j, int slot, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, slot, sql, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, a);
    if (b)
        rt__bind_text(st, 2, b);
    rc = rt__step_done(j, st, "review write");
    rt__stmt_ext_done(j, slot, st);
    return rc;
}

/* The consolidated label of task id into out. */
static int consolidate(struct rt_journal *j, const char *id, char *out, size_t size)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_CONSOLIDATE, sql_consolidate, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = rt__col_copy(st, 0, out, size);
    else if (s == SQLITE_DONE)
        rc = RT_EJOURNAL; /* an answer was just written: a task cannot have none */
    else
        rc = rt__fail(j, "consolidate review", s);
    rt__stmt_ext_done(j, S_CONSOLIDATE, st);
    return rc;
}

static int mark_answered(struct rt_journal *j, const char *id, const char *result, int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_MARK_ANSWERED, sql_mark_answered, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    rt__bind_text(st, 2, result);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = rt__step_done(j, st, "mark review answered");
    rt__stmt_ext_done(j, S_MARK_ANSWERED, st);
    return rc;
}

/* The checks and writes of an answer, inside the caller's transaction. */
static int answer_in_tx(struct rt_journal *j,
                        const char *task_id,
                        const char *worker,
                        const char *label,
                        int64_t now_ms,
                        struct rt_journal_review_outcome *out,
                        bool *wrote)
{
    struct rt_journal_review t;
    int rc = rt_journal_review_get(j, task_id, &t);
    if (rc)
        return rc;
    if (rt_journal_review_answered_by(j, task_id, worker))
        rc = -EEXIST;
    else if (strcmp(t.state, "open") != 0 || t.answers >= t.answers_needed)
        rc = -EALREADY;
    else if (!rt_journal_review_has_option(&t, label))
        rc = RT_EINVAL;
    int answers = t.answers + 1, needed = t.answers_needed;
    rt_journal_review_cleanup(&t);
    if (rc)
        return rc;

    *wrote = true;
    sqlite3_stmt *st;
    rc = rt__stmt_ext(j, S_ANSWER_INSERT, sql_answer_insert, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, task_id);
    rt__bind_text(st, 2, worker);
    rt__bind_text(st, 3, label);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = rt__step_done(j, st, "insert review answer");
    rt__stmt_ext_done(j, S_ANSWER_INSERT, st);
    if (!rc)
        rc = write2(j, S_ANSWER_COUNT, sql_answer_count, task_id, NULL);
    char result[128] = "";
    bool completed = answers >= needed;
    if (!rc && completed) {
        rc = consolidate(j, task_id, result, sizeof(result));
        if (!rc)
            rc = mark_answered(j, task_id, result, now_ms);
        if (!rc)
            rc = write2(j, S_UNASSIGN_TASK, sql_unassign_task, task_id, NULL);
    } else if (!rc) {
        rc = write2(j, S_UNASSIGN_ONE, sql_unassign_one, task_id, worker);
    }
    if (!rc && out) {
        out->completed = completed;
        out->answers = answers;
        out->answers_needed = needed;
        rt_strlcpy(out->result, result, sizeof(out->result));
    }
    return rc;
}

int rt_journal_review_answer(struct rt_journal *j,
                             const char *task_id,
                             const char *worker,
                             const char *label,
                             int64_t now_ms,
                             struct rt_journal_review_outcome *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!task_id)
        return RT_ENOTFOUND;
    if (!worker || !*worker || !label)
        return RT_EINVAL;
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    bool wrote = false;
    rc = answer_in_tx(j, task_id, worker, label, now_ms, out, &wrote);
    if (rc && wrote) {
        rt_journal_rollback(j);
        return rc;
    }
    /* A refusal wrote nothing: the caller's transaction stays usable. */
    int crc = rt_journal_commit(j);
    if (rc)
        return crc ? crc : rc;
    if (crc)
        return crc;
    RT_LOG(RT_LOG_INFO, "journal", "event=review_answer task=%s worker=%s label=%s%s",
           rt_q(task_id), rt_q(worker), rt_q(label),
           out && out->completed ? " state=answered" : "");
    return 0;
}

/* ---- serving and assignments ---- */

static size_t count_pending(const char *id, const char *const *pending, size_t n_pending)
{
    size_t n = 0;
    for (size_t i = 0; i < n_pending; i++)
        if (pending[i] && strcmp(pending[i], id) == 0)
            n++;
    return n;
}

/* Runs a next query (held, or a group); takes the first row that still has room for this
 * worker once the assignments being written (pending) are counted. */
static int next_query(struct rt_journal *j,
                      int slot,
                      const char *sql,
                      const char *worker,
                      int64_t now_ms,
                      int group,
                      const char *const *pending,
                      size_t n_pending,
                      struct rt_journal_review *out)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, slot, sql, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, worker);
    sqlite3_bind_int64(st, 2, now_ms);
    if (group >= 0) {
        sqlite3_bind_int(st, 3, group);
        /* One more than the assignments being written: each of them can fill at most one row. */
        sqlite3_bind_int64(st, 4, (sqlite3_int64)n_pending + 1);
    }
    rc = RT_ENOTFOUND;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (group >= 0 && id &&
            (int64_t)count_pending(id, pending, n_pending) >= sqlite3_column_int64(st, NEXT_FREE))
            continue;
        rc = read_task(st, out);
        break;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = rt__fail(j, "next review task", s);
    rt__stmt_ext_done(j, slot, st);
    return rc;
}

int rt_journal_review_next(struct rt_journal *j,
                           const char *worker,
                           int64_t now_ms,
                           bool sampling_first,
                           const char *const *pending,
                           size_t n_pending,
                           struct rt_journal_review *out)
{
    memset(out, 0, sizeof(*out));
    if (!worker || !*worker)
        return RT_EINVAL;
    int rc = next_query(j, S_NEXT_HELD, sql_next_held, worker, now_ms, -1, NULL, 0, out);
    if (rc != RT_ENOTFOUND)
        return rc;
    int first = sampling_first ? 1 : 0;
    rc = next_query(j, S_NEXT, sql_next, worker, now_ms, first, pending, n_pending, out);
    if (rc == RT_ENOTFOUND)
        rc = next_query(j, S_NEXT, sql_next, worker, now_ms, !first, pending, n_pending, out);
    return rc;
}

int rt_journal_review_assign(struct rt_journal *j,
                             const char *task_id,
                             const char *worker,
                             int64_t now_ms,
                             int64_t expires_ms)
{
    if (!task_id || !worker || !*worker)
        return RT_EINVAL;
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    rc = write2(j, S_UNASSIGN_WORKER, sql_unassign_worker, worker, NULL);
    if (!rc) {
        sqlite3_stmt *st;
        rc = rt__stmt_ext(j, S_ASSIGN, sql_assign, &st);
        if (!rc) {
            rt__bind_text(st, 1, task_id);
            rt__bind_text(st, 2, worker);
            sqlite3_bind_int64(st, 3, now_ms);
            sqlite3_bind_int64(st, 4, expires_ms);
            rc = rt__step_done(j, st, "assign review task");
            rt__stmt_ext_done(j, S_ASSIGN, st);
        }
    }
    /* A task that no longer exists (foreign key) is not an error worth failing a batch for: it
     * cannot happen today (tasks are never deleted), and the assignment would simply expire. */
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    return rt_journal_commit(j);
}

int rt_journal_review_reopen(struct rt_journal *j, const char *task_id, int answers_needed)
{
    if (!task_id || answers_needed < 1)
        return RT_EINVAL;
    if (!rt__writable(j))
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_REOPEN, sql_reopen, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, task_id);
    sqlite3_bind_int(st, 2, answers_needed);
    rc = rt__step_done(j, st, "reopen review task");
    bool changed = sqlite3_changes(j->db) > 0;
    rt__stmt_ext_done(j, S_REOPEN, st);
    if (rc)
        return rc;
    if (changed)
        return 0;
    struct rt_journal_review t;
    rc = rt_journal_review_get(j, task_id, &t);
    if (rc)
        return rc;
    rc = t.answers >= answers_needed || strcmp(t.state, "cancelled") == 0 ? RT_EINVAL : 0;
    rt_journal_review_cleanup(&t);
    return rc;
}

/* ---- the cursor of answered tasks ---- */

int64_t rt_journal_review_answered_max(struct rt_journal *j)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_ANSWERED_MAX, sql_answered_max, &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    int64_t v = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rt__fail(j, "answered max", s);
    rt__stmt_ext_done(j, S_ANSWERED_MAX, st);
    return v;
}

int rt_journal_review_answered_after(
    struct rt_journal *j, int64_t after_seq, int limit, rt_journal_review_seq_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_ANSWERED_AFTER, sql_answered_after, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!id) {
            rc = RT_ENOMEM;
            break;
        }
        if (cb(id, sqlite3_column_int64(st, 1), ud))
            break;
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = rt__fail(j, "answered after", s);
    rt__stmt_ext_done(j, S_ANSWERED_AFTER, st);
    return rc;
}

/* ---- batch operations ---- */

/*
 * create carries nine strings; the args hold six. The last three (model_version, instructions,
 * the options' JSON) travel packed in the blob: per string a presence byte ('0' or '1') and the
 * text with its NUL.
 */
static int pack(struct rt_buf *b, const char *s)
{
    int rc = rt_buf_append_char(b, s ? '1' : '0');
    if (!rc && s)
        rc = rt_buf_append(b, s, strlen(s) + 1);
    return rc;
}

/* Reads the next packed string from *p (within end). Returns: 0 and *s (NULL for absent), or
 * RT_EINVAL for a damaged blob. */
static int unpack(const char **p, const char *end, const char **s)
{
    if (*p >= end)
        return RT_EINVAL;
    char flag = *(*p)++;
    if (flag == '0') {
        *s = NULL;
        return 0;
    }
    const char *nul = memchr(*p, '\0', (size_t)(end - *p));
    if (flag != '1' || !nul)
        return RT_EINVAL;
    *s = *p;
    *p = nul + 1;
    return 0;
}

static int apply_create(struct rt_journal *j, const struct rt__op_args *a)
{
    const char *p = a->blob, *end = p ? p + a->blob_len : NULL;
    struct task_row r = {.id = a->s[0],
                         .source = a->s[1],
                         .exec_id = a->s[2],
                         .job = a->s[3],
                         .key = a->s[4],
                         .detected_label = a->s[5],
                         .confidence = a->d,
                         .answers_needed = a->i[1]};
    if (!p || unpack(&p, end, &r.model_version) || unpack(&p, end, &r.instructions) ||
        unpack(&p, end, &r.options) || !r.options)
        return RT_EINVAL;
    return insert_task(j, &r, a->i[0]);
}

int rt_jbatch_review_create(struct rt_jbatch *b, const struct rt_review_task *t, int64_t now_ms)
{
    int rc = rt_journal_review_check(t, NULL);
    if (rc)
        return rc;
    char *options = options_json(t->options, t->n_options);
    if (!options)
        return RT_ENOMEM;
    struct rt_buf packed;
    rt_buf_init(&packed, 1 << 20);
    rc = pack(&packed, t->model_version);
    if (!rc)
        rc = pack(&packed, t->instructions);
    if (!rc)
        rc = pack(&packed, options);
    rt_free(options);
    if (!rc) {
        struct rt__op_args a = {
            .s = {t->id, t->source, t->exec_id, t->job, t->key, t->detected_label},
            .i = {now_ms, t->answers_needed},
            .d = t->confidence,
            .blob = packed.data,
            .blob_len = packed.len};
        rc = rt__jbatch_add_ext(b, apply_create, "review_create", &a);
    }
    rt_buf_cleanup(&packed);
    return rc == RT_ETOOBIG ? RT_EINVAL : rc;
}

static int apply_answer(struct rt_journal *j, const struct rt__op_args *a)
{
    return rt_journal_review_answer(j, a->s[0], a->s[1], a->s[2], a->i[0], NULL);
}

int rt_jbatch_review_answer(
    struct rt_jbatch *b, const char *task_id, const char *worker, const char *label, int64_t now_ms)
{
    if (!task_id || !worker || !label)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id, worker, label}, .i = {now_ms}};
    return rt__jbatch_add_ext(b, apply_answer, "review_answer", &a);
}

static int apply_reopen(struct rt_journal *j, const struct rt__op_args *a)
{
    return rt_journal_review_reopen(j, a->s[0], (int)a->i[0]);
}

int rt_jbatch_review_reopen(struct rt_jbatch *b, const char *task_id, int answers_needed)
{
    if (!task_id || answers_needed < 1)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id}, .i = {answers_needed}};
    return rt__jbatch_add_ext(b, apply_reopen, "review_reopen", &a);
}

static int apply_assign(struct rt_journal *j, const struct rt__op_args *a)
{
    return rt_journal_review_assign(j, a->s[0], a->s[1], a->i[0], a->i[1]);
}

int rt_jbatch_review_assign(struct rt_jbatch *b,
                            const char *task_id,
                            const char *worker,
                            int64_t now_ms,
                            int64_t expires_ms)
{
    if (!task_id || !worker)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id, worker}, .i = {now_ms, expires_ms}};
    return rt__jbatch_add_ext(b, apply_assign, "review_assign", &a);
}
