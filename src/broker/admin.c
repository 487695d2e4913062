/* Topic administration: CreateTopics (v0-7), DeleteTopics (v0-6), CreatePartitions (v0-3),
 * DescribeConfigs (v0-4), AlterConfigs (v0-2) and IncrementalAlterConfigs (v0-1: SET, DELETE,
 * and APPEND/SUBTRACT of list configs) for topic resources. Broker
 * resources are described (read-only); altering them is refused with a clear message. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_create.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_req.h"
#include "brk_topics.h"
#include "kerr.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK_RESOURCE_TOPIC 2
#define BRK_RESOURCE_BROKER 4
#define BRK_CONFIG_SOURCE_TOPIC 1
#define BRK_CONFIG_SOURCE_STATIC_BROKER 4
#define BRK_CONFIG_SOURCE_DEFAULT 5
#define BRK_CONFIG_TYPE_LIST 7
#define BRK_CONFIG_OP_SET 0
#define BRK_CONFIG_OP_DELETE 1
#define BRK_CONFIG_OP_APPEND 2
#define BRK_CONFIG_OP_SUBTRACT 3

static kproto_str_t brk__str_dup(brk_req_t *req, const char *s)
{
    kproto_str_t k = {NULL, -1};
    if (s) {
        k.len = (int32_t)strlen(s);
        char *p = sl_arena_alloc(req->arena, (size_t)k.len + 1);
        memcpy(p, s, (size_t)k.len);
        k.ptr = p;
    }
    return k;
}

/* Adds one name=value pair from a request to props; false (with msg) when missing, null,
 * too long, or one too many. */
static bool brk__kv_set(sl_props_t *props, kproto_str_t n, kproto_str_t v, const char **msg)
{
    char name[256], value[1024];
    if (n.len <= 0 || n.len >= (int32_t)sizeof name || v.len < 0 || v.len >= (int32_t)sizeof value) {
        *msg = "config name or value missing or too long";
        return false;
    }
    snprintf(name, sizeof name, "%.*s", n.len, n.ptr);
    snprintf(value, sizeof value, "%.*s", v.len, v.ptr);
    if (sl_props_set(props, name, value) != 0) {
        *msg = "too many configs";
        return false;
    }
    return true;
}

/* Copies a CreateTopics config list into a property set. */
static bool brk__configs_to_props(const kmsg_create_topics_req_creatable_topic_t *ct,
                                  sl_props_t *props, const char **msg)
{
    for (int32_t i = 0; i < ct->configs_count; i++) {
        if (!brk__kv_set(props, ct->configs[i].name, ct->configs[i].value, msg)) {
            return false;
        }
    }
    return true;
}

/* The result of a topic that is (or, validate_only, would be) created: its partitions, id and
 * (v5+) effective configs. topic is NULL for validate_only. */
