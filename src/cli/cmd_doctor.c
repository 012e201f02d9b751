/*
 * cmd_doctor.c - `retraind doctor -c FILE`: what people run when something is wrong. A
 * checklist, one line per check: "ok   ..." or "FAIL ... -> fix: ...", exit 0 only when every
 * check passed (docs/bootstrap.md).
 *
 * Design: every check is harmless. It reads what the drivers read and writes only a marker
 * object it deletes at once; the journal is opened read-only. Permissions are tried with the
 * calls the configured drivers make, through rt_aws_call and the store driver, so a refusal is
 * the one the daemon would meet; a denied call names the IAM action and says to allow it. No
 * secret is printed: the credentials line names the source and the access key's last four
 * characters.
 *
 *   config       loads and names its drivers (a config error exits 2, as every command)
 *   credentials  which source of the chain answered (AWS drivers only)
 *   region       and where it came from; the endpoint of each service the drivers use
 *   store        list and read under each prefix; write and delete of a marker object
 *   parameters   ssm: GetParametersByPath under parameters.path
 *   engine       rekognition: DescribeProjects finds engine.project
 *   review       a2i: DescribeFlowDefinition finds review.flow_definition, Active, output in the
 *                store's bucket
 *   notify       sns: GetTopicAttributes; smtp: the server answers its 220 greeting
 *   clock        the offset from the first AWS reply's Date header (over 5 minutes fails)
 *   journal      PRAGMA quick_check, read-only
 *   disk         free space in data_dir (under 1 GiB fails)
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cli.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/credentials.h"
#include "retraind/endpoint.h"
#include "retraind/form.h"
#include "retraind/journal.h"
#include "retraind/registry.h"
#include "setup.h"

#define MIN_FREE_BYTES (1024LL * 1024 * 1024)
#define MAX_SKEW_MS (5 * 60 * 1000)
#define SMTP_TIMEOUT_MS 5000

struct doc {
    struct rt_setup s;
    const struct rt_config *cfg;
    int failures;
    bool aws_ok;
    /* the first AWS reply that carried a Date header */
    bool skew_known;
    int64_t skew_ms;
    char skew_from[32];
};

static void ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ok(const char *fmt, ...)
{
    fputs("ok   ", stdout);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void fail(struct doc *d, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct doc *d, const char *fix, const char *fmt, ...)
{
    d->failures++;
    fputs("FAIL ", stdout);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" -> fix: %s\n", fix);
    fflush(stdout);
}

static bool denied_err(const struct rt_error *e)
{
    static const char *const codes[] = {"AccessDenied", "AccessDeniedException",
                                        "AuthorizationError", "UnauthorizedOperation"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(e->aws_code, codes[i]) == 0)
            return true;
    return e->http_status == 403 && strcmp(e->aws_code, "SignatureDoesNotMatch") != 0 &&
           strcmp(e->aws_code, "InvalidAccessKeyId") != 0 &&
           strcmp(e->aws_code, "RequestTimeTooSkewed") != 0;
}

/* The fix for a failed AWS call of action (an IAM action) on resource. */
static const char *fix_for(const struct rt_error *e,
                           int code,
                           const char *action,
                           const char *resource,
                           char *out,
                           size_t size)
{
    if (denied_err(e))
        rt_snprintf(out, size,
                    "allow %s on %s in the IAM policy of the identity retraind runs as "
                    "(docs/bootstrap.md lists the actions)",
                    action, resource);
    else if (code == RT_ESIGNATURE || strcmp(e->aws_code, "InvalidAccessKeyId") == 0 ||
             strcmp(e->aws_code, "UnrecognizedClientException") == 0)
        rt_snprintf(out, size,
                    "the credentials are not accepted: check the access key and secret the "
                    "credentials line names (docs/credentials.md)");
    else if (code == RT_ENETWORK || code == RT_ETIMEDOUT)
        rt_snprintf(out, size,
                    "the endpoint does not answer: check aws.region, aws.endpoints, DNS, "
                    "proxies and firewalls");
    else if (strcmp(e->aws_code, "NoSuchBucket") == 0)
        rt_snprintf(out, size, "create the bucket, or correct store.bucket");
    else if (code == RT_ETHROTTLED)
        rt_snprintf(out, size, "throttled: run doctor again in a minute");
    else
        rt_snprintf(out, size,
                    "see the message; `retraind bootstrap -c FILE` creates what is "
                    "missing");
    return out;
}

