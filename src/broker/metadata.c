/* Metadata (v0-12) and ListOffsets (v1-7). This node leads every partition with itself as the
 * only replica; topics are auto-created on Metadata when the broker and the client allow it. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_create.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "kerr.h"
#include "sl_log.h"

#include <string.h>

static void brk__md_topic(brk_req_t *req, brk_topic_t *topic,
                          kmsg_metadata_resp_metadata_response_topic_t *tr)
{
    kmsg_metadata_req_t *body = req->body;
    brk_t *brk = req->brk;
    tr->name = kproto_str(topic->name);
    tr->topic_id = topic->id;
    tr->topic_authorized_operations =
        body->include_topic_authorized_operations
            ? brk_authz_ops(req, BRK_ACL_RES_TOPIC, kproto_str(topic->name))
            : INT32_MIN;
    tr->partitions_count = topic->npart;
    tr->partitions = brk_alloc(req, topic->npart, sizeof *tr->partitions);
    int32_t *node = brk_alloc(req, 1, sizeof *node);
    *node = brk->conf.node_id;
    for (int32_t p = 0; p < topic->npart; p++) {
        kmsg_metadata_resp_metadata_response_partition_t *pr = &tr->partitions[p];
        kmsg_metadata_resp_metadata_response_partition_init(pr);
        pr->partition_index = p;
        pr->leader_id = brk->conf.node_id;
        pr->leader_epoch = 0;
        pr->replica_nodes = node;
        pr->replica_nodes_count = 1;
        pr->isr_nodes = node;
        pr->isr_nodes_count = 1;
        pr->offline_replicas_count = 0;
        if (slog_part_failed(topic->parts[p]->log)) {
            pr->error_code = KERR_KAFKA_STORAGE_ERROR;
        }
    }
}

/* One requested topic: found, or an error; an unknown one is auto-created when the broker and
 * the client allow it: it joins the request's creation batch *auto_c (made on first use) and
 * is answered LEADER_NOT_AVAILABLE, as Kafka does while it creates a topic; the client asks
 * again. So is a topic being created, and one past the creation bounds (it is created when
 * asked for again). */
