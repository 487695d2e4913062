/* Storage resources (src/log/fdcache.c, slog_part_resume in recovery.c): the bounded cache of
 * segments' fds, closed and active (reopened on demand, never closed under a read or write that
 * holds the file, unsynced ones last), EMFILE as an error of one request rather than an offline partition, and
 * partitions taken offline by a write or sync failure coming back once the fault clears. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        n += e->d_name[0] != '.';
    }
    if (d) {
        closedir(d);
    }
    return n - 1; /* the directory stream itself */
}

/* Appends single-record batches until the partition has nsegs segments; returns the end. */
static int64_t fill_segments(slog_part_t *part, int nsegs)
{
    while (slog_part_segment_count(part) < nsegs) {
        tl_append(part, 1, 1);
    }
    return slog_part_end_offset(part);
}

/* Every offset reads back as the batch holding it, from whatever segment. */
static void read_all(slog_part_t *part, int64_t end)
{
    for (int64_t off = 0; off < end; off++) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, end, 1 << 20, true, &rd), 0);
        ASSERT_EQ(tl_read_base(&rd), off);
        slog_file_unref(rd.file);
    }
}

TEST(test_fd_cache_bounds_open_segment_files_once_synced)
{
    slog_fd_cache_set_max(2);
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    int before = open_fds();
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t end = fill_segments(part, 20);
    /* unsynced closed segments leave the cache too: the sync opens them by path */
    ASSERT_TRUE(open_fds() - before <= 3);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    ASSERT_EQ(slog_part_failed(part), 0);
    ASSERT_TRUE(slog_fd_cache_open_count() <= 2);
    ASSERT_TRUE(open_fds() - before <= 3); /* two cached + the active segment */
    int64_t reopens = slog_fd_cache_reopens();
    read_all(part, end);
    ASSERT_TRUE(slog_fd_cache_reopens() > reopens);
    ASSERT_TRUE(open_fds() - before <= 3);
    slog_part_close(part);
    ASSERT_EQ(open_fds(), before);
    /* a reopen of the partition stays within the bound too */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_TRUE(open_fds() - before <= 3);
    ASSERT_EQ(slog_part_end_offset(part), end);
    read_all(part, end);
    ASSERT_EQ(tl_append(part, 1, 1), end);
    slog_part_close(part);
    ASSERT_EQ(open_fds(), before);
    tl_rmdir(dir);
    slog_fd_cache_set_max(SLOG_FD_CACHE_DEFAULT);
}

#define MANY_PARTS 24

/* Opens MANY_PARTS partitions under root (root/0, root/1, ...). */
static void open_many(const char *root, const slog_conf_t *c, slog_part_t **parts)
{
    char dir[4096];
    for (int i = 0; i < MANY_PARTS; i++) {
        snprintf(dir, sizeof dir, "%s/%d", root, i);
        ASSERT_EQ(slog_part_open(dir, c, &parts[i]), 0);
    }
}

TEST(test_fd_cache_closes_idle_partitions_active_segments_and_reopens_them_on_append)
{
    slog_fd_cache_set_max(4);
    char *root = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *parts[MANY_PARTS];
    int before = open_fds();
    open_many(root, &c, parts);
    ASSERT_TRUE(open_fds() - before <= 4); /* idle empty partitions hold no fd beyond it */
    for (int i = 0; i < MANY_PARTS; i++) {
        ASSERT_EQ(tl_append(parts[i], 1, 1), 0);
    }
    /* unsynced active segments leave the cache too (least recently used first): each sync
     * opens its file by path */
    ASSERT_TRUE(open_fds() - before <= 4);
    for (int i = 0; i < MANY_PARTS; i++) {
        ASSERT_EQ(slog_part_sync_now(parts[i]), 0);
        ASSERT_EQ(slog_part_failed(parts[i]), 0);
    }
    ASSERT_TRUE(open_fds() - before <= 4);
    int64_t reopens = slog_fd_cache_reopens();
    for (int i = 0; i < MANY_PARTS; i++) { /* each append reopens its closed active file */
        ASSERT_EQ(tl_append(parts[i], 1, 1), 1);
        ASSERT_EQ(slog_part_sync_now(parts[i]), 0);
        ASSERT_EQ(slog_part_failed(parts[i]), 0);
    }
    ASSERT_TRUE(slog_fd_cache_reopens() > reopens);
    ASSERT_TRUE(open_fds() - before <= 4);
    for (int i = 0; i < MANY_PARTS; i++) {
        read_all(parts[i], 2);
        slog_part_close(parts[i]);
    }
    ASSERT_EQ(open_fds(), before);
    open_many(root, &c, parts); /* a clean reopen stays within the bound, data intact */
    ASSERT_TRUE(open_fds() - before <= 4);
    for (int i = 0; i < MANY_PARTS; i++) {
        ASSERT_EQ(slog_part_end_offset(parts[i]), 2);
        read_all(parts[i], 2);
        ASSERT_EQ(tl_append(parts[i], 1, 1), 2);
        slog_part_close(parts[i]);
    }
    ASSERT_EQ(open_fds(), before);
    tl_rmdir(root);
    slog_fd_cache_set_max(SLOG_FD_CACHE_DEFAULT);
}

