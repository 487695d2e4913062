/* SQLite job store (see jstore.h for the contract and the state machine). The schema is the
 * migrations table below: version N is jstore__migrations[N - 1], applied in one write
 * transaction at open and recorded in `schema_version`. Every statement is prepared once at
 * open (SQLITE_PREPARE_PERSISTENT) and reset after each use; every transition reads the job's
 * head and writes it inside one BEGIN IMMEDIATE transaction, so two connections serialize. */
#include "jstore.h"

#include "sl_common.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

SL_STATIC_ASSERT(JSTORE_ID_BYTES_GEN <= JSTORE_ID_BYTES_MAX, "generated ids fit the id limit");
SL_STATIC_ASSERT(JSTORE_PAYLOAD_BYTES_MAX <= (64 << 20), "payload stays far below SQLite's 1 GB");
SL_STATIC_ASSERT(JSTORE_MAX_ATTEMPTS_MAX <= JSTORE_ATTEMPT_NO_MAX, "a budget fits a life");
SL_STATIC_ASSERT(JSTORE_PAGE_MAX <= 10000, "pages stay small");

static const char *const jstore__migrations[] = {
    "CREATE TABLE jobs("
    " id TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, key TEXT, payload TEXT NOT NULL,"
    " webhook TEXT, timeout_s INTEGER NOT NULL, max_attempts INTEGER NOT NULL,"
    " idempotency_key TEXT, state TEXT NOT NULL CHECK(state IN ('accepted','queued','running',"
    " 'succeeded','failed','retry_wait','dead','cancelled')),"
    " attempt INTEGER NOT NULL, attempt_base INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, started_ms INTEGER,"
    " finished_ms INTEGER, next_attempt_at_ms INTEGER, last_error TEXT, log_tail TEXT,"
    " result TEXT, lease_owner TEXT, lease_expires_at_ms INTEGER, src_topic TEXT,"
    " src_partition INTEGER NOT NULL DEFAULT -1, src_offset INTEGER NOT NULL DEFAULT -1,"
    " UNIQUE(type, idempotency_key));"
    "CREATE INDEX jobs_created ON jobs(created_ms, id);"
    "CREATE INDEX jobs_state_created ON jobs(state, created_ms, id);"
    "CREATE INDEX jobs_lease ON jobs(lease_expires_at_ms) WHERE state = 'running';"
    "CREATE TABLE attempts(job_id TEXT NOT NULL REFERENCES jobs(id), attempt INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL, finished_ms INTEGER, outcome TEXT NOT NULL, error TEXT,"
    " PRIMARY KEY(job_id, attempt)) WITHOUT ROWID;"
    "CREATE TABLE webhook_deliveries(job_id TEXT NOT NULL REFERENCES jobs(id),"
    " attempt INTEGER NOT NULL, status TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,"
    " next_try_at_ms INTEGER NOT NULL, last_status_code INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(job_id, attempt)) WITHOUT ROWID;"
    "CREATE INDEX wh_due ON webhook_deliveries(next_try_at_ms) WHERE status = 'pending';",
    "CREATE INDEX jobs_due ON jobs(next_attempt_at_ms) WHERE state IN ('retry_wait','queued');",
    "CREATE TABLE webhook_tries(job_id TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " try INTEGER NOT NULL, at_ms INTEGER NOT NULL, delivered INTEGER NOT NULL,"
    " status_code INTEGER NOT NULL, error TEXT, PRIMARY KEY(job_id, attempt, try)) WITHOUT ROWID;",
    /* 4: who submitted a job (an API token's id, never the token), and the worker process
     * groups each service incarnation started, so a successor can end what it left. */
    "ALTER TABLE jobs ADD COLUMN submitter TEXT;"
    "CREATE TABLE procs(pgid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,"
    " boot_id TEXT NOT NULL, svc_pid INTEGER NOT NULL, svc_start_ticks INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, PRIMARY KEY(pgid, start_ticks)) WITHOUT ROWID;",
    /* 5: only a queued or retry_wait job has a next attempt (older versions left the due time
     * of the last retry on running, finished and dead jobs). */
    "UPDATE jobs SET next_attempt_at_ms = NULL WHERE state NOT IN ('retry_wait','queued');",
    /* 6: delayed jobs: state 'scheduled' (due at next_attempt_at_ms, the requested run_at_ms).
     * SQLite cannot change a CHECK constraint in place, so the table is rebuilt (migrations run
     * with foreign keys off) and its indexes made again, the due index covering 'scheduled'. */
    "CREATE TABLE jobs_v6("
    " id TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, key TEXT, payload TEXT NOT NULL,"
    " webhook TEXT, timeout_s INTEGER NOT NULL, max_attempts INTEGER NOT NULL,"
    " idempotency_key TEXT, state TEXT NOT NULL CHECK(state IN ('accepted','queued','running',"
    " 'succeeded','failed','retry_wait','dead','cancelled','scheduled')),"
    " attempt INTEGER NOT NULL, attempt_base INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, started_ms INTEGER,"
    " finished_ms INTEGER, next_attempt_at_ms INTEGER, last_error TEXT, log_tail TEXT,"
    " result TEXT, lease_owner TEXT, lease_expires_at_ms INTEGER, src_topic TEXT,"
    " src_partition INTEGER NOT NULL DEFAULT -1, src_offset INTEGER NOT NULL DEFAULT -1,"
    " submitter TEXT, run_at_ms INTEGER, UNIQUE(type, idempotency_key));"
    "INSERT INTO jobs_v6 SELECT *, NULL FROM jobs;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs_v6 RENAME TO jobs;"
    "CREATE INDEX jobs_created ON jobs(created_ms, id);"
    "CREATE INDEX jobs_state_created ON jobs(state, created_ms, id);"
    "CREATE INDEX jobs_lease ON jobs(lease_expires_at_ms) WHERE state = 'running';"
    "CREATE INDEX jobs_due ON jobs(next_attempt_at_ms)"
    " WHERE state IN ('retry_wait','queued','scheduled');",
};
#define JSTORE_SCHEMA_VERSION ((int)SL_ARRAY_LEN(jstore__migrations))

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVE,
    S_RELEASE,
    S_UNDO,
    S_DUE,
    S_DUE_CLAIM,
    S_NEXT_DUE,
    S_JOB_BY_ID,
    S_JOB_BY_IDEM,
    S_JOB_INSERT,
    S_JOB_GET,
    S_JOB_HEAD,
    S_UPD_STATE,
    S_UPD_RUNNING,
    S_UPD_LEASE,
    S_UPD_FINISH,
    S_UPD_RETRY,
    S_UPD_REQUEUE,
    S_UPD_CANCEL,
    S_UPD_RELEASE,
    S_HIST_INSERT,
    S_HIST_CLOSE,
    S_HIST_LIST,
    S_LIST,
    S_EXPIRED,
    S_COUNTS,
    S_WH_INSERT,
    S_WH_DUE,
    S_WH_CLAIM,
    S_WH_RECORD,
    S_WH_GET,
    S_WH_TRY_INSERT,
    S_WH_TRY_LIST,
    S_PROC_ADD,
    S_PROC_DEL,
    S_PROC_LIST,
    S_COUNT
};

