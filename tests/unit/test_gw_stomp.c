/* Unit tests for src/services/gateway/gw_stomp (frame decoder and encoder) and gw_cfg: frames
 * whole, truncated at every byte, several in one buffer, heart-beats, escapes, content-length
 * bodies with NULs, malformed input, the frame and header limits at N and N+1, and the
 * configuration's refusals. */
#include "gw_cfg.h"
#include "gw_stomp.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_MAX 1024

static int decode(const char *text, size_t len, gw_stomp_frame_t *f, size_t *used, uint8_t **keep)
{
    uint8_t *buf = malloc(len + 1);
    memcpy(buf, text, len);
    int hbs = 0;
    char why[128];
    int rc = gw_stomp_decode(buf, len, FRAME_MAX, f, used, &hbs, why, sizeof why);
    *keep = buf; /* the frame points into it */
    return rc;
}

static bool str_is(const gw_str_t *s, const char *want)
{
    return s && s->len == strlen(want) && memcmp(s->p, want, s->len) == 0;
}

TEST(test_decode_send_with_headers_and_body)
{
    static const char in[] = "SEND\ndestination:/accept\nreceipt:r-1\n\n{\"a\":1}";
    gw_stomp_frame_t f;
    size_t used = 0;
    uint8_t *buf;
    int rc = decode(in, sizeof in, &f, &used, &buf); /* sizeof includes the NUL */
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(f.cmd, GW_STOMP_SEND);
    ASSERT_EQ(f.nhdrs, 2);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "destination"), "/accept"));
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "receipt"), "r-1"));
    ASSERT_TRUE(gw_stomp_get(&f, "nope") == NULL);
    ASSERT_EQ(f.body.len, 7);
    ASSERT_MEMEQ(f.body.p, "{\"a\":1}", 7);
    ASSERT_EQ(used, sizeof in);
    free(buf);
}

TEST(test_decode_every_truncation_is_eagain)
{
    static const char in[] = "SUBSCRIBE\r\nid:0\r\ndestination:/sub/line/3\r\n\r\n";
    size_t n = sizeof in; /* with the NUL */
    for (size_t cut = 0; cut < n; cut++) {
        gw_stomp_frame_t f;
        size_t used = 0;
        uint8_t *buf;
        int rc = decode(in, cut, &f, &used, &buf);
        free(buf);
        ASSERT_EQ(rc, SL_EAGAIN);
    }
    gw_stomp_frame_t f;
    size_t used = 0;
    uint8_t *buf;
    ASSERT_EQ(decode(in, n, &f, &used, &buf), 0);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "destination"), "/sub/line/3")); /* CR stripped */
    free(buf);
}

TEST(test_decode_heartbeats_and_two_frames)
{
    static const char in[] = "\n\r\n\nACK\nid:1\n\n\0\n\nNACK\nid:2\n\n\0";
    uint8_t *buf = malloc(sizeof in);
    memcpy(buf, in, sizeof in);
    gw_stomp_frame_t f;
    size_t used = 0, pos = 0;
    int hbs = 0;
    char why[128];
    ASSERT_EQ(gw_stomp_decode(buf, sizeof in - 1, FRAME_MAX, &f, &used, &hbs, why, sizeof why), 0);
    ASSERT_EQ(hbs, 3);
    ASSERT_EQ(f.cmd, GW_STOMP_ACK);
    pos = used;
    ASSERT_EQ(gw_stomp_decode(buf + pos, sizeof in - 1 - pos, FRAME_MAX, &f, &used, &hbs, why,
                              sizeof why),
              0);
    ASSERT_EQ(f.cmd, GW_STOMP_NACK);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "id"), "2"));
    ASSERT_EQ(pos + used, sizeof in - 1);
    /* heart-beats alone: nothing to decode, all consumable */
    ASSERT_EQ(gw_stomp_decode(buf, 3, FRAME_MAX, &f, &used, &hbs, why, sizeof why), SL_EAGAIN);
    ASSERT_EQ(used, 3);
    ASSERT_EQ(hbs, 2);
    free(buf);
}

TEST(test_decode_escapes_and_first_header_wins)
{
    static const char in[] = "SEND\na\\cb:x\\\\y\\nz\\r\na\\cb:second\n\n\0";
    gw_stomp_frame_t f;
    size_t used = 0;
    uint8_t *buf;
    ASSERT_EQ(decode(in, sizeof in - 1, &f, &used, &buf), 0);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "a:b"), "x\\y\nz\r"));
    free(buf);
    static const char conn[] = "CONNECT\nlogin:a\\c\n\n\0"; /* CONNECT is not unescaped */
    ASSERT_EQ(decode(conn, sizeof conn - 1, &f, &used, &buf), 0);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "login"), "a\\c"));
    free(buf);
}

