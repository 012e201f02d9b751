/*
 * s3_events.c - the s3 store's event source (store.h ops->events): S3 event notifications read
 * from the SQS queue store.events_queue.
 *
 * Design: one ReceiveMessage at a time, long polling (WaitTimeSeconds 20, up to 10 messages,
 * VisibilityTimeout 60 s: the subscriber only has to journal a queue row, which takes
 * milliseconds, and a crash before DeleteMessage makes the message come back a minute later).
 * Each message body is parsed (rt_s3_event_parse: Records, s3:TestEvent, an SNS envelope) and
 * sorted:
 *   - ObjectCreated:* records of our bucket under the prefix, with an eTag and a key the store
 *     accepts, are events: the batch is handed to the subscriber, and the messages that carried
 *     them are deleted only after it calls events_done(0), i.e. after the rows are committed. An
 *     error there leaves them in the queue: they come back after the visibility timeout.
 *   - s3:TestEvent, other event names (ObjectRemoved:*), other buckets, keys outside the prefix
 *     or keys the store refuses are ignored, and their messages deleted at once (a refused key is
 *     logged; it would be skipped by a listing too).
 *   - A message that cannot be understood (not JSON, no Records, eventVersion not 2.x, a bad %
 *     escape in a key, MD5OfBody not matching) is logged with its cause and left in the queue,
 *     not deleted: it comes back after the visibility timeout, and a queue with a redrive policy
 *     moves it to its dead-letter queue after maxReceiveCount receives, where someone can look
 *     at it. A garbage message never holds up the others of its batch.
 * Errors of ReceiveMessage (a missing queue, AccessDenied, a reply that is not JSON, the network)
 * are logged with the cause and retried after a backoff (1 s doubling to 60 s, reset by a good
 * reply). No batch is received while one waits for events_done. Close cancels the long poll in
 * flight (rt_aws_call_cancel), so it never holds up a shutdown.
 */
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/log.h"
#include "s3_int.h"

#define WAIT_S 20
#define MAX_MESSAGES 10
#define VISIBILITY_S 60
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

struct s3_events {
    uv_loop_t *loop;
    struct rt_aws_client *aws;
    char *queue_url, *bucket, *prefix; /* owned */
    rt_store_events_fn *cb;
    void *ud;
    void (*gone)(void *ud);
    void *gone_ud;
    uv_timer_t timer;         /* the next receive (backoff) */
    struct rt_aws_call *recv; /* the receive in flight, or NULL */
    int calls;                /* AWS calls in flight (receive and deletes) */
    bool delivering;          /* a batch waits for events_done */
    char *held[MAX_MESSAGES]; /* receipts of the messages of that batch (owned) */
    size_t n_held;
    int64_t backoff_ms;
    bool closed, timer_open;
};

static void poll_queue(struct s3_events *e);

static void free_events(struct s3_events *e)
{
    for (size_t i = 0; i < e->n_held; i++)
        rt_free(e->held[i]);
    rt_free(e->queue_url);
    rt_free(e->bucket);
    rt_free(e->prefix);
    rt_free(e);
}

static void maybe_gone(struct s3_events *e)
{
    if (!e->closed || e->calls > 0 || e->timer_open)
        return;
    void (*gone)(void *) = e->gone;
    void *ud = e->gone_ud;
    free_events(e);
    if (gone)
        gone(ud);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct s3_events *e = h->data;
    e->timer_open = false;
    maybe_gone(e);
}

static void on_timer(uv_timer_t *t)
{
    poll_queue(t->data);
}

static void backoff(struct s3_events *e)
{
    if (e->closed)
        return;
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (e->backoff_ms > BACKOFF_MAX_MS)
        e->backoff_ms = BACKOFF_MAX_MS;
    uv_timer_start(&e->timer, on_timer, (uint64_t)e->backoff_ms, 0);
}

static void on_deleted(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct s3_events *e = ud;
    e->calls--;
    struct rt_error berr;
    rt_error_clear(&berr);
    size_t failed = 0;
    if (!status && rt_aws_sqs_parse_delete_batch(((struct rt_str){resp->body.data, resp->body.len}),
                                                 &failed, &berr) != 0) {
        status = RT_EAWS;
        err = &berr;
    }
    if (status && status != RT_ECANCELED)
        RT_LOG(RT_LOG_WARNING, "store",
               "event=sqs_delete_failed queue=%s aws_code=%s error=%s "
               "effect=\"the messages come back after the visibility timeout and are detected "
               "once\"",
               rt_q(e->queue_url), rt_q(err ? err->aws_code : ""),
               rt_q(err ? err->msg : rt_strerror(status)));
    maybe_gone(e);
}

