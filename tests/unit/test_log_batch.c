/* Record batch v2 validation (src/log/batch.c): whole batches, every truncation, every
 * damaged byte, framing limits and record framing. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_internal.h"

#include <errno.h>

TEST(test_batch_validate_accepts_a_whole_batch_and_decodes_its_header)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 7, 1000, 3);
    slog_batch_hdr_t hdr;
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), 0);
    ASSERT_EQ(hdr.base_offset, 12345);
    ASSERT_EQ(slog_batch_total(&hdr), b.len);
    ASSERT_EQ(hdr.leader_epoch, 7);
    ASSERT_EQ(hdr.magic, 2);
    ASSERT_EQ(hdr.record_count, 7);
    ASSERT_EQ(hdr.last_offset_delta, 6);
    ASSERT_EQ(hdr.base_timestamp, 1000);
    ASSERT_EQ(hdr.max_timestamp, 1006);
    ASSERT_EQ(hdr.producer_id, -1);
    ASSERT_EQ(hdr.producer_epoch, -1);
    ASSERT_EQ(hdr.base_sequence, -1);
    sl_buf_deinit(&b);
}

TEST(test_batch_validate_rejects_every_truncation)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 4, 1, 0);
    slog_batch_hdr_t hdr;
    for (size_t n = 0; n < b.len; n++) {
        ASSERT_EQ(slog_batch_validate(b.data, n, &hdr), SL_ECORRUPT);
    }
    /* a longer buffer than the batch says is a framing error too */
    uint8_t *more = sl_buf_reserve(&b, 1);
    more[0] = 0;
    ASSERT_EQ(slog_batch_validate(b.data, b.len + 1, &hdr), SL_ECORRUPT);
    sl_buf_deinit(&b);
}

TEST(test_batch_validate_catches_every_damaged_byte)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 3, 1000, 0);
    slog_batch_hdr_t hdr;
    for (size_t i = 0; i < b.len; i++) {
        if (i < 8 || (i >= 12 && i < 16)) {
            continue; /* base offset and leader epoch are outside the CRC: rewritten anyway */
        }
        for (int bit = 0; bit < 8; bit++) {
            b.data[i] ^= (uint8_t)(1 << bit);
            ASSERT_NE(slog_batch_validate(b.data, b.len, &hdr), 0);
            b.data[i] ^= (uint8_t)(1 << bit);
        }
    }
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), 0);
    sl_buf_deinit(&b);
}

TEST(test_batch_validate_reports_a_wrong_magic_as_unsupported)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 1, 1, 0);
    slog_batch_hdr_t hdr;
    for (int magic = 0; magic < 2; magic++) {
        b.data[16] = (uint8_t)magic;
        ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), SL_EINVAL);
    }
    sl_buf_deinit(&b);
}

/* Rewrites a header field of a compressed batch and fixes the CRC. */
static int validate_with_counts(int32_t count, int32_t last_delta, int16_t attributes)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch_compressed(&b, 1, 1, 10);
    sl_be16_put(b.data + 21, (uint16_t)attributes);
    sl_be32_put(b.data + 23, (uint32_t)last_delta);
    sl_be32_put(b.data + 57, (uint32_t)count);
    tl_fix_crc(b.data, b.len);
    slog_batch_hdr_t hdr;
    int rc = slog_batch_validate(b.data, b.len, &hdr);
    sl_buf_deinit(&b);
    return rc;
}

TEST(test_batch_validate_checks_record_count_and_last_offset_delta)
{
    ASSERT_EQ(validate_with_counts(1, 0, 1), 0);
    ASSERT_EQ(validate_with_counts(0, -1, 1), SL_ECORRUPT); /* recordCount >= 1 */
    ASSERT_EQ(validate_with_counts(0, 0, 1), SL_ECORRUPT);
    ASSERT_EQ(validate_with_counts(-1, -2, 1), SL_ECORRUPT);
    ASSERT_EQ(validate_with_counts(3, 1, 1), SL_ECORRUPT); /* lastOffsetDelta == count - 1 */
    ASSERT_EQ(validate_with_counts(3, 3, 1), SL_ECORRUPT);
    ASSERT_EQ(validate_with_counts(SLOG_BATCH_RECORDS_MAX, SLOG_BATCH_RECORDS_MAX - 1, 1), 0);
    ASSERT_EQ(validate_with_counts(SLOG_BATCH_RECORDS_MAX + 1, SLOG_BATCH_RECORDS_MAX, 1),
              SL_ECORRUPT);
    for (int16_t codec = 1; codec <= 4; codec++) {
        ASSERT_EQ(validate_with_counts(1, 0, codec), 0);
    }
    ASSERT_EQ(validate_with_counts(1, 0, 5), SL_ECORRUPT); /* no such compression */
    ASSERT_EQ(validate_with_counts(1, 0, 1 | SLOG_BATCH_TIMESTAMP_TYPE | SLOG_BATCH_CONTROL |
                                             SLOG_BATCH_TRANSACTIONAL), 0);
}

TEST(test_batch_validate_checks_batch_length_framing)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 2, 1, 0);
    slog_batch_hdr_t hdr;
    int32_t lens[] = {-1, 0, SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD - 1, INT32_MAX};
    for (size_t i = 0; i < SL_ARRAY_LEN(lens); i++) {
        sl_be32_put(b.data + 8, (uint32_t)lens[i]);
        ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), SL_ECORRUPT);
    }
    sl_buf_deinit(&b);
}

