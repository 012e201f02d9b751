/*
 * log.h - one line per event, level plus key=value pairs.
 *
 * Levels are syslog's. Each line names its subsystem (core, journal, httpc, aws, store, engine,
 * review, notify, workflow, http, daemon, config, params, sigv4), which can be raised to debug
 * alone with rt_log_set_subsystem_level. Messages are key=value, event first:
 *     RT_LOG(RT_LOG_NOTICE, "workflow", "event=step exec=%s state=%s", id, state);
 * A value that may hold spaces or quotes goes through rt_q(), which quotes and escapes it.
 * Nothing that holds a secret may ever be passed to these functions.
 *
 * Output goes to stderr. Under systemd (JOURNAL_STREAM set) each line starts with the "<N>"
 * priority prefix that journald parses and the timestamp is left out (journald adds its own).
 */
#ifndef RETRAIND_LOG_H
#define RETRAIND_LOG_H

#include <stdbool.h>

enum rt_log_level {
    RT_LOG_CRIT = 2,
    RT_LOG_ERR = 3,
    RT_LOG_WARNING = 4,
    RT_LOG_NOTICE = 5,
    RT_LOG_INFO = 6,
    RT_LOG_DEBUG = 7
};

/* Sets the level for all subsystems (default notice). */
void rt_log_set_level(enum rt_log_level level);
/* Raises or lowers one subsystem; at most 16 overrides are kept. */
void rt_log_set_subsystem_level(const char *subsystem, enum rt_log_level level);
/* Returns: true if a message of this level for subsystem would be written. */
bool rt_log_enabled(enum rt_log_level level, const char *subsystem);
/* Parses "err", "warning", "notice", "info", "debug". Returns: 0 or RT_EINVAL. */
int rt_log_level_parse(const char *name, enum rt_log_level *out);
/* Redirects output to fd (default 2); tests use it to capture lines. */
void rt_log_set_fd(int fd);

void rt_log_write(enum rt_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the level before any argument is evaluated or formatted. */
#define RT_LOG(level, subsystem, ...)                                                              \
    do {                                                                                           \
        if (rt_log_enabled((level), (subsystem)))                                                  \
            rt_log_write((level), (subsystem), __VA_ARGS__);                                       \
    } while (0)

/*
 * Returns: s ready to stand as a log value: unchanged if it has no space, quote, '=' or control
 * character, otherwise wrapped in double quotes with ", \ and control characters escaped. NULL
 * gives "-". Borrowed: points into one of 8 thread-local buffers reused in turn, so up to 8 rt_q
 * results may appear in one log call. Long values are cut at 480 bytes with "...".
 */
const char *rt_q(const char *s);

#endif
