/* dlopen of libcurl (kit_curl.h). */
#define KIT_CURL_IMPL
#include "kit_curl.h"

#include "sl_common.h"
#include "sl_dl.h"

#include <stddef.h>

/* Debian 12's soname (package libcurl4). */
#define KIT_CURL_SONAME "libcurl.so.4"

#define KIT_CURL_SYM(f) {#f, offsetof(kit_curl_t, f)},
static const sl_dl_sym_t kit_curl__syms[] = {KIT_CURL_FNS(KIT_CURL_SYM)};

static kit_curl_t kit_curl__fns;
static void kit_curl__load(void);
static sl_dl_t kit_curl__dl = SL_DL_INIT(kit_curl__load);

static void kit_curl__load(void)
{
    sl_dl_load(KIT_CURL_SONAME, kit_curl__syms, SL_ARRAY_LEN(kit_curl__syms), &kit_curl__fns,
               kit_curl__dl.err, sizeof kit_curl__dl.err);
}

int kit_curl_open(char *err, size_t err_len)
{
    return sl_dl_open(&kit_curl__dl, err, err_len);
}

const kit_curl_t *kit_curl(void)
{
    sl_dl_require(&kit_curl__dl);
    return &kit_curl__fns;
}
