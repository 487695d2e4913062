/* Produce (v3-9): appends each partition's batches to its log, then answers. Under flush
 * policy always the answer waits until every appended partition's records are durable (group
 * commit, flush.c); acks=0 gets no answer at all, as in Kafka. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_conf.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_storage.h"
#include "brk_topics.h"
#include "brk_txn.h"
#include "kerr.h"
#include "sl_log.h"
#include "sl_time.h"
#include "slog_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    brk_wait_t wait; /* first: a brk_wait_t* is a brk_pwait_t* */
    struct brk_produce *prod;
    kmsg_produce_resp_partition_produce_response_t *presp;
} brk_pwait_t;

typedef struct brk_produce {
    brk_req_t *req;
    kmsg_produce_resp_t resp;
    int pending;
    bool acks0;
} brk_produce_t;

/* Transactional batches go only into their producer's ongoing transaction, to a partition it
 * added (AddPartitionsToTxn); a fenced epoch gets INVALID_PRODUCER_EPOCH (txn.c). */
static kerr_t brk__produce_txn_check(brk_t *brk, kproto_str_t topic, int32_t partition,
                                     const uint8_t *p, int32_t len)
{
    for (int32_t pos = 0; len - pos >= SLOG_BATCH_HEADER_BYTES;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p + pos, &hdr);
        if ((hdr.attributes & SLOG_BATCH_TRANSACTIONAL) && hdr.producer_id >= 0 &&
            !(hdr.attributes & SLOG_BATCH_CONTROL)) {
            kerr_t e = brk_txn_check_produce(brk, hdr.producer_id, hdr.producer_epoch, topic,
                                             partition);
            if (e != KERR_NONE) {
                return e;
            }
        }
        if (hdr.batch_length <= 0 || slog_batch_total(&hdr) > len - pos) {
            break; /* the append's validation answers CORRUPT_MESSAGE */
        }
        pos += (int32_t)slog_batch_total(&hdr);
    }
    return KERR_NONE;
}

/* Whether any batch of records is transactional (a data batch or a marker). */
static bool brk__records_transactional(const uint8_t *p, int32_t len)
{
    for (int32_t pos = 0; len - pos >= SLOG_BATCH_HEADER_BYTES;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p + pos, &hdr);
        if (hdr.attributes & SLOG_BATCH_TRANSACTIONAL) {
            return true;
        }
        if (hdr.batch_length <= 0 || slog_batch_total(&hdr) > len - pos) {
            break;
        }
        pos += (int32_t)slog_batch_total(&hdr);
    }
    return false;
}

