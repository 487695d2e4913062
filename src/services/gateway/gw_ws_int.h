/* gw_ws's private parts: the loop thread's state and types, shared by gw_ws.c (the loop: lws
 * context, connections, timers, writing), gw_fanout.c (messages, destinations, subscriptions,
 * resume and parks) and gw_session.c (STOMP frames from a client). Thread: loop. */
#ifndef GW_WS_INT_H
#define GW_WS_INT_H

#include "gw_int.h"
#include "gw_stomp.h"
#include "kit_auth.h"
#include "sl_siphash.h"

#include <libwebsockets.h>

#define GW_DEST_BUCKETS 4096       /* destination index */
#define GW_SUBS_PER_CONN_MAX 32    /* subscriptions of one connection */
#define GW_PARK_MAX 1024           /* parked positions (oldest evicted past it) */
#define GW_SWEEP_MS 100            /* heart-beat and queue-age checks */
#define GW_CONNECT_TIMEOUT_S 10    /* a session must send CONNECT this soon */
#define GW_ERROR_LINGER_S 2        /* after an ERROR the connection closes this soon at most */
#define GW_WRITE_BYTES_MAX (64 * 1024) /* frames joined into one WebSocket message */
#define GW_VALUE_BYTES_MAX 256     /* destination values (the {line} part) */
#define GW_HB_GRACE_MUL 2          /* a peer may be this many intervals late */
#define GW_SENDS_MAX 64            /* SENDs of one connection waiting for the broker */
#define GW_IP_BUCKETS 4096         /* connections per peer address */
#define GW_IP_BUF 48               /* an IPv4 or IPv6 address as text */
#define GW_PRINCIPAL_BUF (KIT_AUTH_SUB_BUF + 8) /* "jwt:<sub>", "token:<id>", "" = anonymous */
#define GW_DEST_NAME_BUF (GW_STR_BUF + GW_VALUE_BYTES_MAX + 1) /* prefix + value */

typedef enum { GW_ACK_AUTO, GW_ACK_CLIENT, GW_ACK_INDIVIDUAL } gw_ack_t;

/* The shared part of a MESSAGE frame: every header but subscription and ack, the body, NUL. */
typedef struct {
    int refs;
    int topic;
    int32_t partition;
    int64_t offset;
    size_t len;
    uint8_t data[];
} gw_msg_t;

typedef struct gw_out gw_out_t;
struct gw_out {
    gw_out_t *next;
    gw_msg_t *msg;   /* a MESSAGE; else own holds an encoded frame */
    uint8_t *own;
    size_t own_len, bytes;
    uint64_t ack;    /* 0: no ack header */
    int64_t enq_ms;
    char sub[GW_ID_BUF];
};

typedef struct gw_conn gw_conn_t;
typedef struct gw_dest gw_dest_t;
typedef struct gw_sub gw_sub_t;

typedef struct {
    uint64_t ack;
    gw_msg_t *msg;
} gw_unacked_t;

/* A live subscription's start in one partition the live consumer had not reached yet. */
typedef struct {
    int topic;
    int32_t partition;
    int64_t offset;
} gw_floor_t;

struct gw_sub {
    gw_sub_t *dnext, *dprev, *cnext; /* in its destination; in its connection */
    gw_conn_t *conn;
    gw_dest_t *dest;
    char id[GW_ID_BUF];
    gw_ack_t ack;
    bool may_replay;                 /* its principal may read history (x-from-*, parks) */
    uint64_t token;                  /* != 0 while catching up */
    gw_catchup_t *job;               /* its starts (the parked position while catching up) */
    gw_out_t *held, *held_tail;      /* live messages that arrived while catching up */
    gw_out_t *pending, *pending_tail; /* waiting for acks (stomp.unacked.max reached) */
    size_t backlog_bytes;            /* of held and pending */
    gw_unacked_t *unacked;           /* client modes, oldest first */
    int nunacked;
    gw_floor_t *floors;              /* live records below these predate the SUBSCRIBE */
    int nfloors;
};

struct gw_dest {
    gw_dest_t *next;
    int tmpl;
    char value[GW_VALUE_BYTES_MAX + 1];
    gw_sub_t *subs;
};

struct gw_conn {
    gw_conn_t *next, *prev;
    struct lws *wsi;
    uint64_t serial;
    bool connected, closing;
    char client_id[GW_ID_BUF];
    char ip[GW_IP_BUF];
    char principal[GW_PRINCIPAL_BUF];
    uint8_t pass_digest[KIT_AUTH_DIGEST_BYTES]; /* of a token passcode */
    kit_jwt_t *jwt;                  /* of a JWT passcode, else NULL */
    int64_t auth_exp_ms;             /* wall clock; 0: the credential does not expire */
    bool ping_due;                   /* a WebSocket ping waits for the next write */
    int64_t ping_ms;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    gw_out_t *q_head, *q_tail;
    size_t q_bytes, backlog_bytes; /* queued; held or pending in its subscriptions */
    gw_conn_t *flush_next;         /* in ws->flush while `flushing` */
    bool flushing;
    int64_t last_rx_ms, last_tx_ms, hb_tx_ms, hb_rx_ms;
    uint64_t ack_seq;
    gw_sub_t *subs;
    int nsubs;
    gw_post_t *posts[GW_SENDS_MAX]; /* SENDs waiting for the broker */
    int nposts;
};

