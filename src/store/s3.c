/*
 * s3.c - the s3 store driver: store.h's operations over one S3 bucket through rt_aws_call.
 *
 * Design: every operation is one AWS call (a listing is one call per page) whose completion runs
 * on the loop thread; rt_aws_call never calls back from inside itself, so neither does the
 * driver. A listing asks for one page at a time (ListObjectsV2 with encoding-type=url, at most
 * 1,000 keys) and aws/s3list.c parses each page while it downloads: every key goes to the caller
 * as soon as its <Contents> has closed, one entry per callback, and nothing of the page is kept —
 * memory is one key whatever the page or the bucket holds. Once a page has ended the next is asked
 * for with its continuation token; the last callback (no entry, last true) follows the last page.
 * Keys are checked with rt_store_key_check before any request, and keys that come back in a
 * listing are checked too (a key this daemon would refuse is skipped with a debug line, as the
 * local store skips such names).
 *
 * Closing: AWS calls in flight cannot be cancelled one by one, so close marks the store closing
 * (no page callback runs from then on; single operations still report their result), and frees
 * it once the last call has completed; the close callback goes through the defer queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/store_s3.h"
#include "s3_int.h"

#define PAGE_MAX 1000 /* S3's own maximum per ListObjectsV2 page */

struct s3_store {
    struct rt_store base;
    uv_loop_t *loop;
    struct rt_aws_client *aws; /* borrowed */
    char *bucket;              /* owned */
    char *bucket_name;         /* owned */
    bool read_only;
    char *events_queue;       /* owned, or NULL: no event source */
    struct s3_events *events; /* the subscription, or NULL */
    bool closing;
    bool finishing; /* rt_defer_close called */
    int inflight;   /* AWS calls started and not yet completed */
    struct rt_defer_queue defer;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* One single-object operation in flight. */
struct op {
    struct s3_store *s;
    char *key; /* owned: for messages */
    rt_store_done_fn *done;
    rt_store_head_fn *head;
    struct rt_buf *body; /* get: the caller's buffer */
    const char *what;    /* "get", "put", ... */
    void *ud;
};

/* One listing. */
struct listing {
    struct s3_store *s;
    char *prefix; /* owned */
    int page_size;
    rt_store_page_fn *cb;
    void *ud;
    bool stopped; /* the callback stopped it (or the store is closing): no further call */
    uint64_t pages, keys;
};

static void store_free(void *ud)
{
    struct s3_store *s = ud;
    void (*cb)(void *) = s->close_cb;
    void *cud = s->close_ud;
    rt_free(s->bucket);
    rt_free(s->bucket_name);
    rt_free(s->events_queue);
    rt_free(s);
    if (cb)
        cb(cud);
}

/* Frees the store once closing and nothing is in flight (the defer queue calls back later). */
static void maybe_finish(struct s3_store *s)
{
    if (s->closing && s->inflight == 0 && !s->finishing) {
        s->finishing = true;
        rt_defer_close(&s->defer, store_free, s);
    }
}

static void call_ended(struct s3_store *s)
{
    s->inflight--;
    maybe_finish(s);
}

/* What an AWS failure is for the store: a missing key is RT_ENOTFOUND. */
static int map_status(int status, const struct rt_error *err)
{
    /* A missing bucket is a configuration error, not a missing key (HEAD cannot tell them
     * apart: its 404 has no body). */
    if (status && err && strcmp(err->aws_code, "NoSuchBucket") != 0 &&
        (err->http_status == 404 || strcmp(err->aws_code, "NoSuchKey") == 0 ||
         strcmp(err->aws_code, "NotFound") == 0))
        return RT_ENOTFOUND;
    return status;
}

/* Copies an AWS error into out with the store's message (key quoted safely). */
static void fail_msg(
    struct rt_error *out, int code, const struct rt_error *err, const char *what, const char *key)
{
    rt_error_clear(out);
    if (err)
        *out = *err;
    out->code = 0;
    if (code == RT_ENOTFOUND)
        rt_error_set(out, code, "s3 %s: no such key %s", what, rt_q(key));
    else
        rt_error_set(out, code, "s3 %s of %s: %s", what, rt_q(key),
                     err && err->msg[0] ? err->msg : rt_strerror(code));
}

static struct op *op_new(struct s3_store *s, const char *what, const char *key, void *ud)
{
    struct op *o = rt_calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->key = rt_strdup(key);
    if (!o->key) {
        rt_free(o);
        return NULL;
    }
    o->s = s;
    o->what = what;
    o->ud = ud;
    return o;
}

static void op_free(struct op *o)
{
    rt_free(o->key);
    rt_free(o);
}

/* Common checks of a starting call. Returns: 0 or the error (err filled). */
static int
start_check(struct s3_store *s, const char *what, const char *key, bool write, struct rt_error *err)
{
    if (s->closing)
        return rt_error_set(err, RT_ECANCELED, "s3 %s: the store is closing", what);
    if (!key)
        return rt_error_set(err, RT_EINVAL, "s3 %s: no key", what);
    int rc = rt_store_key_check(key, strlen(key), false, err);
    if (rc)
        return rc;
    if (write && s->read_only) {
        RT_LOG(RT_LOG_INFO, "store", "event=write_refused driver=s3 op=%s key=%s", what, rt_q(key));
        return rt_error_set(err, -EROFS, "s3 %s of %s: the store is read-only", what, rt_q(key));
    }
    return 0;
}

/* ---- get, put, copy, del ---- */

static void on_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct op *o = ud;
    struct s3_store *s = o->s;
    int code = map_status(status, err);
    struct rt_error e;
    rt_error_clear(&e);
    if (strcmp(o->what, "del") == 0 && code == RT_ENOTFOUND)
        code = 0; /* deleting an absent key succeeds */
    if (!code && o->body) {
        /* get: append; the request's max_body already bounded it. */
        int rc = rt_buf_append(o->body, resp->body.data, resp->body.len);
        if (rc)
            code = rc;
    }
    if (code) {
        fail_msg(&e, code, code == status ? err : NULL, o->what, o->key);
        RT_LOG(code == RT_ENOTFOUND ? RT_LOG_DEBUG : RT_LOG_WARNING, "store",
               "event=s3_failed op=%s key=%s error=%s", o->what, rt_q(o->key), rt_q(e.msg));
    }
    o->done(code, code ? &e : NULL, o->ud);
    op_free(o);
    call_ended(s);
}

