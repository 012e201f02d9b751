/*
 * creds_common.c - the parts every credential provider shares: the credentials record, the
 * public get/close/invalidate entry points, the provider base with its in-flight count, deferred
 * calls and asynchronous close, the get operation (deferred to a later loop turn, or on the
 * thread pool when it reads files), and the small parsers (ISO-8601 times, the credentials JSON
 * of IMDS and the container endpoint, the STS XML reply through core's xml.h).
 *
 * Design: the parsers see secrets; their error messages name fields, never values, and every
 * temporary copy of a secret is wiped before it is freed.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/log.h"
#include "retraind/xml.h"

/* ---- the credentials record ---- */

int rt_credentials_new(const char *access_key,
                       const char *secret_key,
                       const char *session_token,
                       int64_t expiration_ms,
                       const char *source,
                       struct rt_credentials **out)
{
    *out = NULL;
    if (!access_key || !*access_key || !secret_key || !*secret_key)
        return RT_EINVAL;
    struct rt_credentials *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    c->access_key = rt_strdup(access_key);
    c->secret_key = rt_strdup(secret_key);
    if (session_token && *session_token)
        c->session_token = rt_strdup(session_token);
    if (!c->access_key || !c->secret_key ||
        (session_token && *session_token && !c->session_token)) {
        rt_credentials_free(c);
        return RT_ENOMEM;
    }
    c->expiration_ms = expiration_ms;
    rt_strlcpy(c->source, source ? source : "", sizeof(c->source));
    *out = c;
    return 0;
}

int rt_credentials_dup(const struct rt_credentials *c, struct rt_credentials **out)
{
    int rc = rt_credentials_new(c->access_key, c->secret_key, c->session_token, c->expiration_ms,
                                c->source, out);
    return rc == RT_EINVAL ? RT_ENOMEM : rc;
}

void rt_credentials_free(struct rt_credentials *c)
{
    if (!c)
        return;
    rt_free_secret_str(c->access_key);
    rt_free_secret_str(c->secret_key);
    rt_free_secret_str(c->session_token);
    rt_free_secret(c, sizeof(*c));
}

bool rt_credentials_expiring(const struct rt_credentials *c, int64_t now_ms, int64_t margin_ms)
{
    return c->expiration_ms > 0 && now_ms + margin_ms >= c->expiration_ms;
}

void rt_credentials_opts_from_config(struct rt_credentials_opts *o, const struct rt_config *cfg)
{
    o->region = cfg->aws.region;
    o->profile = cfg->aws.profile;
    o->sts_endpoint = cfg->aws.endpoints.sts;
}

/* ---- public entry points ---- */

int rt_credentials_provider_get(struct rt_credentials_provider *p,
                                rt_credentials_get_fn *cb,
                                void *ud,
                                struct rt_error *err)
{
    if (!p || !cb)
        return rt_error_set(err, RT_EINVAL, "credentials: no provider or callback");
    return p->vtable->get(p, cb, ud, err);
}

void rt_credentials_provider_close(struct rt_credentials_provider *p,
                                   rt_credentials_closed_fn *done,
                                   void *ud)
{
    p->vtable->close(p, done, ud);
}

void rt_credentials_provider_invalidate(struct rt_credentials_provider *p)
{
    if (p->vtable->invalidate)
        p->vtable->invalidate(p);
}

/* ---- provider base ---- */

int rt__creds_base_init(struct rt__creds_base *b,
                        const struct rt_credentials_opts *o,
                        const struct rt_credentials_provider_vtable *vt,
                        const char *name,
                        rt__creds_teardown_fn *teardown,
                        struct rt_error *err)
{
    b->pub.vtable = vt;
    b->pub.name = name;
    b->pub.impl = b;
    b->loop = o->loop;
    b->httpc = o->httpc;
    b->teardown = teardown;
    int rc = rt_defer_init(&b->defer, o->loop);
    if (rc)
        return rt_error_set(err, RT_EINVAL, "credentials: %s: cannot start on the loop: %s", name,
                            uv_strerror(rc));
    return 0;
}

static void maybe_teardown(struct rt__creds_base *b)
{
    if (b->closing && b->inflight == 0 && b->teardown) {
        rt__creds_teardown_fn *t = b->teardown;
        b->teardown = NULL; /* once */
        t(b);
    }
}

