/*
 * creds_ecs.c - container credentials (ECS task roles, EKS Pod Identity): a GET to the endpoint
 * named by AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended to http://169.254.170.2) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, answered with the credentials JSON (aws-wire.md 10.1).
 *
 * Design: a FULL_URI over plain http may only name loopback, 169.254.170.2, 169.254.170.23 or
 * fd00:ec2::23 (botocore's rule: anything else would send the authorization token in clear to an
 * arbitrary host); https may name any host. The Authorization header comes from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, re-read at each fetch on the thread pool (EKS rotates
 * it), else AWS_CONTAINER_AUTHORIZATION_TOKEN; a token with CR or LF is refused. Requests use a
 * 2 s timeout and 3 attempts, as botocore does. A configured endpoint that fails is an error,
 * not a reason to try IMDS.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/httpc.h"
#include "retraind/log.h"

#define DEFAULT_ECS_BASE "http://169.254.170.2"
#define DEFAULT_ECS_TIMEOUT_MS 2000
#define MAX_TOKEN_FILE (16u << 10)

struct ecs_provider {
    struct rt__creds_base base;
    char *relative_base; /* owned, may be NULL */
    int64_t timeout_ms;
};

struct ecs_op {
    struct rt__creds_op op;
    char url[2048];
    char token_file[1024]; /* "" when the token comes from the environment */
    char *token;           /* owned secret, may be NULL */
};

/* Is url's host one plain http may reach (botocore's allow list)? */
static bool http_host_allowed(const char *url)
{
    if (rt_httpc_url_is_loopback(url))
        return true;
    const char *h = strstr(url, "://");
    if (!h)
        return false;
    h += 3;
    const char *at = strpbrk(h, "@/");
    if (at && *at == '@')
        h = at + 1;
    size_t n;
    if (*h == '[') {
        h++;
        const char *e = strchr(h, ']');
        if (!e)
            return false;
        n = (size_t)(e - h);
    } else {
        n = strcspn(h, ":/?#");
    }
    static const char *const allowed[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strlen(allowed[i]) == n && strncasecmp(h, allowed[i], n) == 0)
            return true;
    return false;
}

static void ecs_op_free(struct rt__creds_op *o)
{
    struct ecs_op *e = (struct ecs_op *)o;
    rt_free_secret_str(e->token);
    e->token = NULL;
}

static void ecs_work(struct rt__creds_op *o)
{
    struct ecs_op *e = (struct ecs_op *)o;
    char *t = NULL;
    int rc = rt__creds_read_file(e->token_file, MAX_TOKEN_FILE, &t, &o->err);
    if (rc == RT_ENOTFOUND)
        rc = rt_error_set(&o->err, RT_ECREDENTIALS,
                          "container: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s does not exist",
                          rt_q(e->token_file));
    if (rc) {
        o->status = rc;
        return;
    }
    /* A trailing newline of the file is not part of the token. */
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
        t[--n] = '\0';
    e->token = t;
}

static void on_reply(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct rt__creds_op *o = ud;
    if (status != 0) {
        RT_LOG(RT_LOG_WARNING, "creds",
               "event=credentials_failed source=container http=%d error=%s", resp->status,
               rt_q(err ? err->msg : ""));
        return rt__creds_op_fail(o, status == RT_EIO ? RT_ECREDENTIALS : status,
                                 "container: the credentials endpoint failed: %s%s",
                                 err ? err->msg : rt_strerror(status),
                                 resp->status ? "" : " (no reply)");
    }
    struct rt_error e;
    rt_error_clear(&e);
    size_t len = resp->body.len;
    char *body = rt_buf_detach(&resp->body);
    int prc = rt__creds_parse_json(body, len, "container", &o->creds, &e);
    rt_free_secret(body, body ? len + 1 : 0);
    if (prc != 0) {
        o->err = e;
        return rt__creds_op_fail(o, e.code, "%s", e.msg);
    }
    char when[40];
    RT_LOG(RT_LOG_INFO, "creds", "event=credentials_found source=container expires=%s",
           o->creds->expiration_ms ? rt_time_rfc3339(o->creds->expiration_ms, when, sizeof(when))
                                   : "never");
    rt__creds_op_finish(o);
}

