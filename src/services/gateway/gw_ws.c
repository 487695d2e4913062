/* gw_ws: the loop thread. STOMP 1.2 sessions over WebSocket (CONNECT/STOMP, SUBSCRIBE with ack
 * auto|client|client-individual, UNSUBSCRIBE, ACK, NACK, SEND, DISCONNECT, RECEIPT, ERROR),
 * the fan-out of records to subscriptions through a destination index, resume (x-from-offset,
 * x-from-time, or the positions parked for a client-id with un-acked messages), the bounded
 * per-connection queue (bytes and age) and heart-beats. Also owns the lws context (HTTP is
 * served by gw_http.c on the same port). Thread: loop, except gw_loop_start/stop. */
#include "gw_int.h"
#include "gw_stomp.h"
#include "kit_auth.h"
#include "kit_listen.h"

#include "sl_log.h"
#include "sl_time.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_LOG "gateway"
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
    lws_sorted_usec_list_t sul;
    gw_buf_t scratch;
    bool corked;      /* inside a drain turn: queued frames wait for gw__uncork */
    gw_conn_t *flush; /* connections given frames during the turn */
} gw_ws_t;

typedef struct {
    gw_conn_t *conn;
    uint8_t http[]; /* gw_http.c's session */
} gw_pss_t;

/* ---- messages and the queue ---- */

static void gw__msg_unref(gw_msg_t *msg)
{
    if (msg && --msg->refs == 0) {
        free(msg);
    }
}

static void gw__out_free(gw_out_t *out)
{
    gw__msg_unref(out->msg);
    free(out->own);
    free(out);
}

/* Queues an ERROR (dropping what was queued) and closes after it, or after
 * GW_ERROR_LINGER_S when the client does not read. */
static void gw__conn_fail(gw_ws_t *ws, gw_conn_t *conn, const char *message, const char *detail);

/* Appends out to the connection's queue; false (out freed, connection failing) when the queue
 * limit is passed. */
static bool gw__enqueue(gw_ws_t *ws, gw_conn_t *conn, gw_out_t *out)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    if (conn->closing) {
        gw__out_free(out);
        return false;
    }
    out->enq_ms = sl_time_mono_ms();
    if (conn->q_bytes + conn->backlog_bytes + out->bytes > cfg->send_bytes_max) {
        gw__out_free(out);
        atomic_fetch_add(&ws->svc->st.conns_overflow, 1);
        gw__conn_fail(ws, conn, "slow consumer", "outgoing queue over stomp.send.buffer.bytes");
        return false;
    }
    out->next = NULL;
    if (conn->q_tail) {
        conn->q_tail->next = out;
    } else {
        conn->q_head = out;
    }
    conn->q_tail = out;
    conn->q_bytes += out->bytes;
    atomic_fetch_add(&ws->svc->st.queued_bytes, (int64_t)out->bytes);
    if (!ws->corked) {
        lws_callback_on_writable(conn->wsi);
    } else if (!conn->flushing) {
        conn->flushing = true;
        conn->flush_next = ws->flush;
        ws->flush = conn;
    }
    return true;
}

static void gw__queue_drop(gw_ws_t *ws, gw_conn_t *conn)
{
    for (gw_out_t *out = conn->q_head, *next; out; out = next) {
        next = out->next;
        gw__out_free(out);
    }
    atomic_fetch_sub(&ws->svc->st.queued_bytes, (int64_t)conn->q_bytes);
    conn->q_head = conn->q_tail = NULL;
    conn->q_bytes = 0;
}

/* Queues an encoded non-MESSAGE frame. */
static bool gw__send_frame(gw_ws_t *ws, gw_conn_t *conn, gw_stomp_cmd_t cmd,
                           const char *const *hdrs, const char *body)
{
    gw_buf_t b;
    gw_buf_init(&b, 0);
    gw_stomp_encode(&b, cmd, hdrs, body, body ? strlen(body) : 0);
    gw_out_t *out = sl_xcalloc(1, sizeof *out);
    out->own = b.p;
    out->own_len = out->bytes = b.len;
    return gw__enqueue(ws, conn, out);
}

static void gw__conn_fail(gw_ws_t *ws, gw_conn_t *conn, const char *message, const char *detail)
{
    if (conn->closing) {
        return;
    }
    gw__queue_drop(ws, conn); /* the ERROR goes first; the rest is lost with the session */
    const char *hdrs[] = {"message", message, "content-type", "text/plain", NULL};
    gw__send_frame(ws, conn, GW_STOMP_ERROR, hdrs, detail);
    conn->closing = true;
    atomic_fetch_add(&ws->svc->st.conns_error, 1);
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, GW_ERROR_LINGER_S);
}

/* ---- destinations ---- */

static uint32_t gw__hash(int tmpl, const char *value)
{
    uint32_t h = 2166136261u ^ (uint32_t)tmpl;
    for (const char *p = value; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h % GW_DEST_BUCKETS;
}

static gw_dest_t *gw__dest_find(gw_ws_t *ws, int tmpl, const char *value, bool create)
{
    uint32_t h = gw__hash(tmpl, value);
    for (gw_dest_t *d = ws->buckets[h]; d; d = d->next) {
        if (d->tmpl == tmpl && strcmp(d->value, value) == 0) {
            return d;
        }
    }
    if (!create) {
        return NULL;
    }
    gw_dest_t *d = sl_xcalloc(1, sizeof *d);
    d->tmpl = tmpl;
    snprintf(d->value, sizeof d->value, "%s", value);
    d->next = ws->buckets[h];
    ws->buckets[h] = d;
    return d;
}

static void gw__dest_release(gw_ws_t *ws, gw_dest_t *dest)
{
    if (dest->subs) {
        return;
    }
    gw_dest_t **pp = &ws->buckets[gw__hash(dest->tmpl, dest->value)];
    while (*pp != dest) {
        pp = &(*pp)->next;
    }
    *pp = dest->next;
    free(dest);
}

/* The filter value of rec for destination template tmpl into value; false when it has none. */
static bool gw__rec_value(const gw_cfg_t *cfg, int tmpl, const gw_rec_t *rec, json_t **parsed,
                          char value[GW_VALUE_BYTES_MAX + 1])
{
    const gw_dest_cfg_t *d = &cfg->dests[tmpl];
    if (!d->field[0]) {
        if (rec->key_len == 0 || rec->key_len > GW_VALUE_BYTES_MAX ||
            memchr(rec->key, '\0', rec->key_len)) {
            return false;
        }
        memcpy(value, rec->key, rec->key_len);
        value[rec->key_len] = '\0';
        return true;
    }
    if (!*parsed) {
        json_error_t jerr;
        *parsed = json_loadb(rec->val ? rec->val : "", rec->val_len, 0, &jerr);
        if (!*parsed) {
            *parsed = json_null(); /* not JSON: matches no JSON filter */
        }
    }
    json_t *v = json_object_get(*parsed, d->field);
    if (json_is_string(v) && strlen(json_string_value(v)) <= GW_VALUE_BYTES_MAX) {
        snprintf(value, GW_VALUE_BYTES_MAX + 1, "%s", json_string_value(v));
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(value, GW_VALUE_BYTES_MAX + 1, "%lld", (long long)json_integer_value(v));
        return true;
    }
    return false;
}

static gw_msg_t *gw__msg_new(gw_ws_t *ws, const gw_rec_t *rec, const gw_dest_t *dest)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    const char *topic = ws->svc->topics[rec->topic].name;
    char dst[GW_STR_BUF + GW_VALUE_BYTES_MAX + 1], id[GW_TOPIC_BUF + 48], num[4][24];
    snprintf(dst, sizeof dst, "%s%s", cfg->dests[dest->tmpl].prefix, dest->value);
    snprintf(id, sizeof id, "%s:%d:%lld", topic, (int)rec->partition, (long long)rec->offset);
    snprintf(num[0], sizeof num[0], "%d", (int)rec->partition);
    snprintf(num[1], sizeof num[1], "%lld", (long long)rec->offset);
    snprintf(num[2], sizeof num[2], "%lld", (long long)rec->ts_ms);
    snprintf(num[3], sizeof num[3], "%zu", rec->val_len);
    const char *body = rec->val ? rec->val : "";
    bool json = rec->val_len > 0 && (body[0] == '{' || body[0] == '[');
    gw_buf_t b;
    gw_buf_init(&b, offsetof(gw_msg_t, data));
    gw_stomp_put_hdr(&b, "destination", dst, strlen(dst));
    gw_stomp_put_hdr(&b, "message-id", id, strlen(id));
    const char *ct = json ? "application/json" : "text/plain";
    gw_stomp_put_hdr(&b, "content-type", ct, strlen(ct));
    gw_stomp_put_hdr(&b, "x-topic", topic, strlen(topic));
    gw_stomp_put_hdr(&b, "x-partition", num[0], strlen(num[0]));
    gw_stomp_put_hdr(&b, "x-offset", num[1], strlen(num[1]));
    gw_stomp_put_hdr(&b, "x-timestamp", num[2], strlen(num[2]));
    if (rec->key_len > 0) {
        gw_stomp_put_hdr(&b, "x-key", rec->key, rec->key_len);
    }
    gw_stomp_put_hdr(&b, "content-length", num[3], strlen(num[3]));
    gw_buf_put(&b, "\n", 1);
    gw_buf_put(&b, body, rec->val_len);
    gw_buf_put(&b, "", 1);
    gw_msg_t *msg = (gw_msg_t *)b.p;
    msg->refs = 1;
    msg->topic = rec->topic;
    msg->partition = rec->partition;
    msg->offset = rec->offset;
    msg->len = b.len - offsetof(gw_msg_t, data);
    return msg;
}

