/*
 * exec.c - executions and their steps in the journal (see journal.h).
 *
 * An execution row holds the current state; the steps table holds one row per state entered,
 * numbered 1, 2, ... Advancing closes the last step (its output and error) and opens the next in
 * the same transaction, so after a crash the journal shows exactly the last state entered.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/log.h"

#define COUNTER_KEY RT__EXEC_ID_COUNTER
#define PREFIX_MAX 20

void rt_journal_exec_cleanup(struct rt_journal_exec *e)
{
    if (!e)
        return;
    rt_free(e->error);
    rt_free(e->input);
    rt_free(e->context);
    e->error = e->input = e->context = NULL;
}

void rt_journal_step_cleanup(struct rt_journal_step *s)
{
    if (!s)
        return;
    rt_free(s->output);
    rt_free(s->error);
    s->output = s->error = NULL;
}

static bool fits(const char *s, size_t size)
{
    return s && *s && strlen(s) < size;
}

/* Checks prefix and writes the UTC stamp of now_ms. Returns: 0 or RT_EINVAL. */
static int id_parts(const char *prefix, int64_t now_ms, char *stamp, size_t size)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n == 0 || n > PREFIX_MAX)
        return RT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = prefix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return RT_EINVAL;
    }
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(stamp, size, "%Y%m%dT%H%M%SZ", &tm) == 0)
        return RT_EINVAL;
    return 0;
}

int rt_journal_exec_reserve_id(
    struct rt_journal *j, const char *prefix, int64_t now_ms, char *out, size_t size)
{
    char stamp[32];
    int rc = id_parts(prefix, now_ms, stamp, sizeof(stamp));
    if (rc)
        return rc;
    if (j->id_counter < 0) {
        int64_t stored = 0;
        rc = rt_journal_state_get_i64(j, COUNTER_KEY, 0, &stored);
        if (rc)
            return rc;
        j->id_counter = stored;
    }
    int64_t next = j->id_counter + 1;
    char id[64];
    if (rt_snprintf(id, sizeof(id), "%s-%s-%04lld", prefix, stamp, (long long)next) < 0 ||
        strlen(id) >= size)
        return RT_ETOOBIG;
    j->id_counter = next;
    rt_strlcpy(out, id, size);
    return 0;
}

int rt_journal_exec_new_id(
    struct rt_journal *j, const char *prefix, int64_t now_ms, char *out, size_t size)
{
    char stamp[32];
    int rc0 = id_parts(prefix, now_ms, stamp, sizeof(stamp));
    if (rc0)
        return rc0;

    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    int64_t counter = 0;
    rc = rt_journal_state_get_i64(j, COUNTER_KEY, 0, &counter);
    if (!rc)
        rc = rt_journal_state_set_i64(j, COUNTER_KEY, counter + 1);
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    /* The counter is journal-wide, so ids stay unique even if the clock steps back; it is at
     * least four digits so ids of one second sort in creation order. */
    char id[64];
    if (rt_snprintf(id, sizeof(id), "%s-%s-%04lld", prefix, stamp, (long long)(counter + 1)) < 0 ||
        strlen(id) >= size) {
        rt_journal_rollback(j);
        return RT_ETOOBIG;
    }
    rc = rt_journal_commit(j);
    if (!rc)
        rt_strlcpy(out, id, size);
    return rc;
}

/* Returns: the number that ends an id made by rt_journal_exec_new_id or
 * rt_journal_exec_reserve_id ("<prefix>-YYYYMMDDTHHMMSSZ-NNNN"), or 0 for any other id. */
static int64_t id_number(const char *id)
{
    const char *dash = strrchr(id, '-');
    if (!dash || dash - id < 18 || dash[-17] != '-' || dash[-8] != 'T' || dash[-1] != 'Z')
        return 0;
    int64_t n = 0;
    int digits = 0;
    for (const char *p = dash + 1; *p; p++, digits++) {
        if (*p < '0' || *p > '9' || digits >= 18)
            return 0;
        n = n * 10 + (*p - '0');
    }
    return n;
}

/* Raises the stored id counter to at least n. */
static int raise_counter(struct rt_journal *j, int64_t n)
{
    char text[32];
    rt_snprintf(text, sizeof(text), "%lld", (long long)n);
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_STATE_MAX, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, COUNTER_KEY);
    rt__bind_text(st, 2, text);
    rc = rt__step_done(j, st, "raise id counter");
    rt__stmt_done(j, ST_STATE_MAX, st);
    return rc;
}

static int
insert_step(struct rt_journal *j, const char *id, int64_t seq, const char *state, int64_t at_ms)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_STEP_INSERT, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    rt__bind_text(st, 3, state);
    sqlite3_bind_int64(st, 4, at_ms);
    rc = rt__step_done(j, st, "insert step");
    rt__stmt_done(j, ST_STEP_INSERT, st);
    return rc == -EEXIST ? RT_EJOURNAL : rc;
}

