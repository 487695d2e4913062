/* DeleteRecords (v0-2): moves partitions' log start offsets, as Kafka's
 * ReplicaManager.deleteRecords does on a leader (here, the only replica). The checks run on
 * the loop; the new starts are made durable off it, on the creation worker (create.c's queue:
 * slog_part_start_save, one fsync per partition), and once saved the logs start there and drop
 * the whole segments below (slog_part_set_start) before the answer. Fetch and ListOffsets read
 * the start from the log. */
#include "brk_authz.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "brk_workq.h"
#include "kerr.h"
#include "sl_log.h"

#include <stdlib.h>
#include <string.h>

/* Kafka's DeleteRecordsRequest.HIGH_WATERMARK: delete everything readable. */
#define BRK_DELETE_RECORDS_TO_HW -1

typedef kmsg_delete_records_resp_delete_records_partition_result_t brk_delrec_result_t;

/* One partition whose start moves: saved by the worker, applied on the loop. */
typedef struct {
    brk_delrec_result_t *pr; /* its result, in the request's arena */
    kproto_uuid_t topic_id;  /* the topic may be deleted (and made again) meanwhile */
    int32_t partition;
    int64_t offset;
    char *dir; /* the partition's directory, for the worker */
    int rc;    /* the save's: SL_ECLOSED until the worker ran it */
} brk_delrec_item_t;

typedef struct {
    brk_work_t work; /* first: the worker's pointer is the job's */
    brk_req_t *req;
    kmsg_delete_records_resp_t resp;
    brk_delrec_item_t *items;
    int32_t n, cap;
} brk_delrec_t;

/* One partition, checked in Kafka's order (unknown partition, a cleanup.policy without
 * delete, an offset below 0 or past the high watermark). Returns an error, or KERR_NONE with
 * *to the new start (answered at once when it does not move the start). */
static kerr_t brk__delrec_check(brk_req_t *req, brk_topic_t *topic, int32_t index,
                                int64_t offset, int64_t *to)
{
    if (index < 0 || index >= topic->npart || !topic->parts[index]) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    brk_part_t *part = topic->parts[index];
    if (!topic->log.cleanup_delete) {
        return KERR_POLICY_VIOLATION; /* records of a compact-only topic are never deleted */
    }
    int64_t hw = brk_part_hw(req->brk, part);
    *to = offset == BRK_DELETE_RECORDS_TO_HW ? hw : offset;
    return *to < 0 || *to > hw ? KERR_OFFSET_OUT_OF_RANGE : KERR_NONE;
}

static void brk__delrec_add(brk_delrec_t *job, brk_delrec_result_t *pr, brk_topic_t *topic,
                            int64_t to)
{
    if (job->n == job->cap) {
        job->cap = job->cap ? job->cap * 2 : 8;
        job->items = sl_xrealloc(job->items, (size_t)job->cap * sizeof *job->items);
    }
    brk_delrec_item_t *it = &job->items[job->n++];
    *it = (brk_delrec_item_t){pr, topic->id, pr->partition_index, to,
                              sl_xstrdup(slog_part_dir(topic->parts[pr->partition_index]->log)),
                              SL_ECLOSED};
}

static void brk__delrec_topic(brk_delrec_t *job,
                              const kmsg_delete_records_req_delete_records_topic_t *rt,
                              kmsg_delete_records_resp_delete_records_topic_result_t *tr)
{
    brk_req_t *req = job->req;
    kmsg_delete_records_resp_delete_records_topic_result_init(tr);
    tr->name = rt->name;
    tr->partitions_count = SL_MAX(rt->partitions_count, 0);
    tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
    kerr_t denied = brk_authz_req_topic(req, rt->name);
    brk_topic_t *topic = denied == KERR_NONE ? brk_topic_find(req->brk, rt->name) : NULL;
    for (int32_t p = 0; p < tr->partitions_count; p++) {
        brk_delrec_result_t *pr = &tr->partitions[p];
        kmsg_delete_records_resp_delete_records_partition_result_init(pr);
        pr->partition_index = rt->partitions[p].partition_index;
        pr->low_watermark = -1;
        int64_t to = -1;
        kerr_t e = denied != KERR_NONE ? denied
                   : !topic            ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                       : brk__delrec_check(req, topic, pr->partition_index,
                                                           rt->partitions[p].offset, &to);
        pr->error_code = (int16_t)e;
        if (e != KERR_NONE) {
            continue;
        }
        slog_part_t *log = topic->parts[pr->partition_index]->log;
        if (to <= slog_part_start_offset(log)) {
            pr->low_watermark = slog_part_start_offset(log); /* nothing to move */
        } else {
            brk__delrec_add(job, pr, topic, to);
        }
    }
}

/* Thread: the worker. Saves in request order: a partition named twice keeps the larger. */
static void brk__delrec_run(brk_work_t *work)
{
    brk_delrec_t *job = (brk_delrec_t *)work;
    for (int32_t i = 0; i < job->n; i++) {
        job->items[i].rc = slog_part_start_save(job->items[i].dir, job->items[i].offset);
    }
}

/* Thread: loop. Each saved start is applied to its partition if that is still there. */
static void brk__delrec_done(brk_work_t *work)
{
    brk_delrec_t *job = (brk_delrec_t *)work;
    brk_t *brk = job->req->brk;
    for (int32_t i = 0; i < job->n; i++) {
        brk_delrec_item_t *it = &job->items[i];
        brk_topic_t *topic = brk_topic_find_id(brk, it->topic_id);
        brk_part_t *part = topic && it->partition < topic->npart ? topic->parts[it->partition]
                                                                  : NULL;
        int rc = it->rc;
        if (rc == 0 && part) {
            rc = slog_part_set_start(part->log, it->offset);
        }
        if (rc != 0) {
            SL_LOGW("records", "%s: DeleteRecords to %lld in %s: %s", job->req->peer,
                    (long long)it->offset, it->dir, sl_strerror(rc));
        }
        it->pr->error_code = (int16_t)(!part         ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                       : rc == SL_ECLOSED ? KERR_REQUEST_TIMED_OUT
                                       : rc != 0          ? KERR_KAFKA_STORAGE_ERROR
                                                          : KERR_NONE);
        it->pr->low_watermark = rc == 0 && part ? slog_part_start_offset(part->log) : -1;
        free(it->dir);
    }
    brk_respond(job->req, &job->resp);
    free(job->items);
    free(job);
}

void brk_handle_delete_records(brk_req_t *req)
{
    kmsg_delete_records_req_t *body = req->body;
    brk_delrec_t *job = sl_xcalloc(1, sizeof *job);
    job->req = req;
    job->work.run = brk__delrec_run;
    job->work.done = brk__delrec_done;
    kmsg_delete_records_resp_init(&job->resp);
    job->resp.topics_count = SL_MAX(body->topics_count, 0);
    job->resp.topics = brk_alloc(req, job->resp.topics_count, sizeof *job->resp.topics);
    for (int32_t t = 0; t < job->resp.topics_count; t++) {
        brk__delrec_topic(job, &body->topics[t], &job->resp.topics[t]);
    }
    /* Nothing to save, or the worker's queue is full (each item: REQUEST_TIMED_OUT, retriable). */
    if (job->n == 0 || !brk_workq_submit(req->brk->create_workq, &job->work)) {
        brk__delrec_done(&job->work);
    }
}
