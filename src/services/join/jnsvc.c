/* jnsvc: lifecycle of the join service, its Kafka clients, topic checks and creation, the
 * state machine, health and metrics. Threads: the processing thread (jnproc.c) owns the
 * consumers, the producer's delivery reports and the stores; the HTTP thread (jnhttp.c) reads
 * only atomics and the mutex-guarded last error. */
#include "jnsvc_int.h"
#include "kit_admin.h"
#include "kit_rk.h"
#include "kit_prom.h"

#include "sl_log.h"
#include "sl_time.h"

#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JN_LOG "join"

static const char *const jn__state_names[] = {
    [JN_CREATED] = "CREATED",
    [JN_REBALANCING] = "REBALANCING",
    [JN_RUNNING] = "RUNNING",
    [JN_PENDING_SHUTDOWN] = "PENDING_SHUTDOWN",
    [JN_NOT_RUNNING] = "NOT_RUNNING",
    [JN_PENDING_ERROR] = "PENDING_ERROR",
    [JN_ERROR] = "ERROR",
};

const char *jn_state_name(jn_state_t state)
{
    SL_ASSERT((size_t)state < SL_ARRAY_LEN(jn__state_names));
    return jn__state_names[state];
}

jn_state_t jnsvc_state(const jnsvc_t *svc)
{
    return (jn_state_t)atomic_load(&svc->state);
}

/* Kafka Streams' transitions: errors and shutdown are terminal paths; ERROR is never left. */
static bool jn__transition_ok(jn_state_t from, jn_state_t to)
{
    switch (to) {
    case JN_REBALANCING:
    case JN_RUNNING:
        return from == JN_CREATED || from == JN_REBALANCING || from == JN_RUNNING;
    case JN_PENDING_SHUTDOWN:
        return from != JN_NOT_RUNNING && from != JN_PENDING_ERROR && from != JN_ERROR;
    case JN_NOT_RUNNING:
        return from == JN_PENDING_SHUTDOWN;
    case JN_PENDING_ERROR:
        return from != JN_NOT_RUNNING && from != JN_ERROR;
    case JN_ERROR:
        return from == JN_PENDING_ERROR;
    case JN_CREATED:
        return false;
    }
    return false;
}

void jnsvc_set_state(jnsvc_t *svc, jn_state_t to)
{
    int from = atomic_load(&svc->state);
    while (jn__transition_ok((jn_state_t)from, to) &&
           !atomic_compare_exchange_weak(&svc->state, &from, (int)to)) {
    }
    if (from != (int)to && jn__transition_ok((jn_state_t)from, to)) {
        SL_LOGI(JN_LOG, "state %s -> %s", jn_state_name((jn_state_t)from), jn_state_name(to));
    }
}

void jnsvc_error(jnsvc_t *svc, const char *fmt, ...)
{
    char msg[JN_ERROR_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    SL_LOGE(JN_LOG, "%s", msg);
    pthread_mutex_lock(&svc->mu);
    memcpy(svc->last_error, msg, sizeof msg);
    pthread_mutex_unlock(&svc->mu);
}

void jnsvc_beat(jnsvc_t *svc)
{
    atomic_store(&svc->beat_ms, sl_time_mono_ms());
}

/* ---- clients ---- */

static void jn__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 4) {
        SL_LOGW(JN_LOG, "kafka %s: %s", fac, buf);
    }
}

/* Statistics (every second): a broker (nodeid >= 0) in state UP proves it reachable; the
 * consumer's partitions give the lag. */
static int jn__stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    jnsvc_t *svc = opaque;
    json_error_t jerr;
    json_t *o = json_loadb(json, json_len, 0, &jerr);
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(o, "brokers"), name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (json_integer_value(json_object_get(b, "nodeid")) >= 0 && state &&
            strcmp(state, "UP") == 0) {
            atomic_store(&svc->broker_ok_ms, sl_time_mono_ms());
        }
    }
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER && rk == svc->consumer) {
        int64_t lag = 0;
        json_t *t, *p;
        const char *pname;
        json_object_foreach(json_object_get(o, "topics"), name, t) {
            json_object_foreach(json_object_get(t, "partitions"), pname, p) {
                json_int_t l = json_integer_value(json_object_get(p, "consumer_lag"));
                lag += strcmp(pname, "-1") != 0 && l > 0 ? l : 0;
            }
        }
        atomic_store(&svc->m.lag, lag);
    }
    json_decref(o);
    return 0; /* librdkafka frees json */
}

