/* kit_rk: the librdkafka client presets (idempotent acks=all producer, manual-commit consumer,
 * plain admin handle), the order of the layers over them, and errors as values that name the
 * setting or the client. Clients are made, never connected (bootstrap 127.0.0.1:1). */
#include "kit_rk.h"
#include "sl_common.h"
#include "sl_test.h"
#include "sl_time.h"

#include <stdio.h>
#include <string.h>

static const char *conf_get(rd_kafka_conf_t *conf, const char *key, char *buf, size_t cap)
{
    size_t len = cap;
    return rd_kafka_conf_get(conf, key, buf, &len) == RD_KAFKA_CONF_OK ? buf : "";
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    SL_UNUSED(rk);
    SL_UNUSED(level);
    SL_UNUSED(fac);
    SL_UNUSED(buf);
}

static rd_kafka_conf_t *conf_of(kit_rk_preset_t preset, const char *const *kv,
                                const kit_kconf_t *user)
{
    kit_rk_opts_t opts = {preset, "127.0.0.1:1", "sluice-test", NULL, kv, user};
    rd_kafka_conf_t *conf = NULL;
    char err[600];
    if (kit_rk_conf_new(&opts, &conf, err, sizeof err) != 0) {
        fprintf(stderr, "  kit_rk_conf_new: %s\n", err);
    } else {
        rd_kafka_conf_set_log_cb(conf, quiet_log); /* refused connections are expected */
    }
    return conf; /* NULL fails the caller's ASSERT_TRUE(conf) */
}

TEST(test_producer_preset_is_idempotent_with_acks_all)
{
    char buf[256];
    rd_kafka_conf_t *conf = conf_of(KIT_RK_PRODUCER, NULL, NULL);
    ASSERT_TRUE(conf);
    ASSERT_STREQ(conf_get(conf, "enable.idempotence", buf, sizeof buf), "true");
    ASSERT_STREQ(conf_get(conf, "acks", buf, sizeof buf), "-1"); /* all */
    ASSERT_STREQ(conf_get(conf, "bootstrap.servers", buf, sizeof buf), "127.0.0.1:1");
    ASSERT_STREQ(conf_get(conf, "client.id", buf, sizeof buf), "sluice-test");
    rd_kafka_conf_destroy(conf);
}

TEST(test_consumer_preset_commits_nothing_by_itself)
{
    char buf[256];
    rd_kafka_conf_t *conf = conf_of(KIT_RK_CONSUMER, NULL, NULL);
    ASSERT_TRUE(conf);
    ASSERT_STREQ(conf_get(conf, "enable.auto.commit", buf, sizeof buf), "false");
    ASSERT_STREQ(conf_get(conf, "enable.auto.offset.store", buf, sizeof buf), "false");
    rd_kafka_conf_destroy(conf);
}

TEST(test_admin_preset_keeps_librdkafka_defaults)
{
    char buf[256], want[256];
    rd_kafka_conf_t *conf = conf_of(KIT_RK_ADMIN, NULL, NULL);
    ASSERT_TRUE(conf);
    rd_kafka_conf_t *plain = rd_kafka_conf_new();
    ASSERT_STREQ(conf_get(conf, "enable.idempotence", buf, sizeof buf),
                 conf_get(plain, "enable.idempotence", want, sizeof want));
    ASSERT_STREQ(conf_get(conf, "acks", buf, sizeof buf),
                 conf_get(plain, "acks", want, sizeof want));
    rd_kafka_conf_destroy(plain);
    rd_kafka_conf_destroy(conf);
}

TEST(test_layers_apply_in_order_preset_base_kv_then_user)
{
    static kit_kconf_t user;
    char buf[256], err[600];
    kit_kconf_init(&user);
    ASSERT_EQ(kit_kconf_set(&user, "socket.timeout.ms", "7000", err, sizeof err), 0);
    const char *kv[] = {"enable.auto.commit", "true", "socket.timeout.ms", "5000", NULL};
    rd_kafka_conf_t *conf = conf_of(KIT_RK_CONSUMER, kv, &user);
    ASSERT_TRUE(conf);
    ASSERT_STREQ(conf_get(conf, "enable.auto.commit", buf, sizeof buf), "true");
    ASSERT_STREQ(conf_get(conf, "enable.auto.offset.store", buf, sizeof buf), "false");
    ASSERT_STREQ(conf_get(conf, "socket.timeout.ms", buf, sizeof buf), "7000");
    rd_kafka_conf_destroy(conf);
    const char *base[] = {"linger.ms", "7", "client.id", "sluice-base", NULL};
    const char *mine[] = {"linger.ms", "9", NULL};
    kit_rk_opts_t opts = {KIT_RK_PRODUCER, "127.0.0.1:1", "sluice-test", base, mine, NULL};
    ASSERT_EQ(kit_rk_conf_new(&opts, &conf, err, sizeof err), 0);
    ASSERT_STREQ(conf_get(conf, "linger.ms", buf, sizeof buf), "9"); /* kv over base */
    ASSERT_STREQ(conf_get(conf, "client.id", buf, sizeof buf), "sluice-base"); /* base over id */
    rd_kafka_conf_destroy(conf);
}

