/*
 * test_review_local.c - the local review driver on a real journal (with its writer thread) and a
 * real local store: task ids, create/wait/answer with the A2I output checked field by field, the
 * same object on a rewrite, waiting on an answered task, an answer made through another
 * connection (the CLI) noticed by the poll, the portal's next/answer/image, unwait and close.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/journal_reviews.h"
#include "retraind/review.h"
#include "retraind/review_local.h"
#include "retraind/store.h"
#include "rt_test.h"

struct fx {
    uv_loop_t loop;
    char data[512], root[512];
    struct rt_journal *j;
    struct rt_store *store;
    struct rt_review *r;
    int closed;
};

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->data, sizeof(f->data), "%s/data", rt_test_tmpdir());
    snprintf(f->root, sizeof(f->root), "%s/bucket", rt_test_tmpdir());
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_open(f->data, RT_JOURNAL_READWRITE, &f->j, &err));
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    struct rt_store_local_opts so = {.root = f->root};
    RT_ASSERT_OK(rt_store_local_new(&f->loop, &so, &f->store, &err));
    RT_ASSERT_OK(rt_review_local_new(&f->loop, f->j, f->store, NULL, &f->r, &err));
    rt_review_local_set_poll_ms(f->r, 20);
}

static void count_closed(void *ud)
{
    ((struct fx *)ud)->closed++;
}

static void fx_close(struct fx *f)
{
    f->r->ops->close(f->r, count_closed, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(f->closed, 1);
    f->store->ops->close(f->store, count_closed, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rt_journal_writer_close(f->j, count_closed, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(f->closed, 3);
    rt_journal_close(f->j);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
}

/* Runs the loop until *flag is set (or fails after about 5 s). */
static void run_until(struct fx *f, const int *flag)
{
    int64_t end = rt_mono_ms() + 5000;
    while (!*flag && rt_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    RT_ASSERT(*flag);
}

static void write_file(const char *root, const char *key, const char *text)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", root, key);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            uv_fs_t req;
            uv_fs_mkdir(NULL, &req, path, 0755, NULL);
            uv_fs_req_cleanup(&req);
            *p = '/';
        }
    FILE *fp = fopen(path, "wb");
    RT_ASSERT(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

/* Reads the store file key into a new string (rt_free), or NULL when absent. */
static char *read_file(const char *root, const char *key)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", root, key);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = rt_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static const char *const opts3[] = {"cat", "dog", RT_REVIEW_NONE_OF_THE_ABOVE};

struct created {
    int called, status;
};
static void on_created(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    struct created *c = ud;
    c->called++;
    c->status = status;
}

static void create_task(struct fx *f, const char *id, const char *source, double conf, int needed)
{
    struct rt_review_task t = {.id = id,
                               .source = source,
                               .exec_id = "de-20260102T030405Z-0007",
                               .key = "images_for_detection/a.jpg",
                               .detected_label = "cat",
                               .confidence = conf,
                               .model_version = "v1",
                               .options = opts3,
                               .n_options = 3,
                               .answers_needed = needed};
    struct created c = {0};
    RT_ASSERT_OK(f->r->ops->create(f->r, &t, on_created, &c));
    run_until(f, &c.called);
    RT_ASSERT_OK(c.status);
}

struct waited {
    int called, status;
    char label[64], task[80], key[200];
    size_t n_answers;
    char worker0[64];
    int64_t created_ms;
};
static void
on_waited(int status, const struct rt_review_result *r, const struct rt_error *err, void *ud)
{
    (void)err;
    struct waited *w = ud;
    w->called++;
    w->status = status;
    if (r) {
        snprintf(w->label, sizeof(w->label), "%s", r->label ? r->label : "");
        snprintf(w->task, sizeof(w->task), "%s", r->task_id);
        snprintf(w->key, sizeof(w->key), "%s", r->key);
        w->n_answers = r->n_answers;
        if (r->n_answers)
            snprintf(w->worker0, sizeof(w->worker0), "%s", r->answers[0].worker);
        w->created_ms = r->created_ms;
    }
}

struct answered {
    int called, status;
    char state[16];
};
static void on_answered(int status, const char *state, const struct rt_error *err, void *ud)
{
    (void)err;
    struct answered *a = ud;
    a->called++;
    a->status = status;
    snprintf(a->state, sizeof(a->state), "%s", state ? state : "");
}

static int
answer(struct fx *f, const char *task, const char *worker, const char *label, char *state)
{
    struct answered a = {0};
    RT_ASSERT_OK(rt_review_local_answer(f->r, task, worker, label, on_answered, &a));
    RT_ASSERT_INT_EQ(a.called, 0); /* never inside the call */
    run_until(f, &a.called);
    if (state)
        snprintf(state, 16, "%s", a.state);
    return a.status;
}

RT_TEST(task_id)
{
    char id[80];
    RT_ASSERT_OK(rt_review_task_id("de-20260102T030405Z-0007", id, sizeof(id)));
    RT_ASSERT_STR_EQ(id, "rt-de-20260102t030405z-0007");
    RT_ASSERT_OK(rt_review_task_id("sa_X1", id, sizeof(id)));
    RT_ASSERT_STR_EQ(id, "rt-sa-x1");
    RT_ASSERT_INT_EQ(rt_review_task_id("de.1", id, sizeof(id)), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_review_task_id("de-", id, sizeof(id)), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_review_task_id("", id, sizeof(id)), RT_EINVAL);
    char longer[100];
    memset(longer, 'a', 70);
    longer[70] = '\0';
    RT_ASSERT_INT_EQ(rt_review_task_id(longer, id, sizeof(id)), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_review_http_status(RT_ENOTFOUND), 404);
    RT_ASSERT_INT_EQ(rt_review_http_status(RT_EINVAL), 400);
    RT_ASSERT_INT_EQ(rt_review_http_status(-EEXIST), 409);
    RT_ASSERT_INT_EQ(rt_review_http_status(-EALREADY), 409);
    char key[200];
    RT_ASSERT_OK(
        rt_review_a2i_key("a2i-human-loop-data/", 1767323045123LL, "rt-x", key, sizeof(key)));
    RT_ASSERT_STR_EQ(key,
                     "a2i-human-loop-data/retraind-local/2026/01/02/03/04/05/rt-x/output.json");
}

/* The A2I output object of task id in the store, parsed. */
static cJSON *output_of(struct fx *f, const char *id, int64_t created_ms, char **text)
{
    char key[300];
    RT_ASSERT_OK(rt_review_a2i_key("a2i-human-loop-data/", created_ms, id, key, sizeof(key)));
    char *t = read_file(f->root, key);
    RT_ASSERT(t != NULL);
    cJSON *o = cJSON_Parse(t);
    RT_ASSERT(o != NULL);
    if (text)
        *text = t;
    else
        rt_free(t);
    return o;
}

RT_TEST(wait_called_once_with_a2i_output)
{
    struct fx f;
    fx_init(&f);
    create_task(&f, "rt-de-1", RT_REVIEW_SOURCE_DETECTION, 41.5, 1);
    struct waited w = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-1", on_waited, &w));
    for (int i = 0; i < 5; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(w.called, 0); /* open: nobody answered yet */
    char state[16];
    RT_ASSERT_OK(answer(&f, "rt-de-1", "ann", "dog", state));
    RT_ASSERT_STR_EQ(state, "answered");
    run_until(&f, &w.called);
    RT_ASSERT_OK(w.status);
    RT_ASSERT_STR_EQ(w.label, "dog");
    RT_ASSERT_STR_EQ(w.task, "rt-de-1");
    RT_ASSERT_STR_EQ(w.key, "images_for_detection/a.jpg");
    RT_ASSERT_INT_EQ(w.n_answers, 1);
    RT_ASSERT_STR_EQ(w.worker0, "ann");

    /* The output was written before the callback: read it back and check every field. */
    char *text = NULL;
    cJSON *o = output_of(&f, "rt-de-1", w.created_ms, &text);
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "flowDefinitionArn")),
                     RT_REVIEW_LOCAL_FLOW_ARN);
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "humanLoopName")), "rt-de-1");
    const cJSON *in = cJSON_GetObjectItem(o, "inputContent");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(in, "source")), "A2I Workflow");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(in, "detectLabelRequestId")),
                     "de-20260102T030405Z-0007");
    RT_ASSERT(cJSON_GetNumberValue(cJSON_GetObjectItem(in, "detectedConfidenceLevel")) == 41.5);
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(in, "detectedLabel")), "cat");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(in, "taskObject")),
                     "s3://local/images_for_detection/a.jpg");
    const cJSON *answers = cJSON_GetObjectItem(o, "humanAnswers");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(answers), 1);
    const cJSON *a0 = cJSON_GetArrayItem(answers, 0);
    const cJSON *cls =
        cJSON_GetObjectItem(cJSON_GetObjectItem(a0, "answerContent"), "crowd-image-classifier");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(cls, "label")), "dog");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(a0, "workerId")), "ann");
    const char *sub = cJSON_GetStringValue(cJSON_GetObjectItem(a0, "submissionTime"));
    const char *acc = cJSON_GetStringValue(cJSON_GetObjectItem(a0, "acceptanceTime"));
    RT_ASSERT(sub && strlen(sub) == 24 && sub[10] == 'T' && sub[19] == '.' && sub[23] == 'Z');
    RT_ASSERT(acc && strlen(acc) == 24);
    RT_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(a0, "timeSpentInSeconds")));
    cJSON_Delete(o);

    /* Called once: more loop turns and polls call nothing more. */
    int64_t end = rt_mono_ms() + 100;
    while (rt_mono_ms() < end)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(w.called, 1);

    /* Waiting again on the answered task calls back again (a retried step after a restart) and
     * rewrites the same object. */
    struct waited w2 = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-1", on_waited, &w2));
    RT_ASSERT_INT_EQ(w2.called, 0);
    run_until(&f, &w2.called);
    RT_ASSERT_STR_EQ(w2.label, "dog");
    char *again = NULL;
    cJSON_Delete(output_of(&f, "rt-de-1", w.created_ms, &again));
    RT_ASSERT_STR_EQ(again, text);
    rt_free(text);
    rt_free(again);
    fx_close(&f);
}

