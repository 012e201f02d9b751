/*
 * daemon.c - `retraind run`: one libuv loop that owns the journal, the drivers, the workflow
 * machine, the notification outbox, the poll timer, the signals and the control socket.
 *
 * Design: start-up errors are fatal (exit 2 for config, 1 otherwise), and the daemon says READY
 * only once it has checked that it can write everything it will write (data folder, journal,
 * models, store). Every driver is built from the config through the registry (registry.c). The
 * loop never blocks: journal writes go to the journal's writer thread, store and engine work to
 * the thread pool, HTTP to curl's multi interface. Parameters come only through the params
 * driver: the CLI's `params set` stores a value through its own driver and pokes the control
 * socket (<data_dir>/retraind.sock); the poke makes the daemon's driver look, and each changed
 * parameter becomes a parameter-change execution that re-arms what it affects and tells people.
 * Without a poke the next poll tick looks anyway. Idle, the daemon sleeps until the next poll
 * deadline: no other timer runs unless systemd asked for a watchdog.
 *
 * SIGHUP reloads the config: log.level and parameters.defaults apply at once; a reload that
 * changes anything else is refused (logged, naming the keys) and the daemon keeps running on the
 * config it has, so a half-applied config can never be running.
 *
 * The HTTP server (http_backend.c) starts when the config asks for it (http.listen written, or
 * portal users or API tokens configured) and its address goes to the journal for `status`.
 *
 * Shutdown order (SIGTERM/SIGINT): tell systemd STOPPING=1, stop timers, signals and the control
 * socket; close the HTTP server (its pending answers complete first); stop the detection service's
 * scanning and dispatching; let in-flight workflow steps reach their next persisted state
 * (waiting executions are marked as stopped on purpose); write the detection results not yet
 * flushed; let the outbox finish its round; close the engine (it waits for thread-pool work), the
 * review driver, the notifiers, params, store and HTTP client; stop the journal's writer once
 * everything it was given is durable; close the journal. uv_loop_close() must then succeed, or
 * the exit code says the stop was not clean.
 */
#include "retraind/daemon.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "counters.h"
#include "http_backend.h"
#include "outbox.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/detect.h"
#include "retraind/engine.h"
#include "retraind/fsutil.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/model_meter.h"
#include "retraind/notify.h"
#include "retraind/params.h"
#include "retraind/registry.h"
#include "retraind/review.h"
#include "retraind/store.h"
#include "retraind/workflow.h"
#include "sd_notify.h"

struct daemon {
    uv_loop_t loop;
    struct rt_config *cfg; /* owned */
    char *config_path;     /* owned */
    struct rt_journal *journal;
    struct rt_driver_env env;
    struct rt_store *store;
    struct rt_engine *engine;
    struct rt_params *params;
    struct rt_review *review;     /* the review driver (registry), made after the store */
    struct rt_param_set values;   /* current parameters; the workflows read them */
    char applied[RT_P_COUNT][32]; /* the value of each parameter last applied */
    struct rt_notifier **notifiers;
    int n_notifiers;
    struct rt_outbox *outbox;
    struct rt_machine *machine;
    struct rt_daemon_http *http; /* the HTTP server, when the config asks for one */
    int64_t engine_poll_ms;
    struct rt_detect *detect; /* the detection service (scanner, dispatcher, results, sampling) */
    struct rt_daemon_counters counters; /* executions by end state, detections by route */

    uv_timer_t poll_timer;
    uv_timer_t watchdog_timer;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_pipe_t control;
    bool control_open, watchdog_on, started, stopping;
    int64_t poll_ms;
    int64_t last_request_id; /* requests up to here are taken */
    int lock_fd;
    int pending; /* closes still outstanding in the last shutdown phase */
    int exit_code;
};

static void shutdown_begin(struct daemon *d, int exit_code);

/* Says a start-up error once: on stderr for a person at a terminal, in the log (which journald
 * keeps) under systemd. */
static void start_error(const char *msg)
{
    if (getenv("JOURNAL_STREAM"))
        RT_LOG(RT_LOG_ERR, "daemon", "event=start_failed error=%s", rt_q(msg));
    else
        fprintf(stderr, "retraind: %s\n", msg);
}

/* ---- small journal writes of the daemon's own ---- */

static void write_done(int status, const struct rt_error *err, void *ud)
{
    const char *what = ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "daemon", "event=write_failed what=%s error=%s", what,
               rt_q(err ? err->msg : rt_strerror(status)));
}

