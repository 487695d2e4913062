/* Webhook sender (see jhook.h): Standard Webhooks signing with OpenSSL's HMAC-SHA256, delivery
 * over one reused libcurl easy handle per jhook_t (keep-alive: the handle, and so its
 * connection cache, is created once, never per delivery), the receiving side's verifier, and
 * the retry schedule helper. Signed content: "<id>.<timestamp>.<body>", key = base64-decoded
 * part of "whsec_<base64>" or the raw bytes of any other secret. */
#include "jhook.h"

#include "sl_common.h"
#include "sl_time.h"

#include "kit_curl.h"
#include <errno.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

SL_STATIC_ASSERT(JHOOK_SIG_BYTES == 3 + 44 + 1, "v1, + base64 of a SHA-256 MAC + NUL");
SL_STATIC_ASSERT(JHOOK_SECRET_BYTES_MAX >= 6 + (JHOOK_KEY_BYTES_MAX + 2) / 3 * 4,
                 "a whsec_ secret holding the largest key fits");
SL_STATIC_ASSERT(JHOOK_RESPONSE_BYTES_DEFAULT <= JHOOK_RESPONSE_BYTES_MAX, "default in range");
SL_STATIC_ASSERT(JHOOK_TIMEOUT_MS_DEFAULT <= JHOOK_TIMEOUT_MS_MAX, "default in range");

#define JHOOK__MAC_BYTES 32
#define JHOOK__TS_BYTES 24           /* decimal int64 + NUL */
#define JHOOK__SCHED_DELAY_MS_MAX 86400000 /* one day per retry delay */

struct jhook {
    CURL *curl;
    jhook_config_t cfg;
    size_t resp_bytes;  /* response body bytes seen in the current delivery */
    bool resp_cut;      /* the body passed cfg.response_bytes_max and the transfer was cut */
    char errbuf[CURL_ERROR_SIZE];
    sl_egress_t *egress_own;                      /* the default policy when cfg had none */
    char egress_host[SL_EGRESS_HOST_BYTES_MAX + 1]; /* this delivery's host name */
    char egress_msg[SL_EGRESS_MSG_BYTES];          /* why an address was refused */
    bool egress_refused;
};

/* ---- signing ---- */

static int jhook__b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* Strict standard base64 (padded). Returns the decoded length or SL_EINVAL. */
static int jhook__b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0 || len % 4 != 0) {
        return SL_EINVAL;
    }
    size_t pad = (s[len - 1] == '=') + (len > 1 && s[len - 2] == '=');
    size_t n = len / 4 * 3 - pad;
    if (n > cap) {
        return SL_EINVAL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            bool is_pad = i + k >= len - pad;
            v[k] = is_pad ? 0 : jhook__b64_val((unsigned char)s[i + k]);
            if (v[k] < 0) {
                return SL_EINVAL;
            }
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        for (size_t k = 0; k < 3 && o < n; k++) {
            out[o++] = b[k];
        }
    }
    return (int)n;
}

/* The key bytes of `secret`: "whsec_<base64>" decoded, any other string as given. */
static int jhook__key(const char *secret, uint8_t key[JHOOK_KEY_BYTES_MAX], size_t *key_len)
{
    if (!secret) {
        return SL_EINVAL;
    }
    size_t len = strnlen(secret, JHOOK_SECRET_BYTES_MAX + 1);
    if (len == 0 || len > JHOOK_SECRET_BYTES_MAX) {
        return SL_EINVAL;
    }
    if (strncmp(secret, "whsec_", 6) == 0) {
        int n = jhook__b64_decode(secret + 6, len - 6, key, JHOOK_KEY_BYTES_MAX);
        if (n <= 0) {
            return SL_EINVAL;
        }
        *key_len = (size_t)n;
        return 0;
    }
    if (len > JHOOK_KEY_BYTES_MAX) {
        return SL_EINVAL;
    }
    memcpy(key, secret, len);
    *key_len = len;
    return 0;
}

