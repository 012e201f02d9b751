/*
 * aws.h - the generic AWS call: one function plus per-service operation tables.
 *
 * rt_aws_call(client, op, params, cb, ud, err) builds the request of op (service, signing name,
 * protocol, target or action, method, path), resolves the endpoint, signs every attempt in
 * httpc's prepare hook with the current time plus the client's clock-skew offset, and turns the
 * reply into a verdict in httpc's classify hook: AWS error shapes of the op's protocol are parsed
 * into struct rt_error (aws_code, msg, request_id, http_status), throttling codes are retried as
 * throttling, transient codes and 5xx are retried, clock-skew errors fix the offset from the Date
 * header and are retried once at once (the offset is kept for later calls), other 4xx fail.
 *
 * Final error codes: RT_ESIGNATURE (SignatureDoesNotMatch and the like, not a skew),
 * RT_ETHROTTLED (throttled after retries), RT_EAWS (any other AWS error, the code in aws_code),
 * and httpc's RT_ETIMEDOUT / RT_ENETWORK / RT_ETOOBIG / RT_ECANCELED.
 *
 * Credentials: either a credentials provider (include/retraind/credentials.h: the default chain,
 * a cached or static provider ...) asked once per call before the first attempt, or a static
 * triple in the options. The client copies the triple into the call, so every attempt of a call
 * signs with one consistent (key, secret, token), and wipes it when the call ends. aws/ reaches
 * the credentials module only through credentials.h (scripts/checkdeps.sh enforces it).
 *
 * Region and endpoints: resolved through core's retraind/endpoint.h, the same order and the same
 * region check as the credential providers' STS endpoint; a region that is not a well-formed name
 * (us-east-1, not "us-east-1.evil.com") is refused before it can become part of a host.
 *
 * Threads: everything runs on the loop thread; completion callbacks run once, never from inside
 * rt_aws_call().
 */
#ifndef RETRAIND_AWS_H
#define RETRAIND_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/credentials.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/xml.h"

struct uv_loop_s;
struct rt_aws_client;
struct rt_aws_call;
struct rt_config;

/* ---- protocols, services, operations ---- */

enum rt_aws_protocol {
    RT_AWS_JSON_10 = 1, /* POST /, X-Amz-Target, application/x-amz-json-1.0 */
    RT_AWS_JSON_11,     /* POST /, X-Amz-Target, application/x-amz-json-1.1 */
    RT_AWS_REST_JSON,   /* method + path, application/json bodies, X-Amzn-ErrorType */
    RT_AWS_REST_XML,    /* method + path (S3), XML errors <Error> */
    RT_AWS_QUERY        /* POST /, form body Action=...&Version=..., XML <ErrorResponse> */
};

/* A service: one static const per service (s3.c, ssm.c, ...). */
struct rt_aws_service {
    const char *id;              /* config key and endpoint lookup: "s3", "ssm", "sagemaker" */
    const char *env_id;          /* AWS_ENDPOINT_URL_<env_id>: "S3", "SSM", "SAGEMAKER" */
    const char *endpoint_prefix; /* default host <prefix>.<region>.amazonaws.com: "ssm" */
    const char *global_host;     /* host used without a region ("sts.amazonaws.com"), or NULL:
                                  * a region is required */
    const char *signing_name;    /* SigV4 service name: "s3", "ssm", "sagemaker" */
    enum rt_aws_protocol protocol;
    const char *target_prefix; /* json: "AmazonSSM" gives X-Amz-Target AmazonSSM.<op> */
    const char *api_version;   /* query: "2010-03-31" */
};

/* Operation flags. */
enum rt_aws_op_flag {
    RT_AWS_OP_ERROR_IN_200 = 1u << 0,  /* a 200 whose body is <Error> or bad XML is a 500 (S3
                                        * CopyObject, CompleteMultipartUpload) */
    RT_AWS_OP_NO_BODY_ERRORS = 1u << 1 /* HEAD: errors have no body, code from the status */
};