/* Submits b (taken over) and logs a failure; what is a static name for the log. */
static void submit(struct daemon *d, struct rt_jbatch *b, const char *what)
{
    int rc = rt_journal_submit(d->journal, b, write_done, (void *)what);
    if (rc)
        RT_LOG(RT_LOG_WARNING, "daemon", "event=write_failed what=%s error=%s", what,
               rt_q(rt_strerror(rc)));
}

/* ---- the poll timer ---- */

static void take_requests(struct daemon *d);

/* Records when the next check is due, for `status` (the CLI reads the journal). */
static void note_next_check(struct daemon *d, int64_t delay_ms)
{
    struct rt_jbatch *b = NULL;
    if (rt_jbatch_new(&b))
        return;
    bool enabled = d->values.v[RT_P_ENABLE_TRAINING].b;
    if (rt_jbatch_state_set_i64(b, "next_check_at", enabled ? rt_now_ms() + delay_ms : 0) ||
        rt_jbatch_state_set_i64(b, "poll_ms", d->poll_ms)) {
        rt_jbatch_free(b);
        return;
    }
    submit(d, b, "next_check");
}

static void on_poll(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (d->stopping)
        return;
    note_next_check(d, d->poll_ms);
    /* A CLI change that could not poke us is noticed here. */
    if (d->params->ops->refresh(d->params) != 0)
        RT_LOG(RT_LOG_ERR, "params", "event=params_refresh_failed");
    take_requests(d);
    if (!d->values.v[RT_P_ENABLE_TRAINING].b) {
        RT_LOG(RT_LOG_INFO, "daemon", "event=training_check_skipped reason=disabled");
        return;
    }
    char id[64];
    int rc = rt_machine_start_training(d->machine, "schedule", id, sizeof(id));
    if (rc == RT_EBUSY)
        RT_LOG(RT_LOG_INFO, "daemon", "event=training_check_skipped reason=in_flight exec=%s", id);
    else if (rc)
        RT_LOG(RT_LOG_ERR, "daemon", "event=training_check_failed error=%s", rt_q(rt_strerror(rc)));
}

static void arm_poll(struct daemon *d, bool run_now)
{
    d->poll_ms = d->values.v[RT_P_TRAINING_POLL].ms;
    uv_timer_start(&d->poll_timer, on_poll, run_now ? 0 : (uint64_t)d->poll_ms,
                   (uint64_t)d->poll_ms);
    if (!run_now)
        note_next_check(d, d->poll_ms);
    RT_LOG(RT_LOG_INFO, "daemon", "event=poll_armed period=%s period_ms=%lld",
           d->values.v[RT_P_TRAINING_POLL].text, (long long)d->poll_ms);
}

/* ---- parameters ---- */

/* APPLY of a parameter change (the workflow's hook): re-arm what the change affects. */
static void apply_param(void *ud, enum rt_param_id id)
{
    struct daemon *d = ud;
    if (d->stopping)
        return;
    rt_detect_param_changed(d->detect, id);
    if (id == RT_P_TRAINING_POLL)
        arm_poll(d, false);
    else if (id == RT_P_ENABLE_TRAINING)
        arm_poll(d, d->values.v[RT_P_ENABLE_TRAINING].b); /* enabled: check now */
}

/* Starts a parameter-change execution for every value that differs from the one applied. */
static void changes_to_executions(struct daemon *d)
{
    for (int i = 0; i < RT_P_COUNT; i++) {
        const char *now = d->values.v[i].text;
        if (strcmp(d->applied[i], now) == 0)
            continue;
        int rc = rt_machine_param_changed(d->machine, (enum rt_param_id)i, d->applied[i], now);
        if (rc) {
            RT_LOG(RT_LOG_ERR, "params", "event=param_change_failed name=%s error=%s",
                   rt_param_def_by_id((enum rt_param_id)i)->name, rt_q(rt_strerror(rc)));
            continue;
        }
        rt_strlcpy(d->applied[i], now, sizeof(d->applied[i]));
    }
}

static void params_changed(const struct rt_param_set *values, void *ud)
{
    struct daemon *d = ud;
    if (d->stopping || !d->started)
        return;
    d->values = *values;
    changes_to_executions(d);
}

/*
 * Reads the values applied before (journal) and compares them with the current ones: a change
 * made while the daemon was down is applied and announced now. A parameter never applied before
 * (first start) is recorded silently: its first value is not a change.
 */
