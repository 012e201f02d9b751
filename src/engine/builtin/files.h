/*
 * files.h - the builtin engine's own storage: version folders under models_dir, their file
 * names, and small blocking file helpers for thread-pool work (private to src/engine/builtin/).
 *
 * These are the engine's own files, not the store: plain file I/O, always run on the pool.
 */
#ifndef RT_ENGINE_FILES_H
#define RT_ENGINE_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "retraind/buf.h"
#include "retraind/error.h"

#define RT__VERSION_MAX 128
#define RT__PATH_MAX 4096

/* File names inside models_dir/<version>/. model.json is written last: its presence means the
 * version is complete. */
#define RT__MODEL_FILE "model.json"
#define RT__METRICS_FILE "metrics.json"
#define RT__FAILED_FILE "failed.json"
#define RT__STATE_FILE "state" /* "running" or "stopped" */

/* Writes dir/version/file (or dir/version when file is NULL) into out (RT__PATH_MAX bytes).
 * Returns: 0 or RT_ETOOBIG. */
int rt__path(char *out, const char *dir, const char *version, const char *file);
/* Replaces dir/name atomically (temporary file, fsync, rename, fsync of dir).
 * Returns: 0 or a negative code with err saying why. */
int rt__write_atomic(
    const char *dir, const char *name, const void *data, size_t len, struct rt_error *err);
/* Appends the file at path to out. Returns: 0, -errno, RT_ETOOBIG (beyond max_bytes) or
 * RT_ENOMEM. */
int rt__read_file(const char *path, size_t max_bytes, struct rt_buf *out);
bool rt__exists(const char *path);

#endif
