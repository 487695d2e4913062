/* libFuzzer target for the transaction coordinator's state file (<data>/transactions): the
 * loader takes any bytes (a damaged line is skipped), and what it loads writes back to a file
 * that loads to the same state: loading that file twice more gives the same bytes again
 * (the list is written newest first, so two loads restore the order). Mode bit 0 of the
 * first byte also starts a real broker over the file. */
#include "brk_txn.h"
#include "fuzz_state.h"
#include "sl_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    sl_log_set_level(SL_LOG_ERROR);
    sl_buf_t a, b, c;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_buf_init(&c);
    brk__txn_check_text((const char *)data + 1, size - 1, &a);
    brk__txn_check_text(a.data ? (const char *)a.data : "", a.len, &b);
    brk__txn_check_text(b.data ? (const char *)b.data : "", b.len, &c);
    if (b.len != a.len || c.len != a.len || (a.len && memcmp(c.data, a.data, a.len) != 0)) {
        fprintf(stderr, "fuzz: the state file does not load back to itself\n");
        abort();
    }
    sl_buf_deinit(&a);
    sl_buf_deinit(&b);
    sl_buf_deinit(&c);
    if (data[0] & 1) {
        fuzz_dir_reset();
        fuzz_put("transactions", data + 1, size - 1);
        fuzz_start("transactions");
    }
    return 0;
}
