/*
 * test_sigv4_suite.c - every v4 case of the AWS SigV4 conformance suite, stage by stage.
 *
 * The suite (../shared/sigv4-suite/v4, see its README) is data next to the repository, not in
 * it. The folder comes from $RT_SIGV4_SUITE, else $RETRAIND_SHARED/sigv4-suite/v4, else the path
 * compiled in from the source tree. When it is absent every case exits 77, which ctest reports
 * as skipped (SKIP_RETURN_CODE in tests/unit/sigv4.cmake).
 *
 * Each stage is its own ctest entry, and each entry walks every case, so a failure names the
 * stage and the case: canonical request, string to sign, signature and the signed request's
 * added headers, for header signing and for presigning (query signing).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/sigv4.h"
#include "rt_test.h"

#ifndef RT_SIGV4_SUITE_DIR
#define RT_SIGV4_SUITE_DIR "../shared/sigv4-suite/v4"
#endif

static char suite_dir[1024];

static bool find_suite(void)
{
    const char *env = getenv("RT_SIGV4_SUITE");
    const char *shared = getenv("RETRAIND_SHARED");
    struct stat st;
    if (env && *env)
        rt_snprintf(suite_dir, sizeof(suite_dir), "%s", env);
    else if (shared && *shared)
        rt_snprintf(suite_dir, sizeof(suite_dir), "%s/sigv4-suite/v4", shared);
    else
        rt_snprintf(suite_dir, sizeof(suite_dir), "%s", RT_SIGV4_SUITE_DIR);
    return stat(suite_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a whole file; returns a new buffer (caller frees with rt_free) or NULL. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[2048];
    rt_snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct rt_buf b;
    rt_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        RT_ASSERT_OK(rt_buf_append(&b, chunk, n));
    fclose(f);
    *len = b.len;
    return rt_buf_detach(&b);
}

struct kase {
    char name[256];
    char dir[1536];
    char *request_text;
    size_t request_len;
    struct rt_sigv4_raw_request raw;
    char payload[RT_SIGV4_HEX_LEN + 1];
    char amz_date[RT_SIGV4_DATE_LEN + 1];
    char *akid, *secret, *token, *region, *service;
    unsigned flags;
    uint32_t expires;
};

static char *json_str(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? rt_strdup(v->valuestring) : NULL;
}

static bool json_bool(cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void load_case(struct kase *k, const char *name)
{
    memset(k, 0, sizeof(*k));
    rt_snprintf(k->name, sizeof(k->name), "%s", name);
    rt_snprintf(k->dir, sizeof(k->dir), "%s/%s", suite_dir, name);
    k->request_text = slurp(k->dir, "request.txt", &k->request_len);
    RT_ASSERT(k->request_text);
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_sigv4_raw_parse(k->request_text, k->request_len, &k->raw, &err) != 0)
        RT_FAIL("%s: request.txt does not parse: %s", name, err.msg);
    rt_sigv4_sha256_hex(k->raw.body.p, k->raw.body.len, k->payload);
    size_t clen;
    char *ctx_text = slurp(k->dir, "context.json", &clen);
    RT_ASSERT(ctx_text);
    cJSON *ctx = cJSON_Parse(ctx_text);
    rt_free(ctx_text);
    RT_ASSERT(ctx);
    cJSON *cred = cJSON_GetObjectItemCaseSensitive(ctx, "credentials");
    k->akid = json_str(cred, "access_key_id");
    k->secret = json_str(cred, "secret_access_key");
    k->token = json_str(cred, "token");
    k->region = json_str(ctx, "region");
    k->service = json_str(ctx, "service");
    char *ts = json_str(ctx, "timestamp");
    RT_ASSERT(k->akid && k->secret && k->region && k->service && ts);
    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    size_t o = 0;
    for (const char *p = ts; *p && o < RT_SIGV4_DATE_LEN; p++)
        if (*p != '-' && *p != ':')
            k->amz_date[o++] = *p;
    k->amz_date[o] = '\0';
    rt_free(ts);
    if (!json_bool(ctx, "normalize"))
        k->flags |= RT_SIGV4_NO_NORMALIZE;
    if (json_bool(ctx, "sign_body"))
        k->flags |= RT_SIGV4_CONTENT_SHA256;
    if (json_bool(ctx, "omit_session_token"))
        k->flags |= RT_SIGV4_OMIT_TOKEN;
    cJSON *exp = cJSON_GetObjectItemCaseSensitive(ctx, "expiration_in_seconds");
    k->expires = cJSON_IsNumber(exp) ? (uint32_t)exp->valuedouble : 3600;
    cJSON_Delete(ctx);
}

static void free_case(struct kase *k)
{
    rt_free(k->request_text);
    rt_free(k->akid);
    rt_free_secret_str(k->secret);
    rt_free_secret_str(k->token);
    rt_free(k->region);
    rt_free(k->service);
}

static void
make(const struct kase *k, bool presign, struct rt_sigv4_request *req, struct rt_sigv4_config *cfg)
{
    *req = (struct rt_sigv4_request){
        .method = k->raw.method,
        .path = k->raw.path,
        .query = k->raw.query,
        .headers = k->raw.headers,
        .n_headers = k->raw.n_headers,
        .payload_hash = rt_str_c(k->payload),
    };
    *cfg = (struct rt_sigv4_config){
        .access_key = rt_str_c(k->akid),
        .secret_key = rt_str_c(k->secret),
        .session_token = rt_str_c(k->token),
        .region = rt_str_c(k->region),
        .service = rt_str_c(k->service),
        .amz_date = k->amz_date,
        .flags = k->flags | (presign ? RT_SIGV4_PRESIGN : 0),
        .expires_s = k->expires,
    };
}

typedef void stage_fn(const struct kase *k, bool presign);

/* Runs fn on every case for both signing modes; exits 77 (skip) without the suite. */
static void each_case(stage_fn *fn)
{
    if (!find_suite()) {
        printf("SKIP: SigV4 suite not found at %s (set RT_SIGV4_SUITE)\n", suite_dir);
        exit(77);
    }
    DIR *d = opendir(suite_dir);
    RT_ASSERT(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct kase k;
        load_case(&k, e->d_name);
        fn(&k, false);
        fn(&k, true);
        free_case(&k);
        n++;
    }
    closedir(d);
    RT_ASSERT(n > 0);
    printf("checked %d cases\n", n);
}

