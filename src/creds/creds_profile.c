/*
 * creds_profile.c - the shared credentials and config files (~/.aws/credentials, ~/.aws/config)
 * and the profile provider: static keys of a profile, or a profile that names a role and a web
 * identity token file (exchanged at STS through creds_web_identity.c). Also the profile's region
 * for the aws client.
 *
 * Design: the files are INI as botocore reads them: `[name]` sections in the credentials file,
 * `[default]` or `[profile name]` in the config file, `key = value` lines, full-line comments with
 * '#' or ';', and indented lines after `key =` forming a nested block (`s3 =` / `addressing_style
 * = path`) that the profile keys below never come from, so they are skipped. A key in the
 * credentials file wins over the same key in the config file (botocore looks there first). The
 * files are read on the thread pool; the text is wiped after parsing since it holds secrets.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/endpoint.h"
#include "retraind/log.h"

#define MAX_PROFILE_FILE (1u << 20)

void rt__profile_cleanup(struct rt__profile *pr)
{
    rt_free_secret_str(pr->access_key);
    rt_free_secret_str(pr->secret_key);
    rt_free_secret_str(pr->session_token);
    rt_free(pr->region);
    rt_free(pr->role_arn);
    rt_free(pr->source_profile);
    rt_free(pr->credential_source);
    rt_free(pr->credential_process);
    rt_free(pr->web_identity_token_file);
    rt_free(pr->role_session_name);
    rt_free(pr->external_id);
    rt_free(pr->mfa_serial);
    rt_free(pr->duration_seconds);
    memset(pr, 0, sizeof(*pr));
}

const char *rt__profile_name(const char *explicit_name, bool *named)
{
    *named = true;
    if (explicit_name && *explicit_name)
        return explicit_name;
    const char *v = rt__creds_env("AWS_PROFILE");
    if (!v)
        v = rt__creds_env("AWS_DEFAULT_PROFILE");
    if (v)
        return v;
    *named = false;
    return "default";
}

int rt__profile_path(bool config, char *out, size_t size)
{
    const char *env = rt__creds_env(config ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE");
    if (env) {
        /* "~/" at the start means the home folder, as botocore expands it. */
        if (env[0] == '~' && env[1] == '/' && rt__creds_env("HOME"))
            return rt_snprintf(out, size, "%s%s", getenv("HOME"), env + 1);
        return rt_strlcpy(out, env, size);
    }
    const char *home = rt__creds_env("HOME");
    return rt_snprintf(out, size, "%s/.aws/%s", home ? home : ".",
                       config ? "config" : "credentials");
}

