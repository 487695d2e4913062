/* Recovery when a partition opens: list the segment files, remove leftovers of interrupted
 * writes (*.tmp, *.deleted, *.swap), then load each segment.
 *   - After a clean close (.clean present) every segment is trusted: its index files are
 *     loaded when they hold up (checked, plus a scan of the few batch headers after the last
 *     index entry), else rebuilt from the batch headers.
 *   - After an unclean stop, segments below the recovery point are trusted the same way; the
 *     segment holding the recovery point and every later one are verified batch by batch
 *     (CRC32C, framing, contiguous offsets), cut at the first bad or torn batch (ftruncate +
 *     fdatasync), and any segment after a cut is deleted (zeros after the last batch are
 *     zero-ahead space, zero.c: dropped, not a cut). What they hold past the recovery
 *     point may be only in the page cache (a process crash, not a power loss): with
 *     open_sync it is fdatasync'd here; without, it is verified and served but counts as
 *     durable only once a sync job has covered it (the broker starts one for every partition
 *     when it opens), so opening does not wait for it.
 * Offsets must follow on from segment to segment; a gap in trusted segments is SL_ECORRUPT,
 * except below the cleaner's checkpoint, where compaction leaves gaps (cleaner.c, which also
 * completes or discards an interrupted swap of cleaned segments before anything is listed). */
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"
#include "sl_time.h"
#include "slog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOG_RP_FILE "recovery-point"
#define SLOG_CLEAN_FILE ".clean"

static int slog__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether name is a leftover of an interrupted write or delete. */
static bool slog__is_leftover(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".tmp") == 0 || strcmp(dot, ".deleted") == 0 ||
                   strcmp(dot, ".swap") == 0 || strcmp(dot, ".cleaned") == 0 ||
                   strcmp(dot, ".swapend") == 0);
}

/* Base offset of a segment file name "<20 digits>.log", or -1. */
static int64_t slog__log_name_base(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strcmp(dot, ".log") != 0 || dot - name != 20) {
        return -1;
    }
    char num[21];
    memcpy(num, name, 20);
    num[20] = '\0';
    int64_t base;
    return sl_parse_i64(num, 0, INT64_MAX, &base) ? base : -1;
}

/* Lists segment base offsets (sorted) and removes leftovers. */
static int slog__list(const char *dir, int64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    size_t cap = 16;
    int rc = 0;
    *bases = sl_xmalloc(cap * sizeof **bases);
    *n = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        int64_t base = slog__log_name_base(de->d_name);
        if (slog__is_leftover(de->d_name)) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            SL_LOGW("log", "%s: removing leftover %s", dir, de->d_name);
            unlink(path);
        } else if (base >= 0 && *n == SLOG_SEGMENTS_MAX) {
            rc = SL_ELIMIT;
        } else if (base >= 0) {
            if (*n == cap) {
                cap *= 2;
                *bases = sl_xrealloc(*bases, cap * sizeof **bases);
            }
            (*bases)[(*n)++] = base;
        }
    }
    closedir(d);
    qsort(*bases, *n, sizeof **bases, slog__cmp_i64);
    return rc;
}

int slog__rp_write(const char *dir, int64_t offset)
{
    char path[4096], text[32];
    snprintf(path, sizeof path, "%s/" SLOG_RP_FILE, dir);
    int len = snprintf(text, sizeof text, "%" PRId64 "\n", offset);
    return sl_fs_write_atomic(path, text, (size_t)len);
}

/* The recovery point, or -1 when missing or unreadable (then everything is verified). */
static int64_t slog__rp_read(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" SLOG_RP_FILE, dir);
    char *text = NULL;
    size_t len = 0;
    int64_t rp = -1;
    if (sl_fs_read_all(path, 64, &text, &len) == 0) {
        if (len > 0 && text[len - 1] == '\n') {
            text[len - 1] = '\0';
        }
        if (!sl_parse_i64(text, 0, INT64_MAX, &rp)) {
            rp = -1;
        }
    }
    free(text);
    return rp;
}

