/* gw_http: the HTTP side of the gateway (kit_http, on the loop thread, the same port as the
 * WebSocket side).
 *   POST /topics/{topic}  (http.topics.enable, topics matching http.topics.allow only)
 *                         one record {key, value, headers, partition} or an array of them;
 *                         answered after acks=all with partition and offset (Confluent REST
 *                         Proxy v3 record shape: error_code, topic_name, partition_id, offset)
 *   POST <route.path>     the body (a JSON object passing the route's shape check) is the
 *                         record value; the key is the route's key field
 *   GET  /health, /stats, <http.static.path>/... (files of http.static.dir)
 * Errors are JSON {"error_code": status, "message": "...", "field": "..."}: 400 naming the bad
 * field, 401 without a bearer token, 403 with a wrong one or a topic not allowed, 404 unknown
 * topic (topics.auto.create=false), 405, 413, 503 broker unreachable. */
#include "gw_int.h"
#include "kit_http.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define GW_RECORDS_MAX 1000 /* records in one POST /topics/{topic} */

/* Per request (kit_http_req_data). */
typedef struct {
    gw_post_t *post; /* waiting for acks */
    json_t *records; /* parsed, waiting for a topic refresh */
    char topic[GW_TOPIC_BUF];
    bool single;
    uint64_t meta_gen;
    kit_http_req_t *wait_next;
} gw_hreq_t;

