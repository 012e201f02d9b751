/*
 * alloc.c - allocation hooks with a failure injector and a live-allocation counter.
 *
 * Design: the counters are atomics because thread-pool work (image decoding, training) allocates
 * too. The failure injector is for tests only; production never sets it.
 */
#include "retraind/alloc.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_ulong fail_after;
static atomic_long live;
static _Thread_local unsigned long failures; /* this thread's failed allocations */

static bool should_fail(void)
{
    unsigned long limit = atomic_load(&fail_after);
    unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
    if (limit != 0 && n >= limit) {
        failures++;
        return true;
    }
    return false;
}

void *rt_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        atomic_fetch_add(&live, 1);
    else
        failures++;
    return p;
}

void *rt_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p)
        atomic_fetch_add(&live, 1);
    else
        failures++;
    return p;
}

void *rt_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    void *q = realloc(p, size ? size : 1);
    if (q && !p)
        atomic_fetch_add(&live, 1);
    else if (!q)
        failures++;
    return q;
}

void rt_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&live, 1);
    free(p);
}

char *rt_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = rt_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *rt_strdup(const char *s)
{
    return s ? rt_strndup(s, strlen(s)) : NULL;
}

void rt_free_secret(void *p, size_t size)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, size);
    rt_free(p);
}

void rt_free_secret_str(char *s)
{
    if (s)
        rt_free_secret(s, strlen(s));
}

unsigned long rt_alloc_failures(void)
{
    return failures;
}

void rt_alloc_fail_after(unsigned long n)
{
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_after, n);
}

long rt_alloc_live(void)
{
    return atomic_load(&live);
}

/* cJSON allocates through these hooks too, so allocation-failure tests reach the JSON that the
 * journal, the workflows and the reports build, and its memory is counted. Installed before
 * main() in every program that links core. Everything cJSON returns is freed with cJSON_free
 * (or cJSON_Delete), never free(). */
__attribute__((constructor)) static void route_cjson(void)
{
    cJSON_Hooks hooks = {.malloc_fn = rt_malloc, .free_fn = rt_free};
    cJSON_InitHooks(&hooks);
}
