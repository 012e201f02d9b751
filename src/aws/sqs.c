/*
 * sqs.c - SQS (json 1.0, AmazonSQS.<Op>, signing name sqs; aws-wire.md 7.1): the operation
 * table, the ReceiveMessage / DeleteMessage(Batch) builders and reply parsers, and the parser of
 * the S3 event notification JSON an SQS message carries (aws-wire.md 7.2). The parsers are pure
 * (no loop, no I/O) so the fuzz target tests/fuzz/fuzz_s3_event.c can drive them.
 */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "retraind/alloc.h"
#include "retraind/form.h"

#define MAX_RECORDS 1000 /* S3 puts one record in a message; a bound for hostile bodies */

const struct rt_aws_service rt_aws_sqs = {
    .id = "sqs",
    .env_id = "SQS",
    .endpoint_prefix = "sqs",
    .signing_name = "sqs",
    .protocol = RT_AWS_JSON_10,
    .target_prefix = "AmazonSQS",
};

const struct rt_aws_op rt_aws_sqs_receive_message_op = {&rt_aws_sqs, "ReceiveMessage", "POST", "/",
                                                        0};
const struct rt_aws_op rt_aws_sqs_delete_message_op = {&rt_aws_sqs, "DeleteMessage", "POST", "/",
                                                       0};
const struct rt_aws_op rt_aws_sqs_delete_message_batch_op = {&rt_aws_sqs, "DeleteMessageBatch",
                                                             "POST", "/", 0};

/* Sends op with the JSON object obj (consumed). */
static int call_json(struct rt_aws_client *c,
                     const struct rt_aws_op *op,
                     cJSON *obj,
                     int64_t timeout_ms,
                     rt_aws_done_fn *cb,
                     void *ud,
                     struct rt_aws_call **handle,
                     struct rt_error *err)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "sqs %s: out of memory", op->name);
    struct rt_aws_params p = {
        .body = text, .body_len = strlen(text), .timeout_ms = timeout_ms, .handle = handle};
    int rc = rt_aws_call(c, op, &p, cb, ud, err);
    cJSON_free(text);
    return rc;
}

int rt_aws_sqs_receive(struct rt_aws_client *c,
                       const struct rt_aws_sqs_receive_opts *o,
                       rt_aws_done_fn *cb,
                       void *ud,
                       struct rt_aws_call **handle,
                       struct rt_error *err)
{
    if (!o || !o->queue_url || !o->queue_url[0])
        return rt_error_set(err, RT_EINVAL, "sqs ReceiveMessage: no queue URL");
    int maxn = o->max_messages < 1 ? 1 : o->max_messages > 10 ? 10 : o->max_messages;
    int wait = o->wait_s < 0 ? 0 : o->wait_s > 20 ? 20 : o->wait_s;
    cJSON *obj = cJSON_CreateObject();
    cJSON *names = obj ? cJSON_AddArrayToObject(obj, "MessageSystemAttributeNames") : NULL;
    if (!names || !cJSON_AddStringToObject(obj, "QueueUrl", o->queue_url) ||
        !cJSON_AddNumberToObject(obj, "MaxNumberOfMessages", maxn) ||
        !cJSON_AddNumberToObject(obj, "WaitTimeSeconds", wait) ||
        (o->visibility_s > 0 &&
         !cJSON_AddNumberToObject(obj, "VisibilityTimeout", o->visibility_s)) ||
        !cJSON_AddItemToArray(names, cJSON_CreateString("ApproximateReceiveCount"))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    /* The HTTP read timeout above the long poll (aws-wire.md 7.1). */
    return call_json(c, &rt_aws_sqs_receive_message_op, obj, (int64_t)(wait + 10) * 1000, cb, ud,
                     handle, err);
}

int rt_aws_sqs_delete(struct rt_aws_client *c,
                      const char *queue_url,
                      const char *const *receipts,
                      size_t n,
                      rt_aws_done_fn *cb,
                      void *ud,
                      struct rt_error *err)
{
    if (!queue_url || n == 0 || n > 10)
        return rt_error_set(err, RT_EINVAL, "sqs DeleteMessage: %zu receipt handles (1 to 10)", n);
    cJSON *obj = cJSON_CreateObject();
    bool ok = obj && cJSON_AddStringToObject(obj, "QueueUrl", queue_url);
    if (ok && n == 1) {
        ok = cJSON_AddStringToObject(obj, "ReceiptHandle", receipts[0]) != NULL;
    } else if (ok) {
        cJSON *entries = cJSON_AddArrayToObject(obj, "Entries");
        ok = entries != NULL;
        for (size_t i = 0; ok && i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            char id[8];
            snprintf(id, sizeof(id), "m%zu", i);
            ok = e && cJSON_AddItemToArray(entries, e) && cJSON_AddStringToObject(e, "Id", id) &&
                 cJSON_AddStringToObject(e, "ReceiptHandle", receipts[i]);
        }
    }
    if (!ok) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return call_json(c,
                     n == 1 ? &rt_aws_sqs_delete_message_op : &rt_aws_sqs_delete_message_batch_op,
                     obj, 0, cb, ud, NULL, err);
}

/* ---- pure parsers ---- */

static char *dup_n(const char *p, size_t n)
{
    char *s = rt_malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static const char *str_item(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Returns: true when md5 (hex, any case) is the MD5 of body. */
static bool md5_matches(const char *body, size_t len, const char *md5)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    if (!EVP_Digest(body, len, d, &dn, EVP_md5(), NULL) || dn != 16 || strlen(md5) != 32)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 16; i++) {
        char a = md5[2 * i], b = md5[2 * i + 1];
        a = (char)(a >= 'A' && a <= 'F' ? a + 32 : a);
        b = (char)(b >= 'A' && b <= 'F' ? b + 32 : b);
        if (a != hex[d[i] >> 4] || b != hex[d[i] & 15])
            return false;
    }
    return true;
}

void rt_aws_sqs_messages_free(struct rt_aws_sqs_messages *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        rt_free(m->items[i].id);
        rt_free(m->items[i].receipt);
        rt_free(m->items[i].body);
    }
    rt_free(m->items);
    memset(m, 0, sizeof(*m));
}

