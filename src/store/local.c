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
 * - get/put/copy/del/head run their file work on the libuv thread pool (uv_queue_work); the work
 *   callback touches only its own struct op and the store's immutable descriptors, and the
 *   completion runs in the after-work callback on the loop thread.
 * - Writes are atomic: a temporary file in .retraind-tmp is written, fsynced and renamed into
 *   place, then the destination folder is fsynced. Readers see the old file or the new one.
 * - A listing walks the tree on the loop thread with a stack of open directory streams, one page
 *   per loop turn (a uv_idle handle), so memory is the page plus the stack, whatever the number
 *   of keys, and other events run between pages. A page of cached directory entries costs about a
 *   millisecond, which is why this is not sent to the thread pool, where it could wait behind
 *   long image-decoding work.
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

#include "retraind/alloc.h"
#include "retraind/fsutil.h"
#include "retraind/log.h"
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
    struct rt_store base;   /* first, so a struct rt_store * is a struct local_store * */
    uv_loop_t *loop;        /* borrowed */
    char *root;             /* owned */
    char *bucket;           /* owned */
    int root_fd;            /* owned; immutable after new, read by pool threads */
    int tmp_fd;             /* owned; <root>/.retraind-tmp, immutable after new */
    atomic_uint tmp_seq;    /* names of temporary files */
    uv_timer_t close_timer; /* never started: closing it defers the close callback */
    int open_handles;       /* close_timer + one uv_idle per listing */
    int work_in_flight;     /* queued ops whose after-work callback has not run */
    struct lister *listers; /* borrowed links: listings in flight */
    struct op *ops;         /* borrowed links: ops in flight */
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

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
 * folders are made (0755, umask applies).
 * Returns: a new descriptor (caller closes), RT_ENOTFOUND when a folder is missing, RT_EKEY when
 * one is a symlink, -ENOTDIR when one is a file, or another -errno; err says which segment.
 */
