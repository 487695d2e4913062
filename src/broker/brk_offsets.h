/* Committed offsets: a store keyed by group id, made durable in an internal log,
 * <data>/internal/offsets (record format in offsets.c), replayed at start and compacted by
 * snapshots. The store knows nothing of the coordinator but its admission of new group ids.
 * Thread: loop. */
#ifndef BRK_OFFSETS_H
#define BRK_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "brk_part.h"

/* One committed offset. */
typedef struct brk_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;       /* metadata_len bytes (any, NULs included), then a NUL */
    int32_t metadata_len;
    int64_t commit_ms;
} brk_offset_t;

/* The committed metadata of o, every byte of it. */
static inline kproto_str_t brk_offset_metadata(const brk_offset_t *o)
{
    return (kproto_str_t){o->metadata, o->metadata_len};
}

/* A set of offsets keyed by topic-partition: a group's in the store, a transaction's pending
 * ones. Lookups are O(1) past a few items (a hash index built on demand). */
typedef struct {
    brk_offset_t *items;
    int32_t n, cap;
    struct sl_hset *idx; /* topic-partition -> index in items; NULL: none yet */
} brk_otab_t;

/* The offset of topic-partition in tab, or NULL. */
const brk_offset_t *brk_otab_find(brk_otab_t *tab, kproto_str_t topic, int32_t partition);
/* Sets (adding when new) the offset of topic-partition in tab; copies topic and every byte of
 * meta (null: empty). */
void brk_otab_set(brk_otab_t *tab, kproto_str_t topic, int32_t partition, int64_t offset,
                  int32_t epoch, kproto_str_t meta, int64_t commit_ms);
void brk_otab_clear(brk_otab_t *tab);

/* An offset to write, or a topic-partition to delete, with the strings as a request has them. */
typedef struct {
    kproto_str_t topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    kproto_str_t metadata; /* null: "" */
} brk_oput_t;

typedef struct brk_offsets brk_offsets_t; /* the store (brk->offsets) */

/* Whether a group id without stored offsets may get some (the coordinator registers it);
 * called in the order group ids first get offsets, replay included. */
typedef bool (*brk_offsets_admit_t)(brk_t *brk, kproto_str_t group);

/* Opens the log and replays it into brk->offsets (NULL on failure). */
int brk_offsets_open(brk_t *brk, brk_offsets_admit_t admit, char *err, size_t err_len);
/* Fails the log's waiters, closes it and frees the store. */
void brk_offsets_close(brk_t *brk);
/* The offsets log partition (its flush waiters are served by flush.c like any partition). */
brk_part_t *brk_offsets_log(brk_t *brk);

/* The offsets of group, or NULL when it has none. Valid until the next change. */
brk_otab_t *brk_offsets_of(brk_t *brk, kproto_str_t group);
/* Writes n offsets of group as one record batch stamped now, leaving memory as it is (brk_offsets_apply, once durable if the caller
 * waits); *target gets the log's end offset to wait on. Returns 0, SL_ELIMIT when the group
 * is not admitted, or the log's error. */
int brk_offsets_write(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *offs,
                      int64_t now, int64_t *target);
/* Sets n offsets of group in memory with commit time now (a group not admitted: nothing). */
void brk_offsets_apply(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *offs,
                       int64_t now);
/* Deletes the offsets of group's n topic-partitions (those it has), in memory and with one
 * batch of tombstones that is not waited for. */
void brk_offsets_delete(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *keys);
/* Deletes every offset of group (tombstones) and forgets the group. */
void brk_offsets_drop_group(brk_t *brk, const char *group);
/* Deletes the offsets of a deleted topic in every group. */
void brk_offsets_topic_deleted(brk_t *brk, kproto_str_t topic);
/* Compacts the log when it holds mostly superseded commits (a snapshot, then the older
 * segments once it is durable). */
void brk_offsets_housekeep(brk_t *brk);

#endif
