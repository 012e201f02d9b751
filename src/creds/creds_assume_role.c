/*
 * creds_assume_role.c - STS AssumeRole: the temporary credentials of a role, obtained with the
 * credentials of a source (a profile's static keys, another role, the environment, IMDS, the
 * container endpoint). Used by profiles with role_arn + source_profile / credential_source.
 *
 * Design: unlike AssumeRoleWithWebIdentity this call is signed with the source credentials, so it
 * signs itself with the sigv4 module in httpc's prepare hook (every attempt signs with the
 * current time), query protocol: a form POST to the STS endpoint answered in XML. The creds
 * module never reaches the aws client (aws uses creds, not the other way round), so the few lines
 * of request signing live here. The source credentials are copied into the job and wiped with it.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/endpoint.h"
#include "retraind/form.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "retraind/sigv4.h"

#define DEFAULT_STS_TIMEOUT_MS 10000
#define MAX_SIGNED_HEADERS 16

struct ar_job {
    struct rt__creds_op *op;
    char *role_arn, *profile, *region;
    char *ak, *sk, *token; /* the source credentials; sk and token wiped */
    char path[300];        /* the signed path: the endpoint's base path + "/" */
    char payload_hash[RT_SIGV4_HEX_LEN + 1];
};

static void job_free(struct ar_job *j)
{
    rt_free(j->role_arn);
    rt_free(j->profile);
    rt_free(j->region);
    rt_free_secret_str(j->ak);
    rt_free_secret_str(j->sk);
    rt_free_secret_str(j->token);
    rt_free(j);
}

static void job_fail(struct ar_job *j, int code, const struct rt_error *err)
{
    struct rt__creds_op *op = j->op;
    if (op->err.code == 0 && err && err->code)
        op->err = *err;
    job_free(j);
    rt__creds_op_fail(op, code, "assume role: %s", rt_strerror(code));
}

/* rt_sigv4_each_header's callback: one signature header onto the request. */
static int set_header(const char *name, const char *value, void *ud)
{
    return rt_httpc_req_set_header(ud, name, value);
}

static int prepare(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err)
{
    struct ar_job *j = ud;
    (void)attempt;
    static const char *const old[] = {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
        rt_httpc_req_set_header(req, old[i], NULL);
    struct rt_sigv4_header hs[MAX_SIGNED_HEADERS];
    int n = rt_httpc_req_header_count(req);
    if (n > MAX_SIGNED_HEADERS)
        return rt_error_set(err, RT_EINVAL, "assume role: too many headers");
    for (int i = 0; i < n; i++) {
        const char *name, *value;
        rt_httpc_req_header_at(req, i, &name, &value);
        hs[i].name = rt_str_c(name);
        hs[i].value = rt_str_c(value);
    }
    struct rt_sigv4_request sr = {
        .method = rt_str_c("POST"),
        .path = rt_str_c(j->path),
        .query = rt_str_c(""),
        .headers = hs,
        .n_headers = (size_t)n,
        .payload_hash = rt_str_c(j->payload_hash),
    };
    struct rt_sigv4_config cfg = {
        .access_key = rt_str_c(j->ak),
        .secret_key = rt_str_c(j->sk),
        .session_token = rt_str_c(j->token ? j->token : ""),
        .region = rt_str_c(j->region),
        .service = rt_str_c("sts"),
        .time_s = rt_now_ms() / 1000,
    };
    struct rt_sigv4_result res;
    int rc = rt_sigv4_sign(&sr, &cfg, &res, err);
    if (rc)
        return rc;
    rc = rt_sigv4_each_header(&res, set_header, req);
    OPENSSL_cleanse(&res, sizeof(res));
    if (rc)
        return rt_error_set(err, rc, "assume role: cannot set the signature headers");
    return 0;
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
    if (coded &&
        (strcmp(e.aws_code, "Throttling") == 0 || strcmp(e.aws_code, "ThrottlingException") == 0))
        v = RT_HTTPC_THROTTLE;
    if (coded) {
        rt_error_clear(err);
        rt_error_set(err, RT_EAWS, "STS AssumeRole failed: %s: %s", e.aws_code,
                     e.msg[0] ? e.msg : "(no message)");
        rt_strlcpy(err->aws_code, e.aws_code, sizeof(err->aws_code));
        rt_strlcpy(err->request_id, e.request_id, sizeof(err->request_id));
    }
    return v;
}

static void on_sts(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct ar_job *j = ud;
    struct rt__creds_op *op = j->op;
    if (status != 0) {
        RT_LOG(RT_LOG_WARNING, "creds",
               "event=credentials_failed source=assume-role profile=%s role=%s error=%s",
               rt_q(j->profile), rt_q(j->role_arn), rt_q(err ? err->msg : ""));
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, err && err->aws_code[0] ? RT_EAWS : status, "profile %s: role %s: %s",
                     rt_q(j->profile), rt_q(j->role_arn), err ? err->msg : rt_strerror(status));
        if (err) {
            rt_strlcpy(e.aws_code, err->aws_code, sizeof(e.aws_code));
            rt_strlcpy(e.request_id, err->request_id, sizeof(e.request_id));
        }
        return job_fail(j, e.code, &e);
    }
    size_t blen = resp->body.len;
    char *b = rt_buf_detach(&resp->body);
    struct rt_error e;
    rt_error_clear(&e);
    int rc = b ? rt__creds_parse_sts_reply(b, blen, "AssumeRole", "assume-role", &op->creds, &e)
               : rt_error_set(&e, RT_ENOMEM, "out of memory");
    rt_free_secret(b, b ? blen + 1 : 0);
    if (rc)
        return job_fail(j, e.code, &e);
    char when[40];
    RT_LOG(RT_LOG_INFO, "creds",
           "event=credentials_found source=assume-role profile=%s role=%s expires=%s",
           rt_q(j->profile), rt_q(j->role_arn),
           rt_time_rfc3339(op->creds->expiration_ms, when, sizeof(when)));
    job_free(j);
    rt__creds_op_finish(op);
}

