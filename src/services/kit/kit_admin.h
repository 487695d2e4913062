/* kit: small pieces the pipeline services (jobs, gateway, join) share. kit_admin: topic
 * creation through librdkafka's admin API, so it works against Sluice or any Kafka. */
#ifndef KIT_ADMIN_H
#define KIT_ADMIN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Creates the n topics with one CreateTopics request through rk; a topic that already exists
 * is fine. Destroys the NewTopic objects. Waits at most timeout_ms for the answer (plus 2 s
 * for the request to be sent). Returns 0; SL_ECLOSED when the request failed or timed out
 * (err names the brokers); SL_EINVAL when a topic was refused (err names it). */
int kit_create_topics(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, int timeout_ms,
                      const char *brokers, char *err, size_t len);

#endif
