/* Internals shared by the files of the jobs service (jsvc.c, jpipe.c, jpool.c, japi.c). */
#ifndef JSVC_INT_H
#define JSVC_INT_H

#include "jcfg.h"
#include "jsvc.h"
#include "jstore.h"
#include "sl_prom.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define JSVC_TOPIC_BUF 160
#define JSVC_BATCH_MAX 500    /* events taken from a consumer per store transaction */
#define JSVC_STALL_MS 10000   /* a stage silent this long is reported dead by /health */
#define JHPOOL_QUEUE_MAX 1024     /* webhook deliveries queued in the pool, all hosts */
#define JHPOOL_HOST_QUEUE_MAX 256 /* ... of which for one destination host */

/* Completion of a set of produced messages. The delivery-report callback decrements pending;
 * the last one calls done (async) or wakes jwait_wait. Every produced message gets exactly one
 * report (bounded by message.timeout.ms), so a waiter never outlives its messages. */
typedef struct jwait jwait_t;
struct jwait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
    rd_kafka_resp_err_t err; /* first error */
    void (*done)(jwait_t *w); /* NULL: a thread waits in jwait_wait */
};
void jwait_init(jwait_t *w, void (*done)(jwait_t *w));
void jwait_deinit(jwait_t *w);
/* Produces one message (copied) with w as its opaque; counts it. Returns 0 or the enqueue
 * error (the message then does not count). */
rd_kafka_resp_err_t jwait_produce(jsvc_t *svc, jwait_t *w, const char *topic, int32_t partition,
                                  const void *key, size_t key_len, const void *val,
                                  size_t val_len, rd_kafka_headers_t *hdrs);
/* Async waits: hold before producing and release after, so done cannot run between two
 * produces; release runs done when nothing else is pending. */
void jwait_hold(jwait_t *w);
void jwait_release(jwait_t *w);
/* Waits for every counted message; returns the first error. */
rd_kafka_resp_err_t jwait_wait(jwait_t *w);

/* Prometheus histogram (seconds). */
#define JSVC_HIST_BUCKETS 14
typedef sl_hist_t jsvc_hist_t;
void jsvc_hist_observe(jsvc_hist_t *h, int64_t us);

typedef struct {
    atomic_uint_fast64_t accepted, completed_ok, completed_failed, retries, dead,
        lease_expired, cancelled, webhook_ok, webhook_failed, bad_events;
    atomic_int_fast64_t queue_lag;
    jsvc_hist_t run, e2e;
} jsvc_metrics_t;

enum { JSVC_STAGE_REQUESTS, JSVC_STAGE_COMPLETED, JSVC_STAGE_DEAD, JSVC_STAGE_SCHED,
       JSVC_STAGE_WEBHOOK, JSVC_STAGE_POOL, JSVC_STAGE_COUNT };

struct jsvc {
    const jcfg_t *cfg;
    char t_requests[JSVC_TOPIC_BUF], t_assigned[JSVC_TOPIC_BUF], t_completed[JSVC_TOPIC_BUF],
        t_dead[JSVC_TOPIC_BUF];
    rd_kafka_t *producer;
    pthread_t producer_thread;
    pthread_t stage_thread[JSVC_STAGE_COUNT];
    atomic_bool stage_started[JSVC_STAGE_COUNT]; /* set by the starting thread, read by all */
    /* Start with the broker unreachable: the HTTP API serves (health 503) while the connect
     * thread retries with backoff, then starts the other stages. */
    pthread_t connect_thread;
    bool connect_started;
    atomic_bool connected;    /* the topics exist and the stages run */
    atomic_bool brokers_down; /* librdkafka reported every broker down (error_cb) */
    atomic_bool connect_failed; /* the connect thread met an error retrying cannot fix */
    /* A broker refused the client's security settings (SASL or TLS): not "unreachable", and
     * retrying does not help. The first reason is kept (under refused_mu). */
    atomic_bool refused;
    pthread_mutex_t refused_mu;
    char refused_why[256];
    atomic_int_fast64_t stage_beat_ms[JSVC_STAGE_COUNT]; /* last loop turn, mono ms */
    atomic_bool stage_dead[JSVC_STAGE_COUNT];
    atomic_bool stop;       /* every thread */
    atomic_bool stop_input; /* consumers: take nothing new */
    atomic_bool broker_ok, store_ok;
    jsvc_metrics_t m;
    pthread_mutex_t counts_mu; /* counts snapshot for /metrics, refreshed by the scheduler */
    jstore_count_t counts[JSTORE_PAGE_MAX];
    size_t ncounts;
    /* The scheduler's one timer (jsvc_sched_*): sched_notified_ms is the earliest due time
     * stored since the scheduler last read the store (INT64_MAX: none). */
    pthread_mutex_t sched_mu;
    pthread_cond_t sched_cv;
    int64_t sched_notified_ms;
    struct japi *api;
    struct jpool *pool;
    struct jproc *procs; /* workers role: records the groups the pool starts */
};

/* A consumer in group <group_prefix>.<stage> subscribed to topic, offsets stored by hand. */
rd_kafka_t *jsvc_consumer_new(jsvc_t *svc, const char *stage, const char *topic);
/* Takes up to max messages: waits at most timeout_ms for the first, then takes only what is
 * already fetched (so a light load is not delayed to fill a batch). Returns the count. */
