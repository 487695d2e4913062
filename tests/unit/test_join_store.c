/* The per-partition LMDB store (put, get, delete, checkpoints, wipe, reopen, map full) and the
 * join configuration (defaults, required keys, unknown keys, limits at N and N+1). */
#include "jncfg.h"
#include "jnstore.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_join_store.%d", (int)getpid());
    sl_fs_rmtree(dir);
}

static jn_bytes_t B(const char *s)
{
    jn_bytes_t b = {s, s ? strlen(s) : 0};
    return b;
}

TEST(test_store_put_get_delete_and_reopen)
{
    fresh_dir();
    jn_store_t *st = NULL;
    char err[256];
    ASSERT_EQ(jn_store_open(dir, JN_STORE_MAP_BYTES_MIN, &st, err, sizeof err), 0);
    ASSERT_EQ(jn_store_begin(st), 0);
    ASSERT_EQ(jn_store_checkpoint(st, JN_RIGHT), -1);
    ASSERT_EQ(jn_store_put(st, JN_RIGHT, "k", 1, B("v1")), 0);
    ASSERT_EQ(jn_store_put(st, JN_LEFT, "k", 1, B("l1")), 0);
    ASSERT_EQ(jn_store_put(st, JN_RIGHT, "k2", 2, B("v2")), 0);
    ASSERT_EQ(jn_store_put(st, JN_RIGHT, "k2", 2, B(NULL)), 0);
    ASSERT_EQ(jn_store_put(st, JN_RIGHT, "absent", 6, B(NULL)), 0);
    ASSERT_EQ(jn_store_set_checkpoint(st, JN_RIGHT, 42), 0);
    ASSERT_EQ(jn_store_commit(st), 0);
    jn_store_close(st);
    ASSERT_EQ(jn_store_open(dir, JN_STORE_MAP_BYTES_MIN, &st, err, sizeof err), 0);
    ASSERT_EQ(jn_store_count(st, JN_RIGHT), 1);
    ASSERT_EQ(jn_store_begin(st), 0);
    jn_bytes_t v;
    ASSERT_EQ(jn_store_get(st, JN_RIGHT, "k", 1, &v), 0);
    ASSERT_TRUE(v.p && v.len == 2 && memcmp(v.p, "v1", 2) == 0);
    ASSERT_EQ(jn_store_get(st, JN_LEFT, "k", 1, &v), 0);
    ASSERT_TRUE(v.p && memcmp(v.p, "l1", 2) == 0);
    ASSERT_EQ(jn_store_get(st, JN_RIGHT, "k2", 2, &v), 0);
    ASSERT_TRUE(v.p == NULL);
    ASSERT_EQ(jn_store_checkpoint(st, JN_RIGHT), 42);
    ASSERT_EQ(jn_store_checkpoint(st, JN_LEFT), -1);
    ASSERT_EQ(jn_store_wipe(st, JN_RIGHT), 0);
    ASSERT_EQ(jn_store_checkpoint(st, JN_RIGHT), -1);
    ASSERT_EQ(jn_store_get(st, JN_RIGHT, "k", 1, &v), 0);
    ASSERT_TRUE(v.p == NULL);
    ASSERT_EQ(jn_store_get(st, JN_LEFT, "k", 1, &v), 0);
    ASSERT_TRUE(v.p != NULL); /* the other side is untouched */
    ASSERT_EQ(jn_store_commit(st), 0);
    jn_store_close(st);
    sl_fs_rmtree(dir);
}

TEST(test_store_full_map_is_a_limit_error)
{
    fresh_dir();
    jn_store_t *st = NULL;
    char err[256], key[16];
    ASSERT_EQ(jn_store_open(dir, JN_STORE_MAP_BYTES_MIN, &st, err, sizeof err), 0);
    char *val = calloc(1, 4096);
    memset(val, 'x', 4095);
    int rc = jn_store_begin(st);
    for (int i = 0; i < 1000 && rc == 0; i++) {
        snprintf(key, sizeof key, "k%d", i);
        rc = jn_store_put(st, JN_RIGHT, key, strlen(key), B(val));
    }
    ASSERT_EQ(rc, SL_ELIMIT);
    jn_store_abort(st);
    jn_store_close(st);
    free(val);
    sl_fs_rmtree(dir);
}

