/* sd_notify.c - systemd's notify protocol: one datagram of KEY=VALUE lines on the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). */
#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int rt_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    /* Only absolute paths and abstract names are valid; anything else is not ours to write to. */
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path))
        return -EINVAL;
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    while (n < 0 && errno == EINTR);
    int rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}

bool rt_sd_watchdog_usec(uint64_t *usec)
{
    const char *pid_s = getenv("WATCHDOG_PID");
    if (pid_s && *pid_s) {
        char *end;
        errno = 0;
        unsigned long long pid = strtoull(pid_s, &end, 10);
        if (errno || *end || pid != (unsigned long long)getpid())
            return false;
    }
    const char *us = getenv("WATCHDOG_USEC");
    if (!us || !*us)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(us, &end, 10);
    if (errno || *end || v == 0 || us[0] == '-')
        return false;
    *usec = (uint64_t)v;
    return true;
}
