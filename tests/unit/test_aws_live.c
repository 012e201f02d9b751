/*
 * test_aws_live.c - the AWS client against real servers on loopback: the Node twin
 * (tests/servers/aws-twin, checks every signature with @smithy/signature-v4) for the JSON 1.1
 * service and injected faults, and s3rver behind it for S3.
 *
 * Not a ctest unit entry: tests/integration/aws_live.py installs the npm packages, sets
 * AWS_TWIN_DIR (the folder holding node_modules) and runs each case. Without AWS_TWIN_DIR a case
 * exits 77 (skipped). Each case starts its own twin, so no state leaks between cases, and asserts
 * what the server received (its request log), not only what the client saw.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/clock.h"
#include "retraind/credentials.h"
#include "retraind/httpc.h"
#include "rt_test.h"
#include "twin_fixture.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define BUCKET "retraind-test"

static pid_t twin_pid;
static int twin_stdin = -1;
static int twin_port;
static char base[64];
static uv_loop_t loop;
static struct rt_httpc *hc;
static struct rt_aws_client *aws;

/* Starts node server.js --s3rver and reads "PORT n". Exits 77 when the twin is not installed. */
static void twin_start(void)
{
    const char *dir = getenv("AWS_TWIN_DIR");
    if (!dir || !dir[0]) {
        fprintf(stderr, "SKIP: AWS_TWIN_DIR not set (run through tests/integration/aws_live.py)\n");
        exit(77);
    }
    char script[1024], node_path[1024];
    rt_snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    rt_snprintf(node_path, sizeof(node_path), "%s/node_modules", dir);
    /* s3rver makes its continuation tokens with DES, which OpenSSL 3 keeps in the legacy
     * provider. */
    char *argv[] = {"node", "--openssl-legacy-provider", script, "--s3rver", "--bucket", BUCKET,
                    NULL};
    struct twin_proc t;
    twin_spawn(&t, node_path, argv);
    twin_pid = t.pid;
    twin_stdin = t.stdin_fd;
    twin_port = t.port;
    rt_snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin_port);
}

static void twin_stop(void)
{
    struct twin_proc t = {twin_pid, twin_stdin, twin_port};
    twin_reap(&t);
    twin_pid = 0;
}

static void client_new(const char *secret)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.s3 = base, .ssm = base},
        .access_key = AK,
        .secret_key = secret,
    };
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
}

static void start(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL_SSM");
    twin_start();
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 10, .backoff_max_ms = 100};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    client_new(SK);
}

static void on_closed(void *ud)
{
    *(int *)ud = 1;
}

static void finish(void)
{
    rt_aws_client_destroy(aws);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_stop();
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- waiting for one result ---- */

struct result {
    int done;
    int status;
    int http;
    int attempts;
    char *body;
    char etag[128];
    char length[32];
    struct rt_error err;
};

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct result *r = ud;
    r->done++;
    r->status = status;
    r->http = resp->status;
    r->attempts = resp->attempts;
    r->body = rt_buf_detach(&resp->body);
    const char *v = rt_httpc_resp_header(resp, "ETag");
    rt_strlcpy(r->etag, v ? v : "", sizeof(r->etag));
    v = rt_httpc_resp_header(resp, "Content-Length");
    rt_strlcpy(r->length, v ? v : "", sizeof(r->length));
    rt_error_clear(&r->err);
    if (err)
        r->err = *err;
}

static void wait_for(int *done)
{
    while (!*done)
        uv_run(&loop, UV_RUN_ONCE);
}

