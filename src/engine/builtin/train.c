/*
 * train.c - one training of the builtin engine (see train.h), in stages:
 *
 *   prepare  (pool):  nothing to do if the version is complete or failed already; else create
 *                     the folder and remove leftovers of an interrupted run
 *   manifest (loop):  store get of the manifest (at most 256 MB)
 *   parse    (pool):  manifest lines -> image keys and labels
 *   decode   (loop + pool): 2 x threads slots; a free slot gets the next image from the store;
 *                     bytes that arrived are decoded and featurised on the pool, at most
 *                     `threads` decodes queued at once; a finished decode frees its slot for the
 *                     next get
 *   fit      (pool):  stratified split, logistic regression, metrics, atomic model files
 *   publish  (loop):  store put of the evaluation under the request's output prefix
 *
 * Design: the training reaches the store only through its asynchronous get and put, so a bucket
 * behind the network serves it as well as a local folder, and the loop never waits on either.
 * Image bytes in memory are bounded by the slots (2 x threads bodies, each capped at
 * RT__IMAGE_MAX_BYTES by the body's max_bytes), not by the number of images; the one thing that
 * grows with the manifest is the feature matrix (294 floats per image). Pool work touches only
 * what it was handed: a decode gets one slot (its bytes in, its feature row and error out) and
 * the after-work callback copies the row into the matrix on the loop; parse and fit are handed
 * the training while the loop leaves it alone, reading only the decode counters it owns and the
 * two atomics (cancel, fit iterations) for progress lines. The training counts its outstanding
 * store requests and pool works (pending); it ends only when that count is zero, then closes its
 * progress timer and reports from the timer's close callback, so the report never runs inside a
 * call into this file. A bad image fails alone: its reason is logged (key=... error=...) and
 * counted. The split is seeded from the version name, so a version trained twice from the same
 * manifest gives the same model and metrics.
 */
#include "train.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "files.h"
#include "image.h"
#include "model.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/manifest.h"

#define MAX_MANIFEST_BYTES ((size_t)256 << 20)
#define MAX_IMAGES 250000 /* Rekognition Custom Labels' training-set ceiling */
#define MAX_LABELS 250
#define MAX_SKIPPED_LISTED 50
#define DEFAULT_PROGRESS_MS 5000

enum stage { ST_PREPARE, ST_MANIFEST, ST_PARSE, ST_DECODE, ST_FIT, ST_PUBLISH, ST_END };

static const char *const stage_names[] = {
    [ST_PREPARE] = "prepare", [ST_MANIFEST] = "manifest", [ST_PARSE] = "parse",
    [ST_DECODE] = "decode",   [ST_FIT] = "fit",           [ST_PUBLISH] = "publish",
    [ST_END] = "end",
};

/* One image in flight: fetched by the store, then decoded on the pool. */
struct slot {
    uv_work_t req;         /* req.data = the slot */
    struct rt__train *job; /* read on the loop only; the decode work never touches it */
    struct slot *next;     /* free list or ready queue */
    size_t item;
    struct rt_buf body; /* owned; written by the store's get, then read by the decode */
    float feat[RT__FEATURES];
    int rc;
    struct rt_error err;
};

struct rt__train {
    uv_loop_t *loop;
    struct rt_store *store; /* borrowed */
    uv_timer_t progress;    /* progress.data = the training; closed before it is freed */
    uv_work_t req;          /* prepare, parse and fit: one at a time; req.data = the training */
    rt__train_done_fn *done_cb;
    void *done_ud;
    int outcome; /* status handed to done_cb */

    char version[RT__VERSION_MAX];
    char dir[RT__PATH_MAX];
    char manifest_key[RT_MANIFEST_KEY_MAX];
    char evaluation_key[RT_STORE_KEY_MAX + 1]; /* "" when the request named no output prefix */
    char attr[RT_MANIFEST_ATTR_MAX];
    bool have_attr;
    char bucket[RT_MANIFEST_BUCKET_MAX];
    int threads;
    uint64_t progress_ms;

    enum stage stage; /* loop only */
    int pending;      /* store requests and pool works not yet returned; loop only */
    atomic_int cancel;
    atomic_int fit_iters; /* written by the fit work, read by the progress timer */
    int64_t started_ms;

    bool already; /* the version was complete (or failed) before: nothing to do */
    bool written; /* model.json was written */
    struct rt_buf manifest;
    int64_t n_lines;
    long bad_lines;
    size_t n_items, cap_items;
    char **keys;     /* owned */
    int *label_of;   /* owned */
    char **item_err; /* owned; NULL while the image is usable */
    float *feat;     /* owned; n_items x RT__FEATURES */
    char (*labels)[RT_MANIFEST_LABEL_MAX];
    size_t n_labels;

