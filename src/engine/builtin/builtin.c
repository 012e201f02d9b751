/*
 * builtin.c - the builtin engine: a small native classifier behind struct rt_engine_ops.
 *
 * Versions live in models_dir/<version>/: metrics.json, then model.json (written last, its
 * presence marks a complete version), failed.json for a training that failed, and state
 * ("running" or "stopped") once the version was started. Everything the loop does not know
 * from its own memory is read from those files on the thread pool, so describe() after a
 * restart sees completed, failed and running versions, and a version folder without model.json
 * or failed.json (a training cut off by a crash) reads as RT_MODEL_UNKNOWN.
 *
 * Design: every operation hands a self-contained op struct to uv_queue_work and finishes in the
 * after-work callback on the loop, so callbacks never run inside the starting call. A training
 * is its own unit (train.h): this file starts it, keeps it on the version entry, cancels it on
 * close and waits for its completion callback; it never sees the training's insides. train()'s
 * "started" answer is known at once and goes through the core defer queue (loop.h), so it is
 * not held up behind work queued on the pool. A running version's model is shared with detect
 * work by reference count, counted on the loop only. Completions that arrive after close()
 * began report RT_ECANCELED. close() ends when no pool work and no training is left, by closing
 * the defer queue, whose close callback frees the engine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "files.h"
#include "image.h"
#include "model.h"
#include "retraind/alloc.h"
#include "retraind/engine.h"
#include "retraind/fsutil.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/store.h"
#include "train.h"

#define MAX_MODEL_FILE ((size_t)64 << 20)
#define MAX_METRICS_FILE ((size_t)4 << 20)

struct builtin;

/* What the loop knows about one version (created on first use, freed at close). */
struct ver {
    struct ver *next;
    struct builtin *b;
    char name[RT__VERSION_MAX];
    struct rt__train *training; /* non-NULL until the training's completion callback ran */
    struct rt__model *model;    /* loaded and serving (one reference) */
    int op;                     /* VER_OP_NONE, VER_OP_STARTING, VER_OP_STOPPING */
    unsigned serve_gen;         /* bumped by start/stop; a lazy load installs only if same */
};

enum { VER_OP_NONE = 0, VER_OP_STARTING, VER_OP_STOPPING };

