/* libFuzzer target for kit_jwt_verify, which reads every STOMP CONNECT passcode a gateway
 * client sends when stomp.jwt.secret is set. The input is the passcode; it is verified with a
 * fixed secret and, to reach the claims parser past the signature check, re-signed: the first
 * two parts of the input get a valid HS256 signature appended. Invariants: no crash, and an
 * accepted token's claims are within their limits. */
#include "kit_auth.h"
#include "sl_common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "fuzz-secret-0123456789abcdef-0123456789";

static void check(const char *jwt, size_t len)
{
    kit_jwt_t c;
    char why[160];
    if (kit_jwt_verify((const uint8_t *)SECRET, strlen(SECRET), jwt, len, 1800000000, &c, why,
                       sizeof why) == 0) {
        SL_ASSERT(c.sub[0] && strlen(c.sub) < KIT_AUTH_SUB_BUF);
        SL_ASSERT(c.ndests >= 0 && c.ndests <= KIT_AUTH_JWT_DESTS_MAX);
        for (int i = 0; i < c.ndests; i++) {
            (void)kit_jwt_allows(&c, "/sub/line/1");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > KIT_AUTH_JWT_BYTES_MAX + 16) {
        return 0;
    }
    check((const char *)data, size);
    /* header.payload of the input, signed: the claims parser sees hostile JSON */
    const uint8_t *dot = memchr(data, '.', size);
    dot = dot ? memchr(dot + 1, '.', size - (size_t)(dot + 1 - data)) : NULL;
    size_t n = dot ? (size_t)(dot - data) : size;
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char buf[KIT_AUTH_JWT_BYTES_MAX + 64];
    uint8_t mac[32];
    unsigned int ml = 0;
    if (n > KIT_AUTH_JWT_BYTES_MAX) {
        return 0;
    }
    memcpy(buf, data, n);
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), data, n, mac, &ml);
    size_t o = n;
    buf[o++] = '.';
    for (size_t i = 0; i < 32; i += 3) { /* base64url without padding */
        uint32_t v = (uint32_t)mac[i] << 16 | (i + 1 < 32 ? (uint32_t)mac[i + 1] << 8 : 0) |
                     (i + 2 < 32 ? mac[i + 2] : 0);
        buf[o++] = a[v >> 18 & 63];
        buf[o++] = a[v >> 12 & 63];
        if (i + 1 < 32) {
            buf[o++] = a[v >> 6 & 63];
        }
        if (i + 2 < 32) {
            buf[o++] = a[v & 63];
        }
    }
    check(buf, o);
    return 0;
}
