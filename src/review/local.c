/*
 * local.c - the `local` review driver: tasks answered in the daemon's own portal or by
 * `retraind review answer`, kept in the journal.
 *
 * Design: the journal holds everything (tasks, answers, assignments; journal_reviews.h) and
 * enforces the rules in the transaction of each write, so the daemon (through batches to the
 * writer thread) and the CLI (its own connection, another process) can answer side by side. The
 * driver adds what needs the loop:
 *  - waiters: one per task, in a hash table by task id (thousands of detections may wait at
 *    once). An answer made through this driver is noticed when its batch is durable; one made by
 *    another process is noticed by a poll every poll_ms, which runs only while someone waits,
 *    skips its query when PRAGMA data_version says no connection committed, and otherwise reads
 *    the tasks answered after a cursor (answered_seq, given in commit order by the journal), so a
 *    poll costs one indexed query whatever the number of tasks or waiters;
 *  - before a waiter hears of its task, the A2I output object is written to the store (a
 *    deterministic function of the journal's rows, so a rewrite after a failure or a restart
 *    gives the same object). A failed write is tried again at the next poll;
 *  - serving: the next task is read on the loop and its assignment written through a batch;
 *    tasks whose assignment is still being written are passed over, so two reviewers asking at
 *    once do not get the same task.
 * Every callback goes through the defer queue or a completion, never inside the starting call.
 */
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/hash.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/journal_reviews.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/review.h"
#include "retraind/review_local.h"
#include "retraind/store.h"

#define ID_SIZE (RT_REVIEW_TASK_ID_MAX + 1)
#define N_BUCKETS 1024
/* Most tasks a poll takes per query; it queries again while pages come back full. */
#define POLL_PAGE 256

struct waiter {
    struct waiter *next; /* chain of the bucket */
    char id[ID_SIZE];
    rt_review_result_fn *cb;
    void *ud;
    bool writing; /* the A2I output is being written */
    bool retry;   /* the last write failed: the next poll tries again */
};

/* A task whose assignment batch is in flight. */
struct assigning {
    struct assigning *next;
    char id[ID_SIZE];
    char worker[128];
};

struct local {
    struct rt_review base; /* first: a struct rt_review * is a struct local * */
    uv_loop_t *loop;
    struct rt_journal *j;   /* borrowed */
    struct rt_store *store; /* borrowed */
    char prefix[256];       /* store.prefixes.human_loop */
    int workers_per_image;
    struct rt_defer_queue defer;
    uv_timer_t poll;
    int64_t poll_ms;
    bool poll_on;
    int64_t cursor;       /* largest answered_seq looked at */
    int64_t data_version; /* at the last poll's query */
    bool cursor_ok;       /* cursor was read; else the next poll reads it */
    struct waiter *buckets[N_BUCKETS];
    size_t n_waiters;
    size_t n_retry;
    struct assigning *assigning;
    size_t n_assigning;
    uint64_t served;
    int inflight; /* batches and store operations not yet completed */
    bool closing;
    bool close_started; /* the handles are closing */
    int handles;        /* open loop handles (the timer, the defer queue) */
    void (*close_cb)(void *ud);
    void *close_ud;
};

static const struct rt_review_ops local_ops;

static struct local *as_local(struct rt_review *r)
{
    return r && r->ops == &local_ops ? (struct local *)r : NULL;
}

/* ---- waiters ---- */

static struct waiter **slot_of(struct local *l, const char *id)
{
    struct waiter **w = &l->buckets[rt_hash64(id, strlen(id)) % N_BUCKETS];
    while (*w && strcmp((*w)->id, id) != 0)
        w = &(*w)->next;
    return w;
}

static struct waiter *waiter_find(struct local *l, const char *id)
{
    return *slot_of(l, id);
}

static void poll_update(struct local *l);

static void waiter_remove(struct local *l, const char *id)
{
    struct waiter **s = slot_of(l, id);
    struct waiter *w = *s;
    if (!w)
        return;
    *s = w->next;
    if (w->retry)
        l->n_retry--;
    rt_free(w);
    l->n_waiters--;
    poll_update(l);
}

/* ---- completions ---- */

static void maybe_finish_close(struct local *l);

/* A deferred call carrying one completion of any kind. */
struct done {
    struct rt_deferred item; /* first */
    struct local *l;
    int status;
    struct rt_error err;
    char id[ID_SIZE];
    char worker[128];
    char state[16];
    const char *content_type;
    cJSON *task; /* next: owned */
    rt_review_done_fn *done_cb;
    rt_review_next_fn *next_cb;
    rt_review_answered_fn *answered_cb;
    rt_review_image_fn *image_cb;
    void *ud;
};

static struct done *done_new(struct local *l, void *ud)
{
    struct done *d = rt_calloc(1, sizeof(*d));
    if (d) {
        d->l = l;
        d->ud = ud;
    }
    return d;
}

