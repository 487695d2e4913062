/* The ACL store and Kafka's authorization decision (brk_acl.h). Bindings are grouped by
 * resource pattern (type, pattern type, name) in a hash table, so a check looks at the literal
 * name, the literal wildcard "*" and, for prefixed patterns, only the prefix lengths some
 * prefixed binding of that type has (a per-type count by length).
 *
 * File <data>/acls.txt, one binding a line, fields separated by one space and %-escaped:
 *   TOPIC LITERAL orders User:alice * READ ALLOW
 *   end <count> <crc32c of every byte before this line, 8 hex digits>
 * The trailer detects truncation and bit rot; a file that fails is an error at start. */
#include "brk_acl.h"
#include "brk_limits.h"
#include "sl_buf.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK_ACL_TYPES 6 /* resource type codes 0..5 */

typedef struct {
    char *principal;
    char *host;
    int8_t op, perm;
} brk_acl_ace_t;

/* One resource pattern and its entries. */
typedef struct brk_acl_node {
    struct brk_acl_node *next; /* hash chain */
    int8_t type, pattern;
    char *name;
    size_t name_len;
    uint32_t hash;
    brk_acl_ace_t *aces;
    size_t n, cap;
} brk_acl_node_t;

struct brk_acl {
    char *path;
    size_t max, count;
    brk_acl_node_t **buckets;
    size_t nbuckets, nnodes;
    /* Prefixed nodes per resource type and name length. */
    uint32_t prefixed_len[BRK_ACL_TYPES][BRK_ACL_FIELD_BYTES_MAX + 1];
    uint32_t prefixed[BRK_ACL_TYPES];
    char *supers[BRK_ACL_SUPER_USERS_MAX];
    size_t nsupers;
    bool allow_if_no_acl;
};

static const char *const brk__res_names[] = {"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER",
                                               "TRANSACTIONAL_ID"};
static const char *const brk__pat_names[] = {"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"};
static const char *const brk__op_names[] = {
    "UNKNOWN",        "ANY",      "ALL",      "READ",  "WRITE",
    "CREATE",         "DELETE",   "ALTER",    "DESCRIBE", "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"};
static const char *const brk__perm_names[] = {"UNKNOWN", "ANY", "DENY", "ALLOW"};

#define BRK__NAME(tab, code) ((code) >= 0 && (size_t)(code) < SL_ARRAY_LEN(tab) ? tab[code] : NULL)
const char *brk_acl_res_name(int code) { return BRK__NAME(brk__res_names, code); }
const char *brk_acl_pat_name(int code) { return BRK__NAME(brk__pat_names, code); }
const char *brk_acl_op_name(int code) { return BRK__NAME(brk__op_names, code); }
const char *brk_acl_perm_name(int code) { return BRK__NAME(brk__perm_names, code); }

/* Operations each resource type has (Kafka's AclEntry.supportedOperations), as bits. */
#define B(op) (1u << BRK_ACL_OP_##op)
static const uint32_t brk__res_ops[BRK_ACL_TYPES] = {
    [BRK_ACL_RES_TOPIC] = B(ALL) | B(READ) | B(WRITE) | B(CREATE) | B(DESCRIBE) | B(DELETE) |
                          B(ALTER) | B(DESCRIBE_CONFIGS) | B(ALTER_CONFIGS),
    [BRK_ACL_RES_GROUP] = B(ALL) | B(READ) | B(DESCRIBE) | B(DELETE),
    [BRK_ACL_RES_CLUSTER] = B(ALL) | B(CREATE) | B(CLUSTER_ACTION) | B(DESCRIBE_CONFIGS) |
                            B(ALTER_CONFIGS) | B(IDEMPOTENT_WRITE) | B(ALTER) | B(DESCRIBE),
    [BRK_ACL_RES_TRANSACTIONAL_ID] = B(ALL) | B(DESCRIBE) | B(WRITE),
};
/* Operations an ALLOW of the index operation grants besides itself. */
static const uint32_t brk__implied[BRK_ACL_OP_MAX + 1] = {
    [BRK_ACL_OP_READ] = B(DESCRIBE),
    [BRK_ACL_OP_WRITE] = B(DESCRIBE),
    [BRK_ACL_OP_DELETE] = B(DESCRIBE),
    [BRK_ACL_OP_ALTER] = B(DESCRIBE),
    [BRK_ACL_OP_ALTER_CONFIGS] = B(DESCRIBE_CONFIGS),
};
#undef B

