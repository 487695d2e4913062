/* Log compaction (src/log/cleaner.c): the latest record per key, offsets and gaps, reads in a
 * gap, tombstones before and after delete.retention.ms, several passes with a small offset
 * map, compressed batches per codec, producer header fields, an interrupted swap at every
 * step, aborts when the inputs change or the job is cancelled, and the I/O throttle. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_codec.h"
#include "slog_fault.h"

#include <dirent.h>
#include <time.h>

/* ---- building batches ---- */

typedef struct {
    int codec;
    int64_t pid;
    int16_t epoch;
    int32_t seq;
} tc_opt_t;

/* Appends to out a batch of n records keys[i] (NULL: null key) -> vals[i] (NULL: tombstone). */
static void tc_batch(sl_buf_t *out, int n, const char **keys, const char **vals, int64_t ts,
                     tc_opt_t opt)
{
    sl_buf_t recs, r, z;
    sl_buf_init(&recs);
    sl_buf_init(&r);
    sl_buf_init(&z);
    for (int i = 0; i < n; i++) {
        r.len = 0;
        sl_buf_append(&r, "\0", 1);
        tl_varint(&r, i);
        tl_varint(&r, i);
        tl_varint(&r, keys[i] ? (int64_t)strlen(keys[i]) : -1);
        if (keys[i]) {
            sl_buf_append(&r, keys[i], strlen(keys[i]));
        }
        tl_varint(&r, vals[i] ? (int64_t)strlen(vals[i]) : -1);
        if (vals[i]) {
            sl_buf_append(&r, vals[i], strlen(vals[i]));
        }
        tl_varint(&r, 0);
        tl_varint(&recs, (int64_t)r.len);
        sl_buf_append(&recs, r.data, r.len);
    }
    const sl_buf_t *payload = &recs;
    if (opt.codec) {
        if (slog_codec_compress(opt.codec, recs.data, recs.len, false, &z) != 0) {
            abort();
        }
        payload = &z;
    }
    size_t total = SLOG_BATCH_HEADER_BYTES + payload->len;
    uint8_t *p = sl_buf_reserve(out, total);
    memset(p, 0, SLOG_BATCH_HEADER_BYTES);
    sl_be32_put(p + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    p[16] = 2;
    sl_be16_put(p + 21, (uint16_t)opt.codec);
    sl_be32_put(p + 23, (uint32_t)(n - 1));
    sl_be64_put(p + 27, (uint64_t)ts);
    sl_be64_put(p + 35, (uint64_t)(ts + n - 1));
    sl_be64_put(p + 43, (uint64_t)opt.pid);
    sl_be16_put(p + 51, (uint16_t)opt.epoch);
    sl_be32_put(p + 53, (uint32_t)opt.seq);
    sl_be32_put(p + 57, (uint32_t)n);
    memcpy(p + SLOG_BATCH_HEADER_BYTES, payload->data, payload->len);
    tl_fix_crc(p, total);
    out->len += total;
    sl_buf_deinit(&recs);
    sl_buf_deinit(&r);
    sl_buf_deinit(&z);
}

static const tc_opt_t tc_plain = {0, -1, -1, -1};

static int64_t tc_append_batch(slog_part_t *part, int n, const char **keys, const char **vals,
                               int64_t ts, tc_opt_t opt)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tc_batch(&b, n, keys, vals, ts, opt);
    slog_append_t info;
    int rc = slog_part_append(part, b.data, b.len, ts, &info);
    sl_buf_deinit(&b);
    return rc == 0 ? info.base_offset : rc;
}

static int64_t tc_put(slog_part_t *part, const char *key, const char *val, int64_t ts)
{
    return tc_append_batch(part, 1, &key, &val, ts, tc_plain);
}

static slog_conf_t tc_conf(void)
{
    slog_conf_t c = tl_conf_small();
    c.segment_bytes = 1024;
    c.cleanup_compact = true;
    c.cleanup_delete = false;
    c.min_cleanable_dirty_ratio = 0;
    c.delete_retention_ms = 1000;
    return c;
}