/* Kafka's KafkaApis.handleProduceRequest: a request carrying transactional records needs a
 * transactional id with WRITE on it, else every partition gets
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED. */
static kerr_t brk__produce_txn_authz(brk_req_t *req, const kmsg_produce_req_t *body)
{
    bool txnal = false;
    for (int32_t t = 0; !txnal && t < body->topic_data_count; t++) {
        const kmsg_produce_req_topic_produce_data_t *td = &body->topic_data[t];
        for (int32_t p = 0; !txnal && p < td->partition_data_count; p++) {
            const kproto_records_t *rec = &td->partition_data[p].records;
            txnal = rec->len > 0 && brk__records_transactional(rec->ptr, rec->len);
        }
    }
    if (!txnal) {
        return KERR_NONE;
    }
    if (body->transactional_id.len > 0 &&
        brk_authz(req, BRK_ACL_OP_WRITE, BRK_ACL_RES_TRANSACTIONAL_ID, body->transactional_id)) {
        return KERR_NONE;
    }
    static sl_log_rate_t rl;
    sl_esc_t esc;
    sl_log_rl(&rl, SL_LOG_WARN, "produce", "%s: transactional produce with transactional id "
              "'%s' denied (WRITE on TRANSACTIONAL_ID)", req->peer,
              sl_esc(&esc, body->transactional_id.ptr, body->transactional_id.len));
    return KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

static void brk__produce_finish(brk_produce_t *prod)
{
    if (prod->acks0) {
        brk_respond_none(prod->req);
    } else {
        brk_respond(prod->req, &prod->resp);
    }
    free(prod);
}

static void brk__produce_durable(brk_wait_t *w, int err)
{
    brk_pwait_t *pw = (brk_pwait_t *)w;
    brk_produce_t *prod = pw->prod;
    if (err != 0) {
        pw->presp->error_code = err == SL_ENOTFOUND ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                                    : KERR_KAFKA_STORAGE_ERROR;
        pw->presp->base_offset = -1;
    }
    SL_ASSERT(prod->pending > 0);
    if (--prod->pending == 0) {
        brk__produce_finish(prod);
    }
}

/* A compacted topic refuses records without a key, as Kafka's LogValidator does:
 * INVALID_RECORD with the batch index (Produce v8+), CORRUPT_MESSAGE before v8 (whose
 * clients do not know INVALID_RECORD). Returns whether the records may be appended. */
static bool brk__produce_keyed(brk_req_t *req, const brk_part_t *part,
                               const kmsg_produce_req_partition_produce_data_t *pd,
                               kmsg_produce_resp_partition_produce_response_t *presp)
{
    sl_buf_t scratch;
    sl_buf_init(&scratch);
    int32_t record = 0;
    int index = slog_batch_keyless((const uint8_t *)pd->records.ptr, (size_t)pd->records.len,
                                   &scratch, &record);
    sl_buf_deinit(&scratch);
    if (index == -1) {
        return true;
    }
    if (index == SL_ECORRUPT) {
        presp->error_code = KERR_CORRUPT_MESSAGE;
        presp->error_message = kproto_str("record batch cannot be read");
        return false;
    }
    char *msg = brk_alloc(req, 1, 400);
    snprintf(msg, 400, "Compacted topic cannot accept message without key in topic partition "
             "%s-%d.", part->topic->name, (int)part->index);
    presp->error_code = req->api_version >= 8 ? KERR_INVALID_RECORD : KERR_CORRUPT_MESSAGE;
    presp->error_message = kproto_str(msg);
    if (req->api_version >= 8) {
        presp->record_errors = brk_alloc(req, 1, sizeof *presp->record_errors);
        presp->record_errors_count = 1;
        presp->record_errors[0].batch_index = record; /* the record's index in its batch */
        presp->record_errors[0].batch_index_error_message = kproto_str(msg);
    }
    SL_LOGW("produce", "%s: %s-%d: %s (a record without a key on a compacted topic)", req->peer,
            part->topic->name, (int)part->index, kerr_name(presp->error_code));
    return false;
}

/* Appends one partition's records; fills presp; returns the waiter to register, if any. */
static brk_pwait_t *brk__produce_part(brk_produce_t *prod, kproto_str_t topic,
                                      kmsg_produce_req_partition_produce_data_t *pd,
                                      kmsg_produce_resp_partition_produce_response_t *presp)
{
    brk_req_t *req = prod->req;
    brk_t *brk = req->brk;
    presp->index = pd->index;
    presp->base_offset = -1;
    brk_part_t *part = brk_part_find(brk, topic, pd->index);
    if (!part) {
        presp->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    if (pd->records.len <= 0) {
        presp->error_code = KERR_CORRUPT_MESSAGE;
        presp->error_message = kproto_str("empty or null record set");
        return NULL;
    }
    if (part->topic->log.cleanup_compact && !brk__produce_keyed(req, part, pd, presp)) {
        return NULL;
    }
    kerr_t txerr = brk__produce_txn_check(brk, topic, pd->index, (const uint8_t *)pd->records.ptr,
                                          pd->records.len);
    if (txerr != KERR_NONE) {
        presp->error_code = (int16_t)txerr;
        SL_LOGW("produce", "%s: %.*s-%d: %s (transaction check)", req->peer, topic.len, topic.ptr,
                (int)pd->index, kerr_name(presp->error_code));
        return NULL;
    }
    if (brk_disk_low(brk)) {
        presp->error_code = KERR_KAFKA_STORAGE_ERROR; /* retriable: clients retry later */
        presp->error_message = kproto_str("free space on the broker's data dir is under "
                                          "log.disk.reserve.bytes");
        return NULL;
    }
    slog_append_t info;
    /* The records point into the request frame, which we own and may rewrite in place. */
    int rc = slog_part_append(part->log, (uint8_t *)pd->records.ptr, (size_t)pd->records.len,
                              sl_time_wall_ms(), &info);
    presp->log_start_offset = slog_part_start_offset(part->log);
    if (rc != 0) {
        presp->error_code = (int16_t)brk_kerr_from_log(rc);
        SL_LOGW("produce", "%s: %.*s-%d: %s (%s)", req->peer, topic.len, topic.ptr,
                (int)pd->index, kerr_name(presp->error_code),
                rc == SLOG_EPRODUCER_EPOCH || rc == SLOG_ESEQUENCE ? "idempotent producer check"
                                                                   : sl_strerror(rc));
        return NULL;
    }
    brk_disk_appended(brk, pd->records.len);
    part->mon_bytes_in += (uint64_t)pd->records.len;
    if (!info.duplicate) {
        part->mon_records_in += (uint64_t)(info.last_offset - info.base_offset + 1);
    }
    presp->base_offset = info.base_offset;
    presp->log_append_time_ms = info.append_time_ms;
    int64_t target = info.last_offset + 1;
    if (info.duplicate) {
        /* A retry is answered with the original's offsets, and under flush policy always only
         * once the original is durable. Waiters queue in target order: wait for the end. */
        if (brk->conf.flush_policy != BRK_FLUSH_ALWAYS ||
            target <= slog_part_durable_offset(part->log)) {
            return NULL;
        }
        target = slog_part_end_offset(part->log);
    } else {
        brk_part_hw_moved(brk, part);
    }
    if (brk->conf.flush_policy != BRK_FLUSH_ALWAYS) {
        return NULL;
    }
    brk_pwait_t *pw = brk_alloc(req, 1, sizeof *pw);
    pw->wait.target = target;
    pw->wait.done = brk__produce_durable;
    pw->prod = prod;
    pw->presp = presp;
    brk_part_wait(brk, part, &pw->wait);
    return pw;
}

void brk_handle_produce(brk_req_t *req)
{
    kmsg_produce_req_t *body = req->body;
    brk_produce_t *prod = sl_xcalloc(1, sizeof *prod);
    prod->req = req;
    prod->acks0 = body->acks == 0;
    kmsg_produce_resp_init(&prod->resp);
    kmsg_produce_resp_t *resp = &prod->resp;
    resp->responses_count = body->topic_data_count < 0 ? 0 : body->topic_data_count;
    resp->responses = brk_alloc(req, resp->responses_count, sizeof *resp->responses);
    bool bad_acks = body->acks != 0 && body->acks != 1 && body->acks != -1;
    kerr_t txn_denied = bad_acks ? KERR_NONE : brk__produce_txn_authz(req, body);
    /* One pending count for the setup itself, so completions during it cannot finish early. */
    prod->pending = 1;
    for (int32_t t = 0; t < resp->responses_count; t++) {
        kmsg_produce_req_topic_produce_data_t *td = &body->topic_data[t];
        kmsg_produce_resp_topic_produce_response_t *tr = &resp->responses[t];
        kmsg_produce_resp_topic_produce_response_init(tr);
        tr->name = td->name;
        tr->partition_responses_count = td->partition_data_count < 0 ? 0 : td->partition_data_count;
        tr->partition_responses = brk_alloc(req, tr->partition_responses_count,
                                            sizeof *tr->partition_responses);
        kerr_t denied = txn_denied != KERR_NONE ? txn_denied : brk_authz_req_topic(req, td->name);
        for (int32_t p = 0; p < tr->partition_responses_count; p++) {
            kmsg_produce_resp_partition_produce_response_t *pr = &tr->partition_responses[p];
            kmsg_produce_resp_partition_produce_response_init(pr);
            if (bad_acks || denied != KERR_NONE) {
                pr->index = td->partition_data[p].index;
                pr->base_offset = -1;
                pr->error_code = bad_acks ? KERR_INVALID_REQUIRED_ACKS : denied;
                continue;
            }
            if (brk__produce_part(prod, td->name, &td->partition_data[p], pr)) {
                prod->pending++;
            }
        }
    }
    if (--prod->pending == 0) {
        brk__produce_finish(prod);
    }
}
