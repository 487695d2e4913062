/* Kafka wire primitives: one bounds-checked reader with a sticky error, and a writer that
 * mirrors it. Fixed-width integers are big-endian; varints are protobuf-style (zigzag for
 * signed); "compact" strings/bytes/arrays carry length+1 as an unsigned varint (0 = null).
 * Decoded strings and bytes point into the frame: they live as long as the frame does.
 *
 * The writer can leave "splices": places where a range of an external file (a log segment)
 * belongs in the output without being copied (fetch's zero-copy path); the encoded length
 * accounts for them and the sender interleaves them with the buffer. */
#ifndef KPROTO_H
#define KPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"
#include "sl_buf.h"

typedef struct {
    const char *ptr;
    int32_t len; /* -1: null */
} kproto_str_t;

typedef struct {
    const uint8_t *ptr;
    int32_t len; /* -1: null */
} kproto_bytes_t;

/* Record data: either bytes in memory, or (ext != NULL) a range of an external file that the
 * writer records as a splice. */
typedef struct {
    const uint8_t *ptr;
    int32_t len; /* -1: null */
    void *ext;   /* opaque file handle owned by the caller; NULL for in-memory bytes */
    int64_t ext_pos;
} kproto_records_t;

typedef struct {
    uint8_t b[16];
} kproto_uuid_t;

enum {
    KPROTO_ERR_TRUNCATED = 1, /* fewer bytes than the field needs */
    KPROTO_ERR_MALFORMED = 2, /* a length, count or varint that cannot be right */
    KPROTO_ERR_TOO_LARGE = 3, /* writer: over its byte limit or KPROTO_SPLICES_MAX splices */
};

typedef struct {
    uint8_t *p;
    uint8_t *end;
    int err; /* sticky: once set every read returns zero values */
} kproto_rd_t;

static inline void kproto_rd_init(kproto_rd_t *rd, uint8_t *p, size_t len)
{
    rd->p = p;
    rd->end = p + len;
    rd->err = 0;
}
static inline size_t kproto_rd_left(const kproto_rd_t *rd) { return (size_t)(rd->end - rd->p); }

int8_t kproto_rd_i8(kproto_rd_t *rd);
int16_t kproto_rd_i16(kproto_rd_t *rd);
int32_t kproto_rd_i32(kproto_rd_t *rd);
int64_t kproto_rd_i64(kproto_rd_t *rd);
uint16_t kproto_rd_u16(kproto_rd_t *rd);
uint32_t kproto_rd_u32(kproto_rd_t *rd);
double kproto_rd_f64(kproto_rd_t *rd);
bool kproto_rd_bool(kproto_rd_t *rd);
uint32_t kproto_rd_uvarint(kproto_rd_t *rd);
int32_t kproto_rd_varint(kproto_rd_t *rd);
int64_t kproto_rd_varlong(kproto_rd_t *rd);
kproto_uuid_t kproto_rd_uuid(kproto_rd_t *rd);
kproto_str_t kproto_rd_str(kproto_rd_t *rd, bool compact);
kproto_bytes_t kproto_rd_bytes(kproto_rd_t *rd, bool compact);
kproto_records_t kproto_rd_records(kproto_rd_t *rd, bool compact);
/* Array count (-1 for null); checks count * min_elem_bytes <= bytes left before anyone
 * allocates for it. */
int32_t kproto_rd_array_len(kproto_rd_t *rd, bool compact, size_t min_elem_bytes);
/* Skips n bytes (unknown tagged fields). */
void kproto_rd_skip(kproto_rd_t *rd, size_t n);
/* Allocates count elements of size bytes from the arena (count may be 0 or -1: NULL). */
void *kproto_rd_alloc(sl_arena_t *arena, int32_t count, size_t size);

typedef struct {
    size_t at;   /* buffer position where the external range goes */
    void *ext;
    int64_t pos;
    int64_t len;
} kproto_splice_t;

#define KPROTO_SPLICES_MAX 65536 /* external ranges in one response (one per partition) */
/* Default byte limit of a writer: what a Kafka frame's int32 size can carry after the size
 * field itself. */
#define KPROTO_WR_BYTES_MAX ((int64_t)INT32_MAX - 8)