static const slog_clean_opts_t tc_opts = {1 << 20, 0};

/* ---- reading everything back ---- */

typedef struct {
    int64_t offset;
    char key[32];
    char val[32];
    bool key_null, val_null;
} tc_rec_t;

typedef struct {
    slog_batch_hdr_t hdr;
    int64_t pos;
} tc_batch_t;

typedef struct {
    tc_rec_t recs[4096];
    int n;
    tc_batch_t batches[4096];
    int nbatches;
} tc_log_t;

static int64_t tc_varint(const uint8_t **p)
{
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            break;
        }
    }
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

static void tc_field(const uint8_t **p, char *dst, bool *null)
{
    int64_t n = tc_varint(p);
    *null = n < 0;
    dst[0] = '\0';
    if (n >= 0) {
        snprintf(dst, 32, "%.*s", (int)n, (const char *)*p);
        *p += n;
    }
}

static void tc_parse_batch(tc_log_t *log, const uint8_t *b, size_t total)
{
    slog_batch_hdr_t hdr;
    slog_batch_hdr_decode(b, &hdr);
    sl_buf_t z;
    sl_buf_init(&z);
    const uint8_t *p = b + SLOG_BATCH_HEADER_BYTES;
    int codec = hdr.attributes & 7;
    if (codec) {
        if (slog_codec_decompress(codec, p, total - SLOG_BATCH_HEADER_BYTES, 1 << 24, &z) != 0) {
            abort();
        }
        p = z.data;
    }
    for (int32_t i = 0; i < hdr.record_count; i++) {
        tc_varint(&p);
        p++;
        tc_varint(&p);
        tc_rec_t *r = &log->recs[log->n++];
        r->offset = hdr.base_offset + tc_varint(&p);
        tc_field(&p, r->key, &r->key_null);
        tc_field(&p, r->val, &r->val_null);
        int64_t nh = tc_varint(&p);
        for (int64_t h = 0; h < nh; h++) {
            char skip[32];
            bool null;
            tc_field(&p, skip, &null);
            tc_field(&p, skip, &null);
        }
    }
    sl_buf_deinit(&z);
}

/* Reads the whole log through slog_part_read, as a fetch would. */
static void tc_read_all(slog_part_t *part, tc_log_t *log)
{
    log->n = 0;
    log->nbatches = 0;
    int64_t off = slog_part_start_offset(part), end = slog_part_end_offset(part);
    while (off < end) {
        slog_read_t rd;
        if (slog_part_read(part, off, end, 1 << 20, true, &rd) != 0 || rd.len == 0) {
            abort();
        }
        uint8_t *buf = malloc((size_t)rd.len);
        if (pread(slog_file_fd(rd.file), buf, (size_t)rd.len, rd.pos) != rd.len) {
            abort();
        }
        for (int64_t pos = 0; pos < rd.len;) {
            slog_batch_hdr_t hdr;
            slog_batch_hdr_decode(buf + pos, &hdr);
            log->batches[log->nbatches++] = (tc_batch_t){hdr, rd.pos + pos};
            tc_parse_batch(log, buf + pos, (size_t)slog_batch_total(&hdr));
            off = hdr.base_offset + hdr.last_offset_delta + 1;
            pos += slog_batch_total(&hdr);
        }
        free(buf);
        slog_file_unref(rd.file);
    }
}

/* The last record read for key, or NULL. */
static const tc_rec_t *tc_latest(const tc_log_t *log, const char *key)
{
    const tc_rec_t *found = NULL;
    for (int i = 0; i < log->n; i++) {
        if (!log->recs[i].key_null && strcmp(log->recs[i].key, key) == 0) {
            found = &log->recs[i];
        }
    }
    return found;
}

static int tc_count_key(const tc_log_t *log, const char *key, int64_t below)
{
    int n = 0;
    for (int i = 0; i < log->n; i++) {
        n += !log->recs[i].key_null && strcmp(log->recs[i].key, key) == 0 &&
             log->recs[i].offset < below;
    }
    return n;
}

