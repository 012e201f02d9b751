/*
 * ssm.c - the ssm params driver: the ten parameters in AWS Systems Manager Parameter Store.
 *
 * Design: every value lives under parameters.path as <path><Name> (Type String, a JSON literal
 * such as true, 720 or 0.8, as the reference solution stores them). load and refresh read the
 * whole path with GetParametersByPath (Recursive, MaxResults 10, following NextToken until it is
 * absent: a page may be short or empty and still carry a token). Each parameter's Version is
 * remembered: a value is parsed again only when its Version changed, and a value that does not
 * parse is logged once per Version and left out: the last good value stays (the config default
 * when there never was one). refresh compares the resolved set with the last one delivered and
 * calls on_change when it differs. The driver polls on its own every refresh_ms (the config's
 * parameters.refresh), one scan at a time, so a change made in the console is applied without a
 * restart; the owner's refresh calls add scans of their own. A scan that fails changes nothing (the
 * next refresh tries again). set validates like the local driver, then PutParameter Overwrite;
 * reset is DeleteParameter (a missing parameter is fine). After a successful write a scan runs, so
 * the owner hears of the change through on_change like any other.
 *
 * The daemon's system state is mirrored into the JSON parameter <path>For-System-Use-Only
 * (rt_params_ssm_system_put): read, merge the new keys, write back, keeping the keys retraind
 * does not know. Writes of the mirror are serialised: keys given while one is in flight are
 * merged into the next round.
 *
 * Everything runs on the loop thread through rt_aws_call (whose client retries throttling and
 * 5xx); callbacks never run inside the call that started them.
 */
#include <cjson/cJSON.h>
#include <string.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "retraind/log.h"
#include "retraind/loop.h"
#include "retraind/params.h"

#define SYSTEM_NAME "For-System-Use-Only"

struct known {
    bool found;      /* present in the last scan */
    int64_t version; /* its Version then */
    bool have_good;  /* good holds a value that parsed */
    struct rt_param_value good;
    int64_t bad_version; /* the Version last reported as bad (0: none) */
};

struct ssm {
    struct rt_params base; /* first */
    struct rt_aws_client *aws;
    char *path; /* ends with '/' */
    const struct rt_param_set *defaults;
    struct rt_param_set builtin_defaults;
    struct rt_defer_queue defer;
    struct known known[RT_P_COUNT];
    struct rt_param_set last;
    bool have_last;
    uint64_t scan_seq; /* scans started */
    uint64_t last_seq; /* the scan whose set last is */
    int in_flight;     /* calls and deferred completions not yet run */
    uv_timer_t timer;  /* its own polling: a refresh every refresh_ms */
    int64_t refresh_ms;
    int polls; /* scans started by the timer and not finished */
    bool closing, close_started;
    void (*close_cb)(void *ud);
    void *close_ud;
    /* the For-System-Use-Only mirror */
    cJSON *sys_pending; /* keys waiting for the next round, or NULL */
    cJSON *sys_round;   /* keys of the round in flight, or NULL */
};

struct scan {
    struct ssm *s;
    bool polled;                /* started by the timer */
    uint64_t seq;               /* order of start: an older scan never overrides a newer one */
    rt_params_load_fn *load_cb; /* NULL: a refresh */
    void *ud;
    char *token;
    int pages;
    char *value[RT_P_COUNT];
    int64_t version[RT_P_COUNT];
};

struct write {
    struct rt_deferred item; /* refusals: delivered on a later turn */
    struct ssm *s;
    rt_params_done_fn *cb;
    void *ud;
    int status;
    struct rt_error err;
    char name[64];
    bool reset;
};

static void maybe_finish_close(struct ssm *s);
static int
scan_start(struct ssm *s, rt_params_load_fn *cb, void *ud, struct rt_error *err, struct scan **out);

static bool same_set(const struct rt_param_set *a, const struct rt_param_set *b)
{
    for (int i = 0; i < RT_P_COUNT; i++)
        if (strcmp(a->v[i].text, b->v[i].text) != 0 || a->v[i].source != b->v[i].source)
            return false;
    return true;
}

