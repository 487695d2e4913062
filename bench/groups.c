/* groups: consumer-group benchmark for Sluice (or any Kafka), through librdkafka.
 *
 *   groups fill     BROKERS TOPIC COUNT SIZE        produce COUNT records of SIZE bytes, acks=all
 *   groups consume  BROKERS TOPIC COUNT MEMBERS     MEMBERS consumers in one group read COUNT
 *                                                   records: prints records/s and MB/s
 *   groups failover BROKERS TOPIC SESSION_MS        4 members; one (a child process) is killed
 *                                                   with SIGKILL; prints the time until the 3
 *                                                   survivors own every partition again
 *   groups member   BROKERS TOPIC GROUP SESSION_MS  (internal: the member that gets killed)
 * Each mode prints one line of key=value pairs. Every wait is bounded. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MEMBERS 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "groups: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static rd_kafka_t *make_consumer(const char *brokers, const char *group, int session_ms,
                                 int with_rebalance_cb);

/* ---- fill ---- */

static int mode_fill(const char *brokers, const char *topic, long count, long size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "acks", "all", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(conf, "batch.size", "1000000", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        die("producer", err);
    }
    char *buf = malloc((size_t)size);
    memset(buf, 'x', (size_t)size);
    double deadline = now_s() + 120;
    for (long i = 0; i < count && now_s() < deadline; i++) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(buf, (size_t)size),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    int left = rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : rd_kafka_outq_len(rk);
    printf("mode=fill records=%ld size=%ld undelivered=%d\n", count, size, left);
    rd_kafka_destroy(rk);
    free(buf);
    return left ? 1 : 0;
}

/* ---- consume with a group ---- */

static _Atomic double first_record_s;

typedef struct {
    const char *brokers, *topic, *group;
    atomic_long *total;
    atomic_long *bytes;
    long want;
    double deadline;
} member_arg_t;

static void subscribe(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, t)) {
        die("subscribe", topic);
    }
    rd_kafka_topic_partition_list_destroy(t);
}