uint32_t brk_acl_res_ops(int res_type)
{
    if (res_type < 0 || res_type >= BRK_ACL_TYPES) {
        return 0;
    }
    return brk__res_ops[res_type] & ~(1u << BRK_ACL_OP_ALL);
}

static uint32_t brk__hash(int8_t type, int8_t pattern, const char *name, size_t len)
{
    uint32_t h = 2166136261u ^ (uint32_t)(uint8_t)type ^ ((uint32_t)(uint8_t)pattern << 8);
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    }
    /* FNV's low bits (the bucket index) see only the bytes' low bits: finish with
     * MurmurHash3's avalanche so names that differ in a digit spread out. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static bool brk__str_eq(kproto_str_t s, const char *c)
{
    return s.len >= 0 && strlen(c) == (size_t)s.len && memcmp(s.ptr, c, (size_t)s.len) == 0;
}

/* ---- validation ---- */

/* "Type:name" with both parts non-empty (Kafka's KafkaPrincipal.fromString). */
static bool brk__principal_ok(kproto_str_t p)
{
    const char *colon = p.len > 0 ? memchr(p.ptr, ':', (size_t)p.len) : NULL;
    return colon && colon > p.ptr && colon < p.ptr + p.len - 1;
}

static bool brk__host_ok(kproto_str_t h)
{
    if (brk__str_eq(h, "*")) {
        return true;
    }
    char buf[64];
    unsigned char addr[16];
    if (h.len <= 0 || (size_t)h.len >= sizeof buf) {
        return false;
    }
    memcpy(buf, h.ptr, (size_t)h.len);
    buf[h.len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* Within the length limit and free of NUL bytes (stored as C strings). */
static bool brk__field_ok(kproto_str_t s)
{
    return s.len <= BRK_ACL_FIELD_BYTES_MAX && (s.len <= 0 || !memchr(s.ptr, 0, (size_t)s.len));
}

kerr_t brk_acl_binding_check(const brk_acl_binding_t *b, const char **msg)
{
    *msg = NULL;
    if (b->res_type < BRK_ACL_RES_TOPIC || b->res_type >= BRK_ACL_TYPES) {
        *msg = "resource type must be TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID";
    } else if (b->pattern != BRK_ACL_PAT_LITERAL && b->pattern != BRK_ACL_PAT_PREFIXED) {
        *msg = "pattern type must be LITERAL or PREFIXED";
    } else if (b->name.len <= 0 || !brk__field_ok(b->name)) {
        *msg = "resource name must be 1 to 1024 bytes";
    } else if (b->res_type == BRK_ACL_RES_CLUSTER &&
               (!brk__str_eq(b->name, BRK_ACL_CLUSTER_NAME) || b->pattern != BRK_ACL_PAT_LITERAL)) {
        *msg = "the only valid name for the CLUSTER resource is kafka-cluster (LITERAL)";
    } else if (!brk__principal_ok(b->principal) || !brk__field_ok(b->principal)) {
        *msg = "principal must be Type:name, e.g. User:alice or User:*";
    } else if (!brk__host_ok(b->host)) {
        *msg = "host must be * or an IP address";
    } else if (b->op < BRK_ACL_OP_ALL || b->op > BRK_ACL_OP_MAX ||
               !(brk__res_ops[b->res_type] & (1u << b->op))) {
        *msg = "operation not supported for this resource type";
    } else if (b->perm != BRK_ACL_PERM_ALLOW && b->perm != BRK_ACL_PERM_DENY) {
        *msg = "permission type must be ALLOW or DENY";
    }
    return *msg ? KERR_INVALID_REQUEST : KERR_NONE;
}

kerr_t brk_acl_filter_check(const brk_acl_binding_t *f, const char **msg)
{
    *msg = NULL;
    if (f->res_type < BRK_ACL_RES_ANY || f->res_type >= BRK_ACL_TYPES) {
        *msg = "unknown resource type in filter";
    } else if (f->pattern < BRK_ACL_PAT_ANY || f->pattern > BRK_ACL_PAT_PREFIXED) {
        *msg = "unknown pattern type in filter";
    } else if (f->op < BRK_ACL_OP_ANY || f->op > BRK_ACL_OP_MAX) {
        *msg = "unknown operation in filter";
    } else if (f->perm < BRK_ACL_PERM_ANY || f->perm > BRK_ACL_PERM_ALLOW) {
        *msg = "unknown permission type in filter";
    } else if (!brk__field_ok(f->name) || !brk__field_ok(f->principal) || !brk__field_ok(f->host)) {
        *msg = "filter field longer than 1024 bytes";
    }
    return *msg ? KERR_INVALID_REQUEST : KERR_NONE;
}

/* Kafka's ResourcePatternFilter.matches for one node. */
static bool brk__node_matches(const brk_acl_binding_t *f, const brk_acl_node_t *node)
{
    if (f->res_type != BRK_ACL_RES_ANY && f->res_type != node->type) {
        return false;
    }
    if (f->pattern != BRK_ACL_PAT_ANY && f->pattern != BRK_ACL_PAT_MATCH &&
        f->pattern != node->pattern) {
        return false;
    }
    if (f->name.len < 0) {
        return true;
    }
    size_t flen = (size_t)f->name.len;
    if (f->pattern != BRK_ACL_PAT_MATCH) {
        return flen == node->name_len && memcmp(f->name.ptr, node->name, flen) == 0;
    }
    if (node->pattern == BRK_ACL_PAT_LITERAL) {
        return (flen == node->name_len && memcmp(f->name.ptr, node->name, flen) == 0) ||
               strcmp(node->name, "*") == 0;
    }
    return node->name_len <= flen && memcmp(f->name.ptr, node->name, node->name_len) == 0;
}

static bool brk__ace_matches(const brk_acl_binding_t *f, const brk_acl_ace_t *ace)
{
    return (f->principal.len < 0 || brk__str_eq(f->principal, ace->principal)) &&
           (f->host.len < 0 || brk__str_eq(f->host, ace->host)) &&
           (f->op == BRK_ACL_OP_ANY || f->op == ace->op) &&
           (f->perm == BRK_ACL_PERM_ANY || f->perm == ace->perm);
}

static void brk__binding_of(const brk_acl_node_t *node, const brk_acl_ace_t *ace,
                            brk_acl_binding_t *b)
{
    b->res_type = node->type;
    b->pattern = node->pattern;
    b->name = (kproto_str_t){node->name, (int32_t)node->name_len};
    b->principal = kproto_str(ace->principal);
    b->host = kproto_str(ace->host);
    b->op = ace->op;
    b->perm = ace->perm;
}

/* ---- the store ---- */

static brk_acl_node_t *brk__node_find(const brk_acl_t *acl, int8_t type, int8_t pattern,
                                      const char *name, size_t len)
{
    uint32_t h = brk__hash(type, pattern, name, len);
    for (brk_acl_node_t *node = acl->buckets[h & (acl->nbuckets - 1)]; node; node = node->next) {
        if (node->hash == h && node->type == type && node->pattern == pattern &&
            node->name_len == len && memcmp(node->name, name, len) == 0) {
            return node;
        }
    }
    return NULL;
}

static void brk__grow(brk_acl_t *acl)
{
    size_t n = acl->nbuckets * 2;
    brk_acl_node_t **b = sl_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < acl->nbuckets; i++) {
        brk_acl_node_t *node = acl->buckets[i];
        while (node) {
            brk_acl_node_t *next = node->next;
            node->next = b[node->hash & (n - 1)];
            b[node->hash & (n - 1)] = node;
            node = next;
        }
    }
    free(acl->buckets);
    acl->buckets = b;
    acl->nbuckets = n;
}

static brk_acl_node_t *brk__node_get(brk_acl_t *acl, const brk_acl_binding_t *b)
{
    brk_acl_node_t *node = brk__node_find(acl, b->res_type, b->pattern, b->name.ptr,
                                          (size_t)b->name.len);
    if (node) {
        return node;
    }
    if (acl->nnodes >= acl->nbuckets) {
        brk__grow(acl);
    }
    node = sl_xcalloc(1, sizeof *node);
    node->type = b->res_type;
    node->pattern = b->pattern;
    node->name = sl_xstrndup(b->name.ptr, (size_t)b->name.len);
    node->name_len = (size_t)b->name.len;
    node->hash = brk__hash(node->type, node->pattern, node->name, node->name_len);
    node->next = acl->buckets[node->hash & (acl->nbuckets - 1)];
    acl->buckets[node->hash & (acl->nbuckets - 1)] = node;
    acl->nnodes++;
    if (node->pattern == BRK_ACL_PAT_PREFIXED) {
        acl->prefixed_len[node->type][node->name_len]++;
        acl->prefixed[node->type]++;
    }
    return node;
}

static void brk__node_unlink(brk_acl_t *acl, brk_acl_node_t *node)
{
    brk_acl_node_t **pp = &acl->buckets[node->hash & (acl->nbuckets - 1)];
    while (*pp != node) {
        pp = &(*pp)->next;
    }
    *pp = node->next;
    acl->nnodes--;
    if (node->pattern == BRK_ACL_PAT_PREFIXED) {
        acl->prefixed_len[node->type][node->name_len]--;
        acl->prefixed[node->type]--;
    }
    free(node->name);
    free(node->aces);
    free(node);
}

int brk_acl_add(brk_acl_t *acl, const brk_acl_binding_t *b, bool *added)
{
    *added = false;
    brk_acl_node_t *node = brk__node_find(acl, b->res_type, b->pattern, b->name.ptr,
                                          (size_t)b->name.len);
    for (size_t i = 0; node && i < node->n; i++) {
        brk_acl_ace_t *ace = &node->aces[i];
        if (ace->op == b->op && ace->perm == b->perm && brk__str_eq(b->principal, ace->principal) &&
            brk__str_eq(b->host, ace->host)) {
            return 0;
        }
    }
    if (acl->count >= acl->max) {
        return SL_ELIMIT;
    }
    node = node ? node : brk__node_get(acl, b);
    if (node->n == node->cap) {
        node->cap = node->cap ? node->cap * 2 : 4;
        node->aces = sl_xrealloc(node->aces, node->cap * sizeof *node->aces);
    }
    brk_acl_ace_t *ace = &node->aces[node->n++];
    ace->principal = sl_xstrndup(b->principal.ptr, (size_t)b->principal.len);
    ace->host = sl_xstrndup(b->host.ptr, (size_t)b->host.len);
    ace->op = b->op;
    ace->perm = b->perm;
    acl->count++;
    *added = true;
    return 0;
}

size_t brk_acl_find(const brk_acl_t *acl, const brk_acl_binding_t *f, brk_acl_visit_fn fn,
                    void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < acl->nbuckets; i++) {
        for (brk_acl_node_t *node = acl->buckets[i]; node; node = node->next) {
            if (!brk__node_matches(f, node)) {
                continue;
            }
            for (size_t j = 0; j < node->n; j++) {
                if (brk__ace_matches(f, &node->aces[j])) {
                    brk_acl_binding_t b;
                    brk__binding_of(node, &node->aces[j], &b);
                    fn(ctx, &b);
                    n++;
                }
            }
        }
    }
    return n;
}