static int walk_dir(int root_fd, const char *key, size_t dir_len, bool create, struct rt_error *err)
{
    char seg[RT_STORE_KEY_MAX + 1];
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

static int local_read_sync(struct rt_store *st,
                           const char *key,
                           size_t max_bytes,
                           struct rt_buf *out,
                           struct rt_error *err)
{
    struct local_store *s = (struct local_store *)st;
    int rc = check_key(key, err);
    if (rc)
        return rc;
    int fd;
    struct stat sb;
    rc = open_key_read(s->root_fd, key, &fd, &sb, err);
    if (rc)
        return rc;
    size_t limit = out->max_bytes - out->len;
    if (max_bytes < limit)
        limit = max_bytes;
    if ((uint64_t)sb.st_size > limit)
        rc = rt_error_set(err, RT_ETOOBIG, "key %s has %lld bytes, more than the %zu allowed",
                          rt_q(key), (long long)sb.st_size, limit);
    else
        rc = read_all(fd, key, limit, out, err);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Listing (loop thread, one page per loop turn)
 */

struct dir_level {
    DIR *d;         /* owned */
    size_t key_len; /* bytes of lister.path that name this folder, with its trailing '/' */
};

struct lister {
    uv_idle_t idle;
    struct local_store *s; /* borrowed */
    struct lister *prev, *next;
    rt_store_page_fn *cb;
    void *ud;
    size_t page_size;
    struct rt_store_entry *entries; /* owned, page_size */
    size_t *offs;                   /* owned, 2 * page_size: key and etag offsets in names */
    struct rt_buf names;            /* keys and etags of the current page */
    struct dir_level *stack;        /* owned */
    size_t depth, cap;
    char *prefix;   /* owned: the prefix asked for */
    size_t dir_len; /* bytes of prefix naming the start folder */
    bool started, done, stopped;
    bool keys_only; /* no stat per key: size -1, mtime 0, etag NULL */
    int status;
    struct rt_error err;
    char path[RT_STORE_KEY_MAX + 2];
};

static void lister_closed(uv_handle_t *h)
{
    struct lister *l = h->data;
    struct local_store *s = l->s;
    rt_buf_cleanup(&l->names);
    rt_free(l->entries);
    rt_free(l->offs);
    rt_free(l->stack);
    rt_free(l->prefix);
    rt_free(l);
    s->open_handles--;
    maybe_finish(s);
}

static void lister_pop_all(struct lister *l)
{
    while (l->depth > 0)
        closedir(l->stack[--l->depth].d);
}

/* Ends a listing: closes its folders and its handle; memory goes in the close callback. */
static void lister_finish(struct lister *l)
{
    struct local_store *s = l->s;
    lister_pop_all(l);
    if (l->prev)
        l->prev->next = l->next;
    else
        s->listers = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    l->stopped = true;
    uv_idle_stop(&l->idle);
    uv_close((uv_handle_t *)&l->idle, lister_closed);
}

/* Pushes folder fd (taken over) named by path[0..key_len). Returns: 0 or a negative code. */
static int lister_push(struct lister *l, int fd, size_t key_len)
{
    if (l->depth == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct dir_level *st = rt_realloc(l->stack, cap * sizeof(*st));
        if (!st) {
            close(fd);
            return RT_ENOMEM;
        }
        l->stack = st;
        l->cap = cap;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    l->stack[l->depth].d = d;
    l->stack[l->depth].key_len = key_len;
    l->depth++;
    return 0;
}

static void lister_fail(struct lister *l, int code, const char *what)
{
    l->status = rt_error_set(&l->err, code, "listing %s failed: %s: %s", rt_q(l->prefix), what,
                             rt_strerror(code));
    RT_LOG(RT_LOG_WARNING, "store", "event=list_failed prefix=%s error=%s", rt_q(l->prefix),
           rt_q(l->err.msg));
    lister_pop_all(l);
    l->done = true;
}

/* Opens the start folder on the first turn. A missing folder is an empty listing. */
static void lister_start(struct lister *l)
{
    struct rt_error werr;
    rt_error_clear(&werr);
    l->started = true;
    int fd = walk_dir(l->s->root_fd, l->prefix, l->dir_len, false, &werr);
    if (fd < 0) {
        if (fd == RT_ENOTFOUND || fd == RT_EKEY || fd == -ENOTDIR) {
            l->done = true;
            return;
        }
        lister_fail(l, fd, werr.msg);
        return;
    }
    memcpy(l->path, l->prefix, l->dir_len);
    int rc = lister_push(l, fd, l->dir_len);
    if (rc)
        lister_fail(l, rc, "cannot read the start folder");
}

/* Adds path[0..klen) with st (NULL: keys only) to the page. Returns: 0 or RT_ENOMEM. */
static int page_add(struct lister *l, size_t n, size_t klen, const struct stat *st)
{
    l->offs[2 * n] = l->names.len;
    int rc = rt_buf_append(&l->names, l->path, klen);
    if (!rc)
        rc = rt_buf_append_char(&l->names, '\0');
    if (rc)
        return rc;
    if (!st) {
        l->offs[2 * n + 1] = SIZE_MAX;
        l->entries[n].size = -1;
        l->entries[n].mtime_ms = 0;
        return 0;
    }
    char etag[48];
    int64_t mtime_ns;
    stat_times(st, &mtime_ns);
    format_etag(etag, sizeof(etag), (int64_t)st->st_size, mtime_ns);
    l->offs[2 * n + 1] = l->names.len;
    rc = rt_buf_append(&l->names, etag, strlen(etag) + 1);
    if (rc)
        return rc;
    l->entries[n].size = (int64_t)st->st_size;
    l->entries[n].mtime_ms = mtime_ns / 1000000;
    return 0;
}

/* Walks on until the page is full or the tree is exhausted. Returns: entries in the page. */
static size_t lister_fill(struct lister *l)
{
    size_t n = 0;
    size_t filter_len = strlen(l->prefix) - l->dir_len;
    const char *filter = l->prefix + l->dir_len;
    rt_buf_reset(&l->names);
    while (n < l->page_size && l->depth > 0) {
        struct dir_level *top = &l->stack[l->depth - 1];
        errno = 0;
        struct dirent *de = readdir(top->d);
        if (!de) {
            if (errno) {
                lister_fail(l, -errno, "cannot read a folder");
                return 0;
            }
            closedir(top->d);
            l->depth--;
            continue;
        }
        const char *name = de->d_name;
        if (is_dot_name(name))
            continue;
        if (l->depth == 1) {
            if (filter_len && strncmp(name, filter, filter_len) != 0)
                continue;
            if (l->dir_len == 0 && strcmp(name, TMP_DIR) == 0)
                continue;
        }
        size_t nlen = strlen(name);
        size_t klen = top->key_len + nlen;
        if (klen > RT_STORE_KEY_MAX) {
            RT_LOG(RT_LOG_DEBUG, "store", "event=list_skip reason=too_long folder=%s",
                   rt_q(top->key_len ? l->path : "/"));
            continue;
        }
        /* A name is checked as a single segment: the folders above it were checked when they
         * were entered, so the whole key is valid when the name is. */
        if (rt_store_key_check(name, nlen, false, NULL) != 0) {
            l->path[top->key_len] = '\0';
            RT_LOG(RT_LOG_DEBUG, "store", "event=list_skip reason=invalid_name folder=%s",
                   rt_q(top->key_len ? l->path : "/"));
            continue;
        }
        memcpy(l->path + top->key_len, name, nlen);
        l->path[klen] = '\0';
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
                lister_fail(l, -errno, "cannot open a folder");
                return 0;
            }
            l->path[klen] = '/';
            int rc = lister_push(l, fd, klen + 1);
            if (rc) {
                lister_fail(l, rc, "cannot read a folder");
                return 0;
            }
            continue;
        }
        if (type != DT_REG)
            continue; /* symlinks, FIFOs, sockets, devices are not keys */
        if (!have_st && !l->keys_only) {
            if (fstatat(fd_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                    continue;
                lister_fail(l, -errno, "cannot stat a file");
                return 0;
            }
            if (!S_ISREG(st.st_mode))
                continue;
        }
        /* Keys only: the d_type of the entry already said "regular file", which is all a count
         * needs; the stat (a syscall per key) is what bounds the full listing's speed. */
        int rc = page_add(l, n, klen, l->keys_only && !have_st ? NULL : &st);
        if (rc) {
            lister_fail(l, rc, "page buffer");
            return 0;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        l->entries[i].key = l->names.data + l->offs[2 * i];
        l->entries[i].etag =
            l->offs[2 * i + 1] == SIZE_MAX ? NULL : l->names.data + l->offs[2 * i + 1];
    }
    if (l->depth == 0)
        l->done = true;
    return n;
}

static void lister_turn(uv_idle_t *h)
{
    struct lister *l = h->data;
    if (l->stopped)
        return;
    if (!l->started)
        lister_start(l);
    size_t n = l->done ? 0 : lister_fill(l);
    bool last = l->done;
    int stop = l->cb(l->entries, n, last, l->status, l->status ? &l->err : NULL, l->ud);
    if (l->stopped)
        return; /* the store was closed from inside the callback */
    if (stop || last)
        lister_finish(l);
}

static int list_start(struct rt_store *st,
                      const char *prefix,
                      size_t page_size,
                      bool keys_only,
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
    l->prefix = rt_strdup(prefix);
    l->entries = rt_calloc(page_size, sizeof(*l->entries));
    l->offs = rt_calloc(2 * page_size, sizeof(*l->offs));
    if (!l->prefix || !l->entries || !l->offs) {
        rt_free(l->prefix);
        rt_free(l->entries);
        rt_free(l->offs);
        rt_free(l);
        return RT_ENOMEM;
    }
    rt_buf_init(&l->names, page_size * ENTRY_BYTES);
    rt_error_clear(&l->err);
    l->s = s;
    l->cb = cb;
    l->ud = ud;
    l->page_size = page_size;
    l->keys_only = keys_only;
    l->dir_len = base_offset(prefix);
    uv_idle_init(s->loop, &l->idle);
    l->idle.data = l;
    s->open_handles++;
    uv_idle_start(&l->idle, lister_turn);
    l->next = s->listers;
    if (s->listers)
        s->listers->prev = l;
    s->listers = l;
    return 0;
}

static int local_list(struct rt_store *st,
                      const char *prefix,
                      size_t page_size,
                      unsigned flags,
                      rt_store_page_fn *cb,
                      void *ud)
{
    return list_start(st, prefix, page_size, (flags & RT_STORE_LIST_KEYS_ONLY) != 0, cb, ud);
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle
 */

static void maybe_finish(struct local_store *s)
{
    if (!s->closing || s->open_handles > 0 || s->work_in_flight > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *ud = s->close_ud;
    close(s->tmp_fd);
    close(s->root_fd);
    RT_LOG(RT_LOG_INFO, "store", "event=closed driver=local root=%s", rt_q(s->root));
    rt_free(s->root);
    rt_free(s->bucket);
    rt_free(s);
    if (cb)
        cb(ud);
}

static void close_timer_closed(uv_handle_t *h)
{
    struct local_store *s = h->data;
    s->open_handles--;
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
    while (s->listers)
        lister_finish(s->listers);
    /* Work not yet started is cancelled (its callback reports RT_ECANCELED); running work
     * finishes and reports normally. Either way each op's callback runs exactly once. */
    for (struct op *op = s->ops; op; op = op->next)
        uv_cancel((uv_req_t *)&op->req);
    uv_close((uv_handle_t *)&s->close_timer, close_timer_closed);
}

static const struct rt_store_ops local_ops = {
    .name = "local",
    .list = local_list,
    .get = local_get,
    .put = local_put,
    .copy = local_copy,
    .del = local_del,
    .head = local_head,
    .read_sync = local_read_sync,
    .close = local_close,
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
    int rc = rt_mkdir_p(opts->root, 0755);
    if (rc)
        return rt_error_set(err, rc, "local store: cannot create root folder %s: %s",
                            rt_q(opts->root), rt_strerror(rc));
    struct local_store *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return rt_error_set(err, RT_ENOMEM, "local store: out of memory");
    s->root_fd = s->tmp_fd = -1;
    s->root = rt_strdup(opts->root);
    s->bucket = rt_strdup(opts->bucket_name ? opts->bucket_name : "local");
    if (!s->root || !s->bucket) {
        rc = rt_error_set(err, RT_ENOMEM, "local store: out of memory");
        goto fail;
    }
    s->root_fd = open(opts->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0) {
        rc = rt_error_set(err, -errno, "local store: cannot open root folder %s: %s",
                          rt_q(opts->root), rt_strerror(-errno));
        goto fail;
    }
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
    int dup_fd = openat(s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long removed = dup_fd >= 0 ? empty_dir(dup_fd, 0) : 0;
    if (removed > 0)
        RT_LOG(RT_LOG_NOTICE, "store", "event=tmp_cleaned root=%s removed=%ld", rt_q(s->root),
               removed);
    rc = uv_timer_init(loop, &s->close_timer);
    if (rc) {
        rt_error_set(err, rc, "local store: cannot create a timer: %s", uv_strerror(rc));
        goto fail;
    }
    s->close_timer.data = s;
    s->open_handles = 1;
    s->loop = loop;
    s->base.ops = &local_ops;
    s->base.bucket_name = s->bucket;
    RT_LOG(RT_LOG_INFO, "store", "event=open driver=local root=%s", rt_q(s->root));
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
