/*
 * creds_process.c - credential_process: a profile names a command that prints credentials as
 * JSON ({"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}), as the
 * AWS CLI and SDKs run it.
 *
 * Design: the command line is split into argv here (blanks separate words, quotes group, a
 * backslash escapes) and run without a shell, on the libuv thread pool (posix_spawnp, its own
 * process group, stdin /dev/null, stdout and stderr on pipes read with poll until a deadline),
 * so the loop never waits for it. A command that runs past the timeout is killed with its
 * process group. stdout holds secrets: it is kept in memory wiped when freed and never quoted in
 * an error or a log line; stderr (its first line, bounded and made printable) and the exit status
 * are reported. Log lines name the profile and the program (argv[0]), never the arguments, which
 * may carry secrets of their own.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/log.h"

extern char **environ;

#define DEFAULT_TIMEOUT_MS 60000
#define MAX_STDOUT (64u << 10)
#define MAX_STDERR 1024

void rt__process_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **a = argv; *a; a++)
        rt_free_secret_str(*a);
    rt_free(argv);
}

int rt__process_split(const char *cmd, char ***argv_out, struct rt_error *err)
{
    *argv_out = NULL;
    size_t n = strlen(cmd);
    /* At most n/2 + 1 words; each word at most n bytes: one buffer of n + words NULs. */
    size_t cap = n / 2 + 2;
    char **argv = rt_calloc(cap, sizeof(char *));
    char *word = rt_malloc(n + 1);
    if (!argv || !word) {
        rt_free(argv);
        rt_free(word);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    size_t argc = 0, wl = 0;
    bool in_word = false;
    char quote = 0;
    int rc = 0;
    for (const char *p = cmd; *p && !rc; p++) {
        char ch = *p;
        if (quote) {
            if (ch == quote) {
                quote = 0;
            } else if (ch == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\')) {
                word[wl++] = *++p;
            } else {
                word[wl++] = ch;
            }
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (in_word) {
                word[wl] = '\0';
                if (!(argv[argc++] = rt_strdup(word)))
                    rc = RT_ENOMEM;
                wl = 0;
                in_word = false;
            }
            continue;
        }
        in_word = true;
        if (ch == '"' || ch == '\'') {
            quote = ch;
        } else if (ch == '\\' && p[1]) {
            word[wl++] = *++p;
        } else {
            word[wl++] = ch;
        }
    }
    if (!rc && quote)
        rc = rt_error_set(err, RT_EINVAL, "credential_process: an unterminated %c quote", quote);
    if (!rc && in_word) {
        word[wl] = '\0';
        if (!(argv[argc++] = rt_strdup(word)))
            rc = RT_ENOMEM;
    }
    rt_free_secret(word, n + 1);
    if (!rc && argc == 0)
        rc = rt_error_set(err, RT_EINVAL, "credential_process: the command is empty");
    if (rc == RT_ENOMEM)
        rt_error_set(err, RT_ENOMEM, "out of memory");
    if (rc) {
        rt__process_argv_free(argv);
        return rc;
    }
    *argv_out = argv;
    return 0;
}

int rt__process_parse(const char *out,
                      size_t len,
                      const char *profile,
                      struct rt_credentials **creds,
                      struct rt_error *err)
{
    *creds = NULL;
    const char *pn = rt_q(profile);
    cJSON *j = out ? cJSON_ParseWithLength(out, len) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return rt_error_set(err, RT_EPARSE,
                            "profile %s: credential_process did not print a JSON object", pn);
    }
    int rc = 0;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
    const char *ak = rt__json_str(j, "AccessKeyId"), *sk = rt__json_str(j, "SecretAccessKey");
    const char *tok = rt__json_str(j, "SessionToken");
    const char *exp = rt__json_str(j, "Expiration");
    int64_t exp_ms = 0;
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        rc = rt_error_set(err, RT_EPARSE,
                          "profile %s: credential_process printed no \"Version\": 1 (the only "
                          "version there is)",
                          pn);
    else if (!ak || !sk)
        rc = rt_error_set(err, RT_EPARSE,
                          "profile %s: credential_process printed no AccessKeyId or "
                          "SecretAccessKey",
                          pn);
    else if (exp && rt__creds_parse_time(exp, &exp_ms) != 0)
        rc = rt_error_set(err, RT_EPARSE,
                          "profile %s: credential_process printed an Expiration that is not an "
                          "ISO-8601 time",
                          pn);
    else if (rt_credentials_new(ak, sk, tok, exp_ms, "process", creds) != 0)
        rc = rt_error_set(err, RT_ENOMEM, "out of memory");
    rt__json_wipe(j);
    cJSON_Delete(j);
    return rc;
}

