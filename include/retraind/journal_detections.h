/*
 * journal_detections.h - the detection queue and results in the journal (table `detections`).
 *
 * One row per (key, etag) seen under the detection prefix. Its life: 'queued' (seen stable by
 * the scanner) -> 'detecting' (a detection execution owns it) -> 'detected' (the result, with
 * route, written at ROUTE) or 'duplicate' / 'failed'. seq is the arrival order: the dispatcher
 * takes queued rows by seq, sampling counts detections by it. A detected row is written to
 * detection-results/ in a batch: first the batch is planned (result_key set on its rows in one
 * transaction), then the file is written, then the rows are marked flushed (flushed_at), so a
 * crash between the two rewrites exactly the same file with exactly the same lines.
 *
 * Reads are short single queries for the loop thread; writes are batch operations
 * (rt_jbatch_detection_*) applied by the journal's writer.
 */
#ifndef RETRAIND_JOURNAL_DETECTIONS_H
#define RETRAIND_JOURNAL_DETECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/journal.h"
#include "retraind/store.h"

/* Row states. */
#define RT_DETECTION_QUEUED "queued"
#define RT_DETECTION_DETECTING "detecting"
#define RT_DETECTION_DETECTED "detected"
#define RT_DETECTION_DUPLICATE "duplicate"
#define RT_DETECTION_FAILED "failed"

/* Route values. */
#define RT_ROUTE_ACCEPTED "accepted"
#define RT_ROUTE_ACCEPTED_LOW "accepted_low"
#define RT_ROUTE_REVIEW "review"

struct rt_detection_row {
    int64_t seq;
    char key[RT_STORE_KEY_MAX + 1];
    char etag[96];
    int64_t size;
    char state[16];
    char exec_id[64];
    int64_t queued_ms;
    int64_t detected_ms; /* 0 = not detected */
    char request_id[96];
    char content_hash[72]; /* "sha256:" hex... stored as 64 lowercase hex digits */
    char model_version[128];
    char label[128];
    double confidence; /* 0..100; -1 when none */
    double threshold;  /* Minimum-Label-Detection-Confidence at ROUTE */
    bool review_enabled;
    char route[16];
    bool sampled;
    char error[256];
    char result_key[RT_STORE_KEY_MAX + 1]; /* "" until planned */
    int64_t flushed_ms;                    /* 0 = not flushed */
};

typedef int rt_detection_row_fn(const struct rt_detection_row *r, void *ud);

/* Returns: 1 if (key, etag) has a row, 0 if not, or an error. */
int rt_journal_detection_known(struct rt_journal *j, const char *key, const char *etag);
/* Calls cb for the first limit queued rows by seq (stop early by returning non-zero).
 * Returns: 0 or an error. */
int rt_journal_detection_queued(struct rt_journal *j, int limit, rt_detection_row_fn *cb, void *ud);
/* Returns: 0 and *out, RT_ENOTFOUND, or an error. */
int rt_journal_detection_get(struct rt_journal *j, int64_t seq, struct rt_detection_row *out);
/* Looks for another row of key detected (or being detected) with content hash hash.
 * Returns: 0 and *seq_out, RT_ENOTFOUND, or an error. */
int rt_journal_detection_same_content(
    struct rt_journal *j, const char *key, const char *hash, int64_t except_seq, int64_t *seq_out);
/* Copies the result_key of a planned batch that is not flushed yet into out.
 * Returns: 0, RT_ENOTFOUND or an error. */
int rt_journal_detection_planned(struct rt_journal *j, char *out, size_t size);
/* Calls cb for the rows of planned batch result_key not flushed yet with seq > after_seq, by
 * seq, at most limit (a batch is read in chunks, one per loop turn). */
int rt_journal_detection_batch_rows(struct rt_journal *j,
                                    const char *result_key,
                                    int64_t after_seq,
                                    int limit,
                                    rt_detection_row_fn *cb,
                                    void *ud);
/* Calls cb for detected rows not yet in a batch, by seq, at most limit. */
int rt_journal_detection_unplanned(struct rt_journal *j,
                                   int limit,
                                   rt_detection_row_fn *cb,
                                   void *ud);
