/* Unit tests for src/services/jobs/jcfg: defaults, every kind of key, worker types with dotted
 * names and fields, and refusals that name the key. */
#include "jcfg.h"
#include "jsvc_int.h"
#include "sl_common.h"
#include "sl_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static int load(jcfg_t *cfg, const char *const *kv, char *err, size_t len)
{
    sl_props_t *p = sl_props_new();
    for (int i = 0; kv[i]; i++) {
        SL_ASSERT(sl_props_set_kv(p, kv[i]) == 0);
    }
    int rc = jcfg_load(cfg, p, err, len);
    sl_props_free(p);
    return rc;
}

TEST(test_defaults)
{
    jcfg_t cfg;
    char err[256];
    const char *kv[] = {NULL};
    ASSERT_EQ(load(&cfg, kv, err, sizeof err), 0);
    ASSERT_STREQ(cfg.brokers, "127.0.0.1:9092");
    ASSERT_STREQ(cfg.prefix, "jobs");
    ASSERT_EQ(cfg.slots, 4);
    ASSERT_EQ(cfg.default_max_attempts, 3);
    ASSERT_TRUE(cfg.roles_api && cfg.roles_pipeline && cfg.roles_workers);
    ASSERT_EQ(cfg.ntypes, 0);
    jcfg_deinit(&cfg);
}

TEST(test_types_and_settings)
{
    jcfg_t cfg;
    char err[256];
    const char *kv[] = {"type.ocr.v2.command=/usr/bin/inspect --engine  tesseract",
                        "type.ocr.v2.mode=persistent", "type.ocr.v2.timeout.s=90",
                        "type.ocr.v2.max.attempts=5", "type.ocr.v2.concurrency=2",
                        "type.echo.command=cat", "workers.slots=16", "lease.ms=4000",
                        "roles=workers", "webhook.retries=1s,2s", "http.request.max.bytes=4096",
                        NULL};
    ASSERT_EQ(load(&cfg, kv, err, sizeof err), 0);
    ASSERT_EQ(cfg.ntypes, 2);
    const jcfg_type_t *t = jcfg_type(&cfg, "ocr.v2");
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ(t->mode, JCFG_PERSISTENT);
    ASSERT_STREQ(t->argv[0], "/usr/bin/inspect");
    ASSERT_STREQ(t->argv[2], "tesseract");
    ASSERT_TRUE(t->argv[3] == NULL);
    ASSERT_EQ(t->timeout_s, 90);
    ASSERT_EQ(t->max_attempts, 5);
    ASSERT_EQ(t->concurrency, 2);
    ASSERT_EQ(jcfg_type(&cfg, "echo")->mode, JCFG_ONESHOT);
    ASSERT_TRUE(jcfg_type(&cfg, "nope") == NULL);
    ASSERT_EQ(cfg.slots, 16);
    ASSERT_EQ(cfg.lease_ms, 4000);
    ASSERT_TRUE(!cfg.roles_api && !cfg.roles_pipeline && cfg.roles_workers);
    ASSERT_EQ(cfg.request_bytes_max, 4096);
    jcfg_deinit(&cfg);
    /* The egress.* settings build the webhooks' outbound policy. */
    const char *eg_kv[] = {"egress.allow.cidrs=127.0.0.1:9000", NULL};
    ASSERT_EQ(load(&cfg, eg_kv, err, sizeof err), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9000),
                              .sin_addr.s_addr = htonl(0x7f000001)};
    char msg[SL_EGRESS_MSG_BYTES];
    ASSERT_EQ(sl_egress_check(cfg.egress, NULL, (struct sockaddr *)&sin, msg, sizeof msg), 0);
    sin.sin_port = htons(9001);
    ASSERT_EQ(sl_egress_check(cfg.egress, NULL, (struct sockaddr *)&sin, msg, sizeof msg),
              -EACCES);
    jcfg_deinit(&cfg);
}

