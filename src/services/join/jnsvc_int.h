/* Internals shared by the files of the join service (jnsvc.c, jnproc.c, jnhttp.c). */
#ifndef JNSVC_INT_H
#define JNSVC_INT_H

#include "jnsvc.h"
#include "jnstore.h"
#include "kit_prom.h"
#include "sl_common.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define JN_PARTITIONS_MAX 1024 /* input partitions (the state array is indexed by them) */
#define JN_STALL_MS 30000      /* processing thread silent this long: /health says 503 */
#define JN_TOPIC_BUF 256
#define JN_ERROR_BYTES_MAX 512 /* last error text kept for /health */
SL_STATIC_ASSERT(JN_TOPIC_BUF > JNCFG_NAME_BYTES_MAX + 16, "changelog name fits");

/* What a produced message is, carried as its opaque into the delivery report. */
enum { JN_MSG_OUTPUT = 1, JN_MSG_CHANGELOG_LEFT, JN_MSG_CHANGELOG_RIGHT, JN_MSG_ERROR };

/* A batch whose writes are not all acknowledged yet. Batches are retired (offsets committed,
 * checkpoints recorded) oldest first, so a commit never covers an unacknowledged write. */
#define JN_FLIGHT_MAX 4 /* batches in flight: overlaps processing with the broker's acks */
/* Produced bytes not yet acknowledged, in units of batch.max.bytes (the producer's queue
 * bound, jnsvc.c): the output of a merge is about twice its input record. */
#define JN_INFLIGHT_BATCHES 4
SL_STATIC_ASSERT(JN_INFLIGHT_BATCHES >= 1 && JN_INFLIGHT_BATCHES <= 16, "a sane window");
typedef struct {
    bool used, failed;                      /* failed: processing stopped; never committed */
    int pending;                            /* produced, not yet reported */
    rd_kafka_resp_err_t err;                /* first delivery failure */
    char err_topic[JN_TOPIC_BUF];
    int64_t next[2][JN_PARTITIONS_MAX];     /* input offset processed + 1, or -1 */
    int64_t cl_next[2][JN_PARTITIONS_MAX];  /* changelog offset acknowledged + 1, or 0 */
} jn_flight_t;

#define JN_HIST_BUCKETS 12
typedef kit_hist_t jn_hist_t;

typedef struct {
    atomic_uint_fast64_t records[2];  /* consumed, per side */
    atomic_uint_fast64_t out_values, out_tombstones, unmatched, poison, changelog_writes;
    atomic_uint_fast64_t restored, restore_us, commits, commit_failures, batches;
    atomic_uint_fast64_t batch_bytes_max; /* the largest batch taken, in input bytes */
    atomic_int_fast64_t lag, assigned;
    jn_hist_t latency; /* input record timestamp to output acknowledged */
} jn_metrics_t;

struct jnsvc {
    const jncfg_t *cfg;
    char changelog[2][JN_TOPIC_BUF]; /* per side; "" when the side is not stored */
    int32_t partitions;              /* of each input */
    rd_kafka_t *producer, *consumer, *restorer;
    pthread_t thread;
    bool thread_started;
    atomic_bool thread_alive;
    atomic_int state;
    atomic_bool stop;
    atomic_int_fast64_t beat_ms;      /* processing thread's last turn, mono ms */
    atomic_int_fast64_t broker_ok_ms; /* last statistics showing a broker up, mono ms */
    pthread_mutex_t mu;               /* last_error */
    char last_error[JN_ERROR_BYTES_MAX];
    jn_metrics_t m;
    struct kit_http *http;
    /* Processing thread only (delivery reports are served by its producer polls). */
    jn_store_t *stores[JN_PARTITIONS_MAX];
    int fatal;                           /* set by a failed restore in the rebalance callback */
    jn_flight_t flights[JN_FLIGHT_MAX];  /* batches awaiting acks, a ring oldest first */
    uint32_t flight_head, nflight;
    int64_t committed[2][JN_PARTITIONS_MAX]; /* committable input offsets, or -1 */
    bool commit_dirty;                       /* committed[] moved since the last commit */
    int64_t commit_due_ms;                   /* mono ms of the next asynchronous commit */
};

void jnsvc_set_state(jnsvc_t *svc, jn_state_t to);
/* Records err as the last error (shown by /health) and logs it. */
void jnsvc_error(jnsvc_t *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jnsvc_beat(jnsvc_t *svc);
void jn_hist_observe(jn_hist_t *h, int64_t us);
/* /health: a malloc'ed JSON text and the status (200 or 503). Thread: any. */
char *jnsvc_health_json(jnsvc_t *svc, int *status);
/* /metrics: a malloc'ed Prometheus text. Thread: any. */
char *jnsvc_metrics_text(jnsvc_t *svc);

/* Processing thread (jnproc.c): consumes, joins, produces, commits until svc->stop or a fatal
 * error (then PENDING_ERROR, ERROR). arg: svc. */
void *jnproc_main(void *arg);
/* librdkafka callbacks installed by jnsvc.c and implemented in jnproc.c. */
void jnproc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
void jnproc_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
void jnproc_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque);

/* HTTP server (jnhttp.c, on kit_http): GET /health and GET /metrics on its own thread. */
typedef struct kit_http jnhttp_t;
int jnhttp_start(jnsvc_t *svc, jnhttp_t **out, char *err, size_t err_len);
int jnhttp_port(const jnhttp_t *http);
void jnhttp_stop(jnhttp_t *http);

#endif