TEST(test_fd_cache_never_closes_a_file_a_read_holds)
{
    slog_fd_cache_set_max(1);
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t end = fill_segments(part, 10);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    slog_read_t held; /* a fetch response queued with a sendfile of segment 0 */
    ASSERT_EQ(slog_part_read(part, 0, end, 100, true, &held), 0);
    int fd = slog_file_fd(held.file);
    read_all(part, end); /* every other segment passes through the cache of one */
    ASSERT_EQ(slog_file_fd(held.file), fd);
    ASSERT_EQ(tl_read_base(&held), 0);
    /* deleted under the read (retention): the held file still reads */
    ASSERT_EQ(slog_part_delete_before(part, end - 1), 9);
    ASSERT_EQ(tl_read_base(&held), 0);
    slog_file_unref(held.file);
    slog_part_close(part);
    tl_rmdir(dir);
    slog_fd_cache_set_max(SLOG_FD_CACHE_DEFAULT);
}

/* Reads the active segment's last offset and offset mid while the process has no free
 * descriptor (the limit lowered to what is open), then restores the limit. */
static void with_no_descriptors(slog_part_t *part, int64_t end, int64_t mid, int *rc_active,
                                int *rc_closed)
{
    struct rlimit saved, rl;
    getrlimit(RLIMIT_NOFILE, &saved);
    rl = saved;
    rl.rlim_cur = (rlim_t)open_fds() + 3;
    setrlimit(RLIMIT_NOFILE, &rl);
    int spare[8];
    int nspare = 0;
    while (nspare < 8 && (spare[nspare] = open("/dev/null", O_RDONLY)) >= 0) {
        nspare++;
    }
    slog_read_t rd;
    *rc_active = slog_part_read(part, end - 1, end, 100, true, &rd);
    if (*rc_active == 0) {
        slog_file_unref(rd.file);
    }
    *rc_closed = slog_part_read(part, mid, end, 100, true, &rd);
    if (*rc_closed == 0) {
        slog_file_unref(rd.file);
    }
    while (nspare > 0) {
        close(spare[--nspare]);
    }
    setrlimit(RLIMIT_NOFILE, &saved);
}

TEST(test_out_of_descriptors_fails_the_read_not_the_partition)
{
    slog_fd_cache_set_max(1);
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t end = fill_segments(part, 6);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    slog_read_t held; /* holds the one cached fd: nothing idle to close */
    ASSERT_EQ(slog_part_read(part, 0, end, 100, true, &held), 0);
    slog_read_t held_active; /* and one sending from the active segment */
    ASSERT_EQ(slog_part_read(part, end - 1, end, 100, true, &held_active), 0);
    int64_t mid = end / 2; /* in a closed segment the cache has closed */
    int rc_active, rc_closed;
    with_no_descriptors(part, end, mid, &rc_active, &rc_closed);
    ASSERT_EQ(rc_active, 0);
    ASSERT_EQ(rc_closed, -EMFILE);
    ASSERT_EQ(slog_part_failed(part), 0);
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, mid, end, 100, true, &rd), 0); /* the next try works */
    ASSERT_EQ(tl_read_base(&rd), mid);
    slog_file_unref(rd.file);
    slog_file_unref(held.file);
    slog_file_unref(held_active.file);
    ASSERT_EQ(tl_append(part, 1, 1), end);
    slog_part_close(part);
    tl_rmdir(dir);
    slog_fd_cache_set_max(SLOG_FD_CACHE_DEFAULT);
}

/* Appends until the partition rolls once more while the process has no free descriptor;
 * returns the append's result. */
static int64_t roll_with_no_descriptors(slog_part_t *part)
{
    struct rlimit saved, rl;
    getrlimit(RLIMIT_NOFILE, &saved);
    rl = saved;
    rl.rlim_cur = (rlim_t)open_fds() + 3;
    setrlimit(RLIMIT_NOFILE, &rl);
    int spare[8];
    int nspare = 0;
    while (nspare < 8 && (spare[nspare] = open("/dev/null", O_RDONLY)) >= 0) {
        nspare++;
    }
    int nsegs = slog_part_segment_count(part);
    int64_t rc = 0;
    while (rc >= 0 && slog_part_segment_count(part) == nsegs) {
        rc = tl_append(part, 1, 1);
    }
    while (nspare > 0) {
        close(spare[--nspare]);
    }
    setrlimit(RLIMIT_NOFILE, &saved);
    return rc;
}