static int load_applied(struct daemon *d)
{
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    for (int i = 0; !rc && i < RT_P_COUNT; i++) {
        const char *name = rt_param_def_by_id((enum rt_param_id)i)->name;
        char key[128];
        rt_snprintf(key, sizeof(key), "%s%s", RT_STATE_PARAM_APPLIED, name);
        rc = rt_journal_state_get(d->journal, key, d->applied[i], sizeof(d->applied[i]));
        if (rc == RT_ENOTFOUND) {
            rt_strlcpy(d->applied[i], d->values.v[i].text, sizeof(d->applied[i]));
            rc = rt_jbatch_state_set(b, key, d->values.v[i].text);
        } else if (rc == RT_ETOOBIG) {
            d->applied[i][0] = '\0'; /* unreadable: treat as changed */
            rc = 0;
        }
    }
    if (rc) {
        rt_jbatch_free(b);
        return rc;
    }
    if (rt_jbatch_count(b) > 0)
        submit(d, b, "params_applied");
    else
        rt_jbatch_free(b);
    return 0;
}

/* ---- requests from the CLI ---- */

/* Starts every labeling job that has no execution yet (created by the CLI or the API). */
static void start_label_jobs(struct daemon *d)
{
    int rc = rt_machine_start_label_jobs(d->machine);
    if (rc)
        RT_LOG(RT_LOG_ERR, "daemon", "event=label_jobs_start_failed error=%s",
               rt_q(rt_strerror(rc)));
}

/* The HTTP server created a job (POST /api/label-jobs): start it now, not at the next request. */
static void http_label_job_created(void *ud)
{
    start_label_jobs(ud);
}

static void take_requests(struct daemon *d)
{
    char kind[64];
    int64_t id = 0;
    while (!d->stopping &&
           rt_journal_request_peek(d->journal, d->last_request_id, &id, kind, sizeof(kind)) == 0) {
        d->last_request_id = id;
        struct rt_jbatch *b = NULL;
        if (rt_jbatch_new(&b) == 0) {
            if (rt_jbatch_request_taken(b, id, rt_now_ms()) == 0)
                submit(d, b, "request_taken");
            else
                rt_jbatch_free(b);
        }
        RT_LOG(RT_LOG_NOTICE, "daemon", "event=request kind=%s", rt_q(kind));
        if (strcmp(kind, "training") == 0) {
            char exec[64];
            int rc = rt_machine_start_training(d->machine, "trigger", exec, sizeof(exec));
            if (rc == RT_EBUSY)
                RT_LOG(RT_LOG_NOTICE, "daemon",
                       "event=trigger_ignored kind=training reason=in_flight exec=%s", exec);
            else if (rc)
                RT_LOG(RT_LOG_ERR, "daemon", "event=trigger_failed kind=training error=%s",
                       rt_q(rt_strerror(rc)));
        } else if (strcmp(kind, "sampling") == 0) {
            int rc = rt_detect_trigger_sampling(d->detect);
            if (rc)
                RT_LOG(RT_LOG_NOTICE, "daemon", "event=trigger_ignored kind=sampling reason=%s",
                       rt_q(rt_strerror(rc)));
        } else if (strcmp(kind, "label-job") == 0) {
            start_label_jobs(d);
        } else {
            RT_LOG(RT_LOG_WARNING, "daemon", "event=request_unsupported kind=%s", rt_q(kind));
        }
    }
}

