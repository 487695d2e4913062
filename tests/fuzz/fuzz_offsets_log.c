/* libFuzzer target for the replay of the committed-offsets log (<data>/internal/offsets) at
 * broker start. The first input byte is a mode, the rest the segment file: mode bit 0 sets
 * the CRC32C of every batch the bytes frame, so the fuzzer gets past recovery's checksum into
 * the record walk of the replay. */
#include "fuzz_state.h"
#include "sl_crc32c.h"
#include "slog_batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    size -= 1;
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data + 1, size);
    for (size_t pos = 0; (mode & 1) && size - pos >= SLOG_BATCH_HEADER_BYTES;) {
        int32_t len = (int32_t)sl_be32_get(p + pos + 8);
        if (len < SLOG_BATCH_HEADER_BYTES - 12 || (size_t)len + 12 > size - pos) {
            break;
        }
        sl_be32_put(p + pos + 17, sl_crc32c(0, p + pos + 21, (size_t)len + 12 - 21));
        pos += (size_t)len + 12;
    }
    fuzz_dir_reset();
    fuzz_put("internal/offsets/00000000000000000000.log", p, size);
    free(p);
    fuzz_start("offsets");
    return 0;
}
