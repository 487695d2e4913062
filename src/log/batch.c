/* Record batch v2: header decoding and validation of batches from producers and from disk.
 * Layout in slog_batch.h. Records (uncompressed only) are walked to check their framing:
 *   length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headerCount varint |
 *   headers: (keyLength varint | key | valueLength varint | value) * headerCount
 * Varints are zigzag (Kafka's ByteUtils.readVarint/readVarlong). Every byte here comes from a
 * socket or a disk: nothing is asserted, everything is an error. */
#include "slog_batch.h"
#include "sl_buf.h"
#include "slog_codec.h"
#include "sl_common.h"
#include "sl_crc32c.h"
#include "slog_internal.h"
#include "slog_limits.h"

void slog_batch_hdr_decode(const uint8_t *p, slog_batch_hdr_t *hdr)
{
    hdr->base_offset = (int64_t)sl_be64_get(p);
    hdr->batch_length = (int32_t)sl_be32_get(p + 8);
    hdr->leader_epoch = (int32_t)sl_be32_get(p + 12);
    hdr->magic = (int8_t)p[16];
    hdr->crc = sl_be32_get(p + 17);
    hdr->attributes = (int16_t)sl_be16_get(p + 21);
    hdr->last_offset_delta = (int32_t)sl_be32_get(p + 23);
    hdr->base_timestamp = (int64_t)sl_be64_get(p + 27);
    hdr->max_timestamp = (int64_t)sl_be64_get(p + 35);
    hdr->producer_id = (int64_t)sl_be64_get(p + 43);
    hdr->producer_epoch = (int16_t)sl_be16_get(p + 51);
    hdr->base_sequence = (int32_t)sl_be32_get(p + 53);
    hdr->record_count = (int32_t)sl_be32_get(p + 57);
}

/* Reads a zigzag varint (wide: varlong, 10 bytes; else 5 bytes, 32 bits); false when
 * malformed (too long, bits past the width) or past end. */
bool slog__varint(const uint8_t **pp, const uint8_t *end, bool wide, int64_t *out)
{
    const uint8_t *p = *pp;
    int max_bytes = wide ? 10 : 5;
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (p >= end) {
            return false;
        }
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == max_bytes - 1 && b > (wide ? 0x01 : 0x0f)) {
                return false;
            }
            *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
            *pp = p;
            return true;
        }
    }
    return false;
}

/* Skips a length-prefixed field (-1 = null allowed when nullable). */
static bool slog__skip_field(const uint8_t **pp, const uint8_t *end, bool nullable)
{
    int64_t n;
    if (!slog__varint(pp, end, false, &n)) {
        return false;
    }
    if (n == -1 && nullable) {
        return true;
    }
    if (n < 0 || n > end - *pp) {
        return false;
    }
    *pp += n;
    return true;
}

static bool slog__record_gap(const uint8_t **pp, const uint8_t *end, int64_t min_delta,
                             int64_t max_delta, int64_t *ts_delta, int64_t *off_delta);

/* Reads record number index at *pp: framing checked, offsetDelta must equal index; returns
 * its timestampDelta and moves *pp past it. */
static bool slog__record(const uint8_t **pp, const uint8_t *end, int32_t index, int64_t *ts_delta)
{
    int64_t off_delta;
    return slog__record_gap(pp, end, index, index, ts_delta, &off_delta);
}

/* As slog__record, but the offset delta may be anything in [min_delta, max_delta] (a batch
 * the cleaner rewrote keeps its records' original deltas). */
static bool slog__record_gap(const uint8_t **pp, const uint8_t *end, int64_t min_delta,
                             int64_t max_delta, int64_t *ts_delta, int64_t *off_out)
{
    const uint8_t *p = *pp;
    int64_t len, off_delta, nhdr;
    if (!slog__varint(&p, end, false, &len) || len < 1 || len > end - p) {
        return false;
    }
    const uint8_t *rend = p + len;
    p++; /* attributes (unused in v2) */
    if (!slog__varint(&p, rend, true, ts_delta) || !slog__varint(&p, rend, false, &off_delta) ||
        off_delta < min_delta || off_delta > max_delta || !slog__skip_field(&p, rend, true) ||
        !slog__skip_field(&p, rend, true) || !slog__varint(&p, rend, false, &nhdr) || nhdr < 0) {
        return false;
    }
    for (int64_t h = 0; h < nhdr; h++) { /* each header takes >= 2 bytes: bounded by len */
        if (!slog__skip_field(&p, rend, false) || !slog__skip_field(&p, rend, true)) {
            return false;
        }
    }
    *pp = rend;
    *off_out = off_delta;
    return p == rend;
}

