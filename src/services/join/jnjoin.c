/* jnjoin: join decisions and the joiner (JSON merge, nesting, raw template). */
#include "jnjoin.h"

#include "kit_json.h"
#include "sl_common.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const jn__type_names[] = {
    [JN_ST_INNER] = "stream-table-inner", [JN_ST_LEFT] = "stream-table-left",
    [JN_TT_INNER] = "table-table-inner",  [JN_TT_LEFT] = "table-table-left",
    [JN_TT_OUTER] = "table-table-outer",
};

bool jn_type_parse(const char *s, jn_type_t *out)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(jn__type_names); i++) {
        if (strcmp(s, jn__type_names[i]) == 0) {
            *out = (jn_type_t)i;
            return true;
        }
    }
    return false;
}

const char *jn_type_name(jn_type_t type)
{
    SL_ASSERT((size_t)type < SL_ARRAY_LEN(jn__type_names));
    return jn__type_names[type];
}

bool jn_side_stored(jn_type_t type, jn_side_t side)
{
    return side == JN_RIGHT || (type != JN_ST_INNER && type != JN_ST_LEFT);
}

jn_emit_t jn_decide(jn_type_t type, jn_side_t side, bool present, bool other_present)
{
    switch (type) {
    case JN_ST_INNER: /* a stream tombstone has nothing to join (Kafka Streams drops it) */
        return side == JN_LEFT && present && other_present ? JN_EMIT_VALUE : JN_EMIT_NONE;
    case JN_ST_LEFT:
        return side == JN_LEFT && present ? JN_EMIT_VALUE : JN_EMIT_NONE;
    case JN_TT_INNER:
        if (!other_present) {
            return JN_EMIT_NONE;
        }
        return present ? JN_EMIT_VALUE : JN_EMIT_TOMBSTONE;
    case JN_TT_LEFT:
        if (side == JN_LEFT) {
            return present ? JN_EMIT_VALUE : JN_EMIT_TOMBSTONE;
        }
        return other_present ? JN_EMIT_VALUE : JN_EMIT_NONE; /* left row joined with new right */
    case JN_TT_OUTER:
        return present || other_present ? JN_EMIT_VALUE : JN_EMIT_TOMBSTONE;
    }
    SL_ASSERT(!"unknown join type");
    return JN_EMIT_NONE;
}

void jn_joiner_init(jn_joiner_t *jn)
{
    memset(jn, 0, sizeof *jn);
    jn->mode = JN_MERGE_TOP;
    jn->precedence = JN_LEFT;
    strcpy(jn->left_name, "left");
    strcpy(jn->right_name, "right");
}

