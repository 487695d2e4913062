/* sluice: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("sluice %s\n", SL_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: sluice serve|--version\n");
    return 2;
}
