/* Transactions on a partition (slog_txn.h): the open transactions (producer id -> first
 * offset) and the aborted ones, kept sorted by marker offset, plus the control batch layout:
 *   record: varint length | i8 attrs | varint tsDelta | varint offsetDelta |
 *           varint keyLen=4 | key {i16 version=0, i16 type} |
 *           varint valueLen=6 | value {i16 version=0, i32 coordinator epoch} | varint 0 headers
 * Kafka's ControlRecordType and EndTransactionMarker. */
#include "slog.h"
#include "slog_txn.h"

#include "sl_buf.h"
#include "sl_common.h"
#include "sl_crc32c.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t pid;
    int64_t first;
} slog__open_t;

struct slog_txn {
    slog__open_t *open;
    int32_t nopen, open_cap;
    slog_aborted_t *aborted; /* by last_offset */
    int32_t naborted, aborted_cap;
};

slog_txn_t *slog_txn_new(void) { return sl_xcalloc(1, sizeof(slog_txn_t)); }

void slog_txn_free(slog_txn_t *txn)
{
    if (txn) {
        free(txn->open);
        free(txn->aborted);
        free(txn);
    }
}

static int32_t slog__open_find(const slog_txn_t *txn, int64_t pid)
{
    for (int32_t i = 0; i < txn->nopen; i++) {
        if (txn->open[i].pid == pid) {
            return i;
        }
    }
    return -1;
}

static void slog__txn_end(slog_txn_t *txn, const slog_batch_hdr_t *hdr, int type)
{
    int32_t i = slog__open_find(txn, hdr->producer_id);
    if (i < 0) {
        return; /* a marker for a transaction with no data here (or written twice) */
    }
    int64_t first = txn->open[i].first;
    txn->open[i] = txn->open[--txn->nopen];
    if (type != SLOG_CONTROL_ABORT) {
        return;
    }
    if (txn->naborted == txn->aborted_cap) {
        txn->aborted_cap = txn->aborted_cap ? txn->aborted_cap * 2 : 8;
        txn->aborted = sl_xrealloc(txn->aborted, (size_t)txn->aborted_cap * sizeof *txn->aborted);
    }
    txn->aborted[txn->naborted++] =
        (slog_aborted_t){.producer_id = hdr->producer_id, .first_offset = first,
                         .last_offset = hdr->base_offset};
}

void slog_txn_note(slog_txn_t *txn, const slog_batch_hdr_t *hdr, int control_type)
{
    if (hdr->producer_id < 0 || !(hdr->attributes & SLOG_BATCH_TRANSACTIONAL)) {
        return;
    }
    if (hdr->attributes & SLOG_BATCH_CONTROL) {
        slog__txn_end(txn, hdr, control_type);
        return;
    }
    if (slog__open_find(txn, hdr->producer_id) >= 0) {
        return;
    }
    if (txn->nopen == txn->open_cap) {
        txn->open_cap = txn->open_cap ? txn->open_cap * 2 : 8;
        txn->open = sl_xrealloc(txn->open, (size_t)txn->open_cap * sizeof *txn->open);
    }
    txn->open[txn->nopen++] = (slog__open_t){hdr->producer_id, hdr->base_offset};
}

int64_t slog_txn_lso(const slog_txn_t *txn, int64_t hw)
{
    int64_t lso = hw;
    for (int32_t i = 0; txn && i < txn->nopen; i++) {
        lso = SL_MIN(lso, txn->open[i].first);
    }
    return lso;
}

int64_t slog_txn_open_first(const slog_txn_t *txn, int64_t producer_id)
{
    int32_t i = txn ? slog__open_find(txn, producer_id) : -1;
    return i < 0 ? -1 : txn->open[i].first;
}

int32_t slog_txn_open_count(const slog_txn_t *txn) { return txn ? txn->nopen : 0; }

