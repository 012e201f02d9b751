/*
 * local.c - the local store driver: a folder laid out like the bucket.
 *
 * Key "a/b/c.png" is the file <root>/a/b/c.png. Only regular files are keys: symlinks, FIFOs,
 * sockets and devices are neither listed nor followed, and <root>/.retraind-tmp/ (temporary files
 * of atomic writes) is reserved, never listed and emptied when the store opens.
 *
 * Design:
 * - Paths are never resolved by the kernel in one go. Every operation walks from the root folder's
 *   descriptor one segment at a time with openat(O_NOFOLLOW | O_DIRECTORY), so a symlinked folder
 *   anywhere on the path is refused instead of followed, and since keys are validated first (no
 *   "..", no absolute key) nothing outside the root can be named.
 * - Once the store is open, no file work (opening, reading, walking, writing, syncing) runs on
 *   the loop thread; it only closes descriptors. get/put/copy/del/head run on the libuv thread
 *   pool (uv_queue_work); the work callback touches only its own struct op and the store's
 *   immutable descriptors, and the completion runs in the after-work callback on the loop thread.
 *   Opening (creating the root, emptying .retraind-tmp) is the one blocking step, done at start.
 * - Writes are atomic: a temporary file in .retraind-tmp is written, fsynced and renamed into
 *   place, then the destination folder is fsynced. Readers see the old file or the new one.
 * - A listing is a chain of pool jobs, one per page. A job walks the tree with the lister's stack
 *   of open directory streams until the page is full; while it is queued or running, the lister
 *   belongs to it (the loop thread only sets `stopped` and calls uv_cancel). Its after-work
 *   callback hands the page to the page callback on the loop thread and then queues the next
 *   job, so at most one job per listing exists, pages arrive in walk order, and memory is one
 *   page plus the stack whatever the number of keys. A page waits for a free pool thread (it can
 *   queue behind image decoding), which costs latency but never stalls the loop.
 * - Closing stops every listing at once (no page callback after close began), cancels the jobs
 *   that have not started, and frees the store only after every job's after-work callback ran;
 *   the close callback is deferred through the core defer queue (retraind/loop.h), so it never
 *   runs inside close().
 * - A read-only store (the CLI's) creates nothing and never empties .retraind-tmp; a missing root
 *   is kept as "no root descriptor" and behaves as an empty bucket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "local_int.h"
#include "retraind/alloc.h"
#include "retraind/fsutil.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/store.h"

#define TMP_DIR ".retraind-tmp"
#define DEFAULT_PAGE 1000
#define MAX_PAGE 10000
/* Attempts of a write whose destination folder is pruned by a concurrent delete. */
#define WRITE_ATTEMPTS 4
#define COPY_CHUNK 32768
/* Bytes kept per entry of a page: key, NUL, etag ("<16 hex>-<16 hex>"), NUL. */
#define ENTRY_BYTES (RT_STORE_KEY_MAX + 1 + 40)

struct lister;
struct op;

