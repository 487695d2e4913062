/* The transaction coordinator's state machine, driven through the real protocol by a loopback
 * client against an in-process broker: InitProducerId epochs and fencing, AddPartitionsToTxn /
 * EndTxn transitions and their errors, CONCURRENT_TRANSACTIONS while a fenced transaction is
 * aborted, and the state file: kept across a restart (Ongoing stays Ongoing with its
 * partitions), and a damaged file stops the start with a message. */
#include "brk.h"
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

static void create_topic(env_t *env, cli_t *cli, const char *name)
{
    kmsg_create_topics_req_creatable_topic_t t;
    kmsg_create_topics_req_creatable_topic_init(&t);
    t.name = kproto_str(name);
    t.num_partitions = 2;
    t.replication_factor = 1;
    kmsg_create_topics_req_t req;
    kmsg_create_topics_req_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = 1000;
    cli_send(cli, KAPI_CREATE_TOPICS, 5, &req);
    kmsg_create_topics_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_CREATE_TOPICS, 5, &resp, 200));
    SL_ASSERT(resp.topics[0].error_code == 0);
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
    create_topic(&env, &c, "t");
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
    create_topic(&env, &c, "t");
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
    create_topic(&env, &c, "t");
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

TEST(test_txn_a_damaged_state_file_stops_the_start_with_a_message)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/sl_txn_XXXXXX");
    SL_ASSERT(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/transactions", dir);
    const char *bad[] = {"T zz 1 0 100 1 -\n", "T 61 1 0 100 9 -\n", "P t 0\n", "garbage\n",
                         "T 6 1 0 100 1 -\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        SL_ASSERT(sl_fs_write_atomic(path, bad[i], strlen(bad[i])) == 0);
        sl_props_t *props = sl_props_new();
        sl_props_set(props, "log.dirs", dir);
        sl_props_set(props, "listeners", "PLAINTEXT://127.0.0.1:0");
        char err[256] = "";
        brk_t *brk = NULL;
        ASSERT_NE(brk_new(props, &brk, err, sizeof err), 0);
        ASSERT_TRUE(strstr(err, "transactions") != NULL);
        sl_props_free(props);
    }
    sl_fs_rmtree(dir);
}

int main(void)
{
    RUN(test_txn_init_bumps_the_epoch_and_keeps_the_producer_id);
    RUN(test_txn_ongoing_commit_then_retry_and_wrong_kind);
    RUN(test_txn_a_new_incarnation_aborts_the_open_transaction_first);
    RUN(test_txn_state_survives_a_restart_and_an_ongoing_transaction_stays_open);
    RUN(test_txn_a_damaged_state_file_stops_the_start_with_a_message);
    TEST_MAIN_END();
}
