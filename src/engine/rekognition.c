/*
 * rekognition.c - the `rekognition` engine driver (engine_rekognition.h): the engine interface
 * over Rekognition Custom Labels through rt_aws_call.
 *
 * Design: every operation is one struct call that walks up to three stages: resolve the
 * project ARN (once per engine, DescribeProjects by name), resolve the version ARN (once per
 * version, DescribeProjectVersions), then the operation itself; start/stop that meet
 * ResourceInUseException add a verifying describe. Calls in flight are linked on the engine;
 * close() answers each with RT_ECANCELED on a later loop turn, and the engine's memory lives
 * until the last AWS reply came back (the client keeps itself alive for its calls).
 */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/config.h"
#include "retraind/credentials.h"
#include "retraind/engine_rekognition.h"
#include "retraind/log.h"
#include "retraind/loop.h"

#define OP(var, name)                                                                              \
    static const struct rt_aws_op var = {&rt_aws_rekognition, name, "POST", "/", 0}
OP(op_create_version, "CreateProjectVersion");
OP(op_describe_versions, "DescribeProjectVersions");
OP(op_start, "StartProjectVersion");
OP(op_stop, "StopProjectVersion");
OP(op_detect, "DetectCustomLabels");

/* Image.Bytes: the Custom Labels guide's limit on raw bytes. */
#define MAX_BYTES (4 * 1024 * 1024)

enum kind { K_TRAIN, K_DESCRIBE, K_START, K_STOP, K_DETECT };
enum stage { ST_PROJECT, ST_VERSION, ST_MAIN, ST_VERIFY };

struct varn {
    struct varn *next;
    char *arn;
    char name[];
};

struct rek;

struct call {
    struct call *next, **pprev;
    struct rek *e;
    enum kind kind;
    enum stage stage;
    bool cancelled;      /* answered with RT_ECANCELED at close; the AWS reply is dropped */
    bool cancel_pending; /* the RT_ECANCELED answer is queued on the defer queue */
    bool reply_came;     /* the AWS reply of a cancelled call came back */
    char version[256];
    /* train */
    char *manifest_key, *output_prefix;
    /* start */
    int min_units;
    /* detect */
    char *key;
    const void *image;
    size_t len;
    double min_confidence;
    /* caller */
    rt_engine_done_fn *done_cb;
    rt_engine_describe_fn *describe_cb;
    rt_engine_detect_fn *detect_cb;
    void *ud;
    struct rt_deferred cancel_item;
};

struct rek {
    struct rt_engine base;
    uv_loop_t *loop;
    struct rt_aws_client *client;
    bool own_client;
    struct rt_credentials_provider *credentials;
    char *project;     /* as configured */
    char *project_arn; /* NULL until resolved */
    char *bucket;
    int max_units;
    struct varn *versions;
    struct call *calls;
    bool closing, defer_closed;
    struct rt_defer_queue defer;
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void call_run(struct call *c);
static void maybe_free(struct rek *e);

enum rt_model_status rt_engine_rekognition_status(const char *s)
{
    static const struct {
        const char *name;
        enum rt_model_status st;
    } map[] = {
        {"TRAINING_IN_PROGRESS", RT_MODEL_TRAINING_IN_PROGRESS},
        {"TRAINING_COMPLETED", RT_MODEL_TRAINING_COMPLETED},
        {"TRAINING_FAILED", RT_MODEL_TRAINING_FAILED},
        {"STARTING", RT_MODEL_STARTING},
        {"RUNNING", RT_MODEL_RUNNING},
        {"STOPPING", RT_MODEL_STOPPING},
        {"STOPPED", RT_MODEL_STOPPED},
        {"FAILED", RT_MODEL_FAILED},
        /* A copied version is trained elsewhere: its copy is its training. */
        {"COPYING_IN_PROGRESS", RT_MODEL_TRAINING_IN_PROGRESS},
        {"COPYING_COMPLETED", RT_MODEL_TRAINING_COMPLETED},
        {"COPYING_FAILED", RT_MODEL_TRAINING_FAILED},
        /* No longer usable: a deployment would fail. */
        {"DEPRECATED", RT_MODEL_FAILED},
        {"EXPIRED", RT_MODEL_FAILED},
        {"DELETING", RT_MODEL_UNKNOWN},
    };
    for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s, map[i].name) == 0)
            return map[i].st;
    return RT_MODEL_UNKNOWN;
}

