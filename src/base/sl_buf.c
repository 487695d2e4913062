/* Growable byte buffer: doubling growth, aborting on allocation failure. */
#include "sl_buf.h"
#include "sl_common.h"

#include <stdlib.h>

void sl_buf_init(sl_buf_t *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void sl_buf_deinit(sl_buf_t *buf)
{
    free(buf->data);
    sl_buf_init(buf);
}

uint8_t *sl_buf_reserve(sl_buf_t *buf, size_t n)
{
    if (buf->cap - buf->len < n) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap - buf->len < n) {
            SL_ASSERT(cap < SIZE_MAX / 2);
            cap *= 2;
        }
        buf->data = sl_xrealloc(buf->data, cap);
        buf->cap = cap;
    }
    return buf->data + buf->len;
}

void sl_buf_append(sl_buf_t *buf, const void *p, size_t n)
{
    if (n == 0) {
        return;
    }
    memcpy(sl_buf_reserve(buf, n), p, n);
    buf->len += n;
}

uint8_t *sl_buf_steal(sl_buf_t *buf, size_t *len)
{
    uint8_t *p = buf->data;
    *len = buf->len;
    sl_buf_init(buf);
    return p;
}
