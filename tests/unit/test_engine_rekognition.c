/*
 * test_engine_rekognition.c - the rekognition engine driver against the aws-twin's Rekognition
 * (tests/servers/aws-twin/routes/rekognition.js), which checks every SigV4 signature with
 * @smithy/signature-v4 and moves versions through their states with short delays.
 *
 * Cases: the status mapping (no server); the whole lifecycle (train, describe until
 * TRAINING_COMPLETED with the configured F1, start with min/max units, RUNNING, detect on the S3
 * object and on bytes with MinConfidence 0, stop); a retried CreateProjectVersion that finds its
 * version; a project name resolved once and an ARN never resolved; a missing project; starting a
 * running and stopping a stopped version; throttling reaching the caller as RT_ETHROTTLED; detect
 * on a version that does not serve as RT_EBUSY; close with a call in flight.
 * Each twin case exits 77 when node or the twin's npm packages are missing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/engine_rekognition.h"
#include "retraind/httpc.h"
#include "rt_test.h"
#include "twin_fixture.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define BUCKET "rt-bucket"

static uv_loop_t loop;
static struct rt_httpc *hc;
static struct rt_aws_client *aws;
static struct twin_proc twin;
static char base[64];

/* A blocking HTTP/1.0 call to the twin's control endpoint; returns the body (caller frees). */
static char *twin_call(const char *path, const char *json)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    RT_ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)twin.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, json ? strlen(json) : 0, json ? json : "");
    RT_ASSERT(write(s, req, (size_t)n) == n);
    size_t cap = 1 << 20, got = 0;
    char *buf = malloc(cap);
    RT_ASSERT(buf);
    ssize_t k;
    while (got < cap - 1 && (k = read(s, buf + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(s);
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
        RT_FAIL("control %s failed: %.300s", path, buf);
    const char *body = strstr(buf, "\r\n\r\n");
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}

static void control(const char *path, const char *json)
{
    free(twin_call(path, json));
}

static void start_twin(int max_attempts)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_REKOGNITION");
    char modules[1100], script[1024];
    twin_install(modules, sizeof(modules));
    snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    char *argv[] = {"node", script, NULL};
    twin_spawn(&twin, modules, argv);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin.port);
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {
        .backoff_base_ms = 5, .backoff_max_ms = 20, .max_attempts = max_attempts};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.rekognition = base},
        .access_key = AK,
        .secret_key = SK,
        .max_attempts = max_attempts,
    };
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    control("/__control/rekognition/config",
            "{\"train_ms\": 150, \"start_ms\": 150, \"stop_ms\": 150, \"f1\": 0.93}");
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static void close_engine(struct rt_engine *e)
{
    int closed = 0;
    e->ops->close(e, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
}

static void finish(void)
{
    rt_aws_client_destroy(aws);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_reap(&twin);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

static struct rt_engine *engine_new(const char *project, int max_units)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_engine_rekognition_opts o = {
        .client = aws, .project = project, .bucket = BUCKET, .max_inference_units = max_units};
    struct rt_engine *e = NULL;
    RT_ASSERT_OK(rt_engine_rekognition_new(&loop, &o, &e, &err));
    return e;
}

/* ---- results ---- */

struct res {
    int done;
    int status;
    struct rt_error err;
    struct rt_model_info info;
    struct rt_detection_label labels[8];
    size_t n;
};

static void on_done(int status, const struct rt_error *err, void *ud)
{
    struct res *r = ud;
    r->done++;
    r->status = status;
    if (err)
        r->err = *err;
}

static void
on_describe(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    struct res *r = ud;
    r->done++;
    r->status = status;
    if (info)
        r->info = *info;
    if (err)
        r->err = *err;
}

static void on_detect(int status,
                      const struct rt_detection_label *labels,
                      size_t n,
                      const struct rt_error *err,
                      void *ud)
{
    struct res *r = ud;
    r->done++;
    r->status = status;
    r->n = n < 8 ? n : 8;
    if (labels)
        memcpy(r->labels, labels, r->n * sizeof(*labels));
    if (err)
        r->err = *err;
}

static void wait_done(struct res *r)
{
    while (!r->done)
        uv_run(&loop, UV_RUN_ONCE);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void sleep_ms(int ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_tick, (uint64_t)ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void train(struct rt_engine *e, const char *version, struct res *r)
{
    struct rt_train_request req = {.version = version,
                                   .manifest_key = "manifests/tr-1/output.manifest",
                                   .output_prefix = "evaluation/tr-1/",
                                   .label_attribute = "retraind-label"};
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(e->ops->train(e, &req, on_done, r));
    wait_done(r);
}

static enum rt_model_status describe(struct rt_engine *e, const char *version, struct res *r)
{
    memset(r, 0, sizeof(*r));
    RT_ASSERT_OK(e->ops->describe(e, version, on_describe, r));
    wait_done(r);
    RT_ASSERT_OK(r->status);
    return r->info.status;
}

/* Describes every 50 ms until the status is want (at most 5 s). */
static void wait_status(struct rt_engine *e, const char *version, enum rt_model_status want)
{
    struct res r;
    for (int i = 0; i < 100; i++) {
        if (describe(e, version, &r) == want)
            return;
        sleep_ms(50);
    }
    RT_FAIL("version %s stayed %s, wanted %s", version, rt_model_status_name(r.info.status),
            rt_model_status_name(want));
}

static int count_of(const char *state, const char *op)
{
    char key[96];
    snprintf(key, sizeof(key), "\"%s\":", op);
    const char *c = strstr(state, "\"counts\":");
    RT_ASSERT(c);
    const char *p = strstr(c, key);
    return p ? atoi(p + strlen(key)) : 0;
}

/* ---- cases ---- */

RT_TEST(rek_status_map)
{
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("TRAINING_IN_PROGRESS"),
                     RT_MODEL_TRAINING_IN_PROGRESS);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("TRAINING_COMPLETED"),
                     RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("TRAINING_FAILED"), RT_MODEL_TRAINING_FAILED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("STARTING"), RT_MODEL_STARTING);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("RUNNING"), RT_MODEL_RUNNING);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("STOPPING"), RT_MODEL_STOPPING);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("STOPPED"), RT_MODEL_STOPPED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("FAILED"), RT_MODEL_FAILED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("COPYING_COMPLETED"),
                     RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("EXPIRED"), RT_MODEL_FAILED);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("DELETING"), RT_MODEL_UNKNOWN);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status("SOMETHING_NEW"), RT_MODEL_UNKNOWN);
    RT_ASSERT_INT_EQ(rt_engine_rekognition_status(NULL), RT_MODEL_UNKNOWN);
}