TEST(test_bad_setting_is_an_error_naming_it)
{
    char err[600];
    const char *kv[] = {"linger.ms", "5", "no.such.property", "1", NULL};
    kit_rk_opts_t opts = {KIT_RK_PRODUCER, "127.0.0.1:1", "sluice-test", NULL, kv, NULL};
    rd_kafka_conf_t *conf = NULL;
    ASSERT_EQ(kit_rk_conf_new(&opts, &conf, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(conf == NULL);
    ASSERT_TRUE(strstr(err, "client setting no.such.property=1: ") == err);
    const char *bad_value[] = {"acks", "some", NULL};
    opts.kv = bad_value;
    ASSERT_EQ(kit_rk_conf_new(&opts, &conf, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "client setting acks=some: ") == err);
}

TEST(test_client_that_cannot_be_made_is_an_error_naming_it)
{
    char err[600];
    const char *kv[] = {"security.protocol", "ssl", "ssl.ca.location", "/nonexistent/ca.pem",
                        NULL};
    rd_kafka_conf_t *conf = conf_of(KIT_RK_PRODUCER, kv, NULL);
    ASSERT_TRUE(conf);
    ASSERT_TRUE(kit_rk_new(KIT_RK_PRODUCER, conf, err, sizeof err) == NULL); /* conf freed */
    ASSERT_TRUE(strstr(err, "cannot create Kafka client sluice-test: ") == err);
}

TEST(test_consumer_is_made_and_served_by_consumer_poll)
{
    char err[600];
    const char *kv[] = {"group.id", "sluice-test", NULL};
    rd_kafka_conf_t *conf = conf_of(KIT_RK_CONSUMER, kv, NULL);
    ASSERT_TRUE(conf);
    rd_kafka_t *rk = kit_rk_new(KIT_RK_CONSUMER, conf, err, sizeof err);
    ASSERT_TRUE(rk != NULL);
    ASSERT_EQ(rd_kafka_type(rk), RD_KAFKA_CONSUMER);
    ASSERT_TRUE(rd_kafka_consumer_poll(rk, 0) == NULL); /* nothing assigned */
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    conf = conf_of(KIT_RK_ADMIN, NULL, NULL);
    ASSERT_TRUE(conf);
    rk = kit_rk_new(KIT_RK_ADMIN, conf, err, sizeof err);
    ASSERT_TRUE(rk != NULL);
    ASSERT_EQ(rd_kafka_type(rk), RD_KAFKA_PRODUCER);
    rd_kafka_destroy(rk);
}

static int reports, purged;

static void count_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    SL_UNUSED(rk);
    SL_UNUSED(opaque);
    reports++;
    purged += m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
              m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
}

/* A stop never waits out message.timeout.ms (here 10 minutes) for a broker that does not
 * answer: after the flush timeout what is left is purged, and every message gets a report. */
TEST(test_drain_is_bounded_and_reports_every_message)
{
    char err[600];
    const char *kv[] = {"message.timeout.ms", "600000", NULL};
    rd_kafka_conf_t *conf = conf_of(KIT_RK_PRODUCER, kv, NULL);
    ASSERT_TRUE(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, count_report);
    rd_kafka_t *rk = kit_rk_new(KIT_RK_PRODUCER, conf, err, sizeof err);
    ASSERT_TRUE(rk != NULL);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_VALUE("v", 1),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    int64_t t0 = sl_time_mono_ms();
    ASSERT_EQ(kit_rk_drain(rk, 300), 3);
    int64_t took = sl_time_mono_ms() - t0;
    ASSERT_TRUE(took >= 250 && took < 300 + KIT_RK_DRAIN_REPORTS_MS);
    ASSERT_EQ(reports, 3);
    ASSERT_EQ(purged, 3);
    ASSERT_EQ(rd_kafka_outq_len(rk), 0);
    rd_kafka_destroy(rk);
}

int main(void)
{
    RUN(test_producer_preset_is_idempotent_with_acks_all);
    RUN(test_consumer_preset_commits_nothing_by_itself);
    RUN(test_admin_preset_keeps_librdkafka_defaults);
    RUN(test_layers_apply_in_order_preset_base_kv_then_user);
    RUN(test_bad_setting_is_an_error_naming_it);
    RUN(test_client_that_cannot_be_made_is_an_error_naming_it);
    RUN(test_consumer_is_made_and_served_by_consumer_poll);
    RUN(test_drain_is_bounded_and_reports_every_message);
    TEST_MAIN_END();
}
