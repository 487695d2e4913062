/* sluice gateway: run the HTTP produce + WebSocket STOMP gateway (src/services/gateway).
 * Exit codes: 0 stopped by a signal, 1 failure (broker unreachable at start, port in use, a
 * service thread died), 2 usage or configuration error. */
#include "cli.h"
#include "gw_svc.h"
#include "sl_common.h"
#include "sl_log.h"
#include "tool_svc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void gateway__usage(FILE *f)
{
    fprintf(f,
            "usage: sluice gateway serve [--config FILE.properties] [--set key=value]...\n"
            "                            [--brokers HOST:PORT] [--http HOST:PORT]\n"
            "\n"
            "Runs the HTTP produce API and the WebSocket STOMP fan-out.\n"
            "\n"
            "options:\n"
            "  --config FILE      gateway .properties file (routes, destinations, limits)\n"
            "  --set KEY=VALUE    any gateway setting; repeatable; later ones win\n"
            "  --brokers H:P,...  Kafka bootstrap servers (setting brokers; default\n"
            "                     127.0.0.1:9092); alias --bootstrap-server\n"
            "  --http HOST:PORT   HTTP and WebSocket listen address (setting http.listen)\n"
            "  --help             this text\n"
            "\n"
            "The settings are listed in docs/gateway.md.\n");
}

static const tool_svc_flag_t gateway__flags[] = {
    {"--brokers", "brokers"},
    {"--bootstrap-server", "brokers"},
    {"--http", "http.listen"},
};

/* Loads the settings named by argv into cfg; returns 0, TOOL_SVC_HELP or the exit code. */
static int gateway__config(int argc, char **argv, gw_cfg_t *cfg)
{
    sl_props_t *props = sl_props_new();
    char err[512];
    int rc = tool_svc_args("sluice gateway serve", argc, argv, gateway__flags,
                           SL_ARRAY_LEN(gateway__flags), gateway__usage, props);
    if (rc == 0 && gw_cfg_load(cfg, props, err, sizeof err) != 0) {
        fprintf(stderr, "sluice gateway serve: %s\n", err);
        rc = 2;
    }
    sl_props_free(props);
    return rc;
}

static int gateway__serve(int argc, char **argv)
{
    gw_cfg_t *cfg = sl_xcalloc(1, sizeof *cfg);
    int rc = gateway__config(argc, argv, cfg);
    if (rc != 0) {
        free(cfg);
        return rc == TOOL_SVC_HELP ? 0 : rc;
    }
    sigset_t set;
    tool_svc_signals(&set);
    gw_svc_t *svc = NULL;
    char err[512];
    if (gw_start(cfg, &svc, err, sizeof err) != 0) {
        fprintf(stderr, "sluice gateway serve: %s\n", err);
        free(cfg);
        return 1;
    }
    printf("sluice gateway: listening on http://%.*s:%d (STOMP at %s)\n",
           (int)(strrchr(cfg->http_listen, ':') - cfg->http_listen), cfg->http_listen,
           gw_port(svc), cfg->ws_path);
    fflush(stdout);
    int sig = -1;
    while (sig < 0 && gw_alive(svc)) {
        sig = tool_svc_wait(&set, 200);
    }
    SL_LOGI("gateway", "%s; stopping", sig < 0 ? "a thread died" : "signal received");
    gw_stop(svc);
    free(cfg);
    return sig < 0 ? 1 : 0;
}

int tool_gateway(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
        return gateway__serve(argc - 1, argv + 1);
    }
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    gateway__usage(help ? stdout : stderr);
    return help ? 0 : 2;
}
