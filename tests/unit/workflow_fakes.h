/*
 * workflow_fakes.h - in-memory store and engine drivers for the workflow machine's unit tests.
 *
 * Both fakes keep the interfaces' promise that a completion never runs inside the call that
 * started it: every answer goes through an rt_defer_queue and arrives on a later loop turn. They
 * count their calls, and the engine follows a script so a test decides what it answers next.
 *
 * The store holds objects by key in sorted order; list() pages through the keys under a prefix,
 * FAKE_STORE_PAGE keys per page at most, one page per loop turn.
 *
 * The engine keeps a status per version the way a real engine would (train -> in progress ->
 * completed; start -> starting -> running; stop -> stopped; a version it never saw is UNKNOWN).
 * A test bends that with: script (answers for the next describe calls, each of which also becomes
 * the version's status), lose_all (describe always answers UNKNOWN), train_polls (describes that
 * answer TRAINING_IN_PROGRESS before COMPLETED; < 0: never completes), and start_busy/stop_busy
 * (answer RT_EBUSY that many times; < 0: always), through the callback or, with *_busy_sync, as
 * the return value of the call.
 *
 * Header-only: each test file that includes it gets its own copy; the helpers a test may not
 * call are static inline, so leaving one unused is no warning.
 */
#ifndef RT_WORKFLOW_FAKES_H
#define RT_WORKFLOW_FAKES_H

#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/engine.h"
#include "retraind/error.h"
#include "retraind/loop.h"
#include "retraind/store.h"
#include "rt_test.h"

/* ---- the store ---- */

#define FAKE_STORE_PAGE 4
#define FAKE_STORE_MAX 256

struct fake_object {
    char *key;  /* owned */
    char *data; /* owned */
    size_t len;
};

