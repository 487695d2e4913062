/* libFuzzer target for the offset and time index files of a segment, loaded at every
 * partition open (and rebuilt from the log when damaged). A partition of 40 batches is built
 * once; each input replaces its .index (mode bit 0 clear) or .timeindex (set), the partition
 * is opened, and every offset must read back from the batch that holds it. */
#include "sl_buf.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "slog.h"
#include "test_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static uint8_t *log_bytes;
static size_t log_len;
#define FUZZ_BATCHES 40
#define FUZZ_PER_BATCH 3

static void fuzz_index_remove(void)
{
    sl_fs_rmtree(dir);
}

static void fuzz_index_init(void)
{
    sl_log_set_level(SL_LOG_ERROR);
    snprintf(dir, sizeof dir, "%s/sl_fuzz_idx_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) {
        abort();
    }
    atexit(fuzz_index_remove);
    slog_conf_t conf;
    slog_conf_default(&conf);
    conf.index_interval_bytes = 64; /* an entry for nearly every batch */
    slog_part_t *part;
    if (slog_part_open(dir, &conf, &part) != 0) {
        abort();
    }
    for (int i = 0; i < FUZZ_BATCHES; i++) {
        sl_buf_t b;
        sl_buf_init(&b);
        tl_batch(&b, FUZZ_PER_BATCH, 1000 + i * 10, (size_t)(i % 7) * 9);
        slog_append_t info;
        if (slog_part_append(part, b.data, b.len, 2000 + i * 10, &info) != 0) {
            abort();
        }
        sl_buf_deinit(&b);
    }
    slog_part_close(part);
    char path[128];
    snprintf(path, sizeof path, "%s/00000000000000000000.log", dir);
    if (sl_fs_read_all(path, 1 << 24, (char **)&log_bytes, &log_len) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fuzz_index_init();
    }
    if (size < 1) {
        return 0;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/00000000000000000000.%s", dir,
             data[0] & 1 ? "timeindex" : "index");
    if (sl_fs_write_atomic(path, data + 1, size - 1) != 0) {
        abort();
    }
    slog_conf_t conf;
    slog_conf_default(&conf);
    conf.index_interval_bytes = 64;
    slog_part_t *part;
    if (slog_part_open(dir, &conf, &part) != 0) {
        abort();
    }
    if (slog_part_end_offset(part) != FUZZ_BATCHES * FUZZ_PER_BATCH) {
        abort();
    }
    for (int64_t off = 0; off < FUZZ_BATCHES * FUZZ_PER_BATCH; off++) {
        slog_read_t rd;
        if (slog_part_read(part, off, INT64_MAX, 1, true, &rd) != 0 || rd.len <= 0) {
            abort();
        }
        /* the batch read must be the one holding off, at its true place in the file */
        slog_batch_hdr_t hdr;
        if (rd.pos < 0 || rd.pos + SLOG_BATCH_HEADER_BYTES > (int64_t)log_len) {
            abort();
        }
        slog_batch_hdr_decode(log_bytes + rd.pos, &hdr);
        if (hdr.base_offset > off || hdr.base_offset + hdr.last_offset_delta < off ||
            rd.first_offset != hdr.base_offset) {
            abort();
        }
        slog_file_unref(rd.file);
    }
    slog_part_close(part);
    return 0;
}