TEST(test_refusals_name_the_key)
{
    static const struct {
        const char *kv, *key;
    } bad[] = {
        {"workers.slots=0", "workers.slots"},
        {"workers.slots=257", "workers.slots"},
        {"lease.ms=abc", "lease.ms"},
        {"roles=api,bogus", "roles"},
        {"webhook.retries=1x", "webhook.retries"},
        {"type.x.mode=forever", "type.x.mode"},
        {"type.x.colour=red", "type.x.colour"},
        {"type.x.mode=oneshot", "type.x.command"}, /* a type needs a command */
        {"nosuch.key=1", "unknown setting 'nosuch.key'"},
        {"retry.backoff.max.ms=10", "retry.backoff.max.ms"}, /* below the base */
        {"egress.allow.cidrs=10.0.0.0/33", "egress.allow.cidrs"},
        {"egress.allow.hosts=a b", "egress.allow.hosts"},
        {"egress.allow.private=yes please", "egress.allow.private"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        jcfg_t cfg;
        char err[256] = "";
        const char *kv[] = {bad[i].kv, NULL};
        ASSERT_EQ(load(&cfg, kv, err, sizeof err), SL_EINVAL);
        ASSERT_TRUE(strncmp(err, bad[i].key, strlen(bad[i].key)) == 0);
        jcfg_deinit(&cfg);
    }
}

TEST(test_backoff_doubles_and_is_capped)
{
    jcfg_t cfg;
    char err[256];
    const char *kv[] = {"retry.backoff.base.ms=100", "retry.backoff.max.ms=1000",
                        "retry.jitter.pct=0", NULL};
    ASSERT_EQ(load(&cfg, kv, err, sizeof err), 0);
    ASSERT_EQ(jsvc_backoff_ms(&cfg, 2), 100);
    ASSERT_EQ(jsvc_backoff_ms(&cfg, 3), 200);
    ASSERT_EQ(jsvc_backoff_ms(&cfg, 5), 800);
    ASSERT_EQ(jsvc_backoff_ms(&cfg, 50), 1000);
    cfg.retry_jitter_pct = 20;
    for (int i = 0; i < 200; i++) {
        int64_t d = jsvc_backoff_ms(&cfg, 3);
        ASSERT_TRUE(d >= 160 && d <= 240);
    }
    jcfg_deinit(&cfg);
}

TEST(test_webhook_pool_limits_at_n_and_n_plus_one)
{
    jcfg_t cfg;
    char err[256];
    const char *ok[] = {"webhook.concurrency=64", "webhook.per.host=64", NULL};
    ASSERT_EQ(load(&cfg, ok, err, sizeof err), 0);
    ASSERT_EQ(cfg.webhook_concurrency, JHPOOL_THREADS_MAX);
    jcfg_deinit(&cfg);
    const char *over[] = {"webhook.concurrency=65", NULL};
    ASSERT_EQ(load(&cfg, over, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "webhook.concurrency") != NULL);
    jcfg_deinit(&cfg);
    const char *host[] = {"webhook.concurrency=3", "webhook.per.host=4", NULL};
    ASSERT_EQ(load(&cfg, host, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "webhook.per.host") != NULL);
    jcfg_deinit(&cfg);
    const char *dflt[] = {NULL};
    ASSERT_EQ(load(&cfg, dflt, err, sizeof err), 0);
    ASSERT_EQ(cfg.webhook_concurrency, 8);
    ASSERT_EQ(cfg.webhook_per_host, 2);
    jcfg_deinit(&cfg);
}

TEST(test_shutdown_wait_limits_at_n_and_n_plus_one)
{
    jcfg_t cfg;
    char err[256];
    const char *dflt[] = {NULL};
    ASSERT_EQ(load(&cfg, dflt, err, sizeof err), 0);
    ASSERT_EQ(cfg.shutdown_wait_ms, 10000);
    jcfg_deinit(&cfg);
    const char *zero[] = {"shutdown.wait.ms=0", NULL};
    ASSERT_EQ(load(&cfg, zero, err, sizeof err), 0);
    ASSERT_EQ(cfg.shutdown_wait_ms, 0);
    jcfg_deinit(&cfg);
    const char *max[] = {"shutdown.wait.ms=3600000", NULL};
    ASSERT_EQ(load(&cfg, max, err, sizeof err), 0);
    ASSERT_EQ(cfg.shutdown_wait_ms, JCFG_SHUTDOWN_WAIT_MS_MAX);
    jcfg_deinit(&cfg);
    const char *over[] = {"shutdown.wait.ms=3600001", NULL};
    ASSERT_EQ(load(&cfg, over, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "shutdown.wait.ms") != NULL);
    jcfg_deinit(&cfg);
    const char *neg[] = {"shutdown.wait.ms=-1", NULL};
    ASSERT_EQ(load(&cfg, neg, err, sizeof err), SL_EINVAL);
    jcfg_deinit(&cfg);
}

TEST(test_tokens_are_settings)
{
    jcfg_t cfg;
    char err[256];
    const char *ok[] = {"api.token=a:0123456789abcdef,0123456789abcdeg",
                        "operator.token=0123456789abcdefgh", NULL};
    ASSERT_EQ(load(&cfg, ok, err, sizeof err), 0);
    ASSERT_EQ(cfg.auth.roles[JAUTH_API].n, 2);
    ASSERT_EQ(cfg.auth.roles[JAUTH_OPERATOR].n, 1);
    jcfg_deinit(&cfg);
    const char *bad[] = {"operator.token=short", NULL};
    ASSERT_EQ(load(&cfg, bad, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "operator.token") != NULL);
    jcfg_deinit(&cfg);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_webhook_pool_limits_at_n_and_n_plus_one);
    RUN(test_tokens_are_settings);
    RUN(test_shutdown_wait_limits_at_n_and_n_plus_one);
    RUN(test_types_and_settings);
    RUN(test_refusals_name_the_key);
    RUN(test_backoff_doubles_and_is_capped);
    TEST_MAIN_END();
}
