/* Group coordinator state machine, driven through the real protocol by a loopback client
 * against an in-process broker whose clock is fake: each timeout path (session, rebalance,
 * pending member id) fires exactly when the test moves the clock. */
#include "brk.h"
#include "brk_limits.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"

#include <errno.h>
#include <stdlib.h>

static int64_t fake_now = 1000000;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static const char *const SETTINGS[] = {"group.min.session.timeout.ms", "10",
                                       "group.initial.rebalance.delay.ms", "0", NULL};

#include "test_brk_client.h"

static kmsg_join_group_req_join_group_request_protocol_t proto = {{"range", 5}, {(const uint8_t *)"m", 1}};

static void join_send(cli_t *cli, const char *member, const char *instance, int32_t session_ms)
{
    kmsg_join_group_req_t req;
    kmsg_join_group_req_init(&req);
    req.group_id = kproto_str("g");
    req.session_timeout_ms = session_ms;
    req.rebalance_timeout_ms = 2000;
    req.member_id = kproto_str(member);
    req.group_instance_id = kproto_str(instance);
    req.protocol_type = kproto_str("consumer");
    req.protocols = &proto;
    req.protocols_count = 1;
    cli_send(cli, KAPI_JOIN_GROUP, 7, &req);
}

static bool join_recv(env_t *env, cli_t *cli, kmsg_join_group_resp_t *resp, int polls)
{
    return cli_recv(env, cli, KAPI_JOIN_GROUP, 7, resp, polls);
}

/* Joins as a new dynamic member (MEMBER_ID_REQUIRED, then again with the id); does not wait
 * for the join to complete. Returns the member id (arena memory). */
static char *join_new(env_t *env, cli_t *cli)
{
    kmsg_join_group_resp_t resp;
    join_send(cli, "", NULL, 1000);
    SL_ASSERT(join_recv(env, cli, &resp, 50));
    SL_ASSERT(resp.error_code == KERR_MEMBER_ID_REQUIRED);
    char *id = kproto_str_dup(cli->arena, resp.member_id);
    join_send(cli, id, NULL, 1000);
    return id;
}

static int16_t sync_group(env_t *env, cli_t *cli, const char *member, int32_t gen, bool leader,
                          kproto_bytes_t *assignment)
{
    kmsg_sync_group_req_t req;
    kmsg_sync_group_req_init(&req);
    req.group_id = kproto_str("g");
    req.generation_id = gen;
    req.member_id = kproto_str(member);
    kmsg_sync_group_req_sync_group_request_assignment_t a = {kproto_str(member), {(const uint8_t *)"A", 1}};
    if (leader) {
        req.assignments = &a;
        req.assignments_count = 1;
    }
    cli_send(cli, KAPI_SYNC_GROUP, 3, &req);
    kmsg_sync_group_resp_t resp;
    if (!cli_recv(env, cli, KAPI_SYNC_GROUP, 3, &resp, 50)) {
        return -100;
    }
    if (assignment) {
        *assignment = resp.assignment;
    }
    return resp.error_code;
}

static int16_t heartbeat(env_t *env, cli_t *cli, const char *member, int32_t gen)
{
    kmsg_heartbeat_req_t req;
    kmsg_heartbeat_req_init(&req);
    req.group_id = kproto_str("g");
    req.generation_id = gen;
    req.member_id = kproto_str(member);
    cli_send(cli, KAPI_HEARTBEAT, 3, &req);
    kmsg_heartbeat_resp_t resp;
    return cli_recv(env, cli, KAPI_HEARTBEAT, 3, &resp, 50) ? resp.error_code : -100;
}

TEST(test_single_member_joins_syncs_and_heartbeats_into_a_stable_group)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env);
    char *id = join_new(&env, &a);
    kmsg_join_group_resp_t jr;
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    ASSERT_EQ(jr.generation_id, 1);
    ASSERT_TRUE(kproto_str_eq(jr.leader, id));
    ASSERT_EQ(jr.members_count, 1);
    ASSERT_TRUE(kproto_str_eq(jr.protocol_name, "range"));
    kproto_bytes_t asg;
    ASSERT_EQ(sync_group(&env, &a, id, 1, true, &asg), 0);
    ASSERT_EQ(asg.len, 1);
    ASSERT_EQ(heartbeat(&env, &a, id, 1), 0);
    ASSERT_EQ(heartbeat(&env, &a, id, 2), KERR_ILLEGAL_GENERATION);
    ASSERT_EQ(heartbeat(&env, &a, "nobody", 1), KERR_UNKNOWN_MEMBER_ID);
    cli_free(&a);
    env_free(&env);
}

