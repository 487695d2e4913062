/* Job store of `sluice jobs` (issue 4): durable job records, their state machine, the attempt
 * history, worker leases and pending webhook deliveries, in SQLite (WAL, synchronous=FULL).
 * The schema and its migrations are in jstore.c (table `schema_version` holds the version).
 * Every transition is idempotent by (job id, attempt): a redelivered event changes nothing twice.
 * Thread: a jstore_t is used by one thread at a time; other processes or threads open their own
 * jstore_t on the same file (WAL readers never block the writer; writers wait busy_timeout). */
#ifndef JSTORE_H
#define JSTORE_H

#include "sl_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits. Every one is checked at the API boundary and tested at N and N+1. */
#define JSTORE_ID_BYTES_GEN 26               /* generated ids: ULID, Crockford base32 */
#define JSTORE_ID_BYTES_MAX 64               /* caller ids: 1..64 of [0-9A-Za-z_-] */
#define JSTORE_TYPE_BYTES_MAX 64             /* job type, same alphabet as ids plus '.' */
#define JSTORE_KEY_BYTES_MAX 256             /* concurrency key (e.g. a shop id) */
#define JSTORE_IDEM_KEY_BYTES_MAX 256        /* idempotency key */
#define JSTORE_WEBHOOK_BYTES_MAX 2048        /* webhook URL */
#define JSTORE_TOPIC_BYTES_MAX 249           /* source topic name (Kafka's own limit) */
#define JSTORE_OWNER_BYTES_MAX 128           /* lease owner (worker id) */
#define JSTORE_PAYLOAD_BYTES_MAX (1 << 20)   /* payload JSON text: larger is SL_ELIMIT */
#define JSTORE_RESULT_BYTES_MAX (1 << 20)    /* result JSON text: larger is SL_ELIMIT */
#define JSTORE_ERROR_BYTES_MAX 2048          /* last error: longer text is cut to its head */
#define JSTORE_LOG_TAIL_BYTES_MAX (16 << 10) /* log tail: longer text is cut to its last bytes */
#define JSTORE_TIMEOUT_S_MAX (7 * 86400)     /* job time limit, 1..this */
#define JSTORE_MAX_ATTEMPTS_MAX 100          /* attempts per budget, 1..this */
#define JSTORE_ATTEMPT_NO_MAX 1000           /* attempts over a job's life (operator retries) */
#define JSTORE_LEASE_MS_MAX (3600 * 1000)    /* one lease grant or renewal, 1..this */
#define JSTORE_PAGE_MAX 1000                 /* rows per list/scan call: more is SL_ELIMIT */
#define JSTORE_WEBHOOK_TRIES_MAX 10          /* delivery tries per (job, attempt) */
#define JSTORE_BUSY_TIMEOUT_MS 5000          /* wait for another connection's write lock */
#define JSTORE_SUBMITTER_BYTES_MAX 64        /* submitter: an API token's id (hex digest) */
#define JSTORE_DELAY_MS_MAX (366LL * 86400 * 1000) /* a delayed job starts at most this far ahead */

#define JSTORE_ID_BUF (JSTORE_ID_BYTES_MAX + 1)
#define JSTORE_TYPE_BUF (JSTORE_TYPE_BYTES_MAX + 1)
#define JSTORE_OWNER_BUF (JSTORE_OWNER_BYTES_MAX + 1)
#define JSTORE_ERROR_BUF (JSTORE_ERROR_BYTES_MAX + 1)
#define JSTORE_WEBHOOK_BUF (JSTORE_WEBHOOK_BYTES_MAX + 1)

typedef struct jstore jstore_t;

