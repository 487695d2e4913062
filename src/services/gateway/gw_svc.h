/* `sluice gateway`: HTTP produce API (Confluent REST Proxy v3-shaped records, configured routes
 * with a JSON shape check and bearer tokens) and WebSocket STOMP 1.2 fan-out of topics to
 * filtered destinations, with resume by offset or time and real acknowledgements. One Kafka
 * consumer per process (no consumer group: every gateway process gets every record). Speaks
 * to Kafka only through librdkafka. */
#ifndef GW_SVC_H
#define GW_SVC_H

#include "gw_cfg.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct gw_svc gw_svc_t;

/* Creates missing route and destination topics, positions the consumer at the end of every
 * destination topic, listens. cfg must outlive the service. Returns 0, or an error with a
 * reason in err (broker unreachable, port in use, too many partitions). */
int gw_start(const gw_cfg_t *cfg, gw_svc_t **out, char *err, size_t err_len);
/* The HTTP (and WebSocket) port, resolved when the config asked for port 0. */
int gw_port(const gw_svc_t *svc);
/* False once a service thread died: the process must exit non-zero. */
bool gw_alive(const gw_svc_t *svc);
/* Closes every connection, stops the threads, frees. */
void gw_stop(gw_svc_t *svc);

#endif
