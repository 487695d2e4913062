/* Unit tests for src/kafka: the wire primitives (kproto) and the generated message codecs
 * (kmsg). Every API in kmsg_apis, request and response, every version of the schema's
 * validVersions: random valid messages (kmsg_test_fill) must survive encode -> decode ->
 * encode byte for byte, every strict prefix must fail cleanly, and single-byte corruptions
 * must never crash. Golden frames written by hand from https://kafka.apache.org/protocol catch
 * bugs where encoder and decoder agree with each other but not with Kafka. */
#include "kmsg.h"
#include "kmsg_test.h"
#include "kproto.h"
#include "sl_arena.h"
#include "sl_common.h"
#include "sl_test.h"

#define CODEC_SEEDS 256       /* random messages per API, direction and version */
#define CODEC_PREFIX_SEEDS 16 /* of which also decoded truncated at every length */
#define CODEC_CORRUPT_SEEDS 16 /* of which also decoded with each byte flipped */

/* A reader over a private copy of exactly len bytes, so ASan sees any read past the end. */
typedef struct {
    uint8_t *copy;
    kproto_rd_t rd;
} exact_rd_t;

static void exact_rd_init(exact_rd_t *x, const uint8_t *p, size_t len)
{
    x->copy = sl_xmalloc(len ? len : 1);
    if (len) {
        memcpy(x->copy, p, len);
    }
    kproto_rd_init(&x->rd, x->copy, len);
}

static void exact_rd_deinit(exact_rd_t *x)
{
    free(x->copy);
}

/* Decodes len bytes (copied to x, which m then points into) as message (api, request, ver)
 * into storage m. The caller deinits x when done with m. */
static int codec_decode(int16_t api, bool request, int16_t ver, const uint8_t *p, size_t len,
                        sl_arena_t *arena, void *m, exact_rd_t *x, size_t *consumed)
{
    const kmsg_api_t *ka = &kmsg_apis[api];
    exact_rd_init(x, p, len);
    int rc = request ? ka->req_decode(&x->rd, arena, ver, m) : ka->resp_decode(&x->rd, arena, ver, m);
    *consumed = (size_t)(x->rd.p - x->copy);
    SL_ASSERT(x->rd.p <= x->rd.end);
    return rc;
}

static void codec_encode(int16_t api, bool request, int16_t ver, const void *m, kproto_wr_t *wr)
{
    const kmsg_api_t *ka = &kmsg_apis[api];
    kproto_wr_reset(wr);
    if (request) {
        ka->req_encode(wr, ver, m);
    } else {
        ka->resp_encode(wr, ver, m);
    }
}

typedef struct {
    sl_arena_t *arena;
    void *m1, *m2;
    kproto_wr_t wr1, wr2;
    long messages, prefixes, corruptions, bytes;
} codec_ctx_t;

/* One random message: fill, encode, decode (all bytes), encode again: identical bytes.
 * Returns false (after printing why) on the first mismatch. */
static bool codec_check_one(codec_ctx_t *cx, int16_t api, bool request, int16_t ver,
                            uint64_t seed)
{
    const char *name = kmsg_apis[api].name;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)api * 131 + (uint64_t)ver;
    sl_arena_reset(cx->arena);
    kmsg_test_fill(api, request, ver, cx->m1, cx->arena, &rng);
    codec_encode(api, request, ver, cx->m1, &cx->wr1);
    const uint8_t *enc = cx->wr1.buf.data;
    size_t n = cx->wr1.buf.len;
    size_t used = 0;
    exact_rd_t x;
    int rc = codec_decode(api, request, ver, enc, n, cx->arena, cx->m2, &x, &used);
    codec_encode(api, request, ver, cx->m2, &cx->wr2);
    exact_rd_deinit(&x);
    if (rc != 0 || used != n) {
        fprintf(stderr, "  %s %s v%d seed %" PRIu64 ": decode rc %d, %zu of %zu bytes\n", name,
                request ? "request" : "response", ver, seed, rc, used, n);
        return false;
    }
    if (cx->wr2.buf.len != n || (n && memcmp(cx->wr2.buf.data, enc, n) != 0)) {
        size_t at = 0;
        while (at < n && at < cx->wr2.buf.len && cx->wr2.buf.data[at] == enc[at]) {
            at++;
        }
        fprintf(stderr, "  %s %s v%d seed %" PRIu64 ": re-encoding differs at byte %zu "
                        "(%zu vs %zu bytes)\n",
                name, request ? "request" : "response", ver, seed, at, cx->wr2.buf.len, n);
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, "%02x%s", enc[i], i + 1 == n ? "\n" : " ");
        }
        for (size_t i = 0; i < cx->wr2.buf.len; i++) {
            fprintf(stderr, "%02x%s", cx->wr2.buf.data[i], i + 1 == cx->wr2.buf.len ? "\n" : " ");
        }
        return false;
    }
    cx->messages++;
    cx->bytes += (long)n;
    if (seed < CODEC_PREFIX_SEEDS) {
        for (size_t len = 0; len < n; len++) {
            sl_arena_reset(cx->arena);
            rc = codec_decode(api, request, ver, enc, len, cx->arena, cx->m2, &x, &used);
            exact_rd_deinit(&x);
            if (rc != SL_ECORRUPT) {
                fprintf(stderr, "  %s %s v%d seed %" PRIu64 ": prefix %zu/%zu decoded rc %d\n",
                        name, request ? "request" : "response", ver, seed, len, n, rc);
                return false;
            }
            cx->prefixes++;
        }
    }
    if (seed < CODEC_CORRUPT_SEEDS) {
        uint8_t *bad = sl_xmalloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            memcpy(bad, enc, n);
            bad[i] ^= (uint8_t)(0x80 >> (i % 8)) | 1;
            sl_arena_reset(cx->arena);
            rc = codec_decode(api, request, ver, bad, n, cx->arena, cx->m2, &x, &used);
            if (rc == 0) {
                codec_encode(api, request, ver, cx->m2, &cx->wr2); /* reads what it points to */
            }
            exact_rd_deinit(&x);
            if (rc != 0 && rc != SL_ECORRUPT) {
                fprintf(stderr, "  %s v%d: corrupt byte %zu gave rc %d\n", name, ver, i, rc);
                free(bad);
                return false;
            }
            cx->corruptions++;
        }
        free(bad);
    }
    return true;
}