typedef struct {
    char client_id[GW_ID_BUF], sub[GW_ID_BUF];
    char principal[GW_PRINCIPAL_BUF]; /* only the principal that left it takes it back */
    int tmpl;
    char value[GW_VALUE_BYTES_MAX + 1];
    int64_t parked_ms;
    gw_catchup_t *pos; /* starts; token and targets unused */
} gw_park_t;

typedef struct gw_ipc gw_ipc_t;
struct gw_ipc {
    gw_ipc_t *next;
    int n;
    char ip[GW_IP_BUF];
};

typedef struct gw_ws {
    gw_svc_t *svc;
    gw_ipc_t *ips[GW_IP_BUCKETS];
    gw_conn_t *conns;
    int nconns;
    gw_dest_t *buckets[GW_DEST_BUCKETS];
    gw_sub_t *catching[GW_CATCHUP_MAX];
    gw_park_t parks[GW_PARK_MAX];
    int nparks;
    uint64_t next_token, next_serial;
    sl_siphash_key_t hash_key; /* of the destination and address buckets */
    lws_sorted_usec_list_t sul;
    kit_http_t *http; /* the server (HTTP and WebSocket on one port) */
    gw_buf_t scratch;
    bool corked;      /* inside a drain turn: queued frames wait for gw__uncork */
    gw_conn_t *flush; /* connections given frames during the turn */
} gw_ws_t;

/* A WebSocket connection's kit_http ws_data. */
typedef struct {
    gw_conn_t *conn;
} gw_pss_t;

/* ---- gw_fanout.c: messages and the queue ---- */

void gw__msg_unref(gw_msg_t *msg);
void gw__out_free(gw_out_t *out);
/* Queues an ERROR (dropping what was queued) and closes after it, or after
 * GW_ERROR_LINGER_S when the client does not read. */
void gw__conn_fail(gw_ws_t *ws, gw_conn_t *conn, const char *message, const char *detail);
/* Appends out to the connection's queue; false (out freed, connection failing) when the queue
 * limit is passed. */
bool gw__enqueue(gw_ws_t *ws, gw_conn_t *conn, gw_out_t *out);
/* Frees everything queued on the connection. */
void gw__queue_drop(gw_ws_t *ws, gw_conn_t *conn);
/* Queues an encoded non-MESSAGE frame. */
bool gw__send_frame(gw_ws_t *ws, gw_conn_t *conn, gw_stomp_cmd_t cmd, const char *const *hdrs,
                    const char *body);

/* ---- gw_fanout.c: destinations, subscriptions, resume, parks ---- */

/* Hash of a destination (template index and value) or of a peer address: SipHash under the
 * loop's random key, so clients cannot aim values at one bucket. */
uint32_t gw__hash(const gw_ws_t *ws, int tmpl, const char *value);
/* The destination, made when create is set; NULL when absent and not created. */
gw_dest_t *gw__dest_find(gw_ws_t *ws, int tmpl, const char *value, bool create);
/* Queues msg to sub, or keeps it pending while stomp.unacked.max messages wait for their ack
 * (ActiveMQ's prefetch) or older ones are pending. */
void gw__deliver(gw_ws_t *ws, gw_sub_t *sub, gw_msg_t *msg);
/* A record from the live consumer to every subscription of its destination. */
void gw__dispatch_live(gw_ws_t *ws, gw_rec_t *rec);
/* Unlinks and frees a subscription (its catch-up cancelled). */
void gw__sub_free(gw_ws_t *ws, gw_sub_t *sub);
/* Remembers where a client-ack subscription stands (the oldest un-acked message of each
 * partition, else what the loop has seen) for its client-id's next session. */
void gw__park(gw_ws_t *ws, gw_sub_t *sub);
/* Drops parked positions older than stomp.park.ms. */
void gw__parks_expire(gw_ws_t *ws);
/* Builds the catch-up job of a new subscription from its headers or its parked position.
 * Returns NULL when it starts live; sets *bad to the offending header on an error. */
gw_catchup_t *gw__resume_job(gw_ws_t *ws, gw_sub_t *sub, const gw_stomp_frame_t *f,
                             const char **bad);
/* A subscription that starts live: records this gateway acknowledged before it are not
 * delivered to it, however far the live consumer lags. */
void gw__sub_floors(gw_ws_t *ws, gw_sub_t *sub);
/* Starts the catch-up of sub (job taken over); false when too many are resuming. */
bool gw__resume(gw_ws_t *ws, gw_sub_t *sub, gw_catchup_t *job);
/* Delivers pending messages while the subscription may take more. */
void gw__release(gw_ws_t *ws, gw_sub_t *sub);
/* A record read by a catch-up job, for the subscription that asked for it. */
void gw__catchup_rec(gw_ws_t *ws, gw_rec_t *rec);

/* ---- gw_session.c: frames from the client ---- */

/* A SEND's produce finished (the broker's answer in post): RECEIPT or ERROR to its session. */
void gw__send_done(gw_svc_t *svc, gw_post_t *post);
/* Bytes received on a connection: complete frames are handled, the rest kept. */
void gw__on_rx(gw_ws_t *ws, gw_conn_t *conn, const void *in, size_t len);

#endif