static const char *const jstore__sql[S_COUNT] = {
    [S_PROC_ADD] = "INSERT OR REPLACE INTO procs(pgid, start_ticks, boot_id, svc_pid,"
                   " svc_start_ticks, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_PROC_DEL] = "DELETE FROM procs WHERE pgid = ?1 AND start_ticks = ?2",
    [S_PROC_LIST] = "SELECT pgid, start_ticks, boot_id, svc_pid, svc_start_ticks FROM procs"
                    " ORDER BY created_ms LIMIT ?1",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVE] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_UNDO] = "ROLLBACK TO op",
    /* INDEXED BY: without statistics the planner would scan every row of the state instead */
    [S_DUE] = "SELECT id, attempt FROM jobs INDEXED BY jobs_due"
              " WHERE state IN ('retry_wait','queued','scheduled')"
              " AND next_attempt_at_ms <= ?1 ORDER BY next_attempt_at_ms, id LIMIT ?2",
    /* a scheduled job that comes due is queued: its assigned event is being published */
    [S_DUE_CLAIM] = "UPDATE jobs SET next_attempt_at_ms = ?2,"
                    " updated_ms = CASE WHEN state = 'scheduled' THEN ?3 ELSE updated_ms END,"
                    " state = CASE WHEN state = 'scheduled' THEN 'queued' ELSE state END"
                    " WHERE id = ?1",
    [S_NEXT_DUE] = "SELECT next_attempt_at_ms FROM jobs INDEXED BY jobs_due"
                   " WHERE state IN ('retry_wait','queued','scheduled')"
                   " AND next_attempt_at_ms IS NOT NULL ORDER BY next_attempt_at_ms LIMIT 1",
    [S_JOB_BY_ID] = "SELECT id FROM jobs WHERE id = ?1",
    [S_JOB_BY_IDEM] = "SELECT id FROM jobs WHERE type = ?1 AND idempotency_key = ?2",
    [S_JOB_INSERT] = "INSERT INTO jobs(id, type, key, payload, webhook, timeout_s, max_attempts,"
                     " idempotency_key, state, attempt, created_ms, updated_ms, src_topic,"
                     " src_partition, src_offset, submitter, run_at_ms, next_attempt_at_ms)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?14, 1, ?9, ?9, ?10, ?11, ?12, ?13,"
                     " ?15, ?16)",
    [S_JOB_GET] = "SELECT id, type, key, payload, webhook, idempotency_key, last_error, log_tail,"
                  " result, lease_owner, src_topic, state, timeout_s, max_attempts, attempt,"
                  " attempt_base, src_partition, src_offset, created_ms, updated_ms, started_ms,"
                  " finished_ms, next_attempt_at_ms, lease_expires_at_ms, submitter, run_at_ms FROM jobs"
                  " WHERE id = ?1",
    [S_JOB_HEAD] = "SELECT state, attempt, attempt_base, max_attempts, lease_expires_at_ms,"
                   " lease_owner, webhook IS NOT NULL FROM jobs WHERE id = ?1",
    [S_UPD_STATE] = "UPDATE jobs SET state = ?2, updated_ms = ?3 WHERE id = ?1",
    [S_UPD_RUNNING] = "UPDATE jobs SET state = 'running', lease_owner = ?2,"
                      " lease_expires_at_ms = ?3, started_ms = ?4, finished_ms = NULL,"
                      " next_attempt_at_ms = NULL, updated_ms = ?4 WHERE id = ?1",
    [S_UPD_LEASE] = "UPDATE jobs SET lease_expires_at_ms = ?2, updated_ms = ?3 WHERE id = ?1",
    [S_UPD_FINISH] = "UPDATE jobs SET state = ?2, result = ?3, last_error = ?4, log_tail = ?5,"
                     " finished_ms = ?6, updated_ms = ?6, lease_owner = NULL,"
                     " lease_expires_at_ms = NULL WHERE id = ?1",
    [S_UPD_RETRY] = "UPDATE jobs SET state = 'retry_wait', attempt = attempt + 1,"
                    " next_attempt_at_ms = ?2, updated_ms = ?3 WHERE id = ?1",
    [S_UPD_REQUEUE] = "UPDATE jobs SET state = 'queued', attempt = attempt + 1,"
                      " attempt_base = attempt, next_attempt_at_ms = ?2, finished_ms = NULL,"
                      " updated_ms = ?2 WHERE id = ?1",
    [S_UPD_CANCEL] = "UPDATE jobs SET state = 'cancelled', lease_owner = NULL,"
                     " lease_expires_at_ms = NULL, next_attempt_at_ms = NULL, finished_ms = ?2,"
                     " updated_ms = ?2 WHERE id = ?1",
    /* the released attempt does not count against the budget: attempt_base moves with it */
    [S_UPD_RELEASE] = "UPDATE jobs SET state = 'queued', attempt = attempt + 1,"
                      " attempt_base = attempt_base + 1, next_attempt_at_ms = ?2,"
                      " lease_owner = NULL, lease_expires_at_ms = NULL, updated_ms = ?2"
                      " WHERE id = ?1",
    [S_HIST_INSERT] = "INSERT OR REPLACE INTO attempts(job_id, attempt, started_ms, outcome)"
                      " VALUES(?1, ?2, ?3, 'running')",
    [S_HIST_CLOSE] = "UPDATE attempts SET finished_ms = ?3, outcome = ?4, error = ?5"
                     " WHERE job_id = ?1 AND attempt = ?2",
    [S_HIST_LIST] = "SELECT attempt, started_ms, finished_ms, outcome, error FROM attempts"
                    " WHERE job_id = ?1 ORDER BY attempt LIMIT ?2",
    [S_LIST] = "SELECT id, type, state, attempt, max_attempts, created_ms, updated_ms,"
               " next_attempt_at_ms, attempt_base FROM jobs WHERE (?1 IS NULL OR state = ?1)"
               " AND (?2 IS NULL OR type = ?2)"
               " AND (created_ms > ?3 OR (created_ms = ?3 AND id > ?4))"
               " ORDER BY created_ms, id LIMIT ?5",
    [S_EXPIRED] = "SELECT id, attempt, lease_owner, lease_expires_at_ms FROM jobs"
                  " WHERE state = 'running' AND lease_expires_at_ms <= ?1"
                  " ORDER BY lease_expires_at_ms, id LIMIT ?2",
    [S_COUNTS] = "SELECT type, state, count(*) FROM jobs GROUP BY type, state"
                 " ORDER BY type, state LIMIT ?1",
    [S_WH_INSERT] = "INSERT OR IGNORE INTO webhook_deliveries(job_id, attempt, status,"
                    " next_try_at_ms, created_ms, updated_ms)"
                    " VALUES(?1, ?2, 'pending', ?3, ?3, ?3)",
    [S_WH_DUE] = "SELECT d.job_id, d.attempt, d.status, d.tries, d.last_status_code,"
                 " d.next_try_at_ms, j.webhook, d.last_error FROM webhook_deliveries d"
                 " JOIN jobs j ON j.id = d.job_id WHERE d.status = 'pending'"
                 " AND d.next_try_at_ms <= ?1 ORDER BY d.next_try_at_ms LIMIT ?2",
    [S_WH_CLAIM] = "UPDATE webhook_deliveries SET next_try_at_ms = ?3"
                   " WHERE job_id = ?1 AND attempt = ?2",
    [S_WH_RECORD] = "UPDATE webhook_deliveries SET status = ?3, tries = tries + 1,"
                    " next_try_at_ms = ?4, last_status_code = ?5, last_error = ?6,"
                    " updated_ms = ?7 WHERE job_id = ?1 AND attempt = ?2",
    [S_WH_GET] = "SELECT d.job_id, d.attempt, d.status, d.tries, d.last_status_code,"
                 " d.next_try_at_ms, j.webhook, d.last_error FROM webhook_deliveries d"
                 " JOIN jobs j ON j.id = d.job_id WHERE d.job_id = ?1 AND d.attempt = ?2",
    [S_WH_TRY_INSERT] = "INSERT OR REPLACE INTO webhook_tries(job_id, attempt, try, at_ms,"
                        " delivered, status_code, error) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_WH_TRY_LIST] = "SELECT attempt, try, at_ms, delivered, status_code, error"
                      " FROM webhook_tries WHERE job_id = ?1 ORDER BY attempt, try LIMIT ?2",
};

