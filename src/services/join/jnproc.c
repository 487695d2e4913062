/* jnproc: the processing thread of `sluice join`. One loop: take a batch from the consumer
 * (both inputs; cut by records or input bytes, jnbatch.h) and apply it partition by partition
 * in one LMDB transaction each (join, state change, changelog record, output record); up to
 * JN_FLIGHT_MAX batches then await the broker's acknowledgements, and a batch is retired
 * (input offsets committed, changelog checkpoints recorded) once every output, changelog and
 * error record it produced is acknowledged and every earlier batch is retired. A crash
 * replays the unretired batches (at least once). On assignment each partition's stored sides
 * are restored from their changelog before any input record is processed. */
#include "jnbatch.h"
#include "jnsvc_int.h"

#include "sl_log.h"
#include "sl_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JN_LOG "join"
#define JN_RESTORE_TXN_RECORDS 10000 /* changelog records applied per LMDB transaction */
#define JN_POLL_MS 100

typedef struct {
    sl_buf_t out;                         /* joined value of the record in hand */
    jn_flight_t *f;                       /* the batch's flight */
    uint32_t slot;                        /* its index in svc->flights */
    uint32_t start[JN_PARTITIONS_MAX + 1]; /* counting sort of a batch by partition */
    uint32_t *order;
} jn_batch_t;

/* The opaque of a produced message: its kind and its batch's flight slot. */
#define JN_OPAQUE(kind, slot) ((void *)(uintptr_t)(((slot) << 3) | (kind)))
SL_STATIC_ASSERT(JN_MSG_ERROR < 8, "kinds fit in 3 bits");

/* ---- producing ---- */

void jnproc_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    jnsvc_t *svc = opaque;
    uintptr_t op = (uintptr_t)msg->_private;
    int kind = (int)(op & 7);
    SL_ASSERT((op >> 3) < JN_FLIGHT_MAX);
    jn_flight_t *f = &svc->flights[op >> 3];
    SL_ASSERT(f->used && f->pending > 0);
    f->pending--;
    if (msg->err) {
        if (!f->err) {
            f->err = msg->err;
            snprintf(f->err_topic, sizeof f->err_topic, "%s", rd_kafka_topic_name(msg->rkt));
        }
        return;
    }
    if (kind == JN_MSG_OUTPUT) {
        atomic_fetch_add(msg->payload ? &svc->m.out_values : &svc->m.out_tombstones, 1);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
        if (ts > 0) {
            jn_hist_observe(&svc->m.latency, (sl_time_wall_ms() - ts) * 1000);
        }
    } else if (kind == JN_MSG_ERROR) {
        atomic_fetch_add(&svc->m.poison, 1);
    } else {
        int side = kind == JN_MSG_CHANGELOG_LEFT ? JN_LEFT : JN_RIGHT;
        SL_ASSERT(msg->partition >= 0 && msg->partition < JN_PARTITIONS_MAX);
        int64_t *next = &f->cl_next[side][msg->partition];
        *next = SL_MAX(*next, msg->offset + 1);
    }
}

/* Produces a copy; waits for queue room (a full queue drains as the broker acknowledges). */
static int jn__produce(jnsvc_t *svc, jn_batch_t *b, int kind, const char *topic,
                       int32_t partition, const void *key, size_t key_len, const void *val,
                       size_t val_len, int64_t ts, rd_kafka_headers_t *hdrs)
{
    int64_t give_up = -1;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            svc->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0),
            RD_KAFKA_V_OPAQUE(JN_OPAQUE(kind, b->slot)), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            b->f->pending++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
            (give_up >= 0 && sl_time_mono_ms() > give_up)) {
            jnsvc_error(svc, "producing to %s: %s", topic, rd_kafka_err2str(err));
            if (hdrs) {
                rd_kafka_headers_destroy(hdrs); /* on failure producev does not take them */
            }
            return SL_ECLOSED;
        }
        if (give_up < 0 && atomic_load(&svc->stop)) {
            give_up = sl_time_mono_ms() + svc->cfg->broker_timeout_ms;
        }
        rd_kafka_poll(svc->producer, 10);
        jnsvc_beat(svc);
    }
}

