/*
 * bench_list.c - client CPU and peak memory to list and count 100,000 keys through the s3 store
 * driver against the Node twin + s3rver on 127.0.0.1, beside boto3 listing the same bucket.
 *
 *   bench_list [KEYS]        (default 100000; the twin's npm packages in $AWS_TWIN_DIR or
 *                             <build>/aws-twin, e.g. after ctest -R aws_live)
 *
 * Puts KEYS/10 keys under small/ and KEYS under big/ (names with spaces, unicode and '+'), then
 * lists each prefix with ops->list and counts: CPU (user + system of this process only; the twin
 * is another process), wall time, peak RSS growth, and the most live allocations seen in a page
 * callback — memory is flat when the big listing needs no more than the small one. Then runs
 * python3 + boto3's list_objects_v2 paginator over big/ and prints its CPU (the whole process,
 * and the listing loop alone) and peak RSS. Target: the driver's CPU <= 1/5 of boto3's, memory
 * flat in the key count. Prints figures; never fails on them.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/httpc.h"
#include "retraind/store.h"
#include "retraind/store_s3.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define BUCKET "bench-list"

static uv_loop_t loop;
static struct rt_store *st;

static pid_t twin_pid;
static int twin_in = -1;

static int twin_start(const char *mods, char *endpoint, size_t size)
{
    int out[2], in[2];
    if (pipe(out) || pipe(in))
        return -1;
    char script[1024], node_path[1024];
    if (rt_snprintf(script, sizeof(script), "%s/tests/servers/aws-twin/server.js", RT_SRC_DIR) ||
        rt_snprintf(node_path, sizeof(node_path), "%s/node_modules", mods))
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("NODE_PATH", node_path, 1);
        execlp("node", "node", "--openssl-legacy-provider", script, "--s3rver", "--bucket", BUCKET,
               (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    twin_pid = pid;
    twin_in = in[1];
    char line[128];
    size_t len = 0;
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    while (len < sizeof(line) - 1 && poll(&pfd, 1, 30000) > 0) {
        if (read(out[0], line + len, 1) != 1 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    int port;
    if (sscanf(line, "PORT %d", &port) != 1)
        return -1;
    snprintf(endpoint, size, "http://127.0.0.1:%d", port);
    return 0;
}

static void twin_stop(void)
{
    if (twin_pid <= 0)
        return;
    close(twin_in);
    kill(twin_pid, SIGTERM);
    waitpid(twin_pid, NULL, 0);
    twin_pid = 0;
}

/* ---- filling ---- */

struct bulk {
    int inflight, failed;
};

static void on_put(int status, const struct rt_error *err, void *ud)
{
    struct bulk *b = ud;
    b->inflight--;
    if (status && b->failed++ < 3)
        fprintf(stderr, "put failed: %s\n", err ? err->msg : "");
}

static void fill(const char *prefix, long n)
{
    struct bulk b = {0};
    char key[256];
    int64_t t0 = rt_mono_ms();
    for (long i = 0; i < n; i++) {
        while (b.inflight >= 64)
            uv_run(&loop, UV_RUN_ONCE);
        snprintf(key, sizeof(key), "%s%s/img %06ld+é.png", prefix,
                 (const char *[]){"cat s", "Ünïcödé", "a+b", "dog"}[i % 4], i);
        if (st->ops->put(st, key, "x", 1, "image/png", on_put, &b) != 0) {
            fprintf(stderr, "put refused\n");
            exit(1);
        }
        b.inflight++;
    }
    while (b.inflight)
        uv_run(&loop, UV_RUN_ONCE);
    printf("filled %-7s %7ld keys in %.1f s (%d failed)\n", prefix, n,
           (double)(rt_mono_ms() - t0) / 1000.0, b.failed);
}

/* ---- listing ---- */

struct count {
    long keys, pages, live_max;
    int status;
    bool last;
};

static int on_page(const struct rt_store_entry *e,
                   size_t n,
                   bool last,
                   int status,
                   const struct rt_error *err,
                   void *ud)
{
    (void)e;
    struct count *c = ud;
    c->keys += (long)n;
    c->pages++;
    c->last = last;
    c->status = status;
    if (status)
        fprintf(stderr, "listing failed: %s\n", err ? err->msg : "");
    long live = rt_alloc_live();
    if (live > c->live_max)
        c->live_max = live;
    return 0;
}

