/* Per-connection state of the broker: the listener a connection came through, its principal,
 * the SASL exchange (SaslHandshake v0-1 then SaslAuthenticate v0-2, or after a v0 handshake
 * raw size-prefixed tokens as kafka-python sends them), and the connection limits:
 * max.connections and max.connections.per.ip at accept, connections.max.idle.ms and
 * connections.max.authentication.ms (TLS handshake plus SASL exchange) by a periodic sweep.
 * Like Kafka's SaslServerAuthenticator, a SASL listener serves only ApiVersions and the SASL
 * requests until authentication succeeds; anything else closes the connection. */
#include "brk_auth.h"
#include "brk_conf.h"
#include "brk_internal.h"
#include "brk_mon.h"
#include "brk_limits.h"
#include "brk_req.h"
#include "brk_users.h"
#include "brk_workq.h"
#include "kerr.h"
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
    struct brk_authjob *job; /* a password check or a delayed failure in flight */
    char principal[BRK_PRINCIPAL_BYTES_MAX];
};

/* One SASL answer waiting for the verifier thread (PBKDF2) or for the failure delay. */
typedef struct brk_authjob {
    brk_work_t work;       /* first */
    brk_t *brk;
    brk_conn_t *bc;        /* NULL once the connection closed (then the job owns sasl) */
    snet_sasl_t *sasl;
    brk_req_t *req;        /* SaslAuthenticate to answer, or NULL: a raw v0 token on slot */
    snet_slot_t *slot;
    snet_timer_t *timer;   /* the failure delay */
    struct brk_authjob *prev, *next; /* delayed jobs (brk->authjobs) */
    const char *why;       /* a failure's message (static) */
    bool failed;
} brk_authjob_t;

/* Failed authentications of one address in the current window. */
typedef struct brk_authfail {
    char ip[64];
    int64_t window_ms; /* when the window began */
    int64_t failures;
} brk_authfail_t;

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

bool brk_conn_open(snet_conn_t *conn)
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
    brk_mon_conn(brk->mon, (int)(lst - brk->lsts), true);
    snet_conn_set_ctx(conn, bc);
    return true;
}

void brk_conn_close(snet_conn_t *conn)
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
    brk_mon_conn(brk->mon, (int)(bc->lst - brk->lsts), false);
    if (bc->job) {
        bc->job->bc = NULL; /* answered into the closed slot later; the job frees sasl */
    } else {
        snet_sasl_free(bc->sasl);
    }
    free(bc);
}

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
    sl_esc_t esc;
    SL_LOGI("sasl", "%s: authenticated as %s with %s on listener %s", snet_conn_peer(bc->conn),
            sl_esc(&esc, snet_sasl_user(bc->sasl), (long)strlen(snet_sasl_user(bc->sasl))),
            snet_mech_name(bc->mech), bc->lst->conf->name);
}

/* ---- failed authentications: per-address limit, rate-limited log lines ---- */

static brk_authfail_t *brk__authfail_find(brk_t *brk, const char *ip, bool create, int64_t now)
{
    brk_authfail_t *oldest = NULL;
    for (int32_t i = 0; i < brk->nauthfail; i++) {
        brk_authfail_t *f = &brk->authfail[i];
        if (strcmp(f->ip, ip) == 0) {
            return f;
        }
        if (!oldest || f->window_ms < oldest->window_ms) {
            oldest = f;
        }
    }
    if (!create) {
        return NULL;
    }
    if (!brk->authfail) {
        brk->authfail = sl_xcalloc(BRK_AUTHFAIL_ADDRS_MAX, sizeof *brk->authfail);
    }
    brk_authfail_t *f = brk->nauthfail < BRK_AUTHFAIL_ADDRS_MAX ? &brk->authfail[brk->nauthfail++]
                                                                  : oldest;
    snprintf(f->ip, sizeof f->ip, "%s", ip);
    f->window_ms = now;
    f->failures = 0;
    return f;
}