/* ---- one record ---- */

/* A record the joiner or the store cannot take: to the error topic (0), or with on.error=fail
 * a fatal SL_EINVAL. */
static int jn__poison(jnsvc_t *svc, jn_batch_t *b, const rd_kafka_message_t *msg,
                      const char *why)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (svc->cfg->on_error_fail) {
        jnsvc_error(svc, "poison record %s[%" PRId32 "]@%" PRId64 ": %s (on.error=fail)", topic,
                    msg->partition, msg->offset, why);
        return SL_EINVAL;
    }
    jnsvc_error(svc, "poison record %s[%" PRId32 "]@%" PRId64 " to %s: %s", topic,
                msg->partition, msg->offset, svc->cfg->error_topic, why);
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, msg->partition);
    snprintf(off, sizeof off, "%" PRId64, msg->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "sluice.error.reason", -1, why, -1);
    rd_kafka_header_add(h, "sluice.error.topic", -1, topic, -1);
    rd_kafka_header_add(h, "sluice.error.partition", -1, part, -1);
    rd_kafka_header_add(h, "sluice.error.offset", -1, off, -1);
    rd_kafka_timestamp_type_t tstype;
    return jn__produce(svc, b, JN_MSG_ERROR, svc->cfg->error_topic, RD_KAFKA_PARTITION_UA, msg->key,
                       msg->key_len, msg->payload, msg->len,
                       rd_kafka_message_timestamp(msg, &tstype), h);
}

/* Joins one input record of side against the store: emits, updates the state and its
 * changelog. Returns 0 (also for a poison record sent on) or a fatal error. */
static int jn__record(jnsvc_t *svc, jn_batch_t *b, jn_store_t *st, jn_side_t side,
                      const rd_kafka_message_t *msg)
{
    const jncfg_t *cfg = svc->cfg;
    char why[256];
    if (!msg->key || msg->key_len == 0) {
        return jn__poison(svc, b, msg, "record has no key");
    }
    if (msg->key_len > JN_KEY_BYTES_MAX) {
        snprintf(why, sizeof why, "key of %zu bytes over the state store's limit of %d",
                 msg->key_len, JN_KEY_BYTES_MAX);
        return jn__poison(svc, b, msg, why);
    }
    jn_bytes_t own = {msg->payload, msg->payload ? msg->len : 0}, other = {NULL, 0};
    jn_side_t oside = side == JN_LEFT ? JN_RIGHT : JN_LEFT;
    int rc = jn_side_stored(cfg->type, oside)
                 ? jn_store_get(st, oside, msg->key, msg->key_len, &other)
                 : 0;
    if (rc != 0) {
        jnsvc_error(svc, "state store of partition %" PRId32 ": %s", msg->partition,
                    sl_strerror(rc));
        return rc;
    }
    jn_emit_t emit = jn_decide(cfg->type, side, own.p != NULL, other.p != NULL);
    b->out.len = 0;
    if (emit == JN_EMIT_VALUE) {
        jn_bytes_t l = side == JN_LEFT ? own : other, r = side == JN_LEFT ? other : own;
        if (jn_join(&cfg->joiner, l, r, &b->out, why, sizeof why) != 0) {
            return jn__poison(svc, b, msg, why);
        }
    } else if (own.p && jn_check(&cfg->joiner, own, why, sizeof why) != 0) {
        return jn__poison(svc, b, msg, why);
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    if (emit != JN_EMIT_NONE) {
        rc = jn__produce(svc, b, JN_MSG_OUTPUT, cfg->output_topic, RD_KAFKA_PARTITION_UA, msg->key,
                         msg->key_len, emit == JN_EMIT_VALUE ? b->out.data : NULL,
                         emit == JN_EMIT_VALUE ? b->out.len : 0, ts, NULL);
    } else if (!jn_side_stored(cfg->type, side)) {
        atomic_fetch_add(&svc->m.unmatched, 1);
    }
    if (rc == 0 && jn_side_stored(cfg->type, side)) { /* after the join: put moves other.p */
        rc = jn_store_put(st, side, msg->key, msg->key_len, own);
        if (rc != 0) {
            jnsvc_error(svc, "state store of partition %" PRId32 ": %s%s", msg->partition,
                        sl_strerror(rc), rc == SL_ELIMIT ? " (raise state.max.bytes)" : "");
            return rc;
        }
        rc = jn__produce(svc, b, side == JN_LEFT ? JN_MSG_CHANGELOG_LEFT : JN_MSG_CHANGELOG_RIGHT,
                         svc->changelog[side], msg->partition, msg->key, msg->key_len, own.p,
                         own.len, ts, NULL);
        atomic_fetch_add(&svc->m.changelog_writes, rc == 0);
    }
    return rc;
}

/* ---- a batch ---- */

void jnproc_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    jnsvc_t *svc = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        return; /* nothing to commit */
    }
    if (err) {
        atomic_fetch_add(&svc->m.commit_failures, 1);
        SL_LOGW(JN_LOG, "offset commit: %s (a later commit or a replay covers it)",
                rd_kafka_err2str(err));
    } else {
        atomic_fetch_add(&svc->m.commits, 1);
    }
}

