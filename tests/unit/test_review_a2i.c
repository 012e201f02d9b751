/*
 * test_review_a2i.c - the a2i review driver against the aws-twin Node server (routes/a2i.js),
 * which checks every signature with @smithy/signature-v4 and keeps human loops: StartHumanLoop
 * with the reference solution's InputContent, the flow definition resolved once by name (and not
 * at all for an ARN), an idempotent retry on ConflictException, waiting until the test completes
 * the loop through the twin's control (the output JSON written into the local store's folder and
 * read back through the store), majority and ties, Failed and Stopped loops, an unknown loop,
 * throttled describes surviving, and many waiters served by one timer in bounded rounds.
 *
 * Each case exits 77 (skipped) when node or the twin's npm packages are missing and cannot be
 * installed; a twin that is installed but does not start is a failure.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/clock.h"
#include "retraind/httpc.h"
#include "retraind/review_a2i.h"
#include "retraind/store.h"
#include "rt_test.h"
#include "twin_fixture.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define FLOW "retraind-flow"

static struct twin_proc twin;
static uv_loop_t loop;
static struct rt_httpc *hc;
static struct rt_aws_client *aws;
static struct rt_store *store;
static struct rt_review *rv;
static char root[512];

/* A blocking HTTP/1.0 call to the twin's control endpoint; the reply body into out. */
static void twin_control(const char *path, const char *json, char *out, size_t size)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    RT_ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)twin.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    static char req[16384];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, json ? strlen(json) : 0, json ? json : "");
    RT_ASSERT(write(s, req, (size_t)n) == n);
    static char buf[262144];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof(buf) - 1 && (k = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(s);
    if (strncmp(buf + 9, "200", 3) != 0)
        RT_FAIL("control %s: %.200s", path, buf);
    const char *body = strstr(buf, "\r\n\r\n");
    if (out)
        snprintf(out, size, "%s", body ? body + 4 : "");
}

static int twin_count(const char *op)
{
    char out[4096], key[64];
    twin_control("/__control/a2i/counts", "{}", out, sizeof(out));
    snprintf(key, sizeof(key), "\"%s\":", op);
    const char *p = strstr(out, key);
    return p ? (int)strtol(p + strlen(key), NULL, 10) : 0;
}

static void complete(const char *name, const char *answers_json)
{
    char body[4096];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"answers\":%s}", name, answers_json);
    char out[4096];
    twin_control("/__control/a2i/complete", body, out, sizeof(out));
    RT_ASSERT(strstr(out, "\"uri\"") != NULL);
}

static void start(const char *flow, int64_t poll_ms, int per_tick)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_SAGEMAKER");
    unsetenv("AWS_ENDPOINT_URL_SAGEMAKER_A2I_RUNTIME");
    char modules[1100], script[1024];
    twin_install(modules, sizeof(modules));
    snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    char *argv[] = {"node", script, NULL};
    twin_spawn(&twin, modules, argv);
    snprintf(root, sizeof(root), "%s/bucket", rt_test_tmpdir());
    char body[1024];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"output\":\"s3://local/a2i-human-loop-data/\"}",
             FLOW);
    twin_control("/__control/a2i/flow", body, NULL, 0);
    snprintf(body, sizeof(body), "{\"output_dir\":\"%s\"}", root);
    twin_control("/__control/a2i/config", body, NULL, 0);

    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 5, .backoff_max_ms = 20};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin.port);
    struct rt_aws_client_opts o = {.region = "us-east-1",
                                   .endpoints = {.sagemaker = base, .a2i = base},
                                   .access_key = AK,
                                   .secret_key = SK};
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    struct rt_store_local_opts so = {.root = root};
    RT_ASSERT_OK(rt_store_local_new(&loop, &so, &store, &err));
    struct rt_review_a2i_opts ro = {
        .flow_definition = flow, .poll_ms = poll_ms, .per_tick = per_tick};
    RT_ASSERT_OK(rt_review_a2i_new(&loop, aws, store, &ro, &rv, &err));
}

static void count_closed(void *ud)
{
    (*(int *)ud)++;
}

