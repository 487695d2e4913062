/* The inspection job: capture (insp_capture) -> OCR (insp_ocr) -> match (insp_match) -> store
 * (insp_store) -> result JSON; see insp_worker.h. The browser is started lazily and again
 * after it was lost, as an untrusted process: its own unprivileged user when we are root,
 * Chromium's sandbox on, limits on its process tree, every connection through the egress
 * proxy (insp_proxy.h), and a fresh mkdtemp profile (mode 0700) removed on exit; profiles
 * left by killed workers are removed when the next worker starts. */
#include "insp_worker.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "insp_capture.h"
#include "insp_ocr.h"
#include "insp_proxy.h"
#include "insp_store.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_time.h"

struct insp_worker {
    insp_worker_opts_t opts; /* strings point into the copies below */
    char *chromium, *artifacts_dir;
    insp_rules_t *rules;
    insp_ocr_t *ocr;
    insp_cdp_t *cdp;
    insp_proxy_t *proxy;
    int uid, gid; /* the browser's user; -1: ours */
    char profile_dir[INSP_PATH_BYTES]; /* "" when no browser runs */
};

/* One job's working state. */
typedef struct {
    insp_capture_t cap;
    insp_words_t words;
    insp_match_t *match;
    size_t nmatch;
    const insp_rules_t *rules;
    int64_t ms_capture, ms_ocr, ms_match, ms_store;
    bool text_cut; /* the page's text was longer than INSP_MATCH_TEXT_BYTES_MAX */
    char capture_path[INSP_PATH_BYTES];
    char annotated_path[INSP_PATH_BYTES];
} insp__job_t;

static const char *insp__tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

/* Removes profiles of workers that no longer run (killed before they could clean up): only
 * real directories (never a link) owned by us or by the browser's user. */
static void insp__sweep_profiles(const insp_worker_t *worker)
{
    DIR *d = opendir(insp__tmpdir());
    if (!d) {
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        int pid = 0;
        char p[INSP_PATH_BYTES];
        struct stat st;
        if (sscanf(de->d_name, "sluice-inspect-%d-", &pid) != 1 || pid <= 0 ||
            (kill(pid, 0) == 0 || errno != ESRCH)) {
            continue;
        }
        int n = snprintf(p, sizeof(p), "%s/%s", insp__tmpdir(), de->d_name);
        if (n > 0 && (size_t)n < sizeof(p) && lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
            (st.st_uid == geteuid() || (worker->uid >= 0 && st.st_uid == (uid_t)worker->uid))) {
            sl_fs_rmtree(p);
        }
    }
    closedir(d);
}

/* The browser's user: when we are root, opts->browser_user or "nobody". */
static int insp__browser_user(insp_worker_t *worker, char *err, size_t errlen)
{
    worker->uid = worker->gid = -1;
    const char *name = worker->opts.browser_user ? worker->opts.browser_user : "nobody";
    if (geteuid() != 0 && !worker->opts.browser_user) {
        return 0; /* already unprivileged: the browser runs as we do */
    }
    struct passwd *pw = getpwnam(name);
    if (!pw || pw->pw_uid == 0 || (geteuid() != 0 && pw->pw_uid != geteuid())) {
        snprintf(err, errlen, "inspect.browser.user: %s is %s", name,
                 !pw ? "not a user of this system"
                     : pw->pw_uid == 0 ? "root: the browser never runs as root"
                                       : "another user, and this worker is not root");
        return SL_EINVAL;
    }
    if (geteuid() != 0) {
        return 0;
    }
    worker->uid = (int)pw->pw_uid;
    worker->gid = (int)pw->pw_gid;
    return 0;
}

int insp_worker_new(const insp_worker_opts_t *opts, insp_worker_t **out, char *err,
                    size_t errlen)
{
    SL_ASSERT(opts->egress);
    insp_worker_t *worker = sl_xcalloc(1, sizeof(*worker));
    worker->opts = *opts;
    worker->chromium = sl_xstrdup(opts->chromium);
    worker->artifacts_dir = sl_xstrdup(opts->artifacts_dir);
    worker->opts.chromium = worker->chromium;
    worker->opts.artifacts_dir = worker->artifacts_dir;
    worker->opts.rules_path = NULL;
    worker->opts.langs = NULL;
    worker->opts.tessdata = NULL;
    int rc = insp__browser_user(worker, err, errlen);
    worker->opts.browser_user = NULL;
    rc = rc ?: insp_rules_load(opts->rules_path, &worker->rules, err, errlen);
    rc = rc ?: insp_ocr_new(opts->langs, opts->tessdata, opts->psm, &worker->ocr, err, errlen);
    if (rc != 0) {
        insp_worker_free(worker);
        return rc;
    }
    if (opts->no_sandbox) {
        fprintf(stderr, "WARN inspect-worker: inspect.browser.no_sandbox=true: Chromium runs "
                        "without its sandbox; a page that exploits the renderer runs as %s\n",
                worker->uid >= 0 ? "the browser's user" : "this worker's user");
    }
    insp__sweep_profiles(worker);
    *out = worker;
    return 0;
}

