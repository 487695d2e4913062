/* gw_fanout: records to subscriptions on the loop thread. The shared MESSAGE frames and each
 * connection's bounded queue, the destination index (prefix + value), subscriptions and their
 * acks, catching up from x-from-offset/x-from-time, and the positions parked for a client-id
 * with un-acked messages. Thread: loop. */
#include "gw_ws_int.h"

#include "sl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages and the queue ---- */

void gw__msg_unref(gw_msg_t *msg)
{
    if (msg && --msg->refs == 0) {
        free(msg);
    }
}

void gw__out_free(gw_out_t *out)
{
    gw__msg_unref(out->msg);
    free(out->own);
    free(out);
}

/* Appends out to the connection's queue; false (out freed, connection failing) when the queue
 * limit is passed. */
bool gw__enqueue(gw_ws_t *ws, gw_conn_t *conn, gw_out_t *out)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    if (conn->closing) {
        gw__out_free(out);
        return false;
    }
    out->enq_ms = sl_time_mono_ms();
    if (conn->q_bytes + conn->backlog_bytes + out->bytes > cfg->send_bytes_max) {
        gw__out_free(out);
        atomic_fetch_add(&ws->svc->st.conns_overflow, 1);
        gw__conn_fail(ws, conn, "slow consumer", "outgoing queue over stomp.send.buffer.bytes");
        return false;
    }
    out->next = NULL;
    if (conn->q_tail) {
        conn->q_tail->next = out;
    } else {
        conn->q_head = out;
    }
    conn->q_tail = out;
    conn->q_bytes += out->bytes;
    atomic_fetch_add(&ws->svc->st.queued_bytes, (int64_t)out->bytes);
    if (!ws->corked) {
        lws_callback_on_writable(conn->wsi);
    } else if (!conn->flushing) {
        conn->flushing = true;
        conn->flush_next = ws->flush;
        ws->flush = conn;
    }
    return true;
}

void gw__queue_drop(gw_ws_t *ws, gw_conn_t *conn)
{
    for (gw_out_t *out = conn->q_head, *next; out; out = next) {
        next = out->next;
        gw__out_free(out);
    }
    atomic_fetch_sub(&ws->svc->st.queued_bytes, (int64_t)conn->q_bytes);
    conn->q_head = conn->q_tail = NULL;
    conn->q_bytes = 0;
}

/* Queues an encoded non-MESSAGE frame. */
bool gw__send_frame(gw_ws_t *ws, gw_conn_t *conn, gw_stomp_cmd_t cmd,
                           const char *const *hdrs, const char *body)
{
    gw_buf_t b;
    gw_buf_init(&b, 0);
    gw_stomp_encode(&b, cmd, hdrs, body, body ? strlen(body) : 0);
    gw_out_t *out = sl_xcalloc(1, sizeof *out);
    out->own = b.p;
    out->own_len = out->bytes = b.len;
    return gw__enqueue(ws, conn, out);
}

void gw__conn_fail(gw_ws_t *ws, gw_conn_t *conn, const char *message, const char *detail)
{
    if (conn->closing) {
        return;
    }
    gw__queue_drop(ws, conn); /* the ERROR goes first; the rest is lost with the session */
    const char *hdrs[] = {"message", message, "content-type", "text/plain", NULL};
    gw__send_frame(ws, conn, GW_STOMP_ERROR, hdrs, detail);
    conn->closing = true;
    atomic_fetch_add(&ws->svc->st.conns_error, 1);
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, GW_ERROR_LINGER_S);
}

/* ---- destinations ---- */

uint32_t gw__hash(const gw_ws_t *ws, int tmpl, const char *value)
{
    uint64_t h = sl_siphash(&ws->hash_key, value, strlen(value));
    return (uint32_t)((h ^ ((uint64_t)(uint32_t)tmpl * 0x9e3779b97f4a7c15ull)) >> 32);
}