int rt_aws_sqs_parse_receive(struct rt_str json,
                             struct rt_aws_sqs_messages *out,
                             struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(json.p, json.len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return rt_error_set(err, RT_EPARSE, "sqs ReceiveMessage: the reply is not a JSON object");
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "Messages");
    int rc = 0;
    if (!msgs || cJSON_IsNull(msgs)) {
        cJSON_Delete(root); /* nothing arrived: Messages is absent */
        return 0;
    }
    int n = cJSON_GetArraySize(msgs);
    if (!cJSON_IsArray(msgs) || n > 10) {
        cJSON_Delete(root);
        return rt_error_set(err, RT_EPARSE,
                            "sqs ReceiveMessage: Messages is not an array of at most 10");
    }
    out->items = n ? rt_calloc((size_t)n, sizeof(*out->items)) : NULL;
    if (n && !out->items) {
        cJSON_Delete(root);
        return rt_error_set(err, RT_ENOMEM, "sqs ReceiveMessage: out of memory");
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *id = str_item(m, "MessageId");
        const char *receipt = str_item(m, "ReceiptHandle");
        const char *body = str_item(m, "Body");
        const char *md5 = str_item(m, "MD5OfBody");
        if (!receipt || !receipt[0]) {
            rc = rt_error_set(err, RT_EPARSE, "sqs ReceiveMessage: a message has no ReceiptHandle");
            break;
        }
        struct rt_aws_sqs_message *x = &out->items[out->n++];
        size_t blen = body ? strlen(body) : 0;
        x->id = rt_strdup(id ? id : "");
        x->receipt = rt_strdup(receipt);
        x->body = dup_n(body ? body : "", blen);
        x->body_len = blen;
        x->has_body = body != NULL;
        x->md5_ok = body && (!md5 || md5_matches(body, blen, md5));
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(m, "Attributes");
        const char *count = str_item(attrs, "ApproximateReceiveCount");
        x->receive_count = count ? (int)strtol(count, NULL, 10) : 0;
        if (!x->id || !x->receipt || !x->body) {
            rc = rt_error_set(err, RT_ENOMEM, "sqs ReceiveMessage: out of memory");
            break;
        }
    }
    cJSON_Delete(root);
    if (rc)
        rt_aws_sqs_messages_free(out);
    return rc;
}

int rt_aws_sqs_parse_delete_batch(struct rt_str json, size_t *failed, struct rt_error *err)
{
    *failed = 0;
    cJSON *root = cJSON_ParseWithLength(json.p, json.len);
    if (!root) /* DeleteMessage: an empty body */
        return 0;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "Failed");
    int n = cJSON_IsArray(f) ? cJSON_GetArraySize(f) : 0;
    if (n > 0) {
        const cJSON *first = cJSON_GetArrayItem(f, 0);
        const char *code = str_item(first, "Code");
        const char *msg = str_item(first, "Message");
        *failed = (size_t)n;
        rt_error_set(err, RT_EAWS, "sqs DeleteMessageBatch: %d of the entries failed: %s%s%s", n,
                     code ? code : "?", msg ? ": " : "", msg ? msg : "");
    }
    cJSON_Delete(root);
    return n > 0 ? RT_EAWS : 0;
}

void rt_s3_event_free(struct rt_s3_event *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++) {
        struct rt_s3_event_record *r = &ev->records[i];
        rt_free(r->event_name);
        rt_free(r->bucket);
        rt_free(r->key);
        rt_free(r->etag);
        rt_free(r->sequencer);
    }
    rt_free(ev->records);
    memset(ev, 0, sizeof(*ev));
}

