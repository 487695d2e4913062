/* sluice groups list|describe|reset-offsets|delete: consumer-group administration through
 * librdkafka's Admin API (ListConsumerGroups, DescribeConsumerGroups with the decoded consumer
 * protocol assignment, ListConsumerGroupOffsets, AlterConsumerGroupOffsets, DeleteGroups) and
 * ListOffsets (watermarks, offsets for times). reset-offsets follows kafka-consumer-groups.sh:
 * only for a group without members, and a dry run unless --execute. */
#include "cli.h"
#include "sl_common.h"
#include "tool_common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { TOOL__RESET_NONE, TOOL__EARLIEST, TOOL__LATEST, TOOL__OFFSET, TOOL__DATETIME } tool__reset_t;

typedef struct tool__groups {
    tool_opts_t opts;
    const char *sub;
    const char *group;
    const char *topic;
    tool__reset_t mode;
    int64_t to_offset;
    int64_t to_ms; /* --to-datetime as Unix milliseconds */
    bool execute;
} tool__groups_t;

static void tool__groups_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice groups list [options]\n"
            "       sluice groups describe GROUP [options]\n"
            "       sluice groups reset-offsets GROUP --topic TOPIC\n"
            "             (--to-earliest | --to-latest | --to-offset N | --to-datetime ISO8601)\n"
            "             [--execute] [options]\n"
            "       sluice groups delete GROUP [options]\n"
            "\n"
            "GROUP may also be given as --group GROUP, as kafka-consumer-groups takes it.\n"
            "describe shows the group's state, its members with their assigned partitions, and\n"
            "per partition the committed offset, the log end offset and the lag.\n"
            "reset-offsets works only on a group without active members; without --execute it\n"
            "prints the plan and changes nothing. --to-offset is clamped to the partition's\n"
            "[earliest, latest] range; --to-datetime takes YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]\n"
            "(local time when no zone is given) and picks the first offset at or after it.\n"
            "\n"
            "options:\n"
            "  --brokers HOST:PORT[,...]  bootstrap brokers (default " TOOL_BROKERS_DEFAULT ");\n"
            "                             alias --bootstrap-server, as in Kafka's tools\n"
            "  --timeout-ms MS            per-request timeout (default 10000)\n"
            "  -X KEY=VALUE               a librdkafka client setting (security.protocol,\n"
            "                             sasl.*, ssl.*, ...); repeatable\n"
            "  --command-config FILE      client settings from a .properties file\n"
            "  --json                     one JSON document on stdout instead of tables\n"
            "  --verbose                  librdkafka logs on stderr\n"
            "  --help                     this text\n"
            "\n"
            "exit status: 0 ok, 1 broker or Kafka error, 2 usage error\n");
}

static int tool__tm_field(const char **p, int digits)
{
    int v = 0;
    for (int i = 0; i < digits; i++, (*p)++) {
        if (**p < '0' || **p > '9') {
            return -1;
        }
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* Parses YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM|+HHMM] (no zone: local time). */
static bool tool__parse_datetime(const char *s, int64_t *ms_out)
{
    static const struct { int digits; char sep; } f[6] = {
        {4, '-'}, {2, '-'}, {2, 'T'}, {2, ':'}, {2, ':'}, {2, 0}};
    int v[6];
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        v[i] = tool__tm_field(&p, f[i].digits);
        if (v[i] < 0 || (f[i].sep && *p++ != f[i].sep)) {
            return false;
        }
    }
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        for (int scale = 100; *p >= '0' && *p <= '9'; p++, scale /= 10) {
            frac_ms += scale ? (*p - '0') * scale : 0;
        }
    }
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
                    .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5], .tm_isdst = -1};
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60) {
        return false;
    }
    time_t t;
    if (*p == '\0') {
        t = mktime(&tm);
    } else {
        int sign = *p == '-' ? -1 : 1, off = 0;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            p++;
            int hh = tool__tm_field(&p, 2);
            p += *p == ':';
            int mm = tool__tm_field(&p, 2);
            if (hh < 0 || mm < 0 || hh > 23 || mm > 59) {
                return false;
            }
            off = sign * (hh * 3600 + mm * 60);
        }
        if (*p != '\0') {
            return false;
        }
        t = timegm(&tm) - off;
    }
    *ms_out = (int64_t)t * 1000 + frac_ms;
    return true;
}

