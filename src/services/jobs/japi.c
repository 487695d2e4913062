/* japi: the HTTP command and operator API of `sluice jobs` (kit_http, one service thread).
 *   POST   /jobs              one job (object), a JSON array or NDJSON; 202 once every request
 *                             event is acknowledged by the broker (acks=all)
 *   GET    /jobs?state=&type=&limit=&after=     paged list
 *   GET    /jobs/{id}         the job, its attempts and webhook deliveries
 *   GET    /jobs/{id}/log     the tail of the worker's log (text/plain)
 *   POST   /jobs/{id}/retry   operator re-run with a fresh attempt budget
 *   POST   /jobs/retry        the same for every job matching {"state":..,"type":..}
 *   DELETE /jobs/{id}         cancel (a running job is stopped)
 *   GET    /health, /metrics
 * Credentials (jauth.h, docs/jobs-security.md): bearer tokens checked when the request line
 * arrives, before any body is read; 401 without one, 403 with a wrong one or a role that does
 * not cover the route; an api token reads only the jobs it submitted.
 * Errors are JSON {"error": "...", "field": "..."} with 400, 404, 405, 409, 413 or 503.
 * POST /jobs is asynchronous: the delivery reports (producer thread) hand the finished request
 * back through `done` and kit_http_wake. Served by kit_http: the service thread owns every
 * connection and its store handle; `mu` guards `done` and `inflight`. */
#include "jsvc_int.h"
#include "kit_http.h"
#include "kit_listen.h"

#include "sl_log.h"
#include "sl_time.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JAPI_LOG "jobs"
#define JAPI_LIST_DEFAULT 100
#define JAPI_BULK_RETRY_MAX 10000
#define JAPI_WWW_AUTH "Bearer realm=\"sluice-jobs\""
#define JAPI_AUTH_HDR_BYTES_MAX (JAUTH_TOKEN_BYTES_MAX + 64) /* longer: a wrong token */
/* A 400's reason: room for the list of every configured type (JCFG_TYPES_MAX names). */
#define JAPI_WHY_BYTES_MAX (JCFG_TYPES_MAX * (JSTORE_TYPE_BYTES_MAX + 2) + 256)

typedef struct japi_post japi_post_t;

/* Per request (kit_http_req_data). */
typedef struct {
    japi_post_t *post;       /* POST /jobs waiting for acks */
    jauth_verdict_t verdict; /* of the Authorization header, read with the request line */
    jauth_role_t role;       /* when JAUTH_OK */
    char who[JAUTH_WHO_BUF]; /* "role:name" when JAUTH_OK, else "" */
} japi_req_t;

struct japi_post {
    jwait_t w;
    japi_t *api;
    kit_http_req_t *req; /* NULL once the connection closed */
    japi_post_t *next;
    json_t *ids;
    bool single;
};

struct japi {
    jsvc_t *svc;
    kit_http_t *http;
    jstore_t *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    japi_post_t *done;
    int inflight;
};

/* ---- POST /jobs ---- */

static bool japi__type_ok(const json_t *type)
{
    size_t tl = json_is_string(type) ? strlen(json_string_value(type)) : 0;
    bool ok = tl > 0 && tl <= JSTORE_TYPE_BYTES_MAX;
    for (size_t i = 0; ok && i < tl; i++) {
        char c = json_string_value(type)[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '_' || c == '-' || c == '.';
    }
    return ok;
}

/* A JSON object naming only fields of a job; on failure writes the field and reason. */
static bool japi__fields_known(const json_t *j, const char **field, char *why, size_t len)
{
    static const char *const known[] = {"type",         "payload",         "key",
                                        "webhook",      "timeout_s",       "max_attempts",
                                        "idempotency_key", "delay_ms",     "run_at"};
    if (!json_is_object(j)) {
        *field = "";
        snprintf(why, len, "want a JSON object");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        bool found = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(known) && !found; i++) {
            found = strcmp(k, known[i]) == 0;
        }
        if (!found) {
            *field = k;
            snprintf(why, len, "unknown field");
            return false;
        }
    }
    return true;
}

/* When a delayed job asks to start (delay_ms from now, or run_at as RFC 3339): *run_at_ms, 0
 * when it gives neither. False with the field and reason for a malformed or out-of-range one. */
static bool japi__run_at(const json_t *j, int64_t now_ms, int64_t *run_at_ms, const char **field,
                         char *why, size_t len)
{
    const json_t *delay = json_object_get(j, "delay_ms"), *at = json_object_get(j, "run_at");
    *run_at_ms = 0;
    if (delay && at) {
        *field = "run_at";
        snprintf(why, len, "give delay_ms or run_at, not both");
        return false;
    }
    if (delay) {
        json_int_t v = json_is_integer(delay) ? json_integer_value(delay) : -1;
        if (v < 0 || v > JSTORE_DELAY_MS_MAX) {
            *field = "delay_ms";
            snprintf(why, len, "want an integer in 0..%lld (ms)", (long long)JSTORE_DELAY_MS_MAX);
            return false;
        }
        *run_at_ms = v > 0 ? now_ms + v : 0;
        return true;
    }
    if (at) {
        int64_t ms = 0;
        if (!json_is_string(at) || !sl_time_parse_rfc3339(json_string_value(at), &ms) ||
            ms > now_ms + JSTORE_DELAY_MS_MAX) {
            *field = "run_at";
            snprintf(why, len, "want an RFC 3339 time with a zone (2026-12-08T09:30:00Z or "
                     "...+01:00) at most %lld days ahead",
                     (long long)(JSTORE_DELAY_MS_MAX / 86400000));
            return false;
        }
        *run_at_ms = ms > now_ms ? ms : 0; /* a time already past: at once */
    }
    return true;
}

