/* sluice topics list|describe|create|delete|alter: topic administration through librdkafka's
 * Admin API (Metadata, CreateTopics, DeleteTopics, DescribeConfigs, AlterConfigs).
 * librdkafka 2.0.2 has no IncrementalAlterConfigs, so `alter` reads the topic's dynamic configs
 * and writes the whole set back with AlterConfigs; a broker that does not advertise
 * AlterConfigs (API key 33; Sluice implements it, v0-2) gets a clear error. */
#include "cli.h"
#include "sl_common.h"
#include "tool_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct tool__topics {
    tool_opts_t opts;
    const char *sub;
    const char *topic;
    int64_t partitions;
    int64_t replication;
    const char *set[TOOL_REPEAT_MAX]; /* "k=v" */
    size_t nset;
    const char *del[TOOL_REPEAT_MAX]; /* "k" */
    size_t ndel;
} tool__topics_t;

static void tool__topics_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice topics list [options]\n"
            "       sluice topics describe TOPIC [options]\n"
            "       sluice topics create TOPIC [--partitions N] [--replication-factor N]\n"
            "                                  [--config KEY=VALUE]... [options]\n"
            "       sluice topics delete TOPIC [options]\n"
            "       sluice topics alter TOPIC [--config KEY=VALUE]... [--delete-config KEY]...\n"
            "\n"
            "Lists, describes, creates, deletes and reconfigures topics. TOPIC may also be\n"
            "given as --topic TOPIC, as kafka-topics takes it.\n"
            "create uses the broker's num.partitions / default.replication.factor when the\n"
            "counts are not given. alter reads the topic's dynamic configs and writes the\n"
            "whole set back with AlterConfigs (Sluice and Apache Kafka support it; librdkafka\n"
            "2.0.2 cannot send IncrementalAlterConfigs).\n"
            "\n"
            "options:\n"
            "  --brokers HOST:PORT[,...]  bootstrap brokers (default " TOOL_BROKERS_DEFAULT ");\n"
            "                             alias --bootstrap-server, as in Kafka's tools\n"
            "  --timeout-ms MS            per-request timeout (default 10000)\n"
            "  -X KEY=VALUE               a librdkafka client setting (security.protocol,\n"
            "                             sasl.*, ssl.*, ...); repeatable\n"
            "  --command-config FILE      client settings from a .properties file\n"
            "  --json                     one JSON document on stdout instead of a table\n"
            "  --verbose                  librdkafka logs on stderr\n"
            "  --help                     this text\n"
            "\n"
            "exit status: 0 ok, 1 broker or Kafka error, 2 usage error\n");
}

static bool tool__topics_opt(tool_args_t *args, tool__topics_t *ta)
{
    bool create = strcmp(ta->sub, "create") == 0, alter = strcmp(ta->sub, "alter") == 0;
    if (create && tool_arg_value(args, "--partitions")) {
        return tool_parse_i64(&ta->opts, "--partitions", args->val, 1, 1000000, &ta->partitions);
    }
    if (create && tool_arg_value(args, "--replication-factor")) {
        return tool_parse_i64(&ta->opts, "--replication-factor", args->val, 1, 32767,
                              &ta->replication);
    }
    if ((create || alter) && tool_arg_value(args, "--config")) {
        const char *eq = strchr(args->val, '=');
        if (!eq || eq == args->val || ta->nset == TOOL_REPEAT_MAX) {
            tool_usage_error(&ta->opts, "--config wants KEY=VALUE, got '%s'", args->val);
            return false;
        }
        ta->set[ta->nset++] = args->val;
        return true;
    }
    if (alter && tool_arg_value(args, "--delete-config")) {
        if (args->val[0] == '\0' || ta->ndel == TOOL_REPEAT_MAX) {
            tool_usage_error(&ta->opts, "--delete-config wants a KEY");
            return false;
        }
        ta->del[ta->ndel++] = args->val;
        return true;
    }
    if (args->rc == 0) {
        tool_arg_unknown(args);
    }
    return false;
}

