/*
 * daemon.c - `retraind run`: one libuv loop that owns the journal, the drivers, the workflow
 * machine, the poll timer, the signals and the control socket.
 *
 * Design: start-up errors are fatal (exit 2 for config, 1 otherwise); later failures are
 * logged and retried by the workflows. The CLI changes parameters and adds requests straight in
 * the journal, then pokes the control socket (<data_dir>/retraind.sock) so the daemon acts at
 * once; without a poke (socket unreachable) the next poll tick notices the change through
 * SQLite's data_version. Idle, the daemon sleeps until the next poll deadline: no other timer
 * runs unless systemd asked for a watchdog.
 *
 * Shutdown order (SIGTERM/SIGINT): tell systemd STOPPING=1, stop timers, signals and the control
 * socket, let in-flight workflow steps reach their next persisted state, close the engine (it
 * waits for thread-pool work), the notifiers, params, store and HTTP client, then the journal;
 * uv_loop_close() must then succeed.
 */
#include "retraind/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/engine.h"
#include "retraind/fsutil.h"
#include "retraind/httpc.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/notify.h"
#include "retraind/params.h"
#include "retraind/store.h"
#include "retraind/workflow.h"

#define BUILTIN_POLL_MS 500

struct daemon {
    uv_loop_t loop;
    struct rt_config *cfg; /* owned */
    char *config_path;     /* owned */
    struct rt_journal *journal;
    struct rt_store *store;
    struct rt_engine *engine;
    struct rt_params *params;
    struct rt_param_set values; /* current parameters; the workflows read them in place */
    struct rt_httpc *httpc;     /* only when a notifier needs it */
    struct rt_notifier **notifiers;
    int n_notifiers;
    struct rt_machine *machine;

    uv_timer_t poll_timer;
    uv_timer_t watchdog_timer;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_pipe_t control;
    bool control_open, watchdog_on, started, stopping;
    int64_t poll_ms;
    int64_t data_version;
    int lock_fd;
    int pending; /* closes still outstanding in the last shutdown phase */
    int exit_code;
};

static void shutdown_begin(struct daemon *d, int exit_code);

/* ---- notifications ---- */

static void notify_done(int status, const struct rt_error *err, void *ud)
{
    struct rt_notifier *n = ud;
    if (status) {
        char msg[600];
        RT_LOG(RT_LOG_WARNING, "notify", "event=notify_failed driver=%s error=%s", n->ops->name,
               rt_q(err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status)));
    }
}

static void emit(void *ud, const struct rt_event *ev)
{
    struct daemon *d = ud;
    for (int i = 0; i < d->n_notifiers; i++) {
        struct rt_notifier *n = d->notifiers[i];
        int rc = n->ops->send(n, ev, notify_done, n);
        if (rc)
            RT_LOG(RT_LOG_WARNING, "notify", "event=notify_failed driver=%s error=%s", n->ops->name,
                   rt_q(rt_strerror(rc)));
    }
}

/* ---- parameters and requests ---- */

static void arm_poll(struct daemon *d, bool run_now);
static void wake(struct daemon *d);

static void on_poll(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (d->stopping)
        return;
    /* A CLI change that could not poke us is noticed here. */
    if (rt_journal_data_version(d->journal) != d->data_version)
        wake(d);
    if (!d->values.v[RT_P_ENABLE_TRAINING].b) {
        RT_LOG(RT_LOG_INFO, "daemon", "event=training_check_skipped reason=disabled");
        return;
    }
    int rc = rt_machine_start_training(d->machine, "schedule");
    if (rc == RT_EBUSY)
        RT_LOG(RT_LOG_INFO, "daemon", "event=training_check_skipped reason=in_flight");
    else if (rc)
        RT_LOG(RT_LOG_ERR, "daemon", "event=training_check_failed error=%s", rt_q(rt_strerror(rc)));
}