/* Offsets strictly increasing and every value "v<offset>" (offsets kept by the cleaner). */
static bool tc_offsets_kept(const tc_log_t *log)
{
    for (int i = 0; i < log->n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%lld", (long long)log->recs[i].offset);
        if ((i > 0 && log->recs[i].offset <= log->recs[i - 1].offset) ||
            (!log->recs[i].val_null && strcmp(log->recs[i].val, want) != 0)) {
            return false;
        }
    }
    return true;
}

/* Writes n single-record batches, key k<i % keys>, value v<offset>; returns the end. */
static int64_t tc_fill(slog_part_t *part, int n, int keys, int64_t ts)
{
    for (int i = 0; i < n; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "k%d", i % keys);
        snprintf(v, sizeof v, "v%lld", (long long)slog_part_end_offset(part));
        tc_put(part, k, v, ts + i);
    }
    return slog_part_end_offset(part);
}

static int tc_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), s = strlen(suffix);
        n += l >= s && strcmp(de->d_name + l - s, suffix) == 0;
    }
    closedir(d);
    return n;
}

static tc_log_t tc_log; /* large: static */

/* ---- tests ---- */

TEST(test_clean_keeps_only_the_latest_record_per_key_and_their_offsets)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t end = tc_fill(part, 200, 10, 1000);
    int segs_before = slog_part_segment_count(part);
    int64_t size_before = slog_part_size_bytes(part);
    ASSERT_TRUE(segs_before > 10);
    slog_clean_stats_t st;
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, false, &st), 0);
    int64_t cleaned = slog_part_cleaned_to(part);
    ASSERT_EQ(st.cleaned_to, cleaned);
    ASSERT_TRUE(cleaned > 100 && cleaned < end);
    ASSERT_TRUE(st.records_removed > 100);
    ASSERT_TRUE(slog_part_size_bytes(part) < size_before / 2);
    ASSERT_EQ(slog_part_end_offset(part), end);
    ASSERT_EQ(slog_part_start_offset(part), 0);
    tc_read_all(part, &tc_log);
    ASSERT_TRUE(tc_offsets_kept(&tc_log));
    for (int k = 0; k < 10; k++) {
        char key[16], want[32];
        snprintf(key, sizeof key, "k%d", k);
        ASSERT_TRUE(tc_count_key(&tc_log, key, cleaned) <= 1);
        snprintf(want, sizeof want, "v%d", 190 + k); /* the last write of k */
        ASSERT_STREQ(tc_latest(&tc_log, key)->val, want);
    }
    /* A second pass merges the small cleaned segments (up to segment.bytes). */
    tc_fill(part, 30, 10, 2000);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, &st), 0);
    ASSERT_TRUE(st.segments_out < st.segments_in);
    ASSERT_TRUE(slog_part_segment_count(part) < segs_before / 2);
    /* An unclean restart verifies every batch: gaps and rewritten batches hold up. */
    int64_t end2 = slog_part_end_offset(part);
    int n_before = 0;
    tc_read_all(part, &tc_log);
    n_before = tc_log.n;
    slog_part_abandon(part);
    char path[512];
    snprintf(path, sizeof path, "%s/recovery-point", dir);
    unlink(path);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    ASSERT_EQ(slog_part_end_offset(part), end2);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_log.n, n_before);
    ASSERT_TRUE(tc_offsets_kept(&tc_log));
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_read_inside_a_gap_returns_the_next_batch)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 100, 3, 1000);
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, false, NULL), 0);
    tc_fill(part, 10, 1000, 2000); /* distinct keys: gaps between kept records too */
    tc_fill(part, 30, 3, 3000);
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    int gaps = 0, i = 0;
    for (int64_t off = 0; off < slog_part_end_offset(part); off++) {
        while (tc_log.recs[i].offset < off) {
            i++;
        }
        if (tc_log.recs[i].offset == off) {
            continue;
        }
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, slog_part_end_offset(part), 1 << 20, true, &rd), 0);
        ASSERT_TRUE(rd.len > 0);
        ASSERT_EQ(rd.first_offset, tc_log.recs[i].offset);
        slog_file_unref(rd.file);
        gaps++;
    }
    ASSERT_TRUE(gaps > 100);
    slog_part_close(part);
    tl_rmdir(dir);
}

