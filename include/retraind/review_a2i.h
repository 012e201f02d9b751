/*
 * review_a2i.h - the `a2i` review driver: tasks are Amazon A2I human loops (StartHumanLoop,
 * DescribeHumanLoop) answered in A2I's worker portal; completion is noticed by polling, and the
 * answers are read from the output JSON A2I writes (aws-wire.md 4.1-4.3). It implements
 * struct rt_review_ops (review.h); the portal's functions of review_local.h are local-only.
 *
 * Every call goes through rt_aws_call on the loop thread; callbacks run on the loop thread, never
 * from inside the starting call.
 */
#ifndef RETRAIND_REVIEW_A2I_H
#define RETRAIND_REVIEW_A2I_H

#include <stdint.h>

#include "retraind/error.h"
#include "retraind/review.h"

struct uv_loop_s;
struct rt_aws_client;
struct rt_store;

struct rt_review_a2i_opts {
    const char *flow_definition; /* review.flow_definition: a name (resolved once with
                                  * DescribeFlowDefinition) or an ARN; copied */
    int64_t poll_ms;             /* review.poll: one DescribeHumanLoop round every poll_ms */
    int per_tick;                /* loops described per round (round-robin); 0: 10 */
};

/*
 * Makes the driver on loop. aws: the AWS client (borrowed; outlives the driver); store: where
 * the output JSON is read (OutputS3Uri must name the store's bucket) and whose bucket name makes
 * taskObject (s3://<bucket>/<key>). Returns: 0 and *out (close with ops->close), or an error.
 */
int rt_review_a2i_new(struct uv_loop_s *loop,
                      struct rt_aws_client *aws,
                      struct rt_store *store,
                      const struct rt_review_a2i_opts *opts,
                      struct rt_review **out,
                      struct rt_error *err);

/* The InputContent source of a task source: "A2I Workflow" (detection), "Human Sampling"
 * (sampling), "Labeling Job" (labeling-job). */
const char *rt_review_a2i_input_source(const char *task_source);

#endif
