/*
 * detections.c - the detection queue and results (journal_detections.h).
 *
 * Statements live in the extension slots RT__EXT_DETECT+0..31. Every listing is bounded by a
 * LIMIT or by an index that holds only the rows it needs (queued rows, unflushed rows), so a
 * read on the loop thread stays short however many detections the table holds.
 */
#include <string.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"

enum {
    SL_KNOWN = RT__EXT_DETECT,
    SL_QUEUED,
    SL_GET,
    SL_SAME_CONTENT,
    SL_PLANNED,
    SL_BATCH_ROWS,
    SL_UNPLANNED,
    SL_DETECTED_AFTER,
    SL_LAST_SAMPLED,
    SL_SAMPLE_ORPHANS,
    SL_COUNTS_STATE,
    SL_COUNTS_ROUTE,
    SL_UNFLUSHED,
    SL_AGREEMENT,
    SL_W_QUEUE,
    SL_W_START,
    SL_W_RESULT,
    SL_W_END,
    SL_W_PLAN,
    SL_W_FLUSHED,
    SL_W_SAMPLED,
    SL_W_SAMPLE_EXEC,
    SL_W_SAMPLE_ANSWER,
    SL_UNPLANNED_SEQS,
    SL_LIST,
    SL_QUEUED_COUNT,
};

#define COLS                                                                                       \
    "seq, key, etag, size, state, exec_id, queued_at, detected_at, request_id, content_hash, "     \
    "model_version, label, confidence, threshold, review_enabled, route, sampled, error, "         \
    "result_key, flushed_at"

static int read_row(sqlite3_stmt *st, struct rt_detection_row *r)
{
    memset(r, 0, sizeof(*r));
    r->seq = sqlite3_column_int64(st, 0);
    int rc = rt__col_copy(st, 1, r->key, sizeof(r->key));
    rc |= rt__col_copy(st, 2, r->etag, sizeof(r->etag));
    r->size = sqlite3_column_int64(st, 3);
    rc |= rt__col_copy(st, 4, r->state, sizeof(r->state));
    rc |= rt__col_copy(st, 5, r->exec_id, sizeof(r->exec_id));
    r->queued_ms = sqlite3_column_int64(st, 6);
    r->detected_ms = sqlite3_column_int64(st, 7);
    rc |= rt__col_copy(st, 8, r->request_id, sizeof(r->request_id));
    rc |= rt__col_copy(st, 9, r->content_hash, sizeof(r->content_hash));
    rc |= rt__col_copy(st, 10, r->model_version, sizeof(r->model_version));
    rc |= rt__col_copy(st, 11, r->label, sizeof(r->label));
    r->confidence = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 12);
    r->threshold = sqlite3_column_double(st, 13);
    r->review_enabled = sqlite3_column_int(st, 14) != 0;
    rc |= rt__col_copy(st, 15, r->route, sizeof(r->route));
    r->sampled = sqlite3_column_int(st, 16) != 0;
    /* The error text is informative: a long one is kept truncated. */
    rt__col_copy(st, 17, r->error, sizeof(r->error));
    rc |= rt__col_copy(st, 18, r->result_key, sizeof(r->result_key));
    r->flushed_ms = sqlite3_column_int64(st, 19);
    return rc ? RT_ETOOBIG : 0;
}

/* Steps st, calling cb per row. Returns: 0, the callback's stop (ignored: 0), or an error. */
static int each_row(struct rt_journal *j, sqlite3_stmt *st, rt_detection_row_fn *cb, void *ud)
{
    struct rt_detection_row *r = rt_malloc(sizeof(*r));
    if (!r)
        return RT_ENOMEM;
    int rc = 0;
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = rt__fail(j, "list detections", s);
            break;
        }
        if ((rc = read_row(st, r)) != 0)
            break;
        if (cb(r, ud) != 0)
            break;
    }
    rt_free(r);
    return rc;
}

int rt_journal_detection_known(struct rt_journal *j, const char *key, const char *etag)
{
    sqlite3_stmt *st;
    int rc =
        rt__stmt_ext(j, SL_KNOWN, "SELECT 1 FROM detections WHERE key = ?1 AND etag = ?2", &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, key);
    rt__bind_text(st, 2, etag);
    int s = sqlite3_step(st);
    rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : rt__fail(j, "detection known", s);
    rt__stmt_ext_done(j, SL_KNOWN, st);
    return rc;
}

