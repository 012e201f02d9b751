/*
 * test_engine_train.c - the builtin engine's training against a store driver written here: an
 * in-memory bucket that implements list, get, put, head and close and nothing else (no
 * copy or del: calling them would crash the test). It delivers every callback from a
 * timer, so never inside the starting call, and records what the engine asked of it: gets in
 * flight, the bodies and caps it was handed, gets issued after a mark. It can fail one key,
 * hold gets, and delay them.
 *
 * Every case closes its loop with uv_loop_close() == 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "../../src/engine/builtin/image.h"
#include "../../src/engine/builtin/train.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/engine.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"
#include "retraind/synth.h"
#include "rt_test.h"

#define ATTR "retraind-label"
#define BUCKET "mem"
#define MAX_BODIES 64

/* ---- the in-memory store ---- */

struct mem_obj {
    struct mem_obj *next;
    char *key; /* owned */
    char *data;
    size_t len;
};

struct mem_store {
    struct rt_store base;
    uv_loop_t *loop;
    struct mem_obj *objs;
    uv_timer_t close_timer; /* closed last; its close callback ends close() */
    int open_ops;
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;

    /* behaviour */
    const char *fail_key; /* get reports RT_EIO */
    uint64_t delay_ms;    /* every callback after this long (0: the next loop turn) */
    int hold_after;       /* > 0: image gets after this many are held until mem_release */

    /* records */
    int gets, image_gets, gets_done, puts, lists, heads;
    int in_flight, max_in_flight; /* gets */
    int held_count;
    bool mark;           /* set by the test (e.g. when it closes the engine) */
    int gets_after_mark; /* gets started while mark was set */
    size_t image_max_bytes;
    const struct rt_buf *bodies[MAX_BODIES]; /* distinct image bodies handed to get */
    int n_bodies;
    struct mem_op *held; /* gets held back */
};

enum mem_kind { MEM_GET, MEM_PUT, MEM_LIST, MEM_HEAD };

struct mem_op {
    uv_timer_t t; /* t.data = the op */
    struct mem_store *s;
    struct mem_op *next_held;
    enum mem_kind kind;
    char *key; /* owned */
    struct rt_buf *body;
    char *data; /* put: owned copy */
    size_t len;
    rt_store_done_fn *done;
    rt_store_head_fn *head_cb;
    rt_store_page_fn *page_cb;
    void *ud;
};

