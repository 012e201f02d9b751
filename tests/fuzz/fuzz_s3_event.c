/*
 * fuzz_s3_event.c - fuzz target for the SQS side of event-driven detection: the parser of S3
 * event notification JSON (rt_s3_event_parse: Records, s3:TestEvent, an SNS envelope), the
 * ReceiveMessage reply parser (with the MD5OfBody check) and the DeleteMessageBatch reply parser.
 *
 * Besides crashes it checks what the s3 store's event source relies on: a parse either fails
 * with an empty result or gives records whose event name, bucket and key are non-NULL
 * NUL-terminated strings (the key form-decoded, so no longer than the input), a size >= -1, an
 * eTag without surrounding quotes; a receive reply gives at most 10 messages, each with a
 * receipt handle and a body of the length it says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"

/* sqs.c's builders call rt_aws_call; the parsers fuzzed here never do. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_str in = {(const char *)data, size};
    struct rt_error err;
    rt_error_clear(&err);

    struct rt_s3_event ev;
    int rc = rt_s3_event_parse(in, &ev, &err);
    if (rc) {
        if (ev.n || ev.records || ev.test || !err.msg[0])
            abort();
    } else {
        for (size_t i = 0; i < ev.n; i++) {
            const struct rt_s3_event_record *r = &ev.records[i];
            if (!r->event_name || !r->bucket || !r->key || !r->key[0] || r->size < -1)
                abort();
            if (strlen(r->key) > size)
                abort();
            size_t n = r->etag ? strlen(r->etag) : 0;
            if (n >= 2 && r->etag[0] == '"' && r->etag[n - 1] == '"')
                abort();
        }
        (void)rt_s3_event_is_created(ev.n ? ev.records[0].event_name : NULL);
    }
    rt_s3_event_free(&ev);

    struct rt_aws_sqs_messages m;
    rt_error_clear(&err);
    rc = rt_aws_sqs_parse_receive(in, &m, &err);
    if (rc && (m.n || m.items))
        abort();
    if (m.n > 10)
        abort();
    for (size_t i = 0; i < m.n; i++) {
        if (!m.items[i].receipt || !m.items[i].receipt[0] || !m.items[i].id || !m.items[i].body ||
            strlen(m.items[i].body) > m.items[i].body_len)
            abort();
        /* a message body goes to the event parser, as s3_events.c does */
        struct rt_s3_event inner;
        struct rt_error ierr;
        rt_error_clear(&ierr);
        if (rt_s3_event_parse((struct rt_str){m.items[i].body, m.items[i].body_len}, &inner,
                              &ierr) == 0)
            rt_s3_event_free(&inner);
    }
    rt_aws_sqs_messages_free(&m);

    size_t failed = 0;
    rt_error_clear(&err);
    rc = rt_aws_sqs_parse_delete_batch(in, &failed, &err);
    if ((rc == 0) != (failed == 0))
        abort();
    if (rt_alloc_live() != 0)
        abort(); /* everything parsed was freed */
    return 0;
}
