/*
 * review_fake.h - an in-memory review driver (include/retraind/review.h) for unit tests.
 *
 * Tasks live in an array; a test answers one with fr_answer(). Like a real driver, every
 * callback runs on a later loop turn (rt_defer_queue), a second create of the same id succeeds
 * without a second task, wait on an unknown task answers RT_ENOTFOUND, and unwait forgets the
 * waiter so its callback never runs. Counters let a test see what the workflow asked for.
 *
 * Header-only, like workflow_fakes.h.
 */
#ifndef RT_REVIEW_FAKE_H
#define RT_REVIEW_FAKE_H

#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/loop.h"
#include "retraind/review.h"
#include "rt_test.h"

#define FAKE_REVIEW_TASKS 64

struct fr_task {
    char id[RT_REVIEW_TASK_ID_MAX + 1];
    char source[32];
    char key[1100];
    char detected_label[128];
    char options[RT_REVIEW_MAX_OPTIONS][128];
    size_t n_options;
    int answers_needed;
    char answer[128];
    bool answered;
    rt_review_result_fn *cb; /* the waiter, or NULL */
    void *ud;
    int waits;
};

struct fake_review {
    struct rt_review base;
    struct rt_defer_queue q;
    struct fr_task t[FAKE_REVIEW_TASKS];
    int n;
    int creates, waits, unwaits, outstanding;
    void (*close_cb)(void *ud);
    void *close_ud;
};

struct fr_op {
    struct rt_deferred d;
    struct fake_review *r;
    int status;
    rt_review_done_fn *done;
    rt_review_result_fn *result;
    void *ud;
    int task; /* index, for a result */
};

static inline struct fr_task *fr_find(struct fake_review *r, const char *id)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->t[i].id, id) == 0)
            return &r->t[i];
    return NULL;
}

static void fr_run(void *ud)
{
    struct fr_op *op = ud;
    struct fake_review *r = op->r;
    struct rt_error err;
    rt_error_clear(&err);
    if (op->status)
        rt_error_set(&err, op->status, "fake review: %s", rt_strerror(op->status));
    if (op->done) {
        op->done(op->status, op->status ? &err : NULL, op->ud);
    } else if (op->status) {
        op->result(op->status, NULL, &err, op->ud);
    } else {
        struct fr_task *t = &r->t[op->task];
        /* Still the waiter? (unwait or a second wait replaced it meanwhile) */
        if (t->cb == op->result && t->ud == op->ud) {
            t->cb = NULL;
            struct rt_review_answer a = {.worker = "tester", .label = t->answer, .at_ms = 1};
            struct rt_review_result res = {.task_id = t->id,
                                           .source = t->source,
                                           .key = t->key,
                                           .label = t->answer,
                                           .answers = &a,
                                           .n_answers = 1,
                                           .created_ms = 1};
            op->result(0, &res, NULL, op->ud);
        }
    }
    r->outstanding--;
    rt_free(op);
}

static struct fr_op *fr_op_new(struct fake_review *r)
{
    struct fr_op *op = rt_calloc(1, sizeof(*op));
    RT_ASSERT(op != NULL);
    op->r = r;
    r->outstanding++;
    return op;
}

static int
fr_create(struct rt_review *rv, const struct rt_review_task *t, rt_review_done_fn *cb, void *ud)
{
    struct fake_review *r = (struct fake_review *)rv;
    r->creates++;
    if (!fr_find(r, t->id)) {
        RT_ASSERT(r->n < FAKE_REVIEW_TASKS);
        struct fr_task *n = &r->t[r->n++];
        memset(n, 0, sizeof(*n));
        rt_strlcpy(n->id, t->id, sizeof(n->id));
        rt_strlcpy(n->source, t->source, sizeof(n->source));
        rt_strlcpy(n->key, t->key, sizeof(n->key));
        rt_strlcpy(n->detected_label, t->detected_label ? t->detected_label : "",
                   sizeof(n->detected_label));
        RT_ASSERT(t->n_options >= 2 && t->n_options <= RT_REVIEW_MAX_OPTIONS);
        RT_ASSERT_STR_EQ(t->options[t->n_options - 1], RT_REVIEW_NONE_OF_THE_ABOVE);
        for (size_t i = 0; i < t->n_options; i++)
            rt_strlcpy(n->options[i], t->options[i], sizeof(n->options[i]));
        n->n_options = t->n_options;
        n->answers_needed = t->answers_needed;
    }
    struct fr_op *op = fr_op_new(r);
    op->done = cb;
    op->ud = ud;
    rt_defer_item(&r->q, &op->d, fr_run, op);
    return 0;
}

static void fr_deliver(struct fake_review *r, struct fr_task *t)
{
    struct fr_op *op = fr_op_new(r);
    op->result = t->cb;
    op->ud = t->ud;
    op->task = (int)(t - r->t);
    rt_defer_item(&r->q, &op->d, fr_run, op);
}

static int fr_wait(struct rt_review *rv, const char *task_id, rt_review_result_fn *cb, void *ud)
{
    struct fake_review *r = (struct fake_review *)rv;
    r->waits++;
    struct fr_task *t = fr_find(r, task_id);
    if (!t) {
        struct fr_op *op = fr_op_new(r);
        op->status = RT_ENOTFOUND;
        op->result = cb;
        op->ud = ud;
        rt_defer_item(&r->q, &op->d, fr_run, op);
        return 0;
    }
    t->cb = cb;
    t->ud = ud;
    t->waits++;
    if (t->answered)
        fr_deliver(r, t);
    return 0;
}

static void fr_unwait(struct rt_review *rv, const char *task_id)
{
    struct fake_review *r = (struct fake_review *)rv;
    r->unwaits++;
    struct fr_task *t = fr_find(r, task_id);
    if (t)
        t->cb = NULL;
}

/* Answers task id with label (delivered to its waiter on a later turn). */
static inline void fr_answer(struct fake_review *r, const char *id, const char *label)
{
    struct fr_task *t = fr_find(r, id);
    RT_ASSERT(t != NULL);
    rt_strlcpy(t->answer, label, sizeof(t->answer));
    t->answered = true;
    if (t->cb)
        fr_deliver(r, t);
}

static void fr_closed(void *ud)
{
    struct fake_review *r = ud;
    void (*cb)(void *) = r->close_cb;
    void *cud = r->close_ud;
    rt_free(r);
    if (cb)
        cb(cud);
}

static void fr_close(struct rt_review *rv, void (*cb)(void *ud), void *ud)
{
    struct fake_review *r = (struct fake_review *)rv;
    r->close_cb = cb;
    r->close_ud = ud;
    rt_defer_close(&r->q, fr_closed, r);
}

static const struct rt_review_ops fr_ops = {
    .name = "fake",
    .create = fr_create,
    .wait = fr_wait,
    .unwait = fr_unwait,
    .close = fr_close,
};

static inline struct fake_review *fr_new(uv_loop_t *loop)
{
    struct fake_review *r = rt_calloc(1, sizeof(*r));
    RT_ASSERT(r != NULL);
    RT_ASSERT_OK(rt_defer_init(&r->q, loop));
    r->base.ops = &fr_ops;
    return r;
}

#endif