/* Marks a retired batch's offsets as committable (svc->committed). */
static void jn__commit_offsets(jnsvc_t *svc, const jn_flight_t *f)
{
    for (int s = 0; s < 2; s++) {
        for (int32_t p = 0; p < svc->partitions; p++) {
            if (f->next[s][p] >= 0) {
                svc->committed[s][p] = f->next[s][p];
                svc->commit_dirty = true;
            }
        }
    }
}

/* Commits the committable positions: asynchronously at most every commit.interval.ms while
 * running (a later commit covers a failed one; fewer commits spare the broker's offsets log),
 * or, with sync, all of them now and then forgets them: before partitions are given up
 * (rebalance, shutdown) no commit may stay in doubt. */
static void jn__commit(jnsvc_t *svc, bool sync)
{
    int64_t now = sl_time_mono_ms();
    if (!sync && (!svc->commit_dirty || now < svc->commit_due_ms)) {
        return;
    }
    const char *topics[2] = {svc->cfg->left_topic, svc->cfg->right_topic};
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int s = 0; s < 2; s++) {
        for (int32_t p = 0; p < svc->partitions; p++) {
            if (svc->committed[s][p] >= 0) {
                rd_kafka_topic_partition_list_add(l, topics[s], p)->offset = svc->committed[s][p];
                svc->committed[s][p] = sync ? -1 : svc->committed[s][p];
            }
        }
    }
    if (l->cnt > 0 && sync) {
        rd_kafka_commit_queue(svc->consumer, l, NULL, jnproc_commit_cb, svc); /* serves the cb */
    } else if (l->cnt > 0) {
        rd_kafka_commit(svc->consumer, l, 1); /* the cb runs from a later consumer poll */
    }
    rd_kafka_topic_partition_list_destroy(l);
    svc->commit_dirty = false;
    svc->commit_due_ms = now + svc->cfg->commit_interval_ms;
}

