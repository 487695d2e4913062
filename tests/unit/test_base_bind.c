/* Unit tests for sl_bind: property keys bound to struct fields. */
#include "sl_bind.h"
#include "sl_common.h"
#include "sl_props.h"
#include "sl_test.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    int32_t n32;
    int n;
    int64_t n64;
    int64_t ms;
    size_t bytes;
    bool flag;
    char name[8];
    char seen[128]; /* prefix keys, in the order applied */
} cfg_t;

static int seen_fn(void *obj, const char *key, const char *val, char *err, size_t len)
{
    cfg_t *c = obj;
    if (strcmp(val, "bad") == 0) {
        return sl_setting_fail(err, len, key, "bad value");
    }
    size_t used = strlen(c->seen);
    snprintf(c->seen + used, sizeof c->seen - used, "%s=%s;", key, val);
    return 0;
}

static const sl_bind_t keys[] = {
    SL_BIND_NUM(cfg_t, "a.n32", n32, -5, 5),
    SL_BIND_NUM(cfg_t, "a.int", n, 0, 100),
    SL_BIND_NUM(cfg_t, "a.n64", n64, 0, INT64_MAX),
    SL_BIND_SCALED(cfg_t, "retention.minutes", ms, -1, 1 << 20, 60000),
    SL_BIND_NUM(cfg_t, "retention.ms", ms, -1, INT64_MAX / 2),
    SL_BIND_NUM(cfg_t, "a.bytes", bytes, 1, 1 << 30),
    SL_BIND_BOOL(cfg_t, "a.flag", flag),
    SL_BIND_STR(cfg_t, "a.name", name),
    SL_BIND_CHECK("replication.factor", 1, 1),
    SL_BIND_OTHER("listeners"),
    SL_BIND_FN("a.fn", seen_fn),
    SL_BIND_PREFIX("type.", seen_fn),
};

static int apply(const char *const *kv, cfg_t *c, char *err, size_t len)
{
    memset(c, 0, sizeof *c);
    sl_props_t *p = sl_props_new();
    for (; *kv; kv++) {
        if (sl_props_set_kv(p, *kv) != 0) {
            sl_props_free(p);
            return -1000;
        }
    }
    int rc = sl_bind_load(keys, SL_ARRAY_LEN(keys), c, p, err, len);
    sl_props_free(p);
    return rc;
}

TEST(test_bind_stores_each_kind_in_its_field)
{
    cfg_t c;
    char err[256] = "";
    const char *kv[] = {"a.n32=-5", "a.int=100", "a.n64=9223372036854775807", "a.bytes=1024",
                        "a.flag=true", "a.name=seven77", "replication.factor=1",
                        "listeners=PLAINTEXT://:9092", NULL};
    ASSERT_EQ(apply(kv, &c, err, sizeof err), 0);
    ASSERT_EQ(c.n32, -5);
    ASSERT_EQ(c.n, 100);
    ASSERT_TRUE(c.n64 == INT64_MAX);
    ASSERT_EQ(c.bytes, (size_t)1024);
    ASSERT_TRUE(c.flag);
    ASSERT_STREQ(c.name, "seven77");
}

TEST(test_bind_refuses_each_kind_at_the_edge_naming_key_and_value)
{
    cfg_t c;
    char err[256];
    const char *n32[] = {"a.n32=6", NULL};
    ASSERT_EQ(apply(n32, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "a.n32: expected an integer in [-5, 5], got '6'");
    const char *junk[] = {"a.int=12x", NULL};
    ASSERT_EQ(apply(junk, &c, err, sizeof err), SL_EINVAL);
    const char *flag[] = {"a.flag=yes", NULL};
    ASSERT_EQ(apply(flag, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "a.flag: expected true or false, got 'yes'");
    const char *name[] = {"a.name=eight888", NULL}; /* 8 bytes + NUL in char[8] */
    ASSERT_EQ(apply(name, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "a.name: too long");
    const char *check[] = {"replication.factor=3", NULL};
    ASSERT_EQ(apply(check, &c, err, sizeof err), SL_EINVAL);
    const char *fn[] = {"a.fn=bad", NULL};
    ASSERT_EQ(apply(fn, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "a.fn: bad value");
}

TEST(test_bind_later_entries_win_and_prefix_keys_keep_their_order)
{
    cfg_t c;
    char err[256] = "";
    /* retention.ms is later in the table than .minutes, whatever order the file gives */
    const char *kv[] = {"retention.ms=5", "retention.minutes=2", "type.b=2", "a.fn=x",
                        "type.a=1", NULL};
    ASSERT_EQ(apply(kv, &c, err, sizeof err), 0);
    ASSERT_TRUE(c.ms == 5);
    ASSERT_STREQ(c.seen, "a.fn=x;type.b=2;type.a=1;");
    const char *minutes[] = {"retention.minutes=2", NULL};
    ASSERT_EQ(apply(minutes, &c, err, sizeof err), 0);
    ASSERT_TRUE(c.ms == 120000);
    const char *off[] = {"retention.minutes=-1", NULL}; /* -1 (off) is not scaled */
    ASSERT_EQ(apply(off, &c, err, sizeof err), 0);
    ASSERT_TRUE(c.ms == -1);
}

TEST(test_bind_names_every_unknown_key_with_the_nearest_known_one)
{
    cfg_t c;
    char err[512];
    const char *kv[] = {"a.flg=true", "a.int=3", "zzz.qqq.www=1", "retention.minute=2", NULL};
    ASSERT_EQ(apply(kv, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "unknown settings 'a.flg' (did you mean a.flag?), 'zzz.qqq.www', "
                      "'retention.minute' (did you mean retention.minutes?)");
    ASSERT_EQ(c.n, 0); /* nothing applied */
    const char *one[] = {"a.nam=x", NULL};
    ASSERT_EQ(apply(one, &c, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "unknown setting 'a.nam' (did you mean a.name?)");
    ASSERT_TRUE(sl_bind_known(keys, SL_ARRAY_LEN(keys), "type.anything.at.all"));
    ASSERT_TRUE(!sl_bind_known(keys, SL_ARRAY_LEN(keys), "type"));
    char huge[300];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ASSERT_TRUE(sl_bind_nearest(keys, SL_ARRAY_LEN(keys), huge) == NULL);
}

TEST(test_bind_unknown_list_is_truncated_not_overrun)
{
    sl_props_t *p = sl_props_new();
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "unknown.key.%03d", i);
        ASSERT_EQ(sl_props_set(p, key, "1"), 0);
    }
    char out[64];
    ASSERT_EQ(sl_bind_unknown(keys, SL_ARRAY_LEN(keys), p, out, sizeof out), 200);
    ASSERT_TRUE(strlen(out) == sizeof out - 1);
    ASSERT_EQ(sl_bind_unknown(keys, SL_ARRAY_LEN(keys), p, NULL, 0), 200);
    sl_props_free(p);
}

int main(void)
{
    RUN(test_bind_stores_each_kind_in_its_field);
    RUN(test_bind_refuses_each_kind_at_the_edge_naming_key_and_value);
    RUN(test_bind_later_entries_win_and_prefix_keys_keep_their_order);
    RUN(test_bind_names_every_unknown_key_with_the_nearest_known_one);
    RUN(test_bind_unknown_list_is_truncated_not_overrun);
    TEST_MAIN_END();
}
