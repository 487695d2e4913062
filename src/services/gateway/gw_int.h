/* Internals shared by the files of the gateway (gw_svc.c: Kafka threads and lifecycle;
 * gw_http.c: the HTTP API; gw_ws.c: STOMP connections and fan-out). Threads: one lws loop
 * thread owns every connection, subscription and the destination index; the live consumer,
 * the catch-up reader and the producer poller hand work to it through `mu`-guarded lists and
 * lws_cancel_service. */
#ifndef GW_INT_H
#define GW_INT_H

#include "gw_cfg.h"
#include "gw_svc.h"
#include "kit_http.h"
#include "sl_common.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define GW_TOPICS_MAX (GW_DESTS_MAX * GW_DEST_TOPICS_MAX) /* topics consumed */
#define GW_PARTS_MAX 64          /* partitions of one consumed topic */
#define GW_TP_MAX (GW_DEST_TOPICS_MAX * GW_PARTS_MAX) /* positions of one subscription */
#define GW_HANDOFF_MAX 20000     /* records waiting for the loop (the consumer blocks past it) */
#define GW_LOOP_BATCH 32         /* records dispatched per loop turn (sockets are served between) */
#define GW_CATCHUP_MAX 64        /* subscriptions resuming at once (ERROR past it) */
#define GW_ID_BUF 128            /* subscription ids, client ids, receipts (127 bytes) */
#define GW_META_MS 1000          /* topic list refresh period */
SL_STATIC_ASSERT(GW_LOOP_BATCH > 0 && GW_LOOP_BATCH <= GW_HANDOFF_MAX,
                 "a loop turn takes at most what the handoff holds");

/* GW_REC_PARTS: the topic now has `partition` partitions; the live consumer tails the new ones
 * from their start (records of them follow this marker in the handoff). */
typedef enum {
    GW_REC_LIVE,
    GW_REC_CATCHUP,
    GW_REC_CATCHUP_DONE,
    GW_REC_CATCHUP_FAIL,
    GW_REC_PARTS
} gw_rec_kind_t;

/* A record (or catch-up marker) handed to the loop; key and value are owned copies. */
typedef struct gw_rec gw_rec_t;
struct gw_rec {
    gw_rec_t *next;
    gw_rec_kind_t kind;
    uint64_t token; /* catch-up job; 0 for live records */
    int topic;      /* index into svc->topics */
    int32_t partition;
    int64_t offset, ts_ms;
    void *key, *val;
    size_t key_len, val_len;
};
void gw_rec_free(gw_rec_t *rec);

/* One catch-up job: read [start, target) of every listed partition (start may be
 * RD_KAFKA_OFFSET_BEGINNING, or resolved from from_time_ms when it is >= 0 and start is
 * RD_KAFKA_OFFSET_INVALID). */
typedef struct gw_catchup gw_catchup_t;
struct gw_catchup {
    gw_catchup_t *next;
    uint64_t token;
    int64_t from_time_ms;
    int ntp;
    struct {
        int topic;
        int32_t partition;
        int64_t start, target;
    } tp[GW_TP_MAX];
};

/* A produce request waiting for its delivery reports (HTTP POST or STOMP SEND). */
typedef struct gw_post gw_post_t;
typedef struct {
    gw_post_t *post;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset, ts_ms;
} gw_res_t;
struct gw_post {
    gw_post_t *next;
    void *owner; /* the HTTP session or STOMP connection; NULL once it is gone (under mu) */
    bool stomp;
    int pending; /* under mu */
    char topic[GW_TOPIC_BUF];
    char receipt[GW_ID_BUF];
    bool single;
    int nres;
    gw_res_t res[];
};

typedef struct {
    char name[GW_TOPIC_BUF];
    int nparts;                      /* partitions the loop dispatches (loop thread) */
    int nassigned;                   /* partitions the live consumer tails (producer poller) */
    int64_t live_next[GW_PARTS_MAX]; /* next offset the loop will see (loop thread) */
    int64_t acked_next[GW_PARTS_MAX]; /* past the last record this gateway acknowledged
                                       * (loop thread) */
} gw_topic_t;

typedef struct {
    atomic_uint_fast64_t produced, delivered, consumed, conns_opened, conns_overflow,
        conns_hb_timeout, conns_error, resumes, auth_refused, conns_idle, conns_per_ip_refused;
    atomic_int_fast64_t conns, subs, queued_bytes;
} gw_stats_t;

