/* Unit tests for the storage engine (src/log): batch validation, append/read, roll, indexes,
 * time lookups, retention, recovery from torn and corrupt tails, sync jobs, fault injection. */
#include "sl_buf.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_test.h"
#include "slog.h"
#include "slog_batch.h"
#include "slog_fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_varint(sl_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        uint8_t c = (uint8_t)(z | 0x80);
        sl_buf_append(b, &c, 1);
        z >>= 7;
    }
    uint8_t c = (uint8_t)z;
    sl_buf_append(b, &c, 1);
}

/* Appends a v2 batch of n records ("v<i>", key "k<i>", one header) with timestamps ts+i. */
static void make_batch(sl_buf_t *out, int n, int64_t ts, size_t value_pad)
{
    sl_buf_t recs;
    sl_buf_init(&recs);
    for (int i = 0; i < n; i++) {
        sl_buf_t r;
        sl_buf_init(&r);
        uint8_t attr = 0;
        char key[16], val[4096];
        int kl = snprintf(key, sizeof key, "k%d", i);
        int vl = snprintf(val, sizeof val, "v%d", i);
        memset(val + vl, 'x', value_pad);
        vl += (int)value_pad;
        sl_buf_append(&r, &attr, 1);
        put_varint(&r, i);
        put_varint(&r, i);
        put_varint(&r, kl);
        sl_buf_append(&r, key, (size_t)kl);
        put_varint(&r, vl);
        sl_buf_append(&r, val, (size_t)vl);
        put_varint(&r, 1);
        put_varint(&r, 1);
        sl_buf_append(&r, "h", 1);
        put_varint(&r, 1);
        sl_buf_append(&r, "v", 1);
        put_varint(&recs, (int64_t)r.len);
        sl_buf_append(&recs, r.data, r.len);
        sl_buf_deinit(&r);
    }
    size_t total = 61 + recs.len;
    uint8_t *p = sl_buf_reserve(out, total);
    memset(p, 0, 61);
    sl_be32_put(p + 8, (uint32_t)(total - 12));
    p[16] = 2;
    sl_be32_put(p + 23, (uint32_t)(n - 1));
    sl_be64_put(p + 27, (uint64_t)ts);
    sl_be64_put(p + 35, (uint64_t)(ts + n - 1));
    sl_be64_put(p + 43, (uint64_t)-1);
    sl_be16_put(p + 51, 0xffff);
    sl_be32_put(p + 53, 0xffffffff);
    sl_be32_put(p + 57, (uint32_t)n);
    memcpy(p + 61, recs.data, recs.len);
    sl_be32_put(p + 17, sl_crc32c(0, p + 21, total - 21));
    out->len += total;
    sl_buf_deinit(&recs);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/sl_log_XXXXXX");
    return mkdtemp(d);
}

static slog_conf_t conf_small(void)
{
    slog_conf_t c;
    slog_conf_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    return c;
}

/* Appends one batch of n records at ts; returns the base offset or -1. */
static int64_t append(slog_part_t *part, int n, int64_t ts)
{
    sl_buf_t b;
    sl_buf_init(&b);
    make_batch(&b, n, ts, 0);
    slog_append_t info;
    int rc = slog_part_append(part, b.data, b.len, ts, &info);
    sl_buf_deinit(&b);
    return rc == 0 ? info.base_offset : rc;
}

TEST(test_batch_validate_whole_truncated_and_damaged)
{
    sl_buf_t b;
    sl_buf_init(&b);
    make_batch(&b, 3, 1000, 0);
    slog_batch_hdr_t hdr;
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), 0);
    ASSERT_EQ(hdr.record_count, 3);
    for (size_t n = 0; n < b.len; n++) {
        ASSERT_NE(slog_batch_validate(b.data, n, &hdr), 0);
    }
    for (size_t i = 0; i < b.len; i++) { /* any flipped byte past the offset/epoch is caught */
        if (i < 8 || (i >= 12 && i < 16)) {
            continue;
        }
        b.data[i] ^= 0x40;
        ASSERT_NE(slog_batch_validate(b.data, b.len, &hdr), 0);
        b.data[i] ^= 0x40;
    }
    b.data[16] = 1;
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), SL_EINVAL);
    sl_buf_deinit(&b);
}