RT_TEST(rek_lifecycle)
{
    start_twin(3);
    control("/__control/rekognition/project", "{\"name\": \"P\"}");
    control(
        "/__control/rekognition/config",
        "{\"labels\": {\"images_for_detection/a b+c.png\": [{\"Name\": \"dog\", "
        "\"Confidence\": 12.5}, {\"Name\": \"cat\", \"Confidence\": 87.5}]},"
        "\"bytes_labels\": {\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\":"
        " [{\"Name\": \"bird\", \"Confidence\": 3}]}}");
    struct rt_engine *e = engine_new("P", 3);
    RT_ASSERT_STR_EQ(e->ops->name, "rekognition");
    struct res r;
    RT_ASSERT_INT_EQ(describe(e, "model-tr-1", &r), RT_MODEL_UNKNOWN);
    train(e, "model-tr-1", &r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(describe(e, "model-tr-1", &r), RT_MODEL_TRAINING_IN_PROGRESS);
    wait_status(e, "model-tr-1", RT_MODEL_TRAINING_COMPLETED);
    describe(e, "model-tr-1", &r);
    RT_ASSERT(r.info.f1 > 0.929 && r.info.f1 < 0.931);
    RT_ASSERT_STR_EQ(r.info.version, "model-tr-1");

    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->start(e, "model-tr-1", 2, on_done, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(describe(e, "model-tr-1", &r), RT_MODEL_STARTING);
    wait_status(e, "model-tr-1", RT_MODEL_RUNNING);

    /* Starting a running version succeeds (ResourceInUseException, then a describe). */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->start(e, "model-tr-1", 2, on_done, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);

    /* On the S3 object: labels sorted by confidence. */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect_key(e, "model-tr-1", "images_for_detection/a b+c.png", "x", 1, 0,
                                    on_detect, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.n, 2);
    RT_ASSERT_STR_EQ(r.labels[0].name, "cat");
    RT_ASSERT(r.labels[0].confidence == 87.5);
    RT_ASSERT_STR_EQ(r.labels[1].name, "dog");
    /* On bytes ("hello"): the twin keys its answer by the SHA-256 of the decoded bytes. */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect(e, "model-tr-1", "hello", 5, 0, on_detect, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.n, 1);
    RT_ASSERT_STR_EQ(r.labels[0].name, "bird");

    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->stop(e, "model-tr-1", on_done, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    wait_status(e, "model-tr-1", RT_MODEL_STOPPED);
    /* Stopping a stopped version succeeds. */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->stop(e, "model-tr-1", on_done, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    /* Detect on a version that does not serve: RT_EBUSY. */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect_key(e, "model-tr-1", "k.png", NULL, 0, 0, on_detect, &r));
    wait_done(&r);
    RT_ASSERT_INT_EQ(r.status, RT_EBUSY);
    RT_ASSERT_STR_EQ(r.err.aws_code, "ResourceNotReadyException");

    char *st = twin_call("/__control/rekognition/state", "{}");
    /* The request shapes the service saw (every one signature-checked by the twin). */
    RT_ASSERT_CONTAINS(st, "\"TrainingData\":{\"Assets\":[{\"GroundTruthManifest\":{\"S3Object\":"
                           "{\"Bucket\":\"" BUCKET
                           "\",\"Name\":\"manifests/tr-1/output.manifest\"}}}]}");
    RT_ASSERT_CONTAINS(st, "\"TestingData\":{\"AutoCreate\":true}");
    RT_ASSERT_CONTAINS(st, "\"OutputConfig\":{\"S3Bucket\":\"" BUCKET
                           "\",\"S3KeyPrefix\":\"evaluation/tr-1/\"}");
    RT_ASSERT_CONTAINS(st, "\"MinInferenceUnits\":2,\"MaxInferenceUnits\":3");
    RT_ASSERT_CONTAINS(st, "\"Image\":{\"S3Object\":{\"Bucket\":\"" BUCKET
                           "\",\"Name\":\"images_for_detection/a b+c.png\"}},\"MinConfidence\":0");
    RT_ASSERT_CONTAINS(st, "\"Image\":{\"Bytes\":\"<8 base64 chars>\"},\"MinConfidence\":0");
    RT_ASSERT_CONTAINS(st, "\"min_units\":2,\"max_units\":3,\"starts\":1,\"stops\":1");
    /* The name was resolved once for all these calls. */
    RT_ASSERT_INT_EQ(count_of(st, "DescribeProjects"), 1);
    RT_ASSERT_INT_EQ(count_of(st, "CreateProjectVersion"), 1);
    free(st);
    close_engine(e);
    finish();
}

RT_TEST(rek_train_retry_finds_its_version)
{
    start_twin(3);
    char *arn = twin_call("/__control/rekognition/project", "{\"name\": \"P\"}");
    struct rt_engine *e = engine_new("P", 0);
    struct res r;
    train(e, "model-tr-7", &r);
    RT_ASSERT_OK(r.status);
    /* The retry of a step after a crash: another engine, nothing cached. */
    struct rt_engine *e2 = engine_new("P", 0);
    train(e2, "model-tr-7", &r);
    RT_ASSERT_OK(r.status);
    train(e, "model-tr-7", &r);
    RT_ASSERT_OK(r.status);
    wait_status(e2, "model-tr-7", RT_MODEL_TRAINING_COMPLETED);
    char *st = twin_call("/__control/rekognition/state", "{}");
    RT_ASSERT_INT_EQ(count_of(st, "CreateProjectVersion"), 3);
    /* One version, trained once. */
    const char *v = strstr(st, "\"model-tr-7\"");
    RT_ASSERT(v && !strstr(v + 1, "\"model-tr-7\":{"));
    /* Without MaxInferenceUnits configured, a start sends none. */
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e2->ops->start(e2, "model-tr-7", 1, on_done, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    free(st);
    st = twin_call("/__control/rekognition/state", "{}");
    RT_ASSERT_CONTAINS(st, "{\"ProjectVersionArn\":");
    RT_ASSERT(!strstr(st, "MaxInferenceUnits"));
    free(st);
    free(arn);
    close_engine(e);
    close_engine(e2);
    finish();
}

RT_TEST(rek_project_arn_and_missing)
{
    start_twin(3);
    char *out = twin_call("/__control/rekognition/project", "{\"name\": \"Q\"}");
    char arn[256];
    const char *p = strstr(out, "\"arn\":\"");
    RT_ASSERT(p);
    RT_ASSERT(sscanf(p + 7, "%255[^\"]", arn) == 1);
    free(out);
    /* An ARN is used as it is: no DescribeProjects. */
    struct rt_engine *e = engine_new(arn, 0);
    struct res r;
    train(e, "v1", &r);
    RT_ASSERT_OK(r.status);
    char *st = twin_call("/__control/rekognition/state", "{}");
    RT_ASSERT_INT_EQ(count_of(st, "DescribeProjects"), 0);
    RT_ASSERT_INT_EQ(count_of(st, "CreateProjectVersion"), 1);
    free(st);
    close_engine(e);
    /* A name that is no project: RT_ENOTFOUND naming it. */
    e = engine_new("nope", 0);
    train(e, "v1", &r);
    RT_ASSERT_INT_EQ(r.status, RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(r.err.msg, "\"nope\"");
    /* A version name Rekognition would refuse is refused before any call. */
    struct rt_train_request bad = {
        .version = "a/b", .manifest_key = "m", .output_prefix = "o/", .label_attribute = "x"};
    RT_ASSERT_INT_EQ(e->ops->train(e, &bad, on_done, &r), RT_EINVAL);
    close_engine(e);
    finish();
}

RT_TEST(rek_throttled_and_training_failed)
{
    start_twin(2);
    control("/__control/rekognition/project", "{\"name\": \"P\"}");
    control("/__control/rekognition/config",
            "{\"fail_versions\": {\"bad\": \"The manifest file contains too many invalid data "
            "objects\"}}");
    struct rt_engine *e = engine_new("P", 0);
    struct res r;
    train(e, "bad", &r);
    RT_ASSERT_OK(r.status);
    wait_status(e, "bad", RT_MODEL_TRAINING_FAILED);
    describe(e, "bad", &r);
    RT_ASSERT_CONTAINS(r.info.message, "too many invalid");
    train(e, "good", &r);
    wait_status(e, "good", RT_MODEL_TRAINING_COMPLETED);
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->start(e, "good", 1, on_done, &r));
    wait_done(&r);
    wait_status(e, "good", RT_MODEL_RUNNING);
    /* Both attempts answered with the model-capacity error: RT_ETHROTTLED, not a failure of
     * the image. */
    control("/__control/faults",
            "[{\"status\": 400, \"code\": \"ProvisionedThroughputExceededException\"},"
            "{\"status\": 400, \"code\": \"ProvisionedThroughputExceededException\"}]");
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect_key(e, "good", "k.png", NULL, 0, 0, on_detect, &r));
    wait_done(&r);
    RT_ASSERT_INT_EQ(r.status, RT_ETHROTTLED);
    control("/__control/faults", "[{\"throttle\": true}, {\"throttle\": true}]");
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect_key(e, "good", "k.png", NULL, 0, 0, on_detect, &r));
    wait_done(&r);
    RT_ASSERT_INT_EQ(r.status, RT_ETHROTTLED);
    RT_ASSERT_STR_EQ(r.err.aws_code, "ThrottlingException");
    /* One throttled attempt is retried by the client and succeeds. */
    control("/__control/faults", "[{\"throttle\": true}]");
    memset(&r, 0, sizeof(r));
    RT_ASSERT_OK(e->ops->detect_key(e, "good", "k.png", NULL, 0, 0, on_detect, &r));
    wait_done(&r);
    RT_ASSERT_OK(r.status);
    close_engine(e);
    finish();
}

RT_TEST(rek_close_with_call_in_flight)
{
    start_twin(3);
    control("/__control/rekognition/project", "{\"name\": \"P\"}");
    control("/__control/faults", "[{\"delay_ms\": 400}]");
    struct rt_engine *e = engine_new("P", 0);
    struct res r = {0};
    struct rt_train_request req = {
        .version = "v1", .manifest_key = "m", .output_prefix = "o/", .label_attribute = "x"};
    RT_ASSERT_OK(e->ops->train(e, &req, on_done, &r));
    int closed = 0;
    e->ops->close(e, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(r.done, 1);
    RT_ASSERT_INT_EQ(r.status, RT_ECANCELED);
    /* The reply arriving later is dropped; finish() checks nothing leaks. */
    finish();
    RT_ASSERT_INT_EQ(r.done, 1);
}