static size_t codec_max_struct(void)
{
    size_t max = sizeof(kmsg_request_header_t) + sizeof(kmsg_response_header_t);
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        max = SL_MAX(max, SL_MAX(kmsg_apis[k].req_size, kmsg_apis[k].resp_size));
    }
    return max;
}

TEST(test_codec_every_api_and_version_round_trips)
{
    codec_ctx_t cx = {0};
    cx.arena = sl_arena_new(1 << 16);
    size_t sz = codec_max_struct();
    cx.m1 = sl_xcalloc(1, sz);
    cx.m2 = sl_xcalloc(1, sz);
    kproto_wr_init(&cx.wr1);
    kproto_wr_init(&cx.wr2);
    int apis = 0, versions = 0;
    bool ok = true;
    for (int16_t k = 0; k <= KMSG_API_KEY_MAX && ok; k++) {
        if (!kmsg_apis[k].name) {
            continue;
        }
        const kmsg_test_versions_t *tv = &kmsg_test_versions[k];
        ASSERT_TRUE(tv->has);
        /* The advertised range lies inside the schema's. */
        ASSERT_TRUE(tv->req_min <= kmsg_apis[k].min && kmsg_apis[k].max <= tv->req_max);
        apis++;
        for (int dir = 0; dir < 2 && ok; dir++) {
            bool request = dir == 0;
            int16_t lo = request ? tv->req_min : tv->resp_min;
            int16_t hi = request ? tv->req_max : tv->resp_max;
            for (int16_t ver = lo; ver <= hi && ok; ver++) {
                versions++;
                for (uint64_t seed = 0; seed < CODEC_SEEDS && ok; seed++) {
                    ok = codec_check_one(&cx, k, request, ver, seed);
                }
            }
        }
    }
    fprintf(stderr, "  %d APIs, %d (API, direction, version) triples, %ld messages (%ld bytes), "
                    "%ld truncated and %ld corrupted decodes\n",
            apis, versions, cx.messages, cx.bytes, cx.prefixes, cx.corruptions);
    kproto_wr_deinit(&cx.wr1);
    kproto_wr_deinit(&cx.wr2);
    free(cx.m1);
    free(cx.m2);
    sl_arena_free(cx.arena);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(apis >= 21); /* apis.txt only grows */
}

/* Round trip of the headers (fill / encode / decode / encode) at every header version. */
TEST(test_codec_headers_round_trip)
{
    sl_arena_t *arena = sl_arena_new(4096);
    kproto_wr_t wr1, wr2;
    kproto_wr_init(&wr1);
    kproto_wr_init(&wr2);
    int checked = 0;
    for (int dir = 0; dir < 2; dir++) {
        bool request = dir == 0;
        int16_t lo = request ? KMSG_TEST_REQUEST_HEADER_MIN : KMSG_TEST_RESPONSE_HEADER_MIN;
        int16_t hi = request ? KMSG_TEST_REQUEST_HEADER_MAX : KMSG_TEST_RESPONSE_HEADER_MAX;
        for (int16_t ver = lo; ver <= hi; ver++) {
            for (uint64_t seed = 1; seed <= 200; seed++) {
                union {
                    kmsg_request_header_t rq;
                    kmsg_response_header_t rs;
                } h1, h2;
                uint64_t rng = seed;
                sl_arena_reset(arena);
                kmsg_test_fill_header(request, ver, &h1, arena, &rng);
                kproto_wr_reset(&wr1);
                kproto_wr_reset(&wr2);
                if (request) {
                    kmsg_request_header_encode(&wr1, ver, &h1.rq);
                } else {
                    kmsg_response_header_encode(&wr1, ver, &h1.rs);
                }
                exact_rd_t x;
                exact_rd_init(&x, wr1.buf.data, wr1.buf.len);
                int rc = request ? kmsg_request_header_decode(&x.rd, arena, ver, &h2.rq)
                                 : kmsg_response_header_decode(&x.rd, arena, ver, &h2.rs);
                size_t left = kproto_rd_left(&x.rd);
                if (request) {
                    kmsg_request_header_encode(&wr2, ver, &h2.rq);
                } else {
                    kmsg_response_header_encode(&wr2, ver, &h2.rs);
                }
                exact_rd_deinit(&x);
                ASSERT_EQ(rc, 0);
                ASSERT_EQ(left, 0);
                ASSERT_EQ(wr2.buf.len, wr1.buf.len);
                ASSERT_MEMEQ(wr2.buf.data, wr1.buf.data, wr1.buf.len);
                checked++;
            }
        }
    }
    ASSERT_EQ(checked, 200 * 5);
    kproto_wr_deinit(&wr1);
    kproto_wr_deinit(&wr2);
    sl_arena_free(arena);
}

/* ---- golden frames, written byte by byte from the protocol guide ---- */

/* ApiVersions v3 request as librdkafka 2.0.2 sends it (after the 4-byte size): request header
 * v2 = api_key i16, api_version i16, correlation_id i32, client_id as a NON-compact nullable
 * string, empty tagged-field section; body = client_software_name and _version as compact
 * strings (length + 1 as uvarint), empty tagged-field section. */
