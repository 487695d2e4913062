/* The stateful broker fuzzer's interpreter (docs/fuzzing.md), shared by the
 * libFuzzer target tests/fuzz/fuzz_broker_seq.c and the smoke test
 * tests/unit/test_broker_seq.c. An input is a program of 8-byte steps; each
 * step sends one request (generated from the schemas by kmsg_test_fill, steered
 * by this file's hooks towards the topics, groups, members and producer ids the
 * broker handed out, and mutated: huge and duplicated arrays, long, binary and
 * NUL-laden strings, valid record batches) to an in-process broker
 * (test_brk_client.h) on a fake clock, or moves the clock, or reconnects. After
 * each request it checks: exactly one answer, in order, or a close (acks=0
 * Produce: none); the answer decodes; its size is within BSEQ_RESP_BYTES_MAX();
 * no loop iteration takes longer than the loop-time bound. A violation prints a
 * FINDING line and aborts (libFuzzer keeps the input). */
#ifndef BROKER_SEQ_H
#define BROKER_SEQ_H

#include "brk.h"
#include "brk_internal.h"
#include "brk_topics.h"
#include "kerr.h"
#include "kmsg.h"
#include "kmsg_test.h"
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_brk_client.h"

/* ---- limits of one program ---- */
#define BSEQ_STEP_BYTES 8   /* op, version, mutation flags, selectors, seed (4 bytes) */
#define BSEQ_STEPS_MAX 64   /* steps run from one input; the rest is ignored */
#define BSEQ_CONNS 4        /* client connections a program may use */
#define BSEQ_PENDING_MAX 64 /* requests in flight on one connection */
/* Array elements in one request: room for one array of 65,537
 * (KPROTO_SPLICES_MAX + 1). */
#define BSEQ_ELEMS_MAX 140000
#define BSEQ_HUGE_MIN 1000
#define BSEQ_HUGE_MAX 70000
/* Bytes of long strings in one request, and of one long string. */
#define BSEQ_STR_BYTES_MAX (1 << 20)
#define BSEQ_STR_LONG_MAX 40000
/* Bytes of one request (a step whose mutations make more is skipped). */
#define BSEQ_REQ_BYTES_MAX (8 << 20)
/* Remembered entities (the dictionaries the hooks pick from) and their bytes.
 */
#define BSEQ_GROUPS_MAX 16
#define BSEQ_PIDS_MAX 16
#define BSEQ_NAME_BYTES_MAX 256
/* Clock moves while waiting for one answer (100 ms, x8 each time, capped at
 * 2^31 ms). */
#define BSEQ_CLOCK_MOVES_MAX 16
/* Idle loop iterations (brk_poll of 1 ms) before the clock moves. */
#define BSEQ_IDLE_POLLS 6
/* Real time a request may wait on work off the loop (topic creation, an fsync, a password
 * check: brk_off_loop_busy) before it is a finding; the clock does not move meanwhile. */
#define BSEQ_OFF_LOOP_WAIT_MS 120000

/* ---- the response-size bound ----
 * An answer is at most K times its request, plus a constant, plus a multiple of
 * the state the broker can describe: everything any client stored came from a
 * request (topic names, group metadata, offsets, records, ACLs), so the bytes
 * of every request sent so far bound it, plus BSEQ_RESP_PART_BYTES per existing
 * partition (one small request makes many). Kafka answers a request with one
 * entry per distinct thing it names or describes, so an answer beyond this
 * bound describes something many times (duplicates) or grows without a limit.
 */
#define BSEQ_RESP_K 16
#define BSEQ_RESP_CONST_BYTES 65536
#define BSEQ_RESP_STATE_K 4
#define BSEQ_RESP_PART_BYTES 128
#define BSEQ_RESP_BYTES_MAX(req, state)                                                            \
    ((int64_t)BSEQ_RESP_K * (req) + BSEQ_RESP_CONST_BYTES + (int64_t)BSEQ_RESP_STATE_K * (state))

/* Loop time: no loop iteration (brk_poll, measured in this thread's CPU time) may take
 * longer than BSEQ_LOOP_MS_DEFAULT plus BSEQ_LOOP_NS_PER_BYTE per byte of the request in
 * process: work linear in the request at 10 MB/s or better passes, anything superlinear
 * fails as requests grow. 10x under sanitizers; FUZZ_BROKER_LOOP_MS overrides the constant
 * (0 turns the check off). */
#define BSEQ_LOOP_MS_DEFAULT 50
#if defined(__SANITIZE_ADDRESS__)
#define BSEQ_SANITIZED true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BSEQ_SANITIZED true
#endif
#endif
#ifndef BSEQ_SANITIZED
#define BSEQ_SANITIZED false
#endif
#define BSEQ_LOOP_NS_PER_BYTE 100

/* Request shapes of open findings, avoided while they are being fixed: the
 * fuzzer does not send a request of an avoided shape (it counts it as
 * skipped). Add a name here when a finding stays open, remove it when its fix
 * lands; FUZZ_BROKER_AVOID overrides the list ("none": avoid nothing). Every
 * finding of issue 19 is fixed: nothing is avoided. */
#define BSEQ_AVOID_DEFAULT ""

enum {
    BSEQ_AVOID_FETCH_DUPS = 1 << 0,         /* Fetch naming a partition twice / > 1000 of them */
    BSEQ_AVOID_DESCRIBE_DUPS = 1 << 1,      /* DescribeGroups naming a group twice */
    BSEQ_AVOID_METADATA_DUPS = 1 << 2,      /* Metadata naming a topic twice */
    BSEQ_AVOID_TXN_OFFSET_COMMIT = 1 << 3,  /* TxnOffsetCommit naming a topic that is absent */
    BSEQ_AVOID_CREATE_TOPICS_MANY = 1 << 4, /* CreateTopics of > 1000 topics (quadratic) */
    BSEQ_AVOID_PARKED_FETCHES = 1 << 5,     /* long-poll Fetch of > 100 partitions */
    BSEQ_AVOID_MANY_PARTITIONS = 1 << 6,    /* CreateTopics/CreatePartitions making > 64 */
};

/* Mutation flags (step byte 2). */
enum {
    BSEQ_M_HUGE = 1 << 0,    /* one array gets 1,000-70,000 elements (selector bits 6-7 set) */
    BSEQ_M_DUP = 1 << 1,     /* arrays repeat their first element */
    BSEQ_M_LONG = 1 << 2,    /* some strings are 256-40,000 bytes */
    BSEQ_M_BINARY = 1 << 3,  /* some strings are random bytes */
    BSEQ_M_NUL = 1 << 4,     /* names carry a NUL byte */
    BSEQ_M_NULLS = 1 << 5,   /* nullable fields are often null */
    BSEQ_M_RECORDS = 1 << 6, /* records fields hold valid batches */
    BSEQ_M_RAW = 1 << 7,     /* no steering: kmsg_test_fill's own random values */
};

/* Step ops beyond the APIs (step byte 0 modulo the op count). */
enum { BSEQ_OP_CLOCK, BSEQ_OP_RECONNECT, BSEQ_OP_DRAIN, BSEQ_OP_EXTRA };