struct fake_store {
    struct rt_store base;
    struct rt_defer_queue q;
    struct fake_object obj[FAKE_STORE_MAX]; /* sorted by key */
    size_t n;
    int lists, pages, gets, puts, heads, outstanding;
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Returns: the index of key, or -1 (and *at: where it would go). */
static long fs_find(const struct fake_store *s, const char *key, size_t *at)
{
    size_t i = 0;
    while (i < s->n && strcmp(s->obj[i].key, key) < 0)
        i++;
    if (at)
        *at = i;
    return i < s->n && strcmp(s->obj[i].key, key) == 0 ? (long)i : -1;
}

/* Adds or replaces key with data. */
static inline void fs_set(struct fake_store *s, const char *key, const void *data, size_t len)
{
    size_t at = 0;
    long i = fs_find(s, key, &at);
    char *copy = rt_malloc(len + 1);
    RT_ASSERT(copy != NULL);
    memcpy(copy, data, len);
    copy[len] = '\0';
    if (i >= 0) {
        rt_free(s->obj[i].data);
        s->obj[i].data = copy;
        s->obj[i].len = len;
        return;
    }
    RT_ASSERT(s->n < FAKE_STORE_MAX);
    memmove(&s->obj[at + 1], &s->obj[at], (s->n - at) * sizeof(s->obj[0]));
    s->obj[at].key = rt_strdup(key);
    RT_ASSERT(s->obj[at].key != NULL);
    s->obj[at].data = copy;
    s->obj[at].len = len;
    s->n++;
}

static inline void fs_remove(struct fake_store *s, const char *key)
{
    long i = fs_find(s, key, NULL);
    RT_ASSERT(i >= 0);
    rt_free(s->obj[i].key);
    rt_free(s->obj[i].data);
    memmove(&s->obj[i], &s->obj[i + 1], (s->n - (size_t)i - 1) * sizeof(s->obj[0]));
    s->n--;
}

/* Returns: the object stored under key, or NULL. */
static inline const struct fake_object *fs_get_object(const struct fake_store *s, const char *key)
{
    long i = fs_find(s, key, NULL);
    return i >= 0 ? &s->obj[i] : NULL;
}

/* Adds the labeled image <labeled prefix><label>/<n>.png. */
static inline void fs_add_image(struct fake_store *s, const char *label, int n)
{
    char key[256];
    snprintf(key, sizeof(key), "images_labeled_by_folder/%s/%d.png", label, n);
    fs_set(s, key, "png", 3);
}

static inline void fs_remove_image(struct fake_store *s, const char *label, int n)
{
    char key[256];
    snprintf(key, sizeof(key), "images_labeled_by_folder/%s/%d.png", label, n);
    fs_remove(s, key);
}

enum fs_kind { FS_LIST, FS_GET, FS_PUT, FS_HEAD };

struct fs_op {
    struct rt_deferred d;
    struct fake_store *s;
    enum fs_kind kind;
    void *ud;
    int status;
    /* list: a snapshot of the keys under the prefix, delivered page by page */
    char **keys;
    size_t n_keys, pos, page;
    rt_store_page_fn *page_cb;
    /* get, put */
    struct rt_buf *body;
    rt_store_done_fn *done_cb;
    /* head */
    rt_store_head_fn *head_cb;
    bool exists;
    char key[RT_STORE_KEY_MAX + 1];
};

static void fs_op_free(struct fs_op *op)
{
    for (size_t i = 0; i < op->n_keys; i++)
        rt_free(op->keys[i]);
    rt_free(op->keys);
    op->s->outstanding--;
    rt_free(op);
}

static void fs_run(void *ud)
{
    struct fs_op *op = ud;
    struct rt_error err;
    rt_error_clear(&err);
    if (op->status)
        rt_error_set(&err, op->status, "fake store: %s: %s", op->key, rt_strerror(op->status));
    switch (op->kind) {
    case FS_LIST: {
        struct rt_store_entry e[FAKE_STORE_PAGE];
        size_t k = 0;
        for (; k < op->page && op->pos + k < op->n_keys; k++)
            e[k] = (struct rt_store_entry){.key = op->keys[op->pos + k], .size = -1};
        op->pos += k;
        op->s->pages++;
        bool last = op->pos >= op->n_keys;
        int stop = op->page_cb(e, k, last, 0, NULL, op->ud);
        if (!last && !stop) {
            rt_defer_item(&op->s->q, &op->d, fs_run, op); /* the next page, on a later turn */
            return;
        }
        break;
    }
    case FS_GET: {
        const struct fake_object *o = fs_get_object(op->s, op->key);
        int rc = o ? rt_buf_append(op->body, o->data, o->len) : RT_ENOTFOUND;
        if (rc)
            rt_error_set(&err, rc, "fake store: %s: %s", op->key, rt_strerror(rc));
        op->done_cb(rc, rc ? &err : NULL, op->ud);
        break;
    }
    case FS_PUT:
        op->done_cb(op->status, op->status ? &err : NULL, op->ud);
        break;
    case FS_HEAD: {
        const struct fake_object *o = fs_get_object(op->s, op->key);
        struct rt_store_entry e = {.key = op->key, .size = o ? (int64_t)o->len : -1};
        op->head_cb(0, o != NULL, o ? &e : NULL, NULL, op->ud);
        break;
    }
    }
    fs_op_free(op);
}

static struct fs_op *fs_op_new(struct fake_store *s, enum fs_kind kind, const char *key, void *ud)
{
    struct fs_op *op = rt_calloc(1, sizeof(*op));
    RT_ASSERT(op != NULL);
    op->s = s;
    op->kind = kind;
    op->ud = ud;
    rt_strlcpy(op->key, key ? key : "", sizeof(op->key));
    s->outstanding++;
    return op;
}

static int fs_list(struct rt_store *st,
                   const char *prefix,
                   size_t page_size,
                   unsigned flags,
                   rt_store_page_fn *cb,
                   void *ud)
{
    (void)flags;
    struct fake_store *s = (struct fake_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb || !prefix)
        return RT_EINVAL;
    s->lists++;
    struct fs_op *op = fs_op_new(s, FS_LIST, prefix, ud);
    op->page_cb = cb;
    op->page = page_size && page_size < FAKE_STORE_PAGE ? page_size : FAKE_STORE_PAGE;
    op->keys = rt_calloc(s->n ? s->n : 1, sizeof(char *));
    RT_ASSERT(op->keys != NULL);
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->obj[i].key, prefix, strlen(prefix)) != 0)
            continue;
        op->keys[op->n_keys] = rt_strdup(s->obj[i].key);
        RT_ASSERT(op->keys[op->n_keys] != NULL);
        op->n_keys++;
    }
    rt_defer_item(&s->q, &op->d, fs_run, op);
    return 0;
}

