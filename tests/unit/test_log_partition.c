/* Partition logs (src/log/partition.c, sync.c): appends and offsets, rolls by size and age,
 * time lookups, retention, LogAppendTime, group-commit jobs, I/O failures (fault injection)
 * and the named limits at N and N+1. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <errno.h>

TEST(test_append_assigns_offsets_and_rewrites_the_header)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 3, 100, 0);
    tl_batch(&b, 2, 200, 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 999, &info), 0);
    ASSERT_EQ(info.base_offset, 0);
    ASSERT_EQ(info.last_offset, 4);
    ASSERT_EQ(info.batch_count, 2);
    ASSERT_EQ(info.append_time_ms, -1);
    ASSERT_EQ(info.log_start_offset, 0);
    slog_batch_hdr_t hdr;
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 3, 5, 1 << 20, true, &rd), 0);
    uint8_t got[SLOG_BATCH_HEADER_BYTES];
    ASSERT_EQ(pread(slog_file_fd(rd.file), got, sizeof got, rd.pos), (ssize_t)sizeof got);
    slog_batch_hdr_decode(got, &hdr);
    ASSERT_EQ(hdr.base_offset, 3);
    ASSERT_EQ(hdr.leader_epoch, 0);
    ASSERT_EQ(hdr.base_timestamp, 200); /* CreateTime: timestamps kept */
    slog_file_unref(rd.file);
    ASSERT_EQ(slog_part_end_offset(part), 5);
    ASSERT_EQ(slog_part_size_bytes(part), (int64_t)b.len);
    sl_buf_deinit(&b);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_append_writes_nothing_unless_every_batch_is_valid)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 3, 100, 0);
    size_t first = b.len;
    tl_batch(&b, 2, 200, 0);
    b.data[b.len - 1] ^= 1; /* the second batch is corrupt */
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), SL_ECORRUPT);
    ASSERT_EQ(slog_part_append(part, b.data, first + 30, 1, &info), SL_ECORRUPT); /* torn */
    ASSERT_EQ(slog_part_append(part, b.data, 0, 1, &info), SL_ECORRUPT);         /* empty */
    b.data[first + 16] = 1;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), SL_EINVAL); /* magic 1 */
    ASSERT_EQ(slog_part_end_offset(part), 0);
    ASSERT_EQ(slog_part_size_bytes(part), 0);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    ASSERT_EQ(tl_file_size(path), 0);
    ASSERT_EQ(slog_part_failed(part), 0);
    sl_buf_deinit(&b);
    slog_part_close(part);
    tl_rmdir(dir);
}

/* Appends one batch padded to exactly bytes long (1 record). */
static int64_t append_sized(slog_part_t *part, size_t bytes, int64_t now)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 1, now, 0);
    size_t pad = bytes - b.len;
    for (int i = 0; i < 3 && b.len != bytes; i++) { /* varint lengths grow with the pad */
        pad -= b.len > bytes ? b.len - bytes : 0;
        b.len = 0;
        tl_batch(&b, 1, now, pad);
    }
    slog_append_t info;
    int rc = b.len == bytes ? slog_part_append(part, b.data, b.len, now, &info) : -1;
    sl_buf_deinit(&b);
    return rc == 0 ? info.base_offset : rc;
}

