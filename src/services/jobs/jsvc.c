/* jsvc: lifecycle of the jobs service, the shared producer and its delivery reports, consumer
 * set-up, health and metrics. Threads: one producer poller, one thread per stage, the HTTP
 * thread (japi.c); each thread opens its own store connection. */
#include "jsvc_int.h"
#include "kit_admin.h"
#include "kit_json.h"
#include "sl_prom.h"
#include "kit_rk.h"

#include "sl_fs.h"
#include "sl_log.h"
#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define JSVC_LOG "jobs"
#define JSVC_ORPHAN_ROUNDS 200 /* 10 ms apart: killed orphans get 2 s to be reaped at stop */
#define JSVC_CONNECT_BACKOFF_MIN_MS 500   /* broker unreachable at start: first retry delay */
#define JSVC_CONNECT_BACKOFF_MAX_MS 10000 /* ... doubling up to this */
#define JSVC_UNREACHABLE_LOG_MS 60000     /* "still unreachable" at most once per this */

/* ---- delivery waits ---- */

void jwait_init(jwait_t *w, void (*done)(jwait_t *w))
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->pending = 0;
    w->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    w->done = done;
}

void jwait_deinit(jwait_t *w)
{
    SL_ASSERT(w->pending == 0);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

rd_kafka_resp_err_t jwait_produce(jsvc_t *svc, jwait_t *w, const char *topic, int32_t partition,
                                  const void *key, size_t key_len, const void *val,
                                  size_t val_len, rd_kafka_headers_t *hdrs)
{
    pthread_mutex_lock(&w->mu);
    w->pending++;
    pthread_mutex_unlock(&w->mu);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        svc->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(w),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        pthread_mutex_lock(&w->mu);
        w->pending--;
        pthread_mutex_unlock(&w->mu);
        if (hdrs) {
            rd_kafka_headers_destroy(hdrs); /* on failure producev does not take them */
        }
    }
    return err;
}

void jwait_hold(jwait_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->pending++;
    pthread_mutex_unlock(&w->mu);
}

void jwait_release(jwait_t *w)
{
    pthread_mutex_lock(&w->mu);
    SL_ASSERT(w->pending > 0);
    bool last = --w->pending == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        SL_ASSERT(w->done);
        w->done(w);
    }
}

rd_kafka_resp_err_t jwait_wait(jwait_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    rd_kafka_resp_err_t err = w->err;
    w->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    pthread_mutex_unlock(&w->mu);
    return err;
}

static void jsvc__dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    jwait_t *w = msg->_private;
    SL_ASSERT(w);
    pthread_mutex_lock(&w->mu);
    if (msg->err && !w->err) {
        w->err = msg->err;
    }
    SL_ASSERT(w->pending > 0);
    bool last = --w->pending == 0;
    void (*done)(jwait_t *) = w->done;
    if (last && !done) {
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (last && done) {
        done(w); /* may free w */
    }
}

static void *jsvc__producer_main(void *arg)
{
    jsvc_t *svc = arg;
    while (!atomic_load(&svc->stop)) {
        rd_kafka_poll(svc->producer, 100);
    }
    int left = kit_rk_drain(svc->producer, (int)svc->cfg->broker_timeout_ms);
    if (left > 0) { /* every waiter got a report; what they wrote is not acknowledged */
        SL_LOGW(JSVC_LOG, "stopping: %d event(s) not acknowledged within broker.timeout.ms "
                "(%lld ms); dropped", left, (long long)svc->cfg->broker_timeout_ms);
    }
    return NULL;
}

/* ---- clients ---- */

/* librdkafka's lines about failed connections, while the service waits for its broker at
 * start, go to debug: the connect thread says it once, in one line, rate limited. */
static bool jsvc__connect_noise(const jsvc_t *svc, const char *fac)
{
    return svc && !atomic_load(&svc->connected) &&
           (strcmp(fac, "FAIL") == 0 || strcmp(fac, "ERROR") == 0);
}

static void jsvc__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level > 4) {
        return;
    }
    if (jsvc__connect_noise(rd_kafka_opaque(rk), fac)) {
        SL_LOGD(JSVC_LOG, "kafka %s: %s", fac, buf);
    } else {
        SL_LOGW(JSVC_LOG, "kafka %s: %s", fac, buf);
    }
}

/* Errors librdkafka would otherwise log itself (as "ERROR" lines); also tells the connect
 * thread that every broker is down, so it need not wait out its timeout. */
