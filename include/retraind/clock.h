/*
 * clock.h - wall-clock and monotonic time, and RFC 3339 formatting.
 */
#ifndef RETRAIND_CLOCK_H
#define RETRAIND_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Returns: milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t rt_now_ms(void);
/* Returns: milliseconds from an arbitrary start (CLOCK_MONOTONIC), for durations. */
int64_t rt_mono_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out (at least 32 bytes). Returns: out. */
char *rt_time_rfc3339(int64_t epoch_ms, char *out, size_t size);
/* Parses an RFC 3339 UTC time as written by rt_time_rfc3339 (fraction optional).
 * Returns: 0 or RT_EINVAL. */
int rt_time_parse_rfc3339(const char *s, int64_t *epoch_ms);

#endif
