/* Internals shared by the net layer's files (loop.c, conn.c). Not for other layers. */
#ifndef SNET_INTERNAL_H
#define SNET_INTERNAL_H

#include "snet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Anything registered with epoll: the loop calls cb with the epoll event mask. */
typedef struct snet_io {
    int fd;
    void (*cb)(struct snet_io *io, uint32_t events);
} snet_io_t;

int snet__io_add(snet_loop_t *loop, snet_io_t *io, uint32_t events);
int snet__io_mod(snet_loop_t *loop, snet_io_t *io, uint32_t events);
void snet__io_del(snet_loop_t *loop, snet_io_t *io);

/* The loop's list of connections (conn.c links and unlinks), and frees deferred to the end of
 * the iteration so that an event later in the same epoll batch never touches a freed conn. */
snet_conn_t **snet__loop_conn_head(snet_loop_t *loop);
size_t *snet__loop_nconns(snet_loop_t *loop);
void snet__defer_free(snet_loop_t *loop, void *p);

/* Bytes of request frames held by the loop's connections (snet_loop_set_request_bytes_max). */
typedef struct {
    size_t bytes;
    size_t max; /* 0: unbounded */
    bool paused; /* some connection stopped reading because of it */
} snet_reqmem_t;
snet_reqmem_t *snet__loop_reqmem(snet_loop_t *loop);

/* local.c: same-host peers (a loopback address, or the connection's own local address) and
 * TCP congestion control. snet__cc_check tries name on a throwaway socket;
 * snet__cc_apply_local sets it on fd when peer is same-host; all return 0 or -errno. */
struct sockaddr_storage;
bool snet__addr_same_host(const struct sockaddr_storage *peer,
                          const struct sockaddr_storage *local);
int snet__cc_set(int fd, const char *name);
int snet__cc_check(const char *name);
int snet__cc_apply_local(int fd, const struct sockaddr_storage *peer, const char *name);

/* tls.c: the OpenSSL context of a snet_tls_t. */
struct ssl_ctx_st;
struct ssl_ctx_st *snet__tls_ctx(snet_tls_t *tls);

#endif
