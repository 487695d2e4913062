/* Authorization for the request handlers (the checks KafkaApis makes, see docs/broker.md "ACLs") and
 * the ACL APIs: DescribeAcls (v0-3), CreateAcls (v0-3), DeleteAcls (v0-3). Authorization is on
 * only when authorizer.class.name is set (Kafka's rule); then every check goes to the store
 * in acl.c. The ACL APIs answer SECURITY_DISABLED without an authorizer and need DESCRIBE
 * (describe) or ALTER (create, delete) on the cluster, as in Kafka. */
#include "brk_acl.h"
#include "brk_auth.h"
#include "brk_authz.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_req.h"
#include "kerr.h"
#include "sl_log.h"

#include <stdio.h>
#include <string.h>

int brk_authz_open(brk_t *brk, char *err, size_t err_len)
{
    if (!brk->conf.authorizer) {
        if (brk->conf.super_users[0]) {
            SL_LOGW("acl", "super.users is set but authorizer.class.name is not: no ACLs apply");
        }
        return 0;
    }
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/acls.txt", brk->conf.data_dir);
    int rc = brk_acl_new(path, BRK_ACLS_MAX, &brk->acl, err, err_len);
    if (rc == 0) {
        rc = brk_acl_set_policy(brk->acl, brk->conf.super_users, brk->conf.allow_if_no_acl, err,
                                err_len);
    }
    if (rc == 0) {
        SL_LOGI("acl",
                "authorizer on: %zu ACL binding(s) from %s; allow.everyone.if.no.acl.found=%s",
                brk_acl_count(brk->acl), path, brk->conf.allow_if_no_acl ? "true" : "false");
    }
    return rc;
}

void brk_authz_close(brk_t *brk)
{
    brk_acl_free(brk->acl);
    brk->acl = NULL;
}

void brk_authz_init(brk_req_t *req, snet_conn_t *conn)
{
    if (!req->brk->acl) {
        return;
    }
    req->principal = kproto_str_dup(req->arena, kproto_str(brk_conn_principal(conn)));
    const char *colon = strrchr(req->peer, ':');
    size_t n = colon ? (size_t)(colon - req->peer) : strlen(req->peer);
    req->host = kproto_str_dup(req->arena, (kproto_str_t){req->peer, (int32_t)n});
}

bool brk_authz(brk_req_t *req, int op, int res_type, kproto_str_t name)
{
    if (!req->brk->acl) {
        return true;
    }
    return brk_acl_authorize(req->brk->acl, req->principal, req->host, (brk_acl_op_t)op,
                             (brk_acl_res_t)res_type, name);
}

kerr_t brk_authz_topic(brk_req_t *req, int op, kproto_str_t topic)
{
    return brk_authz(req, op, BRK_ACL_RES_TOPIC, topic) ? KERR_NONE
                                                         : KERR_TOPIC_AUTHORIZATION_FAILED;
}

kerr_t brk_authz_group(brk_req_t *req, int op, kproto_str_t group)
{
    return brk_authz(req, op, BRK_ACL_RES_GROUP, group) ? KERR_NONE
                                                         : KERR_GROUP_AUTHORIZATION_FAILED;
}

/* The operation each API needs on the topics and on the group it names (Kafka's KafkaApis;
 * docs/broker.md "ACLs" has the whole table, with the checks that depend on more than the API:
 * CreateTopics' CREATE on the cluster, configs, Metadata's auto-create, ListGroups). */
typedef struct {
    int8_t topic_op, group_op;
} brk_authz_rule_t;

