/* The cluster-describing admin APIs, answered as a one-node Kafka 3.7 cluster answers them:
 * DescribeCluster (v0-1), DescribeLogDirs (v0-4; the data directory is the one log dir),
 * DescribeTopicPartitions (v0, KIP-966, with its cursor) and ElectLeaders (v0-2; this node is
 * every partition's only and preferred replica, so no election is ever needed). ACLs as in
 * Kafka's KafkaApis: docs/broker.md "ACLs". */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "kerr.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Kafka's DescribeClusterRequest endpoint types (v1+): brokers, or controllers (KRaft). */
#define BRK_ENDPOINT_BROKERS 1
/* Kafka's UNSUPPORTED_ENDPOINT_TYPE: a broker asked for the controllers. */
#define BRK_KERR_UNSUPPORTED_ENDPOINT_TYPE 119

static kproto_str_t brk__cluster_name(void) { return kproto_str(BRK_ACL_CLUSTER_NAME); }

static bool brk__part_ok(const brk_topic_t *topic, int32_t p)
{
    return p >= 0 && p < topic->npart && topic->parts[p];
}

/* ---- a request's [topic [partition]] as Kafka reads it: a set ---------------------------- */

/* Topic names with partition numbers: a request's entry, or a distinct one. */
typedef struct {
    kproto_str_t topic;
    int32_t *parts;
    int32_t n;
} brk_tps_t;

typedef struct {
    kproto_str_t topic;
    int32_t partition;
    int32_t t; /* its request entry */
} brk_tp_pair_t;

static brk_key_t brk__tps_key(const void *entries, int32_t i)
{
    return brk_key_str(((const brk_tps_t *)entries)[i].topic, 0);
}

static brk_key_t brk__pair_key(const void *entries, int32_t i)
{
    const brk_tp_pair_t *tp = &((const brk_tp_pair_t *)entries)[i];
    return brk_key_str(tp->topic, (int64_t)tp->partition * 2);
}

/* The n request entries `in` as distinct topics (first-mention order), each with its distinct
 * partitions: Kafka answers ElectLeaders and DescribeLogDirs from such a set, so a name or a
 * partition given twice is answered once. Returns how many; *out in the arena. */
static int32_t brk__tps_distinct(brk_req_t *req, const brk_tps_t *in, int32_t n, brk_tps_t **out)
{
    int32_t *tfirst = brk_dups(req, in, n, brk__tps_key, NULL);
    int64_t total = 0;
    for (int32_t t = 0; t < n; t++) {
        total += SL_MAX(in[t].n, 0);
    }
    int32_t npairs = (int32_t)SL_MIN(total, (int64_t)INT32_MAX); /* bounded by the frame */
    brk_tp_pair_t *pairs = brk_alloc(req, npairs, sizeof *pairs);
    for (int32_t t = 0, k = 0; t < n; t++) {
        for (int32_t i = 0; i < in[t].n && k < npairs; i++) {
            pairs[k++] = (brk_tp_pair_t){in[t].topic, in[t].parts[i], tfirst[t]};
        }
    }
    int32_t *pfirst = brk_dups(req, pairs, npairs, brk__pair_key, NULL);
    int32_t *slot = brk_alloc(req, n, sizeof *slot), m = 0;
    for (int32_t t = 0; t < n; t++) {
        slot[t] = tfirst[t] == t ? m++ : slot[tfirst[t]];
    }
    brk_tps_t *res = brk_alloc(req, m, sizeof *res);
    int32_t *cap = brk_alloc(req, m, sizeof *cap);
    for (int32_t k = 0; k < npairs; k++) {
        cap[slot[pairs[k].t]] += pfirst[k] == k;
    }
    for (int32_t t = 0; t < n; t++) {
        if (tfirst[t] == t) {
            int32_t *parts = brk_alloc(req, cap[slot[t]], sizeof *parts);
            res[slot[t]] = (brk_tps_t){in[t].topic, parts, 0};
        }
    }
    for (int32_t k = 0; k < npairs; k++) {
        if (pfirst[k] == k) {
            brk_tps_t *r = &res[slot[pairs[k].t]];
            r->parts[r->n++] = pairs[k].partition;
        }
    }
    *out = res;
    return m;
}

