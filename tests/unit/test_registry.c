/*
 * test_registry.c - the driver registry: a driver the config names but this program does not
 * build is refused with file:line:col and the key; the built ones are made through the table and
 * are the drivers the config names.
 */
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/notify.h"
#include "retraind/params.h"
#include "retraind/registry.h"
#include "retraind/review.h"
#include "retraind/store.h"
#include "rt_test.h"

static struct rt_config *load(const char *yaml)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_config_load_string(yaml, strlen(yaml), "t.yaml", rt_test_tmpdir(), &cfg, &err) != 0)
        RT_FAIL("config: %s", err.msg);
    return cfg;
}

/* Every driver name the config accepts is built: a config that names one never meets "not
 * built" (the registry's refusal stays for drivers added to the config before their code). */
RT_TEST(every_driver_the_config_knows_is_built)
{
    static const enum rt_driver_family families[] = {
        RT_FAMILY_STORE, RT_FAMILY_PARAMS, RT_FAMILY_ENGINE, RT_FAMILY_REVIEW, RT_FAMILY_NOTIFY};
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        char names[256];
        rt_registry_names(families[f], names, sizeof(names));
        int known = 0;
        for (int v = 0; v < 16; v++) {
            const char *name = rt_config_driver_name(families[f], v);
            if (!name)
                continue;
            known++;
            if (!strstr(names, name))
                RT_FAIL("%s driver %s is not built (built: %s)", rt_config_family_key(families[f]),
                        name, names);
        }
        RT_ASSERT(known >= 2);
    }
}

RT_TEST(built_drivers_pass_the_check)
{
    struct rt_config *cfg =
        load("data_dir: d\nstore: {driver: local, root: b}\n"
             "parameters: {driver: ssm}\n"
             "notify: [{driver: log}, {driver: smtp, url: 'smtp://127.0.0.1:1', from: a@b, "
             "to: c@d}, {driver: sns, topic_arn: 'arn:aws:sns:us-east-1:1:t'}]\n");
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_registry_check(cfg, &err));
    char names[128];
    rt_registry_names(RT_FAMILY_NOTIFY, names, sizeof(names));
    RT_ASSERT_STR_EQ(names, "log, smtp, sns");
    rt_config_destroy(cfg);
    cfg = load("data_dir: d\nstore: {driver: local, root: b}\n"
               "engine: {driver: rekognition, project: p}\n");
    RT_ASSERT_OK(rt_registry_check(cfg, &err));
    rt_registry_names(RT_FAMILY_ENGINE, names, sizeof(names));
    RT_ASSERT_STR_EQ(names, "builtin, rekognition");
    rt_config_destroy(cfg);
}

static void closed(void *ud)
{
    (*(int *)ud)++;
}

/* store: {driver: s3}: the row builds the s3 store on a lazily made AWS client; nothing is sent
 * until an operation, and closing the store and the env frees everything. */
RT_TEST(makes_the_s3_store)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/data\nstore: {driver: s3, bucket: my-bucket, path_style: true}\n"
             "aws: {region: eu-west-1, endpoints: {s3: 'http://127.0.0.1:9'}}\n",
             rt_test_tmpdir());
    struct rt_config *cfg = load(yaml);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_registry_check(cfg, &err));
    char names[128];
    rt_registry_names(RT_FAMILY_STORE, names, sizeof(names));
    RT_ASSERT_STR_EQ(names, "local, s3");
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_driver_env env = {.loop = &loop, .cfg = cfg, .read_only = true};
    struct rt_store *s = NULL;
    RT_ASSERT_OK(rt_registry_new_store(&env, &s, &err));
    RT_ASSERT_STR_EQ(s->ops->name, "s3");
    RT_ASSERT_STR_EQ(s->bucket_name, "my-bucket");
    RT_ASSERT(s->ops->watch == NULL);
    RT_ASSERT(env.aws != NULL && env.httpc != NULL && env.creds != NULL);
    int n = 0;
    s->ops->close(s, closed, &n);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(n, 1);
    rt_driver_env_close(&env, closed, &n);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(n, 2);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_config_destroy(cfg);
}

/* The drivers made are the ones named, and a read-only store creates nothing. */
RT_TEST(makes_the_named_drivers)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/data\nstore: {driver: local, root: %s/bucket}\n"
             "notify: [{driver: log}]\n",
             rt_test_tmpdir(), rt_test_tmpdir());
    struct rt_config *cfg = load(yaml);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_driver_env env = {.loop = &loop, .cfg = cfg, .read_only = true};
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store *s = NULL;
    RT_ASSERT_OK(rt_registry_new_store(&env, &s, &err));
    RT_ASSERT_STR_EQ(s->ops->name, "local");
    char bucket[600];
    snprintf(bucket, sizeof(bucket), "%s/bucket", rt_test_tmpdir());
    struct stat st;
    RT_ASSERT(stat(bucket, &st) != 0); /* read-only: nothing created */
    struct rt_params *p = NULL;
    RT_ASSERT_OK(rt_registry_new_params(&env, &p, &err));
    RT_ASSERT_STR_EQ(p->ops->name, "local");
    struct rt_notifier *n = NULL;
    RT_ASSERT_OK(rt_registry_new_notifier(&env, 0, &n, &err));
    RT_ASSERT_STR_EQ(n->ops->name, "log");
    RT_ASSERT(rt_registry_new_notifier(&env, 1, &n, &err) != 0);
    struct rt_engine *e = NULL;
    int64_t poll = 0;
    RT_ASSERT(rt_registry_new_engine(&env, &e, &poll, &err) != 0); /* no store in env yet */
    int done = 0;
    s->ops->close(s, closed, &done);
    p->ops->close(p, closed, &done);
    n->ops->close(n, closed, &done);
    rt_driver_env_close(&env, closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(done, 4);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_config_destroy(cfg);
}

/* review a2i: the row builds the driver on the env's AWS client (default credential chain, the
 * config's region) and rt_driver_env_close closes the client, the chain and the HTTP client. */
RT_TEST(makes_the_a2i_review_driver)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/data\nstore: {driver: local, root: %s/bucket}\n"
             "review: {driver: a2i, flow_definition: retraind-flow, poll: 2s}\n"
             "aws: {region: us-east-1}\nnotify: [{driver: log}]\n",
             rt_test_tmpdir(), rt_test_tmpdir());
    struct rt_config *cfg = load(yaml);
    RT_ASSERT_INT_EQ(cfg->review.driver, RT_REVIEW_A2I);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_driver_env env = {.loop = &loop, .cfg = cfg};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_registry_check(cfg, &err));
    struct rt_store *s = NULL;
    RT_ASSERT_OK(rt_registry_new_store(&env, &s, &err));
    env.store = s;
    struct rt_review *r = NULL;
    RT_ASSERT_OK(rt_registry_new_review(&env, &r, &err));
    RT_ASSERT_STR_EQ(r->ops->name, "a2i");
    RT_ASSERT(env.aws != NULL && env.creds != NULL && env.httpc != NULL);
    int done = 0;
    r->ops->close(r, closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    s->ops->close(s, closed, &done);
    rt_driver_env_close(&env, closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(done, 3);
    RT_ASSERT(env.aws == NULL && env.creds == NULL && env.httpc == NULL);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_config_destroy(cfg);
}
