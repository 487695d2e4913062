/* kit_json: the services' one validating JSON scanner (RFC 8259, UTF-8 checked, no tree
 * built). It checks a text is one JSON value and records the members of a top-level object as
 * byte spans, so `sluice join` merges two objects by copying bytes and `sluice jobs` picks the
 * members of a worker's reply line without a DOM. It accepts a subset of what jansson accepts
 * (jansson also takes a value followed by a NUL byte); tests/fuzz/fuzz_join_json.c checks the
 * two against each other. Thread: any (no state). */
#ifndef KIT_JSON_H
#define KIT_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Members kit_json_object records; a bigger object is KIT_JSON_COMPLEX (the join then takes
 * the DOM path). */
#define KIT_JSON_MEMBERS_MAX 64
/* Nesting (arrays and objects) accepted at most: jansson's limit, so both accept the same
 * texts. A caller may ask for less (jobs: JRUN_JSON_DEPTH_MAX). */
#define KIT_JSON_DEPTH_MAX 2048

typedef struct {
    const char *key; /* the raw key between its quotes (escapes not decoded) */
    size_t key_len;
    const char *val; /* the raw value text (a string with its quotes) */
    size_t val_len;
} kit_json_member_t;

typedef enum {
    KIT_JSON_OK,         /* an object with its members in out */
    KIT_JSON_NOT_OBJECT, /* valid JSON, not an object */
    KIT_JSON_COMPLEX,    /* valid object the fast path declines: more than KIT_JSON_MEMBERS_MAX
                            members (the first ones in out), escaped or duplicate keys (all in
                            out, in text order) */
    KIT_JSON_INVALID,    /* not JSON, or nested deeper than depth_max */
} kit_json_rc_t;

/* Scans p[0..len) (len 0 is invalid), nested at most depth_max deep (1..KIT_JSON_DEPTH_MAX).
 * On KIT_JSON_OK and KIT_JSON_COMPLEX fills out[0..*n), pointing into p; *n is 0 otherwise. */
kit_json_rc_t kit_json_object(const char *p, size_t len, int depth_max, kit_json_member_t *out,
                              size_t *n);
/* True when p[0..len) is one valid JSON value (surrounded by optional whitespace) nested at
 * most depth_max deep. */
bool kit_json_valid(const char *p, size_t len, int depth_max);
/* Decodes a string token that kit_json validated (tok[0..len), quotes included) into out
 * (cap bytes with the NUL; cap >= 1). Returns the decoded length, or -1 when it did not fit
 * (out then holds the part that did, NUL-terminated). */
long kit_json_unescape(const char *tok, size_t len, char *out, size_t cap);
/* Length of the valid UTF-8 sequence at p (of the n bytes there): 1 for ASCII, 2..4, or 0 when
 * p does not start one (overlong, surrogate, past U+10FFFF, cut short, n == 0). */
size_t kit_json_utf8_len(const unsigned char *p, size_t n);

#endif
