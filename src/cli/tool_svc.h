/* tool_svc: the front end shared by the serve-style commands (`sluice jobs serve`, `sluice
 * join`, `sluice gateway serve`): their command line into settings, and their signals. */
#ifndef TOOL_SVC_H
#define TOOL_SVC_H

#include "sl_props.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A flag that names a setting ("--http" for http.listen). */
typedef struct {
    const char *flag;
    const char *key;
} tool_svc_flag_t;

#define TOOL_SVC_HELP 1 /* tool_svc_args printed the usage: exit 0 */

/* Reads argv[1..argc) into props: --config FILE (a .properties file), --set KEY=VALUE and the
 * flags of map ("--flag VALUE" or "--flag=VALUE"); later ones win. --help or -h anywhere prints
 * usage to stdout and returns TOOL_SVC_HELP. A bad argument prints "cmd: reason" to stderr and
 * returns 2. Otherwise 0. */
int tool_svc_args(const char *cmd, int argc, char **argv, const tool_svc_flag_t *map, size_t n,
                  void (*usage)(FILE *), sl_props_t *props);

/* Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards (so
 * only tool_svc_wait takes them; call it before starting the service) and ignores SIGPIPE. */
void tool_svc_signals(sigset_t *set);

/* Waits up to tick_ms for SIGINT or SIGTERM: the signal, or -1 when none came. */
int tool_svc_wait(const sigset_t *set, int tick_ms);

#endif
