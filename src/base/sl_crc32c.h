/* CRC32C (Castagnoli), as Kafka's record batch v2 uses. SSE4.2 instructions when the CPU has
 * them (checked once at first use), a slicing table otherwise. Thread: any. */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: pass 0 to start. */
uint32_t sl_crc32c(uint32_t crc, const void *data, size_t len);
/* Forces the portable path (tests compare both paths). */
uint32_t sl_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
