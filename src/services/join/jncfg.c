/* jncfg: `sluice join` settings from properties. */
#include "jncfg.h"

#include "sl_bind.h"
#include "sl_common.h"
#include "sl_props.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Topic names and merge names: Kafka's legal topic characters. */
static int jncfg__name(char *dst, size_t cap, const char *key, const char *val, char *err,
                       size_t len)
{
    size_t n = strlen(val);
    for (size_t i = 0; i < n; i++) {
        char c = val[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-' || c == '.')) {
            return sl_setting_fail(err, len, key, "want characters [0-9A-Za-z._-]");
        }
    }
    if (n == 0) {
        return sl_setting_fail(err, len, key, "empty");
    }
    return sl_setting_str(dst, cap, key, val, err, len);
}

static void jncfg__defaults(jncfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->brokers, "127.0.0.1:9092");
    strcpy(cfg->app_id, "sluice-join");
    cfg->type = JN_ST_LEFT;
    jn_joiner_init(&cfg->joiner);
    strcpy(cfg->state_dir, "data/join");
    cfg->state_max_bytes = 1ll << 30;
    strcpy(cfg->http_listen, "127.0.0.1:8081");
    strcpy(cfg->compression, "none");
    cfg->batch_max = 50000; /* bench/join: 104k joined/s against 93k with 5,000 */
    cfg->batch_max_bytes = 16ll << 20; /* bench/join: docs/join.md, "Memory" */
    cfg->commit_interval_ms = 100;
    cfg->broker_unreachable_ms = 15000;
    cfg->broker_timeout_ms = 10000;
    cfg->error_linger_ms = 5000;
}

static int jncfg__merge(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jn_joiner_t *jn = &((jncfg_t *)obj)->joiner;
    if (strcmp(key, "merge.mode") == 0) {
        if (strcmp(val, "merge") == 0 || strcmp(val, "nest") == 0 ||
            strcmp(val, "template") == 0) {
            jn->mode = val[0] == 'm' ? JN_MERGE_TOP : val[0] == 'n' ? JN_MERGE_NEST
                                                                    : JN_MERGE_TEMPLATE;
            return 0;
        }
        return sl_setting_fail(err, len, key, "want merge, nest or template");
    }
    if (strcmp(key, "merge.precedence") == 0) {
        if (strcmp(val, "left") != 0 && strcmp(val, "right") != 0) {
            return sl_setting_fail(err, len, key, "want left or right");
        }
        jn->precedence = val[0] == 'l' ? JN_LEFT : JN_RIGHT;
        return 0;
    }
    if (strcmp(key, "merge.left.name") == 0) {
        return jncfg__name(jn->left_name, sizeof jn->left_name, key, val, err, len);
    }
    if (strcmp(key, "merge.right.name") == 0) {
        return jncfg__name(jn->right_name, sizeof jn->right_name, key, val, err, len);
    }
    if (strcmp(key, "merge.template") == 0) {
        return sl_setting_str(jn->template_text, sizeof jn->template_text, key, val, err, len);
    }
    return sl_setting_fail(err, len, key, "unknown setting");
}

/* Topic and application names: Kafka's legal topic characters. */
static int jncfg__topic(void *obj, const char *key, const char *val, char *err, size_t len)
{
    static const struct {
        const char *key;
        size_t off, cap;
    } names[] = {
        {"application.id", offsetof(jncfg_t, app_id), sizeof ((jncfg_t *)0)->app_id},
        {"left.topic", offsetof(jncfg_t, left_topic), sizeof ((jncfg_t *)0)->left_topic},
        {"right.topic", offsetof(jncfg_t, right_topic), sizeof ((jncfg_t *)0)->right_topic},
        {"output.topic", offsetof(jncfg_t, output_topic), sizeof ((jncfg_t *)0)->output_topic},
        {"error.topic", offsetof(jncfg_t, error_topic), sizeof ((jncfg_t *)0)->error_topic},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        if (strcmp(key, names[i].key) == 0) {
            return jncfg__name((char *)obj + names[i].off, names[i].cap, key, val, err, len);
        }
    }
    return sl_setting_fail(err, len, key, "not a name setting");
}

static int jncfg__kafka(void *obj, const char *key, const char *val, char *err, size_t len)
{
    return kit_kconf_set(&((jncfg_t *)obj)->kafka, key + strlen(KIT_KCONF_PREFIX), val, err, len);
}

