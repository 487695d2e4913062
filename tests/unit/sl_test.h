/* Minimal unit-test harness: TEST(name) functions registered in main via RUN(name).
 * ASSERT_* print both sides and fail the current test; the binary exits non-zero if any
 * test failed and prints "N passed, N failed". */
#ifndef SL_TEST_H
#define SL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sl_test_failed_ = 0;
static int sl_test_cur_failed_ = 0;
static int sl_test_passed_ = 0;
static int sl_test_failures_ = 0;

#define TEST(name) static void name(void)

#define SL_TEST_FAIL_(...)                                                                 \
    do {                                                                                   \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fprintf(stderr, "\n");                                                             \
        sl_test_cur_failed_ = 1;                                                           \
        return;                                                                            \
    } while (0)

#define ASSERT_TRUE(c)                                                                     \
    do {                                                                                   \
        if (!(c)) SL_TEST_FAIL_("expected true: %s", #c);                                  \
    } while (0)
#define ASSERT_EQ(a, b)                                                                    \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) SL_TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);             \
    } while (0)
#define ASSERT_NE(a, b)                                                                    \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ == b_) SL_TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                    \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                 \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
            SL_TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",        \
                          b_ ? b_ : "(null)");                                             \
    } while (0)
#define ASSERT_MEMEQ(a, b, n)                                                              \
    do {                                                                                   \
        if (memcmp((a), (b), (n)) != 0) SL_TEST_FAIL_("memory differs: %s vs %s", #a, #b); \
    } while (0)

#define RUN(name)                                                                          \
    do {                                                                                   \
        sl_test_cur_failed_ = 0;                                                           \
        name();                                                                            \
        if (sl_test_cur_failed_) {                                                         \
            fprintf(stderr, "FAIL %s\n", #name);                                           \
            sl_test_failures_++;                                                           \
            sl_test_failed_ = 1;                                                           \
        } else {                                                                           \
            fprintf(stderr, "ok   %s\n", #name);                                           \
            sl_test_passed_++;                                                             \
        }                                                                                  \
    } while (0)

#define TEST_MAIN_END()                                                                    \
    do {                                                                                   \
        fprintf(stderr, "%d passed, %d failed\n", sl_test_passed_, sl_test_failures_);    \
        return sl_test_failed_;                                                            \
    } while (0)

#endif