size_t brk_acl_remove(brk_acl_t *acl, const brk_acl_binding_t *f, brk_acl_visit_fn fn,
                      void *ctx)
{
    size_t removed = 0;
    for (size_t i = 0; i < acl->nbuckets; i++) {
        brk_acl_node_t *node = acl->buckets[i];
        while (node) {
            brk_acl_node_t *next = node->next;
            if (brk__node_matches(f, node)) {
                size_t keep = 0;
                for (size_t j = 0; j < node->n; j++) {
                    brk_acl_ace_t *ace = &node->aces[j];
                    if (!brk__ace_matches(f, ace)) {
                        node->aces[keep++] = *ace;
                        continue;
                    }
                    if (fn) {
                        brk_acl_binding_t b;
                        brk__binding_of(node, ace, &b);
                        fn(ctx, &b);
                    }
                    free(ace->principal);
                    free(ace->host);
                    removed++;
                }
                acl->count -= node->n - keep;
                node->n = keep;
                if (keep == 0) {
                    brk__node_unlink(acl, node);
                }
            }
            node = next;
        }
    }
    return removed;
}

size_t brk_acl_count(const brk_acl_t *acl)
{
    return acl->count;
}

/* ---- authorization ---- */

static bool brk__ace_applies(const brk_acl_ace_t *ace, const char *principal, const char *host)
{
    return (strcmp(ace->principal, principal) == 0 || strcmp(ace->principal, "User:*") == 0) &&
           (strcmp(ace->host, "*") == 0 || strcmp(ace->host, host) == 0);
}

