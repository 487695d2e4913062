/* Topic registry: topics, their partitions' logs, and their configs, persisted as
 *   <data>/topics/<name>/topic.properties   topic.id=<32 hex>, partitions=N, config.<k>=<v>
 *   <data>/topics/<name>/<partition>/       the partition log (src/log)
 * topic.properties is written atomically and last, so a topic exists once it is complete; a
 * topic directory without it (a crash mid-create) is removed at start. Deletion renames the
 * directory into <data>/trash/ (atomic) and then removes it. */
#include "brk_cleaner.h"
#include "brk_conf.h"
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_topics.h"
#include "kerr.h"
#include "sl_fs.h"
#include "sl_hset.h"
#include "sl_log.h"

#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

static const brk_tconf_def_t brk__tconf_defs[] = {
    {"cleanup.policy", 7, "delete, compact, or compact,delete", false},
    {"compression.type", 2, "producer (stored as sent), or a codec batches are recompressed to", false},
    {"delete.retention.ms", 5, "how long tombstones are kept on compacted topics", false},
    {"index.interval.bytes", 3, "bytes between offset index entries", false},
    {"max.compaction.lag.ms", 5, "longest time a record stays ineligible for compaction", false},
    {"max.message.bytes", 3, "largest record batch accepted", false},
    {"message.timestamp.type", 2, "CreateTime or LogAppendTime", false},
    {"min.cleanable.dirty.ratio", 6, "dirty ratio before compaction", false},
    {"min.compaction.lag.ms", 5, "minimum age of a record before compaction", false},
    {"min.insync.replicas", 3, "1 on a single node", false},
    {"retention.bytes", 5, "largest size of the log before old segments are deleted (-1 off)",
     false},
    {"retention.ms", 5, "age after which closed segments are deleted (-1 off)", false},
    {"segment.bytes", 3, "segment file size", false},
    {"segment.ms", 5, "age after which the active segment is rolled", false},
    /* Kafka 3.7 accepts these and Sluice ignores them (docs/broker.md, "Configs accepted with
     * no effect"); their defaults are Kafka's. */
    {"message.downconversion.enable", 1,
     "no effect: Sluice serves only magic v2 batches as stored and never down-converts", true},
    {"message.format.version", 2,
     "no effect: deprecated since Kafka 3.0, where it is ignored too (magic v2 always)", true},
    {"message.timestamp.difference.max.ms", 5,
     "no effect: deprecated in Kafka 3.6; Sluice does not check record timestamps", true},
};

const brk_tconf_def_t *brk_tconf_defs(size_t *n)
{
    *n = SL_ARRAY_LEN(brk__tconf_defs);
    return brk__tconf_defs;
}

/* Kafka's MetadataVersion names: 0.8.0 ... 3.7-IV4 (digits and dots, an optional -IV<n>). */
static bool brk__tconf_version_valid(const char *v)
{
    size_t digits = strspn(v, "0123456789."), iv = 0;
    if (digits == 0 || v[0] == '.') {
        return false;
    }
    if (strncmp(v + digits, "-IV", 3) == 0) {
        iv = strspn(v + digits + 3, "0123456789");
        return iv > 0 && v[digits + 3 + iv] == '\0';
    }
    return v[digits] == '\0';
}

/* Kafka's BOOLEAN parsing: true or false, in any case. */
static bool brk__tconf_bool_valid(const char *v)
{
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0;
}

static const brk_tconf_def_t *brk__tconf_def(const char *name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(brk__tconf_defs); i++) {
        if (strcmp(brk__tconf_defs[i].name, name) == 0) {
            return &brk__tconf_defs[i];
        }
    }
    return NULL;
}

