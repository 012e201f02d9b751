/*
 * test_registry.c - the driver registry: a driver the config names but this program does not
 * build is refused with file:line:col and the key; the built ones are made through the table and
 * are the drivers the config names.
 */
#include <dirent.h>
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
#include "retraind/store.h"
#include "rt_test.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        RT_FAIL("cannot open %s", path);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static struct rt_config *load(const char *yaml)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_config_load_string(yaml, strlen(yaml), "t.yaml", rt_test_tmpdir(), &cfg, &err) != 0)
        RT_FAIL("config: %s", err.msg);
    return cfg;
}

/* tests/data/registry/not_built_*.yaml loads as config and is refused by the registry with the
 * message in the .err beside it. */
RT_TEST(not_built_drivers_refused_with_position)
{
    DIR *d = opendir(RT_REGISTRY_DATA_DIR);
    RT_ASSERT(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[PATH_MAX], errpath[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", RT_REGISTRY_DATA_DIR, de->d_name);
        snprintf(errpath, sizeof(errpath), "%.*s.err", (int)(strlen(path) - 5), path);
        size_t ylen, elen;
        char *yaml = read_all(path, &ylen);
        char *want = read_all(errpath, &elen);
        while (elen && (want[elen - 1] == '\n' || want[elen - 1] == '\r'))
            want[--elen] = '\0';
        struct rt_config *cfg = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        if (rt_config_load_string(yaml, ylen, de->d_name, "/base", &cfg, &err) != 0)
            RT_FAIL("%s: the config itself should load: %s", de->d_name, err.msg);
        rt_error_clear(&err);
        RT_ASSERT_INT_EQ(rt_registry_check(cfg, &err), RT_ECONFIG);
        char got[1024];
        rt_error_format(&err, got, sizeof(got));
        if (strcmp(got, want) != 0)
            RT_FAIL("%s:\n  got:  %s\n  want: %s", de->d_name, got, want);
        rt_config_destroy(cfg);
        free(yaml);
        free(want);
        n++;
    }
    closedir(d);
    RT_ASSERT(n >= 1); /* one file per driver not built yet */
}

RT_TEST(built_drivers_pass_the_check)
{
    struct rt_config *cfg =
        load("data_dir: d\nstore: {driver: local, root: b}\n"
             "notify: [{driver: log}, {driver: smtp, url: 'smtp://127.0.0.1:1', from: a@b, "
             "to: c@d}]\n");
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_registry_check(cfg, &err));
    char names[128];
    rt_registry_names(RT_FAMILY_NOTIFY, names, sizeof(names));
    RT_ASSERT_STR_EQ(names, "log, smtp");
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