/* Folds one node into the decision: *deny on a matching DENY, *allow on a granting ALLOW. */
static void brk__judge(const brk_acl_node_t *node, const char *principal, const char *host,
                       brk_acl_op_t op, bool *deny, bool *allow)
{
    for (size_t i = 0; node && i < node->n; i++) {
        const brk_acl_ace_t *ace = &node->aces[i];
        if (!brk__ace_applies(ace, principal, host)) {
            continue;
        }
        bool same = ace->op == (int)op || ace->op == BRK_ACL_OP_ALL;
        if (ace->perm == BRK_ACL_PERM_DENY && same) {
            *deny = true;
        } else if (ace->perm == BRK_ACL_PERM_ALLOW &&
                   (same || (brk__implied[ace->op] & (1u << op)))) {
            *allow = true;
        }
    }
}

bool brk_acl_authorize(const brk_acl_t *acl, const char *principal, const char *host,
                       brk_acl_op_t op, brk_acl_res_t res_type, kproto_str_t name)
{
    for (size_t i = 0; i < acl->nsupers; i++) {
        if (strcmp(acl->supers[i], principal) == 0) {
            return true;
        }
    }
    if (res_type <= BRK_ACL_RES_ANY || res_type >= BRK_ACL_TYPES || name.len < 0) {
        return false;
    }
    bool deny = false, allow = false, any = false;
    const brk_acl_node_t *nodes[2] = {
        brk__node_find(acl, res_type, BRK_ACL_PAT_LITERAL, name.ptr, (size_t)name.len),
        brk__node_find(acl, res_type, BRK_ACL_PAT_LITERAL, "*", 1),
    };
    for (int i = 0; i < 2; i++) {
        any = any || nodes[i];
        brk__judge(nodes[i], principal, host, op, &deny, &allow);
    }
    size_t maxlen = SL_MIN((size_t)name.len, (size_t)BRK_ACL_FIELD_BYTES_MAX);
    for (size_t len = 1; acl->prefixed[res_type] > 0 && len <= maxlen && !deny; len++) {
        if (acl->prefixed_len[res_type][len] == 0) {
            continue;
        }
        const brk_acl_node_t *node = brk__node_find(acl, res_type, BRK_ACL_PAT_PREFIXED,
                                                    name.ptr, len);
        any = any || node;
        brk__judge(node, principal, host, op, &deny, &allow);
    }
    if (!any) {
        return acl->allow_if_no_acl;
    }
    return !deny && allow;
}