struct jstore {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    bool in_batch; /* jstore_batch_begin ran: each operation is a savepoint inside it */
};

/* What a transition needs to know about a job. */
typedef struct {
    jstore_state_t state;
    int32_t attempt, attempt_base, max_attempts;
    int64_t lease_expires_at_ms;
    char owner[JSTORE_OWNER_BUF];
    bool has_webhook;
} jstore__head_t;

static const char *const jstore__state_names[JSTORE_STATE_COUNT] = {
    "accepted", "queued", "running", "succeeded", "failed", "retry_wait", "dead", "cancelled",
    "scheduled",
};
static const char *const jstore__wh_names[] = {"pending", "delivered", "failed"};

const char *jstore_state_name(jstore_state_t state)
{
    if ((unsigned)state >= JSTORE_STATE_COUNT) {
        return "unknown";
    }
    return jstore__state_names[state];
}

bool jstore_state_parse(const char *name, jstore_state_t *out)
{
    for (int i = 0; name && i < JSTORE_STATE_COUNT; i++) {
        if (strcmp(name, jstore__state_names[i]) == 0) {
            *out = (jstore_state_t)i;
            return true;
        }
    }
    return false;
}

/* ---- SQLite helpers ---- */

static int jstore__err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SL_EAGAIN;
    case SQLITE_CONSTRAINT:
        return SL_EEXIST;
    case SQLITE_NOMEM:
        return SL_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_SCHEMA:
        return SL_ECORRUPT;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return -EACCES;
    default:
        return -EIO;
    }
}

static void jstore__reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Steps a statement that returns no rows, then resets it. */
static int jstore__exec(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    jstore__reset(stmt);
    return rc == SQLITE_DONE ? 0 : jstore__err(rc);
}

static void jstore__bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(stmt, i);
    }
}

static char *jstore__col_dup(sqlite3_stmt *stmt, int i)
{
    const unsigned char *s = sqlite3_column_text(stmt, i);
    return s ? sl_xstrndup((const char *)s, (size_t)sqlite3_column_bytes(stmt, i)) : NULL;
}

static void jstore__col_copy(sqlite3_stmt *stmt, int i, char *buf, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(stmt, i);
    size_t len = s ? SL_MIN((size_t)sqlite3_column_bytes(stmt, i), cap - 1) : 0;
    if (len) {
        memcpy(buf, s, len);
    }
    buf[len] = '\0';
}

static jstore_state_t jstore__col_state(sqlite3_stmt *stmt, int i)
{
    jstore_state_t state = JSTORE_STATE_COUNT;
    jstore_state_parse((const char *)sqlite3_column_text(stmt, i), &state);
    return state;
}

static int jstore__begin(jstore_t *st)
{
    return jstore__exec(st->stmt[st->in_batch ? S_SAVE : S_BEGIN]);
}

/* Commits when rc is 0, else rolls back; returns rc or the commit's error. Inside a batch the
 * operation's savepoint is released or rolled back instead. */
static int jstore__end(jstore_t *st, int rc)
{
    if (st->in_batch) {
        if (rc != 0) {
            jstore__exec(st->stmt[S_UNDO]);
        }
        int end = jstore__exec(st->stmt[S_RELEASE]);
        return rc != 0 ? rc : end;
    }
    if (rc == 0) {
        rc = jstore__exec(st->stmt[S_COMMIT]);
        if (rc == 0) {
            return 0;
        }
    }
    jstore__exec(st->stmt[S_ROLLBACK]);
    return rc;
}

/* ---- validation ---- */

