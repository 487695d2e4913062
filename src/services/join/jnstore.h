/* jnstore: the local state of one input partition, an LMDB environment in its own directory
 * with one table per stored side ("left", "right") and a "meta" table holding, per side, the
 * changelog offset the table reflects (its checkpoint). Writes go through one write
 * transaction at a time (jn_store_begin .. commit); LMDB runs with MDB_NOSYNC because the
 * compacted changelog topic, not the local file, is the durable copy: a state dir lost or torn
 * is rebuilt from it. Thread: one thread per store. */
#ifndef JNSTORE_H
#define JNSTORE_H

#include "jnjoin.h"

#include <stddef.h>
#include <stdint.h>

#define JN_STORE_MAP_BYTES_MIN (1u << 20) /* state.max.bytes floor: LMDB needs a few pages */
#define JN_KEY_BYTES_MAX 511              /* LMDB's default key size limit */

typedef struct jn_store jn_store_t;

/* Opens (creating) the store in dir with map_bytes of address space. Returns 0 or an error
 * with a reason in err. */
int jn_store_open(const char *dir, size_t map_bytes, jn_store_t **out, char *err, size_t err_len);
/* Flushes to disk (mdb_env_sync) and closes. NULL is a no-op. */
void jn_store_close(jn_store_t *st);
/* Starts the write transaction every get/put/checkpoint call below runs in. */
int jn_store_begin(jn_store_t *st);
/* Commits it. SL_ELIMIT when the map is full (state.max.bytes), else 0 or SL_ECORRUPT. */
int jn_store_commit(jn_store_t *st);
void jn_store_abort(jn_store_t *st);
/* The value of key on side, valid until the next put or the end of the transaction;
 * out->p == NULL when absent. */
int jn_store_get(jn_store_t *st, jn_side_t side, const void *key, size_t key_len, jn_bytes_t *out);
/* Stores v under key (v.p == NULL deletes). SL_ELIMIT when the map is full. */
int jn_store_put(jn_store_t *st, jn_side_t side, const void *key, size_t key_len, jn_bytes_t v);
/* Empties side's table and forgets its checkpoint. */
int jn_store_wipe(jn_store_t *st, jn_side_t side);
/* The next changelog offset side reflects; -1 when unknown (a new or wiped store). */
int64_t jn_store_checkpoint(jn_store_t *st, jn_side_t side);
int jn_store_set_checkpoint(jn_store_t *st, jn_side_t side, int64_t next_offset);
/* Keys stored on side (outside a transaction). */
size_t jn_store_count(jn_store_t *st, jn_side_t side);

#endif