/* A writer with a sticky error, like the reader: once an append would take the total past
 * `limit` bytes (buffer plus splices) or need more than KPROTO_SPLICES_MAX splices, err is set
 * to KPROTO_ERR_TOO_LARGE and every later write does nothing. The caller checks err once
 * after encoding; the output is then incomplete and must not be sent. */
typedef struct {
    sl_buf_t buf;
    kproto_splice_t *splices;
    size_t nsplices;
    size_t splice_cap;
    int64_t ext_bytes; /* total bytes of the splices */
    int64_t limit;     /* KPROTO_WR_BYTES_MAX unless the owner lowers it */
    int err;
    /* Called for an external range that is not recorded because err is set (its owner's
     * reference is released there); NULL: nothing to release. */
    void (*ext_drop)(void *ext);
    /* Called with every non-zero ErrorCode field the message codecs write (kproto_wr_error),
     * for the broker's error counters; NULL: not called. */
    void (*on_error)(void *ctx, int16_t code);
    void *on_error_ctx;
} kproto_wr_t;

/* Starts an empty writer with limit KPROTO_WR_BYTES_MAX. */
void kproto_wr_init(kproto_wr_t *wr);
void kproto_wr_deinit(kproto_wr_t *wr);
void kproto_wr_reset(kproto_wr_t *wr);
/* Total encoded length: buffer plus spliced ranges. */
static inline int64_t kproto_wr_len(const kproto_wr_t *wr)
{
    return (int64_t)wr->buf.len + wr->ext_bytes;
}
void kproto_wr_i8(kproto_wr_t *wr, int8_t v);
void kproto_wr_i16(kproto_wr_t *wr, int16_t v);
/* An ErrorCode field (the generated encoders write every int16 ErrorCode through it): as
 * kproto_wr_i16, and a non-zero code is reported to wr->on_error. */
static inline void kproto_wr_error(kproto_wr_t *wr, int16_t code)
{
    kproto_wr_i16(wr, code);
    if (code != 0 && wr->on_error) {
        wr->on_error(wr->on_error_ctx, code);
    }
}
void kproto_wr_i32(kproto_wr_t *wr, int32_t v);
void kproto_wr_i64(kproto_wr_t *wr, int64_t v);
void kproto_wr_u16(kproto_wr_t *wr, uint16_t v);
void kproto_wr_u32(kproto_wr_t *wr, uint32_t v);
void kproto_wr_f64(kproto_wr_t *wr, double v);
void kproto_wr_bool(kproto_wr_t *wr, bool v);
void kproto_wr_uvarint(kproto_wr_t *wr, uint32_t v);
void kproto_wr_varint(kproto_wr_t *wr, int32_t v);
void kproto_wr_varlong(kproto_wr_t *wr, int64_t v);
void kproto_wr_uuid(kproto_wr_t *wr, kproto_uuid_t v);
void kproto_wr_str(kproto_wr_t *wr, bool compact, kproto_str_t s);
void kproto_wr_cstr(kproto_wr_t *wr, bool compact, const char *s); /* NULL: null string */
void kproto_wr_bytes(kproto_wr_t *wr, bool compact, kproto_bytes_t b);
void kproto_wr_records(kproto_wr_t *wr, bool compact, kproto_records_t r);
void kproto_wr_array_len(kproto_wr_t *wr, bool compact, int32_t count);
void kproto_wr_raw(kproto_wr_t *wr, const void *p, size_t n);
/* Reserves 4 bytes for a length or size patched later (patching does nothing once err is
 * set). */
size_t kproto_wr_mark_i32(kproto_wr_t *wr);
void kproto_wr_patch_i32(kproto_wr_t *wr, size_t mark, int32_t v);
/* Number of bytes uvarint v takes. */
size_t kproto_uvarint_size(uint32_t v);

static inline kproto_str_t kproto_str(const char *s)
{
    kproto_str_t r = {s, s ? (int32_t)__builtin_strlen(s) : -1};
    return r;
}
static inline bool kproto_str_eq(kproto_str_t a, const char *b)
{
    return a.len >= 0 && b && (size_t)a.len == __builtin_strlen(b) &&
           __builtin_memcmp(a.ptr, b, (size_t)a.len) == 0;
}
/* Copies a decoded string to a NUL-terminated arena string (NULL for null). */
char *kproto_str_dup(sl_arena_t *arena, kproto_str_t s);

#endif
