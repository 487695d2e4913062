/* The OCR inspection worker (issue 5): one browser and one Tesseract engine per process, one
 * job at a time: capture the page, OCR it, match the forbidden-phrase rules, store the capture
 * (and an annotated copy when flagged) and describe it all in a result JSON:
 *   {"url","verdict":"clean"|"flagged","matches":[{"text","rule","confidence","box":{x,y,w,h}}],
 *    "text","words","page_px","parts","load_cut_off","http_status",
 *    "timings_ms":{"capture","ocr","match","store","total"},"capture_path","annotated_path",
 *    "blocked_requests","match_text_cut"}
 * Payload: {"url": "http(s)://...", "rules": ["phrase", "re:pattern", ...]?, "width": px?}
 * (rules given in the payload replace the worker's rule file for that job). */
#ifndef INSP_WORKER_H
#define INSP_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_egress.h"

/* Bytes of OCR text returned in a result (the line protocol caps a reply at 4 MiB). */
#define INSP_TEXT_BYTES_MAX (1u << 20)
#define INSP_ERR_BYTES 1024
/* Defaults of the browser's limits (inspect.browser.nofile.max, inspect.browser.nproc.max). */
#define INSP_BROWSER_NOFILE_DEFAULT 8192
#define INSP_BROWSER_NPROC_DEFAULT 4096
#define INSP_BROWSER_LIMIT_MAX (1u << 20)

typedef struct {
    const char *chromium;     /* browser binary ("chromium") */
    const char *rules_path;   /* default rule file */
    const char *artifacts_dir;
    uint64_t artifacts_max_bytes;
    const char *langs;        /* "kor+eng" */
    const char *tessdata;     /* NULL: system default */
    int width_px;             /* default page width */
    int part_px;              /* screenshot part height */
    int band_px;              /* OCR band height */
    int overlap_px;           /* OCR band overlap */
    int psm;                  /* Tesseract page segmentation mode */
    int64_t load_timeout_ms;  /* whole capture of one page */
    const sl_egress_t *egress; /* outbound policy of every request (not owned; outlives) */
    const char *browser_user; /* when root: the browser runs as this user; NULL: "nobody" */
    bool no_sandbox;          /* inspect.browser.no_sandbox: --no-sandbox (warned at start) */
    uint64_t nofile_max, nproc_max; /* the browser's RLIMIT_NOFILE and RLIMIT_NPROC */
    int64_t match_budget_ms;  /* inspect.match.budget.ms: one page's rule matching */
} insp_worker_opts_t;

typedef struct insp_worker insp_worker_t;

/* Loads the rules and the OCR engine (the browser starts with the first job) and looks up the
 * browser's user. Returns 0 or an error with the reason in err. Copies what it keeps of opts
 * (but not egress). */
int insp_worker_new(const insp_worker_opts_t *opts, insp_worker_t **out, char *err,
                    size_t errlen);
/* Stops the browser and removes its temporary profile. */
void insp_worker_free(insp_worker_t *worker);

/* Runs one job. Returns 0 with *result (caller decrefs) or a negative error with the job's
 * error sentence in err; the worker stays usable either way. */
int insp_worker_run(insp_worker_t *worker, const char *job_id, json_t *payload, json_t **result,
                    char *err, size_t errlen);

#endif
