/* Unit tests of the SASL server mechanisms (src/net/sasl.c): PBKDF2, SCRAM-SHA-256 against the
 * RFC 7677 example, SCRAM-SHA-512 round trip, PLAIN against stored SCRAM entries, and message
 * parsing whole, truncated and byte by byte. */
#include "sl_test.h"
#include "sl_common.h"
#include "snet_sasl.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char rfc_user_pw[] = "pencil";
static const char rfc_salt_b64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
static const char rfc_client_first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char rfc_snonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
static const char rfc_server_first[] = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                       "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char rfc_client_final[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char rfc_server_final[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

typedef struct {
    snet_mech_t mech;
    snet_scram_cred_t cred;
    int lookups;
} test_store_t;

static int test_lookup(void *ctx, snet_mech_t mech, const char *user, snet_scram_cred_t *out)
{
    test_store_t *st = ctx;
    st->lookups++;
    if (strcmp(user, "user") != 0 || mech != st->mech) {
        return -5004;
    }
    *out = st->cred;
    return 0;
}

static void rfc_store(test_store_t *st)
{
    uint8_t salt[32];
    int n = snet_b64_decode(rfc_salt_b64, strlen(rfc_salt_b64), salt, sizeof salt);
    memset(st, 0, sizeof *st);
    st->mech = SNET_MECH_SCRAM_SHA_256;
    snet_scram_cred_derive(st->mech, rfc_user_pw, 6, salt, (size_t)n, 4096, &st->cred);
}

/* One step; returns the rc and leaves the response (NUL-terminated copy) in out. */
static int step(snet_sasl_t *sasl, const char *tok, size_t len, char *out, size_t cap)
{
    uint8_t *resp;
    size_t rlen;
    const char *why = NULL;
    int rc = snet_sasl_step(sasl, (const uint8_t *)tok, len, &resp, &rlen, &why);
    if (rc == SNET_SASL_VERIFY) { /* the broker runs this on its verifier thread */
        SL_ASSERT(resp == NULL);
        snet_sasl_verify(sasl);
        rc = snet_sasl_finish(sasl, &resp, &rlen, &why);
    }
    if (out) {
        out[0] = '\0';
    }
    if (resp) {
        if (out) {
            snprintf(out, cap, "%.*s", (int)rlen, (const char *)resp);
        }
        free(resp);
    }
    if (rc < 0 && !why) {
        return -9999; /* a failure must say why */
    }
    return rc;
}

TEST(test_pbkdf2_sha256_matches_known_vectors)
{
    static const uint8_t want1[32] = {
        0x12, 0x0f, 0xb6, 0xcf, 0xfc, 0xf8, 0xb3, 0x2c, 0x43, 0xe7, 0x22, 0x52, 0x56, 0xc4, 0xf8, 0x37,
        0xa8, 0x65, 0x48, 0xc9, 0x2c, 0xcc, 0x35, 0x48, 0x08, 0x05, 0x98, 0x7c, 0xb7, 0x0b, 0xe1, 0x7b};
    static const uint8_t want4096[32] = {
        0xc5, 0xe4, 0x78, 0xd5, 0x92, 0x88, 0xc8, 0x41, 0xaa, 0x53, 0x0d, 0xb6, 0x84, 0x5c, 0x4c, 0x8d,
        0x96, 0x28, 0x93, 0xa0, 0x01, 0xce, 0x4e, 0x11, 0xa4, 0x96, 0x38, 0x73, 0xaa, 0x98, 0x13, 0x4a};
    uint8_t out[64];
    ASSERT_EQ(snet_scram_pbkdf2(SNET_MECH_SCRAM_SHA_256, "password", 8, (const uint8_t *)"salt", 4,
                                1, out), 0);
    ASSERT_MEMEQ(out, want1, 32);
    ASSERT_EQ(snet_scram_pbkdf2(SNET_MECH_SCRAM_SHA_256, "password", 8, (const uint8_t *)"salt", 4,
                                4096, out), 0);
    ASSERT_MEMEQ(out, want4096, 32);
    ASSERT_EQ(snet_scram_pbkdf2(SNET_MECH_PLAIN, "password", 8, (const uint8_t *)"salt", 4, 1, out),
              -5006);
}

TEST(test_scram_sha256_answers_the_rfc7677_example)
{
    test_store_t st;
    rfc_store(&st);
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    snet_sasl_set_nonce(sasl, rfc_snonce);
    char out[512];
    ASSERT_EQ(step(sasl, rfc_client_first, strlen(rfc_client_first), out, sizeof out),
              SNET_SASL_CONTINUE);
    ASSERT_STREQ(out, rfc_server_first);
    ASSERT_STREQ(snet_sasl_user(sasl), "");
    ASSERT_EQ(step(sasl, rfc_client_final, strlen(rfc_client_final), out, sizeof out),
              SNET_SASL_DONE);
    ASSERT_STREQ(out, rfc_server_final);
    ASSERT_STREQ(snet_sasl_user(sasl), "user");
    /* nothing more is accepted once done */
    ASSERT_EQ(step(sasl, "x", 1, NULL, 0), -5006);
    snet_sasl_free(sasl);
}

