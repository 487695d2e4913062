/* Broker configuration from Kafka's property names, bound to brk_conf_t by one sl_bind table.
 * Each known key is validated; each unknown key is warned about once with the nearest known
 * name, and config.strict=true refuses them; keys that only matter on a multi-node cluster are accepted when
 * their value is what a single node means (replication factors of 1). */
#include "brk_conf.h"
#include "brk_limits.h"
#include "brk_topics.h"
#include "kerr.h"
#include "sl_bind.h"
#include "sl_fs.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void brk__conf_defaults(brk_conf_t *conf)
{
    memset(conf, 0, sizeof *conf);
    snprintf(conf->data_dir, sizeof conf->data_dir, "./data");
    snprintf(conf->listen_host, sizeof conf->listen_host, "127.0.0.1");
    conf->listen_port = 9092;
    conf->node_id = 1;
    conf->num_partitions = 1;
    conf->auto_create_topics = true;
    conf->delete_topic_enable = true;
    conf->socket_request_max_bytes = 104857600;
    snprintf(conf->local_cc, sizeof conf->local_cc, "reno"); /* net/local.c says why */
    conf->message_max_bytes = 1048588;
    conf->flush_policy = BRK_FLUSH_ALWAYS;
    conf->flush_interval_ms = 1000;
    conf->flush_threads = 2;
    conf->retention_check_interval_ms = 300000;
    conf->dir_mode = SL_FS_DIR_MODE_DEFAULT;
    conf->fd_cache_max = SLOG_FD_CACHE_DEFAULT;
    conf->disk_reserve_bytes = BRK_DISK_RESERVE_BYTES_DEFAULT;
    slog_conf_default(&conf->log);
    conf->log.zero_ahead_bytes = BRK_ZERO_AHEAD_BYTES_DEFAULT;
    snprintf(conf->cleanup_policy, sizeof conf->cleanup_policy, "delete");
    conf->group_min_session_ms = 6000;
    conf->group_max_session_ms = 1800000;
    conf->group_max_size = 1000;
    conf->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    conf->offset_metadata_max_bytes = 4096;
    brk__conf_security_defaults(conf);
    conf->cleaner_enable = true;
    conf->cleaner_threads = 1;
    conf->cleaner_dedupe_bytes = (int64_t)16 << 20;
    conf->cleaner_io_bytes_per_sec = -1;
    conf->cleaner_backoff_ms = 15000;
    conf->txn_max_timeout_ms = 900000;    /* Kafka's defaults */
    conf->txn_abort_interval_ms = 10000;
}

/* A non-negative decimal number (Kafka's DOUBLE settings); false when malformed. */
static bool brk__parse_double(const char *v, double min, double max, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(d >= min && d <= max)) {
        return false;
    }
    *out = d;
    return true;
}

void brk_conf_deinit(brk_conf_t *conf)
{
    free(conf->ssl_keystore_location);
    free(conf->ssl_keystore_chain);
    free(conf->ssl_keystore_key);
    free(conf->ssl_key_password);
    free(conf->ssl_truststore);
    conf->ssl_keystore_location = conf->ssl_keystore_chain = conf->ssl_keystore_key = NULL;
    conf->ssl_key_password = conf->ssl_truststore = NULL;
}

/* Settings whose values are words, modes or numbers that are not integers: one parser each,
 * bound by brk__ckeys. Each returns 0, or SL_EINVAL with "key: reason" in err. */

static int brk__conf_dir(void *obj, const char *key, const char *v, char *err, size_t err_len)
{
    brk_conf_t *conf = obj;
    if (strchr(v, ',') || *v == '\0' || strlen(v) >= sizeof conf->data_dir - 64) {
        snprintf(err, err_len, "%s: exactly one directory (under %zu bytes) is supported", key,
                 sizeof conf->data_dir - 64);
        return SL_EINVAL;
    }
    snprintf(conf->data_dir, sizeof conf->data_dir, "%s", v);
    return 0;
}

