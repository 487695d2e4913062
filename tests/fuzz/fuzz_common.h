/* Shared by the Kafka codec fuzz targets: decode one message from a reader, then check that
 * encode -> decode -> encode reproduces the first encoding byte for byte. Any mismatch is a
 * codec bug and aborts (libFuzzer then saves the input). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "kmsg.h"
#include "kmsg_test.h"
#include "kproto.h"
#include "sl_arena.h"
#include "sl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fuzz_decode_fn)(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, void *m);
typedef void (*fuzz_encode_fn)(kproto_wr_t *wr, int16_t ver, const void *m);

/* Largest message struct (headers and every API's request and response). */
static size_t fuzz_max_struct(void)
{
    size_t max = sizeof(kmsg_request_header_t) + sizeof(kmsg_response_header_t);
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        max = SL_MAX(max, SL_MAX(kmsg_apis[k].req_size, kmsg_apis[k].resp_size));
    }
    return max;
}

static void fuzz_die(const char *what, const char *name, int16_t ver)
{
    fprintf(stderr, "fuzz: %s %s v%d\n", what, name, ver);
    abort();
}

/* m already holds a message decoded from the input: encode it, decode that exactly (in a
 * buffer of exactly its size, so ASan sees over-reads), encode again and compare. */
static void fuzz_round_trip(const char *name, int16_t ver, fuzz_decode_fn decode,
                            fuzz_encode_fn encode, const void *m, sl_arena_t *arena)
{
    static void *m2;
    if (!m2) {
        m2 = sl_xcalloc(1, fuzz_max_struct());
    }
    kproto_wr_t wr1, wr2;
    kproto_wr_init(&wr1);
    kproto_wr_init(&wr2);
    encode(&wr1, ver, m);
    size_t n = wr1.buf.len;
    uint8_t *copy = sl_xmalloc(n ? n : 1);
    if (n) { /* an empty message (ApiVersions v0 request) leaves the buffer NULL */
        memcpy(copy, wr1.buf.data, n);
    }
    kproto_rd_t rd;
    kproto_rd_init(&rd, copy, n);
    if (decode(&rd, arena, ver, m2) != 0) {
        fuzz_die("re-decoding failed:", name, ver);
    }
    if (kproto_rd_left(&rd) != 0) {
        fuzz_die("re-decoding left bytes:", name, ver);
    }
    encode(&wr2, ver, m2);
    if (wr2.buf.len != n || (n && memcmp(wr2.buf.data, wr1.buf.data, n) != 0)) {
        fuzz_die("re-encoding differs:", name, ver);
    }
    free(copy);
    kproto_wr_deinit(&wr1);
    kproto_wr_deinit(&wr2);
}

#endif
