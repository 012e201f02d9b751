/*
 * test_store_local.c - the local store driver: hostile keys, symlinks, atomic writes, streaming
 * listings, the counting rule over a listing, bounded reads, copy/delete/head and closing with work
 * in flight; the listing's walk on the thread pool (through the test-only hook of local_int.h,
 * which holds page jobs on semaphores rather than timing them) and the read-only mode. Every case
 * checks the filesystem itself, not only what the driver reports, and ends with uv_loop_close() ==
 * 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "../../src/store/local_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/store.h"
#include "rt_test.h"

/* ---- filesystem helpers ---- */

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static void write_file(const char *path, const char *data)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(dir);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        RT_FAIL("cannot create %s: %s", path, rt_strerror(-errno));
    size_t n = strlen(data);
    RT_ASSERT_INT_EQ(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static const char *path_in(const char *a, const char *b)
{
    static char bufs[4][4096];
    static int next;
    char *out = bufs[next++ % 4];
    snprintf(out, 4096, "%s/%s", a, b);
    return out;
}

/* ---- store helpers: run one operation to completion ---- */

struct waiter {
    int calls;
    int status;
    bool exists;
    int64_t size;
    char etag[64];
    char msg[512];
};

static void done_cb(int status, const struct rt_error *err, void *ud)
{
    struct waiter *w = ud;
    w->calls++;
    w->status = status;
    if (err)
        snprintf(w->msg, sizeof(w->msg), "%s", err->msg);
}

static void
head_cb(int status, bool ex, const struct rt_store_entry *e, const struct rt_error *err, void *ud)
{
    struct waiter *w = ud;
    w->calls++;
    w->status = status;
    w->exists = ex;
    if (e) {
        w->size = e->size;
        snprintf(w->etag, sizeof(w->etag), "%s", e->etag);
    }
    (void)err;
}

static struct rt_store *open_store(uv_loop_t *loop, const char *root)
{
    struct rt_store *s = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = root};
    int rc = rt_store_local_new(loop, &o, &s, &err);
    if (rc)
        RT_FAIL("rt_store_local_new: %s", err.msg);
    RT_ASSERT_STR_EQ(s->bucket_name, "local");
    RT_ASSERT_STR_EQ(s->ops->name, "local");
    return s;
}

static void closed_cb(void *ud)
{
    (*(int *)ud)++;
}

