/* `sluice jobs` service: the HTTP command API, the request, completion and dead-letter
 * consumers, the retry producer and lease reaper, the worker pool and the webhook sender, as
 * configured (jcfg_t roles). Speaks to Kafka only through librdkafka.
 *
 * Topics (prefix P): P.requests (API -> request consumer), P.assigned (-> workers, also retries
 * and operator re-runs), P.completed (workers -> completion consumer), P.dead (the error topic,
 * with Spring Kafka's kafka_dlt-* headers). The job store (SQLite) is the source of truth; every
 * event is applied idempotently by (job id, attempt). */
#ifndef JSVC_H
#define JSVC_H

#include "jcfg.h"

#include <stdbool.h>

typedef struct jsvc jsvc_t;

/* Opens the store, creates the topics (when missing), starts every stage this process runs.
 * With the broker unreachable it starts only the HTTP API (health and submissions answer
 * 503) and a thread that retries with backoff and starts the other stages once the broker
 * answers. cfg must outlive the service. Returns 0, or an error with a reason in err (store
 * unusable, a topic refused, port in use). */
int jsvc_start(const jcfg_t *cfg, jsvc_t **out, char *err, size_t err_len);
/* The HTTP port (resolved when the config asked for port 0); 0 without the api role. */
int jsvc_http_port(const jsvc_t *svc);
/* False once a stage thread died: the process must exit non-zero (health already says 503). */
bool jsvc_alive(const jsvc_t *svc);
/* Stops consuming, waits up to shutdown.wait.ms for running jobs, then stops their workers and
 * releases their leases (jstore_release: due again at once), stops every thread, frees. */
void jsvc_stop(jsvc_t *svc);

#endif
