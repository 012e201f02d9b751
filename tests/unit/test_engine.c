/*
 * test_engine.c - the builtin engine end to end on a real local store: training on synthetic
 * images, F1, detection, a corrupt image skipped, idempotent train, start/stop/describe, a
 * restart on the same models_dir, and close while training. Every case closes its loop with
 * uv_loop_close() == 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/engine.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"
#include "retraind/synth.h"
#include "rt_test.h"

#define ATTR "retraind-label"

struct ctx {
    uv_loop_t loop;
    struct rt_store *store;
    struct rt_engine *eng;
    char root[600], models[600];
};

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    RT_ASSERT(f != NULL);
    RT_ASSERT(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void mkdirs(const char *path)
{
    char tmp[1024];
    rt_strlcpy(tmp, path, sizeof(tmp));
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

static void engine_open(struct ctx *c)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_engine_builtin_opts o = {c->models, c->store, 2};
    RT_ASSERT_OK(rt_engine_builtin_new(&c->loop, &o, &c->eng, &err));
}

static void ctx_open(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    RT_ASSERT_OK(uv_loop_init(&c->loop));
    snprintf(c->root, sizeof(c->root), "%s/bucket", rt_test_tmpdir());
    snprintf(c->models, sizeof(c->models), "%s/data/models", rt_test_tmpdir());
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts so = {.root = c->root, .bucket_name = "local"};
    RT_ASSERT_OK(rt_store_local_new(&c->loop, &so, &c->store, &err));
    engine_open(c);
}

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

static void run_until(struct ctx *c, const int *flag)
{
    while (!*flag)
        uv_run(&c->loop, UV_RUN_ONCE);
}

static void engine_close(struct ctx *c)
{
    int closed = 0;
    c->eng->ops->close(c->eng, set_flag, &closed);
    RT_ASSERT(!closed); /* never from inside close() */
    run_until(c, &closed);
    c->eng = NULL;
}

static void ctx_close(struct ctx *c)
{
    if (c->eng)
        engine_close(c);
    int closed = 0;
    c->store->ops->close(c->store, set_flag, &closed);
    run_until(c, &closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&c->loop), 0);
}

/* Writes count synth images of class cls as <root>/images_labeled_by_folder/<label>/..., and
 * appends their manifest lines to man. */
static void add_images(
    struct ctx *c, struct rt_buf *man, const char *label, int cls, int start, int count, int size)
{
    char dir[1024], path[1200], key[600];
    snprintf(dir, sizeof(dir), "%s/images_labeled_by_folder/%s", c->root, label);
    mkdirs(dir);
    struct rt_error err;
    rt_error_clear(&err);
    for (int i = start; i < start + count; i++) {
        enum rt_synth_format fmt = i % 3 == 2 ? RT_SYNTH_JPEG : RT_SYNTH_PNG;
        snprintf(key, sizeof(key), "images_labeled_by_folder/%s/%s-%d.%s", label, label, i,
                 fmt == RT_SYNTH_JPEG ? "jpg" : "png");
        snprintf(path, sizeof(path), "%s/%s", c->root, key);
        RT_ASSERT_OK(rt_synth_write_file(path, cls, (uint64_t)i, size, fmt, &err));
        struct rt_manifest_line l = {"local", key, label, cls, "2024-01-01T00:00:00.000Z", "t"};
        RT_ASSERT_OK(rt_manifest_append(man, ATTR, &l, &err));
    }
}

