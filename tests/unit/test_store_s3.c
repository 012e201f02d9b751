/*
 * test_store_s3.c - the s3 store driver against the Node twin (tests/servers/aws-twin, every
 * signature checked with @smithy/signature-v4) and s3rver behind it.
 *
 * Not a ctest unit entry: tests/integration/store_s3_live.py installs the npm packages, sets
 * AWS_TWIN_DIR and runs each case in its own process; without AWS_TWIN_DIR a case exits 77.
 * Each case starts its own twin, and checks what the server received where it matters.
 */
#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/config.h"
#include "retraind/httpc.h"
#include "retraind/store.h"
#include "retraind/store_s3.h"
#include "retraind/workflow.h"
#include "rt_test.h"
#include "twin_fixture.h"

#if defined(__SANITIZE_ADDRESS__)
#define RT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_TEST_ASAN 1
#endif
#endif
#ifndef RT_TEST_ASAN
#define RT_TEST_ASAN 0
#endif

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define BUCKET "retraind-test"

static struct twin_proc twin;
static char base[64];
static uv_loop_t loop;
static struct rt_httpc *hc;
static struct rt_aws_client *aws;
static struct rt_store *st;

static void twin_start(void)
{
    const char *dir = getenv("AWS_TWIN_DIR");
    if (!dir || !dir[0]) {
        fprintf(stderr, "SKIP: AWS_TWIN_DIR not set (run through store_s3_live.py)\n");
        exit(77);
    }
    char script[1024], node_path[1024];
    rt_snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR);
    rt_snprintf(node_path, sizeof(node_path), "%s/node_modules", dir);
    char *argv[] = {"node", "--openssl-legacy-provider", script, "--s3rver", "--bucket", BUCKET,
                    NULL};
    twin_spawn(&twin, node_path, argv);
    rt_snprintf(base, sizeof(base), "http://127.0.0.1:%d", twin.port);
}

static void start_opts(int max_attempts)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    twin_start();
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 10, .backoff_max_ms = 100};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    struct rt_aws_client_opts o = {
        .region = "us-east-1",
        .endpoints = {.s3 = base},
        .s3_path_style = true,
        .max_attempts = max_attempts,
        .access_key = AK,
        .secret_key = SK,
    };
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    struct rt_store_s3_opts so = {.aws = aws, .bucket = BUCKET};
    RT_ASSERT_OK(rt_store_s3_new(&loop, &so, &st, &err));
    RT_ASSERT_STR_EQ(st->bucket_name, BUCKET);
}

static void start(void)
{
    start_opts(0);
}

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