static int
s3_get(struct rt_store *base, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = start_check(s, "get", key, false, &err);
    if (rc)
        return rc;
    if (body->len >= body->max_bytes)
        return RT_ETOOBIG;
    struct op *o = op_new(s, "get", key, ud);
    if (!o)
        return RT_ENOMEM;
    o->done = cb;
    o->body = body;
    /* The reply may hold what is left of the caller's cap; one byte more is RT_ETOOBIG. */
    rc =
        rt_aws_s3_get_object(s->aws, s->bucket, key, body->max_bytes - body->len, on_done, o, &err);
    if (rc) {
        op_free(o);
        return rc;
    }
    s->inflight++;
    return 0;
}

static int s3_put(struct rt_store *base,
                  const char *key,
                  const void *data,
                  size_t len,
                  const char *content_type,
                  rt_store_done_fn *cb,
                  void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = start_check(s, "put", key, true, &err);
    if (rc)
        return rc;
    struct op *o = op_new(s, "put", key, ud);
    if (!o)
        return RT_ENOMEM;
    o->done = cb;
    /* rt_aws_call copies the body and signs its SHA-256 (x-amz-content-sha256). */
    rc = rt_aws_s3_put_object(s->aws, s->bucket, key, data, len,
                              content_type ? content_type : "application/octet-stream", NULL, 0,
                              on_done, o, &err);
    if (rc) {
        op_free(o);
        return rc;
    }
    s->inflight++;
    return 0;
}

