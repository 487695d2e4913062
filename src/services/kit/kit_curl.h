/* kit_curl: libcurl, opened with dlopen on first use. The one sluice binary serves every
 * command and only webhook deliveries and the `sluice jobs` client need libcurl: linked, it
 * and its ~30 dependent shared objects were mapped and relocated by every start of `sluice
 * serve` (measured: +9 ms and +4 MiB RSS). Code that uses libcurl includes this header instead
 * of <curl/curl.h> (it includes it, without curl's GCC type-check macros): the functions below
 * are then called through pointers, resolved once, by their usual names. Thread: any. */
#ifndef KIT_CURL_H
#define KIT_CURL_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "sl_dl.h"

#define KIT_CURL_FNS(X)                                                                           \
    X(curl_easy_cleanup) X(curl_easy_escape) X(curl_easy_getinfo) X(curl_easy_init)            \
    X(curl_easy_perform) X(curl_easy_setopt) X(curl_easy_strerror) X(curl_free)                \
    X(curl_global_cleanup) X(curl_global_init) X(curl_slist_append) X(curl_slist_free_all)

typedef struct {
    KIT_CURL_FNS(SL_DL_FIELD)
} kit_curl_t;

/* sl_dl_open and sl_dl_require (sl_dl.h) of libcurl. */
int kit_curl_open(char *err, size_t err_len);
const kit_curl_t *kit_curl(void);

#ifndef KIT_CURL_IMPL
#undef curl_easy_getinfo /* curl.h's own argument-count checks */
#undef curl_easy_setopt
#define curl_easy_cleanup (kit_curl()->curl_easy_cleanup)
#define curl_easy_escape (kit_curl()->curl_easy_escape)
#define curl_easy_getinfo (kit_curl()->curl_easy_getinfo)
#define curl_easy_init (kit_curl()->curl_easy_init)
#define curl_easy_perform (kit_curl()->curl_easy_perform)
#define curl_easy_setopt (kit_curl()->curl_easy_setopt)
#define curl_easy_strerror (kit_curl()->curl_easy_strerror)
#define curl_free (kit_curl()->curl_free)
#define curl_global_cleanup (kit_curl()->curl_global_cleanup)
#define curl_global_init (kit_curl()->curl_global_init)
#define curl_slist_append (kit_curl()->curl_slist_append)
#define curl_slist_free_all (kit_curl()->curl_slist_free_all)
#endif

#endif