static void finish(void)
{
    int closed = 0;
    st->ops->close(st, set_flag, &closed);
    RT_ASSERT_INT_EQ(closed, 0); /* never inside close */
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    rt_aws_client_destroy(aws);
    int hclosed = 0;
    rt_httpc_close(hc, set_flag, &hclosed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(hclosed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_reap(&twin);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* ---- control endpoint ---- */

struct raw {
    int done, status;
    char *body;
};

static void on_raw(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)err;
    struct raw *r = ud;
    r->done = 1;
    r->status = status;
    r->body = rt_buf_detach(&resp->body);
}

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
    struct raw r = {0};
    RT_ASSERT_OK(rt_httpc_send(hc, req, on_raw, &r));
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(r.status, 0);
    return r.body;
}

static void faults(const char *json)
{
    rt_free(control("POST", "/__control/faults", json));
}

/* Requests the twin received since the last reset, and how many were signed right. */
static void twin_counts(int *n, int *ok)
{
    char *text = control("GET", "/__control/log", NULL);
    cJSON *j = cJSON_Parse(text);
    rt_free(text);
    RT_ASSERT(cJSON_IsArray(j));
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

/* ---- store calls, waited for ---- */

struct done {
    int calls, status;
    char msg[512];
};

static void on_store_done(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    d->calls++;
    d->status = status;
    rt_strlcpy(d->msg, err ? err->msg : "", sizeof(d->msg));
}

static void wait_calls(int *calls)
{
    while (!*calls)
        uv_run(&loop, UV_RUN_ONCE);
}

static int put(const char *key, const char *data)
{
    struct done d = {0};
    RT_ASSERT_OK(st->ops->put(st, key, data, strlen(data), "text/plain", on_store_done, &d));
    RT_ASSERT_INT_EQ(d.calls, 0);
    wait_calls(&d.calls);
    RT_ASSERT_INT_EQ(d.calls, 1);
    return d.status;
}

/* Gets key into a buffer of max bytes; *out is the body (caller frees) on success. */
static int get(const char *key, size_t max, char **out)
{
    struct rt_buf b;
    rt_buf_init(&b, max);
    struct done d = {0};
    RT_ASSERT_OK(st->ops->get(st, key, &b, on_store_done, &d));
    wait_calls(&d.calls);
    if (d.status == 0 && out)
        *out = rt_buf_detach(&b);
    else
        RT_ASSERT_INT_EQ((int)b.len, 0); /* left as it was */
    rt_buf_cleanup(&b);
    return d.status;
}

static int copy(const char *src, const char *dst)
{
    struct done d = {0};
    RT_ASSERT_OK(st->ops->copy(st, src, dst, on_store_done, &d));
    wait_calls(&d.calls);
    return d.status;
}

static int del(const char *key)
{
    struct done d = {0};
    RT_ASSERT_OK(st->ops->del(st, key, on_store_done, &d));
    wait_calls(&d.calls);
    return d.status;
}

struct headr {
    int calls, status;
    bool exists;
    int64_t size, mtime_ms;
    char etag[128], key[1100];
};

static void on_head(
    int status, bool exists, const struct rt_store_entry *e, const struct rt_error *err, void *ud)
{
    (void)err;
    struct headr *h = ud;
    h->calls++;
    h->status = status;
    h->exists = exists;
    if (e) {
        h->size = e->size;
        h->mtime_ms = e->mtime_ms;
        rt_strlcpy(h->etag, e->etag ? e->etag : "", sizeof(h->etag));
        rt_strlcpy(h->key, e->key, sizeof(h->key));
    }
}

static void head(const char *key, struct headr *h)
{
    memset(h, 0, sizeof(*h));
    RT_ASSERT_OK(st->ops->head(st, key, on_head, h));
    wait_calls(&h->calls);
}

/* A listing collected into a list of keys ("\n"-joined) with callback statistics (the s3 store
 * calls back once per key, then once with last). */
struct lst {
    int pages, status; /* pages: callbacks */
    bool last;
    long keys;
    struct rt_buf all;         /* key\n... */
    long live_first, live_max; /* rt_alloc_live() at page 2 and the max after */
    int stop_after;            /* stop after this many pages (0: never) */
};

static int on_page(const struct rt_store_entry *e,
                   size_t n,
                   bool last,
                   int status,
                   const struct rt_error *err,
                   void *ud)
{
    (void)err;
    struct lst *l = ud;
    RT_ASSERT(!l->last); /* nothing after the last page */
    l->pages++;
    l->status = status;
    l->last = last;
    for (size_t i = 0; i < n; i++) {
        RT_ASSERT(e[i].size >= 0);
        RT_ASSERT(e[i].etag && e[i].etag[0] && e[i].etag[0] != '"');
        RT_ASSERT(e[i].mtime_ms > 0);
        if (l->all.max_bytes) {
            RT_ASSERT_OK(rt_buf_append_str(&l->all, e[i].key));
            RT_ASSERT_OK(rt_buf_append_char(&l->all, '\n'));
        }
    }
    l->keys += (long)n;
    long live = rt_alloc_live();
    if (l->pages == 2)
        l->live_first = live;
    if (l->pages >= 2 && live > l->live_max)
        l->live_max = live;
    return l->stop_after && l->pages >= l->stop_after;
}

static void list(const char *prefix, size_t page, struct lst *l, bool collect)
{
    int stop = l->stop_after;
    memset(l, 0, sizeof(*l));
    l->stop_after = stop;
    if (collect)
        rt_buf_init(&l->all, (size_t)64 << 20);
    RT_ASSERT_OK(st->ops->list(st, prefix, page, RT_STORE_LIST_FULL, on_page, l));
    RT_ASSERT_INT_EQ(l->pages, 0);
    while (!l->last && !(l->stop_after && l->pages >= l->stop_after))
        uv_run(&loop, UV_RUN_ONCE);
}

/* ---- many puts at once ---- */

struct bulk {
    int inflight, done, failed;
};

static void on_bulk(int status, const struct rt_error *err, void *ud)
{
    struct bulk *b = ud;
    b->inflight--;
    b->done++;
    if (status) {
        b->failed++;
        fprintf(stderr, "put failed: %s\n", err ? err->msg : "");
    }
}

/* Puts n keys made by name(i, buf) with at most 48 in flight. */
static void put_many(int n, void (*name)(int i, char *out, size_t size))
{
    struct bulk b = {0};
    char key[512];
    for (int i = 0; i < n; i++) {
        while (b.inflight >= 48)
            uv_run(&loop, UV_RUN_ONCE);
        name(i, key, sizeof(key));
        RT_ASSERT_OK(st->ops->put(st, key, "x", 1, "image/png", on_bulk, &b));
        b.inflight++;
    }
    while (b.inflight)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(b.failed, 0);
    RT_ASSERT_INT_EQ(b.done, n);
}

/* ---- cases ---- */

RT_TEST(store_s3_every_op)
{
    start();
    char *body = NULL;
    RT_ASSERT_INT_EQ(put("a/b/one.txt", "hello"), 0);
    RT_ASSERT_INT_EQ(get("a/b/one.txt", 1024, &body), 0);
    RT_ASSERT_STR_EQ(body, "hello");
    rt_free(body);
    /* The caller's cap: 4 bytes is too small for "hello". */
    RT_ASSERT_INT_EQ(get("a/b/one.txt", 4, NULL), RT_ETOOBIG);
    struct headr h;
    head("a/b/one.txt", &h);
    RT_ASSERT_INT_EQ(h.status, 0);
    RT_ASSERT(h.exists);
    RT_ASSERT_INT_EQ((int)h.size, 5);
    RT_ASSERT_STR_EQ(h.etag, "5d41402abc4b2a76b9719d911017c592"); /* md5("hello") unquoted */
    RT_ASSERT(h.mtime_ms > 1600000000000LL);
    RT_ASSERT_INT_EQ(copy("a/b/one.txt", "c/two.txt"), 0);
    RT_ASSERT_INT_EQ(get("c/two.txt", 1024, &body), 0);
    RT_ASSERT_STR_EQ(body, "hello");
    rt_free(body);
    struct lst l = {0};
    list("", 0, &l, true);
    RT_ASSERT_INT_EQ(l.status, 0);
    RT_ASSERT_STR_EQ(l.all.data, "a/b/one.txt\nc/two.txt\n");
    rt_buf_cleanup(&l.all);
    list("", 1, &l, true); /* page_size 1: one key per page, through the continuation token */
    RT_ASSERT_INT_EQ(l.pages, 3); /* one callback per key, then the last */
    RT_ASSERT_STR_EQ(l.all.data, "a/b/one.txt\nc/two.txt\n");
    rt_buf_cleanup(&l.all);
    list("a/", 0, &l, true);
    RT_ASSERT_STR_EQ(l.all.data, "a/b/one.txt\n");
    rt_buf_cleanup(&l.all);
    RT_ASSERT_INT_EQ(del("a/b/one.txt"), 0);
    RT_ASSERT_INT_EQ(del("a/b/one.txt"), 0); /* absent: still success */
    /* Missing keys: get says RT_ENOTFOUND (as the local store), head exists false, copy
     * RT_ENOTFOUND. */
    RT_ASSERT_INT_EQ(get("a/b/one.txt", 1024, NULL), RT_ENOTFOUND);
    head("a/b/one.txt", &h);
    RT_ASSERT_INT_EQ(h.status, 0);
    RT_ASSERT(!h.exists);
    RT_ASSERT_INT_EQ(copy("a/b/one.txt", "c/three.txt"), RT_ENOTFOUND);
    /* Refused keys never reach the server. */
    int n0, ok0, n1, ok1;
    twin_counts(&n0, &ok0);
    struct done d = {0};
    RT_ASSERT_INT_EQ(st->ops->put(st, "../x", "x", 1, NULL, on_store_done, &d), RT_EKEY);
    RT_ASSERT_INT_EQ(st->ops->get(st, "a//b", &(struct rt_buf){0}, on_store_done, &d), RT_EKEY);
    RT_ASSERT_INT_EQ(st->ops->del(st, "/abs", on_store_done, &d), RT_EKEY);
    RT_ASSERT_INT_EQ(st->ops->copy(st, "c/two.txt", "a\nb", on_store_done, &d), RT_EKEY);
    twin_counts(&n1, &ok1);
    RT_ASSERT_INT_EQ(n1, n0);
    RT_ASSERT_INT_EQ(ok1, n1); /* every request was signed right */
    RT_ASSERT_INT_EQ(d.calls, 0);
    finish();
}

RT_TEST(store_s3_hostile_keys_round_trip)
{
    start();
    const char *keys[] = {
        "images_labeled_by_folder/cat s/a b.png",
        "images_labeled_by_folder/Ünïcödé/日本語 ファイル.png",
        "images_labeled_by_folder/a+b/c+d.png",
        "images_labeled_by_folder/100%/50%25 off.png",
        "images_labeled_by_folder/x=y/k=v&a=b.png",
        "q/?#;:@$,!'()*[]~ü+ %2B.txt",
    };
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++)
        RT_ASSERT_INT_EQ(put(keys[i], keys[i]), 0);
    struct lst l = {0};
    list("", 0, &l, true);
    RT_ASSERT_INT_EQ((int)l.keys, (int)n);
    for (size_t i = 0; i < n; i++) {
        char line[1200];
        rt_snprintf(line, sizeof(line), "%s\n", keys[i]);
        RT_ASSERT_CONTAINS(l.all.data, line);
        char *body = NULL;
        RT_ASSERT_INT_EQ(get(keys[i], 4096, &body), 0);
        RT_ASSERT_STR_EQ(body, keys[i]);
        rt_free(body);
        struct headr h;
        head(keys[i], &h);
        RT_ASSERT(h.exists);
        RT_ASSERT_INT_EQ((int)h.size, (int)strlen(keys[i]));
        char dst[1200];
        rt_snprintf(dst, sizeof(dst), "copies/%s", keys[i]);
        RT_ASSERT_INT_EQ(copy(keys[i], dst), 0);
        RT_ASSERT_INT_EQ(get(dst, 4096, &body), 0);
        RT_ASSERT_STR_EQ(body, keys[i]);
        rt_free(body);
    }
    rt_buf_cleanup(&l.all);
    /* Prefixes with the same characters list exactly their keys. */
    list("images_labeled_by_folder/a+b/", 0, &l, true);
    RT_ASSERT_STR_EQ(l.all.data, "images_labeled_by_folder/a+b/c+d.png\n");
    rt_buf_cleanup(&l.all);
    list("copies/images_labeled_by_folder/100%/", 0, &l, true);
    RT_ASSERT_STR_EQ(l.all.data, "copies/images_labeled_by_folder/100%/50%25 off.png\n");
    rt_buf_cleanup(&l.all);
    for (size_t i = 0; i < n; i++) {
        RT_ASSERT_INT_EQ(del(keys[i]), 0);
        struct headr h;
        head(keys[i], &h);
        RT_ASSERT(!h.exists);
    }
    list("images_labeled_by_folder/", 0, &l, false);
    RT_ASSERT_INT_EQ((int)l.keys, 0);
    int total, ok;
    twin_counts(&total, &ok);
    RT_ASSERT_INT_EQ(ok, total);
    finish();
}

struct cres {
    int done, status;
    int64_t images, untrained;
    int64_t per[4];
    size_t nlabels;
};

static const char *const labels20k[] = {"cat s", "Ünïcödé", "a+b", "dog"};

static void on_census(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct cres *r = ud;
    r->done = 1;
    r->status = status;
    if (status) {
        fprintf(stderr, "census: %s\n", err ? err->msg : "");
        return;
    }
    r->images = c->images;
    r->untrained = c->untrained;
    r->nlabels = c->labels.n;
    for (size_t i = 0; i < c->labels.n; i++)
        for (int k = 0; k < 4; k++)
            if (strcmp(c->labels.items[i].name, labels20k[k]) == 0)
                r->per[k] = c->labels.items[i].count;
}

static void name20k(int i, char *out, size_t size)
{
    /* spaces, unicode and '+' in names as well as labels */
    rt_snprintf(out, size, "images_labeled_by_folder/%s/img %05d+é.png", labels20k[i % 4], i);
}

RT_TEST(store_s3_list_20000_census_flat_memory)
{
    start();
    const int n = 20000;
    put_many(n, name20k);
    put_many(3, name20k); /* overwrites: still 20,000 keys */
    RT_ASSERT_INT_EQ(put("images_labeled_by_folder/notes.txt", "x"), 0);
    struct done d = {0}; /* a folder placeholder is refused like in the local store */
    RT_ASSERT_INT_EQ(
        st->ops->put(st, "images_labeled_by_folder/dog/", "", 0, NULL, on_store_done, &d), RT_EKEY);
    /* Every key once, exactly, in pages of 1,000; live allocations flat page after page. */
    struct lst l = {0};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss0 = ru.ru_maxrss;
    list("images_labeled_by_folder/", 0, &l, false);
    getrusage(RUSAGE_SELF, &ru);
    RT_ASSERT_INT_EQ(l.status, 0);
    RT_ASSERT_INT_EQ((int)l.keys, n + 1);
    RT_ASSERT_INT_EQ(l.pages, n + 2); /* one callback per key, then the last */
    fprintf(stderr, "live allocations at page 2: %ld, max later: %ld; peak RSS +%ld kB\n",
            l.live_first, l.live_max, ru.ru_maxrss - rss0);
    RT_ASSERT(l.live_max <= l.live_first + 16);
#if !RT_TEST_ASAN
    RT_ASSERT(ru.ru_maxrss - rss0 < 4096); /* ASan's quarantine keeps freed pages resident */
#endif
    /* Exactly once each: collect and check every name. */
    list("images_labeled_by_folder/", 0, &l, true);
    for (int i = 0; i < n; i += 997) {
        char key[512];
        name20k(i, key, sizeof(key));
        char line[520];
        rt_snprintf(line, sizeof(line), "\n%s\n", key);
        RT_ASSERT(strstr(l.all.data, line) || strncmp(l.all.data, line + 1, strlen(line + 1)) == 0);
    }
    rt_buf_cleanup(&l.all);
    /* The census over the s3 store. */
    char yaml[600];
    rt_snprintf(yaml, sizeof(yaml),
                "data_dir: %s/data\nstore: {driver: s3, bucket: " BUCKET "}\n"
                "aws: {region: us-east-1}\n",
                rt_test_tmpdir());
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_config_load_string(yaml, strlen(yaml), "t.yaml", rt_test_tmpdir(), &cfg, &err));
    struct cres r = {0};
    struct rt_census_opts co = {.store = st, .journal = NULL, .cfg = cfg};
    RT_ASSERT_OK(rt_census_start(&co, on_census, &r, &err));
    RT_ASSERT_INT_EQ(r.done, 0);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(r.status, 0);
    RT_ASSERT_INT_EQ((int)r.images, n);
    RT_ASSERT_INT_EQ((int)r.untrained, n);
    RT_ASSERT_INT_EQ((int)r.nlabels, 4);
    for (int i = 0; i < 4; i++)
        RT_ASSERT_INT_EQ((int)r.per[i], n / 4);
    rt_config_destroy(cfg);
    finish();
}

