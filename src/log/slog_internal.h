/* Storage-layer internals shared by segment.c, recovery.c and partition.c. */
#ifndef SLOG_INTERNAL_H
#define SLOG_INTERNAL_H

#include <stdatomic.h>

#include "sl_buf.h"
#include "slog.h"
#include "slog_batch.h"

struct slog_file {
    int fd;
    atomic_int refs;
};

typedef struct {
    uint32_t rel; /* offset - segment base */
    uint32_t pos; /* byte position of a batch start */
} slog_ientry_t;

typedef struct {
    int64_t ts;   /* max timestamp of every record up to and including this batch */
    uint32_t rel; /* base offset of the batch - segment base */
} slog_tentry_t;

typedef struct {
    int64_t base;         /* base offset (the file name) */
    int64_t next;         /* offset after the last record (== base when empty) */
    int64_t size;         /* bytes of whole batches */
    slog_file_t *file;
    slog_ientry_t *idx;
    size_t nidx, idx_cap;
    slog_tentry_t *tidx;
    size_t ntidx, tidx_cap;
    int64_t last_index_pos; /* position of the last offset index entry */
    int64_t max_ts;         /* largest batch max timestamp, -1 when none */
    int64_t max_ts_offset;  /* last offset of the first batch that has max_ts */
    int64_t created_ms;     /* wall time of the first append (roll.ms), 0 when empty */
} slog_seg_t;

/* Path helpers: <dir>/<20-digit base>.<ext>. */
void slog__seg_path(const char *dir, int64_t base, const char *ext, char *buf, size_t len);

slog_file_t *slog__file_new(int fd);

/* Creates an empty segment file (O_EXCL). */
int slog__seg_create(const char *dir, int64_t base, slog_seg_t **out);
/* Opens an existing segment file: size from the file; indexes not loaded. */
int slog__seg_open(const char *dir, int64_t base, slog_seg_t **out);
void slog__seg_free(slog_seg_t *seg);
/* Records one appended batch at pos in the in-memory indexes and counters. */
void slog__seg_note_batch(slog_seg_t *seg, const slog_batch_hdr_t *hdr, int64_t pos,
                          int32_t interval);
/* Loads .index/.timeindex if they are consistent with the segment; false otherwise. */
bool slog__seg_load_index(slog_seg_t *seg, const char *dir);
/* Writes .index/.timeindex (not synced: recovery checks them). */
int slog__seg_write_index(slog_seg_t *seg, const char *dir);
/* Scans batch headers from pos to the end of the file, noting each batch. With verify, every
 * batch is read whole and validated and offsets must grow; the scan stops at the first bad
 * one. Returns the position where the valid batches end, or -errno. */
int64_t slog__seg_scan(slog_seg_t *seg, int64_t pos, int64_t prev_next, bool verify,
                       int32_t interval);
/* Byte position of the batch holding offset (or the first batch after it), by index and a
 * header scan; seg->size when offset >= seg->next. Returns -errno on read failure. */
int64_t slog__seg_find(slog_seg_t *seg, int64_t offset, slog_batch_hdr_t *hdr);
/* Reads and decodes the header at pos. */
int slog__seg_header(const slog_seg_t *seg, int64_t pos, slog_batch_hdr_t *hdr);
/* Removes the segment's files. */
void slog__seg_unlink(slog_seg_t *seg, const char *dir);

#endif