/* Calls cb for detected rows (route set) with seq > after_seq, by seq, at most limit. */
int rt_journal_detection_detected_after(
    struct rt_journal *j, int64_t after_seq, int limit, rt_detection_row_fn *cb, void *ud);
/* The next results batch to plan: the seqs of at most max detected rows not yet in a batch, by
 * seq, with the execution id and detection time of the first. Returns: 0 (*n may be 0) or an
 * error. */
int rt_journal_detection_unplanned_seqs(struct rt_journal *j,
                                        size_t max,
                                        int64_t *seqs,
                                        size_t *n,
                                        char *first_exec,
                                        size_t first_exec_size,
                                        int64_t *first_ms);
/* Calls cb for every row, newest first, with label and route (either may be NULL: any), at most
 * limit (<= 0: 100): the detection log of the dashboard. */
int rt_journal_detection_list(struct rt_journal *j,
                              const char *label,
                              const char *route,
                              int limit,
                              rt_detection_row_fn *cb,
                              void *ud);
/* Returns: 0 and the largest seq of a sampled row (0 when none), or an error. */
int rt_journal_detection_last_sampled(struct rt_journal *j, int64_t *seq);
/* Calls cb for sampled rows that no sampling execution owns yet (a crash between the two). */
int rt_journal_detection_sample_orphans(struct rt_journal *j, rt_detection_row_fn *cb, void *ud);

/* Counts for status and metrics. */
struct rt_detection_counts {
    int64_t queued, detecting, detected, duplicate, failed;
    int64_t accepted, accepted_low, review; /* detected rows by route */
    int64_t unflushed;                      /* detected rows not flushed yet */
};
int rt_journal_detection_counts(struct rt_journal *j, struct rt_detection_counts *out);
/* The queued rows alone, counted on the partial index detections_queued (costs the queue, not
 * the table: for a scrape or a status request). Returns: 0 and *n, or an error. */
int rt_journal_detection_queued_count(struct rt_journal *j, int64_t *n);

/* Agreement of sampled answers with the model, per model version. */
typedef int rt_agreement_fn(const char *model_version, int64_t answered, int64_t agreed, void *ud);
int rt_journal_sampling_agreement(struct rt_journal *j, rt_agreement_fn *cb, void *ud);

/* ---- batch writes ---- */
/* Queues (key, etag) unless it has a row already. */
int rt_jbatch_detection_queue(
    struct rt_jbatch *b, const char *key, const char *etag, int64_t size, int64_t now_ms);
/* A detection execution owns row seq now (state detecting). */
int rt_jbatch_detection_start(struct rt_jbatch *b, int64_t seq, const char *exec_id);
/* Writes the result of row r->seq (state detected): every result field of r. */
int rt_jbatch_detection_result(struct rt_jbatch *b, const struct rt_detection_row *r);
/* Ends row seq in state (duplicate, failed) with error (may be NULL). */
int rt_jbatch_detection_end(
    struct rt_jbatch *b, int64_t seq, const char *exec_id, const char *state, const char *error);
/* Plans a results batch: rows seqs[0..n) get result_key. */
int rt_jbatch_detection_plan(struct rt_jbatch *b,
                             const char *result_key,
                             const int64_t *seqs,
                             size_t n);
/* Marks the rows of batch result_key flushed at now_ms. */
int rt_jbatch_detection_flushed(struct rt_jbatch *b, const char *result_key, int64_t now_ms);
/* Marks row seq sampled. */
int rt_jbatch_detection_sampled(struct rt_jbatch *b, int64_t seq);
/* The sampling execution exec_id owns the sample of row seq. */
int rt_jbatch_detection_sample_exec(struct rt_jbatch *b, int64_t seq, const char *exec_id);
/* Records the sampled answer of row seq and whether it agrees with the model's label. */
int rt_jbatch_detection_sample_answer(struct rt_jbatch *b,
                                      int64_t seq,
                                      const char *answer,
                                      bool agree);

#endif
