/* SASL server mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802,
 * RFC 7677), the way Kafka's SaslServerAuthenticator runs them. The exchange only parses and
 * answers tokens; the Kafka framing (SaslHandshake/SaslAuthenticate or raw v0 tokens) and the
 * credential store live in the broker. SCRAM credentials are what Kafka stores: salt,
 * iterations, StoredKey and ServerKey, never the password. PBKDF2 and HMAC come from OpenSSL;
 * nonces from RAND_bytes; secrets are compared in constant time.
 * Thread: any (no shared state). */
#ifndef SNET_SASL_H
#define SNET_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snet_limits.h"

typedef enum {
    SNET_MECH_PLAIN,
    SNET_MECH_SCRAM_SHA_256,
    SNET_MECH_SCRAM_SHA_512,
    SNET_MECH_COUNT
} snet_mech_t;

/* Kafka's mechanism names ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"); exact match. */
bool snet_mech_parse(const char *name, size_t len, snet_mech_t *out);
const char *snet_mech_name(snet_mech_t mech);
bool snet_mech_is_scram(snet_mech_t mech);
/* Digest length of a SCRAM mechanism (32 or 64). */
size_t snet_scram_digest_len(snet_mech_t mech);

typedef struct {
    uint8_t salt[SNET_SCRAM_SALT_BYTES_MAX];
    size_t salt_len;
    int32_t iterations;
    uint8_t stored_key[64];
    uint8_t server_key[64];
} snet_scram_cred_t;

/* Derives a credential from a password with the given salt: SaltedPassword = PBKDF2 (HMAC of
 * the mechanism's hash), StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
 * HMAC(SaltedPassword, "Server Key"). Returns 0 or SL_EINVAL (iterations or salt out of
 * range). */
int snet_scram_cred_derive(snet_mech_t mech, const char *password, size_t password_len,
                           const uint8_t *salt, size_t salt_len, int32_t iterations,
                           snet_scram_cred_t *out);
/* As above from a SaltedPassword computed by a client (Kafka's AlterUserScramCredentials
 * carries it): 1..SNET_SCRAM_SALTED_BYTES_MAX bytes, used as the HMAC key. Returns 0 or
 * SL_EINVAL (not a SCRAM mechanism, iterations, salt or salted_len out of range). */
int snet_scram_cred_from_salted(snet_mech_t mech, const uint8_t *salted, size_t salted_len,
                                const uint8_t *salt, size_t salt_len, int32_t iterations,
                                snet_scram_cred_t *out);
/* As above with a fresh random salt of SNET_SCRAM_SALT_BYTES. */
int snet_scram_cred_new(snet_mech_t mech, const char *password, size_t password_len,
                        int32_t iterations, snet_scram_cred_t *out);
/* Whether password derives to cred's StoredKey (PLAIN against a SCRAM entry). Constant time
 * in the compare; the PBKDF2 cost is the credential's. */
bool snet_scram_cred_check(snet_mech_t mech, const snet_scram_cred_t *cred, const char *password,
                           size_t password_len);
/* PBKDF2-HMAC of the mechanism's hash into out (digest length bytes). Returns 0 or SL_EINVAL. */
int snet_scram_pbkdf2(snet_mech_t mech, const char *password, size_t password_len,
                      const uint8_t *salt, size_t salt_len, int32_t iterations, uint8_t *out);

/* Looks up user's credential for mech (a SCRAM mechanism). Returns 0, or SL_ENOTFOUND. */
typedef int (*snet_sasl_lookup_fn)(void *ctx, snet_mech_t mech, const char *user,
                                   snet_scram_cred_t *out);

typedef struct snet_sasl snet_sasl_t;

/* One server-side exchange for mech. lookup is called with SCRAM mechanisms only; for PLAIN
 * it is called with SCRAM-SHA-512 then SCRAM-SHA-256 (the password is checked against the
 * stored SCRAM entry). */
snet_sasl_t *snet_sasl_new(snet_mech_t mech, snet_sasl_lookup_fn lookup, void *ctx);
void snet_sasl_free(snet_sasl_t *sasl);
/* Tests and fuzzing only: the server nonce part to use instead of a random one (printable,
 * no ','; copied). */
void snet_sasl_set_nonce(snet_sasl_t *sasl, const char *nonce);

/* Result of a step: more tokens are expected, the exchange succeeded, or it failed; or the
 * expensive check is due (PLAIN's PBKDF2): call snet_sasl_verify (any thread, nothing else
 * touching sasl meanwhile), then snet_sasl_finish for the answer. */
enum { SNET_SASL_DONE = 0, SNET_SASL_CONTINUE = 1, SNET_SASL_VERIFY = 2 };
/* Feeds one client token (at most SNET_SASL_TOKEN_BYTES_MAX). On SNET_SASL_CONTINUE or
 * SNET_SASL_DONE, *resp is the server's token (malloc'd, caller frees; may be empty, never
 * NULL). On failure returns SL_EINVAL (malformed token, wrong state) or SL_ECLOSED (bad
 * credentials or unknown user) with *why set to a message for the client (static storage). */
int snet_sasl_step(snet_sasl_t *sasl, const uint8_t *tok, size_t len, uint8_t **resp,
                   size_t *resp_len, const char **why);
/* After SNET_SASL_VERIFY: runs the password check (PBKDF2 with the credential's iteration
 * count; for an unknown user the same work against a stand-in credential, which fails).
 * Thread: any, one at a time per exchange. */
void snet_sasl_verify(snet_sasl_t *sasl);
/* After snet_sasl_verify: SNET_SASL_DONE with *resp (as snet_sasl_step) or SL_ECLOSED/
 * SL_EINVAL with *why. */
int snet_sasl_finish(snet_sasl_t *sasl, uint8_t **resp, size_t *resp_len, const char **why);
/* The authenticated user name after SNET_SASL_DONE (else ""). */
const char *snet_sasl_user(const snet_sasl_t *sasl);

/* Base64 (standard alphabet, padded). enc: out has room for 4*ceil(n/3)+1; returns length.
 * dec: returns decoded length or -1 on bad input or if it exceeds cap. */
size_t snet_b64_encode(const uint8_t *in, size_t n, char *out);
int snet_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