struct local_store {
    struct rt_store base; /* first, so a struct rt_store * is a struct local_store * */
    uv_loop_t *loop;      /* borrowed */
    char *root;           /* owned */
    char *bucket;         /* owned */
    /* owned; immutable after new, read by pool threads; -1 when a read-only store's root is
     * missing (every lookup then finds nothing) */
    int root_fd;
    int tmp_fd;          /* owned; <root>/.retraind-tmp, immutable after new; -1 read-only */
    bool read_only;      /* put/copy/del refused, nothing created */
    atomic_uint tmp_seq; /* names of temporary files */
    struct rt_defer_queue defer;    /* defers the close callback to a later turn */
    bool defer_open;                /* defer's handle not yet closed */
    int work_in_flight;             /* pool jobs (ops and pages) whose after-work has not run */
    struct lister *listers;         /* borrowed links: listings not yet freed */
    struct op *ops;                 /* borrowed links: ops in flight */
    struct rt_store_watch *watches; /* owned links: folder watches not stopped yet */
    int watches_closing;            /* watch handles whose close callback has not run */
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* Test-only (local_int.h): NULL in production. */
rt__store_local_walk_hook_fn *rt__store_local_walk_hook;
void *rt__store_local_walk_hook_ud;

/* ---------------------------------------------------------------------------------------------
 * Path walking (any thread)
 */

static bool is_dot_name(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Returns: true if key lies in the folder the local store reserves for itself. */
static bool is_reserved(const char *key)
{
    size_t n = sizeof(TMP_DIR) - 1;
    return strncmp(key, TMP_DIR, n) == 0 && (key[n] == '\0' || key[n] == '/');
}

/*
 * Opens the folder named by the first dir_len bytes of key ("a/b/" or "a/b"; 0 = the root),
 * walking from root_fd one segment at a time without following symlinks. With create, missing
 * folders are made (0755, umask applies). root_fd -1 (missing root) finds nothing.
 * Returns: a new descriptor (caller closes), RT_ENOTFOUND when a folder is missing, RT_EKEY when
 * one is a symlink, -ENOTDIR when one is a file, or another -errno; err says which segment.
 */
static int walk_dir(int root_fd, const char *key, size_t dir_len, bool create, struct rt_error *err)
{
    char seg[RT_STORE_KEY_MAX + 1];
    if (root_fd < 0) /* a read-only store opened on a missing root: an empty bucket */
        return rt_error_set(err, RT_ENOTFOUND, "the store's root folder does not exist");
    /* A fresh open, not dup(): a duplicate shares the directory offset, and a listing reading
     * one would start where the previous listing stopped. */
    int cur = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return rt_error_set(err, -errno, "cannot open the store root: %s", rt_strerror(-errno));
    size_t i = 0;
    while (i < dir_len) {
        size_t j = i;
        while (j < dir_len && key[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 0 || n >= sizeof(seg)) {
            close(cur);
            return rt_error_set(err, RT_EKEY, "store key refused: bad folder segment");
        }
        memcpy(seg, key + i, n);
        seg[n] = '\0';
        int next = -1;
        for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
            next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next >= 0 || errno != ENOENT || !create)
                break;
            if (mkdirat(cur, seg, 0755) < 0 && errno != EEXIST)
                break;
        }
        if (next < 0) {
            int e = errno;
            struct stat st;
            int rc;
            if (e == ENOENT) {
                rc = rt_error_set(err, RT_ENOTFOUND, "folder %s of the store does not exist",
                                  rt_q(seg));
            } else if ((e == ELOOP || e == ENOTDIR) &&
                       fstatat(cur, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                rc = rt_error_set(err, RT_EKEY,
                                  "store key refused: folder %s on its path is a symlink, which "
                                  "the local store never follows",
                                  rt_q(seg));
            } else if (e == ENOTDIR || e == ELOOP) {
                rc = rt_error_set(err, -ENOTDIR, "%s on the key's path is not a folder", rt_q(seg));
            } else {
                rc = rt_error_set(err, -e, "cannot open folder %s: %s", rt_q(seg), rt_strerror(-e));
            }
            close(cur);
            return rc;
        }
        close(cur);
        cur = next;
        i = j + 1;
    }
    return cur;
}

/* Returns: the offset of the last segment of key (after its last '/', 0 if none). */
static size_t base_offset(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash ? (size_t)(slash - key) + 1 : 0;
}

/*
 * Opens key for reading: a regular file reached without following any symlink.
 * Returns: 0 with *fd_out (caller closes) and *st, RT_ENOTFOUND (absent, a folder, a symlink or
 * another non-regular file) or -errno.
 */
static int
open_key_read(int root_fd, const char *key, int *fd_out, struct stat *st, struct rt_error *err)
{
    size_t b = base_offset(key);
    struct rt_error werr;
    rt_error_clear(&werr);
    int dfd = walk_dir(root_fd, key, b, false, &werr);
    if (dfd < 0) {
        if (dfd == RT_ENOTFOUND || dfd == RT_EKEY || dfd == -ENOTDIR)
            return rt_error_set(err, RT_ENOTFOUND, "no such key %s (%s)", rt_q(key), werr.msg);
        return rt_error_set(err, dfd, "cannot read key %s: %s", rt_q(key), werr.msg);
    }
    /* O_NONBLOCK: opening a FIFO planted under the root must not hang a pool thread. */
    int fd = openat(dfd, key + b, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    close(dfd);
    if (fd < 0) {
        if (e == ENOENT || e == ELOOP || e == ENOTDIR || e == ENXIO)
            return rt_error_set(err, RT_ENOTFOUND, "no such key %s%s", rt_q(key),
                                e == ELOOP ? " (a symlink is not a key)" : "");
        return rt_error_set(err, -e, "cannot open key %s: %s", rt_q(key), rt_strerror(-e));
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return rt_error_set(err, RT_ENOTFOUND, "no such key %s (not a regular file)", rt_q(key));
    }
    *fd_out = fd;
    return 0;
}

/*
 * Appends the whole of fd to out, refusing more than limit bytes in total.
 * Returns: 0, RT_ETOOBIG, RT_ENOMEM or -errno; on failure out is as it was.
 */
static int read_all(int fd, const char *key, size_t limit, struct rt_buf *out, struct rt_error *err)
{
    char chunk[COPY_CHUNK];
    size_t start = out->len, got = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            out->len = start;
            return rt_error_set(err, -e, "cannot read key %s: %s", rt_q(key), rt_strerror(-e));
        }
        if (n == 0)
            break;
        int rc = (size_t)n > limit - got ? RT_ETOOBIG : rt_buf_append(out, chunk, (size_t)n);
        if (rc) {
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            return rt_error_set(err, rc, "key %s is larger than the %zu bytes allowed%s", rt_q(key),
                                limit, rc == RT_ENOMEM ? " (out of memory)" : "");
        }
        got += (size_t)n;
    }
    return 0;
}

static void stat_times(const struct stat *st, int64_t *mtime_ns)
{
    *mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void format_etag(char *out, size_t size, int64_t sz, int64_t mtime_ns)
{
    rt_snprintf(out, size, "%llx-%llx", (unsigned long long)sz, (unsigned long long)mtime_ns);
}

/* Writes all of data to fd. Returns: 0 or -errno. */
static int write_full(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies src_fd (from its start) into dst_fd, in the kernel when it can. Returns: 0 or -errno. */
static int copy_fd(int src_fd, int dst_fd)
{
    for (;;) {
        ssize_t n = copy_file_range(src_fd, NULL, dst_fd, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return -errno;
        break; /* not supported here: fall back to read/write from where we are */
    }
    char chunk[COPY_CHUNK];
    for (;;) {
        ssize_t n = read(src_fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        int rc = write_full(dst_fd, chunk, (size_t)n);
        if (rc)
            return rc;
    }
}

/*
 * Writes key atomically from data/len, or from src_fd when it is >= 0: temporary file in
 * .retraind-tmp, fsync, rename into place (creating the folders), fsync of the folder.
 * Returns: 0 or a negative code with err filled; the temporary file never survives a failure.
 */
static int write_atomic(struct local_store *s,
                        const char *key,
                        int src_fd,
                        const void *data,
                        size_t len,
                        struct rt_error *err)
{
    char tmp[64];
    rt_snprintf(tmp, sizeof(tmp), "w-%ld-%u", (long)getpid(), atomic_fetch_add(&s->tmp_seq, 1));
    int tfd = openat(s->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (tfd < 0)
        return rt_error_set(err, -errno, "cannot create a temporary file for key %s: %s", rt_q(key),
                            rt_strerror(-errno));
    int rc = src_fd >= 0 ? copy_fd(src_fd, tfd) : write_full(tfd, data, len);
    if (rc == 0 && fsync(tfd) < 0)
        rc = -errno;
    if (close(tfd) < 0 && rc == 0)
        rc = -errno;
    if (rc) {
        unlinkat(s->tmp_fd, tmp, 0);
        return rt_error_set(err, rc, "cannot write key %s: %s", rt_q(key), rt_strerror(rc));
    }
    size_t b = base_offset(key);
    for (int attempt = 0;; attempt++) {
        struct rt_error werr;
        rt_error_clear(&werr);
        int dfd = walk_dir(s->root_fd, key, b, true, &werr);
        if (dfd < 0) {
            unlinkat(s->tmp_fd, tmp, 0);
            return rt_error_set(err, dfd, "cannot write key %s: %s", rt_q(key), werr.msg);
        }
        if (renameat(s->tmp_fd, tmp, dfd, key + b) == 0) {
            /* The rename is durable only once the folder holding the new name is synced. */
            rc = fsync(dfd) < 0 ? -errno : 0;
            close(dfd);
            if (rc)
                return rt_error_set(err, rc, "cannot sync the folder of key %s: %s", rt_q(key),
                                    rt_strerror(rc));
            return 0;
        }
        int e = errno;
        close(dfd);
        /* ENOENT: a concurrent delete pruned the (empty) folder between walk and rename. */
        if (e == ENOENT && attempt + 1 < WRITE_ATTEMPTS)
            continue;
        unlinkat(s->tmp_fd, tmp, 0);
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
            return rt_error_set(err, -EISDIR, "cannot write key %s: a folder has that name",
                                rt_q(key));
        return rt_error_set(err, -e, "cannot write key %s: %s", rt_q(key), rt_strerror(-e));
    }
}

/*
 * Removes the folders of key that became empty, deepest first, never the root. Stops at the
 * first folder that is not empty (or cannot be removed): pruning is best effort, like S3 where a
 * folder exists only while some key is under it.
 */
static void prune_parents(int root_fd, const char *key)
{
    char dir[RT_STORE_KEY_MAX + 1];
    if (rt_strlcpy(dir, key, sizeof(dir)) != 0)
        return;
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            return;
        *slash = '\0'; /* dir is now the folder that held the removed name */
        size_t b = base_offset(dir);
        int dfd = walk_dir(root_fd, dir, b, false, NULL);
        if (dfd < 0)
            return;
        int rc = unlinkat(dfd, dir + b, AT_REMOVEDIR);
        close(dfd);
        if (rc < 0)
            return;
    }
}

/* Deletes key (a regular file); absent keys and non-files succeed untouched. */
static int delete_key(struct local_store *s, const char *key, struct rt_error *err)
{
    size_t b = base_offset(key);
    struct rt_error werr;
    rt_error_clear(&werr);
    int dfd = walk_dir(s->root_fd, key, b, false, &werr);
    if (dfd < 0) {
        if (dfd == RT_ENOTFOUND || dfd == RT_EKEY || dfd == -ENOTDIR)
            return 0; /* no such key can exist on that path */
        return rt_error_set(err, dfd, "cannot delete key %s: %s", rt_q(key), werr.msg);
    }
    struct stat st;
    if (fstatat(dfd, key + b, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
        close(dfd);
        return 0; /* absent, or not a key (folder, symlink): nothing to delete */
    }
    int rc = 0;
    if (unlinkat(dfd, key + b, 0) < 0 && errno != ENOENT)
        rc = rt_error_set(err, -errno, "cannot delete key %s: %s", rt_q(key), rt_strerror(-errno));
    else if (fsync(dfd) < 0)
        rc = rt_error_set(err, -errno, "cannot sync the folder of key %s: %s", rt_q(key),
                          rt_strerror(-errno));
    close(dfd);
    if (rc == 0)
        prune_parents(s->root_fd, key);
    return rc;
}

/* Looks key up. Returns: 0 with *exists (and size/mtime when it does), or -errno. */
static int head_key(struct local_store *s,
                    const char *key,
                    bool *exists,
                    int64_t *size,
                    int64_t *mtime_ns,
                    struct rt_error *err)
{
    *exists = false;
    size_t b = base_offset(key);
    struct rt_error werr;
    rt_error_clear(&werr);
    int dfd = walk_dir(s->root_fd, key, b, false, &werr);
    if (dfd < 0) {
        if (dfd == RT_ENOTFOUND || dfd == RT_EKEY || dfd == -ENOTDIR)
            return 0;
        return rt_error_set(err, dfd, "cannot look up key %s: %s", rt_q(key), werr.msg);
    }
    struct stat st;
    int rc = fstatat(dfd, key + b, &st, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(dfd);
    if (rc < 0) {
        if (e == ENOENT || e == ENOTDIR)
            return 0;
        return rt_error_set(err, -e, "cannot look up key %s: %s", rt_q(key), rt_strerror(-e));
    }
    if (!S_ISREG(st.st_mode))
        return 0;
    *exists = true;
    *size = (int64_t)st.st_size;
    stat_times(&st, mtime_ns);
    return 0;
}

/* Checks a key the way every operation of this driver does. Returns: 0 or RT_EKEY. */
static int check_key(const char *key, struct rt_error *err)
{
    if (!key)
        return rt_error_set(err, RT_EKEY, "store key refused: no key given");
    int rc = rt_store_key_check(key, strlen(key), false, err);
    if (rc)
        return rc;
    if (is_reserved(key))
        return rt_error_set(err, RT_EKEY,
                            "store key refused: %s is inside %s/, reserved by the local store",
                            rt_q(key), TMP_DIR);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Asynchronous operations (pool work, completion on the loop thread)
 */

enum op_kind { OP_GET, OP_PUT, OP_COPY, OP_DEL, OP_HEAD };

struct op {
    uv_work_t req;
    struct local_store *s; /* borrowed */
    struct op *prev, *next;
    enum op_kind kind;
    char *key;  /* owned */
    char *key2; /* owned: destination of a copy */
    void *data; /* owned: copy of the bytes of a put */
    size_t len;
    struct rt_buf *body; /* borrowed from the caller of get until the callback */
    rt_store_done_fn *done;
    rt_store_head_fn *head_cb;
    void *ud;
    int status;
    struct rt_error err;
    bool exists;
    int64_t size, mtime_ns;
};

static void maybe_finish(struct local_store *s);

static void op_free(struct op *op)
{
    rt_free(op->key);
    rt_free(op->key2);
    rt_free(op->data);
    rt_free(op);
}

static void op_work(uv_work_t *req)
{
    struct op *op = req->data;
    struct local_store *s = op->s;
    int fd;
    struct stat st;
    switch (op->kind) {
    case OP_GET:
        op->status = open_key_read(s->root_fd, op->key, &fd, &st, &op->err);
        if (op->status == 0) {
            size_t room = op->body->max_bytes - op->body->len;
            if ((uint64_t)st.st_size > room)
                op->status = rt_error_set(&op->err, RT_ETOOBIG,
                                          "key %s has %lld bytes, more than the %zu allowed",
                                          rt_q(op->key), (long long)st.st_size, room);
            else
                op->status = read_all(fd, op->key, room, op->body, &op->err);
            close(fd);
        }
        break;
    case OP_PUT:
        op->status = write_atomic(s, op->key, -1, op->data, op->len, &op->err);
        break;
    case OP_COPY:
        op->status = open_key_read(s->root_fd, op->key, &fd, &st, &op->err);
        if (op->status == 0) {
            op->status = write_atomic(s, op->key2, fd, NULL, 0, &op->err);
            close(fd);
        }
        break;
    case OP_DEL:
        op->status = delete_key(s, op->key, &op->err);
        break;
    case OP_HEAD:
        op->status = head_key(s, op->key, &op->exists, &op->size, &op->mtime_ns, &op->err);
        break;
    }
}

static void op_after(uv_work_t *req, int status)
{
    struct op *op = req->data;
    struct local_store *s = op->s;
    if (op->prev)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    s->work_in_flight--;
    if (status == UV_ECANCELED)
        op->status = rt_error_set(&op->err, RT_ECANCELED,
                                  "store operation on key %s cancelled "
                                  "by close",
                                  rt_q(op->key));
    const struct rt_error *err = op->status ? &op->err : NULL;
    if (op->status)
        RT_LOG(RT_LOG_DEBUG, "store", "event=op_failed key=%s error=%s", rt_q(op->key),
               rt_q(op->err.msg));
    if (op->kind == OP_HEAD) {
        char etag[48];
        struct rt_store_entry e = {
            .key = op->key, .size = op->size, .mtime_ms = op->mtime_ns / 1000000, .etag = etag};
        format_etag(etag, sizeof(etag), op->size, op->mtime_ns);
        op->head_cb(op->status, op->exists, op->exists ? &e : NULL, err, op->ud);
    } else {
        op->done(op->status, err, op->ud);
    }
    op_free(op);
    maybe_finish(s);
}

/* Allocates an op for key (checked). Returns: 0 and *out, or a negative code. */
static int op_new(struct local_store *s, enum op_kind kind, const char *key, struct op **out)
{
    struct rt_error err;
    rt_error_clear(&err);
    if (s->closing)
        return RT_ECANCELED;
    int rc = check_key(key, &err);
    if (rc) {
        RT_LOG(RT_LOG_INFO, "store", "event=key_refused key=%s error=%s", rt_q(key), rt_q(err.msg));
        return rc;
    }
    struct op *op = rt_calloc(1, sizeof(*op));
    if (!op)
        return RT_ENOMEM;
    op->key = rt_strdup(key);
    if (!op->key) {
        rt_free(op);
        return RT_ENOMEM;
    }
    op->s = s;
    op->kind = kind;
    op->req.data = op;
    rt_error_clear(&op->err);
    *out = op;
    return 0;
}

static int op_start(struct local_store *s, struct op *op)
{
    int rc = uv_queue_work(s->loop, &op->req, op_work, op_after);
    if (rc) {
        op_free(op);
        return rc;
    }
    op->next = s->ops;
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    s->work_in_flight++;
    return 0;
}

/* Refuses a write on a read-only store, before anything is allocated or queued. Returns: -EROFS. */
static int refuse_write(struct local_store *s, const char *what, const char *key)
{
    RT_LOG(RT_LOG_INFO, "store", "event=write_refused op=%s key=%s root=%s error=%s", what,
           rt_q(key), rt_q(s->root), rt_q("the store was opened read-only"));
    return -EROFS;
}

static int
local_get(struct rt_store *st, const char *key, struct rt_buf *body, rt_store_done_fn *cb, void *ud)
{
    struct local_store *s = (struct local_store *)st;
    struct op *op;
    if (!body || !cb)
        return RT_EINVAL;
    int rc = op_new(s, OP_GET, key, &op);
    if (rc)
        return rc;
    op->body = body;
    op->done = cb;
    op->ud = ud;
    return op_start(s, op);
}

static int local_put(struct rt_store *st,
                     const char *key,
                     const void *data,
                     size_t len,
                     const char *content_type,
                     rt_store_done_fn *cb,
                     void *ud)
{
    struct local_store *s = (struct local_store *)st;
    struct op *op;
    (void)content_type; /* a folder has nowhere to keep it */
    if (!cb || (!data && len))
        return RT_EINVAL;
    if (s->read_only)
        return refuse_write(s, "put", key);
    int rc = op_new(s, OP_PUT, key, &op);
    if (rc)
        return rc;
    op->data = rt_malloc(len);
    if (!op->data) {
        op_free(op);
        return RT_ENOMEM;
    }
    if (len)
        memcpy(op->data, data, len);
    op->len = len;
    op->done = cb;
    op->ud = ud;
    return op_start(s, op);
}

static int local_copy(
    struct rt_store *st, const char *src_key, const char *dst_key, rt_store_done_fn *cb, void *ud)
{
    struct local_store *s = (struct local_store *)st;
    struct op *op;
    struct rt_error err;
    rt_error_clear(&err);
    if (!cb)
        return RT_EINVAL;
    if (s->read_only)
        return refuse_write(s, "copy", dst_key);
    int rc = check_key(dst_key, &err);
    if (rc) {
        RT_LOG(RT_LOG_INFO, "store", "event=key_refused key=%s error=%s", rt_q(dst_key),
               rt_q(err.msg));
        return rc;
    }
    rc = op_new(s, OP_COPY, src_key, &op);
    if (rc)
        return rc;
    op->key2 = rt_strdup(dst_key);
    if (!op->key2) {
        op_free(op);
        return RT_ENOMEM;
    }
    op->done = cb;
    op->ud = ud;
    return op_start(s, op);
}

static int local_del(struct rt_store *st, const char *key, rt_store_done_fn *cb, void *ud)
{
    struct local_store *s = (struct local_store *)st;
    struct op *op;
    if (!cb)
        return RT_EINVAL;
    if (s->read_only)
        return refuse_write(s, "del", key);
    int rc = op_new(s, OP_DEL, key, &op);
    if (rc)
        return rc;
    op->done = cb;
    op->ud = ud;
    return op_start(s, op);
}

static int local_head(struct rt_store *st, const char *key, rt_store_head_fn *cb, void *ud)
{
    struct local_store *s = (struct local_store *)st;
    struct op *op;
    if (!cb)
        return RT_EINVAL;
    int rc = op_new(s, OP_HEAD, key, &op);
    if (rc)
        return rc;
    op->head_cb = cb;
    op->ud = ud;
    return op_start(s, op);
}

/* ---------------------------------------------------------------------------------------------
 * Listing (one pool job per page, the page callback on the loop thread)
 */

struct dir_level {
    DIR *d;         /* owned */
    size_t key_len; /* bytes of walk.path that name this folder, with its trailing '/' */
};

/*
 * What a page job works on. While a job is queued or running it belongs to that job alone (pool
 * thread); between jobs, to the loop thread. Fields set at start are read-only afterwards.
 */
struct walk {
    int root_fd;    /* borrowed from the store (immutable; -1: missing root) */
    char *prefix;   /* owned: the prefix asked for */
    size_t dir_len; /* bytes of prefix naming the start folder */
    size_t page_size;
    bool keys_only;                 /* no stat per key: size -1, mtime 0, etag NULL */
    struct rt_store_entry *entries; /* owned, page_size; keys and etags point into names */
    size_t *offs;                   /* owned, 2 * page_size: key and etag offsets in names */
    struct rt_buf names;            /* keys and etags of the current page */
    size_t n;                       /* entries in the current page */
    struct dir_level *stack;        /* owned */
    size_t depth, cap;
    bool started, done; /* done: no page follows the current one */
    int status;         /* the error that ended the listing, or 0 */
    struct rt_error err;
    char path[RT_STORE_KEY_MAX + 2];
};

struct lister {
    uv_work_t req;         /* req.data = the lister; the current page job */
    struct local_store *s; /* borrowed */
    struct lister *prev, *next;
    rt_store_page_fn *cb;
    void *ud;
    bool in_flight; /* a page job is queued or running: w is the job's */
    bool stopped;   /* the store is closing: the page callback is never called again */
    struct walk w;
};

static void walk_pop_all(struct walk *w)
{
    while (w->depth > 0)
        closedir(w->stack[--w->depth].d);
}

/* Frees a listing that has no job in flight (loop thread). */
static void lister_free(struct lister *l)
{
    struct local_store *s = l->s;
    if (l->prev)
        l->prev->next = l->next;
    else
        s->listers = l->next;
    if (l->next)
        l->next->prev = l->prev;
    walk_pop_all(&l->w);
    rt_buf_cleanup(&l->w.names);
    rt_free(l->w.entries);
    rt_free(l->w.offs);
    rt_free(l->w.stack);
    rt_free(l->w.prefix);
    rt_free(l);
}

/* Pushes folder fd (taken over) named by path[0..key_len). Returns: 0 or a negative code. */
static int walk_push(struct walk *w, int fd, size_t key_len)
{
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        struct dir_level *st = rt_realloc(w->stack, cap * sizeof(*st));
        if (!st) {
            close(fd);
            return RT_ENOMEM;
        }
        w->stack = st;
        w->cap = cap;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    w->stack[w->depth].d = d;
    w->stack[w->depth].key_len = key_len;
    w->depth++;
    return 0;
}

/* Ends the walk with an error (reported by the after-work callback, with last true). */
static void walk_fail(struct walk *w, int code, const char *what)
{
    w->status = rt_error_set(&w->err, code, "listing %s failed: %s: %s", rt_q(w->prefix), what,
                             rt_strerror(code));
    walk_pop_all(w);
    w->done = true;
}

/* Opens the start folder in the first job. A missing folder is an empty listing. */
static void walk_start(struct walk *w)
{
    struct rt_error werr;
    rt_error_clear(&werr);
    w->started = true;
    int fd = walk_dir(w->root_fd, w->prefix, w->dir_len, false, &werr);
    if (fd < 0) {
        if (fd == RT_ENOTFOUND || fd == RT_EKEY || fd == -ENOTDIR) {
            w->done = true;
            return;
        }
        walk_fail(w, fd, werr.msg);
        return;
    }
    memcpy(w->path, w->prefix, w->dir_len);
    int rc = walk_push(w, fd, w->dir_len);
    if (rc)
        walk_fail(w, rc, "cannot read the start folder");
}

/* Adds path[0..klen) with st (NULL: keys only) to the page. Returns: 0 or RT_ENOMEM. */
static int page_add(struct walk *w, size_t n, size_t klen, const struct stat *st)
{
    w->offs[2 * n] = w->names.len;
    int rc = rt_buf_append(&w->names, w->path, klen);
    if (!rc)
        rc = rt_buf_append_char(&w->names, '\0');
    if (rc)
        return rc;
    if (!st) {
        w->offs[2 * n + 1] = SIZE_MAX;
        w->entries[n].size = -1;
        w->entries[n].mtime_ms = 0;
        return 0;
    }
    char etag[48];
    int64_t mtime_ns;
    stat_times(st, &mtime_ns);
    format_etag(etag, sizeof(etag), (int64_t)st->st_size, mtime_ns);
    w->offs[2 * n + 1] = w->names.len;
    rc = rt_buf_append(&w->names, etag, strlen(etag) + 1);
    if (rc)
        return rc;
    w->entries[n].size = (int64_t)st->st_size;
    w->entries[n].mtime_ms = mtime_ns / 1000000;
    return 0;
}

/* Walks on until the page is full or the tree is exhausted. Returns: entries in the page. */
static size_t walk_fill(struct walk *w)
{
    size_t n = 0;
    size_t filter_len = strlen(w->prefix) - w->dir_len;
    const char *filter = w->prefix + w->dir_len;
    rt_buf_reset(&w->names);
    while (n < w->page_size && w->depth > 0) {
        struct dir_level *top = &w->stack[w->depth - 1];
        errno = 0;
        struct dirent *de = readdir(top->d);
        if (!de) {
            if (errno) {
                walk_fail(w, -errno, "cannot read a folder");
                return 0;
            }
            closedir(top->d);
            w->depth--;
            continue;
        }
        const char *name = de->d_name;
        if (is_dot_name(name))
            continue;
        if (w->depth == 1) {
            if (filter_len && strncmp(name, filter, filter_len) != 0)
                continue;
            if (w->dir_len == 0 && strcmp(name, TMP_DIR) == 0)
                continue;
        }
        size_t nlen = strlen(name);
        size_t klen = top->key_len + nlen;
        if (klen > RT_STORE_KEY_MAX) {
            RT_LOG(RT_LOG_DEBUG, "store", "event=list_skip reason=too_long folder=%s",
                   rt_q(top->key_len ? w->path : "/"));
            continue;
        }
        /* A name is checked as a single segment: the folders above it were checked when they
         * were entered, so the whole key is valid when the name is. */
        if (rt_store_key_check(name, nlen, false, NULL) != 0) {
            w->path[top->key_len] = '\0';
            RT_LOG(RT_LOG_DEBUG, "store", "event=list_skip reason=invalid_name folder=%s",
                   rt_q(top->key_len ? w->path : "/"));
            continue;
        }
        memcpy(w->path + top->key_len, name, nlen);
        w->path[klen] = '\0';
        int fd_dir = dirfd(top->d);
        unsigned char type = de->d_type;
        struct stat st;
        bool have_st = false;
        if (type == DT_UNKNOWN) {
            if (fstatat(fd_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue; /* vanished meanwhile */
            have_st = true;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        if (type == DT_DIR) {
            if (klen + 2 > RT_STORE_KEY_MAX)
                continue; /* no key fits below it */
            int fd = openat(fd_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
                    continue; /* removed or replaced by a symlink meanwhile */
                walk_fail(w, -errno, "cannot open a folder");
                return 0;
            }
            w->path[klen] = '/';
            int rc = walk_push(w, fd, klen + 1);
            if (rc) {
                walk_fail(w, rc, "cannot read a folder");
                return 0;
            }
            continue;
        }
        if (type != DT_REG)
            continue; /* symlinks, FIFOs, sockets, devices are not keys */
        if (!have_st && !w->keys_only) {
            if (fstatat(fd_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                    continue;
                walk_fail(w, -errno, "cannot stat a file");
                return 0;
            }
            if (!S_ISREG(st.st_mode))
                continue;
        }
        /* Keys only: the d_type of the entry already said "regular file", which is all a count
         * needs; the stat (a syscall per key) is what bounds the full listing's speed. */
        int rc = page_add(w, n, klen, w->keys_only && !have_st ? NULL : &st);
        if (rc) {
            walk_fail(w, rc, "page buffer");
            return 0;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        w->entries[i].key = w->names.data + w->offs[2 * i];
        w->entries[i].etag =
            w->offs[2 * i + 1] == SIZE_MAX ? NULL : w->names.data + w->offs[2 * i + 1];
    }
    if (w->depth == 0)
        w->done = true;
    return n;
}

/* Pool thread: fills the next page. Touches only the lister's walk (and the immutable root_fd). */
static void page_work(uv_work_t *req)
{
    struct lister *l = req->data;
    struct walk *w = &l->w;
    if (rt__store_local_walk_hook)
        rt__store_local_walk_hook(rt__store_local_walk_hook_ud);
    if (!w->started)
        walk_start(w);
    w->n = w->done ? 0 : walk_fill(w);
}

static void page_after(uv_work_t *req, int status);

/* Queues the job of the next page. Returns: 0 or a libuv error (nothing queued). */
static int page_queue(struct lister *l)
{
    int rc = uv_queue_work(l->s->loop, &l->req, page_work, page_after);
    if (rc == 0) {
        l->in_flight = true;
        l->s->work_in_flight++;
    }
    return rc;
}

/* Loop thread: the job of one page ended; deliver it and queue the next, or end the listing. */
static void page_after(uv_work_t *req, int status)
{
    struct lister *l = req->data;
    struct local_store *s = l->s;
    struct walk *w = &l->w;
    l->in_flight = false;
    s->work_in_flight--;
    if (l->stopped || status == UV_ECANCELED) {
        /* Only close cancels a page job, and close also stops the listing first. */
        lister_free(l);
        maybe_finish(s);
        return;
    }
    for (;;) {
        if (w->status)
            RT_LOG(RT_LOG_WARNING, "store", "event=list_failed prefix=%s error=%s", rt_q(w->prefix),
                   rt_q(w->err.msg));
        int stop = l->cb(w->entries, w->n, w->done, w->status, w->status ? &w->err : NULL, l->ud);
        /* The callback may have closed the store (stopped is then set): free, call nothing. */
        if (stop || w->done || l->stopped)
            break;
        int rc = page_queue(l);
        if (rc == 0)
            return;
        /* The next page cannot be queued: end the listing with that error, as a last page. */
        walk_pop_all(w);
        w->n = 0;
        w->done = true;
        w->status = rt_error_set(&w->err, rc, "listing %s failed: cannot queue work: %s",
                                 rt_q(w->prefix), uv_strerror(rc));
    }
    lister_free(l);
    maybe_finish(s);
}

static int local_list(struct rt_store *st,
                      const char *prefix,
                      size_t page_size,
                      unsigned flags,
                      rt_store_page_fn *cb,
                      void *ud)
{
    struct local_store *s = (struct local_store *)st;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb)
        return RT_EINVAL;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    if (plen) {
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_store_key_check(prefix, plen, true, &err);
        if (rc) {
            RT_LOG(RT_LOG_INFO, "store", "event=key_refused prefix=%s error=%s", rt_q(prefix),
                   rt_q(err.msg));
            return rc;
        }
    }
    if (page_size == 0)
        page_size = DEFAULT_PAGE;
    if (page_size > MAX_PAGE)
        page_size = MAX_PAGE;
    struct lister *l = rt_calloc(1, sizeof(*l));
    if (!l)
        return RT_ENOMEM;
    struct walk *w = &l->w;
    w->prefix = rt_strdup(prefix);
    w->entries = rt_calloc(page_size, sizeof(*w->entries));
    w->offs = rt_calloc(2 * page_size, sizeof(*w->offs));
    if (!w->prefix || !w->entries || !w->offs) {
        rt_free(w->prefix);
        rt_free(w->entries);
        rt_free(w->offs);
        rt_free(l);
        return RT_ENOMEM;
    }
    rt_buf_init(&w->names, page_size * ENTRY_BYTES);
    rt_error_clear(&w->err);
    w->root_fd = s->root_fd;
    w->page_size = page_size;
    w->keys_only = (flags & RT_STORE_LIST_KEYS_ONLY) != 0;
    w->dir_len = base_offset(prefix);
    l->s = s;
    l->cb = cb;
    l->ud = ud;
    l->req.data = l;
    /* The first page comes from an after-work callback, so never from inside this call. */
    int rc = page_queue(l);
    if (rc) {
        rt_buf_cleanup(&w->names);
        rt_free(w->prefix);
        rt_free(w->entries);
        rt_free(w->offs);
        rt_free(l);
        return rc;
    }
    l->next = s->listers;
    if (s->listers)
        s->listers->prev = l;
    s->listers = l;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Folder watches (uv_fs_event, inotify on Linux): a hint that the caller should list soon.
 * Only the folder itself is watched, not its subfolders (the caller's periodic listing covers
 * those). Creating the folder and starting the watch touch the file system on the loop thread
 * once, when the daemon starts.
 */

struct rt_store_watch {
    uv_fs_event_t h;       /* h.data = the watch */
    struct local_store *s; /* borrowed */
    struct rt_store_watch *next;
    rt_store_watch_fn *cb;
    void *ud;
    char *prefix; /* owned, for the log */
};

static void watch_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)filename;
    (void)events;
    struct rt_store_watch *w = h->data;
    if (status < 0) {
        RT_LOG(RT_LOG_WARNING, "store", "event=watch_error key=%s error=%s", rt_q(w->prefix),
               rt_q(uv_strerror(status)));
        return;
    }
    if (w->cb && !w->s->closing)
        w->cb(w->ud);
}

static void watch_closed(uv_handle_t *h)
{
    struct rt_store_watch *w = h->data;
    struct local_store *s = w->s;
    rt_free(w->prefix);
    rt_free(w);
    s->watches_closing--;
    maybe_finish(s);
}

static void watch_stop(struct local_store *s, struct rt_store_watch *w)
{
    for (struct rt_store_watch **p = &s->watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->cb = NULL;
    uv_fs_event_stop(&w->h);
    s->watches_closing++;
    uv_close((uv_handle_t *)&w->h, watch_closed);
}

static void local_unwatch(struct rt_store *st, struct rt_store_watch *w)
{
    if (w)
        watch_stop((struct local_store *)st, w);
}

static int local_watch(struct rt_store *st,
                       const char *prefix,
                       rt_store_watch_fn *cb,
                       void *ud,
                       struct rt_store_watch **out)
{
    struct local_store *s = (struct local_store *)st;
    struct rt_error err;
    rt_error_clear(&err);
    if (s->closing || s->root_fd < 0)
        return RT_EINVAL;
    size_t n = prefix ? strlen(prefix) : 0;
    if (!n || prefix[n - 1] != '/' || rt_store_key_check(prefix, n, true, &err) != 0 ||
        is_reserved(prefix))
        return RT_EKEY;
    if (!s->read_only) {
        /* Walks segment by segment, refusing symlinks, like every other operation. */
        int rc = walk_dir(s->root_fd, prefix, n - 1, true, &err);
        if (rc < 0)
            return rc;
        close(rc);
    }
    struct rt_store_watch *w = rt_calloc(1, sizeof(*w));
    size_t plen = strlen(s->root) + 1 + n + 1;
    char *path = rt_malloc(plen);
    if (!w || !path || !(w->prefix = rt_strdup(prefix))) {
        if (w)
            rt_free(w->prefix);
        rt_free(w);
        rt_free(path);
        return RT_ENOMEM;
    }
    rt_snprintf(path, plen, "%s/%.*s", s->root, (int)(n - 1), prefix);
    int rc = uv_fs_event_init(s->loop, &w->h);
    if (rc) {
        rt_free(path);
        rt_free(w->prefix);
        rt_free(w);
        return rc;
    }
    w->h.data = w;
    w->s = s;
    w->cb = cb;
    w->ud = ud;
    rc = uv_fs_event_start(&w->h, watch_event, path, 0);
    rt_free(path);
    w->next = s->watches;
    s->watches = w;
    if (rc) {
        watch_stop(s, w);
        return rc;
    }
    RT_LOG(RT_LOG_INFO, "store", "event=watch key=%s", rt_q(prefix));
    *out = w;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle
 */

static void maybe_finish(struct local_store *s)
{
    if (!s->closing || s->defer_open || s->work_in_flight > 0 || s->listers || s->watches ||
        s->watches_closing > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *ud = s->close_ud;
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    if (s->root_fd >= 0)
        close(s->root_fd);
    RT_LOG(RT_LOG_INFO, "store", "event=closed driver=local root=%s", rt_q(s->root));
    rt_free(s->root);
    rt_free(s->bucket);
    rt_free(s);
    if (cb)
        cb(ud);
}

static void defer_closed(void *ud)
{
    struct local_store *s = ud;
    s->defer_open = false;
    maybe_finish(s);
}

static void local_close(struct rt_store *st, void (*cb)(void *ud), void *ud)
{
    struct local_store *s = (struct local_store *)st;
    if (s->closing) {
        RT_LOG(RT_LOG_CRIT, "store", "event=double_close root=%s", rt_q(s->root));
        return;
    }
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    /* A listing is stopped at once: its page callback is never called again. A page job not yet
     * started is cancelled; a running one finishes; either way its after-work callback frees the
     * listing. A listing with no job is inside its page callback, which frees it on return. */
    for (struct lister *l = s->listers; l; l = l->next) {
        l->stopped = true;
        if (l->in_flight)
            uv_cancel((uv_req_t *)&l->req);
    }
    /* Work not yet started is cancelled (its callback reports RT_ECANCELED); running work
     * finishes and reports normally. Either way each op's callback runs exactly once. */
    for (struct op *op = s->ops; op; op = op->next)
        uv_cancel((uv_req_t *)&op->req);
    while (s->watches) {
        RT_LOG(RT_LOG_WARNING, "store", "event=watch_left_open key=%s", rt_q(s->watches->prefix));
        watch_stop(s, s->watches);
    }
    /* The store is freed, and cb called, on a later turn once the queue closed and every job's
     * after-work callback ran, never inside this call. */
    rt_defer_close(&s->defer, defer_closed, s);
}

static const struct rt_store_ops local_ops = {
    .name = "local",
    .list = local_list,
    .get = local_get,
    .put = local_put,
    .copy = local_copy,
    .del = local_del,
    .head = local_head,
    .close = local_close,
    .watch = local_watch,
    .unwatch = local_unwatch,
};

/* Removes everything inside folder fd (taken over), never following symlinks. Returns: the number
 * of entries removed. Depth is bounded by what an interrupted write can leave: our temporary
 * files are flat, so anything deeper was put there by hand and is removed the same way. */
static long empty_dir(int fd, int depth)
{
    long removed = 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (is_dot_name(de->d_name))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            removed++;
            continue;
        }
        if (errno != EISDIR || depth > 16)
            continue;
        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        removed += empty_dir(sub, depth + 1);
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int rt_store_local_new(struct uv_loop_s *loop,
                       const struct rt_store_local_opts *opts,
                       struct rt_store **out,
                       struct rt_error *err)
{
    if (!loop || !opts || !out)
        return rt_error_set(err, RT_EINVAL, "local store: missing loop, options or output");
    if (!opts->root || !opts->root[0])
        return rt_error_set(err, RT_EINVAL, "local store: no root folder given");
    int rc = 0;
    if (!opts->read_only) {
        rc = rt_mkdir_p(opts->root, 0755);
        if (rc)
            return rt_error_set(err, rc, "local store: cannot create root folder %s: %s",
                                rt_q(opts->root), rt_strerror(rc));
    }
    struct local_store *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return rt_error_set(err, RT_ENOMEM, "local store: out of memory");
    s->root_fd = s->tmp_fd = -1;
    s->read_only = opts->read_only;
    s->root = rt_strdup(opts->root);
    s->bucket = rt_strdup(opts->bucket_name ? opts->bucket_name : "local");
    if (!s->root || !s->bucket) {
        rc = rt_error_set(err, RT_ENOMEM, "local store: out of memory");
        goto fail;
    }
    s->root_fd = open(opts->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0 && !(opts->read_only && errno == ENOENT)) {
        rc = rt_error_set(err, -errno, "local store: cannot open root folder %s: %s",
                          rt_q(opts->root), rt_strerror(-errno));
        goto fail;
    }
    if (!opts->read_only) {
        if (mkdirat(s->root_fd, TMP_DIR, 0700) < 0 && errno != EEXIST) {
            rc = rt_error_set(err, -errno, "local store: cannot create %s/%s: %s", rt_q(opts->root),
                              TMP_DIR, rt_strerror(-errno));
            goto fail;
        }
        s->tmp_fd = openat(s->root_fd, TMP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->tmp_fd < 0) {
            rc = rt_error_set(err, -errno, "local store: %s/%s is not a folder we can use: %s",
                              rt_q(opts->root), TMP_DIR, rt_strerror(-errno));
            goto fail;
        }
        /* Leftovers of interrupted writes; a read-only store leaves them to the writer, which
         * may be running right now and own them. */
        int dup_fd = openat(s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long removed = dup_fd >= 0 ? empty_dir(dup_fd, 0) : 0;
        if (removed > 0)
            RT_LOG(RT_LOG_NOTICE, "store", "event=tmp_cleaned root=%s removed=%ld", rt_q(s->root),
                   removed);
    }
    rc = rt_defer_init(&s->defer, loop);
    if (rc) {
        rt_error_set(err, rc, "local store: cannot create a loop handle: %s", uv_strerror(rc));
        goto fail;
    }
    s->defer_open = true;
    s->loop = loop;
    s->base.ops = &local_ops;
    s->base.bucket_name = s->bucket;
    RT_LOG(RT_LOG_INFO, "store", "event=open driver=local root=%s mode=%s root_exists=%s",
           rt_q(s->root), s->read_only ? "read-only" : "read-write", s->root_fd < 0 ? "no" : "yes");
    *out = &s->base;
    return 0;
fail:
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    if (s->root_fd >= 0)
        close(s->root_fd);
    rt_free(s->root);
    rt_free(s->bucket);
    rt_free(s);
    return rc;
}