static gw_out_t *gw__out_msg(gw_sub_t *sub, gw_msg_t *msg)
{
    gw_out_t *out = sl_xcalloc(1, sizeof *out);
    out->msg = msg;
    msg->refs++;
    snprintf(out->sub, sizeof out->sub, "%s", sub->id);
    out->bytes = msg->len + strlen(sub->id) + 48;
    return out;
}

/* Appends msg to a waiting list of sub, counted against the connection's queue limit (past it
 * the connection fails as a slow consumer). */
static void gw__backlog(gw_ws_t *ws, gw_sub_t *sub, gw_out_t **head, gw_out_t **tail,
                        gw_msg_t *msg)
{
    gw_conn_t *conn = sub->conn;
    gw_out_t *out = gw__out_msg(sub, msg);
    if (conn->closing) {
        gw__out_free(out);
        return;
    }
    if (conn->q_bytes + conn->backlog_bytes + out->bytes > ws->svc->cfg->send_bytes_max) {
        gw__out_free(out);
        atomic_fetch_add(&ws->svc->st.conns_overflow, 1);
        gw__conn_fail(ws, conn, "slow consumer", "messages waiting over stomp.send.buffer.bytes");
        return;
    }
    if (*tail) {
        (*tail)->next = out;
    } else {
        *head = out;
    }
    *tail = out;
    sub->backlog_bytes += out->bytes;
    conn->backlog_bytes += out->bytes;
}

/* Takes the first message of a waiting list (its bytes no longer counted). */
static gw_out_t *gw__backlog_pop(gw_sub_t *sub, gw_out_t **head, gw_out_t **tail)
{
    gw_out_t *out = *head;
    *head = out->next;
    if (!*head) {
        *tail = NULL;
    }
    out->next = NULL;
    sub->backlog_bytes -= out->bytes;
    sub->conn->backlog_bytes -= out->bytes;
    return out;
}

/* Queues msg to sub now (tracking it when the ack mode is a client one). */
static void gw__deliver_now(gw_ws_t *ws, gw_sub_t *sub, gw_msg_t *msg)
{
    gw_conn_t *conn = sub->conn;
    gw_out_t *out = gw__out_msg(sub, msg);
    if (sub->ack != GW_ACK_AUTO) {
        if (!sub->unacked) {
            sub->unacked = sl_xcalloc((size_t)ws->svc->cfg->unacked_max, sizeof *sub->unacked);
        }
        out->ack = ++conn->ack_seq;
        sub->unacked[sub->nunacked++] = (gw_unacked_t){out->ack, msg};
        msg->refs++;
    }
    if (gw__enqueue(ws, conn, out)) {
        atomic_fetch_add(&ws->svc->st.delivered, 1);
    }
}

/* Queues msg to sub, or keeps it pending while stomp.unacked.max messages wait for their ack
 * (ActiveMQ's prefetch) or older ones are pending. */
static void gw__deliver(gw_ws_t *ws, gw_sub_t *sub, gw_msg_t *msg)
{
    if (sub->ack != GW_ACK_AUTO && (sub->pending || sub->nunacked == ws->svc->cfg->unacked_max)) {
        gw__backlog(ws, sub, &sub->pending, &sub->pending_tail, msg);
    } else {
        gw__deliver_now(ws, sub, msg);
    }
}

static void gw__dispatch_live(gw_ws_t *ws, gw_rec_t *rec)
{
    gw_svc_t *svc = ws->svc;
    gw_topic_t *topic = &svc->topics[rec->topic];
    if (rec->partition < 0 || rec->partition >= topic->nparts) {
        return;
    }
    topic->live_next[rec->partition] = rec->offset + 1;
    json_t *parsed = NULL;
    for (int d = 0; d < svc->cfg->ndests; d++) {
        char value[GW_VALUE_BYTES_MAX + 1];
        bool has = false;
        for (int i = 0; i < svc->cfg->dests[d].ntopics && !has; i++) {
            has = strcmp(svc->cfg->dests[d].topics[i], topic->name) == 0;
        }
        gw_dest_t *dest = has && gw__rec_value(svc->cfg, d, rec, &parsed, value)
                              ? gw__dest_find(ws, d, value, false)
                              : NULL;
        if (!dest) {
            continue;
        }
        gw_msg_t *msg = gw__msg_new(ws, rec, dest);
        for (gw_sub_t *sub = dest->subs, *next; sub; sub = next) {
            next = sub->dnext; /* a failing connection keeps its subscriptions until closed */
            if (sub->token) {
                gw__backlog(ws, sub, &sub->held, &sub->held_tail, msg);
            } else {
                gw__deliver(ws, sub, msg);
            }
        }
        gw__msg_unref(msg);
    }
    json_decref(parsed);
}

/* ---- subscriptions ---- */

static int gw__catching_find(gw_ws_t *ws, uint64_t token)
{
    for (int i = 0; i < GW_CATCHUP_MAX; i++) {
        if (ws->catching[i] && ws->catching[i]->token == token) {
            return i;
        }
    }
    return -1;
}

static void gw__sub_free(gw_ws_t *ws, gw_sub_t *sub)
{
    if (sub->token) {
        int i = gw__catching_find(ws, sub->token);
        SL_ASSERT(i >= 0);
        ws->catching[i] = NULL;
    }
    free(sub->job);
    while (sub->held) {
        gw__out_free(gw__backlog_pop(sub, &sub->held, &sub->held_tail));
    }
    while (sub->pending) {
        gw__out_free(gw__backlog_pop(sub, &sub->pending, &sub->pending_tail));
    }
    SL_ASSERT(sub->backlog_bytes == 0);
    for (int i = 0; i < sub->nunacked; i++) {
        gw__msg_unref(sub->unacked[i].msg);
    }
    free(sub->unacked);
    if (sub->dprev) {
        sub->dprev->dnext = sub->dnext;
    } else {
        sub->dest->subs = sub->dnext;
    }
    if (sub->dnext) {
        sub->dnext->dprev = sub->dprev;
    }
    gw__dest_release(ws, sub->dest);
    atomic_fetch_sub(&ws->svc->st.subs, 1);
    free(sub);
}

