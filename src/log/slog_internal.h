/* Storage-layer internals shared by batch.c, index.c, segment.c, recovery.c, partition.c and
 * sync.c. Nothing here is part of the contract in slog.h.
 *
 * Files of a partition directory:
 *   <base>.log, <base>.index, <base>.timeindex   one segment (index layouts below)
 *   recovery-point   decimal offset: everything below it was fdatasync'd (with its directory
 *                    entries); an unclean start verifies only segments from the one holding it
 *   .clean           written last by a clean close: no segment needs verifying
 *   log-start-offset decimal offset set by DeleteRecords (slog_part_set_start): the log starts
 *                    there even inside a segment; absent: at the first segment's base */
#ifndef SLOG_INTERNAL_H
#define SLOG_INTERNAL_H

#include <stdatomic.h>

#include "sl_buf.h"
#include "slog.h"
#include "slog_batch.h"
#include "slog_pstate.h"

/* A segment's .log file. Its fd may be closed by the fd cache (fdcache.c) while nothing but
 * its segment holds the file (refs == 1), closed and active segments alike (those with
 * unsynced data last); it is reopened from path on the next use. Whoever holds a reference
 * (an append, a fetch response being sent, a sync, zero or clean job) holds an open fd:
 * slog__file_ref_open. */
struct slog_file {
    int fd;              /* -1 while the cache has closed it */
    atomic_int refs;
    char *path;          /* for reopening; NULL: never cached (temporary files) */
    bool cached;         /* on the cache's list (a segment of a partition) */
    bool dirty;          /* holds data not yet synced: closed last by the cache */
    struct slog_file *lru_prev, *lru_next;
};

/* Offset index entry, big-endian, Kafka's layout:
 *   +----------------------+----------------------+
 *   | u32 offset - base    | u32 byte position    |
 *   +----------------------+----------------------+
 * Time index entry, big-endian, Kafka's layout:
 *   +---------------------------+----------------------+
 *   | i64 max timestamp so far  | u32 offset - base    |   (offset: last offset of the
 *   +---------------------------+----------------------+    first batch reaching that max) */
#define SLOG_OIDX_ENTRY_BYTES 8
#define SLOG_TIDX_ENTRY_BYTES 12

/* A sparse index kept as its on-disk bytes: a growable heap buffer (active segment, or one
 * being rebuilt) or a read-only mmap of the index file (closed segment: page cache, not heap,
 * so idle memory does not grow with the log). */
typedef struct {
    uint8_t *heap;
    size_t cap;      /* entries the heap buffer holds */
    uint8_t *map;    /* non-NULL: mapped file, read-only */
    size_t map_len;
    size_t n;        /* entries */
    size_t esz;      /* SLOG_OIDX_ENTRY_BYTES or SLOG_TIDX_ENTRY_BYTES */
} slog_index_t;

static inline const uint8_t *slog__idx_at(const slog_index_t *ix, size_t i)
{
    return (ix->map ? ix->map : ix->heap) + i * ix->esz;
}
static inline uint32_t slog__oidx_rel(const slog_index_t *ix, size_t i)
{
    return sl_be32_get(slog__idx_at(ix, i));
}
static inline uint32_t slog__oidx_pos(const slog_index_t *ix, size_t i)
{
    return sl_be32_get(slog__idx_at(ix, i) + 4);
}
static inline int64_t slog__tidx_ts(const slog_index_t *ix, size_t i)
{
    return (int64_t)sl_be64_get(slog__idx_at(ix, i));
}
static inline uint32_t slog__tidx_rel(const slog_index_t *ix, size_t i)
{
    return sl_be32_get(slog__idx_at(ix, i) + 8);
}

/* index.c */
void slog__idx_init(slog_index_t *ix, size_t esz);
void slog__idx_deinit(slog_index_t *ix);
/* Appends one encoded entry (a mapped index is first copied to the heap). */
void slog__idx_push(slog_index_t *ix, const uint8_t *entry);
/* Writes the entries to path (truncating; not synced). With sync, fdatasyncs it too. */
int slog__idx_write(const slog_index_t *ix, const char *path, bool sync);
/* Reads path (at most max_entries whole entries, else SL_ECORRUPT) into the heap, or maps it
 * read-only with map. -ENOENT when missing. Contents are not checked: see the checks below. */
int slog__idx_load(slog_index_t *ix, const char *path, size_t max_entries, bool map);
/* Replaces the heap copy by a mapping of path, which must hold exactly the same entries
 * (just written). Keeps the heap copy when that fails. */