static int jncfg__type(void *obj, const char *key, const char *val, char *err, size_t len)
{
    if (!jn_type_parse(val, &((jncfg_t *)obj)->type)) {
        return sl_setting_fail(err, len, key,
                               "want stream-table-inner, stream-table-left, table-table-inner, "
                               "table-table-left or table-table-outer");
    }
    return 0;
}

static int jncfg__codec(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jncfg_t *cfg = obj;
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t i = 0; i < SL_ARRAY_LEN(codecs); i++) {
        if (strcmp(val, codecs[i]) == 0) {
            return sl_setting_str(cfg->compression, sizeof cfg->compression, key, val, err, len);
        }
    }
    return sl_setting_fail(err, len, key, "want none, gzip, snappy, lz4 or zstd");
}

static int jncfg__on_error(void *obj, const char *key, const char *val, char *err, size_t len)
{
    if (strcmp(val, "continue") != 0 && strcmp(val, "fail") != 0) {
        return sl_setting_fail(err, len, key, "want continue or fail");
    }
    ((jncfg_t *)obj)->on_error_fail = val[0] == 'f';
    return 0;
}

#define JN_NUM(k, f, lo, hi) SL_BIND_NUM(jncfg_t, k, f, lo, hi)
#define JN_STR(k, f) SL_BIND_STR(jncfg_t, k, f)
static const sl_bind_t jncfg__keys[] = {
    JN_STR("brokers", brokers),
    SL_BIND_FN("application.id", jncfg__topic),
    SL_BIND_FN("left.topic", jncfg__topic),
    SL_BIND_FN("right.topic", jncfg__topic),
    SL_BIND_FN("output.topic", jncfg__topic),
    SL_BIND_FN("error.topic", jncfg__topic),
    SL_BIND_FN("join.type", jncfg__type),
    SL_BIND_FN("merge.mode", jncfg__merge),
    SL_BIND_FN("merge.precedence", jncfg__merge),
    SL_BIND_FN("merge.left.name", jncfg__merge),
    SL_BIND_FN("merge.right.name", jncfg__merge),
    SL_BIND_FN("merge.template", jncfg__merge),
    SL_BIND_FN("compression.type", jncfg__codec),
    SL_BIND_FN("on.error", jncfg__on_error),
    JN_STR("state.dir", state_dir),
    JN_NUM("state.max.bytes", state_max_bytes, JN_STORE_MAP_BYTES_MIN, 1ll << 40),
    JN_NUM("batch.max.records", batch_max, 1, JNCFG_BATCH_MAX),
    JN_NUM("batch.max.bytes", batch_max_bytes, JNCFG_BATCH_BYTES_MIN, JNCFG_BATCH_BYTES_MAX),
    JN_NUM("commit.interval.ms", commit_interval_ms, 0, 60000),
    JN_NUM("broker.unreachable.ms", broker_unreachable_ms, 100, 3600000),
    JN_NUM("broker.timeout.ms", broker_timeout_ms, 100, 600000),
    JN_NUM("error.linger.ms", error_linger_ms, 0, 3600000),
    JN_STR("http.listen", http_listen),
    SL_BIND_PREFIX(KIT_KCONF_PREFIX, jncfg__kafka),
};

int jncfg_load(jncfg_t *cfg, const sl_props_t *props, char *err, size_t err_len)
{
    jncfg__defaults(cfg);
    if (sl_bind_load(jncfg__keys, SL_ARRAY_LEN(jncfg__keys), cfg, props, err, err_len) != 0) {
        return SL_EINVAL;
    }
    const char *required[] = {cfg->left_topic, cfg->right_topic, cfg->output_topic};
    const char *rkeys[] = {"left.topic", "right.topic", "output.topic"};
    for (size_t i = 0; i < SL_ARRAY_LEN(required); i++) {
        if (!required[i][0]) {
            return sl_setting_fail(err, err_len, rkeys[i], "required");
        }
    }
    if (strcmp(cfg->left_topic, cfg->right_topic) == 0) {
        return sl_setting_fail(err, err_len, "right.topic", "must differ from left.topic");
    }
    if (cfg->joiner.mode == JN_MERGE_TEMPLATE && !cfg->joiner.template_text[0]) {
        return sl_setting_fail(err, err_len, "merge.template", "required with merge.mode=template");
    }
    if (!cfg->error_topic[0]) {
        snprintf(cfg->error_topic, sizeof cfg->error_topic, "%.*s-errors",
                 JNCFG_NAME_BYTES_MAX - 7, cfg->app_id);
    }
    return 0;
}
