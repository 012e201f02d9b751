/*
 * sigv4.c - the SigV4 canonical request, string to sign and signing result.
 *
 * Design: one function (build) gathers what the canonical request needs - the sorted header
 * list, the signed-headers string, the decoded and re-encoded query parameters - using stack
 * arrays and a stack arena, falling back to one heap block only for unusually large requests.
 * The canonical request is then streamed through a small staging buffer into either a SHA-256
 * state (signing) or an rt_buf (the stage function tests and --verbose use), so both paths share
 * every byte of the logic and the hot path never materialises the text.
 */
#include "sigv4_int.h" /* first: it sets OPENSSL_SUPPRESS_DEPRECATED before any OpenSSL header */

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/log.h"

#define STACK_HEADERS 64
#define STACK_PARAMS 64
#define STACK_ARENA 4096
#define STAGE_BYTES 1024
#define MAX_NAME 128 /* region and service */

/* ---- small helpers ------------------------------------------------------------------------ */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static const char HEXU[] = "0123456789ABCDEF";

/* Case-insensitive (ASCII) comparison; shorter sorts first on a common prefix. */
static int cmp_ci(struct rt_str a, struct rt_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a.p[i]), y = lower((unsigned char)b.p[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

static int cmp_bytes(struct rt_str a, struct rt_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool rt_sigv4_header_unsignable(struct rt_str name)
{
    /* aws-wire.md 1.3 plus the SDK's list: headers that proxies and HTTP stacks add, drop or
     * rewrite, so a signature over them would break in transit. */
    static const char *const never[] = {"authorization",
                                        "cache-control",
                                        "connection",
                                        "expect",
                                        "from",
                                        "keep-alive",
                                        "max-forwards",
                                        "pragma",
                                        "referer",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "upgrade",
                                        "user-agent",
                                        "x-amzn-trace-id",
                                        NULL};
    for (size_t i = 0; never[i]; i++)
        if (cmp_ci(name, rt_str_c(never[i])) == 0)
            return true;
    if (name.len >= 6 && cmp_ci((struct rt_str){name.p, 6}, RT_STR_LIT("proxy-")) == 0)
        return true;
    if (name.len >= 4 && cmp_ci((struct rt_str){name.p, 4}, RT_STR_LIT("sec-")) == 0)
        return true;
    return false;
}

unsigned rt_sigv4_effective_flags(const struct rt_sigv4_config *cfg)
{
    unsigned f = cfg->flags;
    if (!(f & RT_SIGV4_NOT_S3) && rt_str_eq_c(cfg->service, "s3"))
        f |= RT_SIGV4_S3;
    if (f & RT_SIGV4_S3)
        f |= RT_SIGV4_NO_NORMALIZE | RT_SIGV4_SINGLE_ENCODE | RT_SIGV4_CONTENT_SHA256;
    return f;
}

/* ---- dates (own civil-calendar arithmetic: no locale, no lock, no libc time zone) -------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int rt_sigv4_format_date(int64_t epoch_s, char out[RT_SIGV4_DATE_LEN + 1])
{
    if (epoch_s < 0 || epoch_s > INT64_C(253402300799)) {
        out[0] = '\0';
        return RT_EINVAL;
    }
    int64_t days = epoch_s / 86400, rem = epoch_s % 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned v[6] = {(unsigned)y,         m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60)};
    char *o = out;
    for (int k = 3; k >= 0; k--) {
        o[k] = (char)('0' + v[0] % 10);
        v[0] /= 10;
    }
    o += 4;
    for (int i = 1; i < 6; i++) {
        if (i == 3)
            *o++ = 'T';
        *o++ = (char)('0' + v[i] / 10);
        *o++ = (char)('0' + v[i] % 10);
    }
    *o++ = 'Z';
    *o = '\0';
    return 0;
}

int rt_sigv4_parse_date(const char *s, int64_t *epoch_s)
{
    if (!s || strlen(s) != RT_SIGV4_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return RT_EINVAL;
    unsigned v[14];
    for (int i = 0, j = 0; i < 15; i++) {
        if (i == 8)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return RT_EINVAL;
        v[j++] = (unsigned)(s[i] - '0');
    }
    unsigned y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    unsigned mo = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    unsigned h = v[8] * 10 + v[9], mi = v[10] * 10 + v[11], se = v[12] * 10 + v[13];
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return RT_EINVAL;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    char back[RT_SIGV4_DATE_LEN + 1];
    /* A day that does not exist (Feb 30) rolls over; the round trip catches it. */
    if (rt_sigv4_format_date(t, back) != 0 || strcmp(back, s) != 0)
        return RT_EINVAL;
    *epoch_s = t;
    return 0;
}

/* ---- the sink: bytes go to a SHA-256 state, an rt_buf, or both --------------------------- */

struct sink {
    SHA256_CTX *sha;
    struct rt_buf *buf;
    int rc;
    size_t n;
    unsigned char stage[STAGE_BYTES];
};

static void sink_flush(struct sink *s)
{
    if (!s->n)
        return;
    if (s->sha)
        SHA256_Update(s->sha, s->stage, s->n);
    if (s->buf && !s->rc)
        s->rc = rt_buf_append(s->buf, s->stage, s->n);
    s->n = 0;
}

static inline void put_c(struct sink *s, unsigned char c)
{
    if (s->n == STAGE_BYTES)
        sink_flush(s);
    s->stage[s->n++] = c;
}

static void put(struct sink *s, const void *p, size_t n)
{
    if (n > STAGE_BYTES - s->n) {
        sink_flush(s);
        if (n >= STAGE_BYTES) {
            if (s->sha)
                SHA256_Update(s->sha, p, n);
            if (s->buf && !s->rc)
                s->rc = rt_buf_append(s->buf, p, n);
            return;
        }
    }
    memcpy(s->stage + s->n, p, n);
    s->n += n;
}

static void put_str(struct sink *s, struct rt_str v)
{
    put(s, v.p, v.len);
}

static void put_encoded(struct sink *s, struct rt_str in, bool keep_slash)
{
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            put_c(s, c);
        } else {
            put_c(s, '%');
            put_c(s, (unsigned char)HEXU[c >> 4]);
            put_c(s, (unsigned char)HEXU[c & 15]);
        }
    }
}

