/*
 * fuzz_s3_list_stream.c - fuzz target for the streaming ListObjectsV2 parser (src/aws/s3list.c).
 *
 * Input: byte 0 and 1 seed the split, the rest is the reply body. The body is parsed once whole
 * and once fed in pieces whose sizes come from the seed (1 byte up to a few hundred, as curl may
 * hand them over), and the two runs must agree: the same entries in the same order, the same
 * outcome, the same page summary. Then a third run feeds half the body, restarts (a retry) and
 * feeds it all: no entry may be handed over twice (when the keys come sorted, as S3 sends them).
 * Besides crashes and leaks it checks what callers rely on: keys are NUL-terminated strings,
 * sizes are not negative, and a page that says truncated carries a token.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"

/* s3list.c's call wrapper needs these; the parser fuzzed here never calls them. */
const struct rt_aws_op rt_aws_s3_list_objects_v2_op;
int rt_aws_call(struct rt_aws_client *c,
                const struct rt_aws_op *op,
                const struct rt_aws_params *params,
                rt_aws_done_fn *cb,
                void *ud,
                struct rt_error *err)
{
    (void)c, (void)op, (void)params, (void)cb, (void)ud;
    return rt_error_set(err, RT_ENOTIMPL, "not in the fuzz build");
}
int rt_aws_s3__list_query(const struct rt_aws_s3_list_opts *o, struct rt_buf *q)
{
    (void)o, (void)q;
    return RT_ENOTIMPL;
}

/* What a run saw: a running hash of the entries and their count. */
struct seen {
    uint64_t hash;
    long objects, prefixes;
    char last[1100];
    bool sorted;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static int on_object(const struct rt_aws_s3_object *o, void *ud)
{
    struct seen *s = ud;
    if (!o->key || o->size < 0)
        abort();
    size_t kl = strlen(o->key);
    s->hash = mix(s->hash, o->key, kl + 1);
    s->hash = mix(s->hash, &o->size, sizeof(o->size));
    s->hash = mix(s->hash, &o->last_modified_ms, sizeof(o->last_modified_ms));
    if (o->etag)
        s->hash = mix(s->hash, o->etag, strlen(o->etag) + 1);
    if (s->objects && strcmp(o->key, s->last) <= 0)
        s->sorted = false;
    if (kl < sizeof(s->last))
        memcpy(s->last, o->key, kl + 1);
    else
        s->sorted = false;
    s->objects++;
    return 0;
}

static int on_prefix(const char *prefix, void *ud)
{
    struct seen *s = ud;
    s->hash = mix(s->hash, prefix, strlen(prefix) + 1) ^ 0x55;
    s->prefixes++;
    return 0;
}

struct outcome {
    int rc;
    struct rt_aws_s3_page page;
    char token[8200];
};

/* Parses body split by the seed (0: whole). */
static void run(const uint8_t *body, size_t len, uint32_t seed, struct seen *s, struct outcome *o)
{
    memset(s, 0, sizeof(*s));
    s->hash = 0xcbf29ce484222325ULL;
    s->sorted = true;
    struct rt_aws_s3_list_cbs cbs = {.object = on_object, .prefix = on_prefix, .ud = s};
    struct rt_aws_s3_list_parser *p;
    if (rt_aws_s3_list_parser_new(true, &cbs, &p) != 0)
        abort();
    size_t off = 0;
    uint32_t x = seed | 1;
    while (off < len) {
        size_t n = len - off;
        if (seed) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            size_t want = 1 + x % (x & 0x100 ? 7 : 400);
            if (want < n)
                n = want;
        }
        int rc = rt_aws_s3_list_parser_feed(p, (const char *)body + off, n);
        if (rc != 0)
            abort(); /* nothing stops and memory does not run out here */
        off += n;
    }
    struct rt_error err;
    rt_error_clear(&err);
    o->rc = rt_aws_s3_list_parser_finish(p, &o->page, &err);
    o->token[0] = '\0';
    if (o->rc == 0) {
        if (o->page.truncated && !o->page.next_token)
            abort();
        if (o->page.next_token)
            strncat(o->token, o->page.next_token, sizeof(o->token) - 1);
        if ((long)o->page.objects != s->objects || (long)o->page.prefixes != s->prefixes)
            abort();
    } else if (!err.msg[0] || err.code != o->rc) {
        abort(); /* an error always says why */
    }
    rt_aws_s3_list_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = (uint32_t)data[0] << 8 | data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    struct seen whole, split;
    static struct outcome a, b;
    run(body, len, 0, &whole, &a);
    run(body, len, seed ? seed : 1, &split, &b);
    if (a.rc != b.rc || whole.hash != split.hash || whole.objects != split.objects ||
        whole.prefixes != split.prefixes)
        abort(); /* the split changed what was seen */
    if (a.rc == 0 && (a.page.truncated != b.page.truncated || strcmp(a.token, b.token) != 0))
        abort();

    /* A retry after half the body: each entry still once (sorted keys, as S3 sends them). */
    struct seen r;
    memset(&r, 0, sizeof(r));
    r.hash = 0xcbf29ce484222325ULL;
    r.sorted = true;
    struct rt_aws_s3_list_cbs cbs = {.object = on_object, .prefix = on_prefix, .ud = &r};
    struct rt_aws_s3_list_parser *p;
    if (rt_aws_s3_list_parser_new(true, &cbs, &p) != 0)
        abort();
    rt_aws_s3_list_parser_feed(p, (const char *)body, len / 2);
    if (rt_aws_s3_list_parser_restart(p) != 0)
        abort();
    rt_aws_s3_list_parser_feed(p, (const char *)body, len);
    struct rt_aws_s3_page page;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_aws_s3_list_parser_finish(p, &page, &err);
    if (rc == 0 && whole.sorted && (r.objects != whole.objects || r.prefixes != whole.prefixes))
        abort();
    rt_aws_s3_list_parser_free(p);
    if (rt_alloc_live() != 0)
        abort();
    return 0;
}
