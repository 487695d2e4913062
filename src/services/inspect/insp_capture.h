/* Full-page capture through headless Chromium: each page is loaded in a fresh browser context
 * (Target.createBrowserContext: its own cookies, storage and cache, like a fresh profile, on one
 * long-lived browser), sized to the requested width, and captured in parts of at most part_px
 * that are merged into one image. Thread: one caller at a time per connection. */
#ifndef INSP_CAPTURE_H
#define INSP_CAPTURE_H

#include "insp_lib.h"
#include <stdbool.h>
#include <stdint.h>

#include "insp_cdp.h"
#include "sl_egress.h"

/* Pages are cut off below this height (the capture notes it). */
#define INSP_PAGE_PX_MAX 60000
#define INSP_WIDTH_PX_MIN 320
#define INSP_WIDTH_PX_MAX 3840
#define INSP_PART_PX_MIN 500

typedef struct {
    const char *url;
    int width_px;
    int part_px;         /* height of one screenshot part */
    int64_t load_deadline_ms; /* monotonic: the load event is awaited until then; a page whose
                               * document arrived (DOMContentLoaded) is then captured as it
                               * is, cut off (a stalled image or script never blocks it) */
    int64_t deadline_ms;      /* monotonic: load and capture must end by then */
    const sl_egress_t *egress; /* every request the page makes is checked against it */
} insp_capture_opts_t;

typedef struct {
    PIX *pix;        /* 32 bpp, width x height; caller destroys */
    int status;      /* HTTP status of the document */
    int parts;       /* screenshots merged */
    int page_px;     /* the page's full height (may exceed the image when cut off) */
    int64_t load_ms; /* navigation to load event (or to the cut-off) */
    bool cut_off;    /* captured at load_deadline_ms without the load event */
    int blocked;     /* requests refused by the outbound policy or for their scheme */
    char refused[SL_EGRESS_MSG_BYTES]; /* why the main frame's navigation was refused; "" */
} insp_capture_t;

/* Captures opts->url. Every request of the page is paused (CDP Fetch domain) and let through
 * only when its scheme is http or https and the outbound policy allows its host's address;
 * others fail with AccessDenied and are counted in out->blocked. A refused navigation of the
 * main frame (the URL itself, a redirect, a script's navigation) fails the capture with the
 * policy's sentence. Returns 0, or a negative error with a sentence for the job's error in
 * err ("HTTP 500", "not an HTML page (image/png)", "page did not load within its time limit",
 * "cannot load URL: refused: ..."). */
int insp_capture_page(insp_cdp_t *cdp, const insp_capture_opts_t *opts, insp_capture_t *out,
                      char *err, size_t errlen);

#endif