static void result_free(struct result *r)
{
    rt_free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- the twin's control endpoint (plain, unsigned httpc requests) ---- */

static char *control(const char *method, const char *path, const char *json)
{
    char url[256];
    rt_snprintf(url, sizeof(url), "%s%s", base, path);
    struct rt_httpc_req *req;
    RT_ASSERT_OK(rt_httpc_req_new(method, url, &req));
    rt_httpc_req_set_max_attempts(req, 1);
    if (json) {
        RT_ASSERT_OK(rt_httpc_req_set_header(req, "Content-Type", "application/json"));
        RT_ASSERT_OK(rt_httpc_req_set_body(req, json, strlen(json), true));
    }
    struct result r = {0};
    RT_ASSERT_OK(rt_httpc_send(hc, req, on_done, &r));
    wait_for(&r.done);
    if (r.status)
        RT_FAIL("control %s failed: %s", path, r.err.msg);
    return r.body;
}

static void faults(const char *json)
{
    rt_free(control("POST", "/__control/faults", json));
}

/* Returns: the twin's request log (service requests only), caller deletes. */
static cJSON *twin_log(void)
{
    char *text = control("GET", "/__control/log", NULL);
    cJSON *j = cJSON_Parse(text);
    rt_free(text);
    RT_ASSERT(cJSON_IsArray(j));
    return j;
}

static const char *log_str(const cJSON *entry, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void log_count_signed_ok(int *n, int *ok)
{
    cJSON *j = twin_log();
    *n = cJSON_GetArraySize(j);
    *ok = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "signature_ok")))
            (*ok)++;
    }
    cJSON_Delete(j);
}

/* ---- calls ---- */

static void ssm_put(const char *name, const char *value, struct result *r)
{
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_put_parameter(aws, name, value, true, on_done, r, &err));
    wait_for(&r->done);
}

static void ssm_get(const char *name, struct result *r)
{
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_get_parameter(aws, name, on_done, r, &err));
    wait_for(&r->done);
}

/* ---- S3 through s3rver ---- */

struct list_result {
    int done, status;
    char keys[16][128];
    int n;
    char token[512];
    bool truncated;
};

static void on_list(int status, struct rt_aws_s3_list *l, const struct rt_error *err, void *ud)
{
    struct list_result *r = ud;
    (void)err;
    r->done = 1;
    r->status = status;
    if (status)
        return;
    for (size_t i = 0; i < l->n_objects && r->n < 16; i++)
        rt_strlcpy(r->keys[r->n++], l->objects[i].key, sizeof(r->keys[0]));
    r->truncated = l->truncated;
    rt_strlcpy(r->token, l->next_token ? l->next_token : "", sizeof(r->token));
}