/* An operation: one static const per op. ~5 lines each. */
struct rt_aws_op {
    const struct rt_aws_service *service;
    const char *name;   /* "GetParameter": the X-Amz-Target suffix, query Action, and log name */
    const char *method; /* "POST", "GET", "PUT", "HEAD", "DELETE" */
    const char *path;   /* rest: default wire path ("/human-loops"); others "/" */
    unsigned flags;     /* enum rt_aws_op_flag bits */
};

/* One extra request header; both strings borrowed for the rt_aws_call() call. */
struct rt_aws_header {
    const char *name;
    const char *value;
};

/*
 * A 2xx reply body streamed to a consumer as it arrives instead of being kept whole (httpc's
 * rt_httpc_stream_fn): a ListObjectsV2 page is parsed while it downloads. Error replies are still
 * read whole and classified as usual. The callbacks run on the loop thread; data runs inside
 * curl's write callback (see rt_httpc_stream_fn for what it may do).
 */
struct rt_aws_stream {
    /* Before every attempt (1, 2, ...): each attempt streams its body from the first byte. */
    void (*begin)(void *ud, int attempt);
    /* The next piece of a 2xx body. Returns: 0, or a negative code that ends the call at once
     * with that code (not retried). */
    int (*data)(void *ud, const char *p, size_t len);
    /* A 2xx reply is complete. Returns: 0 (the call succeeds); RT_EAWS with err->aws_code and
     * err->msg filled when the body is an error document; RT_EPARSE with err->msg when it is
     * malformed. Both are retried like a 500 (aws-wire.md 2.2, 2.4); after the last attempt the
     * call fails with that code. */
    int (*end)(void *ud, struct rt_error *err);
    void *ud;
};

/* What one call sends. Every pointer is borrowed only during rt_aws_call() (copied). */
struct rt_aws_params {
    const char *bucket; /* S3: bucket; the client picks virtual-host or path style */
    const char *key;    /* S3: raw object key (UTF-8); the client percent-encodes it */
    const char *path;   /* rest protocols: the wire path, already percent-encoded; overrides
                         * op->path (and bucket/key) when set */
    const char *query;  /* raw query without '?', each name/value already encoded, or NULL */
    const void *body;   /* json: the JSON text (NULL sends "{}"); query: extra form fields
                         * "A=b&C=d" after Action and Version; rest: the body bytes */
    size_t body_len;
    const char *content_type; /* NULL: the protocol's default (none for a rest body-less call) */
    const struct rt_aws_header *headers; /* extra headers (Range, x-amz-copy-source, ...) */
    size_t n_headers;
    int64_t timeout_ms;                 /* per attempt; 0: httpc's default (60 s) */
    int64_t connect_timeout_ms;         /* 0: httpc's default (10 s) */
    size_t max_body;                    /* response cap; 0: 16 MiB */
    int max_attempts;                   /* 0: the client's */
    const struct rt_aws_stream *stream; /* stream 2xx bodies (copied; its ud must live until the
                                         * completion), or NULL: resp->body */
    /* Not copied: when set, *handle receives the call (for rt_aws_call_cancel), valid until its
     * callback runs. */
    struct rt_aws_call **handle;
};

/*
 * Completion of a call, once, on the loop thread. status 0 on success (err NULL), else a
 * negative code also in err (aws_code, msg, request_id, http_status filled when AWS answered).
 * resp is never NULL: the reply's status, body (take it with rt_buf_detach) and headers
 * (rt_httpc_resp_header: ETag, x-amz-request-id, ...). Both are valid only during the call.
 */
typedef void
rt_aws_done_fn(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud);

/* ---- the client ---- */

/* Per-service endpoint URLs from the config's aws.endpoints (NULL: none). Borrowed, copied. */
struct rt_aws_endpoints {
    const char *s3, *rekognition, *sagemaker, *a2i, *ssm, *sns, *sts, *sqs;
};

/* aws.retry_mode: standard (httpc's retries) or adaptive (standard plus a client-side rate
 * limiter per service that slows sending down after throttling, aws-wire.md 11.2). */
