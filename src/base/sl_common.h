/* Common definitions for every Sluice layer: error values, assertions, small helpers.
 * Errors are values: functions return 0 or a negative SL_E* (system failures are -errno,
 * as in libuv). SL_E* values sit below -4096 so they never collide with -errno. */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SL_EAGAIN = -5001,   /* not yet: call again later (more bytes, more data) */
    SL_ECORRUPT = -5002, /* bytes from disk or wire fail validation */
    SL_ELIMIT = -5003,   /* a named limit was exceeded */
    SL_ENOTFOUND = -5004,
    SL_EEXIST = -5005,
    SL_EINVAL = -5006,   /* invalid argument from outside */
    SL_ERANGE = -5007,   /* offset or index out of range */
    SL_ENOMEM = -5008,
    SL_ECLOSED = -5009,
};

/* Human-readable text for 0, SL_E* or -errno. Thread: any. */
const char *sl_strerror(int err);

void sl__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Always on: invariants of our own state (never bytes from a socket or disk). */
#define SL_ASSERT(e) ((e) ? (void)0 : sl__assert_fail(#e, __FILE__, __LINE__))
#ifdef SL_DEBUG
#define SL_DASSERT(e) SL_ASSERT(e)
#else
#define SL_DASSERT(e) ((void)0)
#endif
#define SL_STATIC_ASSERT(e, msg) _Static_assert(e, msg)

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_UNUSED(x) ((void)(x))

/* Allocation that aborts on failure: only for our own bounded bookkeeping. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t sz);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);

#endif
