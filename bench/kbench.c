/* kbench: small librdkafka benchmark client for bench/run.
 *
 *   kbench produce  -b HOST:PORT -t TOPIC [-n COUNT] [-s SIZE] [-d MAXSEC] [-l LINGER_MS]
 *   kbench latency  -b HOST:PORT -t TOPIC [-r RATE] [-d SEC] [-s SIZE] [-l LINGER_MS] [-N]
 *   kbench consume  -b HOST:PORT -t TOPIC [-n COUNT] [-d MAXSEC]
 *   kbench fetch    -b HOST:PORT -t TOPIC [-n COUNT] [-d MAXSEC]   (raw Fetch v4, partition 0)
 *   kbench floor    -f FILE [-r RATE] [-d SEC] [-s SIZE] [-z MiB] (ideal group commit on FILE)
 *   kbench spawn    READY_FILE LOG_FILE -- CMD ARGS...   (fork/exec, wait for ready file)
 *   kbench freeport                                      (prints a free 127.0.0.1 TCP port)
 *
 * -N turns Nagle's algorithm off on the producer's sockets (socket.nagle.disable=true, TCP_NODELAY:
 * what Kafka's Java client always does and librdkafka's latency guide advises; librdkafka's
 * default leaves it on, so a small request can wait for the ACK of the one before it).
 *
 * Every mode prints one line of key=value pairs on stdout (machine-readable for bench/run).
 * Producers use acks=all. Latency is per message: delivery-report time minus enqueue time.
 *
 * fetch measures what the broker serves, without a client library's record decoding: one
 * Fetch request in flight (64 MiB), the response read into one buffer, batch headers walked
 * for the next offset. floor measures the disk, without a broker: one thread appends what
 * RATE records of SIZE bytes would have brought since the previous sync, then fdatasyncs, back
 * to back (waiting when none has arrived); a record arriving at time t is durable at the end
 * of the first sync that starts after t (the best any group commit can do), and those
 * latencies give p50/p99/p99.9. With -z the file is first filled with that many MiB of zeros
 * (synced), which the appends then overwrite: the floor with zero-ahead (src/log/zero.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *brokers = "127.0.0.1:9092", *topic = "bench";
static long count = 1000000, size = 1024, rate = 10000;
static double maxsec = 15.0;
static const char *floor_file;
static long prezero; /* floor -z: bytes written as zeros and synced first */
static int linger = 5;
static int nodelay = 0;

/* produce state */
static long delivered, failed;
static double last_dr;
static uint64_t *lat_ns; /* latency mode: per-message latency */
static long lat_n, lat_cap;
static int latency_mode;

static void die(const char *m, const char *d) {
    fprintf(stderr, "kbench: %s%s%s\n", m, d ? ": " : "", d ? d : "");
    exit(2);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die(k, err);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) {
        if (failed++ < 5) fprintf(stderr, "kbench: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    delivered++;
    if (latency_mode && m->_private) {
        uint64_t t0 = (uint64_t)(uintptr_t)m->_private;
        if (lat_n < lat_cap) lat_ns[lat_n++] = now_ns() - t0;
    } else {
        last_dr = now_s();
    }
}

static rd_kafka_t *mk_producer(void) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char buf[32];
    set(c, "bootstrap.servers", brokers);
    set(c, "acks", "all");
    snprintf(buf, sizeof buf, "%d", linger);
    set(c, "linger.ms", buf);
    set(c, "batch.size", "1048576");
    set(c, "batch.num.messages", "100000");
    set(c, "compression.type", "none");
    set(c, "queue.buffering.max.messages", "1000000");
    set(c, "queue.buffering.max.kbytes", "2097151");
    set(c, "message.timeout.ms", "60000");
    if (nodelay) set(c, "socket.nagle.disable", "true");
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    return rk;
}

/* Make sure the topic exists (auto-create via metadata) before the clock starts. */
static void warm_topic(rd_kafka_t *rk) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    for (int i = 0; i < 100; i++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int ok = md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0;
            rd_kafka_metadata_destroy(md);
            if (ok) break;
        }
        usleep(100000);
    }
    rd_kafka_topic_destroy(t);
}

static int produce_one(rd_kafka_t *rk, const char *payload, void *opaque) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                                  RD_KAFKA_V_VALUE((void *)payload, (size_t)size),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                  RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (!e) return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 1);
    }
}

