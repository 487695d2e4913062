/* SipHash-2-4, 64-bit output, as in the reference implementation (github.com/veorq/SipHash);
 * tests/unit/test_base.c checks it against the paper's vectors. */
#include "sl_siphash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SL_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t sl__le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

sl_siphash_key_t sl_siphash_key(const uint8_t bytes[16])
{
    return (sl_siphash_key_t){sl__le64(bytes), sl__le64(bytes + 8)};
}

sl_siphash_key_t sl_siphash_key_random(void)
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)b;
        memcpy(b, &x, 8);
        x = x * 0x9e3779b97f4a7c15ULL + 1;
        memcpy(b + 8, &x, 8);
    }
    return sl_siphash_key(b);
}

typedef struct {
    uint64_t v0, v1, v2, v3;
} sl_sip_t;

static void sl__sipround(sl_sip_t *s)
{
    s->v0 += s->v1;
    s->v1 = SL_ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = SL_ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = SL_ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = SL_ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = SL_ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = SL_ROTL(s->v2, 32);
}

static void sl__sip_block(sl_sip_t *s, uint64_t m)
{
    s->v3 ^= m;
    sl__sipround(s);
    sl__sipround(s);
    s->v0 ^= m;
}

uint64_t sl_siphash(const sl_siphash_key_t *key, const void *data, size_t n)
{
    const uint8_t *p = data;
    sl_sip_t s = {key->k0 ^ 0x736f6d6570736575ULL, key->k1 ^ 0x646f72616e646f6dULL,
                  key->k0 ^ 0x6c7967656e657261ULL, key->k1 ^ 0x7465646279746573ULL};
    size_t full = n & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        sl__sip_block(&s, sl__le64(p + i));
    }
    uint64_t last = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++) {
        last |= (uint64_t)p[full + i] << (8 * i);
    }
    sl__sip_block(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) {
        sl__sipround(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
