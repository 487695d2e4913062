/* libFuzzer target: the input is a Kafka request frame body as the broker receives it (after
 * the 4-byte size). Decodes the request header (v2 when the API version is flexible, else v1)
 * and, for an API in kmsg_apis and a version in its schema's validVersions, the body. Whatever
 * decodes must survive encode -> decode -> encode unchanged. */
#include "fuzz_common.h"

static int fuzz_hdr_decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, void *m)
{
    return kmsg_request_header_decode(rd, arena, ver, m);
}

static void fuzz_hdr_encode(kproto_wr_t *wr, int16_t ver, const void *m)
{
    kmsg_request_header_encode(wr, ver, m);
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
    sl_arena_reset(arena);
    uint8_t *copy = sl_xmalloc(size ? size : 1); /* exactly size bytes: ASan sees over-reads */
    if (size) {
        memcpy(copy, data, size);
    }
    kproto_rd_t rd;
    kproto_rd_init(&rd, copy, size);
    /* The header version depends on the API and version in its first 4 bytes. */
    int16_t key = size >= 2 ? (int16_t)sl_be16_get(copy) : -1;
    int16_t ver = size >= 4 ? (int16_t)sl_be16_get(copy + 2) : -1;
    bool known = key >= 0 && key <= KMSG_API_KEY_MAX && kmsg_apis[key].name;
    int16_t hver = known && ver >= kmsg_apis[key].flex ? 2 : 1;
    kmsg_request_header_t hdr;
    if (kmsg_request_header_decode(&rd, arena, hver, &hdr) == 0) {
        fuzz_round_trip("RequestHeader", hver, fuzz_hdr_decode, fuzz_hdr_encode, &hdr, arena);
        const kmsg_test_versions_t *tv = known ? &kmsg_test_versions[key] : NULL;
        if (tv && ver >= tv->req_min && ver <= tv->req_max) {
            const kmsg_api_t *ka = &kmsg_apis[key];
            if (ka->req_decode(&rd, arena, ver, m) == 0) {
                fuzz_round_trip(ka->name, ver, ka->req_decode, ka->req_encode, m, arena);
            }
        }
    }
    free(copy);
    return 0;
}
