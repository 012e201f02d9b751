/*
 * hash.h - a fast 64-bit hash of byte strings, for sets of store keys held in little memory
 * (the training check compares the labeled images with the deployed manifest by key identity).
 *
 * Not cryptographic: a deliberately colliding key is no threat (the worst case is one image
 * counted as trained). For random keys the chance of any collision among 100,000 keys is about
 * 3e-10.
 */
#ifndef RETRAIND_HASH_H
#define RETRAIND_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Returns: the 64-bit hash of len bytes at p. Stable across runs, machines and versions (it is
 * stored in the journal), so never change it; add a new function instead. */
uint64_t rt_hash64(const void *p, size_t len);

/* A sorted set of 64-bit hashes (a sorted array: 8 bytes per key, binary search). */
struct rt_hashset {
    uint64_t *v; /* owned, sorted, no duplicates after rt_hashset_seal */
    size_t n, cap;
};
/* Adds h (unsorted until sealed). Returns: 0 or RT_ENOMEM. */
int rt_hashset_add(struct rt_hashset *s, uint64_t h);
/* Sorts and removes duplicates; call once after the last add and before contains. */
void rt_hashset_seal(struct rt_hashset *s);
/* Returns: 1 if h is in the sealed set, else 0. */
int rt_hashset_contains(const struct rt_hashset *s, uint64_t h);
/* Frees the array; s is empty and reusable. */
void rt_hashset_cleanup(struct rt_hashset *s);

#endif
