/* Unit tests for src/services/jobs/jhook: Standard Webhooks signing against the spec's library
 * vector and an independent OpenSSL HMAC, the verifier, the retry schedule, and deliveries to a
 * real HTTP/1.1 receiver running in this process (127.0.0.1:0, one thread, plain sockets). */
#include "jhook.h"
#include "sl_common.h"
#include "sl_test.h"
#include "sl_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* The Standard Webhooks Go library's signing vector (libraries/go/webhook_test.go). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* ---- a tiny HTTP/1.1 receiver ---- */

#define RCV_REQ_BYTES_MAX 65536
#define RCV_SCRIPT_MAX 8

typedef enum { RCV_ANSWER, RCV_SILENT } rcv_mode_t;

typedef struct rcv {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    rcv_mode_t mode;
    int script[RCV_SCRIPT_MAX]; /* status per request; the last one repeats */
    int script_len;
    size_t resp_body_bytes;     /* response body length (filled with 'x') */
    const char *extra_header;   /* one more "Name: value" header line when set */
    atomic_int conns;           /* accepted TCP connections */
    atomic_int requests;        /* complete requests parsed */
    /* The last request, as received. */
    char method[16];
    char id[256], ts[64], sig[512], ctype[128];
    char body[RCV_REQ_BYTES_MAX];
    size_t body_len;
    char ids[RCV_SCRIPT_MAX][256]; /* webhook-id of the first requests */
} rcv_t;

/* Copies the value of header `name` from the header block [p, end) into out. */
static void rcv_header(const char *p, const char *end, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    out[0] = '\0';
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        eol = eol ? eol : end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && *v == ' ') {
                v++;
            }
            size_t n = SL_MIN((size_t)(eol - v), cap - 1);
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
        p = eol + 2;
    }
}

/* Reads until `want` bytes are buffered; false on EOF, error, stop or a full buffer. */
static bool rcv_fill(rcv_t *rcv, int fd, char *buf, size_t *len, size_t want)
{
    while (*len < want) {
        if (want > RCV_REQ_BYTES_MAX || atomic_load(&rcv->stop)) {
            return false;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        ssize_t n = read(fd, buf + *len, RCV_REQ_BYTES_MAX - *len);
        if (n <= 0) {
            return false;
        }
        *len += (size_t)n;
    }
    return true;
}

static void rcv_respond(rcv_t *rcv, int fd, int status)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\n%s%s%s"
                     "Connection: keep-alive\r\n\r\n",
                     status, rcv->resp_body_bytes, rcv->extra_header ? rcv->extra_header : "",
                     rcv->extra_header ? "\r\n" : "", "");
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n) {
        return;
    }
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (size_t left = rcv->resp_body_bytes; left > 0;) {
        ssize_t w = send(fd, chunk, SL_MIN(left, sizeof chunk), MSG_NOSIGNAL);
        if (w <= 0) {
            return;
        }
        left -= (size_t)w;
    }
}

/* Serves requests on one connection until EOF; false when the peer went away. */
static bool rcv_serve_one(rcv_t *rcv, int fd, char *buf, size_t *len)
{
    char *hend = NULL;
    while (!(hend = memmem(buf, *len, "\r\n\r\n", 4))) {
        if (!rcv_fill(rcv, fd, buf, len, *len + 1)) {
            return false;
        }
    }
    char clen[32];
    rcv_header(buf, hend + 2, "content-length", clen, sizeof clen);
    size_t head_len = (size_t)(hend + 4 - buf);
    size_t body_len = (size_t)strtoul(clen, NULL, 10);
    if (!rcv_fill(rcv, fd, buf, len, head_len + body_len)) {
        return false;
    }
    sscanf(buf, "%15s", rcv->method);
    rcv_header(buf, hend + 2, "webhook-id", rcv->id, sizeof rcv->id);
    rcv_header(buf, hend + 2, "webhook-timestamp", rcv->ts, sizeof rcv->ts);
    rcv_header(buf, hend + 2, "webhook-signature", rcv->sig, sizeof rcv->sig);
    rcv_header(buf, hend + 2, "content-type", rcv->ctype, sizeof rcv->ctype);
    memcpy(rcv->body, buf + head_len, body_len);
    rcv->body_len = body_len;
    int nreq = atomic_load(&rcv->requests);
    if (nreq < RCV_SCRIPT_MAX) {
        snprintf(rcv->ids[nreq], sizeof rcv->ids[nreq], "%s", rcv->id);
    }
    int status = rcv->script[SL_MIN(nreq, rcv->script_len - 1)];
    memmove(buf, buf + head_len + body_len, *len - head_len - body_len);
    *len -= head_len + body_len;
    atomic_fetch_add(&rcv->requests, 1);
    if (rcv->mode == RCV_ANSWER) {
        rcv_respond(rcv, fd, status);
    }
    return true;
}

