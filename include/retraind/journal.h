/*
 * journal.h - the daemon's durable memory: SQLite in WAL mode at <data_dir>/journal.db.
 *
 * Holds executions and their steps, local parameters, system state (previous_trained_images,
 * last_attempted_images, ...), model versions, CLI requests to the daemon, and (from the
 * detection work on) detections and review tasks. This module is the only code that includes
 * sqlite3.h. Every call is synchronous and short (one statement or one small transaction); the
 * daemon and the CLI both wait on a locked database (busy timeout) instead of failing.
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
/* Returns: the schema version of the open journal. */
int rt_journal_schema_version(struct rt_journal *j);
/* Returns: a number that changes whenever another connection commits (PRAGMA data_version),
 * so the daemon can tell that the CLI changed something. */
int64_t rt_journal_data_version(struct rt_journal *j);

/*
 * Transactions nest by depth: only the outermost begin issues BEGIN IMMEDIATE and only the
 * outermost commit commits. A rollback at any depth rolls back everything and makes the outer
 * commit fail with RT_EJOURNAL. Every function below that writes more than one row runs in its
 * own (possibly nested) transaction.
 */
int rt_journal_begin(struct rt_journal *j);
int rt_journal_commit(struct rt_journal *j);
void rt_journal_rollback(struct rt_journal *j);

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
    int64_t finished_ms; /* 0 while unfinished */
    char *error;         /* owned or NULL */
    char *input;         /* owned JSON or NULL */
    char *context;       /* owned JSON (the workflow's carried data) or NULL */
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

/* ---- requests from the CLI to the daemon ("trigger training", ...) ---- */
int rt_journal_request_add(struct rt_journal *j, const char *kind, int64_t now_ms);
/* Takes the oldest pending request: copies its kind into out and marks it taken.
 * Returns: 0, or RT_ENOTFOUND when none is pending. */
int rt_journal_request_take(struct rt_journal *j, char *out, size_t size, int64_t now_ms);

#endif
