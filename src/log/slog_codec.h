/* Compression codecs of Kafka record batches (attributes bits 0-2), on Debian's libraries:
 *   1 gzip    RFC 1952 stream (zlib)
 *   2 snappy  raw snappy, or snappy-java's xerial framing ("\x82SNAPPY\0", i32 version,
 *             i32 compatible version, then {i32 BE length, snappy block}*), which Java
 *             producers write; librdkafka writes and reads both
 *   3 lz4     LZ4 frame format (Kafka magic v2)
 *   4 zstd    zstd frame(s)
 * Thread: any; no shared state. */
#ifndef SLOG_CODEC_H
#define SLOG_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

enum { SLOG_CODEC_NONE = 0, SLOG_CODEC_GZIP = 1, SLOG_CODEC_SNAPPY = 2, SLOG_CODEC_LZ4 = 3,
       SLOG_CODEC_ZSTD = 4 };

/* Appends the decompressed bytes of in to out, at most max_out of them. Returns 0,
 * SL_ECORRUPT (malformed input), SL_ELIMIT (more than max_out) or SL_EINVAL (codec). */
int slog_codec_decompress(int codec, const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out);
/* Appends in compressed with codec to out. For snappy, xerial chooses the framing (use
 * slog_codec_snappy_is_xerial on the input to keep what the producer chose). Returns 0 or
 * SL_EINVAL (codec) / SL_ENOMEM. */
int slog_codec_compress(int codec, const uint8_t *in, size_t len, bool xerial, sl_buf_t *out);
/* Whether a snappy payload uses snappy-java's xerial framing. */
bool slog_codec_snappy_is_xerial(const uint8_t *in, size_t len);

#endif