TEST(test_segment_bytes_at_n_and_n_plus_one)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.segment_bytes = 1200; /* two 600-byte batches fill a segment exactly */
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_sized(part, 600, 1), 0);
    ASSERT_EQ(append_sized(part, 600, 1), 1);
    ASSERT_EQ(slog_part_segment_count(part), 1);
    ASSERT_EQ(append_sized(part, 600, 1), 2);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    c.segment_bytes = 1199;
    slog_part_set_conf(part, &c);
    ASSERT_EQ(append_sized(part, 600, 1), 3);
    ASSERT_EQ(slog_part_segment_count(part), 3);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_a_batch_larger_than_a_segment_goes_alone_in_a_fresh_one)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.segment_bytes = SLOG_SEGMENT_BYTES_MIN;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_sized(part, 200, 1), 0);
    ASSERT_EQ(append_sized(part, 3000, 1), 1);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    ASSERT_EQ(part->segs[1]->size, 3000);
    ASSERT_EQ(append_sized(part, 200, 1), 2);
    ASSERT_EQ(slog_part_segment_count(part), 3);
    c.segment_bytes = 10; /* below the floor: SLOG_SEGMENT_BYTES_MIN applies */
    slog_part_set_conf(part, &c);
    ASSERT_EQ(append_sized(part, 200, 1), 3);
    ASSERT_EQ(slog_part_segment_count(part), 3);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_one_request_can_span_a_roll)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    for (int i = 0; i < 40; i++) {
        tl_batch(&b, 2, 10, 200); /* about 500 bytes each: 20 KB over 4 KiB segments */
    }
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 10, &info), 0);
    ASSERT_EQ(info.base_offset, 0);
    ASSERT_EQ(info.last_offset, 79);
    ASSERT_TRUE(slog_part_segment_count(part) >= 5);
    for (size_t i = 0; i < part->nsegs; i++) {
        ASSERT_TRUE(part->segs[i]->size <= 4096);
    }
    for (int64_t off = 0; off < 80; off++) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, 80, 1, true, &rd), 0);
        ASSERT_EQ(tl_read_base(&rd), off - off % 2);
        slog_file_unref(rd.file);
    }
    sl_buf_deinit(&b);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 80);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_roll_by_age_at_append_and_in_housekeeping)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.roll_ms = 100;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_housekeep(part, 1000000), 0);
    ASSERT_EQ(slog_part_segment_count(part), 1); /* an empty segment never rolls */
    ASSERT_EQ(tl_append(part, 1, 1000), 0);
    ASSERT_EQ(tl_append(part, 1, 1099), 1); /* roll_ms - 1 */
    ASSERT_EQ(slog_part_segment_count(part), 1);
    ASSERT_EQ(tl_append(part, 1, 1100), 2); /* roll_ms */
    ASSERT_EQ(slog_part_segment_count(part), 2);
    ASSERT_EQ(slog_part_housekeep(part, 1199), 0);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    ASSERT_EQ(slog_part_housekeep(part, 1200), 0);
    ASSERT_EQ(slog_part_segment_count(part), 3);
    ASSERT_EQ(slog_part_end_offset(part), 3);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_offset_for_time_and_max_timestamp)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t off, ts;
    ASSERT_EQ(slog_part_max_timestamp(part, &off, &ts), SL_ENOTFOUND);
    ASSERT_EQ(slog_part_offset_for_time(part, 0, &off, &ts), SL_ENOTFOUND);
    for (int i = 0; i < 100; i++) {
        tl_append(part, 2, 10000 + i * 10); /* records at ts, ts+1 */
    }
    tl_append(part, 2, 5000); /* an old straggler at offsets 200, 201 */
    for (int round = 0; round < 2; round++) {
        ASSERT_EQ(slog_part_offset_for_time(part, 0, &off, &ts), 0);
        ASSERT_EQ(off, 0);
        ASSERT_EQ(ts, 10000);
        ASSERT_EQ(slog_part_offset_for_time(part, 10500, &off, &ts), 0);
        ASSERT_EQ(off, 100);
        ASSERT_EQ(ts, 10500);
        ASSERT_EQ(slog_part_offset_for_time(part, 10501, &off, &ts), 0);
        ASSERT_EQ(off, 101);
        ASSERT_EQ(slog_part_offset_for_time(part, 10502, &off, &ts), 0);
        ASSERT_EQ(off, 102);
        ASSERT_EQ(ts, 10510);
        ASSERT_EQ(slog_part_offset_for_time(part, 10992, &off, &ts), SL_ENOTFOUND);
        ASSERT_EQ(slog_part_max_timestamp(part, &off, &ts), 0);
        ASSERT_EQ(ts, 10991);
        ASSERT_EQ(off, 199);
        slog_part_close(part); /* again from the index files */
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    }
    slog_part_close(part);
    tl_rmdir(dir);
}

