/*
 * test_creds_aws_twin.c - credentials, finished (issue #9 item 9), against the aws-twin Node
 * server on loopback (tests/servers/aws-twin, route module routes/sts.js: a signed STS
 * AssumeRole whose key sets the twin then accepts, and expired-credential answers):
 *
 * - role profiles: role_arn + source_profile (static keys, a chain of two roles) and
 *   credential_source Environment resolve through AssumeRole with the fields of the profile
 *   (external_id, role_session_name, duration_seconds), an STS refusal is reported with its code;
 * - an ExpiredToken answer (JSON ExpiredTokenException, S3 XML ExpiredToken) to an aws call
 *   drops the cached credentials, fetches new ones (a second AssumeRole, a second run of the
 *   credential_process) and retries the call once, which then succeeds; a second refusal is an
 *   error saying so; calls in flight that meet the refusal together fetch once.
 *
 * Each case exits 77 (skipped, SKIP_RETURN_CODE in tests/unit/creds.cmake) when node or the
 * twin's npm packages are missing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "creds_fixture.h"
#include "retraind/aws.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "twin_fixture.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define ROLE "arn:aws:iam::123456789012:role/retraind"

static struct twin_proc twin;
static char base[64];

static void twin_up(bool s3)
{
    char modules[1100], script[1024];
    twin_install(modules, sizeof(modules));
    snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    char *plain[] = {"node", script, NULL};
    char *with_s3[] = {"node", script, "--s3rver", "--bucket", "b", NULL};
    twin_spawn(&twin, modules, s3 ? with_s3 : plain);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin.port);
}

/* A blocking POST to the twin's control endpoint; the reply body goes to a static buffer. */
static const char *control(const char *path, const char *json)
{
    static char buf[1 << 16];
    int s = socket(AF_INET, SOCK_STREAM, 0);
    RT_ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)twin.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, strlen(json), json);
    RT_ASSERT(write(s, req, (size_t)n) == n);
    size_t got = 0;
    ssize_t k;
    while (got < sizeof(buf) - 1 && (k = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(s);
    RT_ASSERT_CONTAINS(buf, " 200 ");
    const char *body = strstr(buf, "\r\n\r\n");
    return body ? body + 4 : "";
}

static int count(const char *name)
{
    const char *out = control("/__control/sts/counts", "{}");
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = strstr(out, key);
    if (!p)
        RT_FAIL("no counter %s in %s", name, out);
    return (int)strtol(p + strlen(key), NULL, 10);
}

static void start(bool s3)
{
    fx_start();
    twin_up(s3);
}

static struct rt_credentials_provider *provider(const char *profile)
{
    setenv("AWS_PROFILE", profile, 1);
    struct rt_credentials_opts o = fx_opts();
    o.sts_endpoint = base;
    o.region = "us-east-1";
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_default(&o, &p, &err));
    return p;
}

static void finish(struct rt_credentials_provider *p)
{
    fx_finish(p);
    twin_reap(&twin);
}

static void write_role_profiles(void)
{
    fx_write("credentials", "[base]\naws_access_key_id = " AK "\naws_secret_access_key = " SK "\n");
    fx_write("config", "[profile role]\nrole_arn = " ROLE "\nsource_profile = base\n"
                       "external_id = ext-42\nrole_session_name = rt-test\n"
                       "duration_seconds = 1800\nregion = us-east-1\n"
                       "[profile outer]\nrole_arn = arn:aws:iam::123456789012:role/outer\n"
                       "source_profile = role\n"
                       "[profile fromenv]\nrole_arn = " ROLE "\ncredential_source = Environment\n");
}

