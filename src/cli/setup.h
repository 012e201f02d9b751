/*
 * setup.h - what `retraind bootstrap` and `retraind doctor` share: a private loop with the
 * drivers' environment (the one AWS client and credential chain the daemon would make), and
 * waiting versions of one AWS call and of the store's operations.
 *
 * Design: both commands are a list of independent steps, each printed as one line, so they are
 * written as straight-line code over calls that run the private loop until their callback came
 * (the loop belongs to the command; nothing else runs on it). Every AWS call still goes through
 * rt_aws_call (signing, retries, skew) and every store access through the store driver.
 */
#ifndef RETRAIND_CLI_SETUP_H
#define RETRAIND_CLI_SETUP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "retraind/aws.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/registry.h"

struct rt_config;
struct rt_store;

struct rt_setup {
    uv_loop_t loop;
    struct rt_driver_env env; /* env.aws once rt_setup_aws succeeded */
    const struct rt_config *cfg;
    struct rt_store *store; /* once rt_setup_store succeeded */
};

/* What one waited-for AWS call got back. */
struct rt_setup_reply {
    int status;          /* 0 or the call's negative code */
    struct rt_error err; /* the failure (aws_code, msg, request id, HTTP status) */
    int http_status;     /* of the last attempt, 0 when nothing answered */
    struct rt_buf body;  /* owned */
    int64_t date_ms;     /* the reply's Date header (epoch ms), 0 when absent */
    int64_t sent_ms;     /* the local clock when the call started and when it ended */
    int64_t recv_ms;
};

/* Starts the private loop over cfg (borrowed; must outlive s). Returns: 0 or a libuv error. */
int rt_setup_init(struct rt_setup *s, const struct rt_config *cfg);
/* Closes the store and what the environment made, and the loop. */
void rt_setup_finish(struct rt_setup *s);

/* Makes the shared AWS client (rt_driver_env_aws). Returns: 0 or an error in err. */
int rt_setup_aws(struct rt_setup *s, struct rt_error *err);
/* Asks the credential chain, waiting. Returns: 0 and source (e.g. "environment"), the access
 * key's last four characters, whether a session token came and the expiry (0: none); never a
 * secret. Or an error in err. */
int rt_setup_credentials(struct rt_setup *s,
                         char *source,
                         size_t source_size,
                         char key_tail[8],
                         bool *has_token,
                         int64_t *expiration_ms,
                         struct rt_error *err);

/* One AWS call of op with p (NULL: none), waiting. r is filled (clean it up). Returns: r->status.
 */
int rt_setup_call(struct rt_setup *s,
                  const struct rt_aws_op *op,
                  const struct rt_aws_params *p,
                  struct rt_setup_reply *r);
/* A json-protocol call: body (consumed; NULL sends {}), *out the parsed reply on success (caller
 * frees with cJSON_Delete; NULL when the reply was not JSON). Returns: r->status. */
int rt_setup_json(struct rt_setup *s,
                  const struct rt_aws_op *op,
                  cJSON *body,
                  cJSON **out,
                  struct rt_setup_reply *r);
void rt_setup_reply_cleanup(struct rt_setup_reply *r);
/* Returns: true when the call failed with AWS error code code. */
bool rt_setup_failed_with(const struct rt_setup_reply *r, const char *code);
/* Writes "message (Code, HTTP n)" of a failed reply into out. Returns: out. */
const char *rt_setup_why(const struct rt_setup_reply *r, char *out, size_t size);

/* Makes the store the config names (read-write unless read_only). Returns: 0 or err. */
int rt_setup_store(struct rt_setup *s, bool read_only, struct rt_error *err);
/* Lists up to max keys under prefix (first page), waiting. keys gets rt_strdup'ed keys (free
 * each with rt_free) and *n their number. Returns: 0 or an error in err. */
int rt_setup_store_list(struct rt_setup *s,
                        const char *prefix,
                        size_t max,
                        char **keys,
                        size_t *n,
                        struct rt_error *err);
/* Calls fn(key, ud) for every key under prefix (all pages), waiting. fn returns non-zero to stop.
 * Returns: 0 or an error in err. */
int rt_setup_store_each(struct rt_setup *s,
                        const char *prefix,
                        int (*fn)(const char *key, void *ud),
                        void *ud,
                        struct rt_error *err);
/* get (into body, bounded by body->max_bytes), put, del, waiting. Returns: 0 or err. */
int rt_setup_store_get(struct rt_setup *s,
                       const char *key,
                       struct rt_buf *body,
                       struct rt_error *err);
int rt_setup_store_put(
    struct rt_setup *s, const char *key, const void *data, size_t len, struct rt_error *err);
int rt_setup_store_del(struct rt_setup *s, const char *key, struct rt_error *err);

#endif