static bool jstore__name_ok(const char *s, size_t max, bool dot)
{
    size_t len = s ? strnlen(s, max + 1) : 0;
    if (len == 0 || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || c == '-' || (dot && c == '.');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* 0 for NULL or 1..max bytes; SL_ELIMIT past max; SL_EINVAL when empty. */
static int jstore__opt_len(const char *s, size_t max)
{
    if (!s) {
        return 0;
    }
    size_t len = strnlen(s, max + 1);
    return len == 0 ? SL_EINVAL : len > max ? SL_ELIMIT : 0;
}

static int jstore__validate(const jstore_new_t *job)
{
    if (job->id && !jstore__name_ok(job->id, JSTORE_ID_BYTES_MAX, false)) {
        return strnlen(job->id, JSTORE_ID_BYTES_MAX + 1) > JSTORE_ID_BYTES_MAX ? SL_ELIMIT
                                                                               : SL_EINVAL;
    }
    if (!jstore__name_ok(job->type, JSTORE_TYPE_BYTES_MAX, true)) {
        return job->type && strnlen(job->type, JSTORE_TYPE_BYTES_MAX + 1) > JSTORE_TYPE_BYTES_MAX
                   ? SL_ELIMIT
                   : SL_EINVAL;
    }
    if (!job->payload) {
        return SL_EINVAL;
    }
    if (strnlen(job->payload, JSTORE_PAYLOAD_BYTES_MAX + 1) > JSTORE_PAYLOAD_BYTES_MAX) {
        return SL_ELIMIT;
    }
    if (job->timeout_s < 1 || job->max_attempts < 1 || job->run_at_ms < 0) {
        return SL_EINVAL;
    }
    if (job->timeout_s > JSTORE_TIMEOUT_S_MAX || job->max_attempts > JSTORE_MAX_ATTEMPTS_MAX) {
        return SL_ELIMIT;
    }
    int rc = jstore__opt_len(job->key, JSTORE_KEY_BYTES_MAX);
    if (rc == 0) {
        rc = jstore__opt_len(job->webhook, JSTORE_WEBHOOK_BYTES_MAX);
    }
    if (rc == 0) {
        rc = jstore__opt_len(job->idempotency_key, JSTORE_IDEM_KEY_BYTES_MAX);
    }
    if (rc == 0) {
        rc = jstore__opt_len(job->submitter, JSTORE_SUBMITTER_BYTES_MAX);
    }
    if (rc == 0) {
        rc = jstore__opt_len(job->src_topic, JSTORE_TOPIC_BYTES_MAX);
    }
    return rc;
}

/* Binds the head of s cut to max bytes, not splitting a UTF-8 sequence. */
static void jstore__bind_head(sqlite3_stmt *stmt, int i, const char *s, size_t max)
{
    if (!s) {
        sqlite3_bind_null(stmt, i);
        return;
    }
    size_t len = strnlen(s, max + 1);
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    sqlite3_bind_text(stmt, i, s, (int)len, SQLITE_STATIC);
}

/* Binds the last max bytes of s, starting on a UTF-8 boundary. */
static void jstore__bind_tail(sqlite3_stmt *stmt, int i, const char *s, size_t max)
{
    if (!s) {
        sqlite3_bind_null(stmt, i);
        return;
    }
    size_t len = strlen(s);
    size_t start = len > max ? len - max : 0;
    while (start > 0 && start < len && ((unsigned char)s[start] & 0xC0) == 0x80) {
        start++;
    }
    sqlite3_bind_text(stmt, i, s + start, (int)(len - start), SQLITE_STATIC);
}

/* ---- open / close ---- */

static int jstore__migrate(jstore_t *st)
{
    int rc = jstore__err(sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (rc != 0) {
        return rc;
    }
    rc = jstore__err(sqlite3_exec(
        st->db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", NULL, NULL,
        NULL));
    sqlite3_stmt *stmt = NULL;
    if (rc == 0) {
        rc = jstore__err(sqlite3_prepare_v2(
            st->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &stmt, NULL));
    }
    int version = 0;
    if (rc == 0 && sqlite3_step(stmt) == SQLITE_ROW) {
        version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc == 0 && (version < 0 || version > JSTORE_SCHEMA_VERSION)) {
        rc = SL_ECORRUPT;
    }
    for (int v = version; rc == 0 && v < JSTORE_SCHEMA_VERSION; v++) {
        rc = jstore__err(sqlite3_exec(st->db, jstore__migrations[v], NULL, NULL, NULL));
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES(%d)", v + 1);
        if (rc == 0) {
            rc = jstore__err(sqlite3_exec(st->db, sql, NULL, NULL, NULL));
        }
    }
    int end = jstore__err(sqlite3_exec(st->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL));
    return rc != 0 ? rc : end;
}

static int jstore__pragmas(jstore_t *st)
{
    sqlite3_stmt *stmt = NULL;
    int rc = jstore__err(sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL));
    if (rc == 0) {
        int step = sqlite3_step(stmt);
        const unsigned char *mode = sqlite3_column_text(stmt, 0);
        rc = step != SQLITE_ROW ? jstore__err(step)
             : (mode && strcmp((const char *)mode, "wal") == 0) ? 0
                                                                 : SL_EINVAL;
    }
    sqlite3_finalize(stmt);
    if (rc == 0) {
        rc = jstore__err(sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL));
    }
    return rc;
}

int jstore_open(const char *path, jstore_t **out)
{
    *out = NULL;
    if (!path || !*path) {
        return SL_EINVAL;
    }
    jstore_t *st = sl_xcalloc(1, sizeof *st);
    int rc = jstore__err(sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL));
    if (rc == 0) {
        sqlite3_busy_timeout(st->db, JSTORE_BUSY_TIMEOUT_MS);
        rc = jstore__pragmas(st);
    }
    if (rc == 0) { /* off while migrating: a table rebuild drops and renames the jobs table */
        rc = jstore__err(sqlite3_exec(st->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL));
    }
    if (rc == 0) {
        rc = jstore__migrate(st);
    }
    if (rc == 0) {
        rc = jstore__err(sqlite3_exec(st->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL));
    }
    for (int i = 0; rc == 0 && i < S_COUNT; i++) {
        rc = jstore__err(sqlite3_prepare_v3(st->db, jstore__sql[i], -1,
                                            SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL));
    }
    if (rc != 0) {
        jstore_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void jstore_close(jstore_t *st)
{
    if (!st) {
        return;
    }
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]);
    }
    sqlite3_close(st->db);
    free(st);
}

/* ---- create / get / list ---- */

static const char jstore__b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* ULID: 48-bit ms time then 80 random bits, as 26 Crockford base32 characters. */
int jstore_new_id(int64_t now_ms, char id[JSTORE_ID_BUF])
{
    uint8_t b[16];
    for (int i = 0; i < 6; i++) {
        b[i] = (uint8_t)((uint64_t)now_ms >> (40 - 8 * i));
    }
    if (getrandom(b + 6, 10, 0) != 10) {
        return errno ? -errno : -EIO;
    }
    for (int i = 0; i < JSTORE_ID_BYTES_GEN; i++) {
        unsigned v = 0;
        for (int k = i * 5 - 2; k < i * 5 + 3; k++) {
            unsigned bit = k < 0 ? 0 : (b[k / 8] >> (7 - k % 8)) & 1;
            v = (v << 1) | bit;
        }
        id[i] = jstore__b32[v];
    }
    id[JSTORE_ID_BYTES_GEN] = '\0';
    return 0;
}

/* Looks up an existing job id with a one-column statement bound by the caller. */
static bool jstore__find(sqlite3_stmt *stmt, char id_out[JSTORE_ID_BUF])
{
    bool found = sqlite3_step(stmt) == SQLITE_ROW;
    if (found) {
        jstore__col_copy(stmt, 0, id_out, JSTORE_ID_BUF);
    }
    jstore__reset(stmt);
    return found;
}

static int jstore__insert(jstore_t *st, const jstore_new_t *job, const char *id, int64_t now_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_JOB_INSERT];
    jstore__bind_text(stmt, 1, id);
    jstore__bind_text(stmt, 2, job->type);
    jstore__bind_text(stmt, 3, job->key);
    jstore__bind_text(stmt, 4, job->payload);
    jstore__bind_text(stmt, 5, job->webhook);
    sqlite3_bind_int(stmt, 6, job->timeout_s);
    sqlite3_bind_int(stmt, 7, job->max_attempts);
    jstore__bind_text(stmt, 8, job->idempotency_key);
    sqlite3_bind_int64(stmt, 9, now_ms);
    jstore__bind_text(stmt, 10, job->src_topic);
    sqlite3_bind_int(stmt, 11, job->src_partition);
    sqlite3_bind_int64(stmt, 12, job->src_offset);
    jstore__bind_text(stmt, 13, job->submitter);
    bool later = job->run_at_ms > now_ms;
    sqlite3_bind_text(stmt, 14, jstore__state_names[later ? JSTORE_SCHEDULED : JSTORE_ACCEPTED],
                      -1, SQLITE_STATIC);
    if (job->run_at_ms > 0) {
        sqlite3_bind_int64(stmt, 15, job->run_at_ms);
    }
    if (later) {
        sqlite3_bind_int64(stmt, 16, job->run_at_ms);
    }
    return jstore__exec(stmt);
}

int jstore_create(jstore_t *st, const jstore_new_t *job, int64_t now_ms, char id_out[JSTORE_ID_BUF],
                  bool *created)
{
    *created = false;
    int rc = jstore__validate(job);
    char id[JSTORE_ID_BUF];
    if (rc == 0 && job->id) {
        snprintf(id, sizeof id, "%s", job->id);
    } else if (rc == 0) {
        rc = jstore_new_id(now_ms, id);
    }
    if (rc != 0 || (rc = jstore__begin(st)) != 0) {
        return rc;
    }
    sqlite3_bind_text(st->stmt[S_JOB_BY_ID], 1, id, -1, SQLITE_STATIC);
    if (jstore__find(st->stmt[S_JOB_BY_ID], id_out)) {
        return jstore__end(st, 0);
    }
    if (job->idempotency_key) {
        sqlite3_bind_text(st->stmt[S_JOB_BY_IDEM], 1, job->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st->stmt[S_JOB_BY_IDEM], 2, job->idempotency_key, -1, SQLITE_STATIC);
        if (jstore__find(st->stmt[S_JOB_BY_IDEM], id_out)) {
            return jstore__end(st, 0);
        }
    }
    rc = jstore__end(st, jstore__insert(st, job, id, now_ms));
    if (rc == 0) {
        memcpy(id_out, id, strlen(id) + 1);
        *created = true;
    }
    return rc;
}