size_t gw_http_size(void)
{
    return sizeof(gw_hreq_t);
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

/* Produces every record of req (validated) to topic. */
static void gw__produce(gw_svc_t *svc, kit_http_req_t *req, json_t *records, const char *topic)
{
    gw_hreq_t *h = kit_http_req_data(req);
    int n = (int)json_array_size(records);
    gw_post_t *post = gw_post_new(svc, req, false, topic, n);
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
static void gw__produce_checked(gw_svc_t *svc, kit_http_req_t *req, json_t *records, const char *topic)
{
    gw_hreq_t *h = kit_http_req_data(req);
    uint64_t gen = 0;
    if (!atomic_load(&svc->broker_ok)) {
        json_decref(records);
        kit_http_error(req, 503, NULL, "broker %s unreachable", svc->cfg->brokers);
        return;
    }
    if (svc->cfg->auto_create || gw_topic_known(svc, topic, &gen)) {
        gw__produce(svc, req, records, topic);
        return;
    }
    if (h->meta_gen) { /* refreshed since: it really is unknown */
        json_decref(records);
        kit_http_error(req, 404, "topic", "unknown topic %s", topic);
        return;
    }
    h->records = records;
    snprintf(h->topic, sizeof h->topic, "%s", topic);
    h->meta_gen = gen;
    h->wait_next = svc->http_wait;
    svc->http_wait = req;
}

void gw_http_meta_refreshed(gw_svc_t *svc)
{
    uint64_t gen = gw_meta_gen(svc);
    kit_http_req_t **pp = (kit_http_req_t **)&svc->http_wait;
    while (*pp) {
        kit_http_req_t *req = *pp;
        gw_hreq_t *h = kit_http_req_data(req);
        if (h->meta_gen > gen) {
            pp = &h->wait_next;
            continue;
        }
        *pp = h->wait_next;
        json_t *records = h->records;
        h->records = NULL;
        gw__produce_checked(svc, req, records, h->topic);
    }
}

static void gw__unwait(gw_svc_t *svc, kit_http_req_t *req)
{
    gw_hreq_t *h = kit_http_req_data(req);
    for (kit_http_req_t **pp = (kit_http_req_t **)&svc->http_wait; *pp;
         pp = &((gw_hreq_t *)kit_http_req_data(*pp))->wait_next) {
        if (*pp == req) {
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
    kit_http_req_t *req = post->owner;
    if (req) {
        ((gw_hreq_t *)kit_http_req_data(req))->post = NULL;
        const gw_res_t *bad = NULL;
        for (int i = 0; i < post->nres && !bad; i++) {
            bad = post->res[i].err ? &post->res[i] : NULL;
        }
        if (bad) {
            int status = gw__status_of(bad->err);
            kit_http_error(req, status, status == 404 ? "topic" : NULL, "record %d of %s: %s%s",
                      (int)(bad - post->res), post->topic,
                      status == 503 ? "the broker did not acknowledge it: " : "",
                      rd_kafka_err2str(bad->err));
        } else if (post->single) {
            kit_http_json(req, 200, gw__result(post, &post->res[0]));
        } else {
            json_t *arr = json_array();
            for (int i = 0; i < post->nres; i++) {
                json_array_append_new(arr, gw__result(post, &post->res[i]));
            }
            kit_http_json(req, 200, json_pack("{s:o}", "data", arr));
        }
    }
    gw_post_free(svc, post);
}

static void gw__topics_post(gw_svc_t *svc, kit_http_req_t *req, const char *topic)
{
    if (!kit_http_bearer_ok(req, &svc->cfg->topics_tokens)) {
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
        kit_http_error(req, 400, "topic", "topic: want 1..249 characters [0-9A-Za-z._-]");
        return;
    }
    if (!gw__topic_allowed(svc->cfg->topics_allow, topic)) {
        kit_http_error(req, 403, "topic", "topic %s is not in http.topics.allow", topic);
        return;
    }
    gw_hreq_t *h = kit_http_req_data(req);
    size_t body_len = 0;
    const char *text = kit_http_req_body(req, &body_len);
    json_error_t jerr;
    json_t *body = json_loadb(text, body_len, 0, &jerr);
    h->single = json_is_object(body);
    json_t *records = h->single ? json_pack("[o]", body) : body;
    size_t n = json_array_size(records);
    if (!json_is_array(records) || n == 0 || n > GW_RECORDS_MAX) {
        json_decref(records);
        kit_http_error(req, n > GW_RECORDS_MAX ? 413 : 400, "body",
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
            kit_http_error(req, 400, name, "%s: %s", name[0] ? name : "record", why);
            json_decref(records);
            return;
        }
    }
    gw__produce_checked(svc, req, records, topic);
}

static void gw__route_post(gw_svc_t *svc, kit_http_req_t *req, const gw_route_t *route)
{
    if (!kit_http_bearer_ok(req, &route->tokens)) {
        return;
    }
    char field[GW_NAME_BUF + 8], why[256], key[GW_NAME_BUF * 4];
    size_t body_len = 0;
    const char *body = kit_http_req_body(req, &body_len);
    json_t *obj = gw_route_check(route, body, body_len, field, sizeof field, why, sizeof why);
    if (!obj) {
        kit_http_error(req, 400, field, "%s", why);
        return;
    }
    size_t klen = gw_route_key(route, obj, key, sizeof key);
    json_decref(obj);
    json_t *rec = json_object();
    if (klen) {
        json_object_set_new(rec, "key", json_stringn(key, klen));
    }
    json_object_set_new(rec, "value", json_stringn(body, body_len));
    ((gw_hreq_t *)kit_http_req_data(req))->single = true;
    gw__produce_checked(svc, req, json_pack("[o]", rec), route->topic);
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

static void gw__stats(gw_svc_t *svc, kit_http_req_t *req)
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
    kit_http_json(req, 200, o);
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
static int gw__static(gw_svc_t *svc, kit_http_req_t *req, const char *rel)
{
    char file[2 * GW_STR_BUF + 16];
    struct stat sb;
    if (strstr(rel, "..") || strchr(rel, '?')) {
        kit_http_error(req, 404, NULL, "no file %s", kit_http_req_path(req));
        return 0;
    }
    snprintf(file, sizeof file, "%s/%s", svc->cfg->static_dir, *rel ? rel : "index.html");
    if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        kit_http_error(req, 404, NULL, "no file %s", kit_http_req_path(req));
        return 0;
    }
    return kit_http_file(req, file, gw__mime(file));
}

/* ---- routing ---- */

static int gw__on_topics(void *user, kit_http_req_t *req)
{
    gw__topics_post(user, req, kit_http_req_path(req) + strlen("/topics/"));
    return 0;
}

static int gw__on_route(void *user, kit_http_req_t *req)
{
    gw_svc_t *svc = user;
    const char *path = kit_http_req_path(req);
    for (int i = 0; i < svc->cfg->nroutes; i++) {
        if (strcmp(path, svc->cfg->routes[i].path) == 0) {
            gw__route_post(svc, req, &svc->cfg->routes[i]);
            return 0;
        }
    }
    kit_http_error(req, 404, NULL, "no route POST %s", path); /* not reached: routed by path */
    return 0;
}

static int gw__on_stats(void *user, kit_http_req_t *req)
{
    gw__stats(user, req);
    return 0;
}

static int gw__on_static(void *user, kit_http_req_t *req)
{
    gw_svc_t *svc = user;
    const char *rel = kit_http_req_path(req) + strlen(svc->cfg->static_path);
    return gw__static(svc, req, rel + (*rel == '/'));
}

int gw_http_routes(const gw_svc_t *svc, kit_http_route_t *routes, int max)
{
    const gw_cfg_t *cfg = svc->cfg;
    int n = 0;
    if (cfg->topics_api && n < max) {
        routes[n++] = (kit_http_route_t){KIT_HTTP_POST, "/topics/", true, gw__on_topics};
    }
    for (int i = 0; i < cfg->nroutes && n < max; i++) {
        routes[n++] = (kit_http_route_t){KIT_HTTP_POST, cfg->routes[i].path, false, gw__on_route};
    }
    if (n < max) {
        routes[n++] = (kit_http_route_t){KIT_HTTP_GET, "/stats", false, gw__on_stats};
    }
    if (cfg->static_dir[0] && n < max) {
        routes[n++] = (kit_http_route_t){KIT_HTTP_GET, cfg->static_path, true, gw__on_static};
    }
    return n;
}

char *gw_http_health(void *user, int *status)
{
    gw_svc_t *svc = user;
    bool ok = atomic_load(&svc->broker_ok);
    *status = ok ? 200 : 503;
    return kit_http_json_text(
        json_pack("{s:s, s:b}", "status", ok ? "ok" : "broker unreachable", "broker", ok));
}

void gw_http_done(void *user, kit_http_req_t *req)
{
    gw_svc_t *svc = user;
    gw_hreq_t *h = kit_http_req_data(req);
    if (h->post) {
        gw_post_disown(svc, h->post);
        h->post = NULL;
    }
    if (h->records || h->meta_gen) {
        gw__unwait(svc, req);
        h->meta_gen = 0;
    }
}
