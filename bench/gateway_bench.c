/* Load generator of bench/gateway (one epoll thread, no libraries beyond librdkafka):
 *   gateway_bench ws HOST PORT PATH CONNS LINES RATE SECONDS GW_PID
 *     opens CONNS WebSocket STOMP sessions subscribed to /sub/line/{i % LINES}, measures the
 *     gateway's RSS before and after, then POSTs RATE alerts/s for SECONDS over keep-alive HTTP
 *     connections ({"line","location","t": send time in us}) and measures POST -> MESSAGE
 *     latency at every subscriber.
 *   gateway_bench floor BROKERS TOPIC RATE SECONDS
 *     the same rate through librdkafka only (acks=all producer -> assigned consumer): the raw
 *     broker produce-to-consume latency, the floor under the gateway's figure.
 * Prints one line of key=value results. Every phase is bounded in time. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_CONNS 48
#define RX_BYTES (256 * 1024)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} samples_t;

static void sample(samples_t *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) {
            die("realloc");
        }
    }
    s->v[s->n++] = (uint32_t)(us < 0 ? 0 : us);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(samples_t *s, double p)
{
    if (s->n == 0) {
        return -1;
    }
    size_t i = (size_t)(p * (double)(s->n - 1));
    return s->v[i] / 1000.0;
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

/* ---- WebSocket subscribers ---- */

enum { WS_HANDSHAKE, WS_SUBSCRIBING, WS_LIVE, WS_DEAD };
enum { KIND_WS, KIND_HTTP };

typedef struct {
    int kind, fd, state;
    uint8_t *rx;
    size_t rx_len;
    int64_t sent_us; /* HTTP: request in flight since */
} conn_t;

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    if (fd < 0) {
        die("socket");
    }
    inet_pton(AF_INET, host, &sa.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        die("connect");
    }
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    int64_t deadline = now_us() + 5000000;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            die("write");
        } else if (now_us() > deadline) {
            fprintf(stderr, "write timed out\n");
            exit(1);
        }
    }
}

/* One masked (all-zero key) text frame. */
static void ws_send(int fd, const char *text, size_t n)
{
    uint8_t hdr[8];
    size_t h = 0;
    hdr[h++] = 0x81;
    if (n < 126) {
        hdr[h++] = (uint8_t)(0x80 | n);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    }
    memset(hdr + h, 0, 4);
    h += 4;
    uint8_t buf[1024];
    memcpy(buf, hdr, h);
    memcpy(buf + h, text, n);
    write_all(fd, buf, h + n);
}

typedef struct {
    int64_t delivered, subscribed, closed;
    samples_t lat;
} ws_stats_t;

/* Parses the complete frames of c; returns false when the connection is unusable. */
static bool ws_frames(conn_t *c, int line, const char *path, ws_stats_t *st)
{
    size_t pos = 0;
    if (c->state == WS_HANDSHAKE) {
        uint8_t *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
        if (!end) {
            return true;
        }
        if (c->rx_len < 12 || memcmp(c->rx + 9, "101", 3) != 0) {
            return false;
        }
        pos = (size_t)(end - c->rx) + 4;
        char f[256];
        int n = snprintf(f, sizeof f, "CONNECT\naccept-version:1.2\nhost:b\nheart-beat:0,0\n\n");
        ws_send(c->fd, f, (size_t)n + 1);
        n = snprintf(f, sizeof f, "SUBSCRIBE\nid:0\ndestination:%s%d\nreceipt:r\n\n", path, line);
        ws_send(c->fd, f, (size_t)n + 1);
        c->state = WS_SUBSCRIBING;
    }
    while (c->rx_len - pos >= 2) {
        uint8_t *p = c->rx + pos;
        size_t len = p[1] & 0x7f, h = 2;
        if (len == 126) {
            if (c->rx_len - pos < 4) {
                break;
            }
            len = (size_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (c->rx_len - pos < 10) {
                break;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = len << 8 | p[2 + i];
            }
            h = 10;
        }
        if (c->rx_len - pos < h + len) {
            break;
        }
        const uint8_t *msg = p + h;
        if ((p[0] & 0x0f) == 8) {
            return false; /* close */
        }
        /* one WebSocket message may hold several STOMP frames (NUL-terminated) */
        for (size_t off = 0; off < len;) {
            const uint8_t *f = msg + off, *nul = memchr(f, '\0', len - off);
            size_t flen = nul ? (size_t)(nul - f) : len - off;
            if (flen >= 7 && memcmp(f, "RECEIPT", 7) == 0 && c->state == WS_SUBSCRIBING) {
                c->state = WS_LIVE;
                st->subscribed++;
            } else if (flen >= 7 && memcmp(f, "MESSAGE", 7) == 0) {
                const uint8_t *t = memmem(f, flen, "\"t\":", 4);
                st->delivered++;
                if (t) {
                    sample(&st->lat, now_us() - strtoll((const char *)t + 4, NULL, 10));
                }
            } else if (flen >= 5 && memcmp(f, "ERROR", 5) == 0) {
                fprintf(stderr, "ERROR frame: %.*s\n", (int)(flen > 200 ? 200 : flen), f);
                return false;
            }
            off += flen + 1;
            while (off < len && (msg[off] == '\n' || msg[off] == '\r')) {
                off++; /* heart-beats */
            }
        }
        pos += h + len;
    }
    memmove(c->rx, c->rx + pos, c->rx_len - pos);
    c->rx_len -= pos;
    return true;
}

/* Reads what is there; returns false on EOF or error. */
static bool drain(conn_t *c)
{
    for (;;) {
        if (c->rx_len == RX_BYTES) {
            return true;
        }
        ssize_t n = read(c->fd, c->rx + c->rx_len, RX_BYTES - c->rx_len);
        if (n > 0) {
            c->rx_len += (size_t)n;
        } else if (n == 0) {
            return false;
        } else {
            return errno == EAGAIN || errno == EINTR;
        }
    }
}

/* An HTTP response is complete once its headers and Content-Length bytes are in. */
static int http_done(conn_t *c)
{
    uint8_t *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
    if (!end) {
        return 0;
    }
    const char *cl = memmem(c->rx, (size_t)(end - c->rx), "content-length:", 15);
    if (!cl) {
        cl = memmem(c->rx, (size_t)(end - c->rx), "Content-Length:", 15);
    }
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0, total = (size_t)(end - c->rx) + 4 + body;
    if (c->rx_len < total) {
        return 0;
    }
    int status = atoi((const char *)c->rx + 9);
    memmove(c->rx, c->rx + total, c->rx_len - total);
    c->rx_len -= total;
    return status;
}

static void poll_once(int ep, conn_t *conns, int nconns, int lines, const char *path,
                      ws_stats_t *st, samples_t *post_lat, int64_t *posted_ok, int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->state == WS_DEAD) {
            continue;
        }
        bool ok = drain(c);
        if (c->kind == KIND_WS) {
            ok = ws_frames(c, (int)(c - conns) % lines, path, st) && ok;
        } else {
            int status;
            while ((status = http_done(c)) != 0) {
                if (status != 200) {
                    fprintf(stderr, "POST answered %d\n", status);
                } else {
                    (*posted_ok)++;
                }
                sample(post_lat, now_us() - c->sent_us);
                c->sent_us = 0;
            }
        }
        if (!ok) {
            c->state = WS_DEAD;
            st->closed++;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
        }
    }
    (void)nconns;
}

