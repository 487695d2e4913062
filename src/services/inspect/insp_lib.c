/* dlopen of Leptonica and Tesseract (insp_lib.h). */
#define INSP_LIB_IMPL
#include "insp_lib.h"

#include "sl_common.h"
#include "sl_dl.h"

#include <stddef.h>

/* Debian 12's sonames (packages liblept5 and libtesseract5). */
#define INSP_LEPT_SONAME "liblept.so.5"
#define INSP_TESS_SONAME "libtesseract.so.5"

#define INSP_LIB_SYM(f) {#f, offsetof(insp_lib_t, f)},
static const sl_dl_sym_t insp__lept_syms[] = {INSP_LEPT_FNS(INSP_LIB_SYM)};
static const sl_dl_sym_t insp__tess_syms[] = {INSP_TESS_FNS(INSP_LIB_SYM)};

static insp_lib_t insp__lib;
static void insp__load(void);
static sl_dl_t insp__dl = SL_DL_INIT(insp__load);

static void insp__load(void)
{
    if (sl_dl_load(INSP_LEPT_SONAME, insp__lept_syms, SL_ARRAY_LEN(insp__lept_syms), &insp__lib,
                   insp__dl.err, sizeof insp__dl.err) == 0) {
        sl_dl_load(INSP_TESS_SONAME, insp__tess_syms, SL_ARRAY_LEN(insp__tess_syms), &insp__lib,
                   insp__dl.err, sizeof insp__dl.err);
    }
}

int insp_lib_open(char *err, size_t err_len)
{
    return sl_dl_open(&insp__dl, err, err_len);
}

const insp_lib_t *insp_lib(void)
{
    sl_dl_require(&insp__dl);
    return &insp__lib;
}
