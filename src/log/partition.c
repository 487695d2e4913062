/* A partition log: an ordered list of segments, the last one active. Appends validate every
 * batch of a request before writing any, roll before a batch that would overflow the active
 * segment (or when it is roll_ms old), and write whole runs of batches with one pwrite.
 * Reads find the batch holding an offset through the sparse index and a header scan, and
 * return file ranges of whole batches. Recovery is in recovery.c, group commit in sync.c. */
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"
#include "sl_time.h"
#include "slog_internal.h"
#include "slog_txn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void slog_conf_default(slog_conf_t *conf)
{
    conf->segment_bytes = (int64_t)1 << 30;
    conf->roll_ms = 7LL * 24 * 3600 * 1000;
    conf->retention_ms = 7LL * 24 * 3600 * 1000;
    conf->retention_bytes = -1;
    conf->index_interval_bytes = 4096;
    conf->max_message_bytes = 1048588;
    conf->log_append_time = false;
    conf->codec = -1;
    conf->producers_max = SLOG_PRODUCERS_PER_PARTITION_MAX;
    conf->producer_expiry_ms = 24LL * 3600 * 1000;
    conf->cleanup_delete = true;
    conf->cleanup_compact = false;
    conf->delete_retention_ms = 86400000;
    conf->min_compaction_lag_ms = 0;
    conf->min_cleanable_dirty_ratio = 0.5;
    conf->max_compaction_lag_ms = INT64_MAX;
    conf->open_sync = true;
    conf->zero_ahead_bytes = 0;
}

int slog__push_seg(slog_part_t *part, slog_seg_t *seg)
{
    if (part->nsegs == SLOG_SEGMENTS_MAX) {
        return SL_ELIMIT;
    }
    if (part->nsegs == part->segs_cap) {
        part->segs_cap = part->segs_cap ? part->segs_cap * 2 : 8;
        part->segs = sl_xrealloc(part->segs, part->segs_cap * sizeof *part->segs);
    }
    SL_ASSERT(part->nsegs == 0 || seg->base == slog__active(part)->next ||
              (seg->base > slog__active(part)->next && slog__active(part)->gaps));
    if (part->nsegs > 0) { /* the active segment closes */
        slog_seg_t *prev = slog__active(part);
        slog__fdc_dirty(prev->file, prev->synced_next < prev->next);
    }
    slog__fdc_add(seg->file); /* idle and synced, the cache may close its fd */
    part->segs[part->nsegs++] = seg;
    part->size_bytes += seg->size;
    return 0;
}

void slog__part_free(slog_part_t *part)
{
    slog__zero_forget(part);
    for (size_t i = 0; i < part->nsegs; i++) {
        slog__seg_free(part->segs[i]);
    }
    free(part->segs);
    free(part->dir);
    slog_pstate_free(part->pstate);
    slog_txn_free(part->txn);
    free(part);
}

void slog_part_set_conf(slog_part_t *part, const slog_conf_t *conf)
{
    part->conf = *conf;
    part->conf.index_interval_bytes = SL_MAX(part->conf.index_interval_bytes, 1);
    part->conf.segment_bytes =
        SL_MIN(SL_MAX(part->conf.segment_bytes, SLOG_SEGMENT_BYTES_MIN), SLOG_SEGMENT_BYTES_MAX);
    if (part->pstate) {
        slog_pstate_set_limits(part->pstate, conf->producers_max, conf->producer_expiry_ms);
    }
}

int slog_part_open(const char *dir, const slog_conf_t *conf, slog_part_t **out)
{
    int rc = sl_fs_mkdirs(dir);
    if (rc != 0) {
        return rc;
    }
    slog_part_t *part = sl_xcalloc(1, sizeof *part);
    part->dir = sl_xstrdup(dir);
    slog_part_set_conf(part, conf);
    rc = slog__recover(part);
    if (rc == 0) {
        rc = slog__pstate_open(part);
    }
    if (rc == 0) {
        rc = slog__txn_open(part);
    }
    if (rc == 0) {
        rc = slog__start_load(part); /* DeleteRecords' start, once everything is loaded */
    }
    if (rc != 0) {
        SL_LOGE("log", "%s: cannot open the partition log: %s", dir, sl_strerror(rc));
        slog__part_free(part);
        return rc;
    }
    part->sync_mark = part->size_bytes; /* the first sync job covers only what comes next */
    *out = part;
    return 0;
}

/* Index files of every segment written (the clean marker vouches for them), not synced: the
 * close's sync pass (slog__close_list) syncs every one not synced since it was written. */