RT_TEST(assume_role_profile_resolves_at_the_twin)
{
    start(false);
    write_role_profiles();
    fx_log_capture();
    struct rt_credentials_provider *p = provider("role");
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAROLE1");
    RT_ASSERT_STR_EQ(r.creds->session_token, "role-session-1");
    RT_ASSERT_STR_EQ(r.creds->source, "assume-role");
    int64_t left = r.creds->expiration_ms - rt_now_ms();
    RT_ASSERT(left > 1700 * 1000 && left <= 1800 * 1000); /* duration_seconds was sent */
    const char *reqs = control("/__control/sts/requests", "{}");
    RT_ASSERT_CONTAINS(reqs, "\"RoleArn\":\"" ROLE "\"");
    RT_ASSERT_CONTAINS(reqs, "\"ExternalId\":\"ext-42\"");
    RT_ASSERT_CONTAINS(reqs, "\"RoleSessionName\":\"rt-test\"");
    RT_ASSERT_CONTAINS(reqs, "\"DurationSeconds\":\"1800\"");
    RT_ASSERT_CONTAINS(reqs, "\"source_key\":\"" AK "\"");
    /* Cached: a second get asks STS nothing. */
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_INT_EQ(count("assume_role"), 1);
    fx_result_cleanup(&r);
    fx_finish(p);
    fx_start();
    /* A chain: outer is assumed with the credentials of role, which come from base. */
    p = provider("outer");
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAROLE3");
    reqs = control("/__control/sts/requests", "{}");
    RT_ASSERT_CONTAINS(reqs, "\"RoleArn\":\"arn:aws:iam::123456789012:role/outer\"");
    RT_ASSERT_CONTAINS(reqs, "\"source_key\":\"ASIAROLE2\"");
    RT_ASSERT_CONTAINS(reqs, "\"RoleSessionName\":\"retraind-session-"); /* generated */
    fx_result_cleanup(&r);
    fx_finish(p);
    /* credential_source Environment: the environment's keys sign the AssumeRole. */
    fx_start();
    write_role_profiles();
    p = provider("fromenv");
    /* No keys in the environment: the configured source is broken, the chain stops there. */
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "credential_source Environment");
    fx_finish(p);
    fx_start();
    write_role_profiles();
    /* The chain's environment source answers first when AWS_ACCESS_KEY_ID is set, so use the
     * profile provider alone to show credential_source Environment. */
    setenv("AWS_PROFILE", "fromenv", 1);
    setenv("AWS_ACCESS_KEY_ID", AK, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SK, 1);
    struct rt_credentials_opts o = fx_opts();
    o.sts_endpoint = base;
    o.region = "us-east-1";
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_profile(&o, &p, &err));
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAROLE4");
    fx_result_cleanup(&r);
    finish(p);
    const char *log = fx_log_text();
    RT_ASSERT(strstr(log, "twin-secret-role") == NULL);
    RT_ASSERT(strstr(log, "role-session-") == NULL);
    RT_ASSERT(strstr(log, "EXAMPLEKEY") == NULL);
}

RT_TEST(assume_role_refusal_reported_with_its_code)
{
    start(false);
    write_role_profiles();
    control("/__control/sts/config", "{\"role_arn\": \"arn:aws:iam::123456789012:role/other\"}");
    struct rt_credentials_provider *p = provider("role");
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_EAWS);
    RT_ASSERT_STR_EQ(r.err.aws_code, "AccessDenied");
    RT_ASSERT_CONTAINS(r.err.msg, "profile role");
    RT_ASSERT_CONTAINS(r.err.msg, ROLE);
    finish(p);
}

RT_TEST(credential_process_as_the_source_of_a_role)
{
    start(false);
    fx_log_capture();
    const char *tool = fx_write("src tool.sh", "#!/bin/sh\n"
                                               "printf '{\"Version\": 1, \"AccessKeyId\": \"" AK
                                               "\", \"SecretAccessKey\": \"" SK "\"}'\n");
    RT_ASSERT_OK(chmod(tool, 0755));
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "[profile viaproc]\nrole_arn = " ROLE "\nsource_profile = proc\n"
             "[profile proc]\ncredential_process = \"%s\"\n",
             tool);
    fx_write("config", cfg);
    struct rt_credentials_provider *p = provider("viaproc");
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAROLE1");
    RT_ASSERT_CONTAINS(control("/__control/sts/requests", "{}"), "\"source_key\":\"" AK "\"");
    fx_result_cleanup(&r);
    finish(p);
    RT_ASSERT(strstr(fx_log_text(), "EXAMPLEKEY") == NULL);
}

/* ---- the aws client meeting expired credentials ---- */

struct done {
    int done, status;
    struct rt_error err;
};

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    struct done *d = ud;
    d->done++;
    d->status = status;
    if (err)
        d->err = *err;
}

static struct rt_aws_client *client(struct rt_credentials_provider *p)
{
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.ssm = base, .s3 = base, .sts = base},
        .credentials = p,
        .s3_path_style = true,
    };
    struct rt_aws_client *c;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_client_new(&fx_loop, fx_http, &o, &c, &err));
    return c;
}

static void wait_all(struct done *d, int n)
{
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += d[i].done == 0;
        if (!left)
            break;
        uv_run(&fx_loop, UV_RUN_ONCE);
    }
}

static int put_param(struct rt_aws_client *c, const char *value, struct done *d)
{
    memset(d, 0, sizeof(*d));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_ssm_put_parameter(c, "/t/p", value, true, on_done, d, &err));
    wait_all(d, 1);
    return d->status;
}

static void close_all(struct rt_aws_client *c, struct rt_credentials_provider *p)
{
    rt_aws_client_destroy(c);
    finish(p);
}