static void *rcv_main(void *arg)
{
    rcv_t *rcv = arg;
    char *buf = malloc(RCV_REQ_BYTES_MAX);
    while (!atomic_load(&rcv->stop)) {
        struct pollfd pfd = {.fd = rcv->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        int fd = accept(rcv->listen_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        atomic_fetch_add(&rcv->conns, 1);
        size_t len = 0;
        while (rcv_serve_one(rcv, fd, buf, &len)) {
        }
        close(fd);
    }
    free(buf);
    return NULL;
}

/* Starts a receiver answering with the given statuses in turn (the last one repeats). */
static rcv_t *rcv_start(rcv_mode_t mode, const int *script, int script_len)
{
    rcv_t *rcv = calloc(1, sizeof *rcv);
    rcv->mode = mode;
    rcv->script_len = script_len;
    memcpy(rcv->script, script, sizeof(int) * (size_t)script_len);
    rcv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    SL_ASSERT(bind(rcv->listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    SL_ASSERT(listen(rcv->listen_fd, 16) == 0);
    SL_ASSERT(getsockname(rcv->listen_fd, (struct sockaddr *)&sa, &sl) == 0);
    rcv->port = ntohs(sa.sin_port);
    SL_ASSERT(pthread_create(&rcv->thread, NULL, rcv_main, rcv) == 0);
    return rcv;
}

static void rcv_join(rcv_t *rcv)
{
    atomic_store(&rcv->stop, true);
    pthread_join(rcv->thread, NULL);
    close(rcv->listen_fd);
}

static void rcv_free(rcv_t *rcv) { free(rcv); }

static void rcv_stop(rcv_t *rcv)
{
    rcv_join(rcv);
    rcv_free(rcv);
}

static void rcv_url(const rcv_t *rcv, char *url, size_t cap)
{
    snprintf(url, cap, "http://127.0.0.1:%d/hook", rcv->port);
}

static const char body_json[] = "{\"job\":\"j-1\",\"state\":\"succeeded\",\"result\":{\"n\":3}}";
static const char secret_b64[] = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/* ---- signing ---- */

TEST(test_sign_matches_standard_webhooks_vector)
{
    char sig[JHOOK_SIG_BYTES];
    ASSERT_EQ(jhook_sign(VEC_SECRET, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig), 0);
    ASSERT_STREQ(sig, VEC_SIG);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", VEC_BODY, strlen(VEC_BODY), VEC_SIG,
                           300, VEC_TS + 10),
              0);
}

/* HMAC-SHA256 of "<id>.<ts>.<body>" computed here with OpenSSL's one-shot HMAC(). */
static void independent_sig(const uint8_t *key, size_t key_len, const char *signed_str, char *out)
{
    uint8_t md[32];
    unsigned md_len = 0;
    HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)signed_str, strlen(signed_str), md,
         &md_len);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, md, (int)md_len);
}

TEST(test_sign_matches_independent_hmac_raw_and_whsec)
{
    char want[64], got[JHOOK_SIG_BYTES];
    /* A raw secret's bytes are the key as given. */
    independent_sig((const uint8_t *)"plain-secret", 12, "id-7.1700000000.{}", want);
    ASSERT_EQ(jhook_sign("plain-secret", "id-7", 1700000000, "{}", 2, got), 0);
    ASSERT_STREQ(got, want);
    /* whsec_: the base64 part is decoded (this one is 24 bytes). */
    uint8_t key[24];
    ASSERT_EQ(EVP_DecodeBlock(key, (const uint8_t *)secret_b64 + 6, 32), 24);
    independent_sig(key, sizeof key, "id-7.1700000000.{}", want);
    ASSERT_EQ(jhook_sign(secret_b64, "id-7", 1700000000, "{}", 2, got), 0);
    ASSERT_STREQ(got, want);
}