/* Notes the clock offset of the first reply with a Date header. */
static void note_skew(struct doc *d, const struct rt_setup_reply *r, const char *service)
{
    if (d->skew_known || !r->date_ms || r->recv_ms - r->sent_ms > 60000)
        return;
    d->skew_known = true;
    d->skew_ms = r->date_ms - (r->sent_ms + r->recv_ms) / 2;
    rt_strlcpy(d->skew_from, service, sizeof(d->skew_from));
}

/* ---- config, credentials, region, endpoints ---- */

static bool uses_aws(const struct rt_config *cfg)
{
    if (cfg->store.driver == RT_STORE_S3 || cfg->parameters.driver == RT_PARAMS_SSM ||
        cfg->engine.driver == RT_ENGINE_REKOGNITION || cfg->review.driver == RT_REVIEW_A2I)
        return true;
    for (int i = 0; i < cfg->n_notify; i++)
        if (cfg->notify[i].driver == RT_NOTIFY_SNS)
            return true;
    return false;
}

static void check_config(const struct rt_config *cfg)
{
    char notify[256] = "";
    for (int i = 0; i < cfg->n_notify; i++) {
        size_t n = strlen(notify);
        rt_snprintf(notify + n, sizeof(notify) - n, "%s%s", i ? "+" : "",
                    rt_config_driver_name(RT_FAMILY_NOTIFY, (int)cfg->notify[i].driver));
    }
    ok("config %s (store %s, parameters %s, engine %s, review %s, notify %s)", cfg->path,
       rt_config_driver_name(RT_FAMILY_STORE, (int)cfg->store.driver),
       rt_config_driver_name(RT_FAMILY_PARAMS, (int)cfg->parameters.driver),
       rt_config_driver_name(RT_FAMILY_ENGINE, (int)cfg->engine.driver),
       rt_config_driver_name(RT_FAMILY_REVIEW, (int)cfg->review.driver),
       notify[0] ? notify : "none");
}

static void check_credentials(struct doc *d)
{
    char source[32], tail[8];
    bool token = false;
    int64_t exp = 0;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_setup_credentials(&d->s, source, sizeof(source), tail, &token, &exp, &err);
    if (rc) {
        char msg[800];
        rt_error_format(&err, msg, sizeof(msg));
        if (rc == RT_ECONFIG)
            fail(d, "set aws.region in the config (or AWS_REGION)", "aws: %s", msg);
        else
            fail(d,
                 "give retraind credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a "
                 "profile (aws.profile or AWS_PROFILE), a web identity token, or an instance or "
                 "task role (docs/credentials.md)",
                 "credentials: %s", msg);
        return;
    }
    d->aws_ok = true;
    char until[64] = "";
    if (exp > 0) {
        char t[40];
        rt_snprintf(until, sizeof(until), ", expire %s", rt_time_rfc3339(exp, t, sizeof(t)));
    }
    ok("credentials from %s (access key ...%s, %s session token%s)", source, tail,
       token ? "with a" : "no", until);
}

struct svc_use {
    const struct rt_aws_service *svc;
    const char *config_url;
    const char *key; /* the config key */
};

