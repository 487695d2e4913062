/* Shared pieces of the operator tools: argument walking, the librdkafka client (config,
 * callbacks, a fail-fast connect check, bounded admin waits), error messages carrying Kafka
 * error names, aligned tables and JSON helpers. See tool_common.h for the contracts. */
#include "tool_common.h"

#include "kit_rk.h"
#include "sl_props.h"

#include "sl_common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Slice of every wait loop, so callbacks and the stop flag are looked at often. */
#define TOOL_POLL_SLICE_MS 100
/* Extra time an admin wait allows beyond the request timeout (librdkafka times out first). */
#define TOOL_ADMIN_SLACK_MS 2000
/* Table bounds: columns per table and rows (bigger outputs are cut with a note). */
#define TOOL_TABLE_COLS_MAX 16
#define TOOL_TABLE_ROWS_MAX 1000000

volatile sig_atomic_t tool_stop_signal;

/* Client settings from -X key=value and --command-config FILE (librdkafka property names, as
 * kcat and Kafka's tools take them), applied to every client a command makes. One per
 * process, freed at exit. */
static sl_props_t *tool__settings;

static void tool__settings_free(void)
{
    sl_props_free(tool__settings);
}

static sl_props_t *tool__settings_get(void)
{
    if (!tool__settings) {
        tool__settings = sl_props_new();
        atexit(tool__settings_free);
    }
    return tool__settings;
}

void tool_opts_init(tool_opts_t *opts, const char *cmd)
{
    memset(opts, 0, sizeof *opts);
    opts->cmd = cmd;
    opts->brokers = TOOL_BROKERS_DEFAULT;
    opts->timeout_ms = TOOL_TIMEOUT_MS_DEFAULT;
}

void tool_args_init(tool_args_t *args, int argc, char **argv, int first, const tool_opts_t *opts)
{
    memset(args, 0, sizeof *args);
    args->argc = argc;
    args->argv = argv;
    args->i = first;
    args->opts = opts;
}

bool tool_args_more(const tool_args_t *args)
{
    return args->rc == 0 && args->i < args->argc;
}

bool tool_arg_flag(tool_args_t *args, const char *name)
{
    if (strcmp(args->argv[args->i], name) != 0) {
        return false;
    }
    args->i++;
    return true;
}

bool tool_arg_value(tool_args_t *args, const char *name)
{
    const char *word = args->argv[args->i];
    size_t n = strlen(name);
    if (strncmp(word, name, n) != 0) {
        return false;
    }
    if (word[n] == '=') {
        args->val = word + n + 1;
        args->i++;
        return true;
    }
    if (word[n] != '\0') {
        return false;
    }
    if (args->i + 1 >= args->argc) {
        args->rc = tool_usage_error(args->opts, "%s needs a value (see --help)", name);
        return false;
    }
    args->val = args->argv[args->i + 1];
    args->i += 2;
    return true;
}

bool tool_arg_common(tool_args_t *args, tool_opts_t *opts)
{
    if (tool_arg_flag(args, "--help") || tool_arg_flag(args, "-h")) {
        opts->help = true;
    } else if (tool_arg_flag(args, "--json")) {
        opts->json = true;
    } else if (tool_arg_flag(args, "--verbose") || tool_arg_flag(args, "-v")) {
        opts->verbose = true;
    } else if (tool_arg_value(args, "--brokers") || tool_arg_value(args, "--bootstrap-server")) {
        opts->brokers = args->val;
        if (opts->brokers[0] == '\0') {
            args->rc = tool_usage_error(opts, "--brokers wants HOST:PORT[,HOST:PORT...]");
        }
    } else if (tool_arg_value(args, "-X")) {
        if (sl_props_set_kv(tool__settings_get(), args->val) != 0) {
            args->rc = tool_usage_error(opts, "-X wants key=value, got '%s'", args->val);
        }
    } else if (tool_arg_value(args, "--command-config")) {
        char err[512];
        if (sl_props_load(tool__settings_get(), args->val, err, sizeof err) != 0) {
            args->rc = tool_usage_error(opts, "--command-config: %s", err);
        }
    } else if (tool_arg_value(args, "--timeout-ms")) {
        int64_t v;
        if (!tool_parse_i64(opts, "--timeout-ms", args->val, 1, TOOL_TIMEOUT_MS_MAX, &v)) {
            args->rc = TOOL_EUSAGE;
        }
        opts->timeout_ms = (int)v;
    } else {
        return false;
    }
    return true;
}

