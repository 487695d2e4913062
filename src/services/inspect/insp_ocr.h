/* Tesseract OCR for the inspection worker: one engine (languages loaded once) reused for every
 * page. Pages taller than a band are read in overlapping bands (Tesseract refuses images over
 * 32,767 px, and a word cut at a seam is whole in the next band); words whose centre lies in
 * the half of the overlap that belongs to the neighbouring band are dropped, so each word is
 * reported once. Thread: one caller at a time per engine. */
#ifndef INSP_OCR_H
#define INSP_OCR_H

#include "insp_lib.h"

#include "insp_match.h"

/* Words kept per page; the rest are dropped (and counted). */
#define INSP_WORDS_MAX 200000
/* Tesseract's own ceiling on image height. */
#define INSP_OCR_BAND_PX_MAX 32767

typedef struct {
    insp_word_t *word;
    size_t n, cap;
    size_t dropped; /* over INSP_WORDS_MAX */
} insp_words_t;

void insp_words_deinit(insp_words_t *words);

typedef struct insp_ocr insp_ocr_t;

/* Initialises Tesseract with langs ("kor+eng"), datapath (NULL: the system default) and page
 * segmentation mode psm (Tesseract's numbers; 6, one uniform block, reads screen captures of
 * product pages best: 3, automatic layout, drops text on tinted boxes). Returns 0 or SL_EINVAL
 * with the reason in err. */
int insp_ocr_new(const char *langs, const char *datapath, int psm, insp_ocr_t **out, char *err,
                 size_t errlen);
void insp_ocr_free(insp_ocr_t *ocr);

/* Reads pix in bands of band_px (<= INSP_OCR_BAND_PX_MAX) overlapping by overlap_px
 * (< band_px / 2) and appends the words, in page coordinates, to words. Returns 0 or SL_EINVAL
 * when Tesseract fails on the image. */
int insp_ocr_read(insp_ocr_t *ocr, PIX *pix, int band_px, int overlap_px, insp_words_t *words);

#endif
