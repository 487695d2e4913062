/* sluice jobs: placeholder until the job pipeline lands; exits 2 with a clear message. */
#include "cli.h"

#include <stdio.h>

int tool_jobs(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sluice jobs: not built yet\n");
    return 2;
}