static char *trim(char *s, char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* Does section header text (inside the brackets, trimmed) name profile in this file? */
static bool section_matches(const char *sec, const char *profile, bool config)
{
    if (!config)
        return strcmp(sec, profile) == 0;
    if (strcmp(profile, "default") == 0 && strcmp(sec, "default") == 0)
        return true;
    if (strncmp(sec, "profile", 7) != 0 || !isspace((unsigned char)sec[7]))
        return false;
    const char *n = sec + 7;
    while (isspace((unsigned char)*n))
        n++;
    return strcmp(n, profile) == 0;
}

static int set_key(char **slot, const char *v)
{
    if (*slot)
        return 0; /* the first file (credentials) wins */
    *slot = rt_strdup(v);
    return *slot ? 0 : RT_ENOMEM;
}

/* Parses text (modified in place) and fills pr with profile's keys. */
static int parse_ini(char *text, const char *profile, bool config, struct rt__profile *pr)
{
    bool in = false, nested = false;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        char *end = nl ? nl : line + strlen(line);
        char *next = nl ? nl + 1 : NULL;
        bool indented = line < end && (line[0] == ' ' || line[0] == '\t');
        char *s = trim(line, end);
        line = next;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strrchr(s, ']');
            nested = false;
            if (!close) {
                in = false;
                continue;
            }
            char *sec = trim(s + 1, close);
            in = section_matches(sec, profile, config);
            if (in)
                pr->found = true;
            continue;
        }
        if (!in)
            continue;
        if (indented && nested)
            continue; /* a sub-key of a nested block */
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        char *val = trim(eq + 1, s + strlen(s));
        char *key = trim(s, eq);
        nested = *val == '\0';
        int rc = 0;
        if (strcasecmp(key, "aws_access_key_id") == 0)
            rc = set_key(&pr->access_key, val);
        else if (strcasecmp(key, "aws_secret_access_key") == 0)
            rc = set_key(&pr->secret_key, val);
        else if (strcasecmp(key, "aws_session_token") == 0)
            rc = set_key(&pr->session_token, val);
        else if (strcasecmp(key, "region") == 0)
            rc = set_key(&pr->region, val);
        else if (strcasecmp(key, "role_arn") == 0)
            rc = set_key(&pr->role_arn, val);
        else if (strcasecmp(key, "source_profile") == 0)
            rc = set_key(&pr->source_profile, val);
        else if (strcasecmp(key, "credential_source") == 0)
            rc = set_key(&pr->credential_source, val);
        else if (strcasecmp(key, "credential_process") == 0)
            rc = set_key(&pr->credential_process, val);
        else if (strcasecmp(key, "web_identity_token_file") == 0)
            rc = set_key(&pr->web_identity_token_file, val);
        else if (strcasecmp(key, "role_session_name") == 0)
            rc = set_key(&pr->role_session_name, val);
        else if (strcasecmp(key, "external_id") == 0)
            rc = set_key(&pr->external_id, val);
        else if (strcasecmp(key, "mfa_serial") == 0)
            rc = set_key(&pr->mfa_serial, val);
        else if (strcasecmp(key, "duration_seconds") == 0)
            rc = set_key(&pr->duration_seconds, val);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_one(const char *path,
                    const char *profile,
                    bool config,
                    struct rt__profile *pr,
                    struct rt_error *err)
{
    char *text;
    int rc = rt__creds_read_file(path, MAX_PROFILE_FILE, &text, err);
    if (rc == RT_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    size_t len = strlen(text);
    rc = parse_ini(text, profile, config, pr);
    rt_free_secret(text, len + 1);
    if (rc)
        return rt_error_set(err, rc, "out of memory reading %s", rt_q(path));
    return 0;
}

int rt__profile_load(const char *name,
                     const char *cred_path,
                     const char *config_path,
                     struct rt__profile *pr,
                     struct rt_error *err)
{
    memset(pr, 0, sizeof(*pr));
    char cp[1024], fp[1024];
    if (!cred_path) {
        rt__profile_path(false, cp, sizeof(cp));
        cred_path = cp;
    }
    if (!config_path) {
        rt__profile_path(true, fp, sizeof(fp));
        config_path = fp;
    }
    int rc = load_one(cred_path, name, false, pr, err);
    if (!rc)
        rc = load_one(config_path, name, true, pr, err);
    if (rc)
        rt__profile_cleanup(pr);
    return rc;
}

int rt_credentials_profile_region(const char *profile, char *out, size_t size, struct rt_error *err)
{
    bool named;
    const char *name = rt__profile_name(profile, &named);
    char fp[1024];
    rt__profile_path(true, fp, sizeof(fp));
    struct rt__profile pr;
    memset(&pr, 0, sizeof(pr));
    int rc = load_one(fp, name, true, &pr, err);
    if (rc == 0 && !pr.region)
        rc = RT_ENOTFOUND;
    else if (rc == 0 && rt_strlcpy(out, pr.region, size) != 0)
        rc = rt_error_set(err, RT_ETOOBIG, "the region of profile %s is too long", rt_q(name));
    rt__profile_cleanup(&pr);
    return rc;
}

/* ---- the provider ---- */

/*
 * A role profile is resolved on the thread pool into a plan: the base (the credentials the first
 * role is assumed with: static keys of a source profile, its web identity or credential_process,
 * or a credential_source) and the roles, outermost first. The loop then runs the plan: the base,
 * then AssumeRole for each role from the innermost out, each step's credentials signing the next.
 * As botocore does, a source profile's static keys win over a role it names itself (so
 * source_profile may name the profile itself when it has keys), and a profile named twice in a
 * chain is a loop.
 */
#define MAX_ROLE_CHAIN 8

enum base_kind {
    BASE_NONE = 0,
    BASE_STATIC,
    BASE_WEB_IDENTITY,
    BASE_PROCESS,
    BASE_ENV,  /* credential_source = Environment */
    BASE_IMDS, /* Ec2InstanceMetadata */
    BASE_ECS   /* EcsContainer */
};

struct profile_provider {
    struct rt__creds_base base;
    char *profile;      /* owned, may be NULL */
    char *sts_endpoint; /* owned, may be NULL */
    char *region;       /* owned, may be NULL */
    int64_t sts_timeout_ms;
    int64_t process_timeout_ms;
    /* The providers of credential_source, made when first needed. */
    struct rt_credentials_opts sub_opts;
    char *imds_endpoint, *ecs_relative_base; /* owned copies for sub_opts */
    struct rt_credentials_provider *srcs[3]; /* environment, imds, container */
    int closing_left;
};

struct profile_op {
    struct rt__creds_op op;
    char name[256];
    bool named;
    char cred_path[1024], config_path[1024];
    struct rt__profile pr; /* the profile itself (moved into roles[0] for a role profile) */
    /* the plan of a role profile */
    struct rt__profile roles[MAX_ROLE_CHAIN];
    char role_names[MAX_ROLE_CHAIN][256];
    int n_roles;
    int durations[MAX_ROLE_CHAIN];
    enum base_kind kind;
    struct rt__profile base; /* the source profile giving the base (static, web identity,
                              * process); for a self-reference, a copy of the keys */
    char base_name[256];
    int next;                   /* the next role to assume, counting down to 0 */
    struct rt_credentials *cur; /* the last step's credentials */
};

static void profile_op_free(struct rt__creds_op *o)
{
    struct profile_op *po = (struct profile_op *)o;
    rt__profile_cleanup(&po->pr);
    for (int i = 0; i < MAX_ROLE_CHAIN; i++)
        rt__profile_cleanup(&po->roles[i]);
    rt__profile_cleanup(&po->base);
    rt_credentials_free(po->cur);
}

static bool is_role(const struct rt__profile *p)
{
    return p->role_arn && (p->source_profile || p->credential_source);
}

static bool has_static(const struct rt__profile *p)
{
    return p->access_key && p->secret_key;
}

/* The kind of base a (source) profile gives: static keys first, as botocore looks. */
static enum base_kind source_kind(const struct rt__profile *p)
{
    if (has_static(p))
        return BASE_STATIC;
    if (p->role_arn && p->web_identity_token_file)
        return BASE_WEB_IDENTITY;
    if (p->credential_process)
        return BASE_PROCESS;
    return BASE_NONE;
}

/* Fails the work with an RT_ECONFIG naming the profile. */
static void plan_fail(struct rt__creds_op *o, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plan_fail(struct rt__creds_op *o, int code, const char *fmt, ...)
{
    char msg[sizeof(o->err.msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o->status = rt_error_set(&o->err, code, "%s", msg);
}

/* Resolves the chain of a role profile (po->pr) into the plan. Runs on the thread pool. */
static void plan_roles(struct profile_op *po)
{
    struct rt__creds_op *o = &po->op;
    struct rt__profile cur = po->pr;
    memset(&po->pr, 0, sizeof(po->pr));
    po->pr.found = true;
    char cur_name[256];
    rt_strlcpy(cur_name, po->name, sizeof(cur_name));
    for (;;) {
        const char *n = rt_q(cur_name);
        if (po->n_roles == MAX_ROLE_CHAIN) {
            rt__profile_cleanup(&cur);
            return plan_fail(o, RT_ECONFIG, "profile %s: a chain of more than %d roles",
                             rt_q(po->name), MAX_ROLE_CHAIN);
        }
        int i = po->n_roles++;
        po->roles[i] = cur;
        rt_strlcpy(po->role_names[i], cur_name, sizeof(po->role_names[i]));
        struct rt__profile *r = &po->roles[i];
        if (r->mfa_serial)
            return plan_fail(o, RT_ECONFIG,
                             "profile %s: mfa_serial is set, and retraind runs unattended: nobody "
                             "can type the MFA code. Use a role whose trust policy does not "
                             "require MFA for this machine's source credentials",
                             n);
        if (r->source_profile && r->credential_source)
            return plan_fail(o, RT_ECONFIG,
                             "profile %s has both source_profile and credential_source; keep one",
                             n);
        if (r->duration_seconds) {
            char *end;
            long d = strtol(r->duration_seconds, &end, 10);
            if (*end || d < 900 || d > 43200)
                return plan_fail(o, RT_ECONFIG,
                                 "profile %s: duration_seconds %s is not a number of seconds "
                                 "from 900 to 43200",
                                 n, rt_q(r->duration_seconds));
            po->durations[i] = (int)d;
        }
        if (r->credential_source) {
            const char *cs = r->credential_source;
            po->kind = strcmp(cs, "Environment") == 0           ? BASE_ENV
                       : strcmp(cs, "Ec2InstanceMetadata") == 0 ? BASE_IMDS
                       : strcmp(cs, "EcsContainer") == 0        ? BASE_ECS
                                                                : BASE_NONE;
            if (po->kind == BASE_NONE)
                return plan_fail(o, RT_ECONFIG,
                                 "profile %s: credential_source %s is not Environment, "
                                 "Ec2InstanceMetadata or EcsContainer",
                                 n, rt_q(cs));
            return;
        }
        const char *src = r->source_profile;
        if (strcmp(src, cur_name) == 0) {
            if (!has_static(r))
                return plan_fail(o, RT_ECONFIG,
                                 "profile %s names itself as source_profile but has no static "
                                 "keys",
                                 n);
            po->kind = BASE_STATIC;
            rt_strlcpy(po->base_name, cur_name, sizeof(po->base_name));
            po->base.access_key = rt_strdup(r->access_key);
            po->base.secret_key = rt_strdup(r->secret_key);
            po->base.session_token = r->session_token ? rt_strdup(r->session_token) : NULL;
            if (!po->base.access_key || !po->base.secret_key ||
                (r->session_token && !po->base.session_token))
                return plan_fail(o, RT_ENOMEM, "out of memory");
            return;
        }
        for (int k = 0; k <= i; k++) {
            if (strcmp(po->role_names[k], src) == 0) {
                char chain[1024] = "";
                for (int m = 0; m <= i; m++)
                    rt_snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s -> ",
                                po->role_names[m]);
                rt_snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s", src);
                return plan_fail(o, RT_ECONFIG, "profile %s: source_profile loop: %s",
                                 rt_q(po->name), rt_q(chain));
            }
        }
        struct rt__profile next;
        int rc = rt__profile_load(src, po->cred_path, po->config_path, &next, &o->err);
        if (rc) {
            o->status = rc;
            return;
        }
        if (!next.found) {
            rt__profile_cleanup(&next);
            return plan_fail(o, RT_ECONFIG,
                             "profile %s: its source_profile %s is in neither %s nor %s", n,
                             rt_q(src), rt_q(po->cred_path), rt_q(po->config_path));
        }
        if (has_static(&next) || !is_role(&next)) {
            po->kind = source_kind(&next);
            po->base = next;
            rt_strlcpy(po->base_name, src, sizeof(po->base_name));
            if (po->kind == BASE_NONE)
                return plan_fail(o, RT_ECONFIG,
                                 "profile %s: its source_profile %s has no credentials (no "
                                 "keys, role, web identity or credential_process)",
                                 n, rt_q(src));
            return;
        }
        cur = next;
        rt_strlcpy(cur_name, src, sizeof(cur_name));
    }
}

static void profile_work(struct rt__creds_op *o)
{
    struct profile_op *po = (struct profile_op *)o;
    int rc = rt__profile_load(po->name, po->cred_path, po->config_path, &po->pr, &o->err);
    if (rc) {
        o->status = rc;
        return;
    }
    if (po->pr.found && is_role(&po->pr))
        plan_roles(po);
}

static void role_step(struct profile_op *po);

/* A step's answer: keep it and go on with the next role. */
static void
on_step(int status, const struct rt_credentials *creds, const struct rt_error *err, void *ud)
{
    struct profile_op *po = ud;
    struct rt__creds_op *o = &po->op;
    if (status) {
        /* A credential_source that is not there is a broken configuration, not a fall-through. */
        int code = status == RT_ENOTFOUND ? RT_ECREDENTIALS : status;
        const char *what = po->kind == BASE_ENV    ? "credential_source Environment"
                           : po->kind == BASE_IMDS ? "credential_source Ec2InstanceMetadata"
                           : po->kind == BASE_ECS  ? "credential_source EcsContainer"
                                                   : "source";
        char msg[sizeof(o->err.msg)];
        rt_snprintf(msg, sizeof(msg), "%s", err && err->msg[0] ? err->msg : rt_strerror(status));
        if (err)
            o->err = *err;
        o->err.code = 0;
        if (strstr(msg, "profile ") == msg)
            rt_error_set(&o->err, code, "%s", msg);
        else
            rt_error_set(&o->err, code, "profile %s: %s: %s", rt_q(po->name), what, msg);
        return rt__creds_op_fail(o, code, "%s", o->err.msg);
    }
    rt_credentials_free(po->cur);
    po->cur = NULL;
    if (rt_credentials_dup(creds, &po->cur) != 0)
        return rt__creds_op_fail(o, RT_ENOMEM, "out of memory");
    role_step(po);
}

static void role_step(struct profile_op *po)
{
    struct rt__creds_op *o = &po->op;
    struct profile_provider *pp = (struct profile_provider *)o->base;
    int i = po->next--;
    const struct rt__profile *r = &po->roles[i];
    char endpoint[1024];
    struct rt_error e;
    rt_error_clear(&e);
    const char *top_region = po->roles[0].region;
    if (rt__sts_endpoint(pp->sts_endpoint, pp->region, top_region, endpoint, sizeof(endpoint),
                         &e) != 0)
        return rt__creds_op_fail(o, e.code, "profile %s: %s", rt_q(po->role_names[i]), e.msg);
    const char *region = rt_region_resolve(pp->region, top_region, NULL);
    struct rt__assume_role_call c = {
        .profile = po->role_names[i],
        .role_arn = r->role_arn,
        .session_name = r->role_session_name,
        .external_id = r->external_id,
        .duration_s = po->durations[i],
        .endpoint = endpoint,
        .region = region,
        .timeout_ms = pp->sts_timeout_ms,
        .source = po->cur,
    };
    if (i == 0)
        return rt__assume_role_run(o, &c); /* the outermost role answers the get */
    struct rt__creds_op *sub;
    int rc = rt__creds_subop_new(o->base, on_step, po, &sub, &e);
    if (rc)
        return rt__creds_op_fail(o, rc, "%s", e.msg);
    rt__assume_role_run(sub, &c);
}

static struct rt_credentials_provider *
source_provider(struct profile_provider *pp, enum base_kind kind, struct rt_error *err)
{
    int i = kind - BASE_ENV;
    if (pp->srcs[i])
        return pp->srcs[i];
    int rc = kind == BASE_ENV
                 ? rt_credentials_provider_new_environment(&pp->sub_opts, &pp->srcs[i], err)
             : kind == BASE_IMDS
                 ? rt_credentials_provider_new_imds(&pp->sub_opts, &pp->srcs[i], err)
                 : rt_credentials_provider_new_container(&pp->sub_opts, &pp->srcs[i], err);
    return rc ? NULL : pp->srcs[i];
}

/* Runs the plan of a role profile: the base, then the roles. */
static void start_roles(struct profile_op *po)
{
    struct rt__creds_op *o = &po->op;
    struct profile_provider *pp = (struct profile_provider *)o->base;
    po->next = po->n_roles - 1;
    RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_profile_role profile=%s roles=%d base=%s",
           rt_q(po->name), po->n_roles, po->base_name[0] ? rt_q(po->base_name) : "-");
    struct rt_error e;
    rt_error_clear(&e);
    struct rt__creds_op *sub = NULL;
    int rc = 0;
    switch (po->kind) {
    case BASE_STATIC:
        rc = rt_credentials_new(po->base.access_key, po->base.secret_key, po->base.session_token, 0,
                                "profile", &po->cur);
        if (rc)
            return rt__creds_op_fail(o, RT_ENOMEM, "out of memory");
        return role_step(po);
    case BASE_WEB_IDENTITY: {
        char endpoint[1024];
        if (rt__sts_endpoint(pp->sts_endpoint, pp->region, po->base.region, endpoint,
                             sizeof(endpoint), &e) != 0)
            return rt__creds_op_fail(o, e.code, "profile %s: %s", rt_q(po->base_name), e.msg);
        if ((rc = rt__creds_subop_new(o->base, on_step, po, &sub, &e)))
            return rt__creds_op_fail(o, rc, "%s", e.msg);
        struct rt__web_identity_call c = {
            .token_file = po->base.web_identity_token_file,
            .role_arn = po->base.role_arn,
            .session_name = po->base.role_session_name,
            .endpoint = endpoint,
            .timeout_ms = pp->sts_timeout_ms,
        };
        return rt__web_identity_run(sub, &c);
    }
    case BASE_PROCESS: {
        if ((rc = rt__creds_subop_new(o->base, on_step, po, &sub, &e)))
            return rt__creds_op_fail(o, rc, "%s", e.msg);
        struct rt__process_call c = {
            .profile = po->base_name,
            .command = po->base.credential_process,
            .timeout_ms = pp->process_timeout_ms,
        };
        return rt__process_run(sub, &c);
    }
    case BASE_ENV:
    case BASE_IMDS:
    case BASE_ECS: {
        struct rt_credentials_provider *p = source_provider(pp, po->kind, &e);
        if (!p || (rc = rt_credentials_provider_get(p, on_step, po, &e)) != 0)
            return rt__creds_op_fail(o, e.code ? e.code : RT_ENOMEM, "profile %s: %s",
                                     rt_q(po->name), e.msg);
        return;
    }
    case BASE_NONE:
        break;
    }
    rt__creds_op_fail(o, RT_ECONFIG, "profile %s: no source credentials", rt_q(po->name));
}

static void profile_after(struct rt__creds_op *o)
{
    struct profile_op *po = (struct profile_op *)o;
    struct profile_provider *pp = (struct profile_provider *)o->base;
    struct rt__profile *pr = &po->pr;
    const char *n = rt_q(po->name);
    if (!pr->found) {
        if (po->named)
            return rt__creds_op_fail(o, RT_ECREDENTIALS, "profile %s: no such profile in %s or %s",
                                     n, rt_q(po->cred_path), rt_q(po->config_path));
        return rt__creds_op_fail(o, RT_ENOTFOUND, "profile %s not in %s or %s", n,
                                 rt_q(po->cred_path), rt_q(po->config_path));
    }
    if (po->n_roles > 0)
        return start_roles(po);
    if (pr->role_arn && pr->web_identity_token_file) {
        char endpoint[1024];
        struct rt_error e;
        rt_error_clear(&e);
        if (rt__sts_endpoint(pp->sts_endpoint, pp->region, pr->region, endpoint, sizeof(endpoint),
                             &e) != 0) {
            o->err = e;
            return rt__creds_op_fail(o, e.code, "profile %s: %s", n, e.msg);
        }
        struct rt__web_identity_call c = {
            .token_file = pr->web_identity_token_file,
            .role_arn = pr->role_arn,
            .session_name = pr->role_session_name,
            .endpoint = endpoint,
            .timeout_ms = pp->sts_timeout_ms,
        };
        RT_LOG(RT_LOG_DEBUG, "creds", "event=credentials_profile_web_identity profile=%s", n);
        rt__web_identity_run(o, &c);
        return;
    }
    if (pr->access_key || pr->secret_key) {
        if (!pr->access_key || !pr->secret_key)
            return rt__creds_op_fail(o, RT_ECREDENTIALS,
                                     "profile %s has only one of aws_access_key_id and "
                                     "aws_secret_access_key",
                                     n);
        int rc = rt_credentials_new(pr->access_key, pr->secret_key, pr->session_token, 0, "profile",
                                    &o->creds);
        if (rc)
            return rt__creds_op_fail(o, rc, "out of memory");
        RT_LOG(RT_LOG_DEBUG, "creds",
               "event=credentials_found source=profile profile=%s "
               "expires=never",
               n);
        return rt__creds_op_finish(o);
    }
    if (pr->credential_process) {
        struct rt__process_call c = {
            .profile = po->name,
            .command = pr->credential_process,
            .timeout_ms = pp->process_timeout_ms,
        };
        return rt__process_run(o, &c);
    }
    rt__creds_op_fail(o, RT_ENOTFOUND, "profile %s has no credentials", n);
}

static int profile_get(struct rt_credentials_provider *p,
                       rt_credentials_get_fn *cb,
                       void *ud,
                       struct rt_error *err)
{
    struct profile_provider *pp = p->impl;
    struct rt__creds_op *o;
    int rc = rt__creds_op_new(&pp->base, sizeof(struct profile_op), cb, ud, &o, err);
    if (rc)
        return rc;
    struct profile_op *po = (struct profile_op *)o;
    o->work_fn = profile_work;
    o->after_fn = profile_after;
    o->free_fn = profile_op_free;
    /* The environment is read here, on the loop thread; the work only reads files. */
    rt_strlcpy(po->name, rt__profile_name(pp->profile, &po->named), sizeof(po->name));
    rt__profile_path(false, po->cred_path, sizeof(po->cred_path));
    rt__profile_path(true, po->config_path, sizeof(po->config_path));
    return rt__creds_op_start(o, err);
}

static void provider_free(struct profile_provider *pp)
{
    rt_free(pp->profile);
    rt_free(pp->sts_endpoint);
    rt_free(pp->region);
    rt_free(pp->imds_endpoint);
    rt_free(pp->ecs_relative_base);
}

static void src_closed(void *ud)
{
    struct profile_provider *pp = ud;
    if (--pp->closing_left == 0) {
        provider_free(pp);
        rt__creds_base_free(&pp->base);
    }
}

static void profile_teardown(struct rt__creds_base *b)
{
    struct profile_provider *pp = (struct profile_provider *)b;
    pp->closing_left = 1;
    for (int i = 0; i < 3; i++) {
        if (pp->srcs[i]) {
            pp->closing_left++;
            rt_credentials_provider_close(pp->srcs[i], src_closed, pp);
        }
    }
    src_closed(pp);
}

static const struct rt_credentials_provider_vtable profile_vt = {
    .get = profile_get,
    .close = rt__creds_base_close,
};

static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? rt_strdup(src) : NULL;
    return !src || *dst;
}

int rt_credentials_provider_new_profile(const struct rt_credentials_opts *o,
                                        struct rt_credentials_provider **out,
                                        struct rt_error *err)
{
    *out = NULL;
    if (!o || !o->loop)
        return rt_error_set(err, RT_EINVAL, "credentials: no loop given");
    struct profile_provider *pp = rt_calloc(1, sizeof(*pp));
    if (!pp)
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    pp->sts_timeout_ms = o->sts_timeout_ms;
    pp->process_timeout_ms = o->process_timeout_ms;
    if (!dup_opt(&pp->profile, o->profile) || !dup_opt(&pp->sts_endpoint, o->sts_endpoint) ||
        !dup_opt(&pp->region, o->region) || !dup_opt(&pp->imds_endpoint, o->imds_endpoint) ||
        !dup_opt(&pp->ecs_relative_base, o->ecs_relative_base)) {
        provider_free(pp);
        rt_free(pp);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    pp->sub_opts = *o;
    pp->sub_opts.profile = NULL;
    pp->sub_opts.imds_endpoint = pp->imds_endpoint;
    pp->sub_opts.ecs_relative_base = pp->ecs_relative_base;
    pp->sub_opts.region = pp->region;
    pp->sub_opts.sts_endpoint = pp->sts_endpoint;
    int rc = rt__creds_base_init(&pp->base, o, &profile_vt, "profile", profile_teardown, err);
    if (rc) {
        provider_free(pp);
        rt_free(pp);
        return rc;
    }
    *out = &pp->base.pub;
    return 0;
}
