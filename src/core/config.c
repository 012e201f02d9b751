/*
 * config.c - the YAML config parser: bytes -> libyaml events -> a small node tree -> a validated
 * struct rt_config (see config.h and docs/config.md).
 *
 * Design: the file is read once. Its bytes are checked for UTF-8 first (so a bad byte gets a
 * line:column of its own), then libyaml's event parser builds a small tree of scalars, maps and
 * lists with the 1-based position of every node. Anchors, aliases and tags are refused at the
 * event that carries them, so an alias bomb never expands; depth, node count and file size are
 * capped. The tree is then walked through static tables of key descriptors (redis's
 * static_configs[] shape): each row says the key's name, type, where its value goes, bounds,
 * default, whether it is required and an optional validator. Sections and lists of maps point to
 * their own tables, so the whole schema is data and an error can always name the full dotted key
 * ("notify[1].to") and the position of the value, key or section at fault.
 *
 * Every driver name of DESIGN.md is a row of one small table (drivers[]); whether a driver is
 * built is decided by the registry (src/daemon/registry.c), which the config records the
 * position of each choice for.
 *
 * Secrets (notify[].password, review.users[].password_hash) are never put in an error message:
 * rows flagged F_SECRET never echo their value, and no message ever echoes the value of an
 * unknown key. Every scalar copy we make is wiped when freed.
 */
#include "retraind/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/endpoint.h"

#define MAX_FILE_BYTES (1024 * 1024) /* a config is a page or two; refuse anything absurd */
#define MAX_DEPTH 32                 /* the schema needs 4 levels */
#define MAX_NODES 65536
#define MAX_SCALAR_BYTES (64 * 1024) /* one value after ${VAR} expansion */
#define MAX_LIST_ITEMS 256           /* notify entries, review users, notify[].to */
#define MAX_PATH_BYTES 4096          /* a resolved filesystem path */
#define MAX_KEYS 16                  /* rows in one descriptor table */
#define KEY_PATH_BYTES 160           /* "review.users[12].password_hash" fits easily */

/* ---------------------------------------------------------------------------------------- */
/* The node tree                                                                            */

enum node_kind { NODE_SCALAR, NODE_MAP, NODE_SEQ };

struct node {
    enum node_kind kind;
    int line, col; /* 1-based */
    char *text;    /* scalar: owned raw text, NUL-terminated, wiped on free */
    size_t len;
    bool is_null;       /* plain scalar "", "~" or "null": the key is treated as absent */
    struct node **kids; /* owned: map = key, value, key, value...; seq = items */
    int n_kids, cap_kids;
};

struct ctx {
    const char *name; /* borrowed: file name used in messages */
    char *base_dir;   /* owned: absolute folder relative paths resolve against */
    struct rt_error *err;
    struct rt_config *cfg;
    int n_nodes;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n_kids; i++)
        node_free(n->kids[i]);
    rt_free(n->kids);
    if (n->text)
        rt_free_secret(n->text, n->len);
    rt_free(n);
}

static const char *kind_name(enum node_kind k)
{
    return k == NODE_MAP ? "a map" : k == NODE_SEQ ? "a list" : "a single value";
}

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

