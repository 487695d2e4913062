/* Consumer group coordinator (Kafka's classic protocol). Committed offsets are kept by the
 * store of brk_offsets.h; the offset APIs (group_offsets.c) use both. Thread: loop. */
#ifndef BRK_GROUP_H
#define BRK_GROUP_H

#include "brk_offsets.h"
#include "brk_req.h"
#include "kerr.h"

typedef struct brk_group brk_group_t;

/* Opens the committed-offsets store; every group with offsets is registered, Empty. */
int brk_groups_open(brk_t *brk, char *err, size_t err_len);
/* Frees every group (pending joins/syncs answered) and closes the store. */
void brk_groups_close(brk_t *brk);
/* Deletes groups empty for longer than offsets.retention.minutes with their offsets; lets the
 * store compact its log. */
void brk_groups_housekeep(brk_t *brk, int64_t now_ms);
/* Answers pending joins/syncs (shutdown). */
void brk_groups_fail_all(brk_t *brk);

void brk_handle_find_coordinator(brk_req_t *req);
void brk_handle_join_group(brk_req_t *req);
void brk_handle_sync_group(brk_req_t *req);
void brk_handle_heartbeat(brk_req_t *req);
void brk_handle_leave_group(brk_req_t *req);
void brk_handle_describe_groups(brk_req_t *req);
void brk_handle_list_groups(brk_req_t *req);
void brk_handle_delete_groups(brk_req_t *req);
void brk_handle_offset_commit(brk_req_t *req);
void brk_handle_offset_fetch(brk_req_t *req);
void brk_handle_offset_delete(brk_req_t *req);

/* The coordinator as the offset APIs need it. */
/* A group id of a request's list (brk_dups). */
brk_key_t brk_group_key(const void *entries, int32_t i);
brk_group_t *brk_group_find(brk_t *brk, kproto_str_t id);
/* For monitoring (mon.c): the next group of brk->groups_list, its id, and its state's name
 * (static), member count and completed rebalances since start. */
brk_group_t *brk_group_next(const brk_group_t *grp);
const char *brk_group_id(const brk_group_t *grp);
void brk_group_mon(const brk_group_t *grp, const char **state, int32_t *members,
                   uint64_t *rebalances);
/* The group, created Empty when new; NULL for an empty id or past BRK_GROUPS_MAX groups. */
brk_group_t *brk_group_get(brk_t *brk, kproto_str_t id);
bool brk_group_is_empty(const brk_group_t *grp);
/* Validates a commit's membership: KERR_NONE when the member may commit. */
kerr_t brk_group_check_commit(brk_group_t *grp, int32_t generation, kproto_str_t member_id,
                              kproto_str_t instance_id);
/* Whether an active member's subscription names topic. */
bool brk_group_subscribed(const brk_group_t *grp, kproto_str_t topic);
/* Deletes grp (members told) and its committed offsets. */
void brk_group_delete(brk_t *brk, brk_group_t *grp);

#endif
