/* Network layer: one epoll event loop, timers, TCP listeners and Kafka-framed connections.
 *
 * Why epoll rather than libuv: the broker needs exactly one thread of readiness events, a
 * zero-copy path (sendfile from segment files interleaved with encoded headers) and control
 * over when a connection stops reading (back-pressure); libuv's sendfile goes through its
 * thread pool and its stream writes copy. epoll gives all three with little code.
 *
 * Framing: each request is a 4-byte big-endian size then that many bytes. A connection hands
 * every frame to the handler with a slot; responses are sent in slot order however they
 * complete (Kafka's per-connection ordering), so requests pipeline (group commit covers a
 * pipeline of produces). A connection stops reading while it has SNET_SLOTS_MAX slots open or
 * more than SNET_OUT_BYTES_MAX bytes of memory queued for sending.
 * Thread: loop, for every function here except snet_loop_wake. */
#ifndef SNET_H
#define SNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snet_limits.h"

typedef struct snet_loop snet_loop_t;
typedef struct snet_conn snet_conn_t;
typedef struct snet_slot snet_slot_t;
typedef struct snet_listener snet_listener_t;
typedef struct snet_timer snet_timer_t;

snet_loop_t *snet_loop_new(void);
void snet_loop_free(snet_loop_t *loop);
/* Runs until snet_loop_stop; returns 0 or -errno from epoll. */
int snet_loop_run(snet_loop_t *loop);
void snet_loop_stop(snet_loop_t *loop);
/* Monotonic time of the current loop iteration, in ms (the loop's clock). */
int64_t snet_loop_now_ms(const snet_loop_t *loop);
/* Replaces the loop's monotonic clock (tests drive timers with a fake clock). */
typedef int64_t (*snet_clock_fn)(void *ctx);
void snet_loop_set_clock(snet_loop_t *loop, snet_clock_fn clock, void *ctx);
/* Runs one iteration: due timers, then events for at most timeout_ms (tests, embedding).
 * Returns 0 or -errno. */
int snet_loop_run_once(snet_loop_t *loop, int timeout_ms);

/* Watches fd for readability; cb runs on the loop. For eventfds, signalfds and the like. */
typedef void (*snet_fd_cb)(void *ctx);
int snet_loop_watch(snet_loop_t *loop, int fd, snet_fd_cb cb, void *ctx);
void snet_loop_unwatch(snet_loop_t *loop, int fd);

/* One-shot timer after delay_ms. Returns a handle valid until it fires or is cancelled. */
typedef void (*snet_timer_cb)(void *ctx);
snet_timer_t *snet_timer_start(snet_loop_t *loop, int64_t delay_ms, snet_timer_cb cb, void *ctx);
void snet_timer_cancel(snet_loop_t *loop, snet_timer_t *timer);

typedef struct {
    /* A complete frame: takes ownership of frame (free with free()) and of the slot, which
     * must be completed exactly once with snet_slot_send / snet_slot_done. */
    void (*on_frame)(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len);
    /* The connection is gone; open slots are cancelled after this returns (their owners
     * must complete them; completing a slot of a closed connection only frees it). */
    void (*on_close)(snet_conn_t *conn);
    /* Optional: a connection was accepted (before any TLS handshake); its ctx is the
     * listener's. Return false to refuse it: it is closed at once and on_close is not called. */
    bool (*on_open)(snet_conn_t *conn);
} snet_handler_t;

/* Listens on host:port (port 0: ephemeral); host is an IPv4/IPv6 address or a host name
 * (resolved, blocking, to its first address). New connections start with ctx as their context.
 * Returns 0, SL_ENOTFOUND when the name does not resolve, or -errno (EADDRINUSE etc.). */
int snet_listen(snet_loop_t *loop, const char *host, int port, const snet_handler_t *handler,
                size_t max_frame_bytes, void *ctx, snet_listener_t **out);
int snet_listener_port(const snet_listener_t *lst);
/* Stops accepting; existing connections stay. */
void snet_listener_close(snet_listener_t *lst);

/* TLS (OpenSSL): a server context made once and shared by the listeners that use it. */
typedef enum { SNET_CLIENT_AUTH_NONE, SNET_CLIENT_AUTH_REQUESTED, SNET_CLIENT_AUTH_REQUIRED }
    snet_client_auth_t;