RT_TEST(store_s3_faults_retried)
{
    start_opts(5);
    put_many(2500, name20k);
    /* The first page's request: 503 SlowDown, reset, truncated body, then right. A later page:
     * 500. Every key still counted once. */
    faults("[{\"status\":503,\"code\":\"SlowDown\"},{\"reset\":true},{\"truncate\":true}]");
    struct lst l = {0};
    list("images_labeled_by_folder/", 1000, &l, true);
    RT_ASSERT_INT_EQ(l.status, 0);
    RT_ASSERT_INT_EQ((int)l.keys, 2500);
    RT_ASSERT_INT_EQ(l.pages, 2501);
    rt_buf_cleanup(&l.all);
    /* get through a truncated body and a 500 */
    RT_ASSERT_INT_EQ(put("f/one.txt", "payload"), 0);
    faults("[{\"truncate\":true},{\"status\":500,\"code\":\"InternalError\"}]");
    char *body = NULL;
    RT_ASSERT_INT_EQ(get("f/one.txt", 1024, &body), 0);
    RT_ASSERT_STR_EQ(body, "payload");
    rt_free(body);
    /* put and copy through throttling */
    faults("[{\"status\":503,\"code\":\"SlowDown\"},{\"throttle\":true}]");
    RT_ASSERT_INT_EQ(put("f/two.txt", "two"), 0);
    faults("[{\"reset\":true}]");
    RT_ASSERT_INT_EQ(copy("f/two.txt", "f/three.txt"), 0);
    RT_ASSERT_INT_EQ(get("f/three.txt", 1024, &body), 0);
    RT_ASSERT_STR_EQ(body, "two");
    rt_free(body);
    /* More faults than attempts: the error reaches the caller, once, and nothing more. */
    faults(
        "[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503}]");
    l = (struct lst){0};
    list("f/", 0, &l, false);
    RT_ASSERT(l.status != 0);
    RT_ASSERT(l.last);
    RT_ASSERT_INT_EQ(l.pages, 1);
    faults(
        "[{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503}]");
    RT_ASSERT(get("f/one.txt", 1024, NULL) != 0);
    finish();
}

