/*
 * credentials.h - AWS credentials and the providers that find them: environment, shared profile
 * files, web identity (STS AssumeRoleWithWebIdentity), ECS/EKS container endpoint, EC2 IMDSv2,
 * a caching wrapper that refreshes temporary credentials before they expire, and the default
 * chain of aws-wire.md 10.1 (botocore's order).
 *
 * Design: as aws-c-auth's credentials.h, a provider is a vtable (get, close) plus its impl, one
 * source per file (src/creds/creds_<source>.c, a module of its own that uses httpc, sigv4 (to
 * sign STS AssumeRole) and core only; aws/ takes a provider through this header). get() is
 * asynchronous: its callback runs once on the loop thread, never from inside get(), even when the
 * answer is known at once (a cached set, environment keys): such answers are deferred to the next
 * loop turn with core's struct rt_defer_queue, not through the thread pool. Files are read on the
 * libuv thread pool and network sources go through httpc on the loop, so no get() ever blocks the
 * loop. A source that is not configured answers RT_ENOTFOUND (the chain goes on to the next
 * source); a source that is configured but broken answers another code (the chain stops there: a
 * named profile that does not exist, a container endpoint that fails, an STS refusal).
 *
 * Secrets (secret key, session token, web identity and container authorization tokens, the IMDS
 * session token) are kept only in memory that is wiped when freed and are never logged: log lines
 * name the source and the expiry, never a value.
 *
 * Every fixed endpoint can be overridden so tests reach only 127.0.0.1: IMDS with
 * AWS_EC2_METADATA_SERVICE_ENDPOINT (or opts.imds_endpoint), the container endpoint with
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (or opts.ecs_relative_base for RELATIVE_URI), STS with
 * AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or opts.sts_endpoint (the config's aws.endpoints.sts), in
 * that order: the order of every other service (core's retraind/endpoint.h resolves both).
 */
#ifndef RETRAIND_CREDENTIALS_H
#define RETRAIND_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/error.h"

struct uv_loop_s;
struct rt_httpc;
struct rt_credentials_provider;
struct rt_config;

/* One set of credentials. Always used as a whole: never mix a new key with an old token. */
struct rt_credentials {
    char *access_key;      /* owned, wiped on free */
    char *secret_key;      /* owned, wiped on free; never logged */
    char *session_token;   /* owned, wiped on free, NULL when none; never logged */
    int64_t expiration_ms; /* epoch ms when they stop working; 0 = never (static keys) */
    char source[32];       /* where they came from: "static", "environment", "profile",
                            * "web-identity", "container", "imds", "assume-role", "process" */
};

/*
 * Makes a credentials set from copies of the strings (session_token may be NULL or "").
 * Returns: 0 and *out (caller frees with rt_credentials_free), RT_EINVAL when a key is missing,
 * or RT_ENOMEM.
 */
int rt_credentials_new(const char *access_key,
                       const char *secret_key,
                       const char *session_token,
                       int64_t expiration_ms,
                       const char *source,
                       struct rt_credentials **out);
/* Returns: 0 and a deep copy in *out (caller frees with rt_credentials_free), or RT_ENOMEM. */
int rt_credentials_dup(const struct rt_credentials *c, struct rt_credentials **out);
/* Wipes every string and frees c. NULL is fine. */
void rt_credentials_free(struct rt_credentials *c);
/* Returns: true when c has an expiry and now_ms + margin_ms is at or past it. */
bool rt_credentials_expiring(const struct rt_credentials *c, int64_t now_ms, int64_t margin_ms);

/*
 * Completion of a get: runs exactly once, on the loop thread, never inside the get call.
 * status 0: creds is valid and borrowed for the duration of the call (rt_credentials_dup to keep
 * it), err is NULL. Otherwise creds is NULL and err describes the failure: RT_ENOTFOUND (this
 * source is not configured), RT_ECREDENTIALS (the chain found nothing; the message lists every
 * source tried and why), RT_ECANCELED (closing), or the source's own error (RT_EAWS, RT_EPARSE,
 * RT_ETIMEDOUT, RT_ENETWORK, RT_EIO, RT_ECONFIG, RT_ENOTIMPL ...).
 */
typedef void rt_credentials_get_fn(int status,
                                   const struct rt_credentials *creds,
                                   const struct rt_error *err,
                                   void *ud);
/* Completion of a close; runs once on the loop thread. */
typedef void rt_credentials_closed_fn(void *ud);

/* What a provider implements (aws-c-auth's vtable). Custom providers (tests) may fill it. */
struct rt_credentials_provider_vtable {
    /* See rt_credentials_provider_get. */
    int (*get)(struct rt_credentials_provider *p,
               rt_credentials_get_fn *cb,
               void *ud,
               struct rt_error *err);
    /* See rt_credentials_provider_close. */
    void (*close)(struct rt_credentials_provider *p, rt_credentials_closed_fn *done, void *ud);
    /* Drops cached credentials so the next get fetches anew; NULL for uncached providers. */
    void (*invalidate)(struct rt_credentials_provider *p);
};

