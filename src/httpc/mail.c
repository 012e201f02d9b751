/*
 * mail.c - one SMTP message through the client's curl multi handle.
 *
 * Builds an RFC 5322 message (Date, From, To, Subject, Message-ID, MIME-Version, Content-Type
 * text/plain UTF-8) and hands it to curl's smtp/smtps support as an upload. Header injection is
 * refused: any control character in the subject or an address is an error, not something to
 * strip. STARTTLS is required on smtp:// except towards a loopback host, where it is tried.
 */
#include "curl_api.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "httpc_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/log.h"

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool rt_httpc_url_is_loopback(const char *url)
{
    if (!url)
        return false;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    char host[256];
    size_t n;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return false;
        n = (size_t)(close - p - 1);
        p++;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        n = (size_t)((colon ? colon : end) - p);
    }
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) != 0;
    return false;
}

/* The bare address of "Name <a@b>" or "a@b" into out. Returns: 0 or RT_EINVAL. */
static int bare_address(const char *s, char *out, size_t size)
{
    const char *lt = strchr(s, '<');
    const char *a = s;
    size_t n = strlen(s);
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1] != '\0')
            return RT_EINVAL;
        a = lt + 1;
        n = (size_t)(gt - a);
    }
    if (n == 0 || n >= size || memchr(a, ' ', n) || memchr(a, '<', n) || memchr(a, ',', n) ||
        !memchr(a, '@', n))
        return RT_EINVAL;
    memcpy(out, a, n);
    out[n] = '\0';
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int append_b64(struct rt_buf *b, const unsigned char *p, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        rc = rt_buf_append(b, q, 4);
    }
    return rc;
}

/* Subject header value: as is when ASCII, else RFC 2047 B-words cut on UTF-8 boundaries. */
static int append_subject(struct rt_buf *b, const char *s)
{
    bool ascii = true;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            ascii = false;
    if (ascii)
        return rt_buf_append_str(b, s);
    size_t len = strlen(s), i = 0;
    int rc = 0;
    while (i < len && !rc) {
        size_t k = len - i > 45 ? 45 : len - i;
        /* do not split a UTF-8 sequence: back off over continuation bytes */
        while (i + k < len && k > 0 && ((unsigned char)s[i + k] & 0xC0) == 0x80)
            k--;
        if (k == 0)
            k = len - i > 45 ? 45 : len - i;
        if (i > 0)
            rc = rt_buf_append_str(b, "\r\n ");
        if (!rc)
            rc = rt_buf_append_str(b, "=?UTF-8?B?");
        if (!rc)
            rc = append_b64(b, (const unsigned char *)s + i, k);
        if (!rc)
            rc = rt_buf_append_str(b, "?=");
        i += k;
    }
    return rc;
}

