/*
 * sns.c - the SNS notifier: each event becomes one Publish to the configured topic.
 *
 * Subject and body come from rt_event_format. SNS refuses a Subject of 100 characters or more or
 * one with control characters, and a Message over 262,144 bytes, so both are made to fit here
 * (rt_sns_subject, rt_sns_message): control characters become spaces, the subject is cut on a
 * UTF-8 character boundary, a long message is cut on a boundary and ends with a note saying so.
 * The call goes through rt_aws_call, whose client retries throttling, 5xx and network errors; a
 * delivery that still fails is logged and reported to the caller (the outbox redelivers it).
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/config.h"
#include "retraind/form.h"
#include "retraind/log.h"
#include "retraind/notify.h"

struct sns_notifier {
    struct rt_notifier base;
    struct rt_aws_client *aws; /* borrowed */
    char *topic_arn;
    int in_flight;
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

struct sns_send {
    struct sns_notifier *n;
    char event[48];
    rt_notify_done_fn *cb;
    void *ud;
};

/* Returns: the length of the UTF-8 sequence starting with byte c (1 for a stray byte). */
static size_t seq_len(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8)
        return 4;
    if (c >= 0xE0)
        return c < 0xF0 ? 3 : 1;
    if (c >= 0xC0)
        return 2;
    return 1;
}

int rt_sns_subject(const char *in, struct rt_buf *out)
{
    size_t chars = 0, len = strlen(in);
    int rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        unsigned char c = (unsigned char)in[i];
        size_t n = seq_len(c);
        if (i + n > len)
            break; /* a cut sequence at the end: leave it out */
        if (chars + 1 > RT_SNS_SUBJECT_MAX)
            break;
        if (c < 0x20 || c == 0x7F)
            rc = rt_buf_append_char(out, ' ');
        else if (n == 2 && c == 0xC2 && (unsigned char)in[i + 1] < 0xA0)
            rc = rt_buf_append_char(out, ' '); /* C1 controls U+0080..U+009F */
        else
            rc = rt_buf_append(out, in + i, n);
        chars++;
        i += n;
    }
    return rc;
}

int rt_sns_message(const char *in, size_t len, struct rt_buf *out)
{
    if (len <= RT_SNS_MESSAGE_MAX)
        return rt_buf_append(out, in, len);
    char note[96];
    rt_snprintf(note, sizeof(note), "\n[message truncated by retraind: %zu bytes in all]", len);
    size_t room = RT_SNS_MESSAGE_MAX - strlen(note);
    /* back off to the start of a character */
    while (room > 0 && ((unsigned char)in[room] & 0xC0) == 0x80)
        room--;
    int rc = rt_buf_append(out, in, room);
    return rc ? rc : rt_buf_append(out, note, strlen(note));
}

static void sns_free(struct sns_notifier *n)
{
    rt_free(n->topic_arn);
    rt_free(n);
}

static void maybe_finish_close(struct sns_notifier *n)
{
    if (!n->closing || n->in_flight > 0)
        return;
    void (*cb)(void *) = n->close_cb;
    void *ud = n->close_ud;
    sns_free(n);
    if (cb)
        cb(ud);
}

static void published(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct sns_send *s = ud;
    struct sns_notifier *n = s->n;
    if (status == 0) {
        char id[128] = "";
        const char *p = resp->body.data ? strstr(resp->body.data, "<MessageId>") : NULL;
        if (p) {
            p += strlen("<MessageId>");
            const char *e = strstr(p, "</MessageId>");
            if (e && (size_t)(e - p) < sizeof(id))
                memcpy(id, p, (size_t)(e - p)), id[e - p] = '\0';
        }
        RT_LOG(RT_LOG_INFO, "notify", "event=published driver=sns notification=%s message_id=%s",
               s->event, rt_q(id));
    } else {
        char msg[700];
        rt_error_format(err, msg, sizeof(msg));
        RT_LOG(RT_LOG_WARNING, "notify", "event=publish_failed driver=sns notification=%s error=%s",
               s->event, rt_q(msg));
    }
    if (s->cb)
        s->cb(status, err, s->ud);
    rt_free(s);
    n->in_flight--;
    maybe_finish_close(n);
}

