/*
 * sigv4_int.h - helpers shared inside src/sigv4 only: SHA-256 and HMAC on precomputed states.
 *
 * Design: HMAC is done by hand on SHA256_CTX values rather than through EVP_MAC, because a
 * precomputed inner/outer state can be copied by value (no allocation, no provider fetch) and a
 * cached signing key then costs two short hash runs per signature. The low-level SHA256_* calls
 * are deprecated in OpenSSL 3 but still exported and still use the CPU's SHA extensions.
 */
#ifndef RT_SIGV4_INT_H
#define RT_SIGV4_INT_H

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <stddef.h>

#include "retraind/sigv4.h"

/* HMAC-SHA256 key as the two hash states after absorbing key^ipad and key^opad. */
struct rt__hmac_key {
    SHA256_CTX inner;
    SHA256_CTX outer;
};

/* Prepares k from key[0..len). Wipes its temporaries. */
void rt__hmac_init(struct rt__hmac_key *k, const void *key, size_t len);
/* out = HMAC(k, msg). */
void rt__hmac(const struct rt__hmac_key *k, const void *msg, size_t len, unsigned char out[32]);
/* Wipes k. */
void rt__hmac_wipe(struct rt__hmac_key *k);
/* Fills k with the signing key of (secret, date8, region, service), from cache when it holds
 * it (cache may be NULL). */
void rt__signing_key(struct rt_sigv4_cache *cache,
                     struct rt_str secret,
                     struct rt_str date8,
                     struct rt_str region,
                     struct rt_str service,
                     struct rt__hmac_key *k);
/* Writes 2*n lowercase hex digits of p (no NUL). */
void rt__hex(const unsigned char *p, size_t n, char *out);

#endif