static int s3_copy(
    struct rt_store *base, const char *src_key, const char *dst_key, rt_store_done_fn *cb, void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = start_check(s, "copy", src_key, true, &err);
    if (!rc)
        rc = start_check(s, "copy", dst_key, true, &err);
    if (rc)
        return rc;
    struct op *o = op_new(s, "copy", src_key, ud);
    if (!o)
        return RT_ENOMEM;
    o->done = cb;
    rc = rt_aws_s3_copy_object(s->aws, s->bucket, src_key, s->bucket, dst_key, on_done, o, &err);
    if (rc) {
        op_free(o);
        return rc;
    }
    s->inflight++;
    return 0;
}

static int s3_del(struct rt_store *base, const char *key, rt_store_done_fn *cb, void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = start_check(s, "del", key, true, &err);
    if (rc)
        return rc;
    struct op *o = op_new(s, "del", key, ud);
    if (!o)
        return RT_ENOMEM;
    o->done = cb;
    rc = rt_aws_s3_delete_object(s->aws, s->bucket, key, on_done, o, &err);
    if (rc) {
        op_free(o);
        return rc;
    }
    s->inflight++;
    return 0;
}

/* ---- head ---- */

/* "Wed, 21 Oct 2015 07:28:00 GMT" (IMF-fixdate) to epoch ms; 0 when unparsable. */
static int64_t parse_http_date(const char *v)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (!v)
        return 0;
    const char *p = strchr(v, ',');
    if (!p)
        return 0;
    char mon[4] = {0};
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(p + 1, " %d %3s %d %d:%d:%d", &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return 0;
    const char *m = strstr(months, mon);
    if (!m || strlen(mon) != 3 || (m - months) % 3)
        return 0;
    tm.tm_mon = (int)((m - months) / 3);
    tm.tm_year -= 1900;
    time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000 : 0;
}

/* Copies an ETag without its quotes into out. */
static void etag_copy(const char *v, char *out, size_t size)
{
    size_t n = v ? strlen(v) : 0;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
}

static void on_head(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct op *o = ud;
    struct s3_store *s = o->s;
    int code = map_status(status, err);
    if (code == RT_ENOTFOUND) {
        o->head(0, false, NULL, NULL, o->ud);
    } else if (code) {
        struct rt_error e;
        fail_msg(&e, code, err, "head", o->key);
        RT_LOG(RT_LOG_WARNING, "store", "event=s3_failed op=head key=%s error=%s", rt_q(o->key),
               rt_q(e.msg));
        o->head(code, false, NULL, &e, o->ud);
    } else {
        char etag[256];
        etag_copy(rt_httpc_resp_header(resp, "ETag"), etag, sizeof(etag));
        const char *len = rt_httpc_resp_header(resp, "Content-Length");
        struct rt_store_entry e = {
            .key = o->key,
            .size = len ? strtoll(len, NULL, 10) : -1,
            .mtime_ms = parse_http_date(rt_httpc_resp_header(resp, "Last-Modified")),
            .etag = etag,
        };
        o->head(0, true, &e, NULL, o->ud);
    }
    op_free(o);
    call_ended(s);
}

static int s3_head(struct rt_store *base, const char *key, rt_store_head_fn *cb, void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = start_check(s, "head", key, false, &err);
    if (rc)
        return rc;
    struct op *o = op_new(s, "head", key, ud);
    if (!o)
        return RT_ENOMEM;
    o->head = cb;
    rc = rt_aws_s3_head_object(s->aws, s->bucket, key, on_head, o, &err);
    if (rc) {
        op_free(o);
        return rc;
    }
    s->inflight++;
    return 0;
}

/* ---- list ---- */

static void listing_free(struct listing *l)
{
    rt_free(l->prefix);
    rt_free(l);
}

static int list_page(struct listing *l, const char *token, struct rt_error *err);

