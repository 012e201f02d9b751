/*
 * bench_detect.c - detections per second of the builtin engine through the whole detection path
 * (dispatcher, detection executions with their journal transitions, results flushing) for 10,000
 * queued 256x256 images, with the loop's longest stall and the memory, beside the targets
 * (>= 1,000 images/s, stall < 20 ms, memory flat in the queue length). Prints figures; never
 * passes or fails.
 *
 *   bench_detect [IMAGES] [CONCURRENCY] [png|jpg] [queued|dropped]
 *                                           (defaults 10000, 32, jpg and queued)
 *
 * The images are synth's noisy pictures: as PNG they are ~136 KB each and zlib's inflate is most
 * of the time (about 55% of the CPU); as JPEG (the format of photos) ~20 KB. Both are worth a run.
 *
 * Not timed: generating the images, training and starting a version on 400 labeled images.
 * Timed: from the service's start until every image is detected. "queued": the rows are in the
 * journal before the start, as a scanner would have left them. "dropped": nothing is queued; the
 * images wait in a staging folder of the store and, once the service runs, another thread renames
 * them all into images_for_detection/ as fast as it can (someone dropping a whole folder at once),
 * so the watch, the scanner's two looks (store.scan 1 s here), the bounded pending map and the
 * queue are measured too. A 5 ms repeating timer on the loop measures the longest gap between two
 * ticks. RSS is read before the start, at half and at the end. With BENCH_STALL_AT set, it also
 * prints when the longest gap ended (CLOCK_MONOTONIC), to find it in `perf record -k mono`.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "bench_util.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/detect.h"
#include "retraind/engine.h"
#include "retraind/journal.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"
#include "retraind/synth.h"
#include "retraind/workflow.h"

static struct {
    uv_loop_t loop;
    struct rt_store *store;
    struct rt_engine *eng;
    struct rt_journal *j;
    struct bench_stall stall; /* the loop's longest gap between ticks */
    uv_timer_t poll;
    int step; /* 0 train, 1 start, 2 running */
    bool busy, failed;
    int closed;
} B;

/* "dropped": renames staging/img-N into images_for_detection/ from another thread. */
struct dropper {
    const char *root, *ext;
    long n;
    int64_t ms; /* how long all the renames took */
    int failed;
};

static void *drop_all(void *arg)
{
    struct dropper *d = arg;
    int64_t t0 = rt_mono_ms();
    char from[1024], to[1024];
    for (long i = 0; i < d->n; i++) {
        snprintf(from, sizeof(from), "%s/staging/img-%06ld.%s", d->root, i, d->ext);
        snprintf(to, sizeof(to), "%s/images_for_detection/img-%06ld.%s", d->root, i, d->ext);
        if (rename(from, to) != 0)
            d->failed++;
    }
    d->ms = rt_mono_ms() - t0;
    return NULL;
}

static void on_done(int status, const struct rt_error *err, void *ud)
{
    (void)ud;
    B.busy = false;
    if (status) {
        fprintf(stderr, "engine: %s\n", err ? err->msg : rt_strerror(status));
        B.failed = true;
    }
}

static void
on_describe(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    (void)ud;
    B.busy = false;
    if (status) {
        fprintf(stderr, "describe: %s\n", err ? err->msg : rt_strerror(status));
        B.failed = true;
        return;
    }
    if (B.step == 0 && info->status == RT_MODEL_TRAINING_COMPLETED) {
        B.step = 1;
        B.busy = true;
        if (B.eng->ops->start(B.eng, "bench-1", 1, on_done, NULL) != 0)
            B.failed = true;
    } else if (B.step == 1 && info->status == RT_MODEL_RUNNING) {
        B.step = 2;
    } else if (info->status == RT_MODEL_TRAINING_FAILED) {
        B.failed = true;
    }
}

static void on_poll(uv_timer_t *t)
{
    (void)t;
    if (!B.busy && B.step < 2) {
        B.busy = true;
        if (B.eng->ops->describe(B.eng, "bench-1", on_describe, NULL) != 0)
            B.busy = false;
    }
}

