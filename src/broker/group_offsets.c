/* The coordinator's offset APIs: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups. They
 * check membership with the coordinator (group.c) and read and write the committed-offsets
 * store (offsets.c). */
#include "brk_authz.h"
#include "brk_conf.h"
#include "brk_group.h"
#include "brk_internal.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_req.h"
#include "kerr.h"
#include "sl_log.h"
#include "sl_time.h"

#include <stdlib.h>

/* ---- OffsetCommit ---- */

typedef struct {
    brk_wait_t wait;
    brk_req_t *req;
    kmsg_offset_commit_resp_t resp;
    brk_oput_t *puts; /* the accepted partitions, in the request's arena */
    int32_t nputs;
} brk_commit_t;

/* Applies the accepted partitions to memory once durable (fails them otherwise) and answers. */
static void brk__commit_durable(brk_wait_t *w, int err)
{
    brk_commit_t *c = (brk_commit_t *)w;
    kmsg_offset_commit_req_t *body = c->req->body;
    kmsg_offset_commit_resp_t *resp = &c->resp;
    if (err == 0) {
        brk_offsets_apply(c->req->brk, body->group_id, c->nputs, c->puts, sl_time_wall_ms());
    }
    for (int32_t t = 0; err != 0 && t < resp->topics_count; t++) {
        for (int32_t p = 0; p < resp->topics[t].partitions_count; p++) {
            if (resp->topics[t].partitions[p].error_code == KERR_NONE) {
                resp->topics[t].partitions[p].error_code = KERR_COORDINATOR_NOT_AVAILABLE;
            }
        }
    }
    brk_respond(c->req, resp);
    free(c);
}

/* The group's error for a commit: KERR_NONE when the member may commit (a new group is made). */
static kerr_t brk__commit_group(brk_req_t *req)
{
    kmsg_offset_commit_req_t *body = req->body;
    brk_group_t *grp;
    kerr_t gerr;
    if (body->group_id.len <= 0) {
        return KERR_INVALID_GROUP_ID;
    }
    if ((gerr = brk_authz_req_group(req, body->group_id)) != KERR_NONE) {
        return gerr; /* denied before the group is created */
    }
    if (!(grp = brk_group_get(req->brk, body->group_id))) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return brk_group_check_commit(grp, body->generation_id_or_member_epoch, body->member_id,
                                  body->group_instance_id);
}

/* Error for one committed partition, or KERR_NONE. */
static kerr_t brk__commit_check_part(brk_t *brk, kproto_str_t topic,
                                     const kmsg_offset_commit_req_offset_commit_request_partition_t *rp)
{
    if (!brk_part_find(brk, topic, rp->partition_index)) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (rp->committed_metadata.len > brk->conf.offset_metadata_max_bytes) {
        return KERR_OFFSET_METADATA_TOO_LARGE;
    }
    return KERR_NONE;
}

/* Answers each partition of the commit and collects the accepted ones in c->puts. */
static void brk__commit_collect(brk_commit_t *c, kerr_t gerr)
{
    brk_req_t *req = c->req;
    kmsg_offset_commit_req_t *body = req->body;
    kmsg_offset_commit_resp_t *resp = &c->resp;
    int64_t total = 0;
    resp->topics_count = SL_MAX(body->topics_count, 0);
    resp->topics = brk_alloc(req, resp->topics_count, sizeof *resp->topics);
    for (int32_t t = 0; t < resp->topics_count; t++) {
        total += SL_MAX(body->topics[t].partitions_count, 0);
    }
    c->puts = brk_alloc(req, (int32_t)SL_MIN(total, (int64_t)INT32_MAX), sizeof *c->puts);
    for (int32_t t = 0; t < resp->topics_count; t++) {
        kmsg_offset_commit_req_offset_commit_request_topic_t *rt = &body->topics[t];
        kmsg_offset_commit_resp_offset_commit_response_topic_t *tr = &resp->topics[t];
        kmsg_offset_commit_resp_offset_commit_response_topic_init(tr);
        tr->name = rt->name;
        tr->partitions_count = SL_MAX(rt->partitions_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        kerr_t terr = gerr != KERR_NONE ? gerr : brk_authz_req_topic(req, rt->name);
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            kmsg_offset_commit_req_offset_commit_request_partition_t *rp = &rt->partitions[p];
            kmsg_offset_commit_resp_offset_commit_response_partition_init(&tr->partitions[p]);
            tr->partitions[p].partition_index = rp->partition_index;
            kerr_t e = terr != KERR_NONE ? terr : brk__commit_check_part(req->brk, rt->name, rp);
            tr->partitions[p].error_code = (int16_t)e;
            if (e == KERR_NONE) {
                c->puts[c->nputs++] = (brk_oput_t){rt->name, rp->partition_index,
                                                   rp->committed_offset,
                                                   rp->committed_leader_epoch,
                                                   rp->committed_metadata};
            }
        }
    }
}

