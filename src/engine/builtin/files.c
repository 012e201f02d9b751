/*
 * files.c - small blocking file helpers for the builtin engine's thread-pool work.
 *
 * Design: a version's files are replaced atomically (write a temporary file in the same
 * folder, fsync it, rename it over the target, fsync the folder) so a crash leaves either the
 * old file or the new one, never a part: a half-trained version has no model.json and reads
 * back as unknown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "retraind/alloc.h"

int rt__path(char *out, const char *dir, const char *version, const char *file)
{
    int rc;
    if (file)
        rc = rt_snprintf(out, RT__PATH_MAX, "%s/%s/%s", dir, version, file);
    else
        rc = rt_snprintf(out, RT__PATH_MAX, "%s/%s", dir, version);
    return rc;
}

bool rt__exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rt__write_atomic(
    const char *dir, const char *name, const void *data, size_t len, struct rt_error *err)
{
    char tmp[RT__PATH_MAX], dst[RT__PATH_MAX];
    if (rt_snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) != 0 ||
        rt_snprintf(dst, sizeof(dst), "%s/%s", dir, name) != 0)
        return rt_error_set(err, RT_EINVAL, "path too long: %s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        return rt_error_set(err, rc, "cannot create %s: %s", tmp, rt_strerror(rc));
    }
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rt_error_set(err, rc, "cannot write %s: %s", dst, rt_strerror(rc));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: the rename is durable once the folder is synced */
        close(dfd);
    }
    return 0;
}

int rt__read_file(const char *path, size_t max_bytes, struct rt_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char chunk[16384];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > max_bytes) {
            rc = RT_ETOOBIG;
            break;
        }
        rc = rt_buf_append(out, chunk, (size_t)n);
        if (rc != 0)
            break;
    }
    close(fd);
    return rc;
}