gw_dest_t *gw__dest_find(gw_ws_t *ws, int tmpl, const char *value, bool create)
{
    uint32_t h = gw__hash(ws, tmpl, value) % GW_DEST_BUCKETS;
    for (gw_dest_t *d = ws->buckets[h]; d; d = d->next) {
        if (d->tmpl == tmpl && strcmp(d->value, value) == 0) {
            return d;
        }
    }
    if (!create) {
        return NULL;
    }
    gw_dest_t *d = sl_xcalloc(1, sizeof *d);
    d->tmpl = tmpl;
    snprintf(d->value, sizeof d->value, "%s", value);
    d->next = ws->buckets[h];
    ws->buckets[h] = d;
    return d;
}

static void gw__dest_release(gw_ws_t *ws, gw_dest_t *dest)
{
    if (dest->subs) {
        return;
    }
    gw_dest_t **pp = &ws->buckets[gw__hash(ws, dest->tmpl, dest->value) % GW_DEST_BUCKETS];
    while (*pp != dest) {
        pp = &(*pp)->next;
    }
    *pp = dest->next;
    free(dest);
}

/* The filter value of rec for destination template tmpl into value; false when it has none. */
static bool gw__rec_value(const gw_cfg_t *cfg, int tmpl, const gw_rec_t *rec, json_t **parsed,
                          char value[GW_VALUE_BYTES_MAX + 1])
{
    const gw_dest_cfg_t *d = &cfg->dests[tmpl];
    if (!d->field[0]) {
        if (rec->key_len == 0 || rec->key_len > GW_VALUE_BYTES_MAX ||
            memchr(rec->key, '\0', rec->key_len)) {
            return false;
        }
        memcpy(value, rec->key, rec->key_len);
        value[rec->key_len] = '\0';
        return true;
    }
    if (!*parsed) {
        json_error_t jerr;
        *parsed = json_loadb(rec->val ? rec->val : "", rec->val_len, 0, &jerr);
        if (!*parsed) {
            *parsed = json_null(); /* not JSON: matches no JSON filter */
        }
    }
    json_t *v = json_object_get(*parsed, d->field);
    if (json_is_string(v) && strlen(json_string_value(v)) <= GW_VALUE_BYTES_MAX) {
        snprintf(value, GW_VALUE_BYTES_MAX + 1, "%s", json_string_value(v));
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(value, GW_VALUE_BYTES_MAX + 1, "%lld", (long long)json_integer_value(v));
        return true;
    }
    return false;
}

static gw_msg_t *gw__msg_new(gw_ws_t *ws, const gw_rec_t *rec, const gw_dest_t *dest)
{
    const gw_cfg_t *cfg = ws->svc->cfg;
    const char *topic = ws->svc->topics[rec->topic].name;
    char dst[GW_STR_BUF + GW_VALUE_BYTES_MAX + 1], id[GW_TOPIC_BUF + 48], num[4][24];
    snprintf(dst, sizeof dst, "%s%s", cfg->dests[dest->tmpl].prefix, dest->value);
    snprintf(id, sizeof id, "%s:%d:%lld", topic, (int)rec->partition, (long long)rec->offset);
    snprintf(num[0], sizeof num[0], "%d", (int)rec->partition);
    snprintf(num[1], sizeof num[1], "%lld", (long long)rec->offset);
    snprintf(num[2], sizeof num[2], "%lld", (long long)rec->ts_ms);
    snprintf(num[3], sizeof num[3], "%zu", rec->val_len);
    const char *body = rec->val ? rec->val : "";
    bool json = rec->val_len > 0 && (body[0] == '{' || body[0] == '[');
    gw_buf_t b;
    gw_buf_init(&b, offsetof(gw_msg_t, data));
    gw_stomp_put_hdr(&b, "destination", dst, strlen(dst));
    gw_stomp_put_hdr(&b, "message-id", id, strlen(id));
    const char *ct = json ? "application/json" : "text/plain";
    gw_stomp_put_hdr(&b, "content-type", ct, strlen(ct));
    gw_stomp_put_hdr(&b, "x-topic", topic, strlen(topic));
    gw_stomp_put_hdr(&b, "x-partition", num[0], strlen(num[0]));
    gw_stomp_put_hdr(&b, "x-offset", num[1], strlen(num[1]));
    gw_stomp_put_hdr(&b, "x-timestamp", num[2], strlen(num[2]));
    if (rec->key_len > 0) {
        gw_stomp_put_hdr(&b, "x-key", rec->key, rec->key_len);
    }
    gw_stomp_put_hdr(&b, "content-length", num[3], strlen(num[3]));
    gw_buf_put(&b, "\n", 1);
    gw_buf_put(&b, body, rec->val_len);
    gw_buf_put(&b, "", 1);
    gw_msg_t *msg = (gw_msg_t *)b.p;
    msg->refs = 1;
    msg->topic = rec->topic;
    msg->partition = rec->partition;
    msg->offset = rec->offset;
    msg->len = b.len - offsetof(gw_msg_t, data);
    return msg;
}