/* A close with nothing in flight still reports asynchronously: its own deferred item carries it
 * to a later loop turn, counted as in flight so the teardown waits for it. */
static void close_deferred(void *ud)
{
    struct rt__creds_base *b = ud;
    b->inflight--;
    maybe_teardown(b);
}

void rt__creds_base_close(struct rt_credentials_provider *p,
                          rt_credentials_closed_fn *done,
                          void *ud)
{
    struct rt__creds_base *b = p->impl;
    if (b->closing)
        return; /* a second close is a caller bug; the first one's callback still runs */
    b->closing = true;
    b->close_done = done;
    b->close_ud = ud;
    b->inflight++;
    rt_defer_item(&b->defer, &b->close_item, close_deferred, b);
}

void rt__creds_base_hold(struct rt__creds_base *b)
{
    b->inflight++;
}

void rt__creds_base_release(struct rt__creds_base *b)
{
    b->inflight--;
    maybe_teardown(b);
}

static void base_queue_closed(void *ud)
{
    struct rt__creds_base *b = ud;
    rt_credentials_closed_fn *done = b->close_done;
    void *cud = b->close_ud;
    rt_free(b);
    if (done)
        done(cud);
}

void rt__creds_base_free(struct rt__creds_base *b)
{
    /* The queue's idle handle must be closed before b's memory goes; its close callback runs on
     * a later turn, so done never runs inside rt_credentials_provider_close either. */
    rt_defer_close(&b->defer, base_queue_closed, b);
}

/* ---- operations ---- */

int rt__creds_op_new(struct rt__creds_base *b,
                     size_t size,
                     rt_credentials_get_fn *cb,
                     void *ud,
                     struct rt__creds_op **out,
                     struct rt_error *err)
{
    *out = NULL;
    if (b->closing)
        return rt_error_set(err, RT_ECANCELED, "credentials: provider %s is closing", b->pub.name);
    struct rt__creds_op *op = rt_calloc(1, size);
    if (!op)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    op->base = b;
    op->cb = cb;
    op->ud = ud;
    op->work.data = op;
    rt_error_clear(&op->err);
    *out = op;
    return 0;
}

int rt__creds_subop_new(struct rt__creds_base *b,
                        rt_credentials_get_fn *cb,
                        void *ud,
                        struct rt__creds_op **out,
                        struct rt_error *err)
{
    int rc = rt__creds_op_new(b, sizeof(struct rt__creds_op), cb, ud, out, err);
    if (rc == 0)
        b->inflight++; /* rt__creds_op_finish ends it */
    return rc;
}

static void op_free(struct rt__creds_op *op)
{
    if (op->free_fn)
        op->free_fn(op);
    rt_credentials_free(op->creds);
    rt_free(op);
}

/* Runs on the loop once the op's first step (deferral or file reading) is over. */
static void op_continue(struct rt__creds_op *op, bool cancelled)
{
    if (cancelled && op->status == 0)
        op->status = rt_error_set(&op->err, RT_ECANCELED, "credentials: cancelled");
    if (op->after_fn && op->status == 0 && !op->base->closing)
        op->after_fn(op);
    else if (op->status == 0 && op->base->closing && !op->creds)
        rt__creds_op_fail(op, RT_ECANCELED, "credentials: provider %s closed", op->base->pub.name);
    else
        rt__creds_op_finish(op);
}

static void op_work(uv_work_t *w)
{
    struct rt__creds_op *op = w->data;
    op->work_fn(op);
}

static void op_after_work(uv_work_t *w, int status)
{
    op_continue(w->data, status == UV_ECANCELED);
}

static void op_deferred(void *ud)
{
    op_continue(ud, false);
}

int rt__creds_op_start(struct rt__creds_op *op, struct rt_error *err)
{
    struct rt__creds_base *b = op->base;
    b->inflight++;
    if (!op->work_fn) {
        /* Nothing to read: continue on the next loop turn, without the thread pool. */
        rt_defer_item(&b->defer, &op->deferred, op_deferred, op);
        return 0;
    }
    int rc = uv_queue_work(b->loop, &op->work, op_work, op_after_work);
    if (rc) {
        b->inflight--;
        op_free(op);
        return rt_error_set(err, rc, "credentials: cannot queue work: %s", uv_strerror(rc));
    }
    return 0;
}

