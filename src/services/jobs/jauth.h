/* Credentials of the `sluice jobs` HTTP API (issue 20): bearer tokens in three roles, several
 * per role so they can be rotated. Only SHA-256 digests of the tokens are kept; a presented
 * token is hashed and compared with every configured digest in constant time (CRYPTO_memcmp
 * over equal-length digests, no early exit), so neither its bytes nor its length leak.
 * Settings and rules: docs/jobs-security.md. */
#ifndef JAUTH_H
#define JAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JAUTH_TOKENS_MAX 16      /* tokens per role (old and new ones while rotating) */
#define JAUTH_TOKEN_BYTES_MIN 16 /* shorter tokens are refused at start: guessable */
#define JAUTH_TOKEN_BYTES_MAX 256
#define JAUTH_ID_BYTES_MAX 32    /* a token's name ("name:token"), [0-9A-Za-z_.-] */
#define JAUTH_DIGEST_BYTES 32
/* "operator:" + a name or 32 hex digits of the token's SHA-256 */
#define JAUTH_WHO_BUF 48

typedef enum { JAUTH_API, JAUTH_OPERATOR, JAUTH_METRICS, JAUTH_ROLE_COUNT } jauth_role_t;

typedef struct {
    uint8_t digest[JAUTH_DIGEST_BYTES];
    char id[JAUTH_ID_BYTES_MAX + 1];
} jauth_token_t;

typedef struct {
    jauth_token_t tokens[JAUTH_ROLE_COUNT][JAUTH_TOKENS_MAX];
    int ntokens[JAUTH_ROLE_COUNT];
} jauth_t;

/* Replaces the tokens of role with a comma-separated list; an entry "name:token" names the
 * token (jobs it submits are recorded under the name, so a rotated token with the same name
 * keeps reading them), a bare token is named by 32 hex digits of its SHA-256. Spaces around
 * entries are ignored; an empty list clears the role. SL_EINVAL with the reason in err. */
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
