/* Transactions on a partition (slog_txn.h): the marker batch layout and its control type
 * (whole, truncated byte by byte), the last stable offset and the aborted-transaction ranges,
 * and through a partition log: client markers refused, open and aborted transactions rebuilt
 * when the partition opens again after a clean close and after a crash. */
#include "sl_test.h"
#include "slog_internal.h"
#include "slog_txn.h"
#include "test_log.h"

static slog_batch_hdr_t data_hdr(int64_t pid, int64_t offset, int32_t count)
{
    slog_batch_hdr_t h;
    memset(&h, 0, sizeof h);
    h.producer_id = pid;
    h.base_offset = offset;
    h.last_offset_delta = count - 1;
    h.attributes = SLOG_BATCH_TRANSACTIONAL;
    return h;
}

static slog_batch_hdr_t marker_hdr(int64_t pid, int64_t offset)
{
    slog_batch_hdr_t h = data_hdr(pid, offset, 1);
    h.attributes |= SLOG_BATCH_CONTROL;
    return h;
}

TEST(test_txn_marker_is_a_valid_control_batch_with_its_type)
{
    for (int type = 0; type <= 1; type++) {
        uint8_t buf[SLOG_TXN_MARKER_BYTES];
        size_t len = slog_txn_marker_build(buf, 42, 3, type, 9, 1000);
        slog_batch_hdr_t h;
        ASSERT_EQ(slog_batch_validate(buf, len, &h), 0);
        ASSERT_EQ(h.attributes, SLOG_BATCH_TRANSACTIONAL | SLOG_BATCH_CONTROL);
        ASSERT_EQ(h.producer_id, 42);
        ASSERT_EQ(h.producer_epoch, 3);
        ASSERT_EQ(h.base_sequence, -1);
        ASSERT_EQ(h.record_count, 1);
        const uint8_t *rec = buf + SLOG_BATCH_HEADER_BYTES;
        size_t rlen = len - SLOG_BATCH_HEADER_BYTES;
        ASSERT_EQ(slog_txn_control_type(rec, rlen), type);
        /* value: version 0, coordinator epoch 9, at the record's end before the header count */
        ASSERT_EQ(sl_be32_get(rec + rlen - 5), 9);
        for (size_t cut = 0; cut < rlen; cut++) {
            int t = slog_txn_control_type(rec, cut);
            ASSERT_TRUE(t == -1 || t == type);
        }
        ASSERT_EQ(slog_txn_control_type(rec, 8), -1); /* key cut short */
    }
}

TEST(test_txn_control_type_refuses_unknown_versions_and_types)
{
    uint8_t buf[SLOG_TXN_MARKER_BYTES];
    size_t len = slog_txn_marker_build(buf, 1, 0, SLOG_CONTROL_COMMIT, 0, 0);
    uint8_t *rec = buf + SLOG_BATCH_HEADER_BYTES;
    size_t rlen = len - SLOG_BATCH_HEADER_BYTES;
    rec[6] = 5; /* key type 5 */
    ASSERT_EQ(slog_txn_control_type(rec, rlen), -1);
    rec[6] = 1;
    rec[4] = 1; /* key version 256 */
    ASSERT_EQ(slog_txn_control_type(rec, rlen), -1);
}

TEST(test_txn_lso_is_the_smallest_first_offset_of_open_transactions)
{
    slog_txn_t *txn = slog_txn_new();
    ASSERT_EQ(slog_txn_lso(txn, 100), 100);
    slog_batch_hdr_t a = data_hdr(1, 10, 3), b = data_hdr(2, 5, 1), a2 = data_hdr(1, 20, 1);
    slog_txn_note(txn, &a, -1);
    slog_txn_note(txn, &b, -1);
    slog_txn_note(txn, &a2, -1); /* continues pid 1's transaction: first stays 10 */
    ASSERT_EQ(slog_txn_lso(txn, 100), 5);
    ASSERT_EQ(slog_txn_lso(txn, 3), 3); /* never above the high watermark */
    ASSERT_EQ(slog_txn_open_first(txn, 1), 10);
    slog_batch_hdr_t mb = marker_hdr(2, 30);
    slog_txn_note(txn, &mb, SLOG_CONTROL_COMMIT);
    ASSERT_EQ(slog_txn_lso(txn, 100), 10);
    ASSERT_EQ(slog_txn_aborted(txn, 0, 100, NULL, 0), 0); /* a commit lists nothing */
    slog_batch_hdr_t ma = marker_hdr(1, 31);
    slog_txn_note(txn, &ma, SLOG_CONTROL_ABORT);
    ASSERT_EQ(slog_txn_lso(txn, 100), 100);
    ASSERT_EQ(slog_txn_open_count(txn), 0);
    /* A non-transactional batch of a producer opens nothing. */
    slog_batch_hdr_t plain = data_hdr(3, 40, 1);
    plain.attributes = 0;
    slog_txn_note(txn, &plain, -1);
    ASSERT_EQ(slog_txn_lso(txn, 100), 100);
    slog_txn_free(txn);
}

