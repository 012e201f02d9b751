/*
 * test_ssm_sns_twin.c - the ssm params driver and the sns notifier against the aws-twin Node
 * server on loopback (tests/servers/aws-twin: its SSM service, routes/sns.js), plus the pure
 * subject/message limits of the sns notifier. Twin cases exit 77 when node or the twin's npm
 * packages are missing (SKIP_RETURN_CODE in tests/unit/notify_params_aws.cmake).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/httpc.h"
#include "retraind/notify.h"
#include "retraind/params.h"
#include "twin_fixture.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define PATH "/retraind-test/"

static struct twin_proc twin;
static uv_loop_t loop;
static struct rt_httpc *hc;
static struct rt_aws_client *aws;
static char base[64];

/* A blocking HTTP/1.0 POST to the twin's control endpoint; the reply body goes to out. */
static void control(const char *path, const char *json, char *out, size_t size)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    RT_ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)twin.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    static char req[1 << 20];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, strlen(json), json);
    RT_ASSERT(write(s, req, (size_t)n) == n);
    static char buf[1 << 21];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof(buf) - 1 && (k = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(s);
    RT_ASSERT_CONTAINS(buf, " 200 ");
    const char *body = strstr(buf, "\r\n\r\n");
    if (out)
        snprintf(out, size, "%s", body ? body + 4 : "");
}

static void start(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_SSM");
    unsetenv("AWS_ENDPOINT_URL_SNS");
    char modules[1100], script[1024];
    twin_install(modules, sizeof(modules));
    snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    char *argv[] = {"node", script, NULL};
    twin_spawn(&twin, modules, argv);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin.port);
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 10, .backoff_max_ms = 100};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.ssm = base, .sns = base},
        .access_key = AK,
        .secret_key = SK,
        .max_attempts = 4,
    };
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
}

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

static void finish(void)
{
    rt_aws_client_destroy(aws);
    int closed = 0;
    rt_httpc_close(hc, set_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_reap(&twin);
}

static void run_until(const int *flag)
{
    for (int i = 0; !*flag && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT(*flag);
}

/* ---- direct SSM writes (as another tool would make them) ---- */

struct call {
    int done, status;
};

static void call_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    (void)err;
    struct call *c = ud;
    c->status = status;
    c->done = 1;
}

static void ssm_put(const char *leaf, const char *value)
{
    char name[256];
    snprintf(name, sizeof(name), PATH "%s", leaf);
    struct call c = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_put_parameter(aws, name, value, true, call_done, &c, &err));
    run_until(&c.done);
    RT_ASSERT_INT_EQ(c.status, 0);
}

static char got_value[8192];
static void get_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)err;
    got_value[0] = '\0';
    if (status == 0) {
        char *v = rt_aws_ssm_parse_value((struct rt_str){resp->body.data, resp->body.len});
        snprintf(got_value, sizeof(got_value), "%s", v ? v : "");
        rt_free(v);
    }
    call_done(status, resp, err, ud);
}

/* Returns: the stored value of leaf, or NULL when absent. */
static const char *ssm_get(const char *leaf)
{
    char name[256];
    snprintf(name, sizeof(name), PATH "%s", leaf);
    struct call c = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_get_parameter(aws, name, get_done, &c, &err));
    run_until(&c.done);
    return c.status ? NULL : got_value;
}

/* ---- the driver ---- */

static struct rt_params *params;
static struct rt_param_set loaded, changed;
static int load_status, loads, changes;

static void on_load(int status, const struct rt_param_set *v, const struct rt_error *err, void *ud)
{
    (void)err;
    (void)ud;
    load_status = status;
    if (v)
        loaded = *v;
    loads++;
}

static void on_change(const struct rt_param_set *v, void *ud)
{
    (void)ud;
    changed = *v;
    changes++;
}

static int64_t poll_ms;

static void params_new(void)
{
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_params_ssm_new(&loop, aws, PATH, poll_ms, NULL, &params, &err));
    params->on_change = on_change;
    loads = changes = 0;
}

static void params_close(void)
{
    int closed = 0;
    params->ops->close(params, set_flag, &closed);
    run_until(&closed);
}