int rt_journal_detection_queued(struct rt_journal *j, int limit, rt_detection_row_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(
        j, SL_QUEUED,
        "SELECT " COLS " FROM detections WHERE state = 'queued' ORDER BY seq LIMIT ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, limit);
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_QUEUED, st);
    return rc;
}

int rt_journal_detection_get(struct rt_journal *j, int64_t seq, struct rt_detection_row *out)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_GET, "SELECT " COLS " FROM detections WHERE seq = ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, seq);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_row(st, out);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "get detection", s);
    rt__stmt_ext_done(j, SL_GET, st);
    return rc;
}

int rt_journal_detection_same_content(
    struct rt_journal *j, const char *key, const char *hash, int64_t except_seq, int64_t *seq_out)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_SAME_CONTENT,
                          "SELECT seq FROM detections WHERE key = ?1 AND content_hash = ?2 AND "
                          "seq <> ?3 AND state IN ('detecting', 'detected') ORDER BY seq LIMIT 1",
                          &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, key);
    rt__bind_text(st, 2, hash);
    sqlite3_bind_int64(st, 3, except_seq);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *seq_out = sqlite3_column_int64(st, 0);
    rc = s == SQLITE_ROW ? 0 : s == SQLITE_DONE ? RT_ENOTFOUND : rt__fail(j, "same content", s);
    rt__stmt_ext_done(j, SL_SAME_CONTENT, st);
    return rc;
}

int rt_journal_detection_planned(struct rt_journal *j, char *out, size_t size)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_PLANNED,
                          "SELECT result_key FROM detections WHERE flushed_at IS NULL AND "
                          "result_key IS NOT NULL ORDER BY result_key LIMIT 1",
                          &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = rt__col_copy(st, 0, out, size);
    else
        rc = s == SQLITE_DONE ? RT_ENOTFOUND : rt__fail(j, "planned results", s);
    rt__stmt_ext_done(j, SL_PLANNED, st);
    return rc;
}

int rt_journal_detection_batch_rows(struct rt_journal *j,
                                    const char *result_key,
                                    int64_t after_seq,
                                    int limit,
                                    rt_detection_row_fn *cb,
                                    void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_BATCH_ROWS,
                          "SELECT " COLS " FROM detections WHERE result_key = ?1 AND flushed_at "
                          "IS NULL AND seq > ?2 ORDER BY seq LIMIT ?3",
                          &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, result_key);
    sqlite3_bind_int64(st, 2, after_seq);
    sqlite3_bind_int(st, 3, limit);
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_BATCH_ROWS, st);
    return rc;
}

int rt_journal_detection_unplanned(struct rt_journal *j,
                                   int limit,
                                   rt_detection_row_fn *cb,
                                   void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_UNPLANNED,
                          "SELECT " COLS " FROM detections WHERE flushed_at IS NULL AND "
                          "detected_at IS NOT NULL AND result_key IS NULL ORDER BY seq LIMIT ?1",
                          &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, limit);
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_UNPLANNED, st);
    return rc;
}

int rt_journal_detection_unplanned_seqs(struct rt_journal *j,
                                        size_t max,
                                        int64_t *seqs,
                                        size_t *n,
                                        char *first_exec,
                                        size_t first_exec_size,
                                        int64_t *first_ms)
{
    *n = 0;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_UNPLANNED_SEQS,
                          "SELECT seq, exec_id, detected_at FROM detections WHERE flushed_at IS "
                          "NULL AND detected_at IS NOT NULL AND result_key IS NULL ORDER BY seq "
                          "LIMIT ?1",
                          &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        if (*n == 0) {
            rt__col_copy(st, 1, first_exec, first_exec_size);
            *first_ms = sqlite3_column_int64(st, 2);
        }
        seqs[(*n)++] = sqlite3_column_int64(st, 0);
    }
    rc = s == SQLITE_DONE || s == SQLITE_ROW ? 0 : rt__fail(j, "unplanned results", s);
    rt__stmt_ext_done(j, SL_UNPLANNED_SEQS, st);
    return rc;
}

int rt_journal_detection_detected_after(
    struct rt_journal *j, int64_t after_seq, int limit, rt_detection_row_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_DETECTED_AFTER,
                          "SELECT " COLS " FROM detections WHERE seq > ?1 AND state = 'detected' "
                          "ORDER BY seq LIMIT ?2",
                          &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int(st, 2, limit);
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_DETECTED_AFTER, st);
    return rc;
}

