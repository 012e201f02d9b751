/*
 * review_fixture.c - makes review tasks in a journal for the integration tests of `retraind
 * review` (tasks come from detections, which these tests do not run), and holds the journal's
 * write lock to show that the CLI waits for it.
 *
 *   review-fixture DATA_DIR create ID SOURCE KEY CONFIDENCE NEEDED [CREATED_MS]
 *       options "cat", "dog", "None of the Above"; CONFIDENCE < 0: none
 *   review-fixture DATA_DIR label-task ID JOB KEY [CURRENT_LABEL]
 *       a task of labeling job JOB (its row must exist) as the job's workflow makes it: source
 *       labeling-job, the job's labels and instructions, workers_per_image answers; with
 *       CURRENT_LABEL a verification task (that label first, and as detected_label)
 *   review-fixture DATA_DIR lock SECONDS
 *       prints "locked" once BEGIN IMMEDIATE holds the lock, then holds it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: review-fixture DATA_DIR create|lock ...\n");
        return 2;
    }
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_journal_open(argv[1], RT_JOURNAL_READWRITE, &j, &err) != 0) {
        fprintf(stderr, "review-fixture: %s\n", err.msg);
        return 1;
    }
    int rc = 2;
    if (strcmp(argv[2], "create") == 0 && (argc == 8 || argc == 9)) {
        static const char *const options[] = {"cat", "dog", "None of the Above"};
        struct rt_review_task t = {.id = argv[3],
                                   .source = argv[4],
                                   .key = argv[5],
                                   .detected_label = "cat",
                                   .confidence = strtod(argv[6], NULL),
                                   .model_version = "v1",
                                   .options = options,
                                   .n_options = 3,
                                   .answers_needed = atoi(argv[7])}; /* checksrc:allow */
        int64_t at = argc == 9 ? strtoll(argv[8], NULL, 10) : rt_now_ms();
        rc = rt_journal_review_create(j, &t, at) ? 1 : 0;
    } else if (strcmp(argv[2], "label-task") == 0 && (argc == 6 || argc == 7)) {
        struct rt_label_job job;
        rc = 1;
        if (rt_journal_label_job_get(j, argv[4], &job) == 0) {
            const char *options[RT_LABEL_JOB_MAX_LABELS];
            const char *current = argc == 7 ? argv[6] : NULL;
            size_t n = 0;
            if (current)
                options[n++] = current;
            for (int i = 0; i < job.n_labels && n < RT_LABEL_JOB_MAX_LABELS; i++)
                if (!current || strcmp(job.labels[i], current) != 0)
                    options[n++] = job.labels[i];
            struct rt_review_task t = {.id = argv[3],
                                       .source = RT_REVIEW_SOURCE_LABELING_JOB,
                                       .job = job.name,
                                       .key = argv[5],
                                       .detected_label = current,
                                       .confidence = -1,
                                       .options = options,
                                       .n_options = n,
                                       .instructions = job.instructions,
                                       .answers_needed = job.workers_per_image};
            rc = rt_journal_review_create(j, &t, rt_now_ms()) ? 1 : 0;
            rt_label_job_cleanup(&job);
        }
    } else if (strcmp(argv[2], "lock") == 0 && argc == 4) {
        rc = rt_journal_begin(j) ? 1 : 0;
        if (rc == 0) {
            printf("locked\n");
            fflush(stdout);
            sleep((unsigned)strtoul(argv[3], NULL, 10));
            rc = rt_journal_commit(j) ? 1 : 0;
        }
    }
    rt_journal_close(j);
    if (rc == 2)
        fprintf(stderr, "review-fixture: bad arguments\n");
    return rc;
}
