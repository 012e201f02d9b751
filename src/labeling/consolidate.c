/*
 * consolidate.c - Dawid-Skene EM over workers' answers (consolidate.h).
 *
 * Layout: answers are bucketed by item once (a counting sort into `order`, with `start[i]` the
 * first of item i), so each E-step walks every answer once. The M-step adds each item's
 * posterior to the confusion row of every worker who answered it, plus the Dirichlet
 * pseudo-counts, and normalises. Everything is in log space in the E-step so that many answers
 * per item cannot underflow; the logs of the matrices are taken once per E-step (not once per
 * answer: that was half the time on 100,000 answers, bench/bench_consolidate.c).
 *
 * The start is the vote shares (Dawid and Skene's own). The pseudo-counts matter on small jobs:
 * with ~150 answers per worker the plain maximum-likelihood matrices overfit, and simulated
 * crowds of 200 images (tests/unit/test_consolidate.c) label best with about 10 pseudo-answers
 * per row centred on the worker's overall accuracy.
 */
#include "retraind/consolidate.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/error.h"

#define DEFAULT_ITERATIONS 500
#define DEFAULT_TOLERANCE 1e-6
#define MODEL_FLOOR 1e-6 /* a model probability of 0 must not veto the people */

struct work {
    const struct rt_ds_answer *a;
    const struct rt_ds_options *o;
    int K;
    int *order, *start; /* answers by item */
    double strength;    /* pseudo-answers per confusion row */
    /* log(confusion) of the workers with answers, filled at the start of each E-step, or NULL
     * when workers answer fewer than n_labels times each on average (then taking the log of
     * the entries each answer uses is cheaper than a table of them all). */
    double *logcm;
};

void rt_ds_result_free(struct rt_ds_result *r)
{
    if (!r)
        return;
    rt_free(r->posterior);
    rt_free(r->label);
    rt_free(r->confidence);
    rt_free(r->confusion);
    rt_free(r->accuracy);
    rt_free(r->quality);
    rt_free(r->answers);
    memset(r, 0, sizeof(*r));
}

static int check_answers(const struct rt_ds_answer *a, size_t n, int items, int workers, int K)
{
    for (size_t x = 0; x < n; x++)
        if (a[x].item < 0 || a[x].item >= items || a[x].worker < 0 || a[x].worker >= workers ||
            a[x].label < 0 || a[x].label >= K)
            return RT_EINVAL;
    return 0;
}

int rt_ds_majority(
    const struct rt_ds_answer *answers, size_t n_answers, int n_items, int n_labels, int *label)
{
    if (n_items < 0 || n_labels < 1 || n_labels > RT_DS_MAX_LABELS || (n_items && !label) ||
        check_answers(answers, n_answers, n_items, 1 << 30, n_labels))
        return RT_EINVAL;
    int *votes = rt_calloc((size_t)n_items * (size_t)n_labels + 1, sizeof(int));
    if (!votes)
        return RT_ENOMEM;
    for (size_t x = 0; x < n_answers; x++)
        votes[(size_t)answers[x].item * (size_t)n_labels + (size_t)answers[x].label]++;
    for (int i = 0; i < n_items; i++) {
        const int *v = votes + (size_t)i * (size_t)n_labels;
        int best = -1, most = 0;
        for (int k = 0; k < n_labels; k++)
            if (v[k] > most) {
                most = v[k];
                best = k;
            }
        label[i] = best;
    }
    rt_free(votes);
    return 0;
}

/* The model's probability of k for item i, or -1 when there is no prediction for it. */
static double model_p(const struct work *w, int i, int k)
{
    const struct rt_ds_options *o = w->o;
    if (!o->model_probs || o->model_weight <= 0)
        return -1;
    const double *row = o->model_probs + (size_t)i * (size_t)w->K;
    double sum = 0;
    for (int l = 0; l < w->K; l++)
        sum += row[l] > 0 ? row[l] : 0;
    if (sum <= 0)
        return -1;
    double p = row[k] > 0 ? row[k] / sum : 0;
    return p < MODEL_FLOOR ? MODEL_FLOOR : p;
}

/* The start: each item's vote shares, the model's opinion added with its weight. */
static void initial_posteriors(const struct work *w, struct rt_ds_result *r)
{
    int K = w->K;
    for (int i = 0; i < r->n_items; i++) {
        double *t = r->posterior + (size_t)i * (size_t)K, sum = 0;
        for (int k = 0; k < K; k++)
            t[k] = 0;
        for (int x = w->start[i]; x < w->start[i + 1]; x++)
            t[w->a[w->order[x]].label] += 1;
        for (int k = 0; k < K; k++) {
            double m = model_p(w, i, k);
            if (m >= 0)
                t[k] += w->o->model_weight * m;
            sum += t[k];
        }
        for (int k = 0; k < K; k++)
            t[k] = sum > 0 ? t[k] / sum : 1.0 / K;
    }
}