static void set_flag(void *ud)
{
    (void)ud;
    B.closed++;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
    long n_images = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    long conc = argc > 2 ? strtol(argv[2], NULL, 10) : 32;
    bool png = argc > 3 && strcmp(argv[3], "png") == 0;
    bool dropped = argc > 4 && strcmp(argv[4], "dropped") == 0;
    const char *ext = png ? "png" : "jpg";
    if (n_images < 10 || n_images > 200000 || conc < 1 || conc > 256 ||
        (argc > 4 && !dropped && strcmp(argv[4], "queued") != 0)) {
        fprintf(stderr, "usage: bench_detect [IMAGES 10..200000] [CONCURRENCY 1..256] [png|jpg] "
                        "[queued|dropped]\n");
        return 2;
    }
    rt_log_set_level(RT_LOG_WARNING);
    char tmp[] = "/tmp/rt-bench-detect-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char root[256], models[256], data[256], path[1024], key[512];
    snprintf(root, sizeof(root), "%s/bucket", tmp);
    snprintf(models, sizeof(models), "%s/models", tmp);
    snprintf(data, sizeof(data), "%s/data", tmp);
    mkdir(root, 0755);
    mkdir(models, 0755);
    mkdir(data, 0755);
    static const char *labels[] = {"red", "blue", "green", "yellow"};
    snprintf(path, sizeof(path), "%s/images_labeled_by_folder", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/manifests", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/staging", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/images_for_detection", root);
    mkdir(path, 0755);
    struct rt_error err;
    rt_error_clear(&err);
    int64_t g0 = rt_mono_ms();
    /* 400 labeled images to train a version on. */
    struct rt_buf man;
    rt_buf_init(&man, (size_t)16 << 20);
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof(path), "%s/images_labeled_by_folder/%s", root, labels[k]);
        mkdir(path, 0755);
    }
    for (long i = 0; i < 400; i++) {
        int k = (int)(i % 4);
        snprintf(key, sizeof(key), "images_labeled_by_folder/%s/%s-%ld.png", labels[k], labels[k],
                 i);
        snprintf(path, sizeof(path), "%s/%s", root, key);
        struct rt_manifest_line l = {"local", key, labels[k], k, "2024-01-01T00:00:00Z", "b"};
        if (rt_synth_write_file(path, k, (uint64_t)i, 64, RT_SYNTH_PNG, &err) != 0 ||
            rt_manifest_append(&man, "retraind-label", &l, &err) != 0) {
            fprintf(stderr, "generation failed: %s\n", err.msg);
            return 1;
        }
    }
    snprintf(path, sizeof(path), "%s/manifests/bench.jsonl", root);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(man.data, 1, man.len, f) != man.len)
        return 1;
    fclose(f);
    rt_buf_cleanup(&man);
    /* The images to detect, queued in the journal as the scanner leaves them. */
    if (rt_journal_open(data, RT_JOURNAL_READWRITE, &B.j, &err) != 0) {
        fprintf(stderr, "journal: %s\n", err.msg);
        return 1;
    }
    struct rt_jbatch *b = NULL;
    rt_jbatch_new(&b);
    int64_t bytes = 0;
    for (long i = 0; i < n_images; i++) {
        int k = (int)(i % 4);
        snprintf(key, sizeof(key), "%s/img-%06ld.%s", dropped ? "staging" : "images_for_detection",
                 i, ext);
        snprintf(path, sizeof(path), "%s/%s", root, key);
        if (rt_synth_write_file(path, k, (uint64_t)(100000 + i), 256,
                                png ? RT_SYNTH_PNG : RT_SYNTH_JPEG, &err) != 0) {
            fprintf(stderr, "generation failed: %s\n", err.msg);
            return 1;
        }
        struct stat st;
        stat(path, &st);
        bytes += st.st_size;
        /* The local store's etag, so the scanner at start finds every row known. */
        char etag[64];
        snprintf(etag, sizeof(etag), "%llx-%llx", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                     (unsigned long long)st.st_mtim.tv_nsec);
        if (!dropped)
            rt_jbatch_detection_queue(b, key, etag, st.st_size, rt_now_ms());
    }
    struct rt_journal_model m = {.version = "bench-1", .status = "RUNNING", .f1 = 0.9};
    rt_jbatch_model_put(b, &m);
    rt_jbatch_model_set_active(b, "bench-1", 1);
    if (rt_journal_apply(B.j, b, &err) != 0) {
        fprintf(stderr, "queue: %s\n", err.msg);
        return 1;
    }
    rt_jbatch_free(b);
    int64_t gen_ms = rt_mono_ms() - g0;

    uv_loop_init(&B.loop);
    struct rt_store_local_opts so = {.root = root, .bucket_name = "local"};
    if (rt_store_local_new(&B.loop, &so, &B.store, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    struct rt_engine_builtin_opts eo = {models, B.store, 2};
    if (rt_engine_builtin_new(&B.loop, &eo, &B.eng, &err) != 0) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    uv_timer_init(&B.loop, &B.stall.timer);
    uv_timer_init(&B.loop, &B.poll);
    int64_t t_train = rt_mono_ms();
    struct rt_train_request req = {"bench-1", "manifests/bench.jsonl", "evaluation/",
                                   "retraind-label"};
    B.busy = true;
    if (B.eng->ops->train(B.eng, &req, on_done, NULL) != 0)
        return 1;
    uv_timer_start(&B.poll, on_poll, 50, 50);
    while (B.step < 2 && !B.failed)
        uv_run(&B.loop, UV_RUN_ONCE);
    uv_timer_stop(&B.poll);
    if (B.failed)
        return 1;
    t_train = rt_mono_ms() - t_train;

    if (rt_journal_writer_start(B.j, &B.loop, &err) != 0) {
        fprintf(stderr, "writer: %s\n", err.msg);
        return 1;
    }
    struct rt_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    static char p_l[] = "images_labeled_by_folder/", p_d[] = "images_for_detection/",
                p_r[] = "detection-results/";
    cfg.store.prefixes.labeled = p_l;
    cfg.store.prefixes.detection = p_d;
    cfg.store.prefixes.results = p_r;
    cfg.store.scan_ms = dropped ? 1000 : 3600 * 1000;
    cfg.detection.concurrency = (int)conc;
    cfg.detection.results_flush_ms = 1000;
    cfg.review.workers_per_image = 1;
    struct rt_param_set params;
    rt_param_set_defaults(&params);
    params.v[RT_P_ENABLE_A2I].b = false;
    struct rt_workflow_env env = {.loop = &B.loop,
                                  .journal = B.j,
                                  .store = B.store,
                                  .engine = B.eng,
                                  .cfg = &cfg,
                                  .params = &params,
                                  .engine_poll_ms = 100};
    struct rt_machine *mach = NULL;
    struct rt_detect *det = NULL;
    if (rt_machine_new(&env, &mach) != 0 || rt_detect_new(mach, &det) != 0)
        return 1;
    long rss0 = rss_kb();
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = rt_mono_ms();
    rt_detect_start(det);
    uv_timer_start(&B.stall.timer, bench_stall_on_tick, 5, 5);
    struct dropper dr = {.root = root, .ext = ext, .n = n_images};
    pthread_t dropper_thread;
    if (dropped && pthread_create(&dropper_thread, NULL, drop_all, &dr) != 0)
        return 1;
    B.stall.last_ms = 0;
    int64_t detected = 0;
    long rss_mid = 0;
    while (detected < n_images) {
        uv_run(&B.loop, UV_RUN_ONCE);
        /* The service's counter, not a query: the measurement must not stall the loop. */
        struct rt_detect_stats ds;
        rt_detect_stats(det, &ds);
        detected = ds.results;
        if (!rss_mid && detected >= n_images / 2)
            rss_mid = rss_kb();
    }
    int64_t t1 = rt_mono_ms();
    uv_timer_stop(&B.stall.timer);
    if (dropped)
        pthread_join(dropper_thread, NULL);
    getrusage(RUSAGE_SELF, &r1);
    long rss1 = rss_kb();
    double wall = (double)(t1 - t0) / 1000.0;
    double rate = wall > 0 ? (double)n_images / wall : 0;
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
                          r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec -
                          r0.ru_stime.tv_usec) /
                     1e6;
    struct rt_detection_counts c;
    rt_journal_detection_counts(B.j, &c);
    struct rt_journal_writer_stats ws;
    rt_journal_writer_stats(B.j, &ws);

    printf("bench_detect: %ld %s images (256x256 %s, %.1f KB average), concurrency %ld, %ld "
           "cores online\n",
           n_images, dropped ? "dropped" : "queued", png ? "PNG" : "JPEG",
           (double)bytes / 1024.0 / (double)n_images, conc, sysconf(_SC_NPROCESSORS_ONLN));
    if (dropped)
        printf("  dropped (renamed in)    %8.2f s    by another thread while the service ran%s\n",
               (double)dr.ms / 1000.0, dr.failed ? " (SOME RENAMES FAILED)" : "");
    printf("  generation (not timed)  %8.2f s;  training and start (not timed) %.2f s\n",
           (double)gen_ms / 1000.0, (double)t_train / 1000.0);
    printf("  detected                %8lld      (accepted %lld, low %lld, failed %lld)\n",
           (long long)c.detected, (long long)c.accepted, (long long)c.accepted_low,
           (long long)c.failed);
    printf("  wall time               %8.2f s\n", wall);
    printf("  detections per second   %8.0f      target >= 1000 images/s  %s\n", rate,
           rate >= 1000 ? "(met)" : "(MISSED)");
    printf("  CPU time                %8.2f s    (%.2f cores busy on average)\n", cpu,
           wall > 0 ? cpu / wall : 0);
    printf("  loop longest stall      %8lld ms   target < 20 ms  %s  (the loop's own CPU in it: "
           "%.1f ms)\n",
           (long long)B.stall.max_gap_ms, B.stall.max_gap_ms < 20 ? "(met)" : "(MISSED)",
           (double)B.stall.max_gap_cpu_us / 1000.0);
    if (getenv("BENCH_STALL_AT"))
        printf("  longest stall ended at CLOCK_MONOTONIC %.3f s\n",
               (double)B.stall.max_gap_end_ms / 1000.0);
    printf("  RSS before/half/end     %8.1f / %.1f / %.1f MB   target: flat in the queue "
           "length  %s\n",
           (double)rss0 / 1024.0, (double)rss_mid / 1024.0, (double)rss1 / 1024.0,
           rss1 - rss0 < 32 * 1024 ? "(met)" : "(MISSED)");
    printf("  journal commits         %8lld      (%lld batches, at most %lld per commit)\n",
           (long long)ws.commits, (long long)ws.batches, (long long)ws.max_group);

    rt_detect_stop(det);
    rt_machine_close(mach, set_flag, NULL);
    while (B.closed < 1)
        uv_run(&B.loop, UV_RUN_ONCE);
    rt_detect_close(det, set_flag, NULL);
    while (B.closed < 2)
        uv_run(&B.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&B.stall.timer, NULL);
    uv_close((uv_handle_t *)&B.poll, NULL);
    B.eng->ops->close(B.eng, set_flag, NULL);
    while (B.closed < 3)
        uv_run(&B.loop, UV_RUN_ONCE);
    B.store->ops->close(B.store, set_flag, NULL);
    rt_journal_writer_close(B.j, set_flag, NULL);
    uv_run(&B.loop, UV_RUN_DEFAULT);
    rt_journal_close(B.j);
    int lc = uv_loop_close(&B.loop);
    bench_rm_tree(tmp);
    return lc == 0 ? 0 : 1;
}