static int
fs_get(struct rt_store *st, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud)
{
    struct fake_store *s = (struct fake_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb || !key || !body)
        return RT_EINVAL;
    s->gets++;
    struct fs_op *op = fs_op_new(s, FS_GET, key, ud);
    op->done_cb = cb;
    op->body = body;
    rt_defer_item(&s->q, &op->d, fs_run, op);
    return 0;
}

static int fs_put(struct rt_store *st,
                  const char *key,
                  const void *data,
                  size_t len,
                  const char *content_type,
                  rt_store_done_fn *cb,
                  void *ud)
{
    (void)content_type;
    struct fake_store *s = (struct fake_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb || !key || (!data && len))
        return RT_EINVAL;
    s->puts++;
    struct fs_op *op = fs_op_new(s, FS_PUT, key, ud);
    op->done_cb = cb;
    fs_set(s, key, data ? data : "", len); /* copied now, as the interface promises */
    rt_defer_item(&s->q, &op->d, fs_run, op);
    return 0;
}

static int fs_head(struct rt_store *st, const char *key, rt_store_head_fn *cb, void *ud)
{
    struct fake_store *s = (struct fake_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb || !key)
        return RT_EINVAL;
    s->heads++;
    struct fs_op *op = fs_op_new(s, FS_HEAD, key, ud);
    op->head_cb = cb;
    rt_defer_item(&s->q, &op->d, fs_run, op);
    return 0;
}

static void fs_closed(void *ud)
{
    struct fake_store *s = ud;
    RT_ASSERT_INT_EQ(s->outstanding, 0);
    void (*cb)(void *) = s->close_cb;
    void *cb_ud = s->close_ud;
    for (size_t i = 0; i < s->n; i++) {
        rt_free(s->obj[i].key);
        rt_free(s->obj[i].data);
    }
    rt_free(s);
    if (cb)
        cb(cb_ud);
}

static void fs_close(struct rt_store *st, void (*cb)(void *ud), void *ud)
{
    struct fake_store *s = (struct fake_store *)st;
    RT_ASSERT(!s->closing);
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    rt_defer_close(&s->q, fs_closed, s); /* what is queued still runs first */
}

static const struct rt_store_ops fake_store_ops = {
    .name = "fake",
    .list = fs_list,
    .get = fs_get,
    .put = fs_put,
    .head = fs_head,
    .close = fs_close, /* copy and del stay NULL: the training workflow never calls them */
};

static inline struct fake_store *fs_new(uv_loop_t *loop)
{
    struct fake_store *s = rt_calloc(1, sizeof(*s));
    RT_ASSERT(s != NULL);
    s->base.ops = &fake_store_ops;
    s->base.bucket_name = "fake";
    RT_ASSERT_OK(rt_defer_init(&s->q, loop));
    return s;
}

/* ---- the engine ---- */

#define FAKE_ENGINE_VERSIONS 16
#define FAKE_ENGINE_SCRIPT 64

struct fe_version {
    char name[128];
    enum rt_model_status status;
    int polls; /* describes answered in the current status */
    double f1;
};

struct fe_answer {
    enum rt_model_status status;
    double f1;
    char message[128];
};

