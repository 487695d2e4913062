/* kit_json, the services' JSON scanner: accepts exactly what jansson accepts (checked on a
 * vector of valid and invalid texts, whole and truncated byte by byte), records top-level
 * members as spans, declines escaped/duplicate keys, stops at the caller's depth, decodes the
 * strings it validated and measures UTF-8 sequences. */
#include "kit_json.h"
#include "sl_common.h"
#include "sl_test.h"

#include <jansson.h>
#include <stdio.h>
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
            bool want = jansson_ok(vectors[i], cut);
            bool got = kit_json_valid(vectors[i], cut, KIT_JSON_DEPTH_MAX);
            if (want != got) {
                SL_TEST_FAIL_("vector %zu cut %zu (%.*s): jansson %d scanner %d", i, cut,
                              (int)cut, vectors[i], want, got);
            }
        }
    }
}

TEST(test_scanner_records_members_and_declines_what_it_cannot_merge)
{
    kit_json_member_t m[KIT_JSON_MEMBERS_MAX];
    size_t n = 0;
    const char *o = "{ \"a\" : 1 , \"b\":{\"x\": [1, 2]} }";
    ASSERT_EQ(kit_json_object(o, strlen(o), KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_OK);
    ASSERT_EQ(n, 2);
    ASSERT_TRUE(m[0].key_len == 1 && m[0].key[0] == 'a' && m[0].val_len == 1);
    ASSERT_TRUE(m[1].val_len == strlen("{\"x\": [1, 2]}"));
    ASSERT_EQ(kit_json_object("[1]", 3, KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_NOT_OBJECT);
    ASSERT_EQ(kit_json_object("{\"a\":", 5, KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_INVALID);
    ASSERT_EQ(kit_json_object("{\"a\":1,\"a\":2}", 13, KIT_JSON_DEPTH_MAX, m, &n),
              KIT_JSON_COMPLEX);
    ASSERT_EQ(kit_json_object("{\"\\u0061\":1}", 12, KIT_JSON_DEPTH_MAX, m, &n),
              KIT_JSON_COMPLEX);
    char big[4096] = "{";
    for (int i = 0; i < KIT_JSON_MEMBERS_MAX; i++) { /* N members */
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    strcat(big, "}");
    ASSERT_EQ(kit_json_object(big, strlen(big), KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_OK);
    ASSERT_EQ(n, KIT_JSON_MEMBERS_MAX);
    big[strlen(big) - 1] = '\0'; /* N+1 */
    strcat(big, ",\"last\":1}");
    ASSERT_EQ(kit_json_object(big, strlen(big), KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_COMPLEX);
    char deep[2 * KIT_JSON_DEPTH_MAX + 4];
    memset(deep, '[', KIT_JSON_DEPTH_MAX);
    memset(deep + KIT_JSON_DEPTH_MAX, ']', KIT_JSON_DEPTH_MAX);
    ASSERT_TRUE(kit_json_valid(deep, 2 * KIT_JSON_DEPTH_MAX, KIT_JSON_DEPTH_MAX));
    memset(deep, '[', KIT_JSON_DEPTH_MAX + 1);
    memset(deep + KIT_JSON_DEPTH_MAX + 1, ']', KIT_JSON_DEPTH_MAX + 1);
    ASSERT_TRUE(!kit_json_valid(deep, 2 * KIT_JSON_DEPTH_MAX + 2, KIT_JSON_DEPTH_MAX));
    ASSERT_TRUE(!jansson_ok(deep, 2 * KIT_JSON_DEPTH_MAX + 2)); /* the same limit as jansson */
}

TEST(test_depth_limit_is_the_callers_at_n_and_n_plus_1)
{
    char deep[2 * 64 + 2];
    for (int depth = 63; depth <= 65; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        ASSERT_EQ(kit_json_valid(deep, 2 * (size_t)depth, 64), depth <= 64);
    }
    kit_json_member_t m[KIT_JSON_MEMBERS_MAX];
    size_t n = 0;
    ASSERT_EQ(kit_json_object("{\"a\":[[1]]}", 11, 3, m, &n), KIT_JSON_OK);
    ASSERT_EQ(kit_json_object("{\"a\":[[1]]}", 11, 2, m, &n), KIT_JSON_INVALID);
    ASSERT_TRUE(kit_json_valid("1", 1, 0)); /* a scalar nests nothing */
    ASSERT_TRUE(!kit_json_valid("[]", 2, 0));
}

TEST(test_complex_object_still_lists_its_members_in_text_order)
{
    kit_json_member_t m[KIT_JSON_MEMBERS_MAX];
    size_t n = 0;
    const char *o = " {\"id\":\"a\",\"ok\":true,\"id\":\"b\"}\r";
    ASSERT_EQ(kit_json_object(o, strlen(o), KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_COMPLEX);
    ASSERT_EQ(n, 3);
    ASSERT_TRUE(m[2].key_len == 2 && memcmp(m[2].val, "\"b\"", 3) == 0 && m[2].val_len == 3);
    ASSERT_EQ(kit_json_object("{\"a\":1} x", 10, KIT_JSON_DEPTH_MAX, m, &n), KIT_JSON_INVALID);
    ASSERT_EQ(n, 0);
}

TEST(test_unescape_decodes_escapes_pairs_and_reports_what_does_not_fit)
{
    const char *tok = "\"a\\n\\u00e9\\ud83d\\ude00\\/\\\"\"";
    ASSERT_TRUE(kit_json_valid(tok, strlen(tok), 1));
    char out[32];
    long n = kit_json_unescape(tok, strlen(tok), out, sizeof out);
    const char *want = "a\n\xc3\xa9\xf0\x9f\x98\x80/\"";
    ASSERT_EQ(n, (long)strlen(want));
    ASSERT_TRUE(strcmp(out, want) == 0);
    char small[4]; /* 3 bytes and the NUL: "a\n" and the first byte of U+00E9 */
    ASSERT_EQ(kit_json_unescape(tok, strlen(tok), small, sizeof small), -1);
    ASSERT_TRUE(memcmp(small, "a\n\xc3", 4) == 0);
    ASSERT_EQ(kit_json_unescape("\"\"", 2, small, sizeof small), 0);
    ASSERT_EQ(kit_json_unescape("\"abc\"", 5, small, sizeof small), 3); /* N fits */
    ASSERT_EQ(kit_json_unescape("\"abcd\"", 6, small, sizeof small), -1); /* N+1 does not */
}

TEST(test_utf8_len_accepts_sequences_and_refuses_bad_forms)
{
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a", 1, 1},           {"\xc3\xa9", 2, 2},         {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4}, {"\xc3", 1, 0},       {"\xc0\xaf", 2, 0},  /* overlong */
        {"\xe0\x80\xaf", 3, 0},   {"\xed\xa0\x80", 3, 0}, /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */    {"\xff", 1, 0},
        {"\xe2\x28\xa1", 3, 0}, {"", 0, 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        size_t got = kit_json_utf8_len((const unsigned char *)cases[i].s, cases[i].n);
        if (got != cases[i].want) {
            SL_TEST_FAIL_("case %zu: got %zu want %zu", i, got, cases[i].want);
        }
    }
}

int main(void)
{
    RUN(test_scanner_agrees_with_jansson_whole_and_truncated);
    RUN(test_scanner_records_members_and_declines_what_it_cannot_merge);
    RUN(test_depth_limit_is_the_callers_at_n_and_n_plus_1);
    RUN(test_complex_object_still_lists_its_members_in_text_order);
    RUN(test_unescape_decodes_escapes_pairs_and_reports_what_does_not_fit);
    RUN(test_utf8_len_accepts_sequences_and_refuses_bad_forms);
    TEST_MAIN_END();
}