__attribute__((format(printf, 4, 0))) static int
vfail_at(struct ctx *c, int line, int col, const char *fmt, va_list ap)
{
    char msg[sizeof(((struct rt_error *)0)->msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return rt_error_set_at(c->err, RT_ECONFIG, c->name, line, col, "%s", msg);
}

__attribute__((format(printf, 4, 5))) static int
fail_at(struct ctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(c, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

/* Records "path: message" at n's position. */
__attribute__((format(printf, 4, 5))) static int
fail(struct ctx *c, const struct node *n, const char *path, const char *fmt, ...)
{
    char msg[sizeof(((struct rt_error *)0)->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail_at(c, n ? n->line : 1, n ? n->col : 1, "%s: %s", path, msg);
}

static int nomem(struct ctx *c)
{
    return rt_error_set(c->err, RT_ENOMEM, "out of memory while reading the config");
}

/* Copies s into out for a message: at most 64 characters, control characters as '?'. */
static void printable(char *out, size_t size, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < size && i < 64; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    out[i] = '\0';
    if (s && s[i] && i == 64 && size > 68)
        memcpy(out + i, "...", 4);
}

/* ---------------------------------------------------------------------------------------- */
/* Bytes: size, UTF-8, positions                                                            */

/* The 1-based line and column (in characters, as libyaml counts) of byte offset off. */
static void position_of(const char *buf, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n') {
            (*line)++;
            *col = 1;
        } else if ((ch & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* Refuses bytes that are not UTF-8 (overlong forms, surrogates and > U+10FFFF too) and NUL. */
static int check_utf8(struct ctx *c, const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp;
        if (b == 0) {
            int line, col;
            position_of(buf, len, i, &line, &col);
            return fail_at(c, line, col, "the file contains a NUL byte");
        }
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            n = 2;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 3;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 4;
            cp = b & 0x07;
        } else {
            goto bad;
        }
        if (i + n > len)
            goto bad;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            goto bad;
        i += n;
        continue;
    bad : {
        int line, col;
        position_of(buf, len, i, &line, &col);
        return fail_at(c, line, col, "the file is not valid UTF-8 (byte 0x%02x)", b);
    }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* libyaml events -> node tree                                                              */

/*
 * Returns: the byte at libyaml's mark (0-based line, and column counted in characters after a
 * byte order mark; "\r\n", "\r" and "\n" each end a line), or -1 when the mark is past the text.
 */
static int byte_at_mark(const char *buf, size_t len, size_t line, size_t col)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (size_t l = 0; l < line; l++) {
        while (i < len && buf[i] != '\n' && buf[i] != '\r')
            i++;
        if (i >= len)
            return -1;
        i += (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') ? 2 : 1;
    }
    for (size_t k = 0; k < col; k++) {
        if (i >= len || buf[i] == '\n' || buf[i] == '\r')
            return -1;
        i++;
        while (i < len && ((unsigned char)buf[i] & 0xC0) == 0x80)
            i++;
    }
    return i < len ? (unsigned char)buf[i] : -1;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(c);
    /* libyaml calls a tab in indentation "found character that cannot start any token" or "found
     * a tab character that violates indentation"; neither tells a new user what to change. */
    if (p->error == YAML_SCANNER_ERROR &&
        byte_at_mark(buf, len, p->problem_mark.line, p->problem_mark.column) == '\t')
        return fail_at(c, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                       "tabs are not allowed for indentation (use spaces)");
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        position_of(buf, len, p->problem_offset, &line, &col);
        return fail_at(c, line, col, "YAML syntax error: %s", problem);
    }
    if (p->context)
        return fail_at(c, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                       "YAML syntax error: %s (%s at %d:%d)", problem, p->context,
                       (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return fail_at(c, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                   "YAML syntax error: %s", problem);
}

static int node_append(struct ctx *c, struct node *parent, struct node *kid)
{
    if (parent->n_kids == parent->cap_kids) {
        int cap = parent->cap_kids ? parent->cap_kids * 2 : 8;
        struct node **k = rt_realloc(parent->kids, (size_t)cap * sizeof(*k));
        if (!k)
            return nomem(c);
        parent->kids = k;
        parent->cap_kids = cap;
    }
    parent->kids[parent->n_kids++] = kid;
    return 0;
}

static bool plain_null(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Makes a node for a scalar or collection start event and hangs it under the open collection. */
static int add_node(struct ctx *c,
                    const yaml_event_t *ev,
                    struct node **stack,
                    int depth,
                    struct node **root,
                    struct node **made)
{
    const yaml_mark_t *m = &ev->start_mark;
    const unsigned char *anchor = NULL, *tag = NULL;
    enum node_kind kind;
    if (ev->type == YAML_SCALAR_EVENT) {
        kind = NODE_SCALAR;
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        kind = NODE_MAP;
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        kind = NODE_SEQ;
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (anchor)
        return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                       "YAML anchors (&name) and aliases (*name) are not supported");
    if (tag)
        return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                       "YAML tags (!tag) are not supported");
    if (++c->n_nodes > MAX_NODES)
        return fail_at(c, (int)m->line + 1, (int)m->column + 1,
                       "the file has too many values (more than %d)", MAX_NODES);
    struct node *n = rt_calloc(1, sizeof(*n));
    if (!n)
        return nomem(c);
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    int rc = 0;
    if (depth == 0) {
        *root = n;
    } else if ((rc = node_append(c, stack[depth - 1], n)) != 0) {
        node_free(n);
        return rc;
    }
    *made = n;
    if (kind == NODE_SCALAR) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(v, '\0', len))
            return fail_at(c, n->line, n->col, "a value contains a NUL character");
        n->text = rt_strndup(v, len);
        if (!n->text)
            return nomem(c);
        n->len = len;
        n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_null(v, len);
    }
    if (depth > 0) {
        struct node *parent = stack[depth - 1];
        if (parent->kind == NODE_MAP && parent->n_kids % 2 == 1 &&
            (kind != NODE_SCALAR || n->is_null))
            return fail_at(c, n->line, n->col, "a key must be a plain name, not %s",
                           kind == NODE_SCALAR ? "empty" : kind_name(kind));
    }
    return 0;
}

static int build_tree(struct ctx *c, const char *buf, size_t len, struct node **out)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct node *stack[MAX_DEPTH];
    struct node *root = NULL;
    int depth = 0, docs = 0, rc = 0;
    bool done = false;

    *out = NULL;
    if (!yaml_parser_initialize(&p))
        return nomem(c);
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_fail(c, &p, buf, len);
            break;
        }
        const yaml_mark_t *m = &ev.start_mark;
        struct node *made = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = fail_at(c, (int)m->line + 1, (int)m->column + 1,
                             "a config file holds one YAML document, this is a second one");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail_at(c, (int)m->line + 1, (int)m->column + 1,
                         "YAML anchors (&name) and aliases (*name) are not supported");
            break;
        case YAML_SCALAR_EVENT:
            rc = add_node(c, &ev, stack, depth, &root, &made);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == MAX_DEPTH) {
                rc = fail_at(c, (int)m->line + 1, (int)m->column + 1,
                             "values are nested deeper than %d levels", MAX_DEPTH);
                break;
            }
            rc = add_node(c, &ev, stack, depth, &root, &made);
            if (rc == 0)
                stack[depth++] = made;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc != 0) {
        node_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Values: ${VAR} expansion, durations, paths                                               */

/* Expands ${VAR} from the environment in n's text; "$${" stands for a literal "${".
 * Returns: 0 with *out a new string (caller frees with rt_free_secret_str), or an error. */
static int expand(struct ctx *c, const struct node *n, const char *path, char **out)
{
    struct rt_buf b;
    const char *s = n->text;
    int rc = 0;
    rt_buf_init(&b, MAX_SCALAR_BYTES);
    while (*s && rc == 0) {
        if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
            rc = rt_buf_append(&b, "${", 2);
            s += 3;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *name = s + 2;
            const char *end = strchr(name, '}');
            char shown[72];
            if (!end) {
                rc = fail(c, n, path,
                          "\"${\" without a closing \"}\" (write \"$${\" for a "
                          "literal \"${\")");
                break;
            }
            size_t nlen = (size_t)(end - name);
            char var[256];
            bool ok = nlen > 0 && nlen < sizeof(var) && !(name[0] >= '0' && name[0] <= '9');
            for (size_t i = 0; ok && i < nlen; i++)
                ok = (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
                     (name[i] >= '0' && name[i] <= '9') || name[i] == '_';
            if (!ok) {
                char tmp[256];
                rt_strlcpy(tmp, name, nlen + 1 < sizeof(tmp) ? nlen + 1 : sizeof(tmp));
                printable(shown, sizeof(shown), tmp);
                rc = fail(c, n, path, "\"${%s}\": not an environment variable name", shown);
                break;
            }
            memcpy(var, name, nlen);
            var[nlen] = '\0';
            const char *val = getenv(var);
            if (!val) {
                rc = fail(c, n, path, "environment variable %s is not set", var);
                break;
            }
            rc = rt_buf_append_str(&b, val);
            s = end + 1;
        } else {
            rc = rt_buf_append_char(&b, *s++);
        }
    }
    if (rc == RT_ENOMEM) {
        rc = nomem(c);
    } else if (rc == RT_ETOOBIG) {
        rc = fail(c, n, path, "the value is longer than %d bytes", MAX_SCALAR_BYTES);
    }
    if (rc != 0) {
        rt_buf_cleanup_secret(&b);
        return rc;
    }
    *out = rt_buf_detach(&b);
    if (!*out)
        return nomem(c);
    return 0;
}

int rt_duration_parse_ms(const char *text, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t n = 0;
    const char *p = text;
    if (!text || !out_ms || *p < '0' || *p > '9')
        return RT_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return RT_EINVAL;
        n = n * 10 + d;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            if (n == 0 || n > INT64_MAX / units[i].ms)
                return RT_EINVAL;
            *out_ms = n * units[i].ms;
            return 0;
        }
    }
    return RT_EINVAL;
}

/* Writes ms the way a config would ("100ms", "1s", "1d"). */
static const char *fmt_ms(char *out, size_t size, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            rt_snprintf(out, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return out;
        }
    rt_snprintf(out, size, "%lldms", (long long)ms);
    return out;
}

/* Joins p to base (unless p is absolute) and removes ".", ".." and repeated slashes lexically.
 * Returns: new string (caller frees), NULL when out of memory or too long. */
static char *resolve_path(const char *base, const char *p, bool *too_long)
{
    size_t blen = p[0] == '/' ? 0 : strlen(base);
    size_t plen = strlen(p);
    *too_long = blen + plen + 2 > MAX_PATH_BYTES;
    if (*too_long)
        return NULL;
    char joined[MAX_PATH_BYTES];
    rt_snprintf(joined, sizeof(joined), "%s/%s", p[0] == '/' ? "" : base, p);
    char *out = rt_malloc(strlen(joined) + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *s = joined;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* nothing */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the removed segment */
        } else {
            out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        s = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Key descriptors                                                                          */

enum ktype {
    K_STRING,    /* char *, owned */
    K_PATH,      /* char *, owned, absolute */
    K_BOOL,      /* bool: true or false only */
    K_INT,       /* int within [min, max] */
    K_DURATION,  /* int64_t milliseconds within [min, max] */
    K_DRIVER,    /* an enum rt_*_driver chosen from drivers[] by family */
    K_SECTION,   /* a map read with sub into the same base */
    K_LIST,      /* a list of maps: array at off, count at count_off, elements read with sub */
    K_STRLIST,   /* one string or a list of strings: char ** at off, count at count_off */
    K_SCALAR_FN, /* a single value handed to set() */
    K_NODE_FN    /* any value handed to set_node() */
};

#define F_REQUIRED 1u
#define F_SECRET 2u /* never echo the value */

struct key;
/* Checks a string value before it is stored. Returns: 0 or an error set with fail(). */
typedef int check_fn(struct ctx *c, const struct node *n, const char *path, const char *text);
/* Converts and stores a single value (also called with the default text). */
typedef int
set_fn(struct ctx *c, const struct node *n, const char *path, const char *text, void *base);
/* Converts and stores any value. */
typedef int set_node_fn(struct ctx *c, const struct node *n, const char *path, void *base);
/* Checks a section or list element once its keys are read and its defaults filled; where is the
 * section's key (or the element) and base what the section's offsets are relative to. */
typedef int post_fn(struct ctx *c, const struct node *where, const char *path, void *base);

struct key {
    const char *name;
    enum ktype type;
    size_t off;
    unsigned flags;
    int64_t min, max;             /* K_INT, K_DURATION */
    const char *def;              /* default text, converted like a value from the file */
    const struct key *sub;        /* K_SECTION, K_LIST */
    post_fn *post;                /* K_SECTION, K_LIST (per element) */
    check_fn *check;              /* K_STRING, K_PATH, K_STRLIST */
    set_fn *set;                  /* K_SCALAR_FN */
    set_node_fn *set_node;        /* K_NODE_FN */
    enum rt_driver_family family; /* K_DRIVER */
    size_t pos_off;               /* K_DRIVER: the struct rt_config_pos of the choice */
    size_t count_off;             /* K_LIST, K_STRLIST */
    size_t elem_size;             /* K_LIST */
    post_fn *fill_default;        /* K_LIST: when the key is absent */
};

/* Every driver name the config knows, by family. Which of them are built is the registry's
 * business (src/daemon/registry.c). */
static const struct driver {
    enum rt_driver_family family;
    const char *name;
    int value;
} drivers[] = {
    {RT_FAMILY_STORE, "local", RT_STORE_LOCAL},
    {RT_FAMILY_STORE, "s3", RT_STORE_S3},
    {RT_FAMILY_PARAMS, "local", RT_PARAMS_LOCAL},
    {RT_FAMILY_PARAMS, "ssm", RT_PARAMS_SSM},
    {RT_FAMILY_ENGINE, "builtin", RT_ENGINE_BUILTIN},
    {RT_FAMILY_ENGINE, "rekognition", RT_ENGINE_REKOGNITION},
    {RT_FAMILY_REVIEW, "local", RT_REVIEW_LOCAL},
    {RT_FAMILY_REVIEW, "a2i", RT_REVIEW_A2I},
    {RT_FAMILY_NOTIFY, "log", RT_NOTIFY_LOG},
    {RT_FAMILY_NOTIFY, "smtp", RT_NOTIFY_SMTP},
    {RT_FAMILY_NOTIFY, "sns", RT_NOTIFY_SNS},
};
#define N_DRIVERS (sizeof(drivers) / sizeof(drivers[0]))

const char *rt_config_driver_name(enum rt_driver_family family, int value)
{
    for (size_t i = 0; i < N_DRIVERS; i++)
        if (drivers[i].family == family && drivers[i].value == value)
            return drivers[i].name;
    return NULL;
}

const char *rt_config_family_key(enum rt_driver_family family)
{
    static const char *const keys[RT_FAMILY_COUNT] = {
        [RT_FAMILY_STORE] = "store",   [RT_FAMILY_PARAMS] = "parameters",
        [RT_FAMILY_ENGINE] = "engine", [RT_FAMILY_REVIEW] = "review",
        [RT_FAMILY_NOTIFY] = "notify",
    };
    return family < RT_FAMILY_COUNT ? keys[family] : "?";
}

/* "local, s3": every name of family f. */
static void driver_names(char *out, size_t size, enum rt_driver_family f)
{
    out[0] = '\0';
    for (size_t i = 0; i < N_DRIVERS; i++) {
        if (drivers[i].family != f)
            continue;
        size_t len = strlen(out);
        rt_snprintf(out + len, size - len, "%s%s", len ? ", " : "", drivers[i].name);
    }
}

#define FIELD(base, off, type) ((type *)((char *)(base) + (off)))

/* ---------------------------------------------------------------------------------------- */
/* Validators                                                                               */

static bool is_alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* A store prefix: "name/" or "a/b/", with no empty, "." or ".." segment and no backslash. */
static int check_prefix(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    size_t len = strlen(t);
    char shown[72];
    printable(shown, sizeof(shown), t);
    if (len > 512)
        return fail(c, n, path, "a prefix is at most 512 bytes");
    if (t[0] == '/')
        return fail(c, n, path, "\"%s\" must not start with '/'", shown);
    if (t[len - 1] != '/')
        return fail(c, n, path, "\"%s\" must end with '/'", shown);
    if (strchr(t, '\\'))
        return fail(c, n, path, "\"%s\" must not contain a backslash", shown);
    for (const char *s = t; *s;) {
        const char *e = strchr(s, '/');
        size_t seg = (size_t)(e - s);
        if (seg == 0 || (seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
            return fail(c, n, path, "\"%s\" has an empty, \".\" or \"..\" segment", shown);
        s = e + 1;
    }
    return 0;
}

/* An S3 bucket name (also the local store's name, which stands in for it in s3:// URIs). */
static int check_bucket(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    size_t len = strlen(t);
    bool ok = len >= 3 && len <= 63 && is_alnum_lower(t[0]) && is_alnum_lower(t[len - 1]);
    for (size_t i = 0; ok && i < len; i++)
        ok = is_alnum_lower(t[i]) || t[i] == '-' || t[i] == '.';
    if (!ok) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path,
                    "\"%s\" is not a bucket name (3 to 63 of a-z, 0-9, '.', '-', starting and "
                    "ending with a letter or digit)",
                    shown);
    }
    return 0;
}

static int check_url_prefix(struct ctx *c,
                            const struct node *n,
                            const char *path,
                            const char *t,
                            const char *a,
                            const char *b,
                            const char *what)
{
    const char *rest = NULL;
    if (strncmp(t, a, strlen(a)) == 0)
        rest = t + strlen(a);
    else if (strncmp(t, b, strlen(b)) == 0)
        rest = t + strlen(b);
    if (!rest || !*rest || *rest == '/' || *rest == ':' || strchr(t, ' ')) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" is not %s", shown, what);
    }
    return 0;
}

static int check_http_url(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    return check_url_prefix(c, n, path, t, "http://", "https://", "an http:// or https:// URL");
}

static int check_smtp_url(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    return check_url_prefix(c, n, path, t, "smtp://", "smtps://",
                            "an smtp://host:port or smtps://host:port URL");
}

/* An SQS queue URL: http(s)://host/<account>/<name> (the URL SQS's GetQueueUrl gives). */
static int check_queue_url(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    int rc = check_http_url(c, n, path, t);
    if (rc)
        return rc;
    const char *host = strstr(t, "://") + 3;
    const char *slash = strchr(host, '/');
    bool bad = !slash || !slash[1] || strpbrk(t, "?#\"\\") != NULL;
    for (const char *q = t; !bad && *q; q++)
        bad = (unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f;
    if (bad) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path,
                    "\"%s\" is not an SQS queue URL "
                    "(https://sqs.<region>.amazonaws.com/<account>/<queue>)",
                    shown);
    }
    return 0;
}

static int check_mail(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    if (!strchr(t, '@')) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" is not a mail address", shown);
    }
    return 0;
}