/* One object, as soon as the page parser has it (inside httpc's write callback). */
static int on_object(const struct rt_aws_s3_object *ob, void *ud)
{
    struct listing *l = ud;
    struct s3_store *s = l->s;
    if (s->closing || l->stopped) {
        l->stopped = true;
        return 1;
    }
    if (rt_store_key_check(ob->key, strlen(ob->key), false, NULL) != 0) {
        RT_LOG(RT_LOG_DEBUG, "store", "event=list_skip driver=s3 key=%s", rt_q(ob->key));
        return 0;
    }
    /* The ETag without its quotes (the string is the parser's, writable during the call). */
    char *etag = ob->etag;
    if (etag) {
        size_t el = strlen(etag);
        if (el >= 2 && etag[0] == '"' && etag[el - 1] == '"') {
            etag[el - 1] = '\0';
            etag++;
        }
    }
    struct rt_store_entry e = {
        .key = ob->key, .size = ob->size, .mtime_ms = ob->last_modified_ms, .etag = etag};
    l->keys++;
    int stop = l->cb(&e, 1, false, 0, NULL, l->ud);
    if (stop || s->closing) {
        l->stopped = true; /* no further call, not even the last one */
        return 1;
    }
    return 0;
}

static void
on_page(int status, const struct rt_aws_s3_page *page, const struct rt_error *err, void *ud)
{
    struct listing *l = ud;
    struct s3_store *s = l->s;
    s->inflight--;
    if (s->closing || l->stopped || (page && page->stopped)) {
        /* no callback after close began or after the caller stopped */
        listing_free(l);
        maybe_finish(s);
        return;
    }
    if (status) {
        RT_LOG(RT_LOG_WARNING, "store",
               "event=s3_list_failed prefix=%s pages=%llu keys=%llu error=%s", rt_q(l->prefix),
               (unsigned long long)l->pages, (unsigned long long)l->keys,
               rt_q(err ? err->msg : ""));
        l->cb(NULL, 0, true, status, err, l->ud);
        listing_free(l);
        maybe_finish(s); /* the callback may have closed the store */
        return;
    }
    l->pages++;
    if (!page->truncated) {
        RT_LOG(RT_LOG_DEBUG, "store", "event=s3_list_done prefix=%s pages=%llu keys=%llu",
               rt_q(l->prefix), (unsigned long long)l->pages, (unsigned long long)l->keys);
        l->cb(NULL, 0, true, 0, NULL, l->ud);
        listing_free(l);
        maybe_finish(s);
        return;
    }
    struct rt_error e;
    rt_error_clear(&e);
    int rc = list_page(l, page->next_token, &e);
    if (rc) {
        l->cb(NULL, 0, true, rc, &e, l->ud);
        listing_free(l);
        maybe_finish(s);
    }
}

static int list_page(struct listing *l, const char *token, struct rt_error *err)
{
    struct rt_aws_s3_list_opts o = {.prefix = l->prefix[0] ? l->prefix : NULL,
                                    .continuation_token = token,
                                    .max_keys = l->page_size};
    struct rt_aws_s3_list_cbs cbs = {.object = on_object, .ud = l};
    int rc = rt_aws_s3_list_objects_v2_stream(l->s->aws, l->s->bucket, &o, &cbs, on_page, l, err);
    if (!rc)
        l->s->inflight++;
    return rc;
}

static int s3_list(struct rt_store *base,
                   const char *prefix,
                   size_t page_size,
                   unsigned flags,
                   rt_store_page_fn *cb,
                   void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    (void)flags; /* S3 returns sizes and ETags for free */
    struct rt_error err;
    rt_error_clear(&err);
    if (s->closing)
        return RT_ECANCELED;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    if (plen && rt_store_key_check(prefix, plen, true, &err) != 0)
        return RT_EKEY;
    struct listing *l = rt_calloc(1, sizeof(*l));
    if (!l)
        return RT_ENOMEM;
    l->s = s;
    l->cb = cb;
    l->ud = ud;
    l->page_size = page_size == 0 || page_size > PAGE_MAX ? PAGE_MAX : (int)page_size;
    l->prefix = rt_strdup(prefix);
    if (!l->prefix) {
        listing_free(l);
        return RT_ENOMEM;
    }
    int rc = list_page(l, NULL, &err);
    if (rc) {
        listing_free(l);
        return rc;
    }
    return 0;
}

/* ---- events (s3_events.c) ---- */

static void events_gone(void *ud)
{
    call_ended(ud); /* a subscription counts as a call in flight until it is gone */
}