static void close_store(uv_loop_t *loop, struct rt_store *s)
{
    int closed = 0;
    s->ops->close(s, closed_cb, &closed);
    RT_ASSERT_INT_EQ(closed, 0); /* never from inside close() */
    uv_run(loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
}

static void finish_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* Runs the loop until w has its callback; checks it was not called from inside the start. */
static int wait_op(uv_loop_t *loop, int start_rc, struct waiter *w)
{
    if (start_rc)
        return start_rc;
    RT_ASSERT_INT_EQ(w->calls, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(w->calls, 1);
    return w->status;
}

static int put_str(uv_loop_t *loop, struct rt_store *s, const char *key, const char *data)
{
    struct waiter w = {0};
    return wait_op(loop, s->ops->put(s, key, data, strlen(data), "image/png", done_cb, &w), &w);
}

static int get_buf(uv_loop_t *loop, struct rt_store *s, const char *key, struct rt_buf *b)
{
    struct waiter w = {0};
    return wait_op(loop, s->ops->get(s, key, b, done_cb, &w), &w);
}

static int del_key(uv_loop_t *loop, struct rt_store *s, const char *key)
{
    struct waiter w = {0};
    return wait_op(loop, s->ops->del(s, key, done_cb, &w), &w);
}

static int copy_key(uv_loop_t *loop, struct rt_store *s, const char *a, const char *b)
{
    struct waiter w = {0};
    return wait_op(loop, s->ops->copy(s, a, b, done_cb, &w), &w);
}

static int head_key(uv_loop_t *loop, struct rt_store *s, const char *key, struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    return wait_op(loop, s->ops->head(s, key, head_cb, w), w);
}

/* ---- listing helper ---- */

#define MAX_SEEN 4096

struct lister {
    int pages;
    size_t total;
    size_t max_page;
    int last_calls;
    int status;
    int stop_after; /* stop after this many pages (0 = never) */
    bool after_last;
    size_t nkeys;
    char *keys[MAX_SEEN];
};

static int page_cb(const struct rt_store_entry *e,
                   size_t n,
                   bool last,
                   int status,
                   const struct rt_error *err,
                   void *ud)
{
    struct lister *l = ud;
    (void)err;
    if (l->last_calls)
        l->after_last = true;
    l->pages++;
    l->total += n;
    if (n > l->max_page)
        l->max_page = n;
    l->status = status;
    if (last)
        l->last_calls++;
    for (size_t i = 0; i < n; i++) {
        RT_ASSERT(e[i].key && e[i].etag && e[i].size >= 0 && e[i].mtime_ms > 0);
        if (l->nkeys < MAX_SEEN)
            l->keys[l->nkeys++] = rt_strdup(e[i].key);
    }
    return l->stop_after && l->pages >= l->stop_after;
}

static void lister_free(struct lister *l)
{
    for (size_t i = 0; i < l->nkeys; i++)
        rt_free(l->keys[i]);
    l->nkeys = 0;
}

static bool listed(const struct lister *l, const char *key)
{
    for (size_t i = 0; i < l->nkeys; i++)
        if (strcmp(l->keys[i], key) == 0)
            return true;
    return false;
}

static void
list_all(uv_loop_t *loop, struct rt_store *s, const char *prefix, size_t page, struct lister *l)
{
    RT_ASSERT_OK(s->ops->list(s, prefix, page, RT_STORE_LIST_FULL, page_cb, l));
    RT_ASSERT_INT_EQ(l->pages, 0); /* never from inside list() */
    uv_run(loop, UV_RUN_DEFAULT);
    RT_ASSERT(!l->after_last);
}

static const char *make_root(const char *name)
{
    static char roots[4][1024];
    static int next;
    char *r = roots[next++ % 4];
    snprintf(r, 1024, "%s/%s", rt_test_tmpdir(), name);
    return r;
}

/* ---- cases ---- */

RT_TEST(local_put_get_roundtrip)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    struct rt_store *s = open_store(&loop, root);
    RT_ASSERT_OK(put_str(&loop, s, "a/b/c.png", "hello"));
    RT_ASSERT(exists(path_in(root, "a/b/c.png")));
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);
    struct rt_buf b;
    rt_buf_init(&b, 1 << 20);
    RT_ASSERT_OK(rt_buf_append_str(&b, ">"));
    RT_ASSERT_OK(get_buf(&loop, s, "a/b/c.png", &b));
    RT_ASSERT_STR_EQ(b.data, ">hello"); /* get appends */
    /* Overwrite replaces the whole object. */
    RT_ASSERT_OK(put_str(&loop, s, "a/b/c.png", "bye"));
    rt_buf_reset(&b);
    RT_ASSERT_OK(get_buf(&loop, s, "a/b/c.png", &b));
    RT_ASSERT_STR_EQ(b.data, "bye");
    /* Empty objects are objects. */
    RT_ASSERT_OK(put_str(&loop, s, "empty", ""));
    rt_buf_reset(&b);
    RT_ASSERT_OK(get_buf(&loop, s, "empty", &b));
    RT_ASSERT_INT_EQ(b.len, 0);
    rt_buf_reset(&b);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "a/b/missing.png", &b), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "a/b", &b), RT_ENOTFOUND); /* a folder is not a key */
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);
    rt_buf_cleanup(&b);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_hostile_keys_refused)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *base = make_root("h");
    char root[1024];
    snprintf(root, sizeof(root), "%s/inner/root", base);
    struct rt_store *s = open_store(&loop, root);
    char longkey[RT_STORE_KEY_MAX + 2];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    const char *bad[] = {"/abs.png",
                         "/tmp/x",
                         "../x.png",
                         "a/../../x.png",
                         "..",
                         "a/..",
                         "./x",
                         "a/./x",
                         "a\\..\\x",
                         "a\nb",
                         "a\x01",
                         "\xff.png",
                         "\xc0\xae\xc0\xae/x",
                         "a//b",
                         "",
                         "a/",
                         ".retraind-tmp/x",
                         ".retraind-tmp",
                         longkey};
    struct rt_buf b;
    rt_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct waiter w = {0};
        struct rt_error err;
        rt_error_clear(&err);
        RT_ASSERT_INT_EQ(s->ops->put(s, bad[i], "x", 1, NULL, done_cb, &w), RT_EKEY);
        RT_ASSERT_INT_EQ(s->ops->get(s, bad[i], &b, done_cb, &w), RT_EKEY);
        RT_ASSERT_INT_EQ(s->ops->del(s, bad[i], done_cb, &w), RT_EKEY);
        RT_ASSERT_INT_EQ(s->ops->head(s, bad[i], head_cb, &w), RT_EKEY);
        RT_ASSERT_INT_EQ(s->ops->copy(s, "ok", bad[i], done_cb, &w), RT_EKEY);
        RT_ASSERT_INT_EQ(s->ops->copy(s, bad[i], "ok", done_cb, &w), RT_EKEY);
        uv_run(&loop, UV_RUN_DEFAULT);
        RT_ASSERT_INT_EQ(w.calls, 0); /* a refused start never calls back */
    }
    struct lister l = {0};
    RT_ASSERT_INT_EQ(s->ops->list(s, "../", 0, RT_STORE_LIST_FULL, page_cb, &l), RT_EKEY);
    RT_ASSERT_INT_EQ(s->ops->list(s, "/", 0, RT_STORE_LIST_FULL, page_cb, &l), RT_EKEY);
    close_store(&loop, s);
    /* Nothing was created anywhere: the root holds only the temp folder, its parents only it. */
    RT_ASSERT_INT_EQ(count_entries(root), 1);
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);
    RT_ASSERT_INT_EQ(count_entries(path_in(base, "inner")), 1);
    RT_ASSERT_INT_EQ(count_entries(base), 1);
    RT_ASSERT(!exists("/x.png"));
    rt_buf_cleanup(&b);
    finish_loop(&loop);
}