void tool_arg_unknown(tool_args_t *args)
{
    const char *word = args->argv[args->i];
    if (word[0] == '-' && word[1] != '\0') {
        args->rc = tool_usage_error(args->opts, "unknown option '%s' (see --help)", word);
    } else {
        args->rc = tool_usage_error(args->opts, "unexpected argument '%s' (see --help)", word);
    }
}

bool tool_parse_i64(const tool_opts_t *opts, const char *what, const char *s, int64_t min,
                    int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        tool_usage_error(opts, "%s wants an integer in [%lld, %lld], got '%s'", what,
                         (long long)min, (long long)max, s);
        *out = min;
        return false;
    }
    *out = v;
    return true;
}

static int tool__vreport(const tool_opts_t *opts, int rc, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", opts->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return rc;
}

int tool_usage_error(const tool_opts_t *opts, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tool__vreport(opts, TOOL_EUSAGE, fmt, ap);
    va_end(ap);
    return rc;
}

int tool_fail(const tool_opts_t *opts, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tool__vreport(opts, TOOL_EFAIL, fmt, ap);
    va_end(ap);
    return rc;
}

int tool_fail_kafka(const tool_opts_t *opts, const char *what, rd_kafka_resp_err_t err,
                    const char *detail)
{
    const char *desc = detail && detail[0] ? detail : rd_kafka_err2str(err);
    return tool_fail(opts, "%s: %s: %s", what, rd_kafka_err2name(err), desc);
}

/* ---- client ---------------------------------------------------------------------------- */

static void tool__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    SL_UNUSED(rk);
    tool_client_t *cli = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        cli->brokers_down = true;
        return; /* keep the more telling connect error that came before */
    }
    snprintf(cli->last_error, sizeof cli->last_error, "%s", reason);
}

static void tool__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const tool_client_t *cli = rd_kafka_opaque(rk);
    if (cli && cli->opts->verbose) {
        fprintf(stderr, "librdkafka %d %s: %s\n", level, fac, buf);
    }
}

/* The kit_rk preset for the command, then the tools' own settings, the user's -X and
 * --command-config settings, then the command's `extra` (which the user's do not override). */
static rd_kafka_conf_t *tool__conf_new(tool_client_t *cli, kit_rk_preset_t preset,
                                       const char *const *extra)
{
    const tool_opts_t *opts = cli->opts;
    char timeout[32], err[1024];
    snprintf(timeout, sizeof timeout, "%d", opts->timeout_ms < 10 ? 10 : opts->timeout_ms);
    /* Unlike the consumer preset, a consumer stores offsets as records are consumed
     * (librdkafka's default; before the user's settings): `consume --group` commits them. The
     * NULL key ends the list for the other presets. */
    const char *own[] = {"socket.timeout.ms", timeout, "reconnect.backoff.max.ms", "1000",
                         "log.connection.close", "false",
                         preset == KIT_RK_CONSUMER ? "enable.auto.offset.store" : NULL, "true",
                         NULL};
    kit_rk_opts_t ko = {preset, opts->brokers, "sluice-cli", own, NULL, NULL};
    rd_kafka_conf_t *conf;
    int rc = kit_rk_conf_new(&ko, &conf, err, sizeof err);
    for (size_t i = 0; rc == 0 && tool__settings && i < sl_props_count(tool__settings); i++) {
        const char *kv[3] = {NULL, NULL, NULL};
        sl_props_at(tool__settings, i, &kv[0], &kv[1]);
        rc = kit_rk_conf_set(conf, kv, err, sizeof err);
    }
    rc = rc ? rc : kit_rk_conf_set(conf, extra, err, sizeof err);
    if (rc != 0) {
        if (conf) {
            rd_kafka_conf_destroy(conf);
        }
        tool_fail(opts, "%s", err);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, cli);
    rd_kafka_conf_set_error_cb(conf, tool__error_cb);
    rd_kafka_conf_set_log_cb(conf, tool__log_cb);
    return conf;
}

