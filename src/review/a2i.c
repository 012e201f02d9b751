/*
 * a2i.c - the `a2i` review driver: a task is an Amazon A2I human loop named after the task id.
 *
 * create: StartHumanLoop {HumanLoopName: task id, FlowDefinitionArn, HumanLoopInput.InputContent:
 * the reference solution's JSON text}; the flow definition is resolved once when the config names
 * it (DescribeFlowDefinition). A retry that meets ConflictException / ResourceInUse (the loop
 * exists) counts as created.
 *
 * wait: waiters sit in one list; one repeating timer (review.poll) runs while anyone waits and
 * describes up to per_tick loops per round, round-robin from a cursor, so thousands of waiting
 * detections cost one timer and a bounded number of calls per round. A Completed loop's output
 * JSON (HumanLoopOutput.OutputS3Uri) is read through the store, its humanAnswers parsed
 * (answerContent."crowd-image-classifier".label, workerId, submissionTime) and the waiter called
 * with the consolidated label (majority; a tie goes to the earliest answer). A Failed or Stopped
 * loop calls back with RT_ECANCELED (aws_code the FailureCode, or "Stopped"; the workflow ends
 * the execution FAILED with the message); a loop A2I does not know
 * calls back with RT_ENOTFOUND; anything else (throttled after retries, network) keeps the waiter
 * for the next round.
 */
#include <cjson/cJSON.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/log.h"
#include "retraind/review_a2i.h"
#include "retraind/store.h"

#define DEFAULT_PER_TICK 10
#define CALL_TIMEOUT_MS 20000
#define OUTPUT_MAX ((size_t)4 << 20)
#define MAX_ANSWERS 64

struct waiter {
    struct waiter *prev, *next;
    char id[RT_REVIEW_TASK_ID_MAX];
    rt_review_result_fn *cb;
    void *ud;
    bool busy; /* a describe (or the output read) is in flight */
};

