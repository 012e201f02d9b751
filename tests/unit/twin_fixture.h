/*
 * twin_fixture.h - starting and stopping the aws-twin Node server (tests/servers/aws-twin) from a
 * C test: shared by test_aws_live.c and test_creds_twin.c.
 *
 * The server prints "PORT n" on stdout once it listens and exits when its stdin closes, so a
 * test that crashes leaves nothing running.
 */
#ifndef RT_TWIN_FIXTURE_H
#define RT_TWIN_FIXTURE_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_test.h"

struct twin_proc {
    pid_t pid;
    int stdin_fd;
    int port;
};

/*
 * Runs argv (argv[0] is looked up in PATH, e.g. "node") with NODE_PATH=node_path and waits up
 * to 30 s for its "PORT n" line. Fails the test when the server does not start.
 */
static void twin_spawn(struct twin_proc *t, const char *node_path, char *const argv[])
{
    int out[2], in[2];
    RT_ASSERT(pipe(out) == 0 && pipe(in) == 0);
    fflush(NULL);
    pid_t pid = fork();
    RT_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        setenv("NODE_PATH", node_path, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    t->pid = pid;
    t->stdin_fd = in[1];
    char line[128];
    size_t len = 0;
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    while (len < sizeof(line) - 1 && poll(&pfd, 1, 30000) > 0) {
        if (read(out[0], line + len, 1) != 1 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &t->port) != 1)
        RT_FAIL("aws-twin did not start (first line: \"%s\")", line);
}

/* Stops the server (closes its stdin, then SIGTERM) and reaps it. Safe to call twice. */
static void twin_reap(struct twin_proc *t)
{
    if (t->pid <= 0)
        return;
    close(t->stdin_fd);
    kill(t->pid, SIGTERM);
    int st;
    while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR) {
    }
    t->pid = 0;
}

#endif