/* ---- version ARN cache ---- */

static const char *varn_get(struct rek *e, const char *name)
{
    for (struct varn *v = e->versions; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v->arn;
    return NULL;
}

static void varn_put(struct rek *e, const char *name, const char *arn)
{
    if (!arn || !*arn)
        return;
    for (struct varn *v = e->versions; v; v = v->next) {
        if (strcmp(v->name, name) == 0) {
            if (strcmp(v->arn, arn) != 0) {
                char *a = rt_strdup(arn);
                if (a) {
                    rt_free(v->arn);
                    v->arn = a;
                }
            }
            return;
        }
    }
    size_t n = strlen(name);
    struct varn *v = rt_malloc(sizeof(*v) + n + 1);
    if (!v)
        return;
    v->arn = rt_strdup(arn);
    if (!v->arn) {
        rt_free(v);
        return;
    }
    memcpy(v->name, name, n + 1);
    v->next = e->versions;
    e->versions = v;
}

static void varn_forget(struct rek *e, const char *name)
{
    for (struct varn **pv = &e->versions; *pv; pv = &(*pv)->next) {
        if (strcmp((*pv)->name, name) == 0) {
            struct varn *v = *pv;
            *pv = v->next;
            rt_free(v->arn);
            rt_free(v);
            return;
        }
    }
}

/* ---- calls ---- */

static void call_free(struct call *c)
{
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next)
            c->next->pprev = c->pprev;
        c->pprev = NULL;
    }
    rt_free(c->manifest_key);
    rt_free(c->output_prefix);
    rt_free(c->key);
    rt_free(c);
}

/* Answers the caller once (unless close already did) and frees c. */
static void call_end(struct call *c, int status, const struct rt_error *err)
{
    if (!c->cancelled) {
        struct rt_error tmp = {0};
        if (status && !err) {
            rt_error_set(&tmp, status, "rekognition: %s", rt_strerror(status));
            err = &tmp;
        }
        switch (c->kind) {
        case K_TRAIN:
        case K_START:
        case K_STOP:
            c->done_cb(status, status ? err : NULL, c->ud);
            break;
        case K_DESCRIBE:
            c->describe_cb(status, NULL, err, c->ud);
            break;
        case K_DETECT:
            c->detect_cb(status, NULL, 0, err, c->ud);
            break;
        }
    }
    call_free(c);
}

static struct call *call_new(struct rek *e, enum kind kind, const char *version, void *ud)
{
    struct call *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->e = e;
    c->kind = kind;
    c->ud = ud;
    rt_strlcpy(c->version, version ? version : "", sizeof(c->version));
    c->next = e->calls;
    if (e->calls)
        e->calls->pprev = &c->next;
    e->calls = c;
    c->pprev = &e->calls;
    return c;
}

static void on_reply(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud);

/* Sends obj (consumed) as op for c. Returns: 0 or an error (obj freed either way). */
static int send_op(struct call *c, const struct rt_aws_op *op, cJSON *obj, struct rt_error *err)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "rekognition %s: out of memory", op->name);
    struct rt_aws_params p = {.body = text, .body_len = strlen(text)};
    if (c->kind == K_DETECT)
        p.timeout_ms = 30000;
    int rc = rt_aws_call(c->e->client, op, &p, on_reply, c, err);
    cJSON_free(text);
    return rc;
}

static bool valid_version_name(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 255)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

static cJSON *s3_object(const char *bucket, const char *key)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *s = cJSON_AddObjectToObject(o, "S3Object");
    cJSON_AddStringToObject(s, "Bucket", bucket);
    cJSON_AddStringToObject(s, "Name", key);
    return o;
}