RT_TEST(store_s3_close_with_a_listing_in_flight)
{
    start();
    put_many(1500, name20k);
    struct lst l = {0};
    RT_ASSERT_OK(st->ops->list(st, "", 1000, 0, on_page, &l));
    struct done d = {0};
    RT_ASSERT_OK(st->ops->put(st, "z/late.txt", "x", 1, NULL, on_store_done, &d));
    finish(); /* closes with both in flight: the put reports, no page arrives, nothing leaks */
    RT_ASSERT_INT_EQ(l.pages, 0);
    RT_ASSERT_INT_EQ(d.calls, 1);
}

RT_TEST(store_s3_stop_and_close_from_a_page_callback)
{
    start();
    put_many(2500, name20k);
    struct lst l = {.stop_after = 1};
    list("", 1000, &l, false);
    RT_ASSERT_INT_EQ(l.pages, 1);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(l.pages, 1); /* stopped: no further page */
    finish();
}

/* aws-wire.md 2.4: a CopyObject "200 OK" whose body is <Error> is a retryable failure. */
RT_TEST(store_s3_copy_error_in_200_retried)
{
    start_opts(3);
    RT_ASSERT_INT_EQ(put("c/src a+b.txt", "copied"), 0);
    rt_free(control("POST", "/__control/s3faults/copy_error_200", "{\"count\":2}"));
    RT_ASSERT_INT_EQ(copy("c/src a+b.txt", "c/dst a+b.txt"), 0);
    char *body = NULL;
    RT_ASSERT_INT_EQ(get("c/dst a+b.txt", 1024, &body), 0);
    RT_ASSERT_STR_EQ(body, "copied");
    rt_free(body);
    /* Three such answers: the copy fails once, with S3's code, and nothing was copied. */
    rt_free(control("POST", "/__control/s3faults/copy_error_200", "{\"count\":3}"));
    struct done d = {0};
    RT_ASSERT_OK(st->ops->copy(st, "c/src a+b.txt", "c/other.txt", on_store_done, &d));
    wait_calls(&d.calls);
    RT_ASSERT_INT_EQ(d.status, RT_EAWS);
    RT_ASSERT_CONTAINS(d.msg, "internal error");
    RT_ASSERT_INT_EQ(get("c/other.txt", 1024, NULL), RT_ENOTFOUND);
    /* 5 copy attempts answered by the module, 1 by s3rver. */
    char *log = control("GET", "/__control/log", NULL);
    int faults_seen = 0;
    for (const char *p = log; (p = strstr(p, "copy_error_200")) != NULL; p++)
        faults_seen++;
    rt_free(log);
    RT_ASSERT_INT_EQ(faults_seen, 5);
    finish();
}