int brk_tconf_codec(const char *value)
{
    static const char *names[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
    for (int i = 0; i < (int)SL_ARRAY_LEN(names); i++) {
        if (strcmp(value, names[i]) == 0) {
            return i; /* SLOG_CODEC_NONE .. SLOG_CODEC_ZSTD, in Kafka's attribute order */
        }
    }
    return -1;
}

kerr_t brk_tconf_check(const char *name, const char *value, const char **msg)
{
    const brk_tconf_def_t *def = brk__tconf_def(name);
    int64_t x;
    if (!def) {
        *msg = "unknown topic config";
        return KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "cleanup.policy") == 0) {
        bool ok = strcmp(value, "delete") == 0 || strcmp(value, "compact") == 0 ||
                  strcmp(value, "compact,delete") == 0 || strcmp(value, "delete,compact") == 0;
        *msg = "cleanup.policy must be delete, compact or compact,delete";
        return ok ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "compression.type") == 0) {
        *msg = "compression.type must be producer, uncompressed, gzip, snappy, lz4 or zstd";
        return strcmp(value, "producer") == 0 || brk_tconf_codec(value) >= 0
                   ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "message.timestamp.type") == 0) {
        *msg = "message.timestamp.type must be CreateTime or LogAppendTime";
        return strcmp(value, "CreateTime") == 0 || strcmp(value, "LogAppendTime") == 0
                   ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "message.downconversion.enable") == 0) {
        *msg = "message.downconversion.enable must be true or false";
        return brk__tconf_bool_valid(value) ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "message.format.version") == 0) {
        *msg = "message.format.version must be a Kafka version such as 3.0-IV1";
        return brk__tconf_version_valid(value) ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    if (strcmp(name, "min.cleanable.dirty.ratio") == 0) {
        char *end;
        double d = strtod(value, &end);
        *msg = "min.cleanable.dirty.ratio must be a number in [0, 1]";
        return *value && !*end && d >= 0 && d <= 1 ? KERR_NONE : KERR_INVALID_CONFIG;
    }
    struct { const char *name; int64_t min, max; } ranges[] = {
        {"delete.retention.ms", 0, INT64_MAX / 2},
        {"index.interval.bytes", 0, INT32_MAX},
        {"max.compaction.lag.ms", 1, INT64_MAX},
        {"max.message.bytes", 0, SLOG_BATCH_BYTES_MAX},
        {"message.timestamp.difference.max.ms", 0, INT64_MAX},
        {"min.compaction.lag.ms", 0, INT64_MAX / 2},
        {"min.insync.replicas", 1, 1},
        {"retention.bytes", -1, INT64_MAX / 2},
        {"retention.ms", -1, INT64_MAX / 2},
        {"segment.bytes", SLOG_SEGMENT_BYTES_MIN, SLOG_SEGMENT_BYTES_MAX - 1},
        {"segment.ms", 1, INT64_MAX / 2},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(ranges); i++) {
        if (strcmp(ranges[i].name, name) == 0) {
            *msg = "value is not an integer in the allowed range";
            return sl_parse_i64(value, ranges[i].min, ranges[i].max, &x) ? KERR_NONE
                                                                          : KERR_INVALID_CONFIG;
        }
    }
    *msg = "unknown topic config";
    return KERR_INVALID_CONFIG;
}