    /* decode stage, loop only */
    struct slot *slots; /* owned, n_slots */
    int n_slots;
    struct slot *free_slots, *ready_head, **ready_tail;
    int decoding;     /* decode works queued */
    size_t next_item; /* next image to get */
    size_t decoded, skipped;
    bool stop_fetch; /* a failure of the training itself: no further get */

    int status; /* 0 or the failure of the training; err says why */
    struct rt_error err;
    double f1;
    int64_t used;     /* images used by the fit (train + test) */
    char *evaluation; /* owned (cJSON_free): the metrics JSON to publish, set by the pool work */
};

/* Records the training's own failure (first one wins) and returns its code. */
static int job_fail(struct rt__train *job, int code, const char *what)
{
    rt_error_set(&job->err, code, "%s", what);
    job->status = job->err.code;
    return job->status;
}

static void job_free(struct rt__train *job)
{
    for (size_t i = 0; i < job->n_items; i++) {
        rt_free(job->keys[i]);
        rt_free(job->item_err[i]);
    }
    for (int k = 0; k < job->n_slots; k++)
        rt_buf_cleanup(&job->slots[k].body);
    rt_free(job->slots);
    rt_free(job->keys);
    rt_free(job->label_of);
    rt_free(job->item_err);
    rt_free(job->feat);
    rt_free(job->labels);
    rt_buf_cleanup(&job->manifest);
    if (job->evaluation)
        cJSON_free(job->evaluation);
    rt_free(job);
}

static int in_dir(const struct rt__train *job, const char *name, char *out)
{
    return rt_snprintf(out, RT__PATH_MAX, "%s/%s", job->dir, name);
}

static void queue_fit(struct rt__train *job);
static void end(struct rt__train *job);

/* ---- prepare (pool) ---- */

static void prepare_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct rt__train *job = req->data;
    char path[RT__PATH_MAX];
    bool done = in_dir(job, RT__MODEL_FILE, path) == 0 && rt__exists(path);
    if (done || (in_dir(job, RT__FAILED_FILE, path) == 0 && rt__exists(path))) {
        job->already = true;
        return;
    }
    if (mkdir(job->dir, 0755) != 0 && errno != EEXIST) {
        int rc = -errno;
        job->status =
            rt_error_set(&job->err, rc, "cannot create %s: %s", job->dir, rt_strerror(rc));
        return;
    }
    /* Leftovers of a training interrupted by a crash: none is complete, start over. */
    static const char *const stale[] = {"." RT__MODEL_FILE ".tmp", "." RT__METRICS_FILE ".tmp",
                                        "." RT__FAILED_FILE ".tmp", RT__METRICS_FILE};
    for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
        if (in_dir(job, stale[i], path) == 0)
            unlink(path);
    }
}

/* ---- manifest (loop) and parse (pool) ---- */

static int find_label(struct rt__train *job, const char *name)
{
    for (size_t k = 0; k < job->n_labels; k++)
        if (strcmp(job->labels[k], name) == 0)
            return (int)k;
    if (job->n_labels >= MAX_LABELS)
        return -1;
    if (!job->labels) {
        job->labels = rt_calloc(MAX_LABELS, sizeof(*job->labels));
        if (!job->labels)
            return -2;
    }
    rt_strlcpy(job->labels[job->n_labels], name, sizeof(job->labels[0]));
    return (int)job->n_labels++;
}

static int add_item(struct rt__train *job, const char *key, int label, const char *error)
{
    if (job->n_items == job->cap_items) {
        size_t cap = job->cap_items ? job->cap_items * 2 : 64;
        char **k = rt_realloc(job->keys, cap * sizeof(*k));
        if (!k)
            return RT_ENOMEM;
        job->keys = k;
        int *l = rt_realloc(job->label_of, cap * sizeof(*l));
        if (!l)
            return RT_ENOMEM;
        job->label_of = l;
        char **e = rt_realloc(job->item_err, cap * sizeof(*e));
        if (!e)
            return RT_ENOMEM;
        job->item_err = e;
        job->cap_items = cap;
    }
    char *kd = rt_strdup(key);
    char *ed = error ? rt_strdup(error) : NULL;
    if (!kd || (error && !ed)) {
        rt_free(kd);
        rt_free(ed);
        return RT_ENOMEM;
    }
    job->keys[job->n_items] = kd;
    job->label_of[job->n_items] = label;
    job->item_err[job->n_items] = ed;
    job->n_items++;
    return 0;
}