static void scan_free(struct scan *sc)
{
    for (int i = 0; i < RT_P_COUNT; i++)
        rt_free(sc->value[i]);
    rt_free(sc->token);
    rt_free(sc);
}

/* Returns: the text of a JSON literal as rt_param_parse reads it: a JSON string's contents,
 * else the text itself. */
static void literal_text(const char *value, char *out, size_t size)
{
    cJSON *j = cJSON_Parse(value);
    if (cJSON_IsString(j))
        rt_strlcpy(out, j->valuestring, size);
    else
        rt_strlcpy(out, value, size);
    cJSON_Delete(j);
}

/* Resolves a finished scan into values, updating what the driver knows. */
static void resolve(struct ssm *s, struct scan *sc, struct rt_param_set *out)
{
    for (int i = 0; i < RT_P_COUNT; i++) {
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        struct known *k = &s->known[i];
        out->v[i] = s->defaults->v[i];
        if (!sc->value[i]) {
            k->found = false;
            k->have_good = false;
            k->bad_version = 0;
            continue;
        }
        if (!k->found || k->version != sc->version[i]) {
            k->found = true;
            k->version = sc->version[i];
            char text[128];
            literal_text(sc->value[i], text, sizeof(text));
            struct rt_param_value v;
            struct rt_error err;
            rt_error_clear(&err);
            if (rt_param_parse(def, text, &v, &err) == 0) {
                v.source = RT_PSRC_SET;
                k->good = v;
                k->have_good = true;
                k->bad_version = 0;
            } else if (k->bad_version != k->version) {
                k->bad_version = k->version;
                RT_LOG(RT_LOG_WARNING, "params",
                       "event=bad_value driver=ssm name=%s version=%lld error=%s kept=%s",
                       def->name, (long long)k->version, rt_q(err.msg),
                       rt_q(k->have_good ? k->good.text : out->v[i].text));
            }
        }
        if (k->have_good)
            out->v[i] = k->good;
    }
}

static void scan_finish(struct scan *sc, int status, const struct rt_error *err)
{
    struct ssm *s = sc->s;
    struct rt_param_set set;
    /* Scans may overlap (a poll, a poke, the one after a write): one that started before the
     * scan last delivered saw older values and must not undo it. */
    bool stale = s->have_last && sc->seq < s->last_seq;
    if (status == 0 && (sc->load_cb || !stale))
        resolve(s, sc, &set);
    if (sc->load_cb) {
        if (status == 0 && !stale) {
            s->last = set;
            s->have_last = true;
            s->last_seq = sc->seq;
        }
        sc->load_cb(status, status ? NULL : &set, err, sc->ud);
    } else if (status) {
        RT_LOG(RT_LOG_ERR, "params", "event=params_load_failed driver=ssm error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    } else if (!stale && !s->closing) {
        bool differs = !s->have_last || !same_set(&set, &s->last);
        s->last = set;
        s->have_last = true;
        s->last_seq = sc->seq;
        if (differs && s->base.on_change)
            s->base.on_change(&set, s->base.on_change_ud);
    }
    if (sc->polled)
        s->polls--;
    scan_free(sc);
    s->in_flight--;
    maybe_finish_close(s);
}

static int scan_page(struct scan *sc, struct rt_error *err);

static void page_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct scan *sc = ud;
    struct ssm *s = sc->s;
    struct rt_error e;
    rt_error_clear(&e);
    if (status) {
        e = *err;
        rt_error_set(&e, status, "parameters: GetParametersByPath %s: %s", s->path,
                     err ? err->msg : rt_strerror(status));
        scan_finish(sc, status, &e);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "Parameters");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        rt_error_set(&e, RT_EPARSE, "parameters: GetParametersByPath: no Parameters in the reply");
        scan_finish(sc, RT_EPARSE, &e);
        return;
    }
    size_t plen = strlen(s->path);
    const cJSON *p;
    cJSON_ArrayForEach(p, list)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "Name");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(p, "Value");
        const cJSON *version = cJSON_GetObjectItemCaseSensitive(p, "Version");
        if (!cJSON_IsString(name) || !cJSON_IsString(value) ||
            strncmp(name->valuestring, s->path, plen) != 0)
            continue;
        const struct rt_param_def *def = rt_param_def_by_name(name->valuestring + plen);
        if (!def)
            continue; /* For-System-Use-Only and anything else under the path */
        rt_free(sc->value[def->id]);
        sc->value[def->id] = rt_strdup(value->valuestring);
        sc->version[def->id] = cJSON_IsNumber(version) ? (int64_t)version->valuedouble : 0;
        if (!sc->value[def->id]) {
            cJSON_Delete(root);
            rt_error_set(&e, RT_ENOMEM, "out of memory");
            scan_finish(sc, RT_ENOMEM, &e);
            return;
        }
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(root, "NextToken");
    rt_free(sc->token);
    sc->token = cJSON_IsString(next) && next->valuestring[0] ? rt_strdup(next->valuestring) : NULL;
    cJSON_Delete(root);
    if (!sc->token) {
        scan_finish(sc, 0, NULL);
        return;
    }
    /* more pages (bounded: 10 names need few; a runaway token stops at 100 pages) */
    int rc = ++sc->pages > 100 ? rt_error_set(&e, RT_EPARSE, "parameters: more than 100 pages")
                               : scan_page(sc, &e);
    if (rc)
        scan_finish(sc, rc, &e);
}