TEST(test_sign_rejects_bad_secret_and_id_at_limits)
{
    char sig[JHOOK_SIG_BYTES], s[256];
    ASSERT_EQ(jhook_sign("", "id", 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("whsec_", "id", 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("whsec_!!!!", "id", 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("whsec_QUJD", "id", 1, "{}", 2, sig), 0);
    /* Raw key at JHOOK_KEY_BYTES_MAX and one over. */
    memset(s, 'k', JHOOK_KEY_BYTES_MAX);
    s[JHOOK_KEY_BYTES_MAX] = '\0';
    ASSERT_EQ(jhook_sign(s, "id", 1, "{}", 2, sig), 0);
    s[JHOOK_KEY_BYTES_MAX] = 'k';
    s[JHOOK_KEY_BYTES_MAX + 1] = '\0';
    ASSERT_EQ(jhook_sign(s, "id", 1, "{}", 2, sig), SL_EINVAL);
    /* whsec_ key of 64 bytes (88 base64 chars) and of 66 bytes (88 + 4). */
    uint8_t raw[66];
    memset(raw, 7, sizeof raw);
    memcpy(s, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)s + 6, raw, 64);
    ASSERT_EQ(jhook_sign(s, "id", 1, "{}", 2, sig), 0);
    EVP_EncodeBlock((unsigned char *)s + 6, raw, 66);
    ASSERT_EQ(jhook_sign(s, "id", 1, "{}", 2, sig), SL_EINVAL);
    /* Ids: no '.', no space, length JHOOK_ID_BYTES_MAX and one over. */
    ASSERT_EQ(jhook_sign("k", "a.b", 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("k", "a b", 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("k", "", 1, "{}", 2, sig), SL_EINVAL);
    memset(s, 'i', JHOOK_ID_BYTES_MAX);
    s[JHOOK_ID_BYTES_MAX] = '\0';
    ASSERT_EQ(jhook_sign("k", s, 1, "{}", 2, sig), 0);
    s[JHOOK_ID_BYTES_MAX] = 'i';
    s[JHOOK_ID_BYTES_MAX + 1] = '\0';
    ASSERT_EQ(jhook_sign("k", s, 1, "{}", 2, sig), SL_EINVAL);
    ASSERT_EQ(jhook_sign("k", "id", -1, "{}", 2, sig), SL_EINVAL);
}

/* ---- verifying ---- */

TEST(test_verify_takes_one_of_several_and_rejects_tampering)
{
    const char *b = VEC_BODY;
    size_t n = strlen(b);
    const char *bad = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    char multi[512];
    snprintf(multi, sizeof multi, "%s v2,%s v1a,%s %s %s", bad, bad + 3, bad + 3, VEC_SIG, bad);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, multi, 300, VEC_TS), 0);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, bad, 300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", "{\"test\": 2432232315}", n, VEC_SIG,
                           300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify("whsec_QUJD", VEC_ID, "1614265330", b, n, VEC_SIG, 300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, "msg_other", "1614265330", b, n, VEC_SIG, 300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265331", b, n, VEC_SIG, 300, VEC_TS),
              SL_ECORRUPT);
    /* Malformed headers and timestamps. */
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, "", 300, VEC_TS), SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, &VEC_SIG[3], 300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "16142x5330", b, n, VEC_SIG, 300, VEC_TS),
              SL_ECORRUPT);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, "", b, n, VEC_SIG, 300, VEC_TS), SL_ECORRUPT);
    ASSERT_EQ(jhook_verify("", VEC_ID, "1614265330", b, n, VEC_SIG, 300, VEC_TS), SL_EINVAL);
}

TEST(test_verify_tolerance_at_n_and_n_plus_1)
{
    const char *b = VEC_BODY;
    size_t n = strlen(b);
    const char *ts = "1614265330";
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, ts, b, n, VEC_SIG, 300, VEC_TS + 300), 0);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, ts, b, n, VEC_SIG, 300, VEC_TS + 301), SL_ERANGE);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, ts, b, n, VEC_SIG, 300, VEC_TS - 300), 0);
    ASSERT_EQ(jhook_verify(VEC_SECRET, VEC_ID, ts, b, n, VEC_SIG, 300, VEC_TS - 301), SL_ERANGE);
}

