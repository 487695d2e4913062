/* Group coordinator: Kafka's classic group protocol state machine.
 *   Empty -> PreparingRebalance (a join) -> CompletingRebalance (every member joined, or the
 *   rebalance timeout) -> Stable (the leader's SyncGroup) -> PreparingRebalance (a join with
 *   new metadata, a leave, a session timeout) ...; Dead once deleted.
 * The protocol is one every member supports, chosen by vote; the leader's assignment is relayed
 * byte for byte. Members join with MEMBER_ID_REQUIRED first (v4+); static members
 * (group.instance.id) that come back keep their assignment without a rebalance. */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_conf.h"
#include "brk_group.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_offsets.h"
#include "brk_req.h"
#include "kerr.h"
#include "sl_hset.h"
#include "sl_log.h"
#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef enum { GRP_EMPTY, GRP_PREPARING, GRP_COMPLETING, GRP_STABLE, GRP_DEAD } brk_grp_state_t;
static const char *brk__grp_state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                             "Stable", "Dead"};

typedef struct {
    char *name;
    uint8_t *meta;
    int32_t len;
} brk_proto_t;

typedef struct brk_member {
    struct brk_member *next;
    struct brk_group *grp;
    char *id;
    char *instance_id; /* NULL: dynamic member */
    char *client_id;
    char *client_host;
    int32_t session_ms, rebalance_ms;
    brk_proto_t *protos;
    int32_t nprotos;
    int64_t meta_bytes; /* protocol names and metadata, counted in the group's meta_bytes */
    uint8_t *assignment;
    int32_t assignment_len;
    brk_req_t *join_req; /* waiting for the rebalance to complete */
    brk_req_t *sync_req; /* waiting for the leader's assignment */
    snet_timer_t *session_timer;
} brk_member_t;

typedef struct brk_pending {
    struct brk_pending *next;
    char *id;
    int64_t expires_ms;
} brk_pending_t;

struct brk_group {
    struct brk_group *next, *prev; /* brk->groups_list */
    brk_t *brk;
    char *id;
    brk_grp_state_t state;
    int32_t generation;
    char *protocol_type;
    char *protocol;
    char *leader;
    brk_member_t *members;
    int32_t nmembers;
    int64_t meta_bytes; /* the members' protocol names and metadata */
    brk_pending_t *pending;
    int32_t npending;  /* at most group.max.size (brk__pending_add) */
    snet_timer_t *rebalance_timer; /* the rebalance timeout, or the initial delay */
    int64_t empty_since_ms;
    bool delaying;         /* in group.initial.rebalance.delay.ms: completion waits for it */
    bool delay_joined;     /* a member joined during the current delay */
    int32_t delay_left_ms; /* what the delays may still add, within the rebalance timeout */
    uint64_t rebalances; /* completed since start (monitoring) */
};

/* ---- registry ---- */

brk_group_t *brk_group_next(const brk_group_t *grp)
{
    return grp->next;
}

const char *brk_group_id(const brk_group_t *grp)
{
    return grp->id;
}

void brk_group_mon(const brk_group_t *grp, const char **state, int32_t *members,
                   uint64_t *rebalances)
{
    *state = brk__grp_state_names[grp->state];
    *members = grp->nmembers;
    *rebalances = grp->rebalances;
}

bool brk_group_is_empty(const brk_group_t *grp)
{
    return grp->state == GRP_EMPTY || grp->state == GRP_DEAD;
}

/* Groups are found through a hash index of their ids (brk->groups_idx): O(1) however many. */
brk_group_t *brk_group_find(brk_t *brk, kproto_str_t id)
{
    int64_t v;
    if (id.len < 0 || !brk->groups_idx ||
        !sl_hset_get(brk->groups_idx, id.ptr, (size_t)id.len, 0, &v)) {
        return NULL;
    }
    return (brk_group_t *)(intptr_t)v;
}

brk_group_t *brk_group_get(brk_t *brk, kproto_str_t id)
{
    brk_group_t *grp = brk_group_find(brk, id);
    if (grp || id.len <= 0 || brk->ngroups >= BRK_GROUPS_MAX) {
        return grp;
    }
    grp = sl_xcalloc(1, sizeof *grp);
    grp->brk = brk;
    grp->id = sl_xstrndup(id.ptr, (size_t)id.len);
    grp->state = GRP_EMPTY;
    grp->empty_since_ms = sl_time_wall_ms();
    grp->next = brk->groups_list;
    if (grp->next) {
        grp->next->prev = grp;
    }
    brk->groups_list = grp;
    brk->ngroups++;
    if (!brk->groups_idx) {
        brk->groups_idx = sl_hset_new(64);
    }
    sl_hset_put(brk->groups_idx, grp->id, (size_t)id.len, 0, (int64_t)(intptr_t)grp, NULL);
    return grp;
}

static char *brk__dup(kproto_str_t s)
{
    return s.len >= 0 ? sl_xstrndup(s.ptr, (size_t)s.len) : NULL;
}

static brk_member_t *brk__member_find(brk_group_t *grp, kproto_str_t id)
{
    for (brk_member_t *m = grp->members; m; m = m->next) {
        if (kproto_str_eq(id, m->id)) {
            return m;
        }
    }
    return NULL;
}

static brk_member_t *brk__member_by_instance(brk_group_t *grp, kproto_str_t instance)
{
    if (instance.len < 0) {
        return NULL;
    }
    for (brk_member_t *m = grp->members; m; m = m->next) {
        if (m->instance_id && kproto_str_eq(instance, m->instance_id)) {
            return m;
        }
    }
    return NULL;
}

static void brk__protos_free(brk_member_t *m)
{
    for (int32_t i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = NULL;
    m->nprotos = 0;
    m->grp->meta_bytes -= m->meta_bytes;
    m->meta_bytes = 0;
}

/* Answers a pending join or sync with an error (member gone, group deleted, shutdown). */
static void brk__member_fail_pending(brk_member_t *m, kerr_t err)
{
    if (m->join_req) {
        kmsg_join_group_resp_t resp;
        kmsg_join_group_resp_init(&resp);
        resp.error_code = (int16_t)err;
        brk_respond(m->join_req, &resp);
        m->join_req = NULL;
    }
    if (m->sync_req) {
        kmsg_sync_group_resp_t resp;
        kmsg_sync_group_resp_init(&resp);
        resp.error_code = (int16_t)err;
        brk_respond(m->sync_req, &resp);
        m->sync_req = NULL;
    }
}

static void brk__member_free(brk_t *brk, brk_member_t *m)
{
    snet_timer_cancel(brk->loop, m->session_timer);
    brk__protos_free(m);
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignment);
    free(m);
}

