/* jauth: bearer tokens of the jobs API (see jauth.h). */
#include "jauth.h"

#include "sl_common.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

SL_STATIC_ASSERT(JAUTH_DIGEST_BYTES == SHA256_DIGEST_LENGTH, "SHA-256 digests");
SL_STATIC_ASSERT(JAUTH_WHO_BUF > sizeof("operator:") + JAUTH_ID_BYTES_MAX, "who fits");

const char *jauth_role_name(jauth_role_t role)
{
    static const char *const names[] = {"api", "operator", "metrics"};
    return role < JAUTH_ROLE_COUNT ? names[role] : "?";
}

static bool jauth__name_ok(const char *p, size_t len)
{
    bool ok = len > 0 && len <= JAUTH_ID_BYTES_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        char c = p[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '_' || c == '-' || c == '.';
    }
    return ok;
}

/* One entry [p, p+len), trimmed. */
static int jauth__add(jauth_t *auth, jauth_role_t role, const char *p, size_t len, char *err,
                      size_t err_len)
{
    const char *name = NULL, *colon = memchr(p, ':', len);
    size_t name_len = 0;
    if (colon) {
        name = p;
        name_len = (size_t)(colon - p);
        len -= name_len + 1;
        p = colon + 1;
        if (!jauth__name_ok(name, name_len)) {
            snprintf(err, err_len, "a token name is 1..%d of [0-9A-Za-z_.-]",
                     JAUTH_ID_BYTES_MAX);
            return SL_EINVAL;
        }
    }
    if (len < JAUTH_TOKEN_BYTES_MIN || len > JAUTH_TOKEN_BYTES_MAX) {
        snprintf(err, err_len, "a token has %d..%d bytes (got %zu); generate one with "
                 "`openssl rand -hex 32`", JAUTH_TOKEN_BYTES_MIN, JAUTH_TOKEN_BYTES_MAX, len);
        return SL_EINVAL;
    }
    if (auth->ntokens[role] == JAUTH_TOKENS_MAX) {
        snprintf(err, err_len, "at most %d tokens", JAUTH_TOKENS_MAX);
        return SL_EINVAL;
    }
    jauth_token_t *tok = &auth->tokens[role][auth->ntokens[role]++];
    SHA256((const unsigned char *)p, len, tok->digest);
    if (name) {
        memcpy(tok->id, name, name_len);
        tok->id[name_len] = '\0';
    } else {
        for (int i = 0; i < 16; i++) {
            snprintf(tok->id + 2 * i, 3, "%02x", tok->digest[i]);
        }
    }
    return 0;
}

int jauth_set(jauth_t *auth, jauth_role_t role, const char *list, char *err, size_t err_len)
{
    auth->ntokens[role] = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (len > 0 && (*q == ' ' || *q == '\t')) {
            q++, len--;
        }
        while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\t')) {
            len--;
        }
        if (len > 0 && jauth__add(auth, role, q, len, err, err_len) != 0) {
            auth->ntokens[role] = 0;
            return SL_EINVAL;
        }
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

bool jauth_role_set(const jauth_t *auth, jauth_role_t role)
{
    return auth->ntokens[role] > 0;
}

bool jauth_enabled(const jauth_t *auth)
{
    return jauth_role_set(auth, JAUTH_API) || jauth_role_set(auth, JAUTH_OPERATOR);
}

jauth_verdict_t jauth_check(const jauth_t *auth, const char *header, jauth_role_t *role,
                            char who[JAUTH_WHO_BUF])
{
    who[0] = '\0';
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        return JAUTH_MISSING;
    }
    const char *tok = header + 7;
    while (*tok == ' ') {
        tok++;
    }
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\r' || tok[len - 1] == '\n')) {
        len--;
    }
    if (len == 0) {
        return JAUTH_MISSING;
    }
    uint8_t digest[JAUTH_DIGEST_BYTES];
    SHA256((const unsigned char *)tok, len, digest);
    /* every digest is compared, whichever matches: the time does not depend on the token */
    static const jauth_role_t order[] = {JAUTH_METRICS, JAUTH_API, JAUTH_OPERATOR};
    const jauth_token_t *hit = NULL;
    for (size_t r = 0; r < SL_ARRAY_LEN(order); r++) {
        for (int i = 0; i < auth->ntokens[order[r]]; i++) {
            const jauth_token_t *t = &auth->tokens[order[r]][i];
            if (CRYPTO_memcmp(digest, t->digest, JAUTH_DIGEST_BYTES) == 0) {
                hit = t;
                *role = order[r];
            }
        }
    }
    if (!hit) {
        return JAUTH_WRONG;
    }
    snprintf(who, JAUTH_WHO_BUF, "%s:%s", jauth_role_name(*role), hit->id);
    return JAUTH_OK;
}
