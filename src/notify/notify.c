/*
 * notify.c - event names, the text people read (email subject and body), and the log notifier.
 */
#include "retraind/notify.h"

#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"

static const char *event_names[RT_EV_COUNT] = {
    [RT_EV_CRITERIA_NOT_MET] = "training.criteria_not_met",
    [RT_EV_TRAINING_STARTED] = "training.started",
    [RT_EV_TRAINING_FINISHED] = "training.finished",
    [RT_EV_DEPLOYED] = "training.deployed",
    [RT_EV_NOT_DEPLOYED] = "training.not_deployed",
    [RT_EV_FAILED] = "workflow.failed",
};

const char *rt_event_name(enum rt_event_kind kind)
{
    return (unsigned)kind < RT_EV_COUNT ? event_names[kind] : "unknown";
}

static const char *or_none(const char *s)
{
    return s && *s ? s : "none";
}

int rt_event_format(const struct rt_event *ev, struct rt_buf *subject, struct rt_buf *body)
{
    int rc = 0;
    const char *exec = or_none(ev->exec_id);
    switch (ev->kind) {
    case RT_EV_CRITERIA_NOT_MET:
        rc =
            rt_buf_printf(subject, "[retraind] Training criteria not met (%lld of %lld new images)",
                          (long long)ev->untrained, (long long)ev->needed);
        if (!rc)
            rc = rt_buf_printf(
                body,
                "The scheduled training check found %lld labeled images, %lld of them "
                "not yet trained on.\nA training needs at least %lld untrained "
                "images (Minimum-Untrained-Images), so none was started.\n",
                (long long)ev->images, (long long)ev->untrained, (long long)ev->needed);
        break;
    case RT_EV_TRAINING_STARTED:
        rc = rt_buf_printf(subject, "[retraind] Training started: %s", or_none(ev->version));
        if (!rc)
            rc = rt_buf_printf(body, "A training of model version %s started on %lld images.\n",
                               or_none(ev->version), (long long)ev->images);
        break;
    case RT_EV_TRAINING_FINISHED:
        rc = rt_buf_printf(subject, "[retraind] Training finished: %s (F1 %.3f)",
                           or_none(ev->version), ev->f1);
        if (!rc)
            rc = rt_buf_printf(body,
                               "Model version %s finished training on %lld images.\n"
                               "Its F1 score on the held-out test images is %.3f.\n",
                               or_none(ev->version), (long long)ev->images, ev->f1);
        break;
    case RT_EV_DEPLOYED:
        rc = rt_buf_printf(subject, "[retraind] Deployed: %s (F1 %.3f)", or_none(ev->version),
                           ev->f1);
        if (!rc)
            rc = rt_buf_printf(body,
                               "Model version %s (F1 %.3f) is now the active model.\n"
                               "Previous version: %s (stopped).\n",
                               or_none(ev->version), ev->f1, or_none(ev->previous_version));
        break;
    case RT_EV_NOT_DEPLOYED:
        rc = rt_buf_printf(subject, "[retraind] Not deployed: %s (F1 %.3f below %.3f)",
                           or_none(ev->version), ev->f1, ev->min_f1);
        if (!rc)
            rc = rt_buf_printf(body,
                               "Model version %s trained with F1 %.3f, below Minimum-F1-Score "
                               "%.3f, so it was not deployed. The active model is unchanged.\n",
                               or_none(ev->version), ev->f1, ev->min_f1);
        break;
    case RT_EV_FAILED:
        rc = rt_buf_printf(subject, "[retraind] %s workflow failed in %s",
                           ev->workflow ? ev->workflow : "A", or_none(ev->state));
        if (!rc)
            rc = rt_buf_printf(body, "The %s workflow failed in state %s.\nReason: %s\n",
                               ev->workflow ? ev->workflow : "", or_none(ev->state),
                               or_none(ev->error));
        break;
    default:
        return RT_EINVAL;
    }
    if (!rc)
        rc = rt_buf_printf(body, "\nExecution: %s\nSee `retraind history %s` for its steps.\n",
                           exec, exec);
    return rc;
}

/* ---- the log notifier ---- */

struct log_notifier {
    struct rt_notifier base;
    uv_loop_t *loop;
};

struct log_send {
    uv_idle_t idle; /* defers the completion to the next loop turn */
    rt_notify_done_fn *cb;
    void *ud;
};

static void log_send_closed(uv_handle_t *h)
{
    rt_free(h->data);
}

static void log_send_done(uv_idle_t *idle)
{
    struct log_send *s = idle->data;
    uv_idle_stop(idle);
    if (s->cb)
        s->cb(0, NULL, s->ud);
    uv_close((uv_handle_t *)idle, log_send_closed);
}

static int
log_send(struct rt_notifier *n, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud)
{
    struct log_notifier *ln = (struct log_notifier *)n;
    struct rt_buf subject;
    rt_buf_init(&subject, 1024);
    struct rt_buf ignored;
    rt_buf_init(&ignored, 8192);
    rt_event_format(ev, &subject, &ignored);
    RT_LOG(RT_LOG_NOTICE, "notify", "event=%s exec=%s subject=%s", rt_event_name(ev->kind),
           rt_q(ev->exec_id), rt_q(subject.data));
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&ignored);
    struct log_send *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return RT_ENOMEM;
    s->cb = cb;
    s->ud = ud;
    uv_idle_init(ln->loop, &s->idle);
    s->idle.data = s;
    uv_idle_start(&s->idle, log_send_done);
    return 0;
}

static void log_close(struct rt_notifier *n, void (*cb)(void *ud), void *ud)
{
    rt_free(n);
    if (cb)
        cb(ud);
}

static const struct rt_notifier_ops log_ops = {
    .name = "log",
    .send = log_send,
    .close = log_close,
};

int rt_notifier_log_new(struct uv_loop_s *loop, struct rt_notifier **out)
{
    struct log_notifier *ln = rt_calloc(1, sizeof(*ln));
    if (!ln)
        return RT_ENOMEM;
    ln->base.ops = &log_ops;
    ln->loop = loop;
    *out = &ln->base;
    return 0;
}
