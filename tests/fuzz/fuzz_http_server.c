/*
 * fuzz_http_server.c - fuzz target for the whole HTTP server: the input is raw bytes sent by a
 * client (one or more requests, pipelined, possibly broken), fed through a socketpair into the
 * real server (h2o, the router, auth, sessions, sign-in, the parsers) with a backend that answers
 * every operation at once. The client then half-closes; the target runs the loop until the server
 * has closed the connection and answered every call, reading (and dropping) what it writes.
 *
 * Besides crashes and sanitizer reports it checks that nothing stays in flight: a request that
 * never ends or a call that is never freed would hang the run and be reported as a timeout.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "retraind/config.h"
#include "retraind/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)ud;
    char body[512];
    int n =
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"id\":\"%s\",\"value\":%d,\"limit\":%d}",
                 rq->user ? rq->user : "", rq->id ? rq->id : "", rq->value != NULL, rq->limit);
    rt_http_call_done(call, 200, NULL, body, (size_t)n);
}

static void refuse(void *ud, struct rt_http_call *call, const struct rt_http_request *rq)
{
    (void)ud;
    (void)rq;
    rt_http_call_error(call, 409, "already answered");
}

static const struct rt_http_backend_ops ops = {
    .status_json = answer,
    .history_json = answer,
    .exec_json = answer,
    .params_json = answer,
    .param_set = answer,
    .reviews_json = answer,
    .review_next = answer,
    .review_image = answer,
    .review_answer = refuse,
    .models_json = answer,
    .label_jobs_json = answer,
    .label_job_json = answer,
    .label_job_create = answer,
    .label_job_example = answer,
    .metrics = answer,
    .healthy = answer,
};

static uv_loop_t loop;
static struct rt_config *cfg;
static struct rt_http_server *server;

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* A reviewer whose password is "pw" (cheap costs) and an admin token "t" (sha256). */
    static const char yaml[] =
        "data_dir: /tmp/rt-fuzz-http\nstore: {driver: local, root: /tmp/rt-fuzz-http/store}\n"
        "review:\n  users:\n    - {name: bob, password_hash: "
        "\"$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$"
        "8lZ5lWnJwN2Qm9VQ9+2m6CqkQm8s0vTnE2zL6S6vF8k\"}\n"
        "http:\n  listen: 127.0.0.1:0\n  tokens:\n    - {name: ci, role: admin, token_sha256: "
        "e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8}\n";
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_config_load_string(yaml, sizeof(yaml) - 1, "fuzz.yaml", "/tmp", &cfg, &err))
        abort();
    uv_loop_init(&loop);
    struct rt_http_backend be = {.ops = &ops, .ud = NULL};
    if (rt_http_server_new(&loop, cfg, &be, &server, &err))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!server)
        setup();
    if (size > 256 * 1024)
        size = 256 * 1024;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    if (rt__http_server_adopt(server, sv[1]) != 0)
        abort();
    size_t sent = 0;
    bool closed_wr = false;
    char sink[65536];
    for (int spins = 0;; spins++) {
        if (sent < size) {
            ssize_t n = write(sv[0], data + sent, size - sent);
            if (n > 0)
                sent += (size_t)n;
        }
        if (sent == size && !closed_wr) {
            shutdown(sv[0], SHUT_WR);
            closed_wr = true;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        while (read(sv[0], sink, sizeof(sink)) > 0)
            ;
        if (closed_wr && rt__http_server_busy(server) == 0)
            break;
        if (spins > 2000000)
            abort(); /* stuck: a connection or a call never ended */
    }
    close(sv[0]);
    return 0;
}