static void put_manifest(struct ctx *c, const char *name, const struct rt_buf *man)
{
    char dir[700], path[800];
    snprintf(dir, sizeof(dir), "%s/manifests", c->root);
    mkdirs(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_bytes(path, man->data, man->len);
}

struct done {
    int called, status;
    struct rt_error err;
};

static void on_done(int status, const struct rt_error *err, void *ud)
{
    struct done *d = ud;
    d->called++;
    d->status = status;
    if (err)
        d->err = *err;
}

struct described {
    int called, status;
    struct rt_model_info info;
    struct rt_label_metric labels[8];
};

static void
on_describe(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    (void)err;
    struct described *d = ud;
    d->called++;
    d->status = status;
    if (info) {
        d->info = *info;
        for (size_t i = 0; i < info->n_labels && i < 8; i++)
            d->labels[i] = info->labels[i];
        d->info.labels = NULL;
    }
}

static int train(struct ctx *c, const char *version, const char *manifest)
{
    struct rt_train_request req = {version, manifest, "evaluation/", ATTR};
    struct done d = {0};
    int rc = c->eng->ops->train(c->eng, &req, on_done, &d);
    if (rc != 0)
        return rc;
    RT_ASSERT_INT_EQ(d.called, 0); /* never from inside train() */
    run_until(c, &d.called);
    RT_ASSERT_INT_EQ(d.called, 1);
    return d.status;
}

static void describe(struct ctx *c, const char *version, struct described *d)
{
    memset(d, 0, sizeof(*d));
    RT_ASSERT_OK(c->eng->ops->describe(c->eng, version, on_describe, d));
    RT_ASSERT_INT_EQ(d->called, 0);
    run_until(c, &d->called);
    RT_ASSERT_OK(d->status);
}

static void on_wait_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void on_wait_closed(uv_handle_t *h)
{
    *(int *)h->data = 1;
}

/* Lets the loop run for ms (the training's store callbacks among others): a poll period, not a
 * synchronisation. */
static void run_for(struct ctx *c, uint64_t ms)
{
    uv_timer_t t;
    int fired = 0, closed = 0;
    uv_timer_init(&c->loop, &t);
    t.data = &fired;
    uv_timer_start(&t, on_wait_timer, ms, 0);
    run_until(c, &fired);
    t.data = &closed;
    uv_close((uv_handle_t *)&t, on_wait_closed);
    run_until(c, &closed);
}

/* Polls describe, as the workflow does, until the training is no longer in progress. */
static void wait_trained(struct ctx *c, const char *version, struct described *d)
{
    for (;;) {
        describe(c, version, d);
        if (d->info.status != RT_MODEL_TRAINING_IN_PROGRESS)
            return;
        run_for(c, 5);
    }
}

static int sync_op(struct ctx *c, int start, const char *version)
{
    struct done d = {0};
    int rc = start ? c->eng->ops->start(c->eng, version, 1, on_done, &d)
                   : c->eng->ops->stop(c->eng, version, on_done, &d);
    if (rc != 0)
        return rc;
    run_until(c, &d.called);
    return d.status;
}

struct detected {
    int called, status;
    size_t n;
    struct rt_detection_label labels[8];
    char err[512];
};

static void on_detect(int status,
                      const struct rt_detection_label *labels,
                      size_t n,
                      const struct rt_error *err,
                      void *ud)
{
    struct detected *d = ud;
    d->called++;
    d->status = status;
    d->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        d->labels[i] = labels[i];
    if (err)
        rt_strlcpy(d->err, err->msg, sizeof(d->err));
}

static void detect(struct ctx *c, const char *version, int cls, uint64_t index, struct detected *d)
{
    struct rt_buf img;
    rt_buf_init(&img, 1 << 24);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_encode(cls, index, 96, RT_SYNTH_PNG, &img, &err));
    memset(d, 0, sizeof(*d));
    RT_ASSERT_OK(c->eng->ops->detect(c->eng, version, img.data, img.len, 0, on_detect, d));
    RT_ASSERT_INT_EQ(d->called, 0);
    run_until(c, &d->called);
    rt_buf_cleanup(&img);
}

/* The demo's case: 5 images per label, Minimum-F1-Score 0.8. Several version names (so several
 * split seeds) must all reach it, and the model must classify fresh images. */
