/*
 * client.c - the generic AWS call: request building per protocol, SigV4 re-signing in httpc's
 * prepare hook, error classification in its classify hook, and the clock-skew offset.
 *
 * Design: a call is one heap object that lives from rt_aws_call() until its completion. It owns
 * the wire path, query and Host it signs, the payload hash (computed once; the body does not
 * change between attempts), and its own copy of the credential triple, so every attempt signs
 * with one consistent (key, secret, token). Each attempt signs with now + the client's skew
 * offset; a clock-skew error measured against the reply's Date header updates that offset (kept
 * for every later call) and asks httpc for one immediate retry. The client holds no libuv
 * handle: completions come from httpc or the credentials provider, both already asynchronous.
 */
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "aws_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/endpoint.h"
#include "retraind/form.h"

#define SKEW_THRESHOLD_MS (4 * 60 * 1000) /* a signature error is skew only past this (1.4) */
#define MAX_SIGNED_HEADERS 64
#define MAX_LIMITERS 16

struct rt_aws_client {
    uv_loop_t *loop;        /* borrowed */
    struct rt_httpc *httpc; /* borrowed */
    char *region;           /* owned */
    char *endpoints[8];     /* owned config URLs, indexed like struct rt_aws_endpoints */
    bool s3_path_style;
    int max_attempts;
    struct rt_credentials_provider *creds; /* borrowed, may be NULL (static keys) */
    char *ak, *sk, *token;        /* owned static credentials; sk and token wiped on free */
    struct rt_sigv4_cache *cache; /* owned */
    int64_t skew_ms;
    char *expired_ak; /* owned, wiped: the access key last refused as expired (one invalidation
                       * per key, however many calls in flight meet the refusal) */
    int inflight;
    bool destroyed;
    /* The adaptive retry mode: one rate limiter per service, as each botocore client has one. */
    bool adaptive;
    struct {
        const struct rt_aws_service *svc;
        struct rt_aws_rate_limiter lim;
    } limiters[MAX_LIMITERS];
    size_t n_limiters;
};

struct call {
    struct rt_aws_client *c;
    const struct rt_aws_op *op;
    struct rt_httpc_req *req; /* owned until sent */
    char *path;               /* owned wire path signed */
    char *query;              /* owned raw query signed ("" for none) */
    char payload_hash[RT_SIGV4_HEX_LEN + 1];
    char *ak, *sk, *token; /* owned credential copy, wiped */
    int64_t sent_ms;       /* when the current attempt was signed */
    int64_t signed_skew;   /* offset that attempt was signed with */
    bool skew_retried;
    bool streamed;               /* stream below is set */
    struct rt_aws_stream stream; /* params->stream, copied */
    struct rt_httpc_req *sent;   /* borrowed from httpc while in flight (rt_aws_call_cancel) */
    bool cancelled;              /* cancelled before it was sent */
    /* An expired-credentials refusal: the call is built again from saved and sent once more
     * with credentials fetched anew (only with a provider; aws-wire.md 10.3). */
    bool expired;               /* the last reply refused the credentials as expired */
    bool refreshed;             /* the one fresh-credentials retry was made */
    struct rt_aws_params saved; /* owned deep copy of the call's params (strings, body, headers) */
    struct rt_aws_header *saved_hdrs;
    rt_aws_done_fn *cb;
    void *ud;
};

static const char *const endpoint_ids[8] = {"s3",  "rekognition", "sagemaker", "a2i",
                                            "ssm", "sns",         "sts",       "sqs"};

static void client_free(struct rt_aws_client *c)
{
    rt_free(c->region);
    for (size_t i = 0; i < 8; i++)
        rt_free(c->endpoints[i]);
    rt_free(c->ak);
    rt_free_secret_str(c->expired_ak);
    rt_free_secret_str(c->sk);
    rt_free_secret_str(c->token);
    rt_sigv4_cache_destroy(c->cache);
    rt_free(c);
}

