/* libFuzzer target for the .properties parser (sl_props_load): the broker's --config file
 * and <data>/meta.properties. It loads, or says "file:line: reason"; what loads has
 * non-empty keys. */
#include "fuzz_files.h"
#include "sl_props.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dir_reset();
    const char *path = fuzz_put("server.properties", data, size);
    sl_props_t *props = sl_props_new();
    char err[512] = "";
    int rc = sl_props_load(props, path, err, sizeof err);
    if (rc != 0 && !strstr(err, "server.properties")) {
        abort();
    }
    for (size_t i = 0; rc == 0 && i < sl_props_count(props); i++) {
        const char *k, *v;
        sl_props_at(props, i, &k, &v);
        if (!k[0] || !v) {
            abort();
        }
    }
    sl_props_free(props);
    return 0;
}