TEST(test_txn_aborted_ranges_overlapping_a_fetch)
{
    slog_txn_t *txn = slog_txn_new();
    slog_batch_hdr_t d1 = data_hdr(1, 10, 5), m1 = marker_hdr(1, 20);
    slog_batch_hdr_t d2 = data_hdr(2, 30, 5), m2 = marker_hdr(2, 40);
    slog_txn_note(txn, &d1, -1);
    slog_txn_note(txn, &m1, SLOG_CONTROL_ABORT);
    slog_txn_note(txn, &d2, -1);
    slog_txn_note(txn, &m2, SLOG_CONTROL_ABORT);
    slog_aborted_t out[4];
    ASSERT_EQ(slog_txn_aborted(txn, 0, 10, out, 4), 0);  /* ends before the first */
    ASSERT_EQ(slog_txn_aborted(txn, 0, 11, out, 4), 1);  /* reaches its first offset */
    ASSERT_EQ(out[0].producer_id, 1);
    ASSERT_EQ(out[0].first_offset, 10);
    ASSERT_EQ(out[0].last_offset, 20);
    ASSERT_EQ(slog_txn_aborted(txn, 20, 31, out, 4), 2); /* from its marker on: both */
    ASSERT_EQ(slog_txn_aborted(txn, 21, 30, out, 4), 0); /* between them */
    ASSERT_EQ(slog_txn_aborted(txn, 21, 100, out, 4), 1);
    ASSERT_EQ(out[0].producer_id, 2);
    ASSERT_EQ(slog_txn_aborted(txn, 0, 100, out, 1), 2); /* the total, one copied */
    slog_txn_forget_before(txn, 21);
    ASSERT_EQ(slog_txn_aborted(txn, 0, 100, out, 4), 1);
    slog_txn_free(txn);
}

/* Appends a transactional batch of n records for pid/epoch/seq; returns its base offset. */
static int64_t append_txn(slog_part_t *part, int64_t pid, int16_t epoch, int32_t seq, int n)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, n, 1000, 0);
    sl_be16_put(b.data + 21, SLOG_BATCH_TRANSACTIONAL);
    sl_be64_put(b.data + 43, (uint64_t)pid);
    sl_be16_put(b.data + 51, (uint16_t)epoch);
    sl_be32_put(b.data + 53, (uint32_t)seq);
    tl_fix_crc(b.data, b.len);
    slog_append_t info;
    int rc = slog_part_append(part, b.data, b.len, 1000, &info);
    sl_buf_deinit(&b);
    return rc == 0 ? info.base_offset : rc;
}

TEST(test_txn_partition_refuses_control_batches_from_clients)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    uint8_t buf[SLOG_TXN_MARKER_BYTES];
    size_t len = slog_txn_marker_build(buf, 5, 0, SLOG_CONTROL_COMMIT, 0, 1000);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, buf, len, 1000, &info), SL_EINVAL);
    ASSERT_EQ(slog_part_end_offset(part), 0);
    ASSERT_EQ(slog_part_append_marker(part, 5, 0, true, 0, 1000, &info), 0);
    ASSERT_EQ(slog_part_end_offset(part), 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/.txn", dir);
    ASSERT_TRUE(tl_exists(path));
    slog_part_close(part);
    tl_rmdir(dir);
}

static void reopen_keeps_transactions(bool crash)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(tl_append(part, 2, 1000), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/.txn", dir);
    ASSERT_TRUE(!tl_exists(path)); /* no transactional batch yet: nothing to scan at open */
    ASSERT_EQ(append_txn(part, 7, 0, 0, 3), 2);    /* 2..4 */
    ASSERT_EQ(append_txn(part, 8, 0, 0, 2), 5);    /* 5..6 */
    slog_append_t info;
    ASSERT_EQ(slog_part_append_marker(part, 7, 0, false, 0, 1000, &info), 0); /* 7: abort */
    ASSERT_EQ(info.base_offset, 7);
    ASSERT_EQ(append_txn(part, 7, 0, 3, 1), 8);    /* pid 7's next transaction */
    ASSERT_EQ(slog_part_append_marker(part, 7, 0, true, 0, 1000, &info), 0);  /* 9: commit */
    for (int i = 0; i < 120; i++) {                /* several segments */
        ASSERT_TRUE(tl_append(part, 3, 1000) >= 0);
    }
    ASSERT_TRUE(slog_part_segment_count(part) > 2);
    int64_t end = slog_part_end_offset(part);
    ASSERT_EQ(slog_part_lso(part, end), 5);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    if (crash) {
        slog_part_abandon(part);
    } else {
        slog_part_close(part);
    }
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_lso(part, end), 5);          /* pid 8 still open */
    ASSERT_EQ(slog_part_txn_first(part, 8), 5);
    ASSERT_EQ(slog_part_txn_first(part, 7), -1);
    slog_aborted_t ab[2];
    ASSERT_EQ(slog_part_aborted(part, 0, end, ab, 2), 1);
    ASSERT_EQ(ab[0].producer_id, 7);
    ASSERT_EQ(ab[0].first_offset, 2);
    ASSERT_EQ(ab[0].last_offset, 7);
    /* The idempotent state skipped the markers: pid 7 continues at sequence 4. */
    ASSERT_EQ(append_txn(part, 7, 0, 4, 1), end);
    ASSERT_EQ(slog_part_append_marker(part, 8, 0, true, 0, 1000, &info), 0);
    ASSERT_EQ(slog_part_lso(part, end + 10), end); /* pid 7's new one is open at end */
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_txn_partition_rebuilds_open_and_aborted_transactions_after_a_clean_close)
{
    reopen_keeps_transactions(false);
}

TEST(test_txn_partition_rebuilds_open_and_aborted_transactions_after_a_crash)
{
    reopen_keeps_transactions(true);
}

int main(void)
{
    RUN(test_txn_marker_is_a_valid_control_batch_with_its_type);
    RUN(test_txn_control_type_refuses_unknown_versions_and_types);
    RUN(test_txn_lso_is_the_smallest_first_offset_of_open_transactions);
    RUN(test_txn_aborted_ranges_overlapping_a_fetch);
    RUN(test_txn_partition_refuses_control_batches_from_clients);
    RUN(test_txn_partition_rebuilds_open_and_aborted_transactions_after_a_clean_close);
    RUN(test_txn_partition_rebuilds_open_and_aborted_transactions_after_a_crash);
    TEST_MAIN_END();
}