/* ---- running it ---- */

struct proc_job {
    uv_work_t work;
    struct rt__creds_op *op;
    char **argv;   /* owned */
    char *profile; /* owned */
    int64_t timeout_ms;
    struct rt_buf out; /* stdout: secret */
    char errtext[MAX_STDERR + 1];
    size_t errlen;
    int rc;          /* what the run gave: 0, or a code with err */
    int exit_status; /* waitpid status */
    bool timed_out;
    struct rt_error err;
};

static void job_free(struct proc_job *j)
{
    rt__process_argv_free(j->argv);
    rt_free(j->profile);
    rt_buf_cleanup_secret(&j->out);
    rt_free(j);
}

/* Makes the first line of stderr printable for a message. */
static void stderr_line(struct proc_job *j, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < j->errlen && n + 1 < size; i++) {
        unsigned char ch = (unsigned char)j->errtext[i];
        if (ch == '\n' && n > 0)
            break;
        if (ch == '\n' || ch == '\r')
            continue;
        out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
}

/* Reads both pipes until they close or the deadline passes. Runs on the thread pool. */
static void pump(struct proc_job *j, int ofd, int efd, int64_t deadline)
{
    char chunk[4096];
    struct pollfd p[2] = {{.fd = ofd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        int64_t left = deadline - rt_mono_ms();
        if (left <= 0) {
            j->timed_out = true;
            break;
        }
        int r = poll(p, 2, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(p[i].fd, chunk, sizeof(chunk));
            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (k <= 0) {
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (rt_buf_append(&j->out, chunk, (size_t)k) != 0 && j->rc == 0)
                    j->rc = rt_error_set(&j->err, RT_ETOOBIG,
                                         "profile %s: credential_process printed more than "
                                         "%u bytes",
                                         rt_q(j->profile), MAX_STDOUT);
            } else {
                size_t room = MAX_STDERR - j->errlen;
                size_t take = (size_t)k < room ? (size_t)k : room;
                memcpy(j->errtext + j->errlen, chunk, take);
                j->errlen += take;
            }
        }
    }
    memset(chunk, 0, sizeof(chunk));
}

static void run_work(uv_work_t *w)
{
    struct proc_job *j = w->data;
    int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
    if (pipe2(opipe, O_CLOEXEC) != 0 || pipe2(epipe, O_CLOEXEC) != 0) {
        j->rc = rt_error_set(&j->err, RT_EIO, "profile %s: credential_process: pipe: %s",
                             rt_q(j->profile), rt_strerror(-errno));
        goto out;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t dflt;
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGXFSZ);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGHUP);
    posix_spawnattr_setsigdefault(&at, &dflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int src = posix_spawnp(&pid, j->argv[0], &fa, &at, j->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(opipe[1]);
    close(epipe[1]);
    opipe[1] = epipe[1] = -1;
    if (src != 0) {
        j->rc = rt_error_set(&j->err, RT_ECREDENTIALS,
                             "profile %s: credential_process: cannot run %s: %s", rt_q(j->profile),
                             rt_q(j->argv[0]), rt_strerror(-src));
        goto out;
    }
    int64_t deadline = rt_mono_ms() + j->timeout_ms;
    pump(j, opipe[0], epipe[0], deadline);
    if (j->timed_out)
        kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    j->exit_status = st;
out:
    for (int i = 0; i < 2; i++) {
        if (opipe[i] >= 0)
            close(opipe[i]);
        if (epipe[i] >= 0)
            close(epipe[i]);
    }
}

static void after_run(uv_work_t *w, int status)
{
    struct proc_job *j = w->data;
    struct rt__creds_op *op = j->op;
    struct rt_error e;
    rt_error_clear(&e);
    const char *pn = rt_q(j->profile);
    char line[256];
    stderr_line(j, line, sizeof(line));
    int rc = 0;
    if (status == UV_ECANCELED || op->base->closing) {
        rc = rt_error_set(&e, RT_ECANCELED, "credential_process: cancelled");
    } else if (j->rc) {
        e = j->err;
        rc = j->rc;
    } else if (j->timed_out) {
        rc = rt_error_set(&e, RT_ETIMEDOUT,
                          "profile %s: credential_process %s did not finish within %lld ms and was "
                          "killed",
                          pn, rt_q(j->argv[0]), (long long)j->timeout_ms);
    } else if (WIFSIGNALED(j->exit_status)) {
        rc = rt_error_set(&e, RT_ECREDENTIALS,
                          "profile %s: credential_process %s was killed by signal %d%s%s", pn,
                          rt_q(j->argv[0]), WTERMSIG(j->exit_status), line[0] ? ": " : "", line);
    } else if (WEXITSTATUS(j->exit_status) != 0) {
        rc = rt_error_set(&e, RT_ECREDENTIALS,
                          "profile %s: credential_process %s exited with status %d%s%s", pn,
                          rt_q(j->argv[0]), WEXITSTATUS(j->exit_status), line[0] ? ": " : "",
                          line[0] ? line : " (nothing on stderr)");
    } else {
        rc = rt__process_parse(j->out.data, j->out.len, j->profile, &op->creds, &e);
    }
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "creds",
               "event=credentials_failed source=process profile=%s program=%s error=%s", pn,
               rt_q(j->argv[0]), rt_q(e.msg));
        op->err = e;
        job_free(j);
        return rt__creds_op_fail(op, rc, "%s", e.msg);
    }
    char when[40];
    RT_LOG(RT_LOG_INFO, "creds",
           "event=credentials_found source=process profile=%s program=%s expires=%s", pn,
           rt_q(j->argv[0]),
           op->creds->expiration_ms ? rt_time_rfc3339(op->creds->expiration_ms, when, sizeof(when))
                                    : "never");
    job_free(j);
    rt__creds_op_finish(op);
}

