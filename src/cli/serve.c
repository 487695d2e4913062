/* sluice serve: the broker. Settings come from a Kafka-style .properties file (--config),
 * then the command-line flags, which override it. SIGTERM/SIGINT stop it gracefully. */
#include "brk.h"
#include "cli.h"
#include "cli_admin.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_platform.h"
#include "sl_props.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static brk_t *cli__brk;

static void cli__on_signal(int sig)
{
    SL_UNUSED(sig);
    if (cli__brk) {
        brk_stop_async(cli__brk);
    }
}

static void cli__serve_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice serve [options]\n"
            "\n"
            "Runs a single-node, Kafka-wire-compatible broker.\n"
            "\n"
            "options:\n"
            "  --config FILE       Kafka-style .properties file (log.dirs, num.partitions, ...)\n"
            "  --listen HOST:PORT  listen address (default 127.0.0.1:9092; port 0 = any free;\n"
            "                      HOST an IP address or a host name, resolved at start)\n"
            "  --data DIR          data directory (same as log.dirs; default ./data)\n"
            "  --set KEY=VALUE     any broker property; repeatable; overrides --config\n"
            "  --ready-file PATH   once listening, write HOST:PORT of the first listener to PATH\n"
            "                      (atomically), then one NAME://HOST:PORT line per listener\n"
            "                      when there are several or the first is not PLAINTEXT\n"
            "  --log-level LEVEL   debug, info (default), warn or error\n"
            "  --strict            refuse to start on an unknown setting (config.strict=true);\n"
            "                      without it each unknown one is a warning naming the\n"
            "                      nearest known setting\n"
            "  --help              this text\n"
            "\n"
            "Properties (Kafka's names): log.dirs, listeners, advertised.listeners,\n"
            "num.partitions, auto.create.topics.enable, delete.topic.enable,\n"
            "log.segment.bytes, log.roll.ms, log.retention.ms, log.retention.bytes,\n"
            "log.retention.check.interval.ms, message.max.bytes, socket.request.max.bytes,\n"
            "log.message.timestamp.type, log.cleanup.policy, default.replication.factor (1),\n"
            "log.flush.policy = always | interval | never, log.flush.interval.ms,\n"
            "log.flush.threads, log.zero.ahead.bytes, socket.local.congestion.control\n"
            "(same-host connections; default reno, empty: the system's).\n"
            "Security: listeners (NAME://host:port,...), listener.security.protocol.map,\n"
            "advertised.listeners, sasl.enabled.mechanisms (PLAIN, SCRAM-SHA-256,\n"
            "SCRAM-SHA-512), ssl.keystore.type=PEM, ssl.keystore.location |\n"
            "ssl.keystore.certificate.chain + ssl.keystore.key, ssl.key.password,\n"
            "ssl.truststore.location, ssl.client.auth = none | requested | required.\n"
            "Limits: max.connections, max.connections.per.ip, connections.max.idle.ms,\n"
            "connections.max.authentication.ms, queued.max.request.bytes.\n"
            "Users: sluice users add|remove|list --data DIR.\n"
            "Admin endpoint (HTTP: /metrics, /health/live, /health/ready, /v1/status):\n"
            "admin.listen (default 127.0.0.1:9644; empty turns it off), admin.token,\n"
            "admin.metrics.partitions.max.\n");
}

/* Applies one flag to props (flags are applied after the config file). */
static int cli__serve_flag(sl_props_t *props, const char *flag, const char *value)
{
    char buf[1200];
    if (strcmp(flag, "--listen") == 0) {
        const char *colon = strrchr(value, ':');
        int64_t port;
        if (!colon) {
            fprintf(stderr, "sluice serve: --listen wants HOST:PORT, got '%s'\n", value);
            return 2;
        }
        if (!sl_parse_i64(colon + 1, 0, 65535, &port)) {
            fprintf(stderr, "sluice serve: --listen %s: the port %s (0 to 65535; 0 picks a "
                    "free one)\n", value,
                    sl_parse_i64(colon + 1, INT64_MIN, INT64_MAX, &port) ? "is out of range"
                                                                         : "is not a number");
            return 2;
        }
        snprintf(buf, sizeof buf, "PLAINTEXT://%s", value);
        sl_props_set(props, "listeners", buf);
    } else if (strcmp(flag, "--data") == 0) {
        sl_props_set(props, "log.dirs", value);
    } else if (strcmp(flag, "--set") == 0) {
        if (sl_props_set_kv(props, value) != 0) {
            fprintf(stderr, "sluice serve: --set wants KEY=VALUE, got '%s'\n", value);
            return 2;
        }
    }
    return 0;
}

