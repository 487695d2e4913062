/* sluice acls add|remove|list: ACL administration over the Kafka protocol with librdkafka's
 * Admin API (CreateAcls, DescribeAcls, DeleteAcls), with the flags of Kafka's kafka-acls.sh:
 * --allow-principal/--deny-principal, --operation, --host, --topic/--group/--cluster and
 * --resource-pattern-type. add creates every combination of principal x operation x resource;
 * remove and list take the same options as filters (an absent option matches anything). */
#include "cli.h"
#include "sl_common.h"
#include "tool_common.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Principals, operations and resources given on one command line (each option repeatable). */
#define TOOL__ACL_ITEMS_MAX 32

typedef struct {
    rd_kafka_ResourceType_t type;
    const char *name;
} tool__acl_res_t;

typedef struct {
    tool_opts_t opts;
    const char *sub;
    const char *principals[TOOL__ACL_ITEMS_MAX];
    rd_kafka_AclPermissionType_t perms[TOOL__ACL_ITEMS_MAX];
    size_t nprincipals;
    rd_kafka_AclOperation_t ops[TOOL__ACL_ITEMS_MAX];
    size_t nops;
    tool__acl_res_t res[TOOL__ACL_ITEMS_MAX];
    size_t nres;
    const char *host;
    rd_kafka_ResourcePatternType_t pattern; /* UNKNOWN: not given */
} tool__acls_t;

static void tool__acls_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice acls add    (--allow-principal P | --deny-principal P)...\n"
            "                          [--operation OP]... RESOURCE... [options]\n"
            "       sluice acls remove [--allow-principal P | --deny-principal P]...\n"
            "                          [--operation OP]... RESOURCE... [options]\n"
            "       sluice acls list   [--principal P] [--operation OP] [RESOURCE]... [options]\n"
            "\n"
            "RESOURCE: --topic NAME | --group NAME | --cluster\n"
            "principals are Type:name (User:alice, User:* for everyone); OP is one of All, Read,\n"
            "Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs,\n"
            "AlterConfigs, IdempotentWrite (add defaults to All).\n"
            "\n"
            "options:\n"
            "  --host IP                  the host the rule applies to (default * on add)\n"
            "  --resource-pattern-type T  literal (default) or prefixed; list and remove also\n"
            "                             take any and match (every rule that applies)\n"
            "  --bootstrap HOST:PORT      the broker (also --brokers; default " TOOL_BROKERS_DEFAULT
            ")\n"
            "  --timeout-ms MS            per-request timeout (default 10000)\n"
            "  --json                     one JSON document on stdout instead of a table\n"
            "  --verbose                  librdkafka logs on stderr\n"
            "  --help                     this text\n"
            "\n"
            "The broker must run with authorizer.class.name set (else SECURITY_DISABLED), and\n"
            "the caller needs ALTER (add, remove) or DESCRIBE (list) on the cluster.\n"
            "exit status: 0 ok, 1 broker or Kafka error, 2 usage error\n");
}

