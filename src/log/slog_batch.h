/* Kafka record batch v2 (magic 2) header parsing and validation.
 *
 *  0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 |
 * 17 crc u32 (CRC32C of bytes 21..end) | 21 attributes i16 | 23 lastOffsetDelta i32 |
 * 27 baseTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 |
 * 53 baseSequence i32 | 57 recordCount i32 | 61 records...
 * batchLength counts the bytes after the batchLength field (total = 12 + batchLength). */
#ifndef SLOG_BATCH_H
#define SLOG_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

#define SLOG_BATCH_HEADER_BYTES 61
#define SLOG_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

typedef struct {
    int64_t base_offset;
    int32_t batch_length;
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} slog_batch_hdr_t;

#define SLOG_BATCH_COMPRESSION_MASK 0x07
#define SLOG_BATCH_TIMESTAMP_TYPE 0x08 /* set: LogAppendTime */
#define SLOG_BATCH_TRANSACTIONAL 0x10
#define SLOG_BATCH_CONTROL 0x20

/* Appends the validated batch at p (len bytes) to out with its records in codec
 * (SLOG_CODEC_*), as Kafka does for a topic's compression.type: header fields (producer id,
 * epoch, sequence, transactional flag, timestamps, record count) are kept, length, attributes
 * and CRC rewritten; control batches and batches already in codec are copied as they are.
 * Decompression is bounded by SLOG_CLEAN_INFLATE_BYTES_MAX. Returns 0, SL_ECORRUPT (records
 * that do not decompress), SL_ELIMIT (inflate bound) or SL_ENOMEM. */
int slog_batch_recompress(const uint8_t *p, size_t len, int codec, sl_buf_t *scratch,
                          sl_buf_t *out);
/* Decodes the fixed header of the batch at p (needs SLOG_BATCH_HEADER_BYTES). */
void slog_batch_hdr_decode(const uint8_t *p, slog_batch_hdr_t *hdr);
/* Total bytes of the batch at p given its header (12 + batchLength). */
static inline int64_t slog_batch_total(const slog_batch_hdr_t *hdr)
{
    return SLOG_BATCH_LOG_OVERHEAD + (int64_t)hdr->batch_length;
}
/* Validates one whole batch of len bytes at p: framing, magic 2, CRC32C, record count and
 * lastOffsetDelta coherent, and for uncompressed batches every record's varint framing and
 * offset delta. Returns 0, SL_ECORRUPT or SL_EINVAL (magic). */
int slog_batch_validate(const uint8_t *p, size_t len, slog_batch_hdr_t *hdr);
/* For a compacted topic (Kafka refuses records without a key there): the index of the first
 * batch in data (whole batches, as produced) holding a record with a null key (*record gets
 * that record's index in its batch), -1 when every record has a key, or SL_ECORRUPT when a
 * batch cannot be walked (compressed ones are decompressed into scratch, bounded). Control
 * batches are skipped. Thread: any. */
int slog_batch_keyless(const uint8_t *data, size_t len, sl_buf_t *scratch, int32_t *record);

#endif
