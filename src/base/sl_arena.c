/* Arena: a list of chunks, the first kept across resets; large requests get their own chunk. */
#include "sl_arena.h"
#include "sl_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct sl_arena_chunk {
    struct sl_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
} sl_arena_chunk_t;

struct sl_arena {
    sl_arena_chunk_t *head;
    size_t chunk_bytes;
    size_t total;
};

static sl_arena_chunk_t *sl__arena_chunk_new(size_t cap)
{
    sl_arena_chunk_t *chunk = sl_xmalloc(sizeof *chunk + cap);
    chunk->next = NULL;
    chunk->cap = cap;
    chunk->used = 0;
    return chunk;
}

sl_arena_t *sl_arena_new(size_t chunk_bytes)
{
    sl_arena_t *arena = sl_xcalloc(1, sizeof *arena);
    arena->chunk_bytes = chunk_bytes < 1024 ? 1024 : chunk_bytes;
    arena->head = sl__arena_chunk_new(arena->chunk_bytes);
    return arena;
}

void sl_arena_free(sl_arena_t *arena)
{
    if (!arena) {
        return;
    }
    sl_arena_chunk_t *chunk = arena->head;
    while (chunk) {
        sl_arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(arena);
}

void *sl_arena_alloc(sl_arena_t *arena, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    sl_arena_chunk_t *chunk = arena->head;
    if (chunk->cap - chunk->used < n) {
        size_t cap = n > arena->chunk_bytes ? n : arena->chunk_bytes;
        sl_arena_chunk_t *fresh = sl__arena_chunk_new(cap);
        fresh->next = arena->head;
        arena->head = fresh;
        chunk = fresh;
    }
    void *p = chunk->data + chunk->used;
    chunk->used += n;
    arena->total += n;
    memset(p, 0, n);
    return p;
}

void sl_arena_reset(sl_arena_t *arena)
{
    sl_arena_chunk_t *chunk = arena->head;
    while (chunk->next) {
        sl_arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    /* The last chunk in the list is the original one of chunk_bytes. */
    if (chunk->cap != arena->chunk_bytes) {
        free(chunk);
        chunk = sl__arena_chunk_new(arena->chunk_bytes);
    }
    chunk->used = 0;
    arena->head = chunk;
    arena->total = 0;
}

size_t sl_arena_used(const sl_arena_t *arena)
{
    return arena->total;
}
