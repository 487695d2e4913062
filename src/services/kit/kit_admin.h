/* kit: small pieces the pipeline services (jobs, gateway, join) share. kit_admin: topic
 * creation through librdkafka's admin API, so it works against Sluice or any Kafka. */
#ifndef KIT_ADMIN_H
#define KIT_ADMIN_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* Creates the n topics with one CreateTopics request through rk; a topic that already exists
 * is fine. Destroys the NewTopic objects. Waits at most timeout_ms for the answer (plus 2 s
 * for the request to be sent). Returns 0; SL_ECLOSED when the request failed or timed out
 * (err names the brokers); SL_EINVAL when a topic was refused (err names it). */
int kit_create_topics(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, int timeout_ms,
                      const char *brokers, char *err, size_t len);
/* As kit_create_topics, but asks give_up(arg) every KIT_ADMIN_POLL_MS while it waits and
 * returns SL_ECLOSED (err says "broker unreachable") once it answers true: the caller learnt
 * that the brokers are down, or is stopping. give_up NULL: never asked. */
#define KIT_ADMIN_POLL_MS 100
int kit_create_topics_until(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n, int timeout_ms,
                            const char *brokers, bool (*give_up)(void *arg), void *arg,
                            char *err, size_t len);

#endif
