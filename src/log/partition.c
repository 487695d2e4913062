/* A partition log: an ordered list of segments, the last one active. Appends validate every
 * batch before writing any; a roll syncs the closed segment first, so after an unclean stop
 * only the active segment can hold a torn tail and only it is scanned with CRCs. */
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct slog_part {
    char *dir;
    slog_conf_t conf;
    slog_seg_t **segs;
    size_t nsegs, segs_cap;
    int64_t start;
    int64_t durable;
    int64_t size_bytes;
    int failed;
    bool job_out;
};

struct slog_sync_job {
    slog_file_t *file;
    int64_t target;
};

void slog_conf_default(slog_conf_t *conf)
{
    conf->segment_bytes = (int64_t)1 << 30;
    conf->roll_ms = 7LL * 24 * 3600 * 1000;
    conf->retention_ms = 7LL * 24 * 3600 * 1000;
    conf->retention_bytes = -1;
    conf->index_interval_bytes = 4096;
    conf->max_message_bytes = 1048588;
    conf->log_append_time = false;
}

static slog_seg_t *slog__active(const slog_part_t *part)
{
    SL_ASSERT(part->nsegs > 0);
    return part->segs[part->nsegs - 1];
}

static int slog__push_seg(slog_part_t *part, slog_seg_t *seg)
{
    if (part->nsegs == SLOG_SEGMENTS_MAX) {
        return SL_ELIMIT;
    }
    if (part->nsegs == part->segs_cap) {
        part->segs_cap = part->segs_cap ? part->segs_cap * 2 : 8;
        part->segs = sl_xrealloc(part->segs, part->segs_cap * sizeof *part->segs);
    }
    part->segs[part->nsegs++] = seg;
    part->size_bytes += seg->size;
    return 0;
}

static int slog__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists segment base offsets (sorted) and removes leftovers of interrupted operations. */
static int slog__list(const char *dir, int64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    size_t cap = 16;
    *bases = sl_xmalloc(cap * sizeof **bases);
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        if (dot && (strcmp(dot, ".tmp") == 0 || strcmp(dot, ".deleted") == 0 ||
                    strcmp(dot, ".swap") == 0)) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
            continue;
        }
        int64_t base;
        char num[32];
        if (!dot || strcmp(dot, ".log") != 0 || dot - de->d_name != 20) {
            continue;
        }
        memcpy(num, de->d_name, 20);
        num[20] = '\0';
        if (!sl_parse_i64(num, 0, INT64_MAX, &base)) {
            continue;
        }
        if (*n == cap) {
            cap *= 2;
            *bases = sl_xrealloc(*bases, cap * sizeof **bases);
        }
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    qsort(*bases, *n, sizeof **bases, slog__cmp_i64);
    return 0;
}

/* Truncates seg to valid bytes (a torn or corrupt tail) durably. */
static int slog__truncate(slog_part_t *part, slog_seg_t *seg, int64_t valid)
{
    SL_LOGW("log", "%s: truncating segment %lld from %lld to %lld bytes (torn or corrupt tail)",
            part->dir, (long long)seg->base, (long long)seg->size, (long long)valid);
    if (ftruncate(seg->file->fd, valid) < 0 || fdatasync(seg->file->fd) < 0) {
        return -errno;
    }
    seg->size = valid;
    return 0;
}

/* Loads one segment: indexes from disk when trustworthy, else rebuilt; the active segment
 * after an unclean stop is verified batch by batch. */
