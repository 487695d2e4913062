/* Unit tests for the jobs service's SQLite job store (src/services/jobs/jstore.c): the state
 * machine, idempotency by key and by (id, attempt), leases, paging, every limit at N and N+1,
 * webhook deliveries, reopening and a second connection (another process) on the same file. */
#include "jstore.h"
#include "sl_common.h"
#include "sl_test.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

static char test_dir[256];
static int test_seq;

/* A fresh database path in the test directory. */
static const char *db_path(void)
{
    static char path[320];
    snprintf(path, sizeof path, "%s/store%d.db", test_dir, ++test_seq);
    return path;
}

static jstore_new_t new_job(const char *id, const char *type)
{
    jstore_new_t job = {
        .id = id,
        .type = type,
        .payload = "{\"url\":\"https://example.test/p/1\"}",
        .timeout_s = 30,
        .max_attempts = 3,
        .src_partition = -1,
        .src_offset = -1,
    };
    return job;
}

/* Creates a job and returns 0 or the error. */
static int add(jstore_t *st, const char *id, const char *type, int64_t now)
{
    jstore_new_t job = new_job(id, type);
    char out[JSTORE_ID_BUF];
    bool created;
    return jstore_create(st, &job, now, out, &created);
}

static jstore_state_t state_of(jstore_t *st, const char *id)
{
    jstore_job_t job;
    if (jstore_get(st, id, &job) != 0) {
        return JSTORE_STATE_COUNT;
    }
    jstore_state_t state = job.state;
    jstore_job_deinit(&job);
    return state;
}

static char *str_of(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return rc;
}

TEST(test_open_uses_wal_and_records_schema_version)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    ASSERT_STREQ((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &stmt, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(stmt, 0), 6);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    jstore_close(st);
    ASSERT_EQ(jstore_open(path, &st), 0); /* migrating an up-to-date store is a no-op */
    jstore_close(st);
}

TEST(test_open_rejects_newer_schema_and_non_database)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    jstore_close(st);
    ASSERT_EQ(raw_exec(path, "INSERT INTO schema_version VALUES(99)"), SQLITE_OK);
    ASSERT_EQ(jstore_open(path, &st), SL_ECORRUPT);
    ASSERT_TRUE(st == NULL);
    const char *junk = db_path();
    FILE *f = fopen(junk, "w");
    ASSERT_TRUE(f != NULL);
    for (int i = 0; i < 200; i++) {
        fputs("this is not a database ", f);
    }
    fclose(f);
    ASSERT_EQ(jstore_open(junk, &st), SL_ECORRUPT);
    ASSERT_EQ(jstore_open("", &st), SL_EINVAL);
    ASSERT_EQ(jstore_open("/nonexistent-dir/jobs.db", &st), -EACCES);
    ASSERT_TRUE(st == NULL);
}

TEST(test_create_generates_ulid_and_get_returns_every_field)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job(NULL, "ocr.page");
    job.key = "shop-17";
    job.webhook = "https://client.test/hook";
    job.idempotency_key = "req-1";
    job.src_topic = "jobs.requests";
    job.src_partition = 3;
    job.src_offset = 12345;
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1700000000000, id, &created), 0);
    ASSERT_TRUE(created);
    ASSERT_EQ(strlen(id), JSTORE_ID_BYTES_GEN);
    ASSERT_EQ(id[0], '0'); /* a 48-bit time leaves the top base32 digit small */
    for (size_t i = 0; i < strlen(id); i++) {
        ASSERT_TRUE(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", id[i]) != NULL);
    }
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, id, &got), 0);
    ASSERT_STREQ(got.id, id);
    ASSERT_STREQ(got.type, "ocr.page");
    ASSERT_STREQ(got.key, "shop-17");
    ASSERT_STREQ(got.payload, job.payload);
    ASSERT_STREQ(got.webhook, "https://client.test/hook");
    ASSERT_STREQ(got.idempotency_key, "req-1");
    ASSERT_STREQ(got.src_topic, "jobs.requests");
    ASSERT_EQ(got.src_partition, 3);
    ASSERT_EQ(got.src_offset, 12345);
    ASSERT_EQ(got.state, JSTORE_ACCEPTED);
    ASSERT_EQ(got.attempt, 1);
    ASSERT_EQ(got.timeout_s, 30);
    ASSERT_EQ(got.max_attempts, 3);
    ASSERT_EQ(got.created_ms, 1700000000000);
    ASSERT_EQ(got.started_ms, 0);
    ASSERT_TRUE(got.result == NULL && got.last_error == NULL && got.lease_owner == NULL);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_get(st, "nope", &got), SL_ENOTFOUND);
    char id2[JSTORE_ID_BUF];
    job.idempotency_key = NULL;
    ASSERT_EQ(jstore_create(st, &job, 1700000000000, id2, &created), 0);
    ASSERT_TRUE(strcmp(id, id2) != 0);
    jstore_close(st);
}

TEST(test_create_is_idempotent_by_id)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job("job-1", "t");
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1000, id, &created), 0);
    ASSERT_TRUE(created);
    ASSERT_EQ(jstore_mark_queued(st, "job-1", 1001), 0);
    job.payload = "{\"other\":1}";
    ASSERT_EQ(jstore_create(st, &job, 2000, id, &created), 0);
    ASSERT_TRUE(!created);
    ASSERT_STREQ(id, "job-1");
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "job-1", &got), 0);
    ASSERT_EQ(got.state, JSTORE_QUEUED); /* the redelivered request changed nothing */
    ASSERT_EQ(got.created_ms, 1000);
    ASSERT_TRUE(strstr(got.payload, "example.test") != NULL);
    jstore_job_deinit(&got);
    jstore_close(st);
}

TEST(test_create_is_idempotent_by_key_per_type)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job(NULL, "ocr");
    job.idempotency_key = "client-42";
    char id1[JSTORE_ID_BUF], id2[JSTORE_ID_BUF], id3[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1000, id1, &created), 0);
    ASSERT_TRUE(created);
    job.id = "explicit-other-id"; /* a new id with a used key is still the same job */
    ASSERT_EQ(jstore_create(st, &job, 1001, id2, &created), 0);
    ASSERT_TRUE(!created);
    ASSERT_STREQ(id2, id1);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "explicit-other-id", &got), SL_ENOTFOUND);
    job.type = "thumbnail"; /* keys are unique per type */
    ASSERT_EQ(jstore_create(st, &job, 1002, id3, &created), 0);
    ASSERT_TRUE(created);
    ASSERT_STREQ(id3, "explicit-other-id");
    jstore_cursor_t cur = {0, ""};
    jstore_summary_t rows[10];
    size_t n;
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, 10, &n), 0);
    ASSERT_EQ(n, 2);
    jstore_close(st);
}

