/* The SCRAM credential admin APIs on the store of `sluice users` (users.c):
 * DescribeUserScramCredentials (v0) and AlterUserScramCredentials (v0), answered as Kafka 3.7
 * answers them (KRaft's ScramImage.describe and ScramControlManager.alterCredentials): a user
 * named twice is DUPLICATE_RESOURCE, changes are applied together and are durable (the store's
 * atomic write) before the answer. ACLs: DESCRIBE / ALTER on the cluster. Documented in
 * docs/broker.md, "Security". */
#include "brk_acl.h"
#include "brk_authz.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_req.h"
#include "brk_users.h"
#include "kerr.h"
#include "sl_common.h"
#include "sl_log.h"

#include <stdio.h>
#include <string.h>

/* Kafka's ScramMechanism types on the wire. */
#define BRK_SCRAM_TYPE_SHA_256 1
#define BRK_SCRAM_TYPE_SHA_512 2

/* Kafka's null message of a success (the generated init's default is ""). */
#define BRK_SCRAM_NO_MSG ((kproto_str_t){NULL, -1})

static bool brk__scram_mech(int8_t type, snet_mech_t *mech)
{
    if (type == BRK_SCRAM_TYPE_SHA_256 || type == BRK_SCRAM_TYPE_SHA_512) {
        *mech = type == BRK_SCRAM_TYPE_SHA_256 ? SNET_MECH_SCRAM_SHA_256 : SNET_MECH_SCRAM_SHA_512;
        return true;
    }
    return false;
}

static int8_t brk__scram_type(snet_mech_t mech)
{
    return mech == SNET_MECH_SCRAM_SHA_256 ? BRK_SCRAM_TYPE_SHA_256 : BRK_SCRAM_TYPE_SHA_512;
}

/* A wire name as a C string in the arena; NULL when it holds a NUL byte or is null. */
static const char *brk__scram_cname(brk_req_t *req, kproto_str_t name)
{
    if (name.len < 0 || (name.len > 0 && memchr(name.ptr, '\0', (size_t)name.len))) {
        return NULL;
    }
    char *s = brk_alloc(req, name.len + 1, 1);
    memcpy(s, name.ptr, (size_t)name.len);
    return s;
}

static kproto_str_t brk__scram_msg(brk_req_t *req, const char *fmt, kproto_str_t name)
{
    int n = snprintf(NULL, 0, fmt, (int)SL_MAX(name.len, 0), name.ptr ? name.ptr : "");
    char *s = brk_alloc(req, n + 1, 1);
    snprintf(s, (size_t)n + 1, fmt, (int)SL_MAX(name.len, 0), name.ptr ? name.ptr : "");
    return kproto_str(s);
}

/* ---- DescribeUserScramCredentials --------------------------------------------------------- */

typedef kmsg_describe_user_scram_credentials_resp_describe_user_scram_credentials_result_t
    brk_dusc_result_t;
typedef kmsg_describe_user_scram_credentials_resp_credential_info_t brk_dusc_info_t;

static brk_key_t brk__dusc_key(const void *entries, int32_t i)
{
    return brk_key_str(((const kmsg_describe_user_scram_credentials_req_user_name_t *)entries)[i]
                           .name,
                       0);
}

/* user's credentials (both mechanisms) into r; RESOURCE_NOT_FOUND when it has none. */
static void brk__dusc_user(brk_req_t *req, kproto_str_t name, brk_dusc_result_t *r)
{
    const char *user = brk__scram_cname(req, name);
    r->user = name;
    r->error_message = BRK_SCRAM_NO_MSG;
    r->credential_infos = brk_alloc(req, 2, sizeof *r->credential_infos);
    for (int m = SNET_MECH_SCRAM_SHA_256; user && m <= SNET_MECH_SCRAM_SHA_512; m++) {
        snet_scram_cred_t cred;
        if (brk_users_lookup(req->brk->users, (snet_mech_t)m, user, &cred) == 0) {
            r->credential_infos[r->credential_infos_count++] =
                (brk_dusc_info_t){brk__scram_type((snet_mech_t)m), cred.iterations};
        }
    }
    if (r->credential_infos_count == 0) {
        r->error_code = KERR_RESOURCE_NOT_FOUND;
        r->error_message = brk__scram_msg(req, "attemptToDescribeUserThatDoesNotExist: %.*s", name);
    }
}

