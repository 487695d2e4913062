/* SASL server exchanges: PLAIN (RFC 4616: "authzid NUL user NUL password") and SCRAM
 * (RFC 5802 with SHA-256/512 as RFC 7677 and Kafka name them):
 *
 *   client-first  gs2-header client-first-bare   "n,," "n=user,r=cnonce[,ext]"
 *   server-first  "r=cnonce+snonce,s=base64(salt),i=iterations"
 *   client-final  "c=base64(gs2-header),r=cnonce+snonce[,ext],p=base64(ClientProof)"
 *   server-final  "v=base64(ServerSignature)"
 *
 * Channel binding ("p=") is refused, as Kafka does; "y" and "n" are accepted. */
#include "snet_sasl.h"
#include "sl_common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SASL_FIRST, SASL_FINAL, SASL_VERIFY, SASL_DONE, SASL_FAILED } snet_sasl_state_t;

struct snet_sasl {
    snet_mech_t mech;
    snet_sasl_state_t state;
    snet_sasl_lookup_fn lookup;
    void *ctx;
    char user[SNET_SASL_USER_BYTES_MAX + 1];
    char fixed_nonce[64];
    snet_scram_cred_t cred;
    char *gs2_header;        /* "n,," or "n,a=authzid," */
    char *client_first_bare; /* "n=user,r=cnonce..." */
    char *server_first;
    char *nonce; /* cnonce + snonce */
    bool unknown;   /* the user has no credential: a dummy one stands in, and it fails */
    snet_mech_t verify_mech;   /* PLAIN: the SCRAM entry its password is checked against */
    char *password;            /* PLAIN, until verified (cleansed) */
    size_t password_len;
    bool verified;             /* snet_sasl_verify's result */
};

/* ---- the stand-in credential of unknown users ----
 * An unknown user costs what a known one does (PLAIN runs PBKDF2 with the same iteration
 * count against it; SCRAM answers server-first with a salt derived from the name, so asking
 * twice gives the same answer) and fails only where a wrong password would: timing and
 * answers do not tell which users exist. */
static uint8_t snet__dummy_secret[32];
static pthread_once_t snet__dummy_once = PTHREAD_ONCE_INIT;

static void snet__dummy_init(void)
{
    if (RAND_bytes(snet__dummy_secret, sizeof snet__dummy_secret) != 1) {
        memset(snet__dummy_secret, 0x5a, sizeof snet__dummy_secret); /* still fails: unknown */
    }
}

static void snet__dummy_cred(snet_mech_t mech, const char *user, snet_scram_cred_t *out)
{
    pthread_once(&snet__dummy_once, snet__dummy_init);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), snet__dummy_secret, sizeof snet__dummy_secret, (const uint8_t *)user,
         strlen(user), mac, &mac_len);
    memset(out, 0, sizeof *out);
    out->salt_len = SNET_SCRAM_SALT_BYTES;
    memcpy(out->salt, mac, SL_MIN((size_t)mac_len, (size_t)SNET_SCRAM_SALT_BYTES));
    out->iterations = SNET_SCRAM_ITERATIONS_DUMMY;
    HMAC(EVP_sha512(), snet__dummy_secret, sizeof snet__dummy_secret, mac, mac_len,
         out->stored_key, &mac_len);
    memcpy(out->server_key, out->stored_key, sizeof out->server_key);
    SL_UNUSED(mech);
}

