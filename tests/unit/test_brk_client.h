/* An in-process broker on 127.0.0.1:0 with its data in a temporary dir, and a loopback Kafka
 * client for unit tests that drive it through the real protocol: connect, send a request
 * struct of kmsg_apis[key], pump the broker until the response arrives and decode it. */
#ifndef TEST_BRK_CLIENT_H
#define TEST_BRK_CLIENT_H

#include "brk.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_fs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    brk_t *brk;
    char dir[64];
} env_t;

typedef int64_t (*env_clock_fn)(void *ctx);

/* Starts a broker on the data dir dir with settings (key, value, ..., NULL) and, unless clock
 * is NULL, that clock. */
static inline env_t env_open(const char *dir, const char *const *settings, env_clock_fn clock)
{
    signal(SIGPIPE, SIG_IGN); /* as sluice serve (brk.h) */
    env_t env;
    SL_ASSERT(strlen(dir) < sizeof env.dir);
    snprintf(env.dir, sizeof env.dir, "%.*s", (int)sizeof env.dir - 1, dir);
    sl_props_t *props = sl_props_new();
    sl_props_set(props, "log.dirs", env.dir);
    sl_props_set(props, "listeners", "PLAINTEXT://127.0.0.1:0");
    for (size_t i = 0; settings && settings[i]; i += 2) {
        SL_ASSERT(settings[i + 1]);
        sl_props_set(props, settings[i], settings[i + 1]);
    }
    char err[256];
    int rc = brk_new(props, &env.brk, err, sizeof err);
    SL_ASSERT(rc == 0);
    sl_props_free(props);
    if (clock) {
        brk_set_clock(env.brk, clock, NULL);
    }
    return env;
}

/* As env_open, on a fresh temporary dir. */
static inline env_t env_new(const char *const *settings, env_clock_fn clock)
{
    char dir[64] = "/tmp/sl_brk_XXXXXX"; /* mkdtemp's template */
    SL_ASSERT(mkdtemp(dir));
    return env_open(dir, settings, clock);
}

/* Stops the broker and removes its data dir. */
static inline void env_free(env_t *env)
{
    brk_free(env->brk);
    sl_fs_rmtree(env->dir);
}

typedef struct {
    int fd;
    int32_t corr;
    sl_arena_t *arena; /* decoded responses live here until cli_free */
} cli_t;

static inline cli_t cli_new(env_t *env)
{
    cli_t cli = {socket(AF_INET, SOCK_STREAM, 0), 0, sl_arena_new(4096)};
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)brk_port(env->brk))};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    SL_ASSERT(connect(cli.fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    fcntl(cli.fd, F_SETFL, O_NONBLOCK);
    brk_poll(env->brk, 10); /* accept */
    return cli;
}

static inline void cli_free(cli_t *cli)
{
    close(cli->fd);
    sl_arena_free(cli->arena);
}

/* Sends a request (the struct of kmsg_apis[key]). */
static inline void cli_send(cli_t *cli, int16_t key, int16_t ver, const void *req)
{
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    size_t mark = kproto_wr_mark_i32(&wr);
    kmsg_request_header_t hdr;
    kmsg_request_header_init(&hdr);
    hdr.request_api_key = key;
    hdr.request_api_version = ver;
    hdr.correlation_id = ++cli->corr;
    hdr.client_id = kproto_str("test");
    bool flex = ver >= kmsg_apis[key].flex;
    kmsg_request_header_encode(&wr, flex ? 2 : 1, &hdr);
    kmsg_apis[key].req_encode(&wr, ver, req);
    kproto_wr_patch_i32(&wr, mark, (int32_t)(wr.buf.len - 4));
    SL_ASSERT(write(cli->fd, wr.buf.data, wr.buf.len) == (ssize_t)wr.buf.len);
    kproto_wr_deinit(&wr);
}

/* Pumps the broker until a response arrives (decoded into resp) or max_polls pass. */
static inline int64_t cli_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* As cli_recv; *max_ns (when not NULL) gets the loop CPU time of the longest iteration. */
static inline bool cli_recv_timed(env_t *env, cli_t *cli, int16_t key, int16_t ver, void *resp,
                                  int max_polls, int64_t *max_ns)
{
    static uint8_t buf[1 << 20]; /* tests are single-threaded */
    size_t got = 0;
    for (int i = 0; i < max_polls; i++) {
        int64_t t0 = cli_thread_cpu_ns();
        brk_poll(env->brk, 5);
        if (max_ns) {
            *max_ns = SL_MAX(*max_ns, cli_thread_cpu_ns() - t0);
        }
        ssize_t n = read(cli->fd, buf + got, sizeof buf - got);
        if (n > 0) {
            got += (size_t)n;
        }
        if (got >= 4 && got >= 4 + sl_be32_get(buf)) {
            kproto_rd_t rd;
            kproto_rd_init(&rd, buf + 4, sl_be32_get(buf));
            kmsg_response_header_t hdr;
            bool flex = ver >= kmsg_apis[key].flex;
            kmsg_response_header_decode(&rd, cli->arena, flex ? 1 : 0, &hdr);
            SL_ASSERT(kmsg_apis[key].resp_decode(&rd, cli->arena, ver, resp) == 0);
            return true;
        }
    }
    return false;
}

static inline bool cli_recv(env_t *env, cli_t *cli, int16_t key, int16_t ver, void *resp,
                            int max_polls)
{
    return cli_recv_timed(env, cli, key, ver, resp, max_polls, NULL);
}

/* Sends one Produce v9 (acks=all, 5 s timeout) of records (len bytes of record batches) to
 * partition 0 of topic; the answer is the caller's to read. */
static inline void cli_send_produce(cli_t *cli, const char *topic, const void *records,
                                    size_t len)
{
    kmsg_produce_req_partition_produce_data_t pd;
    kmsg_produce_req_partition_produce_data_init(&pd);
    pd.index = 0;
    pd.records = (kproto_records_t){(const uint8_t *)records, (int32_t)len, NULL, 0};
    kmsg_produce_req_topic_produce_data_t td;
    kmsg_produce_req_topic_produce_data_init(&td);
    td.name = kproto_str(topic);
    td.partition_data = &pd;
    td.partition_data_count = 1;
    kmsg_produce_req_t req;
    kmsg_produce_req_init(&req);
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = &td;
    req.topic_data_count = 1;
    cli_send(cli, KAPI_PRODUCE, 9, &req);
}

/* Sends CreateTopics v5 for topic name with nparts partitions (the answer is not read). */
static inline void cli_send_create_topic(cli_t *cli, const char *name, int32_t nparts)
{
    kmsg_create_topics_req_creatable_topic_t t;
    kmsg_create_topics_req_creatable_topic_init(&t);
    t.name = kproto_str(name);
    t.num_partitions = nparts;
    t.replication_factor = 1;
    kmsg_create_topics_req_t req;
    kmsg_create_topics_req_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = 5000;
    cli_send(cli, KAPI_CREATE_TOPICS, 5, &req);
}

/* Creates topic name with nparts partitions (CreateTopics v5); asserts that it succeeded. */
static inline void cli_create_topic(env_t *env, cli_t *cli, const char *name, int32_t nparts)
{
    cli_send_create_topic(cli, name, nparts);
    kmsg_create_topics_resp_t resp;
    /* Answered once the creation worker made the files: a loaded disk may take seconds. */
    SL_ASSERT(cli_recv(env, cli, KAPI_CREATE_TOPICS, 5, &resp, 12000));
    SL_ASSERT(resp.topics_count == 1 && resp.topics[0].error_code == 0);
}

#endif
