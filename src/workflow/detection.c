/*
 * detection.c - the detection workflow's step table (DESIGN.md "Workflows"), one execution per
 * queued image:
 *
 *   DETECT -> ROUTE -> ACCEPTED
 *                   -> REVIEW -> WAIT_ANSWER -> FOLD -> DONE
 *                                            -> DISCARD
 *   ending instead in DUPLICATE (same key, same content, detected already) or FAILED.
 *
 * Design: the dispatcher (detect_scan.c) starts an execution with the row's seq, key and etag in
 * its context. DETECT reads the image through the store (at most RT__DETECT_MAX_IMAGE bytes),
 * hashes it (SHA-256, on the thread pool), and classifies it with the active version - or, with
 * an engine that reads the object itself (detect_key: Rekognition), takes the ETag as the
 * content's identity and reads nothing; its
 * transition marks the row 'detecting' and owned by the execution, so the dispatcher never takes
 * it again, before or after a restart. ROUTE compares the confidence with
 * Minimum-Label-Detection-Confidence and writes the whole result to the row in its transition
 * (the results file is written from there, detect_scan.c). REVIEW and WAIT_ANSWER are shared
 * with sampling (review_steps.c); WAIT_ANSWER costs no timer. FOLD copies the image to
 * <labeled><label>/humanLoopName-<task>-<file>, a name that only depends on the execution, so a
 * repeated FOLD overwrites its own copy. "None of the Above" copies nothing (DISCARD).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "detect_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/review.h"
#include "retraind/store.h"

enum {
    S_DETECT,
    S_ROUTE,
    S_ACCEPTED,
    S_REVIEW,
    S_WAIT_ANSWER,
    S_FOLD,
    S_DONE,
    S_DISCARD,
    S_DUPLICATE,
    S_FAILED,
    S_COUNT
};

#define RETRY_MS 1000
#define MAX_DETECT_ATTEMPTS 5

/* ---- DETECT ---- */

struct detect_job {
    uv_work_t req;
    struct rt_exec *x;
    struct rt_buf body;
    char hash[65];
    char version[128];
    bool token;  /* holds an engine call token (rt__detect_call_begin) */
    int outcome; /* what the token reports back: 0 success, RT_ETHROTTLED, 1 neutral */
};

static void job_free(struct detect_job *j)
{
    if (j->token)
        rt__detect_call_end(j->x->m, j->outcome);
    rt_buf_cleanup(&j->body);
    rt_free(j);
}

/* The engine said it is over capacity (ThrottlingException, ProvisionedThroughputExceeded):
 * not the image's fault. Wait longer each time (0.5 s doubling to 30 s, with jitter) and try
 * again, without using up the attempts. */
static void throttled(struct rt_exec *x)
{
    int64_t n = rt__ctx_int(x, "throttled", 0) + 1;
    rt__ctx_set_int(x, "throttled", n);
    int64_t delay = 500LL << (n < 6 ? n - 1 : 6);
    if (delay > 30000)
        delay = 30000;
    delay += (int64_t)(rt_mono_ms() % 250);
    RT_LOG(RT_LOG_INFO, "workflow", "event=detection_throttled exec=%s key=%s wait_ms=%lld", x->id,
           rt_q(rt__ctx_str(x, "key")), (long long)delay);
    rt__exec_wait(x, delay);
}

static int64_t ctx_seq(struct rt_exec *x)
{
    return rt__ctx_int(x, "seq", 0);
}

static int tx_end(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    const char *state = ud;
    return rt_jbatch_detection_end(b, ctx_seq(x), x->id, state, NULL);
}

static void fail(struct rt_exec *x, const char *what, int status, const struct rt_error *err)
{
    char msg[700];
    if (err && err->code)
        rt_snprintf(msg, sizeof(msg), "%s: %s", what, err->msg);
    else
        rt_snprintf(msg, sizeof(msg), "%s: %s", what, rt_strerror(status));
    RT_LOG(RT_LOG_WARNING, "workflow", "event=detection_failed exec=%s key=%s error=%s", x->id,
           rt_q(rt__ctx_str(x, "key")), rt_q(msg));
    /* Before ROUTE the row is still the execution's to end; after it, the result stands. */
    rt__exec_finish(x, S_FAILED, NULL, msg, x->state == S_DETECT ? tx_end : NULL,
                    (void *)RT_DETECTION_FAILED);
}