static int slog__persist_indexes(slog_part_t *part)
{
    slog__seg_seal(slog__active(part));
    for (size_t i = 0; i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        if (!seg->index_written) {
            int rc = slog__seg_write_index(seg, part->dir, false);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Creates the clean marker, unsynced: everything it vouches for is on stable storage already,
 * so it cannot reach the disk before that; if a power loss takes it, the next start only
 * verifies what it need not. (Synced, it cost two fsyncs per partition at stop.) */
static int slog__mark_clean(const slog_part_t *part)
{
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.clean", part->dir);
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  sl_fs_file_mode());
    if (fd < 0) {
        return -errno;
    }
    close(fd);
    return 0;
}

/* Whether the partition's files are as a clean open found them (its marker stands, nothing
 * appended, rolled or unsynced since): its close writes and syncs nothing. */
static bool slog__unchanged(const slog_part_t *part)
{
    const slog_seg_t *active = slog__active(part);
    if (!part->clean_marker || part->failed || part->dir_dirty || part->zjob ||
        active->zeroed > active->size || part->durable < slog_part_end_offset(part)) {
        return false;
    }
    for (size_t i = 0; i < part->nsegs; i++) {
        if (!part->segs[i]->index_written || !part->segs[i]->index_synced) {
            return false;
        }
    }
    return true;
}

/* The paths one partition's clean close must make durable before its marker. */
typedef struct {
    slog__fsync_item_t *items;
    size_t n, cap;
} slog__close_list_t;

static void slog__close_add(slog__close_list_t *cl, const char *path, bool dir, bool segment)
{
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 8;
        cl->items = sl_xrealloc(cl->items, cl->cap * sizeof *cl->items);
    }
    cl->items[cl->n++] = (slog__fsync_item_t){.path = sl_xstrdup(path), .dir = dir,
                                              .segment = segment};
}

/* What a clean close writes before the marker, unsynced, and lists for one sync pass: segment
 * files with data not yet synced (or a cut of zero-ahead space), index files written since
 * their last sync, the producer snapshot and the directory. 1: nothing to do (unchanged). */
static int slog__close_files(slog_part_t *part, slog__close_list_t *cl)
{
    SL_ASSERT(!part->job_out && !part->clean_out && !part->zjob);
    if (slog__unchanged(part)) {
        return 1;
    }
    int rc = part->failed ? part->failed : slog__zero_trim(part, slog__active(part));
    bool cut = rc == 1; /* the active file's size changed */
    if (rc >= 0) {
        rc = slog__persist_indexes(part);
    }
    if (rc != 0) {
        return rc;
    }
    char path[4096];
    for (size_t i = 0; i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        if (seg->synced_next < seg->next || (cut && i + 1 == part->nsegs)) {
            slog__close_add(cl, seg->file->path, false, true);
        }
        for (int k = 0; !seg->index_synced && k < 2; k++) {
            slog__seg_path(part->dir, seg->base, k ? "timeindex" : "index", path, sizeof path);
            slog__close_add(cl, path, false, false);
        }
    }
    /* Unsynced: a snapshot is checked when read, and a lost one only means a longer replay.
     * The recovery point stays as the last sync job left it: true, and unread while the
     * marker stands. */
    slog__pstate_snapshot(part, false);
    slog__close_add(cl, part->dir, true, false);
    return 0;
}

/* Marks a closed partition clean unless rc says a step failed (1: it still is), and frees it. */
static void slog__close_end(slog_part_t *part, int rc)
{
    if (rc == 0) {
        rc = slog__mark_clean(part);
    }
    if (rc < 0) {
        SL_LOGW("log", "%s: closed without a clean marker (%s): the next start verifies it",
                part->dir, sl_strerror(rc));
    }
    slog__part_free(part);
}

void slog_part_close(slog_part_t *part)
{
    if (part) {
        slog_parts_close(&part, 1);
    }
}

/* The partitions being closed, each with its list and result. */
typedef struct {
    slog_part_t **parts;
    slog__close_list_t *lists;
    int *rcs;
} slog__close_work_t;

static void slog__close_one(void *ctx, size_t i)
{
    slog__close_work_t *work = ctx;
    work->rcs[i] = slog__close_files(work->parts[i], &work->lists[i]);
}

/* Syncs every partition's list in one pass; a failed item fails its partition. */
static void slog__close_sync(slog__close_work_t *work, size_t n)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        total += work->lists[i].n;
    }
    slog__fsync_item_t *items = sl_xcalloc(total ? total : 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < work->lists[i].n; j++) {
            items[k++] = work->lists[i].items[j];
        }
    }
    slog__fsync_all(items, total);
    k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < work->lists[i].n; j++, k++) {
            work->rcs[i] = work->rcs[i] ? work->rcs[i] : items[k].rc;
            free((char *)items[k].path);
        }
        free(work->lists[i].items);
    }
    free(items);
}