static void check_region(struct doc *d)
{
    const struct rt_config *cfg = d->cfg;
    char profile_region[64];
    struct rt_error perr;
    rt_error_clear(&perr);
    const char *pr = rt_credentials_profile_region(cfg->aws.profile, profile_region,
                                                   sizeof(profile_region), &perr) == 0
                         ? profile_region
                         : NULL;
    const char *from = NULL;
    const char *region = rt_region_resolve(cfg->aws.region, pr, &from);
    if (!region) {
        fail(d, "set aws.region in the config (or AWS_REGION)", "region: none set");
        return;
    }
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_region_check(region, "region", &err)) {
        fail(d, "set aws.region to a region name such as us-east-1", "%s", err.msg);
        return;
    }
    ok("region %s (from %s)", region,
       from && strcmp(from, "config") == 0 ? "the config's aws.region"
       : from                              ? from
                                           : "?");

    struct svc_use uses[8];
    int n = 0;
    if (cfg->store.driver == RT_STORE_S3)
        uses[n++] = (struct svc_use){&rt_aws_s3, cfg->aws.endpoints.s3, "aws.endpoints.s3"};
    if (cfg->parameters.driver == RT_PARAMS_SSM)
        uses[n++] = (struct svc_use){&rt_aws_ssm, cfg->aws.endpoints.ssm, "aws.endpoints.ssm"};
    if (cfg->engine.driver == RT_ENGINE_REKOGNITION)
        uses[n++] = (struct svc_use){&rt_aws_rekognition, cfg->aws.endpoints.rekognition,
                                     "aws.endpoints.rekognition"};
    if (cfg->review.driver == RT_REVIEW_A2I) {
        uses[n++] = (struct svc_use){&rt_aws_sagemaker, cfg->aws.endpoints.sagemaker,
                                     "aws.endpoints.sagemaker"};
        uses[n++] = (struct svc_use){&rt_aws_a2i, NULL, "AWS_ENDPOINT_URL_SAGEMAKER_A2I_RUNTIME"};
    }
    for (int i = 0; i < cfg->n_notify; i++)
        if (cfg->notify[i].driver == RT_NOTIFY_SNS) {
            uses[n++] = (struct svc_use){&rt_aws_sns, cfg->aws.endpoints.sns, "aws.endpoints.sns"};
            break;
        }
    for (int i = 0; i < n; i++) {
        char url[2048];
        bool custom = false;
        rt_error_clear(&err);
        if (rt_aws_endpoint(uses[i].svc, region, uses[i].config_url, url, sizeof(url), &custom,
                            &err) != 0) {
            char fix[256];
            rt_snprintf(fix, sizeof(fix), "correct %s (an http or https URL, no query)",
                        uses[i].key);
            fail(d, fix, "endpoint %s: %s", uses[i].svc->id, err.msg);
            continue;
        }
        ok("endpoint %s %s (%s)", uses[i].svc->id, url, custom ? "configured" : "the default");
    }
}

/* ---- the store ---- */

static const char *
store_resource(const struct rt_config *cfg, const char *prefix, char *out, size_t size)
{
    if (cfg->store.driver == RT_STORE_S3)
        rt_snprintf(out, size, "arn:aws:s3:::%s/%s*", cfg->store.bucket, prefix);
    else
        rt_snprintf(out, size, "%s/%s", cfg->store.root, prefix);
    return out;
}

static void store_failed(
    struct doc *d, const char *action, const char *prefix, const struct rt_error *err, int rc)
{
    const struct rt_config *cfg = d->cfg;
    char msg[800], fix[600], res[1200];
    if (err->code)
        rt_error_format(err, msg, sizeof(msg));
    else
        rt_strlcpy(msg, rt_strerror(rc), sizeof(msg));
    if (cfg->store.driver == RT_STORE_S3) {
        if (strcmp(action, "s3:ListBucket") == 0)
            rt_snprintf(res, sizeof(res), "arn:aws:s3:::%s", cfg->store.bucket);
        else
            store_resource(cfg, prefix, res, sizeof(res));
        fix_for(err, rc, action, res, fix, sizeof(fix));
    } else {
        rt_snprintf(fix, sizeof(fix),
                    "make %s readable and writable by the user retraind runs as "
                    "(`retraind bootstrap` creates the folders)",
                    cfg->store.root);
    }
    fail(d, fix, "%s %s: %s", action, prefix, msg);
}