static const brk_authz_rule_t brk__rules[KMSG_API_KEY_MAX + 1] = {
    [KAPI_PRODUCE] = {BRK_ACL_OP_WRITE, 0},
    [KAPI_FETCH] = {BRK_ACL_OP_READ, 0},
    [KAPI_LIST_OFFSETS] = {BRK_ACL_OP_DESCRIBE, 0},
    [KAPI_METADATA] = {BRK_ACL_OP_DESCRIBE, 0},
    [KAPI_CREATE_TOPICS] = {BRK_ACL_OP_CREATE, 0},
    [KAPI_DELETE_TOPICS] = {BRK_ACL_OP_DELETE, 0},
    [KAPI_DELETE_RECORDS] = {BRK_ACL_OP_DELETE, 0},
    [KAPI_CREATE_PARTITIONS] = {BRK_ACL_OP_ALTER, 0},
    [KAPI_OFFSET_COMMIT] = {BRK_ACL_OP_READ, BRK_ACL_OP_READ},
    [KAPI_OFFSET_FETCH] = {BRK_ACL_OP_DESCRIBE, BRK_ACL_OP_DESCRIBE},
    [KAPI_FIND_COORDINATOR] = {0, BRK_ACL_OP_DESCRIBE},
    [KAPI_JOIN_GROUP] = {0, BRK_ACL_OP_READ},
    [KAPI_SYNC_GROUP] = {0, BRK_ACL_OP_READ},
    [KAPI_HEARTBEAT] = {0, BRK_ACL_OP_READ},
    [KAPI_LEAVE_GROUP] = {0, BRK_ACL_OP_READ},
    [KAPI_DESCRIBE_GROUPS] = {0, BRK_ACL_OP_DESCRIBE},
    [KAPI_LIST_GROUPS] = {0, BRK_ACL_OP_DESCRIBE},
    [KAPI_DELETE_GROUPS] = {0, BRK_ACL_OP_DELETE},
    [KAPI_OFFSET_DELETE] = {BRK_ACL_OP_READ, BRK_ACL_OP_DELETE},
    [KAPI_DESCRIBE_PRODUCERS] = {BRK_ACL_OP_READ, 0},
};

kerr_t brk_authz_req_topic(brk_req_t *req, kproto_str_t topic)
{
    int op = brk__rules[req->api_key].topic_op;
    SL_ASSERT(op != 0); /* a handler checking a topic its API has no rule for */
    return brk_authz_topic(req, op, topic);
}

kerr_t brk_authz_req_group(brk_req_t *req, kproto_str_t group)
{
    int op = brk__rules[req->api_key].group_op;
    SL_ASSERT(op != 0);
    return brk_authz_group(req, op, group);
}

kerr_t brk_authz_cluster(brk_req_t *req, int op)
{
    return brk_authz(req, op, BRK_ACL_RES_CLUSTER, kproto_str(BRK_ACL_CLUSTER_NAME))
               ? KERR_NONE
               : KERR_CLUSTER_AUTHORIZATION_FAILED;
}

/* Kafka 3 (KIP-679): IDEMPOTENT_WRITE on the cluster, or WRITE on any topic. */
kerr_t brk_authz_idempotent_write(brk_req_t *req)
{
    if (brk_authz_cluster(req, BRK_ACL_OP_IDEMPOTENT_WRITE) == KERR_NONE ||
        brk_acl_authorize_any(req->brk->acl, req->principal, req->host, BRK_ACL_OP_WRITE,
                              BRK_ACL_RES_TOPIC)) {
        return KERR_NONE;
    }
    return KERR_CLUSTER_AUTHORIZATION_FAILED;
}

int32_t brk_authz_ops(brk_req_t *req, int res_type, kproto_str_t name)
{
    uint32_t ops = brk_acl_res_ops(res_type);
    int32_t out = 0;
    for (int op = BRK_ACL_OP_READ; op <= BRK_ACL_OP_MAX; op++) {
        if ((ops & (1u << op)) && brk_authz(req, op, res_type, name)) {
            out |= (int32_t)(1u << op);
        }
    }
    return out;
}

/* ---- the ACL APIs ---- */

/* SECURITY_DISABLED without an authorizer, CLUSTER_AUTHORIZATION_FAILED without op on the
 * cluster. */