static int scan_page(struct scan *sc, struct rt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "Path", sc->s->path) ||
        !cJSON_AddTrueToObject(o, "Recursive") || !cJSON_AddNumberToObject(o, "MaxResults", 10) ||
        (sc->token && !cJSON_AddStringToObject(o, "NextToken", sc->token))) {
        cJSON_Delete(o);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    struct rt_aws_params p = {.body = text, .body_len = strlen(text)};
    int rc = rt_aws_call(sc->s->aws, &rt_aws_ssm_get_parameters_by_path_op, &p, page_done, sc, err);
    cJSON_free(text);
    return rc;
}

static int
scan_start(struct ssm *s, rt_params_load_fn *cb, void *ud, struct rt_error *err, struct scan **out)
{
    struct scan *sc = rt_calloc(1, sizeof(*sc));
    if (!sc)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    sc->s = s;
    sc->load_cb = cb;
    sc->ud = ud;
    int rc = scan_page(sc, err);
    if (rc) {
        scan_free(sc);
        return rc;
    }
    s->in_flight++;
    sc->seq = ++s->scan_seq;
    if (out)
        *out = sc;
    return 0;
}

static int ssm_load(struct rt_params *p, rt_params_load_fn *cb, void *ud)
{
    struct ssm *s = (struct ssm *)p;
    if (s->closing)
        return RT_ECANCELED;
    if (!cb)
        return RT_EINVAL;
    struct rt_error err;
    rt_error_clear(&err);
    return scan_start(s, cb, ud, &err, NULL);
}

static int ssm_refresh(struct rt_params *p)
{
    struct ssm *s = (struct ssm *)p;
    if (s->closing)
        return RT_ECANCELED;
    struct rt_error err;
    rt_error_clear(&err);
    return scan_start(s, NULL, NULL, &err, NULL);
}

static void on_timer(uv_timer_t *t)
{
    struct ssm *s = t->data;
    if (s->closing || s->polls > 0)
        return; /* one poll at a time: a slow Parameter Store never piles scans up */
    struct rt_error err;
    rt_error_clear(&err);
    struct scan *sc = NULL;
    if (scan_start(s, NULL, NULL, &err, &sc) == 0) {
        sc->polled = true;
        s->polls++;
    } else {
        RT_LOG(RT_LOG_ERR, "params", "event=params_refresh_failed driver=ssm error=%s",
               rt_q(err.msg));
    }
}

/* ---- set and reset ---- */

static void write_deliver(void *ud)
{
    struct write *w = ud;
    struct ssm *s = w->s;
    w->cb(w->status, w->status ? &w->err : NULL, w->ud);
    rt_free(w);
    s->in_flight--;
    maybe_finish_close(s);
}