static void check_store(struct doc *d)
{
    const struct rt_config *cfg = d->cfg;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_setup_store(&d->s, false, &err);
    if (rc) {
        char msg[800];
        rt_error_format(&err, msg, sizeof(msg));
        fail(d, "correct the store section of the config", "store: %s", msg);
        return;
    }
    bool s3 = cfg->store.driver == RT_STORE_S3;
    const struct rt_config_prefixes *p = &cfg->store.prefixes;
    const char *prefixes[7] = {p->labeled,    p->detection,  p->results,  p->manifests,
                               p->evaluation, p->human_loop, p->unlabeled};
    for (int i = 0; i < 7; i++) {
        char *keys[1];
        size_t n = 0;
        rt_error_clear(&err);
        if ((rc = rt_setup_store_list(&d->s, prefixes[i], 1, keys, &n, &err))) {
            store_failed(d, s3 ? "s3:ListBucket" : "list", prefixes[i], &err, rc);
            continue;
        }
        if (!n) {
            ok("%s %s (empty: nothing to read)", s3 ? "s3:ListBucket" : "list", prefixes[i]);
            continue;
        }
        struct rt_buf body;
        rt_buf_init(&body, 64 * 1024);
        rt_error_clear(&err);
        rc = rt_setup_store_get(&d->s, keys[0], &body, &err);
        rt_buf_cleanup(&body);
        if (rc && rc != RT_ETOOBIG) /* too big to keep here, but it was readable */
            store_failed(d, s3 ? "s3:GetObject" : "read", keys[0], &err, rc);
        else
            ok("%s %s (read %s)", s3 ? "s3:ListBucket + s3:GetObject" : "list + read", prefixes[i],
               keys[0]);
        rt_free(keys[0]);
    }
    char marker[1200];
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '-';
    rt_snprintf(marker, sizeof(marker), "%sretraind-doctor-%s-%ld.txt", p->results, host,
                (long)getpid());
    static const char text[] = "written by retraind doctor; deleted at once\n";
    rt_error_clear(&err);
    if ((rc = rt_setup_store_put(&d->s, marker, text, sizeof(text) - 1, &err))) {
        store_failed(d, s3 ? "s3:PutObject" : "write", marker, &err, rc);
        return;
    }
    rt_error_clear(&err);
    if ((rc = rt_setup_store_del(&d->s, marker, &err))) {
        store_failed(d, s3 ? "s3:DeleteObject" : "delete", marker, &err, rc);
        return;
    }
    ok("%s %s (a marker, written and deleted)",
       s3 ? "s3:PutObject + s3:DeleteObject" : "write + delete", marker);
}

/* ---- AWS services ---- */

/* One json call; on failure a FAIL line for action on resource. Returns: the reply or NULL. */
static cJSON *json_check(struct doc *d,
                         const struct rt_aws_op *op,
                         cJSON *body,
                         const char *action,
                         const char *resource,
                         const char *what)
{
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    int rc = rt_setup_json(&d->s, op, body, &reply, &r);
    note_skew(d, &r, op->service->id);
    if (rc) {
        char msg[800], fix[600];
        fail(d, fix_for(&r.err, rc, action, resource, fix, sizeof(fix)), "%s %s: %s", action, what,
             rt_setup_why(&r, msg, sizeof(msg)));
    } else if (!reply) {
        reply = cJSON_CreateObject();
    }
    rt_setup_reply_cleanup(&r);
    return reply;
}

