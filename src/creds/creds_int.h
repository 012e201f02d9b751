/*
 * creds_int.h - what the credential providers of src/creds/creds_*.c share: the provider base
 * (in-flight count, a deferred-call queue and asynchronous close), the get operation (continued
 * on a later loop turn, with file reading on the thread pool when the provider has any), and the
 * small parsers (INI profile files, the credentials JSON of IMDS and the container endpoint, the
 * STS XML reply, ISO-8601 expiry times).
 *
 * Design: a get never answers inside the get call (STYLE.md 2.4). An op whose provider has files
 * to read (profile files, token files) runs that on the libuv thread pool and continues in the
 * after-work callback; every other op (a cached answer, environment or static keys, the start of
 * a network fetch, the chain's next step) is deferred with the provider's struct rt_defer_queue
 * (retraind/loop.h, the project's one way to defer to a later loop turn), so no thread-pool slot
 * is taken just to wait one turn. The queue's uv_idle_t is closed when the provider is torn down,
 * before the close callback runs.
 */
#ifndef RETRAIND_CREDS_INT_H
#define RETRAIND_CREDS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "retraind/credentials.h"
#include "retraind/error.h"
#include "retraind/loop.h"

struct rt__creds_base;

/* Called on the loop thread once nothing is in flight after close: frees the impl and calls
 * rt__creds_base_free (possibly later, after closing children). */
typedef void rt__creds_teardown_fn(struct rt__creds_base *b);

struct rt__creds_base {
    struct rt_credentials_provider pub;
    uv_loop_t *loop;               /* borrowed */
    struct rt_httpc *httpc;        /* borrowed, may be NULL */
    struct rt_defer_queue defer;   /* later-turn continuations of ops and of close */
    struct rt_deferred close_item; /* the close's own deferral (cannot fail) */
    int inflight;                  /* operations started and not finished */
    bool closing;
    rt_credentials_closed_fn *close_done;
    void *close_ud;
    rt__creds_teardown_fn *teardown;
};

struct rt__creds_op;
/* Runs on the thread pool: touches only the op. */
typedef void rt__creds_work_fn(struct rt__creds_op *op);
/* Runs on the loop after the work: finishes the op or starts its next step. */
typedef void rt__creds_after_fn(struct rt__creds_op *op);

/* One get in flight. Providers with more state embed it first in their own op struct. */
struct rt__creds_op {
    uv_work_t work;              /* used when work_fn is set (file reading) */
    struct rt_deferred deferred; /* used otherwise: continue on a later loop turn */
    struct rt__creds_base *base;
    rt_credentials_get_fn *cb;
    void *ud;
    rt__creds_work_fn *work_fn;   /* file reading on the pool, or NULL: no pool trip */
    rt__creds_after_fn *after_fn; /* may be NULL: finish with status/creds/err as set */
    void (*free_fn)(
        struct rt__creds_op *op); /* frees what the embedding struct owns; may be NULL */
    int status;
    struct rt_credentials *creds; /* owned; result */
    struct rt_error err;
};

/*
 * Fills the base and starts its deferred-call queue on o->loop; name is static. Call it last in a
 * constructor: once it succeeded the base owns a loop handle and is only released through close.
 * Returns: 0, or a negative code with err filled (then nothing needs closing).
 */
int rt__creds_base_init(struct rt__creds_base *b,
                        const struct rt_credentials_opts *o,
                        const struct rt_credentials_provider_vtable *vt,
                        const char *name,
                        rt__creds_teardown_fn *teardown,
                        struct rt_error *err);
/* Marks b closing and tears it down once nothing is in flight (the vtable close of most). */
void rt__creds_base_close(struct rt_credentials_provider *p,
                          rt_credentials_closed_fn *done,
                          void *ud);
/* Counts work of b that is not an op (a background refresh) so close waits for it. */
void rt__creds_base_hold(struct rt__creds_base *b);
/* Ends what rt__creds_base_hold counted; a pending close may go on. */
void rt__creds_base_release(struct rt__creds_base *b);
/* Closes b's queue, then frees b (which must be the start of its allocation) and calls the close
 * callback, on a later loop turn. */
void rt__creds_base_free(struct rt__creds_base *b);

/*
 * Allocates an op of size bytes (>= sizeof(struct rt__creds_op)), zeroed, bound to b.
 * Returns: 0 and *out (started with rt__creds_op_start, or freed with rt_free if never started),
 * RT_ECANCELED when b is closing, or RT_ENOMEM; err filled.
 */