static void load(void)
{
    int before = loads;
    RT_ASSERT_OK(params->ops->load(params, on_load, NULL));
    RT_ASSERT_INT_EQ(loads, before); /* never inside the call */
    for (int i = 0; loads == before && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(loads, before + 1);
}

/* Refreshes and waits for the on_change it must cause. */
static void refresh_expect_change(void)
{
    int before = changes;
    RT_ASSERT_OK(params->ops->refresh(params));
    for (int i = 0; changes == before && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(changes, before + 1);
}

static int done_flag, done_status;
static void on_done(int status, const struct rt_error *err, void *ud)
{
    if (err)
        printf("done: %s\n", err->msg);
    (void)ud;
    done_status = status;
    done_flag = 1;
}

static const char *val(const struct rt_param_set *set, enum rt_param_id id)
{
    return set->v[id].text;
}

RT_TEST(ssm_load_defaults_and_paging)
{
    start();
    /* 10 parameters, the system JSON, and 12 other names under the path: 3 pages and more */
    ssm_put("Enable-Automatic-Training", "false");
    ssm_put("Automatic-Training-Poll-Frequency", "30");
    ssm_put("Minimum-Untrained-Images", "25");
    ssm_put("Minimum-F1-Score", "0.9");
    ssm_put("Minimum-Inference-Units", "2");
    ssm_put("Minimum-Label-Detection-Confidence", "70.0");
    ssm_put("Enable-A2I-Workflow", "false");
    ssm_put("Enable-Automatic-Human-Sampling", "false");
    ssm_put("Automatic-Human-Sampling-Frequency", "60");
    ssm_put("Human-Sampling-Interval", "500");
    ssm_put("For-System-Use-Only", "{\"s3_bucket\":\"b\"}");
    for (int i = 0; i < 12; i++) {
        char leaf[64];
        snprintf(leaf, sizeof(leaf), "zz/other-%02d", i);
        ssm_put(leaf, "x");
    }
    params_new();
    load();
    RT_ASSERT_INT_EQ(load_status, 0);
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_ENABLE_TRAINING), "false");
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_MIN_F1), "0.9");
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_MIN_UNTRAINED), "25");
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_SAMPLING_INTERVAL), "500");
    RT_ASSERT_INT_EQ(loaded.v[RT_P_SAMPLING_INTERVAL].source, RT_PSRC_SET);
    params_close();
    /* an empty path: every value is the default */
    control("/__control/reset", "{}", NULL, 0);
    params_new();
    load();
    RT_ASSERT_INT_EQ(load_status, 0);
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_ENABLE_TRAINING), "true");
    RT_ASSERT_INT_EQ(loaded.v[RT_P_ENABLE_TRAINING].source, RT_PSRC_TABLE);
    params_close();
    finish();
}

RT_TEST(ssm_change_invalid_kept)
{
    start();
    ssm_put("Minimum-F1-Score", "0.9");
    params_new();
    load();
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_MIN_F1), "0.9");
    /* a change made directly in Parameter Store is noticed by refresh */
    ssm_put("Minimum-F1-Score", "0.75");
    refresh_expect_change();
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_F1), "0.75");
    /* a bad value is left out: the last good one stays */
    ssm_put("Minimum-F1-Score", "\"lots\"");
    ssm_put("Minimum-Untrained-Images", "40");
    refresh_expect_change();
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_F1), "0.75");
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_UNTRAINED), "40");
    ssm_put("Minimum-F1-Score", "7"); /* out of range */
    ssm_put("Minimum-Untrained-Images", "41");
    refresh_expect_change();
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_F1), "0.75");
    params_close();
    finish();
}

RT_TEST(ssm_polls_on_its_own)
{
    start();
    poll_ms = 200;
    params_new();
    load();
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_MIN_UNTRAINED), "10");
    /* changed behind the daemon's back; nobody calls refresh */
    ssm_put("Minimum-Untrained-Images", "17");
    for (int i = 0; changes == 0 && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(changes, 1);
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_UNTRAINED), "17");
    params_close();
    poll_ms = 0;
    finish();
}

