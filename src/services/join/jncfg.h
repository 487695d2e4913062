/* Configuration of `sluice join`: one .properties file plus --set overrides and flags, every
 * key documented in docs/join.md ("Configuration"). Unknown keys are errors, so a typo is never
 * silently ignored. */
#ifndef JNCFG_H
#define JNCFG_H

#include "jnjoin.h"
#include "jnstore.h"
#include "kit_kconf.h"
#include "sl_props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JNCFG_STR_BYTES_MAX 1024 /* brokers, state.dir */
#define JNCFG_NAME_BYTES_MAX 200 /* topic names (Kafka allows 249) and application.id */
#define JNCFG_BATCH_MAX 100000   /* batch.max.records ceiling */
#define JNCFG_BATCH_BYTES_MIN 1024        /* batch.max.bytes floor (a batch takes >= 1 record) */
#define JNCFG_BATCH_BYTES_MAX (1ll << 30) /* batch.max.bytes ceiling */

typedef struct {
    char brokers[JNCFG_STR_BYTES_MAX];
    kit_kconf_t kafka; /* kafka.* settings: passed to every librdkafka client */
    char app_id[JNCFG_NAME_BYTES_MAX + 1];      /* consumer group and changelog prefix */
    jn_type_t type;
    char left_topic[JNCFG_NAME_BYTES_MAX + 1];  /* the stream in stream-table joins */
    char right_topic[JNCFG_NAME_BYTES_MAX + 1]; /* always a table */
    char output_topic[JNCFG_NAME_BYTES_MAX + 1];
    char error_topic[JNCFG_NAME_BYTES_MAX + 1]; /* default <app-id>-errors */
    jn_joiner_t joiner;
    char state_dir[JNCFG_STR_BYTES_MAX];
    int64_t state_max_bytes;      /* LMDB map size per partition */
    char http_listen[64];         /* host:port; port 0 picks one (printed at start) */
    char compression[16];         /* output, changelog and error records: librdkafka's names */
    bool on_error_fail;           /* poison record: stop (true) or log and continue */
    int batch_max;                /* records per processing batch (one LMDB txn per partition) */
    int64_t batch_max_bytes;      /* input bytes (keys and values) per batch, jnbatch.h */
    int64_t commit_interval_ms;   /* offset commits at most this often (0: every batch) */
    int64_t broker_unreachable_ms; /* /health turns 503 after the broker is gone this long */
    int64_t broker_timeout_ms;    /* admin and watermark requests */
    int64_t error_linger_ms;      /* time in ERROR (answering 503) before the process exits */
} jncfg_t;

/* Fills defaults, then applies props. On a bad or unknown key, or a missing required one,
 * returns SL_EINVAL with "key: reason" in err. */
int jncfg_load(jncfg_t *cfg, const sl_props_t *props, char *err, size_t err_len);

#endif
