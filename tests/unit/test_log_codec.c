/* Record-batch codecs (src/log/codec.c): round trips for gzip, snappy (raw and xerial
 * framing), lz4 and zstd; truncated and garbage input are errors; the output bound holds. */
#include "sl_test.h"
#include "slog_codec.h"
#include "sl_common.h"

static void tb_fill(sl_buf_t *b, size_t n)
{
    uint8_t *p = sl_buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)((i * 7) % 13 + (i / 1000));
    }
    b->len = n;
}

TEST(test_codec_round_trips_every_codec)
{
    sl_buf_t in, z, out;
    sl_buf_init(&in);
    tb_fill(&in, 200000);
    for (int codec = 1; codec <= 4; codec++) {
        for (int xerial = 0; xerial <= (codec == SLOG_CODEC_SNAPPY); xerial++) {
            sl_buf_init(&z);
            sl_buf_init(&out);
            ASSERT_EQ(slog_codec_compress(codec, in.data, in.len, xerial, &z), 0);
            ASSERT_TRUE(z.len < in.len);
            if (codec == SLOG_CODEC_SNAPPY) {
                ASSERT_EQ(slog_codec_snappy_is_xerial(z.data, z.len), xerial);
            }
            ASSERT_EQ(slog_codec_decompress(codec, z.data, z.len, in.len, &out), 0);
            ASSERT_EQ(out.len, in.len);
            ASSERT_MEMEQ(out.data, in.data, in.len);
            /* one byte over the bound is refused */
            out.len = 0;
            ASSERT_EQ(slog_codec_decompress(codec, z.data, z.len, in.len - 1, &out), SL_ELIMIT);
            /* truncated */
            out.len = 0;
            ASSERT_TRUE(slog_codec_decompress(codec, z.data, z.len / 2, in.len, &out) != 0);
            sl_buf_deinit(&z);
            sl_buf_deinit(&out);
        }
    }
    sl_buf_deinit(&in);
}

TEST(test_codec_refuses_garbage_and_unknown_codecs)
{
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t)(i * 37 + 11);
    }
    sl_buf_t out;
    sl_buf_init(&out);
    for (int codec = 1; codec <= 4; codec++) {
        out.len = 0;
        ASSERT_TRUE(slog_codec_decompress(codec, junk, sizeof junk, 1 << 20, &out) != 0);
    }
    ASSERT_EQ(slog_codec_decompress(5, junk, sizeof junk, 1 << 20, &out), SL_EINVAL);
    ASSERT_EQ(slog_codec_compress(0, junk, sizeof junk, false, &out), SL_EINVAL);
    sl_buf_deinit(&out);
}

TEST(test_codec_compresses_an_empty_input)
{
    sl_buf_t z, out;
    for (int codec = 1; codec <= 4; codec++) {
        sl_buf_init(&z);
        sl_buf_init(&out);
        ASSERT_EQ(slog_codec_compress(codec, (const uint8_t *)"", 0, false, &z), 0);
        ASSERT_EQ(slog_codec_decompress(codec, z.data, z.len, 16, &out), 0);
        ASSERT_EQ(out.len, 0);
        sl_buf_deinit(&z);
        sl_buf_deinit(&out);
    }
}

int main(void)
{
    RUN(test_codec_round_trips_every_codec);
    RUN(test_codec_refuses_garbage_and_unknown_codecs);
    RUN(test_codec_compresses_an_empty_input);
    TEST_MAIN_END();
}
