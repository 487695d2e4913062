/* The principal of a connection. Placeholder until authentication (TLS/SASL) exists: every
 * connection is Kafka's anonymous user, as on a PLAINTEXT listener. The authentication work
 * replaces this file. */
#include "brk_internal.h"

const char *brk_conn_principal(const snet_conn_t *conn)
{
    SL_UNUSED(conn);
    return "User:ANONYMOUS";
}