/* Something changed (the CLI poked us). */
static void wake(struct daemon *d)
{
    if (d->stopping || !d->started)
        return;
    if (d->params->ops->refresh(d->params) != 0)
        RT_LOG(RT_LOG_ERR, "params", "event=params_refresh_failed");
    take_requests(d);
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

static void reload(struct daemon *d)
{
    struct rt_config *next = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    char msg[800];
    int rc = rt_config_load(d->config_path, &next, &err);
    if (!rc)
        rc = rt_registry_check(next, &err);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "daemon", "event=reload_failed config=%s error=%s", rt_q(d->config_path),
               rt_q(rt_error_format(&err, msg, sizeof(msg))));
        rt_config_destroy(next);
        return;
    }
    char keys[256];
    if (rt_config_restart_changes(d->cfg, next, keys, sizeof(keys)) > 0) {
        RT_LOG(RT_LOG_ERR, "daemon",
               "event=reload_refused config=%s keys=%s reason=\"these need a restart; the daemon "
               "keeps running on the config it started with\"",
               rt_q(d->config_path), rt_q(keys));
        rt_config_destroy(next);
        return;
    }
    /* Live: the log level and the parameters' defaults (the params driver reads them in place). */
    enum rt_log_level level;
    if (rt_log_level_parse(next->log_level, &level) == 0)
        rt_log_set_level(level);
    d->cfg->parameters.defaults = next->parameters.defaults;
    memcpy(d->cfg->parameters.default_set, next->parameters.default_set,
           sizeof(d->cfg->parameters.default_set));
    rt_config_destroy(next);
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=reloaded config=%s", rt_q(d->config_path));
    if (d->params->ops->refresh(d->params) != 0)
        RT_LOG(RT_LOG_ERR, "params", "event=params_refresh_failed");
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        if (d->started && !d->stopping)
            reload(d);
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=signal signal=%s%s", signum == SIGTERM ? "TERM" : "INT",
           d->stopping ? " already_stopping=yes" : "");
    shutdown_begin(d, 0);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    rt_sd_notify("WATCHDOG=1");
}

/* ---- start-up ---- */

static void mirror_system_state(struct daemon *d);

static void engine_active_started(int status, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    if (!status && !d->stopping)
        mirror_system_state(d); /* the engine knows the active version's ARN now */
    if (status) {
        char msg[600];
        RT_LOG(RT_LOG_ERR, "daemon", "event=active_model_start_failed error=%s",
               rt_q(err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status)));
    }
}

/* Mirrors the journal's system state (the journal stays the source of truth) into the params
 * driver's store, for tools that read the reference solution's For-System-Use-Only parameter.
 * Only the ssm driver keeps it. A value the journal does not have is not written, so a first
 * start never puts a 0 over a deployment's previous_trained_images. */
static void mirror_system_state(struct daemon *d)
{
    if (strcmp(d->params->ops->name, "ssm") != 0)
        return;
    char v[700]; /* an ARN names the project and the version (255 each) */
    int64_t images = -1;
    if (rt_journal_state_get_i64(d->journal, RT_STATE_PREVIOUS_TRAINED, -1, &images) == 0 &&
        images >= 0 && rt_snprintf(v, sizeof(v), "%lld", (long long)images) == 0)
        rt_params_ssm_system_put(d->params, "previous_trained_images", v);
    /* An engine with ARNs (rekognition) mirrors them, as the reference solution does, once it
     * knows them (after a restart: once the active version was started again). */
    const char *(*arn)(struct rt_engine *, const char *) = d->engine ? d->engine->ops->arn : NULL;
    const char *project = arn ? arn(d->engine, NULL) : NULL;
    if (project && rt_snprintf(v, sizeof(v), "\"%s\"", project) == 0)
        rt_params_ssm_system_put(d->params, "rekognition_project_arn", v);
    struct rt_journal_model active;
    if (rt_journal_model_get_active(d->journal, &active) == 0) {
        const char *ref = arn ? arn(d->engine, active.version) : active.version;
        if (ref && rt_snprintf(v, sizeof(v), "\"%s\"", ref) == 0)
            rt_params_ssm_system_put(d->params, "rekognition_project_version_arn", v);
    }
}

static void transitioned(void *ud, const struct rt_transition *t)
{
    struct daemon *d = ud;
    rt_counters_transition(&d->counters, t);
    /* SWITCH commits the new active version and previous_trained_images */
    if (t->from && strcmp(t->workflow, "training") == 0 && strcmp(t->from, "SWITCH") == 0)
        mirror_system_state(d);
}

static void outbox_kick(void *ud)
{
    struct daemon *d = ud;
    if (d->outbox)
        rt_outbox_kick(d->outbox);
}

static void start_serving(struct daemon *d);

/*
 * Taking over a reference-solution deployment: on a journal that never deployed anything, with
 * the ssm parameters driver, the state the reference kept in For-System-Use-Only is adopted
 * before anything runs - previous_trained_images (so its images are not trained again) and,
 * with the rekognition engine, rekognition_project_version_arn as the active version. Later
 * starts skip this: from then on the journal is the source of truth and is mirrored there.
 */
static bool takeover_wanted(struct daemon *d)
{
    int64_t images = -1;
    struct rt_journal_model active;
    return strcmp(d->params->ops->name, "ssm") == 0 &&
           rt_journal_state_get_i64(d->journal, RT_STATE_PREVIOUS_TRAINED, -1, &images) == 0 &&
           images < 0 && rt_journal_model_get_active(d->journal, &active) == RT_ENOTFOUND;
}

