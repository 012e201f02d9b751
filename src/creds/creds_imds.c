/*
 * creds_imds.c - EC2 instance metadata credentials, IMDSv2 (aws-wire.md 10.2): a session token
 * from PUT /latest/api/token, the role name from GET /latest/meta-data/iam/security-credentials/,
 * then that role's credentials JSON.
 *
 * Design: IMDS is the last source of the chain and is tried on machines that are not EC2 at all,
 * so everything is short: 1 s per request, one attempt for the token. A token PUT that gets no
 * reply (nothing listens, or the hop limit drops it in a container) means "no IMDS here": the
 * provider answers RT_ENOTFOUND at once instead of trying IMDSv1 and waiting again, so a missing
 * IMDS costs at most a couple of seconds. 403/404/405 to the PUT mean IMDSv1 only: the GETs go
 * without a token. The session token is kept (wiped when replaced) until shortly before its TTL;
 * a 401 on a GET drops it and starts over once. A 200 whose body is not the credentials JSON is
 * fetched once more, as botocore does. AWS_EC2_METADATA_DISABLED=true turns the source off.
 */
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/httpc.h"
#include "retraind/log.h"

#define DEFAULT_IMDS "http://169.254.169.254"
#define DEFAULT_IMDS_TIMEOUT_MS 1000
#define TOKEN_TTL_S 21600
#define CREDS_PATH "/latest/meta-data/iam/security-credentials/"

struct imds_provider {
    struct rt__creds_base base;
    char *endpoint; /* owned, may be NULL (environment / default) */
    int64_t timeout_ms;
    char *token;              /* owned secret: the cached session token, NULL when none */
    char token_endpoint[512]; /* which endpoint the token belongs to */
    int64_t token_until_mono; /* drop the token after this */
};

enum imds_stage { ST_TOKEN, ST_ROLE, ST_CREDS };

struct imds_op {
    struct rt__creds_op op;
    char endpoint[512];
    enum imds_stage stage;
    bool v1;      /* no token: IMDSv1 */
    int restarts; /* 401 restarts done */
    int parse_retries;
    char role[256];
};

static void step(struct imds_op *m);

static void drop_token(struct imds_provider *ip)
{
    rt_free_secret_str(ip->token);
    ip->token = NULL;
}

static void fail_nf(struct imds_op *m, const char *why, const struct rt_error *err)
{
    RT_LOG(RT_LOG_INFO, "creds", "event=credentials_none source=imds endpoint=%s reason=%s",
           rt_q(m->endpoint), rt_q(why));
    rt__creds_op_fail(&m->op, RT_ENOTFOUND, "IMDS at %s: %s%s%s", m->endpoint, why,
                      err && err->msg[0] ? ": " : "", err && err->msg[0] ? err->msg : "");
}

/* A 401 means our token is no longer good: drop it and start over, once. */
static bool restart_on_401(struct imds_op *m, int http)
{
    struct imds_provider *ip = (struct imds_provider *)m->op.base;
    if (http != 401 || m->restarts > 0 || m->v1)
        return false;
    m->restarts++;
    drop_token(ip);
    m->stage = ST_TOKEN;
    step(m);
    return true;
}

static void on_token(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct imds_op *m = ud;
    struct imds_provider *ip = (struct imds_provider *)m->op.base;
    if (status == 0) {
        char *t = rt_buf_detach(&resp->body);
        if (!t || !*t) {
            rt_free(t);
            return fail_nf(m, "empty session token", NULL);
        }
        drop_token(ip);
        ip->token = t;
        rt_strlcpy(ip->token_endpoint, m->endpoint, sizeof(ip->token_endpoint));
        ip->token_until_mono = rt_mono_ms() + (int64_t)(TOKEN_TTL_S - 60) * 1000;
        m->stage = ST_ROLE;
        return step(m);
    }
    int http = resp->status;
    if (http == 403 || http == 404 || http == 405) {
        RT_LOG(RT_LOG_DEBUG, "creds", "event=imds_v1_fallback endpoint=%s http=%d",
               rt_q(m->endpoint), http);
        m->v1 = true;
        m->stage = ST_ROLE;
        return step(m);
    }
    if (http == 400)
        return rt__creds_op_fail(&m->op, RT_ECREDENTIALS,
                                 "IMDS at %s refused the session token request (HTTP 400)",
                                 m->endpoint);
    fail_nf(m, http ? "the session token request failed" : "no answer", err);
}

static void on_role(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct imds_op *m = ud;
    if (status != 0) {
        if (restart_on_401(m, resp->status))
            return;
        return fail_nf(m, resp->status == 404 ? "no IAM role attached" : "role lookup failed",
                       resp->status == 404 ? NULL : err);
    }
    const char *b = resp->body.data ? resp->body.data : "";
    size_t n = strcspn(b, "\r\n");
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(m->role) || memchr(b, '/', n))
        return fail_nf(m, "no usable role name", NULL);
    memcpy(m->role, b, n);
    m->role[n] = '\0';
    m->stage = ST_CREDS;
    step(m);
}

