/* Kafka wire primitives: bounds-checked reads with a sticky error; growable writes. */
#include "kproto.h"
#include "sl_common.h"

#include <stdlib.h>
#include <string.h>

static inline bool kproto__need(kproto_rd_t *rd, size_t n)
{
    if (rd->err) {
        return false;
    }
    if (kproto_rd_left(rd) < n) {
        rd->err = KPROTO_ERR_TRUNCATED;
        rd->p = rd->end;
        return false;
    }
    return true;
}

int8_t kproto_rd_i8(kproto_rd_t *rd)
{
    if (!kproto__need(rd, 1)) {
        return 0;
    }
    return (int8_t)*rd->p++;
}

int16_t kproto_rd_i16(kproto_rd_t *rd)
{
    return (int16_t)kproto_rd_u16(rd);
}

uint16_t kproto_rd_u16(kproto_rd_t *rd)
{
    if (!kproto__need(rd, 2)) {
        return 0;
    }
    uint16_t v = sl_be16_get(rd->p);
    rd->p += 2;
    return v;
}

int32_t kproto_rd_i32(kproto_rd_t *rd)
{
    return (int32_t)kproto_rd_u32(rd);
}

uint32_t kproto_rd_u32(kproto_rd_t *rd)
{
    if (!kproto__need(rd, 4)) {
        return 0;
    }
    uint32_t v = sl_be32_get(rd->p);
    rd->p += 4;
    return v;
}

int64_t kproto_rd_i64(kproto_rd_t *rd)
{
    if (!kproto__need(rd, 8)) {
        return 0;
    }
    uint64_t v = sl_be64_get(rd->p);
    rd->p += 8;
    return (int64_t)v;
}

double kproto_rd_f64(kproto_rd_t *rd)
{
    uint64_t bits = (uint64_t)kproto_rd_i64(rd);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

bool kproto_rd_bool(kproto_rd_t *rd)
{
    return kproto_rd_i8(rd) != 0;
}

static uint64_t kproto__rd_uvar64(kproto_rd_t *rd, int max_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (!kproto__need(rd, 1)) {
            return 0;
        }
        uint8_t b = *rd->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            /* the 10th byte of a varlong holds only bit 63: more would be silently lost */
            if (i == 9 && b > 1) {
                break;
            }
            return v;
        }
    }
    rd->err = KPROTO_ERR_MALFORMED;
    return 0;
}

uint32_t kproto_rd_uvarint(kproto_rd_t *rd)
{
    uint64_t v = kproto__rd_uvar64(rd, 5);
    if (v > UINT32_MAX) {
        rd->err = KPROTO_ERR_MALFORMED;
        return 0;
    }
    return (uint32_t)v;
}

int32_t kproto_rd_varint(kproto_rd_t *rd)
{
    uint32_t v = kproto_rd_uvarint(rd);
    return (int32_t)((v >> 1) ^ (~(v & 1) + 1));
}

