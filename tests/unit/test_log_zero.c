/* Zero-ahead (src/log/zero.c): zeroed space past the active segment's end, written by a job
 * on another thread while the loop appends; cut at roll and close, dropped by recovery after
 * a crash, never written over data. */
#include "sl_test.h"
#include "test_log.h"

#include <errno.h>
#include <pthread.h>

#define AHEAD ((int64_t)1 << 20)

static slog_conf_t zconf(void)
{
    slog_conf_t c;
    slog_conf_default(&c);
    c.zero_ahead_bytes = AHEAD;
    return c;
}

static int64_t seg_size(const char *dir, int64_t base)
{
    char path[512];
    tl_path(path, sizeof path, dir, base, "log");
    return tl_file_size(path);
}

/* Appends n batches of records records padded by pad bytes; returns the end offset. */
static int64_t append_batches(slog_part_t *part, int n, int records, size_t pad)
{
    for (int i = 0; i < n; i++) {
        sl_buf_t b;
        sl_buf_init(&b);
        tl_batch(&b, records, 1000 + i, pad);
        slog_append_t info;
        int rc = slog_part_append(part, b.data, b.len, 1000 + i, &info);
        sl_buf_deinit(&b);
        if (rc != 0) {
            return rc;
        }
    }
    return slog_part_end_offset(part);
}

/* n batches of one ~1 KiB record. */
static int64_t append_kib(slog_part_t *part, int n)
{
    return append_batches(part, n, 1, 1000);
}

/* append_kib, then one sync job covering them (zero_begin looks at its size). */
static int64_t append_synced(slog_part_t *part, int n)
{
    int64_t end = append_kib(part, n);
    int rc = end < 0 ? (int)end : slog_part_sync_now(part);
    return rc != 0 ? rc : end;
}

/* begin + run + end on this thread; returns run's result, or 1 when no job was wanted. */
static int zero_now(slog_part_t *part)
{
    slog_zero_job_t *job = slog_part_zero_begin(part);
    if (!job) {
        return 1;
    }
    int rc = slog_zero_run(job);
    slog_part_zero_end(part, job, rc);
    return rc;
}

TEST(test_zeroed_space_takes_appends_and_is_cut_at_close)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = zconf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_synced(part, 10), 10);
    int64_t data = slog_part_size_bytes(part);
    ASSERT_EQ(zero_now(part), 0);
    ASSERT_EQ(seg_size(dir, 0), data + AHEAD);
    ASSERT_EQ(zero_now(part), 1); /* more than half of it is still ahead */
    ASSERT_EQ(append_synced(part, 100), 110);
    ASSERT_EQ(seg_size(dir, 0), data + AHEAD); /* the appends went into the zeroed space */
    ASSERT_EQ(tl_append(part, 3, 5000), 110);   /* and reads find them */
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 109, 113, 1 << 20, true, &rd), 0);
    ASSERT_EQ(tl_read_base(&rd), 109);
    slog_file_unref(rd.file);
    int64_t size = slog_part_size_bytes(part);
    slog_part_close(part);
    ASSERT_EQ(seg_size(dir, 0), size);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0); /* clean: trusted as it is */
    ASSERT_EQ(slog_part_end_offset(part), 113);
    ASSERT_EQ(tl_append(part, 1, 6000), 113);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_no_zeroing_when_off_or_after_a_large_sync)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_synced(part, 2), 2);
    ASSERT_EQ(zero_now(part), 1); /* zero_ahead_bytes 0 */
    slog_part_close(part);
    c = zconf();
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_synced(part, 200), 202); /* ~200 KiB in one sync job */
    ASSERT_EQ(zero_now(part), 1);
    ASSERT_EQ(append_synced(part, 4), 206); /* small again */
    ASSERT_EQ(zero_now(part), 0);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_a_crash_leaves_zeros_that_recovery_drops)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = zconf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_synced(part, 5), 5);
    ASSERT_EQ(zero_now(part), 0);
    ASSERT_EQ(append_synced(part, 5), 10);
    int64_t size = slog_part_size_bytes(part);
    slog_part_abandon(part); /* kill -9 */
    ASSERT_TRUE(seg_size(dir, 0) > size);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 10);
    ASSERT_EQ(slog_part_durable_offset(part), 10);
    ASSERT_EQ(seg_size(dir, 0), size);
    ASSERT_EQ(append_kib(part, 1), 11);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_zeros_after_an_earlier_segment_are_dropped_and_later_segments_kept)
{
    /* a roll cuts the zeros of the segment it closes; if that cut were lost (power failure
     * before the next sync), the zeros are still not damage: nothing after them goes */
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_batches(part, 40, 3, 200), 120);
    int nsegs = slog_part_segment_count(part);
    ASSERT_TRUE(nsegs >= 3);
    slog_part_abandon(part);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    int64_t size = tl_file_size(path);
    static const uint8_t zeros[300000];
    tl_append_bytes(path, zeros, sizeof zeros);
    strcat(strcpy(path, dir), "/recovery-point"); /* none at all: verify everything (a log */
    ASSERT_TRUE(unlink(path) == 0 || errno == ENOENT); /* that never rolled has none yet) */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 120);
    ASSERT_EQ(slog_part_segment_count(part), nsegs);
    ASSERT_EQ(seg_size(dir, 0), size);
    slog_part_close(part);
    tl_rmdir(dir);
}

