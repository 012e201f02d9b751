/*
 * model.c - multinomial logistic regression: fit, predict, and a JSON file format.
 *
 * Design: the data sets are small (hundreds to a few thousand images, 294 features), so a
 * full-batch optimiser is fast and, unlike SGD, fully deterministic for a given input. Adam copes
 * with the features' different scales that remain after standardisation. The L2 penalty keeps
 * the weights finite on separable data (tiny demo sets are separable), which also keeps the
 * confidences below a hard 100.
 */
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"

#define FIT_LR 0.05
#define FIT_L2 0.01

struct rt__model *rt__model_new(size_t n_labels, size_t n_feat)
{
    struct rt__model *m = rt_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->refs = 1;
    m->n_labels = n_labels;
    m->n_feat = n_feat;
    m->labels = rt_calloc(n_labels ? n_labels : 1, sizeof(*m->labels));
    m->mean = rt_calloc(n_feat ? n_feat : 1, sizeof(float));
    m->scale = rt_calloc(n_feat ? n_feat : 1, sizeof(float));
    m->w = rt_calloc(n_labels * n_feat > 0 ? n_labels * n_feat : 1, sizeof(double));
    m->b = rt_calloc(n_labels ? n_labels : 1, sizeof(double));
    if (!m->labels || !m->mean || !m->scale || !m->w || !m->b) {
        m->refs = 1;
        rt__model_unref(m);
        return NULL;
    }
    return m;
}

void rt__model_unref(struct rt__model *m)
{
    if (!m || --m->refs > 0)
        return;
    rt_free(m->labels);
    rt_free(m->mean);
    rt_free(m->scale);
    rt_free(m->w);
    rt_free(m->b);
    rt_free(m);
}

/* Softmax of n logits in place, numerically stable. */
static void softmax(double *z, size_t n)
{
    double mx = z[0];
    for (size_t k = 1; k < n; k++)
        if (z[k] > mx)
            mx = z[k];
    double s = 0;
    for (size_t k = 0; k < n; k++) {
        z[k] = exp(z[k] - mx);
        s += z[k];
    }
    for (size_t k = 0; k < n; k++)
        z[k] /= s;
}