/* Broker default of a topic config, as a string. */
static void brk__tconf_default(brk_t *brk, const char *name, char *buf, size_t len)
{
    const brk_conf_t *c = &brk->conf;
    if (strcmp(name, "cleanup.policy") == 0) {
        snprintf(buf, len, "%s", c->cleanup_policy);
    } else if (strcmp(name, "compression.type") == 0) {
        snprintf(buf, len, "%s", c->compression_type);
    } else if (strcmp(name, "delete.retention.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.delete_retention_ms);
    } else if (strcmp(name, "index.interval.bytes") == 0) {
        snprintf(buf, len, "%d", (int)c->log.index_interval_bytes);
    } else if (strcmp(name, "max.compaction.lag.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.max_compaction_lag_ms);
    } else if (strcmp(name, "max.message.bytes") == 0) {
        snprintf(buf, len, "%lld", (long long)c->message_max_bytes);
    } else if (strcmp(name, "message.timestamp.type") == 0) {
        snprintf(buf, len, "%s", c->log.log_append_time ? "LogAppendTime" : "CreateTime");
    } else if (strcmp(name, "message.downconversion.enable") == 0) {
        snprintf(buf, len, "true"); /* Kafka 3.7's defaults, shown as Kafka shows them */
    } else if (strcmp(name, "message.format.version") == 0) {
        snprintf(buf, len, "3.0-IV1");
    } else if (strcmp(name, "message.timestamp.difference.max.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)INT64_MAX);
    } else if (strcmp(name, "min.cleanable.dirty.ratio") == 0) {
        snprintf(buf, len, "%g", c->log.min_cleanable_dirty_ratio);
    } else if (strcmp(name, "min.compaction.lag.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.min_compaction_lag_ms);
    } else if (strcmp(name, "min.insync.replicas") == 0) {
        snprintf(buf, len, "1");
    } else if (strcmp(name, "retention.bytes") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.retention_bytes);
    } else if (strcmp(name, "retention.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.retention_ms);
    } else if (strcmp(name, "segment.bytes") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.segment_bytes);
    } else if (strcmp(name, "segment.ms") == 0) {
        snprintf(buf, len, "%lld", (long long)c->log.roll_ms);
    } else {
        SL_ASSERT(!"topic config without a default");
    }
}

void brk_tconf_log_no_effect(const char *topic, const char *what, const sl_props_t *old,
                             const sl_props_t *next)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; next && i < sl_props_count(next); i++) {
        const char *k, *v;
        sl_props_at(next, i, &k, &v);
        const brk_tconf_def_t *def = brk__tconf_def(k);
        const char *was = old ? sl_props_get(old, k) : NULL;
        if (def && def->no_effect && !(was && strcmp(was, v) == 0) && used < sizeof names) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", k);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (used > 0) {
        SL_LOGI("topics", "topic %s %s: %s accepted for Kafka compatibility, no effect in Sluice",
                topic, what, names);
    }
}

void brk_tconf_value(brk_t *brk, const brk_topic_t *topic, const char *name, char *buf,
                     size_t len, bool *is_override)
{
    const char *v = topic ? sl_props_get(topic->overrides, name) : NULL;
    *is_override = v != NULL;
    if (v) {
        snprintf(buf, len, "%s", v);
    } else {
        brk__tconf_default(brk, name, buf, len);
    }
}

/* Effective log settings of a topic from broker defaults and its overrides. */
static void brk__topic_apply(brk_t *brk, brk_topic_t *topic)
{
    char v[64];
    bool ov;
    int64_t x;
    topic->log = brk->conf.log;
    struct { const char *name; int64_t *dst; } longs[] = {
        {"retention.ms", &topic->log.retention_ms},
        {"retention.bytes", &topic->log.retention_bytes},
        {"segment.bytes", &topic->log.segment_bytes},
        {"segment.ms", &topic->log.roll_ms},
        {"delete.retention.ms", &topic->log.delete_retention_ms},
        {"min.compaction.lag.ms", &topic->log.min_compaction_lag_ms},
        {"max.compaction.lag.ms", &topic->log.max_compaction_lag_ms},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(longs); i++) {
        brk_tconf_value(brk, topic, longs[i].name, v, sizeof v, &ov);
        if (sl_parse_i64(v, INT64_MIN, INT64_MAX, &x)) {
            *longs[i].dst = x;
        }
    }
    brk_tconf_value(brk, topic, "max.message.bytes", v, sizeof v, &ov);
    if (sl_parse_i64(v, 0, INT32_MAX, &x)) {
        topic->log.max_message_bytes = (int32_t)x;
    }
    brk_tconf_value(brk, topic, "index.interval.bytes", v, sizeof v, &ov);
    if (sl_parse_i64(v, 0, INT32_MAX, &x)) {
        topic->log.index_interval_bytes = (int32_t)x;
    }
    brk_tconf_value(brk, topic, "message.timestamp.type", v, sizeof v, &ov);
    topic->log.log_append_time = strcmp(v, "LogAppendTime") == 0;
    brk_tconf_value(brk, topic, "compression.type", v, sizeof v, &ov);
    topic->log.codec = brk_tconf_codec(v);
    brk_tconf_value(brk, topic, "cleanup.policy", topic->cleanup_policy,
                    sizeof topic->cleanup_policy, &ov);
    topic->log.cleanup_compact = strstr(topic->cleanup_policy, "compact") != NULL;
    topic->log.cleanup_delete = strstr(topic->cleanup_policy, "delete") != NULL;
    brk_tconf_value(brk, topic, "min.cleanable.dirty.ratio", v, sizeof v, &ov);
    double ratio = strtod(v, NULL);
    topic->log.min_cleanable_dirty_ratio = ratio >= 0 && ratio <= 1 ? ratio : 0.5;
}

bool brk_topic_name_valid(kproto_str_t name, const char **why)
{
    if (name.len <= 0) {
        *why = "topic name is empty";
        return false;
    }
    if (name.len > BRK_TOPIC_NAME_BYTES_MAX) {
        *why = "topic name is longer than 249 characters";
        return false;
    }
    if ((name.len == 1 && name.ptr[0] == '.') ||
        (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.')) {
        *why = "topic name cannot be '.' or '..'";
        return false;
    }
    for (int32_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            *why = "topic name may contain only ASCII letters, digits, '.', '_' and '-'";
            return false;
        }
    }
    return true;
}

/* ---- the registry's indexes: topic by name and by id, O(1) whatever the request ---- */

static void brk__topic_index(brk_t *brk, brk_topic_t *topic)
{
    if (!brk->topic_names) {
        brk->topic_names = sl_hset_new(64);
        brk->topic_ids = sl_hset_new(64);
    }
    int64_t v = (int64_t)(intptr_t)topic;
    sl_hset_put(brk->topic_names, topic->name, strlen(topic->name), 0, v, NULL);
    sl_hset_put(brk->topic_ids, topic->id.b, 16, 0, v, NULL);
}

/* Adds a new topic to the registry. */
static void brk__topic_link(brk_t *brk, brk_topic_t *topic)
{
    topic->next = brk->topics;
    brk->topics = topic;
    brk->ntopics++;
    brk__topic_index(brk, topic);
}

/* After a topic left the list (deletion, rare): the indexes again from the list. */
static void brk__topic_reindex(brk_t *brk)
{
    sl_hset_free(brk->topic_names);
    sl_hset_free(brk->topic_ids);
    brk->topic_names = brk->topic_ids = NULL;
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        brk__topic_index(brk, t);
    }
}

