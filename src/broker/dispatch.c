/* Request dispatch: decodes the request header, checks the API and version against the one
 * table (kmsg_apis + brk__handlers), decodes the body into a per-request arena and calls the
 * handler. Responses are framed here: size, header (v0, or v1 for flexible versions except
 * ApiVersions), body; record ranges from log segments become sendfile chunks. */
#include "brk_group.h"
#include "brk_internal.h"
#include "sl_hset.h"
#include "sl_log.h"

#include <stdlib.h>
#include <string.h>

typedef void (*brk_handler_fn)(brk_req_t *req);

static const brk_handler_fn brk__handlers[KMSG_API_KEY_MAX + 1] = {
    [KAPI_PRODUCE] = brk_handle_produce,
    [KAPI_FETCH] = brk_handle_fetch,
    [KAPI_LIST_OFFSETS] = brk_handle_list_offsets,
    [KAPI_METADATA] = brk_handle_metadata,
    [KAPI_API_VERSIONS] = brk_handle_api_versions,
    [KAPI_CREATE_TOPICS] = brk_handle_create_topics,
    [KAPI_DELETE_TOPICS] = brk_handle_delete_topics,
    [KAPI_DESCRIBE_CONFIGS] = brk_handle_describe_configs,
    [KAPI_CREATE_PARTITIONS] = brk_handle_create_partitions,
    [KAPI_INCREMENTAL_ALTER_CONFIGS] = brk_handle_incremental_alter_configs,
    [KAPI_ALTER_CONFIGS] = brk_handle_alter_configs,
    [KAPI_OFFSET_COMMIT] = brk_handle_offset_commit,
    [KAPI_OFFSET_FETCH] = brk_handle_offset_fetch,
    [KAPI_FIND_COORDINATOR] = brk_handle_find_coordinator,
    [KAPI_JOIN_GROUP] = brk_handle_join_group,
    [KAPI_HEARTBEAT] = brk_handle_heartbeat,
    [KAPI_LEAVE_GROUP] = brk_handle_leave_group,
    [KAPI_SYNC_GROUP] = brk_handle_sync_group,
    [KAPI_DESCRIBE_GROUPS] = brk_handle_describe_groups,
    [KAPI_LIST_GROUPS] = brk_handle_list_groups,
    [KAPI_DELETE_GROUPS] = brk_handle_delete_groups,
    [KAPI_OFFSET_DELETE] = brk_handle_offset_delete,
    [KAPI_INIT_PRODUCER_ID] = brk_handle_init_producer_id,
    [KAPI_DESCRIBE_PRODUCERS] = brk_handle_describe_producers,
    [KAPI_ADD_PARTITIONS_TO_TXN] = brk_handle_add_partitions_to_txn,
    [KAPI_ADD_OFFSETS_TO_TXN] = brk_handle_add_offsets_to_txn,
    [KAPI_END_TXN] = brk_handle_end_txn,
    [KAPI_TXN_OFFSET_COMMIT] = brk_handle_txn_offset_commit,
    [KAPI_DESCRIBE_ACLS] = brk_handle_describe_acls,
    [KAPI_CREATE_ACLS] = brk_handle_create_acls,
    [KAPI_DELETE_ACLS] = brk_handle_delete_acls,
    [KAPI_SASL_HANDSHAKE] = brk_handle_sasl_handshake,
    [KAPI_SASL_AUTHENTICATE] = brk_handle_sasl_authenticate,
};

static void brk__req_free(brk_req_t *req)
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

static void brk__release_file(void *ctx)
{
    slog_file_unref(ctx);
}

/* Turns an encoded response into output chunks: buffer pieces between splices, and file
 * ranges for the splices. Takes the buffer and the splices' file references. */
static snet_out_t *brk__out_from_wr(kproto_wr_t *wr)
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
    snet_out_mem(out, buf + prev, len - prev, free, buf);
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

static void brk__send(brk_req_t *req, int16_t version, bool flex_header, const void *resp)
{
    const kmsg_api_t *api = &kmsg_apis[req->api_key];
    kproto_wr_t wr;
    kproto_wr_init(&wr);
    wr.limit = BRK_RESPONSE_BYTES_MAX + 4;
    wr.ext_drop = brk__release_file;
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
        snet_slot_send(req->slot, brk__out_from_wr(&wr));
    }
    kproto_wr_deinit(&wr);
    brk__req_free(req);
}

void brk_respond(brk_req_t *req, const void *resp)
{
    /* ApiVersions answers with header v0 whatever its version (so that a client can parse
     * it before it knows which versions we speak). */
    bool flex_header = req->flex && req->api_key != KAPI_API_VERSIONS;
    brk__send(req, req->api_version, flex_header, resp);
}

void brk_respond_none(brk_req_t *req)
{
    snet_slot_done(req->slot);
    brk__req_free(req);
}