/* Parses argv (argv[0] is the subcommand). Returns TOOL_OK, or an exit code to return. */
static int tool__topics_parse(tool__topics_t *ta, int argc, char **argv)
{
    tool_args_t args;
    tool_args_init(&args, argc, argv, 1, &ta->opts);
    ta->partitions = -1;
    ta->replication = -1;
    while (tool_args_more(&args)) {
        const char *word = argv[args.i];
        if (tool_arg_common(&args, &ta->opts)) {
            continue;
        }
        bool list = strcmp(ta->sub, "list") == 0;
        if (word[0] != '-' && !ta->topic && !list) {
            ta->topic = word;
            args.i++;
        } else if (!list && tool_arg_value(&args, "--topic")) {
            ta->topic = args.val; /* kafka-topics' spelling */
        } else if (args.rc != 0) {
            return args.rc;
        } else if (!tool__topics_opt(&args, ta)) {
            return TOOL_EUSAGE;
        }
    }
    if (args.rc != 0) {
        return args.rc;
    }
    if (ta->opts.help) {
        tool__topics_usage(stdout);
        return TOOL_OK;
    }
    if (strcmp(ta->sub, "list") != 0 && (!ta->topic || ta->topic[0] == '\0')) {
        return tool_usage_error(&ta->opts, "missing TOPIC (see --help)");
    }
    if (strcmp(ta->sub, "alter") == 0 && ta->nset + ta->ndel == 0) {
        return tool_usage_error(&ta->opts, "alter needs --config KEY=VALUE or --delete-config");
    }
    return -1;
}

static int tool__cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int tool__topics_list(tool__topics_t *ta, tool_client_t *cli,
                             const rd_kafka_metadata_t *md)
{
    SL_UNUSED(cli);
    const char **names = sl_xcalloc((size_t)md->topic_cnt + 1, sizeof *names);
    for (int i = 0; i < md->topic_cnt; i++) {
        names[i] = md->topics[i].topic;
    }
    qsort(names, (size_t)md->topic_cnt, sizeof *names, tool__cmp_str);
    json_t *arr = json_array();
    tool_table_t *tbl = tool_table_new(2, "TOPIC", "PARTITIONS");
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *mt = tool_md_topic(md, names[i]);
        json_array_append_new(arr, json_pack("{s:s, s:i}", "name", mt->topic, "partitions",
                                             mt->partition_cnt));
        tool_table_row(tbl);
        tool_table_cell(tbl, "%s", mt->topic);
        tool_table_cell(tbl, "%d", mt->partition_cnt);
    }
    if (ta->opts.json) {
        tool_json_print(arr);
    } else {
        json_decref(arr);
        tool_table_print(tbl, stdout);
    }
    tool_table_free(tbl);
    free(names);
    return TOOL_OK;
}

/* Reads the dynamic (per-topic, non-default) configs of `topic` into *out (a new JSON object
 * of name -> value). Returns TOOL_OK or TOOL_EFAIL after printing the error. */
static int tool__topic_configs(tool_client_t *cli, const char *topic, json_t **out)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(cli->rk, &res, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev =
        tool_admin_wait(cli, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describe configs");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &nres);
    int rc = TOOL_OK;
    if (nres != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        rd_kafka_resp_err_t err = nres == 1 ? rd_kafka_ConfigResource_error(rs[0])
                                            : RD_KAFKA_RESP_ERR__BAD_MSG;
        rc = tool_fail_kafka(cli->opts, "describe configs", err,
                             nres == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : NULL);
    } else {
        json_t *cfg = json_object();
        size_t nent = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[0], &nent);
        for (size_t i = 0; i < nent; i++) {
            const char *value = rd_kafka_ConfigEntry_value(ents[i]);
            if (rd_kafka_ConfigEntry_source(ents[i]) ==
                    RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
                value) {
                json_object_set_new(cfg, rd_kafka_ConfigEntry_name(ents[i]),
                                    json_string(value));
            }
        }
        *out = cfg;
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static json_t *tool__int_array(const int32_t *v, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, json_integer(v[i]));
    }
    return arr;
}

static void tool__int_list(char *buf, size_t size, const int32_t *v, int n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && off < size; i++) {
        off += (size_t)snprintf(buf + off, size - off, "%s%d", i ? "," : "", v[i]);
    }
}

