/* Recovery at open (src/log/recovery.c): torn and corrupt tails cut, later segments dropped,
 * indexes rebuilt when missing or damaged, the recovery point bounding what is verified,
 * the clean fast path, leftovers removed, gaps refused. A crash is slog_part_abandon (no
 * marker, nothing synced) followed by damage to the files. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_internal.h" /* segment bases, to damage the right file */
#include "slog_fault.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Opens dir, appends batches of 3 records (ts 1000 + i), then crashes. */
static int64_t crash_after(const char *dir, const slog_conf_t *c, int batches)
{
    slog_part_t *part;
    if (slog_part_open(dir, c, &part) != 0) {
        return -1;
    }
    for (int i = 0; i < batches; i++) {
        tl_append(part, 3, 1000 + i);
    }
    int64_t end = slog_part_end_offset(part);
    slog_part_abandon(part);
    return end;
}

static int64_t open_end(const char *dir, const slog_conf_t *c, int *nsegs)
{
    slog_part_t *part;
    int rc = slog_part_open(dir, c, &part);
    if (rc != 0) {
        return rc;
    }
    int64_t end = slog_part_end_offset(part);
    if (nsegs) {
        *nsegs = slog_part_segment_count(part);
    }
    slog_part_close(part);
    return end;
}

TEST(test_recovery_truncates_a_torn_batch_at_every_cut)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    ASSERT_EQ(crash_after(dir, &c, 5), 15);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    int64_t size = tl_file_size(path), batch = size / 5;
    for (int64_t cut = 1; cut < batch; cut++) {
        ASSERT_EQ(truncate(path, size - cut), 0);
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), 12);
        ASSERT_EQ(tl_file_size(path), size - batch);
        ASSERT_EQ(tl_append(part, 3, 1), 12); /* the log goes on from the cut */
        slog_part_abandon(part);
        ASSERT_EQ(tl_file_size(path), size);
    }
    ASSERT_EQ(open_end(dir, &c, NULL), 15);
    tl_rmdir(dir);
}

TEST(test_recovery_truncates_garbage_after_the_last_batch)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    ASSERT_EQ(crash_after(dir, &c, 4), 12);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    int64_t size = tl_file_size(path);
    const char junk[] = "garbage that is not a batch at all, long enough to look like a header..";
    tl_append_bytes(path, junk, sizeof junk);
    ASSERT_EQ(open_end(dir, &c, NULL), 12);
    ASSERT_EQ(tl_file_size(path), size);
    uint8_t zeros[300] = {0}; /* a file extended by a crash: zeros */
    ASSERT_EQ(crash_after(dir, &c, 1), 15);
    size = tl_file_size(path);
    tl_append_bytes(path, zeros, sizeof zeros);
    ASSERT_EQ(open_end(dir, &c, NULL), 15);
    ASSERT_EQ(tl_file_size(path), size);
    tl_rmdir(dir);
}

TEST(test_recovery_drops_a_last_batch_with_a_bad_crc)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    ASSERT_EQ(crash_after(dir, &c, 4), 12);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    tl_flip(path, -2); /* in the last record's header value: only the CRC notices */
    ASSERT_EQ(open_end(dir, &c, NULL), 9);
    tl_rmdir(dir);
}

