/* Producer state (slog_pstate.h) on its own, then through a partition log: duplicates, gaps,
 * epochs, sequence wrap, the journal, limits at N and N+1, expiry, snapshots (round trip,
 * damaged, torn tail) and retention. */
#include "sl_test.h"
#include "slog_fault.h"
#include "slog_internal.h"
#include "slog_pstate.h"
#include "test_log.h"

#include <dirent.h>
#include <errno.h>

/* A batch header as the producer state sees it (offset given by the log). */
static slog_batch_hdr_t hdr_of(int64_t pid, int16_t epoch, int32_t seq, int32_t count)
{
    slog_batch_hdr_t h;
    memset(&h, 0, sizeof h);
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = seq;
    h.last_offset_delta = count - 1;
    h.record_count = count;
    h.max_timestamp = 1000;
    return h;
}

/* Checks one batch in its own journal; returns the verdict. */
static int check(slog_pstate_t *ps, int64_t pid, int16_t epoch, int32_t seq, int32_t count,
                 int64_t offset, slog_pbatch_t *dup)
{
    slog_batch_hdr_t h = hdr_of(pid, epoch, seq, count);
    slog_pbatch_t d;
    slog_pstate_begin(ps);
    int rc = slog_pstate_check(ps, &h, offset, dup ? dup : &d);
    if (rc == 0) {
        slog_pstate_commit(ps);
    } else {
        slog_pstate_abort(ps);
    }
    return rc;
}

TEST(test_pstate_unknown_producer_is_accepted_at_any_sequence)
{
    slog_pstate_t *ps = slog_pstate_new(10, 1000);
    ASSERT_EQ(check(ps, 7, 0, 42, 3, 100, NULL), 0);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(ps, 7, &p));
    ASSERT_EQ(p.epoch, 0);
    ASSERT_EQ(p.last_seq, 44);
    ASSERT_EQ(p.last_offset, 102);
    ASSERT_EQ(check(ps, 7, 0, 45, 1, 103, NULL), 0);
    ASSERT_EQ(slog_pstate_count(ps), 1);
    slog_pstate_free(ps);
}

TEST(test_pstate_each_cached_batch_is_a_duplicate_with_its_original_offsets)
{
    slog_pstate_t *ps = slog_pstate_new(10, 1000);
    for (int i = 0; i < 6; i++) { /* 6 batches of 2 records: seq 2i..2i+1 at offset 10i */
        ASSERT_EQ(check(ps, 1, 0, 2 * i, 2, 10 * i, NULL), 0);
    }
    for (int i = 1; i < 6; i++) { /* the last 5 are cached */
        slog_pbatch_t dup;
        ASSERT_EQ(check(ps, 1, 0, 2 * i, 2, 999, &dup), SLOG_PSTATE_DUPLICATE);
        ASSERT_EQ(dup.last_offset - dup.offset_delta, 10 * i);
        ASSERT_EQ(dup.last_offset, 10 * i + 1);
    }
    /* the first one dropped out of the cache: from the past, not a duplicate */
    ASSERT_EQ(check(ps, 1, 0, 0, 2, 999, NULL), SLOG_ESEQUENCE);
    /* the same first sequence with another length is not a duplicate either */
    ASSERT_EQ(check(ps, 1, 0, 10, 1, 999, NULL), SLOG_ESEQUENCE);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(ps, 1, &p));
    ASSERT_EQ(p.batch_count, SLOG_PSTATE_BATCHES);
    ASSERT_EQ(p.last_offset, 51);
    slog_pstate_free(ps);
}

TEST(test_pstate_a_sequence_gap_is_out_of_order)
{
    slog_pstate_t *ps = slog_pstate_new(10, 1000);
    ASSERT_EQ(check(ps, 1, 0, 0, 5, 0, NULL), 0);
    ASSERT_EQ(check(ps, 1, 0, 6, 1, 5, NULL), SLOG_ESEQUENCE);
    ASSERT_EQ(check(ps, 1, 0, 4, 2, 5, NULL), SLOG_ESEQUENCE); /* overlaps */
    ASSERT_EQ(check(ps, 1, 0, 5, 1, 5, NULL), 0);
    slog_pstate_free(ps);
}

