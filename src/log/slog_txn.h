/* Transactions on one partition (KIP-98, the partition side): which producers have a
 * transaction open and from which offset (the last stable offset is the smallest of those
 * first offsets, or the high watermark), and the aborted transactions (producer id, first
 * offset, offset of the ABORT marker) that read_committed fetches list. Rebuilt when the
 * partition opens by a scan of the batch headers from the log start (only for partitions that
 * ever held a transactional batch: they carry a .txn marker file), so the log itself is the
 * durable structure: a control batch ends a transaction, its record key says COMMIT or ABORT.
 * Thread: whoever owns the partition (the broker's loop). */
#ifndef SLOG_TXN_H
#define SLOG_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slog_batch.h"

typedef struct slog_txn slog_txn_t;

/* Control record types (Kafka's ControlRecordType). */
#define SLOG_CONTROL_ABORT 0
#define SLOG_CONTROL_COMMIT 1

typedef struct slog_aborted_s {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset; /* offset of the ABORT marker */
} slog_aborted_t;

slog_txn_t *slog_txn_new(void);
void slog_txn_free(slog_txn_t *txn);
/* Records a batch as written at hdr->base_offset: a transactional data batch opens (or
 * continues) its producer's transaction; a control batch of type control_type (ABORT/COMMIT;
 * -1 for an unknown type: the transaction is just closed) ends it. */
void slog_txn_note(slog_txn_t *txn, const slog_batch_hdr_t *hdr, int control_type);
/* Smallest first offset of the open transactions, or hw when none is below it. */
int64_t slog_txn_lso(const slog_txn_t *txn, int64_t hw);
/* First offset of producer_id's open transaction, or -1. */
int64_t slog_txn_open_first(const slog_txn_t *txn, int64_t producer_id);
int32_t slog_txn_open_count(const slog_txn_t *txn);
/* Copies up to max aborted transactions overlapping [from, to) (last_offset >= from and
 * first_offset < to) into out, oldest first; returns how many there are (may exceed max). */
int32_t slog_txn_aborted(const slog_txn_t *txn, int64_t from, int64_t to, slog_aborted_t *out,
                         int32_t max);
/* Drops aborted transactions whose marker is below offset (retention moved the start). */
void slog_txn_forget_before(slog_txn_t *txn, int64_t offset);

/* Control record of a marker batch: type from its key (version 0, i16 type) of the single
 * record in the len bytes of records after the batch header. -1 when it does not parse. */
int slog_txn_control_type(const uint8_t *records, size_t len);
/* Builds a marker batch (magic v2, control + transactional attributes, one record: key
 * {i16 version 0, i16 type}, value {i16 version 0, i32 coordinator epoch}) into buf (at least
 * SLOG_TXN_MARKER_BYTES); base offset 0 (the append sets it). Returns its length. */
#define SLOG_TXN_MARKER_BYTES 128
size_t slog_txn_marker_build(uint8_t *buf, int64_t producer_id, int16_t epoch, int type,
                             int32_t coordinator_epoch, int64_t now_ms);

#endif