/* Validates one job object; on failure writes the field and reason. signed_hooks: the service
 * has a webhook.secret (deliveries are signed, so a webhook without one could never succeed). */
static bool japi__job_ok(const json_t *j, bool signed_hooks, const char **field, char *why,
                         size_t len)
{
    if (!japi__fields_known(j, field, why, len)) {
        return false;
    }
    if (!japi__type_ok(json_object_get(j, "type"))) {
        *field = "type";
        snprintf(why, len, "required: a string of 1..%d characters [0-9A-Za-z_.-]",
                 JSTORE_TYPE_BYTES_MAX);
        return false;
    }
    if (!json_object_get(j, "payload")) {
        *field = "payload";
        snprintf(why, len, "required: any JSON value");
        return false;
    }
    struct {
        const char *name;
        size_t max;
    } strs[] = {{"key", JSTORE_KEY_BYTES_MAX},
                {"webhook", JSTORE_WEBHOOK_BYTES_MAX},
                {"idempotency_key", JSTORE_IDEM_KEY_BYTES_MAX}};
    for (size_t i = 0; i < SL_ARRAY_LEN(strs); i++) {
        const json_t *s = json_object_get(j, strs[i].name);
        size_t sl = json_is_string(s) ? strlen(json_string_value(s)) : 0;
        if (s && (sl == 0 || sl > strs[i].max)) {
            *field = strs[i].name;
            snprintf(why, len, "want a string of 1..%zu bytes", strs[i].max);
            return false;
        }
    }
    const json_t *hook = json_object_get(j, "webhook");
    if (hook && strncmp(json_string_value(hook), "http://", 7) != 0 &&
        strncmp(json_string_value(hook), "https://", 8) != 0) {
        *field = "webhook";
        snprintf(why, len, "want an http:// or https:// URL");
        return false;
    }
    if (hook && !signed_hooks) {
        *field = "webhook";
        snprintf(why, len, "webhooks are signed and this service has no webhook.secret set");
        return false;
    }
    struct {
        const char *name;
        json_int_t max;
    } ints[] = {{"timeout_s", JSTORE_TIMEOUT_S_MAX}, {"max_attempts", JSTORE_MAX_ATTEMPTS_MAX}};
    for (size_t i = 0; i < SL_ARRAY_LEN(ints); i++) {
        const json_t *n = json_object_get(j, ints[i].name);
        if (n && (!json_is_integer(n) || json_integer_value(n) < 1 ||
                  json_integer_value(n) > ints[i].max)) {
            *field = ints[i].name;
            snprintf(why, len, "want an integer in 1..%lld", (long long)ints[i].max);
            return false;
        }
    }
    return true;
}

/* Parses the body into an array of jobs: one object, an array, or NDJSON. */
static json_t *japi__parse_jobs(const char *body, size_t len, bool *single, char *why,
                                size_t why_len)
{
    json_error_t jerr;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) {
        i++;
    }
    *single = false;
    json_t *all = json_loadb(body, len, 0, &jerr);
    if (all && json_is_array(all)) {
        return all;
    }
    if (all && json_is_object(all)) {
        *single = true;
        json_t *arr = json_array();
        json_array_append_new(arr, all);
        return arr;
    }
    json_decref(all);
    if (i == len || body[i] != '{') {
        snprintf(why, why_len, "body: want a JSON object, an array of objects or NDJSON (%s)",
                 i == len ? "empty body" : jerr.text);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t line = 1; i < len; line++) {
        const char *nl = memchr(body + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - body) : len;
        bool blank = true;
        for (size_t k = i; k < end && blank; k++) {
            blank = body[k] == ' ' || body[k] == '\t' || body[k] == '\r';
        }
        if (!blank) {
            json_t *o = json_loadb(body + i, end - i, 0, &jerr);
            if (!o) {
                snprintf(why, why_len, "body line %zu: %s", line, jerr.text);
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, o);
        }
        i = end + 1;
    }
    return arr;
}

/* Same idempotency key and type -> same id: "k" + 32 hex of SHA-256(type NUL key). */
static void japi__idem_id(const char *type, const char *key, char id[JSTORE_ID_BUF])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t tl = strlen(type) + 1, kl = strlen(key);
    uint8_t *buf = malloc(tl + kl);
    SL_ASSERT(buf);
    memcpy(buf, type, tl);
    memcpy(buf + tl, key, kl);
    SHA256(buf, tl + kl, md);
    free(buf);
    id[0] = 'k';
    for (int i = 0; i < 16; i++) {
        snprintf(id + 1 + 2 * i, 3, "%02x", md[i]);
    }
}