/* S3's single encoding: the path is already encoded, so a valid %XX stays an escape (in
 * canonical uppercase, or the plain character when it is unreserved) and only bytes that may
 * not appear raw in a path (a literal space, raw UTF-8...) are encoded. */
static void put_single_encoded(struct sink *s, struct rt_str in)
{
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        int hi, lo;
        if (c == '%' && i + 2 < in.len && (hi = hexval((unsigned char)in.p[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)in.p[i + 2])) >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (unreserved(c)) {
                put_c(s, c);
                continue;
            }
        } else if (unreserved(c) || c == '/') {
            put_c(s, c);
            continue;
        }
        put_c(s, '%');
        put_c(s, (unsigned char)HEXU[c >> 4]);
        put_c(s, (unsigned char)HEXU[c & 15]);
    }
}

/* Writes a header value trimmed, with every inner whitespace run folded to one space. */
static void put_header_value(struct sink *s, struct rt_str v)
{
    size_t i = 0, n = v.len;
    while (i < n && is_ws((unsigned char)v.p[i]))
        i++;
    while (n > i && is_ws((unsigned char)v.p[n - 1]))
        n--;
    while (i < n) {
        size_t j = i;
        while (j < n && !is_ws((unsigned char)v.p[j]))
            j++;
        put(s, v.p + i, j - i);
        if (j == n)
            break;
        put_c(s, ' ');
        while (j < n && is_ws((unsigned char)v.p[j]))
            j++;
        i = j;
    }
}

/* ---- path normalisation ------------------------------------------------------------------ */

/* Removes empty and "." segments and resolves ".." into out (at least path.len + 1 bytes),
 * keeping a leading '/' and a trailing '/' after a kept segment (the SDKs' rule). */
static size_t normalize_path(struct rt_str path, char *out)
{
    bool lead = path.len && path.p[0] == '/';
    size_t prefix = lead ? 1 : 0, o = prefix, nseg = 0;
    if (lead)
        out[0] = '/';
    size_t i = 0;
    while (i <= path.len) {
        size_t j = i;
        while (j < path.len && path.p[j] != '/')
            j++;
        struct rt_str seg = {path.p + i, j - i};
        if (seg.len == 0 || rt_str_eq_c(seg, ".")) {
            /* skipped */
        } else if (rt_str_eq_c(seg, "..")) {
            if (nseg) {
                while (o > prefix && out[o - 1] != '/')
                    o--;
                if (o > prefix)
                    o--; /* the separator before the popped segment */
                nseg--;
            }
        } else {
            if (nseg)
                out[o++] = '/';
            memcpy(out + o, seg.p, seg.len);
            o += seg.len;
            nseg++;
        }
        i = j + 1;
    }
    if (nseg && path.p[path.len - 1] == '/')
        out[o++] = '/';
    if (o == 0)
        out[o++] = '/';
    return o;
}

