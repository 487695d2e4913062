/* tool_svc: the serve-style commands' front end (see tool_svc.h). */
#include "tool_svc.h"

#include "sl_common.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* The setting of flag a ("--x" or the "--x" of "--x=v"), or NULL. */
static const char *tool__svc_key(const tool_svc_flag_t *map, size_t n, const char *a, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(map[i].flag) == len && strncmp(a, map[i].flag, len) == 0) {
            return map[i].key;
        }
    }
    return NULL;
}

int tool_svc_args(const char *cmd, int argc, char **argv, const tool_svc_flag_t *map, size_t n,
                  void (*usage)(FILE *), sl_props_t *props)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return TOOL_SVC_HELP;
        }
    }
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        const char *key = eq && strncmp(a, "--", 2) == 0
                              ? tool__svc_key(map, n, a, (size_t)(eq - a))
                              : NULL;
        if (key) { /* --flag=value */
            sl_props_set(props, key, eq + 1);
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        key = tool__svc_key(map, n, a, strlen(a));
        bool config = strcmp(a, "--config") == 0, set = strcmp(a, "--set") == 0;
        if (!key && !config && !set) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", cmd, a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "%s: missing value for '%s'\n", cmd, a);
            return 2;
        }
        i++;
        if (config && sl_props_load(props, v, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            return 2;
        }
        if (set && sl_props_set_kv(props, v) != 0) {
            fprintf(stderr, "%s: --set wants key=value, got '%s'\n", cmd, v);
            return 2;
        }
        if (key) {
            sl_props_set(props, key, v);
        }
    }
    return 0;
}

void tool_svc_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int tool_svc_wait(const sigset_t *set, int tick_ms)
{
    struct timespec tick = {tick_ms / 1000, (long)(tick_ms % 1000) * 1000 * 1000};
    int sig = sigtimedwait(set, NULL, &tick);
    return sig > 0 ? sig : -1;
}