TEST(test_state_machine_happy_path_and_history)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 100), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 110), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "worker-a", 5000, 120), 0);
    ASSERT_EQ(jstore_heartbeat_lease(st, "j", 1, "worker-a", 5000, 4000), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_RUNNING);
    ASSERT_STREQ(got.lease_owner, "worker-a");
    ASSERT_EQ(got.lease_expires_at_ms, 9000);
    ASSERT_EQ(got.started_ms, 120);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_finish(st, "j", 1, true, "{\"ok\":true}", NULL, "line1\nline2\n", 6000), 0);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_SUCCEEDED);
    ASSERT_STREQ(got.result, "{\"ok\":true}");
    ASSERT_STREQ(got.log_tail, "line1\nline2\n");
    ASSERT_EQ(got.finished_ms, 6000);
    ASSERT_TRUE(got.lease_owner == NULL);
    ASSERT_EQ(got.lease_expires_at_ms, 0);
    jstore_job_deinit(&got);
    jstore_attempt_t hist[4];
    size_t n;
    ASSERT_EQ(jstore_attempts(st, "j", hist, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(hist[0].attempt, 1);
    ASSERT_EQ(hist[0].started_ms, 120);
    ASSERT_EQ(hist[0].finished_ms, 6000);
    ASSERT_STREQ(hist[0].outcome, "succeeded");
    ASSERT_EQ(jstore_attempts(st, "nope", hist, 4, &n), SL_ENOTFOUND);
    jstore_close(st);
}

TEST(test_batch_keeps_applied_steps_and_drops_failed_ones)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    ASSERT_EQ(jstore_batch_begin(st), 0);
    ASSERT_EQ(add(st, "a", "t", 100), 0);
    ASSERT_EQ(add(st, "b", "t", 100), 0);
    ASSERT_EQ(jstore_mark_queued(st, "a", 101), 0);
    ASSERT_EQ(jstore_mark_running(st, "nope", 1, "w", 1000, 101), SL_ENOTFOUND);
    ASSERT_EQ(jstore_finish(st, "b", 1, true, NULL, NULL, NULL, 101), SL_EINVAL);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "a", &got), 0); /* reads see the batch's own writes */
    ASSERT_EQ(got.state, JSTORE_QUEUED);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_batch_end(st), 0);
    jstore_close(st);
    ASSERT_EQ(jstore_open(path, &st), 0);
    ASSERT_EQ(jstore_get(st, "b", &got), 0);
    ASSERT_EQ(got.state, JSTORE_ACCEPTED);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_ping(st), 0);
    jstore_close(st);
}

TEST(test_take_due_claims_retries_and_operator_reruns)
{
    jstore_t *st;
    jstore_due_t due[4];
    size_t n = 9;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "r", "t", 100), 0);
    ASSERT_EQ(add(st, "o", "t", 100), 0);
    ASSERT_EQ(jstore_mark_queued(st, "r", 100), 0);
    ASSERT_EQ(jstore_mark_queued(st, "o", 100), 0);
    ASSERT_EQ(jstore_take_due(st, 100, 50, due, 4, &n), 0);
    ASSERT_EQ(n, 0); /* queued by the request consumer: its event is out already */
    ASSERT_EQ(jstore_mark_running(st, "r", 1, "w", 1000, 101), 0);
    ASSERT_EQ(jstore_finish(st, "r", 1, false, NULL, "x", NULL, 102), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "r", 1, 200, 102), 0);
    ASSERT_EQ(jstore_cancel(st, "o", 103, NULL), 0);
    int32_t attempt = 0;
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "o", 104, &attempt), 0);
    ASSERT_EQ(attempt, 2);
    ASSERT_EQ(jstore_take_due(st, 150, 50, due, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(due[0].id, "o");
    ASSERT_EQ(due[0].attempt, 2);
    ASSERT_EQ(jstore_take_due(st, 199, 50, due, 4, &n), 0);
    ASSERT_EQ(n, 0); /* "o" is claimed until 200, "r" due at 200 */
    ASSERT_EQ(jstore_take_due(st, 200, 50, due, 4, &n), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(jstore_take_due(st, 200, 50, due, 0, &n), SL_EINVAL);
    ASSERT_EQ(jstore_take_due(st, 200, 0, due, 4, &n), SL_EINVAL);
    jstore_close(st);
}

TEST(test_assigned_event_may_overtake_the_queued_mark)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 100), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 1000, 101), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 102), SL_EEXIST); /* the late mark changes nothing */
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_RUNNING);
    jstore_job_deinit(&got);
    jstore_close(st);
}

TEST(test_illegal_transitions_are_refused)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 100), 0);
    /* accepted: queue, run (an assigned event may overtake the queued mark) or cancel */
    ASSERT_EQ(jstore_finish(st, "j", 1, true, NULL, NULL, NULL, 101), SL_EINVAL);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 500, 101), SL_EINVAL);
    ASSERT_EQ(jstore_mark_dead(st, "j", 1, 101), SL_EINVAL);
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 101, NULL), SL_EINVAL);
    ASSERT_EQ(jstore_reclaim_expired(st, "j", 1, 101), SL_EINVAL);
    ASSERT_EQ(jstore_heartbeat_lease(st, "j", 1, "w", 1000, 101), SL_ECLOSED);
    ASSERT_EQ(jstore_mark_queued(st, "j", 102), 0);
    ASSERT_EQ(jstore_finish(st, "j", 1, false, NULL, "x", NULL, 103), SL_EINVAL);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "w", 1000, 104), SL_ERANGE); /* ahead */
    ASSERT_EQ(jstore_mark_running(st, "j", 0, "w", 1000, 104), SL_EINVAL);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 1000, 105), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 500, 106), SL_EINVAL); /* still running */
    ASSERT_EQ(jstore_mark_dead(st, "j", 1, 106), SL_EINVAL);
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 106, NULL), SL_EINVAL);
    ASSERT_EQ(jstore_heartbeat_lease(st, "j", 1, "other", 1000, 106), SL_ECLOSED);
    ASSERT_EQ(jstore_finish(st, "j", 1, true, "{}", NULL, NULL, 107), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 500, 108), SL_EINVAL); /* succeeded */
    ASSERT_EQ(jstore_mark_dead(st, "j", 1, 108), SL_EINVAL);
    ASSERT_EQ(jstore_cancel(st, "j", 108, NULL), SL_EINVAL);
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 108, NULL), SL_EINVAL);
    ASSERT_EQ(jstore_mark_queued(st, "nope", 1), SL_ENOTFOUND);
    ASSERT_EQ(jstore_mark_running(st, "nope", 1, "w", 1, 1), SL_ENOTFOUND);
    ASSERT_EQ(jstore_cancel(st, "nope", 1, NULL), SL_ENOTFOUND);
    ASSERT_EQ(state_of(st, "j"), JSTORE_SUCCEEDED);
    jstore_close(st);
}