/* The version name in a project version ARN (.../project/P/version/NAME/TIMESTAMP), or false. */
static bool version_name_of_arn(const char *arn, char *out, size_t size)
{
    const char *p = strstr(arn, "/version/");
    if (!p)
        return false;
    p += strlen("/version/");
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= size || p[n] != '/')
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static void takeover_written(int status, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    if (d->stopping)
        return;
    if (status) {
        char line[700], msg[600];
        rt_snprintf(line, sizeof(line), "cannot record the state taken over: %s",
                    err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status));
        start_error(line);
        shutdown_begin(d, 1);
        return;
    }
    start_serving(d);
}

static void takeover_read(int status, const cJSON *obj, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    if (d->stopping)
        return;
    if (status) {
        /* Starting without it could train the deployment's images again: refuse, clearly. */
        char line[700], msg[600];
        rt_snprintf(line, sizeof(line),
                    "cannot read For-System-Use-Only to take over its state: %s",
                    err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status));
        start_error(line);
        shutdown_begin(d, 1);
        return;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, "previous_trained_images");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "rekognition_project_version_arn");
    int64_t images = -1;
    if (cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 1e15)
        images = (int64_t)n->valuedouble;
    else if (cJSON_IsString(n) && n->valuestring[0] &&
             strspn(n->valuestring, "0123456789") == strlen(n->valuestring) &&
             strlen(n->valuestring) < 16)
        images = strtoll(n->valuestring, NULL, 10);
    char version[128] = "";
    if (strcmp(d->engine->ops->name, "rekognition") == 0 && cJSON_IsString(a) &&
        !version_name_of_arn(a->valuestring, version, sizeof(version)))
        RT_LOG(RT_LOG_WARNING, "daemon",
               "event=takeover_skipped key=rekognition_project_version_arn "
               "value=%s reason=\"not a project version ARN\"",
               rt_q(a->valuestring));
    struct rt_jbatch *b = NULL;
    int rc = (images >= 0 || version[0]) ? rt_jbatch_new(&b) : 0;
    int64_t now = rt_now_ms();
    if (!rc && b && images >= 0)
        rc = rt_jbatch_state_set_i64(b, RT_STATE_PREVIOUS_TRAINED, images);
    if (!rc && b && version[0]) {
        struct rt_journal_model m = {
            .f1 = -1, .images = images > 0 ? images : 0, .created_ms = now, .deployed_ms = now};
        rt_strlcpy(m.version, version, sizeof(m.version));
        rt_strlcpy(m.status, "RUNNING", sizeof(m.status));
        rc = rt_jbatch_model_put(b, &m);
        if (!rc)
            rc = rt_jbatch_model_set_active(b, version, now);
    }
    if (!b) {
        RT_LOG(RT_LOG_INFO, "daemon",
               "event=takeover_none reason=\"no state in For-System-Use-Only\"");
        start_serving(d);
        return;
    }
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=takeover previous_trained_images=%lld active=%s",
           (long long)images, rt_q(version));
    if (!rc)
        rc = rt_journal_submit(d->journal, b, takeover_written, d);
    else
        rt_jbatch_free(b);
    if (rc) {
        char line[300];
        rt_snprintf(line, sizeof(line), "cannot record the state taken over: %s", rt_strerror(rc));
        start_error(line);
        shutdown_begin(d, 1);
    }
}

static void
params_loaded(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct daemon *d = ud;
    if (d->stopping)
        return;
    char msg[600];
    if (status) {
        char line[700];
        rt_snprintf(line, sizeof(line), "cannot load the parameters: %s",
                    err ? rt_error_format(err, msg, sizeof(msg)) : rt_strerror(status));
        start_error(line);
        shutdown_begin(d, 1);
        return;
    }
    d->values = *values;
    if (takeover_wanted(d)) {
        int rc = rt_params_ssm_system_get(d->params, takeover_read, d);
        if (rc == 0)
            return; /* takeover_read goes on with start_serving */
        char line[300];
        rt_snprintf(line, sizeof(line), "cannot read For-System-Use-Only: %s", rt_strerror(rc));
        start_error(line);
        shutdown_begin(d, 1);
        return;
    }
    start_serving(d);
}

/* After the parameters (and a takeover, if any): resumes the executions, starts detection, the
 * control socket, the poll timer and the HTTP server, then says READY. */
