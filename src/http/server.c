/*
 * server.c - the HTTP server's life: h2o on the caller's libuv loop, the listener, connections,
 * backend call handles, responses, and an orderly close.
 *
 * Design: h2o (libh2o, built with libuv) parses HTTP and writes responses; this file accepts
 * connections itself (so it knows every one of them) and hands each to h2o. One catch-all
 * handler passes every request to routes.c. A request that needs the backend gets a call handle
 * (struct rt_http_call) that we allocate ourselves: a small object in the request's memory pool
 * tells the call when h2o frees the request (the client went away), so a late completion is
 * dropped instead of touching freed memory.
 *
 * Closing: stop listening, refuse keep-alive, shut every connection's socket down (a request
 * waiting on the backend then fails to write and its connection closes), wait for every
 * connection to close and every backend call to complete, then tear h2o's context down. h2o's
 * own h2o_context_dispose runs uv_run() to reap the handles it closes, which must not happen
 * inside a loop callback; we do its steps here instead and wait for the handles with two
 * sentinel timers: the first closes in the same batch as h2o's handles, and its close callback
 * closes the second, whose close callback runs after that whole batch is done.
 */
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/log.h"

#define DEFAULT_SESSIONS 256
#define SESSION_IDLE_MS (60LL * 60 * 1000)
#define SESSION_MAX_AGE_MS (12LL * 60 * 60 * 1000)
#define RL_ENTRIES 1024
#define RL_WINDOW_MS (15LL * 60 * 1000)

struct rt_http_conn {
    uv_tcp_t tcp; /* first: h2o gives our close callback the handle */
    struct rt_http_server *s;
    struct rt_http_conn *prev, *next;
};

/* Lives in the request's pool: h2o calls dispose when it frees the request. */
struct call_link {
    struct rt_http_call *call;
};

struct handler {
    h2o_handler_t super;
    struct rt_http_server *s;
};

static void maybe_finish(struct rt_http_server *s);

/* ---- responses ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

void rt__http_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base,
                          v.len);
}

void rt__http_respond(struct rt_http_server *s,
                      h2o_req_t *req,
                      const char *route,
                      int status,
                      const char *content_type,
                      const void *body,
                      size_t len)
{
    req->res.status = status;
    req->res.reason = reason(status);
    if (content_type && status != 204)
        rt__http_header(req, "Content-Type", content_type);
    rt__http_header(req, "X-Content-Type-Options", "nosniff");
    rt__http_header(req, "X-Frame-Options", "DENY");
    rt__http_header(req, "Content-Security-Policy",
                    "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
    rt__http_header(req, "Referrer-Policy", "same-origin");
    if (h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("cache-control"), -1) < 0)
        rt__http_header(req, "Cache-Control", "no-store");
    rt__http_metrics_count(&s->metrics, route, status);
    if (status == 204)
        len = 0;
    req->res.content_length = len;
    h2o_send_inline(req, len ? body : "", len);
}

void rt__http_respond_error(
    struct rt_http_server *s, h2o_req_t *req, const char *route, int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "error", message))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text)
        rt__http_respond(s, req, route, status, "application/json", text, strlen(text));
    else
        rt__http_respond(s, req, route, status, "application/json", "{}", 2);
    cJSON_free(text);
}

struct rt_str rt__http_req_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return (struct rt_str){"", 0};
    return (struct rt_str){req->headers.entries[i].value.base, req->headers.entries[i].value.len};
}

void rt__http_peer(h2o_req_t *req, char *out, size_t size)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    socklen_t n = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (n == 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, size);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, size);
}

/* ---- call handles ---- */

static void link_dispose(void *p)
{
    struct call_link *l = p;
    if (l->call) {
        l->call->req = NULL;
        l->call->link = NULL;
    }
}

struct rt_http_call *rt__http_call_new(struct rt_http_server *s, h2o_req_t *req, const char *route)
{
    struct rt_http_call *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    struct call_link *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), link_dispose);
    l->call = c;
    c->s = s;
    c->req = req;
    c->link = l;
    c->route = route;
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    s->n_calls++;
    return c;
}

const char *rt__http_call_keep(struct rt_http_call *c, const char *str, size_t len)
{
    for (size_t i = 0; i < sizeof(c->owned) / sizeof(c->owned[0]); i++)
        if (!c->owned[i]) {
            c->owned[i] = rt_strndup(str, len);
            return c->owned[i];
        }
    return NULL;
}

void rt__http_call_free(struct rt_http_call *c)
{
    struct rt_http_server *s = c->s;
    if (c->link)
        c->link->call = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_calls--;
    for (size_t i = 0; i < sizeof(c->owned) / sizeof(c->owned[0]); i++)
        rt_free(c->owned[i]);
    rt_free(c->login_user);
    rt_free_secret_str(c->login_password);
    rt_free(c->login_hash);
    rt_free(c->login_addr);
    rt_free(c);
    maybe_finish(s);
}

