/* Unit tests of the outbound request policy (sl_egress.h): every refused range at its edges,
 * the embedded IPv4 forms, the allowance settings (and malformed ones), the messages, the
 * resolver (one lookup, the checked address returned) and URL splitting. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "sl_common.h"
#include "sl_egress.h"
#include "sl_test.h"

static struct sockaddr_storage sa_of(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
    } else {
        fprintf(stderr, "bad test address %s\n", text);
        abort();
    }
    return ss;
}

static sl_egress_class_t cls_of(const char *text)
{
    struct sockaddr_storage ss = sa_of(text, 80);
    return sl_egress_classify((struct sockaddr *)&ss);
}

static int check(const sl_egress_t *eg, const char *host, const char *addr, uint16_t port,
                 char *msg)
{
    struct sockaddr_storage ss = sa_of(addr, port);
    return sl_egress_check(eg, host, (struct sockaddr *)&ss, msg, SL_EGRESS_MSG_BYTES);
}

static const struct {
    const char *addr;
    sl_egress_class_t cls;
} ipv4_edges[] = {
    {"0.0.0.0", SL_EGRESS_UNSPECIFIED},     {"0.255.255.255", SL_EGRESS_UNSPECIFIED},
    {"1.0.0.0", SL_EGRESS_PUBLIC},          {"9.255.255.255", SL_EGRESS_PUBLIC},
    {"10.0.0.0", SL_EGRESS_PRIVATE},        {"10.255.255.255", SL_EGRESS_PRIVATE},
    {"11.0.0.0", SL_EGRESS_PUBLIC},         {"100.63.255.255", SL_EGRESS_PUBLIC},
    {"100.64.0.0", SL_EGRESS_CGNAT},        {"100.127.255.255", SL_EGRESS_CGNAT},
    {"100.128.0.0", SL_EGRESS_PUBLIC},      {"126.255.255.255", SL_EGRESS_PUBLIC},
    {"127.0.0.0", SL_EGRESS_LOOPBACK},      {"127.0.0.1", SL_EGRESS_LOOPBACK},
    {"127.255.255.255", SL_EGRESS_LOOPBACK}, {"128.0.0.0", SL_EGRESS_PUBLIC},
    {"169.253.255.255", SL_EGRESS_PUBLIC},  {"169.254.0.0", SL_EGRESS_LINK_LOCAL},
    {"169.254.169.254", SL_EGRESS_LINK_LOCAL}, {"169.254.255.255", SL_EGRESS_LINK_LOCAL},
    {"169.255.0.0", SL_EGRESS_PUBLIC},      {"172.15.255.255", SL_EGRESS_PUBLIC},
    {"172.16.0.0", SL_EGRESS_PRIVATE},      {"172.31.255.255", SL_EGRESS_PRIVATE},
    {"172.32.0.0", SL_EGRESS_PUBLIC},       {"192.0.0.0", SL_EGRESS_RESERVED},
    {"192.0.0.255", SL_EGRESS_RESERVED},    {"192.0.1.0", SL_EGRESS_PUBLIC},
    {"192.0.2.1", SL_EGRESS_RESERVED},      {"192.88.99.1", SL_EGRESS_RESERVED},
    {"192.167.255.255", SL_EGRESS_PUBLIC},  {"192.168.0.0", SL_EGRESS_PRIVATE},
    {"192.168.255.255", SL_EGRESS_PRIVATE}, {"192.169.0.0", SL_EGRESS_PUBLIC},
    {"198.17.255.255", SL_EGRESS_PUBLIC},   {"198.18.0.0", SL_EGRESS_RESERVED},
    {"198.19.255.255", SL_EGRESS_RESERVED}, {"198.20.0.0", SL_EGRESS_PUBLIC},
    {"198.51.100.7", SL_EGRESS_RESERVED},   {"203.0.113.9", SL_EGRESS_RESERVED},
    {"223.255.255.255", SL_EGRESS_PUBLIC},  {"224.0.0.0", SL_EGRESS_MULTICAST},
    {"239.255.255.255", SL_EGRESS_MULTICAST}, {"240.0.0.0", SL_EGRESS_RESERVED},
    {"255.255.255.255", SL_EGRESS_RESERVED}, {"8.8.8.8", SL_EGRESS_PUBLIC},
};

TEST(test_every_ipv4_range_is_classified_at_its_edges)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(ipv4_edges); i++) {
        if (cls_of(ipv4_edges[i].addr) != ipv4_edges[i].cls) {
            SL_TEST_FAIL_("%s: class %d, want %d", ipv4_edges[i].addr,
                          (int)cls_of(ipv4_edges[i].addr), (int)ipv4_edges[i].cls);
        }
    }
}

TEST(test_ipv4_mapped_forms_are_classified_as_the_ipv4_address)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(ipv4_edges); i++) {
        char mapped[64];
        snprintf(mapped, sizeof(mapped), "::ffff:%s", ipv4_edges[i].addr);
        if (cls_of(mapped) != ipv4_edges[i].cls) {
            SL_TEST_FAIL_("%s: class %d, want %d", mapped, (int)cls_of(mapped),
                          (int)ipv4_edges[i].cls);
        }
    }
}

TEST(test_every_ipv6_range_and_embedded_form_is_classified)
{
    static const struct {
        const char *addr;
        sl_egress_class_t cls;
    } v6[] = {
        {"::", SL_EGRESS_UNSPECIFIED},         {"::1", SL_EGRESS_LOOPBACK},
        {"::127.0.0.1", SL_EGRESS_LOOPBACK},   {"::10.0.0.1", SL_EGRESS_PRIVATE},
        {"::8.8.8.8", SL_EGRESS_RESERVED},     {"::ffff:0:127.0.0.1", SL_EGRESS_LOOPBACK},
        {"::ffff:0:8.8.8.8", SL_EGRESS_RESERVED},
        {"64:ff9b::127.0.0.1", SL_EGRESS_LOOPBACK},
        {"64:ff9b::169.254.169.254", SL_EGRESS_LINK_LOCAL},
        {"64:ff9b::192.168.1.1", SL_EGRESS_PRIVATE}, {"64:ff9b::8.8.8.8", SL_EGRESS_PUBLIC},
        {"64:ff9b:1::1", SL_EGRESS_PRIVATE},   {"2002:7f00:1::", SL_EGRESS_LOOPBACK},
        {"2002:a9fe:a9fe::1", SL_EGRESS_LINK_LOCAL}, {"2002:808:808::1", SL_EGRESS_PUBLIC},
        {"2001::1", SL_EGRESS_RESERVED},       {"2001:db8::1", SL_EGRESS_RESERVED},
        {"2001:1ff:ffff::1", SL_EGRESS_RESERVED}, {"2001:200::1", SL_EGRESS_PUBLIC},
        {"100::1", SL_EGRESS_RESERVED},        {"fbff:ffff::1", SL_EGRESS_RESERVED},
        {"fc00::", SL_EGRESS_UNIQUE_LOCAL},    {"fdff:ffff:ffff:ffff::1", SL_EGRESS_UNIQUE_LOCAL},
        {"fe80::1", SL_EGRESS_LINK_LOCAL},     {"febf:ffff::1", SL_EGRESS_LINK_LOCAL},
        {"fec0::1", SL_EGRESS_PRIVATE},        {"ff02::1", SL_EGRESS_MULTICAST},
        {"ff0e::1", SL_EGRESS_MULTICAST},      {"1fff:ffff::1", SL_EGRESS_RESERVED},
        {"2000::", SL_EGRESS_PUBLIC},          {"2606:4700::1111", SL_EGRESS_PUBLIC},
        {"3fff:ffff::1", SL_EGRESS_PUBLIC},    {"4000::1", SL_EGRESS_RESERVED},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v6); i++) {
        if (cls_of(v6[i].addr) != v6[i].cls) {
            SL_TEST_FAIL_("%s: class %d, want %d", v6[i].addr, (int)cls_of(v6[i].addr),
                          (int)v6[i].cls);
        }
    }
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    ASSERT_EQ(sl_egress_classify(&unix_sa), SL_EGRESS_RESERVED);
}

TEST(test_default_policy_refuses_internal_and_names_the_setting)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES];
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 80, msg), -EACCES);
    ASSERT_STREQ(msg, "refused: 127.0.0.1 is a loopback address; allow it with "
                      "egress.allow.cidrs=127.0.0.1/32");
    ASSERT_EQ(check(eg, "metadata.internal", "169.254.169.254", 80, msg), -EACCES);
    ASSERT_STREQ(msg, "refused: metadata.internal (169.254.169.254) is a link-local address; "
                      "allow it with egress.allow.hosts=metadata.internal or "
                      "egress.allow.cidrs=169.254.169.254/32");
    ASSERT_EQ(check(eg, "10.1.2.3", "10.1.2.3", 80, msg), -EACCES);
    ASSERT_STREQ(msg, "refused: 10.1.2.3 is a private address; allow it with "
                      "egress.allow.cidrs=10.1.2.3/32 or egress.allow.private=true");
    ASSERT_EQ(check(eg, NULL, "::1", 80, msg), -EACCES);
    ASSERT_STREQ(msg, "refused: ::1 is a loopback address; allow it with "
                      "egress.allow.cidrs=::1/128");
    ASSERT_EQ(check(eg, NULL, "0.0.0.0", 80, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "::ffff:127.0.0.1", 80, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "8.8.8.8", 80, msg), 0);
    ASSERT_EQ(check(eg, NULL, "2606:4700::1111", 443, msg), 0);
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    ASSERT_EQ(sl_egress_check(eg, NULL, &unix_sa, msg, sizeof(msg)), -EACCES);
    sl_egress_free(eg);
}

TEST(test_allowed_cidr_with_port_lets_only_that_port_through)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES], err[256];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", "127.0.0.1:8080, [::1]:9090", err,
                            sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 8080, msg), 0);
    ASSERT_EQ(check(eg, NULL, "::ffff:127.0.0.1", 8080, msg), 0); /* the same IPv4 address */
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 8081, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "127.0.0.2", 8080, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "::1", 9090, msg), 0);
    ASSERT_EQ(check(eg, NULL, "::1", 8080, msg), -EACCES);
    /* A later value replaces the list. */
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", "10.0.0.0/8", err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 8080, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "10.255.0.1", 1, msg), 0);
    ASSERT_EQ(check(eg, NULL, "11.0.0.1", 1, msg), 0); /* public anyway */
    ASSERT_EQ(check(eg, NULL, "172.16.0.1", 1, msg), -EACCES);
    sl_egress_free(eg);
}

