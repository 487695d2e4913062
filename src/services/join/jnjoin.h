/* jnjoin: the join semantics of `sluice join` and its joiner, pure functions with no I/O.
 * Which input record emits what follows Kafka Streams (KStream-KTable and KTable-KTable joins
 * without old values): the stream side triggers and is never stored; a table side is stored and,
 * in table-table joins, also triggers; a table tombstone deletes its key and, where a joined
 * result could exist, is propagated as an output tombstone. Thread: any. */
#ifndef JNJOIN_H
#define JNJOIN_H

#include "sl_buf.h"

#include <stdbool.h>
#include <stddef.h>

#define JN_NAME_BYTES_MAX 64          /* merge.left.name / merge.right.name */
#define JN_TEMPLATE_BYTES_MAX 4096    /* merge.template */
#define JN_VALUE_BYTES_MAX (8u << 20) /* one input value the joiner accepts */

typedef enum { JN_ST_INNER, JN_ST_LEFT, JN_TT_INNER, JN_TT_LEFT, JN_TT_OUTER } jn_type_t;
typedef enum { JN_LEFT = 0, JN_RIGHT = 1 } jn_side_t;
typedef enum { JN_EMIT_NONE, JN_EMIT_VALUE, JN_EMIT_TOMBSTONE } jn_emit_t;
/* merge: top-level JSON object merge; nest: {"<left name>": l, "<right name>": r};
 * template: raw bytes with {left} and {right} replaced by the raw values. */
typedef enum { JN_MERGE_TOP, JN_MERGE_NEST, JN_MERGE_TEMPLATE } jn_mode_t;

/* A value; p == NULL means absent (no record, or a tombstone). */
typedef struct {
    const void *p;
    size_t len;
} jn_bytes_t;

/* Parses "stream-table-inner" ... "table-table-outer"; false on anything else. */
bool jn_type_parse(const char *s, jn_type_t *out);
const char *jn_type_name(jn_type_t type);
/* True when records of side are kept in the state store (table sides). */
bool jn_side_stored(jn_type_t type, jn_side_t side);
/* What a record of side emits: present says whether the record has a value (false: a
 * tombstone), other_present whether the other side holds a value for the key now. */
jn_emit_t jn_decide(jn_type_t type, jn_side_t side, bool present, bool other_present);

typedef struct {
    jn_mode_t mode;
    jn_side_t precedence;                   /* merge: whose field wins a name clash */
    char left_name[JN_NAME_BYTES_MAX + 1];  /* nest */
    char right_name[JN_NAME_BYTES_MAX + 1]; /* nest */
    char template_text[JN_TEMPLATE_BYTES_MAX + 1];
} jn_joiner_t;

/* Fills the defaults: merge mode, left precedence, names "left" and "right". */
void jn_joiner_init(jn_joiner_t *jn);
/* Checks that a value is acceptable to the joiner (merge: a JSON object; nest: any JSON value;
 * template: anything). Returns 0, or SL_EINVAL with the reason in why. */
int jn_check(const jn_joiner_t *jn, jn_bytes_t v, char *why, size_t why_len);
/* Joins left and right (either may be absent, not both) and appends the result to out.
 * Returns 0, or SL_EINVAL with the reason in why (out then holds no partial result). */
int jn_join(const jn_joiner_t *jn, jn_bytes_t left, jn_bytes_t right, sl_buf_t *out, char *why,
            size_t why_len);

#endif
