/* Helpers shared by the storage-engine tests (tests/unit/test_log_*.c): a builder of real
 * magic-2 record batches (records with keys, values and headers, CRC32C), temporary
 * partition directories and small file surgery for the recovery tests. */
#ifndef TEST_LOG_H
#define TEST_LOG_H

#include "sl_buf.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "slog.h"
#include "slog_batch.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void tl_varint(sl_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        uint8_t c = (uint8_t)(z | 0x80);
        sl_buf_append(b, &c, 1);
        z >>= 7;
    }
    uint8_t c = (uint8_t)z;
    sl_buf_append(b, &c, 1);
}

/* Sets the CRC of the batch at p (total bytes). */
static inline void tl_fix_crc(uint8_t *p, size_t total)
{
    sl_be32_put(p + 17, sl_crc32c(0, p + 21, total - 21));
}

/* Appends to out a v2 batch of n records: key "k<i>" (null when i % 5 == 4), value "v<i>"
 * padded with pad bytes, one header ("h","v"); record i has timestamp ts + i. */
static inline void tl_batch(sl_buf_t *out, int n, int64_t ts, size_t pad)
{
    sl_buf_t recs, r;
    sl_buf_init(&recs);
    sl_buf_init(&r);
    for (int i = 0; i < n; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%d", i);
        r.len = 0;
        sl_buf_append(&r, "\0", 1); /* attributes */
        tl_varint(&r, i);           /* timestampDelta */
        tl_varint(&r, i);           /* offsetDelta */
        tl_varint(&r, i % 5 == 4 ? -1 : kl);
        if (i % 5 != 4) {
            sl_buf_append(&r, key, (size_t)kl);
        }
        char val[16];
        int vl = snprintf(val, sizeof val, "v%d", i);
        tl_varint(&r, vl + (int64_t)pad);
        sl_buf_append(&r, val, (size_t)vl);
        memset(sl_buf_reserve(&r, pad), 'x', pad);
        r.len += pad;
        tl_varint(&r, 1);
        tl_varint(&r, 1);
        sl_buf_append(&r, "h", 1);
        tl_varint(&r, 1);
        sl_buf_append(&r, "v", 1);
        tl_varint(&recs, (int64_t)r.len);
        sl_buf_append(&recs, r.data, r.len);
    }
    size_t total = SLOG_BATCH_HEADER_BYTES + recs.len;
    uint8_t *p = sl_buf_reserve(out, total);
    memset(p, 0, SLOG_BATCH_HEADER_BYTES);
    sl_be64_put(p, 12345); /* producers send anything here: the log assigns offsets */
    sl_be32_put(p + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    sl_be32_put(p + 12, 7);
    p[16] = 2;
    sl_be32_put(p + 23, (uint32_t)(n - 1));
    sl_be64_put(p + 27, (uint64_t)ts);
    sl_be64_put(p + 35, (uint64_t)(ts + n - 1));
    sl_be64_put(p + 43, (uint64_t)-1);
    sl_be16_put(p + 51, 0xffff);
    sl_be32_put(p + 53, 0xffffffff);
    sl_be32_put(p + 57, (uint32_t)n);
    memcpy(p + SLOG_BATCH_HEADER_BYTES, recs.data, recs.len);
    tl_fix_crc(p, total);
    out->len += total;
    sl_buf_deinit(&recs);
    sl_buf_deinit(&r);
}

/* A "compressed" batch (gzip attribute) of n records with an opaque payload of len bytes:
 * the log never opens compressed batches, so any payload validates. */
static inline void tl_batch_compressed(sl_buf_t *out, int n, int64_t ts, size_t len)
{
    size_t total = SLOG_BATCH_HEADER_BYTES + len;
    uint8_t *p = sl_buf_reserve(out, total);
    memset(p, 0, total);
    sl_be32_put(p + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    p[16] = 2;
    sl_be16_put(p + 21, 1);
    sl_be32_put(p + 23, (uint32_t)(n - 1));
    sl_be64_put(p + 27, (uint64_t)ts);
    sl_be64_put(p + 35, (uint64_t)ts);
    sl_be64_put(p + 43, (uint64_t)-1);
    sl_be32_put(p + 57, (uint32_t)n);
    tl_fix_crc(p, total);
    out->len += total;
}

static inline char *tl_tmpdir(void)
{
    char *d = strdup("/tmp/sl_log_test_XXXXXX");
    if (!mkdtemp(d)) {
        abort();
    }
    return d;
}

static inline void tl_rmdir(char *dir)
{
    sl_fs_rmtree(dir);
    free(dir);
}

static inline slog_conf_t tl_conf_small(void)
{
    slog_conf_t c;
    slog_conf_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    return c;
}

/* Appends one batch of n records at ts (also the broker clock); returns the base offset or
 * the error. */
static inline int64_t tl_append(slog_part_t *part, int n, int64_t ts)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, n, ts, 0);
    slog_append_t info;
    int rc = slog_part_append(part, b.data, b.len, ts, &info);
    sl_buf_deinit(&b);
    return rc == 0 ? info.base_offset : rc;
}

static inline void tl_path(char *buf, size_t len, const char *dir, int64_t base, const char *ext)
{
    snprintf(buf, len, "%s/%020lld.%s", dir, (long long)base, ext);
}

static inline bool tl_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int64_t tl_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Flips bit 0 of the byte at pos (negative: from the end) of path. */
static inline void tl_flip(const char *path, int64_t pos)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        abort();
    }
    off_t at = pos < 0 ? st.st_size + pos : pos;
    uint8_t byte;
    if (pread(fd, &byte, 1, at) != 1) {
        abort();
    }
    byte ^= 1;
    if (pwrite(fd, &byte, 1, at) != 1) {
        abort();
    }
    close(fd);
}

/* Appends len bytes of text to path. */
static inline void tl_append_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        abort();
    }
    close(fd);
}

/* Reads the batch header at the start of a read range. */
static inline int64_t tl_read_base(const slog_read_t *rd)
{
    uint8_t hdr[SLOG_BATCH_HEADER_BYTES];
    if (pread(slog_file_fd(rd->file), hdr, sizeof hdr, rd->pos) != (ssize_t)sizeof hdr) {
        return -1;
    }
    return (int64_t)sl_be64_get(hdr);
}

#endif