struct builtin {
    struct rt_engine base;
    uv_loop_t *loop;
    char models_dir[RT__PATH_MAX];
    struct rt_store *store; /* borrowed */
    int threads;
    struct rt_defer_queue defer; /* answers known at once, run on a later loop turn */
    struct ver *vers;            /* owned */
    int pending;                 /* uv_work_t requests queued and not yet completed */
    int trainings;               /* trainings whose completion callback has not run */
    bool closing, defer_closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* ---- version names and entries ---- */

static bool version_ok(const char *v)
{
    if (!v || !v[0] || v[0] == '.' || strlen(v) >= RT__VERSION_MAX)
        return false;
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static struct ver *ver_get(struct builtin *b, const char *name, bool create)
{
    for (struct ver *v = b->vers; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v;
    if (!create)
        return NULL;
    struct ver *v = rt_calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->b = b;
    rt_strlcpy(v->name, name, sizeof(v->name));
    v->next = b->vers;
    b->vers = v;
    return v;
}

/* ---- work accounting, deferral, close ---- */

static void on_defer_closed(void *ud)
{
    struct builtin *b = ud;
    while (b->vers) {
        struct ver *v = b->vers;
        b->vers = v->next;
        rt__model_unref(v->model);
        rt_free(v);
    }
    void (*cb)(void *) = b->close_cb;
    void *cud = b->close_ud;
    rt_free(b);
    if (cb)
        cb(cud);
}

/* Closing the defer queue runs what is still queued (on a later turn), then frees the engine. */
static void maybe_finish_close(struct builtin *b)
{
    if (b->closing && !b->defer_closing && b->pending == 0 && b->trainings == 0) {
        b->defer_closing = true;
        rt_defer_close(&b->defer, on_defer_closed, b);
    }
}

static int queue_work(struct builtin *b, uv_work_t *req, uv_work_cb work, uv_after_work_cb after)
{
    int rc = uv_queue_work(b->loop, req, work, after);
    if (rc == 0)
        b->pending++;
    return rc;
}

/* Called at the end of every after-work callback: uncounts it and finishes a close. */
static void work_done(struct builtin *b)
{
    b->pending--;
    maybe_finish_close(b);
}

/* A success known at once (train or start of something in flight or done already). */
struct deferred_done {
    struct rt_deferred item; /* the queue's */
    struct builtin *b;
    rt_engine_done_fn *cb;
    void *ud;
};

static void run_deferred_done(void *ud)
{
    struct deferred_done *d = ud;
    struct builtin *b = d->b;
    rt_engine_done_fn *cb = d->cb;
    void *cud = d->ud;
    rt_free(d);
    if (b->closing) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, RT_ECANCELED, "engine closed");
        cb(RT_ECANCELED, &e, cud);
    } else {
        cb(0, NULL, cud);
    }
}

static struct deferred_done *deferred_new(struct builtin *b, rt_engine_done_fn *cb, void *ud)
{
    struct deferred_done *d = rt_calloc(1, sizeof(*d));
    if (d) {
        d->b = b;
        d->cb = cb;
        d->ud = ud;
    }
    return d;
}

/* Queues d to run on a later loop turn; cannot fail. */
static void deferred_push(struct builtin *b, struct deferred_done *d)
{
    rt_defer_item(&b->defer, &d->item, run_deferred_done, d);
}

/* Queues cb(0) for a later loop turn (RT_ECANCELED if close() began by then).
 * Returns: 0 or RT_ENOMEM. */
static int defer_done(struct builtin *b, rt_engine_done_fn *cb, void *ud)
{
    struct deferred_done *d = deferred_new(b, cb, ud);
    if (!d)
        return RT_ENOMEM;
    deferred_push(b, d);
    return 0;
}

/* A training's completion (train.h): the version is no longer training. */
static void on_train_done(int status, void *ud)
{
    (void)status; /* logged by the training; describe() reads the outcome from the files */
    struct ver *v = ud;
    struct builtin *b = v->b;
    v->training = NULL;
    b->trainings--;
    maybe_finish_close(b);
}

/* ---- ops shared by describe/start/stop/detect ---- */

enum op_kind { OP_DESCRIBE, OP_START, OP_STOP, OP_DETECT };

struct op {
    uv_work_t req;
    struct builtin *b;
    enum op_kind kind;
    char version[RT__VERSION_MAX];
    char dir[RT__PATH_MAX];
    void *ud;
    rt_engine_done_fn *done_cb;
    rt_engine_describe_fn *describe_cb;
    rt_engine_detect_fn *detect_cb;
    int status;
    struct rt_error err;
    /* describe */
    struct rt_model_info info;
    struct rt_label_metric *labels;
    /* start / detect */
    struct rt__model *model; /* start: loaded here; detect: shared (ref) or loaded here */
    bool model_loaded_here;
    unsigned serve_gen;
    /* detect */
    const void *image;
    size_t image_len;
    double min_confidence;
    struct rt_detection_label *out;
    size_t n_out;
};

static struct op *op_new(struct builtin *b, enum op_kind kind, const char *version, void *ud)
{
    struct op *o = rt_calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->b = b;
    o->kind = kind;
    o->ud = ud;
    o->req.data = o;
    rt_strlcpy(o->version, version, sizeof(o->version));
    rt__path(o->dir, b->models_dir, version, NULL);
    return o;
}

static void op_free(struct op *o)
{
    if (o->model)
        rt__model_unref(o->model); /* loop thread only: after-work */
    rt_free(o->labels);
    rt_free(o->out);
    rt_free(o);
}

static int file_in(const struct op *o, const char *name, char *out)
{
    return rt_snprintf(out, RT__PATH_MAX, "%s/%s", o->dir, name);
}

/* Reads the state file: 1 running, 0 stopped, -1 absent. */
static int read_state(const struct op *o)
{
    char path[RT__PATH_MAX];
    if (file_in(o, RT__STATE_FILE, path) != 0)
        return -1;
    struct rt_buf b;
    rt_buf_init(&b, 64);
    int rc = rt__read_file(path, 64, &b);
    int st = -1;
    if (rc == 0 && b.data)
        st = strncmp(b.data, "running", 7) == 0 ? 1 : 0;
    rt_buf_cleanup(&b);
    return st;
}

static int load_model(struct op *o, struct rt__model **out)
{
    char path[RT__PATH_MAX];
    if (file_in(o, RT__MODEL_FILE, path) != 0)
        return rt_error_set(&o->err, RT_EINVAL, "path too long");
    struct rt_buf b;
    rt_buf_init(&b, MAX_MODEL_FILE);
    int rc = rt__read_file(path, MAX_MODEL_FILE, &b);
    if (rc == -ENOENT)
        rc = rt_error_set(&o->err, RT_ENOTFOUND, "version %s has no completed model", o->version);
    else if (rc != 0)
        rc = rt_error_set(&o->err, rc, "cannot read %s: %s", path, rt_strerror(rc));
    else
        rc = rt__model_from_json(b.data, b.len, out, &o->err);
    rt_buf_cleanup(&b);
    return rc;
}

/* Fills info from metrics.json or failed.json text. */
static void parse_metrics(struct op *o, const char *text, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(text, len);
    if (!m)
        return;
    const cJSON *it;
    struct rt_model_info *info = &o->info;
#define NUM(name, field)                                                                           \
    if (cJSON_IsNumber(it = cJSON_GetObjectItemCaseSensitive(m, name)))                            \
        info->field = it->valuedouble;
    NUM("f1", f1);
    NUM("images", images);
    NUM("images_used", images_used);
    NUM("train_images", train_images);
    NUM("test_images", test_images);
#undef NUM
    it = cJSON_GetObjectItemCaseSensitive(m, "message");
    if (cJSON_IsString(it))
        rt_strlcpy(info->message, it->valuestring, sizeof(info->message));
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
    int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : 0;
    if (n > 0 && n <= 10000 && (o->labels = rt_calloc((size_t)n, sizeof(*o->labels)))) {
        const cJSON *l;
        cJSON_ArrayForEach(l, labels)
        {
            struct rt_label_metric *lm = &o->labels[o->info.n_labels];
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(l, "label");
            if (!cJSON_IsString(f))
                continue;
            rt_strlcpy(lm->label, f->valuestring, sizeof(lm->label));
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(l, "precision")))
                lm->precision = f->valuedouble;
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(l, "recall")))
                lm->recall = f->valuedouble;
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(l, "f1")))
                lm->f1 = f->valuedouble;
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(l, "test_images")))
                lm->test_images = (int64_t)f->valuedouble;
            o->info.n_labels++;
        }
    }
    cJSON_Delete(m);
}

