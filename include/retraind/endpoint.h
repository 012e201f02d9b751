/*
 * endpoint.h - AWS region names, the order a region is found in, and service endpoint URLs
 * (aws-wire.md 10.4). One implementation below aws/ (every service) and creds/ (STS), so a region
 * is validated and an endpoint resolved the same way everywhere.
 *
 * A region becomes part of a host name (ssm.<region>.amazonaws.com), so it is checked before it
 * is used: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'. Anything
 * else ("us-east-1.evil.com", "../", "", "US-EAST-1") is refused with an error that names the
 * value, quoted and escaped.
 *
 * Pure apart from getenv(); nothing here does I/O.
 */
#ifndef RETRAIND_ENDPOINT_H
#define RETRAIND_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "retraind/error.h"

/* An http(s) URL split into its parts. */
struct rt_url {
    bool https;
    bool ip;             /* the host is an IPv4 or [IPv6] literal */
    char hostport[256];  /* "host[:port]" as written */
    char host[256];      /* without the port; "[v6]" keeps its brackets */
    char base_path[256]; /* path without trailing '/', "" for none */
};

/*
 * Splits url. Returns: 0, or RT_EINVAL (not http/https, no host, a bad port, userinfo, a query
 * or a fragment, white space, or a part too long for struct rt_url).
 */
int rt_url_split(const char *url, struct rt_url *u);

/* The longest region name accepted (a DNS label). */
#define RT_REGION_MAX 63

/* Returns: true when region is a well-formed region name (see above). NULL is not. */
bool rt_region_valid(const char *region);
/*
 * Checks region. what names the user of the value in the message ("sts", "aws.region").
 * Returns: 0, or RT_ECONFIG with err naming the value (quoted, escaped, cut at 64 bytes).
 */
int rt_region_check(const char *region, const char *what, struct rt_error *err);
/*
 * The region to use, first found: AWS_REGION, AWS_DEFAULT_REGION, config_region (the YAML's
 * aws.region, or a command's --region), profile_region (the profile's region). The environment
 * beats the config file as DESIGN.md's config section says. Empty strings count as unset.
 * Returns: the region (borrowed from the arguments or the environment), or NULL when none is set;
 * *from (may be NULL) names where it came from ("AWS_REGION", "config", "profile"). The value is
 * not checked: use rt_region_check before it becomes part of a host.
 */
const char *
rt_region_resolve(const char *config_region, const char *profile_region, const char **from);

/* What endpoint resolution needs to know of a service. Strings are static. */
struct rt_endpoint_service {
    const char *id;          /* for messages and the config key: "s3", "ssm", "sts" */
    const char *env_id;      /* AWS_ENDPOINT_URL_<env_id>: "S3", "SSM", "STS" */
    const char *prefix;      /* default host <prefix>.<region>.amazonaws.com */
    const char *global_host; /* used when no region is known ("sts.amazonaws.com"); NULL: a
                              * region is required */
};

/*
 * Resolves the endpoint of svc, first found: AWS_ENDPOINT_URL_<env_id>, AWS_ENDPOINT_URL,
 * config_url (the YAML's aws.endpoints.<id>), then the default https://<prefix>.<region>
 * .amazonaws.com (".com.cn" for cn- regions), or https://<global_host> without a region.
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the first three. A custom URL keeps its scheme,
 * host, port and path, written without a trailing '/'. *custom (may be NULL) is true when the
 * URL did not come from the default.
 * Returns: 0 and the URL in out[size]; RT_ECONFIG (no region and no global host, or a region that
 * is not valid while it would become the host), RT_EINVAL (a custom URL that is not an http(s)
 * URL with a host), or RT_ETOOBIG; err names the service and the value.
 */
int rt_endpoint_resolve(const struct rt_endpoint_service *svc,
                        const char *region,
                        const char *config_url,
                        char *out,
                        size_t size,
                        bool *custom,
                        struct rt_error *err);

#endif
