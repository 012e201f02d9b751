/*
 * engine.h - the train/deploy/detect interface (builtin classifier or Rekognition Custom Labels).
 *
 * Shaped after Rekognition's asynchronous model lifecycle so both drivers fit: train() starts a
 * training and returns; describe() reports a version's status, F1 and image count; start() and
 * stop() change whether a version serves; detect() classifies one image with a running version.
 * Every operation is idempotent on the version name, which the workflow derives from the
 * execution id: training a version that already exists completed is a no-op success, starting a
 * running version succeeds, stopping a stopped one succeeds.
 *
 * Callbacks run on the loop thread, never from inside the starting call. If the starting call
 * returns an error, its callback is never called.
 */
#ifndef RETRAIND_ENGINE_H
#define RETRAIND_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/error.h"

struct uv_loop_s;
struct rt_store;
struct rt_engine;

enum rt_model_status {
    RT_MODEL_UNKNOWN = 0, /* no such version (or a training interrupted by a crash) */
    RT_MODEL_TRAINING_IN_PROGRESS,
    RT_MODEL_TRAINING_COMPLETED,
    RT_MODEL_TRAINING_FAILED, /* info.message says why (e.g. too few usable images) */
    RT_MODEL_STARTING,
    RT_MODEL_RUNNING,
    RT_MODEL_STOPPING,
    RT_MODEL_STOPPED,
    RT_MODEL_FAILED /* deployment failed */
};

/* Returns: "TRAINING_IN_PROGRESS" etc. (Rekognition's names). */
const char *rt_model_status_name(enum rt_model_status s);

struct rt_label_metric {
    char label[128];
    double precision, recall, f1; /* 0..1 */
    int64_t test_images;
};

struct rt_model_info {
    char version[128];
    enum rt_model_status status;
    char message[256];   /* status message / failure reason */
    double f1;           /* macro F1 on the test split, 0..1; valid once training completed */
    int64_t images;      /* images listed in the manifest */
    int64_t images_used; /* images that decoded and were used */
    int64_t train_images, test_images;
    struct rt_label_metric *labels; /* borrowed, valid during the callback only */
    size_t n_labels;
};

struct rt_train_request {
    const char *version;         /* name of the new version, derived from the execution id */
    const char *manifest_key;    /* Ground Truth manifest in the store */
    const char *output_prefix;   /* evaluation/ output prefix in the store */
    const char *label_attribute; /* the manifest's label attribute name */
};

struct rt_detection_label {
    char name[128];
    double confidence; /* 0..100 */
};

typedef void rt_engine_done_fn(int status, const struct rt_error *err, void *ud);
typedef void rt_engine_describe_fn(int status,
                                   const struct rt_model_info *info,
                                   const struct rt_error *err,
                                   void *ud);
/* labels sorted by confidence, highest first; borrowed, valid during the callback only. */
typedef void rt_engine_detect_fn(int status,
                                 const struct rt_detection_label *labels,
                                 size_t n,
                                 const struct rt_error *err,
                                 void *ud);

struct rt_engine_ops {
    const char *name; /* "builtin", "rekognition" */
    /* Starts training req->version from the manifest; done means "started" (or already exists).
     * Progress and result come from describe(). */
    int (*train)(struct rt_engine *e,
                 const struct rt_train_request *req,
                 rt_engine_done_fn *cb,
                 void *ud);
    int (*describe)(struct rt_engine *e, const char *version, rt_engine_describe_fn *cb, void *ud);
    /* Starts serving version with min_units inference units; done means "starting". */
    int (*start)(
        struct rt_engine *e, const char *version, int min_units, rt_engine_done_fn *cb, void *ud);
    int (*stop)(struct rt_engine *e, const char *version, rt_engine_done_fn *cb, void *ud);
    /* Classifies one image (bytes borrowed until the callback) with a running version. */
    int (*detect)(struct rt_engine *e,
                  const char *version,
                  const void *image,
                  size_t len,
                  double min_confidence,
                  rt_engine_detect_fn *cb,
                  void *ud);
    /* Optional (NULL: callers use detect): classifies the store object key, which the engine
     * reads itself (Rekognition's Image.S3Object); image/len are the bytes the caller already
     * read (borrowed until the callback), for a driver that cannot reach the object. A busy
     * model answers RT_ETHROTTLED (the caller should slow down and try again), a version that
     * is not serving RT_EBUSY. */
    int (*detect_key)(struct rt_engine *e,
                      const char *version,
                      const char *key,
                      const void *image,
                      size_t len,
                      double min_confidence,
                      rt_engine_detect_fn *cb,
                      void *ud);
    /* Optional (NULL: the version name is all there is): the provider's identifier of version
     * (Rekognition's ProjectVersionArn), or of the project when version is NULL; NULL while not
     * known. Valid until the next call into the engine. */
    const char *(*arn)(struct rt_engine *e, const char *version);
    /* Cancels what it can, waits for thread-pool work, frees e; cb (may be NULL) runs at the end.
     */
    void (*close)(struct rt_engine *e, void (*cb)(void *ud), void *ud);
};

struct rt_engine {
    const struct rt_engine_ops *ops;
};

struct rt_engine_builtin_opts {
    const char *models_dir; /* <data_dir>/models: one folder per version */
    /* Borrowed; must stay open until the engine's close callback ran. Reached only through its
     * asynchronous get (manifest, images) and put (evaluation), so any store driver serves. */
    struct rt_store *store;
    int threads; /* decodes queued on the pool at once per training (gets in flight: twice as
                  * many); 0 = 2 */
};
/* Creates the builtin engine. Versions left RUNNING by a previous process are loaded again on
 * start(); a training interrupted by a crash reads back as RT_MODEL_UNKNOWN. A training holds at
 * most 2 x threads images in memory, each at most 15 MB, however many the manifest lists, and
 * logs event=train_progress every 5 s while it runs. */
int rt_engine_builtin_new(struct uv_loop_s *loop,
                          const struct rt_engine_builtin_opts *opts,
                          struct rt_engine **out,
                          struct rt_error *err);

#endif