static void brk__create_ok(brk_req_t *req, kproto_str_t name, brk_topic_t *topic, int32_t npart,
                           kmsg_create_topics_resp_creatable_topic_result_t *tr)
{
    tr->error_code = KERR_NONE;
    tr->num_partitions = topic ? topic->npart : npart;
    tr->replication_factor = 1;
    if (topic) {
        tr->topic_id = topic->id;
    }
    /* v5+: the topic's effective configs, for a principal that may describe them. */
    if (brk_authz_topic(req, BRK_ACL_OP_DESCRIBE_CONFIGS, name) != KERR_NONE) {
        tr->topic_config_error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    size_t ndefs;
    const brk_tconf_def_t *defs = brk_tconf_defs(&ndefs);
    tr->configs_count = (int32_t)ndefs;
    tr->configs = brk_alloc(req, (int32_t)ndefs, sizeof *tr->configs);
    for (size_t i = 0; i < ndefs; i++) {
        char v[256];
        bool ov;
        brk_tconf_value(req->brk, topic, defs[i].name, v, sizeof v, &ov);
        kmsg_create_topics_resp_creatable_topic_configs_init(&tr->configs[i]);
        tr->configs[i].name = kproto_str(defs[i].name);
        tr->configs[i].value = brk__str_dup(req, v);
        tr->configs[i].config_source = ov ? BRK_CONFIG_SOURCE_TOPIC : BRK_CONFIG_SOURCE_DEFAULT;
    }
}

static void brk__create_err(kmsg_create_topics_resp_creatable_topic_result_t *tr, kerr_t e,
                            const char *msg)
{
    tr->error_code = (int16_t)e;
    tr->error_message = msg ? kproto_str(msg) : (kproto_str_t){NULL, -1};
    tr->num_partitions = -1;
    tr->replication_factor = -1;
}

/* THROTTLING_QUOTA_EXCEEDED exists from CreateTopics v6 and CreatePartitions v3 (KIP-599);
 * older clients get POLICY_VIOLATION with the same message. */
static kerr_t brk__quota_err(brk_req_t *req, kerr_t e, int16_t since)
{
    return e == KERR_THROTTLING_QUOTA_EXCEEDED && req->api_version < since ? KERR_POLICY_VIOLATION
                                                                          : e;
}

/* A message with one number, in the request's arena (lives until the answer is queued). */
static const char *brk__msg_num(brk_req_t *req, const char *fmt, long long num)
{
    char *buf = brk_alloc(req, 160, 1);
    snprintf(buf, 160, fmt, num);
    return buf;
}

/* One replica list of a manual assignment, by Kafka's checks (ReplicationControlManager): not
 * empty, only registered brokers (here: this one), none twice. */
static kerr_t brk__assignment_list(brk_req_t *req, const int32_t *ids, int32_t count,
                                   const char **msg)
{
    int32_t node = req->brk->conf.node_id, seen = 0;
    if (count <= 0) {
        *msg = "The manual partition assignment includes an empty replica list.";
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < count; i++) {
        if (ids[i] != node) {
            *msg = brk__msg_num(req, "The manual partition assignment includes broker %lld, but "
                                "no such broker is registered.", ids[i]);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (++seen > 1) {
            *msg = brk__msg_num(req, "The manual partition assignment includes the broker %lld "
                                "more than once.", node);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return KERR_NONE;
}

/* A manual replica assignment, accepted as Kafka accepts one on a cluster of this one broker:
 * partition count and replication factor -1 (else INVALID_REQUEST), each partition once with
 * a valid replica list, partitions 0..n-1 (else INVALID_REPLICA_ASSIGNMENT). *npart gets n. */
static kerr_t brk__create_assignment(brk_req_t *req,
                                     const kmsg_create_topics_req_creatable_topic_t *ct,
                                     int32_t *npart, const char **msg)
{
    if (ct->replication_factor != -1) {
        *msg = "A manual partition assignment was specified, but replication factor was not "
               "set to -1.";
        return KERR_INVALID_REQUEST;
    }
    if (ct->num_partitions != -1) {
        *msg = "A manual partition assignment was specified, but numPartitions was not set to -1.";
        return KERR_INVALID_REQUEST;
    }
    int32_t n = ct->assignments_count;
    bool *seen = brk_alloc(req, n, sizeof *seen), gap = false;
    for (int32_t i = 0; i < n; i++) {
        const kmsg_create_topics_req_creatable_replica_assignment_t *a = &ct->assignments[i];
        int32_t p = a->partition_index;
        if (p >= 0 && p < n && seen[p]) {
            *msg = brk__msg_num(req, "Found multiple manual partition assignments for "
                                "partition %lld", p);
            return KERR_INVALID_REPLICA_ASSIGNMENT;
        }
        kerr_t e = brk__assignment_list(req, a->broker_ids, a->broker_ids_count, msg);
        if (e != KERR_NONE) {
            return e;
        }
        gap = gap || p < 0 || p >= n;
        if (!gap) {
            seen[p] = true;
        }
    }
    if (gap) {
        *msg = "partitions should be a consecutive 0-based integer sequence";
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    *npart = n;
    return KERR_NONE;
}

/* One CreateTopics entry: refused now, answered now (validate_only), or added to the
 * request's creation batch c (*item gets its index). */
static void brk__create_one(brk_req_t *req, const kmsg_create_topics_req_creatable_topic_t *ct,
                            kmsg_create_topics_resp_creatable_topic_result_t *tr,
                            brk_create_t *c, int32_t *item)
{
    kmsg_create_topics_req_t *body = req->body;
    const char *msg = NULL;
    tr->name = ct->name;
    kerr_t e = KERR_NONE;
    int32_t npart = ct->num_partitions;
    /* The property set only when there are configs. */
    sl_props_t *props = ct->configs_count > 0 ? sl_props_new() : NULL;
    if (!brk_topic_name_valid(ct->name, &msg)) { /* Kafka validates the name first */
        e = KERR_INVALID_TOPIC_EXCEPTION;
    } else if (ct->assignments_count > 0) {
        e = brk__create_assignment(req, ct, &npart, &msg);
    } else if (ct->replication_factor != -1 && ct->replication_factor != 1) {
        e = KERR_INVALID_REPLICATION_FACTOR;
        msg = "replication factor must be 1 (or -1) on a single-node broker";
    }
    if (e == KERR_NONE && !brk__configs_to_props(ct, props, &msg)) {
        e = KERR_INVALID_CONFIG;
    }
    if (e == KERR_NONE) {
        e = brk_create_check_topic(req->brk, ct->name, &npart, props, &msg);
    }
    if (e == KERR_NONE && !body->validate_only) {
        e = brk__quota_err(req, brk_create_admit(c, npart, &msg), 6);
        if (e == KERR_NONE) {
            *item = brk_create_topic(c, ct->name, npart, props);
        }
    }
    sl_props_free(props);
    if (e != KERR_NONE) {
        brk__create_err(tr, e, msg);
    } else if (body->validate_only) {
        brk__create_ok(req, ct->name, NULL, npart, tr);
    }
}

static brk_key_t brk__create_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kmsg_create_topics_req_creatable_topic_t *)entries)[i].name, 0);
}

/* One line per request for the names it refused (a request may name tens of thousands). */
static void brk__create_log(brk_req_t *req, const kmsg_create_topics_resp_t *resp)
{
    int32_t refused = 0;
    const kmsg_create_topics_resp_creatable_topic_result_t *one = NULL;
    for (int32_t i = 0; i < resp->topics_count; i++) {
        if (resp->topics[i].error_code != KERR_NONE) {
            one = one ? one : &resp->topics[i];
            refused++;
        }
    }
    if (refused == 0) {
        return;
    }
    char name[65]; /* the client's bytes, cut and made printable for the log */
    size_t len = (size_t)SL_MIN(SL_MAX(one->name.len, 0), 64);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)one->name.ptr[i];
        name[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    name[len] = 0;
    SL_LOGI("admin", "%s: create topics: %d of %d refused, e.g. '%s': %s%s%s", req->peer,
            (int)refused, (int)resp->topics_count, name, kerr_name(one->error_code),
            one->error_message.len > 0 ? ": " : "",
            one->error_message.len > 0 ? one->error_message.ptr : "");
}

typedef struct {
    brk_req_t *req;
    kmsg_create_topics_resp_t resp;
    int32_t *item; /* per result: its item in the creation batch, or -1 */
} brk_create_topics_t;

/* The batch is installed: the created topics' results, then the answer. */
static void brk__create_topics_done(brk_create_t *c, void *ctx)
{
    brk_create_topics_t *ct = ctx;
    for (int32_t i = 0; i < ct->resp.topics_count; i++) {
        if (ct->item[i] < 0) {
            continue;
        }
        kmsg_create_topics_resp_creatable_topic_result_t *tr = &ct->resp.topics[i];
        brk_topic_t *topic;
        const char *msg;
        kerr_t e = brk_create_result(c, ct->item[i], &topic, &msg);
        if (e != KERR_NONE) {
            brk__create_err(tr, e, msg);
        } else {
            brk__create_ok(ct->req, tr->name, topic, topic->npart, tr);
        }
    }
    brk__create_log(ct->req, &ct->resp);
    brk_respond(ct->req, &ct->resp);
}

/* Kafka's rule: a name given more than once is refused with INVALID_REQUEST (one result for
 * it, nothing created); the check is one pass over the request. The topics are created off
 * the loop (create.c); the request is answered when they are. */
void brk_handle_create_topics(brk_req_t *req)
{
    kmsg_create_topics_req_t *body = req->body;
    brk_create_topics_t *ctx = brk_alloc(req, 1, sizeof *ctx);
    ctx->req = req;
    kmsg_create_topics_resp_t *resp = &ctx->resp;
    kmsg_create_topics_resp_init(resp);
    int32_t n = SL_MAX(body->topics_count, 0);
    bool *repeated;
    int32_t *first = brk_dups(req, body->topics, n, brk__create_key, &repeated);
    resp->topics = brk_alloc(req, n, sizeof *resp->topics);
    ctx->item = brk_alloc(req, n, sizeof *ctx->item);
    brk_create_t *c = brk_create_new(req->brk, brk__create_topics_done, ctx);
    bool cluster_create = brk_authz_cluster(req, BRK_ACL_OP_CREATE) == KERR_NONE;
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue;
        }
        int32_t k = resp->topics_count++;
        kmsg_create_topics_resp_creatable_topic_result_t *tr = &resp->topics[k];
        kmsg_create_topics_resp_creatable_topic_result_init(tr);
        tr->name = body->topics[i].name;
        ctx->item[k] = -1;
        if (repeated[i]) {
            brk__create_err(tr, KERR_INVALID_REQUEST, "topic named more than once in one request");
            continue;
        }
        /* CREATE on the cluster covers every topic; else CREATE on each topic. */
        if (!cluster_create && brk_authz_req_topic(req, body->topics[i].name) != KERR_NONE) {
            brk__create_err(tr, KERR_TOPIC_AUTHORIZATION_FAILED, NULL);
            continue;
        }
        brk__create_one(req, &body->topics[i], tr, c, &ctx->item[k]);
    }
    brk_create_submit(c); /* done answers: now when nothing is to be created */
}