TEST(test_redelivered_events_change_nothing_twice)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 100), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 101), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 102), SL_EEXIST);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "worker-a", 1000, 110), 0);
    /* the assigned event redelivered to another worker: it must not run the job */
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "worker-b", 1000, 120), SL_EEXIST);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_STREQ(got.lease_owner, "worker-a");
    ASSERT_EQ(got.started_ms, 110);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_finish(st, "j", 1, false, NULL, "exit 1", "boom", 200), 0);
    ASSERT_EQ(jstore_finish(st, "j", 1, true, "{}", NULL, NULL, 201), SL_EEXIST);
    ASSERT_EQ(state_of(st, "j"), JSTORE_FAILED);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 5000, 210), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 9000, 211), SL_EEXIST);
    ASSERT_EQ(jstore_finish(st, "j", 1, true, "{}", NULL, NULL, 212), SL_EEXIST);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "worker-a", 1000, 213), SL_EEXIST);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_RETRY_WAIT);
    ASSERT_EQ(got.attempt, 2);
    ASSERT_EQ(got.next_attempt_at_ms, 5000);
    ASSERT_STREQ(got.last_error, "exit 1");
    ASSERT_STREQ(got.log_tail, "boom");
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "worker-b", 1000, 5000), 0);
    ASSERT_EQ(jstore_finish(st, "j", 2, true, "{\"n\":2}", NULL, NULL, 5100), 0);
    ASSERT_EQ(jstore_finish(st, "j", 2, true, "{\"n\":3}", NULL, NULL, 5200), SL_EEXIST);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_STREQ(got.result, "{\"n\":2}");
    ASSERT_EQ(got.finished_ms, 5100);
    jstore_job_deinit(&got);
    jstore_attempt_t hist[4];
    size_t n;
    ASSERT_EQ(jstore_attempts(st, "j", hist, 4, &n), 0);
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(hist[0].outcome, "failed");
    ASSERT_STREQ(hist[0].error, "exit 1");
    ASSERT_STREQ(hist[1].outcome, "succeeded");
    jstore_close(st);
}

TEST(test_retry_budget_then_dead_then_operator_retry_with_fresh_budget)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job("j", "t");
    job.max_attempts = 2;
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 100, id, &created), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 101), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 1000, 102), 0);
    ASSERT_EQ(jstore_finish(st, "j", 1, false, NULL, "e1", NULL, 103), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 200, 104), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "w", 1000, 200), 0);
    ASSERT_EQ(jstore_finish(st, "j", 2, false, NULL, "e2", NULL, 201), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 2, 300, 202), SL_ELIMIT); /* budget spent */
    ASSERT_EQ(jstore_mark_dead(st, "j", 2, 203), 0);
    ASSERT_EQ(jstore_mark_dead(st, "j", 2, 204), SL_EEXIST);
    ASSERT_EQ(state_of(st, "j"), JSTORE_DEAD);
    int32_t attempt = 0;
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 300, &attempt), 0);
    ASSERT_EQ(attempt, 3);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_QUEUED);
    ASSERT_EQ(got.attempt, 3);
    ASSERT_EQ(got.attempt_base, 2);
    jstore_job_deinit(&got);
    /* a stale dead-letter event for attempt 2 changes nothing */
    ASSERT_EQ(jstore_mark_dead(st, "j", 2, 301), SL_EEXIST);
    ASSERT_EQ(jstore_mark_running(st, "j", 3, "w", 1000, 302), 0);
    ASSERT_EQ(jstore_finish(st, "j", 3, false, NULL, "e3", NULL, 303), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 3, 400, 304), 0); /* fresh budget of 2 */
    ASSERT_EQ(jstore_mark_running(st, "j", 4, "w", 1000, 400), 0);
    ASSERT_EQ(jstore_finish(st, "j", 4, true, "{}", NULL, NULL, 401), 0);
    jstore_attempt_t hist[8];
    size_t n;
    ASSERT_EQ(jstore_attempts(st, "j", hist, 8, &n), 0);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(hist[3].attempt, 4);
    ASSERT_STREQ(hist[3].outcome, "succeeded");
    ASSERT_EQ(jstore_attempts(st, "j", hist, 2, &n), 0); /* bounded by max */
    ASSERT_EQ(n, 2);
    jstore_close(st);
}

TEST(test_lease_expiry_is_detected_and_reclaimed_once)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(add(st, ids[i], "t", 100 + i), 0);
        ASSERT_EQ(jstore_mark_queued(st, ids[i], 110), 0);
    }
    ASSERT_EQ(jstore_mark_running(st, "a", 1, "w1", 1000, 1000), 0);
    ASSERT_EQ(jstore_mark_running(st, "b", 1, "w2", 1000, 1000), 0);
    jstore_lease_t leases[4];
    size_t n;
    ASSERT_EQ(jstore_expired_leases(st, 1999, leases, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_heartbeat_lease(st, "a", 1, "w1", 1000, 1500), 0); /* a's worker lives */
    ASSERT_EQ(jstore_expired_leases(st, 2000, leases, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(leases[0].id, "b");
    ASSERT_EQ(leases[0].attempt, 1);
    ASSERT_STREQ(leases[0].owner, "w2");
    ASSERT_EQ(leases[0].lease_expires_at_ms, 2000);
    /* an expired lease cannot be renewed; a live one cannot be reclaimed */
    ASSERT_EQ(jstore_heartbeat_lease(st, "b", 1, "w2", 1000, 2000), SL_ECLOSED);
    ASSERT_EQ(jstore_reclaim_expired(st, "a", 1, 2000), SL_EINVAL);
    ASSERT_EQ(jstore_reclaim_expired(st, "b", 1, 2000), 0);
    ASSERT_EQ(jstore_reclaim_expired(st, "b", 1, 2001), SL_EEXIST);
    ASSERT_EQ(state_of(st, "b"), JSTORE_FAILED);
    ASSERT_EQ(jstore_expired_leases(st, 2000, leases, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_expired_leases(st, 2500, leases, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(leases[0].id, "a");
    jstore_attempt_t hist[2];
    ASSERT_EQ(jstore_attempts(st, "b", hist, 2, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(hist[0].outcome, "lease_expired");
    ASSERT_TRUE(strstr(hist[0].error, "w2") != NULL);
    /* the dead worker's late report for attempt 1 changes nothing after the retry */
    ASSERT_EQ(jstore_schedule_retry(st, "b", 1, 3000, 2002), 0);
    ASSERT_EQ(jstore_finish(st, "b", 1, true, "{}", NULL, NULL, 2003), SL_EEXIST);
    ASSERT_EQ(jstore_heartbeat_lease(st, "b", 1, "w2", 1000, 2003), SL_ECLOSED);
    ASSERT_EQ(state_of(st, "b"), JSTORE_RETRY_WAIT);
    jstore_close(st);
}

TEST(test_cancel_from_each_unfinished_state)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_state_t prev;
    ASSERT_EQ(add(st, "acc", "t", 1), 0);
    ASSERT_EQ(jstore_cancel(st, "acc", 2, &prev), 0);
    ASSERT_EQ(prev, JSTORE_ACCEPTED);
    ASSERT_EQ(jstore_cancel(st, "acc", 3, &prev), SL_EEXIST);
    ASSERT_EQ(jstore_mark_queued(st, "acc", 3), SL_EINVAL);
    ASSERT_EQ(add(st, "run", "t", 1), 0);
    ASSERT_EQ(jstore_mark_queued(st, "run", 2), 0);
    ASSERT_EQ(jstore_mark_running(st, "run", 1, "w", 1000, 3), 0);
    ASSERT_EQ(jstore_cancel(st, "run", 4, &prev), 0);
    ASSERT_EQ(prev, JSTORE_RUNNING);
    ASSERT_EQ(jstore_finish(st, "run", 1, true, "{}", NULL, NULL, 5), SL_EINVAL);
    ASSERT_EQ(jstore_heartbeat_lease(st, "run", 1, "w", 1000, 5), SL_ECLOSED);
    size_t n;
    jstore_lease_t leases[2];
    ASSERT_EQ(jstore_expired_leases(st, 1 << 30, leases, 2, &n), 0);
    ASSERT_EQ(n, 0);
    jstore_attempt_t hist[2];
    ASSERT_EQ(jstore_attempts(st, "run", hist, 2, &n), 0);
    ASSERT_STREQ(hist[0].outcome, "cancelled");
    int32_t attempt;
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "run", 6, &attempt), 0);
    ASSERT_EQ(attempt, 2);
    ASSERT_EQ(jstore_mark_running(st, "run", 2, "w", 1000, 7), 0);
    ASSERT_EQ(add(st, "wait", "t", 1), 0);
    ASSERT_EQ(jstore_mark_queued(st, "wait", 2), 0);
    ASSERT_EQ(jstore_mark_running(st, "wait", 1, "w", 1000, 3), 0);
    ASSERT_EQ(jstore_finish(st, "wait", 1, false, NULL, "e", NULL, 4), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "wait", 1, 100, 5), 0);
    ASSERT_EQ(jstore_cancel(st, "wait", 6, &prev), 0);
    ASSERT_EQ(prev, JSTORE_RETRY_WAIT);
    ASSERT_EQ(jstore_mark_running(st, "wait", 2, "w", 1000, 100), SL_EINVAL);
    jstore_close(st);
}

TEST(test_list_pages_by_created_then_id_with_filters)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    char id[16];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof id, "job-%02d", 24 - i); /* ids descend while time ascends */
        ASSERT_EQ(add(st, id, i % 2 ? "odd" : "even", 1000 + i / 3), 0);
        if (i % 5 == 0) {
            ASSERT_EQ(jstore_mark_queued(st, id, 2000), 0);
        }
    }
    jstore_cursor_t cur = {0, ""};
    jstore_summary_t rows[10];
    jstore_summary_t all[30];
    size_t n, total = 0;
    for (int page = 0; page < 5; page++) {
        ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, 10, &n), 0);
        memcpy(all + total, rows, n * sizeof rows[0]);
        total += n;
        if (n < 10) {
            break;
        }
    }
    ASSERT_EQ(total, 25);
    for (size_t i = 1; i < total; i++) {
        bool ordered = all[i - 1].created_ms < all[i].created_ms ||
                       (all[i - 1].created_ms == all[i].created_ms &&
                        strcmp(all[i - 1].id, all[i].id) < 0);
        ASSERT_TRUE(ordered);
    }
    ASSERT_STREQ(all[0].id, "job-22"); /* created 1000: job-24, 23, 22 -> sorted by id */
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, 10, &n), 0); /* past the end */
    ASSERT_EQ(n, 0);
    cur = (jstore_cursor_t){0, ""};
    ASSERT_EQ(jstore_list(st, JSTORE_QUEUED, NULL, &cur, rows, 10, &n), 0);
    ASSERT_EQ(n, 5);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(rows[i].state, JSTORE_QUEUED);
    }
    cur = (jstore_cursor_t){0, ""};
    ASSERT_EQ(jstore_list(st, JSTORE_ACCEPTED, "odd", &cur, rows, 10, &n), 0);
    ASSERT_EQ(n, 10); /* 12 odd, of which i = 5, 15 are queued */
    ASSERT_EQ(jstore_list(st, JSTORE_ACCEPTED, "odd", &cur, rows, 10, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_list(st, JSTORE_STATE_COUNT, NULL, &cur, rows, 10, &n), SL_EINVAL);
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, 0, &n), SL_EINVAL);
    jstore_close(st);
}