/* Removes park i (its pos already taken or freed); the last one moves into its place. */
static void gw__park_remove(gw_ws_t *ws, int i)
{
    ws->parks[i] = ws->parks[--ws->nparks];
    memset(&ws->parks[ws->nparks], 0, sizeof ws->parks[0]);
}

/* Remembers where a client-ack subscription stands (the oldest un-acked message of each
 * partition, else what the loop has seen) for its client-id's next session. */
static void gw__park(gw_ws_t *ws, gw_sub_t *sub)
{
    gw_conn_t *conn = sub->conn;
    if (sub->ack == GW_ACK_AUTO || !conn->client_id[0] || ws->svc->cfg->park_ms == 0 ||
        !sub->may_replay) {
        return;
    }
    int slot = ws->nparks < GW_PARK_MAX ? ws->nparks++ : 0;
    for (int i = 0; i < ws->nparks && ws->nparks == GW_PARK_MAX; i++) {
        slot = ws->parks[i].parked_ms < ws->parks[slot].parked_ms ? i : slot; /* evict oldest */
    }
    gw_park_t *park = &ws->parks[slot];
    free(park->pos);
    snprintf(park->client_id, sizeof park->client_id, "%s", conn->client_id);
    snprintf(park->sub, sizeof park->sub, "%s", sub->id);
    snprintf(park->principal, sizeof park->principal, "%s", conn->principal);
    park->tmpl = sub->dest->tmpl;
    snprintf(park->value, sizeof park->value, "%s", sub->dest->value);
    park->parked_ms = sl_time_mono_ms();
    gw_catchup_t *pos = sl_xcalloc(1, sizeof *pos);
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[sub->dest->tmpl];
    for (int i = 0; i < d->ntopics; i++) {
        int t = gw_topic_index(ws->svc, d->topics[i]);
        for (int p = 0; p < ws->svc->topics[t].nparts; p++) {
            int64_t at = ws->svc->topics[t].live_next[p];
            for (int k = 0; sub->job && k < sub->job->ntp; k++) {
                if (sub->job->tp[k].topic == t && sub->job->tp[k].partition == p) {
                    at = sub->job->tp[k].start; /* resuming: not past where it started */
                }
            }
            for (int k = 0; k < sub->nunacked; k++) {
                const gw_msg_t *m = sub->unacked[k].msg;
                at = m->topic == t && m->partition == p ? SL_MIN(at, m->offset) : at;
            }
            for (const gw_out_t *o = sub->pending; o; o = o->next) {
                at = o->msg->topic == t && o->msg->partition == p ? SL_MIN(at, o->msg->offset)
                                                                  : at;
            }
            pos->tp[pos->ntp].topic = t;
            pos->tp[pos->ntp].partition = p;
            pos->tp[pos->ntp++].start = at;
        }
    }
    park->pos = pos;
}

/* Takes the parked position of (client, sub id, destination), or NULL. */
static gw_catchup_t *gw__unpark(gw_ws_t *ws, const gw_conn_t *conn, const char *id,
                                const gw_dest_t *dest)
{
    int64_t now = sl_time_mono_ms();
    for (int i = 0; i < ws->nparks; i++) {
        gw_park_t *park = &ws->parks[i];
        if (now - park->parked_ms <= ws->svc->cfg->park_ms &&
            strcmp(park->client_id, conn->client_id) == 0 && strcmp(park->sub, id) == 0 &&
            strcmp(park->principal, conn->principal) == 0 &&
            park->tmpl == dest->tmpl && strcmp(park->value, dest->value) == 0) {
            gw_catchup_t *pos = park->pos;
            gw__park_remove(ws, i);
            return pos;
        }
    }
    return NULL;
}

static void gw__parks_expire(gw_ws_t *ws)
{
    int64_t now = sl_time_mono_ms();
    for (int i = 0; i < ws->nparks;) {
        if (now - ws->parks[i].parked_ms > ws->svc->cfg->park_ms) {
            free(ws->parks[i].pos);
            gw__park_remove(ws, i);
        } else {
            i++;
        }
    }
}

/* Parses "topic:partition:offset[,...]" into starts of job (entries already listed for every
 * partition of the destination). Returns false on a malformed list. */