struct a2i {
    struct rt_review base;
    uv_loop_t *loop;
    struct rt_aws_client *aws;
    struct rt_store *store;
    char *flow;     /* the config's value */
    char *flow_arn; /* resolved ARN, or NULL */
    int64_t poll_ms;
    int per_tick;
    uv_timer_t timer;
    bool timer_on;
    struct waiter *head, *tail, *cursor;
    int inflight;
    bool closing, close_started;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static const struct rt_review_ops a2i_ops;

const char *rt_review_a2i_input_source(const char *s)
{
    if (s && strcmp(s, RT_REVIEW_SOURCE_SAMPLING) == 0)
        return "Human Sampling";
    if (s && strcmp(s, RT_REVIEW_SOURCE_LABELING_JOB) == 0)
        return "Labeling Job";
    return "A2I Workflow";
}

static const char *task_source(const char *input_source)
{
    if (input_source && strcmp(input_source, "Human Sampling") == 0)
        return RT_REVIEW_SOURCE_SAMPLING;
    if (input_source && strcmp(input_source, "Labeling Job") == 0)
        return RT_REVIEW_SOURCE_LABELING_JOB;
    return RT_REVIEW_SOURCE_DETECTION;
}

/* ---- closing ---- */

static void timer_closed(uv_handle_t *h)
{
    struct a2i *a = h->data;
    void (*cb)(void *) = a->close_cb;
    void *ud = a->close_ud;
    rt_free(a->flow);
    rt_free(a->flow_arn);
    rt_free(a);
    if (cb)
        cb(ud);
}

static void maybe_finish_close(struct a2i *a)
{
    if (!a->closing || a->inflight > 0 || a->close_started)
        return;
    a->close_started = true;
    uv_close((uv_handle_t *)&a->timer, timer_closed);
}

/* ---- waiters ---- */

static struct waiter *waiter_find(struct a2i *a, const char *id)
{
    for (struct waiter *w = a->head; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static void timer_update(struct a2i *a);

static void waiter_remove(struct a2i *a, struct waiter *w)
{
    if (a->cursor == w)
        a->cursor = w->next;
    if (w->prev)
        w->prev->next = w->next;
    else
        a->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        a->tail = w->prev;
    rt_free(w);
    timer_update(a);
}

/* ---- create ---- */

struct create_ctx {
    struct a2i *a;
    rt_review_done_fn *cb;
    void *ud;
    char id[RT_REVIEW_TASK_ID_MAX];
    char *input; /* the InputContent JSON text */
};

static void create_end(struct create_ctx *c, int status, const struct rt_error *err)
{
    struct a2i *a = c->a;
    a->inflight--;
    if (status)
        RT_LOG(RT_LOG_ERR, "review", "event=human_loop_start_failed task=%s error=%s", rt_q(c->id),
               rt_q(err ? err->msg : rt_strerror(status)));
    c->cb(status, status ? err : NULL, c->ud);
    rt_free(c->input);
    rt_free(c);
    maybe_finish_close(a);
}

static bool loop_exists(const struct rt_error *err)
{
    return err && (strcmp(err->aws_code, "ConflictException") == 0 ||
                   strcmp(err->aws_code, "ResourceInUse") == 0 ||
                   strcmp(err->aws_code, "ResourceInUseException") == 0);
}

static void started(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    struct create_ctx *c = ud;
    if (status == RT_EAWS && loop_exists(err)) {
        RT_LOG(RT_LOG_INFO, "review", "event=human_loop_exists task=%s code=%s", rt_q(c->id),
               rt_q(err->aws_code));
        status = 0;
    } else if (!status) {
        RT_LOG(RT_LOG_INFO, "review", "event=human_loop_started task=%s", rt_q(c->id));
    }
    create_end(c, status, err);
}

/* Sends StartHumanLoop. Returns: 0, or an error in err (the callback will not run). */
static int start_loop(struct create_ctx *c, struct rt_error *err)
{
    struct a2i *a = c->a;
    cJSON *o = cJSON_CreateObject();
    cJSON *in = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "HumanLoopName", c->id) &&
        cJSON_AddStringToObject(o, "FlowDefinitionArn", a->flow_arn) &&
        cJSON_AddItemToObject(o, "HumanLoopInput", in)) {
        in = NULL;
        cJSON *hin = cJSON_GetObjectItemCaseSensitive(o, "HumanLoopInput");
        if (cJSON_AddStringToObject(hin, "InputContent", c->input))
            text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(in);
    cJSON_Delete(o);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "a2i StartHumanLoop: out of memory");
    struct rt_aws_params p = {
        .body = text, .body_len = strlen(text), .timeout_ms = CALL_TIMEOUT_MS};
    int rc = rt_aws_call(a->aws, &rt_aws_a2i_start_human_loop_op, &p, started, c, err);
    cJSON_free(text);
    return rc;
}

static void
flow_described(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct create_ctx *c = ud;
    struct a2i *a = c->a;
    if (status) {
        create_end(c, status, err);
        return;
    }
    struct rt_error e;
    rt_error_clear(&e);
    cJSON *root = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(root, "FlowDefinitionArn");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "FlowDefinitionStatus");
    int rc = 0;
    if (!cJSON_IsString(arn) || !arn->valuestring[0]) {
        rc = rt_error_set(&e, RT_EPARSE,
                          "sagemaker DescribeFlowDefinition %s: no FlowDefinitionArn", a->flow);
    } else if (cJSON_IsString(st) && strcmp(st->valuestring, "Active") != 0) {
        rc = rt_error_set(&e, RT_EAWS, "flow definition %s is %s, not Active", a->flow,
                          st->valuestring);
        rt_strlcpy(e.aws_code, "FlowDefinitionNotActive", sizeof(e.aws_code));
    } else if (!a->flow_arn) {
        a->flow_arn = rt_strdup(arn->valuestring);
        if (!a->flow_arn)
            rc = rt_error_set(&e, RT_ENOMEM, "a2i: out of memory");
        else
            RT_LOG(RT_LOG_INFO, "review", "event=flow_definition name=%s arn=%s", rt_q(a->flow),
                   rt_q(a->flow_arn));
    }
    cJSON_Delete(root);
    if (!rc)
        rc = start_loop(c, &e);
    if (rc)
        create_end(c, rc, &e);
}

