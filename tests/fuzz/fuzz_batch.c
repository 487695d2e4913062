/* libFuzzer target for slog_batch_validate, the check every produced record batch passes
 * before it is stored. The first input byte is a mode, the rest a batch: mode bit 0 patches
 * batchLength to fit the input and bit 1 patches the CRC32C, so the fuzzer gets past framing
 * and checksum into the record walk. A batch that validates must be self-consistent. */
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_buf.h"
#include "slog_batch.h"

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
    if ((mode & 1) && size >= SLOG_BATCH_LOG_OVERHEAD) {
        sl_be32_put(p + 8, (uint32_t)(size - SLOG_BATCH_LOG_OVERHEAD));
    }
    if ((mode & 2) && size >= SLOG_BATCH_HEADER_BYTES) {
        sl_be32_put(p + 17, sl_crc32c(0, p + 21, size - 21));
    }
    slog_batch_hdr_t hdr;
    int rc = slog_batch_validate(p, size, &hdr);
    if (rc == 0) {
        if ((uint64_t)slog_batch_total(&hdr) != size || hdr.magic != 2 || hdr.record_count < 0 ||
            sl_crc32c(0, p + 21, size - 21) != hdr.crc) {
            abort();
        }
    } else if (rc != SL_ECORRUPT && rc != SL_EINVAL) {
        abort();
    }
    free(p);
    return 0;
}