/* States. accepted -> queued -> running -> succeeded | failed; failed -> retry_wait (next
 * attempt) | dead; retry_wait -> running; failed | dead | cancelled -> queued (operator retry,
 * fresh budget); running -> queued (released by a stopping worker, next attempt due at once,
 * budget unspent); accepted | queued | running | failed | retry_wait -> cancelled.
 * A delayed job starts as scheduled (created with run_at_ms later than now): scheduled -> queued
 * when jstore_take_due finds it due; scheduled -> cancelled.
 * next_attempt_at_ms is set only in queued, retry_wait and scheduled (0 in every other state). */
typedef enum {
    JSTORE_ACCEPTED,
    JSTORE_QUEUED,
    JSTORE_RUNNING,
    JSTORE_SUCCEEDED,
    JSTORE_FAILED,
    JSTORE_RETRY_WAIT,
    JSTORE_DEAD,
    JSTORE_CANCELLED,
    JSTORE_SCHEDULED,
    JSTORE_STATE_COUNT
} jstore_state_t;

/* Name of a state ("retry_wait"); parse returns false on an unknown name. */
const char *jstore_state_name(jstore_state_t state);
bool jstore_state_parse(const char *name, jstore_state_t *out);

/* A new job. Strings are borrowed for the call. id NULL: one is generated. key, webhook,
 * idempotency_key, src_topic may be NULL. src_partition/src_offset are -1 when unknown. */
typedef struct {
    const char *id;
    const char *type;
    const char *key;
    const char *payload; /* JSON text, stored opaque */
    const char *webhook;
    const char *idempotency_key; /* unique per job type */
    const char *src_topic;
    const char *submitter; /* the id of the API token that submitted it; NULL: none */
    int32_t timeout_s;
    int32_t max_attempts;
    int32_t src_partition;
    int64_t src_offset;
    int64_t run_at_ms; /* 0: now; later than the creation time: scheduled until then */
} jstore_new_t;

/* A job as read back. Strings are heap copies owned by the struct (NULL when absent); release
 * with jstore_job_deinit. Timestamps are ms since the epoch, 0 when not set. */
typedef struct {
    char id[JSTORE_ID_BUF];
    char *type, *key, *payload, *webhook, *idempotency_key;
    char *last_error, *log_tail, *result, *lease_owner, *src_topic;
    jstore_state_t state;
    int32_t timeout_s, max_attempts;
    int32_t attempt;      /* current (or next) attempt number, from 1 */
    int32_t attempt_base; /* attempts before the current budget (operator retries reset it) */
    int32_t src_partition;
    int64_t src_offset;
    int64_t created_ms, updated_ms, started_ms, finished_ms, next_attempt_at_ms;
    int64_t lease_expires_at_ms;
    int64_t run_at_ms; /* the start a delayed job asked for; 0 when it asked for none */
    char submitter[JSTORE_SUBMITTER_BYTES_MAX + 1]; /* "" when none */
} jstore_job_t;

/* Row of a list: fixed size, no heap. */
typedef struct {
    char id[JSTORE_ID_BUF];
    char type[JSTORE_TYPE_BUF];
    jstore_state_t state;
    int32_t attempt, max_attempts;
    int32_t attempt_base; /* attempts before the current budget: attempt - base is 1..max */
    int64_t created_ms, updated_ms, next_attempt_at_ms;
} jstore_summary_t;

/* Paging cursor: start with {0, ""}; each list call moves it past the last row returned. */
typedef struct {
    int64_t created_ms;
    char id[JSTORE_ID_BUF];
} jstore_cursor_t;

typedef struct {
    int32_t attempt;
    int64_t started_ms, finished_ms; /* finished_ms 0 while running */
    char outcome[16]; /* running | succeeded | failed | lease_expired | cancelled | released */
    char error[JSTORE_ERROR_BUF];
} jstore_attempt_t;

typedef struct {
    char id[JSTORE_ID_BUF];
    int32_t attempt;
    char owner[JSTORE_OWNER_BUF];
    int64_t lease_expires_at_ms;
} jstore_lease_t;

typedef struct {
    char type[JSTORE_TYPE_BUF];
    jstore_state_t state;
    int64_t count;
} jstore_count_t;

