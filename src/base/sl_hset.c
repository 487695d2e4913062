/* The duplicate-check set of sl_hset.h: open addressing (power-of-two table, at most half
 * full, linear probing) over sl_siphash (SipHash-2-4) with a key drawn from getrandom once
 * per process. */
#include "sl_hset.h"
#include "sl_common.h"
#include "sl_siphash.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const void *key; /* NULL: empty slot */
    size_t len;
    int64_t tag;
    int64_t val;
    uint64_t hash;
} sl_hset_slot_t;

struct sl_hset {
    sl_hset_slot_t *slots;
    size_t cap; /* power of two */
    size_t n;
};

static sl_siphash_key_t sl__hash_key;
static int sl__hash_keyed; /* 0 never, 1 done (atomic) */

static void sl__hash_key_init(void)
{
    if (__atomic_load_n(&sl__hash_keyed, __ATOMIC_ACQUIRE)) {
        return;
    }
    /* Two threads racing here each store a random key before the first hash of a set;
     * a set is used by one thread and hashes with whichever key it reads first. */
    sl__hash_key = sl_siphash_key_random();
    __atomic_store_n(&sl__hash_keyed, 1, __ATOMIC_RELEASE);
}

uint64_t sl_hash_bytes(const void *p, size_t len)
{
    sl__hash_key_init();
    return sl_siphash(&sl__hash_key, p, len);
}

/* The tag goes through the keyed hash too (as 8 more bytes), so tags cannot be chosen to
 * collide either. */
static uint64_t sl__hset_hash(const void *key, size_t len, int64_t tag)
{
    uint64_t h = sl_hash_bytes(key, len);
    uint8_t t[16];
    memcpy(t, &h, 8);
    memcpy(t + 8, &tag, 8);
    return sl_siphash(&sl__hash_key, t, sizeof t);
}

sl_hset_t *sl_hset_new(size_t expected)
{
    sl_hset_t *set = sl_xcalloc(1, sizeof *set);
    set->cap = 16;
    while (set->cap < expected * 2 && set->cap < ((size_t)1 << 40)) {
        set->cap *= 2;
    }
    set->slots = sl_xcalloc(set->cap, sizeof *set->slots);
    return set;
}

void sl_hset_free(sl_hset_t *set)
{
    if (set) {
        free(set->slots);
        free(set);
    }
}

size_t sl_hset_count(const sl_hset_t *set)
{
    return set->n;
}

static void sl__hset_grow(sl_hset_t *set)
{
    size_t cap = set->cap * 2;
    sl_hset_slot_t *slots = sl_xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < set->cap; i++) {
        sl_hset_slot_t *s = &set->slots[i];
        if (!s->key) {
            continue;
        }
        size_t j = s->hash & (cap - 1);
        while (slots[j].key) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = *s;
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
}

/* The slot of an equal key, or the empty slot where it would go. */
static sl_hset_slot_t *sl__hset_slot(const sl_hset_t *set, const void *key, size_t len,
                                     int64_t tag, uint64_t h)
{
    size_t i = h & (set->cap - 1);
    for (;;) { /* ends: the table is never more than half full */
        sl_hset_slot_t *s = &set->slots[i];
        if (!s->key ||
            (s->hash == h && s->len == len && s->tag == tag && memcmp(s->key, key, len) == 0)) {
            return s;
        }
        i = (i + 1) & (set->cap - 1);
    }
}

static const uint8_t sl__hset_empty = 0; /* the key of a null or empty string */

bool sl_hset_get(const sl_hset_t *set, const void *key, size_t len, int64_t tag, int64_t *val)
{
    key = key ? key : &sl__hset_empty;
    const sl_hset_slot_t *s = sl__hset_slot(set, key, len, tag, sl__hset_hash(key, len, tag));
    if (s->key && val) {
        *val = s->val;
    }
    return s->key != NULL;
}

bool sl_hset_put(sl_hset_t *set, const void *key, size_t len, int64_t tag, int64_t val,
                 int64_t *old)
{
    key = key ? key : &sl__hset_empty;
    if ((set->n + 1) * 2 > set->cap) {
        sl__hset_grow(set);
    }
    uint64_t h = sl__hset_hash(key, len, tag);
    sl_hset_slot_t *s = sl__hset_slot(set, key, len, tag, h);
    if (s->key) {
        if (old) {
            *old = s->val;
        }
        return false;
    }
    *s = (sl_hset_slot_t){key, len, tag, val, h};
    set->n++;
    return true;
}

/* Linear probing's deletion without tombstones: later entries of the probe run move back
 * into the hole when their home slot does not lie between the hole and them. */
bool sl_hset_del(sl_hset_t *set, const void *key, size_t len, int64_t tag)
{
    key = key ? key : &sl__hset_empty;
    sl_hset_slot_t *s = sl__hset_slot(set, key, len, tag, sl__hset_hash(key, len, tag));
    if (!s->key) {
        return false;
    }
    size_t mask = set->cap - 1;
    size_t hole = (size_t)(s - set->slots);
    for (size_t j = (hole + 1) & mask; set->slots[j].key; j = (j + 1) & mask) {
        size_t home = set->slots[j].hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            set->slots[hole] = set->slots[j];
            hole = j;
        }
    }
    set->slots[hole] = (sl_hset_slot_t){0};
    set->n--;
    return true;
}