static gw_out_t *gw__out_msg(gw_sub_t *sub, gw_msg_t *msg)
{
    gw_out_t *out = sl_xcalloc(1, sizeof *out);
    out->msg = msg;
    msg->refs++;
    snprintf(out->sub, sizeof out->sub, "%s", sub->id);
    out->bytes = msg->len + strlen(sub->id) + 48;
    return out;
}

/* Appends msg to a waiting list of sub, counted against the connection's queue limit (past it
 * the connection fails as a slow consumer). */
static void gw__backlog(gw_ws_t *ws, gw_sub_t *sub, gw_out_t **head, gw_out_t **tail,
                        gw_msg_t *msg)
{
    gw_conn_t *conn = sub->conn;
    gw_out_t *out = gw__out_msg(sub, msg);
    if (conn->closing) {
        gw__out_free(out);
        return;
    }
    if (conn->q_bytes + conn->backlog_bytes + out->bytes > ws->svc->cfg->send_bytes_max) {
        gw__out_free(out);
        atomic_fetch_add(&ws->svc->st.conns_overflow, 1);
        gw__conn_fail(ws, conn, "slow consumer", "messages waiting over stomp.send.buffer.bytes");
        return;
    }
    if (*tail) {
        (*tail)->next = out;
    } else {
        *head = out;
    }
    *tail = out;
    sub->backlog_bytes += out->bytes;
    conn->backlog_bytes += out->bytes;
}

/* Takes the first message of a waiting list (its bytes no longer counted). */
static gw_out_t *gw__backlog_pop(gw_sub_t *sub, gw_out_t **head, gw_out_t **tail)
{
    gw_out_t *out = *head;
    *head = out->next;
    if (!*head) {
        *tail = NULL;
    }
    out->next = NULL;
    sub->backlog_bytes -= out->bytes;
    sub->conn->backlog_bytes -= out->bytes;
    return out;
}

/* Queues msg to sub now (tracking it when the ack mode is a client one). */
static void gw__deliver_now(gw_ws_t *ws, gw_sub_t *sub, gw_msg_t *msg)
{
    gw_conn_t *conn = sub->conn;
    gw_out_t *out = gw__out_msg(sub, msg);
    if (sub->ack != GW_ACK_AUTO) {
        if (!sub->unacked) {
            sub->unacked = sl_xcalloc((size_t)ws->svc->cfg->unacked_max, sizeof *sub->unacked);
        }
        out->ack = ++conn->ack_seq;
        sub->unacked[sub->nunacked++] = (gw_unacked_t){out->ack, msg};
        msg->refs++;
    }
    if (gw__enqueue(ws, conn, out)) {
        atomic_fetch_add(&ws->svc->st.delivered, 1);
    }
}

