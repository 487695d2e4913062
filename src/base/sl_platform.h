/* Platform switches live here, never as #ifdef in .c files (house style 14). */
#ifndef SL_PLATFORM_H
#define SL_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GLIBC__)
#include <malloc.h>
/* Request frames are up to socket.request.max.bytes and arrive all the time: keep them in the
 * heap (reused, already faulted in) rather than fresh mmap'd pages per request. */
static inline void sl_platform_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}
#else
static inline void sl_platform_tune_malloc(void) {}
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
static inline bool sl_platform_has_sse42(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return false;
    }
    return (c & bit_SSE4_2) != 0;
}
__attribute__((target("sse4.2"))) static inline uint32_t
sl_platform_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) {
        c32 = _mm_crc32_u8(c32, *p++);
    }
    return ~c32;
}
#else
static inline bool sl_platform_has_sse42(void) { return false; }
static inline uint32_t sl_platform_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    (void)data; (void)len;
    return crc;
}
#endif

#endif