static brk_key_t brk__name_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kproto_str_t *)entries)[i], 0);
}

static brk_key_t brk__delete_key(const void *entries, int32_t i)
{
    const kmsg_delete_topics_req_delete_topic_state_t *ts =
        &((const kmsg_delete_topics_req_delete_topic_state_t *)entries)[i];
    return ts->name.len >= 0 ? brk_key_str(ts->name, 0) : (brk_key_t){ts->topic_id.b, 16, 1};
}

void brk_handle_delete_topics(brk_req_t *req)
{
    kmsg_delete_topics_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_delete_topics_resp_t resp;
    kmsg_delete_topics_resp_init(&resp);
    bool by_state = req->api_version >= 6;
    int32_t n = by_state ? body->topics_count : body->topic_names_count;
    n = n < 0 ? 0 : n;
    bool *repeated;
    int32_t *first = by_state ? brk_dups(req, body->topics, n, brk__delete_key, &repeated)
                              : brk_dups(req, body->topic_names, n, brk__name_key, &repeated);
    resp.responses = brk_alloc(req, n, sizeof *resp.responses);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* one result per distinct topic */
        }
        kmsg_delete_topics_resp_deletable_topic_result_t *r = &resp.responses[resp.responses_count++];
        kmsg_delete_topics_resp_deletable_topic_result_init(r);
        brk_topic_t *topic;
        if (by_state && body->topics[i].name.len < 0) {
            r->topic_id = body->topics[i].topic_id;
            topic = brk_topic_find_id(brk, r->topic_id);
        } else {
            r->name = by_state ? body->topics[i].name : body->topic_names[i];
            topic = brk_topic_find(brk, r->name);
        }
        if (repeated[i]) { /* Kafka's rule: named twice, deleted never */
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("topic named more than once in one request");
            continue;
        }
        /* A name the principal may not delete fails whether or not it exists. */
        if ((topic || r->name.len >= 0) &&
            brk_authz_req_topic(req, topic ? kproto_str(topic->name) : r->name) != KERR_NONE) {
            r->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
            continue;
        }
        if (!topic) {
            r->error_code = by_state && r->name.len < 0 ? KERR_UNKNOWN_TOPIC_ID
                                                        : KERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        if (!brk->conf.delete_topic_enable) {
            r->error_code = KERR_POLICY_VIOLATION;
            r->error_message = kproto_str("delete.topic.enable is false");
            continue;
        }
        if (topic->adding) {
            r->error_code = KERR_REASSIGNMENT_IN_PROGRESS;
            r->error_message =
                kproto_str("partitions are being added to this topic; retry when they are");
            continue;
        }
        r->name = brk__str_dup(req, topic->name);
        r->topic_id = topic->id;
        r->error_code = (int16_t)brk_topic_delete(brk, topic);
        if (r->error_code == KERR_NONE) {
            brk_offsets_topic_deleted(brk, r->name); /* the groups' offsets of it go too */
        }
    }
    brk_respond(req, &resp);
}