/* Queues msg to sub, or keeps it pending while stomp.unacked.max messages wait for their ack
 * (ActiveMQ's prefetch) or older ones are pending. */
void gw__deliver(gw_ws_t *ws, gw_sub_t *sub, gw_msg_t *msg)
{
    if (sub->ack != GW_ACK_AUTO && (sub->pending || sub->nunacked == ws->svc->cfg->unacked_max)) {
        gw__backlog(ws, sub, &sub->pending, &sub->pending_tail, msg);
    } else {
        gw__deliver_now(ws, sub, msg);
    }
}

void gw__sub_floors(gw_ws_t *ws, gw_sub_t *sub)
{
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[sub->dest->tmpl];
    for (int i = 0; i < d->ntopics; i++) {
        int t = gw_topic_index(ws->svc, d->topics[i]);
        const gw_topic_t *topic = &ws->svc->topics[t];
        for (int p = 0; p < topic->nparts; p++) {
            if (topic->acked_next[p] <= topic->live_next[p]) {
                continue;
            }
            SL_ASSERT(sub->nfloors < GW_TP_MAX);
            if (!sub->floors) {
                sub->floors = sl_xcalloc(GW_TP_MAX, sizeof *sub->floors);
            }
            sub->floors[sub->nfloors++] = (gw_floor_t){t, p, topic->acked_next[p]};
        }
    }
}

/* Is rec older than sub's SUBSCRIBE? A floor the live consumer has passed is dropped. */
static bool gw__below_floor(gw_sub_t *sub, const gw_rec_t *rec)
{
    for (int i = 0; i < sub->nfloors; i++) {
        gw_floor_t *f = &sub->floors[i];
        if (f->topic == rec->topic && f->partition == rec->partition) {
            if (rec->offset < f->offset) {
                return true;
            }
            *f = sub->floors[--sub->nfloors];
            return false;
        }
    }
    return false;
}

void gw__dispatch_live(gw_ws_t *ws, gw_rec_t *rec)
{
    gw_svc_t *svc = ws->svc;
    gw_topic_t *topic = &svc->topics[rec->topic];
    if (rec->partition < 0 || rec->partition >= topic->nparts) {
        return;
    }
    topic->live_next[rec->partition] = rec->offset + 1;
    json_t *parsed = NULL;
    for (int d = 0; d < svc->cfg->ndests; d++) {
        char value[GW_VALUE_BYTES_MAX + 1];
        bool has = false;
        for (int i = 0; i < svc->cfg->dests[d].ntopics && !has; i++) {
            has = strcmp(svc->cfg->dests[d].topics[i], topic->name) == 0;
        }
        gw_dest_t *dest = has && gw__rec_value(svc->cfg, d, rec, &parsed, value)
                              ? gw__dest_find(ws, d, value, false)
                              : NULL;
        if (!dest) {
            continue;
        }
        gw_msg_t *msg = gw__msg_new(ws, rec, dest);
        for (gw_sub_t *sub = dest->subs, *next; sub; sub = next) {
            next = sub->dnext; /* a failing connection keeps its subscriptions until closed */
            if (sub->token) {
                gw__backlog(ws, sub, &sub->held, &sub->held_tail, msg);
            } else if (sub->nfloors && gw__below_floor(sub, rec)) {
                continue;
            } else {
                gw__deliver(ws, sub, msg);
            }
        }
        gw__msg_unref(msg);
    }
    json_decref(parsed);
}

/* ---- subscriptions ---- */

static int gw__catching_find(gw_ws_t *ws, uint64_t token)
{
    for (int i = 0; i < GW_CATCHUP_MAX; i++) {
        if (ws->catching[i] && ws->catching[i]->token == token) {
            return i;
        }
    }
    return -1;
}