TEST(test_verify_header_length_at_n_and_n_plus_1)
{
    const char *b = VEC_BODY;
    size_t n = strlen(b);
    char *h = malloc(JHOOK_SIG_HEADER_BYTES_MAX + 2);
    size_t sig_len = strlen(VEC_SIG);
    /* Padding entries "v0,xxx..." then the valid signature last, total exactly the maximum. */
    memset(h, 'x', JHOOK_SIG_HEADER_BYTES_MAX);
    memcpy(h, "v0,", 3);
    h[JHOOK_SIG_HEADER_BYTES_MAX - sig_len - 1] = ' ';
    memcpy(h + JHOOK_SIG_HEADER_BYTES_MAX - sig_len, VEC_SIG, sig_len + 1);
    int at_max = jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, h, 300, VEC_TS);
    memmove(h + 1, h, JHOOK_SIG_HEADER_BYTES_MAX + 1);
    h[0] = 'v';
    int over = jhook_verify(VEC_SECRET, VEC_ID, "1614265330", b, n, h, 300, VEC_TS);
    free(h);
    ASSERT_EQ(at_max, 0);
    ASSERT_EQ(over, SL_ECORRUPT);
}

/* ---- retry schedule ---- */

TEST(test_sched_parses_units_and_gives_up_after_budget)
{
    jhook_sched_t sched;
    ASSERT_EQ(jhook_sched_parse("1s,5s,30s", &sched), 0);
    ASSERT_EQ(sched.retries, 3);
    int64_t next = 0;
    ASSERT_EQ(jhook_sched_next(&sched, 1, 1000, &next), 0);
    ASSERT_EQ(next, 2000);
    ASSERT_EQ(jhook_sched_next(&sched, 2, 2000, &next), 0);
    ASSERT_EQ(next, 7000);
    ASSERT_EQ(jhook_sched_next(&sched, 3, 7000, &next), 0);
    ASSERT_EQ(next, 37000);
    ASSERT_EQ(jhook_sched_next(&sched, 4, 37000, &next), SL_ELIMIT);
    ASSERT_EQ(jhook_sched_next(&sched, 0, 0, &next), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("250ms, 2m ,1h,7", &sched), 0);
    ASSERT_EQ(sched.retries, 4);
    ASSERT_EQ(sched.delay_ms[0], 250);
    ASSERT_EQ(sched.delay_ms[1], 120000);
    ASSERT_EQ(sched.delay_ms[2], 3600000);
    ASSERT_EQ(sched.delay_ms[3], 7000);
    ASSERT_EQ(jhook_sched_parse("", &sched), 0);
    ASSERT_EQ(sched.retries, 0);
    ASSERT_EQ(jhook_sched_next(&sched, 1, 0, &next), SL_ELIMIT);
    ASSERT_EQ(jhook_sched_parse("24h", &sched), 0);
    ASSERT_EQ(jhook_sched_parse("25h", &sched), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("1s,", &sched), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("-1s", &sched), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("1d", &sched), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("s", &sched), SL_EINVAL);
    ASSERT_EQ(jhook_sched_parse("99999999999999999999ms", &sched), SL_EINVAL);
}

TEST(test_sched_retries_at_n_and_n_plus_1)
{
    char spec[256] = "1s";
    for (int i = 1; i < JHOOK_RETRIES_MAX; i++) {
        strcat(spec, ",1s");
    }
    jhook_sched_t sched;
    ASSERT_EQ(jhook_sched_parse(spec, &sched), 0);
    ASSERT_EQ(sched.retries, JHOOK_RETRIES_MAX);
    strcat(spec, ",1s");
    ASSERT_EQ(jhook_sched_parse(spec, &sched), SL_ELIMIT);
}

/* ---- deliveries ---- */

/* The receivers below listen on 127.0.0.1, which the outbound policy refuses by default:
 * the delivery tests allow it as an operator would (egress.allow.cidrs=127.0.0.1/32). */
static sl_egress_t *loopback;
static jhook_config_t loopback_cfg;

TEST(test_config_limits)
{
    jhook_t *hook = NULL;
    jhook_config_t cfg = {.timeout_ms = JHOOK_TIMEOUT_MS_MAX,
                          .connect_timeout_ms = JHOOK_TIMEOUT_MS_MAX,
                          .response_bytes_max = JHOOK_RESPONSE_BYTES_MAX};
    ASSERT_EQ(jhook_new(&cfg, &hook), 0);
    jhook_free(hook);
    cfg.timeout_ms++;
    ASSERT_EQ(jhook_new(&cfg, &hook), SL_EINVAL);
    cfg.timeout_ms--;
    cfg.connect_timeout_ms++;
    ASSERT_EQ(jhook_new(&cfg, &hook), SL_EINVAL);
    cfg.connect_timeout_ms = -1;
    ASSERT_EQ(jhook_new(&cfg, &hook), SL_EINVAL);
    cfg.connect_timeout_ms = 0;
    cfg.response_bytes_max++;
    ASSERT_EQ(jhook_new(&cfg, &hook), SL_EINVAL);
    ASSERT_EQ(jhook_new(NULL, &hook), 0);
    jhook_free(hook);
}

