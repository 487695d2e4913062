/* Artifact storage of the inspection worker: a local directory laid out by job id
 * (DIR/<job id>/capture.png, DIR/<job id>/annotated.png), trimmed by total size with the
 * oldest job directories removed first. */
#ifndef INSP_STORE_H
#define INSP_STORE_H

#include "insp_lib.h"
#include <stdbool.h>
#include <stdint.h>

#define INSP_PATH_BYTES 4096
/* Job directories considered by one trim (a bigger directory is trimmed over several). */
#define INSP_STORE_SCAN_MAX 100000

/* A job id usable as a directory name: 1-128 of [A-Za-z0-9_.-], not starting with '.'. */
bool insp_store_id_valid(const char *id);

/* Writes pix as DIR/<id>/<name> (PNG); the path in path_out. Returns 0 or -errno/SL_EINVAL. */
int insp_store_put(const char *dir, const char *id, const char *name, PIX *pix,
                   char *path_out, size_t path_cap);

/* Removes the oldest job directories (by modification time) until the total size of DIR is
 * at most max_bytes. keep_id (may be NULL) is never removed. Returns the bytes removed. */
uint64_t insp_store_trim(const char *dir, uint64_t max_bytes, const char *keep_id);

#endif
