/*
 * test_config.c - the config parser: the table of cases in tests/data/config/, defaults, values,
 * paths, ${VAR}, drivers not built yet, secrets kept out of messages, limits, allocation failure.
 *
 * tests/data/config/good_*.yaml must load; each bad_*.yaml must fail with exactly the message in
 * bad_*.err beside it ("file:line:col: message", file being the case's base name).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/error.h"
#include "rt_test.h"

#ifndef RT_CONFIG_DATA_DIR
#error "RT_CONFIG_DATA_DIR must be defined by tests/unit/config.cmake"
#endif

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        RT_FAIL("cannot open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists RT_CONFIG_DATA_DIR entries starting with prefix and ending in ".yaml", sorted. */
static int list_cases(const char *prefix, char ***out)
{
    DIR *d = opendir(RT_CONFIG_DATA_DIR);
    if (!d)
        RT_FAIL("cannot open %s", RT_CONFIG_DATA_DIR);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 5 ||
            strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        names = realloc(names, sizeof(char *) * (size_t)(n + 1));
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_names);
    *out = names;
    return n;
}

/* Loads yaml from a string with name "t.yaml" and base folder /base/dir. */
static int load(const char *yaml, struct rt_config **cfg, struct rt_error *err)
{
    rt_error_clear(err);
    return rt_config_load_string(yaml, strlen(yaml), "t.yaml", "/base/dir", cfg, err);
}

static const char *fmt_err(const struct rt_error *err)
{
    static char out[1024];
    return rt_error_format(err, out, sizeof(out));
}

static struct rt_config *load_ok(const char *yaml)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    int rc = load(yaml, &cfg, &err);
    if (rc != 0)
        RT_FAIL("load failed: %s", fmt_err(&err));
    RT_ASSERT(cfg != NULL);
    return cfg;
}

/* Loads yaml expecting RT_ECONFIG; returns the formatted message (static). */
static const char *load_bad(const char *yaml)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    int rc = load(yaml, &cfg, &err);
    if (rc == 0)
        RT_FAIL("load unexpectedly succeeded:\n%s", yaml);
    RT_ASSERT_INT_EQ(rc, RT_ECONFIG);
    RT_ASSERT(cfg == NULL);
    RT_ASSERT_STR_EQ(err.file, "t.yaml");
    RT_ASSERT(err.line >= 1 && err.col >= 1);
    return fmt_err(&err);
}

#define MIN_YAML "data_dir: ./data\nstore:\n  driver: local\n  root: ./bucket\n"

RT_TEST(cases_bad_match_expected_messages)
{
    char **names;
    int n = list_cases("bad_", &names);
    long live = rt_alloc_live();
    RT_ASSERT(n >= 60); /* the table is there and was found */
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], errpath[PATH_MAX];
        size_t len, elen;
        snprintf(path, sizeof(path), "%s/%s", RT_CONFIG_DATA_DIR, names[i]);
        snprintf(errpath, sizeof(errpath), "%.*s.err", (int)(strlen(path) - 5), path);
        char *yaml = read_all(path, &len);
        char *want = read_all(errpath, &elen);
        while (elen > 0 && (want[elen - 1] == '\n' || want[elen - 1] == '\r'))
            want[--elen] = '\0';
        struct rt_config *cfg = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_config_load_string(yaml, len, names[i], "/base", &cfg, &err);
        if (rc != RT_ECONFIG || cfg != NULL)
            RT_FAIL("%s: expected RT_ECONFIG, got %d (%s)", names[i], rc, rt_err_name(rc));
        const char *got = fmt_err(&err);
        if (strcmp(got, want) != 0)
            RT_FAIL("%s:\n  got:  %s\n  want: %s", names[i], got, want);
        RT_ASSERT_STR_EQ(err.file, names[i]);
        RT_ASSERT(err.line >= 1 && err.col >= 1);
        free(yaml);
        free(want);
        free(names[i]);
    }
    free(names);
    RT_ASSERT_INT_EQ(rt_alloc_live(), live);
}

RT_TEST(cases_good_load)
{
    char **names;
    int n = list_cases("good_", &names);
    long live = rt_alloc_live();
    RT_ASSERT(n >= 5);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", RT_CONFIG_DATA_DIR, names[i]);
        char *yaml = read_all(path, &len);
        struct rt_config *cfg = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_config_load_string(yaml, len, names[i], "/base", &cfg, &err);
        if (rc != 0)
            RT_FAIL("%s: %s", names[i], fmt_err(&err));
        RT_ASSERT(cfg->data_dir && cfg->data_dir[0] == '/');
        RT_ASSERT(cfg->store.root && cfg->store.root[0] == '/');
        rt_config_destroy(cfg);
        free(yaml);
        free(names[i]);
    }
    free(names);
    RT_ASSERT_INT_EQ(rt_alloc_live(), live);
}

