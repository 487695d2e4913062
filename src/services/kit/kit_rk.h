/* kit_rk: the librdkafka clients the services and the operator tools make, from three presets
 * so every producer has the same delivery guarantee and every consumer commits only what its
 * caller says. A configuration is layered, each layer over the one before:
 *
 *   preset        bootstrap.servers, client.id, and the preset's own properties (below)
 *   opts->base    the caller's settings for all its clients
 *   opts->kv      this client's tuning, and where it deliberately differs from the preset
 *   opts->user    the user's kafka.* settings (security, SASL, client overrides; kit_kconf)
 *
 * A service's kafka.* settings cannot touch what the preset or the service sets (kit_kconf
 * refuses those keys), so their place last only matters to the CLI, which applies its -X
 * settings itself (kit_rk_conf_set) before its command's own. Thread: any. */
#ifndef KIT_RK_H
#define KIT_RK_H

#include "kit_kconf.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef enum {
    /* enable.idempotence=true, acks=all: a retried request is never written twice, and a
     * delivery report means every in-sync replica has the record. */
    KIT_RK_PRODUCER,
    /* enable.auto.commit=false, enable.auto.offset.store=false: nothing is committed but what
     * the caller commits (or stores, where it turns auto commit back on). */
    KIT_RK_CONSUMER,
    /* A producer handle for admin requests and metadata only: no preset properties. */
    KIT_RK_ADMIN,
} kit_rk_preset_t;

typedef struct {
    kit_rk_preset_t preset;
    const char *brokers;       /* bootstrap.servers */
    const char *client_id;     /* client.id */
    const char *const *base;   /* key, value, ..., NULL: the caller's common ones (NULL: none) */
    const char *const *kv;     /* key, value, ..., NULL: this client's (NULL: none) */
    const kit_kconf_t *user;   /* the user's kafka.* settings (NULL: none) */
} kit_rk_opts_t;

/* A new configuration from opts (layers above). Returns 0 with *out (the caller's until
 * kit_rk_new takes it), or SL_EINVAL with "client setting KEY=VALUE: reason" in err (for a
 * kafka.* setting: "kafka.KEY: reason") and *out NULL. */
int kit_rk_conf_new(const kit_rk_opts_t *opts, rd_kafka_conf_t **out, char *err, size_t len);
/* Sets the key, value, ..., NULL pairs of kv on conf in order; 0 or SL_EINVAL with "client
 * setting KEY=VALUE: reason" in err (conf keeps the pairs before the bad one). */
int kit_rk_conf_set(rd_kafka_conf_t *conf, const char *const *kv, char *err, size_t len);
/* The client of conf, which it takes in every case (destroyed on failure). A consumer's
 * callbacks and events are served by rd_kafka_consumer_poll (rd_kafka_poll_set_consumer).
 * Returns the handle, or NULL with "cannot create Kafka client CLIENT_ID: reason" in err (e.g.
 * an unreadable ssl.ca.location). */
rd_kafka_t *kit_rk_new(kit_rk_preset_t preset, rd_kafka_conf_t *conf, char *err, size_t len);

/* At a producer's stop: waits up to timeout_ms for every message to be acknowledged, then
 * purges what is left (queued and in flight) and serves the reports for up to
 * KIT_RK_DRAIN_REPORTS_MS more, so every waiter gets one and the stop is bounded. Returns how
 * many messages were left unacknowledged. Thread: the one that polls rk. */
#define KIT_RK_DRAIN_REPORTS_MS 5000
int kit_rk_drain(rd_kafka_t *rk, int timeout_ms);

#endif
