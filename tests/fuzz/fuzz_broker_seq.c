/* libFuzzer target: the stateful broker fuzzer (broker_seq.h, docs/fuzzing.md).
 * Each input is a program of 8-byte steps run against a fresh in-process broker
 * on a fake clock; a finding (a sanitizer report, a missing, extra or
 * undecodable answer, an answer over the size bound, a loop iteration over the
 * time bound) aborts, and libFuzzer keeps the input. At exit it prints the
 * count of requests executed. Settings: FUZZ_BROKER_AVOID, FUZZ_BROKER_LOOP_MS,
 * FUZZ_BROKER_DIR, FUZZ_BROKER_VERBOSE. */
#include "broker_seq.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level(SL_LOG_ERROR);
    bseq_setup();
    atexit(bseq_print_stats);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bseq_run(data, size);
    return 0;
}