static const uint8_t golden_api_versions_v3_req[] = {
    0x00, 0x12,                                                 /* api_key 18 */
    0x00, 0x03,                                                 /* api_version 3 */
    0x00, 0x00, 0x00, 0x01,                                     /* correlation_id 1 */
    0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',              /* client_id "rdkafka" */
    0x00,                                                       /* header tagged fields */
    0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',     /* "librdkafka" */
    0x06, '2', '.', '0', '.', '2',                              /* "2.0.2" */
    0x00,                                                       /* body tagged fields */
};

TEST(test_golden_api_versions_v3_request_from_librdkafka)
{
    sl_arena_t *arena = sl_arena_new(4096);
    exact_rd_t x;
    exact_rd_init(&x, golden_api_versions_v3_req, sizeof golden_api_versions_v3_req);
    kmsg_request_header_t hdr;
    ASSERT_EQ(kmsg_request_header_decode(&x.rd, arena, 2, &hdr), 0);
    ASSERT_EQ(hdr.request_api_key, KAPI_API_VERSIONS);
    ASSERT_EQ(hdr.request_api_version, 3);
    ASSERT_EQ(hdr.correlation_id, 1);
    ASSERT_TRUE(kproto_str_eq(hdr.client_id, "rdkafka"));
    ASSERT_TRUE(hdr.request_api_version >= kmsg_apis[KAPI_API_VERSIONS].flex);
    kmsg_api_versions_req_t req;
    ASSERT_EQ(kmsg_api_versions_req_decode(&x.rd, arena, 3, &req), 0);
    ASSERT_EQ(kproto_rd_left(&x.rd), 0);
    ASSERT_TRUE(kproto_str_eq(req.client_software_name, "librdkafka"));
    ASSERT_TRUE(kproto_str_eq(req.client_software_version, "2.0.2"));
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kmsg_request_header_encode(&wr, 2, &hdr);
    kmsg_api_versions_req_encode(&wr, 3, &req);
    ASSERT_EQ(wr.buf.len, sizeof golden_api_versions_v3_req);
    ASSERT_MEMEQ(wr.buf.data, golden_api_versions_v3_req, wr.buf.len);
    /* A null client id (librdkafka with client.id unset) is i16 -1, even in header v2. */
    hdr.client_id = kproto_str(NULL);
    kproto_wr_reset(&wr);
    kmsg_request_header_encode(&wr, 2, &hdr);
    static const uint8_t null_id[] = {0x00, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0xff, 0xff, 0x00};
    ASSERT_EQ(wr.buf.len, sizeof null_id);
    ASSERT_MEMEQ(wr.buf.data, null_id, sizeof null_id);
    kproto_wr_deinit(&wr);
    exact_rd_deinit(&x);
    sl_arena_free(arena);
}

/* Metadata v0 request: header v1 (client_id non-null "c"), body [topics] with i32 count and
 * each topic name as an i16-length string. */
static const uint8_t golden_metadata_v0_req[] = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* key 3, v0, correlation 42 */
    0x00, 0x01, 'c',                                /* client_id "c" */
    0x00, 0x00, 0x00, 0x02,                         /* 2 topics */
    0x00, 0x03, 'f', 'o', 'o',                      /* "foo" */
    0x00, 0x00,                                     /* "" */
};

TEST(test_golden_metadata_v0_request)
{
    sl_arena_t *arena = sl_arena_new(4096);
    exact_rd_t x;
    exact_rd_init(&x, golden_metadata_v0_req, sizeof golden_metadata_v0_req);
    kmsg_request_header_t hdr;
    ASSERT_EQ(kmsg_request_header_decode(&x.rd, arena, 1, &hdr), 0);
    ASSERT_EQ(hdr.request_api_key, KAPI_METADATA);
    ASSERT_EQ(hdr.request_api_version, 0);
    ASSERT_EQ(hdr.correlation_id, 42);
    ASSERT_TRUE(kproto_str_eq(hdr.client_id, "c"));
    kmsg_metadata_req_t req;
    ASSERT_EQ(kmsg_metadata_req_decode(&x.rd, arena, 0, &req), 0);
    ASSERT_EQ(kproto_rd_left(&x.rd), 0);
    ASSERT_EQ(req.topics_count, 2);
    ASSERT_TRUE(kproto_str_eq(req.topics[0].name, "foo"));
    ASSERT_TRUE(kproto_str_eq(req.topics[1].name, ""));
    ASSERT_TRUE(req.allow_auto_topic_creation); /* v0: absent, default true */
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kmsg_request_header_encode(&wr, 1, &hdr);
    kmsg_metadata_req_encode(&wr, 0, &req);
    ASSERT_EQ(wr.buf.len, sizeof golden_metadata_v0_req);
    ASSERT_MEMEQ(wr.buf.data, golden_metadata_v0_req, wr.buf.len);
    kproto_wr_deinit(&wr);
    exact_rd_deinit(&x);
    sl_arena_free(arena);
}

/* Produce v3 request: transactional_id (nullable string), acks i16, timeout_ms i32,
 * [topic_data: name, [partition_data: index i32, records as i32-length bytes]]. */
static const uint8_t golden_produce_v3_req[] = {
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, /* key 0, v3, correlation 7 */
    0xff, 0xff,                                     /* client_id null */
    0xff, 0xff,                                     /* transactional_id null */
    0xff, 0xff,                                     /* acks -1 */
    0x00, 0x00, 0x75, 0x30,                         /* timeout_ms 30000 */
    0x00, 0x00, 0x00, 0x01,                         /* 1 topic */
    0x00, 0x02, 't', '1',                           /* "t1" */
    0x00, 0x00, 0x00, 0x01,                         /* 1 partition */
    0x00, 0x00, 0x00, 0x05,                         /* index 5 */
    0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, /* 4 bytes of records */
};