static void jstore__fill_job(sqlite3_stmt *stmt, jstore_job_t *job)
{
    jstore__col_copy(stmt, 0, job->id, sizeof job->id);
    char **strs[] = {&job->type,       &job->key,        &job->payload,
                     &job->webhook,    &job->idempotency_key, &job->last_error,
                     &job->log_tail,   &job->result,     &job->lease_owner,
                     &job->src_topic};
    for (size_t i = 0; i < SL_ARRAY_LEN(strs); i++) {
        *strs[i] = jstore__col_dup(stmt, (int)i + 1);
    }
    job->state = jstore__col_state(stmt, 11);
    job->timeout_s = sqlite3_column_int(stmt, 12);
    job->max_attempts = sqlite3_column_int(stmt, 13);
    job->attempt = sqlite3_column_int(stmt, 14);
    job->attempt_base = sqlite3_column_int(stmt, 15);
    job->src_partition = sqlite3_column_int(stmt, 16);
    job->src_offset = sqlite3_column_int64(stmt, 17);
    job->created_ms = sqlite3_column_int64(stmt, 18);
    job->updated_ms = sqlite3_column_int64(stmt, 19);
    job->started_ms = sqlite3_column_int64(stmt, 20);
    job->finished_ms = sqlite3_column_int64(stmt, 21);
    job->next_attempt_at_ms = sqlite3_column_int64(stmt, 22);
    job->lease_expires_at_ms = sqlite3_column_int64(stmt, 23);
    jstore__col_copy(stmt, 24, job->submitter, sizeof job->submitter);
    job->run_at_ms = sqlite3_column_int64(stmt, 25);
}

int jstore_get(jstore_t *st, const char *id, jstore_job_t *job)
{
    memset(job, 0, sizeof *job);
    if (!id) {
        return SL_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[S_JOB_GET];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? SL_ENOTFOUND : jstore__err(step);
    if (rc == 0) {
        jstore__fill_job(stmt, job);
    }
    jstore__reset(stmt);
    return rc;
}

void jstore_job_deinit(jstore_job_t *job)
{
    char *strs[] = {job->type,       job->key,    job->payload,     job->webhook,
                    job->idempotency_key, job->last_error, job->log_tail, job->result,
                    job->lease_owner, job->src_topic};
    for (size_t i = 0; i < SL_ARRAY_LEN(strs); i++) {
        free(strs[i]);
    }
    memset(job, 0, sizeof *job);
}

static int jstore__check_max(size_t max)
{
    return max == 0 ? SL_EINVAL : max > JSTORE_PAGE_MAX ? SL_ELIMIT : 0;
}

/* Steps a SELECT to the end; SQLITE_DONE is 0, anything else an error. */
static int jstore__step_end(int step)
{
    return step == SQLITE_DONE ? 0 : jstore__err(step);
}

int jstore_list(jstore_t *st, int state, const char *type, jstore_cursor_t *cursor,
                jstore_summary_t *out, size_t limit, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(limit);
    if (rc != 0 || state >= JSTORE_STATE_COUNT) {
        return rc ? rc : SL_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[S_LIST];
    jstore__bind_text(stmt, 1, state < 0 ? NULL : jstore__state_names[state]);
    jstore__bind_text(stmt, 2, type);
    sqlite3_bind_int64(stmt, 3, cursor->created_ms);
    sqlite3_bind_text(stmt, 4, cursor->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, (int64_t)limit);
    int step = SQLITE_DONE;
    while (*n < limit && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_summary_t *row = &out[(*n)++];
        jstore__col_copy(stmt, 0, row->id, sizeof row->id);
        jstore__col_copy(stmt, 1, row->type, sizeof row->type);
        row->state = jstore__col_state(stmt, 2);
        row->attempt = sqlite3_column_int(stmt, 3);
        row->max_attempts = sqlite3_column_int(stmt, 4);
        row->created_ms = sqlite3_column_int64(stmt, 5);
        row->updated_ms = sqlite3_column_int64(stmt, 6);
        row->next_attempt_at_ms = sqlite3_column_int64(stmt, 7);
        row->attempt_base = sqlite3_column_int(stmt, 8);
    }
    rc = *n < limit ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    if (rc == 0 && *n > 0) {
        cursor->created_ms = out[*n - 1].created_ms;
        memcpy(cursor->id, out[*n - 1].id, sizeof cursor->id);
    }
    return rc;
}

/* ---- transitions ---- */

static int jstore__head(jstore_t *st, const char *id, jstore__head_t *head)
{
    sqlite3_stmt *stmt = st->stmt[S_JOB_HEAD];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? SL_ENOTFOUND : jstore__err(step);
    if (rc == 0) {
        head->state = jstore__col_state(stmt, 0);
        head->attempt = sqlite3_column_int(stmt, 1);
        head->attempt_base = sqlite3_column_int(stmt, 2);
        head->max_attempts = sqlite3_column_int(stmt, 3);
        head->lease_expires_at_ms = sqlite3_column_int64(stmt, 4);
        jstore__col_copy(stmt, 5, head->owner, sizeof head->owner);
        head->has_webhook = sqlite3_column_int(stmt, 6) != 0;
    }
    jstore__reset(stmt);
    return rc;
}

/* Begins a write transaction and reads the head; on error nothing is left open. */
static int jstore__begin_head(jstore_t *st, const char *id, jstore__head_t *head)
{
    if (!id) {
        return SL_EINVAL;
    }
    int rc = jstore__begin(st);
    if (rc == 0) {
        rc = jstore__head(st, id, head);
        if (rc != 0) {
            jstore__end(st, rc);
        }
    }
    return rc;
}

/* An event for an older attempt is a redelivery (SL_EEXIST); a newer one is SL_ERANGE. */
static int jstore__attempt_cmp(const jstore__head_t *head, int32_t attempt)
{
    return attempt < head->attempt ? SL_EEXIST : attempt > head->attempt ? SL_ERANGE : 0;
}

static int jstore__set_state(jstore_t *st, const char *id, jstore_state_t state, int64_t now_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_UPD_STATE];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, jstore__state_names[state], -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, now_ms);
    return jstore__exec(stmt);
}

static int jstore__hist_close(jstore_t *st, const char *id, int32_t attempt, const char *outcome,
                              const char *error, int64_t now_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_HIST_CLOSE];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, attempt);
    sqlite3_bind_int64(stmt, 3, now_ms);
    sqlite3_bind_text(stmt, 4, outcome, -1, SQLITE_STATIC);
    jstore__bind_head(stmt, 5, error, JSTORE_ERROR_BYTES_MAX);
    return jstore__exec(stmt);
}

int jstore_mark_queued(jstore_t *st, const char *id, int64_t now_ms)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    if (head.state == JSTORE_ACCEPTED) {
        rc = jstore__set_state(st, id, JSTORE_QUEUED, now_ms);
    } else {
        rc = head.state == JSTORE_CANCELLED ? SL_EINVAL : SL_EEXIST;
    }
    return jstore__end(st, rc);
}