int rt__model_fit(struct rt__model *m,
                  const float *x,
                  const int *y,
                  size_t n,
                  const atomic_int *cancel,
                  atomic_int *iters_done)
{
    size_t d = m->n_feat, K = m->n_labels;
    if (n == 0 || K == 0)
        return RT_EINVAL;
    /* Standardisation from the training rows. */
    for (size_t j = 0; j < d; j++) {
        double s = 0, sq = 0;
        for (size_t i = 0; i < n; i++) {
            double v = x[i * d + j];
            s += v;
            sq += v * v;
        }
        double mean = s / (double)n;
        double var = sq / (double)n - mean * mean;
        double sd = var > 1e-12 ? sqrt(var) : 0;
        m->mean[j] = (float)mean;
        m->scale[j] = sd > 1e-6 ? (float)(1.0 / sd) : 0.0f; /* a constant feature carries nothing */
    }
    float *xs = rt_malloc(sizeof(float) * n * d);
    size_t np = K * d + K;
    double *grad = rt_calloc(np, sizeof(double));
    double *m1 = rt_calloc(np, sizeof(double));
    double *m2 = rt_calloc(np, sizeof(double));
    double *p = rt_malloc(sizeof(double) * K);
    if (!xs || !grad || !m1 || !m2 || !p) {
        rt_free(xs);
        rt_free(grad);
        rt_free(m1);
        rt_free(m2);
        rt_free(p);
        return RT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            xs[i * d + j] = (x[i * d + j] - m->mean[j]) * m->scale[j];
    memset(m->w, 0, sizeof(double) * K * d);
    memset(m->b, 0, sizeof(double) * K);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double b1t = 1, b2t = 1;
    int rc = 0;
    for (int it = 0; it < RT__MODEL_FIT_ITERS; it++) {
        if (cancel && atomic_load(cancel)) {
            rc = RT_ECANCELED;
            break;
        }
        memset(grad, 0, sizeof(double) * np);
        for (size_t i = 0; i < n; i++) {
            const float *xi = xs + i * d;
            for (size_t k = 0; k < K; k++) {
                const double *wk = m->w + k * d;
                double z = m->b[k];
                for (size_t j = 0; j < d; j++)
                    z += wk[j] * xi[j];
                p[k] = z;
            }
            softmax(p, K);
            for (size_t k = 0; k < K; k++) {
                double g = p[k] - (y[i] == (int)k ? 1.0 : 0.0);
                double *gk = grad + k * d;
                for (size_t j = 0; j < d; j++)
                    gk[j] += g * xi[j];
                grad[K * d + k] += g;
            }
        }
        b1t *= b1;
        b2t *= b2;
        for (size_t q = 0; q < np; q++) {
            double g = grad[q] / (double)n;
            if (q < K * d)
                g += FIT_L2 * m->w[q];
            m1[q] = b1 * m1[q] + (1 - b1) * g;
            m2[q] = b2 * m2[q] + (1 - b2) * g * g;
            double step = FIT_LR * (m1[q] / (1 - b1t)) / (sqrt(m2[q] / (1 - b2t)) + eps);
            if (q < K * d)
                m->w[q] -= step;
            else
                m->b[q - K * d] -= step;
        }
        if (iters_done)
            atomic_store_explicit(iters_done, it + 1, memory_order_relaxed);
    }
    rt_free(xs);
    rt_free(grad);
    rt_free(m1);
    rt_free(m2);
    rt_free(p);
    return rc;
}

void rt__model_predict(const struct rt__model *m, const float *feat, double *probs)
{
    size_t d = m->n_feat;
    for (size_t k = 0; k < m->n_labels; k++) {
        const double *wk = m->w + k * d;
        double z = m->b[k];
        for (size_t j = 0; j < d; j++)
            z += wk[j] * (double)((feat[j] - m->mean[j]) * m->scale[j]);
        probs[k] = z;
    }
    softmax(probs, m->n_labels);
}

static cJSON *float_array(const float *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *num = cJSON_CreateNumber(v[i]);
        if (!num || !cJSON_AddItemToArray(a, num)) {
            cJSON_Delete(num);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *double_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *num = cJSON_CreateNumber(v[i]);
        if (!num || !cJSON_AddItemToArray(a, num)) {
            cJSON_Delete(num);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

char *rt__model_to_json(const struct rt__model *m, const char *metrics_json)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = cJSON_AddNumberToObject(root, "format", 1) &&
              cJSON_AddNumberToObject(root, "features", (double)m->n_feat);
    cJSON *labels = ok ? cJSON_AddArrayToObject(root, "labels") : NULL;
    ok = ok && labels;
    for (size_t k = 0; ok && k < m->n_labels; k++) {
        cJSON *s = cJSON_CreateString(m->labels[k]);
        ok = s && cJSON_AddItemToArray(labels, s);
        if (!ok)
            cJSON_Delete(s);
    }
    struct {
        const char *name;
        cJSON *v;
    } arrays[] = {{"mean", float_array(m->mean, m->n_feat)},
                  {"scale", float_array(m->scale, m->n_feat)},
                  {"weights", double_array(m->w, m->n_labels * m->n_feat)},
                  {"bias", double_array(m->b, m->n_labels)}};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
        if (ok && arrays[i].v && cJSON_AddItemToObject(root, arrays[i].name, arrays[i].v))
            continue;
        ok = false;
        cJSON_Delete(arrays[i].v);
    }
    if (ok && metrics_json) {
        cJSON *mj = cJSON_Parse(metrics_json);
        ok = mj && cJSON_AddItemToObject(root, "metrics", mj);
        if (!ok)
            cJSON_Delete(mj);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return NULL;
    char *out = rt_strdup(text);
    cJSON_free(text);
    return out;
}

static int read_numbers(const cJSON *a, size_t n, float *f, double *d)
{
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
        return RT_EPARSE;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            return RT_EPARSE;
        if (f)
            f[i] = (float)it->valuedouble;
        else
            d[i] = it->valuedouble;
        i++;
    }
    return 0;
}

int rt__model_from_json(const char *text, size_t len, struct rt__model **out, struct rt_error *err)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return rt_error_set(err, RT_EPARSE, "model file is not valid JSON");
    int rc = RT_EPARSE;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *feat = cJSON_GetObjectItemCaseSensitive(root, "features");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    struct rt__model *m = NULL;
    if (!cJSON_IsNumber(fmt) || fmt->valuedouble != 1 || !cJSON_IsNumber(feat) ||
        feat->valuedouble < 1 || feat->valuedouble > 100000 || !cJSON_IsArray(labels) ||
        cJSON_GetArraySize(labels) < 1 || cJSON_GetArraySize(labels) > 10000) {
        rt_error_set(err, RT_EPARSE, "model file: bad header");
        goto done;
    }
    m = rt__model_new((size_t)cJSON_GetArraySize(labels), (size_t)feat->valuedouble);
    if (!m) {
        rc = rt_error_set(err, RT_ENOMEM, "model file: out of memory");
        goto done;
    }
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, labels)
    {
        if (!cJSON_IsString(it) || rt_strlcpy(m->labels[k], it->valuestring, 128) != 0) {
            rt_error_set(err, RT_EPARSE, "model file: bad label");
            goto done;
        }
        k++;
    }
    if (read_numbers(cJSON_GetObjectItemCaseSensitive(root, "mean"), m->n_feat, m->mean, NULL) ||
        read_numbers(cJSON_GetObjectItemCaseSensitive(root, "scale"), m->n_feat, m->scale, NULL) ||
        read_numbers(cJSON_GetObjectItemCaseSensitive(root, "weights"), m->n_labels * m->n_feat,
                     NULL, m->w) ||
        read_numbers(cJSON_GetObjectItemCaseSensitive(root, "bias"), m->n_labels, NULL, m->b)) {
        rt_error_set(err, RT_EPARSE, "model file: bad parameter arrays");
        goto done;
    }
    *out = m;
    m = NULL;
    rc = 0;
done:
    rt__model_unref(m);
    cJSON_Delete(root);
    return rc;
}