typedef enum { JSTORE_WH_PENDING, JSTORE_WH_DELIVERED, JSTORE_WH_FAILED } jstore_wh_status_t;

typedef struct {
    char job_id[JSTORE_ID_BUF];
    int32_t attempt;
    jstore_wh_status_t status;
    int32_t tries;
    int32_t last_status_code; /* 0 before the first try or when no HTTP answer came */
    int64_t next_try_at_ms;
    char url[JSTORE_WEBHOOK_BUF];
    char last_error[JSTORE_ERROR_BUF];
} jstore_delivery_t;

/* Opens (creating if needed) the store at path and migrates its schema. WAL journal,
 * synchronous=FULL (an accepted job survives power loss), busy timeout JSTORE_BUSY_TIMEOUT_MS.
 * Errors: SL_ECORRUPT for a file that is not a store or has a newer schema; SL_EINVAL. */
int jstore_open(const char *path, jstore_t **out);
/* Finalizes statements and closes the connection. NULL is a no-op. */
void jstore_close(jstore_t *st);

/* Writes a new ULID (time-ordered, 26 characters) for now_ms. Returns 0 or -errno. */
int jstore_new_id(int64_t now_ms, char id[JSTORE_ID_BUF]);

/* Creates a job in state accepted, attempt 1 (scheduled, due at job->run_at_ms, when that is
 * later than now_ms). Idempotent: an existing id, or an existing
 * (type, idempotency_key), returns 0 with *created false and that job's id in id_out; nothing
 * is written. Errors: SL_EINVAL (missing/malformed field), SL_ELIMIT (a limit). */
int jstore_create(jstore_t *st, const jstore_new_t *job, int64_t now_ms, char id_out[JSTORE_ID_BUF],
                  bool *created);
/* Reads a job into caller storage (release with jstore_job_deinit). SL_ENOTFOUND. */
int jstore_get(jstore_t *st, const char *id, jstore_job_t *job);
void jstore_job_deinit(jstore_job_t *job);

/* Lists jobs after *cursor in (created, id) order; state < 0 and type NULL mean any.
 * limit is 1..JSTORE_PAGE_MAX (else SL_ELIMIT/SL_EINVAL); *n rows go to out; the cursor moves
 * past the last one (*n < limit means the end was reached). */
int jstore_list(jstore_t *st, int state, const char *type, jstore_cursor_t *cursor,
                jstore_summary_t *out, size_t limit, size_t *n);

/* Transitions. All return 0 when applied; SL_EEXIST when this step was already applied for
 * this attempt or the attempt is already past (a redelivered event: nothing changed);
 * SL_ERANGE when attempt is ahead of the job's; SL_EINVAL when the state forbids it;
 * SL_ENOTFOUND; SL_EAGAIN when another connection held the write lock longer than
 * JSTORE_BUSY_TIMEOUT_MS (nothing changed; call again). Each runs in one write transaction. */

/* accepted -> queued (the assigned event was published). */
int jstore_mark_queued(jstore_t *st, const char *id, int64_t now_ms);
/* accepted | queued | retry_wait -> running for `attempt` (accepted: the assigned event was
 * consumed before its publisher marked the job queued), leased to owner until now + lease_ms;
 * opens the attempt's history row. */
int jstore_mark_running(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                        int64_t lease_ms, int64_t now_ms);
/* Extends a running attempt's lease to now + lease_ms. SL_ECLOSED when the lease is lost:
 * expired, another owner, or the job is no longer running this attempt (stop the work). */
int jstore_heartbeat_lease(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                           int64_t lease_ms, int64_t now_ms);
/* running -> succeeded | failed for `attempt`. result (JSON, may be NULL; SL_ELIMIT past
 * JSTORE_RESULT_BYTES_MAX), error (cut to JSTORE_ERROR_BYTES_MAX) and log_tail (cut to its last
 * JSTORE_LOG_TAIL_BYTES_MAX bytes) are stored; the lease is dropped. */