int rt_aws_client_new(struct uv_loop_s *loop,
                      struct rt_httpc *httpc,
                      const struct rt_aws_client_opts *opts,
                      struct rt_aws_client **out,
                      struct rt_error *err)
{
    *out = NULL;
    if (!loop || !httpc || !opts)
        return rt_error_set(err, RT_EINVAL, "aws: client needs a loop, httpc and options");
    if (!opts->credentials &&
        !(opts->access_key && opts->access_key[0] && opts->secret_key && opts->secret_key[0]))
        return rt_error_set(err, RT_EINVAL, "aws: no credentials provider and no static keys");
    const char *from = NULL;
    const char *region = rt_region_resolve(opts->region, opts->profile_region, &from);
    if (!region)
        return rt_error_set(err, RT_ECONFIG,
                            "aws: no region (set aws.region, AWS_REGION or a profile region)");
    /* The region goes into every default host and every credential scope: check it once here,
     * naming where it came from. */
    char what[64];
    rt_snprintf(what, sizeof(what), "aws (region from %s)", from);
    int rrc = rt_region_check(region, what, err);
    if (rrc)
        return rrc;
    struct rt_aws_client *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return rt_error_set(err, RT_ENOMEM, "aws: out of memory");
    c->loop = loop;
    c->httpc = httpc;
    c->s3_path_style = opts->s3_path_style;
    c->max_attempts = opts->max_attempts;
    c->adaptive = opts->retry_mode == RT_AWS_RETRY_ADAPTIVE;
    c->creds = opts->credentials;
    const char *eps[8] = {opts->endpoints.s3,        opts->endpoints.rekognition,
                          opts->endpoints.sagemaker, opts->endpoints.a2i,
                          opts->endpoints.ssm,       opts->endpoints.sns,
                          opts->endpoints.sts,       opts->endpoints.sqs};
    bool oom = !(c->region = rt_strdup(region));
    for (size_t i = 0; i < 8; i++)
        if (eps[i] && eps[i][0] && !(c->endpoints[i] = rt_strdup(eps[i])))
            oom = true;
    if (!opts->credentials) {
        oom =
            oom || !(c->ak = rt_strdup(opts->access_key)) || !(c->sk = rt_strdup(opts->secret_key));
        if (opts->session_token && opts->session_token[0] &&
            !(c->token = rt_strdup(opts->session_token)))
            oom = true;
    }
    if (oom || rt_sigv4_cache_new(&c->cache)) {
        client_free(c);
        return rt_error_set(err, RT_ENOMEM, "aws: out of memory");
    }
    *out = c;
    return 0;
}

void rt_aws_client_opts_from_config(struct rt_aws_client_opts *o, const struct rt_config *cfg)
{
    o->region = cfg->aws.region;
    o->endpoints.s3 = cfg->aws.endpoints.s3;
    o->endpoints.rekognition = cfg->aws.endpoints.rekognition;
    o->endpoints.sagemaker = cfg->aws.endpoints.sagemaker;
    o->endpoints.a2i = cfg->aws.endpoints.a2i;
    o->endpoints.ssm = cfg->aws.endpoints.ssm;
    o->endpoints.sns = cfg->aws.endpoints.sns;
    o->endpoints.sts = cfg->aws.endpoints.sts;
    o->endpoints.sqs = cfg->aws.endpoints.sqs;
    o->max_attempts = cfg->aws.max_attempts;
    o->retry_mode = cfg->aws.retry_mode_adaptive ? RT_AWS_RETRY_ADAPTIVE : RT_AWS_RETRY_STANDARD;
    o->s3_path_style = cfg->store.path_style;
}

void rt_aws_client_destroy(struct rt_aws_client *c)
{
    if (!c)
        return;
    c->destroyed = true;
    if (c->inflight == 0)
        client_free(c);
}

const char *rt_aws_client_region(const struct rt_aws_client *c)
{
    return c->region;
}

int64_t rt_aws_client_skew_ms(const struct rt_aws_client *c)
{
    return c->skew_ms;
}

void rt_aws_client_set_skew_ms(struct rt_aws_client *c, int64_t ms)
{
    c->skew_ms = ms;
}

static const char *config_endpoint(const struct rt_aws_client *c, const char *id)
{
    for (size_t i = 0; i < 8; i++)
        if (strcmp(endpoint_ids[i], id) == 0)
            return c->endpoints[i];
    return NULL;
}

static void saved_free(struct call *k)
{
    struct rt_aws_params *p = &k->saved;
    rt_free((char *)p->bucket);
    rt_free((char *)p->key);
    rt_free((char *)p->path);
    rt_free((char *)p->query);
    rt_free((char *)p->content_type);
    rt_free((void *)p->body);
    for (size_t i = 0; i < p->n_headers; i++) {
        rt_free((char *)k->saved_hdrs[i].name);
        rt_free((char *)k->saved_hdrs[i].value);
    }
    rt_free(k->saved_hdrs);
    memset(p, 0, sizeof(*p));
    k->saved_hdrs = NULL;
}

