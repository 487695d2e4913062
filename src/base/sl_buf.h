/* Growable byte buffer (caller's storage: sl_buf_init/_deinit) and big-endian helpers
 * for fixed-width integers as Kafka and our disk formats lay them out. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} sl_buf_t;

void sl_buf_init(sl_buf_t *buf);
void sl_buf_deinit(sl_buf_t *buf);
/* Makes room for n more bytes and returns a pointer to them (len is not changed). */
uint8_t *sl_buf_reserve(sl_buf_t *buf, size_t n);
void sl_buf_append(sl_buf_t *buf, const void *p, size_t n);
/* Hands the bytes to the caller (who frees them) and resets buf. */
uint8_t *sl_buf_steal(sl_buf_t *buf, size_t *len);

static inline void sl_be16_put(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sl_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sl_be64_put(uint8_t *p, uint64_t v)
{
    sl_be32_put(p, (uint32_t)(v >> 32));
    sl_be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t sl_be16_get(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sl_be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sl_be64_get(const uint8_t *p)
{
    return ((uint64_t)sl_be32_get(p) << 32) | sl_be32_get(p + 4);
}

#endif
