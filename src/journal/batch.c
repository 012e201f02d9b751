/*
 * batch.c - write batches: the daemon's writes as data, applied in one transaction.
 *
 * Design: a batch is a list of small records (an operation kind plus copied strings, integers, a
 * real and a blob), built on the loop thread and handed whole to the writer thread, which owns it
 * from then on: no pointer into the loop's memory crosses threads. Applying an operation calls
 * the same statements as the synchronous API, so a batch applied by the writer and the same
 * writes made by the CLI end in identical rows. Records are allocated one per operation with
 * their strings packed behind them, so freeing a batch is a walk of one list.
 */
#include <string.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/log.h"

enum op_kind {
    OP_EXEC_CREATE,
    OP_EXEC_ADVANCE,
    OP_EXEC_CONTEXT,
    OP_EXEC_CHECKED,
    OP_STATE_SET,
    OP_STATE_MAX,
    OP_PARAM_SET,
    OP_PARAM_DELETE,
    OP_MODEL_PUT,
    OP_MODEL_STATUS,
    OP_MODEL_ACTIVE,
    OP_REQUEST_TAKEN,
    OP_MANIFEST_KEYS,
    OP_OUTBOX_ADD,
    OP_OUTBOX_UPDATE,
    OP_EXT, /* applied by a function of another file (rt__jbatch_add_ext) */
};

#define OP_STRINGS 6

struct op {
    struct op *next;
    enum op_kind kind;
    const char *s[OP_STRINGS]; /* point into this allocation, or NULL */
    int64_t i[4];
    double d;
    bool flag;
    const void *blob; /* points into this allocation */
    size_t blob_len;
    rt__op_apply_fn *ext_fn; /* OP_EXT */
    const char *ext_name;    /* OP_EXT: a string literal */
};

struct rt_jbatch {
    struct op *head, **tail;
    size_t n;
};

int rt_jbatch_new(struct rt_jbatch **out)
{
    struct rt_jbatch *b = rt_calloc(1, sizeof(*b));
    if (!b)
        return RT_ENOMEM;
    b->tail = &b->head;
    *out = b;
    return 0;
}

void rt_jbatch_free(struct rt_jbatch *b)
{
    if (!b)
        return;
    struct op *o = b->head;
    while (o) {
        struct op *next = o->next;
        rt_free(o);
        o = next;
    }
    rt_free(b);
}

size_t rt_jbatch_count(const struct rt_jbatch *b)
{
    return b ? b->n : 0;
}

/* Appends an op of kind with copies of the n strings (NULL stays NULL) and of the blob.
 * Returns: the op (to fill its numbers) or NULL when out of memory. */
static struct op *add(struct rt_jbatch *b,
                      enum op_kind kind,
                      const char *const *strs,
                      int n,
                      const void *blob,
                      size_t blob_len)
{
    size_t lens[OP_STRINGS] = {0};
    size_t total = sizeof(struct op) + blob_len;
    for (int k = 0; k < n; k++) {
        if (strs[k]) {
            lens[k] = strlen(strs[k]) + 1;
            total += lens[k];
        }
    }
    struct op *o = rt_calloc(1, total);
    if (!o)
        return NULL;
    char *p = (char *)(o + 1);
    if (blob_len) {
        /* The blob first: struct op's size keeps it 8-byte aligned for the hash arrays. */
        memcpy(p, blob, blob_len);
        o->blob = p;
        o->blob_len = blob_len;
        p += blob_len;
    }
    for (int k = 0; k < n; k++) {
        if (!strs[k])
            continue;
        memcpy(p, strs[k], lens[k]);
        o->s[k] = p;
        p += lens[k];
    }
    o->kind = kind;
    *b->tail = o;
    b->tail = &o->next;
    b->n++;
    return o;
}

#define ADD(b, kind, ...)                                                                          \
    add((b), (kind), (const char *const[]){__VA_ARGS__},                                           \
        (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), NULL, 0)

int rt_jbatch_exec_create(struct rt_jbatch *b,
                          const char *id,
                          const char *workflow,
                          const char *initial_state,
                          const char *input_json,
                          const char *context_json,
                          int64_t now_ms)
{
    struct op *o = ADD(b, OP_EXEC_CREATE, id, workflow, initial_state, input_json, context_json);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = now_ms;
    return 0;
}

