/* Outbound request policy (SSRF guard) shared by every service that connects where a client
 * told it to: `sluice jobs` webhooks and the inspect worker's browser. By default an address
 * that is not public unicast is refused: loopback, RFC 1918, link-local (169.254.169.254
 * included), CGNAT, unique-local, "this network", multicast, documentation and other reserved
 * ranges, and the IPv4-mapped, -compatible, NAT64 and 6to4 forms of those. The check is made on
 * the address actually connected to (callers resolve once with sl_egress_resolve and connect
 * to what it returned, or check each connect with sl_egress_check), so a name that changes its
 * answer between check and connect (DNS rebinding) gains nothing. Settings, named in every
 * refusal message: egress.allow.hosts, egress.allow.cidrs, egress.allow.private
 * (docs/outbound-policy.md). Thread: a policy is configured by one thread, then read by any. */
#ifndef SL_EGRESS_H
#define SL_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Entries in egress.allow.hosts plus egress.allow.cidrs; more is SL_ELIMIT. */
#define SL_EGRESS_ENTRIES_MAX 256
/* A host name (RFC 1035's 253 characters). */
#define SL_EGRESS_HOST_BYTES_MAX 253
/* A setting's value. */
#define SL_EGRESS_VALUE_BYTES_MAX 16384
/* Addresses of one name considered by sl_egress_resolve. */
#define SL_EGRESS_ADDRS_MAX 16
/* A refusal message, NUL included; callers' buffers should hold this much. */
#define SL_EGRESS_MSG_BYTES 640
/* A URL given to sl_egress_check_url. */
#define SL_EGRESS_URL_BYTES_MAX 8192

typedef enum {
    SL_EGRESS_PUBLIC = 0,     /* global unicast: allowed */
    SL_EGRESS_LOOPBACK,       /* 127/8, ::1 */
    SL_EGRESS_PRIVATE,        /* 10/8, 172.16/12, 192.168/16, fec0::/10, 64:ff9b:1::/48 */
    SL_EGRESS_CGNAT,          /* 100.64/10 */
    SL_EGRESS_LINK_LOCAL,     /* 169.254/16 (cloud metadata), fe80::/10 */
    SL_EGRESS_UNIQUE_LOCAL,   /* fc00::/7 */
    SL_EGRESS_UNSPECIFIED,    /* 0/8 ("this network": 0.0.0.0 reaches this host), :: */
    SL_EGRESS_MULTICAST,      /* 224/4, ff00::/8 */
    SL_EGRESS_RESERVED,       /* 240/4, broadcast, documentation, benchmarking, 192.0.0/24,
                               * Teredo, IPv6 outside 2000::/3, ... */
    SL_EGRESS_CLASS_COUNT
} sl_egress_class_t;

typedef struct sl_egress sl_egress_t;

/* Resolves host for port into up to cap addresses (port set in each). Returns 0 with *n >= 1,
 * or a negative error. The default is getaddrinfo; tests replace it. */
typedef int (*sl_egress_resolver_fn)(void *arg, const char *host, uint16_t port,
                                     struct sockaddr_storage *addrs, size_t cap, size_t *n);

/* The class of an AF_INET or AF_INET6 address (embedded IPv4 forms classified by the IPv4
 * address they carry). Any other family is SL_EGRESS_RESERVED. Thread: any. */
sl_egress_class_t sl_egress_classify(const struct sockaddr *sa);
/* "a loopback address", "a private (RFC 1918) address", ... */
const char *sl_egress_class_text(sl_egress_class_t cls);

/* A policy with nothing allowed beyond public addresses. */
sl_egress_t *sl_egress_new(void);
void sl_egress_free(sl_egress_t *eg);
/* Whether key is one of the egress.* settings sl_egress_set takes. */
bool sl_egress_is_key(const char *key);
/* Applies one setting (a list value replaces the previous one). Returns 0, or SL_EINVAL /
 * SL_ELIMIT with "key: reason" in err, the policy unchanged. */
int sl_egress_set(sl_egress_t *eg, const char *key, const char *val, char *err, size_t errlen);
/* Replaces the resolver (NULL: getaddrinfo). For tests. */
void sl_egress_set_resolver(sl_egress_t *eg, sl_egress_resolver_fn fn, void *arg);

/* Checks one address about to be connected to; host (may be NULL) is the name it came from,
 * matched against egress.allow.hosts. Returns 0, or -EACCES with the refusal sentence in msg:
 * "refused: 127.0.0.1 is a loopback address; allow it with egress.allow.cidrs=127.0.0.1/32". */
int sl_egress_check(const sl_egress_t *eg, const char *host, const struct sockaddr *sa,
                    char *msg, size_t msglen);
/* The connect hook of an HTTP client (libcurl's CURLOPT_OPENSOCKETFUNCTION): checks sa as
 * sl_egress_check does and, when allowed, returns a new close-on-exec socket for it (family,
 * type, protocol as given). Returns the fd, -EACCES (msg says why) or -errno. */
int sl_egress_socket(const sl_egress_t *eg, const char *host, int family, int socktype,
                     int protocol, const struct sockaddr *sa, char *msg, size_t msglen);
/* Resolves host once and returns in *out the first of its addresses the policy allows
 * (port set): connect to exactly that. Returns 0, -EACCES (no address allowed; msg names the
 * first refused one), or -EHOSTUNREACH (not resolved; msg says so). Blocks for the lookup. */
int sl_egress_resolve(const sl_egress_t *eg, const char *host, uint16_t port,
                      struct sockaddr_storage *out, char *msg, size_t msglen);

/* The parts of an http(s) URL. */
typedef struct {
    bool https;
    char host[SL_EGRESS_HOST_BYTES_MAX + 1]; /* without brackets, lower case */
    uint16_t port;                           /* explicit or the scheme's default */
} sl_egress_url_t;

/* Splits an absolute http:// or https:// URL. Returns 0, or SL_EINVAL (another scheme, no
 * host, bad port, too long). */
int sl_egress_url_parse(const char *url, sl_egress_url_t *out);
/* Parses url and resolves its host with sl_egress_resolve (*out may be NULL). Returns 0,
 * SL_EINVAL ("refused: only http and https URLs ..." in msg), -EACCES or -EHOSTUNREACH. */
int sl_egress_check_url(const sl_egress_t *eg, const char *url, struct sockaddr_storage *out,
                        char *msg, size_t msglen);

/* Writes the address of sa as text ("127.0.0.1", "::1") into buf (INET6_ADDRSTRLEN). */
void sl_egress_addr_text(const struct sockaddr *sa, char *buf, size_t cap);

#endif
