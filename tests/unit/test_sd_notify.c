/*
 * test_sd_notify.c - systemd's notify protocol as the daemon speaks it (src/daemon/sd_notify.c):
 * one datagram to $NOTIFY_SOCKET, a path or an abstract "@name"; nothing without the variable; a
 * relative path refused; the watchdog only for our own pid and a positive WATCHDOG_USEC.
 * (tests/integration/daemon_lifecycle.py checks READY, WATCHDOG and STOPPING from the daemon.)
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt_test.h"
#include "sd_notify.h"

/* Binds a datagram socket at NAME ("@..." abstract); returns its fd. */
static int listen_at(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    RT_ASSERT(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path, name, len);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    RT_ASSERT(0 == bind(fd, (struct sockaddr *)&a,
                        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)));
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char got[256];
    ssize_t n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
    RT_ASSERT(n > 0);
    got[n] = '\0';
    RT_ASSERT_STR_EQ(got, want);
}

RT_TEST(sd_notify_sends_to_a_path_and_an_abstract_name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/notify.sock", rt_test_tmpdir());
    int fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    RT_ASSERT_INT_EQ(rt_sd_notify("READY=1\nSTATUS=watching"), 1);
    expect_datagram(fd, "READY=1\nSTATUS=watching");
    close(fd);

    char abstract[64];
    snprintf(abstract, sizeof(abstract), "@retraind-test-%d", (int)getpid());
    fd = listen_at(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    RT_ASSERT_INT_EQ(rt_sd_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);
}

RT_TEST(sd_notify_without_a_service_manager_or_with_a_bad_socket)
{
    unsetenv("NOTIFY_SOCKET");
    RT_ASSERT_INT_EQ(rt_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/notify.sock", 1);
    RT_ASSERT(rt_sd_notify("READY=1") < 0);
    char gone[512];
    snprintf(gone, sizeof(gone), "%s/nobody-listens.sock", rt_test_tmpdir());
    setenv("NOTIFY_SOCKET", gone, 1);
    RT_ASSERT(rt_sd_notify("READY=1") < 0); /* reported, never fatal */
}

RT_TEST(sd_watchdog_only_for_our_pid_and_a_positive_period)
{
    uint64_t us = 0;
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    RT_ASSERT(!rt_sd_watchdog_usec(&us));
    setenv("WATCHDOG_USEC", "3000000", 1);
    RT_ASSERT(rt_sd_watchdog_usec(&us));
    RT_ASSERT_INT_EQ(us, 3000000);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    RT_ASSERT(rt_sd_watchdog_usec(&us));
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* meant for another process of the service */
    RT_ASSERT(!rt_sd_watchdog_usec(&us));
    unsetenv("WATCHDOG_PID");
    const char *bad[] = {"0", "-5", "12x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        RT_ASSERT(!rt_sd_watchdog_usec(&us));
    }
}