TEST(test_pstate_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero)
{
    slog_pstate_t *ps = slog_pstate_new(10, 1000);
    ASSERT_EQ(check(ps, 1, 3, 0, 1, 0, NULL), 0);
    ASSERT_EQ(check(ps, 1, 2, 1, 1, 1, NULL), SLOG_EPRODUCER_EPOCH);
    ASSERT_EQ(check(ps, 1, 2, 0, 1, 1, NULL), SLOG_EPRODUCER_EPOCH); /* even a "duplicate" */
    ASSERT_EQ(check(ps, 1, 4, 1, 1, 1, NULL), SLOG_ESEQUENCE);
    ASSERT_EQ(check(ps, 1, 4, 0, 1, 1, NULL), 0);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(ps, 1, &p));
    ASSERT_EQ(p.epoch, 4);
    ASSERT_EQ(p.batch_count, 1); /* the old epoch's batches are no longer duplicates */
    ASSERT_EQ(check(ps, 1, 3, 0, 1, 2, NULL), SLOG_EPRODUCER_EPOCH);
    slog_pstate_free(ps);
}

TEST(test_pstate_sequences_wrap_at_int32_max)
{
    ASSERT_EQ(slog_pstate_seq_add(INT32_MAX, 1), 0);
    ASSERT_EQ(slog_pstate_seq_add(INT32_MAX - 1, 3), 1);
    slog_pstate_t *ps = slog_pstate_new(10, 1000);
    ASSERT_EQ(check(ps, 1, 0, INT32_MAX - 1, 2, 0, NULL), 0); /* ends at INT32_MAX */
    ASSERT_EQ(check(ps, 1, 0, 0, 3, 2, NULL), 0);              /* wraps to 0..2 */
    slog_pbatch_t dup;
    ASSERT_EQ(check(ps, 1, 0, INT32_MAX - 1, 2, 9, &dup), SLOG_PSTATE_DUPLICATE);
    ASSERT_EQ(dup.last_offset, 1);
    ASSERT_EQ(check(ps, 1, 0, INT32_MAX, 4, 5, NULL), SLOG_ESEQUENCE);
    ASSERT_EQ(check(ps, 1, 0, 3, 1, 5, NULL), 0);
    /* a batch that itself crosses INT32_MAX */
    ASSERT_EQ(check(ps, 2, 0, INT32_MAX - 1, 4, 6, NULL), 0);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(ps, 2, &p));
    ASSERT_EQ(p.last_seq, 1);
    ASSERT_EQ(check(ps, 2, 0, 2, 1, 10, NULL), 0);
    slog_pstate_free(ps);
}

TEST(test_pstate_abort_undoes_every_check_of_the_journal)
{
    slog_pstate_t *ps = slog_pstate_new(2, 1000);
    ASSERT_EQ(check(ps, 1, 0, 0, 1, 0, NULL), 0);
    ASSERT_EQ(check(ps, 2, 0, 0, 1, 1, NULL), 0);
    slog_batch_hdr_t a = hdr_of(1, 0, 1, 1), b = hdr_of(3, 0, 0, 1), c = hdr_of(1, 1, 0, 1);
    slog_pbatch_t d;
    slog_pstate_begin(ps);
    ASSERT_EQ(slog_pstate_check(ps, &a, 2, &d), 0);
    ASSERT_EQ(slog_pstate_check(ps, &b, 3, &d), 0); /* evicts producer 2 */
    ASSERT_EQ(slog_pstate_check(ps, &c, 4, &d), 0); /* new epoch of producer 1 */
    slog_producer_t p;
    ASSERT_TRUE(!slog_pstate_get(ps, 2, &p));
    slog_pstate_abort(ps);
    ASSERT_EQ(slog_pstate_count(ps), 2);
    ASSERT_TRUE(slog_pstate_get(ps, 1, &p));
    ASSERT_EQ(p.epoch, 0);
    ASSERT_EQ(p.last_offset, 0);
    ASSERT_TRUE(slog_pstate_get(ps, 2, &p));
    ASSERT_TRUE(!slog_pstate_get(ps, 3, &p));
    slog_pstate_free(ps);
}

