/* sl_bind: typed binding of property keys to the fields of a settings struct. A component
 * declares one table of sl_bind_t (key, kind, field, range) and sl_bind_apply parses every key
 * the properties name into the struct; sl_bind_unknown lists, all at once, the keys no entry
 * names, each with the nearest known key ("did you mean num.partitions?").
 *
 * Entries are applied in table order, so of two keys for one field the later entry wins
 * (Kafka's log.retention.ms over .minutes over .hours); keys under a prefix entry are applied in
 * the order the properties give them. */
#ifndef SL_BIND_H
#define SL_BIND_H

#include "sl_props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key compared for "did you mean" (Kafka's longest is under 80). */
#define SL_BIND_KEY_BYTES_MAX 128

typedef enum {
    SL_BIND_NUM,    /* a whole decimal in [min, max] into an int32/int64/size_t field (width) */
    SL_BIND_BOOL,   /* true or false into a bool field */
    SL_BIND_STR,    /* a string into a char[width] field; "too long" otherwise */
    SL_BIND_FN,     /* the key's value is parsed by fn */
    SL_BIND_PREFIX, /* every key starting with key (e.g. "type.") is parsed by fn */
    SL_BIND_OTHER,  /* a known key that another part of the program parses */
} sl_bind_kind_t;

/* Parses val for key into obj; 0, or SL_EINVAL with "key: reason" in err. */
typedef int (*sl_bind_fn_t)(void *obj, const char *key, const char *val, char *err, size_t len);

typedef struct {
    const char *key;
    sl_bind_kind_t kind;
    size_t off;     /* the field's offset in the struct */
    size_t width;   /* NUM: 4 or 8 (0: validated, not stored); BOOL: 1; STR: the array's size */
    int64_t min, max;
    int64_t scale;  /* NUM: multiplier of non-negative values (minutes to ms), 0 means 1 */
    sl_bind_fn_t fn;
} sl_bind_t;

#define SL_BIND_FIELD_(T, f) offsetof(T, f), sizeof(((T *)0)->f)
/* A number in [lo, hi] into T's int, int32_t, int64_t or size_t field f. */
#define SL_BIND_NUM(T, k, f, lo, hi) {k, SL_BIND_NUM, SL_BIND_FIELD_(T, f), lo, hi, 1, NULL}
/* A number in [lo, hi], times scale, into T's int64_t field f. */
#define SL_BIND_SCALED(T, k, f, lo, hi, s) {k, SL_BIND_NUM, SL_BIND_FIELD_(T, f), lo, hi, s, NULL}
/* A number that must lie in [lo, hi] and is not stored. */
#define SL_BIND_CHECK(k, lo, hi) {k, SL_BIND_NUM, 0, 0, lo, hi, 1, NULL}
#define SL_BIND_BOOL(T, k, f) {k, SL_BIND_BOOL, SL_BIND_FIELD_(T, f), 0, 1, 1, NULL}
#define SL_BIND_STR(T, k, f) {k, SL_BIND_STR, SL_BIND_FIELD_(T, f), 0, 0, 1, NULL}
#define SL_BIND_FN(k, fn) {k, SL_BIND_FN, 0, 0, 0, 0, 1, fn}
#define SL_BIND_PREFIX(k, fn) {k, SL_BIND_PREFIX, 0, 0, 0, 0, 1, fn}
#define SL_BIND_OTHER(k) {k, SL_BIND_OTHER, 0, 0, 0, 0, 1, NULL}

/* Parses every key of props that the n entries of binds name into obj, in table order. Stops at
 * the first bad value: SL_EINVAL with "key: reason" in err. Unknown keys are not looked at. */
int sl_bind_apply(const sl_bind_t *binds, size_t n, void *obj, const sl_props_t *props, char *err,
                  size_t len);

/* The keys of props that no entry names, in the order given, as "'key' (did you mean near?)"
 * (the hint when a known key is within a third of the key's length in edits, at least 2),
 * comma-separated into out (truncated to len). Returns how many there are. */
int sl_bind_unknown(const sl_bind_t *binds, size_t n, const sl_props_t *props, char *out,
                    size_t len);

/* Whether an entry names key. */
bool sl_bind_known(const sl_bind_t *binds, size_t n, const char *key);

/* The known key nearest to key when close enough to be a typo, else NULL. */
const char *sl_bind_nearest(const sl_bind_t *binds, size_t n, const char *key);

/* sl_bind_apply, then any unknown key is an error: "unknown setting 'x' (did you mean y?)",
 * every unknown key named. For services, whose settings files have no keys of other programs. */
int sl_bind_load(const sl_bind_t *binds, size_t n, void *obj, const sl_props_t *props, char *err,
                 size_t len);

#endif