static void insp__browser_stop(insp_worker_t *worker)
{
    insp_cdp_free(worker->cdp);
    worker->cdp = NULL;
    if (worker->profile_dir[0]) {
        sl_fs_rmtree(worker->profile_dir);
        worker->profile_dir[0] = 0;
    }
}

void insp_worker_free(insp_worker_t *worker)
{
    if (!worker) {
        return;
    }
    insp__browser_stop(worker);
    insp_proxy_stop(worker->proxy);
    insp_ocr_free(worker->ocr);
    insp_rules_free(worker->rules);
    free(worker->chromium);
    free(worker->artifacts_dir);
    free(worker);
}

/* A fresh profile: mkdtemp (mode 0700, a name nobody could have prepared), owned by the
 * browser's user. */
static int insp__profile_new(insp_worker_t *worker)
{
    int n = snprintf(worker->profile_dir, sizeof(worker->profile_dir),
                     "%s/sluice-inspect-%d-XXXXXX", insp__tmpdir(), (int)getpid());
    if (n <= 0 || (size_t)n >= sizeof(worker->profile_dir) || !mkdtemp(worker->profile_dir)) {
        int rc = n > 0 && (size_t)n < sizeof(worker->profile_dir) ? -errno : SL_ELIMIT;
        worker->profile_dir[0] = 0;
        return rc;
    }
    if (worker->uid >= 0 && chown(worker->profile_dir, (uid_t)worker->uid,
                                  (gid_t)worker->gid) != 0) {
        return -errno;
    }
    return 0;
}

static int insp__browser_ensure(insp_worker_t *worker, char *err, size_t errlen)
{
    if (worker->cdp) {
        return 0;
    }
    insp__browser_stop(worker);
    int rc = worker->proxy ? 0 : insp_proxy_start(worker->opts.egress, &worker->proxy);
    rc = rc ?: insp__profile_new(worker);
    insp_cdp_launch_t lo = {.chromium = worker->chromium, .profile_dir = worker->profile_dir,
                            .proxy = worker->proxy ? insp_proxy_addr(worker->proxy) : NULL,
                            .no_sandbox = worker->opts.no_sandbox, .uid = worker->uid,
                            .gid = worker->gid, .nofile_max = worker->opts.nofile_max,
                            .nproc_max = worker->opts.nproc_max};
    rc = rc ?: insp_cdp_launch(&lo, &worker->cdp);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start %s: %s", worker->chromium, sl_strerror(rc));
        insp__browser_stop(worker);
        return rc;
    }
    json_t *res = NULL;
    rc = insp_cdp_call(worker->cdp, NULL, "Browser.getVersion", NULL, sl_time_mono_ms() + 20000,
                       &res, err, errlen);
    json_decref(res);
    if (rc != 0) {
        insp__browser_stop(worker);
    }
    return rc;
}

static int insp__job_rules(insp_worker_t *worker, json_t *payload, insp_rules_t **own,
                           insp__job_t *job, char *err, size_t errlen)
{
    json_t *jrules = json_object_get(payload, "rules");
    *own = NULL;
    if (!jrules) {
        job->rules = worker->rules;
        return 0;
    }
    if (!json_is_array(jrules)) {
        snprintf(err, errlen, "payload.rules must be an array of strings");
        return SL_EINVAL;
    }
    size_t i;
    json_t *v;
    char *text = sl_xstrdup("");
    json_array_foreach(jrules, i, v) {
        const char *line = json_string_value(v);
        if (!line || strchr(line, '\n') || i >= INSP_RULES_MAX) {
            free(text);
            snprintf(err, errlen, "payload.rules[%zu] must be one line", i);
            return SL_EINVAL;
        }
        size_t n = strlen(text);
        text = sl_xrealloc(text, n + strlen(line) + 2);
        sprintf(text + n, "%s\n", line);
    }
    char why[256];
    int rc = insp_rules_parse(text, strlen(text), own, why, sizeof(why));
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "payload.rules: %s", why);
        return rc;
    }
    job->rules = *own;
    return 0;
}