static bool gw__from_offsets(gw_ws_t *ws, const gw_str_t *v, gw_catchup_t *job)
{
    char buf[4096];
    if (v->len >= sizeof buf) {
        return false;
    }
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *c2 = strrchr(tok, ':');
        char *c1 = c2 ? memrchr(tok, ':', (size_t)(c2 - tok)) : NULL;
        int64_t part = 0, off = 0;
        if (!c1) {
            return false;
        }
        *c1 = *c2 = '\0';
        int t = gw_topic_index(ws->svc, tok);
        if (t < 0 || !sl_parse_i64(c1 + 1, 0, GW_PARTS_MAX - 1, &part) ||
            !sl_parse_i64(c2 + 1, 0, INT64_MAX, &off)) {
            return false;
        }
        bool found = false;
        for (int k = 0; k < job->ntp; k++) {
            if (job->tp[k].topic == t && job->tp[k].partition == (int32_t)part) {
                job->tp[k].start = off;
                found = true;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Builds the catch-up job of a new subscription from its headers or its parked position.
 * Returns NULL when it starts live; sets *bad to the offending header on an error. */
static gw_catchup_t *gw__resume_job(gw_ws_t *ws, gw_sub_t *sub, const gw_stomp_frame_t *f,
                                    const char **bad)
{
    const gw_str_t *from_off = gw_stomp_get(f, "x-from-offset");
    const gw_str_t *from_time = gw_stomp_get(f, "x-from-time");
    gw_catchup_t *parked = from_off || from_time || sub->ack == GW_ACK_AUTO ||
                                   !sub->conn->client_id[0] || !sub->may_replay
                               ? NULL
                               : gw__unpark(ws, sub->conn, sub->id, sub->dest);
    if (!from_off && !from_time && !parked) {
        return NULL;
    }
    gw_catchup_t *job = sl_xcalloc(1, sizeof *job);
    job->from_time_ms = -1;
    if (from_time) {
        char tbuf[24];
        snprintf(tbuf, sizeof tbuf, "%.*s", (int)SL_MIN(from_time->len, 23), from_time->p);
        if (from_time->len > 20 || !sl_parse_i64(tbuf, 0, INT64_MAX, &job->from_time_ms)) {
            *bad = "x-from-time";
        }
    }
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[sub->dest->tmpl];
    for (int i = 0; i < d->ntopics; i++) {
        int t = gw_topic_index(ws->svc, d->topics[i]);
        for (int p = 0; p < ws->svc->topics[t].nparts; p++) {
            job->tp[job->ntp].topic = t;
            job->tp[job->ntp].partition = p;
            job->tp[job->ntp].target = ws->svc->topics[t].live_next[p];
            job->tp[job->ntp++].start =
                from_time ? RD_KAFKA_OFFSET_INVALID : RD_KAFKA_OFFSET_BEGINNING;
            for (int k = 0; parked && k < parked->ntp; k++) {
                if (parked->tp[k].topic == t && parked->tp[k].partition == p) {
                    job->tp[job->ntp - 1].start = parked->tp[k].start;
                }
            }
        }
    }
    free(parked);
    if (from_off && !gw__from_offsets(ws, from_off, job)) {
        *bad = "x-from-offset";
    }
    return job;
}

/* Starts the catch-up of sub (job taken over); false when too many are resuming. */
static bool gw__resume(gw_ws_t *ws, gw_sub_t *sub, gw_catchup_t *job)
{
    int slot = -1;
    for (int i = 0; i < GW_CATCHUP_MAX && slot < 0; i++) {
        slot = ws->catching[i] ? -1 : i;
    }
    bool needed = job->from_time_ms >= 0;
    for (int k = 0; k < job->ntp && !needed; k++) {
        needed = job->tp[k].start < job->tp[k].target; /* BEGINNING is negative */
    }
    if (!needed) {
        free(job);
        return true;
    }
    if (slot < 0) {
        free(job);
        return false;
    }
    sub->token = job->token = ++ws->next_token;
    ws->catching[slot] = sub;
    sub->job = sl_xmalloc(sizeof *job);
    memcpy(sub->job, job, sizeof *job);
    atomic_fetch_add(&ws->svc->st.resumes, 1);
    gw_catchup_submit(ws->svc, job);
    return true;
}

/* Delivers pending messages while the subscription may take more. */
static void gw__release(gw_ws_t *ws, gw_sub_t *sub)
{
    while (sub->pending && !sub->conn->closing &&
           (sub->ack == GW_ACK_AUTO || sub->nunacked < ws->svc->cfg->unacked_max)) {
        gw_out_t *out = gw__backlog_pop(sub, &sub->pending, &sub->pending_tail);
        gw_msg_t *msg = out->msg;
        msg->refs++;
        gw__out_free(out);
        gw__deliver_now(ws, sub, msg); /* in order: nothing pending is older */
        gw__msg_unref(msg);
    }
}

static void gw__catchup_rec(gw_ws_t *ws, gw_rec_t *rec)
{
    int i = gw__catching_find(ws, rec->token);
    if (i < 0) {
        return; /* the subscription is gone */
    }
    gw_sub_t *sub = ws->catching[i];
    if (rec->kind == GW_REC_CATCHUP_FAIL) {
        gw__conn_fail(ws, sub->conn, "resume failed", "reading the missed records timed out");
        return;
    }
    if (rec->kind == GW_REC_CATCHUP) {
        json_t *parsed = NULL;
        char value[GW_VALUE_BYTES_MAX + 1];
        if (gw__rec_value(ws->svc->cfg, sub->dest->tmpl, rec, &parsed, value) &&
            strcmp(value, sub->dest->value) == 0) {
            gw_msg_t *msg = gw__msg_new(ws, rec, sub->dest);
            gw__deliver(ws, sub, msg);
            gw__msg_unref(msg);
        }
        json_decref(parsed);
        return;
    }
    ws->catching[i] = NULL; /* done: the held live messages follow in order */
    sub->token = 0;
    free(sub->job);
    sub->job = NULL;
    if (sub->pending_tail) {
        sub->pending_tail->next = sub->held;
    } else {
        sub->pending = sub->held;
    }
    sub->pending_tail = sub->held ? sub->held_tail : sub->pending_tail;
    sub->held = sub->held_tail = NULL;
    gw__release(ws, sub);
}

/* ---- frames from the client ---- */

static gw_sub_t *gw__sub_find(gw_conn_t *conn, const gw_str_t *id, gw_sub_t ***link)
{
    for (gw_sub_t **pp = &conn->subs; *pp; pp = &(*pp)->cnext) {
        if (strlen((*pp)->id) == id->len && memcmp((*pp)->id, id->p, id->len) == 0) {
            if (link) {
                *link = pp;
            }
            return *pp;
        }
    }
    return NULL;
}

/* The template and value of a destination, or -1. */
static int gw__dest_parse(const gw_cfg_t *cfg, const gw_str_t *dst, char *value)
{
    for (int d = 0; d < cfg->ndests; d++) {
        size_t pl = strlen(cfg->dests[d].prefix);
        if (dst->len > pl && dst->len - pl <= GW_VALUE_BYTES_MAX &&
            memcmp(dst->p, cfg->dests[d].prefix, pl) == 0 && !memchr(dst->p, '\0', dst->len)) {
            memcpy(value, dst->p + pl, dst->len - pl);
            value[dst->len - pl] = '\0';
            return d;
        }
    }
    return -1;
}

/* Whether conn's credentials (a JWT whose dest patterns match, or a token of the destination)
 * let it read destination dst of template tmpl; public access is the caller's part. */
static bool gw__may_read(gw_ws_t *ws, const gw_conn_t *conn, int tmpl, const gw_str_t *dst)
{
    if (conn->jwt) {
        char name[GW_DEST_NAME_BUF];
        if (dst->len >= sizeof name) {
            return false;
        }
        memcpy(name, dst->p, dst->len);
        name[dst->len] = '\0';
        return kit_jwt_allows(conn->jwt, name);
    }
    return conn->principal[0] && kit_tokens_has(&ws->svc->cfg->dests[tmpl].tokens,
                                                conn->pass_digest);
}

static void gw__on_subscribe(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f)
{
    const gw_str_t *id = gw_stomp_get(f, "id"), *dst = gw_stomp_get(f, "destination");
    const gw_str_t *ack = gw_stomp_get(f, "ack");
    char value[GW_VALUE_BYTES_MAX + 1];
    int tmpl = dst ? gw__dest_parse(ws->svc->cfg, dst, value) : -1;
    gw_ack_t mode = GW_ACK_AUTO;
    if (ack && ack->len == 6 && memcmp(ack->p, "client", 6) == 0) {
        mode = GW_ACK_CLIENT;
    } else if (ack && ack->len == 17 && memcmp(ack->p, "client-individual", 17) == 0) {
        mode = GW_ACK_INDIVIDUAL;
    } else if (ack && !(ack->len == 4 && memcmp(ack->p, "auto", 4) == 0)) {
        gw__conn_fail(ws, conn, "bad ack header", "ack: want auto, client or client-individual");
        return;
    }
    if (!id || id->len == 0 || id->len >= GW_ID_BUF || tmpl < 0) {
        gw__conn_fail(ws, conn, id && id->len && id->len < GW_ID_BUF ? "unknown destination"
                                                                    : "bad or missing id header",
                      "SUBSCRIBE wants id (1..127 bytes) and a configured destination");
        return;
    }
    if (gw__sub_find(conn, id, NULL) || conn->nsubs == GW_SUBS_PER_CONN_MAX) {
        gw__conn_fail(ws, conn, "subscription refused", "id already in use or too many");
        return;
    }
    bool replay = gw_stomp_get(f, "x-from-offset") || gw_stomp_get(f, "x-from-time");
    bool member = gw__may_read(ws, conn, tmpl, dst);
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[tmpl];
    if (!(member || (replay ? d->public_replay : d->public_live))) {
        atomic_fetch_add(&ws->svc->st.auth_refused, 1);
        gw__conn_fail(ws, conn, "SUBSCRIBE refused",
                      replay ? "these credentials may not read this destination's history"
                             : "these credentials may not read this destination");
        return;
    }
    gw_sub_t *sub = sl_xcalloc(1, sizeof *sub);
    memcpy(sub->id, id->p, id->len);
    sub->ack = mode;
    sub->may_replay = member || d->public_replay;
    sub->conn = conn;
    sub->dest = gw__dest_find(ws, tmpl, value, true);
    sub->cnext = conn->subs;
    conn->subs = sub;
    conn->nsubs++;
    sub->dnext = sub->dest->subs;
    if (sub->dnext) {
        sub->dnext->dprev = sub;
    }
    sub->dest->subs = sub;
    atomic_fetch_add(&ws->svc->st.subs, 1);
    const char *bad = NULL;
    gw_catchup_t *job = gw__resume_job(ws, sub, f, &bad);
    if (bad) {
        free(job);
        gw__conn_fail(ws, conn, "bad resume header", bad);
    } else if (job && !gw__resume(ws, sub, job)) {
        gw__conn_fail(ws, conn, "too many subscriptions resuming", "retry shortly");
    }
}

static void gw__on_unsubscribe(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f)
{
    const gw_str_t *id = gw_stomp_get(f, "id");
    gw_sub_t **link = NULL, *sub = id ? gw__sub_find(conn, id, &link) : NULL;
    if (!sub) {
        gw__conn_fail(ws, conn, "no such subscription", "UNSUBSCRIBE wants the id of one");
        return;
    }
    *link = sub->cnext;
    conn->nsubs--;
    gw__sub_free(ws, sub);
}

/* ACK or NACK of ack id: acknowledged messages are forgotten; NACKed ones are sent again. */
static void gw__on_ack(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f, bool nack)
{
    const gw_str_t *idv = gw_stomp_get(f, "id");
    char buf[24];
    int64_t id = 0;
    if (!idv || idv->len >= sizeof buf) {
        gw__conn_fail(ws, conn, "bad ack id", "ACK and NACK want the id of a MESSAGE's ack");
        return;
    }
    snprintf(buf, sizeof buf, "%.*s", (int)idv->len, idv->p);
    if (!sl_parse_i64(buf, 1, INT64_MAX, &id)) {
        gw__conn_fail(ws, conn, "bad ack id", "ACK and NACK want the id of a MESSAGE's ack");
        return;
    }
    for (gw_sub_t *sub = conn->subs; sub; sub = sub->cnext) {
        int hit = -1;
        for (int i = 0; i < sub->nunacked && hit < 0; i++) {
            hit = sub->unacked[i].ack == (uint64_t)id ? i : -1;
        }
        if (hit < 0) {
            continue;
        }
        int from = sub->ack == GW_ACK_CLIENT ? 0 : hit; /* client mode: cumulative */
        int n = hit - from + 1;
        gw_msg_t **again = nack ? sl_xcalloc((size_t)n, sizeof *again) : NULL;
        for (int i = from; i <= hit; i++) {
            if (nack) {
                again[i - from] = sub->unacked[i].msg; /* the reference moves */
            } else {
                gw__msg_unref(sub->unacked[i].msg);
            }
        }
        memmove(&sub->unacked[from], &sub->unacked[hit + 1],
                (size_t)(sub->nunacked - hit - 1) * sizeof *sub->unacked);
        sub->nunacked -= n;
        for (int i = 0; nack && i < n; i++) {
            gw__deliver(ws, sub, again[i]); /* redelivered with a new ack id */
            gw__msg_unref(again[i]);
        }
        free(again);
        gw__release(ws, sub);
        return;
    }
    /* unknown ids (already acknowledged, or of an ended subscription) are ignored */
}

/* SEND to a route that allows it; answered by RECEIPT after the broker's ack when asked. */
static void gw__on_send(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f)
{
    const gw_str_t *dst = gw_stomp_get(f, "destination"), *rc = gw_stomp_get(f, "receipt");
    const gw_route_t *route = NULL;
    for (int i = 0; dst && i < ws->svc->cfg->nroutes && !route; i++) {
        const gw_route_t *r = &ws->svc->cfg->routes[i];
        route = r->send && strlen(r->path) == dst->len && memcmp(r->path, dst->p, dst->len) == 0
                    ? r
                    : NULL;
    }
    if (!route) {
        gw__conn_fail(ws, conn, "SEND refused", "destination is not a route open to SEND");
        return;
    }
    if (route->tokens.n && (conn->jwt || !conn->principal[0] ||
                            !kit_tokens_has(&route->tokens, conn->pass_digest))) {
        gw__conn_fail(ws, conn, "SEND refused", "the route wants its token as CONNECT passcode");
        return;
    }
    char field[GW_NAME_BUF + 8], why[256], key[GW_VALUE_BYTES_MAX + 1];
    json_t *obj = gw_route_check(route, f->body.p, f->body.len, field, sizeof field, why,
                                 sizeof why);
    if (!obj) {
        gw__conn_fail(ws, conn, "bad body", why);
        return;
    }
    size_t key_len = gw_route_key(route, obj, key, sizeof key);
    json_decref(obj);
    if (conn->nposts == GW_SENDS_MAX) {
        gw__conn_fail(ws, conn, "SEND refused", "too many SENDs waiting for the broker");
        return;
    }
    gw_post_t *post = gw_post_new(ws->svc, conn, true, route->topic, 1);
    if (rc) {
        snprintf(post->receipt, sizeof post->receipt, "%.*s",
                 (int)SL_MIN(rc->len, GW_ID_BUF - 1), rc->p);
    }
    conn->posts[conn->nposts++] = post;
    gw_post_produce(ws->svc, post, 0, RD_KAFKA_PARTITION_UA, key_len ? key : NULL, key_len,
                    f->body.p, f->body.len, NULL);
    gw_post_seal(ws->svc, post);
}

/* Sets conn's principal from a CONNECT passcode: a JWT (when stomp.jwt.secret is set) or a
 * token some destination or route lists. False with a reason for the client otherwise. */
static bool gw__authenticate(gw_ws_t *ws, gw_conn_t *conn, const gw_str_t *pass, char *why,
                             size_t why_len)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    if (cfg->jwt_secret_len && kit_jwt_shaped(pass->p, pass->len)) {
        kit_jwt_t jwt;
        if (kit_jwt_verify(cfg->jwt_secret, cfg->jwt_secret_len, pass->p, pass->len,
                           sl_time_wall_ms() / 1000, &jwt, why, why_len) != 0) {
            return false;
        }
        conn->jwt = sl_xmalloc(sizeof jwt);
        memcpy(conn->jwt, &jwt, sizeof jwt);
        conn->auth_exp_ms = jwt.exp_s > INT64_MAX / 1000 ? 0 : jwt.exp_s * 1000;
        snprintf(conn->principal, sizeof conn->principal, "jwt:%s", jwt.sub);
        return true;
    }
    kit_tokens_digest(pass->p, pass->len, conn->pass_digest);
    bool known = false;
    for (int i = 0; i < cfg->ndests; i++) {
        known |= kit_tokens_has(&cfg->dests[i].tokens, conn->pass_digest);
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        known |= kit_tokens_has(&cfg->routes[i].tokens, conn->pass_digest);
    }
    if (!known) {
        snprintf(why, why_len, "the passcode is not a token or JWT this gateway accepts");
        return false;
    }
    char id[17];
    kit_tokens_id(pass->p, pass->len, id);
    snprintf(conn->principal, sizeof conn->principal, "token:%s", id);
    return true;
}

static void gw__on_connect(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    const gw_str_t *av = gw_stomp_get(f, "accept-version"), *hb = gw_stomp_get(f, "heart-beat");
    const gw_str_t *cid = gw_stomp_get(f, "client-id"), *pass = gw_stomp_get(f, "passcode");
    char buf[64] = "1.2";
    if (av) {
        snprintf(buf, sizeof buf, "%.*s", (int)SL_MIN(av->len, sizeof buf - 1), av->p);
    }
    const char *version = strstr(buf, "1.2") ? "1.2" : strstr(buf, "1.1") ? "1.1" : NULL;
    long long cx = 0, cy = 0;
    char hbuf[48] = "0,0";
    if (hb) {
        snprintf(hbuf, sizeof hbuf, "%.*s", (int)SL_MIN(hb->len, sizeof hbuf - 1), hb->p);
    }
    if (!version || sscanf(hbuf, "%lld,%lld", &cx, &cy) != 2 || cx < 0 || cy < 0 ||
        (cid && cid->len >= GW_ID_BUF) || (pass && pass->len > KIT_AUTH_JWT_BYTES_MAX)) {
        const char *hdrs[] = {"version", "1.2", "message", "bad CONNECT", NULL};
        gw__send_frame(ws, conn, GW_STOMP_ERROR, hdrs,
                       "supported versions: 1.2,1.1; heart-beat: cx,cy; client-id < 128 bytes");
        conn->closing = true;
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, GW_ERROR_LINGER_S);
        return;
    }
    snprintf(conn->client_id, sizeof conn->client_id, "%.*s", cid ? (int)cid->len : 0,
             cid ? cid->p : "");
    char why[160];
    if (pass && pass->len && !gw__authenticate(ws, conn, pass, why, sizeof why)) {
        atomic_fetch_add(&ws->svc->st.auth_refused, 1);
        const char *hdrs[] = {"version", version, "message", "bad credentials", NULL};
        gw__send_frame(ws, conn, GW_STOMP_ERROR, hdrs, why);
        conn->closing = true;
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, GW_ERROR_LINGER_S);
        return;
    }
    conn->hb_tx_ms = cfg->hb_send_ms && cy ? SL_MAX(cfg->hb_send_ms, cy) : 0;
    conn->hb_rx_ms = cfg->hb_recv_ms && cx ? SL_MAX(cfg->hb_recv_ms, cx) : 0;
    conn->connected = true;
    char hbs[48], session[24];
    snprintf(hbs, sizeof hbs, "%lld,%lld", (long long)cfg->hb_send_ms, (long long)cfg->hb_recv_ms);
    snprintf(session, sizeof session, "%llu", (unsigned long long)conn->serial);
    const char *hdrs[] = {"version", version, "heart-beat", hbs, "server", "sluice-gateway/1",
                          "session", session, NULL};
    gw__send_frame(ws, conn, GW_STOMP_CONNECTED, hdrs, NULL);
}