typedef struct {
    int32_t corr;
    int16_t api, ver;
    bool answer; /* false: acks=0 produce */
    int64_t req_bytes;
    char key[BSEQ_NAME_BYTES_MAX]; /* group id (JoinGroup) or transactional id
                                      (InitProducerId) */
    int key_len;                   /* -1: null */
} bseq_pending_t;

typedef struct {
    int fd; /* -1: not connected */
    int32_t corr;
    bseq_pending_t pending[BSEQ_PENDING_MAX];
    int npending;
    sl_buf_t in;
} bseq_conn_t;

typedef struct {
    char group[BSEQ_NAME_BYTES_MAX], member[BSEQ_NAME_BYTES_MAX];
    int group_len, member_len;
    int32_t generation;
} bseq_member_t;

typedef struct {
    char tid[BSEQ_NAME_BYTES_MAX];
    int tid_len; /* -1: no transactional id */
    int64_t pid;
    int16_t epoch;
    int32_t seq;
} bseq_pid_t;

typedef struct {
    uint64_t requests, answers, closes, acks0, skipped, steps, programs;
    int64_t loop_ns_max;
    char loop_max_api[64]; /* the request in process during the longest iteration */
    int64_t t0_ns, start_stop_ns, idle_ns;
    uint64_t clock_moves;
} bseq_stats_t;

typedef struct {
    env_t env;
    bool open;
    int64_t now_ms;
    bseq_conn_t conns[BSEQ_CONNS];
    bseq_member_t members[BSEQ_GROUPS_MAX];
    int nmembers;
    bseq_pid_t pids[BSEQ_PIDS_MAX];
    int npids;
    int64_t state_bytes; /* bytes of every request sent in this program */
    /* the current step */
    int step;
    uint8_t flags, sel;
    uint64_t rng;
    int64_t elems_left, str_left;
    bool huge_used;
    int64_t cur_req_bytes;
    int16_t cur_api, cur_ver;
    /* settings */
    unsigned avoid;
    int64_t loop_ns_max, loop_ns_per_byte;
    const char *dir_parent;
    bool verbose;
    const char *save_dir; /* where bseq_finding writes the program (NULL: libFuzzer does) */
    const uint8_t *input; /* the program running */
    size_t input_len;
    bseq_stats_t stats;
} bseq_t;

static bseq_t bseq_g;

static int64_t bseq_clock(void *ctx)
{
    (void)ctx;
    return bseq_g.now_ms;
}

static int64_t bseq_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t bseq_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t bseq_below(uint32_t n)
{
    return n ? (uint32_t)(kmsg_test_rand(&bseq_g.rng) % n) : 0;
}

__attribute__((format(printf, 2, 3), noreturn)) static void bseq_finding(const char *kind,
                                                                         const char *fmt, ...)
{
    fprintf(stderr, "fuzz_broker_seq: FINDING %s at step %d (%s v%d, request %lld bytes): ", kind,
            bseq_g.step,
            bseq_g.cur_api >= 0 && bseq_g.cur_api <= KMSG_API_KEY_MAX &&
                    kmsg_apis[bseq_g.cur_api].name
                ? kmsg_apis[bseq_g.cur_api].name
                : "-",
            bseq_g.cur_ver, (long long)bseq_g.cur_req_bytes);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (bseq_g.save_dir && bseq_g.input) { /* the standalone driver: keep the program */
        char path[512];
        snprintf(path, sizeof path, "%s/finding-%s-%d.bin", bseq_g.save_dir, kind, (int)getpid());
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(bseq_g.input, 1, bseq_g.input_len, f);
            fclose(f);
            fprintf(stderr, "fuzz_broker_seq: the program is in %s\n", path);
        }
    }
    abort();
}

/* ---- settings (environment) ---- */

static unsigned bseq_avoid_parse(const char *list)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"fetch-dups", BSEQ_AVOID_FETCH_DUPS},
        {"describe-dups", BSEQ_AVOID_DESCRIBE_DUPS},
        {"metadata-dups", BSEQ_AVOID_METADATA_DUPS},
        {"txn-offset-commit", BSEQ_AVOID_TXN_OFFSET_COMMIT},
        {"create-topics-many", BSEQ_AVOID_CREATE_TOPICS_MANY},
        {"parked-fetches", BSEQ_AVOID_PARKED_FETCHES},
        {"many-partitions", BSEQ_AVOID_MANY_PARTITIONS},
    };
    unsigned avoid = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool known = n == 0 || (n == 4 && memcmp(p, "none", 4) == 0);
        for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
            if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0) {
                avoid |= names[i].bit;
                known = true;
            }
        }
        if (!known) {
            fprintf(stderr, "fuzz_broker_seq: FUZZ_BROKER_AVOID: unknown shape '%.*s'\n", (int)n,
                    p);
            exit(2);
        }
        p += n + (p[n] == ',');
    }
    return avoid;
}

/* Reads FUZZ_BROKER_AVOID, FUZZ_BROKER_LOOP_MS, FUZZ_BROKER_DIR and
 * FUZZ_BROKER_VERBOSE once. Under ASan (BSEQ_SANITIZED) the default loop bound
 * is 10x. */
static void bseq_setup(void)
{
    /* as sluice serve: a write to a connection the broker or the driver closed is an error
     * value, not a silent death of the whole run (two campaigns died so, without a summary) */
    signal(SIGPIPE, SIG_IGN);
    bool sanitized = BSEQ_SANITIZED;
    const char *avoid = getenv("FUZZ_BROKER_AVOID");
    bseq_g.avoid = bseq_avoid_parse(avoid ? avoid : BSEQ_AVOID_DEFAULT);
    int64_t ms = BSEQ_LOOP_MS_DEFAULT * (sanitized ? 10 : 1);
    const char *loop = getenv("FUZZ_BROKER_LOOP_MS");
    if (loop && *loop) {
        ms = strtoll(loop, NULL, 10);
    }
    bseq_g.loop_ns_max = ms * 1000000;
    bseq_g.loop_ns_per_byte = BSEQ_LOOP_NS_PER_BYTE * (sanitized ? 10 : 1);
    const char *dir = getenv("FUZZ_BROKER_DIR");
    bseq_g.dir_parent = dir && *dir ? dir : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    bseq_g.verbose = getenv("FUZZ_BROKER_VERBOSE") != NULL;
    bseq_g.stats.t0_ns = bseq_mono_ns();
    for (int i = 0; i < BSEQ_CONNS; i++) {
        bseq_g.conns[i].fd = -1;
        sl_buf_init(&bseq_g.conns[i].in);
    }
}

static void bseq_print_stats(void)
{
    bseq_stats_t *st = &bseq_g.stats;
    double secs = (double)(bseq_mono_ns() - st->t0_ns) / 1e9;
    struct timespec ts; /* the process's CPU time: on a loaded machine wall time says little */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    fprintf(stderr,
            "fuzz_broker_seq: %llu requests executed (%llu answered, %llu closed, %llu acks=0, "
            "%llu skipped (FUZZ_BROKER_AVOID, size)) in %llu programs, %.1f s, %.0f requests/s, "
            "%.1f CPU s, %.0f requests per CPU s\n"
            "fuzz_broker_seq: broker start/stop %.1f s, idle waits %.1f s, %llu clock moves; "
            "longest loop iteration %.1f ms (%s)\n",
            (unsigned long long)st->requests, (unsigned long long)st->answers,
            (unsigned long long)st->closes, (unsigned long long)st->acks0,
            (unsigned long long)st->skipped, (unsigned long long)st->programs, secs,
            secs > 0 ? (double)st->requests / secs : 0.0, cpu,
            cpu > 0 ? (double)st->requests / cpu : 0.0, (double)st->start_stop_ns / 1e9,
            (double)st->idle_ns / 1e9, (unsigned long long)st->clock_moves,
            (double)st->loop_ns_max / 1e6, st->loop_max_api);
}