RT_TEST(answer_by_another_connection_is_noticed)
{
    struct fx f;
    fx_init(&f);
    create_task(&f, "rt-de-2", RT_REVIEW_SOURCE_SAMPLING, 80, 1);
    create_task(&f, "rt-de-3", RT_REVIEW_SOURCE_DETECTION, 10, 1);
    struct waited w = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-2", on_waited, &w));
    /* The wait has looked at the task (open) and polls from now on. */
    int64_t until = rt_mono_ms() + 100;
    while (rt_mono_ms() < until)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(w.called, 0);
    /* The CLI answers through its own connection, as another process does. */
    struct rt_journal *cli = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_open(f.data, RT_JOURNAL_READWRITE, &cli, &err));
    RT_ASSERT_OK(rt_journal_review_answer(cli, "rt-de-3", "cli:x", "cat", rt_now_ms(), NULL));
    RT_ASSERT_OK(
        rt_journal_review_answer(cli, "rt-de-2", "cli:x", "None of the Above", rt_now_ms(), NULL));
    rt_journal_close(cli);
    run_until(&f, &w.called);
    RT_ASSERT_OK(w.status);
    RT_ASSERT_STR_EQ(w.label, "None of the Above");
    cJSON *o = output_of(&f, "rt-de-2", w.created_ms, NULL);
    const cJSON *in = cJSON_GetObjectItem(o, "inputContent");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(in, "source")), "Human Sampling");
    cJSON_Delete(o);
    /* rt-de-3 had no waiter: nothing was written for it. */
    char key[300];
    RT_ASSERT_OK(
        rt_review_a2i_key("a2i-human-loop-data/", w.created_ms, "rt-de-3", key, sizeof(key)));
    RT_ASSERT(read_file(f.root, key) == NULL);

    /* A task answered before anyone waits (before a restart): the wait answers at once. */
    struct waited w3 = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-3", on_waited, &w3));
    run_until(&f, &w3.called);
    RT_ASSERT_STR_EQ(w3.label, "cat");
    fx_close(&f);
}

