/*
 * creds_fixture.h - what the credential tests share: a clean environment (no AWS_* variable
 * leaks in from the machine, HOME and the profile files inside the case's temporary folder, IMDS
 * disabled unless a case points it at the local server), a loop with an httpc client, a
 * synchronous get that also checks the callback never runs inside the get call, log capture for
 * the secret checks, and the close that ends every case with uv_loop_close() == 0.
 */
#ifndef RT_TEST_CREDS_FIXTURE_H
#define RT_TEST_CREDS_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/credentials.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "rt_test.h"

extern char **environ;

static uv_loop_t fx_loop;
static struct rt_httpc *fx_http;
static char fx_log_path[512];
static int fx_log_fd = -1;

/* Removes every AWS_* variable, then sets the safe defaults of every credential test. */
static void fx_env_reset(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "AWS_", 4) == 0) {
                size_t n = strcspn(*e, "=");
                if (n < sizeof(name)) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                    break;
                }
            }
        }
        if (!name[0])
            break;
        unsetenv(name);
    }
    const char *dir = rt_test_tmpdir();
    char p[512];
    setenv("HOME", dir, 1);
    snprintf(p, sizeof(p), "%s/credentials", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    snprintf(p, sizeof(p), "%s/config", dir);
    setenv("AWS_CONFIG_FILE", p, 1);
    /* Nothing may ever try 169.254.169.254 from a test. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* Writes text to <tmpdir>/<name> and returns the path (static buffer per call site use). */
static const char *fx_write(const char *name, const char *text)
{
    static char path[8][512];
    static int turn;
    char *p = path[turn++ % 8];
    snprintf(p, 512, "%s/%s", rt_test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    RT_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Starts capturing every log line (debug level) into a file. */
static void fx_log_capture(void)
{
    snprintf(fx_log_path, sizeof(fx_log_path), "%s/log.txt", rt_test_tmpdir());
    fx_log_fd = open(fx_log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    RT_ASSERT(fx_log_fd >= 0);
    rt_log_set_fd(fx_log_fd);
    rt_log_set_level(RT_LOG_DEBUG);
}

/* Stops capturing. Returns: the captured text (static buffer). */
static const char *fx_log_text(void)
{
    static char buf[1 << 18];
    rt_log_set_fd(2);
    rt_log_set_level(RT_LOG_NOTICE);
    if (fx_log_fd >= 0)
        close(fx_log_fd);
    fx_log_fd = -1;
    FILE *f = fopen(fx_log_path, "r");
    RT_ASSERT(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static struct rt_credentials_opts fx_opts(void)
{
    struct rt_credentials_opts o = {.loop = &fx_loop, .httpc = fx_http};
    return o;
}

static void fx_start(void)
{
    fx_env_reset();
    RT_ASSERT_OK(uv_loop_init(&fx_loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts ho = {.backoff_base_ms = 10, .backoff_max_ms = 50};
    RT_ASSERT_OK(rt_httpc_new(&fx_loop, &ho, &fx_http, &err));
}

struct fx_result {
    int done;
    int status;
    struct rt_credentials *creds; /* owned copy */
    struct rt_error err;
};

static void
fx_on_get(int status, const struct rt_credentials *creds, const struct rt_error *err, void *ud)
{
    struct fx_result *r = ud;
    r->done++;
    r->status = status;
    rt_credentials_free(r->creds);
    r->creds = NULL;
    if (status == 0) {
        RT_ASSERT(creds != NULL && err == NULL);
        RT_ASSERT_OK(rt_credentials_dup(creds, &r->creds));
    } else {
        RT_ASSERT(creds == NULL && err != NULL);
        RT_ASSERT_INT_EQ(err->code, status);
        r->err = *err;
    }
}

/* Gets from p and runs the loop until the answer. Returns: the status. */
static int fx_get(struct rt_credentials_provider *p, struct fx_result *r)
{
    r->done = 0;
    rt_error_clear(&r->err);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_credentials_provider_get(p, fx_on_get, r, &err));
    RT_ASSERT_INT_EQ(r->done, 0); /* never inside the call */
    while (!r->done)
        uv_run(&fx_loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(r->done, 1);
    return r->status;
}

static void fx_result_cleanup(struct fx_result *r)
{
    rt_credentials_free(r->creds);
    r->creds = NULL;
}

static void fx_on_closed(void *ud)
{
    (*(int *)ud)++;
}

/* Closes p (may be NULL), the client and the loop; checks nothing leaked. */
static void fx_finish(struct rt_credentials_provider *p)
{
    int closed = 0;
    if (p) {
        rt_credentials_provider_close(p, fx_on_closed, &closed);
        RT_ASSERT_INT_EQ(closed, 0);
        while (!closed)
            uv_run(&fx_loop, UV_RUN_ONCE);
        RT_ASSERT_INT_EQ(closed, 1);
    }
    int hclosed = 0;
    rt_httpc_close(fx_http, fx_on_closed, &hclosed);
    uv_run(&fx_loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(hclosed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&fx_loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

#endif