void slog__idx_map(slog_index_t *ix, const char *path);
/* Drops a mapped index's pages from this process (they stay in the page cache). */
void slog__idx_release(const slog_index_t *ix);
/* Offset index sane for a segment of size bytes: first entry {0,0}, both fields strictly
 * increasing, positions inside the file. The _gaps form is for a compacted segment, whose
 * first entry (position 0) may be past offset 0 (the cleaner removed the first records). */
bool slog__oidx_check(const slog_index_t *ix, int64_t size);
bool slog__oidx_check_gaps(const slog_index_t *ix, int64_t size);
/* Time index sane: timestamps strictly increasing, offsets not decreasing and below max_rel. */
bool slog__tidx_check(const slog_index_t *ix, int64_t max_rel);
/* Last offset index entry with rel <= target (0 when none is; n must be > 0). */
size_t slog__oidx_floor(const slog_index_t *ix, uint32_t target);
/* Number of leading time index entries with ts < target. */
size_t slog__tidx_count_below(const slog_index_t *ix, int64_t target);

/* One segment. The body is shared by the storage files only. */
typedef struct {
    int64_t base;           /* base offset (the file name) */
    int64_t next;           /* offset after the last record (== base when empty) */
    int64_t size;           /* bytes of whole batches */
    slog_file_t *file;
    slog_index_t oidx;
    slog_index_t tidx;
    int64_t last_index_pos; /* position of the last offset index entry, -1 when none */
    int64_t max_ts;         /* largest batch max timestamp, -1 when none */
    int64_t max_ts_offset;  /* last offset of the first batch that has max_ts, -1 when none */
    int64_t created_ms;     /* roll.ms clock: time of the first append, -1 when none */
    int64_t synced_next;    /* offsets below this are fdatasync'd */
    int64_t zeroed;         /* active: the file holds synced zeros from size up to here
                             * (zero.c); <= size when it holds none */
    bool gaps;              /* cleaned by compaction: offsets may skip (below the checkpoint) */
    bool index_written;     /* index files match memory (written at roll or load) */
    bool index_synced;      /* ... and are on stable storage */
} slog_seg_t;

/* Tombstones below offset (and at or above the previous mark's) were first cleaned at
 * time_ms: they go once time_ms + delete.retention.ms has passed. */
typedef struct {
    int64_t offset;
    int64_t time_ms;
} slog_clean_mark_t;

struct slog_part {
    char *dir;
    slog_conf_t conf;
    slog_seg_t **segs;      /* by base offset; the last one is active */
    size_t nsegs, segs_cap;
    int64_t start;          /* log start offset */
    int64_t durable;        /* offsets below are on stable storage */
    int64_t size_bytes;
    int64_t rp_base;        /* base of the segment holding the last recovery point written */
    int failed;             /* I/O error that took the partition offline, or 0 */
    bool failed_sync;       /* ... in a sync: the page cache may hold what the disk lost */
    bool job_out;           /* a sync job is out */
    bool dir_dirty;         /* segment files created since the last directory fsync */
    bool clean_marker;      /* .clean still exists: remove it before the first write */
    slog_pstate_t *pstate;  /* idempotent producers (pstate.c) */
    /* Compaction (cleaner.c; file clean-checkpoint). */
    int64_t cleaned_to;     /* the cleaner's checkpoint: offsets below were cleaned */
    int64_t gaps_below;     /* segments based below may have offset gaps (>= cleaned_to) */
    slog_clean_mark_t marks[SLOG_CLEAN_MARKS_MAX]; /* when each cleaned range was first cleaned */
    int nmarks;
    bool clean_out;         /* a clean job is out */
    struct slog_txn *txn;   /* open and aborted transactions (txn.c) */
    bool txn_seen;          /* the .txn marker exists: the open scans the whole log */
    bool marker_append;     /* slog_part_append_marker is appending: control batches pass */
    /* Zero-ahead (zero.c) */
    struct slog_zero_job *zjob; /* the job out, or NULL */
    bool zero_off;          /* a job failed: no more zeroing until reopened */
    int64_t sync_mark;      /* size_bytes when the last sync job began */
    int64_t last_sync_bytes; /* bytes that job covered */
    int64_t zero_counted;   /* this partition's share of the process's zeroed space (zero.c) */
};

/* pstate.c: rebuilds part->txn from the log (whole log when .txn exists). */
int slog__txn_open(slog_part_t *part);

