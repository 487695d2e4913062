/* sluice join: run the stream-table / table-table join service until SIGINT/SIGTERM. Exit
 * codes: 0 after a clean stop, 1 when the service could not start or went to ERROR (it answers
 * /health with 503 for error.linger.ms first), 2 usage. */
#include "cli.h"
#include "jnsvc.h"
#include "sl_common.h"
#include "sl_log.h"
#include "sl_time.h"
#include "tool_svc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

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

static const tool_svc_flag_t join__flags[] = {
    {"--brokers", "brokers"},       {"--bootstrap-server", "brokers"},
    {"--app-id", "application.id"}, {"--type", "join.type"},
    {"--left", "left.topic"},       {"--right", "right.topic"},
    {"--output", "output.topic"},   {"--error-topic", "error.topic"},
    {"--state-dir", "state.dir"},   {"--http", "http.listen"},
    {"--on-error", "on.error"},
};

/* Runs until a signal (0) or ERROR (1, after error.linger.ms answering 503). */
static int join__run(jnsvc_t *svc, const jncfg_t *cfg, const sigset_t *set)
{
    int64_t error_since = -1;
    for (;;) {
        int sig = tool_svc_wait(set, 100);
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
    int rc = tool_svc_args("sluice join", argc, argv, join__flags, SL_ARRAY_LEN(join__flags),
                           join__usage, props);
    jncfg_t cfg;
    if (rc == 0 && jncfg_load(&cfg, props, err, sizeof err) != 0) {
        fprintf(stderr, "sluice join: %s\n", err);
        rc = 2;
    }
    sl_props_free(props);
    if (rc != 0) {
        return rc == TOOL_SVC_HELP ? 0 : rc;
    }
    sigset_t set;
    tool_svc_signals(&set);
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
