/*
 * endpoint.c - region and endpoint resolution, S3 addressing (aws-wire.md 10.4 and 2.1).
 *
 * Order for an endpoint: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the YAML's
 * aws.endpoints.<service>, then the service's default host. A custom endpoint changes only
 * scheme, host and port: the signing name and region stay the service's. S3 uses path-style
 * addressing on a custom endpoint, an IP host, a bucket that is not DNS-safe (or has dots), or
 * when asked; virtual-hosted otherwise, as the SDKs do.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_int.h"

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

const char *rt_aws_region(const char *config_region, const char *profile_region)
{
    const char *r;
    if ((r = env_nonempty("AWS_REGION")) || (r = env_nonempty("AWS_DEFAULT_REGION")))
        return r;
    if (config_region && config_region[0])
        return config_region;
    if (profile_region && profile_region[0])
        return profile_region;
    return NULL;
}

int rt__aws_split_url(const char *url, struct rt__aws_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p;
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

int rt_aws_endpoint(const struct rt_aws_service *svc,
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
        rt_snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", svc->env_id);
        if (!(url = env_nonempty(name)) && !(url = env_nonempty("AWS_ENDPOINT_URL")) &&
            config_url && config_url[0])
            url = config_url;
    }
    *custom = url != NULL;
    if (!url) {
        if (!region || !region[0])
            return rt_error_set(err, RT_ECONFIG, "%s: no region", svc->id);
        bool cn = strncmp(region, "cn-", 3) == 0;
        if (rt_snprintf(out, size, "https://%s.%s.amazonaws.com%s", svc->endpoint_prefix, region,
                        cn ? ".cn" : ""))
            return rt_error_set(err, RT_ETOOBIG, "%s: endpoint too long", svc->id);
        return 0;
    }
    struct rt__aws_url u;
    if (rt__aws_split_url(url, &u))
        return rt_error_set(err, RT_EINVAL, "%s: endpoint %s is not an http(s) URL with a host",
                            svc->id, rt_q(url));
    if (rt_snprintf(out, size, "%s://%s%s", u.https ? "https" : "http", u.hostport, u.base_path))
        return rt_error_set(err, RT_ETOOBIG, "%s: endpoint too long", svc->id);
    return 0;
}

bool rt_aws_s3_virtual_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > 63)
        return false;
    bool digits_dots = true;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false; /* dots are DNS-safe but break the TLS wildcard: path-style */
        if (!(c >= '0' && c <= '9'))
            digits_dots = false;
    }
    if (b[0] == '-' || b[n - 1] == '-' || digits_dots)
        return false;
    return true;
}

int rt_aws_s3_url(const char *endpoint,
                  bool custom,
                  bool path_style,
                  const char *bucket,
                  const char *key,
                  const char *query,
                  struct rt_buf *out)
{
    struct rt__aws_url u;
    if (rt__aws_split_url(endpoint, &u) || !bucket || !bucket[0] || strchr(bucket, '/'))
        return RT_EINVAL;
    bool path = path_style || custom || u.ip || !rt_aws_s3_virtual_ok(bucket);
    const char *scheme = u.https ? "https" : "http";
    int rc;
    if (path)
        rc = rt_buf_printf(out, "%s://%s%s/", scheme, u.hostport, u.base_path);
    else
        rc = rt_buf_printf(out, "%s://%s.%s%s/", scheme, bucket, u.hostport, u.base_path);
    if (!rc && path) {
        rc = rt_sigv4_uri_encode(rt_str_c(bucket), false, out);
        if (!rc && key)
            rc = rt_buf_append_char(out, '/');
    }
    if (!rc && key)
        rc = rt_sigv4_uri_encode(rt_str_c(key), true, out);
    if (!rc && query && query[0])
        rc = rt_buf_printf(out, "?%s", query);
    return rc;
}