int rt_jbatch_exec_advance(struct rt_jbatch *b,
                           const char *id,
                           const char *output_json,
                           const char *error,
                           const char *next_state,
                           bool terminal,
                           const char *context_json,
                           int64_t now_ms)
{
    struct op *o = ADD(b, OP_EXEC_ADVANCE, id, output_json, error, next_state, context_json);
    if (!o)
        return RT_ENOMEM;
    o->flag = terminal;
    o->i[0] = now_ms;
    return 0;
}

int rt_jbatch_exec_context(struct rt_jbatch *b, const char *id, const char *context_json)
{
    return ADD(b, OP_EXEC_CONTEXT, id, context_json) ? 0 : RT_ENOMEM;
}

int rt_jbatch_exec_checked(struct rt_jbatch *b, const char *id, int64_t now_ms)
{
    struct op *o = ADD(b, OP_EXEC_CHECKED, id);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = now_ms;
    return 0;
}

int rt_jbatch_state_set(struct rt_jbatch *b, const char *key, const char *value)
{
    return ADD(b, OP_STATE_SET, key, value) ? 0 : RT_ENOMEM;
}

int rt_jbatch_state_set_i64(struct rt_jbatch *b, const char *key, int64_t value)
{
    char text[32];
    rt_snprintf(text, sizeof(text), "%lld", (long long)value);
    return rt_jbatch_state_set(b, key, text);
}

int rt__jbatch_state_max(struct rt_jbatch *b, const char *key, int64_t value)
{
    char text[32];
    rt_snprintf(text, sizeof(text), "%lld", (long long)value);
    return ADD(b, OP_STATE_MAX, key, text) ? 0 : RT_ENOMEM;
}

int rt_jbatch_param_set(struct rt_jbatch *b, const char *name, const char *value, int64_t now_ms)
{
    struct op *o = ADD(b, OP_PARAM_SET, name, value);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = now_ms;
    return 0;
}

int rt_jbatch_param_delete(struct rt_jbatch *b, const char *name)
{
    return ADD(b, OP_PARAM_DELETE, name) ? 0 : RT_ENOMEM;
}

int rt_jbatch_model_put(struct rt_jbatch *b, const struct rt_journal_model *m)
{
    struct op *o = ADD(b, OP_MODEL_PUT, m->version, m->exec_id, m->status);
    if (!o)
        return RT_ENOMEM;
    o->d = m->f1;
    o->i[0] = m->images;
    o->i[1] = m->created_ms;
    o->i[2] = m->deployed_ms;
    o->i[3] = m->stopped_ms;
    return 0;
}

int rt_jbatch_model_status(
    struct rt_jbatch *b, const char *version, const char *status, double f1, int64_t stopped_ms)
{
    struct op *o = ADD(b, OP_MODEL_STATUS, version, status);
    if (!o)
        return RT_ENOMEM;
    o->d = f1;
    o->i[0] = stopped_ms;
    return 0;
}

int rt_jbatch_model_set_active(struct rt_jbatch *b, const char *version, int64_t now_ms)
{
    struct op *o = ADD(b, OP_MODEL_ACTIVE, version);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = now_ms;
    return 0;
}

int rt_jbatch_request_taken(struct rt_jbatch *b, int64_t id, int64_t now_ms)
{
    struct op *o = add(b, OP_REQUEST_TAKEN, NULL, 0, NULL, 0);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = id;
    o->i[1] = now_ms;
    return 0;
}

int rt_jbatch_manifest_keys(
    struct rt_jbatch *b, const char *exec_id, const uint64_t *hashes, size_t n, int64_t images)
{
    const char *s[] = {exec_id};
    struct op *o = add(b, OP_MANIFEST_KEYS, s, 1, hashes, n * sizeof(uint64_t));
    if (!o)
        return RT_ENOMEM;
    o->i[0] = images;
    return 0;
}

int rt_jbatch_outbox_add(struct rt_jbatch *b,
                         int64_t id,
                         const char *exec_id,
                         const char *kind,
                         const char *event_json,
                         int64_t now_ms)
{
    struct op *o = ADD(b, OP_OUTBOX_ADD, exec_id, kind, event_json);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = id;
    o->i[1] = now_ms;
    return 0;
}

