/*
 * creds_web_identity.c - web identity credentials: the token file named by
 * AWS_WEB_IDENTITY_TOKEN_FILE (Kubernetes service-account tokens, GitHub OIDC ...) exchanged for
 * temporary keys at STS AssumeRoleWithWebIdentity (aws-wire.md 9). Also used by profiles that
 * carry role_arn + web_identity_token_file.
 *
 * Design: the call is unsigned (the token is the proof), query protocol: a form POST answered in
 * XML. The token file is re-read at every fetch because Kubernetes rotates it; it is read on the
 * thread pool and wiped once the request body holds it. IDPCommunicationError is retried like a
 * server error (botocore does so); every other STS error ends the fetch with its code.
 */
#include <stdio.h>
#include <string.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/endpoint.h"
#include "retraind/form.h"
#include "retraind/httpc.h"
#include "retraind/log.h"

#define MAX_TOKEN_FILE (64u << 10)
#define DEFAULT_STS_TIMEOUT_MS 10000

int rt__sts_endpoint(const char *config_url,
                     const char *config_region,
                     const char *profile_region,
                     char *out,
                     size_t size,
                     struct rt_error *err)
{
    static const struct rt_endpoint_service sts = {
        .id = "sts",
        .env_id = "STS",
        .prefix = "sts",
        .global_host = "sts.amazonaws.com",
    };
    const char *region = rt_region_resolve(config_region, profile_region, NULL);
    return rt_endpoint_resolve(&sts, region, config_url, out, size, NULL, err);
}

struct wi_job {
    uv_work_t work;
    struct rt__creds_op *op; /* the get this job finishes */
    char *token_file, *role_arn, *session_name, *endpoint;
    int64_t timeout_ms;
    char *token; /* owned secret, read by the work */
    int rc;
    struct rt_error err;
};

static void job_free(struct wi_job *j)
{
    rt_free(j->token_file);
    rt_free(j->role_arn);
    rt_free(j->session_name);
    rt_free(j->endpoint);
    rt_free_secret_str(j->token);
    rt_free(j);
}

static void job_fail(struct wi_job *j, int code, const struct rt_error *err)
{
    struct rt__creds_op *op = j->op;
    if (op->err.code == 0 && err && err->code)
        op->err = *err;
    job_free(j);
    rt__creds_op_fail(op, code, "web identity: %s", rt_strerror(code));
}

static void read_token(uv_work_t *w)
{
    struct wi_job *j = w->data;
    rt_error_clear(&j->err);
    j->rc = rt__creds_read_file(j->token_file, MAX_TOKEN_FILE, &j->token, &j->err);
    if (j->rc == RT_ENOTFOUND)
        rt_error_set(&j->err, RT_ECREDENTIALS, "web identity: the token file %s does not exist",
                     rt_q(j->token_file));
    else if (j->rc == 0) {
        /* Files written by hand end with a newline that is not part of the token. */
        size_t n = strlen(j->token);
        while (n && (j->token[n - 1] == '\n' || j->token[n - 1] == '\r' || j->token[n - 1] == ' '))
            j->token[--n] = '\0';
        if (n == 0)
            j->rc = rt_error_set(&j->err, RT_ECREDENTIALS,
                                 "web identity: the token file %s is "
                                 "empty",
                                 rt_q(j->token_file));
    }
}

static enum rt_httpc_verdict
classify(const struct rt_httpc_resp *resp, void *ud, struct rt_error *err)
{
    (void)ud;
    if (resp->status >= 200 && resp->status < 300)
        return RT_HTTPC_OK;
    struct rt_error e;
    rt_error_clear(&e);
    bool coded = rt__creds_sts_error(resp->body.data, resp->body.len, &e) == 1;
    enum rt_httpc_verdict v = resp->status >= 500 ? RT_HTTPC_RETRY : RT_HTTPC_FAIL;
    if (coded && strcmp(e.aws_code, "IDPCommunicationError") == 0)
        v = RT_HTTPC_RETRY;
    if (coded &&
        (strcmp(e.aws_code, "Throttling") == 0 || strcmp(e.aws_code, "ThrottlingException") == 0))
        v = RT_HTTPC_THROTTLE;
    if (coded) {
        rt_error_clear(err);
        rt_error_set(err, RT_EAWS, "STS AssumeRoleWithWebIdentity failed: %s",
                     e.msg[0] ? e.msg : "(no message)");
        rt_strlcpy(err->aws_code, e.aws_code, sizeof(err->aws_code));
        rt_strlcpy(err->request_id, e.request_id, sizeof(err->request_id));
    }
    return v;
}

