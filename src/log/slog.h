/* Partition log: the storage engine of the broker.
 *
 * A partition is a directory of segments, each named by its base offset as Kafka names them:
 *   00000000000000000000.log        record batches (magic v2) exactly as produced, offsets set
 *   00000000000000000000.index      sparse offset index: {u32 rel_offset, u32 file_pos} BE
 *   00000000000000000000.timeindex  time index: {i64 max_timestamp, u32 rel_offset} BE
 *   recovery-point                  offset below which everything is durable: an unclean
 *                                   start verifies segments from the one holding it
 *   .clean                          present only after a clean close (skip the CRC scan)
 * Batches are validated (slog_batch.h) before they are written; only the base offset, the
 * partition leader epoch and, for LogAppendTime topics, the timestamps are rewritten.
 *
 * Threads: every slog_part_* call is made from one thread (the broker's loop), except
 * slog_sync_run, which the flusher thread calls on a job prepared by slog_part_sync_begin.
 * Nothing here blocks for long except open/close/recovery and the flusher's fdatasync. */
#ifndef SLOG_H
#define SLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slog_limits.h"

/* Producer-state verdicts of slog_part_append (Kafka INVALID_PRODUCER_EPOCH and
 * OUT_OF_ORDER_SEQUENCE_NUMBER); below SL_E* and -errno. */
#define SLOG_EPRODUCER_EPOCH (-5101)
#define SLOG_ESEQUENCE (-5102)

typedef struct slog_part slog_part_t;
/* A refcounted open segment file, kept alive while a fetch response sends from it. */
typedef struct slog_file slog_file_t;

typedef struct {
    int64_t segment_bytes;        /* roll before the active segment would exceed this */
    int64_t roll_ms;              /* roll when the active segment's first write is older */
    int64_t retention_ms;         /* delete closed segments whose newest record is older; -1 off */
    int64_t retention_bytes;      /* delete oldest closed segments while the log is larger; -1 off */
    int32_t index_interval_bytes; /* bytes between sparse index entries (Kafka: 4096) */
    int32_t max_message_bytes;    /* largest batch accepted (Kafka: max.message.bytes) */
    bool log_append_time;         /* message.timestamp.type=LogAppendTime */
    int32_t producers_max;        /* producer ids remembered (<= SLOG_PRODUCERS_PER_PARTITION_MAX) */
    int64_t producer_expiry_ms;   /* producer.id.expiration.ms (Kafka: 1 day) */
} slog_conf_t;

/* Fills conf with Kafka's defaults (1 GiB segments, 7 days, 4096, 1048588, CreateTime,
 * producer ids expire after 1 day). */
void slog_conf_default(slog_conf_t *conf);

/* Opens (creating if needed) the partition in dir and recovers it: after an unclean stop the
 * segments from the recovery point on are scanned, a torn or corrupt tail is truncated (and
 * later segments deleted), missing or damaged indexes are rebuilt; each repair is logged once.
 * The .clean marker stays until the first append. Open leaves no appended data unsynced. Returns 0, -errno, or SL_ECORRUPT when the log
 * cannot be made consistent (never when a tail can be truncated). Thread: loop (blocks). */
int slog_part_open(const char *dir, const slog_conf_t *conf, slog_part_t **out);
/* Syncs, writes indexes and the clean marker, frees. Thread: loop (blocks). */
void slog_part_close(slog_part_t *part);
/* Frees without writing anything (its directory is being removed by the caller). */
void slog_part_abandon(slog_part_t *part);
/* Closes and removes the directory (topic deletion). In-flight reads keep their files open. */
int slog_part_delete(slog_part_t *part);
/* Applies new settings to future appends, rolls and retention runs. */
void slog_part_set_conf(slog_part_t *part, const slog_conf_t *conf);

typedef struct {
    int64_t base_offset;  /* offset given to the first record */
    int64_t last_offset;  /* offset of the last record */
    int64_t append_time_ms; /* broker time used for LogAppendTime, or -1 (CreateTime) */
    int64_t log_start_offset;
    int32_t batch_count;
    bool duplicate;       /* a retried batch of an idempotent producer: nothing was written;
                             the offsets are the original's (durable or not yet) */
} slog_append_t;

/* Validates data (one or more whole v2 batches) and appends it to the active segment,
 * rolling first when needed. data is modified in place (base offsets, leader epoch, and
 * timestamps+CRC for LogAppendTime). Nothing is written unless every batch is valid.
 * Errors: SL_ECORRUPT bad framing/CRC/count (Kafka CORRUPT_MESSAGE), SL_EINVAL magic != 2
 * (UNSUPPORTED_FOR_MESSAGE_FORMAT), SL_ELIMIT a batch over max_message_bytes
 * (MESSAGE_TOO_LARGE), SLOG_EPRODUCER_EPOCH / SLOG_ESEQUENCE (idempotent producer checks,
 * slog_pstate.h; a duplicate is not an error: out->duplicate), -errno on I/O
 * (KAFKA_STORAGE_ERROR; the partition then refuses appends until reopened). Data is written (write(2)) but not synced: see slog_part_sync_*. */
