/* jpipe: the pipeline stages of `sluice jobs` that are not workers: the request consumer
 * (request event -> job record -> assigned event), the completion consumer (finish, retry with
 * backoff or the error topic, webhook), the dead-letter consumer (dead + webhook), the
 * scheduler (due retries and operator re-runs, lease reaper, stuck-failure re-drive, health
 * probes, metrics counts) and the webhook sender.
 * Each consumer handles a batch in one store transaction, publishes what follows, waits for
 * acks=all, and only then marks the batch's offsets done: a crash anywhere redelivers events,
 * and every step is idempotent by (job id, attempt). Thread: one thread per stage. */
#include "jhook.h"
#include "jsvc_int.h"

#include "sl_log.h"
#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JPIPE_LOG "jobs"
#define JPIPE_POLL_MS 200
#define JPIPE_RETRY_SLEEP_MS 500 /* after a failed store commit or produce */
#define JPIPE_REAP_EVERY_MS 1000
#define JPIPE_REDRIVE_EVERY_MS 5000
#define JPIPE_REDRIVE_AGE_MS 5000
#define JPIPE_HEALTH_EVERY_MS 1000
#define JPIPE_SCAN_MAX 200
#define JPIPE_WEBHOOK_BATCH 16

/* A job bound for the error topic. */
typedef struct {
    char id[JSTORE_ID_BUF];
    int32_t attempt;
    char topic[JSVC_TOPIC_BUF];
    int32_t partition;
    int64_t offset;
} jpipe_dead_t;

static void jpipe__sleep(jsvc_t *svc, int64_t ms)
{
    for (int64_t t = 0; t < ms && !atomic_load(&svc->stop); t += 50) {
        usleep(50 * 1000);
    }
}

static void jpipe__destroy(rd_kafka_message_t **msgs, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
    }
}

static void jpipe__offsets_done(rd_kafka_t *rk, rd_kafka_message_t **msgs, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++) {
        if (!msgs[i]->err) {
            jsvc_offset_done(rk, msgs[i]);
        }
    }
}

static bool jpipe__usable(jsvc_t *svc, const rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            SL_LOGW(JPIPE_LOG, "consume: %s", rd_kafka_message_errstr(msg));
        }
        return false;
    }
    return true;
}

static void jpipe__bad(jsvc_t *svc, const rd_kafka_message_t *msg, const char *why)
{
    atomic_fetch_add(&svc->m.bad_events, 1);
    SL_LOGW(JPIPE_LOG, "skipping malformed event at %s[%d]@%lld: %s",
            rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset, why);
}

/* Runs one store batch: fn applies every message; retried whole (it is idempotent) until the
 * commit succeeds or the service stops. Returns false when stopping. */
static bool jpipe__store_batch(jsvc_t *svc, jstore_t *st,
                               void (*fn)(jsvc_t *, jstore_t *, rd_kafka_message_t **, ssize_t,
                                          void *),
                               rd_kafka_message_t **msgs, ssize_t n, void *ctx)
{
    while (!atomic_load(&svc->stop)) {
        int rc = jstore_batch_begin(st);
        if (rc == 0) {
            fn(svc, st, msgs, n, ctx);
            rc = jstore_batch_end(st);
        }
        if (rc == 0) {
            atomic_store(&svc->store_ok, true);
            return true;
        }
        atomic_store(&svc->store_ok, false);
        SL_LOGW(JPIPE_LOG, "store batch: %s; retrying", sl_strerror(rc));
        jpipe__sleep(svc, JPIPE_RETRY_SLEEP_MS);
    }
    return false;
}

/* ---- error topic ---- */

static void jpipe__hdr_be(rd_kafka_headers_t *h, const char *name, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) {
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    rd_kafka_header_add(h, name, -1, b, bytes);
}