RT_TEST(ssm_set_reset)
{
    start();
    params_new();
    load();
    done_flag = 0;
    RT_ASSERT_OK(params->ops->set(params, RT_P_MIN_F1, "1.5", on_done, NULL));
    run_until(&done_flag);
    RT_ASSERT_INT_EQ(done_status, RT_EINVAL);
    RT_ASSERT(ssm_get("Minimum-F1-Score") == NULL);
    int before = changes;
    done_flag = 0;
    RT_ASSERT_OK(params->ops->set(params, RT_P_MIN_F1, "0.85", on_done, NULL));
    run_until(&done_flag);
    RT_ASSERT_INT_EQ(done_status, 0);
    RT_ASSERT_STR_EQ(ssm_get("Minimum-F1-Score"), "0.85");
    for (int i = 0; changes == before && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_F1), "0.85");
    done_flag = 0;
    RT_ASSERT_OK(params->ops->set(params, RT_P_ENABLE_A2I, "false", on_done, NULL));
    run_until(&done_flag);
    RT_ASSERT_INT_EQ(done_status, 0);
    RT_ASSERT_STR_EQ(ssm_get("Enable-A2I-Workflow"), "false");
    before = changes;
    done_flag = 0;
    RT_ASSERT_OK(params->ops->reset(params, RT_P_MIN_F1, on_done, NULL));
    run_until(&done_flag);
    RT_ASSERT_INT_EQ(done_status, 0);
    RT_ASSERT(ssm_get("Minimum-F1-Score") == NULL);
    for (int i = 0; changes == before && i < 100000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_STR_EQ(val(&changed, RT_P_MIN_F1), "0.8");
    /* reset of a value that is not there is fine */
    done_flag = 0;
    RT_ASSERT_OK(params->ops->reset(params, RT_P_MIN_F1, on_done, NULL));
    run_until(&done_flag);
    RT_ASSERT_INT_EQ(done_status, 0);
    params_close();
    finish();
}

RT_TEST(ssm_system_state_keeps_unknown_keys)
{
    start();
    ssm_put("For-System-Use-Only",
            "{\"s3_bucket\":\"b\",\"sns-topic\":\"arn:aws:sns:us-east-1:123456789012:t\","
            "\"previous_trained_images\":3}");
    params_new();
    RT_ASSERT_OK(rt_params_ssm_system_put(params, "previous_trained_images", "12"));
    RT_ASSERT_OK(rt_params_ssm_system_put(params, "rekognition_project_version_arn", "\"arn:v1\""));
    params_close(); /* waits for the rounds in flight */
    const char *v = ssm_get("For-System-Use-Only");
    RT_ASSERT(v != NULL);
    RT_ASSERT_CONTAINS(v, "\"s3_bucket\":\"b\"");
    RT_ASSERT_CONTAINS(v, "\"sns-topic\":\"arn:aws:sns:us-east-1:123456789012:t\"");
    RT_ASSERT_CONTAINS(v, "\"previous_trained_images\":12");
    RT_ASSERT_CONTAINS(v, "\"rekognition_project_version_arn\":\"arn:v1\"");
    finish();
}

RT_TEST(ssm_faults_retried)
{
    start();
    ssm_put("Minimum-Untrained-Images", "33");
    control("/__control/faults",
            "[{\"status\":503,\"code\":\"ServiceUnavailable\"},"
            "{\"throttle\":true}]",
            NULL, 0);
    params_new();
    load();
    RT_ASSERT_INT_EQ(load_status, 0);
    RT_ASSERT_STR_EQ(val(&loaded, RT_P_MIN_UNTRAINED), "33");
    /* more faults than attempts: the load fails and says so */
    control("/__control/faults",
            "[{\"throttle\":true},{\"throttle\":true},{\"throttle\":true},"
            "{\"throttle\":true}]",
            NULL, 0);
    load();
    RT_ASSERT_INT_EQ(load_status, RT_ETHROTTLED);
    params_close();
    finish();
}

/* ---- sns ---- */

RT_TEST(sns_subject_limits)
{
    struct rt_buf b;
    rt_buf_init(&b, 4096);
    RT_ASSERT_OK(rt_sns_subject("a\tb\nc\x7f"
                                "d",
                                &b));
    RT_ASSERT_STR_EQ(b.data, "a b c d");
    rt_buf_cleanup(&b);
    /* 150 characters of 2 and 3 bytes: 99 characters kept, never half a character */
    char in[600] = "";
    for (int i = 0; i < 75; i++)
        strcat(in, "\xc3\xa9\xe2\x82\xac"); /* é € */
    rt_buf_init(&b, 4096);
    RT_ASSERT_OK(rt_sns_subject(in, &b));
    size_t chars = 0;
    for (size_t i = 0; i < b.len; i++)
        if (((unsigned char)b.data[i] & 0xC0) != 0x80)
            chars++;
    RT_ASSERT_INT_EQ(chars, 99);
    RT_ASSERT_INT_EQ(b.len, 50 * 2 + 49 * 3);
    rt_buf_cleanup(&b);
}

