/*
 * sigv4.h - AWS Signature Version 4 (HMAC-SHA256): a pure signer plus a derived-key cache.
 *
 * Pure: no I/O, no clock, no logging. The caller hands in the request (method, wire path, raw
 * query, headers, payload hash) and a config (credentials, region, service, time, rule flags);
 * the signer hands back a *signing result* - the headers to add, or for presigning the query
 * parameters to add - and never mutates the request (aws-c-auth's signing_config/signing_result
 * split). The canonical request and the string to sign are separate functions so tests check
 * each stage and `retraind sign --verbose` prints them.
 *
 * Rules (docs/sigv4.md has the full list):
 *   - path: the wire path as sent (already percent-encoded once). Other services: dot segments and
 *     repeated slashes removed, then every byte outside A-Z a-z 0-9 - . _ ~ / encoded again (so
 *     "%" becomes "%25"). S3: no normalisation, encoded once (valid %XX escapes kept, stray bytes
 *     such as a literal space encoded).
 *   - query: split on '&', each key and value percent-decoded ('+' stays '+'), re-encoded with the
 *     RFC 3986 unreserved set, sorted by encoded key then encoded value; repeated keys and empty
 *     values kept ("k" becomes "k=").
 *   - headers: names lower-cased and sorted (stable, so repeated names keep their order and are
 *     joined with ','), values trimmed with inner whitespace runs folded to one space. Hop-by-hop
 *     and proxy-mangled headers (user-agent, expect, connection, ...) are never signed.
 *
 * Hot path: rt_sigv4_sign() with a cache hit makes no heap allocation for a request of up to 64
 * headers and 64 query parameters whose encoded query fits 4 KiB; it writes into the result.
 * Secrets: the signer's own copies (key material, cache entries) are wiped with OPENSSL_cleanse.
 */
#ifndef RETRAIND_SIGV4_H
#define RETRAIND_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

#define RT_SIGV4_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */
#define RT_SIGV4_HEX_LEN 64  /* lowercase hex SHA-256 / signature */
#define RT_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define RT_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Rule flags (struct rt_sigv4_config.flags). Service "s3" implies RT_SIGV4_S3 unless
 * RT_SIGV4_NOT_S3 is given. */
enum rt_sigv4_flag {
    RT_SIGV4_S3 = 1u << 0,             /* S3 rules: NO_NORMALIZE + SINGLE_ENCODE + CONTENT_SHA256 */
    RT_SIGV4_NOT_S3 = 1u << 1,         /* override: service "s3" without the S3 rules */
    RT_SIGV4_NO_NORMALIZE = 1u << 2,   /* keep dot segments and repeated slashes */
    RT_SIGV4_SINGLE_ENCODE = 1u << 3,  /* the path is already encoded: do not encode it again */
    RT_SIGV4_CONTENT_SHA256 = 1u << 4, /* add and sign x-amz-content-sha256 (header signing) */
    RT_SIGV4_OMIT_TOKEN = 1u << 5,     /* send the session token but leave it unsigned */
    RT_SIGV4_PRESIGN = 1u << 6         /* query signing (presigned URL) with expires_s */
};

/* One header. Both views are borrowed. */
struct rt_sigv4_header {
    struct rt_str name;
    struct rt_str value;
};

/* The request to sign; every pointer is borrowed for the duration of the call. */
struct rt_sigv4_request {
    struct rt_str method;                  /* "GET" */
    struct rt_str path;                    /* wire path, e.g. "/my%20key"; empty means "/" */
    struct rt_str query;                   /* raw query without '?', e.g. "a=1&b"; may be empty */
    const struct rt_sigv4_header *headers; /* must include Host */
    size_t n_headers;
    /* Lowercase hex SHA-256 of the body, RT_SIGV4_UNSIGNED_PAYLOAD, or another literal the
     * service accepts; empty means the hash of an empty body. */
    struct rt_str payload_hash;
};

struct rt_sigv4_cache; /* opaque derived-key cache, see rt_sigv4_cache_new() */

