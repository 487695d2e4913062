/* Page capture over CDP (insp_cdp.h); see insp_capture.h. The document's response is checked
 * from Network.responseReceived (status, MIME type) before anything is captured. */
#include "insp_capture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sl_common.h"
#include "sl_time.h"

/* A fresh context and page attached with a flat session. */
typedef struct {
    char context[128];
    char target[128];
    char session[128];
} insp__tab_t;

static int insp__call(insp_cdp_t *cdp, const char *session, const char *method, json_t *params,
                      int64_t deadline_ms, json_t **result, char *err, size_t errlen)
{
    json_t *res = NULL;
    int rc = insp_cdp_call(cdp, session, method, params, deadline_ms, &res, err, errlen);
    if (rc == 0 && result) {
        *result = res;
    } else {
        json_decref(res);
    }
    return rc;
}

static void insp__copy(char *dst, size_t cap, json_t *obj, const char *key)
{
    snprintf(dst, cap, "%s", json_string_value(json_object_get(obj, key)) ?: "");
}

static int insp__tab_open(insp_cdp_t *cdp, insp__tab_t *tab, int64_t dl, char *err, size_t el)
{
    json_t *res = NULL;
    memset(tab, 0, sizeof(*tab));
    int rc = insp__call(cdp, NULL, "Target.createBrowserContext",
                        json_pack("{sb}", "disposeOnDetach", 1), dl, &res, err, el);
    if (rc != 0) {
        return rc;
    }
    insp__copy(tab->context, sizeof(tab->context), res, "browserContextId");
    json_decref(res);
    rc = insp__call(cdp, NULL, "Target.createTarget",
                    json_pack("{ssss}", "url", "about:blank", "browserContextId", tab->context),
                    dl, &res, err, el);
    if (rc != 0) {
        return rc;
    }
    insp__copy(tab->target, sizeof(tab->target), res, "targetId");
    json_decref(res);
    rc = insp__call(cdp, NULL, "Target.attachToTarget",
                    json_pack("{sssb}", "targetId", tab->target, "flatten", 1), dl, &res, err, el);
    if (rc != 0) {
        return rc;
    }
    insp__copy(tab->session, sizeof(tab->session), res, "sessionId");
    json_decref(res);
    return 0;
}

/* Closes the page and drops the context (its storage with it), whatever state it is in. */
static void insp__tab_close(insp_cdp_t *cdp, const insp__tab_t *tab)
{
    char err[INSP_CDP_ERR_BYTES];
    int64_t dl = sl_time_mono_ms() + 5000;
    if (tab->target[0]) {
        insp__call(cdp, NULL, "Target.closeTarget", json_pack("{ss}", "targetId", tab->target),
                   dl, NULL, err, sizeof(err));
    }
    if (tab->context[0]) {
        insp__call(cdp, NULL, "Target.disposeBrowserContext",
                   json_pack("{ss}", "browserContextId", tab->context), dl, NULL, err,
                   sizeof(err));
    }
}

/* Waits for the load event of the session, noting the document's response. */
static int insp__wait_load(insp_cdp_t *cdp, const insp__tab_t *tab, const char *loader,
                           const insp_capture_opts_t *opts, insp_capture_t *cap, char *err,
                           size_t el)
{
    const char *mime_bad = NULL;
    char mime[96] = "";
    bool dom_ready = false;
    for (;;) {
        json_t *ev = NULL;
        int rc = insp_cdp_event(cdp, opts->load_deadline_ms, &ev);
        if (rc == -ETIMEDOUT && dom_ready && cap->status > 0) {
            cap->cut_off = true; /* the document is there; what still loads is cut off */
            break;
        }
        if (rc == -ETIMEDOUT) {
            snprintf(err, el, "page did not load within its time limit");
            return rc;
        }
        if (rc != 0) {
            snprintf(err, el, "browser connection lost: %s", sl_strerror(rc));
            return rc;
        }
        const char *method = json_string_value(json_object_get(ev, "method")) ?: "";
        const char *sess = json_string_value(json_object_get(ev, "sessionId")) ?: "";
        json_t *params = json_object_get(ev, "params");
        bool ours = strcmp(sess, tab->session) == 0;
        if (ours && strcmp(method, "Network.responseReceived") == 0 &&
            strcmp(json_string_value(json_object_get(params, "loaderId")) ?: "", loader) == 0 &&
            strcmp(json_string_value(json_object_get(params, "type")) ?: "", "Document") == 0) {
            json_t *resp = json_object_get(params, "response");
            cap->status = (int)json_number_value(json_object_get(resp, "status"));
            snprintf(mime, sizeof(mime), "%s",
                     json_string_value(json_object_get(resp, "mimeType")) ?: "");
            mime_bad = strstr(mime, "html") ? NULL : mime;
        }
        dom_ready = dom_ready || (ours && strcmp(method, "Page.domContentEventFired") == 0);
        bool loaded = ours && strcmp(method, "Page.loadEventFired") == 0;
        json_decref(ev);
        if (loaded) {
            break;
        }
    }
    if (cap->status >= 400) {
        snprintf(err, el, "HTTP %d from %s", cap->status, opts->url);
        return SL_EINVAL;
    }
    if (mime_bad) {
        snprintf(err, el, "not an HTML page (%s)", mime_bad[0] ? mime_bad : "no type");
        return SL_EINVAL;
    }
    return 0;
}