void brk_handle_offset_commit(brk_req_t *req)
{
    kmsg_offset_commit_req_t *body = req->body;
    brk_t *brk = req->brk;
    brk_commit_t *c = sl_xcalloc(1, sizeof *c);
    c->req = req;
    kmsg_offset_commit_resp_init(&c->resp);
    brk__commit_collect(c, brk__commit_group(req));
    if (c->nputs == 0) {
        brk_respond(req, &c->resp);
        free(c);
        return;
    }
    int64_t target;
    int rc = brk_offsets_write(brk, body->group_id, c->nputs, c->puts, sl_time_wall_ms(), &target);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write a commit: %s", sl_strerror(rc));
        brk__commit_durable(&c->wait, rc);
        return;
    }
    if (brk->conf.flush_policy != BRK_FLUSH_ALWAYS) {
        brk__commit_durable(&c->wait, 0);
        return;
    }
    c->wait.target = target;
    c->wait.done = brk__commit_durable;
    brk_part_wait(brk, brk_offsets_log(brk), &c->wait);
}

/* ---- OffsetFetch ---- */

static void brk__fetch_part(brk_otab_t *offs, kproto_str_t topic, int32_t partition,
                            int64_t *offset, int32_t *epoch, kproto_str_t *meta)
{
    const brk_offset_t *o = offs ? brk_otab_find(offs, topic, partition) : NULL;
    *offset = o ? o->offset : -1;
    *epoch = o ? o->leader_epoch : -1;
    *meta = o ? brk_offset_metadata(o) : kproto_str("");
}

/* Fills one group's topics for v0-7 (topics) or v8 (groups[].topics); the two response
 * shapes differ only in struct names, so this builds the v8 shape and the caller copies. */
typedef kmsg_offset_fetch_resp_offset_fetch_response_topics_t brk_oft_t;

static int32_t brk__offset_fetch_group(brk_req_t *req, brk_otab_t *offs, kerr_t gerr,
                                       kproto_str_t *names, int32_t **parts, int32_t *nparts,
                                       int32_t ntopics, brk_oft_t **out)
{
    if (ntopics < 0 && gerr != KERR_NONE) {
        *out = NULL;
        return 0;
    }
    if (ntopics < 0) { /* all committed topics of the group */
        int32_t n = offs ? offs->n : 0;
        brk_oft_t *tops = brk_alloc(req, n, sizeof *tops);
        int32_t kept = 0;
        for (int32_t j = 0; j < n; j++) {
            /* Only topics the principal may describe, silently (Kafka's way). */
            if (brk_authz_req_topic(req, kproto_str(offs->items[j].topic)) !=
                KERR_NONE) {
                continue;
            }
            int32_t i = kept++;
            kmsg_offset_fetch_resp_offset_fetch_response_topics_init(&tops[i]);
            tops[i].name = kproto_str(offs->items[j].topic);
            tops[i].partitions_count = 1;
            tops[i].partitions = brk_alloc(req, 1, sizeof *tops[i].partitions);
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_init(tops[i].partitions);
            tops[i].partitions->partition_index = offs->items[j].partition;
            tops[i].partitions->committed_offset = offs->items[j].offset;
            tops[i].partitions->committed_leader_epoch = offs->items[j].leader_epoch;
            tops[i].partitions->metadata = brk_offset_metadata(&offs->items[j]);
        }
        *out = tops;
        return kept;
    }
    brk_oft_t *tops = brk_alloc(req, ntopics, sizeof *tops);
    for (int32_t t = 0; t < ntopics; t++) {
        kmsg_offset_fetch_resp_offset_fetch_response_topics_init(&tops[t]);
        tops[t].name = names[t];
        tops[t].partitions_count = SL_MAX(nparts[t], 0);
        tops[t].partitions = brk_alloc(req, tops[t].partitions_count, sizeof *tops[t].partitions);
        kerr_t denied = gerr != KERR_NONE ? gerr
                                          : brk_authz_req_topic(req, names[t]);
        for (int32_t p = 0; p < tops[t].partitions_count; p++) {
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_t *pr = &tops[t].partitions[p];
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_init(pr);
            pr->partition_index = parts[t][p];
            if (denied != KERR_NONE) {
                pr->committed_offset = -1;
                pr->committed_leader_epoch = -1;
                pr->metadata = kproto_str("");
                pr->error_code = (int16_t)denied;
                continue;
            }
            brk__fetch_part(offs, names[t], parts[t][p], &pr->committed_offset,
                            &pr->committed_leader_epoch, &pr->metadata);
        }
    }
    *out = tops;
    return ntopics;
}