static bool dup_opt(const char **dst, const char *src)
{
    *dst = src ? rt_strdup(src) : NULL;
    return !src || *dst;
}

/* Copies p into k->saved, so the request can be built again. Returns: 0 or RT_ENOMEM. */
static int saved_take(struct call *k, const struct rt_aws_params *p)
{
    struct rt_aws_params *s = &k->saved;
    *s = *p;
    /* The stream is copied into the call (the caller's struct may be gone when the request is
     * built again after expired credentials); the handle is only used by rt_aws_call. */
    if (p->stream) {
        k->streamed = true;
        k->stream = *p->stream;
    }
    s->stream = NULL;
    s->handle = NULL;
    s->bucket = s->key = s->path = s->query = s->content_type = NULL;
    s->body = NULL;
    s->headers = NULL;
    s->n_headers = 0;
    bool ok = dup_opt(&s->bucket, p->bucket) && dup_opt(&s->key, p->key) &&
              dup_opt(&s->path, p->path) && dup_opt(&s->query, p->query) &&
              dup_opt(&s->content_type, p->content_type);
    if (ok && p->body) {
        void *b = rt_malloc(p->body_len ? p->body_len : 1);
        ok = b != NULL;
        if (b && p->body_len)
            memcpy(b, p->body, p->body_len);
        s->body = b;
    }
    if (ok && p->n_headers) {
        k->saved_hdrs = rt_calloc(p->n_headers, sizeof(*k->saved_hdrs));
        ok = k->saved_hdrs != NULL;
        for (size_t i = 0; ok && i < p->n_headers; i++) {
            s->n_headers = i + 1;
            ok = dup_opt(&k->saved_hdrs[i].name, p->headers[i].name) &&
                 dup_opt(&k->saved_hdrs[i].value, p->headers[i].value);
        }
        s->headers = k->saved_hdrs;
    }
    return ok ? 0 : RT_ENOMEM;
}

static void call_free(struct call *k)
{
    saved_free(k);
    rt_httpc_req_free(k->req);
    rt_free(k->path);
    rt_free(k->query);
    rt_free(k->ak);
    rt_free_secret_str(k->sk);
    rt_free_secret_str(k->token);
    struct rt_aws_client *c = k->c;
    rt_free(k);
    if (--c->inflight == 0 && c->destroyed)
        client_free(c);
}

/* ---- the adaptive mode ---- */

/* Returns: the rate limiter of svc (made on first use), or NULL in standard mode. */
static struct rt_aws_rate_limiter *limiter(struct rt_aws_client *c,
                                           const struct rt_aws_service *svc)
{
    if (!c->adaptive)
        return NULL;
    for (size_t i = 0; i < c->n_limiters; i++)
        if (c->limiters[i].svc == svc)
            return &c->limiters[i].lim;
    size_t i = c->n_limiters < MAX_LIMITERS ? c->n_limiters++ : MAX_LIMITERS - 1;
    c->limiters[i].svc = svc;
    rt_aws_rate_limiter_init(&c->limiters[i].lim, (double)rt_mono_ms() / 1000.0);
    return &c->limiters[i].lim;
}

/* httpc's gate: every attempt of an adaptive client takes a token of its service's limiter. */
static int64_t gate(void *ud, int attempt)
{
    struct call *k = ud;
    struct rt_aws_rate_limiter *l = limiter(k->c, k->op->service);
    if (!l)
        return 0;
    double wait = rt_aws_rate_limiter_acquire(l, (double)rt_mono_ms() / 1000.0);
    int64_t ms = wait > 0 ? (int64_t)(wait * 1000.0) + 1 : 0;
    if (ms > 0)
        RT_LOG(RT_LOG_DEBUG, "aws",
               "event=rate_limited service=%s op=%s attempt=%d wait_ms=%lld rate=%.2f",
               k->op->service->id, k->op->name, attempt, (long long)ms, l->fill_rate);
    return ms;
}

/* Feeds a reply to the service's limiter (adaptive mode only). */
static void adapt(struct call *k, bool throttled)
{
    struct rt_aws_rate_limiter *l = limiter(k->c, k->op->service);
    if (!l)
        return;
    bool was = l->enabled;
    rt_aws_rate_limiter_update(l, throttled, (double)rt_mono_ms() / 1000.0);
    if (throttled)
        RT_LOG(was ? RT_LOG_DEBUG : RT_LOG_NOTICE, "aws",
               "event=rate_limit_throttled service=%s op=%s rate=%.2f measured=%.2f",
               k->op->service->id, k->op->name, l->fill_rate, l->measured_rate);
}

