/* Outbound request policy (see sl_egress.h and docs/outbound-policy.md). Every address is
 * compared in its 16-byte IPv6 form, IPv4 as ::ffff:a.b.c.d, so an IPv4 allowance covers the
 * mapped form too; embedded IPv4 forms (compatible, SIIT, NAT64, 6to4) are classified by the
 * IPv4 address they carry. Ranges: RFC 6890 (IPv4 and IPv6 special-purpose registries). */
#include "sl_egress.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_common.h"
#include "sl_props.h"

SL_STATIC_ASSERT(SL_EGRESS_ENTRIES_MAX >= 1 && SL_EGRESS_ENTRIES_MAX <= 65536, "entries bound");
SL_STATIC_ASSERT(SL_EGRESS_ADDRS_MAX >= 1 && SL_EGRESS_ADDRS_MAX <= 256, "addresses bound");
SL_STATIC_ASSERT(SL_EGRESS_MSG_BYTES >= SL_EGRESS_HOST_BYTES_MAX + 2 * 46 + 160,
                 "a refusal naming a long host and its address fits (the hint may be cut)");

typedef struct {
    uint8_t net[16]; /* masked */
    int bits;        /* 0..128 over the 16-byte form */
    uint16_t port;   /* 0: any */
} sl__egress_cidr_t;

typedef struct {
    char name[SL_EGRESS_HOST_BYTES_MAX + 1]; /* lower case; "*.x" matches below x */
    uint16_t port;                           /* 0: any */
} sl__egress_host_t;

struct sl_egress {
    sl__egress_cidr_t *cidr;
    size_t ncidr;
    sl__egress_host_t *host;
    size_t nhost;
    bool allow_private;
    sl_egress_resolver_fn resolve;
    void *resolve_arg;
};

/* ---- classification ---- */

static bool sl__in4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == net;
}

static sl_egress_class_t sl__class4(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
        sl_egress_class_t cls;
    } ranges[] = {
        {0x00000000, 8, SL_EGRESS_UNSPECIFIED}, {0x0a000000, 8, SL_EGRESS_PRIVATE},
        {0x64400000, 10, SL_EGRESS_CGNAT},      {0x7f000000, 8, SL_EGRESS_LOOPBACK},
        {0xa9fe0000, 16, SL_EGRESS_LINK_LOCAL}, {0xac100000, 12, SL_EGRESS_PRIVATE},
        {0xc0000000, 24, SL_EGRESS_RESERVED},   {0xc0000200, 24, SL_EGRESS_RESERVED},
        {0xc0586300, 24, SL_EGRESS_RESERVED},   {0xc0a80000, 16, SL_EGRESS_PRIVATE},
        {0xc6120000, 15, SL_EGRESS_RESERVED},   {0xc6336400, 24, SL_EGRESS_RESERVED},
        {0xcb007100, 24, SL_EGRESS_RESERVED},   {0xe0000000, 4, SL_EGRESS_MULTICAST},
        {0xf0000000, 4, SL_EGRESS_RESERVED},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(ranges); i++) {
        if (sl__in4(a, ranges[i].net, ranges[i].bits)) {
            return ranges[i].cls;
        }
    }
    return SL_EGRESS_PUBLIC;
}