RT_TEST(local_symlinks_not_listed_or_followed)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    const char *out = make_root("outside");
    write_file(path_in(out, "secret.png"), "secret");
    write_file(path_in(root, "real/x.png"), "real");
    mkdirs(root);
    RT_ASSERT_OK(symlink(path_in(out, "secret.png"), path_in(root, "link.png")));
    RT_ASSERT_OK(symlink(out, path_in(root, "linkdir")));
    RT_ASSERT_OK(symlink(out, path_in(root, "real/inner")));
    RT_ASSERT_OK(mkfifo(path_in(root, "real/fifo.png"), 0644));
    struct rt_store *s = open_store(&loop, root);

    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 1);
    RT_ASSERT(listed(&l, "real/x.png"));
    lister_free(&l);

    struct rt_buf b;
    rt_buf_init(&b, 1024);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "link.png", &b), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "linkdir/secret.png", &b), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "real/inner/secret.png", &b), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "real/fifo.png", &b), RT_ENOTFOUND);
    RT_ASSERT_INT_EQ(b.len, 0);
    struct waiter w;
    RT_ASSERT_OK(head_key(&loop, s, "link.png", &w));
    RT_ASSERT(!w.exists);
    RT_ASSERT_OK(head_key(&loop, s, "linkdir/secret.png", &w));
    RT_ASSERT(!w.exists);

    /* Writes through a symlinked folder are refused and land nowhere. */
    RT_ASSERT_INT_EQ(put_str(&loop, s, "linkdir/new.png", "x"), RT_EKEY);
    RT_ASSERT_INT_EQ(put_str(&loop, s, "real/inner/new.png", "x"), RT_EKEY);
    RT_ASSERT_INT_EQ(copy_key(&loop, s, "real/x.png", "linkdir/copy.png"), RT_EKEY);
    RT_ASSERT_INT_EQ(copy_key(&loop, s, "linkdir/secret.png", "stolen.png"), RT_ENOTFOUND);
    RT_ASSERT(!exists(path_in(out, "new.png")));
    RT_ASSERT(!exists(path_in(out, "copy.png")));
    RT_ASSERT(!exists(path_in(root, "stolen.png")));
    /* Deleting through or at a symlink touches nothing. */
    RT_ASSERT_OK(del_key(&loop, s, "linkdir/secret.png"));
    RT_ASSERT_OK(del_key(&loop, s, "link.png"));
    RT_ASSERT(exists(path_in(out, "secret.png")));
    RT_ASSERT(exists(path_in(root, "link.png")));
    /* A put at a symlink's name replaces the link itself, never its target. */
    RT_ASSERT_OK(put_str(&loop, s, "link.png", "mine"));
    struct stat st;
    RT_ASSERT_OK(lstat(path_in(root, "link.png"), &st));
    RT_ASSERT(S_ISREG(st.st_mode));
    rt_buf_reset(&b);
    RT_ASSERT_OK(get_buf(&loop, s, "link.png", &b));
    RT_ASSERT_STR_EQ(b.data, "mine");
    int fd = open(path_in(out, "secret.png"), O_RDONLY);
    char got[16] = {0};
    RT_ASSERT(read(fd, got, sizeof(got) - 1) == 6);
    close(fd);
    RT_ASSERT_STR_EQ(got, "secret");
    RT_ASSERT_INT_EQ(count_entries(out), 1);
    rt_buf_cleanup(&b);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_interrupted_write_cleaned_at_start)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    struct rt_store *s = open_store(&loop, root);
    RT_ASSERT_OK(put_str(&loop, s, "k/a.png", "a"));
    close_store(&loop, s);
    /* What a crash between write and rename leaves behind. */
    write_file(path_in(root, ".retraind-tmp/w-123-7"), "half");
    write_file(path_in(root, ".retraind-tmp/nested/w-1"), "half");
    s = open_store(&loop, root);
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);
    /* A temp file appearing while the store runs is never listed either. */
    write_file(path_in(root, ".retraind-tmp/w-999-1"), "half");
    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 1);
    RT_ASSERT(listed(&l, "k/a.png"));
    lister_free(&l);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_list_pages_and_early_stop)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    char name[64];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof(name), "p/%c/%02d.png", 'a' + i % 3, i);
        write_file(path_in(root, name), "x");
    }
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    list_all(&loop, s, "p/", 10, &l);
    RT_ASSERT_INT_EQ(l.total, 25);
    RT_ASSERT_INT_EQ(l.max_page, 10);
    RT_ASSERT(l.pages >= 3);
    RT_ASSERT_INT_EQ(l.last_calls, 1);
    RT_ASSERT_INT_EQ(l.status, 0);
    lister_free(&l);

    struct lister stop = {.stop_after = 1};
    list_all(&loop, s, "", 10, &stop);
    RT_ASSERT_INT_EQ(stop.pages, 1);
    RT_ASSERT_INT_EQ(stop.total, 10);
    RT_ASSERT_INT_EQ(stop.last_calls, 0);
    lister_free(&stop);

    struct lister two = {.stop_after = 2};
    list_all(&loop, s, "", 10, &two);
    RT_ASSERT_INT_EQ(two.pages, 2);
    RT_ASSERT_INT_EQ(two.total, 20);
    lister_free(&two);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_list_2500_keys_once_each)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    char name[128];
    for (int i = 0; i < 2500; i++) {
        snprintf(name, sizeof(name), "d%d/e%d/%04d.jpg", i % 5, i % 7, i);
        write_file(path_in(root, name), "");
    }
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 2500);
    RT_ASSERT_INT_EQ(l.max_page, 1000);
    RT_ASSERT(l.pages >= 3);
    static int seen[2500];
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < l.nkeys; i++) {
        int a, b, n;
        if (sscanf(l.keys[i], "d%d/e%d/%d.jpg", &a, &b, &n) != 3 || n < 0 || n >= 2500)
            RT_FAIL("unexpected key %s", l.keys[i]);
        snprintf(name, sizeof(name), "d%d/e%d/%04d.jpg", n % 5, n % 7, n);
        RT_ASSERT_STR_EQ(l.keys[i], name);
        seen[n]++;
    }
    for (int i = 0; i < 2500; i++)
        if (seen[i] != 1)
            RT_FAIL("key %d listed %d times", i, seen[i]);
    lister_free(&l);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_list_prefixes)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    write_file(path_in(root, "images_for_detection/a.png"), "a");
    write_file(path_in(root, "images_for_detection/sub/b.png"), "b");
    write_file(path_in(root, "images_for_det_other/c.png"), "c");
    write_file(path_in(root, "images_labeled_by_folder/cat/1.png"), "1");
    write_file(path_in(root, "images_labeled_by_folder/cow/2.png"), "2");
    write_file(path_in(root, "top.png"), "t");
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    list_all(&loop, s, "images_for_det", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 3);
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, "images_for_detection/", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 2);
    RT_ASSERT(listed(&l, "images_for_detection/sub/b.png"));
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, "images_labeled_by_folder/c", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 2);
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, "images_labeled_by_folder/cat/1.png", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 1);
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, "missing/", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 0);
    RT_ASSERT_INT_EQ(l.pages, 1);
    RT_ASSERT_INT_EQ(l.last_calls, 1);
    RT_ASSERT_INT_EQ(l.status, 0);
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, "top.png/", 0, &l); /* a file where a folder is asked for: empty */
    RT_ASSERT_INT_EQ(l.total, 0);
    lister_free(&l);
    memset(&l, 0, sizeof(l));
    list_all(&loop, s, NULL, 0, &l);
    RT_ASSERT_INT_EQ(l.total, 6);
    lister_free(&l);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_list_skips_invalid_names)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    write_file(path_in(root, "ok/a.png"), "");
    write_file(path_in(root, "ok/bad\nname.png"), "");
    write_file(path_in(root, "ok/back\\slash.png"), "");
    write_file(path_in(root, "ok/\xff.png"), "");
    write_file(path_in(root, "bad\x01"
                             "dir/inside.png"),
               "");
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 1);
    RT_ASSERT(listed(&l, "ok/a.png"));
    lister_free(&l);
    close_store(&loop, s);
    finish_loop(&loop);
}

struct count_ctx {
    const char *prefix;
    size_t images;
    size_t cat, dog;
};