/* ---- hooks ---- */

/* rt_sigv4_each_header's callback: one signature header onto the request. */
static int set_header(const char *name, const char *value, void *ud)
{
    return rt_httpc_req_set_header(ud, name, value);
}

static int prepare(struct rt_httpc_req *req, int attempt, void *ud, struct rt_error *err)
{
    struct call *k = ud;
    struct rt_aws_client *c = k->c;
    if (k->streamed && k->stream.begin)
        k->stream.begin(k->stream.ud, attempt);
    static const char *const old[] = {"Authorization", "X-Amz-Date", "X-Amz-Security-Token",
                                      "x-amz-content-sha256"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
        rt_httpc_req_set_header(req, old[i], NULL);

    struct rt_sigv4_header hs[MAX_SIGNED_HEADERS];
    int n = rt_httpc_req_header_count(req);
    if (n > MAX_SIGNED_HEADERS)
        return rt_error_set(err, RT_EINVAL, "%s %s: more than %d headers", k->op->service->id,
                            k->op->name, MAX_SIGNED_HEADERS);
    for (int i = 0; i < n; i++) {
        const char *name, *value;
        rt_httpc_req_header_at(req, i, &name, &value);
        hs[i].name = rt_str_c(name);
        hs[i].value = rt_str_c(value);
    }
    const char *method = rt_httpc_req_method(req);
    struct rt_sigv4_request sr = {
        .method = rt_str_c(method),
        .path = rt_str_c(k->path),
        .query = rt_str_c(k->query),
        .headers = hs,
        .n_headers = (size_t)n,
        .payload_hash = rt_str_c(k->payload_hash),
    };
    k->sent_ms = rt_now_ms();
    k->signed_skew = c->skew_ms;
    struct rt_sigv4_config cfg = {
        .access_key = rt_str_c(k->ak),
        .secret_key = rt_str_c(k->sk),
        .session_token = rt_str_c(k->token),
        .region = rt_str_c(c->region),
        .service = rt_str_c(k->op->service->signing_name),
        .time_s = (k->sent_ms + k->signed_skew) / 1000,
        .cache = c->cache,
    };
    struct rt_sigv4_result res;
    int rc = rt_sigv4_sign(&sr, &cfg, &res, err);
    if (rc)
        return rc;
    rc = rt_sigv4_each_header(&res, set_header, req);
    OPENSSL_cleanse(&res, sizeof(res)); /* holds the session token */
    if (rc)
        return rt_error_set(err, rc, "%s %s: cannot set the signature headers", k->op->service->id,
                            k->op->name);
    return 0;
}

static const char *resp_hdr(void *ud, const char *name)
{
    return rt_httpc_resp_header(ud, name);
}

/* Sets err->code and prefixes the AWS message with the service and operation. */
static void set_failure(struct call *k, struct rt_error *err, int code)
{
    char msg[sizeof(err->msg)];
    rt_strlcpy(msg, err->msg[0] ? err->msg : "no message", sizeof(msg));
    err->code = 0;
    rt_error_set(err, code, "%s %s: %s", k->op->service->id, k->op->name, msg);
}

/* True when a 2xx body of an ERROR_IN_200 op is an error (root <Error>, or not XML). */
static bool error_in_200(const struct rt_httpc_resp *resp)
{
    struct rt_str doc = {resp->body.data, resp->body.len}, name, inner;
    int rc = rt_xml_root(doc, &name, &inner);
    return rc != 1 || rt_str_eq_c(name, "Error");
}

/* An expired-credentials refusal ends this request; on_done builds it again and sends it once
 * with fresh credentials when a provider can give them. */
static enum rt_httpc_verdict expired_verdict(struct call *k, struct rt_error *err)
{
    if (k->c->creds && !k->refreshed) {
        k->expired = true;
        set_failure(k, err, RT_EAWS);
        return RT_HTTPC_FAIL;
    }
    char msg[sizeof(err->msg)];
    rt_snprintf(msg, sizeof(msg), "%s: %s (%s)", err->aws_code,
                err->msg[0] ? err->msg : "no message",
                k->c->creds ? "refused again with credentials fetched anew"
                            : "static keys cannot be refreshed");
    rt_strlcpy(err->msg, msg, sizeof(err->msg));
    set_failure(k, err, RT_EAWS);
    return RT_HTTPC_FAIL;
}

static enum rt_httpc_verdict
classify(const struct rt_httpc_resp *resp, void *ud, struct rt_error *err)
{
    struct call *k = ud;
    struct rt_aws_client *c = k->c;
    const struct rt_aws_op *op = k->op;
    int st = resp->status;
    struct rt_str body = {resp->body.data, resp->body.len};
    if (st >= 200 && st < 300 && !((op->flags & RT_AWS_OP_ERROR_IN_200) && error_in_200(resp)))
        adapt(k, false);
    if (st >= 200 && st < 300) {
        if (k->streamed) {
            /* The consumer parsed the body as it came: it says whether it was an error document
             * or malformed, both retried like a 500 (aws-wire.md 2.2, 2.4). */
            int rc = k->stream.end ? k->stream.end(k->stream.ud, err) : 0;
            if (!rc)
                return RT_HTTPC_OK;
            if (rc == RT_EAWS && !err->aws_code[0])
                rt_strlcpy(err->aws_code, "InternalError", sizeof(err->aws_code));
            err->code = 0;
            set_failure(k, err, rc);
            return RT_HTTPC_RETRY;
        }
        if ((op->flags & RT_AWS_OP_ERROR_IN_200) && error_in_200(resp)) {
            rt_aws_parse_error(op->service->protocol, st, body, resp_hdr, (void *)resp, err);
            if (strcmp(err->aws_code, "200") == 0)
                rt_strlcpy(err->aws_code, "InternalError", sizeof(err->aws_code));
            set_failure(k, err, RT_EAWS);
            return RT_HTTPC_RETRY; /* treated as a 500 (aws-wire.md 2.4) */
        }
        return RT_HTTPC_OK;
    }
    if (st == 304)
        return RT_HTTPC_OK;
    if (op->flags & RT_AWS_OP_NO_BODY_ERRORS)
        body.len = 0;
    rt_aws_parse_error(op->service->protocol, st, body, resp_hdr, (void *)resp, err);
    enum rt_aws_error_class cls = rt_aws_classify_code(err->aws_code, st, err->msg);
    adapt(k, cls == RT_AWS_ERR_THROTTLE);
    switch (cls) {
    case RT_AWS_ERR_THROTTLE:
        set_failure(k, err, RT_ETHROTTLED);
        return RT_HTTPC_THROTTLE;
    case RT_AWS_ERR_TRANSIENT:
        set_failure(k, err, RT_EAWS);
        return RT_HTTPC_RETRY;
    case RT_AWS_ERR_SKEW:
    case RT_AWS_ERR_MAYBE_SKEW: {
        int64_t off;
        bool measured = rt_aws_skew_offset(resp->date_ms, k->sent_ms, rt_now_ms(),
                                           rt_httpc_resp_header(resp, "Age") != NULL, &off) == 0;
        int64_t drift = measured ? off - k->signed_skew : 0;
        if (drift < 0)
            drift = -drift;
        bool skewed = measured && (cls == RT_AWS_ERR_SKEW || drift > SKEW_THRESHOLD_MS);
        if (skewed) {
            c->skew_ms = off;
            RT_LOG(RT_LOG_NOTICE, "aws",
                   "event=clock_skew service=%s op=%s code=%s offset_ms=%lld req_id=%s",
                   op->service->id, op->name, err->aws_code, (long long)off, rt_q(err->request_id));
            if (!k->skew_retried) {
                k->skew_retried = true;
                set_failure(k, err, RT_EAWS);
                return RT_HTTPC_SKEW;
            }
        }
        if (!skewed && strcmp(err->aws_code, "RequestExpired") == 0)
            return expired_verdict(k, err); /* the clock is right: the credentials are not */
        set_failure(k, err, cls == RT_AWS_ERR_MAYBE_SKEW ? RT_ESIGNATURE : RT_EAWS);
        return RT_HTTPC_FAIL;
    }
    case RT_AWS_ERR_EXPIRED:
        return expired_verdict(k, err);
    case RT_AWS_ERR_FAIL:
        break;
    }
    set_failure(k, err, RT_EAWS);
    return RT_HTTPC_FAIL;
}

static bool retry_with_fresh_credentials(struct call *k, const struct rt_error *err);

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct call *k = ud;
    k->req = NULL; /* httpc frees it */
    k->sent = NULL;
    if (status && k->expired && retry_with_fresh_credentials(k, err))
        return;
    if (status)
        RT_LOG(RT_LOG_INFO, "aws",
               "event=call_failed service=%s op=%s code=%s aws_code=%s http=%d attempts=%d "
               "req_id=%s error=%s",
               k->op->service->id, k->op->name, rt_err_name(status), rt_q(err ? err->aws_code : ""),
               resp->status, resp->attempts, rt_q(err ? err->request_id : ""),
               rt_q(err ? err->msg : ""));
    else
        RT_LOG(RT_LOG_DEBUG, "aws", "event=call_done service=%s op=%s http=%d attempts=%d",
               k->op->service->id, k->op->name, resp->status, resp->attempts);
    k->cb(status, resp, err, k->ud);
    call_free(k);
}

