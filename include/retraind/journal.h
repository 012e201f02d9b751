/*
 * journal.h - the daemon's durable memory: SQLite in WAL mode at <data_dir>/journal.db.
 *
 * Holds executions and their steps, local parameters, system state (previous_trained_images,
 * last_attempted_images, ...), model versions, CLI requests to the daemon, and (from the
 * detection work on) detections and review tasks. This module is the only code that includes
 * sqlite3.h. The calls below are synchronous and short (one statement or one small transaction);
 * the daemon and the CLI both wait on a locked database (busy timeout) instead of failing.
 *
 * The daemon's loop thread never writes through them: it builds a batch of writes
 * (struct rt_jbatch) and submits it to the writer thread (rt_journal_writer_start), which
 * applies many batches in one transaction and one fsync (group commit) and tells each caller on
 * the loop when its batch is durable. The loop thread keeps its own connection for reads; in WAL
 * mode a reader never waits for a writer, so neither a sync nor a lock held by the CLI stalls it.
 *
 * The schema is versioned with PRAGMA user_version and upgraded by an ordered list of
 * migrations when opened read-write. Read-only opens never create or migrate anything.
 *
 * Strings returned inside structs are owned by the struct and freed by its _cleanup function.
 * Times are epoch milliseconds.
 */
#ifndef RETRAIND_JOURNAL_H
#define RETRAIND_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/error.h"

struct rt_journal;
struct rt_jbatch;
struct uv_loop_s;

#define RT_JOURNAL_FILE "journal.db"

enum rt_journal_mode {
    RT_JOURNAL_READWRITE, /* creates data_dir and the file if missing, migrates the schema */
    RT_JOURNAL_READONLY   /* missing file: RT_ENOTFOUND; an older schema: RT_EJOURNAL */
};

/* Opens <data_dir>/journal.db. Returns: 0 and *out (close with rt_journal_close) or an error in
 * err. A schema newer than this program knows is refused with RT_EJOURNAL in both modes. */
int rt_journal_open(const char *data_dir,
                    enum rt_journal_mode mode,
                    struct rt_journal **out,
                    struct rt_error *err);
void rt_journal_close(struct rt_journal *j);
/* Sets how long a write waits for a lock another connection holds (default 10 s). A writer
 * started later uses the same. For tests and tools. */
void rt_journal_set_busy_timeout(struct rt_journal *j, int ms);
/* Returns: the schema version of the open journal. */
int rt_journal_schema_version(struct rt_journal *j);
/* Returns: a number that changes whenever another connection commits (PRAGMA data_version),
 * so the daemon can tell that the CLI changed something. */
int64_t rt_journal_data_version(struct rt_journal *j);
/* Runs PRAGMA quick_check (reads only; `retraind doctor`). Returns: 0 when the journal is sound,
 * the number of problems found (the first written into first), or RT_EJOURNAL with err. */
int rt_journal_quick_check(struct rt_journal *j, char *first, size_t size, struct rt_error *err);

/*
 * Transactions nest by depth: only the outermost begin issues BEGIN IMMEDIATE and only the
 * outermost commit commits. A rollback at any depth rolls back everything and makes the outer
 * commit fail with RT_EJOURNAL. Every function below that writes more than one row runs in its
 * own (possibly nested) transaction.
 */
int rt_journal_begin(struct rt_journal *j);
int rt_journal_commit(struct rt_journal *j);
void rt_journal_rollback(struct rt_journal *j);

/*
 * A read snapshot: the reads between rt_journal_read_begin and rt_journal_read_end share one read
 * transaction, so a run of lookups takes SQLite's read lock once instead of once per statement
 * (several fcntl calls each: the scanner's 1,000 lookups of a listing page went from ~5 ms of the
 * loop to a fraction). Nothing may be written in between, and it must stay short: a checkpoint
 * cannot go past an open snapshot. Not inside a write transaction and not nested. Returns 0, or
 * an error, in which case the reads still work, one transaction each.
 */