static int jstore__lease_ok(const char *owner, int64_t lease_ms)
{
    if (jstore__opt_len(owner, JSTORE_OWNER_BYTES_MAX) != 0 || !owner) {
        return owner && strnlen(owner, JSTORE_OWNER_BYTES_MAX + 1) > JSTORE_OWNER_BYTES_MAX
                   ? SL_ELIMIT
                   : SL_EINVAL;
    }
    return lease_ms < 1 ? SL_EINVAL : lease_ms > JSTORE_LEASE_MS_MAX ? SL_ELIMIT : 0;
}

static int jstore__apply_running(jstore_t *st, const char *id, int32_t attempt,
                                 const char *owner, int64_t lease_ms, int64_t now_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_UPD_RUNNING];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, now_ms + lease_ms);
    sqlite3_bind_int64(stmt, 4, now_ms);
    int rc = jstore__exec(stmt);
    if (rc == 0) {
        stmt = st->stmt[S_HIST_INSERT];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, attempt);
        sqlite3_bind_int64(stmt, 3, now_ms);
        rc = jstore__exec(stmt);
    }
    return rc;
}

int jstore_mark_running(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                        int64_t lease_ms, int64_t now_ms)
{
    int rc = attempt < 1 ? SL_EINVAL : jstore__lease_ok(owner, lease_ms);
    jstore__head_t head;
    if (rc != 0 || (rc = jstore__begin_head(st, id, &head)) != 0) {
        return rc;
    }
    rc = jstore__attempt_cmp(&head, attempt);
    if (rc == 0) {
        switch (head.state) {
        case JSTORE_ACCEPTED: /* the assigned event overtook the publisher's queued mark */
        case JSTORE_QUEUED:
        case JSTORE_RETRY_WAIT:
            rc = jstore__apply_running(st, id, attempt, owner, lease_ms, now_ms);
            break;
        case JSTORE_RUNNING:
        case JSTORE_SUCCEEDED:
        case JSTORE_FAILED:
        case JSTORE_DEAD:
            rc = SL_EEXIST; /* this attempt already started (maybe on another worker) */
            break;
        default:
            rc = SL_EINVAL;
            break;
        }
    }
    return jstore__end(st, rc);
}

int jstore_heartbeat_lease(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                           int64_t lease_ms, int64_t now_ms)
{
    int rc = jstore__lease_ok(owner, lease_ms);
    jstore__head_t head;
    if (rc != 0 || (rc = jstore__begin_head(st, id, &head)) != 0) {
        return rc;
    }
    if (head.state != JSTORE_RUNNING || head.attempt != attempt ||
        strcmp(head.owner, owner) != 0 || head.lease_expires_at_ms <= now_ms) {
        rc = SL_ECLOSED;
    } else {
        sqlite3_stmt *stmt = st->stmt[S_UPD_LEASE];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, now_ms + lease_ms);
        sqlite3_bind_int64(stmt, 3, now_ms);
        rc = jstore__exec(stmt);
    }
    return jstore__end(st, rc);
}

static int jstore__apply_finish(jstore_t *st, const char *id, int32_t attempt, bool succeeded,
                                const char *result, const char *error, const char *log_tail,
                                int64_t now_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_UPD_FINISH];
    jstore_state_t state = succeeded ? JSTORE_SUCCEEDED : JSTORE_FAILED;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, jstore__state_names[state], -1, SQLITE_STATIC);
    jstore__bind_text(stmt, 3, result);
    jstore__bind_head(stmt, 4, error, JSTORE_ERROR_BYTES_MAX);
    jstore__bind_tail(stmt, 5, log_tail, JSTORE_LOG_TAIL_BYTES_MAX);
    sqlite3_bind_int64(stmt, 6, now_ms);
    int rc = jstore__exec(stmt);
    if (rc == 0) {
        rc = jstore__hist_close(st, id, attempt, jstore__state_names[state], error, now_ms);
    }
    return rc;
}

int jstore_finish(jstore_t *st, const char *id, int32_t attempt, bool succeeded,
                  const char *result, const char *error, const char *log_tail, int64_t now_ms)
{
    if (result && strnlen(result, JSTORE_RESULT_BYTES_MAX + 1) > JSTORE_RESULT_BYTES_MAX) {
        return SL_ELIMIT;
    }
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    rc = jstore__attempt_cmp(&head, attempt);
    if (rc == 0 && head.state == JSTORE_RUNNING) {
        rc = jstore__apply_finish(st, id, attempt, succeeded, result, error, log_tail, now_ms);
    } else if (rc == 0) {
        bool done = head.state == JSTORE_SUCCEEDED || head.state == JSTORE_FAILED ||
                    head.state == JSTORE_DEAD;
        rc = done ? SL_EEXIST : SL_EINVAL;
    }
    return jstore__end(st, rc);
}

int jstore_reclaim_expired(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    rc = jstore__attempt_cmp(&head, attempt);
    if (rc == 0 && head.state == JSTORE_RUNNING) {
        char error[JSTORE_OWNER_BUF + 64];
        snprintf(error, sizeof error, "lease expired (owner %s)", head.owner);
        rc = head.lease_expires_at_ms > now_ms
                 ? SL_EINVAL
                 : jstore__apply_finish(st, id, attempt, false, NULL, error, NULL, now_ms);
        if (rc == 0) {
            rc = jstore__hist_close(st, id, attempt, "lease_expired", error, now_ms);
        }
    } else if (rc == 0) {
        bool done = head.state == JSTORE_SUCCEEDED || head.state == JSTORE_FAILED ||
                    head.state == JSTORE_DEAD;
        rc = done ? SL_EEXIST : SL_EINVAL;
    }
    return jstore__end(st, rc);
}

int jstore_schedule_retry(jstore_t *st, const char *id, int32_t attempt, int64_t next_at_ms,
                          int64_t now_ms)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    rc = jstore__attempt_cmp(&head, attempt);
    if (rc == 0 && head.state != JSTORE_FAILED) {
        rc = SL_EINVAL;
    } else if (rc == 0 && (head.attempt - head.attempt_base >= head.max_attempts ||
                           head.attempt >= JSTORE_ATTEMPT_NO_MAX)) {
        rc = SL_ELIMIT;
    } else if (rc == 0) {
        sqlite3_stmt *stmt = st->stmt[S_UPD_RETRY];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, next_at_ms);
        sqlite3_bind_int64(stmt, 3, now_ms);
        rc = jstore__exec(stmt);
    }
    return jstore__end(st, rc);
}

int jstore_mark_dead(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    rc = jstore__attempt_cmp(&head, attempt);
    if (rc == 0) {
        rc = head.state == JSTORE_FAILED ? jstore__set_state(st, id, JSTORE_DEAD, now_ms)
             : head.state == JSTORE_DEAD ? SL_EEXIST
                                         : SL_EINVAL;
    }
    return jstore__end(st, rc);
}

int jstore_requeue_for_operator_retry(jstore_t *st, const char *id, int64_t now_ms,
                                      int32_t *attempt_out)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    if (head.state != JSTORE_FAILED && head.state != JSTORE_DEAD &&
        head.state != JSTORE_CANCELLED) {
        rc = SL_EINVAL;
    } else if (head.attempt >= JSTORE_ATTEMPT_NO_MAX) {
        rc = SL_ELIMIT;
    } else {
        sqlite3_stmt *stmt = st->stmt[S_UPD_REQUEUE];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, now_ms);
        rc = jstore__exec(stmt);
    }
    rc = jstore__end(st, rc);
    if (rc == 0 && attempt_out) {
        *attempt_out = head.attempt + 1;
    }
    return rc;
}