static void gw__receipt(gw_ws_t *ws, gw_conn_t *conn, const gw_str_t *rc)
{
    char id[GW_ID_BUF];
    snprintf(id, sizeof id, "%.*s", (int)SL_MIN(rc->len, GW_ID_BUF - 1), rc->p);
    const char *hdrs[] = {"receipt-id", id, NULL};
    gw__send_frame(ws, conn, GW_STOMP_RECEIPT, hdrs, NULL);
}

static void gw__on_frame(gw_ws_t *ws, gw_conn_t *conn, const gw_stomp_frame_t *f)
{
    bool connect = f->cmd == GW_STOMP_CONNECT || f->cmd == GW_STOMP_STOMP;
    if (connect != !conn->connected) {
        gw__conn_fail(ws, conn, connect ? "already connected" : "not connected",
                      "a session starts with one CONNECT or STOMP frame");
        return;
    }
    switch (f->cmd) {
    case GW_STOMP_CONNECT:
    case GW_STOMP_STOMP: gw__on_connect(ws, conn, f); return;
    case GW_STOMP_SUBSCRIBE: gw__on_subscribe(ws, conn, f); break;
    case GW_STOMP_UNSUBSCRIBE: gw__on_unsubscribe(ws, conn, f); break;
    case GW_STOMP_ACK: gw__on_ack(ws, conn, f, false); break;
    case GW_STOMP_NACK: gw__on_ack(ws, conn, f, true); break;
    case GW_STOMP_SEND: gw__on_send(ws, conn, f); return; /* receipt after the broker's ack */
    case GW_STOMP_DISCONNECT: break;
    case GW_STOMP_BEGIN:
    case GW_STOMP_COMMIT:
    case GW_STOMP_ABORT:
        gw__conn_fail(ws, conn, "transactions are not supported", gw_stomp_cmd_name(f->cmd));
        return;
    default:
        gw__conn_fail(ws, conn, "not a client frame", gw_stomp_cmd_name(f->cmd));
        return;
    }
    const gw_str_t *rc = gw_stomp_get(f, "receipt");
    if (rc && !conn->closing) {
        gw__receipt(ws, conn, rc);
    }
    if (f->cmd == GW_STOMP_DISCONNECT) {
        conn->closing = true; /* closed once the RECEIPT is written */
        lws_callback_on_writable(conn->wsi);
    }
}