enum rt_aws_retry_mode { RT_AWS_RETRY_STANDARD = 0, RT_AWS_RETRY_ADAPTIVE = 1 };

struct rt_aws_client_opts {
    const char *region;         /* the config's aws.region, or NULL (see rt_aws_region) */
    const char *profile_region; /* the profile's region (credentials helper), or NULL */
    struct rt_aws_endpoints endpoints;
    bool s3_path_style; /* always path-style S3 addressing */
    int max_attempts;   /* 0: httpc's (3) */
    enum rt_aws_retry_mode retry_mode;
    /* Credentials: a provider, or else the static triple below. */
    struct rt_credentials_provider *credentials; /* borrowed; must outlive the client (close it
                                                  * after destroying the client) */
    const char *access_key;                      /* static credentials (copied, wiped on destroy) */
    const char *secret_key;
    const char *session_token;
};

/*
 * Fills the config-derived fields of o from cfg's aws section (region, endpoints, max_attempts)
 * and the store's path_style; the strings are borrowed from cfg, which must outlive the
 * rt_aws_client_new call. Other fields (credentials, profile_region) are left as they are.
 */
void rt_aws_client_opts_from_config(struct rt_aws_client_opts *o, const struct rt_config *cfg);

/*
 * Creates a client using httpc (borrowed; it must outlive the client) on loop. The region is
 * resolved once (rt_aws_region) and checked (rt_region_check): none found, or one that is not a
 * well-formed region name, is RT_ECONFIG naming the value. Neither a credentials provider nor a
 * static access/secret key is RT_EINVAL.
 * Returns: 0 and *out (caller frees with rt_aws_client_destroy), or RT_ECONFIG / RT_EINVAL /
 * RT_ENOMEM with err filled.
 */
int rt_aws_client_new(struct uv_loop_s *loop,
                      struct rt_httpc *httpc,
                      const struct rt_aws_client_opts *opts,
                      struct rt_aws_client **out,
                      struct rt_error *err);

/*
 * Destroys c. Calls still in flight keep it alive until they complete (close the httpc first to
 * cancel them); no new call may be started. NULL is fine.
 */
void rt_aws_client_destroy(struct rt_aws_client *c);

/* Returns: the client's region (borrowed, valid while c is). */
const char *rt_aws_client_region(const struct rt_aws_client *c);
/* Returns: the clock-skew offset in ms (server minus local) learnt so far; 0 at start. */
int64_t rt_aws_client_skew_ms(const struct rt_aws_client *c);
/* Sets the offset (tests; a saved offset after a restart). */
void rt_aws_client_set_skew_ms(struct rt_aws_client *c, int64_t ms);

/*
 * Starts one call of op with params (NULL: none). Everything in params is copied.
 * Returns: 0 (cb runs once later on the loop thread), or RT_EINVAL / RT_ENOMEM / RT_ECONFIG /
 * RT_ECANCELED (client destroyed) with err filled, and cb never runs.
 */
int rt_aws_call(struct rt_aws_client *c,
                const struct rt_aws_op *op,
                const struct rt_aws_params *params,
                rt_aws_done_fn *cb,
                void *ud,
                struct rt_error *err);

/*
 * Cancels a call started with params.handle whose callback has not run yet: a request in flight
 * is dropped (a long poll does not hold up a shutdown) and the callback runs on a later loop turn
 * with RT_ECANCELED.
 */
void rt_aws_call_cancel(struct rt_aws_call *call);

/* ---- region and endpoints (pure; environment read through getenv) ---- */

/*
 * Returns: the region to use (borrowed: from the arguments or the environment): AWS_REGION, then
 * AWS_DEFAULT_REGION, then config_region, then profile_region; NULL when none is set. The
 * environment overrides the config file as DESIGN.md's config section says. Not checked; see
 * rt_region_resolve and rt_region_check in retraind/endpoint.h, which this calls.
 */
const char *rt_aws_region(const char *config_region, const char *profile_region);