tool_client_t *tool_client_new(const tool_opts_t *opts, kit_rk_preset_t preset,
                               const char *const *extra, tool_dr_cb_t *dr_cb)
{
    tool_client_t *cli = sl_xcalloc(1, sizeof *cli);
    cli->opts = opts;
    rd_kafka_conf_t *conf = tool__conf_new(cli, preset, extra);
    if (!conf) {
        free(cli);
        return NULL;
    }
    if (dr_cb) {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    }
    char err[1024];
    cli->rk = kit_rk_new(preset, conf, err, sizeof err);
    if (!cli->rk) {
        tool_fail(opts, "%s", err);
        free(cli);
        return NULL;
    }
    cli->queue = rd_kafka_queue_new(cli->rk);
    return cli;
}

void tool_client_free(tool_client_t *cli)
{
    if (!cli) {
        return;
    }
    rd_kafka_queue_destroy(cli->queue);
    rd_kafka_destroy_flags(cli->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    free(cli);
}

static int64_t tool__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tool_client_connect(tool_client_t *cli, const rd_kafka_metadata_t **mdp)
{
    int64_t deadline = tool__now_ms() + cli->opts->timeout_ms;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (!tool_stop_signal) {
        int64_t left = deadline - tool__now_ms();
        if (left <= 0 || cli->brokers_down) {
            break;
        }
        const rd_kafka_metadata_t *md = NULL;
        err = rd_kafka_metadata(cli->rk, 1, NULL, &md,
                                (int)SL_MIN(left, (int64_t)TOOL_POLL_SLICE_MS * 3));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (mdp) {
                *mdp = md;
            } else {
                rd_kafka_metadata_destroy(md);
            }
            return TOOL_OK;
        }
        rd_kafka_poll(cli->rk, 0); /* serves error_cb */
    }
    const char *why = cli->last_error[0] ? cli->last_error : rd_kafka_err2str(err);
    return tool_fail(cli->opts, "broker unreachable at %s: %s: %s", cli->opts->brokers,
                     rd_kafka_err2name(cli->brokers_down ? RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
                                                         : err),
                     why);
}

