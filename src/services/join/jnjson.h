/* jnjson: a validating JSON scanner (RFC 8259, UTF-8 checked, no tree built) that records the
 * members of a top-level object as byte spans, so the joiner can merge two objects by copying
 * bytes instead of parsing into and dumping out of a DOM. It accepts a subset of what jansson
 * accepts (jansson also takes a value followed by a NUL byte); the joiner leaves what it
 * refuses to jansson (tests/fuzz/fuzz_join_json.c checks the two). Thread: any. */
#ifndef JNJSON_H
#define JNJSON_H

#include <stdbool.h>
#include <stddef.h>

#define JNJSON_MEMBERS_MAX 64 /* members recorded; a bigger object takes the DOM path */
#define JNJSON_DEPTH_MAX 2048 /* nesting accepted: jansson's limit, so both accept the same texts */

typedef struct {
    const char *key; /* the raw key between its quotes (escapes not decoded) */
    size_t key_len;
    const char *val; /* the raw value text */
    size_t val_len;
} jnjson_member_t;

typedef enum {
    JNJSON_OK,        /* an object with its members in out */
    JNJSON_NOT_OBJECT, /* valid JSON, not an object */
    JNJSON_COMPLEX,   /* valid object the fast path declines: too many members, escaped or
                         duplicate keys */
    JNJSON_INVALID,   /* not JSON */
} jnjson_rc_t;

/* Scans p[0..len). On JNJSON_OK fills out[0..*n). */
jnjson_rc_t jnjson_object(const char *p, size_t len, jnjson_member_t *out, size_t *n);
/* True when p[0..len) is one valid JSON value (surrounded by optional whitespace). */
bool jnjson_valid(const char *p, size_t len);

#endif