brk_topic_t *brk_topic_find(brk_t *brk, kproto_str_t name)
{
    int64_t v;
    if (name.len < 0 || !brk->topic_names ||
        !sl_hset_get(brk->topic_names, name.ptr, (size_t)name.len, 0, &v)) {
        return NULL;
    }
    return (brk_topic_t *)(intptr_t)v;
}

brk_topic_t *brk_topic_find_id(brk_t *brk, kproto_uuid_t id)
{
    int64_t v;
    if (!brk->topic_ids || !sl_hset_get(brk->topic_ids, id.b, 16, 0, &v)) {
        return NULL;
    }
    return (brk_topic_t *)(intptr_t)v;
}

static void brk__topic_dir(brk_t *brk, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/topics/%s", brk->conf.data_dir, name);
}

static int brk__topic_save(brk_t *brk, brk_topic_t *topic)
{
    char path[BRK_PATH_BUF];
    char *text = sl_xmalloc(BRK_TOPIC_FILE_BYTES_MAX);
    size_t n = 0;
    n += (size_t)snprintf(text + n, BRK_TOPIC_FILE_BYTES_MAX - n, "topic.id=");
    for (int i = 0; i < 16; i++) {
        n += (size_t)snprintf(text + n, BRK_TOPIC_FILE_BYTES_MAX - n, "%02x", topic->id.b[i]);
    }
    n += (size_t)snprintf(text + n, BRK_TOPIC_FILE_BYTES_MAX - n, "\npartitions=%d\n",
                          (int)topic->npart);
    for (size_t i = 0; i < sl_props_count(topic->overrides); i++) {
        const char *k, *v;
        sl_props_at(topic->overrides, i, &k, &v);
        n += (size_t)snprintf(text + n, BRK_TOPIC_FILE_BYTES_MAX - n, "config.%s=%s\n", k, v);
        SL_ASSERT(n < BRK_TOPIC_FILE_BYTES_MAX);
    }
    brk__topic_dir(brk, topic->name, path, sizeof path);
    strcat(path, "/topic.properties");
    int rc = sl_fs_write_atomic(path, text, n);
    free(text);
    return rc;
}