void slog_parts_close(slog_part_t **parts, size_t n)
{
    slog__close_work_t work = {.parts = parts,
                               .lists = sl_xcalloc(n ? n : 1, sizeof *work.lists),
                               .rcs = sl_xcalloc(n ? n : 1, sizeof *work.rcs)};
    int64_t t0 = sl_time_mono_ms();
    slog__par_for(n, slog__close_one, &work); /* partitions share no files: all at once */
    int64_t t1 = sl_time_mono_ms();
    slog__close_sync(&work, n);
    if (n > 1) {
        SL_LOGI("log", "closed %zu partitions: their files written in %" PRId64 " ms, synced in %"
                PRId64 " ms", n, t1 - t0, sl_time_mono_ms() - t1);
    }
    for (size_t i = 0; i < n; i++) {
        slog__close_end(parts[i], work.rcs[i]);
    }
    free(work.lists);
    free(work.rcs);
}

int slog_parts_sync_new(slog_part_t **parts, size_t n)
{
    slog__fsync_item_t *items = sl_xcalloc(n ? n : 1, sizeof *items);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i]->dir_dirty) {
            items[k++] = (slog__fsync_item_t){.path = parts[i]->dir, .dir = true};
        }
    }
    slog__fsync_all(items, k);
    int rc = 0;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i]->dir_dirty) {
            rc = rc ? rc : items[k].rc;
            parts[i]->dir_dirty = items[k++].rc != 0; /* else the first sync job tries again */
        }
    }
    free(items);
    return rc;
}

void slog_part_abandon(slog_part_t *part)
{
    if (part) {
        SL_ASSERT(!part->job_out && !part->clean_out && !part->zjob);
        slog__part_free(part);
    }
}

int slog_part_delete(slog_part_t *part)
{
    char *dir = sl_xstrdup(part->dir);
    slog_part_abandon(part);
    int rc = sl_fs_rmtree(dir);
    free(dir);
    return rc;
}

int64_t slog_part_start_offset(const slog_part_t *part) { return part->start; }
int64_t slog_part_end_offset(const slog_part_t *part) { return slog__active(part)->next; }
int64_t slog_part_durable_offset(const slog_part_t *part) { return part->durable; }
int64_t slog_part_size_bytes(const slog_part_t *part) { return part->size_bytes; }
int slog_part_segment_count(const slog_part_t *part) { return (int)part->nsegs; }
int slog_part_failed(const slog_part_t *part) { return part->failed; }

/* Takes the partition offline after an I/O error; returns rc. */
static int slog__fail(slog_part_t *part, int rc, const char *what)
{
    if (!part->failed) {
        part->failed = rc;
        SL_LOGE("log", "%s: %s failed: %s; the partition is offline", part->dir, what,
                sl_strerror(rc));
    }
    return rc;
}

/* The first write after a clean open removes the marker (durably) so that a crash from now
 * on is noticed. */
static int slog__unmark_clean(slog_part_t *part)
{
    if (!part->clean_marker) {
        return 0;
    }
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.clean", part->dir);
    int rc = unlink(marker) < 0 && errno != ENOENT ? -errno : 0;
    if (rc == 0) {
        rc = sl_fs_sync_dir(part->dir);
    }
    if (rc != 0) {
        return slog__fail(part, rc, "removing the clean marker");
    }
    part->clean_marker = false;
    return 0;
}

/* Closes the active segment (index files written, not synced: recovery checks them; its data
 * is synced by the next sync job) and starts a new one at the end offset. */
static int slog__roll(slog_part_t *part)
{
    slog_seg_t *old = slog__active(part);
    char path[4096];
    int rc = slog__zero_trim(part, old);
    if (rc < 0) {
        return slog__fail(part, rc, "cutting the zeroed space of a closing segment");
    }
    if (rc == 1) {
        old->synced_next = old->base; /* the next sync job makes the cut durable */
    }
    slog__seg_seal(old);
    if (slog__seg_write_index(old, part->dir, false) == 0) {
        slog__seg_path(part->dir, old->base, "index", path, sizeof path);
        slog__idx_map(&old->oidx, path);
        slog__seg_path(part->dir, old->base, "timeindex", path, sizeof path);
        slog__idx_map(&old->tidx, path);
    } else {
        SL_LOGW("log", "%s: cannot write the indexes of segment %" PRId64 " (kept in memory)",
                part->dir, old->base);
    }
    slog_seg_t *seg;
    rc = slog__seg_create(part->dir, old->next, &seg);
    if (rc == 0) {
        rc = slog__push_seg(part, seg);
        if (rc != 0) {
            slog__seg_unlink(seg, part->dir);
            slog__seg_free(seg);
        }
    }
    if (rc != 0) {
        return slog__fail(part, rc, "rolling a new segment");
    }
    part->dir_dirty = true;
    slog__pstate_snapshot(part, true);
    return 0;
}

