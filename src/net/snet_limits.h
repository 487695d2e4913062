/* Limits of the network layer. */
#ifndef SNET_LIMITS_H
#define SNET_LIMITS_H

#include "sl_common.h"

/* Requests in flight on one connection before it stops reading (Kafka clients pipeline 5). */
#define SNET_SLOTS_MAX 32
/* Memory bytes queued for sending on one connection before it stops reading. */
#define SNET_OUT_BYTES_MAX ((size_t)64 << 20)
/* Chunks in one response (one memory + one file chunk per partition, roughly). */
#define SNET_OUT_CHUNKS_MAX 200000
/* Connections on one loop. */
#define SNET_CONNS_MAX 10000
/* Accept back-off when the process is out of file descriptors (EMFILE/ENFILE): the listener
 * stops accepting for the first pause, doubling per failed retry up to the last (libev and
 * nginx pause too, instead of spinning on a readable listener they cannot accept from). */
#define SNET_ACCEPT_PAUSE_MS_MIN 100
#define SNET_ACCEPT_PAUSE_MS_MAX 1000
/* Connections refused politely (accepted on the reserved fd and closed) per pause. */
#define SNET_ACCEPT_REFUSE_MAX 64
/* Bytes read per read(2) call when the frame is not yet sized. */
#define SNET_READ_BYTES 65536
/* Events taken per epoll_wait. */
#define SNET_EVENTS_MAX 256
/* Largest frame we would ever accept, whatever socket.request.max.bytes says. */
#define SNET_FRAME_BYTES_CEILING ((size_t)1 << 30)
/* Bytes of a TCP congestion control name with its NUL (the kernel's TCP_CA_NAME_MAX). */
#define SNET_CC_NAME_MAX 16

/* SCRAM salt bytes made by snet_scram_cred_new, and the largest salt accepted from a file. */
#define SNET_SCRAM_SALT_BYTES 32
#define SNET_SCRAM_SALT_BYTES_MAX 64
/* Largest SaltedPassword a client may send in AlterUserScramCredentials (the longest digest,
 * SHA-512's; a client's is the mechanism's digest length). */
#define SNET_SCRAM_SALTED_BYTES_MAX 64
/* SCRAM iteration counts accepted (Kafka's bounds: 4096 to 16384). */
#define SNET_SCRAM_ITERATIONS_MIN 4096
#define SNET_SCRAM_ITERATIONS_MAX 16384
/* Iterations of the stand-in credential an unknown user is checked against (the default of
 * `sluice users` and Kafka's kafka-configs), so a miss costs what a hit does. */
#define SNET_SCRAM_ITERATIONS_DUMMY 4096
/* Largest SASL token from a client (Kafka's sasl.server.max.receive.size is 512 KiB for the
 * whole frame; a PLAIN or SCRAM token is a few hundred bytes). */
#define SNET_SASL_TOKEN_BYTES_MAX 8192
/* User names and passwords in a SASL exchange. */
#define SNET_SASL_USER_BYTES_MAX 256
#define SNET_SASL_PASSWORD_BYTES_MAX 1024
/* File bytes read per SSL_write when a fetch response goes over TLS (no sendfile): one
 * buffer per connection that is sending a file range, so memory stays bounded. */
#define SNET_TLS_FILE_CHUNK_BYTES 16384

SL_STATIC_ASSERT(SNET_SCRAM_SALT_BYTES <= SNET_SCRAM_SALT_BYTES_MAX, "salt fits");
SL_STATIC_ASSERT(SNET_SASL_USER_BYTES_MAX + SNET_SASL_PASSWORD_BYTES_MAX + 2 <=
                     SNET_SASL_TOKEN_BYTES_MAX, "a PLAIN token of the largest user and password fits");
SL_STATIC_ASSERT(SNET_ACCEPT_PAUSE_MS_MIN > 0 && SNET_ACCEPT_PAUSE_MS_MIN <= SNET_ACCEPT_PAUSE_MS_MAX,
                 "accept pause bounds");
SL_STATIC_ASSERT(SNET_SLOTS_MAX >= 5, "librdkafka pipelines 5 requests");
SL_STATIC_ASSERT(SNET_OUT_BYTES_MAX >= (16u << 20), "a large fetch response fits");

#endif