/* Each string limit: N accepted, N+1 refused with SL_ELIMIT. */
TEST(test_create_limits_at_n_and_n_plus_1)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    char out[JSTORE_ID_BUF];
    bool created;
    char *s = str_of(JSTORE_ID_BYTES_MAX + 1, 'i');
    jstore_new_t job = new_job(s, "t");
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
    s[JSTORE_ID_BYTES_MAX] = '\0';
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
    ASSERT_STREQ(out, s);
    free(s);
    job.id = "bad id!";
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_EINVAL);
    job.id = NULL;
    s = str_of(JSTORE_TYPE_BYTES_MAX + 1, 'y');
    job.type = s;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
    s[JSTORE_TYPE_BYTES_MAX] = '\0';
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
    free(s);
    job.type = "t";
    const char **fields[] = {&job.key, &job.idempotency_key, &job.webhook, &job.src_topic};
    size_t maxes[] = {JSTORE_KEY_BYTES_MAX, JSTORE_IDEM_KEY_BYTES_MAX, JSTORE_WEBHOOK_BYTES_MAX,
                      JSTORE_TOPIC_BYTES_MAX};
    for (size_t f = 0; f < SL_ARRAY_LEN(fields); f++) {
        s = str_of(maxes[f] + 1, 'k');
        *fields[f] = s;
        ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
        s[maxes[f]] = '\0';
        ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
        ASSERT_TRUE(created);
        *fields[f] = NULL;
        free(s);
    }
    s = str_of(JSTORE_PAYLOAD_BYTES_MAX + 1, 'p');
    job.payload = s;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
    s[JSTORE_PAYLOAD_BYTES_MAX] = '\0';
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, out, &got), 0);
    ASSERT_EQ(strlen(got.payload), JSTORE_PAYLOAD_BYTES_MAX);
    jstore_job_deinit(&got);
    free(s);
    job.payload = "{}";
    job.timeout_s = JSTORE_TIMEOUT_S_MAX + 1;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
    job.timeout_s = JSTORE_TIMEOUT_S_MAX;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
    job.max_attempts = JSTORE_MAX_ATTEMPTS_MAX + 1;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_ELIMIT);
    job.max_attempts = JSTORE_MAX_ATTEMPTS_MAX;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), 0);
    job.max_attempts = 0;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_EINVAL);
    job.max_attempts = 1;
    job.timeout_s = 0;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_EINVAL);
    job.timeout_s = 1;
    job.key = "";
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_EINVAL);
    job.key = NULL;
    job.payload = NULL;
    ASSERT_EQ(jstore_create(st, &job, 1, out, &created), SL_EINVAL);
    jstore_close(st);
}