static int call_stream(void *ud, const struct rt_httpc_resp *resp, const char *p, size_t len)
{
    struct call *k = ud;
    (void)resp;
    return k->stream.data ? k->stream.data(k->stream.ud, p, len) : 0;
}

/* ---- building ---- */

/* Splits the built URL into the signed path, query and Host, and sets Host on the request. */
static int take_url(struct call *k, const char *url, struct rt_error *err)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char host[300];
    if (hl >= sizeof(host))
        return rt_error_set(err, RT_EINVAL, "aws: host too long");
    memcpy(host, p, hl);
    host[hl] = '\0';
    /* curl leaves a default port out of Host; so do we, and sign exactly what is sent. */
    size_t n = strlen(host);
    bool https = strncasecmp(url, "https:", 6) == 0;
    const char *dflt = https ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (n > dl && strcmp(host + n - dl, dflt) == 0)
        host[n - dl] = '\0';
    const char *path = slash ? slash : "/";
    const char *q = strchr(path, '?');
    rt_free(k->path);
    rt_free(k->query);
    k->path = q ? rt_strndup(path, (size_t)(q - path)) : rt_strdup(path);
    k->query = rt_strdup(q ? q + 1 : "");
    if (!k->path || !k->query || rt_httpc_req_set_header(k->req, "Host", host))
        return rt_error_set(err, RT_ENOMEM, "aws: out of memory");
    return 0;
}

