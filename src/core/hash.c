/*
 * hash.c - rt_hash64 and the sorted hash set (see hash.h).
 *
 * Design: 8 bytes at a time through a 128-bit multiply-fold (the construction of the wyhash
 * family, written here from the idea: mix each word with a distinct odd constant, fold the high
 * and low halves of the product), then a splitmix64 finaliser. It runs at several bytes per
 * cycle, which keeps hashing 100,000 keys near a millisecond.
 */
#include "retraind/hash.h"

#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/error.h"

static uint64_t fold(uint64_t a, uint64_t b)
{
    __uint128_t p = (__uint128_t)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t finalise(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rt_hash64(const void *data, size_t len)
{
    static const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL;
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        h = fold(h ^ load64(p + i) ^ k0, k1);
    uint64_t tail = 0;
    for (size_t s = 0; i < len; i++, s += 8)
        tail |= (uint64_t)p[i] << s;
    h = fold(h ^ tail ^ k1, k0 ^ (uint64_t)len);
    return finalise(h);
}

int rt_hashset_add(struct rt_hashset *s, uint64_t h)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *v = rt_realloc(s->v, cap * sizeof(*v));
        if (!v)
            return RT_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = h;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void rt_hashset_seal(struct rt_hashset *s)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
    size_t w = 1;
    for (size_t r = 1; r < s->n; r++)
        if (s->v[r] != s->v[w - 1])
            s->v[w++] = s->v[r];
    s->n = w;
}

int rt_hashset_contains(const struct rt_hashset *s, uint64_t h)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid] < h)
            lo = mid + 1;
        else if (s->v[mid] > h)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

void rt_hashset_cleanup(struct rt_hashset *s)
{
    rt_free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
