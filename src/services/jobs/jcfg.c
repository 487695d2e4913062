/* jcfg: `sluice jobs` settings from properties. */
#include "jcfg.h"

#include "jhook.h"
#include "sl_common.h"
#include "sl_props.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JCFG_TIMEOUT_S_MAX JSTORE_TIMEOUT_S_MAX

static int jcfg__roles(jcfg_t *cfg, const char *val, char *err, size_t len)
{
    cfg->roles_api = cfg->roles_pipeline = cfg->roles_workers = false;
    char buf[128];
    if (sl_setting_str(buf, sizeof buf, "roles", val, err, len) != 0) {
        return SL_EINVAL;
    }
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "api") == 0) {
            cfg->roles_api = true;
        } else if (strcmp(tok, "pipeline") == 0) {
            cfg->roles_pipeline = true;
        } else if (strcmp(tok, "workers") == 0) {
            cfg->roles_workers = true;
        } else {
            return sl_setting_fail(err, len, "roles", "want a list of api, pipeline, workers");
        }
    }
    return 0;
}

static jcfg_type_t *jcfg__type_get(jcfg_t *cfg, const char *name, size_t name_len)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        if (strlen(cfg->types[i].name) == name_len &&
            memcmp(cfg->types[i].name, name, name_len) == 0) {
            return &cfg->types[i];
        }
    }
    if (cfg->ntypes == JCFG_TYPES_MAX || name_len == 0 || name_len > JSTORE_TYPE_BYTES_MAX) {
        return NULL;
    }
    jcfg_type_t *t = &cfg->types[cfg->ntypes++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, name_len);
    t->mode = JCFG_ONESHOT;
    return t;
}

static int jcfg__command(jcfg_type_t *t, const char *key, const char *val, char *err, size_t len)
{
    for (int i = 0; t->argv[i]; i++) {
        free(t->argv[i]);
        t->argv[i] = NULL;
    }
    int n = 0;
    const char *p = val;
    while (*p) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        const char *end = p;
        while (*end && *end != ' ' && *end != '\t') {
            end++;
        }
        if (end == p) {
            break;
        }
        if (n == JRUN_ARGV_MAX) {
            return sl_setting_fail(err, len, key, "too many arguments");
        }
        t->argv[n++] = sl_xstrndup(p, (size_t)(end - p));
        p = end;
    }
    return n == 0 ? sl_setting_fail(err, len, key, "empty command") : 0;
}

/* type.<name>.<field>; the name may hold dots, so the field is matched as a suffix. */
static int jcfg__type_key(jcfg_t *cfg, const char *key, const char *val, char *err, size_t len)
{
    static const char *const fields[] = {"command", "mode", "concurrency", "timeout.s",
                                         "max.attempts"};
    const char *name = key + strlen("type."), *field = NULL, *dot = NULL;
    size_t klen = strlen(name);
    for (size_t i = 0; i < SL_ARRAY_LEN(fields) && !field; i++) {
        size_t flen = strlen(fields[i]);
        if (klen > flen + 1 && strcmp(name + klen - flen, fields[i]) == 0 &&
            name[klen - flen - 1] == '.') {
            field = fields[i];
            dot = name + klen - flen - 1;
        }
    }
    if (!field) {
        return sl_setting_fail(err, len, key,
                          "want type.<name>.command|mode|concurrency|timeout.s|max.attempts");
    }
    jcfg_type_t *t = jcfg__type_get(cfg, name, (size_t)(dot - name));
    if (!t) {
        return sl_setting_fail(err, len, key, "bad type name or too many types");
    }
    int64_t v = 0;
    if (strcmp(field, "command") == 0) {
        return jcfg__command(t, key, val, err, len);
    }
    if (strcmp(field, "mode") == 0) {
        if (strcmp(val, "oneshot") != 0 && strcmp(val, "persistent") != 0) {
            return sl_setting_fail(err, len, key, "want oneshot or persistent");
        }
        t->mode = val[0] == 'p' ? JCFG_PERSISTENT : JCFG_ONESHOT;
        return 0;
    }
    int rc = SL_EINVAL;
    if (strcmp(field, "concurrency") == 0) {
        rc = sl_setting_i64(&v, 0, JCFG_SLOTS_MAX, key, val, err, len);
        t->concurrency = (int)v;
    } else if (strcmp(field, "timeout.s") == 0) {
        rc = sl_setting_i64(&v, 1, JCFG_TIMEOUT_S_MAX, key, val, err, len);
        t->timeout_s = (int)v;
    } else {
        rc = sl_setting_i64(&v, 1, JSTORE_MAX_ATTEMPTS_MAX, key, val, err, len);
        t->max_attempts = (int)v;
    }
    return rc;
}

