/* sluice inspect-worker: the OCR inspection worker as a persistent `sluice jobs` worker. Reads
 * one {"id","attempt","payload"} line at a time on stdin and answers one
 * {"id","ok":true,"result":...} or {"id","ok":false,"error":...} line on stdout (the contract
 * of src/services/jobs/jrun.h); stderr is the job's log. Exits 0 at end of input. */
#include "cli.h"
#include "insp_capture.h"
#include "insp_ocr.h"
#include "insp_worker.h"
#include "sl_common.h"
#include "sl_egress.h"
#include "sl_props.h"

#include <jansson.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest request line (a payload is at most 16 MiB in `sluice jobs`). */
#define INSPECT_LINE_BYTES_MAX ((16u << 20) + 1024u)

static void inspect__usage(FILE *f)
{
    fprintf(f,
            "usage: sluice inspect-worker --rules FILE [--artifacts DIR] [--artifacts-max-mb N]\n"
            "         [--width PX] [--part-px PX] [--band-px PX] [--overlap-px PX]\n"
            "         [--load-timeout-ms MS] [--psm N] [--chromium PATH] [--langs kor+eng]\n"
            "         [--tessdata DIR] [--set KEY=VALUE]...\n"
            "A persistent worker for `sluice jobs` (type.NAME.mode=persistent): one request line\n"
            "in, one reply line out. Defaults: --artifacts data/inspect, --artifacts-max-mb 1024,\n"
            "--width 1280, --part-px 4000, --band-px 8000, --overlap-px 200,\n"
            "--load-timeout-ms 20000, --psm 6 (Tesseract page segmentation: one block),\n"
            "--chromium chromium, --langs kor+eng.\n"
            "Settings (--set, docs/outbound-policy.md): egress.allow.hosts, egress.allow.cidrs,\n"
            "egress.allow.private (where pages may connect: public addresses only by default),\n"
            "inspect.browser.user (nobody), inspect.browser.no_sandbox (false),\n"
            "inspect.browser.nofile.max (8192), inspect.browser.nproc.max (4096),\n"
            "inspect.match.budget.ms (2000).\n");
}

static int inspect__int(const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!v[0] || *end || n < lo || n > hi) {
        return -1;
    }
    *out = n;
    return 0;
}

/* One --set KEY=VALUE; 0 or -1 with the reason in err. */
static int inspect__setting(const char *kv, insp_worker_opts_t *opts, sl_egress_t *eg,
                            char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    char key[64];
    if (!eq || (size_t)(eq - kv) >= sizeof(key)) {
        snprintf(err, errlen, "--set wants KEY=VALUE, got '%.80s'", kv);
        return -1;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    const char *val = eq + 1;
    int64_t n = 0;
    int rc;
    if (sl_egress_is_key(key)) {
        rc = sl_egress_set(eg, key, val, err, errlen);
    } else if (strcmp(key, "inspect.browser.user") == 0) {
        rc = val[0] ? 0 : sl_setting_fail(err, errlen, key, "empty");
        opts->browser_user = val;
    } else if (strcmp(key, "inspect.match.budget.ms") == 0) {
        rc = sl_setting_i64(&opts->match_budget_ms, 1, INSP_MATCH_BUDGET_MS_MAX, key, val, err,
                            errlen);
    } else if (strcmp(key, "inspect.browser.no_sandbox") == 0) {
        rc = sl_setting_bool(&opts->no_sandbox, key, val, err, errlen);
    } else if (strcmp(key, "inspect.browser.nofile.max") == 0 ||
               strcmp(key, "inspect.browser.nproc.max") == 0) {
        rc = sl_setting_i64(&n, 0, INSP_BROWSER_LIMIT_MAX, key, val, err, errlen);
        *(strstr(key, "nofile") ? &opts->nofile_max : &opts->nproc_max) = (uint64_t)n;
    } else {
        rc = sl_setting_fail(err, errlen, key, "unknown setting");
    }
    return rc == 0 ? 0 : -1;
}

/* Parses argv into opts; 0, or 2 (usage error, message printed). */
static int inspect__args(int argc, char **argv, insp_worker_opts_t *opts, sl_egress_t *eg)
{
    static const struct {
        const char *flag;
        long lo, hi;
    } nums[] = {{"--artifacts-max-mb", 1, 1L << 30}, {"--width", INSP_WIDTH_PX_MIN, INSP_WIDTH_PX_MAX},
                {"--part-px", INSP_PART_PX_MIN, 16384}, {"--band-px", 1000, INSP_OCR_BAND_PX_MAX},
                {"--overlap-px", 0, 2000}, {"--load-timeout-ms", 100, 3600000},
                {"--psm", 3, 13}};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (!v) {
            fprintf(stderr, "sluice inspect-worker: missing value for '%s'\n", a);
            return 2;
        }
        size_t k = 0;
        while (k < SL_ARRAY_LEN(nums) && strcmp(a, nums[k].flag) != 0) {
            k++;
        }
        if (k < SL_ARRAY_LEN(nums) && inspect__int(v, nums[k].lo, nums[k].hi, &n) != 0) {
            fprintf(stderr, "sluice inspect-worker: %s must be %ld..%ld\n", a, nums[k].lo,
                    nums[k].hi);
            return 2;
        }
        switch (k) {
        case 0: opts->artifacts_max_bytes = (uint64_t)n << 20; break;
        case 1: opts->width_px = (int)n; break;
        case 2: opts->part_px = (int)n; break;
        case 3: opts->band_px = (int)n; break;
        case 4: opts->overlap_px = (int)n; break;
        case 5: opts->load_timeout_ms = n; break;
        case 6: opts->psm = (int)n; break;
        default:
            if (strcmp(a, "--rules") == 0) {
                opts->rules_path = v;
            } else if (strcmp(a, "--artifacts") == 0) {
                opts->artifacts_dir = v;
            } else if (strcmp(a, "--chromium") == 0) {
                opts->chromium = v;
            } else if (strcmp(a, "--langs") == 0) {
                opts->langs = v;
            } else if (strcmp(a, "--tessdata") == 0) {
                opts->tessdata = v;
            } else if (strcmp(a, "--set") == 0) {
                char why[256];
                if (inspect__setting(v, opts, eg, why, sizeof(why)) != 0) {
                    fprintf(stderr, "sluice inspect-worker: %s\n", why);
                    return 2;
                }
            } else {
                fprintf(stderr, "sluice inspect-worker: unknown option '%s'\n", a);
                return 2;
            }
        }
    }
    if (!opts->rules_path || opts->overlap_px * 2 >= opts->band_px) {
        fprintf(stderr, "sluice inspect-worker: %s\n",
                opts->rules_path ? "--overlap-px must be under half of --band-px"
                                 : "--rules FILE is required");
        return 2;
    }
    return 0;
}