/* ---- describe ---- */

static void describe_work(uv_work_t *req)
{
    struct op *o = req->data;
    char path[RT__PATH_MAX];
    struct rt_buf b;
    rt_buf_init(&b, MAX_METRICS_FILE);
    o->info.status = RT_MODEL_UNKNOWN;
    if (file_in(o, RT__MODEL_FILE, path) == 0 && rt__exists(path)) {
        int st = read_state(o);
        o->info.status = st == 1   ? RT_MODEL_RUNNING
                         : st == 0 ? RT_MODEL_STOPPED
                                   : RT_MODEL_TRAINING_COMPLETED;
        if (file_in(o, RT__METRICS_FILE, path) == 0 &&
            rt__read_file(path, MAX_METRICS_FILE, &b) == 0 && b.data)
            parse_metrics(o, b.data, b.len);
    } else if (file_in(o, RT__FAILED_FILE, path) == 0 &&
               rt__read_file(path, MAX_METRICS_FILE, &b) == 0 && b.data) {
        o->info.status = RT_MODEL_TRAINING_FAILED;
        parse_metrics(o, b.data, b.len);
        if (!o->info.message[0])
            rt_strlcpy(o->info.message, "training failed", sizeof(o->info.message));
    }
    rt_buf_cleanup(&b);
}

