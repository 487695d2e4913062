/* sluice produce / sluice consume: line-oriented clients for scripts and terminals.
 * produce sends each stdin line as one record (acks=all), or with --json each line as
 * {"key":..., "value":..., "headers":{...}, "partition":N}; it fails (exit 1) when any record
 * was not acknowledged. consume prints values, or JSON lines with --json; it stops after
 * --max-messages records or --timeout-ms without a new record. */
#include "cli.h"
#include "sl_common.h"
#include "tool_common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Longest input line produce accepts (a record is bounded by message.max.bytes anyway). */
#define TOOL_LINE_BYTES_MAX (64u * 1024 * 1024)
/* Time flush may take beyond message.timeout.ms before produce gives up waiting. */
#define TOOL_FLUSH_SLACK_MS 5000

typedef struct tool__produce {
    tool_opts_t opts;
    const char *topic;
    const char *key;
    int64_t partition; /* -1: let the partitioner choose */
    bool json_in;
    const char *headers[TOOL_REPEAT_MAX]; /* "k=v" */
    size_t nheaders;
    size_t sent, delivered, failed;
    rd_kafka_resp_err_t first_err;
    bool gone; /* producing stopped because the broker went away */
} tool__produce_t;

static void tool__produce_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice produce TOPIC [--key KEY] [--header KEY=VALUE]... [--partition N]\n"
            "                            [--json] [options]   < lines\n"
            "\n"
            "Sends each line of stdin as one record (acks=all). With --json each line is an\n"
            "object {\"key\": ..., \"value\": ..., \"headers\": {...}, \"partition\": N}; all\n"
            "fields are optional, null key/value are Kafka nulls, non-string values are sent\n"
            "as their JSON text. --key/--header/--partition apply to every record (a JSON\n"
            "line's own fields win). Prints nothing on success; exits 1 if any record failed.\n"
            "TOPIC may also be given as --topic TOPIC, as kafka-console-producer takes it.\n"
            "\n"
            "options:\n"
            "  --brokers HOST:PORT[,...]  bootstrap brokers (default " TOOL_BROKERS_DEFAULT ");\n"
            "                             alias --bootstrap-server, as in Kafka's tools\n"
            "  --timeout-ms MS            delivery timeout per record (default 10000)\n"
            "  -X KEY=VALUE               a librdkafka client setting (security.protocol,\n"
            "                             sasl.*, ssl.*, ...); repeatable\n"
            "  --command-config FILE      client settings from a .properties file\n"
            "  --verbose                  print 'TOPIC PARTITION OFFSET' per delivered record\n"
            "  --help                     this text\n"
            "\n"
            "exit status: 0 ok, 1 broker or delivery error, 2 usage error\n");
}

static void tool__consume_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice consume TOPIC [--group GROUP] [--from-beginning] [--max-messages N]\n"
            "                            [--timeout-ms MS] [--json] [options]\n"
            "\n"
            "Prints each record's value on a line (null values print as 'null'), or with\n"
            "--json one object per line: {\"topic\", \"partition\", \"offset\", \"timestamp\",\n"
            "\"key\", \"value\", \"headers\"}. Without --group it reads every partition by\n"
            "manual assignment and commits nothing; with --group it joins the group and\n"
            "commits what it printed. New records only, unless --from-beginning (or the\n"
            "group has committed offsets). Stops after N records, or after --timeout-ms\n"
            "(default 10000) without a new record, or on SIGINT/SIGTERM. TOPIC may also be\n"
            "given as --topic TOPIC, as kafka-console-consumer takes it.\n"
            "\n"
            "options:\n"
            "  --brokers HOST:PORT[,...]  bootstrap brokers (default " TOOL_BROKERS_DEFAULT ");\n"
            "                             alias --bootstrap-server, as in Kafka's tools\n"
            "  --verbose                  librdkafka logs and a final count on stderr\n"
            "  --help                     this text\n"
            "\n"
            "exit status: 0 ok, 1 broker or Kafka error, 2 usage error\n");
}

static int64_t tool__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool tool__produce_opt(tool_args_t *args, tool__produce_t *pa)
{
    if (tool_arg_value(args, "--key")) {
        pa->key = args->val;
    } else if (tool_arg_value(args, "--partition")) {
        return tool_parse_i64(&pa->opts, "--partition", args->val, 0, INT32_MAX, &pa->partition);
    } else if (tool_arg_value(args, "--header")) {
        const char *eq = strchr(args->val, '=');
        if (!eq || eq == args->val || pa->nheaders == TOOL_REPEAT_MAX) {
            tool_usage_error(&pa->opts, "--header wants KEY=VALUE, got '%s'", args->val);
            return false;
        }
        pa->headers[pa->nheaders++] = args->val;
    } else {
        if (args->rc == 0) {
            tool_arg_unknown(args);
        }
        return false;
    }
    return true;
}