static void gw__send_done(gw_svc_t *svc, gw_post_t *post)
{
    gw_ws_t *ws = svc->ws;
    gw_conn_t *conn = post->owner;
    for (int i = 0; conn && i < conn->nposts; i++) {
        if (conn->posts[i] == post) {
            conn->posts[i] = conn->posts[--conn->nposts];
            break;
        }
    }
    if (conn && !conn->closing) {
        const gw_res_t *res = &post->res[0];
        if (res->err) {
            gw__conn_fail(ws, conn, "SEND failed", rd_kafka_err2str(res->err));
        } else if (post->receipt[0]) {
            gw_str_t rc = {post->receipt, strlen(post->receipt)};
            gw__receipt(ws, conn, &rc);
        }
    }
    gw_post_free(svc, post);
}

static void gw__on_rx(gw_ws_t *ws, gw_conn_t *conn, const void *in, size_t len)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    conn->last_rx_ms = sl_time_mono_ms();
    if (conn->closing) {
        return;
    }
    if (conn->rx_len + len > 2 * cfg->frame_bytes_max + 64) {
        gw__conn_fail(ws, conn, "frame too large", "over stomp.frame.max.bytes");
        return;
    }
    if (conn->rx_len + len > conn->rx_cap) {
        conn->rx_cap = SL_MAX(conn->rx_cap * 2, conn->rx_len + len);
        conn->rx = sl_xrealloc(conn->rx, conn->rx_cap);
    }
    memcpy(conn->rx + conn->rx_len, in, len);
    conn->rx_len += len;
    size_t pos = 0;
    while (!conn->closing) {
        gw_stomp_frame_t f;
        size_t used = 0;
        int hbs = 0;
        char why[128];
        int rc = gw_stomp_decode(conn->rx + pos, conn->rx_len - pos, cfg->frame_bytes_max, &f,
                                 &used, &hbs, why, sizeof why);
        pos += used;
        if (rc == SL_EAGAIN) {
            break;
        }
        if (rc != 0) {
            gw__conn_fail(ws, conn, rc == SL_ELIMIT ? "frame too large" : "malformed frame", why);
            break;
        }
        gw__on_frame(ws, conn, &f);
    }
    memmove(conn->rx, conn->rx + pos, conn->rx_len - pos);
    conn->rx_len -= pos;
}

/* ---- writing ---- */

/* Writes what is queued (up to GW_WRITE_BYTES_MAX, the rest on the next writable event);
 * -1: close the connection (a write failed, or it is closing and everything is written). */