void rt__process_run(struct rt__creds_op *op, const struct rt__process_call *c)
{
    struct proc_job *j = rt_calloc(1, sizeof(*j));
    if (!j)
        return rt__creds_op_fail(op, RT_ENOMEM, "out of memory");
    j->op = op;
    j->work.data = j;
    j->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
    rt_buf_init(&j->out, MAX_STDOUT);
    rt_error_clear(&j->err);
    j->profile = rt_strdup(c->profile ? c->profile : "");
    struct rt_error e;
    rt_error_clear(&e);
    int rc = j->profile ? rt__process_split(c->command, &j->argv, &e)
                        : rt_error_set(&e, RT_ENOMEM, "out of memory");
    if (rc) {
        job_free(j);
        if (rc == RT_EINVAL)
            return rt__creds_op_fail(op, RT_ECONFIG, "profile %s: %s", rt_q(c->profile), e.msg);
        return rt__creds_op_fail(op, rc, "%s", e.msg);
    }
    RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_fetch source=process profile=%s program=%s",
           rt_q(j->profile), rt_q(j->argv[0]));
    rc = uv_queue_work(op->base->loop, &j->work, run_work, after_run);
    if (rc) {
        job_free(j);
        rt__creds_op_fail(op, RT_EIO, "credential_process: cannot queue work: %s", uv_strerror(rc));
    }
}
