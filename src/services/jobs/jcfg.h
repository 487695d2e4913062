/* Configuration of `sluice jobs`: one .properties file (plus --set overrides), every key
 * documented in docs/jobs.md ("Configuration"). Unknown keys are errors, so a typo is
 * never silently ignored. */
#ifndef JCFG_H
#define JCFG_H

#include "jauth.h"
#include "jrun.h"
#include "jstore.h"
#include "kit_kconf.h"
#include "sl_egress.h"
#include "sl_props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JCFG_TYPES_MAX 32       /* job types (worker programs) per service */
#define JCFG_SLOTS_MAX 256      /* worker slots per process */
#define JCFG_STR_BYTES_MAX 1024 /* any string setting */
#define JHPOOL_THREADS_MAX 64   /* webhook.concurrency ceiling: sender threads */
#define JCFG_SHUTDOWN_WAIT_MS_MAX (3600 * 1000) /* shutdown.wait.ms ceiling: an hour */

typedef enum { JCFG_ONESHOT, JCFG_PERSISTENT } jcfg_mode_t;

typedef struct {
    char name[JSTORE_TYPE_BUF];
    jcfg_mode_t mode;
    char *argv[JRUN_ARGV_MAX + 1]; /* command split on spaces; owned */
    int concurrency;               /* running at once in this process; 0 = no limit */
    int timeout_s;                 /* default time limit of a job of this type */
    int max_attempts;              /* default attempt budget */
} jcfg_type_t;

typedef struct {
    char brokers[JCFG_STR_BYTES_MAX];
    kit_kconf_t kafka; /* kafka.* settings: passed to every librdkafka client */
    char http_listen[64];       /* host:port; port 0 picks one (printed at start) */
    char store_path[JCFG_STR_BYTES_MAX];
    char prefix[128];           /* topics: <prefix>.requests|assigned|completed|dead */
    int partitions;             /* for topics this service creates */
    char group_prefix[128];     /* consumer groups: <prefix>.<stage> */
    char worker_id[JSTORE_OWNER_BUF]; /* lease owner prefix; default host-pid */
    bool roles_api, roles_pipeline, roles_workers; /* which stages this process runs */
    int slots;                  /* global concurrency of this process's worker pool */
    int per_key;                /* jobs with one key running at once; 0 = no limit */
    int64_t lease_ms;           /* lease granted/renewed; heartbeat every lease/3 */
    int64_t retry_base_ms, retry_max_ms; /* exponential backoff bounds */
    int retry_jitter_pct;       /* +- this percent of the delay */
    int64_t republish_ms;       /* claim on a due job before it is published again */
    int64_t grace_ms;           /* SIGTERM to SIGKILL */
    int64_t shutdown_wait_ms;   /* at stop: running jobs' time to finish before the hand-back */
    int default_timeout_s, default_max_attempts;
    size_t request_bytes_max;   /* HTTP body limit (413 past it) */
    int batch_max;              /* jobs per POST */
    jauth_t auth;               /* api.token, operator.token, metrics.token */
    char webhook_secret[JCFG_STR_BYTES_MAX];
    char webhook_retries[128];  /* jhook schedule, e.g. "1s,5s,30s" */
    int64_t webhook_timeout_ms;
    sl_egress_t *egress;        /* egress.* settings: where webhooks may connect (owned) */
    int webhook_concurrency;    /* deliveries in flight at once, all hosts */
    int webhook_per_host;       /* ... to one destination (scheme://host:port) */
    int64_t broker_timeout_ms;  /* produce acks wait before 503 */
    jcfg_type_t types[JCFG_TYPES_MAX];
    int ntypes;
} jcfg_t;

/* Fills defaults, then applies props. On a bad or unknown key returns SL_EINVAL with
 * "key: reason" in err. Release with jcfg_deinit. */
int jcfg_load(jcfg_t *cfg, const sl_props_t *props, char *err, size_t err_len);
void jcfg_deinit(jcfg_t *cfg);
/* The type named name, or NULL. */
const jcfg_type_t *jcfg_type(const jcfg_t *cfg, const char *name);

#endif
