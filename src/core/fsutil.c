/*
 * fsutil.c - mkdir -p and the write probe used at start-up (see fsutil.h).
 */
#include "retraind/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retraind/buf.h"

int rt_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (!path || !path[0])
        return -ENOENT;
    if (rt_strlcpy(tmp, path, sizeof(tmp)) != 0)
        return -ENAMETOOLONG;
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0) {
        int e = errno;
        struct stat st;
        if (e != EEXIST)
            return -e;
        if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
            return -ENOTDIR;
    }
    return 0;
}

void rt_user_name(char *out, size_t size)
{
    uid_t uid = geteuid();
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name)
        rt_snprintf(out, size, "%s", res->pw_name);
    else
        rt_snprintf(out, size, "uid %ld", (long)uid);
}

int rt_check_writable(const char *dir, const char *what, struct rt_error *err)
{
    char path[4200];
    char user[128];
    if (rt_snprintf(path, sizeof(path), "%s/.retraind-write-probe-%ld", dir, (long)getpid()) != 0)
        return rt_error_set(err, -ENAMETOOLONG, "%s %s: path too long", what, dir);
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        if (write(fd, "probe\n", 6) != 6)
            rc = errno ? -errno : -EIO;
        else if (fsync(fd) != 0)
            rc = -errno;
        close(fd);
        unlink(path);
    }
    if (rc) {
        rt_user_name(user, sizeof(user));
        return rt_error_set(err, rc, "%s %s is not writable by user %s: %s", what, dir, user,
                            rt_strerror(rc));
    }
    return 0;
}
