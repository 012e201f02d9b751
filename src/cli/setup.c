/*
 * setup.c - the private loop and the waiting calls of `retraind bootstrap` and `doctor`
 * (setup.h).
 */
#include "setup.h"

#include <stdio.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/credentials.h"
#include "retraind/store.h"

int rt_setup_init(struct rt_setup *s, const struct rt_config *cfg)
{
    memset(s, 0, sizeof(*s));
    int rc = uv_loop_init(&s->loop);
    if (rc)
        return rc;
    s->cfg = cfg;
    s->env = (struct rt_driver_env){.loop = &s->loop, .cfg = cfg};
    return 0;
}

static void nothing(void *ud)
{
    (void)ud;
}

void rt_setup_finish(struct rt_setup *s)
{
    if (s->store)
        s->store->ops->close(s->store, nothing, NULL);
    s->store = NULL;
    rt_driver_env_close(&s->env, nothing, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->loop) != 0)
        fprintf(stderr, "retraind: internal error: a driver left the loop open\n");
}

/* Runs the loop until *done. */
static void wait_for(struct rt_setup *s, const bool *done)
{
    while (!*done && uv_run(&s->loop, UV_RUN_ONCE))
        ;
}

int rt_setup_aws(struct rt_setup *s, struct rt_error *err)
{
    return rt_driver_env_aws(&s->env, err);
}

/* ---- credentials ---- */

struct creds_wait {
    bool done;
    int status;
    struct rt_error err;
    char source[32];
    char tail[8];
    bool token;
    int64_t exp;
};

static void
creds_got(int status, const struct rt_credentials *c, const struct rt_error *err, void *ud)
{
    struct creds_wait *w = ud;
    w->done = true;
    w->status = status;
    if (status) {
        if (err)
            w->err = *err;
        return;
    }
    rt_strlcpy(w->source, c->source, sizeof(w->source));
    size_t n = strlen(c->access_key);
    rt_strlcpy(w->tail, c->access_key + (n > 4 ? n - 4 : n), sizeof(w->tail));
    w->token = c->session_token && c->session_token[0];
    w->exp = c->expiration_ms;
}

int rt_setup_credentials(struct rt_setup *s,
                         char *source,
                         size_t source_size,
                         char key_tail[8],
                         bool *has_token,
                         int64_t *expiration_ms,
                         struct rt_error *err)
{
    int rc = rt_setup_aws(s, err);
    if (rc)
        return rc;
    struct creds_wait w = {0};
    rc = rt_credentials_provider_get(s->env.creds, creds_got, &w, err);
    if (rc)
        return rc;
    wait_for(s, &w.done);
    if (w.status) {
        if (err)
            *err = w.err;
        return w.status;
    }
    rt_strlcpy(source, w.source, source_size);
    rt_strlcpy(key_tail, w.tail, 8);
    *has_token = w.token;
    *expiration_ms = w.exp;
    return 0;
}

/* ---- AWS calls ---- */

struct call_wait {
    bool done;
    struct rt_setup_reply *r;
};

static void call_done(int status, struct rt_httpc_resp *resp, const struct rt_error *err, void *ud)
{
    struct call_wait *w = ud;
    struct rt_setup_reply *r = w->r;
    w->done = true;
    r->status = status;
    r->recv_ms = rt_now_ms();
    if (status && err)
        r->err = *err;
    if (resp) {
        r->http_status = resp->status;
        r->date_ms = resp->date_ms;
        if (resp->body.len)
            rt_buf_append(&r->body, resp->body.data, resp->body.len);
    }
}

int rt_setup_call(struct rt_setup *s,
                  const struct rt_aws_op *op,
                  const struct rt_aws_params *p,
                  struct rt_setup_reply *r)
{
    memset(r, 0, sizeof(*r));
    rt_buf_init(&r->body, 16u << 20);
    rt_error_clear(&r->err);
    int rc = rt_setup_aws(s, &r->err);
    if (rc)
        return r->status = rc;
    struct call_wait w = {.r = r};
    r->sent_ms = rt_now_ms();
    rc = rt_aws_call(s->env.aws, op, p, call_done, &w, &r->err);
    if (rc)
        return r->status = rc;
    wait_for(s, &w.done);
    return r->status;
}

int rt_setup_json(struct rt_setup *s,
                  const struct rt_aws_op *op,
                  cJSON *body,
                  cJSON **out,
                  struct rt_setup_reply *r)
{
    if (out)
        *out = NULL;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (body && !text) {
        memset(r, 0, sizeof(*r));
        rt_buf_init(&r->body, 0);
        return r->status = rt_error_set(&r->err, RT_ENOMEM, "out of memory");
    }
    struct rt_aws_params p = {.body = text, .body_len = text ? strlen(text) : 0};
    int rc = rt_setup_call(s, op, &p, r);
    cJSON_free(text);
    if (!rc && out && r->body.len)
        *out = cJSON_ParseWithLength(r->body.data, r->body.len);
    return rc;
}

void rt_setup_reply_cleanup(struct rt_setup_reply *r)
{
    rt_buf_cleanup(&r->body);
}

