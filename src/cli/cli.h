/* Subcommands of the sluice binary. Each returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage error. */
#ifndef CLI_H
#define CLI_H

int cli_serve(int argc, char **argv);

/* Operator tools (librdkafka clients; argv[0] is the command name, e.g. "topics"). Each
 * command is bounded in time (--timeout-ms, default 10 s) and prints Kafka error names. */
int tool_topics(int argc, char **argv);  /* list|describe|create|delete|alter */
int tool_groups(int argc, char **argv);  /* list|describe|reset-offsets|delete */
int tool_acls(int argc, char **argv);    /* add|remove|list */
int tool_produce(int argc, char **argv); /* stdin lines -> records, acks=all */
int tool_consume(int argc, char **argv); /* records -> stdout, plain or JSON lines */

/* Pipeline services (src/services/<name>; librdkafka clients, usable against Apache Kafka). */
int tool_jobs(int argc, char **argv);    /* serve|list|show|retry|cancel */
int tool_join(int argc, char **argv);    /* stream-table / table-table join */
int tool_gateway(int argc, char **argv); /* HTTP produce + WebSocket STOMP fan-out */
int tool_inspect(int argc, char **argv); /* OCR inspection worker for sluice jobs */

#endif
