/*
 * s3.c - S3 (rest-xml) operation table and the few builders and parsers the store driver and
 * the tests need: Put/Get/Head/Delete/CopyObject and ListObjectsV2 (aws-wire.md 2.2-2.4).
 */
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/form.h"

const struct rt_aws_service rt_aws_s3 = {
    .id = "s3",
    .env_id = "S3",
    .endpoint_prefix = "s3",
    .signing_name = "s3",
    .protocol = RT_AWS_REST_XML,
};

const struct rt_aws_op rt_aws_s3_put_object_op = {&rt_aws_s3, "PutObject", "PUT", "/", 0};
const struct rt_aws_op rt_aws_s3_get_object_op = {&rt_aws_s3, "GetObject", "GET", "/", 0};
const struct rt_aws_op rt_aws_s3_head_object_op = {&rt_aws_s3, "HeadObject", "HEAD", "/",
                                                   RT_AWS_OP_NO_BODY_ERRORS};
const struct rt_aws_op rt_aws_s3_delete_object_op = {&rt_aws_s3, "DeleteObject", "DELETE", "/", 0};
const struct rt_aws_op rt_aws_s3_copy_object_op = {&rt_aws_s3, "CopyObject", "PUT", "/",
                                                   RT_AWS_OP_ERROR_IN_200};
const struct rt_aws_op rt_aws_s3_list_objects_v2_op = {&rt_aws_s3, "ListObjectsV2", "GET", "/",
                                                       RT_AWS_OP_ERROR_IN_200};

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
                         struct rt_error *err)
{
    struct rt_aws_params p = {.bucket = bucket,
                              .key = key,
                              .body = body ? body : "",
                              .body_len = len,
                              .content_type = content_type,
                              .headers = headers,
                              .n_headers = n_headers};
    return rt_aws_call(c, &rt_aws_s3_put_object_op, &p, cb, ud, err);
}

int rt_aws_s3_get_object(struct rt_aws_client *c,
                         const char *bucket,
                         const char *key,
                         size_t max_body,
                         rt_aws_done_fn *cb,
                         void *ud,
                         struct rt_error *err)
{
    struct rt_aws_params p = {.bucket = bucket, .key = key, .max_body = max_body};
    return rt_aws_call(c, &rt_aws_s3_get_object_op, &p, cb, ud, err);
}

int rt_aws_s3_head_object(struct rt_aws_client *c,
                          const char *bucket,
                          const char *key,
                          rt_aws_done_fn *cb,
                          void *ud,
                          struct rt_error *err)
{
    struct rt_aws_params p = {.bucket = bucket, .key = key};
    return rt_aws_call(c, &rt_aws_s3_head_object_op, &p, cb, ud, err);
}

int rt_aws_s3_delete_object(struct rt_aws_client *c,
                            const char *bucket,
                            const char *key,
                            rt_aws_done_fn *cb,
                            void *ud,
                            struct rt_error *err)
{
    struct rt_aws_params p = {.bucket = bucket, .key = key};
    return rt_aws_call(c, &rt_aws_s3_delete_object_op, &p, cb, ud, err);
}

int rt_aws_s3_copy_object(struct rt_aws_client *c,
                          const char *src_bucket,
                          const char *src_key,
                          const char *bucket,
                          const char *key,
                          rt_aws_done_fn *cb,
                          void *ud,
                          struct rt_error *err)
{
    /* x-amz-copy-source: "bucket/key" encoded like a path (safe -._~/), and signed. */
    struct rt_buf src;
    rt_buf_init(&src, 8192);
    int rc = rt_sigv4_uri_encode(rt_str_c(src_bucket), false, &src);
    if (!rc)
        rc = rt_buf_append_char(&src, '/');
    if (!rc)
        rc = rt_sigv4_uri_encode(rt_str_c(src_key), true, &src);
    if (rc) {
        rt_buf_cleanup(&src);
        return rt_error_set(err, rc, "s3 CopyObject: source name too long");
    }
    struct rt_aws_header h = {"x-amz-copy-source", src.data};
    struct rt_aws_params p = {.bucket = bucket, .key = key, .headers = &h, .n_headers = 1};
    rc = rt_aws_call(c, &rt_aws_s3_copy_object_op, &p, cb, ud, err);
    rt_buf_cleanup(&src);
    return rc;
}

