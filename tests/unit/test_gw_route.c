/* Unit tests for the gateway's route shape check and key (gw_route_check, gw_route_key in
 * src/services/gateway/gw_http.c): required, optional and typed fields, unknown fields, bodies
 * that are not JSON objects, and the field each refusal names. */
#include "gw_int.h"
#include "sl_test.h"

#include <string.h>

static gw_route_t route(void)
{
    gw_route_t r;
    memset(&r, 0, sizeof r);
    strcpy(r.path, "/alert");
    strcpy(r.topic, "an-alert");
    strcpy(r.key_field, "line");
    r.nfields = 3;
    r.fields[0] = (gw_field_t){"line", GW_JSON_STRING, false};
    r.fields[1] = (gw_field_t){"floor", GW_JSON_INTEGER, false};
    r.fields[2] = (gw_field_t){"note", GW_JSON_STRING, true};
    return r;
}

/* The field named by a refusal of body, or "" when it passes. */
static const char *refusal(const gw_route_t *r, const char *body)
{
    static char field[80];
    char why[256];
    json_t *o = gw_route_check(r, body, strlen(body), field, sizeof field, why, sizeof why);
    if (o) {
        json_decref(o);
        return "";
    }
    return field;
}

TEST(test_route_accepts_required_and_optional_fields)
{
    gw_route_t r = route();
    ASSERT_STREQ(refusal(&r, "{\"line\":\"3\",\"floor\":2}"), "");
    ASSERT_STREQ(refusal(&r, "{\"line\":\"3\",\"floor\":2,\"note\":\"smoke\"}"), "");
}

TEST(test_route_refusals_name_the_field)
{
    gw_route_t r = route();
    ASSERT_STREQ(refusal(&r, "{\"floor\":2}"), "line");               /* missing */
    ASSERT_STREQ(refusal(&r, "{\"line\":3,\"floor\":2}"), "line");    /* wrong type */
    ASSERT_STREQ(refusal(&r, "{\"line\":\"3\",\"floor\":2.5}"), "floor");
    ASSERT_STREQ(refusal(&r, "{\"line\":\"3\",\"floor\":2,\"note\":1}"), "note");
    ASSERT_STREQ(refusal(&r, "{\"line\":\"3\",\"floor\":2,\"x\":1}"), "x"); /* unknown */
    ASSERT_STREQ(refusal(&r, "[1,2]"), "body");
    ASSERT_STREQ(refusal(&r, "{\"line\":"), "body");
    ASSERT_STREQ(refusal(&r, ""), "body");
}

TEST(test_route_without_fields_takes_any_object)
{
    gw_route_t r = route();
    r.nfields = 0;
    ASSERT_STREQ(refusal(&r, "{\"anything\":[1]}"), "");
    ASSERT_STREQ(refusal(&r, "\"text\""), "body");
}

TEST(test_route_key_from_string_or_integer_field)
{
    gw_route_t r = route();
    char key[8];
    json_t *o = json_loads("{\"line\":\"B-12\"}", 0, NULL);
    ASSERT_EQ(gw_route_key(&r, o, key, sizeof key), 4);
    ASSERT_STREQ(key, "B-12");
    json_decref(o);
    o = json_loads("{\"line\":1234567890}", 0, NULL);
    ASSERT_EQ(gw_route_key(&r, o, key, sizeof key), 7); /* cut to the buffer */
    json_decref(o);
    o = json_loads("{\"line\":true}", 0, NULL);
    ASSERT_EQ(gw_route_key(&r, o, key, sizeof key), 0);
    json_decref(o);
}

int main(void)
{
    RUN(test_route_accepts_required_and_optional_fields);
    RUN(test_route_refusals_name_the_field);
    RUN(test_route_without_fields_takes_any_object);
    RUN(test_route_key_from_string_or_integer_field);
    TEST_MAIN_END();
}
