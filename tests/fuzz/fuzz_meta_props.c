/* libFuzzer target for <data>/meta.properties (cluster.id, node.id) read at broker start. */
#include "fuzz_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dir_reset();
    fuzz_put("meta.properties", data, size);
    fuzz_start("meta.properties");
    return 0;
}
