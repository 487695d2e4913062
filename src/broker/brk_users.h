/* SASL credentials of the broker: <data>/credentials, one line per user and SCRAM mechanism
 * with Kafka's SCRAM fields (salt, StoredKey, ServerKey, iterations), never a password.
 * Written atomically (temp file, fsync, rename, fsync of the dir) by `sluice users`; the
 * broker re-reads it when it changes. Thread: any (a store is used by one thread). */
#ifndef BRK_USERS_H
#define BRK_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "snet_sasl.h"

typedef struct brk_users brk_users_t;

/* Opens the store of data_dir and reads it (an absent file is an empty store). A damaged
 * line is skipped with one log line naming the file and the line; of two lines for the same
 * user and mechanism the later wins. Sorts once: O(n log n). Returns 0, or -errno / SL_ELIMIT
 * (unreadable, or larger than BRK_USERS_FILE_BYTES_MAX) with a message in err. */
int brk_users_open(const char *data_dir, brk_users_t **out, char *err, size_t err_len);
void brk_users_free(brk_users_t *users);
/* Re-reads the file if it changed (mtime, size or inode) since the last read; a file with a
 * line that does not parse is logged once and the previous users stay. */
void brk_users_refresh(brk_users_t *users);
/* Credential of user for a SCRAM mechanism: 0 or SL_ENOTFOUND. */
int brk_users_lookup(const brk_users_t *users, snet_mech_t mech, const char *user,
                     snet_scram_cred_t *out);
/* Valid user names: 1..SNET_SASL_USER_BYTES_MAX printable ASCII bytes, no space, not
 * starting with '#'. */
bool brk_users_name_valid(const char *name);
/* Adds or replaces user's credential for cred's mechanism (in memory). */
void brk_users_set(brk_users_t *users, const char *user, snet_mech_t mech,
                   const snet_scram_cred_t *cred);
/* Removes every credential of user; returns how many. */
int brk_users_remove(brk_users_t *users, const char *user);
size_t brk_users_count(const brk_users_t *users);
/* The i-th credential (sorted by name, then mechanism). */
void brk_users_at(const brk_users_t *users, size_t i, const char **user, snet_mech_t *mech,
                  int32_t *iterations);
/* Removes user's credential for mech; returns whether there was one. */
bool brk_users_remove_mech(brk_users_t *users, const char *user, snet_mech_t mech);
/* Writes the store to its file atomically (mode 0600) and remembers the file as read (no
 * reload of what it wrote). Returns 0 or -errno. */
int brk_users_save(brk_users_t *users);
/* Takes <data>/credentials.lock without waiting (the lock `sluice users` holds while it
 * changes the file). Returns the lock's fd (release with brk_users_unlock), or -errno
 * (-EWOULDBLOCK: held by another process). Thread: loop (never blocks). */
int brk_users_lock(const brk_users_t *users);
void brk_users_unlock(int fd);
/* Re-reads the file whatever its stamp says (undoing changes made in memory only); as
 * brk_users_refresh otherwise. */
void brk_users_reload(brk_users_t *users);
/* The file's path. */
const char *brk_users_path(const brk_users_t *users);

#endif