static kerr_t brk__acl_gate(brk_req_t *req, int op, const char **msg)
{
    *msg = NULL;
    if (!req->brk->acl) {
        *msg = "No Authorizer is configured on the broker";
        return KERR_SECURITY_DISABLED;
    }
    kerr_t e = brk_authz_cluster(req, op);
    if (e != KERR_NONE) {
        static sl_log_rate_t rl;
        sl_esc_t esc;
        sl_log_rl(&rl, SL_LOG_INFO, "acl", "%s: %s may not %s the cluster's ACLs", req->peer,
                  sl_esc_str(&esc, req->principal), op == BRK_ACL_OP_ALTER ? "alter" : "describe");
    }
    return e;
}

static kproto_str_t brk__opt(const char *msg)
{
    return msg ? kproto_str(msg) : (kproto_str_t){NULL, -1};
}

typedef struct {
    brk_req_t *req;
    kmsg_describe_acls_resp_t *resp;
    kmsg_describe_acls_resp_acl_description_t *acls;
    int32_t n;
} brk_describe_ctx_t;

/* Appends a binding; bindings of one resource pattern come consecutively (brk_acl_find). */
static void brk__describe_visit(void *ctx, const brk_acl_binding_t *b)
{
    brk_describe_ctx_t *dc = ctx;
    kmsg_describe_acls_resp_t *resp = dc->resp;
    kmsg_describe_acls_resp_describe_acls_resource_t *res =
        resp->resources_count > 0 ? &resp->resources[resp->resources_count - 1] : NULL;
    if (!res || res->resource_type != b->res_type || res->pattern_type != b->pattern ||
        res->resource_name.ptr != b->name.ptr) {
        res = &resp->resources[resp->resources_count++];
        kmsg_describe_acls_resp_describe_acls_resource_init(res);
        res->resource_type = b->res_type;
        res->resource_name = b->name;
        res->pattern_type = b->pattern;
        res->acls = &dc->acls[dc->n];
        res->acls_count = 0;
    }
    kmsg_describe_acls_resp_acl_description_t *d = &dc->acls[dc->n++];
    kmsg_describe_acls_resp_acl_description_init(d);
    d->principal = b->principal;
    d->host = b->host;
    d->operation = b->op;
    d->permission_type = b->perm;
    res->acls_count++;
}

static void brk__count_visit(void *ctx, const brk_acl_binding_t *b)
{
    SL_UNUSED(b);
    (*(int32_t *)ctx)++;
}

void brk_handle_describe_acls(brk_req_t *req)
{
    kmsg_describe_acls_req_t *body = req->body;
    kmsg_describe_acls_resp_t resp;
    kmsg_describe_acls_resp_init(&resp);
    resp.resources_count = 0;
    const char *msg;
    kerr_t e = brk__acl_gate(req, BRK_ACL_OP_DESCRIBE, &msg);
    brk_acl_binding_t f = {body->resource_type_filter, body->pattern_type_filter,
                           body->resource_name_filter, body->principal_filter, body->host_filter,
                           body->operation, body->permission_type};
    if (e == KERR_NONE) {
        e = brk_acl_filter_check(&f, &msg);
    }
    if (e != KERR_NONE) {
        resp.error_code = (int16_t)e;
        resp.error_message = brk__opt(msg);
        brk_respond(req, &resp);
        return;
    }
    /* The strings point into the store, which does not change before the response is
     * encoded (brk_respond encodes at once). */
    int32_t n = 0;
    brk_acl_find(req->brk->acl, &f, brk__count_visit, &n);
    brk_describe_ctx_t dc = {req, &resp, brk_alloc(req, n, sizeof *dc.acls), 0};
    resp.resources = brk_alloc(req, n, sizeof *resp.resources);
    brk_acl_find(req->brk->acl, &f, brk__describe_visit, &dc);
    brk_respond(req, &resp);
}