static json_t *jn__parse(jn_bytes_t v, bool object, char *why, size_t why_len)
{
    if (v.len > JN_VALUE_BYTES_MAX) {
        snprintf(why, why_len, "value of %zu bytes over the joiner's limit of %u", v.len,
                 JN_VALUE_BYTES_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *o = json_loadb(v.p, v.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!o) {
        snprintf(why, why_len, "value is not JSON: %s at byte %d", jerr.text, jerr.position);
        return NULL;
    }
    if (object && !json_is_object(o)) {
        snprintf(why, why_len, "value is not a JSON object (merge mode)");
        json_decref(o);
        return NULL;
    }
    return o;
}

int jn_check(const jn_joiner_t *jn, jn_bytes_t v, char *why, size_t why_len)
{
    SL_ASSERT(v.p);
    if (jn->mode == JN_MERGE_TEMPLATE) {
        return 0;
    }
    if (v.len <= JN_VALUE_BYTES_MAX) { /* what the scanner accepts, jansson accepts */
        kit_json_member_t m[KIT_JSON_MEMBERS_MAX];
        size_t n = 0;
        kit_json_rc_t rc = jn->mode == JN_MERGE_TOP
                               ? kit_json_object(v.p, v.len, KIT_JSON_DEPTH_MAX, m, &n)
                           : kit_json_valid(v.p, v.len, KIT_JSON_DEPTH_MAX) ? KIT_JSON_OK
                                                                            : KIT_JSON_INVALID;
        if (rc == KIT_JSON_OK || rc == KIT_JSON_COMPLEX) {
            return 0;
        }
    }
    /* jansson decides the rest (it also takes a value followed by a NUL byte) and words the
     * reason. */
    json_t *o = jn__parse(v, jn->mode == JN_MERGE_TOP, why, why_len);
    json_decref(o);
    return o ? 0 : SL_EINVAL;
}

static int jn__append_cb(const char *p, size_t n, void *arg)
{
    sl_buf_append(arg, p, n);
    return 0;
}

/* Merges two scanned objects by copying member bytes: left's members in order (a clash takes
 * the value of the side with precedence), then right's members left has not. */
static void jn__merge_spans(const jn_joiner_t *jn, const kit_json_member_t *lm, size_t ln,
                            const kit_json_member_t *rm, size_t rn, sl_buf_t *out)
{
    bool used[KIT_JSON_MEMBERS_MAX] = {false};
    bool first = true;
    sl_buf_append(out, "{", 1);
    for (size_t pass = 0; pass < 2; pass++) {
        const kit_json_member_t *ms = pass == 0 ? lm : rm;
        size_t n = pass == 0 ? ln : rn;
        for (size_t i = 0; i < n; i++) {
            const kit_json_member_t *m = &ms[i];
            if (pass == 1 && used[i]) {
                continue;
            }
            for (size_t j = 0; pass == 0 && j < rn; j++) {
                if (rm[j].key_len == m->key_len && memcmp(rm[j].key, m->key, m->key_len) == 0) {
                    used[j] = true;
                    m = jn->precedence == JN_RIGHT ? &rm[j] : m;
                    break;
                }
            }
            sl_buf_append(out, first ? "\"" : ",\"", first ? 1 : 2);
            sl_buf_append(out, m->key, m->key_len);
            sl_buf_append(out, "\":", 2);
            sl_buf_append(out, m->val, m->val_len);
            first = false;
        }
    }
    sl_buf_append(out, "}", 1);
}

/* The fast path: true when both present sides scanned as plain objects and were merged. */
static bool jn__merge_fast(const jn_joiner_t *jn, jn_bytes_t l, jn_bytes_t r, sl_buf_t *out)
{
    kit_json_member_t lm[KIT_JSON_MEMBERS_MAX], rm[KIT_JSON_MEMBERS_MAX];
    size_t ln = 0, rn = 0;
    if ((l.p && (l.len > JN_VALUE_BYTES_MAX ||
                 kit_json_object(l.p, l.len, KIT_JSON_DEPTH_MAX, lm, &ln) != KIT_JSON_OK)) ||
        (r.p && (r.len > JN_VALUE_BYTES_MAX ||
                 kit_json_object(r.p, r.len, KIT_JSON_DEPTH_MAX, rm, &rn) != KIT_JSON_OK))) {
        return false;
    }
    jn__merge_spans(jn, lm, ln, rm, rn, out);
    return true;
}

/* The DOM path (jansson): objects the fast path declines, and the reason for a rejection. */
static int jn__merge(const jn_joiner_t *jn, jn_bytes_t l, jn_bytes_t r, sl_buf_t *out, char *why,
                     size_t why_len)
{
    if (jn__merge_fast(jn, l, r, out)) {
        return 0;
    }
    json_t *lo = l.p ? jn__parse(l, true, why, why_len) : NULL;
    if (l.p && !lo) {
        return SL_EINVAL;
    }
    json_t *ro = r.p ? jn__parse(r, true, why, why_len) : NULL;
    if (r.p && !ro) {
        json_decref(lo);
        return SL_EINVAL;
    }
    json_t *res = lo ? lo : ro;
    if (lo && ro) { /* left's field order, right's new fields after; precedence on clashes */
        if (jn->precedence == JN_RIGHT) {
            json_object_update(lo, ro);
        } else {
            json_object_update_missing(lo, ro);
        }
        json_decref(ro);
    }
    json_dump_callback(res, jn__append_cb, out, JSON_COMPACT);
    json_decref(res);
    return 0;
}

/* {"<left>": l, "<right>": r} built from the raw (validated) texts; names are plain words. */
static int jn__nest(const jn_joiner_t *jn, jn_bytes_t l, jn_bytes_t r, sl_buf_t *out, char *why,
                    size_t why_len)
{
    jn_bytes_t v[2] = {l, r};
    for (int i = 0; i < 2; i++) {
        if (v[i].p && jn_check(jn, v[i], why, why_len) != 0) {
            return SL_EINVAL;
        }
    }
    const char *names[2] = {jn->left_name, jn->right_name};
    for (int i = 0; i < 2; i++) {
        sl_buf_append(out, i == 0 ? "{\"" : ",\"", 2);
        sl_buf_append(out, names[i], strlen(names[i]));
        sl_buf_append(out, "\":", 2);
        if (v[i].p) {
            sl_buf_append(out, v[i].p, v[i].len);
        } else {
            sl_buf_append(out, "null", 4);
        }
    }
    sl_buf_append(out, "}", 1);
    return 0;
}

static void jn__template(const jn_joiner_t *jn, jn_bytes_t l, jn_bytes_t r, sl_buf_t *out)
{
    const char *p = jn->template_text;
    while (*p) {
        if (strncmp(p, "{left}", 6) == 0 || strncmp(p, "{right}", 7) == 0) {
            jn_bytes_t v = p[1] == 'l' ? l : r;
            if (v.p) {
                sl_buf_append(out, v.p, v.len);
            }
            p += p[1] == 'l' ? 6 : 7;
            continue;
        }
        sl_buf_append(out, p, 1);
        p++;
    }
}

int jn_join(const jn_joiner_t *jn, jn_bytes_t left, jn_bytes_t right, sl_buf_t *out, char *why,
            size_t why_len)
{
    SL_ASSERT(left.p || right.p);
    size_t mark = out->len;
    int rc = 0;
    switch (jn->mode) {
    case JN_MERGE_TOP:
        rc = jn__merge(jn, left, right, out, why, why_len);
        break;
    case JN_MERGE_NEST:
        rc = jn__nest(jn, left, right, out, why, why_len);
        break;
    case JN_MERGE_TEMPLATE:
        jn__template(jn, left, right, out);
        break;
    }
    if (rc != 0) {
        out->len = mark;
    }
    return rc;
}