TEST(test_members_joining_within_the_initial_delay_form_the_first_generation_together)
{
    static const char *const settings[] = {"group.min.session.timeout.ms", "10",
                                           "group.initial.rebalance.delay.ms", "100", NULL};
    env_t env = env_new(settings, fake_clock);
    cli_t a = cli_new(&env), b = cli_new(&env);
    kmsg_join_group_resp_t jr;
    join_new(&env, &a);
    ASSERT_TRUE(!join_recv(&env, &a, &jr, 5)); /* waiting for more members */
    fake_now += 60;
    join_new(&env, &b);                          /* within the delay */
    ASSERT_TRUE(!join_recv(&env, &b, &jr, 5));  /* b waits too */
    fake_now += 45;                              /* the first delay ends: a member came, so */
    ASSERT_TRUE(!join_recv(&env, &a, &jr, 5));  /* another 100 ms */
    fake_now += 99;
    ASSERT_TRUE(!join_recv(&env, &a, &jr, 5));
    fake_now += 2;                               /* nobody came in the second: complete */
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    ASSERT_EQ(jr.generation_id, 1);
    int32_t listed = jr.members_count; /* the leader's answer lists both, the other's none */
    ASSERT_TRUE(join_recv(&env, &b, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    ASSERT_EQ(jr.generation_id, 1);
    ASSERT_EQ(listed + jr.members_count, 2);
    cli_free(&a);
    cli_free(&b);
    env_free(&env);
}

/* Two members, stable at generation 2; returns their ids. */
static void two_members(env_t *env, cli_t *a, cli_t *b, char **ida, char **idb)
{
    kmsg_join_group_resp_t jr;
    *ida = join_new(env, a);
    SL_ASSERT(join_recv(env, a, &jr, 50) && jr.generation_id == 1);
    SL_ASSERT(sync_group(env, a, *ida, 1, true, NULL) == 0);
    *idb = join_new(env, b);          /* triggers a rebalance */
    SL_ASSERT(!join_recv(env, b, &jr, 5)); /* waits for a to rejoin */
    SL_ASSERT(heartbeat(env, a, *ida, 1) == KERR_REBALANCE_IN_PROGRESS);
    join_send(a, *ida, NULL, 1000);
    SL_ASSERT(join_recv(env, a, &jr, 50) && jr.generation_id == 2);
    SL_ASSERT(join_recv(env, b, &jr, 50) && jr.generation_id == 2);
    SL_ASSERT(sync_group(env, a, *ida, 2, true, NULL) == 0);
    SL_ASSERT(sync_group(env, b, *idb, 2, false, NULL) == 0);
}

TEST(test_session_timeout_removes_a_silent_member_and_rebalances)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env), b = cli_new(&env);
    char *ida, *idb;
    two_members(&env, &a, &b, &ida, &idb);
    fake_now += 600;
    ASSERT_EQ(heartbeat(&env, &a, ida, 2), 0);
    fake_now += 399; /* b silent for 999 ms: still a member */
    ASSERT_EQ(heartbeat(&env, &a, ida, 2), 0);
    fake_now += 2; /* 1001 ms */
    ASSERT_EQ(heartbeat(&env, &a, ida, 2), KERR_REBALANCE_IN_PROGRESS);
    ASSERT_EQ(heartbeat(&env, &b, idb, 2), KERR_UNKNOWN_MEMBER_ID);
    join_send(&a, ida, NULL, 1000);
    kmsg_join_group_resp_t jr;
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.generation_id, 3);
    ASSERT_EQ(jr.members_count, 1);
    cli_free(&a);
    cli_free(&b);
    env_free(&env);
}

TEST(test_rebalance_timeout_completes_without_members_that_did_not_rejoin)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env), b = cli_new(&env), c = cli_new(&env);
    char *ida, *idb;
    two_members(&env, &a, &b, &ida, &idb);
    join_new(&env, &c); /* preparing: a and b must rejoin within the rebalance timeout */
    join_send(&a, ida, NULL, 1000);
    kmsg_join_group_resp_t jr;
    ASSERT_TRUE(!join_recv(&env, &a, &jr, 5));
    fake_now += 900; /* b's session keeps it a member; a and c keep their joins pending */
    ASSERT_TRUE(!join_recv(&env, &a, &jr, 5));
    fake_now += 1101; /* 2001 ms: the rebalance timeout */
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    ASSERT_EQ(jr.generation_id, 3);
    ASSERT_TRUE(join_recv(&env, &c, &jr, 50));
    ASSERT_EQ(jr.generation_id, 3);
    ASSERT_EQ(heartbeat(&env, &b, idb, 2), KERR_UNKNOWN_MEMBER_ID);
    cli_free(&a);
    cli_free(&b);
    cli_free(&c);
    env_free(&env);
}

