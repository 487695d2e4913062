/* The broker's admin endpoint (`admin.listen`, `admin.token`): the services' HTTP kit
 * (kit_http, its own thread) serving GET /metrics (Prometheus text), /health/live,
 * /health/ready and /v1/status (JSON) from `sluice serve`. It starts before the broker opens
 * and recovers its logs, so readiness says "recovering" meanwhile; the broker's state comes
 * from brk_admin_* (a snapshot the loop copies), never from its structures directly. Rules
 * and answers: docs/broker.md, "Admin endpoint". */
#include "cli_admin.h"

#include "kit_auth.h"
#include "kit_http.h"
#include "kit_listen.h"
#include "sl_common.h"
#include "sl_log.h"
#include "sl_time.h"
#include "sl_version.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_ADMIN_LISTEN_DEFAULT "127.0.0.1:9644"
#define CLI_ADMIN_WHY_BYTES 512

typedef enum { CLI_ADMIN_RECOVERING, CLI_ADMIN_SERVING, CLI_ADMIN_STOPPING } cli_admin_state_t;

struct cli_admin {
    kit_http_t *http;
    kit_tokens_t tokens;
    _Atomic(brk_t *) brk;
    _Atomic int state;
    int64_t start_us;
    char listen[300];
};

/* Bearer check (constant time, kit_tokens_match): every path but /health/live when a token
 * is set; 401 with WWW-Authenticate otherwise. Unknown paths are logged here (rate-limited)
 * before kit_http answers 404 or 405. */
static bool cli__admin_allow(void *user, kit_http_req_t *req, const kit_http_route_t *route)
{
    cli_admin_t *adm = user;
    const char *path = kit_http_req_path(req);
    if (!route) {
        static sl_log_rate_t rl;
        sl_log_rl(&rl, SL_LOG_WARN, "admin", "%s %s: no such endpoint for this method "
                  "(answered 404 or 405)", kit_http_req_method(req), path);
    }
    if (adm->tokens.n == 0 || (route && strcmp(path, "/health/live") == 0)) {
        return true;
    }
    const char *auth = kit_http_req_auth(req, NULL);
    if (strncmp(auth, "Bearer ", 7) == 0 &&
        kit_tokens_match(&adm->tokens, auth + 7, strlen(auth + 7))) {
        return true;
    }
    static sl_log_rate_t rl_auth;
    sl_log_rl(&rl_auth, SL_LOG_WARN, "admin", "%s %s: refused (401): %s bearer token",
              kit_http_req_method(req), path, auth[0] ? "wrong" : "no");
    kit_http_error(req, 401, NULL, "%s", auth[0] ? "the bearer token is not valid"
                                                 : "a bearer token is required (admin.token)");
    return false;
}

static brk_t *cli__admin_brk(cli_admin_t *adm)
{
    return atomic_load(&adm->state) == CLI_ADMIN_SERVING ? atomic_load(&adm->brk) : NULL;
}

static const char *cli__admin_not_serving(cli_admin_t *adm)
{
    return atomic_load(&adm->state) == CLI_ADMIN_RECOVERING
               ? "recovering: the broker is opening and recovering its logs"
               : "stopping: the broker is shutting down";
}

static int cli__admin_live(void *user, kit_http_req_t *req)
{
    SL_UNUSED(user);
    kit_http_json(req, 200, json_pack("{s:s}", "status", "live"));
    return 0;
}

static int cli__admin_ready(void *user, kit_http_req_t *req)
{
    cli_admin_t *adm = user;
    brk_t *brk = cli__admin_brk(adm);
    char why[CLI_ADMIN_WHY_BYTES];
    bool ready = false;
    if (!brk) {
        snprintf(why, sizeof why, "%s", cli__admin_not_serving(adm));
    } else {
        ready = brk_admin_ready(brk, why, sizeof why);
    }
    kit_http_json(req, ready ? 200 : 503, json_pack("{s:s, s:s}", "status",
                                                    ready ? "ready" : "not ready", "reason",
                                                    why));
    return 0;
}

static int cli__admin_metrics(void *user, kit_http_req_t *req)
{
    cli_admin_t *adm = user;
    brk_t *brk = cli__admin_brk(adm);
    char *text = brk ? brk_admin_metrics(brk) : NULL;
    if (!text) {
        kit_http_error(req, 503, NULL, "%s", brk ? "the broker's loop did not answer in time"
                                                 : cli__admin_not_serving(adm));
        return 0;
    }
    kit_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    return 0;
}

static json_t *cli__admin_listeners(const brk_status_t *st)
{
    json_t *arr = json_array();
    for (int i = 0; i < st->nlisteners; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i}", "name",
                                             st->listeners[i].name, "security_protocol",
                                             st->listeners[i].proto, "host",
                                             st->listeners[i].host, "port",
                                             st->listeners[i].port));
    }
    return arr;
}