/* ---- DescribeCluster -------------------------------------------------------------------- */

/* Kafka asks no ACL for it (like Metadata); the authorized operations are 0 without DESCRIBE. */
void brk_handle_describe_cluster(brk_req_t *req)
{
    kmsg_describe_cluster_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_describe_cluster_resp_t resp;
    kmsg_describe_cluster_resp_init(&resp);
    resp.endpoint_type = body->endpoint_type;
    resp.cluster_id = kproto_str(brk->cluster_id);
    resp.controller_id = brk->conf.node_id;
    resp.cluster_authorized_operations = INT32_MIN;
    if (body->include_cluster_authorized_operations) {
        resp.cluster_authorized_operations =
            brk_authz(req, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_CLUSTER, brk__cluster_name())
                ? brk_authz_ops(req, BRK_ACL_RES_CLUSTER, brk__cluster_name())
                : 0;
    }
    if (body->endpoint_type != BRK_ENDPOINT_BROKERS) {
        resp.error_code = BRK_KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = kproto_str("The request endpoint type is not supported by a broker");
        resp.controller_id = -1;
        brk_respond(req, &resp);
        return;
    }
    kmsg_describe_cluster_resp_describe_cluster_broker_t *b = brk_alloc(req, 1, sizeof *b);
    kmsg_describe_cluster_resp_describe_cluster_broker_init(b);
    b->broker_id = brk->conf.node_id;
    b->host = kproto_str(req->adv_host); /* the listener the client came through */
    b->port = req->adv_port;
    b->rack = (kproto_str_t){NULL, -1};
    resp.brokers = b;
    resp.brokers_count = 1;
    brk_respond(req, &resp);
}

/* ---- DescribeLogDirs -------------------------------------------------------------------- */

typedef kmsg_describe_log_dirs_resp_describe_log_dirs_topic_t brk_ld_topic_t;
typedef kmsg_describe_log_dirs_resp_describe_log_dirs_partition_t brk_ld_part_t;

static void brk__ld_part(brk_topic_t *topic, int32_t p, brk_ld_part_t *pr)
{
    kmsg_describe_log_dirs_resp_describe_log_dirs_partition_init(pr);
    pr->partition_index = p;
    pr->partition_size = slog_part_size_bytes(topic->parts[p]->log);
    pr->offset_lag = 0; /* no future replica is ever being moved here */
    pr->is_future_key = false;
}

/* One topic's entry: every partition (want == NULL) or the named ones that exist (Kafka leaves
 * out partitions this broker does not host). */
static void brk__ld_topic(brk_req_t *req, brk_topic_t *topic, const brk_tps_t *want,
                          brk_ld_topic_t *tr)
{
    kmsg_describe_log_dirs_resp_describe_log_dirs_topic_init(tr);
    tr->name = kproto_str(topic->name);
    int32_t n = want ? want->n : topic->npart;
    tr->partitions = brk_alloc(req, n, sizeof *tr->partitions);
    tr->partitions_count = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t p = want ? want->parts[i] : i;
        if (brk__part_ok(topic, p)) {
            brk__ld_part(topic, p, &tr->partitions[tr->partitions_count++]);
        }
    }
}

/* The log dir's entry: its absolute path and, v4+, the file system's size and free space. */
static void brk__ld_dir(brk_req_t *req, kmsg_describe_log_dirs_resp_describe_log_dirs_result_t *dr)
{
    kmsg_describe_log_dirs_resp_describe_log_dirs_result_init(dr);
    const char *dir = req->brk->conf.data_dir;
    char *abs = brk_alloc(req, PATH_MAX, 1);
    dr->log_dir = kproto_str(realpath(dir, abs) ? abs : dir);
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0) {
        dr->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
        dr->usable_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    } else {
        dr->total_bytes = -1; /* Kafka's UNKNOWN_VOLUME_BYTES */
        dr->usable_bytes = -1;
    }
}