static int on_manifest_line(size_t line_no,
                            int status,
                            const struct rt_manifest_entry *e,
                            const struct rt_error *perr,
                            void *ud)
{
    struct rt__train *job = ud;
    job->n_lines++;
    if (status != 0) {
        job->bad_lines++;
        RT_LOG(RT_LOG_WARNING, "engine",
               "event=manifest_line_bad version=%s key=%s line=%zu error=%s", job->version,
               rt_q(job->manifest_key), line_no, rt_q(perr ? perr->msg : "?"));
        return 0;
    }
    if (job->n_items >= MAX_IMAGES) {
        rt_error_set(&job->err, RT_EENGINE, "the manifest lists more than %d images", MAX_IMAGES);
        return 1;
    }
    int label = find_label(job, e->label);
    if (label == -2) {
        rt_error_set(&job->err, RT_ENOMEM, "out of memory");
        return 1;
    }
    if (label < 0) {
        rt_error_set(&job->err, RT_EENGINE, "the manifest has more than %d labels", MAX_LABELS);
        return 1;
    }
    char why[300];
    why[0] = '\0';
    if (strcmp(e->bucket, job->bucket) != 0)
        rt_snprintf(why, sizeof(why), "source-ref bucket %.100s is not this store's (%.100s)",
                    e->bucket, job->bucket);
    if (add_item(job, e->key, label, why[0] ? why : NULL) != 0) {
        rt_error_set(&job->err, RT_ENOMEM, "out of memory");
        return 1;
    }
    return 0;
}

static void parse_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct rt__train *job = req->data;
    rt_manifest_parse(job->manifest.data ? job->manifest.data : "", job->manifest.len,
                      job->have_attr ? job->attr : NULL, on_manifest_line, job);
    rt_buf_cleanup(&job->manifest); /* the keys are copied: free up to 256 MB before decoding */
    if (job->err.code != 0)
        job->status = job->err.code;
}

/* ---- decode (loop + pool) ---- */

static void decode_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct slot *s = req->data;
    struct rt__image img = {0, 0, NULL};
    s->rc = rt__image_decode(s->body.data ? s->body.data : "", s->body.len, RT__IMAGE_MAX_BYTES,
                             &img, &s->err);
    if (s->rc == 0) {
        s->rc = rt__image_features(&img, s->feat);
        if (s->rc != 0)
            rt_error_set(&s->err, s->rc, "out of memory computing features");
    }
    rt__image_free(&img);
}

/* Marks image i unusable for the reason in e, logs it and counts it. */
static void item_failed(struct rt__train *job, size_t i, const struct rt_error *e, int rc)
{
    const char *why = e->msg[0] ? e->msg : rt_strerror(rc);
    job->item_err[i] = rt_strdup(why);
    if (!job->item_err[i]) {
        /* Without its reason the image would look usable: the training cannot go on. */
        job_fail(job, RT_ENOMEM, "out of memory");
        job->stop_fetch = true;
        return;
    }
    job->skipped++;
    RT_LOG(RT_LOG_WARNING, "engine", "event=image_skipped version=%s key=%s error=%s", job->version,
           rt_q(job->keys[i]), rt_q(why));
}

static void slot_release(struct rt__train *job, struct slot *s)
{
    rt_buf_reset(&s->body); /* the memory stays for the next image, within the slot's cap */
    s->next = job->free_slots;
    job->free_slots = s;
}

static void decode_end(struct rt__train *job)
{
    for (int k = 0; k < job->n_slots; k++)
        rt_buf_cleanup(&job->slots[k].body);
    if (atomic_load(&job->cancel))
        end(job);
    else
        queue_fit(job);
}

static void on_image(int status, const struct rt_error *err, void *ud);
static void decode_after(uv_work_t *req, int status);

/*
 * Moves the decode stage on: queues decodes for arrived bytes while fewer than `threads` run,
 * then issues gets while a slot is free, and ends the stage once nothing is in flight and
 * nothing is left to get. Runs on the loop, from the stage's start and from every completion.
 */
static void pump(struct rt__train *job)
{
    bool stop = atomic_load(&job->cancel) || job->stop_fetch;
    while (job->ready_head && (stop || job->decoding < job->threads)) {
        struct slot *s = job->ready_head;
        job->ready_head = s->next;
        if (!job->ready_head)
            job->ready_tail = &job->ready_head;
        if (stop) {
            slot_release(job, s);
            continue;
        }
        int rc = uv_queue_work(job->loop, &s->req, decode_work, decode_after);
        if (rc != 0) {
            job_fail(job, RT_EENGINE, "cannot queue decode work");
            job->stop_fetch = stop = true;
            slot_release(job, s);
            continue;
        }
        job->pending++;
        job->decoding++;
    }
    while (!stop && job->free_slots && job->next_item < job->n_items) {
        size_t i = job->next_item++;
        if (job->item_err[i]) { /* refused while parsing (another bucket) */
            job->skipped++;
            RT_LOG(RT_LOG_WARNING, "engine", "event=image_skipped version=%s key=%s error=%s",
                   job->version, rt_q(job->keys[i]), rt_q(job->item_err[i]));
            continue;
        }
        struct slot *s = job->free_slots;
        job->free_slots = s->next;
        s->item = i;
        s->rc = 0;
        rt_buf_reset(&s->body);
        rt_error_clear(&s->err);
        int rc = job->store->ops->get(job->store, job->keys[i], &s->body, on_image, s);
        if (rc == 0) {
            job->pending++;
            continue;
        }
        slot_release(job, s);
        if (rc == RT_EKEY) { /* the store refuses this key: the image fails alone */
            struct rt_error e;
            rt_error_clear(&e);
            rt_error_set(&e, rc, "the store refuses the key: %s", rt_strerror(rc));
            item_failed(job, i, &e, rc);
        } else { /* the store cannot serve at all (closing, out of memory) */
            char why[200];
            rt_snprintf(why, sizeof(why), "cannot get images from the store: %s", rt_strerror(rc));
            job_fail(job, rc, why);
            job->stop_fetch = true;
        }
        stop = job->stop_fetch;
    }
    if (job->pending == 0 && !job->ready_head && (stop || job->next_item == job->n_items))
        decode_end(job);
}