/* Validates every batch in data; returns the batch count or an error. */
static int slog__validate_all(const slog_part_t *part, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    int count = 0;
    if (len == 0) {
        return SL_ECORRUPT;
    }
    while (pos < len) {
        if (len - pos < SLOG_BATCH_HEADER_BYTES) {
            return SL_ECORRUPT;
        }
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        int64_t total = slog_batch_total(&hdr);
        if (hdr.batch_length < 0 || total > (int64_t)(len - pos)) {
            return SL_ECORRUPT;
        }
        if (total > part->conf.max_message_bytes || total > SLOG_BATCH_BYTES_MAX) {
            return SL_ELIMIT;
        }
        int rc = slog_batch_validate(data + pos, (size_t)total, &hdr);
        if (rc != 0) {
            return rc;
        }
        pos += (size_t)total;
        count++;
    }
    return count;
}

/* Whether seg can take bytes more and records up to last_offset without a roll. */
static bool slog__fits(const slog_part_t *part, const slog_seg_t *seg, int64_t bytes,
                       int64_t last_offset)
{
    return seg->size + bytes <= part->conf.segment_bytes &&
           seg->size + bytes <= SLOG_SEGMENT_BYTES_MAX && last_offset - seg->base <= INT32_MAX;
}

/* Rolls when the batch at p does not fit the active segment (or it is old), then returns the
 * bytes of the run of batches from p that the active segment takes (at least one batch). */
static size_t slog__next_run(slog_part_t *part, const uint8_t *p, size_t len, int64_t now_ms,
                             int *rc)
{
    slog_batch_hdr_t hdr;
    slog_batch_hdr_decode(p, &hdr);
    slog_seg_t *seg = slog__active(part);
    int64_t last = seg->next + hdr.last_offset_delta;
    bool aged = seg->created_ms >= 0 && now_ms - seg->created_ms >= part->conf.roll_ms;
    if (seg->size > 0 && (aged || !slog__fits(part, seg, slog_batch_total(&hdr), last))) {
        *rc = slog__roll(part);
        if (*rc != 0) {
            return 0;
        }
        seg = slog__active(part);
        last = seg->next + hdr.last_offset_delta;
    }
    size_t run = (size_t)slog_batch_total(&hdr);
    while (run < len) {
        slog_batch_hdr_decode(p + run, &hdr);
        int64_t total = slog_batch_total(&hdr);
        if (!slog__fits(part, seg, (int64_t)run + total, last + 1 + hdr.last_offset_delta)) {
            break;
        }
        last += 1 + hdr.last_offset_delta;
        run += (size_t)total;
    }
    return run;
}

/* Sets offsets, leader epoch (and LogAppendTime) in place; returns the next offset. */
static int64_t slog__assign(const slog_part_t *part, uint8_t *data, size_t len, int64_t next,
                            int64_t now_ms)
{
    for (size_t pos = 0; pos < len;) {
        uint8_t *p = data + pos;
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p, &hdr);
        sl_be64_put(p, (uint64_t)next);
        sl_be32_put(p + 12, (uint32_t)SLOG_LEADER_EPOCH);
        if (part->conf.log_append_time) {
            sl_be16_put(p + 21, (uint16_t)(hdr.attributes | SLOG_BATCH_TIMESTAMP_TYPE));
            sl_be64_put(p + 27, (uint64_t)now_ms);
            sl_be64_put(p + 35, (uint64_t)now_ms);
            sl_be32_put(p + 17, sl_crc32c(0, p + 21, (size_t)slog_batch_total(&hdr) - 21));
        }
        next += hdr.last_offset_delta + 1;
        pos += (size_t)slog_batch_total(&hdr);
    }
    return next;
}

/* Writes a run of validated batches at the end of the active segment and indexes them. */
static int slog__write_run(slog_part_t *part, uint8_t *data, size_t len, int64_t now_ms)
{
    slog_seg_t *seg = slog__active(part);
    int64_t next = slog__assign(part, data, len, seg->next, now_ms);
    slog__zero_fence(part, seg, seg->size + (int64_t)len);
    slog_file_t *file = seg->file;
    int rc = slog__file_ref_open(file); /* the fd cache may have closed it; open while held */
    if (rc != 0) {
        return rc;
    }
    slog__fdc_dirty(file, true);
    rc = slog__pwrite_all(file->fd, data, len, seg->size);
    if (rc != 0 && ftruncate(file->fd, seg->size) < 0) { /* recovery cuts it otherwise */
        SL_LOGE("log", "%s: cannot undo a failed write: %s", part->dir, strerror(errno));
    }
    slog_file_unref(file);
    if (rc != 0) {
        return slog__fail(part, rc, "write");
    }
    int64_t base_pos = seg->size;
    for (size_t pos = 0; pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        slog__seg_note_batch(seg, &hdr, base_pos + (int64_t)pos, part->conf.index_interval_bytes);
        pos += (size_t)slog_batch_total(&hdr);
    }
    SL_ASSERT(seg->next == next && seg->size == base_pos + (int64_t)len);
    part->size_bytes += (int64_t)len;
    slog__zero_recount(part); /* the write took over zeroed space */
    if (seg->created_ms < 0) {
        seg->created_ms = now_ms;
    }
    return 0;
}

