/* Filesystem helpers with durable semantics. Thread: any; all calls block on disk I/O. */
#ifndef SL_FS_H
#define SL_FS_H

#include <stddef.h>

/* Modes of the directories and files created here and by the storage layer: directories
 * dir mode, files the dir mode without its exec bits (the umask still applies). Default 0700
 * and 0600, so a shared machine's other users read nothing (log.dir.mode changes it).
 * Thread: set once at start, before other threads; read from any. */
#define SL_FS_DIR_MODE_DEFAULT 0700u
void sl_fs_set_dir_mode(unsigned mode);
unsigned sl_fs_dir_mode(void);
unsigned sl_fs_file_mode(void);
/* Writes path atomically: temp file in the same dir, write, fsync, rename, fsync dir.
 * Returns 0 or -errno; on failure the old file (if any) is untouched. */
int sl_fs_write_atomic(const char *path, const void *data, size_t len);
/* As sl_fs_write_atomic with the new file's mode. The temp file has an unguessable name
 * ("<path>.<8 random chars>.tmp") and is created with O_EXCL|O_NOFOLLOW, so nothing planted
 * beside path is followed or overwritten. */
int sl_fs_write_atomic_mode(const char *path, const void *data, size_t len, int mode);
/* As sl_fs_write_atomic but nothing is synced: a reader (or a crash) sees the old file or the
 * new one, or after a crash possibly an empty or partial new one (the caller must check what
 * it reads). For files a later sync of the whole filesystem makes durable. */
int sl_fs_write_replace(const char *path, const void *data, size_t len);
/* Creates a temp file beside path with a name nobody can guess ("<path>.<8 random
 * chars>.tmp"; recovery removes leftovers by the .tmp suffix), O_EXCL|O_NOFOLLOW|O_CLOEXEC,
 * so a file or symlink planted there is never opened. Returns the fd or -errno; the name is
 * written to tmp (cap bytes). */
int sl_fs_tmp_open(const char *path, char *tmp, size_t cap, int mode);
/* How many temp names sl_fs_write_atomic tries before giving up with -EEXIST. */
#define SL_FS_TMP_ATTEMPTS_MAX 16
/* Reads a whole file (at most max_bytes) into a malloc'd NUL-terminated buffer. */
int sl_fs_read_all(const char *path, size_t max_bytes, char **out, size_t *len);
/* mkdir -p; 0 if it exists already. */
int sl_fs_mkdirs(const char *path);
/* fsync of a directory, so a create/rename/unlink in it is durable. */
int sl_fs_sync_dir(const char *path);
/* rm -rf; 0 if path does not exist. */
int sl_fs_rmtree(const char *path);

#endif