RT_TEST(expired_token_json_refreshes_and_retries_once)
{
    start(false);
    write_role_profiles();
    fx_log_capture();
    struct rt_credentials_provider *p = provider("role");
    struct rt_aws_client *c = client(p);
    struct done d;
    RT_ASSERT_OK(put_param(c, "one", &d));
    RT_ASSERT_INT_EQ(count("assume_role"), 1);
    /* The next signed request answers ExpiredTokenException: the call still succeeds, after
     * a second AssumeRole. */
    control("/__control/sts/expire", "{\"count\": 1}");
    RT_ASSERT_OK(put_param(c, "two", &d));
    RT_ASSERT_INT_EQ(count("expired_answers"), 1);
    RT_ASSERT_INT_EQ(count("assume_role"), 2);
    /* Keys the service revoked: the cached ones are refused, fresh ones are fetched. */
    control("/__control/sts/revoke", "{}");
    RT_ASSERT_OK(put_param(c, "three", &d));
    RT_ASSERT_INT_EQ(count("assume_role"), 3);
    /* Refused twice: one refresh only, then a clear error. */
    control("/__control/sts/expire", "{\"count\": 2, \"any\": true}");
    RT_ASSERT_INT_EQ(put_param(c, "four", &d), RT_EAWS);
    RT_ASSERT_STR_EQ(d.err.aws_code, "ExpiredTokenException");
    RT_ASSERT_CONTAINS(d.err.msg, "refused again with credentials fetched anew");
    RT_ASSERT_INT_EQ(count("assume_role"), 4);
    /* Five calls in flight meet the refusal together: one new AssumeRole for all of them. */
    control("/__control/sts/expire", "{\"count\": 5}");
    struct done many[5];
    memset(many, 0, sizeof(many));
    struct rt_error err;
    rt_error_clear(&err);
    for (int i = 0; i < 5; i++)
        RT_ASSERT_OK(rt_aws_ssm_put_parameter(c, "/t/q", "x", true, on_done, &many[i], &err));
    wait_all(many, 5);
    for (int i = 0; i < 5; i++) {
        if (many[i].status)
            fprintf(stderr, "call %d: %s\n", i, many[i].err.msg);
        RT_ASSERT_INT_EQ(many[i].status, 0);
    }
    RT_ASSERT_INT_EQ(count("assume_role"), 5);
    close_all(c, p);
    const char *log = fx_log_text();
    RT_ASSERT_CONTAINS(log, "event=credentials_expired service=ssm op=PutParameter");
    RT_ASSERT(strstr(log, "twin-secret-role") == NULL);
}

RT_TEST(expired_token_s3_xml_refreshes_credential_process)
{
    start(true);
    /* credential_process prints the twin's key pair with a session token, counting its runs. */
    const char *dir = rt_test_tmpdir();
    const char *tool = fx_write("tool.sh", "#!/bin/sh\n"
                                           "n=$(cat \"$(dirname \"$0\")/runs\" 2>/dev/null || "
                                           "echo 0); n=$((n+1)); echo $n > "
                                           "\"$(dirname \"$0\")/runs\"\n"
                                           "printf '{\"Version\": 1, \"AccessKeyId\": \"" AK
                                           "\", \"SecretAccessKey\": \"" SK
                                           "\", \"SessionToken\": \"proc-%s\"}' $n\n");
    RT_ASSERT_OK(chmod(tool, 0755));
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "[profile proc]\ncredential_process = %s/tool.sh\n", dir);
    fx_write("config", cfg);
    struct rt_credentials_provider *p = provider("proc");
    struct rt_aws_client *c = client(p);
    struct done d = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_s3_put_object(c, "b", "k 1.txt", "hello", 5, "text/plain", NULL, 0, on_done,
                                      &d, &err));
    wait_all(&d, 1);
    RT_ASSERT_INT_EQ(d.status, 0);
    control("/__control/sts/expire", "{\"count\": 1}");
    memset(&d, 0, sizeof(d));
    RT_ASSERT_OK(rt_aws_s3_put_object(c, "b", "k 2.txt", "again", 5, "text/plain", NULL, 0, on_done,
                                      &d, &err));
    wait_all(&d, 1);
    RT_ASSERT_INT_EQ(d.status, 0);
    RT_ASSERT_INT_EQ(count("expired_answers"), 1);
    char runs_path[600], runs[16] = "";
    snprintf(runs_path, sizeof(runs_path), "%s/runs", dir);
    FILE *f = fopen(runs_path, "r");
    RT_ASSERT(f != NULL);
    RT_ASSERT(fgets(runs, sizeof(runs), f) != NULL);
    fclose(f);
    RT_ASSERT_INT_EQ(atoi(runs), 2); /* the process ran again for the retry */
    /* The object written by the retried call is there. */
    memset(&d, 0, sizeof(d));
    RT_ASSERT_OK(rt_aws_s3_head_object(c, "b", "k 2.txt", on_done, &d, &err));
    wait_all(&d, 1);
    RT_ASSERT_INT_EQ(d.status, 0);
    close_all(c, p);
}