static void brk__log_binding(brk_req_t *req, const char *verb, const brk_acl_binding_t *b)
{
    sl_esc_t e1, e2, e3, e4;
    SL_LOGI("acl", "%s %s: %s %s %s %s from %s %s %s",
            sl_esc(&e4, req->principal, (long)strlen(req->principal)), verb,
            brk_acl_res_name(b->res_type), brk_acl_pat_name(b->pattern),
            sl_esc(&e1, b->name.ptr, b->name.len), sl_esc(&e2, b->principal.ptr, b->principal.len),
            sl_esc(&e3, b->host.ptr, b->host.len), brk_acl_op_name(b->op),
            brk_acl_perm_name(b->perm));
}

static brk_acl_binding_t brk__creation(const kmsg_create_acls_req_acl_creation_t *c)
{
    brk_acl_binding_t b = {c->resource_type, c->resource_pattern_type, c->resource_name,
                           c->principal, c->host, c->operation, c->permission_type};
    return b;
}

void brk_handle_create_acls(brk_req_t *req)
{
    kmsg_create_acls_req_t *body = req->body;
    kmsg_create_acls_resp_t resp;
    kmsg_create_acls_resp_init(&resp);
    resp.results_count = SL_MAX(body->creations_count, 0);
    resp.results = brk_alloc(req, resp.results_count, sizeof *resp.results);
    bool *added = brk_alloc(req, resp.results_count, sizeof *added);
    const char *gate_msg;
    kerr_t gate = brk__acl_gate(req, BRK_ACL_OP_ALTER, &gate_msg);
    int32_t nadded = 0;
    for (int32_t i = 0; i < resp.results_count; i++) {
        kmsg_create_acls_resp_acl_creation_result_t *r = &resp.results[i];
        kmsg_create_acls_resp_acl_creation_result_init(r);
        brk_acl_binding_t b = brk__creation(&body->creations[i]);
        const char *msg = gate_msg;
        kerr_t e = gate != KERR_NONE ? gate : brk_acl_binding_check(&b, &msg);
        if (e == KERR_NONE && brk_acl_add(req->brk->acl, &b, &added[i]) != 0) {
            e = KERR_POLICY_VIOLATION;
            msg = "the broker holds the most ACL bindings it may (BRK_ACLS_MAX)";
        }
        r->error_code = (int16_t)e;
        r->error_message = brk__opt(e != KERR_NONE ? msg : NULL);
        if (e == KERR_INVALID_REQUEST || e == KERR_POLICY_VIOLATION) {
            static sl_log_rate_t rl;
            sl_log_rl(&rl, SL_LOG_WARN, "acl", "%s: create ACL refused: %s (%s)", req->peer,
                      kerr_name(r->error_code), msg);
        }
        nadded += added[i] ? 1 : 0;
    }
    int rc = nadded > 0 ? brk_acl_save(req->brk->acl) : 0;
    for (int32_t i = 0; i < resp.results_count; i++) {
        if (!added[i]) {
            continue;
        }
        brk_acl_binding_t b = brk__creation(&body->creations[i]);
        if (rc == 0) {
            brk__log_binding(req, "added", &b);
            continue;
        }
        /* Not durable: undo, so memory never holds a rule the file does not. */
        brk_acl_remove(req->brk->acl, &b, NULL, NULL);
        resp.results[i].error_code = KERR_UNKNOWN_SERVER_ERROR;
        resp.results[i].error_message = kproto_str("cannot write acls.txt in the data dir");
    }
    brk_respond(req, &resp);
}

/* Copies a matching binding into the filter result (the store frees its strings on delete). */
typedef struct {
    brk_req_t *req;
    kmsg_delete_acls_resp_delete_acls_filter_result_t *fr;
} brk_delete_ctx_t;

static void brk__delete_visit(void *ctx, const brk_acl_binding_t *b)
{
    brk_delete_ctx_t *dc = ctx;
    kmsg_delete_acls_resp_delete_acls_matching_acl_t *m =
        &dc->fr->matching_acls[dc->fr->matching_acls_count++];
    kmsg_delete_acls_resp_delete_acls_matching_acl_init(m);
    m->resource_type = b->res_type;
    m->pattern_type = b->pattern;
    m->resource_name = kproto_str(kproto_str_dup(dc->req->arena, b->name));
    m->principal = kproto_str(kproto_str_dup(dc->req->arena, b->principal));
    m->host = kproto_str(kproto_str_dup(dc->req->arena, b->host));
    m->operation = b->op;
    m->permission_type = b->perm;
}

