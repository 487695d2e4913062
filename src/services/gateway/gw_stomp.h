/* gw_stomp: STOMP 1.2 frame decoder and encoder (https://stomp.github.io/stomp-specification-1.2.html).
 *
 *   COMMAND EOL  *( header EOL )  EOL  body  NUL  *( EOL )       EOL = LF | CR LF
 *
 * The decoder takes bytes as they arrive (one WebSocket message may hold part of a frame, one
 * frame or several) and decodes header escapes (\r \n \c \\) in place, so a decoded frame
 * points into the caller's buffer. Leading EOLs between frames are heart-beats. The body ends
 * after content-length bytes when that header is given, else at the first NUL. */
#ifndef GW_STOMP_H
#define GW_STOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_STOMP_HEADERS_MAX 32             /* headers in one frame (ERROR past it) */
#define GW_STOMP_FRAME_BYTES_MAX (16u << 20) /* ceiling of any configured frame limit */

typedef enum {
    GW_STOMP_CONNECT,
    GW_STOMP_STOMP,
    GW_STOMP_SEND,
    GW_STOMP_SUBSCRIBE,
    GW_STOMP_UNSUBSCRIBE,
    GW_STOMP_ACK,
    GW_STOMP_NACK,
    GW_STOMP_BEGIN,
    GW_STOMP_COMMIT,
    GW_STOMP_ABORT,
    GW_STOMP_DISCONNECT,
    GW_STOMP_CONNECTED, /* server frames from here on */
    GW_STOMP_MESSAGE,
    GW_STOMP_RECEIPT,
    GW_STOMP_ERROR,
    GW_STOMP_CMD_COUNT
} gw_stomp_cmd_t;

typedef struct {
    const char *p;
    size_t len;
} gw_str_t;

typedef struct {
    gw_str_t name, value;
} gw_stomp_hdr_t;

/* A decoded frame; every pointer is into the buffer given to gw_stomp_decode. */
typedef struct {
    gw_stomp_cmd_t cmd;
    gw_stomp_hdr_t hdrs[GW_STOMP_HEADERS_MAX];
    int nhdrs;
    gw_str_t body;
} gw_stomp_frame_t;

/* Decodes the first frame in buf[0..len). Returns:
 *   0           a frame in *out; *used bytes (with any trailing EOLs) are consumed
 *   SL_EAGAIN   no complete frame yet; *used counts leading heart-beat EOLs that may be dropped
 *   SL_ECORRUPT malformed; SL_ELIMIT past frame_max bytes or GW_STOMP_HEADERS_MAX headers.
 * On an error why holds a one-line reason. *heartbeats counts EOLs skipped before the frame.
 * Modifies buf (header escapes are decoded in place) only when it returns 0. */
int gw_stomp_decode(uint8_t *buf, size_t len, size_t frame_max, gw_stomp_frame_t *out,
                    size_t *used, int *heartbeats, char *why, size_t why_len);

/* The value of the first header named name (STOMP: the first occurrence wins), or NULL. */
const gw_str_t *gw_stomp_get(const gw_stomp_frame_t *f, const char *name);
const char *gw_stomp_cmd_name(gw_stomp_cmd_t cmd);

/* A growing byte buffer for encoded frames; len starts at `reserve` (lws's LWS_PRE). */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} gw_buf_t;

void gw_buf_init(gw_buf_t *b, size_t reserve);
void gw_buf_put(gw_buf_t *b, const void *p, size_t n);
void gw_buf_deinit(gw_buf_t *b);

/* Appends one frame: the command, headers (escaped, except in CONNECTED), content-length when
 * body_len > 0, the body and the NUL. Header pairs are given as a NULL-terminated array of
 * name, value strings. */
void gw_stomp_encode(gw_buf_t *b, gw_stomp_cmd_t cmd, const char *const *hdrs, const void *body,
                     size_t body_len);
/* Appends "name:value\n" with value escaped. */
void gw_stomp_put_hdr(gw_buf_t *b, const char *name, const char *value, size_t value_len);

#endif