static bool tool__groups_opt(tool_args_t *args, tool__groups_t *ga)
{
    if (strcmp(ga->sub, "reset-offsets") != 0) {
        tool_arg_unknown(args);
        return false;
    }
    tool__reset_t before = ga->mode;
    if (tool_arg_value(args, "--topic")) {
        ga->topic = args->val;
        return true;
    } else if (tool_arg_flag(args, "--execute")) {
        ga->execute = true;
        return true;
    } else if (tool_arg_flag(args, "--dry-run")) {
        ga->execute = false;
        return true;
    } else if (tool_arg_flag(args, "--to-earliest")) {
        ga->mode = TOOL__EARLIEST;
    } else if (tool_arg_flag(args, "--to-latest")) {
        ga->mode = TOOL__LATEST;
    } else if (tool_arg_value(args, "--to-offset")) {
        ga->mode = TOOL__OFFSET;
        if (!tool_parse_i64(&ga->opts, "--to-offset", args->val, 0, INT64_MAX, &ga->to_offset)) {
            return false;
        }
    } else if (tool_arg_value(args, "--to-datetime")) {
        ga->mode = TOOL__DATETIME;
        if (!tool__parse_datetime(args->val, &ga->to_ms)) {
            tool_usage_error(&ga->opts,
                             "--to-datetime wants YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM], got '%s'",
                             args->val);
            return false;
        }
    } else {
        if (args->rc == 0) {
            tool_arg_unknown(args);
        }
        return false;
    }
    if (before != TOOL__RESET_NONE) {
        tool_usage_error(&ga->opts, "give only one of --to-earliest, --to-latest, --to-offset, "
                                    "--to-datetime");
        return false;
    }
    return true;
}

static int tool__groups_parse(tool__groups_t *ga, int argc, char **argv)
{
    tool_args_t args;
    tool_args_init(&args, argc, argv, 1, &ga->opts);
    while (tool_args_more(&args)) {
        const char *word = argv[args.i];
        if (tool_arg_common(&args, &ga->opts)) {
            continue;
        }
        bool list = strcmp(ga->sub, "list") == 0;
        if (word[0] != '-' && !ga->group && !list) {
            ga->group = word;
            args.i++;
        } else if (!list && tool_arg_value(&args, "--group")) {
            ga->group = args.val; /* kafka-consumer-groups' spelling */
        } else if (args.rc != 0) {
            return args.rc;
        } else if (!tool__groups_opt(&args, ga)) {
            return TOOL_EUSAGE;
        }
    }
    if (args.rc != 0) {
        return args.rc;
    }
    if (ga->opts.help) {
        tool__groups_usage(stdout);
        return TOOL_OK;
    }
    if (strcmp(ga->sub, "list") != 0 && (!ga->group || ga->group[0] == '\0')) {
        return tool_usage_error(&ga->opts, "missing GROUP (see --help)");
    }
    if (strcmp(ga->sub, "reset-offsets") == 0 && (!ga->topic || ga->mode == TOOL__RESET_NONE)) {
        return tool_usage_error(&ga->opts, "reset-offsets needs --topic and one of "
                                           "--to-earliest, --to-latest, --to-offset, "
                                           "--to-datetime");
    }
    return -1;
}

static int tool__cmp_listing(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(*(const void *const *)a),
                  rd_kafka_ConsumerGroupListing_group_id(*(const void *const *)b));
}

