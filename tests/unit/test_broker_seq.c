/* The stateful broker fuzzer's interpreter (tests/fuzz/broker_seq.h) without
 * libFuzzer, so that every build runs it: random programs from fixed seeds, and
 * every regression vector in tests/fuzz/corpus/fuzz_broker_seq/, each on a
 * fresh in-process broker; a finding aborts. Also a standalone driver
 * (docs/fuzzing.md): test_broker_seq --seconds N [--seed S]   random programs
 * for N seconds, then the count test_broker_seq FILE... replays inputs
 * (reproducers, crash-* files) */
#include "broker_seq.h"
#include "sl_test.h"

#include <dirent.h>

#ifndef BSEQ_CORPUS_DIR
#define BSEQ_CORPUS_DIR "tests/fuzz/corpus/fuzz_broker_seq"
#endif

/* A random program of nsteps steps from seed; biased like a libFuzzer corpus
 * would be: fewer huge arrays, more valid record batches. */
static size_t random_program(uint64_t *rng, uint8_t *buf, int nsteps)
{
    for (int i = 0; i < nsteps; i++) {
        uint8_t *p = buf + (size_t)i * BSEQ_STEP_BYTES;
        for (int j = 0; j < BSEQ_STEP_BYTES; j++) {
            p[j] = (uint8_t)kmsg_test_rand(rng);
        }
        if (kmsg_test_rand(rng) % 2 != 0) {
            p[2] &= (uint8_t)~BSEQ_M_HUGE;
        }
        if (kmsg_test_rand(rng) % 2) {
            p[2] |= BSEQ_M_RECORDS;
        }
    }
    return (size_t)nsteps * BSEQ_STEP_BYTES;
}

TEST(test_seq_random_programs_find_nothing)
{
    uint64_t rng = 19;
    uint8_t buf[BSEQ_STEPS_MAX * BSEQ_STEP_BYTES];
    uint64_t before = bseq_g.stats.requests;
    for (int i = 0; i < 40; i++) {
        size_t n = random_program(&rng, buf, 24);
        ASSERT_EQ(bseq_run(buf, n), 24);
    }
    ASSERT_TRUE(bseq_g.stats.requests - before > 500); /* most steps send a request */
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return bseq_run(buf, n);
}

TEST(test_seq_regression_vectors_find_nothing)
{
    DIR *d = opendir(BSEQ_CORPUS_DIR);
    ASSERT_TRUE(d != NULL);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", BSEQ_CORPUS_DIR, de->d_name);
        ASSERT_TRUE(replay_file(path) >= 0);
        files++;
    }
    closedir(d);
    ASSERT_TRUE(files > 0);
}

/* One step of api (its highest advertised version) on connection conn. */
static uint8_t *seed_step(uint8_t *p, int16_t api, uint8_t flags, uint8_t conn, uint32_t seed)
{
    int op = 0;
    while (bseq_api_keys[op] != api) {
        op++;
    }
    p[0] = (uint8_t)op;
    p[1] = (uint8_t)(kmsg_apis[api].max - kmsg_apis[api].min);
    p[2] = flags;
    p[3] = conn;
    sl_be32_put(p + 4, seed);
    return p + BSEQ_STEP_BYTES;
}

/* The seed corpus: the flows of docs/fuzzing.md, in order, each one program. */
static int write_seeds(const char *dir)
{
    static const int16_t flows[][12] = {
        {KAPI_CREATE_TOPICS, KAPI_JOIN_GROUP, KAPI_JOIN_GROUP, KAPI_SYNC_GROUP, KAPI_HEARTBEAT,
         KAPI_OFFSET_COMMIT, KAPI_OFFSET_FETCH, KAPI_DESCRIBE_GROUPS, KAPI_LEAVE_GROUP,
         KAPI_DELETE_GROUPS, -1},
        {KAPI_CREATE_TOPICS, KAPI_INIT_PRODUCER_ID, KAPI_ADD_PARTITIONS_TO_TXN, KAPI_PRODUCE,
         KAPI_ADD_OFFSETS_TO_TXN, KAPI_TXN_OFFSET_COMMIT, KAPI_END_TXN, KAPI_FETCH,
         KAPI_DESCRIBE_PRODUCERS, -1},
        {KAPI_CREATE_TOPICS, KAPI_PRODUCE, KAPI_FETCH, KAPI_LIST_OFFSETS, KAPI_DELETE_RECORDS,
         KAPI_METADATA, KAPI_CREATE_PARTITIONS, KAPI_DESCRIBE_CONFIGS,
         KAPI_INCREMENTAL_ALTER_CONFIGS, KAPI_ALTER_CONFIGS, KAPI_DELETE_TOPICS, -1},
        {KAPI_API_VERSIONS, KAPI_CREATE_ACLS, KAPI_DESCRIBE_ACLS, KAPI_DELETE_ACLS,
         KAPI_DESCRIBE_ACLS, KAPI_LIST_GROUPS, KAPI_FIND_COORDINATOR, -1},
    };
    static const char *const names[] = {"flow-group", "flow-txn", "flow-topics", "flow-acls"};
    bseq_apis_init();
    for (size_t f = 0; f < SL_ARRAY_LEN(flows); f++) {
        uint8_t buf[BSEQ_STEPS_MAX * BSEQ_STEP_BYTES], *p = buf;
        for (int i = 0; flows[f][i] >= 0; i++) {
            p = seed_step(p, flows[f][i], BSEQ_M_RECORDS, 0, (uint32_t)(f * 1000 + (size_t)i));
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *out = fopen(path, "wb");
        if (!out || fwrite(buf, 1, (size_t)(p - buf), out) != (size_t)(p - buf)) {
            fprintf(stderr, "%s: cannot write\n", path);
            return 1;
        }
        fclose(out);
    }
    return 0;
}

static int standalone(int argc, char **argv)
{
    double seconds = 0;
    uint64_t rng = (uint64_t)time(NULL);
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--write-seeds") == 0 && i + 1 < argc) {
            return write_seeds(argv[i + 1]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            rng = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "replay %s\n", argv[i]);
            fprintf(stderr, "replay %s: %d steps\n", argv[i], replay_file(argv[i]));
            files++;
        }
    }
    bseq_g.save_dir = "."; /* a finding's program goes to ./finding-<kind>-<pid>.bin */
    if (seconds > 0) {
        fprintf(stderr, "fuzz_broker_seq: seed %llu\n", (unsigned long long)rng);
        uint8_t buf[BSEQ_STEPS_MAX * BSEQ_STEP_BYTES];
        int64_t end = bseq_mono_ns() + (int64_t)(seconds * 1e9);
        while (bseq_mono_ns() < end) {
            uint64_t seed = rng;
            size_t n = random_program(&rng, buf, 8 + (int)(kmsg_test_rand(&rng) % 40));
            if (bseq_g.verbose) {
                fprintf(stderr, "program seed %llu\n", (unsigned long long)seed);
            }
            int64_t t0 = bseq_mono_ns();
            bseq_run(buf, n);
            if (bseq_g.verbose) {
                fprintf(stderr, "  %.3f s\n", (double)(bseq_mono_ns() - t0) / 1e9);
            }
        }
    }
    bseq_print_stats();
    return files || seconds > 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    sl_log_set_level(SL_LOG_ERROR);
    bseq_setup();
    if (argc > 1) {
        return standalone(argc, argv);
    }
    RUN(test_seq_random_programs_find_nothing);
    RUN(test_seq_regression_vectors_find_nothing);
    bseq_print_stats();
    TEST_MAIN_END();
}