static void start_serving(struct daemon *d)
{
    char msg[600];
    int rc = load_applied(d);
    if (rc) {
        char line[300];
        rt_snprintf(line, sizeof(line), "cannot read the journal: %s", rt_strerror(rc));
        start_error(line);
        shutdown_begin(d, 1);
        return;
    }

    /* The version that served before a restart serves again. */
    struct rt_journal_model active;
    if (rt_journal_model_get_active(d->journal, &active) == 0) {
        rc = d->engine->ops->start(d->engine, active.version,
                                   (int)d->values.v[RT_P_MIN_INFERENCE_UNITS].i,
                                   engine_active_started, d);
        if (rc)
            RT_LOG(RT_LOG_ERR, "daemon", "event=active_model_start_failed version=%s error=%s",
                   rt_q(active.version), rt_q(rt_strerror(rc)));
    }

    /* One GROUP BY now; from here on the machine's transitions keep the counts (counters.h). */
    rt_counters_load(&d->counters, d->journal);
    rc = rt_machine_resume(d->machine);
    if (rc)
        RT_LOG(RT_LOG_ERR, "daemon", "event=resume_failed error=%s", rt_q(rt_strerror(rc)));
    start_label_jobs(d); /* after the resume: a resumed job is not started twice */
    /* Detection starts after the resume: resumed detections keep their dispatch slots. */
    if (!d->review)
        RT_LOG(RT_LOG_WARNING, "daemon",
               "event=review_unavailable reason=\"no review driver: Enable-A2I-Workflow counts as "
               "false and sampling is skipped\"");
    rt_detect_start(d->detect);
    open_control(d);
    d->started = true;
    d->params->on_change = params_changed;
    d->params->on_change_ud = d;
    changes_to_executions(d); /* changed while we were down */
    mirror_system_state(d);
    /* The first check runs at start (unless disabled), then every poll period. */
    arm_poll(d, d->values.v[RT_P_ENABLE_TRAINING].b);
    take_requests(d);
    rt_outbox_kick(d->outbox); /* anything a crash left undelivered */

    uint64_t wd_usec = 0;
    if (rt_sd_watchdog_usec(&wd_usec)) {
        uv_timer_start(&d->watchdog_timer, on_watchdog, wd_usec / 2000, wd_usec / 2000);
        d->watchdog_on = true;
    }
    if (rt_daemon_http_wanted(d->cfg)) {
        struct rt_daemon_http_env he = {.loop = &d->loop,
                                        .cfg = d->cfg,
                                        .journal = d->journal,
                                        .store = d->store,
                                        .params = d->params,
                                        .values = &d->values,
                                        .review = d->review,
                                        .detect = d->detect,
                                        .counters = &d->counters,
                                        .label_job_created = http_label_job_created,
                                        .hook_ud = d};
        struct rt_error herr;
        rt_error_clear(&herr);
        rc = rt_daemon_http_start(&he, &d->http, &herr);
        if (rc) {
            start_error(rt_error_format(&herr, msg, sizeof(msg)));
            shutdown_begin(d, 1);
            return;
        }
    } else {
        rt_daemon_http_note_none(d->journal);
    }
    char ready[512];
    snprintf(ready, sizeof(ready), "READY=1\nSTATUS=watching %s, checking every %s",
             d->cfg->store.root ? d->cfg->store.root : "the store",
             d->values.v[RT_P_TRAINING_POLL].text);
    rt_sd_notify(ready);
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=ready data_dir=%s store=%s poll=%s poll_ms=%lld",
           rt_q(d->cfg->data_dir), rt_q(d->cfg->store.root), d->values.v[RT_P_TRAINING_POLL].text,
           (long long)d->poll_ms);
}

static int take_lock(struct daemon *d, struct rt_error *err)
{
    char path[4096];
    rt_snprintf(path, sizeof(path), "%s/%s", d->cfg->data_dir, RT_LOCK_FILE);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0) {
        int e = errno;
        char user[128];
        rt_user_name(user, sizeof(user));
        return rt_error_set(err, -e, "cannot open %s as user %s: %s", path, user, rt_strerror(-e));
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return rt_error_set(err, RT_EBUSY, "another retraind is already running on %s",
                            d->cfg->data_dir);
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(d->lock_fd, 0) == 0 && write(d->lock_fd, pid, (size_t)n) < 0)
        RT_LOG(RT_LOG_DEBUG, "daemon", "event=pid_write_failed");
    return 0;
}