/* Kafka's operation names in kafka-acls' CamelCase, matched without case or underscores. */
static const struct {
    const char *name;
    rd_kafka_AclOperation_t op;
} tool__ops[] = {
    {"All", RD_KAFKA_ACL_OPERATION_ALL},
    {"Read", RD_KAFKA_ACL_OPERATION_READ},
    {"Write", RD_KAFKA_ACL_OPERATION_WRITE},
    {"Create", RD_KAFKA_ACL_OPERATION_CREATE},
    {"Delete", RD_KAFKA_ACL_OPERATION_DELETE},
    {"Alter", RD_KAFKA_ACL_OPERATION_ALTER},
    {"Describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
    {"ClusterAction", RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION},
    {"DescribeConfigs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
    {"AlterConfigs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
    {"IdempotentWrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
};

static bool tool__word_eq(const char *a, const char *b)
{
    while (*a || *b) {
        if (*a == '_' || *a == '-') {
            a++;
            continue;
        }
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) {
            return false;
        }
        a++;
        b++;
    }
    return true;
}

/* "Type:name", both parts non-empty, as the broker requires. */
static bool tool__principal_ok(const char *p)
{
    const char *colon = strchr(p, ':');
    return colon && colon > p && colon[1] != '\0';
}

static bool tool__acls_opt_principal(tool_args_t *args, tool__acls_t *aa)
{
    rd_kafka_AclPermissionType_t perm;
    if (tool_arg_value(args, "--allow-principal")) {
        perm = RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
    } else if (tool_arg_value(args, "--deny-principal")) {
        perm = RD_KAFKA_ACL_PERMISSION_TYPE_DENY;
    } else if (tool_arg_value(args, "--principal")) {
        perm = RD_KAFKA_ACL_PERMISSION_TYPE_ANY;
    } else {
        return false;
    }
    if (!tool__principal_ok(args->val)) {
        args->rc = tool_usage_error(&aa->opts, "principal '%s' must be Type:name, e.g. "
                                               "User:alice or User:*", args->val);
        return true;
    }
    if (aa->nprincipals == TOOL__ACL_ITEMS_MAX) {
        args->rc = tool_usage_error(&aa->opts, "more than %d principals", TOOL__ACL_ITEMS_MAX);
        return true;
    }
    aa->principals[aa->nprincipals] = args->val;
    aa->perms[aa->nprincipals++] = perm;
    return true;
}

static bool tool__acls_opt_op(tool_args_t *args, tool__acls_t *aa)
{
    if (!tool_arg_value(args, "--operation")) {
        return false;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(tool__ops); i++) {
        if (tool__word_eq(args->val, tool__ops[i].name)) {
            if (aa->nops == TOOL__ACL_ITEMS_MAX) {
                args->rc = tool_usage_error(&aa->opts, "more than %d operations",
                                            TOOL__ACL_ITEMS_MAX);
                return true;
            }
            aa->ops[aa->nops++] = tool__ops[i].op;
            return true;
        }
    }
    args->rc = tool_usage_error(&aa->opts, "unknown operation '%s' (see --help)", args->val);
    return true;
}

static bool tool__acls_opt_res(tool_args_t *args, tool__acls_t *aa)
{
    tool__acl_res_t r;
    if (tool_arg_value(args, "--topic")) {
        r = (tool__acl_res_t){RD_KAFKA_RESOURCE_TOPIC, args->val};
    } else if (tool_arg_value(args, "--group")) {
        r = (tool__acl_res_t){RD_KAFKA_RESOURCE_GROUP, args->val};
    } else if (tool_arg_flag(args, "--cluster")) {
        /* Kafka's CLUSTER resource has code 4, which librdkafka calls BROKER. */
        r = (tool__acl_res_t){RD_KAFKA_RESOURCE_BROKER, "kafka-cluster"};
    } else if (tool_arg_value(args, "--transactional-id")) {
        args->rc = tool_usage_error(&aa->opts, "--transactional-id: librdkafka 2.0 has no "
                                               "TRANSACTIONAL_ID resource type; use kafka-acls");
        return true;
    } else {
        return false;
    }
    if (aa->nres == TOOL__ACL_ITEMS_MAX) {
        args->rc = tool_usage_error(&aa->opts, "more than %d resources", TOOL__ACL_ITEMS_MAX);
        return true;
    }
    aa->res[aa->nres++] = r;
    return true;
}

static bool tool__acls_opt(tool_args_t *args, tool__acls_t *aa)
{
    if (tool_arg_value(args, "--bootstrap") || tool_arg_value(args, "--bootstrap-server")) {
        aa->opts.brokers = args->val;
        return true;
    }
    if (tool_arg_value(args, "--host") || tool_arg_value(args, "--allow-host") ||
        tool_arg_value(args, "--deny-host")) {
        aa->host = args->val;
        return true;
    }
    if (tool_arg_value(args, "--resource-pattern-type")) {
        static const char *const names[] = {"", "any", "match", "literal", "prefixed"};
        for (size_t i = 1; i < SL_ARRAY_LEN(names); i++) {
            if (strcasecmp(args->val, names[i]) == 0) {
                aa->pattern = (rd_kafka_ResourcePatternType_t)i;
                return true;
            }
        }
        args->rc = tool_usage_error(&aa->opts, "--resource-pattern-type: expected literal, "
                                               "prefixed, any or match, got '%s'", args->val);
        return true;
    }
    if (tool__acls_opt_principal(args, aa) || tool__acls_opt_op(args, aa) ||
        tool__acls_opt_res(args, aa)) {
        return true;
    }
    if (args->rc == 0) {
        tool_arg_unknown(args);
    }
    return false;
}

static int tool__acls_parse(tool__acls_t *aa, int argc, char **argv)
{
    tool_args_t args;
    tool_args_init(&args, argc, argv, 1, &aa->opts);
    while (tool_args_more(&args)) {
        if (!tool_arg_common(&args, &aa->opts) && !tool__acls_opt(&args, aa)) {
            return args.rc ? args.rc : TOOL_EUSAGE;
        }
    }
    if (args.rc != 0) {
        return args.rc;
    }
    if (aa->opts.help) {
        tool__acls_usage(stdout);
        return TOOL_OK;
    }
    bool add = strcmp(aa->sub, "add") == 0;
    if (add && (aa->pattern == RD_KAFKA_RESOURCE_PATTERN_ANY ||
                aa->pattern == RD_KAFKA_RESOURCE_PATTERN_MATCH)) {
        return tool_usage_error(&aa->opts, "add needs --resource-pattern-type literal or prefixed");
    }
    for (size_t i = 0; add && i < aa->nprincipals; i++) {
        if (aa->perms[i] == RD_KAFKA_ACL_PERMISSION_TYPE_ANY) {
            return tool_usage_error(&aa->opts, "add takes --allow-principal or --deny-principal");
        }
    }
    if (add && aa->nprincipals == 0) {
        return tool_usage_error(&aa->opts, "add needs --allow-principal or --deny-principal");
    }
    if (strcmp(aa->sub, "list") != 0 && aa->nres == 0) {
        return tool_usage_error(&aa->opts, "%s needs a resource: --topic, --group or --cluster",
                                aa->sub);
    }
    return -1;
}

static const char *tool__res_name(int type)
{
    static const char *const names[] = {"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER",
                                        "TRANSACTIONAL_ID"};
    return type >= 0 && (size_t)type < SL_ARRAY_LEN(names) ? names[type] : "UNKNOWN";
}

/* Calls fn for every principal x operation x resource combination (absent lists give one
 * "any" entry). Stops at the first non-zero result. */
typedef int tool__acl_fn(tool__acls_t *aa, rd_kafka_ResourceType_t type, const char *name,
                         const char *principal, rd_kafka_AclPermissionType_t perm,
                         rd_kafka_AclOperation_t op, void *ctx);

static int tool__acls_each(tool__acls_t *aa, rd_kafka_AclOperation_t op_default,
                           tool__acl_fn *fn, void *ctx)
{
    size_t np = aa->nprincipals ? aa->nprincipals : 1;
    size_t no = aa->nops ? aa->nops : 1;
    size_t nr = aa->nres ? aa->nres : 1;
    for (size_t r = 0; r < nr; r++) {
        for (size_t p = 0; p < np; p++) {
            for (size_t o = 0; o < no; o++) {
                int rc = fn(aa, aa->nres ? aa->res[r].type : RD_KAFKA_RESOURCE_ANY,
                            aa->nres ? aa->res[r].name : NULL,
                            aa->nprincipals ? aa->principals[p] : NULL,
                            aa->nprincipals ? aa->perms[p] : RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
                            aa->nops ? aa->ops[o] : op_default, ctx);
                if (rc != 0) {
                    return rc;
                }
            }
        }
    }
    return 0;
}

typedef struct {
    rd_kafka_AclBinding_t **items;
    size_t n;
    bool filter;
} tool__acl_list_t;

static int tool__acl_collect(tool__acls_t *aa, rd_kafka_ResourceType_t type, const char *name,
                             const char *principal, rd_kafka_AclPermissionType_t perm,
                             rd_kafka_AclOperation_t op, void *ctx)
{
    tool__acl_list_t *list = ctx;
    char errstr[256];
    rd_kafka_ResourcePatternType_t pattern = aa->pattern;
    if (pattern == RD_KAFKA_RESOURCE_PATTERN_UNKNOWN) {
        pattern = name ? RD_KAFKA_RESOURCE_PATTERN_LITERAL : RD_KAFKA_RESOURCE_PATTERN_ANY;
    }
    rd_kafka_AclBinding_t *b =
        list->filter ? rd_kafka_AclBindingFilter_new(type, name, pattern, principal, aa->host, op,
                                                     perm, errstr, sizeof errstr)
                     : rd_kafka_AclBinding_new(type, name, pattern, principal,
                                               aa->host ? aa->host : "*", op, perm, errstr,
                                               sizeof errstr);
    if (!b) {
        return tool_usage_error(&aa->opts, "%s", errstr);
    }
    list->items = sl_xrealloc(list->items, (list->n + 1) * sizeof *list->items);
    list->items[list->n++] = b;
    return 0;
}

static void tool__acl_row(tool_table_t *tbl, json_t *arr, const rd_kafka_AclBinding_t *b)
{
    const char *type = tool__res_name(rd_kafka_AclBinding_restype(b));
    const char *pat =
        rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(b));
    const char *op = rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b));
    const char *perm = rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b));
    if (arr) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "resource_type",
                                             type, "resource_name", rd_kafka_AclBinding_name(b),
                                             "pattern_type", pat, "principal",
                                             rd_kafka_AclBinding_principal(b), "host",
                                             rd_kafka_AclBinding_host(b), "operation", op,
                                             "permission_type", perm));
        return;
    }
    tool_table_row(tbl);
    tool_table_cell(tbl, "%s", type);
    tool_table_cell(tbl, "%s", rd_kafka_AclBinding_name(b));
    tool_table_cell(tbl, "%s", pat);
    tool_table_cell(tbl, "%s", rd_kafka_AclBinding_principal(b));
    tool_table_cell(tbl, "%s", rd_kafka_AclBinding_host(b));
    tool_table_cell(tbl, "%s", op);
    tool_table_cell(tbl, "%s", perm);
}