/* Every user of the store, by name, with its credentials. */
static void brk__dusc_all(brk_req_t *req, kmsg_describe_user_scram_credentials_resp_t *resp)
{
    const brk_users_t *users = req->brk->users;
    int32_t n = (int32_t)brk_users_count(users), m = 0;
    resp->results = brk_alloc(req, n, sizeof *resp->results);
    for (int32_t i = 0; i < n; i++) {
        const char *user;
        snet_mech_t mech;
        int32_t iterations;
        brk_users_at(users, (size_t)i, &user, &mech, &iterations);
        if (m == 0 || strcmp(resp->results[m - 1].user.ptr, user) != 0) {
            resp->results[m].user = kproto_str(user);
            resp->results[m].error_message = BRK_SCRAM_NO_MSG;
            resp->results[m].credential_infos = brk_alloc(req, 2, sizeof(brk_dusc_info_t));
            m++;
        }
        brk_dusc_result_t *r = &resp->results[m - 1];
        r->credential_infos[r->credential_infos_count++] =
            (brk_dusc_info_t){brk__scram_type(mech), iterations};
    }
    resp->results_count = m;
}

void brk_handle_describe_user_scram_credentials(brk_req_t *req)
{
    kmsg_describe_user_scram_credentials_req_t *body = req->body;
    kmsg_describe_user_scram_credentials_resp_t resp;
    kmsg_describe_user_scram_credentials_resp_init(&resp);
    resp.error_message = BRK_SCRAM_NO_MSG;
    int32_t n = SL_MAX(body->users_count, 0);
    kerr_t denied = brk_authz_cluster(req, BRK_ACL_OP_DESCRIBE);
    if (denied != KERR_NONE) { /* Kafka's getErrorResponse: one result per name given */
        resp.error_code = (int16_t)denied;
        resp.error_message = kproto_str("Cluster authorization failed.");
        resp.results_count = n;
        resp.results = brk_alloc(req, n, sizeof *resp.results);
        for (int32_t i = 0; i < n; i++) {
            resp.results[i].user = kproto_str(""); /* unset in Kafka's answer: "" */
            resp.results[i].error_code = (int16_t)denied;
            resp.results[i].error_message = resp.error_message;
        }
        brk_respond(req, &resp);
        return;
    }
    brk_users_refresh(req->brk->users);
    if (n == 0) { /* null or empty: every user */
        brk__dusc_all(req, &resp);
        brk_respond(req, &resp);
        return;
    }
    bool *repeated = NULL;
    int32_t *first = brk_dups(req, body->users, n, brk__dusc_key, &repeated);
    resp.results = brk_alloc(req, n, sizeof *resp.results);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue; /* answered once, at its first mention */
        }
        brk_dusc_result_t *r = &resp.results[resp.results_count++];
        kproto_str_t name = body->users[i].name;
        if (repeated[i]) {
            r->user = name;
            r->error_code = KERR_DUPLICATE_RESOURCE;
            r->error_message = brk__scram_msg(
                req, "Cannot describe SCRAM credentials for the same user twice in a single "
                     "request: %.*s", name);
        } else {
            brk__dusc_user(req, name, r);
        }
    }
    brk_respond(req, &resp);
}

/* ---- AlterUserScramCredentials ------------------------------------------------------------ */

typedef kmsg_alter_user_scram_credentials_req_scram_credential_upsertion_t brk_ausc_ups_t;
typedef kmsg_alter_user_scram_credentials_req_scram_credential_deletion_t brk_ausc_del_t;

