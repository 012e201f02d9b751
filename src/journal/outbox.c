/*
 * outbox.c - reads of the notification outbox and of manifest key sets, request peeking and
 * parameter deletion (see journal.h).
 *
 * Design: the outbox is written only in the transaction of the state change that causes a
 * notification (DESIGN.md "Notifications are an outbox"), so a notification exists exactly when
 * its cause committed. Its id is chosen by the daemon before the write (rt_journal_outbox_max_id
 * + 1, counted on the loop), so the id a notifier sees is stable across every delivery attempt.
 */
#include <string.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/log.h"

void rt_journal_outbox_cleanup(struct rt_journal_outbox *o)
{
    if (!o)
        return;
    rt_free(o->event);
    rt_free(o->delivered);
    o->event = o->delivered = NULL;
}

int rt_journal_outbox_due(
    struct rt_journal *j, int64_t now_ms, int limit, rt_journal_outbox_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_OUTBOX_DUE, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_outbox o;
        memset(&o, 0, sizeof(o));
        o.id = sqlite3_column_int64(st, 0);
        rc = rt__col_copy(st, 1, o.exec_id, sizeof(o.exec_id));
        if (!rc)
            rc = rt__col_copy(st, 2, o.kind, sizeof(o.kind));
        if (!rc) {
            o.event = rt__col_dup(st, 3, &rc);
            o.created_ms = sqlite3_column_int64(st, 4);
            o.attempts = sqlite3_column_int64(st, 5);
            o.next_ms = sqlite3_column_int64(st, 6);
            o.delivered = rt__col_dup(st, 7, &rc);
        }
        if (!rc)
            rc = cb(&o, ud);
        rt_journal_outbox_cleanup(&o);
        if (rc)
            break;
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "outbox due", s);
    rt__stmt_done(j, ST_OUTBOX_DUE, st);
    return rc;
}

/* Runs a one-row, one-integer query; NULL reads as 0. Returns: 0 and *v (0 on error too), or
 * the error. */
static int one_int(struct rt_journal *j, enum stmt_id id, const char *what, int64_t *v)
{
    *v = 0;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else if (s != SQLITE_DONE)
        rc = rt__fail(j, what, s);
    rt__stmt_done(j, id, st);
    return rc;
}

int64_t rt_journal_outbox_next_due(struct rt_journal *j)
{
    int64_t v;
    return one_int(j, ST_OUTBOX_NEXT, "outbox next", &v) ? -1 : v;
}

int64_t rt_journal_outbox_max_id(struct rt_journal *j)
{
    int64_t v;
    one_int(j, ST_OUTBOX_MAX, "outbox max id", &v);
    return v;
}

int rt_journal_outbox_reserve_id(struct rt_journal *j, int64_t *id)
{
    *id = 0;
    if (j->outbox_counter < 0) {
        /* Counting from 0 after a failed read would hand out ids rows already have. */
        int64_t max;
        int rc = one_int(j, ST_OUTBOX_MAX, "outbox max id", &max);
        if (rc)
            return rc;
        j->outbox_counter = max;
    }
    *id = ++j->outbox_counter;
    return 0;
}

int rt_journal_manifest_keys_get(
    struct rt_journal *j, const char *exec_id, uint64_t **hashes, size_t *n, int64_t *images)
{
    *hashes = NULL;
    *n = 0;
    *images = 0;
    if (!exec_id)
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_MANIFEST_GET, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, exec_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *images = sqlite3_column_int64(st, 0);
        const void *blob = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (len % sizeof(uint64_t) != 0) {
            RT_LOG(RT_LOG_ERR, "journal", "event=bad_manifest_keys exec=%s bytes=%zu",
                   rt_q(exec_id), len);
            rc = RT_EPARSE;
        } else if (len) {
            *hashes = rt_malloc(len);
            if (!*hashes) {
                rc = RT_ENOMEM;
            } else {
                memcpy(*hashes, blob, len);
                *n = len / sizeof(uint64_t);
            }
        }
    } else if (s == SQLITE_DONE) {
        rc = RT_ENOTFOUND;
    } else {
        rc = rt__fail(j, "manifest keys", s);
    }
    rt__stmt_done(j, ST_MANIFEST_GET, st);
    return rc;
}

int rt_journal_request_peek(
    struct rt_journal *j, int64_t after_id, int64_t *id, char *out, size_t size)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_REQ_PEEK, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = rt__col_copy(st, 1, out, size);
    } else if (s == SQLITE_DONE) {
        rc = RT_ENOTFOUND;
    } else {
        rc = rt__fail(j, "peek request", s);
    }
    rt__stmt_done(j, ST_REQ_PEEK, st);
    return rc;
}

int rt_journal_param_delete(struct rt_journal *j, const char *name)
{
    if (!name)
        return RT_EINVAL;
    if (!rt__writable(j))
        return j->mode == RT_JOURNAL_READWRITE && !j->reads_only ? RT_EJOURNAL : RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_PARAM_DELETE, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, name);
    rc = rt__step_done(j, st, "delete parameter");
    rt__stmt_done(j, ST_PARAM_DELETE, st);
    if (!rc)
        RT_LOG(RT_LOG_INFO, "journal", "event=param_reset name=%s", rt_q(name));
    return rc;
}