/* Sends DescribeFlowDefinition. Returns: 0, or an error in err (the callback will not run). */
static int resolve_flow(struct create_ctx *c, struct rt_error *err)
{
    struct a2i *a = c->a;
    cJSON *o = cJSON_CreateObject();
    char *text = o && cJSON_AddStringToObject(o, "FlowDefinitionName", a->flow)
                     ? cJSON_PrintUnformatted(o)
                     : NULL;
    cJSON_Delete(o);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "a2i: out of memory");
    struct rt_aws_params p = {
        .body = text, .body_len = strlen(text), .timeout_ms = CALL_TIMEOUT_MS};
    int rc = rt_aws_call(a->aws, &rt_aws_sagemaker_describe_flow_definition_op, &p, flow_described,
                         c, err);
    cJSON_free(text);
    return rc;
}

/* Returns: the InputContent text of t (rt_free), or NULL. */
static char *input_content(struct a2i *a, const struct rt_review_task *t)
{
    char uri[RT_STORE_KEY_MAX + 300];
    rt_snprintf(uri, sizeof(uri), "s3://%s/%s",
                a->store && a->store->bucket_name ? a->store->bucket_name : "local", t->key);
    const char *request_id = t->exec_id && t->exec_id[0] ? t->exec_id : t->id;
    cJSON *in = cJSON_CreateObject();
    bool ok = in && cJSON_AddStringToObject(in, "source", rt_review_a2i_input_source(t->source)) &&
              cJSON_AddStringToObject(in, "detectLabelRequestId", request_id) &&
              cJSON_AddItemToObject(in, "detectedConfidenceLevel",
                                    t->confidence >= 0 ? cJSON_CreateNumber(t->confidence)
                                                       : cJSON_CreateNull()) &&
              cJSON_AddItemToObject(in, "detectedLabel",
                                    t->detected_label ? cJSON_CreateString(t->detected_label)
                                                      : cJSON_CreateNull()) &&
              cJSON_AddStringToObject(in, "taskObject", uri);
    char *text = ok ? cJSON_PrintUnformatted(in) : NULL;
    cJSON_Delete(in);
    char *out = text ? rt_strdup(text) : NULL;
    cJSON_free(text);
    return out;
}

static int
a2i_create(struct rt_review *r, const struct rt_review_task *t, rt_review_done_fn *cb, void *ud)
{
    struct a2i *a = (struct a2i *)r;
    if (a->closing)
        return RT_ECANCELED;
    if (!cb || !t || !t->id || !t->key || strlen(t->id) >= RT_REVIEW_TASK_ID_MAX)
        return RT_EINVAL;
    struct create_ctx *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    *c = (struct create_ctx){.a = a, .cb = cb, .ud = ud};
    rt_strlcpy(c->id, t->id, sizeof(c->id));
    if (!(c->input = input_content(a, t))) {
        rt_free(c);
        return RT_ENOMEM;
    }
    struct rt_error err;
    rt_error_clear(&err);
    int rc = a->flow_arn ? start_loop(c, &err) : resolve_flow(c, &err);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "review", "event=human_loop_start_failed task=%s error=%s", rt_q(c->id),
               rt_q(err.msg));
        rt_free(c->input);
        rt_free(c);
        return rc;
    }
    a->inflight++;
    return 0;
}

/* ---- wait: polling ---- */

struct poll_ctx {
    struct a2i *a;
    char id[RT_REVIEW_TASK_ID_MAX];
    int64_t created_ms;
    struct rt_buf body; /* the output JSON */
};

/* Hands status/result to the waiter of c->id, if anyone still waits, and forgets it. */
static void deliver(struct poll_ctx *c,
                    int status,
                    const struct rt_review_result *res,
                    const struct rt_error *err)
{
    struct a2i *a = c->a;
    struct waiter *w = a->closing ? NULL : waiter_find(a, c->id);
    if (w) {
        rt_review_result_fn *cb = w->cb;
        void *ud = w->ud;
        waiter_remove(a, w);
        cb(status, res, status ? err : NULL, ud);
    }
}

static void poll_end(struct poll_ctx *c)
{
    struct a2i *a = c->a;
    struct waiter *w = a->closing ? NULL : waiter_find(a, c->id);
    if (w)
        w->busy = false;
    a->inflight--;
    rt_buf_cleanup(&c->body);
    rt_free(c);
    maybe_finish_close(a);
}

