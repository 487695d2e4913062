/* sluice users add|remove|list: the broker's SASL credentials in <data>/credentials (SCRAM
 * salt, iterations, StoredKey and ServerKey per mechanism; never the password). Works on the
 * data dir directly, with or without a running broker: the broker re-reads the file when it
 * changes. Concurrent `sluice users` runs are serialized by a lock file. */
#include "brk_users.h"
#include "cli.h"
#include "sl_common.h"
#include "sl_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define TOOL__USERS_ITERATIONS_DEFAULT 4096

static void tool__users_usage(FILE *f)
{
    fprintf(f,
            "usage: sluice users add NAME (--password-stdin | --password P)\n"
            "             [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]... [--iterations N] --data DIR\n"
            "       sluice users remove NAME --data DIR\n"
            "       sluice users list --data DIR\n"
            "\n"
            "Manages the SASL users of the broker whose data directory is DIR. add stores a SCRAM\n"
            "credential per mechanism (both unless --mechanism is given; PLAIN logins are checked\n"
            "against them) with a random salt and N PBKDF2 iterations (4096..16384, default 4096);\n"
            "it replaces the user's credentials for those mechanisms. A running broker picks up\n"
            "changes at the next authentication.\n"
            "\n"
            "exit status: 0 ok, 1 failure (or no such user for remove), 2 usage error\n");
}

typedef struct {
    const char *sub;
    const char *name;
    const char *data;
    const char *password;
    bool password_stdin;
    uint32_t mechs;
    int64_t iterations;
} tool__users_t;

static int tool__users_args(int argc, char **argv, tool__users_t *o)
{
    memset(o, 0, sizeof *o);
    o->iterations = TOOL__USERS_ITERATIONS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tool__users_usage(stdout);
            exit(0);
        } else if (strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = true;
        } else if (has && strcmp(a, "--data") == 0) {
            o->data = argv[++i];
        } else if (has && strcmp(a, "--password") == 0) {
            o->password = argv[++i];
        } else if (has && strcmp(a, "--iterations") == 0) {
            char *end;
            o->iterations = strtoll(argv[++i], &end, 10);
            if (*end || o->iterations < SNET_SCRAM_ITERATIONS_MIN ||
                o->iterations > SNET_SCRAM_ITERATIONS_MAX) {
                fprintf(stderr, "sluice users: --iterations wants %d..%d\n",
                        SNET_SCRAM_ITERATIONS_MIN, SNET_SCRAM_ITERATIONS_MAX);
                return 2;
            }
        } else if (has && strcmp(a, "--mechanism") == 0) {
            const char *m = argv[++i];
            snet_mech_t mech;
            if (!snet_mech_parse(m, strlen(m), &mech) || !snet_mech_is_scram(mech)) {
                fprintf(stderr, "sluice users: --mechanism wants SCRAM-SHA-256 or SCRAM-SHA-512\n");
                return 2;
            }
            o->mechs |= 1u << mech;
        } else if (a[0] == '-') {
            fprintf(stderr, "sluice users: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!o->sub) {
            o->sub = a;
        } else if (!o->name) {
            o->name = a;
        } else {
            fprintf(stderr, "sluice users: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!o->sub || !o->data) {
        tool__users_usage(stderr);
        return 2;
    }
    return 0;
}

/* Reads the password: the first line of stdin without its newline. */
static int tool__users_password(const tool__users_t *o, char *buf, size_t cap)
{
    if (!o->password_stdin == !o->password) {
        fprintf(stderr, "sluice users add: give exactly one of --password-stdin, --password\n");
        return 2;
    }
    if (o->password) {
        snprintf(buf, cap, "%s", o->password);
    } else if (!fgets(buf, (int)cap, stdin)) {
        fprintf(stderr, "sluice users add: no password on stdin\n");
        return 2;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0' || strlen(buf) > SNET_SASL_PASSWORD_BYTES_MAX) {
        fprintf(stderr, "sluice users add: the password must be 1..%d bytes\n",
                SNET_SASL_PASSWORD_BYTES_MAX);
        return 2;
    }
    return 0;
}

static int tool__users_add(brk_users_t *users, const tool__users_t *o)
{
    char pw[SNET_SASL_PASSWORD_BYTES_MAX + 2];
    int rc = tool__users_password(o, pw, sizeof pw);
    if (rc != 0) {
        return rc;
    }
    uint32_t mechs = o->mechs ? o->mechs
                              : (1u << SNET_MECH_SCRAM_SHA_256 | 1u << SNET_MECH_SCRAM_SHA_512);
    for (int m = 0; m < SNET_MECH_COUNT; m++) {
        if (!(mechs & (1u << m))) {
            continue;
        }
        snet_scram_cred_t cred;
        if (snet_scram_cred_new((snet_mech_t)m, pw, strlen(pw), (int32_t)o->iterations, &cred) != 0) {
            fprintf(stderr, "sluice users add: cannot derive the credential\n");
            return 1;
        }
        brk_users_set(users, o->name, (snet_mech_t)m, &cred);
    }
    memset(pw, 0, sizeof pw);
    rc = brk_users_save(users);
    if (rc != 0) {
        fprintf(stderr, "sluice users add: cannot write %s: %s\n", brk_users_path(users),
                sl_strerror(rc));
        return 1;
    }
    printf("user %s: credentials stored\n", o->name);
    return 0;
}

static int tool__users_run(brk_users_t *users, const tool__users_t *o)
{
    if (strcmp(o->sub, "list") == 0) {
        for (size_t i = 0; i < brk_users_count(users); i++) {
            const char *name;
            snet_mech_t mech;
            int32_t iters;
            brk_users_at(users, i, &name, &mech, &iters);
            printf("%s %s iterations=%d\n", name, snet_mech_name(mech), (int)iters);
        }
        return 0;
    }
    if (!o->name || !brk_users_name_valid(o->name)) {
        fprintf(stderr, "sluice users %s: a user NAME (printable ASCII, no spaces, up to %d "
                "bytes) is needed\n", o->sub, SNET_SASL_USER_BYTES_MAX);
        return 2;
    }
    if (strcmp(o->sub, "add") == 0) {
        return tool__users_add(users, o);
    }
    if (strcmp(o->sub, "remove") == 0) {
        if (brk_users_remove(users, o->name) == 0) {
            fprintf(stderr, "sluice users remove: no user %s\n", o->name);
            return 1;
        }
        int rc = brk_users_save(users);
        if (rc != 0) {
            fprintf(stderr, "sluice users remove: cannot write %s: %s\n", brk_users_path(users),
                    sl_strerror(rc));
            return 1;
        }
        printf("user %s: removed\n", o->name);
        return 0;
    }
    fprintf(stderr, "sluice users: unknown subcommand '%s' (add, remove, list)\n", o->sub);
    return 2;
}

int tool_users(int argc, char **argv)
{
    tool__users_t o;
    int rc = tool__users_args(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(o.sub, "add") == 0) {
        sl_fs_mkdirs(o.data); /* users may be added before the broker's first start */
    }
    char lock[4096];
    snprintf(lock, sizeof lock, "%s/credentials.lock", o.data);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "sluice users: cannot lock %s: %s\n", lock, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    char err[4200];
    brk_users_t *users;
    rc = brk_users_open(o.data, &users, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "sluice users: %s\n", err);
        close(fd);
        return 1;
    }
    rc = tool__users_run(users, &o);
    brk_users_free(users);
    close(fd);
    return rc;
}