/* M-step: the label prior and every worker's confusion matrix from the posteriors. Each row
 * starts from `strength` pseudo-answers spread by the worker's overall accuracy (r->accuracy is
 * used as scratch for it here; worker_scores sets the reported value at the end). */
static void m_step(const struct work *w, struct rt_ds_result *r)
{
    int K = w->K;
    size_t KK = (size_t)K * (size_t)K;
    for (int u = 0; u < r->n_workers; u++)
        r->accuracy[u] = 2; /* Laplace-like start: 2 right of 3 */
    for (int i = 0; i < r->n_items; i++) {
        const double *t = r->posterior + (size_t)i * (size_t)K;
        for (int x = w->start[i]; x < w->start[i + 1]; x++)
            r->accuracy[w->a[w->order[x]].worker] += t[w->a[w->order[x]].label];
    }
    for (int u = 0; u < r->n_workers; u++) {
        double acc = r->accuracy[u] / (r->answers[u] + 3);
        double diag = w->strength * acc, off = w->strength * (1 - acc) / (K - 1);
        for (int k = 0; k < K; k++)
            for (int l = 0; l < K; l++)
                r->confusion[(size_t)u * KK + (size_t)k * (size_t)K + (size_t)l] =
                    (k == l ? diag : off) + 1e-9; /* never a row of zeros */
    }
    double count[RT_DS_MAX_LABELS] = {0}, answered = 0;
    for (int i = 0; i < r->n_items; i++) {
        if (w->start[i] == w->start[i + 1])
            continue;
        const double *t = r->posterior + (size_t)i * (size_t)K;
        answered += 1;
        for (int k = 0; k < K; k++)
            count[k] += t[k];
        for (int x = w->start[i]; x < w->start[i + 1]; x++) {
            const struct rt_ds_answer *a = &w->a[w->order[x]];
            double *cm = r->confusion + (size_t)a->worker * KK;
            for (int k = 0; k < K; k++)
                cm[(size_t)k * (size_t)K + (size_t)a->label] += t[k];
        }
    }
    for (int k = 0; k < K; k++)
        r->prior[k] = (count[k] + 1) / (answered + K); /* Laplace: no label prior of 0 */
    for (int u = 0; u < r->n_workers; u++)
        for (int k = 0; k < K; k++) {
            double *row = r->confusion + (size_t)u * KK + (size_t)k * (size_t)K, sum = 0;
            for (int l = 0; l < K; l++)
                sum += row[l];
            for (int l = 0; l < K; l++)
                row[l] /= sum;
        }
}

/* E-step: the posteriors from the prior, the matrices and the model. Returns the largest change. */
static double e_step(const struct work *w, struct rt_ds_result *r)
{
    int K = w->K;
    size_t KK = (size_t)K * (size_t)K;
    double change = 0, log_prior[RT_DS_MAX_LABELS];
    for (int k = 0; k < K; k++)
        log_prior[k] = log(r->prior[k]);
    for (int u = 0; w->logcm && u < r->n_workers; u++)
        if (r->answers[u] > 0)
            for (size_t x = (size_t)u * KK; x < (size_t)(u + 1) * KK; x++)
                w->logcm[x] = log(r->confusion[x]);
    for (int i = 0; i < r->n_items; i++) {
        double lg[RT_DS_MAX_LABELS], best = -INFINITY;
        for (int k = 0; k < K; k++) {
            lg[k] = log_prior[k];
            double m = model_p(w, i, k);
            if (m >= 0)
                lg[k] += w->o->model_weight * log(m);
        }
        for (int x = w->start[i]; x < w->start[i + 1]; x++) {
            const struct rt_ds_answer *a = &w->a[w->order[x]];
            if (w->logcm) {
                const double *lcm = w->logcm + (size_t)a->worker * KK + (size_t)a->label;
                for (int k = 0; k < K; k++)
                    lg[k] += lcm[(size_t)k * (size_t)K];
            } else {
                const double *cm = r->confusion + (size_t)a->worker * KK;
                for (int k = 0; k < K; k++)
                    lg[k] += log(cm[(size_t)k * (size_t)K + (size_t)a->label]);
            }
        }
        for (int k = 0; k < K; k++)
            if (lg[k] > best)
                best = lg[k];
        double sum = 0;
        for (int k = 0; k < K; k++)
            sum += (lg[k] = exp(lg[k] - best));
        double *t = r->posterior + (size_t)i * (size_t)K;
        for (int k = 0; k < K; k++) {
            double v = lg[k] / sum;
            if (fabs(v - t[k]) > change)
                change = fabs(v - t[k]);
            t[k] = v;
        }
    }
    return change;
}

