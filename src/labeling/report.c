/*
 * report.c - a labeling job's status report (label_report.h).
 *
 * One pass over the job's answers (ordered by task, so each task's answers are consecutive)
 * numbers the items and the workers, then rt_ds_consolidate estimates every item's label and
 * every worker's accuracy at once. Worker names are looked up in a small open-addressing table,
 * so a job with many answers costs one hash per answer.
 */
#include "retraind/label_report.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/consolidate.h"
#include "retraind/hash.h"
#include "retraind/journal_label_jobs.h"

struct collect {
    const struct rt_label_job *job;
    struct rt_ds_answer *answers;
    size_t n, cap;
    char last_task[128];
    int items;
    bool *item_answered; /* per item */
    int item_cap;
    char **workers; /* names, in first-answer order */
    int n_workers, worker_cap;
    int *slots; /* open addressing: worker index + 1, 0 = empty */
    int n_slots;
    int rc;
};

static int label_index(const struct rt_label_job *job, const char *label)
{
    for (int k = 0; k < job->n_labels; k++)
        if (strcmp(job->labels[k], label) == 0)
            return k;
    return -1;
}

static int grow_slots(struct collect *c);

static int worker_index(struct collect *c, const char *name)
{
    if (c->n_workers * 2 >= c->n_slots && grow_slots(c))
        return -1;
    uint64_t h = rt_hash64(name, strlen(name));
    for (int i = (int)(h % (uint64_t)c->n_slots);; i = (i + 1) % c->n_slots) {
        if (c->slots[i] == 0) {
            if (c->n_workers == c->worker_cap) {
                int cap = c->worker_cap ? c->worker_cap * 2 : 16;
                char **w = rt_realloc(c->workers, (size_t)cap * sizeof(char *));
                if (!w)
                    return -1;
                c->workers = w;
                c->worker_cap = cap;
            }
            if (!(c->workers[c->n_workers] = rt_strdup(name)))
                return -1;
            c->slots[i] = ++c->n_workers;
            return c->n_workers - 1;
        }
        if (strcmp(c->workers[c->slots[i] - 1], name) == 0)
            return c->slots[i] - 1;
    }
}

static int grow_slots(struct collect *c)
{
    int n = c->n_slots ? c->n_slots * 2 : 64;
    int *s = rt_calloc((size_t)n, sizeof(int));
    if (!s)
        return RT_ENOMEM;
    for (int i = 0; i < c->n_slots; i++) {
        if (!c->slots[i])
            continue;
        const char *name = c->workers[c->slots[i] - 1];
        uint64_t h = rt_hash64(name, strlen(name));
        int k = (int)(h % (uint64_t)n);
        while (s[k])
            k = (k + 1) % n;
        s[k] = c->slots[i];
    }
    rt_free(c->slots);
    c->slots = s;
    c->n_slots = n;
    return 0;
}

static int on_answer(const struct rt_label_job_answer *a, void *ud)
{
    struct collect *c = ud;
    if (strcmp(a->task_id, c->last_task) != 0) {
        if (c->items == c->item_cap) {
            int cap = c->item_cap ? c->item_cap * 2 : 256;
            bool *m = rt_realloc(c->item_answered, (size_t)cap * sizeof(bool));
            if (!m)
                return c->rc = RT_ENOMEM;
            c->item_answered = m;
            c->item_cap = cap;
        }
        c->item_answered[c->items++] = a->task_answered;
        rt_strlcpy(c->last_task, a->task_id, sizeof(c->last_task));
    }
    int label = label_index(c->job, a->label);
    if (label < 0)
        return 0; /* not one of the job's labels (None of the Above): no opinion */
    int w = worker_index(c, a->worker);
    if (w < 0)
        return c->rc = RT_ENOMEM;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct rt_ds_answer *x = rt_realloc(c->answers, cap * sizeof(*x));
        if (!x)
            return c->rc = RT_ENOMEM;
        c->answers = x;
        c->cap = cap;
    }
    c->answers[c->n++] = (struct rt_ds_answer){c->items - 1, w, label};
    return 0;
}

static void collect_free(struct collect *c)
{
    for (int i = 0; i < c->n_workers; i++)
        rt_free(c->workers[i]);
    rt_free(c->workers);
    rt_free(c->slots);
    rt_free(c->answers);
    rt_free(c->item_answered);
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
    struct collect c = {.job = &job};
    rc = rt_journal_label_job_counts(j, name, &counts);
    if (!rc)
        rc = rt_journal_label_job_answers(j, name, on_answer, &c);
    if (!rc)
        rc = c.rc;
    struct rt_ds_result ds = {0};
    bool have_ds = false;
    if (!rc && c.n > 0 && job.n_labels >= 2) {
        struct rt_ds_options o = {
            .n_items = c.items, .n_workers = c.n_workers, .n_labels = job.n_labels};
        rc = rt_ds_consolidate(c.answers, c.n, &o, &ds);
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
        cJSON *labels = cJSON_AddObjectToObject(out, "labels");
        for (int k = 0; labels && k < job.n_labels; k++) {
            int n = 0;
            for (int i = 0; have_ds && i < c.items; i++)
                n += c.item_answered[i] && ds.label[i] == k;
            cJSON_AddNumberToObject(labels, job.labels[k], n);
        }
        cJSON *workers = cJSON_AddObjectToObject(out, "workers");
        for (int w = 0; workers && w < c.n_workers; w++) {
            cJSON *o = cJSON_AddObjectToObject(workers, c.workers[w]);
            cJSON_AddNumberToObject(o, "answers", have_ds ? ds.answers[w] : 0);
            cJSON_AddNumberToObject(o, "quality", have_ds ? ds.accuracy[w] : 0);
        }
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
    collect_free(&c);
    rt_label_job_cleanup(&job);
    return rc;
}
