/* kit_auth (kit_auth.h): token lists as SHA-256 digests, and HS256 JSON Web Tokens. */
#include "kit_auth.h"

#include "sl_common.h"

#include <fnmatch.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static void kit__sha256(const void *p, size_t len, uint8_t out[KIT_AUTH_DIGEST_BYTES])
{
    SHA256(p, len, out);
}

static bool kit__name_ok(const char *p, size_t len)
{
    bool ok = len > 0 && len <= KIT_AUTH_NAME_BYTES_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        char c = p[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '_' || c == '-' || c == '.';
    }
    return ok;
}

/* One trimmed entry [p, p + n): "name:token" or a bare token. */
static int kit__token_add(kit_tokens_t *t, const char *key, const char *p, size_t n, char *err,
                          size_t len)
{
    const char *colon = memchr(p, ':', n);
    const char *name = colon ? p : NULL;
    size_t name_len = colon ? (size_t)(colon - p) : 0;
    if (colon) {
        n -= name_len + 1;
        p = colon + 1;
        if (!kit__name_ok(name, name_len)) {
            snprintf(err, len, "%s: a token name is 1..%d of [0-9A-Za-z_.-]", key,
                     KIT_AUTH_NAME_BYTES_MAX);
            return SL_EINVAL;
        }
    }
    if (t->n == KIT_AUTH_TOKENS_MAX) {
        snprintf(err, len, "%s: at most %d tokens", key, KIT_AUTH_TOKENS_MAX);
        return SL_EINVAL;
    }
    if (n < KIT_AUTH_TOKEN_BYTES_MIN || n > KIT_AUTH_TOKEN_BYTES_MAX) {
        snprintf(err, len, "%s: a token has %d..%d bytes (got %zu); generate one with "
                 "`openssl rand -hex 32`", key, KIT_AUTH_TOKEN_BYTES_MIN, KIT_AUTH_TOKEN_BYTES_MAX,
                 n);
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f) {
            snprintf(err, len, "%s: tokens are printable ASCII without spaces", key);
            return SL_EINVAL;
        }
    }
    kit__sha256(p, n, t->digest[t->n]);
    if (name) {
        memcpy(t->name[t->n], name, name_len);
        t->name[t->n][name_len] = '\0';
    } else {
        for (int i = 0; i < 16; i++) {
            snprintf(t->name[t->n] + 2 * i, 3, "%02x", t->digest[t->n][i]);
        }
    }
    t->n++;
    return 0;
}

int kit_tokens_parse(kit_tokens_t *t, const char *key, const char *list, char *err, size_t len)
{
    memset(t, 0, sizeof *t);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (n > 0 && (*q == ' ' || *q == '\t')) {
            q++, n--;
        }
        while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t')) {
            n--;
        }
        if (n > 0 && kit__token_add(t, key, q, n, err, len) != 0) {
            t->n = 0;
            return SL_EINVAL;
        }
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

int kit_tokens_find(const kit_tokens_t *t, const uint8_t digest[KIT_AUTH_DIGEST_BYTES])
{
    int hit = -1;
    for (int i = 0; i < t->n; i++) { /* no early exit: every entry is compared */
        int eq = CRYPTO_memcmp(digest, t->digest[i], KIT_AUTH_DIGEST_BYTES) == 0;
        hit = eq ? i : hit;
    }
    return hit;
}

void kit_tokens_digest(const void *given, size_t len, uint8_t out[KIT_AUTH_DIGEST_BYTES])
{
    kit__sha256(given, len, out);
}

bool kit_tokens_has(const kit_tokens_t *t, const uint8_t digest[KIT_AUTH_DIGEST_BYTES])
{
    return kit_tokens_find(t, digest) >= 0;
}

bool kit_tokens_match(const kit_tokens_t *t, const void *given, size_t len)
{
    uint8_t d[KIT_AUTH_DIGEST_BYTES];
    kit__sha256(given, len, d);
    return kit_tokens_has(t, d) && len > 0;
}

void kit_tokens_id(const void *token, size_t len, char out[17])
{
    uint8_t d[KIT_AUTH_DIGEST_BYTES];
    kit__sha256(token, len, d);
    for (int i = 0; i < 8; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

/* ---- JWT ---- */

static int kit__b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes unpadded base64url (len bytes) into out (cap >= len * 3 / 4 + 1). Returns the
 * decoded length, or -1 on a character outside the alphabet or an impossible length. */
static long kit__b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 == 1 || len / 4 * 3 + 3 > cap) {
        return -1;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = kit__b64url_val((unsigned char)s[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)n;
}

bool kit_jwt_shaped(const char *s, size_t len)
{
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            dots++;
        } else if (kit__b64url_val((unsigned char)s[i]) < 0) {
            return false;
        }
    }
    return dots == 2 && len <= KIT_AUTH_JWT_BYTES_MAX;
}