/*
 * Resolves the endpoint of svc (rt_endpoint_resolve): AWS_ENDPOINT_URL_<env_id>, then
 * AWS_ENDPOINT_URL, then config_url, then the default https://<endpoint_prefix>.<region>
 * .amazonaws.com (".com.cn" for cn- regions). AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the
 * first three. The URL is written without a trailing '/'; *custom is true when it did not come
 * from the default.
 * Returns: 0, or RT_ECONFIG (no region, or a malformed region about to become the host),
 * RT_EINVAL (not http/https, no host, a query or fragment) / RT_ETOOBIG.
 */
int rt_aws_endpoint(const struct rt_aws_service *svc,
                    const char *region,
                    const char *config_url,
                    char *out,
                    size_t size,
                    bool *custom,
                    struct rt_error *err);

/* Returns: true if bucket is DNS-safe for virtual-hosted addressing (aws-wire.md 2.1), without
 * dots (a dotted name breaks the TLS wildcard). */
bool rt_aws_s3_virtual_ok(const char *bucket);

/*
 * Builds the URL of an S3 object (key NULL: the bucket) on endpoint (as rt_aws_endpoint wrote
 * it): path-style when path_style, custom, the host is an IP literal or the bucket is not
 * virtual_ok; else virtual-hosted. The key is encoded except unreserved and '/'. query (raw, may
 * be NULL) is appended after '?'. Returns: 0 or RT_EINVAL / RT_ETOOBIG.
 */
int rt_aws_s3_url(const char *endpoint,
                  bool custom,
                  bool path_style,
                  const char *bucket,
                  const char *key,
                  const char *query,
                  struct rt_buf *out);

/* ---- the adaptive mode's rate limiter (pure; exposed for tests) ---- */

/*
 * botocore's ClientRateLimiter (retries/adaptive.py, bucket.py, throttling.py): a token bucket
 * that is off until the first throttling reply; each reply measures the send rate (0.5 s buckets,
 * smoothed 0.8 new / 0.2 old) and sets the bucket's fill rate with CUBIC: a throttle sets it to
 * 0.7 x min(measured, current) and remembers that rate as w_max; successes grow it as
 * 0.4 (t - t_fail - K)^3 + w_max, K = cbrt(w_max x 0.3 / 0.4); never above 2 x the measured rate,
 * never below 0.5 tokens/s. Each attempt takes one token; the client waits instead of blocking.
 * Times are seconds on any monotonic clock.
 */
struct rt_aws_rate_limiter {
    bool enabled;
    double fill_rate, max_capacity, capacity, last_refill; /* the token bucket */
    double measured_rate, last_bucket;                     /* the rate clocker */
    double count;
    double w_max, k, last_fail; /* CUBIC */
};
void rt_aws_rate_limiter_init(struct rt_aws_rate_limiter *l, double now_s);
/* Takes a token if one is there. Returns: 0 (taken, or the limiter is off), else the seconds
 * until one will be (nothing taken: ask again then; the rate may have changed meanwhile). */
double rt_aws_rate_limiter_acquire(struct rt_aws_rate_limiter *l, double now_s);
/* Records a reply (throttled or not) and adjusts the fill rate. */
void rt_aws_rate_limiter_update(struct rt_aws_rate_limiter *l, bool throttled, double now_s);

/* ---- error parsing (pure; exposed for tests and fuzzing) ---- */

/*
 * Fills err->aws_code, err->request_id and err->msg (the AWS message) from an error reply of
 * protocol: body and the headers got through hdr(hdr_ud, name) (NULL if absent). When no code is
 * found the HTTP status number is the code. Does not set err->code.
 * Returns: 0 when an AWS code was found in the reply, RT_EPARSE when the status had to be used.
 */
int rt_aws_parse_error(enum rt_aws_protocol protocol,
                       int http_status,
                       struct rt_str body,
                       const char *(*hdr)(void *hdr_ud, const char *name),
                       void *hdr_ud,
                       struct rt_error *err);

