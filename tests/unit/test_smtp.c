/*
 * test_smtp.c - the SMTP notifier and rt_httpc_send_mail against a real SMTP server on loopback
 * (tests/servers/smtp_sink.py around Debian's python3-aiosmtpd, which saves what it receives).
 */
#include <dirent.h>
#include <fcntl.h>
#include <uv.h>

#include "../servers/spawn.h"
#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/log.h"
#include "retraind/notify.h"
#include "rt_test.h"

static struct rt_test_server srv;
static uv_loop_t loop;
static struct rt_httpc *hc;
static char maildir[512];

/* Starts the sink (with AUTH when user is set); skips the case when aiosmtpd is missing. */
static void start(const char *user, const char *password)
{
    snprintf(maildir, sizeof(maildir), "%s", rt_test_tmpdir());
    const char *args[6] = {maildir, NULL};
    if (user) {
        args[1] = "--user";
        args[2] = user;
        args[3] = "--password";
        args[4] = password;
    }
    int rc = rt_test_server_start(&srv, "smtp_sink.py", args);
    if (rc == 77)
        RT_SKIP("python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
    RT_ASSERT_INT_EQ(rc, 0);
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_httpc_opts o = {.backoff_base_ms = 10};
    RT_ASSERT_OK(rt_httpc_new(&loop, &o, &hc, &err));
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static void finish(void)
{
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_test_server_stop(&srv);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* Reads maildir/<name> into out. Returns: bytes read, or -1 when absent. */
static long read_file(const char *name, char *out, size_t size)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", maildir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = '\0';
    return (long)n;
}

static int count_messages(void)
{
    DIR *d = opendir(maildir);
    RT_ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".eml") && !strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

struct sent {
    int done;
    int status;
    struct rt_error err;
};

static void on_sent(int status, const struct rt_error *err, void *ud)
{
    struct sent *s = ud;
    s->done++;
    s->status = status;
    if (err)
        s->err = *err;
}

static void notifier_closed(void *ud)
{
    (*(int *)ud)++;
}

static struct rt_event deployed_event(void)
{
    struct rt_event ev = {
        .kind = RT_EV_DEPLOYED,
        .exec_id = "exec-42",
        .workflow = "training",
        .state = "SWITCH",
        .version = "v2",
        .previous_version = "v1",
        .f1 = 0.93,
        .at_ms = 1700000000000LL,
    };
    return ev;
}

static void send_via_notifier(struct rt_config_notify *cfg, struct sent *s)
{
    struct rt_notifier *n = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_notifier_smtp_new(&loop, hc, cfg, &n, &err));
    RT_ASSERT_STR_EQ(n->ops->name, "smtp");
    struct rt_event ev = deployed_event();
    memset(s, 0, sizeof(*s));
    RT_ASSERT_OK(n->ops->send(n, &ev, on_sent, s));
    RT_ASSERT_INT_EQ(s->done, 0); /* never from inside send */
    while (!s->done)
        uv_run(&loop, UV_RUN_ONCE);
    int closed = 0;
    n->ops->close(n, notifier_closed, &closed);
    RT_ASSERT_INT_EQ(closed, 1);
}

RT_TEST(notifier_delivers_subject_and_body)
{
    start("mailer", "s3cret-pw");
    char url[128];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", srv.port);
    char *to[] = {"ops@example.com", "Second Person <second@example.com>"};
    struct rt_config_notify cfg = {
        .driver = RT_NOTIFY_SMTP,
        .url = url,
        .from = "retraind <retraind@example.com>",
        .to = to,
        .n_to = 2,
        .username = "mailer",
        .password = "s3cret-pw",
        .starttls = true, /* loopback: tried, not required */
    };
    struct sent s;
    send_via_notifier(&cfg, &s);
    RT_ASSERT_INT_EQ(s.status, 0);
    RT_ASSERT_INT_EQ(count_messages(), 1);
    char msg[16384], meta[4096];
    RT_ASSERT(read_file("msg-1.eml", msg, sizeof(msg)) > 0);
    RT_ASSERT_CONTAINS(msg, "Subject: [retraind] Deployed: v2 (F1 0.930)\r\n");
    RT_ASSERT_CONTAINS(msg, "Model version v2 (F1 0.930) is now the active model.\r\n");
    RT_ASSERT_CONTAINS(msg, "Previous version: v1 (stopped).");
    RT_ASSERT_CONTAINS(msg, "retraind history exec-42");
    RT_ASSERT_CONTAINS(msg, "From: retraind <retraind@example.com>\r\n");
    RT_ASSERT_CONTAINS(msg, "To: ops@example.com, Second Person <second@example.com>\r\n");
    RT_ASSERT_CONTAINS(msg, "MIME-Version: 1.0\r\n");
    RT_ASSERT_CONTAINS(msg, "Content-Type: text/plain; charset=utf-8\r\n");
    RT_ASSERT_CONTAINS(msg, "Message-ID: <");
    RT_ASSERT_CONTAINS(msg, "@example.com>\r\n");
    RT_ASSERT_CONTAINS(msg, "Date: ");
    RT_ASSERT(strstr(msg, "s3cret-pw") == NULL);
    RT_ASSERT(read_file("msg-1.json", meta, sizeof(meta)) > 0);
    RT_ASSERT_CONTAINS(meta, "\"mail_from\": \"retraind@example.com\"");
    RT_ASSERT_CONTAINS(meta, "\"ops@example.com\"");
    RT_ASSERT_CONTAINS(meta, "\"second@example.com\"");
    RT_ASSERT_CONTAINS(meta, "\"auth_user\": \"mailer\"");
    finish();
}

RT_TEST(credentials_from_the_environment)
{
    start("envuser", "envpass");
    setenv("RETRAIND_SMTP_USERNAME", "envuser", 1);
    setenv("RETRAIND_SMTP_PASSWORD", "envpass", 1);
    char url[128];
    snprintf(url, sizeof(url), "smtp://localhost:%d", srv.port);
    char *to[] = {"ops@example.com"};
    struct rt_config_notify cfg = {.driver = RT_NOTIFY_SMTP,
                                   .url = url,
                                   .from = "r@example.com",
                                   .to = to,
                                   .n_to = 1,
                                   .starttls = true};
    struct sent s;
    send_via_notifier(&cfg, &s);
    RT_ASSERT_INT_EQ(s.status, 0);
    char meta[4096];
    RT_ASSERT(read_file("msg-1.json", meta, sizeof(meta)) > 0);
    RT_ASSERT_CONTAINS(meta, "\"auth_user\": \"envuser\"");
    unsetenv("RETRAIND_SMTP_USERNAME");
    unsetenv("RETRAIND_SMTP_PASSWORD");
    finish();
}

RT_TEST(wrong_password_fails_and_is_not_logged)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/log.txt", rt_test_tmpdir());
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    RT_ASSERT(fd >= 0);
    rt_log_set_fd(fd);
    rt_log_set_level(RT_LOG_DEBUG);
    start("mailer", "right");
    char url[128];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", srv.port);
    char *to[] = {"ops@example.com"};
    struct rt_config_notify cfg = {.driver = RT_NOTIFY_SMTP,
                                   .url = url,
                                   .from = "r@example.com",
                                   .to = to,
                                   .n_to = 1,
                                   .username = "mailer",
                                   .password = "WRONG-PASSWORD-XYZ",
                                   .starttls = true};
    struct sent s;
    send_via_notifier(&cfg, &s);
    RT_ASSERT_INT_EQ(s.status, RT_ESMTP);
    RT_ASSERT_INT_EQ(s.err.code, RT_ESMTP);
    RT_ASSERT_INT_EQ(count_messages(), 0);
    finish();
    rt_log_set_fd(2);
    close(fd);
    char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    RT_ASSERT_CONTAINS(buf, "event=mail_failed");
    RT_ASSERT(strstr(buf, "WRONG-PASSWORD-XYZ") == NULL);
}