/* Walks the records of an uncompressed batch: each well framed, offset deltas 0..n-1, and
 * together they fill the batch exactly. */
static bool slog__walk_records(const uint8_t *p, const uint8_t *end, int32_t count)
{
    for (int32_t i = 0; i < count; i++) {
        int64_t ts_delta;
        if (!slog__record(&p, end, i, &ts_delta)) {
            return false;
        }
    }
    return p == end;
}

/* Records of a batch the cleaner rewrote: offset deltas strictly increasing, at most the
 * batch's lastOffsetDelta, together filling the batch exactly. */
static bool slog__walk_records_gaps(const uint8_t *p, const uint8_t *end, int32_t count,
                                    int32_t last_delta)
{
    int64_t next = 0;
    for (int32_t i = 0; i < count; i++) {
        int64_t ts_delta, off_delta;
        if (!slog__record_gap(&p, end, next, last_delta, &ts_delta, &off_delta)) {
            return false;
        }
        next = off_delta + 1;
    }
    return p == end;
}

int slog_batch_validate(const uint8_t *p, size_t len, slog_batch_hdr_t *hdr)
{
    return slog__batch_check(p, len, hdr, false);
}

int slog__batch_check(const uint8_t *p, size_t len, slog_batch_hdr_t *hdr, bool gaps)
{
    if (len < SLOG_BATCH_HEADER_BYTES) {
        return SL_ECORRUPT;
    }
    slog_batch_hdr_decode(p, hdr);
    if (hdr->batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
        (uint64_t)slog_batch_total(hdr) != len) {
        return SL_ECORRUPT;
    }
    if (hdr->magic != 2) {
        return SL_EINVAL;
    }
    if (sl_crc32c(0, p + 21, len - 21) != hdr->crc) {
        return SL_ECORRUPT;
    }
    bool counts_ok = gaps ? hdr->record_count >= 0 && hdr->last_offset_delta >= 0 &&
                                (int64_t)hdr->record_count <= (int64_t)hdr->last_offset_delta + 1
                          : hdr->record_count >= 1 &&
                                hdr->last_offset_delta == hdr->record_count - 1;
    if (!counts_ok || hdr->record_count > SLOG_BATCH_RECORDS_MAX) {
        return SL_ECORRUPT;
    }
    int compression = hdr->attributes & SLOG_BATCH_COMPRESSION_MASK;
    if (compression > 4) { /* none, gzip, snappy, lz4, zstd */
        return SL_ECORRUPT;
    }
    if (compression == 0 && !gaps &&
        !slog__walk_records(p + SLOG_BATCH_HEADER_BYTES, p + len, hdr->record_count)) {
        return SL_ECORRUPT;
    }
    if (compression == 0 && gaps &&
        !slog__walk_records_gaps(p + SLOG_BATCH_HEADER_BYTES, p + len, hdr->record_count,
                                 hdr->last_offset_delta)) {
        return SL_ECORRUPT;
    }
    return 0;
}

int32_t slog__batch_record_at(const uint8_t *p, size_t len, int64_t ts, int64_t *found)
{
    if (len < SLOG_BATCH_HEADER_BYTES) {
        return -1;
    }
    slog_batch_hdr_t hdr;
    slog_batch_hdr_decode(p, &hdr);
    const uint8_t *q = p + SLOG_BATCH_HEADER_BYTES;
    int64_t next = 0; /* a cleaned batch keeps its records' deltas: gaps are possible */
    for (int32_t i = 0; i < hdr.record_count; i++) {
        int64_t ts_delta, off_delta;
        if (!slog__record_gap(&q, p + len, next, hdr.last_offset_delta, &ts_delta, &off_delta)) {
            return -1;
        }
        int64_t rec_ts = (int64_t)((uint64_t)hdr.base_timestamp + (uint64_t)ts_delta);
        if (rec_ts >= ts) {
            *found = rec_ts;
            return (int32_t)off_delta;
        }
        next = off_delta + 1;
    }
    return -1;
}

/* The index of the first record in [p, end) (count of them) with a null key, -1 when none
 * has, or SL_ECORRUPT when they cannot be walked. */
