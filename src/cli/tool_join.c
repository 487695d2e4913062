/* sluice join: run the stream-table / table-table join service until SIGINT/SIGTERM. Exit
 * codes: 0 after a clean stop, 1 when the service could not start or went to ERROR (it answers
 * /health with 503 for error.linger.ms first), 2 usage. */
#include "cli.h"
#include "jnsvc.h"
#include "sl_common.h"
#include "sl_log.h"
#include "sl_time.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void join__usage(FILE *f)
{
    fprintf(f,
            "usage: sluice join [--config FILE.properties] [--set key=value]...\n"
            "                   [--brokers HOST:PORT] [--app-id ID] [--type TYPE]\n"
            "                   [--left TOPIC] [--right TOPIC] [--output TOPIC]\n"
            "                   [--error-topic TOPIC] [--state-dir DIR] [--http HOST:PORT]\n"
            "                   [--on-error=continue|fail]\n"
            "TYPE: stream-table-inner, stream-table-left, table-table-inner, table-table-left,\n"
            "table-table-outer. Every setting is listed in docs/join.md.\n");
}

static const char *join__flag_key(const char *a)
{
    static const char *const map[][2] = {
        {"--brokers", "brokers"},     {"--app-id", "application.id"},
        {"--type", "join.type"},      {"--left", "left.topic"},
        {"--right", "right.topic"},   {"--output", "output.topic"},
        {"--error-topic", "error.topic"}, {"--state-dir", "state.dir"},
        {"--http", "http.listen"},    {"--on-error", "on.error"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++) {
        if (strcmp(a, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return NULL;
}

/* Flags into props (later ones win). Returns 0, 1 (help printed) or 2 (usage error). */
static int join__args(sl_props_t *props, int argc, char **argv)
{
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            join__usage(stdout);
            return 1;
        }
        if (strncmp(a, "--on-error=", 11) == 0) {
            sl_props_set(props, "on.error", a + 11);
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL, *key = join__flag_key(a);
        if (!v || (!key && strcmp(a, "--config") != 0 && strcmp(a, "--set") != 0)) {
            fprintf(stderr, "sluice join: %s '%s'\n", v ? "unknown option" : "missing value for", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--config") == 0 && sl_props_load(props, v, err, sizeof err) != 0) {
            fprintf(stderr, "sluice join: %s\n", err);
            return 2;
        }
        if (strcmp(a, "--set") == 0 && sl_props_set_kv(props, v) != 0) {
            fprintf(stderr, "sluice join: --set wants key=value, got '%s'\n", v);
            return 2;
        }
        if (key) {
            sl_props_set(props, key, v);
        }
    }
    return 0;
}

/* Runs until a signal (0) or ERROR (1, after error.linger.ms answering 503). */
static int join__run(jnsvc_t *svc, const jncfg_t *cfg, sigset_t *set)
{
    struct timespec tick = {0, 100 * 1000 * 1000};
    int64_t error_since = -1;
    for (;;) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig >= 0) {
            SL_LOGI("join", "signal %d received; stopping", sig);
            return jnsvc_state(svc) == JN_ERROR ? 1 : 0;
        }
        jn_state_t state = jnsvc_state(svc);
        if (state == JN_ERROR && error_since < 0) {
            error_since = sl_time_mono_ms();
            SL_LOGE("join", "the processing thread failed; exiting in %lld ms",
                    (long long)cfg->error_linger_ms);
        }
        if (error_since >= 0 && sl_time_mono_ms() - error_since >= cfg->error_linger_ms) {
            return 1;
        }
    }
}

int tool_join(int argc, char **argv)
{
    sl_props_t *props = sl_props_new();
    char err[512];
    int rc = join__args(props, argc, argv);
    jncfg_t cfg;
    if (rc == 0 && jncfg_load(&cfg, props, err, sizeof err) != 0) {
        fprintf(stderr, "sluice join: %s\n", err);
        rc = 2;
    }
    sl_props_free(props);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only sigtimedwait sees them */
    signal(SIGPIPE, SIG_IGN);
    jnsvc_t *svc = NULL;
    if (jnsvc_start(&cfg, &svc, err, sizeof err) != 0) {
        fprintf(stderr, "sluice join: %s\n", err);
        return 1;
    }
    printf("sluice join: listening on http://%.*s:%d\n",
           (int)(strrchr(cfg.http_listen, ':') - cfg.http_listen), cfg.http_listen,
           jnsvc_http_port(svc));
    fflush(stdout);
    rc = join__run(svc, &cfg, &set);
    jnsvc_stop(svc);
    return rc;
}
