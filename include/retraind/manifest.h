/*
 * manifest.h - Ground Truth image-classification manifests (JSON lines): writer and parser.
 *
 * One line per image, exactly as Ground Truth writes it, so Rekognition Custom Labels and the
 * builtin engine read the same file:
 *
 *   {"source-ref":"s3://<bucket>/<key>","<attr>":<class index>,"<attr>-metadata":{
 *    "class-name":"<label>","confidence":1,"human-annotated":"yes","creation-date":"<T>",
 *    "type":"groundtruth/image-classification","job-name":"labeling-job/<job>"}}
 *
 * A labeling job writes its own confidence and "human-annotated":"no" for machine labels
 * (rt_manifest_append_labeled); rt_manifest_append writes confidence 1 and "yes".
 * rt_manifest_append_source writes an input-manifest line ({"source-ref":...}).
 * tests/integration/gt_manifest_check.py validates a whole file against Ground Truth's format.
 *
 * The key is written raw (not percent-encoded); only JSON escaping applies. The parser reads
 * outside input and is hardened (fuzz target tests/fuzz/fuzz_manifest.c): every line is bounded,
 * every field is type- and length-checked, and errors name the 1-based line number.
 */
#ifndef RETRAIND_MANIFEST_H
#define RETRAIND_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

/* Longest manifest line the parser accepts, in bytes (without the newline). */
#define RT_MANIFEST_LINE_MAX 65536
/* Field sizes of struct rt_manifest_entry, including the NUL. */
#define RT_MANIFEST_BUCKET_MAX 256
#define RT_MANIFEST_KEY_MAX 1025 /* RT_STORE_KEY_MAX + 1 */
#define RT_MANIFEST_LABEL_MAX 128
#define RT_MANIFEST_ATTR_MAX 128

/* What the writer needs for one line. All strings borrowed. */
struct rt_manifest_line {
    const char *bucket;        /* bucket (or the local store's name, "local") */
    const char *key;           /* object key, written raw */
    const char *label;         /* class-name */
    int class_index;           /* >= 0 */
    const char *creation_date; /* as given; Ground Truth's form is rt_manifest_date's */
    const char *job_name;      /* written as "labeling-job/<job_name>" */
};

/* One parsed line. Fixed-size so it can be copied across threads. */
struct rt_manifest_entry {
    char bucket[RT_MANIFEST_BUCKET_MAX];
    char key[RT_MANIFEST_KEY_MAX];
    char label[RT_MANIFEST_LABEL_MAX];    /* "<attr>-metadata".class-name */
    char attribute[RT_MANIFEST_ATTR_MAX]; /* the label attribute name found or given */
    long class_index;                     /* "<attr>" value, 0..INT32_MAX */
    char creation_date[64];               /* "" when absent */
    char job_name[RT_MANIFEST_LABEL_MAX]; /* as written ("labeling-job/x"), "" when absent */
    double confidence;                    /* 0..1, or -1 when absent */
    int human_annotated;                  /* 1 "yes", 0 "no", -1 when absent */
};

/* Size of a buffer for rt_manifest_date, including the NUL. */
#define RT_MANIFEST_DATE_MAX 32

/*
 * Writes epoch_ms as Ground Truth writes creation-date: UTC, no zone, milliseconds
 * ("2020-03-06T17:46:39.176"). size must be >= RT_MANIFEST_DATE_MAX.
 * Returns: out ("" when size is too small or the time does not convert).
 */
char *rt_manifest_date(int64_t epoch_ms, char *out, size_t size);

/*
 * Appends one manifest line plus '\n' to out.
 * label_attr: the label attribute name (e.g. "retraind-label"); non-empty, not "source-ref".
 * Writes "confidence":1 and "human-annotated":"yes" (rt_manifest_append_labeled with 1, true).
 * Returns: 0, RT_EINVAL (missing field, negative class index, over-long attribute), RT_ENOMEM or
 * RT_ETOOBIG (out's max); out is unchanged on failure. err says why.
 */
int rt_manifest_append(struct rt_buf *out,
                       const char *label_attr,
                       const struct rt_manifest_line *line,
                       struct rt_error *err);

/*
 * As rt_manifest_append, with the consolidated confidence (0..1, a JSON number with up to 17
 * significant digits: 0.94 is written "0.94", 1 is "1"; it reads back within 1e-15) and
 * human_annotated ("yes", or "no" for a machine label).
 * Returns: as rt_manifest_append, plus RT_EINVAL for a confidence outside 0..1 or not finite.
 */
int rt_manifest_append_labeled(struct rt_buf *out,
                               const char *label_attr,
                               const struct rt_manifest_line *line,
                               double confidence,
                               bool human_annotated,
                               struct rt_error *err);

/*
 * Appends one input-manifest line plus '\n' to out: {"source-ref":"s3://<bucket>/<key>"}, the key
 * raw (only JSON escaping), as a Ground Truth labeling job reads it (aws-wire.md 12.1).
 * Returns: 0, RT_EINVAL (empty bucket or key, a '/' in the bucket, a control character in the
 * key: the parser would refuse it), RT_ENOMEM or RT_ETOOBIG (out's max); out is unchanged on
 * failure. err says why.
 */
int rt_manifest_append_source(struct rt_buf *out,
                              const char *bucket,
                              const char *key,
                              struct rt_error *err);

/*
 * Parses one line (no trailing newline needed; a trailing "\r" is ignored).
 * label_attr: the attribute to read, or NULL to find it (the one member X, other than
 * "source-ref", that has an object member "X-metadata").
 * Returns: 0 and *out filled, or RT_EPARSE / RT_ETOOBIG with err saying what is wrong (the
 * caller adds the line number; rt_manifest_parse does). confidence and human-annotated are
 * optional (absent: -1 in the entry) but when present must be a number in 0..1 and "yes"/"no".
 */
int rt_manifest_parse_line(const char *line,
                           size_t len,
                           const char *label_attr,
                           struct rt_manifest_entry *out,
                           struct rt_error *err);

/*
 * Called for every non-blank line of a manifest: line_no is 1-based. status 0 with entry set, or
 * a parse failure with entry NULL and err saying why ("line N: ..."). Return non-zero to stop.
 */
typedef int rt_manifest_line_fn(size_t line_no,
                                int status,
                                const struct rt_manifest_entry *entry,
                                const struct rt_error *err,
                                void *ud);

/*
 * Walks a whole manifest (data need not be NUL-terminated), calling cb once per non-blank line,
 * bad lines included, so the caller decides whether a bad line is fatal.
 * Returns: the number of bad lines (>= 0), or the non-zero value cb returned to stop.
 */
long rt_manifest_parse(
    const char *data, size_t len, const char *label_attr, rt_manifest_line_fn *cb, void *ud);

#endif