RT_TEST(shipped_configs_pass)
{
    char src[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 32];
    RT_ASSERT(realpath(RT_SOURCE_DIR, src) != NULL);
    struct rt_config *cfg = NULL;
    struct rt_error err;

    snprintf(path, sizeof(path), "%s/config/local.yaml", src);
    rt_error_clear(&err);
    if (rt_config_load(path, &cfg, &err) != 0)
        RT_FAIL("%s", fmt_err(&err));
    snprintf(want, sizeof(want), "%s/var/data", src);
    RT_ASSERT_STR_EQ(cfg->data_dir, want);
    snprintf(want, sizeof(want), "%s/var/bucket", src);
    RT_ASSERT_STR_EQ(cfg->store.root, want);
    RT_ASSERT_STR_EQ(cfg->path, path);
    RT_ASSERT_STR_EQ(cfg->http.listen_host, "127.0.0.1");
    RT_ASSERT_INT_EQ(cfg->http.listen_port, 8080);
    RT_ASSERT_INT_EQ(cfg->n_notify, 1);
    RT_ASSERT_INT_EQ(cfg->notify[0].driver, RT_NOTIFY_LOG);
    RT_ASSERT_INT_EQ(cfg->store.driver, RT_STORE_LOCAL);
    RT_ASSERT_INT_EQ(cfg->engine.driver, RT_ENGINE_BUILTIN);
    rt_config_destroy(cfg);

    snprintf(path, sizeof(path), "%s/config/retraind.yaml", src);
    rt_error_clear(&err);
    if (rt_config_load(path, &cfg, &err) != 0)
        RT_FAIL("%s", fmt_err(&err));
    RT_ASSERT_STR_EQ(cfg->data_dir, "/var/lib/retraind");
    /* The reference's active values are the defaults. */
    struct rt_param_set defs;
    rt_param_set_defaults(&defs);
    for (int i = 0; i < RT_P_COUNT; i++) {
        RT_ASSERT(cfg->parameters.default_set[i]);
        RT_ASSERT_STR_EQ(cfg->parameters.defaults.v[i].text, defs.v[i].text);
    }
    RT_ASSERT_INT_EQ(cfg->detection.concurrency, 8);
    RT_ASSERT_INT_EQ(cfg->detection.results_flush_ms, 60000);
    rt_config_destroy(cfg);
}

/* Replaces every "from" in text (malloc'd) with "to"; returns a new malloc'd string. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(text, from); p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    const char *p = text, *q;
    while ((q = strstr(p, from)) != NULL) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    strcpy(o, p);
    return out;
}

RT_TEST(shipped_aws_config_refuses_placeholders_and_loads_once_filled)
{
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof(path), "%s/config/aws.yaml", RT_SOURCE_DIR);
    char *text = read_all(path, &len);
    /* As shipped, the first placeholder stops it, with its line. */
    RT_ASSERT_CONTAINS(load_bad(text), "REPLACE_ME");
    char *a = replace_all(text, "REPLACE_ME-region", "eu-west-1");
    char *b = replace_all(a, "REPLACE_ME-account", "123456789012");
    char *c = replace_all(b, "REPLACE_ME-bucket", "acme-images");
    char *filled = replace_all(c, "REPLACE_ME", "team");
    RT_ASSERT(strstr(filled, "REPLACE_ME") == NULL);
    struct rt_config *cfg = load_ok(filled);
    /* Every AWS driver at once, as docs/aws.md describes it. */
    RT_ASSERT_INT_EQ(cfg->store.driver, RT_STORE_S3);
    RT_ASSERT_STR_EQ(cfg->store.bucket, "acme-images");
    RT_ASSERT_INT_EQ(cfg->parameters.driver, RT_PARAMS_SSM);
    RT_ASSERT_INT_EQ(cfg->engine.driver, RT_ENGINE_REKOGNITION);
    RT_ASSERT_INT_EQ(cfg->engine.idle_stop_ms, 30 * 60000);
    RT_ASSERT_INT_EQ(cfg->review.driver, RT_REVIEW_A2I);
    RT_ASSERT_STR_EQ(cfg->review.role_arn, "arn:aws:iam::123456789012:role/team-a2i");
    RT_ASSERT_INT_EQ(cfg->n_notify, 2);
    RT_ASSERT_INT_EQ(cfg->notify[1].driver, RT_NOTIFY_SNS);
    RT_ASSERT_STR_EQ(cfg->aws.region, "eu-west-1");
    rt_config_destroy(cfg);
    free(filled);
    free(c);
    free(b);
    free(a);
    free(text);
}

