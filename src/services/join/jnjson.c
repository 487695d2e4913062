/* jnjson: recursive-descent JSON validation over a bounded reader (see jnjson.h). */
#include "jnjson.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end;
    int depth;
} jnjson_rd_t;

static void jnjson__ws(jnjson_rd_t *rd)
{
    while (rd->p < rd->end && (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n' || *rd->p == '\r')) {
        rd->p++;
    }
}

/* One UTF-8 sequence starting at a byte >= 0x80 (no overlongs, surrogates or > U+10FFFF). */
static bool jnjson__utf8(jnjson_rd_t *rd)
{
    unsigned c = *rd->p;
    int n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || rd->end - rd->p <= n) {
        return false;
    }
    unsigned lo = 0x80, hi = 0xbf, c1 = rd->p[1];
    if (c == 0xe0) {
        lo = 0xa0;
    } else if (c == 0xed) {
        hi = 0x9f;
    } else if (c == 0xf0) {
        lo = 0x90;
    } else if (c == 0xf4) {
        hi = 0x8f;
    }
    if (c1 < lo || c1 > hi) {
        return false;
    }
    for (int i = 2; i <= n; i++) {
        if ((rd->p[i] & 0xc0) != 0x80) {
            return false;
        }
    }
    rd->p += n + 1;
    return true;
}

/* The code unit of the 4 hex digits at p, or -1. */
static int32_t jnjson__hex4(const unsigned char *p)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* The length of the \u escape at p (6, or 12 for a surrogate pair), or 0 when it is not
 * one code point: a malformed escape or a lone surrogate, which jansson refuses too. */
static size_t jnjson__uescape(const unsigned char *p, const unsigned char *end)
{
    int32_t hi = end - p >= 6 ? jnjson__hex4(p + 2) : -1;
    if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff)) {
        return 0;
    }
    if (hi < 0xd800 || hi > 0xdbff) {
        return 6;
    }
    int32_t lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? jnjson__hex4(p + 8) : -1;
    return lo >= 0xdc00 && lo <= 0xdfff ? 12 : 0;
}

/* Bytes a string runs over without a closer look: printable ASCII but '"' and '\\'. */
static const bool jnjson__plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* A string; *escaped tells whether it held a backslash. An object key may not hold U+0000
 * (jansson refuses it there even with JSON_ALLOW_NUL, which lets values hold it). */
static bool jnjson__string(jnjson_rd_t *rd, bool key, bool *escaped)
{
    rd->p++; /* the opening quote */
    *escaped = false;
    while (rd->p < rd->end) {
        while (rd->end - rd->p >= 4 && jnjson__plain[rd->p[0]] && jnjson__plain[rd->p[1]] &&
               jnjson__plain[rd->p[2]] && jnjson__plain[rd->p[3]]) {
            rd->p += 4;
        }
        if (rd->p == rd->end) {
            break;
        }
        unsigned char c = *rd->p;
        if (c == '"') {
            rd->p++;
            return true;
        }
        if (c < 0x20) {
            return false;
        }
        if (c == '\\') {
            *escaped = true;
            if (rd->end - rd->p < 2) {
                return false;
            }
            unsigned char e = rd->p[1];
            if (e == 'u') {
                size_t n = jnjson__uescape(rd->p, rd->end);
                if (n == 0 || (key && jnjson__hex4(rd->p + 2) == 0)) {
                    return false;
                }
                rd->p += n;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                rd->p += 2;
            } else {
                return false;
            }
        } else if (c >= 0x80) {
            if (!jnjson__utf8(rd)) {
                return false;
            }
        } else {
            rd->p++;
        }
    }
    return false;
}

static bool jnjson__digits(jnjson_rd_t *rd)
{
    const unsigned char *s = rd->p;
    while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9') {
        rd->p++;
    }
    return rd->p > s;
}

static bool jnjson__number(jnjson_rd_t *rd)
{
    if (*rd->p == '-') {
        rd->p++;
    }
    if (rd->p < rd->end && *rd->p == '0') {
        rd->p++;
    } else if (!jnjson__digits(rd)) {
        return false;
    }
    if (rd->p < rd->end && *rd->p == '.') {
        rd->p++;
        if (!jnjson__digits(rd)) {
            return false;
        }
    }
    if (rd->p < rd->end && (*rd->p == 'e' || *rd->p == 'E')) {
        rd->p++;
        if (rd->p < rd->end && (*rd->p == '+' || *rd->p == '-')) {
            rd->p++;
        }
        return jnjson__digits(rd);
    }
    return true;
}