/* ---- dictionaries: what the broker handed out ---- */

static brk_topic_t *bseq_topic_pick(void)
{
    brk_t *brk = bseq_g.env.brk;
    if (brk->ntopics <= 0) {
        return NULL;
    }
    int i = (int)bseq_below((uint32_t)brk->ntopics);
    brk_topic_t *topic = brk->topics;
    while (topic && i-- > 0) {
        topic = topic->next;
    }
    return topic;
}

static int64_t bseq_partitions(void)
{
    int64_t n = 0;
    for (brk_topic_t *topic = bseq_g.env.brk->topics; topic; topic = topic->next) {
        n += topic->npart;
    }
    return n;
}

static void bseq_str_out(sl_arena_t *arena, const char *p, int len, const uint8_t **ptr,
                         int32_t *out_len)
{
    bool nul = (bseq_g.flags & BSEQ_M_NUL) && bseq_below(3) == 0;
    uint8_t *copy = sl_arena_alloc(arena, (size_t)len + 3);
    memcpy(copy, p, (size_t)len);
    if (nul) { /* "name\0x": a C string comparison would see "name" */
        copy[len++] = 0;
        copy[len++] = 'x';
    }
    *ptr = copy;
    *out_len = len;
}

static const char *const bseq_fixed_topics[] = {"t0", "t1", "__consumer_offsets", "a.b_c-d"};
static const char *const bseq_fixed_groups[] = {"g0", "g1", ""};
static const char *const bseq_fixed_tids[] = {"tx0", "tx1"};
static const char *const bseq_config_names[] = {"cleanup.policy",        "retention.ms",
                                                "segment.bytes",         "max.message.bytes",
                                                "min.compaction.lag.ms", "compression.type"};
static const char *const bseq_config_values[] = {
    "compact", "delete", "1000", "-1", "0", "compact,delete", "9223372036854775807", "lz4"};

static bool bseq_pick_topic(sl_arena_t *arena, const uint8_t **ptr, int32_t *len)
{
    brk_topic_t *topic = bseq_below(4) != 0 ? bseq_topic_pick() : NULL;
    const char *name =
        topic ? topic->name : bseq_fixed_topics[bseq_below(SL_ARRAY_LEN(bseq_fixed_topics))];
    bseq_str_out(arena, name, (int)strlen(name), ptr, len);
    return true;
}

static bseq_member_t *bseq_member_pick(void)
{
    return bseq_g.nmembers ? &bseq_g.members[(bseq_g.sel >> 2) % (unsigned)bseq_g.nmembers] : NULL;
}

static bseq_pid_t *bseq_pid_pick(void)
{
    return bseq_g.npids ? &bseq_g.pids[(bseq_g.sel >> 4) % (unsigned)bseq_g.npids] : NULL;
}

static bool bseq_pick_group(sl_arena_t *arena, const uint8_t **ptr, int32_t *len)
{
    bseq_member_t *mem = bseq_below(4) != 0 ? bseq_member_pick() : NULL;
    if (mem) {
        bseq_str_out(arena, mem->group, mem->group_len, ptr, len);
    } else {
        const char *g = bseq_fixed_groups[bseq_below(SL_ARRAY_LEN(bseq_fixed_groups))];
        bseq_str_out(arena, g, (int)strlen(g), ptr, len);
    }
    return true;
}

static bool bseq_pick_tid(sl_arena_t *arena, const uint8_t **ptr, int32_t *len)
{
    bseq_pid_t *pid = bseq_below(4) != 0 ? bseq_pid_pick() : NULL;
    if (pid && pid->tid_len >= 0) {
        bseq_str_out(arena, pid->tid, pid->tid_len, ptr, len);
    } else {
        const char *t = bseq_fixed_tids[bseq_below(SL_ARRAY_LEN(bseq_fixed_tids))];
        bseq_str_out(arena, t, (int)strlen(t), ptr, len);
    }
    return true;
}

/* ---- record batches ---- */

/* One magic v2 batch of 1-3 records (CRC32C right), idempotent or transactional
 * with a producer id the broker handed out when the step's selectors say so. */
static void bseq_batch(kproto_wr_t *wr)
{
    int nrec = 1 + (int)bseq_below(3);
    bseq_pid_t *pid = bseq_below(2) ? bseq_pid_pick() : NULL;
    kproto_wr_t body;
    kproto_wr_init(&body);
    for (int i = 0; i < nrec; i++) {
        kproto_wr_t rec;
        kproto_wr_init(&rec);
        kproto_wr_i8(&rec, 0);
        kproto_wr_varlong(&rec, i);
        kproto_wr_varint(&rec, i);
        if (bseq_below(2)) {
            kproto_wr_varint(&rec, -1);
        } else {
            kproto_wr_varint(&rec, 1);
            kproto_wr_raw(&rec, &"abc"[bseq_below(3)], 1);
        }
        bool lng = (bseq_g.flags & BSEQ_M_LONG) && !(bseq_g.flags & BSEQ_M_HUGE);
        int32_t vlen = lng && bseq_below(4) == 0 ? (int32_t)bseq_below(100000)
                                                 : (int32_t)bseq_below(32);
        kproto_wr_varint(&rec, vlen);
        for (int32_t j = 0; j < vlen; j++) {
            uint8_t b = (uint8_t)('a' + j % 26);
            kproto_wr_raw(&rec, &b, 1);
        }
        kproto_wr_varint(&rec, 0);
        kproto_wr_varint(&body, (int32_t)rec.buf.len);
        kproto_wr_raw(&body, rec.buf.data, rec.buf.len);
        kproto_wr_deinit(&rec);
    }
    kproto_wr_t crc; /* attributes .. end: what the CRC covers */
    kproto_wr_init(&crc);
    bool txn = pid && pid->tid_len >= 0 && bseq_below(2);
    kproto_wr_i16(&crc, (int16_t)(txn ? 0x10 : 0));
    kproto_wr_i32(&crc, nrec - 1);
    kproto_wr_i64(&crc, 1000000 + bseq_g.now_ms);
    kproto_wr_i64(&crc, 1000000 + bseq_g.now_ms + nrec - 1);
    kproto_wr_i64(&crc, pid ? pid->pid : -1);
    kproto_wr_i16(&crc, pid ? pid->epoch : -1);
    int32_t seq = pid ? (bseq_below(8) ? pid->seq : (int32_t)bseq_below(100)) : -1;
    if (pid && seq == pid->seq) {
        pid->seq += nrec;
    }
    kproto_wr_i32(&crc, seq);
    kproto_wr_i32(&crc, nrec);
    kproto_wr_raw(&crc, body.buf.data, body.buf.len);
    kproto_wr_i64(wr, 0);
    kproto_wr_i32(wr, (int32_t)(4 + 1 + 4 + crc.buf.len));
    kproto_wr_i32(wr, -1);
    kproto_wr_i8(wr, 2);
    kproto_wr_u32(wr, sl_crc32c(0, crc.buf.data, crc.buf.len));
    kproto_wr_raw(wr, crc.buf.data, crc.buf.len);
    kproto_wr_deinit(&crc);
    kproto_wr_deinit(&body);
}