/* Whether ip has used up sasl.failed.authentication.limit.per.ip in the current window. */
static bool brk__authfail_blocked(brk_t *brk, const char *ip)
{
    int64_t now = snet_loop_now_ms(brk->loop);
    brk_authfail_t *f = brk__authfail_find(brk, ip, false, now);
    if (!f || brk->conf.authn_fail_limit <= 0) {
        return false;
    }
    if (now - f->window_ms >= brk->conf.authn_fail_window_ms) {
        f->window_ms = now;
        f->failures = 0;
    }
    return f->failures >= brk->conf.authn_fail_limit;
}

static void brk__authfail_count(brk_t *brk, const char *ip)
{
    int64_t now = snet_loop_now_ms(brk->loop);
    brk_authfail_t *f = brk__authfail_find(brk, ip, true, now);
    if (now - f->window_ms >= brk->conf.authn_fail_window_ms) {
        f->window_ms = now;
        f->failures = 0;
    }
    f->failures++;
}

enum { BRK_AUTHLOG_FAILED, BRK_AUTHLOG_BLOCKED, BRK_AUTHLOG_BUSY, BRK_AUTHLOG_STATE,
       BRK_AUTHLOG_MECH, BRK_AUTHLOG_COUNT };
static sl_log_rate_t brk__authlog[BRK_AUTHLOG_COUNT]; /* one limiter per cause (loop) */

static void brk__sasl_failed(brk_conn_t *bc, const char *why)
{
    sl_log_rl(&brk__authlog[BRK_AUTHLOG_FAILED], SL_LOG_WARN, "sasl",
              "%s: authentication failed on listener %s: %s", snet_conn_peer(bc->conn),
              bc->lst->conf->name, why);
}

/* ---- answering: at once, after the verifier thread, or after the failure delay ---- */

/* Sends the answer of an exchange step (tok on success, why on failure) and closes the
 * connection on failure. bc NULL: the connection closed; only the slot is completed. */
static void brk__sasl_answer(brk_conn_t *bc, brk_req_t *req, snet_slot_t *slot, int rc,
                             uint8_t *tok, size_t tok_len, const char *why)
{
    if (req) {
        kmsg_sasl_authenticate_resp_t resp;
        kmsg_sasl_authenticate_resp_init(&resp);
        resp.error_message = (kproto_str_t){NULL, -1};
        if (rc < 0) {
            resp.error_code = KERR_SASL_AUTHENTICATION_FAILED;
            resp.error_message = kproto_str(why);
        } else {
            uint8_t *copy = brk_alloc(req, (int32_t)tok_len + 1, 1);
            memcpy(copy, tok, tok_len);
            resp.auth_bytes = (kproto_bytes_t){copy, (int32_t)tok_len};
        }
        brk_respond(req, &resp);
    } else if (rc < 0) {
        snet_slot_done(slot); /* v0 has no way to say why */
    } else {
        uint8_t *out = sl_xmalloc(tok_len + 4);
        sl_be32_put(out, (uint32_t)tok_len);
        memcpy(out + 4, tok, tok_len);
        snet_out_t *o = snet_out_new();
        snet_out_mem(o, out, tok_len + 4, free, out);
        snet_slot_send(slot, o);
    }
    free(tok);
    if (bc && rc < 0) {
        snet_conn_close(bc->conn);
    }
}

static brk_authjob_t *brk__authjob_new(brk_conn_t *bc, brk_req_t *req, snet_slot_t *slot)
{
    brk_authjob_t *job = sl_xcalloc(1, sizeof *job);
    job->brk = bc->brk;
    job->bc = bc;
    job->sasl = bc->sasl;
    job->req = req;
    job->slot = slot;
    bc->job = job;
    return job;
}

/* Answers and frees a job (Thread: loop). */
static void brk__authjob_end(brk_authjob_t *job, int rc, uint8_t *tok, size_t tok_len,
                             const char *why)
{
    brk_conn_t *bc = job->bc;
    if (bc) {
        bc->job = NULL;
        if (rc == SNET_SASL_DONE) {
            brk__sasl_success(bc);
        }
    } else {
        snet_sasl_free(job->sasl);
    }
    brk__sasl_answer(bc, job->req, job->slot, rc, tok, tok_len, why);
    free(job);
}