/* Appends two filler records and rolls, so the next clean has something dirty. */
static void tc_dirty(slog_part_t *part, const char *key)
{
    char v[32];
    snprintf(v, sizeof v, "v%lld", (long long)slog_part_end_offset(part));
    tc_put(part, key, v, 1);
    slog_part_roll(part);
}

TEST(test_clean_keeps_tombstones_until_delete_retention_has_passed)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_put(part, "a", "v0", 1);
    tc_put(part, "a", NULL, 1); /* tombstone at offset 1 */
    tc_put(part, "b", "v2", 1);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 5000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "a", 100), 1);
    ASSERT_TRUE(tc_latest(&tc_log, "a")->val_null); /* first clean: the tombstone stays */
    tc_dirty(part, "c");
    ASSERT_EQ(slog_part_clean_now(part, 5000 + 999, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "a", 100), 1);
    tc_dirty(part, "d");
    ASSERT_EQ(slog_part_clean_now(part, 5000 + 1000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "a", 100), 0); /* delete.retention.ms passed: gone */
    ASSERT_STREQ(tc_latest(&tc_log, "b")->val, "v2");
    /* A tombstone written later starts its own clock. */
    tc_put(part, "b", NULL, 1);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 9000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "b", 100), 1);
    ASSERT_TRUE(tc_latest(&tc_log, "b")->val_null);
    /* The checkpoint (with its marks) survives a restart. */
    slog_part_close(part);
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_dirty(part, "e");
    ASSERT_EQ(slog_part_clean_now(part, 9999, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "b", 100), 1);
    tc_dirty(part, "f");
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_count_key(&tc_log, "b", 100), 0);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_honours_min_compaction_lag_and_the_dirty_ratio)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    c.min_compaction_lag_ms = 1000;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 100, 5, 10000); /* timestamps 10000..10099 */
    ASSERT_EQ(slog_part_clean_now(part, 10500, &tc_opts, true, NULL), SL_EAGAIN);
    ASSERT_EQ(slog_part_clean_now(part, 20000, &tc_opts, true, NULL), 0);
    /* Nothing new is dirty; with a ratio of 0.9, a little new data is not enough. */
    c.min_compaction_lag_ms = 0;
    c.min_cleanable_dirty_ratio = 0.9;
    slog_part_set_conf(part, &c);
    tc_dirty(part, "x");
    ASSERT_TRUE(slog_part_dirty_ratio(part, 20000) < 0.9);
    ASSERT_EQ(slog_part_clean_now(part, 20000, &tc_opts, false, NULL), SL_EAGAIN);
    /* A topic that does not compact is never cleaned. */
    c.cleanup_compact = false;
    slog_part_set_conf(part, &c);
    ASSERT_EQ(slog_part_clean_now(part, 20000, &tc_opts, true, NULL), SL_EAGAIN);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_is_due_after_max_compaction_lag_whatever_the_dirty_ratio)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    c.min_cleanable_dirty_ratio = 1.0; /* never reached once something is clean */
    c.max_compaction_lag_ms = 5000;
    c.roll_ms = 1000000;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 60, 5, 10000);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, NULL), 0);
    ASSERT_EQ(slog_part_cleaned_to(part), 60);
    tc_put(part, "k1", "late", 20000); /* a little dirty data at ts 20000 */
    slog_part_roll(part);
    ASSERT_TRUE(slog_part_dirty_ratio(part, 20000) < 1.0);
    ASSERT_TRUE(!slog_part_clean_due(part, 24999));
    ASSERT_EQ(slog_part_clean_now(part, 24999, &tc_opts, false, NULL), SL_EAGAIN);
    ASSERT_TRUE(slog_part_clean_due(part, 25000));
    ASSERT_EQ(slog_part_clean_now(part, 25000, &tc_opts, false, NULL), 0);
    ASSERT_TRUE(!slog_part_clean_due(part, 99999));
    /* the active segment rolls once max.compaction.lag.ms has passed, not roll.ms */
    int segs = slog_part_segment_count(part);
    tc_put(part, "k2", "x", 30000);
    ASSERT_EQ(slog_part_housekeep(part, 30000 + 4999), 0);
    ASSERT_EQ(slog_part_segment_count(part), segs);
    ASSERT_EQ(slog_part_housekeep(part, 30000 + 5000), 0);
    ASSERT_EQ(slog_part_segment_count(part), segs + 1);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_with_a_full_offset_map_takes_several_passes)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    char k[16], v[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 400; i++) {
            snprintf(k, sizeof k, "key%d", i);
            snprintf(v, sizeof v, "v%lld", (long long)slog_part_end_offset(part));
            tc_put(part, k, v, 1);
        }
    }
    slog_part_roll(part);
    slog_clean_opts_t small = {4096, 0}; /* 170 slots, 153 usable */
    int passes = 0;
    slog_clean_stats_t st;
    while (slog_part_clean_now(part, 100, &small, true, &st) == 0) {
        passes++;
        ASSERT_TRUE(st.cleaned_to <= 153 * passes);
        ASSERT_TRUE(passes < 20);
    }
    ASSERT_TRUE(passes >= 5); /* 800 records, at most 153 a pass */
    ASSERT_EQ(slog_part_cleaned_to(part), 800);
    tc_read_all(part, &tc_log);
    ASSERT_EQ(tc_log.n, 400);
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "v%d", 400 + i);
        ASSERT_EQ(tc_count_key(&tc_log, k, 1000), 1);
        ASSERT_STREQ(tc_latest(&tc_log, k)->val, v);
    }
    /* A map that cannot hold one batch is an error, not a loop. */
    slog_part_close(part);
    tl_rmdir(dir);
    dir = tl_tmpdir();
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    const char *keys[200], *vals[200];
    char kb[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(kb[i], sizeof kb[i], "b%d", i);
        keys[i] = kb[i];
        vals[i] = "v";
    }
    tc_append_batch(part, 200, keys, vals, 1, tc_plain);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 100, &small, true, NULL), SL_ELIMIT);
    ASSERT_EQ(tc_count_files(dir, ".cleaned"), 0);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_filters_compressed_batches_and_recompresses_with_their_codec)
{
    for (int codec = 1; codec <= 4; codec++) {
        char *dir = tl_tmpdir();
        slog_conf_t c = tc_conf();
        slog_part_t *part;
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        const char *xk[] = {"x0", "x1", "x2", "x3"}, *xv[] = {"v0", "v1", "v2", "v3"};
        const char *yk[] = {"y0", "y1", "y2", "y3"}, *yv[] = {"v4", "v5", "v6", "v7"};
        const char *zk[] = {"x0", "x1"}, *zv[] = {"v8", "v9"};
        tc_opt_t opt = {codec, -1, -1, -1};
        ASSERT_EQ(tc_append_batch(part, 4, xk, xv, 1, opt), 0);
        ASSERT_EQ(tc_append_batch(part, 4, yk, yv, 1, opt), 4);
        ASSERT_EQ(tc_append_batch(part, 2, zk, zv, 1, tc_plain), 8);
        slog_part_roll(part);
        tc_read_all(part, &tc_log);
        tc_batch_t y_before = tc_log.batches[1];
        uint8_t ybytes[512];
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, 4, 10, 1 << 20, true, &rd), 0);
        ASSERT_EQ(pread(slog_file_fd(rd.file), ybytes, (size_t)slog_batch_total(&y_before.hdr),
                        rd.pos), slog_batch_total(&y_before.hdr));
        slog_file_unref(rd.file);
        ASSERT_EQ(slog_part_clean_now(part, 100, &tc_opts, true, NULL), 0);
        tc_read_all(part, &tc_log);
        ASSERT_EQ(tc_log.nbatches, 3);
        slog_batch_hdr_t *h = &tc_log.batches[0].hdr;
        ASSERT_EQ(h->attributes & 7, codec);
        ASSERT_EQ(h->base_offset, 0);
        ASSERT_EQ(h->last_offset_delta, 3);
        ASSERT_EQ(h->record_count, 2);
        ASSERT_EQ(tc_log.n, 8);
        ASSERT_STREQ(tc_log.recs[0].key, "x2");
        ASSERT_EQ(tc_log.recs[0].offset, 2);
        ASSERT_STREQ(tc_log.recs[1].val, "v3");
        /* the y batch lost nothing: the same bytes */
        ASSERT_EQ(slog_part_read(part, 4, 10, 1 << 20, true, &rd), 0);
        uint8_t after[512];
        ASSERT_EQ(pread(slog_file_fd(rd.file), after, (size_t)slog_batch_total(&y_before.hdr),
                        rd.pos), slog_batch_total(&y_before.hdr));
        ASSERT_MEMEQ(after, ybytes, (size_t)slog_batch_total(&y_before.hdr));
        slog_file_unref(rd.file);
        /* every batch still validates after an unclean restart */
        slog_part_abandon(part);
        char path[512];
        snprintf(path, sizeof path, "%s/recovery-point", dir);
        unlink(path);
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), 10);
        tc_read_all(part, &tc_log);
        ASSERT_EQ(tc_log.n, 8);
        slog_part_close(part);
        tl_rmdir(dir);
    }
}