/* Epoch ms of a CreationTime (epoch seconds as a number, or an ISO-8601 string), 0 if none. */
static int64_t time_of(const cJSON *v)
{
    int64_t ms = 0;
    if (cJSON_IsNumber(v))
        return (int64_t)(v->valuedouble * 1000.0);
    if (cJSON_IsString(v) && rt_time_parse_rfc3339(v->valuestring, &ms) == 0)
        return ms;
    return 0;
}

/* Parses the output JSON and calls the waiter. */
static void output_read(int status, const struct rt_error *err, void *ud)
{
    struct poll_ctx *c = ud;
    struct rt_error e;
    rt_error_clear(&e);
    if (status) {
        RT_LOG(RT_LOG_WARNING, "review", "event=output_read_failed task=%s error=%s", rt_q(c->id),
               rt_q(err ? err->msg : rt_strerror(status)));
        poll_end(c); /* tried again next round */
        return;
    }
    cJSON *root = cJSON_ParseWithLength(c->body.data ? c->body.data : "", c->body.len);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "inputContent");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(in, "taskObject");
    const cJSON *ha = cJSON_GetObjectItemCaseSensitive(root, "humanAnswers");
    struct rt_review_answer answers[MAX_ANSWERS];
    size_t n = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, ha)
    {
        if (n >= MAX_ANSWERS)
            break;
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(h, "answerContent"), "crowd-image-classifier");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(cls, "label");
        const cJSON *worker = cJSON_GetObjectItemCaseSensitive(h, "workerId");
        if (!cJSON_IsString(label) || !label->valuestring[0])
            continue;
        answers[n++] = (struct rt_review_answer){
            .worker = cJSON_IsString(worker) ? worker->valuestring : "",
            .label = label->valuestring,
            .at_ms = time_of(cJSON_GetObjectItemCaseSensitive(h, "submissionTime")),
        };
    }
    if (!root || n == 0) {
        rt_error_set(&e, RT_EPARSE, "a2i output of %s: %s", c->id,
                     root ? "no humanAnswers with a crowd-image-classifier label" : "not JSON");
        RT_LOG(RT_LOG_ERR, "review", "event=output_bad task=%s error=%s", rt_q(c->id), rt_q(e.msg));
        deliver(c, RT_EPARSE, NULL, &e);
        cJSON_Delete(root);
        poll_end(c);
        return;
    }
    /* Majority; a tie goes to the label answered first (submission time, then order). */
    size_t best = 0;
    int best_count = 0;
    int64_t best_first = 0;
    for (size_t i = 0; i < n; i++) {
        int count = 0;
        int64_t first = answers[i].at_ms;
        bool seen = false;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(answers[k].label, answers[i].label) != 0)
                continue;
            if (k < i)
                seen = true;
            count++;
            if (answers[k].at_ms < first)
                first = answers[k].at_ms;
        }
        if (seen)
            continue;
        if (count > best_count || (count == best_count && first < best_first)) {
            best = i;
            best_count = count;
            best_first = first;
        }
    }
    const char *key = NULL;
    if (cJSON_IsString(obj) && strncmp(obj->valuestring, "s3://", 5) == 0) {
        const char *slash = strchr(obj->valuestring + 5, '/');
        key = slash ? slash + 1 : NULL;
    }
    struct rt_review_result res = {
        .task_id = c->id,
        .source = task_source(cJSON_IsString(src) ? src->valuestring : NULL),
        .key = key,
        .label = answers[best].label,
        .answers = answers,
        .n_answers = n,
        .created_ms = c->created_ms,
    };
    RT_LOG(RT_LOG_INFO, "review", "event=human_loop_answered task=%s label=%s answers=%zu",
           rt_q(c->id), rt_q(res.label), n);
    deliver(c, 0, &res, NULL);
    cJSON_Delete(root);
    poll_end(c);
}