static int tool__groups_list(tool__groups_t *ga, tool_client_t *cli)
{
    rd_kafka_AdminOptions_t *aopts =
        tool_admin_options(cli, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(cli->rk, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "list");
    if (!ev) {
        return TOOL_EFAIL;
    }
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t n = 0, nerr = 0;
    const rd_kafka_ConsumerGroupListing_t **ls = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    for (size_t i = 0; i < nerr; i++) {
        tool_fail_kafka(&ga->opts, "list", rd_kafka_error_code(errs[i]),
                        rd_kafka_error_string(errs[i]));
    }
    const rd_kafka_ConsumerGroupListing_t **sorted = sl_xcalloc(n + 1, sizeof *sorted);
    if (n > 0) {
        memcpy(sorted, ls, n * sizeof *sorted);
    }
    qsort(sorted, n, sizeof *sorted, tool__cmp_listing);
    json_t *arr = json_array();
    tool_table_t *tbl = tool_table_new(2, "GROUP", "STATE");
    for (size_t i = 0; i < n; i++) {
        const char *state =
            rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(sorted[i]));
        const char *id = rd_kafka_ConsumerGroupListing_group_id(sorted[i]);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "group", id, "state", state));
        tool_table_row(tbl);
        tool_table_cell(tbl, "%s", id);
        tool_table_cell(tbl, "%s", state);
    }
    if (ga->opts.json) {
        tool_json_print(arr);
    } else {
        json_decref(arr);
        tool_table_print(tbl, stdout);
    }
    tool_table_free(tbl);
    free(sorted);
    rd_kafka_event_destroy(ev);
    return nerr > 0 && n == 0 ? TOOL_EFAIL : TOOL_OK;
}

/* Describes ga->group; returns the result event (caller destroys) and sets *descp, or NULL
 * after printing the error. */