/* An id may not hold '.' (it would shift the signed fields) nor bytes unsafe in a header. */
static bool jhook__id_ok(const char *id)
{
    if (!id) {
        return false;
    }
    size_t len = strnlen(id, JHOOK_ID_BYTES_MAX + 1);
    if (len == 0 || len > JHOOK_ID_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == '.') {
            return false;
        }
    }
    return true;
}

/* base64(HMAC-SHA256(key, id "." ts "." body)) into out (45 bytes with NUL). */
static int jhook__sign_b64(const uint8_t *key, size_t key_len, const char *id, const char *ts,
                           const void *body, size_t body_len, char out[45])
{
    int rc = SL_ENOMEM;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (!ctx) {
        goto out_free;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    uint8_t md[JHOOK__MAC_BYTES];
    size_t md_len = 0;
    if (!EVP_MAC_init(ctx, key, key_len, params) ||
        !EVP_MAC_update(ctx, (const uint8_t *)id, strlen(id)) ||
        !EVP_MAC_update(ctx, (const uint8_t *)".", 1) ||
        !EVP_MAC_update(ctx, (const uint8_t *)ts, strlen(ts)) ||
        !EVP_MAC_update(ctx, (const uint8_t *)".", 1) ||
        !EVP_MAC_update(ctx, body, body_len) || !EVP_MAC_final(ctx, md, &md_len, sizeof md) ||
        md_len != sizeof md) {
        rc = SL_EINVAL;
        goto out_free;
    }
    EVP_EncodeBlock((unsigned char *)out, md, (int)sizeof md);
    rc = 0;
out_free:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int jhook_sign(const char *secret, const char *id, int64_t ts_s, const void *body,
               size_t body_len, char out[JHOOK_SIG_BYTES])
{
    uint8_t key[JHOOK_KEY_BYTES_MAX];
    size_t key_len = 0;
    int rc = jhook__key(secret, key, &key_len);
    if (rc != 0 || !jhook__id_ok(id) || ts_s < 0 || (!body && body_len)) {
        return SL_EINVAL;
    }
    char ts[JHOOK__TS_BYTES];
    snprintf(ts, sizeof ts, "%" PRId64, ts_s);
    memcpy(out, "v1,", 3);
    rc = jhook__sign_b64(key, key_len, id, ts, body ? body : "", body_len, out + 3);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

/* ---- verifying ---- */

static int jhook__ts_parse(const char *ts, int64_t *out)
{
    size_t len = strnlen(ts, 20);
    if (len == 0 || len > 18) {
        return SL_ECORRUPT;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            return SL_ECORRUPT;
        }
        v = v * 10 + (ts[i] - '0');
    }
    *out = v;
    return 0;
}

/* 0 when one "v1,<b64>" entry of the space-separated `header` equals `want` (44 chars). */
static int jhook__match(const char *header, const char *want)
{
    size_t len = strnlen(header, JHOOK_SIG_HEADER_BYTES_MAX + 1);
    if (len > JHOOK_SIG_HEADER_BYTES_MAX) {
        return SL_ECORRUPT;
    }
    bool found = false;
    const char *p = header, *end = header + len;
    while (p < end) {
        const char *tok_end = memchr(p, ' ', (size_t)(end - p));
        tok_end = tok_end ? tok_end : end;
        size_t tok_len = (size_t)(tok_end - p);
        if (tok_len == 3 + 44 && memcmp(p, "v1,", 3) == 0 &&
            CRYPTO_memcmp(p + 3, want, 44) == 0) {
            found = true; /* keep scanning: the time taken does not tell where it matched */
        }
        p = tok_end + 1;
    }
    return found ? 0 : SL_ECORRUPT;
}

int jhook_verify(const char *secret, const char *id, const char *ts, const void *body,
                 size_t body_len, const char *header, int64_t tolerance_s, int64_t now_s)
{
    uint8_t key[JHOOK_KEY_BYTES_MAX];
    size_t key_len = 0;
    if (jhook__key(secret, key, &key_len) != 0 || tolerance_s < 0 || (!body && body_len)) {
        return SL_EINVAL;
    }
    int64_t ts_s = 0;
    int rc = SL_ECORRUPT;
    if (!id || !ts || !header || !jhook__id_ok(id) || jhook__ts_parse(ts, &ts_s) != 0) {
        goto out_cleanse;
    }
    if (ts_s < now_s - tolerance_s || ts_s > now_s + tolerance_s) {
        rc = SL_ERANGE;
        goto out_cleanse;
    }
    char want[45];
    rc = jhook__sign_b64(key, key_len, id, ts, body ? body : "", body_len, want);
    if (rc == 0) {
        rc = jhook__match(header, want);
    }
out_cleanse:
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

/* ---- sending ---- */

static pthread_once_t jhook__curl_once = PTHREAD_ONCE_INIT;
static CURLcode jhook__curl_init_rc = CURLE_OK;

static void jhook__curl_init(void) { jhook__curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Reads and discards the response body, up to the bound. */
static size_t jhook__on_body(char *p, size_t size, size_t n, void *arg)
{
    jhook_t *hook = arg;
    SL_UNUSED(p);
    hook->resp_bytes += size * n;
    if (hook->resp_bytes > hook->cfg.response_bytes_max) {
        hook->resp_cut = true;
        return 0; /* CURLE_WRITE_ERROR: stop reading */
    }
    return size * n;
}

static bool jhook__cfg_ok(const jhook_config_t *cfg)
{
    return cfg->timeout_ms >= 0 && cfg->timeout_ms <= JHOOK_TIMEOUT_MS_MAX &&
           cfg->connect_timeout_ms >= 0 && cfg->connect_timeout_ms <= JHOOK_TIMEOUT_MS_MAX &&
           cfg->response_bytes_max <= JHOOK_RESPONSE_BYTES_MAX;
}

/* Every connection a delivery opens (each address curl tries) passes the outbound policy on
 * the very address it connects to; nothing is connected to otherwise (sl_egress.h). */
static curl_socket_t jhook__open_socket(void *arg, curlsocktype purpose,
                                        struct curl_sockaddr *ca)
{
    jhook_t *hook = arg;
    struct sockaddr_storage ss = {0};
    memcpy(&ss, &ca->addr, SL_MIN((size_t)ca->addrlen, sizeof ss));
    int fd = sl_egress_socket(hook->cfg.egress, hook->egress_host, ca->family, ca->socktype,
                              ca->protocol, (struct sockaddr *)&ss, hook->egress_msg,
                              sizeof hook->egress_msg);
    hook->egress_refused = hook->egress_refused || fd == -EACCES;
    return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

/* Options that hold for every delivery, set once on the handle. */
static int jhook__curl_setup(jhook_t *hook)
{
    CURL *curl = hook->curl;
    bool ok = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 0L) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)hook->cfg.timeout_ms) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                               (long)hook->cfg.connect_timeout_ms) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice-jobs-webhook/1") == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, hook->errbuf) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, jhook__on_body) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_WRITEDATA, hook) == CURLE_OK &&
              /* no proxy from the environment: the policy checks where we connect */
              curl_easy_setopt(curl, CURLOPT_PROXY, "") == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, jhook__open_socket) == CURLE_OK &&
              curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, hook) == CURLE_OK;
    return ok ? 0 : SL_EINVAL;
}

