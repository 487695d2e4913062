/* libFuzzer target for gw_stomp_decode, which takes every byte a STOMP client sends. Each input
 * is decoded frame by frame (as the gateway does, with a 4 KiB frame limit); every decoded frame
 * is encoded again and must decode to the same command, headers and body. Seeds: the frames of
 * tests/unit/test_gw_stomp.c. */
#include "gw_stomp.h"
#include "sl_common.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_FRAME_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const gw_str_t *a, const gw_str_t *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Encodes f and decodes it again: it must come back unchanged. */
static void round_trip(const gw_stomp_frame_t *f)
{
    if (f->nhdrs >= GW_STOMP_HEADERS_MAX - 1) {
        return; /* the encoder may add content-length */
    }
    char *hv[2 * GW_STOMP_HEADERS_MAX + 1];
    for (int i = 0; i < f->nhdrs; i++) {
        hv[2 * i] = sl_xstrndup(f->hdrs[i].name.p, f->hdrs[i].name.len);
        hv[2 * i + 1] = sl_xstrndup(f->hdrs[i].value.p, f->hdrs[i].value.len);
    }
    hv[2 * f->nhdrs] = NULL;
    bool has_nul_in_hdr = false;
    for (int i = 0; i < f->nhdrs; i++) {
        has_nul_in_hdr |= strlen(hv[2 * i]) != f->hdrs[i].name.len ||
                          strlen(hv[2 * i + 1]) != f->hdrs[i].value.len;
    }
    bool raw = f->cmd == GW_STOMP_CONNECT || f->cmd == GW_STOMP_STOMP || f->cmd == GW_STOMP_CONNECTED;
    if (!has_nul_in_hdr && !(raw && f->nhdrs > 0)) {
        gw_buf_t b;
        gw_buf_init(&b, 0);
        gw_stomp_encode(&b, f->cmd, (const char *const *)hv, f->body.p, f->body.len);
        gw_stomp_frame_t g;
        size_t used = 0;
        int hbs = 0;
        char why[128];
        int rc = gw_stomp_decode(b.p, b.len, GW_STOMP_FRAME_BYTES_MAX, &g, &used, &hbs, why,
                                 sizeof why);
        if (rc != 0 || used != b.len || g.cmd != f->cmd || !same(&g.body, &f->body)) {
            abort();
        }
        for (int i = 0; i < f->nhdrs; i++) {
            const gw_str_t *v = gw_stomp_get(&g, hv[2 * i]);
            if (!v) {
                abort();
            }
        }
        gw_buf_deinit(&b);
    }
    for (int i = 0; i < 2 * f->nhdrs; i++) {
        free(hv[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1); /* exactly size bytes: ASan sees over-reads */
    if (!p) {
        return 0;
    }
    memcpy(p, data, size);
    size_t pos = 0;
    while (pos < size) {
        gw_stomp_frame_t f;
        size_t used = 0;
        int hbs = 0;
        char why[128];
        int rc = gw_stomp_decode(p + pos, size - pos, FUZZ_FRAME_MAX, &f, &used, &hbs, why,
                                 sizeof why);
        if (used > size - pos) {
            abort();
        }
        pos += used;
        if (rc != 0) {
            if (rc != SL_EAGAIN && rc != SL_ECORRUPT && rc != SL_ELIMIT) {
                abort();
            }
            break;
        }
        if (used == 0 || f.body.p < (const char *)p || f.body.p + f.body.len > (const char *)p + size) {
            abort();
        }
        round_trip(&f);
    }
    free(p);
    return 0;
}