/* The request guard: answers every Fetch.requestPaused of the tab as it is read. */
typedef struct {
    insp_cdp_t *cdp;
    const insp__tab_t *tab;
    const sl_egress_t *egress;
    insp_capture_t *cap;
} insp__guard_t;

/* 0 when url may be fetched, else SL_EINVAL/-EACCES with why in msg. data: and blob: carry
 * their bytes with them and reach no network, so they pass (Chromium does not pause most). */
static int insp__url_allowed(const sl_egress_t *eg, const char *url, char *msg, size_t len)
{
    if (strncasecmp(url, "data:", 5) == 0 || strncasecmp(url, "blob:", 5) == 0) {
        return 0;
    }
    int rc = sl_egress_check_url(eg, url, NULL, msg, len);
    return rc == -EHOSTUNREACH ? 0 : rc; /* unresolvable: the proxy answers it (502) */
}

static bool insp__on_event(void *arg, const json_t *ev)
{
    insp__guard_t *g = arg;
    if (strcmp(json_string_value(json_object_get(ev, "method")) ?: "", "Fetch.requestPaused")) {
        return false;
    }
    json_t *params = json_object_get(ev, "params");
    const char *sess = json_string_value(json_object_get(ev, "sessionId"));
    const char *rid = json_string_value(json_object_get(params, "requestId")) ?: "";
    const char *url = json_string_value(json_object_get(json_object_get(params, "request"),
                                                        "url")) ?: "";
    const char *type = json_string_value(json_object_get(params, "resourceType")) ?: "";
    const char *frame = json_string_value(json_object_get(params, "frameId")) ?: "";
    char msg[SL_EGRESS_MSG_BYTES];
    if (insp__url_allowed(g->egress, url, msg, sizeof(msg)) == 0) {
        insp_cdp_send(g->cdp, sess, "Fetch.continueRequest", json_pack("{ss}", "requestId", rid));
        return true;
    }
    insp_cdp_send(g->cdp, sess, "Fetch.failRequest",
                  json_pack("{ssss}", "requestId", rid, "errorReason", "AccessDenied"));
    g->cap->blocked++;
    fprintf(stderr, "blocked %s %.200s: %s\n", type, url, msg); /* the job's log */
    if (strcmp(type, "Document") == 0 && strcmp(frame, g->tab->target) == 0 &&
        !g->cap->refused[0]) {
        snprintf(g->cap->refused, sizeof(g->cap->refused), "%s", msg);
    }
    return true;
}

static int insp__navigate(insp_cdp_t *cdp, const insp__tab_t *tab,
                          const insp_capture_opts_t *opts, insp_capture_t *cap, char *err,
                          size_t el)
{
    const char *s = tab->session;
    int64_t dl = opts->deadline_ms;
    /* Every request of the page, at the request stage, redirects included; page requests
     * skip service workers, whose own requests still meet the proxy (insp_proxy.h). */
    int rc = insp__call(cdp, s, "Fetch.enable",
                        json_pack("{s[{ssss}]}", "patterns", "urlPattern", "*", "requestStage",
                                  "Request"),
                        dl, NULL, err, el);
    if (rc == 0) { /* in order before Page.enable's reply; one round trip less */
        insp_cdp_send(cdp, s, "Network.setBypassServiceWorker", json_pack("{sb}", "bypass", 1));
    }
    rc = rc ?: insp__call(cdp, s, "Page.enable", NULL, dl, NULL, err, el);
    rc = rc ?: insp__call(cdp, s, "Network.enable", NULL, dl, NULL, err, el);
    rc = rc ?: insp__call(cdp, s, "Emulation.setDeviceMetricsOverride",
                          json_pack("{sisisisb}", "width", opts->width_px, "height", 900,
                                    "deviceScaleFactor", 1, "mobile", 0),
                          dl, NULL, err, el);
    json_t *res = NULL;
    int64_t t0 = sl_time_mono_ms();
    rc = rc ?: insp__call(cdp, s, "Page.navigate", json_pack("{ss}", "url", opts->url), dl, &res,
                          err, el);
    if (rc != 0) {
        return rc;
    }
    const char *nav_err = json_string_value(json_object_get(res, "errorText"));
    char loader[128];
    insp__copy(loader, sizeof(loader), res, "loaderId");
    if (nav_err && nav_err[0]) {
        snprintf(err, el, "cannot load %s: %s", opts->url, cap->refused[0] ? cap->refused : nav_err);
        json_decref(res);
        return SL_EINVAL;
    }
    json_decref(res);
    rc = insp__wait_load(cdp, tab, loader, opts, cap, err, el);
    cap->load_ms = sl_time_mono_ms() - t0;
    if (cap->refused[0]) { /* a redirect or a script took the page somewhere refused */
        snprintf(err, el, "cannot load %s: navigation %s", opts->url, cap->refused);
        return -EACCES;
    }
    return rc;
}