static int
sns_send(struct rt_notifier *base, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud)
{
    struct sns_notifier *n = (struct sns_notifier *)base;
    if (n->closing)
        return RT_ECANCELED;
    struct rt_buf subject, body, subj, msg, form;
    rt_buf_init(&subject, 16u << 20);
    rt_buf_init(&body, 16u << 20);
    rt_buf_init(&subj, 1024);
    rt_buf_init(&msg, RT_SNS_MESSAGE_MAX);
    rt_buf_init(&form, 4 * RT_SNS_MESSAGE_MAX);
    int rc = rt_event_format(ev, &subject, &body);
    if (!rc)
        rc = rt_sns_subject(subject.data ? subject.data : "", &subj);
    if (!rc)
        rc = rt_sns_message(body.data ? body.data : "", body.len, &msg);
    if (!rc)
        rc = rt_form_add(&form, "TopicArn", n->topic_arn);
    if (!rc && subj.len > 0)
        rc = rt_form_add(&form, "Subject", subj.data);
    if (!rc)
        rc = rt_form_add(&form, "Message", msg.len > 0 ? msg.data : "(empty)");
    struct sns_send *s = NULL;
    if (!rc) {
        s = rt_calloc(1, sizeof(*s));
        if (!s)
            rc = RT_ENOMEM;
    }
    if (!rc) {
        s->n = n;
        s->cb = cb;
        s->ud = ud;
        rt_strlcpy(s->event, rt_event_name(ev->kind), sizeof(s->event));
        struct rt_aws_params p = {.body = form.data, .body_len = form.len};
        struct rt_error err;
        rt_error_clear(&err);
        rc = rt_aws_call(n->aws, &rt_aws_sns_publish_op, &p, published, s, &err);
        if (rc) {
            char m[700];
            rt_error_format(&err, m, sizeof(m));
            RT_LOG(RT_LOG_WARNING, "notify",
                   "event=publish_failed driver=sns notification=%s error=%s", s->event, rt_q(m));
            rt_free(s);
        } else {
            n->in_flight++;
        }
    }
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&body);
    rt_buf_cleanup(&subj);
    rt_buf_cleanup(&msg);
    rt_buf_cleanup(&form);
    return rc;
}

static void sns_close(struct rt_notifier *base, void (*cb)(void *ud), void *ud)
{
    struct sns_notifier *n = (struct sns_notifier *)base;
    n->closing = true;
    n->close_cb = cb;
    n->close_ud = ud;
    maybe_finish_close(n);
}

static const struct rt_notifier_ops sns_ops = {
    .name = "sns",
    .send = sns_send,
    .close = sns_close,
};

int rt_notifier_sns_new(struct rt_aws_client *aws,
                        const char *topic_arn,
                        struct rt_notifier **out,
                        struct rt_error *err)
{
    *out = NULL;
    if (!aws)
        return rt_error_set(err, RT_EINVAL, "notify sns: no AWS client");
    if (!topic_arn || strncmp(topic_arn, "arn:", 4) != 0)
        return rt_error_set(err, RT_ECONFIG, "notify sns: topic_arn must be an ARN (arn:...)");
    struct sns_notifier *n = rt_calloc(1, sizeof(*n));
    if (!n || !(n->topic_arn = rt_strdup(topic_arn))) {
        rt_free(n);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    n->base.ops = &sns_ops;
    n->aws = aws;
    RT_LOG(RT_LOG_INFO, "notify", "event=notifier_ready driver=sns topic=%s", rt_q(topic_arn));
    *out = &n->base;
    return 0;
}