static void tool__acl_print(tool__acls_t *aa, const rd_kafka_AclBinding_t **acls, size_t n)
{
    json_t *arr = aa->opts.json ? json_array() : NULL;
    tool_table_t *tbl = arr ? NULL
                            : tool_table_new(7, "RESOURCE", "NAME", "PATTERN", "PRINCIPAL",
                                             "HOST", "OPERATION", "PERMISSION");
    for (size_t i = 0; i < n; i++) {
        tool__acl_row(tbl, arr, acls[i]);
    }
    if (arr) {
        tool_json_print(json_pack("{s:o}", "acls", arr));
    } else {
        tool_table_print(tbl, stdout);
        tool_table_free(tbl);
    }
}

static void tool__acl_what(const rd_kafka_AclBinding_t *b, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s (%s) %s from %s %s %s",
             tool__res_name(rd_kafka_AclBinding_restype(b)),
             rd_kafka_AclBinding_name(b) ? rd_kafka_AclBinding_name(b) : "*",
             rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(b)),
             rd_kafka_AclBinding_principal(b) ? rd_kafka_AclBinding_principal(b) : "*",
             rd_kafka_AclBinding_host(b) ? rd_kafka_AclBinding_host(b) : "*",
             rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b)),
             rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b)));
}

static int tool__acls_add(tool__acls_t *aa, tool_client_t *cli, tool__acl_list_t *list)
{
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_CREATEACLS);
    rd_kafka_CreateAcls(cli->rk, list->items, list->n, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_CREATEACLS_RESULT, "add");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_acl_result_t **res =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
    int rc = n == list->n ? TOOL_OK : tool_fail(&aa->opts, "broker answered %zu of %zu", n,
                                                list->n);
    for (size_t i = 0; i < n && i < list->n; i++) {
        const rd_kafka_error_t *err = rd_kafka_acl_result_error(res[i]);
        char what[1024];
        tool__acl_what(list->items[i], what, sizeof what);
        if (err) {
            rc = tool_fail_kafka(&aa->opts, what, rd_kafka_error_code(err),
                                 rd_kafka_error_string(err));
        } else if (!aa->opts.json) {
            printf("Added: %s\n", what);
        }
    }
    if (aa->opts.json && rc == TOOL_OK) {
        tool_json_print(json_pack("{s:I}", "added", (json_int_t)n));
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* librdkafka 2.0 drops DescribeAcls' error code (an error arrives as an empty listing), so an
 * empty listing is checked with a DeleteAcls whose filter can match nothing (no binding has an
 * empty name): its per-filter error does come through. SECURITY_DISABLED fails the command;
 * CLUSTER_AUTHORIZATION_FAILED only adds a note (listing needs DESCRIBE, not ALTER). */
static int tool__acls_probe(tool__acls_t *aa, tool_client_t *cli)
{
    char errstr[256];
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
        RD_KAFKA_RESOURCE_TOPIC, "", RD_KAFKA_RESOURCE_PATTERN_LITERAL, NULL, NULL,
        RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, errstr, sizeof errstr);
    if (!f) {
        return TOOL_OK;
    }
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DELETEACLS);
    rd_kafka_DeleteAcls(cli->rk, &f, 1, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_AclBinding_destroy(f);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_DELETEACLS_RESULT, "list");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0;
    const rd_kafka_DeleteAcls_result_response_t **res =
        rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_DeleteAcls_result_response_error(res[0]) : NULL;
    int rc = TOOL_OK;
    if (err && rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_SECURITY_DISABLED) {
        rc = tool_fail_kafka(&aa->opts, "list", rd_kafka_error_code(err),
                             rd_kafka_error_string(err));
    } else if (err) {
        fprintf(stderr, "%s: note: no ACL listed; librdkafka hides DescribeAcls errors, and this "
                        "principal may not alter ACLs (%s), so it may not describe them either\n",
                aa->opts.cmd, rd_kafka_err2name(rd_kafka_error_code(err)));
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int tool__acls_list(tool__acls_t *aa, tool_client_t *cli, tool__acl_list_t *list)
{
    int rc = TOOL_OK;
    for (size_t f = 0; f < list->n && rc == TOOL_OK; f++) {
        rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
        rd_kafka_DescribeAcls(cli->rk, list->items[f], aopts, cli->queue);
        rd_kafka_AdminOptions_destroy(aopts);
        rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, "list");
        if (!ev) {
            return TOOL_EFAIL;
        }
        size_t n = 0;
        const rd_kafka_AclBinding_t **acls =
            rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
        if (n == 0) {
            rc = tool__acls_probe(aa, cli);
        }
        if (rc == TOOL_OK) {
            tool__acl_print(aa, acls, n);
        }
        rd_kafka_event_destroy(ev);
    }
    return rc;
}