/* Whether a DENY of op applies to everything node's pattern covers: one on the pattern
 * itself, on the literal "*", or on a prefix of its name. */
static bool brk__pattern_denied(const brk_acl_t *acl, const brk_acl_node_t *node,
                                const char *principal, const char *host, brk_acl_op_t op)
{
    bool deny = false, allow = false;
    brk__judge(node, principal, host, op, &deny, &allow);
    brk__judge(brk__node_find(acl, node->type, BRK_ACL_PAT_LITERAL, "*", 1), principal, host, op,
               &deny, &allow);
    for (size_t len = 1; acl->prefixed[node->type] > 0 && len <= node->name_len && !deny; len++) {
        if (acl->prefixed_len[node->type][len] > 0) {
            brk__judge(brk__node_find(acl, node->type, BRK_ACL_PAT_PREFIXED, node->name, len),
                       principal, host, op, &deny, &allow);
        }
    }
    return deny;
}

bool brk_acl_authorize_any(const brk_acl_t *acl, const char *principal, const char *host,
                           brk_acl_op_t op, brk_acl_res_t res_type)
{
    for (size_t i = 0; i < acl->nsupers; i++) {
        if (strcmp(acl->supers[i], principal) == 0) {
            return true;
        }
    }
    bool any = false;
    for (size_t i = 0; i < acl->nbuckets; i++) {
        for (const brk_acl_node_t *node = acl->buckets[i]; node; node = node->next) {
            if (node->type != (int8_t)res_type) {
                continue;
            }
            any = true;
            bool deny = false, allow = false;
            brk__judge(node, principal, host, op, &deny, &allow);
            if (allow && !brk__pattern_denied(acl, node, principal, host, op)) {
                return true;
            }
        }
    }
    return any ? false : acl->allow_if_no_acl;
}