RT_TEST(shipped_reference_mentions_every_key)
{
    /* The reference documents every key of the schema, each at least in a comment. */
    static const char *const keys[] = {"data_dir:",
                                       "store:",
                                       "driver:",
                                       "root:",
                                       "name:",
                                       "bucket:",
                                       "path_style:",
                                       "scan:",
                                       "prefixes:",
                                       "labeled:",
                                       "detection:",
                                       "results:",
                                       "manifests:",
                                       "evaluation:",
                                       "human_loop:",
                                       "unlabeled:",
                                       "parameters:",
                                       "path:",
                                       "defaults:",
                                       "engine:",
                                       "project:",
                                       "status_poll:",
                                       "training_threads:",
                                       "review:",
                                       "workers_per_image:",
                                       "users:",
                                       "password_hash:",
                                       "role:",
                                       "tokens:",
                                       "token_sha256:",
                                       "flow_definition:",
                                       "workteam_arn:",
                                       "role_arn:",
                                       "poll:",
                                       "notify:",
                                       "url:",
                                       "from:",
                                       "to:",
                                       "username:",
                                       "password:",
                                       "starttls:",
                                       "ca_file:",
                                       "topic_arn:",
                                       "http:",
                                       "listen:",
                                       "concurrency:",
                                       "results_flush:",
                                       "aws:",
                                       "region:",
                                       "profile:",
                                       "max_attempts:",
                                       "endpoints:",
                                       "s3:",
                                       "rekognition:",
                                       "sagemaker:",
                                       "a2i:",
                                       "ssm:",
                                       "sns:",
                                       "sts:",
                                       "log:",
                                       "level:"};
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof(path), "%s/config/retraind.yaml", RT_SOURCE_DIR);
    char *text = read_all(path, &len);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        RT_ASSERT_CONTAINS(text, keys[i]);
    free(text);
}

RT_TEST(defaults_filled)
{
    struct rt_config *cfg = load_ok(MIN_YAML);
    RT_ASSERT_STR_EQ(cfg->path, "t.yaml");
    RT_ASSERT_STR_EQ(cfg->data_dir, "/base/dir/data");
    RT_ASSERT_STR_EQ(cfg->log_level, "notice");
    RT_ASSERT_INT_EQ(cfg->store.driver, RT_STORE_LOCAL);
    RT_ASSERT_STR_EQ(cfg->store.root, "/base/dir/bucket");
    RT_ASSERT_STR_EQ(cfg->store.name, "local");
    RT_ASSERT(cfg->store.bucket == NULL);
    RT_ASSERT(!cfg->store.path_style);
    RT_ASSERT_INT_EQ(cfg->store.scan_ms, 10000);
    RT_ASSERT_STR_EQ(cfg->store.prefixes.labeled, "images_labeled_by_folder/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.detection, "images_for_detection/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.results, "detection-results/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.manifests, "manifests/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.evaluation, "evaluation/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.human_loop, "a2i-human-loop-data/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.unlabeled, "unlabeled/");
    RT_ASSERT_INT_EQ(cfg->parameters.driver, RT_PARAMS_LOCAL);
    RT_ASSERT_STR_EQ(cfg->parameters.path, "/retraind/");
    struct rt_param_set defs;
    rt_param_set_defaults(&defs);
    for (int i = 0; i < RT_P_COUNT; i++) {
        RT_ASSERT(!cfg->parameters.default_set[i]);
        RT_ASSERT_STR_EQ(cfg->parameters.defaults.v[i].text, defs.v[i].text);
    }
    RT_ASSERT_INT_EQ(cfg->engine.driver, RT_ENGINE_BUILTIN);
    RT_ASSERT(cfg->engine.project == NULL);
    RT_ASSERT_INT_EQ(cfg->engine.status_poll_ms, 60000);
    RT_ASSERT_INT_EQ(cfg->engine.training_threads, 0);
    RT_ASSERT_INT_EQ(cfg->review.driver, RT_REVIEW_LOCAL);
    RT_ASSERT_INT_EQ(cfg->review.workers_per_image, 1);
    RT_ASSERT_INT_EQ(cfg->review.n_users, 0);
    RT_ASSERT_INT_EQ(cfg->review.poll_ms, 30000);
    RT_ASSERT_INT_EQ(cfg->n_notify, 1);
    RT_ASSERT_INT_EQ(cfg->notify[0].driver, RT_NOTIFY_LOG);
    RT_ASSERT(cfg->notify[0].starttls);
    RT_ASSERT_STR_EQ(cfg->http.listen_host, "127.0.0.1");
    RT_ASSERT_INT_EQ(cfg->http.listen_port, 8080);
    RT_ASSERT_INT_EQ(cfg->detection.concurrency, 8);
    RT_ASSERT_INT_EQ(cfg->detection.results_flush_ms, 60000);
    RT_ASSERT(cfg->aws.region == NULL && cfg->aws.profile == NULL && cfg->aws.ca_file == NULL);
    RT_ASSERT_INT_EQ(cfg->aws.max_attempts, 3);
    RT_ASSERT(cfg->aws.endpoints.s3 == NULL && cfg->aws.endpoints.sts == NULL);
    rt_config_destroy(cfg);
}