static int check_arn(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    if (strncmp(t, "arn:", 4) != 0 || strchr(t, ' ')) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" is not an ARN (arn:...)", shown);
    }
    return 0;
}

static int check_ssm_path(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    size_t len = strlen(t);
    if (t[0] != '/' || t[len - 1] != '/' || strchr(t, ' ') || strstr(t, "//")) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" must start and end with '/' (like /retraind/)", shown);
    }
    return 0;
}

static int check_region(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    /* The same rule every AWS path applies before a region becomes part of a host name. */
    if (!rt_region_valid(t)) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" is not an AWS region name (like us-east-1)", shown);
    }
    return 0;
}

/* A portal user name: printable ASCII without spaces or ':' (it travels in HTTP Basic auth). */
static int check_user_name(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    bool ok = strlen(t) <= 64;
    for (const char *s = t; ok && *s; s++)
        ok = *s > ' ' && *s < 0x7f && *s != ':';
    if (!ok)
        return fail(c, n, path,
                    "a user name is 1 to 64 printable characters without spaces "
                    "or ':'");
    return 0;
}

static int check_role(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    if (strcmp(t, "reviewer") != 0 && strcmp(t, "admin") != 0) {
        char shown[72];
        printable(shown, sizeof(shown), t);
        return fail(c, n, path, "\"%s\" is not a role (reviewer or admin)", shown);
    }
    return 0;
}

static int check_sha256_hex(struct ctx *c, const struct node *n, const char *path, const char *t)
{
    bool ok = strlen(t) == 64;
    for (const char *s = t; ok && *s; s++)
        ok = (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f');
    /* The value is secret-like: the message never repeats it. */
    if (!ok)
        return fail(c, n, path, "must be 64 lowercase hex digits (sha256sum of the token)");
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Custom setters                                                                           */

static int
set_log_level(struct ctx *c, const struct node *n, const char *path, const char *t, void *base)
{
    static const char *const levels[] = {"err", "warning", "notice", "info", "debug"};
    struct rt_config *cfg = base;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(t, levels[i]) == 0) {
            cfg->log_level = rt_strdup(t);
            return cfg->log_level ? 0 : nomem(c);
        }
    }
    char shown[72];
    printable(shown, sizeof(shown), t);
    return fail(c, n, path, "\"%s\" is not a log level (err, warning, notice, info, debug)", shown);
}

/* aws.retry_mode: standard or adaptive (aws-wire.md 11). */
static int
set_retry_mode(struct ctx *c, const struct node *n, const char *path, const char *t, void *base)
{
    struct rt_config *cfg = base;
    if (strcmp(t, "standard") == 0 || strcmp(t, "adaptive") == 0) {
        cfg->aws.retry_mode_adaptive = strcmp(t, "adaptive") == 0;
        return 0;
    }
    char shown[72];
    printable(shown, sizeof(shown), t);
    return fail(c, n, path, "\"%s\" is not a retry mode (standard, adaptive)", shown);
}