static struct mem_obj *mem_find(struct mem_store *s, const char *key)
{
    for (struct mem_obj *o = s->objs; o; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

/* Adds or replaces key with a copy of data. */
static void mem_set(struct mem_store *s, const char *key, const void *data, size_t len)
{
    struct mem_obj *o = mem_find(s, key);
    if (!o) {
        o = rt_calloc(1, sizeof(*o));
        RT_ASSERT(o != NULL);
        o->key = rt_strdup(key);
        o->next = s->objs;
        s->objs = o;
    }
    rt_free(o->data);
    o->data = rt_malloc(len + 1); /* NUL-terminated for the test's own reading */
    RT_ASSERT(o->data != NULL);
    memcpy(o->data, data, len);
    o->data[len] = '\0';
    o->len = len;
}

static void mem_store_free(struct mem_store *s)
{
    while (s->objs) {
        struct mem_obj *o = s->objs;
        s->objs = o->next;
        rt_free(o->key);
        rt_free(o->data);
        rt_free(o);
    }
    rt_free(s);
}

static void on_close_timer_closed(uv_handle_t *h)
{
    struct mem_store *s = h->data;
    void (*cb)(void *) = s->close_cb;
    void *ud = s->close_ud;
    mem_store_free(s);
    if (cb)
        cb(ud);
}

static void mem_maybe_closed(struct mem_store *s)
{
    if (s->closing && s->open_ops == 0 && !uv_is_closing((uv_handle_t *)&s->close_timer))
        uv_close((uv_handle_t *)&s->close_timer, on_close_timer_closed);
}

static void on_op_closed(uv_handle_t *h)
{
    struct mem_op *op = h->data;
    struct mem_store *s = op->s;
    rt_free(op->key);
    rt_free(op->data);
    rt_free(op);
    s->open_ops--;
    mem_maybe_closed(s);
}

static void on_op_timer(uv_timer_t *t)
{
    struct mem_op *op = t->data;
    struct mem_store *s = op->s;
    struct rt_error err;
    rt_error_clear(&err);
    struct mem_obj *o = mem_find(s, op->key);
    int rc = 0;
    switch (op->kind) {
    case MEM_GET:
        s->in_flight--;
        s->gets_done++;
        if (s->fail_key && strcmp(op->key, s->fail_key) == 0)
            rc = rt_error_set(&err, RT_EIO, "injected I/O failure on %s", op->key);
        else if (!o)
            rc = rt_error_set(&err, RT_ENOTFOUND, "no such key %s", op->key);
        else if (o->len > op->body->max_bytes - op->body->len)
            rc = rt_error_set(&err, RT_ETOOBIG, "key %s has %zu bytes", op->key, o->len);
        else
            rc = rt_buf_append(op->body, o->data, o->len);
        op->done(rc, rc ? &err : NULL, op->ud);
        break;
    case MEM_PUT:
        mem_set(s, op->key, op->data, op->len);
        op->done(0, NULL, op->ud);
        break;
    case MEM_HEAD: {
        struct rt_store_entry e = {op->key, o ? (int64_t)o->len : 0, 0, "etag"};
        op->head_cb(0, o != NULL, o ? &e : NULL, NULL, op->ud);
        break;
    }
    case MEM_LIST: {
        size_t n = 0, plen = strlen(op->key);
        for (struct mem_obj *it = s->objs; it; it = it->next)
            n += strncmp(it->key, op->key, plen) == 0;
        struct rt_store_entry *es = rt_calloc(n ? n : 1, sizeof(*es));
        RT_ASSERT(es != NULL);
        n = 0;
        for (struct mem_obj *it = s->objs; it; it = it->next)
            if (strncmp(it->key, op->key, plen) == 0)
                es[n++] = (struct rt_store_entry){it->key, (int64_t)it->len, 0, "etag"};
        op->page_cb(es, n, true, 0, NULL, op->ud);
        rt_free(es);
        break;
    }
    }
    uv_close((uv_handle_t *)&op->t, on_op_closed);
}

static void op_arm(struct mem_op *op)
{
    uv_timer_start(&op->t, on_op_timer, op->s->delay_ms, 0);
}

static struct mem_op *op_new(struct mem_store *s, enum mem_kind kind, const char *key, void *ud)
{
    struct mem_op *op = rt_calloc(1, sizeof(*op));
    RT_ASSERT(op != NULL);
    op->s = s;
    op->kind = kind;
    op->key = rt_strdup(key);
    op->ud = ud;
    uv_timer_init(s->loop, &op->t);
    op->t.data = op;
    s->open_ops++;
    return op;
}

static int
mem_get(struct rt_store *st, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud)
{
    struct mem_store *s = (struct mem_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!body || !cb || !key)
        return RT_EINVAL;
    s->gets++;
    if (s->mark)
        s->gets_after_mark++;
    if (strncmp(key, "manifests/", 10) != 0) {
        s->image_gets++;
        s->image_max_bytes = body->max_bytes;
        bool seen = false;
        for (int i = 0; i < s->n_bodies; i++)
            seen = seen || s->bodies[i] == body;
        if (!seen && s->n_bodies < MAX_BODIES)
            s->bodies[s->n_bodies++] = body;
    }
    if (++s->in_flight > s->max_in_flight)
        s->max_in_flight = s->in_flight;
    struct mem_op *op = op_new(s, MEM_GET, key, ud);
    op->body = body;
    op->done = cb;
    if (s->hold_after > 0 && strncmp(key, "manifests/", 10) != 0 && s->image_gets > s->hold_after) {
        op->next_held = s->held;
        s->held = op;
        s->held_count++;
    } else {
        op_arm(op);
    }
    return 0;
}

/* Delivers every held get (on a later loop turn) and holds no more. */
static void mem_release(struct mem_store *s)
{
    s->hold_after = 0;
    while (s->held) {
        struct mem_op *op = s->held;
        s->held = op->next_held;
        s->held_count--;
        op_arm(op);
    }
}

static int mem_put(struct rt_store *st,
                   const char *key,
                   const void *data,
                   size_t len,
                   const char *content_type,
                   rt_store_done_fn *cb,
                   void *ud)
{
    (void)content_type;
    struct mem_store *s = (struct mem_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb || !key || (!data && len))
        return RT_EINVAL;
    s->puts++;
    struct mem_op *op = op_new(s, MEM_PUT, key, ud);
    op->data = rt_malloc(len ? len : 1);
    RT_ASSERT(op->data != NULL);
    memcpy(op->data, data, len);
    op->len = len;
    op->done = cb;
    op_arm(op);
    return 0;
}

static int mem_list(struct rt_store *st,
                    const char *prefix,
                    size_t page_size,
                    unsigned flags,
                    rt_store_page_fn *cb,
                    void *ud)
{
    (void)page_size;
    (void)flags;
    struct mem_store *s = (struct mem_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    s->lists++;
    struct mem_op *op = op_new(s, MEM_LIST, prefix ? prefix : "", ud);
    op->page_cb = cb;
    op_arm(op);
    return 0;
}

static int mem_head(struct rt_store *st, const char *key, rt_store_head_fn *cb, void *ud)
{
    struct mem_store *s = (struct mem_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    s->heads++;
    struct mem_op *op = op_new(s, MEM_HEAD, key, ud);
    op->head_cb = cb;
    op_arm(op);
    return 0;
}

static void mem_close(struct rt_store *st, void (*cb)(void *ud), void *ud)
{
    struct mem_store *s = (struct mem_store *)st;
    RT_ASSERT(!s->closing);
    RT_ASSERT(s->held == NULL); /* a test must release what it held */
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    mem_maybe_closed(s);
}

static const struct rt_store_ops mem_ops = {
    .name = "memory",
    .list = mem_list,
    .get = mem_get,
    .put = mem_put,
    .head = mem_head,
    .close = mem_close, /* copy and del stay NULL */
};

static struct mem_store *mem_new(uv_loop_t *loop)
{
    struct mem_store *s = rt_calloc(1, sizeof(*s));
    RT_ASSERT(s != NULL);
    s->base.ops = &mem_ops;
    s->base.bucket_name = BUCKET;
    s->loop = loop;
    uv_timer_init(loop, &s->close_timer);
    s->close_timer.data = s;
    return s;
}

/* ---- fixtures ---- */

struct ctx {
    uv_loop_t loop;
    struct mem_store *store;
    struct rt_engine *eng;
    char models[600];
    char logpath[700];
    int logfd;
};

static void set_flag(void *ud)
{
    (*(int *)ud)++;
}

static void run_until(struct ctx *c, const int *flag)
{
    while (!*flag)
        uv_run(&c->loop, UV_RUN_ONCE);
}

static void engine_open(struct ctx *c, int threads)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_engine_builtin_opts o = {c->models, &c->store->base, threads};
    RT_ASSERT_OK(rt_engine_builtin_new(&c->loop, &o, &c->eng, &err));
}

static void ctx_open(struct ctx *c, int threads)
{
    memset(c, 0, sizeof(*c));
    RT_ASSERT_OK(uv_loop_init(&c->loop));
    snprintf(c->models, sizeof(c->models), "%s/models", rt_test_tmpdir());
    snprintf(c->logpath, sizeof(c->logpath), "%s/log.txt", rt_test_tmpdir());
    c->logfd = open(c->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    RT_ASSERT(c->logfd >= 0);
    rt_log_set_fd(c->logfd);
    c->store = mem_new(&c->loop);
    if (threads > 0)
        engine_open(c, threads);
}

static void engine_close(struct ctx *c)
{
    int closed = 0;
    c->eng->ops->close(c->eng, set_flag, &closed);
    RT_ASSERT_INT_EQ(closed, 0); /* never from inside close() */
    run_until(c, &closed);
    RT_ASSERT_INT_EQ(closed, 1);
    c->eng = NULL;
}

static void ctx_close(struct ctx *c)
{
    if (c->eng)
        engine_close(c);
    int closed = 0;
    c->store->base.ops->close(&c->store->base, set_flag, &closed);
    run_until(c, &closed);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&c->loop), 0);
    rt_log_set_fd(2);
    close(c->logfd);
}

static char *read_text(const char *path)
{
    static char buf[1 << 17];
    FILE *f = fopen(path, "rb");
    RT_ASSERT(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Puts count synth images of class cls under images_labeled_by_folder/<label>/ in the store and
 * appends their manifest lines to man. */
static void
add_images(struct ctx *c, struct rt_buf *man, const char *label, int cls, int start, int count)
{
    struct rt_error err;
    rt_error_clear(&err);
    for (int i = start; i < start + count; i++) {
        enum rt_synth_format fmt = i % 3 == 2 ? RT_SYNTH_JPEG : RT_SYNTH_PNG;
        char key[300];
        snprintf(key, sizeof(key), "images_labeled_by_folder/%s/%s-%d.%s", label, label, i,
                 fmt == RT_SYNTH_JPEG ? "jpg" : "png");
        struct rt_buf img;
        rt_buf_init(&img, 1 << 22);
        RT_ASSERT_OK(rt_synth_encode(cls, (uint64_t)i, 64, fmt, &img, &err));
        mem_set(c->store, key, img.data, img.len);
        rt_buf_cleanup(&img);
        struct rt_manifest_line l = {BUCKET, key, label, cls, "2024-01-01T00:00:00.000Z", "t"};
        RT_ASSERT_OK(rt_manifest_append(man, ATTR, &l, &err));
    }
}

static void add_line(struct rt_buf *man, const char *key, const char *label, int cls)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_manifest_line l = {BUCKET, key, label, cls, "2024-01-01T00:00:00.000Z", "t"};
    RT_ASSERT_OK(rt_manifest_append(man, ATTR, &l, &err));
}

struct done {
    int called, status;
};

static void on_done(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    struct done *d = ud;
    d->called++;
    d->status = status;
}

struct described {
    int called, status;
    struct rt_model_info info;
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
        d->info.labels = NULL;
    }
}

static void start_training(struct ctx *c, const char *version, struct done *d)
{
    struct rt_train_request req = {version, "manifests/m.jsonl", "evaluation/e1/", ATTR};
    memset(d, 0, sizeof(*d));
    RT_ASSERT_OK(c->eng->ops->train(c->eng, &req, on_done, d));
    RT_ASSERT_INT_EQ(d->called, 0); /* never from inside train() */
}

static void describe(struct ctx *c, const char *version, struct described *d)
{
    memset(d, 0, sizeof(*d));
    RT_ASSERT_OK(c->eng->ops->describe(c->eng, version, on_describe, d));
    run_until(c, &d->called);
    RT_ASSERT_OK(d->status);
}

static void on_wait_timer(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

static void on_wait_closed(uv_handle_t *h)
{
    (*(int *)h->data)++;
}

/* Lets the loop run for ms: a poll period, not a synchronisation. */
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

/* ---- cases ---- */

/* The whole training runs from a store that has only the asynchronous interface: the manifest
 * and each image are fetched once with get, the evaluation is published with put, the model
 * serves, and no timer is left once the training is over. */
RT_TEST(train_from_async_store_only)
{
    struct ctx c;
    ctx_open(&c, 2);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 6);
    add_images(&c, &man, "dog", 1, 0, 6);
    mem_set(c.store, "manifests/m.jsonl", man.data, man.len);
    rt_buf_cleanup(&man);

    struct done started;
    start_training(&c, "v1", &started);
    struct described d;
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(started.called, 1);
    RT_ASSERT_OK(started.status);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    if (d.info.f1 < 0.8)
        RT_FAIL("F1 %.3f below 0.8", d.info.f1);
    RT_ASSERT_INT_EQ(d.info.images, 12);
    RT_ASSERT_INT_EQ(d.info.images_used, 12);
    RT_ASSERT_INT_EQ(c.store->gets, 13); /* the manifest, then each image once */
    RT_ASSERT_INT_EQ(c.store->image_gets, 12);
    RT_ASSERT_INT_EQ(c.store->image_max_bytes, RT__IMAGE_MAX_BYTES);
    RT_ASSERT_INT_EQ(c.store->puts, 1);
    RT_ASSERT_INT_EQ(c.store->in_flight, 0);
    struct mem_obj *ev = mem_find(c.store, "evaluation/e1/evaluation.json");
    RT_ASSERT(ev != NULL);
    RT_ASSERT_CONTAINS(ev->data, "\"images_used\":12");
    /* An idle engine holds no active handle: the training's progress timer is gone. */
    RT_ASSERT(!uv_loop_alive(&c.loop));

    /* The model the store's images trained serves. */
    struct done s = {0};
    RT_ASSERT_OK(c.eng->ops->start(c.eng, "v1", 1, on_done, &s));
    run_until(&c, &s.called);
    RT_ASSERT_OK(s.status);
    describe(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_RUNNING);
    const char *log = read_text(c.logpath);
    RT_ASSERT_CONTAINS(log, "event=train_done version=v1 images=12 used=12 skipped=0 f1=");
    ctx_close(&c);
}

/* A get that fails (RT_EIO) and an object beyond the image cap (RT_ETOOBIG from get) each skip
 * that image alone, logged with key= and error= and counted in metrics.json. */
RT_TEST(failed_get_skips_that_image_alone)
{
    struct ctx c;
    ctx_open(&c, 2);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 7);
    add_images(&c, &man, "dog", 1, 0, 6);
    c.store->fail_key = "images_labeled_by_folder/cat/cat-3.png";
    char *big = rt_calloc(1, RT__IMAGE_MAX_BYTES + 1);
    RT_ASSERT(big != NULL);
    memcpy(big, "\x89PNG\r\n\x1a\n", 8);
    mem_set(c.store, "images_labeled_by_folder/dog/huge.png", big, RT__IMAGE_MAX_BYTES + 1);
    rt_free(big);
    add_line(&man, "images_labeled_by_folder/dog/huge.png", "dog", 1);
    mem_set(c.store, "manifests/m.jsonl", man.data, man.len);
    rt_buf_cleanup(&man);

    struct done started;
    start_training(&c, "v1", &started);
    struct described d;
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(d.info.images, 14);
    RT_ASSERT_INT_EQ(d.info.images_used, 12);
    RT_ASSERT_INT_EQ(c.store->image_gets, 14); /* no retry, no second read */
    const char *log = read_text(c.logpath);
    RT_ASSERT_CONTAINS(log, "event=image_skipped version=v1 key=images_labeled_by_folder/cat/"
                            "cat-3.png error=\"cannot read: injected I/O failure");
    RT_ASSERT_CONTAINS(log, "event=image_skipped version=v1 key=images_labeled_by_folder/dog/"
                            "huge.png error=\"image is larger than 15728640 bytes\"");
    RT_ASSERT_CONTAINS(log, "event=train_done version=v1 images=14 used=12 skipped=2 f1=");
    char path[800];
    snprintf(path, sizeof(path), "%s/v1/metrics.json", c.models);
    const char *metrics = read_text(path);
    RT_ASSERT_CONTAINS(metrics, "\"images_used\":12");
    RT_ASSERT_CONTAINS(metrics, "\"skipped\":2");
    RT_ASSERT_CONTAINS(metrics, "cat-3.png");
    RT_ASSERT_CONTAINS(metrics, "huge.png");
    ctx_close(&c);
}

/* With threads = 2, at most 4 gets are in flight and only 4 bodies ever hold image bytes, for
 * 40 images: memory is bounded by the window, not by the manifest. */
RT_TEST(gets_in_flight_bounded)
{
    struct ctx c;
    ctx_open(&c, 2);
    c.store->delay_ms = 1; /* replies overlap across loop turns */
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 20);
    add_images(&c, &man, "dog", 1, 0, 20);
    mem_set(c.store, "manifests/m.jsonl", man.data, man.len);
    rt_buf_cleanup(&man);
    struct done started;
    start_training(&c, "v1", &started);
    struct described d;
    wait_trained(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_TRAINING_COMPLETED);
    RT_ASSERT_INT_EQ(d.info.images_used, 40);
    RT_ASSERT_INT_EQ(c.store->image_gets, 40);
    if (c.store->max_in_flight > 4)
        RT_FAIL("%d gets in flight, more than 2 x threads", c.store->max_in_flight);
    RT_ASSERT_INT_EQ(c.store->max_in_flight, 4); /* the window is used, not one get at a time */
    if (c.store->n_bodies > 4)
        RT_FAIL("%d distinct image bodies, more than 2 x threads", c.store->n_bodies);
    ctx_close(&c);
}

