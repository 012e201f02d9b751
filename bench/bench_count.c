/*
 * bench_count.c - how fast the local store lists and counts labeled images, and in how much memory.
 *
 * Builds (once, reused afterwards) two trees of empty files laid out like the bucket:
 * 10 labels x 1,000 and 10 labels x 10,000 images under images_labeled_by_folder/. Then lists each
 * through the asynchronous list API and counts with rt_store_training_label, as the training
 * check does, and prints keys/s, the time of a check over 10,000 images and the resident memory
 * before and after, beside the targets of issue 3. A last pass lists the 100,000 keys once more
 * with a 1 ms repeating timer on the loop and prints how much CPU the loop thread spent, how many
 * ticks it served and the longest gap between two: what a listing costs the rest of the daemon
 * (issue 7). It never fails on the figures.
 *
 *     bench_count [DATA_DIR]      (default: <build>/bench-data)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/store.h"

#define LABELS 10
#define PREFIX "images_labeled_by_folder/"
#define RUNS 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (rt_strlcpy(buf, path, sizeof(buf)))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Creates root with LABELS x per_label empty images unless a previous run finished it. */
static int ensure_tree(const char *root, int per_label)
{
    char marker[4096], path[4096];
    rt_snprintf(marker, sizeof(marker), "%s.done", root);
    if (access(marker, F_OK) == 0)
        return 0;
    printf("creating %d files under %s (once)\n", LABELS * per_label, root);
    fflush(stdout);
    for (int l = 0; l < LABELS; l++) {
        rt_snprintf(path, sizeof(path), "%s/" PREFIX "label-%02d", root, l);
        if (mkdir_p(path))
            return -1;
        for (int i = 0; i < per_label; i++) {
            rt_snprintf(path, sizeof(path), "%s/" PREFIX "label-%02d/img-%05d.png", root, l, i);
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0)
                return -1;
            close(fd);
        }
    }
    int fd = open(marker, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    return 0;
}

struct count {
    size_t keys, images;
    size_t per_label[LABELS];
    int status;
    bool last;
};

static int count_page(const struct rt_store_entry *e,
                      size_t n,
                      bool last,
                      int status,
                      const struct rt_error *err,
                      void *ud)
{
    struct count *c = ud;
    (void)err;
    c->keys += n;
    for (size_t i = 0; i < n; i++) {
        struct rt_str label;
        if (!rt_store_training_label(PREFIX, e[i].key, &label))
            continue;
        c->images++;
        /* "label-NN": the two digits index the array, standing in for the check's map. */
        if (label.len == 8)
            c->per_label[(label.p[6] - '0') * 10 + (label.p[7] - '0')]++;
    }
    c->status = status;
    c->last = last;
    return 0;
}

static void closed(void *ud)
{
    (void)ud;
}

/*
 * Lists and counts root RUNS times on one open store (as the daemon's check does: the store is
 * opened once at start). keys_only selects the stat-free listing (RT_STORE_LIST_KEYS_ONLY).
 * Returns: the best time in seconds from list() to the last page, or -1.
 */
static double count_best(const char *root, bool keys_only, struct count *c)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_store *s;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = root};
    if (rt_store_local_new(&loop, &o, &s, &err)) {
        fprintf(stderr, "bench_count: %s\n", err.msg);
        return -1;
    }
    double best = 1e9;
    for (int i = 0; i < RUNS; i++) {
        memset(c, 0, sizeof(*c));
        double t0 = now_s();
        int rc = s->ops->list(
            s, PREFIX, 0, keys_only ? RT_STORE_LIST_KEYS_ONLY : RT_STORE_LIST_FULL, count_page, c);
        if (rc) {
            fprintf(stderr, "bench_count: list failed: %s\n", rt_err_name(rc));
            break;
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        double dt = now_s() - t0;
        if (c->status || !c->last) {
            fprintf(stderr, "bench_count: listing ended with %s\n", rt_err_name(c->status));
            best = -1;
            break;
        }
        if (dt < best)
            best = dt;
    }
    s->ops->close(s, closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "bench_count: loop not closed cleanly\n");
    return best;
}

/* Returns: CPU seconds (user + system) used so far by the calling thread, or -1. */
static double thread_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return -1;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct ticker {
    uv_timer_t timer;
    uint64_t last_ns, max_gap_ns;
    long ticks;
    struct count *c; /* the listing: the timer stops once its last page arrived */
};

static void on_tick(uv_timer_t *t)
{
    struct ticker *k = t->data;
    uint64_t now = uv_hrtime();
    if (k->last_ns && now - k->last_ns > k->max_gap_ns)
        k->max_gap_ns = now - k->last_ns;
    k->last_ns = now;
    k->ticks++;
    if (k->c->last)
        uv_timer_stop(t);
}

/*
 * Lists root once (stat per key) while a 1 ms repeating timer runs on the same loop.
 * Returns: 0 with the loop thread's CPU seconds, the wall time, the longest gap between ticks
 * and the number of ticks, or -1.
 */
