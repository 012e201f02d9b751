/*
 * test_creds_twin.c - the network credential sources against the aws-twin Node server on
 * loopback (tests/servers/aws-twin, route module routes/creds.js): IMDSv2, container credentials
 * (relative and full URI, authorization token from the environment or a file), STS
 * AssumeRoleWithWebIdentity (unsigned), the chain's order where network sources are involved
 * (the fake server counts every request, so "not touched" is checked on the server side), the
 * cache refreshing before expiry, and that no secret handed out by the server reaches the log.
 *
 * No timed assertions and no sleeps: the refresh cases use credentials that expire in minutes
 * together with wide refresh windows, and wait for a condition (a get returning the next key set)
 * by running the loop, which the refresh in flight keeps busy.
 * Each case exits 77 when node is missing or the twin's npm packages are missing and cannot be
 * installed; tests/unit/creds.cmake sets SKIP_RETURN_CODE 77 on these cases so ctest reports them
 * as skipped. A twin that is installed but does not start is a failure, never a pass.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "creds_fixture.h"
#include "retraind/buf.h"
#include "twin_fixture.h"

/* ---- the twin server ---- */

static pid_t twin_pid;
static int twin_port;
static int twin_stdin = -1;

/* Installs the twin's npm packages into the build tree once (serialised by a lock file, since
 * ctest runs cases in parallel). Exits 77 (skipped) when they cannot be had. */
static void twin_start(void)
{
    char modules[1100], script[1024];
    twin_install(modules, sizeof(modules));
    snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    char *argv[] = {"node", script, NULL};
    struct twin_proc t;
    twin_spawn(&t, modules, argv);
    twin_pid = t.pid;
    twin_stdin = t.stdin_fd;
    twin_port = t.port;
}

static void twin_stop(void)
{
    struct twin_proc t = {twin_pid, twin_stdin, twin_port};
    twin_reap(&t);
    twin_pid = 0;
}

/* A blocking HTTP/1.0 call to the twin's control endpoint (outside the loop under test). */
static void
twin_call(const char *method, const char *path, const char *json, char *out, size_t size)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    RT_ASSERT(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)twin_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    RT_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, json ? strlen(json) : 0, json ? json : "");
    RT_ASSERT(write(s, req, (size_t)n) == n);
    size_t got = 0;
    char buf[65536];
    ssize_t k;
    while (got < sizeof(buf) - 1 && (k = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(s);
    RT_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0);
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out, size, "%s", body ? body + 4 : "");
}

static void twin_config(const char *json)
{
    char out[1024];
    twin_call("POST", "/__control/creds/config", json, out, sizeof(out));
}

/* Returns: the server's counter name (imds_token, imds_role, imds_creds, ecs, sts ...). */
static int twin_count(const char *name)
{
    char out[4096], key[64];
    twin_call("POST", "/__control/creds/counts", "{}", out, sizeof(out));
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *p = strstr(out, key);
    if (!p)
        RT_FAIL("no counter %s in %s", name, out);
    return (int)strtol(p + strlen(key), NULL, 10);
}

static char twin_url_buf[256];
static const char *twin_url(const char *path)
{
    snprintf(twin_url_buf, sizeof(twin_url_buf), "http://127.0.0.1:%d%s", twin_port, path);
    return twin_url_buf;
}

static void start(void)
{
    fx_start();
    twin_start();
}

static void finish(struct rt_credentials_provider *p)
{
    fx_finish(p);
    twin_stop();
}

static void point_imds_at_twin(void)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", twin_port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");
}

static struct rt_credentials_provider *make(int (*ctor)(const struct rt_credentials_opts *,
                                                        struct rt_credentials_provider **,
                                                        struct rt_error *),
                                            const struct rt_credentials_opts *o)
{
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(ctor(o, &p, &err));
    return p;
}

/* ---- IMDS ---- */

