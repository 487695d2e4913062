/* The duplicate-check set (sl_hset.h): finds what was put, tells repeats apart by bytes and
 * tag, grows past its first size, and takes time linear in the keys however they look. */
#include "sl_common.h"
#include "sl_hset.h"
#include "sl_test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

TEST(test_hset_reports_the_first_value_of_a_repeated_key)
{
    sl_hset_t *set = sl_hset_new(1);
    int64_t old = -7;
    ASSERT_TRUE(sl_hset_put(set, "topic", 5, 0, 10, &old));
    ASSERT_EQ(old, -7);
    ASSERT_TRUE(!sl_hset_put(set, "topic", 5, 0, 11, &old));
    ASSERT_EQ(old, 10);
    ASSERT_TRUE(sl_hset_put(set, "topic", 5, 1, 12, NULL)); /* another tag */
    ASSERT_TRUE(sl_hset_put(set, "topi", 4, 0, 13, NULL));  /* a prefix */
    ASSERT_TRUE(sl_hset_put(set, NULL, 0, 0, 14, NULL));    /* null and empty are one key */
    ASSERT_TRUE(!sl_hset_put(set, "", 0, 0, 15, &old));
    ASSERT_EQ(old, 14);
    ASSERT_EQ(sl_hset_count(set), 4);
    int64_t v = 0;
    ASSERT_TRUE(sl_hset_get(set, "topic", 5, 1, &v));
    ASSERT_EQ(v, 12);
    ASSERT_TRUE(!sl_hset_get(set, "topic", 5, 2, &v));
    sl_hset_free(set);
}

TEST(test_hset_grows_and_keeps_every_key)
{
    enum { N = 100000 };
    static char keys[N][12];
    sl_hset_t *set = sl_hset_new(4);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        ASSERT_TRUE(sl_hset_put(set, keys[i], strlen(keys[i]), i % 3, i, NULL));
    }
    ASSERT_EQ(sl_hset_count(set), N);
    for (int i = 0; i < N; i += 7) {
        int64_t v;
        ASSERT_TRUE(sl_hset_get(set, keys[i], strlen(keys[i]), i % 3, &v));
        ASSERT_EQ(v, i);
        ASSERT_TRUE(!sl_hset_get(set, keys[i], strlen(keys[i]), i % 3 + 1, NULL));
    }
    sl_hset_free(set);
}

/* The same key 100,000 times and 100,000 keys that differ only in the tag cost about what
 * distinct keys cost: nothing a client picks makes the set quadratic. */
TEST(test_hset_cost_does_not_depend_on_the_keys_chosen)
{
    enum { N = 100000 };
    clock_t t0 = clock();
    sl_hset_t *set = sl_hset_new(N);
    for (int i = 0; i < N; i++) {
        sl_hset_put(set, "same", 4, 0, i, NULL);
    }
    ASSERT_EQ(sl_hset_count(set), 1);
    sl_hset_free(set);
    set = sl_hset_new(N);
    for (int i = 0; i < N; i++) {
        ASSERT_TRUE(sl_hset_put(set, "same", 4, (int64_t)i << 32, i, NULL));
    }
    ASSERT_EQ(sl_hset_count(set), N);
    sl_hset_free(set);
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ASSERT_TRUE(s < 5.0); /* ~20 ms; quadratic would be minutes */
}

/* Deletion keeps every other key findable (probe runs are shifted back, not broken). */
TEST(test_hset_delete_keeps_the_other_keys)
{
    enum { N = 20000 };
    static char keys[N][12];
    static bool in[N];
    sl_hset_t *set = sl_hset_new(8);
    uint32_t r = 12345;
    for (int round = 0; round < 4 * N; round++) {
        r = r * 1103515245u + 12345u;
        int i = (int)((r >> 8) % N);
        if (!keys[i][0]) {
            snprintf(keys[i], sizeof keys[i], "g%d", i);
        }
        if (in[i]) {
            ASSERT_TRUE(sl_hset_del(set, keys[i], strlen(keys[i]), 0));
            in[i] = false;
        } else {
            ASSERT_TRUE(sl_hset_put(set, keys[i], strlen(keys[i]), 0, i, NULL));
            in[i] = true;
        }
    }
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        bool got = keys[i][0] && sl_hset_get(set, keys[i], strlen(keys[i]), 0, &v);
        ASSERT_EQ(got, in[i]);
        ASSERT_TRUE(!got || v == i);
        n += in[i];
    }
    ASSERT_EQ(sl_hset_count(set), n);
    ASSERT_TRUE(!sl_hset_del(set, "absent", 6, 0));
    sl_hset_free(set);
}

TEST(test_hash_is_keyed_and_stable_within_a_process)
{
    ASSERT_EQ(sl_hash_bytes("abc", 3), sl_hash_bytes("abc", 3));
    ASSERT_NE(sl_hash_bytes("abc", 3), sl_hash_bytes("abd", 3));
    ASSERT_NE(sl_hash_bytes("", 0), sl_hash_bytes("\0", 1));
}

int main(void)
{
    RUN(test_hset_reports_the_first_value_of_a_repeated_key);
    RUN(test_hset_grows_and_keeps_every_key);
    RUN(test_hset_cost_does_not_depend_on_the_keys_chosen);
    RUN(test_hset_delete_keeps_the_other_keys);
    RUN(test_hash_is_keyed_and_stable_within_a_process);
    TEST_MAIN_END();
}