static int cli__admin_status(void *user, kit_http_req_t *req)
{
    cli_admin_t *adm = user;
    brk_t *brk = cli__admin_brk(adm);
    brk_status_t st;
    if (!brk || brk_admin_status(brk, &st) != 0) {
        kit_http_error(req, 503, NULL, "%s", brk ? "the broker's loop did not answer in time"
                                                 : cli__admin_not_serving(adm));
        return 0;
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:f, s:{s:s, s:I, s:I, s:I}, s:i, s:I, s:I, s:i, s:o}", "version",
        SL_VERSION, "commit", SL_COMMIT, "uptime_seconds", st.uptime_s, "data_dir", "path",
        st.data_dir, "log_bytes", (json_int_t)st.log_bytes, "filesystem_bytes",
        (json_int_t)st.fs_total_bytes, "filesystem_free_bytes", (json_int_t)st.fs_free_bytes,
        "topics", (int)st.topics, "partitions", (json_int_t)st.partitions,
        "offline_partitions", (json_int_t)st.offline, "groups", (int)st.groups, "listeners",
        cli__admin_listeners(&st));
    kit_http_json(req, 200, o);
    return 0;
}

static const kit_http_route_t cli__admin_routes[] = {
    {KIT_HTTP_GET, "/metrics", false, cli__admin_metrics},
    {KIT_HTTP_GET, "/health/live", false, cli__admin_live},
    {KIT_HTTP_GET, "/health/ready", false, cli__admin_ready},
    {KIT_HTTP_GET, "/v1/status", false, cli__admin_status},
};

int cli_admin_start(const sl_props_t *props, cli_admin_t **out, char *err, size_t err_len)
{
    *out = NULL;
    const char *listen = sl_props_get(props, "admin.listen");
    bool explicit = listen != NULL;
    listen = listen ? listen : CLI_ADMIN_LISTEN_DEFAULT;
    if (!listen[0]) {
        return 0; /* turned off */
    }
    char host[KIT_HOST_BYTES];
    int port;
    if (kit_listen_parse(listen, host, &port, err, err_len) != 0) {
        snprintf(err, err_len, "admin.listen: want HOST:PORT (empty turns it off), got '%s'",
                 listen);
        return SL_EINVAL;
    }
    cli_admin_t *adm = sl_xcalloc(1, sizeof *adm);
    const char *token = sl_props_get(props, "admin.token");
    if (token && kit_tokens_parse(&adm->tokens, "admin.token", token, err, err_len) != 0) {
        free(adm);
        return SL_EINVAL;
    }
    snprintf(adm->listen, sizeof adm->listen, "%s", listen);
    adm->start_us = sl_time_mono_us();
    atomic_store(&adm->state, CLI_ADMIN_RECOVERING);
    kit_http_cfg_t cfg = {
        .name = "admin",
        .listen = adm->listen,
        .routes = cli__admin_routes,
        .nroutes = (int)SL_ARRAY_LEN(cli__admin_routes),
        .methods = KIT_HTTP_GET | KIT_HTTP_POST | KIT_HTTP_DELETE,
        .user = adm,
        .body_bytes_max = 0,
        .www_authenticate = "Bearer realm=\"sluice-admin\"",
        .allow = cli__admin_allow,
    };
    char kerr[512];
    int rc = kit_http_start(&cfg, &adm->http, kerr, sizeof kerr);
    if (rc != 0) {
        free(adm);
        if (!explicit) {
            SL_LOGW("admin", "admin endpoint off: cannot listen on the default %s (in use?); "
                    "set admin.listen to another address, or empty to turn it off", listen);
            return 0;
        }
        snprintf(err, err_len, "admin.listen=%s: cannot listen (in use, or not a local "
                 "address)", listen);
        return rc;
    }
    SL_LOGI("admin", "admin endpoint on %s:%d (GET /metrics, /health/live, /health/ready, "
            "/v1/status; %s)", host, kit_http_port(adm->http),
            adm->tokens.n ? "bearer token required" : "no token");
    *out = adm;
    return 0;
}

void cli_admin_attach(cli_admin_t *adm, brk_t *brk)
{
    if (adm) {
        atomic_store(&adm->brk, brk);
        atomic_store(&adm->state, CLI_ADMIN_SERVING);
    }
}

void cli_admin_stop(cli_admin_t *adm)
{
    if (!adm) {
        return;
    }
    atomic_store(&adm->state, CLI_ADMIN_STOPPING);
    kit_http_stop(adm->http); /* joins: no handler uses the broker after this */
    free(adm);
}
