/* gw_session: STOMP 1.2 frames from a client on the loop thread (CONNECT/STOMP with its
 * credentials, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, SEND, DISCONNECT, RECEIPT, ERROR) and
 * heart-beat negotiation. Thread: loop. */
#include "gw_ws_int.h"

#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    } else if (!job) {
        gw__sub_floors(ws, sub);
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

void gw__send_done(gw_svc_t *svc, gw_post_t *post)
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

void gw__on_rx(gw_ws_t *ws, gw_conn_t *conn, const void *in, size_t len)
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