/* Builds the request of the current stage. Returns: NULL on out-of-memory. */
static cJSON *build(struct call *c, const struct rt_aws_op **op)
{
    struct rek *e = c->e;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (c->stage == ST_PROJECT) {
        *op = &rt_aws_rekognition_describe_projects_op;
        cJSON *names = cJSON_AddArrayToObject(o, "ProjectNames");
        cJSON_AddItemToArray(names, cJSON_CreateString(e->project));
        return o;
    }
    if (c->stage == ST_VERSION || c->stage == ST_VERIFY || c->kind == K_DESCRIBE) {
        *op = &op_describe_versions;
        cJSON_AddStringToObject(o, "ProjectArn", e->project_arn);
        cJSON *names = cJSON_AddArrayToObject(o, "VersionNames");
        cJSON_AddItemToArray(names, cJSON_CreateString(c->version));
        return o;
    }
    const char *arn = varn_get(e, c->version);
    switch (c->kind) {
    case K_TRAIN: {
        *op = &op_create_version;
        cJSON_AddStringToObject(o, "ProjectArn", e->project_arn);
        cJSON_AddStringToObject(o, "VersionName", c->version);
        cJSON *out = cJSON_AddObjectToObject(o, "OutputConfig");
        cJSON_AddStringToObject(out, "S3Bucket", e->bucket);
        cJSON_AddStringToObject(out, "S3KeyPrefix", c->output_prefix);
        cJSON *train = cJSON_AddObjectToObject(o, "TrainingData");
        cJSON *assets = cJSON_AddArrayToObject(train, "Assets");
        cJSON *asset = cJSON_CreateObject();
        cJSON_AddItemToObject(asset, "GroundTruthManifest", s3_object(e->bucket, c->manifest_key));
        cJSON_AddItemToArray(assets, asset);
        cJSON *test = cJSON_AddObjectToObject(o, "TestingData");
        cJSON_AddBoolToObject(test, "AutoCreate", true);
        break;
    }
    case K_START:
        *op = &op_start;
        cJSON_AddStringToObject(o, "ProjectVersionArn", arn);
        cJSON_AddNumberToObject(o, "MinInferenceUnits", c->min_units);
        if (e->max_units > 0)
            cJSON_AddNumberToObject(o, "MaxInferenceUnits",
                                    e->max_units > c->min_units ? e->max_units : c->min_units);
        break;
    case K_STOP:
        *op = &op_stop;
        cJSON_AddStringToObject(o, "ProjectVersionArn", arn);
        break;
    case K_DETECT: {
        *op = &op_detect;
        cJSON_AddStringToObject(o, "ProjectVersionArn", arn);
        if (c->key) {
            cJSON_AddItemToObject(o, "Image", s3_object(e->bucket, c->key));
        } else {
            size_t n = 4 * ((c->len + 2) / 3);
            char *b64 = rt_malloc(n + 1);
            if (!b64) {
                cJSON_Delete(o);
                return NULL;
            }
            EVP_EncodeBlock((unsigned char *)b64, c->image, (int)c->len);
            cJSON *img = cJSON_AddObjectToObject(o, "Image");
            cJSON_AddStringToObject(img, "Bytes", b64);
            rt_free(b64);
        }
        cJSON_AddNumberToObject(o, "MinConfidence", c->min_confidence);
        break;
    }
    case K_DESCRIBE:
        break;
    }
    return o;
}

static void call_run(struct call *c)
{
    struct rek *e = c->e;
    if (c->stage == ST_PROJECT && e->project_arn)
        c->stage = ST_VERSION;
    bool needs_arn = c->kind == K_START || c->kind == K_STOP || c->kind == K_DETECT;
    if (c->stage == ST_VERSION && (!needs_arn || varn_get(e, c->version)))
        c->stage = ST_MAIN;
    const struct rt_aws_op *op = NULL;
    cJSON *o = build(c, &op);
    struct rt_error err = {0};
    int rc =
        o ? send_op(c, op, o, &err) : rt_error_set(&err, RT_ENOMEM, "rekognition: out of memory");
    if (rc)
        call_end(c, rc, &err);
}

/* ---- replies ---- */

static const cJSON *first_version(const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "ProjectVersionDescriptions");
    return cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void project_resolved(struct call *c, const cJSON *root)
{
    struct rek *e = c->e;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "ProjectDescriptions");
    const cJSON *p;
    const char *arn = NULL;
    cJSON_ArrayForEach(p, list)
    {
        const char *a = str_of(p, "ProjectArn");
        /* ARN ...:project/<name>/<timestamp> */
        if (a && !arn) {
            char want[300];
            rt_snprintf(want, sizeof(want), ":project/%s/", e->project);
            if (strstr(a, want) || cJSON_GetArraySize(list) == 1)
                arn = a;
        }
    }
    if (!arn) {
        struct rt_error err = {0};
        rt_error_set(&err, RT_ENOTFOUND,
                     "rekognition: project \"%s\" not found (retraind bootstrap creates it)",
                     e->project);
        call_end(c, RT_ENOTFOUND, &err);
        return;
    }
    if (!e->project_arn) {
        e->project_arn = rt_strdup(arn);
        if (!e->project_arn) {
            call_end(c, RT_ENOMEM, NULL);
            return;
        }
        RT_LOG(RT_LOG_INFO, "engine", "event=project_resolved project=%s arn=%s", rt_q(e->project),
               rt_q(arn));
    }
    c->stage = ST_VERSION;
    call_run(c);
}