static uint32_t sl__be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool sl__prefix(const uint8_t *a, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0) {
        return false;
    }
    return rest == 0 || ((a[full] ^ net[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* An embedded IPv4 address: its class when not public, else `otherwise`. */
static sl_egress_class_t sl__embedded(const uint8_t *v4, sl_egress_class_t otherwise)
{
    sl_egress_class_t cls = sl__class4(sl__be32(v4));
    return cls == SL_EGRESS_PUBLIC ? otherwise : cls;
}

static sl_egress_class_t sl__class6(const uint8_t *a)
{
    static const uint8_t zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8}, ietf[16] = {0x20, 0x01};
    static const uint8_t discard[16] = {0x01, 0x00}, sixto4[2] = {0x20, 0x02};
    if (memcmp(a, mapped, 12) == 0) {
        return sl__class4(sl__be32(a + 12));
    }
    if (memcmp(a, zero, 16) == 0) {
        return SL_EGRESS_UNSPECIFIED;
    }
    if (memcmp(a, zero, 15) == 0 && a[15] == 1) {
        return SL_EGRESS_LOOPBACK;
    }
    if (memcmp(a, zero, 12) == 0 || memcmp(a, siit, 12) == 0) {
        return sl__embedded(a + 12, SL_EGRESS_RESERVED); /* IPv4-compatible, SIIT */
    }
    if (memcmp(a, nat64, 12) == 0) {
        return sl__embedded(a + 12, SL_EGRESS_PUBLIC); /* the well-known NAT64 prefix */
    }
    if (memcmp(a, nat64_local, 6) == 0) {
        return SL_EGRESS_PRIVATE; /* RFC 8215 local-use translation */
    }
    if (memcmp(a, sixto4, 2) == 0) {
        return sl__embedded(a + 2, SL_EGRESS_PUBLIC);
    }
    if (sl__prefix(a, doc, 32) || sl__prefix(a, ietf, 23) || sl__prefix(a, discard, 64)) {
        return SL_EGRESS_RESERVED; /* documentation, Teredo and IETF assignments, discard */
    }
    if (a[0] == 0xff) {
        return SL_EGRESS_MULTICAST;
    }
    if ((a[0] & 0xfe) == 0xfc) {
        return SL_EGRESS_UNIQUE_LOCAL;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        return SL_EGRESS_LINK_LOCAL;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) {
        return SL_EGRESS_PRIVATE; /* site-local, deprecated but still routed inside sites */
    }
    return (a[0] & 0xe0) == 0x20 ? SL_EGRESS_PUBLIC : SL_EGRESS_RESERVED;
}

/* The 16-byte form of an AF_INET/AF_INET6 address and its port; false for other families. */
static bool sl__addr16(const struct sockaddr *sa, uint8_t out[16], uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &sin->sin_addr, 4);
        *port = ntohs(sin->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        memcpy(out, &sin6->sin6_addr, 16);
        *port = ntohs(sin6->sin6_port);
        return true;
    }
    return false;
}

sl_egress_class_t sl_egress_classify(const struct sockaddr *sa)
{
    uint8_t a[16];
    uint16_t port;
    return sl__addr16(sa, a, &port) ? sl__class6(a) : SL_EGRESS_RESERVED;
}

const char *sl_egress_class_text(sl_egress_class_t cls)
{
    static const char *const text[SL_EGRESS_CLASS_COUNT] = {
        [SL_EGRESS_PUBLIC] = "a public address",
        [SL_EGRESS_LOOPBACK] = "a loopback address",
        [SL_EGRESS_PRIVATE] = "a private address",
        [SL_EGRESS_CGNAT] = "a carrier-grade NAT (100.64/10) address",
        [SL_EGRESS_LINK_LOCAL] = "a link-local address",
        [SL_EGRESS_UNIQUE_LOCAL] = "a unique-local (fc00::/7) address",
        [SL_EGRESS_UNSPECIFIED] = "an unspecified (this-host) address",
        [SL_EGRESS_MULTICAST] = "a multicast address",
        [SL_EGRESS_RESERVED] = "a reserved address",
    };
    return (unsigned)cls < SL_EGRESS_CLASS_COUNT ? text[cls] : "an unknown address";
}

void sl_egress_addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    const void *src = sa->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        !inet_ntop(sa->sa_family, src, buf, (socklen_t)cap)) {
        snprintf(buf, cap, "(address family %d)", sa->sa_family);
    }
}

/* ---- settings ---- */

sl_egress_t *sl_egress_new(void)
{
    return sl_xcalloc(1, sizeof(sl_egress_t));
}

void sl_egress_free(sl_egress_t *eg)
{
    if (!eg) {
        return;
    }
    free(eg->cidr);
    free(eg->host);
    free(eg);
}

void sl_egress_set_resolver(sl_egress_t *eg, sl_egress_resolver_fn fn, void *arg)
{
    eg->resolve = fn;
    eg->resolve_arg = arg;
}

bool sl_egress_is_key(const char *key)
{
    return strcmp(key, "egress.allow.hosts") == 0 || strcmp(key, "egress.allow.cidrs") == 0 ||
           strcmp(key, "egress.allow.private") == 0;
}

/* ":port" at the end of [p, *end): strips it into *port (1..65535). */
static bool sl__port_suffix(const char *p, const char **end, uint16_t *port)
{
    const char *colon = memrchr(p, ':', (size_t)(*end - p));
    *port = 0;
    if (!colon) {
        return true;
    }
    int64_t v = 0;
    char num[8];
    size_t n = (size_t)(*end - colon - 1);
    if (n == 0 || n >= sizeof(num)) {
        return false;
    }
    memcpy(num, colon + 1, n);
    num[n] = 0;
    if (!sl_parse_i64(num, 1, 65535, &v)) {
        return false;
    }
    *port = (uint16_t)v;
    *end = colon;
    return true;
}

