/* The transaction coordinator's state machine, driven through the real protocol by a loopback
 * client against an in-process broker: InitProducerId epochs and fencing, AddPartitionsToTxn /
 * EndTxn transitions and their errors, CONCURRENT_TRANSACTIONS while a fenced transaction is
 * aborted, and the state file: kept across a restart (Ongoing stays Ongoing with its
 * partitions), a damaged line skipped with a message (never a refusal to start), and
 * nothing a client sends stored unvalidated (TxnOffsetCommit of unknown topics). */
#include "brk.h"
#include "brk_internal.h"
#include "brk_txn.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int64_t fake_now = 1000000;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static const char *const SETTINGS[] = {"group.min.session.timeout.ms", "10", NULL};

#include "test_brk_client.h"

typedef struct {
    int64_t pid;
    int16_t epoch;
    int16_t err;
} init_t;

static init_t init_pid(env_t *env, cli_t *cli, const char *tid)
{
    kmsg_init_producer_id_req_t req;
    kmsg_init_producer_id_req_init(&req);
    req.transactional_id = kproto_str(tid);
    req.transaction_timeout_ms = 60000;
    req.producer_id = -1;
    req.producer_epoch = -1;
    cli_send(cli, KAPI_INIT_PRODUCER_ID, 4, &req);
    kmsg_init_producer_id_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_INIT_PRODUCER_ID, 4, &resp, 200));
    return (init_t){resp.producer_id, resp.producer_epoch, resp.error_code};
}

/* AddPartitionsToTxn v3 of partition p of "t"; returns its error. */
static int16_t add_part(env_t *env, cli_t *cli, const char *tid, init_t id, int32_t p)
{
    kmsg_add_partitions_to_txn_req_add_partitions_to_txn_topic_t t;
    kmsg_add_partitions_to_txn_req_add_partitions_to_txn_topic_init(&t);
    t.name = kproto_str("t");
    t.partitions = &p;
    t.partitions_count = 1;
    kmsg_add_partitions_to_txn_req_t req;
    kmsg_add_partitions_to_txn_req_init(&req);
    req.v3_and_below_transactional_id = kproto_str(tid);
    req.v3_and_below_producer_id = id.pid;
    req.v3_and_below_producer_epoch = id.epoch;
    req.v3_and_below_topics = &t;
    req.v3_and_below_topics_count = 1;
    cli_send(cli, KAPI_ADD_PARTITIONS_TO_TXN, 3, &req);
    kmsg_add_partitions_to_txn_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_ADD_PARTITIONS_TO_TXN, 3, &resp, 200));
    return resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
}

static int16_t end_txn(env_t *env, cli_t *cli, const char *tid, init_t id, bool commit)
{
    kmsg_end_txn_req_t req;
    kmsg_end_txn_req_init(&req);
    req.transactional_id = kproto_str(tid);
    req.producer_id = id.pid;
    req.producer_epoch = id.epoch;
    req.committed = commit;
    cli_send(cli, KAPI_END_TXN, 3, &req);
    kmsg_end_txn_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_END_TXN, 3, &resp, 400));
    return resp.error_code;
}

TEST(test_txn_init_bumps_the_epoch_and_keeps_the_producer_id)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t c = cli_new(&env);
    init_t a = init_pid(&env, &c, "app");
    ASSERT_EQ(a.err, 0);
    ASSERT_EQ(a.epoch, 0);
    init_t b = init_pid(&env, &c, "app");
    ASSERT_EQ(b.err, 0);
    ASSERT_EQ(b.pid, a.pid);
    ASSERT_EQ(b.epoch, 1);
    init_t other = init_pid(&env, &c, "other");
    ASSERT_NE(other.pid, a.pid);
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), KERR_PRODUCER_FENCED);
    ASSERT_EQ(end_txn(&env, &c, "app", b, true), KERR_INVALID_TXN_STATE); /* Empty */
    ASSERT_EQ(end_txn(&env, &c, "nobody", b, true), KERR_INVALID_PRODUCER_ID_MAPPING);
    cli_free(&c);
    env_free(&env);
}

TEST(test_txn_ongoing_commit_then_retry_and_wrong_kind)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 2);
    init_t a = init_pid(&env, &c, "app");
    ASSERT_EQ(add_part(&env, &c, "app", a, 0), 0);
    ASSERT_EQ(add_part(&env, &c, "app", a, 1), 0);
    ASSERT_EQ(add_part(&env, &c, "app", a, 9), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), 0);      /* Ongoing -> CompleteCommit */
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), 0);      /* a retry */
    ASSERT_EQ(end_txn(&env, &c, "app", a, false), KERR_INVALID_TXN_STATE);
    ASSERT_EQ(add_part(&env, &c, "app", a, 0), 0);        /* the next transaction */
    ASSERT_EQ(end_txn(&env, &c, "app", a, false), 0);     /* -> CompleteAbort */
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), KERR_INVALID_TXN_STATE);
    cli_free(&c);
    env_free(&env);
}