static int count_cb(const struct rt_store_entry *e,
                    size_t n,
                    bool last,
                    int status,
                    const struct rt_error *err,
                    void *ud)
{
    struct count_ctx *c = ud;
    (void)last;
    (void)err;
    RT_ASSERT_INT_EQ(status, 0);
    for (size_t i = 0; i < n; i++) {
        struct rt_str label;
        if (!rt_store_training_label(c->prefix, e[i].key, &label))
            continue;
        c->images++;
        if (rt_str_eq_c(label, "cat"))
            c->cat++;
        else if (rt_str_eq_c(label, "dog"))
            c->dog++;
    }
    return 0;
}

RT_TEST(local_counting_rule_over_listing)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    const char *imgs[] = {"L/cat/1.png", "L/cat/2.JPG", "L/cat/3.jpeg", "L/dog/4.PnG",
                          "L/dog/5.Jpeg"};
    const char *not_imgs[] = {
        "L/cat/notes.txt", "L/cat/sub/6.png", "L/dog/.png",          "L/7.png",
        "L/dog/8.png.bak", "other/cat/9.png", "L/cat/deep/er/10.jpg"};
    for (size_t i = 0; i < 5; i++)
        write_file(path_in(root, imgs[i]), "i");
    for (size_t i = 0; i < 7; i++)
        write_file(path_in(root, not_imgs[i]), "n");
    mkdirs(path_in(root, "L/empty-label")); /* a folder alone is a placeholder: nothing */
    struct rt_store *s = open_store(&loop, root);
    struct count_ctx c = {.prefix = "L/"};
    RT_ASSERT_OK(s->ops->list(s, "L/", 3, RT_STORE_LIST_FULL, count_cb, &c));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(c.images, 5);
    RT_ASSERT_INT_EQ(c.cat, 3);
    RT_ASSERT_INT_EQ(c.dog, 2);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_get_body_cap)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    struct rt_store *s = open_store(&loop, root);
    char data[101];
    memset(data, 'z', 100);
    data[100] = '\0';
    RT_ASSERT_OK(put_str(&loop, s, "big.png", data));
    struct rt_buf b;
    rt_buf_init(&b, 50);
    RT_ASSERT_OK(rt_buf_append_str(&b, "keep"));
    struct waiter w = {0};
    RT_ASSERT_INT_EQ(wait_op(&loop, s->ops->get(s, "big.png", &b, done_cb, &w), &w), RT_ETOOBIG);
    RT_ASSERT_CONTAINS(w.msg, "big.png");
    RT_ASSERT_STR_EQ(b.data, "keep"); /* unchanged on failure */
    rt_buf_cleanup(&b);
    rt_buf_init(&b, 100);
    RT_ASSERT_OK(get_buf(&loop, s, "big.png", &b));
    RT_ASSERT_INT_EQ(b.len, 100);
    rt_buf_cleanup(&b);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_copy_delete_head)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    struct rt_store *s = open_store(&loop, root);
    RT_ASSERT_OK(put_str(&loop, s, "src/a.png", "content"));
    RT_ASSERT_OK(copy_key(&loop, s, "src/a.png", "x/y/b.png"));
    struct rt_buf b;
    rt_buf_init(&b, 100);
    RT_ASSERT_OK(get_buf(&loop, s, "x/y/b.png", &b));
    RT_ASSERT_STR_EQ(b.data, "content");
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);

    struct waiter w;
    RT_ASSERT_OK(head_key(&loop, s, "x/y/b.png", &w));
    RT_ASSERT(w.exists);
    RT_ASSERT_INT_EQ(w.size, 7);
    struct stat st;
    RT_ASSERT_OK(stat(path_in(root, "x/y/b.png"), &st));
    char etag[64];
    snprintf(etag, sizeof(etag), "%llx-%llx", 7ULL,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec);
    RT_ASSERT_STR_EQ(w.etag, etag);
    RT_ASSERT_OK(head_key(&loop, s, "x/y", &w));
    RT_ASSERT(!w.exists); /* a folder is not a key */

    RT_ASSERT_OK(del_key(&loop, s, "src/a.png"));
    RT_ASSERT(!exists(path_in(root, "src/a.png")));
    RT_ASSERT(!exists(path_in(root, "src"))); /* empty folder pruned */
    RT_ASSERT_OK(head_key(&loop, s, "src/a.png", &w));
    RT_ASSERT(!w.exists);
    RT_ASSERT_OK(del_key(&loop, s, "src/a.png")); /* absent is success */
    RT_ASSERT_OK(del_key(&loop, s, "no/such/folder.png"));
    RT_ASSERT_OK(put_str(&loop, s, "x/keep.png", "k"));
    RT_ASSERT_OK(del_key(&loop, s, "x/y/b.png"));
    RT_ASSERT(!exists(path_in(root, "x/y")));
    RT_ASSERT(exists(path_in(root, "x/keep.png"))); /* pruning stops at a non-empty folder */
    RT_ASSERT_OK(del_key(&loop, s, "x/keep.png"));
    RT_ASSERT(!exists(path_in(root, "x")));
    RT_ASSERT(exists(root)); /* never the root */
    RT_ASSERT_INT_EQ(copy_key(&loop, s, "src/a.png", "z.png"), RT_ENOTFOUND);
    RT_ASSERT(!exists(path_in(root, "z.png")));

    /* A folder where the object should go: refused, nothing half-written. */
    RT_ASSERT_OK(put_str(&loop, s, "f/inner.png", "i"));
    RT_ASSERT(put_str(&loop, s, "f", "x") != 0);
    RT_ASSERT(put_str(&loop, s, "f/inner.png/deeper.png", "x") != 0);
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 0);
    close_store(&loop, s);
    finish_loop(&loop);
}

struct close_ctx {
    struct lister l; /* first: page_cb takes the same pointer */
    struct rt_store *s;
};

static int close_inside_cb(const struct rt_store_entry *e,
                           size_t n,
                           bool last,
                           int status,
                           const struct rt_error *err,
                           void *ud)
{
    struct close_ctx *c = ud;
    page_cb(e, n, last, status, err, ud);
    if (c->l.pages == 1)
        c->s->ops->close(c->s, NULL, NULL);
    return 0;
}