TEST(test_recovery_cuts_a_bad_segment_and_deletes_the_later_ones)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    int64_t end = crash_after(dir, &c, 200); /* never synced: everything is verified */
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int nsegs = slog_part_segment_count(part);
    ASSERT_TRUE(nsegs >= 4);
    ASSERT_EQ(slog_part_end_offset(part), end);
    int64_t base1 = part->segs[1]->base, base2 = part->segs[2]->base;
    slog_part_abandon(part);
    char path[512];
    ASSERT_EQ(slog__rp_write(dir, 0), 0); /* back to the state of the first crash */
    tl_path(path, sizeof path, dir, base1, "log");
    int64_t size1 = tl_file_size(path);
    tl_flip(path, size1 / 2 + 70);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    int64_t cut_end = slog_part_end_offset(part);
    ASSERT_TRUE(cut_end > base1 && cut_end < base2);
    ASSERT_TRUE(tl_file_size(path) < size1);
    tl_path(path, sizeof path, dir, base2, "log");
    ASSERT_TRUE(!tl_exists(path));
    ASSERT_EQ(tl_append(part, 1, 1), cut_end); /* offsets go on from the cut */
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_unclean_open_verifies_from_the_recovery_point)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 200; i++) {
        tl_append(part, 3, 1000);
    }
    ASSERT_EQ(slog_part_sync_now(part), 0); /* the recovery point moves to the active segment */
    int64_t active = part->segs[part->nsegs - 1]->base;
    char path[512], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/recovery-point", dir);
    ASSERT_EQ(sl_fs_read_all(path, 64, &text, &len), 0);
    ASSERT_EQ(atoll(text), 600);
    free(text);
    for (int i = 0; i < 3; i++) {
        tl_append(part, 3, 1000);
    }
    slog_part_abandon(part);
    /* damage below the recovery point is not looked for (those bytes were synced and are
     * trusted); damage in the segment holding it is found */
    tl_path(path, sizeof path, dir, 0, "log");
    tl_flip(path, 100);
    tl_path(path, sizeof path, dir, active, "log");
    tl_flip(path, -2);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 606);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_recovery_rebuilds_missing_and_damaged_indexes)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 150; i++) {
        tl_append(part, 4, 5000 + i * 4);
    }
    ASSERT_TRUE(slog_part_segment_count(part) >= 4);
    int64_t b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = part->segs[i]->base;
    }
    slog_part_close(part);
    char path[512];
    tl_path(path, sizeof path, dir, b[0], "index");
    unlink(path); /* missing */
    tl_path(path, sizeof path, dir, b[1], "timeindex");
    ASSERT_EQ(truncate(path, 5), 0); /* not whole entries */
    tl_path(path, sizeof path, dir, b[2], "index");
    tl_flip(path, 12); /* second entry's position: disorder or a wrong batch */
    tl_path(path, sizeof path, dir, b[3], "index");
    uint8_t zeros[64] = {0};
    tl_append_bytes(path, zeros, sizeof zeros); /* a crash can leave zeros */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 600);
    for (int64_t off = 0; off < 600; off += 7) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, 600, 1, true, &rd), 0);
        ASSERT_EQ(rd.first_offset, off - off % 4);
        slog_file_unref(rd.file);
        int64_t found, ts;
        ASSERT_EQ(slog_part_offset_for_time(part, 5000 + off, &found, &ts), 0);
        ASSERT_EQ(found, off);
        ASSERT_EQ(ts, 5000 + off);
    }
    slog_part_close(part);
    for (int i = 0; i < 4; i++) { /* rewritten whole */
        tl_path(path, sizeof path, dir, b[i], "index");
        ASSERT_TRUE(tl_file_size(path) > 0 && tl_file_size(path) % 8 == 0);
        tl_path(path, sizeof path, dir, b[i], "timeindex");
        ASSERT_TRUE(tl_file_size(path) > 0 && tl_file_size(path) % 12 == 0);
    }
    tl_rmdir(dir);
}

TEST(test_recovery_accepts_empty_segments_and_an_empty_directory)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    ASSERT_EQ(open_end(dir, &c, NULL), 0); /* new */
    ASSERT_EQ(open_end(dir, &c, NULL), 0); /* empty, clean */
    int64_t end = crash_after(dir, &c, 100);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int nsegs = slog_part_segment_count(part);
    slog_part_abandon(part);
    char path[512];
    tl_path(path, sizeof path, dir, end, "log"); /* a roll created it, then the crash */
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    int n = 0;
    ASSERT_EQ(open_end(dir, &c, &n), end);
    ASSERT_EQ(n, nsegs + 1);
    ASSERT_EQ(open_end(dir, &c, &n), end); /* and clean */
    tl_rmdir(dir);
}