/* What a reply's AWS code means for retrying (aws-wire.md 11.1 and 1.4). */
enum rt_aws_error_class {
    RT_AWS_ERR_FAIL = 0,   /* not retried */
    RT_AWS_ERR_TRANSIENT,  /* retried with backoff */
    RT_AWS_ERR_THROTTLE,   /* retried with backoff, RT_ETHROTTLED at the end */
    RT_AWS_ERR_SKEW,       /* clock skew for sure: fix the offset, retry once */
    RT_AWS_ERR_MAYBE_SKEW, /* a signature error that is skew only if the clock is off */
    RT_AWS_ERR_EXPIRED     /* ExpiredToken(Exception), InvalidToken, TokenRefreshRequired: the
                            * credentials are refreshed and the call retried once (RequestExpired
                            * too, when it is not a clock skew) */
};
/* Returns: the class of (aws_code, http_status, message). */
enum rt_aws_error_class
rt_aws_classify_code(const char *aws_code, int http_status, const char *message);

/*
 * Clock-skew offset from one reply (aws-wire.md 1.4): server_ms - (sent_ms + recv_ms) / 2.
 * Returns: 0 and *offset_ms, or RT_EINVAL when it cannot be measured (no Date, an Age header,
 * or a round trip over 15 minutes).
 */
int rt_aws_skew_offset(
    int64_t server_ms, int64_t sent_ms, int64_t recv_ms, bool has_age, int64_t *offset_ms);

/* The XML scanner the parsers use is core's (retraind/xml.h, included above). */

/* ---- S3 (rest-xml) ---- */

extern const struct rt_aws_service rt_aws_s3;
extern const struct rt_aws_op rt_aws_s3_put_object_op, rt_aws_s3_get_object_op,
    rt_aws_s3_head_object_op, rt_aws_s3_delete_object_op, rt_aws_s3_copy_object_op,
    rt_aws_s3_list_objects_v2_op;

/* PUT body to bucket/key. headers (e.g. If-None-Match: *) may be NULL. The ETag is in the
 * reply's ETag header. Returns and cb as rt_aws_call. Body copied. */
int rt_aws_s3_put_object(struct rt_aws_client *c,
                         const char *bucket,
                         const char *key,
                         const void *body,
                         size_t len,
                         const char *content_type,
                         const struct rt_aws_header *headers,
                         size_t n_headers,
                         rt_aws_done_fn *cb,
                         void *ud,
                         struct rt_error *err);
/* GET bucket/key into resp->body (max_body bytes at most; 0: 16 MiB). */
int rt_aws_s3_get_object(struct rt_aws_client *c,
                         const char *bucket,
                         const char *key,
                         size_t max_body,
                         rt_aws_done_fn *cb,
                         void *ud,
                         struct rt_error *err);
/* HEAD bucket/key; a missing key fails with aws_code "NotFound" and HTTP 404. */
int rt_aws_s3_head_object(struct rt_aws_client *c,
                          const char *bucket,
                          const char *key,
                          rt_aws_done_fn *cb,
                          void *ud,
                          struct rt_error *err);
/* DELETE bucket/key (success also when it did not exist). */
int rt_aws_s3_delete_object(struct rt_aws_client *c,
                            const char *bucket,
                            const char *key,
                            rt_aws_done_fn *cb,
                            void *ud,
                            struct rt_error *err);
/* Server-side copy; a 200 carrying <Error> is retried as a 500. */
int rt_aws_s3_copy_object(struct rt_aws_client *c,
                          const char *src_bucket,
                          const char *src_key,
                          const char *bucket,
                          const char *key,
                          rt_aws_done_fn *cb,
                          void *ud,
                          struct rt_error *err);

/* One listed object; strings owned by the list. */
struct rt_aws_s3_object {
    char *key; /* decoded (encoding-type=url undone) */
    int64_t size;
    char *etag; /* with its quotes, as S3 sends it */
    int64_t last_modified_ms;
};
/* One page of ListObjectsV2. Free with rt_aws_s3_list_free. */
struct rt_aws_s3_list {
    struct rt_aws_s3_object *objects; /* owned */
    size_t n_objects;
    char **prefixes; /* owned CommonPrefixes, decoded */
    size_t n_prefixes;
    bool truncated;
    char *next_token; /* owned, NULL when not truncated */
};
struct rt_aws_s3_list_opts {
    const char *prefix, *delimiter, *continuation_token, *start_after; /* NULL: unset */
    int max_keys;                                                      /* 0: S3's 1000 */
};
/* A page: status 0 and list (borrowed for the callback; it may steal fields by NULLing them),
 * or status < 0, list NULL and err. */
