/* Topic administration through an in-process broker and the real protocol: DescribeConfigs
 * describes each resource once however often a request names it, and only this broker's
 * broker resource (found by tests/fuzz/fuzz_broker_seq: a 720 KB request naming resources
 * many times got a 33 MB answer and 500 ms of loop time). */
#include "brk.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdlib.h>

static const char *const SETTINGS[] = {"node.id", "1", NULL};

#include "test_brk_client.h"

#define NAMED 200 /* times the request names topic "t" */

TEST(test_describe_configs_describes_a_resource_named_many_times_once)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 1);
    static kmsg_describe_configs_req_describe_configs_resource_t res[NAMED + 3];
    for (int i = 0; i < NAMED + 3; i++) {
        kmsg_describe_configs_req_describe_configs_resource_init(&res[i]);
        res[i].resource_type = 2; /* topic */
        res[i].resource_name = kproto_str("t");
        res[i].configuration_keys_count = -1;
    }
    res[1].resource_type = 4; /* this broker, twice */
    res[1].resource_name = kproto_str("1");
    res[5].resource_type = 4;
    res[5].resource_name = kproto_str("1");
    res[7].resource_type = 4; /* another broker */
    res[7].resource_name = kproto_str("2");
    kmsg_describe_configs_req_t req;
    kmsg_describe_configs_req_init(&req);
    req.resources = res;
    req.resources_count = NAMED + 3;
    cli_send(&c, KAPI_DESCRIBE_CONFIGS, 4, &req);
    kmsg_describe_configs_resp_t resp;
    ASSERT_TRUE(cli_recv(&env, &c, KAPI_DESCRIBE_CONFIGS, 4, &resp, 200));
    ASSERT_EQ(resp.results_count, 3); /* t, broker 1, broker 2: in the order first named */
    ASSERT_EQ(resp.results[0].resource_type, 2); /* named more than once: Kafka's rule */
    ASSERT_EQ(resp.results[0].error_code, KERR_INVALID_REQUEST);
    ASSERT_EQ(resp.results[0].configs_count, 0);
    ASSERT_EQ(resp.results[1].resource_type, 4);
    ASSERT_EQ(resp.results[1].error_code, KERR_INVALID_REQUEST);
    ASSERT_EQ(resp.results[1].configs_count, 0);
    ASSERT_EQ(resp.results[2].resource_type, 4);
    ASSERT_EQ(resp.results[2].error_code, KERR_INVALID_REQUEST);
    ASSERT_EQ(resp.results[2].configs_count, 0);
    cli_free(&c);
    env_free(&env);
}

int main(void)
{
    RUN(test_describe_configs_describes_a_resource_named_many_times_once);
    TEST_MAIN_END();
}