int rt_journal_exec_create(struct rt_journal *j,
                           const char *id,
                           const char *workflow,
                           const char *initial_state,
                           const char *input_json,
                           const char *context_json,
                           int64_t now_ms)
{
    struct rt_journal_exec *e = NULL;
    if (!fits(id, sizeof(e->id)) || !fits(workflow, sizeof(e->workflow)) ||
        !fits(initial_state, sizeof(e->state)))
        return RT_EINVAL;
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = rt__stmt(j, ST_EXEC_INSERT, &st);
    if (!rc) {
        rt__bind_text(st, 1, id);
        rt__bind_text(st, 2, workflow);
        rt__bind_text(st, 3, initial_state);
        sqlite3_bind_int64(st, 4, now_ms);
        rt__bind_text(st, 5, input_json);
        rt__bind_text(st, 6, context_json);
        rc = rt__step_done(j, st, "insert execution");
        rt__stmt_done(j, ST_EXEC_INSERT, st);
    }
    if (rc == -EEXIST) {
        /* Nothing was written by this call, so the caller's transaction stays usable. */
        int crc = rt_journal_commit(j);
        return crc ? crc : -EEXIST;
    }
    if (!rc)
        rc = insert_step(j, id, 1, initial_state, now_ms);
    /* The stored counter covers every execution that exists, even when the write of its
     * reservation was lost with a batch that failed before the one that created it. */
    int64_t number = id_number(id);
    if (!rc && number > 0)
        rc = raise_counter(j, number);
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    rc = rt_journal_commit(j);
    if (!rc)
        RT_LOG(RT_LOG_DEBUG, "journal", "event=exec_created exec=%s workflow=%s state=%s", rt_q(id),
               rt_q(workflow), rt_q(initial_state));
    return rc;
}

/* Finds the last step number of id. Returns: 0 and *seq, RT_ENOTFOUND, or an error. */
static int last_seq(struct rt_journal *j, const char *id, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_STEP_LAST, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *seq = sqlite3_column_int64(st, 0);
    else if (s == SQLITE_ROW)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "last step", s);
    rt__stmt_done(j, ST_STEP_LAST, st);
    return rc;
}

int rt_journal_exec_advance(struct rt_journal *j,
                            const char *id,
                            const char *output_json,
                            const char *error,
                            const char *next_state,
                            bool terminal,
                            const char *context_json,
                            int64_t now_ms)
{
    struct rt_journal_exec *e = NULL;
    if (!fits(id, sizeof(e->id)) || !fits(next_state, sizeof(e->state)))
        return RT_EINVAL;
    int rc = rt_journal_begin(j);
    if (rc)
        return rc;
    int64_t seq = 0;
    rc = last_seq(j, id, &seq);
    if (rc == RT_ENOTFOUND) {
        int crc = rt_journal_commit(j); /* nothing written: leave the caller's work alone */
        return crc ? crc : RT_ENOTFOUND;
    }
    sqlite3_stmt *st;
    if (!rc)
        rc = rt__stmt(j, ST_STEP_FINISH, &st);
    if (!rc) {
        rt__bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, seq);
        rt__bind_text(st, 3, output_json);
        rt__bind_text(st, 4, error);
        rc = rt__step_done(j, st, "finish step");
        rt__stmt_done(j, ST_STEP_FINISH, st);
    }
    if (!rc)
        rc = insert_step(j, id, seq + 1, next_state, now_ms);
    if (!rc)
        rc = rt__stmt(j, ST_EXEC_ADVANCE, &st);
    if (!rc) {
        rt__bind_text(st, 1, id);
        rt__bind_text(st, 2, next_state);
        rt__bind_text(st, 3, context_json);
        sqlite3_bind_int(st, 4, terminal ? 1 : 0);
        sqlite3_bind_int64(st, 5, now_ms);
        rt__bind_text(st, 6, error);
        rc = rt__step_done(j, st, "advance execution");
        rt__stmt_done(j, ST_EXEC_ADVANCE, st);
    }
    if (rc) {
        rt_journal_rollback(j);
        return rc;
    }
    rc = rt_journal_commit(j);
    if (!rc)
        RT_LOG(RT_LOG_DEBUG, "journal", "event=exec_advanced exec=%s seq=%lld state=%s%s", rt_q(id),
               (long long)(seq + 1), rt_q(next_state), terminal ? " terminal=1" : "");
    return rc;
}

int rt__read_exec(sqlite3_stmt *st, struct rt_journal_exec *e)
{
    memset(e, 0, sizeof(*e));
    int rc = rt__col_copy(st, 0, e->id, sizeof(e->id));
    if (!rc)
        rc = rt__col_copy(st, 1, e->workflow, sizeof(e->workflow));
    if (!rc)
        rc = rt__col_copy(st, 2, e->state, sizeof(e->state));
    e->started_ms = sqlite3_column_int64(st, 3);
    e->finished_ms = sqlite3_column_int64(st, 4); /* NULL reads as 0 */
    e->checks = sqlite3_column_type(st, 8) == SQLITE_NULL ? 1 : sqlite3_column_int64(st, 8);
    e->last_checked_ms = sqlite3_column_int64(st, 9);
    if (!rc) {
        e->error = rt__col_dup(st, 5, &rc);
        e->input = rt__col_dup(st, 6, &rc);
        e->context = rt__col_dup(st, 7, &rc);
    }
    if (rc)
        rt_journal_exec_cleanup(e);
    return rc;
}