/* "a.b.c.d[/n][:port]", "[v6][/n][:port]" or "v6[/n]". */
static bool sl__cidr_parse(const char *p, const char *end, sl__egress_cidr_t *c)
{
    char addr[64];
    memset(c, 0, sizeof(*c));
    bool bracket = *p == '[';
    const char *colon = memchr(p, ':', (size_t)(end - p));
    bool v6 = bracket || (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)));
    if ((!v6 || bracket) && !sl__port_suffix(p, &end, &c->port)) {
        return false;
    }
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *aend = slash ? slash : end;
    if (bracket) {
        if (aend - p < 2 || aend[-1] != ']') {
            return false;
        }
        p++;
        aend--;
    }
    if (aend - p <= 0 || (size_t)(aend - p) >= sizeof(addr)) {
        return false;
    }
    memcpy(addr, p, (size_t)(aend - p));
    addr[aend - p] = 0;
    int max = v6 ? 128 : 32;
    int64_t bits = max;
    if (slash) {
        char num[4];
        size_t n = (size_t)(end - slash - 1);
        if (n == 0 || n >= sizeof(num)) {
            return false;
        }
        memcpy(num, slash + 1, n);
        num[n] = 0;
        if (!sl_parse_i64(num, 0, max, &bits)) {
            return false;
        }
    }
    struct in_addr a4;
    if (!v6 && inet_pton(AF_INET, addr, &a4) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(c->net, mapped, 12);
        memcpy(c->net + 12, &a4, 4);
        bits += 96;
    } else if (!v6 || inet_pton(AF_INET6, addr, c->net) != 1) {
        return false;
    }
    c->bits = (int)bits;
    for (int i = c->bits; i < 128; i++) { /* mask the host part: 10.1.2.3/8 means 10/8 */
        c->net[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
    }
    return true;
}