static void on_image(int status, const struct rt_error *err, void *ud)
{
    struct slot *s = ud;
    struct rt__train *job = s->job;
    job->pending--;
    if (status == RT_ECANCELED) {
        /* The store is closing: the remaining images would be missed, not bad. */
        job_fail(job, RT_ECANCELED, "the store was closed during the training");
        job->stop_fetch = true;
        slot_release(job, s);
    } else if (status != 0) {
        if (status == RT_ETOOBIG)
            rt_error_set(&s->err, status, "image is larger than %zu bytes", RT__IMAGE_MAX_BYTES);
        else
            rt_error_set(&s->err, status, "cannot read: %s",
                         err && err->msg[0] ? err->msg : rt_strerror(status));
        item_failed(job, s->item, &s->err, status);
        slot_release(job, s);
    } else {
        s->next = NULL;
        *job->ready_tail = s;
        job->ready_tail = &s->next;
    }
    pump(job);
}

static void decode_after(uv_work_t *req, int status)
{
    (void)status;
    struct slot *s = req->data;
    struct rt__train *job = s->job;
    job->pending--;
    job->decoding--;
    if (s->rc == 0) {
        memcpy(job->feat + s->item * RT__FEATURES, s->feat, sizeof(s->feat));
        job->decoded++;
    } else {
        item_failed(job, s->item, &s->err, s->rc);
    }
    slot_release(job, s);
    pump(job);
}

static void decode_start(struct rt__train *job)
{
    job->feat = rt_calloc(job->n_items, sizeof(float) * RT__FEATURES);
    int n = 2 * job->threads;
    if ((size_t)n > job->n_items)
        n = (int)job->n_items;
    job->slots = job->feat ? rt_calloc((size_t)n, sizeof(*job->slots)) : NULL;
    if (!job->feat || !job->slots) {
        job_fail(job, RT_ENOMEM, "out of memory for the images' features");
        queue_fit(job);
        return;
    }
    job->n_slots = n;
    for (int k = n - 1; k >= 0; k--) {
        struct slot *s = &job->slots[k];
        s->job = job;
        s->req.data = s;
        rt_buf_init(&s->body, RT__IMAGE_MAX_BYTES);
        s->next = job->free_slots;
        job->free_slots = s;
    }
    job->ready_head = NULL;
    job->ready_tail = &job->ready_head;
    job->stage = ST_DECODE;
    pump(job);
}

static void parse_after(uv_work_t *req, int status)
{
    (void)status;
    struct rt__train *job = req->data;
    job->pending--;
    if (atomic_load(&job->cancel))
        end(job);
    else if (job->status != 0 || job->n_items == 0)
        queue_fit(job); /* the fit stage records the failure in failed.json */
    else
        decode_start(job);
}

static void on_manifest(int status, const struct rt_error *err, void *ud)
{
    struct rt__train *job = ud;
    job->pending--;
    if (atomic_load(&job->cancel)) {
        end(job);
        return;
    }
    if (status != 0) {
        job->status =
            rt_error_set(&job->err, status, "cannot read manifest %s: %s", job->manifest_key,
                         err && err->msg[0] ? err->msg : rt_strerror(status));
        queue_fit(job);
        return;
    }
    job->stage = ST_PARSE;
    int rc = uv_queue_work(job->loop, &job->req, parse_work, parse_after);
    if (rc != 0) {
        job_fail(job, RT_EENGINE, "cannot queue work");
        queue_fit(job);
        return;
    }
    job->pending++;
}

static void prepare_after(uv_work_t *req, int status)
{
    (void)status;
    struct rt__train *job = req->data;
    job->pending--;
    if (atomic_load(&job->cancel) || job->already) {
        end(job);
        return;
    }
    if (job->status != 0) {
        queue_fit(job);
        return;
    }
    job->stage = ST_MANIFEST;
    int rc = job->store->ops->get(job->store, job->manifest_key, &job->manifest, on_manifest, job);
    if (rc != 0) {
        job->status = rt_error_set(&job->err, rc, "cannot read manifest %s: %s", job->manifest_key,
                                   rt_strerror(rc));
        queue_fit(job);
        return;
    }
    job->pending++;
}

