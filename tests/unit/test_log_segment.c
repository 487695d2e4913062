/* Segments and their indexes (src/log/segment.c, index.c): index lookups, index files written
 * at a roll and mapped, reads of whole batches at every offset, byte and offset bounds, and
 * files kept alive by a reference after a roll or a delete. */
#include "sl_test.h"
#include "test_log.h"
#include "slog_internal.h"

#include <errno.h>

static void push_oidx(slog_index_t *ix, uint32_t rel, uint32_t pos)
{
    uint8_t e[SLOG_OIDX_ENTRY_BYTES];
    sl_be32_put(e, rel);
    sl_be32_put(e + 4, pos);
    slog__idx_push(ix, e);
}

static void push_tidx(slog_index_t *ix, int64_t ts, uint32_t rel)
{
    uint8_t e[SLOG_TIDX_ENTRY_BYTES];
    sl_be64_put(e, (uint64_t)ts);
    sl_be32_put(e + 8, rel);
    slog__idx_push(ix, e);
}

TEST(test_index_lookups_by_binary_search)
{
    slog_index_t ix;
    slog__idx_init(&ix, SLOG_OIDX_ENTRY_BYTES);
    for (uint32_t i = 0; i < 1000; i++) {
        push_oidx(&ix, i * 10, i * 100);
    }
    ASSERT_TRUE(slog__oidx_check(&ix, 100000));
    ASSERT_TRUE(!slog__oidx_check(&ix, 99900)); /* last position past the file */
    ASSERT_EQ(slog__oidx_floor(&ix, 0), 0);
    ASSERT_EQ(slog__oidx_floor(&ix, 9), 0);
    ASSERT_EQ(slog__oidx_floor(&ix, 10), 1);
    ASSERT_EQ(slog__oidx_floor(&ix, 5555), 555);
    ASSERT_EQ(slog__oidx_floor(&ix, 1u << 31), 999);
    slog_index_t tx;
    slog__idx_init(&tx, SLOG_TIDX_ENTRY_BYTES);
    ASSERT_EQ(slog__tidx_count_below(&tx, 5), 0);
    for (int i = 0; i < 100; i++) {
        push_tidx(&tx, 1000 + i * 2, (uint32_t)i);
    }
    ASSERT_TRUE(slog__tidx_check(&tx, 99));
    ASSERT_TRUE(!slog__tidx_check(&tx, 98)); /* an offset past the segment */
    ASSERT_EQ(slog__tidx_count_below(&tx, 0), 0);
    ASSERT_EQ(slog__tidx_count_below(&tx, 1000), 0);
    ASSERT_EQ(slog__tidx_count_below(&tx, 1001), 1);
    ASSERT_EQ(slog__tidx_count_below(&tx, 1002), 1);
    ASSERT_EQ(slog__tidx_count_below(&tx, 99999), 100);
    slog__idx_deinit(&ix);
    slog__idx_deinit(&tx);
}

TEST(test_index_checks_reject_disorder)
{
    slog_index_t ix;
    slog__idx_init(&ix, SLOG_OIDX_ENTRY_BYTES);
    ASSERT_TRUE(slog__oidx_check(&ix, 0));
    ASSERT_TRUE(!slog__oidx_check(&ix, 100)); /* data but no entry */
    push_oidx(&ix, 1, 0);
    ASSERT_TRUE(!slog__oidx_check(&ix, 100)); /* first entry must be {0, 0} */
    slog__idx_deinit(&ix);
    push_oidx(&ix, 0, 0);
    push_oidx(&ix, 5, 50);
    push_oidx(&ix, 5, 60);
    ASSERT_TRUE(!slog__oidx_check(&ix, 100));
    slog__idx_deinit(&ix);
    push_oidx(&ix, 0, 0);
    push_oidx(&ix, 5, 50);
    push_oidx(&ix, 6, 50);
    ASSERT_TRUE(!slog__oidx_check(&ix, 100));
    slog__idx_deinit(&ix);
    slog__idx_init(&ix, SLOG_TIDX_ENTRY_BYTES);
    push_tidx(&ix, 10, 0);
    push_tidx(&ix, 10, 1);
    ASSERT_TRUE(!slog__tidx_check(&ix, 10)); /* timestamps strictly grow */
    slog__idx_deinit(&ix);
    push_tidx(&ix, 10, 5);
    push_tidx(&ix, 11, 4);
    ASSERT_TRUE(!slog__tidx_check(&ix, 10)); /* offsets do not go back */
    slog__idx_deinit(&ix);
}

