/* kit_kconf: `kafka.*` client settings, checked by librdkafka itself when they are set (so a
 * bad one stops the service at start with its name) and applied to every client. */
#include "kit_kconf.h"

#include "sl_common.h"

#include <string.h>

/* Properties the services set themselves: their delivery and commit guarantees and their
 * tuning rest on them, so a kafka.* value for one is refused rather than silently overridden.
 * The union over jobs, join and gateway; keep it in step with their client builders. */
static const char *const kit__owned[] = {
    "bootstrap.servers", "metadata.broker.list", "client.id", "group.id", "group.instance.id",
    "enable.auto.commit", "enable.auto.offset.store", "auto.commit.interval.ms",
    "auto.offset.reset", "enable.partition.eof", "partition.assignment.strategy",
    "session.timeout.ms", "heartbeat.interval.ms", "fetch.wait.max.ms",
    "queued.max.messages.kbytes", "acks", "request.required.acks", "linger.ms",
    "queue.buffering.max.ms", "message.timeout.ms", "max.in.flight.requests.per.connection",
    "max.in.flight", "batch.num.messages", "batch.size", "queue.buffering.max.kbytes",
    "partitioner", "compression.type", "compression.codec", "statistics.interval.ms",
    "reconnect.backoff.max.ms", "allow.auto.create.topics", "enable.idempotence",
    "transactional.id", "isolation.level",
};

void kit_kconf_init(kit_kconf_t *kc)
{
    kc->n = 0;
}

static int kit__fail(char *err, size_t len, const char *key, const char *why)
{
    snprintf(err, len, KIT_KCONF_PREFIX "%s: %s", key, why);
    return SL_EINVAL;
}

int kit_kconf_set(kit_kconf_t *kc, const char *key, const char *val, char *err, size_t len)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(kit__owned); i++) {
        if (strcmp(key, kit__owned[i]) == 0) {
            return kit__fail(err, len, key, "set by the service itself");
        }
    }
    if (strlen(key) >= KIT_KCONF_KEY_BYTES || strlen(val) >= KIT_KCONF_VAL_BYTES) {
        return kit__fail(err, len, key, "too long");
    }
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(probe, key, val, errstr, sizeof errstr);
    rd_kafka_conf_destroy(probe);
    if (res != RD_KAFKA_CONF_OK) {
        return kit__fail(err, len, key, errstr);
    }
    for (int i = 0; i < kc->n; i++) {
        if (strcmp(kc->key[i], key) == 0) {
            strcpy(kc->val[i], val);
            return 0;
        }
    }
    if (kc->n == KIT_KCONF_PAIRS_MAX) {
        return kit__fail(err, len, key, "too many kafka.* settings");
    }
    strcpy(kc->key[kc->n], key);
    strcpy(kc->val[kc->n], val);
    kc->n++;
    return 0;
}

int kit_kconf_apply(const kit_kconf_t *kc, rd_kafka_conf_t *conf, char *err, size_t len)
{
    char errstr[512];
    for (int i = 0; i < kc->n; i++) {
        if (rd_kafka_conf_set(conf, kc->key[i], kc->val[i], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            return kit__fail(err, len, kc->key[i], errstr);
        }
    }
    return 0;
}