static int load(jncfg_t *cfg, const char *const *kv, char *err, size_t len)
{
    sl_props_t *props = sl_props_new();
    for (int i = 0; kv[i]; i++) {
        sl_props_set_kv(props, kv[i]);
    }
    int rc = jncfg_load(cfg, props, err, len);
    sl_props_free(props);
    return rc;
}

TEST(test_cfg_defaults_and_required_topics)
{
    jncfg_t cfg;
    char err[256];
    const char *none[] = {NULL};
    ASSERT_EQ(load(&cfg, none, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "left.topic: required");
    const char *ok[] = {"left.topic=a", "right.topic=b", "output.topic=c",
                        "application.id=app", NULL};
    ASSERT_EQ(load(&cfg, ok, err, sizeof err), 0);
    ASSERT_STREQ(cfg.error_topic, "app-errors");
    ASSERT_EQ(cfg.type, JN_ST_LEFT);
    ASSERT_EQ(cfg.joiner.mode, JN_MERGE_TOP);
    ASSERT_TRUE(!cfg.on_error_fail);
    ASSERT_STREQ(cfg.compression, "none");
    ASSERT_EQ(cfg.batch_max, 50000);
    ASSERT_EQ(cfg.batch_max_bytes, 16ll << 20);
}

TEST(test_cfg_refuses_unknown_and_bad_values)
{
    jncfg_t cfg;
    char err[256];
    const char *unknown[] = {"left.topic=a", "right.topic=b", "output.topic=c", "lefttopic=x",
                             NULL};
    ASSERT_EQ(load(&cfg, unknown, err, sizeof err), SL_EINVAL);
    ASSERT_STREQ(err, "unknown setting 'lefttopic' (did you mean left.topic?)");
    const char *type[] = {"join.type=inner", NULL};
    ASSERT_EQ(load(&cfg, type, err, sizeof err), SL_EINVAL);
    const char *codec[] = {"left.topic=a", "right.topic=b", "output.topic=c",
                           "compression.type=brotli", NULL};
    ASSERT_EQ(load(&cfg, codec, err, sizeof err), SL_EINVAL);
    const char *same[] = {"left.topic=a", "right.topic=a", "output.topic=c", NULL};
    ASSERT_EQ(load(&cfg, same, err, sizeof err), SL_EINVAL);
    const char *topic[] = {"left.topic=a b", NULL};
    ASSERT_EQ(load(&cfg, topic, err, sizeof err), SL_EINVAL);
    const char *tmpl[] = {"left.topic=a", "right.topic=b", "output.topic=c",
                          "merge.mode=template", NULL};
    ASSERT_EQ(load(&cfg, tmpl, err, sizeof err), SL_EINVAL);
    const char *fail[] = {"left.topic=a", "right.topic=b", "output.topic=c", "on.error=fail",
                          "join.type=table-table-outer", "merge.mode=nest",
                          "merge.precedence=right", "compression.type=lz4", NULL};
    ASSERT_EQ(load(&cfg, fail, err, sizeof err), 0);
    ASSERT_TRUE(cfg.on_error_fail);
    ASSERT_EQ(cfg.type, JN_TT_OUTER);
    ASSERT_EQ(cfg.joiner.precedence, JN_RIGHT);
    ASSERT_STREQ(cfg.compression, "lz4");
}

TEST(test_cfg_limits_at_n_and_n_plus_one)
{
    jncfg_t cfg;
    char err[256], a[64], b[64];
    snprintf(a, sizeof a, "batch.max.records=%d", JNCFG_BATCH_MAX);
    snprintf(b, sizeof b, "batch.max.records=%d", JNCFG_BATCH_MAX + 1);
    const char *at[] = {"left.topic=a", "right.topic=b", "output.topic=c", a, NULL};
    const char *over[] = {"left.topic=a", "right.topic=b", "output.topic=c", b, NULL};
    ASSERT_EQ(load(&cfg, at, err, sizeof err), 0);
    ASSERT_EQ(load(&cfg, over, err, sizeof err), SL_EINVAL);
    snprintf(a, sizeof a, "batch.max.bytes=%lld", JNCFG_BATCH_BYTES_MAX);
    snprintf(b, sizeof b, "batch.max.bytes=%lld", JNCFG_BATCH_BYTES_MAX + 1);
    const char *bytes_at[] = {"left.topic=a", "right.topic=b", "output.topic=c", a, NULL};
    const char *bytes_over[] = {"left.topic=a", "right.topic=b", "output.topic=c", b, NULL};
    ASSERT_EQ(load(&cfg, bytes_at, err, sizeof err), 0);
    ASSERT_EQ(cfg.batch_max_bytes, JNCFG_BATCH_BYTES_MAX);
    ASSERT_EQ(load(&cfg, bytes_over, err, sizeof err), SL_EINVAL);
    snprintf(a, sizeof a, "batch.max.bytes=%d", JNCFG_BATCH_BYTES_MIN);
    snprintf(b, sizeof b, "batch.max.bytes=%d", JNCFG_BATCH_BYTES_MIN - 1);
    ASSERT_EQ(load(&cfg, bytes_at, err, sizeof err), 0);
    ASSERT_EQ(cfg.batch_max_bytes, JNCFG_BATCH_BYTES_MIN);
    ASSERT_EQ(load(&cfg, bytes_over, err, sizeof err), SL_EINVAL);
    snprintf(a, sizeof a, "state.max.bytes=%u", JN_STORE_MAP_BYTES_MIN);
    snprintf(b, sizeof b, "state.max.bytes=%u", JN_STORE_MAP_BYTES_MIN - 1);
    const char *map_at[] = {"left.topic=a", "right.topic=b", "output.topic=c", a, NULL};
    const char *map_below[] = {"left.topic=a", "right.topic=b", "output.topic=c", b, NULL};
    ASSERT_EQ(load(&cfg, map_at, err, sizeof err), 0);
    ASSERT_EQ(load(&cfg, map_below, err, sizeof err), SL_EINVAL);
    const char *ci_at[] = {"left.topic=a", "right.topic=b", "output.topic=c",
                           "commit.interval.ms=60000", NULL};
    const char *ci_over[] = {"left.topic=a", "right.topic=b", "output.topic=c",
                             "commit.interval.ms=60001", NULL};
    ASSERT_EQ(load(&cfg, ci_at, err, sizeof err), 0);
    ASSERT_EQ(cfg.commit_interval_ms, 60000);
    ASSERT_EQ(load(&cfg, ci_over, err, sizeof err), SL_EINVAL);
    static char tmpl[JN_TEMPLATE_BYTES_MAX + 40], mname[JN_NAME_BYTES_MAX + 40];
    snprintf(tmpl, sizeof tmpl, "merge.template=%0*d", JN_TEMPLATE_BYTES_MAX, 0);
    snprintf(mname, sizeof mname, "merge.left.name=%0*d", JN_NAME_BYTES_MAX, 0);
    const char *lim_at[] = {"left.topic=a", "right.topic=b", "output.topic=c", tmpl, mname, NULL};
    ASSERT_EQ(load(&cfg, lim_at, err, sizeof err), 0);
    snprintf(tmpl, sizeof tmpl, "merge.template=%0*d", JN_TEMPLATE_BYTES_MAX + 1, 0);
    const char *tmpl_over[] = {"left.topic=a", "right.topic=b", "output.topic=c", tmpl, NULL};
    ASSERT_EQ(load(&cfg, tmpl_over, err, sizeof err), SL_EINVAL);
    snprintf(mname, sizeof mname, "merge.left.name=%0*d", JN_NAME_BYTES_MAX + 1, 0);
    const char *name_over2[] = {"left.topic=a", "right.topic=b", "output.topic=c", mname, NULL};
    ASSERT_EQ(load(&cfg, name_over2, err, sizeof err), SL_EINVAL);
    char name[JNCFG_NAME_BYTES_MAX + 20];
    memset(name, 'n', sizeof name);
    snprintf(name, sizeof name, "output.topic=%0*d", JNCFG_NAME_BYTES_MAX, 0);
    const char *name_at[] = {"left.topic=a", "right.topic=b", name, NULL};
    ASSERT_EQ(load(&cfg, name_at, err, sizeof err), 0);
    snprintf(name, sizeof name, "output.topic=%0*d", JNCFG_NAME_BYTES_MAX + 1, 0);
    const char *name_over[] = {"left.topic=a", "right.topic=b", name, NULL};
    ASSERT_EQ(load(&cfg, name_over, err, sizeof err), SL_EINVAL);
}

int main(void)
{
    RUN(test_store_put_get_delete_and_reopen);
    RUN(test_store_full_map_is_a_limit_error);
    RUN(test_cfg_defaults_and_required_topics);
    RUN(test_cfg_refuses_unknown_and_bad_values);
    RUN(test_cfg_limits_at_n_and_n_plus_one);
    TEST_MAIN_END();
}
