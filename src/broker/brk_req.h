/* The request context: a decoded request, its arena, duplicate checks, and its response
 * (req.c). Thread: loop. */
#ifndef BRK_REQ_H
#define BRK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brk.h"
#include "kmsg.h"
#include "kproto.h"
#include "sl_arena.h"
#include "snet.h"

typedef struct brk_req brk_req_t;

struct brk_req {
    brk_t *brk;
    snet_slot_t *slot;
    uint8_t *frame;
    sl_arena_t *arena;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    kproto_str_t client_id;
    bool flex;
    void *body; /* decoded request, in the arena */
    const char *peer;
    const char *principal; /* "User:name", in the arena; NULL without an authorizer */
    const char *host;      /* the peer's IP, in the arena; NULL without an authorizer */
    const char *adv_host; /* the address of the listener the request came through */
    int adv_port;
    int64_t read_us;   /* monotonic: the frame was read (monitoring) */
    int64_t handle_us; /* the handler was called; 0: no handler (not counted) */
};

/* Sends resp (a kmsg_<api>_resp_t) for req and frees req. */
void brk_respond(brk_req_t *req, const void *resp);
/* The same in a given version and header form (ApiVersions' answer to a version it does not
 * speak). */
void brk_respond_as(brk_req_t *req, int16_t version, bool flex_header, const void *resp);
/* Frees req without an answer (its slot is the caller's). */
void brk_req_free(brk_req_t *req);
/* Completes req with no response (acks=0) and frees it. */
void brk_respond_none(brk_req_t *req);
/* Allocates n zeroed elements from the request's arena. */
void *brk_alloc(brk_req_t *req, int32_t n, size_t size);

/* A request entry's identity for duplicate checks: bytes (a name, an id) and a tag (a
 * partition number, a resource type). */
typedef struct {
    const void *ptr;
    size_t len;
    int64_t tag;
} brk_key_t;
typedef brk_key_t (*brk_key_fn)(const void *entries, int32_t i);
/* Duplicate check of n request entries in one pass (a keyed hash set): returns first[], in the
 * arena, with first[i] the index of the first entry equal to entry i (i itself for a first
 * mention); *repeated (may be NULL) gets an arena array, true for every entry whose key
 * occurs more than once. NULL when n <= 0. */
int32_t *brk_dups(brk_req_t *req, const void *entries, int32_t n, brk_key_fn key,
                  bool **repeated);
static inline brk_key_t brk_key_str(kproto_str_t s, int64_t tag)
{
    return (brk_key_t){s.ptr, (size_t)(s.len > 0 ? s.len : 0), s.len < 0 ? tag - 1 : tag};
}

#endif
