/* Storage health through an in-process broker and the real protocol (src/broker/storage.c):
 * a partition taken offline by a write or sync error (fault injection) comes back by itself
 * once its backoff has passed and the fault has cleared, with every acknowledged record kept
 * and offsets contiguous; produce under log.disk.reserve.bytes gets KAFKA_STORAGE_ERROR
 * without taking anything offline; and the resource settings' defaults and bounds. */
#include "brk.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_storage.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_test.h"
#include "slog_fault.h"
#include "test_log.h"

#include <errno.h>
#include <stdlib.h>

static int64_t fake_now = 1000000;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

#include "test_brk_client.h"

/* One Produce v9 (acks=all) of one batch of one record; returns the error code and the base
 * offset in *offset. */
static int produce(env_t *env, cli_t *cli, int64_t *offset)
{
    sl_buf_t b;
    sl_buf_init(&b);
    tl_batch(&b, 1, 1000, 0);
    cli_send_produce(cli, "t", b.data, b.len);
    sl_buf_deinit(&b);
    kmsg_produce_resp_t resp;
    if (!cli_recv(env, cli, KAPI_PRODUCE, 9, &resp, 400)) {
        return -1000;
    }
    SL_ASSERT(resp.responses_count == 1 && resp.responses[0].partition_responses_count == 1);
    *offset = resp.responses[0].partition_responses[0].base_offset;
    return resp.responses[0].partition_responses[0].error_code;
}

static brk_part_t *the_part(env_t *env)
{
    return brk_part_find(env->brk, kproto_str("t"), 0);
}

/* Moves the fake clock on and lets the retry timer's work run. First lets a zero-ahead job
 * (flush policy always: a flusher thread zeroes past the segment's end after a sync) end, up
 * to 30 s: while one is out the retry waits, on a loaded machine for longer than a step. */
static void advance(env_t *env, int64_t ms)
{
    brk_part_t *part = the_part(env);
    for (int i = 0; i < 6000 && part && part->zero_job; i++) {
        brk_poll(env->brk, 5);
    }
    fake_now += ms;
    brk_poll(env->brk, 1); /* the loop's clock moves at the start of an iteration */
    brk_storage_tick(env->brk);
    brk_poll(env->brk, 1);
}

static const char *const SETTINGS[] = {"log.flush.policy", "always", NULL};

TEST(test_a_partition_offline_by_a_write_error_comes_back_after_the_fault_clears)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t cli = cli_new(&env);
    cli_create_topic(&env, &cli, "t", 1);
    int64_t off = -1;
    ASSERT_EQ(produce(&env, &cli, &off), KERR_NONE);
    ASSERT_EQ(off, 0);
    slog_fault_set(SLOG_FAULT_WRITE, 1, ENOSPC);
    ASSERT_EQ(produce(&env, &cli, &off), KERR_KAFKA_STORAGE_ERROR);
    ASSERT_TRUE(slog_part_failed(the_part(&env)->log) != 0);
    advance(&env, 0); /* noticed: first retry after BRK_RESUME_BACKOFF_MS_MIN */
    advance(&env, BRK_RESUME_BACKOFF_MS_MIN - 1);
    ASSERT_EQ(produce(&env, &cli, &off), KERR_KAFKA_STORAGE_ERROR); /* not yet */
    advance(&env, 1);
    ASSERT_EQ(slog_part_failed(the_part(&env)->log), 0);
    ASSERT_EQ(produce(&env, &cli, &off), KERR_NONE);
    ASSERT_EQ(off, 1); /* contiguous: the failed write left nothing */
    cli_free(&cli);
    env_free(&env);
}

TEST(test_a_partition_offline_by_a_sync_error_comes_back_cut_to_what_was_acknowledged)
{
    env_t env = env_new(SETTINGS, fake_clock);
    cli_t cli = cli_new(&env);
    cli_create_topic(&env, &cli, "t", 1);
    int64_t off = -1;
    ASSERT_EQ(produce(&env, &cli, &off), KERR_NONE);
    /* the sync of the next produce fails: offline with the record unacknowledged */
    slog_fault_set(SLOG_FAULT_SYNC, 1, EIO);
    ASSERT_EQ(produce(&env, &cli, &off), KERR_KAFKA_STORAGE_ERROR);
    brk_part_t *part = the_part(&env);
    ASSERT_TRUE(slog_part_failed(part->log) != 0);
    advance(&env, 0);
    ASSERT_EQ(part->resume_backoff_ms, BRK_RESUME_BACKOFF_MS_MIN);
    /* a job out delays the retry (as a real one would while a sync is running) */
    part->sync_inflight = true;
    advance(&env, BRK_RESUME_BACKOFF_MS_MIN);
    ASSERT_TRUE(slog_part_failed(part->log) != 0);
    part->sync_inflight = false;
    advance(&env, 0);
    ASSERT_EQ(slog_part_failed(part->log), 0);
    ASSERT_EQ(slog_part_end_offset(part->log), 1); /* the unacknowledged record is cut */
    ASSERT_EQ(produce(&env, &cli, &off), KERR_NONE);
    ASSERT_EQ(off, 1);
    cli_free(&cli);
    env_free(&env);
}

