/*
 * test_journal_reviews.c - review tasks in the journal: idempotent create, one answer per worker,
 * consolidation (majority, ties), several answers per task, serving order with the sampling
 * interleave and assignment expiry, the cursor of answered tasks, and the batch operations.
 */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/journal.h"
#include "retraind/journal_reviews.h"
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

static const char *const opts3[] = {"cat", "dog", RT_REVIEW_NONE_OF_THE_ABOVE};

static struct rt_review_task task(const char *id, const char *source, double confidence)
{
    return (struct rt_review_task){.id = id,
                                   .source = source,
                                   .exec_id = "de-20260101T000000Z-0001",
                                   .key = "images_for_detection/a.jpg",
                                   .detected_label = "cat",
                                   .confidence = confidence,
                                   .model_version = "v1",
                                   .options = opts3,
                                   .n_options = 3,
                                   .answers_needed = 1};
}

static void create(struct rt_journal *j, const char *id, const char *source, double c, int64_t at)
{
    struct rt_review_task t = task(id, source, c);
    RT_ASSERT_OK(rt_journal_review_create(j, &t, at));
}

/* The id of the next task for worker (assigning it), or "" when there is none. */
static const char *next_id(struct rt_journal *j, const char *worker, int64_t now, bool sampling)
{
    static char id[80];
    struct rt_journal_review t;
    int rc = rt_journal_review_next(j, worker, now, sampling, NULL, 0, &t);
    if (rc == RT_ENOTFOUND)
        return "";
    RT_ASSERT_OK(rc);
    rt_strlcpy(id, t.id, sizeof(id));
    rt_journal_review_cleanup(&t);
    RT_ASSERT_OK(rt_journal_review_assign(j, id, worker, now, now + RT_REVIEW_ASSIGN_MS));
    return id;
}

RT_TEST(review_create_is_idempotent)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    create(j, "rt-a", RT_REVIEW_SOURCE_DETECTION, 40, 1000);
    /* A retried step creates it again with other values: the first row stays. */
    struct rt_review_task t = task("rt-a", RT_REVIEW_SOURCE_DETECTION, 99);
    t.key = "other.jpg";
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 2000));
    struct rt_journal_review r;
    RT_ASSERT_OK(rt_journal_review_get(j, "rt-a", &r));
    RT_ASSERT_STR_EQ(r.key, "images_for_detection/a.jpg");
    RT_ASSERT_STR_EQ(r.state, "open");
    RT_ASSERT_STR_EQ(r.options, "[\"cat\",\"dog\",\"None of the Above\"]");
    RT_ASSERT(r.confidence == 40);
    RT_ASSERT_INT_EQ(r.created_ms, 1000);
    RT_ASSERT_INT_EQ(r.answers_needed, 1);
    RT_ASSERT(r.result == NULL);
    rt_journal_review_cleanup(&r);
    RT_ASSERT_INT_EQ(rt_journal_review_get(j, "rt-none", &r), RT_ENOTFOUND);

    /* Refused tasks. */
    t = task("rt-b", "elsewhere", 1);
    RT_ASSERT_INT_EQ(rt_journal_review_create(j, &t, 1), RT_EINVAL);
    t = task("rt-b", RT_REVIEW_SOURCE_DETECTION, 1);
    t.n_options = 1;
    RT_ASSERT_INT_EQ(rt_journal_review_create(j, &t, 1), RT_EINVAL);
    const char *dup[] = {"cat", "cat"};
    t.options = dup;
    t.n_options = 2;
    RT_ASSERT_INT_EQ(rt_journal_review_create(j, &t, 1), RT_EINVAL);
    rt_journal_close(j);
}