static int slog__records_keyless(const uint8_t *p, const uint8_t *end, int32_t count)
{
    for (int32_t i = 0; i < count; i++) {
        int64_t len, ts, off, klen;
        if (!slog__varint(&p, end, false, &len) || len < 1 || len > end - p) {
            return SL_ECORRUPT;
        }
        const uint8_t *rend = p + len;
        p++; /* attributes */
        if (!slog__varint(&p, rend, true, &ts) || !slog__varint(&p, rend, false, &off) ||
            !slog__varint(&p, rend, false, &klen)) {
            return SL_ECORRUPT;
        }
        if (klen < 0) {
            return i;
        }
        p = rend;
    }
    return -1;
}

int slog_batch_keyless(const uint8_t *data, size_t len, sl_buf_t *scratch, int32_t *record)
{
    int index = 0;
    for (size_t pos = 0; pos < len; index++) {
        if (len - pos < SLOG_BATCH_HEADER_BYTES) {
            return SL_ECORRUPT;
        }
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(data + pos, &hdr);
        int64_t total = slog_batch_total(&hdr);
        if (hdr.batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
            total > (int64_t)(len - pos) || hdr.record_count < 0 ||
            hdr.record_count > SLOG_BATCH_RECORDS_MAX) {
            return SL_ECORRUPT;
        }
        const uint8_t *p = data + pos + SLOG_BATCH_HEADER_BYTES, *end = data + pos + total;
        int codec = hdr.attributes & SLOG_BATCH_COMPRESSION_MASK;
        pos += (size_t)total;
        if (hdr.attributes & SLOG_BATCH_CONTROL) {
            continue;
        }
        if (codec != SLOG_CODEC_NONE) {
            scratch->len = 0;
            if (slog_codec_decompress(codec, p, (size_t)(end - p), SLOG_CLEAN_INFLATE_BYTES_MAX,
                                    scratch) != 0) {
                return SL_ECORRUPT;
            }
            static const uint8_t none[1];
            p = scratch->len ? scratch->data : none; /* never arithmetic on NULL */
            end = p + scratch->len;
        }
        int rc = slog__records_keyless(p, end, hdr.record_count);
        if (rc >= 0) {
            *record = rc;
            return index;
        }
        if (rc != -1) {
            return rc;
        }
    }
    return -1;
}

int slog_batch_recompress(const uint8_t *p, size_t len, int codec, sl_buf_t *scratch,
                          sl_buf_t *out)
{
    SL_ASSERT(len >= SLOG_BATCH_HEADER_BYTES && codec >= SLOG_CODEC_NONE &&
              codec <= SLOG_CODEC_ZSTD);
    slog_batch_hdr_t hdr;
    slog_batch_hdr_decode(p, &hdr);
    int from = hdr.attributes & SLOG_BATCH_COMPRESSION_MASK;
    if ((hdr.attributes & SLOG_BATCH_CONTROL) || from == codec) {
        sl_buf_append(out, p, len);
        return 0;
    }
    const uint8_t *recs = p + SLOG_BATCH_HEADER_BYTES;
    size_t rlen = len - SLOG_BATCH_HEADER_BYTES;
    if (from != SLOG_CODEC_NONE) {
        scratch->len = 0;
        int rc = slog_codec_decompress(from, recs, rlen, SLOG_CLEAN_INFLATE_BYTES_MAX, scratch);
        if (rc != 0) {
            return rc == SL_ELIMIT ? SL_ELIMIT : SL_ECORRUPT;
        }
        static const uint8_t none[1];
        recs = scratch->len ? scratch->data : none; /* never arithmetic on NULL */
        rlen = scratch->len;
    }
    size_t at = out->len;
    sl_buf_append(out, p, SLOG_BATCH_HEADER_BYTES);
    if (codec == SLOG_CODEC_NONE) {
        sl_buf_append(out, recs, rlen);
    } else {
        /* snappy in snappy-java's framing, which Java consumers read (librdkafka reads both) */
        int rc = slog_codec_compress(codec, recs, rlen, codec == SLOG_CODEC_SNAPPY, out);
        if (rc != 0) {
            out->len = at;
            return rc;
        }
    }
    size_t total = out->len - at;
    if (total > (size_t)SLOG_BATCH_BYTES_MAX) {
        out->len = at;
        return SL_ELIMIT;
    }
    uint8_t *b = out->data + at;
    sl_be32_put(b + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    sl_be16_put(b + 21, (uint16_t)((hdr.attributes & ~SLOG_BATCH_COMPRESSION_MASK) | codec));
    sl_be32_put(b + 17, sl_crc32c(0, b + 21, total - 21));
    return 0;
}