/* Loads a trusted segment: its index files, else a rebuild from batch headers.
 * SL_ECORRUPT when the headers do not hold up either: the caller verifies it instead. */
static int slog__load_trusted(slog_part_t *part, slog_seg_t *seg, bool active)
{
    int64_t fsize = seg->size;
    int32_t interval = part->conf.index_interval_bytes;
    int rc = slog__seg_load_index(seg, part->dir, !active, interval);
    if (rc != SL_ECORRUPT) {
        return rc;
    }
    SL_LOGW("log", "%s: rebuilding the indexes of segment %" PRId64, part->dir, seg->base);
    int64_t end = slog__seg_scan(seg, 0, false, interval);
    if (end < 0) {
        return (int)end;
    }
    return end == fsize ? 0 : SL_ECORRUPT;
}

/* Whether [from, to) of fd holds only zero bytes (the zero-ahead space, zero.c). */
static bool slog__all_zero(int fd, int64_t from, int64_t to)
{
    uint8_t buf[65536];
    while (from < to) {
        ssize_t n = pread(fd, buf, (size_t)SL_MIN(to - from, (int64_t)sizeof buf), from);
        if (n <= 0) {
            return false;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != 0) {
                return false;
            }
        }
        from += n;
    }
    return true;
}

/* Verifies every batch of seg, cutting a bad tail durably; *cut tells whether it did. */
static int slog__load_verified(slog_part_t *part, slog_seg_t *seg, bool *cut)
{
    int64_t fsize = seg->size;
    slog__seg_reset(seg);
    int64_t end = slog__seg_scan(seg, 0, true, part->conf.index_interval_bytes);
    if (end < 0) {
        return (int)end;
    }
    /* zeros after the last batch are zero-ahead space (zero.c), not damage: later segments
     * stay */
    int fd = slog__file_use(seg->file); /* not cached yet: open */
    bool zeros = end < fsize && slog__all_zero(fd, end, fsize);
    *cut = end < fsize && !zeros;
    if (zeros) {
        SL_LOGI("log", "%s: dropping the %" PRId64 " bytes of zeroed space after the last "
                "batch of segment %" PRId64, part->dir, fsize - end, seg->base);
    } else if (*cut) {
        SL_LOGW("log", "%s: truncating segment %" PRId64 " from %" PRId64 " to %" PRId64
                " bytes (torn or corrupt batch at the end)", part->dir, seg->base, fsize, end);
    }
    if (end < fsize && ftruncate(fd, end) < 0) {
        return -errno;
    }
    /* A cut is durable at once; the rest too with open_sync, else it waits for the first sync
     * job (top comment). */
    bool sync = end < fsize || part->conf.open_sync;
    return sync && fdatasync(fd) < 0 ? -errno : 0;
}

/* Opens and loads segment base; verify tells whether it must be checked batch by batch (and
 * becomes true when a trusted segment fails its checks). */
static int slog__load_seg(slog_part_t *part, int64_t base, bool active, bool *verify,
                          bool *cut, slog_seg_t **out)
{
    slog_seg_t *seg;
    int rc = slog__seg_open(part->dir, base, &seg);
    if (rc != 0) {
        return rc;
    }
    seg->gaps = slog__gaps_at(part, base);
    if (!*verify) {
        rc = slog__load_trusted(part, seg, active);
        if (rc == SL_ECORRUPT) {
            SL_LOGW("log", "%s: segment %" PRId64 " does not hold up: verifying it and the "
                    "ones after it", part->dir, base);
            *verify = true;
        }
    }
    if (*verify) {
        rc = slog__load_verified(part, seg, cut);
    }
    if (rc != 0) {
        slog__seg_free(seg);
        return rc;
    }
    *out = seg;
    return 0;
}

/* Deletes the segment files of base (after a cut: those offsets no longer follow on). */
static void slog__drop_later(slog_part_t *part, int64_t base)
{
    slog_seg_t stub = {.base = base};
    SL_LOGW("log", "%s: deleting segment %" PRId64 ", which follows a truncated one",
            part->dir, base);
    slog__seg_unlink(&stub, part->dir);
}