static int brk__topics_dir_sync(brk_t *brk)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/topics", brk->conf.data_dir);
    return sl_fs_sync_dir(path);
}

static void brk__topic_free(brk_topic_t *topic)
{
    for (int32_t i = 0; i < topic->npart; i++) {
        free(topic->parts[i]);
    }
    free(topic->parts);
    sl_props_free(topic->overrides);
    free(topic->name);
    free(topic);
}

/* Makes the directories of the partitions just created durable, all at once (slog_parts_sync_new),
 * so that none waits for it at its first produce. On failure closes them all. */
static int brk__parts_sync_new(brk_part_t **parts, int32_t n)
{
    slog_part_t **logs = sl_xcalloc(n > 0 ? (size_t)n : 1, sizeof *logs);
    for (int32_t i = 0; i < n; i++) {
        logs[i] = parts[i]->log;
    }
    int rc = slog_parts_sync_new(logs, (size_t)n);
    free(logs);
    if (rc != 0) {
        SL_LOGE("topics", "cannot make new partition directories durable: %s", sl_strerror(rc));
        for (int32_t i = 0; i < n; i++) {
            slog_part_close(parts[i]->log);
            free(parts[i]);
        }
    }
    return rc;
}

/* Opens partitions [from, to) of topic (its name, the log settings conf) into parts[0..to-from):
 * creates what is missing. On failure closes what it opened. Thread: any (the loop at start,
 * the creation worker later: it reads only topic->name, which never changes). */
static int brk__parts_open(brk_t *brk, brk_topic_t *topic, const slog_conf_t *conf, int32_t from,
                           int32_t to, brk_part_t **parts)
{
    char dir[BRK_PATH_BUF];
    brk__topic_dir(brk, topic->name, dir, sizeof dir);
    size_t base = strlen(dir);
    for (int32_t p = from; p < to; p++) {
        snprintf(dir + base, sizeof dir - base, "/%d", (int)p);
        brk_part_t *part = sl_xcalloc(1, sizeof *part);
        part->topic = topic;
        part->index = p;
        int rc = atomic_load(&brk->creating_stop) ? SL_ECLOSED
                                                  : slog_part_open(dir, conf, &part->log);
        if (rc != 0) {
            if (rc != SL_ECLOSED) { /* SL_ECLOSED: a shutdown stopped the creation */
                SL_LOGE("topics", "cannot open %s: %s", dir, sl_strerror(rc));
            }
            free(part);
            for (int32_t q = from; q < p; q++) {
                slog_part_close(parts[q - from]->log);
                free(parts[q - from]);
            }
            return rc;
        }
        parts[p - from] = part;
    }
    return brk__parts_sync_new(parts, to - from);
}

/* Opens partitions [from, to) of topic and appends them. */
static int brk__topic_open_parts(brk_t *brk, brk_topic_t *topic, int32_t from, int32_t to)
{
    topic->parts = sl_xrealloc(topic->parts, (size_t)to * sizeof *topic->parts);
    int rc = brk__parts_open(brk, topic, &topic->log, from, to, topic->parts + from);
    if (rc == 0) {
        topic->npart = to;
    }
    return rc;
}