static bool bseq_records(sl_arena_t *arena, const uint8_t **ptr, int32_t *len)
{
    if (bseq_g.str_left <= 0) {
        return false; /* the generator's short random bytes */
    }
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    int n = 1 + (bseq_below(4) == 0);
    for (int i = 0; i < n; i++) {
        bseq_batch(&wr);
    }
    if (bseq_below(16) == 0 && wr.buf.len > 0) { /* one flipped bit: a corrupt batch */
        wr.buf.data[bseq_below((uint32_t)wr.buf.len)] ^= (uint8_t)(1u << bseq_below(8));
    }
    uint8_t *copy = sl_arena_alloc(arena, wr.buf.len + 1);
    memcpy(copy, wr.buf.data, wr.buf.len);
    bseq_g.str_left -= (int64_t)wr.buf.len;
    *ptr = copy;
    *len = (int32_t)wr.buf.len;
    kproto_wr_deinit(&wr);
    return true;
}

/* ---- the kmsg_test_fill hooks ---- */

static bool bseq_is(const char *field, const char *const *names)
{
    for (; *names; names++) {
        if (strcmp(field, *names) == 0) {
            return true;
        }
    }
    return false;
}

static bool bseq_hook_count(void *ctx, const char *field, bool nullable, int32_t *out)
{
    (void)ctx;
    (void)field;
    int32_t n;
    if (nullable && bseq_below((bseq_g.flags & BSEQ_M_NULLS) ? 3 : 16) == 0) {
        *out = -1;
        return true;
    }
    /* Huge arrays cost the most time per step: only when the selector's top bits agree too. */
    if ((bseq_g.flags & BSEQ_M_HUGE) && (bseq_g.sel & 0xc0) == 0xc0 && !bseq_g.huge_used &&
        bseq_below(3) == 0) {
        bseq_g.huge_used = true;
        n = bseq_below(2) == 0 ? KPROTO_SPLICES_MAX + 1
                               : BSEQ_HUGE_MIN + (int32_t)bseq_below(BSEQ_HUGE_MAX - BSEQ_HUGE_MIN);
    } else if (bseq_g.huge_used) { /* elements of a huge array hold small arrays */
        n = (int32_t)bseq_below(3);
    } else {
        static const int32_t small[] = {0, 1, 1, 1, 2, 2, 3, 5};
        n = small[bseq_below(SL_ARRAY_LEN(small))];
    }
    n = (int32_t)SL_MIN((int64_t)n, bseq_g.elems_left);
    bseq_g.elems_left -= n;
    *out = n;
    return true;
}

static bool bseq_hook_dup(void *ctx, const char *field, int32_t n)
{
    (void)ctx;
    (void)field;
    (void)n;
    return (bseq_g.flags & BSEQ_M_DUP) && bseq_below(2) == 0;
}

static bool bseq_long_or_binary(sl_arena_t *arena, const uint8_t **ptr, int32_t *len)
{
    /* Not with huge arrays: a duplicated element would repeat a long string 70,000 times. */
    bool lng = (bseq_g.flags & BSEQ_M_LONG) && !(bseq_g.flags & BSEQ_M_HUGE) && bseq_below(4) == 0;
    bool bin = (bseq_g.flags & BSEQ_M_BINARY) && bseq_below(4) == 0;
    if (!lng && !bin) {
        return false;
    }
    int32_t n =
        lng ? 256 + (int32_t)bseq_below(BSEQ_STR_LONG_MAX - 256) : 1 + (int32_t)bseq_below(64);
    n = (int32_t)SL_MIN((int64_t)n, bseq_g.str_left);
    if (n <= 0) {
        return false;
    }
    bseq_g.str_left -= n;
    uint8_t *p = sl_arena_alloc(arena, (size_t)n + 1);
    for (int32_t i = 0; i < n; i++) {
        p[i] = bin ? (uint8_t)kmsg_test_rand(&bseq_g.rng) : (uint8_t)('a' + i % 26);
    }
    *ptr = p;
    *len = n;
    return true;
}

static bool bseq_hook_str(void *ctx, const char *field, bool nullable, sl_arena_t *arena,
                          const uint8_t **ptr, int32_t *len)
{
    (void)ctx;
    static const char *const topics[] = {
        "name", "topic", "topic_name", "resource_name", "resource_name_filter", "topics", NULL};
    static const char *const groups[] = {"group_id",     "groups",        "group_ids",
                                         "groups_names", "states_filter", NULL};
    static const char *const tids[] = {"transactional_id", "v3_and_below_transactional_id",
                                       "transactional_ids", NULL};
    if (strcmp(field, "records") == 0) {
        return (bseq_g.flags & BSEQ_M_RECORDS) && bseq_below(8) != 0 &&
               bseq_records(arena, ptr, len);
    }
    if (nullable && (bseq_g.flags & BSEQ_M_NULLS) && bseq_below(4) == 0) {
        *ptr = NULL;
        *len = -1;
        return true;
    }
    if (bseq_long_or_binary(arena, ptr, len)) {
        return true;
    }
    if (bseq_below(8) == 0) {
        return false; /* the generator's random short string */
    }
    if (strcmp(field, "name") == 0 && bseq_below(4) == 0) {
        const char *c = bseq_config_names[bseq_below(SL_ARRAY_LEN(bseq_config_names))];
        bseq_str_out(arena, c, (int)strlen(c), ptr, len);
        return true;
    }
    if (strcmp(field, "value") == 0) {
        const char *c = bseq_config_values[bseq_below(SL_ARRAY_LEN(bseq_config_values))];
        bseq_str_out(arena, c, (int)strlen(c), ptr, len);
        return true;
    }
    if (bseq_is(field, topics)) {
        return bseq_pick_topic(arena, ptr, len);
    }
    if (bseq_is(field, groups) || (strcmp(field, "key") == 0 && bseq_below(2))) {
        return bseq_pick_group(arena, ptr, len);
    }
    if (bseq_is(field, tids) || strcmp(field, "key") == 0 ||
        strcmp(field, "coordinator_keys") == 0) {
        return bseq_pick_tid(arena, ptr, len);
    }
    if (strcmp(field, "member_id") == 0 || strcmp(field, "leader") == 0) {
        bseq_member_t *mem = bseq_member_pick();
        if (mem && bseq_below(8) != 0) {
            bseq_str_out(arena, mem->member, mem->member_len, ptr, len);
        } else {
            *ptr = (const uint8_t *)"";
            *len = 0;
        }
        return true;
    }
    if (strcmp(field, "protocol_type") == 0) {
        bseq_str_out(arena, "consumer", 8, ptr, len);
        return true;
    }
    if (strcmp(field, "principal") == 0 || strcmp(field, "principal_filter") == 0) {
        const char *p = bseq_below(2) ? "User:ANONYMOUS" : "User:*";
        bseq_str_out(arena, p, (int)strlen(p), ptr, len);
        return true;
    }
    if (strcmp(field, "host") == 0 || strcmp(field, "host_filter") == 0) {
        bseq_str_out(arena, "*", 1, ptr, len);
        return true;
    }
    if (strcmp(field, "group_instance_id") == 0 && nullable) {
        *ptr = NULL;
        *len = -1;
        return bseq_below(2);
    }
    return false;
}