int rt_journal_detection_list(struct rt_journal *j,
                              const char *label,
                              const char *route,
                              int limit,
                              rt_detection_row_fn *cb,
                              void *ud)
{
    sqlite3_stmt *st;
    /* Newest first along the primary key; the filters are checked row by row, which a log
     * page of a few hundred rows can afford. */
    int rc = rt__stmt_ext(j, SL_LIST,
                          "SELECT " COLS " FROM detections WHERE (?1 IS NULL OR label = ?1) "
                          "AND (?2 IS NULL OR route = ?2) ORDER BY seq DESC LIMIT ?3",
                          &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, label);
    rt__bind_text(st, 2, route);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : 100);
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_LIST, st);
    return rc;
}

int rt_journal_detection_last_sampled(struct rt_journal *j, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_LAST_SAMPLED,
                          "SELECT COALESCE(MAX(seq), 0) FROM detections WHERE sampled = 1", &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    rc = s == SQLITE_ROW ? 0 : rt__fail(j, "last sampled", s);
    rt__stmt_ext_done(j, SL_LAST_SAMPLED, st);
    return rc;
}

int rt_journal_detection_sample_orphans(struct rt_journal *j, rt_detection_row_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_SAMPLE_ORPHANS,
                          "SELECT " COLS " FROM detections WHERE sampled = 1 AND sample_exec IS "
                          "NULL ORDER BY seq LIMIT 1000",
                          &st);
    if (rc)
        return rc;
    rc = each_row(j, st, cb, ud);
    rt__stmt_ext_done(j, SL_SAMPLE_ORPHANS, st);
    return rc;
}

int rt_journal_detection_counts(struct rt_journal *j, struct rt_detection_counts *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_COUNTS_STATE,
                          "SELECT state, COUNT(*) FROM detections GROUP BY state", &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (!state)
            continue;
        if (!strcmp(state, RT_DETECTION_QUEUED))
            out->queued = n;
        else if (!strcmp(state, RT_DETECTION_DETECTING))
            out->detecting = n;
        else if (!strcmp(state, RT_DETECTION_DETECTED))
            out->detected = n;
        else if (!strcmp(state, RT_DETECTION_DUPLICATE))
            out->duplicate = n;
        else if (!strcmp(state, RT_DETECTION_FAILED))
            out->failed = n;
    }
    rc = s == SQLITE_DONE ? 0 : rt__fail(j, "detection counts", s);
    rt__stmt_ext_done(j, SL_COUNTS_STATE, st);
    if (rc)
        return rc;
    rc = rt__stmt_ext(j, SL_COUNTS_ROUTE,
                      "SELECT route, COUNT(*) FROM detections WHERE route IS NOT NULL GROUP BY "
                      "route",
                      &st);
    if (rc)
        return rc;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *route = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (!route)
            continue;
        if (!strcmp(route, RT_ROUTE_ACCEPTED))
            out->accepted = n;
        else if (!strcmp(route, RT_ROUTE_ACCEPTED_LOW))
            out->accepted_low = n;
        else if (!strcmp(route, RT_ROUTE_REVIEW))
            out->review = n;
    }
    rc = s == SQLITE_DONE ? 0 : rt__fail(j, "detection counts", s);
    rt__stmt_ext_done(j, SL_COUNTS_ROUTE, st);
    if (rc)
        return rc;
    rc = rt__stmt_ext(j, SL_UNFLUSHED,
                      "SELECT COUNT(*) FROM detections WHERE flushed_at IS NULL AND detected_at IS "
                      "NOT NULL",
                      &st);
    if (rc)
        return rc;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        out->unflushed = sqlite3_column_int64(st, 0);
    rc = s == SQLITE_ROW ? 0 : rt__fail(j, "detection counts", s);
    rt__stmt_ext_done(j, SL_UNFLUSHED, st);
    return rc;
}

int rt_journal_detection_queued_count(struct rt_journal *j, int64_t *n)
{
    *n = 0;
    sqlite3_stmt *st;
    /* The literal state = 'queued' lets SQLite count the partial index detections_queued. */
    int rc = rt__stmt_ext(j, SL_QUEUED_COUNT,
                          "SELECT count(*) FROM detections WHERE state = 'queued'", &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    rc = s == SQLITE_ROW ? 0 : rt__fail(j, "queued count", s);
    rt__stmt_ext_done(j, SL_QUEUED_COUNT, st);
    return rc;
}

int rt_journal_sampling_agreement(struct rt_journal *j, rt_agreement_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, SL_AGREEMENT,
                          "SELECT model_version, COUNT(*), SUM(sample_agree) FROM detections "
                          "WHERE sampled = 1 AND sample_agree IS NOT NULL GROUP BY model_version "
                          "ORDER BY model_version",
                          &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (cb(v ? v : "", sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), ud) != 0) {
            s = SQLITE_DONE;
            break;
        }
    }
    rc = s == SQLITE_DONE ? 0 : rt__fail(j, "sampling agreement", s);
    rt__stmt_ext_done(j, SL_AGREEMENT, st);
    return rc;
}

