/*
 * smtp.c - the SMTP notifier: each event becomes one plain-text mail sent through httpc.
 *
 * Subject and body come from rt_event_format. Username and password come from the config or else
 * from RETRAIND_SMTP_USERNAME / RETRAIND_SMTP_PASSWORD; the password is wiped when the notifier is
 * freed and never logged. A delivery failure is logged and reported to the caller's callback; it
 * never fails the workflow that raised the event.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "retraind/notify.h"

struct smtp_notifier {
    struct rt_notifier base;
    uv_loop_t *loop;
    struct rt_httpc *httpc;
    char *url, *from, *username, *password, *ca_file;
    char **to;
    int n_to;
    bool starttls;
    int in_flight;
    bool closing;
    void (*close_cb)(void *ud);
    void *close_ud;
};

struct smtp_send {
    struct smtp_notifier *n;
    char event[48];
    rt_notify_done_fn *cb;
    void *ud;
};

static void smtp_free(struct smtp_notifier *n)
{
    rt_free(n->url);
    rt_free(n->from);
    rt_free(n->username);
    rt_free_secret_str(n->password);
    rt_free(n->ca_file);
    for (int i = 0; i < n->n_to; i++)
        rt_free(n->to[i]);
    rt_free(n->to);
    rt_free(n);
}

static void maybe_finish_close(struct smtp_notifier *n)
{
    if (!n->closing || n->in_flight > 0)
        return;
    void (*cb)(void *) = n->close_cb;
    void *ud = n->close_ud;
    smtp_free(n);
    if (cb)
        cb(ud);
}

static void mail_done(int status, const struct rt_error *err, void *ud)
{
    struct smtp_send *s = ud;
    struct smtp_notifier *n = s->n;
    if (status == 0) {
        RT_LOG(RT_LOG_INFO, "notify", "event=mail_sent driver=smtp notification=%s recipients=%d",
               s->event, n->n_to);
    } else {
        char msg[700];
        rt_error_format(err, msg, sizeof(msg));
        RT_LOG(RT_LOG_WARNING, "notify", "event=mail_failed driver=smtp notification=%s error=%s",
               s->event, rt_q(msg));
    }
    if (s->cb)
        s->cb(status, err, s->ud);
    rt_free(s);
    n->in_flight--;
    maybe_finish_close(n);
}

static int
smtp_send(struct rt_notifier *base, const struct rt_event *ev, rt_notify_done_fn *cb, void *ud)
{
    struct smtp_notifier *n = (struct smtp_notifier *)base;
    if (n->closing)
        return RT_ECANCELED;
    struct rt_buf subject, body;
    rt_buf_init(&subject, 1024);
    rt_buf_init(&body, 64 << 10);
    int rc = rt_event_format(ev, &subject, &body);
    struct smtp_send *s = NULL;
    if (!rc) {
        s = rt_calloc(1, sizeof(*s));
        if (!s)
            rc = RT_ENOMEM;
    }
    if (!rc) {
        s->n = n;
        s->cb = cb;
        s->ud = ud;
        rt_strlcpy(s->event, rt_event_name(ev->kind), sizeof(s->event));
        struct rt_httpc_mail m = {
            .url = n->url,
            .from = n->from,
            .to = (const char *const *)n->to,
            .n_to = n->n_to,
            .subject = subject.data ? subject.data : "",
            .body = body.data ? body.data : "",
            .username = n->username,
            .password = n->password,
            .starttls = n->starttls,
            .ca_file = n->ca_file,
        };
        struct rt_error err;
        rt_error_clear(&err);
        rc = rt_httpc_send_mail(n->httpc, &m, mail_done, s, &err);
        if (rc) {
            char msg[700];
            rt_error_format(&err, msg, sizeof(msg));
            RT_LOG(RT_LOG_WARNING, "notify",
                   "event=mail_failed driver=smtp notification=%s error=%s", s->event, rt_q(msg));
            rt_free(s);
        } else {
            n->in_flight++;
        }
    }
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&body);
    return rc;
}

static void smtp_close(struct rt_notifier *base, void (*cb)(void *ud), void *ud)
{
    struct smtp_notifier *n = (struct smtp_notifier *)base;
    n->closing = true;
    n->close_cb = cb;
    n->close_ud = ud;
    /* mails in flight finish (or are cancelled by the httpc's own close) before n is freed */
    maybe_finish_close(n);
}

static const struct rt_notifier_ops smtp_ops = {
    .name = "smtp",
    .send = smtp_send,
    .close = smtp_close,
};

/* Returns: a copy of s, or of the environment variable env when s is NULL; NULL when neither. */
static char *from_cfg_or_env(const char *s, const char *env, bool *nomem)
{
    const char *v = s ? s : getenv(env);
    if (!v || !*v)
        return NULL;
    char *c = rt_strdup(v);
    if (!c)
        *nomem = true;
    return c;
}

int rt_notifier_smtp_new(struct uv_loop_s *loop,
                         struct rt_httpc *httpc,
                         const struct rt_config_notify *cfg,
                         struct rt_notifier **out,
                         struct rt_error *err)
{
    *out = NULL;
    if (!httpc)
        return rt_error_set(err, RT_EINVAL, "notify smtp: no HTTP client");
    if (!cfg->url || !cfg->from || cfg->n_to <= 0)
        return rt_error_set(err, RT_ECONFIG, "notify smtp: url, from and to are required");
    struct smtp_notifier *n = rt_calloc(1, sizeof(*n));
    if (!n)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    n->base.ops = &smtp_ops;
    n->loop = loop;
    n->httpc = httpc;
    n->starttls = cfg->starttls;
    bool nomem = false;
    n->url = rt_strdup(cfg->url);
    n->from = rt_strdup(cfg->from);
    n->ca_file = cfg->ca_file ? rt_strdup(cfg->ca_file) : NULL;
    n->username = from_cfg_or_env(cfg->username, "RETRAIND_SMTP_USERNAME", &nomem);
    n->password = from_cfg_or_env(cfg->password, "RETRAIND_SMTP_PASSWORD", &nomem);
    n->to = rt_calloc((size_t)cfg->n_to, sizeof(char *));
    if (!n->url || !n->from || (cfg->ca_file && !n->ca_file) || !n->to)
        nomem = true;
    for (int i = 0; n->to && i < cfg->n_to; i++) {
        n->to[i] = rt_strdup(cfg->to[i]);
        if (!n->to[i])
            nomem = true;
        n->n_to = i + 1;
    }
    if (nomem) {
        smtp_free(n);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    RT_LOG(RT_LOG_INFO, "notify", "event=notifier_ready driver=smtp recipients=%d auth=%s", n->n_to,
           n->username ? "yes" : "no");
    *out = &n->base;
    return 0;
}