static double cpu_s(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

static double list_count(const char *prefix)
{
    struct rusage r0, r1;
    struct count c = {0};
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = rt_mono_ms();
    if (st->ops->list(st, prefix, 0, RT_STORE_LIST_KEYS_ONLY, on_page, &c) != 0) {
        fprintf(stderr, "list refused\n");
        exit(1);
    }
    while (!c.last)
        uv_run(&loop, UV_RUN_ONCE);
    int64_t wall = rt_mono_ms() - t0;
    getrusage(RUSAGE_SELF, &r1);
    double cpu = cpu_s(&r1) - cpu_s(&r0);
    printf("driver  %-7s %7ld keys, %4ld pages: CPU %.3f s (%.1f us/key), wall %.1f s, "
           "peak RSS %ld kB (+%ld kB during the listing), live allocations <= %ld\n",
           prefix, c.keys, c.pages, cpu, cpu * 1e6 / (double)(c.keys ? c.keys : 1),
           (double)wall / 1000.0, r1.ru_maxrss, r1.ru_maxrss - r0.ru_maxrss, c.live_max);
    return cpu;
}

static const char boto3_script[] =
    "import sys, time, resource\n"
    "t0 = time.process_time()\n"
    "import boto3\n"
    "from botocore.config import Config\n"
    "s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n"
    "    aws_access_key_id='" AK "', aws_secret_access_key='" SK "',\n"
    "    config=Config(s3={'addressing_style': 'path'}))\n"
    "t1 = time.process_time()\n"
    "n = 0\n"
    "for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2], "
    "Prefix=sys.argv[3]):\n"
    "    n += len(page.get('Contents', []))\n"
    "t2 = time.process_time()\n"
    "print('%d %.3f %.3f' % (n, t1 - t0, t2 - t1))\n";

static void boto3_list(const char *endpoint, const char *prefix, double driver_cpu)
{
    char path[] = "/tmp/bench_list_boto3_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, boto3_script, sizeof(boto3_script) - 1) < 0) {
        perror("boto3 script");
        return;
    }
    close(fd);
    int out[2];
    if (pipe(out))
        return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execlp("python3", "python3", path, endpoint, BUCKET, prefix, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[256] = {0};
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    close(out[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    unlink(path);
    long n = 0;
    double imp = 0, loop_cpu = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(buf, "%ld %lf %lf", &n, &imp, &loop_cpu) != 3) {
        printf("boto3: did not run (python3-boto3 installed?)\n");
        return;
    }
    double cpu = cpu_s(&ru);
    printf("boto3   %-7s %7ld keys: CPU %.3f s for the process (%.3f s importing and making the "
           "client, %.3f s listing), peak RSS %ld kB\n",
           prefix, n, cpu, imp, loop_cpu, ru.ru_maxrss);
    printf("driver CPU / boto3 CPU: %.3f of the whole process, %.3f of its listing loop (target "
           "<= 0.2)\n",
           driver_cpu / cpu, driver_cpu / (loop_cpu > 0 ? loop_cpu : 1));
}

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n <= 0)
        n = 100000;
    const char *mods = getenv("AWS_TWIN_DIR");
    char def[1024];
    if (!mods || !mods[0]) {
        rt_snprintf(def, sizeof(def), "%s/aws-twin", RT_BUILD_DIR);
        mods = def;
    }
    char endpoint[64];
    if (twin_start(mods, endpoint, sizeof(endpoint)) != 0) {
        fprintf(stderr, "bench_list: the aws-twin did not start (npm packages in %s?)\n", mods);
        twin_stop();
        return 1;
    }
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
    uv_loop_init(&loop);
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc *hc;
    struct rt_aws_client *aws;
    if (rt_httpc_new(&loop, NULL, &hc, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct rt_aws_client_opts o = {.region = "us-east-1",
                                   .endpoints = {.s3 = endpoint},
                                   .s3_path_style = true,
                                   .access_key = AK,
                                   .secret_key = SK};
    struct rt_store_s3_opts so = {.bucket = BUCKET};
    if (rt_aws_client_new(&loop, hc, &o, &aws, &err) ||
        (so.aws = aws, rt_store_s3_new(&loop, &so, &st, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("bench_list: %ld keys through the s3 store driver against the twin + s3rver\n", n);
    fill("small/", n / 10);
    fill("big/", n);
    list_count("small/");
    double cpu = list_count("big/");
    boto3_list(endpoint, "big/", cpu);
    int closed = 0;
    st->ops->close(st, set_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    rt_aws_client_destroy(aws);
    rt_httpc_close(hc, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    twin_stop();
    return 0;
}
