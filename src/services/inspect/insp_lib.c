/* dlopen of Leptonica and Tesseract (insp_lib.h). */
#define INSP_LIB_IMPL
#include "insp_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Debian 12's sonames (packages liblept5 and libtesseract5). */
#define INSP_LEPT_SONAME "liblept.so.5"
#define INSP_TESS_SONAME "libtesseract.so.5"

static insp_lib_t insp__lib;
static pthread_once_t insp__once = PTHREAD_ONCE_INIT;
static char insp__err[512];

static void *insp__open(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(insp__err, sizeof insp__err, "cannot load %s (scripts/setup installs it): %s",
                 soname, dlerror());
    }
    return h;
}

/* Resolves into a function pointer without converting void * to one (POSIX's dlsym idiom). */
#define INSP_LIB_SYM(h, f)                                                                     \
    if (!insp__err[0] && !(*(void **)&insp__lib.f = dlsym(h, #f))) {                           \
        snprintf(insp__err, sizeof insp__err, "%s has no %s", #h, #f);                         \
    }

static void insp__load(void)
{
    void *lept = insp__open(INSP_LEPT_SONAME);
    void *tess = lept ? insp__open(INSP_TESS_SONAME) : NULL;
    if (!tess) {
        return;
    }
#define INSP_LIB_LEPT(f) INSP_LIB_SYM(lept, f)
#define INSP_LIB_TESS(f) INSP_LIB_SYM(tess, f)
    INSP_LEPT_FNS(INSP_LIB_LEPT)
    INSP_TESS_FNS(INSP_LIB_TESS)
    /* The handles stay open for the life of the process. */
}

int insp_lib_open(char *err, size_t err_len)
{
    pthread_once(&insp__once, insp__load);
    if (insp__err[0]) {
        snprintf(err, err_len, "%s", insp__err);
        return -1;
    }
    return 0;
}

const insp_lib_t *insp_lib(void)
{
    char err[512];
    if (insp_lib_open(err, sizeof err) != 0) {
        fprintf(stderr, "sluice: %s\n", err);
        abort();
    }
    return &insp__lib;
}