static void inspect__reply(const char *id, json_t *result, const char *error)
{
    json_t *reply = result ? json_pack("{sssbso}", "id", id, "ok", 1, "result", result)
                           : json_pack("{sssbss}", "id", id, "ok", 0, "error", error);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(text);
}

/* Handles one request line; a line that is not a request is answered with id "". */
static void inspect__serve_line(insp_worker_t *worker, const char *line, size_t len)
{
    json_t *req = json_loadb(line, len, 0, NULL);
    const char *id = json_string_value(json_object_get(req, "id"));
    json_t *payload = json_object_get(req, "payload");
    char err[INSP_ERR_BYTES] = "";
    json_t *result = NULL;
    if (!id || !json_is_object(payload)) {
        inspect__reply(id ? id : "", NULL, "request is not {id, attempt, payload:{...}}");
        json_decref(req);
        return;
    }
    int attempt = (int)json_integer_value(json_object_get(req, "attempt"));
    const char *url = json_string_value(json_object_get(payload, "url"));
    fprintf(stderr, "inspect %s attempt %d: %s\n", id, attempt, url ? url : "(no url)");
    if (insp_worker_run(worker, id, payload, &result, err, sizeof(err)) == 0) {
        json_t *t = json_object_get(result, "timings_ms");
        fprintf(stderr, "inspect %s: %s, %d matches, capture %lld ms, ocr %lld ms\n", id,
                json_string_value(json_object_get(result, "verdict")),
                (int)json_array_size(json_object_get(result, "matches")),
                (long long)json_integer_value(json_object_get(t, "capture")),
                (long long)json_integer_value(json_object_get(t, "ocr")));
        inspect__reply(id, result, NULL);
    } else {
        fprintf(stderr, "inspect %s failed: %s\n", id, err);
        inspect__reply(id, NULL, err);
    }
    json_decref(req);
}

int tool_inspect(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        inspect__usage(stdout);
        return 0;
    }
    insp_worker_opts_t opts = {.chromium = "chromium", .artifacts_dir = "data/inspect",
                               .artifacts_max_bytes = 1024ull << 20, .langs = "kor+eng",
                               .width_px = 1280, .part_px = 4000, .band_px = 8000,
                               .overlap_px = 200, .load_timeout_ms = 20000, .psm = 6,
                               .nofile_max = INSP_BROWSER_NOFILE_DEFAULT,
                               .nproc_max = INSP_BROWSER_NPROC_DEFAULT,
                               .match_budget_ms = INSP_MATCH_BUDGET_MS_DEFAULT};
    sl_egress_t *eg = sl_egress_new();
    opts.egress = eg;
    if (inspect__args(argc, argv, &opts, eg) != 0) {
        inspect__usage(stderr);
        sl_egress_free(eg);
        return 2;
    }
    setlocale(LC_CTYPE, "C.UTF-8"); /* multibyte rule patterns */
    setenv("OMP_THREAD_LIMIT", "1", 0); /* one core per worker: OpenMP is 3x slower here */
    signal(SIGPIPE, SIG_IGN);          /* a dead browser is an error value, not a signal */
    char err[INSP_ERR_BYTES];
    insp_worker_t *worker = NULL;
    if (insp_worker_new(&opts, &worker, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluice inspect-worker: %s\n", err);
        sl_egress_free(eg);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if ((size_t)n > INSPECT_LINE_BYTES_MAX) {
            inspect__reply("", NULL, "request line too long");
            continue;
        }
        inspect__serve_line(worker, line, (size_t)n);
    }
    free(line);
    insp_worker_free(worker);
    sl_egress_free(eg);
    return 0;
}