TEST(test_cidr_prefixes_match_exactly_their_range)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES], err[256];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", "192.168.10.5/23,fd00:1::/32,127.0.0.0/31",
                            err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "192.168.10.0", 1, msg), 0); /* host bits masked: .10.0/23 */
    ASSERT_EQ(check(eg, NULL, "192.168.11.255", 1, msg), 0);
    ASSERT_EQ(check(eg, NULL, "192.168.9.255", 1, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "192.168.12.0", 1, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "fd00:1:ffff::1", 1, msg), 0);
    ASSERT_EQ(check(eg, NULL, "fd00:2::1", 1, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 1, msg), 0);
    ASSERT_EQ(check(eg, NULL, "127.0.0.2", 1, msg), -EACCES);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", "0.0.0.0/0", err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "169.254.169.254", 80, msg), 0);
    ASSERT_EQ(check(eg, NULL, "::1", 80, msg), -EACCES); /* IPv4 only */
    sl_egress_free(eg);
}

TEST(test_allow_private_covers_rfc1918_cgnat_and_ula_only)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES], err[256];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.private", "true", err, sizeof(err)), 0);
    const char *ok[] = {"10.0.0.1", "172.20.0.1", "192.168.1.1", "100.64.0.1", "fd12::1",
                        "::ffff:10.0.0.1", "fec0::1"};
    const char *no[] = {"127.0.0.1", "169.254.169.254", "fe80::1", "::1", "0.0.0.0",
                        "224.0.0.1", "240.0.0.1"};
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++) {
        if (check(eg, NULL, ok[i], 80, msg) != 0) {
            SL_TEST_FAIL_("%s refused with allow.private: %s", ok[i], msg);
        }
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(no); i++) {
        if (check(eg, NULL, no[i], 80, msg) != -EACCES) {
            SL_TEST_FAIL_("%s allowed by allow.private", no[i]);
        }
    }
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.private", "maybe", err, sizeof(err)), SL_EINVAL);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.private", "false", err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "10.0.0.1", 80, msg), -EACCES);
    sl_egress_free(eg);
}

