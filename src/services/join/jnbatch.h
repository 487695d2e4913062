/* jnbatch: where the join cuts a batch of input records. A batch ends at batch.max.records
 * records or once its input bytes (keys and values) reach batch.max.bytes, whichever comes
 * first; the record that crosses the byte bound is the batch's last. Records are taken from the
 * consumer queue in chunks (one call per chunk), each sized so that it cannot cross the byte
 * bound by more than one record as long as its records are no larger than the largest taken
 * so far. Pure functions. Thread: any. */
#ifndef JNBATCH_H
#define JNBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t records_max; /* batch.max.records */
    uint64_t bytes_max; /* batch.max.bytes */
    size_t records;     /* taken so far */
    uint64_t bytes;     /* their keys and values */
    size_t largest;     /* the largest record taken so far, in bytes */
} jn_cut_t;

/* An empty batch under the two bounds (each at least 1). */
void jn_cut_init(jn_cut_t *cut, size_t records_max, uint64_t bytes_max);
/* Counts one taken record of key_len + value_len bytes. */
void jn_cut_add(jn_cut_t *cut, size_t record_bytes);
/* True once the batch is complete (either bound reached). */
bool jn_cut_full(const jn_cut_t *cut);
/* How many records to take in the next chunk: 0 when full, else at least 1 and at most
 * min(records left, ceil(bytes left / largest record so far)) (1 before the first record). */
size_t jn_cut_next(const jn_cut_t *cut);

#endif