static bool bseq_hook_i64(void *ctx, const char *field, int64_t *out)
{
    (void)ctx;
    if (bseq_below(8) == 0) {
        return false; /* the generator's random or edge value */
    }
    bseq_member_t *mem = bseq_member_pick();
    bseq_pid_t *pid = bseq_pid_pick();
    if (strstr(field, "producer_id")) {
        *out = pid ? pid->pid : -1;
    } else if (strstr(field, "producer_epoch")) {
        *out = pid ? pid->epoch : -1;
    } else if (strstr(field, "generation_id")) {
        *out = mem ? mem->generation : -1;
    } else if (strcmp(field, "partition_index") == 0 || strcmp(field, "index") == 0 ||
               strcmp(field, "partition") == 0 || strcmp(field, "partitions") == 0 ||
               strcmp(field, "partition_indexes") == 0) {
        *out = bseq_below(4);
    } else if (strcmp(field, "num_partitions") == 0 || strcmp(field, "count") == 0) {
        *out = bseq_below(8) == 0 ? -1 : 1 + (int64_t)bseq_below(4);
    } else if (strcmp(field, "replication_factor") == 0) {
        *out = bseq_below(2) ? 1 : -1;
    } else if (strstr(field, "timeout_ms") || strcmp(field, "max_wait_ms") == 0) {
        *out = bseq_below(4) == 0 ? 0 : 10 + bseq_below(30000);
    } else if (strcmp(field, "acks") == 0) {
        static const int16_t acks[] = {-1, 1, 0, 1, -1};
        *out = acks[bseq_below(SL_ARRAY_LEN(acks))];
    } else if (strcmp(field, "resource_type") == 0 || strcmp(field, "resource_type_filter") == 0) {
        *out = 1 + bseq_below(6); /* any, topic, group, cluster, transactional id, token */
    } else if (strcmp(field, "operation") == 0) {
        *out = 1 + bseq_below(13);
    } else if (strcmp(field, "permission_type") == 0) {
        *out = 1 + bseq_below(3);
    } else if (strcmp(field, "pattern_type") == 0 || strcmp(field, "pattern_type_filter") == 0) {
        *out = 1 + bseq_below(4);
    } else if (strcmp(field, "fetch_offset") == 0 || strcmp(field, "committed_offset") == 0 ||
               strcmp(field, "timestamp") == 0) {
        *out = (int64_t)bseq_below(8) - 2;
    } else if (strcmp(field, "offset") == 0) { /* DeleteRecords: -1 (high watermark) or small */
        *out = (int64_t)bseq_below(8) - 2;
    } else if (strcmp(field, "max_bytes") == 0 || strcmp(field, "partition_max_bytes") == 0) {
        static const int64_t sizes[] = {INT32_MAX, 52428800, 1048576, 1048576, 65536, 1, 0};
        *out = sizes[bseq_below(SL_ARRAY_LEN(sizes))];
    } else if (strcmp(field, "key_type") == 0 || strcmp(field, "isolation_level") == 0) {
        *out = bseq_below(2);
    } else {
        return false;
    }
    return true;
}

static bool bseq_hook_uuid(void *ctx, const char *field, uint8_t out[16])
{
    (void)ctx;
    if (strcmp(field, "topic_id") != 0 || bseq_below(8) == 0) {
        return false;
    }
    brk_topic_t *topic = bseq_topic_pick();
    if (topic) {
        memcpy(out, topic->id.b, 16);
    }
    return topic != NULL;
}

static const kmsg_test_hooks_t bseq_hooks = {
    .ctx = NULL,
    .count = bseq_hook_count,
    .dup = bseq_hook_dup,
    .str = bseq_hook_str,
    .i64 = bseq_hook_i64,
    .uuid = bseq_hook_uuid,
};

/* ---- avoided shapes (TEMPORARY, see BSEQ_AVOID_DEFAULT) ---- */

static bool bseq_str_eq(kproto_str_t a, kproto_str_t b)
{
    return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

static bool bseq_strs_dup(const kproto_str_t *s, int32_t n, size_t stride)
{
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = i + 1; j < n && j < i + 64; j++) {
            if (bseq_str_eq(*(const kproto_str_t *)((const char *)s + stride * (size_t)i),
                            *(const kproto_str_t *)((const char *)s + stride * (size_t)j))) {
                return true;
            }
        }
    }
    return n > 1000; /* a window of 64 misses spread duplicates: refuse large
                        lists too */
}

static bool bseq_fetch_avoided(const kmsg_fetch_req_t *req)
{
    int64_t nparts = 0;
    bool dup = false;
    for (int32_t t = 0; t < req->topics_count; t++) {
        const kmsg_fetch_req_fetch_topic_t *ft = &req->topics[t];
        nparts += SL_MAX(ft->partitions_count, 0);
        for (int32_t u = t + 1; u < req->topics_count && u < t + 64; u++) {
            dup = dup || (bseq_g.cur_ver < 13
                              ? bseq_str_eq(ft->topic, req->topics[u].topic)
                              : memcmp(ft->topic_id.b, req->topics[u].topic_id.b, 16) == 0);
        }
        for (int32_t p = 0; p < ft->partitions_count; p++) {
            for (int32_t q = p + 1; q < ft->partitions_count && q < p + 64; q++) {
                dup = dup || ft->partitions[p].partition == ft->partitions[q].partition;
            }
        }
    }
    if ((bseq_g.avoid & BSEQ_AVOID_FETCH_DUPS) && (dup || nparts > 1000)) {
        return true;
    }
    return (bseq_g.avoid & BSEQ_AVOID_PARKED_FETCHES) && req->max_wait_ms > 0 && nparts > 100;
}

static bool bseq_txn_commit_avoided(const kmsg_txn_offset_commit_req_t *req)
{
    for (int32_t t = 0; t < req->topics_count; t++) {
        if (!brk_topic_find(bseq_g.env.brk, req->topics[t].name)) {
            return true;
        }
    }
    return false;
}

/* Partitions a CreateTopics or CreatePartitions request asks for (at most, counting each
 * entry as if it succeeded). */
static int64_t bseq_new_partitions(int16_t api, const void *m)
{
    int64_t n = 0;
    if (api == KAPI_CREATE_TOPICS) {
        const kmsg_create_topics_req_t *req = m;
        for (int32_t i = 0; i < req->topics_count; i++) {
            n += SL_MAX(SL_MAX(req->topics[i].num_partitions, req->topics[i].assignments_count), 1);
        }
    } else if (api == KAPI_CREATE_PARTITIONS) {
        const kmsg_create_partitions_req_t *req = m;
        for (int32_t i = 0; i < req->topics_count; i++) {
            n += SL_MAX(req->topics[i].count, 0);
        }
    }
    return n;
}