/* "name[:port]" or "*.suffix[:port]": letters, digits, '-', '.', '_'. */
static bool sl__host_parse(const char *p, const char *end, sl__egress_host_t *h)
{
    memset(h, 0, sizeof(*h));
    if (!sl__port_suffix(p, &end, &h->port)) {
        return false;
    }
    size_t n = (size_t)(end - p);
    if (n > 0 && p[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n > SL_EGRESS_HOST_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        bool wild = i == 0 && ch == '*' && n > 2 && p[1] == '.';
        if (!wild && !isalnum(ch) && ch != '-' && ch != '.' && ch != '_') {
            return false;
        }
        h->name[i] = (char)tolower(ch);
    }
    return true;
}

/* Splits a comma-separated list, parsing each entry into a new array. */
static int sl__list_parse(const char *key, const char *val, bool cidrs, void **out, size_t *nout,
                          char *err, size_t errlen)
{
    size_t esz = cidrs ? sizeof(sl__egress_cidr_t) : sizeof(sl__egress_host_t);
    size_t len = strnlen(val, SL_EGRESS_VALUE_BYTES_MAX + 1), n = 0;
    if (len > SL_EGRESS_VALUE_BYTES_MAX) {
        return sl_setting_fail(err, errlen, key, "value too long");
    }
    char *arr = NULL;
    for (const char *p = val, *end = val + len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end, *s = p;
        p = comma ? comma + 1 : end;
        while (s < e && isspace((unsigned char)*s)) {
            s++;
        }
        while (e > s && isspace((unsigned char)e[-1])) {
            e--;
        }
        if (s == e) {
            continue;
        }
        if (n == SL_EGRESS_ENTRIES_MAX) {
            free(arr);
            snprintf(err, errlen, "%s: more than %d entries", key, SL_EGRESS_ENTRIES_MAX);
            return SL_ELIMIT;
        }
        arr = sl_xrealloc(arr, (n + 1) * esz);
        bool ok = cidrs ? sl__cidr_parse(s, e, (sl__egress_cidr_t *)(void *)(arr + n * esz))
                        : sl__host_parse(s, e, (sl__egress_host_t *)(void *)(arr + n * esz));
        if (!ok) {
            free(arr);
            snprintf(err, errlen, "%s: '%.*s' is not %s", key, (int)SL_MIN(e - s, 80), s,
                     cidrs ? "an address or CIDR (10.0.0.0/8, 127.0.0.1:8080, [::1]:80, fd00::/8)"
                           : "a host name (shop.internal, *.corp.example, host:8080)");
            return SL_EINVAL;
        }
        n++;
    }
    *out = arr;
    *nout = n;
    return 0;
}

int sl_egress_set(sl_egress_t *eg, const char *key, const char *val, char *err, size_t errlen)
{
    if (strcmp(key, "egress.allow.private") == 0) {
        return sl_setting_bool(&eg->allow_private, key, val, err, errlen);
    }
    bool cidrs = strcmp(key, "egress.allow.cidrs") == 0;
    if (!cidrs && strcmp(key, "egress.allow.hosts") != 0) {
        return sl_setting_fail(err, errlen, key, "unknown setting");
    }
    void *arr = NULL;
    size_t n = 0;
    int rc = sl__list_parse(key, val, cidrs, &arr, &n, err, errlen);
    if (rc != 0) {
        return rc;
    }
    size_t other = cidrs ? eg->nhost : eg->ncidr;
    if (n + other > SL_EGRESS_ENTRIES_MAX) {
        free(arr);
        snprintf(err, errlen, "%s: more than %d entries with the other egress.allow list", key,
                 SL_EGRESS_ENTRIES_MAX);
        return SL_ELIMIT;
    }
    if (cidrs) {
        free(eg->cidr);
        eg->cidr = arr;
        eg->ncidr = n;
    } else {
        free(eg->host);
        eg->host = arr;
        eg->nhost = n;
    }
    return 0;
}

/* ---- checking ---- */

static bool sl__host_allowed(const sl_egress_t *eg, const char *host, uint16_t port)
{
    size_t len = host ? strnlen(host, SL_EGRESS_HOST_BYTES_MAX + 2) : 0;
    if (len > 0 && host[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > SL_EGRESS_HOST_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < eg->nhost; i++) {
        const sl__egress_host_t *h = &eg->host[i];
        size_t hl = strlen(h->name);
        bool match;
        if (h->name[0] == '*') { /* "*.x": strictly below x */
            match = len > hl - 1 && strncasecmp(host + len - (hl - 1), h->name + 1, hl - 1) == 0;
        } else {
            match = len == hl && strncasecmp(host, h->name, hl) == 0;
        }
        if (match && (h->port == 0 || h->port == port)) {
            return true;
        }
    }
    return false;
}

static bool sl__cidr_allowed(const sl_egress_t *eg, const uint8_t a[16], uint16_t port)
{
    for (size_t i = 0; i < eg->ncidr; i++) {
        const sl__egress_cidr_t *c = &eg->cidr[i];
        if (sl__prefix(a, c->net, c->bits) && (c->port == 0 || c->port == port)) {
            return true;
        }
    }
    return false;
}

static bool sl__is_private(sl_egress_class_t cls)
{
    return cls == SL_EGRESS_PRIVATE || cls == SL_EGRESS_CGNAT || cls == SL_EGRESS_UNIQUE_LOCAL;
}

int sl_egress_check(const sl_egress_t *eg, const char *host, const struct sockaddr *sa,
                    char *msg, size_t msglen)
{
    uint8_t a[16];
    uint16_t port = 0;
    char text[INET6_ADDRSTRLEN + 8];
    if (!sl__addr16(sa, a, &port)) {
        snprintf(msg, msglen, "refused: address family %d is not IPv4 or IPv6", sa->sa_family);
        return -EACCES;
    }
    sl_egress_class_t cls = sl__class6(a);
    if (cls == SL_EGRESS_PUBLIC || (eg->allow_private && sl__is_private(cls)) ||
        sl__cidr_allowed(eg, a, port) || sl__host_allowed(eg, host, port)) {
        return 0;
    }
    sl_egress_addr_text(sa, text, sizeof(text));
    struct in_addr lit;
    bool named = host && host[0] && inet_pton(AF_INET, host, &lit) != 1 && !strchr(host, ':');
    snprintf(msg, msglen, "refused: %s%s%s%s is %s; allow it with %s%.*s%segress.allow.cidrs=%s%s%s",
             named ? host : "", named ? " (" : "", text, named ? ")" : "",
             sl_egress_class_text(cls), named ? "egress.allow.hosts=" : "",
             named ? (int)strnlen(host, SL_EGRESS_HOST_BYTES_MAX) : 0, named ? host : "",
             named ? " or " : "", text, strchr(text, ':') ? "/128" : "/32",
             sl__is_private(cls) ? " or egress.allow.private=true" : "");
    return -EACCES;
}

int sl_egress_socket(const sl_egress_t *eg, const char *host, int family, int socktype,
                     int protocol, const struct sockaddr *sa, char *msg, size_t msglen)
{
    int rc = sl_egress_check(eg, host, sa, msg, msglen);
    if (rc != 0) {
        return rc;
    }
    int fd = socket(family, socktype | SOCK_CLOEXEC, protocol);
    return fd >= 0 ? fd : -errno;
}

static int sl__getaddrinfo(void *arg, const char *host, uint16_t port,
                           struct sockaddr_storage *addrs, size_t cap, size_t *n)
{
    SL_UNUSED(arg);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char serv[8];
    snprintf(serv, sizeof(serv), "%u", (unsigned)port);
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0) {
        return rc == EAI_MEMORY ? SL_ENOMEM : -EHOSTUNREACH;
    }
    *n = 0;
    for (struct addrinfo *ai = res; ai && *n < cap; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(addrs[0])) {
            memset(&addrs[*n], 0, sizeof(addrs[0]));
            memcpy(&addrs[*n], ai->ai_addr, ai->ai_addrlen);
            (*n)++;
        }
    }
    freeaddrinfo(res);
    return *n > 0 ? 0 : -EHOSTUNREACH;
}