TEST(test_run_limits_at_n_and_n_plus_1)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 1), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 2), 0);
    char *owner = str_of(JSTORE_OWNER_BYTES_MAX + 1, 'w');
    ASSERT_EQ(jstore_mark_running(st, "j", 1, owner, 1000, 3), SL_ELIMIT);
    owner[JSTORE_OWNER_BYTES_MAX] = '\0';
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", JSTORE_LEASE_MS_MAX + 1, 3), SL_ELIMIT);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 0, 3), SL_EINVAL);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, owner, JSTORE_LEASE_MS_MAX, 3), 0);
    ASSERT_EQ(jstore_heartbeat_lease(st, "j", 1, owner, JSTORE_LEASE_MS_MAX + 1, 4), SL_ELIMIT);
    ASSERT_EQ(jstore_heartbeat_lease(st, "j", 1, owner, JSTORE_LEASE_MS_MAX, 4), 0);
    char *result = str_of(JSTORE_RESULT_BYTES_MAX + 1, 'r');
    ASSERT_EQ(jstore_finish(st, "j", 1, true, result, NULL, NULL, 5), SL_ELIMIT);
    ASSERT_EQ(state_of(st, "j"), JSTORE_RUNNING);
    result[JSTORE_RESULT_BYTES_MAX] = '\0';
    char *error = str_of(JSTORE_ERROR_BYTES_MAX + 1, 'e');
    char *log = str_of(JSTORE_LOG_TAIL_BYTES_MAX + 1, 'l');
    log[0] = 'F'; /* the first byte falls off a tail of N+1 */
    ASSERT_EQ(jstore_finish(st, "j", 1, false, result, error, log, 5), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(strlen(got.result), JSTORE_RESULT_BYTES_MAX);
    ASSERT_EQ(strlen(got.last_error), JSTORE_ERROR_BYTES_MAX);
    ASSERT_EQ(strlen(got.log_tail), JSTORE_LOG_TAIL_BYTES_MAX);
    ASSERT_TRUE(strchr(got.log_tail, 'F') == NULL);
    jstore_job_deinit(&got);
    /* at N nothing is cut */
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 10, 6), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "w", 1000, 10), 0);
    log[JSTORE_LOG_TAIL_BYTES_MAX] = '\0';
    error[JSTORE_ERROR_BYTES_MAX] = '\0';
    ASSERT_EQ(jstore_finish(st, "j", 2, false, NULL, error, log, 11), 0);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.log_tail[0], 'F');
    ASSERT_EQ(strlen(got.log_tail), JSTORE_LOG_TAIL_BYTES_MAX);
    ASSERT_STREQ(got.last_error, error);
    jstore_job_deinit(&got);
    free(owner);
    free(result);
    free(error);
    free(log);
    jstore_close(st);
}

TEST(test_log_tail_and_error_cuts_keep_utf8_whole)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 1), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 2), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 1000, 3), 0);
    /* "é" is 2 bytes; N+1 bytes cut at N would split one at either end */
    size_t n = JSTORE_LOG_TAIL_BYTES_MAX + 1;
    char *log = malloc(n + 1);
    for (size_t i = 0; i < n; i += 2) {
        log[i] = (char)0xC3;
        log[i + 1] = (char)0xA9;
    }
    log[n] = '\0';
    log[n - 1] = 'x';
    ASSERT_EQ(jstore_finish(st, "j", 1, false, NULL, log, log, 4), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ((unsigned char)got.log_tail[0], 0xC3);
    ASSERT_EQ(strlen(got.log_tail) % 2, 1);
    ASSERT_EQ(strlen(got.last_error) % 2, 0);
    ASSERT_EQ((unsigned char)got.last_error[strlen(got.last_error) - 1], 0xA9);
    jstore_job_deinit(&got);
    free(log);
    jstore_close(st);
}

TEST(test_page_limits_at_n_and_n_plus_1)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 1), 0);
    size_t n;
    jstore_cursor_t cur = {0, ""};
    jstore_summary_t *rows = calloc(JSTORE_PAGE_MAX + 1, sizeof *rows);
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, JSTORE_PAGE_MAX + 1, &n), SL_ELIMIT);
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, JSTORE_PAGE_MAX, &n), 0);
    ASSERT_EQ(n, 1);
    free(rows);
    jstore_lease_t *leases = calloc(JSTORE_PAGE_MAX + 1, sizeof *leases);
    ASSERT_EQ(jstore_expired_leases(st, 1, leases, JSTORE_PAGE_MAX + 1, &n), SL_ELIMIT);
    ASSERT_EQ(jstore_expired_leases(st, 1, leases, JSTORE_PAGE_MAX, &n), 0);
    free(leases);
    jstore_attempt_t *hist = calloc(JSTORE_PAGE_MAX + 1, sizeof *hist);
    ASSERT_EQ(jstore_attempts(st, "j", hist, JSTORE_PAGE_MAX + 1, &n), SL_ELIMIT);
    ASSERT_EQ(jstore_attempts(st, "j", hist, JSTORE_PAGE_MAX, &n), 0);
    free(hist);
    jstore_count_t *counts = calloc(JSTORE_PAGE_MAX + 1, sizeof *counts);
    ASSERT_EQ(jstore_counts(st, counts, JSTORE_PAGE_MAX + 1, &n), SL_ELIMIT);
    ASSERT_EQ(jstore_counts(st, counts, JSTORE_PAGE_MAX, &n), 0);
    ASSERT_EQ(n, 1);
    free(counts);
    jstore_delivery_t *dlv = calloc(JSTORE_PAGE_MAX + 1, sizeof *dlv);
    ASSERT_EQ(jstore_webhook_take_due(st, 1, 10, dlv, JSTORE_PAGE_MAX + 1, &n), SL_ELIMIT);
    ASSERT_EQ(jstore_webhook_take_due(st, 1, 10, dlv, JSTORE_PAGE_MAX, &n), 0);
    free(dlv);
    jstore_close(st);
}

TEST(test_attempt_number_limit_at_n_and_n_plus_1)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    ASSERT_EQ(add(st, "j", "t", 1), 0);
    ASSERT_EQ(jstore_cancel(st, "j", 2, NULL), 0);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE jobs SET attempt = %d WHERE id = 'j'",
             JSTORE_ATTEMPT_NO_MAX - 1);
    ASSERT_EQ(raw_exec(path, sql), SQLITE_OK); /* a second connection, as a long life would */
    int32_t attempt;
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 3, &attempt), 0);
    ASSERT_EQ(attempt, JSTORE_ATTEMPT_NO_MAX);
    ASSERT_EQ(jstore_mark_running(st, "j", attempt, "w", 1000, 4), 0);
    ASSERT_EQ(jstore_finish(st, "j", attempt, false, NULL, "e", NULL, 5), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", attempt, 10, 6), SL_ELIMIT);
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 7, &attempt), SL_ELIMIT);
    ASSERT_EQ(jstore_mark_dead(st, "j", JSTORE_ATTEMPT_NO_MAX, 8), 0);
    jstore_close(st);
}

TEST(test_counts_by_type_and_state)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "a1", "alpha", 1), 0);
    ASSERT_EQ(add(st, "a2", "alpha", 1), 0);
    ASSERT_EQ(add(st, "a3", "alpha", 1), 0);
    ASSERT_EQ(add(st, "b1", "beta", 1), 0);
    ASSERT_EQ(jstore_mark_queued(st, "a3", 2), 0);
    jstore_count_t counts[8];
    size_t n;
    ASSERT_EQ(jstore_counts(st, counts, 8, &n), 0);
    ASSERT_EQ(n, 3);
    ASSERT_STREQ(counts[0].type, "alpha");
    ASSERT_EQ(counts[0].state, JSTORE_ACCEPTED);
    ASSERT_EQ(counts[0].count, 2);
    ASSERT_STREQ(counts[1].type, "alpha");
    ASSERT_EQ(counts[1].state, JSTORE_QUEUED);
    ASSERT_EQ(counts[1].count, 1);
    ASSERT_STREQ(counts[2].type, "beta");
    ASSERT_EQ(counts[2].count, 1);
    ASSERT_EQ(jstore_counts(st, counts, 3, &n), 0); /* exactly N groups */
    ASSERT_EQ(n, 3);
    ASSERT_EQ(jstore_counts(st, counts, 2, &n), SL_ELIMIT); /* N+1 groups for max 2 */
    ASSERT_EQ(n, 2);
    jstore_close(st);
}