TEST(test_append_assigns_offsets_and_reads_return_the_containing_batch)
{
    char *dir = tmpdir();
    slog_conf_t c = conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 200; i++) {
        ASSERT_EQ(append(part, 3, 1000 + i), (int64_t)i * 3);
    }
    ASSERT_EQ(slog_part_end_offset(part), 600);
    ASSERT_TRUE(slog_part_segment_count(part) > 5); /* rolled by size */
    for (int64_t off = 0; off < 600; off++) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, 600, 1, true, &rd), 0);
        ASSERT_EQ(rd.first_offset, off - off % 3);
        uint8_t hdr[61];
        ASSERT_EQ(pread(slog_file_fd(rd.file), hdr, 61, rd.pos), 61);
        ASSERT_EQ((int64_t)sl_be64_get(hdr), off - off % 3);
        slog_file_unref(rd.file);
    }
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 600, 600, 1 << 20, true, &rd), 0);
    ASSERT_EQ(rd.len, 0);
    ASSERT_EQ(slog_part_read(part, 601, 601, 1 << 20, true, &rd), SL_ERANGE);
    /* max_offset bounds the range; max_bytes too, but min_one returns one batch */
    ASSERT_EQ(slog_part_read(part, 0, 6, 1 << 20, true, &rd), 0);
    ASSERT_TRUE(rd.len > 0 && rd.len < 400);
    slog_file_unref(rd.file);
    ASSERT_EQ(slog_part_read(part, 0, 600, 0, false, &rd), 0);
    ASSERT_EQ(rd.len, 0);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_offset_for_time_and_max_timestamp)
{
    char *dir = tmpdir();
    slog_conf_t c = conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 100; i++) {
        append(part, 2, 10000 + i * 10); /* records at ts, ts+1 */
    }
    int64_t off, ts;
    ASSERT_EQ(slog_part_offset_for_time(part, 10500, &off, &ts), 0);
    ASSERT_EQ(off, 100);
    ASSERT_EQ(ts, 10500);
    ASSERT_EQ(slog_part_offset_for_time(part, 10501, &off, &ts), 0);
    ASSERT_EQ(off, 101);
    ASSERT_EQ(slog_part_offset_for_time(part, 10502, &off, &ts), 0);
    ASSERT_EQ(off, 102);
    ASSERT_EQ(slog_part_offset_for_time(part, 99999, &off, &ts), SL_ENOTFOUND);
    ASSERT_EQ(slog_part_max_timestamp(part, &off, &ts), 0);
    ASSERT_EQ(ts, 10991);
    ASSERT_EQ(off, 199);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_retention_by_size_and_time_deletes_closed_segments_only)
{
    char *dir = tmpdir();
    slog_conf_t c = conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 300; i++) {
        append(part, 3, 1000);
    }
    int segs = slog_part_segment_count(part);
    c.retention_bytes = 8192;
    slog_part_set_conf(part, &c);
    int deleted = slog_part_housekeep(part, 2000);
    ASSERT_TRUE(deleted > 0);
    ASSERT_EQ(slog_part_segment_count(part), segs - deleted);
    ASSERT_TRUE(slog_part_size_bytes(part) < 8192 + 4096);
    ASSERT_TRUE(slog_part_start_offset(part) > 0);
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 0, 900, 100, true, &rd), SL_ERANGE);
    c.retention_bytes = -1;
    c.retention_ms = 10;
    slog_part_set_conf(part, &c);
    slog_part_housekeep(part, 1000000);
    ASSERT_EQ(slog_part_segment_count(part), 1); /* the active segment stays */
    ASSERT_EQ(slog_part_end_offset(part), 900);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

static void cut_file(const char *dir, int64_t base, off_t delta, const char *garbage)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%020lld.log", dir, (long long)base);
    struct stat st;
    stat(path, &st);
    if (truncate(path, st.st_size + delta) != 0) {
        abort();
    }
    if (garbage) {
        int fd = open(path, O_WRONLY | O_APPEND);
        if (write(fd, garbage, strlen(garbage)) < 0) {
            abort();
        }
        close(fd);
    }
}