RT_TEST(every_value_read)
{
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof(path), "%s/good_full.yaml", RT_CONFIG_DATA_DIR);
    char *yaml = read_all(path, &len);
    struct rt_config *cfg = load_ok(yaml);
    free(yaml);
    RT_ASSERT_STR_EQ(cfg->data_dir, "/srv/retraind/data");
    RT_ASSERT_STR_EQ(cfg->store.root, "/base/dir/bucket2");
    RT_ASSERT_STR_EQ(cfg->store.name, "my-store");
    RT_ASSERT_STR_EQ(cfg->store.bucket, "unused-bucket");
    RT_ASSERT(cfg->store.path_style);
    RT_ASSERT_INT_EQ(cfg->store.scan_ms, 1500);
    RT_ASSERT_STR_EQ(cfg->store.prefixes.labeled, "train/labeled/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.detection, "incoming/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.results, "out/results/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.manifests, "out/manifests/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.evaluation, "out/eval/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.human_loop, "out/human/");
    RT_ASSERT_STR_EQ(cfg->store.prefixes.unlabeled, "todo/");
    RT_ASSERT_STR_EQ(cfg->parameters.path, "/other/path/");
    RT_ASSERT_INT_EQ(cfg->engine.status_poll_ms, 120000);
    RT_ASSERT_INT_EQ(cfg->engine.training_threads, 2);
    RT_ASSERT_STR_EQ(cfg->engine.project, "unused");
    RT_ASSERT_INT_EQ(cfg->review.workers_per_image, 3);
    RT_ASSERT_INT_EQ(cfg->review.n_users, 2);
    RT_ASSERT_STR_EQ(cfg->review.users[0].name, "alice");
    RT_ASSERT_STR_EQ(cfg->review.users[0].password_hash,
                     "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA");
    RT_ASSERT_STR_EQ(cfg->review.users[1].password_hash, "$$literal"); /* only $${ is special */
    RT_ASSERT_INT_EQ(cfg->review.users[0].role, RT_ROLE_ADMIN);
    RT_ASSERT_INT_EQ(cfg->review.users[1].role, RT_ROLE_REVIEWER); /* the default */
    RT_ASSERT_INT_EQ(cfg->http.n_tokens, 1);
    RT_ASSERT_STR_EQ(cfg->http.tokens[0].name, "ci-bot");
    RT_ASSERT_INT_EQ(cfg->http.tokens[0].role, RT_ROLE_ADMIN);
    RT_ASSERT_STR_EQ(cfg->http.tokens[0].token_sha256,
                     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    RT_ASSERT_STR_EQ(cfg->review.flow_definition, "flow");
    RT_ASSERT_STR_EQ(cfg->review.workteam_arn,
                     "arn:aws:sagemaker:us-east-1:1:workteam/private-crowd/w");
    RT_ASSERT_STR_EQ(cfg->review.role_arn, "arn:aws:iam::1:role/r");
    RT_ASSERT_INT_EQ(cfg->review.poll_ms, 3600000);
    RT_ASSERT_INT_EQ(cfg->n_notify, 2);
    RT_ASSERT_INT_EQ(cfg->notify[0].driver, RT_NOTIFY_LOG);
    const struct rt_config_notify *m = &cfg->notify[1];
    RT_ASSERT_INT_EQ(m->driver, RT_NOTIFY_SMTP);
    RT_ASSERT_STR_EQ(m->url, "smtps://mail.example.com:465");
    RT_ASSERT_STR_EQ(m->from, "retraind@example.com");
    RT_ASSERT_INT_EQ(m->n_to, 1);
    RT_ASSERT_STR_EQ(m->to[0], "ops@example.com");
    RT_ASSERT_STR_EQ(m->username, "user");
    RT_ASSERT_STR_EQ(m->password, "secret-password");
    RT_ASSERT(!m->starttls);
    RT_ASSERT_STR_EQ(m->ca_file, "/base/certs/ca.pem");
    RT_ASSERT_STR_EQ(cfg->http.listen_host, "::1");
    RT_ASSERT_INT_EQ(cfg->http.listen_port, 9090);
    RT_ASSERT_INT_EQ(cfg->detection.concurrency, 64);
    RT_ASSERT_INT_EQ(cfg->detection.results_flush_ms, 2 * 3600000);
    RT_ASSERT_STR_EQ(cfg->aws.region, "eu-west-3");
    RT_ASSERT_STR_EQ(cfg->aws.profile, "prod");
    RT_ASSERT_STR_EQ(cfg->aws.ca_file, "/etc/ssl/ca.pem");
    RT_ASSERT_INT_EQ(cfg->aws.max_attempts, 10);
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.s3, "http://127.0.0.1:4569");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.rekognition, "https://rekognition.example");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.sagemaker, "https://sagemaker.example");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.a2i, "https://a2i-runtime.example");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.ssm, "https://ssm.example");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.sns, "https://sns.example");
    RT_ASSERT_STR_EQ(cfg->aws.endpoints.sts, "https://sts.example");
    RT_ASSERT_STR_EQ(cfg->log_level, "debug");
    rt_config_destroy(cfg);
}