void brk_handle_describe_log_dirs(brk_req_t *req)
{
    kmsg_describe_log_dirs_req_t *body = req->body;
    kmsg_describe_log_dirs_resp_t resp;
    kmsg_describe_log_dirs_resp_init(&resp);
    if (!brk_authz(req, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_CLUSTER, brk__cluster_name())) {
        resp.error_code = KERR_CLUSTER_AUTHORIZATION_FAILED; /* v3+; no dirs either way */
        brk_respond(req, &resp);
        return;
    }
    kmsg_describe_log_dirs_resp_describe_log_dirs_result_t *dr = brk_alloc(req, 1, sizeof *dr);
    brk__ld_dir(req, dr);
    resp.results = dr;
    resp.results_count = 1;
    bool all = body->topics_count < 0;
    int32_t n = all ? req->brk->ntopics : body->topics_count;
    brk_tps_t *want = NULL;
    if (!all) {
        brk_tps_t *in = brk_alloc(req, n, sizeof *in);
        for (int32_t i = 0; i < n; i++) {
            in[i] = (brk_tps_t){body->topics[i].topic, body->topics[i].partitions,
                                SL_MAX(body->topics[i].partitions_count, 0)};
        }
        n = brk__tps_distinct(req, in, n, &want);
    }
    dr->topics = brk_alloc(req, n, sizeof *dr->topics);
    dr->topics_count = 0;
    if (all) {
        for (brk_topic_t *t = req->brk->topics; t && dr->topics_count < n; t = t->next) {
            brk__ld_topic(req, t, NULL, &dr->topics[dr->topics_count++]);
        }
    } else {
        for (int32_t i = 0; i < n; i++) {
            brk_topic_t *topic = brk_topic_find(req->brk, want[i].topic);
            if (topic) { /* an unknown topic is not hosted here: left out, as in Kafka */
                brk__ld_topic(req, topic, &want[i], &dr->topics[dr->topics_count++]);
            }
        }
    }
    brk_respond(req, &resp);
}

/* ---- DescribeTopicPartitions ------------------------------------------------------------ */

typedef kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_topic_t
    brk_dtp_topic_t;
typedef kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_partition_t
    brk_dtp_part_t;

/* A topic of the answer, by name: the registered topic (NULL when unknown). */
typedef struct {
    kproto_str_t name;
    brk_topic_t *topic;
} brk_dtp_name_t;

static int brk__dtp_cmp(const void *a, const void *b)
{
    kproto_str_t x = ((const brk_dtp_name_t *)a)->name, y = ((const brk_dtp_name_t *)b)->name;
    size_t common = (size_t)SL_MAX(SL_MIN(x.len, y.len), 0);
    int c = common ? memcmp(x.ptr, y.ptr, common) : 0;
    return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

static int brk__dtp_cmp_str(kproto_str_t x, kproto_str_t y)
{
    brk_dtp_name_t a = {x, NULL}, b = {y, NULL};
    return brk__dtp_cmp(&a, &b);
}

/* The topics to describe, sorted by name as Kafka pages them: the requested ones (each once;
 * a null name is skipped), or every topic the principal may describe (requested none). */
static brk_dtp_name_t *brk__dtp_names(brk_req_t *req, int32_t *count)
{
    kmsg_describe_topic_partitions_req_t *body = req->body;
    brk_t *brk = req->brk;
    int32_t n = 0;
    brk_dtp_name_t *names;
    if (body->topics_count <= 0) {
        names = brk_alloc(req, brk->ntopics, sizeof *names);
        for (brk_topic_t *t = brk->topics; t && n < brk->ntopics; t = t->next) {
            if (brk_authz_req_topic(req, kproto_str(t->name)) == KERR_NONE) {
                names[n++] = (brk_dtp_name_t){kproto_str(t->name), t};
            }
        }
    } else {
        names = brk_alloc(req, body->topics_count, sizeof *names);
        for (int32_t i = 0; i < body->topics_count; i++) {
            if (body->topics[i].name.len >= 0) {
                names[n++] = (brk_dtp_name_t){body->topics[i].name, NULL};
            }
        }
    }
    if (n > 1) {
        qsort(names, (size_t)n, sizeof *names, brk__dtp_cmp);
    }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (m == 0 || brk__dtp_cmp(&names[m - 1], &names[i]) != 0) {
            names[m++] = names[i];
        }
    }
    *count = m;
    return names;
}

