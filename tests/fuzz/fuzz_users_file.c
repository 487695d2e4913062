/* libFuzzer target for <data>/credentials (SASL/SCRAM users), read at start and whenever it
 * changes. Any bytes load (a damaged line is skipped); what loads saves and loads back to
 * the same users. */
#include "brk_users.h"
#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dir_reset();
    fuzz_put("credentials", data, size);
    brk_users_t *users = NULL, *again = NULL;
    char err[512] = "";
    if (brk_users_open(fuzz_dir, &users, err, sizeof err) != 0) {
        if (!strstr(err, "credentials")) {
            abort();
        }
        return 0;
    }
    if (brk_users_save(users) != 0 || brk_users_open(fuzz_dir, &again, err, sizeof err) != 0 ||
        brk_users_count(again) != brk_users_count(users)) {
        abort();
    }
    brk_users_free(users);
    brk_users_free(again);
    return 0;
}
