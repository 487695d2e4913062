/* Topic administration: CreateTopics (v0-7), DeleteTopics (v0-6), CreatePartitions (v0-3),
 * DescribeConfigs (v0-4), AlterConfigs (v0-2) and IncrementalAlterConfigs (v0-1) for topic
 * resources. Broker
 * resources are described (read-only); altering them is refused with a clear message. */
#include "brk_acl.h"
#include "brk_internal.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK_RESOURCE_TOPIC 2
#define BRK_RESOURCE_BROKER 4
#define BRK_CONFIG_SOURCE_TOPIC 1
#define BRK_CONFIG_SOURCE_STATIC_BROKER 4
#define BRK_CONFIG_SOURCE_DEFAULT 5

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

static void brk__create_one(brk_req_t *req, const kmsg_create_topics_req_creatable_topic_t *ct,
                            kmsg_create_topics_resp_creatable_topic_result_t *tr)
{
    kmsg_create_topics_req_t *body = req->body;
    const char *msg = NULL;
    tr->name = ct->name;
    kerr_t e = KERR_NONE;
    sl_props_t *props = sl_props_new();
    if (ct->replication_factor != -1 && ct->replication_factor != 1) {
        e = KERR_INVALID_REPLICATION_FACTOR;
        msg = "replication factor must be 1 (or -1) on a single-node broker";
    } else if (ct->assignments_count > 0) {
        e = KERR_INVALID_REPLICA_ASSIGNMENT;
        msg = "manual replica assignment is not supported on a single-node broker";
    } else if (!brk__configs_to_props(ct, props, &msg)) {
        e = KERR_INVALID_CONFIG;
    } else {
        e = brk_topic_create(req->brk, ct->name, ct->num_partitions, props, body->validate_only,
                             &msg);
    }
    sl_props_free(props);
    tr->error_code = (int16_t)e;
    if (e != KERR_NONE) {
        tr->error_message = msg ? kproto_str(msg) : (kproto_str_t){NULL, -1};
        tr->num_partitions = -1;
        tr->replication_factor = -1;
        SL_LOGI("admin", "create topic %.*s refused: %s (%s)", ct->name.len > 0 ? ct->name.len : 0,
                ct->name.ptr ? ct->name.ptr : "", kerr_name(tr->error_code), msg ? msg : "");
        return;
    }
    brk_topic_t *topic = brk_topic_find(req->brk, ct->name);
    tr->num_partitions = topic ? topic->npart
                               : (ct->num_partitions == -1 ? req->brk->conf.num_partitions
                                                           : ct->num_partitions);
    tr->replication_factor = 1;
    if (topic) {
        tr->topic_id = topic->id;
    }
    /* v5+: the topic's effective configs, for a principal that may describe them. */
    if (brk_authz_topic(req, BRK_ACL_OP_DESCRIBE_CONFIGS, ct->name) != KERR_NONE) {
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

void brk_handle_create_topics(brk_req_t *req)
{
    kmsg_create_topics_req_t *body = req->body;
    kmsg_create_topics_resp_t resp;
    kmsg_create_topics_resp_init(&resp);
    resp.topics_count = body->topics_count < 0 ? 0 : body->topics_count;
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    bool cluster_create = brk_authz_cluster(req, BRK_ACL_OP_CREATE) == KERR_NONE;
    for (int32_t i = 0; i < resp.topics_count; i++) {
        kmsg_create_topics_resp_creatable_topic_result_init(&resp.topics[i]);
        bool dup = false;
        for (int32_t j = 0; j < i && !dup; j++) {
            dup = body->topics[j].name.len == body->topics[i].name.len &&
                  memcmp(body->topics[j].name.ptr, body->topics[i].name.ptr,
                         (size_t)SL_MAX(body->topics[i].name.len, 0)) == 0;
        }
        if (dup) {
            resp.topics[i].name = body->topics[i].name;
            resp.topics[i].error_code = KERR_INVALID_REQUEST;
            resp.topics[i].error_message = kproto_str("topic named twice in one request");
            continue;
        }
        /* CREATE on the cluster covers every topic; else CREATE on each topic. */
        if (!cluster_create &&
            brk_authz_req_topic(req, body->topics[i].name) != KERR_NONE) {
            resp.topics[i].name = body->topics[i].name;
            resp.topics[i].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
            resp.topics[i].num_partitions = -1;
            resp.topics[i].replication_factor = -1;
            continue;
        }
        brk__create_one(req, &body->topics[i], &resp.topics[i]);
    }
    brk_respond(req, &resp);
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
    resp.responses_count = n;
    resp.responses = brk_alloc(req, n, sizeof *resp.responses);
    for (int32_t i = 0; i < n; i++) {
        kmsg_delete_topics_resp_deletable_topic_result_t *r = &resp.responses[i];
        kmsg_delete_topics_resp_deletable_topic_result_init(r);
        brk_topic_t *topic;
        if (by_state && body->topics[i].name.len < 0) {
            r->topic_id = body->topics[i].topic_id;
            topic = brk_topic_find_id(brk, r->topic_id);
        } else {
            r->name = by_state ? body->topics[i].name : body->topic_names[i];
            topic = brk_topic_find(brk, r->name);
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
        r->name = brk__str_dup(req, topic->name);
        r->topic_id = topic->id;
        r->error_code = (int16_t)brk_topic_delete(brk, topic);
    }
    brk_respond(req, &resp);
}

void brk_handle_create_partitions(brk_req_t *req)
{
    kmsg_create_partitions_req_t *body = req->body;
    kmsg_create_partitions_resp_t resp;
    kmsg_create_partitions_resp_init(&resp);
    resp.results_count = body->topics_count < 0 ? 0 : body->topics_count;
    resp.results = brk_alloc(req, resp.results_count, sizeof *resp.results);
    for (int32_t i = 0; i < resp.results_count; i++) {
        kmsg_create_partitions_req_create_partitions_topic_t *ct = &body->topics[i];
        kmsg_create_partitions_resp_create_partitions_topic_result_t *r = &resp.results[i];
        kmsg_create_partitions_resp_create_partitions_topic_result_init(r);
        r->name = ct->name;
        brk_topic_t *topic = brk_topic_find(req->brk, ct->name);
        const char *msg = NULL;
        if (brk_authz_req_topic(req, ct->name) != KERR_NONE) {
            r->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        } else if (!topic) {
            r->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else if (ct->assignments_count > 0) {
            r->error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
            msg = "manual replica assignment is not supported on a single-node broker";
        } else {
            r->error_code = (int16_t)brk_topic_add_partitions(req->brk, topic, ct->count,
                                                              body->validate_only, &msg);
        }
        if (msg) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_respond(req, &resp);
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

typedef kmsg_describe_configs_req_describe_configs_resource_t brk_dc_res_t;

/* Orders resource indexes by (type, name, index). */
static int brk__dc_cmp(const void *a, const void *b, void *ctx)
{
    const brk_dc_res_t *res = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const brk_dc_res_t *x = &res[i], *y = &res[j];
    if (x->resource_type != y->resource_type) {
        return x->resource_type < y->resource_type ? -1 : 1;
    }
    int32_t n = SL_MIN(SL_MAX(x->resource_name.len, 0), SL_MAX(y->resource_name.len, 0));
    int c = n > 0 ? memcmp(x->resource_name.ptr, y->resource_name.ptr, (size_t)n) : 0;
    if (c != 0) {
        return c;
    }
    if (x->resource_name.len != y->resource_name.len) {
        return x->resource_name.len < y->resource_name.len ? -1 : 1;
    }
    return i < j ? -1 : (i > j ? 1 : 0);
}

/* Marks in dup[] every resource that repeats an earlier one (same type and name): Kafka keys
 * the answer by resource, so a resource is described once however often it is named. */
static void brk__dc_dups(brk_req_t *req, const brk_dc_res_t *res, int32_t n, bool *dup)
{
    int32_t *order = brk_alloc(req, n, sizeof *order);
    for (int32_t i = 0; i < n; i++) {
        order[i] = i;
        dup[i] = false;
    }
    if (n > 1) {
        qsort_r(order, (size_t)n, sizeof *order, brk__dc_cmp, (void *)res);
    }
    for (int32_t k = 1; k < n; k++) {
        const brk_dc_res_t *x = &res[order[k - 1]], *y = &res[order[k]];
        int32_t len = x->resource_name.len;
        dup[order[k]] = x->resource_type == y->resource_type && len == y->resource_name.len &&
                        (len <= 0 || memcmp(x->resource_name.ptr, y->resource_name.ptr,
                                            (size_t)len) == 0);
    }
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
    int32_t nres = body->resources_count < 0 ? 0 : body->resources_count;
    bool *dup = brk_alloc(req, nres, sizeof *dup);
    brk__dc_dups(req, body->resources, nres, dup);
    resp.results = brk_alloc(req, nres, sizeof *resp.results);
    for (int32_t i = 0; i < nres; i++) {
        if (dup[i]) {
            continue;
        }
        kmsg_describe_configs_req_describe_configs_resource_t *res = &body->resources[i];
        kmsg_describe_configs_resp_describe_configs_result_t *r = &resp.results[resp.results_count++];
        kmsg_describe_configs_resp_describe_configs_result_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
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
static kerr_t brk__alter_topic(brk_req_t *req, brk_topic_t *topic,
                               const kmsg_incremental_alter_configs_req_alter_configs_resource_t *res,
                               bool validate_only, const char **msg)
{
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
        if (c->config_operation == 0 && c->value.len >= 0) { /* SET */
            sl_props_set(next, name, value);
        } else if (c->config_operation == 1) { /* DELETE: back to the default */
            sl_props_t *pruned = sl_props_new();
            for (size_t j = 0; j < sl_props_count(next); j++) {
                const char *k, *v;
                sl_props_at(next, j, &k, &v);
                if (strcmp(k, name) != 0) {
                    sl_props_set(pruned, k, v);
                }
            }
            sl_props_free(next);
            next = pruned;
        } else {
            *msg = "only SET (with a value) and DELETE are supported for topic configs";
            sl_props_free(next);
            return KERR_INVALID_CONFIG;
        }
    }
    return brk_topic_set_configs(req->brk, topic, next, validate_only, msg);
}

void brk_handle_incremental_alter_configs(brk_req_t *req)
{
    kmsg_incremental_alter_configs_req_t *body = req->body;
    kmsg_incremental_alter_configs_resp_t resp;
    kmsg_incremental_alter_configs_resp_init(&resp);
    resp.responses_count = body->resources_count < 0 ? 0 : body->resources_count;
    resp.responses = brk_alloc(req, resp.responses_count, sizeof *resp.responses);
    for (int32_t i = 0; i < resp.responses_count; i++) {
        kmsg_incremental_alter_configs_req_alter_configs_resource_t *res = &body->resources[i];
        kmsg_incremental_alter_configs_resp_alter_configs_resource_response_t *r = &resp.responses[i];
        kmsg_incremental_alter_configs_resp_alter_configs_resource_response_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
        const char *msg = NULL;
        kerr_t denied = brk__configs_authz(req, res->resource_type, res->resource_name,
                                           BRK_ACL_OP_ALTER_CONFIGS);
        if (denied != KERR_NONE) {
            r->error_code = (int16_t)denied;
        } else if (res->resource_type != BRK_RESOURCE_TOPIC) {
            r->error_code = KERR_INVALID_REQUEST;
            msg = "only topic configs can be altered; broker settings live in the properties file";
        } else {
            brk_topic_t *topic = brk_topic_find(req->brk, res->resource_name);
            r->error_code = topic ? (int16_t)brk__alter_topic(req, topic, res, body->validate_only, &msg)
                                  : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
        if (msg && r->error_code != KERR_NONE) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_respond(req, &resp);
}

/* AlterConfigs (v0-2, Kafka's older API, still what librdkafka 2.0 speaks): replaces a
 * topic's whole set of overrides. */
void brk_handle_alter_configs(brk_req_t *req)
{
    kmsg_alter_configs_req_t *body = req->body;
    kmsg_alter_configs_resp_t resp;
    kmsg_alter_configs_resp_init(&resp);
    resp.responses_count = SL_MAX(body->resources_count, 0);
    resp.responses = brk_alloc(req, resp.responses_count, sizeof *resp.responses);
    for (int32_t i = 0; i < resp.responses_count; i++) {
        kmsg_alter_configs_req_alter_configs_resource_t *res = &body->resources[i];
        kmsg_alter_configs_resp_alter_configs_resource_response_t *r = &resp.responses[i];
        kmsg_alter_configs_resp_alter_configs_resource_response_init(r);
        r->resource_type = res->resource_type;
        r->resource_name = res->resource_name;
        const char *msg = NULL;
        brk_topic_t *topic = brk_topic_find(req->brk, res->resource_name);
        kerr_t denied = brk__configs_authz(req, res->resource_type, res->resource_name,
                                           BRK_ACL_OP_ALTER_CONFIGS);
        if (denied != KERR_NONE) {
            r->error_code = (int16_t)denied;
        } else if (res->resource_type != BRK_RESOURCE_TOPIC) {
            r->error_code = KERR_INVALID_REQUEST;
            msg = "only topic configs can be altered; broker settings live in the properties file";
        } else if (!topic) {
            r->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else {
            sl_props_t *next = sl_props_new();
            bool ok = true;
            for (int32_t c = 0; ok && c < res->configs_count; c++) {
                ok = brk__kv_set(next, res->configs[c].name, res->configs[c].value, &msg);
            }
            if (!ok) {
                sl_props_free(next);
                r->error_code = KERR_INVALID_CONFIG;
            } else {
                r->error_code = (int16_t)brk_topic_set_configs(req->brk, topic, next,
                                                               body->validate_only, &msg);
            }
        }
        if (msg && r->error_code != KERR_NONE) {
            r->error_message = kproto_str(msg);
        }
    }
    brk_respond(req, &resp);
}
