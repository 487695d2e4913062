/* Credentials of the `sluice jobs` HTTP API: bearer tokens in three roles, several per role
 * so they can be rotated, kept and compared by kit_auth (SHA-256 digests, constant time, so
 * neither a token's bytes nor its length leak). Settings and rules: docs/jobs-security.md. */
#ifndef JAUTH_H
#define JAUTH_H

#include "kit_auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JAUTH_TOKENS_MAX KIT_AUTH_TOKENS_MAX
#define JAUTH_TOKEN_BYTES_MIN KIT_AUTH_TOKEN_BYTES_MIN
#define JAUTH_TOKEN_BYTES_MAX KIT_AUTH_TOKEN_BYTES_MAX
#define JAUTH_ID_BYTES_MAX KIT_AUTH_NAME_BYTES_MAX
/* "operator:" + a name or 32 hex digits of the token's SHA-256 */
#define JAUTH_WHO_BUF 48

typedef enum { JAUTH_API, JAUTH_OPERATOR, JAUTH_METRICS, JAUTH_ROLE_COUNT } jauth_role_t;

typedef struct {
    kit_tokens_t roles[JAUTH_ROLE_COUNT];
} jauth_t;

/* Replaces the tokens of role with a comma-separated list (kit_tokens_parse: "name:token"
 * entries name their tokens, and jobs a token submits are recorded under its name, so a
 * rotated token with the same name keeps reading them). An empty list clears the role.
 * SL_EINVAL with "<role>.token: reason" in err. */
int jauth_set(jauth_t *auth, jauth_role_t role, const char *list, char *err, size_t err_len);
/* True when the API requires credentials: any api or operator token is set. */
bool jauth_enabled(const jauth_t *auth);
bool jauth_role_set(const jauth_t *auth, jauth_role_t role);

typedef enum {
    JAUTH_MISSING, /* no Authorization: Bearer header: 401 */
    JAUTH_WRONG,   /* a token no role has: 403 */
    JAUTH_OK,
} jauth_verdict_t;
/* Checks an Authorization header value (may be NULL). On JAUTH_OK, *role is the strongest role
 * holding the token (operator, then api, then metrics) and who gets "role:name". */
jauth_verdict_t jauth_check(const jauth_t *auth, const char *header, jauth_role_t *role,
                            char who[JAUTH_WHO_BUF]);
const char *jauth_role_name(jauth_role_t role);

#endif