RT_TEST(parameters_defaults_applied)
{
    struct rt_config *cfg = load_ok(MIN_YAML "parameters:\n  defaults:\n"
                                             "    Minimum-Untrained-Images: 4\n"
                                             "    Automatic-Training-Poll-Frequency: 2s\n"
                                             "    Minimum-F1-Score: 0.25\n"
                                             "    Enable-Automatic-Training: false\n");
    const struct rt_param_value *v = cfg->parameters.defaults.v;
    RT_ASSERT(cfg->parameters.default_set[RT_P_MIN_UNTRAINED]);
    RT_ASSERT_INT_EQ(v[RT_P_MIN_UNTRAINED].i, 4);
    RT_ASSERT(cfg->parameters.default_set[RT_P_TRAINING_POLL]);
    RT_ASSERT_INT_EQ(v[RT_P_TRAINING_POLL].ms, 2000);
    RT_ASSERT(v[RT_P_TRAINING_POLL].has_unit);
    RT_ASSERT(v[RT_P_MIN_F1].f > 0.2499 && v[RT_P_MIN_F1].f < 0.2501);
    RT_ASSERT(!v[RT_P_ENABLE_TRAINING].b);
    /* The ones not written keep the table's defaults and are not marked as set. */
    RT_ASSERT(!cfg->parameters.default_set[RT_P_SAMPLING_INTERVAL]);
    RT_ASSERT_INT_EQ(v[RT_P_SAMPLING_INTERVAL].i, 10);
    RT_ASSERT(!cfg->parameters.default_set[RT_P_MIN_CONFIDENCE]);
    RT_ASSERT(v[RT_P_MIN_CONFIDENCE].f > 69.9 && v[RT_P_MIN_CONFIDENCE].f < 70.1);
    rt_config_destroy(cfg);

    RT_ASSERT_STR_EQ(
        load_bad(MIN_YAML "parameters:\n  defaults:\n    Minimum-Inference-Units: 0\n"),
        "t.yaml:7:30: parameters.defaults.Minimum-Inference-Units: 0 is out of range (1..1000)");
}