static void put_path(struct sink *s, struct rt_str path, unsigned flags, char *scratch)
{
    if (path.len == 0)
        path = RT_STR_LIT("/");
    if (!(flags & RT_SIGV4_NO_NORMALIZE)) {
        size_t n = normalize_path(path, scratch);
        path = (struct rt_str){scratch, n};
    }
    if (flags & RT_SIGV4_SINGLE_ENCODE)
        put_single_encoded(s, path);
    else
        put_encoded(s, path, true);
}

/* ---- building the canonical request ------------------------------------------------------ */

struct hdr {
    struct rt_str name;
    struct rt_str value;
    size_t order;
};

struct param {
    struct rt_str k, v; /* encoded, in the arena */
};

struct ctx {
    unsigned flags;
    char date[RT_SIGV4_DATE_LEN + 1];
    struct rt_str date8;
    struct rt_str payload;
    struct hdr *h;
    size_t nh;
    struct param *pv;
    size_t np;
    char *arena;
    size_t alen, acap;
    char *path_scratch;
    void *heap; /* one block for a large request, else NULL */
    struct hdr hstack[STACK_HEADERS];
    struct param pstack[STACK_PARAMS];
    char astack[STACK_ARENA];
};

static void ctx_cleanup(struct ctx *c)
{
    rt_free(c->heap);
    c->heap = NULL;
}

/* Writes src encoded (all but unreserved) into the arena. src may be percent-decoded first. */
static struct rt_str arena_encode(struct ctx *c, struct rt_str src, bool decode)
{
    char *start = c->arena + c->alen, *o = start;
    for (size_t i = 0; i < src.len; i++) {
        unsigned char b = (unsigned char)src.p[i];
        int hi, lo;
        if (decode && b == '%' && i + 2 < src.len &&
            (hi = hexval((unsigned char)src.p[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)src.p[i + 2])) >= 0) {
            b = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (unreserved(b)) {
            *o++ = (char)b;
        } else {
            *o++ = '%';
            *o++ = HEXU[b >> 4];
            *o++ = HEXU[b & 15];
        }
    }
    c->alen += (size_t)(o - start);
    return (struct rt_str){start, (size_t)(o - start)};
}

static char *text_reserve(struct rt_sigv4_result *r, size_t n)
{
    if (n > sizeof(r->text) - r->text_len)
        return NULL;
    char *p = r->text + r->text_len;
    r->text_len += n;
    return p;
}

static struct rt_str text_add(struct rt_sigv4_result *r, const char *p, size_t n, bool *ok)
{
    char *d = text_reserve(r, n);
    if (!d) {
        *ok = false;
        return (struct rt_str){"", 0};
    }
    if (n)
        memcpy(d, p, n);
    return (struct rt_str){d, n};
}

static bool param_less(const struct param *a, const struct param *b)
{
    int c = cmp_bytes(a->k, b->k);
    return c < 0 || (c == 0 && cmp_bytes(a->v, b->v) < 0);
}

static bool hdr_less(const struct hdr *a, const struct hdr *b)
{
    int c = cmp_ci(a->name, b->name);
    return c < 0 || (c == 0 && a->order < b->order);
}

static int validate(const struct rt_sigv4_config *cfg, unsigned flags, struct rt_error *err)
{
    if (cfg->access_key.len == 0)
        return rt_error_set(err, RT_EINVAL, "sigv4: empty access key");
    if (cfg->region.len == 0 || cfg->region.len > MAX_NAME)
        return rt_error_set(err, RT_EINVAL, "sigv4: region must be 1..%d bytes", MAX_NAME);
    if (cfg->service.len == 0 || cfg->service.len > MAX_NAME)
        return rt_error_set(err, RT_EINVAL, "sigv4: service must be 1..%d bytes", MAX_NAME);
    if ((flags & RT_SIGV4_PRESIGN) && (cfg->expires_s < 1 || cfg->expires_s > 604800))
        return rt_error_set(err, RT_EINVAL, "sigv4: presign expiry must be 1..604800 seconds");
    return 0;
}

static int
set_date(const struct rt_sigv4_config *cfg, char out[RT_SIGV4_DATE_LEN + 1], struct rt_error *err)
{
    if (cfg->amz_date) {
        int64_t t;
        if (rt_sigv4_parse_date(cfg->amz_date, &t) != 0)
            return rt_error_set(err, RT_EINVAL, "sigv4: signing time %s is not YYYYMMDDTHHMMSSZ",
                                rt_q(cfg->amz_date));
        memcpy(out, cfg->amz_date, RT_SIGV4_DATE_LEN + 1);
        return 0;
    }
    if (rt_sigv4_format_date(cfg->time_s, out) != 0)
        return rt_error_set(err, RT_EINVAL, "sigv4: signing time %lld is out of range",
                            (long long)cfg->time_s);
    return 0;
}

/* Everything before streaming: headers sorted, signed headers and credential in r->text,
 * query parameters (with the presign ones) encoded and sorted. */
static int build(const struct rt_sigv4_request *req,
                 const struct rt_sigv4_config *cfg,
                 struct ctx *c,
                 struct rt_sigv4_result *r,
                 struct rt_error *err)
{
    memset(c, 0, offsetof(struct ctx, hstack));
    c->flags = rt_sigv4_effective_flags(cfg);
    int rc = validate(cfg, c->flags, err);
    if (rc)
        return rc;
    rc = set_date(cfg, c->date, err);
    if (rc)
        return rc;
    c->date8 = (struct rt_str){c->date, 8};
    c->payload = req->payload_hash.len ? req->payload_hash : RT_STR_LIT(RT_SIGV4_EMPTY_SHA256);
    bool presign = c->flags & RT_SIGV4_PRESIGN;
    bool token = cfg->session_token.len > 0;
    bool sign_token = token && !(c->flags & RT_SIGV4_OMIT_TOKEN);
    bool content = (c->flags & RT_SIGV4_CONTENT_SHA256) && !presign;

