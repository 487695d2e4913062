/* The SASL credential store, <data>/credentials:
 *
 *   # comment
 *   NAME SCRAM-SHA-256 salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=4096
 *
 * (the last field is Kafka's SCRAM credential text, as kafka-configs shows it). One line per
 * user and mechanism; PLAIN is verified against a user's SCRAM entry. Saved with a temp file,
 * fsync, rename and fsync of the dir, mode 0600. */
#include "brk_users.h"
#include "brk_limits.h"
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name;
    snet_mech_t mech;
    snet_scram_cred_t cred;
    size_t seq; /* line order while loading */
} brk_user_t;

struct brk_users {
    char path[BRK_PATH_BUF];
    char dir[BRK_PATH_BUF];
    brk_user_t *v;
    size_t n, cap;
    struct stat seen; /* the file as last read (st_ino 0: absent) */
    bool warned;
};

bool brk_users_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SNET_SASL_USER_BYTES_MAX || name[0] == '#') { /* '#': a comment line */
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (name[i] < 0x21 || name[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static void brk__users_clear(brk_users_t *users)
{
    for (size_t i = 0; i < users->n; i++) {
        free(users->v[i].name);
    }
    free(users->v);
    users->v = NULL;
    users->n = users->cap = 0;
}

static int brk__user_cmp(const void *a, const void *b)
{
    const brk_user_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->mech - (int)y->mech;
}

/* As brk__user_cmp, then by position in the file (so the later of two duplicates sorts last). */
static int brk__user_cmp_seq(const void *a, const void *b)
{
    const brk_user_t *x = a, *y = b;
    int c = brk__user_cmp(a, b);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Index of (user, mech) in the sorted store, or where it would go (*found false). */
static size_t brk__users_find(const brk_users_t *users, const char *user, snet_mech_t mech,
                              bool *found)
{
    brk_user_t probe = {.name = (char *)user, .mech = mech};
    size_t lo = 0, hi = users->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = brk__user_cmp(&users->v[mid], &probe);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static void brk__users_grow(brk_users_t *users)
{
    if (users->n == users->cap) {
        users->cap = users->cap ? users->cap * 2 : 16;
        users->v = sl_xrealloc(users->v, users->cap * sizeof *users->v);
    }
}

void brk_users_set(brk_users_t *users, const char *user, snet_mech_t mech,
                   const snet_scram_cred_t *cred)
{
    bool found;
    size_t at = brk__users_find(users, user, mech, &found);
    if (found) {
        users->v[at].cred = *cred;
        return;
    }
    brk__users_grow(users);
    memmove(&users->v[at + 1], &users->v[at], (users->n - at) * sizeof *users->v);
    users->n++;
    users->v[at] = (brk_user_t){.name = sl_xstrdup(user), .mech = mech, .cred = *cred};
}

/* After a load: one sort, then of duplicates (user, mech) the last line in the file wins. */
static void brk__users_sort(brk_users_t *users)
{
    if (users->n == 0) {
        return; /* v may be NULL: qsort's argument must not be */
    }
    qsort(users->v, users->n, sizeof *users->v, brk__user_cmp_seq);
    size_t o = 0;
    for (size_t i = 0; i < users->n; i++) {
        if (o > 0 && brk__user_cmp(&users->v[o - 1], &users->v[i]) == 0) {
            free(users->v[o - 1].name);
            users->v[o - 1] = users->v[i];
        } else {
            users->v[o++] = users->v[i];
        }
    }
    users->n = o;
}

int brk_users_remove(brk_users_t *users, const char *user)
{
    int removed = 0;
    size_t o = 0;
    for (size_t i = 0; i < users->n; i++) {
        if (strcmp(users->v[i].name, user) == 0) {
            free(users->v[i].name);
            removed++;
        } else {
            users->v[o++] = users->v[i];
        }
    }
    users->n = o;
    return removed;
}

bool brk_users_remove_mech(brk_users_t *users, const char *user, snet_mech_t mech)
{
    bool found;
    size_t at = brk__users_find(users, user, mech, &found);
    if (!found) {
        return false;
    }
    OPENSSL_cleanse(&users->v[at].cred, sizeof users->v[at].cred);
    free(users->v[at].name);
    memmove(&users->v[at], &users->v[at + 1], (users->n - at - 1) * sizeof *users->v);
    users->n--;
    return true;
}

int brk_users_lock(const brk_users_t *users)
{
    char lock[BRK_PATH_BUF + 32];
    snprintf(lock, sizeof lock, "%s/credentials.lock", users->dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

void brk_users_unlock(int fd)
{
    if (fd >= 0) {
        close(fd); /* releases the flock */
    }
}

size_t brk_users_count(const brk_users_t *users)
{
    return users->n;
}

void brk_users_at(const brk_users_t *users, size_t i, const char **user, snet_mech_t *mech,
                  int32_t *iterations)
{
    *user = users->v[i].name;
    *mech = users->v[i].mech;
    *iterations = users->v[i].cred.iterations;
}

const char *brk_users_path(const brk_users_t *users)
{
    return users->path;
}

int brk_users_lookup(const brk_users_t *users, snet_mech_t mech, const char *user,
                     snet_scram_cred_t *out)
{
    bool found;
    size_t at = brk__users_find(users, user, mech, &found);
    if (found) {
        *out = users->v[at].cred;
        return 0;
    }
    return SL_ENOTFOUND;
}

/* One "k=<b64>" field of a credential into out (exactly want bytes unless want is 0). */
static bool brk__cred_b64(const char *text, const char *key, uint8_t *out, size_t cap,
                          size_t *got)
{
    const char *p = strstr(text, key);
    if (!p || (p != text && p[-1] != ',')) {
        return false;
    }
    p += strlen(key);
    size_t n = strcspn(p, ",");
    int len = snet_b64_decode(p, n, out, cap);
    if (len <= 0) {
        return false;
    }
    *got = (size_t)len;
    return true;
}

/* Parses "NAME MECH salt=..,stored_key=..,server_key=..,iterations=N". */
static bool brk__users_line(brk_users_t *users, char *line)
{
    char *save = NULL;
    char *name = strtok_r(line, " \t", &save);
    char *mech_s = strtok_r(NULL, " \t", &save);
    char *text = strtok_r(NULL, " \t", &save);
    snet_mech_t mech;
    if (!name || !mech_s || !text || strtok_r(NULL, " \t", &save) || !brk_users_name_valid(name) ||
        !snet_mech_parse(mech_s, strlen(mech_s), &mech) || !snet_mech_is_scram(mech)) {
        return false;
    }
    snet_scram_cred_t cred;
    memset(&cred, 0, sizeof cred);
    size_t dlen = snet_scram_digest_len(mech), n1, n2;
    const char *it = strstr(text, "iterations=");
    int64_t iters;
    char itbuf[16];
    if (!it || (it != text && it[-1] != ',')) {
        return false;
    }
    snprintf(itbuf, sizeof itbuf, "%.*s", (int)strcspn(it + 11, ","), it + 11);
    if (!sl_parse_i64(itbuf, SNET_SCRAM_ITERATIONS_MIN, SNET_SCRAM_ITERATIONS_MAX, &iters) ||
        !brk__cred_b64(text, "salt=", cred.salt, sizeof cred.salt, &cred.salt_len) ||
        !brk__cred_b64(text, "stored_key=", cred.stored_key, sizeof cred.stored_key, &n1) ||
        !brk__cred_b64(text, "server_key=", cred.server_key, sizeof cred.server_key, &n2) ||
        n1 != dlen || n2 != dlen) {
        return false;
    }
    cred.iterations = (int32_t)iters;
    if (users->n >= BRK_USERS_MAX) {
        return false;
    }
    brk__users_grow(users);
    users->v[users->n] = (brk_user_t){.name = sl_xstrdup(name), .mech = mech, .cred = cred,
                                      .seq = users->n};
    users->n++;
    return true;
}

/* Reads the file into users (replacing what it held), skipping damaged lines (counted in
 * *skipped; logged when log). On error leaves users empty. */
static int brk__users_read(brk_users_t *users, bool log, long *skipped, char *err,
                           size_t err_len)
{
    *skipped = 0;
    char *data = NULL;
    size_t len = 0;
    brk__users_clear(users);
    int rc = sl_fs_read_all(users->path, BRK_USERS_FILE_BYTES_MAX, &data, &len);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", users->path, sl_strerror(rc));
        return rc;
    }
    /* A damaged line is skipped (that user cannot log in until it is rewritten), never a
     * refusal to start: sl_load_skip names the file and the line. */
    sl_load_t ld = {.path = users->path};
    long lineno = 0;
    char *line = data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        if (line[0] != '#' && line[0] != '\0' && !brk__users_line(users, line)) {
            char why[96];
            snprintf(why, sizeof why, users->n >= BRK_USERS_MAX
                                          ? "beyond the limit of %d credentials"
                                          : "not a SCRAM credential (of %d at most)",
                     BRK_USERS_MAX);
            (*skipped)++;
            if (log) {
                sl_load_skip(&ld, lineno, why);
            } else {
                snprintf(err, err_len, "%s: line %ld: %s", users->path, lineno, why);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (log) {
        sl_load_done(&ld);
    }
    brk__users_sort(users);
    OPENSSL_cleanse(data, len);
    free(data);
    return 0;
}

static bool brk__users_changed(const brk_users_t *users, struct stat *now)
{
    if (stat(users->path, now) != 0) {
        memset(now, 0, sizeof *now);
    }
    const struct stat *was = &users->seen;
    return now->st_ino != was->st_ino || now->st_size != was->st_size ||
           now->st_mtim.tv_sec != was->st_mtim.tv_sec ||
           now->st_mtim.tv_nsec != was->st_mtim.tv_nsec || now->st_dev != was->st_dev;
}

int brk_users_open(const char *data_dir, brk_users_t **out, char *err, size_t err_len)
{
    brk_users_t *users = sl_xcalloc(1, sizeof *users);
    snprintf(users->dir, sizeof users->dir, "%s", data_dir);
    snprintf(users->path, sizeof users->path, "%s/credentials", data_dir);
    brk__users_changed(users, &users->seen);
    long skipped;
    int rc = brk__users_read(users, true, &skipped, err, err_len);
    if (rc != 0) {
        brk_users_free(users);
        return rc;
    }
    *out = users;
    return 0;
}

void brk_users_free(brk_users_t *users)
{
    if (!users) {
        return;
    }
    for (size_t i = 0; i < users->n; i++) {
        OPENSSL_cleanse(&users->v[i].cred, sizeof users->v[i].cred);
    }
    brk__users_clear(users);
    free(users);
}

static void brk__users_reread(brk_users_t *users, const struct stat *now);

void brk_users_refresh(brk_users_t *users)
{
    struct stat now;
    if (brk__users_changed(users, &now)) {
        brk__users_reread(users, &now);
    }
}

void brk_users_reload(brk_users_t *users)
{
    struct stat now;
    brk__users_changed(users, &now);
    brk__users_reread(users, &now);
}

static void brk__users_reread(brk_users_t *users, const struct stat *now)
{
    brk_users_t fresh;
    memset(&fresh, 0, sizeof fresh);
    memcpy(fresh.path, users->path, sizeof fresh.path);
    char err[BRK_PATH_BUF + 128];
    long skipped;
    int rc = brk__users_read(&fresh, false, &skipped, err, sizeof err);
    if (rc == 0 && skipped > 0) {
        rc = SL_ECORRUPT; /* a file being edited: keep what works until it parses whole */
    }
    if (rc != 0) {
        if (!users->warned) {
            SL_LOGW("sasl", "credentials not reloaded (previous users stay): %s", err);
        }
        users->warned = true;
        brk__users_clear(&fresh);
        return;
    }
    brk__users_clear(users);
    users->v = fresh.v;
    users->n = fresh.n;
    users->cap = fresh.cap;
    users->seen = *now;
    users->warned = false;
    SL_LOGI("sasl", "credentials reloaded from %s: %zu entr%s", users->path, users->n,
            users->n == 1 ? "y" : "ies");
}

/* Appends one credential line to buf (cap bytes); returns its length. */
static size_t brk__users_format(const brk_user_t *u, char *buf, size_t cap)
{
    char salt[SNET_SCRAM_SALT_BYTES_MAX * 2], stored[100], server[100];
    size_t dlen = snet_scram_digest_len(u->mech);
    snet_b64_encode(u->cred.salt, u->cred.salt_len, salt);
    snet_b64_encode(u->cred.stored_key, dlen, stored);
    snet_b64_encode(u->cred.server_key, dlen, server);
    int n = snprintf(buf, cap, "%s %s salt=%s,stored_key=%s,server_key=%s,iterations=%d\n",
                     u->name, snet_mech_name(u->mech), salt, stored, server,
                     (int)u->cred.iterations);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int brk_users_save(brk_users_t *users)
{
    static const char head[] = "# SASL/SCRAM credentials of this broker, managed with `sluice "
                               "users`. No passwords are stored.\n";
    sl_buf_t buf;
    sl_buf_init(&buf);
    sl_buf_append(&buf, head, sizeof head - 1);
    char line[1024];
    int rc = 0;
    for (size_t i = 0; i < users->n && rc == 0; i++) {
        size_t n = brk__users_format(&users->v[i], line, sizeof line);
        rc = n > 0 ? 0 : -EIO;
        sl_buf_append(&buf, line, n);
    }
    if (rc == 0) {
        rc = sl_fs_write_atomic_mode(users->path, buf.data, buf.len, 0600);
    }
    if (rc == 0) {
        brk__users_changed(users, &users->seen); /* what we wrote is what we hold */
    }
    OPENSSL_cleanse(buf.data, buf.len);
    sl_buf_deinit(&buf);
    return rc;
}