TEST(test_txn_a_new_incarnation_aborts_the_open_transaction_first)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 2);
    init_t a = init_pid(&env, &c, "app");
    ASSERT_EQ(add_part(&env, &c, "app", a, 0), 0);
    init_t b = init_pid(&env, &c, "app");
    ASSERT_EQ(b.err, KERR_CONCURRENT_TRANSACTIONS); /* the abort is written first */
    init_t b2 = init_pid(&env, &c, "app");
    for (int i = 0; i < 200 && b2.err == KERR_CONCURRENT_TRANSACTIONS; i++) {
        brk_poll(env.brk, 10);
        b2 = init_pid(&env, &c, "app"); /* until the markers are durable */
    }
    ASSERT_EQ(b2.err, 0);
    ASSERT_EQ(b2.epoch, 2); /* one bump for the abort, one for the answer (as Kafka) */
    ASSERT_EQ(add_part(&env, &c, "app", a, 0), KERR_PRODUCER_FENCED);
    ASSERT_EQ(add_part(&env, &c, "app", b2, 0), 0);
    cli_free(&c);
    env_free(&env);
}

TEST(test_txn_state_survives_a_restart_and_an_ongoing_transaction_stays_open)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 2);
    init_t a = init_pid(&env, &c, "app");
    ASSERT_EQ(add_part(&env, &c, "app", a, 1), 0);
    cli_free(&c);
    char dir[64];
    snprintf(dir, sizeof dir, "%s", env.dir);
    brk_free(env.brk);
    env = env_open(dir, SETTINGS, fake_clock);
    c = cli_new(&env);
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), 0); /* still Ongoing, same id and epoch */
    init_t b = init_pid(&env, &c, "app");
    ASSERT_EQ(b.pid, a.pid);
    ASSERT_EQ(b.epoch, a.epoch + 1);
    cli_free(&c);
    env_free(&env);
}

TEST(test_txn_a_damaged_line_is_skipped_and_the_broker_starts)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/sl_txn_XXXXXX");
    SL_ASSERT(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/transactions", dir);
    /* each damaged line, then a good transaction "ok" (hex 6f6b) that must still load */
    const char *bad[] = {"T zz 1 0 100 1 -\n", "T 61 1 0 100 9 -\n", "P t 0\n", "garbage\n",
                         "T 6 1 0 100 1 -\n", "P no such topic 0\n", "T 61 1 0 100 0 - x\n",
                         "T 61 99999999999999999999 0 100 0 -\n", "\n\n\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "%sT 6f6b 7 3 60000 0 -\n", bad[i]);
        SL_ASSERT(sl_fs_write_atomic(path, text, strlen(text)) == 0);
        env_t env = env_open(dir, SETTINGS, fake_clock); /* asserts that it starts */
        cli_t c = cli_new(&env);
        init_t id = {7, 3, 0};
        ASSERT_EQ(end_txn(&env, &c, "ok", id, true), KERR_INVALID_TXN_STATE); /* Empty: known */
        cli_free(&c);
        brk_free(env.brk);
    }
    sl_fs_rmtree(dir);
}

static int16_t add_offsets(env_t *env, cli_t *cli, const char *tid, init_t id, const char *group)
{
    kmsg_add_offsets_to_txn_req_t req;
    kmsg_add_offsets_to_txn_req_init(&req);
    req.transactional_id = kproto_str(tid);
    req.producer_id = id.pid;
    req.producer_epoch = id.epoch;
    req.group_id = kproto_str(group);
    cli_send(cli, KAPI_ADD_OFFSETS_TO_TXN, 3, &req);
    kmsg_add_offsets_to_txn_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_ADD_OFFSETS_TO_TXN, 3, &resp, 200));
    return resp.error_code;
}

/* TxnOffsetCommit v3 of one partition of topic; returns its error. */
static int16_t txn_commit(env_t *env, cli_t *cli, const char *tid, init_t id, const char *group,
                          kproto_str_t topic, int32_t partition)
{
    kmsg_txn_offset_commit_req_txn_offset_commit_request_partition_t p;
    kmsg_txn_offset_commit_req_txn_offset_commit_request_partition_init(&p);
    p.partition_index = partition;
    p.committed_offset = 5;
    p.committed_metadata = kproto_str("m");
    kmsg_txn_offset_commit_req_txn_offset_commit_request_topic_t t;
    kmsg_txn_offset_commit_req_txn_offset_commit_request_topic_init(&t);
    t.name = topic;
    t.partitions = &p;
    t.partitions_count = 1;
    kmsg_txn_offset_commit_req_t req;
    kmsg_txn_offset_commit_req_init(&req);
    req.transactional_id = kproto_str(tid);
    req.group_id = kproto_str(group);
    req.producer_id = id.pid;
    req.producer_epoch = id.epoch;
    req.generation_id = -1;
    req.member_id = kproto_str("");
    req.topics = &t;
    req.topics_count = 1;
    cli_send(cli, KAPI_TXN_OFFSET_COMMIT, 3, &req);
    kmsg_txn_offset_commit_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_TXN_OFFSET_COMMIT, 3, &resp, 200));
    return resp.topics[0].partitions[0].error_code;
}