int brk_acl_set_policy(brk_acl_t *acl, const char *super_users, bool allow_if_no_acl,
                       char *err, size_t err_len)
{
    for (size_t i = 0; i < acl->nsupers; i++) {
        free(acl->supers[i]);
    }
    acl->nsupers = 0;
    acl->allow_if_no_acl = allow_if_no_acl;
    const char *p = super_users ? super_users : "";
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len > 0) {
            kproto_str_t s = {p, (int32_t)SL_MIN(len, (size_t)INT32_MAX)};
            if (!brk__principal_ok(s) || len > BRK_ACL_FIELD_BYTES_MAX) {
                snprintf(err, err_len, "super.users: '%.*s' is not a principal like User:admin",
                         (int)SL_MIN(len, (size_t)200), p);
                return SL_EINVAL;
            }
            if (acl->nsupers == BRK_ACL_SUPER_USERS_MAX) {
                snprintf(err, err_len, "super.users: more than %d principals",
                         BRK_ACL_SUPER_USERS_MAX);
                return SL_EINVAL;
            }
            acl->supers[acl->nsupers++] = sl_xstrndup(p, len);
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* ---- persistence ---- */

static void brk__esc(sl_buf_t *buf, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '%') {
            char hex[4];
            snprintf(hex, sizeof hex, "%%%02X", c);
            sl_buf_append(buf, hex, 3);
        } else {
            sl_buf_append(buf, &s[i], 1);
        }
    }
}

