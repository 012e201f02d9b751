/*
 * s3list.c - ListObjectsV2 parsed while it downloads: an expat push parser fed with each piece of
 * the reply body, handing every entry to the caller as soon as its element has closed.
 *
 * Design: memory is one entry whatever the page or the bucket holds. The parser keeps the text of
 * the element being read (bounded), the fields of the current <Contents>, the continuation token
 * and the last key handed over; nothing of a page is kept once its entries are out. Keys are
 * form-decoded when encoding-type=url was asked for and the reply's <EncodingType> says url. S3
 * sends <EncodingType> before the first <Contents>; a server that sends it after them (or never,
 * as clones that ignore the parameter do) cannot be decoded on the fly, so its entries wait in a
 * bounded buffer until the element or the end of the document settles it — that fallback holds
 * one page, never more.
 *
 * A retry of the same page (a reset or truncated body after some entries went out) parses the
 * body again from its first byte: entries up to the last key already handed over are skipped
 * (S3 lists in UTF-8 binary order, which strcmp follows), so each key is handed over once.
 *
 * Hostile input: no DOCTYPE (refused, so no entity can be declared), nesting limited to 64,
 * element text limited to 8 KiB, the fallback buffer to 32 MiB. Anything malformed ends the page
 * with RT_EPARSE and a message naming the byte and expat's reason.
 */
#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/form.h"

#define TEXT_MAX 8192
#define TOKEN_MAX 8192
#define PENDING_MAX ((size_t)32 << 20)
#define DEPTH_MAX 64

enum root_kind { ROOT_NONE = 0, ROOT_LIST, ROOT_ERROR, ROOT_OTHER };
enum in2_kind { IN2_NONE = 0, IN2_CONTENTS, IN2_PREFIXES, IN2_OTHER };
enum leaf_kind {
    LEAF_NONE = 0,
    LEAF_TRUNC,
    LEAF_TOKEN,
    LEAF_ENC,
    LEAF_KEY,
    LEAF_ETAG,
    LEAF_SIZE,
    LEAF_LM,
    LEAF_PREFIX,
    LEAF_CODE,
    LEAF_MSG,
    LEAF_RID
};

struct rt_aws_s3_list_parser {
    XML_Parser x;
    bool url_requested;
    struct rt_aws_s3_list_cbs cbs;

    /* document state */
    int depth;
    enum root_kind root;
    enum in2_kind in2;
    enum leaf_kind leaf;
    int leaf_depth;
    struct rt_buf text; /* the open leaf's text */
    /* the current <Contents> or <CommonPrefixes> */
    struct rt_buf key, etag;
    bool has_key, has_etag;
    int64_t size, mtime_ms;
    /* the page */
    bool truncated, has_token;
    struct rt_buf token;
    int enc; /* 0: not settled, 1: url, -1: not encoded */
    struct rt_buf pending;
    struct rt_error errdoc; /* an <Error> document's Code, Message, RequestId */
    uint64_t objects, prefixes;

    /* outcome */
    int fail;      /* RT_EPARSE / RT_ENOMEM (first wins) */
    char why[300]; /* its reason */
    int stop;      /* what a callback returned to stop (non-zero) */
    bool finished; /* finish ran for this body */
    uint64_t fed;  /* bytes fed in this body */

    /* across attempts of one page */
    struct rt_buf last;       /* the last key handed over */
    bool have_last;           /* ... is set */
    bool dedupe;              /* a retry: skip up to last */
    uint64_t prefixes_handed; /* common prefixes handed over (a retry skips as many) */
    uint64_t prefixes_seen;   /* in this body */
    char empty[1];            /* "" for a field that had no text */
};

/* ---- expat's allocator: rt_malloc, so tests count it ---- */

static void *mm_malloc(size_t n)
{
    return rt_malloc(n);
}
static void *mm_realloc(void *p, size_t n)
{
    return rt_realloc(p, n);
}
static void mm_free(void *p)
{
    rt_free(p);
}
static const XML_Memory_Handling_Suite mm = {mm_malloc, mm_realloc, mm_free};

static void fail(struct rt_aws_s3_list_parser *p, int code, const char *why)
{
    if (!p->fail && !p->stop) {
        p->fail = code;
        rt_snprintf(p->why, sizeof(p->why), "%s at byte %llu", why,
                    (unsigned long long)XML_GetCurrentByteIndex(p->x));
    }
    XML_StopParser(p->x, XML_FALSE);
}