static bool bseq_avoided(int16_t api, const void *m)
{
    if ((bseq_g.avoid & BSEQ_AVOID_MANY_PARTITIONS) && bseq_new_partitions(api, m) > 64) {
        return true;
    }
    unsigned avoid = bseq_g.avoid;
    switch (api) {
    case KAPI_FETCH:
        return bseq_fetch_avoided(m);
    case KAPI_DESCRIBE_GROUPS: {
        const kmsg_describe_groups_req_t *req = m;
        return (avoid & BSEQ_AVOID_DESCRIBE_DUPS) &&
               bseq_strs_dup(req->groups, req->groups_count, sizeof *req->groups);
    }
    case KAPI_METADATA: {
        const kmsg_metadata_req_t *req = m;
        return (avoid & BSEQ_AVOID_METADATA_DUPS) && req->topics_count > 0 &&
               bseq_strs_dup(&req->topics[0].name, req->topics_count, sizeof *req->topics);
    }
    case KAPI_TXN_OFFSET_COMMIT:
        return (avoid & BSEQ_AVOID_TXN_OFFSET_COMMIT) && bseq_txn_commit_avoided(m);
    case KAPI_CREATE_TOPICS: {
        const kmsg_create_topics_req_t *req = m;
        return (avoid & BSEQ_AVOID_CREATE_TOPICS_MANY) && req->topics_count > 1000;
    }
    default:
        return false;
    }
}

/* ---- connections, answers ---- */

static void bseq_conn_close(bseq_conn_t *conn)
{
    if (conn->fd >= 0) {
        close(conn->fd);
    }
    conn->fd = -1;
    conn->npending = 0;
    conn->in.len = 0;
}

static void bseq_poll(int timeout_ms)
{
    /* The loop's CPU time (this thread's), not wall time: on a shared machine a descheduled
     * thread is not a slow broker. Idle waits cost no CPU. */
    int64_t t0 = bseq_cpu_ns();
    brk_poll(bseq_g.env.brk, timeout_ms);
    int64_t dt = bseq_cpu_ns() - t0;
    if (timeout_ms > 0) {
        bseq_g.stats.idle_ns += (int64_t)timeout_ms * 1000000;
    }
    if (dt > bseq_g.stats.loop_ns_max) {
        bseq_g.stats.loop_ns_max = dt;
        snprintf(bseq_g.stats.loop_max_api, sizeof bseq_g.stats.loop_max_api,
                 "%s v%d, %lld bytes",
                 bseq_g.cur_api >= 0 ? kmsg_apis[bseq_g.cur_api].name : "between requests",
                 bseq_g.cur_ver, (long long)bseq_g.cur_req_bytes);
    }
    /* One iteration may process every request in flight: allow for all their bytes. */
    int64_t inflight = bseq_g.cur_req_bytes;
    for (int i = 0; i < BSEQ_CONNS; i++) {
        for (int j = 0; j < bseq_g.conns[i].npending; j++) {
            inflight += bseq_g.conns[i].pending[j].req_bytes;
        }
    }
    int64_t bound = bseq_g.loop_ns_max + bseq_g.loop_ns_per_byte * inflight;
    if (bseq_g.loop_ns_max > 0 && dt > bound) {
        bseq_finding("loop-time", "one loop iteration took %.1f ms of CPU (bound %.1f ms)",
                     (double)dt / 1e6, (double)bound / 1e6);
    }
}

static bseq_conn_t *bseq_conn_get(int i)
{
    bseq_conn_t *conn = &bseq_g.conns[i];
    if (conn->fd < 0) {
        conn->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)brk_port(bseq_g.env.brk))};
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        SL_ASSERT(connect(conn->fd, (struct sockaddr *)&sin, sizeof sin) == 0);
        fcntl(conn->fd, F_SETFL, O_NONBLOCK);
        conn->corr = 0;
        conn->npending = 0;
        conn->in.len = 0;
        bseq_poll(0); /* accept */
    }
    return conn;
}

static void bseq_remember_join(const bseq_pending_t *pend, const kmsg_join_group_resp_t *resp)
{
    if (pend->key_len < 0 || resp->member_id.len <= 0 ||
        resp->member_id.len >= BSEQ_NAME_BYTES_MAX ||
        (resp->error_code != 0 && resp->error_code != KERR_MEMBER_ID_REQUIRED)) {
        return;
    }
    int slot =
        bseq_g.nmembers < BSEQ_GROUPS_MAX ? bseq_g.nmembers++ : (int)bseq_below(BSEQ_GROUPS_MAX);
    bseq_member_t *mem = &bseq_g.members[slot];
    memcpy(mem->group, pend->key, (size_t)pend->key_len);
    mem->group_len = pend->key_len;
    memcpy(mem->member, resp->member_id.ptr, (size_t)resp->member_id.len);
    mem->member_len = resp->member_id.len;
    mem->generation = resp->generation_id;
}

static void bseq_remember_pid(const bseq_pending_t *pend, const kmsg_init_producer_id_resp_t *resp)
{
    if (resp->error_code != 0) {
        return;
    }
    int slot = bseq_g.npids < BSEQ_PIDS_MAX ? bseq_g.npids++ : (int)bseq_below(BSEQ_PIDS_MAX);
    bseq_pid_t *pid = &bseq_g.pids[slot];
    memcpy(pid->tid, pend->key, (size_t)SL_MAX(pend->key_len, 0));
    pid->tid_len = pend->key_len;
    pid->pid = resp->producer_id;
    pid->epoch = resp->producer_epoch;
    pid->seq = 0;
}

/* One whole answer frame (after its size) for the oldest request of conn that
 * expects one. */
static void bseq_answer(bseq_conn_t *conn, const uint8_t *frame, size_t len)
{
    kproto_rd_t rd;
    kproto_rd_init(&rd, (uint8_t *)frame, len);
    int32_t corr = kproto_rd_i32(&rd);
    int i = 0;
    while (i < conn->npending && !conn->pending[i].answer) {
        i++; /* acks=0 produces before it: never answered */
    }
    if (i == conn->npending || conn->pending[i].corr != corr) {
        bseq_finding("answer", "an answer with correlation id %d, expected %d", corr,
                     i == conn->npending ? -1 : conn->pending[i].corr);
    }
    bseq_pending_t pend = conn->pending[i];
    bseq_g.stats.acks0 += (uint64_t)i;
    conn->npending -= i + 1;
    memmove(conn->pending, conn->pending + i + 1, (size_t)conn->npending * sizeof *conn->pending);
    bseq_g.stats.answers++;
    int64_t state = bseq_g.state_bytes + BSEQ_RESP_PART_BYTES * bseq_partitions();
    if ((int64_t)len > BSEQ_RESP_BYTES_MAX(pend.req_bytes, state)) {
        bseq_finding("answer-size",
                     "%s v%d: a %lld-byte answer to a %lld-byte request (bound %lld)",
                     kmsg_apis[pend.api].name, pend.ver, (long long)len, (long long)pend.req_bytes,
                     (long long)BSEQ_RESP_BYTES_MAX(pend.req_bytes, state));
    }
    const kmsg_api_t *api = &kmsg_apis[pend.api];
    if (bseq_g.verbose) {
        fprintf(stderr, "    answer to %s v%d: %zu bytes\n", api->name, pend.ver, len);
    }
    bool flex = pend.ver >= api->flex && pend.api != KAPI_API_VERSIONS;
    if (flex) { /* response header v1: tagged fields */
        kproto_rd_init(&rd, (uint8_t *)frame, len);
        kmsg_response_header_t hdr;
        sl_arena_t *harena = sl_arena_new(256);
        if (kmsg_response_header_decode(&rd, harena, 1, &hdr) != 0) {
            bseq_finding("answer-decode", "the response header does not decode");
        }
        sl_arena_free(harena);
    }
    sl_arena_t *arena = sl_arena_new(65536);
    void *resp = sl_xcalloc(1, api->resp_size);
    /* ApiVersions of an unsupported version is answered in v0 */
    int16_t ver = pend.api == KAPI_API_VERSIONS && pend.ver > api->max ? 0 : pend.ver;
    if (api->resp_decode(&rd, arena, ver, resp) != 0 || kproto_rd_left(&rd) != 0) {
        bseq_finding("answer-decode", "%s v%d: the answer does not decode", api->name, ver);
    }
    if (pend.api == KAPI_JOIN_GROUP) {
        bseq_remember_join(&pend, resp);
    } else if (pend.api == KAPI_INIT_PRODUCER_ID) {
        bseq_remember_pid(&pend, resp);
    }
    free(resp);
    sl_arena_free(arena);
}

