/* test_label_report.c - `label-job status --json` built from the journal (label_report.h). */
#include <cjson/cJSON.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "retraind/label_report.h"
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
        RT_FAIL("open %s: %s", path, err.msg);
    return j;
}

static char *labels[] = {"cat", "dog"};
static const char *options[] = {"cat", "dog"};

/* 40 images, truth alternating. Four workers, three per image (not worker i % 4): ann, bob and
 * cal are wrong on every 7th, 9th and 5th image, eve always answers "cat". The last 4 images
 * have ann's answer only (still open). */
static const char *const names[] = {"ann", "bob", "cal", "eve"};

static bool wrong(int w, int i)
{
    return (w == 0 && i % 7 == 0) || (w == 1 && i % 9 == 1) || (w == 2 && i % 5 == 2);
}

static void make_job(struct rt_journal *j)
{
    struct rt_label_job job = {.labels = labels,
                               .n_labels = 2,
                               .prefix = "unlabeled/pets/",
                               .workers_per_image = 3,
                               .max_workers = 3,
                               .target_accuracy = 0.95};
    snprintf(job.name, sizeof(job.name), "pets");
    snprintf(job.kind, sizeof(job.kind), "label");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &job, 1));
    for (int i = 0; i < 40; i++) {
        char id[64], key[64];
        snprintf(id, sizeof(id), "lj-pets-%03d", i);
        snprintf(key, sizeof(key), "unlabeled/pets/%03d.png", i);
        struct rt_review_task t = {.id = id,
                                   .source = RT_REVIEW_SOURCE_LABELING_JOB,
                                   .job = "pets",
                                   .key = key,
                                   .confidence = -1,
                                   .options = options,
                                   .n_options = 2,
                                   .answers_needed = 3};
        RT_ASSERT_OK(rt_journal_review_create(j, &t, 10 + i));
        const char *truth = i % 2 ? "dog" : "cat";
        const char *other = i % 2 ? "cat" : "dog";
        struct rt_journal_review_outcome o;
        for (int w = 0; w < 4; w++) {
            if (w == i % 4 || (i >= 36 && w != 0))
                continue;
            const char *said = w == 3 ? "cat" : wrong(w, i) ? other : truth;
            RT_ASSERT_OK(rt_journal_review_answer(j, id, names[w], said, 100 + w, &o));
        }
    }
}

RT_TEST(status_counts_labels_by_consolidation_and_ranks_the_workers)
{
    struct rt_journal *j = open_rw();
    make_job(j);
    char *text = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_label_job_report(j, "pets", &text, &err));
    cJSON *r = cJSON_Parse(text);
    RT_ASSERT(r != NULL);
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(r, "name")->valuestring, "pets");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(r, "state")->valuestring, "running");
    RT_ASSERT_INT_EQ((int)cJSON_GetObjectItem(r, "total")->valuedouble, 40);
    RT_ASSERT_INT_EQ((int)cJSON_GetObjectItem(r, "labeled")->valuedouble, 36);
    /* 3 answers on each of 0..35, ann's alone on 37..39 (none on 36, where ann sits out) */
    RT_ASSERT_INT_EQ((int)cJSON_GetObjectItem(r, "answers")->valuedouble, 36 * 3 + 3);
    RT_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(r, "output_manifest")));
    /* The labels of the 36 finished images come from the consolidation (about half each). */
    cJSON *l = cJSON_GetObjectItem(r, "labels");
    int cats = (int)cJSON_GetObjectItem(l, "cat")->valuedouble;
    RT_ASSERT_INT_EQ(cats + (int)cJSON_GetObjectItem(l, "dog")->valuedouble, 36);
    RT_ASSERT(cats >= 14 && cats <= 22);
    /* eve, who always says cat, is right about as often as cats come up: the lowest quality. */
    cJSON *w = cJSON_GetObjectItem(r, "workers");
    double q[4];
    for (int k = 0; k < 4; k++) {
        cJSON *o = cJSON_GetObjectItem(w, names[k]);
        RT_ASSERT(o != NULL);
        q[k] = cJSON_GetObjectItem(o, "quality")->valuedouble;
        RT_ASSERT(q[k] >= 0 && q[k] <= 1);
    }
    RT_ASSERT_INT_EQ(
        (int)cJSON_GetObjectItem(cJSON_GetObjectItem(w, "ann"), "answers")->valuedouble,
        27 + 3); /* 0..35 but i % 4 == 0, and 37..39 (36 has none) */
    RT_ASSERT(q[0] > 0.7 && q[1] > 0.7 && q[2] > 0.7);
    RT_ASSERT(q[3] < q[0] && q[3] < q[1] && q[3] < q[2] && q[3] <= 0.6);
    cJSON_Delete(r);
    rt_free(text);
    rt_journal_close(j);
}

RT_TEST(status_of_an_unknown_job_names_it)
{
    struct rt_journal *j = open_rw();
    char *text = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_label_job_report(j, "nope", &text, &err), RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(err.msg, "nope");
    RT_ASSERT(text == NULL);
    rt_journal_close(j);
}

RT_TEST(status_of_a_job_without_answers)
{
    struct rt_journal *j = open_rw();
    struct rt_label_job job = {.labels = labels,
                               .n_labels = 2,
                               .prefix = "unlabeled/x/",
                               .workers_per_image = 1,
                               .max_workers = 1};
    snprintf(job.name, sizeof(job.name), "empty");
    snprintf(job.kind, sizeof(job.kind), "verify");
    RT_ASSERT_OK(rt_journal_label_job_create(j, &job, 1));
    char *text = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_label_job_report(j, "empty", &text, &err));
    RT_ASSERT_STR_EQ(text,
                     "{\"name\":\"empty\",\"kind\":\"verify\",\"state\":\"running\",\"total\":0,"
                     "\"labeled\":0,\"answers\":0,\"machine_labeled\":0,\"held\":0,"
                     "\"labels\":{\"cat\":0,\"dog\":0},"
                     "\"workers\":{},\"output_manifest\":null}");
    rt_free(text);
    rt_journal_close(j);
}