TEST(test_webhook_deliveries_retry_and_survive_reopen)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    jstore_new_t job = new_job("h", "t");
    job.webhook = "https://client.test/hook";
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1, id, &created), 0);
    ASSERT_EQ(add(st, "nohook", "t", 1), 0);
    ASSERT_EQ(jstore_webhook_enqueue(st, "nohook", 1, 10), SL_EINVAL);
    ASSERT_EQ(jstore_webhook_enqueue(st, "h", 2, 10), SL_EINVAL); /* attempt not reached */
    ASSERT_EQ(jstore_webhook_enqueue(st, "h", 1, 10), 0);
    ASSERT_EQ(jstore_webhook_enqueue(st, "h", 1, 11), SL_EEXIST);
    jstore_delivery_t dlv[4];
    size_t n;
    ASSERT_EQ(jstore_webhook_take_due(st, 9, 100, dlv, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_webhook_take_due(st, 10, 100, dlv, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(dlv[0].job_id, "h");
    ASSERT_STREQ(dlv[0].url, "https://client.test/hook");
    ASSERT_EQ(dlv[0].tries, 0);
    ASSERT_EQ(jstore_webhook_take_due(st, 50, 100, dlv, 4, &n), 0); /* claimed until 110 */
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 500, "HTTP 500", 3, 1000, 60), 0);
    jstore_close(st);
    ASSERT_EQ(jstore_open(path, &st), 0);
    ASSERT_EQ(jstore_webhook_get(st, "h", 1, &dlv[0]), 0);
    ASSERT_EQ(dlv[0].status, JSTORE_WH_PENDING);
    ASSERT_EQ(dlv[0].tries, 1);
    ASSERT_EQ(dlv[0].last_status_code, 500);
    ASSERT_STREQ(dlv[0].last_error, "HTTP 500");
    ASSERT_EQ(jstore_webhook_take_due(st, 999, 100, dlv, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_webhook_take_due(st, 1000, 100, dlv, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 0, "timeout", 3, 2000, 1010), 0);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, true, 204, NULL, 3, 0, 2010), 0);
    ASSERT_EQ(jstore_webhook_get(st, "h", 1, &dlv[0]), 0);
    ASSERT_EQ(dlv[0].status, JSTORE_WH_DELIVERED);
    ASSERT_EQ(dlv[0].tries, 3);
    ASSERT_EQ(dlv[0].last_status_code, 204);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, true, 204, NULL, 3, 0, 2020), SL_EINVAL);
    jstore_wh_try_t tries[4];
    ASSERT_EQ(jstore_webhook_tries(st, "h", tries, 4, &n), 0);
    ASSERT_EQ(n, 3); /* every try is kept, the refused fourth is not */
    ASSERT_EQ(tries[0].status_code, 500);
    ASSERT_STREQ(tries[0].error, "HTTP 500");
    ASSERT_EQ(tries[1].try_no, 2);
    ASSERT_STREQ(tries[1].error, "timeout");
    ASSERT_TRUE(tries[2].delivered && tries[2].status_code == 204 && tries[2].at_ms == 2010);
    ASSERT_EQ(jstore_webhook_take_due(st, 1 << 30, 100, dlv, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_webhook_get(st, "h", 2, &dlv[0]), SL_ENOTFOUND);
    jstore_close(st);
}

TEST(test_webhook_gives_up_after_tries_max_at_n_and_n_plus_1)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job("h", "t");
    job.webhook = "http://127.0.0.1:1/";
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1, id, &created), 0);
    ASSERT_EQ(jstore_webhook_enqueue(st, "h", 1, 1), 0);
    int max = JSTORE_WEBHOOK_TRIES_MAX;
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 500, "x", max + 1, 2, 1), SL_ELIMIT);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 500, "x", 0, 2, 1), SL_EINVAL);
    jstore_delivery_t dlv;
    for (int i = 0; i < max - 1; i++) {
        ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 503, "busy", max, 10 + i, 5 + i), 0);
        ASSERT_EQ(jstore_webhook_get(st, "h", 1, &dlv), 0);
        ASSERT_EQ(dlv.status, JSTORE_WH_PENDING);
    }
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 503, "busy", max, 100, 100), 0);
    ASSERT_EQ(jstore_webhook_get(st, "h", 1, &dlv), 0);
    ASSERT_EQ(dlv.status, JSTORE_WH_FAILED);
    ASSERT_EQ(dlv.tries, max);
    ASSERT_EQ(jstore_webhook_record(st, "h", 1, false, 503, "busy", max, 100, 100), SL_EINVAL);
    jstore_close(st);
}

TEST(test_reopen_after_close_keeps_everything)
{
    const char *path = db_path();
    jstore_t *st;
    ASSERT_EQ(jstore_open(path, &st), 0);
    jstore_new_t job = new_job("keep", "ocr");
    job.idempotency_key = "k";
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 10, id, &created), 0);
    ASSERT_EQ(jstore_mark_queued(st, "keep", 11), 0);
    ASSERT_EQ(jstore_mark_running(st, "keep", 1, "w", 1000, 12), 0);
    ASSERT_EQ(jstore_finish(st, "keep", 1, false, NULL, "bad json", "tail", 13), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "keep", 1, 500, 14), 0);
    ASSERT_EQ(add(st, "live", "ocr", 20), 0);
    ASSERT_EQ(jstore_mark_queued(st, "live", 21), 0);
    ASSERT_EQ(jstore_mark_running(st, "live", 1, "w2", 100, 22), 0);
    jstore_close(st);
    ASSERT_EQ(jstore_open(path, &st), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "keep", &got), 0);
    ASSERT_EQ(got.state, JSTORE_RETRY_WAIT);
    ASSERT_EQ(got.attempt, 2);
    ASSERT_STREQ(got.last_error, "bad json");
    ASSERT_STREQ(got.log_tail, "tail");
    ASSERT_EQ(got.next_attempt_at_ms, 500);
    jstore_job_deinit(&got);
    jstore_attempt_t hist[2];
    size_t n;
    ASSERT_EQ(jstore_attempts(st, "keep", hist, 2, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(hist[0].outcome, "failed");
    ASSERT_EQ(jstore_create(st, &job, 30, id, &created), 0); /* the key still dedups */
    ASSERT_TRUE(!created);
    jstore_lease_t leases[2];
    ASSERT_EQ(jstore_expired_leases(st, 122, leases, 2, &n), 0); /* the lease outlived us */
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(leases[0].id, "live");
    jstore_close(st);
}

/* A child process creates the same jobs (same idempotency keys) while the parent does. */
static int race_creates(const char *path, const char *who)
{
    jstore_t *st;
    if (jstore_open(path, &st) != 0) {
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof key, "req-%d", i);
        jstore_new_t job = new_job(NULL, "race");
        job.idempotency_key = key;
        char id[JSTORE_ID_BUF];
        bool created;
        bad += jstore_create(st, &job, 100 + i, id, &created) != 0;
        bad += jstore_mark_queued(st, id, 200) == SL_EINVAL;
    }
    SL_UNUSED(who);
    jstore_close(st);
    return bad;
}

