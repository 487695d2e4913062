/* Shared by the start-up file fuzz targets: a scratch data dir per process (the same name on
 * every call) and a file written there from the input. */
#ifndef FUZZ_FILES_H
#define FUZZ_FILES_H

#include "sl_common.h"
#include "sl_fs.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[64];

static void fuzz_dir_remove(void)
{
    sl_fs_rmtree(fuzz_dir);
}


/* A fresh scratch dir (the same name every call). */
static void fuzz_dir_reset(void)
{
    if (!fuzz_dir[0]) {
        /* tmpfs when there is one: the loaders fsync, and a disk makes that the cost */
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/sl_fuzz_XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            abort();
        }
        sl_log_set_level(SL_LOG_ERROR); /* damaged lines are logged at WARN: keep runs quiet */
        atexit(fuzz_dir_remove);
    }
    sl_fs_rmtree(fuzz_dir);
    if (sl_fs_mkdirs(fuzz_dir) != 0) {
        abort();
    }
}

/* Writes data to <fuzz_dir>/<rel> (creating its directory); returns the full path. */
static const char *fuzz_put(const char *rel, const uint8_t *data, size_t size)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    if (sl_fs_mkdirs(path) != 0) {
        abort();
    }
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        abort();
    }
    return path;
}

#endif