static int cli__serve_run(sl_props_t *props, const char *ready_file)
{
    char err[1024] = "";
    brk_t *brk;
    bool strict = false;
    const char *sv = sl_props_get(props, "config.strict");
    if (sv && sl_parse_bool(sv, &strict) && strict &&
        brk_conf_unknown_keys(props, false, err, sizeof err) > 0) {
        fprintf(stderr, "sluice serve: config.strict=true: unknown setting %s\n", err);
        return 2;
    }
    sl_platform_tune_malloc();
    cli_admin_t *adm = NULL;
    int rc = cli_admin_start(props, &adm, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "sluice serve: %s\n", err);
        return 2;
    }
    rc = brk_new(props, &brk, err, sizeof err);
    if (rc != 0) {
        cli_admin_stop(adm);
        fprintf(stderr, "sluice serve: %s\n", err[0] ? err : sl_strerror(rc));
        return 1;
    }
    cli__brk = brk;
    /* before the ready file: a client that reads it finds the endpoint serving (the loop
     * answers the endpoint's questions once brk_run starts) */
    cli_admin_attach(adm, brk);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli__on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ready_file) {
        char text[4096];
        size_t n = (size_t)snprintf(text, sizeof text, "%s:%d\n", brk_host(brk), brk_port(brk));
        const char *name, *proto, *host;
        int port;
        brk_listener_addr(brk, 0, &name, &proto, &host, &port);
        if (brk_listener_count(brk) > 1 || strcmp(proto, "PLAINTEXT") != 0) {
            for (int i = 0; i < brk_listener_count(brk) && n < sizeof text; i++) {
                brk_listener_addr(brk, i, &name, &proto, &host, &port);
                n += (size_t)snprintf(text + n, sizeof text - n, "%s://%s:%d\n", name, host, port);
            }
        }
        n = SL_MIN(n, sizeof text - 1);
        rc = sl_fs_write_atomic(ready_file, text, n);
        if (rc != 0) {
            fprintf(stderr, "sluice serve: cannot write %s: %s\n", ready_file, sl_strerror(rc));
            cli_admin_stop(adm);
            brk_free(brk);
            return 1;
        }
    }
    rc = brk_run(brk);
    cli__brk = NULL;
    cli_admin_stop(adm); /* before the broker goes: its handlers read it */
    brk_free(brk);
    return rc == 0 ? 0 : 1;
}

int cli_serve(int argc, char **argv)
{
    const char *config = NULL, *ready_file = NULL;
    bool strict = false;
    const char *fl[64][2]; /* --listen/--data/--set in order, applied after --config */
    int nfl = 0;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli__serve_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--strict") == 0) {
            strict = true;
            continue;
        }
        bool takes = strcmp(a, "--config") == 0 || strcmp(a, "--listen") == 0 ||
                     strcmp(a, "--data") == 0 || strcmp(a, "--set") == 0 ||
                     strcmp(a, "--ready-file") == 0 || strcmp(a, "--log-level") == 0;
        if (!takes) {
            fprintf(stderr, "sluice serve: unknown option '%s' (see --help)\n", a);
            rc = 2;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "sluice serve: %s needs a value\n", a);
            rc = 2;
        } else if (strcmp(a, "--config") == 0) {
            config = argv[++i];
        } else if (strcmp(a, "--ready-file") == 0) {
            ready_file = argv[++i];
        } else if (strcmp(a, "--log-level") == 0) {
            sl_log_level_t level;
            if (!sl_log_parse_level(argv[++i], &level)) {
                fprintf(stderr, "sluice serve: --log-level wants debug, info, warn or error\n");
                rc = 2;
            }
            sl_log_set_level(level);
        } else if (nfl < 64) {
            fl[nfl][0] = a;
            fl[nfl][1] = argv[++i];
            nfl++;
        } else {
            fprintf(stderr, "sluice serve: too many options\n");
            rc = 2;
        }
    }
    sl_props_t *props = sl_props_new();
    char err[1024];
    if (rc == 0 && config && sl_props_load(props, config, err, sizeof err) != 0) {
        fprintf(stderr, "sluice serve: %s\n", err);
        rc = 2;
    }
    for (int i = 0; i < nfl && rc == 0; i++) {
        rc = cli__serve_flag(props, fl[i][0], fl[i][1]);
    }
    if (strict) {
        sl_props_set(props, "config.strict", "true");
    }
    if (rc == 0) {
        rc = cli__serve_run(props, ready_file);
    }
    sl_props_free(props);
    return rc;
}