TEST(test_pstate_abort_restores_a_producer_touched_then_evicted_in_one_journal)
{
    slog_pstate_t *ps = slog_pstate_new(2, 1000);
    ASSERT_EQ(check(ps, 1, 0, 0, 1, 0, NULL), 0);
    ASSERT_EQ(check(ps, 2, 0, 0, 1, 1, NULL), 0);
    slog_pbatch_t d;
    slog_pstate_begin(ps);
    for (int i = 0; i < 3; i++) { /* producer 2 three times, then two newcomers evict all */
        slog_batch_hdr_t h = hdr_of(2, 0, 1 + i, 1);
        ASSERT_EQ(slog_pstate_check(ps, &h, 2 + i, &d), 0);
    }
    slog_batch_hdr_t h3 = hdr_of(3, 0, 0, 1), h4 = hdr_of(4, 0, 0, 1), h5 = hdr_of(5, 0, 0, 1);
    ASSERT_EQ(slog_pstate_check(ps, &h3, 5, &d), 0);
    ASSERT_EQ(slog_pstate_check(ps, &h4, 6, &d), 0);
    ASSERT_EQ(slog_pstate_check(ps, &h5, 7, &d), 0);
    slog_pstate_abort(ps);
    slog_producer_t p;
    ASSERT_EQ(slog_pstate_count(ps), 2);
    ASSERT_TRUE(slog_pstate_get(ps, 1, &p));
    ASSERT_TRUE(slog_pstate_get(ps, 2, &p));
    ASSERT_EQ(p.last_seq, 0);
    ASSERT_EQ(p.last_offset, 1);
    ASSERT_EQ(check(ps, 2, 0, 1, 1, 2, NULL), 0);
    slog_pstate_free(ps);
}

TEST(test_pstate_producer_limit_at_n_and_n_plus_one)
{
    enum { N = 16 };
    slog_pstate_t *ps = slog_pstate_new(N, 1000);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(check(ps, 100 + i, 0, 0, 1, i, NULL), 0);
    }
    ASSERT_EQ(slog_pstate_count(ps), N);
    slog_producer_t p;
    for (int i = 0; i < N; i++) {
        ASSERT_TRUE(slog_pstate_get(ps, 100 + i, &p));
    }
    ASSERT_EQ(check(ps, 5, 0, 0, 1, N, NULL), 0); /* N+1: the oldest (100) is forgotten */
    ASSERT_EQ(slog_pstate_count(ps), N);
    ASSERT_TRUE(!slog_pstate_get(ps, 100, &p));
    ASSERT_TRUE(slog_pstate_get(ps, 101, &p));
    ASSERT_TRUE(slog_pstate_get(ps, 5, &p));
    /* the forgotten one is a new producer again: any sequence */
    ASSERT_EQ(check(ps, 100, 0, 1, 1, N + 1, NULL), 0);
    ASSERT_TRUE(!slog_pstate_get(ps, 101, &p));
    /* a lowered limit is enforced at the next new producer */
    slog_pstate_set_limits(ps, 4, 1000);
    ASSERT_EQ(check(ps, 6, 0, 0, 1, N + 2, NULL), 0);
    ASSERT_EQ(slog_pstate_count(ps), 4);
    ASSERT_TRUE(slog_pstate_get(ps, 6, &p));
    ASSERT_TRUE(slog_pstate_get(ps, 100, &p));
    /* the ceiling bounds what a configuration asks for */
    slog_pstate_set_limits(ps, INT32_MAX, 1000);
    slog_pstate_free(ps);
}

TEST(test_pstate_producers_expire_after_expiry_ms)
{
    slog_pstate_t *ps = slog_pstate_new(10, 500);
    ASSERT_EQ(check(ps, 1, 0, 0, 1, 0, NULL), 0); /* timestamp 1000 */
    ASSERT_EQ(slog_pstate_expire(ps, 1499), 0);
    ASSERT_EQ(slog_pstate_count(ps), 1);
    ASSERT_EQ(slog_pstate_expire(ps, 1500), 1);
    ASSERT_EQ(slog_pstate_count(ps), 0);
    slog_pstate_free(ps);
}

static slog_pstate_t *sample_state(void)
{
    slog_pstate_t *ps = slog_pstate_new(100, 1000);
    int64_t off = 0;
    for (int pid = 0; pid < 20; pid++) {
        for (int k = 0; k < (pid % 7) + 1; k++) {
            SL_ASSERT(check(ps, pid * 3, (int16_t)(pid % 4), k * 2, 2, off, NULL) == 0);
            off += 2;
        }
    }
    return ps;
}

static bool same_state(const slog_pstate_t *a, const slog_pstate_t *b)
{
    if (slog_pstate_count(a) != slog_pstate_count(b)) {
        return false;
    }
    for (int32_t i = 0; i < slog_pstate_count(a); i++) {
        slog_producer_t x, y;
        slog_pstate_at(a, i, &x);
        slog_pstate_at(b, i, &y);
        if (x.producer_id != y.producer_id || x.epoch != y.epoch || x.last_seq != y.last_seq ||
            x.last_offset != y.last_offset || x.last_timestamp != y.last_timestamp ||
            x.batch_count != y.batch_count) {
            return false;
        }
    }
    return true;
}