static int run_ws(char **a)
{
    const char *host = a[0], *path = a[2];
    int port = atoi(a[1]), nconns = atoi(a[3]), lines = atoi(a[4]), rate = atoi(a[5]);
    int secs = atoi(a[6]), gw_pid = atoi(a[7]);
    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconns + HTTP_CONNS, sizeof *conns);
    ws_stats_t st = {0};
    samples_t post_lat = {0};
    int64_t posted = 0, posted_ok = 0;
    long rss0 = rss_kb(gw_pid);
    int64_t t0 = now_us();
    for (int i = 0; i < nconns + HTTP_CONNS; i++) {
        conn_t *c = &conns[i];
        c->kind = i < nconns ? KIND_WS : KIND_HTTP;
        c->fd = connect_to(host, port);
        c->rx = malloc(RX_BYTES);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (c->kind == KIND_WS) {
            char req[512];
            int n = snprintf(req, sizeof req,
                             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n",
                             path, host, port);
            int64_t deadline = now_us() + 5000000; /* wait for the TCP connect */
            for (;;) {
                ssize_t w = write(c->fd, req, (size_t)n);
                if (w == n) {
                    break;
                }
                if (now_us() > deadline) {
                    die("connect timed out");
                }
                poll_once(ep, conns, nconns, lines, "/sub/line/", &st, &post_lat, &posted_ok, 1);
            }
        }
        if (i % 200 == 199) {
            poll_once(ep, conns, nconns, lines, "/sub/line/", &st, &post_lat, &posted_ok, 0);
        }
    }
    int64_t deadline = now_us() + 120 * 1000000LL;
    while (st.subscribed + st.closed < nconns && now_us() < deadline) {
        poll_once(ep, conns, nconns, lines, "/sub/line/", &st, &post_lat, &posted_ok, 50);
    }
    double setup_s = (double)(now_us() - t0) / 1e6;
    long rss1 = rss_kb(gw_pid);
    int64_t subscribed = st.subscribed;
    /* load: RATE alerts/s, round-robin over lines, on idle HTTP connections */
    int64_t start = now_us(), end = start + (int64_t)secs * 1000000, behind = 0;
    int64_t total = (int64_t)rate * secs;
    while (now_us() < end || posted < total) {
        int64_t due = (now_us() - start) * rate / 1000000;
        due = due > total ? total : due;
        for (int i = nconns; i < nconns + HTTP_CONNS && posted < due; i++) {
            conn_t *c = &conns[i];
            if (c->sent_us || c->state == WS_DEAD) {
                continue;
            }
            char body[160], req[512];
            int bl = snprintf(body, sizeof body, "{\"line\":\"%lld\",\"location\":\"bench\",\"t\":%lld}",
                              (long long)(posted % lines), (long long)now_us());
            int n = snprintf(req, sizeof req,
                             "POST /alert HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                             "Content-Length: %d\r\n\r\n%s", bl, body);
            c->sent_us = now_us();
            write_all(c->fd, req, (size_t)n);
            posted++;
        }
        behind = due - posted > behind ? due - posted : behind;
        if (now_us() > end + 30 * 1000000LL) {
            break;
        }
        poll_once(ep, conns, nconns, lines, "/sub/line/", &st, &post_lat, &posted_ok, 1);
    }
    double load_s = (double)(now_us() - start) / 1e6;
    int64_t want = 0;
    for (int i = 0; i < nconns; i++) {
        want += conns[i].state == WS_LIVE ? posted / lines + ((i % lines) < posted % lines) : 0;
    }
    deadline = now_us() + 30 * 1000000LL; /* the tail */
    while (st.delivered < want && now_us() < deadline) {
        poll_once(ep, conns, nconns, lines, "/sub/line/", &st, &post_lat, &posted_ok, 20);
    }
    long rss2 = rss_kb(gw_pid);
    qsort(st.lat.v, st.lat.n, sizeof *st.lat.v, cmp_u32);
    qsort(post_lat.v, post_lat.n, sizeof *post_lat.v, cmp_u32);
    printf("conns=%d subscribed=%lld setup_s=%.1f rss_before_kb=%ld rss_conns_kb=%ld "
           "kb_per_conn=%.1f posted=%lld posted_ok=%lld post_rate=%.0f max_behind=%lld "
           "delivered=%lld expected=%lld closed=%lld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "post_p50_ms=%.2f post_p99_ms=%.2f rss_end_kb=%ld\n",
           nconns, (long long)subscribed, setup_s, rss0, rss1,
           (double)(rss1 - rss0) / (subscribed ? (double)subscribed : 1.0), (long long)posted,
           (long long)posted_ok, (double)posted / load_s, (long long)behind,
           (long long)st.delivered, (long long)want, (long long)st.closed, pct(&st.lat, 0.5),
           pct(&st.lat, 0.99), pct(&st.lat, 1.0), pct(&post_lat, 0.5), pct(&post_lat, 0.99),
           rss2);
    return st.delivered == want ? 0 : 1;
}