RT_TEST(wait_unknown_unwait_and_close)
{
    struct fx f;
    fx_init(&f);
    struct waited w = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-nope", on_waited, &w));
    run_until(&f, &w.called);
    RT_ASSERT_INT_EQ(w.status, RT_ENOTFOUND);

    create_task(&f, "rt-de-4", RT_REVIEW_SOURCE_DETECTION, 10, 1);
    create_task(&f, "rt-de-5", RT_REVIEW_SOURCE_DETECTION, 10, 1);
    struct waited gone = {0}, replaced = {0}, kept = {0}, open = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-4", on_waited, &gone));
    f.r->ops->unwait(f.r, "rt-de-4");
    /* A second wait replaces the first, whose callback never runs. */
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-5", on_waited, &replaced));
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-5", on_waited, &kept));
    RT_ASSERT_OK(answer(&f, "rt-de-4", "ann", "cat", NULL));
    RT_ASSERT_OK(answer(&f, "rt-de-5", "ann", "cat", NULL));
    run_until(&f, &kept.called);
    int64_t end = rt_mono_ms() + 100;
    while (rt_mono_ms() < end)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(gone.called, 0);
    RT_ASSERT_INT_EQ(replaced.called, 0);
    RT_ASSERT_INT_EQ(kept.called, 1);
    /* Closing with a waiter left: dropped, never called; the loop closes cleanly. */
    create_task(&f, "rt-de-6", RT_REVIEW_SOURCE_DETECTION, 10, 1);
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-de-6", on_waited, &open));
    fx_close(&f);
    RT_ASSERT_INT_EQ(open.called, 0);
}