static void brk__api_versions_fill(brk_req_t *req, kmsg_api_versions_resp_t *resp)
{
    int32_t n = 0;
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        n += kmsg_apis[k].name && brk__handlers[k] ? 1 : 0;
    }
    resp->api_keys = brk_alloc(req, n, sizeof *resp->api_keys);
    resp->api_keys_count = n;
    int32_t i = 0;
    for (int k = 0; k <= KMSG_API_KEY_MAX; k++) {
        if (kmsg_apis[k].name && brk__handlers[k]) {
            kmsg_api_versions_resp_api_version_init(&resp->api_keys[i]);
            resp->api_keys[i].api_key = (int16_t)k;
            resp->api_keys[i].min_version = kmsg_apis[k].min;
            resp->api_keys[i].max_version = kmsg_apis[k].max;
            i++;
        }
    }
}

void brk_handle_api_versions(brk_req_t *req)
{
    kmsg_api_versions_resp_t resp;
    kmsg_api_versions_resp_init(&resp);
    brk__api_versions_fill(req, &resp);
    brk_respond(req, &resp);
}

/* An ApiVersions request of a version we do not speak: Kafka answers in v0 format with
 * UNSUPPORTED_VERSION and the supported ranges, so the client can retry with one. */
static void brk__api_versions_unsupported(brk_req_t *req)
{
    kmsg_api_versions_resp_t resp;
    kmsg_api_versions_resp_init(&resp);
    resp.error_code = KERR_UNSUPPORTED_VERSION;
    brk__api_versions_fill(req, &resp);
    brk__send(req, 0, false, &resp);
}

static void brk__reject(snet_conn_t *conn, brk_req_t *req, const char *why)
{
    /* one limiter per cause (why is a static string; the last slot is shared) */
    static struct {
        const char *why;
        sl_log_rate_t rl;
    } causes[8];
    size_t c = 0;
    while (c + 1 < SL_ARRAY_LEN(causes) && causes[c].why && causes[c].why != why) {
        c++;
    }
    causes[c].why = causes[c].why ? causes[c].why : why;
    sl_esc_t esc;
    sl_log_rl(&causes[c].rl, SL_LOG_WARN, "dispatch", "%s: closing connection: %s (api %d v%d, client "
              "'%s')", req->peer, why, req->api_key, req->api_version,
              sl_esc(&esc, req->client_id.ptr, req->client_id.len));
    snet_slot_done(req->slot);
    brk__req_free(req);
    snet_conn_close(conn);
}

static void brk__on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len)
{
    if (!brk_conn_on_frame(conn, slot, frame, len)) {
        return; /* a raw SASL token (after SaslHandshake v0) */
    }
    brk_req_t *req = sl_xcalloc(1, sizeof *req);
    req->brk = brk_conn_brk(conn);
    brk_conn_adv(conn, &req->adv_host, &req->adv_port);
    req->slot = slot;
    req->frame = frame;
    req->arena = sl_arena_new(BRK_ARENA_CHUNK_BYTES);
    req->peer = snet_conn_peer(conn);
    brk_authz_init(req, conn);
    kproto_rd_t rd;
    kproto_rd_init(&rd, frame, len);
    req->api_key = kproto_rd_i16(&rd);
    req->api_version = kproto_rd_i16(&rd);
    req->correlation_id = kproto_rd_i32(&rd);
    if (rd.err) {
        brk__reject(conn, req, "truncated request header");
        return;
    }
    const kmsg_api_t *api = NULL;
    if (req->api_key >= 0 && req->api_key <= KMSG_API_KEY_MAX && kmsg_apis[req->api_key].name &&
        brk__handlers[req->api_key]) {
        api = &kmsg_apis[req->api_key];
    }
    if (!api) {
        brk__reject(conn, req, "unsupported API key");
        return;
    }
    bool supported = req->api_version >= api->min && req->api_version <= api->max;
    req->flex = supported && req->api_version >= api->flex;
    /* Re-read the header whole with the codec (client id, tagged fields). */
    kproto_rd_init(&rd, frame, len);
    kmsg_request_header_t hdr;
    if (kmsg_request_header_decode(&rd, req->arena, req->flex ? 2 : 1, &hdr) != 0) {
        brk__reject(conn, req, "malformed request header");
        return;
    }
    req->client_id = hdr.client_id;
    if (!brk_conn_may_serve(conn, req->api_key)) {
        brk__reject(conn, req, "request before SASL authentication");
        return;
    }
    if (!supported) {
        if (req->api_key == KAPI_API_VERSIONS) {
            brk__api_versions_unsupported(req);
            return;
        }
        brk__reject(conn, req, "unsupported API version");
        return;
    }
    req->body = sl_arena_alloc(req->arena, api->req_size);
    if (api->req_decode(&rd, req->arena, req->api_version, req->body) != 0) {
        brk__reject(conn, req, "malformed request body");
        return;
    }
    brk__handlers[req->api_key](req);
}

const snet_handler_t brk_conn_handler = {
    .on_frame = brk__on_frame,
    .on_close = brk_conn_close,
    .on_open = brk_conn_open,
};
