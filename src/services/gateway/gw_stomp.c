/* gw_stomp: STOMP 1.2 frame decoding (bounded, in place) and encoding. The decoder first finds
 * the whole frame and checks every limit on the raw bytes, then decodes header escapes, so an
 * incomplete or refused frame leaves the buffer untouched. */
#include "gw_stomp.h"

#include "sl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gw_stomp__names[GW_STOMP_CMD_COUNT] = {
    [GW_STOMP_CONNECT] = "CONNECT",         [GW_STOMP_STOMP] = "STOMP",
    [GW_STOMP_SEND] = "SEND",               [GW_STOMP_SUBSCRIBE] = "SUBSCRIBE",
    [GW_STOMP_UNSUBSCRIBE] = "UNSUBSCRIBE", [GW_STOMP_ACK] = "ACK",
    [GW_STOMP_NACK] = "NACK",               [GW_STOMP_BEGIN] = "BEGIN",
    [GW_STOMP_COMMIT] = "COMMIT",           [GW_STOMP_ABORT] = "ABORT",
    [GW_STOMP_DISCONNECT] = "DISCONNECT",   [GW_STOMP_CONNECTED] = "CONNECTED",
    [GW_STOMP_MESSAGE] = "MESSAGE",         [GW_STOMP_RECEIPT] = "RECEIPT",
    [GW_STOMP_ERROR] = "ERROR",
};

const char *gw_stomp_cmd_name(gw_stomp_cmd_t cmd)
{
    SL_ASSERT(cmd < GW_STOMP_CMD_COUNT);
    return gw_stomp__names[cmd];
}

static int gw_stomp__fail(int rc, char *why, size_t len, const char *fmt, const char *arg)
{
    snprintf(why, len, fmt, arg);
    return rc;
}

/* Finds the end of the line starting at p: returns the index of its LF, or -1. The content
 * excludes a CR before the LF. */
static ptrdiff_t gw_stomp__line(const uint8_t *buf, size_t start, size_t len, size_t *content)
{
    const uint8_t *nl = memchr(buf + start, '\n', len - start);
    if (!nl) {
        return -1;
    }
    size_t end = (size_t)(nl - buf);
    *content = end - start - (end > start && buf[end - 1] == '\r' ? 1 : 0);
    return (ptrdiff_t)end;
}

/* Decodes escapes of s in place; false on an undefined escape (a protocol error). */
static bool gw_stomp__unescape(gw_str_t *s)
{
    char *w = (char *)s->p;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->p[i];
        if (c == '\\') {
            if (++i == s->len) {
                return false;
            }
            switch (s->p[i]) {
            case 'r': c = '\r'; break;
            case 'n': c = '\n'; break;
            case 'c': c = ':'; break;
            case '\\': c = '\\'; break;
            default: return false;
            }
        }
        *w++ = c;
    }
    s->len = (size_t)(w - s->p);
    return true;
}

static bool gw_stomp__cmd(const uint8_t *p, size_t n, gw_stomp_cmd_t *cmd)
{
    for (int i = 0; i < GW_STOMP_CMD_COUNT; i++) {
        if (strlen(gw_stomp__names[i]) == n && memcmp(gw_stomp__names[i], p, n) == 0) {
            *cmd = (gw_stomp_cmd_t)i;
            return true;
        }
    }
    return false;
}

/* Parses a content-length value: digits only, at most frame_max. */
static bool gw_stomp__clen(const gw_str_t *v, size_t frame_max, size_t *out)
{
    size_t n = 0;
    if (v->len == 0 || v->len > 10) {
        return false;
    }
    for (size_t i = 0; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9') {
            return false;
        }
        n = n * 10 + (size_t)(v->p[i] - '0');
    }
    *out = n;
    return n <= frame_max;
}

/* Scans the headers from pos; fills f's raw (still escaped) headers and the body start.
 * Returns 0, SL_EAGAIN or an error. */