RT_TEST(imds_alone)
{
    start();
    point_imds_at_twin();
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_imds, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "imds");
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAIMDS1");
    RT_ASSERT_STR_EQ(r.creds->secret_key, "twin-secret-imds-1");
    RT_ASSERT_STR_EQ(r.creds->session_token, "imds-session-1");
    RT_ASSERT(r.creds->expiration_ms > 0);
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 1);
    RT_ASSERT_INT_EQ(twin_count("imds_role"), 1);
    RT_ASSERT_INT_EQ(twin_count("imds_creds"), 1);
    RT_ASSERT_INT_EQ(twin_count("imds_bad_token"), 0);
    /* The session token is kept: a second fetch asks only for the role and the credentials. */
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAIMDS2");
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 1);
    RT_ASSERT_INT_EQ(twin_count("imds_creds"), 2);
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(imds_v1_fallback_and_no_role)
{
    start();
    point_imds_at_twin();
    twin_config("{\"imds\": {\"token_status\": 403}}");
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_imds, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAIMDS1");
    twin_config("{\"imds\": {\"token_status\": 0, \"role\": \"\"}}");
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(r.err.msg, "no IAM role");
    twin_config("{\"imds\": {\"token_status\": 400}}");
    rt_credentials_provider_invalidate(p); /* drop the kept session token */
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(imds_silent_endpoint_gives_up)
{
    start();
    point_imds_at_twin();
    /* The server accepts the connection and never answers: the short timeout ends the wait and
     * the source counts as absent. */
    twin_config("{\"imds\": {\"hang\": true}}");
    struct rt_credentials_opts o = fx_opts();
    o.imds_timeout_ms = 300;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_imds, &o);
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(r.err.msg, "no answer");
    fx_result_cleanup(&r);
    twin_config("{\"imds\": {\"hang\": false}}");
    finish(p);
}

/* ---- container ---- */

RT_TEST(container_full_uri_with_token)
{
    start();
    twin_config("{\"ecs\": {\"token\": \"Bearer ecs-auth-Pq7\"}}");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer ecs-auth-Pq7", 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_container, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "container");
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS1");
    RT_ASSERT_STR_EQ(r.creds->session_token, "ecs-session-1");
    /* The token file wins over the variable and is read at each fetch. */
    const char *tf = fx_write("ecs-token", "Bearer wrong\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_INT_EQ(twin_count("ecs_bad_auth"), 1);
    fx_write("ecs-token", "Bearer ecs-auth-Pq7\n");
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS2");
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(container_relative_uri)
{
    start();
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-1234", 1);
    struct rt_credentials_opts o = fx_opts();
    char base[128];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin_port);
    o.ecs_relative_base = base;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_container, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS1");
    RT_ASSERT_INT_EQ(twin_count("ecs"), 1);
    fx_result_cleanup(&r);
    finish(p);
}

/* ---- web identity ---- */

RT_TEST(web_identity_alone)
{
    start();
    twin_config("{\"sts\": {\"token\": \"jwt-Wd2.payload.sig\", "
                "\"role_arn\": \"arn:aws:iam::123456789012:role/wi\"}}");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", fx_write("token", "jwt-Wd2.payload.sig\n"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/wi", 1);
    setenv("AWS_ROLE_SESSION_NAME", "test-session", 1);
    setenv("AWS_ENDPOINT_URL_STS", twin_url(""), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_web_identity, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "web-identity");
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIASTS1");
    RT_ASSERT_STR_EQ(r.creds->secret_key, "twin-secret-sts-1");
    RT_ASSERT_STR_EQ(r.creds->session_token, "sts-session-1");
    RT_ASSERT(r.creds->expiration_ms > 0);
    RT_ASSERT_INT_EQ(twin_count("sts"), 1);
    RT_ASSERT_INT_EQ(twin_count("sts_signed"), 0);
    /* The token file is read again at each fetch: a rotated token that STS refuses shows. */
    fx_write("token", "jwt-rotated-but-refused");
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_EAWS);
    RT_ASSERT_STR_EQ(r.err.aws_code, "InvalidIdentityToken");
    RT_ASSERT_CONTAINS(r.err.request_id, "twin-sts-");
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(web_identity_from_profile)
{
    start();
    setenv("AWS_ENDPOINT_URL", twin_url(""), 1);
    const char *tf = fx_write("token", "jwt-from-profile");
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "[profile wi]\nrole_arn = arn:aws:iam::123456789012:role/p\n"
             "web_identity_token_file = %s\nrole_session_name = prof-sess\n",
             tf);
    fx_write("config", cfg);
    setenv("AWS_PROFILE", "wi", 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_profile, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "web-identity");
    RT_ASSERT_INT_EQ(twin_count("sts"), 1);
    fx_result_cleanup(&r);
    finish(p);
}