TEST(test_send_delivers_signed_headers_that_verify)
{
    int ok[] = {200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, ok, 1);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    int64_t now = sl_time_wall_ms() / 1000;
    jhook_result_t res;
    int rc =
        jhook_send(hook, url, secret_b64, "job-42_a1", now, body_json, strlen(body_json), &res);
    jhook_free(hook);
    rcv_join(rcv); /* the receiver's copy of the request is complete and stays put */
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(res.http_status, 200);
    ASSERT_STREQ(res.reason, "");
    ASSERT_STREQ(rcv->method, "POST");
    ASSERT_STREQ(rcv->id, "job-42_a1");
    ASSERT_EQ(strtoll(rcv->ts, NULL, 10), now);
    ASSERT_STREQ(rcv->ctype, "application/json");
    ASSERT_EQ(strncmp(rcv->sig, "v1,", 3), 0);
    ASSERT_EQ(strlen(rcv->sig), JHOOK_SIG_BYTES - 1);
    ASSERT_EQ(rcv->body_len, strlen(body_json));
    ASSERT_MEMEQ(rcv->body, body_json, rcv->body_len);
    /* The receiving side's check on what arrived, within the spec's usual 5 minutes. */
    ASSERT_EQ(jhook_verify(secret_b64, rcv->id, rcv->ts, rcv->body, rcv->body_len, rcv->sig, 300,
                           sl_time_wall_ms() / 1000),
              0);
    ASSERT_EQ(jhook_verify("whsec_QUJD", rcv->id, rcv->ts, rcv->body, rcv->body_len, rcv->sig,
                           300, sl_time_wall_ms() / 1000),
              SL_ECORRUPT);
    rcv_free(rcv);
}

/* A 500 then a 200: the delivery is retried on the schedule, with the same webhook-id, and is
 * acknowledged by the third attempt. */
TEST(test_send_500_then_200_retried_on_schedule)
{
    int script[] = {500, 500, 200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, script, 3);
    jhook_sched_t sched;
    ASSERT_EQ(jhook_sched_parse("20ms,40ms,60ms", &sched), 0);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    int attempts = 0, rc = 0;
    int statuses[4] = {0};
    int64_t t0 = sl_time_mono_ms();
    for (;;) {
        jhook_result_t res;
        rc = jhook_send(hook, url, secret_b64, "job-9", sl_time_wall_ms() / 1000, body_json,
                        strlen(body_json), &res);
        statuses[attempts++] = res.http_status;
        if (rc == 0) {
            break;
        }
        ASSERT_EQ(rc, JHOOK_EHTTP);
        ASSERT_STREQ(res.reason, "HTTP 500");
        int64_t next = 0;
        if (jhook_sched_next(&sched, attempts, sl_time_mono_ms(), &next) != 0) {
            break;
        }
        usleep((useconds_t)(next - sl_time_mono_ms()) * 1000);
    }
    int64_t took = sl_time_mono_ms() - t0;
    jhook_free(hook);
    int requests = atomic_load(&rcv->requests);
    char id0[256], id2[256];
    snprintf(id0, sizeof id0, "%s", rcv->ids[0]);
    snprintf(id2, sizeof id2, "%s", rcv->ids[2]);
    rcv_stop(rcv);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(attempts, 3);
    ASSERT_EQ(requests, 3);
    ASSERT_EQ(statuses[0], 500);
    ASSERT_EQ(statuses[1], 500);
    ASSERT_EQ(statuses[2], 200);
    ASSERT_STREQ(id0, "job-9");
    ASSERT_STREQ(id2, "job-9");
    ASSERT_TRUE(took >= 60); /* waited 20 ms + 40 ms between attempts */
}

TEST(test_send_gives_up_when_schedule_is_spent)
{
    int script[] = {503};
    rcv_t *rcv = rcv_start(RCV_ANSWER, script, 1);
    jhook_sched_t sched;
    ASSERT_EQ(jhook_sched_parse("1ms,1ms,1ms", &sched), 0);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    int attempts = 0;
    int64_t next = 0;
    do {
        attempts++;
        int rc = jhook_send(hook, url, "s3cret", "job-10", 1700000000, "{}", 2, NULL);
        ASSERT_EQ(rc, JHOOK_EHTTP);
    } while (jhook_sched_next(&sched, attempts, 0, &next) == 0);
    jhook_free(hook);
    int requests = atomic_load(&rcv->requests);
    rcv_stop(rcv);
    ASSERT_EQ(attempts, 4); /* the first attempt and 3 retries */
    ASSERT_EQ(requests, 4);
}

