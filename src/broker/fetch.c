/* Fetch (v4-13): reads whole batches from each partition's log up to the high watermark and
 * answers with file ranges (sendfile); no fetch sessions (session id 0). Long-poll: when fewer
 * than min_bytes are available the request waits, up to max_wait_ms, watching each partition
 * it names; an append wakes only the fetches that watch that partition. Limits: max_bytes over
 * the response and partition_max_bytes per partition, except that the first batch of the first
 * non-empty partition is returned whole however large (Kafka's rule, so a consumer can never be
 * stuck on a large batch).
 * A partition named twice is fetched once, as Kafka's FetchRequest map keyed by topic-partition
 * does: at the place of its first mention, with the parameters of its last. */
#include "brk_auth.h"
#include "brk_authz.h"
#include "brk_fetch.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "kerr.h"
#include "sl_hset.h"
#include "sl_log.h"
#include "slog_txn.h"

#include <stdlib.h>
#include <string.h>

SL_STATIC_ASSERT(BRK_FETCH_RANGES_MAX <= KPROTO_SPLICES_MAX, "a response's ranges fit the writer");
SL_STATIC_ASSERT(BRK_FETCH_PARTITIONS_MAX <= BRK_FETCH_RANGES_MAX, "every partition may have data");

/* One distinct partition of a request: indexes into body->topics[t].partitions[p]. */
typedef struct {
    int32_t t, p;
} brk_fetch_ent_t;

typedef struct {
    brk_fetch_ent_t *ents; /* distinct partitions, in the order of their first mention */
    int32_t n;
    bool too_many; /* more than BRK_FETCH_PARTITIONS_MAX: every partition gets INVALID_REQUEST */
} brk_fetch_plan_t;

/* A parked fetch's interest in one partition (node first: the partition's watch list links
 * it). */
typedef struct brk_fwatch {
    brk_part_watch_t node;
    struct brk_fetch *f;
    const kmsg_fetch_req_fetch_partition_t *fp;
    int64_t bytes; /* readable bytes when last looked at */
} brk_fwatch_t;

typedef struct brk_fetch {
    struct brk_fetch *next, *prev; /* brk->fetch_waiters, or the ready queue */
    brk_req_t *req;
    brk_fetch_plan_t *plan;
    snet_timer_t *timer;
    brk_fwatch_t *watches;
    int32_t nwatches;
    int64_t bytes; /* sum of the watches' bytes */
} brk_fetch_t;

typedef struct {
    int64_t bytes;
    int32_t ranges; /* partitions answered with records (file ranges) */
    bool error;
} brk_fetch_sum_t;

/* The distinct partitions of the request, in one pass over it (a hash set of names or ids
 * and partition numbers). */
static brk_fetch_plan_t *brk__fetch_plan(brk_req_t *req)
{
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_plan_t *plan = brk_alloc(req, 1, sizeof *plan);
    int64_t total = 0;
    for (int32_t t = 0; t < body->topics_count; t++) {
        total += SL_MAX(body->topics[t].partitions_count, 0);
    }
    plan->ents = brk_alloc(req, (int32_t)SL_MIN(total, (int64_t)INT32_MAX), sizeof *plan->ents);
    sl_hset_t *set = sl_hset_new((size_t)SL_MIN(total, (int64_t)BRK_FETCH_PARTITIONS_MAX + 1));
    bool by_id = req->api_version >= 13;
    for (int32_t t = 0; t < body->topics_count; t++) {
        kmsg_fetch_req_fetch_topic_t *ft = &body->topics[t];
        const void *key = by_id ? (const void *)ft->topic_id.b : (const void *)ft->topic.ptr;
        size_t len = by_id ? 16 : (size_t)SL_MAX(ft->topic.len, 0);
        for (int32_t p = 0; p < ft->partitions_count; p++) {
            int64_t first;
            if (sl_hset_put(set, key, len, ft->partitions[p].partition, plan->n, &first)) {
                plan->ents[plan->n++] = (brk_fetch_ent_t){t, p};
                continue;
            }
            brk_fetch_ent_t *e = &plan->ents[first];
            body->topics[e->t].partitions[e->p] = ft->partitions[p];
        }
    }
    sl_hset_free(set);
    plan->too_many = plan->n > BRK_FETCH_PARTITIONS_MAX;
    return plan;
}

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

/* Reads what the fetch may have of part: 0 or a log error. */
static int brk__fetch_read(brk_req_t *req, brk_part_t *part,
                           const kmsg_fetch_req_fetch_partition_t *fp, int64_t max, bool min_one,
                           slog_read_t *rd)
{
    kmsg_fetch_req_t *body = req->body;
    int64_t hw = brk_part_hw(req->brk, part);
    if (body->isolation_level == 1) { /* read_committed: only below the last stable offset */
        hw = slog_part_lso(part->log, hw);
    }
    return slog_part_read(part->log, fp->fetch_offset, hw, max < 0 ? 0 : max, min_one, rd);
}