static void written(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    struct write *w = ud;
    struct ssm *s = w->s;
    if (status && w->reset && err && err->aws_code[0] &&
        strcmp(err->aws_code, "ParameterNotFound") == 0)
        status = 0; /* nothing stored: the default applies already */
    w->status = status;
    if (status) {
        rt_error_set(&w->err, status, "%s: cannot store the value in Parameter Store: %s", w->name,
                     err ? err->msg : rt_strerror(status));
        RT_LOG(RT_LOG_ERR, "params", "event=set_failed driver=ssm name=%s error=%s", w->name,
               rt_q(w->err.msg));
    } else if (!s->closing) {
        struct rt_error e;
        rt_error_clear(&e);
        if (scan_start(s, NULL, NULL, &e, NULL)) /* the next refresh will see it */
            RT_LOG(RT_LOG_WARNING, "params", "event=rescan_failed driver=ssm error=%s",
                   rt_q(e.msg));
    }
    write_deliver(w);
}

static int name_of(struct ssm *s, const char *leaf, char *out, size_t size)
{
    return rt_snprintf(out, size, "%s%s", s->path, leaf) ? RT_ETOOBIG : 0;
}

static int
write_start(struct ssm *s, enum rt_param_id id, const char *text, rt_params_done_fn *cb, void *ud)
{
    if (s->closing)
        return RT_ECANCELED;
    const struct rt_param_def *def = rt_param_def_by_id(id);
    if (!def || !cb)
        return RT_EINVAL;
    struct write *w = rt_calloc(1, sizeof(*w));
    if (!w)
        return RT_ENOMEM;
    w->s = s;
    w->cb = cb;
    w->ud = ud;
    w->reset = text == NULL;
    rt_strlcpy(w->name, def->name, sizeof(w->name));
    struct rt_param_value v;
    if (text) {
        rt_error_clear(&w->err);
        if (rt_param_parse(def, text, &v, &w->err) != 0) {
            /* A refused value changes nothing; the caller hears why on a later turn. */
            w->status = w->err.code;
            RT_LOG(RT_LOG_INFO, "params", "event=set_refused driver=ssm name=%s error=%s",
                   def->name, rt_q(w->err.msg));
            s->in_flight++;
            rt_defer_item(&s->defer, &w->item, write_deliver, w);
            return 0;
        }
    }
    char full[1100];
    int rc = name_of(s, def->name, full, sizeof(full));
    struct rt_error err;
    rt_error_clear(&err);
    if (!rc && text) {
        rc = rt_aws_ssm_put_parameter(s->aws, full, v.text, true, written, w, &err);
    } else if (!rc) {
        cJSON *o = cJSON_CreateObject();
        char *body =
            o && cJSON_AddStringToObject(o, "Name", full) ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!body)
            rc = RT_ENOMEM;
        else {
            struct rt_aws_params p = {.body = body, .body_len = strlen(body)};
            rc = rt_aws_call(s->aws, &rt_aws_ssm_delete_parameter_op, &p, written, w, &err);
            cJSON_free(body);
        }
    }
    if (rc) {
        rt_free(w);
        return rc;
    }
    s->in_flight++;
    if (text)
        RT_LOG(RT_LOG_NOTICE, "params", "event=set driver=ssm name=%s value=%s", def->name,
               rt_q(v.text));
    else
        RT_LOG(RT_LOG_NOTICE, "params", "event=reset driver=ssm name=%s", def->name);
    return 0;
}

static int
ssm_set(struct rt_params *p, enum rt_param_id id, const char *text, rt_params_done_fn *cb, void *ud)
{
    if (!text)
        return RT_EINVAL;
    return write_start((struct ssm *)p, id, text, cb, ud);
}

static int ssm_reset(struct rt_params *p, enum rt_param_id id, rt_params_done_fn *cb, void *ud)
{
    return write_start((struct ssm *)p, id, NULL, cb, ud);
}

/* ---- For-System-Use-Only ---- */

static int sys_round_start(struct ssm *s);

static void sys_round_end(struct ssm *s, int status, const struct rt_error *err)
{
    if (status)
        RT_LOG(RT_LOG_WARNING, "params", "event=system_state_failed driver=ssm error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    else
        RT_LOG(RT_LOG_INFO, "params", "event=system_state_written driver=ssm");
    cJSON_Delete(s->sys_round);
    s->sys_round = NULL;
    s->in_flight--;
    if (s->sys_pending) /* also when closing: close waits for the last round */
        sys_round_start(s);
    maybe_finish_close(s);
}

static void
sys_put_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    (void)resp;
    sys_round_end(ud, status, err);
}