TEST(test_a_pending_member_id_expires_after_the_session_timeout)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env);
    kmsg_join_group_resp_t jr;
    join_send(&a, "", NULL, 1000);
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, KERR_MEMBER_ID_REQUIRED);
    char *id = kproto_str_dup(a.arena, jr.member_id);
    fake_now += 1001;
    join_send(&a, id, NULL, 1000);
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, KERR_UNKNOWN_MEMBER_ID);
    cli_free(&a);
    env_free(&env);
}

TEST(test_pending_member_ids_are_bounded_by_group_max_size_until_they_expire)
{
    static const char *const settings[] = {"group.min.session.timeout.ms", "10",
                                           "group.initial.rebalance.delay.ms", "0",
                                           "group.max.size", "3", NULL};
    env_t env = env_new(settings, fake_clock);
    cli_t a = cli_new(&env);
    kmsg_join_group_resp_t jr;
    for (int i = 0; i < 3; i++) {
        join_send(&a, "", NULL, 1000);
        ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
        ASSERT_EQ(jr.error_code, KERR_MEMBER_ID_REQUIRED);
    }
    for (int i = 0; i < 100; i++) { /* was: one more id kept for each, without bound */
        join_send(&a, "", NULL, 1000);
        ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
        ASSERT_EQ(jr.error_code, KERR_GROUP_MAX_SIZE_REACHED);
    }
    fake_now += 1001; /* the pending ids expire with their session timeout */
    join_send(&a, "", NULL, 1000);
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, KERR_MEMBER_ID_REQUIRED);
    cli_free(&a);
    env_free(&env);
}

TEST(test_sync_during_a_rebalance_and_leave_are_answered_as_kafka_does)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env), b = cli_new(&env), c = cli_new(&env);
    char *ida, *idb;
    two_members(&env, &a, &b, &ida, &idb);
    join_new(&env, &c);
    ASSERT_EQ(sync_group(&env, &b, idb, 2, false, NULL), KERR_REBALANCE_IN_PROGRESS);
    kmsg_leave_group_req_t lr;
    kmsg_leave_group_req_init(&lr);
    lr.group_id = kproto_str("g");
    lr.member_id = kproto_str(idb);
    cli_send(&b, KAPI_LEAVE_GROUP, 1, &lr);
    kmsg_leave_group_resp_t lresp;
    ASSERT_TRUE(cli_recv(&env, &b, KAPI_LEAVE_GROUP, 1, &lresp, 50));
    ASSERT_EQ(lresp.error_code, 0);
    join_send(&a, ida, NULL, 1000); /* a and c are everyone now: completes at once */
    kmsg_join_group_resp_t jr;
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.generation_id, 3);
    ASSERT_EQ(jr.members_count, 2);
    cli_free(&a);
    cli_free(&b);
    cli_free(&c);
    env_free(&env);
}

TEST(test_static_member_rejoining_a_stable_group_keeps_its_assignment)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env);
    kmsg_join_group_resp_t jr;
    join_send(&a, "", "inst-1", 1000); /* static members get an id at once */
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    char *id = kproto_str_dup(a.arena, jr.member_id);
    ASSERT_EQ(sync_group(&env, &a, id, 1, true, NULL), 0);
    cli_t a2 = cli_new(&env); /* the same instance restarts */
    join_send(&a2, "", "inst-1", 1000);
    ASSERT_TRUE(join_recv(&env, &a2, &jr, 50));
    ASSERT_EQ(jr.error_code, 0);
    ASSERT_EQ(jr.generation_id, 1); /* no rebalance */
    char *id2 = kproto_str_dup(a2.arena, jr.member_id);
    ASSERT_TRUE(strcmp(id, id2) != 0);
    ASSERT_TRUE(kproto_str_eq(jr.leader, id)); /* told the old leader id: stays a follower */
    kproto_bytes_t asg;
    ASSERT_EQ(sync_group(&env, &a2, id2, 1, false, &asg), 0);
    ASSERT_EQ(asg.len, 1);
    ASSERT_EQ(heartbeat(&env, &a, id, 1), KERR_UNKNOWN_MEMBER_ID); /* the old id is fenced */
    cli_free(&a);
    cli_free(&a2);
    env_free(&env);
}