static void describe_after(uv_work_t *req, int status)
{
    (void)status;
    struct op *o = req->data;
    struct builtin *b = o->b;
    struct ver *v = ver_get(b, o->version, false);
    struct rt_model_info *info = &o->info;
    rt_strlcpy(info->version, o->version, sizeof(info->version));
    info->labels = o->labels;
    /* What the loop knows now beats what the files said a moment ago. */
    if (v && v->training) {
        info->status = RT_MODEL_TRAINING_IN_PROGRESS;
        rt_strlcpy(info->message, "training in progress", sizeof(info->message));
    } else if (v && v->op == VER_OP_STARTING) {
        info->status = RT_MODEL_STARTING;
    } else if (v && v->op == VER_OP_STOPPING) {
        info->status = RT_MODEL_STOPPING;
    } else if (v && v->model) {
        info->status = RT_MODEL_RUNNING;
    }
    if (b->closing) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, RT_ECANCELED, "engine closed");
        o->describe_cb(RT_ECANCELED, NULL, &e, o->ud);
    } else {
        o->describe_cb(0, info, NULL, o->ud);
    }
    op_free(o);
    work_done(b);
}

/* ---- start / stop ---- */

static void start_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct op *o = req->data;
    o->status = load_model(o, &o->model);
    if (o->status == 0 && read_state(o) != 1)
        o->status = rt__write_atomic(o->dir, RT__STATE_FILE, "running\n", 8, &o->err);
}

static void start_after(uv_work_t *req, int status)
{
    (void)status;
    struct op *o = req->data;
    struct builtin *b = o->b;
    struct ver *v = ver_get(b, o->version, false);
    if (v)
        v->op = VER_OP_NONE;
    if (o->status == 0 && v && !b->closing) {
        rt__model_unref(v->model);
        v->model = o->model;
        o->model = NULL;
        RT_LOG(RT_LOG_NOTICE, "engine", "event=model_running version=%s labels=%zu", o->version,
               v->model->n_labels);
    } else if (o->status != 0) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=model_start_failed version=%s error=%s", o->version,
               rt_q(o->err.msg));
    }
    if (b->closing && o->status == 0)
        o->status = rt_error_set(&o->err, RT_ECANCELED, "engine closed");
    o->done_cb(o->status, o->status ? &o->err : NULL, o->ud);
    op_free(o);
    work_done(b);
}

static void stop_work(uv_work_t *req)
{
    struct op *o = req->data;
    char path[RT__PATH_MAX];
    if (file_in(o, RT__MODEL_FILE, path) != 0 || !rt__exists(path)) {
        o->status =
            rt_error_set(&o->err, RT_ENOTFOUND, "version %s has no completed model", o->version);
        return;
    }
    if (read_state(o) == 1)
        o->status = rt__write_atomic(o->dir, RT__STATE_FILE, "stopped\n", 8, &o->err);
}

static void stop_after(uv_work_t *req, int status)
{
    (void)status;
    struct op *o = req->data;
    struct builtin *b = o->b;
    struct ver *v = ver_get(b, o->version, false);
    if (v) {
        v->op = VER_OP_NONE;
        if (o->status == 0) {
            rt__model_unref(v->model);
            v->model = NULL;
        }
    }
    if (o->status == 0)
        RT_LOG(RT_LOG_NOTICE, "engine", "event=model_stopped version=%s", o->version);
    if (b->closing && o->status == 0)
        o->status = rt_error_set(&o->err, RT_ECANCELED, "engine closed");
    o->done_cb(o->status, o->status ? &o->err : NULL, o->ud);
    op_free(o);
    work_done(b);
}

/* ---- detect ---- */

static int cmp_conf(const void *a, const void *b)
{
    const struct rt_detection_label *x = a, *y = b;
    if (x->confidence != y->confidence)
        return x->confidence < y->confidence ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void detect_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct op *o = req->data;
    if (!o->model) {
        /* Left RUNNING by an earlier process: load it now. */
        if (read_state(o) != 1) {
            o->status =
                rt_error_set(&o->err, RT_ENOTFOUND, "version %s is not running", o->version);
            return;
        }
        o->status = load_model(o, &o->model);
        if (o->status != 0)
            return;
        o->model_loaded_here = true;
    }
    struct rt__image img;
    o->status = rt__image_decode(o->image, o->image_len, RT__IMAGE_DETECT_MAX_BYTES, &img, &o->err);
    if (o->status != 0)
        return;
    float *feat = rt_malloc(sizeof(float) * RT__FEATURES);
    double *probs = rt_malloc(sizeof(double) * o->model->n_labels);
    o->out = rt_calloc(o->model->n_labels, sizeof(*o->out));
    if (!feat || !probs || !o->out || rt__image_features(&img, feat) != 0) {
        o->status = rt_error_set(&o->err, RT_ENOMEM, "out of memory");
    } else {
        rt__model_predict(o->model, feat, probs);
        for (size_t k = 0; k < o->model->n_labels; k++) {
            double c = probs[k] * 100.0;
            if (c < o->min_confidence)
                continue;
            rt_strlcpy(o->out[o->n_out].name, o->model->labels[k], sizeof(o->out[0].name));
            o->out[o->n_out++].confidence = c;
        }
        qsort(o->out, o->n_out, sizeof(*o->out), cmp_conf);
    }
    rt_free(feat);
    rt_free(probs);
    rt__image_free(&img);
}

