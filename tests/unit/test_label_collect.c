/*
 * test_label_collect.c - a job's answers gathered for the consolidation (label_collect.h) and the
 * task ids of a job's images: the same answers give the same numbering and the same result
 * whatever order and time they came in (a restarted job writes the same manifest), an answer
 * that is not one of the job's labels is no opinion, and task ids derive from job and key only.
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "retraind/label_collect.h"
#include "retraind/workflow.h"
#include "rt_test.h"

static struct rt_journal *open_rw(const char *sub)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", rt_test_tmpdir(), sub);
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(path, RT_JOURNAL_READWRITE, &j, &err);
    if (rc)
        RT_FAIL("open %s: %s", path, err.msg);
    return j;
}

static char *labels[] = {"cat", "dog", "bird"};
static const char *options[] = {"cat", "dog", "bird", "None of the Above"};
static const char *const workers[] = {"zed", "ann", "mia", "bob"};
#define N_IMAGES 30

static const char *answer_of(int w, int i)
{
    if (w == 3)
        return "cat"; /* always the same */
    if ((i + w) % 6 == 0)
        return options[(i + 1) % 3]; /* wrong now and then */
    if (w == 2 && i == 5)
        return "None of the Above";
    return options[i % 3];
}

/* Makes the job and its tasks; answers come in the order given by reverse (and at times that
 * differ between the two journals). */
static void fill(struct rt_journal *j, bool reverse)
{
    struct rt_label_job job = {.labels = labels,
                               .n_labels = 3,
                               .prefix = "unlabeled/p/",
                               .instructions = "which animal",
                               .workers_per_image = 3,
                               .max_workers = 4,
                               .min_confidence = 0.8,
                               .output_prefix = "labeling-jobs/p/",
                               .target_accuracy = 0.95};
    snprintf(job.name, sizeof(job.name), "p");
    snprintf(job.kind, sizeof(job.kind), "label");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &job, 1000));
    char ids[N_IMAGES][80], keys[N_IMAGES][64];
    for (int i = 0; i < N_IMAGES; i++) {
        snprintf(keys[i], sizeof(keys[i]), "unlabeled/p/%02d.png", i);
        RT_ASSERT_OK(rt_label_task_id("p", keys[i], ids[i], sizeof(ids[i])));
        struct rt_review_task t = {.id = ids[i],
                                   .source = RT_REVIEW_SOURCE_LABELING_JOB,
                                   .job = "p",
                                   .key = keys[i],
                                   .confidence = -1,
                                   .options = options,
                                   .n_options = 4,
                                   .answers_needed = 3};
        RT_ASSERT_OK(rt_journal_review_create(j, &t, 2000));
    }
    int64_t at = reverse ? 90000 : 5000;
    for (int n = 0; n < N_IMAGES * 3; n++) {
        int k = reverse ? N_IMAGES * 3 - 1 - n : n;
        int i = k / 3, w = (k % 3 + i) % 4; /* three of the four workers per image */
        struct rt_journal_review_outcome o;
        RT_ASSERT_OK(rt_journal_review_answer(j, ids[i], workers[w], answer_of(w, i), at, &o));
        at += reverse ? 7 : 13;
    }
}

RT_TEST(the_same_answers_in_another_order_give_the_same_collection_and_result)
{
    struct rt_journal *a = open_rw("a"), *b = open_rw("b");
    fill(a, false);
    fill(b, true);
    struct rt_label_job job;
    RT_ASSERT_OK(rt_journal_label_job_get(a, "p", &job));
    struct rt_label_collection ca, cb;
    RT_ASSERT_OK(rt_label_collect(a, &job, &ca));
    RT_ASSERT_OK(rt_label_collect(b, &job, &cb));
    RT_ASSERT_INT_EQ(ca.n_items, N_IMAGES);
    RT_ASSERT_INT_EQ(cb.n_items, N_IMAGES);
    RT_ASSERT_INT_EQ(ca.n_workers, 4);
    /* workers in name order, not in the order they first answered */
    RT_ASSERT_STR_EQ(ca.workers[0], "ann");
    RT_ASSERT_STR_EQ(ca.workers[3], "zed");
    for (int w = 0; w < 4; w++)
        RT_ASSERT_STR_EQ(ca.workers[w], cb.workers[w]);
    /* "None of the Above" is no opinion: one answer fewer than given */
    RT_ASSERT_INT_EQ((long long)ca.n_answers, N_IMAGES * 3 - 1);
    RT_ASSERT_INT_EQ((long long)cb.n_answers, (long long)ca.n_answers);
    RT_ASSERT(memcmp(ca.answers, cb.answers, ca.n_answers * sizeof(*ca.answers)) == 0);
    for (size_t n = 1; n < ca.n_answers; n++)
        RT_ASSERT(ca.answers[n - 1].item < ca.answers[n].item ||
                  (ca.answers[n - 1].item == ca.answers[n].item &&
                   ca.answers[n - 1].worker < ca.answers[n].worker));
    for (int i = 0; i < N_IMAGES; i++) {
        RT_ASSERT_STR_EQ(ca.items[i].key, cb.items[i].key);
        RT_ASSERT(ca.items[i].answered);
        RT_ASSERT(ca.items[i].last_at_ms > 0);
    }
    struct rt_ds_result ra, rb;
    RT_ASSERT_OK(rt_label_consolidate(&ca, &job, &ra));
    RT_ASSERT_OK(rt_label_consolidate(&cb, &job, &rb));
    RT_ASSERT(memcmp(ra.posterior, rb.posterior, sizeof(double) * N_IMAGES * 3) == 0);
    RT_ASSERT(memcmp(ra.accuracy, rb.accuracy, sizeof(double) * 4) == 0);
    /* the worker who always answers "cat" (bob) is judged the worst */
    for (int w = 0; w < 4; w++)
        if (strcmp(ca.workers[w], "bob") != 0)
            RT_ASSERT(ra.quality[w] > ra.quality[1]);
    rt_ds_result_free(&ra);
    rt_ds_result_free(&rb);
    rt_label_collection_free(&ca);
    rt_label_collection_free(&cb);
    rt_label_job_cleanup(&job);
    rt_journal_close(a);
    rt_journal_close(b);
}

RT_TEST(task_ids_derive_from_job_and_key_only)
{
    char a[80], b[80], c[80], d[80];
    RT_ASSERT_OK(rt_label_task_id("cats", "unlabeled/x.png", a, sizeof(a)));
    RT_ASSERT_OK(rt_label_task_id("cats", "unlabeled/x.png", b, sizeof(b)));
    RT_ASSERT_OK(rt_label_task_id("cats", "unlabeled/y.png", c, sizeof(c)));
    RT_ASSERT_OK(rt_label_task_id("dogs", "unlabeled/x.png", d, sizeof(d)));
    RT_ASSERT_STR_EQ(a, b);
    RT_ASSERT(strcmp(a, c) != 0 && strcmp(a, d) != 0);
    RT_ASSERT_INT_EQ((long long)strlen(a), 19);
    RT_ASSERT(strncmp(a, "lj-", 3) == 0);
    for (const char *p = a + 3; *p; p++)
        RT_ASSERT((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    RT_ASSERT_INT_EQ(rt_label_task_id("cats", "unlabeled/x.png", a, 10), RT_EINVAL);
}