static void jsvc__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    jsvc_t *svc = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
        pthread_mutex_lock(&svc->refused_mu);
        if (!svc->refused_why[0]) {
            snprintf(svc->refused_why, sizeof svc->refused_why, "%s", reason);
        }
        pthread_mutex_unlock(&svc->refused_mu);
        atomic_store(&svc->refused, true);
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&svc->brokers_down, true);
    }
    if (jsvc__connect_noise(svc, "ERROR")) {
        SL_LOGD(JSVC_LOG, "kafka ERROR: %s", reason);
    } else {
        SL_LOGW(JSVC_LOG, "kafka ERROR: %s", reason);
    }
}

/* A client of preset with the service's settings and kv over it, and its callbacks. */
static rd_kafka_t *jsvc__client(jsvc_t *svc, kit_rk_preset_t preset, const char *const *kv,
                                char *err, size_t len)
{
    kit_rk_opts_t opts = {preset, svc->cfg->brokers, "sluice-jobs", NULL, kv, &svc->cfg->kafka};
    rd_kafka_conf_t *conf;
    if (kit_rk_conf_new(&opts, &conf, err, len) != 0) {
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, jsvc__log_cb);
    rd_kafka_conf_set_error_cb(conf, jsvc__error_cb);
    rd_kafka_conf_set_opaque(conf, svc);
    if (preset == KIT_RK_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(conf, jsvc__dr);
    }
    return kit_rk_new(preset, conf, err, len);
}

static int jsvc__producer_new(jsvc_t *svc, char *err, size_t len)
{
    char tmo[32];
    snprintf(tmo, sizeof tmo, "%lld", (long long)svc->cfg->broker_timeout_ms);
    /* The idempotent preset: a retried request never writes a job event twice. */
    const char *kv[] = {"linger.ms", "0", "message.timeout.ms", tmo, NULL};
    svc->producer = jsvc__client(svc, KIT_RK_PRODUCER, kv, err, len);
    return svc->producer ? 0 : SL_EINVAL;
}

rd_kafka_t *jsvc_consumer_new(jsvc_t *svc, const char *stage, const char *topic)
{
    char err[512], group[300];
    snprintf(group, sizeof group, "%s.%s", svc->cfg->group_prefix, stage);
    /* Unlike the preset, auto commit is on: it commits every 500 ms what jsvc_offset_done
     * stored (offsets are still stored by hand, as the preset has it). Bounded prefetch (memory
     * stays bounded while workers are busy) and short long-polls so a resumed partition is
     * fetched again at once. */
    const char *kv[] = {"group.id", group, "enable.auto.commit", "true",
                        "auto.commit.interval.ms", "500", "auto.offset.reset", "earliest",
                        "session.timeout.ms", "6000", "heartbeat.interval.ms", "1000",
                        "queued.max.messages.kbytes", "4096", "fetch.wait.max.ms", "100", NULL};
    rd_kafka_t *rk = jsvc__client(svc, KIT_RK_CONSUMER, kv, err, sizeof err);
    SL_ASSERT(rk); /* the settings above are fixed and valid; the producer, made first, was
                      made of the same kafka.* settings */
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    SL_ASSERT(rerr == RD_KAFKA_RESP_ERR_NO_ERROR);
    return rk;
}

ssize_t jsvc_take(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms, rd_kafka_message_t **msgs,
                  size_t max)
{
    if (max == 0) {
        return 0;
    }
    msgs[0] = rd_kafka_consumer_poll(rk, timeout_ms);
    if (!msgs[0]) {
        return 0;
    }
    ssize_t more = max > 1 ? rd_kafka_consume_batch_queue(q, 0, msgs + 1, max - 1) : 0;
    return 1 + (more > 0 ? more : 0);
}