/* Records the acknowledged changelog ends as the stores' checkpoints. */
static int jn__checkpoint(jnsvc_t *svc, const jn_flight_t *f)
{
    for (int32_t p = 0; p < svc->partitions; p++) {
        jn_store_t *st = svc->stores[p];
        bool any = f->cl_next[JN_LEFT][p] > 0 || f->cl_next[JN_RIGHT][p] > 0;
        if (!st || !any) {
            continue;
        }
        int rc = jn_store_begin(st);
        for (int s = 0; s < 2 && rc == 0; s++) {
            if (f->cl_next[s][p] > 0) {
                rc = jn_store_set_checkpoint(st, (jn_side_t)s, f->cl_next[s][p]);
            }
        }
        rc = rc == 0 ? jn_store_commit(st) : (jn_store_abort(st), rc);
        if (rc != 0) {
            jnsvc_error(svc, "state store of partition %" PRId32 ": checkpoint: %s", p,
                        sl_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Applies the records of one partition (indices order[from..to)) in one transaction. */
static int jn__partition(jnsvc_t *svc, jn_batch_t *b, rd_kafka_message_t **msgs, uint32_t from,
                         uint32_t to)
{
    int32_t p = msgs[b->order[from]]->partition;
    jn_store_t *st = svc->stores[p];
    if (!st) {
        return 0; /* fetched before a rebalance took the partition away: not ours to commit */
    }
    int rc = jn_store_begin(st);
    for (uint32_t i = from; i < to && rc == 0; i++) {
        const rd_kafka_message_t *msg = msgs[b->order[i]];
        const char *topic = rd_kafka_topic_name(msg->rkt);
        jn_side_t side = strcmp(topic, svc->cfg->left_topic) == 0 ? JN_LEFT : JN_RIGHT;
        rc = jn__record(svc, b, st, side, msg);
        if (rc == 0) {
            b->f->next[side][p] = msg->offset + 1;
            atomic_fetch_add(&svc->m.records[side], 1);
        }
    }
    if (rc == 0 || rc == SL_EINVAL || rc == SL_ECLOSED) { /* the store itself is sound */
        int crc = jn_store_commit(st);
        if (crc != 0) {
            jnsvc_error(svc, "state store of partition %" PRId32 ": commit: %s%s", p,
                        sl_strerror(crc), crc == SL_ELIMIT ? " (raise state.max.bytes)" : "");
        }
        rc = rc ? rc : crc;
    } else {
        jn_store_abort(st);
    }
    return rc;
}

/* Orders the usable messages by partition (stable) into b->order. */
static void jn__sort(jnsvc_t *svc, jn_batch_t *b, rd_kafka_message_t **msgs, size_t n)
{
    memset(b->start, 0, sizeof b->start);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->err) {
            if (msgs[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                SL_LOGW(JN_LOG, "consumer: %s", rd_kafka_message_errstr(msgs[i]));
            }
            continue;
        }
        if (msgs[i]->partition >= 0 && msgs[i]->partition < svc->partitions) {
            b->start[msgs[i]->partition + 1]++;
        }
    }
    for (int32_t p = 0; p < svc->partitions; p++) {
        b->start[p + 1] += b->start[p];
    }
    uint32_t fill[JN_PARTITIONS_MAX];
    memcpy(fill, b->start, sizeof fill);
    for (size_t i = 0; i < n; i++) {
        int32_t p = msgs[i]->partition;
        if (!msgs[i]->err && p >= 0 && p < svc->partitions) {
            b->order[fill[p]++] = (uint32_t)i;
        }
    }
}

/* Retires the batches whose writes are all acknowledged, oldest first: commits their offsets
 * and records their checkpoints. With wait, waits for every batch: a broker outage is waited
 * out while /health reports it, but only broker.timeout.ms after a stop request or when
 * bounded. Returns 0 or the error that stops processing (a failed delivery or batch is never
 * committed). */
static int jn__retire(jnsvc_t *svc, bool wait, bool bounded)
{
    int64_t give_up = -1;
    while (svc->nflight > 0) {
        jn_flight_t *f = &svc->flights[svc->flight_head];
        if (f->pending > 0) {
            if (!wait) {
                return 0;
            }
            rd_kafka_poll(svc->producer, 20);
            jnsvc_beat(svc);
            int64_t now = sl_time_mono_ms();
            if (bounded || atomic_load(&svc->stop)) {
                give_up = give_up < 0 ? now + svc->cfg->broker_timeout_ms : give_up;
            }
            if (give_up >= 0 && now > give_up) {
                jnsvc_error(svc, "stopping with %d writes unacknowledged; offsets not committed",
                            f->pending);
                return SL_ECLOSED;
            }
            continue;
        }
        if (f->err) {
            jnsvc_error(svc, "delivery to %s failed: %s", f->err_topic, rd_kafka_err2str(f->err));
            return SL_ECLOSED;
        }
        if (f->failed) {
            return SL_EINVAL; /* the error is recorded already */
        }
        jn__commit_offsets(svc, f);
        int rc = jn__checkpoint(svc, f);
        if (rc != 0) {
            return rc;
        }
        f->used = false;
        svc->flight_head = (svc->flight_head + 1) % JN_FLIGHT_MAX;
        svc->nflight--;
        jn__commit(svc, false);
    }
    return 0;
}

/* A free flight for the next batch, once the ring has room. */
static int jn__flight_new(jnsvc_t *svc, jn_batch_t *b)
{
    while (svc->nflight == JN_FLIGHT_MAX) {
        rd_kafka_poll(svc->producer, 5);
        jnsvc_beat(svc);
        int rc = svc->flights[svc->flight_head].pending == 0 || atomic_load(&svc->stop)
                     ? jn__retire(svc, atomic_load(&svc->stop), false)
                     : 0;
        if (rc != 0) {
            return rc;
        }
    }
    b->slot = (svc->flight_head + svc->nflight) % JN_FLIGHT_MAX;
    b->f = &svc->flights[b->slot];
    SL_ASSERT(!b->f->used);
    memset(b->f, 0, sizeof *b->f);
    memset(b->f->next, 0xff, sizeof b->f->next); /* -1 */
    b->f->used = true;
    svc->nflight++;
    return 0;
}

/* Applies a batch (destroying its messages); its writes are then in flight. */
static int jn__batch(jnsvc_t *svc, jn_batch_t *b, rd_kafka_message_t **msgs, size_t n)
{
    int rc = jn__flight_new(svc, b);
    if (rc == 0) {
        jn__sort(svc, b, msgs, n);
    }
    for (int32_t p = 0; p < svc->partitions && rc == 0; p++) {
        if (b->start[p + 1] > b->start[p]) {
            rc = jn__partition(svc, b, msgs, b->start[p], b->start[p + 1]);
        }
    }
    if (rc != 0 && b->f && b->f->used) {
        b->f->failed = true;
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
    }
    atomic_fetch_add(&svc->m.batches, 1);
    return rc;
}

/* ---- restore ---- */

/* Applies changelog records [from, hi) of partition p to side's table. */
static int jn__replay(jnsvc_t *svc, jn_store_t *st, jn_side_t side, int32_t p, int64_t from,
                      int64_t hi, uint64_t *count)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, svc->changelog[side], p)->offset = from;
    rd_kafka_assign(svc->restorer, l);
    rd_kafka_topic_partition_list_destroy(l);
    int rc = jn_store_begin(st);
    uint32_t in_txn = 0;
    int64_t idle_until = sl_time_mono_ms() + svc->cfg->broker_timeout_ms;
    bool done = false;
    while (!done && rc == 0) {
        jnsvc_beat(svc);
        rd_kafka_poll(svc->producer, 0);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(svc->restorer, JN_POLL_MS);
        if (atomic_load(&svc->stop) || (!msg && sl_time_mono_ms() > idle_until)) {
            jnsvc_error(svc, "restoring %s[%" PRId32 "]: %s", svc->changelog[side], p,
                        msg || atomic_load(&svc->stop) ? "stopped" : "no progress (broker?)");
            rc = SL_ECLOSED;
        } else if (msg && msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done = msg->offset >= hi;
        } else if (msg && msg->err) {
            jnsvc_error(svc, "restoring %s[%" PRId32 "]: %s", svc->changelog[side], p,
                        rd_kafka_message_errstr(msg));
            rc = SL_ECLOSED;
        } else if (msg) {
            idle_until = sl_time_mono_ms() + svc->cfg->broker_timeout_ms;
            if (msg->key_len > 0 && msg->key_len <= JN_KEY_BYTES_MAX) {
                jn_bytes_t v = {msg->payload, msg->payload ? msg->len : 0};
                rc = jn_store_put(st, side, msg->key, msg->key_len, v);
            }
            (*count)++;
            done = msg->offset >= hi - 1;
            if (rc == 0 && !done && ++in_txn == JN_RESTORE_TXN_RECORDS) {
                rc = jn_store_commit(st);
                rc = rc ? rc : jn_store_begin(st);
                in_txn = 0;
            }
        }
        if (msg) {
            rd_kafka_message_destroy(msg);
        }
    }
    rc = rc == 0 ? jn_store_commit(st) : (jn_store_abort(st), rc);
    rd_kafka_assign(svc->restorer, NULL);
    return rc;
}

/* Brings side's table of partition p up to its changelog's end: from the checkpoint when it is
 * within the log, else from the start after wiping. */
static int jn__restore(jnsvc_t *svc, int32_t p, jn_side_t side)
{
    jn_store_t *st = svc->stores[p];
    const char *topic = svc->changelog[side];
    int64_t t0 = sl_time_mono_us(), lo = 0, hi = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        svc->restorer, topic, p, &lo, &hi, (int)svc->cfg->broker_timeout_ms);
    if (err) {
        jnsvc_error(svc, "restoring %s[%" PRId32 "]: %s", topic, p, rd_kafka_err2str(err));
        return SL_ECLOSED;
    }
    int rc = jn_store_begin(st);
    int64_t from = rc == 0 ? jn_store_checkpoint(st, side) : -1;
    if (rc == 0 && (from < lo || from > hi)) {
        rc = jn_store_wipe(st, side);
        from = lo;
    }
    rc = rc == 0 ? jn_store_commit(st) : (jn_store_abort(st), rc);
    uint64_t n = 0;
    if (rc == 0 && from < hi) {
        rc = jn__replay(svc, st, side, p, from, hi, &n);
    }
    if (rc == 0) {
        rc = jn_store_begin(st);
        rc = rc ? rc : jn_store_set_checkpoint(st, side, hi);
        rc = rc == 0 ? jn_store_commit(st) : (jn_store_abort(st), rc);
    }
    int64_t us = sl_time_mono_us() - t0;
    atomic_fetch_add(&svc->m.restored, n);
    atomic_fetch_add(&svc->m.restore_us, (uint64_t)us);
    if (rc == 0) {
        SL_LOGI(JN_LOG, "restored %s[%" PRId32 "]: %llu records from offset %lld to %lld in %.3f s",
                topic, p, (unsigned long long)n, (long long)from, (long long)hi, (double)us / 1e6);
    } else if (rc != SL_ECLOSED) {
        jnsvc_error(svc, "restoring %s[%" PRId32 "]: state store: %s", topic, p, sl_strerror(rc));
    }
    return rc;
}