static int
loop_cost(const char *root, double *cpu_s, double *wall_s, double *max_gap_ms, long *ticks)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_store *s;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = root};
    if (rt_store_local_new(&loop, &o, &s, &err)) {
        fprintf(stderr, "bench_count: %s\n", err.msg);
        return -1;
    }
    struct count c;
    memset(&c, 0, sizeof(c));
    struct ticker k = {.c = &c};
    uv_timer_init(&loop, &k.timer);
    k.timer.data = &k;
    double t0 = now_s(), cpu0 = thread_cpu_s();
    int rc = s->ops->list(s, PREFIX, 0, RT_STORE_LIST_FULL, count_page, &c);
    if (rc == 0) {
        k.last_ns = uv_hrtime();
        uv_timer_start(&k.timer, on_tick, 1, 1);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    *cpu_s = thread_cpu_s() - cpu0;
    *wall_s = now_s() - t0;
    *max_gap_ms = (double)k.max_gap_ns / 1e6;
    *ticks = k.ticks;
    uv_close((uv_handle_t *)&k.timer, NULL);
    s->ops->close(s, closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "bench_count: loop not closed cleanly\n");
    return rc == 0 && c.last && c.status == 0 ? 0 : -1;
}

struct result {
    double full_s, keys_s;
    size_t images;
    long rss_before, rss_after, hwm_before, hwm_after;
};

static int run(const char *root, struct result *r)
{
    struct count c;
    r->rss_before = proc_kb("VmRSS");
    r->hwm_before = proc_kb("VmHWM");
    r->full_s = count_best(root, false, &c);
    r->images = c.images;
    r->keys_s = count_best(root, true, &c);
    if (r->full_s < 0 || r->keys_s < 0 || c.images != r->images)
        return -1;
    r->rss_after = proc_kb("VmRSS");
    r->hwm_after = proc_kb("VmHWM");
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : RT_BENCH_DATA;
    char small[4096], large[4096];
    rt_snprintf(small, sizeof(small), "%s/count-10000", dir);
    rt_snprintf(large, sizeof(large), "%s/count-100000", dir);
    if (mkdir_p(dir) || ensure_tree(small, 1000) || ensure_tree(large, 10000)) {
        fprintf(stderr, "bench_count: cannot create the trees under %s: %s\n", dir,
                rt_strerror(-errno));
        return 1;
    }
    struct result rs, rl;
    /* The small tree first: whatever the process needs whatever the size (loop, page buffer,
     * directory streams) is allocated there, so the large run's growth is what scales. */
    if (run(small, &rs) || run(large, &rl))
        return 1;
    double loop_cpu_s, loop_wall_s, max_gap_ms;
    long ticks;
    if (loop_cost(large, &loop_cpu_s, &loop_wall_s, &max_gap_ms, &ticks))
        return 1;
    printf("\nbench_count: list + count labeled images in the local store (best of %d runs)\n",
           RUNS);
    printf("  %-46s %12s   %s\n", "figure", "measured", "target");
    printf("  %-46s %12zu   %s\n", "images counted (10 labels x 10,000)", rl.images, "100000");
    printf("  %-46s %12.0f   %s\n", "keys/s, 100,000 keys, ops->list (stat per key)",
           (double)rl.images / rl.full_s, ">= 1000000");
    printf("  %-46s %12.0f   %s\n", "keys/s, 100,000 keys, keys-only listing",
           (double)rl.images / rl.keys_s, ">= 1000000");
    printf("  %-46s %12.1f   %s\n", "ms, training check over 10,000, ops->list", rs.full_s * 1e3,
           "< 50");
    printf("  %-46s %12.1f   %s\n", "ms, training check over 10,000, keys-only", rs.keys_s * 1e3,
           "< 50");
    printf("  %-46s %12ld   %s\n", "peak RSS growth kB, 10,000-key runs",
           rs.hwm_after - rs.hwm_before, "(first use: loop, page buffer)");
    printf("  %-46s %12ld   %s\n", "peak RSS growth kB, 100,000-key runs",
           rl.hwm_after - rl.hwm_before, "0 (constant memory)");
    printf("  %-46s %5ld / %5ld   %s\n", "RSS kB after the 10,000 / 100,000 runs", rs.rss_after,
           rl.rss_after, "equal (constant memory)");
    printf("  %-46s %12.1f   %s\n", "ms of loop-thread CPU, listing 100,000 keys", loop_cpu_s * 1e3,
           "~0 (walk on the thread pool)");
    printf("  %-46s %12.1f   %s\n", "ms wall, the same listing", loop_wall_s * 1e3, "-");
    printf("  %-46s %12ld   %s\n", "1 ms timer ticks during it", ticks,
           "~ms wall (one a ms: the loop is free)");
    printf("  %-46s %12.2f   %s\n", "ms, longest gap between 1 ms timer ticks", max_gap_ms,
           "~1 (the loop never waits)");
    printf("  note: on a busy 2-core VM the longest gap also holds the scheduler's wake-up delay\n"
           "  (2-5 ms with any busy pool thread), so the tick count says more than the gap.\n");
    printf("  note: ops->list stats every key for its size, mtime and ETag; where a syscall costs\n"
           "  microseconds (VMs) that bounds it below the target. Counting needs only the keys.\n");
    if (rs.images != 10000 || rl.images != 100000)
        printf("  note: unexpected counts; were the trees under %s changed by hand?\n", dir);
    return 0;
}
