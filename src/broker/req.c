/* The request context: its arena, duplicate checks, and responses, framed here: size, header
 * (v0, or v1 for flexible versions except ApiVersions), body; record ranges from log segments
 * become sendfile chunks. */
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_mon.h"
#include "brk_req.h"
#include "sl_time.h"
#include "sl_hset.h"
#include "sl_log.h"
#include "slog.h"

#include <stdlib.h>
#include <string.h>

void brk_req_free(brk_req_t *req)
{
    sl_arena_free(req->arena);
    free(req->frame);
    free(req);
}

void *brk_alloc(brk_req_t *req, int32_t n, size_t size)
{
    return n > 0 ? sl_arena_alloc(req->arena, (size_t)n * size) : NULL;
}

int32_t *brk_dups(brk_req_t *req, const void *entries, int32_t n, brk_key_fn key,
                  bool **repeated)
{
    int32_t *first = brk_alloc(req, n, sizeof *first);
    bool *rep = repeated ? brk_alloc(req, n, sizeof *rep) : NULL;
    if (repeated) {
        *repeated = rep;
    }
    if (n <= 0) {
        return NULL;
    }
    sl_hset_t *set = sl_hset_new((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        brk_key_t k = key(entries, i);
        int64_t was = i;
        sl_hset_put(set, k.ptr, k.len, k.tag, i, &was);
        first[i] = (int32_t)was;
        if (rep && was != i) {
            rep[was] = rep[i] = true;
        }
    }
    sl_hset_free(set);
    return first;
}

/* A request is done (answered or not): its queue and handling times. */
static int64_t brk__req_done(brk_req_t *req)
{
    int64_t now = sl_time_mono_us();
    if (req->handle_us) {
        brk_mon_request(req->brk->mon, req->api_key, req->api_version,
                        req->handle_us - req->read_us, now - req->handle_us);
    }
    return now;
}

/* The answer's buffer, freed once its last byte is written: the send time. */
typedef struct {
    brk_mon_t *mon;
    uint8_t *buf;
    int64_t queued_us;
    int16_t api, ver;
} brk_sent_t;

static void brk__sent(void *ctx)
{
    brk_sent_t *sent = ctx;
    brk_mon_sent(sent->mon, sent->api, sent->ver, sl_time_mono_us() - sent->queued_us);
    free(sent->buf);
    free(sent);
}

static void brk__on_error_code(void *ctx, int16_t code)
{
    brk_req_t *req = ctx;
    brk_mon_error(req->brk->mon, req->api_key, req->api_version, code);
}

static void brk__release_file(void *ctx)
{
    slog_file_unref(ctx);
}

/* Turns an encoded response into output chunks: buffer pieces between splices, and file
 * ranges for the splices. Takes the buffer and the splices' file references. */
static snet_out_t *brk__out_from_wr(kproto_wr_t *wr, brk_sent_t *sent)
{
    snet_out_t *out = snet_out_new();
    size_t len;
    uint8_t *buf = sl_buf_steal(&wr->buf, &len);
    size_t prev = 0;
    for (size_t i = 0; i < wr->nsplices; i++) {
        kproto_splice_t *sp = &wr->splices[i];
        if (sp->at > prev) {
            snet_out_mem(out, buf + prev, sp->at - prev, NULL, NULL);
        }
        snet_out_file(out, slog_file_fd(sp->ext), sp->pos, sp->len, brk__release_file, sp->ext);
        prev = sp->at;
    }
    sent->buf = buf;
    snet_out_mem(out, buf + prev, len - prev, brk__sent, sent);
    return out;
}

/* A response that cannot be encoded (over BRK_RESPONSE_BYTES_MAX or the splice bound):
 * nothing of it is sent; the connection is closed after what is queued before it, with one
 * log line. Kafka has no error response for "the answer is too large". */
static void brk__send_failed(brk_req_t *req, kproto_wr_t *wr)
{
    for (size_t i = 0; i < wr->nsplices; i++) {
        slog_file_unref(wr->splices[i].ext);
    }
    SL_LOGW("dispatch", "%s: closing connection: the answer to api %d v%d exceeds %lld bytes "
            "or %d file ranges", req->peer, req->api_key, req->api_version,
            (long long)wr->limit, KPROTO_SPLICES_MAX);
    snet_conn_t *conn = snet_slot_conn(req->slot);
    snet_slot_done(req->slot);
    if (conn) {
        snet_conn_close(conn);
    }
}

void brk_respond_as(brk_req_t *req, int16_t version, bool flex_header, const void *resp)
{
    const kmsg_api_t *api = &kmsg_apis[req->api_key];
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    wr.limit = BRK_RESPONSE_BYTES_MAX + 4;
    wr.ext_drop = brk__release_file;
    wr.on_error = brk__on_error_code;
    wr.on_error_ctx = req;
    size_t mark = kproto_wr_mark_i32(&wr);
    kmsg_response_header_t hdr;
    kmsg_response_header_init(&hdr);
    hdr.correlation_id = req->correlation_id;
    kmsg_response_header_encode(&wr, flex_header ? 1 : 0, &hdr);
    api->resp_encode(&wr, version, resp);
    int64_t total = kproto_wr_len(&wr) - 4;
    if (wr.err || total <= 0 || total >= INT32_MAX) {
        brk__send_failed(req, &wr);
    } else {
        kproto_wr_patch_i32(&wr, mark, (int32_t)total);
        brk_sent_t *sent = sl_xcalloc(1, sizeof *sent);
        *sent = (brk_sent_t){req->brk->mon, NULL, brk__req_done(req), req->api_key,
                             req->api_version};
        snet_slot_send(req->slot, brk__out_from_wr(&wr, sent));
    }
    kproto_wr_deinit(&wr);
    brk_req_free(req);
}

void brk_respond(brk_req_t *req, const void *resp)
{
    /* ApiVersions answers with header v0 whatever its version (so that a client can parse
     * it before it knows which versions we speak). */
    bool flex_header = req->flex && req->api_key != KAPI_API_VERSIONS;
    brk_respond_as(req, req->api_version, flex_header, resp);
}

void brk_respond_none(brk_req_t *req)
{
    brk__req_done(req);
    snet_slot_done(req->slot);
    brk_req_free(req);
}