static int brk__conf_dir_mode(void *obj, const char *key, const char *v, char *err,
                              size_t err_len)
{
    char *end;
    unsigned long mode = strtoul(v, &end, 8);
    if (*v < '0' || *v > '7' || *end != '\0' || mode > 0777 || (mode & 0700) != 0700) {
        snprintf(err, err_len, "%s: expected an octal mode from 0700 to 0777 (the broker needs "
                 "rwx on its own dirs), got '%s'", key, v);
        return SL_EINVAL;
    }
    ((brk_conf_t *)obj)->dir_mode = (unsigned)mode;
    return 0;
}

static int brk__conf_flush_policy(void *obj, const char *key, const char *v, char *err,
                                  size_t err_len)
{
    brk_conf_t *conf = obj;
    if (strcmp(v, "always") == 0) {
        conf->flush_policy = BRK_FLUSH_ALWAYS;
    } else if (strcmp(v, "interval") == 0) {
        conf->flush_policy = BRK_FLUSH_INTERVAL;
    } else if (strcmp(v, "never") == 0) {
        conf->flush_policy = BRK_FLUSH_NEVER;
    } else {
        snprintf(err, err_len, "%s: expected always, interval or never", key);
        return SL_EINVAL;
    }
    /* Under always the high watermark is the durable offset, and what a crashed process left
     * unsynced is small (unacknowledged): recovery syncs it before serving. Otherwise
     * (possibly a whole log in the page cache) it is synced in the background. */
    conf->log.open_sync = conf->flush_policy == BRK_FLUSH_ALWAYS;
    return 0;
}

static int brk__conf_cc(void *obj, const char *key, const char *v, char *err, size_t err_len)
{
    brk_conf_t *conf = obj;
    if (strlen(v) >= sizeof conf->local_cc) {
        snprintf(err, err_len, "%s: a congestion control name (under %zu bytes) or empty, got "
                 "'%s'", key, sizeof conf->local_cc, v);
        return SL_EINVAL;
    }
    snprintf(conf->local_cc, sizeof conf->local_cc, "%s", v);
    return 0;
}

/* Kafka's two built-in authorizers (ZooKeeper and KRaft) and our own short name all mean
 * Kafka's ACL model; empty means none, as in Kafka. */
static int brk__conf_authorizer(void *obj, const char *key, const char *v, char *err,
                                size_t err_len)
{
    static const char *const names[] = {
        "kafka.security.authorizer.AclAuthorizer",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "sluice", ""};
    bool known = false;
    for (size_t i = 0; i < SL_ARRAY_LEN(names) && !known; i++) {
        known = strcmp(v, names[i]) == 0;
    }
    if (!known) {
        snprintf(err, err_len, "%s: expected sluice, kafka.security.authorizer.AclAuthorizer or "
                 "org.apache.kafka.metadata.authorizer.StandardAuthorizer, got '%s'", key, v);
        return SL_EINVAL;
    }
    ((brk_conf_t *)obj)->authorizer = *v != '\0';
    return 0;
}

static int brk__conf_super_users(void *obj, const char *key, const char *v, char *err,
                                 size_t err_len)
{
    brk_conf_t *conf = obj;
    if (strlen(v) >= sizeof conf->super_users) {
        snprintf(err, err_len, "%s: longer than %zu bytes", key, sizeof conf->super_users - 1);
        return SL_EINVAL;
    }
    snprintf(conf->super_users, sizeof conf->super_users, "%s", v);
    return 0;
}

static int brk__conf_cleanable_ratio(void *obj, const char *key, const char *v, char *err,
                                     size_t err_len)
{
    if (!brk__parse_double(v, 0, 1, &((brk_conf_t *)obj)->log.min_cleanable_dirty_ratio)) {
        snprintf(err, err_len, "%s: expected a number in [0, 1], got '%s'", key, v);
        return SL_EINVAL;
    }
    return 0;
}

