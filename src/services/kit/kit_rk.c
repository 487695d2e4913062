/* kit_rk: librdkafka client presets and construction (see kit_rk.h). */
#include "kit_rk.h"

#include "sl_common.h"

#include <stdio.h>

/* The preset properties, key, value, ..., NULL (each also in kit_kconf's owned list). */
static const char *const kit__rk_producer[] = {"enable.idempotence", "true", "acks", "all", NULL};
static const char *const kit__rk_consumer[] = {"enable.auto.commit", "false",
                                               "enable.auto.offset.store", "false", NULL};

int kit_rk_conf_set(rd_kafka_conf_t *conf, const char *const *kv, char *err, size_t len)
{
    char errstr[512];
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, len, "client setting %s=%s: %s", kv[i], kv[i + 1], errstr);
            return SL_EINVAL;
        }
    }
    return 0;
}

int kit_rk_conf_new(const kit_rk_opts_t *opts, rd_kafka_conf_t **out, char *err, size_t len)
{
    const char *common[] = {"bootstrap.servers", opts->brokers, "client.id", opts->client_id,
                            NULL};
    const char *const *preset = opts->preset == KIT_RK_PRODUCER   ? kit__rk_producer
                                : opts->preset == KIT_RK_CONSUMER ? kit__rk_consumer
                                                                  : NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = kit_rk_conf_set(conf, common, err, len);
    rc = rc ? rc : kit_rk_conf_set(conf, preset, err, len);
    rc = rc ? rc : kit_rk_conf_set(conf, opts->base, err, len);
    rc = rc ? rc : kit_rk_conf_set(conf, opts->kv, err, len);
    if (rc == 0 && opts->user) {
        rc = kit_kconf_apply(opts->user, conf, err, len);
    }
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    *out = conf;
    return rc;
}

rd_kafka_t *kit_rk_new(kit_rk_preset_t preset, rd_kafka_conf_t *conf, char *err, size_t len)
{
    char errstr[512], id[128];
    size_t id_len = sizeof id;
    if (rd_kafka_conf_get(conf, "client.id", id, &id_len) != RD_KAFKA_CONF_OK) {
        id[0] = '\0'; /* longer than any of ours */
    }
    rd_kafka_type_t type = preset == KIT_RK_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER;
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes it only on success */
        snprintf(err, len, "cannot create Kafka client %s: %s", id, errstr);
        return NULL;
    }
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_poll_set_consumer(rk);
    }
    return rk;
}

int kit_rk_drain(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_flush(rk, timeout_ms);
    int left = rd_kafka_outq_len(rk);
    if (left > 0) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    for (int i = 0; i < KIT_RK_DRAIN_REPORTS_MS / 100 && rd_kafka_outq_len(rk) > 0; i++) {
        rd_kafka_poll(rk, 100);
    }
    return left;
}
