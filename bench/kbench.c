/* kbench: small librdkafka benchmark client for bench/run.
 *
 *   kbench produce  -b HOST:PORT -t TOPIC [-n COUNT] [-s SIZE] [-d MAXSEC] [-l LINGER_MS]
 *   kbench latency  -b HOST:PORT -t TOPIC [-r RATE] [-d SEC] [-s SIZE] [-l LINGER_MS]
 *   kbench consume  -b HOST:PORT -t TOPIC [-n COUNT] [-d MAXSEC]
 *   kbench spawn    READY_FILE LOG_FILE -- CMD ARGS...   (fork/exec, wait for ready file)
 *   kbench freeport                                      (prints a free 127.0.0.1 TCP port)
 *
 * Every mode prints one line of key=value pairs on stdout (machine-readable for bench/run).
 * Producers use acks=all. Latency is per message: delivery-report time minus enqueue time.
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
static int linger = 5;

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
    double t0 = now_s(), deadline = t0 + maxsec, tl = t0;
    if (rd_kafka_assign(rk, pl)) die("assign", NULL);
    long n = 0;
    double bytes = 0;
    int eof = 0;
    while (n < count && !eof && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eof = 1;
        else if (m->err) fprintf(stderr, "kbench: consume error: %s\n", rd_kafka_message_errstr(m));
        else { n++; bytes += (double)m->len; tl = now_s(); }
        rd_kafka_message_destroy(m);
    }
    double el = tl - t0;
    printf("mode=consume records=%ld bytes=%.0f seconds=%.3f rec_s=%.0f mb_s=%.2f\n", n, bytes, el,
           el > 0 ? n / el : 0, el > 0 ? bytes / el / 1048576.0 : 0);
    rd_kafka_topic_partition_list_destroy(pl);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n > 0 ? 0 : 1;
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
    if (argc < 2) die("usage: kbench produce|latency|consume|spawn|freeport ...", NULL);
    const char *mode = argv[1];
    if (!strcmp(mode, "spawn")) return mode_spawn(argc, argv);
    if (!strcmp(mode, "freeport")) return mode_freeport();
    int o;
    optind = 2;
    while ((o = getopt(argc, argv, "b:t:n:s:d:r:l:")) != -1) {
        switch (o) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': count = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'd': maxsec = atof(optarg); break;
        case 'r': rate = atol(optarg); break;
        case 'l': linger = atoi(optarg); break;
        default: die("bad option", NULL);
        }
    }
    if (!strcmp(mode, "produce")) return mode_produce();
    if (!strcmp(mode, "latency")) return mode_latency();
    if (!strcmp(mode, "consume")) return mode_consume();
    die("unknown mode", mode);
    return 2;
}