static void tool__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    SL_UNUSED(rk);
    tool_client_t *cli = opaque;
    tool__produce_t *pa = cli->user;
    if (msg->err) {
        if (pa->failed++ == 0) {
            pa->first_err = msg->err;
        }
        return;
    }
    pa->delivered++;
    if (pa->opts.verbose) {
        printf("%s %d %lld\n", rd_kafka_topic_name(msg->rkt), msg->partition,
               (long long)msg->offset);
    }
}

/* A record ready for rd_kafka_producev: pointers into the line or into `owned`. */
typedef struct tool__rec {
    const char *key, *value;
    size_t key_len, value_len;
    int32_t partition;
    rd_kafka_headers_t *hdrs; /* owned until produced */
    char *owned[2];           /* JSON texts of non-string key/value */
} tool__rec_t;

static void tool__rec_deinit(tool__rec_t *rec)
{
    if (rec->hdrs) {
        rd_kafka_headers_destroy(rec->hdrs);
    }
    free(rec->owned[0]);
    free(rec->owned[1]);
}

/* Sets the bytes (*ptr, *len) from a JSON field: string bytes, null -> NULL, else the compact JSON text. */
static void tool__rec_field(json_t *v, const char **ptr, size_t *len, char **owned)
{
    if (json_is_null(v)) {
        *ptr = NULL;
        *len = 0;
    } else if (json_is_string(v)) {
        *ptr = json_string_value(v);
        *len = json_string_length(v);
    } else {
        *owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        *ptr = *owned;
        *len = *owned ? strlen(*owned) : 0;
    }
}

/* Fills rec from a --json line (already parsed into obj). Returns NULL or an error text. */
static const char *tool__rec_from_json(tool__rec_t *rec, json_t *obj)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        if (strcmp(name, "key") == 0) {
            tool__rec_field(v, &rec->key, &rec->key_len, &rec->owned[0]);
        } else if (strcmp(name, "value") == 0) {
            tool__rec_field(v, &rec->value, &rec->value_len, &rec->owned[1]);
        } else if (strcmp(name, "partition") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX) {
                return "\"partition\" must be a non-negative integer";
            }
            rec->partition = (int32_t)json_integer_value(v);
        } else if (strcmp(name, "headers") == 0) {
            if (!json_is_object(v) && !json_is_null(v)) {
                return "\"headers\" must be an object of strings";
            }
            const char *hk;
            json_t *hv;
            json_object_foreach(v, hk, hv)
            {
                const char *p;
                size_t n;
                char *own = NULL;
                tool__rec_field(hv, &p, &n, &own);
                rd_kafka_header_add(rec->hdrs, hk, -1, p, (ssize_t)n);
                free(own);
            }
        } else {
            return "unknown field (want key, value, headers, partition)";
        }
    }
    return NULL;
}

/* Builds one record from a line; returns NULL or an error text for the line. */
static const char *tool__rec_init(tool__produce_t *pa, tool__rec_t *rec, char *line, size_t len,
                                  json_t **objp)
{
    memset(rec, 0, sizeof *rec);
    rec->key = pa->key;
    rec->key_len = pa->key ? strlen(pa->key) : 0;
    rec->value = line;
    rec->value_len = len;
    rec->partition = pa->partition < 0 ? RD_KAFKA_PARTITION_UA : (int32_t)pa->partition;
    rec->hdrs = rd_kafka_headers_new(pa->nheaders + 4);
    for (size_t i = 0; i < pa->nheaders; i++) {
        const char *eq = strchr(pa->headers[i], '=');
        rd_kafka_header_add(rec->hdrs, pa->headers[i], eq - pa->headers[i], eq + 1, -1);
    }
    if (!pa->json_in) {
        return NULL;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr);
    *objp = obj;
    if (!obj || !json_is_object(obj)) {
        return "not a JSON object";
    }
    rec->value = NULL;
    rec->value_len = 0;
    return tool__rec_from_json(rec, obj);
}