/* One Records[] element into r. Returns: 0 or RT_EPARSE / RT_ENOMEM with err. */
static int
parse_record(const cJSON *rec, size_t i, struct rt_s3_event_record *r, struct rt_error *err)
{
    if (!cJSON_IsObject(rec))
        return rt_error_set(err, RT_EPARSE, "S3 event: Records[%zu] is not an object", i);
    const char *version = str_item(rec, "eventVersion");
    if (!version || strtol(version, NULL, 10) != 2 || version[0] != '2' ||
        (version[1] != '\0' && version[1] != '.'))
        return rt_error_set(err, RT_EPARSE,
                            "S3 event: Records[%zu].eventVersion is not 2.x (only version 2 is "
                            "understood)",
                            i);
    const char *source = str_item(rec, "eventSource");
    if (source && strcmp(source, "aws:s3") != 0)
        return rt_error_set(err, RT_EPARSE, "S3 event: Records[%zu].eventSource is not aws:s3", i);
    const char *name = str_item(rec, "eventName");
    const cJSON *s3 = cJSON_GetObjectItemCaseSensitive(rec, "s3");
    const cJSON *bucket = cJSON_GetObjectItemCaseSensitive(s3, "bucket");
    const cJSON *object = cJSON_GetObjectItemCaseSensitive(s3, "object");
    const char *bname = str_item(bucket, "name");
    const char *key = str_item(object, "key");
    if (!name || !bname || !key || !key[0])
        return rt_error_set(err, RT_EPARSE,
                            "S3 event: Records[%zu] lacks eventName, s3.bucket.name or "
                            "s3.object.key",
                            i);
    const char *etag = str_item(object, "eTag");
    const char *seq = str_item(object, "sequencer");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(object, "size");
    r->size = -1;
    if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 9.0e15)
        r->size = (int64_t)size->valuedouble;
    r->event_name = rt_strdup(name);
    r->bucket = rt_strdup(bname);
    r->key = rt_strdup(key);
    r->etag = etag ? rt_strdup(etag) : NULL;
    r->sequencer = seq ? rt_strdup(seq) : NULL;
    if (!r->event_name || !r->bucket || !r->key || (etag && !r->etag) || (seq && !r->sequencer))
        return rt_error_set(err, RT_ENOMEM, "S3 event: out of memory");
    /* The key is form-encoded: '+' is a space, %2B a '+' (aws-wire.md 7.2). */
    if (rt_form_decode(r->key) != 0)
        return rt_error_set(err, RT_EPARSE,
                            "S3 event: Records[%zu].s3.object.key has a bad %%"
                            " escape",
                            i);
    /* An eTag never has quotes in an event; tolerate them anyway. */
    if (r->etag) {
        size_t n = strlen(r->etag);
        if (n >= 2 && r->etag[0] == '"' && r->etag[n - 1] == '"') {
            memmove(r->etag, r->etag + 1, n - 2);
            r->etag[n - 2] = '\0';
        }
    }
    return 0;
}

static int parse_event(const cJSON *root, int depth, struct rt_s3_event *out, struct rt_error *err)
{
    if (!cJSON_IsObject(root))
        return rt_error_set(err, RT_EPARSE, "S3 event: the body is not a JSON object");
    /* S3 -> SNS -> SQS without raw delivery: the S3 JSON is the envelope's Message string. */
    const char *type = str_item(root, "Type");
    const char *message = str_item(root, "Message");
    if (depth == 0 && type && strcmp(type, "Notification") == 0 && message) {
        cJSON *inner = cJSON_Parse(message);
        int rc = inner ? parse_event(inner, 1, out, err)
                       : rt_error_set(err, RT_EPARSE,
                                      "S3 event: the SNS envelope's Message is not JSON");
        cJSON_Delete(inner);
        return rc;
    }
    const char *event = str_item(root, "Event");
    if (event && strcmp(event, "s3:TestEvent") == 0) {
        out->test = true;
        return 0;
    }
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(root, "Records");
    if (!cJSON_IsArray(recs))
        return rt_error_set(err, RT_EPARSE, "S3 event: no Records array (and not s3:TestEvent)");
    int n = cJSON_GetArraySize(recs);
    if (n > MAX_RECORDS)
        return rt_error_set(err, RT_EPARSE, "S3 event: %d records (at most %d)", n, MAX_RECORDS);
    out->records = n ? rt_calloc((size_t)n, sizeof(*out->records)) : NULL;
    if (n && !out->records)
        return rt_error_set(err, RT_ENOMEM, "S3 event: out of memory");
    const cJSON *rec;
    cJSON_ArrayForEach(rec, recs)
    {
        int rc = parse_record(rec, out->n, &out->records[out->n], err);
        out->n++;
        if (rc)
            return rc;
    }
    return 0;
}

int rt_s3_event_parse(struct rt_str body, struct rt_s3_event *out, struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(body.p, body.len);
    if (!root)
        return rt_error_set(err, RT_EPARSE, "S3 event: the body is not JSON");
    int rc = parse_event(root, 0, out, err);
    cJSON_Delete(root);
    if (rc)
        rt_s3_event_free(out);
    return rc;
}

bool rt_s3_event_is_created(const char *event_name)
{
    return event_name && strncmp(event_name, "ObjectCreated:", 14) == 0;
}