/* ---- fit (pool) ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct label_stats {
    int64_t usable, train, test, tp, fp, fn;
    int model_index; /* -1 when the label is left out */
    double precision, recall, f1;
};

/* Builds the metrics object shared by metrics.json and failed.json. */
static cJSON *metrics_json(struct rt__train *job,
                           const struct label_stats *ls,
                           int64_t used,
                           int64_t n_train,
                           int64_t n_test,
                           const char *message)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return NULL;
    cJSON_AddStringToObject(m, "version", job->version);
    cJSON_AddStringToObject(m, "manifest", job->manifest_key);
    cJSON_AddNumberToObject(m, "f1", job->f1);
    cJSON_AddNumberToObject(m, "images", (double)job->n_lines);
    cJSON_AddNumberToObject(m, "images_used", (double)used);
    cJSON_AddNumberToObject(m, "train_images", (double)n_train);
    cJSON_AddNumberToObject(m, "test_images", (double)n_test);
    cJSON_AddNumberToObject(m, "bad_lines", (double)job->bad_lines);
    cJSON_AddStringToObject(m, "message", message ? message : "");
    cJSON_AddNumberToObject(m, "duration_ms", (double)(rt_mono_ms() - job->started_ms));
    cJSON *labels = cJSON_AddArrayToObject(m, "labels");
    for (size_t k = 0; labels && ls && k < job->n_labels; k++) {
        if (ls[k].model_index < 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(labels, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddStringToObject(o, "label", job->labels[k]);
        cJSON_AddNumberToObject(o, "precision", ls[k].precision);
        cJSON_AddNumberToObject(o, "recall", ls[k].recall);
        cJSON_AddNumberToObject(o, "f1", ls[k].f1);
        cJSON_AddNumberToObject(o, "train_images", (double)ls[k].train);
        cJSON_AddNumberToObject(o, "test_images", (double)ls[k].test);
    }
    int64_t skipped = 0;
    cJSON *sk = cJSON_AddArrayToObject(m, "skipped_images");
    for (size_t i = 0; i < job->n_items; i++) {
        if (!job->item_err[i])
            continue;
        if (sk && skipped < MAX_SKIPPED_LISTED) {
            cJSON *o = cJSON_CreateObject();
            if (o && cJSON_AddItemToArray(sk, o)) {
                cJSON_AddStringToObject(o, "key", job->keys[i]);
                cJSON_AddStringToObject(o, "error", job->item_err[i]);
            } else {
                cJSON_Delete(o);
            }
        }
        skipped++;
    }
    cJSON_AddNumberToObject(m, "skipped", (double)skipped);
    return m;
}

static void write_failed(struct rt__train *job, const struct label_stats *ls)
{
    char msg[512];
    rt_strlcpy(msg, job->err.msg[0] ? job->err.msg : rt_strerror(job->status), sizeof(msg));
    job->f1 = 0;
    job->used = 0;
    cJSON *m = metrics_json(job, ls, 0, 0, 0, msg);
    char *text = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    if (!text)
        return;
    struct rt_error werr;
    rt_error_clear(&werr);
    if (rt__write_atomic(job->dir, RT__FAILED_FILE, text, strlen(text), &werr) != 0)
        RT_LOG(RT_LOG_ERR, "engine", "event=train_write_failed version=%s error=%s", job->version,
               rt_q(werr.msg));
    job->evaluation = text; /* published to the store by fit_after() */
}

static int fit(struct rt__train *job, struct label_stats *ls)
{
    size_t n = job->n_items;
    /* Labels with fewer than 2 usable images cannot be both trained and tested: left out. */
    for (size_t i = 0; i < n; i++)
        if (!job->item_err[i])
            ls[job->label_of[i]].usable++;
    size_t kept = 0;
    char dropped[256];
    dropped[0] = '\0';
    for (size_t k = 0; k < job->n_labels; k++) {
        if (ls[k].usable >= 2) {
            ls[k].model_index = (int)kept++;
        } else {
            ls[k].model_index = -1;
            RT_LOG(RT_LOG_WARNING, "engine",
                   "event=label_left_out version=%s label=%s usable_images=%lld", job->version,
                   rt_q(job->labels[k]), (long long)ls[k].usable);
            if (!dropped[0])
                rt_snprintf(dropped, sizeof(dropped), " (left out: %.100s with %lld)",
                            job->labels[k], (long long)ls[k].usable);
        }
    }
    if (kept < 2)
        return rt_error_set(&job->err, RT_EENGINE,
                            "training needs at least 2 labels with 2 or more usable images each; "
                            "the manifest has %zu label(s) and %zu usable for training%s",
                            job->n_labels, kept, dropped);

    /* Stratified split: per label, a seeded shuffle; the first ~20% are the test set. */
    uint8_t *is_test = rt_calloc(n ? n : 1, 1);
    size_t *idx = rt_malloc(sizeof(size_t) * (n ? n : 1));
    if (!is_test || !idx) {
        rt_free(is_test);
        rt_free(idx);
        return rt_error_set(&job->err, RT_ENOMEM, "out of memory");
    }
    uint64_t seed = fnv1a(job->version);
    for (size_t k = 0; k < job->n_labels; k++) {
        if (ls[k].model_index < 0)
            continue;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!job->item_err[i] && job->label_of[i] == (int)k)
                idx[m++] = i;
        uint64_t s = seed ^ (0x9e3779b97f4a7c15ULL * (k + 1));
        for (size_t i = m; i > 1; i--) {
            size_t j = (size_t)(splitmix(&s) % i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        size_t n_test = (size_t)((double)m * 0.2 + 0.5);
        if (n_test < 1)
            n_test = 1;
        if (n_test > m - 1)
            n_test = m - 1;
        for (size_t i = 0; i < n_test; i++)
            is_test[idx[i]] = 1;
        ls[k].test = (int64_t)n_test;
        ls[k].train = (int64_t)(m - n_test);
    }
    size_t n_train = 0, n_test = 0;
    for (size_t i = 0; i < n; i++) {
        if (job->item_err[i] || ls[job->label_of[i]].model_index < 0)
            continue;
        if (is_test[i])
            n_test++;
        else
            n_train++;
    }
    float *x = rt_malloc(sizeof(float) * RT__FEATURES * n_train);
    int *y = rt_malloc(sizeof(int) * n_train);
    struct rt__model *model = rt__model_new(kept, RT__FEATURES);
    double *probs = rt_malloc(sizeof(double) * kept);
    int rc = 0;
    if (!x || !y || !model || !probs) {
        rc = rt_error_set(&job->err, RT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < job->n_labels; k++)
        if (ls[k].model_index >= 0)
            rt_strlcpy(model->labels[ls[k].model_index], job->labels[k], 128);
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (job->item_err[i] || ls[job->label_of[i]].model_index < 0 || is_test[i])
            continue;
        memcpy(x + r * RT__FEATURES, job->feat + i * RT__FEATURES, sizeof(float) * RT__FEATURES);
        y[r++] = ls[job->label_of[i]].model_index;
    }
    rc = rt__model_fit(model, x, y, n_train, &job->cancel, &job->fit_iters);
    if (rc != 0) {
        rt_error_set(&job->err, rc, "fit failed: %s", rt_strerror(rc));
        goto out;
    }

    /* Evaluate on the held-out images: per-label precision/recall/F1, macro F1. */
    int *label_of_model = rt_malloc(sizeof(int) * kept);
    if (!label_of_model) {
        rc = rt_error_set(&job->err, RT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < job->n_labels; k++)
        if (ls[k].model_index >= 0)
            label_of_model[ls[k].model_index] = (int)k;
    for (size_t i = 0; i < n; i++) {
        if (job->item_err[i] || ls[job->label_of[i]].model_index < 0 || !is_test[i])
            continue;
        rt__model_predict(model, job->feat + i * RT__FEATURES, probs);
        size_t best = 0;
        for (size_t k = 1; k < kept; k++)
            if (probs[k] > probs[best])
                best = k;
        int truth = job->label_of[i];
        int pred = label_of_model[best];
        if (pred == truth) {
            ls[truth].tp++;
        } else {
            ls[truth].fn++;
            ls[pred].fp++;
        }
    }
    rt_free(label_of_model);
    double macro = 0;
    for (size_t k = 0; k < job->n_labels; k++) {
        struct label_stats *s = &ls[k];
        if (s->model_index < 0)
            continue;
        s->precision = s->tp + s->fp ? (double)s->tp / (double)(s->tp + s->fp) : 0;
        s->recall = s->tp + s->fn ? (double)s->tp / (double)(s->tp + s->fn) : 0;
        s->f1 = s->precision + s->recall > 0
                    ? 2 * s->precision * s->recall / (s->precision + s->recall)
                    : 0;
        macro += s->f1;
    }
    job->f1 = macro / (double)kept;
    job->used = (int64_t)(n_train + n_test);

    char message[256];
    rt_snprintf(message, sizeof(message), "trained on %zu images, tested on %zu%s", n_train, n_test,
                dropped);
    cJSON *m = metrics_json(job, ls, job->used, (int64_t)n_train, (int64_t)n_test, message);
    char *mtext = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    char *model_text = mtext ? rt__model_to_json(model, mtext) : NULL;
    if (!mtext || !model_text) {
        rc = rt_error_set(&job->err, RT_ENOMEM, "out of memory writing the model");
    } else {
        /* metrics.json first: model.json is the completion mark and comes last. */
        rc = rt__write_atomic(job->dir, RT__METRICS_FILE, mtext, strlen(mtext), &job->err);
        if (rc == 0)
            rc = rt__write_atomic(job->dir, RT__MODEL_FILE, model_text, strlen(model_text),
                                  &job->err);
    }
    if (rc == 0 && mtext) {
        job->written = true;
        job->evaluation = mtext; /* published to the store by fit_after() */
    } else if (mtext) {
        cJSON_free(mtext);
    }
    rt_free(model_text);
out:
    rt_free(is_test);
    rt_free(idx);
    rt_free(x);
    rt_free(y);
    rt_free(probs);
    rt__model_unref(model);
    return rc;
}

static void fit_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct rt__train *job = req->data;
    if (atomic_load(&job->cancel))
        return;
    struct label_stats *ls = rt_calloc(job->n_labels ? job->n_labels : 1, sizeof(*ls));
    if (!ls)
        job_fail(job, RT_ENOMEM, "out of memory");
    else if (job->status == 0)
        job->status = fit(job, ls);
    if (job->status == RT_ECANCELED || atomic_load(&job->cancel)) {
        rt_free(ls);
        return; /* interrupted: leave no completed-looking version */
    }
    if (job->status != 0)
        write_failed(job, ls);
    rt_free(ls);
}

/* ---- publish (loop) and the end ---- */

static void on_evaluation_put(int status, const struct rt_error *err, void *ud)
{
    struct rt__train *job = ud;
    job->pending--;
    if (status != 0)
        RT_LOG(RT_LOG_WARNING, "engine", "event=evaluation_put_failed version=%s key=%s error=%s",
               job->version, rt_q(job->evaluation_key),
               rt_q(err && err->msg[0] ? err->msg : rt_strerror(status)));
    end(job);
}

/*
 * Publishes the evaluation (metrics, per-label scores) under the request's output prefix in the
 * store, as Rekognition writes its evaluation manifest there. The version folder stays the
 * engine's own record; a failed put is logged and changes nothing else. A cancelled training
 * issues no new store request, so it publishes nothing.
 */
static void fit_after(uv_work_t *req, int status)
{
    (void)status;
    struct rt__train *job = req->data;
    job->pending--;
    if (!job->evaluation || !job->evaluation_key[0] || atomic_load(&job->cancel)) {
        end(job);
        return;
    }
    job->stage = ST_PUBLISH;
    struct rt_store *s = job->store;
    /* put copies the data before returning. */
    int rc = s->ops->put(s, job->evaluation_key, job->evaluation, strlen(job->evaluation),
                         "application/json", on_evaluation_put, job);
    cJSON_free(job->evaluation);
    job->evaluation = NULL;
    if (rc != 0) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=evaluation_put_failed version=%s key=%s error=%s",
               job->version, rt_q(job->evaluation_key), rt_q(rt_strerror(rc)));
        end(job);
        return;
    }
    job->pending++;
}