/* Screenshots [y, y+h) and pastes it into dst at y. */
static int insp__shoot_part(insp_cdp_t *cdp, const insp__tab_t *tab, int y, int w, int h,
                            PIX *dst, int64_t dl, char *err, size_t el)
{
    json_t *res = NULL;
    json_t *clip = json_pack("{sisisisisi}", "x", 0, "y", y, "width", w, "height", h, "scale", 1);
    int rc = insp__call(cdp, tab->session, "Page.captureScreenshot",
                        json_pack("{ssso sb sb}", "format", "png", "clip", clip,
                                  "captureBeyondViewport", 1, "fromSurface", 1),
                        dl, &res, err, el);
    if (rc != 0) {
        return rc;
    }
    const char *b64 = json_string_value(json_object_get(res, "data")) ?: "";
    l_int32 png_len = 0;
    l_uint8 *png = decodeBase64(b64, (l_int32)strlen(b64), &png_len);
    json_decref(res);
    PIX *part = png ? pixReadMem(png, (size_t)png_len) : NULL;
    lept_free(png);
    PIX *part32 = part ? pixConvertTo32(part) : NULL;
    pixDestroy(&part);
    if (!part32) {
        snprintf(err, el, "screenshot at y=%d could not be decoded", y);
        return SL_ECORRUPT;
    }
    pixRasterop(dst, 0, y, w, SL_MIN(h, pixGetHeight(part32)), PIX_SRC, part32, 0, 0);
    pixDestroy(&part32);
    return 0;
}

static int insp__shoot(insp_cdp_t *cdp, const insp__tab_t *tab, const insp_capture_opts_t *opts,
                       insp_capture_t *cap, char *err, size_t el)
{
    json_t *res = NULL;
    int rc = insp__call(cdp, tab->session, "Page.getLayoutMetrics", NULL, opts->deadline_ms,
                        &res, err, el);
    if (rc != 0) {
        return rc;
    }
    json_t *size = json_object_get(res, "cssContentSize") ?: json_object_get(res, "contentSize");
    cap->page_px = (int)json_number_value(json_object_get(size, "height"));
    json_decref(res);
    if (cap->page_px <= 0) {
        snprintf(err, el, "empty page (height 0)");
        return SL_EINVAL;
    }
    int h = SL_MIN(cap->page_px, INSP_PAGE_PX_MAX), w = opts->width_px;
    cap->pix = pixCreate(w, h, 32);
    if (!cap->pix) {
        return SL_ENOMEM;
    }
    pixSetAll(cap->pix);
    for (int y = 0; y < h && rc == 0; y += opts->part_px) {
        rc = insp__shoot_part(cdp, tab, y, w, SL_MIN(opts->part_px, h - y), cap->pix,
                              opts->deadline_ms, err, el);
        cap->parts++;
    }
    if (rc != 0) {
        pixDestroy(&cap->pix);
    }
    return rc;
}

int insp_capture_page(insp_cdp_t *cdp, const insp_capture_opts_t *opts, insp_capture_t *out,
                      char *err, size_t errlen)
{
    SL_ASSERT(opts->width_px >= INSP_WIDTH_PX_MIN && opts->width_px <= INSP_WIDTH_PX_MAX);
    SL_ASSERT(opts->part_px >= INSP_PART_PX_MIN);
    SL_ASSERT(opts->load_deadline_ms <= opts->deadline_ms);
    SL_ASSERT(opts->egress);
    memset(out, 0, sizeof(*out));
    insp__tab_t tab;
    insp__guard_t guard = {.cdp = cdp, .tab = &tab, .egress = opts->egress, .cap = out};
    insp_cdp_set_hook(cdp, insp__on_event, &guard);
    int rc = insp__tab_open(cdp, &tab, opts->deadline_ms, err, errlen);
    rc = rc ?: insp__navigate(cdp, &tab, opts, out, err, errlen);
    rc = rc ?: insp__shoot(cdp, &tab, opts, out, err, errlen);
    if (rc == 0 && out->refused[0]) { /* refused while the page was being captured */
        snprintf(err, errlen, "cannot load %s: navigation %s", opts->url, out->refused);
        rc = -EACCES;
    }
    insp__tab_close(cdp, &tab);
    insp_cdp_set_hook(cdp, NULL, NULL);
    return rc;
}