    memcpy(r->amz_date, c->date, sizeof(r->amz_date));
    r->signature[0] = '\0';
    r->n_add = 0;
    r->text_len = 0;
    r->query = (struct rt_str){"", 0};

    /* Sizes first, so one heap block (rarely) covers every scratch need. */
    size_t n_amp = 1;
    for (size_t i = 0; i < req->query.len; i++)
        n_amp += req->query.p[i] == '&';
    size_t hcap = req->n_headers + 3, pcap = n_amp + 6;
    size_t acap = 3 * (req->query.len + cfg->access_key.len + cfg->session_token.len) +
                  6 * MAX_NAME + 512 + req->path.len + 1;
    /* the signed-headers list, encoded, is bounded by 3x the header names */
    for (size_t i = 0; i < req->n_headers; i++)
        acap += 3 * (req->headers[i].name.len + 1);
    size_t heap = 0;
    if (hcap > STACK_HEADERS)
        heap += hcap * sizeof(struct hdr);
    if (pcap > STACK_PARAMS)
        heap += pcap * sizeof(struct param);
    if (acap > STACK_ARENA)
        heap += acap;
    if (heap) {
        c->heap = rt_malloc(heap);
        if (!c->heap)
            return rt_error_set(err, RT_ENOMEM, "sigv4: out of memory for a large request");
    }
    char *hp = c->heap;
    if (hcap > STACK_HEADERS) {
        c->h = (struct hdr *)(void *)hp;
        hp += hcap * sizeof(struct hdr);
    } else {
        c->h = c->hstack;
    }
    if (pcap > STACK_PARAMS) {
        c->pv = (struct param *)(void *)hp;
        hp += pcap * sizeof(struct param);
    } else {
        c->pv = c->pstack;
    }
    if (acap > STACK_ARENA) {
        c->arena = hp;
        c->acap = acap;
    } else {
        c->arena = c->astack;
        c->acap = STACK_ARENA;
    }
    c->path_scratch = c->arena;
    c->alen = req->path.len + 1;

    /* Headers: the request's own minus what we never sign or replace, plus ours. */
    for (size_t i = 0; i < req->n_headers; i++) {
        struct rt_str n = req->headers[i].name;
        if (rt_sigv4_header_unsignable(n) || cmp_ci(n, RT_STR_LIT("x-amz-date")) == 0 ||
            (token && cmp_ci(n, RT_STR_LIT("x-amz-security-token")) == 0) ||
            (content && cmp_ci(n, RT_STR_LIT("x-amz-content-sha256")) == 0))
            continue;
        c->h[c->nh++] = (struct hdr){n, req->headers[i].value, i};
    }
    if (!presign) {
        c->h[c->nh++] =
            (struct hdr){RT_STR_LIT("x-amz-date"), {r->amz_date, RT_SIGV4_DATE_LEN}, (size_t)-3};
        if (sign_token)
            c->h[c->nh++] =
                (struct hdr){RT_STR_LIT("x-amz-security-token"), cfg->session_token, (size_t)-2};
        if (content)
            c->h[c->nh++] =
                (struct hdr){RT_STR_LIT("x-amz-content-sha256"), c->payload, (size_t)-1};
    }
    for (size_t i = 1; i < c->nh; i++) {
        struct hdr x = c->h[i];
        size_t j = i;
        while (j > 0 && hdr_less(&x, &c->h[j - 1])) {
            c->h[j] = c->h[j - 1];
            j--;
        }
        c->h[j] = x;
    }