/* Reads what conn has; returns whether anything happened (bytes, a close). */
static bool bseq_conn_read(bseq_conn_t *conn)
{
    bool progress = false;
    while (conn->fd >= 0) {
        uint8_t *p = sl_buf_reserve(&conn->in, 65536);
        ssize_t n = read(conn->fd, p, 65536);
        if (n > 0) {
            conn->in.len += (size_t)n;
            progress = true;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        } else { /* closed by the broker: every request in flight is answered by the
                    close */
            bseq_g.stats.closes++;
            bseq_conn_close(conn);
            return true;
        }
        size_t at = 0;
        while (conn->in.len - at >= 4) {
            int64_t size = (int32_t)sl_be32_get(conn->in.data + at);
            /* Do not read an answer far beyond the bound: judge it by its size field.
             */
            int64_t state = bseq_g.state_bytes + BSEQ_RESP_PART_BYTES * bseq_partitions();
            int64_t bound = BSEQ_RESP_BYTES_MAX(bseq_g.state_bytes, state);
            if (size < 4 || size > bound) {
                bseq_finding("answer-size", "an answer frame declares %lld bytes (bound %lld)",
                             (long long)size, (long long)bound);
            }
            if (conn->in.len - at < 4 + (size_t)size) {
                break;
            }
            bseq_answer(conn, conn->in.data + at + 4, (size_t)size);
            at += 4 + (size_t)size;
        }
        memmove(conn->in.data, conn->in.data + at, conn->in.len - at);
        conn->in.len -= at;
    }
    return progress;
}

static bool bseq_read_all(void)
{
    bool progress = false;
    for (int i = 0; i < BSEQ_CONNS; i++) {
        progress |= bseq_conn_read(&bseq_g.conns[i]);
    }
    return progress;
}

static bool bseq_waits(const bseq_conn_t *conn)
{
    for (int i = 0; i < conn->npending; i++) {
        if (conn->pending[i].answer) {
            return true;
        }
    }
    return false;
}

static bool bseq_any_waits(void)
{
    for (int i = 0; i < BSEQ_CONNS; i++) {
        if (bseq_waits(&bseq_g.conns[i])) {
            return true;
        }
    }
    return false;
}

static int64_t bseq_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until no request on conn (NULL: on any connection) waits for an
 * answer, moving the fake clock when the broker is idle (long polls,
 * rebalances, the initial rebalance delay) and giving real time to work off the
 * loop. A request still unanswered after the clock moved by ~2^35 ms, or after
 * BSEQ_OFF_LOOP_WAIT_MS of off-loop work, is a finding: the broker lost or wedged it. */
static void bseq_settle(bseq_conn_t *conn)
{
    int64_t move_ms = 100, moved_ms = 0, busy_since_ms = -1;
    int moves = 0, idle = 0;
    for (;;) {
        bseq_poll(idle ? 1 : 0);
        bool progress = bseq_read_all();
        if (conn ? !bseq_waits(conn) : !bseq_any_waits()) {
            return;
        }
        idle = progress ? 0 : idle + 1;
        if (idle < BSEQ_IDLE_POLLS) {
            continue;
        }
        if (brk_off_loop_busy(bseq_g.env.brk)) { /* an answer may wait on it: real time */
            int64_t now = bseq_real_ms();
            if (busy_since_ms < 0) {
                busy_since_ms = now;
            } else if (now - busy_since_ms > BSEQ_OFF_LOOP_WAIT_MS) {
                bseq_finding("no-answer", "a request is still unanswered after %lld ms of "
                             "work off the loop", (long long)(now - busy_since_ms));
            }
            bseq_poll(5);
            idle = 0;
            continue;
        }
        busy_since_ms = -1;
        if (moves++ == BSEQ_CLOCK_MOVES_MAX) {
            bseq_finding("no-answer", "a request is still unanswered after the clock moved %lld ms",
                         (long long)moved_ms);
        }
        moved_ms += move_ms;
        bseq_g.now_ms += move_ms;
        bseq_g.stats.clock_moves++;
        move_ms = SL_MIN(move_ms * 8, (int64_t)INT32_MAX);
        idle = 0;
    }
}

/* ---- steps ---- */

static int16_t bseq_api_keys[KMSG_API_KEY_MAX + 1];
static int bseq_napis;

static void bseq_apis_init(void)
{
    if (bseq_napis) {
        return;
    }
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        if (kmsg_apis[k].name && kmsg_test_versions[k].has) {
            bseq_api_keys[bseq_napis++] = (int16_t)k;
        }
    }
}

static void bseq_key_copy(bseq_pending_t *pend, kproto_str_t s)
{
    pend->key_len = s.len < 0 || s.len >= BSEQ_NAME_BYTES_MAX ? -1 : s.len;
    if (pend->key_len > 0) {
        memcpy(pend->key, s.ptr, (size_t)s.len);
    }
}

/* Encodes and sends one request of api (a version from vsel) on conn; whether
 * it was sent. */
