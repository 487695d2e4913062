/* Unit tests of the inspect worker's egress proxy (insp_proxy.h): allowed requests and
 * tunnels reach their server, refused ones answer 403 with the policy's sentence without any
 * connection to the refused address, and a name is connected to at the address checked. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "insp_proxy.h"
#include "sl_common.h"
#include "sl_test.h"

/* A one-thread HTTP server on 127.0.0.1: answers each connection's request with "hello <n>",
 * counting connections; stops when told. */
typedef struct {
    int lfd, port;
    atomic_int conns;
    atomic_bool stop;
    pthread_t thr;
    char last[2048];
} srv_t;

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pfd, 1, 50) != 1) {
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        int n = atomic_fetch_add(&s->conns, 1) + 1;
        ssize_t got = recv(fd, s->last, sizeof(s->last) - 1, 0);
        s->last[got > 0 ? got : 0] = 0;
        char resp[256];
        int len = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
                           "Connection: keep-alive\r\n\r\nhello %d", n % 10);
        if (strstr(s->last, "GET /binary ")) { /* a body with NULs, in the same segment */
            len = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n");
            memcpy(resp + len, "\x89PN\0\0G", 6);
            len += 6;
        }
        send(fd, resp, (size_t)len, MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static srv_t *srv_start(void)
{
    srv_t *s = sl_xcalloc(1, sizeof(*s));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    SL_ASSERT(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    SL_ASSERT(listen(s->lfd, 16) == 0);
    SL_ASSERT(getsockname(s->lfd, (struct sockaddr *)&sin, &sl) == 0);
    s->port = ntohs(sin.sin_port);
    SL_ASSERT(pthread_create(&s->thr, NULL, srv_main, s) == 0);
    return s;
}

static void srv_stop(srv_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    free(s);
}

/* Sends req to the proxy and reads until it closes (at most cap-1 bytes, 5 s); the length. */
static size_t through(insp_proxy_t *px, const char *req, char *out, size_t cap)
{
    int port = atoi(strchr(insp_proxy_addr(px), ':') + 1);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    SL_ASSERT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    SL_ASSERT(send(fd, req, strlen(req), 0) == (ssize_t)strlen(req));
    size_t len = 0;
    for (int i = 0; i < 100 && len < cap - 1; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) != 1) {
            continue;
        }
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    out[len] = 0;
    close(fd);
    return len;
}

static sl_egress_t *allow_port(int port)
{
    sl_egress_t *eg = sl_egress_new();
    char spec[64], err[128];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    SL_ASSERT(sl_egress_set(eg, "egress.allow.cidrs", spec, err, sizeof(err)) == 0);
    return eg;
}

TEST(test_allowed_http_request_is_forwarded_with_connection_close)
{
    srv_t *s = srv_start();
    sl_egress_t *eg = allow_port(s->port);
    insp_proxy_t *px = NULL;
    ASSERT_EQ(insp_proxy_start(eg, &px), 0);
    char req[512], out[4096];
    snprintf(req, sizeof(req), "GET http://127.0.0.1:%d/page?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Proxy-Connection: keep-alive\r\nX-Test: 1\r\n\r\n", s->port);
    through(px, req, out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_TRUE(strstr(out, "connection: close\r\n") != NULL);
    ASSERT_TRUE(strstr(out, "keep-alive") == NULL); /* hop-by-hop headers are replaced */
    ASSERT_TRUE(strstr(out, "\r\n\r\nhello 1") != NULL);
    ASSERT_TRUE(strncmp(s->last, "GET /page?q=1 HTTP/1.1\r\n", 24) == 0);
    ASSERT_TRUE(strstr(s->last, "X-Test: 1\r\n") != NULL);
    ASSERT_TRUE(strstr(s->last, "Proxy-Connection") == NULL);
    ASSERT_EQ(insp_proxy_take_refused(px, NULL, 0), 0);
    /* A binary body arriving with the head (NUL bytes) is passed on whole. */
    snprintf(req, sizeof(req), "GET http://127.0.0.1:%d/binary HTTP/1.1\r\nHost: x\r\n\r\n",
             s->port);
    size_t got = through(px, req, out, sizeof(out));
    char *body = strstr(out, "\r\n\r\n");
    ASSERT_TRUE(body != NULL);
    ASSERT_EQ(got - (size_t)(body + 4 - out), 6);
    ASSERT_MEMEQ(body + 4, "\x89PN\0\0G", 6);
    insp_proxy_stop(px);
    sl_egress_free(eg);
    srv_stop(s);
}

TEST(test_refused_request_and_tunnel_answer_403_without_connecting)
{
    srv_t *allowed = srv_start(), *internal = srv_start();
    sl_egress_t *eg = allow_port(allowed->port);
    insp_proxy_t *px = NULL;
    ASSERT_EQ(insp_proxy_start(eg, &px), 0);
    char req[512], out[4096], msg[SL_EGRESS_MSG_BYTES];
    snprintf(req, sizeof(req), "GET http://127.0.0.1:%d/secret HTTP/1.1\r\nHost: x\r\n\r\n",
             internal->port);
    through(px, req, out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
    ASSERT_TRUE(strstr(out, "refused: 127.0.0.1 is a loopback address") != NULL);
    snprintf(req, sizeof(req), "CONNECT localhost:%d HTTP/1.1\r\nHost: x\r\n\r\n",
             internal->port);
    through(px, req, out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
    ASSERT_EQ(insp_proxy_take_refused(px, msg, sizeof(msg)), 2);
    ASSERT_STREQ(msg, "refused: 127.0.0.1 is a loopback address; allow it with "
                      "egress.allow.cidrs=127.0.0.1/32");
    ASSERT_EQ(insp_proxy_take_refused(px, msg, sizeof(msg)), 0);
    ASSERT_EQ(atomic_load(&internal->conns), 0);
    /* A tunnel to the allowed port carries the bytes both ways. */
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1"
             "\r\nHost: x\r\n\r\n", allowed->port);
    through(px, req, out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK", 54)
                == 0);
    ASSERT_TRUE(strstr(out, "hello 1") != NULL);
    /* Not a proxy request at all, and https in absolute form. */
    through(px, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 400", 12) == 0);
    through(px, "GET https://127.0.0.1/ HTTP/1.1\r\n\r\n", out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 400", 12) == 0);
    insp_proxy_stop(px);
    sl_egress_free(eg);
    srv_stop(allowed);
    srv_stop(internal);
}

/* A resolver the test controls: "rebind.test" answers loopback (as a rebinding name does on
 * its second answer), anything else is unknown. */
static int loopback_resolver(void *arg, const char *host, uint16_t port,
                             struct sockaddr_storage *addrs, size_t cap, size_t *n)
{
    (void)arg, (void)cap;
    struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[0];
    memset(&addrs[0], 0, sizeof(addrs[0]));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *n = strcmp(host, "rebind.test") == 0 ? 1 : 0;
    return *n ? 0 : -EHOSTUNREACH;
}

TEST(test_name_resolving_to_loopback_is_refused_by_the_proxy)
{
    srv_t *internal = srv_start();
    sl_egress_t *eg = sl_egress_new();
    sl_egress_set_resolver(eg, loopback_resolver, NULL);
    insp_proxy_t *px = NULL;
    ASSERT_EQ(insp_proxy_start(eg, &px), 0);
    char req[512], out[4096];
    snprintf(req, sizeof(req), "GET http://rebind.test:%d/ HTTP/1.1\r\nHost: x\r\n\r\n",
             internal->port);
    through(px, req, out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 403", 12) == 0);
    ASSERT_TRUE(strstr(out, "rebind.test (127.0.0.1)") != NULL);
    through(px, "GET http://gone.test/ HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 502", 12) == 0);
    ASSERT_EQ(atomic_load(&internal->conns), 0);
    ASSERT_EQ(insp_proxy_take_refused(px, NULL, 0), 1);
    insp_proxy_stop(px);
    sl_egress_free(eg);
    srv_stop(internal);
}

int main(void)
{
    RUN(test_allowed_http_request_is_forwarded_with_connection_close);
    RUN(test_refused_request_and_tunnel_answer_403_without_connecting);
    RUN(test_name_resolving_to_loopback_is_refused_by_the_proxy);
    TEST_MAIN_END();
}