TEST(test_clean_keeps_the_producer_fields_of_rewritten_batches)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    const char *pk[] = {"p0", "p1", "p2"}, *pv[] = {"v0", "v1", "v2"};
    ASSERT_EQ(tc_append_batch(part, 3, pk, pv, 1, (tc_opt_t){0, 77, 3, 10}), 0);
    tc_put(part, "p1", "v3", 1);
    const char *rk[] = {"r0"}, *rv[] = {"v4"};
    ASSERT_EQ(tc_append_batch(part, 1, rk, rv, 1, (tc_opt_t){0, 88, 1, 5}), 4);
    tc_put(part, "r0", "v5", 1);
    const char *wk[] = {"w0"}, *wv[] = {"v6"}, *wk2[] = {"w1"}, *wv2[] = {"v7"};
    ASSERT_EQ(tc_append_batch(part, 1, wk, wv, 1, (tc_opt_t){0, 55, 0, 0}), 6);
    ASSERT_EQ(tc_append_batch(part, 1, wk2, wv2, 1, (tc_opt_t){0, 55, 0, 1}), 7);
    tc_put(part, "w0", "v8", 1);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 100, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    /* P: p1 superseded; header fields kept, lastOffsetDelta too */
    slog_batch_hdr_t *h = &tc_log.batches[0].hdr;
    ASSERT_EQ(h->base_offset, 0);
    ASSERT_EQ(h->record_count, 2);
    ASSERT_EQ(h->last_offset_delta, 2);
    ASSERT_EQ(h->producer_id, 77);
    ASSERT_EQ(h->producer_epoch, 3);
    ASSERT_EQ(h->base_sequence, 10);
    /* R: emptied but the last batch of producer 88: its header stays, without records */
    h = &tc_log.batches[2].hdr;
    ASSERT_EQ(h->base_offset, 4);
    ASSERT_EQ(h->record_count, 0);
    ASSERT_EQ(h->producer_id, 88);
    ASSERT_EQ(h->base_sequence, 5);
    /* W: emptied and not producer 55's last: gone; the next batch is offset 5 */
    ASSERT_EQ(tc_log.batches[3].hdr.base_offset, 5);
    ASSERT_EQ(tc_log.batches[4].hdr.base_offset, 7);
    ASSERT_EQ(tc_log.nbatches, 6);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_clean_offset_for_time_finds_records_by_their_kept_offsets)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    const char *k[] = {"a", "b", "c"}, *v[] = {"v0", "v1", "v2"};
    ASSERT_EQ(tc_append_batch(part, 3, k, v, 100, tc_plain), 0); /* ts 100, 101, 102 */
    tc_put(part, "b", "v3", 200);
    slog_part_roll(part);
    ASSERT_EQ(slog_part_clean_now(part, 1000, &tc_opts, true, NULL), 0);
    int64_t off, ts;
    ASSERT_EQ(slog_part_offset_for_time(part, 101, &off, &ts), 0);
    ASSERT_EQ(off, 2); /* b (offset 1) is gone: c at offset 2, not the second record's index */
    ASSERT_EQ(ts, 102);
    ASSERT_EQ(slog_part_offset_for_time(part, 100, &off, &ts), 0);
    ASSERT_EQ(off, 0);
    slog_part_close(part);
    tl_rmdir(dir);
}

