/* Shared pieces of the operator tools (sluice topics|groups|produce|consume): argument
 * parsing, one librdkafka client with a bounded connect check and admin-result waits, error
 * reporting with Kafka error names, aligned tables and JSON output (jansson).
 * Exit codes everywhere: TOOL_OK 0, TOOL_EFAIL 1 (runtime or Kafka error), TOOL_EUSAGE 2. */
#ifndef TOOL_COMMON_H
#define TOOL_COMMON_H

#include "kit_rk.h"

#include <jansson.h>
#include <signal.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { TOOL_OK = 0, TOOL_EFAIL = 1, TOOL_EUSAGE = 2 };

/* Default bootstrap and per-operation timeout (each broker round trip waits at most this). */
#define TOOL_BROKERS_DEFAULT "127.0.0.1:9092"
#define TOOL_TIMEOUT_MS_DEFAULT 10000
/* --timeout-ms is bounded so no command can wait forever. */
#define TOOL_TIMEOUT_MS_MAX (3600 * 1000)
/* Repeatable options (--config, --header, ...) accepted per command. */
#define TOOL_REPEAT_MAX 256

/* Options every tool command accepts. */
typedef struct tool_opts {
    const char *cmd; /* "sluice topics create", for messages */
    const char *brokers;
    int timeout_ms;
    bool json;
    bool verbose;
    bool help;
} tool_opts_t;

void tool_opts_init(tool_opts_t *opts, const char *cmd);

/* Walks argv one word at a time; `val` holds the value of the last matched option. */
typedef struct tool_args {
    int argc;
    char **argv;
    int i;
    const char *val;
    int rc; /* TOOL_EUSAGE once a usage error was printed */
    const tool_opts_t *opts;
} tool_args_t;

void tool_args_init(tool_args_t *args, int argc, char **argv, int first, const tool_opts_t *opts);
/* True while words remain and no usage error happened. */
bool tool_args_more(const tool_args_t *args);
/* True when the current word is exactly `name` (a flag without value). */
bool tool_arg_flag(tool_args_t *args, const char *name);
/* True when the current word is `name VALUE` or `name=VALUE`; sets args->val. A missing value
 * is a usage error (prints it, sets args->rc, still returns false). */
bool tool_arg_value(tool_args_t *args, const char *name);
/* Handles --brokers, --timeout-ms, --json, --verbose, --help/-h; true when consumed. */
bool tool_arg_common(tool_args_t *args, tool_opts_t *opts);
/* Prints "CMD: unknown option" or "unexpected argument" and sets args->rc. */
void tool_arg_unknown(tool_args_t *args);
/* Parses a decimal integer in [min, max]; prints a usage error naming `what` when it is not. */
bool tool_parse_i64(const tool_opts_t *opts, const char *what, const char *s, int64_t min,
                    int64_t max, int64_t *out);

/* Prints "CMD: message\n" to stderr; returns TOOL_EUSAGE or TOOL_EFAIL as asked. */
int tool_usage_error(const tool_opts_t *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int tool_fail(const tool_opts_t *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "CMD: what: ERROR_NAME: description" and returns TOOL_EFAIL. */
int tool_fail_kafka(const tool_opts_t *opts, const char *what, rd_kafka_resp_err_t err,
                    const char *detail);

/* One librdkafka handle plus the state its callbacks fill in. Heap-allocated so callbacks can
 * keep a stable pointer (it is the handle's opaque). */
typedef struct tool_client {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* admin results land here */
    const tool_opts_t *opts;
    bool brokers_down;      /* error_cb saw ALL_BROKERS_DOWN */
    char last_error[512];   /* last error_cb text, for the unreachable message */
    rd_kafka_resp_err_t admin_err; /* error of the last tool_admin_wait */
    void *user;             /* for the command (delivery reports) */
} tool_client_t;

/* Creates a client of the kit_rk preset for opts->brokers with timeouts from opts; `extra` is a
 * NULL-ended list of key, value pairs (may be NULL), applied after the user's -X settings;
 * `dr_cb` (may be NULL) gets delivery reports with the client as opaque, from
 * rd_kafka_poll/flush. A consumer is served by rd_kafka_consumer_poll. Does not connect.
 * Returns NULL after printing the error. Free with tool_client_free (which destroys the
 * handle, waiting at most a bounded time). */
typedef void tool_dr_cb_t(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
tool_client_t *tool_client_new(const tool_opts_t *opts, kit_rk_preset_t preset,
                               const char *const *extra, tool_dr_cb_t *dr_cb);
void tool_client_free(tool_client_t *cli);
/* Waits (at most opts->timeout_ms) until the cluster answers a metadata request. Fails fast
 * when every broker refused the connection. On success, *mdp (if not NULL) holds the metadata
 * of all topics (caller frees with rd_kafka_metadata_destroy). Returns TOOL_OK or TOOL_EFAIL
 * after printing "broker unreachable". */
int tool_client_connect(tool_client_t *cli, const rd_kafka_metadata_t **mdp);
/* Admin options with request (and operation) timeout set; caller destroys. */
rd_kafka_AdminOptions_t *tool_admin_options(tool_client_t *cli, rd_kafka_admin_op_t op);
/* Waits for the result event of `type` on cli->queue (bounded by the timeout plus slack).
 * Returns the event (caller destroys) only when it has no top-level error; otherwise prints
 * the error naming `what`, keeps it in cli->admin_err and returns NULL. */
rd_kafka_event_t *tool_admin_wait(tool_client_t *cli, rd_kafka_event_type_t type,
                                  const char *what);
/* Finds `topic` in md; NULL when absent. */
const rd_kafka_metadata_topic_t *tool_md_topic(const rd_kafka_metadata_t *md,
                                               const char *topic);

/* An aligned text table: columns as wide as their widest cell, two spaces apart. */
typedef struct tool_table tool_table_t;

/* Creates a table with `ncols` columns named by the following `ncols` strings. */
tool_table_t *tool_table_new(size_t ncols, ...);
/* Starts a new row; cells are appended with tool_table_cell in column order. */
void tool_table_row(tool_table_t *tbl);
void tool_table_cell(tool_table_t *tbl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the header and rows (missing cells print as empty) and frees nothing. */
void tool_table_print(const tool_table_t *tbl, FILE *f);
void tool_table_free(tool_table_t *tbl);

/* A JSON string from bytes (NULL ptr -> JSON null). Bytes that are not valid UTF-8 are
 * replaced by U+FFFD so the output stays valid JSON. Returns a new reference. */
json_t *tool_json_bytes(const void *ptr, size_t len);
/* Prints `root` on one line plus '\n' to stdout and drops the reference. */
void tool_json_print(json_t *root);

/* Set by SIGINT/SIGTERM (after tool_signals_install); every wait loop stops on it. */
extern volatile sig_atomic_t tool_stop_signal;
/* Installs SIGINT/SIGTERM handlers that set tool_stop_signal, and ignores SIGPIPE. */
void tool_signals_install(void);

#endif
