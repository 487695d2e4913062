/* Unit tests for src/base: crc32c, buffers, arena, properties. */
#include "sl_arena.h"
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_dl.h"
#include "sl_props.h"
#include "sl_test.h"
#include "sl_time.h"

#include <unistd.h>

TEST(test_crc32c_known_vectors)
{
    ASSERT_EQ(sl_crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ(sl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    ASSERT_EQ(sl_crc32c(0, zeros, 32), 0x8A9136AAu);
}

TEST(test_crc32c_hw_and_sw_agree_and_chain)
{
    uint8_t data[4099];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 131 + 7);
    }
    for (size_t n = 0; n < sizeof data; n += 97) {
        ASSERT_EQ(sl_crc32c(0, data, n), sl_crc32c_sw(0, data, n));
    }
    uint32_t whole = sl_crc32c(0, data, sizeof data);
    uint32_t part = sl_crc32c(sl_crc32c(0, data, 1000), data + 1000, sizeof data - 1000);
    ASSERT_EQ(whole, part);
}

TEST(test_buf_grows_and_steals)
{
    sl_buf_t buf;
    sl_buf_init(&buf);
    for (int i = 0; i < 1000; i++) {
        sl_buf_append(&buf, "abcd", 4);
    }
    ASSERT_EQ(buf.len, 4000);
    size_t len;
    uint8_t *p = sl_buf_steal(&buf, &len);
    ASSERT_EQ(len, 4000);
    ASSERT_MEMEQ(p + 3996, "abcd", 4);
    ASSERT_EQ(buf.len, 0);
    free(p);
    uint8_t be[8];
    sl_be64_put(be, 0x0102030405060708ull);
    ASSERT_EQ(sl_be64_get(be), 0x0102030405060708ll);
    ASSERT_EQ(sl_be32_get(be + 4), 0x05060708);
}

TEST(test_arena_zeroes_aligns_and_resets)
{
    sl_arena_t *arena = sl_arena_new(1024);
    uint8_t *a = sl_arena_alloc(arena, 3);
    uint8_t *b = sl_arena_alloc(arena, 5000);
    ASSERT_EQ((uintptr_t)a % 16, 0);
    ASSERT_EQ((uintptr_t)b % 16, 0);
    ASSERT_EQ(b[4999], 0);
    memset(b, 0xff, 5000);
    ASSERT_TRUE(sl_arena_used(arena) >= 5003);
    sl_arena_reset(arena);
    ASSERT_EQ(sl_arena_used(arena), 0);
    uint8_t *c = sl_arena_alloc(arena, 100);
    ASSERT_EQ(c[99], 0);
    sl_arena_free(arena);
}

TEST(test_props_parse_override_and_reject)
{
    char path[] = "/tmp/sl_props_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n log.dirs = /tmp/x \nnum.partitions: 3\n\n! also comment\n", f);
    fclose(f);
    sl_props_t *props = sl_props_new();
    char err[256];
    ASSERT_EQ(sl_props_load(props, path, err, sizeof err), 0);
    ASSERT_STREQ(sl_props_get(props, "log.dirs"), "/tmp/x");
    ASSERT_STREQ(sl_props_get(props, "num.partitions"), "3");
    ASSERT_EQ(sl_props_set_kv(props, "num.partitions=5"), 0);
    ASSERT_STREQ(sl_props_get(props, "num.partitions"), "5");
    ASSERT_EQ(sl_props_set_kv(props, "novalue"), SL_EINVAL);
    ASSERT_EQ(sl_props_count(props), 2);
    f = fopen(path, "w");
    fputs("good=1\nbad line\n", f);
    fclose(f);
    ASSERT_EQ(sl_props_load(props, path, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, ":2:") != NULL);
    unlink(path);
    sl_props_free(props);
    int64_t v;
    ASSERT_TRUE(sl_parse_i64("42", 0, 100, &v));
    ASSERT_EQ(v, 42);
    ASSERT_TRUE(!sl_parse_i64("101", 0, 100, &v));
    ASSERT_TRUE(!sl_parse_i64("4x", 0, 100, &v));
}

TEST(test_props_limit_at_n_and_n_plus_one)
{
    sl_props_t *props = sl_props_new();
    char key[32];
    for (int i = 0; i < SL_PROPS_COUNT_MAX; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ASSERT_EQ(sl_props_set(props, key, "v"), 0);
    }
    ASSERT_EQ(sl_props_set(props, "one.more", "v"), SL_ELIMIT);
    ASSERT_EQ(sl_props_set(props, "k0", "updated"), 0);
    sl_props_free(props);
}

