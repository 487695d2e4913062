/* Idempotent produce through an in-process broker and the real protocol (flush policy
 * always): a retried batch is answered with the original's offset, and never before the
 * original is durable — when the original's fdatasync fails (fault injection), the retry
 * fails with it instead of being acknowledged. */
#include "brk.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"
#include "slog_fault.h"
#include "test_log.h"

#include <errno.h>
#include <stdlib.h>

static const char *const SETTINGS[] = {"log.flush.policy", "always", NULL};

#include "test_brk_client.h"

/* Sends one Produce v9 (acks=all) of an idempotent batch (pid 77, epoch 0, sequence seq). */
static void produce_send(cli_t *cli, sl_buf_t *batch)
{
    cli_send_produce(cli, "t", batch->data, batch->len);
}

/* The answer of one Produce: error code, base offset in *offset. */
static int produce_recv(env_t *env, cli_t *cli, int64_t *offset)
{
    kmsg_produce_resp_t resp;
    if (!cli_recv(env, cli, KAPI_PRODUCE, 9, &resp, 400)) {
        return -1000;
    }
    SL_ASSERT(resp.responses_count == 1 && resp.responses[0].partition_responses_count == 1);
    *offset = resp.responses[0].partition_responses[0].base_offset;
    return resp.responses[0].partition_responses[0].error_code;
}

static void idem_batch(sl_buf_t *out, int32_t seq)
{
    size_t at = out->len;
    tl_batch(out, 2, 1000, 0);
    uint8_t *p = out->data + at;
    sl_be64_put(p + 43, 77);
    sl_be16_put(p + 51, 0);
    sl_be32_put(p + 53, (uint32_t)seq);
    tl_fix_crc(p, out->len - at);
}

TEST(test_a_retry_gets_the_original_offset_once_durable)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t c1 = cli_new(&env), c2 = cli_new(&env);
    cli_create_topic(&env, &c1, "t", 1);
    sl_buf_t b0, b1;
    sl_buf_init(&b0);
    sl_buf_init(&b1);
    idem_batch(&b0, 0);
    idem_batch(&b1, 2);
    int64_t off = -1;
    produce_send(&c1, &b0);
    ASSERT_EQ(produce_recv(&env, &c1, &off), KERR_NONE);
    ASSERT_EQ(off, 0);
    produce_send(&c2, &b0); /* the retry, on another connection */
    ASSERT_EQ(produce_recv(&env, &c2, &off), KERR_NONE);
    ASSERT_EQ(off, 0);
    produce_send(&c2, &b1);
    ASSERT_EQ(produce_recv(&env, &c2, &off), KERR_NONE);
    ASSERT_EQ(off, 2);
    sl_buf_deinit(&b0);
    sl_buf_deinit(&b1);
    cli_free(&c1);
    cli_free(&c2);
    env_free(&env);
}

TEST(test_a_retry_is_not_acknowledged_when_the_original_never_becomes_durable)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t c1 = cli_new(&env), c2 = cli_new(&env);
    cli_create_topic(&env, &c1, "t", 1);
    sl_buf_t b0;
    sl_buf_init(&b0);
    idem_batch(&b0, 0);
    slog_fault_set(SLOG_FAULT_SYNC, 1, EIO); /* the original's fdatasync fails */
    produce_send(&c1, &b0);
    produce_send(&c2, &b0); /* the retry arrives while the original waits for its sync */
    int64_t off1 = -1, off2 = -1;
    ASSERT_EQ(produce_recv(&env, &c1, &off1), KERR_KAFKA_STORAGE_ERROR);
    ASSERT_EQ(produce_recv(&env, &c2, &off2), KERR_KAFKA_STORAGE_ERROR);
    slog_fault_set(SLOG_FAULT_SYNC, 0, 0);
    sl_buf_deinit(&b0);
    cli_free(&c1);
    cli_free(&c2);
    env_free(&env);
}

int main(void)
{
    RUN(test_a_retry_gets_the_original_offset_once_durable);
    RUN(test_a_retry_is_not_acknowledged_when_the_original_never_becomes_durable);
    TEST_MAIN_END();
}