static void arm_poll(struct daemon *d, bool run_now)
{
    d->poll_ms = d->values.v[RT_P_TRAINING_POLL].ms;
    uv_timer_start(&d->poll_timer, on_poll, run_now ? 0 : (uint64_t)d->poll_ms,
                   (uint64_t)d->poll_ms);
    RT_LOG(RT_LOG_INFO, "daemon", "event=poll_armed period_ms=%lld", (long long)d->poll_ms);
}

/* Applies a freshly loaded parameter set: logs changes, re-arms what they affect. */
static void apply_params(struct daemon *d, const struct rt_param_set *next)
{
    bool poll_changed = false, enabled_now = false;
    for (int i = 0; i < RT_P_COUNT; i++) {
        if (strcmp(d->values.v[i].text, next->v[i].text) == 0)
            continue;
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        RT_LOG(RT_LOG_NOTICE, "params", "event=param_changed name=%s from=%s to=%s", def->name,
               rt_q(d->values.v[i].text), rt_q(next->v[i].text));
        if (i == RT_P_TRAINING_POLL)
            poll_changed = true;
        if (i == RT_P_ENABLE_TRAINING && next->v[i].b)
            enabled_now = true;
    }
    d->values = *next;
    if (poll_changed || enabled_now)
        arm_poll(d, enabled_now);
}

static void take_requests(struct daemon *d)
{
    char kind[64];
    while (!d->stopping &&
           rt_journal_request_take(d->journal, kind, sizeof(kind), rt_now_ms()) == 0) {
        RT_LOG(RT_LOG_NOTICE, "daemon", "event=request kind=%s", rt_q(kind));
        if (strcmp(kind, "training") == 0) {
            int rc = rt_machine_start_training(d->machine, "trigger");
            if (rc == RT_EBUSY)
                RT_LOG(RT_LOG_NOTICE, "daemon",
                       "event=trigger_ignored kind=training reason=in_flight");
            else if (rc)
                RT_LOG(RT_LOG_ERR, "daemon", "event=trigger_failed kind=training error=%s",
                       rt_q(rt_strerror(rc)));
        } else {
            RT_LOG(RT_LOG_WARNING, "daemon", "event=request_unsupported kind=%s", rt_q(kind));
        }
    }
}

static void
params_reloaded(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    (void)err;
    if (d->stopping)
        return;
    if (status) {
        RT_LOG(RT_LOG_ERR, "params", "event=params_load_failed error=%s",
               rt_q(rt_strerror(status)));
        return;
    }
    apply_params(d, values);
    take_requests(d);
}

/* Something changed in the journal (the CLI poked us, or a poll noticed). */
static void wake(struct daemon *d)
{
    if (d->stopping || !d->started)
        return;
    d->data_version = rt_journal_data_version(d->journal);
    int rc = d->params->ops->load(d->params, params_reloaded, d);
    if (rc)
        RT_LOG(RT_LOG_ERR, "params", "event=params_load_failed error=%s", rt_q(rt_strerror(rc)));
}

/* ---- control socket ---- */

struct control_client {
    uv_pipe_t pipe;
    uv_write_t write;
};

static void client_closed(uv_handle_t *h)
{
    rt_free(h->data);
}

static void client_written(uv_write_t *w, int status)
{
    (void)status;
    struct control_client *c = w->data;
    uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void on_control(uv_stream_t *server, int status)
{
    struct daemon *d = server->data;
    if (status < 0)
        return;
    struct control_client *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_pipe_init(&d->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    wake(d);
    static char ok[] = "ok\n";
    uv_buf_t buf = uv_buf_init(ok, sizeof(ok) - 1);
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->pipe, &buf, 1, client_written) != 0)
        uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void control_path(const char *data_dir, char *out, size_t size)
{
    rt_snprintf(out, size, "%s/%s", data_dir, RT_CONTROL_SOCKET);
}

static void open_control(struct daemon *d)
{
    char path[4096];
    control_path(d->cfg->data_dir, path, sizeof(path));
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        RT_LOG(RT_LOG_WARNING, "daemon",
               "event=control_socket_disabled reason=\"path too long\" path=%s", rt_q(path));
        return;
    }
    unlink(path); /* we hold the lock, so a socket file here is a leftover */
    uv_pipe_init(&d->loop, &d->control, 0);
    d->control.data = d;
    d->control_open = true;
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&d->control, path);
    umask(old);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&d->control, 16, on_control);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "daemon", "event=control_socket_disabled path=%s error=%s",
               rt_q(path), rt_q(uv_strerror(rc)));
        uv_close((uv_handle_t *)&d->control, NULL);
        d->control_open = false;
    }
}

