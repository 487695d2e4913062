/* sluice join: placeholder until the join service lands; exits 2 with a clear message. */
#include "cli.h"

#include <stdio.h>

int tool_join(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sluice join: not built yet\n");
    return 2;
}
