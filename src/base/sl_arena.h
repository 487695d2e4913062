/* Bump allocator for per-request data: decoded requests point into their frame and live in
 * an arena that is reset when the response is queued. Memory is zeroed. Aborts on OOM;
 * total size is bounded by the caller's frame limit. Not thread-safe. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stddef.h>

typedef struct sl_arena sl_arena_t;

sl_arena_t *sl_arena_new(size_t chunk_bytes);
void sl_arena_free(sl_arena_t *arena);
/* Returns zeroed memory aligned to 16 bytes, valid until the next reset or free. */
void *sl_arena_alloc(sl_arena_t *arena, size_t n);
/* Releases everything; keeps the first chunk for reuse. */
void sl_arena_reset(sl_arena_t *arena);
/* Bytes handed out since the last reset. */
size_t sl_arena_used(const sl_arena_t *arena);

#endif
