/*
 * store.h - the object store interface: a bucket of keys (local folder or S3).
 *
 * A store is a struct of function pointers plus the driver's own state; workflows never know
 * which driver they talk to. All operations are asynchronous and their callbacks run on the loop
 * thread, never from inside the starting call (deferred to a later loop turn). If a starting call
 * returns an error, its callback is never called.
 *
 * Keys are validated by every driver with rt_store_key_check before use.
 */
#ifndef RETRAIND_STORE_H
#define RETRAIND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

struct uv_loop_s;
struct rt_store;
struct rt_store_watch;

/* Maximum key length in bytes (S3's limit). */
#define RT_STORE_KEY_MAX 1024

struct rt_store_entry {
    const char *key;  /* borrowed, valid during the callback only */
    int64_t size;     /* bytes */
    int64_t mtime_ms; /* last modified, epoch ms */
    const char *etag; /* borrowed; local store: "<size>-<mtime_ns>" hex, S3: ETag without quotes */
};

/*
 * Called once per page of a listing, in key order within a page (drivers list in lexicographic
 * order where they can; the local store lists in directory order). entries/n: this page (may be
 * 0 entries; the s3 driver hands each key over as it is parsed, one entry per call, then a last
 * call with none). last: no page follows. status: 0, or the error that ended the listing (then last
 * is true and err says why). Return non-zero to stop: no further call follows.
 */
typedef int rt_store_page_fn(const struct rt_store_entry *entries,
                             size_t n,
                             bool last,
                             int status,
                             const struct rt_error *err,
                             void *ud);
/* Flags of list(). */
enum rt_store_list_flags {
    RT_STORE_LIST_FULL = 0,
    /* Only keys are needed (counting): entries may carry size -1, mtime_ms 0 and etag NULL, which
     * spares the local store a stat per key. Drivers that get metadata for free may fill it. */
    RT_STORE_LIST_KEYS_ONLY = 1
};

/* Completion of get: status 0 and body filled (body owned by the caller who passed it). */
typedef void rt_store_done_fn(int status, const struct rt_error *err, void *ud);
/* Completion of head: exists false with status 0 when the key is absent. */
typedef void rt_store_head_fn(int status,
                              bool exists,
                              const struct rt_store_entry *entry,
                              const struct rt_error *err,
                              void *ud);

/* Something changed under a watched prefix (no detail: the caller lists to see what). */
typedef void rt_store_watch_fn(void *ud);

/* One object created under a subscribed prefix, as the store's event source reported it. */
struct rt_store_event {
    const char *key;  /* borrowed for the callback; decoded and checked with rt_store_key_check */
    const char *etag; /* borrowed; without quotes, the same string listings give */
    int64_t size;     /* bytes, -1 when the source did not say */
};
struct rt_store_events;
/*
 * A batch of events (n >= 1), on the loop thread. The subscriber records them durably and then
 * calls ops->events_done(s, sub, status) once, possibly from inside this callback: status 0 lets
 * the source forget them, an error leaves them to be delivered again later. No further batch
 * comes before that. Events are at-least-once: the same object may come again, also after a
 * restart.
 */
typedef void rt_store_events_fn(const struct rt_store_event *ev, size_t n, void *ud);