static char *expected(const struct kase *k, bool presign, const char *stage)
{
    char name[128];
    size_t len;
    rt_snprintf(name, sizeof(name), "%s-%s.txt", presign ? "query" : "header", stage);
    char *t = slurp(k->dir, name, &len);
    if (!t)
        RT_FAIL("%s: %s missing", k->name, name);
    return t;
}

static void
check_eq(const struct kase *k, bool presign, const char *stage, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        RT_FAIL("%s (%s) %s differs:\n--- got:\n%s\n--- want:\n%s", k->name,
                presign ? "query" : "header", stage, got, want);
}

static void stage_canonical(const struct kase *k, bool presign)
{
    struct rt_sigv4_request req;
    struct rt_sigv4_config cfg;
    make(k, presign, &req, &cfg);
    struct rt_buf cr;
    rt_buf_init(&cr, 1 << 16);
    RT_ASSERT_OK(rt_sigv4_canonical_request(&req, &cfg, &cr, NULL));
    char *want = expected(k, presign, "canonical-request");
    check_eq(k, presign, "canonical request", cr.data, want);
    rt_free(want);
    rt_buf_cleanup(&cr);
}

static void stage_sts(const struct kase *k, bool presign)
{
    /* From the expected canonical request, so this stage is checked on its own. */
    struct rt_sigv4_request req;
    struct rt_sigv4_config cfg;
    make(k, presign, &req, &cfg);
    char *cr = expected(k, presign, "canonical-request");
    struct rt_buf sts;
    rt_buf_init(&sts, 4096);
    RT_ASSERT_OK(rt_sigv4_string_to_sign(&cfg, rt_str_c(cr), &sts, NULL));
    char *want = expected(k, presign, "string-to-sign");
    check_eq(k, presign, "string to sign", sts.data, want);
    rt_free(want);
    rt_free(cr);
    rt_buf_cleanup(&sts);
}

static void stage_signature(const struct kase *k, bool presign)
{
    struct rt_sigv4_request req;
    struct rt_sigv4_config cfg;
    make(k, presign, &req, &cfg);
    char *sts = expected(k, presign, "string-to-sign");
    char sig[RT_SIGV4_HEX_LEN + 1];
    RT_ASSERT_OK(rt_sigv4_signature(&cfg, rt_str_c(sts), sig, NULL));
    char *want = expected(k, presign, "signature");
    check_eq(k, presign, "signature (from the expected string to sign)", sig, want);
    /* And end to end through rt_sigv4_sign. */
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, &cfg, &res, NULL));
    check_eq(k, presign, "signature (rt_sigv4_sign)", res.signature, want);
    rt_free(want);
    rt_free(sts);
}

/* The signed request: the headers added (header signing) or the request line (presigning). */
static void stage_signed_request(const struct kase *k, bool presign)
{
    struct rt_sigv4_request req;
    struct rt_sigv4_config cfg;
    make(k, presign, &req, &cfg);
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, &cfg, &res, NULL));
    char *want = expected(k, presign, "signed-request");
    struct rt_buf got;
    rt_buf_init(&got, 1 << 16);
    if (presign) {
        RT_ASSERT_OK(rt_buf_printf(&got, "%.*s %.*s%c%.*s %.*s", (int)k->raw.method.len,
                                   k->raw.method.p, (int)k->raw.target.len, k->raw.target.p,
                                   k->raw.has_query ? '&' : '?', (int)res.query.len, res.query.p,
                                   (int)k->raw.version.len, k->raw.version.p));
        const char *nl = strchr(want, '\n');
        RT_ASSERT(nl);
        want[nl - want] = '\0';
        check_eq(k, presign, "request line", got.data, want);
    } else {
        /* Every header the suite's signer added, in its order and case. */
        for (size_t i = 0; i < res.n_add; i++)
            RT_ASSERT_OK(rt_buf_printf(&got, "%.*s:%.*s\n", (int)res.add[i].name.len,
                                       res.add[i].name.p, (int)res.add[i].value.len,
                                       res.add[i].value.p));
        RT_ASSERT_CONTAINS(want, got.data);
    }
    rt_buf_cleanup(&got);
    rt_free(want);
}

RT_TEST(suite_canonical_request)
{
    each_case(stage_canonical);
}

RT_TEST(suite_string_to_sign)
{
    each_case(stage_sts);
}

RT_TEST(suite_signature)
{
    each_case(stage_signature);
}

RT_TEST(suite_signed_request)
{
    each_case(stage_signed_request);
}