/* Builds the whole message into out. Returns: 0 or an rt_buf error. */
static int build_message(const struct rt_httpc_mail *m, const char *from_domain, struct rt_buf *out)
{
    char date[64];
    time_t now = (time_t)(rt_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    rt_snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
    uint64_t rnd[2] = {0, 0};
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd[0] = (uint64_t)rt_mono_ms() * 2654435761u;

    int rc = rt_buf_printf(out, "Date: %s\r\nFrom: %s\r\nTo: ", date, m->from);
    for (int i = 0; i < m->n_to && !rc; i++)
        rc = rt_buf_printf(out, "%s%s", i ? ", " : "", m->to[i]);
    if (!rc)
        rc = rt_buf_append_str(out, "\r\nSubject: ");
    if (!rc)
        rc = append_subject(out, m->subject ? m->subject : "");
    if (!rc)
        rc = rt_buf_printf(out,
                           "\r\nMessage-ID: <%016llx%016llx.%lld@%s>\r\nMIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n\r\n",
                           (unsigned long long)rnd[0], (unsigned long long)rnd[1],
                           (long long)rt_now_ms(), from_domain);
    /* body: LF -> CRLF; curl escapes lines that start with a dot */
    const char *p = m->body ? m->body : "";
    for (; *p && !rc; p++) {
        if (*p == '\n' && (p == m->body || p[-1] != '\r'))
            rc = rt_buf_append_char(out, '\r');
        if (!rc)
            rc = rt_buf_append_char(out, *p);
    }
    if (!rc && (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0))
        rc = rt_buf_append_str(out, "\r\n");
    return rc;
}

int rt_httpc_send_mail(struct rt_httpc *h,
                       const struct rt_httpc_mail *m,
                       rt_httpc_mail_done_fn *cb,
                       void *ud,
                       struct rt_error *err)
{
    if (!m->url || (strncasecmp(m->url, "smtp://", 7) != 0 && strncasecmp(m->url, "smtps://", 8)))
        return rt_error_set(err, RT_EINVAL, "mail url must be smtp:// or smtps://");
    if (has_ctl(m->url))
        return rt_error_set(err, RT_EINVAL, "mail url holds a control character");
    if (!m->from || has_ctl(m->from))
        return rt_error_set(err, RT_EINVAL, "mail from address missing or holds CR/LF");
    if (m->subject && has_ctl(m->subject))
        return rt_error_set(err, RT_EINVAL, "mail subject holds CR, LF or a control character");
    if (m->n_to <= 0 || !m->to)
        return rt_error_set(err, RT_EINVAL, "mail has no recipient");
    char addr[320];
    if (bare_address(m->from, addr, sizeof(addr)))
        return rt_error_set(err, RT_EINVAL, "mail from address %s is not an address",
                            rt_q(m->from));
    const char *at = strrchr(addr, '@');
    char domain[256];
    rt_strlcpy(domain, at && at[1] ? at + 1 : "retraind.invalid", sizeof(domain));

    struct rt_httpc_req *r = rt__req_alloc();
    if (!r)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    r->is_mail = true;
    struct rt_buf msg;
    rt_buf_init(&msg, 16u << 20);
    int rc = 0;
    char from_env[330];
    rt_snprintf(from_env, sizeof(from_env), "<%s>", addr);
    r->mail_from = rt_strdup(from_env);
    r->url = rt_strdup(m->url);
    r->method = rt_strdup("MAIL");
    if (!r->mail_from || !r->url || !r->method)
        rc = RT_ENOMEM;
    for (int i = 0; i < m->n_to && !rc; i++) {
        char to[320], env[330];
        if (!m->to[i] || has_ctl(m->to[i]) || bare_address(m->to[i], to, sizeof(to))) {
            rt_httpc_req_free(r);
            return rt_error_set(err, RT_EINVAL, "mail recipient %s is not an address",
                                rt_q(m->to[i]));
        }
        rt_snprintf(env, sizeof(env), "<%s>", to);
        struct curl_slist *n = curl_slist_append(r->rcpt, env);
        if (!n)
            rc = RT_ENOMEM;
        else
            r->rcpt = n;
    }
    if (!rc && m->username) {
        r->username = rt_strdup(m->username);
        r->password = rt_strdup(m->password ? m->password : "");
        if (!r->username || !r->password)
            rc = RT_ENOMEM;
    }
    if (!rc && m->ca_file && !(r->ca_file = rt_strdup(m->ca_file)))
        rc = RT_ENOMEM;
    if (!rc)
        rc = build_message(m, domain, &msg);
    if (rc) {
        rt_buf_cleanup(&msg);
        rt_httpc_req_free(r);
        return rt_error_set(err, rc, "building the mail: %s", rt_strerror(rc));
    }
    r->body_len = msg.len;
    r->body_owned = rt_buf_detach(&msg);
    r->body = r->body_owned;
    if (strncasecmp(m->url, "smtps://", 8) == 0)
        r->use_ssl = (long)CURLUSESSL_ALL;
    else if (m->starttls && !rt_httpc_url_is_loopback(m->url))
        r->use_ssl = (long)CURLUSESSL_ALL;
    else
        r->use_ssl = (long)CURLUSESSL_TRY;
    /* no low-speed abort: an SMTP server may pause between replies */
    r->low_secs = 0;
    if (m->timeout_ms > 0)
        r->total_ms = m->timeout_ms;
    r->mail_done = cb;
    r->ud = ud;
    rc = rt__httpc_enqueue(h, r);
    if (rc)
        return rt_error_set(err, rc, "the HTTP client is closing");
    return 0;
}
