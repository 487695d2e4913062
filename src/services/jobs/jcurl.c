/* dlopen of libcurl (jcurl.h). */
#define JCURL_IMPL
#include "jcurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Debian 12's soname (package libcurl4). */
#define JCURL_SONAME "libcurl.so.4"

static jcurl_t jcurl__fns;
static pthread_once_t jcurl__once = PTHREAD_ONCE_INIT;
static char jcurl__err[512];

static void jcurl__load(void)
{
    void *h = dlopen(JCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(jcurl__err, sizeof jcurl__err, "cannot load %s (scripts/setup installs it): %s",
                 JCURL_SONAME, dlerror());
        return;
    }
    /* Into a function pointer without converting void * to one (POSIX's dlsym idiom). The
     * handle stays open for the life of the process. */
#define JCURL_SYM(f)                                                                           \
    if (!jcurl__err[0] && !(*(void **)&jcurl__fns.f = dlsym(h, #f))) {                         \
        snprintf(jcurl__err, sizeof jcurl__err, "%s has no %s", JCURL_SONAME, #f);             \
    }
    JCURL_FNS(JCURL_SYM)
}

int jcurl_open(char *err, size_t err_len)
{
    pthread_once(&jcurl__once, jcurl__load);
    if (jcurl__err[0]) {
        snprintf(err, err_len, "%s", jcurl__err);
        return -1;
    }
    return 0;
}

const jcurl_t *jcurl(void)
{
    char err[512];
    if (jcurl_open(err, sizeof err) != 0) {
        fprintf(stderr, "sluice: %s\n", err);
        abort();
    }
    return &jcurl__fns;
}
