/*
 * consolidate.h - turning several people's answers about the same images into one label per
 * image, better than counting votes (labeling jobs, issue #10).
 *
 * The method is Dawid & Skene's (1979) expectation-maximisation: every worker has a confusion
 * matrix (the probability that they answer l when the truth is k), the labels have a prior, and
 * the true labels and the matrices are estimated together. A worker who is often wrong, or who
 * answers the same label whatever the image shows, ends up with little weight; a good worker's
 * answer counts for more than a vote. Each confusion row starts from Dirichlet pseudo-counts
 * centred on the worker's overall share of right answers (so a worker with few answers, or few
 * answers on one label, is judged by the rest of their work instead of by a handful of answers
 * or a division by zero).
 *
 * A deployed model's prediction can join as one more opinion (the CROWDLAB idea): its class
 * probabilities multiply each image's likelihood, raised to model_weight (0 = ignored, 1 = as
 * much as one calibrated worker).
 *
 * Pure computation: no I/O, no loop, deterministic for the same input.
 */
#ifndef RETRAIND_CONSOLIDATE_H
#define RETRAIND_CONSOLIDATE_H

#include <stddef.h>

#define RT_DS_MAX_LABELS 16

struct rt_ds_answer {
    int item;   /* 0..n_items-1 */
    int worker; /* 0..n_workers-1 */
    int label;  /* 0..n_labels-1 */
};

struct rt_ds_options {
    int n_items, n_workers, n_labels; /* n_labels 2..RT_DS_MAX_LABELS */
    int max_iterations;               /* 0 = 500 */
    double tolerance;                 /* largest posterior change that ends the EM; 0 = 1e-6 */
    /* Pseudo-answers per confusion row, spread as the worker's overall accuracy says (that much
     * on the diagonal, the rest over the other labels). 0 = answers per worker / 15, kept in
     * 1..10: simulated crowds of 200 images (~150 answers a worker) label best around 10, while
     * on a few dozen images a prior that strong lets a worker who always answers the same label
     * pull every image to that label. Far more (the "one coin" model) misjudges that worker. */
    double prior_strength;
    /* Optional model opinion: n_items * n_labels probabilities (rows summing to ~1), or NULL. A
     * row of zeros means "no prediction for this image". */
    const double *model_probs;
    double model_weight; /* 0..1 */
};

struct rt_ds_result {
    /* Allocated by rt_ds_consolidate, freed by rt_ds_result_free. */
    double *posterior;  /* n_items * n_labels: P(true label = k | answers) */
    int *label;         /* n_items: the most probable label, -1 for an item with no answer */
    double *confidence; /* n_items: posterior of that label (0 for an item with no answer) */
    double *confusion;  /* n_workers * n_labels * n_labels: row k = truth, column l = answer */
    double *accuracy;   /* n_workers: expected share of right answers under the label prior */
    /* n_workers: how much better than chance a worker is, -1..1 (Cohen's kappa of the worker's
     * confusion against the label prior): 1 = perfect, 0 = no information (random, or always
     * the same label), < 0 = worse than chance (adversarial). Workers without answers: 0. */
    double *quality;
    int *answers;                   /* n_workers: answers given */
    double prior[RT_DS_MAX_LABELS]; /* estimated share of each true label */
    int iterations;
    int n_items, n_workers, n_labels;
};

/*
 * Runs the EM. Answers outside the option's ranges are RT_EINVAL. The start is the
 * (model-weighted) vote share of each item, so with one answer per item and no model the result
 * is that answer.
 * Returns: 0 (out filled; rt_ds_result_free it), RT_EINVAL or RT_ENOMEM.
 */
int rt_ds_consolidate(const struct rt_ds_answer *answers,
                      size_t n_answers,
                      const struct rt_ds_options *opts,
                      struct rt_ds_result *out);

void rt_ds_result_free(struct rt_ds_result *r);

/*
 * Plain majority vote on the same answers, for comparison: ties go to the lowest label index
 * (deterministic). label[i] = -1 for an item with no answer. label must hold n_items.
 * Returns: 0 or RT_EINVAL.
 */
int rt_ds_majority(
    const struct rt_ds_answer *answers, size_t n_answers, int n_items, int n_labels, int *label);

#endif