static const char *const snet__mech_names[SNET_MECH_COUNT] = {
    [SNET_MECH_PLAIN] = "PLAIN",
    [SNET_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [SNET_MECH_SCRAM_SHA_512] = "SCRAM-SHA-512",
};

static const char snet__bad_scram_256[] = "Authentication failed during authentication due to "
                                          "invalid credentials with SASL mechanism SCRAM-SHA-256";
static const char snet__bad_scram_512[] = "Authentication failed during authentication due to "
                                          "invalid credentials with SASL mechanism SCRAM-SHA-512";
static const char snet__bad_plain[] = "Authentication failed: Invalid username or password";

bool snet_mech_parse(const char *name, size_t len, snet_mech_t *out)
{
    for (int m = 0; m < SNET_MECH_COUNT; m++) {
        if (strlen(snet__mech_names[m]) == len && memcmp(snet__mech_names[m], name, len) == 0) {
            *out = (snet_mech_t)m;
            return true;
        }
    }
    return false;
}

const char *snet_mech_name(snet_mech_t mech)
{
    return mech < SNET_MECH_COUNT ? snet__mech_names[mech] : "?";
}

bool snet_mech_is_scram(snet_mech_t mech)
{
    return mech == SNET_MECH_SCRAM_SHA_256 || mech == SNET_MECH_SCRAM_SHA_512;
}

size_t snet_scram_digest_len(snet_mech_t mech)
{
    return mech == SNET_MECH_SCRAM_SHA_512 ? 64 : 32;
}

static const EVP_MD *snet__md(snet_mech_t mech)
{
    return mech == SNET_MECH_SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

/* ---- base64 ---- */

static const char snet__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t snet_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        v |= i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0;
        v |= i + 2 < n ? in[i + 2] : 0;
        out[o++] = snet__b64[(v >> 18) & 63];
        out[o++] = snet__b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? snet__b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? snet__b64[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int snet__b64_val(char c)
{
    const char *p = c ? strchr(snet__b64, c) : NULL;
    return p ? (int)(p - snet__b64) : -1;
}

int snet_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0) {
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = snet__b64_val(in[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        int bytes = 3 - pad;
        if (o + (size_t)bytes > cap) {
            return -1;
        }
        out[o++] = (uint8_t)(x >> 16);
        if (bytes > 1) {
            out[o++] = (uint8_t)(x >> 8);
        }
        if (bytes > 2) {
            out[o++] = (uint8_t)x;
        }
    }
    return (int)o;
}

/* ---- credentials ---- */

int snet_scram_pbkdf2(snet_mech_t mech, const char *password, size_t password_len,
                      const uint8_t *salt, size_t salt_len, int32_t iterations, uint8_t *out)
{
    if (!snet_mech_is_scram(mech) || iterations < 1 || salt_len > SNET_SCRAM_SALT_BYTES_MAX ||
        password_len > SNET_SASL_PASSWORD_BYTES_MAX) {
        return SL_EINVAL;
    }
    int ok = PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations,
                               snet__md(mech), (int)snet_scram_digest_len(mech), out);
    return ok == 1 ? 0 : SL_EINVAL;
}

static void snet__hmac(snet_mech_t mech, const uint8_t *key, size_t key_len, const void *msg,
                       size_t msg_len, uint8_t *out)
{
    unsigned int n = 0;
    HMAC(snet__md(mech), key, (int)key_len, msg, msg_len, out, &n);
}

static void snet__hash(snet_mech_t mech, const uint8_t *in, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    EVP_Digest(in, len, out, &n, snet__md(mech), NULL);
}

int snet_scram_cred_derive(snet_mech_t mech, const char *password, size_t password_len,
                           const uint8_t *salt, size_t salt_len, int32_t iterations,
                           snet_scram_cred_t *out)
{
    if (iterations < SNET_SCRAM_ITERATIONS_MIN || iterations > SNET_SCRAM_ITERATIONS_MAX ||
        salt_len == 0) {
        return SL_EINVAL;
    }
    uint8_t salted[64];
    size_t dlen = snet_scram_digest_len(mech);
    int rc = snet_scram_pbkdf2(mech, password, password_len, salt, salt_len, iterations, salted);
    if (rc != 0) {
        return rc;
    }
    rc = snet_scram_cred_from_salted(mech, salted, dlen, salt, salt_len, iterations, out);
    OPENSSL_cleanse(salted, sizeof salted);
    return rc;
}

int snet_scram_cred_from_salted(snet_mech_t mech, const uint8_t *salted, size_t salted_len,
                                const uint8_t *salt, size_t salt_len, int32_t iterations,
                                snet_scram_cred_t *out)
{
    if (!snet_mech_is_scram(mech) || iterations < SNET_SCRAM_ITERATIONS_MIN ||
        iterations > SNET_SCRAM_ITERATIONS_MAX || salt_len == 0 ||
        salt_len > SNET_SCRAM_SALT_BYTES_MAX || salted_len > SNET_SCRAM_SALTED_BYTES_MAX) {
        return SL_EINVAL;
    }
    uint8_t client_key[64];
    size_t dlen = snet_scram_digest_len(mech);
    memset(out, 0, sizeof *out);
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    snet__hmac(mech, salted, salted_len, "Client Key", 10, client_key);
    snet__hash(mech, client_key, dlen, out->stored_key);
    snet__hmac(mech, salted, salted_len, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return 0;
}

int snet_scram_cred_new(snet_mech_t mech, const char *password, size_t password_len,
                        int32_t iterations, snet_scram_cred_t *out)
{
    uint8_t salt[SNET_SCRAM_SALT_BYTES];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        return SL_EINVAL;
    }
    return snet_scram_cred_derive(mech, password, password_len, salt, sizeof salt, iterations,
                                  out);
}

bool snet_scram_cred_check(snet_mech_t mech, const snet_scram_cred_t *cred, const char *password,
                           size_t password_len)
{
    snet_scram_cred_t got;
    if (snet_scram_cred_derive(mech, password, password_len, cred->salt, cred->salt_len,
                               cred->iterations, &got) != 0) {
        return false;
    }
    return CRYPTO_memcmp(got.stored_key, cred->stored_key, snet_scram_digest_len(mech)) == 0;
}

/* ---- the exchange ---- */

snet_sasl_t *snet_sasl_new(snet_mech_t mech, snet_sasl_lookup_fn lookup, void *ctx)
{
    snet_sasl_t *sasl = sl_xcalloc(1, sizeof *sasl);
    sasl->mech = mech;
    sasl->lookup = lookup;
    sasl->ctx = ctx;
    return sasl;
}

void snet_sasl_free(snet_sasl_t *sasl)
{
    if (!sasl) {
        return;
    }
    OPENSSL_cleanse(&sasl->cred, sizeof sasl->cred);
    free(sasl->gs2_header);
    free(sasl->client_first_bare);
    free(sasl->server_first);
    free(sasl->nonce);
    if (sasl->password) {
        OPENSSL_cleanse(sasl->password, sasl->password_len);
        free(sasl->password);
    }
    free(sasl);
}

void snet_sasl_set_nonce(snet_sasl_t *sasl, const char *nonce)
{
    size_t n = strlen(nonce);
    if (n < sizeof sasl->fixed_nonce && !strchr(nonce, ',')) {
        memcpy(sasl->fixed_nonce, nonce, n + 1);
    }
}

const char *snet_sasl_user(const snet_sasl_t *sasl)
{
    return sasl->state == SASL_DONE ? sasl->user : "";
}

static uint8_t *snet__dup_resp(const char *s, size_t *len)
{
    *len = strlen(s);
    uint8_t *p = sl_xmalloc(*len + 1);
    memcpy(p, s, *len + 1);
    return p;
}

/* Decodes a SCRAM saslname ("=2C" is ',', "=3D" is '=') into out (NUL-terminated). */
static bool snet__saslname(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '=') {
            if (n - i < 3) {
                return false;
            }
            if (memcmp(p + i + 1, "2C", 2) == 0) {
                c = ',';
            } else if (memcmp(p + i + 1, "3D", 2) == 0) {
                c = '=';
            } else {
                return false;
            }
            i += 2;
        } else if (c == ',' || c == '\0') {
            return false;
        }
        if (o + 1 >= cap) {
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o > 0;
}

/* A printable nonce without ',' (RFC 5802 "printable"). */
static bool snet__nonce_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',') {
            return false;
        }
    }
    return n > 0;
}