static void delete_receipts(struct s3_events *e, char **receipts, size_t n)
{
    if (n == 0)
        return;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_aws_sqs_delete(e->aws, e->queue_url, (const char *const *)receipts, n, on_deleted,
                               e, &err);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "store", "event=sqs_delete_failed queue=%s error=%s",
               rt_q(e->queue_url), rt_q(err.msg));
        return;
    }
    e->calls++;
}

/* What to do with one record: true when it is an event for the subscriber. */
static bool record_wanted(struct s3_events *e, const struct rt_s3_event_record *r, const char *id)
{
    if (!rt_s3_event_is_created(r->event_name)) {
        RT_LOG(RT_LOG_DEBUG, "store", "event=sqs_record_ignored id=%s name=%s key=%s", rt_q(id),
               rt_q(r->event_name), rt_q(r->key));
        return false;
    }
    if (strcmp(r->bucket, e->bucket) != 0 || strncmp(r->key, e->prefix, strlen(e->prefix)) != 0) {
        RT_LOG(RT_LOG_DEBUG, "store", "event=sqs_record_ignored id=%s bucket=%s key=%s", rt_q(id),
               rt_q(r->bucket), rt_q(r->key));
        return false;
    }
    struct rt_error kerr;
    rt_error_clear(&kerr);
    if (rt_store_key_check(r->key, strlen(r->key), true, &kerr) != 0 || !r->etag || !r->etag[0]) {
        RT_LOG(RT_LOG_INFO, "store", "event=sqs_record_skipped id=%s key=%s reason=%s", rt_q(id),
               rt_q(r->key), rt_q(r->etag && r->etag[0] ? kerr.msg : "no eTag"));
        return false;
    }
    return true;
}

static void on_receive(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct s3_events *e = ud;
    e->calls--;
    e->recv = NULL;
    if (e->closed) {
        maybe_gone(e);
        return;
    }
    struct rt_aws_sqs_messages msgs;
    struct rt_error perr;
    rt_error_clear(&perr);
    if (!status && rt_aws_sqs_parse_receive(((struct rt_str){resp->body.data, resp->body.len}),
                                            &msgs, &perr) != 0) {
        status = perr.code;
        err = &perr;
    }
    if (status) {
        backoff(e);
        RT_LOG(RT_LOG_WARNING, "store",
               "event=sqs_receive_failed queue=%s aws_code=%s error=%s retry_in_ms=%lld",
               rt_q(e->queue_url), rt_q(err ? err->aws_code : ""),
               rt_q(err ? err->msg : rt_strerror(status)), (long long)e->backoff_ms);
        return;
    }
    e->backoff_ms = 0;
    struct rt_s3_event parsed[MAX_MESSAGES];
    struct rt_store_event evs[MAX_MESSAGES * 4];
    size_t n_evs = 0, n_parsed = 0;
    char *now[MAX_MESSAGES]; /* receipts to delete at once (borrowed from msgs) */
    size_t n_now = 0;
    for (size_t i = 0; i < msgs.n && i < MAX_MESSAGES; i++) {
        struct rt_aws_sqs_message *m = &msgs.items[i];
        struct rt_s3_event *ev = &parsed[n_parsed];
        struct rt_error merr;
        rt_error_clear(&merr);
        int rc = 0;
        if (!m->has_body || !m->md5_ok)
            rc = rt_error_set(&merr, RT_EPARSE, "%s",
                              m->has_body ? "the body does not match MD5OfBody" : "no Body");
        else
            rc = rt_s3_event_parse(((struct rt_str){m->body, m->body_len}), ev, &merr);
        if (rc) {
            RT_LOG(RT_LOG_WARNING, "store",
                   "event=sqs_message_malformed queue=%s id=%s receive_count=%d error=%s "
                   "action=\"left in the queue for its redrive policy (not deleted)\"",
                   rt_q(e->queue_url), rt_q(m->id), m->receive_count, rt_q(merr.msg));
            continue;
        }
        n_parsed++;
        if (ev->test)
            RT_LOG(RT_LOG_INFO, "store", "event=sqs_test_event queue=%s id=%s", rt_q(e->queue_url),
                   rt_q(m->id));
        size_t before = n_evs;
        for (size_t k = 0; k < ev->n && n_evs < sizeof(evs) / sizeof(evs[0]); k++) {
            const struct rt_s3_event_record *r = &ev->records[k];
            if (!record_wanted(e, r, m->id))
                continue;
            evs[n_evs++] = (struct rt_store_event){.key = r->key, .etag = r->etag, .size = r->size};
        }
        if (n_evs > before) {
            /* Deleted once the subscriber has recorded the events (events_done). */
            e->held[e->n_held++] = m->receipt;
            m->receipt = NULL;
        } else {
            now[n_now++] = m->receipt;
        }
    }
    RT_LOG(RT_LOG_DEBUG, "store", "event=sqs_received queue=%s messages=%zu events=%zu",
           rt_q(e->queue_url), msgs.n, n_evs);
    delete_receipts(e, now, n_now);
    if (n_evs > 0) {
        e->delivering = true;
        e->cb(evs, n_evs, e->ud); /* may call events_done, and even unevents, from inside */
    }
    for (size_t i = 0; i < n_parsed; i++)
        rt_s3_event_free(&parsed[i]);
    rt_aws_sqs_messages_free(&msgs);
    if (n_evs == 0)
        poll_queue(e);
}