TEST(test_golden_produce_v3_request)
{
    sl_arena_t *arena = sl_arena_new(4096);
    exact_rd_t x;
    exact_rd_init(&x, golden_produce_v3_req, sizeof golden_produce_v3_req);
    kmsg_request_header_t hdr;
    ASSERT_EQ(kmsg_request_header_decode(&x.rd, arena, 1, &hdr), 0);
    ASSERT_EQ(hdr.request_api_key, KAPI_PRODUCE);
    ASSERT_EQ(hdr.request_api_version, 3);
    ASSERT_EQ(hdr.client_id.len, -1);
    kmsg_produce_req_t req;
    ASSERT_EQ(kmsg_produce_req_decode(&x.rd, arena, 3, &req), 0);
    ASSERT_EQ(kproto_rd_left(&x.rd), 0);
    ASSERT_EQ(req.transactional_id.len, -1);
    ASSERT_EQ(req.acks, -1);
    ASSERT_EQ(req.timeout_ms, 30000);
    ASSERT_EQ(req.topic_data_count, 1);
    ASSERT_TRUE(kproto_str_eq(req.topic_data[0].name, "t1"));
    ASSERT_EQ(req.topic_data[0].partition_data_count, 1);
    kmsg_produce_req_partition_produce_data_t *pd = &req.topic_data[0].partition_data[0];
    ASSERT_EQ(pd->index, 5);
    ASSERT_EQ(pd->records.len, 4);
    ASSERT_EQ(pd->records.ptr[0], 0xde);
    ASSERT_TRUE(pd->records.ext == NULL);
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kmsg_request_header_encode(&wr, 1, &hdr);
    kmsg_produce_req_encode(&wr, 3, &req);
    ASSERT_EQ(wr.buf.len, sizeof golden_produce_v3_req);
    ASSERT_MEMEQ(wr.buf.data, golden_produce_v3_req, wr.buf.len);
    kproto_wr_deinit(&wr);
    exact_rd_deinit(&x);
    sl_arena_free(arena);
}

/* ApiVersions v3 response body: error_code, compact [api_keys: key, min, max, tags],
 * throttle_time_ms, then tagged fields: here FinalizedFeaturesEpoch (tag 1, int64) and
 * ZkMigrationReady (tag 3, bool), in ascending tag order, each as tag, size, value. */
static const uint8_t golden_api_versions_v3_resp[] = {
    0x00, 0x00,                                     /* error_code 0 */
    0x03,                                           /* 2 api_keys (compact: 2 + 1) */
    0x00, 0x00, 0x00, 0x03, 0x00, 0x09, 0x00,       /* Produce 3-9, tags */
    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00,       /* ApiVersions 0-3, tags */
    0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms 0 */
    0x02,                                           /* 2 tagged fields */
    0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x05,          /* tag 1, 8 bytes: epoch 5 */
    0x03, 0x01, 0x01,                               /* tag 3, 1 byte: true */
};

TEST(test_golden_api_versions_v3_response_tagged_fields)
{
    sl_arena_t *arena = sl_arena_new(4096);
    exact_rd_t x;
    exact_rd_init(&x, golden_api_versions_v3_resp, sizeof golden_api_versions_v3_resp);
    kmsg_api_versions_resp_t resp;
    ASSERT_EQ(kmsg_api_versions_resp_decode(&x.rd, arena, 3, &resp), 0);
    ASSERT_EQ(kproto_rd_left(&x.rd), 0);
    ASSERT_EQ(resp.api_keys_count, 2);
    ASSERT_EQ(resp.api_keys[1].api_key, 18);
    ASSERT_EQ(resp.api_keys[0].max_version, 9);
    ASSERT_EQ(resp.finalized_features_epoch, 5);
    ASSERT_TRUE(resp.zk_migration_ready);
    ASSERT_EQ(resp.supported_features_count, 0);
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kmsg_api_versions_resp_encode(&wr, 3, &resp);
    ASSERT_EQ(wr.buf.len, sizeof golden_api_versions_v3_resp);
    ASSERT_MEMEQ(wr.buf.data, golden_api_versions_v3_resp, wr.buf.len);
    /* Defaults are not sent: the tagged section is then empty. */
    resp.finalized_features_epoch = -1;
    resp.zk_migration_ready = false;
    kproto_wr_reset(&wr);
    kmsg_api_versions_resp_encode(&wr, 3, &resp);
    ASSERT_EQ(wr.buf.len, sizeof golden_api_versions_v3_resp - 13);
    ASSERT_EQ(wr.buf.data[wr.buf.len - 1], 0x00);
    /* v0 has no tagged fields and a non-compact array. */
    kproto_wr_reset(&wr);
    kmsg_api_versions_resp_encode(&wr, 0, &resp);
    ASSERT_EQ(wr.buf.len, 2 + 4 + 2 * 6);
    ASSERT_EQ(sl_be32_get(wr.buf.data + 2), 2);
    kproto_wr_deinit(&wr);
    exact_rd_deinit(&x);
    sl_arena_free(arena);
}

/* Unknown tags are skipped; a tagged field's size must fit the bytes left. */
TEST(test_codec_skips_unknown_tags_and_rejects_oversized_ones)
{
    sl_arena_t *arena = sl_arena_new(4096);
    kmsg_api_versions_req_t req;
    uint8_t unknown[] = {0x01, 0x01, 0x01, 0x07, 0x03, 'a', 'b', 'c'};
    kproto_rd_t rd;
    kproto_rd_init(&rd, unknown, sizeof unknown);
    ASSERT_EQ(kmsg_api_versions_req_decode(&rd, arena, 3, &req), 0);
    ASSERT_EQ(kproto_rd_left(&rd), 0);
    uint8_t oversized[] = {0x01, 0x01, 0x01, 0x07, 0x09, 'a', 'b', 'c'};
    kproto_rd_init(&rd, oversized, sizeof oversized);
    ASSERT_EQ(kmsg_api_versions_req_decode(&rd, arena, 3, &req), SL_ECORRUPT);
    sl_arena_free(arena);
}