/* A partition in dir holding 300 batches of 3 records (several segments with tl_conf_small). */
static slog_part_t *open_filled(const char *dir, const slog_conf_t *c)
{
    slog_part_t *part;
    SL_ASSERT(slog_part_open(dir, c, &part) == 0);
    for (int i = 0; i < 300; i++) {
        tl_append(part, 3, 1000);
    }
    return part;
}

TEST(test_retention_by_size_deletes_the_oldest_closed_segments)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part = open_filled(dir, &c);
    int segs = slog_part_segment_count(part);
    int64_t total = slog_part_size_bytes(part), first = part->segs[0]->size;
    c.retention_bytes = total - first; /* N: exactly one segment goes */
    slog_part_set_conf(part, &c);
    ASSERT_EQ(slog_part_housekeep(part, 2000), 1);
    c.retention_bytes = slog_part_size_bytes(part) - part->segs[0]->size + 1; /* N+1: none */
    slog_part_set_conf(part, &c);
    ASSERT_EQ(slog_part_housekeep(part, 2000), 0);
    c.retention_bytes = 8192;
    slog_part_set_conf(part, &c);
    int deleted = slog_part_housekeep(part, 2000);
    ASSERT_TRUE(deleted > 0);
    ASSERT_EQ(slog_part_segment_count(part), segs - deleted - 1);
    ASSERT_TRUE(slog_part_size_bytes(part) >= 8192);
    ASSERT_TRUE(slog_part_size_bytes(part) - part->segs[0]->size < 8192);
    ASSERT_EQ(slog_part_start_offset(part), part->segs[0]->base);
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 0, 900, 100, true, &rd), SL_ERANGE);
    c.retention_bytes = 0; /* the active segment stays whatever the setting */
    slog_part_set_conf(part, &c);
    slog_part_housekeep(part, 2000);
    ASSERT_EQ(slog_part_segment_count(part), 1);
    ASSERT_EQ(slog_part_end_offset(part), 900);
    slog_append_t info;
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 1, 1, 0);
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), 0);
    ASSERT_EQ(info.log_start_offset, slog_part_start_offset(part));
    sl_buf_deinit(&b);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0); /* the start offset survives a restart */
    ASSERT_EQ(slog_part_start_offset(part), info.log_start_offset);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_retention_by_time_uses_each_segments_newest_record)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    c.retention_ms = 1000;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 300; i++) {
        tl_append(part, 3, 10000 + i); /* record timestamps up to 10000 + i + 2 */
    }
    ASSERT_TRUE(slog_part_segment_count(part) > 3);
    int64_t max0 = part->segs[0]->max_ts, max1 = part->segs[1]->max_ts;
    ASSERT_EQ(slog_part_housekeep(part, max0 + 1000), 0); /* not older than retention */
    ASSERT_EQ(slog_part_housekeep(part, max0 + 1001), 1);
    ASSERT_EQ(slog_part_start_offset(part), part->segs[0]->base);
    ASSERT_EQ(slog_part_housekeep(part, max1 + 1001), 1);
    slog_part_housekeep(part, 1000000);
    ASSERT_EQ(slog_part_segment_count(part), 1); /* never the active segment */
    ASSERT_EQ(slog_part_end_offset(part), 900);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_log_append_time_rewrites_timestamps_and_crc)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.log_append_time = true;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 2, 5, 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 777777, &info), 0);
    ASSERT_EQ(info.append_time_ms, 777777);
    slog_batch_hdr_t hdr;
    uint8_t *disk = malloc(b.len);
    ASSERT_EQ(pread(slog_file_fd(part->segs[0]->file), disk, b.len, 0), (ssize_t)b.len);
    ASSERT_EQ(slog_batch_validate(disk, b.len, &hdr), 0); /* CRC recomputed */
    ASSERT_EQ(hdr.base_timestamp, 777777);
    ASSERT_EQ(hdr.max_timestamp, 777777);
    ASSERT_TRUE(hdr.attributes & SLOG_BATCH_TIMESTAMP_TYPE);
    free(disk);
    int64_t off, ts;
    ASSERT_EQ(slog_part_offset_for_time(part, 777777, &off, &ts), 0);
    ASSERT_EQ(off, 0);
    ASSERT_EQ(ts, 777777);
    ASSERT_EQ(slog_part_max_timestamp(part, &off, &ts), 0);
    ASSERT_EQ(ts, 777777);
    ASSERT_EQ(off, 1);
    sl_buf_deinit(&b);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_sync_jobs_advance_the_durable_offset)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_TRUE(!slog_part_sync_needed(part));
    ASSERT_TRUE(slog_part_sync_begin(part) == NULL);
    tl_append(part, 3, 1);
    ASSERT_EQ(slog_part_durable_offset(part), 0);
    ASSERT_TRUE(slog_part_sync_needed(part));
    slog_sync_job_t *job = slog_part_sync_begin(part);
    ASSERT_TRUE(job != NULL);
    ASSERT_TRUE(!slog_part_sync_needed(part));
    ASSERT_TRUE(slog_part_sync_begin(part) == NULL); /* one at a time */
    tl_append(part, 3, 1);                           /* arrives during the sync */
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_durable_offset(part), 3);
    ASSERT_TRUE(slog_part_sync_needed(part));
    /* rolls leave closed segments unsynced: the next job covers all of them */
    for (int i = 0; i < 100; i++) {
        tl_append(part, 3, 1);
    }
    ASSERT_TRUE(slog_part_segment_count(part) > 2);
    ASSERT_TRUE(part->segs[0]->synced_next < part->segs[0]->next);
    job = slog_part_sync_begin(part);
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_durable_offset(part), 306);
    for (size_t i = 0; i < part->nsegs; i++) {
        ASSERT_EQ(part->segs[i]->synced_next, part->segs[i]->next);
    }
    char path[512], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/recovery-point", dir);
    ASSERT_EQ(sl_fs_read_all(path, 64, &text, &len), 0);
    ASSERT_EQ(atoll(text), 306); /* moved to the new active segment */
    free(text);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_fsync_failure_takes_the_partition_offline)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tl_append(part, 3, 1);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    tl_append(part, 3, 1);
    slog_sync_job_t *job = slog_part_sync_begin(part);
    slog_fault_set(SLOG_FAULT_SYNC, 1, EIO);
    slog_part_sync_end(part, job, slog_sync_run(job));
    ASSERT_EQ(slog_part_durable_offset(part), 3);
    ASSERT_EQ(slog_part_failed(part), -EIO);
    ASSERT_EQ(tl_append(part, 1, 1), -EIO); /* offline */
    ASSERT_TRUE(!slog_part_sync_needed(part));
    ASSERT_EQ(slog_part_sync_now(part), -EIO);
    slog_part_close(part);
    char marker[512];
    snprintf(marker, sizeof marker, "%s/.clean", dir);
    ASSERT_TRUE(!tl_exists(marker)); /* the next start verifies */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_failed(part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 6);
    /* the synchronous path fails the same way */
    tl_append(part, 1, 1);
    slog_fault_set(SLOG_FAULT_SYNC, 1, ENOSPC);
    ASSERT_EQ(slog_part_sync_now(part), -ENOSPC);
    ASSERT_EQ(slog_part_failed(part), -ENOSPC);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_write_failures_leave_nothing_behind)
{
    slog_fault_op_t ops[] = {SLOG_FAULT_WRITE, SLOG_FAULT_WRITE_TORN};
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++) {
        char *dir = tl_tmpdir();
        slog_conf_t c;
        slog_conf_default(&c);
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        tl_append(part, 2, 1);
        char path[512];
        tl_path(path, sizeof path, dir, 0, "log");
        int64_t size = tl_file_size(path);
        slog_fault_set(ops[i], 1, ENOSPC);
        ASSERT_EQ(tl_append(part, 2, 1), -ENOSPC);
        ASSERT_EQ(tl_file_size(path), size); /* a torn write is cut back */
        ASSERT_EQ(slog_part_failed(part), -ENOSPC);
        ASSERT_EQ(slog_part_end_offset(part), 2);
        slog_part_close(part);
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), 2);
        ASSERT_EQ(tl_append(part, 2, 1), 2);
        slog_part_close(part);
        tl_rmdir(dir);
    }
}

