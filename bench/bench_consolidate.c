/*
 * bench_consolidate.c - how much better than a majority vote retraind's consolidation labels
 * simulated crowds (issue #10), and how long it takes on 100,000 answers.
 *
 * Part 1, accuracy. A crowd is a mix of worker types, each type COPIES workers in the pool:
 * - an accuracy p: right with probability p, otherwise one of the other labels at random;
 * - SAME: an adversary who always answers the first label;
 * - WRONG: an adversary who always answers a wrong label (one of the others at random);
 * - SPAM: a spammer who answers a label uniformly at random (right 1/labels of the time).
 * Every image has a true label drawn uniformly; `workers/image` distinct workers of the pool,
 * drawn uniformly, answer it. The same answers go to rt_ds_majority (ties to the lowest label)
 * and to rt_ds_consolidate (default options), and a third time with a model's opinion: a
 * calibrated model right MODEL_ACCURACY of the time (probability MODEL_ACCURACY on its
 * prediction, the rest spread evenly) at weight MODEL_WEIGHT. Each row is SEEDS crowds of IMAGES
 * images; the percentages are of all SEEDS x IMAGES images; "won-tied-lost" counts the crowds
 * where the consolidation labels more images right than the vote, as many, and fewer.
 *
 * Part 2, speed: about 100,000 answers (33,333 images x 3 workers or 20,000 x 5) with 2, 3 and 5
 * labels from a pool of 40 workers (the mix, 10 of each), consolidated RUNS times: the
 * fastest and the median time, the EM's iterations, the vote's time, and memory: the process's
 * peak resident growth across the first call (VmHWM reset through /proc/self/clear_refs just
 * before) and the heap the result keeps (mallinfo2).
 *
 * Deterministic: a splitmix64 generator seeded per row, so every run prints the same accuracy.
 * Prints figures; never passes or fails.
 *
 *     bench_consolidate [IMAGES] [SEEDS]      (defaults 1000 and 5)
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retraind/alloc.h"
#include "retraind/consolidate.h"

#define SAME (-1.0)
#define WRONG (-2.0)
#define SPAM (-3.0)
#define MAX_TYPES 8
#define COPIES 3
#define MAX_POOL (MAX_TYPES * 10)
#define MODEL_ACCURACY 0.8
#define MODEL_WEIGHT 0.5
#define SPEED_ANSWERS 100000
#define SPEED_COPIES 10
#define RUNS 3

struct mix {
    const char *name;
    int n;
    double type[MAX_TYPES];
};

static const struct mix MIXES[] = {
    {"all good 0.9 0.9 0.9", 3, {0.9, 0.9, 0.9}},
    {"issue 0.95 0.8 0.6 same", 4, {0.95, 0.8, 0.6, SAME}},
    {"weak 0.6 0.6 0.7 0.95", 4, {0.6, 0.6, 0.7, 0.95}},
    {"2 adv 0.9 0.8 0.7 same wrong", 5, {0.9, 0.8, 0.7, SAME, WRONG}},
    {"spam 0.9 0.8 spam spam", 4, {0.9, 0.8, SPAM, SPAM}},
};
#define N_MIXES (int)(sizeof(MIXES) / sizeof(MIXES[0]))

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return (double)(next(s) >> 11) / 9007199254740992.0;
}

/* Monotonic time in ms, with the sub-millisecond part. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int below(uint64_t *s, int n)
{
    return (int)(next(s) % (uint64_t)n);
}

/* A label other than truth, uniformly. */
static int wrong_label(uint64_t *s, int truth, int K)
{
    return (truth + 1 + below(s, K - 1)) % K;
}

struct crowd {
    int n_items, n_workers, K;
    int *truth;
    struct rt_ds_answer *answers;
    size_t n;
    double *model; /* n_items * K */
    double pool[MAX_POOL];
};

static int crowd_alloc(struct crowd *c, int n_items, int per_item, int K)
{
    c->truth = rt_calloc((size_t)n_items, sizeof(int));
    c->answers = rt_calloc((size_t)n_items * (size_t)per_item, sizeof(*c->answers));
    c->model = rt_calloc((size_t)n_items * (size_t)K, sizeof(double));
    return c->truth && c->answers && c->model ? 0 : -1;
}

static void crowd_free(struct crowd *c)
{
    rt_free(c->truth);
    rt_free(c->answers);
    rt_free(c->model);
}