RT_TEST(send_mail_utf8_subject_and_dot_lines)
{
    start(NULL, NULL);
    char url[128];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", srv.port);
    const char *to[] = {"ops@example.com"};
    struct rt_httpc_mail m = {
        .url = url,
        .from = "r@example.com",
        .to = to,
        .n_to = 1,
        .subject = "Mod\xc3\xa8le d\xc3\xa9ploy\xc3\xa9",
        .body = "line one\n.\n.leading dot\nlast line without newline",
        .starttls = true,
    };
    struct sent s = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_httpc_send_mail(hc, &m, on_sent, &s, &err));
    while (!s.done)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(s.status, 0);
    char msg[16384];
    RT_ASSERT(read_file("msg-1.eml", msg, sizeof(msg)) > 0);
    /* "Modèle déployé" in an RFC 2047 B-word */
    RT_ASSERT_CONTAINS(msg, "Subject: =?UTF-8?B?TW9kw6hsZSBkw6lwbG95w6k=?=\r\n");
    /* the server un-stuffs dots: the lines arrive as written */
    RT_ASSERT_CONTAINS(msg, "line one\r\n.\r\n.leading dot\r\nlast line without newline");
    finish();
}

RT_TEST(header_injection_is_refused)
{
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_httpc_new(&loop, NULL, &hc, &err));
    const char *to[] = {"ops@example.com"};
    const char *bad_to[] = {"ops@example.com\r\nBcc: victim@example.com"};
    struct rt_httpc_mail m = {.url = "smtp://127.0.0.1:1",
                              .from = "r@example.com",
                              .to = to,
                              .n_to = 1,
                              .subject = "hi\r\nBcc: victim@example.com",
                              .body = "x"};
    RT_ASSERT_INT_EQ(rt_httpc_send_mail(hc, &m, on_sent, NULL, &err), RT_EINVAL);
    rt_error_clear(&err);
    m.subject = "ok";
    m.to = bad_to;
    RT_ASSERT_INT_EQ(rt_httpc_send_mail(hc, &m, on_sent, NULL, &err), RT_EINVAL);
    rt_error_clear(&err);
    m.to = to;
    m.from = "r@example.com\nX: y";
    RT_ASSERT_INT_EQ(rt_httpc_send_mail(hc, &m, on_sent, NULL, &err), RT_EINVAL);
    rt_error_clear(&err);
    m.from = "r@example.com";
    m.url = "http://127.0.0.1:1/";
    RT_ASSERT_INT_EQ(rt_httpc_send_mail(hc, &m, on_sent, NULL, &err), RT_EINVAL);
    rt_error_clear(&err);
    m.url = "smtp://127.0.0.1:1";
    m.n_to = 0;
    RT_ASSERT_INT_EQ(rt_httpc_send_mail(hc, &m, on_sent, NULL, &err), RT_EINVAL);
    int closed = 0;
    rt_httpc_close(hc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(starttls_required_for_remote_hosts)
{
    /* The sink offers no STARTTLS. "mail.localhost" is not one of the names httpc treats as
     * loopback, so STARTTLS is required and the mail must not go out in clear text; curl still
     * resolves *.localhost to 127.0.0.1, so nothing leaves the machine. */
    start(NULL, NULL);
    RT_ASSERT(!rt_httpc_url_is_loopback("smtp://mail.localhost:25"));
    char url[128];
    snprintf(url, sizeof(url), "smtp://mail.localhost:%d", srv.port);
    const char *to[] = {"ops@example.com"};
    struct rt_httpc_mail m = {.url = url,
                              .from = "r@example.com",
                              .to = to,
                              .n_to = 1,
                              .subject = "s",
                              .body = "b",
                              .starttls = true};
    struct sent s = {0};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_httpc_send_mail(hc, &m, on_sent, &s, &err));
    while (!s.done)
        uv_run(&loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(s.status, RT_ESMTP);
    RT_ASSERT_INT_EQ(count_messages(), 0);
    finish();
}