/* Writes the same data into a fresh partition: 120 records over 12 keys in ~12 segments. */
static slog_part_t *tc_setup_crash(const char *dir, const slog_conf_t *c)
{
    slog_part_t *part;
    if (slog_part_open(dir, c, &part) != 0) {
        abort();
    }
    tc_fill(part, 120, 12, 1000);
    return part;
}

static bool tc_latest_ok(const tc_log_t *log)
{
    for (int k = 0; k < 12; k++) {
        char key[16], want[32];
        snprintf(key, sizeof key, "k%d", k);
        snprintf(want, sizeof want, "v%d", 108 + k);
        const tc_rec_t *r = tc_latest(log, key);
        if (!r || strcmp(r->val, want) != 0) {
            return false;
        }
    }
    return true;
}

TEST(test_clean_interrupted_swap_recovers_old_or_new_segments_at_every_step)
{
    slog_conf_t c = tc_conf();
    int outcomes_old = 0, outcomes_new = 0;
    for (int step = 1; step < 200; step++) {
        char *dir = tl_tmpdir();
        slog_part_t *part = tc_setup_crash(dir, &c);
        int64_t end = slog_part_end_offset(part);
        slog_fault_set(SLOG_FAULT_CLEAN_STOP, step, 1);
        int rc = slog_part_clean_now(part, 10000, &tc_opts, true, NULL);
        slog_fault_set(SLOG_FAULT_CLEAN_STOP, 0, 0);
        slog_part_abandon(part); /* the crash */
        if (rc == 0) {
            tl_rmdir(dir);
            break; /* every step has been interrupted once */
        }
        ASSERT_EQ(rc, SL_ECLOSED);
        ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
        ASSERT_EQ(slog_part_end_offset(part), end);
        ASSERT_EQ(tc_count_files(dir, ".cleaned") + tc_count_files(dir, ".swap") +
                      tc_count_files(dir, ".swapend"), 0);
        tc_read_all(part, &tc_log);
        ASSERT_TRUE(tc_offsets_kept(&tc_log));
        ASSERT_TRUE(tc_latest_ok(&tc_log));
        /* each group is either all old or all new: a key's record below the first group's
         * end appears at most once when that group is new */
        outcomes_old += tc_log.n == 120;
        outcomes_new += tc_log.n < 120;
        /* and cleaning again completes the job */
        ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, NULL), 0);
        tc_read_all(part, &tc_log);
        ASSERT_TRUE(tc_latest_ok(&tc_log));
        ASSERT_TRUE(tc_log.n < 60);
        slog_part_close(part);
        tl_rmdir(dir);
    }
    ASSERT_EQ(outcomes_old, 4); /* the checkpoint, then before each of the three renames */
    ASSERT_TRUE(outcomes_new >= 5);
}