void jsvc_offset_done(rd_kafka_t *rk, const rd_kafka_message_t *msg)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
        msg->offset + 1;
    rd_kafka_offsets_store(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void jsvc_beat(jsvc_t *svc, int stage)
{
    atomic_store(&svc->stage_beat_ms[stage], sl_time_mono_ms());
}

jstore_t *jsvc_store_open(jsvc_t *svc)
{
    jstore_t *st = NULL;
    int rc = jstore_open(svc->cfg->store_path, &st);
    if (rc != 0) {
        SL_LOGE(JSVC_LOG, "store %s: %s", svc->cfg->store_path, sl_strerror(rc));
        return NULL;
    }
    return st;
}

rd_kafka_resp_err_t jsvc_publish_assigned(jsvc_t *svc, jwait_t *w, const jstore_job_t *job)
{
    char *text = jevt_assigned(job);
    const char *key = job->key ? job->key : job->id;
    rd_kafka_resp_err_t err = jwait_produce(svc, w, svc->t_assigned, RD_KAFKA_PARTITION_UA, key,
                                            strlen(key), text, strlen(text), NULL);
    free(text);
    return err;
}

int64_t jsvc_backoff_ms(const jcfg_t *cfg, int next)
{
    int64_t d = cfg->retry_base_ms;
    for (int i = 2; i < next && d < cfg->retry_max_ms; i++) {
        d *= 2;
    }
    d = SL_MIN(d, cfg->retry_max_ms);
    uint32_t r = 0;
    if (cfg->retry_jitter_pct > 0 && getrandom(&r, sizeof r, 0) == (ssize_t)sizeof r) {
        int64_t span = d * cfg->retry_jitter_pct / 100;
        d += span > 0 ? (int64_t)(r % (uint64_t)(2 * span + 1)) - span : 0;
    }
    return SL_MAX(d, 1);
}

/* ---- topics ---- */

/* Gives the first topic creation up early: every broker refused or dropped the connection
 * (librdkafka said so since the producer started), or the service stops. */
static bool jsvc__give_up_first(void *arg)
{
    jsvc_t *svc = arg;
    return atomic_load(&svc->brokers_down) || atomic_load(&svc->refused) ||
           atomic_load(&svc->stop_input);
}

/* Retries wait out their timeout (a broker that comes up meanwhile is used at once): there is
 * no "broker up" event that would clear brokers_down. */
static bool jsvc__give_up_retry(void *arg)
{
    jsvc_t *svc = arg;
    return atomic_load(&svc->refused) || atomic_load(&svc->stop_input);
}

/* Creates the service's topics (the first call at start gives up as soon as every broker is
 * known down). SL_ECLOSED: unreachable, with the reason in err; SL_EINVAL: a topic or the
 * client's security settings were refused (retrying cannot help). */
static int jsvc__create_topics(jsvc_t *svc, bool first, char *err, size_t len)
{
    const char *names[] = {svc->t_requests, svc->t_assigned, svc->t_completed, svc->t_dead};
    rd_kafka_NewTopic_t *nt[4];
    char errstr[256];
    for (int i = 0; i < 4; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], svc->cfg->partitions, 1, errstr, sizeof errstr);
        SL_ASSERT(nt[i]);
    }
    int rc = kit_create_topics_until(svc->producer, nt, 4, (int)svc->cfg->broker_timeout_ms,
                                     svc->cfg->brokers,
                                     first ? jsvc__give_up_first : jsvc__give_up_retry, svc, err,
                                     len);
    if (rc == SL_ECLOSED && atomic_load(&svc->refused)) {
        pthread_mutex_lock(&svc->refused_mu);
        snprintf(err, len, "broker at %s refused the client's security settings (kafka.*): %s",
                 svc->cfg->brokers, svc->refused_why);
        pthread_mutex_unlock(&svc->refused_mu);
        rc = SL_EINVAL;
    } else if (rc == SL_ECLOSED) {
        if (atomic_load(&svc->brokers_down)) {
            snprintf(err, len, "it refused or dropped the connection");
        } else {
            snprintf(err, len, "no answer within %lld ms (broker.timeout.ms)",
                     (long long)svc->cfg->broker_timeout_ms);
        }
    }
    return rc;
}

/* ---- health and metrics ---- */

static const char *const jsvc__stage_names[JSVC_STAGE_COUNT] = {
    "request consumer", "completion consumer", "dead-letter consumer", "scheduler",
    "webhook sender", "worker pool"};

