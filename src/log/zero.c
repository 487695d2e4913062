/* Zero-ahead (slog.h): zeroed, synced space past the end of the active segment, so that the
 * fdatasync after an append inside it has no size change or block allocation to commit (on
 * ext4 an appending fdatasync carries a journal commit; an overwrite of written blocks does
 * not). PostgreSQL zero-fills its WAL segments for the same reason.
 *
 * Sharing the file with the loop: a job zeroes [from, to) in pieces, each written under the
 * job's mutex; the loop never writes below from while the job is out (from is at or past the
 * data end when the job begins), and before it writes past from it stops the job under the
 * same mutex (slog__zero_fence), so no zero ever lands on data. Each piece's writeback is
 * waited for (sync_file_range) so that a concurrent fdatasync of the data never waits behind
 * megabytes of dirty zeros; one fdatasync at the end makes the new size durable.
 *
 * The zeroed tail is cut at roll and at close; after a crash, recovery drops it (recovery.c:
 * a tail of zeros past the last batch is this space, not damage). */
#include "sl_common.h"
#include "sl_log.h"
#include "slog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Written from, never written to: .bss, so its pages are the kernel's zero page. */
static uint8_t slog__zeros[SLOG_ZERO_PIECE_BYTES];

struct slog_zero_job {
    char *path;        /* the segment's file, opened only while the job runs: a queued job
                        * holds no descriptor (fdcache.c) */
    int64_t base;      /* segment it extends */
    int64_t from, to;
    pthread_mutex_t mu; /* held while a piece is written; guards stop and done */
    bool stop;
    int64_t done;       /* [from, done) holds zeros (synced once run returns 0) */
};

/* The process's zeroed space (SLOG_ZERO_TOTAL_BYTES_MAX): the sum of the partitions'
 * zero_counted. Changed on the loop only; atomic for the tests' sake. */
static _Atomic int64_t slog__zero_total;

static int64_t slog__zero_share(const slog_part_t *part)
{
    const slog_seg_t *seg = part->nsegs > 0 ? slog__active(part) : NULL;
    int64_t ahead = seg ? SL_MAX(seg->zeroed - seg->size, (int64_t)0) : 0;
    return ahead + (part->zjob ? part->zjob->to - part->zjob->from : 0);
}

void slog__zero_recount(slog_part_t *part)
{
    int64_t share = slog__zero_share(part);
    atomic_fetch_add(&slog__zero_total, share - part->zero_counted);
    part->zero_counted = share;
}

void slog__zero_forget(slog_part_t *part)
{
    atomic_fetch_sub(&slog__zero_total, part->zero_counted);
    part->zero_counted = 0;
}

slog_zero_job_t *slog_part_zero_begin(slog_part_t *part)
{
    int64_t ahead = part->conf.zero_ahead_bytes;
    if (ahead <= 0 || part->failed || part->zjob || part->zero_off ||
        part->last_sync_bytes > SLOG_ZERO_SYNC_BYTES_MAX) {
        return NULL;
    }
    slog_seg_t *seg = slog__active(part);
    int64_t from = SL_MAX(seg->zeroed, seg->size);
    int64_t to = SL_MIN(seg->size + ahead, part->conf.segment_bytes);
    if (from - seg->size >= ahead / 2 || to - from < (int64_t)SLOG_ZERO_PIECE_BYTES) {
        return NULL; /* enough ahead already, or the segment ends first */
    }
    if (atomic_load(&slog__zero_total) + (to - from) > SLOG_ZERO_TOTAL_BYTES_MAX) {
        return NULL; /* other partitions hold the zeroed space the process allows */
    }
    slog_zero_job_t *job = sl_xcalloc(1, sizeof *job);
    job->path = sl_xstrdup(seg->file->path);
    job->base = seg->base;
    job->from = from;
    job->to = to;
    job->done = from;
    pthread_mutex_init(&job->mu, NULL);
    part->zjob = job;
    slog__zero_recount(part);
    return job;
}

int slog_zero_run(slog_zero_job_t *job)
{
    int fd = slog__open_retry(job->path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int rc = 0;
    for (int64_t pos = job->from; rc == 0 && pos < job->to;) {
        size_t n = (size_t)SL_MIN(job->to - pos, (int64_t)SLOG_ZERO_PIECE_BYTES);
        pthread_mutex_lock(&job->mu);
        if (job->stop) {
            pthread_mutex_unlock(&job->mu);
            break;
        }
        rc = slog__pwrite_raw(fd, slog__zeros, n, pos);
        if (rc == 0) {
            job->done = pos + (int64_t)n;
        }
        pthread_mutex_unlock(&job->mu);
        if (rc == 0 && sync_file_range(fd, pos, (off_t)n, SYNC_FILE_RANGE_WAIT_BEFORE |
                                       SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
            rc = -errno;
        }
        pos += (int64_t)n;
    }
    if (rc == 0 && job->done > job->from && fdatasync(fd) < 0) { /* only this thread writes done */
        rc = -errno;
    }
    close(fd);
    return rc;
}

void slog_zero_cancel(slog_zero_job_t *job)
{
    pthread_mutex_lock(&job->mu);
    job->stop = true;
    pthread_mutex_unlock(&job->mu);
}

void slog_part_zero_end(slog_part_t *part, slog_zero_job_t *job, int rc)
{
    SL_ASSERT(part->zjob == job);
    part->zjob = NULL;
    slog_seg_t *seg = slog__active(part);
    if (rc != 0) {
        /* space or I/O trouble: appends go on as before, without zeroed space */
        SL_LOGW("log", "%s: cannot zero space ahead of segment %" PRId64 ": %s; appends grow "
                "the file from now on", part->dir, job->base, sl_strerror(rc));
        part->zero_off = true;
    } else if (seg->base == job->base) {
        seg->zeroed = SL_MAX(seg->zeroed, job->done);
    }
    /* a roll while the job was out has cut the old segment's zeros (slog__zero_trim) */
    slog__zero_recount(part);
    free(job->path);
    pthread_mutex_destroy(&job->mu);
    free(job);
}

void slog__zero_fence(slog_part_t *part, const slog_seg_t *seg, int64_t end)
{
    slog_zero_job_t *job = part->zjob;
    if (job && job->base == seg->base && end > job->from) {
        slog_zero_cancel(job);
    }
}

int slog__zero_trim(slog_part_t *part, slog_seg_t *seg)
{
    int64_t extent = seg->zeroed;
    slog_zero_job_t *job = part->zjob;
    if (job && job->base == seg->base) {
        slog_zero_cancel(job); /* done is final from here on */
        pthread_mutex_lock(&job->mu);
        extent = SL_MAX(extent, job->done);
        pthread_mutex_unlock(&job->mu);
    }
    seg->zeroed = 0;
    slog__zero_recount(part);
    if (extent <= seg->size) {
        return 0;
    }
    int rc = slog__file_ref_open(seg->file); /* the fd cache may have closed it */
    if (rc != 0) {
        return rc;
    }
    rc = ftruncate(seg->file->fd, seg->size) < 0 ? -errno : 1;
    slog_file_unref(seg->file);
    return rc;
}