static rd_kafka_event_t *tool__group_describe(tool__groups_t *ga, tool_client_t *cli,
                                              const rd_kafka_ConsumerGroupDescription_t **descp)
{
    rd_kafka_AdminOptions_t *aopts =
        tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(cli->rk, &ga->group, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_event_t *ev =
        tool_admin_wait(cli, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, "describe group");
    if (!ev) {
        return NULL;
    }
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **ds = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_ConsumerGroupDescription_error(ds[0]) : NULL;
    if (n != 1 || err) {
        tool_fail_kafka(&ga->opts, ga->group,
                        err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG,
                        err ? rd_kafka_error_string(err) : "no description in the answer");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    *descp = ds[0];
    return ev;
}

/* Committed offsets of ga->group for `parts` (NULL: every partition it has offsets for).
 * Returns a new list (offset -1001 = none) or NULL after printing the error. */
static rd_kafka_topic_partition_list_t *
tool__group_committed(tool__groups_t *ga, tool_client_t *cli,
                      const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_ListConsumerGroupOffsets_t *req =
        rd_kafka_ListConsumerGroupOffsets_new(ga->group, parts);
    rd_kafka_AdminOptions_t *aopts =
        tool_admin_options(cli, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(cli->rk, &req, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
                                           "fetch committed offsets");
    if (!ev) {
        return NULL;
    }
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
    rd_kafka_topic_partition_list_t *out = NULL;
    if (n != 1 || err) {
        tool_fail_kafka(&ga->opts, "fetch committed offsets",
                        err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG,
                        err ? rd_kafka_error_string(err) : NULL);
    } else {
        const rd_kafka_topic_partition_list_t *got = rd_kafka_group_result_partitions(gr[0]);
        out = got ? rd_kafka_topic_partition_list_copy(got) : rd_kafka_topic_partition_list_new(0);
    }
    rd_kafka_event_destroy(ev);
    return out;
}

static json_t *tool__member_json(const rd_kafka_MemberDescription_t *m)
{
    const rd_kafka_topic_partition_list_t *as =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    json_t *parts = json_array();
    for (int i = 0; as && i < as->cnt; i++) {
        json_array_append_new(parts, json_pack("{s:s, s:i}", "topic", as->elems[i].topic,
                                               "partition", as->elems[i].partition));
    }
    const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
    return json_pack("{s:s, s:s, s:s, s:s?, s:o}", "member_id",
                     rd_kafka_MemberDescription_consumer_id(m), "client_id",
                     rd_kafka_MemberDescription_client_id(m), "host",
                     rd_kafka_MemberDescription_host(m), "group_instance_id", inst,
                     "assignment", parts);
}

/* Rows of the lag table: committed partitions plus assigned ones; `opaque` of each element
 * points to the owning member description (or NULL). */
static rd_kafka_topic_partition_list_t *
tool__lag_rows(const rd_kafka_ConsumerGroupDescription_t *desc,
               const rd_kafka_topic_partition_list_t *committed)
{
    rd_kafka_topic_partition_list_t *rows = rd_kafka_topic_partition_list_copy(committed);
    for (int i = 0; i < rows->cnt; i++) {
        rows->elems[i].opaque = NULL;
    }
    size_t nmem = rd_kafka_ConsumerGroupDescription_member_count(desc);
    for (size_t m = 0; m < nmem; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(desc, m);
        const rd_kafka_topic_partition_list_t *as =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        for (int i = 0; as && i < as->cnt; i++) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(rows, as->elems[i].topic,
                                                   as->elems[i].partition);
            if (!tp) {
                tp = rd_kafka_topic_partition_list_add(rows, as->elems[i].topic,
                                                       as->elems[i].partition);
                tp->offset = RD_KAFKA_OFFSET_INVALID;
            }
            tp->opaque = (void *)md;
        }
    }
    rd_kafka_topic_partition_list_sort(rows, NULL, NULL);
    return rows;
}

static json_t *tool__lag_json(tool_client_t *cli, const rd_kafka_topic_partition_list_t *rows)
{
    json_t *arr = json_array();
    for (int i = 0; i < rows->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &rows->elems[i];
        const rd_kafka_MemberDescription_t *m = tp->opaque;
        int64_t lo = -1, hi = -1;
        bool have_end = rd_kafka_query_watermark_offsets(cli->rk, tp->topic, tp->partition, &lo,
                                                         &hi, cli->opts->timeout_ms) == 0;
        bool have_commit = tp->offset >= 0;
        json_t *end = have_end ? json_integer(hi) : json_null();
        json_t *lag = have_end && have_commit ? json_integer(SL_MAX(hi - tp->offset, 0))
                                              : json_null();
        json_array_append_new(
            arr, json_pack("{s:s, s:i, s:o, s:o, s:o, s:s?, s:s?, s:s?}", "topic", tp->topic,
                           "partition", tp->partition, "committed",
                           have_commit ? json_integer(tp->offset) : json_null(), "end", end,
                           "lag", lag, "member_id",
                           m ? rd_kafka_MemberDescription_consumer_id(m) : NULL, "client_id",
                           m ? rd_kafka_MemberDescription_client_id(m) : NULL, "host",
                           m ? rd_kafka_MemberDescription_host(m) : NULL));
    }
    return arr;
}

static const char *tool__json_num(json_t *v, char *buf, size_t size)
{
    if (!json_is_integer(v)) {
        return "-";
    }
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    return buf;
}

static void tool__describe_print(json_t *root)
{
    const char *assignor = json_string_value(json_object_get(root, "assignor"));
    printf("Group: %s  State: %s  Assignor: %s  Coordinator: %lld  Members: %zu\n\n",
           json_string_value(json_object_get(root, "group")),
           json_string_value(json_object_get(root, "state")),
           assignor && assignor[0] ? assignor : "-",
           (long long)json_integer_value(json_object_get(root, "coordinator")),
           json_array_size(json_object_get(root, "members")));
    size_t i;
    json_t *m;
    tool_table_t *tbl = tool_table_new(4, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT");
    json_array_foreach(json_object_get(root, "members"), i, m)
    {
        char parts[1024] = "-";
        size_t off = 0, j;
        json_t *p;
        json_array_foreach(json_object_get(m, "assignment"), j, p)
        {
            if (off < sizeof parts) {
                off += (size_t)snprintf(parts + off, sizeof parts - off, "%s%s-%lld",
                                        j ? "," : "",
                                        json_string_value(json_object_get(p, "topic")),
                                        (long long)json_integer_value(json_object_get(p, "partition")));
            }
        }
        tool_table_row(tbl);
        tool_table_cell(tbl, "%s", json_string_value(json_object_get(m, "member_id")));
        tool_table_cell(tbl, "%s", json_string_value(json_object_get(m, "client_id")));
        tool_table_cell(tbl, "%s", json_string_value(json_object_get(m, "host")));
        tool_table_cell(tbl, "%s", parts);
    }
    if (json_array_size(json_object_get(root, "members")) > 0) {
        tool_table_print(tbl, stdout);
        printf("\n");
    }
    tool_table_free(tbl);
    tbl = tool_table_new(6, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                         "MEMBER-ID");
    json_array_foreach(json_object_get(root, "offsets"), i, m)
    {
        char b1[32], b2[32], b3[32];
        const char *member = json_string_value(json_object_get(m, "member_id"));
        tool_table_row(tbl);
        tool_table_cell(tbl, "%s", json_string_value(json_object_get(m, "topic")));
        tool_table_cell(tbl, "%lld", (long long)json_integer_value(json_object_get(m, "partition")));
        tool_table_cell(tbl, "%s", tool__json_num(json_object_get(m, "committed"), b1, sizeof b1));
        tool_table_cell(tbl, "%s", tool__json_num(json_object_get(m, "end"), b2, sizeof b2));
        tool_table_cell(tbl, "%s", tool__json_num(json_object_get(m, "lag"), b3, sizeof b3));
        tool_table_cell(tbl, "%s", member ? member : "-");
    }
    tool_table_print(tbl, stdout);
    tool_table_free(tbl);
}

static int tool__groups_describe(tool__groups_t *ga, tool_client_t *cli)
{
    const rd_kafka_ConsumerGroupDescription_t *desc = NULL;
    rd_kafka_event_t *ev = tool__group_describe(ga, cli, &desc);
    if (!ev) {
        return TOOL_EFAIL;
    }
    rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(desc);
    rd_kafka_topic_partition_list_t *committed = NULL;
    if (state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        tool_fail_kafka(&ga->opts, ga->group, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND,
                        "consumer group does not exist");
    } else {
        committed = tool__group_committed(ga, cli, NULL);
    }
    if (!committed) {
        rd_kafka_event_destroy(ev);
        return TOOL_EFAIL;
    }
    rd_kafka_topic_partition_list_t *rows = tool__lag_rows(desc, committed);
    json_t *members = json_array();
    for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(desc); m++) {
        json_array_append_new(members,
                              tool__member_json(rd_kafka_ConsumerGroupDescription_member(desc, m)));
    }
    const rd_kafka_Node_t *coord = rd_kafka_ConsumerGroupDescription_coordinator(desc);
    json_t *root = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o}", "group", ga->group, "state",
                             rd_kafka_consumer_group_state_name(state), "assignor",
                             rd_kafka_ConsumerGroupDescription_partition_assignor(desc),
                             "coordinator", coord ? rd_kafka_Node_id(coord) : -1, "members",
                             members, "offsets", tool__lag_json(cli, rows));
    if (ga->opts.json) {
        tool_json_print(root);
    } else {
        tool__describe_print(root);
        json_decref(root);
    }
    rd_kafka_topic_partition_list_destroy(rows);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_event_destroy(ev);
    return TOOL_OK;
}

