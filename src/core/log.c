/*
 * log.c - key=value event lines on stderr (or journald's stdout stream).
 *
 * Design: a line is formatted into one buffer and written with one write(2), so lines from the
 * loop thread and the thread pool never interleave mid-line.
 */
#include "retraind/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/error.h"

#define MAX_OVERRIDES 16

static enum rt_log_level global_level = RT_LOG_NOTICE;
static struct {
    char name[16];
    enum rt_log_level level;
} overrides[MAX_OVERRIDES];
static int n_overrides;
static int log_fd = 2;
static int journald = -1; /* -1 unknown, 0 no, 1 yes */

static const char *level_names[] = {"emerg",   "alert",  "crit", "err",
                                    "warning", "notice", "info", "debug"};

void rt_log_set_level(enum rt_log_level level)
{
    global_level = level;
}

void rt_log_set_subsystem_level(const char *subsystem, enum rt_log_level level)
{
    for (int i = 0; i < n_overrides; i++) {
        if (strcmp(overrides[i].name, subsystem) == 0) {
            overrides[i].level = level;
            return;
        }
    }
    if (n_overrides < MAX_OVERRIDES) {
        rt_strlcpy(overrides[n_overrides].name, subsystem, sizeof(overrides[0].name));
        overrides[n_overrides++].level = level;
    }
}

bool rt_log_enabled(enum rt_log_level level, const char *subsystem)
{
    for (int i = 0; i < n_overrides; i++)
        if (strcmp(overrides[i].name, subsystem) == 0)
            return level <= overrides[i].level;
    return level <= global_level;
}

int rt_log_level_parse(const char *name, enum rt_log_level *out)
{
    for (int i = RT_LOG_CRIT; i <= RT_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum rt_log_level)i;
            return 0;
        }
    }
    return RT_EINVAL;
}

void rt_log_set_fd(int fd)
{
    log_fd = fd;
}

void rt_log_write(enum rt_log_level level, const char *subsystem, const char *fmt, ...)
{
    char line[2048];
    size_t n = 0;
    if (journald < 0)
        journald = getenv("JOURNAL_STREAM") != NULL;
    if (journald) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>%s ", (int)level, subsystem);
    } else {
        char ts[40];
        rt_time_rfc3339(rt_now_ms(), ts, sizeof(ts));
        n = (size_t)snprintf(line, sizeof(line), "%s %s %s ", ts, level_names[level], subsystem);
    }
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, n);
    (void)w;
}

const char *rt_q(const char *s)
{
    static _Thread_local char bufs[8][512];
    static _Thread_local unsigned next;
    if (!s)
        return "-";
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
            plain = false;
            break;
        }
    }
    if (plain && strlen(s) < 480)
        return s;
    char *out = bufs[next++ % 8];
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = s; *p && o < 480; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, 8, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o >= 480) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
