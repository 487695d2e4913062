/* libFuzzer target for <data>/acls.txt, loaded at start when the authorizer is on. The file
 * ends with a trailer "end <count> <crc32c>"; mode bit 0 of the first byte appends a correct
 * trailer to the rest of the input, so the fuzzer gets past the checksum into the binding
 * parser. It loads, or is refused with a message naming it (ACLs fail closed: a binding that
 * does not parse could be a DENY). */
#include "brk_acl.h"
#include "brk_limits.h"
#include "fuzz_files.h"
#include "sl_crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    size -= 1;
    char *text = malloc(size + 64);
    memcpy(text, data + 1, size);
    size_t len = size;
    if (mode & 1) {
        size_t lines = 0;
        for (size_t i = 0; i < size; i++) {
            lines += text[i] == '\n';
        }
        len += (size_t)snprintf(text + size, 64, "end %zu %08x\n", lines,
                                sl_crc32c(0, text, size));
    }
    fuzz_dir_reset();
    const char *path = fuzz_put("acls.txt", (const uint8_t *)text, len);
    free(text);
    brk_acl_t *acl = NULL;
    char err[512] = "";
    int rc = brk_acl_new(path, BRK_ACLS_MAX, &acl, err, sizeof err);
    if (rc == 0) {
        brk_acl_free(acl);
    } else if (!strstr(err, "acls.txt")) {
        abort();
    }
    return 0;
}