TEST(test_send_times_out_a_receiver_that_never_answers)
{
    int script[] = {200};
    rcv_t *rcv = rcv_start(RCV_SILENT, script, 1);
    jhook_config_t cfg = {.timeout_ms = 300, .connect_timeout_ms = 200, .egress = loopback};
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&cfg, &hook), 0);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    jhook_result_t res;
    int64_t t0 = sl_time_mono_ms();
    int rc = jhook_send(hook, url, secret_b64, "job-11", 1700000000, "{}", 2, &res);
    int64_t took = sl_time_mono_ms() - t0;
    jhook_free(hook);
    int requests = atomic_load(&rcv->requests);
    rcv_stop(rcv);
    ASSERT_EQ(rc, -ETIMEDOUT);
    ASSERT_EQ(requests, 1); /* the request arrived; no answer came */
    ASSERT_EQ(res.http_status, 0);
    ASSERT_TRUE(strncmp(res.reason, "timed out", 9) == 0);
    ASSERT_TRUE(took >= 250);
    ASSERT_TRUE(took < 2000);
    fprintf(stderr, "     timeout 300 ms: returned after %" PRId64 " ms (%s)\n", took, res.reason);
}

TEST(test_send_connection_refused_is_a_failure_with_reason)
{
    /* A bound but not listening port refuses connections; holding it keeps it ours. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    jhook_result_t res;
    int rc = jhook_send(hook, url, secret_b64, "job-12", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    close(fd);
    ASSERT_EQ(rc, -ECONNREFUSED);
    ASSERT_EQ(res.http_status, 0);
    ASSERT_TRUE(strncmp(res.reason, "could not connect", 17) == 0);
    ASSERT_TRUE(strlen(res.reason) > 24); /* curl's detail follows */
    fprintf(stderr, "     reason: %s\n", res.reason);
}

TEST(test_send_refuses_non_http_urls)
{
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    const char *urls[] = {"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/",
                          "127.0.0.1:80/hook", "", "httpx://h/", "dict://127.0.0.1:11211/"};
    for (size_t i = 0; i < SL_ARRAY_LEN(urls); i++) {
        jhook_result_t res;
        int rc = jhook_send(hook, urls[i], "k", "job-13", 1700000000, "{}", 2, &res);
        ASSERT_EQ(rc, SL_EINVAL);
        ASSERT_TRUE(strstr(res.reason, "http") != NULL);
    }
    ASSERT_EQ(jhook_send(hook, NULL, "k", "job-13", 1, "{}", 2, NULL), SL_EINVAL);
    /* Bad secret and id are refused before anything is sent. */
    ASSERT_EQ(jhook_send(hook, "http://127.0.0.1:1/", "", "job", 1, "{}", 2, NULL), SL_EINVAL);
    ASSERT_EQ(jhook_send(hook, "http://127.0.0.1:1/", "k", "a.b", 1, "{}", 2, NULL), SL_EINVAL);
    ASSERT_EQ(jhook_send(hook, "http://127.0.0.1:1/", "k", "id", 1, "{}", JHOOK_BODY_BYTES_MAX + 1,
                         NULL),
              SL_EINVAL);
    jhook_free(hook);
}

TEST(test_send_url_length_at_n_and_n_plus_1)
{
    int ok[] = {204};
    rcv_t *rcv = rcv_start(RCV_ANSWER, ok, 1);
    char *url = malloc(JHOOK_URL_BYTES_MAX + 2);
    int n = snprintf(url, JHOOK_URL_BYTES_MAX, "http://127.0.0.1:%d/", rcv->port);
    memset(url + n, 'p', JHOOK_URL_BYTES_MAX - (size_t)n);
    url[JHOOK_URL_BYTES_MAX] = '\0';
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    int at_max = jhook_send(hook, url, "k", "job-14", 1700000000, "{}", 2, NULL);
    url[JHOOK_URL_BYTES_MAX] = 'p';
    url[JHOOK_URL_BYTES_MAX + 1] = '\0';
    int over = jhook_send(hook, url, "k", "job-14", 1700000000, "{}", 2, NULL);
    jhook_free(hook);
    free(url);
    rcv_stop(rcv);
    ASSERT_EQ(at_max, 0);
    ASSERT_EQ(over, SL_EINVAL);
}