bool jsvc_healthy(jsvc_t *svc, char *why, size_t len)
{
    int64_t now = sl_time_mono_ms();
    for (int i = 0; i < JSVC_STAGE_COUNT; i++) {
        if (!svc->stage_started[i]) {
            continue;
        }
        if (atomic_load(&svc->stage_dead[i])) {
            snprintf(why, len, "%s stopped", jsvc__stage_names[i]);
            return false;
        }
        int64_t stall = JSVC_STALL_MS + (i == JSVC_STAGE_WEBHOOK ? svc->cfg->webhook_timeout_ms : 0);
        if (now - atomic_load(&svc->stage_beat_ms[i]) > stall) {
            snprintf(why, len, "%s stalled", jsvc__stage_names[i]);
            return false;
        }
    }
    if (!atomic_load(&svc->connected)) {
        snprintf(why, len, "broker at %s unreachable; retrying (jobs are refused until it "
                 "answers)", svc->cfg->brokers);
        return false;
    }
    if (!atomic_load(&svc->broker_ok)) {
        snprintf(why, len, "broker %s unreachable", svc->cfg->brokers);
        return false;
    }
    if (!atomic_load(&svc->store_ok)) {
        snprintf(why, len, "store %s not writable", svc->cfg->store_path);
        return false;
    }
    why[0] = '\0';
    return true;
}

static const double jsvc__bounds[JSVC_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                       1,     2.5,  5,     10,   30,  60,   300};

void jsvc_hist_observe(jsvc_hist_t *h, int64_t us)
{
    sl_hist_observe(h, jsvc__bounds, JSVC_HIST_BUCKETS, us);
}

static void jsvc__counter(sl_text_t *t, const char *name, const char *help,
                          atomic_uint_fast64_t *v)
{
    sl_prom_metric(t, "counter", name, help, "", atomic_load(v));
}

/* A counter with two labelled series. */
static void jsvc__counter2(sl_text_t *t, const char *name, const char *help, const char *l1,
                           atomic_uint_fast64_t *v1, const char *l2, atomic_uint_fast64_t *v2)
{
    sl_text_put(t, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %llu\n%s{%s} %llu\n", name, help,
                 name, name, l1, (unsigned long long)atomic_load(v1), name, l2,
                 (unsigned long long)atomic_load(v2));
}

json_t *jsvc_json_text(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j) {
        return j;
    }
    size_t n = strlen(s), used = 0;
    char *buf = sl_xmalloc(3 * n + 1);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t seq = kit_json_utf8_len(p + i, n - i);
        if (seq > 0) {
            memcpy(buf + used, p + i, seq);
            used += seq;
            i += seq;
        } else {
            memcpy(buf + used, "\xef\xbf\xbd", 3); /* U+FFFD */
            used += 3;
            i++;
        }
    }
    buf[used] = '\0';
    j = json_string(buf);
    free(buf);
    SL_ASSERT(j); /* valid UTF-8 by construction */
    return j;
}

json_t *jsvc_history_json(jstore_t *st, const char *id)
{
    jstore_attempt_t *hist = calloc(JSVC_HISTORY_MAX, sizeof *hist);
    SL_ASSERT(hist);
    size_t n = 0;
    json_t *arr = json_array();
    if (jstore_attempts(st, id, hist, JSVC_HISTORY_MAX, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(
                arr, json_pack("{s:i, s:I, s:I, s:s, s:o}", "attempt", hist[i].attempt,
                               "started_ms", (json_int_t)hist[i].started_ms, "finished_ms",
                               (json_int_t)hist[i].finished_ms, "outcome", hist[i].outcome,
                               "error", jsvc_json_text(hist[i].error)));
        }
    }
    free(hist);
    return arr;
}

char *jsvc_metrics_text(jsvc_t *svc)
{
    sl_text_t t;
    sl_text_init(&t);
    sl_text_put(&t, "# HELP sluice_jobs Jobs in the store by type and state.\n"
                     "# TYPE sluice_jobs gauge\n");
    pthread_mutex_lock(&svc->counts_mu);
    for (size_t i = 0; i < svc->ncounts; i++) {
        sl_text_put(&t, "sluice_jobs{type=\"%s\",state=\"%s\"} %lld\n", svc->counts[i].type,
                     jstore_state_name(svc->counts[i].state), (long long)svc->counts[i].count);
    }
    pthread_mutex_unlock(&svc->counts_mu);
    jsvc_metrics_t *m = &svc->m;
    jsvc__counter(&t, "sluice_jobs_accepted_total", "Jobs accepted by the HTTP API.",
                  &m->accepted);
    jsvc__counter2(&t, "sluice_jobs_finished_total", "Attempts finished by this process's workers.",
                   "outcome=\"succeeded\"", &m->completed_ok, "outcome=\"failed\"",
                   &m->completed_failed);
    jsvc__counter(&t, "sluice_jobs_retries_total", "Retries scheduled.", &m->retries);
    jsvc__counter(&t, "sluice_jobs_dead_total", "Jobs sent to the error topic.", &m->dead);
    jsvc__counter(&t, "sluice_jobs_lease_expired_total", "Attempts reclaimed by lease expiry.",
                  &m->lease_expired);
    jsvc__counter(&t, "sluice_jobs_bad_events_total", "Malformed events skipped.",
                  &m->bad_events);
    jsvc__counter2(&t, "sluice_webhook_deliveries_total", "Webhook delivery tries.",
                   "result=\"ok\"", &m->webhook_ok, "result=\"failed\"", &m->webhook_failed);
    sl_text_put(&t, "# HELP sluice_jobs_queue_lag Assigned events not yet taken by this "
                     "process's workers.\n# TYPE sluice_jobs_queue_lag gauge\n"
                     "sluice_jobs_queue_lag %lld\n",
                 (long long)atomic_load(&m->queue_lag));
    sl_prom_hist(&t, "sluice_job_run_seconds", "Worker run time of an attempt.", &m->run,
                  jsvc__bounds, JSVC_HIST_BUCKETS);
    sl_prom_hist(&t, "sluice_job_latency_seconds", "From acceptance to the end of the attempt.",
                  &m->e2e, jsvc__bounds, JSVC_HIST_BUCKETS);
    return t.p;
}

