/* Subcommands of the sluice binary. Each returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage error. */
#ifndef CLI_H
#define CLI_H

int cli_serve(int argc, char **argv);

#endif