/* Loads every listed segment; *repaired tells whether files were cut or deleted. */
static int slog__load_all(slog_part_t *part, const int64_t *bases, size_t n,
                          size_t verify_from, bool *repaired)
{
    bool cut = false, verify = false;
    for (size_t i = 0; i < n; i++) {
        if (cut) {
            slog__drop_later(part, bases[i]);
            continue;
        }
        bool gap_ok = part->nsegs > 0 && slog__active(part)->gaps &&
                      bases[i] > slog__active(part)->next;
        if (part->nsegs > 0 && slog__active(part)->next != bases[i] && !gap_ok) {
            if (!verify && i < verify_from) {
                SL_LOGE("log", "%s: segment %" PRId64 " does not follow on from offset %" PRId64
                        ": the log has a gap", part->dir, bases[i], slog__active(part)->next);
                return SL_ECORRUPT;
            }
            cut = *repaired = true;
            slog__drop_later(part, bases[i]);
            continue;
        }
        verify = verify || i >= verify_from;
        slog_seg_t *seg;
        int rc = slog__load_seg(part, bases[i], i + 1 == n, &verify, &cut, &seg);
        if (rc == 0 && (!verify || part->conf.open_sync)) {
            seg->synced_next = seg->next; /* trusted, or verified and synced: not dirty, so
                                           * the fd cache may close it */
        }
        if (rc == 0) {
            slog__fdc_dirty(seg->file, seg->synced_next < seg->next); /* dirty: kept open */
        }
        if (rc == 0) {
            rc = slog__push_seg(part, seg);
        }
        if (rc != 0) {
            return rc;
        }
        *repaired = *repaired || cut;
    }
    return 0;
}

/* Where verification starts: the segment holding the recovery point. */
static size_t slog__verify_from(const int64_t *bases, size_t n, int64_t rp)
{
    size_t from = 0;
    for (size_t i = 0; i < n && bases[i] <= rp; i++) {
        from = i;
    }
    return from;
}

/* Indexes of closed segments go to their files, to be mapped rather than kept on the heap. */
static void slog__persist_closed(slog_part_t *part)
{
    char path[4096];
    for (size_t i = 0; i + 1 < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        if (!seg->index_written && slog__seg_write_index(seg, part->dir, false) != 0) {
            continue; /* kept on the heap; written again at close */
        }
        slog__seg_path(part->dir, seg->base, "index", path, sizeof path);
        slog__idx_map(&seg->oidx, path);
        slog__seg_path(part->dir, seg->base, "timeindex", path, sizeof path);
        slog__idx_map(&seg->tidx, path);
    }
}

/* The roll.ms clock of a reopened active segment starts at its first batch's timestamp
 * (Kafka's rule), or now when that is not plausible. */
static void slog__active_clock(slog_part_t *part)
{
    slog_seg_t *seg = slog__active(part);
    slog_batch_hdr_t hdr;
    int64_t now = sl_time_wall_ms();
    if (seg->size == 0) {
        return;
    }
    bool ok = slog__seg_header(seg, 0, &hdr) == 0 && hdr.max_timestamp >= 0 &&
              hdr.max_timestamp <= now;
    seg->created_ms = ok ? hdr.max_timestamp : now;
}

