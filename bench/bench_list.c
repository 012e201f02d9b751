/*
 * bench_list.c - client CPU and peak memory to list and count 100,000 keys through the s3 store
 * driver against a local server, beside boto3 listing the same bucket.
 *
 *   bench_list [KEYS]        (default 100000; the twin's npm packages in $AWS_TWIN_DIR or
 *                             <build>/aws-twin, e.g. after ctest -R store_s3_live)
 *
 * The server is the Node aws-twin on 127.0.0.1 with its listgen route (routes/listgen.js): bucket
 * "listgen-N" holds N generated keys (spaces, unicode, '+', '%', '=', '&'), served like S3 (every
 * signature checked, encoding-type=url, pages of 1,000, continuation tokens), so no bucket has to
 * be filled first. Lists listgen-KEYS/10 and listgen-KEYS with ops->list and counts: CPU (user +
 * system of this process only; the twin is another process), wall time, peak RSS, the most live
 * allocations and heap bytes in use (mallinfo2) seen in a callback — memory is flat when the big
 * listing needs no more than the small one. Then runs python3 + boto3's list_objects_v2 paginator
 * over the same big bucket and prints its CPU (the whole process, and the listing loop alone) and
 * peak RSS. Target: the driver's CPU <= 1/5 of boto3's, memory flat in the key count. Prints
 * figures; never fails on them.
 */
#include <malloc.h>
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

static uv_loop_t loop;
static struct rt_aws_client *aws;

static void set_flag(void *ud)
{
    *(int *)ud = 1;
}

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
        execlp("node", "node", script, (char *)NULL);
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

/* ---- listing ---- */

struct count {
    long keys, calls, live0, live_max;
    size_t heap0, heap_max;
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
    c->calls++;
    c->last = last;
    c->status = status;
    if (status)
        fprintf(stderr, "listing failed: %s\n", err ? err->msg : "");
    long live = rt_alloc_live();
    if (live > c->live_max)
        c->live_max = live;
    if (c->calls % 251 == 0 || last) { /* mallinfo2 walks the arenas: sampled */
        size_t heap = mallinfo2().uordblks;
        if (heap > c->heap_max)
            c->heap_max = heap;
    }
    return 0;
}

static double cpu_s(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

/* Lists and counts every key of listgen-<n> through the s3 store driver. */
static double list_count(long n)
{
    char bucket[64];
    rt_snprintf(bucket, sizeof(bucket), "listgen-%ld", n);
    struct rt_store_s3_opts so = {.aws = aws, .bucket = bucket};
    struct rt_store *st;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_store_s3_new(&loop, &so, &st, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    struct rusage r0, r1;
    struct count c = {0};
    c.live0 = c.live_max = rt_alloc_live();
    c.heap0 = c.heap_max = mallinfo2().uordblks;
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = rt_mono_ms();
    if (st->ops->list(st, "", 0, RT_STORE_LIST_KEYS_ONLY, on_page, &c) != 0) {
        fprintf(stderr, "list refused\n");
        exit(1);
    }
    while (!c.last)
        uv_run(&loop, UV_RUN_ONCE);
    int64_t wall = rt_mono_ms() - t0;
    getrusage(RUSAGE_SELF, &r1);
    double cpu = cpu_s(&r1) - cpu_s(&r0);
    printf("driver  %-15s %7ld keys (%s): CPU %.3f s (%.2f us/key), wall %.1f s, peak RSS %ld kB "
           "(+%ld kB during the listing), live allocations +%ld, heap in use +%zu kB at most\n",
           bucket, c.keys, c.keys == n && c.status == 0 ? "exact" : "WRONG COUNT", cpu,
           cpu * 1e6 / (double)(c.keys ? c.keys : 1), (double)wall / 1000.0, r1.ru_maxrss,
           r1.ru_maxrss - r0.ru_maxrss, c.live_max - c.live0, (c.heap_max - c.heap0) / 1024);
    int closed = 0;
    st->ops->close(st, set_flag, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
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
    "for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2]):\n"
    "    n += len(page.get('Contents', []))\n"
    "t2 = time.process_time()\n"
    "print('%d %.3f %.3f' % (n, t1 - t0, t2 - t1))\n";

static void boto3_list(const char *endpoint, long keys, double driver_cpu)
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
        char bucket[64];
        rt_snprintf(bucket, sizeof(bucket), "listgen-%ld", keys);
        execlp("python3", "python3", path, endpoint, bucket, (char *)NULL);
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
    printf("boto3   listgen-%-7ld %7ld keys (%s): CPU %.3f s for the process (%.3f s importing and "
           "making the client, %.3f s listing), peak RSS %ld kB\n",
           keys, n, n == keys ? "exact" : "WRONG COUNT", cpu, imp, loop_cpu, ru.ru_maxrss);
    printf("driver CPU / boto3 CPU: %.3f of the whole process, %.3f of its listing loop (target "
           "<= 0.2)\n",
           driver_cpu / cpu, driver_cpu / (loop_cpu > 0 ? loop_cpu : 1));
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
    if (rt_httpc_new(&loop, NULL, &hc, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct rt_aws_client_opts o = {.region = "us-east-1",
                                   .endpoints = {.s3 = endpoint},
                                   .s3_path_style = true,
                                   .access_key = AK,
                                   .secret_key = SK};
    if (rt_aws_client_new(&loop, hc, &o, &aws, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("bench_list: %ld keys through the s3 store driver against the twin's generated "
           "buckets\n",
           n);
    list_count(n / 10);
    double cpu = list_count(n);
    boto3_list(endpoint, n, cpu);
    rt_aws_client_destroy(aws);
    rt_httpc_close(hc, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    twin_stop();
    return 0;
}
