/* jnhttp: GET /health (200 or 503 with the state, lag and last error as JSON) and GET /metrics
 * (Prometheus text) of `sluice join`, served by libwebsockets on its own thread. Requests have
 * no body; anything else is 404 or 405. Thread: the lws service thread. */
#include "jnsvc_int.h"
#include "kit_listen.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JNHTTP_PATH_BYTES_MAX 256

typedef struct {
    struct lws *wsi;
    int status; /* 0 until a response is ready */
    const char *ctype;
    char *resp;
    size_t resp_len;
} jnhttp_pss_t;

struct jnhttp {
    jnsvc_t *svc;
    struct lws_context *ctx;
    pthread_t th;
    int port;
    atomic_bool stop;
};

static void jnhttp__set(jnhttp_pss_t *pss, int status, const char *ctype, char *body)
{
    free(pss->resp);
    pss->status = status;
    pss->ctype = ctype;
    pss->resp = body;
    pss->resp_len = strlen(body);
    lws_callback_on_writable(pss->wsi);
}

static int jnhttp__write(jnhttp_pss_t *pss)
{
    uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    struct lws *wsi = pss->wsi;
    if (lws_add_http_common_headers(wsi, (unsigned)pss->status, pss->ctype, pss->resp_len, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    uint8_t *buf = sl_xmalloc(LWS_PRE + pss->resp_len + 1);
    memcpy(buf + LWS_PRE, pss->resp, pss->resp_len);
    int n = lws_write(wsi, buf + LWS_PRE, pss->resp_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    free(pss->resp);
    pss->resp = NULL;
    pss->status = 0;
    return n < 0 || lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int jnhttp__on_http(jnhttp_t *http, jnhttp_pss_t *pss, struct lws *wsi, const char *uri)
{
    free(pss->resp);
    memset(pss, 0, sizeof *pss);
    pss->wsi = wsi;
    char path[JNHTTP_PATH_BYTES_MAX];
    snprintf(path, sizeof path, "%s", uri ? uri : "/");
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool known = strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0;
    if (known && !get) {
        jnhttp__set(pss, 405, "application/json", sl_xstrdup("{\"error\":\"use GET\"}\n"));
    } else if (!known) {
        jnhttp__set(pss, 404, "application/json", sl_xstrdup("{\"error\":\"no such path\"}\n"));
    } else if (path[1] == 'h') {
        int status = 0;
        char *text = jnsvc_health_json(http->svc, &status);
        jnhttp__set(pss, status, "application/json", text);
    } else {
        jnhttp__set(pss, 200, "text/plain; version=0.0.4", jnsvc_metrics_text(http->svc));
    }
    return 0;
}

static int jnhttp__cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    jnhttp_pss_t *pss = user;
    struct lws_context *ctx = lws_get_context(wsi);
    jnhttp_t *http = ctx ? lws_context_user(ctx) : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return jnhttp__on_http(http, pss, wsi, in);
    case LWS_CALLBACK_HTTP_BODY:
        return 0; /* ignored: no route takes a body */
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss->status ? jnhttp__write(pss) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        free(pss->resp);
        pss->resp = NULL;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols jnhttp__protocols[] = {
    {"http", jnhttp__cb, sizeof(jnhttp_pss_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *jnhttp__main(void *arg)
{
    jnhttp_t *http = arg;
    while (!atomic_load(&http->stop)) {
        lws_service(http->ctx, 0);
    }
    return NULL;
}

int jnhttp_start(jnsvc_t *svc, jnhttp_t **out, char *err, size_t err_len)
{
    char host[KIT_HOST_BYTES];
    int port = 0;
    if (kit_listen_parse(svc->cfg->http_listen, host, &port, err, err_len) != 0) {
        return SL_EINVAL;
    }
    jnhttp_t *http = sl_xcalloc(1, sizeof *http);
    http->svc = svc;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = host;
    info.protocols = jnhttp__protocols;
    info.user = http;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.vhost_name = "join";
    http->ctx = lws_create_context(&info);
    if (!http->ctx) {
        snprintf(err, err_len, "http: cannot listen on %s (in use or not a local address)",
                 svc->cfg->http_listen);
        free(http);
        return SL_EINVAL;
    }
    http->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(http->ctx, "join"));
    if (pthread_create(&http->th, NULL, jnhttp__main, http) != 0) {
        lws_context_destroy(http->ctx);
        free(http);
        snprintf(err, err_len, "http: cannot start its thread");
        return SL_ENOMEM;
    }
    *out = http;
    return 0;
}

int jnhttp_port(const jnhttp_t *http)
{
    return http->port;
}

void jnhttp_stop(jnhttp_t *http)
{
    if (!http) {
        return;
    }
    atomic_store(&http->stop, true);
    lws_cancel_service(http->ctx);
    pthread_join(http->th, NULL);
    lws_context_destroy(http->ctx);
    free(http);
}