static void queue_fit(struct rt__train *job)
{
    job->stage = ST_FIT;
    int rc = uv_queue_work(job->loop, &job->req, fit_work, fit_after);
    if (rc != 0) {
        job_fail(job, RT_EENGINE, "cannot queue work");
        end(job);
        return;
    }
    job->pending++;
}

static void on_progress(uv_timer_t *t)
{
    struct rt__train *job = t->data;
    long long elapsed = (long long)(rt_mono_ms() - job->started_ms);
    if (job->stage == ST_DECODE)
        RT_LOG(RT_LOG_NOTICE, "engine",
               "event=train_progress version=%s stage=decode decoded=%zu total=%zu skipped=%zu "
               "in_flight=%d elapsed_ms=%lld",
               job->version, job->decoded, job->n_items, job->skipped, job->pending, elapsed);
    else if (job->stage == ST_FIT)
        RT_LOG(RT_LOG_NOTICE, "engine",
               "event=train_progress version=%s stage=fit iteration=%d of=%d elapsed_ms=%lld",
               job->version, atomic_load_explicit(&job->fit_iters, memory_order_relaxed),
               RT__MODEL_FIT_ITERS, elapsed);
    else
        RT_LOG(RT_LOG_NOTICE, "engine", "event=train_progress version=%s stage=%s elapsed_ms=%lld",
               job->version, stage_names[job->stage], elapsed);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct rt__train *job = h->data;
    rt__train_done_fn *cb = job->done_cb;
    void *ud = job->done_ud;
    int outcome = job->outcome;
    job_free(job);
    cb(outcome, ud);
}

