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
 * slog_sync_run and slog_zero_run, which a flusher thread calls on a job prepared by
 * slog_part_sync_begin / slog_part_zero_begin.
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

/* The partition leader epoch stamped into every batch the log stores (appended batches and
 * transaction markers). A single node leads every partition from its creation, never loses a
 * record it served and never truncates under a leader change, so the epoch never moves
 * (docs/broker.md "Leader epochs"); every batch on disk carries it. */
#define SLOG_LEADER_EPOCH 0

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
    int codec;                    /* compression.type: SLOG_CODEC_*, or -1 (producer: as sent) */
    int32_t producers_max;        /* producer ids remembered (<= SLOG_PRODUCERS_PER_PARTITION_MAX) */
    int64_t producer_expiry_ms;   /* producer.id.expiration.ms (Kafka: 1 day) */
    /* cleanup.policy: delete (time/size retention) and/or compact (the cleaner) */
    bool cleanup_delete;
    bool cleanup_compact;
    int64_t delete_retention_ms;   /* tombstones kept this long after their first clean */
    int64_t min_compaction_lag_ms; /* a segment newer than this (max timestamp) is not cleaned */
    double min_cleanable_dirty_ratio; /* clean when dirty bytes / cleanable bytes reach it */
    int64_t max_compaction_lag_ms; /* a dirty record older than this forces a clean (and a
                                    * roll of the active segment); INT64_MAX: off */
    /* After an unclean stop, what the segments hold past the recovery point (verified; maybe
     * only in the page cache) is fdatasync'd before open returns (true), or counts as durable
     * only once a sync job covers it (false: open does not wait for it) */
    bool open_sync;
    /* Zeroed, synced space kept ahead of the active segment's end (0: none), see zero.c */
    int64_t zero_ahead_bytes;
} slog_conf_t;

/* Fills conf with Kafka's defaults (1 GiB segments, 7 days, 4096, 1048588, CreateTime,
 * producer ids expire after 1 day, cleanup.policy=delete, delete.retention.ms 1 day, lag 0,
 * dirty ratio 0.5, no max lag), open_sync, no zero-ahead. */
void slog_conf_default(slog_conf_t *conf);

/* Opens (creating if needed) the partition in dir and recovers it: after an unclean stop the
 * segments from the recovery point on are scanned, a torn or corrupt tail is truncated (and
 * later segments deleted), missing or damaged indexes are rebuilt; each repair is logged once.
 * The .clean marker stays until the first append. With conf->open_sync, open leaves no
 * appended data unsynced (else slog_part_durable_offset tells how far it is). Returns 0,
 * -errno, or SL_ECORRUPT when the log cannot be made consistent (never when a tail can be
 * truncated). Thread: loop (blocks). */
int slog_part_open(const char *dir, const slog_conf_t *conf, slog_part_t **out);
/* Closes cleanly and frees: slog_parts_close of one partition. Thread: loop (blocks). */
void slog_part_close(slog_part_t *part);
/* Closes n partitions cleanly and frees them. Each one changed since a clean open writes its
 * index files and producer snapshot unsynced; then one pass (slog__fsync_all: writeback of all
 * started at once, then waited for on several threads) makes durable only what is not yet:
 * unsynced segment data, index files not synced since written, and each directory; only then
 * is each partition's .clean marker created. A partition unchanged since a clean open (its
 * marker still there) writes and syncs nothing. Never syncs the whole file system (syncfs
 * would also wait for every other process's dirty data). A partition whose files fail is
 * closed without a marker (the next start verifies it). Thread: loop (blocks). */
void slog_parts_close(slog_part_t **parts, size_t n);
/* Makes the directories of newly created partitions durable (the entries of their first
 * segment files), all at once on several threads, so a partition's first sync job fsyncs only
 * its file: called by whoever created n partitions before it reports them created. Partitions
 * whose directory is not dirty are skipped; one that fails keeps its directory for its first
 * sync job. Returns 0 or the first -errno. Thread: any that owns the partitions (blocks). */
int slog_parts_sync_new(slog_part_t **parts, size_t n);
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

int slog_file_fd(const slog_file_t *file); /* open while a reference is held (fdcache.c) */
void slog_file_ref(slog_file_t *file);
void slog_file_unref(slog_file_t *file); /* Thread: any (atomic refcount) */

/* The fd cache (fdcache.c): segments' .log files (closed, and active ones of idle
 * partitions) kept open at once, process-wide (log.segment.fd.cache.max;
 * SLOG_FD_CACHE_MIN..MAX, default SLOG_FD_CACHE_DEFAULT). The least recently used idle ones
 * beyond it are closed (those with unsynced data last: a sync job reopens them) and reopened
 * on demand; files in use (an append, a fetch response sending from them, a sync or clean
 * job) stay open whatever the bound. Thread: any. */
