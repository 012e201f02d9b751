/*
 * form.h - application/x-www-form-urlencoded bodies and values: the AWS query protocol's request
 * bodies (aws/: Action=...&Version=...; creds/: STS AssumeRoleWithWebIdentity) and the
 * url-encoded keys of an S3 listing. One implementation below both aws/ and creds/.
 *
 * Encoding keeps the RFC 3986 unreserved characters (A-Z a-z 0-9 - _ . ~) and writes every other
 * byte as %XX with upper-case hex (a space is %20, never '+'), which is what the AWS SDKs send and
 * what SigV4's canonical query string expects. Decoding also accepts '+' for a space.
 */
#ifndef RETRAIND_FORM_H
#define RETRAIND_FORM_H

#include "retraind/buf.h"

/* Appends s encoded to b. Returns: 0, or RT_ENOMEM / RT_ETOOBIG (b holds what fitted). */
int rt_form_encode(struct rt_buf *b, const char *s);
/*
 * Appends one field "name=value", both encoded, after a '&' unless b is empty.
 * Returns: 0, or RT_ENOMEM / RT_ETOOBIG.
 */
int rt_form_add(struct rt_buf *b, const char *name, const char *value);
/*
 * Decodes s in place: '+' is a space, %XX a byte. Returns: 0, or RT_EPARSE for a bad escape or
 * %00 (a NUL would cut the string); s is then unspecified.
 */
int rt_form_decode(char *s);

#endif