TEST(test_scram_rejects_a_wrong_proof)
{
    test_store_t st;
    rfc_store(&st);
    snet_scram_cred_derive(st.mech, "pencil2", 7, st.cred.salt, st.cred.salt_len, 4096, &st.cred);
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    snet_sasl_set_nonce(sasl, rfc_snonce);
    ASSERT_EQ(step(sasl, rfc_client_first, strlen(rfc_client_first), NULL, 0), SNET_SASL_CONTINUE);
    ASSERT_EQ(step(sasl, rfc_client_final, strlen(rfc_client_final), NULL, 0), -5009);
    snet_sasl_free(sasl);
}

TEST(test_scram_answers_an_unknown_user_like_a_known_one_and_fails_at_the_proof)
{
    test_store_t st;
    rfc_store(&st);
    char out1[256], out2[256];
    const char *first = "n,,n=nobody,r=abc";
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    snet_sasl_set_nonce(sasl, "srv");
    ASSERT_EQ(step(sasl, first, strlen(first), out1, sizeof out1), SNET_SASL_CONTINUE);
    ASSERT_TRUE(strstr(out1, ",i=4096") != NULL); /* a salt and iterations, as for a user */
    snet_sasl_free(sasl);
    sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    snet_sasl_set_nonce(sasl, "srv");
    ASSERT_EQ(step(sasl, first, strlen(first), out2, sizeof out2), SNET_SASL_CONTINUE);
    ASSERT_STREQ(out1, out2); /* the same salt every time: asking twice does not tell */
    const char *final = "c=biws,r=abcsrv,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    ASSERT_EQ(step(sasl, final, strlen(final), NULL, 0), -5009);
    snet_sasl_free(sasl);
}

static double plain_seconds(test_store_t *st, const char *tok, size_t len, int rounds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < rounds; i++) {
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_PLAIN, test_lookup, st);
        SL_ASSERT(step(sasl, tok, len, NULL, 0) == -5009);
        snet_sasl_free(sasl);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

TEST(test_plain_costs_the_same_for_an_unknown_user)
{
    test_store_t st;
    rfc_store(&st); /* "user" with 4096 iterations */
    const char known[] = "\0user\0wrong", unknown[] = "\0nobody\0wrong";
    double k = plain_seconds(&st, known, sizeof known - 1, 20);
    double u = plain_seconds(&st, unknown, sizeof unknown - 1, 20);
    fprintf(stderr, "  PLAIN failure: known user %.2f ms, unknown %.2f ms\n", k * 50, u * 50);
    ASSERT_TRUE(u > k / 3); /* was 50 times cheaper: no PBKDF2 at all */
}

TEST(test_scram_rejects_channel_binding_and_foreign_authzid)
{
    test_store_t st;
    rfc_store(&st);
    const char *bad[] = {"p=tls-unique,,n=user,r=abc", "n,a=other,n=user,r=abc", "n,,n=us=3x,r=a",
                         "n,,m=ext,n=user,r=abc", "n,,n=user,r=", "n,,n=,r=abc", "x,,n=user,r=a"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
        int rc = step(sasl, bad[i], strlen(bad[i]), NULL, 0);
        snet_sasl_free(sasl);
        if (rc >= 0) {
            SL_TEST_FAIL_("accepted '%s'", bad[i]);
        }
    }
    /* an escaped name and a matching authzid are fine */
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    ASSERT_EQ(step(sasl, "y,a=user,n=user,r=abc,ext=1", 27, NULL, 0), SNET_SASL_CONTINUE);
    snet_sasl_free(sasl);
}

/* Every truncation of either message fails (or, for the first, stays a valid shorter message)
 * and never crashes; every single-byte change of the final message fails. */