/* Signing parameters; every view is borrowed for the duration of the call. */
struct rt_sigv4_config {
    struct rt_str access_key;
    struct rt_str secret_key;     /* secret: never logged, copies wiped */
    struct rt_str session_token;  /* empty when the credentials are not temporary */
    struct rt_str region;         /* "us-east-1" */
    struct rt_str service;        /* signing name: "s3", "rekognition", "sagemaker"... */
    const char *amz_date;         /* "YYYYMMDDTHHMMSSZ", or NULL to use time_s */
    int64_t time_s;               /* signing time, epoch seconds (when amz_date is NULL) */
    unsigned flags;               /* enum rt_sigv4_flag bits */
    uint32_t expires_s;           /* RT_SIGV4_PRESIGN only: X-Amz-Expires, 1..604800 */
    struct rt_sigv4_cache *cache; /* borrowed, may be NULL (derive the key every time) */
};

#define RT_SIGV4_MAX_ADD 4
#define RT_SIGV4_RESULT_TEXT 8192

/*
 * What signing produced. Header signing: add[0..n_add) are the headers to add, in this order:
 * X-Amz-Security-Token (with a token), X-Amz-Date, x-amz-content-sha256 (S3 rules),
 * Authorization. Presigning: n_add is 0 and query holds the parameters to append to the
 * request's query (without a leading '?' or '&'). Every view points into this struct's text.
 * The struct is large (about 8.5 KiB) and meant to live on the caller's stack.
 */
struct rt_sigv4_result {
    char amz_date[RT_SIGV4_DATE_LEN + 1];
    char signature[RT_SIGV4_HEX_LEN + 1];
    struct rt_sigv4_header add[RT_SIGV4_MAX_ADD];
    size_t n_add;
    struct rt_str query;          /* presign only, else empty */
    struct rt_str signed_headers; /* "host;x-amz-date" */
    struct rt_str credential;     /* "AKID/20150830/us-east-1/service/aws4_request" */
    char text[RT_SIGV4_RESULT_TEXT];
    size_t text_len;
};

/*
 * Signs a request. req and cfg are only read. Returns: 0 and fills out, or RT_EINVAL (bad date,
 * empty key/region/service, bad expires), RT_ETOOBIG (result text would exceed 8 KiB) or
 * RT_ENOMEM (a very large request needed scratch memory and none was left), with err filled.
 */
int rt_sigv4_sign(const struct rt_sigv4_request *req,
                  const struct rt_sigv4_config *cfg,
                  struct rt_sigv4_result *out,
                  struct rt_error *err);

/*
 * Appends the canonical request that rt_sigv4_sign() would hash for (req, cfg) to out - for
 * header signing with the X-Amz-Date/token/content headers it adds, for presigning with the
 * X-Amz-* query parameters. No trailing newline. Returns: 0, or an error as rt_sigv4_sign.
 */
/*
 * Calls set(name, value, ud) for every header of res->add, each NUL-terminated (the views in res
 * are not), through one scratch buffer wiped afterwards (a value may hold the session token).
 * Returns: 0, the first non-zero return of set, or RT_ENOMEM.
 */
int rt_sigv4_each_header(const struct rt_sigv4_result *res,
                         int (*set)(const char *name, const char *value, void *ud),
                         void *ud);

int rt_sigv4_canonical_request(const struct rt_sigv4_request *req,
                               const struct rt_sigv4_config *cfg,
                               struct rt_buf *out,
                               struct rt_error *err);

/*
 * Appends the string to sign for a canonical request to out:
 * "AWS4-HMAC-SHA256\n<date>\n<YYYYMMDD>/<region>/<service>/aws4_request\n<hex sha256>".
 * Returns: 0, or RT_EINVAL for a bad date, or the rt_buf error.
 */
int rt_sigv4_string_to_sign(const struct rt_sigv4_config *cfg,
                            struct rt_str canonical_request,
                            struct rt_buf *out,
                            struct rt_error *err);

/*
 * Computes the signature (64 lowercase hex + NUL into out) of a string to sign with the key
 * derived from cfg's secret, date, region and service (through cfg->cache when set).
 * Returns: 0 or RT_EINVAL.
 */
int rt_sigv4_signature(const struct rt_sigv4_config *cfg,
                       struct rt_str string_to_sign,
                       char out[RT_SIGV4_HEX_LEN + 1],
                       struct rt_error *err);

/*
 * Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service),
 * "aws4_request") into out[32]. date8 is "YYYYMMDD". The caller wipes out when done.
 */
void rt_sigv4_derive_key(struct rt_str secret,
                         struct rt_str date8,
                         struct rt_str region,
                         struct rt_str service,
                         unsigned char out[32]);

