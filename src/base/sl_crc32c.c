/* CRC32C: hardware path with the crc32 instruction (x86-64 SSE4.2), software slicing-by-8
 * otherwise. Polynomial 0x82F63B78 (reflected). */
#include "sl_crc32c.h"
#include "sl_common.h"
#include "sl_platform.h"

#include <pthread.h>
#include <string.h>

static uint32_t sl__crc_table[8][256];
static bool sl__crc_hw;
static pthread_once_t sl__crc_once = PTHREAD_ONCE_INIT;

static void sl__crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        sl__crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t c = sl__crc_table[t - 1][i];
            sl__crc_table[t][i] = (c >> 8) ^ sl__crc_table[0][c & 0xff];
        }
    }
    sl__crc_hw = sl_platform_has_sse42();
}

uint32_t sl_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&sl__crc_once, sl__crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = sl__crc_table[7][w & 0xff] ^ sl__crc_table[6][(w >> 8) & 0xff] ^
              sl__crc_table[5][(w >> 16) & 0xff] ^ sl__crc_table[4][(w >> 24) & 0xff] ^
              sl__crc_table[3][(w >> 32) & 0xff] ^ sl__crc_table[2][(w >> 40) & 0xff] ^
              sl__crc_table[1][(w >> 48) & 0xff] ^ sl__crc_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ sl__crc_table[0][(crc ^ *p++) & 0xff];
    }
    return ~crc;
}

uint32_t sl_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&sl__crc_once, sl__crc_init);
    if (!sl__crc_hw) {
        return sl_crc32c_sw(crc, data, len);
    }
    return sl_platform_crc32c_hw(crc, data, len);
}
