/*
 * endpoint.c - the aws client's view of region and endpoint resolution, and S3 addressing
 * (aws-wire.md 10.4 and 2.1).
 *
 * The order itself (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the YAML's
 * aws.endpoints.<service>, the service's default host) and the region check live in core
 * (retraind/endpoint.h), shared with the STS endpoint of the credential providers; this file
 * maps a struct rt_aws_service onto it. S3 uses path-style addressing on a custom endpoint, an
 * IP host, a bucket that is not DNS-safe (or has dots), or when asked; virtual-hosted otherwise,
 * as the SDKs do.
 */
#include <string.h>

#include "aws_int.h"
#include "retraind/endpoint.h"

const char *rt_aws_region(const char *config_region, const char *profile_region)
{
    return rt_region_resolve(config_region, profile_region, NULL);
}

int rt_aws_endpoint(const struct rt_aws_service *svc,
                    const char *region,
                    const char *config_url,
                    char *out,
                    size_t size,
                    bool *custom,
                    struct rt_error *err)
{
    const struct rt_endpoint_service es = {
        .id = svc->id,
        .env_id = svc->env_id,
        .prefix = svc->endpoint_prefix,
        .global_host = svc->global_host,
    };
    return rt_endpoint_resolve(&es, region, config_url, out, size, custom, err);
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
    struct rt_url u;
    if (rt_url_split(endpoint, &u) || !bucket || !bucket[0] || strchr(bucket, '/'))
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
