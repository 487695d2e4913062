/* kit_http: the services' HTTP server on libwebsockets (see kit_http.h). Every request runs
 * through one path: method, route, the service's credential check, the Content-Length limit
 * (all before any body byte is read), the body up to its limit, the handler, one answer.
 * Thread: the service thread owns every connection; kit_http_wake is for any thread. */
#include "kit_http.h"
#include "kit_listen.h"

#include "sl_common.h"
#include "sl_log.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIT_HTTP_RX_BUF_DEFAULT 4096
#define KIT_HTTP_HDR_BYTES 512 /* status line and our headers */
#define KIT_HTTP_ALIGN(n) (((n) + 15) & ~(size_t)15)

struct kit_http_req {
    kit_http_t *http;
    struct lws *wsi;
    unsigned method;
    char path[KIT_HTTP_PATH_BUF];
    char auth[KIT_HTTP_AUTH_BUF];
    bool auth_too_long;
    const kit_http_route_t *route; /* NULL: none matched */
    char *body;
    size_t body_len, body_cap;
    bool dispatched; /* the handler ran: on_done is owed */
    bool answered, too_big, close_after;
    int status; /* 0 until an answer waits to be written */
    const char *ctype;
    char *resp;
    size_t resp_len;
};

struct kit_http {
    kit_http_cfg_t cfg;
    kit_http_route_t routes[KIT_HTTP_ROUTES_MAX];
    int nroutes;
    unsigned methods;
    size_t req_off, ws_off; /* of the service's data in the per-session data */
    struct lws_protocols protocols[KIT_HTTP_WS_PROTOCOLS_MAX + 2];
    struct lws_context *ctx;
    lws_sorted_usec_list_t stop_sul;
    pthread_t th;
    int port;
    atomic_bool stop;
};

static const struct {
    unsigned bit;
    enum lws_token_indexes tok;
    const char *name;
} kit_http__methods[] = {{KIT_HTTP_GET, WSI_TOKEN_GET_URI, "GET"},
                         {KIT_HTTP_POST, WSI_TOKEN_POST_URI, "POST"},
                         {KIT_HTTP_DELETE, WSI_TOKEN_DELETE_URI, "DELETE"}};

/* ---- answers ---- */

void kit_http_reply(kit_http_req_t *req, int status, const char *ctype, char *body)
{
    free(req->resp);
    req->answered = true;
    req->status = status;
    req->ctype = ctype;
    req->resp = body;
    req->resp_len = strlen(body);
    lws_callback_on_writable(req->wsi);
}

char *kit_http_json_text(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        return NULL;
    }
    size_t len = strlen(text);
    text = sl_xrealloc(text, len + 2);
    memcpy(text + len, "\n", 2);
    return text;
}

void kit_http_json(kit_http_req_t *req, int status, json_t *o)
{
    char *text = kit_http_json_text(o);
    if (!text) { /* only a caller's bug gets here: say so rather than crash */
        SL_LOGE(req->http->cfg.name, "%s %s: cannot encode the answer",
                kit_http_req_method(req), req->path);
        kit_http_reply(req, 500, "application/json", sl_xstrdup("{}\n"));
        return;
    }
    kit_http_reply(req, status, "application/json", text);
}

