/* `sluice join` service: joins two co-partitioned input topics by key into an output topic,
 * with per-partition LMDB state backed by compacted changelog topics, poison records sent to
 * an error topic, and GET /health and /metrics. Speaks to Kafka only through librdkafka.
 *
 * Topics: left.topic and right.topic (inputs, same partition count), output.topic (key = the
 * join key), error.topic, and <application.id>-<left|right>-changelog for each stored side
 * (cleanup.policy=compact, partition i holds the state of input partition i). */
#ifndef JNSVC_H
#define JNSVC_H

#include "jncfg.h"

#include <stdbool.h>

/* Kafka Streams' states. 200 on /health only in REBALANCING and RUNNING (and only while the
 * broker is reachable and the processing thread turns); PENDING_ERROR counts as down. */
typedef enum {
    JN_CREATED,
    JN_REBALANCING,
    JN_RUNNING,
    JN_PENDING_SHUTDOWN,
    JN_NOT_RUNNING,
    JN_PENDING_ERROR,
    JN_ERROR,
} jn_state_t;

typedef struct jnsvc jnsvc_t;

/* Checks the inputs (present, co-partitioned), creates the output, error and changelog topics
 * when missing, starts the HTTP server and the processing thread. cfg must outlive the
 * service. Returns 0, or an error with a reason in err (broker unreachable, topics not
 * co-partitioned, port in use). */
int jnsvc_start(const jncfg_t *cfg, jnsvc_t **out, char *err, size_t err_len);
/* The HTTP port (resolved when the config asked for port 0). */
int jnsvc_http_port(const jnsvc_t *svc);
jn_state_t jnsvc_state(const jnsvc_t *svc);
const char *jn_state_name(jn_state_t state);
/* Finishes the batch in hand (output and changelog acknowledged, offsets committed), closes
 * the stores, stops every thread and frees. The state passes PENDING_SHUTDOWN, NOT_RUNNING
 * (or stays ERROR). */
void jnsvc_stop(jnsvc_t *svc);

#endif