    /* Credential and signed headers into the result text. */
    char scope_tail[MAX_NAME * 2 + 32];
    int sl = snprintf(scope_tail, sizeof(scope_tail), "/%.8s/%.*s/%.*s/aws4_request", c->date,
                      (int)cfg->region.len, cfg->region.p, (int)cfg->service.len, cfg->service.p);
    char *cred = text_reserve(r, cfg->access_key.len + (size_t)sl);
    if (!cred)
        return rt_error_set(err, RT_ETOOBIG, "sigv4: access key too long");
    memcpy(cred, cfg->access_key.p, cfg->access_key.len);
    memcpy(cred + cfg->access_key.len, scope_tail, (size_t)sl);
    r->credential = (struct rt_str){cred, cfg->access_key.len + (size_t)sl};
    char *sh = r->text + r->text_len;
    size_t shn = 0;
    for (size_t i = 0; i < c->nh; i++) {
        if (i > 0 && cmp_ci(c->h[i].name, c->h[i - 1].name) == 0)
            continue;
        char *d = text_reserve(r, c->h[i].name.len + (shn ? 1 : 0));
        if (!d)
            return rt_error_set(err, RT_ETOOBIG, "sigv4: signed header list exceeds %d bytes",
                                RT_SIGV4_RESULT_TEXT);
        if (shn)
            *d++ = ';';
        for (size_t k = 0; k < c->h[i].name.len; k++)
            d[k] = (char)lower((unsigned char)c->h[i].name.p[k]);
        shn += c->h[i].name.len + (shn ? 1 : 0);
    }
    r->signed_headers = (struct rt_str){sh, shn};