TEST(test_a_roll_out_of_descriptors_takes_one_from_the_cache)
{
    slog_fd_cache_set_max(4);
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t end = fill_segments(part, 8);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    read_all(part, end); /* the cache holds 4 idle fds */
    ASSERT_EQ(slog_fd_cache_open_count(), 4);
    ASSERT_TRUE(roll_with_no_descriptors(part) >= 0);
    ASSERT_EQ(slog_part_failed(part), 0);
    ASSERT_EQ(slog_part_segment_count(part), 9);
    ASSERT_TRUE(slog_fd_cache_open_count() <= 3); /* 2 idle + the closed, unsynced one */
    slog_part_close(part);
    tl_rmdir(dir);
    slog_fd_cache_set_max(SLOG_FD_CACHE_DEFAULT);
}

TEST(test_partition_offline_by_a_write_error_resumes_after_the_fault_clears)
{
    slog_fault_op_t ops[] = {SLOG_FAULT_WRITE, SLOG_FAULT_WRITE_TORN};
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++) {
        char *dir = tl_tmpdir();
        slog_conf_t c = tl_conf_small();
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        int64_t end = fill_segments(part, 3);
        ASSERT_EQ(slog_part_sync_now(part), 0);
        slog_read_t held;
        ASSERT_EQ(slog_part_read(part, 0, end, 100, true, &held), 0);
        slog_fault_set(ops[i], 1, ENOSPC);
        ASSERT_EQ(tl_append(part, 2, 1), -ENOSPC);
        ASSERT_EQ(slog_part_failed(part), -ENOSPC);
        ASSERT_EQ(tl_append(part, 2, 1), -ENOSPC); /* offline until resumed */
        read_all(part, end);                         /* reads go on */
        ASSERT_EQ(slog_part_resume(part), 0);
        ASSERT_EQ(slog_part_failed(part), 0);
        ASSERT_EQ(slog_part_end_offset(part), end);
        ASSERT_EQ(tl_append(part, 1, 1), end); /* contiguous */
        ASSERT_EQ(tl_append(part, 1, 1), end + 1);
        ASSERT_EQ(slog_part_sync_now(part), 0);
        read_all(part, end + 2);
        ASSERT_EQ(tl_read_base(&held), 0); /* a read from before the resume still sends */
        slog_file_unref(held.file);
        ASSERT_EQ(slog_part_resume(part), 0); /* online: nothing to do */
        slog_part_close(part);
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), end + 2);
        slog_part_close(part);
        tl_rmdir(dir);
    }
}

TEST(test_partition_offline_by_a_sync_error_resumes_cut_to_the_durable_offset)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t durable = fill_segments(part, 2);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    int64_t end = fill_segments(part, 4); /* two more segments, unsynced */
    slog_sync_job_t *job = slog_part_sync_begin(part);
    slog_fault_set(SLOG_FAULT_SYNC, 1, EIO);
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_failed(part), -EIO);
    ASSERT_EQ(slog_part_durable_offset(part), durable);
    ASSERT_TRUE(end > durable);
    ASSERT_EQ(slog_part_resume(part), 0);
    ASSERT_EQ(slog_part_failed(part), 0);
    ASSERT_EQ(slog_part_end_offset(part), durable); /* what the disk may have lost is cut */
    ASSERT_EQ(slog_part_durable_offset(part), durable);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    ASSERT_EQ(tl_append(part, 1, 1), durable);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    read_all(part, durable + 1);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), durable + 1);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_resume_waits_while_a_sync_job_is_out)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tl_append(part, 1, 1);
    slog_sync_job_t *job = slog_part_sync_begin(part);
    slog_fault_set(SLOG_FAULT_WRITE, 1, ENOSPC);
    ASSERT_EQ(tl_append(part, 1, 1), -ENOSPC);
    ASSERT_EQ(slog_part_resume(part), SL_EAGAIN);
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_resume(part), 0);
    ASSERT_EQ(tl_append(part, 1, 1), 1);
    slog_part_close(part);
    tl_rmdir(dir);
}

int main(void)
{
    RUN(test_fd_cache_bounds_open_segment_files_once_synced);
    RUN(test_fd_cache_closes_idle_partitions_active_segments_and_reopens_them_on_append);
    RUN(test_fd_cache_never_closes_a_file_a_read_holds);
    RUN(test_out_of_descriptors_fails_the_read_not_the_partition);
    RUN(test_a_roll_out_of_descriptors_takes_one_from_the_cache);
    RUN(test_partition_offline_by_a_write_error_resumes_after_the_fault_clears);
    RUN(test_partition_offline_by_a_sync_error_resumes_cut_to_the_durable_offset);
    RUN(test_resume_waits_while_a_sync_job_is_out);
    TEST_MAIN_END();
}