static void *consume_thread(void *p)
{
    member_arg_t *a = p;
    rd_kafka_t *rk = make_consumer(a->brokers, a->group, 10000, 0);
    subscribe(rk, a->topic);
    while (atomic_load(a->total) < a->want && now_s() < a->deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m) {
            if (!m->err) {
                double zero = 0;
                atomic_compare_exchange_strong(&first_record_s, &zero, now_s());
                atomic_fetch_add(a->total, 1);
                atomic_fetch_add(a->bytes, (long)m->len);
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

static int mode_consume(const char *brokers, const char *topic, long count, int members)
{
    char group[64];
    snprintf(group, sizeof group, "bench-%d-%ld", (int)getpid(), (long)time(NULL));
    atomic_long total = 0, bytes = 0;
    pthread_t th[MAX_MEMBERS];
    member_arg_t arg = {brokers, topic, group, &total, &bytes, count, now_s() + 120};
    double t0 = now_s();
    for (int i = 0; i < members; i++) {
        pthread_create(&th[i], NULL, consume_thread, &arg);
    }
    for (int i = 0; i < members; i++) {
        pthread_join(th[i], NULL);
    }
    double end = now_s(), el = end - atomic_load(&first_record_s);
    printf("mode=consume members=%d records=%ld join_s=%.3f seconds=%.3f rec_s=%.0f mb_s=%.1f\n",
           members, (long)total, atomic_load(&first_record_s) - t0, el, (double)total / el,
           (double)bytes / el / 1e6);
    return total >= count ? 0 : 1;
}

/* ---- failover ---- */

static atomic_int assigned_total;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    atomic_int *mine = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        atomic_fetch_add(&assigned_total, parts->cnt - atomic_exchange(mine, parts->cnt));
    } else {
        rd_kafka_assign(rk, NULL);
        atomic_fetch_sub(&assigned_total, atomic_exchange(mine, 0));
    }
}

static rd_kafka_t *make_consumer(const char *brokers, const char *group, int session_ms,
                                 int with_rebalance_cb)
{
    char err[512], sess[32], hb[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(sess, sizeof sess, "%d", session_ms);
    snprintf(hb, sizeof hb, "%d", session_ms / 10 > 100 ? session_ms / 10 : 100);
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "session.timeout.ms", sess, err, sizeof err);
    rd_kafka_conf_set(conf, "heartbeat.interval.ms", hb, err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof err);
    if (with_rebalance_cb) {
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_opaque(conf, calloc(1, sizeof(atomic_int)));
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        die("consumer", err);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : -1;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

/* Polls the survivors until want partitions are assigned among them or the deadline passes;
 * returns the time it happened or -1. */
static double poll_until_assigned(rd_kafka_t **rks, int n, int want, double deadline)
{
    while (now_s() < deadline) {
        for (int i = 0; i < n; i++) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rks[i], 5);
            if (m) {
                rd_kafka_message_destroy(m);
            }
        }
        if (atomic_load(&assigned_total) == want) {
            return now_s();
        }
    }
    return -1;
}

static int mode_failover(const char *self, const char *brokers, const char *topic, int session_ms)
{
    char group[64], sess[32];
    snprintf(group, sizeof group, "failover-%d-%ld", (int)getpid(), (long)time(NULL));
    snprintf(sess, sizeof sess, "%d", session_ms);
    rd_kafka_t *rks[3];
    for (int i = 0; i < 3; i++) {
        rks[i] = make_consumer(brokers, group, session_ms, 1);
        subscribe(rks[i], topic);
    }
    int nparts = partitions_of(rks[0], topic);
    if (nparts < 4) {
        die("topic needs at least 4 partitions", topic);
    }
    if (poll_until_assigned(rks, 3, nparts, now_s() + 30) < 0) {
        die("the first three members were never assigned", NULL);
    }
    pid_t child = fork();
    if (child == 0) {
        execl(self, self, "member", brokers, topic, group, sess, (char *)NULL);
        _exit(127);
    }
    /* Wait until the fourth member holds partitions: the survivors then own fewer. */
    double deadline = now_s() + 30;
    while (now_s() < deadline && atomic_load(&assigned_total) != nparts - nparts / 4) {
        poll_until_assigned(rks, 3, -1, now_s() + 0.05);
    }
    if (atomic_load(&assigned_total) == nparts) {
        die("the fourth member never got partitions", NULL);
    }
    double t0 = now_s();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    double t1 = poll_until_assigned(rks, 3, nparts, t0 + session_ms / 1000.0 + 30);
    if (t1 < 0) {
        die("the survivors never got every partition back", NULL);
    }
    double ms = (t1 - t0) * 1000;
    printf("mode=failover partitions=%d session_ms=%d kill_to_reassigned_ms=%.0f beyond_session_ms=%.0f\n",
           nparts, session_ms, ms, ms - session_ms);
    for (int i = 0; i < 3; i++) {
        rd_kafka_consumer_close(rks[i]);
        rd_kafka_destroy(rks[i]);
    }
    return 0;
}

static int mode_member(const char *brokers, const char *topic, const char *group, int session_ms)
{
    rd_kafka_t *rk = make_consumer(brokers, group, session_ms, 0);
    subscribe(rk, topic);
    double deadline = now_s() + 120;
    while (now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m) {
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "fill") == 0) {
        return mode_fill(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    }
    if (argc >= 6 && strcmp(argv[1], "consume") == 0) {
        int members = atoi(argv[5]);
        if (members < 1 || members > MAX_MEMBERS) {
            die("members must be 1..16", NULL);
        }
        return mode_consume(argv[2], argv[3], atol(argv[4]), members);
    }
    if (argc >= 5 && strcmp(argv[1], "failover") == 0) {
        return mode_failover(argv[0], argv[2], argv[3], atoi(argv[4]));
    }
    if (argc >= 6 && strcmp(argv[1], "member") == 0) {
        return mode_member(argv[2], argv[3], argv[4], atoi(argv[5]));
    }
    fprintf(stderr, "usage: groups fill|consume|failover|member ... (see the comment in groups.c)\n");
    return 2;
}