/* Hands one record to librdkafka, waiting (bounded) while its queue is full. */
static rd_kafka_resp_err_t tool__produce_one(tool__produce_t *pa, tool_client_t *cli,
                                             tool__rec_t *rec)
{
    int64_t deadline = tool__mono_ms() + pa->opts.timeout_ms;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            cli->rk, RD_KAFKA_V_TOPIC(pa->topic), RD_KAFKA_V_PARTITION(rec->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
            RD_KAFKA_V_KEY(rec->key, rec->key_len), RD_KAFKA_V_HEADERS(rec->hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rec->hdrs = NULL; /* now librdkafka's */
            pa->sent++;
            return err;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tool__mono_ms() > deadline ||
            tool_stop_signal) {
            return err;
        }
        rd_kafka_poll(cli->rk, 50);
    }
}

/* True when err is what librdkafka reports for records it could not send because the
 * connection is gone (queue full behind it, timed out in it, transport closed) and error_cb
 * saw the connection fail: the broker went away, which is what the user should read. */
static bool tool__broker_gone(const tool_client_t *cli, rd_kafka_resp_err_t err)
{
    bool lost = err == RD_KAFKA_RESP_ERR__QUEUE_FULL || err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    return lost && (cli->brokers_down || cli->last_error[0] != '\0');
}

/* The message for records cut off by a broker that went away, with the counts. */
static int tool__produce_gone(tool__produce_t *pa, const tool_client_t *cli)
{
    return tool_fail(&pa->opts,
                     "the broker at %s went away (%s): %zu of %zu records acknowledged, "
                     "the rest not written",
                     pa->opts.brokers, cli->last_error[0] ? cli->last_error : "all brokers down",
                     pa->delivered, pa->sent);
}

/* Reads stdin to the end (or the first bad line) and produces every line. */
static int tool__produce_lines(tool__produce_t *pa, tool_client_t *cli)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = TOOL_OK;
    for (size_t lineno = 1; rc == TOOL_OK && !tool_stop_signal &&
                            (n = getline(&line, &cap, stdin)) >= 0;
         lineno++) {
        size_t len = (size_t)n;
        len -= len > 0 && line[len - 1] == '\n';
        if (len > TOOL_LINE_BYTES_MAX) {
            rc = tool_fail(&pa->opts, "line %zu: longer than %u bytes", lineno,
                           TOOL_LINE_BYTES_MAX);
            break;
        }
        tool__rec_t rec;
        json_t *obj = NULL;
        const char *bad = tool__rec_init(pa, &rec, line, len, &obj);
        if (bad) {
            rc = tool_fail(&pa->opts, "line %zu: %s", lineno, bad);
        } else {
            rd_kafka_resp_err_t err = tool__produce_one(pa, cli, &rec);
            if (err && tool__broker_gone(cli, err)) {
                rc = TOOL_EFAIL; /* reported with the counts after the flush */
                pa->gone = true;
            } else if (err) {
                rc = tool_fail_kafka(&pa->opts, "produce", err, NULL);
            }
        }
        tool__rec_deinit(&rec);
        json_decref(obj);
        rd_kafka_poll(cli->rk, 0);
    }
    free(line);
    return rc;
}

