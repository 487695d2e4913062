/* Fetch (v4-13): reads whole batches from each partition's log up to the high watermark and
 * answers with file ranges (sendfile); no fetch sessions (session id 0). Long-poll: when fewer
 * than min_bytes are available the request waits, up to max_wait_ms, and is re-examined each
 * time a high watermark moves. Limits: max_bytes over the response and partition_max_bytes
 * per partition, except that the first batch of the first non-empty partition is returned
 * whole however large (Kafka's rule, so a consumer can never be stuck on a large batch). */
#include "brk_acl.h"
#include "brk_internal.h"
#include "sl_log.h"
#include "slog_txn.h"

#include <stdlib.h>
#include <string.h>

typedef struct brk_fetch {
    struct brk_fetch *next, *prev;
    brk_req_t *req;
    snet_timer_t *timer;
} brk_fetch_t;

typedef struct {
    int64_t bytes;
    bool error;
} brk_fetch_sum_t;

/* The topic, or NULL with *err: unknown, or not READ-able by the principal (the same answer
 * for an existing and a missing name, so names do not leak). */
static brk_topic_t *brk__fetch_topic(brk_req_t *req, const kmsg_fetch_req_fetch_topic_t *ft,
                                     kerr_t *err)
{
    brk_topic_t *topic;
    if (req->api_version >= 13) {
        topic = brk_topic_find_id(req->brk, ft->topic_id);
        *err = KERR_UNKNOWN_TOPIC_ID;
    } else {
        topic = brk_topic_find(req->brk, ft->topic);
        *err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    kproto_str_t name = topic ? kproto_str(topic->name) : ft->topic;
    if ((topic || req->api_version < 13) &&
        brk_authz_req_topic(req, name) != KERR_NONE) {
        *err = KERR_TOPIC_AUTHORIZATION_FAILED;
        return NULL;
    }
    return topic;
}

/* read_committed: the aborted transactions that overlap what is served, from the fetch
 * offset up to the last stable offset (a superset of the range returned: clients use only the
 * entries for the batches they see). */
static void brk__fetch_aborted(brk_req_t *req, brk_part_t *part, int64_t from,
                               kmsg_fetch_resp_partition_data_t *pd)
{
    int64_t lso = pd->last_stable_offset;
    int32_t n = SL_MIN(slog_part_aborted(part->log, from, lso, NULL, 0), BRK_FETCH_ABORTED_MAX);
    slog_aborted_t *ab = brk_alloc(req, n, sizeof *ab);
    n = SL_MIN(slog_part_aborted(part->log, from, lso, ab, n), n);
    pd->aborted_transactions = brk_alloc(req, n, sizeof *pd->aborted_transactions);
    pd->aborted_transactions_count = n;
    for (int32_t i = 0; i < n; i++) {
        kmsg_fetch_resp_aborted_transaction_init(&pd->aborted_transactions[i]);
        pd->aborted_transactions[i].producer_id = ab[i].producer_id;
        pd->aborted_transactions[i].first_offset = ab[i].first_offset;
    }
}

/* Reads one partition. With pd == NULL only sums what would be sent. */
static void brk__fetch_part(brk_req_t *req, brk_topic_t *topic, kerr_t topic_err,
                            const kmsg_fetch_req_fetch_partition_t *fp, int64_t limit,
                            brk_fetch_sum_t *sum, kmsg_fetch_resp_partition_data_t *pd)
{
    kmsg_fetch_req_t *body = req->body;
    int16_t err = KERR_NONE;
    slog_read_t rd = {0};
    brk_part_t *part = NULL;
    if (!topic) {
        err = (int16_t)topic_err;
    } else if (fp->partition < 0 || fp->partition >= topic->npart) {
        err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
        part = topic->parts[fp->partition];
        int64_t hw = brk_part_hw(req->brk, part);
        if (body->isolation_level == 1) { /* read_committed: only below the last stable offset */
            hw = slog_part_lso(part->log, hw);
        }
        int64_t max = SL_MIN((int64_t)fp->partition_max_bytes, limit);
        int rc = slog_part_read(part->log, fp->fetch_offset, hw, max < 0 ? 0 : max,
                                sum->bytes == 0, &rd);
        if (rc != 0) {
            err = (int16_t)brk_kerr_from_log(rc);
        }
    }
    if (err != KERR_NONE) {
        sum->error = true;
    }
    sum->bytes += rd.len;
    if (!pd) {
        if (rd.file) {
            slog_file_unref(rd.file);
        }
        return;
    }
    pd->partition_index = fp->partition;
    pd->error_code = err;
    pd->aborted_transactions_count = body->isolation_level == 1 ? 0 : -1;
    pd->records.len = 0;
    if (part) {
        pd->high_watermark = brk_part_hw(req->brk, part);
        pd->last_stable_offset = slog_part_lso(part->log, pd->high_watermark);
        pd->log_start_offset = slog_part_start_offset(part->log);
    }
    if (part && rd.len > 0 && body->isolation_level == 1) {
        brk__fetch_aborted(req, part, fp->fetch_offset, pd);
    }
    if (rd.len > 0) {
        pd->records.ext = rd.file; /* the response's chunk releases the reference */
        pd->records.ext_pos = rd.pos;
        pd->records.len = (int32_t)rd.len;
    }
}

/* Examines (pd NULL) or builds (resp non-NULL) the answer to a fetch. */
static brk_fetch_sum_t brk__fetch_eval(brk_req_t *req, kmsg_fetch_resp_t *resp)
{
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_sum_t sum = {0, false};
    int64_t max_bytes = body->max_bytes <= 0 ? BRK_FETCH_BYTES_MAX
                                             : SL_MIN((int64_t)body->max_bytes, BRK_FETCH_BYTES_MAX);
    int32_t ntopics = body->topics_count < 0 ? 0 : body->topics_count;
    if (resp) {
        resp->responses_count = ntopics;
        resp->responses = brk_alloc(req, ntopics, sizeof *resp->responses);
    }
    for (int32_t t = 0; t < ntopics; t++) {
        kmsg_fetch_req_fetch_topic_t *ft = &body->topics[t];
        kerr_t topic_err;
        brk_topic_t *topic = brk__fetch_topic(req, ft, &topic_err);
        int32_t nparts = ft->partitions_count < 0 ? 0 : ft->partitions_count;
        kmsg_fetch_resp_fetchable_topic_response_t *tr = NULL;
        if (resp) {
            tr = &resp->responses[t];
            kmsg_fetch_resp_fetchable_topic_response_init(tr);
            tr->topic = ft->topic;
            tr->topic_id = ft->topic_id;
            tr->partitions_count = nparts;
            tr->partitions = brk_alloc(req, nparts, sizeof *tr->partitions);
        }
        for (int32_t p = 0; p < nparts; p++) {
            kmsg_fetch_resp_partition_data_t *pd = NULL;
            if (tr) {
                pd = &tr->partitions[p];
                kmsg_fetch_resp_partition_data_init(pd);
            }
            brk__fetch_part(req, topic, topic_err, &ft->partitions[p], max_bytes - sum.bytes, &sum,
                            pd);
        }
    }
    return sum;
}

static void brk__fetch_answer(brk_req_t *req)
{
    kmsg_fetch_resp_t resp;
    kmsg_fetch_resp_init(&resp);
    resp.session_id = 0;
    brk__fetch_eval(req, &resp);
    brk_respond(req, &resp);
}

static void brk__fetch_unlink(brk_t *brk, brk_fetch_t *f)
{
    if (f->prev) {
        f->prev->next = f->next;
    } else {
        brk->fetch_waiters = f->next;
    }
    if (f->next) {
        f->next->prev = f->prev;
    }
}

static void brk__fetch_timeout(void *ctx)
{
    brk_fetch_t *f = ctx;
    brk_req_t *req = f->req;
    brk__fetch_unlink(req->brk, f);
    free(f);
    brk__fetch_answer(req);
}

void brk_handle_fetch(brk_req_t *req)
{
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_sum_t sum = brk__fetch_eval(req, NULL);
    int64_t wait = SL_MIN((int64_t)body->max_wait_ms, BRK_FETCH_WAIT_MS_MAX);
    if (sum.error || sum.bytes >= body->min_bytes || wait <= 0 || req->brk->stopping) {
        brk__fetch_answer(req);
        return;
    }
    brk_t *brk = req->brk;
    brk_fetch_t *f = sl_xcalloc(1, sizeof *f);
    f->req = req;
    f->next = brk->fetch_waiters;
    if (f->next) {
        f->next->prev = f;
    }
    brk->fetch_waiters = f;
    f->timer = snet_timer_start(brk->loop, wait, brk__fetch_timeout, f);
}

/* Answering a fetch can dispatch the connection's next request (a produce that wakes fetches
 * again), so a nested call only asks the running pass to go round once more. */
void brk_fetch_wake(brk_t *brk, brk_part_t *part)
{
    SL_UNUSED(part);
    if (brk->fetch_waking) {
        brk->fetch_wake_again = true;
        return;
    }
    brk->fetch_waking = true;
    do {
        brk->fetch_wake_again = false;
        brk_fetch_t *f = brk->fetch_waiters;
        while (f) {
            brk_req_t *req = f->req;
            kmsg_fetch_req_t *body = req->body;
            bool ready = snet_slot_closed(req->slot);
            if (!ready) {
                brk_fetch_sum_t sum = brk__fetch_eval(req, NULL);
                ready = sum.error || sum.bytes >= body->min_bytes;
            }
            if (!ready) {
                f = f->next;
                continue;
            }
            snet_timer_cancel(brk->loop, f->timer);
            brk__fetch_unlink(brk, f);
            free(f);
            brk__fetch_answer(req);
            /* The list may have changed under the answer: start over from its head. */
            f = brk->fetch_waiters;
        }
    } while (brk->fetch_wake_again);
    brk->fetch_waking = false;
}

void brk_fetch_flush_all(brk_t *brk)
{
    while (brk->fetch_waiters) {
        brk_fetch_t *f = brk->fetch_waiters;
        snet_timer_cancel(brk->loop, f->timer);
        brk__fetch_unlink(brk, f);
        brk_req_t *req = f->req;
        free(f);
        brk__fetch_answer(req);
    }
}
