/* ACL checks for the handlers (KafkaApis' operation per API, docs/broker.md) and the ACL
 * APIs (authz.c). Thread: loop. */
#ifndef BRK_AUTHZ_H
#define BRK_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "brk_req.h"
#include "kerr.h"
#include "snet.h"

/* Opens <data>/acls.txt when an authorizer is configured (brk->acl), else leaves it NULL. */
int brk_authz_open(brk_t *brk, char *err, size_t err_len);
void brk_authz_close(brk_t *brk);
/* Records req's principal and host (only when an authorizer is configured). */
void brk_authz_init(brk_req_t *req, snet_conn_t *conn);
/* Whether req's principal may do op (a brk_acl_op_t) on the resource (a brk_acl_res_t);
 * always true without an authorizer. */
bool brk_authz(brk_req_t *req, int op, int res_type, kproto_str_t name);
/* The same as a Kafka error: KERR_NONE, or TOPIC_/GROUP_/CLUSTER_AUTHORIZATION_FAILED. */
kerr_t brk_authz_topic(brk_req_t *req, int op, kproto_str_t topic);
kerr_t brk_authz_group(brk_req_t *req, int op, kproto_str_t group);
kerr_t brk_authz_cluster(brk_req_t *req, int op);
/* The same with the operation req's API needs (authz.c's table of KafkaApis' rules). */
kerr_t brk_authz_req_topic(brk_req_t *req, kproto_str_t topic);
kerr_t brk_authz_req_group(brk_req_t *req, kproto_str_t group);
/* InitProducerId without a transactional id (Kafka 3, KIP-679): IDEMPOTENT_WRITE on the
 * cluster or WRITE on some topic; else CLUSTER_AUTHORIZATION_FAILED. Produce itself needs
 * only WRITE on its topics, idempotent or not. */
kerr_t brk_authz_idempotent_write(brk_req_t *req);
/* Kafka's authorized-operations bit set of a topic or the cluster (Metadata, DescribeGroups):
 * bit n set when operation n is allowed. */
int32_t brk_authz_ops(brk_req_t *req, int res_type, kproto_str_t name);
void brk_handle_describe_acls(brk_req_t *req);
void brk_handle_create_acls(brk_req_t *req);
void brk_handle_delete_acls(brk_req_t *req);

#endif
