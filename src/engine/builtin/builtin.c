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
 * after-work callback on the loop, so callbacks never run inside the starting call. train()'s
 * "started" callback goes through a zero timer instead, so it is not held up behind decode work
 * queued on the pool. A running version's model is shared with detect work by reference count,
 * counted on the loop only. Completions that arrive after close() began report RT_ECANCELED.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "builtin.h"
#include "image.h"
#include "retraind/alloc.h"
#include "retraind/fsutil.h"
#include "retraind/log.h"

#define MAX_MODEL_FILE ((size_t)64 << 20)
#define MAX_METRICS_FILE ((size_t)4 << 20)

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

static struct rt__ver *ver_get(struct rt__builtin *b, const char *name, bool create)
{
    for (struct rt__ver *v = b->vers; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v;
    if (!create)
        return NULL;
    struct rt__ver *v = rt_calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    rt_strlcpy(v->name, name, sizeof(v->name));
    v->next = b->vers;
    b->vers = v;
    return v;
}

/* ---- work accounting, deferral, close ---- */

static void on_timer_closed(uv_handle_t *h)
{
    struct rt__builtin *b = h->data;
    while (b->vers) {
        struct rt__ver *v = b->vers;
        b->vers = v->next;
        rt__model_unref(v->model);
        rt_free(v);
    }
    void (*cb)(void *) = b->close_cb;
    void *ud = b->close_ud;
    rt_free(b);
    if (cb)
        cb(ud);
}

static void maybe_finish_close(struct rt__builtin *b)
{
    if (b->closing && !b->timer_closing && b->pending == 0 && !b->def_head) {
        b->timer_closing = true;
        uv_close((uv_handle_t *)&b->timer, on_timer_closed);
    }
}

int rt__queue(struct rt__builtin *b, uv_work_t *req, uv_work_cb work, uv_after_work_cb after)
{
    int rc = uv_queue_work(b->loop, req, work, after);
    if (rc == 0)
        b->pending++;
    return rc;
}

void rt__work_done(struct rt__builtin *b)
{
    b->pending--;
    maybe_finish_close(b);
}

static void on_timer(uv_timer_t *t)
{
    struct rt__builtin *b = t->data;
    struct rt__deferred *d = b->def_head;
    b->def_head = b->def_tail = NULL;
    while (d) {
        struct rt__deferred *next = d->next;
        if (b->closing && d->status == 0) {
            rt_error_clear(&d->err);
            d->status = rt_error_set(&d->err, RT_ECANCELED, "engine closed");
        }
        d->cb(d->status, d->status ? &d->err : NULL, d->ud);
        rt_free(d);
        d = next;
    }
    maybe_finish_close(b);
}

int rt__defer(
    struct rt__builtin *b, rt_engine_done_fn *cb, void *ud, int status, const struct rt_error *err)
{
    struct rt__deferred *d = rt_calloc(1, sizeof(*d));
    if (!d)
        return RT_ENOMEM;
    d->cb = cb;
    d->ud = ud;
    d->status = status;
    if (err)
        d->err = *err;
    if (b->def_tail)
        b->def_tail->next = d;
    else
        b->def_head = d;
    b->def_tail = d;
    uv_timer_start(&b->timer, on_timer, 0, 0);
    return 0;
}

/* ---- ops shared by describe/start/stop/detect ---- */

enum op_kind { OP_DESCRIBE, OP_START, OP_STOP, OP_DETECT };

struct op {
    uv_work_t req;
    struct rt__builtin *b;
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

static struct op *op_new(struct rt__builtin *b, enum op_kind kind, const char *version, void *ud)
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
    struct rt__builtin *b = o->b;
    struct rt__ver *v = ver_get(b, o->version, false);
    struct rt_model_info *info = &o->info;
    rt_strlcpy(info->version, o->version, sizeof(info->version));
    info->labels = o->labels;
    /* What the loop knows now beats what the files said a moment ago. */
    if (v && v->training) {
        info->status = RT_MODEL_TRAINING_IN_PROGRESS;
        rt_strlcpy(info->message, "training in progress", sizeof(info->message));
    } else if (v && v->op == RT__OP_STARTING) {
        info->status = RT_MODEL_STARTING;
    } else if (v && v->op == RT__OP_STOPPING) {
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
    rt__work_done(b);
}

/* ---- start / stop ---- */

static void start_work(uv_work_t *req)
{
    struct op *o = req->data;
    o->status = load_model(o, &o->model);
    if (o->status == 0 && read_state(o) != 1)
        o->status = rt__write_atomic(o->dir, RT__STATE_FILE, "running\n", 8, &o->err);
}

static void start_after(uv_work_t *req, int status)
{
    (void)status;
    struct op *o = req->data;
    struct rt__builtin *b = o->b;
    struct rt__ver *v = ver_get(b, o->version, false);
    if (v)
        v->op = RT__OP_NONE;
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
    rt__work_done(b);
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
    struct rt__builtin *b = o->b;
    struct rt__ver *v = ver_get(b, o->version, false);
    if (v) {
        v->op = RT__OP_NONE;
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
    rt__work_done(b);
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
    struct rt__builtin *b = o->b;
    struct rt__ver *v = ver_get(b, o->version, false);
    if (o->model_loaded_here && v && !v->model && v->op == RT__OP_NONE &&
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
    rt__work_done(b);
}

/* ---- the ops table ---- */

static int check_common(struct rt__builtin *b, const char *version, const void *cb)
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
    struct rt__builtin *b = (struct rt__builtin *)e;
    if (!req)
        return RT_EINVAL;
    int rc = check_common(b, req->version, (const void *)cb);
    if (rc != 0)
        return rc;
    if (!req->manifest_key || !req->manifest_key[0])
        return RT_EINVAL;
    if (!b->store || !b->store->ops->read_sync)
        return RT_ENOTIMPL;
    struct rt__ver *v = ver_get(b, req->version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->training || v->model || v->op != RT__OP_NONE)
        return rt__defer(b, cb, ud, 0, NULL); /* in flight or complete already */
    struct rt_error err;
    rt_error_clear(&err);
    rc = rt__train_start(b, v, req, &err);
    if (rc != 0) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=train_refused version=%s error=%s", v->name,
               rt_q(err.msg));
        return rc;
    }
    rc = rt__defer(b, cb, ud, 0, NULL);
    if (rc != 0)
        rt__train_cancel(v->training);
    return rc;
}

static int b_describe(struct rt_engine *e, const char *version, rt_engine_describe_fn *cb, void *ud)
{
    struct rt__builtin *b = (struct rt__builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct op *o = op_new(b, OP_DESCRIBE, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->describe_cb = cb;
    rc = rt__queue(b, &o->req, describe_work, describe_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    return 0;
}

static int
b_start(struct rt_engine *e, const char *version, int min_units, rt_engine_done_fn *cb, void *ud)
{
    struct rt__builtin *b = (struct rt__builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct rt__ver *v = ver_get(b, version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->training || v->op != RT__OP_NONE)
        return RT_EBUSY;
    if (v->model)
        return rt__defer(b, cb, ud, 0, NULL); /* running already */
    struct op *o = op_new(b, OP_START, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->done_cb = cb;
    rc = rt__queue(b, &o->req, start_work, start_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    v->op = RT__OP_STARTING;
    v->serve_gen++;
    RT_LOG(RT_LOG_INFO, "engine", "event=model_start version=%s min_units=%d", version, min_units);
    return 0;
}

static int b_stop(struct rt_engine *e, const char *version, rt_engine_done_fn *cb, void *ud)
{
    struct rt__builtin *b = (struct rt__builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    struct rt__ver *v = ver_get(b, version, true);
    if (!v)
        return RT_ENOMEM;
    if (v->op != RT__OP_NONE)
        return RT_EBUSY;
    struct op *o = op_new(b, OP_STOP, version, ud);
    if (!o)
        return RT_ENOMEM;
    o->done_cb = cb;
    rc = rt__queue(b, &o->req, stop_work, stop_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    v->op = RT__OP_STOPPING;
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
    struct rt__builtin *b = (struct rt__builtin *)e;
    int rc = check_common(b, version, (const void *)cb);
    if (rc != 0)
        return rc;
    if (!image && len > 0)
        return RT_EINVAL;
    struct rt__ver *v = ver_get(b, version, true);
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
    if (v->op == RT__OP_STOPPING || v->op == RT__OP_STARTING) {
        op_free(o);
        return RT_EBUSY;
    }
    if (v->model) {
        o->model = v->model;
        v->model->refs++;
    }
    rc = rt__queue(b, &o->req, detect_work, detect_after);
    if (rc != 0) {
        op_free(o);
        return RT_EENGINE;
    }
    return 0;
}

static void b_close(struct rt_engine *e, void (*cb)(void *ud), void *ud)
{
    struct rt__builtin *b = (struct rt__builtin *)e;
    if (b->closing)
        return;
    b->closing = true;
    b->close_cb = cb;
    b->close_ud = ud;
    for (struct rt__ver *v = b->vers; v; v = v->next)
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
    struct rt__builtin *b = rt_calloc(1, sizeof(*b));
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
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    *out = &b->base;
    RT_LOG(RT_LOG_INFO, "engine", "event=engine_ready driver=builtin models_dir=%s threads=%d",
           rt_q(b->models_dir), b->threads);
    return 0;
}
