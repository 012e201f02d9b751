/* Unit tests of the core helpers: deferred calls, mkdir -p, the write probe, the 64-bit hash and
 * its sorted set, and cJSON routed through the allocation hooks. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/fsutil.h"
#include "retraind/hash.h"
#include "retraind/loop.h"
#include "rt_test.h"

struct order {
    int seen[8];
    int n;
    struct rt_defer_queue *q;
    bool closed;
};

static void record(void *ud);

static struct order *g_order;

static void record(void *ud)
{
    int v = (int)(intptr_t)ud;
    g_order->seen[g_order->n++] = v;
    /* A call queued from inside a deferred call runs on a later turn, after the current batch. */
    if (v == 1)
        RT_ASSERT_OK(rt_defer(g_order->q, record, (void *)(intptr_t)9));
}

static void closed(void *ud)
{
    ((struct order *)ud)->closed = true;
}

RT_TEST(defer_runs_later_in_order)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_defer_queue q;
    struct order o = {.q = &q};
    g_order = &o;
    RT_ASSERT_OK(rt_defer_init(&q, &loop));
    struct rt_deferred item;
    RT_ASSERT_OK(rt_defer(&q, record, (void *)(intptr_t)1));
    rt_defer_item(&q, &item, record, (void *)(intptr_t)2);
    RT_ASSERT_INT_EQ(o.n, 0); /* never inside the call */
    RT_ASSERT(rt_defer_pending(&q));
    uv_run(&loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(o.n, 2);
    RT_ASSERT_INT_EQ(o.seen[0], 1);
    RT_ASSERT_INT_EQ(o.seen[1], 2);
    uv_run(&loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(o.n, 3);
    RT_ASSERT_INT_EQ(o.seen[2], 9);
    RT_ASSERT_OK(rt_defer(&q, record, (void *)(intptr_t)3));
    rt_defer_close(&q, closed, &o);
    RT_ASSERT(!o.closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT(o.closed);
    RT_ASSERT_INT_EQ(o.n, 4); /* what was queued at close still ran, before the close callback */
    RT_ASSERT_INT_EQ(o.seen[3], 3);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

RT_TEST(defer_alloc_failure_queues_nothing)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_defer_queue q;
    struct order o = {.q = &q};
    g_order = &o;
    RT_ASSERT_OK(rt_defer_init(&q, &loop));
    rt_alloc_fail_after(1);
    int rc = rt_defer(&q, record, (void *)(intptr_t)5);
    rt_alloc_fail_after(0);
    RT_ASSERT_INT_EQ(rc, RT_ENOMEM);
    RT_ASSERT(!rt_defer_pending(&q));
    rt_defer_close(&q, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(o.n, 0);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* CPU-heavy pool work lowers its own pool thread to RT_POOL_NICE, and only that thread. */
struct prio_probe {
    int after, again;
};

static void prio_work(uv_work_t *w)
{
    struct prio_probe *p = w->data;
    rt_pool_thread_background();
    p->after = getpriority(PRIO_PROCESS, (id_t)gettid());
    rt_pool_thread_background(); /* a second call changes nothing */
    p->again = getpriority(PRIO_PROCESS, (id_t)gettid());
}

static void prio_after(uv_work_t *w, int status)
{
    (void)w;
    RT_ASSERT_INT_EQ(status, 0);
}

RT_TEST(pool_thread_background_lowers_only_the_pool_thread)
{
    int loop_before = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (loop_before >= RT_POOL_NICE)
        RT_SKIP("the test runs at nice %d already", loop_before);
    uv_loop_t loop;
    RT_ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    struct prio_probe p = {0};
    uv_work_t w = {.data = &p};
    RT_ASSERT_INT_EQ(uv_queue_work(&loop, &w, prio_work, prio_after), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(p.after, RT_POOL_NICE);
    RT_ASSERT_INT_EQ(p.again, RT_POOL_NICE);
    RT_ASSERT_INT_EQ(getpriority(PRIO_PROCESS, (id_t)gettid()), loop_before);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

RT_TEST(mkdir_p_creates_parents_and_refuses_files)
{
    char path[512], file[512];
    rt_snprintf(path, sizeof(path), "%s/a/b/c/", rt_test_tmpdir());
    RT_ASSERT_OK(rt_mkdir_p(path, 0700));
    RT_ASSERT_OK(rt_mkdir_p(path, 0700)); /* existing: fine */
    struct stat st;
    RT_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    RT_ASSERT_INT_EQ(st.st_mode & 0777, 0700 & ~0022 & 0777);
    rt_snprintf(file, sizeof(file), "%s/a/f", rt_test_tmpdir());
    FILE *f = fopen(file, "w");
    RT_ASSERT(f);
    fclose(f);
    rt_snprintf(path, sizeof(path), "%s/a/f", rt_test_tmpdir());
    RT_ASSERT_INT_EQ(rt_mkdir_p(path, 0700), -ENOTDIR);
    rt_snprintf(path, sizeof(path), "%s/a/f/g", rt_test_tmpdir());
    RT_ASSERT_INT_EQ(rt_mkdir_p(path, 0700), -ENOTDIR);
}

RT_TEST(check_writable_names_folder_and_user)
{
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_check_writable(rt_test_tmpdir(), "the data folder", &err));
    char missing[512];
    rt_snprintf(missing, sizeof(missing), "%s/nope", rt_test_tmpdir());
    int rc = rt_check_writable(missing, "the journal folder", &err);
    RT_ASSERT_INT_EQ(rc, -ENOENT);
    RT_ASSERT_CONTAINS(err.msg, "the journal folder");
    RT_ASSERT_CONTAINS(err.msg, missing);
    RT_ASSERT_CONTAINS(err.msg, "not writable by user");
}

RT_TEST(hash64_stable_and_spread)
{
    /* Stored in the journal: these values must never change. */
    RT_ASSERT(rt_hash64("", 0) == rt_hash64("", 0));
    RT_ASSERT(rt_hash64("a", 1) != rt_hash64("b", 1));
    RT_ASSERT(rt_hash64("abcdefgh", 8) != rt_hash64("abcdefgh\0", 9));
    char k1[64], k2[64];
    struct rt_hashset s = {0};
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(k1, sizeof(k1), "images_labeled_by_folder/cat/img-%06d.png", i);
        RT_ASSERT_OK(rt_hashset_add(&s, rt_hash64(k1, (size_t)n)));
    }
    rt_hashset_seal(&s);
    RT_ASSERT_INT_EQ(s.n, 200000); /* no collision among similar keys */
    int n = snprintf(k2, sizeof(k2), "images_labeled_by_folder/cat/img-%06d.png", 4242);
    RT_ASSERT(rt_hashset_contains(&s, rt_hash64(k2, (size_t)n)));
    n = snprintf(k2, sizeof(k2), "images_labeled_by_folder/dog/img-%06d.png", 4242);
    RT_ASSERT(!rt_hashset_contains(&s, rt_hash64(k2, (size_t)n)));
    rt_hashset_cleanup(&s);
    RT_ASSERT_INT_EQ(s.n, 0);
}

RT_TEST(hashset_seal_removes_duplicates)
{
    struct rt_hashset s = {0};
    uint64_t vals[] = {5, 3, 5, 9, 3, 1};
    for (size_t i = 0; i < 6; i++)
        RT_ASSERT_OK(rt_hashset_add(&s, vals[i]));
    rt_hashset_seal(&s);
    RT_ASSERT_INT_EQ(s.n, 4);
    RT_ASSERT(rt_hashset_contains(&s, 1) && rt_hashset_contains(&s, 9));
    RT_ASSERT(!rt_hashset_contains(&s, 4));
    rt_hashset_cleanup(&s);
}

RT_TEST(cjson_goes_through_alloc_hooks)
{
    long before = rt_alloc_live();
    cJSON *o = cJSON_CreateObject();
    RT_ASSERT(o);
    RT_ASSERT(rt_alloc_live() > before);
    cJSON_Delete(o);
    RT_ASSERT_INT_EQ(rt_alloc_live(), before);
    rt_alloc_fail_after(1);
    cJSON *p = cJSON_Parse("{\"a\": [1, 2, 3]}");
    rt_alloc_fail_after(0);
    RT_ASSERT(p == NULL);
}