/* Ends the training once nothing is in flight: logs the outcome and closes the timer. */
static void end(struct rt__train *job)
{
    job->stage = ST_END;
    long long dur = (long long)(rt_mono_ms() - job->started_ms);
    size_t skipped = 0;
    for (size_t i = 0; i < job->n_items; i++)
        if (job->item_err[i])
            skipped++;
    if (job->already) {
        job->outcome = 0;
        RT_LOG(RT_LOG_INFO, "engine", "event=train_exists version=%s", job->version);
    } else if (job->written) {
        job->outcome = 0;
        RT_LOG(RT_LOG_NOTICE, "engine",
               "event=train_done version=%s images=%lld used=%lld skipped=%zu f1=%.4f "
               "dur_ms=%lld",
               job->version, (long long)job->n_lines, (long long)job->used, skipped, job->f1, dur);
    } else if (atomic_load(&job->cancel)) {
        job->outcome = RT_ECANCELED;
        RT_LOG(RT_LOG_NOTICE, "engine",
               "event=train_cancelled version=%s decoded=%zu total=%zu dur_ms=%lld", job->version,
               job->decoded, job->n_items, dur);
    } else {
        job->outcome = job->status ? job->status : RT_EENGINE;
        RT_LOG(RT_LOG_WARNING, "engine",
               "event=train_failed version=%s images=%lld skipped=%zu dur_ms=%lld error=%s",
               job->version, (long long)job->n_lines, skipped, dur,
               rt_q(job->err.msg[0] ? job->err.msg : rt_strerror(job->outcome)));
    }
    uv_timer_stop(&job->progress);
    uv_close((uv_handle_t *)&job->progress, on_timer_closed);
}