static void poll_queue(struct s3_events *e)
{
    if (e->closed || e->recv || e->delivering)
        return;
    struct rt_aws_sqs_receive_opts o = {.queue_url = e->queue_url,
                                        .max_messages = MAX_MESSAGES,
                                        .wait_s = WAIT_S,
                                        .visibility_s = VISIBILITY_S};
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_aws_sqs_receive(e->aws, &o, on_receive, e, &e->recv, &err);
    if (rc) {
        e->recv = NULL;
        backoff(e);
        RT_LOG(RT_LOG_WARNING, "store",
               "event=sqs_receive_failed queue=%s error=%s retry_in_ms=%lld", rt_q(e->queue_url),
               rt_q(err.msg), (long long)e->backoff_ms);
        return;
    }
    e->calls++;
}

void rt__s3_events_done(struct s3_events *e, int status)
{
    if (!e || !e->delivering)
        return;
    e->delivering = false;
    if (status == 0) {
        delete_receipts(e, e->held, e->n_held);
    } else {
        RT_LOG(RT_LOG_WARNING, "store",
               "event=sqs_events_not_recorded queue=%s messages=%zu error=%s "
               "effect=\"left in the queue: they come back after the visibility timeout\"",
               rt_q(e->queue_url), e->n_held, rt_q(rt_strerror(status)));
    }
    for (size_t i = 0; i < e->n_held; i++)
        rt_free(e->held[i]);
    e->n_held = 0;
    if (e->closed)
        return;
    if (status)
        backoff(e);
    else
        poll_queue(e);
}

int rt__s3_events_new(uv_loop_t *loop,
                      const struct s3_events_opts *o,
                      struct s3_events **out,
                      struct rt_error *err)
{
    *out = NULL;
    struct s3_events *e = rt_calloc(1, sizeof(*e));
    if (!e)
        return rt_error_set(err, RT_ENOMEM, "store s3 events: out of memory");
    e->loop = loop;
    e->aws = o->aws;
    e->cb = o->cb;
    e->ud = o->ud;
    e->gone = o->gone;
    e->gone_ud = o->gone_ud;
    e->queue_url = rt_strdup(o->queue_url);
    e->bucket = rt_strdup(o->bucket);
    e->prefix = rt_strdup(o->prefix ? o->prefix : "");
    if (!e->queue_url || !e->bucket || !e->prefix) {
        free_events(e);
        return rt_error_set(err, RT_ENOMEM, "store s3 events: out of memory");
    }
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    e->timer_open = true;
    uv_timer_start(&e->timer, on_timer, 0, 0); /* the first receive on the next turn */
    RT_LOG(RT_LOG_NOTICE, "store", "event=sqs_events_started queue=%s key=%s wait_s=%d",
           rt_q(e->queue_url), rt_q(e->prefix), WAIT_S);
    *out = e;
    return 0;
}

void rt__s3_events_close(struct s3_events *e)
{
    if (!e || e->closed)
        return;
    e->closed = true;
    if (e->recv)
        rt_aws_call_cancel(e->recv); /* its callback comes on a later turn with RT_ECANCELED */
    uv_timer_stop(&e->timer);
    uv_close((uv_handle_t *)&e->timer, on_timer_closed);
}