static void finish(void)
{
    int closed = 0;
    rv->ops->close(rv, count_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    store->ops->close(store, count_closed, &closed);
    rt_aws_client_destroy(aws);
    rt_httpc_close(hc, count_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 3);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_reap(&twin);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* Runs the loop until *flag reaches want (fails after 10 s). */
static void run_until(const int *flag, int want)
{
    int64_t end = rt_mono_ms() + 10000;
    while (*flag < want && rt_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    if (*flag < want)
        RT_FAIL("waited 10 s for %d callbacks, got %d", want, *flag);
}

static void timer_fired(uv_timer_t *h)
{
    (*(int *)h->data)++;
}

static void timer_closed(uv_handle_t *h)
{
    (void)h;
}

/* Runs the loop for ms. */
static void run_for(int64_t ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(&loop, &t);
    t.data = &fired;
    uv_timer_start(&t, timer_fired, (uint64_t)ms, 0);
    while (!fired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, timer_closed);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- callbacks ---- */

struct created {
    int n, status;
    char code[96];
};

static void on_created(int status, const struct rt_error *err, void *ud)
{
    struct created *c = ud;
    c->status = status;
    snprintf(c->code, sizeof(c->code), "%s", err ? err->aws_code : "");
    c->n++;
}

struct answered {
    int n, status;
    char code[96], msg[512], label[64], key[256], source[32], workers[256];
    size_t n_answers;
    int64_t created_ms;
};

static void
on_answer(int status, const struct rt_review_result *r, const struct rt_error *err, void *ud)
{
    struct answered *a = ud;
    a->n++;
    a->status = status;
    if (err) {
        snprintf(a->code, sizeof(a->code), "%s", err->aws_code);
        snprintf(a->msg, sizeof(a->msg), "%s", err->msg);
    }
    if (r) {
        snprintf(a->label, sizeof(a->label), "%s", r->label);
        snprintf(a->key, sizeof(a->key), "%s", r->key ? r->key : "");
        snprintf(a->source, sizeof(a->source), "%s", r->source);
        a->n_answers = r->n_answers;
        a->created_ms = r->created_ms;
        a->workers[0] = '\0';
        for (size_t i = 0; i < r->n_answers; i++) {
            size_t l = strlen(a->workers);
            snprintf(a->workers + l, sizeof(a->workers) - l, "%s%s=%s", i ? "," : "",
                     r->answers[i].worker, r->answers[i].label);
        }
    }
}

static const char *const OPTIONS[] = {"cat", "dog", "None of the Above"};

static void create(const char *id, const char *source, const char *key, struct created *c)
{
    char exec_id[64];
    snprintf(exec_id, sizeof(exec_id), "%s", id + 3);
    struct rt_review_task t = {.id = id,
                               .source = source,
                               .exec_id = exec_id,
                               .key = key,
                               .detected_label = "cat",
                               .confidence = 41.5,
                               .options = OPTIONS,
                               .n_options = 3,
                               .answers_needed = 1};
    RT_ASSERT_OK(rv->ops->create(rv, &t, on_created, c));
    RT_ASSERT_INT_EQ(c->n, 0); /* never from inside the call */
}

/* ---- cases ---- */

RT_TEST(create_wait_complete)
{
    start(FLOW, 50, 0);
    struct created c = {0};
    create("rt-de-20260102t030405z-0001", RT_REVIEW_SOURCE_DETECTION,
           "images_for_detection/a b.jpg", &c);
    run_until(&c.n, 1);
    RT_ASSERT_INT_EQ(c.status, 0);
    RT_ASSERT_INT_EQ(twin_count("DescribeFlowDefinition"), 1);
    RT_ASSERT_INT_EQ(twin_count("StartHumanLoop"), 1);
    /* The loop the twin keeps has the reference solution's InputContent. */
    char out[8192];
    twin_control("/__control/a2i/loops", "{}", out, sizeof(out));
    cJSON *loops = cJSON_Parse(out);
    RT_ASSERT(cJSON_GetArraySize(loops) == 1);
    cJSON *l = cJSON_GetArrayItem(loops, 0);
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(l, "name")->valuestring, "rt-de-20260102t030405z-0001");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(l, "flow")->valuestring, FLOW);
    cJSON *in = cJSON_GetObjectItem(l, "input");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(in, "source")->valuestring, "A2I Workflow");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(in, "detectLabelRequestId")->valuestring,
                     "de-20260102t030405z-0001");
    RT_ASSERT(cJSON_GetObjectItem(in, "detectedConfidenceLevel")->valuedouble == 41.5);
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(in, "detectedLabel")->valuestring, "cat");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(in, "taskObject")->valuestring,
                     "s3://local/images_for_detection/a b.jpg");
    int64_t created = (int64_t)cJSON_GetObjectItem(l, "created")->valuedouble;
    cJSON_Delete(loops);

    struct answered a = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-20260102t030405z-0001", on_answer, &a));
    run_for(300); /* several rounds while the loop is in progress: nobody called */
    RT_ASSERT_INT_EQ(a.n, 0);
    RT_ASSERT(twin_count("DescribeHumanLoop") >= 2);
    complete("rt-de-20260102t030405z-0001",
             "[{\"label\":\"dog\",\"worker\":\"ann\",\"at_ms\":1000},"
             "{\"label\":\"cat\",\"worker\":\"bob\",\"at_ms\":2000},"
             "{\"label\":\"dog\",\"worker\":\"carl\",\"at_ms\":3000}]");
    run_until(&a.n, 1);
    RT_ASSERT_INT_EQ(a.status, 0);
    RT_ASSERT_STR_EQ(a.label, "dog");
    RT_ASSERT_INT_EQ((int)a.n_answers, 3);
    RT_ASSERT_STR_EQ(a.workers, "ann=dog,bob=cat,carl=dog");
    RT_ASSERT_STR_EQ(a.key, "images_for_detection/a b.jpg");
    RT_ASSERT_STR_EQ(a.source, RT_REVIEW_SOURCE_DETECTION);
    RT_ASSERT(a.created_ms / 1000 == created / 1000);
    /* The waiter is forgotten once called: no more describes. */
    int described = twin_count("DescribeHumanLoop");
    run_for(200);
    RT_ASSERT_INT_EQ(twin_count("DescribeHumanLoop"), described);
    RT_ASSERT_INT_EQ(a.n, 1);
    finish();
}