TEST(test_allowed_hosts_match_by_name_wildcard_and_port)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES], err[256];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.hosts", "Shop.Internal, *.corp.example:8443",
                            err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, "shop.internal", "10.0.0.5", 80, msg), 0);
    ASSERT_EQ(check(eg, "SHOP.internal.", "127.0.0.1", 1234, msg), 0);
    ASSERT_EQ(check(eg, "a.shop.internal", "10.0.0.5", 80, msg), -EACCES);
    ASSERT_EQ(check(eg, "x.corp.example", "10.0.0.6", 8443, msg), 0);
    ASSERT_EQ(check(eg, "a.b.corp.example", "10.0.0.6", 8443, msg), 0);
    ASSERT_EQ(check(eg, "x.corp.example", "10.0.0.6", 443, msg), -EACCES);
    ASSERT_EQ(check(eg, "corp.example", "10.0.0.6", 8443, msg), -EACCES);
    ASSERT_EQ(check(eg, "evilcorp.example", "10.0.0.6", 8443, msg), -EACCES);
    ASSERT_EQ(check(eg, NULL, "10.0.0.5", 80, msg), -EACCES); /* no name, no host allowance */
    sl_egress_free(eg);
}

TEST(test_malformed_settings_are_refused_and_leave_the_policy_unchanged)
{
    static const char *bad_cidrs[] = {
        "10.0.0.0/33", "10.0.0/8", "::1/129", "abc", "10.0.0.1:0", "10.0.0.1:65536",
        "[::1", "[::1]x", "1.2.3.4/", "/8", "1.2.3.4/-1", "1.2.3.4/8/8", "256.0.0.1",
        "1.2.3.4:", "[]:80", "[1.2.3.4]", "::1:80:", "10.0.0.1/8x", "1.2.3.4/123456",
        "fe80::1%eth0",
    };
    static const char *bad_hosts[] = {"a b", "*", "*.", "x*.y", "host:0", "host:99999",
                                      "ho/st", "h@st", ":80", "."};
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES], err[256];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", "127.0.0.1/32", err, sizeof(err)), 0);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.hosts", "ok.example", err, sizeof(err)), 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(bad_cidrs); i++) {
        char val[64];
        snprintf(val, sizeof(val), "10.0.0.0/8,%s", bad_cidrs[i]);
        err[0] = 0;
        if (sl_egress_set(eg, "egress.allow.cidrs", val, err, sizeof(err)) != SL_EINVAL ||
            !strstr(err, "egress.allow.cidrs: '")) {
            SL_TEST_FAIL_("cidr '%s' accepted (%s)", bad_cidrs[i], err);
        }
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(bad_hosts); i++) {
        if (sl_egress_set(eg, "egress.allow.hosts", bad_hosts[i], err, sizeof(err)) !=
            SL_EINVAL) {
            SL_TEST_FAIL_("host '%s' accepted", bad_hosts[i]);
        }
    }
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 80, msg), 0);
    ASSERT_EQ(check(eg, NULL, "10.0.0.1", 80, msg), -EACCES);
    ASSERT_EQ(check(eg, "ok.example", "10.0.0.1", 80, msg), 0);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.everything", "1", err, sizeof(err)), SL_EINVAL);
    ASSERT_TRUE(!sl_egress_is_key("egress.allow.everything"));
    ASSERT_TRUE(sl_egress_is_key("egress.allow.cidrs"));
    /* Empty entries and an empty list are fine: the list is then empty. */
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", " , ,", err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "127.0.0.1", 80, msg), -EACCES);
    sl_egress_free(eg);
}

