/* kit_json: recursive-descent JSON validation over a bounded reader (see kit_json.h), and the
 * decoding of a string it validated. */
#include "kit_json.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end;
    int depth, depth_max;
} kit_json_rd_t;

static void kit_json__ws(kit_json_rd_t *rd)
{
    while (rd->p < rd->end &&
           (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n' || *rd->p == '\r')) {
        rd->p++;
    }
}

size_t kit_json_utf8_len(const unsigned char *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    unsigned c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (len == 0 || n < len) {
        return 0;
    }
    unsigned lo = 0x80, hi = 0xbf, c1 = p[1];
    if (c == 0xe0) {
        lo = 0xa0; /* overlong */
    } else if (c == 0xed) {
        hi = 0x9f; /* surrogates */
    } else if (c == 0xf0) {
        lo = 0x90; /* overlong */
    } else if (c == 0xf4) {
        hi = 0x8f; /* past U+10FFFF */
    }
    if (c1 < lo || c1 > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* The code unit of the 4 hex digits at p, or -1. */
static int32_t kit_json__hex4(const unsigned char *p)
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
static size_t kit_json__uescape(const unsigned char *p, const unsigned char *end)
{
    int32_t hi = end - p >= 6 ? kit_json__hex4(p + 2) : -1;
    if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff)) {
        return 0;
    }
    if (hi < 0xd800 || hi > 0xdbff) {
        return 6;
    }
    int32_t lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? kit_json__hex4(p + 8) : -1;
    return lo >= 0xdc00 && lo <= 0xdfff ? 12 : 0;
}

/* Bytes a string runs over without a closer look: printable ASCII but '"' and '\\'. */
static const bool kit_json__plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* A string; *escaped tells whether it held a backslash. An object key may not hold U+0000
 * (jansson refuses it there even with JSON_ALLOW_NUL, which lets values hold it). */
static bool kit_json__string(kit_json_rd_t *rd, bool key, bool *escaped)
{
    rd->p++; /* the opening quote */
    *escaped = false;
    while (rd->p < rd->end) {
        while (rd->end - rd->p >= 4 && kit_json__plain[rd->p[0]] && kit_json__plain[rd->p[1]] &&
               kit_json__plain[rd->p[2]] && kit_json__plain[rd->p[3]]) {
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
                size_t n = kit_json__uescape(rd->p, rd->end);
                if (n == 0 || (key && kit_json__hex4(rd->p + 2) == 0)) {
                    return false;
                }
                rd->p += n;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                rd->p += 2;
            } else {
                return false;
            }
        } else if (c >= 0x80) {
            size_t seq = kit_json_utf8_len(rd->p, (size_t)(rd->end - rd->p));
            if (seq == 0) {
                return false;
            }
            rd->p += seq;
        } else {
            rd->p++;
        }
    }
    return false;
}

static bool kit_json__digits(kit_json_rd_t *rd)
{
    const unsigned char *s = rd->p;
    while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9') {
        rd->p++;
    }
    return rd->p > s;
}

static bool kit_json__number(kit_json_rd_t *rd)
{
    if (*rd->p == '-') {
        rd->p++;
    }
    if (rd->p < rd->end && *rd->p == '0') {
        rd->p++;
    } else if (!kit_json__digits(rd)) {
        return false;
    }
    if (rd->p < rd->end && *rd->p == '.') {
        rd->p++;
        if (!kit_json__digits(rd)) {
            return false;
        }
    }
    if (rd->p < rd->end && (*rd->p == 'e' || *rd->p == 'E')) {
        rd->p++;
        if (rd->p < rd->end && (*rd->p == '+' || *rd->p == '-')) {
            rd->p++;
        }
        return kit_json__digits(rd);
    }
    return true;
}

static bool kit_json__value(kit_json_rd_t *rd);

static bool kit_json__word(kit_json_rd_t *rd, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(rd->end - rd->p) < n || memcmp(rd->p, w, n) != 0) {
        return false;
    }
    rd->p += n;
    return true;
}