/* ---- batch writes ---- */

/* Prepares slot with sql, binds by the apply function, steps it and gives it back. */
#define APPLY_BEGIN(slot, sql)                                                                     \
    sqlite3_stmt *st;                                                                              \
    int rc = rt__stmt_ext(j, slot, sql, &st);                                                      \
    if (rc)                                                                                        \
        return rc;

#define APPLY_END(slot, what)                                                                      \
    rc = rt__step_done(j, st, what);                                                               \
    rt__stmt_ext_done(j, slot, st);                                                                \
    return rc;

static int apply_queue(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_QUEUE, "INSERT OR IGNORE INTO detections (key, etag, size, state, queued_at) "
                            "VALUES (?1, ?2, ?3, 'queued', ?4)")
    rt__bind_text(st, 1, a->s[0]);
    rt__bind_text(st, 2, a->s[1]);
    sqlite3_bind_int64(st, 3, a->i[0]);
    sqlite3_bind_int64(st, 4, a->i[1]);
    APPLY_END(SL_W_QUEUE, "queue detection")
}

int rt_jbatch_detection_queue(
    struct rt_jbatch *b, const char *key, const char *etag, int64_t size, int64_t now_ms)
{
    struct rt__op_args a = {.s = {key, etag}, .i = {size, now_ms}};
    return rt__jbatch_add_ext(b, apply_queue, "queue detection", &a);
}

static int apply_start(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_START, "UPDATE detections SET state = 'detecting', exec_id = ?2 WHERE seq = "
                            "?1 AND state IN ('queued', 'detecting')")
    sqlite3_bind_int64(st, 1, a->i[0]);
    rt__bind_text(st, 2, a->s[0]);
    APPLY_END(SL_W_START, "start detection")
}

int rt_jbatch_detection_start(struct rt_jbatch *b, int64_t seq, const char *exec_id)
{
    struct rt__op_args a = {.s = {exec_id}, .i = {seq}};
    return rt__jbatch_add_ext(b, apply_start, "start detection", &a);
}

static int apply_result(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_RESULT,
                "UPDATE detections SET state = 'detected', exec_id = ?2, request_id = ?3, "
                "content_hash = ?4, model_version = ?5, label = ?6, route = ?7, detected_at = ?8, "
                "confidence = ?9, threshold = ?10, review_enabled = ?11, error = NULL "
                "WHERE seq = ?1")
    double threshold;
    memcpy(&threshold, &a->i[2], sizeof(threshold));
    sqlite3_bind_int64(st, 1, a->i[0]);
    for (int k = 0; k < 6; k++)
        rt__bind_text(st, 2 + k, a->s[k]);
    sqlite3_bind_int64(st, 8, a->i[1]);
    if (a->d < 0)
        sqlite3_bind_null(st, 9);
    else
        sqlite3_bind_double(st, 9, a->d);
    sqlite3_bind_double(st, 10, threshold);
    sqlite3_bind_int(st, 11, a->flag ? 1 : 0);
    APPLY_END(SL_W_RESULT, "detection result")
}

static const char *or_null(const char *s)
{
    return s && s[0] ? s : NULL;
}

int rt_jbatch_detection_result(struct rt_jbatch *b, const struct rt_detection_row *r)
{
    struct rt__op_args a = {.s = {or_null(r->exec_id), or_null(r->request_id),
                                  or_null(r->content_hash), or_null(r->model_version),
                                  or_null(r->label), or_null(r->route)},
                            .i = {r->seq, r->detected_ms},
                            .d = r->confidence,
                            .flag = r->review_enabled};
    memcpy(&a.i[2], &r->threshold, sizeof(r->threshold));
    return rt__jbatch_add_ext(b, apply_result, "detection result", &a);
}