static int build(struct call *k, const struct rt_aws_params *p, struct rt_error *err)
{
    struct rt_aws_client *c = k->c;
    const struct rt_aws_op *op = k->op;
    const struct rt_aws_service *svc = op->service;
    char ep[512];
    bool custom;
    int rc =
        rt_aws_endpoint(svc, c->region, config_endpoint(c, svc->id), ep, sizeof(ep), &custom, err);
    if (rc)
        return rc;
    struct rt_buf url, body;
    rt_buf_init(&url, 16384);
    rt_buf_init(&body, (size_t)1 << 31);
    const void *bp = p->body;
    size_t blen = p->body_len;
    const char *ctype = p->content_type;
    if (p->bucket && !p->path) {
        rc = rt_aws_s3_url(ep, custom, c->s3_path_style, p->bucket, p->key, p->query, &url);
    } else {
        const char *path = p->path ? p->path : op->path ? op->path : "/";
        rc = rt_buf_printf(&url, "%s%s%s%s", ep, path[0] == '/' ? "" : "/", path,
                           p->query && p->query[0] ? "?" : "");
        if (!rc && p->query && p->query[0])
            rc = rt_buf_append_str(&url, p->query);
    }
    if (!rc) {
        switch (svc->protocol) {
        case RT_AWS_JSON_10:
        case RT_AWS_JSON_11: {
            char target[256];
            if (!bp) {
                bp = "{}";
                blen = 2;
            }
            if (!ctype)
                ctype = svc->protocol == RT_AWS_JSON_10 ? "application/x-amz-json-1.0"
                                                        : "application/x-amz-json-1.1";
            rt_snprintf(target, sizeof(target), "%s.%s", svc->target_prefix, op->name);
            rc = rt_httpc_req_set_header(k->req, "X-Amz-Target", target);
            break;
        }
        case RT_AWS_QUERY:
            rc = rt_form_add(&body, "Action", op->name);
            if (!rc)
                rc = rt_form_add(&body, "Version", svc->api_version);
            if (!rc && bp && blen)
                rc = rt_buf_append_char(&body, '&');
            if (!rc && bp && blen)
                rc = rt_buf_append(&body, bp, blen);
            bp = body.data;
            blen = body.len;
            if (!ctype)
                ctype = "application/x-www-form-urlencoded; charset=utf-8";
            break;
        case RT_AWS_REST_JSON:
            if (bp && blen && !ctype)
                ctype = "application/json";
            break;
        case RT_AWS_REST_XML:
            break;
        }
    }
    if (!rc)
        rc = rt_httpc_req_set_url(k->req, url.data);
    if (!rc && ctype)
        rc = rt_httpc_req_set_header(k->req, "Content-Type", ctype);
    for (size_t i = 0; !rc && i < p->n_headers; i++)
        rc = rt_httpc_req_set_header(k->req, p->headers[i].name, p->headers[i].value);
    /* The call's own saved body is lent (it lives as long as the call); anything built here
     * is copied. */
    if (!rc && bp)
        rc = rt_httpc_req_set_body(k->req, bp, blen, bp != p->body);
    if (!rc)
        rt_sigv4_sha256_hex(bp ? bp : "", bp ? blen : 0, k->payload_hash);
    if (!rc)
        rc = take_url(k, url.data, err);
    if (rc)
        rt_error_set(err, rc, "%s %s: cannot build the request: %s", svc->id, op->name,
                     rt_strerror(rc));
    rt_buf_cleanup(&url);
    rt_buf_cleanup(&body);
    if (rc)
        return rc;
    if (p->timeout_ms || p->connect_timeout_ms)
        rt_httpc_req_set_timeouts(k->req, p->connect_timeout_ms, p->timeout_ms);
    if (p->max_body)
        rt_httpc_req_set_max_body(k->req, p->max_body);
    int attempts = p->max_attempts ? p->max_attempts : c->max_attempts;
    if (attempts > 0)
        rt_httpc_req_set_max_attempts(k->req, attempts);
    rt_httpc_req_set_hooks(k->req, prepare, classify, k);
    if (k->streamed) /* saved_take copied the stream */
        rt_httpc_req_set_stream(k->req, call_stream, k);
    rt_httpc_req_set_gate(k->req, c->adaptive ? gate : NULL);
    return 0;
}

