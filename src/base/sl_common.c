/* Error strings, assertion failure and aborting allocators. */
#include "sl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sl_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case SL_EAGAIN: return "not yet";
    case SL_ECORRUPT: return "corrupt data";
    case SL_ELIMIT: return "limit exceeded";
    case SL_ENOTFOUND: return "not found";
    case SL_EEXIST: return "already exists";
    case SL_EINVAL: return "invalid argument";
    case SL_ERANGE: return "out of range";
    case SL_ENOMEM: return "out of memory";
    case SL_ECLOSED: return "closed";
    default: break;
    }
    if (err < 0 && err > -4096) {
        return strerror(-err);
    }
    return "unknown error";
}

void sl__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sluice: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

static void *sl__oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : sl__oom(n);
}

void *sl_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    return p ? p : sl__oom(n * sz);
}

void *sl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : sl__oom(n);
}

char *sl_xstrdup(const char *s)
{
    return sl_xstrndup(s, strlen(s));
}

char *sl_xstrndup(const char *s, size_t n)
{
    char *p = sl_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