static int slog__load_seg(slog_part_t *part, int64_t base, bool verify, int64_t prev_next,
                          slog_seg_t **out)
{
    slog_seg_t *seg;
    int rc = slog__seg_open(part->dir, base, &seg);
    if (rc != 0) {
        return rc;
    }
    int32_t interval = part->conf.index_interval_bytes;
    int64_t end;
    if (!verify && slog__seg_load_index(seg, part->dir)) {
        end = seg->nidx ? slog__seg_scan(seg, seg->last_index_pos, seg->base, false, interval)
                        : slog__seg_scan(seg, 0, prev_next, false, interval);
    } else {
        if (!verify) {
            SL_LOGW("log", "%s: rebuilding index of segment %lld", part->dir, (long long)base);
        }
        end = slog__seg_scan(seg, 0, prev_next, verify, interval);
    }
    if (end < 0) {
        slog__seg_free(seg);
        return (int)end;
    }
    if (end < seg->size) {
        rc = slog__truncate(part, seg, end);
    }
    if (rc == 0 && seg->next < prev_next) {
        rc = SL_ECORRUPT; /* offsets must grow from segment to segment */
    }
    if (rc != 0) {
        slog__seg_free(seg);
        return rc;
    }
    if (seg->next == seg->base) {
        seg->next = SL_MAX(seg->base, prev_next);
    }
    *out = seg;
    return 0;
}

static int slog__recover(slog_part_t *part)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = slog__list(part->dir, &bases, &n);
    if (rc != 0) {
        return rc;
    }
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.clean", part->dir);
    struct stat st;
    bool clean = stat(marker, &st) == 0;
    int64_t prev_next = n ? bases[0] : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        slog_seg_t *seg = NULL;
        rc = slog__load_seg(part, bases[i], !clean && i + 1 == n, prev_next, &seg);
        if (rc == 0) {
            prev_next = seg->next;
            rc = slog__push_seg(part, seg);
        }
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
    if (!clean && n > 0) {
        SL_LOGI("log", "%s: recovered after an unclean stop: offsets %lld..%lld",
                part->dir, (long long)part->segs[0]->base, (long long)slog__active(part)->next);
    }
    /* What survived a crash of the process may still be only in the page cache. */
    if (fdatasync(slog__active(part)->file->fd) < 0) {
        return -errno;
    }
    if (clean && (unlink(marker) < 0 || sl_fs_sync_dir(part->dir) != 0)) {
        return -errno;
    }
    part->start = part->segs[0]->base;
    part->durable = slog__active(part)->next;
    return 0;
}

int slog_part_open(const char *dir, const slog_conf_t *conf, slog_part_t **out)
{
    int rc = sl_fs_mkdirs(dir);
    if (rc != 0) {
        return rc;
    }
    slog_part_t *part = sl_xcalloc(1, sizeof *part);
    part->dir = sl_xstrdup(dir);
    part->conf = *conf;
    if (part->conf.index_interval_bytes <= 0) {
        part->conf.index_interval_bytes = 1;
    }
    rc = slog__recover(part);
    if (rc != 0) {
        for (size_t i = 0; i < part->nsegs; i++) {
            slog__seg_free(part->segs[i]);
        }
        free(part->segs);
        free(part->dir);
        free(part);
        return rc;
    }
    *out = part;
    return 0;
}

static void slog__part_free(slog_part_t *part)
{
    for (size_t i = 0; i < part->nsegs; i++) {
        slog__seg_free(part->segs[i]);
    }
    free(part->segs);
    free(part->dir);
    free(part);
}

void slog_part_close(slog_part_t *part)
{
    if (!part) {
        return;
    }
    SL_ASSERT(!part->job_out);
    int rc = part->failed ? part->failed : slog_part_sync_now(part);
    for (size_t i = 0; rc == 0 && i < part->nsegs; i++) {
        rc = slog__seg_write_index(part->segs[i], part->dir);
    }
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.clean", part->dir);
    if (rc == 0) {
        rc = sl_fs_write_atomic(marker, "", 0);
    }
    if (rc != 0) {
        SL_LOGW("log", "%s: closed without a clean marker (%s): the next start verifies it",
                part->dir, sl_strerror(rc));
    }
    slog__part_free(part);
}