static void brk__dtp_part(brk_req_t *req, int32_t p, brk_dtp_part_t *pr)
{
    int32_t *node = brk_alloc(req, 1, sizeof *node);
    *node = req->brk->conf.node_id;
    kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_partition_init(pr);
    pr->partition_index = p;
    pr->leader_id = *node;
    pr->leader_epoch = BRK_LEADER_EPOCH;
    pr->replica_nodes = node;
    pr->replica_nodes_count = 1;
    pr->isr_nodes = node;
    pr->isr_nodes_count = 1;
    pr->eligible_leader_replicas_count = 0;
    pr->last_known_elr_count = 0;
    pr->offline_replicas_count = 0;
}

/* One topic the principal may describe, from partition `from`, at most *budget partitions
 * (taken from it); an unknown one is UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an
 * invalid name) and takes none. False when the budget ran out inside the topic: the cursor
 * then points at the first partition left (Kafka's getTopicMetadataForDescribeTopicResponse). */
static bool brk__dtp_topic(brk_req_t *req, const brk_dtp_name_t *nm, int32_t from,
                           int32_t *budget, brk_dtp_topic_t *tr,
                           kmsg_describe_topic_partitions_resp_t *resp)
{
    kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_topic_init(tr);
    tr->name = nm->name;
    tr->topic_authorized_operations = brk_authz_ops(req, BRK_ACL_RES_TOPIC, nm->name);
    brk_topic_t *topic = nm->topic ? nm->topic : brk_topic_find(req->brk, nm->name);
    if (!topic) {
        const char *why;
        tr->error_code = brk_topic_name_valid(nm->name, &why) ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                                              : KERR_INVALID_TOPIC_EXCEPTION;
        return true;
    }
    tr->topic_id = topic->id;
    int32_t n = SL_MAX(SL_MIN(topic->npart - from, *budget), 0);
    tr->partitions = brk_alloc(req, n, sizeof *tr->partitions);
    tr->partitions_count = n;
    for (int32_t i = 0; i < n; i++) {
        brk__dtp_part(req, from + i, &tr->partitions[i]);
    }
    *budget -= n;
    if (from + n < topic->npart) {
        resp->next_cursor.topic_name = nm->name;
        resp->next_cursor.partition_index = from + n;
        resp->next_cursor_null = false;
        return false;
    }
    return true;
}

/* One page from names[first] on, in Kafka's order: the topics it may describe, then those
 * named that it may not (TOPIC_AUTHORIZATION_FAILED, no id) up to where the page ended. */