TEST(test_bad_joins_get_kafka_errors)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env);
    kmsg_join_group_resp_t jr;
    join_send(&a, "", NULL, 5); /* below group.min.session.timeout.ms */
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, KERR_INVALID_SESSION_TIMEOUT);
    join_send(&a, "made-up", NULL, 1000);
    ASSERT_TRUE(join_recv(&env, &a, &jr, 50));
    ASSERT_EQ(jr.error_code, KERR_UNKNOWN_MEMBER_ID);
    cli_free(&a);
    env_free(&env);
}

/* A join naming nprotos protocols p0..p<n-1> (each with metadata "m") as a new member. */
static int16_t join_with_protocols(env_t *env, cli_t *cli, int32_t nprotos, char *name0,
                                   size_t name0_len)
{
    kmsg_join_group_req_join_group_request_protocol_t protos[BRK_GROUP_MEMBER_PROTOCOLS_MAX + 1];
    char names[BRK_GROUP_MEMBER_PROTOCOLS_MAX + 1][8];
    SL_ASSERT(nprotos <= BRK_GROUP_MEMBER_PROTOCOLS_MAX + 1);
    for (int32_t i = 0; i < nprotos; i++) {
        snprintf(names[i], sizeof names[i], "p%d", (int)i);
        protos[i] = (kmsg_join_group_req_join_group_request_protocol_t){
            kproto_str(names[i]), {(const uint8_t *)"m", 1}};
    }
    kmsg_join_group_req_t req;
    kmsg_join_group_req_init(&req);
    req.group_id = kproto_str("g");
    req.session_timeout_ms = 1000;
    req.rebalance_timeout_ms = 2000;
    req.member_id = kproto_str("");
    req.protocol_type = kproto_str("consumer");
    req.protocols = protos;
    req.protocols_count = nprotos;
    cli_send(cli, KAPI_JOIN_GROUP, 7, &req);
    kmsg_join_group_resp_t resp;
    SL_ASSERT(join_recv(env, cli, &resp, 50));
    if (resp.error_code == KERR_MEMBER_ID_REQUIRED) { /* join again with the id */
        req.member_id = resp.member_id;
        cli_send(cli, KAPI_JOIN_GROUP, 7, &req);
        for (int i = 0; i < 20 && !join_recv(env, cli, &resp, 20); i++) {
            fake_now += 1000; /* the initial rebalance delay */
        }
        snprintf(name0, name0_len, "%.*s", resp.protocol_name.len > 0 ? resp.protocol_name.len : 0,
                 resp.protocol_name.len > 0 ? resp.protocol_name.ptr : "");
    }
    return resp.error_code;
}

/* Found by tests/fuzz/fuzz_broker_seq: a JoinGroup naming 40,000 protocols kept the loop busy
 * for 150 ms (the protocol choice compared every pair). At most BRK_GROUP_MEMBER_PROTOCOLS_MAX. */
TEST(test_a_join_naming_more_protocols_than_the_limit_is_refused)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t a = cli_new(&env), b = cli_new(&env);
    char chosen[16] = "";
    ASSERT_EQ(join_with_protocols(&env, &a, BRK_GROUP_MEMBER_PROTOCOLS_MAX + 1, chosen, sizeof chosen),
              KERR_INVALID_REQUEST);
    ASSERT_EQ(join_with_protocols(&env, &b, BRK_GROUP_MEMBER_PROTOCOLS_MAX, chosen, sizeof chosen),
              KERR_NONE);
    ASSERT_STREQ(chosen, "p0"); /* the only member's first choice */
    cli_free(&a);
    cli_free(&b);
    env_free(&env);
}

int main(void)
{
    RUN(test_single_member_joins_syncs_and_heartbeats_into_a_stable_group);
    RUN(test_members_joining_within_the_initial_delay_form_the_first_generation_together);
    RUN(test_session_timeout_removes_a_silent_member_and_rebalances);
    RUN(test_rebalance_timeout_completes_without_members_that_did_not_rejoin);
    RUN(test_a_pending_member_id_expires_after_the_session_timeout);
    RUN(test_sync_during_a_rebalance_and_leave_are_answered_as_kafka_does);
    RUN(test_static_member_rejoining_a_stable_group_keeps_its_assignment);
    RUN(test_bad_joins_get_kafka_errors);
    RUN(test_pending_member_ids_are_bounded_by_group_max_size_until_they_expire);
    RUN(test_a_join_naming_more_protocols_than_the_limit_is_refused);
    TEST_MAIN_END();
}
