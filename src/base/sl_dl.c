/* dlopen of optional libraries (sl_dl.h). */
#include "sl_dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_dl_load(const char *soname, const sl_dl_sym_t *syms, size_t n, void *fns, char *err,
               size_t err_len)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, err_len, "cannot load %s (scripts/setup installs it): %s", soname,
                 dlerror());
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(err, err_len, "%s has no %s", soname, syms[i].name);
            return -1;
        }
        /* An object pointer to a function pointer's storage: POSIX guarantees dlsym's result
         * can be used so. */
        memcpy((char *)fns + syms[i].offset, &p, sizeof p);
    }
    return 0;
}

int sl_dl_open(sl_dl_t *dl, char *err, size_t err_len)
{
    pthread_once(&dl->once, dl->load);
    if (dl->err[0]) {
        snprintf(err, err_len, "%s", dl->err);
        return -1;
    }
    return 0;
}

void sl_dl_require(sl_dl_t *dl)
{
    char err[512];
    if (sl_dl_open(dl, err, sizeof err) != 0) {
        fprintf(stderr, "sluice: %s\n", err);
        abort();
    }
}
