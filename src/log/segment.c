/* One segment: its .log file of whole batches (refcounted, so a fetch can send from it after
 * a roll or a delete), the sparse offset index and the time index (index.c), and the scans
 * that rebuild or verify them from the log itself. Batch layout in slog_batch.h, index
 * layouts in slog_internal.h. */
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "slog_internal.h"
#include "slog_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Scan read window: large enough that scanning small batches costs few system calls. */
#define SLOG_SCAN_WINDOW_BYTES ((size_t)1 << 20)

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
        if (file->fd >= 0) {
            close(file->fd);
        }
        free(file->path);
        free(file);
    }
}

void slog__seg_reset(slog_seg_t *seg)
{
    slog__idx_deinit(&seg->oidx);
    slog__idx_deinit(&seg->tidx);
    seg->next = seg->base;
    seg->last_index_pos = -1;
    seg->max_ts = -1;
    seg->max_ts_offset = -1;
    seg->index_written = false;
    seg->index_synced = false;
}

slog_seg_t *slog__seg_wrap(int64_t base, int fd, int64_t size)
{
    slog_seg_t *seg = sl_xcalloc(1, sizeof *seg);
    seg->base = base;
    seg->size = size;
    seg->file = slog__file_new(fd);
    seg->created_ms = -1;
    slog__idx_init(&seg->oidx, SLOG_OIDX_ENTRY_BYTES);
    slog__idx_init(&seg->tidx, SLOG_TIDX_ENTRY_BYTES);
    slog__seg_reset(seg);
    seg->synced_next = base;
    return seg;
}

int slog__seg_create(const char *dir, int64_t base, slog_seg_t **out)
{
    char path[4096];
    slog__seg_path(dir, base, "log", path, sizeof path);
    int fd = slog__open_retry(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, sl_fs_file_mode());
    if (fd < 0) {
        return -errno;
    }
    *out = slog__seg_wrap(base, fd, 0);
    (*out)->file->path = sl_xstrdup(path);
    return 0;
}