/* A bucket that does not exist is an error, never "no such key" (a misconfigured bucket must not
 * look like an empty one). */
RT_TEST(store_s3_missing_bucket_is_not_a_missing_key)
{
    start();
    struct rt_store *good = st;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_s3_opts so = {.aws = aws, .bucket = "no-such-bucket"};
    RT_ASSERT_OK(rt_store_s3_new(&loop, &so, &st, &err));
    RT_ASSERT_INT_EQ(get("a.txt", 1024, NULL), RT_EAWS);
    RT_ASSERT_INT_EQ(copy("a.txt", "b.txt"), RT_EAWS);
    struct lst l = {0};
    list("", 0, &l, false);
    RT_ASSERT_INT_EQ(l.status, RT_EAWS);
    int closed = 0;
    st->ops->close(st, set_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    st = good;
    finish();
}

/* ---- generated buckets (routes/listgen.js): S3's encoding-type=url, any number of keys ---- */

/* The generator of routes/listgen.js, keyOf(i). */
static const char *const gen_tails[] = {"cat s/img +é.png", "Ünïcödé/a b%20c.png",
                                        "a+b/x=1&y=2.png",  "dog/100%.png",
                                        "é/\"q\" <lt>.png", "plain.png"};

static void gen_key(long i, char *out, size_t size)
{
    rt_snprintf(out, size, "k/%07ld %s", i, gen_tails[i % 6]);
}

struct gen {
    long n, next; /* keys expected, index of the next one */
    long mismatches;
    int calls, status;
    bool last;
    char msg[512];
    long live0, live_max;   /* rt_alloc_live() before the listing and the most seen */
    size_t heap0, heap_max; /* mallinfo2 bytes in use before the listing and the most seen */
};

static int on_gen(const struct rt_store_entry *e,
                  size_t n,
                  bool last,
                  int status,
                  const struct rt_error *err,
                  void *ud)
{
    struct gen *g = ud;
    RT_ASSERT(!g->last);
    g->calls++;
    g->last = last;
    g->status = status;
    if (err)
        rt_strlcpy(g->msg, err->msg, sizeof(g->msg));
    for (size_t i = 0; i < n; i++) {
        char want[256];
        gen_key(g->next, want, sizeof(want));
        if (strcmp(e[i].key, want) != 0 && g->mismatches++ < 3)
            fprintf(stderr, "key %ld: got \"%s\", want \"%s\"\n", g->next, e[i].key, want);
        RT_ASSERT(e[i].etag && strlen(e[i].etag) == 32); /* the MD5, quotes stripped */
        RT_ASSERT_INT_EQ((int)e[i].size, (int)((g->next % 1000) % 7));
        g->next++;
    }
    long live = rt_alloc_live();
    if (live > g->live_max)
        g->live_max = live;
    if (g->calls % 97 == 0 || last) {
        size_t heap = mallinfo2().uordblks;
        if (heap > g->heap_max)
            g->heap_max = heap;
    }
    return 0;
}

/* Lists all of listgen-<n> through a store on that bucket into *g. */
static void list_gen(long n, struct gen *g)
{
    struct rt_store *gs;
    struct rt_error err;
    rt_error_clear(&err);
    char bucket[64];
    rt_snprintf(bucket, sizeof(bucket), "listgen-%ld", n);
    struct rt_store_s3_opts so = {.aws = aws, .bucket = bucket};
    RT_ASSERT_OK(rt_store_s3_new(&loop, &so, &gs, &err));
    memset(g, 0, sizeof(*g));
    g->n = n;
    g->live0 = g->live_max = rt_alloc_live();
    g->heap0 = g->heap_max = mallinfo2().uordblks;
    RT_ASSERT_OK(gs->ops->list(gs, "k/", 0, RT_STORE_LIST_FULL, on_gen, g));
    while (!g->last)
        uv_run(&loop, UV_RUN_ONCE);
    int closed = 0;
    gs->ops->close(gs, set_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
}

static cJSON *listgen_stats(void)
{
    char *text = control("POST", "/__control/listgen/stats", "{}");
    cJSON *j = cJSON_Parse(text);
    rt_free(text);
    RT_ASSERT(cJSON_IsObject(j));
    return j;
}

static int stat_int(cJSON *j, const char *name)
{
    return (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, name));
}

/* issue 9: a listing of 20,000 keys (spaces, unicode, '+', '%', '=', '&') counts exactly and in
 * constant memory: every key arrives once, in order, exactly as generated, and the memory used
 * while listing 20,000 keys is that of listing 2,000 - one key's worth, never a page. */
RT_TEST(store_s3_list_generated_20000_exact_in_constant_memory)
{
    start();
    /* The generator agrees with the server's (a check of this test's own copy). */
    char *text = control("POST", "/__control/listgen/tail", "{\"i\": 4}");
    char want[256], json[300];
    gen_key(4, want, sizeof(want));
    cJSON *j = cJSON_Parse(text);
    rt_free(text);
    rt_snprintf(json, sizeof(json), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "key")));
    cJSON_Delete(j);
    RT_ASSERT_STR_EQ(json, want);

    struct gen small, big;
    list_gen(2000, &small);
    list_gen(20000, &big);
    struct gen *gs[] = {&small, &big};
    for (int i = 0; i < 2; i++) {
        struct gen *g = gs[i];
        fprintf(stderr,
                "listgen-%ld: %ld keys, %d callbacks, live allocations +%ld at most, heap in use "
                "+%zu bytes at most\n",
                g->n, g->next, g->calls, g->live_max - g->live0, g->heap_max - g->heap0);
        RT_ASSERT_INT_EQ(g->status, 0);
        RT_ASSERT_INT_EQ((int)g->mismatches, 0);
        RT_ASSERT_INT_EQ((int)g->next, (int)g->n); /* exact count, every key once, in order */
        RT_ASSERT_INT_EQ(g->calls, (int)g->n + 1);
        /* One key at a time: the call, the request, expat's blocks (about 64 allocations), never
         * a page's worth (a page of 1,000 keys kept would be 2,000 more: key and ETag each). */
        RT_ASSERT(g->live_max - g->live0 < 160);
#if !RT_TEST_ASAN
        /* ... and in bytes: curl's and expat's buffers (about 55 kB), not a page of 1,000 keys
         * (about 110 kB more when a page is kept until it ends). */
        RT_ASSERT(g->heap_max - g->heap0 < 112 * 1024);
#endif
    }
    /* Flat in the key count: ten times the keys, no more memory. */
    RT_ASSERT(big.live_max - big.live0 <= small.live_max - small.live0 + 4);