/* Idempotent producers: checks every batch with a producer id against the producer state,
 * recorded in a journal the caller commits or aborts whatever the result. On
 * SLOG_PSTATE_DUPLICATE out holds the original batch's offsets. */
static int slog__check_producers(slog_part_t *part, const uint8_t *data, size_t len,
                                 int64_t now_ms, slog_append_t *out)
{
    int64_t next = slog_part_end_offset(part);
    slog_pstate_begin(part->pstate);
    for (size_t pos = 0; pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        if (part->conf.log_append_time) {
            hdr.max_timestamp = now_ms; /* what the log will hold (and a replay will see) */
        }
        if (hdr.attributes & SLOG_BATCH_CONTROL) {
            if (!part->marker_append) {
                return SL_EINVAL; /* only the coordinator writes markers (Kafka refuses too) */
            }
            next += (int64_t)hdr.last_offset_delta + 1;
            pos += (size_t)slog_batch_total(&hdr);
            continue;
        }
        slog_pbatch_t dup;
        int rc = hdr.producer_id >= 0 ? slog_pstate_check(part->pstate, &hdr, next, &dup) : 0;
        if (rc == SLOG_PSTATE_DUPLICATE) {
            out->base_offset = dup.last_offset - dup.offset_delta;
            out->last_offset = dup.last_offset;
        }
        if (rc != 0) {
            return rc;
        }
        next += (int64_t)hdr.last_offset_delta + 1;
        pos += (size_t)slog_batch_total(&hdr);
    }
    return 0;
}

/* Before the first transactional batch: the .txn marker, so every later open rebuilds the
 * transactions from the log. */
static int slog__txn_mark(slog_part_t *part, const uint8_t *data, size_t len)
{
    for (size_t pos = 0; !part->txn_seen && pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        if (hdr.attributes & SLOG_BATCH_TRANSACTIONAL) {
            char path[4096];
            snprintf(path, sizeof path, "%s/.txn", part->dir);
            int rc = sl_fs_write_atomic(path, "", 0);
            if (rc != 0) {
                return rc;
            }
            part->txn_seen = true;
        }
        pos += (size_t)slog_batch_total(&hdr);
    }
    return 0;
}

/* After a write: the batches (base offsets now set) open and close transactions. */
static void slog__txn_note_all(slog_part_t *part, const uint8_t *data, size_t len)
{
    for (size_t pos = 0; pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        int type = -1;
        if (hdr.attributes & SLOG_BATCH_CONTROL) {
            type = slog_txn_control_type(data + pos + SLOG_BATCH_HEADER_BYTES,
                                         (size_t)slog_batch_total(&hdr) - SLOG_BATCH_HEADER_BYTES);
        }
        slog_txn_note(part->txn, &hdr, type);
        pos += (size_t)slog_batch_total(&hdr);
    }
}

int slog_part_append_marker(slog_part_t *part, int64_t producer_id, int16_t epoch, bool commit,
                            int32_t coordinator_epoch, int64_t now_ms, slog_append_t *out)
{
    uint8_t buf[SLOG_TXN_MARKER_BYTES];
    size_t len = slog_txn_marker_build(buf, producer_id, epoch,
                                       commit ? SLOG_CONTROL_COMMIT : SLOG_CONTROL_ABORT,
                                       coordinator_epoch, now_ms);
    part->marker_append = true;
    int rc = slog_part_append(part, buf, len, now_ms, out);
    part->marker_append = false;
    return rc;
}

int64_t slog_part_lso(const slog_part_t *part, int64_t hw) { return slog_txn_lso(part->txn, hw); }

int32_t slog_part_aborted(const slog_part_t *part, int64_t from, int64_t to,
                          slog_aborted_t *out, int32_t max)
{
    return slog_txn_aborted(part->txn, from, to, out, max);
}

int64_t slog_part_txn_first(const slog_part_t *part, int64_t producer_id)
{
    return slog_txn_open_first(part->txn, producer_id);
}

/* The topic's compression.type: the validated batches recompressed into out, each still
 * within max.message.bytes. */
static int slog__recompress_all(const slog_part_t *part, const uint8_t *data, size_t len,
                                sl_buf_t *out)
{
    sl_buf_t scratch;
    sl_buf_init(&scratch);
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        size_t total = (size_t)slog_batch_total(&hdr), at = out->len;
        rc = slog_batch_recompress(data + pos, total, part->conf.codec, &scratch, out);
        if (rc == 0 && out->len - at > (size_t)part->conf.max_message_bytes) {
            rc = SL_ELIMIT;
        }
        pos += total;
    }
    sl_buf_deinit(&scratch);
    return rc;
}