int rt_journal_read_begin(struct rt_journal *j);
void rt_journal_read_end(struct rt_journal *j);

/* ---- parameters (the local params driver) ---- */
/* Copies the stored text of name into out. Returns: 0, RT_ENOTFOUND (never set), RT_ETOOBIG. */
int rt_journal_param_get(struct rt_journal *j, const char *name, char *out, size_t size);
int rt_journal_param_set(struct rt_journal *j, const char *name, const char *value, int64_t now_ms);
typedef void rt_journal_param_fn(const char *name, const char *value, void *ud);
int rt_journal_param_list(struct rt_journal *j, rt_journal_param_fn *cb, void *ud);

/* ---- system state: small named values ---- */
int rt_journal_state_get(struct rt_journal *j, const char *key, char *out, size_t size);
int rt_journal_state_set(struct rt_journal *j, const char *key, const char *value);
/* Reads key as an integer; *out = dflt when the key was never set. */
int rt_journal_state_get_i64(struct rt_journal *j, const char *key, int64_t dflt, int64_t *out);
int rt_journal_state_set_i64(struct rt_journal *j, const char *key, int64_t value);

/* ---- executions and steps ---- */
struct rt_journal_exec {
    char id[64];
    char workflow[32];
    char state[32];
    int64_t started_ms;
    int64_t finished_ms;     /* 0 while unfinished */
    char *error;             /* owned or NULL */
    char *input;             /* owned JSON or NULL */
    char *context;           /* owned JSON (the workflow's carried data) or NULL */
    int64_t checks;          /* how many identical checks this execution stands for (>= 1) */
    int64_t last_checked_ms; /* when the last of them ran; 0 = only the first */
};
void rt_journal_exec_cleanup(struct rt_journal_exec *e);

struct rt_journal_step {
    int seq; /* 1, 2, ... in the order entered */
    char state[32];
    int64_t at_ms; /* when the state was entered */
    char *output;  /* owned JSON or NULL: what the step produced */
    char *error;   /* owned or NULL */
};
void rt_journal_step_cleanup(struct rt_journal_step *s);

/*
 * Makes a new unique execution id "<prefix>-YYYYMMDDTHHMMSSZ-NNNN" (NNNN a journal-wide counter)
 * into out (at least 64 bytes). Returns: 0 or an error.
 */
int rt_journal_exec_new_id(
    struct rt_journal *j, const char *prefix, int64_t now_ms, char *out, size_t size);
/* Creates an execution in initial_state and records its first step (entered at now_ms), in one
 * transaction. Returns: 0, -EEXIST if the id exists, or an error. */
int rt_journal_exec_create(struct rt_journal *j,
                           const char *id,
                           const char *workflow,
                           const char *initial_state,
                           const char *input_json,
                           const char *context_json,
                           int64_t now_ms);
/*
 * Records the end of the current step and the entry into next_state, in one transaction:
 * the current (last) step gets output_json and error (either may be NULL); a new step row for
 * next_state is added at now_ms; the execution's state and context (if context_json is not
 * NULL) are updated; if terminal, finished_ms = now_ms and the execution's error = error.
 * Call inside an outer rt_journal_begin/commit to make other writes (model, state) atomic with it.
 */
int rt_journal_exec_advance(struct rt_journal *j,
                            const char *id,
                            const char *output_json,
                            const char *error,
                            const char *next_state,
                            bool terminal,
                            const char *context_json,
                            int64_t now_ms);
/* Returns: 0 and *out (clean up with rt_journal_exec_cleanup), or RT_ENOTFOUND. */
int rt_journal_exec_get(struct rt_journal *j, const char *id, struct rt_journal_exec *out);

struct rt_journal_exec_filter {
    const char *workflow; /* NULL = any */
    const char *state;    /* NULL = any */
    bool unfinished_only;
    int limit; /* <= 0: 100 */
};
/* Called per execution, newest first; e is borrowed during the call. Return non-zero to stop. */
typedef int rt_journal_exec_fn(const struct rt_journal_exec *e, void *ud);
int rt_journal_exec_list(struct rt_journal *j,
                         const struct rt_journal_exec_filter *f,
                         rt_journal_exec_fn *cb,
                         void *ud);
