/* Same-host connections and their TCP congestion control. A kernel default that paces (BBR,
 * common on cloud images) sends to a peer on this host at its estimate of a path bandwidth
 * that does not exist; with sender and receiver sharing the CPUs the estimate stays low
 * (measured on 2 vCPUs: a librdkafka consumer on loopback reads 1.15M records/s of 1 KiB under
 * BBR, 1.8-2.0M under Reno or CUBIC; BENCHMARKS.md). Listeners may therefore give same-host
 * connections another algorithm (TCP_CONGESTION, tcp(7)); other connections keep the
 * system's default. */
#include "snet_internal.h"
#include "sl_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool snet__v4_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

bool snet__addr_same_host(const struct sockaddr_storage *peer,
                          const struct sockaddr_storage *local)
{
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *p = (const struct sockaddr_in *)peer;
        const struct sockaddr_in *l = (const struct sockaddr_in *)local;
        return snet__v4_loopback(&p->sin_addr) ||
               (local->ss_family == AF_INET && p->sin_addr.s_addr == l->sin_addr.s_addr);
    }
    if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)peer;
        const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)local;
        if (IN6_IS_ADDR_LOOPBACK(&p->sin6_addr)) {
            return true;
        }
        if (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr)) {
            struct in_addr v4;
            memcpy(&v4, &p->sin6_addr.s6_addr[12], sizeof v4);
            if (snet__v4_loopback(&v4)) {
                return true;
            }
        }
        return local->ss_family == AF_INET6 &&
               memcmp(&p->sin6_addr, &l->sin6_addr, sizeof p->sin6_addr) == 0;
    }
    return false;
}

int snet__cc_set(int fd, const char *name)
{
    SL_ASSERT(name && *name);
    size_t len = strlen(name);
    if (len >= SNET_CC_NAME_MAX) {
        return -EINVAL;
    }
    return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)len) == 0 ? 0 : -errno;
}

int snet__cc_check(const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int rc = snet__cc_set(fd, name);
    close(fd);
    return rc;
}

int snet__cc_apply_local(int fd, const struct sockaddr_storage *peer, const char *name)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) {
        return -errno;
    }
    return snet__addr_same_host(peer, &local) ? snet__cc_set(fd, name) : 0;
}