/* A configuration of preset: its client.id and kv over the preset and the join's common
 * settings, the service's kafka.* settings, and the callbacks every client has. */
static rd_kafka_conf_t *jn__conf(jnsvc_t *svc, kit_rk_preset_t preset, const char *id,
                                 const char *const *kv, char *err, size_t len)
{
    static const char *const all[] = {"statistics.interval.ms", "1000",
                                      "reconnect.backoff.max.ms", "1000", NULL};
    kit_rk_opts_t opts = {preset, svc->cfg->brokers, id, all, kv, &svc->cfg->kafka};
    rd_kafka_conf_t *conf;
    if (kit_rk_conf_new(&opts, &conf, err, len) != 0) {
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, jn__log_cb);
    rd_kafka_conf_set_stats_cb(conf, jn__stats_cb);
    rd_kafka_conf_set_opaque(conf, svc);
    return conf;
}

/* The in-flight bound (docs/join.md, "Memory"): the producer holds at most
 * JN_INFLIGHT_BATCHES x batch.max.bytes of produced records not yet acknowledged (librdkafka
 * counts a message from produce to its delivery report, and a full queue makes jn__produce
 * wait for acknowledgements), but never less than two records of message.max.bytes, so that
 * one record always fits. The consumers keep librdkafka's prefetch bound (64 MiB): a smaller
 * one stalls fetching (docs/join.md). */
static int jn__bound_inflight(jnsvc_t *svc, rd_kafka_conf_t *conf, char *err, size_t len)
{
    char val[32];
    size_t val_len = sizeof val;
    int64_t msg_max = 1000000;
    if (rd_kafka_conf_get(conf, "message.max.bytes", val, &val_len) == RD_KAFKA_CONF_OK) {
        msg_max = strtoll(val, NULL, 10);
    }
    int64_t bytes = SL_MAX(JN_INFLIGHT_BATCHES * svc->cfg->batch_max_bytes, 2 * msg_max);
    snprintf(val, sizeof val, "%lld", (long long)((bytes + 1023) / 1024));
    const char *kv[] = {"queue.buffering.max.kbytes", val, NULL};
    return kit_rk_conf_set(conf, kv, err, len);
}

static int jn__clients_new(jnsvc_t *svc, char *err, size_t len)
{
    char group[JN_TOPIC_BUF];
    /* The idempotent preset (acks=all): a retried request is never written twice and, with
     * up to 5 requests in flight, per-key output order survives retries (the broker's sequence
     * checks). message.timeout.ms=0: a delivery waits out a broker outage instead of failing;
     * /health reports the outage meanwhile. */
    const char *prod[] = {"linger.ms", "2", "max.in.flight.requests.per.connection", "5",
                          "message.timeout.ms", "0", "batch.num.messages", "10000",
                          "batch.size", "4000000", "partitioner", "murmur2_random",
                          "compression.type", svc->cfg->compression, NULL};
    /* The consumer preset: the joiner commits explicit offsets itself (jnproc), so neither
     * auto commit nor the offset store is used. */
    const char *cons[] = {"group.id", svc->cfg->app_id, "auto.offset.reset", "earliest",
                          "partition.assignment.strategy", "range", "session.timeout.ms", "6000",
                          "heartbeat.interval.ms", "1000", "fetch.wait.max.ms", "50", NULL};
    snprintf(group, sizeof group, "%s-restore", svc->cfg->app_id);
    const char *restore[] = {"group.id", group, "enable.partition.eof", "true",
                             "fetch.wait.max.ms", "50", NULL};
    rd_kafka_conf_t *conf = jn__conf(svc, KIT_RK_PRODUCER, "sluice-join", prod, err, len);
    if (conf && jn__bound_inflight(svc, conf, err, len) == 0) {
        rd_kafka_conf_set_dr_msg_cb(conf, jnproc_dr_cb);
        svc->producer = kit_rk_new(KIT_RK_PRODUCER, conf, err, len);
    } else if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    conf = svc->producer ? jn__conf(svc, KIT_RK_CONSUMER, "sluice-join", cons, err, len) : NULL;
    if (conf) {
        rd_kafka_conf_set_rebalance_cb(conf, jnproc_rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, jnproc_commit_cb);
        svc->consumer = kit_rk_new(KIT_RK_CONSUMER, conf, err, len);
    }
    conf = svc->consumer ? jn__conf(svc, KIT_RK_CONSUMER, "sluice-join-restore", restore, err, len)
                         : NULL;
    svc->restorer = conf ? kit_rk_new(KIT_RK_CONSUMER, conf, err, len) : NULL;
    return svc->restorer ? 0 : SL_EINVAL;
}

