/* libFuzzer target: the input is a Kafka response as our own tooling receives it, prefixed
 * with the request it answers (api_key i16, api_version i16), since a response does not name
 * its API. Decodes the response header (v1 when the version is flexible, else v0; ApiVersions
 * always v0) and the body for an API in kmsg_apis and a version in its schema's validVersions.
 * Whatever decodes must survive encode -> decode -> encode unchanged. */
#include "fuzz_common.h"

static int fuzz_hdr_decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, void *m)
{
    return kmsg_response_header_decode(rd, arena, ver, m);
}

static void fuzz_hdr_encode(kproto_wr_t *wr, int16_t ver, const void *m)
{
    kmsg_response_header_encode(wr, ver, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sl_arena_t *arena;
    static void *m;
    if (!arena) {
        arena = sl_arena_new(1 << 16);
        m = sl_xcalloc(1, fuzz_max_struct());
    }
    if (size < 4) {
        return 0;
    }
    int16_t key = (int16_t)sl_be16_get(data);
    int16_t ver = (int16_t)sl_be16_get(data + 2);
    if (key < 0 || key > KMSG_API_KEY_MAX || !kmsg_apis[key].name) {
        return 0;
    }
    const kmsg_api_t *ka = &kmsg_apis[key];
    const kmsg_test_versions_t *tv = &kmsg_test_versions[key];
    if (ver < tv->resp_min || ver > tv->resp_max) {
        return 0;
    }
    sl_arena_reset(arena);
    size -= 4;
    uint8_t *copy = sl_xmalloc(size ? size : 1); /* exactly size bytes: ASan sees over-reads */
    memcpy(copy, data + 4, size);
    kproto_rd_t rd;
    kproto_rd_init(&rd, copy, size);
    int16_t hver = ver >= ka->flex && key != KAPI_API_VERSIONS ? 1 : 0;
    kmsg_response_header_t hdr;
    if (kmsg_response_header_decode(&rd, arena, hver, &hdr) == 0) {
        fuzz_round_trip("ResponseHeader", hver, fuzz_hdr_decode, fuzz_hdr_encode, &hdr, arena);
        if (ka->resp_decode(&rd, arena, ver, m) == 0) {
            fuzz_round_trip(ka->name, ver, ka->resp_decode, ka->resp_encode, m, arena);
        }
    }
    free(copy);
    return 0;
}
