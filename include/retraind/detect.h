/*
 * detect.h - the detection service: notices images arriving under the detection prefix, queues
 * them in the journal, runs one detection execution per image (at most detection.concurrency at
 * once), writes the results to detection-results/ in batches, and samples detections for audit.
 *
 * Design (src/workflow/detect_scan.c): the scanner lists the prefix every store.scan_ms, and
 * ~300 ms after the store's watch (when the driver has one) reports a change. A file is queued
 * only once it was seen with the same size and ETag on two looks, so a file still being written
 * is never read. With a store event source (the s3 store's store.events_queue: S3 event
 * notifications through SQS) new images are queued as their events arrive, and the listing is
 * the slow safety net. Queued rows live in the journal only; the dispatcher reads the first few by
 * seq when a slot is free, so memory holds the in-flight detections, not the queue. Without an
 * active model nothing is dispatched; each tick looks again.
 */
#ifndef RETRAIND_DETECT_H
#define RETRAIND_DETECT_H

#include <stdint.h>

#include "retraind/paramdef.h"

struct rt_machine;
struct rt_detect;

/* Creates the service for machine m (which must outlive it; its env gives loop, journal, store,
 * engine, review, config and parameters). Returns: 0 and *out, or RT_ENOMEM. */
int rt_detect_new(struct rt_machine *m, struct rt_detect **out);
/* Starts watching, scanning, dispatching, flushing and sampling (after rt_machine_resume: the
 * resumed executions hold their slots). Rewrites a results batch a crash left unflushed.
 * Returns: 0 or an error (logged; the service still rescans on its timer). */
int rt_detect_start(struct rt_detect *d);
/* A parameter changed (sampling on/off or its frequency): re-arms what it affects. */
void rt_detect_param_changed(struct rt_detect *d, enum rt_param_id id);
/* Runs a sampling round now (`retraind trigger sampling`). Returns: 0 or an error. */
int rt_detect_trigger_sampling(struct rt_detect *d);
/* Stops starting new work (timers, watch, dispatching); in-flight executions are the
 * machine's to stop. Call before rt_machine_close. */
void rt_detect_stop(struct rt_detect *d);
/* After the machine closed: writes the unflushed results, then frees d and calls cb. */
void rt_detect_close(struct rt_detect *d, void (*cb)(void *ud), void *ud);

/* Counters since start, for logs, metrics and benchmarks. */
struct rt_detect_stats {
    int64_t queued;       /* rows queued by the scanner */
    int64_t dispatched;   /* detection executions started */
    int64_t results;      /* detection results written (ROUTE committed) */
    int64_t in_flight;    /* detection slots in use now */
    int64_t flushes;      /* results files written */
    int64_t flushed;      /* result lines written */
    int64_t scans;        /* listings finished */
    int64_t sampled;      /* sampling executions started */
    int64_t events;       /* rows queued from the store's events (s3: SQS), also in queued */
    int64_t build_chunks; /* loop turns that formatted rows of a results file (100 rows each) */
};
void rt_detect_stats(const struct rt_detect *d, struct rt_detect_stats *out);

#endif