TEST(test_pstate_snapshot_round_trip)
{
    slog_pstate_t *ps = sample_state(), *back = slog_pstate_new(100, 1000);
    sl_buf_t buf;
    sl_buf_init(&buf);
    slog_pstate_encode(ps, 500, &buf);
    int64_t off = -1;
    ASSERT_EQ(slog_pstate_decode(back, buf.data, buf.len, &off), 0);
    ASSERT_EQ(off, 500);
    ASSERT_TRUE(same_state(ps, back));
    /* duplicates are still found after the round trip */
    slog_pbatch_t dup;
    ASSERT_EQ(check(back, 3, 1, 0, 2, 900, &dup), SLOG_PSTATE_DUPLICATE);
    sl_buf_deinit(&buf);
    slog_pstate_free(ps);
    slog_pstate_free(back);
}

TEST(test_pstate_damaged_snapshot_bytes_are_refused)
{
    slog_pstate_t *ps = sample_state(), *back = slog_pstate_new(100, 1000);
    sl_buf_t buf;
    sl_buf_init(&buf);
    slog_pstate_encode(ps, 500, &buf);
    int64_t off;
    for (size_t n = 0; n < buf.len; n++) { /* every truncation */
        ASSERT_EQ(slog_pstate_decode(back, buf.data, n, &off), SL_ECORRUPT);
    }
    for (size_t i = 0; i < buf.len; i++) { /* every flipped byte */
        buf.data[i] ^= 0x40;
        ASSERT_EQ(slog_pstate_decode(back, buf.data, buf.len, &off), SL_ECORRUPT);
        ASSERT_EQ(slog_pstate_count(back), 0);
        buf.data[i] ^= 0x40;
    }
    ASSERT_EQ(slog_pstate_decode(back, buf.data, buf.len, &off), 0);
    sl_buf_deinit(&buf);
    slog_pstate_free(ps);
    slog_pstate_free(back);
}

