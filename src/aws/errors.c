/*
 * errors.c - AWS error replies into struct rt_error, and what each error code means for retries.
 *
 * The shapes per protocol are aws-wire.md 1.2: json (__type/code, message), rest-json
 * (X-Amzn-ErrorType first), rest-xml (<Error><Code/><Message/><RequestId/>), query
 * (<ErrorResponse><Error><Code/><Message/></Error><RequestId/>). The retry classes are 11.1
 * (transient and throttling codes) and 1.4 (clock skew). Pure functions: tests feed them recorded
 * replies and the fuzz target feeds them anything.
 */
#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

#include "retraind/aws.h"

/* Copies a code, keeping the text after the last '#' and before the first ':' (json rules). */
static void set_code(struct rt_error *err, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (colon)
        n = (size_t)(colon - s);
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '#') {
            n -= i;
            s += i;
            break;
        }
    }
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= sizeof(err->aws_code))
        n = sizeof(err->aws_code) - 1;
    memcpy(err->aws_code, s, n);
    err->aws_code[n] = '\0';
}

/* Keeps only printable text in a message or id (replies are untrusted; logs are line-based). */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static const cJSON *member(const cJSON *obj, const char *const *names)
{
    for (; *names; names++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, *names);
        if (cJSON_IsString(v) && v->valuestring[0])
            return v;
    }
    return NULL;
}

static void parse_json(struct rt_str body, struct rt_error *err, bool want_code)
{
    if (!body.len)
        return;
    cJSON *root = cJSON_ParseWithLength(body.p, body.len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return;
    }
    static const char *const code_names[] = {"__type", "code", "Code", NULL};
    static const char *const msg_names[] = {"message", "Message", "errorMessage", NULL};
    const cJSON *c = want_code ? member(root, code_names) : NULL;
    if (c)
        set_code(err, c->valuestring, strlen(c->valuestring));
    const cJSON *m = member(root, msg_names);
    if (m)
        rt_strlcpy(err->msg, m->valuestring, sizeof(err->msg));
    cJSON_Delete(root);
}

/* Reads <Code>, <Message> and <RequestId> children of el. */
static void xml_fields(struct rt_str el, struct rt_error *err)
{
    char code[sizeof(err->aws_code)];
    if (rt_xml_child_text(el, "Code", code, sizeof(code)) == 1 && code[0])
        rt_strlcpy(err->aws_code, code, sizeof(err->aws_code));
    rt_xml_child_text(el, "Message", err->msg, sizeof(err->msg));
    char rid[sizeof(err->request_id)];
    if (rt_xml_child_text(el, "RequestId", rid, sizeof(rid)) == 1 && rid[0])
        rt_strlcpy(err->request_id, rid, sizeof(err->request_id));
}

static void parse_xml(struct rt_str body, struct rt_error *err)
{
    struct rt_str name, inner, e;
    if (rt_xml_root(body, &name, &inner) != 1)
        return;
    if (rt_str_eq_c(name, "Error")) {
        xml_fields(inner, err);
    } else if (rt_str_eq_c(name, "ErrorResponse")) {
        if (rt_xml_child(inner, "Error", &e) == 1)
            xml_fields(e, err);
        char rid[sizeof(err->request_id)];
        if (rt_xml_child_text(inner, "RequestId", rid, sizeof(rid)) == 1 && rid[0])
            rt_strlcpy(err->request_id, rid, sizeof(err->request_id));
    } else if (rt_str_eq_c(name, "Response")) {
        /* EC2-style <Response><Errors><Error>...</Error></Errors><RequestID/></Response>. */
        struct rt_str errs;
        if (rt_xml_child(inner, "Errors", &errs) == 1 && rt_xml_child(errs, "Error", &e) == 1)
            xml_fields(e, err);
        char rid[sizeof(err->request_id)];
        if (rt_xml_child_text(inner, "RequestID", rid, sizeof(rid)) == 1 && rid[0])
            rt_strlcpy(err->request_id, rid, sizeof(err->request_id));
    }
}

static const char *status_code_name(int status)
{
    switch (status) {
    case 301:
        return "PermanentRedirect";
    case 304:
        return "NotModified";
    case 400:
        return "BadRequest";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 412:
        return "PreconditionFailed";
    default:
        return NULL;
    }
}

