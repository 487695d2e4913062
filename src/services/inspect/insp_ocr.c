/* Tesseract through its C API (tesseract/capi.h), word-level results; see insp_ocr.h. */
#include "insp_ocr.h"

#include <stdlib.h>
#include <string.h>

#include "sl_common.h"

struct insp_ocr {
    TessBaseAPI *api;
};

void insp_words_deinit(insp_words_t *words)
{
    for (size_t i = 0; i < words->n; i++) {
        free(words->word[i].text);
    }
    free(words->word);
    memset(words, 0, sizeof(*words));
}

static void insp__words_push(insp_words_t *words, const char *text, float conf, insp_box_t box)
{
    if (words->n == INSP_WORDS_MAX) {
        words->dropped++;
        return;
    }
    if (words->n == words->cap) {
        words->cap = words->cap ? words->cap * 2 : 256;
        words->word = sl_xrealloc(words->word, words->cap * sizeof(*words->word));
    }
    words->word[words->n++] = (insp_word_t){.text = sl_xstrdup(text), .conf = conf, .box = box};
}

int insp_ocr_new(const char *langs, const char *datapath, int psm, insp_ocr_t **out, char *err,
                 size_t errlen)
{
    if (insp_lib_open(err, errlen) != 0) {
        return SL_EINVAL;
    }
    TessBaseAPI *api = TessBaseAPICreate();
    if (TessBaseAPIInit3(api, datapath, langs) != 0) {
        snprintf(err, errlen, "tesseract: cannot load languages %s", langs);
        TessBaseAPIDelete(api);
        return SL_EINVAL;
    }
    if (psm < PSM_AUTO_OSD || psm >= PSM_COUNT) {
        snprintf(err, errlen, "page segmentation mode %d out of range", psm);
        TessBaseAPIDelete(api);
        return SL_EINVAL;
    }
    TessBaseAPISetPageSegMode(api, (TessPageSegMode)psm);
    /* Screen captures are 96 dpi; saying so spares the "estimating resolution" guess. */
    TessBaseAPISetVariable(api, "user_defined_dpi", "96");
    insp_ocr_t *ocr = sl_xcalloc(1, sizeof(*ocr));
    ocr->api = api;
    *out = ocr;
    return 0;
}

void insp_ocr_free(insp_ocr_t *ocr)
{
    if (!ocr) {
        return;
    }
    TessBaseAPIEnd(ocr->api);
    TessBaseAPIDelete(ocr->api);
    free(ocr);
}

/* Reads one band [y0, y0+h) and keeps words whose centre is in [keep_lo, keep_hi). */
static int insp__read_band(insp_ocr_t *ocr, PIX *band, int y0, int keep_lo, int keep_hi,
                           insp_words_t *words)
{
    TessBaseAPISetImage2(ocr->api, band);
    if (TessBaseAPIRecognize(ocr->api, NULL) != 0) {
        return SL_EINVAL;
    }
    TessResultIterator *it = TessBaseAPIGetIterator(ocr->api);
    if (!it) {
        return 0; /* nothing found */
    }
    const TessPageIterator *pit = TessResultIteratorGetPageIteratorConst(it);
    do {
        char *text = TessResultIteratorGetUTF8Text(it, RIL_WORD);
        int l, t, r, b;
        if (text && text[0] && TessPageIteratorBoundingBox(pit, RIL_WORD, &l, &t, &r, &b)) {
            int mid = y0 + (t + b) / 2;
            if (mid >= keep_lo && mid < keep_hi) {
                insp_box_t box = {.x = l, .y = y0 + t, .w = r - l, .h = b - t};
                insp__words_push(words, text, TessResultIteratorConfidence(it, RIL_WORD), box);
            }
        }
        TessDeleteText(text);
    } while (TessResultIteratorNext(it, RIL_WORD));
    TessResultIteratorDelete(it);
    return 0;
}

int insp_ocr_read(insp_ocr_t *ocr, PIX *pix, int band_px, int overlap_px, insp_words_t *words)
{
    SL_ASSERT(band_px > 0 && band_px <= INSP_OCR_BAND_PX_MAX);
    SL_ASSERT(overlap_px >= 0 && overlap_px < band_px / 2);
    int w = pixGetWidth(pix), h = pixGetHeight(pix);
    int step = band_px - overlap_px;
    int rc = 0;
    for (int y0 = 0; y0 < h && rc == 0; y0 += step) {
        int bh = SL_MIN(band_px, h - y0);
        bool first = y0 == 0, last = y0 + bh >= h;
        int keep_lo = first ? 0 : y0 + overlap_px / 2;
        int keep_hi = last ? h : y0 + bh - overlap_px / 2;
        BOX *box = boxCreate(0, y0, w, bh);
        PIX *band = pixClipRectangle(pix, box, NULL);
        boxDestroy(&box);
        if (!band) {
            return SL_ENOMEM;
        }
        rc = insp__read_band(ocr, band, y0, keep_lo, keep_hi, words);
        pixDestroy(&band);
        if (last) {
            break;
        }
    }
    TessBaseAPIClear(ocr->api);
    return rc;
}
