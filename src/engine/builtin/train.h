/*
 * train.h - one training of the builtin engine, as a self-contained unit (private to
 * src/engine/builtin/).
 *
 * A training is started with everything it needs (loop, store, version name and folder, the
 * request, the decode parallelism) and knows nothing of the engine object that started it. It
 * reads the manifest and the images only through the store's asynchronous get, publishes its
 * evaluation with put, keeps its files in the version folder, counts its own outstanding store
 * requests and pool works, and reports once through its completion callback when all of them
 * have returned. It owns one loop handle, the progress timer, which exists only while it runs.
 */
#ifndef RT_ENGINE_TRAIN_H
#define RT_ENGINE_TRAIN_H

#include <stdint.h>
#include <uv.h>

#include "retraind/engine.h"
#include "retraind/error.h"
#include "retraind/store.h"

struct rt__train;

struct rt__train_opts {
    uv_loop_t *loop;
    /* Borrowed; must stay open until the completion callback ran. Only its get (manifest,
     * images) and put (the evaluation, when req->output_prefix is set) are called. */
    struct rt_store *store;
    const char *version;                /* copied */
    const char *dir;                    /* the version's folder, models_dir/<version>; copied */
    const struct rt_train_request *req; /* copied (req->version is not used) */
    int threads;                        /* decodes queued on the pool at once, 1..64 */
    uint64_t progress_ms;               /* period of event=train_progress; 0 = 5000 */
};

/*
 * Called once on the loop thread, never from inside rt__train_start or rt__train_cancel, after
 * every store request and pool work of the training returned and its timer closed. status: 0
 * when the version is complete (trained now, or complete or failed already before), RT_ECANCELED
 * when cancelled before the model was written (nothing left behind that looks complete), or the
 * failure (failed.json written when it could be). The training is freed before the call.
 */
typedef void rt__train_done_fn(int status, void *ud);

/*
 * Starts a training. Gets in flight are at most 2 x threads, and so are image bodies held in
 * memory (each at most RT__IMAGE_MAX_BYTES), whatever the number of images.
 * out: the training, valid until cb runs (for rt__train_cancel); may be NULL.
 * Returns: 0, or an error with err filled (then nothing was started and cb never runs).
 */
int rt__train_start(const struct rt__train_opts *opts,
                    rt__train_done_fn *cb,
                    void *ud,
                    struct rt__train **out,
                    struct rt_error *err);

/*
 * Cancels t: no further get is issued; gets and pool works in flight finish (a running fit
 * stops at its next iteration), then cb reports. Idempotent; runs on the loop thread.
 */
void rt__train_cancel(struct rt__train *t);

#endif