static int tx_detecting(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    return rt_jbatch_detection_start(b, ctx_seq(x), x->id);
}

/* Transient trouble (the engine still loading the version after a start, say): try again a few
 * times before calling the image unreadable. */
static bool retry(struct rt_exec *x)
{
    int64_t n = rt__ctx_int(x, "attempts", 0) + 1;
    if (n >= MAX_DETECT_ATTEMPTS)
        return false;
    rt__ctx_set_int(x, "attempts", n);
    rt__exec_wait(x, RETRY_MS * n);
    return true;
}

static void detected(int status,
                     const struct rt_detection_label *labels,
                     size_t n,
                     const struct rt_error *err,
                     void *ud)
{
    struct detect_job *j = ud;
    struct rt_exec *x = j->x;
    j->outcome = status == 0 ? 0 : status == RT_ETHROTTLED ? RT_ETHROTTLED : 1;
    if (status == RT_ETHROTTLED) {
        job_free(j);
        throttled(x);
        return;
    }
    if (status) {
        bool unreadable = status == RT_EPARSE || status == RT_ETOOBIG || status == RT_EINVAL;
        if (!unreadable && retry(x)) {
            job_free(j);
            return;
        }
        fail(x, "detection failed", status, err);
        job_free(j);
        return;
    }
    const char *label = n > 0 ? labels[0].name : "";
    double conf = n > 0 ? labels[0].confidence : 0;
    char request_id[96];
    rt_snprintf(request_id, sizeof(request_id), "%s-%s", x->id, j->hash);
    request_id[40] = '\0'; /* readable, and unique per execution and content */
    rt__ctx_set_str(x, "label", label);
    rt__ctx_set_double(x, "confidence", conf);
    rt__ctx_set_str(x, "version", j->version);
    rt__ctx_set_str(x, "content_hash", j->hash);
    rt__ctx_set_str(x, "request_id", request_id);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "label", label);
    cJSON_AddNumberToObject(out, "confidence", conf);
    cJSON_AddStringToObject(out, "version", j->version);
    cJSON_AddStringToObject(out, "content_hash", j->hash);
    job_free(j);
    rt__exec_next(x, S_ROUTE, out, tx_detecting, NULL);
}

static void hash_work(uv_work_t *req)
{
    rt_pool_thread_background();
    struct detect_job *j = req->data;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(j->body.data ? j->body.data : "", j->body.len, md, &len, EVP_sha256(), NULL) !=
            1 ||
        len != 32) {
        j->hash[0] = '\0';
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        j->hash[2 * i] = hex[md[i] >> 4];
        j->hash[2 * i + 1] = hex[md[i] & 15];
    }
    j->hash[64] = '\0';
}

static void classify_image(struct detect_job *j);

