/* The inspect worker's egress proxy: the browser is started with --proxy-server pointing here
 * (and --proxy-bypass-list=<-loopback>, so nothing bypasses it), so every connection the page
 * makes, whatever asked for it (navigation, redirect, sub-resource, WebSocket, service or
 * shared worker, preconnect), is opened by this proxy. It resolves the host once, checks the
 * addresses with the outbound policy (sl_egress.h) and connects to the very address it
 * checked: a name that answers differently the second time (DNS rebinding) gains nothing.
 * Speaks HTTP/1.1 proxying: CONNECT host:port (https, wss) and absolute-form requests for
 * http:// (forwarded with Connection: close, one request per connection). A refusal answers
 * 403 with the policy's sentence and is counted. Listens on 127.0.0.1, an ephemeral port.
 * Thread: one accept thread and one thread per connection (bounded); the handle's functions
 * may be called from any one thread. */
#ifndef INSP_PROXY_H
#define INSP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "sl_egress.h"

/* Connections open at once; more are closed at accept (the browser retries). */
#define INSP_PROXY_CONNS_MAX 64
/* Bytes of a request or response head. */
#define INSP_PROXY_HEAD_BYTES_MAX 65536
/* Connect to an upstream address. */
#define INSP_PROXY_CONNECT_MS 10000
/* A connection with no byte either way for this long is closed. */
#define INSP_PROXY_IDLE_MS 60000

typedef struct insp_proxy insp_proxy_t;

/* Starts the proxy with policy eg (not owned; must outlive the proxy). Returns 0 or -errno. */
int insp_proxy_start(const sl_egress_t *eg, insp_proxy_t **out);
/* "127.0.0.1:port" for --proxy-server. */
const char *insp_proxy_addr(const insp_proxy_t *px);
/* Refusals since the last call; the first one's sentence goes to msg (may be NULL). */
size_t insp_proxy_take_refused(insp_proxy_t *px, char *msg, size_t msglen);
/* Stops accepting, closes every connection and joins the threads. */
void insp_proxy_stop(insp_proxy_t *px);

#endif