static void brk__dtp_page(brk_req_t *req, const brk_dtp_name_t *names, int32_t first,
                          int32_t count, kmsg_describe_topic_partitions_resp_t *resp)
{
    kmsg_describe_topic_partitions_req_t *body = req->body;
    brk_dtp_topic_t *denied = brk_alloc(req, count, sizeof *denied);
    int32_t ndenied = 0;
    int32_t budget = SL_MIN(SL_MAX(body->response_partition_limit, 0), BRK_DTP_PARTITIONS_MAX);
    for (int32_t i = first; i < count; i++) {
        if (!names[i].topic && brk_authz_req_topic(req, names[i].name) != KERR_NONE) {
            brk_dtp_topic_t *tr = &denied[ndenied++]; /* unknown or not: the same answer */
            kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_topic_init(tr);
            tr->name = names[i].name;
            tr->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
            continue;
        }
        if (budget == 0) { /* the page ended exactly at a topic's end */
            resp->next_cursor = (kmsg_describe_topic_partitions_resp_cursor_t){names[i].name, 0};
            resp->next_cursor_null = false;
            break;
        }
        bool at_cursor = !body->cursor_null &&
                         brk__dtp_cmp_str(names[i].name, body->cursor.topic_name) == 0;
        int32_t from = at_cursor ? body->cursor.partition_index : 0;
        if (!brk__dtp_topic(req, &names[i], from, &budget, &resp->topics[resp->topics_count++],
                            resp)) {
            break;
        }
    }
    for (int32_t i = 0; i < ndenied; i++) {
        resp->topics[resp->topics_count++] = denied[i];
    }
}

/* Kafka 3.7's rules: the partition limit is capped at BRK_DTP_PARTITIONS_MAX (Kafka's
 * max.request.partition.size.limit); a cursor starts the answer at its topic and partition,
 * and one naming a topic that was not requested makes the request INVALID_REQUEST. */
void brk_handle_describe_topic_partitions(brk_req_t *req)
{
    kmsg_describe_topic_partitions_req_t *body = req->body;
    kmsg_describe_topic_partitions_resp_t resp;
    kmsg_describe_topic_partitions_resp_init(&resp);
    resp.next_cursor_null = true;
    int32_t count;
    brk_dtp_name_t *names = brk__dtp_names(req, &count);
    int32_t first = 0;
    bool cursor = !body->cursor_null;
    while (cursor && first < count && brk__dtp_cmp_str(names[first].name,
                                                       body->cursor.topic_name) < 0) {
        first++;
    }
    bool bad = cursor && (body->cursor.partition_index < 0 ||
                          (body->topics_count > 0 &&
                           (first == count || brk__dtp_cmp_str(names[first].name,
                                                               body->cursor.topic_name) != 0)));
    resp.topics = brk_alloc(req, count, sizeof *resp.topics);
    resp.topics_count = 0;
    if (!bad) {
        brk__dtp_page(req, names, first, count, &resp);
    }
    for (int32_t i = 0; bad && i < count; i++) {
        brk_dtp_topic_t *tr = &resp.topics[resp.topics_count++];
        kmsg_describe_topic_partitions_resp_describe_topic_partitions_response_topic_init(tr);
        tr->name = names[i].name;
        tr->error_code = KERR_INVALID_REQUEST;
    }
    brk_respond(req, &resp);
}

/* ---- ElectLeaders ----------------------------------------------------------------------- */

typedef kmsg_elect_leaders_resp_partition_result_t brk_el_part_t;

/* Kafka's error message of ELECTION_NOT_NEEDED (its Errors default). */
#define BRK_EL_NOT_NEEDED_MSG "Leader election not needed for topic partition."

/* Kafka's controller's message for an unknown topic or partition, in the arena. */
static kproto_str_t brk__el_unknown_msg(brk_req_t *req, kproto_str_t topic, bool known,
                                        int32_t partition)
{
    int32_t cap = SL_MAX(topic.len, 0) + 64;
    char *msg = brk_alloc(req, cap, 1);
    int n = known ? snprintf(msg, (size_t)cap, "No such partition as %.*s-%d",
                             (int)SL_MAX(topic.len, 0), topic.ptr, partition)
                  : snprintf(msg, (size_t)cap, "No such topic as %.*s",
                             (int)SL_MAX(topic.len, 0), topic.ptr);
    return (kproto_str_t){msg, SL_MIN(n, cap - 1)};
}