static void done_run(void *ud)
{
    struct done *d = ud;
    const struct rt_error *err = d->status ? &d->err : NULL;
    if (d->done_cb)
        d->done_cb(d->status, err, d->ud);
    else if (d->next_cb)
        d->next_cb(d->status, d->status ? NULL : d->task, err, d->ud);
    else if (d->answered_cb)
        d->answered_cb(d->status, d->status ? NULL : d->state, err, d->ud);
    else if (d->image_cb)
        d->image_cb(d->status, d->content_type, err, d->ud);
    cJSON_Delete(d->task);
    rt_free(d);
}

/* Runs d's callback on a later turn with status (and msg when status != 0). */
static void done_defer(struct done *d, int status, const char *msg)
{
    d->status = status;
    if (status)
        rt_error_set(&d->err, status, "%s", msg ? msg : rt_strerror(status));
    rt_defer_item(&d->l->defer, &d->item, done_run, d);
}

/* ---- the A2I output and delivery to a waiter ---- */

struct answers_ctx {
    struct rt_review_answer *items; /* owned; strings owned (copied) */
    int64_t *accepted_ms;
    size_t n, cap;
    int rc;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = rt_malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

static int collect_answer(const struct rt_journal_review_answer *a, void *ud)
{
    struct answers_ctx *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        struct rt_review_answer *items = rt_calloc(cap, sizeof(*items));
        int64_t *acc = rt_calloc(cap, sizeof(*acc));
        if (!items || !acc) {
            rt_free(items);
            rt_free(acc);
            c->rc = RT_ENOMEM;
            return 1;
        }
        if (c->n) {
            memcpy(items, c->items, c->n * sizeof(*items));
            memcpy(acc, c->accepted_ms, c->n * sizeof(*acc));
        }
        rt_free(c->items);
        rt_free(c->accepted_ms);
        c->items = items;
        c->accepted_ms = acc;
        c->cap = cap;
    }
    char *w = dup_str(a->worker), *lab = dup_str(a->label);
    if (!w || !lab) {
        rt_free(w);
        rt_free(lab);
        c->rc = RT_ENOMEM;
        return 1;
    }
    c->items[c->n] = (struct rt_review_answer){.worker = w, .label = lab, .at_ms = a->at_ms};
    c->accepted_ms[c->n] = a->accepted_ms;
    c->n++;
    return 0;
}

static void answers_cleanup(struct answers_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        rt_free((char *)c->items[i].worker);
        rt_free((char *)c->items[i].label);
    }
    rt_free(c->items);
    rt_free(c->accepted_ms);
    memset(c, 0, sizeof(*c));
}

static const char *input_source(const char *source)
{
    if (strcmp(source, RT_REVIEW_SOURCE_DETECTION) == 0)
        return "A2I Workflow";
    if (strcmp(source, RT_REVIEW_SOURCE_SAMPLING) == 0)
        return "Human Sampling";
    return "Labeling Job";
}

/* Returns: the A2I output object of t with answers a (cJSON_Delete), or NULL. */
static cJSON *
a2i_output(struct local *l, const struct rt_journal_review *t, const struct answers_ctx *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *in = cJSON_CreateObject();
    cJSON *answers = cJSON_CreateArray();
    char uri[RT_STORE_KEY_MAX + 300];
    rt_snprintf(uri, sizeof(uri), "s3://%s/%s",
                l->store->bucket_name ? l->store->bucket_name : "local", t->key);
    const char *request_id = t->request_id ? t->request_id : *t->exec_id ? t->exec_id : t->id;
    bool ok = o && in && answers &&
              cJSON_AddStringToObject(in, "source", input_source(t->source)) &&
              cJSON_AddStringToObject(in, "detectLabelRequestId", request_id) &&
              cJSON_AddItemToObject(in, "detectedConfidenceLevel",
                                    t->confidence >= 0 ? cJSON_CreateNumber(t->confidence)
                                                       : cJSON_CreateNull()) &&
              cJSON_AddItemToObject(in, "detectedLabel",
                                    t->detected_label ? cJSON_CreateString(t->detected_label)
                                                      : cJSON_CreateNull()) &&
              cJSON_AddStringToObject(in, "taskObject", uri);
    for (size_t i = 0; ok && i < a->n; i++) {
        char sub[40], acc[40];
        int64_t accepted = a->accepted_ms[i];
        int64_t spent = a->items[i].at_ms > accepted ? (a->items[i].at_ms - accepted) / 1000 : 0;
        cJSON *h = cJSON_CreateObject();
        cJSON *content = cJSON_CreateObject();
        cJSON *cls = cJSON_CreateObject();
        ok = h && content && cls && cJSON_AddStringToObject(cls, "label", a->items[i].label) &&
             cJSON_AddItemToObject(content, "crowd-image-classifier", cls);
        if (!ok) {
            cJSON_Delete(cls);
            cJSON_Delete(content);
            cJSON_Delete(h);
            break;
        }
        ok = cJSON_AddItemToObject(h, "answerContent", content) &&
             cJSON_AddStringToObject(h, "submissionTime",
                                     rt_time_rfc3339(a->items[i].at_ms, sub, sizeof(sub))) &&
             cJSON_AddStringToObject(h, "acceptanceTime",
                                     rt_time_rfc3339(accepted, acc, sizeof(acc))) &&
             cJSON_AddNumberToObject(h, "timeSpentInSeconds", (double)spent) &&
             cJSON_AddStringToObject(h, "workerId", a->items[i].worker);
        if (!ok || !cJSON_AddItemToArray(answers, h)) {
            cJSON_Delete(h);
            ok = false;
        }
    }
    if (ok)
        ok = cJSON_AddStringToObject(o, "flowDefinitionArn", RT_REVIEW_LOCAL_FLOW_ARN) &&
             cJSON_AddStringToObject(o, "humanLoopName", t->id) &&
             cJSON_AddItemToObject(o, "inputContent", in);
    if (ok)
        in = NULL;
    if (ok && cJSON_AddItemToObject(o, "humanAnswers", answers))
        return o;
    cJSON_Delete(in);
    cJSON_Delete(answers);
    cJSON_Delete(o);
    return NULL;
}

