/*
 * test_creds.c - the credential providers that need no server: environment, static keys,
 * profile files (credentials and config, named and default, nested blocks, region), the chain's
 * order between them and its "nothing found" message, the container URI rules, the parsers
 * (ISO-8601 times, the credentials JSON, the STS XML), and that no secret reaches the log.
 * The network sources against the local aws-twin server are in test_creds_twin.c.
 */
#include "../../src/creds/creds_int.h"
#include "creds_fixture.h"
#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/form.h"

#define SECRET_ENV "env-secret-Zq8v"
#define SECRET_PROFILE "profile-secret-Kx3w"
#define TOKEN_PROFILE "profile-token-Jm5e"

static struct rt_credentials_provider *new_profile(void)
{
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_profile(&o, &p, &err));
    return p;
}

static struct rt_credentials_provider *new_default(void)
{
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_default(&o, &p, &err));
    return p;
}

static void write_profiles(void)
{
    fx_write("credentials", "# shared credentials\n"
                            "[default]\n"
                            "aws_access_key_id = AKIDDEFAULT\n"
                            "aws_secret_access_key = " SECRET_PROFILE "\n"
                            "\n"
                            "[dev]\n"
                            "aws_access_key_id=AKIDDEV\n"
                            "aws_secret_access_key=dev-secret\n"
                            "aws_session_token = " TOKEN_PROFILE "\n"
                            "[profile cfgonly]\n"
                            "aws_access_key_id = WRONG-SECTION-NAME\n"
                            "aws_secret_access_key = wrong\n");
    fx_write("config", "[default]\n"
                       "region = eu-central-1\n"
                       "; a comment\n"
                       "[profile dev]\n"
                       "region=us-west-2\n"
                       "aws_access_key_id = AKID-IGNORED-CREDENTIALS-FILE-WINS\n"
                       "s3 =\n"
                       "  addressing_style = path\n"
                       "  aws_access_key_id = NESTED-NOT-A-KEY\n"
                       "[profile cfgonly]\n"
                       "aws_access_key_id = AKIDCFG\n"
                       "aws_secret_access_key = cfg-secret\n"
                       "[profile regiononly]\n"
                       "region = ap-south-1\n"
                       "[profile roled]\n"
                       "role_arn = arn:aws:iam::123456789012:role/x\n"
                       "source_profile = default\n"
                       "mfa_serial = arn:aws:iam::123456789012:mfa/u\n");
}

/* ---- record ---- */