static bool jnjson__value(jnjson_rd_t *rd);

static bool jnjson__word(jnjson_rd_t *rd, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(rd->end - rd->p) < n || memcmp(rd->p, w, n) != 0) {
        return false;
    }
    rd->p += n;
    return true;
}

/* An array or object after its opening bracket; members recorded when out is not NULL. */
static bool jnjson__container(jnjson_rd_t *rd, bool object, jnjson_member_t *out, size_t *n,
                              bool *complex)
{
    if (++rd->depth > JNJSON_DEPTH_MAX) {
        return false;
    }
    rd->p++;
    jnjson__ws(rd);
    char close = object ? '}' : ']';
    if (rd->p < rd->end && *rd->p == close) {
        rd->p++;
        rd->depth--;
        return true;
    }
    for (;;) {
        jnjson_member_t m = {0};
        if (object) {
            bool esc = false;
            if (rd->p >= rd->end || *rd->p != '"') {
                return false;
            }
            m.key = (const char *)rd->p + 1;
            if (!jnjson__string(rd, true, &esc)) {
                return false;
            }
            m.key_len = (size_t)((const char *)rd->p - 1 - m.key);
            *complex = *complex || esc;
            jnjson__ws(rd);
            if (rd->p >= rd->end || *rd->p != ':') {
                return false;
            }
            rd->p++;
            jnjson__ws(rd);
        }
        m.val = (const char *)rd->p;
        if (!jnjson__value(rd)) {
            return false;
        }
        m.val_len = (size_t)((const char *)rd->p - m.val);
        if (out) {
            if (*n == JNJSON_MEMBERS_MAX) {
                *complex = true;
            } else {
                out[(*n)++] = m;
            }
        }
        jnjson__ws(rd);
        if (rd->p < rd->end && *rd->p == ',') {
            rd->p++;
            jnjson__ws(rd);
            continue;
        }
        if (rd->p < rd->end && *rd->p == close) {
            rd->p++;
            rd->depth--;
            return true;
        }
        return false;
    }
}

static bool jnjson__value(jnjson_rd_t *rd)
{
    if (rd->p >= rd->end) {
        return false;
    }
    bool esc = false, complex = false;
    switch (*rd->p) {
    case '{':
        return jnjson__container(rd, true, NULL, NULL, &complex);
    case '[':
        return jnjson__container(rd, false, NULL, NULL, &complex);
    case '"':
        return jnjson__string(rd, false, &esc);
    case 't':
        return jnjson__word(rd, "true");
    case 'f':
        return jnjson__word(rd, "false");
    case 'n':
        return jnjson__word(rd, "null");
    default:
        return (*rd->p == '-' || (*rd->p >= '0' && *rd->p <= '9')) && jnjson__number(rd);
    }
}

bool jnjson_valid(const char *p, size_t len)
{
    jnjson_rd_t rd = {(const unsigned char *)p, (const unsigned char *)p + len, 0};
    jnjson__ws(&rd);
    if (!jnjson__value(&rd)) {
        return false;
    }
    jnjson__ws(&rd);
    return rd.p == rd.end;
}

jnjson_rc_t jnjson_object(const char *p, size_t len, jnjson_member_t *out, size_t *n)
{
    jnjson_rd_t rd = {(const unsigned char *)p, (const unsigned char *)p + len, 0};
    jnjson__ws(&rd);
    *n = 0;
    if (rd.p >= rd.end || *rd.p != '{') {
        return jnjson_valid(p, len) ? JNJSON_NOT_OBJECT : JNJSON_INVALID;
    }
    bool complex = false;
    if (!jnjson__container(&rd, true, out, n, &complex)) {
        return JNJSON_INVALID;
    }
    jnjson__ws(&rd);
    if (rd.p != rd.end) {
        return JNJSON_INVALID;
    }
    for (size_t i = 0; i < *n && !complex; i++) {
        for (size_t j = i + 1; j < *n && !complex; j++) {
            complex = out[i].key_len == out[j].key_len &&
                      memcmp(out[i].key, out[j].key, out[i].key_len) == 0;
        }
    }
    return complex ? JNJSON_COMPLEX : JNJSON_OK;
}
