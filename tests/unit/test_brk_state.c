/* The broker's state files at start: a damaged batch of the committed-offsets log is skipped
 * (the other groups' offsets load, the broker starts), and a file that must not be loaded in
 * part (acls.txt, meta.properties) refuses the start with a message naming the file and the
 * way out. Driven through the real protocol by an in-process broker. */
#include "brk.h"
#include "kerr.h"
#include "kmsg.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_test.h"
#include "test_log.h"

#include <dirent.h>

static const char *const SETTINGS[] = {NULL};

#include "test_brk_client.h"

static void commit(env_t *env, cli_t *cli, const char *group, int64_t offset)
{
    kmsg_offset_commit_req_offset_commit_request_partition_t p;
    kmsg_offset_commit_req_offset_commit_request_partition_init(&p);
    p.committed_offset = offset;
    p.committed_metadata = kproto_str("");
    kmsg_offset_commit_req_offset_commit_request_topic_t t;
    kmsg_offset_commit_req_offset_commit_request_topic_init(&t);
    t.name = kproto_str("t");
    t.partitions = &p;
    t.partitions_count = 1;
    kmsg_offset_commit_req_t req;
    kmsg_offset_commit_req_init(&req);
    req.group_id = kproto_str(group);
    req.generation_id_or_member_epoch = -1;
    req.member_id = kproto_str("");
    req.retention_time_ms = -1;
    req.topics = &t;
    req.topics_count = 1;
    cli_send(cli, KAPI_OFFSET_COMMIT, 2, &req);
    kmsg_offset_commit_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_OFFSET_COMMIT, 2, &resp, 200));
    SL_ASSERT(resp.topics[0].partitions[0].error_code == 0);
}

static int64_t fetch(env_t *env, cli_t *cli, const char *group)
{
    int32_t part = 0;
    kmsg_offset_fetch_req_offset_fetch_request_topic_t t;
    kmsg_offset_fetch_req_offset_fetch_request_topic_init(&t);
    t.name = kproto_str("t");
    t.partition_indexes = &part;
    t.partition_indexes_count = 1;
    kmsg_offset_fetch_req_t req;
    kmsg_offset_fetch_req_init(&req);
    req.group_id = kproto_str(group);
    req.topics = &t;
    req.topics_count = 1;
    cli_send(cli, KAPI_OFFSET_FETCH, 1, &req);
    kmsg_offset_fetch_resp_t resp;
    SL_ASSERT(cli_recv(env, cli, KAPI_OFFSET_FETCH, 1, &resp, 200));
    return resp.topics[0].partitions[0].committed_offset;
}

TEST(test_a_damaged_commit_batch_is_skipped_and_the_broker_starts)
{
    env_t env = env_new(SETTINGS, NULL);
    cli_t c = cli_new(&env);
    cli_create_topic(&env, &c, "t", 1);
    commit(&env, &c, "first", 11);
    commit(&env, &c, "second", 22);
    cli_free(&c);
    char dir[64];
    snprintf(dir, sizeof dir, "%s", env.dir);
    brk_free(env.brk);
    /* The first batch: its record key no longer starts with 'o', and its CRC still matches,
     * so only the replay can tell. */
    char path[160];
    snprintf(path, sizeof path, "%s/internal/offsets/00000000000000000000.log", dir);
    char *text = NULL;
    size_t len = 0;
    ASSERT_EQ(sl_fs_read_all(path, 1 << 20, &text, &len), 0);
    uint8_t *p = (uint8_t *)text;
    size_t total = sl_be32_get(p + 8) + 12;
    ASSERT_TRUE(total < len);
    uint8_t *key = memchr(p + SLOG_BATCH_HEADER_BYTES, 'o', total - SLOG_BATCH_HEADER_BYTES);
    ASSERT_TRUE(key != NULL);
    *key = 'x';
    tl_fix_crc(p, total);
    ASSERT_EQ(sl_fs_write_atomic(path, text, len), 0);
    free(text);
    env = env_open(dir, SETTINGS, NULL); /* asserts that it starts */
    c = cli_new(&env);
    ASSERT_EQ(fetch(&env, &c, "first"), -1); /* its commit was in the damaged batch */
    ASSERT_EQ(fetch(&env, &c, "second"), 22);
    cli_free(&c);
    env_free(&env);
}

/* Starts a broker on dir; returns its error message ("" when it started). */
static const char *start_err(const char *dir, const char *authorizer)
{
    static char err[512];
    err[0] = '\0';
    sl_props_t *props = sl_props_new();
    sl_props_set(props, "log.dirs", dir);
    sl_props_set(props, "listeners", "PLAINTEXT://127.0.0.1:0");
    if (authorizer) {
        sl_props_set(props, "authorizer.class.name", authorizer);
    }
    brk_t *brk = NULL;
    if (brk_new(props, &brk, err, sizeof err) == 0) {
        brk_free(brk);
        err[0] = '\0';
    }
    sl_props_free(props);
    return err;
}

TEST(test_damaged_acls_and_meta_properties_refuse_the_start_naming_the_way_out)
{
    char dir[64] = "/tmp/sl_state_XXXXXX";
    SL_ASSERT(mkdtemp(dir));
    char path[160];
    ASSERT_STREQ(start_err(dir, "sluice"), "");
    snprintf(path, sizeof path, "%s/acls.txt", dir);
    ASSERT_EQ(sl_fs_write_atomic(path, "TOPIC LITERAL t User:a * READ DENY\nend 1 0\n", 43), 0);
    const char *err = start_err(dir, "sluice");
    ASSERT_TRUE(strstr(err, "acls.txt") && strstr(err, "move it away"));
    unlink(path);
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    ASSERT_EQ(sl_fs_write_atomic(path, "version=1\nnode.id=1\n", 20), 0);
    err = start_err(dir, NULL);
    ASSERT_TRUE(strstr(err, "meta.properties") && strstr(err, "remove it"));
    ASSERT_EQ(sl_fs_write_atomic(path, "garbage\n", 8), 0);
    err = start_err(dir, NULL);
    ASSERT_TRUE(strstr(err, "meta.properties") && strstr(err, "remove it"));
    unlink(path);
    ASSERT_STREQ(start_err(dir, NULL), ""); /* the way out works */
    sl_fs_rmtree(dir);
}

int main(void)
{
    RUN(test_a_damaged_commit_batch_is_skipped_and_the_broker_starts);
    RUN(test_damaged_acls_and_meta_properties_refuse_the_start_naming_the_way_out);
    TEST_MAIN_END();
}
