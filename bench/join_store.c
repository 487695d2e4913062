/* State-store benchmark behind `sluice join`'s choice of LMDB: the join's access pattern on
 * N keys with V-byte values, in LMDB (MDB_NOSYNC, as jnstore.c) and SQLite (WAL,
 * synchronous=OFF, a prepared upsert and select, the fastest durable-enough SQLite setup):
 *   put     N upserts in transactions of 5000 (a join batch / a restore chunk)
 *   get     N point lookups of existing keys in random order (the stream side's probe)
 * Prints one line per store: name put_rec_s get_rec_s.
 *   join_store DIR N V */
#include <lmdb.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TXN_RECORDS 5000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "join_store: %s: %d\n", what, rc);
    exit(1);
}

static void bench_lmdb(const char *dir, long n, const char *val, size_t vlen, const long *order)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    char key[32];
    int rc = mdb_env_create(&env);
    rc = rc ? rc : mdb_env_set_mapsize(env, (size_t)n * (vlen + 256) * 2 + (64u << 20));
    rc = rc ? rc : mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0644);
    if (rc) {
        die("lmdb open", rc);
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (i % TXN_RECORDS == 0 && (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
            rc = mdb_dbi_open(txn, NULL, 0, &dbi);
        }
        MDB_val k = {(size_t)snprintf(key, sizeof key, "k%ld", i), key}, v = {vlen, (void *)val};
        rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
        if (rc == 0 && (i % TXN_RECORDS == TXN_RECORDS - 1 || i == n - 1)) {
            rc = mdb_txn_commit(txn);
        }
        if (rc) {
            die("lmdb put", rc);
        }
    }
    double t1 = now_s();
    size_t sum = 0;
    for (long i = 0; i < n; i++) {
        if (i % TXN_RECORDS == 0 && (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
            die("lmdb txn", rc);
        }
        MDB_val k = {(size_t)snprintf(key, sizeof key, "k%ld", order[i]), key}, v;
        if ((rc = mdb_get(txn, dbi, &k, &v)) != 0) {
            die("lmdb get", rc);
        }
        sum += v.mv_size;
        if (i % TXN_RECORDS == TXN_RECORDS - 1 || i == n - 1) {
            mdb_txn_commit(txn); /* the join reads inside its write transaction */
        }
    }
    double t2 = now_s();
    mdb_env_close(env);
    printf("lmdb %.0f %.0f\n", n / (t1 - t0), n / (t2 - t1));
    (void)sum;
}

static void bench_sqlite(const char *path, long n, const char *val, size_t vlen, const long *order)
{
    sqlite3 *db;
    sqlite3_stmt *put, *get;
    char key[32];
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                         "CREATE TABLE s(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO s VALUES(?1,?2) ON CONFLICT(k) DO UPDATE SET v=?2",
                           -1, &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT v FROM s WHERE k=?1", -1, &get, NULL) != SQLITE_OK) {
        die("sqlite open", sqlite3_errcode(db));
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (i % TXN_RECORDS == 0) {
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        }
        int kl = snprintf(key, sizeof key, "k%ld", i);
        sqlite3_bind_blob(put, 1, key, kl, SQLITE_STATIC);
        sqlite3_bind_blob(put, 2, val, (int)vlen, SQLITE_STATIC);
        if (sqlite3_step(put) != SQLITE_DONE) {
            die("sqlite put", sqlite3_errcode(db));
        }
        sqlite3_reset(put);
        if (i % TXN_RECORDS == TXN_RECORDS - 1 || i == n - 1) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
    }
    double t1 = now_s();
    size_t sum = 0;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "k%ld", order[i]);
        sqlite3_bind_blob(get, 1, key, kl, SQLITE_STATIC);
        if (sqlite3_step(get) != SQLITE_ROW) {
            die("sqlite get", sqlite3_errcode(db));
        }
        sum += (size_t)sqlite3_column_bytes(get, 0);
        sqlite3_reset(get);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double t2 = now_s();
    sqlite3_finalize(put);
    sqlite3_finalize(get);
    sqlite3_close(db);
    printf("sqlite %.0f %.0f\n", n / (t1 - t0), n / (t2 - t1));
    (void)sum;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: join_store DIR N VALUE_BYTES\n");
        return 2;
    }
    long n = atol(argv[2]);
    size_t vlen = (size_t)atol(argv[3]);
    char *val = malloc(vlen), path[4096];
    long *order = malloc((size_t)n * sizeof *order);
    memset(val, 'v', vlen);
    srand(1);
    for (long i = 0; i < n; i++) {
        order[i] = i;
    }
    for (long i = n - 1; i > 0; i--) {
        long j = rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    bench_lmdb(argv[1], n, val, vlen, order);
    snprintf(path, sizeof path, "%s/sqlite.db", argv[1]);
    bench_sqlite(path, n, val, vlen, order);
    free(val);
    free(order);
    return 0;
}