/* Kafka rejects null where the version does not allow it ("non-nullable field was serialized
 * as null"), and so do we: handlers may rely on non-nullable strings and arrays being there. */
TEST(test_codec_rejects_null_in_non_nullable_versions)
{
    sl_arena_t *arena = sl_arena_new(4096);
    kmsg_metadata_req_t md;
    uint8_t null_topics[] = {0xff, 0xff, 0xff, 0xff};
    kproto_rd_t rd;
    kproto_rd_init(&rd, null_topics, sizeof null_topics);
    ASSERT_EQ(kmsg_metadata_req_decode(&rd, arena, 0, &md), SL_ECORRUPT); /* v0: not nullable */
    kproto_rd_init(&rd, null_topics, sizeof null_topics);
    ASSERT_EQ(kmsg_metadata_req_decode(&rd, arena, 1, &md), 0); /* v1+: null = all topics */
    ASSERT_EQ(md.topics_count, -1);
    uint8_t null_name[] = {0, 0, 0, 1, 0xff, 0xff};
    kproto_rd_init(&rd, null_name, sizeof null_name);
    ASSERT_EQ(kmsg_metadata_req_decode(&rd, arena, 0, &md), SL_ECORRUPT);
    /* Heartbeat v0: group_id (string) null. */
    kmsg_heartbeat_req_t hb;
    uint8_t hb_null[] = {0xff, 0xff, 0, 0, 0, 1, 0, 1, 'm'};
    kproto_rd_init(&rd, hb_null, sizeof hb_null);
    ASSERT_EQ(kmsg_heartbeat_req_decode(&rd, arena, 0, &hb), SL_ECORRUPT);
    hb_null[0] = 0;
    hb_null[1] = 0;
    kproto_rd_init(&rd, hb_null, sizeof hb_null);
    ASSERT_EQ(kmsg_heartbeat_req_decode(&rd, arena, 0, &hb), 0);
    sl_arena_free(arena);
}

/* A huge array count with few bytes left fails before the decoder allocates for it. */
TEST(test_codec_huge_array_count_fails_without_allocating)
{
    sl_arena_t *arena = sl_arena_new(4096);
    uint8_t frame[14] = {0x7f, 0xff, 0xff, 0xff}; /* 2^31-1 topics, 10 bytes left */
    kproto_rd_t rd;
    kproto_rd_init(&rd, frame, sizeof frame);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 1), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    kproto_rd_init(&rd, frame, sizeof frame);
    kmsg_metadata_req_t md;
    ASSERT_EQ(kmsg_metadata_req_decode(&rd, arena, 1, &md), SL_ECORRUPT);
    ASSERT_EQ(sl_arena_used(arena), 0);
    /* Compact: uvarint 2^32-1 (count 2^32-2) */
    uint8_t compact[12] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    kproto_rd_init(&rd, compact, sizeof compact);
    ASSERT_EQ(kmsg_metadata_req_decode(&rd, arena, 12, &md), SL_ECORRUPT);
    ASSERT_EQ(sl_arena_used(arena), 0);
    /* The bound uses the element's minimum size: 3 topics of >= 2 bytes need 6 bytes. */
    uint8_t three[] = {0, 0, 0, 3, 0, 0, 0, 0, 0};
    kproto_rd_init(&rd, three, sizeof three);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 2), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    kproto_rd_init(&rd, three, 10 - 1);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 1), 3);
    sl_arena_free(arena);
}

/* ---- kproto primitives ---- */

static bool wr_is(kproto_wr_t *wr, const uint8_t *want, size_t n)
{
    bool ok = wr->buf.len == n && memcmp(wr->buf.data, want, n) == 0;
    if (!ok) {
        fprintf(stderr, "  got %zu bytes:", wr->buf.len);
        for (size_t i = 0; i < wr->buf.len; i++) {
            fprintf(stderr, " %02x", wr->buf.data[i]);
        }
        fprintf(stderr, "\n");
    }
    kproto_wr_reset(wr);
    return ok;
}

TEST(test_kproto_varint_zigzag_edges)
{
    static const struct {
        int32_t v;
        uint8_t n, b[5];
    } v32[] = {
        {0, 1, {0x00}},
        {-1, 1, {0x01}},
        {1, 1, {0x02}},
        {-64, 1, {0x7f}},
        {64, 2, {0x80, 0x01}},
        {INT32_MAX, 5, {0xfe, 0xff, 0xff, 0xff, 0x0f}},
        {INT32_MIN, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
    };
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    for (size_t i = 0; i < SL_ARRAY_LEN(v32); i++) {
        kproto_wr_varint(&wr, v32[i].v);
        kproto_rd_t rd;
        kproto_rd_init(&rd, wr.buf.data, wr.buf.len);
        ASSERT_EQ(kproto_rd_varint(&rd), v32[i].v);
        ASSERT_EQ(rd.err, 0);
        ASSERT_EQ(kproto_rd_left(&rd), 0);
        ASSERT_TRUE(wr_is(&wr, v32[i].b, v32[i].n));
    }
    static const struct {
        int64_t v;
        uint8_t n, b[10];
    } v64[] = {
        {0, 1, {0x00}},
        {-1, 1, {0x01}},
        {INT64_MAX, 10, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
        {INT64_MIN, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
        {INT32_MIN, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
        {(int64_t)INT32_MAX + 1, 5, {0x80, 0x80, 0x80, 0x80, 0x10}},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v64); i++) {
        kproto_wr_varlong(&wr, v64[i].v);
        kproto_rd_t rd;
        kproto_rd_init(&rd, wr.buf.data, wr.buf.len);
        ASSERT_TRUE(kproto_rd_varlong(&rd) == v64[i].v);
        ASSERT_EQ(rd.err, 0);
        ASSERT_EQ(kproto_rd_left(&rd), 0);
        ASSERT_TRUE(wr_is(&wr, v64[i].b, v64[i].n));
    }
    kproto_wr_uvarint(&wr, UINT32_MAX);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0x0f}, 5));
    ASSERT_EQ(kproto_uvarint_size(UINT32_MAX), 5);
    ASSERT_EQ(kproto_uvarint_size(127), 1);
    ASSERT_EQ(kproto_uvarint_size(128), 2);
    kproto_wr_deinit(&wr);
}

