/*
 * train.c - a training of the builtin engine, in three stages on the libuv thread pool.
 *
 *   prepare (1 work):  skip if the version is already complete; read and parse the manifest
 *   decode  (N works): read, decode and featurise the images, interleaved across N workers
 *   fit     (1 work):  stratified split, logistic regression, metrics, atomic model files
 *
 * Design: the loop thread only sequences the stages in after-work callbacks, so it stays free
 * for everything else while a training runs. Each stage touches only the job it was handed;
 * decode workers write disjoint slots (image i belongs to worker i % N). A bad image fails alone:
 * its reason is logged (key=... error=...) and counted. The split is seeded from the version
 * name, so a version trained twice from the same manifest gives the same model and metrics.
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
#include "retraind/clock.h"
#include "retraind/log.h"
#include "retraind/manifest.h"

#define MAX_MANIFEST_BYTES ((size_t)256 << 20)
#define MAX_IMAGES 250000 /* Rekognition Custom Labels' training-set ceiling */
#define MAX_LABELS 250
#define MAX_SKIPPED_LISTED 50
#define MAX_CHUNKS 16

struct chunk {
    uv_work_t req;
    struct rt__train_job *job;
    int k;
};

struct rt__train_job {
    uv_work_t req;
    struct rt__builtin *b;
    struct rt__ver *ver;
    char version[RT__VERSION_MAX];
    char dir[RT__PATH_MAX];
    char manifest_key[RT_MANIFEST_KEY_MAX];
    char evaluation_key[RT_STORE_KEY_MAX + 1]; /* "" when the request named no output prefix */
    char *evaluation; /* owned: the metrics JSON to publish there, set by the pool work */
    char attr[RT_MANIFEST_ATTR_MAX];
    bool have_attr;
    char bucket[RT_MANIFEST_BUCKET_MAX];
    struct rt_store *store;
    atomic_int cancel;
    int64_t started_ms;

    bool already; /* the version was complete (or failed) before: nothing to do */
    int64_t n_lines;
    long bad_lines;
    size_t n_items, cap_items;
    char **keys;
    int *label_of;
    char **item_err; /* NULL when the image is usable */
    float *feat;     /* n_items x RT__FEATURES */
    char (*labels)[RT_MANIFEST_LABEL_MAX];
    size_t n_labels;

    struct chunk chunks[MAX_CHUNKS];
    int n_chunks, chunks_left;

    int status;
    struct rt_error err;
    double f1;
};

void rt__train_cancel(struct rt__train_job *job)
{
    atomic_store(&job->cancel, 1);
}

static void job_free(struct rt__train_job *job)
{
    for (size_t i = 0; i < job->n_items; i++) {
        rt_free(job->keys[i]);
        rt_free(job->item_err[i]);
    }
    rt_free(job->keys);
    rt_free(job->label_of);
    rt_free(job->item_err);
    rt_free(job->feat);
    rt_free(job->labels);
    if (job->evaluation)
        cJSON_free(job->evaluation);
    rt_free(job);
}

/* ---- stage 1: prepare ---- */

static int find_label(struct rt__train_job *job, const char *name)
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

static int add_item(struct rt__train_job *job, const char *key, int label, const char *error)
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
    struct rt__train_job *job = ud;
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

static void prepare_work(uv_work_t *req)
{
    struct rt__train_job *job = req->data;
    char path[RT__PATH_MAX];
    rt__path(path, job->b->models_dir, job->version, RT__MODEL_FILE);
    bool done = rt__exists(path);
    rt__path(path, job->b->models_dir, job->version, RT__FAILED_FILE);
    if (done || rt__exists(path)) {
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
        if (rt__path(path, job->b->models_dir, job->version, stale[i]) == 0)
            unlink(path);
    }

    struct rt_buf man;
    rt_buf_init(&man, MAX_MANIFEST_BYTES);
    struct rt_error rerr;
    rt_error_clear(&rerr);
    int rc =
        job->store->ops->read_sync(job->store, job->manifest_key, MAX_MANIFEST_BYTES, &man, &rerr);
    if (rc != 0) {
        job->status = rt_error_set(&job->err, rc, "cannot read manifest %s: %s", job->manifest_key,
                                   rerr.msg[0] ? rerr.msg : rt_strerror(rc));
        rt_buf_cleanup(&man);
        return;
    }
    rt_manifest_parse(man.data ? man.data : "", man.len, job->have_attr ? job->attr : NULL,
                      on_manifest_line, job);
    rt_buf_cleanup(&man);
    if (job->err.code != 0)
        job->status = job->err.code;
}

/* ---- stage 2: decode ---- */