int rt_daemon_poke(const char *data_dir)
{
    char path[4096];
    control_path(data_dir, path, sizeof(path));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (rt_strlcpy(addr.sun_path, path, sizeof(addr.sun_path)))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        rc = -errno;
    } else {
        char buf[8];
        ssize_t n = read(fd, buf, sizeof(buf));
        rc = n > 0 ? 0 : -EIO;
    }
    close(fd);
    return rc;
}

/* ---- signals, systemd ---- */

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        struct rt_config *next = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_config_load(d->config_path, &next, &err);
        if (rc) {
            char msg[800];
            RT_LOG(RT_LOG_ERR, "daemon", "event=reload_failed error=%s",
                   rt_q(rt_error_format(&err, msg, sizeof(msg))));
            return;
        }
        /* Live: log level and parameter defaults. Drivers and paths need a restart. */
        enum rt_log_level level;
        if (rt_log_level_parse(next->log_level, &level) == 0)
            rt_log_set_level(level);
        struct rt_param_set values;
        rt_params_read_journal(d->journal, &next->parameters.defaults, &values);
        d->cfg->parameters.defaults = next->parameters.defaults;
        rt_config_destroy(next);
        RT_LOG(RT_LOG_NOTICE, "daemon", "event=reloaded config=%s", rt_q(d->config_path));
        apply_params(d, &values);
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=signal signal=%s", signum == SIGTERM ? "TERM" : "INT");
    shutdown_begin(d, 0);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

/* ---- start-up ---- */

static void engine_active_started(int status, const struct rt_error *err, void *ud)
{
    (void)ud;
    if (status) {
        char msg[600];
        RT_LOG(RT_LOG_ERR, "daemon", "event=active_model_start_failed error=%s",
               rt_q(err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status)));
    }
}

static void
params_loaded(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    if (d->stopping)
        return;
    if (status) {
        char msg[600];
        RT_LOG(RT_LOG_ERR, "daemon", "event=start_failed error=%s",
               rt_q(err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status)));
        shutdown_begin(d, 1);
        return;
    }
    d->values = *values;
    d->data_version = rt_journal_data_version(d->journal);

    /* The version that served before a restart serves again. */
    struct rt_journal_model active;
    if (rt_journal_model_get_active(d->journal, &active) == 0) {
        int rc = d->engine->ops->start(d->engine, active.version,
                                       (int)d->values.v[RT_P_MIN_INFERENCE_UNITS].i,
                                       engine_active_started, d);
        if (rc)
            RT_LOG(RT_LOG_ERR, "daemon", "event=active_model_start_failed version=%s error=%s",
                   rt_q(active.version), rt_q(rt_strerror(rc)));
    }

    int rc = rt_machine_resume(d->machine);
    if (rc)
        RT_LOG(RT_LOG_ERR, "daemon", "event=resume_failed error=%s", rt_q(rt_strerror(rc)));
    open_control(d);
    d->started = true;
    /* The first check runs at start (unless disabled), then every poll period. */
    arm_poll(d, true);
    take_requests(d);

    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        uv_timer_start(&d->watchdog_timer, on_watchdog, wd_usec / 2000, wd_usec / 2000);
        d->watchdog_on = true;
    }
    sd_notifyf(0, "READY=1\nSTATUS=watching %s, polling every %llds",
               d->cfg->store.root ? d->cfg->store.root : "the store",
               (long long)(d->poll_ms / 1000));
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=ready data_dir=%s store=%s poll_ms=%lld",
           rt_q(d->cfg->data_dir), rt_q(d->cfg->store.root), (long long)d->poll_ms);
}

