/* Record-batch compression codecs (slog_codec.h): gzip through zlib, snappy (raw and xerial
 * framing) through snappy-c, LZ4 frames through lz4frame, zstd frames through zstd's
 * streaming API (a frame need not state its content size). Decompression is bounded by the
 * caller's max_out: a small compressed payload never becomes an unbounded allocation. */
#include "slog_codec.h"
#include "sl_common.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define SLOG_CODEC_CHUNK_BYTES ((size_t)64 << 10)
static const uint8_t sl__xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define SL_XERIAL_HEADER_BYTES 16

bool slog_codec_snappy_is_xerial(const uint8_t *in, size_t len)
{
    return len >= SL_XERIAL_HEADER_BYTES && memcmp(in, sl__xerial_magic, 8) == 0;
}

/* Room for n more bytes within max_out of what out held at start0. */
static uint8_t *sl__room(sl_buf_t *out, size_t start0, size_t n, size_t max_out)
{
    if (out->len - start0 + n > max_out) {
        return NULL;
    }
    return sl_buf_reserve(out, n);
}

static int sl__gunzip(const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) { /* gzip or zlib header */
        return SL_ENOMEM;
    }
    size_t start0 = out->len;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int rc = 0, zrc = Z_OK;
    while (zrc != Z_STREAM_END) {
        size_t want = SL_MIN(SLOG_CODEC_CHUNK_BYTES, max_out - (out->len - start0));
        uint8_t *p = want ? sl__room(out, start0, want, max_out) : NULL;
        if (!p) {
            rc = SL_ELIMIT;
            break;
        }
        zs.next_out = p;
        zs.avail_out = (uInt)want;
        zrc = inflate(&zs, Z_NO_FLUSH);
        out->len += want - zs.avail_out;
        if (zrc != Z_OK && zrc != Z_STREAM_END) {
            rc = SL_ECORRUPT;
            break;
        }
        if (zrc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            rc = SL_ECORRUPT; /* truncated stream */
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

static int sl__gzip(const uint8_t *in, size_t len, sl_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return SL_ENOMEM;
    }
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *p = sl_buf_reserve(out, bound);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = p;
    zs.avail_out = (uInt)bound;
    int zrc = deflate(&zs, Z_FINISH);
    out->len += bound - zs.avail_out;
    deflateEnd(&zs);
    return zrc == Z_STREAM_END ? 0 : SL_ENOMEM;
}

static int sl__unsnappy_block(const uint8_t *in, size_t len, size_t start0, size_t max_out,
                              sl_buf_t *out)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK) {
        return SL_ECORRUPT;
    }
    if (n == 0) {
        return 0;
    }
    uint8_t *p = sl__room(out, start0, n, max_out);
    if (!p) {
        return SL_ELIMIT;
    }
    if (snappy_uncompress((const char *)in, len, (char *)p, &n) != SNAPPY_OK) {
        return SL_ECORRUPT;
    }
    out->len += n;
    return 0;
}

static int sl__unsnappy(const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out)
{
    size_t start0 = out->len;
    if (!slog_codec_snappy_is_xerial(in, len)) {
        return sl__unsnappy_block(in, len, start0, max_out, out);
    }
    size_t pos = SL_XERIAL_HEADER_BYTES;
    while (pos < len) {
        if (len - pos < 4) {
            return SL_ECORRUPT;
        }
        size_t n = sl_be32_get(in + pos);
        pos += 4;
        if (n > len - pos) {
            return SL_ECORRUPT;
        }
        int rc = sl__unsnappy_block(in + pos, n, start0, max_out, out);
        if (rc != 0) {
            return rc;
        }
        pos += n;
    }
    return 0;
}

static int sl__snappy(const uint8_t *in, size_t len, bool xerial, sl_buf_t *out)
{
    size_t block = xerial ? (size_t)32 << 10 : len; /* snappy-java's default block size */
    if (xerial) {
        uint8_t *h = sl_buf_reserve(out, SL_XERIAL_HEADER_BYTES);
        memcpy(h, sl__xerial_magic, 8);
        sl_be32_put(h + 8, 1);
        sl_be32_put(h + 12, 1);
        out->len += SL_XERIAL_HEADER_BYTES;
    }
    size_t pos = 0;
    do {
        size_t n = SL_MIN(block, len - pos);
        size_t clen = snappy_max_compressed_length(n);
        uint8_t *p = sl_buf_reserve(out, clen + 4);
        uint8_t *dst = xerial ? p + 4 : p;
        if (snappy_compress((const char *)in + pos, n, (char *)dst, &clen) != SNAPPY_OK) {
            return SL_ENOMEM;
        }
        if (xerial) {
            sl_be32_put(p, (uint32_t)clen);
        }
        out->len += clen + (xerial ? 4 : 0);
        pos += n;
    } while (pos < len);
    return 0;
}