RT_TEST(local_close_with_listing_in_flight)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "k/%d/%03d.png", i % 4, i);
        write_file(path_in(root, name), "");
    }
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    RT_ASSERT_OK(s->ops->list(s, "", 10, RT_STORE_LIST_FULL, page_cb, &l));
    struct waiter w = {0};
    RT_ASSERT_OK(s->ops->put(s, "late.png", "x", 1, NULL, done_cb, &w));
    while (l.pages < 2)
        uv_run(&loop, UV_RUN_ONCE);
    int pages = l.pages;
    int closed = 0;
    s->ops->close(s, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(l.pages, pages); /* no page after close */
    RT_ASSERT_INT_EQ(l.last_calls, 0);
    RT_ASSERT_INT_EQ(w.calls, 1); /* the put finished or was cancelled, and said so once */
    RT_ASSERT(w.status == 0 || w.status == RT_ECANCELED);
    lister_free(&l);

    /* Closing from inside a page callback. */
    s = open_store(&loop, root);
    static struct close_ctx c;
    memset(&c, 0, sizeof(c));
    c.s = s;
    RT_ASSERT_OK(s->ops->list(s, "", 10, RT_STORE_LIST_FULL, close_inside_cb, &c));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(c.l.pages, 1);
    lister_free(&c.l);
    finish_loop(&loop);
}

RT_TEST(local_refuses_work_while_closing)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_store *s = open_store(&loop, make_root("root"));
    int closed = 0;
    s->ops->close(s, closed_cb, &closed);
    struct waiter w = {0};
    struct lister l = {0};
    RT_ASSERT_INT_EQ(s->ops->put(s, "a", "x", 1, NULL, done_cb, &w), RT_ECANCELED);
    RT_ASSERT_INT_EQ(s->ops->list(s, "", 0, RT_STORE_LIST_FULL, page_cb, &l), RT_ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(w.calls, 0);
    RT_ASSERT_INT_EQ(l.pages, 0);
    finish_loop(&loop);
}

RT_TEST(local_new_errors)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_store *s = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = NULL};
    RT_ASSERT_INT_EQ(rt_store_local_new(&loop, &o, &s, &err), RT_EINVAL);
    const char *file = make_root("file");
    write_file(file, "x");
    o.root = file;
    rt_error_clear(&err);
    RT_ASSERT(rt_store_local_new(&loop, &o, &s, &err) < 0);
    RT_ASSERT(err.msg[0] != '\0');
    /* A symlinked temp folder is refused: temp files must stay inside the root. */
    const char *root = make_root("root");
    const char *out = make_root("out");
    mkdirs(root);
    mkdirs(out);
    RT_ASSERT_OK(symlink(out, path_in(root, ".retraind-tmp")));
    o.root = root;
    rt_error_clear(&err);
    RT_ASSERT(rt_store_local_new(&loop, &o, &s, &err) < 0);
    RT_ASSERT_CONTAINS(err.msg, ".retraind-tmp");
    o.bucket_name = "my-bucket";
    o.root = make_root("root2");
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_store_local_new(&loop, &o, &s, &err));
    RT_ASSERT_STR_EQ(s->bucket_name, "my-bucket");
    close_store(&loop, s);
    finish_loop(&loop);
}

static int keys_only_cb(const struct rt_store_entry *e,
                        size_t n,
                        bool last,
                        int status,
                        const struct rt_error *err,
                        void *ud)
{
    struct lister *l = ud;
    (void)last;
    (void)status;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        RT_ASSERT(e[i].etag == NULL && e[i].size == -1 && e[i].mtime_ms == 0);
        if (l->nkeys < MAX_SEEN)
            l->keys[l->nkeys++] = rt_strdup(e[i].key);
    }
    l->total += n;
    l->pages++;
    return 0;
}

RT_TEST(local_list_keys_only)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    const char *out = make_root("outside");
    write_file(path_in(out, "s.png"), "s");
    write_file(path_in(root, "L/cat/1.png"), "1");
    write_file(path_in(root, "L/cat/2.png"), "2");
    write_file(path_in(root, ".retraind-tmp/w-1"), "");
    RT_ASSERT_OK(symlink(path_in(out, "s.png"), path_in(root, "L/cat/link.png")));
    RT_ASSERT_OK(symlink(out, path_in(root, "L/dog")));
    struct rt_store *s = open_store(&loop, root);
    struct lister l = {0};
    RT_ASSERT_OK(s->ops->list(s, "", 1, RT_STORE_LIST_KEYS_ONLY, keys_only_cb, &l));
    RT_ASSERT_INT_EQ(l.pages, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(l.total, 2);
    RT_ASSERT(listed(&l, "L/cat/1.png") && listed(&l, "L/cat/2.png"));
    lister_free(&l);
    close_store(&loop, s);
    finish_loop(&loop);
}

/* ---- the walk runs on the thread pool (issue 7) ---- */

/* Returns: the number of open descriptors of this process (directory streams left open show). */
static int open_fds(void)
{
    return count_entries("/proc/self/fd") - 1; /* less the one opendir itself holds */
}

/* Creates dirs x per_dir empty files root/<top>/dNN/fNNNNN.png quickly (no write, no mkdir -p). */
static void make_tree(const char *root, const char *top, int dirs, int per_dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, top);
    mkdirs(path);
    for (int d = 0; d < dirs; d++) {
        snprintf(path, sizeof(path), "%s/%s/d%02d", root, top, d);
        RT_ASSERT_OK(mkdir(path, 0755));
        for (int f = 0; f < per_dir; f++) {
            snprintf(path, sizeof(path), "%s/%s/d%02d/f%05d.png", root, top, d, f);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd < 0)
                RT_FAIL("cannot create %s: %s", path, rt_strerror(-errno));
            close(fd);
        }
    }
}

/* The order the store must list in: depth first, each folder in readdir order, entering a
 * folder where readdir meets it, <root>/.retraind-tmp left out. Keys go to out (malloc'd). */