int rt_jbatch_outbox_update(struct rt_jbatch *b,
                            int64_t id,
                            int64_t attempts,
                            int64_t next_ms,
                            int64_t sent_ms,
                            const char *delivered,
                            const char *last_error)
{
    struct op *o = ADD(b, OP_OUTBOX_UPDATE, delivered ? delivered : "", last_error);
    if (!o)
        return RT_ENOMEM;
    o->i[0] = id;
    o->i[1] = attempts;
    o->i[2] = next_ms;
    o->i[3] = sent_ms;
    return 0;
}

int rt__jbatch_add_ext(struct rt_jbatch *b,
                       rt__op_apply_fn *fn,
                       const char *name,
                       const struct rt__op_args *a)
{
    struct op *o = add(b, OP_EXT, a->s, OP_STRINGS, a->blob, a->blob ? a->blob_len : 0);
    if (!o)
        return RT_ENOMEM;
    memcpy(o->i, a->i, sizeof(o->i));
    o->d = a->d;
    o->flag = a->flag;
    o->ext_fn = fn;
    o->ext_name = name;
    return 0;
}

/* ---- applying ---- */

/* Binds o's values to statement id the way its kind needs and runs it. */
static int run_stmt(struct rt_journal *j, enum stmt_id id, const struct op *o, const char *what)
{
    sqlite3_stmt *st;
    int rc = rt__stmt(j, id, &st);
    if (rc)
        return rc;
    switch (o->kind) {
    case OP_EXEC_CONTEXT:
        rt__bind_text(st, 1, o->s[0]);
        rt__bind_text(st, 2, o->s[1]);
        break;
    case OP_EXEC_CHECKED:
        rt__bind_text(st, 1, o->s[0]);
        sqlite3_bind_int64(st, 2, o->i[0]);
        break;
    case OP_STATE_MAX:
        rt__bind_text(st, 1, o->s[0]);
        rt__bind_text(st, 2, o->s[1]);
        break;
    case OP_PARAM_DELETE:
        rt__bind_text(st, 1, o->s[0]);
        break;
    case OP_MODEL_STATUS:
        rt__bind_text(st, 1, o->s[0]);
        rt__bind_text(st, 2, o->s[1]);
        sqlite3_bind_double(st, 3, o->d);
        sqlite3_bind_int64(st, 4, o->i[0]);
        break;
    case OP_REQUEST_TAKEN:
        sqlite3_bind_int64(st, 1, o->i[0]);
        sqlite3_bind_int64(st, 2, o->i[1]);
        break;
    case OP_MANIFEST_KEYS:
        rt__bind_text(st, 1, o->s[0]);
        sqlite3_bind_int64(st, 2, o->i[0]);
        sqlite3_bind_blob(st, 3, o->blob ? o->blob : "", (int)o->blob_len, SQLITE_STATIC);
        break;
    case OP_OUTBOX_ADD:
        sqlite3_bind_int64(st, 1, o->i[0]);
        rt__bind_text(st, 2, o->s[0]);
        rt__bind_text(st, 3, o->s[1]);
        rt__bind_text(st, 4, o->s[2]);
        sqlite3_bind_int64(st, 5, o->i[1]);
        break;
    case OP_OUTBOX_UPDATE:
        sqlite3_bind_int64(st, 1, o->i[0]);
        sqlite3_bind_int64(st, 2, o->i[1]);
        sqlite3_bind_int64(st, 3, o->i[2]);
        sqlite3_bind_int64(st, 4, o->i[3]);
        rt__bind_text(st, 5, o->s[0]);
        rt__bind_text(st, 6, o->s[1]);
        break;
    default:
        break;
    }
    rc = rt__step_done(j, st, what);
    rt__stmt_done(j, id, st);
    return rc;
}

