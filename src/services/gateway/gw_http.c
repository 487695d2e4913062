/* gw_http: the HTTP side of the gateway (libwebsockets, the loop thread).
 *   POST /topics/{topic}  (http.topics.enable, topics matching http.topics.allow only)
 *                         one record {key, value, headers, partition} or an array of them;
 *                         answered after acks=all with partition and offset (Confluent REST
 *                         Proxy v3 record shape: error_code, topic_name, partition_id, offset)
 *   POST <route.path>     the body (a JSON object passing the route's shape check) is the
 *                         record value; the key is the route's key field
 *   GET  /health, /stats, <http.static.path>/... (files of http.static.dir)
 * Errors are JSON {"error_code": status, "message": "...", "field": "..."}: 400 naming the bad
 * field, 401 without a bearer token, 403 with a wrong one or a topic not allowed, 404 unknown topic (topics.auto.create=false), 405, 413, 503 broker unreachable. */
#include "gw_int.h"

#include "sl_log.h"

#include <fnmatch.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define GW_LOG "gateway"
#define GW_RECORDS_MAX 1000 /* records in one POST /topics/{topic} */

struct gw_http {
    struct lws *wsi;
    char method[8];
    char path[GW_STR_BUF];
    char auth[GW_STR_BUF];
    char *body;
    size_t body_len, body_cap;
    bool too_big, routed, close_after;
    int status; /* 0 until a response is ready */
    const char *ctype;
    char *resp;
    size_t resp_len;
    gw_post_t *post;  /* waiting for acks */
    json_t *records;  /* parsed, waiting for a topic refresh */
    char topic[GW_TOPIC_BUF];
    bool single;
    uint64_t meta_gen;
    gw_http_t *wait_next;
};

size_t gw_http_size(void)
{
    return sizeof(gw_http_t);
}

/* ---- responses ---- */

static void gw__set(gw_http_t *h, int status, const char *ctype, char *body)
{
    free(h->resp);
    h->routed = true;
    h->status = status;
    h->ctype = ctype;
    h->resp = body;
    h->resp_len = strlen(body);
    lws_callback_on_writable(h->wsi);
}

static void gw__json(gw_http_t *h, int status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    SL_ASSERT(text);
    size_t len = strlen(text);
    text = sl_xrealloc(text, len + 2);
    memcpy(text + len, "\n", 2);
    gw__set(h, status, "application/json", text);
}

static void gw__error(gw_http_t *h, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void gw__error(gw_http_t *h, int status, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:i, s:s}", "error_code", status, "message", msg);
    if (field) {
        json_object_set_new(o, "field", json_string(field));
    }
    if (status >= 500) {
        SL_LOGW(GW_LOG, "%s %s: %d %s", h->method, h->path, status, msg);
    }
    gw__json(h, status, o);
}