/* Builds an uncompressed batch of one record from raw record bytes (after its length). */
static int validate_record(const uint8_t *rec, size_t len, int64_t length_field)
{
    sl_buf_t recs;
    sl_buf_init(&recs);
    tl_varint(&recs, length_field);
    sl_buf_append(&recs, rec, len);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch_compressed(&b, 1, 1, recs.len);
    sl_be16_put(b.data + 21, 0);
    memcpy(b.data + SLOG_BATCH_HEADER_BYTES, recs.data, recs.len);
    tl_fix_crc(b.data, b.len);
    slog_batch_hdr_t hdr;
    int rc = slog_batch_validate(b.data, b.len, &hdr);
    sl_buf_deinit(&b);
    sl_buf_deinit(&recs);
    return rc;
}

TEST(test_batch_validate_walks_record_framing)
{
    /* attributes, tsDelta 0, offsetDelta 0, key null, value "ab", 0 headers */
    uint8_t ok[] = {0, 0, 0, 1, 4, 'a', 'b', 0};
    ASSERT_EQ(validate_record(ok, sizeof ok, sizeof ok), 0);
    ASSERT_EQ(validate_record(ok, sizeof ok, sizeof ok - 1), SL_ECORRUPT); /* length short */
    ASSERT_EQ(validate_record(ok, sizeof ok, sizeof ok + 1), SL_ECORRUPT); /* length long */
    ASSERT_EQ(validate_record(ok, sizeof ok, -1), SL_ECORRUPT);
    uint8_t off1[] = {0, 0, 2, 1, 4, 'a', 'b', 0}; /* offsetDelta 1 for record 0 */
    ASSERT_EQ(validate_record(off1, sizeof off1, sizeof off1), SL_ECORRUPT);
    uint8_t keylong[] = {0, 0, 0, 20, 4, 'a', 'b', 0}; /* key length past the record */
    ASSERT_EQ(validate_record(keylong, sizeof keylong, sizeof keylong), SL_ECORRUPT);
    uint8_t keyneg[] = {0, 0, 0, 3, 4, 'a', 'b', 0}; /* key length -2 */
    ASSERT_EQ(validate_record(keyneg, sizeof keyneg, sizeof keyneg), SL_ECORRUPT);
    uint8_t hdr1[] = {0, 0, 0, 1, 1, 2, 2, 'h', 1}; /* one header: key "h", value null */
    ASSERT_EQ(validate_record(hdr1, sizeof hdr1, sizeof hdr1), 0);
    uint8_t hdrnull[] = {0, 0, 0, 1, 1, 2, 1, 1}; /* header key null: not allowed */
    ASSERT_EQ(validate_record(hdrnull, sizeof hdrnull, sizeof hdrnull), SL_ECORRUPT);
    uint8_t hdrneg[] = {0, 0, 0, 1, 1, 1}; /* header count -1 */
    ASSERT_EQ(validate_record(hdrneg, sizeof hdrneg, sizeof hdrneg), SL_ECORRUPT);
    uint8_t trail[] = {0, 0, 0, 1, 1, 0, 9}; /* a byte after the headers */
    ASSERT_EQ(validate_record(trail, sizeof trail, sizeof trail), SL_ECORRUPT);
    /* varints: 5 bytes is the most for an int32; a 6th continuation byte is malformed */
    uint8_t wide[] = {0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0};
    ASSERT_EQ(validate_record(wide, sizeof wide, sizeof wide), SL_ECORRUPT);
    uint8_t five[] = {0, 0, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0}; /* 5-byte zero: fine */
    ASSERT_EQ(validate_record(five, sizeof five, sizeof five), 0);
    uint8_t big5[] = {0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1, 0}; /* bits past 32 */
    ASSERT_EQ(validate_record(big5, sizeof big5, sizeof big5), SL_ECORRUPT);
}

TEST(test_batch_validate_requires_records_to_fill_the_batch)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 3, 1, 0);
    /* claim 2 records: the third is left over */
    sl_be32_put(b.data + 23, 1);
    sl_be32_put(b.data + 57, 2);
    tl_fix_crc(b.data, b.len);
    slog_batch_hdr_t hdr;
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), SL_ECORRUPT);
    /* claim 4: runs out */
    sl_be32_put(b.data + 23, 3);
    sl_be32_put(b.data + 57, 4);
    tl_fix_crc(b.data, b.len);
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), SL_ECORRUPT);
    sl_buf_deinit(&b);
}

TEST(test_batch_record_at_finds_the_first_record_at_or_after_a_time)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 5, 100, 0); /* timestamps 100..104 */
    int64_t found = 0;
    ASSERT_EQ(slog__batch_record_at(b.data, b.len, 50, &found), 0);
    ASSERT_EQ(found, 100);
    ASSERT_EQ(slog__batch_record_at(b.data, b.len, 103, &found), 3);
    ASSERT_EQ(found, 103);
    ASSERT_EQ(slog__batch_record_at(b.data, b.len, 105, &found), -1);
    for (size_t n = 0; n < b.len; n++) { /* truncated: never past the end (ASan) */
        slog__batch_record_at(b.data, n, 104, &found);
    }
    sl_buf_deinit(&b);
}

int main(void)
{
    RUN(test_batch_validate_accepts_a_whole_batch_and_decodes_its_header);
    RUN(test_batch_validate_rejects_every_truncation);
    RUN(test_batch_validate_catches_every_damaged_byte);
    RUN(test_batch_validate_reports_a_wrong_magic_as_unsupported);
    RUN(test_batch_validate_checks_record_count_and_last_offset_delta);
    RUN(test_batch_validate_checks_batch_length_framing);
    RUN(test_batch_validate_walks_record_framing);
    RUN(test_batch_validate_requires_records_to_fill_the_batch);
    RUN(test_batch_record_at_finds_the_first_record_at_or_after_a_time);
    TEST_MAIN_END();
}