static int snet__fail(snet_sasl_t *sasl, int rc, const char *why, const char **out_why)
{
    sasl->state = SASL_FAILED;
    *out_why = why;
    return rc;
}

static const char *snet__bad_creds(const snet_sasl_t *sasl)
{
    return sasl->mech == SNET_MECH_SCRAM_SHA_512 ? snet__bad_scram_512 : snet__bad_scram_256;
}

/* client-first-message: parse, look up the user, answer server-first. */
#define SNET__SNONCE_BUF 64 /* 24 random bytes in base64, or a test's fixed nonce */

/* The server's part of the nonce: 24 random bytes in base64 (or the fixed one of a test). */
static bool snet__server_nonce(const snet_sasl_t *sasl, char out[SNET__SNONCE_BUF])
{
    if (sasl->fixed_nonce[0]) {
        snprintf(out, SNET__SNONCE_BUF, "%s", sasl->fixed_nonce);
        return true;
    }
    uint8_t raw[24];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        return false;
    }
    snet_b64_encode(raw, sizeof raw, out);
    return true;
}

static int snet__scram_first(snet_sasl_t *sasl, const char *msg, size_t len, uint8_t **resp,
                             size_t *resp_len, const char **why)
{
    /* gs2-header: cbind-flag "," [authzid] "," */
    if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        return snet__fail(sasl, SL_EINVAL,
                          len >= 1 && msg[0] == 'p' ? "Channel binding is not supported"
                                                    : "Invalid SCRAM client first message",
                          why);
    }
    const char *comma = memchr(msg + 2, ',', len - 2);
    if (!comma) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client first message", why);
    }
    char authzid[SNET_SASL_USER_BYTES_MAX + 1] = "";
    size_t alen = (size_t)(comma - (msg + 2));
    if (alen > 0 && (alen < 3 || memcmp(msg + 2, "a=", 2) != 0 ||
                     !snet__saslname(msg + 4, alen - 2, authzid, sizeof authzid))) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client first message", why);
    }
    size_t gs2_len = (size_t)(comma + 1 - msg);
    const char *bare = comma + 1;
    size_t bare_len = len - gs2_len;
    /* client-first-bare: "n=" saslname ",r=" nonce ["," extensions] */
    if (bare_len < 2 || memcmp(bare, "n=", 2) != 0) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client first message", why);
    }
    const char *uend = memchr(bare, ',', bare_len);
    if (!uend || !snet__saslname(bare + 2, (size_t)(uend - bare - 2), sasl->user,
                                 sizeof sasl->user)) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client first message", why);
    }
    const char *r = uend + 1;
    size_t rest = bare_len - (size_t)(r - bare);
    if (rest < 3 || memcmp(r, "r=", 2) != 0) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client first message", why);
    }
    const char *rend = memchr(r, ',', rest);
    size_t cnonce_len = rend ? (size_t)(rend - r - 2) : rest - 2;
    if (!snet__nonce_ok(r + 2, cnonce_len)) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM client nonce", why);
    }
    if (authzid[0] && strcmp(authzid, sasl->user) != 0) {
        return snet__fail(sasl, SL_ECLOSED,
                          "Authentication failed: Client requested an authorization id that is "
                          "different from username", why);
    }
    if (sasl->lookup(sasl->ctx, sasl->mech, sasl->user, &sasl->cred) != 0) {
        sasl->unknown = true; /* fails at client-final, like a wrong password */
        snet__dummy_cred(sasl->mech, sasl->user, &sasl->cred);
    }
    char snonce[SNET__SNONCE_BUF];
    if (!snet__server_nonce(sasl, snonce)) {
        return snet__fail(sasl, SL_EINVAL, "No randomness", why);
    }
    size_t nlen = cnonce_len + strlen(snonce);
    sasl->nonce = sl_xmalloc(nlen + 1);
    memcpy(sasl->nonce, r + 2, cnonce_len);
    memcpy(sasl->nonce + cnonce_len, snonce, strlen(snonce) + 1);
    sasl->gs2_header = sl_xstrndup(msg, gs2_len);
    sasl->client_first_bare = sl_xstrndup(bare, bare_len);
    char salt[SNET_SCRAM_SALT_BYTES_MAX * 2];
    snet_b64_encode(sasl->cred.salt, sasl->cred.salt_len, salt);
    size_t cap = nlen + strlen(salt) + 32;
    sasl->server_first = sl_xmalloc(cap);
    snprintf(sasl->server_first, cap, "r=%s,s=%s,i=%d", sasl->nonce, salt,
             (int)sasl->cred.iterations);
    *resp = snet__dup_resp(sasl->server_first, resp_len);
    sasl->state = SASL_FINAL;
    return SNET_SASL_CONTINUE;
}

