/*
 * xml.c - a small, bounded XML scanner for the few elements AWS replies carry (S3 listings,
 * <Error> and <ErrorResponse> bodies, CopyObjectResult, the STS credentials reply); see xml.h.
 *
 * Design: no tree and no allocation. A caller walks an element's direct children with
 * rt_xml_next_child() (name and inner span), picks the ones it knows, and decodes character data
 * with rt_xml_text(). Processing instructions, comments and DOCTYPE declarations are skipped
 * (never interpreted: no external entities, no entity expansion beyond the five predefined ones
 * and numeric references), nesting is limited to 64 levels, and every scan stays inside the
 * span it was given, so hostile input can only make a call fail with RT_EPARSE.
 */
#include "retraind/xml.h"

#include <string.h>

#include "retraind/buf.h"
#include "retraind/error.h"

#define XML_MAX_DEPTH 64

/* Finds needle in [p, end). Returns: its position or NULL. */
static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    while ((size_t)(end - p) >= n) {
        const char *q = memchr(p, needle[0], (size_t)(end - p) - n + 1);
        if (!q)
            return NULL;
        if (memcmp(q, needle, n) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

static bool starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * At p == '<' of a markup that is not an element (comment, PI, CDATA, declaration): returns the
 * position after it, or NULL when unterminated. *cdata tells whether it was CDATA.
 */
static const char *skip_special(const char *p, const char *end, bool *cdata)
{
    const char *q;
    *cdata = false;
    if (starts(p, end, "<!--")) {
        q = find(p + 4, end, "-->");
        return q ? q + 3 : NULL;
    }
    if (starts(p, end, "<![CDATA[")) {
        *cdata = true;
        q = find(p + 9, end, "]]>");
        return q ? q + 3 : NULL;
    }
    if (starts(p, end, "<?")) {
        q = find(p + 2, end, "?>");
        return q ? q + 2 : NULL;
    }
    /* <!DOCTYPE ...> and other declarations: skipped whole, internal subsets included. */
    int depth = 0;
    for (q = p + 2; q < end; q++) {
        if (*q == '[')
            depth++;
        else if (*q == ']')
            depth--;
        else if (*q == '>' && depth <= 0)
            return q + 1;
    }
    return NULL;
}

static bool is_special(const char *p, const char *end)
{
    return end - p >= 2 && (p[1] == '!' || p[1] == '?');
}

struct tag {
    struct rt_str name; /* local name */
    bool closing;
    bool empty; /* <x/> */
    const char *after;
};

/* Parses the tag at p == '<'. Returns: 0, or RT_EPARSE. */
static int parse_tag(const char *p, const char *end, struct tag *t)
{
    const char *q = p + 1;
    t->closing = q < end && *q == '/';
    if (t->closing)
        q++;
    const char *n0 = q;
    while (q < end && !is_space(*q) && *q != '>' && *q != '/')
        q++;
    if (q == n0 || q >= end)
        return RT_EPARSE;
    const char *colon = memchr(n0, ':', (size_t)(q - n0));
    t->name.p = colon ? colon + 1 : n0;
    t->name.len = (size_t)(q - t->name.p);
    if (t->name.len == 0)
        return RT_EPARSE;
    /* Attributes: skipped, honouring quotes so a '>' inside a value does not end the tag. */
    char quote = 0;
    const char *last = NULL;
    for (; q < end; q++) {
        if (quote) {
            if (*q == quote)
                quote = 0;
        } else if (*q == '"' || *q == '\'') {
            if (t->closing)
                return RT_EPARSE;
            quote = *q;
        } else if (*q == '<') {
            return RT_EPARSE;
        } else if (*q == '>') {
            break;
        } else if (!is_space(*q)) {
            if (t->closing)
                return RT_EPARSE; /* "</a junk>" */
            last = q;
        }
    }
    if (q >= end)
        return RT_EPARSE;
    t->empty = !t->closing && last && *last == '/';
    t->after = q + 1;
    return 0;
}

int rt_xml_next_child(struct rt_str parent, size_t *pos, struct rt_str *name, struct rt_str *inner)
{
    const char *base = parent.p ? parent.p : "";
    const char *end = base + parent.len;
    const char *p = base + (*pos <= parent.len ? *pos : parent.len);
    for (;;) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p) {
            *pos = parent.len;
            return 0;
        }
        if (is_special(p, end)) {
            bool cdata;
            p = skip_special(p, end, &cdata);
            if (!p)
                return RT_EPARSE;
            continue;
        }
        break;
    }
    struct tag open;
    if (parse_tag(p, end, &open) || open.closing)
        return RT_EPARSE;
    *name = open.name;
    if (open.empty) {
        inner->p = open.after;
        inner->len = 0;
        *pos = (size_t)(open.after - base);
        return 1;
    }
    const char *q = open.after;
    int depth = 1;
    for (;;) {
        q = memchr(q, '<', (size_t)(end - q));
        if (!q)
            return RT_EPARSE;
        if (is_special(q, end)) {
            bool cdata;
            q = skip_special(q, end, &cdata);
            if (!q)
                return RT_EPARSE;
            continue;
        }
        struct tag t;
        if (parse_tag(q, end, &t))
            return RT_EPARSE;
        if (t.closing) {
            if (--depth == 0) {
                if (!rt_str_eq(t.name, open.name))
                    return RT_EPARSE;
                inner->p = open.after;
                inner->len = (size_t)(q - open.after);
                *pos = (size_t)(t.after - base);
                return 1;
            }
        } else if (!t.empty && ++depth > XML_MAX_DEPTH) {
            return RT_EPARSE;
        }
        q = t.after;
    }
}