/* http.listen: "host:port" or "[v6]:port"; port 0 means any free port. */
static int
set_listen(struct ctx *c, const struct node *n, const char *path, const char *t, void *base)
{
    struct rt_config *cfg = base;
    const char *host = t, *host_end, *port;
    char shown[72];
    printable(shown, sizeof(shown), t);
    if (t[0] == '[') {
        host = t + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            goto bad;
        port = host_end + 2;
    } else {
        host_end = strrchr(t, ':');
        if (!host_end || memchr(t, ':', (size_t)(host_end - t)))
            goto bad;
        port = host_end + 1;
    }
    if (host_end == host || !*port || strlen(port) > 5)
        goto bad;
    for (const char *s = host; s < host_end; s++)
        if (!(is_alnum_lower(*s) || (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == '-' ||
              *s == ':' || *s == '%' || *s == '_'))
            goto bad;
    long p = 0;
    for (const char *s = port; *s; s++) {
        if (*s < '0' || *s > '9')
            goto bad;
        if (p <= 65535) /* stop growing past the range: a long digit run must not overflow */
            p = p * 10 + (*s - '0');
    }
    if (p > 65535)
        return fail(c, n, path, "port %ld is out of range (0..65535)", p);
    cfg->http.listen_host = rt_strndup(host, (size_t)(host_end - host));
    if (!cfg->http.listen_host)
        return nomem(c);
    cfg->http.listen_port = (int)p;
    /* The default arrives with the section's node (or none), a value from the file with its own
     * scalar: only the latter means someone asked for a listener. */
    cfg->http.listen_set = n && n->kind == NODE_SCALAR && n->text && strcmp(n->text, t) == 0;
    return 0;
bad:
    return fail(c, n, path, "\"%s\" is not host:port (like 127.0.0.1:8080 or [::1]:8080)", shown);
}

/* parameters.defaults: a map of parameter names to values, each checked by rt_param_parse. */
static int set_param_defaults(struct ctx *c, const struct node *n, const char *path, void *base)
{
    struct rt_config *cfg = base;
    const struct node *first[RT_P_COUNT] = {0};
    if (n->kind != NODE_MAP)
        return fail(c, n, path, "expected a map of parameter names to values, found %s",
                    kind_name(n->kind));
    for (int i = 0; i + 1 < n->n_kids; i += 2) {
        const struct node *k = n->kids[i], *v = n->kids[i + 1];
        char kp[KEY_PATH_BYTES], shown[72];
        printable(shown, sizeof(shown), k->text);
        rt_snprintf(kp, sizeof(kp), "%s.%s", path, shown);
        const struct rt_param_def *def = rt_param_def_by_name(k->text);
        if (!def) {
            char names[400] = "";
            for (int p = 0; p < RT_P_COUNT; p++) {
                size_t len = strlen(names);
                rt_snprintf(names + len, sizeof(names) - len, "%s%s", p ? ", " : "",
                            rt_param_def_by_id((enum rt_param_id)p)->name);
            }
            return fail(c, k, kp, "unknown parameter (known: %s)", names);
        }
        if (first[def->id])
            return fail(c, k, kp, "duplicate key (first at %d:%d)", first[def->id]->line,
                        first[def->id]->col);
        first[def->id] = k;
        if (v->is_null)
            return fail(c, v, kp, "a value is required");
        if (v->kind != NODE_SCALAR)
            return fail(c, v, kp, "expected a single value, found %s", kind_name(v->kind));
        char *text = NULL;
        int rc = expand(c, v, kp, &text);
        if (rc)
            return rc;
        struct rt_error perr;
        rt_error_clear(&perr);
        rc = rt_param_parse(def, text, &cfg->parameters.defaults.v[def->id], &perr);
        rt_free_secret_str(text);
        if (rc) {
            /* rt_param_parse's message starts with the parameter's name, which kp holds. */
            const char *msg = perr.msg;
            size_t nlen = strlen(def->name);
            if (strncmp(msg, def->name, nlen) == 0 && msg[nlen] == ':')
                msg += nlen + 1 + (msg[nlen + 1] == ' ');
            return fail(c, v, kp, "%s", msg);
        }
        cfg->parameters.default_set[def->id] = true;
        cfg->parameters.defaults.v[def->id].source = RT_PSRC_CONFIG;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Section checks (requirements that depend on the driver)                                  */

static int require(struct ctx *c,
                   const struct node *where,
                   const char *path,
                   const char *key,
                   const void *value,
                   const char *driver)
{
    if (value)
        return 0;
    char kp[KEY_PATH_BYTES];
    rt_snprintf(kp, sizeof(kp), "%s.%s", path, key);
    return fail(c, where, kp, "required with driver %s", driver);
}

static int store_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config *cfg = base;
    const struct rt_config_prefixes *p = &cfg->store.prefixes;
    const char *all[] = {p->labeled,    p->detection,  p->results,  p->manifests,
                         p->evaluation, p->human_loop, p->unlabeled};
    const size_t n_all = sizeof(all) / sizeof(all[0]);
    /* One prefix inside another would make, say, detection images count as training images. */
    for (size_t i = 0; i < n_all; i++) {
        for (size_t j = 0; j < n_all; j++) {
            if (i != j && all[i] && all[j] && strncmp(all[j], all[i], strlen(all[i])) == 0) {
                char kp[KEY_PATH_BYTES];
                rt_snprintf(kp, sizeof(kp), "%s.prefixes", path);
                return fail(c, where, kp,
                            "\"%s\" and \"%s\" overlap: each prefix needs its "
                            "own folder",
                            all[i], all[j]);
            }
        }
    }
    if (cfg->store.driver == RT_STORE_LOCAL && cfg->store.events_queue) {
        char kp[KEY_PATH_BYTES];
        rt_snprintf(kp, sizeof(kp), "%s.events_queue", path);
        return fail(c, where, kp, "needs driver s3 (S3 event notifications through SQS)");
    }
    if (cfg->store.driver == RT_STORE_LOCAL)
        return require(c, where, path, "root", cfg->store.root, "local");
    return require(c, where, path, "bucket", cfg->store.bucket, "s3");
}

static int engine_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config *cfg = base;
    if (cfg->engine.driver == RT_ENGINE_REKOGNITION)
        return require(c, where, path, "project", cfg->engine.project, "rekognition");
    return 0;
}

static int review_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config *cfg = base;
    if (cfg->review.driver == RT_REVIEW_A2I)
        return require(c, where, path, "flow_definition", cfg->review.flow_definition, "a2i");
    return 0;
}

static enum rt_role role_of(const char *text)
{
    return text && strcmp(text, "admin") == 0 ? RT_ROLE_ADMIN : RT_ROLE_REVIEWER;
}

static int token_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config_http_token *t = base;
    t->role = role_of(t->role_text);
    for (struct rt_config_http_token *p = c->cfg->http.tokens; p && p < t; p++) {
        if (p->name && t->name && strcmp(p->name, t->name) == 0) {
            char kp[KEY_PATH_BYTES];
            rt_snprintf(kp, sizeof(kp), "%s.name", path);
            return fail(c, where, kp, "token \"%s\" is listed twice", t->name);
        }
    }
    return 0;
}

static int user_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config_review_user *u = base;
    u->role = role_of(u->role_text);
    for (struct rt_config_review_user *p = c->cfg->review.users; p && p < u; p++) {
        if (p->name && u->name && strcmp(p->name, u->name) == 0) {
            char kp[KEY_PATH_BYTES];
            rt_snprintf(kp, sizeof(kp), "%s.name", path);
            return fail(c, where, kp, "user \"%s\" is listed twice", u->name);
        }
    }
    return 0;
}

static int notify_post(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config_notify *nt = base;
    int rc = 0;
    if (nt->driver == RT_NOTIFY_SMTP) {
        if ((rc = require(c, where, path, "url", nt->url, "smtp")) ||
            (rc = require(c, where, path, "from", nt->from, "smtp")) ||
            (rc = require(c, where, path, "to", nt->n_to ? nt->to : NULL, "smtp")))
            return rc;
    } else if (nt->driver == RT_NOTIFY_SNS) {
        rc = require(c, where, path, "topic_arn", nt->topic_arn, "sns");
    }
    return rc;
}