TEST(test_second_connection_and_process_are_serialized)
{
    const char *path = db_path();
    jstore_t *st, *st2;
    ASSERT_EQ(jstore_open(path, &st), 0);
    ASSERT_EQ(jstore_open(path, &st2), 0);
    ASSERT_EQ(add(st, "j", "t", 1), 0);
    ASSERT_EQ(state_of(st2, "j"), JSTORE_ACCEPTED);
    ASSERT_EQ(jstore_mark_queued(st2, "j", 2), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w1", 1000, 3), 0);
    ASSERT_EQ(jstore_mark_running(st2, "j", 1, "w2", 1000, 3), SL_EEXIST);
    jstore_close(st2);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        _exit(race_creates(path, "child"));
    }
    int parent_bad = race_creates(path, "parent");
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_EQ(parent_bad, 0);
    jstore_count_t counts[8];
    size_t n;
    ASSERT_EQ(jstore_counts(st, counts, 8, &n), 0);
    int64_t race_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(counts[i].type, "race") == 0) {
            race_jobs += counts[i].count;
            ASSERT_EQ(counts[i].state, JSTORE_QUEUED);
        }
    }
    ASSERT_EQ(race_jobs, 40);
    jstore_close(st);
}

TEST(test_state_names_round_trip)
{
    for (int i = 0; i < JSTORE_STATE_COUNT; i++) {
        jstore_state_t state;
        ASSERT_TRUE(jstore_state_parse(jstore_state_name((jstore_state_t)i), &state));
        ASSERT_EQ(state, i);
    }
    jstore_state_t state;
    ASSERT_TRUE(!jstore_state_parse("paused", &state));
    ASSERT_STREQ(jstore_state_name(JSTORE_STATE_COUNT), "unknown");
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", test_dir);
    }
}

TEST(test_submitter_round_trips_and_its_limit_holds_at_n_and_n_plus_one)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    char who[JSTORE_SUBMITTER_BYTES_MAX + 2];
    memset(who, 'a', sizeof who - 1);
    who[sizeof who - 1] = '\0';
    jstore_new_t job = new_job("sub-over", "t");
    job.submitter = who; /* N + 1 bytes */
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 1000, id, &created), SL_ELIMIT);
    who[JSTORE_SUBMITTER_BYTES_MAX] = '\0';
    job.id = "sub-at";
    ASSERT_EQ(jstore_create(st, &job, 1000, id, &created), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "sub-at", &got), 0);
    ASSERT_STREQ(got.submitter, who);
    jstore_job_deinit(&got);
    job.id = "sub-none";
    job.submitter = NULL;
    ASSERT_EQ(jstore_create(st, &job, 1000, id, &created), 0);
    ASSERT_EQ(jstore_get(st, "sub-none", &got), 0);
    ASSERT_STREQ(got.submitter, "");
    jstore_job_deinit(&got);
    jstore_close(st);
}

TEST(test_proc_records_add_list_and_remove)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(jstore_set_durable(st, false), 0);
    jstore_proc_t rec = {.pgid = 4242, .start_ticks = 99, .boot_id = "b", .svc_pid = 7,
                         .svc_start_ticks = 5};
    ASSERT_EQ(jstore_proc_add(st, &rec, 1), 0);
    rec.pgid = 0;
    ASSERT_EQ(jstore_proc_add(st, &rec, 1), SL_EINVAL);
    jstore_proc_t out[4];
    size_t n = 0;
    ASSERT_EQ(jstore_proc_list(st, out, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(out[0].pgid, 4242);
    ASSERT_EQ(out[0].start_ticks, 99);
    ASSERT_STREQ(out[0].boot_id, "b");
    ASSERT_EQ(out[0].svc_pid, 7);
    ASSERT_EQ(out[0].svc_start_ticks, 5);
    ASSERT_EQ(jstore_proc_remove(st, 4242, 98), 0); /* another start time: not this record */
    ASSERT_EQ(jstore_proc_list(st, out, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(jstore_proc_remove(st, 4242, 99), 0);
    ASSERT_EQ(jstore_proc_list(st, out, 4, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_set_durable(st, true), 0);
    jstore_close(st);
}

/* Issue 25: the due time of the last retry stayed on running, dead and cancelled jobs, and a
 * list row could not tell the attempt of the current budget from the attempt over the job's
 * life. */
TEST(test_only_queued_and_retry_wait_jobs_have_a_next_attempt)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    jstore_new_t job = new_job("j", "t");
    job.max_attempts = 2;
    char id[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &job, 100, id, &created), 0);
    ASSERT_EQ(jstore_mark_queued(st, "j", 101), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 1000, 102), 0);
    ASSERT_EQ(jstore_finish(st, "j", 1, false, NULL, "e1", NULL, 103), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 1, 200, 104), 0);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.next_attempt_at_ms, 200);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "w", 1000, 200), 0);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.next_attempt_at_ms, 0);
    jstore_job_deinit(&got);
    ASSERT_EQ(jstore_finish(st, "j", 2, false, NULL, "e2", NULL, 201), 0);
    ASSERT_EQ(jstore_mark_dead(st, "j", 2, 203), 0);
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_DEAD);
    ASSERT_EQ(got.next_attempt_at_ms, 0);
    jstore_job_deinit(&got);
    /* an operator re-run: attempt 3 is the first of a fresh budget of 2 */
    ASSERT_EQ(jstore_requeue_for_operator_retry(st, "j", 300, NULL), 0);
    jstore_summary_t rows[2];
    jstore_cursor_t cur = {0, ""};
    size_t n = 0;
    ASSERT_EQ(jstore_list(st, -1, NULL, &cur, rows, 2, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].attempt, 3);
    ASSERT_EQ(rows[0].attempt_base, 2);
    ASSERT_EQ(rows[0].max_attempts, 2);
    ASSERT_EQ(rows[0].next_attempt_at_ms, 300);
    /* cancelled while waiting for a retry: no next attempt either */
    ASSERT_EQ(add(st, "k", "t", 400), 0);
    ASSERT_EQ(jstore_mark_running(st, "k", 1, "w", 1000, 401), 0);
    ASSERT_EQ(jstore_finish(st, "k", 1, false, NULL, "e1", NULL, 402), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "k", 1, 900, 403), 0);
    ASSERT_EQ(jstore_cancel(st, "k", 404, NULL), 0);
    ASSERT_EQ(jstore_get(st, "k", &got), 0);
    ASSERT_EQ(got.next_attempt_at_ms, 0);
    jstore_job_deinit(&got);
    jstore_close(st);
}

/* Issue 25: a stopping worker hands its running job back: due at once, budget unspent, the
 * interrupted attempt recorded as released; only the lease holder may do it. */
