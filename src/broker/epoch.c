/* Leader epochs and OffsetForLeaderEpoch (v0-4), as Kafka's leader answers a consumer's offset
 * validation (KIP-320) and a Fetch's or ListOffsets' current_leader_epoch. This node is the
 * only replica of every partition from its creation, so every partition has one epoch,
 * BRK_LEADER_EPOCH, stamped into every stored batch (slog.h); it is as durable as the log and
 * the same after any restart or kill -9. docs/broker.md "Leader epochs" gives the reasoning. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "kerr.h"

/* Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH: the client does not know the epoch. */
#define BRK_EPOCH_UNSET (-1)

typedef kmsg_offset_for_leader_epoch_resp_epoch_end_offset_t brk_epoch_end_t;

kerr_t brk_part_check_epoch(int32_t current_leader_epoch)
{
    if (current_leader_epoch == BRK_EPOCH_UNSET || current_leader_epoch == BRK_LEADER_EPOCH) {
        return KERR_NONE;
    }
    return current_leader_epoch < BRK_LEADER_EPOCH ? KERR_FENCED_LEADER_EPOCH
                                                   : KERR_UNKNOWN_LEADER_EPOCH;
}

void brk_part_epoch_end(const brk_part_t *part, int32_t epoch, int32_t *end_epoch,
                        int64_t *end_offset)
{
    if (epoch == BRK_LEADER_EPOCH) {
        *end_epoch = BRK_LEADER_EPOCH;
        *end_offset = slog_part_end_offset(part->log);
    } else if (epoch < BRK_EPOCH_UNSET) {
        /* below the first epoch: it ends where ours starts (Kafka's floorEntry == null) */
        *end_epoch = epoch;
        *end_offset = slog_part_start_offset(part->log);
    } else {
        /* unset, or above ours: never led here (Kafka's higherEntry == null) */
        *end_epoch = -1;
        *end_offset = -1;
    }
}

typedef kmsg_offset_for_leader_epoch_req_offset_for_leader_partition_t brk_epoch_req_t;

static void brk__epoch_part(brk_topic_t *topic, kerr_t denied, const brk_epoch_req_t *rp,
                            brk_epoch_end_t *pr)
{
    kmsg_offset_for_leader_epoch_resp_epoch_end_offset_init(pr);
    pr->partition = rp->partition;
    pr->leader_epoch = -1;
    pr->end_offset = -1;
    kerr_t err = denied;
    if (err == KERR_NONE && (!topic || rp->partition < 0 || rp->partition >= topic->npart ||
                             !topic->parts[rp->partition])) {
        err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (err == KERR_NONE) {
        err = brk_part_check_epoch(rp->current_leader_epoch);
    }
    if (err == KERR_NONE && slog_part_failed(topic->parts[rp->partition]->log)) {
        err = KERR_KAFKA_STORAGE_ERROR;
    }
    pr->error_code = (int16_t)err;
    if (err == KERR_NONE) {
        brk_part_epoch_end(topic->parts[rp->partition], rp->leader_epoch, &pr->leader_epoch,
                           &pr->end_offset);
    }
}

/* Consumers send replica_id -2 (v3+; none before): a follower's request (any other id) needs
 * CLUSTER_ACTION on the cluster, as in Kafka, and is answered per partition like a consumer's. */
void brk_handle_offset_for_leader_epoch(brk_req_t *req)
{
    kmsg_offset_for_leader_epoch_req_t *body = req->body;
    kmsg_offset_for_leader_epoch_resp_t resp;
    kmsg_offset_for_leader_epoch_resp_init(&resp);
    bool follower = req->api_version >= 3 && body->replica_id >= 0;
    kerr_t cluster = follower ? brk_authz_cluster(req, BRK_ACL_OP_CLUSTER_ACTION) : KERR_NONE;
    resp.topics_count = SL_MAX(body->topics_count, 0);
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    for (int32_t t = 0; t < resp.topics_count; t++) {
        const kmsg_offset_for_leader_epoch_req_offset_for_leader_topic_t *rt = &body->topics[t];
        kmsg_offset_for_leader_epoch_resp_offset_for_leader_topic_result_t *tr = &resp.topics[t];
        kmsg_offset_for_leader_epoch_resp_offset_for_leader_topic_result_init(tr);
        tr->topic = rt->topic;
        tr->partitions_count = SL_MAX(rt->partitions_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        kerr_t denied = cluster != KERR_NONE ? cluster : brk_authz_req_topic(req, rt->topic);
        brk_topic_t *topic = denied == KERR_NONE ? brk_topic_find(req->brk, rt->topic) : NULL;
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            brk__epoch_part(topic, denied, &rt->partitions[p], &tr->partitions[p]);
        }
    }
    brk_respond(req, &resp);
}