/* Fills plan->elems[i].offset with the new offset for each partition of the topic. */
static int tool__reset_targets(tool__groups_t *ga, tool_client_t *cli,
                               rd_kafka_topic_partition_list_t *plan)
{
    if (ga->mode == TOOL__DATETIME) {
        for (int i = 0; i < plan->cnt; i++) {
            plan->elems[i].offset = ga->to_ms;
        }
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(cli->rk, plan, ga->opts.timeout_ms);
        if (err) {
            return tool_fail_kafka(&ga->opts, "offsets for time", err, NULL);
        }
    }
    for (int i = 0; i < plan->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &plan->elems[i];
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err = tp->err ? tp->err
                                          : rd_kafka_query_watermark_offsets(
                                                cli->rk, tp->topic, tp->partition, &lo, &hi,
                                                ga->opts.timeout_ms);
        if (err) {
            return tool_fail_kafka(&ga->opts, "query offsets", err, NULL);
        }
        switch (ga->mode) {
        case TOOL__EARLIEST:
            tp->offset = lo;
            break;
        case TOOL__LATEST:
            tp->offset = hi;
            break;
        case TOOL__OFFSET:
            tp->offset = SL_MIN(SL_MAX(ga->to_offset, lo), hi);
            break;
        default: /* no record at or after the time: the end, as Kafka's tool does */
            tp->offset = tp->offset < 0 ? hi : tp->offset;
            break;
        }
    }
    return TOOL_OK;
}