static int kit__fail(char *why, size_t why_len, const char *reason)
{
    snprintf(why, why_len, "%s", reason);
    return SL_EINVAL;
}

/* Decodes part [p, p + n) as a JSON object. */
static json_t *kit__json_part(const char *p, size_t n)
{
    uint8_t buf[KIT_AUTH_JWT_BYTES_MAX];
    long got = kit__b64url_decode(p, n, buf, sizeof buf);
    return got < 0 ? NULL : json_loadb((const char *)buf, (size_t)got, JSON_REJECT_DUPLICATES,
                                        NULL);
}

static int kit__jwt_claims(json_t *claims, int64_t now_s, kit_jwt_t *out, char *why,
                           size_t why_len)
{
    json_t *sub = json_object_get(claims, "sub"), *exp = json_object_get(claims, "exp");
    json_t *nbf = json_object_get(claims, "nbf"), *dest = json_object_get(claims, "dest");
    if (!json_is_string(sub) || json_string_length(sub) == 0 ||
        json_string_length(sub) >= KIT_AUTH_SUB_BUF) {
        return kit__fail(why, why_len, "the token wants a sub claim of 1..127 bytes");
    }
    if (!json_is_number(exp)) {
        return kit__fail(why, why_len, "the token wants an exp claim");
    }
    if ((double)now_s >= json_number_value(exp)) {
        return kit__fail(why, why_len, "the token has expired");
    }
    if (nbf && (!json_is_number(nbf) || (double)now_s < json_number_value(nbf))) {
        return kit__fail(why, why_len, "the token is not valid yet (nbf)");
    }
    if (dest && !json_is_string(dest) && !json_is_array(dest)) {
        return kit__fail(why, why_len, "dest: want a pattern or an array of patterns");
    }
    size_t nd = json_is_string(dest) ? 1 : json_array_size(dest);
    if (nd > KIT_AUTH_JWT_DESTS_MAX) {
        return kit__fail(why, why_len, "dest: at most 8 patterns");
    }
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_is_string(dest) ? dest : json_array_get(dest, i);
        if (!json_is_string(d) || json_string_length(d) == 0 ||
            json_string_length(d) >= KIT_AUTH_PATTERN_BUF ||
            strlen(json_string_value(d)) != json_string_length(d)) {
            return kit__fail(why, why_len, "dest: each pattern is a string of 1..255 bytes");
        }
        const char *pat = json_string_value(d);
        int stars = 0;
        for (const char *c = pat; *c; c++) {
            stars += *c == '*';
        }
        if (stars > KIT_AUTH_PATTERN_STARS_MAX) { /* bounds fnmatch's backtracking */
            return kit__fail(why, why_len, "dest: at most 4 * in a pattern");
        }
        snprintf(out->dests[out->ndests++], KIT_AUTH_PATTERN_BUF, "%s", json_string_value(d));
    }
    if (strlen(json_string_value(sub)) != json_string_length(sub)) {
        return kit__fail(why, why_len, "sub: no NUL bytes");
    }
    snprintf(out->sub, sizeof out->sub, "%s", json_string_value(sub));
    double e = json_number_value(exp);
    out->exp_s = e > 9e15 ? INT64_MAX : (int64_t)e;
    return 0;
}

int kit_jwt_verify(const uint8_t *secret, size_t secret_len, const char *jwt, size_t len,
                   int64_t now_s, kit_jwt_t *out, char *why, size_t why_len)
{
    if (!kit_jwt_shaped(jwt, len)) {
        return kit__fail(why, why_len, "not a JWT (header.payload.signature, base64url)");
    }
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt));
    json_t *hdr = kit__json_part(jwt, (size_t)(d1 - jwt));
    json_t *alg = json_object_get(hdr, "alg");
    bool hs256 = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0 &&
                 !json_object_get(hdr, "crit");
    json_decref(hdr);
    if (!hs256) {
        return kit__fail(why, why_len, "the token's header wants alg HS256");
    }
    uint8_t sig[64], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    long sig_len = kit__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), sig, sizeof sig);
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const uint8_t *)jwt, (size_t)(d2 - jwt),
              mac, &mac_len) ||
        sig_len != (long)mac_len || CRYPTO_memcmp(sig, mac, mac_len) != 0) {
        return kit__fail(why, why_len, "the token's signature does not verify");
    }
    json_t *claims = kit__json_part(d1 + 1, (size_t)(d2 - d1 - 1));
    int rc = json_is_object(claims) ? kit__jwt_claims(claims, now_s, out, why, why_len)
                                    : kit__fail(why, why_len, "the token's claims are not JSON");
    json_decref(claims);
    return rc;
}

bool kit_jwt_allows(const kit_jwt_t *jwt, const char *destination)
{
    for (int i = 0; i < jwt->ndests; i++) {
        if (fnmatch(jwt->dests[i], destination, 0) == 0) {
            return true;
        }
    }
    return false;
}