#if !RT_TEST_ASAN
    RT_ASSERT(big.heap_max - big.heap0 <= small.heap_max - small.heap0 + 16384);
#endif
    cJSON *stats = listgen_stats();
    RT_ASSERT_INT_EQ(stat_int(stats, "bad_signatures"), 0);
    RT_ASSERT_INT_EQ(stat_int(stats, "pages"), 2 + 20);
    cJSON_Delete(stats);
    finish();
}

/* A page cut by a reset, a truncated or garbled body, a 200 <Error> or a 503 is asked for again;
 * the keys handed over before the cut are not handed over twice and none is lost. More failures
 * than attempts end the listing once with RT_EPARSE (a clear message) after the keys that were
 * good, and a DOCTYPE is refused. */
RT_TEST(store_s3_list_generated_faults_lose_nothing)
{
    start_opts(4);
    rt_free(control("POST", "/__control/listgen/faults",
                    "[{\"reset_after\": 120}, {\"truncate_after\": 300}, {\"garbage_after\": 700},"
                    " {}, {\"error_200\": true}, {\"status\": 503, \"code\": \"SlowDown\"}]"));
    struct gen g;
    list_gen(2500, &g);
    RT_ASSERT_INT_EQ(g.status, 0);
    RT_ASSERT_INT_EQ((int)g.mismatches, 0);
    RT_ASSERT_INT_EQ((int)g.next, 2500);
    cJSON *stats = listgen_stats();
    RT_ASSERT_INT_EQ(stat_int(stats, "faults_used"), 5);
    RT_ASSERT_INT_EQ(stat_int(stats, "bad_signatures"), 0);
    cJSON_Delete(stats);

    /* Four garbled answers for four attempts: RT_EPARSE, after the 10 good keys of the page. */
    rt_free(control("POST", "/__control/listgen/faults",
                    "[{\"garbage_after\": 10}, {\"garbage_after\": 10}, {\"garbage_after\": 10},"
                    " {\"garbage_after\": 10}]"));
    list_gen(2500, &g);
    RT_ASSERT_INT_EQ(g.status, RT_EPARSE);
    RT_ASSERT_CONTAINS(g.msg, "malformed ListBucketResult");
    RT_ASSERT_CONTAINS(g.msg, "at byte");
    RT_ASSERT_INT_EQ((int)g.mismatches, 0);
    RT_ASSERT_INT_EQ((int)g.next, 10);
    RT_ASSERT_INT_EQ(g.calls, 11);

    /* An <Error> in every 200: RT_EAWS with S3's code and message. */
    rt_free(control("POST", "/__control/listgen/faults",
                    "[{\"error_200\": true}, {\"error_200\": true}, {\"error_200\": true},"
                    " {\"error_200\": true}]"));
    list_gen(100, &g);
    RT_ASSERT_INT_EQ(g.status, RT_EAWS);
    RT_ASSERT_CONTAINS(g.msg, "internal error");
    RT_ASSERT_INT_EQ((int)g.next, 0);

    /* A DOCTYPE is refused (no entity is ever declared), every attempt. */
    rt_free(control("POST", "/__control/listgen/faults",
                    "[{\"doctype\": true}, {\"doctype\": true}, {\"doctype\": true},"
                    " {\"doctype\": true}]"));
    list_gen(100, &g);
    RT_ASSERT_INT_EQ(g.status, RT_EPARSE);
    RT_ASSERT_CONTAINS(g.msg, "DOCTYPE");
    RT_ASSERT_INT_EQ((int)g.next, 0);
    finish();
}

