/* The cleaner's commit (the contract is in slog.h; the job is in cleaner.c): the checkpoint
 * file, the swap of cleaned segments into the partition on the loop, and the completion of an
 * interrupted swap when a partition opens.
 * Checkpoint file clean-checkpoint (written atomically), one item a line:
 *   cleaned <offset>          offsets below were cleaned (the dirty section starts here)
 *   gaps <offset>             segments based below may have offset gaps
 *   mark <offset> <time_ms>   tombstones below offset (and above the previous mark) were
 *                             first cleaned at time_ms */
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"
#include "slog_clean.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOG_CKPT_FILE "clean-checkpoint"
#define SLOG_CKPT_BYTES_MAX 4096

SL_STATIC_ASSERT(SLOG_CKPT_BYTES_MAX > SLOG_CLEAN_MARKS_MAX * 48 + 64, "checkpoint fits");

void slog__clean_path(const char *dir, int64_t base, const char *ext, const char *state,
                      char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020" PRId64 ".%s%s", dir, base, ext, state);
}

/* ---- checkpoint ---- */

static int slog__ckpt_write(const char *dir, int64_t cleaned, int64_t gaps,
                            const slog_clean_mark_t *marks, int nmarks)
{
    char path[4096], text[SLOG_CKPT_BYTES_MAX];
    snprintf(path, sizeof path, "%s/" SLOG_CKPT_FILE, dir);
    int len = snprintf(text, sizeof text, "cleaned %" PRId64 "\ngaps %" PRId64 "\n", cleaned,
                       gaps);
    for (int i = 0; i < nmarks; i++) {
        len += snprintf(text + len, sizeof text - (size_t)len, "mark %" PRId64 " %" PRId64 "\n",
                        marks[i].offset, marks[i].time_ms);
    }
    return sl_fs_write_atomic(path, text, (size_t)len);
}

/* Reads the checkpoint into part; a missing file is an empty checkpoint. */
static int slog__ckpt_read(slog_part_t *part)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" SLOG_CKPT_FILE, part->dir);
    char *text = NULL;
    size_t len = 0;
    int rc = sl_fs_read_all(path, SLOG_CKPT_BYTES_MAX, &text, &len);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        long long a, b;
        if (sscanf(line, "cleaned %lld", &a) == 1 && a >= 0) {
            part->cleaned_to = a;
        } else if (sscanf(line, "gaps %lld", &a) == 1 && a >= 0) {
            part->gaps_below = a;
        } else if (sscanf(line, "mark %lld %lld", &a, &b) == 2 &&
                   part->nmarks < SLOG_CLEAN_MARKS_MAX) {
            part->marks[part->nmarks++] = (slog_clean_mark_t){a, b};
        } else {
            SL_LOGW("clean", "%s: ignoring a bad checkpoint line", part->dir);
        }
    }
    free(text);
    return 0;
}

int64_t slog_part_cleaned_to(const slog_part_t *part)
{
    return part->cleaned_to;
}

/* ---- swap recovery ---- */

/* Exclusive end offset of the segment file at path (its last batch), or -1. */
static int64_t slog__file_next(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int64_t pos = 0, next = -1;
    uint8_t h[SLOG_BATCH_HEADER_BYTES];
    while (pread(fd, h, sizeof h, pos) == (ssize_t)sizeof h) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(h, &hdr);
        if (hdr.batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
            hdr.last_offset_delta < 0) {
            break;
        }
        next = hdr.base_offset + hdr.last_offset_delta + 1;
        pos += slog_batch_total(&hdr);
    }
    close(fd);
    return next;
}

/* Completes the committed swap of <base>.log.swap: removes the old segments it replaces
 * ([base, end) from <base>.swapend, and at least those its offsets overlap), then gives the
 * .swap files their final names. Without <base>.swapend the .swap is not a commit of ours
 * and is left to be removed as a leftover. */
