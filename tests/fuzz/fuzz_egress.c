/* libFuzzer target for the outbound policy's parsers (src/base/sl_egress.c): the first byte
 * picks what the rest is fed to (an egress.allow.cidrs value, an egress.allow.hosts value, a
 * URL, or a URL checked against a policy), with a resolver that never touches the network.
 * Never crashes or reads out of bounds; a refused setting leaves the policy unchanged (the
 * loopback allowance set first still holds); a parsed URL has a host and a port. */
#include "sl_common.h"
#include "sl_egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int fuzz_resolver(void *arg, const char *host, uint16_t port,
                         struct sockaddr_storage *addrs, size_t cap, size_t *n)
{
    SL_UNUSED(arg), SL_UNUSED(cap);
    struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[0];
    memset(&addrs[0], 0, sizeof(addrs[0]));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(strlen(host) % 2 ? 0x7f000001 : 0x08080808);
    *n = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    sl_egress_t *eg = sl_egress_new();
    sl_egress_set_resolver(eg, fuzz_resolver, NULL);
    char err[256], msg[SL_EGRESS_MSG_BYTES];
    if (sl_egress_set(eg, "egress.allow.cidrs", "127.0.0.1:80", err, sizeof(err)) != 0) {
        abort();
    }
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(80),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    sl_egress_url_t u;
    switch (data[0] % 4) {
    case 0:
        if (sl_egress_set(eg, "egress.allow.cidrs", s, err, sizeof(err)) != 0 &&
            sl_egress_check(eg, NULL, (struct sockaddr *)&lo, msg, sizeof(msg)) != 0) {
            abort(); /* a refused value changed the policy */
        }
        break;
    case 1:
        sl_egress_set(eg, "egress.allow.hosts", s, err, sizeof(err));
        sl_egress_check(eg, s, (struct sockaddr *)&lo, msg, sizeof(msg));
        break;
    case 2:
        if (sl_egress_url_parse(s, &u) == 0 && (!u.host[0] || u.port == 0)) {
            abort();
        }
        break;
    default:
        sl_egress_check_url(eg, s, NULL, msg, sizeof(msg));
        break;
    }
    sl_egress_free(eg);
    free(s);
    return 0;
}
