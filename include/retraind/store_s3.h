/*
 * store_s3.h - the s3 store driver: struct rt_store_ops (store.h) over an S3 bucket, through the
 * generic AWS call (aws.h). Any S3-compatible endpoint works (aws.endpoints.s3, path style).
 */
#ifndef RETRAIND_STORE_S3_H
#define RETRAIND_STORE_S3_H

#include "retraind/error.h"
#include "retraind/store.h"

struct uv_loop_s;
struct rt_aws_client;

struct rt_store_s3_opts {
    struct rt_aws_client *aws; /* borrowed: must outlive the store (destroy it after close) */
    const char *bucket;        /* required; copied */
    const char *bucket_name;   /* the bucket part of s3:// URIs; NULL: bucket. Copied */
    /* Read-only (the CLI's read commands): put, copy and del return -EROFS at once. */
    bool read_only;
    /* SQS queue URL of the bucket's S3 event notifications (store.events_queue), or NULL:
     * ops->events then says RT_ENOTIMPL. Copied. */
    const char *events_queue;
};

/*
 * Creates an s3 store on loop. Nothing is sent until the first operation. watch/unwatch are NULL:
 * callers rescan on a timer; with events_queue, ops->events reads new objects from SQS
 * (s3_events.c).
 * Returns: 0 and *out (close with ops->close), or RT_EINVAL / RT_ENOMEM with err filled.
 */
int rt_store_s3_new(struct uv_loop_s *loop,
                    const struct rt_store_s3_opts *opts,
                    struct rt_store **out,
                    struct rt_error *err);

#endif