RT_TEST(review_one_answer_per_worker)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    struct rt_review_task t = task("rt-a", RT_REVIEW_SOURCE_DETECTION, 10);
    t.answers_needed = 2;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1000));
    struct rt_journal_review_outcome o;
    RT_ASSERT_INT_EQ(rt_journal_review_answer(j, "rt-x", "ann", "cat", 2000, &o), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_journal_review_answer(j, "rt-a", "ann", "horse", 2000, &o), RT_EINVAL);
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-a", "ann", "cat", 2000, &o));
    RT_ASSERT(!o.completed);
    RT_ASSERT_INT_EQ(o.answers, 1);
    RT_ASSERT_INT_EQ(rt_journal_review_answer(j, "rt-a", "ann", "dog", 2100, &o), -EEXIST);
    RT_ASSERT(rt_journal_review_answered_by(j, "rt-a", "ann"));
    RT_ASSERT(!rt_journal_review_answered_by(j, "rt-a", "bob"));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-a", "bob", "cat", 2200, &o));
    RT_ASSERT(o.completed);
    RT_ASSERT_STR_EQ(o.result, "cat");
    /* All answers are in: a third worker is refused. */
    RT_ASSERT_INT_EQ(rt_journal_review_answer(j, "rt-a", "cid", "cat", 2300, &o), -EALREADY);
    struct rt_journal_review r;
    RT_ASSERT_OK(rt_journal_review_get(j, "rt-a", &r));
    RT_ASSERT_STR_EQ(r.state, "answered");
    RT_ASSERT_STR_EQ(r.result, "cat");
    RT_ASSERT_INT_EQ(r.answers, 2);
    RT_ASSERT_INT_EQ(r.answered_ms, 2200);
    RT_ASSERT_INT_EQ(r.answered_seq, 1);
    rt_journal_review_cleanup(&r);
    /* A refusal inside an outer transaction leaves it usable. */
    RT_ASSERT_OK(rt_journal_begin(j));
    RT_ASSERT_INT_EQ(rt_journal_review_answer(j, "rt-a", "ann", "cat", 1, NULL), -EEXIST);
    RT_ASSERT_OK(rt_journal_state_set(j, "k", "v"));
    RT_ASSERT_OK(rt_journal_commit(j));
    rt_journal_close(j);
}

struct answers {
    char text[256];
};
static int collect_answer(const struct rt_journal_review_answer *a, void *ud)
{
    struct answers *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s%s=%s", len ? "," : "", a->worker, a->label);
    return 0;
}

RT_TEST(review_majority_and_ties)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    struct rt_review_task t = task("rt-maj", RT_REVIEW_SOURCE_LABELING_JOB, -1);
    t.answers_needed = 3;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-maj", "w1", "dog", 10, NULL));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-maj", "w2", "cat", 20, NULL));
    struct rt_journal_review_outcome o;
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-maj", "w3", "cat", 30, &o));
    RT_ASSERT(o.completed);
    RT_ASSERT_STR_EQ(o.result, "cat"); /* two against one, though dog came first */

    /* A tie goes to the label answered first: dog (10) before cat (20); then None (30) and
     * dog again would make dog the majority, so use four labels' worth of workers. */
    t = task("rt-tie", RT_REVIEW_SOURCE_LABELING_JOB, -1);
    t.answers_needed = 2;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-tie", "w1", "dog", 50, NULL));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-tie", "w2", "cat", 40, &o));
    /* Answered_at of w2 is earlier (another process's clock); ties follow the answer time. */
    RT_ASSERT_STR_EQ(o.result, "cat");

    t = task("rt-tie2", RT_REVIEW_SOURCE_LABELING_JOB, -1);
    t.answers_needed = 2;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-tie2", "w1", "dog", 50, NULL));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-tie2", "w2", "cat", 50, &o));
    RT_ASSERT_STR_EQ(o.result, "dog"); /* same time: the first written */

    struct answers s = {""};
    RT_ASSERT_OK(rt_journal_review_answers(j, "rt-maj", collect_answer, &s));
    RT_ASSERT_STR_EQ(s.text, "w1=dog,w2=cat,w3=cat");
    rt_journal_close(j);
}