/* Loads one topic directory; a directory without topic.properties is an unfinished create. */
static int brk__topic_load(brk_t *brk, const char *name, char *err, size_t err_len)
{
    char path[BRK_PATH_BUF];
    brk__topic_dir(brk, name, path, sizeof path);
    char file[BRK_PATH_BUF + 32];
    snprintf(file, sizeof file, "%s/topic.properties", path);
    struct stat st;
    if (stat(file, &st) < 0) {
        SL_LOGW("topics", "removing %s: topic creation did not finish", path);
        return sl_fs_rmtree(path);
    }
    sl_props_t *props = sl_props_new();
    int rc = sl_props_load(props, file, err, err_len);
    int64_t npart = 0;
    const char *id = sl_props_get(props, "topic.id");
    if (rc == 0 && (!id || strlen(id) != 32 ||
                    !sl_parse_i64(sl_props_get(props, "partitions"), 1, BRK_PARTITIONS_MAX, &npart))) {
        snprintf(err, err_len, "%s: missing or bad topic.id/partitions", file);
        rc = SL_ECORRUPT;
    }
    if (rc != 0) {
        sl_props_free(props);
        return rc;
    }
    brk_topic_t *topic = sl_xcalloc(1, sizeof *topic);
    topic->name = sl_xstrdup(name);
    topic->overrides = sl_props_new();
    for (int i = 0; i < 16; i++) {
        unsigned b;
        sscanf(id + 2 * i, "%2x", &b);
        topic->id.b[i] = (uint8_t)b;
    }
    for (size_t i = 0; i < sl_props_count(props); i++) {
        const char *k, *v;
        sl_props_at(props, i, &k, &v);
        if (strncmp(k, "config.", 7) == 0) {
            sl_props_set(topic->overrides, k + 7, v);
        }
    }
    sl_props_free(props);
    brk__topic_apply(brk, topic);
    rc = brk__topic_open_parts(brk, topic, 0, (int32_t)npart);
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot open its partitions: %s", path, sl_strerror(rc));
        topic->npart = 0;
        brk__topic_free(topic);
        return rc;
    }
    brk__topic_link(brk, topic);
    return 0;
}

int brk_topics_load(brk_t *brk, char *err, size_t err_len)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/trash", brk->conf.data_dir);
    int rc = sl_fs_rmtree(path);
    if (rc == 0) {
        rc = sl_fs_mkdirs(path);
    }
    snprintf(path, sizeof path, "%s/topics", brk->conf.data_dir);
    if (rc == 0) {
        rc = sl_fs_mkdirs(path);
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", path, sl_strerror(rc));
        return rc;
    }
    DIR *d = opendir(path);
    if (!d) {
        rc = -errno;
        snprintf(err, err_len, "%s: %s", path, sl_strerror(rc));
        return rc;
    }
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        kproto_str_t name = kproto_str(de->d_name);
        const char *why;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (!brk_topic_name_valid(name, &why)) {
            SL_LOGW("topics", "ignoring %s/%s: %s", path, de->d_name, why);
            continue;
        }
        rc = brk__topic_load(brk, de->d_name, err, err_len);
    }
    closedir(d);
    return rc;
}

void brk_topics_close(brk_t *brk)
{
    size_t n = 0, cap = 0;
    slog_part_t **logs = NULL;
    for (brk_topic_t *topic = brk->topics; topic; topic = topic->next) {
        for (int32_t p = 0; p < topic->npart; p++) {
            brk_flush_quiesce(topic->parts[p]);
        }
    }
    for (brk_topic_t *topic = brk->topics; topic; topic = topic->next) {
        for (int32_t p = 0; p < topic->npart; p++) { /* the loop's part: jobs and waiters */
            brk_flush_drain(brk, topic->parts[p]);
            brk_part_fail_waiters(topic->parts[p], SL_ECLOSED);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                logs = sl_xrealloc(logs, cap * sizeof *logs);
            }
            logs[n++] = topic->parts[p]->log;
        }
    }
    slog_parts_close(logs, n); /* the logs' part: their files, synced in one parallel pass */
    free(logs);
    sl_hset_free(brk->topic_names);
    sl_hset_free(brk->topic_ids);
    brk->topic_names = brk->topic_ids = NULL;
    while (brk->topics) {
        brk_topic_t *topic = brk->topics;
        brk->topics = topic->next;
        brk__topic_free(topic);
    }
    brk->ntopics = 0;
}