/* ---- lifecycle ---- */

static int jsvc__thread(jsvc_t *svc, int stage, void *(*fn)(void *))
{
    jsvc_beat(svc, stage);
    if (pthread_create(&svc->stage_thread[stage], NULL, fn, svc) != 0) {
        return SL_ENOMEM;
    }
    svc->stage_started[stage] = true;
    return 0;
}

/* The stages that need the broker: the pipeline and the worker pool. */
static int jsvc__start_work(jsvc_t *svc, char *err, size_t len)
{
    const jcfg_t *cfg = svc->cfg;
    int rc = 0;
    if (cfg->roles_pipeline) {
        rc = jsvc__thread(svc, JSVC_STAGE_REQUESTS, jpipe_requests_main);
        rc = rc ? rc : jsvc__thread(svc, JSVC_STAGE_COMPLETED, jpipe_completed_main);
        rc = rc ? rc : jsvc__thread(svc, JSVC_STAGE_DEAD, jpipe_dead_main);
        rc = rc ? rc : jsvc__thread(svc, JSVC_STAGE_SCHED, jpipe_sched_main);
        rc = rc ? rc : jsvc__thread(svc, JSVC_STAGE_WEBHOOK, jpipe_webhook_main);
    }
    if (rc == 0 && cfg->roles_workers) {
        rc = jproc_new(cfg->store_path, &svc->procs);
        rc = rc ? rc : jpool_new(svc, &svc->pool);
        rc = rc ? rc : jsvc__thread(svc, JSVC_STAGE_POOL, jpool_main);
    }
    if (rc != 0) {
        snprintf(err, len, "starting stages: %s", sl_strerror(rc));
    }
    return rc;
}

/* Sleeps ms, or less once the service stops. */
static void jsvc__nap(jsvc_t *svc, int64_t ms)
{
    for (int64_t t = 0; t < ms && !atomic_load(&svc->stop_input); t += 50) {
        usleep(50 * 1000);
    }
}

/* Connect thread: the broker was unreachable at start. Retries the topic creation with
 * backoff (saying so again at most every JSVC_UNREACHABLE_LOG_MS), then starts the stages. */
static void *jsvc__connect_main(void *arg)
{
    jsvc_t *svc = arg;
    char err[512];
    int64_t backoff = JSVC_CONNECT_BACKOFF_MIN_MS, since = sl_time_mono_ms(), logged = since;
    for (int tries = 2; !atomic_load(&svc->stop_input); tries++) {
        jsvc__nap(svc, backoff);
        if (atomic_load(&svc->stop_input)) {
            break;
        }
        int rc = jsvc__create_topics(svc, false, err, sizeof err);
        int64_t now = sl_time_mono_ms();
        if (rc == 0) {
            atomic_store(&svc->broker_ok, true);
            atomic_store(&svc->connected, true);
            SL_LOGI(JSVC_LOG, "broker at %s answered after %d tries (%.1f s): starting",
                    svc->cfg->brokers, tries, (double)(now - since) / 1000.0);
            rc = jsvc__start_work(svc, err, sizeof err);
        }
        if (rc != 0 && rc != SL_ECLOSED) {
            SL_LOGE(JSVC_LOG, "%s", err);
            atomic_store(&svc->connect_failed, true);
        }
        if (rc != SL_ECLOSED) {
            break;
        }
        if (now - logged >= JSVC_UNREACHABLE_LOG_MS) {
            SL_LOGW(JSVC_LOG, "broker at %s still unreachable (%d tries over %.0f s): %s",
                    svc->cfg->brokers, tries, (double)(now - since) / 1000.0, err);
            logged = now;
        }
        backoff = SL_MIN(backoff * 2, JSVC_CONNECT_BACKOFF_MAX_MS);
    }
    return NULL;
}