int slog_part_append(slog_part_t *part, uint8_t *data, size_t len, int64_t now_ms,
                     slog_append_t *out)
{
    if (part->failed) {
        return part->failed;
    }
    int count = slog__validate_all(part, data, len);
    if (count < 0) {
        return count;
    }
    out->duplicate = false;
    out->log_start_offset = part->start;
    out->batch_count = count;
    out->append_time_ms = -1;
    int rc = slog__check_producers(part, data, len, now_ms, out);
    if (rc == SLOG_PSTATE_DUPLICATE) {
        slog_pstate_abort(part->pstate); /* nothing is written: nothing recorded */
        out->duplicate = true;
        return 0;
    }
    sl_buf_t recompressed;
    sl_buf_init(&recompressed);
    if (rc == 0 && part->conf.codec >= 0) {
        rc = slog__recompress_all(part, data, len, &recompressed);
        data = recompressed.data;
        len = recompressed.len;
    }
    if (rc == 0) {
        rc = slog__unmark_clean(part);
    }
    if (rc == 0) {
        rc = slog__txn_mark(part, data, len);
    }
    int64_t first = slog_part_end_offset(part);
    for (size_t pos = 0; rc == 0 && pos < len;) {
        size_t run = slog__next_run(part, data + pos, len - pos, now_ms, &rc);
        if (rc == 0) {
            rc = slog__write_run(part, data + pos, run, now_ms);
        }
        pos += run;
    }
    if (rc != 0 && !part->failed && slog_part_end_offset(part) != first) {
        slog__fail(part, rc, "reopening the active segment"); /* runs before it were written */
    }
    if (rc != 0) {
        sl_buf_deinit(&recompressed);
        slog_pstate_abort(part->pstate);
        return rc;
    }
    slog_pstate_commit(part->pstate);
    slog__txn_note_all(part, data, len);
    sl_buf_deinit(&recompressed);
    out->base_offset = first;
    out->last_offset = slog_part_end_offset(part) - 1;
    out->append_time_ms = part->conf.log_append_time ? now_ms : -1;
    out->log_start_offset = part->start;
    out->batch_count = count;
    return 0;
}

