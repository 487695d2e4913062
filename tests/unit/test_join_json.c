/* The joiner's merge of two JSON objects: the fast path over kit_json's member spans and the
 * DOM path (jansson) give equal JSON. The scanner itself is tested in test_kit_json.c. */
#include "jnjoin.h"
#include "sl_common.h"
#include "sl_test.h"

#include <jansson.h>
#include <string.h>

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
    RUN(test_fast_merge_equals_dom_merge);
    TEST_MAIN_END();
}
