/* gw_ws: the loop thread. Starts kit_http (HTTP routes in gw_http.c, WebSocket on the same port),
 * accepts and closes WebSocket connections (per-address limits), writes queued frames, and runs
 * the timers: heart-beats, queue age, CONNECT and idle time-outs, credential expiry. STOMP
 * sessions are in gw_session.c, the fan-out of records in gw_fanout.c. Thread: loop, except
 * gw_loop_start/stop. */
#include "gw_ws_int.h"
#include "kit_http.h"

#include "sl_time.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        return; /* kit_http_stop ends the loop */
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
    uint32_t h = gw__hash(ws, 0, ip) % GW_IP_BUCKETS;
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
    uint32_t h = gw__hash(ws, 0, ip) % GW_IP_BUCKETS;
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

/* Remembers how far this gateway's acknowledgements reach in each consumed partition, so
 * that a later live subscription does not get them (gw__sub_floors). */
static void gw__note_acked(gw_svc_t *svc, const gw_post_t *post)
{
    int t = gw_topic_index(svc, post->topic);
    for (int i = 0; t >= 0 && i < post->nres; i++) {
        const gw_res_t *res = &post->res[i];
        if (!res->err && res->partition >= 0 && res->partition < GW_PARTS_MAX) {
            int64_t *at = &svc->topics[t].acked_next[res->partition];
            *at = SL_MAX(*at, res->offset + 1);
        }
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
        gw__note_acked(svc, post);
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

static int gw__ws_cb(void *user, struct lws *wsi, int reason, void *ws_data, void *in,
                     size_t len)
{
    gw_svc_t *svc = user;
    gw_ws_t *ws = svc->ws;
    gw_pss_t *pss = ws_data;
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
    default:
        return 0;
    }
}

static void gw__on_wake(void *user)
{
    gw_svc_t *svc = user;
    if (svc->ws) {
        gw__drain(svc->ws);
    }
}

/* The server exists, its thread not yet: the sweep timer starts. */
static void gw__on_start(void *user, kit_http_t *http)
{
    gw_svc_t *svc = user;
    svc->ws->http = http;
    svc->ctx = kit_http_context(http);
    lws_sul_schedule(svc->ctx, 0, &svc->ws->sul, gw__sweep, GW_SWEEP_MS * LWS_US_PER_MS);
}

static const char *const gw__ws_protocols[] = {"v12.stomp", "v11.stomp", "v10.stomp", NULL};

int gw_loop_start(gw_svc_t *svc, char *err, size_t err_len)
{
    const gw_cfg_t *cfg = svc->cfg;
    kit_http_route_t routes[KIT_HTTP_ROUTES_MAX];
    gw_ws_t *ws = sl_xcalloc(1, sizeof *ws);
    ws->hash_key = sl_siphash_key_random();
    ws->svc = svc;
    gw_buf_init(&ws->scratch, LWS_PRE);
    svc->ws = ws;
    kit_http_cfg_t http = {
        .name = "gateway",
        .listen = cfg->http_listen,
        .routes = routes,
        .nroutes = gw_http_routes(svc, routes, KIT_HTTP_ROUTES_MAX - 1),
        .methods = KIT_HTTP_GET | KIT_HTTP_POST,
        .user = svc,
        .body_bytes_max = cfg->request_bytes_max,
        .errors = KIT_HTTP_ERRORS_CODE_MESSAGE,
        .www_authenticate = "Bearer",
        .rx_buf_bytes = 65536,
        .serv_buf_bytes = 65536,
        .health = gw_http_health,
        .on_wake = gw__on_wake,
        .on_done = gw_http_done,
        .req_data_bytes = gw_http_size(),
        .ws_protocols = gw__ws_protocols,
        .ws_data_bytes = sizeof(gw_pss_t),
        .ws_cb = gw__ws_cb,
        .libuv = true,       /* epoll: a loop turn costs what is ready, not what is open */
        .no_validity = true, /* STOMP heart-beats and the sweep watch liveness */
        .on_start = gw__on_start,
    };
    int rc = kit_http_start(&http, &ws->http, err, err_len);
    if (rc != 0) {
        gw_buf_deinit(&ws->scratch);
        free(ws);
        svc->ws = NULL;
        return rc;
    }
    svc->port = kit_http_port(ws->http);
    return 0;
}

void gw_loop_stop(gw_svc_t *svc)
{
    gw_ws_t *ws = svc->ws;
    kit_http_stop(ws->http); /* closes every connection, ends the loop thread */
    gw__drain(ws);           /* answers (to nobody) and frees the finished posts */
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
