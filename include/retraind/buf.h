/*
 * buf.h - borrowed string views and bounded growable buffers.
 *
 * struct rt_str is a borrowed view passed by value (never owns memory). struct rt_buf owns its
 * memory and has a maximum size fixed at init: appending past it fails with RT_ETOOBIG instead of
 * growing without bound, so a hostile reply cannot exhaust memory.
 */
#ifndef RETRAIND_BUF_H
#define RETRAIND_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct rt_str {
    const char *p; /* borrowed */
    size_t len;
};

#define RT_STR_LIT(s) ((struct rt_str){(s), sizeof(s) - 1})
/* Returns: a view of the NUL-terminated s (NULL gives an empty view). */
struct rt_str rt_str_c(const char *s);
bool rt_str_eq(struct rt_str a, struct rt_str b);
bool rt_str_eq_c(struct rt_str a, const char *c);
bool rt_str_starts_with(struct rt_str s, const char *prefix);
bool rt_str_ends_with_ci(struct rt_str s, const char *suffix);

struct rt_buf {
    char *data; /* owned; always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max_bytes; /* appends beyond this fail with RT_ETOOBIG */
};

/* Initialises an empty buffer that may hold at most max_bytes (excluding the NUL). */
void rt_buf_init(struct rt_buf *b, size_t max_bytes);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void rt_buf_cleanup(struct rt_buf *b);
/* As rt_buf_cleanup but wipes the bytes first (for secrets). */
void rt_buf_cleanup_secret(struct rt_buf *b);
void rt_buf_reset(struct rt_buf *b);
/* Returns: 0, RT_ENOMEM or RT_ETOOBIG (buffer unchanged on failure). */
int rt_buf_append(struct rt_buf *b, const void *p, size_t len);
int rt_buf_append_str(struct rt_buf *b, const char *s);
int rt_buf_append_char(struct rt_buf *b, char c);
int rt_buf_printf(struct rt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rt_buf_vprintf(struct rt_buf *b, const char *fmt, va_list ap);
/* Hands the data over: Returns: the NUL-terminated string (caller frees with rt_free()), and the
 * buffer is empty afterwards. Returns an empty allocated string for an empty buffer. */
char *rt_buf_detach(struct rt_buf *b);

/*
 * Writes s[0..len) into out as a double-quoted string that is safe to show anywhere (a log line,
 * an error message): printable ASCII as is with " and \ escaped, every other byte as \xHH, cut
 * with "..." inside the quotes after max_shown input bytes or when out is full (size >= 16).
 * Returns: out.
 */
const char *rt_quote_bytes(const char *s, size_t len, size_t max_shown, char *out, size_t size);

/* Bounded formatting into a fixed array: always NUL-terminates; returns -RT_ETOOBIG-style
 * RT_ETOOBIG if truncated, else 0. Use instead of sprintf/strcpy. */
int rt_snprintf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies src into out of size bytes. Returns: 0, or RT_ETOOBIG if truncated. */
int rt_strlcpy(char *out, const char *src, size_t size);

#endif