struct nexted {
    int called, status;
    char *json;
};
static void on_next(int status, const cJSON *task, const struct rt_error *err, void *ud)
{
    (void)err;
    struct nexted *n = ud;
    n->called++;
    n->status = status;
    n->json = task ? cJSON_PrintUnformatted(task) : NULL;
}

/* The id of the next task for worker, "" when none; *json (may be NULL) gets the object. */
static const char *next(struct fx *f, const char *worker, cJSON **json)
{
    static char id[80];
    struct nexted n = {0};
    RT_ASSERT_OK(rt_review_local_next(f->r, worker, on_next, &n));
    RT_ASSERT_INT_EQ(n.called, 0);
    run_until(f, &n.called);
    RT_ASSERT_OK(n.status);
    id[0] = '\0';
    if (n.json) {
        cJSON *o = cJSON_Parse(n.json);
        snprintf(id, sizeof(id), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
        if (json)
            *json = o;
        else
            cJSON_Delete(o);
        cJSON_free(n.json);
    }
    return id;
}

struct imaged {
    int called, status;
    char type[64];
};
static void on_image(int status, const char *type, const struct rt_error *err, void *ud)
{
    (void)err;
    struct imaged *i = ud;
    i->called++;
    i->status = status;
    snprintf(i->type, sizeof(i->type), "%s", type ? type : "");
}

RT_TEST(portal_next_answer_image)
{
    struct fx f;
    fx_init(&f);
    write_file(f.root, "images_for_detection/a.jpg", "JPEGDATA");
    RT_ASSERT_STR_EQ(next(&f, "ann", NULL), "");
    create_task(&f, "rt-de-7", RT_REVIEW_SOURCE_DETECTION, 30, 1);
    create_task(&f, "rt-de-8", RT_REVIEW_SOURCE_DETECTION, 20, 1);
    create_task(&f, "rt-sa-9", RT_REVIEW_SOURCE_SAMPLING, 95, 1);
    create_task(&f, "rt-de-10", RT_REVIEW_SOURCE_DETECTION, 25, 1);
    cJSON *o = NULL;
    RT_ASSERT_STR_EQ(next(&f, "ann", &o), "rt-de-8");
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "image")),
                     "/api/reviews/rt-de-8/image");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "options")), 3);
    RT_ASSERT(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "open")) == 4);
    RT_ASSERT(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "confidence")) == 20);
    RT_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "instructions")));
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "source")), "detection");
    cJSON_Delete(o);
    /* The assignment is durable: bob gets another task. Served: ann 1, bob 2, then the third
     * served is the sampling task although two detection tasks are less confident. */
    RT_ASSERT_STR_EQ(next(&f, "bob", NULL), "rt-de-10");
    RT_ASSERT_STR_EQ(next(&f, "cid", NULL), "rt-sa-9");
    RT_ASSERT_STR_EQ(next(&f, "dan", NULL), "rt-de-7");
    RT_ASSERT_STR_EQ(next(&f, "eve", NULL), "");

    /* Refusals, as HTTP statuses. */
    char state[16];
    RT_ASSERT_INT_EQ(rt_review_http_status(answer(&f, "rt-none", "ann", "cat", NULL)), 404);
    RT_ASSERT_INT_EQ(rt_review_http_status(answer(&f, "../../etc/passwd", "ann", "cat", NULL)),
                     404);
    RT_ASSERT_INT_EQ(rt_review_http_status(answer(&f, "rt-de-8", "ann", "horse", NULL)), 400);
    RT_ASSERT_OK(answer(&f, "rt-de-8", "ann", "cat", state));
    RT_ASSERT_STR_EQ(state, "answered");
    RT_ASSERT_INT_EQ(answer(&f, "rt-de-8", "ann", "cat", NULL), -EEXIST);
    RT_ASSERT_INT_EQ(answer(&f, "rt-de-8", "bob", "cat", NULL), -EALREADY);

    /* The image, by task id only. */
    struct rt_buf body;
    rt_buf_init(&body, 1 << 20);
    struct imaged im = {0};
    RT_ASSERT_OK(rt_review_local_image(f.r, "rt-de-8", &body, on_image, &im));
    run_until(&f, &im.called);
    RT_ASSERT_OK(im.status);
    RT_ASSERT_STR_EQ(im.type, "image/jpeg");
    RT_ASSERT_STR_EQ(body.data, "JPEGDATA");
    im = (struct imaged){0};
    RT_ASSERT_OK(rt_review_local_image(f.r, "images_for_detection/a.jpg", &body, on_image, &im));
    run_until(&f, &im.called);
    RT_ASSERT_INT_EQ(im.status, RT_ENOTFOUND);
    rt_buf_cleanup(&body);

    /* The list shape. */
    cJSON *list = rt_review_local_list(f.r, NULL);
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(list), 4);
    const cJSON *first = cJSON_GetArrayItem(list, 0);
    RT_ASSERT(cJSON_GetObjectItem(first, "key") && cJSON_GetObjectItem(first, "state"));
    cJSON_Delete(list);
    fx_close(&f);
}

