/*
 * error.c - names and sentences for error codes, and the first-failure-wins error record.
 */
#include "retraind/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "retraind/buf.h"

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry rt_errors[] = {
    {RT_OK, "RT_OK", "success"},
    {RT_ECONFIG, "RT_ECONFIG", "configuration is invalid"},
    {RT_EUSAGE, "RT_EUSAGE", "usage error"},
    {RT_EINVAL, "RT_EINVAL", "invalid value"},
    {RT_ENOMEM, "RT_ENOMEM", "out of memory"},
    {RT_ETOOBIG, "RT_ETOOBIG", "size limit exceeded"},
    {RT_EKEY, "RT_EKEY", "store key refused"},
    {RT_ENOTFOUND, "RT_ENOTFOUND", "not found"},
    {RT_EJOURNAL, "RT_EJOURNAL", "journal failure"},
    {RT_EIO, "RT_EIO", "input/output error"},
    {RT_EIMAGE, "RT_EIMAGE", "image is corrupt, truncated or not an image"},
    {RT_EENGINE, "RT_EENGINE", "engine failure"},
    {RT_EAWS, "RT_EAWS", "AWS returned an error"},
    {RT_ETHROTTLED, "RT_ETHROTTLED", "throttled"},
    {RT_ETIMEDOUT, "RT_ETIMEDOUT", "timed out"},
    {RT_ENETWORK, "RT_ENETWORK", "network failure"},
    {RT_ESIGNATURE, "RT_ESIGNATURE", "request signature rejected"},
    {RT_ECREDENTIALS, "RT_ECREDENTIALS", "no credentials found"},
    {RT_ENOTIMPL, "RT_ENOTIMPL", "not implemented yet"},
    {RT_EBUSY, "RT_EBUSY", "already in progress"},
    {RT_ECANCELED, "RT_ECANCELED", "cancelled"},
    {RT_EPARSE, "RT_EPARSE", "could not parse"},
    {RT_ESMTP, "RT_ESMTP", "mail delivery failed"},
};

static const struct err_entry *find(int code)
{
    for (size_t i = 0; i < sizeof(rt_errors) / sizeof(rt_errors[0]); i++)
        if (rt_errors[i].code == code)
            return &rt_errors[i];
    return NULL;
}

const char *rt_strerror(int code)
{
    const struct err_entry *e = find(code);
    if (e)
        return e->text;
    if (code < 0 && code > RT_EBASE)
        return strerrordesc_np(-code) ? strerrordesc_np(-code) : "unknown error";
    return "unknown error";
}

const char *rt_err_name(int code)
{
    const struct err_entry *e = find(code);
    if (e)
        return e->name;
    if (code < 0 && code > RT_EBASE && strerrorname_np(-code))
        return strerrorname_np(-code);
    return "RT_EUNKNOWN";
}

void rt_error_clear(struct rt_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

static void vset(struct rt_error *err, int code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int rt_error_set(struct rt_error *err, int code, const char *fmt, ...)
{
    if (!err || err->code != 0)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int rt_error_set_at(
    struct rt_error *err, int code, const char *file, int line, int col, const char *fmt, ...)
{
    if (!err || err->code != 0)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    rt_strlcpy(err->file, file ? file : "", sizeof(err->file));
    err->line = line;
    err->col = col;
    return code;
}

const char *rt_error_format(const struct rt_error *err, char *out, size_t size)
{
    if (!err || err->code == 0) {
        rt_strlcpy(out, "no error", size);
        return out;
    }
    const char *msg = err->msg[0] ? err->msg : rt_strerror(err->code);
    if (err->file[0]) {
        rt_snprintf(out, size, "%s:%d:%d: %s", err->file, err->line, err->col, msg);
    } else if (err->aws_code[0] || err->http_status) {
        rt_snprintf(
            out, size, "%s (%s%s%s%s, HTTP %d)", msg, err->aws_code[0] ? err->aws_code : "no code",
            err->request_id[0] ? ", request id " : "", err->request_id, "", err->http_status);
    } else {
        rt_strlcpy(out, msg, size);
    }
    return out;
}