static int make_dir(const char *path, const char *what, struct rt_error *err)
{
    int rc = rt_mkdir_p(path, 0700);
    if (rc) {
        char user[128];
        rt_user_name(user, sizeof(user));
        return rt_error_set(err, rc, "cannot create %s %s as user %s: %s", what, path, user,
                            rt_strerror(rc));
    }
    return rt_check_writable(path, what, err);
}

/* The journal must take a write: a daemon that cannot record what it does must not say READY. */
static int check_journal_writable(struct daemon *d, struct rt_error *err)
{
    int rc = rt_journal_state_set_i64(d->journal, "daemon_started_at", rt_now_ms());
    if (rc) {
        char user[128];
        rt_user_name(user, sizeof(user));
        return rt_error_set(err, rc, "the journal %s/%s is not writable by user %s",
                            d->cfg->data_dir, RT_JOURNAL_FILE, user);
    }
    return 0;
}

static int open_drivers(struct daemon *d, struct rt_error *err)
{
    struct rt_config *cfg = d->cfg;
    char models[4200];
    rt_snprintf(models, sizeof(models), "%s/models", cfg->data_dir);
    int rc = make_dir(cfg->data_dir, "the data folder", err);
    if (!rc)
        rc = take_lock(d, err);
    if (!rc)
        rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &d->journal, err);
    if (!rc)
        rc = check_journal_writable(d, err);
    if (!rc)
        rc = make_dir(models, "the models folder", err);
    if (!rc && cfg->store.driver == RT_STORE_LOCAL && cfg->store.root)
        rc = make_dir(cfg->store.root, "the store folder", err);
    if (!rc)
        rc = rt_journal_writer_start(d->journal, &d->loop, err);
    if (rc)
        return rc;

    d->env = (struct rt_driver_env){.loop = &d->loop, .cfg = cfg, .journal = d->journal};
    rc = rt_registry_new_store(&d->env, &d->store, err);
    if (rc)
        return rc;
    d->env.store = d->store;
    rc = rt_registry_new_engine(&d->env, &d->engine, &d->engine_poll_ms, err);
    struct rt_engine *metered = NULL; /* the model's running hours (model_meter.h) */
    if (!rc && (rc = rt_model_meter_new(d->engine, d->journal, &metered, err)) == 0)
        d->engine = metered;
    if (!rc)
        rc = rt_registry_new_params(&d->env, &d->params, err);
    if (!rc)
        rc = rt_registry_new_review(&d->env, &d->review, err);
    if (rc)
        return rc;

    d->notifiers = rt_calloc((size_t)cfg->n_notify + 1, sizeof(*d->notifiers));
    if (!d->notifiers)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    for (int i = 0; i < cfg->n_notify; i++) {
        rc = rt_registry_new_notifier(&d->env, i, &d->notifiers[d->n_notifiers], err);
        if (rc)
            return rc;
        d->n_notifiers++;
    }
    struct rt_outbox_opts oo = {.loop = &d->loop,
                                .journal = d->journal,
                                .notifiers = d->notifiers,
                                .n_notifiers = d->n_notifiers};
    rc = rt_outbox_new(&oo, &d->outbox);
    if (rc)
        return rt_error_set(err, rc, "out of memory");

    struct rt_workflow_env env = {
        .loop = &d->loop,
        .journal = d->journal,
        .store = d->store,
        .engine = d->engine,
        .review = d->review,
        .cfg = cfg,
        .params = &d->values,
        .outbox_kick = outbox_kick,
        .apply_param = apply_param,
        .transitioned = transitioned,
        .ud = d,
        .engine_poll_ms = d->engine_poll_ms,
    };
    rc = rt_machine_new(&env, &d->machine);
    if (!rc)
        rc = rt_detect_new(d->machine, &d->detect);
    return rc ? rt_error_set(err, rc, "out of memory") : 0;
}

/* ---- shutdown ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* The signal handlers stay until the very end: closing them earlier would give a second SIGTERM
 * (a double Ctrl-C, an impatient `systemctl stop`) its default action and kill a stop halfway. */
static void close_signals(struct daemon *d)
{
    close_handle((uv_handle_t *)&d->sig_term);
    close_handle((uv_handle_t *)&d->sig_int);
    close_handle((uv_handle_t *)&d->sig_hup);
}