typedef struct {
    /* PEM, each either a file path or the PEM text itself (starting "-----BEGIN"). chain
     * may hold the key too (Kafka's ssl.keystore.location of type PEM); key may be NULL then. */
    const char *cert_chain;
    const char *key;
    const char *key_password; /* for an encrypted key, or NULL */
    const char *ca;           /* trusted CAs for client certificates, or NULL */
    snet_client_auth_t client_auth;
} snet_tls_conf_t;
typedef struct snet_tls snet_tls_t;
/* Builds a TLS 1.2+ server context. On error returns SL_EINVAL with a message in err. */
int snet_tls_new(const snet_tls_conf_t *conf, snet_tls_t **out, char *err, size_t err_len);
void snet_tls_free(snet_tls_t *tls);
/* Connections accepted from now on by lst speak TLS with tls (which must outlive lst). */
void snet_listener_set_tls(snet_listener_t *lst, snet_tls_t *tls);
/* Same-host connections (peer on a loopback address or on the connection's own local
 * address) accepted from now on by lst use TCP congestion control name (local.c says why);
 * NULL or "" keeps the system's default. Returns 0, or -errno when this kernel refuses name
 * (unknown, or not in net.ipv4.tcp_allowed_congestion_control for an unprivileged process);
 * the listener is unchanged then. */
int snet_listener_set_local_cc(snet_listener_t *lst, const char *name);

/* Bounds the bytes of request frames held in memory by all connections of the loop (read
 * and not yet answered): over it, every connection stops reading until answers free memory.
 * A single frame is always admitted when nothing else is held, so progress never stops.
 * 0: no bound (Kafka's queued.max.request.bytes=-1). */
void snet_loop_set_request_bytes_max(snet_loop_t *loop, size_t bytes);
/* Request bytes held now (tests, metrics). */
size_t snet_loop_request_bytes(const snet_loop_t *loop);
void snet_conn_set_ctx(snet_conn_t *conn, void *ctx);
void *snet_conn_ctx(const snet_conn_t *conn);
const char *snet_conn_peer(const snet_conn_t *conn); /* "ip:port" */
const char *snet_conn_peer_ip(const snet_conn_t *conn); /* "ip" */
/* Whether the connection may carry requests: true at once for plain TCP, after the TLS
 * handshake for TLS. */
bool snet_conn_ready(const snet_conn_t *conn);
bool snet_conn_is_tls(const snet_conn_t *conn);
/* The client certificate's subject in RFC 2253 form ("CN=x,O=y"), or NULL (no TLS, no
 * certificate, or before the handshake). */
const char *snet_conn_tls_subject(const snet_conn_t *conn);
/* Loop time of the last byte read or written, or of the accept. */
int64_t snet_conn_active_ms(const snet_conn_t *conn);
/* Requests read and not yet answered on the connection. */
size_t snet_conn_pending(const snet_conn_t *conn);
/* Changes the largest frame accepted from now on (capped by SNET_FRAME_BYTES_CEILING). */
void snet_conn_set_max_frame(snet_conn_t *conn, size_t bytes);
/* Closes after sending what is queued for completed slots (bad input, Kafka's way). */
void snet_conn_close(snet_conn_t *conn);
size_t snet_conn_count(const snet_loop_t *loop);
/* Closes every connection now (shutdown). */
void snet_loop_close_all(snet_loop_t *loop);

/* A response: a list of chunks, memory or file ranges, sent in order. */
typedef void (*snet_release_fn)(void *ctx);
typedef struct snet_out snet_out_t;
snet_out_t *snet_out_new(void);
/* Appends a memory chunk; release(ctx) is called once it has been sent or dropped. */
void snet_out_mem(snet_out_t *out, const uint8_t *p, size_t len, snet_release_fn release,
                  void *ctx);
/* Appends a file range sent with sendfile; release(ctx) as above. */
void snet_out_file(snet_out_t *out, int fd, int64_t pos, int64_t len, snet_release_fn release,
                   void *ctx);

snet_conn_t *snet_slot_conn(const snet_slot_t *slot);
/* Completes a slot with a response (takes ownership of out). */
void snet_slot_send(snet_slot_t *slot, snet_out_t *out);
/* Completes a slot with no response (Kafka's acks=0 produce). */
void snet_slot_done(snet_slot_t *slot);
/* Whether the slot's connection has closed (pending work may stop early). */
bool snet_slot_closed(const snet_slot_t *slot);

#endif