/* One request entry: a deletion (ups NULL) or an upsertion, and what became of it. */
typedef struct {
    kproto_str_t name;
    int8_t type;
    const brk_ausc_ups_t *ups;
    bool ok;           /* accepted, to apply */
    kerr_t err;        /* refused (KERR_NONE: not yet decided / accepted) */
    const char *msg;   /* with err */
} brk_ausc_entry_t;

static brk_key_t brk__ausc_key(const void *entries, int32_t i)
{
    return brk_key_str(((const brk_ausc_entry_t *)entries)[i].name, 0);
}

static bool brk__ausc_refuse(brk_ausc_entry_t *e, kerr_t err, const char *msg)
{
    e->err = err;
    e->msg = msg;
    return false;
}

/* Kafka's validateScramUsernameAndMechanism, validateDeletion and validateUpsertion, then the
 * store's own rules (name, salt and key sizes, BRK_USERS_MAX). *added counts new entries. */
static bool brk__ausc_valid(brk_req_t *req, brk_ausc_entry_t *e, size_t *added)
{
    snet_mech_t mech;
    snet_scram_cred_t cred;
    if (e->name.len <= 0) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
    }
    if (!brk__scram_mech(e->type, &mech)) {
        return brk__ausc_refuse(e, KERR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
    }
    const char *user = brk__scram_cname(req, e->name);
    bool exists = user && brk_users_lookup(req->brk->users, mech, user, &cred) == 0;
    if (!e->ups) {
        return exists || brk__ausc_refuse(e, KERR_RESOURCE_NOT_FOUND,
                                          "Attempt to delete a user credential that does not "
                                          "exist");
    }
    if (e->ups->iterations < SNET_SCRAM_ITERATIONS_MIN) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL, "Too few iterations");
    }
    if (e->ups->iterations > SNET_SCRAM_ITERATIONS_MAX) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL, "Too many iterations");
    }
    if (!user || !brk_users_name_valid(user)) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL,
                                "a user name is 1 to 256 printable ASCII bytes, no space, not "
                                "starting with '#'");
    }
    if (e->ups->salt.len <= 0 || e->ups->salt.len > SNET_SCRAM_SALT_BYTES_MAX ||
        e->ups->salted_password.len <= 0 ||
        e->ups->salted_password.len > SNET_SCRAM_SALTED_BYTES_MAX) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL,
                                "the salt and the salted password must be 1 to 64 bytes");
    }
    if (!exists && brk_users_count(req->brk->users) + *added >= BRK_USERS_MAX) {
        return brk__ausc_refuse(e, KERR_UNACCEPTABLE_CREDENTIAL,
                                "the broker holds its limit of credentials (BRK_USERS_MAX)");
    }
    *added += exists ? 0 : 1;
    return true;
}

/* Kafka's two passes (deletions, then upsertions): a user already accepted in this request
 * turns DUPLICATE_RESOURCE, a user already refused keeps its first error. A user's outcome
 * lives at its first mention (any later mention finds it decided). */
static void brk__ausc_decide(brk_req_t *req, brk_ausc_entry_t *v, int32_t n, const int32_t *first)
{
    size_t added = 0;
    for (int32_t i = 0; i < n; i++) {
        brk_ausc_entry_t *f = &v[first[i]];
        if (f->err != KERR_NONE) {
            continue;
        }
        if (f->ok) {
            f->ok = false;
            brk__ausc_refuse(f, KERR_DUPLICATE_RESOURCE,
                             "A user credential cannot be altered twice in the same request");
            continue;
        }
        f->ok = brk__ausc_valid(req, f, &added); /* f == &v[i]: its first mention */
    }
}

/* Applies the accepted entries and saves; on a failed save, reloads the file (memory never
 * holds what the file does not) and returns the error. */