struct output_write {
    struct local *l;
    char id[ID_SIZE];
    char key[RT_STORE_KEY_MAX + 1];
};

static void deliver(struct local *l, const char *id);

static void waiter_retry_later(struct local *l, struct waiter *w)
{
    w->writing = false;
    if (!w->retry) {
        w->retry = true;
        l->n_retry++;
    }
}

/* Calls the waiter of the answered task id with its result (read again from the journal). */
static void call_waiter(struct local *l, const char *id)
{
    struct waiter *w = waiter_find(l, id);
    if (!w)
        return; /* unwaited meanwhile */
    struct rt_journal_review t;
    struct answers_ctx a = {0};
    int rc = rt_journal_review_get(l->j, id, &t);
    if (!rc) {
        rc = rt_journal_review_answers(l->j, id, collect_answer, &a);
        if (!rc)
            rc = a.rc;
        if (rc)
            rt_journal_review_cleanup(&t);
    }
    if (rc) {
        RT_LOG(RT_LOG_ERR, "review", "event=result_read_failed task=%s error=%s", rt_q(id),
               rt_q(rt_strerror(rc)));
        answers_cleanup(&a);
        waiter_retry_later(l, w);
        return;
    }
    struct rt_review_result res = {.task_id = t.id,
                                   .source = t.source,
                                   .key = t.key,
                                   .label = t.result,
                                   .answers = a.items,
                                   .n_answers = a.n,
                                   .created_ms = t.created_ms};
    rt_review_result_fn *cb = w->cb;
    void *ud = w->ud;
    /* Removed first: the callback may wait again, unwait or close. */
    waiter_remove(l, id);
    RT_LOG(RT_LOG_INFO, "review", "event=task_done task=%s key=%s label=%s answers=%zu", rt_q(id),
           rt_q(t.key), rt_q(t.result), a.n);
    cb(0, &res, NULL, ud);
    rt_journal_review_cleanup(&t);
    answers_cleanup(&a);
}

static void output_written(int status, const struct rt_error *err, void *ud)
{
    struct output_write *o = ud;
    struct local *l = o->l;
    l->inflight--;
    struct waiter *w = waiter_find(l, o->id);
    if (status) {
        RT_LOG(RT_LOG_ERR, "review", "event=output_write_failed task=%s key=%s error=%s",
               rt_q(o->id), rt_q(o->key), rt_q(err ? err->msg : rt_strerror(status)));
        if (w)
            waiter_retry_later(l, w);
    } else if (w && !l->closing) {
        w->writing = false;
        call_waiter(l, o->id);
    }
    rt_free(o);
    maybe_finish_close(l);
}