static void described(struct call *c, const cJSON *root)
{
    const cJSON *v = first_version(root);
    struct rt_model_info info = {.f1 = 0};
    rt_strlcpy(info.version, c->version, sizeof(info.version));
    if (v) {
        varn_put(c->e, c->version, str_of(v, "ProjectVersionArn"));
        info.status = rt_engine_rekognition_status(str_of(v, "Status"));
        const char *msg = str_of(v, "StatusMessage");
        rt_strlcpy(info.message, msg ? msg : "", sizeof(info.message));
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(v, "EvaluationResult");
        const cJSON *f1 = cJSON_GetObjectItemCaseSensitive(ev, "F1Score");
        if (cJSON_IsNumber(f1))
            info.f1 = f1->valuedouble;
    }
    c->describe_cb(0, &info, NULL, c->ud);
    call_free(c);
}

/* A version's ARN was needed and looked up. */
static void version_found(struct call *c, const cJSON *root)
{
    const cJSON *v = first_version(root);
    const char *arn = v ? str_of(v, "ProjectVersionArn") : NULL;
    if (!arn) {
        struct rt_error err = {0};
        rt_error_set(&err, RT_ENOTFOUND, "rekognition: no version \"%s\" in project %s", c->version,
                     c->e->project);
        call_end(c, RT_ENOTFOUND, &err);
        return;
    }
    varn_put(c->e, c->version, arn);
    if (!varn_get(c->e, c->version)) {
        call_end(c, RT_ENOMEM, NULL);
        return;
    }
    c->stage = ST_MAIN;
    call_run(c);
}

/* start/stop met ResourceInUseException: in (or on the way to) the wanted state is success. */
static void verified(struct call *c, const cJSON *root)
{
    const cJSON *v = first_version(root);
    enum rt_model_status st = v ? rt_engine_rekognition_status(str_of(v, "Status")) : 0;
    bool ok = c->kind == K_START ? (st == RT_MODEL_RUNNING || st == RT_MODEL_STARTING)
                                 : (st == RT_MODEL_STOPPED || st == RT_MODEL_STOPPING ||
                                    st == RT_MODEL_TRAINING_COMPLETED ||
                                    st == RT_MODEL_TRAINING_FAILED || st == RT_MODEL_FAILED);
    if (ok) {
        call_end(c, 0, NULL);
        return;
    }
    struct rt_error err = {0};
    rt_error_set(&err, RT_EBUSY, "rekognition: version %s is %s", c->version,
                 rt_model_status_name(st));
    call_end(c, RT_EBUSY, &err);
}

static int cmp_label(const void *a, const void *b)
{
    double x = ((const struct rt_detection_label *)a)->confidence;
    double y = ((const struct rt_detection_label *)b)->confidence;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void detected(struct call *c, const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "CustomLabels");
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    struct rt_detection_label *labels = n > 0 ? rt_calloc((size_t)n, sizeof(*labels)) : NULL;
    if (n > 0 && !labels) {
        call_end(c, RT_ENOMEM, NULL);
        return;
    }
    size_t k = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, list)
    {
        const char *name = str_of(l, "Name");
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(l, "Confidence");
        if (!name || !cJSON_IsNumber(conf))
            continue;
        rt_strlcpy(labels[k].name, name, sizeof(labels[k].name));
        labels[k].confidence = conf->valuedouble;
        k++;
    }
    if (k > 1)
        qsort(labels, k, sizeof(*labels), cmp_label);
    c->detect_cb(0, labels, k, NULL, c->ud);
    rt_free(labels);
    call_free(c);
}