/* ---- the chain's order ---- */

RT_TEST(chain_web_identity_before_profile)
{
    start();
    fx_write("credentials", "[default]\naws_access_key_id=AKIDPROF\naws_secret_access_key=s\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", fx_write("token", "jwt"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/wi", 1);
    setenv("AWS_ENDPOINT_URL_STS", twin_url(""), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "web-identity");
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(chain_profile_means_no_imds_request)
{
    start();
    point_imds_at_twin();
    fx_write("credentials", "[default]\naws_access_key_id=AKIDPROF\naws_secret_access_key=s\n");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "profile");
    fx_result_cleanup(&r);
    fx_finish(p);
    /* Later sources were never touched. */
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 0);
    RT_ASSERT_INT_EQ(twin_count("imds_role"), 0);
    RT_ASSERT_INT_EQ(twin_count("ecs"), 0);
    twin_stop();
}

RT_TEST(chain_container_before_imds)
{
    start();
    point_imds_at_twin();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "container");
    RT_ASSERT_INT_EQ(twin_count("ecs"), 1);
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 0);
    /* Without the container the chain reaches IMDS. */
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    rt_credentials_provider_invalidate(p);
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "imds");
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 1);
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(chain_failing_container_does_not_fall_to_imds)
{
    start();
    point_imds_at_twin();
    twin_config("{\"ecs\": {\"status\": 403}}");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "container");
    RT_ASSERT_INT_EQ(twin_count("imds_token"), 0);
    fx_result_cleanup(&r);
    finish(p);
}

/* ---- refresh before expiry ---- */

/* Gets from p until the access key changes from first (bounded number of rounds). */
static void
wait_for_new_key(struct rt_credentials_provider *p, const char *first, struct fx_result *r)
{
    for (int i = 0; i < 200; i++) {
        RT_ASSERT_OK(fx_get(p, r));
        if (strcmp(r->creds->access_key, first) != 0)
            return;
        /* Let the background refresh progress: the refresh's transfer keeps the loop busy, so
         * this waits for its next event (no sleep). */
        uv_run(&fx_loop, UV_RUN_ONCE);
    }
    RT_FAIL("the cache never handed out a refreshed key (still %s)", first);
}