static brk_acl_binding_t brk__delete_filter(const kmsg_delete_acls_req_delete_acls_filter_t *df)
{
    brk_acl_binding_t f = {df->resource_type_filter, df->pattern_type_filter,
                           df->resource_name_filter, df->principal_filter, df->host_filter,
                           df->operation, df->permission_type};
    return f;
}

static brk_acl_binding_t
brk__matching_binding(const kmsg_delete_acls_resp_delete_acls_matching_acl_t *m)
{
    brk_acl_binding_t b = {m->resource_type, m->pattern_type, m->resource_name, m->principal,
                           m->host, m->operation, m->permission_type};
    return b;
}

/* Every filter's matches are listed against the store as it was before the request (a binding
 * two filters match is in both results, as in Kafka), then removed; if the file cannot be
 * written, they are put back and every filter answers with an error. */
void brk_handle_delete_acls(brk_req_t *req)
{
    kmsg_delete_acls_req_t *body = req->body;
    kmsg_delete_acls_resp_t resp;
    kmsg_delete_acls_resp_init(&resp);
    resp.filter_results_count = SL_MAX(body->filters_count, 0);
    resp.filter_results = brk_alloc(req, resp.filter_results_count, sizeof *resp.filter_results);
    const char *gate_msg;
    kerr_t gate = brk__acl_gate(req, BRK_ACL_OP_ALTER, &gate_msg);
    size_t removed = 0;
    for (int32_t i = 0; i < resp.filter_results_count; i++) {
        kmsg_delete_acls_resp_delete_acls_filter_result_t *fr = &resp.filter_results[i];
        kmsg_delete_acls_resp_delete_acls_filter_result_init(fr);
        fr->matching_acls_count = 0;
        brk_acl_binding_t f = brk__delete_filter(&body->filters[i]);
        const char *msg = gate_msg;
        kerr_t e = gate != KERR_NONE ? gate : brk_acl_filter_check(&f, &msg);
        fr->error_code = (int16_t)e;
        fr->error_message = brk__opt(e != KERR_NONE ? msg : NULL);
        if (e != KERR_NONE) {
            continue;
        }
        int32_t n = 0;
        brk_acl_find(req->brk->acl, &f, brk__count_visit, &n);
        fr->matching_acls = brk_alloc(req, n, sizeof *fr->matching_acls);
        brk_delete_ctx_t dc = {req, fr};
        brk_acl_find(req->brk->acl, &f, brk__delete_visit, &dc);
    }
    for (int32_t i = 0; gate == KERR_NONE && i < resp.filter_results_count; i++) {
        if (resp.filter_results[i].error_code == KERR_NONE) {
            brk_acl_binding_t f = brk__delete_filter(&body->filters[i]);
            removed += brk_acl_remove(req->brk->acl, &f, NULL, NULL);
        }
    }
    int rc = removed > 0 ? brk_acl_save(req->brk->acl) : 0;
    for (int32_t i = 0; i < resp.filter_results_count; i++) {
        kmsg_delete_acls_resp_delete_acls_filter_result_t *fr = &resp.filter_results[i];
        for (int32_t j = 0; fr->error_code == KERR_NONE && j < fr->matching_acls_count; j++) {
            brk_acl_binding_t b = brk__matching_binding(&fr->matching_acls[j]);
            bool back;
            if (rc == 0) {
                brk__log_binding(req, "removed", &b);
            } else {
                brk_acl_add(req->brk->acl, &b, &back);
            }
        }
        if (rc != 0 && fr->error_code == KERR_NONE) {
            fr->error_code = KERR_UNKNOWN_SERVER_ERROR;
            fr->error_message = kproto_str("cannot write acls.txt in the data dir");
            fr->matching_acls_count = 0;
        }
    }
    brk_respond(req, &resp);
}