RT_TEST(s3_put_get_list_head_copy_delete)
{
    start();
    struct rt_error err;
    const char *keys[] = {"images_labeled_by_folder/cat/a b+c.jpg",
                          "images_labeled_by_folder/cat/\xc3\xa9t\xc3\xa9.png",
                          "images_labeled_by_folder/dog/d~1.jpeg"};
    for (int i = 0; i < 3; i++) {
        struct result r = {0};
        rt_error_clear(&err);
        char body[64];
        rt_snprintf(body, sizeof(body), "image-%d", i);
        RT_ASSERT_OK(rt_aws_s3_put_object(aws, BUCKET, keys[i], body, strlen(body), "image/jpeg",
                                          NULL, 0, on_done, &r, &err));
        wait_for(&r.done);
        if (r.status)
            RT_FAIL("put %s: %s (%s)", keys[i], r.err.msg, r.err.aws_code);
        RT_ASSERT(r.etag[0] == '"');
        result_free(&r);
    }
    /* GET and HEAD. */
    struct result r = {0};
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_s3_get_object(aws, BUCKET, keys[1], 0, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_STR_EQ(r.body, "image-1");
    result_free(&r);
    RT_ASSERT_OK(rt_aws_s3_head_object(aws, BUCKET, keys[0], on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_STR_EQ(r.length, "7");
    result_free(&r);

    /* List in pages of two: the continuation token is followed. */
    struct list_result l1 = {0}, l2 = {0};
    struct rt_aws_s3_list_opts lo = {.prefix = "images_labeled_by_folder/", .max_keys = 2};
    RT_ASSERT_OK(rt_aws_s3_list_objects_v2(aws, BUCKET, &lo, on_list, &l1, &err));
    wait_for(&l1.done);
    RT_ASSERT_OK(l1.status);
    RT_ASSERT_INT_EQ(l1.n, 2);
    RT_ASSERT(l1.truncated && l1.token[0]);
    lo.continuation_token = l1.token;
    RT_ASSERT_OK(rt_aws_s3_list_objects_v2(aws, BUCKET, &lo, on_list, &l2, &err));
    wait_for(&l2.done);
    RT_ASSERT_OK(l2.status);
    RT_ASSERT_INT_EQ(l2.n, 1);
    RT_ASSERT(!l2.truncated);
    /* Sorted by key: the three keys come back exactly, special characters intact. */
    RT_ASSERT_STR_EQ(l1.keys[0], keys[0]);
    RT_ASSERT_STR_EQ(l1.keys[1], keys[1]);
    RT_ASSERT_STR_EQ(l2.keys[0], keys[2]);

    /* Copy, read the copy, delete both, HEAD gives NotFound. */
    RT_ASSERT_OK(
        rt_aws_s3_copy_object(aws, BUCKET, keys[0], BUCKET, "copied/a b+c.jpg", on_done, &r, &err));
    wait_for(&r.done);
    if (r.status)
        RT_FAIL("copy: %s", r.err.msg);
    result_free(&r);
    RT_ASSERT_OK(rt_aws_s3_get_object(aws, BUCKET, "copied/a b+c.jpg", 0, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_STR_EQ(r.body, "image-0");
    result_free(&r);
    RT_ASSERT_OK(rt_aws_s3_delete_object(aws, BUCKET, "copied/a b+c.jpg", on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_OK(r.status);
    result_free(&r);
    RT_ASSERT_OK(rt_aws_s3_head_object(aws, BUCKET, "copied/a b+c.jpg", on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_INT_EQ(r.http, 404);
    RT_ASSERT_STR_EQ(r.err.aws_code, "NotFound");
    RT_ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    /* GET of a missing key: the XML error's code, message and request id come through. */
    RT_ASSERT_OK(rt_aws_s3_get_object(aws, BUCKET, "nope", 0, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_STR_EQ(r.err.aws_code, "NoSuchKey");
    RT_ASSERT_CONTAINS(r.err.msg, "does not exist");
    RT_ASSERT_CONTAINS(r.err.request_id, "twin-");
    result_free(&r);

    /* Every request reached the twin signed and verified by smithy. */
    int n, ok;
    log_count_signed_ok(&n, &ok);
    RT_ASSERT_INT_EQ(n, 12);
    RT_ASSERT_INT_EQ(ok, 12);
    finish();
}

RT_TEST(s3_wrong_secret_is_signature_error)
{
    start();
    rt_aws_client_destroy(aws);
    client_new("not-the-secret");
    struct result r = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(
        rt_aws_s3_put_object(aws, BUCKET, "k.jpg", "x", 1, NULL, NULL, 0, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_INT_EQ(r.status, RT_ESIGNATURE);
    RT_ASSERT_STR_EQ(r.err.aws_code, "SignatureDoesNotMatch");
    RT_ASSERT_INT_EQ(r.err.http_status, 403);
    RT_ASSERT_INT_EQ(r.attempts, 1);
    RT_ASSERT_CONTAINS(r.err.request_id, "twin-");
    char text[1024];
    rt_error_format(&r.err, text, sizeof(text));
    RT_ASSERT_CONTAINS(text, "SignatureDoesNotMatch");
    /* The secret never appears in what is reported. */
    RT_ASSERT(!strstr(text, "not-the-secret"));
    result_free(&r);
    /* The same on the JSON service. */
    ssm_get("/x", &r);
    RT_ASSERT_INT_EQ(r.status, RT_ESIGNATURE);
    RT_ASSERT_STR_EQ(r.err.aws_code, "InvalidSignatureException");
    result_free(&r);
    int n, ok;
    log_count_signed_ok(&n, &ok);
    RT_ASSERT_INT_EQ(n, 2);
    RT_ASSERT_INT_EQ(ok, 0);
    finish();
}

/* The signed path reaches the server byte for byte: S3 signs its path without normalising it,
 * so if curl squashed "/./", "//" or "/../" the twin (which checks with the SDK's signer on the
 * path it received) would answer SignatureDoesNotMatch. */
RT_TEST(s3_path_with_dot_segments_reaches_the_server_as_signed)
{
    start();
    const char *key = "dots/./a//b/../c.jpg";
    struct result r = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_s3_head_object(aws, BUCKET, key, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT(r.http != 403); /* not a signature refusal: the object simply is not there */
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 1);
    const cJSON *e = cJSON_GetArrayItem(j, 0);
    RT_ASSERT_STR_EQ(log_str(e, "url"), "/" BUCKET "/dots/./a//b/../c.jpg");
    RT_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "signature_ok")));
    cJSON_Delete(j);
    finish();
}

/* ---- credentials from a provider (credentials.h) ---- */

static void on_provider_closed(void *ud)
{
    *(int *)ud = 1;
}

/* The client takes a struct rt_credentials_provider directly: here the default chain, which
 * finds the keys in the environment; every call asks it (the cache answers at once after the
 * first) and signs with what it gave. */
RT_TEST(client_with_the_default_credential_chain)
{
    start();
    rt_aws_client_destroy(aws);
    aws = NULL;
    setenv("AWS_ACCESS_KEY_ID", AK, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SK, 1);
    setenv("AWS_SESSION_TOKEN", "live-session-token", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    struct rt_credentials_opts co = {.loop = &loop, .httpc = hc};
    struct rt_credentials_provider *chain = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_default(&co, &chain, &err));
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.s3 = base, .ssm = base},
        .credentials = chain,
    };
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    struct result r = {0};
    ssm_put("/chain/p", "v1", &r);
    if (r.status)
        RT_FAIL("put: %s", r.err.msg);
    result_free(&r);
    ssm_get("/chain/p", &r);
    RT_ASSERT_OK(r.status);
    char *v = rt_aws_ssm_parse_value((struct rt_str){r.body, strlen(r.body)});
    RT_ASSERT_STR_EQ(v, "v1");
    rt_free(v);
    result_free(&r);
    int n, ok;
    log_count_signed_ok(&n, &ok);
    RT_ASSERT_INT_EQ(n, 2);
    RT_ASSERT_INT_EQ(ok, 2);
    cJSON *j = twin_log();
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "headers");
        RT_ASSERT_STR_EQ(log_str(h, "x-amz-security-token"), "live-session-token");
    }
    cJSON_Delete(j);
    /* A provider that has nothing fails the call with its message, and nothing is sent. */
    rt_aws_client_destroy(aws);
    aws = NULL;
    int closed = 0;
    rt_credentials_provider_close(chain, on_provider_closed, &closed);
    wait_for(&closed);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    RT_ASSERT_OK(rt_credentials_provider_new_default(&co, &chain, &err));
    o.credentials = chain;
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    RT_ASSERT_OK(rt_aws_ssm_get_parameter(aws, "/chain/p", on_done, &r, &err));
    RT_ASSERT_INT_EQ(r.done, 0);
    wait_for(&r.done);
    RT_ASSERT_INT_EQ(r.status, RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "no credentials found");
    result_free(&r);
    log_count_signed_ok(&n, &ok);
    RT_ASSERT_INT_EQ(n, 2); /* no new request */
    rt_aws_client_destroy(aws);
    aws = NULL;
    closed = 0;
    rt_credentials_provider_close(chain, on_provider_closed, &closed);
    wait_for(&closed);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    finish();
}

/* ---- JSON 1.1 service and faults ---- */

RT_TEST(ssm_put_get_and_not_found)
{
    start();
    struct result r = {0};
    ssm_put("/retraind/Minimum-F1-Score", "0.85", &r);
    RT_ASSERT_OK(r.status);
    result_free(&r);
    ssm_get("/retraind/Minimum-F1-Score", &r);
    RT_ASSERT_OK(r.status);
    char *v = rt_aws_ssm_parse_value(rt_str_c(r.body));
    RT_ASSERT_STR_EQ(v, "0.85");
    rt_free(v);
    result_free(&r);
    ssm_get("/retraind/missing", &r);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_STR_EQ(r.err.aws_code, "ParameterNotFound");
    RT_ASSERT_CONTAINS(r.err.msg, "Parameter /retraind/missing not found");
    RT_ASSERT_CONTAINS(r.err.request_id, "twin-");
    RT_ASSERT_INT_EQ(r.err.http_status, 400);
    RT_ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 3);
    RT_ASSERT_STR_EQ(log_str(cJSON_GetArrayItem(j, 0), "target"), "AmazonSSM.PutParameter");
    RT_ASSERT_STR_EQ(log_str(cJSON_GetArrayItem(j, 1), "target"), "AmazonSSM.GetParameter");
    cJSON_Delete(j);
    finish();
}

RT_TEST(retries_stop_at_limit)
{
    start();
    struct result r = {0};
    faults("[{\"status\":500},{\"status\":502,\"code\":\"BadGateway\"},{\"status\":503}]");
    ssm_put("/p", "1", &r);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_INT_EQ(r.attempts, 3);
    RT_ASSERT_INT_EQ(r.http, 503);
    RT_ASSERT_CONTAINS(r.err.msg, "after 3 attempts");
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);
    /* Two failures then success: the third attempt is signed and accepted. */
    faults("[{\"status\":500},{\"status\":503}]");
    ssm_put("/p", "2", &r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.attempts, 3);
    result_free(&r);
    int n, ok;
    log_count_signed_ok(&n, &ok);
    RT_ASSERT_INT_EQ(n, 6);
    RT_ASSERT_INT_EQ(ok, 1);
    finish();
}

RT_TEST(throttling_retried)
{
    start();
    struct result r = {0};
    faults("[{\"throttle\":true},{\"throttle\":true}]");
    ssm_put("/p", "1", &r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.attempts, 3);
    result_free(&r);
    faults("[{\"throttle\":true},{\"throttle\":true},{\"throttle\":true}]");
    ssm_put("/p", "2", &r);
    RT_ASSERT_INT_EQ(r.status, RT_ETHROTTLED);
    RT_ASSERT_STR_EQ(r.err.aws_code, "ThrottlingException");
    RT_ASSERT_INT_EQ(r.attempts, 3);
    result_free(&r);
    /* S3's SlowDown (503) is throttling too. */
    faults("[{\"throttle\":true}]");
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_s3_put_object(aws, BUCKET, "t", "x", 1, NULL, NULL, 0, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.attempts, 2);
    result_free(&r);
    finish();
}

RT_TEST(client_error_not_retried)
{
    start();
    struct result r = {0};
    faults("[{\"status\":400,\"code\":\"ValidationException\",\"message\":\"1 validation error "
           "detected\"},{\"status\":500}]");
    ssm_put("/p", "1", &r);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_INT_EQ(r.attempts, 1);
    RT_ASSERT_STR_EQ(r.err.aws_code, "ValidationException");
    RT_ASSERT_CONTAINS(r.err.msg, "1 validation error detected");
    RT_ASSERT_CONTAINS(r.err.msg, "ssm PutParameter");
    RT_ASSERT_STR_EQ(r.err.request_id, "twin-1");
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
    finish();
}

RT_TEST(skew_corrected_once_and_remembered)
{
    start();
    struct result r = {0};
    /* The twin's clock jumps one hour ahead: our first signature is "expired". */
    faults("[{\"skew_s\":3600}]");
    ssm_put("/p", "1", &r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.attempts, 2);
    result_free(&r);
    int64_t skew = rt_aws_client_skew_ms(aws);
    if (skew < 3600000 - 10000 || skew > 3600000 + 10000)
        RT_FAIL("offset %lld ms, want about 3600000", (long long)skew);
    /* Remembered: the next call is signed with the offset at once. */
    ssm_get("/p", &r);
    RT_ASSERT_OK(r.status);
    RT_ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 3);
    /* The retry was re-signed with the server's time (X-Amz-Date moved by about an hour). */
    const char *d0 = log_str(cJSON_GetArrayItem(j, 0), "amz_date");
    const char *d1 = log_str(cJSON_GetArrayItem(j, 1), "amz_date");
    RT_ASSERT(d0 && d1 && strcmp(d0, d1) != 0);
    RT_ASSERT(
        !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "signature_ok")));
    RT_ASSERT(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 1), "signature_ok")));
    cJSON_Delete(j);
    /* Skew is corrected once per call: the clock jumps again, the call fails. */
    faults("[{\"skew_s\":-7200},{\"skew_s\":7200}]");
    ssm_get("/p", &r);
    RT_ASSERT_INT_EQ(r.status, RT_EAWS);
    RT_ASSERT_STR_EQ(r.err.aws_code, "InvalidSignatureException");
    RT_ASSERT_INT_EQ(r.attempts, 2);
    result_free(&r);
    finish();
}