static void check_ssm(struct doc *d)
{
    const char *path = d->cfg->parameters.path;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Path", path);
    cJSON_AddBoolToObject(o, "Recursive", true);
    cJSON_AddNumberToObject(o, "MaxResults", 10);
    char res[1200];
    rt_snprintf(res, sizeof(res), "arn:aws:ssm:*:*:parameter%s*", path);
    cJSON *reply = json_check(d, &rt_aws_ssm_get_parameters_by_path_op, o,
                              "ssm:GetParametersByPath", res, path);
    if (!reply)
        return;
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply, "Parameters"));
    if (n)
        ok("ssm:GetParametersByPath %s (%d parameter%s on the first page)", path, n,
           n == 1 ? "" : "s");
    else
        ok("ssm:GetParametersByPath %s (none yet: the defaults apply; `retraind bootstrap` "
           "writes them)",
           path);
    cJSON_Delete(reply);
}

static void check_rekognition(struct doc *d)
{
    const char *project = d->cfg->engine.project;
    bool is_arn = strncmp(project, "arn:", 4) == 0;
    char token[2048] = "";
    for (int page = 0; page < 100; page++) {
        cJSON *o = cJSON_CreateObject();
        if (!is_arn)
            cJSON_AddItemToObject(o, "ProjectNames", cJSON_CreateStringArray(&project, 1));
        else
            cJSON_AddNumberToObject(o, "MaxResults", 100);
        if (token[0])
            cJSON_AddStringToObject(o, "NextToken", token);
        cJSON *reply = json_check(d, &rt_aws_rekognition_describe_projects_op, o,
                                  "rekognition:DescribeProjects", "*", project);
        if (!reply)
            return;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(reply, "ProjectDescriptions"))
        {
            const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "ProjectArn"));
            const char *m = a ? strstr(a, ":project/") : NULL;
            if (a && (is_arn ? strcmp(a, project) == 0
                             : m && strncmp(m + 9, project, strlen(project)) == 0 &&
                                   m[9 + strlen(project)] == '/')) {
                const char *status =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "Status"));
                ok("rekognition:DescribeProjects %s (%s%s%s)", project, a, status ? ", " : "",
                   status ? status : "");
                cJSON_Delete(reply);
                return;
            }
        }
        const char *next =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "NextToken"));
        bool more = next && next[0] && rt_strlcpy(token, next, sizeof(token)) == 0;
        cJSON_Delete(reply);
        if (!more)
            break;
    }
    fail(d,
         is_arn ? "correct engine.project, or set it to a name and run `retraind bootstrap -c "
                  "FILE`"
                : "run `retraind bootstrap -c FILE` (it creates the project)",
         "rekognition:DescribeProjects %s: no such project", project);
}