void rt__assume_role_run(struct rt__creds_op *op, const struct rt__assume_role_call *c)
{
    struct rt_error e;
    rt_error_clear(&e);
    if (!op->base->httpc) {
        rt_error_set(&e, RT_EINVAL, "assume role: no HTTP client given to the provider");
        op->err = e;
        return rt__creds_op_fail(op, RT_EINVAL, "%s", e.msg);
    }
    struct ar_job *j = rt_calloc(1, sizeof(*j));
    if (!j)
        return rt__creds_op_fail(op, RT_ENOMEM, "out of memory");
    j->op = op;
    j->role_arn = rt_strdup(c->role_arn);
    j->profile = rt_strdup(c->profile ? c->profile : "");
    j->region = rt_strdup(c->region && *c->region ? c->region : "us-east-1");
    j->ak = rt_strdup(c->source->access_key);
    j->sk = rt_strdup(c->source->secret_key);
    j->token = c->source->session_token ? rt_strdup(c->source->session_token) : NULL;
    if (!j->role_arn || !j->profile || !j->region || !j->ak || !j->sk ||
        (c->source->session_token && !j->token)) {
        job_free(j);
        return rt__creds_op_fail(op, RT_ENOMEM, "out of memory");
    }
    struct rt_url u;
    if (rt_url_split(c->endpoint, &u) != 0) {
        rt_error_set(&e, RT_ECONFIG, "profile %s: the STS endpoint %s is not a URL",
                     rt_q(j->profile), rt_q(c->endpoint));
        return job_fail(j, RT_ECONFIG, &e);
    }
    rt_snprintf(j->path, sizeof(j->path), "%s/", u.base_path);
    char session[96];
    if (c->session_name && *c->session_name)
        rt_strlcpy(session, c->session_name, sizeof(session));
    else
        rt_snprintf(session, sizeof(session), "retraind-session-%lld",
                    (long long)(rt_now_ms() / 1000));
    char dur[24];
    rt_snprintf(dur, sizeof(dur), "%d", c->duration_s);
    struct rt_buf body;
    rt_buf_init(&body, 16384);
    int rc = rt_form_add(&body, "Action", "AssumeRole");
    if (!rc)
        rc = rt_form_add(&body, "Version", "2011-06-15");
    if (!rc)
        rc = rt_form_add(&body, "RoleArn", c->role_arn);
    if (!rc)
        rc = rt_form_add(&body, "RoleSessionName", session);
    if (!rc && c->external_id && *c->external_id)
        rc = rt_form_add(&body, "ExternalId", c->external_id);
    if (!rc && c->duration_s > 0)
        rc = rt_form_add(&body, "DurationSeconds", dur);
    char url[1100];
    rt_snprintf(url, sizeof(url), "%s%s", c->endpoint,
                c->endpoint[0] && c->endpoint[strlen(c->endpoint) - 1] == '/' ? "" : "/");
    /* curl leaves a default port out of Host; so do we, and sign exactly what is sent. */
    char host[300];
    rt_strlcpy(host, u.hostport, sizeof(host));
    size_t hl = strlen(host);
    const char *dflt = u.https ? ":443" : ":80";
    if (hl > strlen(dflt) && strcmp(host + hl - strlen(dflt), dflt) == 0)
        host[hl - strlen(dflt)] = '\0';
    struct rt_httpc_req *req = NULL;
    if (!rc)
        rc = rt_httpc_req_new("POST", url, &req);
    if (!rc)
        rc = rt_httpc_req_set_header(req, "Host", host);
    if (!rc)
        rc = rt_httpc_req_set_header(req, "Content-Type",
                                     "application/x-www-form-urlencoded; charset=utf-8");
    if (!rc)
        rc = rt_httpc_req_set_body(req, body.data, body.len, true);
    if (!rc)
        rt_sigv4_sha256_hex(body.data, body.len, j->payload_hash);
    rt_buf_cleanup(&body);
    if (rc) {
        rt_httpc_req_free(req);
        rt_error_set(&e, rc, "assume role: cannot build the STS request: %s", rt_strerror(rc));
        return job_fail(j, rc, &e);
    }
    int64_t t = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_STS_TIMEOUT_MS;
    rt_httpc_req_set_timeouts(req, t < 5000 ? t : 5000, t);
    rt_httpc_req_set_max_body(req, 256u << 10);
    rt_httpc_req_set_hooks(req, prepare, classify, j);
    RT_LOG(RT_LOG_DEBUG, "creds",
           "event=credentials_fetch source=assume-role profile=%s role=%s source_key=%s url=%s",
           rt_q(j->profile), rt_q(j->role_arn), c->source->source, rt_q(url));
    rc = rt_httpc_send(op->base->httpc, req, on_sts, j);
    if (rc) {
        rt_error_set(&e, rc, "assume role: cannot send the STS request: %s", rt_strerror(rc));
        return job_fail(j, rc, &e);
    }
}
