/* kit: the http.listen setting (kit_listen); kafka.* client settings (kit_kconf). (The
 * Prometheus text, sl_prom, is tested in test_base_prom.c.) */
#include "kit_kconf.h"
#include "kit_listen.h"
#include "sl_common.h"
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

TEST(test_listen_parse_accepts_host_port_and_names_the_setting)
{
    char host[KIT_HOST_BYTES], err[128];
    int port = -1;
    ASSERT_EQ(kit_listen_parse("127.0.0.1:0", host, &port, err, sizeof err), 0);
    ASSERT_TRUE(strcmp(host, "127.0.0.1") == 0 && port == 0);
    ASSERT_EQ(kit_listen_parse("localhost:65535", host, &port, err, sizeof err), 0);
    ASSERT_TRUE(strcmp(host, "localhost") == 0 && port == 65535);
    const char *bad[] = {"localhost:65536", "localhost", "h:12x", "h:-1", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ(kit_listen_parse(bad[i], host, &port, err, sizeof err), SL_EINVAL);
        ASSERT_TRUE(strstr(err, "http.listen: want HOST:PORT") != NULL);
    }
    char long_host[KIT_HOST_BYTES + 8];
    memset(long_host, 'a', KIT_HOST_BYTES);
    strcpy(long_host + KIT_HOST_BYTES, ":80");
    ASSERT_EQ(kit_listen_parse(long_host, host, &port, err, sizeof err), SL_EINVAL);
    long_host[KIT_HOST_BYTES - 1] = '\0';
    strcat(long_host, ":80");
    ASSERT_EQ(kit_listen_parse(long_host, host, &port, err, sizeof err), 0);
    ASSERT_EQ(strlen(host), KIT_HOST_BYTES - 1);
}

static const char *kconf_get(rd_kafka_conf_t *conf, const char *key, char *buf, size_t cap)
{
    size_t len = cap;
    return rd_kafka_conf_get(conf, key, buf, &len) == RD_KAFKA_CONF_OK ? buf : "";
}

TEST(test_kconf_applies_client_settings_and_replaces_a_repeated_key)
{
    static kit_kconf_t kc;
    char err[600], buf[256];
    kit_kconf_init(&kc);
    ASSERT_EQ(kit_kconf_set(&kc, "security.protocol", "sasl_ssl", err, sizeof err), 0);
    ASSERT_EQ(kit_kconf_set(&kc, "sasl.mechanism", "PLAIN", err, sizeof err), 0);
    ASSERT_EQ(kit_kconf_set(&kc, "sasl.mechanism", "SCRAM-SHA-512", err, sizeof err), 0);
    ASSERT_EQ(kc.n, 2);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ASSERT_EQ(kit_kconf_apply(&kc, conf, err, sizeof err), 0);
    ASSERT_TRUE(strcmp(kconf_get(conf, "security.protocol", buf, sizeof buf), "sasl_ssl") == 0);
    ASSERT_TRUE(strcmp(kconf_get(conf, "sasl.mechanisms", buf, sizeof buf), "SCRAM-SHA-512") == 0);
    rd_kafka_conf_destroy(conf);
}

TEST(test_kconf_refuses_unknown_bad_owned_and_too_long_settings_by_name)
{
    static kit_kconf_t kc;
    char err[600];
    kit_kconf_init(&kc);
    ASSERT_EQ(kit_kconf_set(&kc, "no.such.property", "1", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "kafka.no.such.property: ") == err);
    ASSERT_EQ(kit_kconf_set(&kc, "security.protocol", "carrier_pigeon", err, sizeof err),
              SL_EINVAL);
    ASSERT_TRUE(strstr(err, "kafka.security.protocol: ") == err);
    ASSERT_EQ(kit_kconf_set(&kc, "enable.auto.commit", "true", err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "set by the service itself") != NULL);
    ASSERT_EQ(kit_kconf_set(&kc, "bootstrap.servers", "x:1", err, sizeof err), SL_EINVAL);
    static char val[KIT_KCONF_VAL_BYTES + 1];
    memset(val, 'p', KIT_KCONF_VAL_BYTES);
    ASSERT_EQ(kit_kconf_set(&kc, "sasl.password", val, err, sizeof err), SL_EINVAL);
    ASSERT_TRUE(strstr(err, "too long") != NULL);
    val[KIT_KCONF_VAL_BYTES - 1] = '\0';
    ASSERT_EQ(kit_kconf_set(&kc, "sasl.password", val, err, sizeof err), 0);
    ASSERT_EQ(kc.n, 1);
}

TEST(test_kconf_holds_the_limit_and_refuses_one_more)
{
    static kit_kconf_t kc;
    char err[600];
    kit_kconf_init(&kc);
    /* KIT_KCONF_PAIRS_MAX + 1 distinct librdkafka properties with valid values. */
    const char *keys[] = {"security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
                          "ssl.ca.location", "ssl.key.location", "ssl.certificate.location",
                          "ssl.key.password", "client.rack", "socket.timeout.ms",
                          "socket.keepalive.enable", "socket.nagle.disable",
                          "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
                          "metadata.max.age.ms", "topic.metadata.refresh.interval.ms",
                          "reconnect.backoff.ms", "retry.backoff.ms", "retries",
                          "api.version.request.timeout.ms", "broker.address.family",
                          "connections.max.idle.ms", "socket.connection.setup.timeout.ms",
                          "ssl.endpoint.identification.algorithm", "ssl.cipher.suites",
                          "sasl.kerberos.service.name", "message.max.bytes", "receive.message.max.bytes",
                          "max.poll.interval.ms", "fetch.max.bytes", "fetch.min.bytes",
                          "max.partition.fetch.bytes", "check.crcs"};
    _Static_assert(sizeof keys / sizeof keys[0] == KIT_KCONF_PAIRS_MAX + 1, "N+1 keys");
    const char *vals[] = {"ssl", "PLAIN", "u", "p", "/ca", "/key", "/crt", "kp", "r1", "5000",
                          "true", "true", "65536", "65536", "60000", "30000", "100", "100", "3",
                          "5000", "v4", "60000", "10000", "none", "DEFAULT", "kafka", "2000000",
                          "2000000", "300000", "10000000", "1", "1048576", "true"};
    for (int i = 0; i < KIT_KCONF_PAIRS_MAX; i++) {
        ASSERT_EQ(kit_kconf_set(&kc, keys[i], vals[i], err, sizeof err), 0);
    }
    ASSERT_EQ(kit_kconf_set(&kc, keys[KIT_KCONF_PAIRS_MAX], vals[KIT_KCONF_PAIRS_MAX], err,
                            sizeof err),
              SL_EINVAL);
    ASSERT_TRUE(strstr(err, "too many") != NULL);
    ASSERT_EQ(kit_kconf_set(&kc, keys[0], "plaintext", err, sizeof err), 0); /* replace: fine */
}

int main(void)
{
    RUN(test_listen_parse_accepts_host_port_and_names_the_setting);
    RUN(test_kconf_applies_client_settings_and_replaces_a_repeated_key);
    RUN(test_kconf_refuses_unknown_bad_owned_and_too_long_settings_by_name);
    RUN(test_kconf_holds_the_limit_and_refuses_one_more);
    TEST_MAIN_END();
}
