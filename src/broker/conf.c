/* Broker configuration from Kafka's property names. Each known key is validated; each unknown
 * key is warned about once with the nearest known name (edit distance over brk__ckeys), and
 * config.strict=true refuses them; keys that only matter on a multi-node cluster are accepted when
 * their value is what a single node means (replication factors of 1). */
#include "brk_internal.h"
#include "sl_fs.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CK_LONG, CK_BOOL, CK_STR } brk_ckind_t;

typedef struct {
    const char *key;
    brk_ckind_t kind;
    int64_t min, max;
    int64_t scale; /* multiplier to ms for *.minutes / *.hours keys */
    size_t off;    /* offset into brk_conf_t of an int64_t/int32_t/bool, or (size_t)-1 */
    int width;     /* 8, 4 or 1 (bool) */
} brk_ckey_t;

#define OFF(f) offsetof(brk_conf_t, f)
#define NOOFF ((size_t)-1)
static const brk_ckey_t brk__ckeys[] = {
    {"broker.id", CK_LONG, 0, INT32_MAX, 1, OFF(node_id), 4},
    {"node.id", CK_LONG, 0, INT32_MAX, 1, OFF(node_id), 4},
    {"num.partitions", CK_LONG, 1, BRK_PARTITIONS_MAX, 1, OFF(num_partitions), 4},
    {"auto.create.topics.enable", CK_BOOL, 0, 1, 1, OFF(auto_create_topics), 1},
    {"delete.topic.enable", CK_BOOL, 0, 1, 1, OFF(delete_topic_enable), 1},
    {"socket.request.max.bytes", CK_LONG, 1024, 1 << 30, 1, OFF(socket_request_max_bytes), 8},
    {"socket.local.congestion.control", CK_STR, 0, 0, 1, NOOFF, 0},
    {"message.max.bytes", CK_LONG, 0, SLOG_BATCH_BYTES_MAX, 1, OFF(message_max_bytes), 8},
    {"log.segment.bytes", CK_LONG, SLOG_SEGMENT_BYTES_MIN, SLOG_SEGMENT_BYTES_MAX - 1, 1,
     OFF(log.segment_bytes), 8},
    {"log.roll.hours", CK_LONG, 1, 1 << 20, 3600000, OFF(log.roll_ms), 8},
    {"log.roll.ms", CK_LONG, 1, INT64_MAX / 2, 1, OFF(log.roll_ms), 8},
    {"log.retention.hours", CK_LONG, -1, 1 << 24, 3600000, OFF(log.retention_ms), 8},
    {"log.retention.minutes", CK_LONG, -1, 1 << 30, 60000, OFF(log.retention_ms), 8},
    {"log.retention.ms", CK_LONG, -1, INT64_MAX / 2, 1, OFF(log.retention_ms), 8},
    {"log.retention.bytes", CK_LONG, -1, INT64_MAX / 2, 1, OFF(log.retention_bytes), 8},
    {"log.retention.check.interval.ms", CK_LONG, 1, INT64_MAX / 2, 1,
     OFF(retention_check_interval_ms), 8},
    {"producer.id.expiration.ms", CK_LONG, 1, INT64_MAX / 2, 1, OFF(log.producer_expiry_ms), 8},
    {"log.index.interval.bytes", CK_LONG, 0, 1 << 30, 1, OFF(log.index_interval_bytes), 4},
    {"log.flush.interval.ms", CK_LONG, 1, INT64_MAX / 2, 1, OFF(flush_interval_ms), 8},
    {"log.flush.threads", CK_LONG, 1, BRK_FLUSH_THREADS_MAX, 1, OFF(flush_threads), 4},
    {"log.zero.ahead.bytes", CK_LONG, 0, SLOG_ZERO_AHEAD_BYTES_MAX, 1, OFF(log.zero_ahead_bytes),
     8},
    {"log.dir", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.dir.mode", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.segment.fd.cache.max", CK_LONG, SLOG_FD_CACHE_MIN, SLOG_FD_CACHE_MAX, 1,
     OFF(fd_cache_max), 8},
    {"log.disk.reserve.bytes", CK_LONG, 0, INT64_MAX / 2, 1, OFF(disk_reserve_bytes), 8},
    {"log.dirs", CK_STR, 0, 0, 1, NOOFF, 0},
    /* security and connection limits: parsed in conf_sec.c */
    {"listeners", CK_STR, 0, 0, 1, NOOFF, 0},
    {"advertised.listeners", CK_STR, 0, 0, 1, NOOFF, 0},
    {"listener.security.protocol.map", CK_STR, 0, 0, 1, NOOFF, 0},
    {"sasl.enabled.mechanisms", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.keystore.type", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.keystore.location", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.keystore.certificate.chain", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.keystore.key", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.key.password", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.truststore.type", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.truststore.location", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.truststore.certificates", CK_STR, 0, 0, 1, NOOFF, 0},
    {"ssl.client.auth", CK_STR, 0, 0, 1, NOOFF, 0},
    {"max.connections", CK_LONG, 0, INT32_MAX, 1, OFF(max_connections), 8},
    {"max.connections.per.ip", CK_LONG, 0, INT32_MAX, 1, OFF(max_connections_per_ip), 8},
    {"connections.max.idle.ms", CK_LONG, -1, INT64_MAX / 2, 1, OFF(connections_max_idle_ms), 8},
    {"connections.max.authentication.ms", CK_LONG, 1, 3600000, 1, OFF(authn_timeout_ms), 8},
    {"connection.failed.authentication.delay.ms", CK_LONG, 0, 60000, 1, OFF(authn_fail_delay_ms), 8},
    {"sasl.failed.authentication.limit.per.ip", CK_LONG, 0, INT32_MAX, 1, OFF(authn_fail_limit), 8},
    {"sasl.failed.authentication.window.ms", CK_LONG, 1, 86400000, 1, OFF(authn_fail_window_ms), 8},
    {"queued.max.request.bytes", CK_LONG, -1, INT64_MAX / 2, 1, OFF(queued_max_request_bytes), 8},
    {"log.flush.policy", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.message.timestamp.type", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.cleanup.policy", CK_STR, 0, 0, 1, NOOFF, 0},
    {"group.min.session.timeout.ms", CK_LONG, 1, INT32_MAX, 1, OFF(group_min_session_ms), 4},
    {"group.max.session.timeout.ms", CK_LONG, 1, INT32_MAX, 1, OFF(group_max_session_ms), 4},
    {"group.max.size", CK_LONG, 1, 100000, 1, OFF(group_max_size), 4},
    {"offsets.retention.minutes", CK_LONG, 1, 1 << 30, 60000, OFF(offsets_retention_ms), 8},
    {"offset.metadata.max.bytes", CK_LONG, 0, 1 << 20, 1, OFF(offset_metadata_max_bytes), 4},
    {"log.cleaner.enable", CK_BOOL, 0, 1, 1, OFF(cleaner_enable), 1},
    {"log.cleaner.threads", CK_LONG, 1, 1, 1, OFF(cleaner_threads), 4},
    {"log.cleaner.dedupe.buffer.size", CK_LONG, SLOG_CLEAN_MAP_BYTES_MIN, SLOG_CLEAN_MAP_BYTES_MAX,
     1, OFF(cleaner_dedupe_bytes), 8},
    {"log.cleaner.io.max.bytes.per.second", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.cleaner.backoff.ms", CK_LONG, 1, INT64_MAX / 2, 1, OFF(cleaner_backoff_ms), 8},
    {"log.cleaner.delete.retention.ms", CK_LONG, 0, INT64_MAX / 2, 1,
     OFF(log.delete_retention_ms), 8},
    {"log.cleaner.min.compaction.lag.ms", CK_LONG, 0, INT64_MAX / 2, 1,
     OFF(log.min_compaction_lag_ms), 8},
    {"log.cleaner.min.cleanable.ratio", CK_STR, 0, 0, 1, NOOFF, 0},
    {"log.cleaner.max.compaction.lag.ms", CK_LONG, 1, INT64_MAX, 1,
     OFF(log.max_compaction_lag_ms), 8},
    {"transaction.max.timeout.ms", CK_LONG, 1, INT32_MAX, 1, OFF(txn_max_timeout_ms), 4},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms", CK_LONG, 1, INT32_MAX, 1,
     OFF(txn_abort_interval_ms), 4},
    {"authorizer.class.name", CK_STR, 0, 0, 1, NOOFF, 0},
    {"super.users", CK_STR, 0, 0, 1, NOOFF, 0},
    {"allow.everyone.if.no.acl.found", CK_BOOL, 0, 1, 1, OFF(allow_if_no_acl), 1},
    /* Single-node meaning only: must be 1. */
    {"default.replication.factor", CK_LONG, 1, 1, 1, NOOFF, 0},
    {"offsets.topic.replication.factor", CK_LONG, 1, 1, 1, NOOFF, 0},
    {"transaction.state.log.replication.factor", CK_LONG, 1, 1, 1, NOOFF, 0},
    {"transaction.state.log.min.isr", CK_LONG, 1, 1, 1, NOOFF, 0},
    {"min.insync.replicas", CK_LONG, 1, 1, 1, NOOFF, 0},
    /* Sluice's own: unknown keys stop the start instead of a warning. */
    {"config.strict", CK_BOOL, 0, 1, 1, OFF(config_strict), 1},
};

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