TEST(test_decode_content_length_body_holds_nul)
{
    static const char in[] = "SEND\ndestination:/a\ncontent-length:3\n\na\0b\0";
    gw_stomp_frame_t f;
    size_t used = 0;
    uint8_t *buf;
    ASSERT_EQ(decode(in, sizeof in - 1, &f, &used, &buf), 0);
    ASSERT_EQ(f.body.len, 3);
    ASSERT_MEMEQ(f.body.p, "a\0b", 3);
    free(buf);
    static const char nonul[] = "SEND\ncontent-length:1\n\nab\0";
    ASSERT_EQ(decode(nonul, sizeof nonul - 1, &f, &used, &buf), SL_ECORRUPT);
    free(buf);
}

TEST(test_decode_refuses_malformed)
{
    static const char *const bad[] = {
        "HELLO\n\n\0",               /* unknown command */
        "send\n\n\0",                /* commands are upper case */
        "SEND\nnocolon\n\n\0",       /* header without a colon */
        "SEND\n:value\n\n\0",        /* empty header name */
        "SEND\na:b\\t\n\n\0",        /* undefined escape */
        "SEND\na:b\\\n\n\0",         /* escape at the end */
        "SEND\ncontent-length:x\n\n\0",
        "SEND\ncontent-length:-1\n\n\0",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        gw_stomp_frame_t f;
        size_t used = 0;
        uint8_t *buf;
        int rc = decode(bad[i], strlen(bad[i]) + 1, &f, &used, &buf);
        free(buf);
        if (rc != SL_ECORRUPT && rc != SL_ELIMIT) {
            fprintf(stderr, "  input %zu accepted\n", i);
        }
        ASSERT_TRUE(rc == SL_ECORRUPT || rc == SL_ELIMIT);
    }
}

/* A SEND frame of exactly n bytes (NUL included). */
static char *frame_of(size_t n, size_t *len)
{
    static const char head[] = "SEND\ndestination:/a\n\n";
    size_t body = n - (sizeof head - 1) - 1;
    char *p = malloc(n);
    memcpy(p, head, sizeof head - 1);
    memset(p + sizeof head - 1, 'x', body);
    p[n - 1] = '\0';
    *len = n;
    return p;
}

TEST(test_frame_limit_at_n_and_n_plus_1)
{
    gw_stomp_frame_t f;
    size_t used = 0, len = 0;
    uint8_t *buf;
    char *ok = frame_of(FRAME_MAX, &len);
    ASSERT_EQ(decode(ok, len, &f, &used, &buf), 0);
    free(buf);
    free(ok);
    char *big = frame_of(FRAME_MAX + 1, &len);
    ASSERT_EQ(decode(big, len, &f, &used, &buf), SL_ELIMIT);
    free(buf);
    /* an over-long frame is refused as soon as FRAME_MAX bytes hold no end */
    ASSERT_EQ(decode(big, FRAME_MAX, &f, &used, &buf), SL_ELIMIT);
    free(buf);
    ASSERT_EQ(decode(big, FRAME_MAX - 1, &f, &used, &buf), SL_EAGAIN);
    free(buf);
    free(big);
    static const char cl[] = "SEND\ncontent-length:5000\n\n";
    ASSERT_EQ(decode(cl, sizeof cl - 1, &f, &used, &buf), SL_ELIMIT);
    free(buf);
}

TEST(test_header_count_limit_at_n_and_n_plus_1)
{
    for (int n = GW_STOMP_HEADERS_MAX; n <= GW_STOMP_HEADERS_MAX + 1; n++) {
        char text[FRAME_MAX];
        size_t len = (size_t)snprintf(text, sizeof text, "SEND\n");
        for (int i = 0; i < n; i++) {
            len += (size_t)snprintf(text + len, sizeof text - len, "h%d:v\n", i);
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "\n");
        text[len++] = '\0';
        gw_stomp_frame_t f;
        size_t used = 0;
        uint8_t *buf;
        int rc = decode(text, len, &f, &used, &buf);
        free(buf);
        ASSERT_EQ(rc, n == GW_STOMP_HEADERS_MAX ? 0 : SL_ELIMIT);
    }
}

TEST(test_encode_round_trip)
{
    gw_buf_t b;
    gw_buf_init(&b, 16);
    const char *hdrs[] = {"receipt-id", "a:b\nc\\", "x", "1", NULL};
    gw_stomp_encode(&b, GW_STOMP_RECEIPT, hdrs, "hi\0there", 8);
    ASSERT_EQ(b.p[b.len - 1], '\0');
    gw_stomp_frame_t f;
    size_t used = 0;
    int hbs = 0;
    char why[128];
    ASSERT_EQ(gw_stomp_decode(b.p + 16, b.len - 16, FRAME_MAX, &f, &used, &hbs, why, sizeof why),
              0);
    ASSERT_EQ(f.cmd, GW_STOMP_RECEIPT);
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "receipt-id"), "a:b\nc\\"));
    ASSERT_TRUE(str_is(gw_stomp_get(&f, "content-length"), "8"));
    ASSERT_EQ(f.body.len, 8);
    ASSERT_MEMEQ(f.body.p, "hi\0there", 8);
    ASSERT_EQ(used, b.len - 16);
    gw_buf_deinit(&b);
}