static void japi__post_done(jwait_t *w)
{
    japi_post_t *post = (japi_post_t *)w;
    japi_t *api = post->api;
    pthread_mutex_lock(&api->mu);
    post->next = api->done;
    api->done = post;
    pthread_cond_broadcast(&api->cv);
    pthread_mutex_unlock(&api->mu);
    kit_http_wake(api->http);
}

/* Builds the request event of job j (validated) with id; malloc'ed text. delay_ms and run_at
 * become run_at_ms, the absolute start (left out when the job starts at once). */
static char *japi__request_event(japi_t *api, json_t *j, const char *id, const char *who)
{
    int64_t now = sl_time_wall_ms(), run_at_ms = 0;
    const char *field = NULL;
    char why[16];
    japi__run_at(j, now, &run_at_ms, &field, why, sizeof why); /* validated before */
    const jcfg_t *cfg = api->svc->cfg;
    const char *type = json_string_value(json_object_get(j, "type"));
    const jcfg_type_t *t = jcfg_type(cfg, type);
    json_t *ev = json_deep_copy(j);
    json_object_set_new(ev, "id", json_string(id));
    json_object_del(ev, "delay_ms");
    json_object_del(ev, "run_at");
    if (run_at_ms > 0) {
        json_object_set_new(ev, "run_at_ms", json_integer(run_at_ms));
    }
    if (!json_object_get(ev, "timeout_s")) {
        json_object_set_new(ev, "timeout_s", json_integer(t && t->timeout_s ? t->timeout_s
                                                                        : cfg->default_timeout_s));
    }
    if (!json_object_get(ev, "max_attempts")) {
        json_object_set_new(ev, "max_attempts",
                            json_integer(t && t->max_attempts ? t->max_attempts
                                                              : cfg->default_max_attempts));
    }
    json_object_set_new(ev, "accepted_ms", json_integer(now));
    if (who[0]) {
        json_object_set_new(ev, "submitter", json_string(who));
    }
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

/* A job type this process has no type.NAME.command for would be accepted only to fail every
 * attempt: it is refused with the configured types listed. False with why filled. */
static bool japi__type_known(const jcfg_t *cfg, const json_t *j, const char **field, char *why,
                             size_t len)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (jcfg_type(cfg, type)) {
        return true;
    }
    *field = "type";
    int w = snprintf(why, len, "unknown job type '%s'; configured types: ", type);
    for (int i = 0; i < cfg->ntypes && w >= 0 && (size_t)w < len; i++) {
        w += snprintf(why + w, len - (size_t)w, "%s%s", i ? ", " : "", cfg->types[i].name);
    }
    if (cfg->ntypes == 0 && w >= 0 && (size_t)w < len) {
        snprintf(why + w, len - (size_t)w, "none (set type.NAME.command)");
    }
    return false;
}

/* Checks every job of the batch; answers 400/413 naming the first bad field. */
static bool japi__validate(japi_t *api, kit_http_req_t *req, json_t *jobs, bool single)
{
    bool signed_hooks = api->svc->cfg->webhook_secret[0] != '\0';
    char why[JAPI_WHY_BYTES_MAX], fname[64];
    size_t n = json_array_size(jobs);
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL;
        json_t *j = json_array_get(jobs, i);
        int64_t run_at_ms = 0;
        if (!japi__job_ok(j, signed_hooks, &field, why, sizeof why) ||
            !japi__type_known(api->svc->cfg, j, &field, why, sizeof why) ||
            !japi__run_at(j, sl_time_wall_ms(), &run_at_ms, &field, why, sizeof why)) {
            if (single) {
                snprintf(fname, sizeof fname, "%s", field);
            } else {
                snprintf(fname, sizeof fname, "[%zu]%s%s", i, *field ? "." : "", field);
            }
            kit_http_error(req, 400, fname, "%s: %s", fname[0] ? fname : "job", why);
            return false;
        }
        char *ptext = json_dumps(json_object_get(j, "payload"), JSON_COMPACT | JSON_ENCODE_ANY);
        size_t plen = strlen(ptext);
        free(ptext);
        if (plen > JSTORE_PAYLOAD_BYTES_MAX) {
            kit_http_error(req, 413, "payload", "payload of job %zu: %zu bytes, limit %d", i, plen,
                        JSTORE_PAYLOAD_BYTES_MAX);
            return false;
        }
    }
    return true;
}

/* Produces one request event per job, each with its id (in post->ids); stops at the first
 * error (post->w.err). The reports arrive on post->w. */
static void japi__produce_jobs(japi_t *api, japi_post_t *post, json_t *jobs, const char *who)
{
    size_t n = json_array_size(jobs);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(jobs, i);
        const json_t *idem = json_object_get(j, "idempotency_key");
        const json_t *key = json_object_get(j, "key");
        char id[JSTORE_ID_BUF];
        if (idem) {
            japi__idem_id(json_string_value(json_object_get(j, "type")),
                          json_string_value(idem), id);
        } else if (jstore_new_id(sl_time_wall_ms(), id) != 0) {
            post->w.err = RD_KAFKA_RESP_ERR__FAIL;
            return;
        }
        json_array_append_new(post->ids, json_string(id));
        char *ev = japi__request_event(api, j, id, who);
        const char *k = key ? json_string_value(key) : id;
        rd_kafka_resp_err_t err =
            jwait_produce(api->svc, &post->w, api->svc->t_requests, RD_KAFKA_PARTITION_UA, k,
                          strlen(k), ev, strlen(ev), NULL);
        free(ev);
        if (err) {
            pthread_mutex_lock(&post->w.mu);
            post->w.err = post->w.err ? post->w.err : err;
            pthread_mutex_unlock(&post->w.mu);
            return;
        }
    }
}