TEST(test_recovery_truncates_torn_tail_and_garbage)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 10; i++) {
        append(part, 5, 1000);
    }
    slog_part_sync_now(part);
    slog_part_abandon(part); /* a crash: no clean marker */
    cut_file(dir, 0, -7, NULL);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 45); /* the torn last batch is gone */
    ASSERT_EQ(append(part, 5, 1000), 45);
    slog_part_abandon(part);
    cut_file(dir, 0, 0, "garbage that is not a batch at all, long enough to look like a header....");
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 50);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_recovery_drops_a_batch_with_a_bad_crc_at_the_tail)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 4; i++) {
        append(part, 2, 1000);
    }
    slog_part_abandon(part);
    char path[512];
    snprintf(path, sizeof path, "%s/%020d.log", dir, 0);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint8_t byte;
    ASSERT_EQ(pread(fd, &byte, 1, st.st_size - 2), 1);
    byte ^= 1;
    ASSERT_EQ(pwrite(fd, &byte, 1, st.st_size - 2), 1);
    close(fd);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 6);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_clean_reopen_uses_and_checks_indexes)
{
    char *dir = tmpdir();
    slog_conf_t c = conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 100; i++) {
        append(part, 4, 5000 + i);
    }
    slog_part_close(part);
    char path[512];
    snprintf(path, sizeof path, "%s/.clean", dir);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/%020d.index", dir, 0);
    ASSERT_EQ(truncate(path, 5), 0); /* damaged index: rebuilt */
    snprintf(path, sizeof path, "%s/%020d.timeindex", dir, 0);
    unlink(path); /* missing time index: rebuilt */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 400);
    int64_t off, ts;
    ASSERT_EQ(slog_part_offset_for_time(part, 5050, &off, &ts), 0);
    ASSERT_EQ(off, 191); /* batch 47 holds timestamps 5047..5050: its 4th record */
    for (int64_t o = 0; o < 400; o += 37) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, o, 400, 1, true, &rd), 0);
        ASSERT_EQ(rd.first_offset, o - o % 4);
        slog_file_unref(rd.file);
    }
    snprintf(path, sizeof path, "%s/.clean", dir);
    ASSERT_NE(stat(path, &st), 0); /* removed while open */
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_sync_jobs_advance_the_durable_offset_and_failures_take_it_offline)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    append(part, 3, 1);
    ASSERT_EQ(slog_part_durable_offset(part), 0);
    ASSERT_TRUE(slog_part_sync_needed(part));
    slog_sync_job_t *job = slog_part_sync_begin(part);
    ASSERT_TRUE(job != NULL);
    ASSERT_TRUE(slog_part_sync_begin(part) == NULL); /* one at a time */
    append(part, 3, 1);                               /* arrives during the sync */
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_durable_offset(part), 3);
    job = slog_part_sync_begin(part);
    slog_fault_set(SLOG_FAULT_SYNC, 1, EIO);
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_durable_offset(part), 3);
    ASSERT_EQ(slog_part_failed(part), -EIO);
    ASSERT_EQ(append(part, 1, 1), -EIO); /* offline */
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_write_failure_leaves_nothing_behind)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    append(part, 2, 1);
    slog_fault_set(SLOG_FAULT_WRITE, 1, ENOSPC);
    ASSERT_EQ(append(part, 2, 1), -ENOSPC);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 2);
    ASSERT_EQ(append(part, 2, 1), 2);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_max_message_bytes_at_n_and_n_plus_one)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    sl_buf_t b;
    sl_buf_init(&b);
    make_batch(&b, 1, 1, 100);
    c.max_message_bytes = (int32_t)b.len;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), 0);
    c.max_message_bytes = (int32_t)b.len - 1;
    slog_part_set_conf(part, &c);
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), SL_ELIMIT);
    sl_buf_deinit(&b);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

TEST(test_log_append_time_rewrites_timestamps_and_crc)
{
    char *dir = tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.log_append_time = true;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    make_batch(&b, 2, 5, 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 777777, &info), 0);
    ASSERT_EQ(info.append_time_ms, 777777);
    slog_batch_hdr_t hdr;
    ASSERT_EQ(slog_batch_validate(b.data, b.len, &hdr), 0);
    ASSERT_EQ(hdr.max_timestamp, 777777);
    ASSERT_TRUE(hdr.attributes & SLOG_BATCH_TIMESTAMP_TYPE);
    sl_buf_deinit(&b);
    slog_part_close(part);
    sl_fs_rmtree(dir);
    free(dir);
}

int main(void)
{
    RUN(test_batch_validate_whole_truncated_and_damaged);
    RUN(test_append_assigns_offsets_and_reads_return_the_containing_batch);
    RUN(test_offset_for_time_and_max_timestamp);
    RUN(test_retention_by_size_and_time_deletes_closed_segments_only);
    RUN(test_recovery_truncates_torn_tail_and_garbage);
    RUN(test_recovery_drops_a_batch_with_a_bad_crc_at_the_tail);
    RUN(test_clean_reopen_uses_and_checks_indexes);
    RUN(test_sync_jobs_advance_the_durable_offset_and_failures_take_it_offline);
    RUN(test_write_failure_leaves_nothing_behind);
    RUN(test_max_message_bytes_at_n_and_n_plus_one);
    RUN(test_log_append_time_rewrites_timestamps_and_crc);
    TEST_MAIN_END();
}