void slog_fd_cache_set_max(int64_t max);
int64_t slog_fd_cache_max(void);
/* Cached files whose fd is open now, and reopens so far (tests, metrics). */
int64_t slog_fd_cache_open_count(void);
int64_t slog_fd_cache_reopens(void);

/* ListOffsets by time: first offset whose batch max timestamp >= ts (Kafka semantics), and
 * that batch's max timestamp... SL_ENOTFOUND when every record is older. */
int slog_part_offset_for_time(slog_part_t *part, int64_t ts, int64_t *offset, int64_t *found_ts);
/* ListOffsets MAX_TIMESTAMP: offset and timestamp of the record with the largest timestamp
 * (the last offset of the first batch with that max timestamp, as Kafka's time index keeps
 * it); SL_ENOTFOUND on an empty log. */
int slog_part_max_timestamp(slog_part_t *part, int64_t *offset, int64_t *ts);

/* Retention: deletes whole closed segments past retention.ms / retention.bytes (only when
 * cleanup.policy has delete), and rolls the active segment when roll_ms has passed (or, on a
 * compacted topic, max.compaction.lag.ms). Returns segments deleted or -errno. */
int slog_part_housekeep(slog_part_t *part, int64_t now_ms);
/* Closes the active segment if it holds data and starts a new one at the end offset (a
 * compactor writes its snapshot there). Returns 0 or the partition's error. */
int slog_part_roll(slog_part_t *part);
/* Deletes whole closed segments that end at or before offset; the log then starts at the
 * first segment kept. Returns segments deleted. */
int slog_part_delete_before(slog_part_t *part, int64_t offset);
/* The log start offset, Kafka's DeleteRecords, in two steps. start_save makes offset durable
 * in dir's log-start-offset file (atomic, fsync: it blocks) unless the file already holds a
 * larger one (the file only ever grows); callers serialize the saves of one dir. Returns 0 or
 * -errno. Thread: any (a worker). */
int slog_part_start_save(const char *dir, int64_t offset);
/* Then, on the partition: the log starts at offset (inside a segment, maybe) and the whole
 * segments below it are deleted (never the active one); reads below it fail with SL_ERANGE.
 * An offset at or below the start changes nothing; SL_EINVAL past the end. Thread: loop. */
int slog_part_set_start(slog_part_t *part, int64_t offset);
/* The partition's directory (for work done elsewhere, such as slog_part_start_save). */
const char *slog_part_dir(const slog_part_t *part);

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
/* Runs n jobs together (their files' writeback started at once, their fdatasyncs and directory
 * fsyncs waited for on several threads: slog_sync_run for many partitions, sharing journal
 * commits and disk flushes); rcs[i] is jobs[i]'s result. Thread: any (the flusher); blocks. */
void slog_sync_run_many(slog_sync_job_t **jobs, size_t n, int *rcs);
void slog_part_sync_end(slog_part_t *part, slog_sync_job_t *job, int rc);
/* Synchronous variant for close and tests. */
int slog_part_sync_now(slog_part_t *part);

/* Zero-ahead (zero.c), with conf.zero_ahead_bytes > 0: the loop prepares a job when the
 * zeroed space ahead of the active segment's end has fallen below half of zero_ahead_bytes
 * and the partition's last sync job was small (SLOG_ZERO_SYNC_BYTES_MAX); a flusher thread
 * writes the zeros and syncs them; the loop ends it. At most one job per partition; an
 * append that reaches the job's range stops it. A failed job turns zeroing off for the
 * partition (logged once); appends are unaffected. close/abandon/delete need no job out:
 * cancel (Thread: any) and wait for run to return, then end it.
 *   slog_part_zero_begin: NULL when nothing is needed.
 *   slog_zero_run:        Thread: any (the flusher). Returns 0 or -errno. */
typedef struct slog_zero_job slog_zero_job_t;
slog_zero_job_t *slog_part_zero_begin(slog_part_t *part);
int slog_zero_run(slog_zero_job_t *job);
void slog_zero_cancel(slog_zero_job_t *job);
void slog_part_zero_end(slog_part_t *part, slog_zero_job_t *job, int rc);
/* The last I/O error that took the partition offline, or 0. */
int slog_part_failed(const slog_part_t *part);
/* Brings an offline partition back (recovery.c): after a failed sync its tail is cut to the
 * durable offset (the page cache may hold what the disk lost; nothing past it was
 * acknowledged under flush policy always), after a failed write or open the tail is verified
 * from the recovery point (a torn batch is cut); then the log is reopened as at start (indexes,
 * producer state, transactions) and replaces the partition's state in place: part stays
 * valid, reads in flight keep their files. Needs no sync, zero or clean job out (SL_EAGAIN).
 * Returns 0 (online; one log line), or the error that keeps it offline (try again later).
 * Thread: loop (blocks like open). */
