/* Per-connection state, SASL, connection limits (auth.c). Thread: loop. */
#ifndef BRK_AUTH_H
#define BRK_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "brk_conf.h"
#include "brk_req.h"
#include "snet.h"

/* The connection's authenticated principal in Kafka's form: "User:ANONYMOUS" on PLAINTEXT
 * (and SSL without a client certificate), "User:" + the certificate subject DN on SSL with a
 * client certificate, "User:" + the SASL user name on SASL listeners once authenticated.
 * Valid while conn is open. */
const char *brk_conn_principal(const snet_conn_t *conn);
brk_t *brk_conn_brk(const snet_conn_t *conn);
/* The count of long-poll fetches parked by the connection (fetch.c keeps it). */
int32_t *brk_conn_fetches_parked(const snet_conn_t *conn);
/* The advertised address of the connection's listener (Metadata, FindCoordinator). */
void brk_conn_adv(const snet_conn_t *conn, const char **host, int *port);
/* The connection handler of every listener (dispatch.c): auth.c's open and close, then
 * brk_conn_on_frame before each request is dispatched. */
extern const snet_handler_t brk_conn_handler;
/* A new connection (per-address and total limits, its state); false refuses it. */
bool brk_conn_open(snet_conn_t *conn);
/* A closed connection: its state freed, a SASL check in flight told. */
void brk_conn_close(snet_conn_t *conn);
/* Frames of a connection, before dispatch: false when auth.c consumed the frame (a raw
 * SASL v0 token), true when it is a Kafka request to dispatch. */
bool brk_conn_on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len);
/* Whether a request of api_key may be served on conn now (SASL listeners serve only
 * ApiVersions and SASL requests until authenticated). */
bool brk_conn_may_serve(const snet_conn_t *conn, int16_t api_key);
/* Starts the sweep of idle and unauthenticated connections. */
void brk_conns_start(brk_t *brk);
/* The SASL verifier thread (PBKDF2 off the loop). Stop answers every exchange in flight
 * (delayed failures and queued checks) and must run before the loop is freed. */
int brk_sasl_start(brk_t *brk);
void brk_sasl_stop(brk_t *brk);
void brk_conns_stop(brk_t *brk);
void brk_handle_sasl_handshake(brk_req_t *req);
void brk_handle_sasl_authenticate(brk_req_t *req);

#endif
