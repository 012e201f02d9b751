/*
 * test_journal_label_jobs.c - labeling jobs in the journal: create and read back, names and
 * labels checked, a name never reused, the batch operations (started, stats, finish once), and
 * the reads over a job's tasks and answers.
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/error.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "rt_test.h"

static struct rt_journal *open_rw(void)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/data", rt_test_tmpdir());
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(path, RT_JOURNAL_READWRITE, &j, &err);
    if (rc)
        RT_FAIL("open %s: %s (%s)", path, err.msg, rt_err_name(rc));
    return j;
}

static char *labels3[] = {"cat", "dog", "bird"};

static struct rt_label_job job_named(const char *name)
{
    struct rt_label_job job = {.labels = labels3,
                               .n_labels = 3,
                               .prefix = "unlabeled/pets/",
                               .instructions = "What animal is this?",
                               .good_example = "unlabeled/examples/good.png",
                               .good_text = "a clear cat",
                               .workers_per_image = 3,
                               .max_workers = 5,
                               .min_confidence = 0.9,
                               .output_prefix = "labeling-jobs/pets/",
                               .fold = true,
                               .target_accuracy = 0.95};
    snprintf(job.name, sizeof(job.name), "%s", name);
    snprintf(job.kind, sizeof(job.kind), "label");
    return job;
}

static void apply(struct rt_journal *j, struct rt_jbatch *b)
{
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_apply(j, b, &err);
    rt_jbatch_free(b);
    if (rc)
        RT_FAIL("apply: %s (%s)", err.msg, rt_err_name(rc));
}

RT_TEST(create_then_read_back_every_field)
{
    struct rt_journal *j = open_rw();
    struct rt_label_job in = job_named("pets-1");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &in, 1000));
    struct rt_label_job out;
    RT_ASSERT_OK(rt_journal_label_job_get(j, "pets-1", &out));
    RT_ASSERT_STR_EQ(out.kind, "label");
    RT_ASSERT_STR_EQ(out.state, "running");
    RT_ASSERT_STR_EQ(out.prefix, "unlabeled/pets/");
    RT_ASSERT_INT_EQ(out.n_labels, 3);
    RT_ASSERT_STR_EQ(out.labels[2], "bird");
    RT_ASSERT_STR_EQ(out.instructions, "What animal is this?");
    RT_ASSERT_STR_EQ(out.good_example, "unlabeled/examples/good.png");
    RT_ASSERT_STR_EQ(out.good_text, "a clear cat");
    RT_ASSERT(out.bad_example == NULL && out.bad_text == NULL);
    RT_ASSERT_INT_EQ(out.workers_per_image, 3);
    RT_ASSERT_INT_EQ(out.max_workers, 5);
    RT_ASSERT(out.min_confidence == 0.9 && out.target_accuracy == 0.95);
    RT_ASSERT(out.fold && !out.auto_label);
    RT_ASSERT_STR_EQ(out.output_prefix, "labeling-jobs/pets/");
    RT_ASSERT_INT_EQ(out.created_ms, 1000);
    RT_ASSERT(out.finished_ms == 0 && out.output_manifest == NULL && out.exec_id[0] == '\0');
    rt_label_job_cleanup(&out);
    RT_ASSERT_INT_EQ(rt_journal_label_job_get(j, "nope", &out), RT_ENOTFOUND);
    rt_journal_close(j);
}

RT_TEST(a_name_is_never_reused)
{
    struct rt_journal *j = open_rw();
    struct rt_label_job in = job_named("pets-1");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &in, 1000));
    RT_ASSERT_INT_EQ(rt_journal_label_job_create(j, &in, 2000), RT_EBUSY);
    struct rt_jbatch *b;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_label_job_create(b, &in, 3000));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_journal_apply(j, b, &err), RT_EBUSY);
    rt_jbatch_free(b);
    struct rt_label_job out;
    RT_ASSERT_OK(rt_journal_label_job_get(j, "pets-1", &out));
    RT_ASSERT_INT_EQ(out.created_ms, 1000); /* the first one stands */
    rt_label_job_cleanup(&out);
    rt_journal_close(j);
}

RT_TEST(bad_names_labels_and_counts_are_refused_with_the_reason)
{
    struct rt_error err;
    const char *bad_names[] = {"",
                               "-a",
                               "Pets",
                               "a b",
                               "a/b",
                               "a.b",
                               "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        rt_error_clear(&err);
        RT_ASSERT_INT_EQ(rt_label_job_name_check(bad_names[i], &err), RT_EINVAL);
        RT_ASSERT(err.msg[0]);
    }
    RT_ASSERT_OK(rt_label_job_name_check("cats-dogs-1", NULL));
    struct rt_label_job job = job_named("x");
    char *dup[] = {"cat", "cat"};
    job.labels = dup;
    job.n_labels = 2;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_label_job_check(&job, &err), RT_EINVAL);
    RT_ASSERT_CONTAINS(err.msg, "twice");
    char *slash[] = {"cat", "a/b"};
    job.labels = slash;
    RT_ASSERT_INT_EQ(rt_label_job_check(&job, NULL), RT_EINVAL);
    job = job_named("x");
    job.n_labels = 1;
    RT_ASSERT_INT_EQ(rt_label_job_check(&job, NULL), RT_EINVAL);
    job = job_named("x");
    job.max_workers = 2; /* below workers_per_image */
    RT_ASSERT_INT_EQ(rt_label_job_check(&job, NULL), RT_EINVAL);
    job = job_named("x");
    snprintf(job.kind, sizeof(job.kind), "other");
    RT_ASSERT_INT_EQ(rt_label_job_check(&job, NULL), RT_EINVAL);
    struct rt_journal *j = open_rw();
    job = job_named("Bad Name");
    RT_ASSERT_INT_EQ(rt_journal_label_job_create(j, &job, 1), RT_EINVAL);
    rt_journal_close(j);
}

