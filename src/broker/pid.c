/* InitProducerId (v0-4) for idempotent producers, as Kafka's TransactionCoordinator answers
 * a null transactional id: a fresh producer id with epoch 0, whatever id/epoch a v3+ request
 * names (Kafka bumps epochs only for transactional ids). Ids are never reused, across restarts
 * and kill -9: like Kafka's ProducerIdManager the broker reserves a block of
 * BRK_PRODUCER_ID_BLOCK ids by writing the block's end to <data dir>/producer-ids (atomic,
 * durable) before handing out any id of it; a crash skips the rest of the block.
 * A transactional id goes to the transaction coordinator (txn.c).
 * DescribeProducers (v0) lists each partition's producer state (slog_pstate.h). */
#include "brk_authz.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "brk_txn.h"
#include "kerr.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "slog_pstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK_PID_FILE "producer-ids"

/* The end of the last block reserved (0 when no file: none was). */
static int brk__pid_read(brk_t *brk, int64_t *end)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/" BRK_PID_FILE, brk->conf.data_dir);
    char *text = NULL;
    size_t len = 0;
    int rc = sl_fs_read_all(path, BRK_PRODUCER_ID_FILE_BYTES_MAX, &text, &len);
    if (rc == -ENOENT) {
        *end = 0;
        return 0;
    }
    if (rc == 0) {
        if (len > 0 && text[len - 1] == '\n') {
            text[len - 1] = '\0';
        }
        rc = sl_parse_i64(text, 0, INT64_MAX - BRK_PRODUCER_ID_BLOCK, end) ? 0 : SL_ECORRUPT;
    }
    free(text);
    return rc;
}

/* Reserves the next block on disk: ids from pid_next up to the new end. */
static int brk__pid_reserve(brk_t *brk)
{
    if (brk->pid_block_end == 0) {
        int rc = brk__pid_read(brk, &brk->pid_next);
        if (rc != 0) {
            return rc;
        }
    }
    if (brk->pid_next > INT64_MAX - 2 * BRK_PRODUCER_ID_BLOCK) {
        return SL_ELIMIT;
    }
    int64_t end = brk->pid_next + BRK_PRODUCER_ID_BLOCK;
    char path[BRK_PATH_BUF], text[32];
    snprintf(path, sizeof path, "%s/" BRK_PID_FILE, brk->conf.data_dir);
    int len = snprintf(text, sizeof text, "%" PRId64 "\n", end);
    int rc = sl_fs_write_atomic(path, text, (size_t)len);
    if (rc == 0) {
        brk->pid_block_end = end;
    }
    return rc;
}

/* A new producer id, or a negative error (the id file cannot be read or written). */
int64_t brk_pid_next(brk_t *brk)
{
    if (brk->pid_block_end == 0 || brk->pid_next >= brk->pid_block_end) {
        int rc = brk__pid_reserve(brk);
        if (rc != 0) {
            return rc;
        }
    }
    return brk->pid_next++;
}

void brk_handle_init_producer_id(brk_req_t *req)
{
    kmsg_init_producer_id_req_t *body = req->body;
    kmsg_init_producer_id_resp_t resp;
    kmsg_init_producer_id_resp_init(&resp);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    if (body->transactional_id.len >= 0) {
        brk_txn_init_producer_id(req); /* the transaction coordinator (txn.c) */
        return;
    }
    kerr_t denied = brk_authz_idempotent_write(req);
    if (denied != KERR_NONE) {
        resp.error_code = denied;
        brk_respond(req, &resp);
        return;
    }
    int64_t pid = brk_pid_next(req->brk);
    if (pid < 0) {
        SL_LOGE("txn", "cannot reserve producer ids in %s/" BRK_PID_FILE ": %s",
                req->brk->conf.data_dir, sl_strerror((int)pid));
        resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE; /* retriable: the client asks again */
    } else {
        resp.producer_id = pid;
        resp.producer_epoch = 0;
    }
    brk_respond(req, &resp);
}

/* One partition of a DescribeProducers answer. */
static void brk__describe_part(brk_req_t *req, kproto_str_t name, brk_topic_t *topic,
                               int32_t index, kmsg_describe_producers_resp_partition_response_t *pr)
{
    kmsg_describe_producers_resp_partition_response_init(pr);
    pr->partition_index = index;
    kerr_t denied = brk_authz_req_topic(req, name);
    if (denied != KERR_NONE) {
        pr->error_code = denied; /* the same whether the topic exists or not */
        return;
    }
    if (!topic || index < 0 || index >= topic->npart) {
        pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    const slog_pstate_t *ps = slog_part_producers(topic->parts[index]->log);
    int32_t n = slog_pstate_count(ps);
    pr->active_producers_count = n;
    pr->active_producers = brk_alloc(req, n, sizeof *pr->active_producers);
    for (int32_t i = 0; i < n; i++) {
        kmsg_describe_producers_resp_producer_state_t *st = &pr->active_producers[i];
        slog_producer_t prod;
        slog_pstate_at(ps, i, &prod);
        kmsg_describe_producers_resp_producer_state_init(st);
        st->producer_id = prod.producer_id;
        st->producer_epoch = prod.epoch;
        st->last_sequence = prod.last_seq;
        st->last_timestamp = prod.last_timestamp;
        int64_t first = slog_part_txn_first(topic->parts[index]->log, prod.producer_id);
        st->coordinator_epoch = first >= 0 ? 0 : -1; /* one coordinator, epoch 0 */
        st->current_txn_start_offset = first;
    }
}

void brk_handle_describe_producers(brk_req_t *req)
{
    kmsg_describe_producers_req_t *body = req->body;
    kmsg_describe_producers_resp_t resp;
    kmsg_describe_producers_resp_init(&resp);
    resp.topics_count = SL_MAX(body->topics_count, 0);
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    for (int32_t t = 0; t < resp.topics_count; t++) {
        kmsg_describe_producers_req_topic_request_t *tq = &body->topics[t];
        kmsg_describe_producers_resp_topic_response_t *tr = &resp.topics[t];
        kmsg_describe_producers_resp_topic_response_init(tr);
        tr->name = tq->name;
        brk_topic_t *topic = brk_topic_find(req->brk, tq->name);
        tr->partitions_count = SL_MAX(tq->partition_indexes_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            brk__describe_part(req, tq->name, topic, tq->partition_indexes[p],
                               &tr->partitions[p]);
        }
    }
    brk_respond(req, &resp);
}