struct rt_store_ops {
    const char *name; /* "local", "s3" */
    /* True when a listed object is always complete (S3 shows an object only once its upload has
     * finished), so a new image needs no second look before it is queued. A folder can list a
     * file still being written: false. */
    bool listed_complete;
    /* Lists every key under prefix (recursively), a page at a time. Never loads everything. */
    int (*list)(struct rt_store *s,
                const char *prefix,
                size_t page_size,
                unsigned flags,
                rt_store_page_fn *cb,
                void *ud);
    /* Reads key into body (appending; body's max_bytes bounds it: RT_ETOOBIG). */
    int (*get)(
        struct rt_store *s, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud);
    /* Writes data atomically (readers see the old object or the new, never a part). Copies data
     * before returning, so the caller may free it at once. */
    int (*put)(struct rt_store *s,
               const char *key,
               const void *data,
               size_t len,
               const char *content_type,
               rt_store_done_fn *cb,
               void *ud);
    /* Copies src to dst atomically. */
    int (*copy)(struct rt_store *s,
                const char *src_key,
                const char *dst_key,
                rt_store_done_fn *cb,
                void *ud);
    /* Deletes key; deleting an absent key succeeds. */
    int (*del)(struct rt_store *s, const char *key, rt_store_done_fn *cb, void *ud);
    int (*head)(struct rt_store *s, const char *key, rt_store_head_fn *cb, void *ud);
    /* Stops work and frees the store; cb (may be NULL) runs once everything is closed. */
    void (*close)(struct rt_store *s, void (*cb)(void *ud), void *ud);
    /*
     * Optional (NULL for drivers that cannot, e.g. S3: callers rescan on a timer). Watches the
     * folder prefix (a key ending in '/', created if missing): cb runs on the loop thread, on a
     * later turn, after an entry directly in it was created, renamed or written. Events may be
     * merged or spurious; a watch is a hint to list soon, never a replacement for listing.
     * Returns: 0 and *out, or an error (cb never runs).
     */
    int (*watch)(struct rt_store *s,
                 const char *prefix,
                 rt_store_watch_fn *cb,
                 void *ud,
                 struct rt_store_watch **out);
    /* Stops and frees w: cb is never called after this. Every watch must be stopped before close
     * (close stops the ones left, logging them). */
    void (*unwatch)(struct rt_store *s, struct rt_store_watch *w);
    /*
     * Optional (NULL, or RT_ENOTIMPL when the store has no event source configured). Subscribes
     * to objects created under prefix (the s3 store: S3 event notifications read from the SQS
     * queue store.events_queue). One subscription per store. Events are a faster path, never a
     * replacement for listing: callers still list now and then.
     * Returns: 0 and *out, or an error (cb never runs).
     */
    int (*events)(struct rt_store *s,
                  const char *prefix,
                  rt_store_events_fn *cb,
                  void *ud,
                  struct rt_store_events **out);
    /* The batch delivered to sub is recorded (status 0) or not (status < 0). */
    void (*events_done)(struct rt_store *s, struct rt_store_events *sub, int status);
    /* Ends sub (a receive in flight is cancelled): cb is never called after this. Close stops a
     * subscription left open. */
    void (*unevents)(struct rt_store *s, struct rt_store_events *sub);
};

/* Every driver's object starts with this header so the generic wrappers below work. */
struct rt_store {
    const struct rt_store_ops *ops;
    const char *bucket_name; /* borrowed from the driver: "local" or the bucket; for s3:// URIs */
};

/*
 * Validates a key: non-empty, at most RT_STORE_KEY_MAX bytes, valid UTF-8, no leading '/', no
 * "." or ".." segment, no empty segment ("a//b"), no NUL or control character (< 0x20, 0x7f),
 * and no backslash. A trailing '/' (folder placeholder) is allowed only if allow_trailing_slash.
 * Returns: 0 or RT_EKEY with err saying why (the key is quoted safely).
 */
int rt_store_key_check(const char *key,
                       size_t len,
                       bool allow_trailing_slash,
                       struct rt_error *err);

/*
 * Training-image rule of DESIGN.md: key is labeled_prefix + "<label>/<file>" where file ends in
 * .jpg, .jpeg or .png (case-insensitive), has no further '/', and label is non-empty. Folder
 * placeholders, nested keys and other files are not images.
 * Returns: true and the label as a view into key, or false.
 */
bool rt_store_training_label(const char *labeled_prefix, const char *key, struct rt_str *label);
/* Returns: true when key's file name is an image retraind reads (.jpg, .jpeg, .png, any case)
 * with a name before the extension (".png" alone is a hidden file). */
bool rt_store_is_image_key(const char *key);
/* Returns: the content type of an image key ("image/jpeg", "image/png"), else
 * "application/octet-stream". Static string. */
const char *rt_store_image_content_type(const char *key);

/* Images per label, as the training check counts them (label = folder name). */
struct rt_label_counts {
    struct rt_label_count {
        char *name; /* owned */
        int64_t count;
    } * items; /* owned array, in order of first appearance */
    size_t n, cap;
    int64_t total;
};
/* Counts one image of label. Returns: the label's index in items, or RT_ENOMEM. */
long rt_label_counts_add(struct rt_label_counts *c, struct rt_str label);
/* Frees everything; c is empty and reusable afterwards. */
void rt_label_counts_cleanup(struct rt_label_counts *c);

/* Options of the local store (a folder laid out like the bucket). */
struct rt_store_local_opts {
    const char *root;        /* borrowed during rt_store_local_new; created if missing */
    const char *bucket_name; /* borrowed likewise; for s3:// URIs; default "local" */
    /*
     * Read-only (the CLI's read commands): nothing is ever created or removed, neither the root
     * nor .retraind-tmp, and .retraind-tmp is not emptied (the daemon may be writing). A missing
     * root is an empty bucket: listings are empty, get and head find nothing. put, copy and del
     * return -EROFS at once (their callback is not called).
     */
    bool read_only;
};
/*
 * Creates a local store on loop. Unless read-only, creates the root and <root>/.retraind-tmp/
 * if missing and empties the latter (leftovers of interrupted atomic writes).
 * Returns: 0 and *out (close with ops->close), or an error filled in err.
 */
int rt_store_local_new(struct uv_loop_s *loop,
                       const struct rt_store_local_opts *opts,
                       struct rt_store **out,
                       struct rt_error *err);

#endif