RT_TEST(review_serving_order_and_interleave)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    create(j, "rt-d50", RT_REVIEW_SOURCE_DETECTION, 50, 100);
    create(j, "rt-d10", RT_REVIEW_SOURCE_DETECTION, 10, 200);
    create(j, "rt-dnull", RT_REVIEW_SOURCE_DETECTION, -1, 50);
    create(j, "rt-d10b", RT_REVIEW_SOURCE_DETECTION, 10, 300);
    create(j, "rt-s90", RT_REVIEW_SOURCE_SAMPLING, 90, 10);
    create(j, "rt-s95", RT_REVIEW_SOURCE_SAMPLING, 95, 5);
    int64_t now = 10000;
    /* Least confident first, the older of two equal first, none last; sampling when asked. */
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, false), "rt-d10");
    /* ann holds rt-d10 until she answers it: a reload gets the same one. */
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, true), "rt-d10");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-d10", "ann", "cat", now, NULL));
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, false), "rt-d10b");
    /* bob does not get what ann holds. */
    RT_ASSERT_STR_EQ(next_id(j, "bob", now, false), "rt-d50");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-d10b", "ann", "cat", now, NULL));
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, true), "rt-s90");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-s90", "ann", "cat", now, NULL));
    /* bob's assignment expires: ann may take rt-d50. */
    RT_ASSERT_STR_EQ(next_id(j, "ann", now + RT_REVIEW_ASSIGN_MS + 1, false), "rt-d50");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-d50", "ann", "dog", now, NULL));
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, false), "rt-dnull");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-dnull", "ann", "dog", now, NULL));
    /* Only sampling left: served even when not asked for first. */
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, false), "rt-s95");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-s95", "ann", "dog", now, NULL));
    RT_ASSERT_STR_EQ(next_id(j, "ann", now, false), "");
    int64_t open = -1, oldest = -1;
    RT_ASSERT_OK(rt_journal_review_open_stats(j, &open, &oldest));
    RT_ASSERT_INT_EQ(open, 0);
    RT_ASSERT_INT_EQ(oldest, 0);
    rt_journal_close(j);
}

RT_TEST(review_several_workers_per_task)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    struct rt_review_task t = task("rt-k3", RT_REVIEW_SOURCE_LABELING_JOB, 20);
    t.answers_needed = 2;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1));
    create(j, "rt-other", RT_REVIEW_SOURCE_DETECTION, 30, 1);
    /* Two workers may hold the same task while it needs two answers; a third may not. */
    RT_ASSERT_STR_EQ(next_id(j, "w1", 100, false), "rt-k3");
    RT_ASSERT_STR_EQ(next_id(j, "w2", 100, false), "rt-k3");
    RT_ASSERT_STR_EQ(next_id(j, "w3", 100, false), "rt-other");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-k3", "w1", "cat", 200, NULL));
    /* w1 answered it: never served to w1 again, even though it is still open. */
    RT_ASSERT_STR_EQ(next_id(j, "w1", 200, false), "");
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-k3", "w2", "cat", 300, NULL));
    struct rt_journal_review r;
    RT_ASSERT_OK(rt_journal_review_get(j, "rt-k3", &r));
    RT_ASSERT_STR_EQ(r.state, "answered");
    rt_journal_review_cleanup(&r);
    /* An assignment being written fills the room it takes. */
    const char *skip[] = {"rt-other"};
    RT_ASSERT_INT_EQ(rt_journal_review_next(j, "w4", 300, false, skip, 1, &r), RT_ENOTFOUND);
    rt_journal_close(j);
}

/* Assignments being written (not in the journal yet) count against a task's room, together with
 * the written ones of other workers; the task is served while room is left. */
RT_TEST(review_pending_assignments_count_against_room)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    struct rt_review_task t = task("rt-k3", RT_REVIEW_SOURCE_LABELING_JOB, 20);
    t.answers_needed = 3;
    RT_ASSERT_OK(rt_journal_review_create(j, &t, 1));
    const char *pending[] = {"rt-k3", "rt-k3", "rt-k3"};
    struct rt_journal_review r;
    for (size_t n = 0; n <= 3; n++) {
        int rc = rt_journal_review_next(j, "w1", 100, false, pending, n, &r);
        if (n < 3) {
            RT_ASSERT_OK(rc);
            RT_ASSERT_STR_EQ(r.id, "rt-k3");
            rt_journal_review_cleanup(&r);
        } else {
            RT_ASSERT_INT_EQ(rc, RT_ENOTFOUND);
        }
    }
    RT_ASSERT_OK(rt_journal_review_assign(j, "rt-k3", "w2", 100, 10000));
    RT_ASSERT_OK(rt_journal_review_next(j, "w1", 100, false, pending, 1, &r));
    rt_journal_review_cleanup(&r);
    RT_ASSERT_INT_EQ(rt_journal_review_next(j, "w1", 100, false, pending, 2, &r), RT_ENOTFOUND);
    /* An expired assignment takes no room. */
    RT_ASSERT_OK(rt_journal_review_next(j, "w1", 20000, false, pending, 2, &r));
    rt_journal_review_cleanup(&r);
    rt_journal_close(j);
}

