/*
 * spawn.h - starting and stopping the test servers of this folder from a C unit test.
 *
 * A server is a Python script that prints "PORT <n>" on stdout once it listens on 127.0.0.1 and
 * exits when its stdin closes; so a test that crashes never leaves a server behind. Header-only:
 * each test binary includes it once. RT_SRC_DIR (the source tree) comes from the build.
 */
#ifndef RT_TEST_SPAWN_H
#define RT_TEST_SPAWN_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct rt_test_server {
    pid_t pid;
    int port;
    int stdin_fd; /* closing it ends the server */
};

/* Returns: the Python to run: Debian's (which has python3-aiosmtpd) when present. */
static inline const char *rt_test_python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/*
 * Starts tests/servers/<script> with args (NULL-terminated, may be NULL) and waits for its port.
 * Returns: 0, 77 when the script exited with 77 (a dependency missing: skip), or -1.
 */
static inline int
rt_test_server_start(struct rt_test_server *s, const char *script, const char *const *args)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/servers/%s", RT_SRC_DIR, script);
    int out[2], in[2];
    if (pipe(out) || pipe(in))
        return -1;
    const char *argv[16];
    int n = 0;
    argv[n++] = rt_test_python();
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->stdin_fd = in[1];
    s->port = 0;
    char line[128];
    size_t len = 0;
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    while (len < sizeof(line) - 1) {
        if (poll(&pfd, 1, 20000) <= 0)
            break;
        ssize_t k = read(out[0], line + len, 1);
        if (k <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &s->port) != 1 || s->port <= 0) {
        int st = 0;
        close(s->stdin_fd);
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 77 ? 77 : -1;
    }
    return 0;
}

static inline void rt_test_server_stop(struct rt_test_server *s)
{
    if (s->pid <= 0)
        return;
    close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
}

#endif