/* Checks a set of overrides; on error msg names the problem. */
kerr_t brk_topic_check_overrides(const sl_props_t *overrides, const char **msg)
{
    if (!overrides) {
        return KERR_NONE;
    }
    if (sl_props_count(overrides) > BRK_TOPIC_CONFIGS_MAX) {
        *msg = "too many topic configs";
        return KERR_INVALID_CONFIG;
    }
    for (size_t i = 0; i < sl_props_count(overrides); i++) {
        const char *k, *v;
        sl_props_at(overrides, i, &k, &v);
        kerr_t e = brk_tconf_check(k, v, msg);
        if (e != KERR_NONE) {
            return e;
        }
    }
    return KERR_NONE;
}

brk_topic_t *brk_topic_build(brk_t *brk, const char *name, int32_t npart,
                             const sl_props_t *overrides, int *rc_out)
{
    brk_topic_t *topic = sl_xcalloc(1, sizeof *topic);
    topic->name = sl_xstrdup(name);
    topic->overrides = sl_props_new();
    for (size_t i = 0; overrides && i < sl_props_count(overrides); i++) {
        const char *k, *v;
        sl_props_at(overrides, i, &k, &v);
        sl_props_set(topic->overrides, k, v);
    }
    int rc = getrandom(topic->id.b, 16, 0) == 16 ? 0 : -EIO;
    if (rc == 0) {
        brk__topic_apply(brk, topic);
        rc = brk__topic_open_parts(brk, topic, 0, npart);
    }
    if (rc == 0) {
        rc = brk__topic_save(brk, topic); /* last: the topic exists once this is written */
        if (rc == 0) {
            rc = brk__topics_dir_sync(brk); /* and the entry naming the topic directory */
        }
        if (rc != 0) {
            for (int32_t p = 0; p < topic->npart; p++) {
                slog_part_close(topic->parts[p]->log);
            }
        }
    }
    if (rc != 0) {
        char dir[BRK_PATH_BUF];
        brk__topic_dir(brk, topic->name, dir, sizeof dir);
        if (rc != SL_ECLOSED) {
            SL_LOGE("topics", "creating %s failed: %s", topic->name, sl_strerror(rc));
        }
        sl_fs_rmtree(dir);
        topic->npart = 0;
        brk__topic_free(topic);
        *rc_out = rc;
        return NULL;
    }
    *rc_out = 0;
    return topic;
}

void brk_topic_install(brk_t *brk, brk_topic_t *topic, bool log)
{
    brk__topic_link(brk, topic);
    if (!log) {
        return;
    }
    SL_LOGI("topics", "created topic %s with %d partition(s)", topic->name, (int)topic->npart);
    brk_tconf_log_no_effect(topic->name, "created", NULL, topic->overrides);
}