int64_t kproto_rd_varlong(kproto_rd_t *rd)
{
    uint64_t v = kproto__rd_uvar64(rd, 10);
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

kproto_uuid_t kproto_rd_uuid(kproto_rd_t *rd)
{
    kproto_uuid_t u = {{0}};
    if (kproto__need(rd, 16)) {
        memcpy(u.b, rd->p, 16);
        rd->p += 16;
    }
    return u;
}

/* Reads a length prefix: i16/i32 or compact uvarint-1. Returns -1 for null, -2 on error. */
static int64_t kproto__rd_len(kproto_rd_t *rd, bool compact, bool wide)
{
    int64_t n;
    if (compact) {
        n = (int64_t)kproto_rd_uvarint(rd) - 1;
    } else {
        n = wide ? kproto_rd_i32(rd) : kproto_rd_i16(rd);
    }
    if (rd->err) {
        return -2;
    }
    /* Kafka caps strings at INT16_MAX bytes even when compact (a longer one could not be
     * re-encoded in a non-flexible version) and bytes at INT32_MAX. */
    if (n < -1 || n > (wide ? INT32_MAX : INT16_MAX)) {
        rd->err = KPROTO_ERR_MALFORMED;
        return -2;
    }
    if (n > 0 && (size_t)n > kproto_rd_left(rd)) {
        rd->err = KPROTO_ERR_TRUNCATED;
        rd->p = rd->end;
        return -2;
    }
    return n;
}

kproto_str_t kproto_rd_str(kproto_rd_t *rd, bool compact)
{
    kproto_str_t s = {NULL, -1};
    int64_t n = kproto__rd_len(rd, compact, false);
    if (n >= 0) {
        s.ptr = (const char *)rd->p;
        s.len = (int32_t)n;
        rd->p += n;
    } else if (n == -2) {
        s.len = 0;
        s.ptr = "";
    }
    return s;
}

kproto_bytes_t kproto_rd_bytes(kproto_rd_t *rd, bool compact)
{
    kproto_bytes_t b = {NULL, -1};
    int64_t n = kproto__rd_len(rd, compact, true);
    if (n >= 0) {
        b.ptr = rd->p;
        b.len = (int32_t)n;
        rd->p += n;
    } else if (n == -2) {
        b.len = 0;
    }
    return b;
}

kproto_records_t kproto_rd_records(kproto_rd_t *rd, bool compact)
{
    kproto_bytes_t b = kproto_rd_bytes(rd, compact);
    kproto_records_t r = {b.ptr, b.len, NULL, 0};
    return r;
}

int32_t kproto_rd_array_len(kproto_rd_t *rd, bool compact, size_t min_elem_bytes)
{
    int64_t n = compact ? (int64_t)kproto_rd_uvarint(rd) - 1 : kproto_rd_i32(rd);
    if (rd->err) {
        return 0;
    }
    if (n < -1 || n > INT32_MAX) {
        rd->err = KPROTO_ERR_MALFORMED;
        return 0;
    }
    if (n > 0 && (uint64_t)n * (min_elem_bytes ? min_elem_bytes : 1) > kproto_rd_left(rd)) {
        rd->err = KPROTO_ERR_TRUNCATED;
        rd->p = rd->end;
        return 0;
    }
    return (int32_t)n;
}

void kproto_rd_skip(kproto_rd_t *rd, size_t n)
{
    if (kproto__need(rd, n)) {
        rd->p += n;
    }
}

void *kproto_rd_alloc(sl_arena_t *arena, int32_t count, size_t size)
{
    if (count <= 0) {
        return NULL;
    }
    return sl_arena_alloc(arena, (size_t)count * size);
}

char *kproto_str_dup(sl_arena_t *arena, kproto_str_t s)
{
    if (s.len < 0) {
        return NULL;
    }
    char *p = sl_arena_alloc(arena, (size_t)s.len + 1);
    memcpy(p, s.ptr, (size_t)s.len);
    return p;
}

void kproto_wr_init(kproto_wr_t *wr)
{
    memset(wr, 0, sizeof *wr);
    sl_buf_init(&wr->buf);
    wr->limit = KPROTO_WR_BYTES_MAX;
}

/* Whether n more bytes would go past the writer's limit (then the error is set). */
static bool kproto__wr_full(kproto_wr_t *wr, int64_t n)
{
    if (!wr->err && kproto_wr_len(wr) + n > wr->limit) {
        wr->err = KPROTO_ERR_TOO_LARGE;
    }
    return wr->err != 0;
}

void kproto_wr_deinit(kproto_wr_t *wr)
{
    sl_buf_deinit(&wr->buf);
    free(wr->splices);
    memset(wr, 0, sizeof *wr);
}

void kproto_wr_reset(kproto_wr_t *wr)
{
    wr->buf.len = 0;
    wr->nsplices = 0;
    wr->ext_bytes = 0;
    wr->err = 0;
}

void kproto_wr_raw(kproto_wr_t *wr, const void *p, size_t n)
{
    if (kproto__wr_full(wr, (int64_t)n)) {
        return;
    }
    sl_buf_append(&wr->buf, p, n);
}

void kproto_wr_i8(kproto_wr_t *wr, int8_t v)
{
    uint8_t b = (uint8_t)v;
    kproto_wr_raw(wr, &b, 1);
}

void kproto_wr_i16(kproto_wr_t *wr, int16_t v)
{
    kproto_wr_u16(wr, (uint16_t)v);
}

void kproto_wr_u16(kproto_wr_t *wr, uint16_t v)
{
    if (kproto__wr_full(wr, 2)) {
        return;
    }
    sl_be16_put(sl_buf_reserve(&wr->buf, 2), v);
    wr->buf.len += 2;
}

void kproto_wr_i32(kproto_wr_t *wr, int32_t v)
{
    kproto_wr_u32(wr, (uint32_t)v);
}

void kproto_wr_u32(kproto_wr_t *wr, uint32_t v)
{
    if (kproto__wr_full(wr, 4)) {
        return;
    }
    sl_be32_put(sl_buf_reserve(&wr->buf, 4), v);
    wr->buf.len += 4;
}

void kproto_wr_i64(kproto_wr_t *wr, int64_t v)
{
    if (kproto__wr_full(wr, 8)) {
        return;
    }
    sl_be64_put(sl_buf_reserve(&wr->buf, 8), (uint64_t)v);
    wr->buf.len += 8;
}

void kproto_wr_f64(kproto_wr_t *wr, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    kproto_wr_i64(wr, (int64_t)bits);
}

void kproto_wr_bool(kproto_wr_t *wr, bool v)
{
    kproto_wr_i8(wr, v ? 1 : 0);
}

static void kproto__wr_uvar64(kproto_wr_t *wr, uint64_t v)
{
    if (kproto__wr_full(wr, 10)) {
        return;
    }
    uint8_t *p = sl_buf_reserve(&wr->buf, 10);
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    wr->buf.len += n;
}

void kproto_wr_uvarint(kproto_wr_t *wr, uint32_t v)
{
    kproto__wr_uvar64(wr, v);
}

void kproto_wr_varint(kproto_wr_t *wr, int32_t v)
{
    kproto__wr_uvar64(wr, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
}

void kproto_wr_varlong(kproto_wr_t *wr, int64_t v)
{
    kproto__wr_uvar64(wr, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

size_t kproto_uvarint_size(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void kproto_wr_uuid(kproto_wr_t *wr, kproto_uuid_t v)
{
    kproto_wr_raw(wr, v.b, 16);
}

static void kproto__wr_len(kproto_wr_t *wr, bool compact, bool wide, int64_t n)
{
    if (compact) {
        kproto_wr_uvarint(wr, (uint32_t)(n + 1));
    } else if (wide) {
        kproto_wr_i32(wr, (int32_t)n);
    } else {
        kproto_wr_i16(wr, (int16_t)n);
    }
}

void kproto_wr_str(kproto_wr_t *wr, bool compact, kproto_str_t s)
{
    int32_t n = s.len < 0 ? -1 : s.len;
    kproto__wr_len(wr, compact, false, n);
    if (n > 0) {
        kproto_wr_raw(wr, s.ptr, (size_t)n);
    }
}

void kproto_wr_cstr(kproto_wr_t *wr, bool compact, const char *s)
{
    kproto_wr_str(wr, compact, kproto_str(s));
}

void kproto_wr_bytes(kproto_wr_t *wr, bool compact, kproto_bytes_t b)
{
    int32_t n = b.len < 0 ? -1 : b.len;
    kproto__wr_len(wr, compact, true, n);
    if (n > 0) {
        kproto_wr_raw(wr, b.ptr, (size_t)n);
    }
}

void kproto_wr_records(kproto_wr_t *wr, bool compact, kproto_records_t r)
{
    if (!r.ext || r.len <= 0) {
        kproto_bytes_t b = {r.ptr, r.len};
        kproto_wr_bytes(wr, compact, b);
        return;
    }
    kproto__wr_len(wr, compact, true, r.len);
    if (wr->nsplices >= KPROTO_SPLICES_MAX && !wr->err) {
        wr->err = KPROTO_ERR_TOO_LARGE;
    }
    if (kproto__wr_full(wr, r.len)) {
        if (wr->ext_drop) {
            wr->ext_drop(r.ext);
        }
        return;
    }
    if (wr->nsplices == wr->splice_cap) {
        wr->splice_cap = wr->splice_cap ? wr->splice_cap * 2 : 8;
        wr->splices = sl_xrealloc(wr->splices, wr->splice_cap * sizeof *wr->splices);
    }
    kproto_splice_t *sp = &wr->splices[wr->nsplices++];
    sp->at = wr->buf.len;
    sp->ext = r.ext;
    sp->pos = r.ext_pos;
    sp->len = r.len;
    wr->ext_bytes += r.len;
}

void kproto_wr_array_len(kproto_wr_t *wr, bool compact, int32_t count)
{
    kproto__wr_len(wr, compact, true, count < 0 ? -1 : count);
}

size_t kproto_wr_mark_i32(kproto_wr_t *wr)
{
    size_t at = wr->buf.len;
    kproto_wr_i32(wr, 0);
    return at;
}

void kproto_wr_patch_i32(kproto_wr_t *wr, size_t mark, int32_t v)
{
    if (wr->err) {
        return;
    }
    SL_ASSERT(mark + 4 <= wr->buf.len);
    sl_be32_put(wr->buf.data + mark, (uint32_t)v);
}