typedef int rt_journal_step_fn(const struct rt_journal_step *s, void *ud);
/* Steps of id in order. Returns: RT_ENOTFOUND for an unknown id. */
int rt_journal_step_list(struct rt_journal *j, const char *id, rt_journal_step_fn *cb, void *ud);

/* ---- model versions ---- */
struct rt_journal_model {
    char version[128];
    char exec_id[64];
    char status[32]; /* engine status name, e.g. "RUNNING", "STOPPED" */
    double f1;       /* -1 when unknown */
    int64_t images;
    int64_t created_ms;
    int64_t deployed_ms; /* 0 = never */
    int64_t stopped_ms;  /* 0 = never */
    bool active;
};
/* Inserts or replaces the row of m->version (the active flag is not changed by this call). */
int rt_journal_model_put(struct rt_journal *j, const struct rt_journal_model *m);
int rt_journal_model_get(struct rt_journal *j, const char *version, struct rt_journal_model *out);
/* Returns: 0, or RT_ENOTFOUND when no version is active. */
int rt_journal_model_get_active(struct rt_journal *j, struct rt_journal_model *out);
/* Makes version the only active one and sets its deployed_ms = now_ms. */
int rt_journal_model_set_active(struct rt_journal *j, const char *version, int64_t now_ms);
typedef int rt_journal_model_fn(const struct rt_journal_model *m, void *ud);
/* Every version, newest first. */
int rt_journal_model_list(struct rt_journal *j, rt_journal_model_fn *cb, void *ud);

/*
 * Makes a new unique execution id like rt_journal_exec_new_id without writing: the counter lives
 * in memory (loaded from the journal on first use); creating the execution raises the stored
 * counter to the id's number in the same transaction (rt_journal_exec_create), so an id is
 * durable exactly when its execution is. For the daemon's loop thread. Returns: 0 or an error.
 */
int rt_journal_exec_reserve_id(
    struct rt_journal *j, const char *prefix, int64_t now_ms, char *out, size_t size);
/* Returns: 0 and the newest execution of workflow in *out (clean up with
 * rt_journal_exec_cleanup), or RT_ENOTFOUND. */
int rt_journal_exec_latest(struct rt_journal *j, const char *workflow, struct rt_journal_exec *out);
/* Finished executions by workflow and end state (a coalesced check counts as one more): cb per
 * pair; return non-zero from cb to stop. Reads the whole table: for start-up, not per request.
 * Returns: 0 or an error. */
typedef int rt_journal_exec_count_fn(const char *workflow, const char *state, int64_t n, void *ud);
int rt_journal_exec_end_counts(struct rt_journal *j, rt_journal_exec_count_fn *cb, void *ud);
/* Returns: 0 and the number of unfinished executions in *n (the partial index
 * executions_unfinished: costs the unfinished ones, not the table), or an error. */
int rt_journal_exec_unfinished_count(struct rt_journal *j, int64_t *n);
/* Copies the output of the first step of id that entered state (or the last step when state is
 * NULL) into *out (caller frees with rt_free; NULL when that step has no output).
 * Returns: 0, RT_ENOTFOUND or an error. */
int rt_journal_step_output(struct rt_journal *j, const char *id, const char *state, char **out);

/* ---- requests from the CLI to the daemon ("trigger training", ...) ---- */
int rt_journal_request_add(struct rt_journal *j, const char *kind, int64_t now_ms);
/* Reads the oldest pending request with an id above after_id without taking it: copies its kind
 * into out and its id into *id. Returns: 0, RT_ENOTFOUND, RT_ETOOBIG or an error. */
int rt_journal_request_peek(
    struct rt_journal *j, int64_t after_id, int64_t *id, char *out, size_t size);
/* Takes the oldest pending request: copies its kind into out and marks it taken.
 * Returns: 0, or RT_ENOTFOUND when none is pending. */