RT_TEST(train_small_set_reaches_f1_and_detects)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 5, 128);
    add_images(&c, &man, "dog", 1, 0, 5, 128);
    put_manifest(&c, "m1.jsonl", &man);
    rt_buf_cleanup(&man);
    static const char *versions[] = {"tr-1", "tr-2", "tr-3", "tr-4", "tr-5", "tr-6"};
    for (size_t v = 0; v < 6; v++) {
        RT_ASSERT_OK(train(&c, versions[v], "manifests/m1.jsonl"));
    }
    for (size_t v = 0; v < 6; v++) {
        struct described d;
        wait_trained(&c, versions[v], &d);
        RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
        if (d.info.f1 < 0.8)
            RT_FAIL("version %s: F1 %.3f below 0.8", versions[v], d.info.f1);
        RT_ASSERT_INT_EQ(d.info.images, 10);
        RT_ASSERT_INT_EQ(d.info.images_used, 10);
        RT_ASSERT_INT_EQ(d.info.train_images, 8);
        RT_ASSERT_INT_EQ(d.info.test_images, 2);
        RT_ASSERT_INT_EQ(d.info.n_labels, 2);
        RT_ASSERT_STR_EQ(d.labels[0].label, "cat");
        RT_ASSERT_INT_EQ(d.labels[0].test_images, 1);
    }
    RT_ASSERT_OK(sync_op(&c, 1, "tr-1"));
    for (int i = 0; i < 10; i++) {
        struct detected d;
        int cls = i % 2;
        detect(&c, "tr-1", cls, 1000 + (uint64_t)i, &d);
        RT_ASSERT_OK(d.status);
        RT_ASSERT_INT_EQ(d.n, 2);
        RT_ASSERT_STR_EQ(d.labels[0].name, cls ? "dog" : "cat");
        RT_ASSERT(d.labels[0].confidence >= d.labels[1].confidence);
        RT_ASSERT(d.labels[0].confidence > 50 && d.labels[0].confidence <= 100);
    }
    /* min_confidence filters. */
    struct rt_buf img;
    rt_buf_init(&img, 1 << 24);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_encode(0, 77, 96, RT_SYNTH_JPEG, &img, &err));
    struct detected d = {0};
    RT_ASSERT_OK(c.eng->ops->detect(c.eng, "tr-1", img.data, img.len, 50, on_detect, &d));
    run_until(&c, &d.called);
    RT_ASSERT_OK(d.status);
    RT_ASSERT_INT_EQ(d.n, 1);
    RT_ASSERT_STR_EQ(d.labels[0].name, "cat");
    rt_buf_cleanup(&img);
    ctx_close(&c);
}

/* Four labels, 20 images each. */
RT_TEST(train_four_labels)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    static const char *labels[] = {"red", "blue", "green", "yellow"};
    for (int k = 0; k < 4; k++)
        add_images(&c, &man, labels[k], k, 0, 20, 64);
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    RT_ASSERT_OK(train(&c, "v4", "manifests/m.jsonl"));
    struct described d;
    wait_trained(&c, "v4", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT(d.info.f1 >= 0.8);
    RT_ASSERT_INT_EQ(d.info.n_labels, 4);
    RT_ASSERT_INT_EQ(d.info.test_images, 16);
    ctx_close(&c);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    RT_ASSERT(f != NULL);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

RT_TEST(corrupt_image_skipped_and_reported)
{
    struct ctx c;
    ctx_open(&c);
    char logpath[700];
    snprintf(logpath, sizeof(logpath), "%s/log.txt", rt_test_tmpdir());
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    RT_ASSERT(logfd >= 0);
    rt_log_set_fd(logfd);

    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 6, 64);
    add_images(&c, &man, "dog", 1, 0, 6, 64);
    /* A corrupt file, a truncated PNG, a missing key, and a bad manifest line. */
    char path[800];
    snprintf(path, sizeof(path), "%s/images_labeled_by_folder/cat/broken.png", c.root);
    write_bytes(path, "\x89PNG\r\n\x1a\nthis is not a png at all", 30);
    struct rt_buf png;
    rt_buf_init(&png, 1 << 20);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_encode(1, 99, 64, RT_SYNTH_PNG, &png, &err));
    snprintf(path, sizeof(path), "%s/images_labeled_by_folder/dog/cut.png", c.root);
    write_bytes(path, png.data, png.len / 2);
    rt_buf_cleanup(&png);
    const char *extra[] = {"images_labeled_by_folder/cat/broken.png",
                           "images_labeled_by_folder/dog/cut.png",
                           "images_labeled_by_folder/dog/missing.png"};
    for (int i = 0; i < 3; i++) {
        struct rt_manifest_line l = {"local", extra[i], i ? "dog" : "cat", i ? 1 : 0, "t", "j"};
        RT_ASSERT_OK(rt_manifest_append(&man, ATTR, &l, &err));
    }
    rt_buf_append_str(&man, "{\"not\": \"a manifest line\"}\n");
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);

    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl"));
    struct described d;
    wait_trained(&c, "v1", &d);
    rt_log_set_fd(2);
    close(logfd);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(d.info.images, 16);
    RT_ASSERT_INT_EQ(d.info.images_used, 12);
    const char *log = read_text(logpath);
    RT_ASSERT_CONTAINS(log, "event=image_skipped version=v1 key=images_labeled_by_folder/cat/"
                            "broken.png error=");
    RT_ASSERT_CONTAINS(log, "key=images_labeled_by_folder/dog/cut.png error=");
    RT_ASSERT_CONTAINS(log, "key=images_labeled_by_folder/dog/missing.png error=");
    RT_ASSERT_CONTAINS(log, "event=manifest_line_bad version=v1 key=manifests/m.jsonl line=16");
    char mpath[800];
    snprintf(mpath, sizeof(mpath), "%s/v1/metrics.json", c.models);
    const char *metrics = read_text(mpath);
    RT_ASSERT_CONTAINS(metrics, "\"skipped\":3");
    RT_ASSERT_CONTAINS(metrics, "broken.png");
    ctx_close(&c);
}