int jhook_new(const jhook_config_t *cfg, jhook_t **out)
{
    jhook_config_t c = cfg ? *cfg : (jhook_config_t){0};
    if (!jhook__cfg_ok(&c)) {
        return SL_EINVAL;
    }
    c.timeout_ms = c.timeout_ms ? c.timeout_ms : JHOOK_TIMEOUT_MS_DEFAULT;
    c.connect_timeout_ms = c.connect_timeout_ms ? c.connect_timeout_ms
                                                : JHOOK_CONNECT_TIMEOUT_MS_DEFAULT;
    c.response_bytes_max = c.response_bytes_max ? c.response_bytes_max
                                                : JHOOK_RESPONSE_BYTES_DEFAULT;
    pthread_once(&jhook__curl_once, jhook__curl_init);
    if (jhook__curl_init_rc != CURLE_OK) {
        return SL_ENOMEM;
    }
    jhook_t *hook = sl_xcalloc(1, sizeof *hook);
    hook->cfg = c;
    if (!c.egress) {
        hook->egress_own = sl_egress_new();
        hook->cfg.egress = hook->egress_own;
    }
    hook->curl = curl_easy_init();
    if (!hook->curl) {
        free(hook);
        return SL_ENOMEM;
    }
    int rc = jhook__curl_setup(hook);
    if (rc != 0) {
        jhook_free(hook);
        return rc;
    }
    *out = hook;
    return 0;
}