static void japi__submit(japi_t *api, kit_http_req_t *req)
{
    char why[256];
    bool single = false;
    size_t body_len = 0;
    const char *body = kit_http_req_body(req, &body_len);
    json_t *jobs = japi__parse_jobs(body, body_len, &single, why, sizeof why);
    if (!jobs) {
        kit_http_error(req, 400, "body", "%s", why);
        return;
    }
    size_t n = json_array_size(jobs);
    if (n == 0 || n > (size_t)api->svc->cfg->batch_max) {
        json_decref(jobs);
        kit_http_error(req, n ? 413 : 400, "body", "want 1..%d jobs per request, got %zu",
                    api->svc->cfg->batch_max, n);
        return;
    }
    if (!japi__validate(api, req, jobs, single)) {
        json_decref(jobs);
        return;
    }
    if (!atomic_load(&api->svc->connected)) {
        json_decref(jobs); /* said once at start: one log line per refused request is noise */
        kit_http_json(req, 503, json_pack("{s:s}", "error", "broker unreachable since the start; "
                                       "retrying (see GET /health)"));
        return;
    }
    if (!atomic_load(&api->svc->broker_ok)) {
        json_decref(jobs);
        kit_http_error(req, 503, NULL, "broker %s unreachable", api->svc->cfg->brokers);
        return;
    }
    japi_post_t *post = calloc(1, sizeof *post);
    SL_ASSERT(post);
    jwait_init(&post->w, japi__post_done);
    post->api = api;
    post->req = req;
    post->single = single;
    post->ids = json_array();
    japi_req_t *jr = kit_http_req_data(req);
    jr->post = post;
    pthread_mutex_lock(&api->mu);
    api->inflight++;
    pthread_mutex_unlock(&api->mu);
    jwait_hold(&post->w);
    japi__produce_jobs(api, post, jobs, jr->who);
    json_decref(jobs);
    jwait_release(&post->w); /* the reports (or this) hand the post to japi__drain */
}

static void japi__answer_post(japi_t *api, japi_post_t *post)
{
    kit_http_req_t *req = post->req;
    ((japi_req_t *)kit_http_req_data(req))->post = NULL;
    if (post->w.err) {
        kit_http_error(req, 503, NULL, "the broker did not acknowledge the jobs: %s",
                    rd_kafka_err2str(post->w.err));
        return;
    }
    atomic_fetch_add(&api->svc->m.accepted, json_array_size(post->ids));
    json_t *o = post->single ? json_pack("{s:O}", "id", json_array_get(post->ids, 0))
                             : json_pack("{s:O, s:i}", "ids", post->ids, "count",
                                         (int)json_array_size(post->ids));
    kit_http_json(req, 202, o);
}

static void japi__post_free(japi_post_t *post)
{
    json_decref(post->ids);
    jwait_deinit(&post->w);
    free(post);
}

/* Lws thread: answers (or drops, when the client left) every finished POST /jobs. */
static void japi__drain(japi_t *api)
{
    pthread_mutex_lock(&api->mu);
    japi_post_t *list = api->done;
    api->done = NULL;
    pthread_mutex_unlock(&api->mu);
    for (japi_post_t *p = list, *next; p; p = next) {
        next = p->next;
        if (p->req) {
            japi__answer_post(api, p);
        }
        japi__post_free(p);
        pthread_mutex_lock(&api->mu);
        api->inflight--;
        pthread_cond_broadcast(&api->cv);
        pthread_mutex_unlock(&api->mu);
    }
}

/* ---- operator routes ---- */