static void jcfg__defaults(jcfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->brokers, "127.0.0.1:9092");
    strcpy(cfg->http_listen, "127.0.0.1:8080");
    strcpy(cfg->store_path, "data/jobs/jobs.db");
    strcpy(cfg->prefix, "jobs");
    strcpy(cfg->group_prefix, "jobs");
    snprintf(cfg->worker_id, sizeof cfg->worker_id, "w%ld", (long)getpid());
    cfg->partitions = 4;
    cfg->roles_api = cfg->roles_pipeline = cfg->roles_workers = true;
    cfg->slots = 4;
    cfg->lease_ms = 15000;
    cfg->retry_base_ms = 1000;
    cfg->retry_max_ms = 300000;
    cfg->retry_jitter_pct = 20;
    cfg->republish_ms = 60000;
    cfg->grace_ms = JRUN_GRACE_MS_DEFAULT;
    cfg->shutdown_wait_ms = 10000;
    cfg->default_timeout_s = 60;
    cfg->default_max_attempts = 3;
    cfg->request_bytes_max = 32u << 20;
    cfg->batch_max = 10000;
    strcpy(cfg->webhook_retries, "1s,5s,30s");
    cfg->webhook_timeout_ms = 10000;
    cfg->egress = sl_egress_new();
    cfg->webhook_concurrency = 8;
    cfg->webhook_per_host = 2;
    cfg->broker_timeout_ms = 10000;
}

/* One key. Integer keys: {name, field offset, min, max, int64?}. */
typedef struct {
    const char *key;
    size_t off;
    int64_t min, max;
    bool wide;
} jcfg_int_key_t;

#define JCFG_I(k, f, lo, hi) {k, offsetof(jcfg_t, f), lo, hi, false}
#define JCFG_L(k, f, lo, hi) {k, offsetof(jcfg_t, f), lo, hi, true}
static const jcfg_int_key_t jcfg__ints[] = {
    JCFG_I("topics.partitions", partitions, 1, 1000),
    JCFG_I("workers.slots", slots, 1, JCFG_SLOTS_MAX),
    JCFG_I("concurrency.per.key", per_key, 0, JCFG_SLOTS_MAX),
    JCFG_L("lease.ms", lease_ms, 300, JSTORE_LEASE_MS_MAX),
    JCFG_L("retry.backoff.base.ms", retry_base_ms, 1, 86400000),
    JCFG_L("retry.backoff.max.ms", retry_max_ms, 1, 86400000),
    JCFG_I("retry.jitter.pct", retry_jitter_pct, 0, 100),
    JCFG_L("retry.republish.ms", republish_ms, 100, 86400000),
    JCFG_L("kill.grace.ms", grace_ms, 1, JRUN_GRACE_MS_MAX),
    JCFG_L("shutdown.wait.ms", shutdown_wait_ms, 0, JCFG_SHUTDOWN_WAIT_MS_MAX),
    JCFG_I("job.timeout.s", default_timeout_s, 1, JCFG_TIMEOUT_S_MAX),
    JCFG_I("job.max.attempts", default_max_attempts, 1, JSTORE_MAX_ATTEMPTS_MAX),
    JCFG_I("http.batch.max", batch_max, 1, 100000),
    JCFG_L("webhook.timeout.ms", webhook_timeout_ms, 1, JHOOK_TIMEOUT_MS_MAX),
    JCFG_I("webhook.concurrency", webhook_concurrency, 1, JHPOOL_THREADS_MAX),
    JCFG_I("webhook.per.host", webhook_per_host, 1, JHPOOL_THREADS_MAX),
    JCFG_L("broker.timeout.ms", broker_timeout_ms, 100, 600000),
};