static brk_key_t brk__partitions_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kmsg_create_partitions_req_create_partitions_topic_t *)entries)[i].name,
                       0);
}

typedef struct {
    brk_req_t *req;
    kmsg_create_partitions_resp_t resp;
    int32_t *item; /* per result: its item in the creation batch, or -1 */
} brk_create_parts_t;

static void brk__create_parts_done(brk_create_t *c, void *ctx)
{
    brk_create_parts_t *cp = ctx;
    for (int32_t i = 0; i < cp->resp.results_count; i++) {
        if (cp->item[i] < 0) {
            continue;
        }
        brk_topic_t *topic;
        const char *msg;
        kmsg_create_partitions_resp_create_partitions_topic_result_t *r = &cp->resp.results[i];
        r->error_code = (int16_t)brk_create_result(c, cp->item[i], &topic, &msg);
        r->error_message = msg ? kproto_str(msg) : (kproto_str_t){NULL, -1};
    }
    brk_respond(cp->req, &cp->resp);
}

/* The partitions are created off the loop (create.c); the request is answered when they are. */
/* CreatePartitions' manual assignment (non-null): one replica list per added partition, each
 * valid as in CreateTopics (Kafka: INVALID_REPLICA_ASSIGNMENT otherwise). */
static kerr_t brk__partitions_assignment(
    brk_req_t *req, const kmsg_create_partitions_req_create_partitions_topic_t *ct, int32_t added,
    const char **msg)
{
    if (ct->assignments_count != added) {
        *msg = brk__msg_num(req, "Attempted to add partitions with a manual assignment of %lld "
                            "replica list(s), not one per added partition.",
                            ct->assignments_count);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < added; i++) {
        kerr_t e = brk__assignment_list(req, ct->assignments[i].broker_ids,
                                        ct->assignments[i].broker_ids_count, msg);
        if (e != KERR_NONE) {
            return e;
        }
    }
    return KERR_NONE;
}

