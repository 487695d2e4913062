/* libFuzzer target for slog_batch_keyless, which walks the records of every batch produced to
 * a compacted topic (decompressing gzip/snappy/lz4/zstd payloads with slog_codec, bounded) to
 * refuse records without a key. The first input byte is a mode: with bit 3 set, the rest is a
 * record region that is compressed with codec (mode & 7) and wrapped in a batch header (the
 * compressors round-trip into the walk); otherwise the rest is taken as produced batches.
 * Whatever the bytes, the answer is -1, a batch index inside the input, or SL_ECORRUPT. */
#include "sl_buf.h"
#include "slog_codec.h"
#include "sl_common.h"
#include "slog_batch.h"
#include "slog_limits.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A batch header around payload: codec in the attributes, count from the first byte. */
static void fz_wrap(sl_buf_t *out, const uint8_t *payload, size_t len, int codec, int32_t count)
{
    uint8_t *p = sl_buf_reserve(out, SLOG_BATCH_HEADER_BYTES + len);
    memset(p, 0, SLOG_BATCH_HEADER_BYTES);
    sl_be32_put(p + 8, (uint32_t)(SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD + len));
    p[16] = 2;
    sl_be16_put(p + 21, (uint16_t)codec);
    sl_be32_put(p + 57, (uint32_t)count);
    memcpy(p + SLOG_BATCH_HEADER_BYTES, payload, len);
    out->len += SLOG_BATCH_HEADER_BYTES + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint8_t mode = data[0];
    sl_buf_t in, z, scratch;
    sl_buf_init(&in);
    sl_buf_init(&z);
    sl_buf_init(&scratch);
    if (mode & 8) {
        int codec = mode & 7;
        int32_t count = data[1] % 16;
        const uint8_t *recs = data + 2;
        size_t len = size - 2;
        if (codec >= 1 && codec <= 4) {
            if (slog_codec_compress(codec, recs, len, (mode & 16) != 0, &z) != 0) {
                abort();
            }
            recs = z.data ? z.data : recs;
            len = z.len;
        } else {
            codec = 0;
        }
        fz_wrap(&in, recs, len, codec, count);
    } else {
        sl_buf_append(&in, data + 1, size - 1);
    }
    uint8_t *copy = malloc(in.len ? in.len : 1); /* exactly len bytes: ASan sees over-reads */
    if (!copy) {
        abort();
    }
    memcpy(copy, in.data, in.len);
    int32_t record = -1;
    int rc = slog_batch_keyless(copy, in.len, &scratch, &record);
    if (rc != -1 && rc != SL_ECORRUPT &&
        (rc < 0 || (size_t)rc * SLOG_BATCH_HEADER_BYTES > in.len || record < 0 ||
         record > SLOG_BATCH_RECORDS_MAX)) {
        abort();
    }
    free(copy);
    sl_buf_deinit(&in);
    sl_buf_deinit(&z);
    sl_buf_deinit(&scratch);
    return 0;
}
