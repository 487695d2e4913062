/* A set of keys for duplicate checks and lookups in one request: a key is a byte string plus
 * an integer tag (a topic name and a partition, say). Open addressing with linear probing,
 * hashed with SipHash-2-4 (sl_siphash) under a per-process random key, so a client cannot craft keys that
 * collide: every operation is O(1) expected whatever the input. Keys are not copied; they
 * must outlive the set. Thread: any, one set per thread. */
#ifndef SL_HSET_H
#define SL_HSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_hset sl_hset_t;

/* A set sized for about `expected` keys (it grows past that). */
sl_hset_t *sl_hset_new(size_t expected);
void sl_hset_free(sl_hset_t *set);
/* Adds (key, len, tag) with value val and returns true; when an equal key is present already
 * returns false and sets *old (may be NULL) to that key's value. */
bool sl_hset_put(sl_hset_t *set, const void *key, size_t len, int64_t tag, int64_t val,
                 int64_t *old);
/* Whether (key, len, tag) is in the set; *val (may be NULL) gets its value. */
bool sl_hset_get(const sl_hset_t *set, const void *key, size_t len, int64_t tag, int64_t *val);
/* Removes (key, len, tag); false when it was not there. */
bool sl_hset_del(sl_hset_t *set, const void *key, size_t len, int64_t tag);
/* Keys in the set. */
size_t sl_hset_count(const sl_hset_t *set);
/* Keyed SipHash-2-4 (sl_siphash) of bytes under the per-process key (for other hash tables). */
uint64_t sl_hash_bytes(const void *p, size_t len);

#endif