static void brk__save_visit(void *ctx, const brk_acl_binding_t *b)
{
    sl_buf_t *buf = ctx;
    const char *words[] = {brk_acl_res_name(b->res_type), brk_acl_pat_name(b->pattern)};
    for (size_t i = 0; i < 2; i++) {
        sl_buf_append(buf, words[i], strlen(words[i]));
        sl_buf_append(buf, " ", 1);
    }
    kproto_str_t strs[] = {b->name, b->principal, b->host};
    for (size_t i = 0; i < 3; i++) {
        brk__esc(buf, strs[i].ptr, (size_t)strs[i].len);
        sl_buf_append(buf, " ", 1);
    }
    const char *op = brk_acl_op_name(b->op), *perm = brk_acl_perm_name(b->perm);
    sl_buf_append(buf, op, strlen(op));
    sl_buf_append(buf, " ", 1);
    sl_buf_append(buf, perm, strlen(perm));
    sl_buf_append(buf, "\n", 1);
}

int brk_acl_save(brk_acl_t *acl)
{
    if (!acl->path) {
        return 0;
    }
    sl_buf_t buf;
    sl_buf_init(&buf);
    brk_acl_binding_t all = {BRK_ACL_RES_ANY, BRK_ACL_PAT_ANY, {NULL, -1}, {NULL, -1},
                             {NULL, -1}, BRK_ACL_OP_ANY, BRK_ACL_PERM_ANY};
    brk_acl_find(acl, &all, brk__save_visit, &buf);
    char trailer[64];
    int n = snprintf(trailer, sizeof trailer, "end %zu %08x\n", acl->count,
                     sl_crc32c(0, buf.data, buf.len));
    sl_buf_append(&buf, trailer, (size_t)n);
    int rc = sl_fs_write_atomic(acl->path, buf.data, buf.len);
    if (rc != 0) {
        SL_LOGE("acl", "cannot write %s: %s", acl->path, sl_strerror(rc));
    }
    sl_buf_deinit(&buf);
    return rc;
}

/* Decodes one %-escaped field in place; false on a bad escape. */
static bool brk__unesc(char *s, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '%') {
            s[o++] = s[i];
            continue;
        }
        unsigned int c;
        if (!s[i + 1] || !s[i + 2] || sscanf(s + i + 1, "%2x", &c) != 1) {
            return false;
        }
        s[o++] = (char)c;
        i += 2;
    }
    s[o] = '\0';
    *len = o;
    return true;
}

static int brk__code(const char *const *names, size_t n, const char *word)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], word) == 0) {
            return (int)i;
        }
    }
    return 0;
}

/* Parses one binding line (modified in place). NULL or the reason it is bad. */
static const char *brk__parse_line(brk_acl_t *acl, char *line)
{
    char *f[8];
    size_t nf = 0;
    for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        if (nf == SL_ARRAY_LEN(f)) {
            return "too many fields";
        }
        f[nf++] = tok;
    }
    if (nf != 7) {
        return "expected 7 fields";
    }
    size_t lens[3];
    for (size_t i = 0; i < 3; i++) {
        if (!brk__unesc(f[2 + i], &lens[i])) {
            return "bad %-escape";
        }
    }
    brk_acl_binding_t b = {
        (int8_t)brk__code(brk__res_names, SL_ARRAY_LEN(brk__res_names), f[0]),
        (int8_t)brk__code(brk__pat_names, SL_ARRAY_LEN(brk__pat_names), f[1]),
        {f[2], (int32_t)lens[0]}, {f[3], (int32_t)lens[1]}, {f[4], (int32_t)lens[2]},
        (int8_t)brk__code(brk__op_names, SL_ARRAY_LEN(brk__op_names), f[5]),
        (int8_t)brk__code(brk__perm_names, SL_ARRAY_LEN(brk__perm_names), f[6]),
    };
    const char *msg;
    if (brk_acl_binding_check(&b, &msg) != KERR_NONE) {
        return msg;
    }
    bool added;
    if (brk_acl_add(acl, &b, &added) != 0) {
        return "more bindings than the store holds";
    }
    return added ? NULL : "duplicate binding";
}