static void described(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct poll_ctx *c = ud;
    struct a2i *a = c->a;
    if (status == RT_EAWS && err && strcmp(err->aws_code, "ResourceNotFoundException") == 0) {
        RT_LOG(RT_LOG_WARNING, "review", "event=human_loop_missing task=%s", rt_q(c->id));
        deliver(c, RT_ENOTFOUND, NULL, err);
        poll_end(c);
        return;
    }
    if (status) {
        RT_LOG(RT_LOG_WARNING, "review", "event=human_loop_describe_failed task=%s error=%s",
               rt_q(c->id), rt_q(err ? err->msg : rt_strerror(status)));
        poll_end(c); /* tried again next round */
        return;
    }
    struct rt_error e;
    rt_error_clear(&e);
    cJSON *root = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "HumanLoopStatus");
    const char *s = cJSON_IsString(st) ? st->valuestring : "";
    c->created_ms = time_of(cJSON_GetObjectItemCaseSensitive(root, "CreationTime"));
    if (strcmp(s, "Completed") == 0) {
        const cJSON *uri = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "HumanLoopOutput"), "OutputS3Uri");
        const char *u = cJSON_IsString(uri) ? uri->valuestring : "";
        const char *bucket = a->store->bucket_name ? a->store->bucket_name : "";
        size_t bl = strlen(bucket);
        int rc = 0;
        if (strncmp(u, "s3://", 5) != 0 || strncmp(u + 5, bucket, bl) != 0 || u[5 + bl] != '/') {
            rt_error_set(&e, RT_EINVAL,
                         "a2i output of %s is %s, outside the store's bucket %s (the flow "
                         "definition's output path must be in the store)",
                         c->id, u, bucket);
            RT_LOG(RT_LOG_ERR, "review", "event=output_elsewhere task=%s error=%s", rt_q(c->id),
                   rt_q(e.msg));
            rc = RT_EINVAL;
        } else {
            rt_buf_init(&c->body, OUTPUT_MAX);
            rc = a->store->ops->get(a->store, u + 5 + bl + 1, &c->body, output_read, c);
            if (rc)
                rt_error_set(&e, rc, "a2i output of %s: cannot read %s", c->id, u);
        }
        cJSON_Delete(root);
        if (rc) {
            RT_LOG(RT_LOG_WARNING, "review", "event=output_read_failed task=%s error=%s",
                   rt_q(c->id), rt_q(e.msg));
            poll_end(c);
        }
        return;
    }
    if (strcmp(s, "Failed") == 0 || strcmp(s, "Stopped") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "FailureCode");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(root, "FailureReason");
        rt_error_set(&e, RT_ECANCELED, "a2i human loop %s is %s%s%s", c->id, s,
                     cJSON_IsString(why) ? ": " : "", cJSON_IsString(why) ? why->valuestring : "");
        rt_strlcpy(e.aws_code, cJSON_IsString(code) ? code->valuestring : s, sizeof(e.aws_code));
        RT_LOG(RT_LOG_WARNING, "review", "event=human_loop_ended task=%s status=%s error=%s",
               rt_q(c->id), s, rt_q(e.msg));
        cJSON_Delete(root);
        deliver(c, RT_ECANCELED, NULL, &e);
        poll_end(c);
        return;
    }
    /* InProgress, Stopping: still waiting. */
    cJSON_Delete(root);
    poll_end(c);
}

