/* Sparse indexes of a segment (<base>.index, <base>.timeindex; layouts in slog_internal.h).
 * The active segment grows its indexes on the heap; a closed segment maps its index files
 * read-only, so their pages belong to the page cache and idle memory does not grow with the
 * log. Index files are not fsync'd when a segment rolls: they are checked when loaded and
 * rebuilt from the log when they do not hold up. */
#include "sl_common.h"
#include "sl_fs.h"
#include "slog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void slog__idx_init(slog_index_t *ix, size_t esz)
{
    memset(ix, 0, sizeof *ix);
    ix->esz = esz;
}

static void slog__idx_unmap(slog_index_t *ix)
{
    if (ix->map) {
        munmap(ix->map, ix->map_len);
        ix->map = NULL;
        ix->map_len = 0;
    }
}

void slog__idx_deinit(slog_index_t *ix)
{
    slog__idx_unmap(ix);
    free(ix->heap);
    slog__idx_init(ix, ix->esz);
}

void slog__idx_push(slog_index_t *ix, const uint8_t *entry)
{
    if (ix->map) { /* a closed segment reopened for appends: take a private copy */
        ix->cap = ix->n + 64;
        ix->heap = sl_xmalloc(ix->cap * ix->esz);
        memcpy(ix->heap, ix->map, ix->n * ix->esz);
        slog__idx_unmap(ix);
    }
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->heap = sl_xrealloc(ix->heap, ix->cap * ix->esz);
    }
    memcpy(ix->heap + ix->n * ix->esz, entry, ix->esz);
    ix->n++;
}

static int slog__write_full(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int slog__idx_write(const slog_index_t *ix, const char *path, bool sync)
{
    /* A new inode renamed over the old one: a mapping of the old file (perhaps this very
     * index) never sees it shrink, which would fault. */
    char tmp[4200];
    int fd = sl_fs_tmp_open(path, tmp, sizeof tmp, (int)sl_fs_file_mode());
    if (fd < 0) {
        return fd;
    }
    int rc = ix->n ? slog__write_full(fd, slog__idx_at(ix, 0), ix->n * ix->esz) : 0;
    if (rc == 0 && sync && fdatasync(fd) < 0) {
        rc = -errno;
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

int slog__idx_load(slog_index_t *ix, const char *path, size_t max_entries, bool map)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    size_t len = rc == 0 ? (size_t)st.st_size : 0;
    if (rc == 0 && (len % ix->esz != 0 || len / ix->esz > max_entries)) {
        rc = SL_ECORRUPT;
    }
    if (rc != 0 || len == 0) {
        goto out_close;
    }
    slog__idx_deinit(ix);
    if (map) {
        void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
            goto out_close;
        }
        ix->map = p;
        ix->map_len = len;
    } else {
        ix->cap = len / ix->esz;
        ix->heap = sl_xmalloc(len);
        if (pread(fd, ix->heap, len, 0) != (ssize_t)len) {
            rc = SL_ECORRUPT;
            slog__idx_deinit(ix);
            goto out_close;
        }
    }
    ix->n = len / ix->esz;
out_close:
    close(fd);
    return rc;
}

void slog__idx_map(slog_index_t *ix, const char *path)
{
    if (ix->map || ix->n == 0) {
        return;
    }
    slog_index_t mapped;
    slog__idx_init(&mapped, ix->esz);
    if (slog__idx_load(&mapped, path, ix->n, true) != 0 || mapped.n != ix->n ||
        memcmp(mapped.map, ix->heap, ix->n * ix->esz) != 0) {
        slog__idx_deinit(&mapped);
        return;
    }
    free(ix->heap);
    *ix = mapped;
    slog__idx_release(ix);
}

void slog__idx_release(const slog_index_t *ix)
{
    if (ix->map) {
        madvise(ix->map, ix->map_len, MADV_DONTNEED);
    }
}

bool slog__oidx_check(const slog_index_t *ix, int64_t size)
{
    return slog__oidx_check_gaps(ix, size) && (ix->n == 0 || slog__oidx_rel(ix, 0) == 0);
}

bool slog__oidx_check_gaps(const slog_index_t *ix, int64_t size)
{
    if (ix->n == 0) {
        return size == 0;
    }
    if (slog__oidx_pos(ix, 0) != 0) { /* rel may be > 0: compaction removed the first */
        return false;
    }
    for (size_t i = 1; i < ix->n; i++) {
        if (slog__oidx_rel(ix, i) <= slog__oidx_rel(ix, i - 1) ||
            slog__oidx_pos(ix, i) <= slog__oidx_pos(ix, i - 1)) {
            return false;
        }
    }
    return (int64_t)slog__oidx_pos(ix, ix->n - 1) < size;
}

bool slog__tidx_check(const slog_index_t *ix, int64_t max_rel)
{
    for (size_t i = 0; i < ix->n; i++) {
        if ((int64_t)slog__tidx_rel(ix, i) > max_rel ||
            (i > 0 && (slog__tidx_ts(ix, i) <= slog__tidx_ts(ix, i - 1) ||
                       slog__tidx_rel(ix, i) < slog__tidx_rel(ix, i - 1)))) {
            return false;
        }
    }
    return true;
}

size_t slog__oidx_floor(const slog_index_t *ix, uint32_t target)
{
    SL_ASSERT(ix->n > 0);
    size_t lo = 0, hi = ix->n; /* invariant: rel(lo) <= target or lo == 0; rel(hi) > target */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (slog__oidx_rel(ix, mid) <= target) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

size_t slog__tidx_count_below(const slog_index_t *ix, int64_t target)
{
    size_t lo = 0, hi = ix->n; /* first entry with ts >= target */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slog__tidx_ts(ix, mid) < target) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}
