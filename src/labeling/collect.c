/*
 * collect.c - a labeling job's answers gathered for the consolidation (label_collect.h).
 *
 * One pass over the job's tasks makes the items (task-id order); one pass over the answers (also
 * in task-id order, so a cursor walks the items alongside) records each answer with its worker's
 * name; the names are then sorted, numbered, and the answers renumbered, so the numbering never
 * depends on who answered first.
 */
#include "retraind/label_collect.h"

#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"

struct raw_answer {
    int item;
    int label;
    char *worker; /* owned until the workers are numbered */
};

struct collect {
    const struct rt_label_job *job;
    struct rt_label_collection *out;
    int item_cap;
    int cursor; /* the item the answers are at */
    struct raw_answer *raw;
    size_t n_raw, raw_cap;
    int rc;
};

int rt_label_job_label_index(const struct rt_label_job *job, const char *label)
{
    for (int k = 0; label && k < job->n_labels; k++)
        if (strcmp(job->labels[k], label) == 0)
            return k;
    return -1;
}

static int on_task(const struct rt_label_job_task *t, void *ud)
{
    struct collect *c = ud;
    struct rt_label_collection *o = c->out;
    if (o->n_items == c->item_cap) {
        int cap = c->item_cap ? c->item_cap * 2 : 256;
        struct rt_label_item *it = rt_realloc(o->items, (size_t)cap * sizeof(*it));
        if (!it) {
            c->rc = RT_ENOMEM;
            return 1;
        }
        o->items = it;
        c->item_cap = cap;
    }
    struct rt_label_item *it = &o->items[o->n_items];
    memset(it, 0, sizeof(*it));
    it->task_id = rt_strdup(t->id);
    it->key = rt_strdup(t->key);
    o->n_items++; /* counted now so that free() releases what was copied */
    if (!it->task_id || !it->key) {
        c->rc = RT_ENOMEM;
        return 1;
    }
    bool answered = t->state && strcmp(t->state, "answered") == 0;
    it->answered = answered;
    it->held = t->state && strcmp(t->state, "held") == 0;
    it->machine_label = answered && t->answers_needed == 0 && t->answers == 0
                            ? rt_label_job_label_index(c->job, t->result)
                            : -1;
    it->predicted = t->confidence >= 0 ? rt_label_job_label_index(c->job, t->detected_label) : -1;
    it->predicted_conf = it->predicted >= 0 ? t->confidence / 100.0 : 0;
    it->has_prediction = t->confidence >= 0 && t->model_version;
    return 0;
}

static int on_answer(const struct rt_label_job_answer *a, void *ud)
{
    struct collect *c = ud;
    struct rt_label_collection *o = c->out;
    /* Both reads are in task-id order: walk the items alongside. */
    while (c->cursor < o->n_items && strcmp(o->items[c->cursor].task_id, a->task_id) < 0)
        c->cursor++;
    if (c->cursor >= o->n_items || strcmp(o->items[c->cursor].task_id, a->task_id) != 0)
        return 0; /* a task created between the two reads: the next consolidation has it */
    struct rt_label_item *it = &o->items[c->cursor];
    if (a->at_ms > it->last_at_ms)
        it->last_at_ms = a->at_ms;
    int label = rt_label_job_label_index(c->job, a->label);
    if (label < 0)
        return 0;
    if (c->n_raw == c->raw_cap) {
        size_t cap = c->raw_cap ? c->raw_cap * 2 : 1024;
        struct raw_answer *r = rt_realloc(c->raw, cap * sizeof(*r));
        if (!r) {
            c->rc = RT_ENOMEM;
            return 1;
        }
        c->raw = r;
        c->raw_cap = cap;
    }
    char *w = rt_strdup(a->worker);
    if (!w) {
        c->rc = RT_ENOMEM;
        return 1;
    }
    c->raw[c->n_raw++] = (struct raw_answer){c->cursor, label, w};
    it->n_answers++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_answer(const void *a, const void *b)
{
    const struct rt_ds_answer *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->worker > y->worker) - (x->worker < y->worker);
}