struct rt_credentials_provider {
    const struct rt_credentials_provider_vtable *vtable; /* borrowed, static */
    const char *name;                                    /* borrowed, static: "imds", "chain" */
    void *impl;                                          /* the provider's own state */
};

/*
 * Options shared by every constructor. Only loop is required; httpc is required by the network
 * sources (web identity, container, IMDS) and by the default chain. Strings are copied.
 * Zero/NULL fields take the default shown. rt_credentials_opts_from_config fills the fields the
 * config file sets (region, profile, the STS endpoint).
 */
struct rt_credentials_opts {
    struct uv_loop_s *loop;          /* borrowed; the loop every callback runs on */
    struct rt_httpc *httpc;          /* borrowed; must outlive the provider (close it after) */
    const char *profile;             /* NULL: AWS_PROFILE, then AWS_DEFAULT_PROFILE, else
                                      * "default"; an explicitly named profile must exist */
    const char *region;              /* the config's aws.region, for the regional STS endpoint:
                                      * AWS_REGION and AWS_DEFAULT_REGION beat it, a web identity
                                      * profile's region comes after it; none at all:
                                      * https://sts.amazonaws.com. Checked (rt_region_check)
                                      * before it becomes a host: a malformed one is RT_ECONFIG */
    const char *sts_endpoint;        /* the config's aws.endpoints.sts: used after
                                      * AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL, before
                                      * https://sts.<region>.amazonaws.com */
    const char *imds_endpoint;       /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT, else
                                      * http://169.254.169.254 */
    const char *ecs_relative_base;   /* base for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
                                      * NULL: http://169.254.170.2 (tests point it at loopback) */
    int64_t imds_timeout_ms;         /* per IMDS request (connect and total); default 1000 */
    int64_t ecs_timeout_ms;          /* per container request; default 2000 (3 attempts) */
    int64_t sts_timeout_ms;          /* per STS request; default 10000 */
    int64_t process_timeout_ms;      /* a profile's credential_process is killed after this;
                                      * default 60000 */
    int64_t refresh_before_ms;       /* cache: refresh in the background when fewer ms than
                                      * this remain; default 5 min */
    int64_t mandatory_before_ms;     /* cache: callers wait for a refresh when fewer ms than
                                      * this remain; default 1 min (must be <= refresh_before) */
    int64_t min_refresh_interval_ms; /* cache: no new background refresh sooner than this after
                                      * the last fetch; default 60 s; negative: 0 (tests) */
    bool no_imds;                    /* the default chain leaves IMDS out (retraind sign
                                      * --no-imds); AWS_EC2_METADATA_DISABLED=true also keeps
                                      * IMDS from being asked, as a source that answers
                                      * "disabled" */
};

/*
 * Fills the fields of o that the config file sets, from cfg's aws section: region, profile and
 * sts_endpoint (aws.endpoints.sts). Strings are borrowed from cfg, which must outlive the
 * constructor calls (they copy them). loop, httpc and the tuning fields are left as they are.
 */
void rt_credentials_opts_from_config(struct rt_credentials_opts *o, const struct rt_config *cfg);

/*
 * Starts fetching credentials from p. cb(status, creds, err, ud) runs once later on the loop
 * thread (see rt_credentials_get_fn).
 * Returns: 0, or a negative code with err filled (RT_ECANCELED when p is closing, RT_ENOMEM,
 * RT_EINVAL); then cb never runs.
 */
int rt_credentials_provider_get(struct rt_credentials_provider *p,
                                rt_credentials_get_fn *cb,
                                void *ud,
                                struct rt_error *err);
/*
 * Closes p asynchronously: gets in flight still complete (their callbacks run first, with
 * RT_ECANCELED when they had not finished), providers it owns are closed, p is freed, then
 * done(ud) runs on the loop thread (done may be NULL). Network fetches in flight are waited for
 * (each is bounded by its timeout); close the httpc client only after done.
 */
void rt_credentials_provider_close(struct rt_credentials_provider *p,
                                   rt_credentials_closed_fn *done,
                                   void *ud);
/* Drops cached credentials (e.g. after an ExpiredToken reply) so the next get fetches anew. */
void rt_credentials_provider_invalidate(struct rt_credentials_provider *p);

/*
 * Constructors. Each returns 0 and *out (close with rt_credentials_provider_close), or RT_EINVAL
 * / RT_ENOMEM with err filled. Configuration (environment variables, files) is read at each get,
 * not at construction, so a provider built at startup follows later changes of the files.
 */

/* Fixed keys given by the caller (explicit config). token may be NULL. */
int rt_credentials_provider_new_static(const struct rt_credentials_opts *o,
                                       const char *access_key,
                                       const char *secret_key,
                                       const char *session_token,
                                       struct rt_credentials_provider **out,
                                       struct rt_error *err);
/* AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]; RT_ENOTFOUND when unset. */
int rt_credentials_provider_new_environment(const struct rt_credentials_opts *o,
                                            struct rt_credentials_provider **out,
                                            struct rt_error *err);
/*
 * The profile (opts.profile, AWS_PROFILE, AWS_DEFAULT_PROFILE or "default") in the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, sections [name]) and the
 * config file (AWS_CONFIG_FILE or ~/.aws/config, sections [default] / [profile name]): static
 * keys aws_access_key_id, aws_secret_access_key, aws_session_token; a profile with role_arn and
 * web_identity_token_file goes through STS AssumeRoleWithWebIdentity (needs httpc); role_arn with
 * source_profile (chained, loops refused) or credential_source (Environment, Ec2InstanceMetadata,
 * EcsContainer) assumes the role through a signed STS AssumeRole (external_id,
 * role_session_name, duration_seconds; mfa_serial is refused: nobody is there to type a code);
 * credential_process runs the command without a shell on the thread pool and reads its JSON.
 * RT_ENOTFOUND: the default profile is absent or has no keys. RT_ECREDENTIALS: a profile named
 * explicitly does not exist, or a configured source fails. RT_ECONFIG: a role profile that cannot
 * work (mfa_serial, a loop, a missing source profile, an unknown credential_source).
 */
int rt_credentials_provider_new_profile(const struct rt_credentials_opts *o,
                                        struct rt_credentials_provider **out,
                                        struct rt_error *err);
/*
 * AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME]: the token file is re-read
 * at every fetch and exchanged at STS (unsigned POST, query protocol). RT_ENOTFOUND when unset.
 */
int rt_credentials_provider_new_web_identity(const struct rt_credentials_opts *o,
                                             struct rt_credentials_provider **out,
                                             struct rt_error *err);
/*
 * Container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against 169.254.170.2) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (plain http only to loopback, 169.254.170.2, 169.254.170.23
 * or fd00:ec2::23; https anywhere), with the Authorization header from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each time; wins) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN. RT_ENOTFOUND when neither URI is set.
 */
int rt_credentials_provider_new_container(const struct rt_credentials_opts *o,
                                          struct rt_credentials_provider **out,
                                          struct rt_error *err);
/*
 * EC2 instance metadata, IMDSv2: PUT /latest/api/token (TTL 21600 s, the token kept until near
 * its TTL), GET .../iam/security-credentials/ for the role, then the role's JSON. Short timeouts:
 * an endpoint that does not answer gives RT_ENOTFOUND within a few seconds. RT_ENOTFOUND also
 * when AWS_EC2_METADATA_DISABLED=true or no role is attached.
 */
int rt_credentials_provider_new_imds(const struct rt_credentials_opts *o,
                                     struct rt_credentials_provider **out,
                                     struct rt_error *err);
/*
 * Tries providers[0..n) in order; the first that answers wins and is remembered (later gets go
 * straight to it; later sources are never touched). RT_ENOTFOUND moves on; any other failure
 * ends the chain with that error. Nothing found: RT_ECREDENTIALS whose message lists every
 * source tried with the reason it had nothing. Takes ownership of the providers (also on failure).
 */
int rt_credentials_provider_new_chain(const struct rt_credentials_opts *o,
                                      struct rt_credentials_provider **providers,
                                      size_t n,
                                      struct rt_credentials_provider **out,
                                      struct rt_error *err);
/*
 * Caches what inner gives. Static credentials are kept for ever. Temporary ones are handed out
 * while valid; when fewer than refresh_before_ms remain a refresh starts in the background (callers
 * still get the current set at once); when fewer than mandatory_before_ms remain, or after
 * expiry, callers wait for the refresh. A failed refresh keeps the current set while it is still
 * valid. Concurrent gets share one fetch. Takes ownership of inner (also on failure).
 */
int rt_credentials_provider_new_cached(const struct rt_credentials_opts *o,
                                       struct rt_credentials_provider *inner,
                                       struct rt_credentials_provider **out,
                                       struct rt_error *err);
/*
 * The default chain (DESIGN.md "Credentials"): cached(chain(environment, web identity, profile,
 * container, IMDS)), IMDS left out when o->no_imds. Needs o->httpc.
 */
int rt_credentials_provider_new_default(const struct rt_credentials_opts *o,
                                        struct rt_credentials_provider **out,
                                        struct rt_error *err);

/*
 * Reads the region of a profile from the config file (AWS_CONFIG_FILE or ~/.aws/config; `region`
 * in [default] / [profile name]). profile NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, "default".
 * Synchronous (small local file; meant for startup and the CLI, not for the loop).
 * Returns: 0 and the region in out (NUL-terminated), RT_ENOTFOUND when the profile or its region
 * is absent, RT_ETOOBIG when out is too small, RT_EIO when a file exists but cannot be read.
 */
int rt_credentials_profile_region(const char *profile,
                                  char *out,
                                  size_t size,
                                  struct rt_error *err);

#endif