static int insp__job_capture(insp_worker_t *worker, json_t *payload, insp__job_t *job,
                             char *err, size_t errlen)
{
    const char *url = json_string_value(json_object_get(payload, "url"));
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        snprintf(err, errlen, "payload.url must be an http:// or https:// URL");
        return SL_EINVAL;
    }
    char msg[SL_EGRESS_MSG_BYTES];
    int rc = sl_egress_check_url(worker->opts.egress, url, NULL, msg, sizeof(msg));
    if (rc == SL_EINVAL || rc == -EACCES) { /* unresolvable: the browser says so */
        snprintf(err, errlen, "cannot load %s: %s", url, msg);
        return rc;
    }
    json_t *jwidth = json_object_get(payload, "width");
    int width = jwidth ? (int)json_integer_value(jwidth) : worker->opts.width_px;
    if (width < INSP_WIDTH_PX_MIN || width > INSP_WIDTH_PX_MAX) {
        snprintf(err, errlen, "payload.width must be %d..%d", INSP_WIDTH_PX_MIN,
                 INSP_WIDTH_PX_MAX);
        return SL_EINVAL;
    }
    rc = insp__browser_ensure(worker, err, errlen);
    if (rc != 0) {
        return rc;
    }
    insp_proxy_take_refused(worker->proxy, NULL, 0);
    int64_t t0 = sl_time_mono_ms();
    /* Three quarters of the limit to load, the rest for the screenshots of a cut-off page. */
    insp_capture_opts_t copts = {.url = url, .width_px = width, .part_px = worker->opts.part_px,
                                 .load_deadline_ms = t0 + worker->opts.load_timeout_ms * 3 / 4,
                                 .deadline_ms = t0 + worker->opts.load_timeout_ms,
                                 .egress = worker->opts.egress};
    rc = insp_capture_page(worker->cdp, &copts, &job->cap, err, errlen);
    job->ms_capture = sl_time_mono_ms() - t0;
    /* What the proxy refused passed the first check: the name answered differently later. */
    size_t px_refused = insp_proxy_take_refused(worker->proxy, msg, sizeof(msg));
    job->cap.blocked += (int)px_refused;
    if (rc != 0 && px_refused > 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (%s)", msg);
    }
    if (rc == SL_ECLOSED || rc == -EPIPE) {
        insp__browser_stop(worker); /* the next job starts a new one */
    }
    return rc;
}

static int insp__job_ocr(insp_worker_t *worker, insp__job_t *job, char *err, size_t errlen)
{
    int64_t t0 = sl_time_mono_ms();
    PIX *gray = pixConvertRGBToLuminance(job->cap.pix);
    int rc = gray ? insp_ocr_read(worker->ocr, gray, worker->opts.band_px,
                                  worker->opts.overlap_px, &job->words)
                  : SL_ENOMEM;
    pixDestroy(&gray);
    job->ms_ocr = sl_time_mono_ms() - t0;
    if (rc != 0) {
        snprintf(err, errlen, "OCR failed on the capture (%d x %d)", pixGetWidth(job->cap.pix),
                 pixGetHeight(job->cap.pix));
    } else if (job->words.n == 0) {
        snprintf(err, errlen, "empty page: OCR found no text in the capture");
        rc = SL_EINVAL;
    }
    return rc;
}

static insp_box_t insp__match_box(const insp__job_t *job, const insp_match_t *m, float *conf)
{
    const insp_word_t *w = job->words.word;
    int x0 = w[m->first].box.x, y0 = w[m->first].box.y;
    int x1 = x0 + w[m->first].box.w, y1 = y0 + w[m->first].box.h;
    *conf = w[m->first].conf;
    for (size_t i = m->first + 1; i <= m->last; i++) {
        x0 = SL_MIN(x0, w[i].box.x);
        y0 = SL_MIN(y0, w[i].box.y);
        x1 = SL_MAX(x1, w[i].box.x + w[i].box.w);
        y1 = SL_MAX(y1, w[i].box.y + w[i].box.h);
        *conf = SL_MIN(*conf, w[i].conf);
    }
    return (insp_box_t){.x = x0, .y = y0, .w = x1 - x0, .h = y1 - y0};
}

static int insp__job_store(insp_worker_t *worker, const char *job_id, insp__job_t *job)
{
    int64_t t0 = sl_time_mono_ms();
    const char *dir = worker->opts.artifacts_dir;
    int rc = insp_store_put(dir, job_id, "capture.png", job->cap.pix, job->capture_path,
                            sizeof(job->capture_path));
    if (rc == 0 && job->nmatch > 0) {
        PIX *ann = pixCopy(NULL, job->cap.pix);
        for (size_t i = 0; ann && i < job->nmatch; i++) {
            float conf;
            insp_box_t b = insp__match_box(job, &job->match[i], &conf);
            BOX *box = boxCreate(b.x - 3, b.y - 3, b.w + 6, b.h + 6);
            pixRenderBoxArb(ann, box, 3, 255, 0, 0);
            boxDestroy(&box);
        }
        rc = ann ? insp_store_put(dir, job_id, "annotated.png", ann, job->annotated_path,
                                  sizeof(job->annotated_path))
                 : SL_ENOMEM;
        pixDestroy(&ann);
    }
    insp_store_trim(dir, worker->opts.artifacts_max_bytes, job_id);
    job->ms_store = sl_time_mono_ms() - t0;
    return rc;
}

