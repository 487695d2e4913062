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
/* Bytes read per read(2) call when the frame is not yet sized. */
#define SNET_READ_BYTES 65536
/* Events taken per epoll_wait. */
#define SNET_EVENTS_MAX 256
/* Largest frame we would ever accept, whatever socket.request.max.bytes says. */
#define SNET_FRAME_BYTES_CEILING ((size_t)1 << 30)

SL_STATIC_ASSERT(SNET_SLOTS_MAX >= 5, "librdkafka pipelines 5 requests");
SL_STATIC_ASSERT(SNET_OUT_BYTES_MAX >= (16u << 20), "a large fetch response fits");

#endif
