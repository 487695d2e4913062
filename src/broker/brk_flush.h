/* Group commit: sync jobs on flusher threads (flush.c). Thread: loop. */
#ifndef BRK_FLUSH_H
#define BRK_FLUSH_H

#include "brk_part.h"

typedef struct brk_flusher brk_flusher_t;
/* synced runs on the loop after each sync job of a partition ends (err: the job's error). */
typedef void (*brk_synced_fn)(brk_t *brk, brk_part_t *part, int err);
int brk_flusher_new(brk_t *brk, int threads, brk_synced_fn synced, brk_flusher_t **out);
void brk_flusher_free(brk_flusher_t *flusher);
/* Starts a sync job for part if it has unsynced data and none is out. */
void brk_flush_kick(brk_t *brk, brk_part_t *part);
/* True while a sync job is out. */
bool brk_flush_busy(const brk_t *brk);
/* Waits for part's in-flight sync job and stops and waits for its zero-ahead job (topic
 * deletion, shutdown). Blocks the loop briefly. */
void brk_flush_drain(brk_t *brk, brk_part_t *part);
/* Marks part closing and stops its zero-ahead job without waiting: called for every
 * partition before the drains at shutdown, so no drain waits behind other partitions' queued
 * zeroing. Thread: loop. */
void brk_flush_quiesce(brk_part_t *part);

#endif