/* Numbers the workers in name order and turns the raw answers into consolidation answers. */
static int number_workers(struct collect *c)
{
    struct rt_label_collection *o = c->out;
    if (!c->n_raw)
        return 0;
    char **names = rt_malloc(c->n_raw * sizeof(char *));
    o->answers = rt_malloc(c->n_raw * sizeof(*o->answers));
    if (!names || !o->answers) {
        rt_free(names);
        return RT_ENOMEM;
    }
    for (size_t i = 0; i < c->n_raw; i++)
        names[i] = c->raw[i].worker;
    qsort(names, c->n_raw, sizeof(char *), cmp_str);
    size_t n = 0;
    for (size_t i = 0; i < c->n_raw; i++)
        if (!n || strcmp(names[n - 1], names[i]) != 0)
            names[n++] = names[i];
    o->workers = rt_malloc(n * sizeof(char *));
    if (!o->workers) {
        rt_free(names);
        return RT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(o->workers[i] = rt_strdup(names[i]))) {
            rt_free(names);
            return RT_ENOMEM;
        }
        o->n_workers++;
    }
    for (size_t i = 0; i < c->n_raw; i++) {
        char **hit = bsearch(&c->raw[i].worker, names, n, sizeof(char *), cmp_str);
        o->answers[i] = (struct rt_ds_answer){c->raw[i].item, (int)(hit - names), c->raw[i].label};
    }
    o->n_answers = c->n_raw;
    rt_free(names);
    qsort(o->answers, o->n_answers, sizeof(*o->answers), cmp_answer);
    return 0;
}

int rt_label_collect(struct rt_journal *j,
                     const struct rt_label_job *job,
                     struct rt_label_collection *out)
{
    memset(out, 0, sizeof(*out));
    struct collect c = {.job = job, .out = out};
    int rc = rt_journal_label_job_tasks(j, job->name, on_task, &c);
    if (!rc && !c.rc)
        rc = rt_journal_label_job_answers(j, job->name, on_answer, &c);
    if (c.rc)
        rc = c.rc;
    if (!rc)
        rc = number_workers(&c);
    for (size_t i = 0; i < c.n_raw; i++)
        rt_free(c.raw[i].worker);
    rt_free(c.raw);
    if (rc)
        rt_label_collection_free(out);
    return rc;
}

void rt_label_collection_free(struct rt_label_collection *c)
{
    for (int i = 0; i < c->n_items; i++) {
        rt_free(c->items[i].task_id);
        rt_free(c->items[i].key);
    }
    rt_free(c->items);
    for (int i = 0; i < c->n_workers; i++)
        rt_free(c->workers[i]);
    rt_free(c->workers);
    rt_free(c->answers);
    memset(c, 0, sizeof(*c));
}

int rt_label_consolidate(const struct rt_label_collection *c,
                         const struct rt_label_job *job,
                         struct rt_ds_result *out)
{
    struct rt_ds_options o = {
        .n_items = c->n_items, .n_workers = c->n_workers, .n_labels = job->n_labels};
    double *probs = NULL;
    for (int i = 0; !job->auto_label && i < c->n_items; i++) {
        const struct rt_label_item *it = &c->items[i];
        if (it->predicted < 0)
            continue;
        if (!probs &&
            !(probs = rt_calloc((size_t)c->n_items * (size_t)job->n_labels, sizeof(double))))
            return RT_ENOMEM;
        /* The model's top label with its confidence, the rest shared by the other labels. */
        double p = it->predicted_conf > 0.999   ? 0.999
                   : it->predicted_conf < 0.001 ? 0.001
                                                : it->predicted_conf;
        for (int k = 0; k < job->n_labels; k++)
            probs[(size_t)i * (size_t)job->n_labels + (size_t)k] =
                k == it->predicted ? p : (1 - p) / (job->n_labels - 1);
    }
    if (probs) {
        o.model_probs = probs;
        o.model_weight = RT_LABEL_MODEL_WEIGHT;
    }
    int rc = rt_ds_consolidate(c->answers, c->n_answers, &o, out);
    rt_free(probs);
    return rc;
}