/* ---- the floor: librdkafka produce -> consume ---- */

static int run_floor(char **a)
{
    const char *brokers = a[0], *topic = a[1];
    int rate = atoi(a[2]), secs = atoi(a[3]);
    char err[256];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(pc, "acks", "all", err, sizeof err);
    rd_kafka_conf_set(pc, "linger.ms", "0", err, sizeof err);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set(cc, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(cc, "group.id", "floor", err, sizeof err);
    rd_kafka_conf_set(cc, "fetch.wait.max.ms", "20", err, sizeof err);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!prod || !cons) {
        fprintf(stderr, "clients: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(cons);
    int64_t lo = 0, hi = 0;
    rd_kafka_query_watermark_offsets(cons, topic, 0, &lo, &hi, 10000);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = hi;
    rd_kafka_assign(cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* warm-up: one record through, so the consumer is fetching before the clock starts */
    rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_VALUE("warm-up", 7), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    int64_t warm_deadline = now_us() + 30 * 1000000LL;
    bool warm = false;
    while (!warm && now_us() < warm_deadline) {
        rd_kafka_poll(prod, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 10);
        warm = m && !m->err;
        if (m) {
            rd_kafka_message_destroy(m);
        }
    }
    samples_t lat = {0};
    int64_t total = (int64_t)rate * secs, sent = 0, got = 0;
    int64_t start = now_us(), deadline = start + (int64_t)(secs + 30) * 1000000;
    while (got < total && now_us() < deadline) {
        int64_t due = (now_us() - start) * rate / 1000000;
        for (; sent < due && sent < total; sent++) {
            char v[96];
            int n = snprintf(v, sizeof v, "{\"line\":\"%lld\",\"location\":\"bench\",\"t\":%lld}",
                             (long long)(sent % 100), (long long)now_us());
            rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(v, (size_t)n),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        rd_kafka_poll(prod, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 1);
        if (m && !m->err) {
            const char *t = memmem(m->payload, m->len, "\"t\":", 4);
            if (t) {
                sample(&lat, now_us() - strtoll(t + 4, NULL, 10));
                got++;
            }
        }
        if (m) {
            rd_kafka_message_destroy(m);
        }
    }
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u32);
    printf("floor_sent=%lld floor_got=%lld floor_p50_ms=%.2f floor_p99_ms=%.2f floor_max_ms=%.2f\n",
           (long long)sent, (long long)got, pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 1.0));
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_flush(prod, 5000);
    rd_kafka_destroy(prod);
    return got == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 10 && strcmp(argv[1], "ws") == 0) {
        return run_ws(argv + 2);
    }
    if (argc == 6 && strcmp(argv[1], "floor") == 0) {
        return run_floor(argv + 2);
    }
    fprintf(stderr, "usage: gateway_bench ws HOST PORT PATH CONNS LINES RATE SECONDS GW_PID\n"
                    "       gateway_bench floor BROKERS TOPIC RATE SECONDS\n");
    return 2;
}