static int tool__acls_remove(tool__acls_t *aa, tool_client_t *cli, tool__acl_list_t *list)
{
    rd_kafka_AdminOptions_t *aopts = tool_admin_options(cli, RD_KAFKA_ADMIN_OP_DELETEACLS);
    rd_kafka_DeleteAcls(cli->rk, list->items, list->n, aopts, cli->queue);
    rd_kafka_AdminOptions_destroy(aopts);
    rd_kafka_event_t *ev = tool_admin_wait(cli, RD_KAFKA_EVENT_DELETEACLS_RESULT, "remove");
    if (!ev) {
        return TOOL_EFAIL;
    }
    size_t n = 0, removed = 0;
    const rd_kafka_DeleteAcls_result_response_t **res =
        rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &n);
    int rc = TOOL_OK;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *err = rd_kafka_DeleteAcls_result_response_error(res[i]);
        if (err) {
            rc = tool_fail_kafka(&aa->opts, "remove", rd_kafka_error_code(err),
                                 rd_kafka_error_string(err));
            continue;
        }
        size_t m = 0;
        const rd_kafka_AclBinding_t **acls =
            rd_kafka_DeleteAcls_result_response_matching_acls(res[i], &m);
        for (size_t j = 0; j < m && !aa->opts.json; j++) {
            char what[1024];
            tool__acl_what(acls[j], what, sizeof what);
            printf("Removed: %s\n", what);
        }
        removed += m;
    }
    if (rc == TOOL_OK && aa->opts.json) {
        tool_json_print(json_pack("{s:I}", "removed", (json_int_t)removed));
    } else if (rc == TOOL_OK && removed == 0) {
        printf("No ACL matched.\n");
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int tool__acls_run(tool__acls_t *aa)
{
    bool add = strcmp(aa->sub, "add") == 0;
    tool__acl_list_t list = {NULL, 0, !add};
    int rc = tool__acls_each(aa, add ? RD_KAFKA_ACL_OPERATION_ALL : RD_KAFKA_ACL_OPERATION_ANY,
                             tool__acl_collect, &list);
    tool_client_t *cli = rc == 0 ? tool_client_new(&aa->opts, KIT_RK_ADMIN, NULL, NULL)
                                 : NULL;
    if (rc == 0 && !cli) {
        rc = TOOL_EFAIL;
    }
    if (rc == 0) {
        rc = tool_client_connect(cli, NULL);
    }
    if (rc == 0) {
        if (add) {
            rc = tool__acls_add(aa, cli, &list);
        } else if (strcmp(aa->sub, "list") == 0) {
            rc = tool__acls_list(aa, cli, &list);
        } else {
            rc = tool__acls_remove(aa, cli, &list);
        }
    }
    if (cli) {
        tool_client_free(cli);
    }
    rd_kafka_AclBinding_destroy_array(list.items, list.n);
    free(list.items);
    return rc;
}

int tool_acls(int argc, char **argv)
{
    static const char *subs[] = {"add", "remove", "list"};
    static char cmd[64];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        tool__acls_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TOOL_EUSAGE : TOOL_OK;
    }
    tool__acls_t aa = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(subs); i++) {
        if (strcmp(argv[1], subs[i]) == 0) {
            aa.sub = subs[i];
        }
    }
    if (!aa.sub) {
        fprintf(stderr, "sluice acls: unknown subcommand '%s' (see --help)\n", argv[1]);
        return TOOL_EUSAGE;
    }
    snprintf(cmd, sizeof cmd, "sluice acls %s", aa.sub);
    tool_opts_init(&aa.opts, cmd);
    int rc = tool__acls_parse(&aa, argc - 1, argv + 1);
    if (rc < 0) {
        tool_signals_install();
        rc = tool__acls_run(&aa);
    }
    return rc;
}