TEST(test_clean_is_dropped_when_its_segments_change_or_it_is_cancelled)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    c.cleanup_delete = true; /* compact,delete */
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 100, 5, 1000);
    slog_clean_job_t *job = slog_part_clean_begin(part, 10000, &tc_opts, true);
    ASSERT_TRUE(job != NULL);
    ASSERT_TRUE(slog_part_clean_begin(part, 10000, &tc_opts, true) == NULL); /* one at a time */
    ASSERT_EQ(slog_clean_run(job), 0);
    ASSERT_TRUE(tc_count_files(dir, ".cleaned") > 0);
    c.retention_bytes = slog_part_size_bytes(part) - 1500; /* retention removes the oldest */
    slog_part_set_conf(part, &c);
    ASSERT_TRUE(slog_part_housekeep(part, 10000) > 0);
    int64_t start = slog_part_start_offset(part);
    ASSERT_EQ(slog_part_clean_end(part, job, 0, NULL), SL_EAGAIN);
    ASSERT_EQ(tc_count_files(dir, ".cleaned"), 0);
    ASSERT_EQ(slog_part_start_offset(part), start);
    ASSERT_EQ(slog_part_cleaned_to(part), 0);
    /* cancelled */
    job = slog_part_clean_begin(part, 10000, &tc_opts, true);
    ASSERT_TRUE(job != NULL);
    slog_clean_cancel(job);
    ASSERT_EQ(slog_clean_run(job), SL_ECLOSED);
    ASSERT_EQ(slog_part_clean_end(part, job, SL_ECLOSED, NULL), SL_ECLOSED);
    ASSERT_EQ(tc_count_files(dir, ".cleaned"), 0);
    /* and a clean after all that works */
    ASSERT_EQ(slog_part_clean_now(part, 10000, &tc_opts, true, NULL), 0);
    tc_read_all(part, &tc_log);
    ASSERT_STREQ(tc_latest(&tc_log, "k4")->val, "v99");
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_compact_only_topics_are_not_deleted_by_retention)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    c.retention_ms = 1;
    c.retention_bytes = 1;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 50, 50, 1000);
    ASSERT_EQ(slog_part_housekeep(part, 1000000), 0);
    c.cleanup_delete = true;
    slog_part_set_conf(part, &c);
    ASSERT_TRUE(slog_part_housekeep(part, 1000000) > 0);
    slog_part_close(part);
    tl_rmdir(dir);
}