TEST(test_clean_reopen_loads_indexes_without_rewriting_anything)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 150; i++) {
        tl_append(part, 2, 100 + i * 2);
    }
    int64_t max_off, max_ts;
    ASSERT_EQ(slog_part_max_timestamp(part, &max_off, &max_ts), 0);
    slog_part_close(part);
    char path[512], marker[512];
    snprintf(marker, sizeof marker, "%s/.clean", dir);
    ASSERT_TRUE(tl_exists(marker));
    tl_path(path, sizeof path, dir, 0, "index");
    struct stat before, after;
    ASSERT_EQ(stat(path, &before), 0);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(stat(path, &after), 0);
    ASSERT_EQ(before.st_ino, after.st_ino); /* loaded, not rebuilt */
    ASSERT_TRUE(part->segs[0]->oidx.map != NULL);
    ASSERT_TRUE(tl_exists(marker));        /* kept until the first append */
    int64_t off, ts;
    ASSERT_EQ(slog_part_max_timestamp(part, &off, &ts), 0);
    ASSERT_EQ(off, max_off);
    ASSERT_EQ(ts, max_ts);
    ASSERT_EQ(slog_part_offset_for_time(part, 151, &off, &ts), 0);
    ASSERT_EQ(off, 51);
    ASSERT_EQ(tl_append(part, 2, 1), 300);
    ASSERT_TRUE(!tl_exists(marker));
    slog_part_abandon(part);
    ASSERT_EQ(open_end(dir, &c, NULL), 302);
    tl_rmdir(dir);
}

TEST(test_recovery_removes_leftovers)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    ASSERT_EQ(crash_after(dir, &c, 2), 6);
    const char *names[] = {"00000000000000000000.index.tmp", ".clean.tmp",
                           "00000000000000000000.log.deleted", "00000000000000000000.log.swap"};
    char path[512];
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        ASSERT_TRUE(fd >= 0);
        close(fd);
    }
    ASSERT_EQ(open_end(dir, &c, NULL), 6);
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ASSERT_TRUE(!tl_exists(path));
    }
    tl_rmdir(dir);
}

TEST(test_recovery_refuses_a_gap_between_trusted_segments)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 150; i++) {
        tl_append(part, 3, 1);
    }
    int64_t base1 = part->segs[1]->base;
    slog_part_close(part);
    char path[512];
    tl_path(path, sizeof path, dir, base1, "log");
    unlink(path);
    ASSERT_EQ(slog_part_open(dir, &c, &part), SL_ECORRUPT);
    tl_rmdir(dir);
}

TEST(test_clean_segment_with_a_bad_tail_is_verified_and_cut)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 150; i++) {
        tl_append(part, 3, 1);
    }
    int64_t base1 = part->segs[1]->base;
    int n = slog_part_segment_count(part);
    slog_part_close(part);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    ASSERT_EQ(truncate(path, tl_file_size(path) - 10), 0); /* damaged after a clean close */
    int nsegs = 0;
    int64_t end = open_end(dir, &c, &nsegs);
    ASSERT_TRUE(end > 0 && end < base1);
    ASSERT_EQ(nsegs, 1);
    ASSERT_TRUE(n > 1);
    tl_rmdir(dir);
}

/* Without open_sync an unclean open serves the verified tail at once and leaves its
 * durability to the first sync job; with it (the default) the tail is durable on return. */
TEST(test_unclean_open_without_sync_leaves_the_tail_to_a_sync_job)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    ASSERT_TRUE(c.open_sync);
    ASSERT_EQ(crash_after(dir, &c, 5), 15); /* the recovery point is still 0 */
    c.open_sync = false;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 15);
    ASSERT_EQ(slog_part_durable_offset(part), 0);
    ASSERT_TRUE(slog_part_sync_needed(part));
    ASSERT_EQ(slog_part_sync_now(part), 0);
    ASSERT_EQ(slog_part_durable_offset(part), 15);
    ASSERT_EQ(tl_append(part, 3, 1), 15);
    slog_part_abandon(part);
    c.open_sync = true;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 18);
    ASSERT_EQ(slog_part_durable_offset(part), 18);
    ASSERT_TRUE(!slog_part_sync_needed(part));
    slog_part_close(part);
    tl_rmdir(dir);
}

#define CLOSE_PARTS 8