static int mode_produce(void) {
    rd_kafka_t *rk = mk_producer();
    warm_topic(rk);
    char *payload = malloc((size_t)size);
    for (long i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);
    double t0 = now_s(), deadline = t0 + maxsec;
    long sent = 0;
    while (sent < count && now_s() < deadline) {
        produce_one(rk, payload, NULL);
        sent++;
        if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    while (delivered + failed < sent && now_s() < deadline + 30) rd_kafka_poll(rk, 50);
    double el = last_dr > t0 ? last_dr - t0 : now_s() - t0;
    printf("mode=produce sent=%ld delivered=%ld failed=%ld seconds=%.3f rec_s=%.0f mb_s=%.2f\n", sent,
           delivered, failed, el, delivered / el, delivered * (double)size / el / 1048576.0);
    rd_kafka_destroy(rk);
    free(payload);
    return failed ? 1 : 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int mode_latency(void) {
    latency_mode = 1;
    rd_kafka_t *rk = mk_producer();
    warm_topic(rk);
    char *payload = malloc((size_t)size);
    memset(payload, 'x', (size_t)size);
    lat_cap = (long)(rate * maxsec) + 16;
    lat_ns = calloc((size_t)lat_cap, sizeof *lat_ns);
    /* 1 s warm-up at the same rate, not recorded */
    uint64_t start = now_ns(), warm = 1000000000ull;
    uint64_t total = warm + (uint64_t)(maxsec * 1e9);
    long sent = 0, warm_sent = 0;
    for (;;) {
        uint64_t t = now_ns() - start;
        if (t >= total) break;
        long due = (long)((double)t * (double)rate / 1e9);
        while (sent < due) {
            int recording = (now_ns() - start) >= warm;
            produce_one(rk, payload, recording ? (void *)(uintptr_t)now_ns() : NULL);
            if (!recording) warm_sent++;
            sent++;
        }
        rd_kafka_poll(rk, 0);
        /* sleep ~until the next message is due (poll wakes on delivery reports) */
        uint64_t next = (uint64_t)((double)(sent + 1) * 1e9 / (double)rate);
        uint64_t nowt = now_ns() - start;
        if (next > nowt) {
            uint64_t d = next - nowt;
            if (d >= 1000000) rd_kafka_poll(rk, (int)(d / 1000000));
            else { struct timespec ts = {0, (long)d}; nanosleep(&ts, NULL); }
        }
    }
    double el = (double)(now_ns() - start - warm) / 1e9;
    while (delivered + failed < sent) rd_kafka_poll(rk, 10);
    qsort(lat_ns, (size_t)lat_n, sizeof *lat_ns, cmp_u64);
#define PCT(p) (lat_n ? (double)lat_ns[(long)((double)(lat_n - 1) * (p))] / 1e6 : 0)
    printf("mode=latency rate=%ld sent=%ld measured=%ld failed=%ld achieved_rec_s=%.0f p50_ms=%.3f "
           "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
           rate, sent, lat_n, failed, (sent - warm_sent) / el, PCT(0.50), PCT(0.99), PCT(0.999),
           lat_n ? (double)lat_ns[lat_n - 1] / 1e6 : 0);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}

static int mode_consume(void) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    set(c, "bootstrap.servers", brokers);
    set(c, "group.id", "kbench");
    set(c, "enable.auto.commit", "false");
    set(c, "enable.partition.eof", "true");
    set(c, "fetch.max.bytes", "52428800");
    set(c, "fetch.message.max.bytes", "4194304");
    set(c, "queued.max.messages.kbytes", "262144");
    set(c, "fetch.wait.max.ms", "100");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    /* Metadata first: librdkafka 2.0.2 queries the start offset of a partition assigned before
     * it knows the leader only on a retry 500 ms later. The rate runs from the first record to
     * the last (Kafka's consumer perf tool reports fetch time apart from start-up); start-up,
     * assign to first record, is printed on its own. */
    warm_topic(rk);
    double t0 = now_s(), deadline = t0 + maxsec, tf = 0, tl = t0, bytes0 = 0;
    if (rd_kafka_assign(rk, pl)) die("assign", NULL);
    long n = 0;
    double bytes = 0;
    int eof = 0;
    while (n < count && !eof && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eof = 1;
        else if (m->err) fprintf(stderr, "kbench: consume error: %s\n", rd_kafka_message_errstr(m));
        else {
            tl = now_s();
            if (n++ == 0) { tf = tl; bytes0 = (double)m->len; }
            bytes += (double)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double el = n > 1 ? tl - tf : 0;
    printf("mode=consume records=%ld bytes=%.0f first_ms=%.1f seconds=%.3f rec_s=%.0f mb_s=%.2f\n",
           n, bytes, n ? (tf - t0) * 1e3 : -1.0, el, el > 0 ? (double)(n - 1) / el : 0,
           el > 0 ? (bytes - bytes0) / el / 1048576.0 : 0);
    rd_kafka_topic_partition_list_destroy(pl);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n > 0 ? 0 : 1;
}

static void put16(uint8_t **p, int v) { (*p)[0] = (uint8_t)(v >> 8); (*p)[1] = (uint8_t)v; *p += 2; }
static void put32(uint8_t **p, uint32_t v) { for (int i = 0; i < 4; i++) (*p)[i] = (uint8_t)(v >> (24 - 8 * i)); *p += 4; }
static void put64(uint8_t **p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p, (uint32_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void read_full(int fd, uint8_t *buf, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) die("fetch: connection closed", r < 0 ? strerror(errno) : NULL);
        got += (size_t)r;
    }
}

/* Raw Fetch v4 of partition 0 from offset 0 until COUNT records or the end of the log. */
static int mode_fetch(void) {
    enum { MAXB = 64 << 20 };
    char host[256];
    snprintf(host, sizeof host, "%s", brokers);
    char *colon = strrchr(host, ':');
    if (!colon) die("fetch: -b HOST:PORT", brokers);
    *colon = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("fetch: bad address", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) die("fetch: connect", strerror(errno));
    uint8_t *buf = malloc(MAXB + (1 << 20)), req[512];
    if (!buf) die("fetch: out of memory", NULL);
    memset(buf, 0, MAXB + (1 << 20)); /* first touch outside the clock */
    size_t tlen = strlen(topic);
    if (tlen > 249) die("fetch: topic name too long", topic);
    long n = 0, hw = -1;
    int64_t off = 0;
    double bytes = 0, t0 = now_s(), deadline = t0 + maxsec;
    for (int32_t corr = 1; n < count && (hw < 0 || off < hw) && now_s() < deadline; corr++) {
        uint8_t *p = req + 4;
        put16(&p, 1); put16(&p, 4); put32(&p, (uint32_t)corr);
        put16(&p, 6); memcpy(p, "kbench", 6); p += 6;
        put32(&p, (uint32_t)-1); put32(&p, 500); put32(&p, 1); put32(&p, MAXB);
        *p++ = 0; /* read_uncommitted */
        put32(&p, 1); put16(&p, (int)tlen); memcpy(p, topic, tlen); p += tlen;
        put32(&p, 1); put32(&p, 0); put64(&p, (uint64_t)off); put32(&p, MAXB);
        uint8_t *q = req;
        put32(&q, (uint32_t)(p - req - 4));
        if (write(fd, req, (size_t)(p - req)) != p - req) die("fetch: write", strerror(errno));
        uint8_t hdr[4];
        read_full(fd, hdr, 4);
        uint32_t len = get32(hdr);
        if (len > MAXB + (1 << 20) || len < 8) die("fetch: bad response size", NULL);
        read_full(fd, buf, len);
        /* corr, throttle, 1 topic (name), 1 partition: index, error, hw, lso, aborted, records */
        const uint8_t *r = buf + 8 + 4 + 2 + tlen + 4;
        if ((size_t)(r - buf) + 34 > len || get32(buf) != (uint32_t)corr) die("fetch: bad response", NULL);
        if (r[4] || r[5]) die("fetch: partition error", NULL);
        hw = (long)get64(r + 6);
        int32_t ab = (int32_t)get32(r + 22);
        r += 26 + (ab > 0 ? 16 * (size_t)ab : 0);
        int32_t rl = (int32_t)get32(r);
        r += 4;
        if (rl < 0 || r + rl > buf + len) die("fetch: bad records", NULL);
        for (const uint8_t *b = r; b + 61 <= r + rl;) {
            uint32_t blen = get32(b + 8);
            if (b + 12 + blen > r + rl) break; /* a partial batch at the end: fetched again */
            int64_t last = (int64_t)get64(b) + (int32_t)get32(b + 23);
            if (last >= off) { n += last - off + 1; off = last + 1; }
            bytes += 12.0 + blen;
            b += 12 + blen;
        }
    }
    double el = now_s() - t0;
    printf("mode=fetch records=%ld bytes=%.0f seconds=%.3f rec_s=%.0f mb_s=%.2f value_mb_s=%.2f\n", n, bytes, el,
           n / el, bytes / el / 1048576.0, (double)n * (double)size / el / 1048576.0);
    close(fd);
    free(buf);
    return n > 0 ? 0 : 1;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The disk's floor for fsync-before-ack latency (see the top comment). */
static int mode_floor(void) {
    if (!floor_file) die("floor: -f FILE", NULL);
    int fd = open(floor_file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("floor: open", strerror(errno));
    enum { MAXB = 4 << 20 };
    if (prezero) { /* write zeros over the whole run's space and sync them, then overwrite */
        char *z = calloc(1, MAXB);
        if (!z) die("floor: out of memory", NULL);
        for (long i = 0; i < prezero; i += MAXB)
            if (write(fd, z, MAXB) != MAXB) die("floor: write", strerror(errno));
        if (fsync(fd) || lseek(fd, 0, SEEK_SET)) die("floor: prezero", strerror(errno));
        free(z);
    }
    size_t cap = (size_t)(maxsec * 200000.0) + 16;
    double *st = calloc(cap, sizeof *st), *en = calloc(cap, sizeof *en);
    char *buf = malloc(MAXB);
    if (!st || !en || !buf) die("floor: out of memory", NULL);
    memset(buf, 'x', MAXB);
    size_t ns = 0;
    double t0 = now_s(), last = t0, per_rec = 1.0 / (double)rate;
    while (now_s() - t0 < maxsec && ns < cap) {
        double t = now_s();
        if (t < last + per_rec) { /* no record has arrived since the last sync began */
            struct timespec ts = {0, (long)((last + per_rec - t) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t recs = (size_t)((t - last) / per_rec);
        size_t b = recs * (size_t)size;
        if (b > MAXB) b = MAXB;
        last += (double)recs * per_rec;
        if (write(fd, buf, b) != (ssize_t)b) die("floor: write", strerror(errno));
        st[ns] = now_s();
        if (fdatasync(fd)) die("floor: fdatasync", strerror(errno));
        en[ns++] = now_s();
    }
    close(fd);
    unlink(floor_file);
    size_t nl = 0, lcap = (size_t)(maxsec * (double)rate) + 16, j = 0;
    double *lat = calloc(lcap, sizeof *lat);
    if (!lat) die("floor: out of memory", NULL);
    for (double at = t0 + 0.5; nl < lcap; at += per_rec) { /* skip the first 0.5 s */
        while (j < ns && st[j] < at) j++;
        if (j >= ns) break;
        lat[nl++] = (en[j] - at) * 1e3;
    }
    for (size_t i = 0; i < ns; i++) en[i] = (en[i] - st[i]) * 1e3;
    qsort(lat, nl, sizeof *lat, cmp_dbl);
    qsort(en, ns, sizeof *en, cmp_dbl);
    if (!nl || !ns) die("floor: no samples", NULL);
    printf("mode=floor syncs=%zu sync_p50_ms=%.3f sync_p99_ms=%.3f records=%zu p50_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f\n", ns, en[ns / 2], en[ns * 99 / 100], nl, lat[nl / 2],
           lat[(nl - 1) * 99 / 100], lat[(nl - 1) * 999 / 1000], lat[nl - 1]);
    free(st); free(en); free(buf); free(lat);
    return 0;
}

/* spawn READY LOG -- cmd...: fork/exec, poll the ready file every 100 us, print pid and ms. */
static int mode_spawn(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[4], "--")) die("usage: spawn READY LOG -- CMD...", NULL);
    const char *ready = argv[2], *logf = argv[3];
    unlink(ready);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork", strerror(errno));
    if (pid == 0) {
        setsid(); /* own process group; survives kbench exiting */
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        if (nul >= 0) dup2(nul, 0);
        execvp(argv[5], argv + 5);
        _exit(127);
    }
    struct stat st;
    for (;;) {
        if (stat(ready, &st) == 0 && st.st_size > 0) break;
        if (now_ns() - t0 > 600ull * 1000000000ull) { printf("pid=%d ready_ms=-1\n", pid); return 1; }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) { printf("pid=%d ready_ms=-1 exited=1\n", pid); return 1; }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    printf("pid=%d ready_ms=%.2f\n", pid, (double)(now_ns() - t0) / 1e6);
    return 0;
}

static int mode_freeport(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l)) die("bind", NULL);
    printf("%d\n", ntohs(a.sin_port));
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: kbench produce|latency|consume|fetch|floor|spawn|freeport ...", NULL);
    const char *mode = argv[1];
    if (!strcmp(mode, "spawn")) return mode_spawn(argc, argv);
    if (!strcmp(mode, "freeport")) return mode_freeport();
    int o;
    optind = 2;
    while ((o = getopt(argc, argv, "b:t:n:s:d:r:l:f:z:N")) != -1) {
        switch (o) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': count = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'd': maxsec = atof(optarg); break;
        case 'r': rate = atol(optarg); break;
        case 'l': linger = atoi(optarg); break;
        case 'N': nodelay = 1; break;
        case 'f': floor_file = optarg; break;
        case 'z': prezero = atol(optarg) << 20; break;
        default: die("bad option", NULL);
        }
    }
    if (!strcmp(mode, "produce")) return mode_produce();
    if (!strcmp(mode, "latency")) return mode_latency();
    if (!strcmp(mode, "consume")) return mode_consume();
    if (!strcmp(mode, "fetch")) return mode_fetch();
    if (!strcmp(mode, "floor")) return mode_floor();
    die("unknown mode", mode);
    return 2;
}
