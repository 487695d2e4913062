/* One segment: its .log file (refcounted so fetches can send from it after a roll or a
 * delete), the sparse offset index and time index kept in memory and written beside the log
 * as <base>.index ({u32 rel, u32 pos} BE) and <base>.timeindex ({i64 ts, u32 rel} BE). */
#include "sl_common.h"
#include "sl_log.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int slog__fault_nth[SLOG_FAULT__COUNT];
static atomic_int slog__fault_err[SLOG_FAULT__COUNT];

void slog_fault_set(slog_fault_op_t op, int nth, int err)
{
    atomic_store(&slog__fault_err[op], err);
    atomic_store(&slog__fault_nth[op], nth);
}

int slog_fault_hit(slog_fault_op_t op)
{
    if (atomic_load_explicit(&slog__fault_nth[op], memory_order_relaxed) == 0) {
        return 0;
    }
    return atomic_fetch_sub(&slog__fault_nth[op], 1) == 1 ? atomic_load(&slog__fault_err[op]) : 0;
}

void slog__seg_path(const char *dir, int64_t base, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020lld.%s", dir, (long long)base, ext);
}

slog_file_t *slog__file_new(int fd)
{
    slog_file_t *file = sl_xcalloc(1, sizeof *file);
    file->fd = fd;
    atomic_init(&file->refs, 1);
    return file;
}

int slog_file_fd(const slog_file_t *file)
{
    return file->fd;
}

void slog_file_ref(slog_file_t *file)
{
    atomic_fetch_add(&file->refs, 1);
}

void slog_file_unref(slog_file_t *file)
{
    if (file && atomic_fetch_sub(&file->refs, 1) == 1) {
        close(file->fd);
        free(file);
    }
}

static slog_seg_t *slog__seg_new(int64_t base, int fd, int64_t size)
{
    slog_seg_t *seg = sl_xcalloc(1, sizeof *seg);
    seg->base = base;
    seg->next = base;
    seg->size = size;
    seg->file = slog__file_new(fd);
    seg->max_ts = -1;
    seg->max_ts_offset = -1;
    seg->last_index_pos = -1;
    return seg;
}