static void on_creds(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct imds_op *m = ud;
    if (status != 0) {
        if (restart_on_401(m, resp->status))
            return;
        return fail_nf(
            m, resp->status == 404 ? "the role has no credentials" : "credentials fetch failed",
            resp->status == 404 ? NULL : err);
    }
    struct rt_error e;
    rt_error_clear(&e);
    size_t len = resp->body.len;
    char *body = rt_buf_detach(&resp->body);
    int prc = rt__creds_parse_json(body, len, "imds", &m->op.creds, &e);
    rt_free_secret(body, body ? len + 1 : 0);
    if (prc != 0) {
        if (e.code == RT_EPARSE && m->parse_retries++ == 0)
            return step(m);
        m->op.err = e;
        return rt__creds_op_fail(&m->op, e.code, "%s", e.msg);
    }
    char when[40];
    RT_LOG(RT_LOG_INFO, "creds", "event=credentials_found source=imds role=%s expires=%s",
           rt_q(m->role),
           m->op.creds->expiration_ms
               ? rt_time_rfc3339(m->op.creds->expiration_ms, when, sizeof(when))
               : "never");
    rt__creds_op_finish(&m->op);
}

static void step(struct imds_op *m)
{
    struct imds_provider *ip = (struct imds_provider *)m->op.base;
    if (m->op.base->closing)
        return rt__creds_op_fail(&m->op, RT_ECANCELED, "IMDS: provider closed");
    if (m->stage == ST_TOKEN && ip->token && rt_mono_ms() < ip->token_until_mono &&
        strcmp(ip->token_endpoint, m->endpoint) == 0)
        m->stage = ST_ROLE;
    char url[1024];
    const char *method = "GET";
    rt_httpc_done_fn *done;
    int attempts = 2;
    switch (m->stage) {
    case ST_TOKEN:
        rt_snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
        method = "PUT";
        done = on_token;
        attempts = 1;
        break;
    case ST_ROLE:
        rt_snprintf(url, sizeof(url), "%s" CREDS_PATH, m->endpoint);
        done = on_role;
        break;
    default:
        rt_snprintf(url, sizeof(url), "%s" CREDS_PATH "%s", m->endpoint, m->role);
        done = on_creds;
        break;
    }
    struct rt_httpc_req *req = NULL;
    int rc = rt_httpc_req_new(method, url, &req);
    if (!rc && m->stage == ST_TOKEN)
        rc = rt_httpc_req_set_header(req, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
    else if (!rc && !m->v1 && ip->token)
        rc = rt_httpc_req_set_header(req, "X-aws-ec2-metadata-token", ip->token);
    if (rc) {
        rt_httpc_req_free(req);
        return rt__creds_op_fail(&m->op, rc, "IMDS: cannot build the request: %s", rt_strerror(rc));
    }
    int64_t t = ip->timeout_ms > 0 ? ip->timeout_ms : DEFAULT_IMDS_TIMEOUT_MS;
    rt_httpc_req_set_timeouts(req, t, t);
    rt_httpc_req_set_max_attempts(req, attempts);
    rt_httpc_req_set_max_body(req, 64u << 10);
    rc = rt_httpc_send(m->op.base->httpc, req, done, m);
    if (rc)
        rt__creds_op_fail(&m->op, rc, "IMDS: cannot send the request: %s", rt_strerror(rc));
}

static void imds_after(struct rt__creds_op *o)
{
    if (!o->base->httpc)
        return rt__creds_op_fail(o, RT_EINVAL, "IMDS: no HTTP client given to the provider");
    step((struct imds_op *)o);
}

static int imds_get(struct rt_credentials_provider *p,
                    rt_credentials_get_fn *cb,
                    void *ud,
                    struct rt_error *err)
{
    struct imds_provider *ip = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&ip->base, sizeof(struct imds_op), cb, ud, &o, err);
    if (rc)
        return rc;
    struct imds_op *m = (struct imds_op *)o;
    if (rt__creds_env_true("AWS_EC2_METADATA_DISABLED")) {
        o->status = rt_error_set(&o->err, RT_ENOTFOUND, "disabled by AWS_EC2_METADATA_DISABLED");
    } else {
        const char *ep =
            ip->endpoint ? ip->endpoint : rt__creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        if (rt_strlcpy(m->endpoint, ep ? ep : DEFAULT_IMDS, sizeof(m->endpoint)))
            o->status = rt_error_set(&o->err, RT_ECREDENTIALS,
                                     "IMDS: AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
        size_t n = strlen(m->endpoint);
        while (n && m->endpoint[n - 1] == '/')
            m->endpoint[--n] = '\0';
        o->after_fn = imds_after;
    }
    return rt__creds_op_start(o, err);
}

static void imds_teardown(struct rt__creds_base *b)
{
    struct imds_provider *ip = (struct imds_provider *)b;
    drop_token(ip);
    rt_free(ip->endpoint);
    rt__creds_base_free(b);
}

static void imds_invalidate(struct rt_credentials_provider *p)
{
    drop_token(p->impl);
}

static const struct rt_credentials_provider_vtable imds_vt = {
    .get = imds_get,
    .close = rt__creds_base_close,
    .invalidate = imds_invalidate,
};

int rt_credentials_provider_new_imds(const struct rt_credentials_opts *o,
                                     struct rt_credentials_provider **out,
                                     struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct imds_provider *ip = rt_calloc(1, sizeof(*ip));
    if (!ip)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    if (o->imds_endpoint && !(ip->endpoint = rt_strdup(o->imds_endpoint))) {
        rt_free(ip);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    ip->timeout_ms = o->imds_timeout_ms;
    int rc = rt__creds_base_init(&ip->base, o, &imds_vt, "imds", imds_teardown, err);
    if (rc) {
        rt_free(ip->endpoint);
        rt_free(ip);
        return rc;
    }
    *out = &ip->base.pub;
    return 0;
}
