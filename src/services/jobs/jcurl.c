/* dlopen of libcurl (jcurl.h). */
#define JCURL_IMPL
#include "jcurl.h"

#include "sl_common.h"
#include "sl_dl.h"

#include <stddef.h>

/* Debian 12's soname (package libcurl4). */
#define JCURL_SONAME "libcurl.so.4"

#define JCURL_SYM(f) {#f, offsetof(jcurl_t, f)},
static const sl_dl_sym_t jcurl__syms[] = {JCURL_FNS(JCURL_SYM)};

static jcurl_t jcurl__fns;
static void jcurl__load(void);
static sl_dl_t jcurl__dl = SL_DL_INIT(jcurl__load);

static void jcurl__load(void)
{
    sl_dl_load(JCURL_SONAME, jcurl__syms, SL_ARRAY_LEN(jcurl__syms), &jcurl__fns, jcurl__dl.err,
               sizeof jcurl__dl.err);
}

int jcurl_open(char *err, size_t err_len)
{
    return sl_dl_open(&jcurl__dl, err, err_len);
}

const jcurl_t *jcurl(void)
{
    sl_dl_require(&jcurl__dl);
    return &jcurl__fns;
}