void brk_handle_create_partitions(brk_req_t *req)
{
    kmsg_create_partitions_req_t *body = req->body;
    brk_create_parts_t *ctx = brk_alloc(req, 1, sizeof *ctx);
    ctx->req = req;
    kmsg_create_partitions_resp_t *resp = &ctx->resp;
    kmsg_create_partitions_resp_init(resp);
    int32_t n = SL_MAX(body->topics_count, 0);
    bool *repeated;
    int32_t *first = brk_dups(req, body->topics, n, brk__partitions_key, &repeated);
    resp->results = brk_alloc(req, n, sizeof *resp->results);
    ctx->item = brk_alloc(req, n, sizeof *ctx->item);
    brk_create_t *c = brk_create_new(req->brk, brk__create_parts_done, ctx);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* one result per distinct topic */
        }
        kmsg_create_partitions_req_create_partitions_topic_t *ct = &body->topics[i];
        int32_t k = resp->results_count++;
        kmsg_create_partitions_resp_create_partitions_topic_result_t *r = &resp->results[k];
        kmsg_create_partitions_resp_create_partitions_topic_result_init(r);
        r->name = ct->name;
        ctx->item[k] = -1;
        brk_topic_t *topic = brk_topic_find(req->brk, ct->name);
        const char *msg = NULL;
        kerr_t e = KERR_NONE;
        if (repeated[i]) { /* Kafka's rule: named twice, changed never */
            e = KERR_INVALID_REQUEST;
            msg = "topic named more than once in one request";
        } else if (brk_authz_req_topic(req, ct->name) != KERR_NONE) {
            e = KERR_TOPIC_AUTHORIZATION_FAILED;
        } else if (!topic) {
            e = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else {
            e = brk_topic_check_partitions(topic, ct->count, &msg);
            if (e == KERR_NONE && ct->assignments_count >= 0) {
                e = brk__partitions_assignment(req, ct, ct->count - topic->npart, &msg);
            }
            if (e == KERR_NONE && !body->validate_only) {
                e = brk__quota_err(req, brk_create_admit(c, ct->count - topic->npart, &msg), 3);
                if (e == KERR_NONE) {
                    ctx->item[k] = brk_create_parts(c, topic, ct->count);
                }
            }
        }
        r->error_code = (int16_t)e;
        if (msg) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_create_submit(c);
}

/* DESCRIBE_CONFIGS / ALTER_CONFIGS on a topic, or on the cluster for broker resources. */
static kerr_t brk__configs_authz(brk_req_t *req, int8_t type, kproto_str_t name, int op)
{
    if (type == BRK_RESOURCE_TOPIC) {
        return brk_authz_topic(req, op, name);
    }
    if (type == BRK_RESOURCE_BROKER) {
        return brk_authz_cluster(req, op);
    }
    return KERR_NONE;
}

static bool brk__key_wanted(const kmsg_describe_configs_req_describe_configs_resource_t *res,
                            const char *name)
{
    if (res->configuration_keys_count < 0) {
        return true;
    }
    for (int32_t i = 0; i < res->configuration_keys_count; i++) {
        if (kproto_str_eq(res->configuration_keys[i], name)) {
            return true;
        }
    }
    return false;
}

static void brk__describe_topic(brk_req_t *req,
                                const kmsg_describe_configs_req_describe_configs_resource_t *res,
                                brk_topic_t *topic,
                                kmsg_describe_configs_resp_describe_configs_result_t *r)
{
    kmsg_describe_configs_req_t *body = req->body;
    size_t ndefs;
    const brk_tconf_def_t *defs = brk_tconf_defs(&ndefs);
    r->configs = brk_alloc(req, (int32_t)ndefs, sizeof *r->configs);
    int32_t n = 0;
    for (size_t i = 0; i < ndefs; i++) {
        if (!brk__key_wanted(res, defs[i].name)) {
            continue;
        }
        char v[256];
        bool ov;
        brk_tconf_value(req->brk, topic, defs[i].name, v, sizeof v, &ov);
        kmsg_describe_configs_resp_describe_configs_resource_result_t *c = &r->configs[n++];
        kmsg_describe_configs_resp_describe_configs_resource_result_init(c);
        c->name = kproto_str(defs[i].name);
        c->value = brk__str_dup(req, v);
        c->is_default = !ov;
        c->config_source = ov ? BRK_CONFIG_SOURCE_TOPIC : BRK_CONFIG_SOURCE_DEFAULT;
        c->config_type = defs[i].type;
        c->documentation = body->include_documentation ? kproto_str(defs[i].doc)
                                                       : (kproto_str_t){NULL, -1};
        c->synonyms_count = 0;
    }
    r->configs_count = n;
}

static brk_key_t brk__describe_key(const void *entries, int32_t i)
{
    const kmsg_describe_configs_req_describe_configs_resource_t *res =
        &((const kmsg_describe_configs_req_describe_configs_resource_t *)entries)[i];
    return brk_key_str(res->resource_name, (int64_t)res->resource_type * 2);
}

/* Kafka describes only its own broker: the name is empty (the defaults) or its node id. */
static bool brk__dc_is_this_broker(brk_req_t *req, kproto_str_t name)
{
    char id[16];
    int n = snprintf(id, sizeof id, "%d", (int)req->brk->conf.node_id);
    return name.len <= 0 || (name.len == n && memcmp(name.ptr, id, (size_t)n) == 0);
}