TEST(test_kproto_varint_rejects_overlong_and_truncated)
{
    kproto_rd_t rd;
    uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00}; /* 6 bytes for a 32-bit varint */
    kproto_rd_init(&rd, six, sizeof six);
    ASSERT_EQ(kproto_rd_varint(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x1f}; /* 2^33 - 1 */
    kproto_rd_init(&rd, big, sizeof big);
    ASSERT_EQ(kproto_rd_uvarint(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    kproto_rd_init(&rd, eleven, sizeof eleven);
    ASSERT_EQ(kproto_rd_varlong(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t tenth[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
    kproto_rd_init(&rd, tenth, sizeof tenth); /* bit 64 set: does not fit */
    ASSERT_EQ(kproto_rd_varlong(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t cut[] = {0x80, 0x80};
    kproto_rd_init(&rd, cut, sizeof cut);
    ASSERT_EQ(kproto_rd_varlong(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
}

TEST(test_kproto_strings_bytes_arrays_compact_and_not)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kproto_wr_cstr(&wr, false, "abc");
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x00, 0x03, 'a', 'b', 'c'}, 5));
    kproto_wr_cstr(&wr, true, "abc");
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x04, 'a', 'b', 'c'}, 4));
    kproto_wr_cstr(&wr, false, NULL);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0xff, 0xff}, 2));
    kproto_wr_cstr(&wr, true, NULL);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x00}, 1));
    kproto_wr_cstr(&wr, true, "");
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x01}, 1));
    kproto_bytes_t b = {(const uint8_t *)"\x01\x02", 2};
    kproto_wr_bytes(&wr, false, b);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0, 0, 0, 2, 1, 2}, 6));
    kproto_wr_bytes(&wr, true, b);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){3, 1, 2}, 3));
    b.len = -1;
    kproto_wr_bytes(&wr, false, b);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0xff, 0xff, 0xff, 0xff}, 4));
    kproto_wr_array_len(&wr, false, -1);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0xff, 0xff, 0xff, 0xff}, 4));
    kproto_wr_array_len(&wr, true, -1);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x00}, 1));
    kproto_wr_array_len(&wr, true, 3);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0x04}, 1));
    kproto_wr_array_len(&wr, false, 3);
    ASSERT_TRUE(wr_is(&wr, (const uint8_t[]){0, 0, 0, 3}, 4));
    kproto_wr_deinit(&wr);

    kproto_rd_t rd;
    uint8_t in[] = {0x00, 0x02, 'h', 'i', 0x03, 'y', 'o', 0xff, 0xff, 0x00, 0x01,
                    0xff, 0xff, 0xff, 0xff, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00};
    kproto_rd_init(&rd, in, sizeof in);
    ASSERT_TRUE(kproto_str_eq(kproto_rd_str(&rd, false), "hi"));
    ASSERT_TRUE(kproto_str_eq(kproto_rd_str(&rd, true), "yo"));
    kproto_str_t s = kproto_rd_str(&rd, false);
    ASSERT_EQ(s.len, -1);
    ASSERT_TRUE(s.ptr == NULL);
    ASSERT_EQ(kproto_rd_str(&rd, true).len, -1);
    ASSERT_EQ(kproto_rd_str(&rd, true).len, 0);
    ASSERT_EQ(kproto_rd_bytes(&rd, false).len, -1);
    ASSERT_EQ(kproto_rd_array_len(&rd, true, 1), -1);
    ASSERT_EQ(kproto_rd_array_len(&rd, true, 1), 3);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 1), 0);
    ASSERT_EQ(rd.err, 0);
    ASSERT_EQ(kproto_rd_left(&rd), 0);
    sl_arena_t *arena = sl_arena_new(256);
    ASSERT_TRUE(kproto_str_dup(arena, kproto_str(NULL)) == NULL);
    ASSERT_STREQ(kproto_str_dup(arena, kproto_str("dup")), "dup");
    sl_arena_free(arena);
}

