/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): for every API in
 * kmsg_apis, random valid requests and responses (kmsg_test_fill) at the first, the first
 * flexible and the last advertised version, framed as each target expects; and a few record
 * batches. Not built by CMake; run from the repository root after a release build:
 *   cc -std=c17 -Isrc/base -Isrc/kafka -Isrc/log -Ibuild/gen tests/fuzz/corpus_gen.c \
 *      build/libsluice_kafka_test.a build/libsluice_kafka.a build/libsluice_base.a \
 *      -o /tmp/corpus_gen && /tmp/corpus_gen tests/fuzz/corpus */
#include "kmsg.h"
#include "kmsg_test.h"
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_crc32c.h"

#include <stdio.h>
#include <stdlib.h>

static void put_file(const char *dir, const char *target, const char *name, const void *p,
                     size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    SL_ASSERT(f != NULL);
    SL_ASSERT(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void gen_api(const char *dir, int16_t key, int16_t ver, void *m, sl_arena_t *arena)
{
    const kmsg_api_t *ka = &kmsg_apis[key];
    uint64_t rng = (uint64_t)key * 1000 + (uint64_t)ver;
    char name[64];
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    /* request: header + body */
    kmsg_request_header_t hdr;
    kmsg_request_header_init(&hdr);
    hdr.request_api_key = key;
    hdr.request_api_version = ver;
    hdr.correlation_id = ver + 1;
    hdr.client_id = kproto_str("rdkafka");
    kmsg_request_header_encode(&wr, ver >= ka->flex ? 2 : 1, &hdr);
    sl_arena_reset(arena);
    kmsg_test_fill(key, true, ver, m, arena, &rng);
    ka->req_encode(&wr, ver, m);
    snprintf(name, sizeof name, "%s-v%d", ka->name, ver);
    put_file(dir, "fuzz_request", name, wr.buf.data, wr.buf.len);
    /* response: the request's key and version, header, body */
    kproto_wr_reset(&wr);
    kproto_wr_i16(&wr, key);
    kproto_wr_i16(&wr, ver);
    kmsg_response_header_t rhdr = {.correlation_id = ver + 1};
    kmsg_response_header_encode(&wr, ver >= ka->flex && key != KAPI_API_VERSIONS ? 1 : 0, &rhdr);
    sl_arena_reset(arena);
    kmsg_test_fill(key, false, ver, m, arena, &rng);
    ka->resp_encode(&wr, ver, m);
    put_file(dir, "fuzz_response", name, wr.buf.data, wr.buf.len);
    kproto_wr_deinit(&wr);
}

/* One record: attributes, timestampDelta, offsetDelta, key, value, headers. */
static void gen_record(sl_buf_t *recs, int i, bool with_header)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kproto_wr_i8(&wr, 0);
    kproto_wr_varlong(&wr, i * 10);
    kproto_wr_varint(&wr, i);
    kproto_wr_varint(&wr, i == 0 ? -1 : 1); /* key: null for the first record */
    if (i != 0) {
        kproto_wr_raw(&wr, "k", 1);
    }
    kproto_wr_varint(&wr, 5);
    kproto_wr_raw(&wr, "value", 5);
    kproto_wr_varint(&wr, with_header ? 1 : 0);
    if (with_header) {
        kproto_wr_varint(&wr, 1);
        kproto_wr_raw(&wr, "h", 1);
        kproto_wr_varint(&wr, -1);
    }
    kproto_wr_t len;
    kproto_wr_init(&len);
    kproto_wr_varint(&len, (int32_t)wr.buf.len);
    sl_buf_append(recs, len.buf.data, len.buf.len);
    sl_buf_append(recs, wr.buf.data, wr.buf.len);
    kproto_wr_deinit(&len);
    kproto_wr_deinit(&wr);
}

/* A magic-2 batch of n records (or, compressed, opaque bytes), with a leading mode byte. */
static void gen_batch(const char *dir, const char *name, uint8_t mode, int16_t attributes,
                      int n, bool with_header)
{
    sl_buf_t recs;
    sl_buf_init(&recs);
    if ((attributes & 7) != 0) {
        sl_buf_append(&recs, "\x1f\x8b\x08\x00compressed", 14);
    } else {
        for (int i = 0; i < n; i++) {
            gen_record(&recs, i, with_header);
        }
    }
    size_t total = 1 + 61 + recs.len;
    uint8_t *b = calloc(1, total);
    uint8_t *p = b + 1;
    b[0] = mode;
    sl_be64_put(p, 0);
    sl_be32_put(p + 8, (uint32_t)(61 - 12 + recs.len));
    sl_be32_put(p + 12, 0);
    p[16] = 2;
    sl_be16_put(p + 21, (uint16_t)attributes);
    sl_be32_put(p + 23, (uint32_t)(n - 1 < 0 ? 0 : n - 1));
    sl_be64_put(p + 27, 1700000000000ull);
    sl_be64_put(p + 35, 1700000000000ull + (uint64_t)(n ? n - 1 : 0) * 10);
    sl_be64_put(p + 43, (uint64_t)-1);
    sl_be16_put(p + 51, (uint16_t)-1);
    sl_be32_put(p + 53, (uint32_t)-1);
    sl_be32_put(p + 57, (uint32_t)n);
    memcpy(p + 61, recs.data, recs.len);
    sl_be32_put(p + 17, sl_crc32c(0, p + 21, total - 1 - 21));
    put_file(dir, "fuzz_batch", name, b, total);
    free(b);
    sl_buf_deinit(&recs);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    sl_arena_t *arena = sl_arena_new(1 << 16);
    size_t max = 0;
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        max = SL_MAX(max, SL_MAX(kmsg_apis[k].req_size, kmsg_apis[k].resp_size));
    }
    void *m = calloc(1, max);
    for (int16_t k = 0; k <= KMSG_API_KEY_MAX; k++) {
        const kmsg_api_t *ka = &kmsg_apis[k];
        if (!ka->name) {
            continue;
        }
        gen_api(dir, k, ka->min, m, arena);
        if (ka->flex > ka->min && ka->flex < ka->max) {
            gen_api(dir, k, ka->flex, m, arena);
        }
        if (ka->max != ka->min) {
            gen_api(dir, k, ka->max, m, arena);
        }
    }
    gen_batch(dir, "one-record", 0, 0, 1, false);
    gen_batch(dir, "three-records-headers", 0, 0, 3, true);
    gen_batch(dir, "three-records-fixup", 3, 0, 3, true);
    gen_batch(dir, "control", 3, 0x20, 1, false);
    gen_batch(dir, "gzip", 3, 1, 2, false);
    free(m);
    sl_arena_free(arena);
    return 0;
}