static int sl__unlz4(const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        return SL_ENOMEM;
    }
    size_t start0 = out->len, pos = 0, hint = 1;
    int rc = 0;
    while (hint != 0) {
        uint8_t *p = sl__room(out, start0, SLOG_CODEC_CHUNK_BYTES,
                              max_out + SLOG_CODEC_CHUNK_BYTES);
        size_t dst_len = SLOG_CODEC_CHUNK_BYTES, src_len = len - pos;
        hint = LZ4F_decompress(dctx, p, &dst_len, in + pos, &src_len, NULL);
        if (LZ4F_isError(hint)) {
            rc = SL_ECORRUPT;
            break;
        }
        out->len += dst_len;
        pos += src_len;
        if (out->len - start0 > max_out) {
            rc = SL_ELIMIT;
            break;
        }
        if (hint != 0 && pos == len && dst_len == 0) {
            rc = SL_ECORRUPT; /* truncated frame */
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int sl__lz4(const uint8_t *in, size_t len, sl_buf_t *out)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB; /* Kafka's default block size */
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    uint8_t *p = sl_buf_reserve(out, bound);
    size_t n = LZ4F_compressFrame(p, bound, in, len, &prefs);
    if (LZ4F_isError(n)) {
        return SL_ENOMEM;
    }
    out->len += n;
    return 0;
}

static int sl__unzstd(const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds) {
        return SL_ENOMEM;
    }
    size_t start0 = out->len;
    ZSTD_inBuffer ib = {in, len, 0};
    int rc = 0;
    size_t zr = 1;
    while (ib.pos < ib.size || zr != 0) {
        uint8_t *p = sl__room(out, start0, SLOG_CODEC_CHUNK_BYTES,
                              max_out + SLOG_CODEC_CHUNK_BYTES);
        ZSTD_outBuffer ob = {p, SLOG_CODEC_CHUNK_BYTES, 0};
        size_t before = ib.pos;
        zr = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(zr)) {
            rc = SL_ECORRUPT;
            break;
        }
        out->len += ob.pos;
        if (out->len - start0 > max_out) {
            rc = SL_ELIMIT;
            break;
        }
        if (zr != 0 && ib.pos == before && ob.pos == 0) {
            rc = SL_ECORRUPT; /* truncated frame */
            break;
        }
    }
    ZSTD_freeDStream(ds);
    return rc;
}

static int sl__zstd(const uint8_t *in, size_t len, sl_buf_t *out)
{
    size_t bound = ZSTD_compressBound(len);
    uint8_t *p = sl_buf_reserve(out, bound);
    size_t n = ZSTD_compress(p, bound, in, len, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) {
        return SL_ENOMEM;
    }
    out->len += n;
    return 0;
}

int slog_codec_decompress(int codec, const uint8_t *in, size_t len, size_t max_out, sl_buf_t *out)
{
    switch (codec) {
    case SLOG_CODEC_GZIP:
        return sl__gunzip(in, len, max_out, out);
    case SLOG_CODEC_SNAPPY:
        return sl__unsnappy(in, len, max_out, out);
    case SLOG_CODEC_LZ4:
        return sl__unlz4(in, len, max_out, out);
    case SLOG_CODEC_ZSTD:
        return sl__unzstd(in, len, max_out, out);
    default:
        return SL_EINVAL;
    }
}

int slog_codec_compress(int codec, const uint8_t *in, size_t len, bool xerial, sl_buf_t *out)
{
    switch (codec) {
    case SLOG_CODEC_GZIP:
        return sl__gzip(in, len, out);
    case SLOG_CODEC_SNAPPY:
        return sl__snappy(in, len, xerial, out);
    case SLOG_CODEC_LZ4:
        return sl__lz4(in, len, out);
    case SLOG_CODEC_ZSTD:
        return sl__zstd(in, len, out);
    default:
        return SL_EINVAL;
    }
}