static void detect_after(uv_work_t *req, int status)
{
    (void)status;
    struct op *o = req->data;
    struct builtin *b = o->b;
    struct ver *v = ver_get(b, o->version, false);
    if (o->model_loaded_here && v && !v->model && v->op == VER_OP_NONE &&
        v->serve_gen == o->serve_gen && !b->closing) {
        v->model = o->model; /* keep it loaded for the next detection */
        o->model = NULL;
        RT_LOG(RT_LOG_NOTICE, "engine", "event=model_reloaded version=%s", o->version);
    }
    if (b->closing && o->status == 0)
        o->status = rt_error_set(&o->err, RT_ECANCELED, "engine closed");
    if (o->status == 0)
        o->detect_cb(0, o->out, o->n_out, NULL, o->ud);
    else
        o->detect_cb(o->status, NULL, 0, &o->err, o->ud);
    op_free(o);
    work_done(b);
}

/* ---- the ops table ---- */

static int check_common(struct builtin *b, const char *version, const void *cb)
{
    if (b->closing)
        return RT_ECANCELED;
    if (!cb || !version_ok(version))
        return RT_EINVAL;
    return 0;
}

static int
b_train(struct rt_engine *e, const struct rt_train_request *req, rt_engine_done_fn *cb, void *ud)
{
    struct builtin *b = (struct builtin *)e;
    if (!req)
        return RT_EINVAL;
    int rc = check_common(b, req->version, (const void *)cb);
    if (rc != 0)
        return rc;
    if (!req->manifest_key || !req->manifest_key[0])
        return RT_EINVAL;
    if (!b->store || !b->store->ops->get)
        return RT_ENOTIMPL;
    struct ver *v = ver_get(b, req->version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->training || v->model || v->op != VER_OP_NONE)
        return defer_done(b, cb, ud); /* in flight or complete already */
    /* Allocated first so nothing can fail once the training runs. */
    struct deferred_done *d = deferred_new(b, cb, ud);
    if (!d)
        return RT_ENOMEM;
    char dir[RT__PATH_MAX];
    struct rt_error err;
    rt_error_clear(&err);
    rc = rt__path(dir, b->models_dir, v->name, NULL);
    if (rc == 0) {
        struct rt__train_opts o = {.loop = b->loop,
                                   .store = b->store,
                                   .version = v->name,
                                   .dir = dir,
                                   .req = req,
                                   .threads = b->threads};
        rc = rt__train_start(&o, on_train_done, v, &v->training, &err);
    } else {
        rt_error_set(&err, rc, "models path too long");
    }
    if (rc != 0) {
        rt_free(d);
        RT_LOG(RT_LOG_WARNING, "engine", "event=train_refused version=%s error=%s", v->name,
               rt_q(err.msg));
        return rc;
    }
    b->trainings++;
    deferred_push(b, d);
    return 0;
}