/* fault.c: wrappers of the system calls that fault injection can fail, and the plain write
 * loop (EINTR, short writes) under them. */
int slog__pwrite_all(int fd, const uint8_t *p, size_t len, int64_t pos);
int slog__pwrite_raw(int fd, const uint8_t *p, size_t len, int64_t pos);
int slog__fdatasync(int fd);

/* batch.c: slog_batch_validate, and with gaps the relaxed form for batches the cleaner
 * rewrote (fewer records than lastOffsetDelta + 1, deltas increasing, even none). */
int slog__batch_check(const uint8_t *p, size_t len, slog_batch_hdr_t *hdr, bool gaps);
/* Zigzag varint (wide: varlong) at *pp before end; false when malformed. */
bool slog__varint(const uint8_t **pp, const uint8_t *end, bool wide, int64_t *out);

/* batch.c: in a validated uncompressed batch, the first record whose timestamp >= ts.
 * Returns its offset delta (its index unless the cleaner removed records before it;
 * timestamp in *found) or -1. */
int32_t slog__batch_record_at(const uint8_t *p, size_t len, int64_t ts, int64_t *found);

/* fdcache.c (Thread: loop, except that the lock makes any thread safe). add: file (of a
 * segment, path set) joins the cache as most recently used; the least recently used
 * idle files beyond the bound are closed. remove: leaves the cache (segment freed). use:
 * the file's fd, reopened if the cache closed it (on EMFILE/ENFILE idle cached fds are closed
 * and the open is tried once more), or -errno; marks it most recently used. */
void slog__fdc_add(slog_file_t *file);
void slog__fdc_remove(slog_file_t *file);
int slog__file_use(slog_file_t *file);
/* Reopens if needed and takes a reference: the fd stays open until slog_file_unref. */
int slog__file_ref_open(slog_file_t *file);
/* Marks whether the file holds unsynced data (dirty files are closed last by the cache). */
void slog__fdc_dirty(slog_file_t *file, bool dirty);
/* Closes idle cached fds beyond the bound (after references were dropped). */
void slog__fdc_trim_now(void);
/* Out of descriptors: closes idle cached fds down to half the bound; returns how many. */
int64_t slog__fdc_relieve(void);
/* open(2) that, on EMFILE/ENFILE, relieves the cache and tries once more. */
int slog__open_retry(const char *path, int flags, unsigned mode);

/* segment.c */
void slog__seg_path(const char *dir, int64_t base, const char *ext, char *buf, size_t len);
slog_file_t *slog__file_new(int fd);
/* Creates an empty segment file (O_EXCL; the directory is not synced). */
int slog__seg_create(const char *dir, int64_t base, slog_seg_t **out);
/* Wraps an open file of size bytes as segment base (empty indexes). */
slog_seg_t *slog__seg_wrap(int64_t base, int fd, int64_t size);
/* Opens an existing segment file: size from the file; indexes not loaded. */
int slog__seg_open(const char *dir, int64_t base, slog_seg_t **out);
void slog__seg_free(slog_seg_t *seg);
/* Records one batch written at pos: offsets grow (asserted), index entries every interval
 * bytes, a time index entry at such a point when the max timestamp grew. */
void slog__seg_note_batch(slog_seg_t *seg, const slog_batch_hdr_t *hdr, int64_t pos,
                          int32_t interval);
/* Adds the final time index entry (the segment's max timestamp) before the segment closes. */
void slog__seg_seal(slog_seg_t *seg);
/* Loads .index/.timeindex (mapped when map) if consistent with the log; false otherwise
 * (indexes left empty). Also recomputes next/max from the index and the tail after the last
 * index entry. Returns 0, SL_ECORRUPT (rebuild) or -errno. */
int slog__seg_load_index(slog_seg_t *seg, const char *dir, bool map, int32_t interval);
/* Writes .index/.timeindex (sync: fdatasync them too). */
int slog__seg_write_index(slog_seg_t *seg, const char *dir, bool sync);
/* Forgets the indexes and counters (before a rebuild). */
void slog__seg_reset(slog_seg_t *seg);
/* Scans batches from pos to the end of the file, noting each. Batch base offsets must follow
 * on from seg->next exactly. With verify every batch is read whole and validated. Returns the
 * position where the good batches end (< file size: torn/corrupt tail), or -errno. */
int64_t slog__seg_scan(slog_seg_t *seg, int64_t pos, bool verify, int32_t interval);
/* Byte position of the batch holding offset (or the first batch after it), with its header;
 * seg->size when offset >= seg->next. -errno or SL_ECORRUPT on read failure. */