TEST(test_txn_offset_commit_of_a_topic_that_does_not_exist_is_refused_and_not_stored)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 2);
    init_t a = init_pid(&env, &c, "app");
    ASSERT_EQ(add_offsets(&env, &c, "app", a, "g"), 0);
    size_t huge_len = 32000;
    char *huge = malloc(huge_len);
    memset(huge, 'x', huge_len);
    kproto_str_t names[] = {kproto_str("no such topic"), kproto_str("t\nT 41 1 0 100 1 -"),
                            {huge, (int32_t)huge_len}, {huge, 700}, kproto_str("nosuch")};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        ASSERT_EQ(txn_commit(&env, &c, "app", a, "g", names[i], 0),
                  KERR_UNKNOWN_TOPIC_OR_PARTITION);
    }
    ASSERT_EQ(txn_commit(&env, &c, "app", a, "g", kproto_str("t"), 7),
              KERR_UNKNOWN_TOPIC_OR_PARTITION);
    ASSERT_EQ(txn_commit(&env, &c, "app", a, "g", kproto_str("t"), 1), 0);
    free(huge);
    char path[128], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/transactions", env.dir);
    ASSERT_EQ(sl_fs_read_all(path, 1 << 20, &text, &len), 0);
    ASSERT_TRUE(strstr(text, "O t 1 5 ") != NULL);
    ASSERT_TRUE(strstr(text, "such") == NULL && strstr(text, "xxx") == NULL);
    int lines = 0;
    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    ASSERT_EQ(lines, 2); /* T and O: nothing forged */
    free(text);
    /* a clean stop and a start: the broker starts, the offset is still pending */
    cli_free(&c);
    char dir[64];
    snprintf(dir, sizeof dir, "%s", env.dir);
    brk_free(env.brk);
    env = env_open(dir, SETTINGS, fake_clock);
    c = cli_new(&env);
    ASSERT_EQ(end_txn(&env, &c, "app", a, true), 0);
    cli_free(&c);
    env_free(&env);
}

TEST(test_txn_state_text_round_trips_long_fields)
{
    /* metadata of 4,000 bytes (8,000 hex digits) and a 512-byte id: longer than any fixed
     * field buffer the loader once had */
    sl_buf_t in;
    sl_buf_init(&in);
    sl_buf_append(&in, "T ", 2);
    for (int i = 0; i < 512; i++) {
        sl_buf_append(&in, "61", 2);
    }
    sl_buf_append(&in, " 7 3 60000 1 6767\nP t 0\nO t 0 5 -1 ", 35);
    for (int i = 0; i < 4000; i++) {
        sl_buf_append(&in, "6d", 2);
    }
    sl_buf_append(&in, "\n", 1);
    sl_buf_t out;
    sl_buf_init(&out);
    ASSERT_EQ(brk__txn_check_text((const char *)in.data, in.len, &out), 0);
    ASSERT_EQ(out.len, in.len);
    ASSERT_MEMEQ(out.data, in.data, in.len);
    sl_buf_deinit(&in);
    sl_buf_deinit(&out);
}

TEST(test_txn_state_text_keeps_pending_metadata_with_nul_bytes)
{
    /* "Hello\0world!" and a metadata that is one NUL: every byte, as OffsetFetch returns it */
    const char in[] = "T 617070 7 3 60000 1 67\nP t 0\nO t 0 5 -1 48656c6c6f00776f726c6421\n"
                      "O t 1 6 -1 00\n";
    sl_buf_t out;
    sl_buf_init(&out);
    ASSERT_EQ(brk__txn_check_text(in, sizeof in - 1, &out), 0);
    ASSERT_EQ(out.len, sizeof in - 1);
    ASSERT_MEMEQ(out.data, in, sizeof in - 1);
    sl_buf_deinit(&out);
}

int main(void)
{
    RUN(test_txn_init_bumps_the_epoch_and_keeps_the_producer_id);
    RUN(test_txn_ongoing_commit_then_retry_and_wrong_kind);
    RUN(test_txn_a_new_incarnation_aborts_the_open_transaction_first);
    RUN(test_txn_state_survives_a_restart_and_an_ongoing_transaction_stays_open);
    RUN(test_txn_a_damaged_line_is_skipped_and_the_broker_starts);
    RUN(test_txn_offset_commit_of_a_topic_that_does_not_exist_is_refused_and_not_stored);
    RUN(test_txn_state_text_round_trips_long_fields);
    RUN(test_txn_state_text_keeps_pending_metadata_with_nul_bytes);
    TEST_MAIN_END();
}