int rt_xml_root(struct rt_str doc, struct rt_str *name, struct rt_str *inner)
{
    size_t pos = 0;
    return rt_xml_next_child(doc, &pos, name, inner);
}

int rt_xml_child(struct rt_str parent, const char *name, struct rt_str *inner)
{
    size_t pos = 0;
    struct rt_str n, in;
    int rc;
    while ((rc = rt_xml_next_child(parent, &pos, &n, &in)) == 1) {
        if (rt_str_eq_c(n, name)) {
            *inner = in;
            return 1;
        }
    }
    return rc;
}

/* Appends code point cp as UTF-8. Returns: 0, RT_EPARSE (not a valid XML character) or buf's. */
static int put_utf8(struct rt_buf *out, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return RT_EPARSE;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return rt_buf_append(out, b, n);
}

/* Decodes the entity at p == '&'. Returns: the position after ';', or NULL (bad entity). */
static const char *entity(const char *p, const char *end, struct rt_buf *out, int *rc)
{
    const char *semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
    *rc = 0;
    if (!semi)
        return NULL;
    struct rt_str e = {p + 1, (size_t)(semi - p - 1)};
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (rt_str_eq_c(e, named[i].name)) {
            *rc = rt_buf_append_char(out, named[i].c);
            return semi + 1;
        }
    }
    if (e.len < 2 || e.p[0] != '#')
        return NULL;
    unsigned long cp = 0;
    size_t i = 1;
    bool hex = e.p[1] == 'x';
    if (hex)
        i++;
    if (i >= e.len)
        return NULL;
    for (; i < e.len; i++) {
        char c = e.p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return NULL;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        if (cp > 0x10FFFF)
            return NULL;
    }
    *rc = put_utf8(out, cp);
    return *rc == RT_EPARSE ? NULL : semi + 1;
}

int rt_xml_text(struct rt_str inner, struct rt_buf *out)
{
    const char *p = inner.p ? inner.p : "";
    const char *end = p + inner.len;
    while (p < end) {
        const char *run = p;
        while (p < end && *p != '<' && *p != '&')
            p++;
        if (p > run) {
            int rc = rt_buf_append(out, run, (size_t)(p - run));
            if (rc)
                return rc;
        }
        if (p >= end)
            break;
        if (*p == '&') {
            int rc;
            const char *q = entity(p, end, out, &rc);
            if (rc && rc != RT_EPARSE)
                return rc;
            if (!q)
                return RT_EPARSE;
            p = q;
        } else if (starts(p, end, "<![CDATA[")) {
            const char *q = find(p + 9, end, "]]>");
            if (!q)
                return RT_EPARSE;
            int rc = rt_buf_append(out, p + 9, (size_t)(q - p - 9));
            if (rc)
                return rc;
            p = q + 3;
        } else if (is_special(p, end)) {
            bool cdata;
            p = skip_special(p, end, &cdata);
            if (!p)
                return RT_EPARSE;
        } else {
            struct tag t;
            if (parse_tag(p, end, &t))
                return RT_EPARSE;
            p = t.after;
        }
    }
    return 0;
}

int rt_xml_path(struct rt_str doc, const char *path, struct rt_str *inner)
{
    struct rt_str cur = doc;
    bool at_root = true;
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, "/");
        struct rt_str want = {p, n}, name, in;
        int rc;
        if (at_root) {
            rc = rt_xml_root(cur, &name, &in);
            if (rc == 1 && !rt_str_eq(name, want))
                rc = 0;
            at_root = false;
        } else {
            size_t pos = 0;
            while ((rc = rt_xml_next_child(cur, &pos, &name, &in)) == 1 && !rt_str_eq(name, want)) {
            }
        }
        if (rc != 1)
            return rc;
        cur = in;
        p += n;
        if (*p == '/')
            p++;
    }
    if (at_root)
        return 0; /* an empty path names nothing */
    *inner = cur;
    return 1;
}

int rt_xml_path_text(struct rt_str doc, const char *path, struct rt_buf *out)
{
    struct rt_str inner;
    int rc = rt_xml_path(doc, path, &inner);
    if (rc != 1)
        return rc;
    size_t start = out->len;
    rc = rt_xml_text(inner, out);
    if (rc)
        return rc;
    /* Trim what this call appended, in place (no copy of a secret is made). */
    size_t a = start;
    while (a < out->len && is_space(out->data[a]))
        a++;
    size_t e = out->len;
    while (e > a && is_space(out->data[e - 1]))
        e--;
    if (out->data) {
        memmove(out->data + start, out->data + a, e - a);
        memset(out->data + start + (e - a), 0, out->len - start - (e - a));
        out->len = start + (e - a);
    }
    return 1;
}

int rt_xml_child_text(struct rt_str parent, const char *name, char *out, size_t size)
{
    struct rt_str inner;
    int rc = rt_xml_child(parent, name, &inner);
    if (rc != 1)
        return rc;
    struct rt_buf b;
    rt_buf_init(&b, inner.len);
    rc = rt_xml_text(inner, &b);
    if (rc == 0 && size)
        rt_strlcpy(out, b.data ? b.data : "", size);
    rt_buf_cleanup(&b);
    if (rc == RT_ENOMEM || rc == RT_ETOOBIG)
        return rc == RT_ENOMEM ? RT_ENOMEM : RT_EPARSE;
    return rc ? RT_EPARSE : 1;
}
