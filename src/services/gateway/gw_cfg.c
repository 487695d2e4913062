/* gw_cfg: `sluice gateway` settings from properties; route.* and dest.* entries are grouped by
 * name (the text between the first and the last dot). */
#include "gw_cfg.h"

#include "gw_stomp.h"
#include "sl_bind.h"
#include "sl_common.h"
#include "sl_props.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool gw_cfg__topic_ok(const char *t)
{
    size_t n = strlen(t);
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-' || c == '.')) {
            return false;
        }
    }
    return n > 0 && n < GW_TOPIC_BUF;
}

/* fields: "name:type[?],..." with type string|number|integer|boolean|object|array|any. */
static int gw_cfg__fields(gw_route_t *r, const char *key, const char *val, char *err, size_t len)
{
    static const char *const types[] = {"any", "string", "number", "integer", "boolean",
                                        "object", "array"};
    char buf[GW_STR_BUF];
    if (sl_setting_str(buf, sizeof buf, key, val, err, len) != 0) {
        return SL_EINVAL;
    }
    r->nfields = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon || colon == tok || (size_t)(colon - tok) >= GW_NAME_BUF ||
            r->nfields == GW_FIELDS_MAX) {
            return sl_setting_fail(err, len, key, "want name:type[?],... (at most 16 fields)");
        }
        gw_field_t *f = &r->fields[r->nfields++];
        memcpy(f->name, tok, (size_t)(colon - tok));
        f->name[colon - tok] = '\0';
        char *type = colon + 1;
        size_t tl = strlen(type);
        f->optional = tl > 0 && type[tl - 1] == '?';
        type[tl - (f->optional ? 1 : 0)] = '\0';
        bool found = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(types) && !found; i++) {
            if (strcmp(type, types[i]) == 0) {
                f->type = (gw_json_type_t)i;
                found = true;
            }
        }
        if (!found) {
            return sl_setting_fail(err, len, key,
                                "types: string number integer boolean object array any");
        }
    }
    return 0;
}

/* The entry named by key's middle part in arr (created on first use). */
static void *gw_cfg__entry(void *arr, size_t elem, int *n, int max, const char *key,
                           const char **field)
{
    const char *name = strchr(key, '.') + 1, *dot = strrchr(key, '.');
    size_t nl = dot > name ? (size_t)(dot - name) : 0;
    *field = dot + 1;
    if (nl == 0 || nl >= GW_NAME_BUF) {
        return NULL;
    }
    for (int i = 0; i < *n; i++) {
        char *e = (char *)arr + (size_t)i * elem; /* every entry starts with its name */
        if (strlen(e) == nl && memcmp(e, name, nl) == 0) {
            return e;
        }
    }
    if (*n == max) {
        return NULL;
    }
    char *e = (char *)arr + (size_t)(*n)++ * elem;
    memset(e, 0, elem);
    memcpy(e, name, nl);
    return e;
}

static int gw_cfg__route(void *obj, const char *key, const char *val, char *err, size_t len)
{
    gw_cfg_t *cfg = obj;
    const char *field = NULL;
    gw_route_t *r = gw_cfg__entry(cfg->routes, sizeof *r, &cfg->nroutes, GW_ROUTES_MAX, key,
                                  &field);
    if (!r) {
        return sl_setting_fail(err, len, key, "bad route name or too many routes");
    }
    if (strcmp(field, "path") == 0) {
        if (val[0] != '/' || strncmp(val, "/topics/", 8) == 0) {
            return sl_setting_fail(err, len, key, "want a path starting with / (not /topics/)");
        }
        return sl_setting_str(r->path, sizeof r->path, key, val, err, len);
    } else if (strcmp(field, "topic") == 0) {
        if (!gw_cfg__topic_ok(val)) {
            return sl_setting_fail(err, len, key, "want a topic name [0-9A-Za-z._-]");
        }
        return sl_setting_str(r->topic, sizeof r->topic, key, val, err, len);
    } else if (strcmp(field, "fields") == 0) {
        return gw_cfg__fields(r, key, val, err, len);
    } else if (strcmp(field, "key") == 0) {
        return sl_setting_str(r->key_field, sizeof r->key_field, key, val, err, len);
    } else if (strcmp(field, "token") == 0) {
        return kit_tokens_parse(&r->tokens, key, val, err, len);
    } else if (strcmp(field, "send") == 0) {
        return sl_setting_bool(&r->send, key, val, err, len);
    }
    return sl_setting_fail(err, len, key, "want route.<name>.path|topic|fields|key|token|send");
}