typedef void
rt_aws_s3_list_fn(int status, struct rt_aws_s3_list *list, const struct rt_error *err, void *ud);
/* Lists one page with encoding-type=url. Returns: as rt_aws_call. */
int rt_aws_s3_list_objects_v2(struct rt_aws_client *c,
                              const char *bucket,
                              const struct rt_aws_s3_list_opts *opts,
                              rt_aws_s3_list_fn *cb,
                              void *ud,
                              struct rt_error *err);
/* Parses a ListBucketResult body; url_encoded: the request asked for encoding-type=url, and
 * keys are form-decoded when the reply's <EncodingType> says url.
 * Returns: 0, or RT_EPARSE / RT_ENOMEM with err filled (out is then empty). */
int rt_aws_s3_parse_list(struct rt_str xml,
                         bool url_encoded,
                         struct rt_aws_s3_list *out,
                         struct rt_error *err);
/* Frees what a list owns; the struct itself is the caller's. NULL is fine. */
void rt_aws_s3_list_free(struct rt_aws_s3_list *list);

/* ---- ListObjectsV2 streamed: each entry handed over as it is parsed (src/aws/s3list.c) ---- */

/* An object as soon as its <Contents> closed: key decoded, etag with its quotes; both borrowed
 * (writable) for the call only. Returns: 0 to go on, non-zero to stop the listing. */
typedef int rt_aws_s3_object_fn(const struct rt_aws_s3_object *o, void *ud);
/* A CommonPrefixes prefix (with a delimiter), decoded, borrowed. Returns: as above. */
typedef int rt_aws_s3_prefix_fn(const char *prefix, void *ud);
struct rt_aws_s3_list_cbs {
    rt_aws_s3_object_fn *object; /* may be NULL */
    rt_aws_s3_prefix_fn *prefix; /* may be NULL */
    void *ud;
};
/* What a page said once it ended. next_token is borrowed for the completion only. */
struct rt_aws_s3_page {
    bool truncated;
    const char *next_token;     /* NULL unless truncated */
    uint64_t objects, prefixes; /* handed over from this page */
    bool stopped;               /* a callback returned non-zero: nothing more was parsed */
};
/* Completion of a streamed page: status 0 and page, or status < 0 with err (page NULL). */
typedef void rt_aws_s3_page_fn(int status,
                               const struct rt_aws_s3_page *page,
                               const struct rt_error *err,
                               void *ud);
/*
 * Lists one page with encoding-type=url, parsing the reply while it downloads: cbs get every
 * entry as soon as its element closed (from inside httpc's write callback, on the loop thread),
 * then done runs once. Memory is one entry, whatever the page holds. A retried attempt (reset,
 * truncated or malformed body, an <Error> in a 200) parses the body again and skips what was
 * handed over already, so each entry is handed over once. A malformed body fails with RT_EPARSE
 * and a 200 <Error> document with RT_EAWS after the last attempt; S3 errors as rt_aws_call.
 * Returns: as rt_aws_call.
 */
int rt_aws_s3_list_objects_v2_stream(struct rt_aws_client *c,
                                     const char *bucket,
                                     const struct rt_aws_s3_list_opts *opts,
                                     const struct rt_aws_s3_list_cbs *cbs,
                                     rt_aws_s3_page_fn *done,
                                     void *ud,
                                     struct rt_error *err);

/* The push parser under it, on its own (tests, fuzzing). url_requested: the request asked for
 * encoding-type=url (keys are decoded when the reply says <EncodingType>url). */