int slog_part_append(slog_part_t *part, uint8_t *data, size_t len, int64_t now_ms,
                     slog_append_t *out);

int64_t slog_part_start_offset(const slog_part_t *part); /* log start offset */
int64_t slog_part_end_offset(const slog_part_t *part);   /* next offset to assign (LEO) */
/* Exclusive end of what has been fdatasync'd; == end offset when nothing is pending. */
int64_t slog_part_durable_offset(const slog_part_t *part);
int64_t slog_part_size_bytes(const slog_part_t *part);
int slog_part_segment_count(const slog_part_t *part);
/* The partition's idempotent-producer state (slog_pstate.h: read with slog_pstate_count/_at),
 * e.g. for DescribeProducers. Valid until the next append, housekeep or close. */
struct slog_pstate;
const struct slog_pstate *slog_part_producers(const slog_part_t *part);

/* Transactions (slog_txn.h). append_marker writes a COMMIT or ABORT control batch for
 * producer_id/epoch (the only way a control batch gets in: slog_part_append refuses them with
 * SL_EINVAL), with slog_part_append's errors. lso: the last stable offset given the high
 * watermark hw. aborted: the aborted transactions overlapping [from, to), up to max copied
 * into out; returns the total. txn_first: first offset of producer_id's open transaction or
 * -1. */
struct slog_aborted_s;
int slog_part_append_marker(slog_part_t *part, int64_t producer_id, int16_t epoch, bool commit,
                            int32_t coordinator_epoch, int64_t now_ms, slog_append_t *out);
int64_t slog_part_lso(const slog_part_t *part, int64_t hw);
int32_t slog_part_aborted(const slog_part_t *part, int64_t from, int64_t to,
                          struct slog_aborted_s *out, int32_t max);
int64_t slog_part_txn_first(const slog_part_t *part, int64_t producer_id);

typedef struct {
    slog_file_t *file; /* referenced: release with slog_file_unref; NULL when len == 0 */
    int64_t pos;       /* byte position in the file */
    int64_t len;       /* bytes: whole batches only */
    int64_t first_offset; /* base offset of the first batch in the range */
} slog_read_t;

/* Finds the batch that contains offset and returns a range of whole batches from it, in one
 * segment, ending before max_offset (exclusive; e.g. the high watermark) and within max_bytes,
 * except that with min_one the first batch is returned whole however large it is.
 * offset == end (or max_offset) yields len 0. SL_ERANGE when offset is below the start or
 * above the end offset. Returns 0 or -errno. */
int slog_part_read(slog_part_t *part, int64_t offset, int64_t max_offset, int64_t max_bytes,
                   bool min_one, slog_read_t *out);

int slog_file_fd(const slog_file_t *file);
void slog_file_ref(slog_file_t *file);
void slog_file_unref(slog_file_t *file); /* Thread: any (atomic refcount) */

/* ListOffsets by time: first offset whose batch max timestamp >= ts (Kafka semantics), and
 * that batch's max timestamp... SL_ENOTFOUND when every record is older. */
int slog_part_offset_for_time(slog_part_t *part, int64_t ts, int64_t *offset, int64_t *found_ts);
/* ListOffsets MAX_TIMESTAMP: offset and timestamp of the record with the largest timestamp
 * (the last offset of the first batch with that max timestamp, as Kafka's time index keeps
 * it); SL_ENOTFOUND on an empty log. */
int slog_part_max_timestamp(slog_part_t *part, int64_t *offset, int64_t *ts);

/* Retention: deletes whole closed segments past retention.ms / retention.bytes, and rolls
 * the active segment when roll_ms has passed. Returns segments deleted or -errno. */
int slog_part_housekeep(slog_part_t *part, int64_t now_ms);
/* Closes the active segment if it holds data and starts a new one at the end offset (a
 * compactor writes its snapshot there). Returns 0 or the partition's error. */
int slog_part_roll(slog_part_t *part);
/* Deletes whole closed segments that end at or before offset; the log then starts at the
 * first segment kept. Returns segments deleted. */
int slog_part_delete_before(slog_part_t *part, int64_t offset);

/* Group commit. The loop prepares a job naming the segment files with unsynced data and the
 * end offset they cover; the flusher thread runs it (fdatasync each file); the loop then
 * completes it, advancing the durable offset. At most one job per partition at a time.
 *   slog_part_sync_begin: NULL when nothing is pending or a job is already out.
 *   slog_sync_run:        Thread: any (the flusher). Returns 0 or -errno.
 *   slog_part_sync_end:   rc from run; on failure the partition refuses appends (like
 *                         Kafka taking a log dir offline) and the durable offset stays. */
typedef struct slog_sync_job slog_sync_job_t;
bool slog_part_sync_needed(const slog_part_t *part);
slog_sync_job_t *slog_part_sync_begin(slog_part_t *part);
int slog_sync_run(slog_sync_job_t *job);
void slog_part_sync_end(slog_part_t *part, slog_sync_job_t *job, int rc);
/* Synchronous variant for close and tests. */
int slog_part_sync_now(slog_part_t *part);
/* The last I/O error that took the partition offline, or 0. */
int slog_part_failed(const slog_part_t *part);

#endif