static int tool__produce_run(tool__produce_t *pa)
{
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", pa->opts.timeout_ms);
    /* Set again after the user's -X settings, which do not override them: acks=all, and,
     * unlike the producer preset, not idempotent (as `sluice produce` always was). */
    const char *extra[] = {"acks", "all", "enable.idempotence", "false", "linger.ms", "5",
                           "message.timeout.ms", timeout, NULL};
    tool_client_t *cli = tool_client_new(&pa->opts, KIT_RK_PRODUCER, extra, tool__dr_cb);
    if (!cli) {
        return TOOL_EFAIL;
    }
    cli->user = pa;
    int rc = tool_client_connect(cli, NULL);
    if (rc == TOOL_OK) {
        rc = tool__produce_lines(pa, cli);
        rd_kafka_flush(cli->rk, pa->opts.timeout_ms + TOOL_FLUSH_SLACK_MS);
        size_t pending = pa->sent - pa->delivered - pa->failed;
        rd_kafka_poll(cli->rk, 0); /* serves error_cb */
        if (pa->gone || ((pa->failed > 0 || pending > 0) &&
                         tool__broker_gone(cli, pa->failed > 0 ? pa->first_err
                                                               : RD_KAFKA_RESP_ERR__TIMED_OUT))) {
            rc = tool__produce_gone(pa, cli);
        } else if (pa->failed > 0) {
            rc = tool_fail(&pa->opts, "%zu of %zu records failed: %s: %s", pa->failed, pa->sent,
                           rd_kafka_err2name(pa->first_err), rd_kafka_err2str(pa->first_err));
        } else if (pending > 0) {
            rc = tool_fail(&pa->opts, "%zu of %zu records not acknowledged in time: %s",
                           pending, pa->sent, rd_kafka_err2name(RD_KAFKA_RESP_ERR__TIMED_OUT));
        }
    }
    fflush(stdout);
    rd_kafka_purge(cli->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(cli->rk, 0);
    tool_client_free(cli);
    return rc;
}

int tool_produce(int argc, char **argv)
{
    tool__produce_t *pa = sl_xcalloc(1, sizeof *pa);
    tool_opts_init(&pa->opts, "sluice produce");
    pa->partition = -1;
    tool_args_t args;
    tool_args_init(&args, argc, argv, 1, &pa->opts);
    int rc = -1;
    while (rc < 0 && tool_args_more(&args)) {
        const char *word = argv[args.i];
        bool json_before = pa->opts.json;
        if (tool_arg_common(&args, &pa->opts)) {
            pa->json_in |= pa->opts.json && !json_before;
        } else if (word[0] != '-' && !pa->topic) {
            pa->topic = word;
            args.i++;
        } else if (tool_arg_value(&args, "--topic")) {
            pa->topic = args.val; /* kafka-console-producer's spelling */
        } else if (args.rc != 0) {
            rc = args.rc;
        } else if (!tool__produce_opt(&args, pa)) {
            rc = TOOL_EUSAGE;
        }
    }
    if (rc < 0 && args.rc) {
        rc = args.rc;
    } else if (rc < 0 && pa->opts.help) {
        tool__produce_usage(stdout);
        rc = TOOL_OK;
    } else if (rc < 0 && (!pa->topic || !pa->topic[0])) {
        rc = tool_usage_error(&pa->opts, "missing TOPIC (see --help)");
    }
    if (rc < 0) {
        tool_signals_install();
        rc = tool__produce_run(pa);
    }
    free(pa);
    return rc;
}

/* ---- consume --------------------------------------------------------------------------- */

typedef struct tool__consume {
    tool_opts_t opts;
    const char *topic;
    const char *group;
    bool from_beginning;
    int64_t max_messages; /* -1: no limit */
    int64_t consumed;
} tool__consume_t;

static void tool__print_json(const rd_kafka_message_t *msg)
{
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    json_t *hdrs = json_object();
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
            json_object_set_new(hdrs, name, tool_json_bytes(val, size));
        }
    }
    tool_json_print(json_pack("{s:s, s:i, s:I, s:o, s:o, s:o, s:o}", "topic",
                              rd_kafka_topic_name(msg->rkt), "partition", msg->partition,
                              "offset", (json_int_t)msg->offset, "timestamp",
                              ts >= 0 ? json_integer(ts) : json_null(), "key",
                              tool_json_bytes(msg->key, msg->key_len), "value",
                              tool_json_bytes(msg->payload, msg->len), "headers", hdrs));
}

static void tool__print_plain(const rd_kafka_message_t *msg)
{
    if (msg->payload) {
        fwrite(msg->payload, 1, msg->len, stdout);
    } else {
        fputs("null", stdout);
    }
    fputc('\n', stdout);
}

