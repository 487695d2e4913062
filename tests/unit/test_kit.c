/* kit: histogram buckets at their bounds, the exposition text and its growth (kit_prom);
 * the http.listen setting (kit_listen). */
#include "kit_listen.h"
#include "kit_prom.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

static const double bounds[3] = {0.001, 0.01, 1};

TEST(test_hist_buckets_at_and_past_each_bound)
{
    kit_hist_t h;
    memset(&h, 0, sizeof h);
    kit_hist_observe(&h, bounds, 3, 1000);    /* exactly 1 ms: le 0.001 */
    kit_hist_observe(&h, bounds, 3, 1001);    /* just past: le 0.01 */
    kit_hist_observe(&h, bounds, 3, 2000000); /* 2 s: +Inf */
    kit_hist_observe(&h, bounds, 3, -5);      /* a clock step back counts as 0 */
    kit_text_t t;
    kit_text_init(&t);
    kit_prom_hist(&t, "x_seconds", "Help.", &h, bounds, 3);
    const char *want = "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n"
                       "x_seconds_bucket{le=\"0.001\"} 2\nx_seconds_bucket{le=\"0.01\"} 3\n"
                       "x_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n"
                       "x_seconds_sum 2.002001\nx_seconds_count 4\n";
    ASSERT_TRUE(strcmp(t.p, want) == 0);
    ASSERT_EQ(t.len, strlen(want));
    free(t.p);
}

TEST(test_text_grows_past_its_first_buffer)
{
    kit_text_t t;
    kit_text_init(&t);
    for (int i = 0; i < 2000; i++) {
        kit_prom_metric(&t, "counter", "c_total", "A counter.", "{i=\"x\"}", (uint64_t)i);
    }
    ASSERT_TRUE(t.len > 8192 && t.len == strlen(t.p));
    ASSERT_TRUE(strstr(t.p, "c_total{i=\"x\"} 1999\n") != NULL);
    free(t.p);
}

TEST(test_listen_parse_accepts_host_port_and_names_the_setting)
{
    char host[KIT_HOST_BYTES], err[128];
    int port = -1;
    ASSERT_EQ(kit_listen_parse("127.0.0.1:0", host, &port, err, sizeof err), 0);
    ASSERT_TRUE(strcmp(host, "127.0.0.1") == 0 && port == 0);
    ASSERT_EQ(kit_listen_parse("localhost:65535", host, &port, err, sizeof err), 0);
    ASSERT_TRUE(strcmp(host, "localhost") == 0 && port == 65535);
    const char *bad[] = {"localhost:65536", "localhost", "h:12x", "h:-1", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ(kit_listen_parse(bad[i], host, &port, err, sizeof err), SL_EINVAL);
        ASSERT_TRUE(strstr(err, "http.listen: want HOST:PORT") != NULL);
    }
    char long_host[KIT_HOST_BYTES + 8];
    memset(long_host, 'a', KIT_HOST_BYTES);
    strcpy(long_host + KIT_HOST_BYTES, ":80");
    ASSERT_EQ(kit_listen_parse(long_host, host, &port, err, sizeof err), SL_EINVAL);
    long_host[KIT_HOST_BYTES - 1] = '\0';
    strcat(long_host, ":80");
    ASSERT_EQ(kit_listen_parse(long_host, host, &port, err, sizeof err), 0);
    ASSERT_EQ(strlen(host), KIT_HOST_BYTES - 1);
}

int main(void)
{
    RUN(test_hist_buckets_at_and_past_each_bound);
    RUN(test_text_grows_past_its_first_buffer);
    RUN(test_listen_parse_accepts_host_port_and_names_the_setting);
    TEST_MAIN_END();
}
