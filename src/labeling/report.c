/*
 * report.c - a labeling job's status report (label_report.h).
 *
 * The job's answers are gathered as the workflow gathers them (label_collect.h), then
 * rt_ds_consolidate estimates every item's label and every worker's accuracy at once; the
 * workflow's own figures (machine labels, moves, error rates) come from the job's stats.
 */
#include "retraind/label_report.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/consolidate.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/label_collect.h"

/* The workflow's own figures (machine labels, moves, error rates) kept in the job's stats. */
static void add_stats(cJSON *out, const char *stats)
{
    cJSON *s = stats ? cJSON_Parse(stats) : NULL;
    static const char *const keys[] = {"machine_labeled", "auto_label",  "moved",
                                       "error_rate",      "extra_asked", "consolidations"};
    for (size_t i = 0; s && i < sizeof(keys) / sizeof(keys[0]); i++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(s, keys[i]);
        if (v && !cJSON_AddItemToObject(out, keys[i], v))
            cJSON_Delete(v);
    }
    cJSON_Delete(s);
}

int rt_label_job_report(struct rt_journal *j,
                        const char *name,
                        char **json_out,
                        struct rt_error *err)
{
    *json_out = NULL;
    struct rt_label_job job;
    int rc = rt_journal_label_job_get(j, name, &job);
    if (rc == RT_ENOTFOUND)
        return rt_error_set(err, rc, "no labeling job named \"%s\"", name);
    if (rc)
        return rt_error_set(err, rc, "cannot read labeling job %s: %s", name, rt_strerror(rc));
    struct rt_label_job_counts counts;
    struct rt_label_collection c = {0};
    rc = rt_journal_label_job_counts(j, name, &counts);
    if (!rc)
        rc = rt_label_collect(j, &job, &c);
    struct rt_ds_result ds = {0};
    bool have_ds = false;
    if (!rc && c.n_answers > 0 && job.n_labels >= 2) {
        rc = rt_label_consolidate(&c, &job, &ds);
        have_ds = rc == 0;
    }
    cJSON *out = rc ? NULL : cJSON_CreateObject();
    if (out) {
        cJSON_AddStringToObject(out, "name", job.name);
        cJSON_AddStringToObject(out, "kind", job.kind);
        cJSON_AddStringToObject(out, "state", job.state);
        cJSON_AddNumberToObject(out, "total", (double)counts.total);
        cJSON_AddNumberToObject(out, "labeled", (double)counts.answered);
        cJSON_AddNumberToObject(out, "answers", (double)counts.answers);
        cJSON_AddNumberToObject(out, "machine_labeled", (double)counts.machine);
        cJSON_AddNumberToObject(out, "held", (double)counts.held);
        cJSON *labels = cJSON_AddObjectToObject(out, "labels");
        for (int k = 0; labels && k < job.n_labels; k++) {
            int n = 0;
            for (int i = 0; i < c.n_items; i++) {
                const struct rt_label_item *it = &c.items[i];
                int label = it->machine_label >= 0                     ? it->machine_label
                            : have_ds && it->answered && it->n_answers ? ds.label[i]
                                                                       : -1;
                n += label == k;
            }
            cJSON_AddNumberToObject(labels, job.labels[k], n);
        }
        cJSON *workers = cJSON_AddObjectToObject(out, "workers");
        for (int w = 0; workers && w < c.n_workers; w++) {
            cJSON *o = cJSON_AddObjectToObject(workers, c.workers[w]);
            cJSON_AddNumberToObject(o, "answers", have_ds ? ds.answers[w] : 0);
            cJSON_AddNumberToObject(o, "quality", have_ds ? ds.accuracy[w] : 0);
        }
        add_stats(out, job.stats);
        if (job.output_manifest)
            cJSON_AddStringToObject(out, "output_manifest", job.output_manifest);
        else
            cJSON_AddNullToObject(out, "output_manifest");
        char *text = cJSON_PrintUnformatted(out);
        *json_out = text ? rt_strdup(text) : NULL;
        cJSON_free(text);
        cJSON_Delete(out);
        if (!*json_out)
            rc = RT_ENOMEM;
    } else if (!rc) {
        rc = RT_ENOMEM;
    }
    if (rc)
        rt_error_set(err, rc, "labeling job %s: cannot build its report: %s", name,
                     rt_strerror(rc));
    if (have_ds)
        rt_ds_result_free(&ds);
    rt_label_collection_free(&c);
    rt_label_job_cleanup(&job);
    return rc;
}
