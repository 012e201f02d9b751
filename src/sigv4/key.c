/*
 * key.c - HMAC-SHA256 on precomputed states, signing-key derivation and the derived-key cache.
 *
 * Design: the cache keeps, per (secret, date, region, service), the HMAC inner and outer states
 * of the final signing key, so a cache hit skips the four-HMAC derivation chain and also the two
 * block compressions of preparing the HMAC key. The secret itself is kept (up to 128 bytes) to
 * compare against with CRYPTO_memcmp; a longer secret is simply never cached. Every entry is
 * wiped with OPENSSL_cleanse when replaced, cleared or destroyed.
 */
#include "sigv4_int.h" /* first: it sets OPENSSL_SUPPRESS_DEPRECATED before any OpenSSL header */

#include <openssl/crypto.h>
#include <stdbool.h>
#include <string.h>

#include "retraind/alloc.h"

#define CACHE_ENTRIES 8
#define CACHE_SECRET_MAX 128
#define CACHE_NAME_MAX 64

struct entry {
    bool used;
    unsigned char secret_len, region_len, service_len;
    char secret[CACHE_SECRET_MAX];
    char date8[8];
    char region[CACHE_NAME_MAX];
    char service[CACHE_NAME_MAX];
    struct rt__hmac_key key;
};

struct rt_sigv4_cache {
    struct entry e[CACHE_ENTRIES];
    unsigned next_victim;
    unsigned long hits, misses;
};

void rt__hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

void rt__hmac_init(struct rt__hmac_key *k, const void *key, size_t len)
{
    unsigned char block[64], pad[64];
    memset(block, 0, sizeof(block));
    if (len > sizeof(block)) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, key, len);
        SHA256_Final(block, &c);
    } else if (len)
        memcpy(block, key, len);
    for (size_t i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, 64);
    for (size_t i = 0; i < 64; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, 64);
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void rt__hmac(const struct rt__hmac_key *k, const void *msg, size_t len, unsigned char out[32])
{
    SHA256_CTX c = k->inner;
    SHA256_Update(&c, msg, len);
    SHA256_Final(out, &c);
    c = k->outer;
    SHA256_Update(&c, out, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof(c));
}

void rt__hmac_wipe(struct rt__hmac_key *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

void rt_sigv4_derive_key(struct rt_str secret,
                         struct rt_str date8,
                         struct rt_str region,
                         struct rt_str service,
                         unsigned char out[32])
{
    struct rt__hmac_key k;
    unsigned char first[4 + 256];
    unsigned char cur[32];
    /* "AWS4" + secret; a secret too long for the stack copy is hashed as HMAC prescribes for
     * long keys, which gives the same result. */
    if (secret.len <= sizeof(first) - 4) {
        memcpy(first, "AWS4", 4);
        if (secret.len)
            memcpy(first + 4, secret.p, secret.len);
        rt__hmac_init(&k, first, 4 + secret.len);
    } else {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, "AWS4", 4);
        SHA256_Update(&c, secret.p, secret.len);
        SHA256_Final(cur, &c);
        OPENSSL_cleanse(&c, sizeof(c));
        rt__hmac_init(&k, cur, 32);
    }
    OPENSSL_cleanse(first, sizeof(first));
    rt__hmac(&k, date8.p, date8.len, cur);
    rt__hmac_init(&k, cur, 32);
    rt__hmac(&k, region.p, region.len, cur);
    rt__hmac_init(&k, cur, 32);
    rt__hmac(&k, service.p, service.len, cur);
    rt__hmac_init(&k, cur, 32);
    rt__hmac(&k, "aws4_request", 12, out);
    rt__hmac_wipe(&k);
    OPENSSL_cleanse(cur, sizeof(cur));
}

static bool entry_matches(const struct entry *e,
                          struct rt_str secret,
                          struct rt_str date8,
                          struct rt_str region,
                          struct rt_str service)
{
    return e->used && e->secret_len == secret.len && e->region_len == region.len &&
           e->service_len == service.len && memcmp(e->date8, date8.p, 8) == 0 &&
           memcmp(e->region, region.p, region.len) == 0 &&
           memcmp(e->service, service.p, service.len) == 0 &&
           CRYPTO_memcmp(e->secret, secret.p, secret.len) == 0;
}

void rt__signing_key(struct rt_sigv4_cache *cache,
                     struct rt_str secret,
                     struct rt_str date8,
                     struct rt_str region,
                     struct rt_str service,
                     struct rt__hmac_key *k)
{
    bool cacheable = cache && secret.len <= CACHE_SECRET_MAX && date8.len == 8 &&
                     region.len <= CACHE_NAME_MAX && service.len <= CACHE_NAME_MAX;
    if (cacheable) {
        for (unsigned i = 0; i < CACHE_ENTRIES; i++) {
            if (entry_matches(&cache->e[i], secret, date8, region, service)) {
                cache->hits++;
                *k = cache->e[i].key;
                return;
            }
        }
        cache->misses++;
    }
    unsigned char raw[32];
    rt_sigv4_derive_key(secret, date8, region, service, raw);
    rt__hmac_init(k, raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    if (!cacheable)
        return;
    /* Prefer a free slot; otherwise replace in turn (a signing day changes all at once). */
    struct entry *e = NULL;
    for (unsigned i = 0; i < CACHE_ENTRIES && !e; i++)
        if (!cache->e[i].used)
            e = &cache->e[i];
    if (!e) {
        e = &cache->e[cache->next_victim];
        cache->next_victim = (cache->next_victim + 1) % CACHE_ENTRIES;
    }
    OPENSSL_cleanse(e, sizeof(*e));
    e->used = true;
    e->secret_len = (unsigned char)secret.len;
    e->region_len = (unsigned char)region.len;
    e->service_len = (unsigned char)service.len;
    if (secret.len)
        memcpy(e->secret, secret.p, secret.len);
    memcpy(e->date8, date8.p, 8);
    if (region.len)
        memcpy(e->region, region.p, region.len);
    if (service.len)
        memcpy(e->service, service.p, service.len);
    e->key = *k;
}

int rt_sigv4_cache_new(struct rt_sigv4_cache **out)
{
    *out = rt_calloc(1, sizeof(**out));
    return *out ? 0 : RT_ENOMEM;
}

void rt_sigv4_cache_clear(struct rt_sigv4_cache *cache)
{
    if (!cache)
        return;
    OPENSSL_cleanse(cache->e, sizeof(cache->e));
    cache->next_victim = 0;
}

void rt_sigv4_cache_destroy(struct rt_sigv4_cache *cache)
{
    if (cache)
        rt_free_secret(cache, sizeof(*cache));
}

void rt_sigv4_cache_stats(const struct rt_sigv4_cache *cache,
                          unsigned long *hits,
                          unsigned long *misses)
{
    *hits = cache ? cache->hits : 0;
    *misses = cache ? cache->misses : 0;
}

void rt_sigv4_sha256_hex(const void *p, size_t n, char out[RT_SIGV4_HEX_LEN + 1])
{
    unsigned char md[32];
    SHA256_CTX c;
    /* The low-level calls: OpenSSL 3's one-shot SHA256() fetches an EVP method every time. */
    SHA256_Init(&c);
    SHA256_Update(&c, p, n);
    SHA256_Final(md, &c);
    rt__hex(md, 32, out);
    out[RT_SIGV4_HEX_LEN] = '\0';
}
