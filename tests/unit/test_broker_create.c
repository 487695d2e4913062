/* Topics and partitions are created off the loop (src/broker/create.c): a Metadata naming
 * thousands of unknown topics, a CreateTopics or CreatePartitions making thousands of
 * partitions cost each loop iteration what the fuzzer allows (tests/fuzz/broker_seq.h: 50 ms
 * + 100 ns per request byte, 10x under ASan; found by fuzz_broker_seq at 260 ms to 1.9 s);
 * the creation bounds at N and N+1; what other requests see while a creation is out. */
#include "brk.h"
#include "brk_create.h"
#include "brk_internal.h"
#include "brk_topics.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *const SETTINGS[] = {"node.id", "1", "auto.create.topics.enable", "true",
                                       "num.partitions", "1", NULL};

#include "test_brk_client.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 10
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 10
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 1
#endif

/* A broker on /dev/shm when there is one (as the fuzzer's): a loaded disk syncs a few hundred
 * partitions a second, and the bound checked is loop CPU, not the disk's time. */
static env_t env_shm(void)
{
    char dir[64] = "/dev/shm/sl_brk_XXXXXX"; /* mkdtemp's template */
    if (!mkdtemp(dir)) {
        return env_new(SETTINGS, NULL);
    }
    return env_open(dir, SETTINGS, NULL);
}

/* The fuzzer's bound on one loop iteration for a request of `bytes`. */
static int64_t loop_bound_ns(int64_t bytes)
{
    return (50 * 1000000LL + 100 * bytes) * SANITIZED;
}

/* As cli_recv, and *max_ns gets the loop CPU time of the longest iteration. */
static bool recv_timed(env_t *env, cli_t *cli, int16_t key, int16_t ver, void *resp,
                       int max_polls, int64_t *max_ns)
{
    *max_ns = 0;
    return cli_recv_timed(env, cli, key, ver, resp, max_polls, max_ns);
}

/* Polls until no creation is out (at most 10 minutes: a loaded disk syncs slowly). */
static bool wait_created(env_t *env)
{
    for (int i = 0; i < 600000 && brk_create_busy(env->brk); i++) {
        brk_poll(env->brk, 1);
    }
    return !brk_create_busy(env->brk);
}

#define AUTO_TOPICS 2000

TEST(test_metadata_naming_thousands_of_unknown_topics_is_answered_without_creating_them_on_the_loop)
{
    env_t env = env_shm();
    cli_t c = cli_new(&env);
    static kmsg_metadata_req_metadata_request_topic_t t[AUTO_TOPICS];
    static char names[AUTO_TOPICS][16];
    for (int i = 0; i < AUTO_TOPICS; i++) {
        snprintf(names[i], sizeof names[i], "auto-%d", i);
        kmsg_metadata_req_metadata_request_topic_init(&t[i]);
        t[i].name = kproto_str(names[i]);
    }
    kmsg_metadata_req_t req;
    kmsg_metadata_req_init(&req);
    req.topics = t;
    req.topics_count = AUTO_TOPICS;
    cli_send(&c, KAPI_METADATA, 2, &req);
    kmsg_metadata_resp_t resp;
    int64_t max_ns;
    ASSERT_TRUE(recv_timed(&env, &c, KAPI_METADATA, 2, &resp, 2000, &max_ns));
    ASSERT_TRUE(max_ns < loop_bound_ns(AUTO_TOPICS * 10));
    ASSERT_EQ(resp.topics_count, AUTO_TOPICS);
    for (int i = 0; i < AUTO_TOPICS; i++) {
        ASSERT_EQ(resp.topics[i].error_code, KERR_LEADER_NOT_AVAILABLE); /* Kafka's answer */
    }
    /* Another request is answered while the topics are made. */
    kmsg_api_versions_req_t av;
    kmsg_api_versions_req_init(&av);
    cli_send(&c, KAPI_API_VERSIONS, 0, &av);
    kmsg_api_versions_resp_t avr;
    ASSERT_TRUE(recv_timed(&env, &c, KAPI_API_VERSIONS, 0, &avr, 2000, &max_ns));
    ASSERT_TRUE(max_ns < loop_bound_ns(0));
    cli_free(&c);
    env_free(&env); /* stops the creation where it is */
}

