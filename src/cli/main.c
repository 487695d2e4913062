/* sluice: one binary, subcommands. */
#include "cli.h"
#include "sl_version.h"

#include <stdio.h>
#include <string.h>

static void cli__usage(FILE *f)
{
    fprintf(f,
            "usage: sluice <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve      run the Kafka-compatible broker (sluice serve --help)\n"
            "  topics     list, describe, create, delete, alter topics\n"
            "  groups     list, describe, reset-offsets, delete consumer groups\n"
            "  acls       add, remove, list ACLs (Kafka's kafka-acls flags)\n"
            "  produce    write stdin lines to a topic\n"
            "  consume    print a topic's records\n"
            "  users      add, remove, list the broker's SASL users (sluice users --help)\n"
            "  jobs       the durable job pipeline (sluice jobs --help)\n"
            "  join       stream-table and table-table joins (sluice join --help)\n"
            "  gateway    HTTP produce and WebSocket STOMP fan-out (sluice gateway --help)\n"
            "  inspect-worker  OCR page inspection worker for sluice jobs (--help)\n"
            "\n"
            "  sluice --version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli__usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("sluice %s (commit %s)\n", SL_VERSION, SL_COMMIT);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli__usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        return cli_serve(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "topics") == 0) {
        return tool_topics(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "acls") == 0) {
        return tool_acls(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "groups") == 0) {
        return tool_groups(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "produce") == 0) {
        return tool_produce(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "consume") == 0) {
        return tool_consume(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "users") == 0) {
        return tool_users(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "jobs") == 0) {
        return tool_jobs(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "join") == 0) {
        return tool_join(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "inspect-worker") == 0) {
        return tool_inspect(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "gateway") == 0) {
        return tool_gateway(argc - 1, argv + 1);
    }
    fprintf(stderr, "sluice: unknown command '%s'\n", argv[1]);
    cli__usage(stderr);
    return 2;
}