/* Publishes one job to the error topic with Spring Kafka's dead-letter headers. */
static rd_kafka_resp_err_t jpipe__publish_dead(jsvc_t *svc, jstore_t *st, jwait_t *w,
                                               const jpipe_dead_t *d)
{
    jstore_job_t job;
    if (jstore_get(st, d->id, &job) != 0) {
        return RD_KAFKA_RESP_ERR_NO_ERROR; /* deleted meanwhile: nothing to report */
    }
    json_error_t jerr;
    json_t *payload = json_loads(job.payload ? job.payload : "null", JSON_DECODE_ANY, &jerr);
    json_t *o = json_pack("{s:s, s:i, s:s, s:o, s:o, s:o, s:o}", "id", job.id, "attempt",
                          d->attempt, "type", job.type, "payload", payload ? payload : json_null(),
                          "error", jsvc_json_text(job.last_error), "log_tail",
                          jsvc_json_text(job.log_tail), "attempts",
                          jsvc_history_json(st, job.id));
    SL_ASSERT(o);
    if (job.key) {
        json_object_set_new(o, "key", json_string(job.key));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    rd_kafka_header_add(h, "kafka_dlt-original-topic", -1, d->topic, -1);
    jpipe__hdr_be(h, "kafka_dlt-original-partition", (uint32_t)d->partition, 4);
    jpipe__hdr_be(h, "kafka_dlt-original-offset", (uint64_t)d->offset, 8);
    rd_kafka_header_add(h, "kafka_dlt-exception-fqcn", -1, "sluice.jobs.JobFailed", -1);
    rd_kafka_header_add(h, "kafka_dlt-exception-message", -1,
                        job.last_error ? job.last_error : "", -1);
    rd_kafka_header_add(h, "kafka_dlt-exception-stacktrace", -1, job.log_tail ? job.log_tail : "",
                        -1);
    char group[300], att[16];
    snprintf(group, sizeof group, "%s.workers", svc->cfg->group_prefix);
    rd_kafka_header_add(h, "kafka_dlt-original-consumer-group", -1, group, -1);
    rd_kafka_header_add(h, "sluice-job-id", -1, job.id, -1);
    snprintf(att, sizeof att, "%d", d->attempt);
    rd_kafka_header_add(h, "sluice-attempt", -1, att, -1);
    const char *key = job.key ? job.key : job.id;
    rd_kafka_resp_err_t err = jwait_produce(svc, w, svc->t_dead, RD_KAFKA_PARTITION_UA, key,
                                            strlen(key), text, strlen(text), h);
    free(text);
    jstore_job_deinit(&job);
    return err;
}

/* Publishes every entry, retrying until all are acknowledged or the service stops. */
static bool jpipe__publish_dead_all(jsvc_t *svc, jstore_t *st, const jpipe_dead_t *dead,
                                    size_t n)
{
    while (n > 0 && !atomic_load(&svc->stop)) {
        jwait_t w;
        jwait_init(&w, NULL);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (size_t i = 0; i < n && !err; i++) {
            err = jpipe__publish_dead(svc, st, &w, &dead[i]);
        }
        rd_kafka_resp_err_t werr = jwait_wait(&w);
        jwait_deinit(&w);
        err = err ? err : werr;
        if (!err) {
            atomic_fetch_add(&svc->m.dead, n);
            return true;
        }
        SL_LOGW(JPIPE_LOG, "publishing to %s: %s; retrying", svc->t_dead, rd_kafka_err2str(err));
        jpipe__sleep(svc, JPIPE_RETRY_SLEEP_MS);
    }
    return n == 0;
}

/* After attempt `attempt` of job failed: schedule the next attempt, or, with the budget spent,
 * add it to dead (cap entries) for the error topic. */
static void jpipe__after_failure(jsvc_t *svc, jstore_t *st, const jstore_job_t *job,
                                 jpipe_dead_t *dead, size_t *ndead, size_t cap,
                                 const char *topic, int32_t partition, int64_t offset)
{
    int64_t now = sl_time_wall_ms();
    int rc = jstore_schedule_retry(st, job->id, job->attempt,
                                   now + jsvc_backoff_ms(svc->cfg, job->attempt + 1), now);
    if (rc == 0) {
        atomic_fetch_add(&svc->m.retries, 1);
    } else if (rc == SL_ELIMIT && *ndead < cap) {
        jpipe_dead_t *d = &dead[(*ndead)++];
        snprintf(d->id, sizeof d->id, "%s", job->id);
        d->attempt = job->attempt;
        snprintf(d->topic, sizeof d->topic, "%s", topic ? topic : "");
        d->partition = partition;
        d->offset = offset;
    }
}

/* ---- request consumer ---- */

typedef struct {
    char (*ids)[JSTORE_ID_BUF];
    size_t n;
} jpipe_ids_t;

static int jpipe__create(jsvc_t *svc, jstore_t *st, const rd_kafka_message_t *msg,
                         char id_out[JSTORE_ID_BUF], bool *publish)
{
    json_error_t jerr;
    json_t *root = json_loadb(msg->payload, msg->len, 0, &jerr);
    jstore_new_t nj = {.src_topic = svc->t_requests,
                       .src_partition = msg->partition,
                       .src_offset = msg->offset};
    json_t *payload = NULL;
    json_int_t tmo = 0, att = 0;
    if (!root || json_unpack(root, "{s:s, s:s, s:o, s:I, s:I, s?s, s?s, s?s, s?s}", "id", &nj.id,
                             "type", &nj.type, "payload", &payload, "timeout_s", &tmo,
                             "max_attempts", &att, "key", &nj.key, "webhook", &nj.webhook,
                             "idempotency_key", &nj.idempotency_key, "submitter",
                             &nj.submitter) != 0 ||
        tmo < 1 || tmo > JSTORE_TIMEOUT_S_MAX || att < 1 || att > JSTORE_MAX_ATTEMPTS_MAX) {
        json_decref(root);
        jpipe__bad(svc, msg, "not a request event");
        return SL_ECORRUPT;
    }
    nj.timeout_s = (int32_t)tmo;
    nj.max_attempts = (int32_t)att;
    char *ptext = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    nj.payload = ptext;
    bool created = false;
    int rc = jstore_create(st, &nj, sl_time_wall_ms(), id_out, &created);
    free(ptext);
    json_decref(root);
    if (rc != 0) {
        jpipe__bad(svc, msg, sl_strerror(rc));
        return rc;
    }
    jstore_job_t job;
    *publish = created;
    if (!created && jstore_get(st, id_out, &job) == 0) {
        *publish = job.state == JSTORE_ACCEPTED;
        jstore_job_deinit(&job);
    }
    return 0;
}

static void jpipe__requests_apply(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs,
                                  ssize_t n, void *ctx)
{
    jpipe_ids_t *ids = ctx;
    ids->n = 0;
    for (ssize_t i = 0; i < n; i++) {
        bool publish = false;
        if (jpipe__usable(svc, msgs[i]) &&
            jpipe__create(svc, st, msgs[i], ids->ids[ids->n], &publish) == 0 && publish) {
            ids->n++;
        }
    }
}

static void jpipe__queued_apply(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs,
                                ssize_t n, void *ctx)
{
    jpipe_ids_t *ids = ctx;
    int64_t now = sl_time_wall_ms();
    for (size_t i = 0; i < ids->n; i++) {
        jstore_mark_queued(st, ids->ids[i], now); /* SL_EEXIST/SL_EINVAL: moved on already */
    }
}

/* Publishes the assigned events of ids until all are acknowledged; false when stopping. */
static bool jpipe__publish_assigned(jsvc_t *svc, jstore_t *st, const jpipe_ids_t *ids)
{
    while (!atomic_load(&svc->stop)) {
        jwait_t w;
        jwait_init(&w, NULL);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (size_t i = 0; i < ids->n && !err; i++) {
            jstore_job_t job;
            if (jstore_get(st, ids->ids[i], &job) == 0) {
                err = jsvc_publish_assigned(svc, &w, &job);
                jstore_job_deinit(&job);
            }
        }
        rd_kafka_resp_err_t werr = jwait_wait(&w);
        jwait_deinit(&w);
        err = err ? err : werr;
        if (!err) {
            return true;
        }
        SL_LOGW(JPIPE_LOG, "publishing to %s: %s; retrying", svc->t_assigned,
                rd_kafka_err2str(err));
        jpipe__sleep(svc, JPIPE_RETRY_SLEEP_MS);
    }
    return false;
}

typedef bool (*jpipe_batch_fn)(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs, ssize_t n);

static bool jpipe__requests_batch(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs,
                                  ssize_t n)
{
    static __thread char idbuf[JSVC_BATCH_MAX][JSTORE_ID_BUF];
    jpipe_ids_t ids = {idbuf, 0};
    return jpipe__store_batch(svc, st, jpipe__requests_apply, msgs, n, &ids) &&
           jpipe__publish_assigned(svc, st, &ids) &&
           jpipe__store_batch(svc, st, jpipe__queued_apply, msgs, n, &ids);
}

/* The consumer loop every consumer stage shares: take a batch, apply it, mark it done. */
static void *jpipe__consume(jsvc_t *svc, int stage, const char *name, const char *topic,
                            jpipe_batch_fn fn)
{
    jstore_t *st = jsvc_store_open(svc);
    if (!st) {
        atomic_store(&svc->stage_dead[stage], true);
        return NULL;
    }
    rd_kafka_t *rk = jsvc_consumer_new(svc, name, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t **msgs = calloc(JSVC_BATCH_MAX, sizeof *msgs);
    SL_ASSERT(msgs);
    while (!atomic_load(&svc->stop)) {
        jsvc_beat(svc, stage);
        ssize_t n = jsvc_take(rk, q, JPIPE_POLL_MS, msgs, JSVC_BATCH_MAX);
        if (n <= 0) {
            continue;
        }
        if (fn(svc, st, msgs, n)) {
            jpipe__offsets_done(rk, msgs, n);
        }
        jpipe__destroy(msgs, n);
    }
    free(msgs);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    jstore_close(st);
    return NULL;
}

void *jpipe_requests_main(void *arg)
{
    jsvc_t *svc = arg;
    return jpipe__consume(svc, JSVC_STAGE_REQUESTS, "requests", svc->t_requests,
                          jpipe__requests_batch);
}

/* ---- completion consumer ---- */

typedef struct {
    jpipe_dead_t *dead;
    size_t n;
} jpipe_deadlist_t;

static void jpipe__completed_one(jsvc_t *svc, jstore_t *st, const rd_kafka_message_t *msg,
                                 jpipe_deadlist_t *dl)
{
    json_error_t jerr;
    json_t *root = json_loadb(msg->payload, msg->len, 0, &jerr);
    const char *id = NULL, *error = NULL, *log_tail = NULL;
    json_t *result = NULL;
    json_int_t attempt = 0, src_part = -1, src_off = -1;
    int ok = 0;
    if (!root || json_unpack(root, "{s:s, s:I, s:b, s?o, s?s, s?s, s?I, s?I}", "id", &id,
                             "attempt", &attempt, "ok", &ok, "result", &result, "error", &error,
                             "log_tail", &log_tail, "src_partition", &src_part, "src_offset",
                             &src_off) != 0) {
        json_decref(root);
        jpipe__bad(svc, msg, "not a completion event");
        return;
    }
    jstore_job_t job;
    memset(&job, 0, sizeof job);
    if (jstore_get(st, id, &job) == 0 && job.attempt == attempt) {
        if (job.state == JSTORE_RUNNING) { /* the worker died before recording it */
            char *rtext = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            jstore_finish(st, id, (int32_t)attempt, ok, rtext, error, log_tail,
                          sl_time_wall_ms());
            free(rtext);
            jstore_job_deinit(&job);
            jstore_get(st, id, &job);
        }
        if (job.state == JSTORE_SUCCEEDED && job.webhook) {
            jstore_webhook_enqueue(st, id, job.attempt, sl_time_wall_ms());
        } else if (job.state == JSTORE_FAILED) {
            jpipe__after_failure(svc, st, &job, dl->dead, &dl->n, JSVC_BATCH_MAX,
                                 svc->t_assigned, (int32_t)src_part, src_off);
        }
    }
    if (job.id[0]) {
        jstore_job_deinit(&job);
    }
    json_decref(root);
}

static void jpipe__completed_apply(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs,
                                   ssize_t n, void *ctx)
{
    jpipe_deadlist_t *dl = ctx;
    dl->n = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (jpipe__usable(svc, msgs[i])) {
            jpipe__completed_one(svc, st, msgs[i], dl);
        }
    }
}

static bool jpipe__completed_batch(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs,
                                   ssize_t n)
{
    static __thread jpipe_dead_t deadbuf[JSVC_BATCH_MAX];
    jpipe_deadlist_t dl = {deadbuf, 0};
    return jpipe__store_batch(svc, st, jpipe__completed_apply, msgs, n, &dl) &&
           jpipe__publish_dead_all(svc, st, dl.dead, dl.n);
}

void *jpipe_completed_main(void *arg)
{
    jsvc_t *svc = arg;
    return jpipe__consume(svc, JSVC_STAGE_COMPLETED, "completed", svc->t_completed,
                          jpipe__completed_batch);
}

/* ---- dead-letter consumer ---- */

static void jpipe__dead_apply(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs, ssize_t n,
                              void *ctx)
{
    for (ssize_t i = 0; i < n; i++) {
        if (!jpipe__usable(svc, msgs[i])) {
            continue;
        }
        json_error_t jerr;
        json_t *root = json_loadb(msgs[i]->payload, msgs[i]->len, 0, &jerr);
        const char *id = NULL;
        json_int_t attempt = 0;
        if (!root || json_unpack(root, "{s:s, s:I}", "id", &id, "attempt", &attempt) != 0) {
            jpipe__bad(svc, msgs[i], "not a dead-letter event");
        } else {
            int64_t now = sl_time_wall_ms();
            int rc = jstore_mark_dead(st, id, (int32_t)attempt, now);
            if (rc == 0 || rc == SL_EEXIST) {
                jstore_webhook_enqueue(st, id, (int32_t)attempt, now); /* SL_EINVAL: none */
            }
        }
        json_decref(root);
    }
}

static bool jpipe__dead_batch(jsvc_t *svc, jstore_t *st, rd_kafka_message_t **msgs, ssize_t n)
{
    return jpipe__store_batch(svc, st, jpipe__dead_apply, msgs, n, NULL);
}

void *jpipe_dead_main(void *arg)
{
    jsvc_t *svc = arg;
    return jpipe__consume(svc, JSVC_STAGE_DEAD, "dead", svc->t_dead, jpipe__dead_batch);
}

/* ---- scheduler ---- */

static void jpipe__publish_due(jsvc_t *svc, jstore_t *st)
{
    static __thread jstore_due_t due[JPIPE_SCAN_MAX];
    size_t n = 0;
    int64_t now = sl_time_wall_ms();
    if (jstore_take_due(st, now, svc->cfg->republish_ms, due, JPIPE_SCAN_MAX, &n) != 0 ||
        n == 0) {
        return;
    }
    jwait_t w;
    jwait_init(&w, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n && !err; i++) {
        jstore_job_t job;
        if (jstore_get(st, due[i].id, &job) == 0) {
            if (job.attempt == due[i].attempt &&
                (job.state == JSTORE_QUEUED || job.state == JSTORE_RETRY_WAIT)) {
                err = jsvc_publish_assigned(svc, &w, &job);
            }
            jstore_job_deinit(&job);
        }
    }
    rd_kafka_resp_err_t werr = jwait_wait(&w);
    jwait_deinit(&w);
    if (err || werr) { /* the claims expire and the jobs come due again */
        SL_LOGW(JPIPE_LOG, "publishing due jobs: %s", rd_kafka_err2str(err ? err : werr));
    }
}

static void jpipe__reap(jsvc_t *svc, jstore_t *st)
{
    static __thread jstore_lease_t leases[JPIPE_SCAN_MAX];
    static __thread jpipe_dead_t dead[JPIPE_SCAN_MAX];
    size_t n = 0, ndead = 0;
    int ended = 0;
    if (jproc_sweep(st, &ended) != 0) {
        return; /* a dead service's job still runs: its lease must not be re-granted yet */
    }
    int64_t now = sl_time_wall_ms();
    if (jstore_expired_leases(st, now, leases, JPIPE_SCAN_MAX, &n) != 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        jstore_job_t job;
        if (jstore_reclaim_expired(st, leases[i].id, leases[i].attempt, now) != 0 ||
            jstore_get(st, leases[i].id, &job) != 0) {
            continue;
        }
        SL_LOGW(JPIPE_LOG,
                "job %s attempt %d: lease of %s expired (not renewed, no result); "
                "retrying or failing it",
                job.id, job.attempt, leases[i].owner);
        atomic_fetch_add(&svc->m.lease_expired, 1);
        jpipe__after_failure(svc, st, &job, dead, &ndead, JPIPE_SCAN_MAX, job.src_topic,
                             job.src_partition, job.src_offset);
        jstore_job_deinit(&job);
    }
    jpipe__publish_dead_all(svc, st, dead, ndead);
}

/* Failed jobs whose follow-up was lost (a crash between the two steps) get it now. */
static void jpipe__redrive(jsvc_t *svc, jstore_t *st)
{
    static __thread jstore_summary_t rows[JPIPE_SCAN_MAX];
    static __thread jpipe_dead_t dead[JPIPE_SCAN_MAX];
    jstore_cursor_t cur = {0, ""};
    size_t n = 0, ndead = 0;
    int64_t now = sl_time_wall_ms();
    if (jstore_list(st, JSTORE_FAILED, NULL, &cur, rows, JPIPE_SCAN_MAX, &n) != 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        jstore_job_t job;
        if (rows[i].updated_ms > now - JPIPE_REDRIVE_AGE_MS ||
            jstore_get(st, rows[i].id, &job) != 0) {
            continue;
        }
        if (job.state == JSTORE_FAILED) {
            jpipe__after_failure(svc, st, &job, dead, &ndead, JPIPE_SCAN_MAX, job.src_topic,
                                 job.src_partition, job.src_offset);
        }
        jstore_job_deinit(&job);
    }
    jpipe__publish_dead_all(svc, st, dead, ndead);
}

static void jpipe__probe(jsvc_t *svc, jstore_t *st)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(svc->producer, 0, NULL, &md, 1000);
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    atomic_store(&svc->broker_ok, err == RD_KAFKA_RESP_ERR_NO_ERROR);
    atomic_store(&svc->store_ok, jstore_ping(st) == 0);
    size_t n = 0;
    static __thread jstore_count_t counts[JSTORE_PAGE_MAX];
    if (jstore_counts(st, counts, JSTORE_PAGE_MAX, &n) == 0 || n == JSTORE_PAGE_MAX) {
        pthread_mutex_lock(&svc->counts_mu);
        memcpy(svc->counts, counts, n * sizeof counts[0]);
        svc->ncounts = n;
        pthread_mutex_unlock(&svc->counts_mu);
    }
}