/* gerr: the group's authorization error (every listed partition carries it, as v0-1 clients
 * read it there). */
static int32_t brk__offset_fetch_collect(brk_req_t *req, brk_otab_t *offs, kerr_t gerr,
                                         int32_t ntopics, const void *topics, size_t stride,
                                         brk_oft_t **out)
{
    /* Both request topic shapes start with {name, partition_indexes, count}. */
    kproto_str_t *names = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *names);
    int32_t **parts = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *parts);
    int32_t *nparts = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *nparts);
    for (int32_t t = 0; t < ntopics; t++) {
        const kmsg_offset_fetch_req_offset_fetch_request_topic_t *rt =
            (const void *)((const char *)topics + (size_t)t * stride);
        names[t] = rt->name;
        parts[t] = rt->partition_indexes;
        nparts[t] = rt->partition_indexes_count;
    }
    return brk__offset_fetch_group(req, offs, gerr, names, parts, nparts, ntopics, out);
}

SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_req_offset_fetch_request_topic_t) ==
                     sizeof(kmsg_offset_fetch_req_offset_fetch_request_topics_t),
                 "the two request topic shapes agree");
SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_resp_offset_fetch_response_topic_t) ==
                     sizeof(kmsg_offset_fetch_resp_offset_fetch_response_topics_t),
                 "the two response topic shapes agree");
SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_resp_offset_fetch_response_partition_t) ==
                     sizeof(kmsg_offset_fetch_resp_offset_fetch_response_partitions_t),
                 "the two response partition shapes agree");

void brk_handle_offset_fetch(brk_req_t *req)
{
    kmsg_offset_fetch_req_t *body = req->body;
    kmsg_offset_fetch_resp_t resp;
    kmsg_offset_fetch_resp_init(&resp);
    if (req->api_version < 8) {
        kerr_t denied = brk_authz_req_group(req, body->group_id);
        brk_otab_t *offs = denied == KERR_NONE ? brk_offsets_of(req->brk, body->group_id) : NULL;
        brk_oft_t *tops;
        resp.error_code = body->group_id.len <= 0 ? KERR_INVALID_GROUP_ID : (int16_t)denied;
        int32_t n = brk__offset_fetch_collect(req, offs, denied, body->topics_count, body->topics,
                                              sizeof *body->topics, &tops);
        /* Same layout (asserted above): the v0-7 topic array is the v8 one. */
        resp.topics = (kmsg_offset_fetch_resp_offset_fetch_response_topic_t *)(void *)tops;
        resp.topics_count = n;
        brk_respond(req, &resp);
        return;
    }
    resp.groups_count = SL_MAX(body->groups_count, 0);
    resp.groups = brk_alloc(req, resp.groups_count, sizeof *resp.groups);
    for (int32_t g = 0; g < resp.groups_count; g++) {
        kmsg_offset_fetch_req_offset_fetch_request_group_t *rg = &body->groups[g];
        kmsg_offset_fetch_resp_offset_fetch_response_group_t *og = &resp.groups[g];
        kmsg_offset_fetch_resp_offset_fetch_response_group_init(og);
        og->group_id = rg->group_id;
        kerr_t denied = brk_authz_req_group(req, rg->group_id);
        og->error_code = rg->group_id.len <= 0 ? KERR_INVALID_GROUP_ID : (int16_t)denied;
        if (denied != KERR_NONE) {
            og->topics_count = 0; /* v8 carries the group's error alone */
            continue;
        }
        og->topics_count = brk__offset_fetch_collect(req, brk_offsets_of(req->brk, rg->group_id),
                                                     KERR_NONE, rg->topics_count, rg->topics,
                                                     sizeof *rg->topics, &og->topics);
    }
    brk_respond(req, &resp);
}

