/*
 * builtin.h - shared state of the builtin engine's files (private to src/engine/builtin/).
 *
 * The engine object and every version entry belong to the loop thread. Work handed to the
 * thread pool gets its own struct (a job or an op) holding copies of what it needs; the only
 * field a worker reads that the loop writes is a job's atomic cancel flag.
 */
#ifndef RT_ENGINE_BUILTIN_H
#define RT_ENGINE_BUILTIN_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "model.h"
#include "retraind/buf.h"
#include "retraind/engine.h"
#include "retraind/store.h"

#define RT__VERSION_MAX 128
#define RT__PATH_MAX 4096

struct rt__train_job;

/* What the loop knows about one version (created on first use, freed at close). */
struct rt__ver {
    struct rt__ver *next;
    char name[RT__VERSION_MAX];
    struct rt__train_job *training; /* non-NULL while a training is in flight here */
    struct rt__model *model;        /* loaded and serving (one reference) */
    int op;                         /* RT__OP_NONE, RT__OP_STARTING, RT__OP_STOPPING */
    unsigned serve_gen;             /* bumped by start/stop; a lazy load installs only if same */
};

enum { RT__OP_NONE = 0, RT__OP_STARTING, RT__OP_STOPPING };

struct rt__deferred {
    struct rt__deferred *next;
    rt_engine_done_fn *cb;
    void *ud;
    int status;
    struct rt_error err;
};

struct rt__builtin {
    struct rt_engine base;
    uv_loop_t *loop;
    char models_dir[RT__PATH_MAX];
    struct rt_store *store;
    int threads;
    uv_timer_t timer; /* runs deferred completions on a later loop turn */
    struct rt__deferred *def_head, *def_tail;
    struct rt__ver *vers;
    int pending; /* uv_work_t requests queued and not yet completed */
    bool closing, timer_closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Counts a queued work request and queues it. Returns: 0 or a libuv error. */
int rt__queue(struct rt__builtin *b, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);
/* Called at the end of every after-work callback: uncounts it and finishes a close. */
void rt__work_done(struct rt__builtin *b);
/* Queues cb(status, err) for a later loop turn. Returns: 0 or RT_ENOMEM. */
int rt__defer(
    struct rt__builtin *b, rt_engine_done_fn *cb, void *ud, int status, const struct rt_error *err);

/* Starts a training of ver (train.c). Returns: 0 or an error (nothing queued then). */
int rt__train_start(struct rt__builtin *b,
                    struct rt__ver *ver,
                    const struct rt_train_request *req,
                    struct rt_error *err);
/* Marks a job cancelled (close). */
void rt__train_cancel(struct rt__train_job *job);

/* File helpers for thread-pool work (files.c). All return 0 or -errno / RT_* codes. */
int rt__path(char *out, const char *dir, const char *version, const char *file);
int rt__write_atomic(
    const char *dir, const char *name, const void *data, size_t len, struct rt_error *err);
int rt__read_file(const char *path, size_t max_bytes, struct rt_buf *out);
bool rt__exists(const char *path);

/* File names inside models_dir/<version>/. model.json is written last: its presence means the
 * version is complete. */
#define RT__MODEL_FILE "model.json"
#define RT__METRICS_FILE "metrics.json"
#define RT__FAILED_FILE "failed.json"
#define RT__STATE_FILE "state" /* "running" or "stopped" */

#endif