TEST(test_closing_many_partitions_at_once_leaves_each_clean_with_its_data)
{
    char *root = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *parts[CLOSE_PARTS];
    char dir[CLOSE_PARTS][512];
    int64_t end[CLOSE_PARTS];
    for (int i = 0; i < CLOSE_PARTS; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/%d", root, i);
        ASSERT_EQ(slog_part_open(dir[i], &c, &parts[i]), 0);
        for (int b = 0; b < 20 * i; b++) { /* partition 0 stays empty, later ones roll */
            tl_append(parts[i], 2, 100 + b);
        }
        end[i] = slog_part_end_offset(parts[i]);
    }
    int64_t nsegs[CLOSE_PARTS];
    for (int i = 0; i < CLOSE_PARTS; i++) {
        nsegs[i] = slog_part_segment_count(parts[i]);
    }
    slog_parts_close(parts, CLOSE_PARTS);
    for (int i = 0; i < CLOSE_PARTS; i++) {
        char marker[4200], path[4200];
        snprintf(marker, sizeof marker, "%s/.clean", dir[i]);
        ASSERT_TRUE(tl_exists(marker));
        DIR *d = opendir(dir[i]); /* what the marker vouches for is there */
        ASSERT_TRUE(d != NULL);
        int64_t logs = 0;
        for (struct dirent *de; (de = readdir(d)) != NULL;) {
            size_t len = strlen(de->d_name);
            if (len == 24 && strcmp(de->d_name + 20, ".log") == 0) {
                logs++;
                snprintf(path, sizeof path, "%s/%.20s.index", dir[i], de->d_name);
                ASSERT_TRUE(tl_exists(path));
                snprintf(path, sizeof path, "%s/%.20s.timeindex", dir[i], de->d_name);
                ASSERT_TRUE(tl_exists(path));
            }
        }
        closedir(d);
        ASSERT_EQ(logs, nsegs[i]);
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir[i], &c, &part), 0);
        ASSERT_EQ(part->clean_marker, true); /* trusted: nothing verified */
        ASSERT_EQ(slog_part_end_offset(part), end[i]);
        ASSERT_EQ(slog_part_durable_offset(part), end[i]);
        ASSERT_EQ(tl_append(part, 1, 1), end[i]);
        slog_part_close(part);
    }
    slog_parts_close(parts, 0); /* nothing to close */
    tl_rmdir(root);
}

TEST(test_a_new_partition_syncs_its_directory_with_its_first_sync_job)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(part->dir_dirty, true); /* the segment file's entry is not durable yet */
    char rp[4200];
    snprintf(rp, sizeof rp, "%s/recovery-point", part->dir);
    ASSERT_TRUE(!tl_exists(rp)); /* nothing synced at creation */
    tl_append(part, 2, 100);
    slog_sync_job_t *job = slog_part_sync_begin(part);
    ASSERT_TRUE(job != NULL);
    ASSERT_EQ(part->dir_dirty, false); /* the job fsyncs the directory */
    ASSERT_EQ(slog_sync_run(job), 0);
    slog_part_sync_end(part, job, 0);
    ASSERT_EQ(slog_part_durable_offset(part), 2);
    slog_part_abandon(part); /* a crash: no recovery point, the one segment is verified */
    ASSERT_EQ(open_end(dir, &c, NULL), 2);
    tl_rmdir(dir);
}

TEST(test_closing_a_partition_unchanged_since_a_clean_open_writes_nothing)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 30; i++) {
        tl_append(part, 2, 100 + i);
    }
    int64_t end = slog_part_end_offset(part);
    slog_part_close(part);
    char marker[4200], snap[4200];
    snprintf(marker, sizeof marker, "%s/.clean", dir);
    snprintf(snap, sizeof snap, "%s/%020lld.snapshot", dir, (long long)end);
    struct stat m0, s0, m1, s1;
    ASSERT_EQ(stat(marker, &m0), 0);
    ASSERT_EQ(stat(snap, &s0), 0);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(part->clean_marker, true);
    slog_part_close(part); /* nothing appended: nothing to write or sync */
    ASSERT_EQ(stat(marker, &m1), 0);
    ASSERT_EQ(stat(snap, &s1), 0);
    ASSERT_EQ(s1.st_ino, s0.st_ino); /* the snapshot was not written again */
    ASSERT_EQ(m1.st_mtim.tv_nsec, m0.st_mtim.tv_nsec);
    ASSERT_EQ(m1.st_mtim.tv_sec, m0.st_mtim.tv_sec);
    ASSERT_EQ(open_end(dir, &c, NULL), end);
    tl_rmdir(dir);
}