TEST(test_release_hands_a_running_job_back_due_at_once)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    ASSERT_EQ(add(st, "j", "t", 100), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 1, "w", 60000, 110), 0);
    ASSERT_EQ(jstore_release(st, "j", 1, "other", "stopping", 120), SL_ECLOSED);
    ASSERT_EQ(jstore_release(st, "j", 2, "w", "stopping", 120), SL_ECLOSED);
    ASSERT_EQ(jstore_release(st, "j", 1, "w", "service stopping", 130), 0);
    ASSERT_EQ(jstore_release(st, "j", 1, "w", "service stopping", 131), SL_ECLOSED);
    jstore_job_t got;
    ASSERT_EQ(jstore_get(st, "j", &got), 0);
    ASSERT_EQ(got.state, JSTORE_QUEUED);
    ASSERT_EQ(got.attempt, 2);
    ASSERT_EQ(got.attempt_base, 1);
    ASSERT_EQ(got.next_attempt_at_ms, 130);
    ASSERT_TRUE(got.lease_owner == NULL);
    jstore_job_deinit(&got);
    jstore_due_t due[2];
    size_t n = 0;
    ASSERT_EQ(jstore_take_due(st, 130, 1000, due, 2, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(due[0].attempt, 2);
    jstore_lease_t leases[1];
    ASSERT_EQ(jstore_expired_leases(st, 1000000, leases, 1, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 2, "w2", 1000, 140), 0);
    jstore_attempt_t hist[2];
    ASSERT_EQ(jstore_attempts(st, "j", hist, 2, &n), 0);
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(hist[0].outcome, "released");
    ASSERT_STREQ(hist[0].error, "service stopping");
    ASSERT_STREQ(hist[1].outcome, "running");
    /* three failures still make it dead: the released attempt did not count (budget 3) */
    ASSERT_EQ(jstore_finish(st, "j", 2, false, NULL, "e", NULL, 150), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 2, 160, 151), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 3, "w2", 1000, 160), 0);
    ASSERT_EQ(jstore_finish(st, "j", 3, false, NULL, "e", NULL, 161), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 3, 170, 162), 0);
    ASSERT_EQ(jstore_mark_running(st, "j", 4, "w2", 1000, 170), 0);
    ASSERT_EQ(jstore_finish(st, "j", 4, false, NULL, "e", NULL, 171), 0);
    ASSERT_EQ(jstore_schedule_retry(st, "j", 4, 180, 172), SL_ELIMIT);
    jstore_close(st);
}

TEST(test_delayed_job_waits_scheduled_until_due_then_is_queued)
{
    jstore_t *st;
    ASSERT_EQ(jstore_open(db_path(), &st), 0);
    int64_t due_ms = 0;
    ASSERT_EQ(jstore_next_due(st, &due_ms), 0);
    ASSERT_EQ(due_ms, INT64_MAX); /* nothing waits */
    jstore_new_t later = new_job("later", "crawl"), past = new_job("past", "crawl");
    later.run_at_ms = 5000;
    past.run_at_ms = 500; /* already past at creation: starts at once */
    char out[JSTORE_ID_BUF];
    bool created;
    ASSERT_EQ(jstore_create(st, &later, 1000, out, &created), 0);
    ASSERT_EQ(jstore_create(st, &past, 1000, out, &created), 0);
    ASSERT_EQ(state_of(st, "later"), JSTORE_SCHEDULED);
    ASSERT_EQ(state_of(st, "past"), JSTORE_ACCEPTED);
    jstore_job_t job;
    ASSERT_EQ(jstore_get(st, "later", &job), 0);
    ASSERT_EQ(job.next_attempt_at_ms, 5000);
    ASSERT_EQ(job.run_at_ms, 5000);
    jstore_job_deinit(&job);
    ASSERT_EQ(jstore_next_due(st, &due_ms), 0);
    ASSERT_EQ(due_ms, 5000);
    /* not yet due: a worker may not start it, and the scheduler takes nothing */
    ASSERT_EQ(jstore_mark_running(st, "later", 1, "w1", 1000, 2000), SL_EINVAL);
    jstore_due_t due[4];
    size_t n = 9;
    ASSERT_EQ(jstore_take_due(st, 4999, 100, due, 4, &n), 0);
    ASSERT_EQ(n, 0);
    jstore_cursor_t cur = {0, ""};
    jstore_summary_t rows[4];
    ASSERT_EQ(jstore_list(st, JSTORE_SCHEDULED, NULL, &cur, rows, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(rows[0].id, "later");
    /* due: taken once, queued with a claim, which is the next due time */
    ASSERT_EQ(jstore_take_due(st, 5000, 100, due, 4, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(due[0].id, "later");
    ASSERT_EQ(due[0].attempt, 1);
    ASSERT_EQ(state_of(st, "later"), JSTORE_QUEUED);
    ASSERT_EQ(jstore_next_due(st, &due_ms), 0);
    ASSERT_EQ(due_ms, 5100);
    ASSERT_EQ(jstore_mark_running(st, "later", 1, "w1", 1000, 5001), 0);
    ASSERT_EQ(jstore_next_due(st, &due_ms), 0);
    ASSERT_EQ(due_ms, INT64_MAX);
    /* a scheduled job can be cancelled; it is then never due */
    jstore_new_t gone = new_job("gone", "crawl");
    gone.run_at_ms = 9000;
    ASSERT_EQ(jstore_create(st, &gone, 6000, out, &created), 0);
    jstore_state_t prev;
    ASSERT_EQ(jstore_cancel(st, "gone", 6001, &prev), 0);
    ASSERT_EQ(prev, JSTORE_SCHEDULED);
    ASSERT_EQ(jstore_take_due(st, 10000, 100, due, 4, &n), 0);
    ASSERT_EQ(n, 0);
    jstore_close(st);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(test_dir, sizeof test_dir, "%s/test_jobs_store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_open_uses_wal_and_records_schema_version);
    RUN(test_delayed_job_waits_scheduled_until_due_then_is_queued);
    RUN(test_open_rejects_newer_schema_and_non_database);
    RUN(test_create_generates_ulid_and_get_returns_every_field);
    RUN(test_create_is_idempotent_by_id);
    RUN(test_create_is_idempotent_by_key_per_type);
    RUN(test_state_machine_happy_path_and_history);
    RUN(test_batch_keeps_applied_steps_and_drops_failed_ones);
    RUN(test_take_due_claims_retries_and_operator_reruns);
    RUN(test_assigned_event_may_overtake_the_queued_mark);
    RUN(test_illegal_transitions_are_refused);
    RUN(test_redelivered_events_change_nothing_twice);
    RUN(test_retry_budget_then_dead_then_operator_retry_with_fresh_budget);
    RUN(test_lease_expiry_is_detected_and_reclaimed_once);
    RUN(test_cancel_from_each_unfinished_state);
    RUN(test_list_pages_by_created_then_id_with_filters);
    RUN(test_create_limits_at_n_and_n_plus_1);
    RUN(test_run_limits_at_n_and_n_plus_1);
    RUN(test_log_tail_and_error_cuts_keep_utf8_whole);
    RUN(test_page_limits_at_n_and_n_plus_1);
    RUN(test_attempt_number_limit_at_n_and_n_plus_1);
    RUN(test_counts_by_type_and_state);
    RUN(test_webhook_deliveries_retry_and_survive_reopen);
    RUN(test_webhook_gives_up_after_tries_max_at_n_and_n_plus_1);
    RUN(test_reopen_after_close_keeps_everything);
    RUN(test_second_connection_and_process_are_serialized);
    RUN(test_state_names_round_trip);
    RUN(test_submitter_round_trips_and_its_limit_holds_at_n_and_n_plus_one);
    RUN(test_proc_records_add_list_and_remove);
    RUN(test_only_queued_and_retry_wait_jobs_have_a_next_attempt);
    RUN(test_release_hands_a_running_job_back_due_at_once);
    remove_dir();
    TEST_MAIN_END();
}