void rt_http_call_done(
    struct rt_http_call *call, int status, const char *content_type, const void *body, size_t len)
{
    struct rt_http_server *s = call->s;
    if (call->req && call->metrics) {
        /* /metrics: our counters first, then the backend's text. */
        struct rt_buf b;
        rt_buf_init(&b, (size_t)16 << 20);
        int rc = rt__http_metrics_write(&s->metrics, &b);
        if (!rc && status == 200 && len)
            rc = rt_buf_append(&b, body, len);
        if (rc)
            rt__http_respond_error(s, call->req, call->route, 500, "out of memory");
        else
            rt__http_respond(s, call->req, call->route, 200, "text/plain; version=0.0.4", b.data,
                             b.len);
        rt_buf_cleanup(&b);
    } else if (call->req) {
        rt__http_respond(s, call->req, call->route, status,
                         content_type ? content_type : "application/json", body, len);
    }
    rt__http_call_free(call);
}

void rt_http_call_json(struct rt_http_call *call, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        rt_http_call_error(call, 500, "out of memory");
        return;
    }
    rt_http_call_done(call, status, "application/json", text, strlen(text));
    cJSON_free(text);
}

void rt_http_call_error(struct rt_http_call *call, int status, const char *message)
{
    if (call->req && !call->metrics) {
        rt__http_respond_error(call->s, call->req, call->route, status, message);
        rt__http_call_free(call);
        return;
    }
    rt_http_call_done(call, status, NULL, NULL, 0); /* /metrics: the counters alone */
}

/* ---- connections ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct handler *h = (struct handler *)self;
    rt__http_route(h->s, req);
    return 0;
}

static void conn_closed(uv_handle_t *handle)
{
    struct rt_http_conn *c = (struct rt_http_conn *)handle;
    struct rt_http_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    rt_free(c);
    maybe_finish(s);
}

static void plain_close(uv_handle_t *handle)
{
    rt_free(handle);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct rt_http_server *s = listener->data;
    if (status < 0 || s->closing)
        return;
    struct rt_http_conn *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        rt_free(c);
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, plain_close);
        return;
    }
    c->s = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed);
    h2o_accept(&s->accept, sock);
}

int rt__http_server_adopt(struct rt_http_server *s, int fd)
{
    struct rt_http_conn *c = rt_calloc(1, sizeof(*c));
    if (!c)
        return RT_ENOMEM;
    int rc = uv_tcp_init(s->loop, &c->tcp);
    if (rc) {
        rt_free(c);
        return rc;
    }
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc) {
        uv_close((uv_handle_t *)&c->tcp, plain_close);
        return rc;
    }
    c->s = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    h2o_accept(&s->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed));
    return 0;
}

/* ---- start ---- */

static int resolve(uv_loop_t *loop, const char *host, int port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    /* A name: resolved once at start (uv_getaddrinfo without a callback runs at once). */
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints);
    if (rc)
        return rc;
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static void free_server(struct rt_http_server *s)
{
    rt__http_sessions_cleanup(&s->sessions);
    rt__http_rl_cleanup(&s->fails);
    rt__http_metrics_cleanup(&s->metrics);
    rt_free(s);
}

static void failed_listener_closed(uv_handle_t *h)
{
    free_server(h->data);
}

int rt_http_server_new(uv_loop_t *loop,
                       const struct rt_config *cfg,
                       const struct rt_http_backend *backend,
                       struct rt_http_server **out,
                       struct rt_error *err)
{
    *out = NULL;
    struct rt_http_server *s = rt_calloc(1, sizeof(*s));
    if (!s)
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    s->loop = loop;
    s->cfg = cfg;
    s->backend = *backend;
    s->limits = (struct rt_http_limits){.max_body_bytes = 64 * 1024,
                                        .max_json_bytes = 8 * 1024,
                                        .max_verifying = 2,
                                        .max_login_waiting = 32};
    if (rt__http_sessions_init(&s->sessions, DEFAULT_SESSIONS, SESSION_IDLE_MS,
                               SESSION_MAX_AGE_MS) ||
        rt__http_rl_init(&s->fails, RL_ENTRIES, RT_HTTP_RL_MAX_FAILS, RL_WINDOW_MS)) {
        free_server(s);
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    }
    /* An unknown user's sign-in verifies this instead (the password "x" with a fixed salt, at
     * the costs of rt_password_hash), so it takes as long as a known user's; it never signs in. */
    rt_strlcpy(s->dummy_hash,
               "$argon2id$v=19$m=65536,t=3,p=1$cmV0cmFpbmQtZHVtbXktcw$"
               "dSFEyIp5IqMictjQwvkrjeJ0qqhjBj84/RgmDImVdpU",
               sizeof(s->dummy_hash));