TEST(test_entry_limit_at_n_and_n_plus_one)
{
    sl_egress_t *eg = sl_egress_new();
    char err[256], msg[SL_EGRESS_MSG_BYTES];
    char *val = sl_xmalloc(SL_EGRESS_ENTRIES_MAX * 20 + 32);
    size_t len = 0;
    for (int i = 0; i < SL_EGRESS_ENTRIES_MAX; i++) {
        len += (size_t)sprintf(val + len, "10.0.%d.%d,", i / 256, i % 256);
    }
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", val, err, sizeof(err)), 0);
    ASSERT_EQ(check(eg, NULL, "10.0.0.255", 80, msg), 0);
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.hosts", "one.example", err, sizeof(err)),
              SL_ELIMIT); /* both lists together are bounded */
    sprintf(val + len, "10.1.0.0");
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", val, err, sizeof(err)), SL_ELIMIT);
    ASSERT_EQ(check(eg, NULL, "10.0.0.255", 80, msg), 0); /* unchanged */
    char *huge = sl_xmalloc(SL_EGRESS_VALUE_BYTES_MAX + 2);
    memset(huge, ' ', SL_EGRESS_VALUE_BYTES_MAX + 1);
    huge[SL_EGRESS_VALUE_BYTES_MAX + 1] = 0;
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.hosts", huge, err, sizeof(err)), SL_EINVAL);
    huge[SL_EGRESS_VALUE_BYTES_MAX] = 0;
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.cidrs", huge, err, sizeof(err)), 0);
    free(huge);
    free(val);
    sl_egress_free(eg);
}