/* Writes the A2I output of task id, then tells its waiter (if any, and the task is answered). */
static void deliver(struct local *l, const char *id)
{
    struct waiter *w = waiter_find(l, id);
    if (!w || w->writing || l->closing)
        return;
    if (w->retry) {
        w->retry = false;
        l->n_retry--;
    }
    struct rt_journal_review t;
    int rc = rt_journal_review_get(l->j, id, &t);
    if (rc == RT_ENOTFOUND) {
        rt_review_result_fn *cb = w->cb;
        void *ud = w->ud;
        waiter_remove(l, id);
        struct rt_error err;
        rt_error_clear(&err);
        rt_error_set(&err, RT_ENOTFOUND, "no such review task: %s", id);
        cb(RT_ENOTFOUND, NULL, &err, ud);
        return;
    }
    if (rc) {
        waiter_retry_later(l, w);
        return;
    }
    if (strcmp(t.state, "answered") != 0) {
        rt_journal_review_cleanup(&t);
        return; /* still open: a later answer or poll brings it here again */
    }
    struct answers_ctx a = {0};
    rc = rt_journal_review_answers(l->j, id, collect_answer, &a);
    if (!rc)
        rc = a.rc;
    cJSON *out = rc ? NULL : a2i_output(l, &t, &a);
    char *text = out ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    answers_cleanup(&a);
    struct output_write *o = text ? rt_calloc(1, sizeof(*o)) : NULL;
    if (o) {
        o->l = l;
        rt_strlcpy(o->id, id, sizeof(o->id));
        rc = rt_review_a2i_key(l->prefix, t.created_ms, id, o->key, sizeof(o->key));
        if (!rc)
            rc = l->store->ops->put(l->store, o->key, text, strlen(text), "application/json",
                                    output_written, o);
    } else {
        rc = rc ? rc : RT_ENOMEM;
    }
    cJSON_free(text);
    rt_journal_review_cleanup(&t);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "review", "event=output_write_failed task=%s error=%s", rt_q(id),
               rt_q(rt_strerror(rc)));
        rt_free(o);
        waiter_retry_later(l, w);
        return;
    }
    w->writing = true;
    l->inflight++;
}

/* ---- the poll of answers written by other processes ---- */

static int seen_answered(const char *id, int64_t seq, void *ud)
{
    struct local *l = ud;
    if (seq > l->cursor)
        l->cursor = seq;
    if (waiter_find(l, id))
        deliver(l, id);
    return l->closing;
}

static void retry_failed(struct local *l)
{
    for (size_t b = 0; b < N_BUCKETS && l->n_retry; b++) {
        struct waiter *w = l->buckets[b];
        while (w) {
            struct waiter *next = w->next; /* deliver may remove w */
            if (w->retry)
                deliver(l, w->id);
            w = next;
        }
    }
}

static void poll_tick(uv_timer_t *t)
{
    struct local *l = t->data;
    if (l->closing)
        return;
    if (l->n_retry)
        retry_failed(l);
    if (!l->cursor_ok) {
        int64_t max = rt_journal_review_answered_max(l->j);
        if (max < 0)
            return;
        l->cursor = max;
        l->cursor_ok = true;
    }
    int64_t dv = rt_journal_data_version(l->j);
    if (dv == l->data_version)
        return;
    /* Several pages at most per tick, so a flood of answers cannot stall the loop. */
    for (int page = 0; page < 8 && !l->closing && l->n_waiters; page++) {
        int64_t before = l->cursor;
        int rc = rt_journal_review_answered_after(l->j, l->cursor, POLL_PAGE, seen_answered, l);
        if (rc) {
            RT_LOG(RT_LOG_ERR, "review", "event=poll_failed error=%s", rt_q(rt_strerror(rc)));
            return;
        }
        if (l->cursor - before < POLL_PAGE)
            break;
    }
    l->data_version = dv;
}

/* Runs the poll timer exactly while someone waits. */
static void poll_update(struct local *l)
{
    bool want = l->n_waiters > 0 && !l->closing;
    if (want && !l->poll_on) {
        uv_timer_start(&l->poll, poll_tick, (uint64_t)l->poll_ms, (uint64_t)l->poll_ms);
        l->poll_on = true;
    } else if (!want && l->poll_on) {
        uv_timer_stop(&l->poll);
        l->poll_on = false;
    }
}

/* ---- rt_review_ops ---- */

struct create_ctx {
    struct local *l;
    rt_review_done_fn *cb;
    void *ud;
    char id[ID_SIZE];
};

static void created(int status, const struct rt_error *err, void *ud)
{
    struct create_ctx *c = ud;
    struct local *l = c->l;
    l->inflight--;
    if (status)
        RT_LOG(RT_LOG_ERR, "review", "event=create_failed task=%s error=%s", rt_q(c->id),
               rt_q(err ? err->msg : rt_strerror(status)));
    c->cb(status, status ? err : NULL, c->ud);
    rt_free(c);
    maybe_finish_close(l);
}

static int
local_create(struct rt_review *r, const struct rt_review_task *t, rt_review_done_fn *cb, void *ud)
{
    struct local *l = (struct local *)r;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb || !t)
        return RT_EINVAL;
    struct rt_review_task task = *t;
    if (task.answers_needed < 1)
        task.answers_needed = l->workers_per_image;
    int rc = rt_journal_review_check(&task, NULL);
    if (rc)
        return rc;
    struct create_ctx *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    *c = (struct create_ctx){.l = l, .cb = cb, .ud = ud};
    rt_strlcpy(c->id, t->id, sizeof(c->id));
    struct rt_jbatch *b = NULL;
    rc = rt_jbatch_new(&b);
    if (!rc && (rc = rt_jbatch_review_create(b, &task, rt_now_ms())) != 0)
        rt_jbatch_free(b);
    if (!rc)
        rc = rt_journal_submit(l->j, b, created, c);
    if (rc) {
        rt_free(c);
        return rc;
    }
    l->inflight++;
    RT_LOG(RT_LOG_INFO, "review", "event=task_create task=%s source=%s key=%s", rt_q(t->id),
           rt_q(t->source), rt_q(t->key));
    return 0;
}

