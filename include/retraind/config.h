/*
 * config.h - the one YAML file, parsed once into a validated struct rt_config.
 *
 * The parser (src/core/config.c, libyaml) is table-driven: every key of DESIGN.md's core config
 * and every driver name is known from day one, so a config written today keeps working as
 * drivers arrive. Whether a driver is built is the driver registry's business (registry.h): the
 * config records where each driver was chosen so the registry's refusal names file:line:col.
 * Unknown keys, wrong types, out-of-range and missing required values are RT_ECONFIG errors
 * carrying file:line:col and the key. "${VAR}" in a scalar expands from the environment (an unset
 * VAR is an error). Relative paths are resolved against the config file's folder, durations ("10s",
 * "5m", "1h") turned into milliseconds, once. Nothing after startup reads YAML again.
 */
#ifndef RETRAIND_CONFIG_H
#define RETRAIND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "retraind/error.h"
#include "retraind/paramdef.h"

enum rt_store_driver { RT_STORE_LOCAL, RT_STORE_S3 };
enum rt_params_driver { RT_PARAMS_LOCAL, RT_PARAMS_SSM };
enum rt_engine_driver { RT_ENGINE_BUILTIN, RT_ENGINE_REKOGNITION };
enum rt_review_driver { RT_REVIEW_LOCAL, RT_REVIEW_A2I };
enum rt_notify_driver { RT_NOTIFY_LOG, RT_NOTIFY_SMTP, RT_NOTIFY_SNS };

/* The families of drivers (DESIGN.md's table); values index rt_config_driver_name. */
enum rt_driver_family {
    RT_FAMILY_STORE,
    RT_FAMILY_PARAMS,
    RT_FAMILY_ENGINE,
    RT_FAMILY_REVIEW,
    RT_FAMILY_NOTIFY,
    RT_FAMILY_COUNT
};

/* Where a value was written in the file: 1-based, or 0 when the default applied. */
struct rt_config_pos {
    int line, col;
};

/* Returns: the name of driver value (an enum rt_*_driver) of family, e.g. "s3"; NULL if none. */
const char *rt_config_driver_name(enum rt_driver_family family, int value);
/* Returns: the family's section key, e.g. "store", "parameters", "notify". */
const char *rt_config_family_key(enum rt_driver_family family);

/* Store prefixes (DESIGN.md "Store layout"); each ends with '/'. All owned. */
struct rt_config_prefixes {
    char *labeled;    /* images_labeled_by_folder/ */
    char *detection;  /* images_for_detection/ */
    char *results;    /* detection-results/ */
    char *manifests;  /* manifests/ */
    char *evaluation; /* evaluation/ */
    char *human_loop; /* a2i-human-loop-data/ */
    char *unlabeled;  /* unlabeled/ */
};

/* Roles of portal users and API tokens: an admin may do everything a reviewer may. */
enum rt_role { RT_ROLE_REVIEWER, RT_ROLE_ADMIN };

struct rt_config_review_user {
    char *name;          /* owned */
    char *password_hash; /* owned, secret-like: never logged */
    char *role_text;     /* owned: "reviewer" (default) or "admin" */
    enum rt_role role;
};

/* An API bearer token: only its SHA-256 is configured. */
struct rt_config_http_token {
    char *name;      /* owned: who the token acts as (WORKER in review answers) */
    char *role_text; /* owned: "reviewer" (default) or "admin" */
    enum rt_role role;
    char *token_sha256; /* owned: 64 lowercase hex digits; secret-like: never logged */
};

struct rt_config_notify {
    enum rt_notify_driver driver;
    struct rt_config_pos driver_pos;
    /* smtp */
    char *url;  /* owned: smtp://host:port or smtps://host:port */
    char *from; /* owned */
    char **to;  /* owned array of owned strings */
    int n_to;
    char *username; /* owned, or NULL (then RETRAIND_SMTP_USERNAME from the environment) */
    char *password; /* owned secret, or NULL (then RETRAIND_SMTP_PASSWORD); wiped on free */
    bool starttls;  /* default true: require STARTTLS on smtp:// unless the url is loopback */
    char *ca_file;  /* owned, or NULL */
    /* sns */
    char *topic_arn; /* owned */
};