TEST(test_index_write_load_and_map_round_trip)
{
    char *dir = tl_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/x.index", dir);
    slog_index_t ix, back;
    slog__idx_init(&ix, SLOG_OIDX_ENTRY_BYTES);
    slog__idx_init(&back, SLOG_OIDX_ENTRY_BYTES);
    for (uint32_t i = 0; i < 300; i++) {
        push_oidx(&ix, i, i * 7);
    }
    ASSERT_EQ(slog__idx_write(&ix, path, true), 0);
    ASSERT_EQ(tl_file_size(path), 300 * 8);
    ASSERT_EQ(slog__idx_load(&back, path, 300, false), 0);
    ASSERT_EQ(back.n, 300);
    ASSERT_EQ(slog__oidx_pos(&back, 299), 299 * 7);
    ASSERT_EQ(slog__idx_load(&back, path, 299, false), SL_ECORRUPT); /* more than possible */
    slog__idx_deinit(&back);
    slog__idx_map(&ix, path);
    ASSERT_TRUE(ix.map != NULL && ix.heap == NULL);
    ASSERT_EQ(slog__oidx_rel(&ix, 123), 123);
    push_oidx(&ix, 300, 3000); /* appending to a mapped index takes a copy */
    ASSERT_TRUE(ix.map == NULL);
    ASSERT_EQ(ix.n, 301);
    ASSERT_EQ(slog__oidx_pos(&ix, 300), 3000);
    ASSERT_EQ(slog__oidx_pos(&ix, 100), 700);
    ASSERT_EQ(truncate(path, 13), 0);
    ASSERT_EQ(slog__idx_load(&back, path, 1000, true), SL_ECORRUPT); /* not whole entries */
    unlink(path);
    ASSERT_EQ(slog__idx_load(&back, path, 1000, true), -ENOENT);
    slog__idx_deinit(&ix);
    slog__idx_deinit(&back);
    tl_rmdir(dir);
}

TEST(test_roll_writes_maps_and_checks_the_index_files)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 150; i++) {
        ASSERT_EQ(tl_append(part, 3, 1000 + (i % 7) * 10), i * 3);
    }
    ASSERT_TRUE(slog_part_segment_count(part) >= 3);
    slog_seg_t *seg = part->segs[0];
    ASSERT_TRUE(seg->oidx.map != NULL && seg->tidx.map != NULL); /* closed: mapped */
    ASSERT_TRUE(slog__active(part)->oidx.map == NULL);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "index");
    ASSERT_EQ(tl_file_size(path), (int64_t)seg->oidx.n * 8);
    ASSERT_TRUE(seg->oidx.n > 3); /* one entry per 256 bytes of a 4 KiB segment */
    ASSERT_TRUE(slog__oidx_check(&seg->oidx, seg->size));
    ASSERT_TRUE(slog__tidx_check(&seg->tidx, seg->next - 1 - seg->base));
    /* the final time entry holds the segment's max timestamp */
    ASSERT_EQ(slog__tidx_ts(&seg->tidx, seg->tidx.n - 1), seg->max_ts);
    for (size_t i = 0; i < seg->oidx.n; i++) { /* every entry points at its batch */
        slog_batch_hdr_t hdr;
        ASSERT_EQ(slog__seg_header(seg, slog__oidx_pos(&seg->oidx, i), &hdr), 0);
        ASSERT_EQ(hdr.base_offset, seg->base + slog__oidx_rel(&seg->oidx, i));
    }
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_read_at_every_offset_returns_the_containing_batch)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    int64_t bases[1000];
    int64_t next = 0;
    for (int i = 0; i < 350; i++) {
        int n = 1 + i % 4;
        ASSERT_EQ(tl_append(part, n, 1000 + i), next);
        for (int k = 0; k < n; k++) {
            bases[next + k] = next;
        }
        next += n;
    }
    ASSERT_TRUE(slog_part_segment_count(part) > 5);
    for (int64_t off = 0; off < next; off++) {
        slog_read_t rd;
        ASSERT_EQ(slog_part_read(part, off, next, 1, true, &rd), 0);
        ASSERT_EQ(rd.first_offset, bases[off]);
        ASSERT_EQ(tl_read_base(&rd), bases[off]);
        slog_file_unref(rd.file);
        /* a larger budget: whole batches, from the containing one, in one segment */
        ASSERT_EQ(slog_part_read(part, off, next, 1 << 20, false, &rd), 0);
        ASSERT_EQ(tl_read_base(&rd), bases[off]);
        ASSERT_TRUE(rd.len > 0 && rd.pos + rd.len <= 4096);
        slog_file_unref(rd.file);
    }
    slog_part_close(part);
    tl_rmdir(dir);
}

/* Bytes of whole batches from the start of a read range, and the offset after them. */
static int64_t walk_range(const slog_read_t *rd, int64_t *next_offset)
{
    int64_t pos = rd->pos, end = rd->pos + rd->len;
    while (pos < end) {
        uint8_t h[SLOG_BATCH_HEADER_BYTES];
        if (pread(slog_file_fd(rd->file), h, sizeof h, pos) != (ssize_t)sizeof h) {
            return -1;
        }
        slog_batch_hdr_t hdr;
        slog_batch_hdr_decode(h, &hdr);
        *next_offset = hdr.base_offset + hdr.last_offset_delta + 1;
        pos += slog_batch_total(&hdr);
    }
    return pos;
}