/* The leader epoch checks of one partition (v9+ current_leader_epoch; v12+ last_fetched_epoch,
 * Kafka's divergence check: the log has no records of the consumer's last epoch up to its fetch
 * offset, so it is told the epoch and end offset it diverged at and gets no records). */
static kerr_t brk__fetch_epoch(brk_part_t *part, const kmsg_fetch_req_fetch_partition_t *fp,
                               kmsg_fetch_resp_epoch_end_offset_t *diverged)
{
    diverged->epoch = -1;
    diverged->end_offset = -1;
    kerr_t err = brk_part_check_epoch(fp->current_leader_epoch);
    if (err != KERR_NONE || fp->last_fetched_epoch < 0) {
        return err;
    }
    int32_t epoch;
    int64_t end;
    brk_part_epoch_end(part, fp->last_fetched_epoch, &epoch, &end);
    if (end < 0) {
        return KERR_OFFSET_OUT_OF_RANGE; /* Kafka: no end offset for the last fetched epoch */
    }
    if (end < fp->fetch_offset || epoch < fp->last_fetched_epoch) {
        diverged->epoch = epoch;
        diverged->end_offset = end;
    }
    return KERR_NONE;
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
    kmsg_fetch_resp_epoch_end_offset_t diverged = {-1, -1};
    if (!topic) {
        err = (int16_t)topic_err;
    } else if (fp->partition < 0 || fp->partition >= topic->npart) {
        err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else if ((err = (int16_t)brk__fetch_epoch(topic->parts[fp->partition], fp, &diverged)) !=
               KERR_NONE) {
        /* as Kafka: the error alone, watermarks -1 */
    } else if (diverged.end_offset >= 0) {
        part = topic->parts[fp->partition]; /* its watermarks and no records, answered now */
        sum->error = true;
    } else {
        part = topic->parts[fp->partition];
        /* Past BRK_FETCH_RANGES_MAX partitions with records, or half the segment fd cache
         * (each range holds its file open until sent), the rest get none, as past
         * max_bytes: the consumer asks again. */
        int64_t ranges_max = SL_MIN((int64_t)BRK_FETCH_RANGES_MAX,
                                    SL_MAX(slog_fd_cache_max() / 2, (int64_t)1));
        int64_t max = sum->ranges >= ranges_max ? 0
                                                : SL_MIN((int64_t)fp->partition_max_bytes, limit);
        int rc = brk__fetch_read(req, part, fp, max, sum->bytes == 0 && max > 0, &rd);
        if (rc != 0) {
            err = (int16_t)brk_kerr_from_log(rc);
        }
    }
    if (err != KERR_NONE) {
        sum->error = true;
    }
    sum->bytes += rd.len;
    sum->ranges += rd.len > 0;
    if (!pd) {
        if (rd.file) {
            slog_file_unref(rd.file);
        }
        return;
    }
    pd->partition_index = fp->partition;
    pd->error_code = err;
    pd->diverging_epoch = diverged;
    if (err == KERR_FENCED_LEADER_EPOCH || err == KERR_UNKNOWN_LEADER_EPOCH) {
        pd->current_leader.leader_id = req->brk->conf.node_id; /* Kafka's hint (v12+) */
        pd->current_leader.leader_epoch = BRK_LEADER_EPOCH;
    }
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
        part->mon_bytes_out += (uint64_t)rd.len;
        pd->records.ext = rd.file; /* the response's chunk releases the reference */
        pd->records.ext_pos = rd.pos;
        pd->records.len = (int32_t)rd.len;
    } else if (rd.file) {
        slog_file_unref(rd.file);
    }
}

/* Response topic entries: one per run of plan entries from the same request topic. */
static int32_t brk__fetch_runs(const brk_fetch_plan_t *plan)
{
    int32_t runs = 0;
    for (int32_t i = 0; i < plan->n; i++) {
        runs += i == 0 || plan->ents[i].t != plan->ents[i - 1].t;
    }
    return runs;
}