static int brk__conf_cleaner_io(void *obj, const char *key, const char *v, char *err,
                                size_t err_len)
{
    double d; /* Kafka's default is Double.MAX_VALUE: unthrottled */
    if (!brk__parse_double(v, 1, 1e300, &d)) {
        snprintf(err, err_len, "%s: expected a positive number, got '%s'", key, v);
        return SL_EINVAL;
    }
    ((brk_conf_t *)obj)->cleaner_io_bytes_per_sec = d >= 9e18 ? -1 : (int64_t)d;
    return 0;
}

/* log.message.timestamp.type and log.cleanup.policy: the defaults of the topic settings
 * without the "log." prefix, checked as those are. */
static int brk__conf_topic_default(void *obj, const char *key, const char *v, char *err,
                                   size_t err_len)
{
    brk_conf_t *conf = obj;
    const char *tkey = key + strlen("log."), *msg;
    if (brk_tconf_check(tkey, v, &msg) != KERR_NONE) {
        snprintf(err, err_len, "%s: %s", key, msg);
        return SL_EINVAL;
    }
    if (strcmp(tkey, "message.timestamp.type") == 0) {
        conf->log.log_append_time = strcmp(v, "LogAppendTime") == 0;
    } else {
        snprintf(conf->cleanup_policy, sizeof conf->cleanup_policy, "%s", v);
    }
    return 0;
}

/* Broker defaults Kafka 3.7 accepts that have no effect here (the topic configs of the same
 * name without "log." are accepted likewise): checked as Kafka checks them, then one line. */
static int brk__conf_no_effect(void *obj, const char *key, const char *v, char *err,
                               size_t err_len)
{
    (void)obj;
    const char *msg;
    if (brk_tconf_check(key + strlen("log."), v, &msg) != KERR_NONE) {
        snprintf(err, err_len, "%s: %s", key, msg);
        return SL_EINVAL;
    }
    SL_LOGI("conf", "%s accepted for Kafka compatibility, no effect in Sluice", key);
    return 0;
}

