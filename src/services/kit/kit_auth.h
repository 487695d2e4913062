/* kit_auth: credentials on the services' HTTP and STOMP surfaces. Static bearer tokens are kept
 * as SHA-256 digests and compared in constant time against every configured token (so neither
 * the length nor the position of a match shows in the time taken); several tokens per role let
 * operators rotate them. JSON Web Tokens (RFC 7519) are accepted with HS256 only (RFC 7518
 * 3.2): "alg" must be HS256 (never "none"), the signature is checked before the claims are
 * read, "exp" is required, "nbf" honoured, "sub" names the principal and "dest" (a string or
 * an array of strings) lists the destination patterns (fnmatch(3) globs) it may read. */
#ifndef KIT_AUTH_H
#define KIT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KIT_AUTH_TOKENS_MAX 16         /* tokens in one list (old and new ones while rotating) */
#define KIT_AUTH_TOKEN_BYTES_MIN 16    /* a shorter token is refused as guessable */
#define KIT_AUTH_TOKEN_BYTES_MAX 512
#define KIT_AUTH_DIGEST_BYTES 32       /* SHA-256 */
#define KIT_AUTH_NAME_BYTES_MAX 32     /* a token's name ("name:token"), [0-9A-Za-z_.-] */
#define KIT_AUTH_JWT_BYTES_MAX 4096    /* a longer passcode is refused before any work */
#define KIT_AUTH_JWT_DESTS_MAX 8       /* "dest" patterns in one token */
#define KIT_AUTH_SUB_BUF 128           /* "sub": 127 bytes */
#define KIT_AUTH_PATTERN_BUF 256       /* one "dest" pattern: 255 bytes */
#define KIT_AUTH_PATTERN_STARS_MAX 4   /* '*' in one pattern (fnmatch backtracks over each) */
#define KIT_AUTH_SECRET_BYTES_MIN 32   /* HS256 key: RFC 7518 3.2 wants at least 256 bits */
#define KIT_AUTH_SECRET_BYTES_MAX 1024

/* A list of tokens (value type, no allocation). n == 0: no token is configured. */
typedef struct {
    int n;
    uint8_t digest[KIT_AUTH_TOKENS_MAX][KIT_AUTH_DIGEST_BYTES];
    char name[KIT_AUTH_TOKENS_MAX][KIT_AUTH_NAME_BYTES_MAX + 1];
} kit_tokens_t;

/* Parses a comma-separated list of tokens into t ("" gives n == 0; spaces around entries are
 * ignored). An entry "name:token" names its token (a rotated token keeps its name); a bare
 * token is named by 32 hex digits of its SHA-256. SL_EINVAL with "KEY: reason" in err (and
 * t->n == 0) for more than KIT_AUTH_TOKENS_MAX tokens, a bad name, a token shorter than
 * KIT_AUTH_TOKEN_BYTES_MIN or longer than KIT_AUTH_TOKEN_BYTES_MAX, or one with spaces. */
int kit_tokens_parse(kit_tokens_t *t, const char *key, const char *list, char *err, size_t len);

/* Index in t of the token with this digest, or -1. Compares every entry, whichever matches. */
int kit_tokens_find(const kit_tokens_t *t, const uint8_t digest[KIT_AUTH_DIGEST_BYTES]);

/* Whether given (len bytes, any content) is one of t's tokens. Takes the same time whatever
 * the content, for a given number of configured tokens. False when t has none or len is 0. */
bool kit_tokens_match(const kit_tokens_t *t, const void *given, size_t len);

/* The same for a credential kept as its digest (kit_tokens_digest), so a session need not
 * keep the secret itself. */
void kit_tokens_digest(const void *given, size_t len, uint8_t out[KIT_AUTH_DIGEST_BYTES]);
bool kit_tokens_has(const kit_tokens_t *t, const uint8_t digest[KIT_AUTH_DIGEST_BYTES]);

/* Digest of a token: a stable, non-secret name for "whoever holds this token" (hex of the
 * first 8 bytes of its SHA-256, 17 bytes with NUL). */
void kit_tokens_id(const void *token, size_t len, char out[17]);

/* The claims of a verified JWT. */
typedef struct {
    char sub[KIT_AUTH_SUB_BUF];
    int64_t exp_s; /* Unix seconds */
    int ndests;
    char dests[KIT_AUTH_JWT_DESTS_MAX][KIT_AUTH_PATTERN_BUF];
} kit_jwt_t;

/* Whether s has the shape of a compact JWS (three base64url parts, two dots). */
bool kit_jwt_shaped(const char *s, size_t len);

/* Verifies jwt (len bytes) against the HS256 secret at now_s (Unix seconds) and fills out.
 * SL_EINVAL with a reason for the client in why: malformed, not HS256, bad signature,
 * expired, not yet valid, missing or bad sub/exp/dest. Never reads claims of a token whose
 * signature does not verify. Work is linear in len (bounded by KIT_AUTH_JWT_BYTES_MAX). */
int kit_jwt_verify(const uint8_t *secret, size_t secret_len, const char *jwt, size_t len,
                   int64_t now_s, kit_jwt_t *out, char *why, size_t why_len);

/* Whether one of jwt's "dest" patterns matches destination. */
bool kit_jwt_allows(const kit_jwt_t *jwt, const char *destination);

#endif
