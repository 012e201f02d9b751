/*
 * sqlite_alloc_fixture.h - for the allocation-failure tests: SQLite allocating through rt_malloc
 * (SQLITE_CONFIG_MALLOC, installed by a constructor before SQLite initialises), so
 * rt_alloc_fail_after reaches inside SQLite's statements, transactions and commits; and
 * inject_end(), which ends an injected run and says whether the run reached the injection.
 *
 * SQLite's caches keep memory between calls, so a leak check counts only the project's own
 * allocations: live_own() is rt_alloc_live() minus the blocks SQLite holds. sq_route can be
 * cleared while a check reads the journal through a connection of its own, so the check never
 * meets the injection.
 */
#ifndef RT_TEST_SQLITE_ALLOC_FIXTURE_H
#define RT_TEST_SQLITE_ALLOC_FIXTURE_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"

/* Every SQLite block starts with this header; the payload follows, 16-byte aligned. */
struct sq_hdr {
    size_t size;
    size_t via_rt; /* 1: from rt_malloc (counted in sq_live), 0: from malloc */
};

static atomic_int sq_route = 1; /* new blocks come from rt_malloc (injection applies) */
static atomic_long sq_live;     /* SQLite blocks held from rt_malloc */

static void *sq_malloc(int n)
{
    size_t size = n > 0 ? (size_t)n : 1;
    struct sq_hdr *h;
    if (atomic_load(&sq_route)) {
        h = rt_malloc(sizeof(*h) + size);
        if (!h)
            return NULL;
        h->via_rt = 1;
        atomic_fetch_add(&sq_live, 1);
    } else {
        h = malloc(sizeof(*h) + size);
        if (!h)
            return NULL;
        h->via_rt = 0;
    }
    h->size = size;
    return h + 1;
}

static void sq_free(void *p)
{
    if (!p)
        return;
    struct sq_hdr *h = (struct sq_hdr *)p - 1;
    if (h->via_rt) {
        atomic_fetch_sub(&sq_live, 1);
        rt_free(h);
    } else {
        free(h);
    }
}

static int sq_size(void *p)
{
    return p ? (int)((struct sq_hdr *)p - 1)->size : 0;
}

static void *sq_realloc(void *p, int n)
{
    void *q = sq_malloc(n);
    if (!q)
        return NULL;
    size_t old = (size_t)sq_size(p);
    if (p)
        memcpy(q, p, old < (size_t)n ? old : (size_t)n);
    sq_free(p);
    return q;
}

static int sq_roundup(int n)
{
    return (n + 15) & ~15;
}

static int sq_init(void *ud)
{
    (void)ud;
    return SQLITE_OK;
}

static void sq_shutdown(void *ud)
{
    (void)ud;
}

__attribute__((constructor)) static void route_sqlite(void)
{
    static const sqlite3_mem_methods m = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                          sq_roundup, sq_init, sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK)
        abort();
}

/* Returns: the project's own live allocations (SQLite's caches excluded). */
static long live_own(void)
{
    return rt_alloc_live() - atomic_load(&sq_live);
}

/*
 * Ends an injected run. Returns: true if the run met the injection. A probe allocation after the
 * run fails exactly when the run made at least n - 1 allocations; so a loop over n stops at the
 * first n the run never reached (and goes one past the run's last allocation, harmless).
 */
static bool inject_end(void)
{
    void *probe = rt_malloc(1);
    rt_alloc_fail_after(0);
    rt_free(probe);
    return probe == NULL;
}

#endif
