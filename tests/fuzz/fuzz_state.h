/* Shared by the start-up file fuzz targets that start a real broker over the file (brk_new,
 * then brk_free). The invariant of every file the broker reads at start: it loads, or the
 * start is refused with a message naming the file; never a crash, an assertion or a leak. */
#ifndef FUZZ_STATE_H
#define FUZZ_STATE_H

#include "brk.h"
#include "fuzz_files.h"
#include "sl_props.h"

/* Starts a broker on fuzz_dir; a refusal must name needle (the file) in its message. */
static void fuzz_start(const char *needle)
{
    sl_props_t *props = sl_props_new();
    sl_props_set(props, "log.dirs", fuzz_dir);
    sl_props_set(props, "listeners", "PLAINTEXT://127.0.0.1:0");
    sl_props_set(props, "authorizer.class.name", "sluice");
    sl_props_set(props, "log.cleaner.enable", "false");
    char err[512] = "";
    brk_t *brk = NULL;
    int rc = brk_new(props, &brk, err, sizeof err);
    sl_props_free(props);
    if (rc == 0) {
        brk_free(brk);
    } else if (!strstr(err, needle)) {
        fprintf(stderr, "fuzz: start refused without naming %s: %s\n", needle, err);
        abort();
    }
}

#endif
