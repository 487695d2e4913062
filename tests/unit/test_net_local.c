/* Unit tests of same-host detection and congestion control (src/net/local.c): which peers
 * count as same-host, names the kernel refuses, and the algorithm actually set on an accepted
 * loopback socket (and left alone for a peer that is not on this host). */
#include "sl_test.h"
#include "snet_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An address of family AF_INET or AF_INET6 from its text form (port 0). */
static struct sockaddr_storage addr(int family, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = (sa_family_t)family;
    void *dst = family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                  : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    SL_ASSERT(inet_pton(family, ip, dst) == 1);
    return ss;
}

static struct sockaddr_storage v4(const char *ip)
{
    return addr(AF_INET, ip);
}

static struct sockaddr_storage v6(const char *ip)
{
    return addr(AF_INET6, ip);
}

static bool same(struct sockaddr_storage peer, const struct sockaddr_storage *local)
{
    return snet__addr_same_host(&peer, local);
}

TEST(test_loopback_and_own_addresses_are_same_host_others_are_not)
{
    struct sockaddr_storage l4 = v4("10.0.0.1"), l6 = v6("2001:db8::1");
    ASSERT_TRUE(same(v4("127.0.0.1"), &l4));
    ASSERT_TRUE(same(v4("127.200.3.4"), &l4));
    ASSERT_TRUE(same(v4("10.0.0.1"), &l4));
    ASSERT_TRUE(!same(v4("10.0.0.2"), &l4));
    ASSERT_TRUE(!same(v4("128.0.0.1"), &l4));
    ASSERT_TRUE(!same(v4("10.0.0.1"), &l6)); /* families differ */
    ASSERT_TRUE(same(v6("::1"), &l6));
    ASSERT_TRUE(same(v6("::ffff:127.0.0.1"), &l6));
    ASSERT_TRUE(!same(v6("::ffff:10.0.0.2"), &l6));
    ASSERT_TRUE(same(v6("2001:db8::1"), &l6));
    ASSERT_TRUE(!same(v6("2001:db8::2"), &l6));
    struct sockaddr_storage p;
    memset(&p, 0, sizeof p);
    p.ss_family = AF_UNIX;
    ASSERT_TRUE(!snet__addr_same_host(&p, &l4));
}

TEST(test_names_the_kernel_refuses_are_reported)
{
    ASSERT_EQ(snet__cc_check("reno"), 0); /* always available, allowed without privileges */
    ASSERT_EQ(snet__cc_check("no-such-cc"), -ENOENT);
    ASSERT_EQ(snet__cc_check("a-name-of-16-byt"), -EINVAL);
}

static void cc_of(int fd, char *name, size_t len)
{
    socklen_t n = (socklen_t)len;
    memset(name, 0, len);
    SL_ASSERT(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &n) == 0);
}

/* An algorithm other than fd's current one that this process may set, or NULL. */
static const char *other_cc(int fd)
{
    static const char *const names[] = {"reno", "cubic", "bbr"};
    char cur[SNET_CC_NAME_MAX];
    cc_of(fd, cur, sizeof cur);
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        if (strcmp(cur, names[i]) != 0 && snet__cc_check(names[i]) == 0) {
            return names[i];
        }
    }
    return NULL;
}

TEST(test_an_accepted_loopback_socket_gets_the_algorithm_and_a_remote_peer_does_not)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage a = v4("127.0.0.1");
    socklen_t alen = sizeof(struct sockaddr_in);
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&a, alen), 0);
    ASSERT_EQ(listen(lfd, 4), 0);
    ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(cfd, (struct sockaddr *)&a, alen), 0);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int sfd = accept(lfd, (struct sockaddr *)&peer, &plen);
    ASSERT_TRUE(sfd >= 0);
    char before[SNET_CC_NAME_MAX], after[SNET_CC_NAME_MAX];
    cc_of(sfd, before, sizeof before);
    const char *want = other_cc(sfd);
    if (!want) {
        printf("  (skipped: no second congestion control is allowed here)\n");
    } else {
        struct sockaddr_storage remote = v4("192.0.2.7");
        ASSERT_EQ(snet__cc_apply_local(sfd, &remote, want), 0);
        cc_of(sfd, after, sizeof after);
        ASSERT_STREQ(after, before);
        ASSERT_EQ(snet__cc_apply_local(sfd, &peer, want), 0);
        cc_of(sfd, after, sizeof after);
        ASSERT_STREQ(after, want);
    }
    close(sfd);
    close(cfd);
    close(lfd);
}

int main(void)
{
    RUN(test_loopback_and_own_addresses_are_same_host_others_are_not);
    RUN(test_names_the_kernel_refuses_are_reported);
    RUN(test_an_accepted_loopback_socket_gets_the_algorithm_and_a_remote_peer_does_not);
    TEST_MAIN_END();
}