static int gw_cfg__topics(gw_dest_cfg_t *d, const char *key, const char *val, char *err,
                          size_t len)
{
    char buf[GW_STR_BUF];
    if (sl_setting_str(buf, sizeof buf, key, val, err, len) != 0) {
        return SL_EINVAL;
    }
    d->ntopics = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (!gw_cfg__topic_ok(tok) || d->ntopics == GW_DEST_TOPICS_MAX) {
            return sl_setting_fail(err, len, key, "want 1..4 topic names, comma-separated");
        }
        strcpy(d->topics[d->ntopics++], tok);
    }
    return 0;
}

static int gw_cfg__dest(void *obj, const char *key, const char *val, char *err, size_t len)
{
    gw_cfg_t *cfg = obj;
    const char *field = NULL;
    gw_dest_cfg_t *d = gw_cfg__entry(cfg->dests, sizeof *d, &cfg->ndests, GW_DESTS_MAX, key,
                                     &field);
    if (!d) {
        return sl_setting_fail(err, len, key, "bad destination name or too many destinations");
    }
    if (strcmp(field, "prefix") == 0) {
        if (val[0] != '/') {
            return sl_setting_fail(err, len, key, "want a prefix starting with /");
        }
        return sl_setting_str(d->prefix, sizeof d->prefix, key, val, err, len);
    } else if (strcmp(field, "topics") == 0) {
        return gw_cfg__topics(d, key, val, err, len);
    } else if (strcmp(field, "filter") == 0) {
        if (strcmp(val, "key") == 0) {
            d->field[0] = '\0';
            return 0;
        }
        if (strncmp(val, "json:", 5) != 0 || !val[5]) {
            return sl_setting_fail(err, len, key, "want key or json:FIELD");
        }
        return sl_setting_str(d->field, sizeof d->field, key, val + 5, err, len);
    } else if (strcmp(field, "tokens") == 0) {
        return kit_tokens_parse(&d->tokens, key, val, err, len);
    } else if (strcmp(field, "public") == 0) {
        bool live = strcmp(val, "live") == 0, all = strcmp(val, "all") == 0;
        if (!live && !all && strcmp(val, "none") != 0) {
            return sl_setting_fail(err, len, key, "want none, live or all");
        }
        d->public_live = live || all;
        d->public_replay = all;
        return 0;
    }
    return sl_setting_fail(err, len, key, "want dest.<name>.prefix|topics|filter|tokens|public");
}

static void gw_cfg__defaults(gw_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->brokers, "127.0.0.1:9092");
    strcpy(cfg->http_listen, "127.0.0.1:8080");
    strcpy(cfg->ws_path, "/stomp");
    strcpy(cfg->static_path, "/app");
    cfg->topics_api = false;
    cfg->idle_ms = 120000;
    cfg->conns_per_ip_max = 100;
    cfg->partitions = 1;
    cfg->request_bytes_max = 1u << 20;
    cfg->broker_timeout_ms = 10000;
    cfg->frame_bytes_max = 64u << 10;
    cfg->hb_send_ms = cfg->hb_recv_ms = 10000;
    cfg->send_bytes_max = 512u << 10;
    cfg->send_time_ms = 10000;
    cfg->unacked_max = 1000;
    cfg->park_ms = 300000;
    cfg->connections_max = 20000;
}

static int gw_cfg__kafka(void *obj, const char *key, const char *val, char *err, size_t len)
{
    return kit_kconf_set(&((gw_cfg_t *)obj)->kafka, key + strlen(KIT_KCONF_PREFIX), val, err, len);
}

static int gw_cfg__path(void *obj, const char *key, const char *val, char *err, size_t len)
{
    gw_cfg_t *cfg = obj;
    if (val[0] != '/') {
        return sl_setting_fail(err, len, key, "want a path starting with /");
    }
    return key[0] == 'w'
               ? sl_setting_str(cfg->ws_path, sizeof cfg->ws_path, key, val, err, len)
               : sl_setting_str(cfg->static_path, sizeof cfg->static_path, key, val, err, len);
}

static int gw_cfg__topics_token(void *obj, const char *key, const char *val, char *err,
                                size_t len)
{
    return kit_tokens_parse(&((gw_cfg_t *)obj)->topics_tokens, key, val, err, len);
}

static int gw_cfg__jwt_secret(void *obj, const char *key, const char *val, char *err, size_t len)
{
    gw_cfg_t *cfg = obj;
    size_t n = strlen(val); /* "" = JWTs are not accepted */
    if (n && (n < KIT_AUTH_SECRET_BYTES_MIN || n > KIT_AUTH_SECRET_BYTES_MAX)) {
        return sl_setting_fail(err, len, key, "want a secret of 32..1024 bytes");
    }
    memcpy(cfg->jwt_secret, val, n);
    cfg->jwt_secret_len = n;
    return 0;
}