static void on_reply(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct call *c = ud;
    struct rek *e = c->e;
    if (c->cancelled) {
        c->reply_came = true;
        if (!c->cancel_pending)
            call_free(c);
        maybe_free(e);
        return;
    }
    if (status) {
        const char *code = err ? err->aws_code : "";
        if (c->stage == ST_MAIN && c->kind == K_TRAIN &&
            (strcmp(code, "ResourceInUseException") == 0 ||
             strcmp(code, "ResourceAlreadyExistsException") == 0)) {
            RT_LOG(RT_LOG_INFO, "engine", "event=train_exists version=%s code=%s", rt_q(c->version),
                   code);
            call_end(c, 0, NULL);
        } else if (c->stage == ST_MAIN && (c->kind == K_START || c->kind == K_STOP) &&
                   strcmp(code, "ResourceInUseException") == 0) {
            c->stage = ST_VERIFY;
            call_run(c);
        } else if (c->stage == ST_MAIN && c->kind == K_DETECT &&
                   strcmp(code, "ResourceNotReadyException") == 0) {
            struct rt_error e2 = *err;
            e2.code = RT_EBUSY;
            call_end(c, RT_EBUSY, &e2);
        } else if ((c->stage == ST_MAIN || c->stage == ST_VERSION) &&
                   strcmp(code, "ResourceNotFoundException") == 0 && c->kind != K_TRAIN) {
            /* The version (or project) is gone: forget its ARN; describe says UNKNOWN. */
            varn_forget(e, c->version);
            if (c->kind == K_DESCRIBE) {
                struct rt_model_info info = {.status = RT_MODEL_UNKNOWN};
                rt_strlcpy(info.version, c->version, sizeof(info.version));
                c->describe_cb(0, &info, NULL, c->ud);
                call_free(c);
            } else {
                struct rt_error e2 = *err;
                e2.code = RT_ENOTFOUND;
                call_end(c, RT_ENOTFOUND, &e2);
            }
        } else {
            call_end(c, status, err);
        }
        maybe_free(e);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        struct rt_error e2 = {0};
        rt_error_set(&e2, RT_EPARSE, "rekognition: the reply is not a JSON object");
        call_end(c, RT_EPARSE, &e2);
        maybe_free(e);
        return;
    }
    switch (c->stage) {
    case ST_PROJECT:
        project_resolved(c, root);
        break;
    case ST_VERSION:
        version_found(c, root);
        break;
    case ST_VERIFY:
        verified(c, root);
        break;
    case ST_MAIN:
        switch (c->kind) {
        case K_TRAIN:
            varn_put(e, c->version, str_of(root, "ProjectVersionArn"));
            RT_LOG(RT_LOG_INFO, "engine", "event=train_started version=%s", rt_q(c->version));
            call_end(c, 0, NULL);
            break;
        case K_DESCRIBE:
            described(c, root);
            break;
        case K_START:
        case K_STOP:
            RT_LOG(RT_LOG_INFO, "engine", "event=%s version=%s status=%s",
                   c->kind == K_START ? "start_requested" : "stop_requested", rt_q(c->version),
                   rt_q(str_of(root, "Status") ? str_of(root, "Status") : ""));
            call_end(c, 0, NULL);
            break;
        case K_DETECT:
            detected(c, root);
            break;
        }
        break;
    }
    cJSON_Delete(root);
    maybe_free(e);
}

/* ---- ops ---- */

static int begin(struct rek *e,
                 enum kind kind,
                 const char *version,
                 void *ud,
                 struct call **out,
                 struct rt_error *err)
{
    if (e->closing)
        return rt_error_set(err, RT_ECANCELED, "rekognition: the engine is closing");
    if (!version || !valid_version_name(version))
        return rt_error_set(err, RT_EINVAL,
                            "rekognition: version name \"%s\" is not 1-255 of [a-zA-Z0-9_.-]",
                            version ? version : "");
    *out = call_new(e, kind, version, ud);
    return *out ? 0 : rt_error_set(err, RT_ENOMEM, "rekognition: out of memory");
}