void rt__creds_op_finish(struct rt__creds_op *op)
{
    struct rt__creds_base *b = op->base;
    if (op->status == 0 && !op->creds)
        op->status = rt_error_set(&op->err, RT_ENOTFOUND, "%s: no credentials", b->pub.name);
    if (op->status != 0 && op->err.code == 0)
        rt_error_set(&op->err, op->status, "%s: %s", b->pub.name, rt_strerror(op->status));
    if (op->status == 0)
        op->cb(0, op->creds, NULL, op->ud);
    else
        op->cb(op->status, NULL, &op->err, op->ud);
    op_free(op);
    b->inflight--;
    maybe_teardown(b);
}

void rt__creds_op_fail(struct rt__creds_op *op, int code, const char *fmt, ...)
{
    if (op->err.code == 0) {
        char msg[sizeof(op->err.msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rt_error_set(&op->err, code, "%s", msg);
    }
    op->status = op->err.code;
    rt_credentials_free(op->creds);
    op->creds = NULL;
    rt__creds_op_finish(op);
}

/* ---- helpers ---- */

const char *rt__creds_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

bool rt__creds_env_true(const char *name)
{
    const char *v = getenv(name);
    return v && strcasecmp(v, "true") == 0;
}

int rt__creds_read_file(const char *path, size_t max_bytes, char **out, struct rt_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return RT_ENOTFOUND;
        return rt_error_set(err, RT_EIO, "cannot open %s: %s", rt_q(path), rt_strerror(-errno));
    }
    struct rt_buf b;
    rt_buf_init(&b, max_bytes);
    char chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = rt_error_set(err, RT_EIO, "cannot read %s: %s", rt_q(path), rt_strerror(-errno));
            break;
        }
        if (n == 0)
            break;
        rc = rt_buf_append(&b, chunk, (size_t)n);
        if (rc) {
            rt_error_set(err, rc, "%s is too big or memory ran out", rt_q(path));
            break;
        }
    }
    memset(chunk, 0, sizeof(chunk));
    close(fd);
    if (rc) {
        rt_buf_cleanup_secret(&b);
        return rc;
    }
    *out = rt_buf_detach(&b);
    if (!*out)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int rt__creds_parse_time(const char *s, int64_t *epoch_ms)
{
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return RT_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return RT_EINVAL;
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        p++;
        int scale = 100, nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd++ < 3) {
                ms += (*p - '0') * scale;
                scale /= 10;
            }
            p++;
        }
        if (nd == 0)
            return RT_EINVAL;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return RT_EINVAL;
        off_s = (int64_t)oh * 3600 + om * 60;
        if (*p == '-')
            off_s = -off_s;
        p += 6;
    } else {
        return RT_EINVAL;
    }
    if (*p)
        return RT_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *epoch_ms = ((int64_t)t - off_s) * 1000 + ms;
    return 0;
}

const char *rt__json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring && *v->valuestring ? v->valuestring : NULL;
}

void rt__json_wipe(cJSON *o)
{
    for (cJSON *c = o; c; c = c->next) {
        if (c->valuestring)
            memset(c->valuestring, 0, strlen(c->valuestring));
        if (c->child)
            rt__json_wipe(c->child);
    }
}

int rt__creds_parse_json(const char *body,
                         size_t len,
                         const char *source,
                         struct rt_credentials **out,
                         struct rt_error *err)
{
    *out = NULL;
    cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return rt_error_set(err, RT_EPARSE, "%s: the credentials reply is not a JSON object",
                            source);
    }
    int rc = 0;
    const char *code = rt__json_str(j, "Code");
    const char *ak = rt__json_str(j, "AccessKeyId"), *sk = rt__json_str(j, "SecretAccessKey");
    const char *tok = rt__json_str(j, "Token");
    const char *exp = rt__json_str(j, "Expiration");
    int64_t exp_ms = 0;
    if (code && strcmp(code, "Success") != 0)
        rc = rt_error_set(err, RT_EAWS, "%s: the credentials reply says Code=%s", source,
                          rt_q(code));
    else if (!ak || !sk)
        rc = rt_error_set(err, RT_EPARSE,
                          "%s: the credentials reply lacks AccessKeyId or SecretAccessKey", source);
    else if (exp && rt__creds_parse_time(exp, &exp_ms) != 0)
        rc = rt_error_set(err, RT_EPARSE, "%s: the credentials reply has a bad Expiration %s",
                          source, rt_q(exp));
    else if (rt_credentials_new(ak, sk, tok, exp_ms, source, out) != 0)
        rc = rt_error_set(err, RT_ENOMEM, "out of memory");
    rt__json_wipe(j);
    cJSON_Delete(j);
    return rc;
}