int slog__recover(slog_part_t *part)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = slog__clean_recover(part);
    if (rc != 0) {
        return rc;
    }
    rc = slog__list(part->dir, &bases, &n);
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/" SLOG_CLEAN_FILE, part->dir);
    struct stat st;
    bool clean = stat(marker, &st) == 0, repaired = false;
    int64_t rp = clean ? INT64_MAX : slog__rp_read(part->dir);
    size_t verify_from = clean ? n : slog__verify_from(bases, n, rp);
    if (rc == 0) {
        rc = slog__load_all(part, bases, n, verify_from, &repaired);
    }
    free(bases);
    if (rc == 0 && part->nsegs == 0) {
        slog_seg_t *seg;
        rc = slog__seg_create(part->dir, 0, &seg);
        if (rc == 0) {
            rc = slog__push_seg(part, seg);
        }
    }
    if (rc != 0) {
        return rc;
    }
    slog__persist_closed(part);
    slog__active_clock(part);
    part->start = part->segs[0]->base;
    int64_t end = slog__active(part)->next;
    /* Durable: everything after a clean close or with open_sync; else below the recovery
     * point (the rest, verified, waits for the first sync job). */
    part->durable = clean || part->conf.open_sync ? end : SL_MIN(end, SL_MAX(part->start, rp));
    part->rp_base = part->segs[0]->base;
    for (size_t i = 0; i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        seg->synced_next = SL_MIN(seg->next, SL_MAX(seg->base, part->durable));
        slog__fdc_dirty(seg->file, seg->synced_next < seg->next);
        if (seg->base <= part->durable) {
            part->rp_base = seg->base; /* the segment that the recovery point file names */
        }
    }
    part->clean_marker = clean;
    if (!clean && n > 0 && part->durable == end) {
        SL_LOGI("log", "%s: recovered after an unclean stop: offsets %" PRId64 "..%" PRId64,
                part->dir, part->start, end);
    } else if (!clean && n > 0) {
        SL_LOGI("log", "%s: recovered after an unclean stop: offsets %" PRId64 "..%" PRId64
                ", durable to %" PRId64 " (the rest once synced, in the background)", part->dir,
                part->start, end, part->durable);
    }
    if (n == 0) {
        /* A new log: its directory's entries (the segment file) become durable with the first
         * sync job, before anything written to it is acknowledged; lost in a crash before
         * that, the log opens empty again. No recovery point yet: the first segment is the
         * one verified anyway. (One fsync per file at creation made creating 10,000
         * partitions take seconds.) */
        part->dir_dirty = true;
    } else if (!clean || repaired) {
        rc = slog__rp_write(part->dir, part->durable);
    }
    return rc;
}

/* After a failed sync: cuts the log at the durable offset (a batch boundary: the end offset
 * when a sync job began) and deletes the segments after it. */
static int slog__cut_to_durable(slog_part_t *part)
{
    int64_t target = part->durable;
    size_t keep = 0;
    while (keep + 1 < part->nsegs && part->segs[keep + 1]->base <= target) {
        keep++;
    }
    for (size_t i = part->nsegs; i-- > keep + 1;) {
        slog__seg_unlink(part->segs[i], part->dir); /* reads in flight keep their files */
    }
    slog_seg_t *seg = part->segs[keep];
    slog_batch_hdr_t hdr;
    int64_t pos = slog__seg_find(seg, target, &hdr);
    if (pos < 0) {
        return (int)pos;
    }
    int fd = slog__file_use(seg->file);
    if (fd < 0) {
        return fd;
    }
    if (pos < seg->size && ftruncate(fd, pos) < 0) {
        return -errno;
    }
    if (pos < seg->size) {
        SL_LOGW("log", "%s: cutting the unsynced tail after offset %" PRId64 " (%" PRId64
                " bytes of segment %" PRId64 ")", part->dir, target, seg->size - pos, seg->base);
    }
    return fdatasync(fd) < 0 ? -errno : sl_fs_sync_dir(part->dir);
}

int slog_part_resume(slog_part_t *part)
{
    if (!part->failed) {
        return 0;
    }
    if (part->job_out || part->clean_out || part->zjob) {
        return SL_EAGAIN;
    }
    int was = part->failed;
    int rc = part->failed_sync ? slog__cut_to_durable(part) : 0;
    if (rc == 0) {
        part->failed_sync = false; /* the cut is durable: a later try only reopens (the
                                    * segments in memory no longer match the files) */
    }
    slog_part_t *fresh = NULL;
    if (rc == 0) {
        rc = slog_part_open(part->dir, &part->conf, &fresh);
    }
    if (rc != 0) {
        return rc;
    }
    slog_part_t *old = sl_xmalloc(sizeof *old);
    *old = *part;
    *part = *fresh;
    free(fresh);
    slog__part_free(old);
    SL_LOGI("log", "%s: back online at offset %" PRId64 " (it went offline: %s)", part->dir,
            slog_part_end_offset(part), sl_strerror(was));
    return 0;
}