RT_TEST(too_few_labels_fails_training)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 5, 64);
    add_images(&c, &man, "dog", 1, 0, 1, 64); /* one image: left out */
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl"));
    struct described d;
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_FAILED);
    RT_ASSERT_CONTAINS(d.info.message, "at least 2 labels");
    RT_ASSERT_CONTAINS(d.info.message, "dog");
    /* A missing manifest fails the training too, with the key in the message. */
    RT_ASSERT_OK(train(&c, "v2", "manifests/nope.jsonl"));
    wait_trained(&c, "v2", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_FAILED);
    RT_ASSERT_CONTAINS(d.info.message, "manifests/nope.jsonl");
    /* A failed version cannot be started. */
    RT_ASSERT_INT_EQ(sync_op(&c, 1, "v1"), RT_ENOTFOUND);
    ctx_close(&c);
}

RT_TEST(train_is_idempotent)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 5, 64);
    add_images(&c, &man, "dog", 1, 0, 5, 64);
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl"));
    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl")); /* in flight: same training */
    struct described d;
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    double f1 = d.info.f1;
    char path[800];
    snprintf(path, sizeof(path), "%s/v1/model.json", c.models);
    struct stat st1, st2;
    RT_ASSERT(stat(path, &st1) == 0);
    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl"));
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT(d.info.f1 == f1);
    RT_ASSERT(stat(path, &st2) == 0);
    RT_ASSERT(st1.st_ino == st2.st_ino);
    RT_ASSERT(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
              st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
    ctx_close(&c);
}

RT_TEST(start_stop_describe)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 5, 64);
    add_images(&c, &man, "dog", 1, 0, 5, 64);
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    struct described d;
    describe(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_UNKNOWN);
    RT_ASSERT_INT_EQ(sync_op(&c, 1, "v1"), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(sync_op(&c, 0, "v1"), RT_ENOTFOUND);
    RT_ASSERT_OK(train(&c, "v1", "manifests/m.jsonl"));
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    struct detected det;
    detect(&c, "v1", 0, 5, &det);
    RT_ASSERT_INT_EQ(det.status, RT_ENOTFOUND); /* not started */
    RT_ASSERT_CONTAINS(det.err, "not running");

    struct done s = {0};
    RT_ASSERT_OK(c.eng->ops->start(c.eng, "v1", 1, on_done, &s));
    RT_ASSERT_INT_EQ(c.eng->ops->start(c.eng, "v1", 1, on_done, &s), RT_EBUSY);
    describe(&c, "v1", &d);
    RT_ASSERT(d.info.status == RT_MODEL_STARTING || d.info.status == RT_MODEL_RUNNING);
    run_until(&c, &s.called);
    RT_ASSERT_OK(s.status);
    describe(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_RUNNING);
    RT_ASSERT(d.info.f1 >= 0.8);
    RT_ASSERT_OK(sync_op(&c, 1, "v1")); /* running already */
    detect(&c, "v1", 1, 5, &det);
    RT_ASSERT_OK(det.status);
    RT_ASSERT_STR_EQ(det.labels[0].name, "dog");
    /* A non-image to detect fails that call only. */
    struct detected bad = {0};
    RT_ASSERT_OK(c.eng->ops->detect(c.eng, "v1", "hello", 5, 0, on_detect, &bad));
    run_until(&c, &bad.called);
    RT_ASSERT_INT_EQ(bad.status, RT_EIMAGE);

    RT_ASSERT_OK(sync_op(&c, 0, "v1"));
    describe(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_STOPPED);
    RT_ASSERT_OK(sync_op(&c, 0, "v1")); /* stopped already */
    detect(&c, "v1", 0, 5, &det);
    RT_ASSERT_INT_EQ(det.status, RT_ENOTFOUND);
    /* Bad names are refused at once. */
    struct rt_train_request req = {"../x", "manifests/m.jsonl", "evaluation/", ATTR};
    struct done dd = {0};
    RT_ASSERT_INT_EQ(c.eng->ops->train(c.eng, &req, on_done, &dd), RT_EINVAL);
    RT_ASSERT_INT_EQ(c.eng->ops->describe(c.eng, "a/b", on_describe, &d), RT_EINVAL);
    ctx_close(&c);
}