/* Polls until max_messages, the idle timeout, a signal, or an error. */
static int tool__consume_loop(tool__consume_t *ca, tool_client_t *cli)
{
    int64_t idle_deadline = tool__mono_ms() + ca->opts.timeout_ms;
    while (!tool_stop_signal && (ca->max_messages < 0 || ca->consumed < ca->max_messages)) {
        if (tool__mono_ms() > idle_deadline) {
            break;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(cli->rk, 100);
        if (!msg) {
            continue;
        }
        rd_kafka_resp_err_t err = msg->err;
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (err) {
            tool_fail_kafka(&ca->opts, "consume", err, rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            return TOOL_EFAIL;
        }
        if (ca->opts.json) {
            tool__print_json(msg);
        } else {
            tool__print_plain(msg);
        }
        ca->consumed++;
        idle_deadline = tool__mono_ms() + ca->opts.timeout_ms;
        rd_kafka_message_destroy(msg);
        if (ferror(stdout)) { /* reader went away (SIGPIPE is ignored) */
            return tool_fail(&ca->opts, "cannot write to stdout");
        }
    }
    return TOOL_OK;
}

/* Starts reading: assignment of every partition, or a group subscription. */
static int tool__consume_start(tool__consume_t *ca, tool_client_t *cli,
                               const rd_kafka_metadata_t *md)
{
    const rd_kafka_metadata_topic_t *mt = tool_md_topic(md, ca->topic);
    if (!mt || mt->err) {
        return tool_fail_kafka(&ca->opts, ca->topic,
                               mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                               mt ? NULL : "topic does not exist");
    }
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(SL_MAX(mt->partition_cnt, 1));
    rd_kafka_resp_err_t err;
    if (ca->group) {
        rd_kafka_topic_partition_list_add(parts, ca->topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(cli->rk, parts);
    } else {
        for (int i = 0; i < mt->partition_cnt; i++) {
            rd_kafka_topic_partition_list_add(parts, ca->topic, mt->partitions[i].id)->offset =
                ca->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        }
        err = rd_kafka_assign(cli->rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return err ? tool_fail_kafka(&ca->opts, ca->group ? "subscribe" : "assign", err, NULL)
               : TOOL_OK;
}

static int tool__consume_run(tool__consume_t *ca)
{
    char group[128];
    snprintf(group, sizeof group, "sluice-cli-%ld", (long)getpid());
    const char *extra[] = {"group.id", ca->group ? ca->group : group,
                           "enable.auto.commit", ca->group ? "true" : "false",
                           "auto.offset.reset", ca->from_beginning ? "earliest" : "latest",
                           "enable.partition.eof", "false", NULL};
    /* Unlike the consumer preset, --group commits automatically (and at the end, below). */
    tool_client_t *cli = tool_client_new(&ca->opts, KIT_RK_CONSUMER, extra, NULL);
    if (!cli) {
        return TOOL_EFAIL;
    }
    const rd_kafka_metadata_t *md = NULL;
    int rc = tool_client_connect(cli, &md);
    if (rc == TOOL_OK) {
        rc = tool__consume_start(ca, cli, md);
        rd_kafka_metadata_destroy(md);
    }
    if (rc == TOOL_OK) {
        rc = tool__consume_loop(ca, cli);
    }
    fflush(stdout);
    if (ca->group && ca->consumed > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(cli->rk, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && rc == TOOL_OK) {
            rc = tool_fail_kafka(&ca->opts, "commit", err, NULL);
        }
    }
    rd_kafka_consumer_close(cli->rk);
    if (ca->opts.verbose) {
        fprintf(stderr, "%s: consumed %lld records\n", ca->opts.cmd, (long long)ca->consumed);
    }
    tool_client_free(cli);
    return rc;
}

static bool tool__consume_opt(tool_args_t *args, tool__consume_t *ca)
{
    if (tool_arg_value(args, "--group")) {
        ca->group = args->val;
        if (!ca->group[0]) {
            tool_usage_error(&ca->opts, "--group wants a non-empty name");
            return false;
        }
    } else if (tool_arg_flag(args, "--from-beginning")) {
        ca->from_beginning = true;
    } else if (tool_arg_value(args, "--max-messages")) {
        return tool_parse_i64(&ca->opts, "--max-messages", args->val, 1, INT64_MAX,
                              &ca->max_messages);
    } else {
        if (args->rc == 0) {
            tool_arg_unknown(args);
        }
        return false;
    }
    return true;
}

int tool_consume(int argc, char **argv)
{
    tool__consume_t ca = {.max_messages = -1};
    tool_opts_init(&ca.opts, "sluice consume");
    tool_args_t args;
    tool_args_init(&args, argc, argv, 1, &ca.opts);
    while (tool_args_more(&args)) {
        const char *word = argv[args.i];
        if (tool_arg_common(&args, &ca.opts)) {
            continue;
        }
        if (word[0] != '-' && !ca.topic) {
            ca.topic = word;
            args.i++;
        } else if (tool_arg_value(&args, "--topic")) {
            ca.topic = args.val; /* kafka-console-consumer's spelling */
        } else if (args.rc != 0) {
            return args.rc;
        } else if (!tool__consume_opt(&args, &ca)) {
            return TOOL_EUSAGE;
        }
    }
    if (args.rc) {
        return args.rc;
    }
    if (ca.opts.help) {
        tool__consume_usage(stdout);
        return TOOL_OK;
    }
    if (!ca.topic || !ca.topic[0]) {
        return tool_usage_error(&ca.opts, "missing TOPIC (see --help)");
    }
    tool_signals_install();
    return tool__consume_run(&ca);
}