/* Index of the segment that holds offset (the last with base <= offset). */
static size_t slog__seg_for(const slog_part_t *part, int64_t offset)
{
    size_t lo = 0, hi = part->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (part->segs[mid]->base <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* End of a range of whole batches from pos: within limit bytes and below max_offset. */
static int64_t slog__range_end(const slog_seg_t *seg, int64_t pos, int64_t limit,
                               int64_t max_offset)
{
    const slog_index_t *ix = &seg->oidx;
    size_t lo = 0, hi = ix->n; /* index entries are batch starts: skip to the last in bounds */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slog__oidx_pos(ix, mid) <= limit && seg->base + slog__oidx_rel(ix, mid) <= max_offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    int64_t end = pos;
    if (lo > 0 && slog__oidx_pos(ix, lo - 1) > end) {
        end = slog__oidx_pos(ix, lo - 1);
    }
    while (end < seg->size) {
        slog_batch_hdr_t hdr;
        if (slog__seg_header(seg, end, &hdr) != 0 || end + slog_batch_total(&hdr) > limit ||
            hdr.base_offset + hdr.last_offset_delta >= max_offset) {
            break;
        }
        end += slog_batch_total(&hdr);
    }
    return end;
}

int slog_part_read(slog_part_t *part, int64_t offset, int64_t max_offset, int64_t max_bytes,
                   bool min_one, slog_read_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t leo = slog_part_end_offset(part);
    if (offset < part->start || offset > leo) {
        return SL_ERANGE;
    }
    max_offset = SL_MIN(max_offset, leo);
    slog_batch_hdr_t hdr;
    for (size_t i = slog__seg_for(part, offset); offset < max_offset && i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        int64_t pos = slog__seg_find(seg, offset, &hdr);
        if (pos < 0) {
            return (int)pos;
        }
        if (pos == seg->size) {
            continue; /* at this segment's end: the next one holds it */
        }
        int64_t first = slog_batch_total(&hdr);
        if (hdr.base_offset + hdr.last_offset_delta >= max_offset ||
            (first > max_bytes && !min_one)) {
            return 0;
        }
        int64_t limit = pos + SL_MAX(max_bytes, first);
        int64_t end = slog__range_end(seg, pos + first, limit, max_offset);
        int rc = slog__file_ref_open(seg->file); /* open while the response sends from it */
        if (rc != 0) {
            return rc;
        }
        out->file = seg->file;
        out->pos = pos;
        out->len = end - pos;
        out->first_offset = hdr.base_offset;
        return 0;
    }
    return 0;
}

/* Within the batch at pos, the first record with timestamp >= ts (uncompressed CreateTime
 * batches); otherwise the batch's base offset and max timestamp, as Kafka does for a batch
 * it does not open. */
static int slog__record_for_time(const slog_seg_t *seg, int64_t pos,
                                 const slog_batch_hdr_t *hdr, int64_t ts, int64_t *offset,
                                 int64_t *found)
{
    *offset = hdr->base_offset;
    *found = hdr->max_timestamp;
    if ((hdr->attributes & (SLOG_BATCH_COMPRESSION_MASK | SLOG_BATCH_TIMESTAMP_TYPE)) != 0) {
        return 0;
    }
    int64_t total = slog_batch_total(hdr);
    int fd = slog__file_use(seg->file);
    if (fd < 0) {
        return fd;
    }
    uint8_t *buf = sl_xmalloc((size_t)total);
    ssize_t n = pread(fd, buf, (size_t)total, pos);
    int rc = n < 0 ? -errno : 0;
    if (n == total) {
        int32_t delta = slog__batch_record_at(buf, (size_t)total, ts, found);
        *offset = delta >= 0 ? hdr->base_offset + delta : hdr->base_offset;
        *found = delta >= 0 ? *found : hdr->max_timestamp;
    }
    free(buf);
    return rc;
}

/* First batch in seg with max timestamp >= ts, starting from the time index. */
static int slog__seg_offset_for_time(const slog_seg_t *seg, int64_t ts, int64_t *offset,
                                     int64_t *found)
{
    int64_t from = seg->base; /* records up to a time entry with ts < T are all older */
    size_t k = slog__tidx_count_below(&seg->tidx, ts);
    if (k > 0) {
        from = seg->base + slog__tidx_rel(&seg->tidx, k - 1);
    }
    slog_batch_hdr_t hdr;
    int64_t pos = slog__seg_find(seg, from, &hdr);
    while (pos >= 0 && pos < seg->size) {
        if (hdr.max_timestamp >= ts) {
            return slog__record_for_time(seg, pos, &hdr, ts, offset, found);
        }
        pos += slog_batch_total(&hdr);
        if (pos < seg->size) {
            int rc = slog__seg_header(seg, pos, &hdr);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return pos < 0 ? (int)pos : SL_ENOTFOUND;
}

int slog_part_offset_for_time(slog_part_t *part, int64_t ts, int64_t *offset, int64_t *found_ts)
{
    for (size_t i = 0; i < part->nsegs; i++) {
        if (part->segs[i]->max_ts < ts) {
            continue;
        }
        int rc = slog__seg_offset_for_time(part->segs[i], ts, offset, found_ts);
        if (rc != SL_ENOTFOUND) {
            return rc;
        }
    }
    return SL_ENOTFOUND;
}

int slog_part_max_timestamp(slog_part_t *part, int64_t *offset, int64_t *ts)
{
    int64_t best = -1, best_off = -1;
    for (size_t i = 0; i < part->nsegs; i++) {
        if (part->segs[i]->max_ts > best) {
            best = part->segs[i]->max_ts;
            best_off = part->segs[i]->max_ts_offset;
        }
    }
    if (best_off < 0) {
        return SL_ENOTFOUND;
    }
    *offset = best_off;
    *ts = best;
    return 0;
}

/* Whether retention removes the oldest segment (never the active one). */
static bool slog__expired(const slog_part_t *part, int64_t now_ms)
{
    const slog_seg_t *seg = part->segs[0];
    bool by_time = part->conf.retention_ms >= 0 && seg->max_ts >= 0 &&
                   seg->max_ts < now_ms - part->conf.retention_ms;
    bool by_size = part->conf.retention_bytes >= 0 &&
                   part->size_bytes - seg->size >= part->conf.retention_bytes;
    return part->nsegs > 1 && part->conf.cleanup_delete && (by_time || by_size);
}

/* Deletes the oldest segment (never the active one); the log then starts at the next one. */
static void slog__drop_first(slog_part_t *part, const char *why)
{
    SL_ASSERT(part->nsegs > 1);
    slog_seg_t *seg = part->segs[0];
    SL_LOGI("log", "%s: %s deletes segment %" PRId64 " (offsets %" PRId64 "..%" PRId64 ")",
            part->dir, why, seg->base, seg->base, seg->next - 1);
    slog__seg_unlink(seg, part->dir); /* in-flight reads keep the file open */
    part->size_bytes -= seg->size;
    slog__seg_free(seg);
    memmove(part->segs, part->segs + 1, (part->nsegs - 1) * sizeof *part->segs);
    part->nsegs--;
    part->start = SL_MAX(part->start, part->segs[0]->base); /* DeleteRecords may be past it */
}

int slog_part_housekeep(slog_part_t *part, int64_t now_ms)
{
    slog_seg_t *active = slog__active(part);
    int64_t roll_ms = part->conf.cleanup_compact
                          ? SL_MIN(part->conf.roll_ms, part->conf.max_compaction_lag_ms)
                          : part->conf.roll_ms;
    if (!part->failed && active->size > 0 && active->created_ms >= 0 &&
        now_ms - active->created_ms >= roll_ms) {
        int rc = slog__roll(part);
        if (rc != 0) {
            return rc;
        }
    }
    int deleted = 0;
    while (slog__expired(part, now_ms)) {
        slog__drop_first(part, "retention"); /* producer state stays: only expiry drops it */
        deleted++;
    }
    slog_txn_forget_before(part->txn, part->start);
    int expired = slog_pstate_expire(part->pstate, now_ms);
    if (expired > 0) {
        SL_LOGI("log", "%s: %d producer ids expired (producer.id.expiration.ms)", part->dir,
                expired);
    }
    return deleted;
}

int slog_part_roll(slog_part_t *part)
{
    if (part->failed) {
        return part->failed;
    }
    return slog__active(part)->size > 0 ? slog__roll(part) : 0;
}

int slog_part_delete_before(slog_part_t *part, int64_t offset)
{
    int deleted = 0;
    while (part->nsegs > 1 && part->segs[0]->next <= offset) {
        slog__drop_first(part, "a snapshot supersedes it");
        deleted++;
    }
    return deleted;
}

/* ---- the log start offset (DeleteRecords) ---- */

#define SLOG_START_FILE "log-start-offset"

/* Deletes the whole segments below part->start (records all below it; not the active one). */
static void slog__drop_below_start(slog_part_t *part)
{
    while (part->nsegs > 1 && part->segs[0]->next <= part->start) {
        slog__drop_first(part, "the log start offset (DeleteRecords)");
    }
    slog_txn_forget_before(part->txn, part->start);
}

/* The offset in dir's log-start-offset file: 0 and *start, -1 when there is none, SL_ECORRUPT
 * when it does not parse. */
static int slog__start_read(const char *dir, int64_t *start)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/" SLOG_START_FILE, dir);
    if (sl_fs_read_all(path, 64, &text, &len) != 0) {
        return -1;
    }
    if (len > 0 && text[len - 1] == '\n') {
        text[len - 1] = '\0';
    }
    bool ok = len > 0 && sl_parse_i64(text, 0, INT64_MAX, start);
    free(text);
    return ok ? 0 : SL_ECORRUPT;
}

static int slog__start_write(const char *dir, int64_t offset)
{
    char path[4096], text[32];
    snprintf(path, sizeof path, "%s/" SLOG_START_FILE, dir);
    int len = snprintf(text, sizeof text, "%" PRId64 "\n", offset);
    return sl_fs_write_atomic(path, text, (size_t)len);
}

int slog_part_start_save(const char *dir, int64_t offset)
{
    int64_t saved;
    if (slog__start_read(dir, &saved) == 0 && saved >= offset) {
        return 0; /* a later request moved it further already */
    }
    return slog__start_write(dir, offset);
}

int slog_part_set_start(slog_part_t *part, int64_t offset)
{
    if (offset > slog_part_end_offset(part)) {
        return SL_EINVAL;
    }
    if (offset <= part->start) {
        return 0;
    }
    SL_LOGI("log", "%s: log start offset %" PRId64 " -> %" PRId64 " (DeleteRecords)", part->dir,
            part->start, offset);
    part->start = offset;
    slog__drop_below_start(part);
    return 0;
}

const char *slog_part_dir(const slog_part_t *part) { return part->dir; }

int slog__start_load(slog_part_t *part)
{
    int64_t start;
    int rc = slog__start_read(part->dir, &start);
    if (rc == SL_ECORRUPT) {
        SL_LOGW("log", "%s: %s unreadable: ignored (the log starts at its first segment)",
                part->dir, SLOG_START_FILE);
    }
    if (rc != 0) {
        return 0; /* none (or unreadable): the log starts at its first segment */
    }
    /* A tail lost in a crash may end the log below it (flush policies other than always):
     * then the log starts at its end, as Kafka does, and the file says so (else records
     * appended later would fall below it at the next start). */
    int64_t end = slog_part_end_offset(part);
    if (start > end) {
        SL_LOGW("log", "%s: %s %" PRId64 " is past the log's end %" PRId64 ": the log starts "
                "at its end", part->dir, SLOG_START_FILE, start, end);
        start = end;
        rc = slog__start_write(part->dir, end);
        if (rc != 0) {
            return rc;
        }
    }
    part->start = SL_MAX(part->start, start);
    slog__drop_below_start(part);
    return 0;
}
