/*
 * fuzz_aws_error.c - fuzz target for the parsers of AWS replies: rt_aws_parse_error (every
 * protocol), the XML scanner, and the ListObjectsV2 parser.
 *
 * Input: a recorded reply as in tests/data/aws/errors/ ("protocol X" line, "--- headers" block,
 * "--- body" then the body), so the recorded cases are the seed corpus; input without that shape
 * is taken whole as the body of each protocol. Besides crashes it checks what callers rely on:
 * aws_code, msg and request_id are NUL-terminated within their arrays and hold no control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"

/* s3.c's builders call rt_aws_call; the parsers fuzzed here never do. */
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

struct hdrs {
    const char *p;
    size_t len;
    char val[256];
};

static const char *hdr(void *ud, const char *name)
{
    struct hdrs *h = ud;
    size_t n = strlen(name);
    const char *p = h->p, *end = h->p + h->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            size_t vl = len - n - 1;
            if (vl >= sizeof(h->val))
                vl = sizeof(h->val) - 1;
            memcpy(h->val, p + n + 1, vl);
            h->val[vl] = '\0';
            return h->val;
        }
        p += len + 1;
    }
    return NULL;
}

static void check_field(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n == size)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            abort();
}

static void walk(struct rt_str el, int depth)
{
    size_t pos = 0;
    struct rt_str name, inner;
    struct rt_buf b;
    rt_buf_init(&b, el.len + 1);
    rt_xml_text(el, &b);
    if (b.len > el.len)
        abort(); /* decoding never grows the text */
    rt_buf_cleanup(&b);
    while (depth < 80 && rt_xml_next_child(el, &pos, &name, &inner) == 1) {
        if (inner.p < el.p || inner.p + inner.len > el.p + el.len || pos > el.len)
            abort();
        walk(inner, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct rt_str body = {text, size};
    struct hdrs h = {"", 0, ""};
    int proto = 0;
    const char *hb = size > 0 ? memmem(text, size, "--- headers\n", 12) : NULL;
    const char *bb = size > 0 ? memmem(text, size, "--- body\n", 9) : NULL;
    if (hb && bb && bb > hb) {
        h.p = hb + 12;
        h.len = (size_t)(bb - h.p);
        body.p = bb + 9;
        body.len = size - (size_t)(body.p - text);
        static const char *const names[] = {"json10", "json11", "restjson", "restxml", "query"};
        for (int i = 0; i < 5; i++)
            if (memmem(text, (size_t)(hb - text), names[i], strlen(names[i])))
                proto = i + 1;
    }
    for (int p = 1; p <= 5; p++) {
        if (proto && p != proto)
            continue;
        struct rt_error err;
        rt_error_clear(&err);
        rt_aws_parse_error((enum rt_aws_protocol)p, 400, body, hdr, &h, &err);
        check_field(err.aws_code, sizeof(err.aws_code));
        check_field(err.msg, sizeof(err.msg));
        check_field(err.request_id, sizeof(err.request_id));
        if (!err.aws_code[0])
            abort(); /* a code is always found or made from the status */
        rt_aws_classify_code(err.aws_code, 400, err.msg);
    }
    walk(body, 0);
    struct rt_aws_s3_list l;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_aws_s3_parse_list(body, true, &l, &err) == 0) {
        for (size_t i = 0; i < l.n_objects; i++)
            if (!l.objects[i].key || l.objects[i].size < 0)
                abort();
        if (l.truncated && !l.next_token)
            abort();
        rt_aws_s3_list_free(&l);
    }
    if (rt_alloc_live() != 0)
        abort();
    return 0;
}