static bool bseq_send(bseq_conn_t *conn, int16_t api, uint8_t vsel, sl_arena_t *arena, void *m)
{
    const kmsg_api_t *ka = &kmsg_apis[api];
    /* 1 in 64: a version outside the advertised range (the broker closes, or
     * ApiVersions answers UNSUPPORTED_VERSION); else one of the advertised
     * versions. */
    bool bad = vsel == 255;
    int16_t ver = bad ? (int16_t)(ka->max + 1 + (int16_t)bseq_below(3))
                      : (int16_t)(ka->min + vsel % (ka->max - ka->min + 1));
    int16_t fill_ver = bad ? ka->max : ver;
    bseq_g.elems_left = BSEQ_ELEMS_MAX;
    bseq_g.str_left = BSEQ_STR_BYTES_MAX;
    bseq_g.huge_used = false;
    kmsg_test_hooks = (bseq_g.flags & BSEQ_M_RAW) ? NULL : &bseq_hooks;
    kmsg_test_fill(api, true, fill_ver, m, arena, &bseq_g.rng);
    kmsg_test_hooks = NULL;
    bseq_g.cur_api = api;
    bseq_g.cur_ver = ver;
    if (bseq_avoided(api, m)) {
        bseq_g.stats.skipped++;
        return false;
    }
    if (conn->npending == BSEQ_PENDING_MAX) {
        bseq_settle(conn);
        if (conn->fd < 0) {
            return false;
        }
    }
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    size_t mark = kproto_wr_mark_i32(&wr);
    kmsg_request_header_t hdr;
    kmsg_request_header_init(&hdr);
    hdr.request_api_key = api;
    hdr.request_api_version = ver;
    hdr.correlation_id = ++conn->corr;
    hdr.client_id = kproto_str("fuzz");
    kmsg_request_header_encode(&wr, ver >= ka->flex && !bad ? 2 : 1, &hdr);
    ka->req_encode(&wr, fill_ver, m);
    kproto_wr_patch_i32(&wr, mark, (int32_t)(wr.buf.len - 4));
    if (wr.buf.len > BSEQ_REQ_BYTES_MAX) {
        bseq_g.stats.skipped++; /* the mutations multiplied beyond what a step may send */
        conn->corr--;
        kproto_wr_deinit(&wr);
        return false;
    }
    bseq_pending_t *pend = &conn->pending[conn->npending++];
    pend->corr = hdr.correlation_id;
    pend->api = api;
    pend->ver = ver;
    pend->answer = !(api == KAPI_PRODUCE && ((const kmsg_produce_req_t *)m)->acks == 0);
    pend->req_bytes = (int64_t)wr.buf.len;
    pend->key_len = -1;
    if (api == KAPI_JOIN_GROUP) {
        bseq_key_copy(pend, ((const kmsg_join_group_req_t *)m)->group_id);
    } else if (api == KAPI_INIT_PRODUCER_ID) {
        bseq_key_copy(pend, ((const kmsg_init_producer_id_req_t *)m)->transactional_id);
    }
    bseq_g.cur_req_bytes = (int64_t)wr.buf.len;
    bseq_g.state_bytes += (int64_t)wr.buf.len;
    bseq_g.stats.requests++;
    /* Write it all, running the broker meanwhile (a large request fills the
     * socket). */
    size_t off = 0;
    while (off < wr.buf.len && conn->fd >= 0) {
        ssize_t n = write(conn->fd, wr.buf.data + off, wr.buf.len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            bseq_g.stats.closes++; /* closed by the broker before the whole request went */
            bseq_conn_close(conn);
        } else {
            bseq_poll(0);
            bseq_read_all();
        }
    }
    kproto_wr_deinit(&wr);
    return true;
}

static void bseq_step(const uint8_t *p, sl_arena_t *arena, void *m)
{
    uint8_t op = p[0], vsel = p[1];
    bseq_g.flags = p[2];
    bseq_g.sel = p[3];
    bseq_g.rng = (uint64_t)sl_be32_get(p + 4) * 0x9E3779B97F4A7C15ull + op;
    bseq_g.cur_req_bytes = 0;
    bseq_g.cur_api = -1;
    bseq_g.cur_ver = -1;
    int nops = bseq_napis + BSEQ_OP_EXTRA;
    int sel = op % nops;
    bseq_conn_t *conn = &bseq_g.conns[bseq_g.sel & (BSEQ_CONNS - 1)];
    if (sel >= bseq_napis) {
        switch (sel - bseq_napis) {
        case BSEQ_OP_CLOCK:
            bseq_g.now_ms += (int64_t)sl_be32_get(p + 4) % (1 << 24);
            bseq_poll(0);
            bseq_read_all();
            break;
        case BSEQ_OP_RECONNECT:
            bseq_conn_close(conn);
            bseq_poll(0);
            break;
        default:
            bseq_settle(NULL);
            break;
        }
        return;
    }
    conn = bseq_conn_get(bseq_g.sel & (BSEQ_CONNS - 1));
    sl_arena_reset(arena);
    int64_t t0 = bseq_mono_ns();
    bool sent = bseq_send(conn, bseq_api_keys[sel], vsel, arena, m);
    if (bseq_g.verbose) {
        fprintf(stderr, "  step %d: %s %s v%d, %lld bytes on conn %d, flags 0x%02x (%.1f ms)\n",
                bseq_g.step, sent ? "sent" : "skipped", kmsg_apis[bseq_g.cur_api].name,
                bseq_g.cur_ver, (long long)bseq_g.cur_req_bytes, bseq_g.sel & (BSEQ_CONNS - 1),
                bseq_g.flags, (double)(bseq_mono_ns() - t0) / 1e6);
    }
    if (!sent) {
        return;
    }
    if (vsel & 0x80 && vsel != 255) { /* pipelined: the answer may come later */
        for (int i = 0; i < 3; i++) {
            bseq_poll(0);
            bseq_read_all();
        }
        return;
    }
    t0 = bseq_mono_ns();
    bseq_settle(conn);
    if (bseq_g.verbose) {
        fprintf(stderr, "    answered in %.1f ms\n", (double)(bseq_mono_ns() - t0) / 1e6);
    }
}

/* Runs one program on a fresh broker; returns the steps it ran. */
static int bseq_run(const uint8_t *data, size_t size)
{
    static sl_arena_t *arena;
    static void *m;
    bseq_apis_init();
    if (!arena) {
        arena = sl_arena_new(1 << 16);
        size_t max = 0;
        for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
            max = SL_MAX(max, kmsg_apis[k].req_size);
        }
        m = sl_xcalloc(1, max);
    }
    char dir[128];
    snprintf(dir, sizeof dir, "%s/sl_bseq_XXXXXX", bseq_g.dir_parent);
    SL_ASSERT(mkdtemp(dir));
    static const char *const settings[] = {"group.min.session.timeout.ms",
                                           "10",
                                           "log.zero.ahead.bytes",
                                           "0",
                                           "log.segment.bytes",
                                           "1048576",
                                           NULL};
    bseq_g.now_ms = 1000000;
    int64_t t0 = bseq_mono_ns();
    bseq_g.env = env_open(dir, settings, bseq_clock);
    bseq_g.stats.start_stop_ns += bseq_mono_ns() - t0;
    bseq_g.nmembers = 0;
    bseq_g.npids = 0;
    bseq_g.state_bytes = 0;
    int steps = (int)SL_MIN(size / BSEQ_STEP_BYTES, (size_t)BSEQ_STEPS_MAX);
    bseq_g.input = data;
    bseq_g.input_len = size;
    for (bseq_g.step = 0; bseq_g.step < steps; bseq_g.step++) {
        bseq_step(data + (size_t)bseq_g.step * BSEQ_STEP_BYTES, arena, m);
    }
    bseq_g.cur_req_bytes = 0;
    bseq_settle(NULL);
    for (int i = 0; i < BSEQ_CONNS; i++) {
        bseq_conn_close(&bseq_g.conns[i]);
    }
    t0 = bseq_mono_ns();
    env_free(&bseq_g.env);
    bseq_g.stats.start_stop_ns += bseq_mono_ns() - t0;
    bseq_g.stats.steps += (uint64_t)steps;
    bseq_g.stats.programs++;
    return steps;
}

#endif