void jhook_free(jhook_t *hook)
{
    if (!hook) {
        return;
    }
    curl_easy_cleanup(hook->curl);
    sl_egress_free(hook->egress_own);
    free(hook);
}

static bool jhook__url_ok(const char *url)
{
    size_t len = url ? strnlen(url, JHOOK_URL_BYTES_MAX + 1) : 0;
    if (len == 0 || len > JHOOK_URL_BYTES_MAX) {
        return false;
    }
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static struct curl_slist *jhook__headers(const char *id, int64_t ts_s, const char *sig)
{
    char line[64 + JHOOK_ID_BYTES_MAX];
    struct curl_slist *list = curl_slist_append(NULL, "content-type: application/json");
    /* No "Expect: 100-continue" round trip before larger bodies. */
    struct curl_slist *tail = list ? curl_slist_append(list, "Expect:") : NULL;
    snprintf(line, sizeof line, "webhook-id: %s", id);
    tail = tail ? curl_slist_append(tail, line) : NULL;
    snprintf(line, sizeof line, "webhook-timestamp: %" PRId64, ts_s);
    tail = tail ? curl_slist_append(tail, line) : NULL;
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    tail = tail ? curl_slist_append(tail, line) : NULL;
    if (!tail) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

/* Maps the transfer's outcome to the jhook_send result. */
static int jhook__outcome(jhook_t *hook, CURLcode cc, jhook_result_t *res)
{
    long status = 0;
    curl_easy_getinfo(hook->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t retry_after = 0;
    curl_easy_getinfo(hook->curl, CURLINFO_RETRY_AFTER, &retry_after);
    res->http_status = (int)status;
    res->retry_after_s = (int64_t)retry_after;
    const char *detail = hook->errbuf[0] ? hook->errbuf : curl_easy_strerror(cc);
    if (hook->egress_refused && cc != CURLE_OK) {
        snprintf(res->reason, sizeof res->reason, "%.255s", hook->egress_msg);
        return -EACCES;
    }
    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && hook->resp_cut && status != 0)) {
        if (status >= 200 && status <= 299) {
            return 0;
        }
        snprintf(res->reason, sizeof res->reason, "HTTP %ld", status);
        return JHOOK_EHTTP;
    }
    int rc = -EIO;
    const char *what = "transport error";
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = -ETIMEDOUT;
        what = "timed out";
    } else if (cc == CURLE_COULDNT_CONNECT) {
        rc = -ECONNREFUSED;
        what = "could not connect";
    } else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
        rc = -EHOSTUNREACH;
        what = "could not resolve host";
    } else if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
        rc = SL_EINVAL;
        what = "protocol not allowed";
    }
    snprintf(res->reason, sizeof res->reason, "%s after %" PRId64 " ms: %.160s", what,
             res->elapsed_ms, detail);
    return rc;
}