/* Finds attribute "k=" as a whole comma-separated field of msg; sets *v, *vlen. */
static bool snet__attr(const char *msg, size_t len, char k, const char **v, size_t *vlen)
{
    size_t i = 0;
    while (i < len) {
        const char *end = memchr(msg + i, ',', len - i);
        size_t flen = end ? (size_t)(end - (msg + i)) : len - i;
        if (flen >= 2 && msg[i] == k && msg[i + 1] == '=') {
            *v = msg + i + 2;
            *vlen = flen - 2;
            return true;
        }
        i += flen + 1;
    }
    return false;
}

/* client-final-message: check channel binding, nonce and proof; answer server-final. */
static int snet__scram_final(snet_sasl_t *sasl, const char *msg, size_t len, uint8_t **resp,
                             size_t *resp_len, const char **why)
{
    static const char bad[] = "Invalid SCRAM client final message";
    /* The proof is the last attribute: client-final-message-without-proof "," proof. */
    const char *p = NULL;
    for (size_t i = len; i-- > 0;) {
        if (msg[i] == ',') {
            p = msg + i;
            break;
        }
    }
    if (!p || (size_t)(msg + len - p) < 3 || memcmp(p, ",p=", 3) != 0) {
        return snet__fail(sasl, SL_EINVAL, bad, why);
    }
    size_t without_len = (size_t)(p - msg);
    const char *c, *r;
    size_t clen, rlen;
    if (without_len < 2 || memcmp(msg, "c=", 2) != 0 ||
        !snet__attr(msg, without_len, 'c', &c, &clen) ||
        !snet__attr(msg, without_len, 'r', &r, &rlen)) {
        return snet__fail(sasl, SL_EINVAL, bad, why);
    }
    uint8_t cbind[SNET_SASL_USER_BYTES_MAX + 16];
    int cb = snet_b64_decode(c, clen, cbind, sizeof cbind);
    if (cb < 0 || (size_t)cb != strlen(sasl->gs2_header) ||
        memcmp(cbind, sasl->gs2_header, (size_t)cb) != 0) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM channel binding", why);
    }
    /* Kafka's ScramSaslServer accepts a nonce that ends with the server's (librdkafka sends
     * the client nonce once more in front of it); the proof covers the bytes as sent. */
    size_t nlen = strlen(sasl->nonce);
    if (rlen < nlen || memcmp(r + rlen - nlen, sasl->nonce, nlen) != 0) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM nonce", why);
    }
    size_t dlen = snet_scram_digest_len(sasl->mech);
    uint8_t proof[64];
    int plen = snet_b64_decode(p + 3, (size_t)(msg + len - p - 3), proof, sizeof proof);
    if (plen != (int)dlen) {
        return snet__fail(sasl, SL_EINVAL, bad, why);
    }
    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    size_t a1 = strlen(sasl->client_first_bare), a2 = strlen(sasl->server_first);
    size_t alen = a1 + 1 + a2 + 1 + without_len;
    char *auth = sl_xmalloc(alen);
    memcpy(auth, sasl->client_first_bare, a1);
    auth[a1] = ',';
    memcpy(auth + a1 + 1, sasl->server_first, a2);
    auth[a1 + 1 + a2] = ',';
    memcpy(auth + a1 + a2 + 2, msg, without_len);
    uint8_t sig[64], client_key[64], stored[64], server_sig[64];
    snet__hmac(sasl->mech, sasl->cred.stored_key, dlen, auth, alen, sig);
    for (size_t i = 0; i < dlen; i++) {
        client_key[i] = proof[i] ^ sig[i];
    }
    snet__hash(sasl->mech, client_key, dlen, stored);
    bool ok = CRYPTO_memcmp(stored, sasl->cred.stored_key, dlen) == 0;
    snet__hmac(sasl->mech, sasl->cred.server_key, dlen, auth, alen, server_sig);
    free(auth);
    if (!ok || sasl->unknown) {
        return snet__fail(sasl, SL_ECLOSED, snet__bad_creds(sasl), why);
    }
    char v[2 + 90];
    memcpy(v, "v=", 2);
    snet_b64_encode(server_sig, dlen, v + 2);
    *resp = snet__dup_resp(v, resp_len);
    sasl->state = SASL_DONE;
    return SNET_SASL_DONE;
}