TEST(test_send_reuses_one_connection_across_deliveries)
{
    int ok[] = {200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, ok, 1);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    int failed = 0;
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "job-15-%d", i);
        failed += jhook_send(hook, url, secret_b64, id, 1700000000, body_json, strlen(body_json),
                             NULL) != 0;
    }
    jhook_free(hook);
    int conns = atomic_load(&rcv->conns), requests = atomic_load(&rcv->requests);
    rcv_stop(rcv);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(requests, 5);
    ASSERT_EQ(conns, 1);
}

TEST(test_send_does_not_follow_redirects)
{
    int script[] = {302, 200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, script, 2);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    rcv->extra_header = "Location: http://127.0.0.1:1/elsewhere";
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    jhook_result_t res;
    int rc = jhook_send(hook, url, "k", "job-16", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    int requests = atomic_load(&rcv->requests);
    rcv_stop(rcv);
    ASSERT_EQ(rc, JHOOK_EHTTP);
    ASSERT_EQ(res.http_status, 302);
    ASSERT_STREQ(res.reason, "HTTP 302");
    ASSERT_EQ(requests, 1);
}

TEST(test_send_bounds_the_response_body)
{
    int script[] = {200, 500};
    rcv_t *rcv = rcv_start(RCV_ANSWER, script, 2);
    rcv->resp_body_bytes = 1 << 20;
    char url[128];
    rcv_url(rcv, url, sizeof url);
    jhook_config_t cfg = {.response_bytes_max = 1024, .egress = loopback};
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&cfg, &hook), 0);
    jhook_result_t res;
    int ok = jhook_send(hook, url, "k", "job-17", 1700000000, "{}", 2, &res);
    int fail = jhook_send(hook, url, "k", "job-18", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    int conns = atomic_load(&rcv->conns);
    rcv_stop(rcv);
    ASSERT_EQ(ok, 0);        /* the status was 2xx; the rest of the body is not read */
    ASSERT_EQ(conns, 2);     /* cutting the body closed the first connection */
    ASSERT_EQ(fail, JHOOK_EHTTP);
    ASSERT_EQ(res.http_status, 500);
}

TEST(test_send_reports_retry_after)
{
    int script[] = {503};
    rcv_t *rcv = rcv_start(RCV_ANSWER, script, 1);
    rcv->extra_header = "Retry-After: 7";
    char url[128];
    rcv_url(rcv, url, sizeof url);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&loopback_cfg, &hook), 0);
    jhook_result_t res;
    int rc = jhook_send(hook, url, "k", "job-19", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    rcv_stop(rcv);
    ASSERT_EQ(rc, JHOOK_EHTTP);
    ASSERT_EQ(res.http_status, 503);
    ASSERT_EQ(res.retry_after_s, 7);
}

/* A listener whose accept queue is full drops new SYNs, so the connect never completes: the
 * connect timeout ends the delivery, well before the total timeout. */
TEST(test_send_connect_timeout_when_nobody_accepts)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_EQ(listen(lfd, 0), 0);
    ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    int fillers[4];
    for (size_t i = 0; i < SL_ARRAY_LEN(fillers); i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof sa);
    }
    usleep(50 * 1000);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    jhook_config_t cfg = {.timeout_ms = 5000, .connect_timeout_ms = 200, .egress = loopback};
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&cfg, &hook), 0);
    jhook_result_t res;
    int64_t t0 = sl_time_mono_ms();
    int rc = jhook_send(hook, url, "k", "job-20", 1700000000, "{}", 2, &res);
    int64_t took = sl_time_mono_ms() - t0;
    jhook_free(hook);
    for (size_t i = 0; i < SL_ARRAY_LEN(fillers); i++) {
        close(fillers[i]);
    }
    close(lfd);
    ASSERT_EQ(rc, -ETIMEDOUT);
    ASSERT_TRUE(took >= 150);
    ASSERT_TRUE(took < 2000);
    fprintf(stderr, "     connect timeout 200 ms: returned after %" PRId64 " ms (%s)\n", took,
            res.reason);
}

/* ---- the outbound policy (sl_egress.h) on deliveries ---- */

TEST(test_send_refuses_loopback_by_default_without_connecting)
{
    int ok[] = {200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, ok, 1);
    char url[128];
    rcv_url(rcv, url, sizeof url);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(NULL, &hook), 0);
    jhook_result_t res;
    int rc = jhook_send(hook, url, "k", "job-30", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    int conns = atomic_load(&rcv->conns);
    rcv_stop(rcv);
    ASSERT_EQ(rc, -EACCES);
    ASSERT_STREQ(res.reason, "refused: 127.0.0.1 is a loopback address; allow it with "
                             "egress.allow.cidrs=127.0.0.1/32");
    ASSERT_EQ(conns, 0); /* refused before connect: an open port looks like a closed one */
}