/* ---- topics ---- */

/* Partition count of topic in md; 0 when absent or in error. */
static int jn__md_partitions(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0) {
            return md->topics[i].err ? 0 : md->topics[i].partition_cnt;
        }
    }
    return 0;
}

/* The inputs exist and are co-partitioned; existing changelogs match them. */
static int jn__check_inputs(jnsvc_t *svc, const rd_kafka_metadata_t *md, char *err, size_t len)
{
    const jncfg_t *cfg = svc->cfg;
    int lp = jn__md_partitions(md, cfg->left_topic), rp = jn__md_partitions(md, cfg->right_topic);
    if (lp == 0 || rp == 0) {
        snprintf(err, len, "input topic %s does not exist on %s (create it first)",
                 lp == 0 ? cfg->left_topic : cfg->right_topic, cfg->brokers);
        return SL_ENOTFOUND;
    }
    if (lp != rp) {
        snprintf(err, len,
                 "topics not co-partitioned: left.topic %s has %d partitions, right.topic %s "
                 "has %d; a join needs the same count on both",
                 cfg->left_topic, lp, cfg->right_topic, rp);
        return SL_EINVAL;
    }
    if (lp > JN_PARTITIONS_MAX) {
        snprintf(err, len, "%s has %d partitions; the limit is %d", cfg->left_topic, lp,
                 JN_PARTITIONS_MAX);
        return SL_ELIMIT;
    }
    for (int s = 0; s < 2; s++) {
        int cp = svc->changelog[s][0] ? jn__md_partitions(md, svc->changelog[s]) : 0;
        if (cp != 0 && cp != lp) {
            snprintf(err, len, "changelog %s has %d partitions but the inputs have %d",
                     svc->changelog[s], cp, lp);
            return SL_EINVAL;
        }
    }
    svc->partitions = lp;
    return 0;
}

static int jn__create_topics(jnsvc_t *svc, const rd_kafka_metadata_t *md, char *err, size_t len)
{
    const char *names[4] = {svc->cfg->output_topic, svc->cfg->error_topic, svc->changelog[0],
                            svc->changelog[1]};
    rd_kafka_NewTopic_t *nt[4];
    size_t n = 0;
    char errstr[256];
    for (int i = 0; i < 4; i++) {
        if (!names[i][0] || jn__md_partitions(md, names[i]) > 0) {
            continue;
        }
        nt[n] = rd_kafka_NewTopic_new(names[i], svc->partitions, 1, errstr, sizeof errstr);
        SL_ASSERT(nt[n]);
        if (i >= 2) {
            rd_kafka_NewTopic_set_config(nt[n], "cleanup.policy", "compact");
        }
        n++;
    }
    return kit_create_topics(svc->producer, nt, n, (int)svc->cfg->broker_timeout_ms,
                             svc->cfg->brokers, err, len);
}