static void hash_after(uv_work_t *req, int status)
{
    struct detect_job *j = req->data;
    struct rt_exec *x = j->x;
    if (status || !j->hash[0]) {
        job_free(j);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    classify_image(j);
}

/* With the content's identity in j->hash: a duplicate ends here, anything else is classified. */
static void classify_image(struct detect_job *j)
{
    struct rt_exec *x = j->x;
    int64_t other = 0;
    int rc = rt_journal_detection_same_content(x->m->env.journal, rt__ctx_str(x, "key"), j->hash,
                                               ctx_seq(x), &other);
    if (rc == 0) {
        RT_LOG(RT_LOG_INFO, "workflow", "event=detection_duplicate exec=%s key=%s same_as=%lld",
               x->id, rt_q(rt__ctx_str(x, "key")), (long long)other);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "content_hash", j->hash);
        cJSON_AddNumberToObject(out, "same_as_seq", (double)other);
        job_free(j);
        rt__exec_finish(x, S_DUPLICATE, out, NULL, tx_end, (void *)RT_DETECTION_DUPLICATE);
        return;
    }
    if (rc != RT_ENOTFOUND) {
        job_free(j);
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    struct rt_engine *e = x->m->env.engine;
    /* MinConfidence 0: low-confidence labels come back to be routed. A driver that reads the
     * object itself (Rekognition's S3Object) gets the key too. */
    if (e->ops->detect_key)
        rc = e->ops->detect_key(e, j->version, rt__ctx_str(x, "key"), j->body.data, j->body.len, 0,
                                detected, j);
    else
        rc = e->ops->detect(e, j->version, j->body.data, j->body.len, 0, detected, j);
    if (rc) {
        if (!retry(x))
            fail(x, "detection failed", rc, NULL);
        job_free(j);
    }
}

static void image_read(int status, const struct rt_error *err, void *ud)
{
    struct detect_job *j = ud;
    struct rt_exec *x = j->x;
    if (status) {
        /* Gone, too big or unreadable: this image cannot be detected. */
        fail(x, "reading the image failed", status, err);
        job_free(j);
        return;
    }
    j->req.data = j;
    int rc = uv_queue_work(x->m->env.loop, &j->req, hash_work, hash_after);
    if (rc) {
        job_free(j);
        rt__exec_wait(x, RETRY_MS);
    }
}

static void step_detect(struct rt_exec *x)
{
    struct rt_journal_model active;
    int rc = rt_journal_model_get_active(x->m->env.journal, &active);
    if (rc) {
        /* No model (yet): the image stays queued in this execution; look again later. */
        rt__exec_wait(x, 5000);
        return;
    }
    const char *key = rt__ctx_str(x, "key");
    if (key && !rt__detect_call_begin(x->m)) {
        /* The engine asked for fewer calls in flight: wait for a token. */
        rt__exec_wait(x, 100 + (int64_t)(rt_mono_ms() % 200));
        return;
    }
    struct detect_job *j = rt_calloc(1, sizeof(*j));
    if (!j || !key) {
        if (key)
            rt__detect_call_end(x->m, 1);
        rt_free(j);
        if (!key)
            rt__exec_finish(x, S_FAILED, NULL, "no image key in the execution", tx_end,
                            (void *)RT_DETECTION_FAILED);
        else
            rt__exec_wait(x, RETRY_MS);
        return;
    }
    j->x = x;
    j->token = true;
    j->outcome = 1;
    rt_strlcpy(j->version, active.version, sizeof(j->version));
    rt_buf_init(&j->body, RT__DETECT_MAX_IMAGE);
    /* An engine that reads the object itself (Rekognition's S3Object) needs no bytes from here:
     * reading them only to hash them doubled the AWS calls per image. The content's identity is
     * then the ETag (S3's MD5 of the bytes for a single-part upload), written "etag-<etag>". */
    const char *etag = rt__ctx_str(x, "etag");
    if (x->m->env.engine->ops->detect_key && etag && etag[0]) {
        size_t n = 0;
        n += (size_t)snprintf(j->hash, sizeof(j->hash), "etag-");
        for (const char *p = etag; *p && n + 1 < sizeof(j->hash); p++)
            if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                *p == '-')
                j->hash[n++] = *p;
        j->hash[n] = '\0';
        classify_image(j);
        return;
    }
    struct rt_store *s = x->m->env.store;
    rc = s->ops->get(s, key, &j->body, image_read, j);
    if (rc) {
        job_free(j);
        fail(x, "reading the image failed", rc, NULL);
    }
}

/* ---- ROUTE ---- */

struct route_row {
    struct rt_detection_row r;
};

static int tx_result(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)x;
    const struct route_row *rr = ud;
    return rt_jbatch_detection_result(b, &rr->r);
}