static int answer(uint64_t *s, double type, int truth, int K)
{
    if (type == SAME)
        return 0;
    if (type == WRONG)
        return wrong_label(s, truth, K);
    if (type == SPAM)
        return below(s, K);
    return uniform(s) < type ? truth : wrong_label(s, truth, K);
}

/* Fills c (allocated for n_items, per_item, K) with a crowd of mix m, each type `copies` times. */
static void simulate(struct crowd *c,
                     const struct mix *m,
                     int copies,
                     int n_items,
                     int per_item,
                     int K,
                     uint64_t seed)
{
    uint64_t s = seed;
    c->n_items = n_items;
    c->K = K;
    c->n_workers = m->n * copies;
    for (int u = 0; u < c->n_workers; u++)
        c->pool[u] = m->type[u % m->n];
    c->n = 0;
    for (int i = 0; i < n_items; i++) {
        int truth = c->truth[i] = below(&s, K);
        char chosen[MAX_POOL] = {0};
        for (int picked = 0; picked < per_item;) {
            int u = below(&s, c->n_workers);
            if (chosen[u])
                continue;
            chosen[u] = 1;
            picked++;
            c->answers[c->n++] = (struct rt_ds_answer){i, u, answer(&s, c->pool[u], truth, K)};
        }
        int pred = uniform(&s) < MODEL_ACCURACY ? truth : wrong_label(&s, truth, K);
        for (int k = 0; k < K; k++)
            c->model[(size_t)i * (size_t)K + (size_t)k] =
                k == pred ? MODEL_ACCURACY : (1 - MODEL_ACCURACY) / (K - 1);
    }
}

static int right(const struct crowd *c, const int *label)
{
    int n = 0;
    for (int i = 0; i < c->n_items; i++)
        n += label[i] == c->truth[i];
    return n;
}

/* Returns: the images labeled right by the consolidation (model weight w), or -1 on error. */
static int ds_right(const struct crowd *c, double w)
{
    struct rt_ds_options o = {.n_items = c->n_items, .n_workers = c->n_workers, .n_labels = c->K};
    if (w > 0) {
        o.model_probs = c->model;
        o.model_weight = w;
    }
    struct rt_ds_result r;
    if (rt_ds_consolidate(c->answers, c->n, &o, &r) != 0)
        return -1;
    int n = right(c, r.label);
    rt_ds_result_free(&r);
    return n;
}

static int accuracy_table(int images, int seeds)
{
    static const int LABELS[] = {2, 3, 5}, PER_IMAGE[] = {3, 5};
    struct crowd c = {0};
    int *mv = rt_calloc((size_t)images, sizeof(int));
    if (!mv || crowd_alloc(&c, images, 5, 5)) {
        rt_free(mv);
        crowd_free(&c);
        return -1;
    }
    printf("Accuracy: %d crowds of %d images a row; each worker type %d times in the pool;\n"
           "model: calibrated, %.0f%% right, weight %.1f\n\n",
           seeds, images, COPIES, MODEL_ACCURACY * 100, MODEL_WEIGHT);
    printf("| mix | labels | images | workers/image | MV | DS | DS - MV | DS won-tied-lost | DS + "
           "model |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    double t0 = now_ms();
    for (int p = 0; p < 2; p++)
        for (int m = 0; m < N_MIXES; m++)
            for (int l = 0; l < 3; l++) {
                long mv_n = 0, ds_n = 0, dm_n = 0;
                int won = 0, lost = 0;
                for (int sd = 0; sd < seeds; sd++) {
                    uint64_t seed = 1000003ULL * (uint64_t)(m + 1) + 1009ULL * (uint64_t)LABELS[l] +
                                    101ULL * (uint64_t)PER_IMAGE[p] + (uint64_t)sd;
                    simulate(&c, &MIXES[m], COPIES, images, PER_IMAGE[p], LABELS[l], seed);
                    if (rt_ds_majority(c.answers, c.n, images, LABELS[l], mv) != 0)
                        goto fail;
                    int v = right(&c, mv), d = ds_right(&c, 0), dm = ds_right(&c, MODEL_WEIGHT);
                    if (d < 0 || dm < 0)
                        goto fail;
                    mv_n += v;
                    ds_n += d;
                    dm_n += dm;
                    won += d > v;
                    lost += d < v;
                }
                double all = (double)images * seeds / 100;
                printf("| %s | %d | %d | %d | %.1f%% | %.1f%% | %+.2f | %d-%d-%d | %.1f%% |\n",
                       MIXES[m].name, LABELS[l], images, PER_IMAGE[p], mv_n / all, ds_n / all,
                       (ds_n - mv_n) / all, won, seeds - won - lost, lost, dm_n / all);
                fflush(stdout);
            }
    printf("\n(accuracy table: %.1f s)\n\n", (now_ms() - t0) / 1000.0);
    rt_free(mv);
    crowd_free(&c);
    return 0;
fail:
    fprintf(stderr, "bench_consolidate: consolidation failed\n");
    rt_free(mv);
    crowd_free(&c);
    return -1;
}

/* Returns: the value in kB of a /proc/self/status field ("VmRSS", "VmHWM"), or -1. */
static long proc_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0). Returns: 0 or -1. */
static int reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Consolidates about 100,000 answers (images x per_image, K labels, the mix with
 * SPEED_COPIES workers of each type) RUNS times and prints one row of the speed table. */