/* ---- start and cancel ---- */

void rt__train_cancel(struct rt__train *t)
{
    atomic_store(&t->cancel, 1);
}

int rt__train_start(const struct rt__train_opts *o,
                    rt__train_done_fn *cb,
                    void *ud,
                    struct rt__train **out,
                    struct rt_error *err)
{
    if (!o || !cb || !o->loop || !o->store || !o->version || !o->dir || !o->req)
        return rt_error_set(err, RT_EINVAL, "training: missing argument");
    const struct rt_train_request *req = o->req;
    if (!req->manifest_key || !req->manifest_key[0])
        return rt_error_set(err, RT_EINVAL, "training: no manifest key");
    if (o->threads < 1 || o->threads > 64)
        return rt_error_set(err, RT_EINVAL, "training: threads must be 1..64");
    bool publish = req->output_prefix && req->output_prefix[0];
    if (!o->store->ops->get || (publish && !o->store->ops->put))
        return rt_error_set(err, RT_ENOTIMPL, "training: the store has no get or put");
    struct rt__train *job = rt_calloc(1, sizeof(*job));
    if (!job)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    job->loop = o->loop;
    job->store = o->store;
    job->done_cb = cb;
    job->done_ud = ud;
    job->threads = o->threads;
    job->progress_ms = o->progress_ms ? o->progress_ms : DEFAULT_PROGRESS_MS;
    atomic_init(&job->cancel, 0);
    atomic_init(&job->fit_iters, 0);
    rt_buf_init(&job->manifest, MAX_MANIFEST_BYTES);
    rt_strlcpy(job->bucket, o->store->bucket_name ? o->store->bucket_name : "local",
               sizeof(job->bucket));
    int rc = 0;
    if (rt_strlcpy(job->version, o->version, sizeof(job->version)) != 0 ||
        rt_strlcpy(job->dir, o->dir, sizeof(job->dir)) != 0 ||
        rt_strlcpy(job->manifest_key, req->manifest_key, sizeof(job->manifest_key)) != 0)
        rc = rt_error_set(err, RT_EINVAL, "version, folder or manifest key too long");
    else if (publish && rt_snprintf(job->evaluation_key, sizeof(job->evaluation_key),
                                    "%sevaluation.json", req->output_prefix) != 0)
        rc = rt_error_set(err, RT_EINVAL, "output prefix too long");
    else if (req->label_attribute && req->label_attribute[0] &&
             rt_strlcpy(job->attr, req->label_attribute, sizeof(job->attr)) != 0)
        rc = rt_error_set(err, RT_EINVAL, "label attribute name too long");
    if (rc != 0) {
        rt_free(job);
        return rc;
    }
    job->have_attr = job->attr[0] != '\0';
    job->started_ms = rt_mono_ms();
    job->stage = ST_PREPARE;
    job->req.data = job;
    rc = uv_queue_work(o->loop, &job->req, prepare_work, prepare_after);
    if (rc != 0) {
        rt_free(job);
        return rt_error_set(err, RT_EENGINE, "cannot queue training work: %s", uv_strerror(rc));
    }
    job->pending = 1;
    /* From here the training must end through its timer's close callback. */
    uv_timer_init(o->loop, &job->progress);
    job->progress.data = job;
    uv_timer_start(&job->progress, on_progress, job->progress_ms, job->progress_ms);
    if (out)
        *out = job;
    RT_LOG(RT_LOG_NOTICE, "engine", "event=train_start version=%s key=%s threads=%d", job->version,
           rt_q(job->manifest_key), job->threads);
    return 0;
}