int slog__seg_create(const char *dir, int64_t base, slog_seg_t **out)
{
    char path[4096];
    slog__seg_path(dir, base, "log", path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    *out = slog__seg_new(base, fd, 0);
    return 0;
}

int slog__seg_open(const char *dir, int64_t base, slog_seg_t **out)
{
    char path[4096];
    slog__seg_path(dir, base, "log", path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *out = slog__seg_new(base, fd, st.st_size);
    return 0;
}

void slog__seg_free(slog_seg_t *seg)
{
    if (!seg) {
        return;
    }
    slog_file_unref(seg->file);
    free(seg->idx);
    free(seg->tidx);
    free(seg);
}

void slog__seg_unlink(slog_seg_t *seg, const char *dir)
{
    static const char *exts[] = {"log", "index", "timeindex"};
    char path[4096];
    for (size_t i = 0; i < SL_ARRAY_LEN(exts); i++) {
        slog__seg_path(dir, seg->base, exts[i], path, sizeof path);
        unlink(path);
    }
}

void slog__seg_note_batch(slog_seg_t *seg, const slog_batch_hdr_t *hdr, int64_t pos,
                          int32_t interval)
{
    int64_t last = hdr->base_offset + hdr->last_offset_delta;
    SL_ASSERT(hdr->base_offset >= seg->next && pos >= 0 && pos < ((int64_t)1 << 32));
    if (seg->nidx == 0 || pos - seg->last_index_pos >= interval) {
        if (seg->nidx == seg->idx_cap) {
            seg->idx_cap = seg->idx_cap ? seg->idx_cap * 2 : 64;
            seg->idx = sl_xrealloc(seg->idx, seg->idx_cap * sizeof *seg->idx);
        }
        seg->idx[seg->nidx].rel = (uint32_t)(hdr->base_offset - seg->base);
        seg->idx[seg->nidx].pos = (uint32_t)pos;
        seg->nidx++;
        seg->last_index_pos = pos;
    }
    bool new_max = hdr->max_timestamp > seg->max_ts;
    if (new_max) {
        seg->max_ts = hdr->max_timestamp;
        seg->max_ts_offset = last;
        if (seg->ntidx == seg->tidx_cap) {
            seg->tidx_cap = seg->tidx_cap ? seg->tidx_cap * 2 : 64;
            seg->tidx = sl_xrealloc(seg->tidx, seg->tidx_cap * sizeof *seg->tidx);
        }
        /* Keep one entry per index interval: replace the last when it is close by. */
        if (seg->ntidx > 0 && seg->nidx > 0 &&
            seg->tidx[seg->ntidx - 1].rel >= seg->idx[seg->nidx - 1].rel) {
            seg->ntidx--;
        }
        seg->tidx[seg->ntidx].ts = hdr->max_timestamp;
        seg->tidx[seg->ntidx].rel = (uint32_t)(hdr->base_offset - seg->base);
        seg->ntidx++;
    }
    seg->next = last + 1;
}

int slog__seg_header(const slog_seg_t *seg, int64_t pos, slog_batch_hdr_t *hdr)
{
    uint8_t buf[SLOG_BATCH_HEADER_BYTES];
    ssize_t n = pread(seg->file->fd, buf, sizeof buf, pos);
    if (n < 0) {
        return -errno;
    }
    if (n != (ssize_t)sizeof buf) {
        return SL_ECORRUPT;
    }
    slog_batch_hdr_decode(buf, hdr);
    return 0;
}

/* Writes a whole buffer to path (not synced). */
static int slog__write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = len ? write(fd, data, len) : 0;
    int rc = n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    return rc;
}

int slog__seg_write_index(slog_seg_t *seg, const char *dir)
{
    char path[4096];
    uint8_t *buf = sl_xmalloc(SL_MAX(seg->nidx * 8, seg->ntidx * 12) + 1);
    for (size_t i = 0; i < seg->nidx; i++) {
        sl_be32_put(buf + 8 * i, seg->idx[i].rel);
        sl_be32_put(buf + 8 * i + 4, seg->idx[i].pos);
    }
    slog__seg_path(dir, seg->base, "index", path, sizeof path);
    int rc = slog__write_file(path, buf, seg->nidx * 8);
    for (size_t i = 0; rc == 0 && i < seg->ntidx; i++) {
        sl_be64_put(buf + 12 * i, (uint64_t)seg->tidx[i].ts);
        sl_be32_put(buf + 12 * i + 8, seg->tidx[i].rel);
    }
    if (rc == 0) {
        slog__seg_path(dir, seg->base, "timeindex", path, sizeof path);
        rc = slog__write_file(path, buf, seg->ntidx * 12);
    }
    free(buf);
    return rc;
}

/* Reads a whole small file; NULL when missing or larger than max. */
static uint8_t *slog__read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size <= max) {
        buf = sl_xmalloc((size_t)st.st_size + 1);
        if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)st.st_size;
    }
    close(fd);
    return buf;
}

bool slog__seg_load_index(slog_seg_t *seg, const char *dir)
{
    char path[4096];
    size_t len = 0, tlen = 0;
    size_t max = (size_t)(seg->size / 8 + 2) * 12;
    slog__seg_path(dir, seg->base, "index", path, sizeof path);
    uint8_t *buf = slog__read_file(path, max, &len);
    slog__seg_path(dir, seg->base, "timeindex", path, sizeof path);
    uint8_t *tbuf = slog__read_file(path, max, &tlen);
    bool ok = buf && tbuf && len % 8 == 0 && tlen % 12 == 0 && (len > 0 || seg->size == 0);
    for (size_t i = 0; ok && i < len / 8; i++) {
        uint32_t rel = sl_be32_get(buf + 8 * i), pos = sl_be32_get(buf + 8 * i + 4);
        ok = pos < seg->size && (i == 0 ? pos == 0 && rel == 0
                                        : rel > seg->idx[i - 1].rel && pos > seg->idx[i - 1].pos);
        if (ok) {
            slog_batch_hdr_t hdr;
            if (i == 0) {
                seg->idx = sl_xcalloc(len / 8, sizeof *seg->idx);
                seg->idx_cap = len / 8;
            }
            seg->idx[i].rel = rel;
            seg->idx[i].pos = pos;
            seg->nidx = i + 1;
            /* spot-check the last entry against the log itself */
            ok = i + 1 < len / 8 || (slog__seg_header(seg, pos, &hdr) == 0 &&
                                     hdr.base_offset == seg->base + rel);
        }
    }
    for (size_t i = 0; ok && i < tlen / 12; i++) {
        if (i == 0) {
            seg->tidx = sl_xcalloc(tlen / 12, sizeof *seg->tidx);
            seg->tidx_cap = tlen / 12;
        }
        seg->tidx[i].ts = (int64_t)sl_be64_get(tbuf + 12 * i);
        seg->tidx[i].rel = sl_be32_get(tbuf + 12 * i + 8);
        seg->ntidx = i + 1;
        ok = i == 0 || (seg->tidx[i].ts > seg->tidx[i - 1].ts &&
                        seg->tidx[i].rel >= seg->tidx[i - 1].rel);
    }
    free(buf);
    free(tbuf);
    if (!ok) {
        seg->nidx = seg->ntidx = 0;
        return false;
    }
    if (seg->ntidx > 0) {
        seg->max_ts = seg->tidx[seg->ntidx - 1].ts;
    }
    seg->last_index_pos = seg->nidx ? (int64_t)seg->idx[seg->nidx - 1].pos : -1;
    return true;
}

