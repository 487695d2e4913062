/* The egress proxy of the inspect worker (see insp_proxy.h): HTTP/1.1 CONNECT tunnels and
 * absolute-form http:// requests (RFC 9110 section 9.3.6, RFC 9112 section 3.2.2), each
 * upstream connection opened to the one address the outbound policy checked. */
#include "insp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_common.h"
#include "sl_time.h"

SL_STATIC_ASSERT(INSP_PROXY_CONNS_MAX >= 8, "a page opens several connections at once");

#define INSP__SPLICE_BYTES 65536

struct insp_proxy {
    const sl_egress_t *eg;
    int lfd;
    int stop[2]; /* readable once stopping: wakes every poll */
    pthread_t accept_thr;
    char addr[32];
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int nconns;
    size_t refused;
    char first[SL_EGRESS_MSG_BYTES];
};

typedef struct {
    insp_proxy_t *px;
    int cfd, ufd;
    char *head; /* bytes read from the client: the head and what followed it */
    size_t len, head_len;
} insp__conn_t;

static int insp__write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads from fd into buf until it holds a whole head ("\r\n\r\n"); *head_len is its length.
 * What follows the head (a body: binary, NULs included) stays in buf after it. */
static int insp__read_head(insp_proxy_t *px, int fd, char *buf, size_t *len, size_t *head_len)
{
    int64_t deadline = sl_time_mono_ms() + INSP_PROXY_IDLE_MS;
    for (;;) {
        buf[*len] = 0;
        char *end = memmem(buf, *len, "\r\n\r\n", 4);
        if (end && memchr(buf, 0, (size_t)(end - buf))) {
            return SL_ECORRUPT; /* a NUL inside the head */
        }
        if (end) {
            *head_len = (size_t)(end - buf) + 4;
            return 0;
        }
        if (*len == INSP_PROXY_HEAD_BYTES_MAX) {
            return SL_ELIMIT;
        }
        int64_t left = deadline - sl_time_mono_ms();
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = px->stop[0], .events = POLLIN}};
        if (left <= 0 || poll(pfd, 2, (int)left) <= 0 || pfd[1].revents) {
            return -ETIMEDOUT;
        }
        ssize_t n = recv(fd, buf + *len, INSP_PROXY_HEAD_BYTES_MAX - *len, 0);
        if (n <= 0) {
            return n == 0 ? SL_ECLOSED : -errno;
        }
        *len += (size_t)n;
    }
}

static void insp__answer(int fd, int status, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n", status, reason,
                     strlen(body));
    insp__write_all(fd, head, (size_t)n);
    insp__write_all(fd, body, strlen(body));
}

static void insp__record_refusal(insp_proxy_t *px, const char *msg)
{
    pthread_mutex_lock(&px->mu);
    if (px->refused++ == 0) {
        snprintf(px->first, sizeof(px->first), "%s", msg);
    }
    pthread_mutex_unlock(&px->mu);
}