static int take_creds(struct call *k, const char *ak, const char *sk, const char *token)
{
    if (!ak || !ak[0] || !sk || !sk[0])
        return RT_ECREDENTIALS;
    k->ak = rt_strdup(ak);
    k->sk = rt_strdup(sk);
    k->token = token && token[0] ? rt_strdup(token) : NULL;
    if (!k->ak || !k->sk || (token && token[0] && !k->token))
        return RT_ENOMEM;
    return 0;
}

/* Sends the built request. Returns: 0 or httpc's error (the request is freed by httpc). */
static int send_call(struct call *k, struct rt_error *err)
{
    struct rt_httpc_req *req = k->req;
    k->req = NULL;
    int rc = rt_httpc_send(k->c->httpc, req, on_done, k);
    if (!rc)
        k->sent = req;
    if (rc)
        rt_error_set(err, rc, "%s %s: cannot send: %s", k->op->service->id, k->op->name,
                     rt_strerror(rc));
    return rc;
}

/* Fails a call whose request was never sent, from a callback (never inside rt_aws_call). */
static void fail_unsent(struct call *k, int status, const struct rt_error *err)
{
    struct rt_httpc_resp resp;
    memset(&resp, 0, sizeof(resp));
    rt_buf_init(&resp.body, 0);
    rt_buf_init(&resp.headers, 0);
    k->cb(status, &resp, err, k->ud);
    call_free(k);
}

static void
on_creds(int status, const struct rt_credentials *creds, const struct rt_error *cerr, void *ud)
{
    struct call *k = ud;
    struct rt_error err;
    rt_error_clear(&err);
    if (status || !creds) {
        if (cerr && cerr->code)
            err = *cerr;
        rt_error_set(&err, status ? status : RT_ECREDENTIALS, "%s %s: no credentials",
                     k->op->service->id, k->op->name);
        fail_unsent(k, err.code, &err);
        return;
    }
    int rc = take_creds(k, creds->access_key, creds->secret_key, creds->session_token);
    if (rc) {
        rt_error_set(&err, rc, "%s %s: unusable credentials", k->op->service->id, k->op->name);
        fail_unsent(k, rc, &err);
        return;
    }
    if (k->c->destroyed || k->cancelled) {
        rt_error_set(&err, RT_ECANCELED, "%s %s: %s", k->op->service->id, k->op->name,
                     k->cancelled ? "cancelled" : "client destroyed");
        fail_unsent(k, RT_ECANCELED, &err);
        return;
    }
    if (send_call(k, &err))
        fail_unsent(k, err.code, &err);
}