struct seqs {
    char text[256];
};
static int collect_seq(const char *id, int64_t seq, void *ud)
{
    struct seqs *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s%s:%lld", len ? "," : "", id, (long long)seq);
    return 0;
}

RT_TEST(review_answered_cursor)
{
    const char *dir = data_dir("j");
    struct rt_journal *j = open_rw(dir);
    RT_ASSERT_INT_EQ(rt_journal_review_answered_max(j), 0);
    create(j, "rt-1", RT_REVIEW_SOURCE_DETECTION, 1, 1);
    create(j, "rt-2", RT_REVIEW_SOURCE_DETECTION, 2, 1);
    create(j, "rt-3", RT_REVIEW_SOURCE_DETECTION, 3, 1);
    /* rt-2 is answered first, with a later clock; the sequence follows the commits. */
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-2", "a", "dog", 5000, NULL));
    struct rt_journal *other = open_rw(dir);
    RT_ASSERT_OK(rt_journal_review_answer(other, "rt-3", "b", "cat", 10, NULL));
    rt_journal_close(other);
    struct seqs s = {""};
    RT_ASSERT_OK(rt_journal_review_answered_after(j, 0, 0, collect_seq, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-2:1,rt-3:2");
    s.text[0] = '\0';
    RT_ASSERT_OK(rt_journal_review_answered_after(j, 1, 0, collect_seq, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-3:2");
    RT_ASSERT_INT_EQ(rt_journal_review_answered_max(j), 2);
    rt_journal_close(j);
}

/* Each query is answered from an index, never a scan of every task. */
RT_TEST(review_queries_use_indexes)
{
    const char *dir = data_dir("j");
    struct rt_journal *j = open_rw(dir);
    rt_journal_close(j);
    char path[600];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    sqlite3 *db;
    RT_ASSERT_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    const char *queries[] = {
        "EXPLAIN QUERY PLAN SELECT t.id FROM review_tasks t WHERE t.state = 'open' AND "
        "(t.source = 'sampling') = ?3 AND NOT EXISTS (SELECT 1 FROM review_answers r WHERE "
        "r.task_id = t.id AND r.worker = ?1) AND t.answers + (SELECT count(*) FROM "
        "review_assignments s WHERE s.task_id = t.id AND s.worker <> ?1 AND s.expires_at > ?2) "
        "< t.answers_needed ORDER BY ifnull(t.confidence, 1000.0), t.created_at, t.id LIMIT ?4",
        "EXPLAIN QUERY PLAN SELECT id, answered_seq FROM review_tasks WHERE answered_seq > ?1 "
        "ORDER BY answered_seq LIMIT ?2",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        sqlite3_stmt *st;
        RT_ASSERT_INT_EQ(sqlite3_prepare_v2(db, queries[i], -1, &st, NULL), SQLITE_OK);
        char plan[1024] = "";
        while (sqlite3_step(st) == SQLITE_ROW) {
            size_t len = strlen(plan);
            snprintf(plan + len, sizeof(plan) - len, "%s; ", sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        RT_ASSERT(strstr(plan, "USING INDEX review_tasks_") != NULL);
        RT_ASSERT(strstr(plan, "TEMP B-TREE") == NULL); /* no sort: the index gives the order */
        RT_ASSERT(strstr(plan, "SCAN t ") == NULL || strstr(plan, "USING INDEX") != NULL);
    }
    sqlite3_close(db);
}

RT_TEST(review_batches)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_review_task t = task("rt-b", RT_REVIEW_SOURCE_SAMPLING, 12.5);
    t.instructions = "Look closely";
    t.model_version = NULL;
    RT_ASSERT_OK(rt_jbatch_review_create(b, &t, 77));
    RT_ASSERT_OK(rt_jbatch_review_create(b, &t, 78)); /* the second does nothing */
    RT_ASSERT_OK(rt_jbatch_review_assign(b, "rt-b", "ann", 80, 90));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    struct rt_journal_review r;
    RT_ASSERT_OK(rt_journal_review_get(j, "rt-b", &r));
    RT_ASSERT_STR_EQ(r.instructions, "Look closely");
    RT_ASSERT(r.model_version == NULL);
    RT_ASSERT_STR_EQ(r.source, "sampling");
    RT_ASSERT_INT_EQ(r.created_ms, 77);
    rt_journal_review_cleanup(&r);

    /* An answer the rules refuse fails its batch with the answer's code; nothing is written. */
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_state_set(b, "k", "v"));
    RT_ASSERT_OK(rt_jbatch_review_answer(b, "rt-b", "ann", "zebra", 100));
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_apply(j, b, &err), RT_EINVAL);
    rt_jbatch_free(b);
    char v[8];
    RT_ASSERT_INT_EQ(rt_journal_state_get(j, "k", v, sizeof(v)), RT_ENOTFOUND);

    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_review_answer(b, "rt-b", "ann", "dog", 100));
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_review_answer(b, "rt-b", "ann", "dog", 100));
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_apply(j, b, &err), -EEXIST);
    rt_jbatch_free(b);
    rt_journal_close(j);
}