static int64_t tc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST(test_clean_io_is_throttled_to_the_configured_rate)
{
    ASSERT_EQ(slog_clean_throttle_ms(1000, 0, 500, 0), 500);
    ASSERT_EQ(slog_clean_throttle_ms(1000, 0, 500, 200), 300);
    ASSERT_EQ(slog_clean_throttle_ms(1000, 0, 500, 500), 0);
    ASSERT_EQ(slog_clean_throttle_ms(0, 0, 1 << 30, 0), 0);
    ASSERT_EQ(slog_clean_throttle_ms(-1, 0, 1 << 30, 0), 0);
    char *dir = tl_tmpdir();
    slog_conf_t c = tc_conf();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    tc_fill(part, 100, 5, 1000);
    slog_clean_opts_t slow = {1 << 20, 20000}; /* 20 kB/s */
    slog_clean_stats_t st;
    int64_t t0 = tc_mono_ms();
    ASSERT_EQ(slog_part_clean_now(part, 10000, &slow, true, &st), 0);
    int64_t took = tc_mono_ms() - t0;
    int64_t io = st.bytes_read + st.bytes_written;
    ASSERT_TRUE(io > 8000);
    ASSERT_TRUE(took >= io * 1000 / 20000 - 60); /* a lower bound only: sleeps never shorten */
    slog_part_close(part);
    tl_rmdir(dir);
}

int main(void)
{
    RUN(test_clean_keeps_only_the_latest_record_per_key_and_their_offsets);
    RUN(test_clean_read_inside_a_gap_returns_the_next_batch);
    RUN(test_clean_keeps_tombstones_until_delete_retention_has_passed);
    RUN(test_clean_honours_min_compaction_lag_and_the_dirty_ratio);
    RUN(test_clean_is_due_after_max_compaction_lag_whatever_the_dirty_ratio);
    RUN(test_clean_with_a_full_offset_map_takes_several_passes);
    RUN(test_clean_filters_compressed_batches_and_recompresses_with_their_codec);
    RUN(test_clean_keeps_the_producer_fields_of_rewritten_batches);
    RUN(test_clean_offset_for_time_finds_records_by_their_kept_offsets);
    RUN(test_clean_interrupted_swap_recovers_old_or_new_segments_at_every_step);
    RUN(test_clean_is_dropped_when_its_segments_change_or_it_is_cancelled);
    RUN(test_compact_only_topics_are_not_deleted_by_retention);
    RUN(test_clean_io_is_throttled_to_the_configured_rate);
    TEST_MAIN_END();
}