/* Accuracy and chance-corrected quality of each worker under the label prior. */
static void worker_scores(const struct work *w, struct rt_ds_result *r)
{
    int K = w->K;
    size_t KK = (size_t)K * (size_t)K;
    for (int u = 0; u < r->n_workers; u++) {
        const double *cm = r->confusion + (size_t)u * KK;
        double agree = 0, chance = 0;
        for (int k = 0; k < K; k++)
            agree += r->prior[k] * cm[(size_t)k * (size_t)K + (size_t)k];
        for (int l = 0; l < K; l++) {
            double answer_l = 0; /* how often this worker answers l */
            for (int k = 0; k < K; k++)
                answer_l += r->prior[k] * cm[(size_t)k * (size_t)K + (size_t)l];
            chance += r->prior[l] * answer_l;
        }
        r->accuracy[u] = agree;
        r->quality[u] = r->answers[u] == 0 || chance >= 1 ? 0 : (agree - chance) / (1 - chance);
    }
}

int rt_ds_consolidate(const struct rt_ds_answer *answers,
                      size_t n_answers,
                      const struct rt_ds_options *opts,
                      struct rt_ds_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!opts || opts->n_items < 0 || opts->n_workers < 0 || opts->n_labels < 2 ||
        opts->n_labels > RT_DS_MAX_LABELS || n_answers > (size_t)1 << 30 ||
        opts->model_weight < 0 || opts->model_weight > 1 || opts->prior_strength < 0 ||
        check_answers(answers, n_answers, opts->n_items, opts->n_workers, opts->n_labels))
        return RT_EINVAL;
    int K = opts->n_labels, N = opts->n_items, W = opts->n_workers;
    struct work w = {.a = answers, .o = opts, .K = K};
    if (opts->prior_strength > 0) {
        w.strength = opts->prior_strength;
    } else {
        w.strength = 0; /* from the answers per worker, once they are counted (below) */
    }
    out->n_items = N;
    out->n_workers = W;
    out->n_labels = K;
    size_t NK = (size_t)N * (size_t)K, WKK = (size_t)W * (size_t)K * (size_t)K;
    out->posterior = rt_calloc(NK + 1, sizeof(double));
    out->label = rt_calloc((size_t)N + 1, sizeof(int));
    out->confidence = rt_calloc((size_t)N + 1, sizeof(double));
    out->confusion = rt_calloc(WKK + 1, sizeof(double));
    out->accuracy = rt_calloc((size_t)W + 1, sizeof(double));
    out->quality = rt_calloc((size_t)W + 1, sizeof(double));
    out->answers = rt_calloc((size_t)W + 1, sizeof(int));
    w.order = rt_calloc(n_answers + 1, sizeof(int));
    w.start = rt_calloc((size_t)N + 2, sizeof(int));
    if (!out->posterior || !out->label || !out->confidence || !out->confusion || !out->accuracy ||
        !out->quality || !out->answers || !w.order || !w.start) {
        rt_free(w.order);
        rt_free(w.start);
        rt_ds_result_free(out);
        return RT_ENOMEM;
    }
    /* counting sort of the answers by item */
    for (size_t x = 0; x < n_answers; x++) {
        w.start[answers[x].item + 1]++;
        out->answers[answers[x].worker]++;
    }
    for (int i = 0; i < N; i++)
        w.start[i + 1] += w.start[i];
    int *fill = rt_calloc((size_t)N + 1, sizeof(int));
    if (!fill) {
        rt_free(w.order);
        rt_free(w.start);
        rt_ds_result_free(out);
        return RT_ENOMEM;
    }
    for (size_t x = 0; x < n_answers; x++) {
        int i = answers[x].item;
        w.order[w.start[i] + fill[i]++] = (int)x;
    }
    rt_free(fill);
    int active = 0;
    for (int u = 0; u < W; u++)
        active += out->answers[u] > 0;
    if (w.strength <= 0) {
        double per_worker = active ? (double)n_answers / active : 0;
        w.strength = per_worker / 15 < 1 ? 1 : per_worker / 15 > 10 ? 10 : per_worker / 15;
    }
    /* K logs per answer without the table, K * K per active worker with it */
    if (n_answers > (size_t)active * (size_t)K) {
        w.logcm = rt_malloc((WKK + 1) * sizeof(double));
        if (!w.logcm) {
            rt_free(w.order);
            rt_free(w.start);
            rt_ds_result_free(out);
            return RT_ENOMEM;
        }
    }

    int max_it = opts->max_iterations > 0 ? opts->max_iterations : DEFAULT_ITERATIONS;
    double tol = opts->tolerance > 0 ? opts->tolerance : DEFAULT_TOLERANCE;
    initial_posteriors(&w, out);
    for (out->iterations = 0; out->iterations < max_it;) {
        m_step(&w, out);
        out->iterations++;
        if (e_step(&w, out) < tol)
            break;
    }
    m_step(&w, out); /* matrices and prior that match the final posteriors */
    worker_scores(&w, out);
    for (int i = 0; i < N; i++) {
        const double *t = out->posterior + (size_t)i * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (t[k] > t[best])
                best = k;
        bool answered = w.start[i] != w.start[i + 1];
        out->label[i] = answered ? best : -1;
        out->confidence[i] = answered ? t[best] : 0;
    }
    rt_free(w.order);
    rt_free(w.start);
    rt_free(w.logcm);
    return 0;
}