static void brk__grp_rebalance(brk_group_t *grp, const char *why);
static void brk__grp_try_complete(brk_group_t *grp);

/* Removes a member (leave, session expiry, missed rebalance) and reacts as Kafka does. */
static void brk__member_remove(brk_group_t *grp, brk_member_t *m, kerr_t pending_err,
                               const char *why)
{
    for (brk_member_t **pp = &grp->members; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    grp->nmembers--;
    brk__member_fail_pending(m, pending_err);
    bool was_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    sl_esc_t e1, e2;
    SL_LOGI("group", "%s: member %s removed (%s)", sl_esc_str(&e1, grp->id),
            sl_esc_str(&e2, m->id), why);
    brk__member_free(grp->brk, m);
    if (was_leader) {
        free(grp->leader);
        grp->leader = grp->members ? sl_xstrdup(grp->members->id) : NULL;
    }
    if (grp->state == GRP_STABLE || grp->state == GRP_COMPLETING) {
        brk__grp_rebalance(grp, why);
    } else if (grp->state == GRP_PREPARING) {
        brk__grp_try_complete(grp);
    }
}

static void brk__session_expired(void *ctx)
{
    brk_member_t *m = ctx;
    m->session_timer = NULL;
    brk__member_remove(m->grp, m, KERR_UNKNOWN_MEMBER_ID, "session timeout");
}

static void brk__session_touch(brk_member_t *m)
{
    brk_t *brk = m->grp->brk;
    snet_timer_cancel(brk->loop, m->session_timer);
    m->session_timer = snet_timer_start(brk->loop, m->session_ms, brk__session_expired, m);
}

/* ---- rebalance ---- */

static void brk__rebalance_timeout(void *ctx)
{
    brk_group_t *grp = ctx;
    grp->rebalance_timer = NULL;
    /* Members that did not rejoin in time are out. */
    brk_member_t *m = grp->members;
    while (m) {
        brk_member_t *next = m->next;
        if (!m->join_req) {
            grp->state = GRP_PREPARING;
            brk__member_remove(grp, m, KERR_UNKNOWN_MEMBER_ID, "did not rejoin before the rebalance timeout");
        }
        m = next;
    }
    brk__grp_try_complete(grp);
}

/* Kafka's initial delayed join: the end of a delay in which members joined starts another, as
 * long as the rebalance timeout leaves room; then the rebalance completes with whoever joined. */
static void brk__initial_delay_done(void *ctx)
{
    brk_group_t *grp = ctx;
    grp->rebalance_timer = NULL;
    int32_t delay = grp->brk->conf.group_initial_rebalance_delay_ms;
    if (grp->delay_joined && grp->delay_left_ms > 0) {
        grp->delay_joined = false;
        int32_t next = SL_MIN(delay, grp->delay_left_ms);
        grp->delay_left_ms = SL_MAX(grp->delay_left_ms - delay, 0);
        grp->rebalance_timer = snet_timer_start(grp->brk->loop, next, brk__initial_delay_done, grp);
        return;
    }
    grp->delaying = false;
    brk__rebalance_timeout(grp);
}

/* A rebalance of an empty group waits group.initial.rebalance.delay.ms for more members, so
 * consumers starting together form one generation (Kafka's default 3 s); true when it waits. */
static bool brk__grp_initial_delay(brk_group_t *grp, bool was_empty, int32_t timeout)
{
    brk_t *brk = grp->brk;
    int32_t delay = brk->conf.group_initial_rebalance_delay_ms;
    if (!was_empty || delay <= 0) {
        return false;
    }
    grp->delaying = true;
    grp->delay_joined = false;
    grp->delay_left_ms = SL_MAX(timeout - delay, 0);
    snet_timer_cancel(brk->loop, grp->rebalance_timer);
    grp->rebalance_timer = snet_timer_start(brk->loop, SL_MIN(delay, timeout),
                                            brk__initial_delay_done, grp);
    sl_esc_t esc;
    SL_LOGI("group", "%s: preparing the first rebalance, waiting up to %d ms for more members",
            sl_esc_str(&esc, grp->id), (int)SL_MIN(delay, timeout));
    return true;
}

static void brk__grp_rebalance(brk_group_t *grp, const char *why)
{
    brk_t *brk = grp->brk;
    if (grp->delaying) {
        return; /* the initial delay ends with a completion of its own */
    }
    bool was_empty = grp->state == GRP_EMPTY;
    if (grp->state == GRP_COMPLETING) {
        for (brk_member_t *m = grp->members; m; m = m->next) {
            if (m->sync_req) {
                kmsg_sync_group_resp_t resp;
                kmsg_sync_group_resp_init(&resp);
                resp.error_code = KERR_REBALANCE_IN_PROGRESS;
                brk_respond(m->sync_req, &resp);
                m->sync_req = NULL;
            }
        }
    }
    grp->state = GRP_PREPARING;
    int32_t timeout = 0;
    for (brk_member_t *m = grp->members; m; m = m->next) {
        timeout = SL_MAX(timeout, m->rebalance_ms);
    }
    if (brk__grp_initial_delay(grp, was_empty, timeout)) {
        return;
    }
    snet_timer_cancel(brk->loop, grp->rebalance_timer);
    grp->rebalance_timer = snet_timer_start(brk->loop, timeout, brk__rebalance_timeout, grp);
    sl_esc_t esc;
    SL_LOGI("group", "%s: preparing rebalance (%s), %d member(s)", sl_esc_str(&esc, grp->id), why,
            (int)grp->nmembers);
    brk__grp_try_complete(grp);
}

/* Kafka's vote: among the protocols every member supports, each member votes for the first of
 * its own list; the most votes wins (ties: the first member's order). One pass over the
 * members' protocols with a hash set of the first member's (a common protocol is one of them). */
static const char *brk__grp_choose(brk_group_t *grp)
{
    brk_member_t *first = grp->members;
    if (!first || first->nprotos <= 0) {
        return NULL;
    }
    int32_t n = first->nprotos;
    int64_t *support = sl_xcalloc((size_t)n * 3, sizeof *support);
    int64_t *seen = support + n, *votes = support + 2 * n; /* seen: last member counted */
    sl_hset_t *set = sl_hset_new((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        sl_hset_put(set, first->protos[i].name, strlen(first->protos[i].name), 0, i, NULL);
        seen[i] = -1;
    }
    int64_t ord = 0;
    for (brk_member_t *m = grp->members; m; m = m->next, ord++) {
        for (int32_t j = 0; j < m->nprotos; j++) {
            int64_t k;
            if (sl_hset_get(set, m->protos[j].name, strlen(m->protos[j].name), 0, &k) &&
                seen[k] != ord) {
                seen[k] = ord;
                support[k]++;
            }
        }
    }
    for (brk_member_t *m = grp->members; m; m = m->next) {
        for (int32_t j = 0; j < m->nprotos; j++) {
            int64_t k;
            if (sl_hset_get(set, m->protos[j].name, strlen(m->protos[j].name), 0, &k) &&
                support[k] == grp->nmembers) {
                votes[k]++;
                break;
            }
        }
    }
    const char *best = NULL;
    int64_t best_votes = -1;
    for (int32_t i = 0; i < n; i++) {
        if (support[i] == grp->nmembers && votes[i] > best_votes) {
            best = first->protos[i].name;
            best_votes = votes[i];
        }
    }
    sl_hset_free(set);
    free(support);
    return best;
}

static const brk_proto_t *brk__member_proto(const brk_member_t *m, const char *name)
{
    for (int32_t i = 0; name && i < m->nprotos; i++) {
        if (strcmp(m->protos[i].name, name) == 0) {
            return &m->protos[i];
        }
    }
    return NULL;
}

/* Answers m's pending join. leader overrides the leader id given to the member (a static
 * member rejoining a stable group is told the leader it had before, so it stays a follower). */
static void brk__join_respond_as(brk_group_t *grp, brk_member_t *m, kerr_t err, const char *leader)
{
    brk_req_t *req = m->join_req;
    m->join_req = NULL;
    kmsg_join_group_resp_t resp;
    kmsg_join_group_resp_init(&resp);
    resp.error_code = (int16_t)err;
    resp.generation_id = grp->generation;
    resp.protocol_type = kproto_str(grp->protocol_type);
    resp.protocol_name = kproto_str(grp->protocol);
    resp.leader = kproto_str(leader);
    resp.member_id = kproto_str(m->id);
    if (leader && strcmp(leader, m->id) == 0) {
        resp.members_count = grp->nmembers;
        resp.members = brk_alloc(req, grp->nmembers, sizeof *resp.members);
        int32_t i = 0;
        for (brk_member_t *o = grp->members; o; o = o->next, i++) {
            kmsg_join_group_resp_join_group_response_member_init(&resp.members[i]);
            resp.members[i].member_id = kproto_str(o->id);
            resp.members[i].group_instance_id = kproto_str(o->instance_id);
            const brk_proto_t *p = brk__member_proto(o, grp->protocol);
            resp.members[i].metadata = (kproto_bytes_t){p ? p->meta : NULL, p ? p->len : 0};
        }
    }
    brk_respond(req, &resp);
}

static void brk__join_respond(brk_group_t *grp, brk_member_t *m, kerr_t err)
{
    brk__join_respond_as(grp, m, err, grp->leader);
}

static void brk__grp_try_complete(brk_group_t *grp)
{
    if (grp->state != GRP_PREPARING || grp->delaying) {
        return;
    }
    for (brk_member_t *m = grp->members; m; m = m->next) {
        if (!m->join_req) {
            return;
        }
    }
    brk_t *brk = grp->brk;
    snet_timer_cancel(brk->loop, grp->rebalance_timer);
    grp->rebalance_timer = NULL;
    grp->generation++;
    free(grp->protocol);
    grp->protocol = NULL;
    if (!grp->members) {
        grp->state = GRP_EMPTY;
        grp->empty_since_ms = sl_time_wall_ms();
        free(grp->leader);
        grp->leader = NULL;
        free(grp->protocol_type);
        grp->protocol_type = NULL;
        sl_esc_t esc;
        SL_LOGI("group", "%s: empty at generation %d", sl_esc_str(&esc, grp->id),
                (int)grp->generation);
        return;
    }
    const char *chosen = brk__grp_choose(grp);
    grp->protocol = chosen ? sl_xstrdup(chosen) : NULL;
    if (!grp->leader || !brk__member_find(grp, kproto_str(grp->leader))) {
        free(grp->leader);
        grp->leader = sl_xstrdup(grp->members->id);
    }
    grp->state = GRP_COMPLETING;
    grp->rebalances++;
    sl_esc_t e1, e2, e3;
    SL_LOGI("group", "%s: generation %d with %d member(s), protocol %s, leader %s",
            sl_esc_str(&e1, grp->id), (int)grp->generation, (int)grp->nmembers,
            sl_esc_str(&e2, grp->protocol ? grp->protocol : "-"), sl_esc_str(&e3, grp->leader));
    for (brk_member_t *m = grp->members; m; m = m->next) {
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        brk__session_touch(m);
        brk__join_respond(grp, m, KERR_NONE);
    }
}

/* ---- JoinGroup ---- */

static bool brk__protos_equal(const brk_member_t *m, const kmsg_join_group_req_t *body)
{
    if (m->nprotos != body->protocols_count) {
        return false;
    }
    for (int32_t i = 0; i < m->nprotos; i++) {
        const kmsg_join_group_req_join_group_request_protocol_t *p = &body->protocols[i];
        if (!kproto_str_eq(p->name, m->protos[i].name) || p->metadata.len != m->protos[i].len ||
            (p->metadata.len > 0 && memcmp(p->metadata.ptr, m->protos[i].meta, (size_t)p->metadata.len))) {
            return false;
        }
    }
    return true;
}

/* Bytes a join's protocols take in the group (names and metadata). */
static int64_t brk__join_meta_bytes(const kmsg_join_group_req_t *body)
{
    int64_t n = 0;
    for (int32_t i = 0; i < body->protocols_count; i++) {
        n += SL_MAX(body->protocols[i].name.len, 0) + SL_MAX(body->protocols[i].metadata.len, 0);
    }
    return n;
}

static void brk__member_set_protos(brk_member_t *m, const kmsg_join_group_req_t *body)
{
    brk__protos_free(m);
    m->nprotos = body->protocols_count;
    m->protos = sl_xcalloc((size_t)SL_MAX(m->nprotos, 1), sizeof *m->protos);
    for (int32_t i = 0; i < m->nprotos; i++) {
        const kmsg_join_group_req_join_group_request_protocol_t *p = &body->protocols[i];
        m->protos[i].name = brk__dup(p->name);
        m->protos[i].len = SL_MAX(p->metadata.len, 0);
        m->protos[i].meta = sl_xmalloc((size_t)m->protos[i].len + 1);
        if (m->protos[i].len) {
            memcpy(m->protos[i].meta, p->metadata.ptr, (size_t)m->protos[i].len);
        }
    }
    m->meta_bytes = brk__join_meta_bytes(body);
    m->grp->meta_bytes += m->meta_bytes;
}

/* Checks a join against the group and the broker's limits. */
static kerr_t brk__join_check(brk_req_t *req, brk_group_t *grp)
{
    kmsg_join_group_req_t *body = req->body;
    const brk_conf_t *c = &req->brk->conf;
    if (!grp) {
        return body->group_id.len <= 0 ? KERR_INVALID_GROUP_ID : KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (body->session_timeout_ms < c->group_min_session_ms ||
        body->session_timeout_ms > c->group_max_session_ms) {
        return KERR_INVALID_SESSION_TIMEOUT;
    }
    if (body->protocol_type.len <= 0 || body->protocols_count <= 0) {
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    if (grp->members && grp->protocol_type && !kproto_str_eq(body->protocol_type, grp->protocol_type)) {
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    /* What a member may store (Kafka bounds it only by the request size). */
    int64_t bytes = brk__join_meta_bytes(body);
    if (body->protocols_count > BRK_GROUP_MEMBER_PROTOCOLS_MAX ||
        bytes > BRK_GROUP_MEMBER_METADATA_BYTES_MAX) {
        SL_LOGW("group", "%s: join refused: %d protocols, %lld bytes of metadata (limits %d, %lld)",
                req->peer, (int)body->protocols_count, (long long)bytes,
                BRK_GROUP_MEMBER_PROTOCOLS_MAX, (long long)BRK_GROUP_MEMBER_METADATA_BYTES_MAX);
        return KERR_INVALID_REQUEST;
    }
    brk_member_t *self = body->member_id.len > 0 ? brk__member_find(grp, body->member_id) : NULL;
    if (grp->meta_bytes - (self ? self->meta_bytes : 0) + bytes > BRK_GROUP_METADATA_BYTES_MAX) {
        return KERR_GROUP_MAX_SIZE_REACHED;
    }
    char **names = brk_alloc(req, body->protocols_count, sizeof *names);
    for (int32_t i = 0; i < body->protocols_count; i++) {
        if (body->protocols[i].name.len < 0) {
            return KERR_INCONSISTENT_GROUP_PROTOCOL; /* a null name is no protocol */
        }
        names[i] = kproto_str_dup(req->arena, body->protocols[i].name);
    }
    /* Some protocol must be common to this member and every other one. */
    for (brk_member_t *m = grp->members; m; m = m->next) {
        if (m == self) {
            continue;
        }
        bool common = false;
        for (int32_t i = 0; i < body->protocols_count && !common; i++) {
            common = brk__member_proto(m, names[i]) != NULL;
        }
        if (!common) {
            return KERR_INCONSISTENT_GROUP_PROTOCOL;
        }
    }
    return KERR_NONE;
}

static char *brk__new_member_id(brk_req_t *req)
{
    uint8_t r[8] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        memset(r, 0x5a, sizeof r);
    }
    char buf[320];
    int n = snprintf(buf, sizeof buf, "%.*s-", req->client_id.len > 0 ? SL_MIN(req->client_id.len, 255) : 6,
                     req->client_id.len > 0 ? req->client_id.ptr : "member");
    for (int i = 0; i < n; i++) { /* member ids are logged: printable ASCII only */
        if ((uint8_t)buf[i] < 0x21 || (uint8_t)buf[i] > 0x7e) {
            buf[i] = '_';
        }
    }
    for (size_t i = 0; i < sizeof r; i++) {
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%02x", r[i]);
    }
    return sl_xstrdup(buf);
}

static bool brk__pending_take(brk_group_t *grp, kproto_str_t id)
{
    int64_t now = snet_loop_now_ms(grp->brk->loop);
    bool found = false;
    for (brk_pending_t **pp = &grp->pending; *pp;) {
        brk_pending_t *p = *pp;
        bool match = kproto_str_eq(id, p->id);
        bool expired = p->expires_ms < now;
        if (match || expired) {
            found = found || (match && !expired);
            *pp = p->next;
            free(p->id);
            free(p);
            grp->npending--;
        } else {
            pp = &p->next;
        }
    }
    return found;
}

/* Remembers a member id handed out with MEMBER_ID_REQUIRED until the session timeout (as
 * Kafka's pending members); false when group.max.size of them are already pending. */
static bool brk__pending_add(brk_group_t *grp, char *id, int32_t session_timeout_ms)
{
    int64_t now = snet_loop_now_ms(grp->brk->loop);
    brk__pending_take(grp, (kproto_str_t){NULL, -1}); /* drops the expired ones */
    if (grp->npending >= grp->brk->conf.group_max_size) {
        free(id);
        return false;
    }
    brk_pending_t *p = sl_xcalloc(1, sizeof *p);
    p->id = id;
    p->expires_ms = now + SL_MAX(session_timeout_ms, 0);
    p->next = grp->pending;
    grp->pending = p;
    grp->npending++;
    return true;
}

static void brk__join_error(brk_req_t *req, kerr_t err, const char *member_id)
{
    kmsg_join_group_resp_t resp;
    kmsg_join_group_resp_init(&resp);
    resp.error_code = (int16_t)err;
    resp.member_id = kproto_str(member_id ? member_id : "");
    brk_respond(req, &resp);
}

static brk_member_t *brk__member_add(brk_group_t *grp, brk_req_t *req, char *id)
{
    kmsg_join_group_req_t *body = req->body;
    brk_member_t *m = sl_xcalloc(1, sizeof *m);
    m->grp = grp;
    m->id = id;
    m->instance_id = brk__dup(body->group_instance_id);
    m->client_id = brk__dup(req->client_id.len >= 0 ? req->client_id : kproto_str(""));
    const char *colon = strrchr(req->peer, ':');
    m->client_host = sl_xstrndup(req->peer, colon ? (size_t)(colon - req->peer) : strlen(req->peer));
    m->next = grp->members;
    grp->members = m;
    grp->nmembers++;
    grp->delay_joined |= grp->delaying;
    if (!grp->protocol_type) {
        grp->protocol_type = brk__dup(body->protocol_type);
    }
    return m;
}

/* A static member comes back under a new member id: swap ids; when the group is stable and its
 * protocols are unchanged, keep its assignment and answer at once with the leader id as it was
 * (no rebalance, and a former leader does not redo the assignment), as Kafka does. */
static bool brk__join_static(brk_group_t *grp, brk_member_t *m, brk_req_t *req)
{
    kmsg_join_group_req_t *body = req->body;
    char *old = m->id;
    char *old_leader = grp->leader ? sl_xstrdup(grp->leader) : NULL;
    m->id = brk__new_member_id(req);
    if (grp->leader && strcmp(grp->leader, old) == 0) {
        free(grp->leader);
        grp->leader = sl_xstrdup(m->id);
    }
    sl_esc_t e1, e2, e3;
    SL_LOGI("group", "%s: static member %s rejoined as %s", sl_esc_str(&e1, grp->id),
            sl_esc_str(&e2, m->instance_id), sl_esc_str(&e3, m->id));
    free(old);
    brk__member_fail_pending(m, KERR_FENCED_INSTANCE_ID);
    m->session_ms = body->session_timeout_ms;
    m->rebalance_ms = body->rebalance_timeout_ms > 0 ? body->rebalance_timeout_ms : body->session_timeout_ms;
    bool kept = grp->state == GRP_STABLE && brk__protos_equal(m, body);
    if (kept) {
        m->join_req = req;
        brk__session_touch(m);
        brk__join_respond_as(grp, m, KERR_NONE, old_leader);
    } else {
        brk__member_set_protos(m, body);
    }
    free(old_leader);
    return kept;
}

/* The joining member: found, or added (a new id, a pending id taken). NULL when req was
 * answered (an error, MEMBER_ID_REQUIRED, a static member's rejoin). */
static brk_member_t *brk__join_member(brk_req_t *req, brk_group_t *grp)
{
    kmsg_join_group_req_t *body = req->body;
    brk_t *brk = req->brk;
    brk_member_t *m = NULL;
    brk_member_t *by_inst = brk__member_by_instance(grp, body->group_instance_id);
    if (body->member_id.len <= 0) {
        if (by_inst) {
            return brk__join_static(grp, by_inst, req) ? NULL : by_inst;
        } else if (req->api_version >= 4 && body->group_instance_id.len < 0) {
            if (!brk__pending_add(grp, brk__new_member_id(req), body->session_timeout_ms)) {
                brk__join_error(req, KERR_GROUP_MAX_SIZE_REACHED, NULL);
                return NULL;
            }
            brk__join_error(req, KERR_MEMBER_ID_REQUIRED, grp->pending->id);
            return NULL;
        } else if (grp->nmembers >= brk->conf.group_max_size) {
            brk__join_error(req, KERR_GROUP_MAX_SIZE_REACHED, NULL);
            return NULL;
        }
        return brk__member_add(grp, req, brk__new_member_id(req));
    }
    m = brk__member_find(grp, body->member_id);
    if (!m && by_inst) {
        brk__join_error(req, KERR_FENCED_INSTANCE_ID, NULL);
        return NULL;
    }
    if (!m && brk__pending_take(grp, body->member_id)) {
        if (grp->nmembers >= brk->conf.group_max_size) {
            brk__join_error(req, KERR_GROUP_MAX_SIZE_REACHED, NULL);
            return NULL;
        }
        m = brk__member_add(grp, req, brk__dup(body->member_id));
    }
    if (!m) {
        brk__join_error(req, KERR_UNKNOWN_MEMBER_ID, NULL);
    }
    return m;
}

void brk_handle_join_group(brk_req_t *req)
{
    kmsg_join_group_req_t *body = req->body;
    brk_t *brk = req->brk;
    /* Before the group exists: a denied join must not create it. */
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    if (denied != KERR_NONE) {
        brk__join_error(req, denied, NULL);
        return;
    }
    brk_group_t *grp = body->group_id.len > 0 ? brk_group_get(brk, body->group_id) : NULL;
    kerr_t err = brk__join_check(req, grp);
    if (err != KERR_NONE) {
        brk__join_error(req, err, NULL);
        return;
    }
    brk_member_t *m = brk__join_member(req, grp);
    if (!m) {
        return;
    }
    bool unchanged = m->nprotos > 0 && brk__protos_equal(m, body);
    bool leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    if (m->join_req) {
        brk__join_error(m->join_req, KERR_REBALANCE_IN_PROGRESS, m->id); /* superseded */
        m->join_req = NULL;
    }
    m->join_req = req;
    m->session_ms = body->session_timeout_ms;
    m->rebalance_ms = req->api_version >= 1 ? body->rebalance_timeout_ms : body->session_timeout_ms;
    if (grp->state == GRP_STABLE && unchanged && !leader) {
        brk__session_touch(m);
        brk__join_respond(grp, m, KERR_NONE); /* nothing changed: the current generation */
        return;
    }
    brk__member_set_protos(m, body);
    if (grp->state == GRP_PREPARING) {
        brk__grp_try_complete(grp);
    } else {
        brk__grp_rebalance(grp, "member joined or changed its subscription");
    }
}

/* ---- SyncGroup, Heartbeat, LeaveGroup ---- */

/* Membership checks shared by sync, heartbeat and commit. */
static kerr_t brk__member_check(brk_group_t *grp, kproto_str_t member_id, kproto_str_t instance,
                                int32_t generation, brk_member_t **out)
{
    brk_member_t *m = grp ? brk__member_find(grp, member_id) : NULL;
    if (!m) {
        return grp && brk__member_by_instance(grp, instance) ? KERR_FENCED_INSTANCE_ID
                                                              : KERR_UNKNOWN_MEMBER_ID;
    }
    if (instance.len >= 0 && (!m->instance_id || !kproto_str_eq(instance, m->instance_id))) {
        return KERR_FENCED_INSTANCE_ID;
    }
    *out = m;
    return generation == grp->generation ? KERR_NONE : KERR_ILLEGAL_GENERATION;
}

static void brk__sync_respond(brk_group_t *grp, brk_member_t *m, brk_req_t *req, kerr_t err)
{
    kmsg_sync_group_resp_t resp;
    kmsg_sync_group_resp_init(&resp);
    resp.error_code = (int16_t)err;
    if (err == KERR_NONE) {
        resp.protocol_type = kproto_str(grp->protocol_type);
        resp.protocol_name = kproto_str(grp->protocol);
        resp.assignment = (kproto_bytes_t){m->assignment, m->assignment_len};
    }
    brk_respond(req, &resp);
}

void brk_handle_sync_group(brk_req_t *req)
{
    kmsg_sync_group_req_t *body = req->body;
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    if (denied != KERR_NONE) {
        brk__sync_respond(NULL, NULL, req, denied);
        return;
    }
    brk_group_t *grp = brk_group_find(req->brk, body->group_id);
    brk_member_t *m = NULL;
    kerr_t err = brk__member_check(grp, body->member_id, body->group_instance_id,
                                   body->generation_id, &m);
    if (err == KERR_NONE && ((body->protocol_type.len >= 0 && !kproto_str_eq(body->protocol_type, grp->protocol_type)) ||
                             (body->protocol_name.len >= 0 && !kproto_str_eq(body->protocol_name, grp->protocol)))) {
        err = KERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    if (err == KERR_NONE && grp->state == GRP_PREPARING) {
        err = KERR_REBALANCE_IN_PROGRESS;
    }
    if (err != KERR_NONE || grp->state == GRP_STABLE) {
        brk__sync_respond(grp, m, req, err);
        return;
    }
    SL_ASSERT(grp->state == GRP_COMPLETING);
    brk__session_touch(m);
    if (m->sync_req) {
        brk__sync_respond(grp, m, m->sync_req, KERR_REBALANCE_IN_PROGRESS);
    }
    m->sync_req = req;
    if (strcmp(grp->leader, m->id) != 0) {
        return;
    }
    for (int32_t i = 0; i < body->assignments_count; i++) {
        brk_member_t *o = brk__member_find(grp, body->assignments[i].member_id);
        kproto_bytes_t a = body->assignments[i].assignment;
        if (o && a.len > 0) {
            free(o->assignment);
            o->assignment = sl_xmalloc((size_t)a.len);
            memcpy(o->assignment, a.ptr, (size_t)a.len);
            o->assignment_len = a.len;
        }
    }
    grp->state = GRP_STABLE;
    sl_esc_t esc;
    SL_LOGI("group", "%s: stable at generation %d", sl_esc_str(&esc, grp->id),
            (int)grp->generation);
    for (brk_member_t *o = grp->members; o; o = o->next) {
        if (o->sync_req) {
            brk_req_t *r = o->sync_req;
            o->sync_req = NULL;
            brk__sync_respond(grp, o, r, KERR_NONE);
        }
    }
}

void brk_handle_heartbeat(brk_req_t *req)
{
    kmsg_heartbeat_req_t *body = req->body;
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    brk_group_t *grp = denied == KERR_NONE ? brk_group_find(req->brk, body->group_id) : NULL;
    brk_member_t *m = NULL;
    kerr_t err = denied != KERR_NONE ? denied
                                     : brk__member_check(grp, body->member_id,
                                                         body->group_instance_id,
                                                         body->generation_id, &m);
    if (m) {
        brk__session_touch(m);
    }
    if (err == KERR_NONE && grp->state == GRP_PREPARING) {
        err = KERR_REBALANCE_IN_PROGRESS;
    }
    kmsg_heartbeat_resp_t resp;
    kmsg_heartbeat_resp_init(&resp);
    resp.error_code = (int16_t)err;
    brk_respond(req, &resp);
}

static kerr_t brk__leave_one(brk_group_t *grp, kproto_str_t member_id, kproto_str_t instance)
{
    brk_member_t *m = NULL;
    if (member_id.len > 0) {
        m = brk__member_find(grp, member_id);
        if (m && instance.len >= 0 && (!m->instance_id || !kproto_str_eq(instance, m->instance_id))) {
            return KERR_FENCED_INSTANCE_ID;
        }
    } else {
        m = brk__member_by_instance(grp, instance);
    }
    if (!m) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    brk__member_remove(grp, m, KERR_UNKNOWN_MEMBER_ID, "left the group");
    return KERR_NONE;
}

void brk_handle_leave_group(brk_req_t *req)
{
    kmsg_leave_group_req_t *body = req->body;
    brk_group_t *grp = brk_group_find(req->brk, body->group_id);
    kmsg_leave_group_resp_t resp;
    kmsg_leave_group_resp_init(&resp);
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    if (denied != KERR_NONE) {
        resp.error_code = (int16_t)denied;
        brk_respond(req, &resp);
        return;
    }
    if (req->api_version < 3) {
        resp.error_code = grp ? (int16_t)brk__leave_one(grp, body->member_id, (kproto_str_t){NULL, -1})
                              : KERR_UNKNOWN_MEMBER_ID;
        brk_respond(req, &resp);
        return;
    }
    resp.members_count = SL_MAX(body->members_count, 0);
    resp.members = brk_alloc(req, resp.members_count, sizeof *resp.members);
    for (int32_t i = 0; i < resp.members_count; i++) {
        kmsg_leave_group_resp_member_response_init(&resp.members[i]);
        resp.members[i].member_id = body->members[i].member_id;
        resp.members[i].group_instance_id = body->members[i].group_instance_id;
        resp.members[i].error_code = grp ? (int16_t)brk__leave_one(grp, body->members[i].member_id,
                                                                   body->members[i].group_instance_id)
                                         : KERR_UNKNOWN_MEMBER_ID;
    }
    brk_respond(req, &resp);
}

/* ---- used by group_offsets.c ---- */

kerr_t brk_group_check_commit(brk_group_t *grp, int32_t generation, kproto_str_t member_id,
                             kproto_str_t instance_id)
{
    if (generation < 0 && member_id.len <= 0) {
        /* A commit from outside any generation (manual assignment): only when no member is
         * active, as Kafka allows. */
        return brk_group_is_empty(grp) ? KERR_NONE : KERR_UNKNOWN_MEMBER_ID;
    }
    brk_member_t *m = NULL;
    kerr_t err = brk__member_check(grp, member_id, instance_id, generation, &m);
    if (err == KERR_NONE && grp->state == GRP_COMPLETING) {
        err = KERR_REBALANCE_IN_PROGRESS;
    }
    if (m) {
        brk__session_touch(m);
    }
    return err;
}

/* Reads the topics of a ConsumerProtocolSubscription (version i16, topics [string], ...). */
static bool brk__sub_has(const brk_proto_t *p, kproto_str_t topic)
{
    kproto_rd_t rd;
    kproto_rd_init(&rd, p->meta, (size_t)p->len);
    kproto_rd_i16(&rd);
    int32_t n = kproto_rd_array_len(&rd, false, 2);
    for (int32_t i = 0; i < n && !rd.err; i++) {
        kproto_str_t t = kproto_rd_str(&rd, false);
        if (!rd.err && t.len == topic.len && memcmp(t.ptr, topic.ptr, (size_t)t.len) == 0) {
            return true;
        }
    }
    return false;
}

bool brk_group_subscribed(const brk_group_t *grp, kproto_str_t topic)
{
    if (!grp->protocol_type || strcmp(grp->protocol_type, "consumer") != 0) {
        return false;
    }
    for (brk_member_t *m = grp->members; m; m = m->next) {
        const brk_proto_t *p = brk__member_proto(m, grp->protocol);
        if (p && brk__sub_has(p, topic)) {
            return true;
        }
    }
    return false;
}

/* Frees grp: members told, pending ids and timers gone; its offsets stay in the store. */
static void brk__grp_free(brk_t *brk, brk_group_t *grp)
{
    while (grp->members) {
        brk__member_remove(grp, grp->members, KERR_UNKNOWN_MEMBER_ID, "group deleted");
    }
    snet_timer_cancel(brk->loop, grp->rebalance_timer);
    if (grp->prev) {
        grp->prev->next = grp->next;
    } else {
        brk->groups_list = grp->next;
    }
    if (grp->next) {
        grp->next->prev = grp->prev;
    }
    sl_hset_del(brk->groups_idx, grp->id, strlen(grp->id), 0);
    brk->ngroups--;
    while (grp->pending) {
        brk_pending_t *p = grp->pending;
        grp->pending = p->next;
        free(p->id);
        free(p);
    }
    free(grp->id);
    free(grp->protocol_type);
    free(grp->protocol);
    free(grp->leader);
    free(grp);
}

void brk_group_delete(brk_t *brk, brk_group_t *grp)
{
    brk_offsets_drop_group(brk, grp->id);
    brk__grp_free(brk, grp);
}

/* ---- FindCoordinator, DescribeGroups, ListGroups ---- */

/* DESCRIBE on the group (key type 0) or on the transactional id (key type 1). */
static kerr_t brk__coord_authz(brk_req_t *req, int8_t key_type, kproto_str_t key)
{
    if (key_type == 1) {
        return brk_authz(req, BRK_ACL_OP_DESCRIBE, BRK_ACL_RES_TRANSACTIONAL_ID, key)
                   ? KERR_NONE
                   : KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
    return brk_authz_req_group(req, key);
}

void brk_handle_find_coordinator(brk_req_t *req)
{
    kmsg_find_coordinator_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_find_coordinator_resp_t resp;
    kmsg_find_coordinator_resp_init(&resp);
    resp.node_id = brk->conf.node_id;
    resp.host = kproto_str(req->adv_host);
    resp.port = req->adv_port;
    if (req->api_version < 4) {
        resp.error_code = (int16_t)brk__coord_authz(req, body->key_type, body->key);
        if (resp.error_code != KERR_NONE) {
            resp.node_id = -1;
            resp.host = kproto_str("");
            resp.port = -1;
        }
    } else {
        resp.coordinators_count = SL_MAX(body->coordinator_keys_count, 0);
        resp.coordinators = brk_alloc(req, resp.coordinators_count, sizeof *resp.coordinators);
        for (int32_t i = 0; i < resp.coordinators_count; i++) {
            kmsg_find_coordinator_resp_coordinator_t *c = &resp.coordinators[i];
            kmsg_find_coordinator_resp_coordinator_init(c);
            c->key = body->coordinator_keys[i];
            c->error_code = (int16_t)brk__coord_authz(req, body->key_type, c->key);
            bool ok = c->error_code == KERR_NONE;
            c->node_id = ok ? brk->conf.node_id : -1;
            c->host = ok ? resp.host : kproto_str("");
            c->port = ok ? resp.port : -1;
        }
    }
    brk_respond(req, &resp);
}

static void brk__describe_one(brk_req_t *req, brk_group_t *grp,
                              kmsg_describe_groups_resp_described_group_t *dg)
{
    dg->group_state = kproto_str(brk__grp_state_names[grp ? grp->state : GRP_DEAD]);
    dg->authorized_operations = INT32_MIN;
    if (!grp) {
        return;
    }
    dg->protocol_type = kproto_str(grp->protocol_type ? grp->protocol_type : "");
    dg->protocol_data = kproto_str(grp->protocol ? grp->protocol : "");
    dg->members_count = grp->nmembers;
    dg->members = brk_alloc(req, grp->nmembers, sizeof *dg->members);
    int32_t i = 0;
    for (brk_member_t *m = grp->members; m; m = m->next, i++) {
        kmsg_describe_groups_resp_described_group_member_t *dm = &dg->members[i];
        kmsg_describe_groups_resp_described_group_member_init(dm);
        dm->member_id = kproto_str(m->id);
        dm->group_instance_id = kproto_str(m->instance_id);
        dm->client_id = kproto_str(m->client_id);
        dm->client_host = kproto_str(m->client_host);
        const brk_proto_t *p = brk__member_proto(m, grp->protocol);
        dm->member_metadata = (kproto_bytes_t){p ? p->meta : NULL, p ? p->len : 0};
        dm->member_assignment = (kproto_bytes_t){m->assignment, m->assignment_len};
    }
}

brk_key_t brk_group_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kproto_str_t *)entries)[i], 0);
}

void brk_handle_describe_groups(brk_req_t *req)
{
    kmsg_describe_groups_req_t *body = req->body;
    kmsg_describe_groups_resp_t resp;
    kmsg_describe_groups_resp_init(&resp);
    /* One answer per distinct group (Kafka's set): the answer grows with the groups
     * described, not with how often the request names them. */
    int32_t n = SL_MAX(body->groups_count, 0);
    int32_t *first = brk_dups(req, body->groups, n, brk_group_key, NULL);
    resp.groups = brk_alloc(req, n, sizeof *resp.groups);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue;
        }
        kmsg_describe_groups_resp_described_group_t *dg = &resp.groups[resp.groups_count++];
        kmsg_describe_groups_resp_described_group_init(dg);
        dg->group_id = body->groups[i];
        if (body->groups[i].len <= 0) {
            dg->error_code = KERR_INVALID_GROUP_ID;
            continue;
        }
        kerr_t denied = brk_authz_req_group(req, body->groups[i]);
        if (denied != KERR_NONE) {
            dg->error_code = (int16_t)denied;
            dg->group_state = kproto_str("");
            dg->protocol_type = kproto_str("");
            dg->protocol_data = kproto_str("");
            continue;
        }
        brk__describe_one(req, brk_group_find(req->brk, body->groups[i]), dg);
        if (body->include_authorized_operations) {
            dg->authorized_operations = brk_authz_ops(req, BRK_ACL_RES_GROUP, body->groups[i]);
        }
    }
    brk_respond(req, &resp);
}