#define B_NUM(k, f, lo, hi) SL_BIND_NUM(brk_conf_t, k, f, lo, hi)
#define B_SCALED(k, f, lo, hi, s) SL_BIND_SCALED(brk_conf_t, k, f, lo, hi, s)
#define B_BOOL(k, f) SL_BIND_BOOL(brk_conf_t, k, f)
/* Table order gives Kafka's precedence (log.retention.ms over .minutes over .hours). */
static const sl_bind_t brk__ckeys[] = {
    B_NUM("broker.id", node_id, 0, INT32_MAX),
    B_NUM("node.id", node_id, 0, INT32_MAX),
    B_NUM("num.partitions", num_partitions, 1, BRK_PARTITIONS_MAX),
    B_BOOL("auto.create.topics.enable", auto_create_topics),
    B_BOOL("delete.topic.enable", delete_topic_enable),
    B_NUM("socket.request.max.bytes", socket_request_max_bytes, 1024, 1 << 30),
    SL_BIND_FN("socket.local.congestion.control", brk__conf_cc),
    B_NUM("message.max.bytes", message_max_bytes, 0, SLOG_BATCH_BYTES_MAX),
    B_NUM("log.segment.bytes", log.segment_bytes, SLOG_SEGMENT_BYTES_MIN, SLOG_SEGMENT_BYTES_MAX - 1),
    B_SCALED("log.roll.hours", log.roll_ms, 1, 1 << 20, 3600000),
    B_NUM("log.roll.ms", log.roll_ms, 1, INT64_MAX / 2),
    B_SCALED("log.retention.hours", log.retention_ms, -1, 1 << 24, 3600000),
    B_SCALED("log.retention.minutes", log.retention_ms, -1, 1 << 30, 60000),
    B_NUM("log.retention.ms", log.retention_ms, -1, INT64_MAX / 2),
    B_NUM("log.retention.bytes", log.retention_bytes, -1, INT64_MAX / 2),
    B_NUM("log.retention.check.interval.ms", retention_check_interval_ms, 1, INT64_MAX / 2),
    B_NUM("producer.id.expiration.ms", log.producer_expiry_ms, 1, INT64_MAX / 2),
    B_NUM("log.index.interval.bytes", log.index_interval_bytes, 0, 1 << 30),
    B_NUM("log.flush.interval.ms", flush_interval_ms, 1, INT64_MAX / 2),
    B_NUM("log.flush.threads", flush_threads, 1, BRK_FLUSH_THREADS_MAX),
    B_NUM("log.zero.ahead.bytes", log.zero_ahead_bytes, 0, SLOG_ZERO_AHEAD_BYTES_MAX),
    SL_BIND_FN("log.dir", brk__conf_dir),
    SL_BIND_FN("log.dir.mode", brk__conf_dir_mode),
    B_NUM("log.segment.fd.cache.max", fd_cache_max, SLOG_FD_CACHE_MIN, SLOG_FD_CACHE_MAX),
    B_NUM("log.disk.reserve.bytes", disk_reserve_bytes, 0, INT64_MAX / 2),
    SL_BIND_FN("log.dirs", brk__conf_dir),
    /* security and connection limits: parsed in conf_sec.c */
    SL_BIND_OTHER("listeners"),
    SL_BIND_OTHER("advertised.listeners"),
    SL_BIND_OTHER("listener.security.protocol.map"),
    SL_BIND_OTHER("sasl.enabled.mechanisms"),
    SL_BIND_OTHER("ssl.keystore.type"),
    SL_BIND_OTHER("ssl.keystore.location"),
    SL_BIND_OTHER("ssl.keystore.certificate.chain"),
    SL_BIND_OTHER("ssl.keystore.key"),
    SL_BIND_OTHER("ssl.key.password"),
    SL_BIND_OTHER("ssl.truststore.type"),
    SL_BIND_OTHER("ssl.truststore.location"),
    SL_BIND_OTHER("ssl.truststore.certificates"),
    SL_BIND_OTHER("ssl.client.auth"),
    B_NUM("max.connections", max_connections, 0, INT32_MAX),
    B_NUM("max.connections.per.ip", max_connections_per_ip, 0, INT32_MAX),
    B_NUM("connections.max.idle.ms", connections_max_idle_ms, -1, INT64_MAX / 2),
    B_NUM("connections.max.authentication.ms", authn_timeout_ms, 1, 3600000),
    B_NUM("connection.failed.authentication.delay.ms", authn_fail_delay_ms, 0, 60000),
    B_NUM("sasl.failed.authentication.limit.per.ip", authn_fail_limit, 0, INT32_MAX),
    B_NUM("sasl.failed.authentication.window.ms", authn_fail_window_ms, 1, 86400000),
    B_NUM("queued.max.request.bytes", queued_max_request_bytes, -1, INT64_MAX / 2),
    SL_BIND_FN("log.flush.policy", brk__conf_flush_policy),
    SL_BIND_FN("log.message.timestamp.type", brk__conf_topic_default),
    SL_BIND_FN("log.cleanup.policy", brk__conf_topic_default),
    SL_BIND_FN("log.message.format.version", brk__conf_no_effect),
    SL_BIND_FN("log.message.downconversion.enable", brk__conf_no_effect),
    SL_BIND_FN("log.message.timestamp.difference.max.ms", brk__conf_no_effect),
    B_NUM("group.min.session.timeout.ms", group_min_session_ms, 1, INT32_MAX),
    B_NUM("group.max.session.timeout.ms", group_max_session_ms, 1, INT32_MAX),
    B_NUM("group.max.size", group_max_size, 1, 100000),
    B_SCALED("offsets.retention.minutes", offsets_retention_ms, 1, 1 << 30, 60000),
    B_NUM("offset.metadata.max.bytes", offset_metadata_max_bytes, 0,
          BRK_OFFSET_METADATA_BYTES_MAX),
    B_BOOL("log.cleaner.enable", cleaner_enable),
    B_NUM("log.cleaner.threads", cleaner_threads, 1, 1),
    B_NUM("log.cleaner.dedupe.buffer.size", cleaner_dedupe_bytes, SLOG_CLEAN_MAP_BYTES_MIN, SLOG_CLEAN_MAP_BYTES_MAX),
    SL_BIND_FN("log.cleaner.io.max.bytes.per.second", brk__conf_cleaner_io),
    B_NUM("log.cleaner.backoff.ms", cleaner_backoff_ms, 1, INT64_MAX / 2),
    B_NUM("log.cleaner.delete.retention.ms", log.delete_retention_ms, 0, INT64_MAX / 2),
    B_NUM("log.cleaner.min.compaction.lag.ms", log.min_compaction_lag_ms, 0, INT64_MAX / 2),
    SL_BIND_FN("log.cleaner.min.cleanable.ratio", brk__conf_cleanable_ratio),
    B_NUM("log.cleaner.max.compaction.lag.ms", log.max_compaction_lag_ms, 1, INT64_MAX),
    B_NUM("transaction.max.timeout.ms", txn_max_timeout_ms, 1, INT32_MAX),
    B_NUM("transaction.abort.timed.out.transaction.cleanup.interval.ms", txn_abort_interval_ms, 1, INT32_MAX),
    SL_BIND_FN("authorizer.class.name", brk__conf_authorizer),
    SL_BIND_FN("super.users", brk__conf_super_users),
    B_BOOL("allow.everyone.if.no.acl.found", allow_if_no_acl),
    /* Single-node meaning only: must be 1. */
    SL_BIND_CHECK("default.replication.factor", 1, 1),
    SL_BIND_CHECK("offsets.topic.replication.factor", 1, 1),
    SL_BIND_CHECK("transaction.state.log.replication.factor", 1, 1),
    SL_BIND_CHECK("transaction.state.log.min.isr", 1, 1),
    SL_BIND_CHECK("min.insync.replicas", 1, 1),
    /* Sluice's own: unknown keys stop the start instead of a warning. */
    B_BOOL("config.strict", config_strict),
};