RT_TEST(create_retry_conflict_counts_as_created)
{
    start(FLOW, 50, 0);
    struct created c1 = {0}, c2 = {0};
    create("rt-sa-1", RT_REVIEW_SOURCE_SAMPLING, "images_for_detection/s.png", &c1);
    run_until(&c1.n, 1);
    RT_ASSERT_INT_EQ(c1.status, 0);
    create("rt-sa-1", RT_REVIEW_SOURCE_SAMPLING, "images_for_detection/s.png", &c2);
    run_until(&c2.n, 1);
    RT_ASSERT_INT_EQ(c2.status, 0);
    RT_ASSERT_INT_EQ(twin_count("StartHumanLoop"), 2);
    RT_ASSERT_INT_EQ(twin_count("DescribeFlowDefinition"), 1); /* resolved once */
    char out[8192];
    twin_control("/__control/a2i/loops", "{}", out, sizeof(out));
    cJSON *loops = cJSON_Parse(out);
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(loops), 1);
    cJSON *in = cJSON_GetObjectItem(cJSON_GetArrayItem(loops, 0), "input");
    RT_ASSERT_STR_EQ(cJSON_GetObjectItem(in, "source")->valuestring, "Human Sampling");
    cJSON_Delete(loops);
    /* Sampling answers come back as a sampling task. */
    struct answered a = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-sa-1", on_answer, &a));
    complete("rt-sa-1", "[{\"label\":\"None of the Above\",\"worker\":\"ann\"}]");
    run_until(&a.n, 1);
    RT_ASSERT_INT_EQ(a.status, 0);
    RT_ASSERT_STR_EQ(a.label, "None of the Above");
    RT_ASSERT_STR_EQ(a.source, RT_REVIEW_SOURCE_SAMPLING);
    finish();
}