RT_TEST(relative_paths_resolved)
{
    struct rt_config *cfg = load_ok("data_dir: ../up/./data//x/\nstore: {driver: local, root: "
                                    "bucket}\naws: {ca_file: /abs/../ca.pem}\n");
    RT_ASSERT_STR_EQ(cfg->data_dir, "/base/up/data/x");
    RT_ASSERT_STR_EQ(cfg->store.root, "/base/dir/bucket");
    RT_ASSERT_STR_EQ(cfg->aws.ca_file, "/ca.pem");
    rt_config_destroy(cfg);

    /* From a file: relative to the file's folder, wherever the process runs. */
    char dir[PATH_MAX], path[PATH_MAX + 16], want[PATH_MAX + 16];
    RT_ASSERT(realpath(rt_test_tmpdir(), dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(MIN_YAML, f);
    fclose(f);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(chdir("/"));
    if (rt_config_load(path, &cfg, &err) != 0)
        RT_FAIL("%s", fmt_err(&err));
    snprintf(want, sizeof(want), "%s/data", dir);
    RT_ASSERT_STR_EQ(cfg->data_dir, want);
    snprintf(want, sizeof(want), "%s/bucket", dir);
    RT_ASSERT_STR_EQ(cfg->store.root, want);
    rt_config_destroy(cfg);

    /* A relative file name with no folder part: relative to the working folder. */
    RT_ASSERT_OK(chdir(dir));
    rt_error_clear(&err);
    if (rt_config_load("c.yaml", &cfg, &err) != 0)
        RT_FAIL("%s", fmt_err(&err));
    snprintf(want, sizeof(want), "%s/data", dir);
    RT_ASSERT_STR_EQ(cfg->data_dir, want);
    RT_ASSERT_STR_EQ(cfg->path, "c.yaml");
    rt_config_destroy(cfg);
}

RT_TEST(env_expansion)
{
    setenv("RT_CFG_TEST_ROOT", "/srv/x", 1);
    setenv("RT_CFG_TEST_N", "12", 1);
    setenv("RT_CFG_TEST_EMPTY", "", 1);
    struct rt_config *cfg = load_ok("data_dir: ${RT_CFG_TEST_ROOT}/data${RT_CFG_TEST_EMPTY}\n"
                                    "store: {driver: local, root: \"${RT_CFG_TEST_ROOT}\"}\n"
                                    "detection: {concurrency: \"${RT_CFG_TEST_N}\"}\n"
                                    "aws: {profile: 'a$${RT_CFG_TEST_N}b$c$'}\n");
    RT_ASSERT_STR_EQ(cfg->data_dir, "/srv/x/data");
    RT_ASSERT_STR_EQ(cfg->store.root, "/srv/x");
    RT_ASSERT_INT_EQ(cfg->detection.concurrency, 12);
    RT_ASSERT_STR_EQ(cfg->aws.profile, "a${RT_CFG_TEST_N}b$c$");
    rt_config_destroy(cfg);

    /* Expansion happens before type checks, so the value's type is checked after. */
    setenv("RT_CFG_TEST_N", "100", 1);
    RT_ASSERT_STR_EQ(load_bad(MIN_YAML "detection: {concurrency: \"${RT_CFG_TEST_N}\"}\n"),
                     "t.yaml:5:26: detection.concurrency: 100 is out of range (1..64)");
    unsetenv("RT_CFG_TEST_GONE");
    RT_ASSERT_STR_EQ(load_bad(MIN_YAML "aws:\n  region: ${RT_CFG_TEST_GONE}\n"),
                     "t.yaml:6:11: aws.region: environment variable RT_CFG_TEST_GONE is not set");
    RT_ASSERT_STR_EQ(load_bad(MIN_YAML "notify:\n  - driver: smtp\n    url: smtp://h:25\n"
                                       "    from: a@b\n    to: [x@y, \"${RT_CFG_TEST_GONE}\"]\n"),
                     "t.yaml:9:15: notify[0].to[1]: environment variable RT_CFG_TEST_GONE is "
                     "not set");
}

/* Every driver name of DESIGN.md is valid config: whether it is built is the registry's call
 * (test_registry.c), which the recorded position lets name file:line:col. */
RT_TEST(known_driver_names_load_with_their_position)
{
    struct rt_config *cfg = load_ok("data_dir: d\nstore: {driver: s3, bucket: bbb}\n"
                                    "engine:\n  driver: rekognition\n  project: p\n");
    RT_ASSERT_INT_EQ(cfg->store.driver, RT_STORE_S3);
    RT_ASSERT_INT_EQ(cfg->store.driver_pos.line, 2);
    RT_ASSERT_INT_EQ(cfg->store.driver_pos.col, 17);
    RT_ASSERT_INT_EQ(cfg->engine.driver, RT_ENGINE_REKOGNITION);
    RT_ASSERT_INT_EQ(cfg->engine.driver_pos.line, 4);
    RT_ASSERT_INT_EQ(cfg->parameters.driver, RT_PARAMS_LOCAL);
    RT_ASSERT_INT_EQ(cfg->parameters.driver_pos.line, 0); /* the default: no position */
    RT_ASSERT_STR_EQ(rt_config_driver_name(RT_FAMILY_ENGINE, RT_ENGINE_REKOGNITION), "rekognition");
    rt_config_destroy(cfg);
    cfg = load_ok(MIN_YAML "notify: [{driver: smtp, url: 'smtp://127.0.0.1:1',"
                           " from: a@b, to: c@d}]\n");
    RT_ASSERT_INT_EQ(cfg->notify[0].driver, RT_NOTIFY_SMTP);
    RT_ASSERT_INT_EQ(cfg->notify[0].n_to, 1);
    rt_config_destroy(cfg);
}

RT_TEST(secrets_never_in_messages)
{
    static const char *const cases[] = {
        MIN_YAML "notify: [{driver: smtp, url: 'smtp://h:1', from: a@b, to: c@d, "
                 "password: \"hunter2-SECRET\\t\"}]\n",
        MIN_YAML "notify: [{driver: smtp, url: 'smtp://h:1', from: a@b, to: c@d, "
                 "password: [hunter2-SECRET]}]\n",
        MIN_YAML "notify: [{driver: smtp, url: 'smtp://h:1', from: a@b, to: c@d, "
                 "pasword: hunter2-SECRET}]\n",
        MIN_YAML "review: {users: [{name: a, password_hash: {x: hunter2-SECRET}}]}\n",
        MIN_YAML "review: {users: [{name: a, password_hash: \"hunter2-SECRET\\n\"}]}\n",
        MIN_YAML "review: {users: [{name: a, password_hash: ''}]}\nx: hunter2-SECRET\n",
        MIN_YAML "hunter2-SECRET-as-unknown: 1\n",
        "data_dir: d\nstore: {driver: local, root: r}\nnotify: [{driver: smtp, password: "
        "hunter2-SECRET, url: 'smtp://h:1', from: a@b}]\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt_config *cfg = NULL;
        struct rt_error err;
        int rc = load(cases[i], &cfg, &err);
        RT_ASSERT_INT_EQ(rc, RT_ECONFIG);
        /* The unknown key case names the key (that is the point), never a value. */
        if (i != 6 && strstr(err.msg, "hunter2"))
            RT_FAIL("case %zu leaks the secret: %s", i, err.msg);
    }
}

RT_TEST(duration_parse)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"500ms", 500},  {"1ms", 1},        {"30s", 30000}, {"10m", 600000},
              {"1h", 3600000}, {"2d", 172800000}, {"007s", 7000}};
    static const char *const bad[] = {"",
                                      "10",
                                      "0s",
                                      "-1s",
                                      "+1s",
                                      "1.5s",
                                      "1 s",
                                      "s",
                                      "1sec",
                                      "1S",
                                      "1w",
                                      "99999999999999999999ms",
                                      "106751991167301d",
                                      "1ms ",
                                      " 1ms"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = -1;
        RT_ASSERT_OK(rt_duration_parse_ms(ok[i].text, &ms));
        RT_ASSERT_INT_EQ(ms, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        if (rt_duration_parse_ms(bad[i], &ms) != RT_EINVAL)
            RT_FAIL("\"%s\" was accepted", bad[i]);
        RT_ASSERT_INT_EQ(ms, 42);
    }
    RT_ASSERT_INT_EQ(rt_duration_parse_ms(NULL, NULL), RT_EINVAL);
}

