/* Per-connection state of the broker: the listener a connection came through, its principal,
 * the SASL exchange (SaslHandshake v0-1 then SaslAuthenticate v0-2, or after a v0 handshake
 * raw size-prefixed tokens as kafka-python sends them), and the connection limits:
 * max.connections and max.connections.per.ip at accept, connections.max.idle.ms and
 * connections.max.authentication.ms (TLS handshake plus SASL exchange) by a periodic sweep.
 * Like Kafka's SaslServerAuthenticator, a SASL listener serves only ApiVersions and the SASL
 * requests until authentication succeeds; anything else closes the connection. */
#include "brk_internal.h"
#include "sl_buf.h"
#include "sl_log.h"
#include "snet_sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct brk_conn {
    brk_conn_t *prev, *next;
    brk_t *brk;
    brk_lst_t *lst;
    snet_conn_t *conn;
    int64_t opened_ms;
    bool sasl_listener;
    bool handshaken;    /* a SaslHandshake chose a mechanism */
    bool raw;           /* ... of version 0: raw tokens follow */
    bool authenticated; /* or no authentication needed (PLAINTEXT, SSL) */
    bool principal_set;
    bool closing;       /* closed by the sweep; on_close not yet run */
    int32_t fetches_parked; /* long-poll fetches waiting (fetch.c) */
    snet_sasl_t *sasl;
    snet_mech_t mech;
    char principal[BRK_PRINCIPAL_BYTES_MAX];
};

static brk_conn_t *brk__bc(const snet_conn_t *conn)
{
    return snet_conn_ctx(conn);
}

const char *brk_conn_principal(const snet_conn_t *conn)
{
    brk_conn_t *bc = brk__bc(conn);
    if (!bc->principal_set && bc->lst->conf->proto == BRK_PROTO_SSL && snet_conn_ready(conn)) {
        const char *subject = snet_conn_tls_subject(conn);
        snprintf(bc->principal, sizeof bc->principal, "User:%s",
                 subject && *subject ? subject : "ANONYMOUS");
        bc->principal_set = true;
    }
    return bc->principal;
}

int32_t *brk_conn_fetches_parked(const snet_conn_t *conn)
{
    return &brk__bc(conn)->fetches_parked;
}

const char *brk_conn_listener(const snet_conn_t *conn)
{
    return brk__bc(conn)->lst->conf->name;
}

brk_secproto_t brk_conn_protocol(const snet_conn_t *conn)
{
    return brk__bc(conn)->lst->conf->proto;
}

brk_t *brk_conn_brk(const snet_conn_t *conn)
{
    return brk__bc(conn)->brk;
}

void brk_conn_adv(const snet_conn_t *conn, const char **host, int *port)
{
    const brk_lst_t *lst = brk__bc(conn)->lst;
    *host = lst->adv_host;
    *port = lst->adv_port;
}

/* ---- accept and close ---- */

static size_t brk__conns_from(const brk_t *brk, const char *ip)
{
    size_t n = 0;
    for (const brk_conn_t *bc = brk->conns; bc; bc = bc->next) {
        n += strcmp(snet_conn_peer_ip(bc->conn), ip) == 0;
    }
    return n;
}

static bool brk__conn_open(snet_conn_t *conn)
{
    brk_lst_t *lst = snet_conn_ctx(conn);
    brk_t *brk = lst->brk;
    const char *ip = snet_conn_peer_ip(conn);
    if ((int64_t)brk->nconns >= brk->conf.max_connections) {
        SL_LOGW("net", "%s: refusing connection on listener %s: max.connections=%lld reached",
                snet_conn_peer(conn), lst->conf->name, (long long)brk->conf.max_connections);
        return false;
    }
    if ((int64_t)brk__conns_from(brk, ip) >= brk->conf.max_connections_per_ip) {
        SL_LOGW("net", "%s: refusing connection on listener %s: max.connections.per.ip=%lld "
                "reached for %s", snet_conn_peer(conn), lst->conf->name,
                (long long)brk->conf.max_connections_per_ip, ip);
        return false;
    }
    brk_conn_t *bc = sl_xcalloc(1, sizeof *bc);
    bc->brk = brk;
    bc->lst = lst;
    bc->conn = conn;
    bc->opened_ms = snet_loop_now_ms(brk->loop);
    brk_secproto_t proto = lst->conf->proto;
    bc->sasl_listener = proto == BRK_PROTO_SASL_PLAINTEXT || proto == BRK_PROTO_SASL_SSL;
    bc->authenticated = !bc->sasl_listener;
    snprintf(bc->principal, sizeof bc->principal, "User:ANONYMOUS");
    bc->principal_set = proto != BRK_PROTO_SSL;
    if (bc->sasl_listener) {
        snet_conn_set_max_frame(conn, SL_MIN((size_t)BRK_SASL_RECEIVE_BYTES_MAX,
                                             (size_t)brk->conf.socket_request_max_bytes));
    }
    bc->next = brk->conns;
    if (brk->conns) {
        brk->conns->prev = bc;
    }
    brk->conns = bc;
    brk->nconns++;
    snet_conn_set_ctx(conn, bc);
    return true;
}