int rt_journal_request_take(struct rt_journal *j, char *out, size_t size, int64_t now_ms);

/* ---- parameters set by people ---- */
/* Deletes a stored parameter value (params reset). Absent is fine. */
int rt_journal_param_delete(struct rt_journal *j, const char *name);

/* ---- key sets of manifests (identity-based counting of untrained images) ---- */
/*
 * Reads the key hashes (rt_hash64 of each image key, sorted, 8 bytes each in host order) of the
 * manifest written by execution exec_id. Returns: 0 with *hashes (caller frees with rt_free),
 * *n and *images (the manifest's line count), RT_ENOTFOUND, or an error.
 */
int rt_journal_manifest_keys_get(
    struct rt_journal *j, const char *exec_id, uint64_t **hashes, size_t *n, int64_t *images);

/* ---- the notification outbox ---- */
struct rt_journal_outbox {
    int64_t id;       /* stable: the notification's identity for every delivery attempt */
    char exec_id[64]; /* "" when none */
    char kind[64];    /* the event's stable name, e.g. "training.deployed" */
    char *event;      /* owned JSON of the event */
    int64_t created_ms;
    int64_t attempts;
    int64_t next_ms; /* not before this time */
    char *delivered; /* owned: comma-separated keys of the notifiers that have it */
};
void rt_journal_outbox_cleanup(struct rt_journal_outbox *o);
typedef int rt_journal_outbox_fn(const struct rt_journal_outbox *o, void *ud);
/* Calls cb for each unsent notification due at now_ms (next_ms <= now_ms), oldest first, at most
 * limit. Returns: 0 or an error. */
int rt_journal_outbox_due(
    struct rt_journal *j, int64_t now_ms, int limit, rt_journal_outbox_fn *cb, void *ud);
/* Returns: the earliest next_ms of an unsent notification, 0 when there is none, or -1 when it
 * cannot be read (ask again later). */
int64_t rt_journal_outbox_next_due(struct rt_journal *j);
/* Returns: the largest notification id so far (0 for none); ids of new ones go above it. */
int64_t rt_journal_outbox_max_id(struct rt_journal *j);
/* Makes a new notification id, counted in memory above rt_journal_outbox_max_id (the loop
 * thread's ids for rt_jbatch_outbox_add; an id whose batch never commits is simply skipped).
 * Returns: 0 and *id, or the error of the first use's read of the largest id (nothing reserved:
 * the next call reads again). */
int rt_journal_outbox_reserve_id(struct rt_journal *j, int64_t *id);

/* ---- write batches: the daemon's writes, applied by the writer thread ---- */
/*
 * A batch is a list of writes built on the loop thread and applied atomically: every write of a
 * batch commits, or none does. Each add function copies its arguments and returns 0 or
 * RT_ENOMEM (a batch that failed to grow must not be submitted: free it).
 */
int rt_jbatch_new(struct rt_jbatch **out);
void rt_jbatch_free(struct rt_jbatch *b);
/* Returns: the number of writes in b. */
size_t rt_jbatch_count(const struct rt_jbatch *b);
int rt_jbatch_exec_create(struct rt_jbatch *b,
                          const char *id,
                          const char *workflow,
                          const char *initial_state,
                          const char *input_json,
                          const char *context_json,
                          int64_t now_ms);
int rt_jbatch_exec_advance(struct rt_jbatch *b,
                           const char *id,
                           const char *output_json,
                           const char *error,
                           const char *next_state,
                           bool terminal,
                           const char *context_json,
                           int64_t now_ms);