static int notify_default(struct ctx *c, const struct node *where, const char *path, void *base)
{
    struct rt_config *cfg = base;
    (void)where;
    (void)path;
    cfg->notify = rt_calloc(1, sizeof(*cfg->notify));
    if (!cfg->notify)
        return nomem(c);
    cfg->n_notify = 1;
    cfg->notify[0].driver = RT_NOTIFY_LOG;
    cfg->notify[0].starttls = true;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The schema                                                                               */

/* One row per key reads best as a table, so the formatter leaves the schema alone. */
/* clang-format off */
#define CFG(member) offsetof(struct rt_config, member)
#define NTF(member) offsetof(struct rt_config_notify, member)
#define USR(member) offsetof(struct rt_config_review_user, member)
#define TOK(member) offsetof(struct rt_config_http_token, member)
#define SEC_MS 1000LL
#define DAY_MS 86400000LL

static const struct key prefix_keys[] = {
    {.name = "labeled", .type = K_STRING, .off = CFG(store.prefixes.labeled),
     .def = "images_labeled_by_folder/", .check = check_prefix},
    {.name = "detection", .type = K_STRING, .off = CFG(store.prefixes.detection),
     .def = "images_for_detection/", .check = check_prefix},
    {.name = "results", .type = K_STRING, .off = CFG(store.prefixes.results),
     .def = "detection-results/", .check = check_prefix},
    {.name = "manifests", .type = K_STRING, .off = CFG(store.prefixes.manifests),
     .def = "manifests/", .check = check_prefix},
    {.name = "evaluation", .type = K_STRING, .off = CFG(store.prefixes.evaluation),
     .def = "evaluation/", .check = check_prefix},
    {.name = "human_loop", .type = K_STRING, .off = CFG(store.prefixes.human_loop),
     .def = "a2i-human-loop-data/", .check = check_prefix},
    {.name = "unlabeled", .type = K_STRING, .off = CFG(store.prefixes.unlabeled),
     .def = "unlabeled/", .check = check_prefix},
    {0},
};

static const struct key store_keys[] = {
    {.name = "driver", .type = K_DRIVER, .off = CFG(store.driver), .flags = F_REQUIRED,
     .family = RT_FAMILY_STORE, .pos_off = CFG(store.driver_pos)},
    {.name = "root", .type = K_PATH, .off = CFG(store.root)},
    {.name = "name", .type = K_STRING, .off = CFG(store.name), .def = "local",
     .check = check_bucket},
    {.name = "bucket", .type = K_STRING, .off = CFG(store.bucket), .check = check_bucket},
    {.name = "path_style", .type = K_BOOL, .off = CFG(store.path_style), .def = "false"},
    {.name = "scan", .type = K_DURATION, .off = CFG(store.scan_ms), .def = "10s", .min = 100,
     .max = DAY_MS},
    {.name = "events_queue", .type = K_STRING, .off = CFG(store.events_queue),
     .check = check_queue_url},
    {.name = "prefixes", .type = K_SECTION, .sub = prefix_keys},
    {0},
};

static const struct key params_keys[] = {
    {.name = "driver", .type = K_DRIVER, .off = CFG(parameters.driver), .def = "local",
     .family = RT_FAMILY_PARAMS, .pos_off = CFG(parameters.driver_pos)},
    {.name = "path", .type = K_STRING, .off = CFG(parameters.path), .def = "/retraind/",
     .check = check_ssm_path},
    {.name = "refresh", .type = K_DURATION, .off = CFG(parameters.refresh_ms), .def = "60s",
     .min = 100, .max = DAY_MS},
    {.name = "defaults", .type = K_NODE_FN, .set_node = set_param_defaults},
    {0},
};

static const struct key engine_keys[] = {
    {.name = "driver", .type = K_DRIVER, .off = CFG(engine.driver), .def = "builtin",
     .family = RT_FAMILY_ENGINE, .pos_off = CFG(engine.driver_pos)},
    {.name = "project", .type = K_STRING, .off = CFG(engine.project)},
    {.name = "status_poll", .type = K_DURATION, .off = CFG(engine.status_poll_ms), .def = "60s",
     .min = SEC_MS, .max = DAY_MS},
    {.name = "training_threads", .type = K_INT, .off = CFG(engine.training_threads), .def = "0",
     .min = 0, .max = 256},
    {.name = "max_inference_units", .type = K_INT, .off = CFG(engine.max_inference_units),
     .def = "0", .min = 0, .max = 1000},
    {.name = "idle_stop", .type = K_DURATION, .off = CFG(engine.idle_stop_ms), .min = SEC_MS,
     .max = 30LL * DAY_MS},
    {0},
};

static const struct key user_keys[] = {
    {.name = "name", .type = K_STRING, .off = USR(name), .flags = F_REQUIRED,
     .check = check_user_name},
    {.name = "password_hash", .type = K_STRING, .off = USR(password_hash),
     .flags = F_REQUIRED | F_SECRET},
    {.name = "role", .type = K_STRING, .off = USR(role_text), .def = "reviewer",
     .check = check_role},
    {0},
};

static const struct key token_keys[] = {
    {.name = "name", .type = K_STRING, .off = TOK(name), .flags = F_REQUIRED,
     .check = check_user_name},
    {.name = "role", .type = K_STRING, .off = TOK(role_text), .def = "reviewer",
     .check = check_role},
    {.name = "token_sha256", .type = K_STRING, .off = TOK(token_sha256),
     .flags = F_REQUIRED | F_SECRET, .check = check_sha256_hex},
    {0},
};

static const struct key review_keys[] = {
    {.name = "driver", .type = K_DRIVER, .off = CFG(review.driver), .def = "local",
     .family = RT_FAMILY_REVIEW, .pos_off = CFG(review.driver_pos)},
    {.name = "workers_per_image", .type = K_INT, .off = CFG(review.workers_per_image),
     .def = "1", .min = 1, .max = 10},
    {.name = "users", .type = K_LIST, .off = CFG(review.users), .count_off = CFG(review.n_users),
     .elem_size = sizeof(struct rt_config_review_user), .sub = user_keys, .post = user_post},
    {.name = "flow_definition", .type = K_STRING, .off = CFG(review.flow_definition)},
    {.name = "workteam_arn", .type = K_STRING, .off = CFG(review.workteam_arn),
     .check = check_arn},
    {.name = "role_arn", .type = K_STRING, .off = CFG(review.role_arn), .check = check_arn},
    {.name = "poll", .type = K_DURATION, .off = CFG(review.poll_ms), .def = "30s", .min = SEC_MS,
     .max = DAY_MS},
    {0},
};

static const struct key notify_keys[] = {
    {.name = "driver", .type = K_DRIVER, .off = NTF(driver), .flags = F_REQUIRED,
     .family = RT_FAMILY_NOTIFY, .pos_off = NTF(driver_pos)},
    {.name = "url", .type = K_STRING, .off = NTF(url), .check = check_smtp_url},
    {.name = "from", .type = K_STRING, .off = NTF(from), .check = check_mail},
    {.name = "to", .type = K_STRLIST, .off = NTF(to), .count_off = NTF(n_to),
     .check = check_mail},
    {.name = "username", .type = K_STRING, .off = NTF(username)},
    {.name = "password", .type = K_STRING, .off = NTF(password), .flags = F_SECRET},
    {.name = "starttls", .type = K_BOOL, .off = NTF(starttls), .def = "true"},
    {.name = "ca_file", .type = K_PATH, .off = NTF(ca_file)},
    {.name = "topic_arn", .type = K_STRING, .off = NTF(topic_arn), .check = check_arn},
    {0},
};

static const struct key http_keys[] = {
    {.name = "listen", .type = K_SCALAR_FN, .set = set_listen, .def = "127.0.0.1:8080"},
    {.name = "tokens", .type = K_LIST, .off = CFG(http.tokens), .count_off = CFG(http.n_tokens),
     .elem_size = sizeof(struct rt_config_http_token), .sub = token_keys, .post = token_post},
    {0},
};

static const struct key detection_keys[] = {
    {.name = "concurrency", .type = K_INT, .off = CFG(detection.concurrency), .def = "8",
     .min = 1, .max = 64},
    {.name = "results_flush", .type = K_DURATION, .off = CFG(detection.results_flush_ms),
     .def = "60s", .min = 100, .max = DAY_MS},
    {0},
};

static const struct key endpoint_keys[] = {
    {.name = "s3", .type = K_STRING, .off = CFG(aws.endpoints.s3), .check = check_http_url},
    {.name = "rekognition", .type = K_STRING, .off = CFG(aws.endpoints.rekognition),
     .check = check_http_url},
    {.name = "sagemaker", .type = K_STRING, .off = CFG(aws.endpoints.sagemaker),
     .check = check_http_url},
    /* The A2I runtime (StartHumanLoop, DescribeHumanLoop) has a host of its own. */
    {.name = "a2i", .type = K_STRING, .off = CFG(aws.endpoints.a2i), .check = check_http_url},
    {.name = "ssm", .type = K_STRING, .off = CFG(aws.endpoints.ssm), .check = check_http_url},
    {.name = "sns", .type = K_STRING, .off = CFG(aws.endpoints.sns), .check = check_http_url},
    {.name = "sts", .type = K_STRING, .off = CFG(aws.endpoints.sts), .check = check_http_url},
    {.name = "sqs", .type = K_STRING, .off = CFG(aws.endpoints.sqs), .check = check_http_url},
    {0},
};

static const struct key aws_keys[] = {
    {.name = "region", .type = K_STRING, .off = CFG(aws.region), .check = check_region},
    {.name = "profile", .type = K_STRING, .off = CFG(aws.profile)},
    {.name = "ca_file", .type = K_PATH, .off = CFG(aws.ca_file)},
    {.name = "max_attempts", .type = K_INT, .off = CFG(aws.max_attempts), .def = "3", .min = 1,
     .max = 10},
    {.name = "retry_mode", .type = K_SCALAR_FN, .set = set_retry_mode, .def = "standard"},
    {.name = "endpoints", .type = K_SECTION, .sub = endpoint_keys},
    {0},
};

static const struct key log_keys[] = {
    {.name = "level", .type = K_SCALAR_FN, .set = set_log_level, .def = "notice"},
    {0},
};

static const struct key top_keys[] = {
    {.name = "data_dir", .type = K_PATH, .off = CFG(data_dir), .flags = F_REQUIRED},
    {.name = "store", .type = K_SECTION, .flags = F_REQUIRED, .sub = store_keys,
     .post = store_post},
    {.name = "parameters", .type = K_SECTION, .sub = params_keys},
    {.name = "engine", .type = K_SECTION, .sub = engine_keys, .post = engine_post},
    {.name = "review", .type = K_SECTION, .sub = review_keys, .post = review_post},
    {.name = "notify", .type = K_LIST, .off = CFG(notify), .count_off = CFG(n_notify),
     .elem_size = sizeof(struct rt_config_notify), .sub = notify_keys, .post = notify_post,
     .fill_default = notify_default},
    {.name = "http", .type = K_SECTION, .sub = http_keys},
    {.name = "detection", .type = K_SECTION, .sub = detection_keys},
    {.name = "aws", .type = K_SECTION, .sub = aws_keys},
    {.name = "log", .type = K_SECTION, .sub = log_keys},
    {0},
};
/* clang-format on */

/* ---------------------------------------------------------------------------------------- */
/* Walking the tree through the tables                                                      */

static int read_map(struct ctx *c,
                    const struct node *map,
                    const struct node *where,
                    const char *path,
                    const struct key *tab,
                    void *base);

static bool has_ctl(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return true;
    return false;
}

/* Converts a string value: not empty, no control characters, then the row's check. */
static int convert_string(struct ctx *c,
                          const struct key *k,
                          const struct node *n,
                          const char *path,
                          const char *t,
                          char **out)
{
    if (!*t)
        return fail(c, n, path, "must not be empty");
    if (has_ctl(t))
        return fail(c, n, path, "must not contain control characters");
    if (k->check) {
        int rc = k->check(c, n, path, t);
        if (rc)
            return rc;
    }
    if (k->type == K_PATH) {
        bool too_long;
        *out = resolve_path(c->base_dir, t, &too_long);
        if (!*out)
            return too_long ? fail(c, n, path, "the path is too long") : nomem(c);
        return 0;
    }
    *out = rt_strdup(t);
    return *out ? 0 : nomem(c);
}

/* Converts text (a value from the file, or the row's default) and stores it in base. */
static int convert_scalar(struct ctx *c,
                          const struct key *k,
                          const struct node *n,
                          const char *path,
                          const char *t,
                          void *base)
{
    char shown[72];
    printable(shown, sizeof(shown), (k->flags & F_SECRET) ? "" : t);
    switch (k->type) {
    case K_STRING:
    case K_PATH:
        return convert_string(c, k, n, path, t, FIELD(base, k->off, char *));
    case K_BOOL:
        if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0) {
            *FIELD(base, k->off, bool) = t[0] == 't';
            return 0;
        }
        return fail(c, n, path, "\"%s\" is not a boolean (true or false)", shown);
    case K_INT: {
        const char *d = t[0] == '-' ? t + 1 : t;
        long long v = 0;
        bool ok = *d != '\0';
        for (; ok && *d; d++) {
            ok = *d >= '0' && *d <= '9' && v <= (LLONG_MAX - 9) / 10;
            if (ok) /* never multiply once the bound is passed: that would overflow */
                v = v * 10 + (*d - '0');
        }
        if (!ok)
            return fail(c, n, path, "\"%s\" is not a whole number", shown);
        if (t[0] == '-')
            v = -v;
        if (v < k->min || v > k->max)
            return fail(c, n, path, "%lld is out of range (%lld..%lld)", v, (long long)k->min,
                        (long long)k->max);
        *FIELD(base, k->off, int) = (int)v;
        return 0;
    }
    case K_DURATION: {
        int64_t ms;
        char lo[32], hi[32];
        if (rt_duration_parse_ms(t, &ms) != 0)
            return fail(c, n, path,
                        "\"%s\" is not a duration (a whole number and a unit: 500ms, 30s, 10m, "
                        "1h, 2d)",
                        shown);
        if (ms < k->min || ms > k->max)
            return fail(c, n, path, "%s is out of range (%s..%s)", shown,
                        fmt_ms(lo, sizeof(lo), k->min), fmt_ms(hi, sizeof(hi), k->max));
        *FIELD(base, k->off, int64_t) = ms;
        return 0;
    }
    case K_DRIVER: {
        char names[128];
        for (size_t i = 0; i < N_DRIVERS; i++) {
            if (drivers[i].family != k->family || strcmp(drivers[i].name, t) != 0)
                continue;
            *FIELD(base, k->off, int) = drivers[i].value;
            /* A default arrives with its section's node: it has no position of its own. */
            bool from_file = n && n->kind == NODE_SCALAR && n->text && strcmp(n->text, t) == 0;
            struct rt_config_pos *pos = FIELD(base, k->pos_off, struct rt_config_pos);
            pos->line = from_file ? n->line : 0;
            pos->col = from_file ? n->col : 0;
            return 0;
        }
        driver_names(names, sizeof(names), k->family);
        return fail(c, n, path, "unknown driver \"%s\" (known: %s)", shown, names);
    }
    case K_SCALAR_FN:
        return k->set(c, n, path, t, base);
    default:
        return fail(c, n, path, "internal error: bad key type");
    }
}