static void brk__conn_close(snet_conn_t *conn)
{
    brk_conn_t *bc = brk__bc(conn);
    brk_t *brk = bc->brk;
    if (bc->prev) {
        bc->prev->next = bc->next;
    } else {
        brk->conns = bc->next;
    }
    if (bc->next) {
        bc->next->prev = bc->prev;
    }
    brk->nconns--;
    snet_sasl_free(bc->sasl);
    free(bc);
}

void brk__on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len);

const snet_handler_t brk_conn_handler = {
    .on_frame = brk__on_frame,
    .on_close = brk__conn_close,
    .on_open = brk__conn_open,
};

/* ---- the sweep: authentication time limit and idle connections ---- */

static int64_t brk__sweep_ms(const brk_t *brk)
{
    int64_t ms = BRK_CONN_SWEEP_MS_MAX;
    if (brk->conf.connections_max_idle_ms > 0) {
        ms = SL_MIN(ms, brk->conf.connections_max_idle_ms / 4);
    }
    ms = SL_MIN(ms, brk->conf.authn_timeout_ms / 4);
    return SL_MAX(ms, (int64_t)10);
}

static void brk__conns_sweep(void *ctx)
{
    brk_t *brk = ctx;
    brk->conn_timer = NULL;
    int64_t now = snet_loop_now_ms(brk->loop);
    int64_t idle_ms = brk->conf.connections_max_idle_ms;
    brk_conn_t *next;
    for (brk_conn_t *bc = brk->conns; bc; bc = next) {
        next = bc->next;
        if (bc->closing) {
            continue;
        }
        bool ready = snet_conn_ready(bc->conn);
        if ((!ready || !bc->authenticated) && now - bc->opened_ms > brk->conf.authn_timeout_ms) {
            SL_LOGW("net", "%s: closing: %s not finished within %lld ms "
                    "(connections.max.authentication.ms)", snet_conn_peer(bc->conn),
                    ready ? "SASL authentication" : "TLS handshake",
                    (long long)brk->conf.authn_timeout_ms);
            bc->closing = true;
            snet_conn_close(bc->conn);
        } else if (idle_ms > 0 && snet_conn_pending(bc->conn) == 0 &&
                   now - snet_conn_active_ms(bc->conn) > idle_ms) {
            SL_LOGI("net", "%s: closing idle connection (connections.max.idle.ms=%lld)",
                    snet_conn_peer(bc->conn), (long long)idle_ms);
            bc->closing = true;
            snet_conn_close(bc->conn);
        }
    }
    brk->conn_timer = snet_timer_start(brk->loop, brk__sweep_ms(brk), brk__conns_sweep, brk);
}

void brk_conns_start(brk_t *brk)
{
    brk->conn_timer = snet_timer_start(brk->loop, brk__sweep_ms(brk), brk__conns_sweep, brk);
}

void brk_conns_stop(brk_t *brk)
{
    if (brk->conn_timer) {
        snet_timer_cancel(brk->loop, brk->conn_timer);
        brk->conn_timer = NULL;
    }
}

/* ---- SASL ---- */

bool brk_conn_may_serve(const snet_conn_t *conn, int16_t api_key)
{
    const brk_conn_t *bc = brk__bc(conn);
    return bc->authenticated || api_key == KAPI_API_VERSIONS ||
           api_key == KAPI_SASL_HANDSHAKE || api_key == KAPI_SASL_AUTHENTICATE;
}

static int brk__sasl_lookup(void *ctx, snet_mech_t mech, const char *user, snet_scram_cred_t *out)
{
    brk_t *brk = ctx;
    return brk_users_lookup(brk->users, mech, user, out);
}

static void brk__sasl_success(brk_conn_t *bc)
{
    bc->authenticated = true;
    snprintf(bc->principal, sizeof bc->principal, "User:%s", snet_sasl_user(bc->sasl));
    snet_conn_set_max_frame(bc->conn, (size_t)bc->brk->conf.socket_request_max_bytes);
    SL_LOGI("sasl", "%s: authenticated as %s with %s on listener %s", snet_conn_peer(bc->conn),
            snet_sasl_user(bc->sasl), snet_mech_name(bc->mech), bc->lst->conf->name);
}

static void brk__sasl_failed(brk_conn_t *bc, const char *why)
{
    SL_LOGW("sasl", "%s: authentication failed on listener %s: %s", snet_conn_peer(bc->conn),
            bc->lst->conf->name, why);
}

