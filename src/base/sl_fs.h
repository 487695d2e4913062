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
/* Reads a whole file (at most max_bytes) into a malloc'd NUL-terminated buffer. */
int sl_fs_read_all(const char *path, size_t max_bytes, char **out, size_t *len);
/* mkdir -p; 0 if it exists already. */
int sl_fs_mkdirs(const char *path);
/* fsync of a directory, so a create/rename/unlink in it is durable. */
int sl_fs_sync_dir(const char *path);
/* rm -rf; 0 if path does not exist. */
int sl_fs_rmtree(const char *path);

#endif