static json_t *japi__job_json(jstore_t *st, const jstore_job_t *job)
{
    json_error_t jerr;
    json_t *payload = json_loads(job->payload ? job->payload : "null", JSON_DECODE_ANY, &jerr);
    json_t *result = job->result ? json_loads(job->result, JSON_DECODE_ANY, &jerr) : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:I, s:I}", "id", job->id,
                          "type", job->type, "state", jstore_state_name(job->state), "attempt",
                          job->attempt, "max_attempts", job->max_attempts, "timeout_s",
                          job->timeout_s, "payload", payload ? payload : json_null(), "result",
                          result ? result : json_null(), "created_ms",
                          (json_int_t)job->created_ms, "updated_ms", (json_int_t)job->updated_ms);
    struct {
        const char *name;
        const char *v;
    } opt[] = {{"key", job->key},           {"webhook", job->webhook},
               {"idempotency_key", job->idempotency_key},
               {"last_error", job->last_error}, {"lease_owner", job->lease_owner}};
    for (size_t i = 0; i < SL_ARRAY_LEN(opt); i++) {
        if (opt[i].v) {
            json_object_set_new(o, opt[i].name, jsvc_json_text(opt[i].v));
        }
    }
    json_object_set_new(o, "run_attempt", json_integer(job->attempt - job->attempt_base));
    if (job->next_attempt_at_ms && (job->state == JSTORE_QUEUED ||
                                    job->state == JSTORE_RETRY_WAIT ||
                                    job->state == JSTORE_SCHEDULED)) {
        json_object_set_new(o, "next_attempt_at_ms", json_integer(job->next_attempt_at_ms));
    }
    if (job->run_at_ms) {
        json_object_set_new(o, "run_at_ms", json_integer(job->run_at_ms));
    }
    json_object_set_new(o, "attempts", jsvc_history_json(st, job->id));
    json_t *hooks = json_array();
    for (int a = 1; job->webhook && a <= job->attempt; a++) {
        jstore_delivery_t d;
        static const char *const wh[] = {"pending", "delivered", "failed"};
        if (jstore_webhook_get(st, job->id, a, &d) == 0) {
            json_array_append_new(
                hooks, json_pack("{s:i, s:s, s:i, s:i, s:s}", "attempt", a, "status",
                                 wh[d.status], "tries", d.tries, "last_status_code",
                                 d.last_status_code, "last_error", d.last_error));
        }
    }
    json_object_set_new(o, "webhook_deliveries", hooks);
    jstore_wh_try_t *tries = job->webhook ? calloc(JSVC_HISTORY_MAX, sizeof *tries) : NULL;
    size_t nt = 0;
    json_t *tarr = json_array();
    if (tries && jstore_webhook_tries(st, job->id, tries, JSVC_HISTORY_MAX, &nt) == 0) {
        for (size_t i = 0; i < nt; i++) {
            json_array_append_new(
                tarr, json_pack("{s:i, s:i, s:I, s:b, s:i, s:s}", "attempt", tries[i].attempt,
                                "try", tries[i].try_no, "at_ms", (json_int_t)tries[i].at_ms,
                                "delivered", tries[i].delivered, "status_code",
                                tries[i].status_code, "error", tries[i].error));
        }
    }
    free(tries);
    json_object_set_new(o, "webhook_tries", tarr);
    return o;
}

static void japi__show(japi_t *api, kit_http_req_t *req, const char *id, bool log)
{
    jstore_job_t job;
    int rc = jstore_get(api->st, id, &job);
    if (rc == SL_ENOTFOUND || rc == SL_EINVAL) {
        kit_http_error(req, 404, NULL, "no job %s", id);
        return;
    }
    if (rc != 0) {
        kit_http_error(req, 503, NULL, "store: %s", sl_strerror(rc));
        return;
    }
    const japi_req_t *jr = kit_http_req_data(req);
    if (jr->verdict == JAUTH_OK && jr->role == JAUTH_API &&
        strcmp(job.submitter, jr->who) != 0) {
        jstore_job_deinit(&job); /* another token's job: as if it did not exist */
        kit_http_error(req, 404, NULL, "no job %s", id);
        return;
    }
    if (log) {
        kit_http_reply(req, 200, "text/plain; charset=utf-8",
                  sl_xstrndup(job.log_tail ? job.log_tail : "",
                              job.log_tail ? strlen(job.log_tail) : 0));
    } else {
        kit_http_json(req, 200, japi__job_json(api->st, &job));
    }
    jstore_job_deinit(&job);
}

static bool japi__filter(kit_http_req_t *req, int *state, char *type, size_t type_len)
{
    char buf[128];
    *state = -1;
    type[0] = '\0';
    const char *v = kit_http_req_arg(req, "state=", buf, sizeof buf);
    jstore_state_t s;
    if (v && !jstore_state_parse(v, &s)) {
        kit_http_error(req, 400, "state", "unknown state '%s'", v);
        return false;
    }
    *state = v ? (int)s : -1;
    v = kit_http_req_arg(req, "type=", buf, sizeof buf);
    if (v) {
        snprintf(type, type_len, "%s", v);
    }
    return true;
}

