/* Group commit (slog.h): the loop prepares a job naming every segment file with unsynced
 * data (a roll leaves the closed segment unsynced: its fdatasync belongs to the next job, not
 * to the loop), whether the directory needs an fsync (segments were created), and whether
 * the recovery point must move to a newer segment. The flusher thread runs it without
 * touching the partition; the loop ends it, advancing the durable offset.
 *
 * A job names its files by path and opens each only while it syncs it (fdatasync through any
 * fd writes the inode's dirty pages), so queued jobs of many partitions hold no descriptors
 * and leave the fd cache free to close their segments (fdcache.c). A file deleted meanwhile
 * (retention, a failed sync's cut) needs no sync. The flusher runs the jobs queued meanwhile
 * together (slog_sync_run_many), so many partitions' fdatasyncs share journal commits. */
#include "sl_common.h"
#include "sl_log.h"
#include "slog_internal.h"

#include <stdlib.h>

struct slog_sync_job {
    int64_t target;  /* the end offset when the job began: durable once it succeeds */
    int64_t rp_base; /* segment of target when the recovery point is written, else -1 */
    char *dir;       /* for the directory fsync and the recovery point */
    bool sync_dir;
    size_t nfiles;
    char *files[];   /* paths of the segment files to fdatasync */
};

bool slog_part_sync_needed(const slog_part_t *part)
{
    return !part->failed && !part->job_out && part->durable < slog_part_end_offset(part);
}

slog_sync_job_t *slog_part_sync_begin(slog_part_t *part)
{
    if (!slog_part_sync_needed(part)) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < part->nsegs; i++) {
        n += part->segs[i]->synced_next < part->segs[i]->next;
    }
    slog_sync_job_t *job = sl_xcalloc(1, sizeof *job + n * sizeof job->files[0]);
    for (size_t i = 0; i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        if (seg->synced_next < seg->next) {
            SL_ASSERT(seg->file->path); /* every segment of a partition has one */
            job->files[job->nfiles++] = sl_xstrdup(seg->file->path);
        }
    }
    job->target = slog_part_end_offset(part);
    part->last_sync_bytes = part->size_bytes - part->sync_mark;
    part->sync_mark = part->size_bytes;
    job->sync_dir = part->dir_dirty;
    part->dir_dirty = false;
    job->rp_base = slog__active(part)->base != part->rp_base ? slog__active(part)->base : -1;
    job->dir = sl_xstrdup(part->dir);
    part->job_out = true;
    return job;
}

/* Lists the files and the directory of n jobs to sync; owner[k] is item k's job. */
static size_t slog__sync_items(slog_sync_job_t **jobs, size_t n, slog__fsync_item_t *items,
                               size_t *owner)
{
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < jobs[j]->nfiles; i++) {
            owner[k] = j;
            items[k++] = (slog__fsync_item_t){.path = jobs[j]->files[i], .segment = true,
                                              .gone_ok = true};
        }
        if (jobs[j]->sync_dir) {
            owner[k] = j;
            items[k++] = (slog__fsync_item_t){.path = jobs[j]->dir, .dir = true};
        }
    }
    return k;
}

void slog_sync_run_many(slog_sync_job_t **jobs, size_t n, int *rcs)
{
    size_t total = 0;
    for (size_t j = 0; j < n; j++) {
        total += jobs[j]->nfiles + jobs[j]->sync_dir;
        rcs[j] = 0;
    }
    slog__fsync_item_t *items = sl_xcalloc(total ? total : 1, sizeof *items);
    size_t *owner = sl_xcalloc(total ? total : 1, sizeof *owner);
    size_t k = slog__sync_items(jobs, n, items, owner);
    slog__fsync_all(items, k);
    for (size_t i = 0; i < k; i++) {
        if (items[i].rc != 0 && rcs[owner[i]] == 0) {
            rcs[owner[i]] = items[i].rc;
        }
    }
    /* The recovery point names offsets only once their data and directory are durable. */
    for (size_t j = 0; j < n; j++) {
        if (rcs[j] == 0 && jobs[j]->rp_base >= 0) {
            rcs[j] = slog__rp_write(jobs[j]->dir, jobs[j]->target);
        }
    }
    free(owner);
    free(items);
}

int slog_sync_run(slog_sync_job_t *job)
{
    int rc;
    slog_sync_run_many(&job, 1, &rc);
    return rc;
}

/* Everything below target is on stable storage now. */
static void slog__synced_to(slog_part_t *part, int64_t target)
{
    part->durable = SL_MAX(part->durable, target);
    for (size_t i = 0; i < part->nsegs && part->segs[i]->base < target; i++) {
        slog_seg_t *seg = part->segs[i];
        seg->synced_next = SL_MAX(seg->synced_next, SL_MIN(seg->next, target));
        slog__fdc_dirty(seg->file, seg->synced_next < seg->next);
    }
}

void slog_part_sync_end(slog_part_t *part, slog_sync_job_t *job, int rc)
{
    SL_ASSERT(part->job_out);
    part->job_out = false;
    if (rc == 0) {
        slog__synced_to(part, job->target);
        if (job->rp_base >= 0) {
            part->rp_base = job->rp_base;
        }
    } else {
        part->dir_dirty = part->dir_dirty || job->sync_dir;
        if (!part->failed) {
            part->failed = rc;
            part->failed_sync = true;
            SL_LOGE("log", "%s: sync failed: %s; the partition is offline", part->dir,
                    sl_strerror(rc));
        }
    }
    for (size_t i = 0; i < job->nfiles; i++) {
        free(job->files[i]);
    }
    free(job->dir);
    free(job);
}

int slog_part_sync_now(slog_part_t *part)
{
    SL_ASSERT(!part->job_out);
    if (part->failed) {
        return part->failed;
    }
    slog_sync_job_t *job = slog_part_sync_begin(part);
    if (!job) {
        return 0;
    }
    int rc = slog_sync_run(job);
    slog_part_sync_end(part, job, rc);
    return rc;
}