RT_TEST(timeout_fires)
{
    start();
    struct result r = {0};
    faults("[{\"delay_ms\":3000}]");
    struct rt_aws_params p = {
        .body = "{\"Name\":\"/p\"}", .body_len = 13, .timeout_ms = 300, .max_attempts = 1};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_call(aws, &rt_aws_ssm_get_parameter_op, &p, on_done, &r, &err));
    wait_for(&r.done);
    RT_ASSERT_INT_EQ(r.status, RT_ETIMEDOUT);
    RT_ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    finish();
}

static void on_tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

RT_TEST(loop_responsive_during_slow_call)
{
    start();
    struct result fast = {0}, slow = {0}, setup = {0};
    ssm_put("/p", "v", &setup);
    RT_ASSERT_OK(setup.status);
    result_free(&setup);
    faults("[{\"delay_ms\":1500}]");
    int ticks = 0;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &ticks;
    uv_timer_start(&t, on_tick, 10, 10);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_get_parameter(aws, "/p", on_done, &slow, &err));
    /* Let the slow one reach the twin first, so it takes the delay fault. */
    int first = ticks;
    while (ticks < first + 10)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_OK(rt_aws_ssm_get_parameter(aws, "/p", on_done, &fast, &err));
    wait_for(&fast.done);
    RT_ASSERT_OK(fast.status);
    RT_ASSERT_INT_EQ(slow.done, 0); /* the fast call finished while the slow one waited */
    int at_fast = ticks;
    wait_for(&slow.done);
    RT_ASSERT_OK(slow.status);
    RT_ASSERT(ticks > at_fast); /* timers kept firing while the slow call was in flight */
    uv_close((uv_handle_t *)&t, NULL);
    result_free(&fast);
    result_free(&slow);
    finish();
}

RT_TEST(reset_and_truncated_body_retried)
{
    start();
    struct result r = {0};
    ssm_put("/p", "v", &r);
    result_free(&r);
    faults("[{\"reset\":true},{\"truncate\":true}]");
    ssm_get("/p", &r);
    RT_ASSERT_OK(r.status);
    /* The truncated reply is always retried by httpc; a reset on a reused connection may also
     * be retried by curl itself, so count what the twin received. */
    RT_ASSERT(r.attempts >= 2);
    char *v = rt_aws_ssm_parse_value(rt_str_c(r.body));
    RT_ASSERT_STR_EQ(v, "v");
    rt_free(v);
    result_free(&r);
    cJSON *j = twin_log();
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(j), 4); /* the put, the reset, the truncated, the good */
    RT_ASSERT(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 3), "signature_ok")));
    cJSON_Delete(j);
    finish();
}