struct check {
    struct rt_deferred item; /* first */
    struct local *l;
    char id[ID_SIZE];
};

static void check_run(void *ud)
{
    struct check *c = ud;
    struct local *l = c->l;
    if (!l->closing)
        deliver(l, c->id);
    rt_free(c);
}

static int local_wait(struct rt_review *r, const char *task_id, rt_review_result_fn *cb, void *ud)
{
    struct local *l = (struct local *)r;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb || !task_id || !*task_id || strlen(task_id) > RT_REVIEW_TASK_ID_MAX)
        return RT_EINVAL;
    struct check *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    struct waiter *w = waiter_find(l, task_id);
    if (!w) {
        w = rt_calloc(1, sizeof(*w));
        if (!w) {
            rt_free(c);
            return RT_ENOMEM;
        }
        rt_strlcpy(w->id, task_id, sizeof(w->id));
        struct waiter **s = &l->buckets[rt_hash64(task_id, strlen(task_id)) % N_BUCKETS];
        w->next = *s;
        *s = w;
        l->n_waiters++;
        poll_update(l);
    }
    /* A second wait replaces the first (whose cb is never called). */
    w->cb = cb;
    w->ud = ud;
    /* Look at the task on a later turn: answered already (before a restart, by the CLI) or no
     * such task both answer from there. */
    c->l = l;
    rt_strlcpy(c->id, task_id, sizeof(c->id));
    rt_defer_item(&l->defer, &c->item, check_run, c);
    return 0;
}

static void local_unwait(struct rt_review *r, const char *task_id)
{
    struct local *l = (struct local *)r;
    if (task_id)
        waiter_remove(l, task_id);
}

/* One of the two handles closed; the last one frees l. */
static void count_closed(struct local *l)
{
    if (--l->handles > 0)
        return;
    void (*cb)(void *) = l->close_cb;
    void *ud = l->close_ud;
    rt_free(l);
    if (cb)
        cb(ud);
}

static void handle_closed(uv_handle_t *h)
{
    count_closed(h->data);
}

static void defer_closed(void *ud)
{
    count_closed(ud);
}

static void maybe_finish_close(struct local *l)
{
    if (!l->closing || l->inflight > 0 || l->close_started)
        return;
    l->close_started = true;
    uv_close((uv_handle_t *)&l->poll, handle_closed);
    rt_defer_close(&l->defer, defer_closed, l);
}

static void local_close(struct rt_review *r, void (*cb)(void *ud), void *ud)
{
    struct local *l = (struct local *)r;
    if (l->closing)
        return;
    l->closing = true;
    l->close_cb = cb;
    l->close_ud = ud;
    poll_update(l);
    /* Waiters are dropped: their executions resume after the next start. */
    for (size_t b = 0; b < N_BUCKETS; b++) {
        struct waiter *w = l->buckets[b];
        while (w) {
            struct waiter *next = w->next;
            rt_free(w);
            w = next;
        }
        l->buckets[b] = NULL;
    }
    l->n_waiters = l->n_retry = 0;
    maybe_finish_close(l);
}

static const struct rt_review_ops local_ops = {
    .name = "local",
    .create = local_create,
    .wait = local_wait,
    .unwait = local_unwait,
    .close = local_close,
};

/* ---- the portal's side ---- */

static void assigning_remove(struct local *l, const char *id)
{
    for (struct assigning **a = &l->assigning; *a; a = &(*a)->next) {
        if (strcmp((*a)->id, id) == 0) {
            struct assigning *gone = *a;
            *a = gone->next;
            rt_free(gone);
            l->n_assigning--;
            return;
        }
    }
}