/*
 * After an expired-credentials refusal: drops the provider's cached set (once per refused access
 * key, however many calls in flight meet the refusal), builds the request again from the saved
 * params and sends it with credentials fetched anew. It is a new httpc request, so it has its own
 * attempts and the refusal costs no retry of the call's budget.
 * Returns: true when the call goes on (on_creds finishes it), false to report the refusal.
 */
static bool retry_with_fresh_credentials(struct call *k, const struct rt_error *err)
{
    struct rt_aws_client *c = k->c;
    k->expired = false;
    if (k->refreshed || !c->creds || c->destroyed)
        return false;
    k->refreshed = true;
    bool same = c->expired_ak && k->ak && strcmp(c->expired_ak, k->ak) == 0;
    RT_LOG(RT_LOG_NOTICE, "aws",
           "event=credentials_expired service=%s op=%s aws_code=%s req_id=%s invalidate=%s",
           k->op->service->id, k->op->name, rt_q(err ? err->aws_code : ""),
           rt_q(err ? err->request_id : ""), same ? "already" : "yes");
    if (!same) {
        rt_free_secret_str(c->expired_ak);
        c->expired_ak = k->ak ? rt_strdup(k->ak) : NULL;
        rt_credentials_provider_invalidate(c->creds);
    }
    rt_free(k->ak);
    rt_free_secret_str(k->sk);
    rt_free_secret_str(k->token);
    k->ak = k->sk = k->token = NULL;
    struct rt_error e;
    rt_error_clear(&e);
    int rc = rt_httpc_req_new(k->op->method, "http://invalid/", &k->req);
    if (!rc)
        rc = build(k, &k->saved, &e);
    if (!rc)
        rc = rt_credentials_provider_get(c->creds, on_creds, k, &e);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "aws", "event=credentials_retry_failed service=%s op=%s error=%s",
               k->op->service->id, k->op->name, rt_q(e.msg));
        rt_httpc_req_free(k->req);
        k->req = NULL;
        return false;
    }
    return true;
}

int rt_aws_call(struct rt_aws_client *c,
                const struct rt_aws_op *op,
                const struct rt_aws_params *params,
                rt_aws_done_fn *cb,
                void *ud,
                struct rt_error *err)
{
    static const struct rt_aws_params none;
    if (!c || !op || !op->service || !op->name || !op->method || !cb)
        return rt_error_set(err, RT_EINVAL, "aws: bad call arguments");
    if (c->destroyed)
        return rt_error_set(err, RT_ECANCELED, "aws: client destroyed");
    const struct rt_aws_params *p = params ? params : &none;
    struct call *k = rt_calloc(1, sizeof(*k));
    if (!k)
        return rt_error_set(err, RT_ENOMEM, "aws: out of memory");
    k->c = c;
    k->op = op;
    k->cb = cb;
    k->ud = ud;
    c->inflight++;
    int rc = rt_httpc_req_new(op->method, "http://invalid/", &k->req);
    if (rc) {
        call_free(k);
        return rt_error_set(err, rc, "aws: out of memory");
    }
    rc = saved_take(k, p);
    if (rc)
        rt_error_set(err, rc, "aws: out of memory");
    else
        rc = build(k, &k->saved, err);
    if (!rc && !c->creds) {
        rc = take_creds(k, c->ak, c->sk, c->token);
        if (rc)
            rt_error_set(err, rc, "aws: out of memory");
    }
    if (rc) {
        call_free(k);
        return rc;
    }
    if (c->creds) {
        struct rt_error cerr;
        rt_error_clear(&cerr);
        rc = rt_credentials_provider_get(c->creds, on_creds, k, &cerr);
        if (rc) {
            call_free(k);
            return rt_error_set(err, rc, "%s %s: credentials: %s", op->service->id, op->name,
                                cerr.msg[0] ? cerr.msg : rt_strerror(rc));
        }
        if (p->handle)
            *p->handle = (struct rt_aws_call *)k;
        return 0;
    }
    rc = send_call(k, err);
    if (rc) {
        k->req = NULL;
        call_free(k);
    } else if (p->handle) {
        *p->handle = (struct rt_aws_call *)k;
    }
    return rc;
}

void rt_aws_call_cancel(struct rt_aws_call *h)
{
    struct call *k = (struct call *)h;
    if (!k)
        return;
    if (k->sent)
        rt_httpc_cancel(k->sent);
    else
        k->cancelled = true; /* waiting for credentials: failed when they come */
}