static void expected_walk(const char *abs, const char *key, char **out, size_t *n, size_t cap)
{
    DIR *d = opendir(abs);
    RT_ASSERT(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (key[0] == '\0' && strcmp(de->d_name, ".retraind-tmp") == 0)
            continue;
        char sub_abs[4096], sub_key[2048];
        snprintf(sub_abs, sizeof(sub_abs), "%s/%s", abs, de->d_name);
        snprintf(sub_key, sizeof(sub_key), "%s%s", key, de->d_name);
        struct stat st;
        RT_ASSERT_OK(lstat(sub_abs, &st));
        if (S_ISDIR(st.st_mode)) {
            snprintf(sub_key, sizeof(sub_key), "%s%s/", key, de->d_name);
            expected_walk(sub_abs, sub_key, out, n, cap);
        } else if (S_ISREG(st.st_mode)) {
            RT_ASSERT(*n < cap);
            out[(*n)++] = strdup(sub_key);
        }
    }
    closedir(d);
}

#define TREE_DIRS 20
#define TREE_PER_DIR 1000
#define TREE_KEYS (TREE_DIRS * TREE_PER_DIR)

/* Holds each page job until the loop thread opens the gate (when hold), and says on which
 * thread it ran. */
struct gate {
    bool hold;
    uv_thread_t loop_thread;
    uv_sem_t gate;      /* posted by the loop thread: one page job may walk */
    uv_sem_t entered;   /* posted by a page job when it reached the hook */
    atomic_int jobs;    /* page jobs that reached the hook on another thread */
    atomic_int on_loop; /* page jobs that ran on the loop thread (must stay 0) */
};

static void gate_hook(void *ud)
{
    struct gate *g = ud;
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &g->loop_thread)) {
        /* Waiting here would hang the loop forever; count it and let the test fail instead. */
        atomic_fetch_add(&g->jobs, 1);
        atomic_fetch_add(&g->on_loop, 1);
        return;
    }
    atomic_fetch_add(&g->jobs, 1);
    if (!g->hold)
        return;
    uv_sem_post(&g->entered);
    uv_sem_wait(&g->gate);
}

/* Semaphores that pool threads may be waiting on. A failing assertion exits the process, and
 * libuv's exit-time cleanup joins the pool threads: without this they would hang it. */
static uv_sem_t *held[2];

static void release_held(void)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; held[i] && j < 2048; j++)
            uv_sem_post(held[i]);
}

static void gate_init(struct gate *g, bool hold)
{
    static bool registered;
    if (!registered)
        atexit(release_held);
    registered = true;
    memset(g, 0, sizeof(*g));
    g->hold = hold;
    held[0] = &g->gate;
    g->loop_thread = uv_thread_self();
    RT_ASSERT_OK(uv_sem_init(&g->gate, 0));
    RT_ASSERT_OK(uv_sem_init(&g->entered, 0));
    rt__store_local_walk_hook = gate_hook;
    rt__store_local_walk_hook_ud = g;
}

static void gate_cleanup(struct gate *g)
{
    rt__store_local_walk_hook = NULL;
    rt__store_local_walk_hook_ud = NULL;
    held[0] = NULL;
    uv_sem_destroy(&g->gate);
    uv_sem_destroy(&g->entered);
}

struct paced {
    struct gate g;
    uv_timer_t timer;
    int ticks;         /* of the 1 ms timer */
    int ticks_at_page; /* ticks when the previous page arrived */
    int min_ticks_between_pages;
    int pages, opened; /* pages delivered, gates opened */
    int last_calls;
    int status;
    size_t nkeys;
    char **keys; /* malloc'd, in arrival order */
};

/* Loop thread, every ms: once two ticks passed since the last page, let the next job walk. */
static void paced_tick(uv_timer_t *t)
{
    struct paced *p = t->data;
    p->ticks++;
    if (p->opened == p->pages && p->ticks - p->ticks_at_page >= 2) {
        p->opened++;
        uv_sem_post(&p->g.gate);
    }
}

static int paced_page(const struct rt_store_entry *e,
                      size_t n,
                      bool last,
                      int status,
                      const struct rt_error *err,
                      void *ud)
{
    struct paced *p = ud;
    (void)err;
    RT_ASSERT_INT_EQ(p->last_calls, 0); /* nothing after the last page */
    p->pages++;
    /* This page's job was held in the hook until the timer, on this thread, opened its gate:
     * the loop kept turning while the job existed. */
    RT_ASSERT_INT_EQ(p->opened, p->pages);
    int between = p->ticks - p->ticks_at_page;
    if (p->pages == 1 || between < p->min_ticks_between_pages)
        p->min_ticks_between_pages = between;
    p->ticks_at_page = p->ticks;
    for (size_t i = 0; i < n; i++) {
        RT_ASSERT(p->nkeys < TREE_KEYS + 1);
        p->keys[p->nkeys++] = strdup(e[i].key);
    }
    p->status = status;
    if (last) {
        p->last_calls++;
        uv_timer_stop(&p->timer);
    }
    return 0;
}

RT_TEST(local_list_walks_on_the_pool_while_the_loop_turns)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    make_tree(root, "L", TREE_DIRS, TREE_PER_DIR);
    struct rt_store *s = open_store(&loop, root);
    static struct paced p;
    memset(&p, 0, sizeof(p));
    p.keys = calloc(TREE_KEYS + 1, sizeof(*p.keys));
    gate_init(&p.g, true);
    RT_ASSERT_OK(uv_timer_init(&loop, &p.timer));
    p.timer.data = &p;
    RT_ASSERT_OK(uv_timer_start(&p.timer, paced_tick, 1, 1));
    RT_ASSERT_OK(s->ops->list(s, "", 500, RT_STORE_LIST_FULL, paced_page, &p));
    RT_ASSERT_INT_EQ(p.pages, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* ends when the last page stopped the timer */
    gate_cleanup(&p.g);
    RT_ASSERT_INT_EQ(atomic_load(&p.g.on_loop), 0);    /* no page was walked on the loop thread */
    RT_ASSERT_INT_EQ(atomic_load(&p.g.jobs), p.pages); /* one pool job per page */
    RT_ASSERT_INT_EQ(p.last_calls, 1);
    RT_ASSERT_INT_EQ(p.status, 0);
    RT_ASSERT(p.pages >= TREE_KEYS / 500);
    RT_ASSERT(p.min_ticks_between_pages >= 2);
    /* Pages arrive in the order they were walked, and every key comes exactly once. */
    char **want = calloc(TREE_KEYS + 1, sizeof(*want));
    size_t nwant = 0;
    expected_walk(root, "", want, &nwant, TREE_KEYS + 1);
    RT_ASSERT_INT_EQ(nwant, TREE_KEYS);
    RT_ASSERT_INT_EQ(p.nkeys, TREE_KEYS);
    for (size_t i = 0; i < nwant; i++)
        if (strcmp(p.keys[i], want[i]) != 0)
            RT_FAIL("key %zu: got %s, want %s", i, p.keys[i], want[i]);
    static unsigned char seen[TREE_DIRS][TREE_PER_DIR];
    for (size_t i = 0; i < p.nkeys; i++) {
        int d, f;
        RT_ASSERT(sscanf(p.keys[i], "L/d%d/f%d.png", &d, &f) == 2);
        RT_ASSERT(d >= 0 && d < TREE_DIRS && f >= 0 && f < TREE_PER_DIR);
        if (seen[d][f]++)
            RT_FAIL("key %s listed twice", p.keys[i]);
    }
    for (size_t i = 0; i < nwant; i++) {
        free(want[i]);
        free(p.keys[i]);
    }
    free(want);
    free(p.keys);
    uv_close((uv_handle_t *)&p.timer, NULL);
    close_store(&loop, s);
    finish_loop(&loop);
}

