/*
 * twin_fixture.h - starting and stopping the aws-twin Node server (tests/servers/aws-twin) from a
 * C test, and installing its npm packages once per build tree: shared by every test that talks
 * to the twin (AWS client, credentials, the AWS drivers).
 *
 * The server prints "PORT n" on stdout once it listens and exits when its stdin closes, so a
 * test that crashes leaves nothing running.
 */
#ifndef RT_TWIN_FIXTURE_H
#define RT_TWIN_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
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

/* Reports the test as skipped (ctest counts exit 77 as skipped, never as passed). */
__attribute__((unused)) static void twin_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

#if defined(RT_BUILD_DIR) && defined(RT_SRC_DIR)
/*
 * Installs the twin's npm packages into <build>/aws-twin once (under a lock: tests run in
 * parallel) and writes the node_modules folder into modules. Skips the test when node or the
 * packages cannot be had.
 */
static void twin_install(char *modules, size_t size)
{
    char dir[1024], cmd[4096], lock[1100], probe[1200];
    if (system("command -v node >/dev/null 2>&1") != 0)
        twin_skip("node is not installed");
    snprintf(dir, sizeof(dir), "%s/aws-twin", RT_BUILD_DIR);
    mkdir(dir, 0755);
    snprintf(modules, size, "%s/node_modules", dir);
    snprintf(lock, sizeof(lock), "%s/.install-lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    RT_ASSERT(fd >= 0);
    RT_ASSERT(flock(fd, LOCK_EX) == 0);
    snprintf(probe, sizeof(probe), "%s/@smithy/signature-v4/package.json", modules);
    if (access(probe, R_OK) != 0) {
        if (system("command -v npm >/dev/null 2>&1") != 0)
            twin_skip("the aws-twin npm packages are missing and npm is not installed");
        snprintf(cmd, sizeof(cmd),
                 "cp '%s/tests/servers/aws-twin/package.json' '%s/' && "
                 "npm install --prefix '%s' --no-audit --no-fund >'%s/npm.log' 2>&1",
                 RT_SRC_DIR, dir, dir, dir);
        if (system(cmd) != 0 || access(probe, R_OK) != 0)
            twin_skip("npm install of the aws-twin packages failed (see aws-twin/npm.log)");
    }
    flock(fd, LOCK_UN);
    close(fd);
}
#endif

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