struct rt_config {
    char *path;      /* owned: the config file as given */
    char *data_dir;  /* owned: absolute */
    char *log_level; /* owned: "notice" unless log.level is set */

    struct {
        enum rt_store_driver driver;
        struct rt_config_pos driver_pos;
        char *root;      /* local: owned absolute path */
        char *name;      /* local: bucket part of s3:// URIs, default "local" */
        char *bucket;    /* s3: owned */
        bool path_style; /* s3 */
        int64_t scan_ms; /* default 10000 */
        struct rt_config_prefixes prefixes;
        char *events_queue; /* s3: SQS queue URL of the S3 event notifications, owned or NULL */
    } store;

    struct {
        enum rt_params_driver driver;
        struct rt_config_pos driver_pos;
        char *path;                   /* ssm: owned, default "/retraind/" */
        int64_t refresh_ms;           /* ssm: how often Parameter Store is read, default 60s */
        struct rt_param_set defaults; /* the table's defaults overlaid with parameters.defaults */
        bool default_set[RT_P_COUNT]; /* which defaults the config file set */
    } parameters;

    struct {
        enum rt_engine_driver driver;
        struct rt_config_pos driver_pos;
        char *project;           /* rekognition: owned name or ARN */
        int64_t status_poll_ms;  /* default 60000 */
        int training_threads;    /* builtin: default 0 = libuv pool size */
        int max_inference_units; /* rekognition: MaxInferenceUnits of a start; 0 = not sent */
        int64_t idle_stop_ms;    /* stop the active version after this long idle; 0 = never */
    } engine;

    struct {
        enum rt_review_driver driver;
        struct rt_config_pos driver_pos;
        int workers_per_image;               /* default 1 */
        struct rt_config_review_user *users; /* owned array */
        int n_users;
        char *flow_definition; /* a2i: owned */
        char *workteam_arn;
        char *role_arn;
        int64_t poll_ms; /* default 30000 */
    } review;

    struct rt_config_notify *notify; /* owned array; default one { driver: log } */
    int n_notify;

    struct {
        char *listen_host;                   /* owned, default "127.0.0.1" */
        int listen_port;                     /* default 8080; 0 = any free port */
        bool listen_set;                     /* http.listen was written in the file */
        struct rt_config_http_token *tokens; /* owned array */
        int n_tokens;
    } http;

    struct {
        int concurrency;          /* default 8 */
        int64_t results_flush_ms; /* default 60000 */
    } detection;

    struct {
        char *region;             /* owned or NULL */
        char *profile;            /* owned or NULL */
        char *ca_file;            /* owned or NULL */
        int max_attempts;         /* default 3 */
        bool retry_mode_adaptive; /* aws.retry_mode: adaptive (client-side rate limiting after
                                   * throttling); default standard */
        struct {
            char *s3, *rekognition, *sagemaker, *a2i, *ssm, *sns, *sts, *sqs; /* owned or NULL */
        } endpoints;
    } aws;
};

/*
 * Reads and validates path. On success *out is a new config (caller frees with
 * rt_config_destroy). On failure returns RT_ECONFIG (or -errno when the file cannot be read) and
 * fills err, with err->file/line/col set whenever the problem has a position.
 */
int rt_config_load(const char *path, struct rt_config **out, struct rt_error *err);
/* As rt_config_load, from a string; name is used in messages and relative paths resolve
 * against base_dir. */
int rt_config_load_string(const char *yaml,
                          size_t len,
                          const char *name,
                          const char *base_dir,
                          struct rt_config **out,
                          struct rt_error *err);
/* Frees cfg and wipes its secrets. NULL is fine. */
void rt_config_destroy(struct rt_config *cfg);
/*
 * Compares two configs for a reload: only log.level and parameters.defaults apply to a running
 * daemon; every other difference needs a restart. Writes the sections that differ ("data_dir,
 * store") into out. Returns: how many there are (0: the reload may apply).
 */
int rt_config_restart_changes(const struct rt_config *running,
                              const struct rt_config *next,
                              char *out,
                              size_t size);
/* Parses a config duration: "500ms", "30s", "10m", "1h" or "2d" (a whole number and a unit,
 * > 0) into milliseconds. Returns: 0 or RT_EINVAL. */
int rt_duration_parse_ms(const char *text, int64_t *out_ms);

#endif