static void japi__list(japi_t *api, kit_http_req_t *req)
{
    int state;
    char type[JSTORE_TYPE_BUF + 8], buf[128];
    if (!japi__filter(req, &state, type, sizeof type)) {
        return;
    }
    int64_t limit = JAPI_LIST_DEFAULT;
    const char *v = kit_http_req_arg(req, "limit=", buf, sizeof buf);
    if (v && !sl_parse_i64(v, 1, JSTORE_PAGE_MAX, &limit)) {
        kit_http_error(req, 400, "limit", "want an integer in 1..%d", JSTORE_PAGE_MAX);
        return;
    }
    jstore_cursor_t cur = {0, ""};
    v = kit_http_req_arg(req, "after=", buf, sizeof buf);
    if (v) {
        char *dot = strchr(v, '.');
        if (!dot || sscanf(v, "%lld", (long long *)&cur.created_ms) != 1 ||
            strlen(dot + 1) > JSTORE_ID_BYTES_MAX) {
            kit_http_error(req, 400, "after", "want the next_after value of the previous page");
            return;
        }
        snprintf(cur.id, sizeof cur.id, "%s", dot + 1);
    }
    static jstore_summary_t rows[JSTORE_PAGE_MAX];
    size_t n = 0;
    int rc = jstore_list(api->st, state, type[0] ? type : NULL, &cur, rows, (size_t)limit, &n);
    if (rc != 0) {
        kit_http_error(req, 503, NULL, "store: %s", sl_strerror(rc));
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I}", "id", rows[i].id, "type",
                           rows[i].type, "state", jstore_state_name(rows[i].state), "attempt",
                           rows[i].attempt, "run_attempt", rows[i].attempt - rows[i].attempt_base,
                           "max_attempts", rows[i].max_attempts, "created_ms",
                           (json_int_t)rows[i].created_ms, "updated_ms",
                           (json_int_t)rows[i].updated_ms));
        if (rows[i].state == JSTORE_SCHEDULED) { /* when it is due */
            json_object_set_new(json_array_get(arr, i), "next_attempt_at_ms",
                                json_integer(rows[i].next_attempt_at_ms));
        }
    }
    json_t *o = json_pack("{s:o}", "jobs", arr);
    if (n == (size_t)limit) {
        char next[JSTORE_ID_BUF + 24];
        snprintf(next, sizeof next, "%lld.%s", (long long)cur.created_ms, cur.id);
        json_object_set_new(o, "next_after", json_string(next));
    }
    kit_http_json(req, 200, o);
}

static int japi__requeue(japi_t *api, const char *id, int32_t *attempt)
{
    int64_t now = sl_time_wall_ms();
    int rc = jstore_requeue_for_operator_retry(api->st, id, now, attempt);
    if (rc == 0) {
        jsvc_sched_notify(api->svc, now); /* due now: the scheduler publishes it */
    }
    return rc;
}

static void japi__retry(japi_t *api, kit_http_req_t *req, const char *id)
{
    int32_t attempt = 0;
    int rc = japi__requeue(api, id, &attempt);
    if (rc == 0) {
        kit_http_json(req, 200, json_pack("{s:s, s:s, s:i}", "id", id, "state", "queued",
                                       "attempt", attempt));
    } else if (rc == SL_ENOTFOUND || rc == SL_EINVAL) {
        jstore_job_t job;
        if (jstore_get(api->st, id, &job) != 0) {
            kit_http_error(req, 404, NULL, "no job %s", id);
            return;
        }
        kit_http_error(req, 409, NULL, "job %s is %s; only failed, dead or cancelled jobs can be "
                    "retried", id, jstore_state_name(job.state));
        jstore_job_deinit(&job);
    } else {
        kit_http_error(req, rc == SL_ELIMIT ? 409 : 503, NULL, "retry of %s: %s", id,
                    sl_strerror(rc));
    }
}

static void japi__retry_all(japi_t *api, kit_http_req_t *req)
{
    int state = JSTORE_DEAD;
    char type[JSTORE_TYPE_BUF + 8] = "";
    json_error_t jerr;
    size_t body_len = 0;
    const char *body = kit_http_req_body(req, &body_len);
    json_t *f = body_len ? json_loadb(body, body_len, 0, &jerr) : json_object();
    const char *sname = NULL, *tname = NULL;
    jstore_state_t s;
    if (!f || json_unpack(f, "{s?s, s?s}", "state", &sname, "type", &tname) != 0 ||
        (sname && !jstore_state_parse(sname, &s))) {
        json_decref(f);
        kit_http_error(req, 400, "body", "want {\"state\": \"dead\"|\"failed\"|\"cancelled\", "
                    "\"type\": \"...\"} (both optional)");
        return;
    }
    state = sname ? (int)s : JSTORE_DEAD;
    snprintf(type, sizeof type, "%s", tname ? tname : "");
    json_decref(f);
    static jstore_summary_t rows[JSTORE_PAGE_MAX];
    jstore_cursor_t cur = {0, ""};
    int retried = 0, seen = 0;
    size_t n = 0;
    do {
        if (jstore_list(api->st, state, type[0] ? type : NULL, &cur, rows, JSTORE_PAGE_MAX,
                        &n) != 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            retried += japi__requeue(api, rows[i].id, NULL) == 0;
        }
        seen += (int)n;
    } while (n == JSTORE_PAGE_MAX && seen < JAPI_BULK_RETRY_MAX);
    kit_http_json(req, 200, json_pack("{s:i}", "retried", retried));
}

static void japi__cancel(japi_t *api, kit_http_req_t *req, const char *id)
{
    jstore_state_t prev = JSTORE_STATE_COUNT;
    int rc = jstore_cancel(api->st, id, sl_time_wall_ms(), &prev);
    if (rc == 0 || rc == SL_EEXIST) {
        atomic_fetch_add(&api->svc->m.cancelled, rc == 0);
        kit_http_json(req, 200, json_pack("{s:s, s:s, s:s}", "id", id, "state", "cancelled",
                                       "previous", jstore_state_name(prev)));
    } else if (rc == SL_ENOTFOUND) {
        kit_http_error(req, 404, NULL, "no job %s", id);
    } else if (rc == SL_EINVAL && prev < JSTORE_STATE_COUNT) {
        kit_http_error(req, 409, NULL, "job %s already %s", id, jstore_state_name(prev));
    } else {
        kit_http_error(req, rc == SL_EINVAL ? 404 : 503, NULL, "cancel of %s: %s", id,
                    sl_strerror(rc));
    }
}