/* A resolver the test controls: "rebind.test" answers loopback, "mixed.test" a refused and an
 * allowed address, "gone.test" nothing; each call counted. */
static int resolves;

static int fake_resolver(void *arg, const char *host, uint16_t port,
                         struct sockaddr_storage *addrs, size_t cap, size_t *n)
{
    (void)arg;
    resolves++;
    *n = 0;
    if (strcmp(host, "rebind.test") == 0) {
        addrs[(*n)++] = sa_of("127.0.0.1", port);
    } else if (strcmp(host, "mixed.test") == 0 && cap >= 2) {
        addrs[(*n)++] = sa_of("::ffff:169.254.169.254", port);
        addrs[(*n)++] = sa_of("93.184.216.34", port);
    } else if (strcmp(host, "v6.test") == 0) {
        addrs[(*n)++] = sa_of("fd00::1", port);
    } else {
        return -EHOSTUNREACH;
    }
    return 0;
}

TEST(test_resolve_once_returns_only_a_checked_address)
{
    sl_egress_t *eg = sl_egress_new();
    sl_egress_set_resolver(eg, fake_resolver, NULL);
    char msg[SL_EGRESS_MSG_BYTES];
    struct sockaddr_storage out;
    resolves = 0;
    ASSERT_EQ(sl_egress_resolve(eg, "rebind.test", 8080, &out, msg, sizeof(msg)), -EACCES);
    ASSERT_STREQ(msg, "refused: rebind.test (127.0.0.1) is a loopback address; allow it with "
                      "egress.allow.hosts=rebind.test or egress.allow.cidrs=127.0.0.1/32");
    ASSERT_EQ(resolves, 1);
    ASSERT_EQ(sl_egress_resolve(eg, "mixed.test", 443, &out, msg, sizeof(msg)), 0);
    char text[64];
    sl_egress_addr_text((struct sockaddr *)&out, text, sizeof(text));
    ASSERT_STREQ(text, "93.184.216.34");
    ASSERT_EQ(ntohs(((struct sockaddr_in *)&out)->sin_port), 443);
    ASSERT_EQ(sl_egress_resolve(eg, "gone.test", 80, &out, msg, sizeof(msg)), -EHOSTUNREACH);
    ASSERT_STREQ(msg, "could not resolve host gone.test");
    ASSERT_EQ(sl_egress_check_url(eg, "http://user:pw@rebind.test:8080/x", NULL, msg,
                                  sizeof(msg)), -EACCES);
    ASSERT_EQ(sl_egress_check_url(eg, "https://v6.test/", NULL, msg, sizeof(msg)), -EACCES);
    ASSERT_TRUE(strstr(msg, "unique-local") != NULL);
    char err[128];
    ASSERT_EQ(sl_egress_set(eg, "egress.allow.hosts", "rebind.test:8080", err, sizeof(err)), 0);
    ASSERT_EQ(sl_egress_check_url(eg, "http://rebind.test:8080/", NULL, msg, sizeof(msg)), 0);
    ASSERT_EQ(sl_egress_check_url(eg, "http://rebind.test:8081/", NULL, msg, sizeof(msg)),
              -EACCES);
    sl_egress_free(eg);
}

