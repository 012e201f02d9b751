/*
 * ratelimit.c - the client-side rate limiter of the adaptive retry mode (aws-wire.md 11.2),
 * botocore's arithmetic (retries/adaptive.py ClientRateLimiter, bucket.py TokenBucket,
 * throttling.py CubicCalculator, adaptive.py RateClocker) without its locks and sleeps: the
 * client asks for a token and waits the time it is told (httpc's gate hook), so the loop never
 * blocks. Pure: the time is a parameter.
 */
#include <math.h>

#include "retraind/aws.h"

#define MIN_FILL_RATE 0.5
#define SMOOTHING 0.8
#define BUCKET_S 0.5
#define BETA 0.7
#define SCALE 0.4
#define MAX_RATE_ADJUST 2.0

static void refill(struct rt_aws_rate_limiter *l, double now)
{
    double fill = (now - l->last_refill) * l->fill_rate;
    if (fill > 0) {
        l->capacity += fill;
        if (l->capacity > l->max_capacity)
            l->capacity = l->max_capacity;
    }
    l->last_refill = now;
}

static void set_max_rate(struct rt_aws_rate_limiter *l, double rate, double now)
{
    refill(l, now);
    l->fill_rate = rate > MIN_FILL_RATE ? rate : MIN_FILL_RATE;
    l->max_capacity = rate >= 1 ? rate : 1;
    if (l->capacity > l->max_capacity)
        l->capacity = l->max_capacity;
}

void rt_aws_rate_limiter_init(struct rt_aws_rate_limiter *l, double now_s)
{
    *l = (struct rt_aws_rate_limiter){0};
    l->last_refill = now_s;
    l->last_bucket = floor(now_s);
    l->last_fail = now_s;
    set_max_rate(l, 1, now_s);
}

double rt_aws_rate_limiter_acquire(struct rt_aws_rate_limiter *l, double now_s)
{
    if (!l->enabled)
        return 0;
    refill(l, now_s);
    if (l->capacity >= 1 - 1e-9) { /* float rounding of a refill that was exact */
        l->capacity -= 1;
        return 0;
    }
    return (1 - l->capacity) / l->fill_rate;
}

static double measure(struct rt_aws_rate_limiter *l, double now)
{
    double bucket = floor(now / BUCKET_S) * BUCKET_S;
    l->count += 1;
    if (bucket > l->last_bucket) {
        double rate = l->count / (bucket - l->last_bucket);
        l->measured_rate = rate * SMOOTHING + l->measured_rate * (1 - SMOOTHING);
        l->count = 0;
        l->last_bucket = bucket;
    }
    return l->measured_rate;
}

void rt_aws_rate_limiter_update(struct rt_aws_rate_limiter *l, bool throttled, double now_s)
{
    double measured = measure(l, now_s);
    double rate;
    if (!throttled) {
        double dt = now_s - l->last_fail - l->k;
        rate = SCALE * dt * dt * dt + l->w_max;
    } else {
        double use = !l->enabled || measured < l->fill_rate ? measured : l->fill_rate;
        l->w_max = use;
        l->k = cbrt(use * (1 - BETA) / SCALE);
        l->last_fail = now_s;
        rate = use * BETA;
        l->enabled = true;
    }
    double cap = MAX_RATE_ADJUST * measured;
    set_max_rate(l, rate < cap ? rate : cap, now_s);
}