void brk_handle_describe_configs(brk_req_t *req)
{
    kmsg_describe_configs_req_t *body = req->body;
    kmsg_describe_configs_resp_t resp;
    kmsg_describe_configs_resp_init(&resp);
    int32_t n = SL_MAX(body->resources_count, 0);
    bool *repeated;
    int32_t *first = brk_dups(req, body->resources, n, brk__describe_key, &repeated);
    resp.results = brk_alloc(req, n, sizeof *resp.results);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* one result per distinct resource */
        }
        kmsg_describe_configs_req_describe_configs_resource_t *res = &body->resources[i];
        kmsg_describe_configs_resp_describe_configs_result_t *r = &resp.results[resp.results_count++];
        kmsg_describe_configs_resp_describe_configs_result_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
        if (repeated[i]) { /* Kafka's rule: each resource at most once per request */
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("resource named more than once in one request");
            continue;
        }
        kerr_t denied = brk__configs_authz(req, res->resource_type, res->resource_name,
                                           BRK_ACL_OP_DESCRIBE_CONFIGS);
        if (denied != KERR_NONE) {
            r->error_code = (int16_t)denied;
            continue;
        }
        if (res->resource_type == BRK_RESOURCE_TOPIC) {
            brk_topic_t *topic = brk_topic_find(req->brk, res->resource_name);
            if (!topic) {
                r->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                r->error_message = kproto_str("unknown topic");
                continue;
            }
            brk__describe_topic(req, res, topic, r);
        } else if (res->resource_type == BRK_RESOURCE_BROKER &&
                   !brk__dc_is_this_broker(req, res->resource_name)) {
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("unexpected broker id: expected this broker's or an "
                                          "empty name");
        } else if (res->resource_type == BRK_RESOURCE_BROKER) {
            /* Broker-level defaults of the topic configs, read-only. */
            brk__describe_topic(req, res, NULL, r);
            for (int32_t c = 0; c < r->configs_count; c++) {
                r->configs[c].read_only = true;
                r->configs[c].config_source = BRK_CONFIG_SOURCE_STATIC_BROKER;
            }
        } else {
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("only topic and broker resources are supported");
        }
    }
    brk_respond(req, &resp);
}

/* Applies one resource's SET/DELETE/APPEND/SUBTRACT operations to a copy of its overrides. */
static brk_key_t brk__alter_op_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kmsg_incremental_alter_configs_req_alterable_config_t *)entries)[i].name,
                       0);
}

/* Before any work: every key a topic config (at most a few dozen) and named once (Kafka:
 * INVALID_REQUEST for duplicate keys), so the operations applied are bounded whatever the
 * request's size. */
static kerr_t brk__alter_ops_check(brk_req_t *req,
                                   const kmsg_incremental_alter_configs_req_alter_configs_resource_t *res,
                                   const char **msg)
{
    size_t ndefs;
    const brk_tconf_def_t *defs = brk_tconf_defs(&ndefs);
    bool *repeated;
    brk_dups(req, res->configs, SL_MAX(res->configs_count, 0), brk__alter_op_key, &repeated);
    for (int32_t i = 0; i < res->configs_count; i++) {
        if (repeated[i]) {
            *msg = "config named more than once for one resource";
            return KERR_INVALID_REQUEST;
        }
        bool known = false;
        for (size_t d = 0; d < ndefs && !known; d++) {
            known = kproto_str_eq(res->configs[i].name, defs[d].name);
        }
        if (!known) {
            *msg = "unknown topic config";
            return KERR_INVALID_CONFIG;
        }
    }
    return KERR_NONE;
}

/* Whether item (len bytes) is one of the comma-separated values of list. */
static bool brk__list_has(const char *list, const char *item, size_t len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && memcmp(p, item, len) == 0) {
            return true;
        }
        p += n + (p[n] == ',');
    }
    return false;
}

/* Adds to out (cap bytes) the values of list that skip (NULL: none) does not name and out
 * does not hold yet; false when out would overflow. */
static bool brk__list_merge(char *out, size_t cap, const char *list, const char *skip)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ","), used = strlen(out);
        if (n > 0 && !(skip && brk__list_has(skip, p, n)) && !brk__list_has(out, p, n)) {
            if (used + n + 2 > cap) {
                return false;
            }
            snprintf(out + used, cap - used, "%s%.*s", used ? "," : "", (int)n, p);
        }
        p += n + (p[n] == ',');
    }
    return true;
}

/* APPEND and SUBTRACT by Kafka's rules: only for LIST configs (else INVALID_CONFIG); the
 * current list is the topic's override or else its effective default; APPEND adds the values
 * not already there, after the others; SUBTRACT removes those named (absent ones: no-op). */