static void brk__md_requested(brk_req_t *req, const kmsg_metadata_req_metadata_request_topic_t *rt,
                              kmsg_metadata_resp_metadata_response_topic_t *tr,
                              brk_create_t **auto_c)
{
    kmsg_metadata_req_t *body = req->body;
    brk_t *brk = req->brk;
    brk_topic_t *topic = rt->name.len >= 0 ? brk_topic_find(brk, rt->name)
                                           : brk_topic_find_id(brk, rt->topic_id);
    tr->name = rt->name;
    tr->topic_id = rt->topic_id;
    tr->topic_authorized_operations = INT32_MIN;
    /* Unauthorized and unknown look the same: TOPIC_AUTHORIZATION_FAILED either way. */
    kproto_str_t name = topic ? kproto_str(topic->name) : rt->name;
    if ((topic || rt->name.len >= 0) &&
        brk_authz_req_topic(req, name) != KERR_NONE) {
        tr->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    if (topic) {
        brk__md_topic(req, topic, tr);
        return;
    }
    if (rt->name.len < 0) {
        tr->error_code = KERR_UNKNOWN_TOPIC_ID;
        return;
    }
    const char *why;
    if (!brk_topic_name_valid(rt->name, &why)) {
        tr->error_code = KERR_INVALID_TOPIC_EXCEPTION;
        return;
    }
    bool allow = req->api_version < 4 || body->allow_auto_topic_creation;
    if (!brk->conf.auto_create_topics || !allow) {
        tr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (brk_authz_cluster(req, BRK_ACL_OP_CREATE) != KERR_NONE &&
        brk_authz_topic(req, BRK_ACL_OP_CREATE, rt->name) != KERR_NONE) {
        tr->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    if (!*auto_c) {
        *auto_c = brk_create_new(brk, NULL, NULL);
    }
    const char *msg = NULL;
    int32_t npart = -1;
    kerr_t e = brk_create_check_topic(brk, rt->name, &npart, NULL, &msg);
    if (e == KERR_TOPIC_ALREADY_EXISTS) { /* being created */
        tr->error_code = KERR_LEADER_NOT_AVAILABLE;
        return;
    }
    if (e == KERR_NONE) {
        e = brk_create_admit(*auto_c, npart, &msg);
        if (e == KERR_POLICY_VIOLATION || e == KERR_THROTTLING_QUOTA_EXCEEDED) {
            tr->error_code = KERR_LEADER_NOT_AVAILABLE; /* created when asked for again */
            return;
        }
    }
    if (e != KERR_NONE) {
        tr->error_code = (int16_t)e;
        return;
    }
    brk_create_topic(*auto_c, rt->name, npart, NULL);
    tr->error_code = KERR_LEADER_NOT_AVAILABLE;
}

/* A requested topic: its name, or its id when the name is null (v10+). */
static brk_key_t brk__md_key(const void *entries, int32_t i)
{
    const kmsg_metadata_req_metadata_request_topic_t *rt =
        &((const kmsg_metadata_req_metadata_request_topic_t *)entries)[i];
    return rt->name.len >= 0 ? brk_key_str(rt->name, 0) : (brk_key_t){rt->topic_id.b, 16, 1};
}

void brk_handle_metadata(brk_req_t *req)
{
    kmsg_metadata_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_metadata_resp_t resp;
    kmsg_metadata_resp_init(&resp);
    kmsg_metadata_resp_metadata_response_broker_t *b = brk_alloc(req, 1, sizeof *b);
    kmsg_metadata_resp_metadata_response_broker_init(b);
    b->node_id = brk->conf.node_id;
    b->host = kproto_str(req->adv_host); /* the listener the client came through */
    b->port = req->adv_port;
    b->rack = (kproto_str_t){NULL, -1};
    resp.brokers = b;
    resp.brokers_count = 1;
    resp.cluster_id = kproto_str(brk->cluster_id);
    resp.controller_id = brk->conf.node_id;
    resp.cluster_authorized_operations =
        body->include_cluster_authorized_operations
            ? brk_authz_ops(req, BRK_ACL_RES_CLUSTER, kproto_str(BRK_ACL_CLUSTER_NAME))
            : INT32_MIN;
    bool all = body->topics_count < 0 || (req->api_version == 0 && body->topics_count == 0);
    if (all) {
        /* All topics: only those the principal may describe, silently (Kafka's way). */
        resp.topics = brk_alloc(req, brk->ntopics, sizeof *resp.topics);
        int32_t i = 0;
        for (brk_topic_t *t = brk->topics; t; t = t->next) {
            if (brk_authz_req_topic(req, kproto_str(t->name)) != KERR_NONE) {
                continue;
            }
            kmsg_metadata_resp_metadata_response_topic_init(&resp.topics[i]);
            brk__md_topic(req, t, &resp.topics[i++]);
        }
        resp.topics_count = i;
    } else {
        /* One answer per distinct topic, as Kafka (a set of names): the answer's size follows
         * the distinct topics, not the request's repetitions. */
        int32_t *first = brk_dups(req, body->topics, body->topics_count, brk__md_key, NULL);
        resp.topics = brk_alloc(req, body->topics_count, sizeof *resp.topics);
        int32_t n = 0;
        brk_create_t *auto_c = NULL;
        for (int32_t i = 0; i < body->topics_count; i++) {
            if (first[i] != i) {
                continue;
            }
            kmsg_metadata_resp_metadata_response_topic_init(&resp.topics[n]);
            brk__md_requested(req, &body->topics[i], &resp.topics[n++], &auto_c);
        }
        resp.topics_count = n;
        if (auto_c) {
            brk_create_submit(auto_c); /* the files are made off the loop */
        }
    }
    brk_respond(req, &resp);
}

/* One ListOffsets partition: latest (-1), earliest (-2), max timestamp (-3), or by time. */
static void brk__list_offset(brk_req_t *req, brk_part_t *part,
                             const kmsg_list_offsets_req_list_offsets_partition_t *rp,
                             kmsg_list_offsets_resp_list_offsets_partition_response_t *pr)
{
    pr->partition_index = rp->partition_index;
    pr->timestamp = -1;
    pr->offset = -1;
    pr->leader_epoch = 0;
    if (!part) {
        pr->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    int rc = 0;
    kmsg_list_offsets_req_t *body = req->body;
    int64_t visible = brk_part_hw(req->brk, part);
    if (body->isolation_level == 1) { /* READ_COMMITTED: "latest" is the last stable offset */
        visible = slog_part_lso(part->log, visible);
    }
    if (rp->timestamp == -1) {
        pr->offset = visible;
    } else if (rp->timestamp == -2) {
        pr->offset = slog_part_start_offset(part->log);
    } else if (rp->timestamp == -3 && req->api_version >= 7) {
        rc = slog_part_max_timestamp(part->log, &pr->offset, &pr->timestamp);
    } else if (rp->timestamp >= 0) {
        rc = slog_part_offset_for_time(part->log, rp->timestamp, &pr->offset, &pr->timestamp);
        if (rc == 0 && pr->offset < slog_part_start_offset(part->log)) {
            /* found in a segment that DeleteRecords cut into: the log starts later */
            pr->offset = slog_part_start_offset(part->log);
        }
    } else {
        pr->error_code = KERR_INVALID_REQUEST;
        return;
    }
    if (rc == SL_ENOTFOUND) {
        pr->offset = -1;
        pr->timestamp = -1;
    } else if (rc != 0) {
        pr->error_code = (int16_t)brk_kerr_from_log(rc);
    } else if (pr->offset > visible) {
        /* Never point a consumer past what it may read. */
        pr->offset = -1;
        pr->timestamp = -1;
    }
}

typedef struct {
    kproto_str_t topic;
    int32_t partition;
} brk_tp_t;

static brk_key_t brk__tp_key(const void *entries, int32_t i)
{
    const brk_tp_t *tp = &((const brk_tp_t *)entries)[i];
    return brk_key_str(tp->topic, (int64_t)tp->partition * 2);
}

/* The partitions a ListOffsets names more than once, flattened in request order. */
static bool *brk__list_offsets_dups(brk_req_t *req)
{
    kmsg_list_offsets_req_t *body = req->body;
    int64_t n = 0;
    for (int32_t t = 0; t < body->topics_count; t++) {
        n += SL_MAX(body->topics[t].partitions_count, 0);
    }
    int32_t total = (int32_t)SL_MIN(n, (int64_t)INT32_MAX); /* bounded by the frame anyway */
    brk_tp_t *tps = brk_alloc(req, total, sizeof *tps);
    int32_t k = 0;
    for (int32_t t = 0; t < body->topics_count; t++) {
        for (int32_t p = 0; p < body->topics[t].partitions_count && k < total; p++) {
            tps[k++] = (brk_tp_t){body->topics[t].name, body->topics[t].partitions[p].partition_index};
        }
    }
    bool *repeated;
    brk_dups(req, tps, total, brk__tp_key, &repeated);
    return repeated;
}

void brk_handle_list_offsets(brk_req_t *req)
{
    kmsg_list_offsets_req_t *body = req->body;
    kmsg_list_offsets_resp_t resp;
    kmsg_list_offsets_resp_init(&resp);
    resp.topics_count = body->topics_count < 0 ? 0 : body->topics_count;
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    bool *repeated = brk__list_offsets_dups(req);
    for (int32_t t = 0, k = 0; t < resp.topics_count; t++) {
        kmsg_list_offsets_req_list_offsets_topic_t *rt = &body->topics[t];
        kmsg_list_offsets_resp_list_offsets_topic_response_t *tr = &resp.topics[t];
        kmsg_list_offsets_resp_list_offsets_topic_response_init(tr);
        tr->name = rt->name;
        tr->partitions_count = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        kerr_t denied = brk_authz_req_topic(req, rt->name);
        for (int32_t p = 0; p < tr->partitions_count; p++, k++) {
            kmsg_list_offsets_resp_list_offsets_partition_response_init(&tr->partitions[p]);
            if (denied != KERR_NONE || repeated[k]) {
                /* Kafka's rule: every mention of a partition named twice is INVALID_REQUEST */
                tr->partitions[p].partition_index = rt->partitions[p].partition_index;
                tr->partitions[p].timestamp = -1;
                tr->partitions[p].offset = -1;
                tr->partitions[p].error_code =
                    (int16_t)(denied != KERR_NONE ? denied : KERR_INVALID_REQUEST);
                continue;
            }
            brk__list_offset(req, brk_part_find(req->brk, rt->name, rt->partitions[p].partition_index),
                             &rt->partitions[p], &tr->partitions[p]);
        }
    }
    brk_respond(req, &resp);
}
