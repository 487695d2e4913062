/* libFuzzer target for slog_pstate_decode, which reads producer-state snapshot files from disk
 * at every partition open. The first input byte is a mode, the rest a snapshot: mode bit 0
 * patches the trailing CRC32C to fit, so the fuzzer gets past the checksum into the producer
 * walk. A snapshot that decodes must encode back to the same bytes, and the state it gives
 * must take batch checks without tripping an assertion. */
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_crc32c.h"
#include "slog_pstate.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    size -= 1;
    uint8_t *p = malloc(size ? size : 1); /* exactly size bytes: ASan sees over-reads */
    if (!p) {
        return 0;
    }
    memcpy(p, data + 1, size);
    if ((mode & 1) && size >= 4) {
        sl_be32_put(p + size - 4, sl_crc32c(0, p, size - 4));
    }
    slog_pstate_t *ps = slog_pstate_new(SLOG_PRODUCERS_PER_PARTITION_MAX, 1000);
    int64_t offset = -1;
    int rc = slog_pstate_decode(ps, p, size, &offset);
    if (rc == 0) {
        sl_buf_t buf;
        sl_buf_init(&buf);
        slog_pstate_encode(ps, offset, &buf);
        if (buf.len != size || memcmp(buf.data, p, size) != 0) {
            abort();
        }
        sl_buf_deinit(&buf);
        for (int32_t i = 0; i < slog_pstate_count(ps) && i < 8; i++) {
            slog_producer_t prod;
            slog_pstate_at(ps, i, &prod);
            slog_batch_hdr_t hdr = {.producer_id = prod.producer_id, .producer_epoch = prod.epoch,
                                    .base_sequence = slog_pstate_seq_add(prod.last_seq, 1),
                                    .last_offset_delta = mode >> 4};
            slog_pbatch_t dup;
            slog_pstate_begin(ps);
            (void)slog_pstate_check(ps, &hdr, offset, &dup);
            slog_pstate_abort(ps);
        }
    } else if (rc != SL_ECORRUPT || slog_pstate_count(ps) != 0) {
        abort();
    }
    slog_pstate_free(ps);
    free(p);
    return 0;
}
