/* The JSON scanner of the joiner's fast path: accepts exactly what jansson accepts (checked on
 * a vector of valid and invalid texts, whole and truncated byte by byte), records top-level
 * members as spans, declines escaped/duplicate keys, and merges the same as the DOM path. */
#include "jnjoin.h"
#include "jnjson.h"
#include "sl_common.h"
#include "sl_test.h"

#include <jansson.h>
#include <string.h>

static const char *const vectors[] = {
    "{}", "[]", "0", "-0", "1.5e+3", "-12.0E-2", "\"\"", "\"a\\u00e9\\n\"", "true", "false",
    "null", " { \"a\" : [1, {\"b\": null}] , \"c\":\"\xc3\xa9\" } ", "{\"k\":\"\xf0\x9f\x98\x80\"}",
    "[[[[]]]]", "{\"a\":1,}", "{\"a\" 1}", "[1,]", "01", "1.", ".5", "-", "1e", "tru", "nul",
    "\"\\x\"", "\"\\u12g4\"", "\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
    "{\"a\":1}}", "{\"a\":1} x", "", "   ", "{\"a\"}", "[1 2]", "\"unterminated", "{1:2}",
    /* \u escapes of surrogates: a pair is one code point; a lone one is refused (fuzz find) */
    "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00x\"", "\"\\udddd\"", "\"\\ud83d\"", "\"\\ud83dx\"",
    "\"\\ud83d\\u0041\"", "\"\\ud83d\\n\"", "{\"\\udddd--\":1}",
    /* U+0000: jansson (JSON_ALLOW_NUL) takes it in values, never in keys (fuzz find) */
    "{\"a\":\"\\u0000\"}", "[\"x\\u0000\"]", "{\"a\\u0000b\":1}", "{\"x\":{\"\\u0000\":1}}",
};

static bool jansson_ok(const char *p, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_decref(o);
    return o != NULL;
}

TEST(test_scanner_agrees_with_jansson_whole_and_truncated)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(vectors); i++) {
        size_t len = strlen(vectors[i]);
        for (size_t cut = 0; cut <= len; cut++) {
            bool want = jansson_ok(vectors[i], cut), got = jnjson_valid(vectors[i], cut);
            if (want != got) {
                SL_TEST_FAIL_("vector %zu cut %zu (%.*s): jansson %d scanner %d", i, cut,
                              (int)cut, vectors[i], want, got);
            }
        }
    }
}

TEST(test_scanner_records_members_and_declines_what_it_cannot_merge)
{
    jnjson_member_t m[JNJSON_MEMBERS_MAX];
    size_t n = 0;
    const char *o = "{ \"a\" : 1 , \"b\":{\"x\": [1, 2]} }";
    ASSERT_EQ(jnjson_object(o, strlen(o), m, &n), JNJSON_OK);
    ASSERT_EQ(n, 2);
    ASSERT_TRUE(m[0].key_len == 1 && m[0].key[0] == 'a' && m[0].val_len == 1);
    ASSERT_TRUE(m[1].val_len == strlen("{\"x\": [1, 2]}"));
    ASSERT_EQ(jnjson_object("[1]", 3, m, &n), JNJSON_NOT_OBJECT);
    ASSERT_EQ(jnjson_object("{\"a\":", 5, m, &n), JNJSON_INVALID);
    ASSERT_EQ(jnjson_object("{\"a\":1,\"a\":2}", 13, m, &n), JNJSON_COMPLEX);
    ASSERT_EQ(jnjson_object("{\"\\u0061\":1}", 12, m, &n), JNJSON_COMPLEX);
    char big[4096] = "{";
    for (int i = 0; i < JNJSON_MEMBERS_MAX; i++) { /* N members */
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    strcat(big, "}");
    ASSERT_EQ(jnjson_object(big, strlen(big), m, &n), JNJSON_OK);
    ASSERT_EQ(n, JNJSON_MEMBERS_MAX);
    big[strlen(big) - 1] = '\0'; /* N+1 */
    strcat(big, ",\"last\":1}");
    ASSERT_EQ(jnjson_object(big, strlen(big), m, &n), JNJSON_COMPLEX);
    char deep[2 * JNJSON_DEPTH_MAX + 4];
    memset(deep, '[', JNJSON_DEPTH_MAX);
    memset(deep + JNJSON_DEPTH_MAX, ']', JNJSON_DEPTH_MAX);
    ASSERT_TRUE(jnjson_valid(deep, 2 * JNJSON_DEPTH_MAX));
    memset(deep, '[', JNJSON_DEPTH_MAX + 1);
    memset(deep + JNJSON_DEPTH_MAX + 1, ']', JNJSON_DEPTH_MAX + 1);
    ASSERT_TRUE(!jnjson_valid(deep, 2 * JNJSON_DEPTH_MAX + 2));
    ASSERT_TRUE(!jansson_ok(deep, 2 * JNJSON_DEPTH_MAX + 2)); /* the same limit as jansson */
}

/* The fast and DOM merge paths give equal JSON (the DOM path is taken for duplicate keys). */
TEST(test_fast_merge_equals_dom_merge)
{
    static const char *const pairs[][2] = {
        {"{\"a\":1,\"b\":[1, 2],\"c\":{\"d\":\"x\"}}", "{\"b\":3,\"e\":null}"},
        {"{}", "{\"a\":1}"},
        {"{\"a\":\"\xc3\xa9\"}", "{\"a\":2,\"a\":3}"}, /* right has a duplicate: DOM path */
    };
    for (int prec = 0; prec < 2; prec++) {
        jn_joiner_t jn;
        jn_joiner_init(&jn);
        jn.precedence = prec ? JN_RIGHT : JN_LEFT;
        for (size_t i = 0; i < SL_ARRAY_LEN(pairs); i++) {
            sl_buf_t buf;
            sl_buf_init(&buf);
            char why[128];
            jn_bytes_t l = {pairs[i][0], strlen(pairs[i][0])}, r = {pairs[i][1], strlen(pairs[i][1])};
            ASSERT_EQ(jn_join(&jn, l, r, &buf, why, sizeof why), 0);
            json_error_t jerr;
            json_t *got = json_loadb((const char *)buf.data, buf.len, 0, &jerr);
            json_t *lo = json_loads(pairs[i][0], 0, &jerr), *ro = json_loads(pairs[i][1], 0, &jerr);
            if (prec) {
                json_object_update(lo, ro);
            } else {
                json_object_update_missing(lo, ro);
            }
            bool eq = got && json_equal(got, lo);
            json_decref(got);
            json_decref(lo);
            json_decref(ro);
            sl_buf_deinit(&buf);
            ASSERT_TRUE(eq);
        }
    }
}

int main(void)
{
    RUN(test_scanner_agrees_with_jansson_whole_and_truncated);
    RUN(test_scanner_records_members_and_declines_what_it_cannot_merge);
    RUN(test_fast_merge_equals_dom_merge);
    TEST_MAIN_END();
}
