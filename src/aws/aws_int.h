/*
 * aws_int.h - helpers shared inside src/aws/ (not a public interface).
 */
#ifndef RETRAIND_AWS_INT_H
#define RETRAIND_AWS_INT_H

#include <stdbool.h>

#include "retraind/aws.h"
#include "retraind/log.h"
#include "retraind/sigv4.h"

/* An http(s) URL split into its parts. */
struct rt__aws_url {
    bool https;
    bool ip;             /* the host is an IPv4 or [IPv6] literal */
    char hostport[256];  /* "host[:port]" as written */
    char host[256];      /* without the port */
    char base_path[256]; /* path without trailing '/', "" for none */
};

/* Splits url. Returns: 0 or RT_EINVAL (not http/https, no host, bad port, query, fragment). */
int rt__aws_split_url(const char *url, struct rt__aws_url *u);

#endif