static int snet__plain(snet_sasl_t *sasl, const char *msg, size_t len, uint8_t **resp,
                       size_t *resp_len, const char **why)
{
    const char *nul1 = memchr(msg, '\0', len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg)) : NULL;
    if (!nul2 || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - msg))) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SASL/PLAIN response: expected 3 tokens", why);
    }
    size_t alen = (size_t)(nul1 - msg), ulen = (size_t)(nul2 - nul1 - 1);
    size_t plen = len - (size_t)(nul2 + 1 - msg);
    if (ulen == 0 || plen == 0) {
        return snet__fail(sasl, SL_EINVAL, "Authentication failed: username or password not "
                                           "specified", why);
    }
    if (ulen > SNET_SASL_USER_BYTES_MAX || plen > SNET_SASL_PASSWORD_BYTES_MAX) {
        return snet__fail(sasl, SL_ECLOSED, snet__bad_plain, why);
    }
    memcpy(sasl->user, nul1 + 1, ulen);
    sasl->user[ulen] = '\0';
    if (alen > 0 && (alen != ulen || memcmp(msg, sasl->user, ulen) != 0)) {
        return snet__fail(sasl, SL_ECLOSED, "Authentication failed: Client requested an "
                                            "authorization id that is different from username",
                          why);
    }
    snet_mech_t mech = SNET_MECH_SCRAM_SHA_512;
    if (sasl->lookup(sasl->ctx, mech, sasl->user, &sasl->cred) != 0) {
        mech = SNET_MECH_SCRAM_SHA_256;
        if (sasl->lookup(sasl->ctx, mech, sasl->user, &sasl->cred) != 0) {
            /* checked as the first lookup would have been: PBKDF2 over SHA-512 */
            mech = SNET_MECH_SCRAM_SHA_512;
            sasl->unknown = true;
            snet__dummy_cred(mech, sasl->user, &sasl->cred);
        }
    }
    /* The password check (PBKDF2) is left to snet_sasl_verify, which may run elsewhere. */
    sasl->verify_mech = mech;
    sasl->password = sl_xstrndup(nul2 + 1, plen);
    sasl->password_len = plen;
    sasl->state = SASL_VERIFY;
    return SNET_SASL_VERIFY;
}