kerr_t brk_topic_delete(brk_t *brk, brk_topic_t *topic)
{
    char from[BRK_PATH_BUF], to[BRK_PATH_BUF];
    brk__topic_dir(brk, topic->name, from, sizeof from);
    snprintf(to, sizeof to, "%s/trash/", brk->conf.data_dir);
    for (int i = 0; i < 16; i++) {
        snprintf(to + strlen(to), sizeof to - strlen(to), "%02x", topic->id.b[i]);
    }
    for (int32_t p = 0; p < topic->npart; p++) {
        brk_cleaner_forget(brk, topic->parts[p]);
        brk_flush_drain(brk, topic->parts[p]);
        brk_part_fail_waiters(topic->parts[p], SL_ENOTFOUND);
    }
    if (rename(from, to) < 0) {
        SL_LOGE("topics", "cannot delete %s: %s", from, strerror(errno));
        return KERR_KAFKA_STORAGE_ERROR;
    }
    char trash[BRK_PATH_BUF];
    snprintf(trash, sizeof trash, "%s/trash", brk->conf.data_dir);
    sl_fs_sync_dir(trash);
    for (brk_topic_t **pp = &brk->topics; *pp; pp = &(*pp)->next) {
        if (*pp == topic) {
            *pp = topic->next;
            break;
        }
    }
    brk->ntopics--;
    brk__topic_reindex(brk);
    for (int32_t p = 0; p < topic->npart; p++) {
        brk_part_gone(brk, topic->parts[p]);
        slog_part_abandon(topic->parts[p]->log);
    }
    SL_LOGI("topics", "deleted topic %s", topic->name);
    brk__topic_free(topic);
    sl_fs_rmtree(to);
    return KERR_NONE;
}

kerr_t brk_topic_check_partitions(const brk_topic_t *topic, int32_t count, const char **msg)
{
    if (topic->adding) {
        *msg = "partitions are being added to this topic; retry when they are";
        return KERR_REASSIGNMENT_IN_PROGRESS;
    }
    if (count <= topic->npart) {
        *msg = count == topic->npart ? "topic already has that many partitions"
                                     : "the number of partitions can only grow";
        return KERR_INVALID_PARTITIONS;
    }
    if (count > BRK_PARTITIONS_MAX) {
        *msg = "number of partitions must be at most 50000";
        return KERR_INVALID_PARTITIONS;
    }
    return KERR_NONE;
}

int brk_parts_build(brk_t *brk, brk_topic_t *topic, const slog_conf_t *conf, int32_t from,
                    int32_t to, brk_part_t **parts)
{
    return brk__parts_open(brk, topic, conf, from, to, parts);
}

kerr_t brk_topic_install_parts(brk_t *brk, brk_topic_t *topic, brk_part_t **parts, int32_t count,
                               const char **msg)
{
    int32_t old = topic->npart;
    topic->parts = sl_xrealloc(topic->parts, (size_t)count * sizeof *topic->parts);
    for (int32_t p = old; p < count; p++) {
        topic->parts[p] = parts[p - old];
        slog_part_set_conf(topic->parts[p]->log, &topic->log); /* configs altered meanwhile */
    }
    topic->npart = count;
    int rc = brk__topic_save(brk, topic);
    if (rc != 0) {
        for (int32_t p = old; p < count; p++) {
            slog_part_close(topic->parts[p]->log);
            free(topic->parts[p]);
        }
        topic->npart = old;
        *msg = "storage error while adding partitions";
        return KERR_KAFKA_STORAGE_ERROR;
    }
    SL_LOGI("topics", "topic %s now has %d partitions", topic->name, (int)count);
    return KERR_NONE;
}

kerr_t brk_topic_set_configs(brk_t *brk, brk_topic_t *topic, sl_props_t *overrides,
                             bool validate_only, const char **msg)
{
    kerr_t e = brk_topic_check_overrides(overrides, msg);
    if (e != KERR_NONE || validate_only) {
        sl_props_free(overrides);
        return e;
    }
    sl_props_t *old = topic->overrides;
    topic->overrides = overrides;
    int rc = brk__topic_save(brk, topic);
    if (rc != 0) {
        topic->overrides = old;
        sl_props_free(overrides);
        *msg = "storage error while saving topic configs";
        return KERR_KAFKA_STORAGE_ERROR;
    }
    brk_tconf_log_no_effect(topic->name, "altered", old, topic->overrides);
    sl_props_free(old);
    brk__topic_apply(brk, topic);
    for (int32_t p = 0; p < topic->npart; p++) {
        slog_part_set_conf(topic->parts[p]->log, &topic->log);
    }
    return KERR_NONE;
}
