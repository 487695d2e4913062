/* Tesseract and Leptonica, opened with dlopen on first use. The one sluice binary serves every
 * command and only the inspection worker needs these two: linked, they and their ~50 dependent
 * shared objects were mapped and relocated by every start of `sluice serve` (measured: +9 ms
 * and +5.5 MiB RSS). Code of this module includes this header instead of the libraries' own
 * (it includes them): the functions below are then called through pointers, resolved once, by
 * their usual names. Thread: any. */
#ifndef INSP_LIB_H
#define INSP_LIB_H

#include <stddef.h>

#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "sl_dl.h"

#define INSP_LEPT_FNS(X)                                                                       \
    X(boxCreate) X(boxDestroy) X(decodeBase64) X(lept_free) X(pixClipRectangle)                \
    X(pixConvertRGBToLuminance) X(pixConvertTo32) X(pixCopy) X(pixCreate) X(pixDestroy)        \
    X(pixGetHeight) X(pixGetWidth) X(pixRasterop) X(pixRead) X(pixReadMem) X(pixRenderBoxArb)  \
    X(pixSetAll) X(pixWrite)
#define INSP_TESS_FNS(X)                                                                       \
    X(TessBaseAPIClear) X(TessBaseAPICreate) X(TessBaseAPIDelete) X(TessBaseAPIEnd)            \
    X(TessBaseAPIGetIterator) X(TessBaseAPIInit3) X(TessBaseAPIRecognize)                      \
    X(TessBaseAPISetImage2) X(TessBaseAPISetPageSegMode) X(TessBaseAPISetVariable)             \
    X(TessDeleteText) X(TessPageIteratorBoundingBox) X(TessResultIteratorConfidence)           \
    X(TessResultIteratorDelete) X(TessResultIteratorGetPageIteratorConst)                      \
    X(TessResultIteratorGetUTF8Text) X(TessResultIteratorNext)

typedef struct {
    INSP_LEPT_FNS(SL_DL_FIELD)
    INSP_TESS_FNS(SL_DL_FIELD)
} insp_lib_t;

/* sl_dl_open and sl_dl_require (sl_dl.h) of both libraries. */
int insp_lib_open(char *err, size_t err_len);
const insp_lib_t *insp_lib(void);

#ifndef INSP_LIB_IMPL
#define INSP_LIB_CALL(f) (insp_lib()->f)
#define boxCreate INSP_LIB_CALL(boxCreate)
#define boxDestroy INSP_LIB_CALL(boxDestroy)
#define decodeBase64 INSP_LIB_CALL(decodeBase64)
#define lept_free INSP_LIB_CALL(lept_free)
#define pixClipRectangle INSP_LIB_CALL(pixClipRectangle)
#define pixConvertRGBToLuminance INSP_LIB_CALL(pixConvertRGBToLuminance)
#define pixConvertTo32 INSP_LIB_CALL(pixConvertTo32)
#define pixCopy INSP_LIB_CALL(pixCopy)
#define pixCreate INSP_LIB_CALL(pixCreate)
#define pixDestroy INSP_LIB_CALL(pixDestroy)
#define pixGetHeight INSP_LIB_CALL(pixGetHeight)
#define pixGetWidth INSP_LIB_CALL(pixGetWidth)
#define pixRasterop INSP_LIB_CALL(pixRasterop)
#define pixRead INSP_LIB_CALL(pixRead)
#define pixReadMem INSP_LIB_CALL(pixReadMem)
#define pixRenderBoxArb INSP_LIB_CALL(pixRenderBoxArb)
#define pixSetAll INSP_LIB_CALL(pixSetAll)
#define pixWrite INSP_LIB_CALL(pixWrite)
#define TessBaseAPIClear INSP_LIB_CALL(TessBaseAPIClear)
#define TessBaseAPICreate INSP_LIB_CALL(TessBaseAPICreate)
#define TessBaseAPIDelete INSP_LIB_CALL(TessBaseAPIDelete)
#define TessBaseAPIEnd INSP_LIB_CALL(TessBaseAPIEnd)
#define TessBaseAPIGetIterator INSP_LIB_CALL(TessBaseAPIGetIterator)
#define TessBaseAPIInit3 INSP_LIB_CALL(TessBaseAPIInit3)
#define TessBaseAPIRecognize INSP_LIB_CALL(TessBaseAPIRecognize)
#define TessBaseAPISetImage2 INSP_LIB_CALL(TessBaseAPISetImage2)
#define TessBaseAPISetPageSegMode INSP_LIB_CALL(TessBaseAPISetPageSegMode)
#define TessBaseAPISetVariable INSP_LIB_CALL(TessBaseAPISetVariable)
#define TessDeleteText INSP_LIB_CALL(TessDeleteText)
#define TessPageIteratorBoundingBox INSP_LIB_CALL(TessPageIteratorBoundingBox)
#define TessResultIteratorConfidence INSP_LIB_CALL(TessResultIteratorConfidence)
#define TessResultIteratorDelete INSP_LIB_CALL(TessResultIteratorDelete)
#define TessResultIteratorGetPageIteratorConst INSP_LIB_CALL(TessResultIteratorGetPageIteratorConst)
#define TessResultIteratorGetUTF8Text INSP_LIB_CALL(TessResultIteratorGetUTF8Text)
#define TessResultIteratorNext INSP_LIB_CALL(TessResultIteratorNext)
#endif

#endif