/* Reads the one execution statement stmt finds with key bound to ?1. */
static int exec_one(struct rt_journal *j,
                    enum stmt_id stmt,
                    const char *key,
                    const char *what,
                    struct rt_journal_exec *out)
{
    memset(out, 0, sizeof(*out));
    if (!key)
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, stmt, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, key);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = rt__read_exec(st, out);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, what, s);
    rt__stmt_done(j, stmt, st);
    return rc;
}

int rt_journal_exec_get(struct rt_journal *j, const char *id, struct rt_journal_exec *out)
{
    return exec_one(j, ST_EXEC_GET, id, "get execution", out);
}

int rt_journal_exec_list(struct rt_journal *j,
                         const struct rt_journal_exec_filter *f,
                         rt_journal_exec_fn *cb,
                         void *ud)
{
    struct rt_journal_exec_filter none = {0};
    if (!f)
        f = &none;
    int v = (f->workflow ? 1 : 0) | (f->state ? 2 : 0) | (f->unfinished_only ? 4 : 0);
    enum stmt_id id = (enum stmt_id)(ST_EXEC_LIST_0 + v);
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    if (f->workflow)
        rt__bind_text(st, 1, f->workflow);
    if (f->state)
        rt__bind_text(st, 2, f->state);
    sqlite3_bind_int(st, 4, f->limit > 0 ? f->limit : 100);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_exec e;
        rc = rt__read_exec(st, &e);
        if (rc)
            break;
        rc = cb(&e, ud);
        rt_journal_exec_cleanup(&e);
        if (rc)
            break;
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "list executions", s);
    rt__stmt_done(j, id, st);
    return rc;
}

static int exec_exists(struct rt_journal *j, const char *id)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_EXEC_EXISTS, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s = sqlite3_step(st);
    rc = s == SQLITE_ROW ? 0 : s == SQLITE_DONE ? RT_ENOTFOUND : rt__fail(j, "find execution", s);
    rt__stmt_done(j, ST_EXEC_EXISTS, st);
    return rc;
}

int rt_journal_step_list(struct rt_journal *j, const char *id, rt_journal_step_fn *cb, void *ud)
{
    if (!id)
        return RT_EINVAL;
    int rc = exec_exists(j, id);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = rt__stmt(j, ST_STEP_LIST, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_journal_step step;
        memset(&step, 0, sizeof(step));
        step.seq = sqlite3_column_int(st, 0);
        rc = rt__col_copy(st, 1, step.state, sizeof(step.state));
        step.at_ms = sqlite3_column_int64(st, 2);
        if (!rc) {
            step.output = rt__col_dup(st, 3, &rc);
            step.error = rt__col_dup(st, 4, &rc);
        }
        if (!rc)
            rc = cb(&step, ud);
        rt_journal_step_cleanup(&step);
        if (rc)
            break;
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "list steps", s);
    rt__stmt_done(j, ST_STEP_LIST, st);
    return rc;
}

int rt_journal_exec_latest(struct rt_journal *j, const char *workflow, struct rt_journal_exec *out)
{
    return exec_one(j, ST_EXEC_LATEST, workflow, "latest execution", out);
}

int rt_journal_exec_end_counts(struct rt_journal *j, rt_journal_exec_count_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_EXEC_END_COUNTS, &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *wf = (const char *)sqlite3_column_text(st, 0);
        const char *state = (const char *)sqlite3_column_text(st, 1);
        if (wf && state && cb(wf, state, sqlite3_column_int64(st, 2), ud) != 0) {
            s = SQLITE_DONE;
            break;
        }
    }
    rc = s == SQLITE_DONE ? 0 : rt__fail(j, "execution counts", s);
    rt__stmt_done(j, ST_EXEC_END_COUNTS, st);
    return rc;
}

int rt_journal_exec_unfinished_count(struct rt_journal *j, int64_t *n)
{
    *n = 0;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, ST_EXEC_UNFINISHED_COUNT, &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    rc = s == SQLITE_ROW ? 0 : rt__fail(j, "unfinished count", s);
    rt__stmt_done(j, ST_EXEC_UNFINISHED_COUNT, st);
    return rc;
}

int rt_journal_step_output(struct rt_journal *j, const char *id, const char *state, char **out)
{
    *out = NULL;
    if (!id)
        return RT_EINVAL;
    enum stmt_id which = state ? ST_STEP_OUTPUT_STATE : ST_STEP_OUTPUT_LAST;
    sqlite3_stmt *st;
    int rc = rt__stmt(j, which, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, id);
    if (state)
        rt__bind_text(st, 2, state);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = rt__col_dup(st, 0, &rc);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "step output", s);
    rt__stmt_done(j, which, st);
    return rc;
}