struct rt_aws_s3_list_parser;
/* Returns: 0 and *out (free with rt_aws_s3_list_parser_free), or RT_ENOMEM. */
int rt_aws_s3_list_parser_new(bool url_requested,
                              const struct rt_aws_s3_list_cbs *cbs,
                              struct rt_aws_s3_list_parser **out);
/* Feeds the next piece of the body (any split). Returns: 0 (a malformed body is reported by
 * finish), RT_ECANCELED once a callback stopped, or RT_ENOMEM. */
int rt_aws_s3_list_parser_feed(struct rt_aws_s3_list_parser *p, const char *data, size_t len);
/* The body ended. Returns: 0 with *page filled (page->next_token borrowed from p), RT_EAWS for an
 * <Error> document (err's aws_code, msg, request_id), RT_EPARSE for a malformed one, RT_ENOMEM. */
int rt_aws_s3_list_parser_finish(struct rt_aws_s3_list_parser *p,
                                 struct rt_aws_s3_page *page,
                                 struct rt_error *err);
/* A new attempt of the same page: parses a body from its start again and skips the entries
 * handed over before (keys up to the last one, prefixes by count). Returns: 0 or RT_ENOMEM. */
int rt_aws_s3_list_parser_restart(struct rt_aws_s3_list_parser *p);
/* NULL is fine. */
void rt_aws_s3_list_parser_free(struct rt_aws_s3_list_parser *p);

/* ---- SNS (query): the notifier builds the form body (TopicArn, Subject, Message) ---- */

extern const struct rt_aws_service rt_aws_sns;
extern const struct rt_aws_op rt_aws_sns_publish_op;

/* ---- SSM (json 1.1): bodies are JSON text built by the caller ---- */

extern const struct rt_aws_service rt_aws_ssm;
extern const struct rt_aws_op rt_aws_ssm_get_parameter_op, rt_aws_ssm_put_parameter_op,
    rt_aws_ssm_delete_parameter_op, rt_aws_ssm_get_parameters_by_path_op;

/* GetParameter {Name}: cb gets the reply; rt_aws_ssm_parse_value extracts Parameter.Value. */
int rt_aws_ssm_get_parameter(
    struct rt_aws_client *c, const char *name, rt_aws_done_fn *cb, void *ud, struct rt_error *err);
/* PutParameter {Name, Value, Type: String, Overwrite}. */
int rt_aws_ssm_put_parameter(struct rt_aws_client *c,
                             const char *name,
                             const char *value,
                             bool overwrite,
                             rt_aws_done_fn *cb,
                             void *ud,
                             struct rt_error *err);
/* Returns: new string with Parameter.Value of a GetParameter reply (caller frees with rt_free),
 * or NULL when absent or not JSON. */
char *rt_aws_ssm_parse_value(struct rt_str body);

/* ---- A2I runtime (rest-json) and SageMaker (json 1.1): the a2i review driver's calls ---- */

extern const struct rt_aws_service rt_aws_a2i, rt_aws_sagemaker;
/* StartHumanLoop POST /human-loops; DescribeHumanLoop GET /human-loops/<name> (params.path);
 * StopHumanLoop POST /human-loops/stop; SageMaker.DescribeFlowDefinition. */
extern const struct rt_aws_op rt_aws_a2i_start_human_loop_op, rt_aws_a2i_describe_human_loop_op,
    rt_aws_a2i_stop_human_loop_op, rt_aws_sagemaker_describe_flow_definition_op;

/* ---- setup calls (retraind bootstrap and doctor, src/cli/cmd_bootstrap.c, cmd_doctor.c) ---- */

/* Rekognition's project calls (json 1.1): the service is the engine's, under its own name so
 * the aws library does not reach into the engine. */
extern const struct rt_aws_service rt_aws_rekognition;
extern const struct rt_aws_op rt_aws_rekognition_create_project_op,
    rt_aws_rekognition_describe_projects_op;
/* SageMaker (json 1.1) CreateHumanTaskUi, DescribeHumanTaskUi, CreateFlowDefinition. */
extern const struct rt_aws_op rt_aws_sagemaker_create_human_task_ui_op,
    rt_aws_sagemaker_describe_human_task_ui_op, rt_aws_sagemaker_create_flow_definition_op;