static void tool__describe_print(const tool__topics_t *ta, const rd_kafka_metadata_topic_t *mt,
                                 json_t *root)
{
    json_t *parts = json_object_get(root, "partitions");
    json_t *cfg = json_object_get(root, "configs");
    const char *key;
    json_t *val;
    printf("Topic: %s  Partitions: %d  Configs:", mt->topic, mt->partition_cnt);
    bool first = true;
    json_object_foreach(cfg, key, val)
    {
        printf("%s%s=%s", first ? " " : ",", key, json_string_value(val));
        first = false;
    }
    printf("%s\n", first ? " (none)" : "");
    tool_table_t *tbl =
        tool_table_new(6, "PARTITION", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST");
    for (int i = 0; i < mt->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *mp = &mt->partitions[i];
        json_t *jp = json_array_get(parts, (size_t)i);
        char reps[256], isr[256];
        tool__int_list(reps, sizeof reps, mp->replicas, mp->replica_cnt);
        tool__int_list(isr, sizeof isr, mp->isrs, mp->isr_cnt);
        tool_table_row(tbl);
        tool_table_cell(tbl, "%d", mp->id);
        tool_table_cell(tbl, "%d", mp->leader);
        tool_table_cell(tbl, "%s", reps);
        tool_table_cell(tbl, "%s", isr);
        tool_table_cell(tbl, "%lld", (long long)json_integer_value(json_object_get(jp, "earliest")));
        tool_table_cell(tbl, "%lld", (long long)json_integer_value(json_object_get(jp, "latest")));
    }
    SL_UNUSED(ta);
    tool_table_print(tbl, stdout);
    tool_table_free(tbl);
}

static int tool__topics_describe(tool__topics_t *ta, tool_client_t *cli,
                                 const rd_kafka_metadata_t *md)
{
    const rd_kafka_metadata_topic_t *mt = tool_md_topic(md, ta->topic);
    if (!mt || mt->err) {
        return tool_fail_kafka(&ta->opts, ta->topic,
                               mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                               mt ? NULL : "topic does not exist");
    }
    json_t *cfg = NULL;
    if (tool__topic_configs(cli, ta->topic, &cfg) != TOOL_OK) {
        return TOOL_EFAIL;
    }
    json_t *parts = json_array();
    int rc = TOOL_OK;
    for (int i = 0; i < mt->partition_cnt && rc == TOOL_OK; i++) {
        const rd_kafka_metadata_partition_t *mp = &mt->partitions[i];
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            cli->rk, ta->topic, mp->id, &lo, &hi, ta->opts.timeout_ms);
        if (err) {
            rc = tool_fail_kafka(&ta->opts, "query offsets", err, NULL);
        }
        json_array_append_new(
            parts, json_pack("{s:i, s:i, s:o, s:o, s:I, s:I}", "partition", mp->id, "leader",
                             mp->leader, "replicas", tool__int_array(mp->replicas, mp->replica_cnt),
                             "isr", tool__int_array(mp->isrs, mp->isr_cnt), "earliest",
                             (json_int_t)lo, "latest", (json_int_t)hi));
    }
    json_t *root = json_pack("{s:s, s:o, s:o}", "name", mt->topic, "partitions", parts,
                             "configs", cfg);
    if (rc == TOOL_OK && ta->opts.json) {
        tool_json_print(json_incref(root));
    } else if (rc == TOOL_OK) {
        tool__describe_print(ta, mt, root);
    }
    json_decref(root);
    return rc;
}

/* The end of a one-topic create or delete: its error (res NULL: the answer named no topic,
 * taken as done, as before), else {"<key>": topic, "result": "ok"} or "<Past> topic T.". */
static int tool__topic_done(tool__topics_t *ta, const rd_kafka_topic_result_t *res,
                            const char *key, const char *past)
{
    if (res && rd_kafka_topic_result_error(res)) {
        return tool_fail_kafka(&ta->opts, ta->topic, rd_kafka_topic_result_error(res),
                               rd_kafka_topic_result_error_string(res));
    }
    if (ta->opts.json) {
        tool_json_print(json_pack("{s:s, s:s}", key, ta->topic, "result", "ok"));
    } else {
        printf("%s topic %s.\n", past, ta->topic);
    }
    return TOOL_OK;
}

static int tool__topics_create(tool__topics_t *ta, tool_client_t *cli)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(ta->topic, (int)ta->partitions,
                                                    (int)ta->replication, errstr, sizeof errstr);
    if (!nt) {
        return tool_usage_error(&ta->opts, "%s", errstr);
    }
    for (size_t i = 0; i < ta->nset; i++) {
        char *kv = sl_xstrdup(ta->set[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        rd_kafka_NewTopic_set_config(nt, kv, eq + 1);
        free(kv);
    }
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(cli->rk, &nt, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "create");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    int rc = tool__topic_done(ta, n == 1 ? res[0] : NULL, "created", "Created");
    rd_kafka_event_destroy(ev);
    return rc;
}

static int tool__topics_delete(tool__topics_t *ta, tool_client_t *cli)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(ta->topic);
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(cli->rk, &dt, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "delete");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    int rc = tool__topic_done(ta, n == 1 ? res[0] : NULL, "deleted", "Deleted");
    rd_kafka_event_destroy(ev);
    return rc;
}

/* Applies --config/--delete-config to the current dynamic configs and builds the resource
 * that AlterConfigs replaces the topic's whole dynamic config set with. */