static void check_flow(struct doc *d)
{
    const struct rt_config *cfg = d->cfg;
    const char *flow = cfg->review.flow_definition;
    const char *name = flow;
    if (strncmp(flow, "arn:", 4) == 0 && strrchr(flow, '/'))
        name = strrchr(flow, '/') + 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "FlowDefinitionName", name);
    struct rt_setup_reply r;
    cJSON *reply = NULL;
    int rc = rt_setup_json(&d->s, &rt_aws_sagemaker_describe_flow_definition_op, o, &reply, &r);
    note_skew(d, &r, "sagemaker");
    if (rc) {
        char msg[800], fix[600];
        if (rt_setup_failed_with(&r, "ResourceNotFound"))
            rt_strlcpy(fix, "run `retraind bootstrap -c FILE` (it creates the flow definition)",
                       sizeof(fix));
        else
            fix_for(&r.err, rc, "sagemaker:DescribeFlowDefinition",
                    "arn:aws:sagemaker:*:*:flow-definition/*", fix, sizeof(fix));
        fail(d, fix, "sagemaker:DescribeFlowDefinition %s: %s", name,
             rt_setup_why(&r, msg, sizeof(msg)));
        rt_setup_reply_cleanup(&r);
        return;
    }
    rt_setup_reply_cleanup(&r);
    const char *status =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "FlowDefinitionStatus"));
    const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(reply, "OutputConfig"), "S3OutputPath"));
    const char *bucket = cfg->store.driver == RT_STORE_S3 ? cfg->store.bucket : cfg->store.name;
    char want[600];
    rt_snprintf(want, sizeof(want), "s3://%s/", bucket);
    if (status && strcmp(status, "Active") != 0) {
        const char *why =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "FailureReason"));
        fail(d, "wait for it to become Active, or delete it and run `retraind bootstrap -c FILE`",
             "sagemaker:DescribeFlowDefinition %s: status %s%s%s", name, status, why ? ": " : "",
             why ? why : "");
    } else if (!out || strncmp(out, want, strlen(want)) != 0) {
        fail(d,
             "the answers must land in the store's bucket: make a flow definition whose output "
             "is under s3://<store bucket>/ (`retraind bootstrap` does)",
             "sagemaker:DescribeFlowDefinition %s: output %s is not in %s", name,
             out ? out : "(none)", want);
    } else {
        ok("sagemaker:DescribeFlowDefinition %s (%s, output %s)", name, status ? status : "?", out);
    }
    cJSON_Delete(reply);
}

static void check_sns(struct doc *d, const char *topic)
{
    struct rt_buf form;
    rt_buf_init(&form, 4096);
    rt_form_add(&form, "TopicArn", topic);
    struct rt_aws_params p = {.body = form.data ? form.data : "", .body_len = form.len};
    struct rt_setup_reply r;
    int rc = rt_setup_call(&d->s, &rt_aws_sns_get_topic_attributes_op, &p, &r);
    rt_buf_cleanup(&form);
    note_skew(d, &r, "sns");
    if (rc) {
        char msg[800], fix[600];
        if (rt_setup_failed_with(&r, "NotFound"))
            rt_strlcpy(fix, "create the topic, or correct notify[].topic_arn", sizeof(fix));
        else
            fix_for(&r.err, rc, "sns:GetTopicAttributes (and sns:Publish)", topic, fix,
                    sizeof(fix));
        fail(d, fix, "sns:GetTopicAttributes %s: %s", topic, rt_setup_why(&r, msg, sizeof(msg)));
    } else {
        ok("sns:GetTopicAttributes %s", topic);
    }
    rt_setup_reply_cleanup(&r);
}

static void check_clock(struct doc *d)
{
    if (!d->skew_known && d->cfg->store.driver == RT_STORE_S3) {
        /* only the store talked to AWS, through its driver: ask S3 once (any answer has a Date) */
        struct rt_aws_params p = {.bucket = d->cfg->store.bucket,
                                  .key = d->cfg->store.prefixes.labeled};
        struct rt_setup_reply r;
        rt_setup_call(&d->s, &rt_aws_s3_head_object_op, &p, &r);
        note_skew(d, &r, "s3");
        rt_setup_reply_cleanup(&r);
    }
    if (!d->skew_known) {
        ok("clock: not measured (no AWS reply carried a Date header)");
        return;
    }
    int64_t a = d->skew_ms < 0 ? -d->skew_ms : d->skew_ms;
    if (a > MAX_SKEW_MS)
        fail(d,
             "synchronise the clock (chrony or systemd-timesyncd); AWS refuses requests more "
             "than 15 minutes off",
             "clock: %.1f s %s the %s endpoint's Date", (double)a / 1000,
             d->skew_ms > 0 ? "behind" : "ahead of", d->skew_from);
    else
        ok("clock: %.1f s %s the %s endpoint's Date (Date has whole seconds)", (double)a / 1000,
           d->skew_ms > 0 ? "behind" : "ahead of", d->skew_from);
}

/* ---- SMTP, journal, disk ---- */