int rt__creds_op_new(struct rt__creds_base *b,
                     size_t size,
                     rt_credentials_get_fn *cb,
                     void *ud,
                     struct rt__creds_op **out,
                     struct rt_error *err);
/* Starts op: work_fn on the thread pool then after_fn on the loop when work_fn is set, else
 * after_fn (or the finish) on a later loop turn. Returns: 0 or a negative code (the op is freed
 * and its callback never runs). */
int rt__creds_op_start(struct rt__creds_op *op, struct rt_error *err);
/* Calls the op's callback with its status/creds/err, frees it, and lets a pending close go on. */
void rt__creds_op_finish(struct rt__creds_op *op);
/*
 * A step of a get that is an op of its own (a role's source credentials, a role in a chain):
 * allocated like an op and counted in flight like a started one, but not started: the caller
 * hands it to a runner (rt__web_identity_run, rt__assume_role_run, rt__process_run) that
 * finishes it, which calls cb with the result. Returns: 0 and *out, or as rt__creds_op_new.
 */
int rt__creds_subop_new(struct rt__creds_base *b,
                        rt_credentials_get_fn *cb,
                        void *ud,
                        struct rt__creds_op **out,
                        struct rt_error *err);
/* Sets the op's result to a failure (first failure wins) and finishes it. */
void rt__creds_op_fail(struct rt__creds_op *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- helpers ---- */

/* Returns: the variable's value if set and non-empty, else NULL. */
const char *rt__creds_env(const char *name);
/* Returns: true when the variable is "true" (any case). */
bool rt__creds_env_true(const char *name);
/*
 * Reads a small file into a new NUL-terminated string (wiped on free by the caller with
 * rt_free_secret_str when it is a secret). Returns: 0, RT_ENOTFOUND (absent), RT_EIO, RT_ETOOBIG.
 */
int rt__creds_read_file(const char *path, size_t max_bytes, char **out, struct rt_error *err);
/* Parses an ISO-8601 time "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)". Returns: 0 or RT_EINVAL. */
int rt__creds_parse_time(const char *s, int64_t *epoch_ms);
struct cJSON;
/* Returns: the non-empty string member name of o, or NULL. */
const char *rt__json_str(const struct cJSON *o, const char *name);
/* Wipes every string of a parsed JSON tree before it is freed (it held secrets). */
void rt__json_wipe(struct cJSON *o);
/*
 * Parses the credentials JSON of IMDS and the container endpoint: AccessKeyId, SecretAccessKey,
 * Token, Expiration (and Code, which must be "Success" when present).
 * Returns: 0 and *out, or RT_EPARSE with err filled (never quoting the body).
 */
int rt__creds_parse_json(const char *body,
                         size_t len,
                         const char *source,
                         struct rt_credentials **out,
                         struct rt_error *err);
/*
 * Parses the reply of STS AssumeRoleWithWebIdentity (aws-wire.md 9):
 * AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials with AccessKeyId,
 * SecretAccessKey, SessionToken and Expiration, through core's XML scanner.
 * Returns: 0 and *out (source "web-identity"), or RT_EPARSE / RT_ENOMEM with err filled (never
 * quoting the body).
 */
int rt__creds_parse_sts(const char *body,
                        size_t len,
                        struct rt_credentials **out,
                        struct rt_error *err);
/*
 * Parses the reply of STS action ("AssumeRole", "AssumeRoleWithWebIdentity"):
 * <action>Response/<action>Result/Credentials/{AccessKeyId, SecretAccessKey, SessionToken,
 * Expiration}. Returns: 0 and *out (its source set to source), or RT_EPARSE / RT_ENOMEM.
 */
int rt__creds_parse_sts_reply(const char *body,
                              size_t len,
                              const char *action,
                              const char *source,
                              struct rt_credentials **out,
                              struct rt_error *err);
/*
 * Reads an STS error reply (ErrorResponse/Error/Code and Message, ErrorResponse/RequestId) into
 * err's aws_code, request_id and message. Returns: 1 when a code was found, 0 when none.
 */
int rt__creds_sts_error(const char *body, size_t len, struct rt_error *err);

/* ---- profile files (creds_profile.c) ---- */

/* A parsed profile: the keys retraind uses. All strings owned; the secrets wiped on cleanup. */
struct rt__profile {
    bool found; /* the section exists in either file */
    char *access_key, *secret_key, *session_token;
    char *region;
    char *role_arn, *source_profile, *credential_source, *credential_process;
    char *web_identity_token_file, *role_session_name;
    char *external_id, *mfa_serial, *duration_seconds;
};
/* Frees and wipes every field. */
void rt__profile_cleanup(struct rt__profile *pr);
/*
 * Loads profile name from the credentials file then the config file (paths NULL: the
 * environment / ~/.aws defaults); a key in the credentials file wins over the config file.
 * Returns: 0 (pr->found tells whether the profile exists), RT_EIO or RT_ENOMEM.
 */
int rt__profile_load(const char *name,
                     const char *cred_path,
                     const char *config_path,
                     struct rt__profile *pr,
                     struct rt_error *err);
/* Returns: the profile name to use: explicit, AWS_PROFILE, AWS_DEFAULT_PROFILE, or "default";
 * *named tells whether it was given explicitly (then it must exist). Borrowed. */
const char *rt__profile_name(const char *explicit_name, bool *named);
/* Writes the default path of the credentials (config false) or config file into out. */
int rt__profile_path(bool config, char *out, size_t size);

/* ---- web identity (creds_web_identity.c), shared with profiles that use it ---- */

/* Parameters of one AssumeRoleWithWebIdentity call; strings owned by the caller. */
struct rt__web_identity_call {
    const char *token_file;
    const char *role_arn;
    const char *session_name; /* NULL: retraind-session-<unix seconds> */
    const char *endpoint;     /* resolved STS endpoint URL */
    int64_t timeout_ms;
};
/*
 * Reads the token file (on the thread pool) and exchanges it at STS; finishes op with the
 * credentials or the error. The strings of c are copied.
 */
void rt__web_identity_run(struct rt__creds_op *op, const struct rt__web_identity_call *c);
/*
 * Writes the STS endpoint to use into out[size] (core's rt_endpoint_resolve, the order of every
 * other service): AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, config_url (the config's
 * aws.endpoints.sts), then https://sts.<region>.amazonaws.com for the region found by
 * rt_region_resolve(config_region, profile_region) (AWS_REGION, AWS_DEFAULT_REGION, the config's,
 * the profile's), else the global https://sts.amazonaws.com. The region is checked before it
 * becomes the host. Returns: 0, or RT_ECONFIG / RT_EINVAL / RT_ETOOBIG with err naming the value.
 */
int rt__sts_endpoint(const char *config_url,
                     const char *config_region,
                     const char *profile_region,
                     char *out,
                     size_t size,
                     struct rt_error *err);

/* ---- STS AssumeRole (creds_assume_role.c), for role profiles ---- */

/* Parameters of one AssumeRole call; everything borrowed for the call (copied). */
struct rt__assume_role_call {
    const char *profile;                 /* the profile naming the role (messages) */
    const char *role_arn;                /* RoleArn */
    const char *session_name;            /* NULL: retraind-session-<unix seconds> */
    const char *external_id;             /* NULL: none */
    int duration_s;                      /* 0: STS's default (1 h) */
    const char *endpoint;                /* resolved STS endpoint URL */
    const char *region;                  /* signing region; NULL: us-east-1 */
    int64_t timeout_ms;                  /* per attempt; 0: 10 s */
    const struct rt_credentials *source; /* signs the call */
};
/* Signs and sends AssumeRole; finishes op with the role's credentials or the error. */
void rt__assume_role_run(struct rt__creds_op *op, const struct rt__assume_role_call *c);

/* ---- credential_process (creds_process.c) ---- */

struct rt__process_call {
    const char *profile; /* for messages */
    const char *command; /* the profile's credential_process, split without a shell */
    int64_t timeout_ms;  /* 0: 60 s */
};
/* Runs the command on the thread pool and finishes op with the credentials it printed. */
void rt__process_run(struct rt__creds_op *op, const struct rt__process_call *c);
/*
 * Splits a command line into argv as the SDKs do without a shell: words separated by blanks,
 * double or single quotes group (and are removed), a backslash outside single quotes takes the
 * next character literally. Returns: 0 and a NULL-terminated *argv (free with
 * rt__process_argv_free), RT_EINVAL (empty, an unterminated quote) or RT_ENOMEM; err filled.
 */
int rt__process_split(const char *cmd, char ***argv, struct rt_error *err);
void rt__process_argv_free(char **argv);
/*
 * Parses the JSON a credential process prints (Version 1, AccessKeyId, SecretAccessKey, optional
 * SessionToken and Expiration). Returns: 0 and *out (source "process"), RT_EPARSE; err names
 * fields, never values.
 */
int rt__process_parse(const char *out,
                      size_t len,
                      const char *profile,
                      struct rt_credentials **creds,
                      struct rt_error *err);

#endif