static void describe(struct a2i *a, struct waiter *w)
{
    struct poll_ctx *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return;
    c->a = a;
    rt_strlcpy(c->id, w->id, sizeof(c->id));
    char path[RT_REVIEW_TASK_ID_MAX + 16];
    rt_snprintf(path, sizeof(path), "/human-loops/%s", w->id);
    struct rt_aws_params p = {.path = path, .timeout_ms = CALL_TIMEOUT_MS};
    struct rt_error err;
    rt_error_clear(&err);
    a->inflight++;
    w->busy = true;
    if (rt_aws_call(a->aws, &rt_aws_a2i_describe_human_loop_op, &p, described, c, &err)) {
        RT_LOG(RT_LOG_WARNING, "review", "event=human_loop_describe_failed task=%s error=%s",
               rt_q(w->id), rt_q(err.msg));
        w->busy = false;
        a->inflight--;
        rt_free(c);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct a2i *a = t->data;
    if (a->closing || !a->head)
        return;
    /* One round: up to per_tick loops, from the cursor on, wrapping once. */
    int started = 0;
    struct waiter *w = a->cursor ? a->cursor : a->head;
    struct waiter *first = w;
    do {
        struct waiter *next = w->next ? w->next : a->head;
        if (!w->busy) {
            describe(a, w);
            started++;
        }
        w = next;
    } while (started < a->per_tick && w != first);
    a->cursor = w;
}

static void timer_update(struct a2i *a)
{
    bool want = a->head && !a->closing;
    if (want && !a->timer_on) {
        uv_timer_start(&a->timer, on_tick, (uint64_t)a->poll_ms, (uint64_t)a->poll_ms);
        a->timer_on = true;
    } else if (!want && a->timer_on) {
        uv_timer_stop(&a->timer);
        a->timer_on = false;
    }
}

static int a2i_wait(struct rt_review *r, const char *task_id, rt_review_result_fn *cb, void *ud)
{
    struct a2i *a = (struct a2i *)r;
    if (a->closing)
        return RT_ECANCELED;
    if (!cb || !task_id || !task_id[0] || strlen(task_id) >= RT_REVIEW_TASK_ID_MAX)
        return RT_EINVAL;
    struct waiter *w = waiter_find(a, task_id);
    if (!w) {
        if (!(w = rt_calloc(1, sizeof(*w))))
            return RT_ENOMEM;
        rt_strlcpy(w->id, task_id, sizeof(w->id));
        w->prev = a->tail;
        if (a->tail)
            a->tail->next = w;
        else
            a->head = w;
        a->tail = w;
    }
    w->cb = cb; /* a second wait replaces the first */
    w->ud = ud;
    timer_update(a);
    return 0;
}

static void a2i_unwait(struct rt_review *r, const char *task_id)
{
    struct a2i *a = (struct a2i *)r;
    struct waiter *w = task_id ? waiter_find(a, task_id) : NULL;
    if (w)
        waiter_remove(a, w);
}

static void a2i_close(struct rt_review *r, void (*cb)(void *ud), void *ud)
{
    struct a2i *a = (struct a2i *)r;
    if (a->closing)
        return;
    a->closing = true;
    a->close_cb = cb;
    a->close_ud = ud;
    timer_update(a);
    /* Waiters are dropped: their executions wait again after the next start. */
    while (a->head) {
        struct waiter *w = a->head;
        a->head = w->next;
        rt_free(w);
    }
    a->tail = a->cursor = NULL;
    maybe_finish_close(a);
}

static const struct rt_review_ops a2i_ops = {
    .name = "a2i",
    .create = a2i_create,
    .wait = a2i_wait,
    .unwait = a2i_unwait,
    .close = a2i_close,
};

int rt_review_a2i_new(uv_loop_t *loop,
                      struct rt_aws_client *aws,
                      struct rt_store *store,
                      const struct rt_review_a2i_opts *o,
                      struct rt_review **out,
                      struct rt_error *err)
{
    if (!loop || !aws || !store || !o || !o->flow_definition || !o->flow_definition[0])
        return rt_error_set(err, RT_EINVAL,
                            "review a2i: needs the AWS client, the store and flow_definition");
    struct a2i *a = rt_calloc(1, sizeof(*a));
    if (!a)
        return rt_error_set(err, RT_ENOMEM, "review a2i: out of memory");
    a->base.ops = &a2i_ops;
    a->loop = loop;
    a->aws = aws;
    a->store = store;
    a->poll_ms = o->poll_ms > 0 ? o->poll_ms : 30000;
    a->per_tick = o->per_tick > 0 ? o->per_tick : DEFAULT_PER_TICK;
    a->flow = rt_strdup(o->flow_definition);
    /* An ARN is used as it is; a name is resolved with DescribeFlowDefinition at the first
     * create. */
    if (a->flow && strncmp(a->flow, "arn:", 4) == 0)
        a->flow_arn = rt_strdup(a->flow);
    if (!a->flow || (strncmp(o->flow_definition, "arn:", 4) == 0 && !a->flow_arn) ||
        uv_timer_init(loop, &a->timer)) {
        rt_free(a->flow);
        rt_free(a->flow_arn);
        rt_free(a);
        return rt_error_set(err, RT_ENOMEM, "review a2i: out of memory");
    }
    a->timer.data = a;
    *out = &a->base;
    return 0;
}