RT_TEST(sns_message_limit)
{
    size_t n = 300000;
    char *in = rt_malloc(n + 1);
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(in + i, "\xe2\x82\xac", 3);
    in[n] = '\0';
    struct rt_buf b;
    rt_buf_init(&b, 1 << 20);
    RT_ASSERT_OK(rt_sns_message(in, n, &b));
    RT_ASSERT(b.len <= RT_SNS_MESSAGE_MAX);
    RT_ASSERT(b.len > RT_SNS_MESSAGE_MAX - 100);
    RT_ASSERT_CONTAINS(b.data, "[message truncated by retraind: 300000 bytes in all]");
    const char *note = strstr(b.data, "\n[message truncated");
    RT_ASSERT_INT_EQ((size_t)(note - b.data) % 3, 0); /* whole characters before the note */
    rt_buf_cleanup(&b);
    rt_buf_init(&b, 1 << 20);
    RT_ASSERT_OK(rt_sns_message(in, 3000, &b));
    RT_ASSERT_INT_EQ(b.len, 3000);
    rt_buf_cleanup(&b);
    rt_free(in);
}

static int sent_flag, sent_status;
static void on_sent(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    (void)ud;
    sent_status = status;
    sent_flag = 1;
}

RT_TEST(sns_publish)
{
    start();
    struct rt_notifier *n = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_notifier_sns_new(aws, "not-an-arn", &n, &err), RT_ECONFIG);
    RT_ASSERT_OK(rt_notifier_sns_new(aws, "arn:aws:sns:us-east-1:123456789012:retraind", &n, &err));
    struct rt_event ev = {.kind = RT_EV_PARAM_CHANGED,
                          .workflow = "parameters",
                          .param = "Minimum-F1-Score",
                          .old_value = "0.8",
                          .new_value = "0.9"};
    /* throttled twice, then delivered by the client's retries */
    control("/__control/sns/throttle", "{\"count\":2}", NULL, 0);
    sent_flag = 0;
    RT_ASSERT_OK(n->ops->send(n, &ev, on_sent, NULL));
    run_until(&sent_flag);
    RT_ASSERT_INT_EQ(sent_status, 0);
    /* a 5xx is retried too */
    control("/__control/faults", "[{\"status\":500,\"code\":\"InternalError\"}]", NULL, 0);
    ev.new_value = "0.95";
    sent_flag = 0;
    RT_ASSERT_OK(n->ops->send(n, &ev, on_sent, NULL));
    run_until(&sent_flag);
    RT_ASSERT_INT_EQ(sent_status, 0);
    static char out[1 << 20];
    control("/__control/sns/messages", "{}", out, sizeof(out));
    RT_ASSERT_CONTAINS(out, "\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:retraind\"");
    RT_ASSERT_CONTAINS(out, "Minimum-F1-Score");
    RT_ASSERT_CONTAINS(out, "0.95");
    /* a long unicode subject and an oversized message still go through */
    char error[400000];
    size_t k = 0;
    while (k + 3 < sizeof(error) - 1) {
        memcpy(error + k, "\xe2\x82\xac", 3);
        k += 3;
    }
    error[k] = '\0';
    struct rt_event big = {
        .kind = RT_EV_FAILED, .workflow = "training", .state = error, .error = error};
    sent_flag = 0;
    RT_ASSERT_OK(n->ops->send(n, &big, on_sent, NULL));
    run_until(&sent_flag);
    RT_ASSERT_INT_EQ(sent_status, 0);
    control("/__control/sns/messages", "{}", out, sizeof(out));
    RT_ASSERT_CONTAINS(out, "message truncated by retraind");
    int closed = 0;
    n->ops->close(n, set_flag, &closed);
    run_until(&closed);
    finish();
}