static void ecs_after(struct rt__creds_op *o)
{
    struct ecs_op *e = (struct ecs_op *)o;
    struct ecs_provider *ep = (struct ecs_provider *)o->base;
    if (!o->base->httpc)
        return rt__creds_op_fail(o, RT_EINVAL, "container: no HTTP client given to the provider");
    if (e->token && strpbrk(e->token, "\r\n"))
        return rt__creds_op_fail(o, RT_ECREDENTIALS,
                                 "container: the authorization token contains CR or LF");
    struct rt_httpc_req *req = NULL;
    int rc = rt_httpc_req_new("GET", e->url, &req);
    if (!rc && e->token && *e->token)
        rc = rt_httpc_req_set_header(req, "Authorization", e->token);
    if (!rc)
        rc = rt_httpc_req_set_header(req, "Accept", "application/json");
    if (rc) {
        rt_httpc_req_free(req);
        return rt__creds_op_fail(o, rc, "container: cannot build the request: %s", rt_strerror(rc));
    }
    rt_free_secret_str(e->token);
    e->token = NULL;
    int64_t t = ep->timeout_ms > 0 ? ep->timeout_ms : DEFAULT_ECS_TIMEOUT_MS;
    rt_httpc_req_set_timeouts(req, t, t);
    rt_httpc_req_set_max_attempts(req, 3);
    rt_httpc_req_set_max_body(req, 64u << 10);
    RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_fetch source=container url=%s", rt_q(e->url));
    rc = rt_httpc_send(o->base->httpc, req, on_reply, o);
    if (rc)
        rt__creds_op_fail(o, rc, "container: cannot send the request: %s", rt_strerror(rc));
}

static int ecs_get(struct rt_credentials_provider *p,
                   rt_credentials_get_fn *cb,
                   void *ud,
                   struct rt_error *err)
{
    struct ecs_provider *ep = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&ep->base, sizeof(struct ecs_op), cb, ud, &o, err);
    if (rc)
        return rc;
    struct ecs_op *e = (struct ecs_op *)o;
    o->free_fn = ecs_op_free;
    const char *rel = rt__creds_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = rt__creds_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tfile = rt__creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = rt__creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (rel) {
        const char *base = ep->relative_base ? ep->relative_base : DEFAULT_ECS_BASE;
        if (rt_snprintf(e->url, sizeof(e->url), "%s%s%s", base, rel[0] == '/' ? "" : "/", rel))
            o->status =
                rt_error_set(&o->err, RT_ECREDENTIALS,
                             "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is too long");
    } else if (full) {
        bool https = strncasecmp(full, "https://", 8) == 0;
        bool http = strncasecmp(full, "http://", 7) == 0;
        if (rt_strlcpy(e->url, full, sizeof(e->url)))
            o->status = rt_error_set(&o->err, RT_ECREDENTIALS,
                                     "container: AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
        else if (!https && !(http && http_host_allowed(full)))
            o->status =
                rt_error_set(&o->err, RT_ECREDENTIALS,
                             "container: AWS_CONTAINER_CREDENTIALS_FULL_URI %s must be https, "
                             "or http to loopback, 169.254.170.2, 169.254.170.23 or "
                             "fd00:ec2::23",
                             rt_q(full));
    } else {
        o->status = rt_error_set(&o->err, RT_ENOTFOUND,
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set");
    }
    if (o->status == 0) {
        if (tfile) {
            if (rt_strlcpy(e->token_file, tfile, sizeof(e->token_file)))
                o->status = rt_error_set(&o->err, RT_ECREDENTIALS,
                                         "container: "
                                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is too long");
        } else if (tok) {
            e->token = rt_strdup(tok);
            if (!e->token)
                o->status = rt_error_set(&o->err, RT_ENOMEM, "out of memory");
        }
        /* Only a token file is read on the thread pool; otherwise the request starts on the
         * next loop turn. */
        if (e->token_file[0])
            o->work_fn = ecs_work;
        o->after_fn = ecs_after;
    }
    return rt__creds_op_start(o, err);
}

static void ecs_teardown(struct rt__creds_base *b)
{
    struct ecs_provider *ep = (struct ecs_provider *)b;
    rt_free(ep->relative_base);
    rt__creds_base_free(b);
}

static const struct rt_credentials_provider_vtable ecs_vt = {
    .get = ecs_get,
    .close = rt__creds_base_close,
};

int rt_credentials_provider_new_container(const struct rt_credentials_opts *o,
                                          struct rt_credentials_provider **out,
                                          struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct ecs_provider *ep = rt_calloc(1, sizeof(*ep));
    if (!ep)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    if (o->ecs_relative_base && !(ep->relative_base = rt_strdup(o->ecs_relative_base))) {
        rt_free(ep);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    ep->timeout_ms = o->ecs_timeout_ms;
    int rc = rt__creds_base_init(&ep->base, o, &ecs_vt, "container", ecs_teardown, err);
    if (rc) {
        rt_free(ep->relative_base);
        rt_free(ep);
        return rc;
    }
    *out = &ep->base.pub;
    return 0;
}