static void step_route(struct rt_exec *x)
{
    const struct rt_param_set *p = x->m->env.params;
    double threshold = p->v[RT_P_MIN_CONFIDENCE].f;
    bool review_enabled = p->v[RT_P_ENABLE_A2I].b;
    if (review_enabled && !x->m->env.review) {
        rt__detect_warn_no_review(x->m);
        review_enabled = false;
    }
    double conf = rt__ctx_double(x, "confidence", 0);
    const char *route = conf >= threshold ? RT_ROUTE_ACCEPTED
                        : review_enabled  ? RT_ROUTE_REVIEW
                                          : RT_ROUTE_ACCEPTED_LOW;
    struct route_row *rr = rt_calloc(1, sizeof(*rr));
    if (!rr) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    struct rt_detection_row *r = &rr->r;
    r->seq = ctx_seq(x);
    rt_strlcpy(r->exec_id, x->id, sizeof(r->exec_id));
    rt_strlcpy(r->request_id, rt__ctx_str(x, "request_id") ? rt__ctx_str(x, "request_id") : "",
               sizeof(r->request_id));
    rt_strlcpy(r->content_hash,
               rt__ctx_str(x, "content_hash") ? rt__ctx_str(x, "content_hash") : "",
               sizeof(r->content_hash));
    rt_strlcpy(r->model_version, rt__ctx_str(x, "version") ? rt__ctx_str(x, "version") : "",
               sizeof(r->model_version));
    rt_strlcpy(r->label, rt__ctx_str(x, "label") ? rt__ctx_str(x, "label") : "", sizeof(r->label));
    r->confidence = conf;
    r->threshold = threshold;
    r->review_enabled = review_enabled;
    rt_strlcpy(r->route, route, sizeof(r->route));
    r->detected_ms = rt_now_ms();
    rt__ctx_set_str(x, "route", route);
    RT_LOG(RT_LOG_INFO, "workflow",
           "event=detected exec=%s key=%s label=%s confidence=%.2f threshold=%.2f route=%s", x->id,
           rt_q(rt__ctx_str(x, "key")), rt_q(r->label), conf, threshold, route);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "route", route);
    cJSON_AddNumberToObject(out, "confidence", conf);
    cJSON_AddNumberToObject(out, "threshold", threshold);
    cJSON_AddBoolToObject(out, "review_enabled", review_enabled);
    if (strcmp(route, RT_ROUTE_REVIEW) == 0)
        rt__exec_next(x, S_REVIEW, out, tx_result, rr);
    else
        rt__exec_finish(x, S_ACCEPTED, out, NULL, tx_result, rr);
    rt_free(rr); /* the batch copied what it needs */
}

/* ---- REVIEW, WAIT_ANSWER ---- */

static void answered(struct rt_exec *x, const char *label)
{
    if (strcmp(label, RT_REVIEW_NONE_OF_THE_ABOVE) == 0) {
        struct rt_event ev = {.kind = RT_EV_REVIEW_ANSWERED,
                              .key = rt__ctx_str(x, "key"),
                              .task = rt__ctx_str(x, "task"),
                              .label = label};
        rt__exec_notify(x, &ev);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "answer", label);
        rt__exec_finish(x, S_DISCARD, out, NULL, NULL, NULL);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "answer", label);
    rt__exec_next(x, S_FOLD, out, NULL, NULL);
}

const struct rt__review_states rt__detection_review = {
    .source = RT_REVIEW_SOURCE_DETECTION,
    .wait = S_WAIT_ANSWER,
    .review = S_REVIEW,
    .failed = S_FAILED,
    .notify = true,
    .answered = answered,
};

static void step_review(struct rt_exec *x)
{
    rt__step_review(x, &rt__detection_review);
}

static void step_wait_answer(struct rt_exec *x)
{
    rt__step_wait_answer(x, &rt__detection_review);
}

/* ---- FOLD ---- */

/* Returns: true if label can name a folder of the labeled prefix. */
static bool label_ok(const char *label)
{
    return label && label[0] && !strchr(label, '/') && strcmp(label, ".") != 0 &&
           strcmp(label, "..") != 0 && strlen(label) < 128;
}

static int fold_key(struct rt_exec *x, char *out, size_t size)
{
    const char *key = rt__ctx_str(x, "key");
    const char *label = rt__ctx_str(x, "answer");
    const char *task = rt__ctx_str(x, "task");
    if (!key || !task || !label_ok(label))
        return RT_EINVAL;
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    if (rt_snprintf(out, size, "%s%s/humanLoopName-%s-%s", x->m->env.cfg->store.prefixes.labeled,
                    label, task, base) < 0)
        return RT_ETOOBIG;
    struct rt_error err;
    rt_error_clear(&err);
    return rt_store_key_check(out, strlen(out), false, &err);
}