static void decode_one(struct rt__train_job *job, size_t i, struct rt_buf *bytes)
{
    struct rt_error e;
    rt_error_clear(&e);
    rt_buf_reset(bytes);
    int rc = job->store->ops->read_sync(job->store, job->keys[i], RT__IMAGE_MAX_BYTES, bytes, &e);
    if (rc == RT_ETOOBIG) {
        rt_error_clear(&e);
        rt_error_set(&e, rc, "image is larger than %zu bytes", RT__IMAGE_MAX_BYTES);
    } else if (rc != 0 && e.code == 0) {
        rt_error_set(&e, rc, "cannot read: %s", rt_strerror(rc));
    }
    struct rt__image img = {0, 0, NULL};
    if (rc == 0)
        rc = rt__image_decode(bytes->data, bytes->len, RT__IMAGE_MAX_BYTES, &img, &e);
    if (rc == 0) {
        rc = rt__image_features(&img, job->feat + i * RT__FEATURES);
        if (rc != 0)
            rt_error_set(&e, rc, "out of memory computing features");
    }
    rt__image_free(&img);
    if (rc != 0) {
        job->item_err[i] = rt_strdup(e.msg[0] ? e.msg : rt_strerror(rc));
        if (!job->item_err[i])
            job->item_err[i] = rt_strdup("failed");
        RT_LOG(RT_LOG_WARNING, "engine", "event=image_skipped version=%s key=%s error=%s",
               job->version, rt_q(job->keys[i]), rt_q(e.msg[0] ? e.msg : rt_strerror(rc)));
    }
}

static void decode_work(uv_work_t *req)
{
    struct chunk *c = req->data;
    struct rt__train_job *job = c->job;
    struct rt_buf bytes;
    rt_buf_init(&bytes, RT__IMAGE_MAX_BYTES + 1);
    for (size_t i = (size_t)c->k; i < job->n_items; i += (size_t)job->n_chunks) {
        if (atomic_load(&job->cancel))
            break;
        if (job->item_err[i]) {
            RT_LOG(RT_LOG_WARNING, "engine", "event=image_skipped version=%s key=%s error=%s",
                   job->version, rt_q(job->keys[i]), rt_q(job->item_err[i]));
            continue;
        }
        decode_one(job, i, &bytes);
    }
    rt_buf_cleanup(&bytes);
}

/* ---- stage 3: fit ---- */

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
static cJSON *metrics_json(struct rt__train_job *job,
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

static void write_failed(struct rt__train_job *job, const struct label_stats *ls)
{
    char msg[512];
    rt_strlcpy(msg, job->err.msg[0] ? job->err.msg : rt_strerror(job->status), sizeof(msg));
    job->f1 = 0;
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
    job->evaluation = text; /* published to the store by finish() */
}

static int fit(struct rt__train_job *job, struct label_stats *ls)
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
    rc = rt__model_fit(model, x, y, n_train, &job->cancel);
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

    char message[256];
    rt_snprintf(message, sizeof(message), "trained on %zu images, tested on %zu%s", n_train, n_test,
                dropped);
    cJSON *m = metrics_json(job, ls, (int64_t)(n_train + n_test), (int64_t)n_train, (int64_t)n_test,
                            message);
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
    if (rc == 0 && mtext)
        job->evaluation = mtext; /* published to the store by finish() */
    else if (mtext)
        cJSON_free(mtext);
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
    struct rt__train_job *job = req->data;
    if (job->already || atomic_load(&job->cancel))
        return;
    struct label_stats *ls = rt_calloc(job->n_labels ? job->n_labels : 1, sizeof(*ls));
    if (!ls) {
        job->status = rt_error_set(&job->err, RT_ENOMEM, "out of memory");
    } else if (job->status == 0) {
        job->status = fit(job, ls);
    }
    if (job->status == RT_ECANCELED || atomic_load(&job->cancel)) {
        rt_free(ls);
        return; /* interrupted: leave no completed-looking version */
    }
    if (job->status != 0)
        write_failed(job, ls);
    rt_free(ls);
}

/* ---- sequencing on the loop thread ---- */

static void evaluation_put(int status, const struct rt_error *err, void *ud)
{
    char *key = ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "engine", "event=evaluation_put_failed key=%s error=%s", rt_q(key),
               rt_q(err && err->msg[0] ? err->msg : rt_strerror(status)));
    rt_free(key);
}

/*
 * Publishes the evaluation (metrics, per-label scores) under the request's output prefix in the
 * store, as Rekognition writes its evaluation manifest there. The version folder stays the
 * engine's own record; a failed put is logged and changes nothing else.
 */
static void publish_evaluation(struct rt__train_job *job)
{
    if (!job->evaluation || !job->evaluation_key[0] || job->b->closing)
        return;
    char *key = rt_strdup(job->evaluation_key);
    struct rt_store *s = job->store;
    if (!key || s->ops->put(s, key, job->evaluation, strlen(job->evaluation), "application/json",
                            evaluation_put, key) != 0) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=evaluation_put_failed key=%s",
               rt_q(job->evaluation_key));
        rt_free(key);
    }
}