static int tool__reset_apply(tool__groups_t *ga, tool_client_t *cli,
                             const rd_kafka_topic_partition_list_t *plan)
{
    rd_kafka_AlterConsumerGroupOffsets_t *req =
        rd_kafka_AlterConsumerGroupOffsets_new(ga->group, plan);
    rd_kafka_AdminOptions_t *aopts =
        tool_admin_options(cli, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(cli->rk, &req, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT,
                                           "commit offsets");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
    int rc = TOOL_OK;
    if (n != 1 || err) {
        rc = tool_fail_kafka(&ga->opts, "commit offsets",
                             err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG,
                             err ? rd_kafka_error_string(err) : NULL);
    }
    const rd_kafka_topic_partition_list_t *parts = n == 1 ? rd_kafka_group_result_partitions(gr[0])
                                                          : NULL;
    for (int i = 0; rc == TOOL_OK && parts && i < parts->cnt; i++) {
        if (parts->elems[i].err) {
            rc = tool_fail_kafka(&ga->opts, "commit offsets", parts->elems[i].err, NULL);
        }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static void tool__reset_print(const tool__groups_t *ga, const rd_kafka_topic_partition_list_t *plan,
                              const rd_kafka_topic_partition_list_t *committed)
{
    json_t *arr = json_array();
    tool_table_t *tbl =
        tool_table_new(5, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET");
    for (int i = 0; i < plan->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &plan->elems[i];
        const rd_kafka_topic_partition_t *cur =
            rd_kafka_topic_partition_list_find(committed, tp->topic, tp->partition);
        int64_t cur_off = cur && cur->offset >= 0 ? cur->offset : -1;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:o, s:I}", "group", ga->group,
                                             "topic", tp->topic, "partition", tp->partition,
                                             "current", cur_off >= 0 ? json_integer(cur_off)
                                                                     : json_null(),
                                             "new", (json_int_t)tp->offset));
        tool_table_row(tbl);
        tool_table_cell(tbl, "%s", ga->group);
        tool_table_cell(tbl, "%s", tp->topic);
        tool_table_cell(tbl, "%d", tp->partition);
        char cur_buf[32] = "-";
        if (cur_off >= 0) {
            snprintf(cur_buf, sizeof cur_buf, "%lld", (long long)cur_off);
        }
        tool_table_cell(tbl, "%s", cur_buf);
        tool_table_cell(tbl, "%lld", (long long)tp->offset);
    }
    if (ga->opts.json) {
        tool_json_print(json_pack("{s:b, s:o}", "executed", ga->execute, "offsets", arr));
    } else {
        json_decref(arr);
        tool_table_print(tbl, stdout);
    }
    tool_table_free(tbl);
}

static int tool__groups_reset(tool__groups_t *ga, tool_client_t *cli,
                              const rd_kafka_metadata_t *md)
{
    const rd_kafka_ConsumerGroupDescription_t *desc = NULL;
    rd_kafka_event_t *ev = tool__group_describe(ga, cli, &desc);
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t nmem = rd_kafka_ConsumerGroupDescription_member_count(desc);
    const char *state =
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(desc));
    int rc = TOOL_OK;
    if (nmem > 0) {
        rc = tool_fail(&ga->opts,
                       "cannot reset offsets of group '%s': it is not inactive (state %s, %zu "
                       "member(s)); stop its consumers first",
                       ga->group, state, nmem);
    }
    rd_kafka_event_destroy(ev);
    const rd_kafka_metadata_topic_t *mt = tool_md_topic(md, ga->topic);
    if (rc == TOOL_OK && (!mt || mt->err || mt->partition_cnt == 0)) {
        rc = tool_fail_kafka(&ga->opts, ga->topic,
                             mt && mt->err ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                             mt && mt->err ? NULL : "topic does not exist");
    }
    if (rc != TOOL_OK) {
        return rc;
    }
    rd_kafka_topic_partition_list_t *plan = rd_kafka_topic_partition_list_new(mt->partition_cnt);
    for (int i = 0; i < mt->partition_cnt; i++) {
        rd_kafka_topic_partition_list_add(plan, ga->topic, mt->partitions[i].id);
    }
    rd_kafka_topic_partition_list_sort(plan, NULL, NULL);
    rd_kafka_topic_partition_list_t *committed = tool__group_committed(ga, cli, plan);
    rc = committed ? tool__reset_targets(ga, cli, plan) : TOOL_EFAIL;
    if (rc == TOOL_OK && ga->execute) {
        rc = tool__reset_apply(ga, cli, plan);
    }
    if (rc == TOOL_OK) {
        tool__reset_print(ga, plan, committed);
        if (!ga->execute) {
            fprintf(stderr, "%s: dry run, nothing changed; add --execute to commit these "
                            "offsets\n", ga->opts.cmd);
        }
    }
    if (committed) {
        rd_kafka_topic_partition_list_destroy(committed);
    }
    rd_kafka_topic_partition_list_destroy(plan);
    return rc;
}

