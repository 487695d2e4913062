/* sluice gateway: placeholder until the gateway lands; exits 2 with a clear message. */
#include "cli.h"

#include <stdio.h>

int tool_gateway(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sluice gateway: not built yet\n");
    return 2;
}
