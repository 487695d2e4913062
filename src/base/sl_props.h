/* Java-style .properties: "key=value" or "key: value" lines, '#'/'!' comments, surrounding
 * spaces trimmed. Later settings override earlier ones (so flags given after --config win).
 * Continuation lines and unicode escapes are not supported and are rejected as errors. */
#ifndef SL_PROPS_H
#define SL_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_PROPS_COUNT_MAX 1024      /* keys in one property set */
#define SL_PROPS_LINE_BYTES_MAX 8192 /* one line in a file */

typedef struct sl_props sl_props_t;

sl_props_t *sl_props_new(void);
void sl_props_free(sl_props_t *props);
/* Loads a file. On a bad line returns SL_EINVAL and writes "file:line: reason" to err. */
int sl_props_load(sl_props_t *props, const char *path, char *err, size_t err_len);
/* Parses "key=value" (as given to --set). SL_EINVAL when there is no '='. */
int sl_props_set_kv(sl_props_t *props, const char *kv);
int sl_props_set(sl_props_t *props, const char *key, const char *value);
/* NULL when absent. The pointer lives as long as props or until the key is set again. */
const char *sl_props_get(const sl_props_t *props, const char *key);
size_t sl_props_count(const sl_props_t *props);
/* i-th key/value in insertion order, for i < count. */
void sl_props_at(const sl_props_t *props, size_t i, const char **key, const char **value);

/* Parses a whole decimal integer in [min, max]; false otherwise. */
bool sl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
bool sl_parse_bool(const char *s, bool *out);

/* Helpers of the services' setting parsers. Each stores a parsed value and returns 0, or
 * returns SL_EINVAL with "key: reason" in err (dst untouched). */
int sl_setting_fail(char *err, size_t len, const char *key, const char *why);
/* Copies val into dst (cap bytes with the NUL); "too long" otherwise. */
int sl_setting_str(char *dst, size_t cap, const char *key, const char *val, char *err,
                   size_t len);
/* A whole decimal integer in [min, max]. */
int sl_setting_i64(int64_t *dst, int64_t min, int64_t max, const char *key, const char *val,
                   char *err, size_t len);
/* true or false. */
int sl_setting_bool(bool *dst, const char *key, const char *val, char *err, size_t len);

#endif