/* An array or object after its opening bracket; members recorded when out is not NULL. */
static bool kit_json__container(kit_json_rd_t *rd, bool object, kit_json_member_t *out, size_t *n,
                              bool *complex)
{
    if (++rd->depth > rd->depth_max) {
        return false;
    }
    rd->p++;
    kit_json__ws(rd);
    char close = object ? '}' : ']';
    if (rd->p < rd->end && *rd->p == close) {
        rd->p++;
        rd->depth--;
        return true;
    }
    for (;;) {
        kit_json_member_t m = {0};
        if (object) {
            bool esc = false;
            if (rd->p >= rd->end || *rd->p != '"') {
                return false;
            }
            m.key = (const char *)rd->p + 1;
            if (!kit_json__string(rd, true, &esc)) {
                return false;
            }
            m.key_len = (size_t)((const char *)rd->p - 1 - m.key);
            *complex = *complex || esc;
            kit_json__ws(rd);
            if (rd->p >= rd->end || *rd->p != ':') {
                return false;
            }
            rd->p++;
            kit_json__ws(rd);
        }
        m.val = (const char *)rd->p;
        if (!kit_json__value(rd)) {
            return false;
        }
        m.val_len = (size_t)((const char *)rd->p - m.val);
        if (out) {
            if (*n == KIT_JSON_MEMBERS_MAX) {
                *complex = true;
            } else {
                out[(*n)++] = m;
            }
        }
        kit_json__ws(rd);
        if (rd->p < rd->end && *rd->p == ',') {
            rd->p++;
            kit_json__ws(rd);
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

static bool kit_json__value(kit_json_rd_t *rd)
{
    if (rd->p >= rd->end) {
        return false;
    }
    bool esc = false, complex = false;
    switch (*rd->p) {
    case '{':
        return kit_json__container(rd, true, NULL, NULL, &complex);
    case '[':
        return kit_json__container(rd, false, NULL, NULL, &complex);
    case '"':
        return kit_json__string(rd, false, &esc);
    case 't':
        return kit_json__word(rd, "true");
    case 'f':
        return kit_json__word(rd, "false");
    case 'n':
        return kit_json__word(rd, "null");
    default:
        return (*rd->p == '-' || (*rd->p >= '0' && *rd->p <= '9')) && kit_json__number(rd);
    }
}

static kit_json_rd_t kit_json__rd(const char *p, size_t len, int depth_max)
{
    if (depth_max > KIT_JSON_DEPTH_MAX) {
        depth_max = KIT_JSON_DEPTH_MAX; /* the recursion's bound */
    }
    return (kit_json_rd_t){(const unsigned char *)p, (const unsigned char *)p + len, 0, depth_max};
}

bool kit_json_valid(const char *p, size_t len, int depth_max)
{
    kit_json_rd_t rd = kit_json__rd(p, len, depth_max);
    kit_json__ws(&rd);
    if (!kit_json__value(&rd)) {
        return false;
    }
    kit_json__ws(&rd);
    return rd.p == rd.end;
}

kit_json_rc_t kit_json_object(const char *p, size_t len, int depth_max, kit_json_member_t *out,
                              size_t *n)
{
    kit_json_rd_t rd = kit_json__rd(p, len, depth_max);
    kit_json__ws(&rd);
    *n = 0;
    if (rd.p >= rd.end || *rd.p != '{') {
        return kit_json_valid(p, len, depth_max) ? KIT_JSON_NOT_OBJECT : KIT_JSON_INVALID;
    }
    bool complex = false;
    bool ok = kit_json__container(&rd, true, out, n, &complex);
    kit_json__ws(&rd);
    if (!ok || rd.p != rd.end) {
        *n = 0;
        return KIT_JSON_INVALID;
    }
    for (size_t i = 0; i < *n && !complex; i++) {
        for (size_t j = i + 1; j < *n && !complex; j++) {
            complex = out[i].key_len == out[j].key_len &&
                      memcmp(out[i].key, out[j].key, out[i].key_len) == 0;
        }
    }
    return complex ? KIT_JSON_COMPLEX : KIT_JSON_OK;
}

/* ---- decoding a validated string ---- */

typedef struct {
    char *out;
    size_t cap; /* with the NUL */
    size_t len;
    bool over; /* bytes were dropped */
} kit_json_dstr_t;

static void kit_json__put(kit_json_dstr_t *d, unsigned c)
{
    if (d->len + 1 < d->cap) {
        d->out[d->len++] = (char)c;
    } else {
        d->over = true;
    }
}

static void kit_json__put_utf8(kit_json_dstr_t *d, uint32_t cp)
{
    if (cp < 0x80) {
        kit_json__put(d, cp);
    } else if (cp < 0x800) {
        kit_json__put(d, 0xc0 | (cp >> 6));
        kit_json__put(d, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        kit_json__put(d, 0xe0 | (cp >> 12));
        kit_json__put(d, 0x80 | ((cp >> 6) & 0x3f));
        kit_json__put(d, 0x80 | (cp & 0x3f));
    } else {
        kit_json__put(d, 0xf0 | (cp >> 18));
        kit_json__put(d, 0x80 | ((cp >> 12) & 0x3f));
        kit_json__put(d, 0x80 | ((cp >> 6) & 0x3f));
        kit_json__put(d, 0x80 | (cp & 0x3f));
    }
}

long kit_json_unescape(const char *tok, size_t len, char *out, size_t cap)
{
    kit_json_dstr_t d = {.out = out, .cap = cap};
    const unsigned char *p = (const unsigned char *)tok + 1;
    const unsigned char *end = (const unsigned char *)tok + len - 1;
    while (p < end) {
        if (*p != '\\') {
            kit_json__put(&d, *p++);
            continue;
        }
        unsigned char c = p[1];
        if (c != 'u') {
            const char *esc = strchr("b\bf\fn\nr\rt\t", c);
            kit_json__put(&d, esc ? (unsigned char)esc[1] : c);
            p += 2;
            continue;
        }
        uint32_t cp = (uint32_t)kit_json__hex4(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp < 0xdc00) { /* validated: a low surrogate follows */
            cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)kit_json__hex4(p + 2) - 0xdc00);
            p += 6;
        }
        kit_json__put_utf8(&d, cp);
    }
    out[d.len] = '\0';
    return d.over ? -1 : (long)d.len;
}