struct gw_ws;
struct lws;
struct lws_context;
struct gw_svc {
    const gw_cfg_t *cfg;
    rd_kafka_t *producer, *consumer, *catchup;
    pthread_t producer_th, consumer_th, catchup_th, loop_th;
    atomic_bool stop, dead;
    atomic_bool broker_ok;
    int port;
    struct lws_context *ctx;
    gw_topic_t topics[GW_TOPICS_MAX];
    int ntopics;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* handoff space, catch-up jobs, topic refresh */
    gw_rec_t *ho_head, *ho_tail; /* handoff to the loop */
    int ho_count;
    gw_catchup_t *jobs_head, *jobs_tail; /* catch-up jobs */
    gw_post_t *done;         /* finished produce requests */
    int inflight;            /* posts not yet answered */
    char **known;            /* topic names in the cluster (sorted), refreshed every GW_META_MS */
    size_t nknown;
    uint64_t meta_gen;       /* refresh count */
    bool meta_want;          /* a refresh is wanted now */
    gw_stats_t st;
    struct gw_ws *ws;        /* loop-thread state */
    void *http_wait;         /* HTTP sessions waiting for a topic refresh (loop thread) */
};

/* Index of topic name among the consumed topics, or -1. */
int gw_topic_index(const gw_svc_t *svc, const char *name);
/* Queues a catch-up job (taken over). Thread: loop. */
void gw_catchup_submit(gw_svc_t *svc, gw_catchup_t *job);
/* Takes up to max handed-off records (oldest first) as a list. Thread: loop. */
gw_rec_t *gw_handoff_take(gw_svc_t *svc, int max, bool *more);
/* Is the topic known to exist (false: a refresh is asked for and *gen tells which one to wait
 * for)? Thread: any. */
bool gw_topic_known(gw_svc_t *svc, const char *name, uint64_t *gen);
uint64_t gw_meta_gen(gw_svc_t *svc);

/* Produce: a post with n results; each record is produced with gw_post_produce; the last
 * delivery report moves it to svc->done and wakes the loop. */
gw_post_t *gw_post_new(gw_svc_t *svc, void *owner, bool stomp, const char *topic, int n);
rd_kafka_resp_err_t gw_post_produce(gw_svc_t *svc, gw_post_t *post, int i, int32_t partition,
                                    const void *key, size_t key_len, const void *val,
                                    size_t val_len, rd_kafka_headers_t *hdrs);
/* Drops one pending count: the producing phase's (once every record is produced) or a
 * delivery report's; the last one moves the post to svc->done and wakes the loop. Thread: any. */
void gw_post_seal(gw_svc_t *svc, gw_post_t *post);
/* Takes the finished posts. Thread: loop. */
gw_post_t *gw_post_take_done(gw_svc_t *svc);
/* Detaches owner from its posts (the owner is going away). Thread: loop. */
void gw_post_disown(gw_svc_t *svc, gw_post_t *post);
void gw_post_free(gw_svc_t *svc, gw_post_t *post);

/* Loop side (gw_ws.c). */
int gw_loop_start(gw_svc_t *svc, char *err, size_t err_len);
void gw_loop_stop(gw_svc_t *svc);

/* HTTP (gw_http.c), served by kit_http: the routes from the configuration (into routes, at
 * most max; returns how many), GET /health, and on_done (a request's state goes). */
size_t gw_http_size(void);
int gw_http_routes(const gw_svc_t *svc, kit_http_route_t *routes, int max);
char *gw_http_health(void *user, int *status);
void gw_http_done(void *user, kit_http_req_t *req);
/* A finished produce for an HTTP session. Thread: loop. */
void gw_http_post_done(gw_svc_t *svc, gw_post_t *post);
/* Re-checks sessions waiting for a topic refresh. Thread: loop. */
void gw_http_meta_refreshed(gw_svc_t *svc);
/* Validates body against route (shape check); on failure writes the field and the reason.
 * Returns the parsed object (new reference) or NULL. */
json_t *gw_route_check(const gw_route_t *route, const char *body, size_t len,
                              char *field, size_t field_len, char *why, size_t why_len);
/* The record key of a checked route body, written to key (size cap); returns its length. */
size_t gw_route_key(const gw_route_t *route, json_t *obj, char *key, size_t cap);

#endif