/* Splits smtp://host:port (smtps://, [v6]) into host and port. Returns: 0 or RT_EINVAL. */
static int
smtp_target(const char *url, char *host, size_t hsize, char *port, size_t psize, bool *tls)
{
    const char *p = strstr(url, "://");
    if (!p)
        return RT_EINVAL;
    *tls = strncmp(url, "smtps://", 8) == 0;
    p += 3;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash))
        p = at + 1;
    const char *end = p + strcspn(p, "/?");
    const char *colon;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return RT_EINVAL;
        rt_snprintf(host, hsize, "%.*s", (int)(close - p - 1), p + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        rt_snprintf(host, hsize, "%.*s", (int)((colon ? colon : end) - p), p);
    }
    if (colon)
        rt_snprintf(port, psize, "%.*s", (int)(end - colon - 1), colon + 1);
    else
        rt_strlcpy(port, *tls ? "465" : "25", psize);
    return host[0] && port[0] ? 0 : RT_EINVAL;
}

/* Connects with a timeout and reads the first line (plain SMTP). Returns: 0, or a message. */
static int smtp_probe(
    const char *host, const char *port, bool tls, char *line, size_t lsize, char *why, size_t wsize)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g) {
        rt_snprintf(why, wsize, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, rc = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            rt_snprintf(why, wsize, "%s", rt_strerror(-errno));
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (poll(&pf, 1, SMTP_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            rt_snprintf(why, wsize, "%s", soerr ? rt_strerror(-soerr) : "connect timed out");
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    if (tls) {
        rt_strlcpy(line, "(TLS from the first byte: connected)", lsize);
        close(fd);
        return 0;
    }
    size_t got = 0;
    line[0] = '\0';
    int64_t deadline = rt_mono_ms() + SMTP_TIMEOUT_MS;
    while (got + 1 < lsize && !memchr(line, '\n', got)) {
        int64_t left = deadline - rt_mono_ms();
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) != 1)
            break;
        ssize_t k = read(fd, line + got, lsize - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        line[got] = '\0';
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "220", 3) == 0) {
        rc = 0;
        static const char quit[] = "QUIT\r\n";
        ssize_t w = write(fd, quit, sizeof(quit) - 1);
        (void)w;
    } else {
        rt_snprintf(why, wsize, "%s", got ? "it did not greet with 220" : "no greeting within 5 s");
    }
    close(fd);
    return rc;
}

static void check_smtp(struct doc *d, int index)
{
    const char *url = d->cfg->notify[index].url;
    char host[256], port[16], line[256] = "", why[300] = "";
    bool tls = false;
    char fix[300];
    rt_snprintf(fix, sizeof(fix),
                "check notify[%d].url (host and port of the mail server) and that it listens "
                "and is reachable from here",
                index);
    if (smtp_target(url, host, sizeof(host), port, sizeof(port), &tls) != 0) {
        fail(d, fix, "smtp %s: not an smtp://host:port URL", url);
        return;
    }
    if (smtp_probe(host, port, tls, line, sizeof(line), why, sizeof(why)) != 0) {
        char shown[300];
        rt_quote_bytes(line, strlen(line), 80, shown, sizeof(shown));
        fail(d, fix, "smtp %s:%s: %s%s%s", host, port, why, line[0] ? ": " : "",
             line[0] ? shown : "");
        return;
    }
    char shown[300];
    rt_quote_bytes(line, strlen(line), 80, shown, sizeof(shown));
    ok("smtp %s:%s answers %s", host, port, shown);
}

static void check_journal(struct doc *d)
{
    char path[4200];
    rt_snprintf(path, sizeof(path), "%s/%s", d->cfg->data_dir, RT_JOURNAL_FILE);
    struct stat st;
    if (stat(path, &st) != 0) {
        ok("journal %s: none yet (the daemon makes it at its first start)", path);
        return;
    }
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(d->cfg->data_dir, RT_JOURNAL_READONLY, &j, &err);
    if (rc) {
        char msg[800];
        rt_error_format(&err, msg, sizeof(msg));
        fail(d,
             "start the daemon once if it asks for an upgrade; otherwise check the file's "
             "permissions",
             "journal %s: %s", path, msg);
        return;
    }
    char first[512];
    rt_error_clear(&err);
    rc = rt_journal_quick_check(j, first, sizeof(first), &err);
    rt_journal_close(j);
    if (rc < 0)
        fail(d, "check the file's permissions and the disk", "journal %s: %s", path, err.msg);
    else if (rc > 0)
        fail(d,
             "stop the daemon, keep a copy of the file, and recover it (sqlite3 .recover); see "
             "docs/journal.md",
             "journal %s: quick_check found %d problem%s: %s", path, rc, rc == 1 ? "" : "s", first);
    else
        ok("journal %s: quick_check ok", path);
}

static void check_disk(struct doc *d)
{
    char dir[4200];
    rt_strlcpy(dir, d->cfg->data_dir, sizeof(dir));
    struct statvfs vs;
    /* data_dir may not exist yet: ask the nearest folder that does */
    while (statvfs(dir, &vs) != 0) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            rt_strlcpy(dir, "/", sizeof(dir));
            if (statvfs(dir, &vs) != 0) {
                fail(d, "check data_dir", "disk: cannot read the free space of %s: %s",
                     d->cfg->data_dir, rt_strerror(-errno));
                return;
            }
            break;
        }
        *slash = '\0';
    }
    long long free_b = (long long)vs.f_bavail * (long long)vs.f_frsize;
    double gib = (double)free_b / (1024.0 * 1024 * 1024);
    if (free_b < MIN_FREE_BYTES)
        fail(d, "free space on that file system, or move data_dir",
             "disk: %.2f GiB free in %s (under 1 GiB)", gib, dir);
    else
        ok("disk: %.1f GiB free in %s", gib, dir);
}