TEST(test_an_auto_created_topic_is_answered_leader_not_available_until_it_exists)
{
    env_t env = env_shm();
    cli_t c = cli_new(&env);
    kmsg_metadata_req_metadata_request_topic_t t;
    kmsg_metadata_req_metadata_request_topic_init(&t);
    t.name = kproto_str("auto");
    kmsg_metadata_req_t req;
    kmsg_metadata_req_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    cli_send(&c, KAPI_METADATA, 2, &req);
    kmsg_metadata_resp_t resp;
    ASSERT_TRUE(cli_recv(&env, &c, KAPI_METADATA, 2, &resp, 200));
    ASSERT_EQ(resp.topics[0].error_code, KERR_LEADER_NOT_AVAILABLE);
    ASSERT_TRUE(wait_created(&env));
    cli_send(&c, KAPI_METADATA, 2, &req);
    ASSERT_TRUE(cli_recv(&env, &c, KAPI_METADATA, 2, &resp, 200));
    ASSERT_EQ(resp.topics[0].error_code, KERR_NONE);
    ASSERT_EQ(resp.topics[0].partitions_count, 1);
    cli_free(&c);
    env_free(&env);
}

#define MANY_PARTS 2000

TEST(test_create_topics_making_thousands_of_partitions_keeps_loop_iterations_short)
{
    env_t env = env_shm();
    cli_t c = cli_new(&env);
    cli_send_create_topic(&c, "many", MANY_PARTS);
    kmsg_create_topics_resp_t resp;
    int64_t max_ns;
    ASSERT_TRUE(recv_timed(&env, &c, KAPI_CREATE_TOPICS, 5, &resp, 120000, &max_ns));
    ASSERT_TRUE(max_ns < loop_bound_ns(64));
    ASSERT_EQ(resp.topics_count, 1);
    ASSERT_EQ(resp.topics[0].error_code, KERR_NONE);
    ASSERT_EQ(resp.topics[0].num_partitions, MANY_PARTS);
    cli_free(&c);
    env_free(&env);
}

TEST(test_create_partitions_making_thousands_of_partitions_keeps_loop_iterations_short)
{
    env_t env = env_shm();
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "grow", 1);
    kmsg_create_partitions_req_create_partitions_topic_t t;
    kmsg_create_partitions_req_create_partitions_topic_init(&t);
    t.name = kproto_str("grow");
    t.count = MANY_PARTS;
    t.assignments_count = -1;
    kmsg_create_partitions_req_t req;
    kmsg_create_partitions_req_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = 5000;
    cli_send(&c, KAPI_CREATE_PARTITIONS, 1, &req);
    kmsg_create_partitions_resp_t resp;
    int64_t max_ns;
    ASSERT_TRUE(recv_timed(&env, &c, KAPI_CREATE_PARTITIONS, 1, &resp, 120000, &max_ns));
    ASSERT_TRUE(max_ns < loop_bound_ns(64));
    ASSERT_EQ(resp.results_count, 1);
    ASSERT_EQ(resp.results[0].error_code, KERR_NONE);
    cli_free(&c);
    env_free(&env);
}

#ifndef BASELINE_ONLY
TEST(test_one_request_creates_at_most_the_request_bound_and_all_at_most_the_in_flight_bound)
{
    env_t env = env_shm();
    brk_create_t *c = brk_create_new(env.brk, NULL, NULL);
    const char *msg = NULL;
    ASSERT_EQ(brk_create_admit(c, BRK_CREATE_PARTITIONS_REQUEST_MAX, &msg), KERR_NONE);
    ASSERT_EQ(brk_create_admit(c, BRK_CREATE_PARTITIONS_REQUEST_MAX + 1, &msg),
              KERR_POLICY_VIOLATION);
    env.brk->creating_parts = BRK_CREATE_PARTITIONS_INFLIGHT_MAX - 5;
    ASSERT_EQ(brk_create_admit(c, 5, &msg), KERR_NONE);
    ASSERT_EQ(brk_create_admit(c, 6, &msg), KERR_THROTTLING_QUOTA_EXCEEDED);
    env.brk->creating_parts = 0;
    brk_create_submit(c); /* empty: freed at once */
    ASSERT_TRUE(!brk_create_busy(env.brk));
    env_free(&env);
}