int slog_part_resume(slog_part_t *part);

/* Log compaction (cleaner.c), Kafka's LogCleaner for cleanup.policy=compact: closed
 * segments below the first uncleanable one (the active segment, or the first newer than
 * min.compaction.lag.ms) are rewritten keeping, for each key, only the record with the
 * latest offset in the dirty section (offsets at or above the checkpoint), as found in an
 * offset map of a fixed size (a log with more keys is cleaned in several passes). Offsets
 * are kept (gaps appear), batches keep their header fields (producer id, epoch, base
 * sequence, base offset and lastOffsetDelta), compressed batches are reopened and
 * recompressed with their codec, batches that lose nothing are copied as they are, and
 * small segments are merged up to segment.bytes. Tombstones (null values) go once
 * delete.retention.ms has passed since their first clean. Control and transactional
 * batches and records without a key are kept as they are.
 *
 * A job is prepared on the loop (it references the input files), runs on a cleaner thread
 * (reads the immutable closed segments, writes <base>.log/.index/.timeindex.cleaned and
 * fdatasyncs them), and is ended on the loop, which swaps the result in when every input
 * segment is still there: the checkpoint is written, <base>.swapend records the end of the
 * replaced range, .cleaned is renamed .swap (the commit point), the old segments are
 * removed, .swap is renamed to the final names (each step made durable with a directory
 * fsync). slog_part_open completes a committed swap and discards an uncommitted one. */
typedef struct {
    int64_t map_bytes;         /* log.cleaner.dedupe.buffer.size: the offset map */
    int64_t io_bytes_per_sec;  /* log.cleaner.io.max.bytes.per.second: read+write; <= 0 off */
} slog_clean_opts_t;

typedef struct {
    int64_t bytes_read;
    int64_t bytes_written;
    int64_t records_removed;
    int64_t cleaned_to;   /* the new checkpoint */
    int segments_in;
    int segments_out;
} slog_clean_stats_t;

typedef struct slog_clean_job slog_clean_job_t;

/* Dirty ratio of the cleanable part of the log (0 when nothing is cleanable). Thread: loop. */
double slog_part_dirty_ratio(const slog_part_t *part, int64_t now_ms);
/* Whether the oldest dirty record is older than max.compaction.lag.ms: the log must be
 * cleaned whatever its dirty ratio (Kafka's KIP-354). Thread: loop (reads one header). */
bool slog_part_clean_due(const slog_part_t *part, int64_t now_ms);
/* Prepares a clean when the topic compacts, nothing is out and the dirty ratio reaches
 * min.cleanable.dirty.ratio or the clean is due (force: whenever anything is dirty). NULL
 * when there is nothing to do. Thread: loop. */
slog_clean_job_t *slog_part_clean_begin(slog_part_t *part, int64_t now_ms,
                                        const slog_clean_opts_t *opts, bool force);
/* Runs the job: reads inputs, writes and syncs the .cleaned files. Returns 0, SL_ECLOSED
 * (cancelled), SL_ELIMIT (a batch has more records than the map holds) or -errno.
 * Thread: a cleaner thread (blocks, throttled). */
int slog_clean_run(slog_clean_job_t *job);
/* Asks a running job to stop soon (it then returns SL_ECLOSED). Thread: any. */
void slog_clean_cancel(slog_clean_job_t *job);
/* Swaps the result in (rc from run) unless it failed or an input segment has gone (then
 * the .cleaned files are removed: SL_EAGAIN). Frees the job. Returns 0, SL_EAGAIN, or an
 * error (an I/O error after the commit point takes the partition offline: the next open
 * completes the swap). stats may be NULL. Thread: loop. */
int slog_part_clean_end(slog_part_t *part, slog_clean_job_t *job, int rc,
                        slog_clean_stats_t *stats);
/* Frees a job whose partition is gone (after cancel + run returned), removing its files. */
void slog_clean_job_free(slog_clean_job_t *job);
/* begin + run + end on the calling thread (tests, tools). SL_EAGAIN when nothing to do. */
int slog_part_clean_now(slog_part_t *part, int64_t now_ms, const slog_clean_opts_t *opts,
                        bool force, slog_clean_stats_t *stats);
/* The cleaner's checkpoint: offsets below it have been cleaned. */
int64_t slog_part_cleaned_to(const slog_part_t *part);

/* I/O throttle of the cleaner: given bytes done since start_ms, how long to sleep at now_ms
 * to stay within rate bytes per second (0 when within, or rate <= 0). Thread: any. */
int64_t slog_clean_throttle_ms(int64_t rate, int64_t start_ms, int64_t bytes, int64_t now_ms);

#endif
