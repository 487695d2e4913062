/* Producer state of one partition: Kafka's ProducerStateManager for idempotent producers.
 * Per producer id: the epoch and the last SLOG_PSTATE_BATCHES batches appended (first and
 * last sequence, last offset, offset delta, timestamp). It decides, from the v2 batch header
 * only, whether a batch is new, a duplicate of a cached one (answered with the original's
 * offsets, never written twice), from a fenced epoch or out of sequence. Snapshots
 * (<offset>.snapshot, layout in pstate.c) plus a replay of the batch headers after them
 * rebuild it when a partition opens.
 * Thread: whoever owns the partition (the broker's loop); nothing here is shared. */
#ifndef SLOG_PSTATE_H
#define SLOG_PSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "slog_batch.h"
#include "slog.h"

typedef struct slog_pstate slog_pstate_t;

/* Verdicts besides 0 (accepted) and errors. */
#define SLOG_PSTATE_DUPLICATE 1

/* A batch's place in the log, as cached per producer. */
typedef struct {
    int32_t first_seq;
    int32_t last_seq;
    int64_t last_offset;
    int32_t offset_delta; /* last_offset - base offset of the batch */
    int64_t timestamp;    /* batch max timestamp */
} slog_pbatch_t;

/* What is known of one producer (slog_pstate_get). */
typedef struct {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_seq;     /* -1 when no batch is cached */
    int64_t last_offset;  /* -1 when no batch is cached */
    int64_t last_timestamp;
    int32_t batch_count;
} slog_producer_t;

/* New empty state holding at most producers_max producers (1..SLOG_PSTATE_PRODUCERS_MAX);
 * producers whose last batch is expiry_ms older than now are dropped by slog_pstate_expire. */
slog_pstate_t *slog_pstate_new(int32_t producers_max, int64_t expiry_ms);
void slog_pstate_free(slog_pstate_t *ps);
void slog_pstate_set_limits(slog_pstate_t *ps, int32_t producers_max, int64_t expiry_ms);
/* Forgets every producer. */
void slog_pstate_clear(slog_pstate_t *ps);

/* Journal: checks made between begin and commit can be undone with abort (an append of
 * several batches is all or nothing). */
void slog_pstate_begin(slog_pstate_t *ps);
void slog_pstate_commit(slog_pstate_t *ps);
void slog_pstate_abort(slog_pstate_t *ps);

/* Checks the batch hdr (producer_id >= 0), which would get offsets base_offset ..
 * base_offset + last_offset_delta, as Kafka 3.x does for a client's append, and records it
 * when accepted (inside a journal). Returns 0, SLOG_PSTATE_DUPLICATE (the same epoch and
 * sequence range as a cached batch: *dup is that batch), SLOG_EPRODUCER_EPOCH (older epoch)
 * or SLOG_ESEQUENCE (a gap, a sequence from the past, or a new epoch not at sequence 0).
 * An unknown producer is accepted at any sequence (Kafka 3.x). When the table is full the
 * producer with the oldest last offset is forgotten (logged). */
int slog_pstate_check(slog_pstate_t *ps, const slog_batch_hdr_t *hdr, int64_t base_offset,
                      slog_pbatch_t *dup);
/* Records a batch read back from the log (hdr->base_offset is its offset) without checks. */
void slog_pstate_replay(slog_pstate_t *ps, const slog_batch_hdr_t *hdr);
/* Drops producers whose last timestamp is at least expiry_ms before now. Returns how many. */
int slog_pstate_expire(slog_pstate_t *ps, int64_t now_ms);

int32_t slog_pstate_count(const slog_pstate_t *ps);
/* Copies producer i (0 .. count-1, by producer id) into out. */
void slog_pstate_at(const slog_pstate_t *ps, int32_t i, slog_producer_t *out);
/* Finds a producer; false when unknown. */
bool slog_pstate_get(const slog_pstate_t *ps, int64_t producer_id, slog_producer_t *out);

/* Snapshot bytes of the state as of offset (every batch below it applied) appended to out. */
void slog_pstate_encode(const slog_pstate_t *ps, int64_t offset, sl_buf_t *out);
/* Replaces the state with a snapshot's; SL_ECORRUPT (state left empty) when the bytes do not
 * hold up (magic, version, CRC32C, counts, order). */
int slog_pstate_decode(slog_pstate_t *ps, const uint8_t *p, size_t len, int64_t *offset);

/* Snapshot files of a partition directory.
 * save: writes <offset>.snapshot atomically and durably, then removes all but the newest
 *       SLOG_PSTATE_SNAPSHOTS_KEPT snapshots. Returns 0 or -errno.
 * load: removes snapshots above max_offset (a cut log), loads the newest one that holds up
 *       (damaged ones are logged and removed); *offset is its offset, or -1 when none loaded
 *       (state empty). Returns 0 or -errno on listing failure. Thread: loop (blocks). */
int slog_pstate_save(const slog_pstate_t *ps, const char *dir, int64_t offset);
int slog_pstate_load(slog_pstate_t *ps, const char *dir, int64_t max_offset, int64_t *offset);

/* Last sequence of a batch: base + delta, wrapping past INT32_MAX to 0 as Kafka's do. */
int32_t slog_pstate_seq_add(int32_t seq, int32_t delta);

#endif