int jstore_cancel(jstore_t *st, const char *id, int64_t now_ms, jstore_state_t *prev)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    if (prev) {
        *prev = head.state;
    }
    if (head.state == JSTORE_CANCELLED) {
        rc = SL_EEXIST;
    } else if (head.state == JSTORE_SUCCEEDED || head.state == JSTORE_DEAD) {
        rc = SL_EINVAL;
    } else {
        sqlite3_stmt *stmt = st->stmt[S_UPD_CANCEL];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, now_ms);
        rc = jstore__exec(stmt);
        if (rc == 0 && head.state == JSTORE_RUNNING) {
            rc = jstore__hist_close(st, id, head.attempt, "cancelled", NULL, now_ms);
        }
    }
    return jstore__end(st, rc);
}

int jstore_release(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                   const char *why, int64_t now_ms)
{
    jstore__head_t head;
    int rc = owner ? jstore__begin_head(st, id, &head) : SL_EINVAL;
    if (rc != 0) {
        return rc;
    }
    if (head.state != JSTORE_RUNNING || head.attempt != attempt ||
        strcmp(head.owner, owner) != 0) {
        rc = SL_ECLOSED;
    } else if (head.attempt >= JSTORE_ATTEMPT_NO_MAX) {
        rc = SL_ELIMIT; /* left to its lease: it expires and the job fails as before */
    } else {
        sqlite3_stmt *stmt = st->stmt[S_UPD_RELEASE];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, now_ms);
        rc = jstore__exec(stmt);
        if (rc == 0) {
            rc = jstore__hist_close(st, id, attempt, "released", why, now_ms);
        }
    }
    return jstore__end(st, rc);
}

/* ---- batches and scans ---- */

int jstore_batch_begin(jstore_t *st)
{
    SL_ASSERT(!st->in_batch);
    int rc = jstore__exec(st->stmt[S_BEGIN]);
    st->in_batch = rc == 0;
    return rc;
}

int jstore_batch_end(jstore_t *st)
{
    SL_ASSERT(st->in_batch);
    st->in_batch = false;
    int rc = jstore__exec(st->stmt[S_COMMIT]);
    if (rc != 0) {
        jstore__exec(st->stmt[S_ROLLBACK]);
    }
    return rc;
}

int jstore_ping(jstore_t *st)
{
    SL_ASSERT(!st->in_batch);
    int rc = jstore__exec(st->stmt[S_BEGIN]);
    if (rc == 0) {
        rc = jstore__exec(st->stmt[S_ROLLBACK]);
    }
    return rc;
}

int jstore_take_due(jstore_t *st, int64_t now_ms, int64_t claim_ms, jstore_due_t *out,
                    size_t max, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc != 0 || claim_ms < 1) {
        return rc ? rc : SL_EINVAL;
    }
    rc = jstore__begin(st);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *stmt = st->stmt[S_DUE];
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_due_t *due = &out[(*n)++];
        jstore__col_copy(stmt, 0, due->id, sizeof due->id);
        due->attempt = sqlite3_column_int(stmt, 1);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        sqlite3_stmt *claim = st->stmt[S_DUE_CLAIM];
        sqlite3_bind_text(claim, 1, out[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(claim, 2, now_ms + claim_ms);
        sqlite3_bind_int64(claim, 3, now_ms);
        rc = jstore__exec(claim);
    }
    rc = jstore__end(st, rc);
    if (rc != 0) {
        *n = 0;
    }
    return rc;
}

int jstore_next_due(jstore_t *st, int64_t *due_ms)
{
    *due_ms = INT64_MAX;
    sqlite3_stmt *stmt = st->stmt[S_NEXT_DUE];
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        *due_ms = sqlite3_column_int64(stmt, 0);
    }
    int rc = step == SQLITE_ROW ? 0 : jstore__step_end(step);
    jstore__reset(stmt);
    return rc;
}

int jstore_expired_leases(jstore_t *st, int64_t now_ms, jstore_lease_t *out, size_t max,
                          size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *stmt = st->stmt[S_EXPIRED];
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_lease_t *lease = &out[(*n)++];
        jstore__col_copy(stmt, 0, lease->id, sizeof lease->id);
        lease->attempt = sqlite3_column_int(stmt, 1);
        jstore__col_copy(stmt, 2, lease->owner, sizeof lease->owner);
        lease->lease_expires_at_ms = sqlite3_column_int64(stmt, 3);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    return rc;
}

int jstore_attempts(jstore_t *st, const char *id, jstore_attempt_t *out, size_t max, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    char found[JSTORE_ID_BUF];
    if (rc != 0 || !id) {
        return rc ? rc : SL_EINVAL;
    }
    sqlite3_bind_text(st->stmt[S_JOB_BY_ID], 1, id, -1, SQLITE_STATIC);
    if (!jstore__find(st->stmt[S_JOB_BY_ID], found)) {
        return SL_ENOTFOUND;
    }
    sqlite3_stmt *stmt = st->stmt[S_HIST_LIST];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_attempt_t *att = &out[(*n)++];
        att->attempt = sqlite3_column_int(stmt, 0);
        att->started_ms = sqlite3_column_int64(stmt, 1);
        att->finished_ms = sqlite3_column_int64(stmt, 2);
        jstore__col_copy(stmt, 3, att->outcome, sizeof att->outcome);
        jstore__col_copy(stmt, 4, att->error, sizeof att->error);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    return rc;
}

int jstore_counts(jstore_t *st, jstore_count_t *out, size_t max, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *stmt = st->stmt[S_COUNTS];
    sqlite3_bind_int64(stmt, 1, (int64_t)max + 1);
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*n == max) {
            rc = SL_ELIMIT;
            break;
        }
        jstore_count_t *count = &out[(*n)++];
        jstore__col_copy(stmt, 0, count->type, sizeof count->type);
        count->state = jstore__col_state(stmt, 1);
        count->count = sqlite3_column_int64(stmt, 2);
    }
    if (rc == 0) {
        rc = jstore__step_end(step);
    }
    jstore__reset(stmt);
    return rc;
}

/* ---- webhook deliveries ---- */

int jstore_webhook_enqueue(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms)
{
    jstore__head_t head;
    int rc = jstore__begin_head(st, id, &head);
    if (rc != 0) {
        return rc;
    }
    if (!head.has_webhook || attempt < 1 || attempt > head.attempt) {
        rc = SL_EINVAL;
    } else {
        sqlite3_stmt *stmt = st->stmt[S_WH_INSERT];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, attempt);
        sqlite3_bind_int64(stmt, 3, now_ms);
        rc = jstore__exec(stmt);
        if (rc == 0 && sqlite3_changes(st->db) == 0) {
            rc = SL_EEXIST;
        }
    }
    return jstore__end(st, rc);
}