void brk_handle_list_groups(brk_req_t *req)
{
    kmsg_list_groups_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_list_groups_resp_t resp;
    kmsg_list_groups_resp_init(&resp);
    resp.groups = brk_alloc(req, brk->ngroups, sizeof *resp.groups);
    int32_t n = 0;
    /* DESCRIBE on the cluster lists every group; else only groups the principal may describe. */
    bool all = brk_authz_cluster(req, BRK_ACL_OP_DESCRIBE) == KERR_NONE;
    for (brk_group_t *grp = brk->groups_list; grp; grp = grp->next) {
        if (!all && brk_authz_req_group(req, kproto_str(grp->id)) != KERR_NONE) {
            continue;
        }
        bool keep = body->states_filter_count <= 0;
        for (int32_t i = 0; i < body->states_filter_count && !keep; i++) {
            keep = kproto_str_eq(body->states_filter[i], brk__grp_state_names[grp->state]);
        }
        if (!keep) {
            continue;
        }
        kmsg_list_groups_resp_listed_group_init(&resp.groups[n]);
        resp.groups[n].group_id = kproto_str(grp->id);
        resp.groups[n].protocol_type = kproto_str(grp->protocol_type ? grp->protocol_type : "");
        resp.groups[n].group_state = kproto_str(brk__grp_state_names[grp->state]);
        resp.groups[n].group_type = kproto_str("classic");
        n++;
    }
    resp.groups_count = n;
    brk_respond(req, &resp);
}