/* Writes the lowercase hex SHA-256 of n bytes at p into out (65 bytes with the NUL). */
void rt_sigv4_sha256_hex(const void *p, size_t n, char out[RT_SIGV4_HEX_LEN + 1]);

/* Returns: cfg->flags with the rules the service implies ("s3" adds RT_SIGV4_S3's bundle). */
unsigned rt_sigv4_effective_flags(const struct rt_sigv4_config *cfg);

/* Formats epoch seconds as "YYYYMMDDTHHMMSSZ" (17 bytes with the NUL). Returns: 0 or RT_EINVAL
 * when the year is outside 1970..9999. */
int rt_sigv4_format_date(int64_t epoch_s, char out[RT_SIGV4_DATE_LEN + 1]);
/* Parses "YYYYMMDDTHHMMSSZ" (a real calendar time). Returns: 0 or RT_EINVAL. */
int rt_sigv4_parse_date(const char *s, int64_t *epoch_s);

/*
 * Encoding stages, exposed for tests and for clients that build URLs.
 * rt_sigv4_canonical_path appends the canonical URI of a wire path under flags (effective
 * flags, see rt_sigv4_effective_flags). rt_sigv4_canonical_query appends the canonical query of
 * a raw query string. rt_sigv4_uri_encode appends in with every byte outside the unreserved set
 * (and '/' when keep_slash) written as %XX, uppercase hex. Returns: 0 or the rt_buf error.
 */
int rt_sigv4_canonical_path(struct rt_str path, unsigned flags, struct rt_buf *out);
int rt_sigv4_canonical_query(struct rt_str query, struct rt_buf *out);
int rt_sigv4_uri_encode(struct rt_str in, bool keep_slash, struct rt_buf *out);

/* Returns: true if a header of this name (any case) is never signed (user-agent, expect...). */
bool rt_sigv4_header_unsignable(struct rt_str name);

/*
 * Derived-key cache: remembers the HMAC state of the signing key for up to 8 (secret, date,
 * region, service) tuples so a signature costs one short HMAC instead of five. Not thread-safe:
 * one cache per thread (the loop thread). Entries hold key material and are wiped on destroy.
 * Returns: 0 and *out (caller destroys with rt_sigv4_cache_destroy), or RT_ENOMEM.
 */
int rt_sigv4_cache_new(struct rt_sigv4_cache **out);
/* Wipes and frees the cache. NULL is fine. */
void rt_sigv4_cache_destroy(struct rt_sigv4_cache *cache);
/* Wipes every entry (e.g. after the credentials rotated). */
void rt_sigv4_cache_clear(struct rt_sigv4_cache *cache);
/* Reports how many lookups hit and missed since creation. */
void rt_sigv4_cache_stats(const struct rt_sigv4_cache *cache,
                          unsigned long *hits,
                          unsigned long *misses);

/*
 * A raw HTTP/1.1 request as people and the conformance suite write it, parsed in place: LF or
 * CRLF line ends, no blank line when there is no body, header lines folded onto the next line
 * with leading whitespace, and a request target that may hold literal spaces or raw UTF-8 (the
 * target is everything between the first space and the last " HTTP/x.y"). Every view points
 * into the parsed text.
 */
#define RT_SIGV4_RAW_MAX_HEADERS 128
struct rt_sigv4_raw_request {
    struct rt_str method;
    struct rt_str target;  /* path and query as written */
    struct rt_str path;    /* target before the first '?' */
    struct rt_str query;   /* target after the first '?' (empty without one) */
    struct rt_str version; /* "HTTP/1.1" */
    bool has_query;        /* the target holds a '?' */
    struct rt_sigv4_header headers[RT_SIGV4_RAW_MAX_HEADERS]; /* value spans continuation lines */
    struct rt_str lines[RT_SIGV4_RAW_MAX_HEADERS]; /* each header's full text, folds included */
    size_t n_headers;
    struct rt_str body; /* after the blank line; empty without one */
    bool crlf;          /* the request line ended in CRLF */
    bool colon_space;   /* the first header was written "Name: value" */
};

/*
 * Parses text[0..len) into out (views into text). Returns: 0, or RT_EPARSE with err naming the
 * problem (no request line, a header line without ':', an empty name, a name with spaces or
 * control bytes, more than RT_SIGV4_RAW_MAX_HEADERS headers).
 */
int rt_sigv4_raw_parse(const char *text,
                       size_t len,
                       struct rt_sigv4_raw_request *out,
                       struct rt_error *err);

#endif
