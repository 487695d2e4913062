/* Consumer group coordinator (Kafka's classic protocol) and committed offsets.
 * Thread: loop. */
#ifndef BRK_GROUP_H
#define BRK_GROUP_H

#include "brk_internal.h"

typedef struct brk_group brk_group_t;

/* One committed offset of a group. */
typedef struct brk_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ms;
} brk_offset_t;

typedef struct {
    brk_offset_t *items;
    int32_t n, cap;
    /* topic-partition -> index in items, built on the first lookup past a few items and
     * dropped by a removal (offsets.c); NULL: none. */
    struct sl_hset *idx;
} brk_offsets_t;
typedef struct brk_groups brk_groups_t;

/* Opens the committed-offsets log under <data>/internal/offsets and replays it. */
int brk_groups_open(brk_t *brk, brk_groups_t **out, char *err, size_t err_len);
/* Answers every pending join/sync, closes the offsets log. */
void brk_groups_close(brk_groups_t *groups);
/* Drops the committed offsets of a deleted topic. */
void brk_groups_topic_deleted(brk_t *brk, const char *topic);
/* Expires offsets of groups empty for longer than offsets.retention.minutes; compacts the
 * offsets log when it holds mostly superseded commits. */
void brk_groups_housekeep(brk_t *brk, int64_t now_ms);
/* The offsets log partition (its flush waiters are served by flush.c like any partition). */
brk_part_t *brk_groups_log(brk_groups_t *groups);

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

/* A committed transaction's offsets for group (created if needed): one record batch in the
 * offsets log, then memory. *target gets the offsets log's end offset to wait on for
 * durability (-1 when nothing was written). Returns 0 or the log's error. */
int brk_offsets_txn_apply(brk_t *brk, const char *group, int32_t n, const brk_offset_t *offs,
                          int64_t *target);

/* Shared between group.c and offsets.c. */
/* A group id of a request's list (brk_dups). */
brk_key_t brk__group_key(const void *entries, int32_t i);
brk_group_t *brk__grp_find(brk_t *brk, kproto_str_t id);
brk_group_t *brk__grp_get(brk_t *brk, kproto_str_t id);
bool brk__grp_is_empty(const brk_group_t *grp);
const char *brk__grp_id(const brk_group_t *grp);
/* Validates a commit's membership: KERR_NONE when the member may commit. */
kerr_t brk__grp_check_commit(brk_group_t *grp, int32_t generation, kproto_str_t member_id,
                             kproto_str_t instance_id);
/* Whether an active member's subscription names topic. */
bool brk__grp_subscribed(const brk_group_t *grp, kproto_str_t topic);
void brk__grp_delete(brk_t *brk, brk_group_t *grp);
brk_offsets_t *brk__grp_offsets(brk_group_t *grp);
brk_group_t *brk__grp_next(const brk_group_t *grp);
int64_t brk__grp_empty_since(const brk_group_t *grp);
/* offsets.c: frees a group's offsets. */
void brk__offsets_clear(brk_offsets_t *offs);
/* Sets (adding when new) the offset of topic-partition in offs; copies topic and meta. */
void brk__off_set(brk_offsets_t *offs, kproto_str_t topic, int32_t partition, int64_t offset,
                  int32_t epoch, kproto_str_t meta, int64_t commit_ms);
/* Answers pending joins/syncs (shutdown), then frees every group. */
void brk_groups_fail_all(brk_t *brk);
void brk_groups_free_all(brk_t *brk);

#endif
