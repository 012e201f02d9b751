/*
 * notify.c - event names, the text people read (email subject and body), and the log notifier.
 */
#include "retraind/notify.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"
#include "retraind/loop.h"

static const char *event_names[RT_EV_COUNT] = {
    [RT_EV_CRITERIA_NOT_MET] = "training.criteria_not_met",
    [RT_EV_TRAINING_STARTED] = "training.started",
    [RT_EV_TRAINING_FINISHED] = "training.finished",
    [RT_EV_DEPLOYED] = "training.deployed",
    [RT_EV_NOT_DEPLOYED] = "training.not_deployed",
    [RT_EV_FAILED] = "workflow.failed",
    [RT_EV_PARAM_CHANGED] = "parameter.changed",
    [RT_EV_REVIEW_REQUESTED] = "review.requested",
    [RT_EV_REVIEW_ANSWERED] = "review.answered",
    [RT_EV_REVIEW_DIGEST] = "review.digest",
    [RT_EV_LABEL_JOB_DONE] = "labeling.done",
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
    double conf = 0;
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
    case RT_EV_PARAM_CHANGED:
        rc = rt_buf_printf(subject, "[retraind] Parameter %s changed: %s -> %s", or_none(ev->param),
                           or_none(ev->old_value), or_none(ev->new_value));
        if (!rc)
            rc = rt_buf_printf(body, "Parameter %s changed from %s to %s and is in effect.\n",
                               or_none(ev->param), or_none(ev->old_value), or_none(ev->new_value));
        break;
    case RT_EV_REVIEW_REQUESTED:
        /* Rounded down: 99.99 below a minimum of 100 must not read "100.0%". */
        conf = ev->confidence > 0 ? (double)(int64_t)(ev->confidence * 10) / 10 : ev->confidence;
        rc = rt_buf_printf(subject, "[retraind] Review requested: %s (%s, %.1f%%)",
                           or_none(ev->key), or_none(ev->label), conf);
        if (!rc)
            rc = rt_buf_printf(body,
                               "Model version %s labeled %s as %s with confidence %.1f%%, "
                               "below the minimum, so it needs a person's label.\n"
                               "Review task: %s (see `retraind review list`).\n",
                               or_none(ev->version), or_none(ev->key), or_none(ev->label), conf,
                               or_none(ev->task));
        break;
    case RT_EV_REVIEW_ANSWERED:
        rc = rt_buf_printf(subject, "[retraind] Review answered: %s is %s", or_none(ev->key),
                           or_none(ev->label));
        if (!rc)
            rc = ev->copy_key
                     ? rt_buf_printf(body,
                                     "Review task %s was answered: %s is %s.\n"
                                     "The image was copied into the training set as %s.\n",
                                     or_none(ev->task), or_none(ev->key), or_none(ev->label),
                                     ev->copy_key)
                     : rt_buf_printf(body,
                                     "Review task %s was answered: %s is %s.\n"
                                     "Nothing was copied into the training set.\n",
                                     or_none(ev->task), or_none(ev->key), or_none(ev->label));
        break;
    case RT_EV_REVIEW_DIGEST:
        rc = rt_buf_printf(subject, "[retraind] %lld review tasks are waiting",
                           (long long)ev->open_tasks);
        if (!rc)
            rc = rt_buf_printf(body,
                               "%lld review tasks are open; the oldest has waited %lld minutes.\n"
                               "While the queue is this long, one summary is sent per hour "
                               "instead of one message per task.\n",
                               (long long)ev->open_tasks, (long long)(ev->oldest_age_ms / 60000));
        break;
    case RT_EV_LABEL_JOB_DONE:
        if (ev->state && strcmp(ev->state, "verify") == 0) {
            rc = rt_buf_printf(subject, "[retraind] Verification job %s done: %lld moved",
                               or_none(ev->job), (long long)ev->moved);
            if (!rc)
                rc = rt_buf_printf(body,
                                   "Verification job %s checked %lld images; %lld were in the "
                                   "wrong folder and were moved to the right one.\n"
                                   "See `retraind label-job status %s` for the error rate per "
                                   "folder.\n",
                                   or_none(ev->job), (long long)ev->images, (long long)ev->moved,
                                   or_none(ev->job));
            break;
        }
        rc = rt_buf_printf(subject, "[retraind] Labeling job %s done: %lld images labeled",
                           or_none(ev->job), (long long)ev->images);
        if (!rc)
            rc = rt_buf_printf(body,
                               "Labeling job %s labeled %lld images (%lld of them by the "
                               "machine).\nOutput manifest: %s\n"
                               "See `retraind label-job status %s` for the labels and each "
                               "worker's quality.\n",
                               or_none(ev->job), (long long)ev->images, (long long)ev->machine,
                               or_none(ev->key), or_none(ev->job));
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
    /* The same id on every delivery attempt, so a reader can tell a retry from a new event. */
    if (!rc && ev->id > 0)
        rc = rt_buf_printf(body, "Notification: %lld\n", (long long)ev->id);
    return rc;
}

/* ---- events as JSON (the outbox) ---- */

enum rt_event_kind rt_event_kind_by_name(const char *name)
{
    for (int k = 0; k < RT_EV_COUNT; k++)
        if (name && strcmp(event_names[k], name) == 0)
            return (enum rt_event_kind)k;
    return RT_EV_COUNT;
}