/* The first topic creation failed for want of a broker: serve HTTP (health and submissions
 * answer 503) and let the connect thread retry. */
static int jsvc__start_unconnected(jsvc_t *svc, const char *why, char *err, size_t len)
{
    atomic_store(&svc->broker_ok, false);
    SL_LOGW(JSVC_LOG, "broker at %s unreachable: %s; retrying with backoff, and meanwhile GET "
            "/health and POST /jobs answer 503", svc->cfg->brokers, why);
    int rc = svc->cfg->roles_api ? japi_start(svc, &svc->api, err, len) : 0;
    if (rc == 0 && pthread_create(&svc->connect_thread, NULL, jsvc__connect_main, svc) != 0) {
        snprintf(err, len, "starting the connect thread failed");
        rc = SL_ENOMEM;
    }
    svc->connect_started = rc == 0;
    return rc;
}

/* Before any lease is granted: end the worker groups a crashed predecessor left, and become
 * the subreaper of this process's job trees. */
static int jsvc__sweep_at_start(jsvc_t *svc, jstore_t *st, char *err, size_t err_len)
{
    int ended = 0;
    int rc = jproc_sweep(st, &ended);
    if (rc != 0) {
        snprintf(err, err_len, "ending worker processes left by a previous run: %s",
                 sl_strerror(rc));
        return rc;
    }
    if (ended > 0) {
        SL_LOGI(JSVC_LOG, "cleared %d worker group record(s) left by a previous run", ended);
    }
    if (svc->cfg->roles_workers && jrun_set_subreaper() != 0) {
        SL_LOGW(JSVC_LOG, "PR_SET_CHILD_SUBREAPER failed: orphans of jobs re-parent to init");
    }
    return 0;
}

static void jsvc__locks_destroy(jsvc_t *svc)
{
    pthread_mutex_destroy(&svc->counts_mu);
    pthread_mutex_destroy(&svc->refused_mu);
    pthread_mutex_destroy(&svc->sched_mu);
    pthread_cond_destroy(&svc->sched_cv);
}

