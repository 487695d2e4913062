/* Property sets as a small array in insertion order; lookups are linear (<= 1024 keys,
 * read at start-up and on config changes only). */
#include "sl_props.h"
#include "sl_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    char *value;
} sl_prop_t;

struct sl_props {
    sl_prop_t *items;
    size_t count;
    size_t cap; /* grows by doubling up to SL_PROPS_COUNT_MAX (a topic has a few overrides) */
};

sl_props_t *sl_props_new(void)
{
    return sl_xcalloc(1, sizeof(sl_props_t));
}

void sl_props_free(sl_props_t *props)
{
    if (!props) {
        return;
    }
    for (size_t i = 0; i < props->count; i++) {
        free(props->items[i].key);
        free(props->items[i].value);
    }
    free(props->items);
    free(props);
}

int sl_props_set(sl_props_t *props, const char *key, const char *value)
{
    for (size_t i = 0; i < props->count; i++) {
        if (strcmp(props->items[i].key, key) == 0) {
            free(props->items[i].value);
            props->items[i].value = sl_xstrdup(value);
            return 0;
        }
    }
    if (props->count == SL_PROPS_COUNT_MAX) {
        return SL_ELIMIT;
    }
    if (props->count == props->cap) {
        props->cap = SL_MIN(props->cap ? props->cap * 2 : 8, (size_t)SL_PROPS_COUNT_MAX);
        props->items = sl_xrealloc(props->items, props->cap * sizeof *props->items);
    }
    props->items[props->count].key = sl_xstrdup(key);
    props->items[props->count].value = sl_xstrdup(value);
    props->count++;
    return 0;
}

static char *sl__trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* Splits line at the first '=' or ':' and stores the pair; SL_EINVAL when malformed. */
static int sl__props_line(sl_props_t *props, char *line)
{
    char *s = sl__trim(line);
    if (*s == '\0' || *s == '#' || *s == '!') {
        return 0;
    }
    size_t klen = strcspn(s, "=:");
    if (s[klen] == '\0' || s[strlen(s) - 1] == '\\') {
        return SL_EINVAL;
    }
    s[klen] = '\0';
    char *key = sl__trim(s);
    if (*key == '\0') {
        return SL_EINVAL;
    }
    return sl_props_set(props, key, sl__trim(s + klen + 1));
}

int sl_props_set_kv(sl_props_t *props, const char *kv)
{
    if (strlen(kv) >= SL_PROPS_LINE_BYTES_MAX || !strchr(kv, '=')) {
        return SL_EINVAL;
    }
    char line[SL_PROPS_LINE_BYTES_MAX];
    snprintf(line, sizeof line, "%s", kv);
    return sl__props_line(props, line);
}

int sl_props_load(sl_props_t *props, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        snprintf(err, err_len, "%s: %s", path, sl_strerror(rc));
        return rc;
    }
    char line[SL_PROPS_LINE_BYTES_MAX];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(err, err_len, "%s:%d: line longer than %d bytes", path, lineno,
                     SL_PROPS_LINE_BYTES_MAX);
            rc = SL_ELIMIT;
            break;
        }
        rc = sl__props_line(props, line);
        if (rc != 0) {
            snprintf(err, err_len, "%s:%d: %s", path, lineno,
                     rc == SL_ELIMIT ? "too many keys" : "expected key=value");
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *sl_props_get(const sl_props_t *props, const char *key)
{
    for (size_t i = 0; i < props->count; i++) {
        if (strcmp(props->items[i].key, key) == 0) {
            return props->items[i].value;
        }
    }
    return NULL;
}

size_t sl_props_count(const sl_props_t *props)
{
    return props->count;
}

void sl_props_at(const sl_props_t *props, size_t i, const char **key, const char **value)
{
    SL_ASSERT(i < props->count);
    *key = props->items[i].key;
    *value = props->items[i].value;
}

bool sl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || *s == '\0') {
        return false;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool sl_parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(s, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

int sl_setting_fail(char *err, size_t len, const char *key, const char *why)
{
    snprintf(err, len, "%s: %s", key, why);
    return SL_EINVAL;
}

int sl_setting_str(char *dst, size_t cap, const char *key, const char *val, char *err,
                   size_t len)
{
    size_t n = strlen(val);
    if (n >= cap) {
        return sl_setting_fail(err, len, key, "too long");
    }
    memcpy(dst, val, n + 1);
    return 0;
}

int sl_setting_i64(int64_t *dst, int64_t min, int64_t max, const char *key, const char *val,
                   char *err, size_t len)
{
    if (!sl_parse_i64(val, min, max, dst)) {
        char why[96];
        snprintf(why, sizeof why, "want an integer in [%lld, %lld]", (long long)min,
                 (long long)max);
        return sl_setting_fail(err, len, key, why);
    }
    return 0;
}

int sl_setting_bool(bool *dst, const char *key, const char *val, char *err, size_t len)
{
    return sl_parse_bool(val, dst) ? 0 : sl_setting_fail(err, len, key, "want true or false");
}