static char *japi__health(void *user, int *status)
{
    japi_t *api = user;
    char why[256];
    bool ok = jsvc_healthy(api->svc, why, sizeof why);
    json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "unhealthy");
    if (!ok) {
        json_object_set_new(o, "reason", json_string(why));
    }
    json_object_set_new(o, "broker", json_boolean(atomic_load(&api->svc->broker_ok)));
    json_object_set_new(o, "store", json_boolean(atomic_load(&api->svc->store_ok)));
    *status = ok ? 200 : 503;
    return kit_http_json_text(o);
}

static char *japi__metrics(void *user)
{
    return jsvc_metrics_text(((japi_t *)user)->svc);
}

/* What a route needs. */
typedef enum { JAPI_OPEN, JAPI_METRICS, JAPI_SUBMIT, JAPI_OPERATOR } japi_need_t;

/* The credentials a route needs, by method and path (unknown routes: an operator's). */
static japi_need_t japi__need(const char *m, const char *p)
{
    if (strcmp(p, "/health") == 0) {
        return JAPI_OPEN;
    }
    if (strcmp(p, "/metrics") == 0) {
        return JAPI_METRICS;
    }
    bool jobs = strcmp(p, "/jobs") == 0 || strcmp(p, "/jobs/") == 0;
    if ((jobs && strcmp(m, "POST") == 0) ||
        (strcmp(m, "GET") == 0 && strncmp(p, "/jobs/", 6) == 0 && p[6] &&
         !strchr(p + 6, '/'))) {
        return JAPI_SUBMIT; /* submit, and read a job (an api token: only its own) */
    }
    return JAPI_OPERATOR;
}

/* The verdict on the request's Authorization header (an overlong one is a wrong token). */
static void japi__auth(japi_t *api, kit_http_req_t *req, japi_req_t *jr)
{
    bool too_long = false;
    const char *hdr = kit_http_req_auth(req, &too_long);
    if (too_long || strlen(hdr) >= JAPI_AUTH_HDR_BYTES_MAX) {
        jr->verdict = JAUTH_WRONG;
    } else {
        jr->verdict = jauth_check(&api->svc->cfg->auth, hdr[0] ? hdr : NULL, &jr->role, jr->who);
    }
    if (jr->verdict != JAUTH_OK) {
        jr->who[0] = '\0';
    }
}

/* kit_http's allow: true when the request's credentials allow what the route needs; else
 * answers 401 or 403. Without api/operator tokens (allowed only on loopback) every job route
 * is open; /metrics is behind metrics.token (or an operator token) only when it is set. */
static bool japi__allowed(void *user, kit_http_req_t *req, const kit_http_route_t *route)
{
    (void)route;
    japi_t *api = user;
    japi_req_t *jr = kit_http_req_data(req);
    const char *m = kit_http_req_method(req), *p = kit_http_req_path(req);
    japi__auth(api, req, jr);
    japi_need_t need = japi__need(m, p);
    const jauth_t *auth = &api->svc->cfg->auth;
    bool gated = need == JAPI_METRICS ? jauth_role_set(auth, JAUTH_METRICS)
                                      : need != JAPI_OPEN && jauth_enabled(auth);
    if (!gated) {
        return true;
    }
    if (jr->verdict == JAUTH_MISSING) {
        kit_http_error(req, 401, NULL, "authentication required: send Authorization: Bearer "
                       "<token>");
        return false;
    }
    if (jr->verdict == JAUTH_WRONG) {
        kit_http_error(req, 403, NULL, "token not accepted");
        return false;
    }
    jauth_role_t r = jr->role;
    bool ok = r == JAUTH_OPERATOR || (need == JAPI_METRICS && r == JAUTH_METRICS) ||
              (need == JAPI_SUBMIT && r == JAUTH_API);
    if (!ok) {
        kit_http_error(req, 403, NULL, "%s %s needs %s token", m, p,
                       need == JAPI_METRICS ? "a metrics or operator" :
                       need == JAPI_SUBMIT ? "an api or operator" : "an operator");
    }
    return ok;
}

static int japi__on_submit(void *user, kit_http_req_t *req)
{
    japi__submit(user, req);
    return 0;
}

static int japi__on_list(void *user, kit_http_req_t *req)
{
    japi__list(user, req);
    return 0;
}

static int japi__on_retry_all(void *user, kit_http_req_t *req)
{
    japi__retry_all(user, req);
    return 0;
}