static rd_kafka_ConfigResource_t *tool__alter_resource(const tool__topics_t *ta, json_t *cfg)
{
    for (size_t i = 0; i < ta->nset; i++) {
        const char *eq = strchr(ta->set[i], '=');
        char *key = sl_xstrndup(ta->set[i], (size_t)(eq - ta->set[i]));
        json_object_set_new(cfg, key, json_string(eq + 1));
        free(key);
    }
    for (size_t i = 0; i < ta->ndel; i++) {
        json_object_del(cfg, ta->del[i]);
    }
    rd_kafka_ConfigResource_t *res =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, ta->topic);
    const char *key;
    json_t *val;
    json_object_foreach(cfg, key, val)
    {
        rd_kafka_ConfigResource_set_config(res, key, json_string_value(val));
    }
    return res;
}

static int tool__alter_result(tool__topics_t *ta, rd_kafka_event_t *ev)
{
    size_t n = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    if (n == 1 && rd_kafka_ConfigResource_error(rs[0])) {
        return tool_fail_kafka(&ta->opts, ta->topic, rd_kafka_ConfigResource_error(rs[0]),
                               rd_kafka_ConfigResource_error_string(rs[0]));
    }
    if (ta->opts.json) {
        tool_json_print(json_pack("{s:s, s:s}", "altered", ta->topic, "result", "ok"));
    } else {
        printf("Altered configs of topic %s.\n", ta->topic);
    }
    return TOOL_OK;
}

static int tool__topics_alter(tool__topics_t *ta, tool_client_t *cli,
                              const rd_kafka_metadata_t *md)
{
    const rd_kafka_metadata_topic_t *mt = tool_md_topic(md, ta->topic);
    if (!mt || mt->err) {
        return tool_fail_kafka(&ta->opts, ta->topic,
                               mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                               mt ? NULL : "topic does not exist");
    }
    json_t *cfg = NULL;
    if (tool__topic_configs(cli, ta->topic, &cfg) != TOOL_OK) {
        return TOOL_EFAIL;
    }
    rd_kafka_ConfigResource_t *res = tool__alter_resource(ta, cfg);
    json_decref(cfg);
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(cli->rk, &res, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "alter");
    if (!ev && cli->admin_err != RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE &&
        cli->admin_err != RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION) {
        return TOOL_EFAIL;
    }
    if (!ev) {
        /* librdkafka refuses locally when the broker does not advertise AlterConfigs. */
        fprintf(stderr,
                "%s: the broker does not accept AlterConfigs (API key 33) and librdkafka "
                "%s has no IncrementalAlterConfigs, so topic configs cannot be altered with "
                "this tool here; set them at create time (--config) instead\n",
                ta->opts.cmd, rd_kafka_version_str());
        return TOOL_EFAIL;
    }
    int rc = tool__alter_result(ta, ev);
    rd_kafka_event_destroy(ev);
    return rc;
}

static int tool__topics_run(tool__topics_t *ta)
{
    tool_client_t *cli = tool_client_new(&ta->opts, KIT_RK_ADMIN, NULL, NULL);
    if (!cli) {
        return TOOL_EFAIL;
    }
    const rd_kafka_metadata_t *md = NULL;
    int rc = tool_client_connect(cli, &md);
    if (rc == TOOL_OK) {
        if (strcmp(ta->sub, "list") == 0) {
            rc = tool__topics_list(ta, cli, md);
        } else if (strcmp(ta->sub, "describe") == 0) {
            rc = tool__topics_describe(ta, cli, md);
        } else if (strcmp(ta->sub, "create") == 0) {
            rc = tool__topics_create(ta, cli);
        } else if (strcmp(ta->sub, "delete") == 0) {
            rc = tool__topics_delete(ta, cli);
        } else {
            rc = tool__topics_alter(ta, cli, md);
        }
        rd_kafka_metadata_destroy(md);
    }
    tool_client_free(cli);
    return rc;
}

int tool_topics(int argc, char **argv)
{
    static const char *subs[] = {"list", "describe", "create", "delete", "alter"};
    static char cmd[64];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        tool__topics_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TOOL_EUSAGE : TOOL_OK;
    }
    tool__topics_t *ta = sl_xcalloc(1, sizeof *ta);
    for (size_t i = 0; i < SL_ARRAY_LEN(subs); i++) {
        if (strcmp(argv[1], subs[i]) == 0) {
            ta->sub = subs[i];
        }
    }
    int rc;
    if (!ta->sub) {
        fprintf(stderr, "sluice topics: unknown subcommand '%s' (see --help)\n", argv[1]);
        rc = TOOL_EUSAGE;
    } else {
        snprintf(cmd, sizeof cmd, "sluice topics %s", ta->sub);
        tool_opts_init(&ta->opts, cmd);
        rc = tool__topics_parse(ta, argc - 1, argv + 1);
        if (rc < 0) {
            tool_signals_install();
            rc = tool__topics_run(ta);
        }
    }
    free(ta);
    return rc;
}