char *rt_event_to_json(const struct rt_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "kind", rt_event_name(ev->kind)) != NULL;
    const struct {
        const char *name, *value;
    } strs[] = {{"exec", ev->exec_id},
                {"workflow", ev->workflow},
                {"state", ev->state},
                {"version", ev->version},
                {"previous", ev->previous_version},
                {"error", ev->error},
                {"param", ev->param},
                {"old", ev->old_value},
                {"new", ev->new_value},
                {"key", ev->key},
                {"task", ev->task},
                {"label", ev->label},
                {"copy_key", ev->copy_key},
                {"job", ev->job}};
    for (size_t i = 0; ok && i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i].value)
            ok = cJSON_AddStringToObject(o, strs[i].name, strs[i].value) != NULL;
    const struct {
        const char *name;
        double value;
    } nums[] = {{"f1", ev->f1},
                {"min_f1", ev->min_f1},
                {"images", (double)ev->images},
                {"untrained", (double)ev->untrained},
                {"needed", (double)ev->needed},
                {"confidence", ev->confidence},
                {"open_tasks", (double)ev->open_tasks},
                {"oldest_age_ms", (double)ev->oldest_age_ms},
                {"machine", (double)ev->machine},
                {"moved", (double)ev->moved},
                {"at", (double)ev->at_ms}};
    for (size_t i = 0; ok && i < sizeof(nums) / sizeof(nums[0]); i++)
        ok = cJSON_AddNumberToObject(o, nums[i].name, nums[i].value) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int rt_event_from_json(const char *text, struct rt_event *ev, void **holder)
{
    memset(ev, 0, sizeof(*ev));
    *holder = NULL;
    /* cJSON_Parse returns NULL for bad text and for lack of memory alike; only the second is
     * worth trying again (the outbox gives up an event that cannot be read). */
    unsigned long failed = rt_alloc_failures();
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (!o)
        return !text ? RT_EINVAL : rt_alloc_failures() != failed ? RT_ENOMEM : RT_EPARSE;
    ev->kind = rt_event_kind_by_name(str_of(o, "kind"));
    if (ev->kind == RT_EV_COUNT) {
        cJSON_Delete(o);
        return RT_EPARSE;
    }
    ev->exec_id = str_of(o, "exec");
    ev->workflow = str_of(o, "workflow");
    ev->state = str_of(o, "state");
    ev->version = str_of(o, "version");
    ev->previous_version = str_of(o, "previous");
    ev->error = str_of(o, "error");
    ev->param = str_of(o, "param");
    ev->old_value = str_of(o, "old");
    ev->new_value = str_of(o, "new");
    ev->key = str_of(o, "key");
    ev->task = str_of(o, "task");
    ev->label = str_of(o, "label");
    ev->copy_key = str_of(o, "copy_key");
    ev->job = str_of(o, "job");
    ev->machine = (int64_t)num_of(o, "machine");
    ev->moved = (int64_t)num_of(o, "moved");
    ev->confidence = num_of(o, "confidence");
    ev->open_tasks = (int64_t)num_of(o, "open_tasks");
    ev->oldest_age_ms = (int64_t)num_of(o, "oldest_age_ms");
    ev->f1 = num_of(o, "f1");
    ev->min_f1 = num_of(o, "min_f1");
    ev->images = (int64_t)num_of(o, "images");
    ev->untrained = (int64_t)num_of(o, "untrained");
    ev->needed = (int64_t)num_of(o, "needed");
    ev->at_ms = (int64_t)num_of(o, "at");
    *holder = o;
    return 0;
}

void rt_event_holder_free(void *holder)
{
    cJSON_Delete(holder);
}

/* ---- the log notifier ---- */

struct log_notifier {
    struct rt_notifier base;
    struct rt_defer_queue defer; /* completions run on a later loop turn */
    void (*close_cb)(void *ud);
    void *close_ud;
};

struct log_send {
    struct rt_deferred item;
    rt_notify_done_fn *cb;
    void *ud;
};

static void log_send_done(void *ud)
{
    struct log_send *s = ud;
    if (s->cb)
        s->cb(0, NULL, s->ud);
    rt_free(s);
}

static int
log_send(struct rt_notifier *n, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud)
{
    struct log_notifier *ln = (struct log_notifier *)n;
    struct log_send *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return RT_ENOMEM;
    struct rt_buf subject;
    rt_buf_init(&subject, 1024);
    struct rt_buf ignored;
    rt_buf_init(&ignored, 8192);
    rt_event_format(ev, &subject, &ignored);
    RT_LOG(RT_LOG_NOTICE, "notify", "event=%s exec=%s notification=%lld subject=%s",
           rt_event_name(ev->kind), rt_q(ev->exec_id), (long long)ev->id, rt_q(subject.data));
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&ignored);
    s->cb = cb;
    s->ud = ud;
    rt_defer_item(&ln->defer, &s->item, log_send_done, s);
    return 0;
}

static void log_closed(void *ud)
{
    struct log_notifier *ln = ud;
    void (*cb)(void *) = ln->close_cb;
    void *cb_ud = ln->close_ud;
    rt_free(ln);
    if (cb)
        cb(cb_ud);
}

static void log_close(struct rt_notifier *n, void (*cb)(void *ud), void *ud)
{
    struct log_notifier *ln = (struct log_notifier *)n;
    ln->close_cb = cb;
    ln->close_ud = ud;
    rt_defer_close(&ln->defer, log_closed, ln);
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
    int rc = rt_defer_init(&ln->defer, loop);
    if (rc) {
        rt_free(ln);
        return rc;
    }
    ln->base.ops = &log_ops;
    *out = &ln->base;
    return 0;
}
