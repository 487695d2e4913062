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
/* Segments in one partition. */
#define SLOG_SEGMENTS_MAX 100000

/* Cleaned ranges remembered for tombstone expiry (older ones merge, keeping tombstones
 * longer, never shorter). */
#define SLOG_CLEAN_MARKS_MAX 32
/* Smallest offset map (log.cleaner.dedupe.buffer.size) and largest. */
#define SLOG_CLEAN_MAP_BYTES_MIN ((int64_t)4096)
#define SLOG_CLEAN_MAP_BYTES_MAX ((int64_t)1 << 32)
/* Largest decompressed payload of one batch the cleaner (or the null-key check of a produce
 * to a compacted topic) opens; the cleaner keeps a larger batch whole, a produce is refused. */
#define SLOG_CLEAN_INFLATE_BYTES_MAX ((size_t)64 << 20)

SL_STATIC_ASSERT(SLOG_CLEAN_MAP_BYTES_MIN < SLOG_CLEAN_MAP_BYTES_MAX, "map bounds");
SL_STATIC_ASSERT(SLOG_CLEAN_MARKS_MAX >= 2, "marks merge pairwise");
SL_STATIC_ASSERT(SLOG_BATCH_BYTES_MAX < SLOG_SEGMENT_BYTES_MAX, "a batch fits a segment");
SL_STATIC_ASSERT(SLOG_SEGMENT_BYTES_MIN < SLOG_SEGMENT_BYTES_MAX, "segment bounds");

#endif