void snet_sasl_verify(snet_sasl_t *sasl)
{
    if (sasl->state != SASL_VERIFY || !sasl->password) {
        return;
    }
    bool ok = snet_scram_cred_check(sasl->verify_mech, &sasl->cred, sasl->password,
                                    sasl->password_len);
    sasl->verified = ok && !sasl->unknown;
}

int snet_sasl_finish(snet_sasl_t *sasl, uint8_t **resp, size_t *resp_len, const char **why)
{
    *resp = NULL;
    *resp_len = 0;
    if (sasl->state != SASL_VERIFY) {
        return snet__fail(sasl, SL_EINVAL, "Unexpected SASL state", why);
    }
    if (sasl->password) {
        OPENSSL_cleanse(sasl->password, sasl->password_len);
        free(sasl->password);
        sasl->password = NULL;
    }
    if (!sasl->verified) {
        return snet__fail(sasl, SL_ECLOSED, snet__bad_plain, why);
    }
    *resp = snet__dup_resp("", resp_len);
    sasl->state = SASL_DONE;
    return SNET_SASL_DONE;
}

int snet_sasl_step(snet_sasl_t *sasl, const uint8_t *tok, size_t len, uint8_t **resp,
                   size_t *resp_len, const char **why)
{
    *resp = NULL;
    *resp_len = 0;
    if (sasl->state == SASL_DONE || sasl->state == SASL_FAILED || sasl->state == SASL_VERIFY) {
        return snet__fail(sasl, SL_EINVAL, "Unexpected SASL token after the exchange ended", why);
    }
    if (len > SNET_SASL_TOKEN_BYTES_MAX) {
        return snet__fail(sasl, SL_EINVAL, "SASL token too large", why);
    }
    const char *msg = (const char *)tok;
    if (sasl->mech == SNET_MECH_PLAIN) {
        return snet__plain(sasl, msg, len, resp, resp_len, why);
    }
    if (memchr(msg, '\0', len)) {
        return snet__fail(sasl, SL_EINVAL, "Invalid SCRAM message: NUL byte", why);
    }
    if (sasl->state == SASL_FIRST) {
        return snet__scram_first(sasl, msg, len, resp, resp_len, why);
    }
    return snet__scram_final(sasl, msg, len, resp, resp_len, why);
}