static int count_snapshots(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        n += strstr(de->d_name, ".snapshot") != NULL && strstr(de->d_name, ".tmp") == NULL;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

TEST(test_pstate_files_keep_the_newest_and_skip_damaged_ones)
{
    char *dir = tl_tmpdir();
    slog_pstate_t *ps = sample_state(), *back = slog_pstate_new(100, 1000);
    ASSERT_EQ(slog_pstate_save(ps, dir, 100), 0);
    ASSERT_EQ(slog_pstate_save(ps, dir, 200), 0);
    ASSERT_EQ(slog_pstate_save(ps, dir, 300), 0);
    ASSERT_EQ(count_snapshots(dir), SLOG_PSTATE_SNAPSHOTS_KEPT);
    int64_t off;
    ASSERT_EQ(slog_pstate_load(back, dir, 1000, &off), 0);
    ASSERT_EQ(off, 300);
    ASSERT_TRUE(same_state(ps, back));
    char path[4096];
    tl_path(path, sizeof path, dir, 300, "snapshot");
    tl_flip(path, 30);
    ASSERT_EQ(slog_pstate_load(back, dir, 1000, &off), 0); /* damaged: the older one */
    ASSERT_EQ(off, 200);
    ASSERT_TRUE(!tl_exists(path));
    ASSERT_EQ(slog_pstate_load(back, dir, 199, &off), 0); /* past the end: removed */
    ASSERT_EQ(off, -1);
    ASSERT_EQ(slog_pstate_count(back), 0);
    ASSERT_EQ(count_snapshots(dir), 0);
    slog_pstate_free(ps);
    slog_pstate_free(back);
    tl_rmdir(dir);
}

/* ---- through a partition log ---- */

/* Appends to out a batch of n records from producer (pid, epoch) at sequence seq. */
static void idem_batch(sl_buf_t *out, int n, int64_t ts, int64_t pid, int16_t epoch, int32_t seq)
{
    size_t at = out->len;
    tl_batch(out, n, ts, 0);
    uint8_t *p = out->data + at;
    sl_be64_put(p + 43, (uint64_t)pid);
    sl_be16_put(p + 51, (uint16_t)epoch);
    sl_be32_put(p + 53, (uint32_t)seq);
    tl_fix_crc(p, out->len - at);
}

static int append_idem(slog_part_t *part, int n, int64_t pid, int16_t epoch, int32_t seq,
                       slog_append_t *info)
{
    sl_buf_t b;
    sl_buf_init(&b);
    idem_batch(&b, n, 1000, pid, epoch, seq);
    int rc = slog_part_append(part, b.data, b.len, 1000, info);
    sl_buf_deinit(&b);
    return rc;
}

TEST(test_part_duplicate_is_not_written_and_answers_the_original_offsets)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(tl_append(part, 2, 1000), 0); /* a plain producer first */
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 3, 9, 0, 0, &info), 0);
    ASSERT_EQ(info.base_offset, 2);
    ASSERT_TRUE(!info.duplicate);
    ASSERT_EQ(append_idem(part, 3, 9, 0, 0, &info), 0);
    ASSERT_TRUE(info.duplicate);
    ASSERT_EQ(info.base_offset, 2);
    ASSERT_EQ(info.last_offset, 4);
    ASSERT_EQ(slog_part_end_offset(part), 5);
    ASSERT_EQ(append_idem(part, 1, 9, 0, 4, &info), SLOG_ESEQUENCE);
    ASSERT_EQ(slog_part_end_offset(part), 5);
    ASSERT_EQ(append_idem(part, 1, 9, 0, 3, &info), 0);
    ASSERT_EQ(info.base_offset, 5);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_part_several_batches_in_one_append_are_all_or_nothing)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    sl_buf_t b;
    sl_buf_init(&b);
    idem_batch(&b, 2, 1000, 1, 0, 0);
    idem_batch(&b, 2, 1000, 1, 0, 2); /* follows the first one of the same append */
    idem_batch(&b, 1, 1000, 2, 0, 0);
    slog_append_t info;
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1000, &info), 0);
    ASSERT_EQ(info.last_offset, 4);
    b.len = 0;
    idem_batch(&b, 1, 1000, 2, 0, 1);
    idem_batch(&b, 1, 1000, 1, 0, 7); /* a gap: nothing of this append is kept */
    ASSERT_EQ(slog_part_append(part, b.data, b.len, 1000, &info), SLOG_ESEQUENCE);
    ASSERT_EQ(slog_part_end_offset(part), 5);
    ASSERT_EQ(append_idem(part, 1, 2, 0, 1, &info), 0); /* producer 2's state was undone */
    ASSERT_EQ(info.base_offset, 5);
    sl_buf_deinit(&b);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_part_a_failed_write_records_no_producer_state)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 1, 4, 0, 0, &info), 0);
    slog_fault_set(SLOG_FAULT_WRITE, 1, EIO);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 1, &info), -EIO);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(part->pstate, 4, &p));
    ASSERT_EQ(p.last_seq, 0);
    slog_part_close(part); /* offline: no snapshot of a state the log does not hold */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 1, &info), 0);
    ASSERT_TRUE(!info.duplicate);
    ASSERT_EQ(info.base_offset, 1);
    slog_part_close(part);
    tl_rmdir(dir);
}

/* Appends idempotent batches of one record until the log has rolled at least `rolls` times. */
static void fill_rolls(slog_part_t *part, int64_t pid, int32_t *seq, int rolls)
{
    slog_append_t info;
    int start = slog_part_segment_count(part);
    while (slog_part_segment_count(part) < start + rolls) {
        SL_ASSERT(append_idem(part, 1, pid, 0, (*seq)++, &info) == 0);
    }
}

