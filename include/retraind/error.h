/*
 * error.h - retraind's error codes and the error detail record.
 *
 * A function that can fail returns int: 0 on success, a negative code on failure. Codes are
 * either -errno (so libuv results pass straight through) or one of enum rt_err below. Numbers are
 * stable: a retired code stays in the enum as a placeholder.
 *
 * Detail travels beside the code in struct rt_error. The first failure fills it; later ones do
 * not overwrite it (rt_error_set is a no-op once code != 0), so the root cause survives.
 */
#ifndef RETRAIND_ERROR_H
#define RETRAIND_ERROR_H

#include <stddef.h>

enum rt_err {
    RT_OK = 0,
    RT_EBASE = -10000,
    RT_ECONFIG = -10001,      /* configuration is invalid */
    RT_EUSAGE = -10002,       /* command line usage error */
    RT_EINVAL = -10003,       /* invalid argument or value */
    RT_ENOMEM = -10004,       /* out of memory */
    RT_ETOOBIG = -10005,      /* a buffer or body would exceed its maximum */
    RT_EKEY = -10006,         /* a store key is refused (absolute, .., control char) */
    RT_ENOTFOUND = -10007,    /* no such object, execution, version or parameter */
    RT_EJOURNAL = -10008,     /* the journal (SQLite) failed */
    RT_EIO = -10009,          /* file or device I/O failed */
    RT_EIMAGE = -10010,       /* an image is corrupt, truncated or not an image */
    RT_EENGINE = -10011,      /* the engine rejected the data or failed */
    RT_EAWS = -10012,         /* AWS answered with an error (see aws_code) */
    RT_ETHROTTLED = -10013,   /* throttled after retries */
    RT_ETIMEDOUT = -10014,    /* a timeout fired */
    RT_ENETWORK = -10015,     /* connection failed or reset */
    RT_ESIGNATURE = -10016,   /* request signature rejected */
    RT_ECREDENTIALS = -10017, /* no credentials could be found */
    RT_ENOTIMPL = -10018,     /* the feature or driver is not built yet */
    RT_EBUSY = -10019,        /* already in progress (e.g. a training in flight) */
    RT_ECANCELED = -10020,    /* cancelled by shutdown */
    RT_EPARSE = -10021,       /* a reply or file could not be parsed */
    RT_ESMTP = -10022,        /* the mail server refused or failed */
    RT_ELAST = -10023
};

/* Detail of a failure. Fixed-size so it can live on the stack and cross threads by copy. */
struct rt_error {
    int code;            /* 0 while no failure was recorded */
    char msg[512];       /* human sentence, no trailing newline; never contains a secret */
    char aws_code[96];   /* AWS error code, e.g. "ThrottlingException", or "" */
    char request_id[96]; /* AWS request id, or "" */
    int http_status;     /* HTTP status of the failing reply, or 0 */
    char file[256];      /* config file of a config error, or "" */
    int line, col;       /* 1-based position in file, or 0 */
};

/* Returns: a static sentence describing code (never NULL). Works for -errno values too. */
const char *rt_strerror(int code);
/* Returns: the static symbol of code, e.g. "RT_ECONFIG" or "ENOENT" (never NULL). */
const char *rt_err_name(int code);

/* Clears err (code = 0). */
void rt_error_clear(struct rt_error *err);
/*
 * Records a failure in err unless one is already recorded (first failure wins).
 * err may be NULL. Returns: code, so callers can write `return rt_error_set(err, RT_EINVAL, ...)`.
 */
int rt_error_set(struct rt_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As rt_error_set, plus the config position. Returns: code. */
int rt_error_set_at(
    struct rt_error *err, int code, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/*
 * Formats err for a person: "file:line:col: msg" for config errors, "msg (AWS Code, request id R,
 * HTTP 503)" for AWS errors, plain msg otherwise. Writes at most size bytes including the NUL.
 * Returns: out.
 */
const char *rt_error_format(const struct rt_error *err, char *out, size_t size);

#endif
