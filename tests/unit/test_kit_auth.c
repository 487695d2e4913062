/* kit_auth: token lists (rotation, constant-time match, limits) and HS256 JWT verification
 * (signature before claims, alg pinned, exp/nbf, dest patterns), against tokens this test
 * signs with OpenSSL. */
#include "kit_auth.h"
#include "sl_common.h"
#include "sl_test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
#define NOW 1800000000

static void b64url(const uint8_t *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < n) {
            out[o++] = a[v >> 6 & 63];
        }
        if (i + 2 < n) {
            out[o++] = a[v & 63];
        }
    }
    out[o] = '\0';
}

/* header.payload.signature signed with key (HS256), into out. */
static void jwt_make(const char *hdr, const char *claims, const char *key, char *out)
{
    char h[1024], c[2048];
    b64url((const uint8_t *)hdr, strlen(hdr), h);
    b64url((const uint8_t *)claims, strlen(claims), c);
    int n = sprintf(out, "%s.%s", h, c);
    uint8_t mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)out, (size_t)n, mac, &len);
    out[n++] = '.';
    b64url(mac, len, out + n);
}

static int verify(const char *jwt, kit_jwt_t *out, char *why)
{
    return kit_jwt_verify((const uint8_t *)SECRET, strlen(SECRET), jwt, strlen(jwt), NOW, out,
                          why, 160);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

TEST(test_tokens_match_every_listed_token_and_nothing_else)
{
    kit_tokens_t t;
    char err[160] = "";
    ASSERT_EQ(kit_tokens_parse(&t, "k", "old-token-0123456789,new-token-0123456789", err,
                               sizeof err), 0);
    ASSERT_EQ(t.n, 2);
    ASSERT_TRUE(kit_tokens_match(&t, "old-token-0123456789", 20));
    ASSERT_TRUE(kit_tokens_match(&t, "new-token-0123456789", 20));
    ASSERT_TRUE(!kit_tokens_match(&t, "new-token-012345678", 19));
    ASSERT_TRUE(!kit_tokens_match(&t, "new-token-01234567890", 21));
    ASSERT_TRUE(!kit_tokens_match(&t, "", 0));
    ASSERT_EQ(kit_tokens_parse(&t, "k", "", err, sizeof err), 0);
    ASSERT_EQ(t.n, 0);
    ASSERT_TRUE(!kit_tokens_match(&t, "anything-at-all-here", 20));
}

TEST(test_tokens_are_named_and_found_by_digest)
{
    kit_tokens_t t;
    char err[160] = "";
    ASSERT_EQ(kit_tokens_parse(&t, "k", " shop:tok-one-0123456789 ,\ttok-two-0123456789 ", err,
                               sizeof err), 0);
    ASSERT_EQ(t.n, 2);
    ASSERT_STREQ(t.name[0], "shop");
    ASSERT_EQ(strlen(t.name[1]), 32u); /* 32 hex digits of the SHA-256 */
    uint8_t d[KIT_AUTH_DIGEST_BYTES];
    kit_tokens_digest("tok-two-0123456789", 18, d);
    ASSERT_EQ(kit_tokens_find(&t, d), 1);
    kit_tokens_digest("shop:tok-one-0123456789", 23, d); /* the name is not part of it */
    ASSERT_EQ(kit_tokens_find(&t, d), -1);
    ASSERT_EQ(kit_tokens_parse(&t, "k", "bad name:tok-one-0123456789", err, sizeof err),
              SL_EINVAL);
    ASSERT_STREQ(err, "k: a token name is 1..32 of [0-9A-Za-z_.-]");
    ASSERT_EQ(t.n, 0);
}

TEST(test_tokens_refuse_short_spaced_and_too_many_by_name)
{
    kit_tokens_t t;
    char err[160] = "";
    ASSERT_EQ(kit_tokens_parse(&t, "api.token", "short", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strncmp(err, "api.token:", 10) == 0);
    ASSERT_EQ(kit_tokens_parse(&t, "k", "0123456789abcdef,", err, sizeof err), 0); /* 15+1 */
    ASSERT_EQ(kit_tokens_parse(&t, "k", "0123456789abcde", err, sizeof err), SL_EINVAL);
    ASSERT_EQ(kit_tokens_parse(&t, "k", "0123456789 abcdef", err, sizeof err), SL_EINVAL);
    char list[KIT_AUTH_TOKENS_MAX * 20 + 32] = "";
    for (int i = 0; i <= KIT_AUTH_TOKENS_MAX; i++) {
        sprintf(list + strlen(list), "%stoken-number-%06d", i ? "," : "", i);
        int rc = kit_tokens_parse(&t, "k", list, err, sizeof err);
        ASSERT_EQ(rc, i < KIT_AUTH_TOKENS_MAX ? 0 : SL_EINVAL);
    }
    char id1[17], id2[17];
    kit_tokens_id("a", 1, id1);
    kit_tokens_id("b", 1, id2);
    ASSERT_EQ(strlen(id1), 16);
    ASSERT_TRUE(strcmp(id1, id2) != 0);
}

TEST(test_jwt_valid_token_gives_its_claims)
{
    char jwt[4096], why[160] = "";
    kit_jwt_t c;
    jwt_make(HS256, "{\"sub\":\"alice\",\"exp\":1800000060,\"dest\":[\"/sub/line/*\",\"/x\"]}",
             SECRET, jwt);
    ASSERT_TRUE(kit_jwt_shaped(jwt, strlen(jwt)));
    ASSERT_EQ(verify(jwt, &c, why), 0);
    ASSERT_STREQ(c.sub, "alice");
    ASSERT_EQ(c.exp_s, 1800000060);
    ASSERT_EQ(c.ndests, 2);
    ASSERT_TRUE(kit_jwt_allows(&c, "/sub/line/7"));
    ASSERT_TRUE(kit_jwt_allows(&c, "/x"));
    ASSERT_TRUE(!kit_jwt_allows(&c, "/y"));
    jwt_make(HS256, "{\"sub\":\"bob\",\"exp\":1800000060,\"dest\":\"/sub/line/2\"}", SECRET, jwt);
    ASSERT_EQ(verify(jwt, &c, why), 0);
    ASSERT_TRUE(kit_jwt_allows(&c, "/sub/line/2") && !kit_jwt_allows(&c, "/sub/line/3"));
    jwt_make(HS256, "{\"sub\":\"nodest\",\"exp\":1800000060}", SECRET, jwt);
    ASSERT_EQ(verify(jwt, &c, why), 0);
    ASSERT_TRUE(!kit_jwt_allows(&c, "/sub/line/2"));
}

TEST(test_jwt_refusals_say_why)
{
    static const struct {
        const char *hdr, *claims, *key, *why;
    } bad[] = {
        {HS256, "{\"sub\":\"a\",\"exp\":1800000060}", "another-secret-of-32-bytes-or-more!",
         "signature"},
        {"{\"alg\":\"none\"}", "{\"sub\":\"a\",\"exp\":1800000060}", SECRET, "HS256"},
        {"{\"alg\":\"HS512\"}", "{\"sub\":\"a\",\"exp\":1800000060}", SECRET, "HS256"},
        {"{\"alg\":\"HS256\",\"crit\":[\"x\"]}", "{\"sub\":\"a\",\"exp\":1800000060}", SECRET,
         "HS256"},
        {HS256, "{\"sub\":\"a\",\"exp\":1800000000}", SECRET, "expired"},  /* exp == now */
        {HS256, "{\"sub\":\"a\"}", SECRET, "exp"},
        {HS256, "{\"exp\":1800000060}", SECRET, "sub"},
        {HS256, "{\"sub\":\"a\",\"exp\":1800000060,\"nbf\":1800000001}", SECRET, "nbf"},
        {HS256, "{\"sub\":\"a\",\"exp\":1800000060,\"dest\":7}", SECRET, "dest"},
        {HS256, "{\"sub\":\"a\",\"exp\":1800000060,\"dest\":[\"*a*b*c*d*e\"]}", SECRET, "*"},
        {HS256, "[1,2]", SECRET, "JSON"},
        {HS256, "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1800000060}", SECRET, "JSON"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char jwt[4096], why[160] = "";
        kit_jwt_t c;
        jwt_make(bad[i].hdr, bad[i].claims, bad[i].key, jwt);
        ASSERT_EQ(verify(jwt, &c, why), SL_EINVAL);
        if (!strstr(why, bad[i].why)) {
            fprintf(stderr, "case %zu: %s\n", i, why);
        }
        ASSERT_TRUE(strstr(why, bad[i].why) != NULL);
    }
}

TEST(test_jwt_malformed_and_tampered_tokens_are_refused)
{
    char jwt[4096], why[160] = "";
    kit_jwt_t c;
    static const char *const shapes[] = {"", "a.b", "a.b.c.d", "a.b.c!", "....", "a..b"};
    for (size_t i = 0; i < SL_ARRAY_LEN(shapes); i++) {
        ASSERT_EQ(verify(shapes[i], &c, why), SL_EINVAL);
    }
    jwt_make(HS256, "{\"sub\":\"a\",\"exp\":1800000060,\"dest\":\"/a\"}", SECRET, jwt);
    ASSERT_EQ(verify(jwt, &c, why), 0);
    /* every single-character change is refused (or leaves an equal token) */
    size_t n = strlen(jwt);
    for (size_t i = 0; i < n; i++) {
        char orig = jwt[i];
        jwt[i] = orig == 'A' ? 'B' : 'A';
        int rc = verify(jwt, &c, why);
        jwt[i] = orig;
        if (rc == 0) { /* only the last char's unused low bits may change nothing */
            ASSERT_EQ(i, n - 1);
        }
    }
    char big[KIT_AUTH_JWT_BYTES_MAX + 2];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = big[20] = '.';
    ASSERT_TRUE(!kit_jwt_shaped(big, strlen(big)));
    ASSERT_EQ(verify(big, &c, why), SL_EINVAL);
}

int main(void)
{
    RUN(test_tokens_match_every_listed_token_and_nothing_else);
    RUN(test_tokens_are_named_and_found_by_digest);
    RUN(test_tokens_refuse_short_spaced_and_too_many_by_name);
    RUN(test_jwt_valid_token_gives_its_claims);
    RUN(test_jwt_refusals_say_why);
    RUN(test_jwt_malformed_and_tampered_tokens_are_refused);
    return 0;
}