static int take_lock(struct daemon *d, struct rt_error *err)
{
    char path[4096];
    rt_snprintf(path, sizeof(path), "%s/%s", d->cfg->data_dir, RT_LOCK_FILE);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0)
        return rt_error_set(err, -errno, "cannot open %s: %s", path, rt_strerror(-errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return rt_error_set(err, RT_EBUSY, "another retraind is already running on %s",
                            d->cfg->data_dir);
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(d->lock_fd, 0) == 0 && write(d->lock_fd, pid, (size_t)n) < 0)
        RT_LOG(RT_LOG_DEBUG, "daemon", "event=pid_write_failed");
    return 0;
}

static int make_dir(const char *path, struct rt_error *err)
{
    int rc = rt_mkdir_p(path, 0700);
    return rc ? rt_error_set(err, rc, "cannot create %s: %s", path, rt_strerror(rc)) : 0;
}

static int open_drivers(struct daemon *d, struct rt_error *err)
{
    struct rt_config *cfg = d->cfg;
    int rc = make_dir(cfg->data_dir, err);
    if (!rc)
        rc = take_lock(d, err);
    if (!rc)
        rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &d->journal, err);
    if (rc)
        return rc;
    struct rt_store_local_opts so = {.root = cfg->store.root, .bucket_name = cfg->store.name};
    rc = rt_store_local_new(&d->loop, &so, &d->store, err);
    if (rc)
        return rc;
    char models[4096];
    rt_snprintf(models, sizeof(models), "%s/models", cfg->data_dir);
    rc = make_dir(models, err);
    struct rt_engine_builtin_opts eo = {
        .models_dir = models, .store = d->store, .threads = cfg->engine.training_threads};
    if (!rc)
        rc = rt_engine_builtin_new(&d->loop, &eo, &d->engine, err);
    if (!rc)
        rc = rt_params_local_new(&d->loop, d->journal, &cfg->parameters.defaults, &d->params);
    if (rc)
        return rc;

    d->notifiers = rt_calloc((size_t)cfg->n_notify + 1, sizeof(*d->notifiers));
    if (!d->notifiers)
        return RT_ENOMEM;
    for (int i = 0; i < cfg->n_notify; i++) {
        const struct rt_config_notify *nc = &cfg->notify[i];
        struct rt_notifier *n = NULL;
        if (nc->driver == RT_NOTIFY_LOG) {
            rc = rt_notifier_log_new(&d->loop, &n);
        } else if (nc->driver == RT_NOTIFY_SMTP) {
            if (!d->httpc) {
                struct rt_httpc_opts ho = {0};
                rc = rt_httpc_new(&d->loop, &ho, &d->httpc, err);
                if (rc)
                    return rc;
            }
            rc = rt_notifier_smtp_new(&d->loop, d->httpc, nc, &n, err);
        } else {
            rc = rt_error_set(err, RT_ENOTIMPL, "notify[%d]: driver not built", i);
        }
        if (rc)
            return rc;
        d->notifiers[d->n_notifiers++] = n;
    }

    struct rt_workflow_env env = {
        .loop = &d->loop,
        .journal = d->journal,
        .store = d->store,
        .engine = d->engine,
        .cfg = cfg,
        .params = &d->values,
        .emit = emit,
        .emit_ud = d,
        .engine_poll_ms =
            cfg->engine.driver == RT_ENGINE_BUILTIN ? BUILTIN_POLL_MS : cfg->engine.status_poll_ms,
    };
    return rt_machine_new(&env, &d->machine);
}

/* ---- shutdown ---- */

static void phase_done(void *ud)
{
    struct daemon *d = ud;
    if (--d->pending > 0)
        return;
    if (d->journal) {
        rt_journal_close(d->journal);
        d->journal = NULL;
    }
}