static int jcfg__apply(jcfg_t *cfg, const char *key, const char *val, char *err, size_t len)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(jcfg__ints); i++) {
        const jcfg_int_key_t *k = &jcfg__ints[i];
        if (strcmp(key, k->key) == 0) {
            int64_t v = 0;
            if (sl_setting_i64(&v, k->min, k->max, key, val, err, len) != 0) {
                return SL_EINVAL;
            }
            if (k->wide) {
                *(int64_t *)((char *)cfg + k->off) = v;
            } else {
                *(int *)((char *)cfg + k->off) = (int)v;
            }
            return 0;
        }
    }
    int64_t v = 0;
    if (sl_egress_is_key(key)) {
        return sl_egress_set(cfg->egress, key, val, err, len) == 0 ? 0 : SL_EINVAL;
    }
    if (strncmp(key, KIT_KCONF_PREFIX, strlen(KIT_KCONF_PREFIX)) == 0) {
        return kit_kconf_set(&cfg->kafka, key + strlen(KIT_KCONF_PREFIX), val, err, len);
    }
    if (strcmp(key, "brokers") == 0) {
        return sl_setting_str(cfg->brokers, sizeof cfg->brokers, key, val, err, len);
    } else if (strcmp(key, "http.listen") == 0) {
        return sl_setting_str(cfg->http_listen, sizeof cfg->http_listen, key, val, err, len);
    } else if (strcmp(key, "store.path") == 0) {
        return sl_setting_str(cfg->store_path, sizeof cfg->store_path, key, val, err, len);
    } else if (strcmp(key, "topics.prefix") == 0) {
        return sl_setting_str(cfg->prefix, sizeof cfg->prefix, key, val, err, len);
    } else if (strcmp(key, "group.prefix") == 0) {
        return sl_setting_str(cfg->group_prefix, sizeof cfg->group_prefix, key, val, err, len);
    } else if (strcmp(key, "worker.id") == 0) {
        return sl_setting_str(cfg->worker_id, sizeof cfg->worker_id - 8, key, val, err, len);
    } else if (strcmp(key, "roles") == 0) {
        return jcfg__roles(cfg, val, err, len);
    } else if (strcmp(key, "api.token") == 0 || strcmp(key, "operator.token") == 0 ||
               strcmp(key, "metrics.token") == 0) {
        jauth_role_t role = key[0] == 'a' ? JAUTH_API : key[0] == 'o' ? JAUTH_OPERATOR
                                                                      : JAUTH_METRICS;
        char why[160];
        if (jauth_set(&cfg->auth, role, val, why, sizeof why) != 0) {
            return sl_setting_fail(err, len, key, why);
        }
        return 0;
    } else if (strcmp(key, "webhook.secret") == 0) {
        return sl_setting_str(cfg->webhook_secret, sizeof cfg->webhook_secret, key, val, err, len);
    } else if (strcmp(key, "webhook.retries") == 0) {
        jhook_sched_t sched;
        if (jhook_sched_parse(val, &sched) != 0) {
            return sl_setting_fail(err, len, key, "want delays like 1s,5s,30s");
        }
        return sl_setting_str(cfg->webhook_retries, sizeof cfg->webhook_retries, key, val, err, len);
    } else if (strcmp(key, "http.request.max.bytes") == 0) {
        int rc = sl_setting_i64(&v, 1024, 1 << 30, key, val, err, len);
        cfg->request_bytes_max = (size_t)v;
        return rc;
    } else if (strncmp(key, "type.", 5) == 0) {
        return jcfg__type_key(cfg, key, val, err, len);
    }
    return sl_setting_fail(err, len, key, "unknown setting");
}

int jcfg_load(jcfg_t *cfg, const sl_props_t *props, char *err, size_t err_len)
{
    jcfg__defaults(cfg);
    for (size_t i = 0; i < sl_props_count(props); i++) {
        const char *key, *val;
        sl_props_at(props, i, &key, &val);
        if (jcfg__apply(cfg, key, val, err, err_len) != 0) {
            return SL_EINVAL;
        }
    }
    for (int i = 0; i < cfg->ntypes; i++) {
        if (!cfg->types[i].argv[0]) {
            snprintf(err, err_len, "type.%s.command: missing", cfg->types[i].name);
            return SL_EINVAL;
        }
    }
    if (cfg->webhook_per_host > cfg->webhook_concurrency) {
        return sl_setting_fail(err, err_len, "webhook.per.host", "above webhook.concurrency");
    }
    if (cfg->retry_max_ms < cfg->retry_base_ms) {
        return sl_setting_fail(err, err_len, "retry.backoff.max.ms", "below retry.backoff.base.ms");
    }
    return 0;
}

void jcfg_deinit(jcfg_t *cfg)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        for (int a = 0; cfg->types[i].argv[a]; a++) {
            free(cfg->types[i].argv[a]);
        }
    }
    cfg->ntypes = 0;
    sl_egress_free(cfg->egress);
    cfg->egress = NULL;
}

const jcfg_type_t *jcfg_type(const jcfg_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        if (strcmp(cfg->types[i].name, name) == 0) {
            return &cfg->types[i];
        }
    }
    return NULL;
}