RT_TEST(listen_forms)
{
    struct rt_config *cfg = load_ok(MIN_YAML "http: {listen: '0.0.0.0:0'}\n");
    RT_ASSERT_STR_EQ(cfg->http.listen_host, "0.0.0.0");
    RT_ASSERT_INT_EQ(cfg->http.listen_port, 0);
    rt_config_destroy(cfg);
    cfg = load_ok(MIN_YAML "http: {listen: 'localhost:65535'}\n");
    RT_ASSERT_STR_EQ(cfg->http.listen_host, "localhost");
    RT_ASSERT_INT_EQ(cfg->http.listen_port, 65535);
    rt_config_destroy(cfg);
    RT_ASSERT_CONTAINS(load_bad(MIN_YAML "http: {listen: '::1:80'}\n"), "is not host:port");
    RT_ASSERT_CONTAINS(load_bad(MIN_YAML "http: {listen: ':80'}\n"), "is not host:port");
    RT_ASSERT_CONTAINS(load_bad(MIN_YAML "http: {listen: 'h:'}\n"), "is not host:port");
    RT_ASSERT_CONTAINS(load_bad(MIN_YAML "http: {listen: 'h:-1'}\n"), "is not host:port");
}

RT_TEST(notify_to_string_or_list)
{
    struct rt_config *cfg = load_ok(MIN_YAML "notify:\n  - {driver: smtp, url: 'smtp://h:25', "
                                             "from: a@b, to: [x@y, z@w]}\n  - {driver: log}\n");
    RT_ASSERT_INT_EQ(cfg->n_notify, 2);
    RT_ASSERT_INT_EQ(cfg->notify[0].n_to, 2);
    RT_ASSERT_STR_EQ(cfg->notify[0].to[1], "z@w");
    RT_ASSERT(cfg->notify[0].starttls);
    RT_ASSERT_INT_EQ(cfg->notify[1].driver, RT_NOTIFY_LOG);
    rt_config_destroy(cfg);
    RT_ASSERT_STR_EQ(load_bad(MIN_YAML "notify: [{driver: smtp, url: 'smtp://h:25', from: a@b, "
                                       "to: []}]\n"),
                     "t.yaml:5:60: notify[0].to: must not be an empty list");
}

RT_TEST(missing_file_and_not_regular)
{
    struct rt_config *cfg = (struct rt_config *)1;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_config_load("/nonexistent/retraind.yaml", &cfg, &err), -ENOENT);
    RT_ASSERT(cfg == NULL);
    RT_ASSERT_CONTAINS(err.msg, "/nonexistent/retraind.yaml");
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_config_load(rt_test_tmpdir(), &cfg, &err), RT_ECONFIG);
    RT_ASSERT_CONTAINS(err.msg, "not a regular file");
}

RT_TEST(size_cap)
{
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    memcpy(big, MIN_YAML, strlen(MIN_YAML));
    big[strlen(MIN_YAML)] = '\n';
    big[n] = '\0';
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_config_load_string(big, n, "big.yaml", "/", &cfg, &err), RT_ECONFIG);
    RT_ASSERT_STR_EQ(fmt_err(&err), "big.yaml:1:1: the file is larger than 1048576 bytes");

    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/big.yaml", rt_test_tmpdir());
    FILE *f = fopen(path, "w");
    fwrite(big, 1, n, f);
    fclose(f);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_config_load(path, &cfg, &err), RT_ECONFIG);
    RT_ASSERT_CONTAINS(fmt_err(&err), ":1:1: the file is larger than 1048576 bytes");
    /* Just under the cap is fine (comments). */
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_config_load_string(big, n - 1, "big.yaml", "/", &cfg, &err));
    rt_config_destroy(cfg);
    free(big);
}

