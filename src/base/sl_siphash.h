/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
 * whose outputs an attacker who does not know the 128-bit key cannot predict, so keys they
 * choose cannot be made to collide (the log cleaner's offset map keys on it). Thread: any. */
#ifndef SL_SIPHASH_H
#define SL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t k0, k1; /* the key, little-endian halves of the 16 key bytes */
} sl_siphash_key_t;

/* The key from 16 bytes (k0 = bytes 0-7, k1 = bytes 8-15, little-endian). */
sl_siphash_key_t sl_siphash_key(const uint8_t bytes[16]);
/* A fresh random key (getrandom; falls back to the clock and address bits if that fails). */
sl_siphash_key_t sl_siphash_key_random(void);
/* SipHash-2-4 of p[0..n) with 64-bit output. */
uint64_t sl_siphash(const sl_siphash_key_t *key, const void *p, size_t n);

#endif