void *jpipe_sched_main(void *arg)
{
    jsvc_t *svc = arg;
    jstore_t *st = jsvc_store_open(svc);
    if (!st) {
        atomic_store(&svc->stage_dead[JSVC_STAGE_SCHED], true);
        return NULL;
    }
    int64_t last_reap = 0, last_redrive = 0, last_probe = 0;
    while (!atomic_load(&svc->stop)) {
        jsvc_beat(svc, JSVC_STAGE_SCHED);
        int64_t now = sl_time_mono_ms();
        jpipe__publish_due(svc, st);
        if (now - last_reap >= JPIPE_REAP_EVERY_MS) {
            jpipe__reap(svc, st);
            last_reap = now;
        }
        if (now - last_redrive >= JPIPE_REDRIVE_EVERY_MS) {
            jpipe__redrive(svc, st);
            last_redrive = now;
        }
        if (now - last_probe >= JPIPE_HEALTH_EVERY_MS) {
            jpipe__probe(svc, st);
            last_probe = now;
        }
        jpipe__sleep(svc, 100);
    }
    jstore_close(st);
    return NULL;
}

/* ---- webhook dispatcher ---- */

/* Claims due deliveries from the store and hands them to the delivery pool (jhpool.c), which
 * sends them concurrently with a bound per destination host. Only as many are claimed as the
 * pool has room for; one the pool already holds, or whose host's queue is full, is left to its
 * claim (due again after it). */