static int brk__load(brk_acl_t *acl, char *text, size_t len, char *err, size_t err_len)
{
    /* The trailer is the last line: "end <count> <crc>\n". */
    if (memchr(text, 0, len)) {
        snprintf(err, err_len, "%s: NUL byte in file (damaged)", acl->path);
        return SL_ECORRUPT;
    }
    if (len == 0 || text[len - 1] != '\n') {
        snprintf(err, err_len, "%s: truncated (no final newline)", acl->path);
        return SL_ECORRUPT;
    }
    text[len - 1] = '\0';
    char *last = strrchr(text, '\n');
    size_t body_len = last ? (size_t)(last - text) + 1 : 0;
    char *trailer = last ? last + 1 : text;
    size_t count;
    unsigned int crc;
    char extra;
    if (sscanf(trailer, "end %zu %8x%c", &count, &crc, &extra) != 2) {
        snprintf(err, err_len, "%s: missing or bad trailer line (truncated?)", acl->path);
        return SL_ECORRUPT;
    }
    if (sl_crc32c(0, text, body_len) != crc) {
        snprintf(err, err_len, "%s: checksum mismatch (file damaged)", acl->path);
        return SL_ECORRUPT;
    }
    *trailer = '\0';
    size_t lineno = 0;
    for (char *line = text; body_len > 0 && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        lineno++;
        const char *why = brk__parse_line(acl, line);
        if (why) {
            snprintf(err, err_len, "%s: line %zu: %s", acl->path, lineno, why);
            return SL_ECORRUPT;
        }
        line = nl + 1;
    }
    if (count != acl->count) {
        snprintf(err, err_len, "%s: trailer counts %zu bindings, file has %zu", acl->path, count,
                 acl->count);
        return SL_ECORRUPT;
    }
    return 0;
}

int brk_acl_new(const char *path, size_t max_bindings, brk_acl_t **out, char *err,
                size_t err_len)
{
    SL_ASSERT(max_bindings <= BRK_ACLS_MAX);
    brk_acl_t *acl = sl_xcalloc(1, sizeof *acl);
    acl->max = max_bindings;
    acl->nbuckets = 64;
    acl->buckets = sl_xcalloc(acl->nbuckets, sizeof *acl->buckets);
    int rc = 0;
    if (path) {
        acl->path = sl_xstrdup(path);
        char *text = NULL;
        size_t len = 0;
        rc = sl_fs_read_all(path, BRK_ACL_FILE_BYTES_MAX, &text, &len);
        if (rc == -ENOENT) {
            rc = 0;
        } else if (rc != 0) {
            snprintf(err, err_len, "%s: %s", path, sl_strerror(rc));
        } else {
            rc = brk__load(acl, text, len, err, err_len);
        }
        if (rc != 0) {
            /* ACLs fail closed: a line that does not parse could be a DENY, so the file is
             * refused whole rather than loaded without it. */
            size_t n = strlen(err);
            snprintf(err + n, err_len - n, " (restore acls.txt from a backup, or move it away "
                     "to start with no ACLs: then only super.users are allowed)");
        }
        free(text);
    }
    if (rc != 0) {
        brk_acl_free(acl);
        return rc;
    }
    *out = acl;
    return 0;
}

void brk_acl_free(brk_acl_t *acl)
{
    if (!acl) {
        return;
    }
    brk_acl_binding_t all = {BRK_ACL_RES_ANY, BRK_ACL_PAT_ANY, {NULL, -1}, {NULL, -1},
                             {NULL, -1}, BRK_ACL_OP_ANY, BRK_ACL_PERM_ANY};
    brk_acl_remove(acl, &all, NULL, NULL);
    for (size_t i = 0; i < acl->nsupers; i++) {
        free(acl->supers[i]);
    }
    free(acl->buckets);
    free(acl->path);
    free(acl);
}