int rt_aws_parse_error(enum rt_aws_protocol protocol,
                       int http_status,
                       struct rt_str body,
                       const char *(*hdr)(void *hdr_ud, const char *name),
                       void *hdr_ud,
                       struct rt_error *err)
{
    err->aws_code[0] = '\0';
    err->msg[0] = '\0';
    const char *h;
    if (hdr) {
        if ((h = hdr(hdr_ud, "x-amzn-RequestId")) || (h = hdr(hdr_ud, "x-amz-request-id")))
            rt_strlcpy(err->request_id, h, sizeof(err->request_id));
    }
    switch (protocol) {
    case RT_AWS_JSON_10:
    case RT_AWS_JSON_11:
        parse_json(body, err, true);
        break;
    case RT_AWS_REST_JSON:
        h = hdr ? hdr(hdr_ud, "X-Amzn-ErrorType") : NULL;
        if (h && h[0])
            set_code(err, h, strlen(h));
        parse_json(body, err, !err->aws_code[0]);
        break;
    case RT_AWS_REST_XML:
    case RT_AWS_QUERY:
        parse_xml(body, err);
        break;
    }
    clean(err->aws_code);
    clean(err->msg);
    clean(err->request_id);
    if (err->aws_code[0])
        return 0;
    const char *n = status_code_name(http_status);
    if (n)
        rt_strlcpy(err->aws_code, n, sizeof(err->aws_code));
    else
        rt_snprintf(err->aws_code, sizeof(err->aws_code), "%d", http_status);
    return RT_EPARSE;
}

static bool in_list(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

enum rt_aws_error_class
rt_aws_classify_code(const char *aws_code, int http_status, const char *message)
{
    static const char *const throttling[] = {"Throttling",
                                             "ThrottlingException",
                                             "ThrottledException",
                                             "RequestThrottledException",
                                             "TooManyRequestsException",
                                             "ProvisionedThroughputExceededException",
                                             "TransactionInProgressException",
                                             "RequestLimitExceeded",
                                             "BandwidthLimitExceeded",
                                             "LimitExceededException",
                                             "RequestThrottled",
                                             "SlowDown",
                                             "PriorRequestNotComplete",
                                             "EC2ThrottledException",
                                             NULL};
    static const char *const transient[] = {"RequestTimeout",          "RequestTimeoutException",
                                            "InternalError",           "InternalServerError",
                                            "InternalServerException", "ServiceUnavailable",
                                            "IDPCommunicationError",   "ConditionalRequestConflict",
                                            "OperationAborted",        NULL};
    static const char *const skew[] = {"RequestTimeTooSkewed", "RequestExpired",
                                       "RequestInTheFuture", NULL};
    static const char *const maybe_skew[] = {"SignatureDoesNotMatch", "AuthFailure",
                                             "InvalidSignatureException", NULL};
    /* aws-wire.md 10.3: refresh the credentials, then retry once. */
    static const char *const expired[] = {"ExpiredToken", "ExpiredTokenException", "InvalidToken",
                                          "TokenRefreshRequired", NULL};
    const char *c = aws_code ? aws_code : "";
    if (in_list(c, throttling))
        return RT_AWS_ERR_THROTTLE;
    if (in_list(c, skew))
        return RT_AWS_ERR_SKEW;
    if (strcmp(c, "InvalidSignatureException") == 0 && message &&
        strcasestr(message, "signature expired"))
        return RT_AWS_ERR_SKEW;
    if (in_list(c, maybe_skew))
        return RT_AWS_ERR_MAYBE_SKEW;
    if (in_list(c, expired))
        return RT_AWS_ERR_EXPIRED;
    if (in_list(c, transient))
        return RT_AWS_ERR_TRANSIENT;
    if (http_status == 429)
        return RT_AWS_ERR_THROTTLE;
    if (http_status >= 500)
        return RT_AWS_ERR_TRANSIENT;
    return RT_AWS_ERR_FAIL;
}

int rt_aws_skew_offset(
    int64_t server_ms, int64_t sent_ms, int64_t recv_ms, bool has_age, int64_t *offset_ms)
{
    const int64_t max_rtt = 15 * 60 * 1000;
    if (server_ms <= 0 || has_age || recv_ms < sent_ms || recv_ms - sent_ms > max_rtt)
        return RT_EINVAL;
    *offset_ms = server_ms - (sent_ms + (recv_ms - sent_ms) / 2);
    return 0;
}