TEST(test_new_partitions_directories_are_synced_together_before_their_first_sync_job)
{
    char *root = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *parts[CLOSE_PARTS];
    char dir[CLOSE_PARTS][512];
    for (int i = 0; i < CLOSE_PARTS; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/%d", root, i);
        ASSERT_EQ(slog_part_open(dir[i], &c, &parts[i]), 0);
        ASSERT_EQ(parts[i]->dir_dirty, true);
    }
    ASSERT_EQ(slog_parts_sync_new(parts, CLOSE_PARTS), 0);
    for (int i = 0; i < CLOSE_PARTS; i++) {
        ASSERT_EQ(parts[i]->dir_dirty, false); /* the first sync job fsyncs only the file */
    }
    ASSERT_EQ(slog_parts_sync_new(parts, CLOSE_PARTS), 0); /* nothing left to sync */
    slog_parts_close(parts, CLOSE_PARTS);
    tl_rmdir(root);
}

TEST(test_sync_jobs_run_together_and_a_failed_fdatasync_fails_only_its_own_job)
{
    char *root = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *parts[CLOSE_PARTS];
    slog_sync_job_t *jobs[CLOSE_PARTS];
    int rcs[CLOSE_PARTS];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < CLOSE_PARTS; i++) {
            char dir[512];
            snprintf(dir, sizeof dir, "%s/%d", root, i);
            if (round == 0) {
                ASSERT_EQ(slog_part_open(dir, &c, &parts[i]), 0);
            }
            tl_append(parts[i], 2, 100);
            jobs[i] = slog_part_sync_begin(parts[i]);
            ASSERT_TRUE(jobs[i] != NULL);
        }
        slog_fault_set(SLOG_FAULT_SYNC, round, EIO); /* round 1: the first fdatasync fails */
        slog_sync_run_many(jobs, CLOSE_PARTS, rcs);
        slog_fault_set(SLOG_FAULT_SYNC, 0, 0);
        int failed = 0;
        for (int i = 0; i < CLOSE_PARTS; i++) {
            ASSERT_TRUE(rcs[i] == 0 || rcs[i] == -EIO);
            failed += rcs[i] != 0;
            slog_part_sync_end(parts[i], jobs[i], rcs[i]);
            int64_t want = round == 0 ? 2 : (rcs[i] == 0 ? 4 : 2);
            ASSERT_EQ(slog_part_durable_offset(parts[i]), want);
            ASSERT_EQ(slog_part_failed(parts[i]) != 0, rcs[i] != 0);
        }
        ASSERT_EQ(failed, round);
    }
    slog_parts_close(parts, CLOSE_PARTS);
    tl_rmdir(root);
}

int main(void)
{
    RUN(test_recovery_truncates_a_torn_batch_at_every_cut);
    RUN(test_recovery_truncates_garbage_after_the_last_batch);
    RUN(test_recovery_drops_a_last_batch_with_a_bad_crc);
    RUN(test_recovery_cuts_a_bad_segment_and_deletes_the_later_ones);
    RUN(test_unclean_open_verifies_from_the_recovery_point);
    RUN(test_recovery_rebuilds_missing_and_damaged_indexes);
    RUN(test_recovery_accepts_empty_segments_and_an_empty_directory);
    RUN(test_clean_reopen_loads_indexes_without_rewriting_anything);
    RUN(test_recovery_removes_leftovers);
    RUN(test_recovery_refuses_a_gap_between_trusted_segments);
    RUN(test_clean_segment_with_a_bad_tail_is_verified_and_cut);
    RUN(test_unclean_open_without_sync_leaves_the_tail_to_a_sync_job);
    RUN(test_closing_many_partitions_at_once_leaves_each_clean_with_its_data);
    RUN(test_a_new_partition_syncs_its_directory_with_its_first_sync_job);
    RUN(test_closing_a_partition_unchanged_since_a_clean_open_writes_nothing);
    RUN(test_new_partitions_directories_are_synced_together_before_their_first_sync_job);
    RUN(test_sync_jobs_run_together_and_a_failed_fdatasync_fails_only_its_own_job);
    TEST_MAIN_END();
}
