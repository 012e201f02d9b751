/*
 * alloc.h - the allocation hooks every module goes through.
 *
 * Going through one place lets a test build fail the Nth allocation (curl's torture mode) and
 * count what is still allocated. rt_malloc etc. return NULL on failure like malloc; callers
 * turn that into RT_ENOMEM.
 */
#ifndef RETRAIND_ALLOC_H
#define RETRAIND_ALLOC_H

#include <stddef.h>

void *rt_malloc(size_t size);
void *rt_calloc(size_t n, size_t size);
void *rt_realloc(void *p, size_t size);
void rt_free(void *p);
/* Returns: new copy of s (NULL if s is NULL or on failure), caller frees with rt_free(). */
char *rt_strdup(const char *s);
/* Returns: new NUL-terminated copy of the first n bytes of s, caller frees with rt_free(). */
char *rt_strndup(const char *s, size_t n);
/* Wipes size bytes at p so a secret does not linger, then frees p. NULL is fine. */
void rt_free_secret(void *p, size_t size);
/* Wipes a NUL-terminated secret string and frees it. NULL is fine. */
void rt_free_secret_str(char *s);

/*
 * Returns: how many allocations through these hooks have failed on the calling thread so far.
 * For a caller of a library that returns NULL both for bad input and for lack of memory (cJSON's
 * parser): a change across the call means memory ran out, so the error is RT_ENOMEM.
 */
unsigned long rt_alloc_failures(void);

/* Test-build hooks: fail the allocation number n (1-based) and every later one; 0 disables. */
void rt_alloc_fail_after(unsigned long n);
/* Returns: the number of live allocations made through these hooks. */
long rt_alloc_live(void);

#endif