void kit_http_error(kit_http_req_t *req, int status, const char *field, const char *fmt, ...)
{
    char msg[KIT_HTTP_MSG_BYTES_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *m = json_string(msg);
    for (size_t i = 0; !m && msg[i]; i++) { /* a client's bytes that are not UTF-8 */
        msg[i] = (unsigned char)msg[i] >= 0x80 ? '?' : msg[i];
    }
    m = m ? m : json_string(msg);
    json_t *o = req->http->cfg.errors == KIT_HTTP_ERRORS_CODE_MESSAGE
                    ? json_pack("{s:i, s:o}", "error_code", status, "message", m)
                    : json_pack("{s:o}", "error", m);
    json_t *f = field ? json_string(field) : NULL;
    if (f) {
        json_object_set_new(o, "field", f);
    }
    if (status >= 500) {
        SL_LOGW(req->http->cfg.name, "%s %s: %d %s", kit_http_req_method(req), req->path, status,
                msg);
    }
    kit_http_json(req, status, o);
}

int kit_http_file(kit_http_req_t *req, const char *file, const char *ctype)
{
    req->answered = true;
    return lws_serve_http_file(req->wsi, file, ctype, NULL, 0) < 0 ? -1 : 0;
}

bool kit_http_bearer_ok(kit_http_req_t *req, const kit_tokens_t *tokens)
{
    if (tokens->n == 0) {
        return true;
    }
    if (strncmp(req->auth, "Bearer ", 7) != 0 || !req->auth[7]) {
        kit_http_error(req, 401, NULL, "a bearer token is required");
        return false;
    }
    if (!kit_tokens_match(tokens, req->auth + 7, strlen(req->auth + 7))) {
        kit_http_error(req, 403, NULL, "the bearer token is not allowed here");
        return false;
    }
    return true;
}

static int kit_http__write(kit_http_t *http, kit_http_req_t *req)
{
    uint8_t hdr[LWS_PRE + KIT_HTTP_HDR_BYTES], *start = hdr + LWS_PRE, *p = start;
    uint8_t *end = hdr + sizeof hdr - 1;
    struct lws *wsi = req->wsi;
    const char *www = http->cfg.www_authenticate;
    if (lws_add_http_common_headers(wsi, (unsigned)req->status, req->ctype, req->resp_len, &p,
                                    end) ||
        (req->close_after &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p,
                                      end)) ||
        (req->status == 401 && www &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                      (const uint8_t *)www, (int)strlen(www), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    uint8_t *buf = sl_xmalloc(LWS_PRE + req->resp_len + 1);
    memcpy(buf + LWS_PRE, req->resp, req->resp_len);
    int n = lws_write(wsi, buf + LWS_PRE, req->resp_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    free(req->resp);
    req->resp = NULL;
    req->status = 0;
    if (n < 0 || req->close_after) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- requests ---- */

const char *kit_http_req_method(const kit_http_req_t *req)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(kit_http__methods); i++) {
        if (req->method == kit_http__methods[i].bit) {
            return kit_http__methods[i].name;
        }
    }
    return "OTHER";
}

const char *kit_http_req_path(const kit_http_req_t *req)
{
    return req->path;
}

const char *kit_http_req_body(const kit_http_req_t *req, size_t *len)
{
    *len = req->body_len;
    return req->body ? req->body : "";
}

const char *kit_http_req_auth(const kit_http_req_t *req, bool *too_long)
{
    if (too_long) {
        *too_long = req->auth_too_long;
    }
    return req->auth;
}

const char *kit_http_req_arg(kit_http_req_t *req, const char *name, char *buf, size_t len)
{
    return lws_get_urlarg_by_name(req->wsi, name, buf, (int)len);
}

void *kit_http_req_data(kit_http_req_t *req)
{
    return (uint8_t *)req + req->http->req_off;
}

/* The request's state goes: the service drops its references, the buffers are freed. */
static void kit_http__req_end(kit_http_t *http, kit_http_req_t *req)
{
    if (req->dispatched && http->cfg.on_done) {
        http->cfg.on_done(http->cfg.user, req);
    }
    req->dispatched = false;
    free(req->body);
    free(req->resp);
    req->body = req->resp = NULL;
    req->body_len = req->body_cap = 0;
    req->status = 0;
}

static bool kit_http__path_matches(const kit_http_route_t *route, const char *path)
{
    size_t n = strlen(route->path);
    if (!route->prefix || strncmp(path, route->path, n) != 0) {
        return strcmp(path, route->path) == 0;
    }
    return path[n] == '\0' || path[n] == '/' || (n > 0 && route->path[n - 1] == '/');
}

/* The first route matching path and method; *path_methods: methods of routes matching path. */
static const kit_http_route_t *kit_http__find(const kit_http_t *http, const kit_http_req_t *req,
                                              unsigned *path_methods)
{
    *path_methods = 0;
    for (int i = 0; i < http->nroutes; i++) {
        const kit_http_route_t *route = &http->routes[i];
        if (kit_http__path_matches(route, req->path)) {
            if (route->methods & req->method) {
                return route;
            }
            *path_methods |= route->methods;
        }
    }
    return NULL;
}

/* 405 naming the methods the path takes ("GET or POST"), or 404. */
static void kit_http__unrouted(kit_http_req_t *req, unsigned path_methods)
{
    const char *m = kit_http_req_method(req);
    if (!path_methods) {
        kit_http_error(req, 404, NULL, "no route %s %s", m, req->path);
        return;
    }
    char use[32] = "";
    for (size_t i = 0; i < SL_ARRAY_LEN(kit_http__methods); i++) {
        if (path_methods & kit_http__methods[i].bit) {
            size_t n = strlen(use);
            snprintf(use + n, sizeof use - n, "%s%s", n ? " or " : "", kit_http__methods[i].name);
        }
    }
    kit_http_error(req, 405, NULL, "%s %s: use %s", m, req->path, use);
}

static int kit_http__dispatch(kit_http_t *http, kit_http_req_t *req)
{
    if (req->answered || req->dispatched || !req->route) {
        return 0; /* a body-less POST: lws still reports its (empty) body's completion */
    }
    req->dispatched = true;
    return req->route->fn(http->cfg.user, req);
}

static void kit_http__read_head(kit_http_req_t *req, struct lws *wsi, const char *uri)
{
    snprintf(req->path, sizeof req->path, "%s", uri ? uri : "/");
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (total >= (int)sizeof req->auth ||
        (total > 0 && lws_hdr_copy(wsi, req->auth, sizeof req->auth,
                                   WSI_TOKEN_HTTP_AUTHORIZATION) < 0)) {
        req->auth[0] = '\0';
        req->auth_too_long = true;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(kit_http__methods) && !req->method; i++) {
        if (lws_hdr_total_length(wsi, kit_http__methods[i].tok) > 0) {
            req->method = kit_http__methods[i].bit;
        }
    }
}

/* For a POST: 0 when the body is awaited, 1 when there is none, -1 when it is over the limit
 * (*n: its declared length). */
static int kit_http__body_expected(kit_http_t *http, struct lws *wsi, long long *n)
{
    char cl[32] = "";
    *n = 0;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        *n = atoll(cl);
        if (*n < 0 || (unsigned long long)*n > http->cfg.body_bytes_max) {
            return -1;
        }
        return *n == 0;
    }
    return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ? 0 : 1;
}

static int kit_http__on_http(kit_http_t *http, kit_http_req_t *req, struct lws *wsi,
                             const char *uri)
{
    kit_http__req_end(http, req);
    memset(req, 0, sizeof *req);
    memset((uint8_t *)req + http->req_off, 0, http->cfg.req_data_bytes);
    req->http = http;
    req->wsi = wsi;
    kit_http__read_head(req, wsi, uri);
    if (!(req->method & http->methods)) {
        req->close_after = true;
        kit_http_error(req, 405, NULL, "method not allowed");
        return 0;
    }
    unsigned path_methods = 0;
    req->route = kit_http__find(http, req, &path_methods);
    long long n = 0;
    int body = req->method == KIT_HTTP_POST ? kit_http__body_expected(http, wsi, &n) : 1;
    if (http->cfg.allow && !http->cfg.allow(http->cfg.user, req, req->route)) {
        req->close_after = true; /* before any body is read */
        return 0;
    }
    if (!req->route) {
        req->close_after = body != 1; /* the body is not read */
        kit_http__unrouted(req, path_methods);
        return 0;
    }
    if (body < 0) {
        req->close_after = true;
        kit_http_error(req, 413, "body", "request body of %lld bytes; limit %zu", n,
                       http->cfg.body_bytes_max);
        return 0;
    }
    return body == 1 ? kit_http__dispatch(http, req) : 0;
}

static void kit_http__on_body(kit_http_t *http, kit_http_req_t *req, const void *in, size_t len)
{
    if (req->too_big || req->answered || len == 0) {
        return;
    }
    if (req->body_len + len > http->cfg.body_bytes_max) {
        req->too_big = true;
        return;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        req->body_cap = SL_MAX(req->body_cap * 2, req->body_len + len + 1);
        req->body = sl_xrealloc(req->body, req->body_cap);
    }
    memcpy(req->body + req->body_len, in, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static int kit_http__on_body_done(kit_http_t *http, kit_http_req_t *req)
{
    int rc = 0;
    if (req->too_big && !req->answered) {
        req->close_after = true;
        kit_http_error(req, 413, "body", "request body over %zu bytes",
                       http->cfg.body_bytes_max);
    } else {
        rc = kit_http__dispatch(http, req);
    }
    free(req->body); /* every handler is done with it */
    req->body = NULL;
    req->body_len = req->body_cap = 0;
    return rc;
}

/* ---- lws glue ---- */

static void kit_http__stop_now(lws_sorted_usec_list_t *sul)
{
    kit_http_t *http = lws_container_of(sul, kit_http_t, stop_sul);
    /* libuv's loop runs inside lws_service until the context is destroyed from within it:
     * this first destroy closes everything and lets lws_service return */
    lws_context_destroy(http->ctx);
}

static void kit_http__woken(kit_http_t *http)
{
    if (http->cfg.on_wake) {
        http->cfg.on_wake(http->cfg.user);
    }
    if (atomic_load(&http->stop) && http->cfg.libuv) {
        lws_sul_schedule(http->ctx, 0, &http->stop_sul, kit_http__stop_now, 1);
    }
}

static bool kit_http__ws_reason(enum lws_callback_reasons reason)
{
    return reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION ||
           reason == LWS_CALLBACK_ESTABLISHED || reason == LWS_CALLBACK_RECEIVE ||
           reason == LWS_CALLBACK_RECEIVE_PONG || reason == LWS_CALLBACK_SERVER_WRITEABLE ||
           reason == LWS_CALLBACK_CLOSED;
}

static int kit_http__cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    kit_http_t *http = ctx ? lws_context_user(ctx) : NULL;
    kit_http_req_t *req = user;
    if (!http) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return req ? kit_http__on_http(http, req, wsi, in) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        if (req) {
            kit_http__on_body(http, req, in, len);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return req ? kit_http__on_body_done(http, req) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return req && req->status ? kit_http__write(http, req) : 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (req) {
            kit_http__req_end(http, req);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        kit_http__woken(http);
        return 0;
    default:
        if (http->cfg.ws_cb && kit_http__ws_reason(reason)) {
            return http->cfg.ws_cb(http->cfg.user, wsi, (int)reason,
                                   req ? (uint8_t *)req + http->ws_off : NULL, in, len);
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void *kit_http__main(void *arg)
{
    kit_http_t *http = arg;
    while (!atomic_load(&http->stop)) {
        if (lws_service(http->ctx, 0) < 0) {
            break;
        }
    }
    return NULL;
}

/* libwebsockets' own lines (e.g. three "E: ERROR on binding fd" lines for a port in use) go to
 * our log at debug level: every failure they describe is reported once, in our words. */
static void kit_http__lws_log(int level, const char *line)
{
    (void)level;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    SL_LOGD("http", "libwebsockets: %.*s", (int)n, line);
}

/* Routes (health and metrics first), methods served and the protocol table. */
static int kit_http__tables(kit_http_t *http, char *err, size_t err_len)
{
    const kit_http_cfg_t *cfg = &http->cfg;
    int nws = 0;
    while (cfg->ws_protocols && cfg->ws_protocols[nws]) {
        nws++;
    }
    int n = cfg->nroutes + (cfg->health != NULL) + (cfg->metrics != NULL);
    if (n > KIT_HTTP_ROUTES_MAX || nws > KIT_HTTP_WS_PROTOCOLS_MAX) {
        snprintf(err, err_len, "http: %d routes and %d protocols; limits %d and %d", n, nws,
                 KIT_HTTP_ROUTES_MAX, KIT_HTTP_WS_PROTOCOLS_MAX);
        return SL_EINVAL;
    }
    return nws;
}

static int kit_http__health(void *user, kit_http_req_t *req);
static int kit_http__metrics(void *user, kit_http_req_t *req);

static void kit_http__build(kit_http_t *http, int nws)
{
    const kit_http_cfg_t *cfg = &http->cfg;
    if (cfg->health) {
        http->routes[http->nroutes++] = (kit_http_route_t){KIT_HTTP_GET, "/health", false,
                                                           kit_http__health};
    }
    if (cfg->metrics) {
        http->routes[http->nroutes++] = (kit_http_route_t){KIT_HTTP_GET, "/metrics", false,
                                                           kit_http__metrics};
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        http->routes[http->nroutes++] = cfg->routes[i];
    }
    http->methods = cfg->methods;
    for (int i = 0; i < http->nroutes && !cfg->methods; i++) {
        http->methods |= http->routes[i].methods;
    }
    http->req_off = KIT_HTTP_ALIGN(sizeof(kit_http_req_t));
    http->ws_off = http->req_off + KIT_HTTP_ALIGN(cfg->req_data_bytes);
    size_t pss = http->ws_off + cfg->ws_data_bytes;
    size_t rx = cfg->rx_buf_bytes ? cfg->rx_buf_bytes : KIT_HTTP_RX_BUF_DEFAULT;
    /* Every protocol shares the callback and the session layout, so a WebSocket client that
     * names no subprotocol is served too. */
    for (int i = 0; i <= nws; i++) {
        http->protocols[i] = (struct lws_protocols){i ? cfg->ws_protocols[i - 1] : "http",
                                                    kit_http__cb, pss, rx, 0, NULL, 0};
    }
}

int kit_http_start(const kit_http_cfg_t *cfg, kit_http_t **out, char *err, size_t err_len)
{
    char host[KIT_HOST_BYTES];
    int port = 0;
    if (kit_listen_parse(cfg->listen, host, &port, err, err_len) != 0) {
        return SL_EINVAL;
    }
    kit_http_t *http = sl_xcalloc(1, sizeof *http);
    http->cfg = *cfg;
    int nws = kit_http__tables(http, err, err_len);
    if (nws < 0) {
        free(http);
        return SL_EINVAL;
    }
    kit_http__build(http, nws);
    lws_set_log_level(LLL_ERR | LLL_WARN, kit_http__lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = host;
    info.protocols = http->protocols;
    info.user = http;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | (cfg->libuv ? LWS_SERVER_OPTION_LIBUV : 0);
    info.vhost_name = cfg->name;
    /* no fd_limit_per_thread: with it lws looks connections up by a linear search; the
     * process fd limit (ulimit -n) bounds connections */
    info.pt_serv_buf_size = (unsigned)cfg->serv_buf_bytes;
    /* No lws validity (idle ping) timers: lws's default policy re-arms a per-connection timer
     * on every frame, a sorted insert into one list of every connection. */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
                                               .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = cfg->no_validity ? &no_validity : NULL;
    http->ctx = lws_create_context(&info);
    if (!http->ctx) {
        snprintf(err, err_len, "http: cannot listen on %s (in use or not a local address)",
                 cfg->listen);
        free(http);
        return SL_EINVAL;
    }
    http->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(http->ctx, cfg->name));
    if (cfg->on_start) {
        cfg->on_start(cfg->user, http);
    }
    if (pthread_create(&http->th, NULL, kit_http__main, http) != 0) {
        lws_context_destroy(http->ctx);
        free(http);
        snprintf(err, err_len, "http: cannot start its thread");
        return SL_ENOMEM;
    }
    *out = http;
    return 0;
}

int kit_http_port(const kit_http_t *http)
{
    return http->port;
}

void kit_http_wake(kit_http_t *http)
{
    lws_cancel_service(http->ctx);
}

struct lws_context *kit_http_context(kit_http_t *http)
{
    return http->ctx;
}

void kit_http_stop(kit_http_t *http)
{
    if (!http) {
        return;
    }
    atomic_store(&http->stop, true);
    lws_cancel_service(http->ctx);
    pthread_join(http->th, NULL);
    lws_context_destroy(http->ctx); /* for libuv the second, final destroy */
    free(http);
}

/* ---- /health and /metrics ---- */

static int kit_http__health(void *user, kit_http_req_t *req)
{
    int status = 200;
    char *text = req->http->cfg.health(user, &status);
    kit_http_reply(req, text ? status : 500, "application/json", text ? text : sl_xstrdup("{}\n"));
    return 0;
}

static int kit_http__metrics(void *user, kit_http_req_t *req)
{
    kit_http_reply(req, 200, "text/plain; version=0.0.4", req->http->cfg.metrics(user));
    return 0;
}