/* {"image": "/api/label-jobs/NAME/examples/WHICH", "text": T|null}, or null without a key. */
static cJSON *example_object(const char *job, const char *which, const char *key, const char *text)
{
    if (!key || !key[0])
        return cJSON_CreateNull();
    char url[RT_LABEL_JOB_NAME_MAX + 64];
    rt_snprintf(url, sizeof(url), "/api/label-jobs/%s/examples/%s", job, which);
    cJSON *o = cJSON_CreateObject();
    if (o &&
        (!cJSON_AddStringToObject(o, "image", url) ||
         !cJSON_AddItemToObject(o, "text", text ? cJSON_CreateString(text) : cJSON_CreateNull()))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The "examples" of a labeling job's task: {"good": {...}|null, "bad": {...}|null}; null for
 * other tasks (and when the job's row cannot be read: the task is still shown). *kind gets the
 * job's kind ("label" or "verify"; "" when none). */
static cJSON *examples_object(struct rt_journal *j,
                              const struct rt_journal_review *t,
                              char *kind,
                              size_t kind_size)
{
    struct rt_label_job job;
    kind[0] = '\0';
    if (!t->job || rt_journal_label_job_get(j, t->job, &job) != 0)
        return cJSON_CreateNull();
    rt_strlcpy(kind, job.kind, kind_size);
    cJSON *o = cJSON_CreateObject();
    cJSON *good = example_object(job.name, "good", job.good_example, job.good_text);
    cJSON *bad = example_object(job.name, "bad", job.bad_example, job.bad_text);
    bool ok = o && good && bad;
    if (ok) {
        cJSON_AddItemToObject(o, "good", good);
        cJSON_AddItemToObject(o, "bad", bad);
    } else {
        cJSON_Delete(good);
        cJSON_Delete(bad);
        cJSON_Delete(o);
        o = NULL;
    }
    rt_label_job_cleanup(&job);
    return o;
}

/* Returns: the portal's JSON object of t (cJSON_Delete), or NULL. */
static cJSON *next_object(struct rt_journal *j, const struct rt_journal_review *t, int64_t open)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *options = t->options ? cJSON_Parse(t->options) : NULL;
    char image[RT_REVIEW_TASK_ID_MAX + 32];
    rt_snprintf(image, sizeof(image), "/api/reviews/%s/image", t->id);
    bool ok =
        o && cJSON_AddStringToObject(o, "id", t->id) &&
        cJSON_AddStringToObject(o, "source", t->source) &&
        cJSON_AddStringToObject(o, "key", t->key) &&
        cJSON_AddItemToObject(o, "options", options ? options : cJSON_CreateArray()) &&
        cJSON_AddItemToObject(o, "instructions",
                              t->instructions ? cJSON_CreateString(t->instructions)
                                              : cJSON_CreateNull()) &&
        cJSON_AddItemToObject(o, "detected_label",
                              t->detected_label ? cJSON_CreateString(t->detected_label)
                                                : cJSON_CreateNull()) &&
        cJSON_AddItemToObject(o, "confidence",
                              t->confidence >= 0 ? cJSON_CreateNumber(t->confidence)
                                                 : cJSON_CreateNull()) &&
        cJSON_AddNumberToObject(o, "answers", t->answers) &&
        cJSON_AddNumberToObject(o, "answers_needed", t->answers_needed) &&
        cJSON_AddStringToObject(o, "image", image) &&
        cJSON_AddNumberToObject(o, "open", (double)open) &&
        cJSON_AddItemToObject(o, "job", t->job ? cJSON_CreateString(t->job) : cJSON_CreateNull());
    char kind[16];
    cJSON *examples = ok ? examples_object(j, t, kind, sizeof(kind)) : NULL;
    if (ok && (!examples || !cJSON_AddItemToObject(o, "examples", examples))) {
        cJSON_Delete(examples);
        ok = false;
    }
    ok = ok && cJSON_AddItemToObject(o, "job_kind",
                                     kind[0] ? cJSON_CreateString(kind) : cJSON_CreateNull());
    if (!ok) {
        if (!o)
            cJSON_Delete(options);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void assigned(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    struct local *l = d->l;
    l->inflight--;
    assigning_remove(l, d->id);
    if (status) {
        cJSON_Delete(d->task);
        d->task = NULL;
        d->status = status;
        rt_error_set(&d->err, status, "cannot assign task %s: %s", d->id,
                     err ? err->msg : rt_strerror(status));
    } else {
        RT_LOG(RT_LOG_INFO, "review", "event=task_assigned task=%s worker=%s", rt_q(d->id),
               rt_q(d->worker));
    }
    done_run(d);
    maybe_finish_close(l);
}

int rt_review_local_next(struct rt_review *r, const char *worker, rt_review_next_fn *cb, void *ud)
{
    struct local *l = as_local(r);
    if (!l)
        return RT_ENOTIMPL;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb || !worker || !*worker || strlen(worker) >= 128)
        return RT_EINVAL;
    struct done *d = done_new(l, ud);
    if (!d)
        return RT_ENOMEM;
    d->next_cb = cb;
    rt_strlcpy(d->worker, worker, sizeof(d->worker));
    /* Assignments to other workers still being written are not in the journal yet: the query
     * counts them against their tasks, so a task is never handed to more workers than it needs
     * and, while it has room, is still handed to this one (a worker told "nothing" while the last
     * task is being assigned to another would stop, leaving the task short of answers). */
    const char *few[64], **pending = few;
    if (l->n_assigning > 64 && !(pending = rt_malloc(l->n_assigning * sizeof(*pending)))) {
        rt_free(d);
        return RT_ENOMEM;
    }
    size_t n_pending = 0;
    for (struct assigning *a = l->assigning; a; a = a->next)
        if (strcmp(a->worker, worker) != 0)
            pending[n_pending++] = a->id;
    int64_t now = rt_now_ms();
    bool sampling_first = l->served % RT_REVIEW_SAMPLING_EVERY == RT_REVIEW_SAMPLING_EVERY - 1;
    struct rt_journal_review t;
    int rc = rt_journal_review_next(l->j, worker, now, sampling_first, pending, n_pending, &t);
    if (pending != few)
        rt_free(pending);
    if (rc == RT_ENOTFOUND) {
        done_defer(d, 0, NULL); /* nothing to do: task NULL */
        return 0;
    }
    if (rc) {
        rt_free(d);
        return rc;
    }
    int64_t open = 0;
    rt_journal_review_open_stats(l->j, &open, NULL);
    d->task = next_object(l->j, &t, open);
    rt_strlcpy(d->id, t.id, sizeof(d->id));
    rt_journal_review_cleanup(&t);
    struct assigning *a = rt_calloc(1, sizeof(*a));
    struct rt_jbatch *b = NULL;
    rc = d->task && a ? rt_jbatch_new(&b) : RT_ENOMEM;
    if (!rc && (rc = rt_jbatch_review_assign(b, d->id, worker, now, now + RT_REVIEW_ASSIGN_MS)))
        rt_jbatch_free(b);
    if (!rc)
        rc = rt_journal_submit(l->j, b, assigned, d);
    if (rc) {
        rt_free(a);
        cJSON_Delete(d->task);
        rt_free(d);
        return rc;
    }
    rt_strlcpy(a->id, d->id, sizeof(a->id));
    rt_strlcpy(a->worker, worker, sizeof(a->worker));
    a->next = l->assigning;
    l->assigning = a;
    l->n_assigning++;
    l->served++;
    l->inflight++;
    return 0;
}

static void answer_written(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    struct local *l = d->l;
    l->inflight--;
    d->status = status;
    if (status) {
        rt_error_set(&d->err, status, "%s", err ? err->msg : rt_strerror(status));
    } else {
        struct rt_journal_review t;
        if (rt_journal_review_get(l->j, d->id, &t) == 0) {
            rt_strlcpy(d->state, t.state, sizeof(d->state));
            rt_journal_review_cleanup(&t);
        } else {
            rt_strlcpy(d->state, "open", sizeof(d->state));
        }
        RT_LOG(RT_LOG_NOTICE, "review", "event=answer task=%s worker=%s state=%s", rt_q(d->id),
               rt_q(d->worker), d->state);
    }
    char id[ID_SIZE];
    rt_strlcpy(id, d->id, sizeof(id));
    done_run(d); /* frees d */
    /* The answer that completes a task reaches its waiter at once, not at the next poll. */
    if (!status && !l->closing)
        deliver(l, id);
    maybe_finish_close(l);
}

int rt_review_local_answer(struct rt_review *r,
                           const char *task_id,
                           const char *worker,
                           const char *label,
                           rt_review_answered_fn *cb,
                           void *ud)
{
    struct local *l = as_local(r);
    if (!l)
        return RT_ENOTIMPL;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb || !task_id || !worker || !*worker || strlen(worker) >= 128 || !label)
        return RT_EINVAL;
    struct done *d = done_new(l, ud);
    if (!d)
        return RT_ENOMEM;
    d->answered_cb = cb;
    rt_strlcpy(d->worker, worker, sizeof(d->worker));
    if (strlen(task_id) > RT_REVIEW_TASK_ID_MAX) {
        done_defer(d, RT_ENOTFOUND, "no such task");
        return 0;
    }
    rt_strlcpy(d->id, task_id, sizeof(d->id));
    /* Refusals are answered from a read here; the writer checks the same rules again in the
     * answer's transaction (the CLI may have answered meanwhile). */
    struct rt_journal_review t;
    int rc = rt_journal_review_get(l->j, task_id, &t);
    if (rc == RT_ENOTFOUND) {
        done_defer(d, RT_ENOTFOUND, "no such task");
        return 0;
    }
    if (rc) {
        rt_free(d);
        return rc;
    }
    int refuse = 0;
    char why[1400] = "";
    if (rt_journal_review_answered_by(l->j, task_id, worker)) {
        refuse = -EEXIST;
        rt_snprintf(why, sizeof(why), "%s has answered this task already", worker);
    } else if (strcmp(t.state, "open") != 0 || t.answers >= t.answers_needed) {
        refuse = -EALREADY;
        rt_snprintf(why, sizeof(why), "this task needs no more answers");
    } else if (!rt_journal_review_has_option(&t, label)) {
        refuse = RT_EINVAL;
        rt_snprintf(why, sizeof(why), "\"%.100s\" is not an option of this task (options: %s)",
                    label, t.options ? t.options : "[]");
    }
    rt_journal_review_cleanup(&t);
    if (refuse) {
        done_defer(d, refuse, why);
        return 0;
    }
    struct rt_jbatch *b = NULL;
    rc = rt_jbatch_new(&b);
    if (!rc && (rc = rt_jbatch_review_answer(b, task_id, worker, label, rt_now_ms())) != 0)
        rt_jbatch_free(b);
    if (!rc)
        rc = rt_journal_submit(l->j, b, answer_written, d);
    if (rc) {
        rt_free(d);
        return rc;
    }
    l->inflight++;
    return 0;
}

static void image_read(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    struct local *l = d->l;
    l->inflight--;
    d->status = status;
    if (status)
        rt_error_set(&d->err, status, "image of task %s: %s", d->id,
                     err ? err->msg : rt_strerror(status));
    done_run(d);
    maybe_finish_close(l);
}

int rt_review_local_image(
    struct rt_review *r, const char *task_id, struct rt_buf *body, rt_review_image_fn *cb, void *ud)
{
    struct local *l = as_local(r);
    if (!l)
        return RT_ENOTIMPL;
    if (l->closing)
        return RT_ECANCELED;
    if (!cb || !task_id || !body)
        return RT_EINVAL;
    struct done *d = done_new(l, ud);
    if (!d)
        return RT_ENOMEM;
    d->image_cb = cb;
    d->content_type = "application/octet-stream";
    if (strlen(task_id) > RT_REVIEW_TASK_ID_MAX) {
        done_defer(d, RT_ENOTFOUND, "no such task");
        return 0;
    }
    rt_strlcpy(d->id, task_id, sizeof(d->id));
    struct rt_journal_review t;
    int rc = rt_journal_review_get(l->j, task_id, &t);
    if (rc == RT_ENOTFOUND) {
        done_defer(d, RT_ENOTFOUND, "no such task");
        return 0;
    }
    if (rc) {
        rt_free(d);
        return rc;
    }
    d->content_type = rt_store_image_content_type(t.key);
    rc = l->store->ops->get(l->store, t.key, body, image_read, d);
    rt_journal_review_cleanup(&t);
    if (rc) {
        rt_free(d);
        return rc;
    }
    l->inflight++;
    return 0;
}

cJSON *rt_review_local_list(struct rt_review *r, const struct rt_journal_review_filter *f)
{
    struct local *l = as_local(r);
    return l ? rt_review_list_json(l->j, f, NULL) : NULL;
}

void rt_review_local_set_poll_ms(struct rt_review *r, int64_t poll_ms)
{
    struct local *l = as_local(r);
    if (!l || poll_ms < 1)
        return;
    l->poll_ms = poll_ms;
    if (l->poll_on) {
        uv_timer_stop(&l->poll);
        l->poll_on = false;
        poll_update(l);
    }
}

int rt_review_local_new(struct uv_loop_s *loop,
                        struct rt_journal *j,
                        struct rt_store *store,
                        const struct rt_config *cfg,
                        struct rt_review **out,
                        struct rt_error *err)
{
    *out = NULL;
    if (!loop || !j || !store)
        return rt_error_set(err, RT_EINVAL, "review: the local driver needs a journal and a store");
    struct local *l = rt_calloc(1, sizeof(*l));
    if (!l)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    l->base.ops = &local_ops;
    l->loop = loop;
    l->j = j;
    l->store = store;
    l->poll_ms = 1000;
    l->workers_per_image =
        cfg && cfg->review.workers_per_image > 0 ? cfg->review.workers_per_image : 1;
    const char *prefix = cfg && cfg->store.prefixes.human_loop ? cfg->store.prefixes.human_loop
                                                               : "a2i-human-loop-data/";
    if (rt_strlcpy(l->prefix, prefix, sizeof(l->prefix)) < 0) {
        rt_free(l);
        return rt_error_set(err, RT_ETOOBIG, "review: the human loop prefix is too long");
    }
    /* Answers from before this start are the waiters' first look's business (wait reads the
     * task); the poll looks only past them. A failed read is retried at the first poll. */
    int64_t max = rt_journal_review_answered_max(j);
    l->cursor = max > 0 ? max : 0;
    l->cursor_ok = max >= 0;
    l->data_version = -1;
    int rc = uv_timer_init(loop, &l->poll);
    if (rc) {
        rt_free(l);
        return rt_error_set(err, rc, "review: %s", uv_strerror(rc));
    }
    l->poll.data = l;
    l->handles = 1;
    rc = rt_defer_init(&l->defer, loop);
    if (rc) {
        /* The timer must close before l goes. */
        l->closing = true;
        uv_close((uv_handle_t *)&l->poll, handle_closed);
        return rt_error_set(err, rc, "review: %s", uv_strerror(rc));
    }
    l->handles = 2;
    *out = &l->base;
    return 0;
}