ssize_t jsvc_take(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms, rd_kafka_message_t **msgs,
                  size_t max);
/* Marks msg's offset done (committed by the auto-commit after it). */
void jsvc_offset_done(rd_kafka_t *rk, const rd_kafka_message_t *msg);
void jsvc_beat(jsvc_t *svc, int stage);
jstore_t *jsvc_store_open(jsvc_t *svc);
/* Produces the assigned event of job (attempt = job->attempt) into w. */
rd_kafka_resp_err_t jsvc_publish_assigned(jsvc_t *svc, jwait_t *w, const jstore_job_t *job);
/* Backoff before attempt `next` (2, 3, ...): base * 2^(next-2), capped, +- jitter. */
int64_t jsvc_backoff_ms(const jcfg_t *cfg, int next);
/* The attempt history of a job as a JSON array (the last JSVC_HISTORY_MAX attempts' worth). */
#define JSVC_HISTORY_MAX 100
json_t *jsvc_history_json(jstore_t *st, const char *id);
/* A JSON string of text a worker wrote (stderr tail, error): bytes that are not UTF-8 become
 * U+FFFD, which jansson would refuse otherwise. NULL: "". */
json_t *jsvc_json_text(const char *s);
/* Health: 0 healthy, else a reason in why. */
bool jsvc_healthy(jsvc_t *svc, char *why, size_t len);
/* Writes the /metrics text into a malloc'ed string. */
char *jsvc_metrics_text(jsvc_t *svc);

/* The scheduler's timer. notify: a job is due at due_ms (wall ms), stored and committed;
 * wakes the scheduler if that is before what it waits for (INT64_MAX: no-op). reset: the
 * scheduler is about to read the store (forgets earlier notices). wait: sleeps until due_ms
 * (wall), a notice of an earlier due time, tick_mono_ms (monotonic) or the service stopping.
 * Thread: notify any; reset and wait the scheduler's. */
void jsvc_sched_notify(jsvc_t *svc, int64_t due_ms);
void jsvc_sched_reset(jsvc_t *svc);
void jsvc_sched_wait(jsvc_t *svc, int64_t due_ms, int64_t tick_mono_ms);

/* Stage threads (jpipe.c / jpool.c). Each runs until svc->stop. */
void *jpipe_requests_main(void *arg);
void *jpipe_completed_main(void *arg);
void *jpipe_dead_main(void *arg);
void *jpipe_sched_main(void *arg);
void *jpipe_webhook_main(void *arg);

/* Worker pool (jpool.c). */
typedef struct jpool jpool_t;
int jpool_new(jsvc_t *svc, jpool_t **out);
void *jpool_main(void *arg); /* arg: svc */
void jpool_free(jpool_t *pool);

/* Worker process groups (jproc.c). */
typedef struct jproc jproc_t;
/* Opens its own store connection (no fsync: the records matter only while the machine is up)
 * and notes this incarnation (pid, start time, boot id). */
int jproc_new(const char *store_path, jproc_t **out);
void jproc_free(jproc_t *jp);
/* Hooks for jrun_cmd_t: record a group before its job runs, forget it once reaped. */
const jrun_hooks_t *jproc_hooks(jproc_t *jp);
/* Ends every recorded group whose service incarnation is gone (see jproc.c for how a reused
 * pid is told apart) and drops its record; *ended counts the records dropped. SL_EAGAIN when
 * a group outlived SIGKILL for JPROC_GONE_WAIT_MS (its record stays: do not re-grant leases).
 * Blocks up to that long per group. Thread: the caller's store connection. */
int jproc_sweep(jstore_t *st, int *ended);

/* Webhook delivery pool (jhpool.c): webhook.concurrency sender threads, each with its own
 * curl handle and store connection, and a bounded queue; at most webhook.per.host deliveries
 * to one destination (scheme://host:port) are in flight, so a slow or unreachable host delays
 * only its own deliveries. Thread: new/room/offer/free from the dispatcher thread. */
typedef struct jhpool jhpool_t;
int jhpool_new(jsvc_t *svc, jhpool_t **out);
/* Free places in the queue. */
size_t jhpool_room(jhpool_t *hp);
/* Queues a claimed delivery (copied). False when the pool already holds it (queued or in
 * flight), or its host's queue (JHPOOL_HOST_QUEUE_MAX) or the whole queue is full. */
bool jhpool_offer(jhpool_t *hp, const jstore_delivery_t *d);
/* Stops the senders after their current delivery (each bounded by webhook.timeout.ms); queued
 * ones are dropped (their claims expire and they are due again). */
void jhpool_free(jhpool_t *hp);

/* HTTP API (japi.c). */
typedef struct japi japi_t;
int japi_start(jsvc_t *svc, japi_t **out, char *err, size_t err_len);
int japi_port(const japi_t *api);
void japi_stop(japi_t *api);

/* Events (JSON). Each returns a malloc'ed compact JSON text. */
char *jevt_assigned(const jstore_job_t *job);
/* Parsed assigned event: borrowed from root (json_decref(root) frees all). */
typedef struct {
    json_t *root;
    const char *id, *type, *key;
    json_t *payload;
    int attempt, timeout_s;
    int64_t created_ms;
} jevt_assigned_t;
int jevt_assigned_parse(const void *p, size_t len, jevt_assigned_t *out);

#endif