static int
read_strlist(struct ctx *c, const struct key *k, const struct node *v, const char *path, void *base)
{
    int count = v->kind == NODE_SCALAR ? 1 : v->n_kids;
    if (v->kind == NODE_MAP)
        return fail(c, v, path, "expected a value or a list of values, found a map");
    if (count > MAX_LIST_ITEMS)
        return fail(c, v, path, "at most %d entries", MAX_LIST_ITEMS);
    if (count == 0)
        return fail(c, v, path, "must not be an empty list");
    char **arr = rt_calloc((size_t)count, sizeof(char *));
    if (!arr)
        return nomem(c);
    *FIELD(base, k->off, char **) = arr;
    for (int i = 0; i < count; i++) {
        const struct node *item = v->kind == NODE_SCALAR ? v : v->kids[i];
        char ip[KEY_PATH_BYTES];
        if (v->kind == NODE_SCALAR)
            rt_strlcpy(ip, path, sizeof(ip));
        else
            rt_snprintf(ip, sizeof(ip), "%s[%d]", path, i);
        if (item->kind != NODE_SCALAR || item->is_null)
            return fail(c, item, ip, "expected a single value, found %s",
                        item->is_null ? "nothing" : kind_name(item->kind));
        char *text = NULL;
        int rc = expand(c, item, ip, &text);
        if (rc == 0)
            rc = convert_string(c, k, item, ip, text, &arr[i]);
        rt_free_secret_str(text);
        if (rc)
            return rc;
        *FIELD(base, k->count_off, int) = i + 1;
    }
    return 0;
}