static kerr_t brk__alter_list(brk_t *brk, sl_props_t *next, const char *name, const char *value,
                              bool append, const char **msg)
{
    size_t ndefs;
    const brk_tconf_def_t *defs = brk_tconf_defs(&ndefs);
    bool is_list = false;
    for (size_t d = 0; d < ndefs; d++) {
        is_list = is_list ||
                  (strcmp(defs[d].name, name) == 0 && defs[d].type == BRK_CONFIG_TYPE_LIST);
    }
    if (!is_list) {
        *msg = append ? "config value append is only allowed for list configs"
                      : "config value subtract is only allowed for list configs";
        return KERR_INVALID_CONFIG;
    }
    char cur[1024], out[2048] = "";
    bool ov;
    const char *set = sl_props_get(next, name);
    snprintf(cur, sizeof cur, "%s", set ? set : "");
    if (!set) {
        brk_tconf_value(brk, NULL, name, cur, sizeof cur, &ov);
    }
    if (!brk__list_merge(out, sizeof out, cur, append ? NULL : value) ||
        (append && !brk__list_merge(out, sizeof out, value, NULL))) {
        *msg = "config value too long";
        return KERR_INVALID_CONFIG;
    }
    sl_props_set(next, name, out);
    return KERR_NONE;
}

/* One IncrementalAlterConfigs operation on the copy of a topic's overrides (*next may be
 * replaced). Values are checked afterwards, with the whole set. */
static kerr_t brk__alter_op(brk_t *brk, sl_props_t **next, const char *name, const char *value,
                            const kmsg_incremental_alter_configs_req_alterable_config_t *c,
                            const char **msg)
{
    switch (c->config_operation) {
    case BRK_CONFIG_OP_SET:
        if (c->value.len < 0) {
            *msg = "SET needs a value";
            return KERR_INVALID_CONFIG;
        }
        sl_props_set(*next, name, value);
        return KERR_NONE;
    case BRK_CONFIG_OP_DELETE: { /* back to the default */
        sl_props_t *pruned = sl_props_new();
        for (size_t j = 0; j < sl_props_count(*next); j++) {
            const char *k, *v;
            sl_props_at(*next, j, &k, &v);
            if (strcmp(k, name) != 0) {
                sl_props_set(pruned, k, v);
            }
        }
        sl_props_free(*next);
        *next = pruned;
        return KERR_NONE;
    }
    case BRK_CONFIG_OP_APPEND:
    case BRK_CONFIG_OP_SUBTRACT:
        if (c->value.len < 0) {
            *msg = "APPEND and SUBTRACT need a value";
            return KERR_INVALID_CONFIG;
        }
        return brk__alter_list(brk, *next, name, value, c->config_operation == BRK_CONFIG_OP_APPEND,
                               msg);
    default:
        *msg = "unknown config operation";
        return KERR_INVALID_REQUEST;
    }
}

static kerr_t brk__alter_topic(brk_req_t *req, brk_topic_t *topic,
                               const kmsg_incremental_alter_configs_req_alter_configs_resource_t *res,
                               bool validate_only, const char **msg)
{
    kerr_t checked = brk__alter_ops_check(req, res, msg);
    if (checked != KERR_NONE) {
        return checked;
    }
    sl_props_t *next = sl_props_new();
    for (size_t i = 0; i < sl_props_count(topic->overrides); i++) {
        const char *k, *v;
        sl_props_at(topic->overrides, i, &k, &v);
        sl_props_set(next, k, v);
    }
    for (int32_t i = 0; i < res->configs_count; i++) {
        const kmsg_incremental_alter_configs_req_alterable_config_t *c = &res->configs[i];
        char name[256], value[1024];
        if (c->name.len <= 0 || c->name.len >= (int32_t)sizeof name ||
            c->value.len >= (int32_t)sizeof value) {
            *msg = "config name missing or too long";
            sl_props_free(next);
            return KERR_INVALID_CONFIG;
        }
        snprintf(name, sizeof name, "%.*s", c->name.len, c->name.ptr);
        snprintf(value, sizeof value, "%.*s", c->value.len > 0 ? c->value.len : 0,
                 c->value.len > 0 ? c->value.ptr : "");
        kerr_t e = brk__alter_op(req->brk, &next, name, value, c, msg);
        if (e != KERR_NONE) {
            sl_props_free(next);
            return e;
        }
    }
    return brk_topic_set_configs(req->brk, topic, next, validate_only, msg);
}

/* Applies one resource's change to its topic (res: the API's resource entry). */
typedef kerr_t (*brk__apply_fn)(brk_req_t *req, brk_topic_t *topic, const void *res,
                                bool validate_only, const char **msg);

/* The outcome of AlterConfigs or IncrementalAlterConfigs for one resource: authorized, a
 * topic (broker settings are not alterable) that exists, then apply's. */