static int apply_end(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_END,
                "UPDATE detections SET state = ?3, exec_id = ?2, error = ?4 WHERE seq = ?1")
    sqlite3_bind_int64(st, 1, a->i[0]);
    rt__bind_text(st, 2, a->s[0]);
    rt__bind_text(st, 3, a->s[1]);
    rt__bind_text(st, 4, a->s[2]);
    APPLY_END(SL_W_END, "end detection")
}

int rt_jbatch_detection_end(
    struct rt_jbatch *b, int64_t seq, const char *exec_id, const char *state, const char *error)
{
    struct rt__op_args a = {.s = {exec_id, state, error}, .i = {seq}};
    return rt__jbatch_add_ext(b, apply_end, "end detection", &a);
}

static int apply_plan(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_PLAN, "UPDATE detections SET result_key = ?2 WHERE seq = ?1 AND flushed_at "
                           "IS NULL AND result_key IS NULL")
    size_t n = a->blob_len / sizeof(int64_t);
    for (size_t k = 0; !rc && k < n; k++) {
        int64_t seq;
        memcpy(&seq, (const char *)a->blob + k * sizeof(int64_t), sizeof(seq));
        sqlite3_bind_int64(st, 1, seq);
        rt__bind_text(st, 2, a->s[0]);
        rc = rt__step_done(j, st, "plan results");
        sqlite3_reset(st);
    }
    rt__stmt_ext_done(j, SL_W_PLAN, st);
    return rc;
}

int rt_jbatch_detection_plan(struct rt_jbatch *b,
                             const char *result_key,
                             const int64_t *seqs,
                             size_t n)
{
    struct rt__op_args a = {.s = {result_key}, .blob = seqs, .blob_len = n * sizeof(int64_t)};
    return rt__jbatch_add_ext(b, apply_plan, "plan results", &a);
}

static int apply_flushed(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_FLUSHED, "UPDATE detections SET flushed_at = ?2 WHERE result_key = ?1 AND "
                              "flushed_at IS NULL")
    rt__bind_text(st, 1, a->s[0]);
    sqlite3_bind_int64(st, 2, a->i[0]);
    APPLY_END(SL_W_FLUSHED, "results flushed")
}

int rt_jbatch_detection_flushed(struct rt_jbatch *b, const char *result_key, int64_t now_ms)
{
    struct rt__op_args a = {.s = {result_key}, .i = {now_ms}};
    return rt__jbatch_add_ext(b, apply_flushed, "results flushed", &a);
}

static int apply_sampled(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_SAMPLED, "UPDATE detections SET sampled = 1 WHERE seq = ?1")
    sqlite3_bind_int64(st, 1, a->i[0]);
    APPLY_END(SL_W_SAMPLED, "sample detection")
}

int rt_jbatch_detection_sampled(struct rt_jbatch *b, int64_t seq)
{
    struct rt__op_args a = {.i = {seq}};
    return rt__jbatch_add_ext(b, apply_sampled, "sample detection", &a);
}

static int apply_sample_exec(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_SAMPLE_EXEC, "UPDATE detections SET sampled = 1, sample_exec = ?2 WHERE seq "
                                  "= ?1")
    sqlite3_bind_int64(st, 1, a->i[0]);
    rt__bind_text(st, 2, a->s[0]);
    APPLY_END(SL_W_SAMPLE_EXEC, "sample execution")
}

int rt_jbatch_detection_sample_exec(struct rt_jbatch *b, int64_t seq, const char *exec_id)
{
    struct rt__op_args a = {.s = {exec_id}, .i = {seq}};
    return rt__jbatch_add_ext(b, apply_sample_exec, "sample execution", &a);
}

static int apply_sample_answer(struct rt_journal *j, const struct rt__op_args *a)
{
    APPLY_BEGIN(SL_W_SAMPLE_ANSWER, "UPDATE detections SET sample_answer = ?2, sample_agree = ?3 "
                                    "WHERE seq = ?1")
    sqlite3_bind_int64(st, 1, a->i[0]);
    rt__bind_text(st, 2, a->s[0]);
    sqlite3_bind_int(st, 3, a->flag ? 1 : 0);
    APPLY_END(SL_W_SAMPLE_ANSWER, "sample answer")
}

int rt_jbatch_detection_sample_answer(struct rt_jbatch *b,
                                      int64_t seq,
                                      const char *answer,
                                      bool agree)
{
    struct rt__op_args a = {.s = {answer}, .i = {seq}, .flag = agree};
    return rt__jbatch_add_ext(b, apply_sample_answer, "sample answer", &a);
}