TEST(test_max_message_bytes_at_n_and_n_plus_one)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 1, 1, 100);
    c.max_message_bytes = (int32_t)b.len;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), 0);
    c.max_message_bytes = (int32_t)b.len - 1;
    slog_part_set_conf(part, &c);
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), SL_ELIMIT);
    ASSERT_EQ(slog_part_end_offset(part), 1);
    ASSERT_EQ(slog_part_failed(part), 0);
    sl_buf_deinit(&b);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_batch_bytes_max_at_n_and_n_plus_one)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.max_message_bytes = INT32_MAX; /* the hard ceiling applies whatever the setting */
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch_compressed(&b, 10, 1, (size_t)SLOG_BATCH_BYTES_MAX - SLOG_BATCH_HEADER_BYTES + 1);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), SL_ELIMIT);
    b.len = 0;
    tl_batch_compressed(&b, 10, 1, (size_t)SLOG_BATCH_BYTES_MAX - SLOG_BATCH_HEADER_BYTES);
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1, &info), 0);
    ASSERT_EQ(info.last_offset, 9);
    sl_buf_deinit(&b);
    slog_part_abandon(part); /* and it survives a verifying recovery */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 10);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_roll_and_delete_before_keep_offsets_and_reopen)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_roll(part), 0); /* empty active segment: nothing to roll */
    ASSERT_EQ(slog_part_segment_count(part), 1);
    for (int i = 0; i < 5; i++) {
        tl_append(part, 2, 1000);
    }
    ASSERT_EQ(slog_part_roll(part), 0);
    ASSERT_EQ(slog_part_segment_count(part), 2);
    ASSERT_EQ(tl_append(part, 2, 1000), 10);
    ASSERT_EQ(slog_part_delete_before(part, 9), 0); /* segment 0 ends at 10: kept */
    ASSERT_EQ(slog_part_delete_before(part, 10), 1);
    ASSERT_EQ(slog_part_start_offset(part), 10);
    ASSERT_EQ(slog_part_delete_before(part, 1000), 0); /* never the active segment */
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 9, 12, 1 << 20, true, &rd), SL_ERANGE);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_start_offset(part), 10);
    ASSERT_EQ(slog_part_end_offset(part), 12);
    slog_part_close(part);
    tl_rmdir(dir);
}

