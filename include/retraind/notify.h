/*
 * notify.h - telling people what happened: events, their text, and notifier drivers.
 *
 * The daemon owns a list of notifiers (log, smtp, sns) and sends each event to all of them.
 * A notifier failure is logged and never fails the workflow that raised the event.
 */
#ifndef RETRAIND_NOTIFY_H
#define RETRAIND_NOTIFY_H

#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

struct uv_loop_s;
struct rt_config_notify;
struct rt_notifier;

enum rt_event_kind {
    RT_EV_CRITERIA_NOT_MET = 0, /* images, untrained, needed */
    RT_EV_TRAINING_STARTED,     /* version, images */
    RT_EV_TRAINING_FINISHED,    /* version, f1, images */
    RT_EV_DEPLOYED,             /* version, f1, previous_version (may be NULL) */
    RT_EV_NOT_DEPLOYED,         /* version, f1, min_f1 */
    RT_EV_FAILED,               /* state, error */
    RT_EV_PARAM_CHANGED,        /* param, old_value, new_value */
    RT_EV_REVIEW_REQUESTED,     /* key, task, label (the model's), confidence, version */
    RT_EV_REVIEW_ANSWERED,      /* key, task, label (the answer), copy_key (NULL: not copied) */
    RT_EV_REVIEW_DIGEST,        /* open_tasks, oldest_age_ms */
    RT_EV_LABEL_JOB_DONE,       /* job, state (its kind), images, machine, moved, key (manifest) */
    RT_EV_COUNT
};

struct rt_event {
    enum rt_event_kind kind;
    int64_t id;                   /* the notification's stable id (the outbox row); 0 = none */
    const char *exec_id;          /* borrowed */
    const char *workflow;         /* "training", ... */
    const char *state;            /* state where it happened (FAILED: where it failed) */
    const char *version;          /* model version or NULL */
    const char *previous_version; /* DEPLOYED: the version it replaced, or NULL */
    double f1, min_f1;
    int64_t images, untrained, needed;
    const char *error; /* FAILED: the reason */
    const char *param; /* PARAM_CHANGED: the parameter's name */
    const char *old_value, *new_value;
    const char *key;      /* REVIEW_*: the image */
    const char *task;     /* REVIEW_*: the review task id */
    const char *label;    /* REVIEW_REQUESTED: the model's label; REVIEW_ANSWERED: the answer */
    const char *copy_key; /* REVIEW_ANSWERED: the training copy, or NULL when none was made */
    double confidence;    /* REVIEW_REQUESTED: 0..100 */
    int64_t open_tasks, oldest_age_ms; /* REVIEW_DIGEST */
    const char *job;                   /* LABEL_JOB_DONE: the job's name */
    int64_t machine, moved;            /* LABEL_JOB_DONE: machine labels; images moved */
    int64_t at_ms;
};

/* Returns: "training.criteria_not_met" etc., the event's stable name (log and JSON). */
const char *rt_event_name(enum rt_event_kind kind);
/*
 * Writes a one-line subject and a plain-text body for people (email, SNS). Both buffers are
 * appended to. Returns: 0 or an rt_buf error.
 */
int rt_event_format(const struct rt_event *ev, struct rt_buf *subject, struct rt_buf *body);

/* Returns: new JSON text of ev for the outbox (caller frees with cJSON_free), or NULL when out
 * of memory. Every field but id is kept (the id is the outbox row's). */
char *rt_event_to_json(const struct rt_event *ev);
/*
 * Parses text made by rt_event_to_json into *ev, whose strings then point into *holder (free it
 * with rt_event_holder_free once ev is no longer used). Returns: 0, or RT_EPARSE / RT_ENOMEM.
 */
int rt_event_from_json(const char *text, struct rt_event *ev, void **holder);
void rt_event_holder_free(void *holder);
/* Returns: the kind named name ("training.deployed"), or RT_EV_COUNT. */
enum rt_event_kind rt_event_kind_by_name(const char *name);

typedef void rt_notify_done_fn(int status, const struct rt_error *err, void *ud);

struct rt_notifier_ops {
    const char *name; /* "log", "smtp", "sns" */
    /* Sends ev (copied before returning). cb runs on the loop thread once delivery ends. */
    int (*send)(struct rt_notifier *n, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud);
    /* Finishes or cancels deliveries in flight, frees n, then calls cb (may be NULL). */
    void (*close)(struct rt_notifier *n, void (*cb)(void *ud), void *ud);
};

struct rt_notifier {
    const struct rt_notifier_ops *ops;
};

/* The log notifier: one notice line per event. */
int rt_notifier_log_new(struct uv_loop_s *loop, struct rt_notifier **out);

struct rt_httpc;
/* The SMTP notifier (libcurl through httpc; STARTTLS). cfg is copied. Username and password
 * come from cfg or else RETRAIND_SMTP_USERNAME / RETRAIND_SMTP_PASSWORD. */
int rt_notifier_smtp_new(struct uv_loop_s *loop,
                         struct rt_httpc *httpc,
                         const struct rt_config_notify *cfg,
                         struct rt_notifier **out,
                         struct rt_error *err);

struct rt_aws_client;
/* SNS limits: a Subject of fewer than 100 characters, a Message of at most 262,144 bytes. */
#define RT_SNS_SUBJECT_MAX 99
#define RT_SNS_MESSAGE_MAX 262144
/*
 * The SNS notifier: one Publish (query protocol) to topic_arn per event through aws (borrowed;
 * must outlive the notifier). The client retries throttling and 5xx; a final failure goes to the
 * send callback. Returns: 0 and *out, or RT_EINVAL / RT_ECONFIG (not an ARN) / RT_ENOMEM.
 */
int rt_notifier_sns_new(struct rt_aws_client *aws,
                        const char *topic_arn,
                        struct rt_notifier **out,
                        struct rt_error *err);
/* Appends in as an SNS Subject: control characters (C0, DEL, C1) become spaces, cut to at most
 * RT_SNS_SUBJECT_MAX characters on a UTF-8 boundary. Returns: 0 or an rt_buf error. */
int rt_sns_subject(const char *in, struct rt_buf *out);
/* Appends in (len bytes) as an SNS Message: whole when it fits RT_SNS_MESSAGE_MAX, else cut on a
 * UTF-8 boundary and ended with a note, RT_SNS_MESSAGE_MAX bytes in all. Returns: 0 or an error. */
int rt_sns_message(const char *in, size_t len, struct rt_buf *out);

#endif