TEST(test_produce_under_the_disk_reserve_is_refused_without_going_offline)
{
    static const char *const huge[] = {"log.disk.reserve.bytes", "4611686018427387903", NULL};
    env_t env = env_new(huge, fake_clock);
    cli_t cli = cli_new(&env);
    cli_create_topic(&env, &cli, "t", 1); /* topics and state files are still written */
    int64_t off = -1;
    ASSERT_EQ(produce(&env, &cli, &off), KERR_KAFKA_STORAGE_ERROR);
    ASSERT_EQ(slog_part_failed(the_part(&env)->log), 0);
    ASSERT_EQ(slog_part_end_offset(the_part(&env)->log), 0);
    cli_free(&cli);
    env_free(&env);
    static const char *const off_[] = {"log.disk.reserve.bytes", "0", NULL};
    env = env_new(off_, fake_clock);
    cli = cli_new(&env);
    cli_create_topic(&env, &cli, "t", 1);
    ASSERT_EQ(produce(&env, &cli, &off), KERR_NONE);
    cli_free(&cli);
    env_free(&env);
}

/* Parses one setting; returns brk_conf_parse's result, conf filled. */
static int parse_one(const char *key, const char *value, brk_conf_t *conf)
{
    sl_props_t *props = sl_props_new();
    if (key) {
        sl_props_set(props, key, value);
    }
    char err[256];
    int rc = brk_conf_parse(props, conf, err, sizeof err);
    sl_props_free(props);
    brk_conf_deinit(conf);
    return rc;
}

TEST(test_resource_settings_defaults_and_bounds)
{
    brk_conf_t conf;
    ASSERT_EQ(parse_one(NULL, NULL, &conf), 0);
    ASSERT_EQ(conf.queued_max_request_bytes, (int64_t)100 << 20);
    ASSERT_EQ(conf.disk_reserve_bytes, (int64_t)64 << 20);
    ASSERT_EQ(conf.fd_cache_max, SLOG_FD_CACHE_DEFAULT);
    ASSERT_EQ(conf.dir_mode, 0700u);
    ASSERT_EQ(parse_one("log.dir.mode", "0750", &conf), 0);
    ASSERT_EQ(conf.dir_mode, 0750u);
    ASSERT_EQ(parse_one("log.dir.mode", "777", &conf), 0);
    ASSERT_EQ(conf.dir_mode, 0777u);
    ASSERT_TRUE(parse_one("log.dir.mode", "0644", &conf) != 0); /* no rwx for the broker */
    ASSERT_TRUE(parse_one("log.dir.mode", "01777", &conf) != 0);
    ASSERT_TRUE(parse_one("log.dir.mode", "0758", &conf) != 0);
    ASSERT_TRUE(parse_one("log.dir.mode", "", &conf) != 0);
    ASSERT_EQ(parse_one("log.segment.fd.cache.max", "1", &conf), 0);
    ASSERT_TRUE(parse_one("log.segment.fd.cache.max", "0", &conf) != 0);
    ASSERT_EQ(parse_one("log.segment.fd.cache.max", "1000000", &conf), 0);
    ASSERT_TRUE(parse_one("log.segment.fd.cache.max", "1000001", &conf) != 0);
    ASSERT_EQ(parse_one("log.disk.reserve.bytes", "0", &conf), 0);
    ASSERT_EQ(conf.disk_reserve_bytes, 0);
    ASSERT_TRUE(parse_one("log.disk.reserve.bytes", "-1", &conf) != 0);
    ASSERT_EQ(parse_one("queued.max.request.bytes", "-1", &conf), 0);
    ASSERT_EQ(conf.queued_max_request_bytes, -1);
}

int main(void)
{
    RUN(test_a_partition_offline_by_a_write_error_comes_back_after_the_fault_clears);
    RUN(test_a_partition_offline_by_a_sync_error_comes_back_cut_to_what_was_acknowledged);
    RUN(test_produce_under_the_disk_reserve_is_refused_without_going_offline);
    RUN(test_resource_settings_defaults_and_bounds);
    TEST_MAIN_END();
}