static void brk__authjob_unlink(brk_authjob_t *job)
{
    brk_t *brk = job->brk;
    if (job->prev) {
        job->prev->next = job->next;
    } else {
        brk->authjobs = job->next;
    }
    if (job->next) {
        job->next->prev = job->prev;
    }
}

static void brk__authjob_delay_done(void *ctx)
{
    brk_authjob_t *job = ctx;
    job->timer = NULL;
    brk__authjob_unlink(job);
    brk__authjob_end(job, SL_ECLOSED, NULL, 0, job->why);
}

/* A failure: counted for the address, logged (rate-limited), answered after
 * connection.failed.authentication.delay.ms (Kafka's name), so a client cannot try fast. */
static void brk__sasl_fail_later(brk_authjob_t *job, int cause, const char *why)
{
    brk_t *brk = job->brk;
    brk_mon_auth_failed(brk->mon, job->bc && job->bc->handshaken ? (int)job->bc->mech : -1);
    if (job->bc) {
        brk__authfail_count(brk, snet_conn_peer_ip(job->bc->conn));
        if (cause == BRK_AUTHLOG_FAILED) {
            brk__sasl_failed(job->bc, why);
        } else {
            sl_log_rl(&brk__authlog[cause], SL_LOG_WARN, "sasl", "%s: authentication refused "
                      "on listener %s: %s", snet_conn_peer(job->bc->conn),
                      job->bc->lst->conf->name, why);
        }
    }
    job->why = why;
    job->next = brk->authjobs;
    job->prev = NULL;
    if (brk->authjobs) {
        brk->authjobs->prev = job;
    }
    brk->authjobs = job;
    job->timer = snet_timer_start(brk->loop, brk->conf.authn_fail_delay_ms,
                                  brk__authjob_delay_done, job);
}

static void brk__authjob_run(brk_work_t *work)
{
    brk_authjob_t *job = (brk_authjob_t *)work;
    snet_sasl_verify(job->sasl);
}

static void brk__authjob_verified(brk_work_t *work)
{
    brk_authjob_t *job = (brk_authjob_t *)work;
    uint8_t *tok;
    size_t tok_len;
    const char *why = NULL;
    int rc = snet_sasl_finish(job->sasl, &tok, &tok_len, &why);
    if (rc < 0) {
        brk__sasl_fail_later(job, BRK_AUTHLOG_FAILED, why);
        return;
    }
    brk__authjob_end(job, rc, tok, tok_len, NULL);
}

/* One client token of an exchange (SaslAuthenticate's, or a raw v0 one): answered now, or
 * after the verifier thread, or after the failure delay. */
static void brk__sasl_token(brk_conn_t *bc, brk_req_t *req, snet_slot_t *slot,
                            const uint8_t *data, size_t len)
{
    brk_t *brk = bc->brk;
    static const char blocked[] = "Authentication failed: too many failed authentications from "
                                  "this address; try again later";
    if (brk__authfail_blocked(brk, snet_conn_peer_ip(bc->conn))) {
        brk__sasl_fail_later(brk__authjob_new(bc, req, slot), BRK_AUTHLOG_BLOCKED, blocked);
        return;
    }
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    const char *why = NULL;
    int rc = snet_sasl_step(bc->sasl, data, len, &tok, &tok_len, &why);
    if (rc == SNET_SASL_VERIFY) {
        brk_authjob_t *job = brk__authjob_new(bc, req, slot);
        job->work.run = brk__authjob_run;
        job->work.done = brk__authjob_verified;
        if (!brk_workq_submit(brk->sasl_workq, &job->work)) {
            brk__sasl_fail_later(job, BRK_AUTHLOG_BUSY, "Authentication failed: the broker is "
                                                        "busy checking other passwords");
        }
        return;
    }
    if (rc < 0) {
        brk__sasl_fail_later(brk__authjob_new(bc, req, slot), BRK_AUTHLOG_FAILED, why);
        return;
    }
    if (rc == SNET_SASL_DONE) {
        brk__sasl_success(bc);
    }
    brk__sasl_answer(bc, req, slot, rc, tok, tok_len, NULL);
}

