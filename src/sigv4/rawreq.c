/*
 * rawreq.c - parses one raw HTTP/1.1 request as people and the SigV4 conformance suite write it,
 * for `retraind sign` and the tests.
 *
 * Design: lenient where a person typing a request would be (LF or CRLF, no blank line when there
 * is no body, folded continuation lines, a target with a literal space or raw UTF-8 - the target
 * is everything between the first space and the last " HTTP/"), strict where the result would be
 * ambiguous (a header line without ':', an empty name, a name holding whitespace). Nothing is
 * copied: every view points into the input, and a folded value keeps its line breaks, which the
 * signer's whitespace folding turns into single spaces.
 */
#include <string.h>

#include "retraind/sigv4.h"

static size_t line_end(const char *t, size_t len, size_t from)
{
    const char *nl = memchr(t + from, '\n', len - from);
    return nl ? (size_t)(nl - t) : len;
}

/* The line [from, end) without a trailing CR. */
static size_t trim_cr(const char *t, size_t from, size_t end)
{
    return (end > from && t[end - 1] == '\r') ? end - 1 : end;
}

static bool valid_name(struct rt_str n)
{
    if (n.len == 0)
        return false;
    for (size_t i = 0; i < n.len; i++) {
        unsigned char c = (unsigned char)n.p[i];
        if (c <= ' ' || c == 0x7f || c == ':')
            return false;
    }
    return true;
}

int rt_sigv4_raw_parse(const char *text,
                       size_t len,
                       struct rt_sigv4_raw_request *out,
                       struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    out->body = (struct rt_str){"", 0};
    out->query = (struct rt_str){"", 0};
    if (len == 0)
        return rt_error_set(err, RT_EPARSE, "request is empty");
    size_t nl = line_end(text, len, 0);
    size_t rl_end = trim_cr(text, 0, nl);
    out->crlf = rl_end < nl;
    const char *sp = memchr(text, ' ', rl_end);
    if (!sp || sp == text)
        return rt_error_set(err, RT_EPARSE, "request line must be \"METHOD TARGET HTTP/1.1\"");
    out->method = (struct rt_str){text, (size_t)(sp - text)};
    for (size_t i = 0; i < out->method.len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < '!' || c > '~')
            return rt_error_set(err, RT_EPARSE, "request method holds a control byte");
    }
    /* The version is after the last space; the target may itself hold spaces. */
    size_t last = rl_end;
    while (last > 0 && text[last - 1] != ' ')
        last--;
    size_t tstart = (size_t)(sp - text) + 1;
    if (last <= tstart || rl_end - last < 5 || memcmp(text + last, "HTTP/", 5) != 0)
        return rt_error_set(err, RT_EPARSE,
                            "request line must end in \" HTTP/1.1\" (METHOD TARGET HTTP/1.1)");
    out->version = (struct rt_str){text + last, rl_end - last};
    out->target = (struct rt_str){text + tstart, last - 1 - tstart};
    if (out->target.len == 0)
        return rt_error_set(err, RT_EPARSE, "request target is empty");
    const char *q = memchr(out->target.p, '?', out->target.len);
    if (q) {
        out->has_query = true;
        out->path = (struct rt_str){out->target.p, (size_t)(q - out->target.p)};
        out->query = (struct rt_str){q + 1, out->target.len - out->path.len - 1};
    } else {
        out->path = out->target;
    }

    size_t pos = nl < len ? nl + 1 : len;
    while (pos < len) {
        size_t end = line_end(text, len, pos);
        size_t cend = trim_cr(text, pos, end);
        if (cend == pos) { /* blank line: the body follows */
            size_t b = end < len ? end + 1 : len;
            out->body = (struct rt_str){text + b, len - b};
            return 0;
        }
        if (text[pos] == ' ' || text[pos] == '\t') {
            if (out->n_headers == 0)
                return rt_error_set(err, RT_EPARSE, "a continuation line comes before any header");
            struct rt_sigv4_header *h = &out->headers[out->n_headers - 1];
            h->value.len = (size_t)(text + cend - h->value.p);
            struct rt_str *l = &out->lines[out->n_headers - 1];
            l->len = (size_t)(text + cend - l->p);
        } else {
            const char *colon = memchr(text + pos, ':', cend - pos);
            if (!colon)
                return rt_error_set(err, RT_EPARSE, "header line %zu has no ':'",
                                    out->n_headers + 1);
            struct rt_str name = {text + pos, (size_t)(colon - (text + pos))};
            if (!valid_name(name))
                return rt_error_set(err, RT_EPARSE,
                                    "header line %zu has an empty name or one with spaces",
                                    out->n_headers + 1);
            if (out->n_headers == RT_SIGV4_RAW_MAX_HEADERS)
                return rt_error_set(err, RT_EPARSE, "more than %d headers",
                                    RT_SIGV4_RAW_MAX_HEADERS);
            if (out->n_headers == 0)
                out->colon_space = colon + 1 < text + cend && colon[1] == ' ';
            out->headers[out->n_headers] =
                (struct rt_sigv4_header){name, {colon + 1, (size_t)(text + cend - colon - 1)}};
            out->lines[out->n_headers] = (struct rt_str){text + pos, cend - pos};
            out->n_headers++;
        }
        pos = end < len ? end + 1 : len;
    }
    return 0;
}