static int gw_stomp__headers(const uint8_t *buf, size_t len, size_t pos, gw_stomp_frame_t *f,
                             size_t *body_at, char *why, size_t why_len)
{
    for (;;) {
        size_t n = 0;
        ptrdiff_t lf = gw_stomp__line(buf, pos, len, &n);
        if (lf < 0) {
            return SL_EAGAIN;
        }
        if (n == 0) {
            *body_at = (size_t)lf + 1;
            return 0;
        }
        if (f->nhdrs == GW_STOMP_HEADERS_MAX) {
            snprintf(why, why_len, "more than %d headers", GW_STOMP_HEADERS_MAX);
            return SL_ELIMIT;
        }
        const uint8_t *colon = memchr(buf + pos, ':', n);
        if (!colon || colon == buf + pos) {
            return gw_stomp__fail(SL_ECORRUPT, why, why_len, "header line without a name%s",
                                  colon ? "" : " and colon");
        }
        gw_stomp_hdr_t *h = &f->hdrs[f->nhdrs++];
        h->name = (gw_str_t){(const char *)buf + pos, (size_t)(colon - (buf + pos))};
        h->value = (gw_str_t){(const char *)colon + 1, n - h->name.len - 1};
        pos = (size_t)lf + 1;
    }
}

/* The position after the EOLs (heart-beats) at pos; *count of them when count is set. */
static size_t gw_stomp__eols(const uint8_t *buf, size_t pos, size_t len, int *count)
{
    while (pos < len && (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len &&
                                               buf[pos + 1] == '\n'))) {
        pos += buf[pos] == '\r' ? 2 : 1;
        if (count) {
            (*count)++;
        }
    }
    return pos;
}

/* The body after the headers (at body_at, the frame starting at start): by content-length, or
 * up to the first NUL. Sets *end to the NUL's position and *body_len; SL_EAGAIN until it is
 * all there, SL_ELIMIT past frame_max, SL_ECORRUPT without the NUL after content-length. */
static int gw_stomp__body(const uint8_t *buf, size_t len, size_t start, size_t body_at,
                          size_t frame_max, const gw_stomp_frame_t *f, size_t *end,
                          size_t *body_len, char *why, size_t why_len)
{
    size_t avail = SL_MIN(len, start + frame_max);
    bool full = avail - start == frame_max;
    const gw_str_t *cl = gw_stomp_get(f, "content-length");
    if (!cl) {
        const uint8_t *nul = memchr(buf + body_at, '\0', avail - body_at);
        if (!nul) {
            return full ? gw_stomp__fail(SL_ELIMIT, why, why_len, "frame over %s bytes",
                                         "the limit")
                        : SL_EAGAIN;
        }
        *end = (size_t)(nul - buf);
        *body_len = *end - body_at;
        return 0;
    }
    if (!gw_stomp__clen(cl, frame_max, body_len)) {
        return gw_stomp__fail(SL_ELIMIT, why, why_len, "bad or too large content-length%s", "");
    }
    if (body_at - start + *body_len + 1 > frame_max) { /* NUL included */
        return gw_stomp__fail(SL_ELIMIT, why, why_len, "frame over %s bytes", "the limit");
    }
    if (len < body_at + *body_len + 1) {
        return SL_EAGAIN;
    }
    *end = body_at + *body_len;
    if (buf[*end] != '\0') {
        return gw_stomp__fail(SL_ECORRUPT, why, why_len, "no NUL after content-length%s",
                              " bytes");
    }
    return 0;
}

