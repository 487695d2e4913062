/* Join decisions (jn_decide) for every join type, replayed over small input sequences against
 * hand-computed outputs (late table updates, tombstones, a stream record before any table
 * record), and the joiner (merge with precedence, nest, template, rejections). */
#include "jnjoin.h"
#include "sl_common.h"
#include "sl_test.h"

#include <string.h>

/* One input record: side L/R, key, value (NULL = tombstone). */
typedef struct {
    char side;
    const char *key, *value;
} rec_t;

#define KEYS_MAX 8

/* Replays recs through jn_decide + jn_join with in-memory tables (what jnproc does with LMDB)
 * and writes the outputs as "key=value" or "key=null" separated by ';'. */
static void replay(jn_type_t type, const rec_t *recs, size_t n, char *out, size_t cap)
{
    const char *keys[KEYS_MAX] = {0}, *tab[2][KEYS_MAX] = {{0}};
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    jn.mode = JN_MERGE_TOP;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        while (keys[k] && strcmp(keys[k], recs[i].key) != 0) {
            k++;
        }
        SL_ASSERT(k < KEYS_MAX);
        keys[k] = recs[i].key;
        jn_side_t side = recs[i].side == 'L' ? JN_LEFT : JN_RIGHT;
        jn_side_t oside = side == JN_LEFT ? JN_RIGHT : JN_LEFT;
        const char *other = jn_side_stored(type, oside) ? tab[oside][k] : NULL;
        jn_emit_t e = jn_decide(type, side, recs[i].value != NULL, other != NULL);
        char why[128];
        sl_buf_t buf;
        sl_buf_init(&buf);
        if (e == JN_EMIT_VALUE) {
            jn_bytes_t own = {recs[i].value, recs[i].value ? strlen(recs[i].value) : 0};
            jn_bytes_t oth = {other, other ? strlen(other) : 0};
            SL_ASSERT(jn_join(&jn, side == JN_LEFT ? own : oth, side == JN_LEFT ? oth : own, &buf,
                              why, sizeof why) == 0);
        }
        if (e != JN_EMIT_NONE) {
            size_t len = strlen(out);
            snprintf(out + len, cap - len, "%s%s=%.*s", len ? ";" : "", recs[i].key,
                     e == JN_EMIT_VALUE ? (int)buf.len : 4,
                     e == JN_EMIT_VALUE ? (const char *)buf.data : "null");
        }
        sl_buf_deinit(&buf);
        if (jn_side_stored(type, side)) {
            tab[side][k] = recs[i].value;
        }
    }
}

/* The shared scenario: a stream/left record before any right record, a late right update,
 * a right tombstone, then left again; a left tombstone at the end. */
static const rec_t scenario[] = {
    {'L', "a", "{\"n\":1}"}, /* nothing on the right yet */
    {'R', "a", "{\"p\":10}"},
    {'L', "a", "{\"n\":2}"},
    {'R', "a", "{\"p\":11}"}, /* late table update */
    {'L', "a", "{\"n\":3}"},
    {'R', "a", NULL},         /* tombstone */
    {'L', "a", "{\"n\":4}"},
    {'L', "a", NULL},
};

TEST(test_stream_table_inner_emits_only_matches_on_stream_records)
{
    char out[1024];
    replay(JN_ST_INNER, scenario, SL_ARRAY_LEN(scenario), out, sizeof out);
    ASSERT_STREQ(out, "a={\"n\":2,\"p\":10};a={\"n\":3,\"p\":11}");
}

TEST(test_stream_table_left_emits_every_stream_record)
{
    char out[1024];
    replay(JN_ST_LEFT, scenario, SL_ARRAY_LEN(scenario), out, sizeof out);
    ASSERT_STREQ(out, "a={\"n\":1};a={\"n\":2,\"p\":10};a={\"n\":3,\"p\":11};a={\"n\":4}");
}

TEST(test_table_table_inner_emits_on_both_sides_and_propagates_tombstones)
{
    char out[1024];
    replay(JN_TT_INNER, scenario, SL_ARRAY_LEN(scenario), out, sizeof out);
    ASSERT_STREQ(out, "a={\"n\":1,\"p\":10};a={\"n\":2,\"p\":10};a={\"n\":2,\"p\":11};"
                      "a={\"n\":3,\"p\":11};a=null");
}

TEST(test_table_table_left_keeps_left_rows_without_right)
{
    char out[1024];
    replay(JN_TT_LEFT, scenario, SL_ARRAY_LEN(scenario), out, sizeof out);
    ASSERT_STREQ(out, "a={\"n\":1};a={\"n\":1,\"p\":10};a={\"n\":2,\"p\":10};"
                      "a={\"n\":2,\"p\":11};a={\"n\":3,\"p\":11};a={\"n\":3};a={\"n\":4};a=null");
}

TEST(test_table_table_outer_emits_either_side)
{
    static const rec_t recs[] = {
        {'R', "b", "{\"p\":5}"}, {'L', "b", "{\"n\":1}"}, {'L', "b", NULL},
        {'R', "b", NULL},        {'L', "c", NULL},
    };
    char out[1024];
    replay(JN_TT_OUTER, recs, SL_ARRAY_LEN(recs), out, sizeof out);
    ASSERT_STREQ(out, "b={\"p\":5};b={\"n\":1,\"p\":5};b={\"p\":5};b=null;c=null");
}