RT_TEST(expired_token_with_static_keys_says_so)
{
    start(false);
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.ssm = base},
        .access_key = AK,
        .secret_key = SK,
    };
    struct rt_aws_client *c;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_client_new(&fx_loop, fx_http, &o, &c, &err));
    control("/__control/sts/expire", "{\"count\": 1}");
    struct done d;
    RT_ASSERT_INT_EQ(put_param(c, "x", &d), RT_EAWS);
    RT_ASSERT_CONTAINS(d.err.msg, "static keys cannot be refreshed");
    rt_aws_client_destroy(c);
    finish(NULL);
}

/* ---- the adaptive retry mode ---- */

struct load {
    struct rt_aws_client *c;
    uv_timer_t timer;
    int sent, total;
    struct done d[40];
};

static void send_one(uv_timer_t *t)
{
    struct load *l = t->data;
    struct rt_error err;
    rt_error_clear(&err);
    char name[32];
    snprintf(name, sizeof(name), "/t/load%d", l->sent);
    RT_ASSERT_OK(rt_aws_ssm_put_parameter(l->c, name, "v", true, on_done, &l->d[l->sent], &err));
    if (++l->sent == l->total)
        uv_timer_stop(t);
}

static int ratelimit_count(const char *name)
{
    const char *out = control("/__control/ratelimit/counts", "{}");
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = strstr(out, key);
    RT_ASSERT(p != NULL);
    return (int)strtol(p + strlen(key), NULL, 10);
}

/* Offers 20 calls a second for 2 s to a twin that takes 5 a second. Returns: the failures. */
static int run_load(enum rt_aws_retry_mode mode, double *seconds)
{
    control("/__control/ratelimit/config", "{\"rate\": 5, \"burst\": 5}");
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.ssm = base},
        .access_key = AK,
        .secret_key = SK,
        .retry_mode = mode,
    };
    static struct load l;
    memset(&l, 0, sizeof(l));
    l.total = 40;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_client_new(&fx_loop, fx_http, &o, &l.c, &err));
    uint64_t t0 = uv_hrtime();
    uv_timer_init(&fx_loop, &l.timer);
    l.timer.data = &l;
    uv_timer_start(&l.timer, send_one, 0, 50);
    while (l.sent < l.total)
        uv_run(&fx_loop, UV_RUN_ONCE);
    wait_all(l.d, l.total);
    *seconds = (double)(uv_hrtime() - t0) / 1e9;
    uv_close((uv_handle_t *)&l.timer, NULL);
    uv_run(&fx_loop, UV_RUN_NOWAIT);
    rt_aws_client_destroy(l.c);
    int failed = 0;
    for (int i = 0; i < l.total; i++)
        failed += l.d[i].status != 0;
    for (int i = 0; i < l.total; i++)
        if (l.d[i].status)
            RT_ASSERT_INT_EQ(l.d[i].status, RT_ETHROTTLED);
    return failed;
}

RT_TEST(adaptive_mode_waits_instead_of_failing)
{
    start(false);
    fx_log_capture();
    double secs;
    /* Standard mode: the calls over the limit fail once their three attempts are throttled. */
    int failed = run_load(RT_AWS_RETRY_STANDARD, &secs);
    fprintf(stderr, "standard: %d of 40 failed in %.1f s, %d throttled\n", failed, secs,
            ratelimit_count("throttled"));
    RT_ASSERT(failed >= 5);
    /* Adaptive: after the first throttles the client sends at the rate the twin takes, and the
     * later calls wait for a token instead of failing. */
    failed = run_load(RT_AWS_RETRY_ADAPTIVE, &secs);
    int throttled = ratelimit_count("throttled");
    fprintf(stderr, "adaptive: %d of 40 failed in %.1f s, %d throttled\n", failed, secs, throttled);
    RT_ASSERT_INT_EQ(failed, 0);
    RT_ASSERT(throttled >= 1);            /* the limiter was woken by real throttling */
    RT_ASSERT(secs > 40.0 / 5.0 - 5 - 1); /* the calls waited: 40 at 5 a second, 5 burst */
    finish(NULL);
    const char *log = fx_log_text();
    RT_ASSERT_CONTAINS(log, "event=rate_limit_throttled service=ssm");
    RT_ASSERT_CONTAINS(log, "event=rate_limited service=ssm op=PutParameter");
}