void slog_part_abandon(slog_part_t *part)
{
    if (part) {
        SL_ASSERT(!part->job_out);
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

void slog_part_set_conf(slog_part_t *part, const slog_conf_t *conf)
{
    part->conf = *conf;
    if (part->conf.index_interval_bytes <= 0) {
        part->conf.index_interval_bytes = 1;
    }
}

int64_t slog_part_start_offset(const slog_part_t *part) { return part->start; }
int64_t slog_part_end_offset(const slog_part_t *part) { return slog__active(part)->next; }
int64_t slog_part_durable_offset(const slog_part_t *part) { return part->durable; }
int64_t slog_part_size_bytes(const slog_part_t *part) { return part->size_bytes; }
int slog_part_segment_count(const slog_part_t *part) { return (int)part->nsegs; }
int slog_part_failed(const slog_part_t *part) { return part->failed; }

static int slog__fdatasync(int fd)
{
    int err = slog_fault_hit(SLOG_FAULT_SYNC);
    if (err) {
        return -err;
    }
    return fdatasync(fd) < 0 ? -errno : 0;
}

/* Closes the active segment (synced, indexed) and starts a new one at the end offset. */
static int slog__roll(slog_part_t *part)
{
    slog_seg_t *old = slog__active(part);
    int rc = slog__fdatasync(old->file->fd);
    if (rc == 0) {
        part->durable = SL_MAX(part->durable, old->next);
        slog__seg_write_index(old, part->dir);
        slog_seg_t *seg;
        rc = slog__seg_create(part->dir, old->next, &seg);
        if (rc == 0) {
            rc = sl_fs_sync_dir(part->dir);
            if (rc == 0) {
                rc = slog__push_seg(part, seg);
            }
            if (rc != 0) {
                slog__seg_unlink(seg, part->dir);
                slog__seg_free(seg);
            }
        }
    }
    if (rc != 0) {
        part->failed = rc;
        SL_LOGE("log", "%s: cannot roll a new segment: %s", part->dir, sl_strerror(rc));
    }
    return rc;
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

static int slog__pwrite_all(int fd, const uint8_t *p, size_t len, int64_t pos)
{
    int err = slog_fault_hit(SLOG_FAULT_WRITE);
    if (err) {
        return -err;
    }
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        pos += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sets offsets (and LogAppendTime) in place and returns the next offset. */
static int64_t slog__assign(const slog_part_t *part, uint8_t *data, size_t len, int64_t next,
                            int64_t now_ms)
{
    size_t pos = 0;
    while (pos < len) {
        uint8_t *p = data + pos;
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p, &hdr);
        sl_be64_put(p, (uint64_t)next);
        sl_be32_put(p + 12, 0);
        if (part->conf.log_append_time) {
            sl_be16_put(p + 21, (uint16_t)(hdr.attributes | SLOG_BATCH_TIMESTAMP_TYPE));
            sl_be64_put(p + 35, (uint64_t)now_ms);
            sl_be32_put(p + 17, sl_crc32c(0, p + 21, (size_t)slog_batch_total(&hdr) - 21));
        }
        next += hdr.last_offset_delta + 1;
        pos += (size_t)slog_batch_total(&hdr);
    }
    return next;
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
    slog_seg_t *seg = slog__active(part);
    bool full = seg->size + (int64_t)len > part->conf.segment_bytes ||
                seg->size + (int64_t)len >= SLOG_SEGMENT_BYTES_MAX;
    bool old = seg->created_ms > 0 && now_ms - seg->created_ms >= part->conf.roll_ms;
    if (seg->size > 0 && (full || old)) {
        int rc = slog__roll(part);
        if (rc != 0) {
            return rc;
        }
        seg = slog__active(part);
    }
    int64_t first = seg->next;
    int64_t next = slog__assign(part, data, len, first, now_ms);
    int rc = slog__pwrite_all(seg->file->fd, data, len, seg->size);
    if (rc != 0) {
        if (ftruncate(seg->file->fd, seg->size) < 0) {
            SL_LOGE("log", "%s: cannot undo a failed write: %s", part->dir, strerror(errno));
        }
        part->failed = rc;
        SL_LOGE("log", "%s: write failed: %s; partition is offline", part->dir, sl_strerror(rc));
        return rc;
    }
    for (size_t pos = 0; pos < len;) {
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        slog__seg_note_batch(seg, &hdr, seg->size + (int64_t)pos, part->conf.index_interval_bytes);
        pos += (size_t)slog_batch_total(&hdr);
    }
    SL_ASSERT(seg->next == next);
    seg->size += (int64_t)len;
    part->size_bytes += (int64_t)len;
    if (seg->created_ms == 0) {
        seg->created_ms = now_ms;
    }
    out->base_offset = first;
    out->last_offset = next - 1;
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
        size_t mid = (lo + hi) / 2;
        if (part->segs[mid]->base <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* End of a range of whole batches from pos: within limit bytes and below max_offset. */
static int64_t slog__range_end(slog_seg_t *seg, int64_t pos, int64_t limit, int64_t max_offset)
{
    size_t lo = 0, hi = seg->nidx; /* index entries are valid boundaries below both bounds */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seg->idx[mid].pos <= limit && seg->base + seg->idx[mid].rel <= max_offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    int64_t end = pos;
    if (lo > 0 && seg->idx[lo - 1].pos > end) {
        end = seg->idx[lo - 1].pos;
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
            continue; /* past this segment's data: the next one holds it */
        }
        int64_t first = slog_batch_total(&hdr);
        if (hdr.base_offset + hdr.last_offset_delta >= max_offset ||
            (first > max_bytes && !min_one)) {
            return 0;
        }
        int64_t limit = pos + SL_MAX(max_bytes, first);
        int64_t end = slog__range_end(seg, pos + first, limit, max_offset);
        slog_file_ref(seg->file);
        out->file = seg->file;
        out->pos = pos;
        out->len = end - pos;
        out->first_offset = hdr.base_offset;
        return 0;
    }
    return 0;
}

/* Within one batch, the first record with timestamp >= ts (uncompressed batches); else the
 * batch's base offset. */
static void slog__record_for_time(slog_seg_t *seg, int64_t pos, const slog_batch_hdr_t *hdr,
                                  int64_t ts, int64_t *offset, int64_t *found)
{
    *offset = hdr->base_offset;
    *found = hdr->max_timestamp;
    if ((hdr->attributes & (SLOG_BATCH_COMPRESSION_MASK | SLOG_BATCH_TIMESTAMP_TYPE)) != 0) {
        return;
    }
    int64_t total = slog_batch_total(hdr);
    uint8_t *buf = sl_xmalloc((size_t)total);
    slog_batch_hdr_t check;
    if (pread(seg->file->fd, buf, (size_t)total, pos) == total &&
        slog_batch_validate(buf, (size_t)total, &check) == 0) {
        const uint8_t *p = buf + SLOG_BATCH_HEADER_BYTES;
        for (int32_t i = 0; i < hdr->record_count; i++) {
            uint64_t v[4] = {0};
            /* length, attributes(1 byte), timestampDelta, offsetDelta */
            const uint8_t *q = p;
            int shift = 0;
            while (*q & 0x80) { v[0] |= (uint64_t)(*q++ & 0x7f) << shift; shift += 7; }
            v[0] |= (uint64_t)(*q++) << shift;
            int64_t len = (int64_t)((v[0] >> 1) ^ (~(v[0] & 1) + 1));
            const uint8_t *rec = q;
            q++;
            shift = 0;
            while (*q & 0x80) { v[1] |= (uint64_t)(*q++ & 0x7f) << shift; shift += 7; }
            v[1] |= (uint64_t)(*q++) << shift;
            int64_t delta = (int64_t)((v[1] >> 1) ^ (~(v[1] & 1) + 1));
            if (hdr->base_timestamp + delta >= ts) {
                *offset = hdr->base_offset + i;
                *found = hdr->base_timestamp + delta;
                break;
            }
            p = rec + len;
        }
    }
    free(buf);
}

int slog_part_offset_for_time(slog_part_t *part, int64_t ts, int64_t *offset, int64_t *found_ts)
{
    for (size_t i = 0; i < part->nsegs; i++) {
        slog_seg_t *seg = part->segs[i];
        if (seg->max_ts < ts) {
            continue;
        }
        int64_t from = seg->base; /* every record before a time entry with ts < T is older */
        for (size_t t = 0; t < seg->ntidx && seg->tidx[t].ts < ts; t++) {
            from = seg->base + seg->tidx[t].rel;
        }
        slog_batch_hdr_t hdr;
        int64_t pos = slog__seg_find(seg, from, &hdr);
        while (pos >= 0 && pos < seg->size) {
            if (hdr.max_timestamp >= ts) {
                slog__record_for_time(seg, pos, &hdr, ts, offset, found_ts);
                return 0;
            }
            pos += slog_batch_total(&hdr);
            if (pos < seg->size && slog__seg_header(seg, pos, &hdr) != 0) {
                return -EIO;
            }
        }
        if (pos < 0) {
            return (int)pos;
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

int slog_part_housekeep(slog_part_t *part, int64_t now_ms)
{
    slog_seg_t *active = slog__active(part);
    if (!part->failed && active->size > 0 && active->created_ms > 0 &&
        now_ms - active->created_ms >= part->conf.roll_ms) {
        int rc = slog__roll(part);
        if (rc != 0) {
            return rc;
        }
    }
    int deleted = 0;
    while (part->nsegs > 1) {
        slog_seg_t *seg = part->segs[0];
        bool by_time = part->conf.retention_ms >= 0 && seg->max_ts >= 0 &&
                       seg->max_ts < now_ms - part->conf.retention_ms;
        bool by_size = part->conf.retention_bytes >= 0 &&
                       part->size_bytes - seg->size >= part->conf.retention_bytes;
        if (!by_time && !by_size) {
            break;
        }
        slog__seg_unlink(seg, part->dir);
        part->size_bytes -= seg->size;
        slog__seg_free(seg);
        memmove(part->segs, part->segs + 1, (part->nsegs - 1) * sizeof *part->segs);
        part->nsegs--;
        part->start = part->segs[0]->base;
        deleted++;
    }
    return deleted;
}

bool slog_part_sync_needed(const slog_part_t *part)
{
    return !part->failed && !part->job_out && part->durable < slog_part_end_offset(part);
}

slog_sync_job_t *slog_part_sync_begin(slog_part_t *part)
{
    if (!slog_part_sync_needed(part)) {
        return NULL;
    }
    slog_sync_job_t *job = sl_xcalloc(1, sizeof *job);
    job->file = slog__active(part)->file;
    slog_file_ref(job->file);
    job->target = slog_part_end_offset(part);
    part->job_out = true;
    return job;
}

int slog_sync_run(slog_sync_job_t *job)
{
    return slog__fdatasync(job->file->fd);
}

void slog_part_sync_end(slog_part_t *part, slog_sync_job_t *job, int rc)
{
    SL_ASSERT(part->job_out);
    part->job_out = false;
    if (rc == 0) {
        part->durable = SL_MAX(part->durable, job->target);
    } else if (!part->failed) {
        part->failed = rc;
    }
    slog_file_unref(job->file);
    free(job);
}

int slog_part_sync_now(slog_part_t *part)
{
    if (part->failed) {
        return part->failed;
    }
    int rc = slog__fdatasync(slog__active(part)->file->fd);
    if (rc != 0) {
        part->failed = rc;
        return rc;
    }
    part->durable = slog_part_end_offset(part);
    return 0;
}