static int brk__conf_str(brk_conf_t *conf, const char *key, const char *v, char *err,
                         size_t err_len)
{
    if (strcmp(key, "log.dirs") == 0 || strcmp(key, "log.dir") == 0) {
        if (strchr(v, ',') || *v == '\0' || strlen(v) >= sizeof conf->data_dir - 64) {
            snprintf(err, err_len, "%s: exactly one directory (under %zu bytes) is supported",
                     key, sizeof conf->data_dir - 64);
            return SL_EINVAL;
        }
        snprintf(conf->data_dir, sizeof conf->data_dir, "%s", v);
    } else if (strcmp(key, "log.dir.mode") == 0) {
        char *end;
        unsigned long mode = strtoul(v, &end, 8);
        if (*v < '0' || *v > '7' || *end != '\0' || mode > 0777 || (mode & 0700) != 0700) {
            snprintf(err, err_len, "log.dir.mode: expected an octal mode from 0700 to 0777 "
                     "(the broker needs rwx on its own dirs), got '%s'", v);
            return SL_EINVAL;
        }
        conf->dir_mode = (unsigned)mode;
    } else if (strcmp(key, "log.flush.policy") == 0) {
        if (strcmp(v, "always") == 0) {
            conf->flush_policy = BRK_FLUSH_ALWAYS;
        } else if (strcmp(v, "interval") == 0) {
            conf->flush_policy = BRK_FLUSH_INTERVAL;
        } else if (strcmp(v, "never") == 0) {
            conf->flush_policy = BRK_FLUSH_NEVER;
        } else {
            snprintf(err, err_len, "log.flush.policy: expected always, interval or never");
            return SL_EINVAL;
        }
        /* Under always the high watermark is the durable offset, and what a crashed process
         * left unsynced is small (unacknowledged): recovery syncs it before serving. Otherwise
         * (possibly a whole log in the page cache) it is synced in the background. */
        conf->log.open_sync = conf->flush_policy == BRK_FLUSH_ALWAYS;
    } else if (strcmp(key, "socket.local.congestion.control") == 0) {
        if (strlen(v) >= sizeof conf->local_cc) {
            snprintf(err, err_len, "%s: a congestion control name (under %zu bytes) or empty, "
                     "got '%s'", key, sizeof conf->local_cc, v);
            return SL_EINVAL;
        }
        snprintf(conf->local_cc, sizeof conf->local_cc, "%s", v);
    } else if (strcmp(key, "authorizer.class.name") == 0) {
        /* Kafka's two built-in authorizers (ZooKeeper and KRaft) and our own short name all
         * mean Kafka's ACL model; empty means none, as in Kafka. */
        static const char *const names[] = {
            "kafka.security.authorizer.AclAuthorizer",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "sluice", ""};
        bool known = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(names) && !known; i++) {
            known = strcmp(v, names[i]) == 0;
        }
        if (!known) {
            snprintf(err, err_len, "authorizer.class.name: expected sluice, "
                     "kafka.security.authorizer.AclAuthorizer or "
                     "org.apache.kafka.metadata.authorizer.StandardAuthorizer, got '%s'", v);
            return SL_EINVAL;
        }
        conf->authorizer = *v != '\0';
    } else if (strcmp(key, "super.users") == 0) {
        if (strlen(v) >= sizeof conf->super_users) {
            snprintf(err, err_len, "super.users: longer than %zu bytes",
                     sizeof conf->super_users - 1);
            return SL_EINVAL;
        }
        snprintf(conf->super_users, sizeof conf->super_users, "%s", v);
    } else if (strcmp(key, "log.cleaner.min.cleanable.ratio") == 0) {
        if (!brk__parse_double(v, 0, 1, &conf->log.min_cleanable_dirty_ratio)) {
            snprintf(err, err_len, "%s: expected a number in [0, 1], got '%s'", key, v);
            return SL_EINVAL;
        }
    } else if (strcmp(key, "log.cleaner.io.max.bytes.per.second") == 0) {
        double d; /* Kafka's default is Double.MAX_VALUE: unthrottled */
        if (!brk__parse_double(v, 1, 1e300, &d)) {
            snprintf(err, err_len, "%s: expected a positive number, got '%s'", key, v);
            return SL_EINVAL;
        }
        conf->cleaner_io_bytes_per_sec = d >= 9e18 ? -1 : (int64_t)d;
    } else if (strcmp(key, "log.message.timestamp.type") == 0 ||
               strcmp(key, "log.cleanup.policy") == 0) {
        const char *tkey = key[4] == 'm' ? "message.timestamp.type" : "cleanup.policy";
        const char *msg;
        if (brk_tconf_check(tkey, v, &msg) != KERR_NONE) {
            snprintf(err, err_len, "%s: %s", key, msg);
            return SL_EINVAL;
        }
        if (key[4] == 'm') {
            conf->log.log_append_time = strcmp(v, "LogAppendTime") == 0;
        } else {
            snprintf(conf->cleanup_policy, sizeof conf->cleanup_policy, "%s", v);
        }
    }
    return 0;
}

