/* libFuzzer target for the services' JSON scanner (src/services/kit/kit_json.c), which reads
 * every input value of `sluice join` and every result and reply line of `sluice jobs`, and for
 * the joiner's merge over it. Differential: whatever the scanner accepts jansson accepts, with
 * the same object or not-object verdict (jansson also accepts a few texts the scanner refuses,
 * such as a value followed by a NUL byte; the joiner then falls back on jansson), and what it
 * accepts under jobs' lower depth limit it accepts under jansson's; a successful join is JSON
 * equal to jansson's own merge. The first input byte splits the rest into two values. */
#include "jnjoin.h"
#include "kit_json.h"
#include "sl_buf.h"
#include "sl_common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The jobs service's depth limit (JRUN_JSON_DEPTH_MAX; this target links only the join). */
#define FUZZ_JOBS_DEPTH 64

/* jansson's view of a value; *range_only tells that it refused it only for a number it
 * cannot represent (the scanner, like RFC 8259, takes any number and copies it as text). */
static json_t *fuzz_load_why(const char *p, size_t len, bool *range_only)
{
    json_error_t jerr;
    json_t *o = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    *range_only = !o && (strstr(jerr.text, "too big") || strstr(jerr.text, "overflow"));
    return o;
}

static json_t *fuzz_load(const char *p, size_t len)
{
    bool range_only;
    return fuzz_load_why(p, len, &range_only);
}

/* What the scanner accepts, jansson accepts alike (an exact-size copy: ASan sees
 * over-reads). */
static void fuzz_agree(const char *p, size_t len)
{
    bool range_only = false;
    json_t *o = fuzz_load_why(p, len, &range_only);
    if (range_only) {
        return;
    }
    kit_json_member_t m[KIT_JSON_MEMBERS_MAX];
    size_t n = 0;
    kit_json_rc_t rc = kit_json_object(p, len, KIT_JSON_DEPTH_MAX, m, &n);
    bool valid = kit_json_valid(p, len, KIT_JSON_DEPTH_MAX);
    bool shallow = kit_json_valid(p, len, FUZZ_JOBS_DEPTH);
    if ((valid && !o) || (valid != (rc != KIT_JSON_INVALID)) || (shallow && !valid) ||
        (rc == KIT_JSON_NOT_OBJECT && json_is_object(o)) ||
        ((rc == KIT_JSON_OK || rc == KIT_JSON_COMPLEX) && !json_is_object(o))) {
        abort();
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t cut = size > 1 ? data[0] % size : 0;
    size_t llen = cut, rlen = size - 1 - cut;
    char *l = malloc(llen ? llen : 1), *r = malloc(rlen ? rlen : 1);
    SL_ASSERT(l && r);
    memcpy(l, data + 1, llen);
    memcpy(r, data + 1 + llen, rlen);
    fuzz_agree(l, llen);
    fuzz_agree(r, rlen);
    jn_joiner_t jn;
    jn_joiner_init(&jn);
    jn.precedence = data[0] & 1 ? JN_RIGHT : JN_LEFT;
    sl_buf_t out;
    sl_buf_init(&out);
    char why[256];
    jn_bytes_t lb = {l, llen}, rb = {r, rlen};
    if (jn_join(&jn, lb, rb, &out, why, sizeof why) == 0) {
        bool range_only = false;
        json_t *got = fuzz_load_why((const char *)out.data, out.len, &range_only);
        json_t *lo = fuzz_load(l, llen), *ro = fuzz_load(r, rlen);
        if (!got && !range_only) {
            abort(); /* the fast path wrote something that is not JSON */
        }
        if (got && lo && ro) { /* else a number only the scanner takes: nothing to compare */
            if (jn.precedence == JN_RIGHT) {
                json_object_update(lo, ro);
            } else {
                json_object_update_missing(lo, ro);
            }
            if (!json_equal(got, lo)) {
                abort();
            }
        }
        json_decref(got);
        json_decref(lo);
        json_decref(ro);
    }
    sl_buf_deinit(&out);
    free(l);
    free(r);
    return 0;
}