#define GW_NUM(k, f, lo, hi) SL_BIND_NUM(gw_cfg_t, k, f, lo, hi)
#define GW_STR(k, f) SL_BIND_STR(gw_cfg_t, k, f)
static const sl_bind_t gw_cfg__keys[] = {
    GW_STR("brokers", brokers),
    GW_NUM("broker.timeout.ms", broker_timeout_ms, 100, 600000),
    GW_NUM("topics.partitions", partitions, 1, 1000),
    SL_BIND_BOOL(gw_cfg_t, "topics.auto.create", auto_create),
    GW_STR("http.listen", http_listen),
    GW_NUM("http.request.max.bytes", request_bytes_max, 1024, 1 << 30),
    SL_BIND_FN("http.static.path", gw_cfg__path),
    GW_STR("http.static.dir", static_dir),
    SL_BIND_BOOL(gw_cfg_t, "http.topics.enable", topics_api),
    SL_BIND_FN("http.topics.token", gw_cfg__topics_token),
    GW_STR("http.topics.allow", topics_allow),
    SL_BIND_FN("ws.path", gw_cfg__path),
    GW_NUM("stomp.frame.max.bytes", frame_bytes_max, 1024, GW_STOMP_FRAME_BYTES_MAX),
    GW_NUM("stomp.heartbeat.send.ms", hb_send_ms, 0, 3600000),
    GW_NUM("stomp.heartbeat.receive.ms", hb_recv_ms, 0, 3600000),
    GW_NUM("stomp.send.buffer.bytes", send_bytes_max, 4096, 1 << 30),
    GW_NUM("stomp.send.time.ms", send_time_ms, 100, 3600000),
    GW_NUM("stomp.unacked.max", unacked_max, 1, 1000000),
    GW_NUM("stomp.park.ms", park_ms, 0, 86400000),
    GW_NUM("stomp.idle.timeout.ms", idle_ms, 1000, 86400000),
    SL_BIND_FN("stomp.jwt.secret", gw_cfg__jwt_secret),
    GW_NUM("connections.max", connections_max, 1, 1000000),
    GW_NUM("connections.max.per.ip", conns_per_ip_max, 1, 1000000),
    SL_BIND_PREFIX(KIT_KCONF_PREFIX, gw_cfg__kafka),
    SL_BIND_PREFIX("route.", gw_cfg__route),
    SL_BIND_PREFIX("dest.", gw_cfg__dest),
};

static int gw_cfg__check(const gw_cfg_t *cfg, char *err, size_t len)
{
    if (cfg->topics_api && !cfg->topics_allow[0]) {
        snprintf(err, len, "http.topics.allow: POST /topics/{topic} is enabled; name the topics "
                 "it may write (comma-separated globs, e.g. events.*)");
        return SL_EINVAL;
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        const gw_route_t *r = &cfg->routes[i];
        if (!r->path[0] || !r->topic[0]) {
            snprintf(err, len, "route.%s: path and topic are required", r->name);
            return SL_EINVAL;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(cfg->routes[j].path, r->path) == 0) {
                snprintf(err, len, "route.%s.path: %s already used", r->name, r->path);
                return SL_EINVAL;
            }
        }
    }
    for (int i = 0; i < cfg->ndests; i++) {
        const gw_dest_cfg_t *d = &cfg->dests[i];
        if (!d->prefix[0] || d->ntopics == 0) {
            snprintf(err, len, "dest.%s: prefix and topics are required", d->name);
            return SL_EINVAL;
        }
        if (!d->public_live && d->tokens.n == 0 && !cfg->jwt_secret_len) {
            snprintf(err, len, "dest.%s: nobody may subscribe; set dest.%s.tokens, "
                     "stomp.jwt.secret, or dest.%s.public=live|all", d->name, d->name, d->name);
            return SL_EINVAL;
        }
    }
    return 0;
}

int gw_cfg_load(gw_cfg_t *cfg, const sl_props_t *props, char *err, size_t err_len)
{
    gw_cfg__defaults(cfg);
    if (sl_bind_load(gw_cfg__keys, SL_ARRAY_LEN(gw_cfg__keys), cfg, props, err, err_len) != 0) {
        return SL_EINVAL;
    }
    return gw_cfg__check(cfg, err, err_len);
}