static kerr_t brk__alter_resource(brk_req_t *req, int8_t type, kproto_str_t name,
                                  brk__apply_fn apply, const void *res, bool validate_only,
                                  const char **msg)
{
    kerr_t denied = brk__configs_authz(req, type, name, BRK_ACL_OP_ALTER_CONFIGS);
    if (denied != KERR_NONE) {
        return denied;
    }
    if (type != BRK_RESOURCE_TOPIC) {
        *msg = "only topic configs can be altered; broker settings live in the properties file";
        return KERR_INVALID_REQUEST;
    }
    brk_topic_t *topic = brk_topic_find(req->brk, name);
    if (!topic) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return apply(req, topic, res, validate_only, msg);
}

static kerr_t brk__ialter_apply(brk_req_t *req, brk_topic_t *topic, const void *res,
                                bool validate_only, const char **msg)
{
    return brk__alter_topic(req, topic, res, validate_only, msg);
}

static brk_key_t brk__ialter_key(const void *entries, int32_t i)
{
    const kmsg_incremental_alter_configs_req_alter_configs_resource_t *res =
        &((const kmsg_incremental_alter_configs_req_alter_configs_resource_t *)entries)[i];
    return brk_key_str(res->resource_name, (int64_t)res->resource_type * 2);
}

void brk_handle_incremental_alter_configs(brk_req_t *req)
{
    kmsg_incremental_alter_configs_req_t *body = req->body;
    kmsg_incremental_alter_configs_resp_t resp;
    kmsg_incremental_alter_configs_resp_init(&resp);
    int32_t n = SL_MAX(body->resources_count, 0);
    bool *repeated;
    int32_t *first = brk_dups(req, body->resources, n, brk__ialter_key, &repeated);
    resp.responses = brk_alloc(req, n, sizeof *resp.responses);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* one result per distinct resource */
        }
        kmsg_incremental_alter_configs_req_alter_configs_resource_t *res = &body->resources[i];
        kmsg_incremental_alter_configs_resp_alter_configs_resource_response_t *r = &resp.responses[resp.responses_count++];
        kmsg_incremental_alter_configs_resp_alter_configs_resource_response_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
        if (repeated[i]) { /* Kafka's rule: each resource at most once per request */
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("resource named more than once in one request");
            continue;
        }
        const char *msg = NULL;
        r->error_code = (int16_t)brk__alter_resource(req, res->resource_type, res->resource_name,
                                                     brk__ialter_apply, res,
                                                     body->validate_only, &msg);
        if (msg && r->error_code != KERR_NONE) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_respond(req, &resp);
}

/* AlterConfigs (v0-2, Kafka's older API, still what librdkafka 2.0 speaks): replaces a
 * topic's whole set of overrides. */
static kerr_t brk__replace_apply(brk_req_t *req, brk_topic_t *topic, const void *entry,
                                 bool validate_only, const char **msg)
{
    const kmsg_alter_configs_req_alter_configs_resource_t *res = entry;
    sl_props_t *next = sl_props_new();
    for (int32_t c = 0; c < res->configs_count; c++) {
        if (!brk__kv_set(next, res->configs[c].name, res->configs[c].value, msg)) {
            sl_props_free(next);
            return KERR_INVALID_CONFIG;
        }
    }
    return brk_topic_set_configs(req->brk, topic, next, validate_only, msg);
}

static brk_key_t brk__alter_key(const void *entries, int32_t i)
{
    const kmsg_alter_configs_req_alter_configs_resource_t *res =
        &((const kmsg_alter_configs_req_alter_configs_resource_t *)entries)[i];
    return brk_key_str(res->resource_name, (int64_t)res->resource_type * 2);
}

void brk_handle_alter_configs(brk_req_t *req)
{
    kmsg_alter_configs_req_t *body = req->body;
    kmsg_alter_configs_resp_t resp;
    kmsg_alter_configs_resp_init(&resp);
    int32_t n = SL_MAX(body->resources_count, 0);
    bool *repeated;
    int32_t *first = brk_dups(req, body->resources, n, brk__alter_key, &repeated);
    resp.responses = brk_alloc(req, n, sizeof *resp.responses);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* one result per distinct resource */
        }
        kmsg_alter_configs_req_alter_configs_resource_t *res = &body->resources[i];
        kmsg_alter_configs_resp_alter_configs_resource_response_t *r = &resp.responses[resp.responses_count++];
        kmsg_alter_configs_resp_alter_configs_resource_response_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
        if (repeated[i]) { /* Kafka's rule: each resource at most once per request */
            r->error_code = KERR_INVALID_REQUEST;
            r->error_message = kproto_str("resource named more than once in one request");
            continue;
        }
        const char *msg = NULL;
        r->error_code = (int16_t)brk__alter_resource(req, res->resource_type, res->resource_name,
                                                     brk__replace_apply, res,
                                                     body->validate_only, &msg);
        if (msg && r->error_code != KERR_NONE) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_respond(req, &resp);
}
