/*
 * bench_util.h - small pieces the benchmarks share: removing a scratch folder, and measuring how
 * long the loop was held up (the longest gap between two ticks of a repeating timer).
 */
#ifndef RT_BENCH_UTIL_H
#define RT_BENCH_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <uv.h>

#include "retraind/clock.h"

static int bench_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Removes dir and everything under it (symlinks are removed, not followed). */
static inline void bench_rm_tree(const char *dir)
{
    nftw(dir, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A repeating timer's ticks: how many fired and the longest gap between two (ms). */
struct bench_stall {
    uv_timer_t timer;
    int64_t last_ms, max_gap_ms;
    long ticks;
    /* The loop thread's own CPU time across the longest gap: close to the gap, the loop was busy
     * with work of its own; far below it, the thread was waiting for a core. */
    int64_t last_cpu_us, max_gap_cpu_us;
    int64_t max_gap_end_ms; /* CLOCK_MONOTONIC at the end of the longest gap (for perf -k mono) */
};

static inline int64_t bench_thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bench_stall_on_tick(uv_timer_t *t)
{
    struct bench_stall *s = (struct bench_stall *)t;
    int64_t now = rt_mono_ms(), cpu = bench_thread_cpu_us();
    if (s->last_ms && now - s->last_ms > s->max_gap_ms) {
        s->max_gap_ms = now - s->last_ms;
        s->max_gap_cpu_us = cpu - s->last_cpu_us;
        s->max_gap_end_ms = now;
    }
    s->last_ms = now;
    s->last_cpu_us = cpu;
    s->ticks++;
}

#endif