int brk_conf_unknown_keys(const sl_props_t *props, bool warn, char *out, size_t out_len)
{
    for (size_t i = 0; warn && i < sl_props_count(props); i++) {
        const char *key, *value;
        sl_props_at(props, i, &key, &value);
        if (!sl_bind_known(brk__ckeys, SL_ARRAY_LEN(brk__ckeys), key)) {
            const char *near = sl_bind_nearest(brk__ckeys, SL_ARRAY_LEN(brk__ckeys), key);
            SL_LOGW("conf", "unknown setting '%s' ignored%s%s%s", key,
                    near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        }
    }
    return sl_bind_unknown(brk__ckeys, SL_ARRAY_LEN(brk__ckeys), props, out, out_len);
}

int brk_conf_parse(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len)
{
    brk__conf_defaults(conf);
    if (sl_bind_apply(brk__ckeys, SL_ARRAY_LEN(brk__ckeys), conf, props, err, err_len) != 0) {
        return SL_EINVAL;
    }
    if (conf->config_strict) {
        char list[768];
        if (brk_conf_unknown_keys(props, false, list, sizeof list) > 0) {
            snprintf(err, err_len, "config.strict=true: unknown setting %s", list);
            return SL_EINVAL;
        }
    } else {
        brk_conf_unknown_keys(props, true, NULL, 0);
    }
    conf->log.max_message_bytes = (int32_t)conf->message_max_bytes;
    return brk__conf_security(props, conf, err, err_len);
}