static int slog__swap_finish(const char *dir, int64_t base)
{
    char path[4096], to[4096];
    slog__clean_path(dir, base, "swapend", "", path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    int64_t end = -1;
    if (sl_fs_read_all(path, 64, &text, &len) == 0 && !sl_parse_i64(text, 0, INT64_MAX, &end)) {
        end = -1;
    }
    free(text);
    if (end < 0) {
        /* Not committed by us (the end is written before the commit): a leftover. */
        SL_LOGW("clean", "%s: segment %" PRId64 ".log.swap without its end: discarded", dir,
                base);
        return 0;
    }
    SL_LOGW("clean", "%s: completing the interrupted swap of cleaned segment %" PRId64, dir,
            base);
    slog__clean_path(dir, base, "log", ".swap", path, sizeof path);
    end = SL_MAX(end, slog__file_next(path));
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long long b;
        char ext[16];
        if (strlen(de->d_name) > 21 && sscanf(de->d_name, "%20lld.%15s", &b, ext) == 2 &&
            b >= base && b < end &&
            (strcmp(ext, "log") == 0 || strcmp(ext, "index") == 0 ||
             strcmp(ext, "timeindex") == 0)) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
    int rc = sl_fs_sync_dir(dir);
    static const char *exts[] = {"index", "timeindex", "log"}; /* the log last */
    for (size_t i = 0; rc == 0 && i < SL_ARRAY_LEN(exts); i++) {
        slog__clean_path(dir, base, exts[i], ".swap", path, sizeof path);
        slog__clean_path(dir, base, exts[i], "", to, sizeof to);
        if (rename(path, to) < 0 && errno != ENOENT) {
            rc = -errno;
        }
    }
    if (rc == 0) {
        rc = sl_fs_sync_dir(dir);
    }
    slog__clean_path(dir, base, "swapend", "", path, sizeof path);
    unlink(path);
    return rc;
}

int slog__clean_recover(slog_part_t *part)
{
    DIR *d = opendir(part->dir);
    if (!d) {
        return -errno;
    }
    int64_t bases[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < SL_ARRAY_LEN(bases)) {
        long long b;
        char rest[16];
        if (strlen(de->d_name) == 29 && sscanf(de->d_name, "%20lld.%15s", &b, rest) == 2 &&
            strcmp(rest, "log.swap") == 0) {
            bases[n++] = b;
        }
    }
    closedir(d);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = slog__swap_finish(part->dir, bases[i]);
    }
    /* Uncommitted .cleaned files and stray .swap/.swapend are leftovers (recovery.c). */
    return rc == 0 ? slog__ckpt_read(part) : rc;
}

/* ---- the swap, on the loop ---- */

/* Index in part->segs of the group's first input, or -1 when an input has gone. */
static ssize_t slog__group_at(const slog_part_t *part, const slog_clean_job_t *job,
                              const slog_clean_group_t *g)
{
    for (size_t s = 0; s + g->n < part->nsegs; s++) {
        if (part->segs[s]->file != job->in[g->first].file) {
            continue;
        }
        for (size_t k = 0; k < g->n; k++) {
            if (part->segs[s + k]->file != job->in[g->first + k].file) {
                return -1;
            }
        }
        return (ssize_t)s;
    }
    return -1;
}

/* The marks after this clean: one more, the oldest two merged when full. */
static void slog__marks_add(slog_part_t *part, int64_t offset, int64_t now_ms)
{
    if (part->nmarks > 0 && part->marks[part->nmarks - 1].offset >= offset) {
        return;
    }
    if (part->nmarks == SLOG_CLEAN_MARKS_MAX) {
        part->marks[1].offset = SL_MAX(part->marks[1].offset, part->marks[0].offset);
        memmove(part->marks, part->marks + 1, (size_t)(part->nmarks - 1) * sizeof *part->marks);
        part->nmarks--;
    }
    part->marks[part->nmarks++] = (slog_clean_mark_t){offset, now_ms};
}

/* Fault injection: whether the swap "crashes" here (slog_fault.h). */
static bool slog__clean_stop(void)
{
    return slog_fault_hit(SLOG_FAULT_CLEAN_STOP) != 0;
}

/* Steps after the commit point: old files out, .swap files in, the new segment loaded. */
static int slog__swap_group(slog_part_t *part, const slog_clean_group_t *g, size_t at)
{
    char path[4096], to[4096];
    for (size_t k = 0; k < g->n; k++) {
        slog__seg_unlink(part->segs[at + k], part->dir); /* fetches keep their files open */
    }
    int rc = sl_fs_sync_dir(part->dir);
    if (rc == 0 && slog__clean_stop()) {
        return SL_ECLOSED;
    }
    static const char *exts[] = {"index", "timeindex", "log"};
    for (size_t i = 0; rc == 0 && i < SL_ARRAY_LEN(exts); i++) {
        slog__clean_path(part->dir, g->base, exts[i], ".swap", path, sizeof path);
        slog__clean_path(part->dir, g->base, exts[i], "", to, sizeof to);
        rc = rename(path, to) < 0 ? -errno : 0;
    }
    if (rc == 0) {
        rc = sl_fs_sync_dir(part->dir);
    }
    if (rc == 0 && slog__clean_stop()) {
        return SL_ECLOSED;
    }
    slog__clean_path(part->dir, g->base, "swapend", "", path, sizeof path);
    unlink(path);
    slog_seg_t *seg = NULL;
    if (rc == 0) {
        rc = slog__seg_open(part->dir, g->base, &seg);
    }
    if (rc == 0) {
        seg->gaps = true;
        rc = slog__seg_load_index(seg, part->dir, true, part->conf.index_interval_bytes);
    }
    if (rc != 0) {
        slog__seg_free(seg);
        return rc;
    }
    seg->synced_next = seg->next;
    for (size_t k = 0; k < g->n; k++) {
        part->size_bytes -= part->segs[at + k]->size;
        slog__seg_free(part->segs[at + k]);
    }
    part->segs[at] = seg;
    slog__fdc_add(seg->file); /* a closed segment (groups end before the active one) */
    memmove(part->segs + at + 1, part->segs + at + g->n,
            (part->nsegs - at - g->n) * sizeof *part->segs);
    part->nsegs -= g->n - 1;
    part->size_bytes += seg->size;
    if (seg->size == 0 && at > 0) {
        /* Nothing survived: no file at all (the first segment stays, holding the log start).
         * A crash before this only leaves an empty segment behind. */
        slog__seg_unlink(seg, part->dir);
        slog__seg_free(seg);
        memmove(part->segs + at, part->segs + at + 1, (part->nsegs - at - 1) * sizeof *part->segs);
        part->nsegs--;
    }
    return 0;
}