static int b_describe(struct rt_engine *e, const char *version, rt_engine_describe_fn *cb, void *ud)
{
    struct builtin *b = (struct builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct op *o = op_new(b, OP_DESCRIBE, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->describe_cb = cb;
    rc = queue_work(b, &o->req, describe_work, describe_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    return 0;
}

static int
b_start(struct rt_engine *e, const char *version, int min_units, rt_engine_done_fn *cb, void *ud)
{
    struct builtin *b = (struct builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct ver *v = ver_get(b, version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->training || v->op != VER_OP_NONE)
        return RT_EBUSY;
    if (v->model)
        return defer_done(b, cb, ud); /* running already */
    struct op *o = op_new(b, OP_START, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->done_cb = cb;
    rc = queue_work(b, &o->req, start_work, start_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    v->op = VER_OP_STARTING;
    v->serve_gen++;
    RT_LOG(RT_LOG_INFO, "engine", "event=model_start version=%s min_units=%d", version, min_units);
    return 0;
}

static int b_stop(struct rt_engine *e, const char *version, rt_engine_done_fn *cb, void *ud)
{
    struct builtin *b = (struct builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct ver *v = ver_get(b, version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->op != VER_OP_NONE)
        return RT_EBUSY;
    struct op *o = op_new(b, OP_STOP, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->done_cb = cb;
    rc = queue_work(b, &o->req, stop_work, stop_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    v->op = VER_OP_STOPPING;
    v->serve_gen++;
    return 0;
}

static int b_detect(struct rt_engine *e,
                    const char *version,
                    const void *image,
                    size_t len,
                    double min_confidence,
                    rt_engine_detect_fn *cb,
                    void *ud)
{
    struct builtin *b = (struct builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    if (!image && len > 0)
        return RT_EINVAL;
    struct ver *v = ver_get(b, version, true);
    if (!v)
        return RT_ENOMEM;
    struct op *o = op_new(b, OP_DETECT, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->detect_cb = cb;
    o->image = image;
    o->image_len = len;
    o->min_confidence = min_confidence;
    o->serve_gen = v->serve_gen;
    if (v->op == VER_OP_STOPPING || v->op == VER_OP_STARTING) {
        op_free(o);
        return RT_EBUSY;
    }
    if (v->model) {
        o->model = v->model;
        v->model->refs++;
    }
    rc = queue_work(b, &o->req, detect_work, detect_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    return 0;
}

static void b_close(struct rt_engine *e, void (*cb)(void *ud), void *ud)
{
    struct builtin *b = (struct builtin *)e;
    if (b->closing)
        return;
    b->closing = true;
    b->close_cb = cb;
    b->close_ud = ud;
    for (struct ver *v = b->vers; v; v = v->next)
        if (v->training)
            rt__train_cancel(v->training);
    maybe_finish_close(b);
}

static const struct rt_engine_ops builtin_ops = {
    .name = "builtin",
    .train = b_train,
    .describe = b_describe,
    .start = b_start,
    .stop = b_stop,
    .detect = b_detect,
    .close = b_close,
};

int rt_engine_builtin_new(struct uv_loop_s *loop,
                          const struct rt_engine_builtin_opts *opts,
                          struct rt_engine **out,
                          struct rt_error *err)
{
    if (!loop || !opts || !out || !opts->models_dir || !opts->models_dir[0])
        return rt_error_set(err, RT_EINVAL, "builtin engine: models_dir is required");
    if (opts->threads < 0 || opts->threads > 64)
        return rt_error_set(err, RT_EINVAL, "builtin engine: threads must be 0..64");
    struct builtin *b = rt_calloc(1, sizeof(*b));
    if (!b)
        return rt_error_set(err, RT_ENOMEM, "builtin engine: out of memory");
    if (rt_strlcpy(b->models_dir, opts->models_dir, sizeof(b->models_dir)) != 0 ||
        strlen(b->models_dir) > RT__PATH_MAX - RT__VERSION_MAX - 32) {
        rt_free(b);
        return rt_error_set(err, RT_EINVAL, "builtin engine: models_dir is too long");
    }
    int rc = rt_mkdir_p(b->models_dir, 0755);
    if (rc != 0) {
        rt_free(b);
        return rt_error_set(err, rc, "builtin engine: cannot create %s: %s", opts->models_dir,
                            rt_strerror(rc));
    }
    b->base.ops = &builtin_ops;
    b->loop = loop;
    b->store = opts->store;
    b->threads = opts->threads ? opts->threads : 2;
    rc = rt_defer_init(&b->defer, loop);
    if (rc != 0) {
        rt_free(b);
        return rt_error_set(err, rc, "builtin engine: %s", uv_strerror(rc));
    }
    *out = &b->base;
    RT_LOG(RT_LOG_INFO, "engine", "event=engine_ready driver=builtin models_dir=%s threads=%d",
           rt_q(b->models_dir), b->threads);
    return 0;
}
