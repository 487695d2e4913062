/* sl_prom: histogram buckets at their bounds, labelled histogram series, the exposition text
 * and its growth, label value escapes and floating-point samples. */
#include "sl_common.h"
#include "sl_prom.h"
#include "sl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[3] = {0.001, 0.01, 1};

TEST(test_hist_buckets_at_and_past_each_bound)
{
    sl_hist_t h;
    memset(&h, 0, sizeof h);
    sl_hist_observe(&h, bounds, 3, 1000);    /* exactly 1 ms: le 0.001 */
    sl_hist_observe(&h, bounds, 3, 1001);    /* just past: le 0.01 */
    sl_hist_observe(&h, bounds, 3, 2000000); /* 2 s: +Inf */
    sl_hist_observe(&h, bounds, 3, -5);      /* a clock step back counts as 0 */
    sl_text_t t;
    sl_text_init(&t);
    sl_prom_hist(&t, "x_seconds", "Help.", &h, bounds, 3);
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
    sl_text_t t;
    sl_text_init(&t);
    for (int i = 0; i < 2000; i++) {
        sl_prom_metric(&t, "counter", "c_total", "A counter.", "{i=\"x\"}", (uint64_t)i);
    }
    ASSERT_TRUE(t.len > 8192 && t.len == strlen(t.p));
    ASSERT_TRUE(strstr(t.p, "c_total{i=\"x\"} 1999\n") != NULL);
    free(t.p);
}

TEST(test_hist_series_puts_labels_before_le_and_skips_nothing)
{
    sl_hist_t h;
    memset(&h, 0, sizeof h);
    ASSERT_TRUE(!sl_hist_any(&h, 3));
    sl_hist_observe(&h, bounds, 3, 5000); /* 5 ms: le 0.01 */
    ASSERT_TRUE(sl_hist_any(&h, 3));
    sl_text_t t;
    sl_text_init(&t);
    sl_prom_hist_series(&t, "r_seconds", "api=\"Fetch\"", &h, bounds, 3);
    const char *want = "r_seconds_bucket{api=\"Fetch\",le=\"0.001\"} 0\n"
                       "r_seconds_bucket{api=\"Fetch\",le=\"0.01\"} 1\n"
                       "r_seconds_bucket{api=\"Fetch\",le=\"1\"} 1\n"
                       "r_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 1\n"
                       "r_seconds_sum{api=\"Fetch\"} 0.005000\n"
                       "r_seconds_count{api=\"Fetch\"} 1\n";
    ASSERT_TRUE(strcmp(t.p, want) == 0);
    free(t.p);
    sl_text_init(&t);
    sl_prom_hist_series(&t, "r_seconds", "", &h, bounds, 3); /* no labels: no braces */
    ASSERT_TRUE(strstr(t.p, "r_seconds_bucket{le=\"0.01\"} 1\n") != NULL);
    ASSERT_TRUE(strstr(t.p, "r_seconds_count 1\n") != NULL);
    free(t.p);
}

TEST(test_esc_escapes_backslash_quote_and_newline_and_never_cuts_an_escape)
{
    char buf[16];
    const char *s = "a\\b\"c\nd";
    ASSERT_TRUE(strcmp(sl_prom_esc(buf, sizeof buf, s, strlen(s)), "a\\\\b\\\"c\\nd") == 0);
    char small[4]; /* room for 3 bytes: "a", then the escape of '\\' does not fit whole */
    ASSERT_TRUE(strcmp(sl_prom_esc(small, sizeof small, "a\\", 2), "a\\\\") == 0);
    ASSERT_TRUE(strcmp(sl_prom_esc(small, sizeof small, "ab\\", 3), "ab") == 0);
    ASSERT_TRUE(strcmp(sl_prom_esc(small, sizeof small, "abcdef", 6), "abc") == 0);
}

TEST(test_f64_spells_nan_and_infinities_as_prometheus_does)
{
    sl_text_t t;
    sl_text_init(&t);
    sl_prom_f64(&t, "g", "", 0.25);
    sl_prom_f64(&t, "g", "{a=\"b\"}", NAN);
    sl_prom_f64(&t, "g", "", INFINITY);
    sl_prom_f64(&t, "g", "", -INFINITY);
    sl_prom_u64(&t, "c_total", "", 18446744073709551615ull);
    ASSERT_TRUE(strcmp(t.p, "g 0.25\ng{a=\"b\"} NaN\ng +Inf\ng -Inf\n"
                            "c_total 18446744073709551615\n") == 0);
    free(t.p);
}

int main(void)
{
    RUN(test_hist_buckets_at_and_past_each_bound);
    RUN(test_text_grows_past_its_first_buffer);
    RUN(test_hist_series_puts_labels_before_le_and_skips_nothing);
    RUN(test_esc_escapes_backslash_quote_and_newline_and_never_cuts_an_escape);
    RUN(test_f64_spells_nan_and_infinities_as_prometheus_does);
    TEST_MAIN_END();
}