static int gw__write(gw_ws_t *ws, gw_conn_t *conn)
{
    if (conn->ping_due && !conn->closing) {
        /* with a payload: lws 4.1 passes a pong with an empty one to no callback */
        uint8_t ping[LWS_PRE + 4] = {[LWS_PRE] = 'p', 'i', 'n', 'g'};
        conn->ping_due = false;
        if (lws_write(conn->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0) {
            return -1;
        }
        if (conn->q_head) {
            lws_callback_on_writable(conn->wsi); /* one write per writable event */
        }
        return 0;
    }
    gw_buf_t *b = &ws->scratch;
    b->len = LWS_PRE;
    /* Every queued frame that fits goes into one WebSocket message (a STOMP stream may split
     * frames across messages or join them), so a backlog costs one send, not one per frame. */
    while (conn->q_head && (b->len == LWS_PRE || b->len - LWS_PRE < GW_WRITE_BYTES_MAX)) {
        gw_out_t *out = conn->q_head;
        if (out->msg) {
            gw_buf_put(b, "MESSAGE\n", 8);
            gw_stomp_put_hdr(b, "subscription", out->sub, strlen(out->sub));
            if (out->ack) {
                char ack[24];
                snprintf(ack, sizeof ack, "%llu", (unsigned long long)out->ack);
                gw_stomp_put_hdr(b, "ack", ack, strlen(ack));
            }
            gw_buf_put(b, out->msg->data, out->msg->len);
        } else {
            gw_buf_put(b, out->own, out->own_len);
        }
        conn->q_head = out->next;
        if (!conn->q_head) {
            conn->q_tail = NULL;
        }
        conn->q_bytes -= out->bytes;
        atomic_fetch_sub(&ws->svc->st.queued_bytes, (int64_t)out->bytes);
        gw__out_free(out);
    }
    if (b->len > LWS_PRE) {
        if (lws_write(conn->wsi, b->p + LWS_PRE, b->len - LWS_PRE, LWS_WRITE_TEXT) < 0) {
            return -1;
        }
        conn->last_tx_ms = sl_time_mono_ms();
    }
    if (conn->q_head) {
        lws_callback_on_writable(conn->wsi);
        return 0;
    }
    return conn->closing ? -1 : 0;
}

/* Ends a drain turn: each connection given frames during it gets them in one write now, from
 * the loop thread, instead of asking lws for a writable event (a poll change each way and a
 * wake-up per delivery). A socket that cannot take it all is finished by lws's own buffer and
 * writable events; a closing connection writes from its writable event, which closes it. */
static void gw__uncork(gw_ws_t *ws)
{
    SL_ASSERT(ws->corked);
    ws->corked = false;
    while (ws->flush) {
        gw_conn_t *conn = ws->flush;
        ws->flush = conn->flush_next;
        conn->flushing = false;
        if (!conn->q_head) {
            continue;
        }
        if (conn->closing || lws_partial_buffered(conn->wsi)) {
            lws_callback_on_writable(conn->wsi);
        } else if (gw__write(ws, conn) < 0) {
            conn->closing = true;
            gw__queue_drop(ws, conn);
            lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    }
}

/* ---- timers ---- */

static void gw__sweep(lws_sorted_usec_list_t *sul)
{
    gw_ws_t *ws = lws_container_of(sul, gw_ws_t, sul);
    const gw_cfg_t *cfg = ws->svc->cfg;
    int64_t now = sl_time_mono_ms();
    if (atomic_load(&ws->svc->stop)) {
        /* libuv's loop runs inside lws_service until the context is destroyed from within
         * it: this first destroy closes everything and lets lws_service return */
        lws_context_destroy(ws->svc->ctx);
        return;
    }
    for (gw_conn_t *conn = ws->conns; conn; conn = conn->next) {
        if (!conn->closing && !conn->connected &&
            now - conn->last_rx_ms > GW_CONNECT_TIMEOUT_S * 1000) {
            gw__conn_fail(ws, conn, "no CONNECT", "a session starts with CONNECT or STOMP");
        }
        if (conn->closing || !conn->connected) {
            continue;
        }
        int64_t quiet = now - conn->last_rx_ms;
        if (conn->hb_rx_ms && quiet > GW_HB_GRACE_MUL * conn->hb_rx_ms) {
            atomic_fetch_add(&ws->svc->st.conns_hb_timeout, 1);
            gw__conn_fail(ws, conn, "heart-beat timeout", "nothing received in time");
        } else if (!conn->hb_rx_ms && quiet > cfg->idle_ms) {
            atomic_fetch_add(&ws->svc->st.conns_idle, 1);
            gw__conn_fail(ws, conn, "idle timeout",
                          "nothing received (not even a pong) within stomp.idle.timeout.ms");
        } else if (conn->auth_exp_ms && sl_time_wall_ms() >= conn->auth_exp_ms) {
            gw__conn_fail(ws, conn, "credentials expired", "CONNECT again with a fresh token");
        } else if (!conn->hb_rx_ms && quiet > cfg->idle_ms / 2 && !conn->ping_due &&
                   now - conn->ping_ms > cfg->idle_ms / 4) {
            conn->ping_due = true; /* a browser's WebSocket answers with a pong by itself */
            conn->ping_ms = now;
            lws_callback_on_writable(conn->wsi);
        } else if (conn->q_head && now - conn->q_head->enq_ms > cfg->send_time_ms) {
            atomic_fetch_add(&ws->svc->st.conns_overflow, 1);
            gw__conn_fail(ws, conn, "slow consumer", "a frame waited over stomp.send.time.ms");
        } else if (conn->hb_tx_ms && !conn->q_head && now - conn->last_tx_ms >= conn->hb_tx_ms) {
            gw_out_t *out = sl_xcalloc(1, sizeof *out);
            out->own = sl_xmalloc(1);
            out->own[0] = '\n';
            out->own_len = out->bytes = 1;
            gw__enqueue(ws, conn, out);
        }
    }
    gw__parks_expire(ws);
    lws_sul_schedule(ws->svc->ctx, 0, sul, gw__sweep, GW_SWEEP_MS * LWS_US_PER_MS);
}

/* ---- connections ---- */

/* Connections per peer address (connections.max.per.ip): a hash of counts, one entry per
 * address with a connection open. */
static gw_ipc_t *gw__ip_find(gw_ws_t *ws, const char *ip, bool create)
{
    uint32_t h = gw__hash(0, ip) % GW_IP_BUCKETS;
    for (gw_ipc_t *ipc = ws->ips[h]; ipc; ipc = ipc->next) {
        if (strcmp(ipc->ip, ip) == 0) {
            return ipc;
        }
    }
    if (!create) {
        return NULL;
    }
    gw_ipc_t *ipc = sl_xcalloc(1, sizeof *ipc);
    snprintf(ipc->ip, sizeof ipc->ip, "%s", ip);
    ipc->next = ws->ips[h];
    ws->ips[h] = ipc;
    return ipc;
}

static void gw__ip_release(gw_ws_t *ws, const char *ip)
{
    uint32_t h = gw__hash(0, ip) % GW_IP_BUCKETS;
    for (gw_ipc_t **pp = &ws->ips[h]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ip, ip) == 0) {
            gw_ipc_t *ipc = *pp;
            if (--ipc->n == 0) {
                *pp = ipc->next;
                free(ipc);
            }
            return;
        }
    }
}

static void gw__conn_closed(gw_ws_t *ws, gw_conn_t *conn)
{
    SL_ASSERT(!conn->flushing); /* lws closes nothing inside a drain turn */
    while (conn->subs) {
        gw_sub_t *sub = conn->subs;
        conn->subs = sub->cnext;
        gw__park(ws, sub);
        gw__sub_free(ws, sub);
    }
    gw__queue_drop(ws, conn);
    for (int i = 0; i < conn->nposts; i++) {
        gw_post_disown(ws->svc, conn->posts[i]);
    }
    if (conn->prev) {
        conn->prev->next = conn->next;
    } else {
        ws->conns = conn->next;
    }
    if (conn->next) {
        conn->next->prev = conn->prev;
    }
    ws->nconns--;
    gw__ip_release(ws, conn->ip);
    atomic_fetch_sub(&ws->svc->st.conns, 1);
    free(conn->jwt);
    free(conn->rx);
    free(conn);
}