TEST(test_read_bounds_by_bytes_and_offsets_with_min_one)
{
    char *dir = tl_tmpdir();
    slog_conf_t c;
    slog_conf_default(&c);
    c.index_interval_bytes = 100;
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(tl_append(part, 2, 1), i * 2);
    }
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 0, 100, 1 << 20, false, &rd), 0);
    int64_t whole = rd.len, next = -1;
    ASSERT_EQ(walk_range(&rd, &next), rd.pos + rd.len);
    ASSERT_EQ(next, 100);
    slog_file_unref(rd.file);
    int64_t batch = whole / 50;
    /* max_bytes: as many whole batches as fit, never a partial one */
    for (int64_t max = batch; max < 5 * batch; max += 7) {
        ASSERT_EQ(slog_part_read(part, 10, 100, max, false, &rd), 0);
        ASSERT_EQ(rd.len, (max / batch) * batch);
        slog_file_unref(rd.file);
    }
    /* smaller than one batch: nothing, unless min_one */
    ASSERT_EQ(slog_part_read(part, 10, 100, batch - 1, false, &rd), 0);
    ASSERT_EQ(rd.len, 0);
    ASSERT_TRUE(rd.file == NULL);
    ASSERT_EQ(slog_part_read(part, 11, 100, 1, true, &rd), 0);
    ASSERT_EQ(rd.len, batch);
    ASSERT_EQ(rd.first_offset, 10);
    slog_file_unref(rd.file);
    /* max_offset (exclusive): batches ending at or past it are left out */
    ASSERT_EQ(slog_part_read(part, 0, 7, 1 << 20, true, &rd), 0);
    ASSERT_EQ(rd.len, 3 * batch); /* offsets 0..5; the batch 6..7 crosses the bound */
    slog_file_unref(rd.file);
    ASSERT_EQ(slog_part_read(part, 6, 7, 1 << 20, true, &rd), 0);
    ASSERT_EQ(rd.len, 0);
    ASSERT_EQ(slog_part_read(part, 100, 100, 1 << 20, true, &rd), 0); /* at the end */
    ASSERT_EQ(rd.len, 0);
    ASSERT_EQ(slog_part_read(part, 101, 200, 1 << 20, true, &rd), SL_ERANGE);
    ASSERT_EQ(slog_part_read(part, -1, 200, 1 << 20, true, &rd), SL_ERANGE);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_read_at_a_segment_end_moves_to_the_next_segment)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 40; i++) {
        tl_append(part, 5, 1);
    }
    ASSERT_TRUE(slog_part_segment_count(part) >= 2);
    int64_t boundary = part->segs[1]->base;
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, boundary - 1, 200, 1 << 20, false, &rd), 0);
    int64_t next = -1;
    walk_range(&rd, &next);
    ASSERT_EQ(next, boundary); /* a range stops at its segment's end */
    slog_file_unref(rd.file);
    ASSERT_EQ(slog_part_read(part, boundary, 200, 1 << 20, false, &rd), 0);
    ASSERT_EQ(rd.pos, 0);
    ASSERT_EQ(rd.first_offset, boundary);
    slog_file_unref(rd.file);
    slog_part_close(part);
    tl_rmdir(dir);
}

TEST(test_a_read_keeps_its_file_after_retention_deletes_the_segment)
{
    char *dir = tl_tmpdir();
    slog_conf_t c = tl_conf_small();
    slog_part_t *part;
    ASSERT_EQ(slog_part_open(dir, &c, &part), 0);
    for (int i = 0; i < 40; i++) {
        tl_append(part, 5, 1000);
    }
    slog_read_t rd;
    ASSERT_EQ(slog_part_read(part, 0, 200, 1 << 20, false, &rd), 0);
    c.retention_ms = 1;
    slog_part_set_conf(part, &c);
    ASSERT_TRUE(slog_part_housekeep(part, 100000) > 0);
    char path[512];
    tl_path(path, sizeof path, dir, 0, "log");
    ASSERT_TRUE(!tl_exists(path));
    ASSERT_EQ(tl_read_base(&rd), 0); /* the fd still reads the unlinked file */
    slog_file_unref(rd.file);
    slog_part_close(part);
    tl_rmdir(dir);
}

int main(void)
{
    RUN(test_index_lookups_by_binary_search);
    RUN(test_index_checks_reject_disorder);
    RUN(test_index_write_load_and_map_round_trip);
    RUN(test_roll_writes_maps_and_checks_the_index_files);
    RUN(test_read_at_every_offset_returns_the_containing_batch);
    RUN(test_read_bounds_by_bytes_and_offsets_with_min_one);
    RUN(test_read_at_a_segment_end_moves_to_the_next_segment);
    RUN(test_a_read_keeps_its_file_after_retention_deletes_the_segment);
    TEST_MAIN_END();
}