int32_t slog_txn_aborted(const slog_txn_t *txn, int64_t from, int64_t to, slog_aborted_t *out,
                         int32_t max)
{
    int32_t n = 0;
    for (int32_t i = 0; txn && i < txn->naborted; i++) {
        const slog_aborted_t *a = &txn->aborted[i];
        if (a->last_offset >= from && a->first_offset < to) {
            if (n < max) {
                out[n] = *a;
            }
            n++;
        }
    }
    return n;
}

void slog_txn_forget_before(slog_txn_t *txn, int64_t offset)
{
    int32_t keep = 0;
    for (int32_t i = 0; i < txn->naborted; i++) {
        if (txn->aborted[i].last_offset >= offset) {
            txn->aborted[keep++] = txn->aborted[i];
        }
    }
    txn->naborted = keep;
}

/* Reads a zigzag varint; false when truncated or too long. */
static bool slog__varint(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) {
            return false;
        }
        uint8_t b = *(*p)++;
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return true;
        }
    }
    return false;
}

int slog_txn_control_type(const uint8_t *records, size_t len)
{
    const uint8_t *p = records, *end = records + len;
    int64_t rec_len, ts, od, klen;
    if (!slog__varint(&p, end, &rec_len) || p >= end) {
        return -1;
    }
    p++; /* record attributes */
    if (!slog__varint(&p, end, &ts) || !slog__varint(&p, end, &od) ||
        !slog__varint(&p, end, &klen) || klen < 4 || end - p < 4) {
        return -1;
    }
    int16_t version = (int16_t)sl_be16_get(p);
    int16_t type = (int16_t)sl_be16_get(p + 2);
    if (version != 0 || (type != SLOG_CONTROL_ABORT && type != SLOG_CONTROL_COMMIT)) {
        return -1;
    }
    return type;
}

size_t slog_txn_marker_build(uint8_t *buf, int64_t producer_id, int16_t epoch, int type,
                             int32_t coordinator_epoch, int64_t now_ms)
{
    /* The record: fixed small fields, so every varint is one byte. */
    uint8_t rec[32];
    size_t n = 0;
    rec[n++] = 0;          /* record length, patched below */
    rec[n++] = 0;          /* attributes */
    rec[n++] = 0;          /* timestamp delta 0 */
    rec[n++] = 0;          /* offset delta 0 */
    rec[n++] = 4 << 1;     /* key length 4 */
    sl_be16_put(rec + n, 0);
    sl_be16_put(rec + n + 2, (uint16_t)type);
    n += 4;
    rec[n++] = 6 << 1;     /* value length 6 */
    sl_be16_put(rec + n, 0);
    sl_be32_put(rec + n + 2, (uint32_t)coordinator_epoch);
    n += 6;
    rec[n++] = 0;          /* no headers */
    rec[0] = (uint8_t)((n - 1) << 1);
    size_t total = SLOG_BATCH_HEADER_BYTES + n;
    SL_ASSERT(total <= SLOG_TXN_MARKER_BYTES);
    memset(buf, 0, SLOG_BATCH_HEADER_BYTES);
    sl_be32_put(buf + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    sl_be32_put(buf + 12, (uint32_t)SLOG_LEADER_EPOCH);
    buf[16] = 2;
    sl_be16_put(buf + 21, SLOG_BATCH_TRANSACTIONAL | SLOG_BATCH_CONTROL);
    sl_be32_put(buf + 23, 0);
    sl_be64_put(buf + 27, (uint64_t)now_ms);
    sl_be64_put(buf + 35, (uint64_t)now_ms);
    sl_be64_put(buf + 43, (uint64_t)producer_id);
    sl_be16_put(buf + 51, (uint16_t)epoch);
    sl_be32_put(buf + 53, (uint32_t)-1);
    sl_be32_put(buf + 57, 1);
    memcpy(buf + SLOG_BATCH_HEADER_BYTES, rec, n);
    sl_be32_put(buf + 17, sl_crc32c(0, buf + 21, total - 21));
    return total;
}