typedef struct {
    slog_zero_job_t *job;
    int rc;
} runner_t;

static void *run_job(void *arg)
{
    runner_t *r = arg;
    r->rc = slog_zero_run(r->job);
    return NULL;
}

TEST(test_appends_racing_a_running_job_are_never_overwritten)
{
    /* Each round: a first job leaves zeroed space ahead; a little data makes a second job
     * due, which runs on a thread while this one appends through its range in small batches.
     * A crash and a verifying open then read every batch's CRC: a zero written over data
     * would cut the log short. */
    char *dir = tl_tmpdir();
    slog_conf_t c = zconf();
    int64_t end = 0;
    for (int round = 0; round < 12; round++) {
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), end);
        ASSERT_EQ(append_synced(part, 1), end + 1);
        ASSERT_EQ(zero_now(part), 0);
        for (int i = 0; i < 9; i++) { /* past half of the zeroed space, in small syncs */
            ASSERT_TRUE(append_synced(part, 64 + round) > 0);
        }
        runner_t r = {slog_part_zero_begin(part), -1};
        ASSERT_TRUE(r.job != NULL);
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, run_job, &r), 0);
        end = append_kib(part, 1500); /* ~1.5 MiB: through the job's whole range */
        ASSERT_EQ(pthread_join(th, NULL), 0);
        ASSERT_EQ(r.rc, 0);
        slog_part_zero_end(part, r.job, r.rc);
        ASSERT_EQ(slog_part_sync_now(part), 0);
        slog_part_abandon(part);
        char rp[512];
        snprintf(rp, sizeof rp, "%s/recovery-point", dir);
        ASSERT_TRUE(unlink(rp) == 0 || errno == ENOENT); /* a log that never rolled has none */
    }
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), end);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_a_roll_while_a_job_is_out_cuts_the_closed_segment)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = zconf();
    c.segment_bytes = 4 << 20;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_synced(part, 3), 3);
    ASSERT_EQ(zero_now(part), 0);
    ASSERT_EQ(append_synced(part, 600), 603);
    ASSERT_EQ(append_synced(part, 1), 604); /* a small sync */
    slog_zero_job_t *job = slog_part_zero_begin(part);
    ASSERT_TRUE(job != NULL);
    ASSERT_EQ(slog_part_roll(part), 0); /* stops the job before it wrote anything */
    int64_t closed = slog_part_size_bytes(part);
    ASSERT_EQ(seg_size(dir, 0), closed);
    ASSERT_EQ(slog_zero_run(job), 0);
    slog_part_zero_end(part, job, 0);
    ASSERT_EQ(seg_size(dir, 0), closed);
    ASSERT_EQ(append_synced(part, 2), 606);
    ASSERT_EQ(zero_now(part), 0); /* the new segment gets its own */
    ASSERT_EQ(seg_size(dir, 604), slog_part_size_bytes(part) - closed + AHEAD);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 606);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    slog_part_close(part);
    tl_rmdir(dir);
}

int main(void)
{
    RUN(test_zeroed_space_takes_appends_and_is_cut_at_close);
    RUN(test_no_zeroing_when_off_or_after_a_large_sync);
    RUN(test_a_crash_leaves_zeros_that_recovery_drops);
    RUN(test_zeros_after_an_earlier_segment_are_dropped_and_later_segments_kept);
    RUN(test_appends_racing_a_running_job_are_never_overwritten);
    RUN(test_a_roll_while_a_job_is_out_cuts_the_closed_segment);
    TEST_MAIN_END();
}
