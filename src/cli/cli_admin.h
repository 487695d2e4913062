/* The broker's admin endpoint in `sluice serve` (serve_admin.c): HTTP on its own thread,
 * started before the broker recovers its logs and stopped before the broker is freed. */
#ifndef CLI_ADMIN_H
#define CLI_ADMIN_H

#include <stddef.h>

#include "brk.h"
#include "sl_props.h"

typedef struct cli_admin cli_admin_t;

/* Starts the endpoint on admin.listen (default 127.0.0.1:9644; empty: *out = NULL, off) with
 * admin.token, answering "recovering" until cli_admin_attach. The default address in use
 * only warns (*out = NULL); an explicit one that cannot be bound, a bad address or a bad
 * token: SL_EINVAL with the reason in err. */
int cli_admin_start(const sl_props_t *props, cli_admin_t **out, char *err, size_t err_len);
/* The broker is open: serve its metrics, readiness and status (adm NULL: nothing). */
void cli_admin_attach(cli_admin_t *adm, brk_t *brk);
/* Stops the endpoint and frees adm (NULL: nothing); no handler uses the broker afterwards. */
void cli_admin_stop(cli_admin_t *adm);

#endif