/* ---- ListObjectsV2 ---- */

/* Decodes an element's text into a new string. Returns: 0, RT_EPARSE or RT_ENOMEM. */
static int text_dup(struct rt_str inner, bool url, char **out)
{
    struct rt_buf b;
    rt_buf_init(&b, inner.len + 1);
    int rc = rt_xml_text(inner, &b);
    if (rc) {
        rt_buf_cleanup(&b);
        return rc == RT_ENOMEM ? RT_ENOMEM : RT_EPARSE;
    }
    *out = rt_buf_detach(&b);
    if (!*out)
        return RT_ENOMEM;
    if (url && rt_form_decode(*out)) {
        rt_free(*out);
        *out = NULL;
        return RT_EPARSE;
    }
    return 0;
}

/* "2024-05-01T12:00:00.000Z" to epoch ms (0 when unparsable; a listing is still usable). */
static int64_t parse_time(struct rt_str inner)
{
    char t[64];
    if (inner.len >= sizeof(t))
        return 0;
    memcpy(t, inner.p, inner.len);
    t[inner.len] = '\0';
    int64_t ms = 0;
    return rt_time_parse_rfc3339(t, &ms) == 0 ? ms : 0;
}

static int parse_contents(struct rt_str el, bool url, struct rt_aws_s3_object *o)
{
    size_t pos = 0;
    struct rt_str n, in;
    int rc;
    while ((rc = rt_xml_next_child(el, &pos, &n, &in)) == 1) {
        if (rt_str_eq_c(n, "Key") && !o->key) {
            if ((rc = text_dup(in, url, &o->key)))
                return rc;
        } else if (rt_str_eq_c(n, "ETag") && !o->etag) {
            if ((rc = text_dup(in, false, &o->etag)))
                return rc;
        } else if (rt_str_eq_c(n, "Size")) {
            char num[32];
            if (in.len == 0 || in.len >= sizeof(num))
                return RT_EPARSE;
            memcpy(num, in.p, in.len);
            num[in.len] = '\0';
            char *e;
            long long v = strtoll(num, &e, 10);
            if (*e || v < 0)
                return RT_EPARSE;
            o->size = v;
        } else if (rt_str_eq_c(n, "LastModified")) {
            o->last_modified_ms = parse_time(in);
        }
    }
    if (rc < 0)
        return rc;
    return o->key ? 0 : RT_EPARSE;
}

int rt_aws_s3_parse_list(struct rt_str xml,
                         bool url_encoded,
                         struct rt_aws_s3_list *out,
                         struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct rt_str name, root;
    int rc = rt_xml_root(xml, &name, &root);
    if (rc != 1 || !rt_str_eq_c(name, "ListBucketResult"))
        return rt_error_set(err, RT_EPARSE, "s3 ListObjectsV2: reply is not a ListBucketResult");
    size_t pos = 0, cap = 0, pcap = 0;
    struct rt_str n, in;
    /* Decode only when asked for and the reply says it did encode: S3 echoes EncodingType, and
     * a clone that ignores the parameter sends raw keys that must not be form-decoded. */
    char enc[16];
    bool url = url_encoded && rt_xml_child_text(root, "EncodingType", enc, sizeof(enc)) == 1 &&
               strcmp(enc, "url") == 0;
    while ((rc = rt_xml_next_child(root, &pos, &n, &in)) == 1) {
        if (rt_str_eq_c(n, "Contents")) {
            if (out->n_objects == cap) {
                size_t nc = cap ? cap * 2 : 16;
                void *p = rt_realloc(out->objects, nc * sizeof(*out->objects));
                if (!p) {
                    rc = RT_ENOMEM;
                    break;
                }
                out->objects = p;
                cap = nc;
            }
            struct rt_aws_s3_object *o = &out->objects[out->n_objects++];
            memset(o, 0, sizeof(*o));
            if ((rc = parse_contents(in, url, o)))
                break;
        } else if (rt_str_eq_c(n, "CommonPrefixes")) {
            struct rt_str pin;
            if (rt_xml_child(in, "Prefix", &pin) != 1)
                continue;
            if (out->n_prefixes == pcap) {
                size_t nc = pcap ? pcap * 2 : 8;
                void *p = rt_realloc(out->prefixes, nc * sizeof(*out->prefixes));
                if (!p) {
                    rc = RT_ENOMEM;
                    break;
                }
                out->prefixes = p;
                pcap = nc;
            }
            out->prefixes[out->n_prefixes] = NULL;
            if ((rc = text_dup(pin, url, &out->prefixes[out->n_prefixes])))
                break;
            out->n_prefixes++;
        } else if (rt_str_eq_c(n, "IsTruncated")) {
            out->truncated = rt_str_eq_c(in, "true");
        } else if (rt_str_eq_c(n, "NextContinuationToken") && !out->next_token) {
            if ((rc = text_dup(in, false, &out->next_token)))
                break;
        }
    }
    if (rc == 0 && out->truncated && !out->next_token)
        rc = RT_EPARSE;
    if (rc) {
        rt_aws_s3_list_free(out);
        return rt_error_set(err, rc, "s3 ListObjectsV2: %s",
                            rc == RT_ENOMEM ? "out of memory" : "malformed ListBucketResult");
    }
    if (!out->truncated) {
        rt_free(out->next_token);
        out->next_token = NULL;
    }
    return 0;
}