static int jn__take_partition(jnsvc_t *svc, int32_t p)
{
    if (!svc->stores[p]) {
        char dir[JNCFG_STR_BYTES_MAX + JN_TOPIC_BUF + 16], err[512];
        snprintf(dir, sizeof dir, "%s/%s/%" PRId32, svc->cfg->state_dir, svc->cfg->app_id, p);
        int rc = jn_store_open(dir, (size_t)svc->cfg->state_max_bytes, &svc->stores[p], err,
                               sizeof err);
        if (rc != 0) {
            jnsvc_error(svc, "%s", err);
            return rc;
        }
    }
    for (int s = 0; s < 2; s++) {
        if (svc->changelog[s][0]) {
            int rc = jn__restore(svc, p, (jn_side_t)s);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Eager rebalancing: a revoke drops the assignment (every batch is already committed, since
 * the callback runs between batches); an assignment closes the stores of partitions gone,
 * restores the ones gained or regained, then starts fetching. */
void jnproc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jnsvc_t *svc = opaque;
    jnsvc_set_state(svc, JN_REBALANCING);
    int rc = jn__retire(svc, true, false); /* commit what is done while the partitions are ours */
    jn__commit(svc, true);
    if (rc != 0 && !svc->fatal && !atomic_load(&svc->stop)) {
        svc->fatal = rc;
    }
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, NULL);
        atomic_store(&svc->m.assigned, 0);
        return;
    }
    bool want[JN_PARTITIONS_MAX] = {false};
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p >= 0 && p < svc->partitions) {
            want[p] = true;
        }
    }
    int64_t n = 0;
    for (int32_t p = 0; p < svc->partitions; p++) {
        if (!want[p] && svc->stores[p]) {
            jn_store_close(svc->stores[p]);
            svc->stores[p] = NULL;
        }
        n += want[p];
    }
    for (int32_t p = 0; p < svc->partitions && rc == 0; p++) {
        rc = want[p] ? jn__take_partition(svc, p) : 0;
    }
    if (rc != 0) {
        if (!atomic_load(&svc->stop)) {
            svc->fatal = rc;
        }
        rd_kafka_assign(rk, NULL);
        return;
    }
    rd_kafka_assign(rk, parts);
    atomic_store(&svc->m.assigned, n);
    jnsvc_set_state(svc, JN_RUNNING);
}