TEST(test_scram_messages_truncated_and_mutated_never_succeed)
{
    test_store_t st;
    rfc_store(&st);
    size_t n1 = strlen(rfc_client_first), n2 = strlen(rfc_client_final);
    for (size_t cut = 0; cut < n1; cut++) {
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
        snet_sasl_set_nonce(sasl, rfc_snonce);
        int rc = step(sasl, rfc_client_first, cut, NULL, 0);
        ASSERT_TRUE(rc == SNET_SASL_CONTINUE || rc == -5006);
        if (rc == SNET_SASL_CONTINUE) {
            /* a shorter client nonce: the RFC's final message no longer matches */
            ASSERT_TRUE(step(sasl, rfc_client_final, n2, NULL, 0) < 0);
        }
        snet_sasl_free(sasl);
    }
    for (size_t cut = 0; cut < n2; cut++) {
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
        snet_sasl_set_nonce(sasl, rfc_snonce);
        ASSERT_EQ(step(sasl, rfc_client_first, n1, NULL, 0), SNET_SASL_CONTINUE);
        ASSERT_TRUE(step(sasl, rfc_client_final, cut, NULL, 0) < 0);
        snet_sasl_free(sasl);
    }
    char buf[256];
    for (size_t i = 0; i < n2; i++) {
        memcpy(buf, rfc_client_final, n2);
        buf[i] = buf[i] == 'A' ? 'B' : 'A';
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
        snet_sasl_set_nonce(sasl, rfc_snonce);
        ASSERT_EQ(step(sasl, rfc_client_first, n1, NULL, 0), SNET_SASL_CONTINUE);
        int rc = step(sasl, buf, n2, NULL, 0);
        snet_sasl_free(sasl);
        if (rc >= 0) {
            SL_TEST_FAIL_("mutation at %zu accepted", i);
        }
    }
}

/* librdkafka sends its client nonce again in front of the combined nonce; Kafka accepts a
 * final nonce that ends with the server's, and so do we (the proof covers the bytes sent). A
 * nonce that only starts with it, or misses a byte, is refused. */
TEST(test_scram_final_nonce_may_repeat_the_client_nonce_in_front)
{
    test_store_t st;
    rfc_store(&st);
    const char *bad[] = {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0X,p=AAAA",
                         "c=biws,r=OprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
                         "c=biws,r=,p=AAAA", "c=biws,p=AAAA", "r=x,c=biws,p=AAAA"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
        snet_sasl_set_nonce(sasl, rfc_snonce);
        ASSERT_EQ(step(sasl, rfc_client_first, strlen(rfc_client_first), NULL, 0),
                  SNET_SASL_CONTINUE);
        ASSERT_EQ(step(sasl, bad[i], strlen(bad[i]), NULL, 0), -5006);
        snet_sasl_free(sasl);
    }
    /* the repeated prefix reaches the proof check: a proof computed for other bytes fails */
    const char *longer = "c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
                         "hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_SCRAM_SHA_256, test_lookup, &st);
    snet_sasl_set_nonce(sasl, rfc_snonce);
    ASSERT_EQ(step(sasl, rfc_client_first, strlen(rfc_client_first), NULL, 0), SNET_SASL_CONTINUE);
    ASSERT_EQ(step(sasl, longer, strlen(longer), NULL, 0), -5009);
    snet_sasl_free(sasl);
}

/* A client for SCRAM-SHA-512 computed here from the RFC's formulas, against the server. */
TEST(test_scram_sha512_round_trip_with_a_computed_client)
{
    test_store_t st;
    memset(&st, 0, sizeof st);
    st.mech = SNET_MECH_SCRAM_SHA_512;
    ASSERT_EQ(snet_scram_cred_new(st.mech, "s3cret", 6, 4096, &st.cred), 0);
    snet_sasl_t *sasl = snet_sasl_new(st.mech, test_lookup, &st);
    const char *first = "n,,n=user,r=clientnonce123";
    char sfirst[512];
    ASSERT_EQ(step(sasl, first, strlen(first), sfirst, sizeof sfirst), SNET_SASL_CONTINUE);
    ASSERT_TRUE(strncmp(sfirst, "r=clientnonce123", 16) == 0);
    char nonce[128];
    const char *comma = strchr(sfirst, ',');
    snprintf(nonce, sizeof nonce, "%.*s", (int)(comma - sfirst - 2), sfirst + 2);
    uint8_t salted[64], ckey[64], skey[64], sig[64], proof[64];
    unsigned int hl;
    snet_scram_pbkdf2(st.mech, "s3cret", 6, st.cred.salt, st.cred.salt_len, 4096, salted);
    HMAC(EVP_sha512(), salted, 64, (const uint8_t *)"Client Key", 10, ckey, &hl);
    EVP_Digest(ckey, 64, skey, &hl, EVP_sha512(), NULL);
    char without[256], auth[1024], final[512], p64[100];
    snprintf(without, sizeof without, "c=biws,r=%s", nonce);
    snprintf(auth, sizeof auth, "%s,%s,%s", first + 3, sfirst, without);
    HMAC(EVP_sha512(), skey, 64, (const uint8_t *)auth, strlen(auth), sig, &hl);
    for (int i = 0; i < 64; i++) {
        proof[i] = ckey[i] ^ sig[i];
    }
    snet_b64_encode(proof, 64, p64);
    snprintf(final, sizeof final, "%s,p=%s", without, p64);
    char sfinal[256];
    ASSERT_EQ(step(sasl, final, strlen(final), sfinal, sizeof sfinal), SNET_SASL_DONE);
    ASSERT_TRUE(strncmp(sfinal, "v=", 2) == 0);
    ASSERT_STREQ(snet_sasl_user(sasl), "user");
    snet_sasl_free(sasl);
}