static void sys_got(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct ssm *s = ud;
    cJSON *obj = NULL;
    if (status == 0) {
        char *value = rt_aws_ssm_parse_value(
            (struct rt_str){resp->body.data ? resp->body.data : "", resp->body.len});
        obj = value ? cJSON_Parse(value) : NULL;
        rt_free(value);
        if (!cJSON_IsObject(obj)) {
            /* not an object: we would lose what is there, so leave it alone */
            cJSON_Delete(obj);
            struct rt_error e;
            rt_error_set(&e, RT_EPARSE, SYSTEM_NAME " is not a JSON object: left as it is");
            sys_round_end(s, RT_EPARSE, &e);
            return;
        }
    } else if (err && strcmp(err->aws_code, "ParameterNotFound") == 0) {
        obj = cJSON_CreateObject();
    } else {
        sys_round_end(s, status, err);
        return;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, s->sys_round)
    {
        cJSON *copy = cJSON_Duplicate(item, true);
        if (copy && !cJSON_ReplaceItemInObjectCaseSensitive(obj, item->string, copy) &&
            !cJSON_AddItemToObject(obj, item->string, copy))
            cJSON_Delete(copy);
    }
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    char full[1100];
    struct rt_error e;
    rt_error_clear(&e);
    int rc = !text ? RT_ENOMEM : name_of(s, SYSTEM_NAME, full, sizeof(full));
    if (!rc)
        rc = rt_aws_ssm_put_parameter(s->aws, full, text, true, sys_put_done, s, &e);
    cJSON_free(text);
    if (rc)
        sys_round_end(s, rc, &e);
}

static int sys_round_start(struct ssm *s)
{
    s->sys_round = s->sys_pending;
    s->sys_pending = NULL;
    char full[1100];
    struct rt_error e;
    rt_error_clear(&e);
    int rc = name_of(s, SYSTEM_NAME, full, sizeof(full));
    if (!rc)
        rc = rt_aws_ssm_get_parameter(s->aws, full, sys_got, s, &e);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "params", "event=system_state_failed driver=ssm error=%s",
               rt_q(e.msg[0] ? e.msg : rt_strerror(rc)));
        cJSON_Delete(s->sys_round);
        s->sys_round = NULL;
        return rc;
    }
    s->in_flight++;
    return 0;
}

int rt_params_ssm_system_put(struct rt_params *p, const char *key, const char *json_value)
{
    if (!p || p->ops->name == NULL || strcmp(p->ops->name, "ssm") != 0)
        return 0; /* not an ssm driver: nothing to mirror */
    struct ssm *s = (struct ssm *)p;
    if (s->closing)
        return RT_ECANCELED;
    cJSON *v = cJSON_Parse(json_value ? json_value : "null");
    if (!v)
        return RT_EINVAL;
    if (!s->sys_pending)
        s->sys_pending = cJSON_CreateObject();
    if (!s->sys_pending) {
        cJSON_Delete(v);
        return RT_ENOMEM;
    }
    if (!cJSON_ReplaceItemInObjectCaseSensitive(s->sys_pending, key, v) &&
        !cJSON_AddItemToObject(s->sys_pending, key, v)) {
        cJSON_Delete(v);
        return RT_ENOMEM;
    }
    return s->sys_round ? 0 : sys_round_start(s);
}

struct sys_get {
    struct ssm *s;
    rt_params_system_fn *cb;
    void *ud;
};

static void
sys_get_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct sys_get *g = ud;
    struct ssm *s = g->s;
    struct rt_error e;
    rt_error_clear(&e);
    cJSON *obj = NULL;
    if (status == 0) {
        char *value = rt_aws_ssm_parse_value(
            (struct rt_str){resp->body.data ? resp->body.data : "", resp->body.len});
        obj = value ? cJSON_Parse(value) : NULL;
        rt_free(value);
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            obj = NULL;
            status = rt_error_set(&e, RT_EPARSE, SYSTEM_NAME " is not a JSON object");
            err = &e;
        }
    } else if (err && strcmp(err->aws_code, "ParameterNotFound") == 0) {
        status = 0; /* no such parameter: a first deployment */
        err = NULL;
    }
    if (s->closing && status == 0) {
        status = rt_error_set(&e, RT_ECANCELED, "the parameters driver is closing");
        err = &e;
    }
    g->cb(status, status ? NULL : obj, err, g->ud);
    cJSON_Delete(obj);
    rt_free(g);
    s->in_flight--;
    maybe_finish_close(s);
}