RT_TEST(node_cap_and_alias_bomb)
{
    /* 70,000 values in one list: refused by count, quickly, without building them all. */
    struct rt_buf b;
    rt_buf_init(&b, 1 << 20);
    RT_ASSERT_OK(rt_buf_append_str(&b, MIN_YAML "x: ["));
    for (int i = 0; i < 70000; i++)
        RT_ASSERT_OK(rt_buf_append_str(&b, "1,"));
    RT_ASSERT_OK(rt_buf_append_str(&b, "1]\n"));
    RT_ASSERT_CONTAINS(load_bad(b.data), "the file has too many values (more than 65536)");
    rt_buf_cleanup(&b);

    /* A deep billion-laughs: refused at the first anchor. */
    rt_buf_init(&b, 1 << 20);
    RT_ASSERT_OK(rt_buf_append_str(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"));
    for (int i = 1; i < 30; i++) {
        RT_ASSERT_OK(rt_buf_printf(&b, "a%d: &a%d [", i, i));
        for (int k = 0; k < 10; k++)
            RT_ASSERT_OK(rt_buf_printf(&b, "*a%d%s", i - 1, k < 9 ? ", " : "]\n"));
    }
    RT_ASSERT_STR_EQ(load_bad(b.data),
                     "t.yaml:1:5: YAML anchors (&name) and aliases (*name) are not supported");
    rt_buf_cleanup(&b);
}

RT_TEST(allocation_failure_never_leaks)
{
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof(path), "%s/good_full.yaml", RT_CONFIG_DATA_DIR);
    char *yaml = read_all(path, &len);
    long live = rt_alloc_live();
    bool succeeded = false;
    for (unsigned long n = 1; n < 5000 && !succeeded; n++) {
        struct rt_config *cfg = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        rt_alloc_fail_after(n);
        int rc = rt_config_load_string(yaml, len, "full.yaml", "/b", &cfg, &err);
        rt_alloc_fail_after(0);
        if (rc == 0) {
            succeeded = true;
            rt_config_destroy(cfg);
        } else {
            RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
            RT_ASSERT(cfg == NULL);
        }
        RT_ASSERT_INT_EQ(rt_alloc_live(), live);
    }
    RT_ASSERT(succeeded);
    free(yaml);
}

RT_TEST(load_string_arguments)
{
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_config_load_string("", 0, NULL, NULL, &cfg, &err), RT_ECONFIG);
    RT_ASSERT_STR_EQ(fmt_err(&err), "<config>:1:1: the file is empty: a config needs at least "
                                    "data_dir and store");
    /* A relative base folder is taken against the working folder. */
    char dir[PATH_MAX], want[PATH_MAX + 32];
    RT_ASSERT(realpath(rt_test_tmpdir(), dir) != NULL);
    RT_ASSERT_OK(chdir(dir));
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_config_load_string(MIN_YAML, strlen(MIN_YAML), "x", "sub", &cfg, &err));
    snprintf(want, sizeof(want), "%s/sub/data", dir);
    RT_ASSERT_STR_EQ(cfg->data_dir, want);
    rt_config_destroy(cfg);
    rt_config_destroy(NULL);
}

RT_TEST(tab_indentation_named_at_its_place)
{
    /* The mark is found after multi-byte characters, CRLF line ends and a byte order mark. */
    RT_ASSERT_STR_EQ(load_bad("data_dir: ./donn\xc3\xa9\x65s\nstore:\n\tdriver: local\n"),
                     "t.yaml:3:1: tabs are not allowed for indentation (use spaces)");
    RT_ASSERT_STR_EQ(load_bad("data_dir: ./data\r\nstore:\r\n  driver: local\r\n\troot: b\r\n"),
                     "t.yaml:4:1: tabs are not allowed for indentation (use spaces)");
    RT_ASSERT_STR_EQ(load_bad("\xef\xbb\xbfnotify:\n\t- driver: log\n"),
                     "t.yaml:2:1: tabs are not allowed for indentation (use spaces)");
    /* A tab that is not the problem keeps libyaml's own message; a tab after a value is fine. */
    RT_ASSERT_CONTAINS(load_bad("data_dir: ./data\nstore: [\t\n"), "YAML syntax error");
    struct rt_config *cfg = load_ok("data_dir:\t./data\nstore:\n  driver:\tlocal\n  root: ./b\n");
    rt_config_destroy(cfg);
}

RT_TEST(aws_retry_mode)
{
    struct rt_config *cfg = load_ok(MIN_YAML);
    RT_ASSERT(!cfg->aws.retry_mode_adaptive); /* standard by default */
    rt_config_destroy(cfg);
    cfg = load_ok(MIN_YAML "aws:\n  retry_mode: adaptive\n");
    RT_ASSERT(cfg->aws.retry_mode_adaptive);
    rt_config_destroy(cfg);
    cfg = load_ok(MIN_YAML "aws:\n  retry_mode: standard\n");
    RT_ASSERT(!cfg->aws.retry_mode_adaptive);
    rt_config_destroy(cfg);
    const char *msg = load_bad(MIN_YAML "aws:\n  retry_mode: legacy\n");
    RT_ASSERT_CONTAINS(msg, "t.yaml:6");
    RT_ASSERT_CONTAINS(msg, "\"legacy\" is not a retry mode (standard, adaptive)");
}
