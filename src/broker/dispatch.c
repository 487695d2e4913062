/* Request dispatch: decodes the request header, checks the API and version against the one
 * table (kmsg_apis + brk__handlers), decodes the body into a per-request arena and calls the
 * handler (responses are framed by req.c). */
#include "brk_auth.h"
#include "brk_authz.h"
#include "brk_fetch.h"
#include "brk_group.h"
#include "brk_handlers.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_req.h"
#include "brk_txn.h"
#include "kerr.h"
#include "sl_log.h"

#include <stdlib.h>
#include <string.h>

typedef void (*brk_handler_fn)(brk_req_t *req);

static const brk_handler_fn brk__handlers[KMSG_API_KEY_MAX + 1] = {
    [KAPI_PRODUCE] = brk_handle_produce,
    [KAPI_FETCH] = brk_handle_fetch,
    [KAPI_LIST_OFFSETS] = brk_handle_list_offsets,
    [KAPI_DELETE_RECORDS] = brk_handle_delete_records,
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
    brk_respond_as(req, 0, false, &resp);
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
    brk_req_free(req);
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
