/*
 * clock.c - time sources and RFC 3339 formatting (UTC only; the daemon never uses local time).
 */
#include "retraind/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retraind/buf.h"
#include "retraind/error.h"

int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *rt_time_rfc3339(int64_t epoch_ms, char *out, size_t size)
{
    time_t secs = (time_t)(epoch_ms / 1000);
    int ms = (int)(epoch_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return out;
}

int rt_time_parse_rfc3339(const char *s, int64_t *epoch_ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int frac_len = 0;
    unsigned frac = 0;
    char tail[8] = "";
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    if (n != 6 || strlen(s) < 20)
        return RT_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_len < 3) {
                frac = frac * 10 + (unsigned)(*p - '0');
                frac_len++;
            }
            p++;
        }
        while (frac_len < 3) {
            frac *= 10;
            frac_len++;
        }
    }
    rt_strlcpy(tail, p, sizeof(tail));
    if (strcmp(tail, "Z") != 0)
        return RT_EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return RT_EINVAL;
    *epoch_ms = (int64_t)t * 1000 + frac;
    return 0;
}