/* ---- the loop ---- */

/* Input bytes of a taken record: what batch.max.bytes counts. */
static size_t jn__msg_bytes(const rd_kafka_message_t *msg)
{
    return msg->key_len + msg->len;
}

/* Takes the next batch into msgs (room for batch.max.records): waits for a first record, then
 * takes what the consumer queue holds in chunks until the batch is cut (jnbatch.h) or the
 * queue is empty. Returns the number taken. */
static size_t jn__take(jnsvc_t *svc, rd_kafka_queue_t *q, rd_kafka_message_t **msgs)
{
    jn_cut_t cut;
    jn_cut_init(&cut, (size_t)svc->cfg->batch_max, (uint64_t)svc->cfg->batch_max_bytes);
    msgs[0] = rd_kafka_consumer_poll(svc->consumer, svc->nflight > 0 ? 1 : JN_POLL_MS);
    if (!msgs[0]) {
        return 0;
    }
    jn_cut_add(&cut, jn__msg_bytes(msgs[0]));
    for (size_t want = jn_cut_next(&cut); want > 0; want = jn_cut_next(&cut)) {
        size_t at = cut.records;
        ssize_t got = rd_kafka_consume_batch_queue(q, 0, msgs + at, want);
        for (ssize_t i = 0; i < got; i++) {
            jn_cut_add(&cut, jn__msg_bytes(msgs[at + (size_t)i]));
        }
        if (got < (ssize_t)want) {
            break; /* the queue is empty: a short batch now beats waiting for more */
        }
    }
    uint_fast64_t seen = atomic_load(&svc->m.batch_bytes_max);
    while (cut.bytes > seen &&
           !atomic_compare_exchange_weak(&svc->m.batch_bytes_max, &seen, cut.bytes)) {
    }
    return cut.records;
}