static void journal_writer_closed(void *ud)
{
    struct daemon *d = ud;
    rt_journal_close(d->journal);
    d->journal = NULL;
    close_signals(d);
}

static void phase_done(void *ud)
{
    struct daemon *d = ud;
    if (--d->pending > 0)
        return;
    if (d->journal && rt_journal_writer_running(d->journal))
        rt_journal_writer_close(d->journal, journal_writer_closed, d);
    else
        close_signals(d); /* start-up failed before the writer ran */
}

static void drivers_close(struct daemon *d)
{
    /* Everything else can close side by side; the journal's writer closes last. */
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
    d->pending++;
    rt_driver_env_close(&d->env, phase_done, d);
    phase_done(d);
}

static void review_closed(void *ud)
{
    struct daemon *d = ud;
    d->review = NULL;
    drivers_close(d);
}

static void engine_closed(void *ud)
{
    struct daemon *d = ud;
    d->engine = NULL;
    /* The review driver reads and writes through the store: it closes before the store. */
    if (d->review)
        d->review->ops->close(d->review, review_closed, d);
    else
        review_closed(d);
}

static void outbox_closed(void *ud)
{
    struct daemon *d = ud;
    d->outbox = NULL;
    if (d->engine)
        d->engine->ops->close(d->engine, engine_closed, d);
    else
        engine_closed(d);
}

static void detect_closed(void *ud)
{
    struct daemon *d = ud;
    d->detect = NULL;
    if (d->outbox)
        rt_outbox_close(d->outbox, outbox_closed, d);
    else
        outbox_closed(d);
}

static void machine_closed(void *ud)
{
    struct daemon *d = ud;
    d->machine = NULL;
    /* The results not yet in detection-results/ are written before the store closes. */
    if (d->detect)
        rt_detect_close(d->detect, detect_closed, d);
    else
        detect_closed(d);
}

/* The HTTP server goes first: it answers from the drivers that close after it. */
static void http_closed(void *ud)
{
    struct daemon *d = ud;
    d->http = NULL;
    rt_detect_stop(d->detect);
    if (d->machine)
        rt_machine_close(d->machine, machine_closed, d);
    else
        machine_closed(d);
}

static void shutdown_begin(struct daemon *d, int exit_code)
{
    if (d->stopping)
        return;
    d->stopping = true;
    d->exit_code = exit_code;
    rt_sd_notify("STOPPING=1");
    RT_LOG(RT_LOG_NOTICE, "daemon", "event=stopping");
    close_handle((uv_handle_t *)&d->poll_timer);
    close_handle((uv_handle_t *)&d->watchdog_timer);
    if (d->control_open) {
        uv_close((uv_handle_t *)&d->control, NULL);
        d->control_open = false;
        char path[4096];
        control_path(d->cfg->data_dir, path, sizeof(path));
        unlink(path);
    }
    if (d->http)
        rt_daemon_http_close(d->http, http_closed, d);
    else
        http_closed(d);
}

static void log_open_handle(uv_handle_t *h, void *ud)
{
    (void)ud;
    RT_LOG(RT_LOG_CRIT, "daemon", "event=handle_left_open type=%s active=%d",
           uv_handle_type_name(h->type), uv_is_active(h));
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
    if (!rc)
        rc = rt_registry_check(d->cfg, &err);
    if (rc) {
        start_error(rt_error_format(&err, msg, sizeof(msg)));
        rt_config_destroy(d->cfg);
        rt_free(d);
        return 2;
    }
    d->config_path = rt_strdup(config_path);
    enum rt_log_level level;
    if (d->cfg->log_level && rt_log_level_parse(d->cfg->log_level, &level) == 0)
        rt_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit (ulimit -f, LimitFSIZE=) must fail a write with EFBIG, which the journal
     * and the store report, rather than kill the daemon mid-step. */
    signal(SIGXFSZ, SIG_IGN);

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
        start_error(rt_error_format(&err, msg, sizeof(msg)));
        shutdown_begin(d, 1);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (d->journal) /* start-up failed before the writer ran */
        rt_journal_close(d->journal);
    int closed = uv_loop_close(&d->loop);
    if (closed) {
        uv_walk(&d->loop, log_open_handle, NULL);
        RT_LOG(RT_LOG_CRIT, "daemon", "event=loop_not_closed error=%s", uv_err_name(closed));
        if (d->exit_code == 0)
            d->exit_code = 1; /* a stop that leaves work behind is not a clean stop */
    }
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