int sl_egress_resolve(const sl_egress_t *eg, const char *host, uint16_t port,
                      struct sockaddr_storage *out, char *msg, size_t msglen)
{
    struct sockaddr_storage addrs[SL_EGRESS_ADDRS_MAX];
    size_t n = 0;
    sl_egress_resolver_fn fn = eg->resolve ? eg->resolve : sl__getaddrinfo;
    int rc = fn(eg->resolve_arg, host, port, addrs, SL_EGRESS_ADDRS_MAX, &n);
    if (rc != 0 || n == 0) {
        snprintf(msg, msglen, "could not resolve host %.*s", SL_EGRESS_HOST_BYTES_MAX, host);
        return rc == SL_ENOMEM ? rc : -EHOSTUNREACH;
    }
    char first[SL_EGRESS_MSG_BYTES] = "";
    for (size_t i = 0; i < n && i < SL_EGRESS_ADDRS_MAX; i++) {
        char why[SL_EGRESS_MSG_BYTES];
        if (sl_egress_check(eg, host, (const struct sockaddr *)&addrs[i], why, sizeof(why)) ==
            0) {
            if (out) {
                *out = addrs[i];
            }
            return 0;
        }
        if (!first[0]) {
            memcpy(first, why, sizeof(first));
        }
    }
    snprintf(msg, msglen, "%s", first);
    return -EACCES;
}

int sl_egress_url_parse(const char *url, sl_egress_url_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = url ? strnlen(url, SL_EGRESS_URL_BYTES_MAX + 1) : 0;
    if (len == 0 || len > SL_EGRESS_URL_BYTES_MAX) {
        return SL_EINVAL;
    }
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        out->https = true;
    } else {
        return SL_EINVAL;
    }
    const char *end = p + strcspn(p, "/?#\\");
    const char *at = memrchr(p, '@', (size_t)(end - p));
    p = at ? at + 1 : p; /* user:password@ is not part of the host */
    out->port = out->https ? 443 : 80;
    const char *hend = end;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) {
            return SL_EINVAL;
        }
        if (rb + 1 < end && (rb[1] != ':' || !sl__port_suffix(rb + 1, &end, &out->port))) {
            return SL_EINVAL;
        }
        p++;
        hend = rb;
    } else if (!sl__port_suffix(p, &hend, &out->port)) {
        return SL_EINVAL;
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl > SL_EGRESS_HOST_BYTES_MAX) {
        return SL_EINVAL;
    }
    for (size_t i = 0; i < hl; i++) {
        out->host[i] = (char)tolower((unsigned char)p[i]);
    }
    if (out->port == 0) {
        out->port = out->https ? 443 : 80;
    }
    return 0;
}

int sl_egress_check_url(const sl_egress_t *eg, const char *url, struct sockaddr_storage *out,
                        char *msg, size_t msglen)
{
    sl_egress_url_t u;
    if (sl_egress_url_parse(url, &u) != 0) {
        snprintf(msg, msglen, "refused: only http:// and https:// URLs with a host are allowed");
        return SL_EINVAL;
    }
    return sl_egress_resolve(eg, u.host, u.port, out, msg, msglen);
}
