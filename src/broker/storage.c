/* Storage health: a partition taken offline by an I/O error (a full disk, a failed sync, no
 * descriptors to open a file) is retried with backoff until it comes back by itself
 * (slog_part_resume), and produce is refused early while the data dir's filesystem has less
 * free space than log.disk.reserve.bytes, so committed offsets, transaction state, the
 * cleaner and recovery still find room. Reads are never refused here. */
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_storage.h"
#include "brk_topics.h"
#include "sl_log.h"
#include "sl_time.h"

#include <sys/statvfs.h>

/* How often the timer looks for offline partitions; each has its own backoff on top. */
#define BRK_RESUME_TICK_MS 250

/* One offline partition: due for a retry? Then try, and set the next retry. */
static void brk__resume_part(brk_t *brk, brk_part_t *part, int64_t now)
{
    if (!slog_part_failed(part->log)) {
        part->resume_backoff_ms = 0;
        return;
    }
    if (part->resume_backoff_ms == 0) { /* just went offline: first retry after the minimum */
        part->resume_backoff_ms = BRK_RESUME_BACKOFF_MS_MIN;
        part->resume_at_ms = now + part->resume_backoff_ms;
        return;
    }
    if (now < part->resume_at_ms || part->sync_inflight || part->zero_job) {
        return;
    }
    int rc = slog_part_resume(part->log);
    if (rc == 0) {
        part->resume_backoff_ms = 0;
        brk_part_hw_moved(brk, part);
        brk_flush_kick(brk, part);
        return;
    }
    part->resume_backoff_ms = SL_MIN(part->resume_backoff_ms * 2, (int64_t)BRK_RESUME_BACKOFF_MS_MAX);
    part->resume_at_ms = now + part->resume_backoff_ms;
    SL_LOGD("storage", "%s-%d: still offline (%s); next try in %lld ms",
            part->topic ? part->topic->name : "offsets", (int)part->index, sl_strerror(rc),
            (long long)part->resume_backoff_ms);
}

void brk_storage_tick(brk_t *brk)
{
    int64_t now = snet_loop_now_ms(brk->loop);
    if (brk->offsets) {
        brk__resume_part(brk, brk_offsets_log(brk), now);
    }
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        for (int32_t p = 0; p < t->npart; p++) {
            brk__resume_part(brk, t->parts[p], now);
        }
    }
}

static void brk__storage_timer(void *ctx)
{
    brk_t *brk = ctx;
    brk->resume_timer = NULL;
    if (brk->stopping) {
        return;
    }
    brk_storage_tick(brk);
    brk->resume_timer = snet_timer_start(brk->loop, BRK_RESUME_TICK_MS, brk__storage_timer, brk);
}

void brk_storage_start(brk_t *brk)
{
    brk->resume_timer = snet_timer_start(brk->loop, BRK_RESUME_TICK_MS, brk__storage_timer, brk);
}

void brk_storage_stop(brk_t *brk)
{
    snet_timer_cancel(brk->loop, brk->resume_timer);
    brk->resume_timer = NULL;
}

bool brk_disk_low(brk_t *brk)
{
    if (brk->conf.disk_reserve_bytes <= 0) {
        return false;
    }
    int64_t now = sl_time_mono_ms();
    if (brk->disk_checked_ms != 0 && now - brk->disk_checked_ms < BRK_DISK_CHECK_MS &&
        brk->disk_appended < BRK_DISK_CHECK_BYTES) {
        return brk->disk_low;
    }
    brk->disk_checked_ms = now;
    brk->disk_appended = 0;
    struct statvfs sv;
    if (statvfs(brk->conf.data_dir, &sv) != 0) {
        return brk->disk_low; /* keep the last verdict: the write itself will tell */
    }
    int64_t free_bytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    bool low = free_bytes < brk->conf.disk_reserve_bytes;
    if (low != brk->disk_low) {
        if (low) {
            SL_LOGW("storage", "%s: %lld bytes free, under log.disk.reserve.bytes (%lld): "
                    "refusing produce (KAFKA_STORAGE_ERROR) until space returns; reads go on",
                    brk->conf.data_dir, (long long)free_bytes,
                    (long long)brk->conf.disk_reserve_bytes);
        } else {
            SL_LOGI("storage", "%s: %lld bytes free again: accepting produce",
                    brk->conf.data_dir, (long long)free_bytes);
        }
    }
    brk->disk_low = low;
    return low;
}

void brk_disk_appended(brk_t *brk, int64_t bytes)
{
    brk->disk_appended += bytes;
}