struct listed {
    char text[256];
};
static int collect_task(const struct rt_journal_review *t, void *ud)
{
    struct listed *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s%s", len ? "," : "", t->id);
    return 0;
}

RT_TEST(review_list_filters)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    create(j, "rt-1", RT_REVIEW_SOURCE_DETECTION, 1, 1);
    create(j, "rt-2", RT_REVIEW_SOURCE_SAMPLING, 2, 2);
    create(j, "rt-3", RT_REVIEW_SOURCE_DETECTION, 3, 3);
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-3", "a", "dog", 10, NULL));
    struct listed s = {""};
    RT_ASSERT_OK(rt_journal_review_list(j, NULL, collect_task, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-3,rt-2,rt-1");
    s.text[0] = '\0';
    struct rt_journal_review_filter f = {.state = "open"};
    RT_ASSERT_OK(rt_journal_review_list(j, &f, collect_task, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-2,rt-1");
    s.text[0] = '\0';
    f = (struct rt_journal_review_filter){.source = "detection", .limit = 1};
    RT_ASSERT_OK(rt_journal_review_list(j, &f, collect_task, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-3");
    int64_t open, oldest;
    RT_ASSERT_OK(rt_journal_review_open_stats(j, &open, &oldest));
    RT_ASSERT_INT_EQ(open, 2);
    RT_ASSERT_INT_EQ(oldest, 1);
    rt_journal_close(j);
}

RT_TEST(review_reopen_asks_one_more)
{
    struct rt_journal *j = open_rw(data_dir("j"));
    create(j, "rt-r", RT_REVIEW_SOURCE_LABELING_JOB, -1, 1);
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-r", "w1", "cat", 10, NULL));
    RT_ASSERT_INT_EQ(rt_journal_review_reopen(j, "rt-r", 1), RT_EINVAL); /* not above 1 */
    RT_ASSERT_INT_EQ(rt_journal_review_reopen(j, "rt-none", 2), RT_ENOTFOUND);
    RT_ASSERT_OK(rt_journal_review_reopen(j, "rt-r", 2));
    struct rt_journal_review r;
    RT_ASSERT_OK(rt_journal_review_get(j, "rt-r", &r));
    RT_ASSERT_STR_EQ(r.state, "open");
    RT_ASSERT(r.result == NULL && r.answered_ms == 0);
    rt_journal_review_cleanup(&r);
    RT_ASSERT_STR_EQ(next_id(j, "w1", 20, false), ""); /* w1 answered it already */
    RT_ASSERT_STR_EQ(next_id(j, "w2", 20, false), "rt-r");
    struct rt_journal_review_outcome o;
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-r", "w2", "dog", 30, &o));
    RT_ASSERT(o.completed);
    RT_ASSERT_STR_EQ(o.result, "cat"); /* a tie: the earlier answer */
    /* The second completion has a sequence above the first: a cursor at 1 sees it. */
    RT_ASSERT_INT_EQ(rt_journal_review_answered_max(j), 2);
    struct seqs s = {""};
    RT_ASSERT_OK(rt_journal_review_answered_after(j, 1, 0, collect_seq, &s));
    RT_ASSERT_STR_EQ(s.text, "rt-r:2");
    rt_journal_close(j);
}