static int cfg_load(gw_cfg_t *cfg, const char *const *kv, char *err, size_t len)
{
    sl_props_t *p = sl_props_new();
    for (int i = 0; kv[i]; i++) {
        SL_ASSERT(sl_props_set_kv(p, kv[i]) == 0);
    }
    int rc = gw_cfg_load(cfg, p, err, len);
    sl_props_free(p);
    return rc;
}

TEST(test_cfg_routes_and_destinations)
{
    static gw_cfg_t cfg;
    char err[256] = "";
    const char *kv[] = {"route.alert.path=/alert", "route.alert.topic=an-alert",
                        "route.alert.fields=line:string,location:string,note:any?",
                        "route.alert.key=line", "route.alert.token=s3cret-s3cret-s3cret",
                        "dest.line.prefix=/sub/line/", "dest.line.topics=an-alert,an-accept",
                        "dest.line.filter=json:line", "dest.line.public=live",
                        "stomp.frame.max.bytes=2048", NULL};
    ASSERT_EQ(cfg_load(&cfg, kv, err, sizeof err), 0);
    ASSERT_EQ(cfg.nroutes, 1);
    ASSERT_STREQ(cfg.routes[0].topic, "an-alert");
    ASSERT_EQ(cfg.routes[0].nfields, 3);
    ASSERT_TRUE(cfg.routes[0].fields[2].optional);
    ASSERT_EQ(cfg.routes[0].fields[2].type, GW_JSON_ANY);
    ASSERT_TRUE(kit_tokens_match(&cfg.routes[0].tokens, "s3cret-s3cret-s3cret", 20));
    ASSERT_TRUE(!kit_tokens_match(&cfg.routes[0].tokens, "s3cret-s3cret-s3creT", 20));
    ASSERT_TRUE(cfg.dests[0].public_live && !cfg.dests[0].public_replay);
    ASSERT_TRUE(!cfg.topics_api); /* POST /topics/ is off unless enabled */
    ASSERT_EQ(cfg.ndests, 1);
    ASSERT_EQ(cfg.dests[0].ntopics, 2);
    ASSERT_STREQ(cfg.dests[0].field, "line");
    ASSERT_EQ(cfg.frame_bytes_max, 2048);
    ASSERT_EQ(cfg.send_bytes_max, 512 * 1024);
    ASSERT_EQ(cfg.send_time_ms, 10000);
}

TEST(test_cfg_refusals_name_the_key)
{
    static gw_cfg_t cfg;
    static const char *const bad[][2] = {
        {"nope=1", "unknown setting 'nope'"},
        {"route.a.path=alert", "route.a.path"},
        {"route.a.topic=bad topic", "route.a.topic"},
        {"route.a.fields=line:str", "route.a.fields"},
        {"route.a.color=red", "route.a.color"},
        {"dest.d.filter=value", "dest.d.filter"},
        {"stomp.frame.max.bytes=1023", "stomp.frame.max.bytes"},
        {"route.a.path=/a", "route.a"}, /* topic missing */
        {"route.a.token=short", "route.a.token"},
        {"dest.d.public=yes", "dest.d.public"},
        {"stomp.jwt.secret=too-short", "stomp.jwt.secret"},
        {"http.topics.enable=true", "http.topics.allow"}, /* enabled without an allow list */
        {"connections.max.per.ip=0", "connections.max.per.ip"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char err[256] = "";
        const char *kv[] = {bad[i][0], NULL};
        ASSERT_EQ(cfg_load(&cfg, kv, err, sizeof err), SL_EINVAL);
        ASSERT_TRUE(strncmp(err, bad[i][1], strlen(bad[i][1])) == 0);
    }
}

int main(void)
{
    RUN(test_decode_send_with_headers_and_body);
    RUN(test_decode_every_truncation_is_eagain);
    RUN(test_decode_heartbeats_and_two_frames);
    RUN(test_decode_escapes_and_first_header_wins);
    RUN(test_decode_content_length_body_holds_nul);
    RUN(test_decode_refuses_malformed);
    RUN(test_frame_limit_at_n_and_n_plus_1);
    RUN(test_header_count_limit_at_n_and_n_plus_1);
    RUN(test_encode_round_trip);
    RUN(test_cfg_routes_and_destinations);
    RUN(test_cfg_refusals_name_the_key);
    TEST_MAIN_END();
}