static const char *local_name(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

/* The text without the whitespace around it (for numbers and flags). */
static void trimmed(const struct rt_buf *b, const char **s, size_t *len)
{
    const char *a = b->data ? b->data : "";
    size_t n = b->len;
    while (n && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
        a++, n--;
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\t' || a[n - 1] == '\n' || a[n - 1] == '\r'))
        n--;
    *s = a;
    *len = n;
}

static bool text_is(const struct rt_buf *b, const char *want)
{
    const char *s;
    size_t n;
    trimmed(b, &s, &n);
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* ---- handing entries over ---- */

/* Hands one entry over; key is NUL-terminated and writable (decoded in place). */
static void hand_over(struct rt_aws_s3_list_parser *p,
                      bool is_prefix,
                      char *key,
                      int64_t size,
                      char *etag,
                      int64_t mtime_ms,
                      bool decode)
{
    if (p->fail || p->stop)
        return;
    if (decode && rt_form_decode(key) != 0) {
        fail(p, RT_EPARSE,
             is_prefix ? "bad %-escape in a url-encoded Prefix"
                       : "bad %-escape in a url-encoded Key");
        return;
    }
    int rc = 0;
    if (is_prefix) {
        if (++p->prefixes_seen <= p->prefixes_handed)
            return; /* handed over by an earlier attempt */
        p->prefixes_handed++;
        p->prefixes++;
        if (p->cbs.prefix)
            rc = p->cbs.prefix(key, p->cbs.ud);
    } else {
        if (p->dedupe && p->have_last && strcmp(key, p->last.data ? p->last.data : "") <= 0)
            return; /* handed over by an earlier attempt */
        rt_buf_reset(&p->last);
        if (rt_buf_append(&p->last, key, strlen(key)) != 0) {
            fail(p, RT_EPARSE, "Key longer than 8192 bytes");
            return;
        }
        p->have_last = true;
        p->objects++;
        struct rt_aws_s3_object o = {
            .key = key, .size = size, .etag = etag, .last_modified_ms = mtime_ms};
        if (p->cbs.object)
            rc = p->cbs.object(&o, p->cbs.ud);
    }
    if (rc) {
        p->stop = rc;
        XML_StopParser(p->x, XML_FALSE);
    }
}

/* Pending record: is_prefix(1) size(8) mtime(8) klen(4) elen(4) key NUL etag NUL. */
#define REC_HEAD 25

static void park(struct rt_aws_s3_list_parser *p, bool is_prefix)
{
    unsigned char head[REC_HEAD];
    uint32_t kl = (uint32_t)p->key.len, el = (uint32_t)(p->has_etag ? p->etag.len : 0);
    head[0] = is_prefix;
    memcpy(head + 1, &p->size, 8);
    memcpy(head + 9, &p->mtime_ms, 8);
    memcpy(head + 17, &kl, 4);
    memcpy(head + 21, &el, 4);
    int rc = rt_buf_append(&p->pending, head, REC_HEAD);
    if (!rc)
        rc = rt_buf_append(&p->pending, p->key.data ? p->key.data : "", kl);
    if (!rc)
        rc = rt_buf_append_char(&p->pending, '\0');
    if (!rc)
        rc = rt_buf_append(&p->pending, el ? p->etag.data : "", el);
    if (!rc)
        rc = rt_buf_append_char(&p->pending, '\0');
    if (rc == RT_ENOMEM)
        fail(p, RT_ENOMEM, "out of memory");
    else if (rc)
        fail(p, RT_EPARSE, "page too large to wait for its EncodingType");
}

/* Hands the parked entries over, decoded or not, and forgets them. */
static void unpark(struct rt_aws_s3_list_parser *p, bool decode)
{
    size_t off = 0;
    while (off + REC_HEAD <= p->pending.len && !p->fail && !p->stop) {
        unsigned char *h = (unsigned char *)p->pending.data + off;
        int64_t size, mtime;
        uint32_t kl, el;
        memcpy(&size, h + 1, 8);
        memcpy(&mtime, h + 9, 8);
        memcpy(&kl, h + 17, 4);
        memcpy(&el, h + 21, 4);
        char *key = (char *)h + REC_HEAD;
        char *etag = key + kl + 1;
        hand_over(p, h[0] != 0, key, size, el ? etag : NULL, mtime, decode);
        off += REC_HEAD + kl + 1 + el + 1;
    }
    rt_buf_reset(&p->pending);
}

/* A <Contents> or <CommonPrefixes> closed. */
static void entry_done(struct rt_aws_s3_list_parser *p, bool is_prefix)
{
    if (!p->has_key) {
        if (!is_prefix)
            fail(p, RT_EPARSE, "a Contents element without Key");
        return; /* an empty CommonPrefixes is ignored */
    }
    if (p->url_requested && p->enc == 0) {
        park(p, is_prefix);
        return;
    }
    char *key = p->key.data ? p->key.data : p->empty;
    char *etag = !p->has_etag ? NULL : p->etag.data ? p->etag.data : p->empty;
    p->empty[0] = '\0';
    hand_over(p, is_prefix, key, p->size, etag, p->mtime_ms, p->url_requested && p->enc == 1);
}

/* ---- expat handlers ---- */

static void copy_field(char *out, size_t size, const struct rt_buf *b)
{
    size_t n = b->len < size - 1 ? b->len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b->data[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = '\0';
}

static void leaf_done(struct rt_aws_s3_list_parser *p)
{
    struct rt_buf *t = &p->text;
    const char *s;
    size_t n;
    switch (p->leaf) {
    case LEAF_TRUNC:
        p->truncated = text_is(t, "true");
        break;
    case LEAF_TOKEN:
        if (!p->has_token) {
            rt_buf_reset(&p->token);
            if (rt_buf_append(&p->token, t->data ? t->data : "", t->len) != 0)
                fail(p, RT_EPARSE, "NextContinuationToken too long");
            p->has_token = true;
        }
        break;
    case LEAF_ENC:
        if (p->enc == 0) {
            p->enc = text_is(t, "url") ? 1 : -1;
            unpark(p, p->url_requested && p->enc == 1);
        }
        break;
    case LEAF_KEY:
    case LEAF_PREFIX:
        if (!p->has_key) {
            rt_buf_reset(&p->key);
            if (rt_buf_append(&p->key, t->data ? t->data : "", t->len) != 0)
                fail(p, RT_EPARSE, "Key too long");
            else if (memchr(p->key.data ? p->key.data : "", '\0', p->key.len))
                fail(p, RT_EPARSE, "a NUL in a Key");
            p->has_key = true;
        }
        break;
    case LEAF_ETAG:
        if (!p->has_etag) {
            rt_buf_reset(&p->etag);
            if (rt_buf_append(&p->etag, t->data ? t->data : "", t->len) != 0)
                fail(p, RT_EPARSE, "ETag too long");
            p->has_etag = true;
        }
        break;
    case LEAF_SIZE: {
        char num[32];
        trimmed(t, &s, &n);
        if (n == 0 || n >= sizeof(num)) {
            fail(p, RT_EPARSE, "a bad Size");
            break;
        }
        memcpy(num, s, n);
        num[n] = '\0';
        char *e;
        long long v = strtoll(num, &e, 10);
        if (*e || v < 0)
            fail(p, RT_EPARSE, "a bad Size");
        else
            p->size = v;
        break;
    }
    case LEAF_LM: {
        char tm[64];
        trimmed(t, &s, &n);
        int64_t ms = 0;
        if (n < sizeof(tm)) {
            memcpy(tm, s, n);
            tm[n] = '\0';
            if (rt_time_parse_rfc3339(tm, &ms) != 0)
                ms = 0; /* a listing is still usable without it */
        }
        p->mtime_ms = ms;
        break;
    }
    case LEAF_CODE:
        copy_field(p->errdoc.aws_code, sizeof(p->errdoc.aws_code), t);
        break;
    case LEAF_MSG:
        copy_field(p->errdoc.msg, sizeof(p->errdoc.msg), t);
        break;
    case LEAF_RID:
        copy_field(p->errdoc.request_id, sizeof(p->errdoc.request_id), t);
        break;
    case LEAF_NONE:
        break;
    }
    p->leaf = LEAF_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct rt_aws_s3_list_parser *p = ud;
    (void)atts;
    if (p->fail || p->stop)
        return;
    int d = ++p->depth;
    if (d > DEPTH_MAX) {
        fail(p, RT_EPARSE, "elements nested deeper than 64");
        return;
    }
    if (p->leaf != LEAF_NONE)
        return; /* inside a leaf: its text is kept, child tags skipped */
    const char *n = local_name(name);
    if (d == 1) {
        if (strcmp(n, "ListBucketResult") == 0) {
            p->root = ROOT_LIST;
        } else if (strcmp(n, "Error") == 0) {
            p->root = ROOT_ERROR;
        } else {
            p->root = ROOT_OTHER;
            char why[160];
            rt_snprintf(why, sizeof(why), "the reply is <%.60s>, not a ListBucketResult", n);
            fail(p, RT_EPARSE, why);
        }
        return;
    }
    enum leaf_kind leaf = LEAF_NONE;
    if (d == 2 && p->root == ROOT_LIST) {
        if (strcmp(n, "Contents") == 0 || strcmp(n, "CommonPrefixes") == 0) {
            p->in2 = n[0] == 'C' && n[1] == 'o' && n[2] == 'n' ? IN2_CONTENTS : IN2_PREFIXES;
            p->has_key = p->has_etag = false;
            p->size = 0;
            p->mtime_ms = 0;
        } else {
            p->in2 = IN2_OTHER;
            if (strcmp(n, "IsTruncated") == 0)
                leaf = LEAF_TRUNC;
            else if (strcmp(n, "NextContinuationToken") == 0)
                leaf = LEAF_TOKEN;
            else if (strcmp(n, "EncodingType") == 0)
                leaf = LEAF_ENC;
        }
    } else if (d == 2 && p->root == ROOT_ERROR) {
        if (strcmp(n, "Code") == 0)
            leaf = LEAF_CODE;
        else if (strcmp(n, "Message") == 0)
            leaf = LEAF_MSG;
        else if (strcmp(n, "RequestId") == 0)
            leaf = LEAF_RID;
    } else if (d == 3 && p->in2 == IN2_CONTENTS) {
        if (strcmp(n, "Key") == 0)
            leaf = LEAF_KEY;
        else if (strcmp(n, "ETag") == 0)
            leaf = LEAF_ETAG;
        else if (strcmp(n, "Size") == 0)
            leaf = LEAF_SIZE;
        else if (strcmp(n, "LastModified") == 0)
            leaf = LEAF_LM;
    } else if (d == 3 && p->in2 == IN2_PREFIXES) {
        if (strcmp(n, "Prefix") == 0)
            leaf = LEAF_PREFIX;
    }
    if (leaf != LEAF_NONE) {
        p->leaf = leaf;
        p->leaf_depth = d;
        rt_buf_reset(&p->text);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct rt_aws_s3_list_parser *p = ud;
    (void)name;
    if (p->fail || p->stop)
        return;
    int d = p->depth--;
    if (p->leaf != LEAF_NONE) {
        if (d == p->leaf_depth)
            leaf_done(p);
        return;
    }
    if (d == 2 && p->root == ROOT_LIST) {
        if (p->in2 == IN2_CONTENTS)
            entry_done(p, false);
        else if (p->in2 == IN2_PREFIXES)
            entry_done(p, true);
        p->in2 = IN2_NONE;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct rt_aws_s3_list_parser *p = ud;
    if (p->leaf == LEAF_NONE || p->fail || p->stop || len <= 0)
        return;
    int rc = rt_buf_append(&p->text, s, (size_t)len);
    if (rc == RT_ENOMEM)
        fail(p, RT_ENOMEM, "out of memory");
    else if (rc)
        fail(p, RT_EPARSE, "element text longer than 8192 bytes");
}

static void XMLCALL on_doctype(void *ud,
                               const XML_Char *name,
                               const XML_Char *sysid,
                               const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, RT_EPARSE, "a DOCTYPE (refused)");
}

static int make_parser(struct rt_aws_s3_list_parser *p)
{
    p->x = XML_ParserCreate_MM(NULL, &mm, NULL);
    if (!p->x)
        return RT_ENOMEM;
    XML_SetUserData(p->x, p);
    XML_SetElementHandler(p->x, on_start, on_end);
    XML_SetCharacterDataHandler(p->x, on_text);
    XML_SetStartDoctypeDeclHandler(p->x, on_doctype);
    return 0;
}

/* Forgets everything of the body parsed so far (not what spans attempts). */
static void body_reset(struct rt_aws_s3_list_parser *p)
{
    p->depth = 0;
    p->root = ROOT_NONE;
    p->in2 = IN2_NONE;
    p->leaf = LEAF_NONE;
    p->has_key = p->has_etag = false;
    p->truncated = p->has_token = false;
    p->enc = 0;
    rt_buf_reset(&p->text);
    rt_buf_reset(&p->token);
    rt_buf_reset(&p->pending);
    rt_error_clear(&p->errdoc);
    p->objects = p->prefixes = 0;
    p->fail = 0;
    p->why[0] = '\0';
    p->stop = 0;
    p->finished = false;
    p->fed = 0;
    p->prefixes_seen = 0;
}

/* ---- public ---- */

int rt_aws_s3_list_parser_new(bool url_requested,
                              const struct rt_aws_s3_list_cbs *cbs,
                              struct rt_aws_s3_list_parser **out)
{
    *out = NULL;
    struct rt_aws_s3_list_parser *p = rt_calloc(1, sizeof(*p));
    if (!p)
        return RT_ENOMEM;
    p->url_requested = url_requested;
    if (cbs)
        p->cbs = *cbs;
    rt_buf_init(&p->text, TEXT_MAX);
    rt_buf_init(&p->key, TEXT_MAX);
    rt_buf_init(&p->etag, TEXT_MAX);
    rt_buf_init(&p->token, TOKEN_MAX);
    rt_buf_init(&p->pending, PENDING_MAX);
    rt_buf_init(&p->last, TEXT_MAX);
    if (make_parser(p) != 0) {
        rt_aws_s3_list_parser_free(p);
        return RT_ENOMEM;
    }
    body_reset(p);
    *out = p;
    return 0;
}

void rt_aws_s3_list_parser_free(struct rt_aws_s3_list_parser *p)
{
    if (!p)
        return;
    if (p->x)
        XML_ParserFree(p->x);
    rt_buf_cleanup(&p->text);
    rt_buf_cleanup(&p->key);
    rt_buf_cleanup(&p->etag);
    rt_buf_cleanup(&p->token);
    rt_buf_cleanup(&p->pending);
    rt_buf_cleanup(&p->last);
    rt_free(p);
}

int rt_aws_s3_list_parser_restart(struct rt_aws_s3_list_parser *p)
{
    if (p->x)
        XML_ParserFree(p->x);
    p->x = NULL;
    body_reset(p);
    p->dedupe = true;
    return make_parser(p);
}

int rt_aws_s3_list_parser_feed(struct rt_aws_s3_list_parser *p, const char *data, size_t len)
{
    if (!p->x)
        return RT_ENOMEM;
    if (p->stop)
        return RT_ECANCELED;
    if (p->fail == RT_ENOMEM)
        return RT_ENOMEM;
    if (p->fail || p->finished)
        return 0; /* already malformed: the rest is ignored, finish reports it */
    while (len > 0) {
        int n = len > (size_t)(1 << 30) ? 1 << 30 : (int)len;
        enum XML_Status st = XML_Parse(p->x, data, n, XML_FALSE);
        if (st == XML_STATUS_ERROR && !p->fail && !p->stop)
            fail(p, RT_EPARSE, XML_ErrorString(XML_GetErrorCode(p->x)));
        p->fed += (uint64_t)n;
        data += n;
        len -= (size_t)n;
        if (p->stop)
            return RT_ECANCELED;
        if (p->fail == RT_ENOMEM)
            return RT_ENOMEM;
        if (p->fail)
            return 0;
    }
    return 0;
}

int rt_aws_s3_list_parser_finish(struct rt_aws_s3_list_parser *p,
                                 struct rt_aws_s3_page *page,
                                 struct rt_error *err)
{
    memset(page, 0, sizeof(*page));
    if (!p->x)
        return rt_error_set(err, RT_ENOMEM, "s3 ListObjectsV2: out of memory");
    if (!p->fail && !p->stop && !p->finished) {
        p->finished = true;
        if (XML_Parse(p->x, "", 0, XML_TRUE) == XML_STATUS_ERROR && !p->fail && !p->stop)
            fail(p, RT_EPARSE, XML_ErrorString(XML_GetErrorCode(p->x)));
    }
    p->finished = true;
    if (!p->fail && !p->stop && p->root == ROOT_ERROR) {
        *err = p->errdoc;
        err->code = 0;
        if (!err->aws_code[0])
            rt_strlcpy(err->aws_code, "InternalError", sizeof(err->aws_code));
        char msg[sizeof(err->msg)];
        rt_strlcpy(msg, err->msg[0] ? err->msg : "no message", sizeof(msg));
        return rt_error_set(err, RT_EAWS, "an error document in a 200 reply: %s (%s)", msg,
                            err->aws_code);
    }
    if (!p->fail && !p->stop && p->truncated && !p->has_token)
        fail(p, RT_EPARSE, "IsTruncated without NextContinuationToken");
    if (!p->fail && !p->stop)
        unpark(p, false); /* no EncodingType came: the keys are as sent */
    page->stopped = p->stop != 0;
    if (p->fail)
        return rt_error_set(err, p->fail, "malformed ListBucketResult: %s", p->why);
    page->truncated = p->truncated;
    page->next_token = p->truncated && p->has_token ? p->token.data : NULL;
    page->objects = p->objects;
    page->prefixes = p->prefixes;
    return 0;
}

/* ---- the call ---- */

struct list_stream {
    struct rt_aws_s3_list_parser *p;
    struct rt_aws_s3_page page;
    rt_aws_s3_page_fn *done;
    void *ud;
};

static void ls_begin(void *ud, int attempt)
{
    struct list_stream *ls = ud;
    if (attempt > 1)
        rt_aws_s3_list_parser_restart(ls->p); /* a failure shows in feed */
}

static int ls_data(void *ud, const char *p, size_t len)
{
    struct list_stream *ls = ud;
    return rt_aws_s3_list_parser_feed(ls->p, p, len);
}

static int ls_end(void *ud, struct rt_error *err)
{
    struct list_stream *ls = ud;
    return rt_aws_s3_list_parser_finish(ls->p, &ls->page, err);
}

static void
on_list_stream(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct list_stream *ls = ud;
    (void)resp;
    if (ls->p->stop) {
        /* The caller stopped the listing from an entry callback. */
        struct rt_aws_s3_page page = {.stopped = true};
        ls->done(0, &page, NULL, ls->ud);
    } else if (status) {
        ls->done(status, NULL, err, ls->ud);
    } else {
        ls->done(0, &ls->page, NULL, ls->ud);
    }
    rt_aws_s3_list_parser_free(ls->p);
    rt_free(ls);
}

int rt_aws_s3_list_objects_v2_stream(struct rt_aws_client *c,
                                     const char *bucket,
                                     const struct rt_aws_s3_list_opts *opts,
                                     const struct rt_aws_s3_list_cbs *cbs,
                                     rt_aws_s3_page_fn *done,
                                     void *ud,
                                     struct rt_error *err)
{
    static const struct rt_aws_s3_list_opts none;
    struct rt_buf q;
    rt_buf_init(&q, 8192);
    int rc = rt_aws_s3__list_query(opts ? opts : &none, &q);
    if (rc) {
        rt_buf_cleanup(&q);
        return rt_error_set(err, rc, "s3 ListObjectsV2: cannot build query");
    }
    struct list_stream *ls = rt_calloc(1, sizeof(*ls));
    if (!ls || rt_aws_s3_list_parser_new(true, cbs, &ls->p) != 0) {
        rt_free(ls);
        rt_buf_cleanup(&q);
        return rt_error_set(err, RT_ENOMEM, "s3 ListObjectsV2: out of memory");
    }
    ls->done = done;
    ls->ud = ud;
    struct rt_aws_stream st = {.begin = ls_begin, .data = ls_data, .end = ls_end, .ud = ls};
    struct rt_aws_params p = {.bucket = bucket, .query = q.data, .stream = &st};
    rc = rt_aws_call(c, &rt_aws_s3_list_objects_v2_op, &p, on_list_stream, ls, err);
    rt_buf_cleanup(&q);
    if (rc) {
        rt_aws_s3_list_parser_free(ls->p);
        rt_free(ls);
    }
    return rc;
}
