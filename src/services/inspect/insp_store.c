/* Local artifact directory (see insp_store.h). Sizes are summed per job directory; a trim
 * sorts the directories by mtime and removes from the oldest. */
#include "insp_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sl_common.h"
#include "sl_fs.h"

/* dir/name into p; false when it does not fit. */
static bool insp__path(char *p, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(p, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap;
}

bool insp_store_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128 || id[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int insp_store_put(const char *dir, const char *id, const char *name, PIX *pix,
                   char *path_out, size_t path_cap)
{
    if (!insp_store_id_valid(id)) {
        return SL_EINVAL;
    }
    char sub[INSP_PATH_BYTES];
    if (!insp__path(sub, sizeof(sub), dir, id) || !insp__path(path_out, path_cap, sub, name)) {
        return -ENAMETOOLONG;
    }
    int rc = sl_fs_mkdirs(sub);
    if (rc != 0) {
        return rc;
    }
    return pixWrite(path_out, pix, IFF_PNG) == 0 ? 0 : -EIO;
}

typedef struct {
    char name[136];
    int64_t mtime_ns;
    uint64_t bytes;
} insp__entry_t;

static uint64_t insp__dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    uint64_t total = 0;
    if (!d) {
        return 0;
    }
    for (struct dirent *de; (de = readdir(d));) {
        char p[INSP_PATH_BYTES];
        struct stat st;
        if (de->d_name[0] != '.' && insp__path(p, sizeof(p), path, de->d_name) &&
            stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return total;
}

static int insp__entry_cmp(const void *a, const void *b)
{
    const insp__entry_t *x = a, *y = b;
    return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

uint64_t insp_store_trim(const char *dir, uint64_t max_bytes, const char *keep_id)
{
    DIR *d = opendir(dir);
    if (!d) {
        return 0;
    }
    insp__entry_t *ent = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0, removed = 0;
    for (struct dirent *de; (de = readdir(d)) && n < INSP_STORE_SCAN_MAX;) {
        char p[INSP_PATH_BYTES];
        struct stat st;
        if (!insp_store_id_valid(de->d_name) || !insp__path(p, sizeof(p), dir, de->d_name) ||
            stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ent = sl_xrealloc(ent, cap * sizeof(*ent));
        }
        memcpy(ent[n].name, de->d_name, strlen(de->d_name) + 1); /* valid ids fit */
        ent[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        ent[n].bytes = insp__dir_bytes(p);
        total += ent[n].bytes;
        n++;
    }
    closedir(d);
    qsort(ent, n, sizeof(*ent), insp__entry_cmp);
    for (size_t i = 0; i < n && total > max_bytes; i++) {
        if (keep_id && strcmp(ent[i].name, keep_id) == 0) {
            continue;
        }
        char p[INSP_PATH_BYTES];
        if (insp__path(p, sizeof(p), dir, ent[i].name) && sl_fs_rmtree(p) == 0) {
            total -= ent[i].bytes;
            removed += ent[i].bytes;
        }
    }
    free(ent);
    return removed;
}