void gw__sub_free(gw_ws_t *ws, gw_sub_t *sub)
{
    if (sub->token) {
        int i = gw__catching_find(ws, sub->token);
        SL_ASSERT(i >= 0);
        ws->catching[i] = NULL;
    }
    free(sub->job);
    free(sub->floors);
    while (sub->held) {
        gw__out_free(gw__backlog_pop(sub, &sub->held, &sub->held_tail));
    }
    while (sub->pending) {
        gw__out_free(gw__backlog_pop(sub, &sub->pending, &sub->pending_tail));
    }
    SL_ASSERT(sub->backlog_bytes == 0);
    for (int i = 0; i < sub->nunacked; i++) {
        gw__msg_unref(sub->unacked[i].msg);
    }
    free(sub->unacked);
    if (sub->dprev) {
        sub->dprev->dnext = sub->dnext;
    } else {
        sub->dest->subs = sub->dnext;
    }
    if (sub->dnext) {
        sub->dnext->dprev = sub->dprev;
    }
    gw__dest_release(ws, sub->dest);
    atomic_fetch_sub(&ws->svc->st.subs, 1);
    free(sub);
}

/* Removes park i (its pos already taken or freed); the last one moves into its place. */
static void gw__park_remove(gw_ws_t *ws, int i)
{
    ws->parks[i] = ws->parks[--ws->nparks];
    memset(&ws->parks[ws->nparks], 0, sizeof ws->parks[0]);
}

/* Remembers where a client-ack subscription stands (the oldest un-acked message of each
 * partition, else what the loop has seen) for its client-id's next session. */
void gw__park(gw_ws_t *ws, gw_sub_t *sub)
{
    gw_conn_t *conn = sub->conn;
    if (sub->ack == GW_ACK_AUTO || !conn->client_id[0] || ws->svc->cfg->park_ms == 0 ||
        !sub->may_replay) {
        return;
    }
    int slot = ws->nparks < GW_PARK_MAX ? ws->nparks++ : 0;
    for (int i = 0; i < ws->nparks && ws->nparks == GW_PARK_MAX; i++) {
        slot = ws->parks[i].parked_ms < ws->parks[slot].parked_ms ? i : slot; /* evict oldest */
    }
    gw_park_t *park = &ws->parks[slot];
    free(park->pos);
    snprintf(park->client_id, sizeof park->client_id, "%s", conn->client_id);
    snprintf(park->sub, sizeof park->sub, "%s", sub->id);
    snprintf(park->principal, sizeof park->principal, "%s", conn->principal);
    park->tmpl = sub->dest->tmpl;
    snprintf(park->value, sizeof park->value, "%s", sub->dest->value);
    park->parked_ms = sl_time_mono_ms();
    gw_catchup_t *pos = sl_xcalloc(1, sizeof *pos);
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[sub->dest->tmpl];
    for (int i = 0; i < d->ntopics; i++) {
        int t = gw_topic_index(ws->svc, d->topics[i]);
        for (int p = 0; p < ws->svc->topics[t].nparts; p++) {
            int64_t at = ws->svc->topics[t].live_next[p];
            for (int k = 0; sub->job && k < sub->job->ntp; k++) {
                if (sub->job->tp[k].topic == t && sub->job->tp[k].partition == p) {
                    at = sub->job->tp[k].start; /* resuming: not past where it started */
                }
            }
            for (int k = 0; k < sub->nunacked; k++) {
                const gw_msg_t *m = sub->unacked[k].msg;
                at = m->topic == t && m->partition == p ? SL_MIN(at, m->offset) : at;
            }
            for (const gw_out_t *o = sub->pending; o; o = o->next) {
                at = o->msg->topic == t && o->msg->partition == p ? SL_MIN(at, o->msg->offset)
                                                                  : at;
            }
            pos->tp[pos->ntp].topic = t;
            pos->tp[pos->ntp].partition = p;
            pos->tp[pos->ntp++].start = at;
        }
    }
    park->pos = pos;
}