/* Starts c's first stage; an immediate failure frees c and is returned (cb not called). */
static int launch(struct call *c)
{
    const struct rt_aws_op *op = NULL;
    struct rek *e = c->e;
    if (e->project_arn)
        c->stage = ST_VERSION;
    bool needs_arn = c->kind == K_START || c->kind == K_STOP || c->kind == K_DETECT;
    if (c->stage == ST_VERSION && (!needs_arn || varn_get(e, c->version)))
        c->stage = ST_MAIN;
    cJSON *o = build(c, &op);
    struct rt_error err = {0};
    int rc = o ? send_op(c, op, o, &err) : RT_ENOMEM;
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "engine", "event=call_refused version=%s error=%s", rt_q(c->version),
               rt_q(err.code ? err.msg : rt_strerror(rc)));
        call_free(c);
    }
    return rc;
}

static int
r_train(struct rt_engine *eng, const struct rt_train_request *req, rt_engine_done_fn *cb, void *ud)
{
    struct rek *e = (struct rek *)eng;
    struct rt_error err = {0};
    struct call *c = NULL;
    if (!req || !req->manifest_key || !req->output_prefix || !cb)
        return RT_EINVAL;
    int rc = begin(e, K_TRAIN, req->version, ud, &c, &err);
    if (rc)
        return rc;
    c->done_cb = cb;
    c->manifest_key = rt_strdup(req->manifest_key);
    c->output_prefix = rt_strdup(req->output_prefix);
    if (!c->manifest_key || !c->output_prefix) {
        call_free(c);
        return RT_ENOMEM;
    }
    return launch(c);
}

static int
r_describe(struct rt_engine *eng, const char *version, rt_engine_describe_fn *cb, void *ud)
{
    struct rek *e = (struct rek *)eng;
    struct rt_error err = {0};
    struct call *c = NULL;
    if (!cb)
        return RT_EINVAL;
    int rc = begin(e, K_DESCRIBE, version, ud, &c, &err);
    if (rc)
        return rc;
    c->describe_cb = cb;
    return launch(c);
}

static int
r_start(struct rt_engine *eng, const char *version, int min_units, rt_engine_done_fn *cb, void *ud)
{
    struct rek *e = (struct rek *)eng;
    struct rt_error err = {0};
    struct call *c = NULL;
    if (!cb)
        return RT_EINVAL;
    int rc = begin(e, K_START, version, ud, &c, &err);
    if (rc)
        return rc;
    c->done_cb = cb;
    c->min_units = min_units > 0 ? min_units : 1;
    return launch(c);
}

static int r_stop(struct rt_engine *eng, const char *version, rt_engine_done_fn *cb, void *ud)
{
    struct rek *e = (struct rek *)eng;
    struct rt_error err = {0};
    struct call *c = NULL;
    if (!cb)
        return RT_EINVAL;
    int rc = begin(e, K_STOP, version, ud, &c, &err);
    if (rc)
        return rc;
    c->done_cb = cb;
    return launch(c);
}

static int detect_common(struct rek *e,
                         const char *version,
                         const char *key,
                         const void *image,
                         size_t len,
                         double min_confidence,
                         rt_engine_detect_fn *cb,
                         void *ud)
{
    struct rt_error err = {0};
    struct call *c = NULL;
    if (!cb || (!key && (!image || len == 0)))
        return RT_EINVAL;
    if (!key && len > MAX_BYTES)
        return RT_ETOOBIG;
    int rc = begin(e, K_DETECT, version, ud, &c, &err);
    if (rc)
        return rc;
    c->detect_cb = cb;
    c->image = image;
    c->len = len;
    c->min_confidence = min_confidence < 0 ? 0 : min_confidence > 100 ? 100 : min_confidence;
    if (key && !(c->key = rt_strdup(key))) {
        call_free(c);
        return RT_ENOMEM;
    }
    return launch(c);
}

static int r_detect(struct rt_engine *eng,
                    const char *version,
                    const void *image,
                    size_t len,
                    double min_confidence,
                    rt_engine_detect_fn *cb,
                    void *ud)
{
    return detect_common((struct rek *)eng, version, NULL, image, len, min_confidence, cb, ud);
}

static int r_detect_key(struct rt_engine *eng,
                        const char *version,
                        const char *key,
                        const void *image,
                        size_t len,
                        double min_confidence,
                        rt_engine_detect_fn *cb,
                        void *ud)
{
    if (!key)
        return r_detect(eng, version, image, len, min_confidence, cb, ud);
    return detect_common((struct rek *)eng, version, key, image, len, min_confidence, cb, ud);
}

/* ---- close ---- */

