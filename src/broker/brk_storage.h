/* Offline partitions' retries and the free-space reserve (storage.c). Thread: loop. */
#ifndef BRK_STORAGE_H
#define BRK_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"

/* Retries offline partitions whose backoff has passed (the timer calls it every 250 ms;
 * tests call it directly). */
void brk_storage_tick(brk_t *brk);
void brk_storage_start(brk_t *brk);
void brk_storage_stop(brk_t *brk);
/* Whether free space on the data dir's filesystem is under log.disk.reserve.bytes: measured
 * (statvfs) at most every BRK_DISK_CHECK_MS or after BRK_DISK_CHECK_BYTES appended; the
 * change of verdict is logged once. */
bool brk_disk_low(brk_t *brk);
void brk_disk_appended(brk_t *brk, int64_t bytes);

#endif