RT_TEST(record_new_dup_free)
{
    struct rt_credentials *c, *d;
    RT_ASSERT_INT_EQ(rt_credentials_new("AK", "", NULL, 0, "x", &c), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_credentials_new(NULL, "S", NULL, 0, "x", &c), RT_EINVAL);
    RT_ASSERT_OK(rt_credentials_new("AK", "SK", "", 5000, "static", &c));
    RT_ASSERT(c->session_token == NULL);
    RT_ASSERT_OK(rt_credentials_dup(c, &d));
    RT_ASSERT_STR_EQ(d->access_key, "AK");
    RT_ASSERT_STR_EQ(d->secret_key, "SK");
    RT_ASSERT_STR_EQ(d->source, "static");
    RT_ASSERT(!rt_credentials_expiring(d, 1000, 3999));
    RT_ASSERT(rt_credentials_expiring(d, 1000, 4000));
    d->expiration_ms = 0;
    RT_ASSERT(!rt_credentials_expiring(d, INT64_MAX / 2, 0));
    rt_credentials_free(c);
    rt_credentials_free(d);
    rt_credentials_free(NULL);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- single sources ---- */

RT_TEST(environment_alone)
{
    fx_start();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_environment(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDENV");
    RT_ASSERT_STR_EQ(r.creds->secret_key, SECRET_ENV);
    RT_ASSERT_STR_EQ(r.creds->session_token, "env-token");
    RT_ASSERT_STR_EQ(r.creds->source, "environment");
    RT_ASSERT_INT_EQ(r.creds->expiration_ms, 0);
    /* Unset: not configured, so RT_ENOTFOUND (the chain moves on). */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    /* Half a pair is a mistake worth stopping for. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "AWS_SECRET_ACCESS_KEY");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(static_alone)
{
    fx_start();
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_credentials_provider_new_static(&o, "AK", NULL, NULL, &p, &err), RT_EINVAL);
    RT_ASSERT_OK(
        rt_credentials_provider_new_static(&o, "AKIDSTATIC", "static-secret", NULL, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDSTATIC");
    RT_ASSERT(r.creds->session_token == NULL);
    RT_ASSERT_STR_EQ(r.creds->source, "static");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(profile_default_from_credentials_file)
{
    fx_start();
    write_profiles();
    struct rt_credentials_provider *p = new_profile();
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDDEFAULT");
    RT_ASSERT_STR_EQ(r.creds->secret_key, SECRET_PROFILE);
    RT_ASSERT(r.creds->session_token == NULL);
    RT_ASSERT_STR_EQ(r.creds->source, "profile");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(profile_named_by_aws_profile)
{
    fx_start();
    write_profiles();
    setenv("AWS_PROFILE", "dev", 1);
    struct rt_credentials_provider *p = new_profile();
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    /* The credentials file wins over the config file; nested blocks are not profile keys. */
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDDEV");
    RT_ASSERT_STR_EQ(r.creds->session_token, TOKEN_PROFILE);
    /* [profile x] means profile x only in the config file. */
    setenv("AWS_PROFILE", "cfgonly", 1);
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDCFG");
    /* A named profile with only a region has no keys: not found, the chain goes on. */
    setenv("AWS_PROFILE", "regiononly", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    /* A role behind MFA cannot be assumed unattended: said plainly, naming the profile, and
     * nothing is sent. */
    setenv("AWS_PROFILE", "roled", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECONFIG);
    RT_ASSERT_CONTAINS(r.err.msg, "profile roled: mfa_serial is set");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(profile_explicit_option_beats_env)
{
    fx_start();
    write_profiles();
    setenv("AWS_PROFILE", "dev", 1);
    struct rt_credentials_opts o = fx_opts();
    o.profile = "cfgonly";
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_profile(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDCFG");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(profile_missing_files_default_not_found)
{
    fx_start();
    struct rt_credentials_provider *p = new_profile();
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(profile_region)
{
    fx_env_reset();
    char region[32];
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_credentials_profile_region(NULL, region, sizeof(region), &err),
                     RT_ENOTFOUND);
    write_profiles();
    RT_ASSERT_OK(rt_credentials_profile_region(NULL, region, sizeof(region), &err));
    RT_ASSERT_STR_EQ(region, "eu-central-1");
    setenv("AWS_PROFILE", "dev", 1);
    RT_ASSERT_OK(rt_credentials_profile_region(NULL, region, sizeof(region), &err));
    RT_ASSERT_STR_EQ(region, "us-west-2");
    RT_ASSERT_OK(rt_credentials_profile_region("regiononly", region, sizeof(region), &err));
    RT_ASSERT_STR_EQ(region, "ap-south-1");
    RT_ASSERT_INT_EQ(rt_credentials_profile_region("cfgonly", region, sizeof(region), &err),
                     RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_credentials_profile_region("nope", region, sizeof(region), &err),
                     RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(rt_credentials_profile_region("dev", region, 4, &err), RT_ETOOBIG);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(container_full_uri_must_be_local_or_https)
{
    fx_start();
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_container(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    /* Plain http to an arbitrary host would leak the token: refused before any request. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.7/creds", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "https");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.2.example.com/creds", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    /* A token with a line break could smuggle headers: refused (loopback port 9 never answers
     * anyway, but the check comes first). */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Evil: 1", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "CR or LF");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(imds_disabled_not_found)
{
    fx_start();
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_imds(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(r.err.msg, "AWS_EC2_METADATA_DISABLED");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(web_identity_unset_and_missing_file)
{
    fx_start();
    struct rt_credentials_opts o = fx_opts();
    o.sts_endpoint = "http://127.0.0.1:9";
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_web_identity(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/wi", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTFOUND);
    RT_ASSERT_CONTAINS(r.err.msg, "AWS_WEB_IDENTITY_TOKEN_FILE");
    char path[600];
    snprintf(path, sizeof(path), "%s/no-such-token", rt_test_tmpdir());
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "does not exist");
    fx_result_cleanup(&r);
    fx_finish(p);
}

/* STS is resolved like every other service (core's endpoint.h), config endpoint included. */
RT_TEST(sts_endpoint_order_honours_config)
{
    fx_env_reset();
    char ep[512];
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt__sts_endpoint(NULL, NULL, NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "https://sts.amazonaws.com"); /* no region at all: the global one */
    RT_ASSERT_OK(rt__sts_endpoint(NULL, NULL, "eu-west-3", ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "https://sts.eu-west-3.amazonaws.com"); /* the profile's */
    RT_ASSERT_OK(rt__sts_endpoint(NULL, "eu-west-2", "eu-west-3", ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "https://sts.eu-west-2.amazonaws.com"); /* the config's beats it */
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    RT_ASSERT_OK(rt__sts_endpoint(NULL, "eu-west-2", NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "https://sts.ap-south-1.amazonaws.com");
    setenv("AWS_REGION", "cn-north-1", 1);
    RT_ASSERT_OK(rt__sts_endpoint(NULL, "eu-west-2", NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "https://sts.cn-north-1.amazonaws.com.cn");
    /* aws.endpoints.sts beats the default, and the environment beats it. */
    RT_ASSERT_OK(
        rt__sts_endpoint("http://127.0.0.1:9/sts/", "eu-west-2", NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "http://127.0.0.1:9/sts");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8", 1);
    RT_ASSERT_OK(rt__sts_endpoint("http://127.0.0.1:9/sts", NULL, NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "http://127.0.0.1:8");
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:7", 1);
    RT_ASSERT_OK(rt__sts_endpoint("http://127.0.0.1:9/sts", NULL, NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "http://127.0.0.1:7");
    unsetenv("AWS_ENDPOINT_URL_STS");
    unsetenv("AWS_ENDPOINT_URL");
    /* A region that is not a region name never becomes the host. */
    setenv("AWS_REGION", "us-east-1.evil.com", 1);
    RT_ASSERT_INT_EQ(rt__sts_endpoint(NULL, NULL, NULL, ep, sizeof(ep), &err), RT_ECONFIG);
    RT_ASSERT_CONTAINS(err.msg, "sts: region \"us-east-1.evil.com\" is not a valid");
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__sts_endpoint("ftp://x", NULL, NULL, ep, sizeof(ep), &err), RT_EINVAL);
    fx_env_reset();
}

/* The daemon builds the options from the config: region, profile and aws.endpoints.sts. */
RT_TEST(opts_from_config)
{
    fx_env_reset();
    static const char yaml[] = "data_dir: data\n"
                               "store: { driver: local, root: bucket }\n"
                               "aws:\n"
                               "  region: eu-west-2\n"
                               "  profile: work\n"
                               "  endpoints: { sts: 'http://127.0.0.1:9/sts' }\n";
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(
        rt_config_load_string(yaml, sizeof(yaml) - 1, "t.yaml", rt_test_tmpdir(), &cfg, &err));
    struct rt_credentials_opts o = {.imds_timeout_ms = 5};
    rt_credentials_opts_from_config(&o, cfg);
    RT_ASSERT_STR_EQ(o.region, "eu-west-2");
    RT_ASSERT_STR_EQ(o.profile, "work");
    RT_ASSERT_STR_EQ(o.sts_endpoint, "http://127.0.0.1:9/sts");
    RT_ASSERT_INT_EQ(o.imds_timeout_ms, 5); /* fields the config does not set are kept */
    char ep[512];
    RT_ASSERT_OK(rt__sts_endpoint(o.sts_endpoint, o.region, NULL, ep, sizeof(ep), &err));
    RT_ASSERT_STR_EQ(ep, "http://127.0.0.1:9/sts");
    rt_config_destroy(cfg);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* A web identity source that is configured but whose region is malformed stops the chain with a
 * clear RT_ECONFIG naming the value; nothing is sent anywhere. */
RT_TEST(web_identity_bad_region_is_a_config_error)
{
    fx_start();
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", fx_write("token", "jwt"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/wi", 1);
    setenv("AWS_REGION", "../", 1);
    struct rt_credentials_opts o = fx_opts();
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_default(&o, &p, &err));
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECONFIG);
    RT_ASSERT_CONTAINS(r.err.msg, "region \"../\"");
    struct rt_httpc_stats st;
    rt_httpc_get_stats(fx_http, &st);
    RT_ASSERT_INT_EQ(st.attempts, 0);
    fx_result_cleanup(&r);
    fx_finish(p);
}

/* ---- answers on the loop, not through the thread pool ---- */

/* Holds every libuv pool thread until released, so anything queued on the pool cannot run. */
struct pool_block {
    uv_work_t work[4];
    uv_sem_t started, release;
    int finished;
};

static void block_work(uv_work_t *w)
{
    struct pool_block *b = w->data;
    uv_sem_post(&b->started);
    uv_sem_wait(&b->release);
}

static void block_after(uv_work_t *w, int status)
{
    (void)status;
    ((struct pool_block *)w->data)->finished++;
}

static void release_pool(struct pool_block *b)
{
    for (int i = 0; i < 4; i++)
        uv_sem_post(&b->release);
}

static void watchdog_fired(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/*
 * With all four pool threads held, environment keys through the default chain, the cached answer
 * of later gets, and the provider's close must all still complete: none of them may wait for the
 * pool. A watchdog timer bounds the wait (a regression fails instead of hanging).
 */
RT_TEST(cached_answers_never_wait_for_the_thread_pool)
{
    setenv("UV_THREADPOOL_SIZE", "4", 1); /* read by libuv when the pool first starts */
    fx_start();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    struct pool_block b = {0};
    RT_ASSERT_OK(uv_sem_init(&b.started, 0));
    RT_ASSERT_OK(uv_sem_init(&b.release, 0));
    for (int i = 0; i < 4; i++) {
        b.work[i].data = &b;
        RT_ASSERT_OK(uv_queue_work(&fx_loop, &b.work[i], block_work, block_after));
    }
    for (int i = 0; i < 4; i++)
        uv_sem_wait(&b.started); /* every pool thread is now held */
    int expired = 0;
    uv_timer_t watchdog;
    RT_ASSERT_OK(uv_timer_init(&fx_loop, &watchdog));
    watchdog.data = &expired;
    RT_ASSERT_OK(uv_timer_start(&watchdog, watchdog_fired, 10000, 0));

    struct rt_credentials_provider *p = new_default();
    struct rt_error err;
    rt_error_clear(&err);
    for (int round = 0; round < 3; round++) {
        struct fx_result r = {0};
        RT_ASSERT_OK(rt_credentials_provider_get(p, fx_on_get, &r, &err));
        RT_ASSERT_INT_EQ(r.done, 0); /* never inside the call */
        while (!r.done && !expired)
            uv_run(&fx_loop, UV_RUN_ONCE);
        if (!r.done) {
            release_pool(&b); /* else libuv's exit-time pool cleanup would wait for ever */
            RT_FAIL("round %d: the get waited for the thread pool", round);
        }
        RT_ASSERT_INT_EQ(r.status, 0);
        RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDENV");
        fx_result_cleanup(&r);
    }
    int closed = 0;
    rt_credentials_provider_close(p, fx_on_closed, &closed);
    RT_ASSERT_INT_EQ(closed, 0);
    while (!closed && !expired)
        uv_run(&fx_loop, UV_RUN_ONCE);
    if (!closed) {
        release_pool(&b);
        RT_FAIL("the close waited for the thread pool");
    }
    bool held = b.finished == 0; /* the pool really was held all along */
    release_pool(&b);
    RT_ASSERT(held);
    while (b.finished < 4)
        uv_run(&fx_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&watchdog, NULL);
    uv_sem_destroy(&b.started);
    uv_sem_destroy(&b.release);
    fx_finish(NULL);
}

/* ---- the chain ---- */

RT_TEST(chain_env_beats_profile_even_with_aws_profile)
{
    fx_start();
    write_profiles();
    setenv("AWS_PROFILE", "dev", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "environment");
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDENV");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(chain_profile_when_no_env)
{
    fx_start();
    write_profiles();
    setenv("AWS_PROFILE", "dev", 1);
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->source, "profile");
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDDEV");
    /* Static keys are cached for ever: a second get answers the same without reading again. */
    fx_write("credentials", "[dev]\naws_access_key_id=CHANGED\naws_secret_access_key=x\n");
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDDEV");
    /* Invalidate drops the cache: the file is read again. */
    rt_credentials_provider_invalidate(p);
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "CHANGED");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(chain_missing_named_profile_is_an_error)
{
    fx_start();
    write_profiles();
    setenv("AWS_PROFILE", "nope", 1);
    /* A container endpoint is configured after the profile: it must not be reached. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.7/never", 1);
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "no such profile");
    RT_ASSERT_CONTAINS(r.err.msg, "nope");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(chain_nothing_lists_sources)
{
    fx_start();
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "no credentials found; tried:");
    const char *names[] = {"environment", "web-identity", "profile", "container", "imds"};
    const char *prev = r.err.msg;
    for (size_t i = 0; i < 5; i++) {
        const char *at = strstr(prev, names[i]);
        if (!at)
            RT_FAIL("source %s missing or out of order in \"%s\"", names[i], r.err.msg);
        prev = at;
    }
    RT_ASSERT_CONTAINS(r.err.msg, "AWS_EC2_METADATA_DISABLED");
    fx_result_cleanup(&r);
    fx_finish(p);
}

RT_TEST(chain_close_with_get_in_flight)
{
    fx_start();
    write_profiles();
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_get(p, fx_on_get, &r, &err));
    int closed = 0;
    rt_credentials_provider_close(p, fx_on_closed, &closed);
    /* A get after close is refused at once and its callback never runs. */
    struct fx_result r2 = {0};
    RT_ASSERT_INT_EQ(rt_credentials_provider_get(p, fx_on_get, &r2, &err), RT_ECANCELED);
    while (!closed)
        uv_run(&fx_loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(r.done, 1); /* the get in flight completed before the close callback */
    RT_ASSERT_INT_EQ(r2.done, 0);
    fx_result_cleanup(&r);
    fx_finish(NULL);
}

/* ---- secrets ---- */

RT_TEST(secrets_never_logged)
{
    fx_start();
    write_profiles();
    fx_log_capture();
    struct rt_credentials_provider *p = new_default();
    struct fx_result r = {0};
    RT_ASSERT_OK(fx_get(p, &r)); /* profile default */
    RT_ASSERT_STR_EQ(r.creds->secret_key, SECRET_PROFILE);
    fx_result_cleanup(&r);
    fx_finish(p);
    fx_start();
    fx_log_capture();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    p = new_default();
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->secret_key, SECRET_ENV);
    fx_result_cleanup(&r);
    fx_finish(p);
    const char *log = fx_log_text();
    RT_ASSERT(strstr(log, "source=") != NULL); /* the capture did see the providers' lines */
    RT_ASSERT(strstr(log, SECRET_ENV) == NULL);
    RT_ASSERT(strstr(log, SECRET_PROFILE) == NULL);
    RT_ASSERT(strstr(log, "Zq8v") == NULL && strstr(log, "Kx3w") == NULL);
}

/* ---- parsers ---- */

RT_TEST(parse_time)
{
    int64_t t;
    RT_ASSERT_OK(rt__creds_parse_time("1970-01-01T00:00:00Z", &t));
    RT_ASSERT_INT_EQ(t, 0);
    RT_ASSERT_OK(rt__creds_parse_time("2024-05-01T12:00:00Z", &t));
    RT_ASSERT_INT_EQ(t, 1714564800000LL);
    RT_ASSERT_OK(rt__creds_parse_time("2024-05-01T12:00:00.250Z", &t));
    RT_ASSERT_INT_EQ(t, 1714564800250LL);
    RT_ASSERT_OK(rt__creds_parse_time("2024-05-01T14:00:00+02:00", &t));
    RT_ASSERT_INT_EQ(t, 1714564800000LL);
    RT_ASSERT_OK(rt__creds_parse_time("2024-05-01T11:30:00-00:30", &t));
    RT_ASSERT_INT_EQ(t, 1714564800000LL);
    const char *bad[] = {"",
                         "2024-05-01",
                         "2024-05-01T12:00:00",
                         "2024-13-01T12:00:00Z",
                         "2024-05-01T12:00:00Zjunk",
                         "2024-05-01T12:00:00.Z",
                         "x024-05-01T12:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (rt__creds_parse_time(bad[i], &t) == 0)
            RT_FAIL("accepted %s", bad[i]);
}

RT_TEST(parse_json_reply)
{
    struct rt_credentials *c;
    struct rt_error err;
    rt_error_clear(&err);
    const char *ok = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA1\","
                     "\"SecretAccessKey\":\"json-secret\",\"Token\":\"tok\","
                     "\"Expiration\":\"2024-05-01T12:00:00Z\"}";
    RT_ASSERT_OK(rt__creds_parse_json(ok, strlen(ok), "imds", &c, &err));
    RT_ASSERT_STR_EQ(c->access_key, "ASIA1");
    RT_ASSERT_STR_EQ(c->session_token, "tok");
    RT_ASSERT_INT_EQ(c->expiration_ms, 1714564800000LL);
    rt_credentials_free(c);
    const char *failed = "{\"Code\":\"Failed\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}";
    RT_ASSERT_INT_EQ(rt__creds_parse_json(failed, strlen(failed), "imds", &c, &err), RT_EAWS);
    rt_error_clear(&err);
    const char *nosecret = "{\"AccessKeyId\":\"A\",\"Token\":\"json-secret-token\"}";
    RT_ASSERT_INT_EQ(rt__creds_parse_json(nosecret, strlen(nosecret), "container", &c, &err),
                     RT_EPARSE);
    RT_ASSERT(strstr(err.msg, "json-secret") == NULL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__creds_parse_json("not json", 8, "container", &c, &err), RT_EPARSE);
    rt_error_clear(&err);
    const char *badexp =
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}";
    RT_ASSERT_INT_EQ(rt__creds_parse_json(badexp, strlen(badexp), "container", &c, &err),
                     RT_EPARSE);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(parse_sts_reply)
{
    const char *ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<AssumeRoleWithWebIdentityResponse "
                     "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                     "  <AssumeRoleWithWebIdentityResult>\n"
                     "    <Audience>sts.amazonaws.com</Audience>\n"
                     "    <Credentials>\n"
                     "      <AccessKeyId>ASIASTS</AccessKeyId>\n"
                     "      <SecretAccessKey> a&amp;b&lt;c </SecretAccessKey>\n"
                     "      <SessionToken>tok&#43;1</SessionToken>\n"
                     "      <Expiration>2024-05-01T12:00:00Z</Expiration>\n"
                     "    </Credentials>\n"
                     "  </AssumeRoleWithWebIdentityResult>\n"
                     "</AssumeRoleWithWebIdentityResponse>\n";
    struct rt_credentials *c;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt__creds_parse_sts(ok, strlen(ok), &c, &err));
    RT_ASSERT_STR_EQ(c->access_key, "ASIASTS");
    RT_ASSERT_STR_EQ(c->secret_key, "a&b<c"); /* entities decoded, indentation trimmed */
    RT_ASSERT_STR_EQ(c->session_token, "tok+1");
    RT_ASSERT_INT_EQ(c->expiration_ms, 1714564800000LL);
    RT_ASSERT_STR_EQ(c->source, "web-identity");
    rt_credentials_free(c);
    /* The keys must sit where STS puts them: a Credentials element elsewhere is not taken. */
    const char *elsewhere = "<AssumeRoleWithWebIdentityResponse><Other><Credentials>"
                            "<AccessKeyId>A</AccessKeyId><SecretAccessKey>sts-secret-Hq2"
                            "</SecretAccessKey><SessionToken>t</SessionToken>"
                            "<Expiration>2024-05-01T12:00:00Z</Expiration></Credentials></Other>"
                            "</AssumeRoleWithWebIdentityResponse>";
    RT_ASSERT_INT_EQ(rt__creds_parse_sts(elsewhere, strlen(elsewhere), &c, &err), RT_EPARSE);
    RT_ASSERT(c == NULL);
    RT_ASSERT(strstr(err.msg, "Hq2") == NULL); /* the message names fields, never values */
    rt_error_clear(&err);
    /* Truncated: the scanner never reads past the end and the reply is refused. */
    RT_ASSERT_INT_EQ(rt__creds_parse_sts(ok, strlen(ok) / 2, &c, &err), RT_EPARSE);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__creds_parse_sts("", 0, &c, &err), RT_EPARSE);
    /* The error shape of the query protocol. */
    const char *fail = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                       "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                       "<Message>bad &quot;token&quot;</Message></Error>"
                       "<RequestId>req-7</RequestId></ErrorResponse>";
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__creds_sts_error(fail, strlen(fail), &err), 1);
    RT_ASSERT_STR_EQ(err.aws_code, "InvalidIdentityToken");
    RT_ASSERT_STR_EQ(err.request_id, "req-7");
    RT_ASSERT_STR_EQ(err.msg, "bad \"token\"");
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__creds_sts_error("<html>502</html>", 16, &err), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* The STS request body is form-encoded by core's form.h (shared with the aws query protocol). */
RT_TEST(form_encoding_of_sts_fields)
{
    struct rt_buf b;
    rt_buf_init(&b, 4096);
    RT_ASSERT_OK(rt_form_add(&b, "Action", "AssumeRoleWithWebIdentity"));
    RT_ASSERT_OK(rt_form_add(&b, "RoleArn", "arn:aws:iam::123456789012:role/a b"));
    RT_ASSERT_OK(rt_form_add(&b, "WebIdentityToken", "x+y/z=~._-\xc3\xa9&"));
    RT_ASSERT_STR_EQ(b.data, "Action=AssumeRoleWithWebIdentity"
                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b"
                             "&WebIdentityToken=x%2By%2Fz%3D~._-%C3%A9%26");
    /* A full buffer is an error, never a silently cut body. */
    struct rt_buf small;
    rt_buf_init(&small, 8);
    RT_ASSERT_INT_EQ(rt_form_add(&small, "RoleSessionName", "s"), RT_ETOOBIG);
    rt_buf_cleanup(&small);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- role profiles that cannot work: refused before anything is sent ---- */

RT_TEST(role_profile_refusals_name_the_profile)
{
    fx_start();
    fx_write("credentials", "[base]\naws_access_key_id = AKIDBASE\n"
                            "aws_secret_access_key = base-secret\n");
    fx_write("config", "[profile loop-a]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
                       "source_profile = loop-b\n"
                       "[profile loop-b]\nrole_arn = arn:aws:iam::123456789012:role/b\n"
                       "source_profile = loop-a\n"
                       "[profile orphan]\nrole_arn = arn:aws:iam::123456789012:role/o\n"
                       "source_profile = nosuch\n"
                       "[profile both]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                       "source_profile = base\ncredential_source = Environment\n"
                       "[profile badsource]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                       "credential_source = Laptop\n"
                       "[profile baddur]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                       "source_profile = base\nduration_seconds = 60\n"
                       "[profile selfnokeys]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                       "source_profile = selfnokeys\n"
                       "[profile emptysource]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
                       "source_profile = regiononly\n"
                       "[profile regiononly]\nregion = eu-west-1\n"
                       "[profile mfa-inner]\nrole_arn = arn:aws:iam::123456789012:role/y\n"
                       "source_profile = mfa\n"
                       "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/m\n"
                       "source_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/u\n");
    struct {
        const char *profile, *want;
    } cases[] = {
        {"loop-a", "source_profile loop: \"loop-a -> loop-b -> loop-a\""},
        {"orphan", "profile orphan: its source_profile nosuch is in neither"},
        {"both", "profile both has both source_profile and credential_source"},
        {"badsource", "credential_source Laptop is not Environment"},
        {"baddur", "duration_seconds 60 is not a number of seconds from 900 to 43200"},
        {"selfnokeys", "profile selfnokeys names itself as source_profile but has no static"},
        {"emptysource", "its source_profile regiononly has no credentials"},
        {"mfa-inner", "profile mfa: mfa_serial is set"},
    };
    struct rt_credentials_provider *p = new_profile();
    struct fx_result r = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("AWS_PROFILE", cases[i].profile, 1);
        RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECONFIG);
        RT_ASSERT_CONTAINS(r.err.msg, cases[i].want);
    }
    fx_result_cleanup(&r);
    fx_finish(p);
}

/* ---- credential_process ---- */

RT_TEST(process_split_like_the_sdks)
{
    char **argv;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt__process_split("  /bin/tool --a \"two words\" 'single q' x\\ y \"q\\\"d\"  ",
                                   &argv, &err));
    const char *want[] = {"/bin/tool", "--a", "two words", "single q", "x y", "q\"d", NULL};
    for (int i = 0; want[i]; i++)
        RT_ASSERT_STR_EQ(argv[i], want[i]);
    RT_ASSERT(argv[6] == NULL);
    rt__process_argv_free(argv);
    RT_ASSERT_OK(rt__process_split("\"/path with space/t\"", &argv, &err));
    RT_ASSERT_STR_EQ(argv[0], "/path with space/t");
    RT_ASSERT(argv[1] == NULL);
    rt__process_argv_free(argv);
    RT_ASSERT_INT_EQ(rt__process_split("tool \"open", &argv, &err), RT_EINVAL);
    RT_ASSERT_CONTAINS(err.msg, "unterminated");
    RT_ASSERT_INT_EQ(rt__process_split("   ", &argv, &err), RT_EINVAL);
    /* No shell: a semicolon or a pipe is just a character of a word. */
    RT_ASSERT_OK(rt__process_split("tool;rm -rf x|y", &argv, &err));
    RT_ASSERT_STR_EQ(argv[0], "tool;rm");
    RT_ASSERT_STR_EQ(argv[2], "x|y");
    rt__process_argv_free(argv);
}

RT_TEST(process_parse_json)
{
    struct rt_credentials *c;
    struct rt_error err;
    rt_error_clear(&err);
    const char *ok =
        "{\"Version\": 1, \"AccessKeyId\": \"AKIDP\", \"SecretAccessKey\": \"p-secret\","
        " \"SessionToken\": \"p-token\", \"Expiration\": \"2030-01-02T03:04:05Z\"}";
    RT_ASSERT_OK(rt__process_parse(ok, strlen(ok), "p", &c, &err));
    RT_ASSERT_STR_EQ(c->access_key, "AKIDP");
    RT_ASSERT_STR_EQ(c->session_token, "p-token");
    RT_ASSERT_STR_EQ(c->source, "process");
    RT_ASSERT(c->expiration_ms == 1893553445000LL);
    rt_credentials_free(c);
    const char *noexp = "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}";
    RT_ASSERT_OK(rt__process_parse(noexp, strlen(noexp), "p", &c, &err));
    RT_ASSERT(c->expiration_ms == 0 && c->session_token == NULL);
    rt_credentials_free(c);
    const char *v2 = "{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hidden-S\"}";
    RT_ASSERT_INT_EQ(rt__process_parse(v2, strlen(v2), "p", &c, &err), RT_EPARSE);
    RT_ASSERT_CONTAINS(err.msg, "Version");
    RT_ASSERT(strstr(err.msg, "hidden-S") == NULL);
    const char *badexp = "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
                         "\"Expiration\":\"tomorrow\"}";
    RT_ASSERT_INT_EQ(rt__process_parse(badexp, strlen(badexp), "p", &c, &err), RT_EPARSE);
    RT_ASSERT_INT_EQ(rt__process_parse("not json", 8, "p", &c, &err), RT_EPARSE);
}

/* Writes an executable script into the case's folder. Returns its path. */
static const char *script(const char *name, const char *body)
{
    const char *p = fx_write(name, body);
    RT_ASSERT_OK(chmod(p, 0755));
    return p;
}

#define PROC_SECRET "proc-secret-Wq7u"

RT_TEST(process_runs_without_a_shell_and_reads_json)
{
    fx_start();
    fx_log_capture();
    const char *dir = rt_test_tmpdir();
    /* The script sees its arguments exactly as split: "two words" is one, $HOME is not expanded. */
    script("creds tool.sh",
           "#!/bin/sh\n"
           "[ \"$#\" = 2 ] && [ \"$1\" = 'two words' ] && [ \"$2\" = '$HOME' ] || "
           "{ echo \"bad args: $#\" >&2; exit 3; }\n"
           "n=$(cat \"$(dirname \"$0\")/count\" 2>/dev/null || echo 0); n=$((n+1)); "
           "echo $n > \"$(dirname \"$0\")/count\"\n"
           "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC%s\", \"SecretAccessKey\": "
           "\"" PROC_SECRET "\", \"SessionToken\": \"tok\", \"Expiration\": "
           "\"2099-01-01T00:00:00Z\"}' $n\n");
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "[profile proc]\ncredential_process = \"%s/creds tool.sh\" \"two words\" $HOME\n"
             "[profile fails]\ncredential_process = \"%s/creds tool.sh\" one\n"
             "[profile missing]\ncredential_process = %s/no-such-tool\n"
             "[profile slow]\ncredential_process = /bin/sleep 5\n"
             "[profile quote]\ncredential_process = \"%s/creds tool.sh\n",
             dir, dir, dir, dir);
    fx_write("config", cfg);
    struct rt_credentials_opts o = fx_opts();
    o.process_timeout_ms = 300;
    struct rt_credentials_provider *p;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_new_profile(&o, &p, &err));
    struct fx_result r = {0};
    setenv("AWS_PROFILE", "proc", 1);
    RT_ASSERT_OK(fx_get(p, &r));
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDPROC1");
    RT_ASSERT_STR_EQ(r.creds->secret_key, PROC_SECRET);
    RT_ASSERT_STR_EQ(r.creds->source, "process");
    RT_ASSERT(r.creds->expiration_ms > 0);
    RT_ASSERT_OK(fx_get(p, &r)); /* run again: the provider itself does not cache */
    RT_ASSERT_STR_EQ(r.creds->access_key, "AKIDPROC2");
    /* A non-zero exit: the status and the first line of stderr, never stdout. */
    setenv("AWS_PROFILE", "fails", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "exited with status 3: bad args: 1");
    RT_ASSERT_CONTAINS(r.err.msg, "profile fails");
    setenv("AWS_PROFILE", "missing", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECREDENTIALS);
    RT_ASSERT_CONTAINS(r.err.msg, "cannot run");
    /* Past the timeout the command is killed. */
    setenv("AWS_PROFILE", "slow", 1);
    uint64_t t0 = uv_hrtime();
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ETIMEDOUT);
    RT_ASSERT_CONTAINS(r.err.msg, "did not finish within 300 ms and was killed");
    RT_ASSERT((uv_hrtime() - t0) / 1000000 < 4000);
    setenv("AWS_PROFILE", "quote", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ECONFIG);
    RT_ASSERT_CONTAINS(r.err.msg, "unterminated");
    fx_result_cleanup(&r);
    fx_finish(p);
    const char *log = fx_log_text();
    RT_ASSERT_CONTAINS(log, "source=process");
    RT_ASSERT(strstr(log, "Wq7u") == NULL);
    RT_ASSERT(strstr(log, "two words") == NULL); /* arguments are never logged */
}