TEST(test_stream_records_are_never_stored)
{
    ASSERT_TRUE(!jn_side_stored(JN_ST_INNER, JN_LEFT));
    ASSERT_TRUE(!jn_side_stored(JN_ST_LEFT, JN_LEFT));
    ASSERT_TRUE(jn_side_stored(JN_ST_LEFT, JN_RIGHT));
    ASSERT_TRUE(jn_side_stored(JN_TT_OUTER, JN_LEFT));
    ASSERT_EQ(jn_decide(JN_ST_LEFT, JN_RIGHT, true, true), JN_EMIT_NONE);
    ASSERT_EQ(jn_decide(JN_ST_LEFT, JN_LEFT, false, true), JN_EMIT_NONE);
}

TEST(test_type_names_round_trip)
{
    for (int t = JN_ST_INNER; t <= JN_TT_OUTER; t++) {
        jn_type_t back;
        ASSERT_TRUE(jn_type_parse(jn_type_name((jn_type_t)t), &back));
        ASSERT_EQ(back, t);
    }
    jn_type_t x;
    ASSERT_TRUE(!jn_type_parse("inner", &x));
}

static int join_str(const jn_joiner_t *jn, const char *l, const char *r, char *out, size_t cap)
{
    sl_buf_t buf;
    sl_buf_init(&buf);
    char why[256];
    jn_bytes_t lb = {l, l ? strlen(l) : 0}, rb = {r, r ? strlen(r) : 0};
    int rc = jn_join(jn, lb, rb, &buf, why, sizeof why);
    snprintf(out, cap, "%.*s", rc == 0 ? (int)buf.len : (int)strlen(why),
             rc == 0 ? (const char *)buf.data : why);
    sl_buf_deinit(&buf);
    return rc;
}

TEST(test_merge_precedence_decides_clashes)
{
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    char out[256];
    ASSERT_EQ(join_str(&jn, "{\"id\":1,\"x\":\"l\"}", "{\"x\":\"r\",\"y\":2}", out, sizeof out), 0);
    ASSERT_STREQ(out, "{\"id\":1,\"x\":\"l\",\"y\":2}");
    jn.precedence = JN_RIGHT;
    ASSERT_EQ(join_str(&jn, "{\"id\":1,\"x\":\"l\"}", "{\"x\":\"r\",\"y\":2}", out, sizeof out), 0);
    ASSERT_STREQ(out, "{\"id\":1,\"x\":\"r\",\"y\":2}");
    ASSERT_EQ(join_str(&jn, NULL, "{\"y\":2}", out, sizeof out), 0);
    ASSERT_STREQ(out, "{\"y\":2}");
}

TEST(test_merge_rejects_non_objects_and_bad_json)
{
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    char out[256];
    ASSERT_EQ(join_str(&jn, "[1,2]", "{}", out, sizeof out), SL_EINVAL);
    ASSERT_TRUE(strstr(out, "not a JSON object") != NULL);
    ASSERT_EQ(join_str(&jn, "{\"a\":", NULL, out, sizeof out), SL_EINVAL);
    ASSERT_TRUE(strstr(out, "not JSON") != NULL);
    jn_bytes_t ok = {"{}", 2}, bad = {"7", 1};
    char why[128];
    ASSERT_EQ(jn_check(&jn, ok, why, sizeof why), 0);
    ASSERT_EQ(jn_check(&jn, bad, why, sizeof why), SL_EINVAL);
}

TEST(test_nest_puts_both_sides_under_names)
{
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    jn.mode = JN_MERGE_NEST;
    strcpy(jn.left_name, "details");
    strcpy(jn.right_name, "offer");
    char out[256];
    ASSERT_EQ(join_str(&jn, "{\"n\":1}", "[3]", out, sizeof out), 0);
    ASSERT_STREQ(out, "{\"details\":{\"n\":1},\"offer\":[3]}");
    ASSERT_EQ(join_str(&jn, "\"s\"", NULL, out, sizeof out), 0);
    ASSERT_STREQ(out, "{\"details\":\"s\",\"offer\":null}");
    ASSERT_EQ(join_str(&jn, "{bad", NULL, out, sizeof out), SL_EINVAL);
}

TEST(test_template_passes_raw_bytes)
{
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    jn.mode = JN_MERGE_TEMPLATE;
    strcpy(jn.template_text, "<{left}|{right}>");
    char out[256];
    ASSERT_EQ(join_str(&jn, "raw one", "x{y", out, sizeof out), 0);
    ASSERT_STREQ(out, "<raw one|x{y>");
    ASSERT_EQ(join_str(&jn, "a", NULL, out, sizeof out), 0);
    ASSERT_STREQ(out, "<a|>");
}

int main(void)
{
    RUN(test_stream_table_inner_emits_only_matches_on_stream_records);
    RUN(test_stream_table_left_emits_every_stream_record);
    RUN(test_table_table_inner_emits_on_both_sides_and_propagates_tombstones);
    RUN(test_table_table_left_keeps_left_rows_without_right);
    RUN(test_table_table_outer_emits_either_side);
    RUN(test_stream_records_are_never_stored);
    RUN(test_type_names_round_trip);
    RUN(test_merge_precedence_decides_clashes);
    RUN(test_merge_rejects_non_objects_and_bad_json);
    RUN(test_nest_puts_both_sides_under_names);
    RUN(test_template_passes_raw_bytes);
    TEST_MAIN_END();
}