/* Takes the parked position of (client, sub id, destination), or NULL. */
static gw_catchup_t *gw__unpark(gw_ws_t *ws, const gw_conn_t *conn, const char *id,
                                const gw_dest_t *dest)
{
    int64_t now = sl_time_mono_ms();
    for (int i = 0; i < ws->nparks; i++) {
        gw_park_t *park = &ws->parks[i];
        if (now - park->parked_ms <= ws->svc->cfg->park_ms &&
            strcmp(park->client_id, conn->client_id) == 0 && strcmp(park->sub, id) == 0 &&
            strcmp(park->principal, conn->principal) == 0 &&
            park->tmpl == dest->tmpl && strcmp(park->value, dest->value) == 0) {
            gw_catchup_t *pos = park->pos;
            gw__park_remove(ws, i);
            return pos;
        }
    }
    return NULL;
}

void gw__parks_expire(gw_ws_t *ws)
{
    int64_t now = sl_time_mono_ms();
    for (int i = 0; i < ws->nparks;) {
        if (now - ws->parks[i].parked_ms > ws->svc->cfg->park_ms) {
            free(ws->parks[i].pos);
            gw__park_remove(ws, i);
        } else {
            i++;
        }
    }
}

/* Parses "topic:partition:offset[,...]" into starts of job (entries already listed for every
 * partition of the destination). Returns false on a malformed list. */