/* ---- events: S3 event notifications through SQS (s3_events.c, twin routes/sqs.js) ---- */

#define QUEUE_PATH "/000000000000/"

/* Starts the twin, a client with the twin as S3 and SQS endpoint, creates queue `q` there and
 * opens the store with events_queue = the URL of queue (which may not exist). */
static void start_events(const char *queue)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL_SQS");
    twin_start();
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 10, .backoff_max_ms = 100};
    RT_ASSERT_OK(rt_httpc_new(&loop, &ho, &hc, &err));
    struct rt_aws_client_opts o = {.region = "us-east-1",
                                   .endpoints = {.s3 = base, .sqs = base},
                                   .s3_path_style = true,
                                   .access_key = AK,
                                   .secret_key = SK};
    RT_ASSERT_OK(rt_aws_client_new(&loop, hc, &o, &aws, &err));
    rt_free(control("POST", "/__control/sqs/create", "{\"name\":\"q\"}"));
    char url[128];
    rt_snprintf(url, sizeof(url), "%s" QUEUE_PATH "%s", base, queue);
    struct rt_store_s3_opts so = {.aws = aws, .bucket = BUCKET, .events_queue = url};
    RT_ASSERT_OK(rt_store_s3_new(&loop, &so, &st, &err));
}

struct evs {
    int batches;
    size_t n;
    char keys[8][128], etags[8][64];
    int64_t sizes[8];
};

static void on_evs(const struct rt_store_event *ev, size_t n, void *ud)
{
    struct evs *e = ud;
    e->batches++;
    for (size_t i = 0; i < n && e->n < 8; i++, e->n++) {
        rt_strlcpy(e->keys[e->n], ev[i].key, sizeof(e->keys[0]));
        rt_strlcpy(e->etags[e->n], ev[i].etag, sizeof(e->etags[0]));
        e->sizes[e->n] = ev[i].size;
    }
}

/* A number field of a control verb's JSON reply. */
static int64_t control_num(const char *path, const char *json, const char *field)
{
    char *text = control("POST", path, json);
    cJSON *j = cJSON_Parse(text);
    rt_free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
    RT_ASSERT(cJSON_IsNumber(v));
    int64_t out = (int64_t)v->valuedouble;
    cJSON_Delete(j);
    return out;
}

static int64_t queue_total(void)
{
    return control_num("/__control/sqs/depth", "{\"queue\":\"q\"}", "total");
}

/* Runs the loop for about ms. */
static void run_for(int64_t ms)
{
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + (uint64_t)ms;
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(5000);
        uv_update_time(&loop);
    }
}

/* Waits (running the loop) until the queue holds want messages. */
static void wait_total(int64_t want)
{
    for (int i = 0; i < 400 && queue_total() != want; i++)
        run_for(25);
    RT_ASSERT_INT_EQ(queue_total(), want);
}

