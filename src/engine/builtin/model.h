/*
 * model.h - multinomial logistic regression on standardised features, its evaluation and its
 * file format (private to src/engine/).
 *
 * Everything here is pure computation or file I/O on one model: callers run it on the thread
 * pool. A model is shared between the loop and detect work by reference count, counted only on
 * the loop thread (rt__model_ref/unref are not thread-safe on purpose: the loop owns them).
 */
#ifndef RT_ENGINE_MODEL_H
#define RT_ENGINE_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/engine.h"
#include "retraind/error.h"

struct rt__model {
    int refs;
    size_t n_labels, n_feat;
    char (*labels)[128];
    float *mean, *scale; /* standardisation: (x - mean) * scale */
    double *w;           /* n_labels x n_feat, row-major */
    double *b;           /* n_labels */
};

/* Allocates an empty model with refs = 1. Returns: the model or NULL (out of memory). */
struct rt__model *rt__model_new(size_t n_labels, size_t n_feat);
/* Drops one reference; frees at zero. NULL is fine. */
void rt__model_unref(struct rt__model *m);

/* Iterations of rt__model_fit (full-batch Adam steps). */
#define RT__MODEL_FIT_ITERS 300

/*
 * Fits m (already sized) on n rows of x (n x n_feat floats) with labels y (0..n_labels-1):
 * computes the standardisation, then minimises the L2-regularised cross-entropy by full-batch
 * gradient descent with Adam. Deterministic for the same input. cancel (may be NULL) is polled;
 * when it becomes non-zero the fit stops early. iters_done (may be NULL) is set to the number of
 * iterations finished so far (0..RT__MODEL_FIT_ITERS), for a progress report read by another
 * thread. Returns: 0, RT_ENOMEM or RT_ECANCELED.
 */
int rt__model_fit(struct rt__model *m,
                  const float *x,
                  const int *y,
                  size_t n,
                  const atomic_int *cancel,
                  atomic_int *iters_done);

/* Writes n_labels class probabilities for one feature vector into probs. */
void rt__model_predict(const struct rt__model *m, const float *feat, double *probs);

/*
 * Serialises m plus metrics_json (a complete JSON object text, or NULL) as one JSON document.
 * Returns: a string the caller frees with rt_free, or NULL (out of memory).
 */
char *rt__model_to_json(const struct rt__model *m, const char *metrics_json);
/* Parses what rt__model_to_json wrote. Returns: 0 and *out (refs = 1), RT_EPARSE or RT_ENOMEM. */
int rt__model_from_json(const char *text, size_t len, struct rt__model **out, struct rt_error *err);

#endif