RT_TEST(restart_sees_versions)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 5, 64);
    add_images(&c, &man, "dog", 1, 0, 5, 64);
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    RT_ASSERT_OK(train(&c, "done-1", "manifests/m.jsonl"));
    RT_ASSERT_OK(train(&c, "done-2", "manifests/m.jsonl"));
    struct described d;
    wait_trained(&c, "done-1", &d);
    wait_trained(&c, "done-2", &d);
    RT_ASSERT_OK(sync_op(&c, 1, "done-1"));
    engine_close(&c);

    /* A training cut off by a crash: a folder and a temporary file, no model.json. */
    char path[800];
    snprintf(path, sizeof(path), "%s/cut-1", c.models);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/cut-1/.model.json.tmp", c.models);
    write_bytes(path, "{\"format\":1", 11);
    snprintf(path, sizeof(path), "%s/cut-1/metrics.json", c.models);
    write_bytes(path, "{\"f1\":1}", 8);

    engine_open(&c);
    describe(&c, "done-1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_RUNNING);
    RT_ASSERT(d.info.f1 >= 0.8);
    describe(&c, "done-2", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    describe(&c, "cut-1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_UNKNOWN);
    describe(&c, "never", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_UNKNOWN);
    /* The running version serves at once (loaded on first use) and start() is a no-op. */
    struct detected det;
    detect(&c, "done-1", 0, 500, &det);
    RT_ASSERT_OK(det.status);
    RT_ASSERT_STR_EQ(det.labels[0].name, "cat");
    RT_ASSERT_OK(sync_op(&c, 1, "done-1"));
    /* The interrupted version trains again from scratch. */
    RT_ASSERT_OK(train(&c, "cut-1", "manifests/m.jsonl"));
    wait_trained(&c, "cut-1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(d.info.images, 10);
    ctx_close(&c);
}

RT_TEST(close_while_training)
{
    struct ctx c;
    ctx_open(&c);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 22);
    add_images(&c, &man, "cat", 0, 0, 60, 64);
    add_images(&c, &man, "dog", 1, 0, 60, 64);
    put_manifest(&c, "m.jsonl", &man);
    rt_buf_cleanup(&man);
    struct rt_train_request req = {"v1", "manifests/m.jsonl", "evaluation/", ATTR};
    struct done d = {0};
    RT_ASSERT_OK(c.eng->ops->train(c.eng, &req, on_done, &d));
    engine_close(&c); /* before the started callback ran: it reports cancelled */
    RT_ASSERT_INT_EQ(d.called, 1);
    RT_ASSERT_INT_EQ(d.status, RT_ECANCELED);
    engine_open(&c);
    struct described ds;
    describe(&c, "v1", &ds);
    RT_ASSERT(ds.info.status == RT_MODEL_UNKNOWN || ds.info.status == RT_MODEL_TRAINING_COMPLETED);
    char path[800];
    snprintf(path, sizeof(path), "%s/v1/failed.json", c.models);
    RT_ASSERT(access(path, F_OK) != 0); /* a cancelled training is not a failed one */
    ctx_close(&c);
}