/* The words of a match (or of the page when whole) joined by spaces, at most max bytes. */
static json_t *insp__words_text(const insp_words_t *words, size_t first, size_t last, size_t max)
{
    size_t cap = 256, len = 0;
    char *s = sl_xmalloc(cap);
    for (size_t i = first; i <= last && i < words->n; i++) {
        size_t n = strlen(words->word[i].text);
        if (len + n + 1 > max) {
            break;
        }
        while (len + n + 2 > cap) {
            cap *= 2;
            s = sl_xrealloc(s, cap);
        }
        if (len > 0) {
            s[len++] = ' ';
        }
        memcpy(s + len, words->word[i].text, n);
        len += n;
    }
    json_t *j = json_stringn(s, len);
    free(s);
    return j ? j : json_string(""); /* a word cut in the middle of a character */
}

static json_t *insp__job_result(const char *url, const insp__job_t *job, int64_t total_ms)
{
    json_t *matches = json_array();
    for (size_t i = 0; i < job->nmatch; i++) {
        const insp_match_t *m = &job->match[i];
        float conf;
        insp_box_t b = insp__match_box(job, m, &conf);
        json_array_append_new(matches, json_pack(
            "{soss sf s{sisisisi}}", "text",
            insp__words_text(&job->words, m->first, m->last, INSP_RULE_BYTES_MAX * 4), "rule",
            insp_rules_source(job->rules, m->rule), "confidence", (double)conf, "box", "x", b.x,
            "y", b.y, "w", b.w, "h", b.h));
    }
    return json_pack(
        "{ss ss so so sI si si sb si s{sIsIsIsIsI} ss so si sb}", "url", url, "verdict",
        job->nmatch ? "flagged" : "clean", "matches", matches, "text",
        insp__words_text(&job->words, 0, job->words.n, INSP_TEXT_BYTES_MAX), "words",
        (json_int_t)job->words.n, "page_px", job->cap.page_px, "parts", job->cap.parts,
        "load_cut_off", (int)job->cap.cut_off, "http_status", job->cap.status, "timings_ms",
        "capture", (json_int_t)job->ms_capture,
        "ocr", (json_int_t)job->ms_ocr, "match", (json_int_t)job->ms_match, "store",
        (json_int_t)job->ms_store, "total", (json_int_t)total_ms, "capture_path",
        job->capture_path, "annotated_path",
        job->annotated_path[0] ? json_string(job->annotated_path) : json_null(),
        "blocked_requests", job->cap.blocked, "match_text_cut", (int)job->text_cut);
}

int insp_worker_run(insp_worker_t *worker, const char *job_id, json_t *payload, json_t **result,
                    char *err, size_t errlen)
{
    int64_t t0 = sl_time_mono_ms();
    insp__job_t job;
    memset(&job, 0, sizeof(job));
    insp_rules_t *own_rules = NULL;
    int rc = insp_store_id_valid(job_id) ? 0 : SL_EINVAL;
    if (rc != 0) {
        snprintf(err, errlen, "job id not usable as a directory name");
    }
    rc = rc ?: insp__job_rules(worker, payload, &own_rules, &job, err, errlen);
    rc = rc ?: insp__job_capture(worker, payload, &job, err, errlen);
    rc = rc ?: insp__job_ocr(worker, &job, err, errlen);
    if (rc == 0) {
        int64_t t1 = sl_time_mono_ms();
        int mrc = insp_match_run_bounded(job.rules, job.words.word, job.words.n,
                                 worker->opts.match_budget_ms, &job.match, &job.nmatch);
        job.ms_match = sl_time_mono_ms() - t1;
        job.text_cut = mrc == SL_ELIMIT;
        if (mrc != 0 && mrc != SL_ELIMIT) {
            rc = mrc;
            snprintf(err, errlen, mrc == -ETIMEDOUT ? "rule matching passed its time budget of "
                     "%lld ms (inspect.match.budget.ms): the verdict is unknown"
                     : "rule matching failed (budget %lld ms)",
                     (long long)worker->opts.match_budget_ms);
        }
        rc = rc ?: insp__job_store(worker, job_id, &job);
        if (rc != 0 && mrc == 0) {
            snprintf(err, errlen, "cannot store artifacts: %s", sl_strerror(rc));
        }
    }
    if (rc == 0) {
        *result = insp__job_result(json_string_value(json_object_get(payload, "url")), &job,
                                   sl_time_mono_ms() - t0);
    }
    free(job.match);
    insp_words_deinit(&job.words);
    pixDestroy(&job.cap.pix);
    insp_rules_free(own_rules);
    return rc;
}