/* Replaces the context of id without a transition. */
int rt_jbatch_exec_context(struct rt_jbatch *b, const char *id, const char *context_json);
/* Counts one more identical check on a finished execution (checks + 1, last_checked = now). */
int rt_jbatch_exec_checked(struct rt_jbatch *b, const char *id, int64_t now_ms);
int rt_jbatch_state_set(struct rt_jbatch *b, const char *key, const char *value);
int rt_jbatch_state_set_i64(struct rt_jbatch *b, const char *key, int64_t value);
int rt_jbatch_param_set(struct rt_jbatch *b, const char *name, const char *value, int64_t now_ms);
int rt_jbatch_param_delete(struct rt_jbatch *b, const char *name);
int rt_jbatch_model_put(struct rt_jbatch *b, const struct rt_journal_model *m);
/* Updates the status of version (f1 < 0 keeps it; stopped_ms 0 keeps it); absent is fine. */
int rt_jbatch_model_status(
    struct rt_jbatch *b, const char *version, const char *status, double f1, int64_t stopped_ms);
int rt_jbatch_model_set_active(struct rt_jbatch *b, const char *version, int64_t now_ms);
int rt_jbatch_request_taken(struct rt_jbatch *b, int64_t id, int64_t now_ms);
/* Records the key hashes (sorted rt_hash64 values) of exec_id's manifest of images lines. */
int rt_jbatch_manifest_keys(
    struct rt_jbatch *b, const char *exec_id, const uint64_t *hashes, size_t n, int64_t images);
/* Adds notification id (see rt_journal_outbox_max_id) to the outbox. */
int rt_jbatch_outbox_add(struct rt_jbatch *b,
                         int64_t id,
                         const char *exec_id,
                         const char *kind,
                         const char *event_json,
                         int64_t now_ms);
/* Records a delivery round of notification id: attempts, the next try (sent_ms 0) or the end
 * (sent_ms > 0: delivered everywhere, or given up with last_error), and who has it. */
int rt_jbatch_outbox_update(struct rt_jbatch *b,
                            int64_t id,
                            int64_t attempts,
                            int64_t next_ms,
                            int64_t sent_ms,
                            const char *delivered,
                            const char *last_error);

/* Applies every write of b in one transaction on the calling thread (the CLI, tests).
 * Returns: 0, or the first error with err filled (nothing of b is written then). */
int rt_journal_apply(struct rt_journal *j, const struct rt_jbatch *b, struct rt_error *err);

/*
 * Completion of a submitted batch, on the loop thread, exactly once: status 0 once the batch is
 * durable (committed with synchronous=FULL), else the error (nothing of the batch was written).
 */
typedef void rt_journal_write_fn(int status, const struct rt_error *err, void *ud);
/*
 * Starts the writer thread of j (a read-write journal): it opens its own connection to the same
 * file, and from now on j's own connection is for reads only (its write functions refuse with
 * RT_EINVAL). Completions are delivered on loop. Returns: 0 or an error in err.
 */
int rt_journal_writer_start(struct rt_journal *j, struct uv_loop_s *loop, struct rt_error *err);
/* Queues b (taken over, even on failure) for the writer; cb runs when it is durable or failed.
 * Returns: 0, or RT_EINVAL (no writer running) / RT_ECANCELED (closing): cb never runs then. */
int rt_journal_submit(struct rt_journal *j, struct rt_jbatch *b, rt_journal_write_fn *cb, void *ud);
/* Returns: true while the writer thread runs (between start and the end of its close). */
bool rt_journal_writer_running(const struct rt_journal *j);
/* Returns: batches submitted whose completion has not run yet. */
int rt_journal_writer_pending(const struct rt_journal *j);
/* Statistics of the writer for logs and benchmarks. */
struct rt_journal_writer_stats {
    int64_t batches;   /* batches committed */
    int64_t commits;   /* transactions committed (one fsync each) */
    int64_t failures;  /* batches that failed */
    int64_t max_group; /* most batches in one commit */
};
void rt_journal_writer_stats(const struct rt_journal *j, struct rt_journal_writer_stats *out);
/*
 * Stops the writer once every submitted batch is applied and delivered, joins its thread and
 * closes its connection; then calls cb(ud) on the loop. cb is never called inside this call.
 */
void rt_journal_writer_close(struct rt_journal *j, void (*cb)(void *ud), void *ud);

#endif
