/* Webhook sender for `sluice jobs`: POSTs a JSON body to a client's URL, signed as Standard
 * Webhooks (spec/standard-webhooks.md, "Signature scheme" and "Webhook headers") define it:
 *   webhook-id: <id>   webhook-timestamp: <unix s>   webhook-signature: v1,<b64 HMAC-SHA256>
 * over "<id>.<timestamp>.<body>". Also the receiving side's check (jhook_verify) and the retry
 * schedule helper ("1s,5s,30s"). Success is any 2xx; 3xx is a failure (redirects not followed). */
#ifndef JHOOK_H
#define JHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_egress.h"

/* Limits (each checked at N and N+1 in tests/unit/test_jobs_hook.c). */
#define JHOOK_ID_BYTES_MAX 128           /* webhook-id; job ids are far shorter */
#define JHOOK_KEY_BYTES_MAX 64           /* HMAC key; the spec's 512-bit maximum */
#define JHOOK_SECRET_BYTES_MAX 96        /* "whsec_" + base64 of a 64-byte key fits */
#define JHOOK_URL_BYTES_MAX 2048         /* the de facto URL ceiling of browsers and proxies */
#define JHOOK_BODY_BYTES_MAX (1u << 20)  /* a job's result summary, not its artefacts */
#define JHOOK_SIG_HEADER_BYTES_MAX 4096  /* verify: a rotation list of a few dozen signatures */
#define JHOOK_RETRIES_MAX 16             /* retry schedule entries */
#define JHOOK_TIMEOUT_MS_MAX 300000      /* ceiling for both timeouts: 5 minutes */
#define JHOOK_RESPONSE_BYTES_MAX (1u << 20) /* ceiling for cfg.response_bytes_max */

/* Defaults when a config field is 0. The spec recommends a 15-30 s request timeout. */
#define JHOOK_TIMEOUT_MS_DEFAULT 15000
#define JHOOK_CONNECT_TIMEOUT_MS_DEFAULT 5000
#define JHOOK_RESPONSE_BYTES_DEFAULT 65536

/* "v1," + base64(32 bytes) + NUL. */
#define JHOOK_SIG_BYTES 48

/* jhook_send: the receiver answered, but not with 2xx (res->http_status has the code). */
#define JHOOK_EHTTP (-5201)

typedef struct jhook jhook_t;

typedef struct jhook_config {
    int64_t timeout_ms;         /* whole delivery, connect included; 0 = default */
    int64_t connect_timeout_ms; /* TCP (and TLS) connect; 0 = default */
    size_t response_bytes_max;  /* response body read and discarded up to this; 0 = default */
    const sl_egress_t *egress;  /* outbound policy checked on every address connected to;
                                 * NULL = the default (public addresses only). Not owned: it
                                 * must outlive the sender. */
} jhook_config_t;

typedef struct jhook_result {
    int http_status;        /* 0 when no response status was received */
    int64_t elapsed_ms;     /* wall time spent in the delivery */
    int64_t retry_after_s;  /* the receiver's Retry-After in seconds, 0 if none */
    char reason[256];       /* "" on success; otherwise what failed, for the attempt record */
} jhook_result_t;

/* Creates a sender with one curl easy handle, reused for every delivery so connections are
 * kept alive. `cfg` may be NULL (defaults). Returns 0, SL_EINVAL (a field over its ceiling)
 * or SL_ENOMEM. Thread: any; a jhook_t is then used by one thread at a time. */
int jhook_new(const jhook_config_t *cfg, jhook_t **out);
void jhook_free(jhook_t *hook);

/* POSTs `body` (JSON, sent and signed byte for byte) to `url` with the webhook-* headers and
 * content-type: application/json. `id` is the delivery's id (the same on every retry; no '.',
 * no control characters), `ts_s` the attempt's unix time in seconds. `secret` is "whsec_" +
 * base64 of the key bytes as the spec serialises it, or any other string, whose bytes are then
 * the key as given. Blocks for at most cfg.timeout_ms. Returns 0 on a 2xx; SL_EINVAL when
 * nothing was sent (URL not http(s), bad secret or id, body too long); -EACCES when the
 * outbound policy (cfg.egress, sl_egress.h) refused every address of the host, checked on the
 * address connected to, with its sentence in res->reason; JHOOK_EHTTP on another status;
 * -ETIMEDOUT, -ECONNREFUSED (could not connect), -EHOSTUNREACH (name not resolved) or
 * -EIO (other transport failure). `res` (may be NULL) always gets a reason on failure.
 * The connection is kept alive for the next delivery to the same host. Thread: hook's user. */
int jhook_send(jhook_t *hook, const char *url, const char *secret, const char *id, int64_t ts_s,
               const void *body, size_t body_len, jhook_result_t *res);

/* Writes the webhook-signature value "v1,<base64>" (NUL-terminated) into `out`.
 * Returns 0 or SL_EINVAL (bad secret or id). Thread: any. */
int jhook_sign(const char *secret, const char *id, int64_t ts_s, const void *body,
               size_t body_len, char out[JHOOK_SIG_BYTES]);

/* Receiving side: checks the headers of one delivery. `ts` is the webhook-timestamp header
 * text (signed as received), `header` the webhook-signature header: space-separated
 * "<version>,<base64>" entries, of which one v1 entry must match (others, e.g. v1a, are
 * skipped). Returns 0 when it matches and |now_s - ts| <= tolerance_s; SL_ERANGE when the
 * timestamp is outside the tolerance (replay); SL_ECORRUPT when no signature matches or a
 * header is malformed; SL_EINVAL for a bad secret. Compares in constant time. Thread: any. */
int jhook_verify(const char *secret, const char *id, const char *ts, const void *body,
                 size_t body_len, const char *header, int64_t tolerance_s, int64_t now_s);

/* Retry schedule: the delays after a failed attempt, e.g. "1s,5s,30s" = 3 retries after the
 * first attempt. Units ms, s, m, h; a bare number is seconds; 0 entries ("") = no retry. */
typedef struct jhook_sched {
    int retries;
    int64_t delay_ms[JHOOK_RETRIES_MAX];
} jhook_sched_t;

/* Parses `spec` into `sched`. Returns 0, SL_EINVAL (syntax, negative or over a day) or
 * SL_ELIMIT (more than JHOOK_RETRIES_MAX entries). */
int jhook_sched_parse(const char *spec, jhook_sched_t *sched);

/* After `attempts` attempts (>= 1), the last one failing at `last_ms`: sets *next_ms to when
 * the next attempt is due and returns 0, or returns SL_ELIMIT: give up, the budget is spent. */
int jhook_sched_next(const jhook_sched_t *sched, int attempts, int64_t last_ms, int64_t *next_ms);

#endif