/* Examines (resp NULL) or builds (resp non-NULL) the answer to a fetch. */
static brk_fetch_sum_t brk__fetch_eval(brk_req_t *req, const brk_fetch_plan_t *plan,
                                       kmsg_fetch_resp_t *resp)
{
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_sum_t sum = {0, 0, plan->too_many};
    int64_t max_bytes = body->max_bytes <= 0 ? BRK_FETCH_BYTES_MAX
                                             : SL_MIN((int64_t)body->max_bytes, BRK_FETCH_BYTES_MAX);
    if (resp) {
        resp->responses_count = brk__fetch_runs(plan);
        resp->responses = brk_alloc(req, resp->responses_count, sizeof *resp->responses);
        resp->error_code = plan->too_many ? KERR_INVALID_REQUEST : KERR_NONE;
    }
    kmsg_fetch_resp_fetchable_topic_response_t *tr = NULL;
    brk_topic_t *topic = NULL;
    kerr_t topic_err = KERR_NONE;
    for (int32_t i = 0, r = -1; i < plan->n; i++) {
        const brk_fetch_ent_t *e = &plan->ents[i];
        kmsg_fetch_req_fetch_topic_t *ft = &body->topics[e->t];
        if (i == 0 || e->t != plan->ents[i - 1].t) { /* a new run: the topic once */
            topic = plan->too_many ? NULL : brk__fetch_topic(req, ft, &topic_err);
            topic_err = plan->too_many ? KERR_INVALID_REQUEST : topic_err;
            if (resp) {
                int32_t n = 1;
                while (i + n < plan->n && plan->ents[i + n].t == e->t) {
                    n++;
                }
                tr = &resp->responses[++r];
                kmsg_fetch_resp_fetchable_topic_response_init(tr);
                tr->topic = ft->topic;
                tr->topic_id = ft->topic_id;
                tr->partitions = brk_alloc(req, n, sizeof *tr->partitions);
            }
        }
        kmsg_fetch_resp_partition_data_t *pd = NULL;
        if (tr) {
            pd = &tr->partitions[tr->partitions_count++];
            kmsg_fetch_resp_partition_data_init(pd);
        }
        brk__fetch_part(req, topic, topic_err, &ft->partitions[e->p], max_bytes - sum.bytes, &sum,
                        pd);
    }
    return sum;
}

static void brk__fetch_answer(brk_req_t *req, const brk_fetch_plan_t *plan)
{
    kmsg_fetch_resp_t resp;
    kmsg_fetch_resp_init(&resp);
    resp.session_id = 0;
    brk__fetch_eval(req, plan, &resp);
    brk_respond(req, &resp);
}

/* ---- long-poll: parked fetches, watched partitions, the ready queue ---- */

static void brk__fetch_list_unlink(brk_fetch_t **head, brk_fetch_t *f)
{
    if (f->prev) {
        f->prev->next = f->next;
    } else {
        *head = f->next;
    }
    if (f->next) {
        f->next->prev = f->prev;
    }
    f->next = f->prev = NULL;
}

/* Readable bytes of one watched partition now, or -1 when it has an error to report. */
static int64_t brk__fwatch_bytes(brk_fwatch_t *w)
{
    const kmsg_fetch_req_fetch_partition_t *fp = w->fp;
    slog_read_t rd = {0};
    int rc = brk__fetch_read(w->f->req, w->node.part, fp, fp->partition_max_bytes, true, &rd);
    if (rd.file) {
        slog_file_unref(rd.file);
    }
    return rc != 0 ? -1 : rd.len;
}

/* Takes f out of the parked list and every watch list, and queues it to be answered. */
static void brk__fetch_make_ready(brk_t *brk, brk_fetch_t *f)
{
    brk__fetch_list_unlink(&brk->fetch_waiters, f);
    for (int32_t i = 0; i < f->nwatches; i++) {
        brk_part_unwatch(&f->watches[i].node);
    }
    snet_timer_cancel(brk->loop, f->timer);
    f->timer = NULL;
    snet_conn_t *conn = snet_slot_conn(f->req->slot);
    if (conn) {
        (*brk_conn_fetches_parked(conn))--;
    }
    f->next = NULL;
    f->prev = brk->fetch_ready_tail;
    if (brk->fetch_ready_tail) {
        brk->fetch_ready_tail->next = f;
    } else {
        brk->fetch_ready = f;
    }
    brk->fetch_ready_tail = f;
}

/* Answers the queued fetches. Answering one can dispatch its connection's next request (a
 * produce that wakes more fetches): those are queued and answered by the running loop. */
static void brk__fetch_drain(brk_t *brk)
{
    if (brk->fetch_waking) {
        return;
    }
    brk->fetch_waking = true;
    while (brk->fetch_ready) {
        brk_fetch_t *f = brk->fetch_ready;
        brk->fetch_ready = f->next;
        if (!brk->fetch_ready) {
            brk->fetch_ready_tail = NULL;
        }
        brk_req_t *req = f->req;
        brk_fetch_plan_t *plan = f->plan;
        free(f->watches);
        free(f);
        brk__fetch_answer(req, plan);
    }
    brk->fetch_waking = false;
}