static void on_sts(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct wi_job *j = ud;
    struct rt__creds_op *op = j->op;
    if (status != 0) {
        RT_LOG(RT_LOG_WARNING, "creds",
               "event=credentials_failed source=web-identity role=%s "
               "error=%s",
               rt_q(j->role_arn), rt_q(err ? err->msg : ""));
        return job_fail(j, err && err->aws_code[0] ? RT_EAWS : status, err);
    }
    size_t blen = resp->body.len;
    char *b = rt_buf_detach(&resp->body);
    struct rt_error e;
    rt_error_clear(&e);
    int rc = b ? rt__creds_parse_sts(b, blen, &op->creds, &e)
               : rt_error_set(&e, RT_ENOMEM, "out of memory");
    rt_free_secret(b, b ? blen + 1 : 0);
    if (rc)
        return job_fail(j, e.code, &e);
    char when[40];
    RT_LOG(RT_LOG_INFO, "creds", "event=credentials_found source=web-identity role=%s expires=%s",
           rt_q(j->role_arn), rt_time_rfc3339(op->creds->expiration_ms, when, sizeof(when)));
    job_free(j);
    rt__creds_op_finish(op);
}

static void after_read(uv_work_t *w, int status)
{
    struct wi_job *j = w->data;
    struct rt__creds_op *op = j->op;
    if (status == UV_ECANCELED || op->base->closing) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, RT_ECANCELED, "web identity: cancelled");
        return job_fail(j, RT_ECANCELED, &e);
    }
    if (j->rc)
        return job_fail(j, j->err.code ? j->err.code : j->rc, &j->err);
    struct rt_error e;
    rt_error_clear(&e);
    if (!op->base->httpc) {
        rt_error_set(&e, RT_EINVAL, "web identity: no HTTP client given to the provider");
        return job_fail(j, RT_EINVAL, &e);
    }
    char session[96];
    if (j->session_name && *j->session_name)
        rt_strlcpy(session, j->session_name, sizeof(session));
    else
        rt_snprintf(session, sizeof(session), "retraind-session-%lld",
                    (long long)(rt_now_ms() / 1000));
    struct rt_buf body;
    rt_buf_init(&body, MAX_TOKEN_FILE * 3 + 4096);
    int rc = rt_form_add(&body, "Action", "AssumeRoleWithWebIdentity");
    if (!rc)
        rc = rt_form_add(&body, "Version", "2011-06-15");
    if (!rc)
        rc = rt_form_add(&body, "RoleArn", j->role_arn);
    if (!rc)
        rc = rt_form_add(&body, "RoleSessionName", session);
    if (!rc)
        rc = rt_form_add(&body, "WebIdentityToken", j->token);
    rt_free_secret_str(j->token);
    j->token = NULL;
    struct rt_httpc_req *req = NULL;
    char url[1100];
    rt_snprintf(url, sizeof(url), "%s%s", j->endpoint,
                j->endpoint[0] && j->endpoint[strlen(j->endpoint) - 1] == '/' ? "" : "/");
    if (!rc)
        rc = rt_httpc_req_new("POST", url, &req);
    if (!rc)
        rc = rt_httpc_req_set_header(req, "Content-Type",
                                     "application/x-www-form-urlencoded; charset=utf-8");
    if (!rc)
        rc = rt_httpc_req_set_body(req, body.data, body.len, true);
    rt_buf_cleanup_secret(&body);
    if (rc) {
        rt_httpc_req_free(req);
        rt_error_set(&e, rc, "web identity: cannot build the STS request: %s", rt_strerror(rc));
        return job_fail(j, rc, &e);
    }
    int64_t t = j->timeout_ms > 0 ? j->timeout_ms : DEFAULT_STS_TIMEOUT_MS;
    rt_httpc_req_set_timeouts(req, t < 5000 ? t : 5000, t);
    rt_httpc_req_set_max_body(req, 256u << 10);
    rt_httpc_req_set_hooks(req, NULL, classify, j);
    RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_fetch source=web-identity role=%s url=%s",
           rt_q(j->role_arn), rt_q(url));
    rc = rt_httpc_send(op->base->httpc, req, on_sts, j);
    if (rc) {
        rt_error_set(&e, rc, "web identity: cannot send the STS request: %s", rt_strerror(rc));
        return job_fail(j, rc, &e);
    }
}