static int run_op(struct rt_journal *j, const struct op *o)
{
    switch (o->kind) {
    case OP_EXEC_CREATE:
        return rt_journal_exec_create(j, o->s[0], o->s[1], o->s[2], o->s[3], o->s[4], o->i[0]);
    case OP_EXEC_ADVANCE:
        return rt_journal_exec_advance(j, o->s[0], o->s[1], o->s[2], o->s[3], o->flag, o->s[4],
                                       o->i[0]);
    case OP_EXEC_CONTEXT:
        return run_stmt(j, ST_EXEC_CONTEXT, o, "set context");
    case OP_EXEC_CHECKED:
        return run_stmt(j, ST_EXEC_CHECKED, o, "count check");
    case OP_STATE_SET:
        return rt_journal_state_set(j, o->s[0], o->s[1]);
    case OP_STATE_MAX:
        return run_stmt(j, ST_STATE_MAX, o, "raise counter");
    case OP_PARAM_SET:
        return rt_journal_param_set(j, o->s[0], o->s[1], o->i[0]);
    case OP_PARAM_DELETE:
        return run_stmt(j, ST_PARAM_DELETE, o, "delete parameter");
    case OP_MODEL_PUT: {
        struct rt_journal_model m = {.f1 = o->d,
                                     .images = o->i[0],
                                     .created_ms = o->i[1],
                                     .deployed_ms = o->i[2],
                                     .stopped_ms = o->i[3]};
        rt_strlcpy(m.version, o->s[0] ? o->s[0] : "", sizeof(m.version));
        rt_strlcpy(m.exec_id, o->s[1] ? o->s[1] : "", sizeof(m.exec_id));
        rt_strlcpy(m.status, o->s[2] ? o->s[2] : "", sizeof(m.status));
        return rt_journal_model_put(j, &m);
    }
    case OP_MODEL_STATUS:
        return run_stmt(j, ST_MODEL_STATUS, o, "model status");
    case OP_MODEL_ACTIVE:
        return rt_journal_model_set_active(j, o->s[0], o->i[0]);
    case OP_REQUEST_TAKEN:
        return run_stmt(j, ST_REQ_MARK, o, "take request");
    case OP_MANIFEST_KEYS:
        return run_stmt(j, ST_MANIFEST_PUT, o, "manifest keys");
    case OP_OUTBOX_ADD:
        return run_stmt(j, ST_OUTBOX_ADD, o, "add notification");
    case OP_OUTBOX_UPDATE:
        return run_stmt(j, ST_OUTBOX_UPDATE, o, "update notification");
    case OP_EXT: {
        struct rt__op_args a = {
            .d = o->d, .flag = o->flag, .blob = o->blob, .blob_len = o->blob_len};
        memcpy(a.s, o->s, sizeof(a.s));
        memcpy(a.i, o->i, sizeof(a.i));
        return o->ext_fn(j, &a);
    }
    }
    return RT_EINVAL;
}

static const char *op_name(enum op_kind k)
{
    static const char *const names[] = {
        [OP_EXEC_CREATE] = "exec_create",     [OP_EXEC_ADVANCE] = "exec_advance",
        [OP_EXEC_CONTEXT] = "exec_context",   [OP_EXEC_CHECKED] = "exec_checked",
        [OP_STATE_SET] = "state_set",         [OP_STATE_MAX] = "state_max",
        [OP_PARAM_SET] = "param_set",         [OP_PARAM_DELETE] = "param_delete",
        [OP_MODEL_PUT] = "model_put",         [OP_MODEL_STATUS] = "model_status",
        [OP_MODEL_ACTIVE] = "model_active",   [OP_REQUEST_TAKEN] = "request_taken",
        [OP_MANIFEST_KEYS] = "manifest_keys", [OP_OUTBOX_ADD] = "outbox_add",
        [OP_OUTBOX_UPDATE] = "outbox_update",
    };
    return names[k];
}

int rt__batch_run(struct rt_journal *j, const struct rt_jbatch *b, struct rt_error *err)
{
    int rc = rt_journal_begin(j);
    if (rc)
        return rt_error_set(err, rc, "journal %s: cannot begin a transaction: %s", j->path,
                            rt_strerror(rc));
    for (const struct op *o = b->head; o; o = o->next) {
        rc = run_op(j, o);
        if (rc) {
            rt_journal_rollback(j);
            return rt_error_set(err, rc, "journal %s: %s (%s) failed: %s", j->path,
                                o->kind == OP_EXT ? o->ext_name : op_name(o->kind),
                                o->s[0] ? o->s[0] : "-", rt_strerror(rc));
        }
    }
    rc = rt_journal_commit(j);
    if (rc)
        return rt_error_set(err, rc, "journal %s: commit failed: %s", j->path, rt_strerror(rc));
    return 0;
}

int rt_journal_apply(struct rt_journal *j, const struct rt_jbatch *b, struct rt_error *err)
{
    if (!b)
        return RT_EINVAL;
    return rt__batch_run(j, b, err);
}