/* ---- DeleteGroups, OffsetDelete ---- */

void brk_handle_delete_groups(brk_req_t *req)
{
    kmsg_delete_groups_req_t *body = req->body;
    kmsg_delete_groups_resp_t resp;
    kmsg_delete_groups_resp_init(&resp);
    /* One result per distinct group (Kafka deletes a set of groups). */
    int32_t n = SL_MAX(body->groups_names_count, 0);
    int32_t *first = brk_dups(req, body->groups_names, n, brk_group_key, NULL);
    resp.results = brk_alloc(req, n, sizeof *resp.results);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue;
        }
        kproto_str_t id = body->groups_names[i];
        kmsg_delete_groups_resp_deletable_group_result_t *r = &resp.results[resp.results_count++];
        kmsg_delete_groups_resp_deletable_group_result_init(r);
        r->group_id = id;
        kerr_t denied = brk_authz_req_group(req, id);
        brk_group_t *grp = denied == KERR_NONE ? brk_group_find(req->brk, id) : NULL;
        if (denied != KERR_NONE) {
            r->error_code = (int16_t)denied;
        } else if (!grp) {
            r->error_code = id.len <= 0 ? KERR_INVALID_GROUP_ID : KERR_GROUP_ID_NOT_FOUND;
        } else if (!brk_group_is_empty(grp)) {
            r->error_code = KERR_NON_EMPTY_GROUP;
        } else {
            SL_LOGI("group", "%.*s: deleted", (int)id.len, id.ptr);
            brk_group_delete(req->brk, grp);
        }
    }
    brk_respond(req, &resp);
}

/* The partitions of one OffsetDelete topic: answered, and those whose offsets go added to
 * keys. */
static void brk__offset_delete_topic(brk_req_t *req, brk_group_t *grp,
                                     kmsg_offset_delete_req_offset_delete_request_topic_t *rt,
                                     kmsg_offset_delete_resp_offset_delete_response_topic_t *tr,
                                     brk_oput_t *keys, int32_t *nkeys)
{
    kmsg_offset_delete_resp_offset_delete_response_topic_init(tr);
    tr->name = rt->name;
    tr->partitions_count = SL_MAX(rt->partitions_count, 0);
    tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
    bool subscribed = !brk_group_is_empty(grp) && brk_group_subscribed(grp, rt->name);
    kerr_t terr = brk_authz_req_topic(req, rt->name);
    for (int32_t p = 0; p < tr->partitions_count; p++) {
        kmsg_offset_delete_resp_offset_delete_response_partition_init(&tr->partitions[p]);
        int32_t idx = rt->partitions[p].partition_index;
        tr->partitions[p].partition_index = idx;
        if (terr != KERR_NONE) {
            tr->partitions[p].error_code = (int16_t)terr;
            continue;
        }
        if (subscribed) {
            tr->partitions[p].error_code = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            continue;
        }
        if (!brk_part_find(req->brk, rt->name, idx)) {
            tr->partitions[p].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
        keys[(*nkeys)++] = (brk_oput_t){.topic = rt->name, .partition = idx};
    }
}

void brk_handle_offset_delete(brk_req_t *req)
{
    kmsg_offset_delete_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_offset_delete_resp_t resp;
    kmsg_offset_delete_resp_init(&resp);
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    brk_group_t *grp = denied == KERR_NONE ? brk_group_find(brk, body->group_id) : NULL;
    if (!grp) {
        resp.error_code = denied != KERR_NONE          ? (int16_t)denied
                          : body->group_id.len <= 0 ? KERR_INVALID_GROUP_ID
                                                    : KERR_GROUP_ID_NOT_FOUND;
        brk_respond(req, &resp);
        return;
    }
    int64_t total = 0;
    for (int32_t t = 0; t < body->topics_count; t++) {
        total += SL_MAX(body->topics[t].partitions_count, 0);
    }
    brk_oput_t *keys = brk_alloc(req, (int32_t)SL_MIN(total, (int64_t)INT32_MAX), sizeof *keys);
    int32_t nkeys = 0;
    resp.topics_count = SL_MAX(body->topics_count, 0);
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    for (int32_t t = 0; t < resp.topics_count; t++) {
        brk__offset_delete_topic(req, grp, &body->topics[t], &resp.topics[t], keys, &nkeys);
    }
    brk_offsets_delete(brk, body->group_id, nkeys, keys);
    brk_respond(req, &resp);
}