bool rt_setup_failed_with(const struct rt_setup_reply *r, const char *code)
{
    return r->status && strcmp(r->err.aws_code, code) == 0;
}

const char *rt_setup_why(const struct rt_setup_reply *r, char *out, size_t size)
{
    return rt_error_format(&r->err, out, size);
}

/* ---- the store ---- */

int rt_setup_store(struct rt_setup *s, bool read_only, struct rt_error *err)
{
    if (s->store)
        return 0;
    s->env.read_only = read_only;
    return rt_registry_new_store(&s->env, &s->store, err);
}

struct list_wait {
    bool done;
    int status;
    struct rt_error err;
    size_t max; /* 0: every key, through fn */
    char **keys;
    size_t n;
    int (*fn)(const char *key, void *ud);
    void *ud;
};

static int list_page(const struct rt_store_entry *entries,
                     size_t n,
                     bool last,
                     int status,
                     const struct rt_error *err,
                     void *ud)
{
    struct list_wait *w = ud;
    bool stop = false;
    for (size_t i = 0; i < n && !stop; i++) {
        if (w->fn) {
            stop = w->fn(entries[i].key, w->ud) != 0;
        } else if (w->n < w->max) {
            char *k = rt_strdup(entries[i].key);
            if (!k) {
                w->status = rt_error_set(&w->err, RT_ENOMEM, "out of memory");
                stop = true;
                break;
            }
            w->keys[w->n++] = k;
            stop = w->n >= w->max;
        }
    }
    if (status && !w->status) {
        w->status = status;
        if (err)
            w->err = *err;
    }
    if (last || stop)
        w->done = true;
    return stop ? 1 : 0;
}

static int
list_run(struct rt_setup *s, const char *prefix, struct list_wait *w, struct rt_error *err)
{
    rt_error_clear(&w->err);
    size_t page = w->fn ? 1000 : (w->max < 1000 ? w->max : 1000);
    int rc = s->store->ops->list(s->store, prefix, page ? page : 1, RT_STORE_LIST_KEYS_ONLY,
                                 list_page, w);
    if (rc)
        return rt_error_set(err, rc, "listing %s: %s", prefix, rt_strerror(rc));
    wait_for(s, &w->done);
    if (w->status) {
        if (err)
            *err = w->err;
        if (err && !err->code)
            rt_error_set(err, w->status, "listing %s: %s", prefix, rt_strerror(w->status));
    }
    return w->status;
}

int rt_setup_store_list(struct rt_setup *s,
                        const char *prefix,
                        size_t max,
                        char **keys,
                        size_t *n,
                        struct rt_error *err)
{
    struct list_wait w = {.max = max, .keys = keys};
    *n = 0;
    if (max == 0)
        return 0;
    int rc = list_run(s, prefix, &w, err);
    *n = w.n;
    return rc;
}

int rt_setup_store_each(struct rt_setup *s,
                        const char *prefix,
                        int (*fn)(const char *key, void *ud),
                        void *ud,
                        struct rt_error *err)
{
    struct list_wait w = {.fn = fn, .ud = ud};
    return list_run(s, prefix, &w, err);
}

struct op_wait {
    bool done;
    int status;
    struct rt_error err;
};

static void op_done(int status, const struct rt_error *err, void *ud)
{
    struct op_wait *w = ud;
    w->done = true;
    w->status = status;
    if (status && err)
        w->err = *err;
}

static int op_finish(
    struct rt_setup *s, struct op_wait *w, const char *what, const char *key, struct rt_error *err)
{
    wait_for(s, &w->done);
    if (!w->status)
        return 0;
    if (err) {
        *err = w->err;
        if (!err->code)
            rt_error_set(err, w->status, "%s %s: %s", what, key, rt_strerror(w->status));
    }
    return w->status;
}

int rt_setup_store_get(struct rt_setup *s,
                       const char *key,
                       struct rt_buf *body,
                       struct rt_error *err)
{
    struct op_wait w = {0};
    int rc = s->store->ops->get(s->store, key, body, op_done, &w);
    if (rc)
        return rt_error_set(err, rc, "reading %s: %s", key, rt_strerror(rc));
    return op_finish(s, &w, "reading", key, err);
}

int rt_setup_store_put(
    struct rt_setup *s, const char *key, const void *data, size_t len, struct rt_error *err)
{
    struct op_wait w = {0};
    int rc = s->store->ops->put(s->store, key, data, len, "text/plain", op_done, &w);
    if (rc)
        return rt_error_set(err, rc, "writing %s: %s", key, rt_strerror(rc));
    return op_finish(s, &w, "writing", key, err);
}

int rt_setup_store_del(struct rt_setup *s, const char *key, struct rt_error *err)
{
    struct op_wait w = {0};
    int rc = s->store->ops->del(s->store, key, op_done, &w);
    if (rc)
        return rt_error_set(err, rc, "deleting %s: %s", key, rt_strerror(rc));
    return op_finish(s, &w, "deleting", key, err);
}