static bool gw__from_offsets(gw_ws_t *ws, const gw_str_t *v, gw_catchup_t *job)
{
    char buf[4096];
    if (v->len >= sizeof buf) {
        return false;
    }
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *c2 = strrchr(tok, ':');
        char *c1 = c2 ? memrchr(tok, ':', (size_t)(c2 - tok)) : NULL;
        int64_t part = 0, off = 0;
        if (!c1) {
            return false;
        }
        *c1 = *c2 = '\0';
        int t = gw_topic_index(ws->svc, tok);
        if (t < 0 || !sl_parse_i64(c1 + 1, 0, GW_PARTS_MAX - 1, &part) ||
            !sl_parse_i64(c2 + 1, 0, INT64_MAX, &off)) {
            return false;
        }
        bool found = false;
        for (int k = 0; k < job->ntp; k++) {
            if (job->tp[k].topic == t && job->tp[k].partition == (int32_t)part) {
                job->tp[k].start = off;
                found = true;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Builds the catch-up job of a new subscription from its headers or its parked position.
 * Returns NULL when it starts live; sets *bad to the offending header on an error. */
gw_catchup_t *gw__resume_job(gw_ws_t *ws, gw_sub_t *sub, const gw_stomp_frame_t *f,
                                    const char **bad)
{
    const gw_str_t *from_off = gw_stomp_get(f, "x-from-offset");
    const gw_str_t *from_time = gw_stomp_get(f, "x-from-time");
    gw_catchup_t *parked = from_off || from_time || sub->ack == GW_ACK_AUTO ||
                                   !sub->conn->client_id[0] || !sub->may_replay
                               ? NULL
                               : gw__unpark(ws, sub->conn, sub->id, sub->dest);
    if (!from_off && !from_time && !parked) {
        return NULL;
    }
    gw_catchup_t *job = sl_xcalloc(1, sizeof *job);
    job->from_time_ms = -1;
    if (from_time) {
        char tbuf[24];
        snprintf(tbuf, sizeof tbuf, "%.*s", (int)SL_MIN(from_time->len, 23), from_time->p);
        if (from_time->len > 20 || !sl_parse_i64(tbuf, 0, INT64_MAX, &job->from_time_ms)) {
            *bad = "x-from-time";
        }
    }
    const gw_dest_cfg_t *d = &ws->svc->cfg->dests[sub->dest->tmpl];
    for (int i = 0; i < d->ntopics; i++) {
        int t = gw_topic_index(ws->svc, d->topics[i]);
        for (int p = 0; p < ws->svc->topics[t].nparts; p++) {
            job->tp[job->ntp].topic = t;
            job->tp[job->ntp].partition = p;
            job->tp[job->ntp].target = ws->svc->topics[t].live_next[p];
            job->tp[job->ntp++].start =
                from_time ? RD_KAFKA_OFFSET_INVALID : RD_KAFKA_OFFSET_BEGINNING;
            for (int k = 0; parked && k < parked->ntp; k++) {
                if (parked->tp[k].topic == t && parked->tp[k].partition == p) {
                    job->tp[job->ntp - 1].start = parked->tp[k].start;
                }
            }
        }
    }
    free(parked);
    if (from_off && !gw__from_offsets(ws, from_off, job)) {
        *bad = "x-from-offset";
    }
    return job;
}

/* Starts the catch-up of sub (job taken over); false when too many are resuming. */
bool gw__resume(gw_ws_t *ws, gw_sub_t *sub, gw_catchup_t *job)
{
    int slot = -1;
    for (int i = 0; i < GW_CATCHUP_MAX && slot < 0; i++) {
        slot = ws->catching[i] ? -1 : i;
    }
    bool needed = job->from_time_ms >= 0;
    for (int k = 0; k < job->ntp && !needed; k++) {
        needed = job->tp[k].start < job->tp[k].target; /* BEGINNING is negative */
    }
    if (!needed) {
        free(job);
        return true;
    }
    if (slot < 0) {
        free(job);
        return false;
    }
    sub->token = job->token = ++ws->next_token;
    ws->catching[slot] = sub;
    sub->job = sl_xmalloc(sizeof *job);
    memcpy(sub->job, job, sizeof *job);
    atomic_fetch_add(&ws->svc->st.resumes, 1);
    gw_catchup_submit(ws->svc, job);
    return true;
}

/* Delivers pending messages while the subscription may take more. */
void gw__release(gw_ws_t *ws, gw_sub_t *sub)
{
    while (sub->pending && !sub->conn->closing &&
           (sub->ack == GW_ACK_AUTO || sub->nunacked < ws->svc->cfg->unacked_max)) {
        gw_out_t *out = gw__backlog_pop(sub, &sub->pending, &sub->pending_tail);
        gw_msg_t *msg = out->msg;
        msg->refs++;
        gw__out_free(out);
        gw__deliver_now(ws, sub, msg); /* in order: nothing pending is older */
        gw__msg_unref(msg);
    }
}

void gw__catchup_rec(gw_ws_t *ws, gw_rec_t *rec)
{
    int i = gw__catching_find(ws, rec->token);
    if (i < 0) {
        return; /* the subscription is gone */
    }
    gw_sub_t *sub = ws->catching[i];
    if (rec->kind == GW_REC_CATCHUP_FAIL) {
        gw__conn_fail(ws, sub->conn, "resume failed", "reading the missed records timed out");
        return;
    }
    if (rec->kind == GW_REC_CATCHUP) {
        json_t *parsed = NULL;
        char value[GW_VALUE_BYTES_MAX + 1];
        if (gw__rec_value(ws->svc->cfg, sub->dest->tmpl, rec, &parsed, value) &&
            strcmp(value, sub->dest->value) == 0) {
            gw_msg_t *msg = gw__msg_new(ws, rec, sub->dest);
            gw__deliver(ws, sub, msg);
            gw__msg_unref(msg);
        }
        json_decref(parsed);
        return;
    }
    ws->catching[i] = NULL; /* done: the held live messages follow in order */
    sub->token = 0;
    free(sub->job);
    sub->job = NULL;
    if (sub->pending_tail) {
        sub->pending_tail->next = sub->held;
    } else {
        sub->pending = sub->held;
    }
    sub->pending_tail = sub->held ? sub->held_tail : sub->pending_tail;
    sub->held = sub->held_tail = NULL;
    gw__release(ws, sub);
}
