/* The wire writer's bounds (kproto.h): past its byte limit or KPROTO_SPLICES_MAX file ranges
 * it sets a sticky error, writes nothing more and hands back file ranges it did not record,
 * instead of asserting (a response's size follows what clients ask for). */
#include "kproto.h"
#include "sl_common.h"
#include "sl_test.h"

static int drops;
static void count_drop(void *ext)
{
    SL_UNUSED(ext);
    drops++;
}

TEST(test_writer_limit_at_n_and_n_plus_one)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    ASSERT_EQ(wr.limit, KPROTO_WR_BYTES_MAX);
    wr.limit = 12;
    size_t mark = kproto_wr_mark_i32(&wr);
    kproto_wr_i64(&wr, 1); /* 12 bytes: at the limit */
    ASSERT_EQ(wr.err, 0);
    kproto_wr_patch_i32(&wr, mark, 8);
    kproto_wr_i8(&wr, 1); /* 13: over */
    ASSERT_EQ(wr.err, KPROTO_ERR_TOO_LARGE);
    ASSERT_EQ(kproto_wr_len(&wr), 12);
    kproto_wr_str(&wr, false, kproto_str("more"));
    kproto_wr_uvarint(&wr, 5);
    kproto_wr_patch_i32(&wr, mark, 99); /* does nothing once err is set */
    ASSERT_EQ(kproto_wr_len(&wr), 12);
    ASSERT_EQ(wr.buf.data[3], 8);
    kproto_wr_deinit(&wr);
}

TEST(test_writer_splices_past_the_bound_are_dropped_and_released)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    wr.ext_drop = count_drop;
    drops = 0;
    int file = 0;
    kproto_records_t r = {NULL, 10, &file, 0};
    for (int i = 0; i < KPROTO_SPLICES_MAX; i++) {
        kproto_wr_records(&wr, false, r);
    }
    ASSERT_EQ(wr.err, 0);
    ASSERT_EQ(wr.nsplices, KPROTO_SPLICES_MAX);
    kproto_wr_records(&wr, false, r); /* one more: an error, not an assertion */
    kproto_wr_records(&wr, false, r);
    ASSERT_EQ(wr.err, KPROTO_ERR_TOO_LARGE);
    ASSERT_EQ(wr.nsplices, KPROTO_SPLICES_MAX);
    ASSERT_EQ(drops, 2);
    kproto_wr_deinit(&wr);
}

TEST(test_writer_counts_splice_bytes_against_the_limit)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    wr.limit = 1000;
    wr.ext_drop = count_drop;
    drops = 0;
    int file = 0;
    kproto_wr_records(&wr, false, (kproto_records_t){NULL, 900, &file, 0});
    ASSERT_EQ(wr.err, 0);
    kproto_wr_records(&wr, false, (kproto_records_t){NULL, 900, &file, 0});
    ASSERT_EQ(wr.err, KPROTO_ERR_TOO_LARGE);
    ASSERT_EQ(drops, 1);
    ASSERT_EQ(wr.nsplices, 1);
    kproto_wr_deinit(&wr);
}

int main(void)
{
    RUN(test_writer_limit_at_n_and_n_plus_one);
    RUN(test_writer_splices_past_the_bound_are_dropped_and_released);
    RUN(test_writer_counts_splice_bytes_against_the_limit);
    TEST_MAIN_END();
}
