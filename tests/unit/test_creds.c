/*
 * test_creds.c - the credential providers that need no server: environment, static keys,
 * profile files (credentials and config, named and default, nested blocks, region), the chain's
 * order between them and its "nothing found" message, the container URI rules, the parsers
 * (ISO-8601 times, the credentials JSON, the STS XML), and that no secret reaches the log.
 * The network sources against the local aws-twin server are in test_creds_twin.c.
 */
#include "../../src/aws/creds_int.h"
#include "creds_fixture.h"

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
                       "source_profile = default\n");
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
    /* source_profile needs signed STS AssumeRole: said plainly, not skipped. */
    setenv("AWS_PROFILE", "roled", 1);
    RT_ASSERT_INT_EQ(fx_get(p, &r), RT_ENOTIMPL);
    RT_ASSERT_CONTAINS(r.err.msg, "source_profile");
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

RT_TEST(parse_xml_text)
{
    const char *x = "<R><Credentials>\n  <SecretAccessKey> a&amp;b&lt;c </SecretAccessKey>"
                    "<Code>X</Code></Credentials></R>";
    char *v = rt__creds_xml_text(x, strlen(x), "SecretAccessKey");
    RT_ASSERT_STR_EQ(v, "a&b<c");
    rt_free(v);
    RT_ASSERT(rt__creds_xml_text(x, strlen(x), "Missing") == NULL);
    /* An unterminated element is absent, not read past the end. */
    RT_ASSERT(rt__creds_xml_text("<Code>abc", 9, "Code") == NULL);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