int gw_stomp_decode(uint8_t *buf, size_t len, size_t frame_max, gw_stomp_frame_t *out,
                    size_t *used, int *heartbeats, char *why, size_t why_len)
{
    SL_ASSERT(frame_max <= GW_STOMP_FRAME_BYTES_MAX);
    *heartbeats = 0;
    size_t pos = gw_stomp__eols(buf, 0, len, heartbeats);
    *used = pos;
    size_t start = pos, n = 0, body_at = 0;
    size_t avail = SL_MIN(len, start + frame_max); /* never look past the limit */
    bool full = avail - start == frame_max;       /* the frame cannot end later */
    ptrdiff_t lf = gw_stomp__line(buf, start, avail, &n);
    if (lf < 0) {
        return full ? gw_stomp__fail(SL_ELIMIT, why, why_len, "frame over %s bytes", "the limit")
                    : SL_EAGAIN;
    }
    memset(out, 0, sizeof *out);
    if (!gw_stomp__cmd(buf + start, n, &out->cmd)) {
        return gw_stomp__fail(SL_ECORRUPT, why, why_len, "unknown command%s", "");
    }
    int rc = gw_stomp__headers(buf, avail, (size_t)lf + 1, out, &body_at, why, why_len);
    if (rc == SL_EAGAIN && full) {
        return gw_stomp__fail(SL_ELIMIT, why, why_len, "frame over %s bytes", "the limit");
    }
    if (rc != 0) {
        return rc;
    }
    size_t body_len = 0, end = 0;
    rc = gw_stomp__body(buf, len, start, body_at, frame_max, out, &end, &body_len, why, why_len);
    if (rc != 0) {
        return rc;
    }
    bool raw = out->cmd == GW_STOMP_CONNECT || out->cmd == GW_STOMP_STOMP ||
               out->cmd == GW_STOMP_CONNECTED;
    for (int i = 0; i < out->nhdrs && !raw; i++) {
        if (!gw_stomp__unescape(&out->hdrs[i].name) || !gw_stomp__unescape(&out->hdrs[i].value)) {
            /* partly decoded: the frame is refused and the connection closed anyway */
            return gw_stomp__fail(SL_ECORRUPT, why, why_len, "undefined escape in a header%s",
                                  "");
        }
    }
    out->body = (gw_str_t){(const char *)buf + body_at, body_len};
    *used = gw_stomp__eols(buf, end + 1, len, NULL);
    return 0;
}

const gw_str_t *gw_stomp_get(const gw_stomp_frame_t *f, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < f->nhdrs; i++) {
        if (f->hdrs[i].name.len == n && memcmp(f->hdrs[i].name.p, name, n) == 0) {
            return &f->hdrs[i].value;
        }
    }
    return NULL;
}

void gw_buf_init(gw_buf_t *b, size_t reserve)
{
    b->cap = reserve + 256;
    b->p = sl_xmalloc(b->cap);
    b->len = reserve;
}

void gw_buf_put(gw_buf_t *b, const void *p, size_t n)
{
    if (n == 0) {
        return;
    }
    if (b->len + n > b->cap) {
        b->cap = SL_MAX(b->cap * 2, b->len + n);
        b->p = sl_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void gw_buf_deinit(gw_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void gw_stomp__put_escaped(gw_buf_t *b, const char *s, size_t n, bool escape)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = !escape          ? NULL
                          : s[i] == '\\'   ? "\\\\"
                          : s[i] == '\n'   ? "\\n"
                          : s[i] == '\r'   ? "\\r"
                          : s[i] == ':'    ? "\\c"
                                           : NULL;
        if (esc) {
            gw_buf_put(b, s + run, i - run);
            gw_buf_put(b, esc, 2);
            run = i + 1;
        }
    }
    gw_buf_put(b, s + run, n - run);
}

void gw_stomp_put_hdr(gw_buf_t *b, const char *name, const char *value, size_t value_len)
{
    gw_stomp__put_escaped(b, name, strlen(name), true);
    gw_buf_put(b, ":", 1);
    gw_stomp__put_escaped(b, value, value_len, true);
    gw_buf_put(b, "\n", 1);
}

void gw_stomp_encode(gw_buf_t *b, gw_stomp_cmd_t cmd, const char *const *hdrs, const void *body,
                     size_t body_len)
{
    const char *name = gw_stomp_cmd_name(cmd);
    bool escape = cmd != GW_STOMP_CONNECTED && cmd != GW_STOMP_CONNECT && cmd != GW_STOMP_STOMP;
    gw_buf_put(b, name, strlen(name));
    gw_buf_put(b, "\n", 1);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2) {
        SL_ASSERT(hdrs[i + 1]);
        gw_stomp__put_escaped(b, hdrs[i], strlen(hdrs[i]), escape);
        gw_buf_put(b, ":", 1);
        gw_stomp__put_escaped(b, hdrs[i + 1], strlen(hdrs[i + 1]), escape);
        gw_buf_put(b, "\n", 1);
    }
    if (body_len > 0) {
        char cl[40];
        int n = snprintf(cl, sizeof cl, "content-length:%zu\n", body_len);
        gw_buf_put(b, cl, (size_t)n);
    }
    gw_buf_put(b, "\n", 1);
    gw_buf_put(b, body, body_len);
    gw_buf_put(b, "", 1);
}