/* Closes the store, timing it, then everything else as finish() does. Returns: the ms the
 * store's close took (the HTTP client still open: nothing but the driver ends the long poll). */
static int64_t finish_timed(void)
{
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    int closed = 0;
    st->ops->close(st, set_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_update_time(&loop);
    int64_t took = (int64_t)(uv_now(&loop) - t0);
    rt_aws_client_destroy(aws);
    int hclosed = 0;
    rt_httpc_close(hc, set_flag, &hclosed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(hclosed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    twin_reap(&twin);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
    return took;
}

/* Events under the prefix are delivered decoded; their messages are deleted only after
 * events_done(0); ignorable messages at once; a garbage message stays; unevents cancels the long
 * poll so the store closes at once. */
RT_TEST(store_s3_events_delivered_then_deleted_after_done)
{
    start_events("q");
    const char *sends[][2] = {
        {"s3_event", "{\"queue\":\"q\",\"bucket\":\"" BUCKET
                     "\",\"key\":\"images_for_detection/a b+c%.jpg\",\"etag\":\"e1\",\"size\":5}"},
        {"s3_event", "{\"queue\":\"q\",\"bucket\":\"" BUCKET
                     "\",\"key\":\"images_for_detection/\xc3\xbc.png\",\"etag\":\"e2\"}"},
        {"s3_event",
         "{\"queue\":\"q\",\"bucket\":\"" BUCKET
         "\",\"key\":\"images_for_detection/x.jpg\",\"event\":\"ObjectRemoved:Delete\"}"},
        {"s3_event", "{\"queue\":\"q\",\"bucket\":\"" BUCKET "\",\"key\":\"other/y.jpg\"}"},
        {"s3_event",
         "{\"queue\":\"q\",\"bucket\":\"another\",\"key\":\"images_for_detection/z.jpg\"}"},
        {"s3_event",
         "{\"queue\":\"q\",\"bucket\":\"" BUCKET "\",\"key\":\"images_for_detection/a//b.jpg\"}"},
        {"test_event", "{\"queue\":\"q\",\"bucket\":\"" BUCKET "\"}"},
        {"send", "{\"queue\":\"q\",\"body\":\"{\\\"Records\\\": 5}\"}"},
    };
    for (size_t i = 0; i < sizeof(sends) / sizeof(sends[0]); i++) {
        char path[64];
        rt_snprintf(path, sizeof(path), "/__control/sqs/%s", sends[i][0]);
        rt_free(control("POST", path, sends[i][1]));
    }
    RT_ASSERT_INT_EQ(queue_total(), 8);
    struct evs e = {0};
    struct rt_store_events *sub = NULL;
    RT_ASSERT_OK(st->ops->events(st, "images_for_detection/", on_evs, &e, &sub));
    RT_ASSERT_INT_EQ(e.batches, 0); /* never from inside the call */
    struct rt_store_events *second = NULL;
    RT_ASSERT_INT_EQ(st->ops->events(st, "x/", on_evs, &e, &second), RT_EINVAL);
    for (int i = 0; i < 400 && !e.batches; i++)
        run_for(25);
    RT_ASSERT_INT_EQ(e.batches, 1);
    RT_ASSERT_INT_EQ((int64_t)e.n, 2);
    RT_ASSERT_STR_EQ(e.keys[0], "images_for_detection/a b+c%.jpg");
    RT_ASSERT_STR_EQ(e.etags[0], "e1");
    RT_ASSERT_INT_EQ(e.sizes[0], 5);
    RT_ASSERT_STR_EQ(e.keys[1], "images_for_detection/\xc3\xbc.png");
    /* The ignorable five are deleted at once; the two events wait for done; garbage stays. */
    wait_total(3);
    run_for(300);
    RT_ASSERT_INT_EQ(queue_total(), 3);
    RT_ASSERT_INT_EQ(e.batches, 1); /* no new batch before done */
    st->ops->events_done(st, sub, 0);
    wait_total(1);
    /* The next long poll is in flight now: unevents cancels it, the close is immediate. */
    run_for(300);
    st->ops->unevents(st, sub);
    int64_t dropped_before = control_num("/__control/sqs/counts", "{}", "dropped_polls");
    int64_t took = finish_timed();
    fprintf(stderr, "store close with a long poll in flight: %lld ms (dropped before %lld)\n",
            (long long)took, (long long)dropped_before);
    RT_ASSERT(took < 2000);
}

/* A missing queue is logged and retried with a backoff (no tight loop), never a crash; a store
 * without events_queue says RT_ENOTIMPL. */
RT_TEST(store_s3_events_errors_back_off)
{
    start_events("missing");
    struct evs e = {0};
    struct rt_store_events *sub = NULL;
    RT_ASSERT_OK(st->ops->events(st, "images_for_detection/", on_evs, &e, &sub));
    run_for(1500);
    int64_t receives = control_num("/__control/sqs/counts", "{}", "ReceiveMessage");
    RT_ASSERT(receives >= 1 && receives <= 3); /* 0 s, then 1 s later: not a tight loop */
    RT_ASSERT_INT_EQ(e.batches, 0);
    int64_t took = finish_timed(); /* the subscription left open is closed by close */
    RT_ASSERT(took < 2000);

    start();
    RT_ASSERT_INT_EQ(st->ops->events(st, "images_for_detection/", on_evs, &e, &sub), RT_ENOTIMPL);
    finish();
}