int jsvc_start(const jcfg_t *cfg, jsvc_t **out, char *err, size_t err_len)
{
    jsvc_t *svc = calloc(1, sizeof *svc);
    SL_ASSERT(svc);
    svc->cfg = cfg;
    pthread_mutex_init(&svc->counts_mu, NULL);
    pthread_mutex_init(&svc->refused_mu, NULL);
    pthread_mutex_init(&svc->sched_mu, NULL);
    pthread_cond_init(&svc->sched_cv, NULL);
    svc->sched_notified_ms = INT64_MAX;
    snprintf(svc->t_requests, JSVC_TOPIC_BUF, "%s.requests", cfg->prefix);
    snprintf(svc->t_assigned, JSVC_TOPIC_BUF, "%s.assigned", cfg->prefix);
    snprintf(svc->t_completed, JSVC_TOPIC_BUF, "%s.completed", cfg->prefix);
    snprintf(svc->t_dead, JSVC_TOPIC_BUF, "%s.dead", cfg->prefix);
    atomic_store(&svc->broker_ok, true);
    atomic_store(&svc->store_ok, true);
    jstore_t *st = NULL;
    char dir[JCFG_STR_BYTES_MAX];
    snprintf(dir, sizeof dir, "%s", cfg->store_path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = sl_fs_mkdirs(dir);
    }
    rc = rc ? rc : jstore_open(cfg->store_path, &st); /* creates and migrates first */
    if (rc == 0 && (cfg->roles_workers || cfg->roles_pipeline)) {
        rc = jsvc__sweep_at_start(svc, st, err, err_len);
    } else if (rc != 0) {
        snprintf(err, err_len, "store %s: %s", cfg->store_path, sl_strerror(rc));
    }
    if (rc != 0) {
        jsvc__locks_destroy(svc);
        free(svc);
        return rc;
    }
    jstore_close(st);
    rc = jsvc__producer_new(svc, err, err_len);
    if (rc == 0 && pthread_create(&svc->producer_thread, NULL, jsvc__producer_main, svc) != 0) {
        rd_kafka_destroy(svc->producer);
        rc = SL_ENOMEM;
    }
    if (rc != 0) {
        jsvc__locks_destroy(svc);
        free(svc);
        return rc;
    }
    rc = jsvc__create_topics(svc, true, err, err_len);
    if (rc == 0) {
        atomic_store(&svc->connected, true);
        rc = jsvc__start_work(svc, err, err_len);
        rc = rc == 0 && cfg->roles_api ? japi_start(svc, &svc->api, err, err_len) : rc;
    } else if (rc == SL_ECLOSED) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        rc = jsvc__start_unconnected(svc, why, err, err_len);
    }
    if (rc != 0) {
        jsvc_stop(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

int jsvc_http_port(const jsvc_t *svc)
{
    return svc->api ? japi_port(svc->api) : 0;
}

bool jsvc_alive(const jsvc_t *svc)
{
    if (atomic_load(&svc->connect_failed)) {
        return false;
    }
    for (int i = 0; i < JSVC_STAGE_COUNT; i++) {
        if (svc->stage_started[i] && atomic_load(&svc->stage_dead[i])) {
            return false;
        }
    }
    return true;
}

void jsvc_stop(jsvc_t *svc)
{
    atomic_store(&svc->stop_input, true);
    if (svc->connect_started) {
        pthread_join(svc->connect_thread, NULL); /* it starts no stage once stopping */
        svc->connect_started = false;
    }
    if (svc->api) {
        japi_stop(svc->api); /* no new jobs; in-flight requests answered first */
        svc->api = NULL;
    }
    if (svc->stage_started[JSVC_STAGE_POOL]) {
        pthread_join(svc->stage_thread[JSVC_STAGE_POOL], NULL); /* drains running jobs */
        svc->stage_started[JSVC_STAGE_POOL] = false;
    }
    atomic_store(&svc->stop, true);
    jsvc_sched_notify(svc, INT64_MIN); /* the scheduler leaves its wait */
    for (int i = 0; i < JSVC_STAGE_COUNT; i++) {
        if (svc->stage_started[i]) {
            pthread_join(svc->stage_thread[i], NULL);
        }
    }
    jpool_free(svc->pool);
    jproc_free(svc->procs);
    for (int i = 0; i < JSVC_ORPHAN_ROUNDS && jrun_reap_orphans(true) > 0; i++) {
        usleep(10 * 1000); /* killed orphans of job trees: reap them before leaving */
    }
    jrun_reap_orphans(true);
    pthread_join(svc->producer_thread, NULL);
    rd_kafka_destroy(svc->producer);
    jsvc__locks_destroy(svc);
    free(svc);
}

void jsvc_sched_notify(jsvc_t *svc, int64_t due_ms)
{
    if (due_ms == INT64_MAX) {
        return;
    }
    pthread_mutex_lock(&svc->sched_mu);
    if (due_ms < svc->sched_notified_ms) {
        svc->sched_notified_ms = due_ms;
        pthread_cond_signal(&svc->sched_cv);
    }
    pthread_mutex_unlock(&svc->sched_mu);
}

void jsvc_sched_reset(jsvc_t *svc)
{
    pthread_mutex_lock(&svc->sched_mu);
    svc->sched_notified_ms = INT64_MAX;
    pthread_mutex_unlock(&svc->sched_mu);
}

void jsvc_sched_wait(jsvc_t *svc, int64_t due_ms, int64_t tick_mono_ms)
{
    pthread_mutex_lock(&svc->sched_mu);
    while (!atomic_load(&svc->stop)) {
        int64_t now = sl_time_wall_ms(), target = SL_MIN(due_ms, svc->sched_notified_ms);
        if (target <= now) {
            break;
        }
        int64_t wait_ms = SL_MIN(target - now, tick_mono_ms - sl_time_mono_ms());
        if (wait_ms <= 0) {
            break;
        }
        int64_t until_ms = now + wait_ms; /* the condition variable's clock: CLOCK_REALTIME */
        struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000};
        pthread_cond_timedwait(&svc->sched_cv, &svc->sched_mu, &ts);
    }
    pthread_mutex_unlock(&svc->sched_mu);
}
