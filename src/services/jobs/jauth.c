/* jauth: bearer tokens of the jobs API in three roles (see jauth.h). */
#include "jauth.h"

#include "sl_common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

SL_STATIC_ASSERT(JAUTH_WHO_BUF > sizeof("operator:") + KIT_AUTH_NAME_BYTES_MAX, "who fits");

const char *jauth_role_name(jauth_role_t role)
{
    static const char *const names[] = {"api", "operator", "metrics"};
    return role < JAUTH_ROLE_COUNT ? names[role] : "?";
}

int jauth_set(jauth_t *auth, jauth_role_t role, const char *list, char *err, size_t err_len)
{
    char key[32];
    snprintf(key, sizeof key, "%s.token", jauth_role_name(role));
    return kit_tokens_parse(&auth->roles[role], key, list, err, err_len);
}

bool jauth_role_set(const jauth_t *auth, jauth_role_t role)
{
    return auth->roles[role].n > 0;
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
    uint8_t digest[KIT_AUTH_DIGEST_BYTES];
    kit_tokens_digest(tok, len, digest);
    /* every role is searched, whichever holds it: the time does not depend on the token */
    static const jauth_role_t order[] = {JAUTH_METRICS, JAUTH_API, JAUTH_OPERATOR};
    const char *name = NULL;
    for (size_t r = 0; r < SL_ARRAY_LEN(order); r++) {
        int i = kit_tokens_find(&auth->roles[order[r]], digest);
        if (i >= 0) {
            name = auth->roles[order[r]].name[i];
            *role = order[r];
        }
    }
    if (!name) {
        return JAUTH_WRONG;
    }
    snprintf(who, JAUTH_WHO_BUF, "%s:%s", jauth_role_name(*role), name);
    return JAUTH_OK;
}