RT_TEST(local_close_waits_for_a_running_page_job)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    make_tree(root, "L", 3, 50);
    int fds = open_fds();
    struct rt_store *s = open_store(&loop, root);
    static struct gate g;
    gate_init(&g, true);
    struct lister l = {0};
    RT_ASSERT_OK(s->ops->list(s, "", 10, RT_STORE_LIST_FULL, page_cb, &l));
    uv_sem_wait(&g.entered); /* the first page job now runs on a pool thread, held */
    int closed = 0;
    s->ops->close(s, closed_cb, &closed);
    RT_ASSERT_INT_EQ(closed, 0);
    /* Turns without waiting: the store must not finish (nor free what the job uses) while
     * the job runs, whatever else the loop does meanwhile. */
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(closed, 0);
    uv_sem_post(&g.gate); /* the job walks its page and ends; its page is dropped */
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(l.pages, 0); /* close began before the page came back: never delivered */
    RT_ASSERT_INT_EQ(atomic_load(&g.jobs), 1);
    RT_ASSERT_INT_EQ(atomic_load(&g.on_loop), 0);
    gate_cleanup(&g);
    RT_ASSERT_INT_EQ(open_fds(), fds); /* the directory streams of the walk were closed */
    finish_loop(&loop);
}

#define BLOCKERS 128

struct blocker {
    uv_work_t req;
    uv_sem_t *gate;
    int *done;
};

static void blocker_work(uv_work_t *req)
{
    struct blocker *b = req->data;
    uv_sem_wait(b->gate);
}

static void blocker_after(uv_work_t *req, int status)
{
    struct blocker *b = req->data;
    RT_ASSERT_INT_EQ(status, 0);
    (*b->done)++;
}

RT_TEST(local_close_cancels_queued_page_jobs)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    make_tree(root, "L", 2, 30);
    int fds = open_fds();
    struct rt_store *s = open_store(&loop, root);
    static struct gate g;
    gate_init(&g, false); /* only counts: a job that should have been cancelled runs through */
    /* More blockers than the pool has threads (libuv allows 1024, default 4): every thread is
     * held and the jobs queued after them (FIFO) cannot start until the gate opens. */
    static struct blocker b[BLOCKERS];
    static uv_sem_t hold;
    RT_ASSERT_OK(uv_sem_init(&hold, 0));
    held[1] = &hold;
    int blockers_done = 0;
    for (int i = 0; i < BLOCKERS; i++) {
        b[i].req.data = &b[i];
        b[i].gate = &hold;
        b[i].done = &blockers_done;
        RT_ASSERT_OK(uv_queue_work(&loop, &b[i].req, blocker_work, blocker_after));
    }
    struct lister l1 = {0}, l2 = {0};
    struct waiter w = {0};
    RT_ASSERT_OK(s->ops->list(s, "", 10, RT_STORE_LIST_FULL, page_cb, &l1));
    RT_ASSERT_OK(s->ops->list(s, "L/", 10, RT_STORE_LIST_KEYS_ONLY, page_cb, &l2));
    RT_ASSERT_OK(s->ops->put(s, "queued.png", "x", 1, NULL, done_cb, &w));
    int closed = 0;
    s->ops->close(s, closed_cb, &closed);
    for (int i = 0; i < BLOCKERS; i++)
        uv_sem_post(&hold);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(blockers_done, BLOCKERS);
    RT_ASSERT_INT_EQ(atomic_load(&g.jobs), 0); /* cancelled before they walked anything */
    RT_ASSERT_INT_EQ(l1.pages, 0);
    RT_ASSERT_INT_EQ(l2.pages, 0);
    RT_ASSERT_INT_EQ(w.calls, 1); /* an op still hears of its cancellation, once */
    RT_ASSERT_INT_EQ(w.status, RT_ECANCELED);
    RT_ASSERT(!exists(path_in(root, "queued.png")));
    gate_cleanup(&g);
    held[1] = NULL;
    uv_sem_destroy(&hold);
    RT_ASSERT_INT_EQ(open_fds(), fds);
    finish_loop(&loop);
}

/* Three listings: one stops itself at its first page; the callback that first sees every
 * listing's first page closes the store from inside it, while the others are still running. */
struct order {
    struct rt_store *s;
    int closed; /* the store's close callback ran */
    bool close_began;
    int pages[3];
};

struct order_ref {
    struct order *o;
    int which; /* 1 stops at its first page; 0 and 2 go on */
};