RT_TEST(cache_refreshes_imds_in_background)
{
    start();
    point_imds_at_twin();
    /* Keys valid for 4 minutes: inside the 5 minute refresh window, outside the 1 minute
     * mandatory one, so the current keys are handed out while a refresh runs behind. */
    twin_config("{\"imds\": {\"expires_in\": 240}}");
    struct rt_credentials_opts o = fx_opts();
    o.refresh_before_ms = 5 * 60 * 1000;
    o.mandatory_before_ms = 60 * 1000;
    o.min_refresh_interval_ms = -1;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAIMDS1");
    /* The next get answers at once with the valid keys (no wait for the server). */
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAIMDS1");
    wait_for_new_key(p, "ASIAIMDS1", &r);
    RT_ASSERT(strncmp(r.creds->access_key, "ASIAIMDS", 8) == 0);
    RT_ASSERT(strcmp(r.creds->secret_key, "twin-secret-imds-1") != 0);
    RT_ASSERT(twin_count("imds_creds") >= 2);
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(cache_far_expiry_not_refreshed)
{
    start();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    /* Valid for an hour: far outside the windows, so gets never go back to the server. */
    struct rt_credentials_opts o = fx_opts();
    o.min_refresh_interval_ms = -1;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    for (int i = 0; i < 5; i++) {
        RT_ASSERT_OK(fx_get(p, &r));
        RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS1");
    }
    RT_ASSERT_INT_EQ(twin_count("ecs"), 1);
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(cache_mandatory_refresh_container)
{
    start();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    /* Keys valid 30 s, inside the 1 minute mandatory window: every get waits for new keys. */
    twin_config("{\"ecs\": {\"expires_in\": 30}}");
    struct rt_credentials_opts o = fx_opts();
    o.refresh_before_ms = 5 * 60 * 1000;
    o.mandatory_before_ms = 60 * 1000;
    o.min_refresh_interval_ms = -1;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS1");
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS2");
    RT_ASSERT_INT_EQ(twin_count("ecs"), 2);
    /* A failed refresh keeps the keys that still work. */
    twin_config("{\"ecs\": {\"status\": 500}}");
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "ASIAECS2");
    fx_result_cleanup(&r);
    finish(p);
}

RT_TEST(cache_concurrent_gets_share_one_fetch)
{
    start();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r[8];
    memset(r, 0, sizeof(r));
    struct rt_error err;
    rt_error_clear(&err);
    for (int i = 0; i < 8; i++)
        RT_ASSERT_OK(rt_credentials_provider_get(p, fx_on_get, &r[i], &err));
    for (int i = 0; i < 8; i++) {
        while (!r[i].done)
            uv_run(&fx_loop, UV_RUN_ONCE);
        RT_ASSERT_INT_EQ(r[i].status, 0);
        RT_ASSERT_STR_EQ(r[i].creds->access_key, "ASIAECS1");
        fx_result_cleanup(&r[i]);
    }
    RT_ASSERT_INT_EQ(twin_count("ecs"), 1);
    finish(p);
}

/* ---- secrets ---- */

RT_TEST(secrets_from_network_never_logged)
{
    start();
    fx_log_capture();
    twin_config("{\"secret_prefix\": \"Vh4n-known-secret\", \"ecs\": {\"token\": \"auth-Ry6\"}, "
                "\"imds\": {\"expires_in\": 240}}");
    point_imds_at_twin();
    struct rt_credentials_opts o = fx_opts();
    o.min_refresh_interval_ms = -1;
    struct rt_credentials_provider *p = make(rt_credentials_provider_new_default, &o);
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r)); /* IMDS, with a background refresh on the next get */
    RT_ASSERT_CONTAINS(r.creds->secret_key, "Vh4n-known-secret");
    char first[64];
    rt_strlcpy(first, r.creds->access_key, sizeof(first));
    wait_for_new_key(p, first, &r);
    fx_result_cleanup(&r);
    fx_finish(p);
    fx_start();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-Ry6", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", fx_write("token", "jwt-Tb9-secret"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/wi", 1);
    setenv("AWS_ENDPOINT_URL_STS", twin_url(""), 1);
    o = fx_opts();
    p = make(rt_credentials_provider_new_web_identity, &o);
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_CONTAINS(r.creds->secret_key, "Vh4n-known-secret");
    fx_result_cleanup(&r);
    fx_finish(p);
    fx_start();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", twin_url("/ecs/creds"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-Ry6", 1);
    o = fx_opts();
    p = make(rt_credentials_provider_new_container, &o);
    RT_ASSERT_OK(fx_get(p, &r));
    fx_result_cleanup(&r);
    fx_finish(p);
    const char *log = fx_log_text();
    RT_ASSERT_CONTAINS(log, "source=imds");
    RT_ASSERT_CONTAINS(log, "source=web-identity");
    RT_ASSERT_CONTAINS(log, "source=container");
    const char *secrets[] = {"Vh4n",         "auth-Ry6",     "jwt-Tb9",    "imds-session-",
                             "sts-session-", "ecs-session-", "imds-token-"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(log, secrets[i]))
            RT_FAIL("secret %s reached the log:\n%s", secrets[i], log);
    twin_stop();
}
