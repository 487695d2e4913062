/* The wire writer's bounds (kproto.h): past its byte limit or KPROTO_SPLICES_MAX file ranges
 * it sets a sticky error, writes nothing more and hands back file ranges it did not record,
 * instead of asserting (a response's size follows what clients ask for). And the ErrorCode
 * report the broker's error counters rest on (kproto_wr_error, written by the codecs). */
#include "kmsg.h"
#include "kproto.h"
#include "sl_common.h"
#include "sl_test.h"

#include <string.h>

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

static int16_t codes[8];
static int ncodes;
static void record_code(void *ctx, int16_t code)
{
    SL_UNUSED(ctx);
    if (ncodes < 8) {
        codes[ncodes++] = code;
    }
}

TEST(test_codecs_report_every_nonzero_error_code_they_write)
{
    kmsg_produce_resp_partition_produce_response_t parts[3];
    for (int i = 0; i < 3; i++) {
        kmsg_produce_resp_partition_produce_response_init(&parts[i]);
        parts[i].index = i;
    }
    parts[1].error_code = 3;  /* UNKNOWN_TOPIC_OR_PARTITION */
    parts[2].error_code = 56; /* KAFKA_STORAGE_ERROR */
    kmsg_produce_resp_topic_produce_response_t topic;
    kmsg_produce_resp_topic_produce_response_init(&topic);
    topic.name = kproto_str("t");
    topic.partition_responses = parts;
    topic.partition_responses_count = 3;
    kmsg_produce_resp_t resp;
    kmsg_produce_resp_init(&resp);
    resp.responses = &topic;
    resp.responses_count = 1;
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    wr.on_error = record_code;
    ncodes = 0;
    kmsg_produce_resp_encode(&wr, 9, &resp);
    ASSERT_EQ(ncodes, 2);
    ASSERT_EQ(codes[0], 3);
    ASSERT_EQ(codes[1], 56);
    /* the same bytes as without the report */
    kproto_wr_t plain;
    kproto_wr_init(&plain);
    kmsg_produce_resp_encode(&plain, 9, &resp);
    ASSERT_EQ(plain.buf.len, wr.buf.len);
    ASSERT_TRUE(memcmp(plain.buf.data, wr.buf.data, wr.buf.len) == 0);
    kproto_wr_deinit(&plain);
    kproto_wr_deinit(&wr);
    /* a top-level ErrorCode counts too */
    kmsg_api_versions_resp_t av;
    kmsg_api_versions_resp_init(&av);
    av.error_code = 35; /* UNSUPPORTED_VERSION */
    kproto_wr_init(&wr);
    wr.on_error = record_code;
    ncodes = 0;
    kmsg_api_versions_resp_encode(&wr, 0, &av);
    ASSERT_EQ(ncodes, 1);
    ASSERT_EQ(codes[0], 35);
    kproto_wr_deinit(&wr);
}

int main(void)
{
    RUN(test_writer_limit_at_n_and_n_plus_one);
    RUN(test_writer_splices_past_the_bound_are_dropped_and_released);
    RUN(test_writer_counts_splice_bytes_against_the_limit);
    RUN(test_codecs_report_every_nonzero_error_code_they_write);
    TEST_MAIN_END();
}
