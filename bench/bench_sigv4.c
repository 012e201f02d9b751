/*
 * bench_sigv4.c - SigV4 signing speed and allocations, beside the AWS SDK's own signer.
 *
 * Signs a typical JSON-protocol request (POST /, x-amz-target, content-type, a 200-byte body,
 * service rekognition) in a loop and prints nanoseconds per signature:
 *   - cached key, payload hash given     (the AWS client's case: it hashes the body once)
 *   - cached key, body hashed each time
 *   - no cache (the four-HMAC key derivation on every signature)
 * and the heap allocations per signature, counted by interposing malloc/calloc/realloc/free in
 * this executable (every library, OpenSSL included, goes through them; skipped under ASan, which
 * owns malloc). Then, when node and @smithy/signature-v4 are installed in the build tree
 * (tests/sigv4-diff, installed by the sigv4_diff_smithy test), it runs bench/sigv4_smithy.js on
 * the same request and prints the ratio. Targets: <= 2 us per signature with the cached key,
 * >= 10x the Node signer, no heap allocation per signature. Prints figures; never fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retraind/sigv4.h"

#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static unsigned long n_allocs;
void *malloc(size_t n)
{
    n_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s)
{
    n_allocs++;
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n)
{
    n_allocs++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#endif

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of this thread: unlike the wall clock it leaves out the time other processes had the
 * core, so on a shared VM it is the steadier figure. */
static double cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static char body[201];
static struct rt_sigv4_header headers[] = {
    {{"Host", 4}, {"rekognition.us-east-1.amazonaws.com", 35}},
    {{"X-Amz-Target", 12}, {"RekognitionService.DetectCustomLabels", 37}},
    {{"Content-Type", 12}, {"application/x-amz-json-1.1", 26}},
    {{"Content-Length", 14}, {"200", 3}},
};

enum mode { CACHED, CACHED_HASH_BODY, UNCACHED };

/* Returns: wall ns per signature (-1 on failure), with *cpu the thread's CPU ns per signature. */
static double run(enum mode m, long n, unsigned long *allocs, char sig[65], double *cpu)
{
    struct rt_sigv4_cache *cache = NULL;
    if (m != UNCACHED && rt_sigv4_cache_new(&cache) != 0)
        return -1;
    char hash[RT_SIGV4_HEX_LEN + 1];
    rt_sigv4_sha256_hex(body, 200, hash);
    struct rt_sigv4_request req = {.method = {"POST", 4},
                                   .path = {"/", 1},
                                   .query = {"", 0},
                                   .headers = headers,
                                   .n_headers = 4,
                                   .payload_hash = {hash, 64}};
    struct rt_sigv4_config cfg = {.access_key = {"AKIDEXAMPLE", 11},
                                  .secret_key = {"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40},
                                  .region = {"us-east-1", 9},
                                  .service = {"rekognition", 11},
                                  .time_s = 1440938160,
                                  .cache = cache};
    struct rt_sigv4_result res;
    rt_sigv4_sign(&req, &cfg, &res, NULL); /* warm the cache */
#ifdef COUNT_ALLOCS
    unsigned long a0 = n_allocs;
#endif
    double t0 = now_ns(), c0 = cpu_ns();
    for (long i = 0; i < n; i++) {
        if (m == CACHED_HASH_BODY)
            rt_sigv4_sha256_hex(body, 200, hash);
        rt_sigv4_sign(&req, &cfg, &res, NULL);
    }
    *cpu = (cpu_ns() - c0) / (double)n;
    double ns = (now_ns() - t0) / (double)n;
#ifdef COUNT_ALLOCS
    *allocs = n_allocs - a0;
#else
    *allocs = (unsigned long)-1;
#endif
    memcpy(sig, res.signature, 65);
    rt_sigv4_cache_destroy(cache);
    return ns;
}

/* Runs the Node signer; returns its ns per signature or a negative value when skipped. */
static double node_ns(const char **why)
{
    char cmd[2048];
    if (access(RT_BENCH_NODE_MODULES "/@smithy/signature-v4", F_OK) != 0) {
        *why = "@smithy/signature-v4 not installed in " RT_BENCH_NODE_MODULES
               " (ctest -R sigv4_diff installs it)";
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "NODE_PATH='%s' node '%s' 20000 2>/dev/null", RT_BENCH_NODE_MODULES,
             RT_BENCH_NODE_SCRIPT);
    FILE *p = popen(cmd, "r");
    if (!p) {
        *why = "cannot start node";
        return -1;
    }
    char line[256] = "";
    double ns = -1;
    while (fgets(line, sizeof(line), p))
        if (strncmp(line, "ns_per_sig=", 11) == 0)
            ns = strtod(line + 11, NULL);
    if (pclose(p) != 0 || ns <= 0) {
        *why = "node or its packages failed";
        return -1;
    }
    return ns;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (n < 1)
        n = 200000;
    memset(body, 'v', 200);
    memcpy(body, "{\"k\":\"", 6);
    memcpy(body + 198, "\"}", 2);
    char s1[65], s2[65], s3[65];
    unsigned long a1, a2, a3;
    double c_cached, c_hashed, c_uncached;
    double cached = run(CACHED, n, &a1, s1, &c_cached);
    double hashed = run(CACHED_HASH_BODY, n, &a2, s2, &c_hashed);
    double uncached = run(UNCACHED, n / 4 ? n / 4 : 1, &a3, s3, &c_uncached);
    printf("bench_sigv4: POST / json 1.1 request, 4 headers, 200-byte body, %ld signatures\n", n);
    printf("  (wall ns and the thread's CPU ns per signature; CPU leaves out time lost to other\n"
           "  processes on a busy machine)\n");
    printf("  %-44s %9.0f ns/sig %12.0f sig/s %7.0f cpu ns   target <= 2000 ns\n",
           "cached key, payload hash given", cached, 1e9 / cached, c_cached);
    printf("  %-44s %9.0f ns/sig %12.0f sig/s %7.0f cpu ns\n",
           "cached key, body hashed per signature", hashed, 1e9 / hashed, c_hashed);
    printf("  %-44s %9.0f ns/sig %12.0f sig/s %7.0f cpu ns\n",
           "no cache (key derived per signature)", uncached, 1e9 / uncached, c_uncached);
    if (a1 != (unsigned long)-1)
        printf("  heap allocations per signature: %.2f cached, %.2f uncached   target 0\n",
               (double)a1 / (double)n, (double)a3 / (double)(n / 4 ? n / 4 : 1));
    else
        printf("  heap allocations per signature: not counted under ASan\n");
    if (strcmp(s1, s2) != 0 || strcmp(s1, s3) != 0)
        printf("  WARNING: the three modes disagree on the signature\n");
    const char *why = "";
    double node = node_ns(&why);
    if (node > 0)
        printf("  %-44s %9.0f ns/sig %12.0f sig/s\n  ratio node/retraind (cached): %.1fx   "
               "target >= 10x\n",
               "@smithy/signature-v4 (Node)", node, 1e9 / node, node / cached);
    else
        printf("  Node side skipped: %s\n", why);
    return 0;
}