    /* Query parameters: decode, re-encode, keep repeats and empty values. */
    size_t i = 0;
    while (i < req->query.len) {
        size_t j = i;
        while (j < req->query.len && req->query.p[j] != '&')
            j++;
        if (j > i) {
            struct rt_str piece = {req->query.p + i, j - i};
            const char *eq = memchr(piece.p, '=', piece.len);
            struct rt_str k = {piece.p, eq ? (size_t)(eq - piece.p) : piece.len};
            struct rt_str v =
                eq ? (struct rt_str){eq + 1, piece.len - k.len - 1} : (struct rt_str){"", 0};
            struct param p;
            p.k = arena_encode(c, k, true);
            /* The SDKs drop a stale signature from the query they sign. */
            if (!rt_str_eq_c(p.k, "X-Amz-Signature")) {
                p.v = arena_encode(c, v, true);
                c->pv[c->np++] = p;
            }
        }
        i = j + 1;
    }
    if (presign) {
        char exp[16];
        int el = snprintf(exp, sizeof(exp), "%u", (unsigned)cfg->expires_s);
        struct {
            const char *k;
            struct rt_str v;
        } add[] = {{"X-Amz-Algorithm", RT_STR_LIT("AWS4-HMAC-SHA256")},
                   {"X-Amz-Credential", r->credential},
                   {"X-Amz-Date", {r->amz_date, RT_SIGV4_DATE_LEN}},
                   {"X-Amz-Expires", {exp, (size_t)el}},
                   {"X-Amz-SignedHeaders", r->signed_headers},
                   {"X-Amz-Security-Token", cfg->session_token}};
        size_t n_add = sign_token ? 6 : 5;
        for (size_t a = 0; a < n_add; a++) {
            struct param p;
            p.k = rt_str_c(add[a].k);
            p.v = arena_encode(c, add[a].v, false);
            c->pv[c->np++] = p;
        }
    }
    for (size_t a = 1; a < c->np; a++) {
        struct param x = c->pv[a];
        size_t j = a;
        while (j > 0 && param_less(&x, &c->pv[j - 1])) {
            c->pv[j] = c->pv[j - 1];
            j--;
        }
        c->pv[j] = x;
    }
    return 0;
}

static void stream(const struct rt_sigv4_request *req,
                   struct ctx *c,
                   const struct rt_sigv4_result *r,
                   struct sink *s)
{
    put_str(s, req->method);
    put_c(s, '\n');
    put_path(s, req->path, c->flags, c->path_scratch);
    put_c(s, '\n');
    for (size_t i = 0; i < c->np; i++) {
        if (i)
            put_c(s, '&');
        put_str(s, c->pv[i].k);
        put_c(s, '=');
        put_str(s, c->pv[i].v);
    }
    put_c(s, '\n');
    for (size_t i = 0; i < c->nh; i++) {
        bool same = i > 0 && cmp_ci(c->h[i].name, c->h[i - 1].name) == 0;
        if (same) {
            put_c(s, ',');
        } else {
            if (i)
                put_c(s, '\n');
            for (size_t k = 0; k < c->h[i].name.len; k++)
                put_c(s, lower((unsigned char)c->h[i].name.p[k]));
            put_c(s, ':');
        }
        put_header_value(s, c->h[i].value);
    }
    if (c->nh)
        put_c(s, '\n');
    put_c(s, '\n');
    put_str(s, r->signed_headers);
    put_c(s, '\n');
    put_str(s, c->payload);
    sink_flush(s);
}

int rt_sigv4_canonical_request(const struct rt_sigv4_request *req,
                               const struct rt_sigv4_config *cfg,
                               struct rt_buf *out,
                               struct rt_error *err)
{
    struct ctx *c = rt_malloc(sizeof(*c));
    struct rt_sigv4_result *r = rt_malloc(sizeof(*r));
    struct sink *s = rt_malloc(sizeof(*s));
    int rc = 0;
    if (!c || !r || !s) {
        rc = rt_error_set(err, RT_ENOMEM, "sigv4: out of memory");
    } else {
        c->heap = NULL;
        rc = build(req, cfg, c, r, err);
        if (rc == 0) {
            s->sha = NULL;
            s->buf = out;
            s->rc = 0;
            s->n = 0;
            stream(req, c, r, s);
            if (s->rc)
                rc = rt_error_set(err, s->rc, "sigv4: canonical request does not fit");
        }
        ctx_cleanup(c);
    }
    if (r)
        rt_free_secret(r, sizeof(*r));
    rt_free(c);
    rt_free(s);
    return rc;
}

/* Writes the string to sign for a canonical-request hash; returns its length. out must hold
 * 17 + 17 + 8 + 2*MAX_NAME + 16 + 64 bytes. */
static size_t sts_write(char *out,
                        const char *date,
                        struct rt_str region,
                        struct rt_str service,
                        const char hash_hex[RT_SIGV4_HEX_LEN])
{
    char *o = out;
    memcpy(o, "AWS4-HMAC-SHA256\n", 17);
    o += 17;
    memcpy(o, date, RT_SIGV4_DATE_LEN);
    o += RT_SIGV4_DATE_LEN;
    *o++ = '\n';
    memcpy(o, date, 8);
    o += 8;
    *o++ = '/';
    memcpy(o, region.p, region.len);
    o += region.len;
    *o++ = '/';
    memcpy(o, service.p, service.len);
    o += service.len;
    memcpy(o, "/aws4_request\n", 14);
    o += 14;
    memcpy(o, hash_hex, RT_SIGV4_HEX_LEN);
    o += RT_SIGV4_HEX_LEN;
    return (size_t)(o - out);
}

#define STS_MAX (17 + RT_SIGV4_DATE_LEN + 1 + 8 + 2 + 2 * MAX_NAME + 14 + RT_SIGV4_HEX_LEN)

int rt_sigv4_string_to_sign(const struct rt_sigv4_config *cfg,
                            struct rt_str canonical_request,
                            struct rt_buf *out,
                            struct rt_error *err)
{
    char date[RT_SIGV4_DATE_LEN + 1], hex[RT_SIGV4_HEX_LEN + 1], sts[STS_MAX];
    int rc = validate(cfg, cfg->flags & ~(unsigned)RT_SIGV4_PRESIGN, err);
    if (rc == 0)
        rc = set_date(cfg, date, err);
    if (rc)
        return rc;
    rt_sigv4_sha256_hex(canonical_request.p, canonical_request.len, hex);
    size_t n = sts_write(sts, date, cfg->region, cfg->service, hex);
    rc = rt_buf_append(out, sts, n);
    return rc ? rt_error_set(err, rc, "sigv4: string to sign does not fit") : 0;
}

static void sign_sts(const struct rt_sigv4_config *cfg,
                     const char *date,
                     const char *sts,
                     size_t n,
                     char out[RT_SIGV4_HEX_LEN + 1])
{
    struct rt__hmac_key k;
    unsigned char mac[32];
    rt__signing_key(cfg->cache, cfg->secret_key, (struct rt_str){date, 8}, cfg->region,
                    cfg->service, &k);
    rt__hmac(&k, sts, n, mac);
    rt__hex(mac, 32, out);
    out[RT_SIGV4_HEX_LEN] = '\0';
    rt__hmac_wipe(&k);
    OPENSSL_cleanse(mac, sizeof(mac));
}

int rt_sigv4_signature(const struct rt_sigv4_config *cfg,
                       struct rt_str string_to_sign,
                       char out[RT_SIGV4_HEX_LEN + 1],
                       struct rt_error *err)
{
    char date[RT_SIGV4_DATE_LEN + 1];
    out[0] = '\0';
    int rc = validate(cfg, cfg->flags & ~(unsigned)RT_SIGV4_PRESIGN, err);
    if (rc == 0)
        rc = set_date(cfg, date, err);
    if (rc)
        return rc;
    sign_sts(cfg, date, string_to_sign.p, string_to_sign.len, out);
    return 0;
}

static struct rt_str text_encode(struct rt_sigv4_result *r, struct rt_str v, bool *ok)
{
    char *start = r->text + r->text_len;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char b = (unsigned char)v.p[i];
        char *d = text_reserve(r, unreserved(b) ? 1 : 3);
        if (!d) {
            *ok = false;
            return (struct rt_str){"", 0};
        }
        if (unreserved(b)) {
            d[0] = (char)b;
        } else {
            d[0] = '%';
            d[1] = HEXU[b >> 4];
            d[2] = HEXU[b & 15];
        }
    }
    return (struct rt_str){start, (size_t)(r->text + r->text_len - start)};
}