TEST(test_setting_helpers_store_or_name_the_key)
{
    char dst[4] = "old", err[96];
    ASSERT_EQ(sl_setting_str(dst, sizeof dst, "a.b", "abc", err, sizeof err), 0);
    ASSERT_TRUE(strcmp(dst, "abc") == 0);
    ASSERT_EQ(sl_setting_str(dst, sizeof dst, "a.b", "abcd", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strcmp(dst, "abc") == 0 && strcmp(err, "a.b: too long") == 0);
    int64_t v = 7;
    ASSERT_EQ(sl_setting_i64(&v, 1, 10, "n", "10", err, sizeof err), 0);
    ASSERT_EQ(v, 10);
    ASSERT_EQ(sl_setting_i64(&v, 1, 10, "n", "11", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(v == 10 && strcmp(err, "n: want an integer in [1, 10]") == 0);
    bool b = false;
    ASSERT_EQ(sl_setting_bool(&b, "f", "true", err, sizeof err), 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(sl_setting_bool(&b, "f", "yes please", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(b && strcmp(err, "f: want true or false") == 0);
}

/* sl_dl: a real library resolves into a struct of function pointers that work; a missing
 * library or function is an error naming it. */
typedef struct {
    unsigned long (*crc32)(unsigned long, const unsigned char *, unsigned);
} zfns_t;

TEST(test_dl_loads_functions_and_names_what_is_missing)
{
    zfns_t z = {0};
    char err[512] = "";
    const sl_dl_sym_t ok[] = {{"crc32", offsetof(zfns_t, crc32)}};
    ASSERT_EQ(sl_dl_load("libz.so.1", ok, 1, &z, err, sizeof err), 0);
    ASSERT_EQ(z.crc32(0, (const unsigned char *)"123456789", 9), 0xcbf43926ul);
    const sl_dl_sym_t bad[] = {{"no_such_function_here", 0}};
    ASSERT_EQ(sl_dl_load("libz.so.1", bad, 1, &z, err, sizeof err), -1);
    ASSERT_TRUE(strstr(err, "libz.so.1 has no no_such_function_here") != NULL);
    ASSERT_EQ(sl_dl_load("libsluice-missing.so.9", ok, 1, &z, err, sizeof err), -1);
    ASSERT_TRUE(strstr(err, "cannot load libsluice-missing.so.9") != NULL);
}

TEST(test_rfc3339_parses_zones_fractions_and_refuses_out_of_range)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-12-08T00:00:00Z", 1796688000000LL},
        {"2026-12-08t01:00:00.250+01:00", 1796688000250LL},
        {"2026-12-07T19:30:00.1-04:30", 1796688000100LL},
        {"2024-02-29T12:00:00.123456789z", 1709208000123LL},
        {"2016-12-31T23:59:60Z", 1483228800000LL},
        {"9999-12-31T23:59:59Z", 253402300799000LL},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(good); i++) {
        int64_t ms = -1;
        ASSERT_TRUE(sl_time_parse_rfc3339(good[i].text, &ms));
        ASSERT_EQ(ms, good[i].ms);
    }
    static const char *const bad[] = {
        "", "2026-12-08", "2026-12-08T00:00:00", "2026-12-08 00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-12-08T24:00:00Z", "2026-12-08T23:60:00Z",
        "2026-12-08T23:59:61Z", "2026-12-08T00:00:00+24:00", "2026-12-08T00:00:00+01:60",
        "2026-12-08T00:00:00+0100", "2026-12-08T00:00:00.Z", "2026-12-08T00:00:00.1234567891Z",
        "2026-12-08T00:00:00ZZ", "1969-12-31T23:59:59Z", "+2026-12-08T00:00:00Z",
        "2026-1-08T00:00:00Z", "2026-12-08T00:00:00 Z", "2026-12-08T0a:00:00Z",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        int64_t ms = 0;
        if (sl_time_parse_rfc3339(bad[i], &ms)) {
            SL_TEST_FAIL_("accepted '%s'", bad[i]);
        }
    }
}

int main(void)
{
    RUN(test_crc32c_known_vectors);
    RUN(test_dl_loads_functions_and_names_what_is_missing);
    RUN(test_crc32c_hw_and_sw_agree_and_chain);
    RUN(test_buf_grows_and_steals);
    RUN(test_arena_zeroes_aligns_and_resets);
    RUN(test_props_parse_override_and_reject);
    RUN(test_props_limit_at_n_and_n_plus_one);
    RUN(test_setting_helpers_store_or_name_the_key);
    RUN(test_rfc3339_parses_zones_fractions_and_refuses_out_of_range);
    TEST_MAIN_END();
}