rd_kafka_AdminOptions_t *tool_admin_options(tool_client_t *cli, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *aopts = rd_kafka_AdminOptions_new(cli->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(aopts, cli->opts->timeout_ms, errstr,
                                              sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS) {
        rd_kafka_AdminOptions_set_operation_timeout(aopts, cli->opts->timeout_ms, errstr,
                                                    sizeof errstr);
    }
    return aopts;
}

rd_kafka_event_t *tool_admin_wait(tool_client_t *cli, rd_kafka_event_type_t type,
                                  const char *what)
{
    int64_t deadline = tool__now_ms() + cli->opts->timeout_ms + TOOL_ADMIN_SLACK_MS;
    rd_kafka_event_t *ev = NULL;
    cli->admin_err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (!ev && !tool_stop_signal && tool__now_ms() < deadline) {
        ev = rd_kafka_queue_poll(cli->queue, TOOL_POLL_SLICE_MS);
        rd_kafka_poll(cli->rk, 0);
        if (ev && rd_kafka_event_type(ev) != type) {
            rd_kafka_event_destroy(ev); /* not ours (cannot happen on a private queue) */
            ev = NULL;
        }
    }
    if (!ev) {
        tool_fail_kafka(cli->opts, what, RD_KAFKA_RESP_ERR__TIMED_OUT,
                        tool_stop_signal ? "interrupted" : "no answer in time");
        return NULL;
    }
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    cli->admin_err = err;
    if (err) {
        tool_fail_kafka(cli->opts, what, err, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

const rd_kafka_metadata_topic_t *tool_md_topic(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0) {
            return &md->topics[i];
        }
    }
    return NULL;
}

/* ---- tables ---------------------------------------------------------------------------- */

struct tool_table {
    size_t ncols;
    size_t nrows; /* rows including the header row 0 */
    size_t cap;
    size_t filled; /* cells in the last row */
    char **cells;  /* nrows * ncols, row-major; NULL = empty */
};

tool_table_t *tool_table_new(size_t ncols, ...)
{
    SL_ASSERT(ncols > 0 && ncols <= TOOL_TABLE_COLS_MAX);
    tool_table_t *tbl = sl_xcalloc(1, sizeof *tbl);
    tbl->ncols = ncols;
    tool_table_row(tbl);
    va_list ap;
    va_start(ap, ncols);
    for (size_t c = 0; c < ncols; c++) {
        tool_table_cell(tbl, "%s", va_arg(ap, const char *));
    }
    va_end(ap);
    return tbl;
}

void tool_table_row(tool_table_t *tbl)
{
    SL_ASSERT(tbl->nrows < TOOL_TABLE_ROWS_MAX);
    if (tbl->nrows == tbl->cap) {
        tbl->cap = tbl->cap ? tbl->cap * 2 : 16;
        tbl->cells = sl_xrealloc(tbl->cells, tbl->cap * tbl->ncols * sizeof(char *));
    }
    memset(&tbl->cells[tbl->nrows * tbl->ncols], 0, tbl->ncols * sizeof(char *));
    tbl->nrows++;
    tbl->filled = 0;
}

void tool_table_cell(tool_table_t *tbl, const char *fmt, ...)
{
    SL_ASSERT(tbl->filled < tbl->ncols);
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = sl_xstrdup("?");
    }
    va_end(ap);
    tbl->cells[(tbl->nrows - 1) * tbl->ncols + tbl->filled++] = s;
}

void tool_table_print(const tool_table_t *tbl, FILE *f)
{
    size_t width[TOOL_TABLE_COLS_MAX] = {0};
    for (size_t i = 0; i < tbl->nrows * tbl->ncols; i++) {
        const char *s = tbl->cells[i];
        size_t n = s ? strlen(s) : 0;
        width[i % tbl->ncols] = SL_MAX(width[i % tbl->ncols], n);
    }
    for (size_t r = 0; r < tbl->nrows; r++) {
        for (size_t c = 0; c < tbl->ncols; c++) {
            const char *s = tbl->cells[r * tbl->ncols + c];
            bool last = c + 1 == tbl->ncols;
            fprintf(f, "%-*s%s", last ? 0 : (int)width[c], s ? s : "", last ? "\n" : "  ");
        }
    }
}

void tool_table_free(tool_table_t *tbl)
{
    if (!tbl) {
        return;
    }
    for (size_t i = 0; i < tbl->nrows * tbl->ncols; i++) {
        free(tbl->cells[i]);
    }
    free(tbl->cells);
    free(tbl);
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when invalid. */
static size_t tool__utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3
                                 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

json_t *tool_json_bytes(const void *ptr, size_t len)
{
    if (!ptr) {
        return json_null();
    }
    json_t *s = json_stringn(ptr, len);
    if (s) {
        return s;
    }
    /* Not valid UTF-8 (or overlong/surrogate forms jansson rejects): replace bad bytes. */
    const unsigned char *p = ptr;
    char *out = sl_xmalloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = tool__utf8_len(p + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        }
    }
    s = json_stringn(out, o);
    free(out);
    return s ? s : json_string("");
}

void tool_json_print(json_t *root)
{
    json_dumpf(root, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(root);
}

static void tool__on_signal(int sig)
{
    tool_stop_signal = sig;
}

void tool_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tool__on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