/* close() in the middle of the decode stage, with gets in flight (held by the store): no new get
 * is issued, close waits for the held gets to return, the training leaves nothing that looks
 * complete or failed, and everything is freed (ASan's leak check runs at exit). */
RT_TEST(close_mid_training_waits_and_leaks_nothing)
{
    struct ctx c;
    ctx_open(&c, 2);
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 20);
    add_images(&c, &man, "dog", 1, 0, 20);
    mem_set(c.store, "manifests/m.jsonl", man.data, man.len);
    rt_buf_cleanup(&man);
    c.store->hold_after = 8;
    struct done started;
    start_training(&c, "v1", &started);
    /* The first 8 images arrive and decode; then every slot waits on a held get. */
    while (c.store->held_count < 4)
        uv_run(&c.loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(started.called, 1);
    RT_ASSERT_OK(started.status);
    RT_ASSERT_INT_EQ(c.store->in_flight, 4);

    c.store->mark = true;
    int closed = 0;
    c.eng->ops->close(c.eng, set_flag, &closed);
    for (int i = 0; i < 20; i++)
        uv_run(&c.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(closed, 0); /* held gets are still out: close waits for them */
    mem_release(c.store);
    run_until(&c, &closed);
    RT_ASSERT_INT_EQ(closed, 1);
    c.eng = NULL;
    RT_ASSERT_INT_EQ(c.store->in_flight, 0);
    RT_ASSERT_INT_EQ(c.store->gets_after_mark, 0);
    RT_ASSERT_INT_EQ(c.store->gets, 13); /* the manifest, 8 images, 4 held */
    RT_ASSERT_INT_EQ(c.store->puts, 0);
    RT_ASSERT_INT_EQ(started.called, 1);
    const char *log = read_text(c.logpath);
    RT_ASSERT_CONTAINS(log, "event=train_cancelled version=v1");

    char path[800];
    snprintf(path, sizeof(path), "%s/v1/model.json", c.models);
    RT_ASSERT(access(path, F_OK) != 0);
    snprintf(path, sizeof(path), "%s/v1/failed.json", c.models);
    RT_ASSERT(access(path, F_OK) != 0);
    engine_open(&c, 2);
    struct described d;
    describe(&c, "v1", &d);
    RT_ASSERT_INT_EQ(d.info.status, RT_MODEL_UNKNOWN);
    ctx_close(&c);
}

/* The training unit on its own (train.h): no engine object, a completion callback, and
 * event=train_progress lines while it runs (here every 5 ms, with images arriving every 20 ms). */
struct unit_done {
    int called, status;
};

static void on_unit_done(int status, void *ud)
{
    struct unit_done *d = ud;
    d->called++;
    d->status = status;
}

RT_TEST(training_unit_reports_progress_and_completion)
{
    struct ctx c;
    ctx_open(&c, 0);
    c.store->delay_ms = 20;
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    add_images(&c, &man, "cat", 0, 0, 4);
    add_images(&c, &man, "dog", 1, 0, 4);
    mem_set(c.store, "manifests/m.jsonl", man.data, man.len);
    rt_buf_cleanup(&man);
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/p1", rt_test_tmpdir());
    struct rt_train_request req = {"ignored", "manifests/m.jsonl", NULL, ATTR};
    struct rt__train_opts o = {.loop = &c.loop,
                               .store = &c.store->base,
                               .version = "p1",
                               .dir = dir,
                               .req = &req,
                               .threads = 1,
                               .progress_ms = 5};
    struct unit_done ud = {0};
    struct rt__train *t = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt__train_start(&o, on_unit_done, &ud, &t, &err));
    RT_ASSERT(t != NULL);
    RT_ASSERT_INT_EQ(ud.called, 0);
    run_until(&c, &ud.called);
    RT_ASSERT_INT_EQ(ud.called, 1);
    RT_ASSERT_OK(ud.status);
    RT_ASSERT_INT_EQ(c.store->max_in_flight, 2);
    RT_ASSERT_INT_EQ(c.store->puts, 0); /* no output prefix: nothing published */
    RT_ASSERT(!uv_loop_alive(&c.loop)); /* its timer is closed */
    const char *log = read_text(c.logpath);
    RT_ASSERT_CONTAINS(log, "event=train_progress version=p1 stage=decode decoded=");
    RT_ASSERT_CONTAINS(log, " total=8 skipped=0 ");
    RT_ASSERT_CONTAINS(log, "event=train_done version=p1 images=8 used=8 skipped=0 f1=");
    char path[800];
    snprintf(path, sizeof(path), "%s/model.json", dir);
    RT_ASSERT(access(path, F_OK) == 0);

    /* Again on the same folder: nothing to do, no get, and the same completion. */
    int gets = c.store->gets;
    memset(&ud, 0, sizeof(ud));
    RT_ASSERT_OK(rt__train_start(&o, on_unit_done, &ud, &t, &err));
    rt__train_cancel(t); /* too late to matter: the version is complete */
    run_until(&c, &ud.called);
    RT_ASSERT_OK(ud.status);
    RT_ASSERT_INT_EQ(c.store->gets, gets);
    ctx_close(&c);
}