/* Every linked call has exactly one AWS reply outstanding (a stage sends the next from the
 * reply of the previous, or ends the call), so the engine is freed once the close callback ran
 * and the list is empty. */
static void cancel_one(void *ud)
{
    struct call *c = ud;
    struct rt_error err = {0};
    rt_error_set(&err, RT_ECANCELED, "rekognition: the engine closed");
    c->cancel_pending = false;
    switch (c->kind) {
    case K_TRAIN:
    case K_START:
    case K_STOP:
        c->done_cb(RT_ECANCELED, &err, c->ud);
        break;
    case K_DESCRIBE:
        c->describe_cb(RT_ECANCELED, NULL, &err, c->ud);
        break;
    case K_DETECT:
        c->detect_cb(RT_ECANCELED, NULL, 0, &err, c->ud);
        break;
    }
    if (c->reply_came)
        call_free(c);
}

static void creds_closed(void *ud)
{
    (void)ud;
}

static void maybe_free(struct rek *e)
{
    if (!e->closing || !e->defer_closed || e->calls)
        return;
    while (e->versions) {
        struct varn *v = e->versions;
        e->versions = v->next;
        rt_free(v->arn);
        rt_free(v);
    }
    rt_free(e->project);
    rt_free(e->project_arn);
    rt_free(e->bucket);
    rt_free(e);
}

static void defer_closed(void *ud)
{
    struct rek *e = ud;
    void (*cb)(void *) = e->close_cb;
    void *cud = e->close_ud;
    if (e->own_client) {
        /* Calls in flight keep the client alive until they complete. */
        rt_aws_client_destroy(e->client);
        e->client = NULL;
        if (e->credentials)
            rt_credentials_provider_close(e->credentials, creds_closed, NULL);
        e->credentials = NULL;
    }
    e->defer_closed = true;
    maybe_free(e);
    if (cb)
        cb(cud);
}

static void r_close(struct rt_engine *eng, void (*cb)(void *ud), void *ud)
{
    struct rek *e = (struct rek *)eng;
    e->closing = true;
    e->close_cb = cb;
    e->close_ud = ud;
    for (struct call *c = e->calls; c; c = c->next) {
        c->cancelled = true;
        c->cancel_pending = true;
        rt_defer_item(&e->defer, &c->cancel_item, cancel_one, c);
    }
    rt_defer_close(&e->defer, defer_closed, e);
}

static const char *r_arn(struct rt_engine *base, const char *version)
{
    struct rek *e = (struct rek *)base;
    return version ? varn_get(e, version) : e->project_arn;
}

static const struct rt_engine_ops rek_ops = {
    .name = "rekognition",
    .train = r_train,
    .describe = r_describe,
    .start = r_start,
    .stop = r_stop,
    .detect = r_detect,
    .detect_key = r_detect_key,
    .arn = r_arn,
    .close = r_close,
};

int rt_engine_rekognition_new(uv_loop_t *loop,
                              const struct rt_engine_rekognition_opts *o,
                              struct rt_engine **out,
                              struct rt_error *err)
{
    *out = NULL;
    if (!loop || !o || !o->client || !o->project || !*o->project || !o->bucket || !*o->bucket)
        return rt_error_set(err, RT_EINVAL,
                            "rekognition engine: needs an AWS client, engine.project and the "
                            "store's bucket");
    struct rek *e = rt_calloc(1, sizeof(*e));
    if (!e)
        return rt_error_set(err, RT_ENOMEM, "rekognition engine: out of memory");
    e->base.ops = &rek_ops;
    e->loop = loop;
    e->client = o->client;
    e->max_units = o->max_inference_units;
    e->project = rt_strdup(o->project);
    e->bucket = rt_strdup(o->bucket);
    if (strncmp(o->project, "arn:", 4) == 0)
        e->project_arn = rt_strdup(o->project);
    if (!e->project || !e->bucket || (strncmp(o->project, "arn:", 4) == 0 && !e->project_arn) ||
        rt_defer_init(&e->defer, loop) != 0) {
        rt_free(e->project);
        rt_free(e->bucket);
        rt_free(e->project_arn);
        rt_free(e);
        return rt_error_set(err, RT_ENOMEM, "rekognition engine: out of memory");
    }
    e->own_client = o->own_client;
    e->credentials = o->credentials;
    *out = &e->base;
    return 0;
}