/* /jobs/{id}, /jobs/{id}/log, /jobs/{id}/retry. */
static int japi__on_job(void *user, kit_http_req_t *req)
{
    japi_t *api = user;
    const char *m = kit_http_req_method(req), *p = kit_http_req_path(req);
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    char id[JSTORE_ID_BUF + 1] = "";
    const char *rest = p + 6, *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash : "";
    if (idlen == 0 && !*sub) {
        kit_http_error(req, 405, NULL, "%s %s: use GET or POST", m, p); /* "/jobs/" is /jobs */
        return 0;
    }
    if (idlen > 0 && idlen <= JSTORE_ID_BYTES_MAX) {
        memcpy(id, rest, idlen);
        id[idlen] = '\0';
        if (get && (!*sub || strcmp(sub, "/log") == 0)) {
            japi__show(api, req, id, *sub != '\0');
            return 0;
        }
        if (post && strcmp(sub, "/retry") == 0) {
            japi__retry(api, req, id);
            return 0;
        }
        if (strcmp(m, "DELETE") == 0 && !*sub) {
            japi__cancel(api, req, id);
            return 0;
        }
    }
    kit_http_error(req, 404, NULL, "no route %s %s", m, p);
    return 0;
}

static const kit_http_route_t japi__routes[] = {
    {KIT_HTTP_POST, "/jobs", false, japi__on_submit},
    {KIT_HTTP_POST, "/jobs/", false, japi__on_submit},
    {KIT_HTTP_GET, "/jobs", false, japi__on_list},
    {KIT_HTTP_GET, "/jobs/", false, japi__on_list},
    {KIT_HTTP_POST, "/jobs/retry", false, japi__on_retry_all},
    {KIT_HTTP_GET | KIT_HTTP_POST | KIT_HTTP_DELETE, "/jobs/", true, japi__on_job},
};

/* A request's state goes: a POST still waiting for acks is answered to nobody. */
static void japi__on_done(void *user, kit_http_req_t *req)
{
    japi_t *api = user;
    japi_req_t *jr = kit_http_req_data(req);
    if (jr->post) {
        pthread_mutex_lock(&api->mu);
        jr->post->req = NULL;
        pthread_mutex_unlock(&api->mu);
        jr->post = NULL;
    }
}

static void japi__on_wake(void *user)
{
    japi__drain(user);
}

/* A host that only this machine reaches: 127.0.0.0/8, ::1 or localhost. */
static bool japi__loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6);
    }
    return strcmp(host, "localhost") == 0;
}

/* Without tokens the API must listen on loopback only. */
static int japi__open_ok(const jcfg_t *cfg, char *err, size_t err_len)
{
    char host[KIT_HOST_BYTES];
    int port = 0;
    if (kit_listen_parse(cfg->http_listen, host, &port, err, err_len) != 0) {
        return SL_EINVAL;
    }
    if (jauth_enabled(&cfg->auth)) {
        return 0;
    }
    if (!japi__loopback(host)) {
        snprintf(err, err_len, "http.listen=%s is not a loopback address and neither "
                 "api.token nor operator.token is set, so anyone who reaches the port could "
                 "submit and read jobs: set tokens (`openssl rand -hex 32`) or listen on "
                 "127.0.0.1", cfg->http_listen);
        return SL_EINVAL;
    }
    SL_LOGW(JAPI_LOG, "no api.token or operator.token set: the HTTP API on %s is open to "
            "every local user and process", cfg->http_listen);
    return 0;
}

int japi_start(jsvc_t *svc, japi_t **out, char *err, size_t err_len)
{
    if (japi__open_ok(svc->cfg, err, err_len) != 0) {
        return SL_EINVAL;
    }
    japi_t *api = sl_xcalloc(1, sizeof *api);
    api->svc = svc;
    pthread_mutex_init(&api->mu, NULL);
    pthread_cond_init(&api->cv, NULL);
    api->st = jsvc_store_open(svc);
    kit_http_cfg_t cfg = {
        .name = "jobs",
        .listen = svc->cfg->http_listen,
        .routes = japi__routes,
        .nroutes = (int)SL_ARRAY_LEN(japi__routes),
        .user = api,
        .body_bytes_max = svc->cfg->request_bytes_max,
        .errors = KIT_HTTP_ERRORS_ERROR,
        .www_authenticate = JAPI_WWW_AUTH,
        .rx_buf_bytes = 65536,
        .health = japi__health,
        .metrics = japi__metrics,
        .allow = japi__allowed,
        .on_wake = japi__on_wake,
        .on_done = japi__on_done,
        .req_data_bytes = sizeof(japi_req_t),
    };
    int rc = api->st ? kit_http_start(&cfg, &api->http, err, err_len) : SL_EINVAL;
    if (rc != 0) {
        if (!api->st) {
            snprintf(err, err_len, "http: cannot open the job store");
        }
        jstore_close(api->st);
        pthread_cond_destroy(&api->cv);
        pthread_mutex_destroy(&api->mu);
        free(api);
        return rc;
    }
    *out = api;
    return 0;
}

int japi_port(const japi_t *api)
{
    return kit_http_port(api->http);
}

void japi_stop(japi_t *api)
{
    pthread_mutex_lock(&api->mu);
    while (api->inflight > 0) { /* every accepted POST is answered or its client gone */
        pthread_mutex_unlock(&api->mu);
        kit_http_wake(api->http);
        usleep(10 * 1000);
        pthread_mutex_lock(&api->mu);
    }
    pthread_mutex_unlock(&api->mu);
    kit_http_stop(api->http);
    japi__drain(api);
    jstore_close(api->st);
    pthread_cond_destroy(&api->cv);
    pthread_mutex_destroy(&api->mu);
    free(api);
}