TEST(test_part_state_survives_a_clean_reopen_and_a_rebuild_from_the_log)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int32_t seq = 0;
    fill_rolls(part, 4, &seq, 2);
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 1, 4, 0, seq++, &info), 0);
    int64_t last = info.base_offset;
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, seq - 1, &info), 0);
    ASSERT_TRUE(info.duplicate);
    ASSERT_EQ(info.base_offset, last);
    slog_part_close(part);
    /* every snapshot damaged: the state comes back from the log itself */
    char path[4096];
    tl_path(path, sizeof path, dir, last + 1, "snapshot");
    ASSERT_TRUE(tl_exists(path));
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".snapshot")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            tl_flip(path, 20);
        }
    }
    closedir(d);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(count_snapshots(dir), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, seq - 1, &info), 0);
    ASSERT_TRUE(info.duplicate);
    ASSERT_EQ(info.base_offset, last);
    ASSERT_EQ(append_idem(part, 1, 4, 0, seq + 1, &info), SLOG_ESEQUENCE);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_part_state_after_a_torn_tail_reflects_only_the_batches_kept)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 1, 4, 0, 0, &info), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 1, &info), 0);
    slog_part_close(part); /* snapshot at 2, clean */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 2, &info), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 3, &info), 0);
    ASSERT_EQ(slog_part_sync_now(part), 0);
    slog_part_abandon(part); /* a crash: no snapshot, no clean marker */
    char path[4096];
    tl_path(path, sizeof path, dir, 0, "log");
    ASSERT_EQ(truncate(path, tl_file_size(path) - 5), 0); /* the last batch is torn */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 3);
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(part->pstate, 4, &p));
    ASSERT_EQ(p.last_seq, 2);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 3, &info), 0); /* the torn one again: not a duplicate */
    ASSERT_TRUE(!info.duplicate);
    ASSERT_EQ(info.base_offset, 3);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_part_snapshot_past_a_cut_log_end_is_dropped)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 1, 4, 0, 0, &info), 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 1, &info), 0);
    slog_part_close(part); /* snapshot at 2 */
    char path[4096];
    tl_path(path, sizeof path, dir, 0, "log");
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.clean", dir);
    unlink(marker);
    char rp[4096];
    snprintf(rp, sizeof rp, "%s/recovery-point", dir);
    unlink(rp);
    ASSERT_EQ(truncate(path, tl_file_size(path) - 5), 0); /* as if batch 1 never reached disk */
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), 1);
    tl_path(path, sizeof path, dir, 2, "snapshot");
    ASSERT_TRUE(!tl_exists(path));
    slog_producer_t p;
    ASSERT_TRUE(slog_pstate_get(part->pstate, 4, &p));
    ASSERT_EQ(p.last_seq, 0);
    ASSERT_EQ(append_idem(part, 1, 4, 0, 1, &info), 0);
    ASSERT_TRUE(!info.duplicate);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_part_retention_does_not_forget_live_producers)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    c.retention_bytes = 1; /* keep only the active segment */
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    slog_append_t info;
    ASSERT_EQ(append_idem(part, 1, 77, 2, 0, &info), 0); /* producer 77: only in segment 0 */
    int32_t seq = 0;
    fill_rolls(part, 5, &seq, 3);
    ASSERT_TRUE(slog_part_housekeep(part, 2000) > 0);
    ASSERT_TRUE(slog_part_start_offset(part) > 0);
    ASSERT_EQ(append_idem(part, 1, 77, 2, 0, &info), 0);
    ASSERT_TRUE(info.duplicate);
    ASSERT_EQ(info.base_offset, 0);
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0); /* and after a reopen */
    ASSERT_EQ(append_idem(part, 1, 77, 1, 1, &info), SLOG_EPRODUCER_EPOCH);
    ASSERT_EQ(append_idem(part, 1, 77, 2, 2, &info), SLOG_ESEQUENCE);
    slog_part_close(part);
    tl_rmdir(dir);
}

int main(void)
{
    RUN(test_pstate_unknown_producer_is_accepted_at_any_sequence);
    RUN(test_pstate_each_cached_batch_is_a_duplicate_with_its_original_offsets);
    RUN(test_pstate_a_sequence_gap_is_out_of_order);
    RUN(test_pstate_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero);
    RUN(test_pstate_sequences_wrap_at_int32_max);
    RUN(test_pstate_abort_undoes_every_check_of_the_journal);
    RUN(test_pstate_abort_restores_a_producer_touched_then_evicted_in_one_journal);
    RUN(test_pstate_producer_limit_at_n_and_n_plus_one);
    RUN(test_pstate_producers_expire_after_expiry_ms);
    RUN(test_pstate_snapshot_round_trip);
    RUN(test_pstate_damaged_snapshot_bytes_are_refused);
    RUN(test_pstate_files_keep_the_newest_and_skip_damaged_ones);
    RUN(test_part_duplicate_is_not_written_and_answers_the_original_offsets);
    RUN(test_part_several_batches_in_one_append_are_all_or_nothing);
    RUN(test_part_a_failed_write_records_no_producer_state);
    RUN(test_part_state_survives_a_clean_reopen_and_a_rebuild_from_the_log);
    RUN(test_part_state_after_a_torn_tail_reflects_only_the_batches_kept);
    RUN(test_part_snapshot_past_a_cut_log_end_is_dropped);
    RUN(test_part_retention_does_not_forget_live_producers);
    TEST_MAIN_END();
}