void brk_groups_fail_all(brk_t *brk)
{
    for (brk_group_t *grp = brk->groups_list; grp; grp = grp->next) {
        for (brk_member_t *m = grp->members; m; m = m->next) {
            brk__member_fail_pending(m, KERR_COORDINATOR_NOT_AVAILABLE);
        }
    }
}

static void brk__groups_free_all(brk_t *brk)
{
    while (brk->groups_list) {
        brk_group_t *grp = brk->groups_list;
        while (grp->members) {
            brk_member_t *m = grp->members;
            grp->members = m->next;
            brk__member_fail_pending(m, KERR_COORDINATOR_NOT_AVAILABLE);
            brk__member_free(brk, m);
        }
        grp->nmembers = 0;
        brk__grp_free(brk, grp);
    }
    sl_hset_free(brk->groups_idx);
    brk->groups_idx = NULL;
}

/* ---- lifecycle ---- */

/* The store's admission of a group id that gets offsets: the group is registered. */
static bool brk__grp_admit(brk_t *brk, kproto_str_t id)
{
    return brk_group_get(brk, id) != NULL;
}

int brk_groups_open(brk_t *brk, char *err, size_t err_len)
{
    return brk_offsets_open(brk, brk__grp_admit, err, err_len);
}

void brk_groups_close(brk_t *brk)
{
    brk__groups_free_all(brk);
    brk_offsets_close(brk);
}

void brk_groups_housekeep(brk_t *brk, int64_t now_ms)
{
    brk_offsets_housekeep(brk);
    brk_group_t *grp = brk->groups_list;
    while (grp) {
        brk_group_t *next = grp->next;
        if (brk_group_is_empty(grp) && now_ms - grp->empty_since_ms > brk->conf.offsets_retention_ms) {
            SL_LOGI("offsets", "group %s: empty for longer than offsets.retention.minutes; "
                    "dropping its offsets", grp->id);
            brk_group_delete(brk, grp);
        }
        grp = next;
    }
}