static int count_job(const struct rt_label_job *job, void *ud)
{
    char *names = ud;
    strcat(names, job->name);
    strcat(names, ",");
    return 0;
}

RT_TEST(batch_started_stats_and_one_finish)
{
    struct rt_journal *j = open_rw();
    struct rt_jbatch *b;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_label_job a = job_named("a"), c = job_named("c");
    RT_ASSERT_OK(rt_jbatch_label_job_create(b, &a, 10));
    RT_ASSERT_OK(rt_jbatch_label_job_create(b, &c, 20));
    RT_ASSERT_OK(rt_jbatch_label_job_started(b, "a", "lj-20260101T000000Z-0001"));
    RT_ASSERT_OK(rt_jbatch_label_job_stats(b, "a", "{\"labeled\":3}"));
    apply(j, b);
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_label_job_finish(b, "a", "done", "labeling-jobs/a/output.manifest", 50));
    RT_ASSERT_OK(rt_jbatch_label_job_finish(b, "a", "failed", NULL, 60)); /* no second end */
    apply(j, b);
    struct rt_label_job out;
    RT_ASSERT_OK(rt_journal_label_job_get(j, "a", &out));
    RT_ASSERT_STR_EQ(out.exec_id, "lj-20260101T000000Z-0001");
    RT_ASSERT_STR_EQ(out.stats, "{\"labeled\":3}");
    RT_ASSERT_STR_EQ(out.state, "done");
    RT_ASSERT_INT_EQ(out.finished_ms, 50);
    RT_ASSERT_STR_EQ(out.output_manifest, "labeling-jobs/a/output.manifest");
    rt_label_job_cleanup(&out);
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_INT_EQ(rt_jbatch_label_job_finish(b, "a", "sideways", NULL, 1), RT_EINVAL);
    rt_jbatch_free(b);
    char names[64] = "";
    RT_ASSERT_OK(rt_journal_label_job_list(j, count_job, names));
    RT_ASSERT_STR_EQ(names, "c,a,"); /* newest first */
    rt_journal_close(j);
}

struct seen {
    char text[512];
    int n;
};

static int collect(const struct rt_label_job_answer *a, void *ud)
{
    struct seen *s = ud;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s:%s:%s;", a->key, a->worker, a->label);
    s->n++;
    return 0;
}

RT_TEST(counts_and_answers_of_a_job_only)
{
    struct rt_journal *j = open_rw();
    struct rt_label_job in = job_named("pets-1");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &in, 1000));
    const char *options[] = {"cat", "dog", "bird"};
    const char *keys[] = {"unlabeled/pets/1.png", "unlabeled/pets/2.png"};
    const char *ids[] = {"lj-pets-1-aaaa", "lj-pets-1-bbbb"};
    for (int i = 0; i < 2; i++) {
        struct rt_review_task t = {.id = ids[i],
                                   .source = RT_REVIEW_SOURCE_LABELING_JOB,
                                   .job = "pets-1",
                                   .key = keys[i],
                                   .confidence = -1,
                                   .options = options,
                                   .n_options = 3,
                                   .answers_needed = 2};
        RT_ASSERT_OK(rt_journal_review_create(j, &t, 2000 + i));
    }
    /* a task of another source is not the job's */
    struct rt_review_task other = {.id = "rt-x",
                                   .source = "detection",
                                   .key = "images_for_detection/x.png",
                                   .confidence = 50,
                                   .options = options,
                                   .n_options = 3,
                                   .answers_needed = 1};
    RT_ASSERT_OK(rt_journal_review_create(j, &other, 2500));
    struct rt_journal_review_outcome o;
    RT_ASSERT_OK(rt_journal_review_answer(j, ids[0], "ann", "cat", 3000, &o));
    RT_ASSERT_OK(rt_journal_review_answer(j, ids[0], "bob", "dog", 3001, &o));
    RT_ASSERT_OK(rt_journal_review_answer(j, ids[1], "ann", "bird", 3002, &o));
    RT_ASSERT_OK(rt_journal_review_answer(j, "rt-x", "ann", "cat", 3003, &o));
    struct rt_label_job_counts c;
    RT_ASSERT_OK(rt_journal_label_job_counts(j, "pets-1", &c));
    RT_ASSERT_INT_EQ(c.total, 2);
    RT_ASSERT_INT_EQ(c.answered, 1);
    RT_ASSERT_INT_EQ(c.answers, 3);
    struct seen s = {.n = 0};
    RT_ASSERT_OK(rt_journal_label_job_answers(j, "pets-1", collect, &s));
    RT_ASSERT_INT_EQ(s.n, 3);
    RT_ASSERT_STR_EQ(s.text, "unlabeled/pets/1.png:ann:cat;unlabeled/pets/1.png:bob:dog;"
                             "unlabeled/pets/2.png:ann:bird;");
    RT_ASSERT_OK(rt_journal_label_job_counts(j, "none", &c));
    RT_ASSERT_INT_EQ(c.total, 0);
    rt_journal_close(j);
}
