/*
 * s3_int.h - what s3.c and s3_events.c share (not a public interface).
 */
#ifndef RETRAIND_STORE_S3_INT_H
#define RETRAIND_STORE_S3_INT_H

#include "retraind/error.h"
#include "retraind/store.h"

struct uv_loop_s;
struct rt_aws_client;
struct s3_events;

struct s3_events_opts {
    struct rt_aws_client *aws; /* borrowed */
    const char *queue_url;     /* copied */
    const char *bucket;        /* copied: records of other buckets are ignored */
    const char *prefix;        /* copied: keys outside it are ignored */
    rt_store_events_fn *cb;
    void *ud;
    void (*gone)(void *ud); /* after rt__s3_events_close, once nothing is in flight */
    void *gone_ud;
};

/* Starts polling the queue. Returns: 0 and *out, or RT_ENOMEM. */
int rt__s3_events_new(struct uv_loop_s *loop,
                      const struct s3_events_opts *o,
                      struct s3_events **out,
                      struct rt_error *err);
/* The batch delivered is recorded (0) or not. */
void rt__s3_events_done(struct s3_events *e, int status);
/* Stops: the receive in flight is cancelled, no callback after this; gone runs later. */
void rt__s3_events_close(struct s3_events *e);

#endif