int slog__seg_open(const char *dir, int64_t base, slog_seg_t **out)
{
    char path[4096];
    slog__seg_path(dir, base, "log", path, sizeof path);
    int fd = slog__open_retry(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *out = slog__seg_wrap(base, fd, st.st_size);
    (*out)->file->path = sl_xstrdup(path);
    return 0;
}

void slog__seg_free(slog_seg_t *seg)
{
    if (!seg) {
        return;
    }
    slog__fdc_remove(seg->file);
    slog_file_unref(seg->file);
    slog__idx_deinit(&seg->oidx);
    slog__idx_deinit(&seg->tidx);
    free(seg);
}

void slog__seg_unlink(const slog_seg_t *seg, const char *dir)
{
    static const char *exts[] = {"log", "index", "timeindex"};
    char path[4096];
    for (size_t i = 0; i < SL_ARRAY_LEN(exts); i++) {
        slog__seg_path(dir, seg->base, exts[i], path, sizeof path);
        unlink(path);
    }
}

/* A time index entry for the running maximum, unless the last entry already has it. */
static void slog__seg_time_point(slog_seg_t *seg)
{
    size_t n = seg->tidx.n;
    if (seg->max_ts_offset < 0 || (n > 0 && slog__tidx_ts(&seg->tidx, n - 1) >= seg->max_ts)) {
        return;
    }
    uint8_t e[SLOG_TIDX_ENTRY_BYTES];
    sl_be64_put(e, (uint64_t)seg->max_ts);
    sl_be32_put(e + 8, (uint32_t)(seg->max_ts_offset - seg->base));
    slog__idx_push(&seg->tidx, e);
    seg->index_written = false;
}

void slog__seg_note_batch(slog_seg_t *seg, const slog_batch_hdr_t *hdr, int64_t pos,
                          int32_t interval)
{
    int64_t last = hdr->base_offset + hdr->last_offset_delta;
    /* our own bookkeeping: batches follow each other in offsets (with gaps only in a
     * compacted segment) and in the file */
    SL_ASSERT((hdr->base_offset == seg->next || (seg->gaps && hdr->base_offset > seg->next)) &&
              last >= hdr->base_offset && pos == seg->size);
    SL_ASSERT(last - seg->base <= INT32_MAX && pos < SLOG_SEGMENT_BYTES_MAX);
    if (hdr->max_timestamp > seg->max_ts) {
        seg->max_ts = hdr->max_timestamp;
        seg->max_ts_offset = last;
    }
    if (seg->oidx.n == 0 || pos - seg->last_index_pos >= interval) {
        uint8_t e[SLOG_OIDX_ENTRY_BYTES];
        sl_be32_put(e, (uint32_t)(hdr->base_offset - seg->base));
        sl_be32_put(e + 4, (uint32_t)pos);
        slog__idx_push(&seg->oidx, e);
        seg->last_index_pos = pos;
        seg->index_written = false;
        slog__seg_time_point(seg);
    }
    seg->next = last + 1;
    seg->size = pos + slog_batch_total(hdr);
}

void slog__seg_seal(slog_seg_t *seg)
{
    slog__seg_time_point(seg);
}

int slog__seg_header(const slog_seg_t *seg, int64_t pos, slog_batch_hdr_t *hdr)
{
    uint8_t buf[SLOG_BATCH_HEADER_BYTES];
    int fd = slog__file_use(seg->file);
    if (fd < 0) {
        return fd;
    }
    ssize_t n = pread(fd, buf, sizeof buf, pos);
    if (n < 0) {
        return -errno;
    }
    if (n != (ssize_t)sizeof buf) {
        return SL_ECORRUPT;
    }
    slog_batch_hdr_decode(buf, hdr);
    if (hdr->batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
        hdr->last_offset_delta < 0) {
        return SL_ECORRUPT;
    }
    return 0;
}

int slog__seg_write_index(slog_seg_t *seg, const char *dir, bool sync)
{
    char path[4096];
    slog__seg_path(dir, seg->base, "index", path, sizeof path);
    int rc = slog__idx_write(&seg->oidx, path, sync);
    if (rc == 0) {
        slog__seg_path(dir, seg->base, "timeindex", path, sizeof path);
        rc = slog__idx_write(&seg->tidx, path, sync);
    }
    if (rc == 0) {
        seg->index_written = true;
        seg->index_synced = sync;
    }
    return rc;
}

/* Continues from the last offset index entry of a loaded index: the batch there gives the
 * end offset, the tail after it is scanned (headers only). */
static int slog__seg_load_tail(slog_seg_t *seg, int64_t fsize, int32_t interval)
{
    size_t last = seg->oidx.n - 1;
    int64_t pos = slog__oidx_pos(&seg->oidx, last);
    slog_batch_hdr_t hdr;
    int rc = slog__seg_header(seg, pos, &hdr);
    if (rc != 0) {
        return rc;
    }
    if (hdr.base_offset != seg->base + slog__oidx_rel(&seg->oidx, last) ||
        pos + slog_batch_total(&hdr) > fsize ||
        hdr.base_offset + hdr.last_offset_delta - seg->base > INT32_MAX) {
        return SL_ECORRUPT;
    }
    int64_t last_off = hdr.base_offset + hdr.last_offset_delta;
    if (seg->tidx.n > 0) {
        seg->max_ts = slog__tidx_ts(&seg->tidx, seg->tidx.n - 1);
        seg->max_ts_offset = seg->base + slog__tidx_rel(&seg->tidx, seg->tidx.n - 1);
    }
    if (hdr.max_timestamp > seg->max_ts) {
        seg->max_ts = hdr.max_timestamp;
        seg->max_ts_offset = last_off;
    }
    seg->last_index_pos = pos;
    seg->next = last_off + 1;
    seg->size = pos + slog_batch_total(&hdr);
    int64_t end = slog__seg_scan(seg, seg->size, false, interval);
    if (end < 0) {
        return (int)end;
    }
    return end == fsize ? 0 : SL_ECORRUPT;
}

int slog__seg_load_index(slog_seg_t *seg, const char *dir, bool map, int32_t interval)
{
    char path[4096];
    int64_t fsize = seg->size;
    size_t max = (size_t)(fsize / SLOG_BATCH_HEADER_BYTES) + 1; /* at most one per batch */
    slog__seg_path(dir, seg->base, "index", path, sizeof path);
    int rc = slog__idx_load(&seg->oidx, path, max, map);
    if (rc == 0) {
        slog__seg_path(dir, seg->base, "timeindex", path, sizeof path);
        rc = slog__idx_load(&seg->tidx, path, max, map);
    }
    bool idx_ok = seg->gaps ? slog__oidx_check_gaps(&seg->oidx, fsize)
                            : slog__oidx_check(&seg->oidx, fsize);
    if (rc == 0 && !idx_ok) {
        rc = SL_ECORRUPT;
    }
    if (rc == 0 && seg->oidx.n > 0) {
        size_t n = seg->oidx.n + seg->tidx.n;
        rc = slog__seg_load_tail(seg, fsize, interval);
        seg->index_written = n == seg->oidx.n + seg->tidx.n; /* the tail added none */
        seg->index_synced = seg->index_written;
    }
    if (rc == 0 && !slog__tidx_check(&seg->tidx, seg->next - 1 - seg->base)) {
        rc = SL_ECORRUPT;
    }
    if (rc != 0) {
        slog__seg_reset(seg);
        seg->size = fsize;
        return rc == -ENOENT ? SL_ECORRUPT : rc;
    }
    slog__idx_release(&seg->oidx);
    slog__idx_release(&seg->tidx);
    return 0;
}

/* A read window over the segment file. */
typedef struct {
    int fd;
    uint8_t *buf;
    size_t cap;
    int64_t at;  /* file position of buf[0] */
    size_t len;  /* valid bytes in buf */
} slog_window_t;

/* Makes [pos, pos+n) available; returns a pointer or NULL (short file, or *rc on error). */
static const uint8_t *slog__window(slog_window_t *w, int64_t pos, size_t n, int *rc)
{
    if (pos >= w->at && pos + (int64_t)n <= w->at + (int64_t)w->len) {
        return w->buf + (pos - w->at);
    }
    if (n > w->cap) {
        w->cap = n;
        free(w->buf);
        w->buf = sl_xmalloc(w->cap);
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

/* Whether the header at pos can start the next batch of seg in a file of end bytes. */
static bool slog__scan_fits(const slog_seg_t *seg, const slog_batch_hdr_t *hdr, int64_t pos,
                            int64_t end)
{
    int64_t total = slog_batch_total(hdr);
    return hdr->batch_length >= SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD &&
           total <= SLOG_BATCH_BYTES_MAX && pos + total <= end &&
           pos + total <= SLOG_SEGMENT_BYTES_MAX &&
           (hdr->base_offset == seg->next || (seg->gaps && hdr->base_offset > seg->next)) &&
           hdr->last_offset_delta >= 0 &&
           hdr->base_offset + hdr->last_offset_delta - seg->base <= INT32_MAX;
}

int64_t slog__seg_scan(slog_seg_t *seg, int64_t pos, bool verify, int32_t interval)
{
    struct stat st;
    int fd = slog__file_use(seg->file);
    if (fd < 0) {
        return fd;
    }
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    int64_t end = st.st_size;
    slog_window_t w = {fd, sl_xmalloc(SLOG_SCAN_WINDOW_BYTES), SLOG_SCAN_WINDOW_BYTES,
                       0, 0};
    int rc = 0;
    seg->size = pos;
    while (rc == 0 && pos + SLOG_BATCH_HEADER_BYTES <= end) {
        const uint8_t *p = slog__window(&w, pos, SLOG_BATCH_HEADER_BYTES, &rc);
        if (!p) {
            break;
        }
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(p, &hdr);
        if (!slog__scan_fits(seg, &hdr, pos, end)) {
            break;
        }
        if (verify) {
            p = slog__window(&w, pos, (size_t)slog_batch_total(&hdr), &rc);
            if (!p || slog__batch_check(p, (size_t)slog_batch_total(&hdr), &hdr, seg->gaps) != 0) {
                break;
            }
        }
        slog__seg_note_batch(seg, &hdr, pos, interval);
        pos += slog_batch_total(&hdr);
    }
    free(w.buf);
    return rc != 0 ? rc : pos;
}

int64_t slog__seg_find(const slog_seg_t *seg, int64_t offset, slog_batch_hdr_t *hdr)
{
    if (offset >= seg->next) {
        return seg->size;
    }
    int64_t pos = 0;
    if (seg->oidx.n > 0 && offset > seg->base) {
        pos = slog__oidx_pos(&seg->oidx, slog__oidx_floor(&seg->oidx,
                                                          (uint32_t)(offset - seg->base)));
    }
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