/* Appends the text at path to b (a secret buffer). Returns: true when present and non-empty. */
static bool sts_field(struct rt_str doc, const char *path, struct rt_buf *b)
{
    rt_buf_reset(b);
    return rt_xml_path_text(doc, path, b) == 1 && b->len > 0;
}

int rt__creds_parse_sts_reply(const char *body,
                              size_t len,
                              const char *action,
                              const char *source,
                              struct rt_credentials **out,
                              struct rt_error *err)
{
    *out = NULL;
    char creds[160];
    rt_snprintf(creds, sizeof(creds), "%sResponse/%sResult/Credentials/", action, action);
    struct rt_str doc = {body ? body : "", body ? len : 0};
    struct rt_buf ak, sk, tok, exp;
    rt_buf_init(&ak, 1024);
    rt_buf_init(&sk, 1024);
    rt_buf_init(&tok, 16384);
    rt_buf_init(&exp, 64);
    char path[240];
    int rc = 0;
    bool have_ak =
        rt_snprintf(path, sizeof(path), "%sAccessKeyId", creds) == 0 && sts_field(doc, path, &ak);
    bool have_sk = rt_snprintf(path, sizeof(path), "%sSecretAccessKey", creds) == 0 &&
                   sts_field(doc, path, &sk);
    bool have_tok =
        rt_snprintf(path, sizeof(path), "%sSessionToken", creds) == 0 && sts_field(doc, path, &tok);
    bool have_exp =
        rt_snprintf(path, sizeof(path), "%sExpiration", creds) == 0 && sts_field(doc, path, &exp);
    int64_t exp_ms = 0;
    if (!have_ak || !have_sk || !have_tok)
        rc = rt_error_set(err, RT_EPARSE,
                          "%s: the STS reply lacks AccessKeyId, SecretAccessKey or "
                          "SessionToken",
                          source);
    else if (!have_exp || rt__creds_parse_time(exp.data, &exp_ms) != 0)
        rc = rt_error_set(err, RT_EPARSE, "%s: the STS reply has no valid Expiration", source);
    else if (rt_credentials_new(ak.data, sk.data, tok.data, exp_ms, source, out) != 0)
        rc = rt_error_set(err, RT_ENOMEM, "out of memory");
    rt_buf_cleanup_secret(&ak);
    rt_buf_cleanup_secret(&sk);
    rt_buf_cleanup_secret(&tok);
    rt_buf_cleanup(&exp);
    return rc;
}

int rt__creds_parse_sts(const char *body,
                        size_t len,
                        struct rt_credentials **out,
                        struct rt_error *err)
{
    return rt__creds_parse_sts_reply(body, len, "AssumeRoleWithWebIdentity", "web-identity", out,
                                     err);
}

int rt__creds_sts_error(const char *body, size_t len, struct rt_error *err)
{
    struct rt_str doc = {body ? body : "", body ? len : 0};
    struct rt_buf b;
    rt_buf_init(&b, 4096);
    int found = 0;
    if (sts_field(doc, "ErrorResponse/Error/Code", &b)) {
        rt_strlcpy(err->aws_code, b.data, sizeof(err->aws_code));
        found = 1;
    }
    if (sts_field(doc, "ErrorResponse/RequestId", &b))
        rt_strlcpy(err->request_id, b.data, sizeof(err->request_id));
    if (sts_field(doc, "ErrorResponse/Error/Message", &b))
        rt_strlcpy(err->msg, b.data, sizeof(err->msg));
    rt_buf_cleanup(&b);
    return found;
}