/* Two next() calls in the same turn (two reviewers at once) never get the same task. */
RT_TEST(next_concurrent_distinct)
{
    struct fx f;
    fx_init(&f);
    create_task(&f, "rt-de-1", RT_REVIEW_SOURCE_DETECTION, 10, 1);
    create_task(&f, "rt-de-2", RT_REVIEW_SOURCE_DETECTION, 20, 1);
    struct nexted a = {0}, b = {0};
    RT_ASSERT_OK(rt_review_local_next(f.r, "ann", on_next, &a));
    RT_ASSERT_OK(rt_review_local_next(f.r, "bob", on_next, &b));
    run_until(&f, &a.called);
    run_until(&f, &b.called);
    RT_ASSERT(a.json && b.json);
    RT_ASSERT(strstr(a.json, "rt-de-1") != NULL);
    RT_ASSERT(strstr(b.json, "rt-de-2") != NULL);
    cJSON_free(a.json);
    cJSON_free(b.json);
    fx_close(&f);
}

/* Assignments being written count against a task's room, not against the task: with the only
 * task needing three answers, three reviewers asking in the same turn all get it and a fourth
 * gets nothing. (Passing the task over while one assignment was being written told the others
 * "nothing", and a crowd that stops at "nothing" left the task short of answers.) */
RT_TEST(next_concurrent_share_a_task_with_room)
{
    struct fx f;
    fx_init(&f);
    create_task(&f, "rt-lj-1", RT_REVIEW_SOURCE_LABELING_JOB, 10, 3);
    static const char *const who[] = {"ann", "bob", "cid", "dan"};
    struct nexted n[4] = {{0}};
    for (int i = 0; i < 4; i++)
        RT_ASSERT_OK(rt_review_local_next(f.r, who[i], on_next, &n[i]));
    for (int i = 0; i < 4; i++)
        run_until(&f, &n[i].called);
    for (int i = 0; i < 3; i++) {
        RT_ASSERT_OK(n[i].status);
        RT_ASSERT(n[i].json && strstr(n[i].json, "rt-lj-1") != NULL);
        cJSON_free(n[i].json);
    }
    RT_ASSERT_OK(n[3].status);
    RT_ASSERT(n[3].json == NULL);
    /* Once written, the assignments keep doing so. */
    RT_ASSERT_STR_EQ(next(&f, "eve", NULL), "");
    RT_ASSERT_STR_EQ(next(&f, "bob", NULL), "rt-lj-1"); /* bob's own: a reload */
    fx_close(&f);
}

/* A task needing two answers: the waiter hears of it after the second, with both answers in the
 * A2I output (one humanAnswers entry per worker, in answer order). */
RT_TEST(two_workers_in_output)
{
    struct fx f;
    fx_init(&f);
    create_task(&f, "rt-lj-1", RT_REVIEW_SOURCE_LABELING_JOB, -1, 2);
    struct waited w = {0};
    RT_ASSERT_OK(f.r->ops->wait(f.r, "rt-lj-1", on_waited, &w));
    char state[16];
    RT_ASSERT_OK(answer(&f, "rt-lj-1", "ann", "dog", state));
    RT_ASSERT_STR_EQ(state, "open");
    int64_t end = rt_mono_ms() + 60;
    while (rt_mono_ms() < end)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(w.called, 0);
    RT_ASSERT_OK(answer(&f, "rt-lj-1", "bob", "dog", state));
    RT_ASSERT_STR_EQ(state, "answered");
    run_until(&f, &w.called);
    RT_ASSERT_INT_EQ(w.n_answers, 2);
    cJSON *o = output_of(&f, "rt-lj-1", w.created_ms, NULL);
    const cJSON *answers = cJSON_GetObjectItem(o, "humanAnswers");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(answers), 2);
    RT_ASSERT_STR_EQ(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(answers, 1), "workerId")),
        "bob");
    const cJSON *in = cJSON_GetObjectItem(o, "inputContent");
    RT_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(in, "detectedConfidenceLevel")));
    cJSON_Delete(o);
    fx_close(&f);
}
