/* jnstore: per-partition state in LMDB (see jnstore.h). */
#include "jnstore.h"

#include "sl_common.h"
#include "sl_fs.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jn_store {
    MDB_env *env;
    MDB_dbi dbi[2]; /* JN_LEFT, JN_RIGHT */
    MDB_dbi meta;
    MDB_txn *txn; /* the open write transaction, or NULL */
};

static const char *const jn__meta_keys[2] = {"checkpoint.left", "checkpoint.right"};

static int jn__err(int rc)
{
    if (rc == 0) {
        return 0;
    }
    return rc == MDB_MAP_FULL || rc == MDB_TXN_FULL ? SL_ELIMIT : SL_ECORRUPT;
}

int jn_store_open(const char *dir, size_t map_bytes, jn_store_t **out, char *err, size_t err_len)
{
    SL_ASSERT(map_bytes >= JN_STORE_MAP_BYTES_MIN);
    int rc = sl_fs_mkdirs(dir);
    if (rc != 0) {
        snprintf(err, err_len, "state dir %s: %s", dir, sl_strerror(rc));
        return rc;
    }
    jn_store_t *st = sl_xcalloc(1, sizeof *st);
    MDB_txn *txn = NULL;
    rc = mdb_env_create(&st->env);
    rc = rc ? rc : mdb_env_set_maxdbs(st->env, 4);
    rc = rc ? rc : mdb_env_set_mapsize(st->env, map_bytes);
    rc = rc ? rc : mdb_env_open(st->env, dir, MDB_NOSYNC | MDB_NOTLS, 0644);
    rc = rc ? rc : mdb_txn_begin(st->env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, "left", MDB_CREATE, &st->dbi[JN_LEFT]);
    rc = rc ? rc : mdb_dbi_open(txn, "right", MDB_CREATE, &st->dbi[JN_RIGHT]);
    rc = rc ? rc : mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
    rc = rc ? rc : mdb_txn_commit(txn);
    txn = rc ? txn : NULL;
    if (rc != 0) {
        snprintf(err, err_len, "state store %s: %s", dir, mdb_strerror(rc));
        if (txn) {
            mdb_txn_abort(txn);
        }
        if (st->env) {
            mdb_env_close(st->env);
        }
        free(st);
        return SL_ECORRUPT;
    }
    *out = st;
    return 0;
}

void jn_store_close(jn_store_t *st)
{
    if (!st) {
        return;
    }
    SL_ASSERT(!st->txn);
    mdb_env_sync(st->env, 1);
    mdb_env_close(st->env);
    free(st);
}

int jn_store_begin(jn_store_t *st)
{
    SL_ASSERT(!st->txn);
    return jn__err(mdb_txn_begin(st->env, NULL, 0, &st->txn));
}

int jn_store_commit(jn_store_t *st)
{
    SL_ASSERT(st->txn);
    int rc = mdb_txn_commit(st->txn);
    st->txn = NULL;
    return jn__err(rc);
}

void jn_store_abort(jn_store_t *st)
{
    if (st->txn) {
        mdb_txn_abort(st->txn);
        st->txn = NULL;
    }
}

int jn_store_get(jn_store_t *st, jn_side_t side, const void *key, size_t key_len, jn_bytes_t *out)
{
    SL_ASSERT(st->txn && key_len > 0 && key_len <= JN_KEY_BYTES_MAX);
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(st->txn, st->dbi[side], &k, &v);
    out->p = rc == 0 ? v.mv_data : NULL;
    out->len = rc == 0 ? v.mv_size : 0;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : jn__err(rc);
}

int jn_store_put(jn_store_t *st, jn_side_t side, const void *key, size_t key_len, jn_bytes_t v)
{
    SL_ASSERT(st->txn && key_len > 0 && key_len <= JN_KEY_BYTES_MAX);
    MDB_val k = {key_len, (void *)key};
    if (!v.p) {
        int rc = mdb_del(st->txn, st->dbi[side], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : jn__err(rc);
    }
    MDB_val d = {v.len, (void *)v.p};
    return jn__err(mdb_put(st->txn, st->dbi[side], &k, &d, 0));
}

int jn_store_wipe(jn_store_t *st, jn_side_t side)
{
    SL_ASSERT(st->txn);
    MDB_val k = {strlen(jn__meta_keys[side]), (void *)jn__meta_keys[side]};
    int rc = mdb_drop(st->txn, st->dbi[side], 0);
    if (rc == 0) {
        rc = mdb_del(st->txn, st->meta, &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    return jn__err(rc);
}

int64_t jn_store_checkpoint(jn_store_t *st, jn_side_t side)
{
    SL_ASSERT(st->txn);
    MDB_val k = {strlen(jn__meta_keys[side]), (void *)jn__meta_keys[side]}, v;
    int64_t off = -1;
    if (mdb_get(st->txn, st->meta, &k, &v) == 0 && v.mv_size == sizeof off) {
        memcpy(&off, v.mv_data, sizeof off);
    }
    return off;
}

int jn_store_set_checkpoint(jn_store_t *st, jn_side_t side, int64_t next_offset)
{
    SL_ASSERT(st->txn && next_offset >= 0);
    MDB_val k = {strlen(jn__meta_keys[side]), (void *)jn__meta_keys[side]};
    MDB_val v = {sizeof next_offset, &next_offset};
    return jn__err(mdb_put(st->txn, st->meta, &k, &v, 0));
}

size_t jn_store_count(jn_store_t *st, jn_side_t side)
{
    SL_ASSERT(!st->txn);
    MDB_txn *txn = NULL;
    MDB_stat stat;
    size_t n = 0;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_stat(txn, st->dbi[side], &stat) == 0) {
            n = stat.ms_entries;
        }
        mdb_txn_abort(txn);
    }
    return n;
}