int rt_sigv4_sign(const struct rt_sigv4_request *req,
                  const struct rt_sigv4_config *cfg,
                  struct rt_sigv4_result *out,
                  struct rt_error *err)
{
    struct ctx c;
    struct sink s;
    SHA256_CTX sha;
    c.heap = NULL;
    int rc = build(req, cfg, &c, out, err);
    if (rc) {
        ctx_cleanup(&c);
        return rc;
    }
    SHA256_Init(&sha);
    s.sha = &sha;
    s.buf = NULL;
    s.rc = 0;
    s.n = 0;
    stream(req, &c, out, &s);
    unsigned char md[32];
    char hex[RT_SIGV4_HEX_LEN], sts[STS_MAX];
    SHA256_Final(md, &sha);
    rt__hex(md, 32, hex);
    size_t n = sts_write(sts, c.date, cfg->region, cfg->service, hex);
    sign_sts(cfg, c.date, sts, n, out->signature);
    bool presign = c.flags & RT_SIGV4_PRESIGN;
    bool token = cfg->session_token.len > 0;
    bool sign_token = token && !(c.flags & RT_SIGV4_OMIT_TOKEN);
    bool ok = true;
    if (!presign) {
        if (token)
            out->add[out->n_add++] = (struct rt_sigv4_header){
                RT_STR_LIT("X-Amz-Security-Token"),
                text_add(out, cfg->session_token.p, cfg->session_token.len, &ok)};
        out->add[out->n_add++] =
            (struct rt_sigv4_header){RT_STR_LIT("X-Amz-Date"), {out->amz_date, RT_SIGV4_DATE_LEN}};
        if (c.flags & RT_SIGV4_CONTENT_SHA256)
            out->add[out->n_add++] = (struct rt_sigv4_header){
                RT_STR_LIT("x-amz-content-sha256"), text_add(out, c.payload.p, c.payload.len, &ok)};
        char *start = out->text + out->text_len;
        text_add(out, "AWS4-HMAC-SHA256 Credential=", 28, &ok);
        text_add(out, out->credential.p, out->credential.len, &ok);
        text_add(out, ", SignedHeaders=", 16, &ok);
        text_add(out, out->signed_headers.p, out->signed_headers.len, &ok);
        text_add(out, ", Signature=", 12, &ok);
        text_add(out, out->signature, RT_SIGV4_HEX_LEN, &ok);
        out->add[out->n_add++] = (struct rt_sigv4_header){
            RT_STR_LIT("Authorization"), {start, (size_t)(out->text + out->text_len - start)}};
    } else {
        /* The SDKs' order: Algorithm, Credential, Date, SignedHeaders, Expires, token,
         * Signature (the canonical query sorts them anyway). */
        char exp[16];
        int el = snprintf(exp, sizeof(exp), "%u", (unsigned)cfg->expires_s);
        char *start = out->text + out->text_len;
        text_add(out, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=", 50, &ok);
        text_encode(out, out->credential, &ok);
        text_add(out, "&X-Amz-Date=", 12, &ok);
        text_add(out, out->amz_date, RT_SIGV4_DATE_LEN, &ok);
        text_add(out, "&X-Amz-SignedHeaders=", 21, &ok);
        text_encode(out, out->signed_headers, &ok);
        text_add(out, "&X-Amz-Expires=", 15, &ok);
        text_add(out, exp, (size_t)el, &ok);
        if (token) {
            text_add(out, "&X-Amz-Security-Token=", 22, &ok);
            text_encode(out, cfg->session_token, &ok);
        }
        text_add(out, "&X-Amz-Signature=", 17, &ok);
        text_add(out, out->signature, RT_SIGV4_HEX_LEN, &ok);
        out->query = (struct rt_str){start, (size_t)(out->text + out->text_len - start)};
    }
    (void)sign_token;
    ctx_cleanup(&c);
    OPENSSL_cleanse(&sha, sizeof(sha));
    if (!ok) {
        out->n_add = 0;
        out->query = (struct rt_str){"", 0};
        return rt_error_set(err, RT_ETOOBIG, "sigv4: signing result exceeds %d bytes",
                            RT_SIGV4_RESULT_TEXT);
    }
    return 0;
}

int rt_sigv4_uri_encode(struct rt_str in, bool keep_slash, struct rt_buf *out)
{
    struct sink *s = rt_malloc(sizeof(*s));
    if (!s)
        return RT_ENOMEM;
    s->sha = NULL;
    s->buf = out;
    s->rc = 0;
    s->n = 0;
    put_encoded(s, in, keep_slash);
    sink_flush(s);
    int rc = s->rc;
    rt_free(s);
    return rc;
}

int rt_sigv4_canonical_path(struct rt_str path, unsigned flags, struct rt_buf *out)
{
    struct sink *s = rt_malloc(sizeof(*s));
    char *scratch = rt_malloc(path.len + 2);
    int rc = RT_ENOMEM;
    if (s && scratch) {
        s->sha = NULL;
        s->buf = out;
        s->rc = 0;
        s->n = 0;
        put_path(s, path, flags, scratch);
        sink_flush(s);
        rc = s->rc;
    }
    rt_free(scratch);
    rt_free(s);
    return rc;
}

int rt_sigv4_canonical_query(struct rt_str query, struct rt_buf *out)
{
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET"), .query = query};
    struct rt_sigv4_config cfg = {.access_key = RT_STR_LIT("A"),
                                  .region = RT_STR_LIT("r"),
                                  .service = RT_STR_LIT("s"),
                                  .time_s = 0};
    struct rt_buf cr;
    rt_buf_init(&cr, out->max_bytes + 4096);
    int rc = rt_sigv4_canonical_request(&req, &cfg, &cr, NULL);
    if (rc == 0) {
        /* The query is the third line of the canonical request. */
        const char *a = memchr(cr.data, '\n', cr.len);
        const char *b = a ? memchr(a + 1, '\n', cr.len - (size_t)(a + 1 - cr.data)) : NULL;
        const char *e = b ? memchr(b + 1, '\n', cr.len - (size_t)(b + 1 - cr.data)) : NULL;
        rc = e ? rt_buf_append(out, b + 1, (size_t)(e - b - 1)) : RT_EPARSE;
    }
    rt_buf_cleanup(&cr);
    return rc;
}

int rt_sigv4_each_header(const struct rt_sigv4_result *res,
                         int (*set)(const char *name, const char *value, void *ud),
                         void *ud)
{
    struct rt_buf tmp;
    rt_buf_init(&tmp, RT_SIGV4_RESULT_TEXT * 2);
    int rc = 0;
    for (size_t i = 0; i < res->n_add && !rc; i++) {
        rt_buf_reset(&tmp);
        size_t nl = res->add[i].name.len;
        rc = rt_buf_append(&tmp, res->add[i].name.p, nl);
        if (!rc)
            rc = rt_buf_append_char(&tmp, '\0');
        if (!rc)
            rc = rt_buf_append(&tmp, res->add[i].value.p, res->add[i].value.len);
        if (!rc)
            rc = set(tmp.data, tmp.data + nl + 1, ud);
    }
    rt_buf_cleanup_secret(&tmp);
    return rc;
}
