/*
 * models.c - model versions and CLI requests in the journal (see journal.h).
 *
 * At most one model is active: the partial unique index models_one_active enforces it in the
 * database, and rt_journal_model_set_active clears the others in the same transaction. Requests
 * are a FIFO: taking the oldest marks it taken in the transaction that read it, so two takers
 * (say, a restarted daemon racing its old self) never get the same request.
 */
#include <string.h>

#include "journal_int.h"
#include "retraind/buf.h"
#include "retraind/log.h"

static int read_model(sqlite3_stmt *st, struct rt_journal_model *m)
{
    memset(m, 0, sizeof(*m));
    int rc = rt__col_copy(st, 0, m->version, sizeof(m->version));
    if (!rc)
        rc = rt__col_copy(st, 1, m->exec_id, sizeof(m->exec_id));
    if (!rc)
        rc = rt__col_copy(st, 2, m->status, sizeof(m->status));
    m->f1 = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 3);
    m->images = sqlite3_column_int64(st, 4);
    m->created_ms = sqlite3_column_int64(st, 5);
    m->deployed_ms = sqlite3_column_int64(st, 6);
    m->stopped_ms = sqlite3_column_int64(st, 7);
    m->active = sqlite3_column_int(st, 8) != 0;
    return rc;
}

static void bind_ms_or_null(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

int rt_journal_model_put(struct rt_journal *j, const struct rt_journal_model *m)
{
    if (!m || !m->version[0] || !m->status[0])
        return RT_EINVAL;
    if (!rt__writable(j))
        return j->mode == RT_JOURNAL_READWRITE && !j->reads_only ? RT_EJOURNAL : RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_MODEL_PUT, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, m->version);
    rt__bind_text(st, 2, m->exec_id[0] ? m->exec_id : NULL);
    rt__bind_text(st, 3, m->status);
    if (m->f1 < 0)
        sqlite3_bind_null(st, 4);
    else
        sqlite3_bind_double(st, 4, m->f1);
    sqlite3_bind_int64(st, 5, m->images);
    sqlite3_bind_int64(st, 6, m->created_ms);
    bind_ms_or_null(st, 7, m->deployed_ms);
    bind_ms_or_null(st, 8, m->stopped_ms);
    rc = rt__step_done(j, st, "put model");
    rt__stmt_done(j, ST_MODEL_PUT, st);
    return rc;
}

static int
get_one(struct rt_journal *j, enum stmt_id id, const char *version, struct rt_journal_model *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    if (version)
        rt__bind_text(st, 1, version);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_model(st, out);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "get model", s);
    rt__stmt_done(j, id, st);
    return rc;
}

int rt_journal_model_get(struct rt_journal *j, const char *version, struct rt_journal_model *out)
{
    if (!version)
        return RT_EINVAL;
    return get_one(j, ST_MODEL_GET, version, out);
}

int rt_journal_model_get_active(struct rt_journal *j, struct rt_journal_model *out)
{
    return get_one(j, ST_MODEL_ACTIVE, NULL, out);
}

int rt_journal_model_set_active(struct rt_journal *j, const char *version, int64_t now_ms)
{
    if (!version)
        return RT_EINVAL;
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = rt__stmt(j, ST_MODEL_CLEAR_ACTIVE, &st);
    if (!rc) {
        rt__bind_text(st, 1, version);
        rc = rt__step_done(j, st, "clear active model");
        rt__stmt_done(j, ST_MODEL_CLEAR_ACTIVE, st);
    }
    if (!rc)
        rc = rt__stmt(j, ST_MODEL_SET_ACTIVE, &st);
    if (!rc) {
        rt__bind_text(st, 1, version);
        sqlite3_bind_int64(st, 2, now_ms);
        rc = rt__step_done(j, st, "set active model");
        rt__stmt_done(j, ST_MODEL_SET_ACTIVE, st);
        /* Read on the same connection right after the step, before anything else runs. */
        if (!rc && sqlite3_changes(j->db) == 0)
            rc = RT_ENOTFOUND;
    }
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    rc = rt_journal_commit(j);
    if (!rc)
        RT_LOG(RT_LOG_INFO, "journal", "event=model_active version=%s", rt_q(version));
    return rc;
}

int rt_journal_model_list(struct rt_journal *j, rt_journal_model_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_MODEL_LIST, &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_model m;
        rc = read_model(st, &m);
        if (!rc)
            rc = cb(&m, ud);
        if (rc)
            break;
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "list models", s);
    rt__stmt_done(j, ST_MODEL_LIST, st);
    return rc;
}

int rt_journal_request_add(struct rt_journal *j, const char *kind, int64_t now_ms)
{
    if (!kind || !*kind)
        return RT_EINVAL;
    if (!rt__writable(j))
        return j->mode == RT_JOURNAL_READWRITE && !j->reads_only ? RT_EJOURNAL : RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_REQ_ADD, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, kind);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = rt__step_done(j, st, "add request");
    rt__stmt_done(j, ST_REQ_ADD, st);
    if (!rc)
        RT_LOG(RT_LOG_INFO, "journal", "event=request_added kind=%s", rt_q(kind));
    return rc;
}

int rt_journal_request_take(struct rt_journal *j, char *out, size_t size, int64_t now_ms)
{
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    int64_t id = 0;
    rc = rt__stmt(j, ST_REQ_OLDEST, &st);
    if (!rc) {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            /* A kind too long for out is still marked taken: left pending it would block the
             * queue forever. The caller sees RT_ETOOBIG. */
            rc = rt__col_copy(st, 1, out, size);
            if (rc)
                RT_LOG(RT_LOG_WARNING, "journal", "event=request_dropped id=%lld reason=too_long",
                       (long long)id);
        } else if (s == SQLITE_DONE) {
            rc = RT_ENOTFOUND;
        } else {
            rc = rt__fail(j, "oldest request", s);
        }
        rt__stmt_done(j, ST_REQ_OLDEST, st);
    }
    if (rc == RT_ENOTFOUND) {
        int crc = rt_journal_commit(j);
        return crc ? crc : RT_ENOTFOUND;
    }
    int take_rc = rc;
    if (rc == 0 || rc == RT_ETOOBIG) {
        rc = rt__stmt(j, ST_REQ_MARK, &st);
        if (!rc) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now_ms);
            rc = rt__step_done(j, st, "take request");
            rt__stmt_done(j, ST_REQ_MARK, st);
        }
    }
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    rc = rt_journal_commit(j);
    return rc ? rc : take_rc;
}