/* A non-blocking connect bounded by INSP_PROXY_CONNECT_MS. */
static int insp__connect(const struct sockaddr_storage *ss)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    socklen_t sl = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
    int rc = connect(fd, (const struct sockaddr *)ss, sl) == 0 ? 0 : -errno;
    if (rc == -EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof(err);
        rc = poll(&pfd, 1, INSP_PROXY_CONNECT_MS) == 1 &&
                     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0
                 ? -err
                 : -ETIMEDOUT;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* Resolves and checks host:port, then connects to the checked address (c->ufd). Answers the
 * client itself on failure. */
static int insp__open_upstream(insp__conn_t *c, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    char msg[SL_EGRESS_MSG_BYTES];
    int rc = sl_egress_resolve(c->px->eg, host, port, &ss, msg, sizeof(msg));
    if (rc == -EACCES) {
        insp__record_refusal(c->px, msg);
        insp__answer(c->cfd, 403, "Forbidden", msg);
        return rc;
    }
    if (rc != 0) {
        insp__answer(c->cfd, 502, "Bad Gateway", msg);
        return rc;
    }
    c->ufd = insp__connect(&ss);
    if (c->ufd < 0) {
        insp__answer(c->cfd, 502, "Bad Gateway", sl_strerror(c->ufd));
        return c->ufd;
    }
    return 0;
}

/* Copies bytes both ways until the upstream closes, the client closes both ways, or nothing
 * moves for INSP_PROXY_IDLE_MS. */
static void insp__splice(insp__conn_t *c)
{
    char *buf = sl_xmalloc(INSP__SPLICE_BYTES);
    bool client_open = true;
    for (;;) {
        struct pollfd pfd[3] = {{.fd = c->ufd, .events = POLLIN},
                                {.fd = client_open ? c->cfd : -1, .events = POLLIN},
                                {.fd = c->px->stop[0], .events = POLLIN}};
        if (poll(pfd, 3, INSP_PROXY_IDLE_MS) <= 0 || pfd[2].revents) {
            break;
        }
        if (pfd[0].revents) {
            ssize_t n = recv(c->ufd, buf, INSP__SPLICE_BYTES, 0);
            if (n <= 0 || insp__write_all(c->cfd, buf, (size_t)n) != 0) {
                break;
            }
        }
        if (client_open && pfd[1].revents) {
            ssize_t n = recv(c->cfd, buf, INSP__SPLICE_BYTES, 0);
            if (n <= 0) {
                client_open = false;
                shutdown(c->ufd, SHUT_WR);
            } else if (insp__write_all(c->ufd, buf, (size_t)n) != 0) {
                break;
            }
        }
    }
    free(buf);
}

/* "host:port" or "[v6]:port" of a CONNECT. */
static int insp__authority(const char *t, char *host, size_t cap, uint16_t *port)
{
    char url[SL_EGRESS_HOST_BYTES_MAX + 32];
    sl_egress_url_t u;
    if (strlen(t) > SL_EGRESS_HOST_BYTES_MAX + 16 || !strrchr(t, ':')) {
        return SL_EINVAL;
    }
    snprintf(url, sizeof(url), "https://%.*s/", (int)(sizeof(url) - 10), t); /* fits: above */
    if (sl_egress_url_parse(url, &u) != 0) {
        return SL_EINVAL;
    }
    snprintf(host, cap, "%s", u.host);
    *port = u.port;
    return 0;
}

static bool insp__hop_header(const char *line, size_t len)
{
    static const char *const hop[] = {"connection:", "proxy-connection:", "keep-alive:",
                                      "proxy-authorization:"};
    for (size_t i = 0; i < SL_ARRAY_LEN(hop); i++) {
        size_t n = strlen(hop[i]);
        if (len >= n && strncasecmp(line, hop[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* Copies the head's header lines after the first line, without hop-by-hop ones, then adds
 * "connection: close": one request per connection, so a reused browser connection can never
 * carry a request for another host to this one. */
static size_t insp__rewrite_headers(const char *head, size_t head_len, char *out, size_t at)
{
    const char *p = strstr(head, "\r\n") + 2, *end = head + head_len - 2;
    while (p < end) {
        const char *eol = strstr(p, "\r\n");
        size_t n = (size_t)(eol - p) + 2;
        if (!insp__hop_header(p, n)) {
            memcpy(out + at, p, n);
            at += n;
        }
        p = eol + 2;
    }
    memcpy(out + at, "connection: close\r\n\r\n", 21);
    return at + 21;
}

/* An absolute-form http:// request: forwarded with its body, the response head rewritten. */
static void insp__forward(insp__conn_t *c, const char *method, const char *target,
                          const char *version)
{
    sl_egress_url_t u;
    if (sl_egress_url_parse(target, &u) != 0 || u.https) {
        insp__answer(c->cfd, 400, "Bad Request", "refused: only http:// requests and CONNECT");
        return;
    }
    if (insp__open_upstream(c, u.host, u.port) != 0) {
        return;
    }
    const char *path = target + strcspn(target + 8, "/?") + 8; /* after "http://" + host */
    char *out = sl_xmalloc(2 * INSP_PROXY_HEAD_BYTES_MAX + 64);
    size_t at = (size_t)sprintf(out, "%s %s%s %s\r\n", method, *path == '?' ? "/" : "",
                                *path ? path : "/", version);
    at = insp__rewrite_headers(c->head, c->head_len, out, at);
    int rc = insp__write_all(c->ufd, out, at);
    rc = rc ?: insp__write_all(c->ufd, c->head + c->head_len, c->len - c->head_len);
    size_t len = 0, head_len = 0;
    rc = rc ?: insp__read_head(c->px, c->ufd, c->head, &len, &head_len);
    if (rc == 0) {
        const char *eol = strstr(c->head, "\r\n");
        at = (size_t)(eol - c->head) + 2;
        memcpy(out, c->head, at);
        at = insp__rewrite_headers(c->head, head_len, out, at);
        rc = insp__write_all(c->cfd, out, at);
        rc = rc ?: insp__write_all(c->cfd, c->head + head_len, len - head_len);
    }
    free(out);
    if (rc == 0) {
        insp__splice(c);
    }
}

static void insp__serve(insp__conn_t *c)
{
    int rc = insp__read_head(c->px, c->cfd, c->head, &c->len, &c->head_len);
    char method[16], target[SL_EGRESS_URL_BYTES_MAX + 1], version[16];
    if (rc != 0 || sscanf(c->head, "%15s %8192s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        if (rc != SL_ECLOSED && rc != -ETIMEDOUT) {
            insp__answer(c->cfd, 400, "Bad Request", "bad proxy request");
        }
        return;
    }
    if (strcmp(method, "CONNECT") != 0) {
        insp__forward(c, method, target, version);
        return;
    }
    char host[SL_EGRESS_HOST_BYTES_MAX + 1];
    uint16_t port = 0;
    if (insp__authority(target, host, sizeof(host), &port) != 0) {
        insp__answer(c->cfd, 400, "Bad Request", "bad CONNECT authority");
        return;
    }
    if (insp__open_upstream(c, host, port) != 0) {
        return;
    }
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    rc = insp__write_all(c->cfd, ok, sizeof(ok) - 1);
    rc = rc ?: insp__write_all(c->ufd, c->head + c->head_len, c->len - c->head_len);
    if (rc == 0) {
        insp__splice(c);
    }
}

static void *insp__conn_main(void *arg)
{
    insp__conn_t *c = arg;
    insp_proxy_t *px = c->px;
    c->head = sl_xmalloc(INSP_PROXY_HEAD_BYTES_MAX + 1);
    insp__serve(c);
    if (c->ufd >= 0) {
        close(c->ufd);
    }
    close(c->cfd);
    free(c->head);
    free(c);
    pthread_mutex_lock(&px->mu);
    px->nconns--;
    pthread_cond_broadcast(&px->idle);
    pthread_mutex_unlock(&px->mu);
    return NULL;
}

static void insp__spawn(insp_proxy_t *px, int cfd)
{
    pthread_mutex_lock(&px->mu);
    bool room = px->nconns < INSP_PROXY_CONNS_MAX;
    px->nconns += room;
    pthread_mutex_unlock(&px->mu);
    insp__conn_t *c = room ? sl_xcalloc(1, sizeof(*c)) : NULL;
    pthread_t thr;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (c) {
        *c = (insp__conn_t){.px = px, .cfd = cfd, .ufd = -1};
    }
    if (!c || pthread_create(&thr, &attr, insp__conn_main, c) != 0) {
        close(cfd);
        free(c);
        pthread_mutex_lock(&px->mu);
        px->nconns -= room;
        pthread_mutex_unlock(&px->mu);
    }
    pthread_attr_destroy(&attr);
}

static void *insp__accept_main(void *arg)
{
    insp_proxy_t *px = arg;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = px->lfd, .events = POLLIN},
                                {.fd = px->stop[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        if (pfd[1].revents) {
            break;
        }
        if (pfd[0].revents) {
            int cfd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0) {
                insp__spawn(px, cfd);
            }
        }
    }
    return NULL;
}

int insp_proxy_start(const sl_egress_t *eg, insp_proxy_t **out)
{
    insp_proxy_t *px = sl_xcalloc(1, sizeof(*px));
    px->eg = eg;
    px->stop[0] = px->stop[1] = -1;
    pthread_mutex_init(&px->mu, NULL);
    pthread_cond_init(&px->idle, NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = px->lfd < 0 || bind(px->lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
                     listen(px->lfd, 128) != 0 ||
                     getsockname(px->lfd, (struct sockaddr *)&sin, &sl) != 0 ||
                     pipe2(px->stop, O_CLOEXEC) != 0
                 ? -errno
                 : 0;
    rc = rc ?: -pthread_create(&px->accept_thr, NULL, insp__accept_main, px);
    if (rc != 0) {
        if (px->lfd >= 0) {
            close(px->lfd);
        }
        for (int i = 0; i < 2; i++) {
            if (px->stop[i] >= 0) {
                close(px->stop[i]);
            }
        }
        free(px);
        return rc;
    }
    snprintf(px->addr, sizeof(px->addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    *out = px;
    return 0;
}

const char *insp_proxy_addr(const insp_proxy_t *px)
{
    return px->addr;
}

size_t insp_proxy_take_refused(insp_proxy_t *px, char *msg, size_t msglen)
{
    pthread_mutex_lock(&px->mu);
    size_t n = px->refused;
    if (msg && msglen) {
        snprintf(msg, msglen, "%s", n ? px->first : "");
    }
    px->refused = 0;
    px->first[0] = 0;
    pthread_mutex_unlock(&px->mu);
    return n;
}

void insp_proxy_stop(insp_proxy_t *px)
{
    if (!px) {
        return;
    }
    while (write(px->stop[1], "x", 1) < 0 && errno == EINTR) {
    }
    pthread_join(px->accept_thr, NULL);
    pthread_mutex_lock(&px->mu);
    while (px->nconns > 0) { /* each wakes on the stop pipe within one poll */
        pthread_cond_wait(&px->idle, &px->mu);
    }
    pthread_mutex_unlock(&px->mu);
    close(px->lfd);
    close(px->stop[0]);
    close(px->stop[1]);
    pthread_mutex_destroy(&px->mu);
    pthread_cond_destroy(&px->idle);
    free(px);
}