static int
read_list(struct ctx *c, const struct key *k, const struct node *v, const char *path, void *base)
{
    if (v->kind != NODE_SEQ)
        return fail(c, v, path, "expected a list, found %s", kind_name(v->kind));
    if (v->n_kids > MAX_LIST_ITEMS)
        return fail(c, v, path, "at most %d entries", MAX_LIST_ITEMS);
    if (v->n_kids == 0)
        return 0;
    char *arr = rt_calloc((size_t)v->n_kids, k->elem_size);
    if (!arr)
        return nomem(c);
    *FIELD(base, k->off, void *) = arr;
    *FIELD(base, k->count_off, int) = v->n_kids;
    for (int i = 0; i < v->n_kids; i++) {
        const struct node *item = v->kids[i];
        char ip[KEY_PATH_BYTES];
        rt_snprintf(ip, sizeof(ip), "%s[%d]", path, i);
        if (item->kind != NODE_MAP)
            return fail(c, item, ip, "expected a map of keys, found %s",
                        item->is_null ? "nothing" : kind_name(item->kind));
        void *elem = arr + (size_t)i * k->elem_size;
        int rc = read_map(c, item, item, ip, k->sub, elem);
        if (rc == 0 && k->post)
            rc = k->post(c, item, ip, elem);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reads the value v of key row k (its key node is kn) into base. */
static int read_value(struct ctx *c,
                      const struct key *k,
                      const struct node *kn,
                      const struct node *v,
                      const char *path,
                      void *base)
{
    int rc;
    switch (k->type) {
    case K_SECTION:
        if (v->kind != NODE_MAP)
            return fail(c, v, path, "expected a map of keys, found %s", kind_name(v->kind));
        rc = read_map(c, v, kn, path, k->sub, base);
        if (rc == 0 && k->post)
            rc = k->post(c, kn, path, base);
        return rc;
    case K_LIST:
        return read_list(c, k, v, path, base);
    case K_STRLIST:
        return read_strlist(c, k, v, path, base);
    case K_NODE_FN:
        return k->set_node(c, v, path, base);
    default:
        break;
    }
    if (v->kind != NODE_SCALAR)
        return fail(c, v, path, "expected a single value, found %s", kind_name(v->kind));
    char *text = NULL;
    rc = expand(c, v, path, &text);
    if (rc == 0)
        rc = convert_scalar(c, k, v, path, text, base);
    rt_free_secret_str(text);
    return rc;
}

/* Fills the default of an absent (or null) key. */
static int apply_default(
    struct ctx *c, const struct key *k, const struct node *where, const char *path, void *base)
{
    int rc = 0;
    switch (k->type) {
    case K_SECTION:
        rc = read_map(c, NULL, where, path, k->sub, base);
        if (rc == 0 && k->post)
            rc = k->post(c, where, path, base);
        return rc;
    case K_LIST:
        return k->fill_default ? k->fill_default(c, where, path, base) : 0;
    case K_STRLIST:
    case K_NODE_FN:
        return 0;
    default:
        return k->def ? convert_scalar(c, k, where, path, k->def, base) : 0;
    }
}

static void child_path(char *out, size_t size, const char *path, const char *name)
{
    char shown[72];
    printable(shown, sizeof(shown), name);
    if (path[0])
        rt_snprintf(out, size, "%s.%s", path, shown);
    else
        rt_strlcpy(out, shown, size);
}

/* Reads map (NULL when the section is absent) with the rows of tab, then fills defaults and
 * checks required keys; where is the position errors about missing keys point at. */
static int read_map(struct ctx *c,
                    const struct node *map,
                    const struct node *where,
                    const char *path,
                    const struct key *tab,
                    void *base)
{
    const struct node *keyn[MAX_KEYS] = {0}, *vals[MAX_KEYS] = {0};
    int n_tab = 0, rc;
    while (tab[n_tab].name)
        n_tab++;
    for (int i = 0; map && i + 1 < map->n_kids; i += 2) {
        const struct node *kn = map->kids[i], *v = map->kids[i + 1];
        char kp[KEY_PATH_BYTES];
        int idx = -1;
        child_path(kp, sizeof(kp), path, kn->text);
        for (int t = 0; t < n_tab && idx < 0; t++)
            if (strcmp(tab[t].name, kn->text) == 0)
                idx = t;
        if (idx < 0) {
            char known[256] = "";
            for (int t = 0; t < n_tab; t++) {
                size_t len = strlen(known);
                rt_snprintf(known + len, sizeof(known) - len, "%s%s", t ? ", " : "", tab[t].name);
            }
            return fail(c, kn, kp, "unknown key (known here: %s)", known);
        }
        if (keyn[idx])
            return fail(c, kn, kp, "duplicate key (first at %d:%d)", keyn[idx]->line,
                        keyn[idx]->col);
        keyn[idx] = kn;
        if (v->is_null)
            continue; /* "key:" with nothing: as if absent */
        vals[idx] = v;
        if ((rc = read_value(c, &tab[idx], kn, v, kp, base)) != 0)
            return rc;
    }
    for (int t = 0; t < n_tab; t++) {
        if (vals[t])
            continue;
        char kp[KEY_PATH_BYTES];
        child_path(kp, sizeof(kp), path, tab[t].name);
        if (tab[t].flags & F_REQUIRED) {
            if (keyn[t])
                return fail(c, keyn[t], kp, "a value is required");
            return fail(c, where, kp, "required key is missing");
        }
        if ((rc = apply_default(c, &tab[t], keyn[t] ? keyn[t] : where, kp, base)) != 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Public API                                                                               */

static void free_str_secret(char *s)
{
    rt_free_secret_str(s);
}

void rt_config_destroy(struct rt_config *cfg)
{
    if (!cfg)
        return;
    /* Every string goes through the wiping free: a config is freed once, and a value written
     * under the wrong key may still be a secret. */
    char **strs[] = {&cfg->path,
                     &cfg->data_dir,
                     &cfg->log_level,
                     &cfg->store.root,
                     &cfg->store.name,
                     &cfg->store.bucket,
                     &cfg->store.prefixes.labeled,
                     &cfg->store.prefixes.detection,
                     &cfg->store.prefixes.results,
                     &cfg->store.prefixes.manifests,
                     &cfg->store.prefixes.evaluation,
                     &cfg->store.prefixes.human_loop,
                     &cfg->store.prefixes.unlabeled,
                     &cfg->parameters.path,
                     &cfg->engine.project,
                     &cfg->review.flow_definition,
                     &cfg->review.workteam_arn,
                     &cfg->review.role_arn,
                     &cfg->http.listen_host,
                     &cfg->aws.region,
                     &cfg->aws.profile,
                     &cfg->aws.ca_file,
                     &cfg->aws.endpoints.s3,
                     &cfg->aws.endpoints.rekognition,
                     &cfg->aws.endpoints.sagemaker,
                     &cfg->aws.endpoints.a2i,
                     &cfg->aws.endpoints.ssm,
                     &cfg->aws.endpoints.sns,
                     &cfg->aws.endpoints.sts,
                     &cfg->store.events_queue,
                     &cfg->aws.endpoints.sqs};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free_str_secret(*strs[i]);
    for (int i = 0; cfg->review.users && i < cfg->review.n_users; i++) {
        free_str_secret(cfg->review.users[i].name);
        free_str_secret(cfg->review.users[i].password_hash);
        rt_free(cfg->review.users[i].role_text);
    }
    rt_free(cfg->review.users);
    for (int i = 0; cfg->http.tokens && i < cfg->http.n_tokens; i++) {
        free_str_secret(cfg->http.tokens[i].name);
        free_str_secret(cfg->http.tokens[i].token_sha256);
        rt_free(cfg->http.tokens[i].role_text);
    }
    rt_free(cfg->http.tokens);
    for (int i = 0; cfg->notify && i < cfg->n_notify; i++) {
        struct rt_config_notify *n = &cfg->notify[i];
        free_str_secret(n->url);
        free_str_secret(n->from);
        for (int t = 0; n->to && t < n->n_to; t++)
            free_str_secret(n->to[t]);
        rt_free(n->to);
        free_str_secret(n->username);
        free_str_secret(n->password);
        free_str_secret(n->ca_file);
        free_str_secret(n->topic_arn);
    }
    rt_free(cfg->notify);
    rt_free_secret(cfg, sizeof(*cfg));
}

/* Makes dir absolute against the working folder. Returns: new string or NULL. */
static char *absolute_dir(const char *dir)
{
    char cwd[MAX_PATH_BYTES];
    bool too_long;
    if (dir && dir[0] == '/')
        return resolve_path("/", dir, &too_long);
    if (!getcwd(cwd, sizeof(cwd)))
        rt_strlcpy(cwd, "/", sizeof(cwd));
    return resolve_path(cwd, dir && *dir ? dir : ".", &too_long);
}

int rt_config_load_string(const char *yaml,
                          size_t len,
                          const char *name,
                          const char *base_dir,
                          struct rt_config **out,
                          struct rt_error *err)
{
    struct ctx c = {.name = name ? name : "<config>", .err = err};
    struct node *root = NULL;
    int rc;

    if (!out || (!yaml && len))
        return rt_error_set(err, RT_EINVAL, "rt_config_load_string: bad arguments");
    *out = NULL;
    if (len > MAX_FILE_BYTES)
        return fail_at(&c, 1, 1, "the file is larger than %d bytes", MAX_FILE_BYTES);
    c.base_dir = absolute_dir(base_dir);
    c.cfg = rt_calloc(1, sizeof(*c.cfg));
    if (!c.base_dir || !c.cfg) {
        rc = nomem(&c);
        goto done;
    }
    rt_param_set_defaults(&c.cfg->parameters.defaults);
    c.cfg->path = rt_strdup(c.name);
    if (!c.cfg->path) {
        rc = nomem(&c);
        goto done;
    }
    if ((rc = check_utf8(&c, yaml, len)) != 0 || (rc = build_tree(&c, yaml, len, &root)) != 0)
        goto done;
    if (!root || (root->kind == NODE_SCALAR && root->is_null)) {
        rc = fail_at(&c, 1, 1, "the file is empty: a config needs at least data_dir and store");
        goto done;
    }
    if (root->kind != NODE_MAP) {
        rc = fail_at(&c, root->line, root->col,
                     "the top level must be a map of keys (data_dir:, store:, ...), not %s",
                     kind_name(root->kind));
        goto done;
    }
    rc = read_map(&c, root, root, "", top_keys, c.cfg);
done:
    node_free(root);
    rt_free(c.base_dir);
    if (rc != 0) {
        rt_config_destroy(c.cfg);
        return rc;
    }
    *out = c.cfg;
    return 0;
}

int rt_config_load(const char *path, struct rt_config **out, struct rt_error *err)
{
    if (!path || !out)
        return rt_error_set(err, RT_EINVAL, "rt_config_load: bad arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = -errno;
        return rt_error_set(err, e, "cannot open config file %s: %s", path, rt_strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rt_error_set(err, RT_ECONFIG, "config file %s is not a regular file", path);
    }
    if (st.st_size > MAX_FILE_BYTES) {
        close(fd);
        return rt_error_set_at(err, RT_ECONFIG, path, 1, 1, "the file is larger than %d bytes",
                               MAX_FILE_BYTES);
    }
    /* Read up to one byte past the cap, in case the file grew since fstat. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = rt_malloc(cap + 1);
    if (!buf) {
        close(fd);
        return rt_error_set(err, RT_ENOMEM, "out of memory while reading the config");
    }
    for (;;) {
        if (n == cap) {
            if (cap > MAX_FILE_BYTES)
                break;
            size_t ncap = cap * 2 > MAX_FILE_BYTES + 1 ? MAX_FILE_BYTES + 1 : cap * 2;
            char *nb = rt_malloc(ncap + 1);
            if (!nb) {
                rt_free_secret(buf, cap + 1);
                close(fd);
                return rt_error_set(err, RT_ENOMEM, "out of memory while reading the config");
            }
            memcpy(nb, buf, n);
            rt_free_secret(buf, cap + 1);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            rt_free_secret(buf, cap + 1);
            close(fd);
            return rt_error_set(err, e, "cannot read config file %s: %s", path, rt_strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';

    /* Relative paths resolve against the folder holding the file, with symlinks resolved. */
    char dir[MAX_PATH_BYTES], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        rt_strlcpy(dir, ".", sizeof(dir));
    else if (slash == path)
        rt_strlcpy(dir, "/", sizeof(dir));
    else
        rt_snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    const char *base = realpath(dir, real) ? real : dir;

    int rc = rt_config_load_string(buf, n, path, base, out, err);
    rt_free_secret(buf, cap + 1);
    return rc;
}

/* ---- what a reload may change ---- */

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Appends key to the list in out ("a, b"). */
static void add_key(char *out, size_t size, int *n, const char *key)
{
    size_t len = strlen(out);
    rt_snprintf(out + len, size - len, "%s%s", len ? ", " : "", key);
    (*n)++;
}

static bool notify_differs(const struct rt_config_notify *a, const struct rt_config_notify *b)
{
    if (a->driver != b->driver || str_differs(a->url, b->url) || str_differs(a->from, b->from) ||
        a->n_to != b->n_to || str_differs(a->username, b->username) ||
        str_differs(a->password, b->password) || a->starttls != b->starttls ||
        str_differs(a->ca_file, b->ca_file) || str_differs(a->topic_arn, b->topic_arn))
        return true;
    for (int i = 0; i < a->n_to; i++)
        if (str_differs(a->to[i], b->to[i]))
            return true;
    return false;
}

int rt_config_restart_changes(const struct rt_config *a,
                              const struct rt_config *b,
                              char *out,
                              size_t size)
{
    int n = 0;
    out[0] = '\0';
    if (str_differs(a->data_dir, b->data_dir))
        add_key(out, size, &n, "data_dir");
    const struct rt_config_prefixes *pa = &a->store.prefixes, *pb = &b->store.prefixes;
    if (a->store.driver != b->store.driver || str_differs(a->store.root, b->store.root) ||
        str_differs(a->store.name, b->store.name) ||
        str_differs(a->store.bucket, b->store.bucket) ||
        a->store.path_style != b->store.path_style || a->store.scan_ms != b->store.scan_ms ||
        str_differs(a->store.events_queue, b->store.events_queue) ||
        str_differs(pa->labeled, pb->labeled) || str_differs(pa->detection, pb->detection) ||
        str_differs(pa->results, pb->results) || str_differs(pa->manifests, pb->manifests) ||
        str_differs(pa->evaluation, pb->evaluation) ||
        str_differs(pa->human_loop, pb->human_loop) || str_differs(pa->unlabeled, pb->unlabeled))
        add_key(out, size, &n, "store");
    if (a->parameters.driver != b->parameters.driver ||
        str_differs(a->parameters.path, b->parameters.path) ||
        a->parameters.refresh_ms != b->parameters.refresh_ms)
        add_key(out, size, &n, "parameters.driver/path/refresh");
    if (a->engine.driver != b->engine.driver || str_differs(a->engine.project, b->engine.project) ||
        a->engine.status_poll_ms != b->engine.status_poll_ms ||
        a->engine.training_threads != b->engine.training_threads ||
        a->engine.max_inference_units != b->engine.max_inference_units ||
        a->engine.idle_stop_ms != b->engine.idle_stop_ms)
        add_key(out, size, &n, "engine");
    bool review = a->review.driver != b->review.driver ||
                  a->review.workers_per_image != b->review.workers_per_image ||
                  a->review.n_users != b->review.n_users ||
                  str_differs(a->review.flow_definition, b->review.flow_definition) ||
                  str_differs(a->review.workteam_arn, b->review.workteam_arn) ||
                  str_differs(a->review.role_arn, b->review.role_arn) ||
                  a->review.poll_ms != b->review.poll_ms;
    for (int i = 0; !review && i < a->review.n_users; i++)
        review = str_differs(a->review.users[i].name, b->review.users[i].name) ||
                 str_differs(a->review.users[i].password_hash, b->review.users[i].password_hash) ||
                 a->review.users[i].role != b->review.users[i].role;
    if (review)
        add_key(out, size, &n, "review");
    bool notify = a->n_notify != b->n_notify;
    for (int i = 0; !notify && i < a->n_notify; i++)
        notify = notify_differs(&a->notify[i], &b->notify[i]);
    if (notify)
        add_key(out, size, &n, "notify");
    bool http = str_differs(a->http.listen_host, b->http.listen_host) ||
                a->http.listen_port != b->http.listen_port || a->http.n_tokens != b->http.n_tokens;
    for (int i = 0; !http && i < a->http.n_tokens; i++)
        http = str_differs(a->http.tokens[i].name, b->http.tokens[i].name) ||
               str_differs(a->http.tokens[i].token_sha256, b->http.tokens[i].token_sha256) ||
               a->http.tokens[i].role != b->http.tokens[i].role;
    if (http)
        add_key(out, size, &n, "http");
    if (a->detection.concurrency != b->detection.concurrency ||
        a->detection.results_flush_ms != b->detection.results_flush_ms)
        add_key(out, size, &n, "detection");
    if (str_differs(a->aws.region, b->aws.region) || str_differs(a->aws.profile, b->aws.profile) ||
        str_differs(a->aws.ca_file, b->aws.ca_file) || a->aws.max_attempts != b->aws.max_attempts ||
        a->aws.retry_mode_adaptive != b->aws.retry_mode_adaptive ||
        str_differs(a->aws.endpoints.s3, b->aws.endpoints.s3) ||
        str_differs(a->aws.endpoints.rekognition, b->aws.endpoints.rekognition) ||
        str_differs(a->aws.endpoints.sagemaker, b->aws.endpoints.sagemaker) ||
        str_differs(a->aws.endpoints.a2i, b->aws.endpoints.a2i) ||
        str_differs(a->aws.endpoints.ssm, b->aws.endpoints.ssm) ||
        str_differs(a->aws.endpoints.sns, b->aws.endpoints.sns) ||
        str_differs(a->aws.endpoints.sts, b->aws.endpoints.sts) ||
        str_differs(a->aws.endpoints.sqs, b->aws.endpoints.sqs))
        add_key(out, size, &n, "aws");
    return n;
}