TEST(test_a_topic_being_created_or_growing_is_not_created_grown_or_deleted_twice)
{
    env_t env = env_shm();
    cli_t cl = cli_new(&env);
    cli_create_topic(&env, &cl, "grow", 1);
    /* A batch built but not yet submitted: "new" is being created, "grow" is growing. */
    brk_create_t *c = brk_create_new(env.brk, NULL, NULL);
    brk_create_topic(c, kproto_str("new"), 2, NULL);
    brk_create_parts(c, brk_topic_find(env.brk, kproto_str("grow")), 3);

    cli_send_create_topic(&cl, "new", 1);
    kmsg_create_topics_resp_t ct;
    ASSERT_TRUE(cli_recv(&env, &cl, KAPI_CREATE_TOPICS, 5, &ct, 200));
    ASSERT_EQ(ct.topics[0].error_code, KERR_TOPIC_ALREADY_EXISTS);

    kmsg_create_partitions_req_create_partitions_topic_t pt;
    kmsg_create_partitions_req_create_partitions_topic_init(&pt);
    pt.name = kproto_str("grow");
    pt.count = 4;
    pt.assignments_count = -1;
    kmsg_create_partitions_req_t pr;
    kmsg_create_partitions_req_init(&pr);
    pr.topics = &pt;
    pr.topics_count = 1;
    cli_send(&cl, KAPI_CREATE_PARTITIONS, 1, &pr);
    kmsg_create_partitions_resp_t cp;
    ASSERT_TRUE(cli_recv(&env, &cl, KAPI_CREATE_PARTITIONS, 1, &cp, 200));
    ASSERT_EQ(cp.results[0].error_code, KERR_REASSIGNMENT_IN_PROGRESS);

    kproto_str_t del = kproto_str("grow");
    kmsg_delete_topics_req_t dr;
    kmsg_delete_topics_req_init(&dr);
    dr.topic_names = &del;
    dr.topic_names_count = 1;
    cli_send(&cl, KAPI_DELETE_TOPICS, 1, &dr);
    kmsg_delete_topics_resp_t dp;
    ASSERT_TRUE(cli_recv(&env, &cl, KAPI_DELETE_TOPICS, 1, &dp, 200));
    ASSERT_EQ(dp.responses[0].error_code, KERR_REASSIGNMENT_IN_PROGRESS);

    brk_create_submit(c);
    ASSERT_TRUE(wait_created(&env));
    ASSERT_EQ(brk_topic_find(env.brk, kproto_str("new"))->npart, 2);
    ASSERT_EQ(brk_topic_find(env.brk, kproto_str("grow"))->npart, 3);
    ASSERT_TRUE(!brk_create_pending(env.brk, kproto_str("new")));
    cli_send(&cl, KAPI_DELETE_TOPICS, 1, &dr);
    ASSERT_TRUE(cli_recv(&env, &cl, KAPI_DELETE_TOPICS, 1, &dp, 200));
    ASSERT_EQ(dp.responses[0].error_code, KERR_NONE);
    cli_free(&cl);
    env_free(&env);
}
#endif

int main(void)
{
    RUN(test_metadata_naming_thousands_of_unknown_topics_is_answered_without_creating_them_on_the_loop);
    RUN(test_an_auto_created_topic_is_answered_leader_not_available_until_it_exists);
    RUN(test_create_topics_making_thousands_of_partitions_keeps_loop_iterations_short);
    RUN(test_create_partitions_making_thousands_of_partitions_keeps_loop_iterations_short);
#ifndef BASELINE_ONLY
    RUN(test_one_request_creates_at_most_the_request_bound_and_all_at_most_the_in_flight_bound);
    RUN(test_a_topic_being_created_or_growing_is_not_created_grown_or_deleted_twice);
#endif
    TEST_MAIN_END();
}