static void finish(struct rt__train_job *job)
{
    struct rt__builtin *b = job->b;
    if (job->ver->training == job)
        job->ver->training = NULL;
    int64_t dur = rt_mono_ms() - job->started_ms;
    if (atomic_load(&job->cancel)) {
        RT_LOG(RT_LOG_NOTICE, "engine", "event=train_cancelled version=%s", job->version);
    } else if (job->already) {
        RT_LOG(RT_LOG_INFO, "engine", "event=train_exists version=%s", job->version);
    } else if (job->status != 0) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=train_failed version=%s dur_ms=%lld error=%s",
               job->version, (long long)dur, rt_q(job->err.msg));
    } else {
        RT_LOG(RT_LOG_NOTICE, "engine",
               "event=train_done version=%s f1=%.4f images=%lld dur_ms=%lld", job->version, job->f1,
               (long long)job->n_lines, (long long)dur);
    }
    if (!atomic_load(&job->cancel) && !job->already)
        publish_evaluation(job);
    job_free(job);
    (void)b;
}

static void fit_after(uv_work_t *req, int status)
{
    (void)status;
    struct rt__train_job *job = req->data;
    struct rt__builtin *b = job->b;
    finish(job);
    rt__work_done(b);
}

static void queue_fit(struct rt__train_job *job)
{
    job->req.data = job;
    if (rt__queue(job->b, &job->req, fit_work, fit_after) != 0) {
        job->status = rt_error_set(&job->err, RT_EENGINE, "cannot queue work");
        finish(job);
    }
}

static void decode_after(uv_work_t *req, int status)
{
    (void)status;
    struct chunk *c = req->data;
    struct rt__train_job *job = c->job;
    struct rt__builtin *b = job->b;
    if (--job->chunks_left == 0) {
        if (atomic_load(&job->cancel))
            finish(job);
        else
            queue_fit(job);
    }
    rt__work_done(b);
}

static void prepare_after(uv_work_t *req, int status)
{
    (void)status;
    struct rt__train_job *job = req->data;
    struct rt__builtin *b = job->b;
    if (atomic_load(&job->cancel)) {
        finish(job);
    } else if (job->already || job->status != 0 || job->n_items == 0) {
        queue_fit(job);
    } else {
        job->feat = rt_calloc(job->n_items, sizeof(float) * RT__FEATURES);
        if (!job->feat) {
            job->status =
                rt_error_set(&job->err, RT_ENOMEM, "out of memory for %zu images", job->n_items);
            queue_fit(job);
        } else {
            int n = b->threads < MAX_CHUNKS ? b->threads : MAX_CHUNKS;
            if ((size_t)n > job->n_items)
                n = (int)job->n_items;
            job->n_chunks = n;
            job->chunks_left = 0;
            for (int k = 0; k < n; k++) {
                job->chunks[k].job = job;
                job->chunks[k].k = k;
                job->chunks[k].req.data = &job->chunks[k];
                if (rt__queue(b, &job->chunks[k].req, decode_work, decode_after) == 0)
                    job->chunks_left++;
            }
            if (job->chunks_left < n) {
                /* A chunk could not be queued: its images would be silently missed. */
                rt__train_cancel(job);
                job->status = rt_error_set(&job->err, RT_EENGINE, "cannot queue work");
                if (job->chunks_left == 0)
                    finish(job);
            }
        }
    }
    rt__work_done(b);
}

int rt__train_start(struct rt__builtin *b,
                    struct rt__ver *ver,
                    const struct rt_train_request *req,
                    struct rt_error *err)
{
    struct rt__train_job *job = rt_calloc(1, sizeof(*job));
    if (!job)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    job->b = b;
    job->ver = ver;
    job->store = b->store;
    atomic_init(&job->cancel, 0);
    job->started_ms = rt_mono_ms();
    rt_strlcpy(job->version, ver->name, sizeof(job->version));
    rt_strlcpy(job->bucket, b->store->bucket_name ? b->store->bucket_name : "local",
               sizeof(job->bucket));
    if (rt_strlcpy(job->manifest_key, req->manifest_key, sizeof(job->manifest_key)) != 0 ||
        rt__path(job->dir, b->models_dir, ver->name, NULL) != 0) {
        rt_free(job);
        return rt_error_set(err, RT_EINVAL, "manifest key or models path too long");
    }
    if (req->output_prefix && req->output_prefix[0] &&
        rt_snprintf(job->evaluation_key, sizeof(job->evaluation_key), "%sevaluation.json",
                    req->output_prefix) != 0) {
        rt_free(job);
        return rt_error_set(err, RT_EINVAL, "output prefix too long");
    }
    if (req->label_attribute && req->label_attribute[0]) {
        if (rt_strlcpy(job->attr, req->label_attribute, sizeof(job->attr)) != 0) {
            rt_free(job);
            return rt_error_set(err, RT_EINVAL, "label attribute name too long");
        }
        job->have_attr = true;
    }
    job->req.data = job;
    int rc = rt__queue(b, &job->req, prepare_work, prepare_after);
    if (rc != 0) {
        rt_free(job);
        return rt_error_set(err, RT_EENGINE, "cannot queue training work: %s", uv_strerror(rc));
    }
    ver->training = job;
    RT_LOG(RT_LOG_NOTICE, "engine", "event=train_start version=%s key=%s", ver->name,
           rt_q(req->manifest_key));
    return 0;
}
