/*
 * bench_train.c - trains the builtin engine on 1,000 generated 64x64 images and prints wall
 * time, CPU time, peak RSS and how responsive the loop stayed, beside the target
 * (< 10 s on 2 cores with the loop still answering). Prints figures; never passes or fails.
 *
 *   bench_train [IMAGES] [THREADS]     (defaults 1000 and 2)
 * Image generation is not timed. The engine reads the manifest and the images through the local
 * store's asynchronous get (at most 2 x THREADS in flight) and decodes at most THREADS at once
 * on the pool. A 10 ms repeating timer runs on the loop during training: the number of ticks
 * that fired and the longest gap between two ticks show whether the loop was held up.
 */
#include <ftw.h>
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
#include "retraind/engine.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/store.h"
#include "retraind/synth.h"

static struct {
    uv_loop_t loop;
    struct rt_store *store;
    struct rt_engine *eng;
    struct bench_stall stall; /* the loop's longest gap between ticks */
    uv_timer_t poll;
    int done, describing;
    struct rt_model_info info;
    int64_t t0, t1;
} B;

static void
on_describe(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    (void)err;
    (void)ud;
    B.describing = 0;
    if (status != 0 || !info)
        return;
    if (info->status != RT_MODEL_TRAINING_IN_PROGRESS) {
        B.info = *info;
        B.info.labels = NULL;
        B.done = 1;
        B.t1 = rt_mono_ms();
        uv_timer_stop(&B.stall.timer);
        uv_timer_stop(&B.poll);
    }
}

static void on_poll(uv_timer_t *t)
{
    (void)t;
    if (!B.describing && !B.done) {
        B.describing = 1;
        if (B.eng->ops->describe(B.eng, "bench-1", on_describe, NULL) != 0)
            B.describing = 0;
    }
}

static void on_started(int status, const struct rt_error *err, void *ud)
{
    (void)ud;
    if (status != 0)
        fprintf(stderr, "train failed to start: %s\n", err ? err->msg : "?");
}

static void on_closed(void *ud)
{
    (void)ud;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    long n_images = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
    if (n_images < 8 || n_images > 100000 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: bench_train [IMAGES 8..100000] [THREADS 1..64]\n");
        return 2;
    }
    rt_log_set_level(RT_LOG_WARNING);
    char tmp[] = "/tmp/rt-bench-train-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char root[256], models[256], path[1024], key[512];
    snprintf(root, sizeof(root), "%s/bucket", tmp);
    snprintf(models, sizeof(models), "%s/models", tmp);
    static const char *labels[] = {"red", "blue", "green", "yellow"};
    mkdir(root, 0755);
    snprintf(path, sizeof(path), "%s/images_labeled_by_folder", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/manifests", root);
    mkdir(path, 0755);
    struct rt_buf man;
    rt_buf_init(&man, (size_t)64 << 20);
    struct rt_error err;
    rt_error_clear(&err);
    int64_t g0 = rt_mono_ms();
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof(path), "%s/images_labeled_by_folder/%s", root, labels[k]);
        mkdir(path, 0755);
    }
    for (long i = 0; i < n_images; i++) {
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
    int64_t gen_ms = rt_mono_ms() - g0;

    uv_loop_init(&B.loop);
    struct rt_store_local_opts so = {.root = root, .bucket_name = "local"};
    struct rt_engine_builtin_opts eo = {models, NULL, (int)threads};
    if (rt_store_local_new(&B.loop, &so, &B.store, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    eo.store = B.store;
    if (rt_engine_builtin_new(&B.loop, &eo, &B.eng, &err) != 0) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uv_timer_init(&B.loop, &B.stall.timer);
    uv_timer_init(&B.loop, &B.poll);
    B.t0 = rt_mono_ms();
    struct rt_train_request req = {"bench-1", "manifests/bench.jsonl", "evaluation/",
                                   "retraind-label"};
    if (B.eng->ops->train(B.eng, &req, on_started, NULL) != 0)
        return 1;
    uv_timer_start(&B.stall.timer, bench_stall_on_tick, 10, 10);
    uv_timer_start(&B.poll, on_poll, 20, 20);
    while (!B.done)
        uv_run(&B.loop, UV_RUN_ONCE);
    getrusage(RUSAGE_SELF, &r1);
    double wall = (double)(B.t1 - B.t0) / 1000.0;
    double cpu = tv_s(r1.ru_utime) - tv_s(r0.ru_utime) + tv_s(r1.ru_stime) - tv_s(r0.ru_stime);

    printf("bench_train: %ld images (64x64 PNG, 4 labels), %ld decode threads (%ld gets in "
           "flight at most), %ld cores online\n",
           n_images, threads, 2 * threads, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  generation (not timed)  %8.2f s\n", (double)gen_ms / 1000.0);
    printf("  status                  %s  f1=%.3f used=%lld train=%lld test=%lld\n",
           rt_model_status_name(B.info.status), B.info.f1, (long long)B.info.images_used,
           (long long)B.info.train_images, (long long)B.info.test_images);
    printf("  training wall time      %8.2f s    target < 10 s on 2 cores  %s\n", wall,
           wall < 10 ? "(met)" : "(MISSED)");
    printf("  training CPU time       %8.2f s    (%.2f cores busy on average)\n", cpu,
           wall > 0 ? cpu / wall : 0);
    printf("  peak RSS (whole run)    %8.1f MB\n", (double)r1.ru_maxrss / 1024.0);
    printf("  loop timer ticks        %8ld      of ~%ld expected at 10 ms; longest gap %lld ms"
           "  target: loop answering %s\n",
           B.stall.ticks, (long)(wall * 100), (long long)B.stall.max_gap_ms,
           B.stall.max_gap_ms < 100 ? "(met)" : "(MISSED)");

    uv_close((uv_handle_t *)&B.stall.timer, NULL);
    uv_close((uv_handle_t *)&B.poll, NULL);
    B.eng->ops->close(B.eng, on_closed, NULL);
    B.store->ops->close(B.store, on_closed, NULL);
    uv_run(&B.loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&B.loop);
    bench_rm_tree(tmp);
    return lc == 0 ? 0 : 1;
}