static int jn__topics(jnsvc_t *svc, char *err, size_t len)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e =
        rd_kafka_metadata(svc->producer, 1, NULL, &md, (int)svc->cfg->broker_timeout_ms);
    if (e) {
        snprintf(err, len, "broker %s unreachable: %s", svc->cfg->brokers, rd_kafka_err2str(e));
        return SL_ECLOSED;
    }
    int rc = jn__check_inputs(svc, md, err, len);
    rc = rc ? rc : jn__create_topics(svc, md, err, len);
    rd_kafka_metadata_destroy(md);
    if (rc == 0) {
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(topics, svc->cfg->left_topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(topics, svc->cfg->right_topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(svc->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        SL_ASSERT(e == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    return rc;
}

/* ---- health and metrics ---- */

static bool jn__healthy(jnsvc_t *svc, jn_state_t state, bool *broker_ok, char *why, size_t len)
{
    int64_t now = sl_time_mono_ms();
    *broker_ok = now - atomic_load(&svc->broker_ok_ms) <= svc->cfg->broker_unreachable_ms;
    if (state != JN_RUNNING && state != JN_REBALANCING) {
        snprintf(why, len, "state %s", jn_state_name(state));
        return false;
    }
    if (!atomic_load(&svc->thread_alive)) {
        snprintf(why, len, "the processing thread has stopped");
        return false;
    }
    if (now - atomic_load(&svc->beat_ms) > JN_STALL_MS) {
        snprintf(why, len, "the processing thread is stalled for %lld ms",
                 (long long)(now - atomic_load(&svc->beat_ms)));
        return false;
    }
    if (!*broker_ok) {
        snprintf(why, len, "broker %.200s unreachable for %lld ms", svc->cfg->brokers,
                 (long long)(now - atomic_load(&svc->broker_ok_ms)));
        return false;
    }
    why[0] = '\0';
    return true;
}

char *jnsvc_health_json(jnsvc_t *svc, int *status)
{
    jn_state_t state = jnsvc_state(svc);
    char why[512], last[JN_ERROR_BYTES_MAX];
    bool broker_ok = false;
    bool ok = jn__healthy(svc, state, &broker_ok, why, sizeof why);
    pthread_mutex_lock(&svc->mu);
    memcpy(last, svc->last_error, sizeof last);
    pthread_mutex_unlock(&svc->mu);
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:b}", "status", ok ? "ok" : "unhealthy",
                          "state", jn_state_name(state), "lag",
                          (json_int_t)atomic_load(&svc->m.lag), "assigned_partitions",
                          (json_int_t)atomic_load(&svc->m.assigned), "broker_reachable",
                          broker_ok);
    json_object_set_new(o, "reason", ok ? json_null() : json_string(why));
    json_object_set_new(o, "last_error", last[0] ? json_string(last) : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    SL_ASSERT(text);
    *status = ok ? 200 : 503;
    return text;
}

static const double jn__bounds[JN_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1,    2.5,   10};

void jn_hist_observe(jn_hist_t *h, int64_t us)
{
    kit_hist_observe(h, jn__bounds, JN_HIST_BUCKETS, us);
}

char *jnsvc_metrics_text(jnsvc_t *svc)
{
    kit_text_t t;
    kit_text_init(&t);
    jn_metrics_t *m = &svc->m;
    jn_state_t state = jnsvc_state(svc);
    kit_text_put(&t, "# HELP sluice_join_state 1 for the current state of the service.\n"
                     "# TYPE sluice_join_state gauge\n");
    for (int s = JN_CREATED; s <= JN_ERROR; s++) {
        kit_text_put(&t, "sluice_join_state{state=\"%s\"} %d\n", jn_state_name((jn_state_t)s),
                     s == (int)state);
    }
    kit_text_put(&t, "# HELP sluice_join_records_total Input records consumed.\n"
                     "# TYPE sluice_join_records_total counter\n"
                     "sluice_join_records_total{side=\"left\"} %llu\n"
                     "sluice_join_records_total{side=\"right\"} %llu\n",
                 (unsigned long long)atomic_load(&m->records[0]),
                 (unsigned long long)atomic_load(&m->records[1]));
    kit_text_put(&t, "# HELP sluice_join_output_total Joined records written (acknowledged).\n"
                     "# TYPE sluice_join_output_total counter\n"
                     "sluice_join_output_total{kind=\"value\"} %llu\n"
                     "sluice_join_output_total{kind=\"tombstone\"} %llu\n",
                 (unsigned long long)atomic_load(&m->out_values),
                 (unsigned long long)atomic_load(&m->out_tombstones));
    kit_prom_metric(&t, "counter", "sluice_join_poison_records_total",
                    "Records sent to the error topic.", "", atomic_load(&m->poison));
    kit_prom_metric(&t, "counter", "sluice_join_unmatched_total",
                    "Stream records without a join result (inner join miss, stream tombstone).",
                    "", atomic_load(&m->unmatched));
    kit_prom_metric(&t, "counter", "sluice_join_changelog_writes_total",
                    "State changes written to the changelog topics.", "",
                    atomic_load(&m->changelog_writes));
    kit_prom_metric(&t, "counter", "sluice_join_restored_records_total",
                    "Changelog records applied while restoring state.", "",
                    atomic_load(&m->restored));
    kit_text_put(&t, "# HELP sluice_join_restore_seconds_total Time spent restoring state.\n"
                     "# TYPE sluice_join_restore_seconds_total counter\n"
                     "sluice_join_restore_seconds_total %.6f\n",
                 (double)atomic_load(&m->restore_us) / 1e6);
    kit_prom_metric(&t, "counter", "sluice_join_batches_total", "Batches processed.", "",
                    atomic_load(&m->batches));
    kit_prom_metric(&t, "gauge", "sluice_join_batch_bytes_max",
                    "The largest batch taken, in input bytes (keys and values).", "",
                    atomic_load(&m->batch_bytes_max));
    kit_prom_metric(&t, "counter", "sluice_join_commits_total", "Offset commits.", "",
                    atomic_load(&m->commits));
    kit_prom_metric(&t, "counter", "sluice_join_commit_failures_total",
                    "Failed offset commits.", "", atomic_load(&m->commit_failures));
    kit_prom_metric(&t, "gauge", "sluice_join_lag", "Records behind the inputs' ends.", "",
                    (uint64_t)atomic_load(&m->lag));
    kit_prom_metric(&t, "gauge", "sluice_join_assigned_partitions", "Input partitions owned.", "",
                    (uint64_t)atomic_load(&m->assigned));
    int status = 0;
    free(jnsvc_health_json(svc, &status));
    kit_prom_metric(&t, "gauge", "sluice_join_healthy", "1 when /health answers 200.", "",
                    status == 200);
    kit_prom_hist(&t, "sluice_join_latency_seconds",
                  "From an input record's timestamp to its joined output acknowledged.",
                  &m->latency, jn__bounds, JN_HIST_BUCKETS);
    return t.p;
}

/* ---- lifecycle ---- */

static void jn__free(jnsvc_t *svc)
{
    if (svc->restorer) {
        rd_kafka_destroy(svc->restorer);
    }
    if (svc->consumer) {
        rd_kafka_destroy(svc->consumer);
    }
    if (svc->producer) {
        /* After a failed stop nothing waits for writes still queued: drop them (their input
         * offsets were not committed, so they are replayed). */
        rd_kafka_purge(svc->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(svc->producer, 0);
        rd_kafka_destroy(svc->producer);
    }
    for (int i = 0; i < JN_PARTITIONS_MAX; i++) {
        jn_store_close(svc->stores[i]);
    }
    pthread_mutex_destroy(&svc->mu);
    free(svc);
}

int jnsvc_start(const jncfg_t *cfg, jnsvc_t **out, char *err, size_t err_len)
{
    /* librdkafka's fetch buffers come and go by the megabyte: keep freed memory in the heap
     * instead of returning it to the kernel and faulting it in again on the next fetch. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    jnsvc_t *svc = sl_xcalloc(1, sizeof *svc);
    svc->cfg = cfg;
    pthread_mutex_init(&svc->mu, NULL);
    atomic_store(&svc->state, JN_CREATED);
    memset(svc->committed, 0xff, sizeof svc->committed); /* -1 */
    atomic_store(&svc->broker_ok_ms, sl_time_mono_ms());
    jnsvc_beat(svc);
    for (int s = 0; s < 2; s++) {
        if (jn_side_stored(cfg->type, (jn_side_t)s)) {
            snprintf(svc->changelog[s], JN_TOPIC_BUF, "%s-%s-changelog", cfg->app_id,
                     s == JN_LEFT ? "left" : "right");
        }
    }
    int rc = jn__clients_new(svc, err, err_len);
    rc = rc ? rc : jn__topics(svc, err, err_len);
    rc = rc ? rc : jnhttp_start(svc, &svc->http, err, err_len);
    if (rc != 0) {
        jn__free(svc);
        return rc;
    }
    atomic_store(&svc->thread_alive, true);
    jnsvc_set_state(svc, JN_REBALANCING);
    if (pthread_create(&svc->thread, NULL, jnproc_main, svc) != 0) {
        snprintf(err, err_len, "cannot start the processing thread");
        jnhttp_stop(svc->http);
        jn__free(svc);
        return SL_ENOMEM;
    }
    svc->thread_started = true;
    SL_LOGI(JN_LOG, "%s of %s and %s into %s, %d partitions", jn_type_name(cfg->type),
            cfg->left_topic, cfg->right_topic, cfg->output_topic, svc->partitions);
    *out = svc;
    return 0;
}

int jnsvc_http_port(const jnsvc_t *svc)
{
    return jnhttp_port(svc->http);
}

void jnsvc_stop(jnsvc_t *svc)
{
    jnsvc_set_state(svc, JN_PENDING_SHUTDOWN);
    atomic_store(&svc->stop, true);
    if (svc->thread_started) {
        pthread_join(svc->thread, NULL);
    }
    jnsvc_set_state(svc, JN_NOT_RUNNING);
    jnhttp_stop(svc->http);
    jn__free(svc);
}