int jhook_send(jhook_t *hook, const char *url, const char *secret, const char *id, int64_t ts_s,
               const void *body, size_t body_len, jhook_result_t *res)
{
    jhook_result_t scratch;
    res = res ? res : &scratch;
    memset(res, 0, sizeof *res);
    char sig[JHOOK_SIG_BYTES];
    if (!jhook__url_ok(url)) {
        snprintf(res->reason, sizeof res->reason, "refused: URL is not http:// or https://");
        return SL_EINVAL;
    }
    if (body_len > JHOOK_BODY_BYTES_MAX || jhook_sign(secret, id, ts_s, body, body_len, sig)) {
        snprintf(res->reason, sizeof res->reason, "refused: bad secret, id or body length");
        return SL_EINVAL;
    }
    struct curl_slist *headers = jhook__headers(id, ts_s, sig);
    if (!headers) {
        snprintf(res->reason, sizeof res->reason, "out of memory");
        return SL_ENOMEM;
    }
    hook->resp_bytes = 0;
    hook->resp_cut = false;
    hook->errbuf[0] = '\0';
    sl_egress_url_t u;
    hook->egress_refused = false;
    snprintf(hook->egress_host, sizeof hook->egress_host, "%s",
             sl_egress_url_parse(url, &u) == 0 ? u.host : "");
    CURL *curl = hook->curl;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    int64_t t0 = sl_time_mono_ms();
    CURLcode cc = curl_easy_perform(curl);
    res->elapsed_ms = sl_time_mono_ms() - t0;
    int rc = jhook__outcome(hook, cc, res);
    /* The handle keeps no pointer into this call's memory once it returns. */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    return rc;
}

/* ---- retry schedule ---- */

/* One "<digits><unit>" entry of [p, end) in milliseconds. */
static int jhook__delay_parse(const char *p, const char *end, int64_t *out)
{
    while (p < end && *p == ' ') {
        p++;
    }
    while (end > p && end[-1] == ' ') {
        end--;
    }
    int64_t v = 0;
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > JHOOK__SCHED_DELAY_MS_MAX) {
            return SL_EINVAL;
        }
    }
    if (p == d) {
        return SL_EINVAL;
    }
    size_t unit_len = (size_t)(end - p);
    int64_t mult = 0;
    if (unit_len == 0 || (unit_len == 1 && *p == 's')) {
        mult = 1000;
    } else if (unit_len == 2 && memcmp(p, "ms", 2) == 0) {
        mult = 1;
    } else if (unit_len == 1 && *p == 'm') {
        mult = 60000;
    } else if (unit_len == 1 && *p == 'h') {
        mult = 3600000;
    } else {
        return SL_EINVAL;
    }
    if (v * mult > JHOOK__SCHED_DELAY_MS_MAX) {
        return SL_EINVAL;
    }
    *out = v * mult;
    return 0;
}

int jhook_sched_parse(const char *spec, jhook_sched_t *sched)
{
    memset(sched, 0, sizeof *sched);
    if (!spec) {
        return SL_EINVAL;
    }
    size_t len = strnlen(spec, 1024);
    if (len == 1024) {
        return SL_EINVAL;
    }
    const char *p = spec, *end = spec + len;
    while (len > 0 && p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *tok_end = comma ? comma : end;
        if (sched->retries == JHOOK_RETRIES_MAX) {
            return SL_ELIMIT;
        }
        int rc = jhook__delay_parse(p, tok_end, &sched->delay_ms[sched->retries]);
        if (rc != 0) {
            return rc;
        }
        sched->retries++;
        p = tok_end + 1;
    }
    return 0;
}

int jhook_sched_next(const jhook_sched_t *sched, int attempts, int64_t last_ms, int64_t *next_ms)
{
    if (attempts < 1) {
        return SL_EINVAL;
    }
    if (attempts > sched->retries) {
        return SL_ELIMIT;
    }
    *next_ms = last_ms + sched->delay_ms[attempts - 1];
    return 0;
}