static int tool__groups_delete(tool__groups_t *ga, tool_client_t *cli)
{
    rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(ga->group);
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(cli->rk, &dg, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_DeleteGroup_destroy(dg);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, "delete");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
    int rc = TOOL_OK;
    if (n != 1 || err) {
        rc = tool_fail_kafka(&ga->opts, ga->group,
                             err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG,
                             err ? rd_kafka_error_string(err) : NULL);
    } else if (ga->opts.json) {
        tool_json_print(json_pack("{s:s, s:s}", "deleted", ga->group, "result", "ok"));
    } else {
        printf("Deleted consumer group %s.\n", ga->group);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int tool__groups_run(tool__groups_t *ga)
{
    tool_client_t *cli = tool_client_new(&ga->opts, KIT_RK_ADMIN, NULL, NULL);
    if (!cli) {
        return TOOL_EFAIL;
    }
    const rd_kafka_metadata_t *md = NULL;
    int rc = tool_client_connect(cli, &md);
    if (rc == TOOL_OK) {
        if (strcmp(ga->sub, "list") == 0) {
            rc = tool__groups_list(ga, cli);
        } else if (strcmp(ga->sub, "describe") == 0) {
            rc = tool__groups_describe(ga, cli);
        } else if (strcmp(ga->sub, "reset-offsets") == 0) {
            rc = tool__groups_reset(ga, cli, md);
        } else {
            rc = tool__groups_delete(ga, cli);
        }
        rd_kafka_metadata_destroy(md);
    }
    tool_client_free(cli);
    return rc;
}

int tool_groups(int argc, char **argv)
{
    static const char *subs[] = {"list", "describe", "reset-offsets", "delete"};
    static char cmd[64];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        tool__groups_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TOOL_EUSAGE : TOOL_OK;
    }
    tool__groups_t ga = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(subs); i++) {
        if (strcmp(argv[1], subs[i]) == 0) {
            ga.sub = subs[i];
        }
    }
    if (!ga.sub) {
        fprintf(stderr, "sluice groups: unknown subcommand '%s' (see --help)\n", argv[1]);
        return TOOL_EUSAGE;
    }
    snprintf(cmd, sizeof cmd, "sluice groups %s", ga.sub);
    tool_opts_init(&ga.opts, cmd);
    int rc = tool__groups_parse(&ga, argc - 1, argv + 1);
    if (rc < 0) {
        tool_signals_install();
        rc = tool__groups_run(&ga);
    }
    return rc;
}