RT_TEST(flow_arn_used_as_is_and_tie_to_earliest)
{
    start("arn:aws:sagemaker:us-east-1:123456789012:flow-definition/" FLOW, 50, 0);
    struct created c = {0};
    create("rt-de-2", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/b.jpg", &c);
    run_until(&c.n, 1);
    RT_ASSERT_INT_EQ(c.status, 0);
    RT_ASSERT_INT_EQ(twin_count("DescribeFlowDefinition"), 0);
    struct answered a = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-2", on_answer, &a));
    /* One each: the earliest submission wins, whatever the order of the array. */
    complete("rt-de-2", "[{\"label\":\"cat\",\"worker\":\"ann\",\"at_ms\":2000},"
                        "{\"label\":\"dog\",\"worker\":\"bob\",\"at_ms\":1000}]");
    run_until(&a.n, 1);
    RT_ASSERT_INT_EQ(a.status, 0);
    RT_ASSERT_STR_EQ(a.label, "dog");
    finish();
}

RT_TEST(unknown_flow_fails_create)
{
    start("no-such-flow", 50, 0);
    struct created c = {0};
    create("rt-de-3", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/c.jpg", &c);
    run_until(&c.n, 1);
    RT_ASSERT_INT_EQ(c.status, RT_EAWS);
    RT_ASSERT_STR_EQ(c.code, "ResourceNotFound");
    RT_ASSERT_INT_EQ(twin_count("StartHumanLoop"), 0);
    finish();
}

RT_TEST(failed_and_stopped_loops)
{
    start(FLOW, 50, 0);
    struct created c1 = {0}, c2 = {0};
    create("rt-de-4", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/d.jpg", &c1);
    create("rt-de-5", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/e.jpg", &c2);
    run_until(&c1.n, 1);
    run_until(&c2.n, 1);
    struct answered a1 = {0}, a2 = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-4", on_answer, &a1));
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-5", on_answer, &a2));
    twin_control("/__control/a2i/fail",
                 "{\"name\":\"rt-de-4\",\"status\":\"Failed\",\"code\":\"Expired\","
                 "\"reason\":\"no worker took the task\"}",
                 NULL, 0);
    twin_control("/__control/a2i/fail", "{\"name\":\"rt-de-5\",\"status\":\"Stopped\"}", NULL, 0);
    run_until(&a1.n, 1);
    run_until(&a2.n, 1);
    RT_ASSERT_INT_EQ(a1.status, RT_ECANCELED);
    RT_ASSERT_STR_EQ(a1.code, "Expired");
    RT_ASSERT_CONTAINS(a1.msg, "Failed: no worker took the task");
    RT_ASSERT_INT_EQ(a2.status, RT_ECANCELED);
    RT_ASSERT_STR_EQ(a2.code, "Stopped");
    finish();
}

RT_TEST(unknown_loop_is_not_found)
{
    start(FLOW, 50, 0);
    struct answered a = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-never", on_answer, &a));
    run_until(&a.n, 1);
    RT_ASSERT_INT_EQ(a.status, RT_ENOTFOUND);
    finish();
}

RT_TEST(throttled_describes_keep_the_waiter)
{
    start(FLOW, 50, 0);
    struct created c = {0};
    create("rt-de-6", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/f.jpg", &c);
    run_until(&c.n, 1);
    complete("rt-de-6", "[{\"label\":\"cat\",\"worker\":\"ann\"}]");
    /* Five throttled answers in a row: more than one call's three attempts, so one describe
     * fails as throttled; the waiter stays and a later round succeeds. */
    twin_control("/__control/faults",
                 "[{\"throttle\":true},{\"throttle\":true},{\"throttle\":true},"
                 "{\"throttle\":true},{\"throttle\":true}]",
                 NULL, 0);
    struct answered a = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-6", on_answer, &a));
    run_until(&a.n, 1);
    RT_ASSERT_INT_EQ(a.status, 0);
    RT_ASSERT_STR_EQ(a.label, "cat");
    char log[262144];
    twin_control("/__control/log", NULL, log, sizeof(log));
    int throttled = 0;
    for (const char *p = log; (p = strstr(p, "\"throttle\":true")) != NULL; p++)
        throttled++;
    RT_ASSERT_INT_EQ(throttled, 5);
    RT_ASSERT_INT_EQ(a.n, 1);
    finish();
}

static void count_timer(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TIMER && uv_is_active(h))
        (*(int *)arg)++;
}

RT_TEST(many_waiters_one_timer_round_robin)
{
    enum { N = 25, PER_TICK = 10 };
    start(FLOW, 200, PER_TICK);
    char ids[N][32];
    struct created c[N];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(ids[i], sizeof(ids[i]), "rt-de-%02d", i);
        snprintf(key, sizeof(key), "images_for_detection/%02d.jpg", i);
        create(ids[i], RT_REVIEW_SOURCE_DETECTION, key, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        run_until(&c[i].n, 1);
        RT_ASSERT_INT_EQ(c[i].status, 0);
    }
    int timers0 = 0;
    uv_walk(&loop, count_timer, &timers0);
    struct answered a[N];
    memset(a, 0, sizeof(a));
    RT_ASSERT_OK(rv->ops->wait(rv, ids[0], on_answer, &a[0]));
    int timers1 = 0;
    uv_walk(&loop, count_timer, &timers1);
    for (int i = 1; i < N; i++)
        RT_ASSERT_OK(rv->ops->wait(rv, ids[i], on_answer, &a[i]));
    int timersN = 0;
    uv_walk(&loop, count_timer, &timersN);
    RT_ASSERT_INT_EQ(timers1, timers0 + 1); /* the poll timer */
    RT_ASSERT_INT_EQ(timersN, timers1);     /* and no more for 24 more waiters */
    /* The first round describes PER_TICK loops, not all of them. */
    int before = twin_count("DescribeHumanLoop");
    run_for(300);
    int first = twin_count("DescribeHumanLoop") - before;
    RT_ASSERT(first >= PER_TICK && first < N);
    for (int i = 0; i < N; i++) {
        char ans[128];
        snprintf(ans, sizeof(ans), "[{\"label\":\"%s\",\"worker\":\"w%d\"}]", i % 2 ? "cat" : "dog",
                 i);
        complete(ids[i], ans);
    }
    for (int i = 0; i < N; i++) {
        run_until(&a[i].n, 1);
        RT_ASSERT_INT_EQ(a[i].status, 0);
        RT_ASSERT_STR_EQ(a[i].label, i % 2 ? "cat" : "dog");
    }
    run_for(450);
    for (int i = 0; i < N; i++)
        RT_ASSERT_INT_EQ(a[i].n, 1);
    int timers_end = 0;
    uv_walk(&loop, count_timer, &timers_end);
    RT_ASSERT_INT_EQ(timers_end, timers0); /* nobody waits: the timer is stopped */
    finish();
}

RT_TEST(unwait_and_replaced_waiters_never_called)
{
    start(FLOW, 50, 0);
    struct created c = {0};
    create("rt-de-7", RT_REVIEW_SOURCE_DETECTION, "images_for_detection/g.jpg", &c);
    run_until(&c.n, 1);
    struct answered a1 = {0}, a2 = {0}, a3 = {0};
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-7", on_answer, &a1));
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-7", on_answer, &a2)); /* replaces a1 */
    complete("rt-de-7", "[{\"label\":\"cat\",\"worker\":\"ann\"}]");
    run_until(&a2.n, 1);
    RT_ASSERT_INT_EQ(a1.n, 0);
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-7", on_answer, &a3));
    rv->ops->unwait(rv, "rt-de-7");
    run_for(200);
    RT_ASSERT_INT_EQ(a3.n, 0);
    /* close with a waiter left closes cleanly */
    RT_ASSERT_OK(rv->ops->wait(rv, "rt-de-7", on_answer, &a3));
    finish();
    RT_ASSERT_INT_EQ(a3.n, 0);
}