static int s3_events(struct rt_store *base,
                     const char *prefix,
                     rt_store_events_fn *cb,
                     void *ud,
                     struct rt_store_events **out)
{
    struct s3_store *s = (struct s3_store *)base;
    if (s->closing)
        return RT_ECANCELED;
    if (!s->events_queue)
        return RT_ENOTIMPL;
    if (s->events || !cb)
        return RT_EINVAL;
    struct s3_events_opts o = {.aws = s->aws,
                               .queue_url = s->events_queue,
                               .bucket = s->bucket,
                               .prefix = prefix,
                               .cb = cb,
                               .ud = ud,
                               .gone = events_gone,
                               .gone_ud = s};
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt__s3_events_new(s->loop, &o, &s->events, &err);
    if (rc)
        return rc;
    s->inflight++;
    *out = (struct rt_store_events *)s->events;
    return 0;
}

static void s3_events_done(struct rt_store *base, struct rt_store_events *sub, int status)
{
    struct s3_store *s = (struct s3_store *)base;
    if (sub && (struct s3_events *)sub == s->events)
        rt__s3_events_done(s->events, status);
}

static void s3_unevents(struct rt_store *base, struct rt_store_events *sub)
{
    struct s3_store *s = (struct s3_store *)base;
    if (!sub || (struct s3_events *)sub != s->events)
        return;
    s->events = NULL;
    rt__s3_events_close((struct s3_events *)sub);
}

/* ---- close ---- */

static void s3_close(struct rt_store *base, void (*cb)(void *ud), void *ud)
{
    struct s3_store *s = (struct s3_store *)base;
    if (s->closing)
        return;
    if (s->events) {
        RT_LOG(RT_LOG_DEBUG, "store", "event=s3_events_left_open");
        s3_unevents(base, (struct rt_store_events *)s->events);
    }
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    RT_LOG(RT_LOG_DEBUG, "store", "event=s3_closing inflight=%d", s->inflight);
    maybe_finish(s);
}

static const struct rt_store_ops s3_ops = {
    .name = "s3",
    .listed_complete = true,
    .list = s3_list,
    .get = s3_get,
    .put = s3_put,
    .copy = s3_copy,
    .del = s3_del,
    .head = s3_head,
    .close = s3_close,
    .watch = NULL,
    .unwatch = NULL,
    .events = s3_events,
    .events_done = s3_events_done,
    .unevents = s3_unevents,
};

int rt_store_s3_new(struct uv_loop_s *loop,
                    const struct rt_store_s3_opts *opts,
                    struct rt_store **out,
                    struct rt_error *err)
{
    *out = NULL;
    if (!loop || !opts || !opts->aws)
        return rt_error_set(err, RT_EINVAL, "store s3: needs a loop and an AWS client");
    if (!opts->bucket || !opts->bucket[0])
        return rt_error_set(err, RT_EINVAL, "store s3: store.bucket is not set");
    struct s3_store *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return rt_error_set(err, RT_ENOMEM, "store s3: out of memory");
    s->loop = loop;
    s->aws = opts->aws;
    s->read_only = opts->read_only;
    s->bucket = rt_strdup(opts->bucket);
    s->bucket_name =
        rt_strdup(opts->bucket_name && opts->bucket_name[0] ? opts->bucket_name : opts->bucket);
    bool oom = opts->events_queue && opts->events_queue[0] &&
               !(s->events_queue = rt_strdup(opts->events_queue));
    if (oom || !s->bucket || !s->bucket_name || rt_defer_init(&s->defer, loop) != 0) {
        rt_free(s->events_queue);
        rt_free(s->bucket);
        rt_free(s->bucket_name);
        rt_free(s);
        return rt_error_set(err, RT_ENOMEM, "store s3: out of memory");
    }
    s->base.ops = &s3_ops;
    s->base.bucket_name = s->bucket_name;
    RT_LOG(RT_LOG_INFO, "store", "event=s3_open bucket=%s", rt_q(s->bucket));
    *out = &s->base;
    return 0;
}