static int speed_row(int K, int per_image)
{
    int images = SPEED_ANSWERS / per_image;
    struct crowd c = {0};
    int *mv = rt_calloc((size_t)images, sizeof(int));
    if (!mv || crowd_alloc(&c, images, per_image, K)) {
        rt_free(mv);
        crowd_free(&c);
        return -1;
    }
    simulate(&c, &MIXES[1], SPEED_COPIES, images, per_image, K, 42 + (uint64_t)K);
    struct rt_ds_options o = {.n_items = c.n_items, .n_workers = c.n_workers, .n_labels = K};
    double ms[RUNS], mv_ms = 0;
    int iterations = 0, ds_ok = 0;
    long rss_growth = -1;
    size_t kept = 0;
    for (int run = 0; run < RUNS; run++) {
        struct rt_ds_result r;
        size_t heap0 = heap_bytes();
        long rss0 = proc_kb("VmRSS");
        int hwm_ok = reset_hwm() == 0;
        double t0 = now_ms();
        int rc = rt_ds_consolidate(c.answers, c.n, &o, &r);
        ms[run] = now_ms() - t0;
        if (rc != 0) {
            rt_free(mv);
            crowd_free(&c);
            return -1;
        }
        if (run == 0) {
            long hwm = proc_kb("VmHWM");
            rss_growth = hwm_ok && hwm >= 0 && rss0 >= 0 ? hwm - rss0 : -1;
            kept = heap_bytes() - heap0;
            iterations = r.iterations;
            ds_ok = right(&c, r.label);
        }
        rt_ds_result_free(&r);
    }
    for (int run = 0; run < RUNS; run++) {
        double t0 = now_ms();
        rt_ds_majority(c.answers, c.n, images, K, mv);
        mv_ms += (now_ms() - t0) / RUNS;
    }
    qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
    printf(
        "| %d | %d | %d | %zu | %.0f | %.0f | %d | %.2f | %.1f%% / %.1f%% | %.2f | %ld | %zu |\n",
        K, per_image, images, c.n, ms[0], ms[RUNS / 2], iterations, ms[RUNS / 2] / (iterations + 1),
        100.0 * ds_ok / images, 100.0 * right(&c, mv) / images, mv_ms, rss_growth, kept / 1024);
    fflush(stdout);
    rt_free(mv);
    crowd_free(&c);
    return 0;
}

static int speed(void)
{
    printf("Speed: about %d answers, the issue's mix with %d workers of each type (%d in the"
           " pool);\nfastest and median of %d runs; peak RSS growth of the first run, heap the"
           " result keeps\n\n",
           SPEED_ANSWERS, SPEED_COPIES, SPEED_COPIES * MIXES[1].n, RUNS);
    printf("| labels | workers/image | images | answers | DS fastest ms | DS median ms |"
           " iterations | ms/iteration | DS / MV right | MV ms | peak RSS +kB | result kB |\n");
    printf(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    static const int LABELS[] = {2, 3, 5}, PER_IMAGE[] = {3, 5};
    for (int p = 0; p < 2; p++)
        for (int l = 0; l < 3; l++)
            if (speed_row(LABELS[l], PER_IMAGE[p]))
                return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int images = argc > 1 ? atoi(argv[1]) : 1000;
    int seeds = argc > 2 ? atoi(argv[2]) : 5;
    if (images < 10 || seeds < 1) {
        fprintf(stderr, "usage: bench_consolidate [IMAGES >= 10] [SEEDS >= 1]\n");
        return 2;
    }
    double t0 = now_ms();
    if (accuracy_table(images, seeds) || speed())
        return 1;
    printf("\n(total %.1f s)\n", (now_ms() - t0) / 1000.0);
    return 0;
}