struct fold_job {
    struct rt_exec *x;
    char dst[RT_STORE_KEY_MAX + 1];
};

static void folded(int status, const struct rt_error *err, void *ud)
{
    struct fold_job *f = ud;
    struct rt_exec *x = f->x;
    if (status) {
        if (status == RT_ENOTFOUND) {
            fail(x, "copying the image into the training set failed", status, err);
        } else {
            RT_LOG(RT_LOG_WARNING, "workflow", "event=fold_failed exec=%s key=%s error=%s", x->id,
                   rt_q(f->dst), rt_q(err ? err->msg : rt_strerror(status)));
            rt__exec_wait(x, 5000);
        }
        rt_free(f);
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=folded exec=%s key=%s", x->id, rt_q(f->dst));
    struct rt_event ev = {.kind = RT_EV_REVIEW_ANSWERED,
                          .key = rt__ctx_str(x, "key"),
                          .task = rt__ctx_str(x, "task"),
                          .label = rt__ctx_str(x, "answer"),
                          .copy_key = f->dst};
    rt__exec_notify(x, &ev);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "copy", f->dst);
    rt_free(f);
    rt__exec_finish(x, S_DONE, out, NULL, NULL, NULL);
}

static void step_fold(struct rt_exec *x)
{
    struct fold_job *f = rt_calloc(1, sizeof(*f));
    if (!f) {
        rt__exec_wait(x, RETRY_MS);
        return;
    }
    f->x = x;
    int rc = fold_key(x, f->dst, sizeof(f->dst));
    if (rc) {
        rt_free(f);
        rt__exec_finish(x, S_FAILED, NULL, "the answer cannot name a label folder", NULL, NULL);
        return;
    }
    struct rt_store *s = x->m->env.store;
    rc = s->ops->copy ? s->ops->copy(s, rt__ctx_str(x, "key"), f->dst, folded, f) : RT_ENOTIMPL;
    if (rc) {
        rt_free(f);
        rt__exec_wait(x, 5000);
    }
}

/* ---- the machine's hook: dispatch slots and results counting ---- */

static void settle(struct rt_exec *x, bool released)
{
    struct rt_detect *d = x->m->detect;
    if (!d)
        return;
    if (released || x->state != S_DETECT)
        rt__detect_slot_free(d, x);
    if (!released && (x->state == S_ACCEPTED || x->state == S_REVIEW))
        rt__detect_result_written(d);
}

/* ---- the table ---- */

static const struct rt_state_def states[S_COUNT] = {
    [S_DETECT] = {"DETECT", step_detect, false, {S_ROUTE, S_DUPLICATE, S_FAILED, -1}},
    [S_ROUTE] = {"ROUTE", step_route, false, {S_ACCEPTED, S_REVIEW, S_FAILED, -1}},
    [S_ACCEPTED] = {"ACCEPTED", NULL, true, {-1}},
    [S_REVIEW] = {"REVIEW", step_review, false, {S_WAIT_ANSWER, S_FAILED, -1}},
    [S_WAIT_ANSWER] = {"WAIT_ANSWER",
                       step_wait_answer,
                       false,
                       {S_FOLD, S_DISCARD, S_REVIEW, S_FAILED, -1}},
    [S_FOLD] = {"FOLD", step_fold, false, {S_DONE, S_FAILED, -1}},
    [S_DONE] = {"DONE", NULL, true, {-1}},
    [S_DISCARD] = {"DISCARD", NULL, true, {-1}},
    [S_DUPLICATE] = {"DUPLICATE", NULL, true, {-1}},
    [S_FAILED] = {"FAILED", NULL, true, {-1}},
};

const struct rt_workflow_def rt__detection_def = {
    .name = "detection",
    .id_prefix = "de",
    .states = states,
    .n_states = S_COUNT,
    .initial = S_DETECT,
    .failed = S_FAILED,
    .on_settle = settle,
};