static void write_start_file(const char *dir, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/log-start-offset", dir);
    ASSERT_EQ(sl_fs_write_atomic(path, text, strlen(text)), 0);
}

TEST(test_set_start_moves_inside_a_segment_deletes_whole_ones_and_reopens)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part = open_filled(dir, &c);
    int segs = slog_part_segment_count(part);
    int64_t second = part->segs[1]->base;
    ASSERT_TRUE(segs > 3);
    ASSERT_EQ(slog_part_start_save(slog_part_dir(part), second + 1), 0);
    ASSERT_EQ(slog_part_start_offset(part), 0); /* saved, not applied yet */
    ASSERT_EQ(slog_part_set_start(part, second + 1), 0); /* inside the second segment */
    ASSERT_EQ(slog_part_start_offset(part), second + 1);
    ASSERT_EQ(slog_part_segment_count(part), segs - 1); /* only the first, wholly below */
    ASSERT_EQ(part->segs[0]->base, second);
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, second, 900, 100, true, &rd), SL_ERANGE);
    ASSERT_EQ(slog_part_read(part, second + 1, 900, 100, true, &rd), 0);
    slog_file_unref(rd.file);
    ASSERT_EQ(slog_part_start_save(slog_part_dir(part), 5), 0); /* the file never goes back */
    ASSERT_EQ(slog_part_set_start(part, 5), 0); /* below the start: nothing changes */
    ASSERT_EQ(slog_part_start_offset(part), second + 1);
    ASSERT_EQ(slog_part_set_start(part, 901), SL_EINVAL); /* past the end */
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_start_offset(part), second + 1);
    ASSERT_EQ(slog_part_segment_count(part), segs - 1);
    ASSERT_EQ(slog_part_start_save(slog_part_dir(part), 900), 0);
    ASSERT_EQ(slog_part_set_start(part, 900), 0); /* everything: the active segment stays */
    ASSERT_EQ(slog_part_segment_count(part), 1);
    ASSERT_EQ(slog_part_start_offset(part), 900);
    slog_part_close(part);
    write_start_file(dir, "5000\n"); /* past the end (a lost tail): the log starts at its end */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_start_offset(part), 900);
    tl_append(part, 3, 1000); /* 900..902, then a start below the old file's 5000 */
    ASSERT_EQ(slog_part_start_save(slog_part_dir(part), 901), 0);
    ASSERT_EQ(slog_part_set_start(part, 901), 0);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0); /* the file was rewritten: 901, not 903 */
    ASSERT_EQ(slog_part_start_offset(part), 901);
    ASSERT_EQ(slog_part_end_offset(part), 903);
    slog_part_close(part);
    write_start_file(dir, "soon\n"); /* unreadable: ignored, the first segment's base */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_start_offset(part), part->segs[0]->base);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_delete_removes_the_directory)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tl_append(part, 2, 1);
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 0, 2, 100, true, &rd), 0);
    ASSERT_EQ(slog_part_delete(part), 0);
    ASSERT_TRUE(!tl_exists(dir));
    ASSERT_EQ(tl_read_base(&rd), 0);
    slog_file_unref(rd.file);
    free(dir);
}