    struct sockaddr_storage addr;
    int rc = resolve(loop, cfg->http.listen_host, cfg->http.listen_port, &addr);
    if (rc) {
        free_server(s);
        return rt_error_set(err, rc, "http.listen: cannot resolve %s: %s", cfg->http.listen_host,
                            uv_strerror(rc));
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = true;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&s->listener, 128, on_accept);
    if (rc) {
        rt_error_set(err, rc, "http.listen: cannot listen on %s:%d: %s", cfg->http.listen_host,
                     cfg->http.listen_port, uv_strerror(rc));
        /* Nothing else was started: the handle closes and s goes on a later turn. */
        uv_close((uv_handle_t *)&s->listener, failed_listener_closed);
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    char ip[64] = "";
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof(ip));
        s->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        rt_snprintf(s->address, sizeof(s->address), "[%s]:%d", ip, s->port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof(ip));
        s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        rt_snprintf(s->address, sizeof(s->address), "%s:%d", ip, s->port);
    }

    h2o_config_init(&s->h2o_cfg);
    s->h2o_cfg.server_name = h2o_iovec_init(H2O_STRLIT("retraind"));
    s->h2o_cfg.max_request_entity_size = s->limits.max_body_bytes;
    s->h2o_cfg.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->h2o_cfg, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct handler *h = (struct handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->s = s;
    h2o_context_init(&s->ctx, loop, &s->h2o_cfg);
    s->ctx_ready = true;
    s->accept.ctx = &s->ctx;
    s->accept.hosts = s->h2o_cfg.hosts;
    RT_LOG(RT_LOG_INFO, "http", "event=listening address=%s", s->address);
    *out = s;
    return 0;
}

int rt_http_server_port(const struct rt_http_server *s)
{
    return s->port;
}

const char *rt_http_server_address(const struct rt_http_server *s)
{
    return s->address;
}

/* ---- close ---- */

static void sentinel2_closed(uv_handle_t *h)
{
    struct rt_http_server *s = h->data;
    void (*cb)(void *) = s->close_cb;
    void *ud = s->close_ud;
    if (s->ctx_ready)
        h2o_config_dispose(&s->h2o_cfg);
    free_server(s);
    if (cb)
        cb(ud);
}

static void sentinel1_closed(uv_handle_t *h)
{
    struct rt_http_server *s = h->data;
    uv_close((uv_handle_t *)&s->sentinel[1], sentinel2_closed);
}

/* h2o_context_dispose without its nested uv_run (see the file comment). */
static void dispose_context(h2o_context_t *ctx)
{
    h2o_globalconf_t *config = ctx->globalconf;
    for (size_t i = 0; config->hosts[i]; i++) {
        h2o_hostconf_t *hostconf = config->hosts[i];
        for (size_t j = 0; j != hostconf->paths.size; j++)
            h2o_context_dispose_pathconf_context(ctx, hostconf->paths.entries + j);
        h2o_context_dispose_pathconf_context(ctx, &hostconf->fallback_path);
    }
    free(ctx->_pathconfs_inited.entries);
    free(ctx->_module_configs);
    h2o_timeout_dispose(ctx->loop, &ctx->zero_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->one_sec_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->hundred_ms_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->handshake_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http1.req_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http2.idle_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http2.graceful_shutdown_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->proxy.io_timeout);
    h2o_filecache_destroy(ctx->filecache);
    ctx->filecache = NULL;
    for (size_t i = 0; i != ctx->storage.size; i++)
        if (ctx->storage.entries[i].dispose)
            ctx->storage.entries[i].dispose(ctx->storage.entries[i].data);
    free(ctx->storage.entries);
    h2o_multithread_unregister_receiver(ctx->queue, &ctx->receivers.hostinfo_getaddr);
    h2o_multithread_destroy_queue(ctx->queue);
    if (ctx->_timestamp_cache.value)
        h2o_mem_release_shared(ctx->_timestamp_cache.value);
}

static void listener_closed(uv_handle_t *h)
{
    struct rt_http_server *s = h->data;
    s->listener_open = false;
    maybe_finish(s);
}

static void maybe_finish(struct rt_http_server *s)
{
    if (!s->closing || s->freeing || s->listener_open || s->n_conns > 0 || s->n_calls > 0)
        return;
    s->freeing = true;
    if (s->ctx_ready)
        dispose_context(&s->ctx);
    uv_timer_init(s->loop, &s->sentinel[0]);
    uv_timer_init(s->loop, &s->sentinel[1]);
    s->sentinel[0].data = s->sentinel[1].data = s;
    uv_close((uv_handle_t *)&s->sentinel[0], sentinel1_closed);
}

void rt_http_server_close(struct rt_http_server *s, void (*cb)(void *ud), void *ud)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    RT_LOG(RT_LOG_INFO, "http", "event=closing address=%s connections=%d calls=%d", s->address,
           s->n_conns, s->n_calls);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    rt__http_login_drain(s);
    s->ctx.shutdown_requested = 1;
    for (struct rt_http_conn *c = s->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
}

int rt__http_server_busy(const struct rt_http_server *s)
{
    return s->n_conns + s->n_calls;
}