static void jstore__fill_delivery(sqlite3_stmt *stmt, jstore_delivery_t *dlv)
{
    jstore__col_copy(stmt, 0, dlv->job_id, sizeof dlv->job_id);
    dlv->attempt = sqlite3_column_int(stmt, 1);
    const char *status = (const char *)sqlite3_column_text(stmt, 2);
    dlv->status = JSTORE_WH_FAILED;
    for (size_t i = 0; status && i < SL_ARRAY_LEN(jstore__wh_names); i++) {
        if (strcmp(status, jstore__wh_names[i]) == 0) {
            dlv->status = (jstore_wh_status_t)i;
        }
    }
    dlv->tries = sqlite3_column_int(stmt, 3);
    dlv->last_status_code = sqlite3_column_int(stmt, 4);
    dlv->next_try_at_ms = sqlite3_column_int64(stmt, 5);
    jstore__col_copy(stmt, 6, dlv->url, sizeof dlv->url);
    jstore__col_copy(stmt, 7, dlv->last_error, sizeof dlv->last_error);
}

static int jstore__claim(jstore_t *st, const jstore_delivery_t *dlv, int64_t until_ms)
{
    sqlite3_stmt *stmt = st->stmt[S_WH_CLAIM];
    sqlite3_bind_text(stmt, 1, dlv->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, dlv->attempt);
    sqlite3_bind_int64(stmt, 3, until_ms);
    return jstore__exec(stmt);
}

int jstore_webhook_take_due(jstore_t *st, int64_t now_ms, int64_t claim_ms,
                            jstore_delivery_t *out, size_t max, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc == 0 && claim_ms < 1) {
        rc = SL_EINVAL;
    }
    if (rc != 0 || (rc = jstore__begin(st)) != 0) {
        return rc;
    }
    sqlite3_stmt *stmt = st->stmt[S_WH_DUE];
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore__fill_delivery(stmt, &out[(*n)++]);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        out[i].next_try_at_ms = now_ms + claim_ms;
        rc = jstore__claim(st, &out[i], now_ms + claim_ms);
    }
    rc = jstore__end(st, rc);
    if (rc != 0) {
        *n = 0;
    }
    return rc;
}

int jstore_webhook_get(jstore_t *st, const char *id, int32_t attempt, jstore_delivery_t *out)
{
    if (!id) {
        return SL_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[S_WH_GET];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, attempt);
    int step = sqlite3_step(stmt);
    int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? SL_ENOTFOUND : jstore__err(step);
    if (rc == 0) {
        jstore__fill_delivery(stmt, out);
    }
    jstore__reset(stmt);
    return rc;
}

int jstore_webhook_record(jstore_t *st, const char *id, int32_t attempt, bool delivered,
                          int32_t status_code, const char *error, int32_t tries_max,
                          int64_t next_try_ms, int64_t now_ms)
{
    if (tries_max < 1 || tries_max > JSTORE_WEBHOOK_TRIES_MAX) {
        return tries_max < 1 ? SL_EINVAL : SL_ELIMIT;
    }
    int rc = jstore__begin(st);
    if (rc != 0) {
        return rc;
    }
    jstore_delivery_t dlv;
    rc = jstore_webhook_get(st, id, attempt, &dlv);
    if (rc != 0) {
        return jstore__end(st, rc);
    }
    if (dlv.status != JSTORE_WH_PENDING) {
        return jstore__end(st, SL_EINVAL);
    }
    jstore_wh_status_t status = delivered                    ? JSTORE_WH_DELIVERED
                                : dlv.tries + 1 >= tries_max ? JSTORE_WH_FAILED
                                                             : JSTORE_WH_PENDING;
    sqlite3_stmt *stmt = st->stmt[S_WH_RECORD];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, attempt);
    sqlite3_bind_text(stmt, 3, jstore__wh_names[status], -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, status == JSTORE_WH_PENDING ? next_try_ms : now_ms);
    sqlite3_bind_int(stmt, 5, status_code);
    jstore__bind_head(stmt, 6, delivered ? NULL : error, JSTORE_ERROR_BYTES_MAX);
    sqlite3_bind_int64(stmt, 7, now_ms);
    rc = jstore__exec(stmt);
    if (rc == 0) {
        stmt = st->stmt[S_WH_TRY_INSERT];
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, attempt);
        sqlite3_bind_int(stmt, 3, dlv.tries + 1);
        sqlite3_bind_int64(stmt, 4, now_ms);
        sqlite3_bind_int(stmt, 5, delivered);
        sqlite3_bind_int(stmt, 6, status_code);
        jstore__bind_head(stmt, 7, delivered ? NULL : error, JSTORE_ERROR_BYTES_MAX);
        rc = jstore__exec(stmt);
    }
    return jstore__end(st, rc);
}

int jstore_webhook_tries(jstore_t *st, const char *id, jstore_wh_try_t *out, size_t max,
                         size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc != 0 || !id) {
        return rc ? rc : SL_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[S_WH_TRY_LIST];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_wh_try_t *t = &out[(*n)++];
        t->attempt = sqlite3_column_int(stmt, 0);
        t->try_no = sqlite3_column_int(stmt, 1);
        t->at_ms = sqlite3_column_int64(stmt, 2);
        t->delivered = sqlite3_column_int(stmt, 3) != 0;
        t->status_code = sqlite3_column_int(stmt, 4);
        jstore__col_copy(stmt, 5, t->error, sizeof t->error);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    return rc;
}

/* ---- worker process groups ---- */

int jstore_proc_add(jstore_t *st, const jstore_proc_t *proc, int64_t now_ms)
{
    if (proc->pgid <= 0 || strnlen(proc->boot_id, sizeof proc->boot_id) == sizeof proc->boot_id) {
        return SL_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[S_PROC_ADD];
    sqlite3_bind_int(stmt, 1, proc->pgid);
    sqlite3_bind_int64(stmt, 2, proc->start_ticks);
    sqlite3_bind_text(stmt, 3, proc->boot_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, proc->svc_pid);
    sqlite3_bind_int64(stmt, 5, proc->svc_start_ticks);
    sqlite3_bind_int64(stmt, 6, now_ms);
    return jstore__exec(stmt);
}

int jstore_proc_remove(jstore_t *st, int32_t pgid, int64_t start_ticks)
{
    sqlite3_stmt *stmt = st->stmt[S_PROC_DEL];
    sqlite3_bind_int(stmt, 1, pgid);
    sqlite3_bind_int64(stmt, 2, start_ticks);
    return jstore__exec(stmt);
}

int jstore_proc_list(jstore_t *st, jstore_proc_t *out, size_t max, size_t *n)
{
    *n = 0;
    int rc = jstore__check_max(max);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *stmt = st->stmt[S_PROC_LIST];
    sqlite3_bind_int64(stmt, 1, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        jstore_proc_t *p = &out[(*n)++];
        p->pgid = sqlite3_column_int(stmt, 0);
        p->start_ticks = sqlite3_column_int64(stmt, 1);
        jstore__col_copy(stmt, 2, p->boot_id, sizeof p->boot_id);
        p->svc_pid = sqlite3_column_int(stmt, 3);
        p->svc_start_ticks = sqlite3_column_int64(stmt, 4);
    }
    rc = *n < max ? jstore__step_end(step) : 0;
    jstore__reset(stmt);
    return rc;
}

int jstore_set_durable(jstore_t *st, bool durable)
{
    return jstore__err(sqlite3_exec(st->db, durable ? "PRAGMA synchronous=FULL"
                                                    : "PRAGMA synchronous=OFF",
                                    NULL, NULL, NULL));
}