static int brk__ausc_apply(brk_req_t *req, brk_ausc_entry_t *v, int32_t n)
{
    brk_users_t *users = req->brk->users;
    int changed = 0;
    for (int32_t i = 0; i < n; i++) {
        snet_mech_t mech;
        if (!v[i].ok || !brk__scram_mech(v[i].type, &mech)) {
            continue;
        }
        const char *user = brk__scram_cname(req, v[i].name);
        snet_scram_cred_t cred;
        if (!v[i].ups) {
            changed += brk_users_remove_mech(users, user, mech);
            continue;
        }
        const brk_ausc_ups_t *ups = v[i].ups;
        if (snet_scram_cred_from_salted(mech, ups->salted_password.ptr,
                                        (size_t)ups->salted_password.len, ups->salt.ptr,
                                        (size_t)ups->salt.len, ups->iterations, &cred) == 0) {
            brk_users_set(users, user, mech, &cred);
            changed++;
        }
    }
    int rc = changed > 0 ? brk_users_save(users) : 0;
    if (rc != 0) {
        SL_LOGE("sasl", "cannot write %s: %s", brk_users_path(users), sl_strerror(rc));
        brk_users_reload(users);
    }
    return rc;
}

/* The request's entries, deletions first (Kafka's order of passes). */
static int32_t brk__ausc_entries(brk_req_t *req, brk_ausc_entry_t **out)
{
    kmsg_alter_user_scram_credentials_req_t *body = req->body;
    int32_t nd = SL_MAX(body->deletions_count, 0), nu = SL_MAX(body->upsertions_count, 0);
    brk_ausc_entry_t *v = brk_alloc(req, nd + nu, sizeof *v);
    for (int32_t i = 0; i < nd; i++) {
        v[i] = (brk_ausc_entry_t){.name = body->deletions[i].name,
                                  .type = body->deletions[i].mechanism};
    }
    for (int32_t i = 0; i < nu; i++) {
        const brk_ausc_ups_t *ups = &body->upsertions[i];
        v[nd + i] = (brk_ausc_entry_t){.name = ups->name, .type = ups->mechanism, .ups = ups};
    }
    *out = v;
    return nd + nu;
}

void brk_handle_alter_user_scram_credentials(brk_req_t *req)
{
    kmsg_alter_user_scram_credentials_resp_t resp;
    kmsg_alter_user_scram_credentials_resp_init(&resp);
    brk_ausc_entry_t *v = NULL;
    int32_t n = brk__ausc_entries(req, &v);
    int32_t *first = brk_dups(req, v, n, brk__ausc_key, NULL);
    kerr_t denied = brk_authz_cluster(req, BRK_ACL_OP_ALTER);
    int lock = denied == KERR_NONE && n > 0 ? brk_users_lock(req->brk->users) : -1;
    for (int32_t i = 0; i < n && (denied != KERR_NONE || lock < 0); i++) {
        v[i].err = denied != KERR_NONE ? denied : KERR_UNKNOWN_SERVER_ERROR;
        v[i].msg = denied != KERR_NONE ? "Cluster authorization failed."
                                       : "the credentials file is locked by `sluice users`";
    }
    if (lock >= 0) {
        brk_users_refresh(req->brk->users); /* what `sluice users` wrote last */
        brk__ausc_decide(req, v, n, first);
        if (brk__ausc_apply(req, v, n) != 0) {
            for (int32_t i = 0; i < n; i++) {
                if (v[i].ok) {
                    v[i] = (brk_ausc_entry_t){.name = v[i].name, .err = KERR_UNKNOWN_SERVER_ERROR,
                                              .msg = "cannot write the credentials file"};
                }
            }
        }
        brk_users_unlock(lock);
    }
    resp.results = brk_alloc(req, n, sizeof *resp.results);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] == i) { /* one result per user, at its first mention */
            resp.results[resp.results_count++] =
                (kmsg_alter_user_scram_credentials_resp_alter_user_scram_credentials_result_t){
                    .user = v[i].name, .error_code = (int16_t)v[i].err,
                    .error_message = v[i].msg ? kproto_str(v[i].msg) : BRK_SCRAM_NO_MSG};
        }
    }
    brk_respond(req, &resp);
}
