/*
 * creds_common.c - the parts every credential provider shares: the credentials record, the
 * public get/close/invalidate entry points, the provider base with its in-flight count and
 * asynchronous close, the get operation on the thread pool, and the small parsers (ISO-8601
 * times, the credentials JSON of IMDS and the container endpoint, the STS XML reply).
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
#include "retraind/log.h"

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

void rt__creds_base_init(struct rt__creds_base *b,
                         const struct rt_credentials_opts *o,
                         const struct rt_credentials_provider_vtable *vt,
                         const char *name,
                         rt__creds_teardown_fn *teardown)
{
    b->pub.vtable = vt;
    b->pub.name = name;
    b->pub.impl = b;
    b->loop = o->loop;
    b->httpc = o->httpc;
    b->teardown = teardown;
}

static void maybe_teardown(struct rt__creds_base *b)
{
    if (b->closing && b->inflight == 0 && b->teardown) {
        rt__creds_teardown_fn *t = b->teardown;
        b->teardown = NULL; /* once */
        t(b);
    }
}

/* A close with nothing in flight still reports asynchronously: a no-op work item carries it. */
struct close_defer {
    uv_work_t work;
    struct rt__creds_base *b;
};

static void noop_work(uv_work_t *w)
{
    (void)w;
}

static void close_after(uv_work_t *w, int status)
{
    (void)status;
    struct close_defer *d = w->data;
    struct rt__creds_base *b = d->b;
    rt_free(d);
    b->inflight--;
    maybe_teardown(b);
}

void rt__creds_base_close(struct rt_credentials_provider *p,
                          rt_credentials_closed_fn *done,
                          void *ud)
{
    struct rt__creds_base *b = p->impl;
    b->closing = true;
    b->close_done = done;
    b->close_ud = ud;
    struct close_defer *d = rt_calloc(1, sizeof(*d));
    if (d) {
        d->b = b;
        d->work.data = d;
        b->inflight++;
        if (uv_queue_work(b->loop, &d->work, noop_work, close_after) == 0)
            return;
        b->inflight--;
        rt_free(d);
    }
    /* Out of memory: tear down now (the caller then sees done run inside close, the lesser evil).
     */
    maybe_teardown(b);
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

void rt__creds_base_free(struct rt__creds_base *b)
{
    rt_credentials_closed_fn *done = b->close_done;
    void *ud = b->close_ud;
    rt_free(b);
    if (done)
        done(ud);
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

static void op_free(struct rt__creds_op *op)
{
    if (op->free_fn)
        op->free_fn(op);
    rt_credentials_free(op->creds);
    rt_free(op);
}

static void op_work(uv_work_t *w)
{
    struct rt__creds_op *op = w->data;
    if (op->work_fn)
        op->work_fn(op);
}

static void op_after(uv_work_t *w, int status)
{
    struct rt__creds_op *op = w->data;
    if (status == UV_ECANCELED && op->status == 0)
        op->status = rt_error_set(&op->err, RT_ECANCELED, "credentials: cancelled");
    if (op->after_fn && op->status == 0 && !op->base->closing)
        op->after_fn(op);
    else if (op->status == 0 && op->base->closing && !op->creds)
        rt__creds_op_fail(op, RT_ECANCELED, "credentials: provider %s closed", op->base->pub.name);
    else
        rt__creds_op_finish(op);
}

int rt__creds_op_start(struct rt__creds_op *op, struct rt_error *err)
{
    struct rt__creds_base *b = op->base;
    b->inflight++;
    int rc = uv_queue_work(b->loop, &op->work, op_work, op_after);
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

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring && *v->valuestring ? v->valuestring : NULL;
}

/* Wipes every string of a parsed JSON tree before it is freed (it held secrets). */
static void json_wipe(cJSON *o)
{
    for (cJSON *c = o; c; c = c->next) {
        if (c->valuestring)
            memset(c->valuestring, 0, strlen(c->valuestring));
        if (c->child)
            json_wipe(c->child);
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
    const char *code = json_str(j, "Code");
    const char *ak = json_str(j, "AccessKeyId"), *sk = json_str(j, "SecretAccessKey");
    const char *tok = json_str(j, "Token");
    const char *exp = json_str(j, "Expiration");
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
    json_wipe(j);
    cJSON_Delete(j);
    return rc;
}

char *rt__creds_xml_text(const char *xml, size_t len, const char *tag)
{
    char open[96], close[96];
    if (rt_snprintf(open, sizeof(open), "<%s>", tag) ||
        rt_snprintf(close, sizeof(close), "</%s>", tag))
        return NULL;
    const char *s = memmem(xml, len, open, strlen(open));
    if (!s)
        return NULL;
    s += strlen(open);
    const char *e = memmem(s, len - (size_t)(s - xml), close, strlen(close));
    if (!e)
        return NULL;
    char *out = rt_malloc((size_t)(e - s) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (s < e) {
        bool done = false;
        if (*s == '&') {
            for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
                size_t el = strlen(ents[i].ent);
                if ((size_t)(e - s) >= el && memcmp(s, ents[i].ent, el) == 0) {
                    out[n++] = ents[i].c;
                    s += el;
                    done = true;
                    break;
                }
            }
        }
        if (!done)
            out[n++] = *s++;
    }
    out[n] = '\0';
    /* Surrounding whitespace is formatting, not content. */
    size_t a = 0;
    while (a < n && isspace((unsigned char)out[a]))
        a++;
    while (n > a && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (a)
        memmove(out, out + a, n - a + 1);
    return out;
}

int rt__creds_form_append(struct rt_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = rt_buf_append_char(b, (char)*p);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = rt_buf_append(b, esc, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}