TEST(test_localhost_and_numeric_forms_resolve_to_refused_addresses)
{
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES];
    ASSERT_EQ(sl_egress_check_url(eg, "http://localhost:1/", NULL, msg, sizeof(msg)), -EACCES);
    ASSERT_TRUE(strstr(msg, "refused: localhost (") == msg);
    ASSERT_EQ(sl_egress_check_url(eg, "http://2130706433/", NULL, msg, sizeof(msg)), -EACCES);
    ASSERT_EQ(sl_egress_check_url(eg, "http://0x7f.1/", NULL, msg, sizeof(msg)), -EACCES);
    ASSERT_EQ(sl_egress_check_url(eg, "http://[::ffff:7f00:1]/", NULL, msg, sizeof(msg)),
              -EACCES);
    ASSERT_EQ(sl_egress_check_url(eg, "http://0/", NULL, msg, sizeof(msg)), -EACCES);
    sl_egress_free(eg);
}

TEST(test_url_parse_takes_http_and_https_only)
{
    sl_egress_url_t u;
    ASSERT_EQ(sl_egress_url_parse("HTTP://User@Example.COM:8080/a?b#c", &u), 0);
    ASSERT_STREQ(u.host, "example.com");
    ASSERT_EQ(u.port, 8080);
    ASSERT_EQ(u.https, 0);
    ASSERT_EQ(sl_egress_url_parse("https://[::1]/", &u), 0);
    ASSERT_STREQ(u.host, "::1");
    ASSERT_EQ(u.port, 443);
    ASSERT_EQ(sl_egress_url_parse("https://[::1]:8443", &u), 0);
    ASSERT_EQ(u.port, 8443);
    ASSERT_EQ(sl_egress_url_parse("http://a.b?x", &u), 0);
    ASSERT_STREQ(u.host, "a.b");
    const char *bad[] = {"ftp://a/", "file:///etc/passwd", "data:text/html,x", "javascript:1",
                         "http://", "http:///x", "http://a:0/", "http://a:70000/", "http://[::1/",
                         "http://[::1]x/", "ws://a/", "blob:http://a/x", "http://a:/", ""};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        if (sl_egress_url_parse(bad[i], &u) != SL_EINVAL) {
            SL_TEST_FAIL_("'%s' accepted", bad[i]);
        }
    }
    ASSERT_EQ(sl_egress_url_parse(NULL, &u), SL_EINVAL);
    sl_egress_t *eg = sl_egress_new();
    char msg[SL_EGRESS_MSG_BYTES];
    ASSERT_EQ(sl_egress_check_url(eg, "file:///etc/passwd", NULL, msg, sizeof(msg)), SL_EINVAL);
    ASSERT_STREQ(msg, "refused: only http:// and https:// URLs with a host are allowed");
    sl_egress_free(eg);
}

int main(void)
{
    RUN(test_every_ipv4_range_is_classified_at_its_edges);
    RUN(test_ipv4_mapped_forms_are_classified_as_the_ipv4_address);
    RUN(test_every_ipv6_range_and_embedded_form_is_classified);
    RUN(test_default_policy_refuses_internal_and_names_the_setting);
    RUN(test_allowed_cidr_with_port_lets_only_that_port_through);
    RUN(test_cidr_prefixes_match_exactly_their_range);
    RUN(test_allow_private_covers_rfc1918_cgnat_and_ula_only);
    RUN(test_allowed_hosts_match_by_name_wildcard_and_port);
    RUN(test_malformed_settings_are_refused_and_leave_the_policy_unchanged);
    RUN(test_entry_limit_at_n_and_n_plus_one);
    RUN(test_resolve_once_returns_only_a_checked_address);
    RUN(test_localhost_and_numeric_forms_resolve_to_refused_addresses);
    RUN(test_url_parse_takes_http_and_https_only);
    TEST_MAIN_END();
}
