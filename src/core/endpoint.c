/*
 * endpoint.c - region names, region order and endpoint URLs (see endpoint.h).
 *
 * Design: a custom endpoint changes only scheme, host, port and base path; the signing name and
 * region stay the service's (aws-wire.md 10.4), so nothing here knows about signing. The region is
 * checked only when it is about to become a host name, which is the one place a malformed value
 * could do harm (a region of "us-east-1.evil.com" would send signed requests to another host);
 * callers that also sign with it check it once more when they start.
 */
#include "retraind/endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "retraind/buf.h"

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

int rt_url_split(const char *url, struct rt_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (!url)
        return RT_EINVAL;
    if (strncasecmp(url, "https://", 8) == 0) {
        u->https = true;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        return RT_EINVAL;
    }
    if (strpbrk(p, "?#@ \t\r\n"))
        return RT_EINVAL;
    const char *slash = strchr(p, '/');
    size_t hp = slash ? (size_t)(slash - p) : strlen(p);
    if (hp == 0 || hp >= sizeof(u->hostport))
        return RT_EINVAL;
    memcpy(u->hostport, p, hp);
    u->hostport[hp] = '\0';
    /* Host without the port: "[v6]" keeps its brackets. */
    const char *h = u->hostport;
    size_t hl;
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (!close || (close[1] && close[1] != ':'))
            return RT_EINVAL;
        hl = (size_t)(close - h) + 1;
        u->ip = true;
    } else {
        const char *colon = strchr(h, ':');
        hl = colon ? (size_t)(colon - h) : strlen(h);
        bool digits = hl > 0;
        for (size_t i = 0; i < hl; i++)
            if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
                digits = false;
        u->ip = digits;
    }
    if (hl == 0 || hl >= sizeof(u->host))
        return RT_EINVAL;
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    const char *port = u->hostport + hl;
    if (*port == ':') {
        char *e;
        long n = strtol(port + 1, &e, 10);
        if (e == port + 1 || *e || n <= 0 || n > 65535)
            return RT_EINVAL;
    } else if (*port) {
        return RT_EINVAL;
    }
    const char *path = slash ? slash : "";
    size_t pl = strlen(path);
    while (pl && path[pl - 1] == '/')
        pl--;
    if (pl >= sizeof(u->base_path))
        return RT_EINVAL;
    memcpy(u->base_path, path, pl);
    u->base_path[pl] = '\0';
    return 0;
}

bool rt_region_valid(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > RT_REGION_MAX || r[0] == '-' || r[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

/* The value may come from anywhere; the message must stay one readable line. */
static void quote(const char *s, char *out, size_t size)
{
    rt_quote_bytes(s, strlen(s), 64, out, size);
}

int rt_region_check(const char *region, const char *what, struct rt_error *err)
{
    if (rt_region_valid(region))
        return 0;
    char shown[300];
    quote(region ? region : "", shown, sizeof(shown));
    return rt_error_set(err, RT_ECONFIG,
                        "%s: region %s is not a valid AWS region name (1 to %d lowercase letters, "
                        "digits and '-', not starting or ending with '-', like us-east-1)",
                        what ? what : "aws", shown, RT_REGION_MAX);
}

const char *
rt_region_resolve(const char *config_region, const char *profile_region, const char **from)
{
    static const char *const env[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
    const char *r = NULL, *src = NULL;
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]) && !r; i++)
        if ((r = env_nonempty(env[i])))
            src = env[i];
    if (!r && config_region && config_region[0]) {
        r = config_region;
        src = "config";
    }
    if (!r && profile_region && profile_region[0]) {
        r = profile_region;
        src = "profile";
    }
    if (from)
        *from = src;
    return r;
}

int rt_endpoint_resolve(const struct rt_endpoint_service *svc,
                        const char *region,
                        const char *config_url,
                        char *out,
                        size_t size,
                        bool *custom,
                        struct rt_error *err)
{
    const char *url = NULL;
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (!(ignore && strcasecmp(ignore, "true") == 0)) {
        char name[96];
        if (rt_snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", svc->env_id) == 0)
            url = env_nonempty(name);
        if (!url)
            url = env_nonempty("AWS_ENDPOINT_URL");
        if (!url && config_url && config_url[0])
            url = config_url;
    }
    if (custom)
        *custom = url != NULL;
    if (!url) {
        if (!region || !region[0]) {
            if (!svc->global_host)
                return rt_error_set(err, RT_ECONFIG, "%s: no region", svc->id);
            if (rt_snprintf(out, size, "https://%s", svc->global_host))
                return rt_error_set(err, RT_ETOOBIG, "%s: endpoint too long", svc->id);
            return 0;
        }
        int rc = rt_region_check(region, svc->id, err);
        if (rc)
            return rc;
        bool cn = strncmp(region, "cn-", 3) == 0;
        if (rt_snprintf(out, size, "https://%s.%s.amazonaws.com%s", svc->prefix, region,
                        cn ? ".cn" : ""))
            return rt_error_set(err, RT_ETOOBIG, "%s: endpoint too long", svc->id);
        return 0;
    }
    struct rt_url u;
    if (rt_url_split(url, &u)) {
        char shown[300];
        quote(url, shown, sizeof(shown));
        return rt_error_set(err, RT_EINVAL, "%s: endpoint %s is not an http(s) URL with a host",
                            svc->id, shown);
    }
    if (rt_snprintf(out, size, "%s://%s%s", u.https ? "https" : "http", u.hostport, u.base_path))
        return rt_error_set(err, RT_ETOOBIG, "%s: endpoint too long", svc->id);
    return 0;
}