struct fake_engine {
    struct rt_engine base;
    struct rt_defer_queue q;
    struct fe_version v[FAKE_ENGINE_VERSIONS];
    int n_v;
    struct fe_answer script[FAKE_ENGINE_SCRIPT]; /* the next describes' answers, in order */
    int n_script, script_pos;
    bool lose_all;             /* describe answers UNKNOWN, always */
    int train_polls;           /* IN_PROGRESS answers before COMPLETED; < 0: never completes */
    double f1;                 /* of a completed training */
    int start_busy, stop_busy; /* RT_EBUSY answers left; < 0: always */
    bool start_busy_sync, stop_busy_sync; /* busy as the call's return value, not the callback */
    int trains, describes, starts, stops, detects, outstanding;
    char last_stopped[128];
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Queues an answer for the next describe (of any version). */
static inline void
fe_script(struct fake_engine *e, enum rt_model_status status, double f1, const char *msg)
{
    RT_ASSERT(e->n_script < FAKE_ENGINE_SCRIPT);
    struct fe_answer *a = &e->script[e->n_script++];
    a->status = status;
    a->f1 = f1;
    rt_strlcpy(a->message, msg ? msg : "", sizeof(a->message));
}

static struct fe_version *fe_version(struct fake_engine *e, const char *name, bool create)
{
    for (int i = 0; i < e->n_v; i++)
        if (strcmp(e->v[i].name, name) == 0)
            return &e->v[i];
    if (!create)
        return NULL;
    RT_ASSERT(e->n_v < FAKE_ENGINE_VERSIONS);
    struct fe_version *v = &e->v[e->n_v++];
    memset(v, 0, sizeof(*v));
    rt_strlcpy(v->name, name, sizeof(v->name));
    return v;
}

static void fe_set_status(struct fe_version *v, enum rt_model_status s)
{
    v->status = s;
    v->polls = 0;
}

struct fe_op {
    struct rt_deferred d;
    struct fake_engine *e;
    int status;
    bool describe;
    struct rt_model_info info;
    rt_engine_done_fn *done_cb;
    rt_engine_describe_fn *describe_cb;
    rt_engine_detect_fn *detect_cb;
    void *ud;
};

static void fe_run(void *ud)
{
    struct fe_op *op = ud;
    struct rt_error err;
    rt_error_clear(&err);
    if (op->status)
        rt_error_set(&err, op->status, "fake engine: %s", rt_strerror(op->status));
    const struct rt_error *perr = op->status ? &err : NULL;
    if (op->describe)
        op->describe_cb(op->status, op->status ? NULL : &op->info, perr, op->ud);
    else if (op->detect_cb)
        op->detect_cb(op->status, NULL, 0, perr, op->ud);
    else
        op->done_cb(op->status, perr, op->ud);
    op->e->outstanding--;
    rt_free(op);
}

static struct fe_op *fe_op_new(struct fake_engine *e, void *ud)
{
    struct fe_op *op = rt_calloc(1, sizeof(*op));
    RT_ASSERT(op != NULL);
    op->e = e;
    op->ud = ud;
    e->outstanding++;
    return op;
}

static void fe_defer(struct fe_op *op)
{
    rt_defer_item(&op->e->q, &op->d, fe_run, op);
}

static int
fe_train(struct rt_engine *eng, const struct rt_train_request *req, rt_engine_done_fn *cb, void *ud)
{
    struct fake_engine *e = (struct fake_engine *)eng;
    if (e->closing)
        return RT_ECANCELED;
    if (!cb || !req || !req->version || !req->manifest_key)
        return RT_EINVAL;
    e->trains++;
    struct fe_version *v = fe_version(e, req->version, true);
    /* Idempotent on the name: a version that exists and did not fail stays as it is. */
    if (v->status == RT_MODEL_UNKNOWN || v->status == RT_MODEL_TRAINING_FAILED)
        fe_set_status(v, RT_MODEL_TRAINING_IN_PROGRESS);
    struct fe_op *op = fe_op_new(e, ud);
    op->done_cb = cb;
    fe_defer(op);
    return 0;
}

static int
fe_describe(struct rt_engine *eng, const char *version, rt_engine_describe_fn *cb, void *ud)
{
    struct fake_engine *e = (struct fake_engine *)eng;
    if (e->closing)
        return RT_ECANCELED;
    if (!cb || !version)
        return RT_EINVAL;
    e->describes++;
    struct fe_op *op = fe_op_new(e, ud);
    op->describe = true;
    op->describe_cb = cb;
    struct rt_model_info *info = &op->info;
    rt_strlcpy(info->version, version, sizeof(info->version));
    struct fe_version *v = fe_version(e, version, false);
    if (e->lose_all) {
        if (v)
            fe_set_status(v, RT_MODEL_UNKNOWN);
        info->status = RT_MODEL_UNKNOWN;
    } else if (e->script_pos < e->n_script) {
        const struct fe_answer *a = &e->script[e->script_pos++];
        v = fe_version(e, version, true);
        fe_set_status(v, a->status);
        v->f1 = a->f1;
        info->status = a->status;
        rt_strlcpy(info->message, a->message, sizeof(info->message));
    } else if (!v) {
        info->status = RT_MODEL_UNKNOWN;
    } else {
        if (v->status == RT_MODEL_TRAINING_IN_PROGRESS && e->train_polls >= 0 &&
            v->polls >= e->train_polls) {
            fe_set_status(v, RT_MODEL_TRAINING_COMPLETED);
            v->f1 = e->f1;
        } else if (v->status == RT_MODEL_STARTING && v->polls >= 1) {
            fe_set_status(v, RT_MODEL_RUNNING);
        }
        v->polls++;
        info->status = v->status;
    }
    if (v)
        info->f1 = v->f1;
    info->images = info->images_used = 10;
    info->train_images = 8;
    info->test_images = 2;
    fe_defer(op);
    return 0;
}

/* Returns: true (and counts one) when the next start/stop answers busy. */
static bool fe_busy(int *left)
{
    if (*left == 0)
        return false;
    if (*left > 0)
        (*left)--;
    return true;
}

static int
fe_start(struct rt_engine *eng, const char *version, int min_units, rt_engine_done_fn *cb, void *ud)
{
    (void)min_units;
    struct fake_engine *e = (struct fake_engine *)eng;
    if (e->closing)
        return RT_ECANCELED;
    if (!cb || !version)
        return RT_EINVAL;
    e->starts++;
    bool busy = fe_busy(&e->start_busy);
    if (busy && e->start_busy_sync)
        return RT_EBUSY;
    struct fe_op *op = fe_op_new(e, ud);
    op->done_cb = cb;
    if (busy) {
        op->status = RT_EBUSY;
    } else {
        struct fe_version *v = fe_version(e, version, true);
        if (v->status != RT_MODEL_RUNNING)
            fe_set_status(v, RT_MODEL_STARTING);
    }
    fe_defer(op);
    return 0;
}

static int fe_stop(struct rt_engine *eng, const char *version, rt_engine_done_fn *cb, void *ud)
{
    struct fake_engine *e = (struct fake_engine *)eng;
    if (e->closing)
        return RT_ECANCELED;
    if (!cb || !version)
        return RT_EINVAL;
    e->stops++;
    bool busy = fe_busy(&e->stop_busy);
    if (busy && e->stop_busy_sync)
        return RT_EBUSY;
    struct fe_op *op = fe_op_new(e, ud);
    op->done_cb = cb;
    if (busy) {
        op->status = RT_EBUSY;
    } else {
        fe_set_status(fe_version(e, version, true), RT_MODEL_STOPPED);
        rt_strlcpy(e->last_stopped, version, sizeof(e->last_stopped));
    }
    fe_defer(op);
    return 0;
}

static int fe_detect(struct rt_engine *eng,
                     const char *version,
                     const void *image,
                     size_t len,
                     double min_confidence,
                     rt_engine_detect_fn *cb,
                     void *ud)
{
    (void)image;
    (void)len;
    (void)min_confidence;
    struct fake_engine *e = (struct fake_engine *)eng;
    if (e->closing)
        return RT_ECANCELED;
    if (!cb || !version)
        return RT_EINVAL;
    e->detects++;
    struct fe_op *op = fe_op_new(e, ud);
    op->detect_cb = cb;
    fe_defer(op);
    return 0;
}

static void fe_closed(void *ud)
{
    struct fake_engine *e = ud;
    RT_ASSERT_INT_EQ(e->outstanding, 0);
    void (*cb)(void *) = e->close_cb;
    void *cb_ud = e->close_ud;
    rt_free(e);
    if (cb)
        cb(cb_ud);
}

static void fe_close(struct rt_engine *eng, void (*cb)(void *ud), void *ud)
{
    struct fake_engine *e = (struct fake_engine *)eng;
    RT_ASSERT(!e->closing);
    e->closing = true;
    e->close_cb = cb;
    e->close_ud = ud;
    rt_defer_close(&e->q, fe_closed, e);
}

static const struct rt_engine_ops fake_engine_ops = {
    .name = "fake",
    .train = fe_train,
    .describe = fe_describe,
    .start = fe_start,
    .stop = fe_stop,
    .detect = fe_detect,
    .close = fe_close,
};

static inline struct fake_engine *fe_new(uv_loop_t *loop)
{
    struct fake_engine *e = rt_calloc(1, sizeof(*e));
    RT_ASSERT(e != NULL);
    e->base.ops = &fake_engine_ops;
    e->train_polls = 2;
    e->f1 = 0.9;
    RT_ASSERT_OK(rt_defer_init(&e->q, loop));
    return e;
}

#endif