/* SNS (query) GetTopicAttributes: body "TopicArn=<form-encoded ARN>". */
extern const struct rt_aws_op rt_aws_sns_get_topic_attributes_op;
/* ---- SQS (json 1.0, AmazonSQS.<Op>): S3 event notifications for the s3 store ---- */

extern const struct rt_aws_service rt_aws_sqs;
extern const struct rt_aws_op rt_aws_sqs_receive_message_op, rt_aws_sqs_delete_message_op,
    rt_aws_sqs_delete_message_batch_op;

struct rt_aws_sqs_receive_opts {
    const char *queue_url;
    int max_messages; /* 1..10 */
    int wait_s;       /* long polling, 0..20; the HTTP timeout is set 10 s above it */
    int visibility_s; /* 0: the queue's */
};
/* ReceiveMessage (asks for ApproximateReceiveCount). handle: as params.handle (may be NULL). */
int rt_aws_sqs_receive(struct rt_aws_client *c,
                       const struct rt_aws_sqs_receive_opts *o,
                       rt_aws_done_fn *cb,
                       void *ud,
                       struct rt_aws_call **handle,
                       struct rt_error *err);
/* DeleteMessage of one receipt handle, DeleteMessageBatch of 2 to 10 (ids m0..m9; check the
 * reply with rt_aws_sqs_parse_delete_batch: a partial failure is a 200). */
int rt_aws_sqs_delete(struct rt_aws_client *c,
                      const char *queue_url,
                      const char *const *receipts,
                      size_t n,
                      rt_aws_done_fn *cb,
                      void *ud,
                      struct rt_error *err);

struct rt_aws_sqs_message {
    char *id, *receipt, *body; /* owned */
    size_t body_len;
    bool has_body;
    bool md5_ok;       /* MD5OfBody matches (or is absent) */
    int receive_count; /* ApproximateReceiveCount, 0 when absent */
};
struct rt_aws_sqs_messages {
    struct rt_aws_sqs_message *items; /* owned */
    size_t n;
};
/* Parses a ReceiveMessage reply (no Messages: n 0). Returns: 0, or RT_EPARSE / RT_ENOMEM with
 * err (out empty). Free with rt_aws_sqs_messages_free. */
int rt_aws_sqs_parse_receive(struct rt_str json,
                             struct rt_aws_sqs_messages *out,
                             struct rt_error *err);
void rt_aws_sqs_messages_free(struct rt_aws_sqs_messages *m);
/* A DeleteMessage(Batch) reply: 0, or RT_EAWS with *failed and the first failure in err. */
int rt_aws_sqs_parse_delete_batch(struct rt_str json, size_t *failed, struct rt_error *err);

/* One record of an S3 event notification (aws-wire.md 7.2). Strings owned. */
struct rt_s3_event_record {
    char *event_name; /* "ObjectCreated:Put" (no s3: prefix) */
    char *bucket;
    char *key;       /* form-decoded: '+' is a space, %2B a '+' */
    char *etag;      /* without quotes, or NULL (ObjectRemoved) */
    int64_t size;    /* -1 when absent */
    char *sequencer; /* or NULL */
};
struct rt_s3_event {
    bool test; /* s3:TestEvent: nothing to do but delete it */
    struct rt_s3_event_record *records;
    size_t n;
};
/*
 * Parses an SQS message body holding an S3 event notification: {"Records": [...]} with
 * eventVersion 2.x, S3's s3:TestEvent, or either inside an SNS envelope (Type Notification,
 * Message). Unknown fields are ignored. Returns: 0, or RT_EPARSE (err names the cause) /
 * RT_ENOMEM; out is empty on failure. Free with rt_s3_event_free.
 */
int rt_s3_event_parse(struct rt_str body, struct rt_s3_event *out, struct rt_error *err);
void rt_s3_event_free(struct rt_s3_event *ev);
/* Returns: true for ObjectCreated:* event names. */
bool rt_s3_event_is_created(const char *event_name);

#endif