static int brk__conf_key(brk_conf_t *conf, const brk_ckey_t *ck, const char *v, char *err,
                         size_t err_len)
{
    if (ck->kind == CK_STR) {
        return brk__conf_str(conf, ck->key, v, err, err_len);
    }
    if (ck->kind == CK_BOOL) {
        bool b;
        if (!sl_parse_bool(v, &b)) {
            snprintf(err, err_len, "%s: expected true or false, got '%s'", ck->key, v);
            return SL_EINVAL;
        }
        *(bool *)((char *)conf + ck->off) = b;
        return 0;
    }
    int64_t x;
    if (!sl_parse_i64(v, ck->min, ck->max, &x)) {
        snprintf(err, err_len, "%s: expected an integer in [%lld, %lld], got '%s'", ck->key,
                 (long long)ck->min, (long long)ck->max, v);
        return SL_EINVAL;
    }
    if (ck->off == NOOFF) {
        return 0;
    }
    x = x < 0 ? x : x * ck->scale;
    if (ck->width == 8) {
        *(int64_t *)((char *)conf + ck->off) = x;
    } else {
        *(int32_t *)((char *)conf + ck->off) = (int32_t)x;
    }
    return 0;
}

/* Levenshtein distance of a and b, or SIZE_MAX when either is longer than the rows hold. */
static size_t brk__edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    size_t row[BRK_CONF_KEY_BYTES_MAX + 1];
    if (na > BRK_CONF_KEY_BYTES_MAX || nb > BRK_CONF_KEY_BYTES_MAX) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= nb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = SL_MIN(best, up + 1);
            best = SL_MIN(best, row[j - 1] + 1);
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* The known key nearest to key when it is close enough to be a typo (a third of its length,
 * at least 2 edits), else NULL. */
