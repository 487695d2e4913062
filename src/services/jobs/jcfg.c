/* jcfg: `sluice jobs` settings from properties. */
#include "jcfg.h"

#include "jhook.h"
#include "sl_bind.h"
#include "sl_common.h"
#include "sl_props.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JCFG_TIMEOUT_S_MAX JSTORE_TIMEOUT_S_MAX

static int jcfg__roles(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jcfg_t *cfg = obj;
    (void)key;
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
static int jcfg__type_key(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jcfg_t *cfg = obj;
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

static int jcfg__worker_id(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jcfg_t *cfg = obj; /* room for the slot suffix workers append */
    return sl_setting_str(cfg->worker_id, sizeof cfg->worker_id - 8, key, val, err, len);
}

static int jcfg__token(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jcfg_t *cfg = obj;
    jauth_role_t role = key[0] == 'a' ? JAUTH_API : key[0] == 'o' ? JAUTH_OPERATOR : JAUTH_METRICS;
    return jauth_set(&cfg->auth, role, val, err, len);
}

static int jcfg__retries(void *obj, const char *key, const char *val, char *err, size_t len)
{
    jcfg_t *cfg = obj;
    jhook_sched_t sched;
    if (jhook_sched_parse(val, &sched) != 0) {
        return sl_setting_fail(err, len, key, "want delays like 1s,5s,30s");
    }
    return sl_setting_str(cfg->webhook_retries, sizeof cfg->webhook_retries, key, val, err, len);
}

static int jcfg__egress(void *obj, const char *key, const char *val, char *err, size_t len)
{
    return sl_egress_set(((jcfg_t *)obj)->egress, key, val, err, len) == 0 ? 0 : SL_EINVAL;
}

static int jcfg__kafka(void *obj, const char *key, const char *val, char *err, size_t len)
{
    return kit_kconf_set(&((jcfg_t *)obj)->kafka, key + strlen(KIT_KCONF_PREFIX), val, err, len);
}

#define J_NUM(k, f, lo, hi) SL_BIND_NUM(jcfg_t, k, f, lo, hi)
#define J_STR(k, f) SL_BIND_STR(jcfg_t, k, f)
static const sl_bind_t jcfg__keys[] = {
    J_STR("brokers", brokers),
    J_STR("http.listen", http_listen),
    J_NUM("http.request.max.bytes", request_bytes_max, 1024, 1 << 30),
    J_NUM("http.batch.max", batch_max, 1, 100000),
    J_STR("store.path", store_path),
    J_STR("topics.prefix", prefix),
    J_NUM("topics.partitions", partitions, 1, 1000),
    J_STR("group.prefix", group_prefix),
    SL_BIND_FN("worker.id", jcfg__worker_id),
    SL_BIND_FN("roles", jcfg__roles),
    SL_BIND_FN("api.token", jcfg__token),
    SL_BIND_FN("operator.token", jcfg__token),
    SL_BIND_FN("metrics.token", jcfg__token),
    J_NUM("workers.slots", slots, 1, JCFG_SLOTS_MAX),
    J_NUM("concurrency.per.key", per_key, 0, JCFG_SLOTS_MAX),
    J_NUM("lease.ms", lease_ms, 300, JSTORE_LEASE_MS_MAX),
    J_NUM("retry.backoff.base.ms", retry_base_ms, 1, 86400000),
    J_NUM("retry.backoff.max.ms", retry_max_ms, 1, 86400000),
    J_NUM("retry.jitter.pct", retry_jitter_pct, 0, 100),
    J_NUM("retry.republish.ms", republish_ms, 100, 86400000),
    J_NUM("kill.grace.ms", grace_ms, 1, JRUN_GRACE_MS_MAX),
    J_NUM("shutdown.wait.ms", shutdown_wait_ms, 0, JCFG_SHUTDOWN_WAIT_MS_MAX),
    J_NUM("job.timeout.s", default_timeout_s, 1, JCFG_TIMEOUT_S_MAX),
    J_NUM("job.max.attempts", default_max_attempts, 1, JSTORE_MAX_ATTEMPTS_MAX),
    J_STR("webhook.secret", webhook_secret),
    SL_BIND_FN("webhook.retries", jcfg__retries),
    J_NUM("webhook.timeout.ms", webhook_timeout_ms, 1, JHOOK_TIMEOUT_MS_MAX),
    J_NUM("webhook.concurrency", webhook_concurrency, 1, JHPOOL_THREADS_MAX),
    J_NUM("webhook.per.host", webhook_per_host, 1, JHPOOL_THREADS_MAX),
    J_NUM("broker.timeout.ms", broker_timeout_ms, 100, 600000),
    SL_BIND_FN("egress.allow.hosts", jcfg__egress),
    SL_BIND_FN("egress.allow.cidrs", jcfg__egress),
    SL_BIND_FN("egress.allow.private", jcfg__egress),
    SL_BIND_PREFIX(KIT_KCONF_PREFIX, jcfg__kafka),
    SL_BIND_PREFIX("type.", jcfg__type_key),
};

int jcfg_load(jcfg_t *cfg, const sl_props_t *props, char *err, size_t err_len)
{
    jcfg__defaults(cfg);
    if (sl_bind_load(jcfg__keys, SL_ARRAY_LEN(jcfg__keys), cfg, props, err, err_len) != 0) {
        return SL_EINVAL;
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