/* The commit of one group: its end recorded, .cleaned renamed .swap (the log last). */
static int slog__commit_group(slog_part_t *part, const slog_clean_group_t *g)
{
    char path[4096], to[4096], text[32];
    slog__clean_path(part->dir, g->base, "swapend", "", path, sizeof path);
    int len = snprintf(text, sizeof text, "%" PRId64, g->end);
    int rc = sl_fs_write_atomic(path, text, (size_t)len);
    static const char *exts[] = {"index", "timeindex", "log"};
    for (size_t i = 0; rc == 0 && i < SL_ARRAY_LEN(exts); i++) {
        if (slog__clean_stop()) {
            return SL_ECLOSED; /* after the end, between the renames */
        }
        slog__clean_path(part->dir, g->base, exts[i], ".cleaned", path, sizeof path);
        slog__clean_path(part->dir, g->base, exts[i], ".swap", to, sizeof to);
        rc = rename(path, to) < 0 ? -errno : 0;
    }
    rc = rc == 0 ? sl_fs_sync_dir(part->dir) : rc;
    return rc == 0 && slog__clean_stop() ? SL_ECLOSED : rc;
}

static int slog__clean_install(slog_part_t *part, slog_clean_job_t *job)
{
    for (size_t g = 0; g < job->ngroups; g++) {
        if (slog__group_at(part, job, &job->groups[g]) < 0) {
            SL_LOGI("clean", "%s: segments changed while cleaning (retention?): clean dropped",
                    part->dir);
            return SL_EAGAIN;
        }
    }
    /* Gaps are allowed before any appear, so a crash at any later point recovers. */
    int64_t gaps = SL_MAX(part->gaps_below, job->map_end);
    int rc = slog__ckpt_write(part->dir, part->cleaned_to, gaps, part->marks, part->nmarks);
    if (rc != 0) {
        return rc;
    }
    part->gaps_below = gaps;
    if (slog__clean_stop()) {
        rc = SL_ECLOSED;
    }
    for (size_t g = 0; rc == 0 && g < job->ngroups; g++) {
        slog_clean_group_t *grp = &job->groups[g];
        rc = slog__commit_group(part, grp);
        if (rc == 0) {
            grp->written = false; /* now .swap: the job no longer owns them */
            rc = slog__swap_group(part, grp, (size_t)slog__group_at(part, job, grp));
        }
    }
    if (rc == SL_ECLOSED) { /* a simulated crash: leave every file as it is */
        for (size_t g = 0; g < job->ngroups; g++) {
            job->groups[g].written = false;
        }
        part->failed = rc;
        return rc;
    }
    if (rc != 0) {
        part->failed = rc;
        SL_LOGE("log", "%s: swapping in a cleaned segment failed: %s; the partition is "
                "offline until reopened (which completes the swap)", part->dir, sl_strerror(rc));
        return rc;
    }
    slog__marks_add(part, job->map_end, job->now_ms);
    part->cleaned_to = job->map_end;
    rc = slog__ckpt_write(part->dir, part->cleaned_to, part->gaps_below, part->marks,
                          part->nmarks);
    if (rc != 0) { /* the older checkpoint only makes the next clean redo work */
        SL_LOGW("clean", "%s: cannot write the cleaner checkpoint: %s", part->dir,
                sl_strerror(rc));
    }
    return 0;
}

int slog_part_clean_end(slog_part_t *part, slog_clean_job_t *job, int rc,
                        slog_clean_stats_t *stats)
{
    SL_ASSERT(part->clean_out);
    part->clean_out = false;
    if (rc == 0 && part->failed) {
        rc = SL_EAGAIN;
    }
    if (rc == 0) {
        rc = slog__clean_install(part, job);
    } else if (rc != SL_ECLOSED) {
        SL_LOGW("clean", "%s: clean failed: %s", part->dir, sl_strerror(rc));
    }
    job->stats.cleaned_to = part->cleaned_to;
    job->stats.segments_in = 0;
    for (size_t g = 0; g < job->ngroups; g++) {
        job->stats.segments_in += (int)job->groups[g].n;
    }
    job->stats.segments_out = (int)job->ngroups;
    if (rc == 0) {
        SL_LOGI("clean", "%s: cleaned %d segment(s) into %d, %" PRId64 " -> %" PRId64
                " bytes, %" PRId64 " record(s) removed; cleaned to offset %" PRId64, part->dir,
                job->stats.segments_in, job->stats.segments_out, job->stats.bytes_read,
                job->stats.bytes_written, job->stats.records_removed, part->cleaned_to);
    }
    if (stats) {
        *stats = job->stats;
    }
    slog_clean_job_free(job);
    return rc;
}

