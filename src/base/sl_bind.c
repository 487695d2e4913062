/* sl_bind: property keys bound to struct fields (see sl_bind.h). */
#include "sl_bind.h"

#include "sl_common.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool sl_bind__names(const sl_bind_t *b, const char *key)
{
    if (b->kind == SL_BIND_PREFIX) {
        return strncmp(key, b->key, strlen(b->key)) == 0;
    }
    return strcmp(key, b->key) == 0;
}

static int sl_bind__num(const sl_bind_t *b, void *obj, const char *val, char *err, size_t len)
{
    int64_t v;
    if (!sl_parse_i64(val, b->min, b->max, &v)) {
        snprintf(err, len, "%s: expected an integer in [%lld, %lld], got '%s'", b->key,
                 (long long)b->min, (long long)b->max, val);
        return SL_EINVAL;
    }
    if (v > 0 && b->scale > 1) {
        assert(b->max <= INT64_MAX / b->scale); /* the table keeps the product in range */
        v *= b->scale;
    }
    char *dst = (char *)obj + b->off;
    if (b->width == 4) {
        int32_t v32 = (int32_t)v;
        assert(b->min >= INT32_MIN && b->max <= INT32_MAX);
        memcpy(dst, &v32, sizeof v32);
    } else if (b->width == 8) { /* int64_t, or size_t when min >= 0: the same bytes */
        memcpy(dst, &v, sizeof v);
    } else {
        assert(b->width == 0);
    }
    return 0;
}

static int sl_bind__one(const sl_bind_t *b, void *obj, const char *key, const char *val,
                        char *err, size_t len)
{
    switch (b->kind) {
    case SL_BIND_NUM:
        return sl_bind__num(b, obj, val, err, len);
    case SL_BIND_BOOL:
        assert(b->width == sizeof(bool));
        if (!sl_parse_bool(val, (bool *)((char *)obj + b->off))) {
            snprintf(err, len, "%s: expected true or false, got '%s'", key, val);
            return SL_EINVAL;
        }
        return 0;
    case SL_BIND_STR:
        return sl_setting_str((char *)obj + b->off, b->width, key, val, err, len);
    case SL_BIND_FN:
    case SL_BIND_PREFIX:
        return b->fn(obj, key, val, err, len);
    case SL_BIND_OTHER:
        return 0;
    }
    return 0;
}

int sl_bind_apply(const sl_bind_t *binds, size_t n, void *obj, const sl_props_t *props, char *err,
                  size_t len)
{
    for (size_t k = 0; k < n; k++) {
        const sl_bind_t *b = &binds[k];
        if (b->kind != SL_BIND_PREFIX) {
            const char *val = sl_props_get(props, b->key);
            if (val && sl_bind__one(b, obj, b->key, val, err, len) != 0) {
                return SL_EINVAL;
            }
            continue;
        }
        for (size_t i = 0; i < sl_props_count(props); i++) {
            const char *key, *val;
            sl_props_at(props, i, &key, &val);
            if (sl_bind__names(b, key) && sl_bind__one(b, obj, key, val, err, len) != 0) {
                return SL_EINVAL;
            }
        }
    }
    return 0;
}

/* Levenshtein distance of a and b, or SIZE_MAX when either is longer than the rows hold. */
static size_t sl_bind__distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    size_t row[SL_BIND_KEY_BYTES_MAX + 1];
    if (na > SL_BIND_KEY_BYTES_MAX || nb > SL_BIND_KEY_BYTES_MAX) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= nb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = SL_MIN(best, up + 1);
            best = SL_MIN(best, row[j - 1] + 1);
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

bool sl_bind_known(const sl_bind_t *binds, size_t n, const char *key)
{
    for (size_t k = 0; k < n; k++) {
        if (sl_bind__names(&binds[k], key)) {
            return true;
        }
    }
    return false;
}

const char *sl_bind_nearest(const sl_bind_t *binds, size_t n, const char *key)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = SL_MAX(strlen(key) / 3, (size_t)2);
    for (size_t k = 0; k < n; k++) {
        size_t d = sl_bind__distance(key, binds[k].key);
        if (d < best_d) {
            best_d = d;
            best = binds[k].key;
        }
    }
    return best_d <= limit ? best : NULL;
}

int sl_bind_unknown(const sl_bind_t *binds, size_t n, const sl_props_t *props, char *out,
                    size_t len)
{
    int count = 0;
    size_t used = 0;
    if (len > 0) {
        out[0] = '\0';
    }
    for (size_t i = 0; i < sl_props_count(props); i++) {
        const char *key, *val;
        sl_props_at(props, i, &key, &val);
        if (sl_bind_known(binds, n, key)) {
            continue;
        }
        const char *near = sl_bind_nearest(binds, n, key);
        if (used < len) {
            int w = snprintf(out + used, len - used, "%s'%s'%s%s%s", count ? ", " : "", key,
                             near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
            used += w > 0 ? (size_t)w : 0;
        }
        count++;
    }
    return count;
}

int sl_bind_load(const sl_bind_t *binds, size_t n, void *obj, const sl_props_t *props, char *err,
                 size_t len)
{
    char list[768];
    int unknown = sl_bind_unknown(binds, n, props, list, sizeof list);
    if (unknown > 0) {
        snprintf(err, len, "unknown setting%s %s", unknown > 1 ? "s" : "", list);
        return SL_EINVAL;
    }
    return sl_bind_apply(binds, n, obj, props, err, len);
}
