/* kit_listen: the services' `http.listen` setting. */
#ifndef KIT_LISTEN_H
#define KIT_LISTEN_H

#include <stddef.h>

#define KIT_HOST_BYTES 64

/* Splits "HOST:PORT" (PORT 0..65535; 0 lets the system pick) into host and *port. Returns 0,
 * or SL_EINVAL with "http.listen: want HOST:PORT, got '...'" in err. */
int kit_listen_parse(const char *listen, char host[KIT_HOST_BYTES], int *port, char *err,
                     size_t err_len);

#endif
