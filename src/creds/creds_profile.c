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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
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

struct profile_provider {
    struct rt__creds_base base;
    char *profile;      /* owned, may be NULL */
    char *sts_endpoint; /* owned, may be NULL */
    char *region;       /* owned, may be NULL */
    int64_t sts_timeout_ms;
};

struct profile_op {
    struct rt__creds_op op;
    char name[256];
    bool named;
    char cred_path[1024], config_path[1024];
    struct rt__profile pr;
};

static void profile_op_free(struct rt__creds_op *o)
{
    struct profile_op *po = (struct profile_op *)o;
    rt__profile_cleanup(&po->pr);
}

static void profile_work(struct rt__creds_op *o)
{
    struct profile_op *po = (struct profile_op *)o;
    int rc = rt__profile_load(po->name, po->cred_path, po->config_path, &po->pr, &o->err);
    if (rc)
        o->status = rc;
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
    if (pr->role_arn && (pr->source_profile || pr->credential_source))
        return rt__creds_op_fail(o, RT_ENOTIMPL,
                                 "profile %s: role_arn with source_profile/credential_source "
                                 "(signed STS AssumeRole) is not supported yet",
                                 n);
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
    if (pr->credential_process)
        return rt__creds_op_fail(o, RT_ENOTIMPL,
                                 "profile %s: credential_process is not supported yet", n);
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

static void profile_teardown(struct rt__creds_base *b)
{
    struct profile_provider *pp = (struct profile_provider *)b;
    rt_free(pp->profile);
    rt_free(pp->sts_endpoint);
    rt_free(pp->region);
    rt__creds_base_free(b);
}

static const struct rt_credentials_provider_vtable profile_vt = {
    .get = profile_get,
    .close = rt__creds_base_close,
};

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
    pp->profile = o->profile ? rt_strdup(o->profile) : NULL;
    pp->sts_endpoint = o->sts_endpoint ? rt_strdup(o->sts_endpoint) : NULL;
    pp->region = o->region ? rt_strdup(o->region) : NULL;
    pp->sts_timeout_ms = o->sts_timeout_ms;
    if ((o->profile && !pp->profile) || (o->sts_endpoint && !pp->sts_endpoint) ||
        (o->region && !pp->region)) {
        rt_free(pp->profile);
        rt_free(pp->sts_endpoint);
        rt_free(pp->region);
        rt_free(pp);
        return rt_error_set(err, RT_ENOMEM, "credentials: out of memory");
    }
    int rc = rt__creds_base_init(&pp->base, o, &profile_vt, "profile", profile_teardown, err);
    if (rc) {
        rt_free(pp->profile);
        rt_free(pp->sts_endpoint);
        rt_free(pp->region);
        rt_free(pp);
        return rc;
    }
    *out = &pp->base.pub;
    return 0;
}