void rt__web_identity_run(struct rt__creds_op *op, const struct rt__web_identity_call *c)
{
    struct wi_job *j = rt_calloc(1, sizeof(*j));
    if (!j)
        return rt__creds_op_fail(op, RT_ENOMEM, "out of memory");
    j->op = op;
    j->work.data = j;
    j->token_file = rt_strdup(c->token_file);
    j->role_arn = rt_strdup(c->role_arn);
    j->session_name = c->session_name ? rt_strdup(c->session_name) : NULL;
    j->endpoint = rt_strdup(c->endpoint);
    j->timeout_ms = c->timeout_ms;
    if (!j->token_file || !j->role_arn || !j->endpoint || (c->session_name && !j->session_name)) {
        job_free(j);
        return rt__creds_op_fail(op, RT_ENOMEM, "out of memory");
    }
    int rc = uv_queue_work(op->base->loop, &j->work, read_token, after_read);
    if (rc) {
        job_free(j);
        rt__creds_op_fail(op, rc, "web identity: cannot queue work: %s", uv_strerror(rc));
    }
}

/* ---- the provider (environment variables) ---- */

struct wi_provider {
    struct rt__creds_base base;
    char *sts_endpoint; /* owned, may be NULL: the config's aws.endpoints.sts */
    char *region;       /* owned, may be NULL: the config's aws.region */
    int64_t sts_timeout_ms;
};

struct wi_op {
    struct rt__creds_op op;
    char token_file[1024], role_arn[512], session[128], endpoint[1024];
};

static void wi_after(struct rt__creds_op *o)
{
    struct wi_op *w = (struct wi_op *)o;
    struct rt__web_identity_call c = {
        .token_file = w->token_file,
        .role_arn = w->role_arn,
        .session_name = w->session[0] ? w->session : NULL,
        .endpoint = w->endpoint,
        .timeout_ms = ((struct wi_provider *)o->base)->sts_timeout_ms,
    };
    rt__web_identity_run(o, &c);
}

static int
wi_get(struct rt_credentials_provider *p, rt_credentials_get_fn *cb, void *ud, struct rt_error *err)
{
    struct wi_provider *wp = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&wp->base, sizeof(struct wi_op), cb, ud, &o, err);
    if (rc)
        return rc;
    struct wi_op *w = (struct wi_op *)o;
    const char *file = rt__creds_env("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = rt__creds_env("AWS_ROLE_ARN");
    const char *sess = rt__creds_env("AWS_ROLE_SESSION_NAME");
    if (!file || !role) {
        o->status = rt_error_set(&o->err, RT_ENOTFOUND, "%s not set",
                                 !file && !role ? "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"
                                 : !file        ? "AWS_WEB_IDENTITY_TOKEN_FILE"
                                                : "AWS_ROLE_ARN");
    } else if (rt_strlcpy(w->token_file, file, sizeof(w->token_file)) ||
               rt_strlcpy(w->role_arn, role, sizeof(w->role_arn)) ||
               rt_strlcpy(w->session, sess ? sess : "", sizeof(w->session))) {
        o->status = rt_error_set(&o->err, RT_ECREDENTIALS,
                                 "web identity: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN or "
                                 "AWS_ROLE_SESSION_NAME is too long");
    } else if (rt__sts_endpoint(wp->sts_endpoint, wp->region, NULL, w->endpoint,
                                sizeof(w->endpoint), &o->err) != 0) {
        /* Configured (token file and role set) but unusable: an error, not a fall-through. */
        o->status = o->err.code;
    } else {
        o->after_fn = wi_after;
    }
    return rt__creds_op_start(o, err);
}

static void wi_teardown(struct rt__creds_base *b)
{
    struct wi_provider *wp = (struct wi_provider *)b;
    rt_free(wp->sts_endpoint);
    rt_free(wp->region);
    rt__creds_base_free(b);
}

static const struct rt_credentials_provider_vtable wi_vt = {
    .get = wi_get,
    .close = rt__creds_base_close,
};

int rt_credentials_provider_new_web_identity(const struct rt_credentials_opts *o,
                                             struct rt_credentials_provider **out,
                                             struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct wi_provider *wp = rt_calloc(1, sizeof(*wp));
    if (!wp)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    wp->sts_endpoint = o->sts_endpoint ? rt_strdup(o->sts_endpoint) : NULL;
    wp->region = o->region ? rt_strdup(o->region) : NULL;
    wp->sts_timeout_ms = o->sts_timeout_ms;
    if ((o->sts_endpoint && !wp->sts_endpoint) || (o->region && !wp->region)) {
        rt_free(wp->sts_endpoint);
        rt_free(wp->region);
        rt_free(wp);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    int rc = rt__creds_base_init(&wp->base, o, &wi_vt, "web-identity", wi_teardown, err);
    if (rc) {
        rt_free(wp->sts_endpoint);
        rt_free(wp->region);
        rt_free(wp);
        return rc;
    }
    *out = &wp->base.pub;
    return 0;
}