void brk_handle_sasl_handshake(brk_req_t *req)
{
    kmsg_sasl_handshake_req_t *body = req->body;
    snet_conn_t *conn = snet_slot_conn(req->slot);
    brk_conn_t *bc = brk__bc(conn);
    brk_t *brk = req->brk;
    kmsg_sasl_handshake_resp_t resp;
    kmsg_sasl_handshake_resp_init(&resp);
    resp.mechanisms = brk_alloc(req, SNET_MECH_COUNT, sizeof *resp.mechanisms);
    resp.mechanisms_count = 0;
    for (int m = 0; m < SNET_MECH_COUNT && bc->sasl_listener; m++) {
        if (brk->conf.sasl_mechs & (1u << m)) {
            resp.mechanisms[resp.mechanisms_count++] = kproto_str(snet_mech_name((snet_mech_t)m));
        }
    }
    snet_mech_t mech;
    bool known = body->mechanism.len > 0 &&
                 snet_mech_parse(body->mechanism.ptr, (size_t)body->mechanism.len, &mech);
    if (!bc->sasl_listener || bc->handshaken || bc->authenticated) {
        resp.error_code = KERR_ILLEGAL_SASL_STATE;
        SL_LOGW("sasl", "%s: closing: unexpected SaslHandshake on listener %s", req->peer,
                bc->lst->conf->name);
    } else if (!known || !(brk->conf.sasl_mechs & (1u << mech))) {
        resp.error_code = KERR_UNSUPPORTED_SASL_MECHANISM;
        SL_LOGW("sasl", "%s: closing: SASL mechanism '%.*s' is not enabled", req->peer,
                SL_MAX(body->mechanism.len, 0), body->mechanism.ptr ? body->mechanism.ptr : "");
    } else {
        bc->handshaken = true;
        bc->raw = req->api_version == 0;
        brk_users_refresh(brk->users);
        bc->mech = mech;
        bc->sasl = snet_sasl_new(mech, brk__sasl_lookup, brk);
    }
    bool close = resp.error_code != KERR_NONE;
    brk_respond(req, &resp);
    if (close) {
        snet_conn_close(conn);
    }
}

void brk_handle_sasl_authenticate(brk_req_t *req)
{
    kmsg_sasl_authenticate_req_t *body = req->body;
    snet_conn_t *conn = snet_slot_conn(req->slot);
    brk_conn_t *bc = brk__bc(conn);
    kmsg_sasl_authenticate_resp_t resp;
    kmsg_sasl_authenticate_resp_init(&resp);
    resp.error_message = (kproto_str_t){NULL, -1}; /* null unless there is an error */
    bool close = true;
    if (!bc->handshaken || bc->raw || bc->authenticated) {
        resp.error_code = KERR_ILLEGAL_SASL_STATE;
        resp.error_message = kproto_str("Unexpected SaslAuthenticate request: no SaslHandshake v1 "
                                        "before it, or already authenticated");
        SL_LOGW("sasl", "%s: closing: unexpected SaslAuthenticate", req->peer);
    } else {
        uint8_t *tok;
        size_t tok_len;
        const char *why = NULL;
        int rc = snet_sasl_step(bc->sasl, body->auth_bytes.ptr ? body->auth_bytes.ptr
                                                                : (const uint8_t *)"",
                                (size_t)SL_MAX(body->auth_bytes.len, 0), &tok, &tok_len, &why);
        if (rc < 0) {
            resp.error_code = KERR_SASL_AUTHENTICATION_FAILED;
            resp.error_message = kproto_str(why);
            brk__sasl_failed(bc, why);
        } else {
            uint8_t *copy = brk_alloc(req, (int32_t)tok_len + 1, 1);
            memcpy(copy, tok, tok_len);
            free(tok);
            resp.auth_bytes = (kproto_bytes_t){copy, (int32_t)tok_len};
            close = false;
            if (rc == SNET_SASL_DONE) {
                brk__sasl_success(bc);
            }
        }
    }
    brk_respond(req, &resp);
    if (close) {
        snet_conn_close(conn);
    }
}

/* A raw token after SaslHandshake v0: answered with a size-prefixed raw token; a failure
 * closes the connection (the v0 protocol has no way to say why). */
static void brk__sasl_raw(brk_conn_t *bc, snet_slot_t *slot, uint8_t *frame, size_t len)
{
    uint8_t *tok;
    size_t tok_len;
    const char *why = NULL;
    int rc = snet_sasl_step(bc->sasl, frame, len, &tok, &tok_len, &why);
    free(frame);
    if (rc < 0) {
        brk__sasl_failed(bc, why);
        snet_slot_done(slot);
        snet_conn_close(bc->conn);
        return;
    }
    uint8_t *out = sl_xmalloc(tok_len + 4);
    sl_be32_put(out, (uint32_t)tok_len);
    memcpy(out + 4, tok, tok_len);
    free(tok);
    if (rc == SNET_SASL_DONE) {
        brk__sasl_success(bc);
    }
    snet_out_t *o = snet_out_new();
    snet_out_mem(o, out, tok_len + 4, free, out);
    snet_slot_send(slot, o);
}

bool brk_conn_on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len)
{
    brk_conn_t *bc = brk__bc(conn);
    if (!bc->principal_set) {
        /* SSL: the first request comes after the handshake; the principal is known now */
        const char *principal = brk_conn_principal(conn);
        if (snet_conn_tls_subject(conn)) {
            SL_LOGI("tls", "%s: authenticated as %s by client certificate on listener %s",
                    snet_conn_peer(conn), principal, bc->lst->conf->name);
        }
    }
    if (bc->raw && !bc->authenticated) {
        brk__sasl_raw(bc, slot, frame, len);
        return false;
    }
    return true;
}
