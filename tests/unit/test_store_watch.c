/*
 * test_store_watch.c - the local store's folder watch (store.h ops->watch/unwatch): a rename
 * into the watched folder calls back on a later turn, the folder is created when missing, a
 * symlinked folder is refused, no callback follows unwatch, and close stops (and frees) a watch
 * left open.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/fsutil.h"
#include "retraind/store.h"
#include "rt_test.h"

struct wfx {
    uv_loop_t loop;
    uv_timer_t tick;
    struct rt_store *s;
    char root[600];
    int events;
    long alloc_base;
};

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void on_event(void *ud)
{
    ((struct wfx *)ud)->events++;
}

static void run_ms(struct wfx *f, int64_t ms)
{
    int64_t end = rt_mono_ms() + ms;
    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (rt_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->tick);
}

static void open_fx(struct wfx *f, const char *name)
{
    memset(f, 0, sizeof(*f));
    f->alloc_base = rt_alloc_live();
    snprintf(f->root, sizeof(f->root), "%s/%s", rt_test_tmpdir(), name);
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    RT_ASSERT_OK(uv_timer_init(&f->loop, &f->tick));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = f->root};
    RT_ASSERT_OK(rt_store_local_new(&f->loop, &o, &f->s, &err));
    RT_ASSERT(f->s->ops->watch != NULL && f->s->ops->unwatch != NULL);
}

static void set_flag(void *ud)
{
    (*(int *)ud)++;
}

static void close_fx(struct wfx *f)
{
    int closed = 0;
    f->s->ops->close(f->s, set_flag, &closed);
    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (!closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), f->alloc_base);
}

static void put_file(struct wfx *f, const char *name)
{
    char tmp[800], path[800];
    snprintf(tmp, sizeof(tmp), "%s/../%s.tmp", f->root, name);
    snprintf(path, sizeof(path), "%s/drop/%s", f->root, name);
    FILE *fp = fopen(tmp, "w");
    RT_ASSERT(fp != NULL);
    fputs("x", fp);
    fclose(fp);
    RT_ASSERT(rename(tmp, path) == 0);
}

RT_TEST(watch_sees_a_rename_into_the_folder)
{
    struct wfx f;
    open_fx(&f, "w1");
    struct rt_store_watch *w = NULL;
    RT_ASSERT_OK(f.s->ops->watch(f.s, "drop/", on_event, &f, &w));
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/drop", f.root);
    struct stat st;
    RT_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)); /* created */
    RT_ASSERT_INT_EQ(f.events, 0);
    put_file(&f, "a.png");
    RT_ASSERT_INT_EQ(f.events, 0); /* never inside the change */
    run_ms(&f, 100);
    RT_ASSERT(f.events >= 1);
    f.s->ops->unwatch(f.s, w);
    int before = f.events;
    put_file(&f, "b.png");
    run_ms(&f, 100);
    RT_ASSERT_INT_EQ(f.events, before);
    close_fx(&f);
}

RT_TEST(watch_refuses_bad_prefixes)
{
    struct wfx f;
    open_fx(&f, "w2");
    struct rt_store_watch *w = NULL;
    RT_ASSERT_INT_EQ(f.s->ops->watch(f.s, "no-slash", on_event, &f, &w), RT_EKEY);
    RT_ASSERT_INT_EQ(f.s->ops->watch(f.s, "../up/", on_event, &f, &w), RT_EKEY);
    RT_ASSERT_INT_EQ(f.s->ops->watch(f.s, ".retraind-tmp/", on_event, &f, &w), RT_EKEY);
    char link[700];
    snprintf(link, sizeof(link), "%s/linked", f.root);
    RT_ASSERT(symlink("/tmp", link) == 0);
    RT_ASSERT(f.s->ops->watch(f.s, "linked/", on_event, &f, &w) != 0);
    close_fx(&f);
}

RT_TEST(close_stops_a_watch_left_open)
{
    struct wfx f;
    open_fx(&f, "w3");
    struct rt_store_watch *w = NULL;
    RT_ASSERT_OK(f.s->ops->watch(f.s, "drop/", on_event, &f, &w));
    close_fx(&f); /* no leak, no handle left: the loop closes */
}