int main(void)
{
    RUN(test_append_assigns_offsets_and_rewrites_the_header);
    RUN(test_append_writes_nothing_unless_every_batch_is_valid);
    RUN(test_segment_bytes_at_n_and_n_plus_one);
    RUN(test_a_batch_larger_than_a_segment_goes_alone_in_a_fresh_one);
    RUN(test_one_request_can_span_a_roll);
    RUN(test_roll_by_age_at_append_and_in_housekeeping);
    RUN(test_offset_for_time_and_max_timestamp);
    RUN(test_retention_by_size_deletes_the_oldest_closed_segments);
    RUN(test_retention_by_time_uses_each_segments_newest_record);
    RUN(test_log_append_time_rewrites_timestamps_and_crc);
    RUN(test_sync_jobs_advance_the_durable_offset);
    RUN(test_fsync_failure_takes_the_partition_offline);
    RUN(test_write_failures_leave_nothing_behind);
    RUN(test_max_message_bytes_at_n_and_n_plus_one);
    RUN(test_batch_bytes_max_at_n_and_n_plus_one);
    RUN(test_roll_and_delete_before_keep_offsets_and_reopen);
    RUN(test_set_start_moves_inside_a_segment_deletes_whole_ones_and_reopens);
    RUN(test_delete_removes_the_directory);
    TEST_MAIN_END();
}