TEST(test_kproto_lengths_checked_against_bytes_left)
{
    kproto_rd_t rd;
    uint8_t long_str[] = {0x00, 0x05, 'a', 'b'};
    kproto_rd_init(&rd, long_str, sizeof long_str);
    kproto_str_t s = kproto_rd_str(&rd, false);
    ASSERT_EQ(s.len, 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    uint8_t neg[] = {0xff, 0xfe, 'a'}; /* -2 */
    kproto_rd_init(&rd, neg, sizeof neg);
    kproto_rd_str(&rd, false);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t neg_arr[] = {0xff, 0xff, 0xff, 0xfe};
    kproto_rd_init(&rd, neg_arr, sizeof neg_arr);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 1), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t long_bytes[] = {0x00, 0x00, 0x01, 0x00, 1, 2, 3};
    kproto_rd_init(&rd, long_bytes, sizeof long_bytes);
    ASSERT_EQ(kproto_rd_bytes(&rd, false).len, 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    uint8_t compact_long[] = {0x05, 'a'};
    kproto_rd_init(&rd, compact_long, sizeof compact_long);
    kproto_rd_records(&rd, true);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    uint8_t skip[] = {1, 2, 3};
    kproto_rd_init(&rd, skip, sizeof skip);
    kproto_rd_skip(&rd, 3);
    ASSERT_EQ(rd.err, 0);
    kproto_rd_skip(&rd, 1);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
}

/* Strings are at most INT16_MAX bytes, compact or not (Kafka's limit), tested at N and N+1;
 * a compact array count above INT32_MAX is malformed, not merely truncated. */
TEST(test_kproto_string_length_limit_and_compact_count_limit)
{
    size_t n = 3 + 32768;
    uint8_t *buf = sl_xcalloc(1, n);
    buf[0] = 0x80; /* uvarint 32768 = length 32767 */
    buf[1] = 0x80;
    buf[2] = 0x02;
    kproto_rd_t rd;
    kproto_rd_init(&rd, buf, n);
    ASSERT_EQ(kproto_rd_str(&rd, true).len, 32767);
    ASSERT_EQ(rd.err, 0);
    buf[0] = 0x81; /* uvarint 32769 = length 32768 */
    kproto_rd_init(&rd, buf, n);
    kproto_rd_str(&rd, true);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    kproto_rd_init(&rd, buf, n); /* the same length as bytes is fine */
    ASSERT_EQ(kproto_rd_bytes(&rd, true).len, 32768);
    ASSERT_EQ(rd.err, 0);
    free(buf);
    uint8_t big[] = {0x81, 0x80, 0x80, 0x80, 0x08}; /* uvarint 2^31 + 1: count 2^31 */
    kproto_rd_init(&rd, big, sizeof big);
    ASSERT_EQ(kproto_rd_array_len(&rd, true, 1), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    big[0] = 0x80; /* count 2^31 - 1: fits an int32, but not the bytes left */
    big[4] = 0x08;
    kproto_rd_init(&rd, big, sizeof big);
    ASSERT_EQ(kproto_rd_array_len(&rd, true, 1), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
}

TEST(test_kproto_error_is_sticky)
{
    uint8_t in[] = {0xff, 0xfe, 0x00, 0x00, 0x00, 0x07, 0x01, 0x02};
    kproto_rd_t rd;
    kproto_rd_init(&rd, in, sizeof in);
    kproto_rd_str(&rd, false); /* length -2: malformed */
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    uint8_t *at = rd.p;
    ASSERT_EQ(kproto_rd_i32(&rd), 0); /* bytes are there, but the error stays */
    ASSERT_EQ(kproto_rd_i8(&rd), 0);
    ASSERT_EQ(kproto_rd_uvarint(&rd), 0);
    ASSERT_EQ(kproto_rd_array_len(&rd, false, 1), 0);
    ASSERT_TRUE(kproto_rd_bool(&rd) == false);
    ASSERT_EQ(kproto_rd_str(&rd, true).len, 0);
    ASSERT_TRUE(rd.p == at);
    ASSERT_EQ(rd.err, KPROTO_ERR_MALFORMED);
    /* Truncation is sticky too: a later read that would fit still returns 0. */
    kproto_rd_init(&rd, in, 3);
    ASSERT_EQ(kproto_rd_i32(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
    ASSERT_EQ(kproto_rd_i8(&rd), 0);
    ASSERT_EQ(rd.err, KPROTO_ERR_TRUNCATED);
}

TEST(test_kproto_fixed_width_round_trip)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    kproto_wr_i8(&wr, -2);
    kproto_wr_i16(&wr, INT16_MIN);
    kproto_wr_u16(&wr, 0xfffe);
    kproto_wr_i32(&wr, INT32_MIN);
    kproto_wr_u32(&wr, 0xfffffffe);
    kproto_wr_i64(&wr, INT64_MIN);
    kproto_wr_f64(&wr, -0.5);
    kproto_wr_bool(&wr, true);
    kproto_uuid_t u;
    for (int i = 0; i < 16; i++) {
        u.b[i] = (uint8_t)i;
    }
    kproto_wr_uuid(&wr, u);
    size_t mark = kproto_wr_mark_i32(&wr);
    kproto_wr_patch_i32(&wr, mark, 0x01020304);
    ASSERT_EQ(wr.buf.len, 1 + 2 + 2 + 4 + 4 + 8 + 8 + 1 + 16 + 4);
    ASSERT_EQ(wr.buf.data[1], 0x80);
    kproto_rd_t rd;
    kproto_rd_init(&rd, wr.buf.data, wr.buf.len);
    ASSERT_EQ(kproto_rd_i8(&rd), -2);
    ASSERT_EQ(kproto_rd_i16(&rd), INT16_MIN);
    ASSERT_EQ(kproto_rd_u16(&rd), 0xfffe);
    ASSERT_EQ(kproto_rd_i32(&rd), INT32_MIN);
    ASSERT_EQ(kproto_rd_u32(&rd), 0xfffffffe);
    ASSERT_TRUE(kproto_rd_i64(&rd) == INT64_MIN);
    ASSERT_TRUE(kproto_rd_f64(&rd) == -0.5);
    ASSERT_TRUE(kproto_rd_bool(&rd));
    kproto_uuid_t u2 = kproto_rd_uuid(&rd);
    ASSERT_MEMEQ(u2.b, u.b, 16);
    ASSERT_EQ(kproto_rd_i32(&rd), 0x01020304);
    ASSERT_EQ(rd.err, 0);
    ASSERT_EQ(kproto_rd_left(&rd), 0);
    kproto_wr_deinit(&wr);
}

TEST(test_kproto_records_with_ext_leave_splices)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    int file_a, file_b; /* stand-ins for file handles */
    kproto_wr_i16(&wr, 7);
    kproto_records_t ra = {NULL, 1000, &file_a, 4096};
    kproto_wr_records(&wr, false, ra);
    ASSERT_EQ(wr.nsplices, 1);
    ASSERT_EQ(wr.splices[0].at, 2 + 4); /* after the i16 and the i32 length */
    ASSERT_TRUE(wr.splices[0].ext == &file_a);
    ASSERT_EQ(wr.splices[0].pos, 4096);
    ASSERT_EQ(wr.splices[0].len, 1000);
    ASSERT_EQ(sl_be32_get(wr.buf.data + 2), 1000);
    kproto_records_t mem = {(const uint8_t *)"xyz", 3, NULL, 0};
    kproto_wr_records(&wr, true, mem); /* in memory: copied, no splice */
    ASSERT_EQ(wr.nsplices, 1);
    kproto_records_t rb = {NULL, 200, &file_b, 0};
    kproto_wr_records(&wr, true, rb); /* compact length 201 = 0xc9 0x01 */
    ASSERT_EQ(wr.nsplices, 2);
    ASSERT_EQ(wr.splices[1].at, 6 + 4 + 2);
    ASSERT_EQ(wr.buf.data[10], 0xc9);
    ASSERT_EQ(wr.buf.data[11], 0x01);
    kproto_records_t empty = {NULL, 0, &file_b, 0}; /* nothing to splice */
    kproto_wr_records(&wr, false, empty);
    kproto_records_t null = {NULL, -1, &file_b, 0};
    kproto_wr_records(&wr, true, null);
    ASSERT_EQ(wr.nsplices, 2);
    ASSERT_EQ(wr.ext_bytes, 1200);
    ASSERT_EQ(wr.buf.len, 2 + 4 + 4 + 2 + 4 + 1);
    ASSERT_EQ(kproto_wr_len(&wr), (int64_t)wr.buf.len + 1200);
    /* Many splices: the array grows. */
    for (int i = 0; i < 100; i++) {
        kproto_wr_records(&wr, false, rb);
    }
    ASSERT_EQ(wr.nsplices, 102);
    ASSERT_EQ(kproto_wr_len(&wr), (int64_t)wr.buf.len + 1200 + 100 * 200);
    kproto_wr_reset(&wr);
    ASSERT_EQ(wr.nsplices, 0);
    ASSERT_EQ(kproto_wr_len(&wr), 0);
    kproto_wr_deinit(&wr);
}

/* A Fetch response whose records live in files: the encoded length counts the spliced ranges
 * and each splice sits right after its records' length prefix. */
TEST(test_codec_fetch_response_splices_records)
{
    kmsg_fetch_resp_t resp;
    kmsg_fetch_resp_init(&resp);
    kmsg_fetch_resp_fetchable_topic_response_t topic;
    kmsg_fetch_resp_fetchable_topic_response_init(&topic);
    kmsg_fetch_resp_partition_data_t parts[2];
    int file;
    for (int i = 0; i < 2; i++) {
        kmsg_fetch_resp_partition_data_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].records = (kproto_records_t){NULL, 100 * (i + 1), &file, 50};
    }
    topic.topic = kproto_str("t");
    topic.partitions = parts;
    topic.partitions_count = 2;
    resp.responses = &topic;
    resp.responses_count = 1;
    for (int16_t ver = 4; ver <= 13; ver++) {
        kproto_wr_t wr;
        kproto_wr_init(&wr);
        kmsg_fetch_resp_encode(&wr, ver, &resp);
        ASSERT_EQ(wr.nsplices, 2);
        ASSERT_EQ(wr.ext_bytes, 300);
        ASSERT_EQ(kproto_wr_len(&wr), (int64_t)wr.buf.len + 300);
        if (ver < 12) {
            ASSERT_EQ(sl_be32_get(wr.buf.data + wr.splices[0].at - 4), 100);
            ASSERT_EQ(sl_be32_get(wr.buf.data + wr.splices[1].at - 4), 200);
        } else {
            ASSERT_EQ(wr.buf.data[wr.splices[0].at - 1], 101);
            ASSERT_EQ(wr.buf.data[wr.splices[1].at - 2], 0xc9);
        }
        kproto_wr_deinit(&wr);
    }
}

int main(void)
{
    RUN(test_kproto_varint_zigzag_edges);
    RUN(test_kproto_varint_rejects_overlong_and_truncated);
    RUN(test_kproto_strings_bytes_arrays_compact_and_not);
    RUN(test_kproto_lengths_checked_against_bytes_left);
    RUN(test_kproto_string_length_limit_and_compact_count_limit);
    RUN(test_kproto_error_is_sticky);
    RUN(test_kproto_fixed_width_round_trip);
    RUN(test_kproto_records_with_ext_leave_splices);
    RUN(test_codec_huge_array_count_fails_without_allocating);
    RUN(test_codec_rejects_null_in_non_nullable_versions);
    RUN(test_codec_skips_unknown_tags_and_rejects_oversized_ones);
    RUN(test_golden_api_versions_v3_request_from_librdkafka);
    RUN(test_golden_metadata_v0_request);
    RUN(test_golden_produce_v3_request);
    RUN(test_golden_api_versions_v3_response_tagged_fields);
    RUN(test_codec_fetch_response_splices_records);
    RUN(test_codec_headers_round_trip);
    RUN(test_codec_every_api_and_version_round_trips);
    TEST_MAIN_END();
}
