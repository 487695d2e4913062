/* kit_http: the HTTP server of the services (jobs, join, gateway), on libwebsockets with one
 * service thread. A table of routes (methods + exact path or path prefix -> handler), request
 * bodies up to a limit (413 before reading when Content-Length says more), JSON and error
 * replies in one shape per server, GET /health and GET /metrics from service callbacks, bearer
 * token checks (kit_auth), start and a clean stop. The gateway also serves WebSocket
 * subprotocols on the same port through ws_cb. Rules and answers:
 * docs/architecture.md, "The services' HTTP server". */
#ifndef KIT_HTTP_H
#define KIT_HTTP_H

#include "kit_auth.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define KIT_HTTP_PATH_BUF 1024     /* request path (without the query); longer ones are cut */
#define KIT_HTTP_AUTH_BUF 1024     /* Authorization header; a longer one counts as too long */
#define KIT_HTTP_ROUTES_MAX 64     /* routes of one server, /health and /metrics included */
#define KIT_HTTP_WS_PROTOCOLS_MAX 8 /* WebSocket subprotocols beside "http" */
#define KIT_HTTP_MSG_BYTES_MAX 511 /* error message; a longer one is cut */

typedef struct kit_http kit_http_t;
typedef struct kit_http_req kit_http_req_t;
struct lws;
struct lws_context;

/* Methods, as a mask in routes; any other method is answered 405 and the connection closed. */
enum { KIT_HTTP_GET = 1u, KIT_HTTP_POST = 2u, KIT_HTTP_DELETE = 4u };

/* A route handler. Answers now (kit_http_reply/json/error/file) or later from the service
 * thread (on_wake). Returns 0, or -1 to close the connection. Thread: service. */
typedef int (*kit_http_fn)(void *user, kit_http_req_t *req);

typedef struct {
    unsigned methods; /* KIT_HTTP_GET | ... */
    const char *path; /* exact path; with prefix also path/... (or path... when it ends in /) */
    bool prefix;
    kit_http_fn fn;
} kit_http_route_t;

/* Error bodies: {"error": msg, "field": f} or (Confluent REST Proxy) {"error_code": status,
 * "message": msg, "field": f}; "field" only when the error names one. */
typedef enum { KIT_HTTP_ERRORS_ERROR, KIT_HTTP_ERRORS_CODE_MESSAGE } kit_http_errors_t;

typedef struct {
    const char *name;   /* vhost name and log tag: "jobs" */
    const char *listen; /* "HOST:PORT" (kit_listen_parse), the `http.listen` setting */
    const kit_http_route_t *routes; /* tried in order; the first whose path and method match
                                     * (copied at start; the path strings must outlive it) */
    int nroutes;
    unsigned methods;   /* methods served (0: those of the routes); others: 405 and close */
    void *user;         /* passed to every callback */
    size_t body_bytes_max; /* POST body limit: 413 and close past it */
    kit_http_errors_t errors;
    const char *www_authenticate; /* WWW-Authenticate of every 401 (NULL: none) */
    size_t rx_buf_bytes;   /* lws rx buffer of the "http" protocol (0: 4096) */
    size_t serv_buf_bytes; /* lws pt_serv_buf_size (0: lws's default) */
    /* GET /health: JSON text (malloc'ed) and *status; GET /metrics: Prometheus text
     * (malloc'ed, sl_prom.h). NULL: no such route. */
    char *(*health)(void *user, int *status);
    char *(*metrics)(void *user);
    /* Called once the request line and headers are read, before any body, for every request
     * of a served method (route NULL when none matches): false when it answered (401/403). */
    bool (*allow)(void *user, kit_http_req_t *req, const kit_http_route_t *route);
    void (*on_wake)(void *user); /* on the service thread after kit_http_wake */
    /* The request's state goes away (next request on the connection, or the connection
     * closed): drop references to req. Only for requests that reached a handler. */
    void (*on_done)(void *user, kit_http_req_t *req);
    size_t req_data_bytes; /* per-request data of the service, zeroed for each request */
    /* WebSocket on the same port: subprotocol names (NULL-terminated), per-connection data
     * (zeroed, never touched by kit_http) and the callback for every lws reason that is not
     * an HTTP one (it returns what an lws callback returns). libuv: run lws on libuv (epoll);
     * no_validity: no lws idle-ping timers. */
    const char *const *ws_protocols;
    size_t ws_data_bytes;
    int (*ws_cb)(void *user, struct lws *wsi, int reason, void *ws_data, void *in, size_t len);
    bool libuv, no_validity;
    /* Called after the context exists and before the service thread starts (for timers). */
    void (*on_start)(void *user, kit_http_t *http);
} kit_http_cfg_t;

/* Listens on cfg->listen and starts the service thread. cfg is copied; its strings and
 * protocol names must outlive the server. SL_EINVAL with "http: cannot listen on ..." or the
 * http.listen error in err; SL_ENOMEM when the thread cannot start. */
int kit_http_start(const kit_http_cfg_t *cfg, kit_http_t **out, char *err, size_t err_len);
/* The port listened on (the system's pick for port 0). */
int kit_http_port(const kit_http_t *http);
/* Wakes the service thread, which calls on_wake. Thread: any. */
void kit_http_wake(kit_http_t *http);
/* The lws context, for the WebSocket side (timers, writes). */
struct lws_context *kit_http_context(kit_http_t *http);
/* Closes every connection, joins the service thread and frees http (NULL: nothing). The
 * caller has answered or abandoned what on_wake would still answer. Thread: not service. */
void kit_http_stop(kit_http_t *http);

/* ---- one request (Thread: service) ---- */

const char *kit_http_req_method(const kit_http_req_t *req); /* "GET", "POST", "DELETE" */
const char *kit_http_req_path(const kit_http_req_t *req);
/* The body (NUL-terminated; "" when none) and its length; valid inside the handler only. */
const char *kit_http_req_body(const kit_http_req_t *req, size_t *len);
/* The Authorization header ("" when missing or longer than KIT_HTTP_AUTH_BUF - 1 bytes;
 * *too_long tells which, when not NULL). */
const char *kit_http_req_auth(const kit_http_req_t *req, bool *too_long);
/* The query argument name ("state=": with its '='), URL-decoded into buf; NULL when absent. */
const char *kit_http_req_arg(kit_http_req_t *req, const char *name, char *buf, size_t len);
/* The service's cfg->req_data_bytes for this request. */
void *kit_http_req_data(kit_http_req_t *req);

/* Answers with body (takes ownership; NUL-terminated text) and content type ctype (static). */
void kit_http_reply(kit_http_req_t *req, int status, const char *ctype, char *body);
/* o (takes the reference) as compact JSON and a newline, malloc'ed; NULL when o is NULL or
 * cannot be encoded. */
char *kit_http_json_text(json_t *o);
/* Answers with o (takes the reference) as compact JSON and a newline. */
void kit_http_json(kit_http_req_t *req, int status, json_t *o);
/* Answers with the server's error shape; field may be NULL. Logs statuses >= 500 once. */
void kit_http_error(kit_http_req_t *req, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Serves a file; returns what the handler returns. */
int kit_http_file(kit_http_req_t *req, const char *file, const char *ctype);
/* Bearer check against tokens: true when tokens has none or the request bears one of them;
 * else answers 401 (no "Authorization: Bearer") or 403 and returns false. */
bool kit_http_bearer_ok(kit_http_req_t *req, const kit_tokens_t *tokens);

#endif
