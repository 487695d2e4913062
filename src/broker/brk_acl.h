/* ACLs (Kafka's authorization model): an opaque store of bindings (resource pattern + access
 * control entry), Kafka's evaluation (super users, DENY over ALLOW, implied operations,
 * allow.everyone.if.no.acl.found) and persistence in <data>/acls.txt. The codes of every enum
 * are Kafka's (org.apache.kafka.common.acl / resource), so they go on the wire unchanged.
 * Thread: loop. */
#ifndef BRK_ACL_H
#define BRK_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kerr.h"
#include "kproto.h"

typedef enum {
    BRK_ACL_RES_UNKNOWN = 0,
    BRK_ACL_RES_ANY = 1, /* filters only */
    BRK_ACL_RES_TOPIC = 2,
    BRK_ACL_RES_GROUP = 3,
    BRK_ACL_RES_CLUSTER = 4,
    BRK_ACL_RES_TRANSACTIONAL_ID = 5,
} brk_acl_res_t;

typedef enum {
    BRK_ACL_PAT_UNKNOWN = 0,
    BRK_ACL_PAT_ANY = 1,   /* filters only: any pattern type, exact name */
    BRK_ACL_PAT_MATCH = 2, /* filters only: every pattern that applies to the name */
    BRK_ACL_PAT_LITERAL = 3,
    BRK_ACL_PAT_PREFIXED = 4,
} brk_acl_pat_t;

typedef enum {
    BRK_ACL_OP_UNKNOWN = 0,
    BRK_ACL_OP_ANY = 1, /* filters only */
    BRK_ACL_OP_ALL = 2,
    BRK_ACL_OP_READ = 3,
    BRK_ACL_OP_WRITE = 4,
    BRK_ACL_OP_CREATE = 5,
    BRK_ACL_OP_DELETE = 6,
    BRK_ACL_OP_ALTER = 7,
    BRK_ACL_OP_DESCRIBE = 8,
    BRK_ACL_OP_CLUSTER_ACTION = 9,
    BRK_ACL_OP_DESCRIBE_CONFIGS = 10,
    BRK_ACL_OP_ALTER_CONFIGS = 11,
    BRK_ACL_OP_IDEMPOTENT_WRITE = 12,
    BRK_ACL_OP_MAX = 12,
} brk_acl_op_t;

typedef enum {
    BRK_ACL_PERM_UNKNOWN = 0,
    BRK_ACL_PERM_ANY = 1, /* filters only */
    BRK_ACL_PERM_DENY = 2,
    BRK_ACL_PERM_ALLOW = 3,
} brk_acl_perm_t;

/* The only name of the cluster resource (Kafka's). */
#define BRK_ACL_CLUSTER_NAME "kafka-cluster"

/* One binding, or a filter over bindings (a null string or an ANY code matches anything).
 * Strings are not owned: the store copies what it keeps. */
typedef struct {
    int8_t res_type;
    int8_t pattern;
    kproto_str_t name;
    kproto_str_t principal; /* "User:alice", or "User:*" for everyone */
    kproto_str_t host;      /* an IP, or "*" */
    int8_t op;
    int8_t perm;
} brk_acl_binding_t;

typedef struct brk_acl brk_acl_t;

/* Opens the store. path NULL: memory only (tests). Otherwise loads path if it exists; a file
 * that does not parse whole is SL_ECORRUPT with "path: line N: reason" in err (the broker
 * refuses to start rather than run with fewer rules than were stored). max_bindings is the
 * store's capacity (<= BRK_ACLS_MAX). */
int brk_acl_new(const char *path, size_t max_bindings, brk_acl_t **out, char *err,
                size_t err_len);
void brk_acl_free(brk_acl_t *acl);
/* super.users (";"-separated principals) and allow.everyone.if.no.acl.found. SL_EINVAL with
 * err when a super user is not "Type:name". */
int brk_acl_set_policy(brk_acl_t *acl, const char *super_users, bool allow_if_no_acl,
                       char *err, size_t err_len);
size_t brk_acl_count(const brk_acl_t *acl);

/* Validates a binding to create: KERR_NONE, or KERR_INVALID_REQUEST with msg (Kafka's rules:
 * concrete codes, an operation the resource type has, "kafka-cluster" for the cluster). */
kerr_t brk_acl_binding_check(const brk_acl_binding_t *b, const char **msg);
/* Validates a describe/delete filter: KERR_NONE or KERR_INVALID_REQUEST with msg. */
kerr_t brk_acl_filter_check(const brk_acl_binding_t *f, const char **msg);

/* Adds a checked binding. 0 (*added false when it was there already), or SL_ELIMIT when the
 * store holds max_bindings. Not persisted until brk_acl_save. */
int brk_acl_add(brk_acl_t *acl, const brk_acl_binding_t *b, bool *added);
/* Calls fn for every binding matching f, bindings of one resource pattern consecutively.
 * Returns how many matched. The binding's strings live until the store next changes. */
typedef void (*brk_acl_visit_fn)(void *ctx, const brk_acl_binding_t *b);
size_t brk_acl_find(const brk_acl_t *acl, const brk_acl_binding_t *f, brk_acl_visit_fn fn,
                    void *ctx);
/* Removes every binding matching f, calling fn (may be NULL) for each before it goes. */
size_t brk_acl_remove(brk_acl_t *acl, const brk_acl_binding_t *f, brk_acl_visit_fn fn,
                      void *ctx);
/* Writes the store to its file atomically (temp, fsync, rename, fsync dir). 0 or -errno;
 * blocks on disk (ACL changes are rare administrative requests). No-op for a memory store. */
int brk_acl_save(brk_acl_t *acl);

/* Kafka's decision for principal at host doing op on (res_type, name): super users may do
 * anything; with no binding on the resource, allow_if_no_acl decides; a matching DENY wins;
 * else a matching ALLOW of op, ALL, or an operation implying op (READ/WRITE/DELETE/ALTER
 * imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS). O(bindings on the resource). */
bool brk_acl_authorize(const brk_acl_t *acl, const char *principal, const char *host,
                       brk_acl_op_t op, brk_acl_res_t res_type, kproto_str_t name);

/* Bit set of the operations a resource type has (bit n: operation n), ALL excluded, as
 * Kafka's authorized-operations fields list them. */
uint32_t brk_acl_res_ops(int res_type);

/* Kafka's authorizeByResourceType: whether principal may do op on at least one resource of
 * res_type (an ALLOW that applies and is not cancelled by a DENY on the same pattern, on "*"
 * or on a prefix of it). Super users may; with no binding of the type, allow_if_no_acl
 * decides. O(all bindings): for rare requests (InitProducerId). */
bool brk_acl_authorize_any(const brk_acl_t *acl, const char *principal, const char *host,
                           brk_acl_op_t op, brk_acl_res_t res_type);

/* Names for logs, the CLI and the file format ("TOPIC", "PREFIXED", "READ", "ALLOW"); NULL
 * for codes without one. */
const char *brk_acl_res_name(int code);
const char *brk_acl_pat_name(int code);
const char *brk_acl_op_name(int code);
const char *brk_acl_perm_name(int code);

#endif