int jstore_finish(jstore_t *st, const char *id, int32_t attempt, bool succeeded,
                  const char *result, const char *error, const char *log_tail, int64_t now_ms);
/* running -> failed with outcome lease_expired, only if the lease of `attempt` is still expired
 * at now (a late heartbeat wins). SL_EINVAL when the lease is live. */
int jstore_reclaim_expired(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms);
/* failed -> retry_wait: attempt becomes attempt + 1, due at next_at_ms. SL_ELIMIT when the
 * budget (max_attempts since the last operator retry) is spent: mark the job dead instead. */
int jstore_schedule_retry(jstore_t *st, const char *id, int32_t attempt, int64_t next_at_ms,
                          int64_t now_ms);
/* failed -> dead for `attempt`. */
int jstore_mark_dead(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms);
/* failed | dead | cancelled -> queued with a fresh budget (attempt + 1, budget restarts), due
 * now for jstore_take_due (the retry producer publishes it); *attempt_out gets the new attempt. SL_ELIMIT past JSTORE_ATTEMPT_NO_MAX attempts. */
int jstore_requeue_for_operator_retry(jstore_t *st, const char *id, int64_t now_ms,
                                      int32_t *attempt_out);
/* running -> queued for a worker that stops before `attempt` ends (service shutdown): the
 * lease is dropped, the attempt closed with outcome "released" and error why (may be NULL),
 * and the next attempt is due at now_ms without spending the budget (attempt_base moves
 * too). SL_ECLOSED when owner no longer holds this attempt's lease (nothing changed);
 * SL_ELIMIT past JSTORE_ATTEMPT_NO_MAX attempts (left to its lease). */
int jstore_release(jstore_t *st, const char *id, int32_t attempt, const char *owner,
                   const char *why, int64_t now_ms);
/* Any unfinished state -> cancelled; *prev (may be NULL) gets the state it left, so the caller
 * stops a running worker. SL_EEXIST if already cancelled; SL_EINVAL if succeeded or dead. */
int jstore_cancel(jstore_t *st, const char *id, int64_t now_ms, jstore_state_t *prev);

/* Batches: between begin and end every operation above runs as a savepoint inside one write
 * transaction (an operation that fails leaves no trace; the others stay), and end commits them
 * all with one fsync. Reads see the batch's own writes. Keep batches short: they hold the write
 * lock. end returns the commit's error (then nothing of the batch is kept). */
int jstore_batch_begin(jstore_t *st);
int jstore_batch_end(jstore_t *st);
/* Checks the store is writable (takes and releases the write lock). */
int jstore_ping(jstore_t *st);

/* A job due for (re)publication: a retry whose backoff has passed, or an operator retry. */
typedef struct {
    char id[JSTORE_ID_BUF];
    int32_t attempt;
} jstore_due_t;
/* Takes up to max (1..JSTORE_PAGE_MAX) queued, retry_wait or scheduled jobs due at now (in due
 * order) and claims each until now + claim_ms (a scheduled one becomes queued) (a crash before its event is published makes it due again then; a
 * duplicate event is harmless: jstore_mark_running answers SL_EEXIST). */
int jstore_take_due(jstore_t *st, int64_t now_ms, int64_t claim_ms, jstore_due_t *out,
                    size_t max, size_t *n);

/* The earliest due time of a queued, retry_wait or scheduled job (a claimed one's claim end
 * included), INT64_MAX when none: the scheduler sleeps until then. One index seek. */
int jstore_next_due(jstore_t *st, int64_t *due_ms);

/* Running jobs whose lease expired at or before now, oldest first; max 1..JSTORE_PAGE_MAX. */
int jstore_expired_leases(jstore_t *st, int64_t now_ms, jstore_lease_t *out, size_t max,
                          size_t *n);
