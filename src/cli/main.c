/* sluice: one binary, subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void cli__usage(FILE *f)
{
    fprintf(f,
            "usage: sluice <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve      run the Kafka-compatible broker (sluice serve --help)\n"
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
        printf("sluice %s\n", SL_VERSION);
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
    fprintf(stderr, "sluice: unknown command '%s'\n", argv[1]);
    cli__usage(stderr);
    return 2;
}
