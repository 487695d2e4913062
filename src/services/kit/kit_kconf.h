/* kit_kconf: the librdkafka client settings a service passes to every Kafka client it makes
 * (producer, consumers, admin): its `kafka.*` settings, e.g. kafka.security.protocol,
 * kafka.sasl.mechanism, kafka.ssl.ca.location. So a service runs against a secured broker or
 * cluster with the same property names librdkafka and Kafka's clients use. */
#ifndef KIT_KCONF_H
#define KIT_KCONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Client settings per service: far more than any real configuration needs. Values are paths,
 * names and passwords; PEM text goes in files (ssl.*.location), not inline. */
#define KIT_KCONF_PAIRS_MAX 32
#define KIT_KCONF_KEY_BYTES 128
#define KIT_KCONF_VAL_BYTES 1024
/* The prefix of these settings in a service's configuration. */
#define KIT_KCONF_PREFIX "kafka."

/* A value type (no allocation): part of each service's configuration struct. */
typedef struct {
    int n;
    char key[KIT_KCONF_PAIRS_MAX][KIT_KCONF_KEY_BYTES]; /* librdkafka names, without prefix */
    char val[KIT_KCONF_PAIRS_MAX][KIT_KCONF_VAL_BYTES];
} kit_kconf_t;

void kit_kconf_init(kit_kconf_t *kc);
/* Sets the librdkafka property key (a later value replaces an earlier one). Refused with
 * SL_EINVAL and "kafka.KEY: reason" in err when librdkafka does not know the property or
 * refuses the value, when the service owns the property (bootstrap.servers: use `brokers`;
 * group ids, commit and ack settings that its guarantees rest on), a key or value longer than the limits, or past KIT_KCONF_PAIRS_MAX. */
int kit_kconf_set(kit_kconf_t *kc, const char *key, const char *val, char *err, size_t len);
/* Applies every setting to conf, after the service's own. Returns 0 or SL_EINVAL with err. */
int kit_kconf_apply(const kit_kconf_t *kc, rd_kafka_conf_t *conf, char *err, size_t len);

#endif