TEST(test_plain_checks_the_password_against_the_scram_entry)
{
    test_store_t st;
    rfc_store(&st);
    const char ok[] = "\0user\0pencil", authz[] = "user\0user\0pencil", bad[] = "\0user\0pencil!";
    const char other[] = "admin\0user\0pencil", two[] = "user\0pencil", none[] = "\0nobody\0x";
    snet_sasl_t *sasl = snet_sasl_new(SNET_MECH_PLAIN, test_lookup, &st);
    ASSERT_EQ(step(sasl, ok, sizeof ok - 1, NULL, 0), SNET_SASL_DONE);
    ASSERT_STREQ(snet_sasl_user(sasl), "user");
    snet_sasl_free(sasl);
    sasl = snet_sasl_new(SNET_MECH_PLAIN, test_lookup, &st);
    ASSERT_EQ(step(sasl, authz, sizeof authz - 1, NULL, 0), SNET_SASL_DONE);
    snet_sasl_free(sasl);
    const struct {
        const char *tok;
        size_t len;
        int rc;
    } fails[] = {{bad, sizeof bad - 1, -5009},   {other, sizeof other - 1, -5009},
                 {two, sizeof two - 1, -5006},   {none, sizeof none - 1, -5009},
                 {"", 0, -5006},                 {"\0\0", 2, -5006}};
    for (size_t i = 0; i < SL_ARRAY_LEN(fails); i++) {
        sasl = snet_sasl_new(SNET_MECH_PLAIN, test_lookup, &st);
        ASSERT_EQ(step(sasl, fails[i].tok, fails[i].len, NULL, 0), fails[i].rc);
        ASSERT_STREQ(snet_sasl_user(sasl), "");
        snet_sasl_free(sasl);
    }
}

TEST(test_base64_round_trips_and_rejects_bad_input)
{
    uint8_t in[10] = {0, 1, 2, 250, 251, 252, 253, 254, 255, 7}, out[16];
    char enc[32];
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t e = snet_b64_encode(in, n, enc);
        ASSERT_EQ(e, (n + 2) / 3 * 4);
        ASSERT_EQ(snet_b64_decode(enc, e, out, sizeof out), (int)n);
        ASSERT_MEMEQ(out, in, n);
    }
    ASSERT_EQ(snet_b64_decode("abc", 3, out, sizeof out), -1);
    ASSERT_EQ(snet_b64_decode("a=bc", 4, out, sizeof out), -1);
    ASSERT_EQ(snet_b64_decode("ab!c", 4, out, sizeof out), -1);
    ASSERT_EQ(snet_b64_decode("AAAAAAAA", 8, out, 5), -1);
}

TEST(test_cred_iterations_outside_kafka_bounds_are_refused)
{
    snet_scram_cred_t cred;
    ASSERT_EQ(snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "x", 1, 4095, &cred), -5006);
    ASSERT_EQ(snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "x", 1, 16385, &cred), -5006);
    ASSERT_EQ(snet_scram_cred_new(SNET_MECH_SCRAM_SHA_256, "x", 1, 4096, &cred), 0);
    ASSERT_TRUE(snet_scram_cred_check(SNET_MECH_SCRAM_SHA_256, &cred, "x", 1));
    ASSERT_TRUE(!snet_scram_cred_check(SNET_MECH_SCRAM_SHA_256, &cred, "y", 1));
}

int main(void)
{
    RUN(test_pbkdf2_sha256_matches_known_vectors);
    RUN(test_scram_sha256_answers_the_rfc7677_example);
    RUN(test_scram_rejects_a_wrong_proof);
    RUN(test_scram_answers_an_unknown_user_like_a_known_one_and_fails_at_the_proof);
    RUN(test_plain_costs_the_same_for_an_unknown_user);
    RUN(test_scram_rejects_channel_binding_and_foreign_authzid);
    RUN(test_scram_messages_truncated_and_mutated_never_succeed);
    RUN(test_scram_final_nonce_may_repeat_the_client_nonce_in_front);
    RUN(test_scram_sha512_round_trip_with_a_computed_client);
    RUN(test_plain_checks_the_password_against_the_scram_entry);
    RUN(test_base64_round_trips_and_rejects_bad_input);
    RUN(test_cred_iterations_outside_kafka_bounds_are_refused);
    TEST_MAIN_END();
}
