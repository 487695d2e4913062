/* Leader epochs through an in-process broker and the real protocol (epoch.c; docs/broker.md
 * "Leader epochs"): every partition is led at epoch 0, which every stored batch carries;
 * OffsetForLeaderEpoch ends epoch 0 at the log end and knows no other epoch; a client's current
 * leader epoch is checked as Kafka's leader checks it. */
#include "brk.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"
#include "test_log.h"

#include <fcntl.h>
#include <unistd.h>

static const char *const SETTINGS[] = {"log.flush.policy", "always", NULL};

#include "test_brk_client.h"

typedef kmsg_offset_for_leader_epoch_resp_epoch_end_offset_t epoch_end_t;

/* One OffsetForLeaderEpoch of topic "t" at version ver: the partition's answer. */
static epoch_end_t epoch_end(env_t *env, cli_t *cli, int16_t ver, int32_t partition,
                             int32_t current, int32_t epoch)
{
    kmsg_offset_for_leader_epoch_req_offset_for_leader_partition_t rp;
    kmsg_offset_for_leader_epoch_req_offset_for_leader_partition_init(&rp);
    rp.partition = partition;
    rp.current_leader_epoch = current;
    rp.leader_epoch = epoch;
    kmsg_offset_for_leader_epoch_req_offset_for_leader_topic_t rt;
    kmsg_offset_for_leader_epoch_req_offset_for_leader_topic_init(&rt);
    rt.topic = kproto_str("t");
    rt.partitions = &rp;
    rt.partitions_count = 1;
    kmsg_offset_for_leader_epoch_req_t req;
    kmsg_offset_for_leader_epoch_req_init(&req);
    req.replica_id = -2; /* a consumer */
    req.topics = &rt;
    req.topics_count = 1;
    cli_send(cli, KAPI_OFFSET_FOR_LEADER_EPOCH, ver, &req);
    kmsg_offset_for_leader_epoch_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_OFFSET_FOR_LEADER_EPOCH, ver, &resp, 400));
    SL_ASSERT(resp.topics_count == 1 && resp.topics[0].partitions_count == 1);
    return resp.topics[0].partitions[0];
}

/* A topic "t" of one partition holding n records in one batch whose producer claimed
 * partition leader epoch `claimed`. */
static void seed(env_t *env, cli_t *cli, int n, int32_t claimed)
{
    cli_create_topic(env, cli, "t", 1);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, n, 1000, 0);
    sl_be32_put(b.data + 12, (uint32_t)claimed); /* outside the CRC, as in Kafka */
    cli_send_produce(cli, "t", b.data, b.len);
    kmsg_produce_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_PRODUCE, 9, &resp, 400));
    SL_ASSERT(resp.responses[0].partition_responses[0].error_code == KERR_NONE);
    sl_buf_deinit(&b);
}

TEST(test_epoch_0_ends_at_the_log_end_in_every_version)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t cli = cli_new(&env);
    seed(&env, &cli, 5, -1);
    for (int16_t ver = 0; ver <= 4; ver++) {
        epoch_end_t e = epoch_end(&env, &cli, ver, 0, -1, 0);
        ASSERT_EQ(e.error_code, KERR_NONE);
        ASSERT_EQ(e.end_offset, 5);
        if (ver >= 1) {
            ASSERT_EQ(e.leader_epoch, 0);
        }
    }
    cli_free(&cli);
    env_free(&env);
}

TEST(test_an_epoch_never_led_gets_the_undefined_answer)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t cli = cli_new(&env);
    seed(&env, &cli, 3, -1);
    epoch_end_t e = epoch_end(&env, &cli, 4, 0, 0, 1);
    ASSERT_EQ(e.error_code, KERR_NONE);
    ASSERT_EQ(e.leader_epoch, -1);
    ASSERT_EQ(e.end_offset, -1);
    e = epoch_end(&env, &cli, 4, 0, 0, -1); /* unset */
    ASSERT_EQ(e.leader_epoch, -1);
    ASSERT_EQ(e.end_offset, -1);
    e = epoch_end(&env, &cli, 4, 0, 0, -3); /* before the first epoch: ends where 0 starts */
    ASSERT_EQ(e.leader_epoch, -3);
    ASSERT_EQ(e.end_offset, 0);
    cli_free(&cli);
    env_free(&env);
}

TEST(test_the_current_leader_epoch_is_checked_as_kafkas_leader_does)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t cli = cli_new(&env);
    seed(&env, &cli, 1, -1);
    for (int16_t ver = 2; ver <= 4; ver++) {
        ASSERT_EQ(epoch_end(&env, &cli, ver, 0, 0, 0).error_code, KERR_NONE);
        ASSERT_EQ(epoch_end(&env, &cli, ver, 0, 1, 0).error_code, KERR_UNKNOWN_LEADER_EPOCH);
        ASSERT_EQ(epoch_end(&env, &cli, ver, 0, -2, 0).error_code, KERR_FENCED_LEADER_EPOCH);
        ASSERT_EQ(epoch_end(&env, &cli, ver, 7, 0, 0).error_code,
                  KERR_UNKNOWN_TOPIC_OR_PARTITION);
    }
    cli_free(&cli);
    env_free(&env);
}

TEST(test_a_stored_batch_carries_epoch_0_whatever_the_producer_claimed)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t cli = cli_new(&env);
    seed(&env, &cli, 2, 7);
    char path[256];
    snprintf(path, sizeof path, "%s/topics/t/0/00000000000000000000.log", env.dir);
    int fd = open(path, O_RDONLY);
    SL_ASSERT(fd >= 0);
    uint8_t hdr[16];
    SL_ASSERT(pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr);
    close(fd);
    ASSERT_EQ((int32_t)sl_be32_get(hdr + 12), 0);
    cli_free(&cli);
    env_free(&env);
}

int main(void)
{
    RUN(test_epoch_0_ends_at_the_log_end_in_every_version);
    RUN(test_an_epoch_never_led_gets_the_undefined_answer);
    RUN(test_the_current_leader_epoch_is_checked_as_kafkas_leader_does);
    RUN(test_a_stored_batch_carries_epoch_0_whatever_the_producer_claimed);
    TEST_MAIN_END();
}