static int gw__on_established(gw_ws_t *ws, gw_pss_t *pss, struct lws *wsi)
{
    gw_conn_t *conn = sl_xcalloc(1, sizeof *conn);
    conn->wsi = wsi;
    conn->serial = ++ws->next_serial;
    conn->last_rx_ms = conn->last_tx_ms = sl_time_mono_ms();
    lws_get_peer_simple(wsi, conn->ip, sizeof conn->ip);
    gw__ip_find(ws, conn->ip, true)->n++;
    conn->next = ws->conns;
    if (conn->next) {
        conn->next->prev = conn;
    }
    ws->conns = conn;
    ws->nconns++;
    pss->conn = conn;
    atomic_fetch_add(&ws->svc->st.conns, 1);
    atomic_fetch_add(&ws->svc->st.conns_opened, 1);
    return 0; /* the sweep ends a session that sends no CONNECT in time */
}

/* Only the configured path upgrades, only below connections.max, and only below
 * connections.max.per.ip for the peer's address. */
static int gw__filter(gw_ws_t *ws, struct lws *wsi)
{
    char uri[GW_STR_BUF];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
        strcmp(uri, ws->svc->cfg->ws_path) != 0) {
        return 1;
    }
    if (ws->nconns >= ws->svc->cfg->connections_max) {
        return 1;
    }
    char ip[GW_IP_BUF];
    lws_get_peer_simple(wsi, ip, sizeof ip);
    gw_ipc_t *ipc = gw__ip_find(ws, ip, false);
    if (ipc && ipc->n >= ws->svc->cfg->conns_per_ip_max) {
        atomic_fetch_add(&ws->svc->st.conns_per_ip_refused, 1);
        return 1;
    }
    return 0;
}

/* New partitions of a consumed topic: their records are dispatched from offset 0 on. */
static void gw__parts_grown(gw_ws_t *ws, const gw_rec_t *rec)
{
    gw_topic_t *topic = &ws->svc->topics[rec->topic];
    SL_ASSERT(rec->partition <= GW_PARTS_MAX);
    for (int p = topic->nparts; p < rec->partition; p++) {
        topic->live_next[p] = 0;
    }
    if (rec->partition > topic->nparts) {
        topic->nparts = rec->partition;
    }
}

static void gw__drain(gw_ws_t *ws)
{
    gw_svc_t *svc = ws->svc;
    bool more = false;
    gw_rec_t *rec = gw_handoff_take(svc, GW_LOOP_BATCH, &more);
    ws->corked = true;
    while (rec) {
        gw_rec_t *next = rec->next;
        if (rec->kind == GW_REC_LIVE) {
            gw__dispatch_live(ws, rec);
        } else if (rec->kind == GW_REC_PARTS) {
            gw__parts_grown(ws, rec);
        } else {
            gw__catchup_rec(ws, rec);
        }
        gw_rec_free(rec);
        rec = next;
    }
    gw__uncork(ws);
    for (gw_post_t *post = gw_post_take_done(svc), *next; post; post = next) {
        next = post->next;
        if (post->stomp) {
            gw__send_done(svc, post);
        } else {
            gw_http_post_done(svc, post);
        }
    }
    gw_http_meta_refreshed(svc);
    if (more && !atomic_load(&svc->stop)) {
        lws_cancel_service(svc->ctx); /* the rest next turn: sockets are served meanwhile */
    }
}

static int gw__cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    gw_svc_t *svc = ctx ? lws_context_user(ctx) : NULL;
    gw_ws_t *ws = svc ? svc->ws : NULL;
    gw_pss_t *pss = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return gw__filter(ws, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return gw__on_established(ws, pss, wsi);
    case LWS_CALLBACK_RECEIVE:
        gw__on_rx(ws, pss->conn, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->conn) {
            pss->conn->last_rx_ms = sl_time_mono_ms();
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? gw__write(ws, pss->conn) : 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->conn) {
            gw__conn_closed(ws, pss->conn);
            pss->conn = NULL;
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (ws) {
            gw__drain(ws);
        }
        return 0;
    default:
        return gw_http_callback(svc, wsi, (int)reason, pss ? pss->http : NULL, in, len);
    }
}

/* Every protocol shares the callback and the session layout, so a client that names no
 * subprotocol is served too. */
#define GW_PROTO(name) {name, gw__cb, 0, 65536, 0, NULL, 0}
static struct lws_protocols gw__protocols[] = {
    GW_PROTO("http"), GW_PROTO("v12.stomp"), GW_PROTO("v11.stomp"), GW_PROTO("v10.stomp"),
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Runs lws (on libuv: epoll, so a loop turn costs what is ready, not what is open) until the
 * sweep destroys the context at stop. */
static void *gw__loop_main(void *arg)
{
    gw_svc_t *svc = arg;
    while (lws_service(svc->ctx, 0) >= 0 && !atomic_load(&svc->stop)) {
    }
    return NULL;
}

int gw_loop_start(gw_svc_t *svc, char *err, size_t err_len)
{
    const gw_cfg_t *cfg = svc->cfg;
    char host[KIT_HOST_BYTES];
    int port = 0;
    if (kit_listen_parse(cfg->http_listen, host, &port, err, err_len) != 0) {
        return SL_EINVAL;
    }
    for (size_t i = 0; gw__protocols[i].name; i++) {
        gw__protocols[i].per_session_data_size = sizeof(gw_pss_t) + gw_http_size();
    }
    gw_ws_t *ws = sl_xcalloc(1, sizeof *ws);
    ws->svc = svc;
    gw_buf_init(&ws->scratch, LWS_PRE);
    svc->ws = ws;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = host;
    info.protocols = gw__protocols;
    info.user = svc;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBUV;
    info.vhost_name = "gateway";
    /* no fd_limit_per_thread: with it lws looks connections up by a linear search; the
     * process fd limit (ulimit -n) bounds connections, and connections.max below it */
    info.pt_serv_buf_size = 65536;
    /* No lws validity (idle ping) timers: STOMP heart-beats and the sweep watch liveness.
     * lws's default policy re-arms a per-connection timer on every frame, a sorted insert
     * into one list of every connection: O(connections) per delivery. */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
                                               .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = &no_validity;
    svc->ctx = lws_create_context(&info);
    if (!svc->ctx) {
        snprintf(err, err_len, "http: cannot listen on %s (in use or not a local address)",
                 cfg->http_listen);
        gw_buf_deinit(&ws->scratch);
        free(ws);
        svc->ws = NULL;
        return SL_EINVAL;
    }
    svc->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(svc->ctx, "gateway"));
    lws_sul_schedule(svc->ctx, 0, &ws->sul, gw__sweep, GW_SWEEP_MS * LWS_US_PER_MS);
    if (pthread_create(&svc->loop_th, NULL, gw__loop_main, svc) != 0) {
        lws_context_destroy(svc->ctx);
        gw_buf_deinit(&ws->scratch);
        free(ws);
        svc->ws = NULL;
        return SL_ENOMEM;
    }
    return 0;
}

void gw_loop_stop(gw_svc_t *svc)
{
    gw_ws_t *ws = svc->ws;
    pthread_join(svc->loop_th, NULL); /* the sweep saw svc->stop (within GW_SWEEP_MS) */
    lws_context_destroy(svc->ctx);    /* the second, final destroy */
    gw__drain(ws);                 /* answers (to nobody) and frees the finished posts */
    for (int i = 0; i < ws->nparks; i++) {
        free(ws->parks[i].pos);
    }
    for (int i = 0; i < GW_IP_BUCKETS; i++) {
        while (ws->ips[i]) {
            gw_ipc_t *ipc = ws->ips[i];
            ws->ips[i] = ipc->next;
            free(ipc);
        }
    }
    gw_buf_deinit(&ws->scratch);
    free(ws);
    svc->ws = NULL;
}
