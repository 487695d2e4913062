/* Unit tests for src/services/jobs/jauth.c: bearer tokens of the jobs API. */
#include "jauth.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdio.h>
#include <string.h>

static char err[256];

static const char *repeat(char c, size_t n)
{
    static char buf[1024];
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

TEST(test_token_length_limits_at_n_and_n_plus_one)
{
    jauth_t a = {0};
    ASSERT_EQ(jauth_set(&a, JAUTH_API, repeat('a', JAUTH_TOKEN_BYTES_MIN), err, sizeof err), 0);
    ASSERT_EQ(jauth_set(&a, JAUTH_API, repeat('a', JAUTH_TOKEN_BYTES_MIN - 1), err, sizeof err),
              SL_EINVAL);
    ASSERT_TRUE(strstr(err, "openssl rand") != NULL);
    ASSERT_EQ(jauth_set(&a, JAUTH_API, repeat('a', JAUTH_TOKEN_BYTES_MAX), err, sizeof err), 0);
    ASSERT_EQ(jauth_set(&a, JAUTH_API, repeat('a', JAUTH_TOKEN_BYTES_MAX + 1), err, sizeof err),
              SL_EINVAL);
    ASSERT_TRUE(!jauth_role_set(&a, JAUTH_API)); /* a failed list sets nothing */
}

TEST(test_tokens_per_role_at_n_and_n_plus_one)
{
    char list[4096] = "";
    for (int i = 0; i <= JAUTH_TOKENS_MAX; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%stoken-number-%04d", i ? "," : "", i);
        jauth_t a = {0};
        int rc = jauth_set(&a, JAUTH_OPERATOR, list, err, sizeof err);
        ASSERT_EQ(rc, i < JAUTH_TOKENS_MAX ? 0 : SL_EINVAL);
    }
}

TEST(test_name_limits_at_n_and_n_plus_one)
{
    char entry[1100];
    jauth_t a = {0};
    snprintf(entry, sizeof entry, "%s:0123456789abcdef", repeat('n', JAUTH_ID_BYTES_MAX));
    ASSERT_EQ(jauth_set(&a, JAUTH_API, entry, err, sizeof err), 0);
    snprintf(entry, sizeof entry, "%s:0123456789abcdef", repeat('n', JAUTH_ID_BYTES_MAX + 1));
    ASSERT_EQ(jauth_set(&a, JAUTH_API, entry, err, sizeof err), SL_EINVAL);
    ASSERT_EQ(jauth_set(&a, JAUTH_API, "bad name:0123456789abcdef", err, sizeof err), SL_EINVAL);
}

TEST(test_check_missing_wrong_right_and_roles)
{
    jauth_t a = {0};
    ASSERT_TRUE(!jauth_enabled(&a));
    ASSERT_EQ(jauth_set(&a, JAUTH_API, " shop:api-token-0123456789 , api-token-abcdefghij ",
                        err, sizeof err), 0);
    ASSERT_EQ(jauth_set(&a, JAUTH_OPERATOR, "ops:op-token-0123456789", err, sizeof err), 0);
    ASSERT_EQ(jauth_set(&a, JAUTH_METRICS, "op-token-0123456789,m-token-0123456789", err,
                        sizeof err), 0);
    ASSERT_TRUE(jauth_enabled(&a));
    jauth_role_t role = JAUTH_ROLE_COUNT;
    char who[JAUTH_WHO_BUF];
    ASSERT_EQ(jauth_check(&a, NULL, &role, who), JAUTH_MISSING);
    ASSERT_EQ(jauth_check(&a, "Basic eDp5", &role, who), JAUTH_MISSING);
    ASSERT_EQ(jauth_check(&a, "Bearer ", &role, who), JAUTH_MISSING);
    ASSERT_EQ(jauth_check(&a, "Bearer api-token-012345678", &role, who), JAUTH_WRONG);
    ASSERT_EQ(jauth_check(&a, "Bearer api-token-01234567890", &role, who), JAUTH_WRONG);
    ASSERT_EQ(jauth_check(&a, "Bearer shop:api-token-0123456789", &role, who), JAUTH_WRONG);
    ASSERT_EQ(jauth_check(&a, "bearer api-token-0123456789", &role, who), JAUTH_OK);
    ASSERT_EQ(role, JAUTH_API);
    ASSERT_STREQ(who, "api:shop");
    ASSERT_EQ(jauth_check(&a, "Bearer api-token-abcdefghij", &role, who), JAUTH_OK);
    ASSERT_EQ(strlen(who), strlen("api:") + 32); /* named by its digest, never itself */
    ASSERT_TRUE(strstr(who, "abcdef") == NULL);
    /* in two roles: the stronger wins */
    ASSERT_EQ(jauth_check(&a, "Bearer op-token-0123456789", &role, who), JAUTH_OK);
    ASSERT_EQ(role, JAUTH_OPERATOR);
    ASSERT_STREQ(who, "operator:ops");
    ASSERT_EQ(jauth_check(&a, "Bearer m-token-0123456789", &role, who), JAUTH_OK);
    ASSERT_EQ(role, JAUTH_METRICS);
}

TEST(test_rotation_keeps_the_name)
{
    jauth_t a = {0};
    ASSERT_EQ(jauth_set(&a, JAUTH_API, "shop:old-token-0123456789,shop:new-token-0123456789",
                        err, sizeof err), 0);
    jauth_role_t role;
    char w1[JAUTH_WHO_BUF], w2[JAUTH_WHO_BUF];
    ASSERT_EQ(jauth_check(&a, "Bearer old-token-0123456789", &role, w1), JAUTH_OK);
    ASSERT_EQ(jauth_check(&a, "Bearer new-token-0123456789", &role, w2), JAUTH_OK);
    ASSERT_STREQ(w1, w2);
    ASSERT_EQ(jauth_set(&a, JAUTH_API, "", err, sizeof err), 0);
    ASSERT_TRUE(!jauth_enabled(&a));
}

int main(void)
{
    RUN(test_token_length_limits_at_n_and_n_plus_one);
    RUN(test_tokens_per_role_at_n_and_n_plus_one);
    RUN(test_name_limits_at_n_and_n_plus_one);
    RUN(test_check_missing_wrong_right_and_roles);
    RUN(test_rotation_keeps_the_name);
    TEST_MAIN_END();
}
