/* Limits of the storage layer. Each has a ceiling checked at compile time. */
#ifndef SLOG_LIMITS_H
#define SLOG_LIMITS_H

#include "sl_common.h"

/* Largest segment file: index entries hold 32-bit file positions. */
#define SLOG_SEGMENT_BYTES_MAX ((int64_t)1 << 31)
/* Smallest segment.bytes accepted (Kafka: 14 bytes, but anything under a batch is silly). */
#define SLOG_SEGMENT_BYTES_MIN ((int64_t)1024)
/* Largest single batch accepted from a producer, whatever max.message.bytes says. */
#define SLOG_BATCH_BYTES_MAX ((int32_t)64 << 20)
/* Records in one batch (guards count fields before any walk). */
#define SLOG_BATCH_RECORDS_MAX 1000000
/* Threads that wait on fsyncs at once in slog__fsync_all (the caller's included): enough for a
 * journal commit and a disk cache flush to serve many files each (fsyncs.c), few enough to
 * stay far below a descriptor limit (each holds one file open while it waits). */
#define SLOG_FSYNC_THREADS_MAX 16
/* Items that slog__fsync_all syncs on the calling thread alone (a sync job of one partition:
 * starting threads would cost more than it saves). */
#define SLOG_FSYNC_INLINE_MAX 2
SL_STATIC_ASSERT(SLOG_FSYNC_THREADS_MAX >= 1 && SLOG_FSYNC_THREADS_MAX <= 64,
                 "fsync threads: a few, bounded");

/* Segments in one partition. */
#define SLOG_SEGMENTS_MAX 100000

/* Segments' .log files (closed and active) kept open at once, process-wide (fdcache.c): the
 * least recently used idle ones beyond it are closed and reopened on demand. Default, floor
 * and ceiling of slog_fd_cache_set_max (log.segment.fd.cache.max). */
#define SLOG_FD_CACHE_DEFAULT 1024
#define SLOG_FD_CACHE_MIN 1
#define SLOG_FD_CACHE_MAX 1000000
SL_STATIC_ASSERT(SLOG_FD_CACHE_MIN <= SLOG_FD_CACHE_DEFAULT &&
                 SLOG_FD_CACHE_DEFAULT <= SLOG_FD_CACHE_MAX, "fd cache bounds");

/* Producer state (pstate.c). Batches remembered per producer for duplicate detection: the
 * producer's max.in.flight.requests.per.connection with idempotence is at most 5 (Kafka). */
#define SLOG_PSTATE_BATCHES 5
/* Producers remembered per partition (default and ceiling of slog_conf_t.producers_max). A
 * producer id costs ~200 bytes; past the limit the one with the oldest last offset is
 * forgotten, like an early expiry (its next batch is then accepted as from a new producer). */
#define SLOG_PRODUCERS_PER_PARTITION_MAX 10000
/* Bytes of one producer-state snapshot file: every producer with every cached batch. */
#define SLOG_PSTATE_SNAPSHOT_BYTES_MAX \
    (32 + (int64_t)SLOG_PRODUCERS_PER_PARTITION_MAX * (11 + SLOG_PSTATE_BATCHES * 28))
/* Buffer of the batch-header replay that rebuilds producer state at open. */
#define SLOG_PSTATE_REPLAY_BUF_BYTES 65536
/* Snapshot files kept per partition (the newest ones; older are removed when one is written). */
#define SLOG_PSTATE_SNAPSHOTS_KEPT 2

SL_STATIC_ASSERT(SLOG_PSTATE_BATCHES >= 1 && SLOG_PSTATE_BATCHES <= 255, "batch count is a u8");
SL_STATIC_ASSERT(SLOG_PSTATE_SNAPSHOT_BYTES_MAX < ((int64_t)64 << 20), "snapshot read whole");
SL_STATIC_ASSERT(SLOG_PSTATE_SNAPSHOTS_KEPT >= 1, "the newest snapshot is kept");
SL_STATIC_ASSERT(SLOG_PSTATE_REPLAY_BUF_BYTES >= 61, "a buffer holds a batch header");
/* Cleaned ranges remembered for tombstone expiry (older ones merge, keeping tombstones
 * longer, never shorter). */
#define SLOG_CLEAN_MARKS_MAX 32
/* Smallest offset map (log.cleaner.dedupe.buffer.size) and largest. */
#define SLOG_CLEAN_MAP_BYTES_MIN ((int64_t)4096)
#define SLOG_CLEAN_MAP_BYTES_MAX ((int64_t)1 << 32)
/* Largest decompressed payload of one batch the cleaner (or the null-key check of a produce
 * to a compacted topic) opens; the cleaner keeps a larger batch whole, a produce is refused. */
#define SLOG_CLEAN_INFLATE_BYTES_MAX ((size_t)64 << 20)

/* Zero-ahead (zero.c): bytes written (and their writeback waited for) per step, so a
 * concurrent fdatasync of the data waits behind at most this much of zeros. */
#define SLOG_ZERO_PIECE_BYTES ((size_t)256 << 10)
/* Zeroing ahead runs only while a partition's sync jobs are at most this large: it saves a
 * journal commit per sync (~0.1 ms), which matters for small syncs (the latency regime) and
 * not for large ones (the throughput regime), where writing every byte twice would cost. */
#define SLOG_ZERO_SYNC_BYTES_MAX ((int64_t)128 << 10)
/* Largest slog_conf_t.zero_ahead_bytes. */
#define SLOG_ZERO_AHEAD_BYTES_MAX ((int64_t)256 << 20)
/* Zeroed space not yet written over, plus what zero jobs out may still zero, over all
 * partitions of the process: past it no new zero job starts. Without it every partition
 * written to got its own zero_ahead_bytes of disk (4 MiB x 10,000 partitions = 40 GiB). */
#define SLOG_ZERO_TOTAL_BYTES_MAX ((int64_t)1 << 30)
SL_STATIC_ASSERT(SLOG_ZERO_TOTAL_BYTES_MAX >= SLOG_ZERO_AHEAD_BYTES_MAX,
                 "one partition can have its whole zero-ahead space");

SL_STATIC_ASSERT(SLOG_ZERO_AHEAD_BYTES_MAX < SLOG_SEGMENT_BYTES_MAX, "zeros fit a segment");
SL_STATIC_ASSERT(SLOG_CLEAN_MAP_BYTES_MIN < SLOG_CLEAN_MAP_BYTES_MAX, "map bounds");
SL_STATIC_ASSERT(SLOG_CLEAN_MARKS_MAX >= 2, "marks merge pairwise");
SL_STATIC_ASSERT(SLOG_BATCH_BYTES_MAX < SLOG_SEGMENT_BYTES_MAX, "a batch fits a segment");
SL_STATIC_ASSERT(SLOG_SEGMENT_BYTES_MIN < SLOG_SEGMENT_BYTES_MAX, "segment bounds");

#endif