/* ---- the command ---- */

static const char usage[] = "usage: retraind doctor -c FILE\n";

int rt_cmd_doctor(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("doctor", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    if (a.n_words) {
        fputs(usage, stderr);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("doctor", opts, &cfg))) {
        printf("FAIL config -> fix: correct the line the message above names\n");
        return rc;
    }
    struct doc d = {.cfg = cfg};
    if ((rc = rt_setup_init(&d.s, cfg))) {
        fprintf(stderr, "retraind doctor: %s\n", rt_strerror(rc));
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    check_config(cfg);
    bool aws = uses_aws(cfg);
    if (aws) {
        check_credentials(&d);
        check_region(&d);
    }
    if (cfg->store.driver != RT_STORE_S3 || d.aws_ok)
        check_store(&d);
    if (d.aws_ok) {
        if (cfg->parameters.driver == RT_PARAMS_SSM)
            check_ssm(&d);
        if (cfg->engine.driver == RT_ENGINE_REKOGNITION)
            check_rekognition(&d);
        if (cfg->review.driver == RT_REVIEW_A2I)
            check_flow(&d);
        for (int i = 0; i < cfg->n_notify; i++)
            if (cfg->notify[i].driver == RT_NOTIFY_SNS && cfg->notify[i].topic_arn)
                check_sns(&d, cfg->notify[i].topic_arn);
    }
    for (int i = 0; i < cfg->n_notify; i++)
        if (cfg->notify[i].driver == RT_NOTIFY_SMTP && cfg->notify[i].url)
            check_smtp(&d, i);
    if (d.aws_ok)
        check_clock(&d);
    check_journal(&d);
    check_disk(&d);
    rt_setup_finish(&d.s);
    rt_config_destroy(cfg);
    if (d.failures)
        printf("%d check%s failed\n", d.failures, d.failures == 1 ? "" : "s");
    return d.failures ? RT_EXIT_FAIL : RT_EXIT_OK;
}