int rt_params_ssm_system_get(struct rt_params *p, rt_params_system_fn *cb, void *ud)
{
    if (!p || p->ops->name == NULL || strcmp(p->ops->name, "ssm") != 0)
        return RT_EINVAL;
    struct ssm *s = (struct ssm *)p;
    if (s->closing)
        return RT_ECANCELED;
    struct sys_get *g = rt_calloc(1, sizeof(*g));
    if (!g)
        return RT_ENOMEM;
    *g = (struct sys_get){s, cb, ud};
    char full[1100];
    struct rt_error e;
    rt_error_clear(&e);
    int rc = name_of(s, SYSTEM_NAME, full, sizeof(full));
    if (!rc)
        rc = rt_aws_ssm_get_parameter(s->aws, full, sys_get_done, g, &e);
    if (rc) {
        rt_free(g);
        return rc;
    }
    s->in_flight++;
    return 0;
}

/* ---- close ---- */

static void timer_closed(uv_handle_t *h)
{
    struct ssm *s = h->data;
    void (*cb)(void *) = s->close_cb;
    void *ud2 = s->close_ud;
    cJSON_Delete(s->sys_pending);
    rt_free(s->path);
    rt_free(s);
    if (cb)
        cb(ud2);
}

static void defer_closed(void *ud)
{
    struct ssm *s = ud;
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}

static void maybe_finish_close(struct ssm *s)
{
    if (s->closing && s->in_flight == 0 && !s->close_started) {
        s->close_started = true;
        rt_defer_close(&s->defer, defer_closed, s);
    }
}

static void ssm_close(struct rt_params *p, void (*cb)(void *ud), void *ud)
{
    struct ssm *s = (struct ssm *)p;
    if (s->closing)
        return;
    s->closing = true;
    uv_timer_stop(&s->timer);
    s->close_cb = cb;
    s->close_ud = ud;
    maybe_finish_close(s);
}

static const struct rt_params_ops ssm_ops = {
    .name = "ssm",
    .load = ssm_load,
    .set = ssm_set,
    .reset = ssm_reset,
    .refresh = ssm_refresh,
    .close = ssm_close,
};

int rt_params_ssm_new(struct uv_loop_s *loop,
                      struct rt_aws_client *aws,
                      const char *path,
                      int64_t refresh_ms,
                      const struct rt_param_set *defaults,
                      struct rt_params **out,
                      struct rt_error *err)
{
    *out = NULL;
    if (!loop || !aws)
        return rt_error_set(err, RT_EINVAL, "parameters: the ssm driver needs an AWS client");
    if (!path || path[0] != '/' || path[strlen(path) - 1] != '/')
        return rt_error_set(err, RT_ECONFIG, "parameters.path must start and end with '/'");
    struct ssm *s = rt_calloc(1, sizeof(*s));
    if (!s || !(s->path = rt_strdup(path))) {
        rt_free(s);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    s->base.ops = &ssm_ops;
    s->aws = aws;
    rt_param_set_defaults(&s->builtin_defaults);
    s->defaults = defaults ? defaults : &s->builtin_defaults;
    int rc = rt_defer_init(&s->defer, loop);
    if (rc) {
        rt_free(s->path);
        rt_free(s);
        return rt_error_set(err, rc, "parameters: %s", rt_strerror(rc));
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->refresh_ms = refresh_ms;
    if (refresh_ms > 0)
        uv_timer_start(&s->timer, on_timer, (uint64_t)refresh_ms, (uint64_t)refresh_ms);
    RT_LOG(RT_LOG_INFO, "params", "event=driver_ready driver=ssm path=%s refresh_ms=%lld",
           rt_q(path), (long long)refresh_ms);
    *out = &s->base;
    return 0;
}
