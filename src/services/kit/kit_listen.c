/* kit_listen: see kit_listen.h. */
#include "kit_listen.h"

#include "sl_common.h"
#include "sl_props.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int kit_listen_parse(const char *listen, char host[KIT_HOST_BYTES], int *port, char *err,
                     size_t err_len)
{
    const char *colon = strrchr(listen, ':');
    int64_t p = 0;
    if (!colon || (size_t)(colon - listen) >= KIT_HOST_BYTES ||
        !sl_parse_i64(colon + 1, 0, 65535, &p)) {
        snprintf(err, err_len, "http.listen: want HOST:PORT, got '%s'", listen);
        return SL_EINVAL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (int)p;
    return 0;
}