static void engine_closed(void *ud)
{
    struct daemon *d = ud;
    d->engine = NULL;
    /* Everything else can close side by side; the journal closes last. */
    d->pending = 1;
    for (int i = 0; i < d->n_notifiers; i++) {
        d->pending++;
        d->notifiers[i]->ops->close(d->notifiers[i], phase_done, d);
    }
    d->n_notifiers = 0;
    if (d->params) {
        d->pending++;
        d->params->ops->close(d->params, phase_done, d);
        d->params = NULL;
    }
    if (d->store) {
        d->pending++;
        d->store->ops->close(d->store, phase_done, d);
        d->store = NULL;
    }
    if (d->httpc) {
        d->pending++;
        rt_httpc_close(d->httpc, phase_done, d);
        d->httpc = NULL;
    }
    phase_done(d);
}

static void machine_closed(void *ud)
{
    struct daemon *d = ud;
    d->machine = NULL;
    if (d->engine)
        d->engine->ops->close(d->engine, engine_closed, d);
    else
        engine_closed(d);
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void shutdown_begin(struct daemon *d, int exit_code)
{
    if (d->stopping)
        return;
    d->stopping = true;
    d->exit_code = exit_code;
    sd_notify(0, "STOPPING=1");
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=stopping");
    close_handle((uv_handle_t *)&d->poll_timer);
    close_handle((uv_handle_t *)&d->watchdog_timer);
    close_handle((uv_handle_t *)&d->sig_term);
    close_handle((uv_handle_t *)&d->sig_int);
    close_handle((uv_handle_t *)&d->sig_hup);
    if (d->control_open) {
        uv_close((uv_handle_t *)&d->control, NULL);
        d->control_open = false;
        char path[4096];
        control_path(d->cfg->data_dir, path, sizeof(path));
        unlink(path);
    }
    if (d->machine)
        rt_machine_close(d->machine, machine_closed, d);
    else
        machine_closed(d);
}

int rt_daemon_run(const char *config_path)
{
    struct daemon *d = rt_calloc(1, sizeof(*d));
    if (!d)
        return 1;
    d->lock_fd = -1;
    struct rt_error err;
    rt_error_clear(&err);
    char msg[1024];
    int rc = rt_config_load(config_path, &d->cfg, &err);
    if (rc) {
        fprintf(stderr, "retraind: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        rt_free(d);
        return 2;
    }
    d->config_path = rt_strdup(config_path);
    enum rt_log_level level;
    if (d->cfg->log_level && rt_log_level_parse(d->cfg->log_level, &level) == 0)
        rt_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    uv_loop_init(&d->loop);
    uv_timer_init(&d->loop, &d->poll_timer);
    d->poll_timer.data = d;
    uv_timer_init(&d->loop, &d->watchdog_timer);
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

    RT_LOG(RT_LOG_NOTICE, "daemon", "event=starting version=%s config=%s pid=%ld", RETRAIND_VERSION,
           rt_q(config_path), (long)getpid());
    rc = open_drivers(d, &err);
    if (!rc)
        rc = d->params->ops->load(d->params, params_loaded, d);
    if (rc) {
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        RT_LOG(RT_LOG_ERR, "daemon", "event=start_failed error=%s",
               rt_q(rt_error_format(&err, msg, sizeof(msg))));
        fprintf(stderr, "retraind: %s\n", msg);
        shutdown_begin(d, 1);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (d->journal) /* start-up failed before the close chain reached it */
        rt_journal_close(d->journal);
    int closed = uv_loop_close(&d->loop);
    if (closed)
        RT_LOG(RT_LOG_CRIT, "daemon", "event=loop_not_closed error=%s", uv_err_name(closed));
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=stopped exit=%d", d->exit_code);
    int code = d->exit_code;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    rt_free(d->notifiers);
    rt_config_destroy(d->cfg);
    rt_free(d->config_path);
    rt_free(d);
    return code;
}