static void brk__fetch_timeout(void *ctx)
{
    brk_fetch_t *f = ctx;
    brk_t *brk = f->req->brk;
    f->timer = NULL; /* fired: nothing to cancel */
    brk__fetch_make_ready(brk, f);
    brk__fetch_drain(brk);
}

/* Parks req: a watch on each distinct partition it may read, and a timer. */
static void brk__fetch_park(brk_req_t *req, brk_fetch_plan_t *plan, int64_t wait)
{
    brk_t *brk = req->brk;
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_t *f = sl_xcalloc(1, sizeof *f);
    f->req = req;
    f->plan = plan;
    f->watches = sl_xcalloc((size_t)SL_MAX(plan->n, 1), sizeof *f->watches);
    brk_topic_t *topic = NULL;
    for (int32_t i = 0; i < plan->n; i++) {
        const brk_fetch_ent_t *e = &plan->ents[i];
        kmsg_fetch_req_fetch_topic_t *ft = &body->topics[e->t];
        const kmsg_fetch_req_fetch_partition_t *fp = &ft->partitions[e->p];
        if (i == 0 || e->t != plan->ents[i - 1].t) {
            kerr_t err;
            topic = brk__fetch_topic(req, ft, &err);
        }
        if (!topic || fp->partition < 0 || fp->partition >= topic->npart) {
            continue; /* not parked with errors: cannot happen, but watch nothing there */
        }
        brk_fwatch_t *w = &f->watches[f->nwatches++];
        w->f = f;
        w->node.part = topic->parts[fp->partition];
        w->fp = fp;
        w->bytes = SL_MAX(brk__fwatch_bytes(w), (int64_t)0);
        f->bytes += w->bytes;
        brk_part_watch(&w->node);
    }
    f->next = brk->fetch_waiters;
    if (f->next) {
        f->next->prev = f;
    }
    brk->fetch_waiters = f;
    (*brk_conn_fetches_parked(snet_slot_conn(req->slot)))++;
    f->timer = snet_timer_start(brk->loop, wait, brk__fetch_timeout, f);
}

void brk_handle_fetch(brk_req_t *req)
{
    kmsg_fetch_req_t *body = req->body;
    brk_fetch_plan_t *plan = brk__fetch_plan(req);
    brk_fetch_sum_t sum = brk__fetch_eval(req, plan, NULL);
    int64_t wait = SL_MIN((int64_t)body->max_wait_ms, BRK_FETCH_WAIT_MS_MAX);
    snet_conn_t *conn = snet_slot_conn(req->slot);
    /* Past BRK_CONN_FETCHES_PARKED_MAX parked fetches on its connection a fetch is answered
     * at once with what there is (a Kafka consumer keeps one fetch per connection). */
    if (sum.error || sum.bytes >= body->min_bytes || wait <= 0 || req->brk->stopping || !conn ||
        *brk_conn_fetches_parked(conn) >= BRK_CONN_FETCHES_PARKED_MAX) {
        brk__fetch_answer(req, plan);
        return;
    }
    brk__fetch_park(req, plan, wait);
}

/* Re-examines the fetches parked on part after its high watermark moved. */
static void brk__fetch_wake(brk_t *brk, brk_part_t *part)
{
    brk_part_watch_t *next;
    for (brk_part_watch_t *n = part->watches; n; n = next) {
        next = n->next; /* n's fetch watches part once: making it ready unlinks only n here */
        brk_fwatch_t *w = (brk_fwatch_t *)n;
        brk_fetch_t *f = w->f;
        kmsg_fetch_req_t *body = f->req->body;
        int64_t bytes = brk__fwatch_bytes(w);
        if (bytes >= 0) {
            f->bytes += bytes - w->bytes;
            w->bytes = bytes;
        }
        if (bytes < 0 || f->bytes >= body->min_bytes || snet_slot_closed(f->req->slot)) {
            brk__fetch_make_ready(brk, f);
        }
    }
}

static void brk__fetch_on_part(brk_t *brk, brk_part_t *part, brk_part_event_t ev)
{
    if (ev == BRK_PART_HW_MOVED) {
        brk__fetch_wake(brk, part);
    } else {
        while (part->watches) {
            brk__fetch_make_ready(brk, ((brk_fwatch_t *)part->watches)->f);
        }
    }
    brk__fetch_drain(brk);
}

void brk_fetch_start(brk_t *brk)
{
    brk_part_subscribe(brk, brk__fetch_on_part);
}

void brk_fetch_flush_all(brk_t *brk)
{
    while (brk->fetch_waiters) {
        brk__fetch_make_ready(brk, brk->fetch_waiters);
    }
    brk__fetch_drain(brk);
}