static int gw__write(gw_http_t *h)
{
    uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    struct lws *wsi = h->wsi;
    if (lws_add_http_common_headers(wsi, (unsigned)h->status, h->ctype, h->resp_len, &p, end) ||
        (h->status == 401 &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                      (const uint8_t *)"Bearer", 6, &p, end)) ||
        (h->close_after &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p,
                                      end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    uint8_t *buf = sl_xmalloc(LWS_PRE + h->resp_len + 1);
    memcpy(buf + LWS_PRE, h->resp, h->resp_len);
    int n = lws_write(wsi, buf + LWS_PRE, h->resp_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    free(h->resp);
    h->resp = NULL;
    h->status = 0;
    if (n < 0 || h->close_after) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- shape checks ---- */

static bool gw__type_ok(gw_json_type_t t, const json_t *v)
{
    switch (t) {
    case GW_JSON_STRING: return json_is_string(v);
    case GW_JSON_NUMBER: return json_is_number(v);
    case GW_JSON_INTEGER: return json_is_integer(v);
    case GW_JSON_BOOLEAN: return json_is_boolean(v);
    case GW_JSON_OBJECT: return json_is_object(v);
    case GW_JSON_ARRAY: return json_is_array(v);
    default: return true;
    }
}

json_t *gw_route_check(const gw_route_t *route, const char *body, size_t len, char *field,
                       size_t field_len, char *why, size_t why_len)
{
    static const char *const names[] = {"any", "string", "number", "integer", "boolean",
                                        "object", "array"};
    json_error_t jerr;
    json_t *obj = json_loadb(body ? body : "", len, 0, &jerr);
    snprintf(field, field_len, "body");
    if (!json_is_object(obj)) {
        snprintf(why, why_len, "body: want a JSON object%s%s", obj ? "" : ": ",
                 obj ? "" : jerr.text);
        json_decref(obj);
        return NULL;
    }
    for (int i = 0; i < route->nfields; i++) {
        const gw_field_t *f = &route->fields[i];
        json_t *v = json_object_get(obj, f->name);
        if ((!v && !f->optional) || (v && !gw__type_ok(f->type, v))) {
            snprintf(field, field_len, "%s", f->name);
            snprintf(why, why_len, "%s: %s %s", f->name, v ? "want" : "required:", names[f->type]);
            json_decref(obj);
            return NULL;
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool known = route->nfields == 0;
        for (int i = 0; i < route->nfields && !known; i++) {
            known = strcmp(route->fields[i].name, k) == 0;
        }
        if (!known) {
            snprintf(field, field_len, "%s", k);
            snprintf(why, why_len, "%s: unknown field", k);
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

size_t gw_route_key(const gw_route_t *route, json_t *obj, char *key, size_t cap)
{
    json_t *v = route->key_field[0] ? json_object_get(obj, route->key_field) : NULL;
    int n = 0;
    if (json_is_string(v)) {
        n = snprintf(key, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        n = snprintf(key, cap, "%lld", (long long)json_integer_value(v));
    }
    return n > 0 ? SL_MIN((size_t)n, cap - 1) : 0;
}

/* ---- produce ---- */

/* No tokens configured: open. Else 401 without a bearer token, 403 with one not in the list. */
static bool gw__authorized(gw_http_t *h, const kit_tokens_t *tokens)
{
    if (tokens->n == 0) {
        return true;
    }
    if (strncmp(h->auth, "Bearer ", 7) != 0 || !h->auth[7]) {
        gw__error(h, 401, NULL, "a bearer token is required");
        return false;
    }
    if (!kit_tokens_match(tokens, h->auth + 7, strlen(h->auth + 7))) {
        gw__error(h, 403, NULL, "the bearer token is not allowed here");
        return false;
    }
    return true;
}

/* Whether topic matches one of the comma-separated globs in allow. */
static bool gw__topic_allowed(const char *allow, const char *topic)
{
    char buf[GW_STR_BUF];
    snprintf(buf, sizeof buf, "%s", allow);
    for (char *save = NULL, *glob = strtok_r(buf, ",", &save); glob;
         glob = strtok_r(NULL, ",", &save)) {
        if (fnmatch(glob, topic, 0) == 0) {
            return true;
        }
    }
    return false;
}

/* Bytes of a key or value: a string as is, any other JSON value as JSON text (malloc'ed). */
static char *gw__bytes(const json_t *v, size_t *len)
{
    if (!v || json_is_null(v)) {
        *len = 0;
        return NULL;
    }
    char *text = json_is_string(v) ? sl_xstrdup(json_string_value(v))
                                   : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    SL_ASSERT(text);
    *len = json_is_string(v) ? json_string_length(v) : strlen(text);
    return text;
}

/* Checks one record of POST /topics; on failure writes the field. */
static bool gw__record_ok(const json_t *r, const char **field, const char **why)
{
    static const char *const known[] = {"key", "value", "headers", "partition"};
    const char *k;
    json_t *v;
    *field = "";
    *why = "want a JSON object";
    if (!json_is_object(r)) {
        return false;
    }
    json_object_foreach((json_t *)r, k, v) {
        bool found = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(known) && !found; i++) {
            found = strcmp(k, known[i]) == 0;
        }
        if (!found) {
            *field = k;
            *why = "unknown field";
            return false;
        }
    }
    const json_t *p = json_object_get(r, "partition");
    if (p && (!json_is_integer(p) || json_integer_value(p) < 0 ||
              json_integer_value(p) > INT32_MAX)) {
        *field = "partition";
        *why = "want an integer >= 0";
        return false;
    }
    const json_t *hs = json_object_get(r, "headers");
    if (hs && !json_is_array(hs)) {
        *field = "headers";
        *why = "want an array of {name, value}";
        return false;
    }
    size_t i;
    json_array_foreach(hs, i, v) {
        if (!json_is_string(json_object_get(v, "name")) ||
            !(json_is_string(json_object_get(v, "value")) ||
              json_is_null(json_object_get(v, "value")))) {
            *field = "headers";
            *why = "want an array of {name: string, value: string|null}";
            return false;
        }
    }
    return true;
}

static rd_kafka_headers_t *gw__headers(const json_t *hs)
{
    if (!json_array_size(hs)) {
        return NULL;
    }
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(json_array_size(hs));
    size_t i;
    json_t *v;
    json_array_foreach(hs, i, v) {
        const json_t *val = json_object_get(v, "value");
        rd_kafka_header_add(hdrs, json_string_value(json_object_get(v, "name")), -1,
                            json_is_string(val) ? json_string_value(val) : NULL,
                            json_is_string(val) ? (ssize_t)json_string_length(val) : 0);
    }
    return hdrs;
}

/* Produces every record of h (validated) to topic. */
static void gw__produce(gw_svc_t *svc, gw_http_t *h, json_t *records, const char *topic)
{
    int n = (int)json_array_size(records);
    gw_post_t *post = gw_post_new(svc, h, false, topic, n);
    post->single = h->single;
    h->post = post;
    for (int i = 0; i < n; i++) {
        json_t *r = json_array_get(records, i);
        size_t klen = 0, vlen = 0;
        char *key = gw__bytes(json_object_get(r, "key"), &klen);
        char *val = gw__bytes(json_object_get(r, "value"), &vlen);
        json_t *p = json_object_get(r, "partition");
        gw_post_produce(svc, post, i, p ? (int32_t)json_integer_value(p) : RD_KAFKA_PARTITION_UA,
                        key, klen, val, vlen, gw__headers(json_object_get(r, "headers")));
        free(key);
        free(val);
    }
    json_decref(records);
    gw_post_seal(svc, post);
}

/* Produces now, or waits for a topic refresh when the topic is not known yet. */
static void gw__produce_checked(gw_svc_t *svc, gw_http_t *h, json_t *records, const char *topic)
{
    uint64_t gen = 0;
    if (!atomic_load(&svc->broker_ok)) {
        json_decref(records);
        gw__error(h, 503, NULL, "broker %s unreachable", svc->cfg->brokers);
        return;
    }
    if (svc->cfg->auto_create || gw_topic_known(svc, topic, &gen)) {
        gw__produce(svc, h, records, topic);
        return;
    }
    if (h->meta_gen) { /* refreshed since: it really is unknown */
        json_decref(records);
        gw__error(h, 404, "topic", "unknown topic %s", topic);
        return;
    }
    h->records = records;
    snprintf(h->topic, sizeof h->topic, "%s", topic);
    h->meta_gen = gen;
    h->wait_next = svc->http_wait;
    svc->http_wait = h;
}

void gw_http_meta_refreshed(gw_svc_t *svc)
{
    uint64_t gen = gw_meta_gen(svc);
    gw_http_t **pp = (gw_http_t **)&svc->http_wait;
    while (*pp) {
        gw_http_t *h = *pp;
        if (h->meta_gen > gen) {
            pp = &h->wait_next;
            continue;
        }
        *pp = h->wait_next;
        json_t *records = h->records;
        h->records = NULL;
        gw__produce_checked(svc, h, records, h->topic);
    }
}

static void gw__unwait(gw_svc_t *svc, gw_http_t *h)
{
    for (gw_http_t **pp = (gw_http_t **)&svc->http_wait; *pp; pp = &(*pp)->wait_next) {
        if (*pp == h) {
            *pp = h->wait_next;
            break;
        }
    }
    json_decref(h->records);
    h->records = NULL;
}

static int gw__status_of(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return 404;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    default: return 503;
    }
}

static json_t *gw__result(const gw_post_t *post, const gw_res_t *res)
{
    char ts[40] = "";
    time_t secs = (time_t)(res->ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(res->ts_ms % 1000));
    return json_pack("{s:i, s:s, s:i, s:I, s:s}", "error_code", 200, "topic_name", post->topic,
                     "partition_id", (int)res->partition, "offset", (json_int_t)res->offset,
                     "timestamp", ts);
}

void gw_http_post_done(gw_svc_t *svc, gw_post_t *post)
{
    gw_http_t *h = post->owner;
    if (h) {
        h->post = NULL;
        const gw_res_t *bad = NULL;
        for (int i = 0; i < post->nres && !bad; i++) {
            bad = post->res[i].err ? &post->res[i] : NULL;
        }
        if (bad) {
            int status = gw__status_of(bad->err);
            gw__error(h, status, status == 404 ? "topic" : NULL, "record %d of %s: %s%s",
                      (int)(bad - post->res), post->topic,
                      status == 503 ? "the broker did not acknowledge it: " : "",
                      rd_kafka_err2str(bad->err));
        } else if (post->single) {
            gw__json(h, 200, gw__result(post, &post->res[0]));
        } else {
            json_t *arr = json_array();
            for (int i = 0; i < post->nres; i++) {
                json_array_append_new(arr, gw__result(post, &post->res[i]));
            }
            gw__json(h, 200, json_pack("{s:o}", "data", arr));
        }
    }
    gw_post_free(svc, post);
}

static void gw__topics_post(gw_svc_t *svc, gw_http_t *h, const char *topic)
{
    if (!gw__authorized(h, &svc->cfg->topics_tokens)) {
        return;
    }
    size_t tl = strlen(topic);
    bool name_ok = tl > 0 && tl < GW_TOPIC_BUF;
    for (size_t i = 0; i < tl && name_ok; i++) {
        char c = topic[i];
        name_ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || c == '-' || c == '.';
    }
    if (!name_ok) {
        gw__error(h, 400, "topic", "topic: want 1..249 characters [0-9A-Za-z._-]");
        return;
    }
    if (!gw__topic_allowed(svc->cfg->topics_allow, topic)) {
        gw__error(h, 403, "topic", "topic %s is not in http.topics.allow", topic);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(h->body ? h->body : "", h->body_len, 0, &jerr);
    h->single = json_is_object(body);
    json_t *records = h->single ? json_pack("[o]", body) : body;
    size_t n = json_array_size(records);
    if (!json_is_array(records) || n == 0 || n > GW_RECORDS_MAX) {
        json_decref(records);
        gw__error(h, n > GW_RECORDS_MAX ? 413 : 400, "body",
                  "body: want a record object or an array of 1..%d records", GW_RECORDS_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *field, *why;
        if (!gw__record_ok(json_array_get(records, i), &field, &why)) {
            char name[GW_NAME_BUF + 16];
            if (h->single) {
                snprintf(name, sizeof name, "%s", field);
            } else {
                snprintf(name, sizeof name, "[%zu]%s%s", i, *field ? "." : "", field);
            }
            gw__error(h, 400, name, "%s: %s", name[0] ? name : "record", why);
            json_decref(records);
            return;
        }
    }
    gw__produce_checked(svc, h, records, topic);
}

static void gw__route_post(gw_svc_t *svc, gw_http_t *h, const gw_route_t *route)
{
    if (!gw__authorized(h, &route->tokens)) {
        return;
    }
    char field[GW_NAME_BUF + 8], why[256], key[GW_NAME_BUF * 4];
    json_t *obj = gw_route_check(route, h->body, h->body_len, field, sizeof field, why,
                                 sizeof why);
    if (!obj) {
        gw__error(h, 400, field, "%s", why);
        return;
    }
    size_t klen = gw_route_key(route, obj, key, sizeof key);
    json_decref(obj);
    json_t *rec = json_object();
    if (klen) {
        json_object_set_new(rec, "key", json_stringn(key, klen));
    }
    json_object_set_new(rec, "value", json_stringn(h->body, h->body_len));
    h->single = true;
    gw__produce_checked(svc, h, json_pack("[o]", rec), route->topic);
}

/* ---- GET ---- */

static long gw__rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return rss * 4096;
}

static void gw__stats(gw_svc_t *svc, gw_http_t *h)
{
    gw_stats_t *st = &svc->st;
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
        "connections",
        (json_int_t)atomic_load(&st->conns), "subscriptions", (json_int_t)atomic_load(&st->subs),
        "queued_bytes", (json_int_t)atomic_load(&st->queued_bytes), "produced",
        (json_int_t)atomic_load(&st->produced), "consumed", (json_int_t)atomic_load(&st->consumed),
        "delivered", (json_int_t)atomic_load(&st->delivered), "connections_opened",
        (json_int_t)atomic_load(&st->conns_opened), "closed_slow",
        (json_int_t)atomic_load(&st->conns_overflow), "closed_heartbeat",
        (json_int_t)atomic_load(&st->conns_hb_timeout), "closed_error",
        (json_int_t)atomic_load(&st->conns_error), "resumes", (json_int_t)atomic_load(&st->resumes),
        "auth_refused", (json_int_t)atomic_load(&st->auth_refused), "closed_idle",
        (json_int_t)atomic_load(&st->conns_idle), "refused_per_ip",
        (json_int_t)atomic_load(&st->conns_per_ip_refused),
        "rss_bytes", (json_int_t)gw__rss_bytes(), "broker", atomic_load(&svc->broker_ok));
    gw__json(h, 200, o);
}

static const char *gw__mime(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html"}, {".js", "application/javascript"}, {".css", "text/css"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".json", "application/json"},
        {".map", "application/json"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < SL_ARRAY_LEN(types); i++) {
        if (strcmp(dot, types[i][0]) == 0) {
            return types[i][1];
        }
    }
    return "application/octet-stream";
}

/* Serves a file under http.static.dir; returns the lws callback result. */
static int gw__static(gw_svc_t *svc, gw_http_t *h, const char *rel)
{
    char file[2 * GW_STR_BUF + 16];
    struct stat sb;
    if (strstr(rel, "..") || strchr(rel, '?')) {
        gw__error(h, 404, NULL, "no file %s", h->path);
        return 0;
    }
    snprintf(file, sizeof file, "%s/%s", svc->cfg->static_dir, *rel ? rel : "index.html");
    if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        gw__error(h, 404, NULL, "no file %s", h->path);
        return 0;
    }
    h->routed = true;
    int rc = lws_serve_http_file(h->wsi, file, gw__mime(file), NULL, 0);
    return rc < 0 ? -1 : 0;
}

/* ---- routing ---- */

static int gw__route(gw_svc_t *svc, gw_http_t *h)
{
    if (h->routed) {
        return 0; /* a body-less POST: lws still reports its (empty) body's completion */
    }
    h->routed = true;
    const gw_cfg_t *cfg = svc->cfg;
    bool get = strcmp(h->method, "GET") == 0, post = strcmp(h->method, "POST") == 0;
    size_t sl = strlen(cfg->static_path);
    if (cfg->topics_api && strncmp(h->path, "/topics/", 8) == 0) {
        if (post) {
            gw__topics_post(svc, h, h->path + 8);
        } else {
            gw__error(h, 405, NULL, "%s %s: use POST", h->method, h->path);
        }
        return 0;
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        if (strcmp(h->path, cfg->routes[i].path) == 0) {
            if (post) {
                gw__route_post(svc, h, &cfg->routes[i]);
            } else {
                gw__error(h, 405, NULL, "%s %s: use POST", h->method, h->path);
            }
            return 0;
        }
    }
    if (get && strcmp(h->path, "/health") == 0) {
        bool ok = atomic_load(&svc->broker_ok);
        gw__json(h, ok ? 200 : 503, json_pack("{s:s, s:b}", "status", ok ? "ok" : "broker unreachable",
                                             "broker", ok));
        return 0;
    }
    if (get && strcmp(h->path, "/stats") == 0) {
        gw__stats(svc, h);
        return 0;
    }
    if (get && cfg->static_dir[0] && strncmp(h->path, cfg->static_path, sl) == 0 &&
        (h->path[sl] == '/' || h->path[sl] == '\0')) {
        return gw__static(svc, h, h->path + sl + (h->path[sl] == '/' ? 1 : 0));
    }
    gw__error(h, 404, NULL, "no route %s %s", h->method, h->path);
    return 0;
}

static int gw__on_http(gw_svc_t *svc, gw_http_t *h, struct lws *wsi, const char *uri)
{
    free(h->body);
    memset(h, 0, sizeof *h);
    h->wsi = wsi;
    snprintf(h->path, sizeof h->path, "%s", uri ? uri : "/");
    if (lws_hdr_copy(wsi, h->auth, sizeof h->auth, WSI_TOKEN_HTTP_AUTHORIZATION) < 0) {
        h->auth[0] = '\0';
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
        snprintf(h->method, sizeof h->method, "GET");
        return gw__route(svc, h);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0) {
        snprintf(h->method, sizeof h->method, "OTHER");
        h->close_after = true;
        gw__error(h, 405, NULL, "method not allowed");
        return 0;
    }
    snprintf(h->method, sizeof h->method, "POST");
    char cl[32] = "";
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        long long n = atoll(cl);
        if (n < 0 || (unsigned long long)n > svc->cfg->request_bytes_max) {
            h->close_after = true;
            gw__error(h, 413, "body", "request body of %lld bytes; limit %zu", n,
                      svc->cfg->request_bytes_max);
            return 0;
        }
        return n == 0 ? gw__route(svc, h) : 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0) {
        return gw__route(svc, h); /* no body */
    }
    return 0;
}

static void gw__on_body(gw_svc_t *svc, gw_http_t *h, const void *in, size_t len)
{
    if (h->too_big || len == 0) {
        return;
    }
    if (h->body_len + len > svc->cfg->request_bytes_max) {
        h->too_big = true;
        return;
    }
    if (h->body_len + len + 1 > h->body_cap) {
        h->body_cap = SL_MAX(h->body_cap * 2, h->body_len + len + 1);
        h->body = sl_xrealloc(h->body, h->body_cap);
    }
    memcpy(h->body + h->body_len, in, len);
    h->body_len += len;
    h->body[h->body_len] = '\0';
}

int gw_http_callback(gw_svc_t *svc, struct lws *wsi, int reason, void *user, void *in,
                     size_t len)
{
    gw_http_t *h = user;
    if (!h) { /* no session data (closed early, or an lws-internal connection) */
        return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, user, in, len);
    }
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return gw__on_http(svc, h, wsi, in);
    case LWS_CALLBACK_HTTP_BODY:
        gw__on_body(svc, h, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        int rc = 0;
        if (h->too_big) {
            h->close_after = true;
            gw__error(h, 413, "body", "request body over %zu bytes", svc->cfg->request_bytes_max);
        } else {
            rc = gw__route(svc, h);
        }
        free(h->body);
        h->body = NULL;
        h->body_len = h->body_cap = 0;
        return rc;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return h->status ? gw__write(h) : 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (h->post) {
            gw_post_disown(svc, h->post);
            h->post = NULL;
        }
        if (h->records || h->meta_gen) {
            gw__unwait(svc, h);
            h->meta_gen = 0;
        }
        free(h->body);
        free(h->resp);
        h->body = h->resp = NULL;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, user, in, len);
    }
}