/* Attempt history of a job in attempt order, at most max (1..JSTORE_PAGE_MAX) rows.
 * SL_ENOTFOUND for an unknown job. */
int jstore_attempts(jstore_t *st, const char *id, jstore_attempt_t *out, size_t max,
                    size_t *n);
/* Job counts grouped by (type, state), for metrics. SL_ELIMIT (with *n = max rows filled)
 * when there are more groups than max (1..JSTORE_PAGE_MAX). */
int jstore_counts(jstore_t *st, jstore_count_t *out, size_t max, size_t *n);

/* Webhook deliveries: one per (job, attempt), pending until delivered or out of tries; they
 * live in the store, so pending ones survive a restart. */

/* Queues a delivery of the job's current outcome, due now. SL_EEXIST if queued before;
 * SL_EINVAL if the job has no webhook; SL_ENOTFOUND. */
int jstore_webhook_enqueue(jstore_t *st, const char *id, int32_t attempt, int64_t now_ms);
/* Takes up to max (1..JSTORE_PAGE_MAX) pending deliveries due at now and claims each until
 * now + claim_ms (a crash mid-delivery makes it due again then). */
int jstore_webhook_take_due(jstore_t *st, int64_t now_ms, int64_t claim_ms,
                            jstore_delivery_t *out, size_t max, size_t *n);
/* Records one try (also kept in the try history): delivered, or failed with status_code/error and next try at next_try_ms;
 * after tries_max (1..JSTORE_WEBHOOK_TRIES_MAX) tries the delivery becomes failed.
 * SL_EINVAL when it is not pending. */
int jstore_webhook_record(jstore_t *st, const char *id, int32_t attempt, bool delivered,
                          int32_t status_code, const char *error, int32_t tries_max,
                          int64_t next_try_ms, int64_t now_ms);
/* One try of a delivery, as recorded. */
typedef struct {
    int32_t attempt, try_no;
    int64_t at_ms;
    bool delivered;
    int32_t status_code; /* 0 when no HTTP answer came */
    char error[JSTORE_ERROR_BUF];
} jstore_wh_try_t;
/* Every recorded try of the job's deliveries, in (attempt, try) order, at most max
 * (1..JSTORE_PAGE_MAX). */
int jstore_webhook_tries(jstore_t *st, const char *id, jstore_wh_try_t *out, size_t max,
                         size_t *n);

/* Reads one delivery. SL_ENOTFOUND. */
int jstore_webhook_get(jstore_t *st, const char *id, int32_t attempt, jstore_delivery_t *out);

/* Worker process groups (issue 20): one row per group a service incarnation started, so that
 * a successor ends whatever a crashed one left before it re-grants leases. */
typedef struct {
    int32_t pgid;             /* the group's id = its leader's pid */
    int64_t start_ticks;      /* the leader's start time (/proc/<pid>/stat field 22) */
    char boot_id[40];         /* /proc/sys/kernel/random/boot_id: ticks count from boot */
    int32_t svc_pid;          /* the service process that started it ... */
    int64_t svc_start_ticks;  /* ... and its start time (a dead one's groups are ended) */
} jstore_proc_t;
/* Records (or re-records) a group. SL_EINVAL for a bad pgid or boot id. */
int jstore_proc_add(jstore_t *st, const jstore_proc_t *proc, int64_t now_ms);
/* Forgets a group (no error when absent). */
int jstore_proc_remove(jstore_t *st, int32_t pgid, int64_t start_ticks);
/* Every recorded group, oldest first, at most max (1..JSTORE_PAGE_MAX). */
int jstore_proc_list(jstore_t *st, jstore_proc_t *out, size_t max, size_t *n);
/* false: commits on this connection skip fsync (synchronous=OFF). For records that only
 * matter while the machine stays up (process groups die with it). */
int jstore_set_durable(jstore_t *st, bool durable);

#endif