void *jpipe_webhook_main(void *arg)
{
    jsvc_t *svc = arg;
    jstore_t *st = jsvc_store_open(svc);
    jhpool_t *hp = NULL;
    if (!st || jhpool_new(svc, &hp) != 0) {
        atomic_store(&svc->stage_dead[JSVC_STAGE_WEBHOOK], true);
        jstore_close(st);
        return NULL;
    }
    static __thread jstore_delivery_t due[JPIPE_WEBHOOK_BATCH];
    while (!atomic_load(&svc->stop)) {
        jsvc_beat(svc, JSVC_STAGE_WEBHOOK);
        size_t n = 0, room = SL_MIN(jhpool_room(hp), (size_t)JPIPE_WEBHOOK_BATCH);
        int64_t claim = svc->cfg->webhook_timeout_ms + 5000;
        if (room == 0 ||
            jstore_webhook_take_due(st, sl_time_wall_ms(), claim, due, room, &n) != 0 ||
            n == 0) {
            jpipe__sleep(svc, JPIPE_POLL_MS);
            continue;
        }
        size_t taken = 0;
        for (size_t i = 0; i < n; i++) {
            taken += jhpool_offer(hp, &due[i]);
        }
        if (taken == 0) {
            jpipe__sleep(svc, JPIPE_POLL_MS);
        }
    }
    jhpool_free(hp);
    jstore_close(st);
    return NULL;
}