int64_t slog__seg_find(const slog_seg_t *seg, int64_t offset, slog_batch_hdr_t *hdr);
/* Reads and decodes the header at pos. */
int slog__seg_header(const slog_seg_t *seg, int64_t pos, slog_batch_hdr_t *hdr);
/* Removes the segment's files. */
void slog__seg_unlink(const slog_seg_t *seg, const char *dir);

/* fsyncs.c: one file or directory to make durable; rc is the result. */
typedef struct {
    const char *path;
    bool dir;     /* fsync a directory (its entries), else fdatasync a file */
    bool segment; /* a segment file: its fdatasync can be failed by tests (slog_fault.h) */
    bool gone_ok; /* a file deleted meanwhile needs no sync (0, not -ENOENT) */
    int rc;
} slog__fsync_item_t;
/* Makes every item durable: starts writeback of all the files first (sync_file_range), so the
 * disk takes their writes together, then fdatasyncs the files and fsyncs the directories on up
 * to SLOG_FSYNC_THREADS_MAX threads (the caller's included; more than SLOG_FSYNC_INLINE_MAX
 * items), so that one journal commit and disk flush serve many. Returns when all are done;
 * each item's rc is 0 or -errno. Opens each file by path while it waits. Thread: any (blocks). */
void slog__fsync_all(slog__fsync_item_t *items, size_t n);
/* Calls fn(ctx, i) for every i below n, on up to SLOG_FSYNC_THREADS_MAX threads (the caller's
 * included; more than SLOG_FSYNC_INLINE_MAX items), and returns when all calls have. fn must
 * be safe to run for different i at once. Thread: any (blocks). */
typedef void (*slog__par_fn)(void *ctx, size_t i);
void slog__par_for(size_t n, slog__par_fn fn, void *ctx);

/* partition.c: frees a partition and everything it holds (not its directory). */
void slog__part_free(slog_part_t *part);

/* recovery.c: lists, repairs and loads the segments of part->dir (slog_part_open). */
int slog__recover(slog_part_t *part);
/* Writes the recovery point file of dir (atomic, durable). Thread: any. */
int slog__rp_write(const char *dir, int64_t offset);
/* partition.c: applies the log-start-offset file once the partition is loaded and deletes the
 * whole segments below it; a start past the log's end (a lost tail) becomes the end, in the
 * file too. Returns 0 or -errno from that rewrite. */
int slog__start_load(slog_part_t *part);

/* pstate.c: the partition's producer state. open: creates it from the newest good snapshot
 * at or below the (recovered) end offset plus a replay of the batches after it. snapshot:
 * writes <end offset>.snapshot (failure is logged: the next open replays more). */
int slog__pstate_open(slog_part_t *part);
void slog__pstate_snapshot(slog_part_t *part, bool sync);
/* slog_pstate_save, synced (atomic and durable) or only atomic. */
int slog__pstate_save(const slog_pstate_t *ps, const char *dir, int64_t offset, bool sync);
/* cleaner.c: at open, before the segments are listed: completes or discards an interrupted
 * swap, then reads the checkpoint (part->cleaned_to, gaps_below, marks). */
int slog__clean_recover(slog_part_t *part);
/* Whether a segment based at base may have offset gaps. */
static inline bool slog__gaps_at(const slog_part_t *part, int64_t base)
{
    return base < part->gaps_below || part->conf.cleanup_compact;
}

/* zero.c. fence: before data is written up to end in seg, stops a zero job that could
 * reach it. trim: cuts seg's zeroed tail (stopping its job); 1 when the file was cut (its
 * size change still needs a sync), 0 when there was none, or -errno. */
void slog__zero_fence(slog_part_t *part, const slog_seg_t *seg, int64_t end);
int slog__zero_trim(slog_part_t *part, slog_seg_t *seg);
/* recount: after the active segment grew (or its zeros changed), updates the partition's
 * share of the process's zeroed space (SLOG_ZERO_TOTAL_BYTES_MAX). forget: the partition is
 * freed, its share goes. Thread: loop. */
void slog__zero_recount(slog_part_t *part);
void slog__zero_forget(slog_part_t *part);

/* partition.c */
int slog__push_seg(slog_part_t *part, slog_seg_t *seg);
static inline slog_seg_t *slog__active(const slog_part_t *part)
{
    return part->segs[part->nsegs - 1];
}

#endif