static int order_page(const struct rt_store_entry *e,
                      size_t n,
                      bool last,
                      int status,
                      const struct rt_error *err,
                      void *ud)
{
    struct order_ref *r = ud;
    struct order *o = r->o;
    (void)e;
    (void)n;
    (void)last;
    (void)err;
    RT_ASSERT_INT_EQ(status, 0);
    /* Never after close began, so never after the store's close callback. */
    RT_ASSERT(!o->close_began);
    RT_ASSERT_INT_EQ(o->closed, 0);
    o->pages[r->which]++;
    RT_ASSERT(r->which != 1 || o->pages[1] == 1); /* a stopped listing is not called again */
    if (o->pages[0] && o->pages[1] && o->pages[2]) {
        o->close_began = true;
        o->s->ops->close(o->s, closed_cb, &o->closed);
        RT_ASSERT_INT_EQ(o->closed, 0); /* never inside close() */
    }
    return r->which == 1; /* after a close, "go on" (0) is ignored */
}

RT_TEST(local_list_stop_and_close_from_callbacks)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    make_tree(root, "L", 4, 200);
    int fds = open_fds();
    struct rt_store *s = open_store(&loop, root);
    static struct order o;
    memset(&o, 0, sizeof(o));
    o.s = s;
    struct order_ref r[3] = {{&o, 0}, {&o, 1}, {&o, 2}};
    for (int i = 0; i < 3; i++)
        RT_ASSERT_OK(s->ops->list(s, "", 5, RT_STORE_LIST_FULL, order_page, &r[i]));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT(o.close_began);
    RT_ASSERT_INT_EQ(o.closed, 1);
    RT_ASSERT_INT_EQ(o.pages[1], 1);
    RT_ASSERT(o.pages[0] >= 1 && o.pages[2] >= 1);
    RT_ASSERT_INT_EQ(open_fds(), fds); /* every directory stream of the three walks closed */
    finish_loop(&loop);
}

/* ---- read-only (the CLI's store) ---- */

static struct rt_store *open_read_only(uv_loop_t *loop, const char *root)
{
    struct rt_store *s = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = root, .read_only = true};
    int rc = rt_store_local_new(loop, &o, &s, &err);
    if (rc)
        RT_FAIL("rt_store_local_new (read-only): %s", err.msg);
    return s;
}

/* Every write is refused at once, with no callback and nothing created. */
static void check_writes_refused(uv_loop_t *loop, struct rt_store *s)
{
    struct waiter w = {0};
    RT_ASSERT_INT_EQ(s->ops->put(s, "L/cat/new.png", "x", 1, NULL, done_cb, &w), -EROFS);
    RT_ASSERT_INT_EQ(s->ops->copy(s, "L/cat/1.png", "L/cat/copy.png", done_cb, &w), -EROFS);
    RT_ASSERT_INT_EQ(s->ops->del(s, "L/cat/1.png", done_cb, &w), -EROFS);
    uv_run(loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(w.calls, 0);
}

RT_TEST(local_read_only_missing_root_creates_nothing)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *base = make_root("fresh");
    char root[1024];
    snprintf(root, sizeof(root), "%s/var/bucket", base);
    struct rt_store *s = open_read_only(&loop, root);
    RT_ASSERT(!exists(base));
    /* A fresh install lists as empty: one call, no entries, last, no error. */
    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.pages, 1);
    RT_ASSERT_INT_EQ(l.total, 0);
    RT_ASSERT_INT_EQ(l.last_calls, 1);
    RT_ASSERT_INT_EQ(l.status, 0);
    struct lister k = {0};
    RT_ASSERT_OK(
        s->ops->list(s, "images_labeled_by_folder/", 0, RT_STORE_LIST_KEYS_ONLY, keys_only_cb, &k));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(k.pages, 1);
    RT_ASSERT_INT_EQ(k.total, 0);
    check_writes_refused(&loop, s);
    struct rt_buf b;
    rt_buf_init(&b, 100);
    RT_ASSERT_INT_EQ(get_buf(&loop, s, "L/cat/1.png", &b), RT_ENOTFOUND);
    struct waiter w;
    RT_ASSERT_OK(head_key(&loop, s, "L/cat/1.png", &w));
    RT_ASSERT(!w.exists);
    rt_buf_cleanup(&b);
    close_store(&loop, s);
    RT_ASSERT(!exists(base));
    finish_loop(&loop);
}

RT_TEST(local_read_only_leaves_tmp_and_refuses_writes)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *root = make_root("root");
    write_file(path_in(root, "L/cat/1.png"), "one");
    write_file(path_in(root, ".retraind-tmp/w-123-7"), "a writer's half-written file");
    struct rt_store *s = open_read_only(&loop, root);
    RT_ASSERT(exists(path_in(root, ".retraind-tmp/w-123-7"))); /* not emptied */
    struct lister l = {0};
    list_all(&loop, s, "", 0, &l);
    RT_ASSERT_INT_EQ(l.total, 1);
    RT_ASSERT(listed(&l, "L/cat/1.png"));
    lister_free(&l);
    struct rt_buf b;
    rt_buf_init(&b, 100);
    RT_ASSERT_OK(get_buf(&loop, s, "L/cat/1.png", &b));
    RT_ASSERT_STR_EQ(b.data, "one");
    rt_buf_cleanup(&b);
    struct waiter w;
    RT_ASSERT_OK(head_key(&loop, s, "L/cat/1.png", &w));
    RT_ASSERT(w.exists);
    check_writes_refused(&loop, s);
    RT_ASSERT(exists(path_in(root, "L/cat/1.png")));
    RT_ASSERT(!exists(path_in(root, "L/cat/new.png")));
    RT_ASSERT(!exists(path_in(root, "L/cat/copy.png")));
    RT_ASSERT_INT_EQ(count_entries(path_in(root, ".retraind-tmp")), 1);
    close_store(&loop, s);

    /* A root without .retraind-tmp: read-only opening does not make it. */
    const char *bare = make_root("bare");
    write_file(path_in(bare, "a.png"), "a");
    s = open_read_only(&loop, bare);
    close_store(&loop, s);
    RT_ASSERT(!exists(path_in(bare, ".retraind-tmp")));
    RT_ASSERT_INT_EQ(count_entries(bare), 1);

    /* A root that is a file is still an error, read-only or not. */
    struct rt_store *bad = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_store_local_opts o = {.root = path_in(bare, "a.png"), .read_only = true};
    RT_ASSERT(rt_store_local_new(&loop, &o, &bad, &err) < 0);
    RT_ASSERT_CONTAINS(err.msg, "a.png");
    finish_loop(&loop);
}