static void brk__el_topic(brk_req_t *req, kerr_t denied, const brk_tps_t *rt,
                          kmsg_elect_leaders_resp_replica_election_result_t *tr)
{
    kmsg_elect_leaders_resp_replica_election_result_init(tr);
    tr->topic = rt->topic;
    tr->partition_result_count = rt->n;
    tr->partition_result = brk_alloc(req, tr->partition_result_count, sizeof *tr->partition_result);
    brk_topic_t *topic = denied == KERR_NONE ? brk_topic_find(req->brk, rt->topic) : NULL;
    for (int32_t i = 0; i < tr->partition_result_count; i++) {
        brk_el_part_t *pr = &tr->partition_result[i];
        kmsg_elect_leaders_resp_partition_result_init(pr);
        pr->partition_id = rt->parts[i];
        bool led = topic && brk__part_ok(topic, rt->parts[i]);
        kerr_t e = denied != KERR_NONE ? denied
                   : led               ? KERR_ELECTION_NOT_NEEDED
                                       : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        pr->error_code = (int16_t)e;
        pr->error_message = e == KERR_ELECTION_NOT_NEEDED ? kproto_str(BRK_EL_NOT_NEEDED_MSG)
                            : e == KERR_UNKNOWN_TOPIC_OR_PARTITION
                                ? brk__el_unknown_msg(req, rt->topic, topic != NULL, rt->parts[i])
                                : (kproto_str_t){NULL, -1};
    }
}

/* With no partitions named (null: all), Kafka's controller answers every topic with only the
 * partitions it elected (ReplicationControlManager.electLeaders): here every topic, empty. */
static void brk__el_all(brk_req_t *req, kmsg_elect_leaders_resp_t *resp)
{
    brk_t *brk = req->brk;
    resp->replica_election_results = brk_alloc(req, brk->ntopics,
                                               sizeof *resp->replica_election_results);
    resp->replica_election_results_count = 0;
    for (brk_topic_t *t = brk->topics; t && resp->replica_election_results_count < brk->ntopics;
         t = t->next) {
        kmsg_elect_leaders_resp_replica_election_result_t *tr =
            &resp->replica_election_results[resp->replica_election_results_count++];
        kmsg_elect_leaders_resp_replica_election_result_init(tr);
        tr->topic = kproto_str(t->name);
        tr->partition_result_count = 0;
    }
}

/* Every partition already has its preferred (and only) replica as leader: each named one is
 * ELECTION_NOT_NEEDED, as Kafka answers (unclean elections too: it has a leader). Needs
 * ALTER on the cluster (denied: the error for each named partition and, v1+, the request). */
void brk_handle_elect_leaders(brk_req_t *req)
{
    kmsg_elect_leaders_req_t *body = req->body;
    kmsg_elect_leaders_resp_t resp;
    kmsg_elect_leaders_resp_init(&resp);
    kerr_t denied = brk_authz_cluster(req, BRK_ACL_OP_ALTER);
    resp.error_code = (int16_t)denied; /* v1+ */
    if (body->topic_partitions_count < 0 && denied == KERR_NONE) {
        brk__el_all(req, &resp);
        brk_respond(req, &resp);
        return;
    }
    int32_t n = SL_MAX(body->topic_partitions_count, 0);
    brk_tps_t *in = brk_alloc(req, n, sizeof *in), *want = NULL;
    for (int32_t i = 0; i < n; i++) {
        in[i] = (brk_tps_t){body->topic_partitions[i].topic, body->topic_partitions[i].partitions,
                            SL_MAX(body->topic_partitions[i].partitions_count, 0)};
    }
    n = brk__tps_distinct(req, in, n, &want);
    resp.replica_election_results_count = n;
    resp.replica_election_results = brk_alloc(req, n, sizeof *resp.replica_election_results);
    for (int32_t t = 0; t < n; t++) {
        brk__el_topic(req, denied, &want[t], &resp.replica_election_results[t]);
    }
    brk_respond(req, &resp);
}
