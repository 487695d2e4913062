/* Broker configuration: Kafka property names parsed into brk_conf_t (conf.c, conf_sec.c). */
#ifndef BRK_CONF_H
#define BRK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brk_limits.h"
#include "sl_props.h"
#include "slog.h"
#include "snet.h"

typedef enum { BRK_FLUSH_ALWAYS, BRK_FLUSH_INTERVAL, BRK_FLUSH_NEVER } brk_flush_policy_t;

/* Kafka's security protocols of a listener. */
typedef enum {
    BRK_PROTO_PLAINTEXT,
    BRK_PROTO_SSL,
    BRK_PROTO_SASL_PLAINTEXT,
    BRK_PROTO_SASL_SSL,
} brk_secproto_t;

/* One entry of `listeners` with its protocol (listener.security.protocol.map) and its
 * advertised address (advertised.listeners; empty host / port 0: the bound one). */
typedef struct {
    char name[BRK_LISTENER_NAME_BYTES_MAX + 1];
    brk_secproto_t proto;
    char host[256];
    int port;
    char adv_host[256];
    int adv_port;
} brk_listener_conf_t;

/* Broker configuration, from Kafka's property names (conf.c). */
typedef struct {
    char data_dir[BRK_PATH_BYTES_MAX];
    char listen_host[256];
    int listen_port;
    char advertised_host[256];
    int advertised_port; /* 0: the bound port */
    int32_t node_id;
    int32_t num_partitions;
    bool auto_create_topics;
    int64_t socket_request_max_bytes;
    char local_cc[SNET_CC_NAME_MAX]; /* socket.local.congestion.control; "": system default */
    int64_t message_max_bytes;
    brk_flush_policy_t flush_policy;
    int64_t flush_interval_ms;
    int flush_threads;
    int64_t retention_check_interval_ms;
    slog_conf_t log; /* broker-wide defaults for topic configs */
    char cleanup_policy[32];
    char compression_type[16]; /* topics' default compression.type */
    bool delete_topic_enable;
    int32_t group_min_session_ms;
    int32_t group_initial_rebalance_delay_ms;
    int32_t group_max_session_ms;
    int32_t group_max_size;
    int64_t offsets_retention_ms;
    int32_t offset_metadata_max_bytes;
    int32_t txn_max_timeout_ms;    /* transaction.max.timeout.ms */
    int32_t txn_abort_interval_ms; /* ...abort.timed.out.transaction.cleanup.interval.ms */
    bool authorizer;       /* authorizer.class.name set: ACLs are enforced */
    bool allow_if_no_acl;  /* allow.everyone.if.no.acl.found */
    char super_users[4096]; /* super.users, ";"-separated principals */
    /* security and connection limits (conf_sec.c) */
    brk_listener_conf_t listeners[BRK_LISTENERS_MAX];
    int nlisteners;
    uint32_t sasl_mechs; /* bit (1 << snet_mech_t) per enabled mechanism */
    char *ssl_keystore_location; /* PEM with certificate chain and key */
    char *ssl_keystore_chain;    /* ssl.keystore.certificate.chain (path or PEM text) */
    char *ssl_keystore_key;      /* ssl.keystore.key (path or PEM text) */
    char *ssl_key_password;
    char *ssl_truststore;        /* ssl.truststore.location or .certificates */
    int ssl_client_auth;         /* snet_client_auth_t */
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t connections_max_idle_ms;
    int64_t authn_timeout_ms;        /* connections.max.authentication.ms */
    int64_t authn_fail_delay_ms;     /* connection.failed.authentication.delay.ms */
    int64_t authn_fail_limit;        /* sasl.failed.authentication.limit.per.ip; 0: none */
    int64_t authn_fail_window_ms;    /* sasl.failed.authentication.window.ms */
    int64_t queued_max_request_bytes; /* -1: unbounded */
    unsigned dir_mode;          /* log.dir.mode: dirs created; files without exec bits */
    int64_t fd_cache_max;       /* log.segment.fd.cache.max: closed segment fds kept open */
    int64_t disk_reserve_bytes; /* log.disk.reserve.bytes: produce refused below it; 0 off */
    /* The log cleaner (compaction), Kafka's log.cleaner.* names. */
    bool cleaner_enable;
    int32_t cleaner_threads;            /* 1: one cleaner thread */
    int64_t cleaner_dedupe_bytes;       /* offset map size */
    int64_t cleaner_io_bytes_per_sec;   /* -1: unthrottled */
    int64_t cleaner_backoff_ms;         /* sleep when there is nothing to clean */
    bool config_strict; /* config.strict: unknown keys stop the start */
    int64_t mon_parts_max; /* admin.metrics.partitions.max: per-partition series in /metrics */
} brk_conf_t;

/* Parses props into conf; err gets "key: reason". Unknown keys are warned about once each
 * with the nearest known name; under config.strict=true they are an error (SL_EINVAL).
 * Free conf's strings with brk_conf_deinit. */
int brk_conf_parse(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len);
void brk_conf_deinit(brk_conf_t *conf);
/* conf_sec.c: listeners, listener.security.protocol.map, advertised.listeners,
 * sasl.enabled.mechanisms, ssl.*, connection limits. */
void brk__conf_security_defaults(brk_conf_t *conf);
int brk__conf_security(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len);
const char *brk_proto_name(brk_secproto_t proto);

#endif