void rt_aws_s3_list_free(struct rt_aws_s3_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_objects; i++) {
        rt_free(l->objects[i].key);
        rt_free(l->objects[i].etag);
    }
    for (size_t i = 0; i < l->n_prefixes; i++)
        rt_free(l->prefixes[i]);
    rt_free(l->objects);
    rt_free(l->prefixes);
    rt_free(l->next_token);
    memset(l, 0, sizeof(*l));
}

struct list_call {
    rt_aws_s3_list_fn *cb;
    void *ud;
};

static void on_list(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct list_call *lc = ud;
    if (status) {
        lc->cb(status, NULL, err, lc->ud);
    } else {
        struct rt_aws_s3_list list;
        struct rt_error perr;
        rt_error_clear(&perr);
        int rc = rt_aws_s3_parse_list((struct rt_str){resp->body.data, resp->body.len}, true, &list,
                                      &perr);
        if (rc) {
            perr.http_status = resp->status;
            lc->cb(rc, NULL, &perr, lc->ud);
        } else {
            lc->cb(0, &list, NULL, lc->ud);
            rt_aws_s3_list_free(&list);
        }
    }
    rt_free(lc);
}

/* Appends "&name=value" with value RFC 3986-encoded. */
static int add_q(struct rt_buf *q, const char *name, const char *value)
{
    if (!value)
        return 0;
    int rc = rt_buf_printf(q, "&%s=", name);
    return rc ? rc : rt_sigv4_uri_encode(rt_str_c(value), false, q);
}

int rt_aws_s3__list_query(const struct rt_aws_s3_list_opts *o, struct rt_buf *q)
{
    int rc = rt_buf_append_str(q, "list-type=2&encoding-type=url");
    if (!rc)
        rc = add_q(q, "prefix", o->prefix);
    if (!rc)
        rc = add_q(q, "delimiter", o->delimiter);
    if (!rc)
        rc = add_q(q, "continuation-token", o->continuation_token);
    if (!rc)
        rc = add_q(q, "start-after", o->start_after);
    if (!rc && o->max_keys > 0)
        rc = rt_buf_printf(q, "&max-keys=%d", o->max_keys);
    return rc;
}

int rt_aws_s3_list_objects_v2(struct rt_aws_client *c,
                              const char *bucket,
                              const struct rt_aws_s3_list_opts *opts,
                              rt_aws_s3_list_fn *cb,
                              void *ud,
                              struct rt_error *err)
{
    static const struct rt_aws_s3_list_opts none;
    struct rt_buf q;
    rt_buf_init(&q, 8192);
    int rc = rt_aws_s3__list_query(opts ? opts : &none, &q);
    struct list_call *lc = rc ? NULL : rt_malloc(sizeof(*lc));
    if (!lc) {
        rt_buf_cleanup(&q);
        return rt_error_set(err, rc ? rc : RT_ENOMEM, "s3 ListObjectsV2: cannot build query");
    }
    lc->cb = cb;
    lc->ud = ud;
    struct rt_aws_params p = {.bucket = bucket, .query = q.data};
    rc = rt_aws_call(c, &rt_aws_s3_list_objects_v2_op, &p, on_list, lc, err);
    rt_buf_cleanup(&q);
    if (rc)
        rt_free(lc);
    return rc;
}