TEST(test_send_refuses_a_name_that_resolves_to_loopback)
{
    int ok[] = {200};
    rcv_t *rcv = rcv_start(RCV_ANSWER, ok, 1);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/hook", rcv->port);
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(NULL, &hook), 0);
    jhook_result_t res;
    int rc = jhook_send(hook, url, "k", "job-31", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    int conns = atomic_load(&rcv->conns);
    rcv_stop(rcv);
    ASSERT_EQ(rc, -EACCES);
    ASSERT_TRUE(strncmp(res.reason, "refused: localhost (", 20) == 0);
    ASSERT_TRUE(strstr(res.reason, "egress.allow.hosts=localhost") != NULL);
    ASSERT_EQ(conns, 0);
}

TEST(test_send_allowance_for_one_port_keeps_another_refused)
{
    int ok[] = {200};
    rcv_t *allowed = rcv_start(RCV_ANSWER, ok, 1), *other = rcv_start(RCV_ANSWER, ok, 1);
    char a_url[128], o_url[128], spec[64], err[128];
    rcv_url(allowed, a_url, sizeof a_url);
    rcv_url(other, o_url, sizeof o_url);
    sl_egress_t *eg = sl_egress_new();
    snprintf(spec, sizeof spec, "127.0.0.1:%d", allowed->port);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", spec, err, sizeof err), 0);
    jhook_config_t cfg = {.egress = eg};
    jhook_t *hook = NULL;
    ASSERT_EQ(jhook_new(&cfg, &hook), 0);
    jhook_result_t res;
    int rc_a = jhook_send(hook, a_url, "k", "job-32", 1700000000, "{}", 2, NULL);
    int rc_o = jhook_send(hook, o_url, "k", "job-33", 1700000000, "{}", 2, &res);
    jhook_free(hook);
    sl_egress_free(eg);
    int a_req = atomic_load(&allowed->requests), o_conns = atomic_load(&other->conns);
    rcv_stop(allowed);
    rcv_stop(other);
    ASSERT_EQ(rc_a, 0);
    ASSERT_EQ(a_req, 1);
    ASSERT_EQ(rc_o, -EACCES);
    ASSERT_EQ(o_conns, 0);
}

int main(void)
{
    char err[128];
    loopback = sl_egress_new();
    if (sl_egress_set(loopback, "egress.allow.cidrs", "127.0.0.1/32", err, sizeof err) != 0) {
        return 1;
    }
    loopback_cfg.egress = loopback;
    int64_t t0 = sl_time_mono_ms();
    RUN(test_sign_matches_standard_webhooks_vector);
    RUN(test_sign_matches_independent_hmac_raw_and_whsec);
    RUN(test_sign_rejects_bad_secret_and_id_at_limits);
    RUN(test_verify_takes_one_of_several_and_rejects_tampering);
    RUN(test_verify_tolerance_at_n_and_n_plus_1);
    RUN(test_verify_header_length_at_n_and_n_plus_1);
    RUN(test_sched_parses_units_and_gives_up_after_budget);
    RUN(test_sched_retries_at_n_and_n_plus_1);
    RUN(test_config_limits);
    RUN(test_send_delivers_signed_headers_that_verify);
    RUN(test_send_refuses_loopback_by_default_without_connecting);
    RUN(test_send_refuses_a_name_that_resolves_to_loopback);
    RUN(test_send_allowance_for_one_port_keeps_another_refused);
    RUN(test_send_500_then_200_retried_on_schedule);
    RUN(test_send_gives_up_when_schedule_is_spent);
    RUN(test_send_times_out_a_receiver_that_never_answers);
    RUN(test_send_connection_refused_is_a_failure_with_reason);
    RUN(test_send_refuses_non_http_urls);
    RUN(test_send_url_length_at_n_and_n_plus_1);
    RUN(test_send_reuses_one_connection_across_deliveries);
    RUN(test_send_does_not_follow_redirects);
    RUN(test_send_bounds_the_response_body);
    RUN(test_send_reports_retry_after);
    RUN(test_send_connect_timeout_when_nobody_accepts);
    fprintf(stderr, "     total %" PRId64 " ms\n", sl_time_mono_ms() - t0);
    TEST_MAIN_END();
}