/* A read window over the segment file so that a scan of small batches costs few syscalls. */
typedef struct {
    int fd;
    uint8_t *buf;
    size_t cap;
    int64_t at;  /* file position of buf[0] */
    size_t len;  /* valid bytes in buf */
} slog_window_t;

/* Makes [pos, pos+n) available in the window; returns a pointer or NULL (short file), and
 * sets *rc on I/O error. */
static const uint8_t *slog__window(slog_window_t *w, int64_t pos, size_t n, int *rc)
{
    if (pos >= w->at && pos + (int64_t)n <= w->at + (int64_t)w->len) {
        return w->buf + (pos - w->at);
    }
    if (n > w->cap) {
        w->cap = n;
        w->buf = sl_xrealloc(w->buf, w->cap);
    }
    ssize_t got = pread(w->fd, w->buf, w->cap, pos);
    if (got < 0) {
        *rc = -errno;
        return NULL;
    }
    w->at = pos;
    w->len = (size_t)got;
    return w->len >= n ? w->buf : NULL;
}

int64_t slog__seg_scan(slog_seg_t *seg, int64_t pos, int64_t prev_next, bool verify,
                       int32_t interval)
{
    slog_window_t w = {seg->file->fd, sl_xmalloc(1 << 20), 1 << 20, 0, 0};
    struct stat st;
    int rc = fstat(seg->file->fd, &st) < 0 ? -errno : 0;
    int64_t end = st.st_size;
    while (rc == 0 && pos + SLOG_BATCH_HEADER_BYTES <= end) {
        const uint8_t *p = slog__window(&w, pos, SLOG_BATCH_HEADER_BYTES, &rc);
        if (!p) {
            break;
        }
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p, &hdr);
        int64_t total = slog_batch_total(&hdr);
        if (hdr.batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
            total > SLOG_BATCH_BYTES_MAX || pos + total > end || hdr.base_offset < prev_next ||
            (pos == 0 && hdr.base_offset != seg->base)) {
            break;
        }
        if (verify) {
            p = slog__window(&w, pos, (size_t)total, &rc);
            if (!p || slog_batch_validate(p, (size_t)total, &hdr) != 0) {
                break;
            }
        }
        slog__seg_note_batch(seg, &hdr, pos, interval);
        prev_next = seg->next;
        pos += total;
    }
    free(w.buf);
    return rc != 0 ? rc : pos;
}

int64_t slog__seg_find(slog_seg_t *seg, int64_t offset, slog_batch_hdr_t *hdr)
{
    if (offset >= seg->next) {
        return seg->size;
    }
    /* last index entry at or before offset */
    size_t lo = 0, hi = seg->nidx;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (seg->base + seg->idx[mid].rel <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    int64_t pos = seg->nidx ? seg->idx[lo].pos : 0;
    while (pos < seg->size) {
        int rc = slog__seg_header(seg, pos, hdr);
        if (rc != 0) {
            return rc;
        }
        if (hdr->base_offset + hdr->last_offset_delta >= offset) {
            return pos;
        }
        pos += slog_batch_total(hdr);
    }
    return seg->size;
}