int brk_sasl_start(brk_t *brk)
{
    return brk_workq_new(brk->loop, BRK_SASL_VERIFY_QUEUE_MAX, &brk->sasl_workq);
}

void brk_sasl_stop(brk_t *brk)
{
    while (brk->authjobs) { /* delayed failures: answered now */
        brk_authjob_t *job = brk->authjobs;
        snet_timer_cancel(brk->loop, job->timer);
        job->timer = NULL;
        brk__authjob_unlink(job);
        brk__authjob_end(job, SL_ECLOSED, NULL, 0, job->why);
    }
    brk_workq_free(brk->sasl_workq); /* password checks: answered (run or not) */
    brk->sasl_workq = NULL;
    while (brk->authjobs) { /* ... and the failures they turned into */
        brk_authjob_t *job = brk->authjobs;
        snet_timer_cancel(brk->loop, job->timer);
        brk__authjob_unlink(job);
        brk__authjob_end(job, SL_ECLOSED, NULL, 0, job->why);
    }
    free(brk->authfail);
    brk->authfail = NULL;
    brk->nauthfail = 0;
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
        sl_log_rl(&brk__authlog[BRK_AUTHLOG_STATE], SL_LOG_WARN, "sasl", "%s: closing: "
                  "unexpected SaslHandshake on listener %s", req->peer, bc->lst->conf->name);
    } else if (!known || !(brk->conf.sasl_mechs & (1u << mech))) {
        resp.error_code = KERR_UNSUPPORTED_SASL_MECHANISM;
        sl_esc_t esc;
        sl_log_rl(&brk__authlog[BRK_AUTHLOG_MECH], SL_LOG_WARN, "sasl", "%s: closing: SASL "
                  "mechanism '%s' is not enabled", req->peer,
                  sl_esc(&esc, body->mechanism.ptr, body->mechanism.len));
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
    if (!bc->handshaken || bc->raw || bc->authenticated || bc->job) {
        kmsg_sasl_authenticate_resp_t resp;
        kmsg_sasl_authenticate_resp_init(&resp);
        resp.error_code = KERR_ILLEGAL_SASL_STATE;
        resp.error_message = kproto_str("Unexpected SaslAuthenticate request: no SaslHandshake v1 "
                                        "before it, already authenticated, or one in progress");
        sl_log_rl(&brk__authlog[BRK_AUTHLOG_STATE], SL_LOG_WARN, "sasl",
                  "%s: closing: unexpected SaslAuthenticate", req->peer);
        brk_respond(req, &resp);
        snet_conn_close(conn);
        return;
    }
    brk__sasl_token(bc, req, req->slot,
                    body->auth_bytes.ptr ? body->auth_bytes.ptr : (const uint8_t *)"",
                    (size_t)SL_MAX(body->auth_bytes.len, 0));
}

bool brk_conn_on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len)
{
    brk_conn_t *bc = brk__bc(conn);
    if (!bc->principal_set) {
        /* SSL: the first request comes after the handshake; the principal is known now */
        const char *principal = brk_conn_principal(conn);
        if (snet_conn_tls_subject(conn)) {
            sl_esc_t esc;
            SL_LOGI("tls", "%s: authenticated as %s by client certificate on listener %s",
                    snet_conn_peer(conn), sl_esc(&esc, principal, (long)strlen(principal)),
                    bc->lst->conf->name);
        }
    }
    if (bc->raw && !bc->authenticated) {
        /* A raw token after SaslHandshake v0, answered with a size-prefixed raw token; a
         * failure closes the connection (the v0 protocol has no way to say why). */
        if (bc->job) {
            free(frame);
            snet_slot_done(slot);
            snet_conn_close(conn);
            return false;
        }
        brk__sasl_token(bc, NULL, slot, frame, len);
        free(frame);
        return false;
    }
    return true;
}