static const char *brk__conf_nearest(const char *key)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = SL_MAX(strlen(key) / 3, (size_t)2);
    for (size_t k = 0; k < SL_ARRAY_LEN(brk__ckeys); k++) {
        size_t d = brk__edit_distance(key, brk__ckeys[k].key);
        if (d < best_d) {
            best_d = d;
            best = brk__ckeys[k].key;
        }
    }
    return best_d <= limit ? best : NULL;
}

static bool brk__conf_known(const char *key)
{
    for (size_t k = 0; k < SL_ARRAY_LEN(brk__ckeys); k++) {
        if (strcmp(brk__ckeys[k].key, key) == 0) {
            return true;
        }
    }
    return false;
}

int brk_conf_unknown_keys(const sl_props_t *props, bool warn, char *out, size_t out_len)
{
    int count = 0;
    size_t n = 0;
    if (out_len > 0) {
        out[0] = '\0';
    }
    for (size_t i = 0; i < sl_props_count(props); i++) {
        const char *key, *value;
        sl_props_at(props, i, &key, &value);
        if (brk__conf_known(key)) {
            continue;
        }
        const char *near = brk__conf_nearest(key);
        char hint[BRK_CONF_KEY_BYTES_MAX + 32] = "";
        if (near) {
            snprintf(hint, sizeof hint, " (did you mean %s?)", near);
        }
        if (warn) {
            SL_LOGW("conf", "unknown setting '%s' ignored%s", key, hint);
        }
        if (n < out_len) {
            n += (size_t)snprintf(out + n, out_len - n, "%s'%s'%s", count ? ", " : "", key, hint);
        }
        count++;
    }
    return count;
}

int brk_conf_parse(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len)
{
    brk__conf_defaults(conf);
    /* Table order gives Kafka's precedence (log.retention.ms over .minutes over .hours). */
    for (size_t k = 0; k < SL_ARRAY_LEN(brk__ckeys); k++) {
        const char *value = sl_props_get(props, brk__ckeys[k].key);
        if (value) {
            int rc = brk__conf_key(conf, &brk__ckeys[k], value, err, err_len);
            if (rc != 0) {
                return rc;
            }
        }
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