void *jnproc_main(void *arg)
{
    jnsvc_t *svc = arg;
    size_t max = (size_t)svc->cfg->batch_max;
    jn_batch_t *b = sl_xcalloc(1, sizeof *b);
    b->order = sl_xcalloc(max, sizeof *b->order);
    rd_kafka_message_t **msgs = sl_xcalloc(max, sizeof *msgs);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(svc->consumer);
    int rc = 0;
    while (rc == 0 && !atomic_load(&svc->stop)) {
        jnsvc_beat(svc);
        rd_kafka_poll(svc->producer, svc->nflight > 0 ? 1 : 0);
        rc = jn__retire(svc, false, false);
        jn__commit(svc, false); /* a retired batch's commit that was not due yet */
        size_t n = rc == 0 ? jn__take(svc, q, msgs) : 0;
        rc = rc ? rc : svc->fatal;
        if (n > 0) {
            int brc = jn__batch(svc, b, msgs, n);
            rc = rc ? rc : brc;
        }
    }
    bool failed = rc != 0 && !atomic_load(&svc->stop);
    if (failed) {
        jnsvc_set_state(svc, JN_PENDING_ERROR);
    }
    jn__retire(svc, true, true); /* batches before a failed one are still committed */
    jn__commit(svc, true);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(svc->consumer); /* leaves the group: the partitions move at once */
    for (int32_t p = 0; p < svc->partitions; p++) {
        jn_store_close(svc->stores[p]);
        svc->stores[p] = NULL;
    }
    atomic_store(&svc->thread_alive, false);
    if (failed) {
        jnsvc_set_state(svc, JN_ERROR);
    }
    free(msgs);
    free(b->order);
    sl_buf_deinit(&b->out);
    free(b);
    return NULL;
}
