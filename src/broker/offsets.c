/* Committed offsets: kept in memory per group and made durable in an internal log,
 * <data>/internal/offsets, with the same flush guarantees as records (a commit is answered
 * once durable under flush policy always). Each commit request is one record batch; a record
 *   key   = 'o' | u16 group len | group | u16 topic len | topic | i32 partition
 *   value = i64 offset | i32 leader epoch | i64 commit ms | u16 metadata len | metadata
 * and a null value deletes (group deleted, topic deleted, offsets expired). The log is
 * replayed at start and rewritten with only live offsets when it has grown large. */
#include "brk_acl.h"
#include "brk_group.h"
#include "sl_buf.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_hset.h"
#include "sl_log.h"
#include "sl_time.h"
#include "slog_batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct brk_groups {
    brk_t *brk;
    brk_topic_t topic; /* internal, not in the registry */
    brk_part_t *parts[1];
    brk_part_t part;
    int64_t live;      /* offsets held in memory (to judge when to compact) */
    int64_t snap_from; /* a snapshot starts here: older segments go once it is durable; -1 */
    int64_t snap_end;  /* exclusive end offset of that snapshot */
};

brk_part_t *brk_groups_log(brk_groups_t *groups)
{
    return &groups->part;
}

void brk__offsets_clear(brk_offsets_t *offs)
{
    for (int32_t i = 0; i < offs->n; i++) {
        free(offs->items[i].topic);
        free(offs->items[i].metadata);
    }
    free(offs->items);
    sl_hset_free(offs->idx);
    memset(offs, 0, sizeof *offs);
}

/* Lookups go through a hash index once a group has more than this many offsets, so a
 * request naming n partitions costs O(n), not O(n * offsets). */
#define BRK_OFFSETS_SCAN_MAX 16

static void brk__off_index_add(brk_offsets_t *offs, int32_t i)
{
    const brk_offset_t *o = &offs->items[i];
    sl_hset_put(offs->idx, o->topic, strlen(o->topic), o->partition, i, NULL);
}

static brk_offset_t *brk__off_find(brk_offsets_t *offs, kproto_str_t topic, int32_t partition)
{
    if (topic.len < 0) {
        return NULL;
    }
    if (offs->n <= BRK_OFFSETS_SCAN_MAX) {
        for (int32_t i = 0; i < offs->n; i++) {
            if (offs->items[i].partition == partition && kproto_str_eq(topic, offs->items[i].topic)) {
                return &offs->items[i];
            }
        }
        return NULL;
    }
    if (!offs->idx) {
        offs->idx = sl_hset_new((size_t)offs->n);
        for (int32_t i = 0; i < offs->n; i++) {
            brk__off_index_add(offs, i);
        }
    }
    int64_t i;
    return sl_hset_get(offs->idx, topic.ptr, (size_t)topic.len, partition, &i) ? &offs->items[i]
                                                                              : NULL;
}

/* Removes the items marked in gone[] (one per item) in one pass, keeping the others' order. */
static void brk__off_remove_marked(brk_offsets_t *offs, const bool *gone)
{
    int32_t kept = 0;
    for (int32_t i = 0; i < offs->n; i++) {
        if (gone && gone[i]) {
            free(offs->items[i].topic);
            free(offs->items[i].metadata);
        } else {
            offs->items[kept++] = offs->items[i];
        }
    }
    if (kept != offs->n) {
        offs->n = kept;
        sl_hset_free(offs->idx);
        offs->idx = NULL;
    }
}

/* Swaps the last item into o's place: the index is rebuilt at the next lookup. */
static void brk__off_remove(brk_offsets_t *offs, brk_offset_t *o)
{
    free(o->topic);
    free(o->metadata);
    *o = offs->items[--offs->n];
    sl_hset_free(offs->idx);
    offs->idx = NULL;
}

void brk__off_set(brk_offsets_t *offs, kproto_str_t topic, int32_t partition, int64_t offset,
                  int32_t epoch, kproto_str_t meta, int64_t commit_ms)
{
    brk_offset_t *o = brk__off_find(offs, topic, partition);
    if (!o) {
        if (offs->n == offs->cap) {
            offs->cap = offs->cap ? offs->cap * 2 : 8;
            offs->items = sl_xrealloc(offs->items, (size_t)offs->cap * sizeof *offs->items);
        }
        o = &offs->items[offs->n++];
        memset(o, 0, sizeof *o);
        o->topic = sl_xstrndup(topic.ptr, (size_t)topic.len);
        o->partition = partition;
        if (offs->idx) {
            brk__off_index_add(offs, offs->n - 1);
        }
    }
    free(o->metadata);
    o->metadata = sl_xstrndup(meta.len > 0 ? meta.ptr : "", (size_t)SL_MAX(meta.len, 0));
    o->offset = offset;
    o->leader_epoch = epoch;
    o->commit_ms = commit_ms;
}

/* ---- record batch building ---- */

static void brk__put_varint(sl_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t tmp[10];
    size_t n = 0;
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    sl_buf_append(b, tmp, n);
}

typedef struct {
    sl_buf_t recs;
    int32_t count;
    int64_t now;
} brk_obatch_t;

static void brk__obatch_add(brk_obatch_t *ob, const char *group, kproto_str_t topic,
                            int32_t partition, const brk_offset_t *val)
{
    sl_buf_t key, rec;
    sl_buf_init(&key);
    sl_buf_init(&rec);
    uint8_t hdr[4];
    size_t glen = strlen(group);
    sl_buf_append(&key, "o", 1);
    sl_be16_put(hdr, (uint16_t)glen);
    sl_buf_append(&key, hdr, 2);
    sl_buf_append(&key, group, glen);
    sl_be16_put(hdr, (uint16_t)topic.len);
    sl_buf_append(&key, hdr, 2);
    sl_buf_append(&key, topic.ptr, (size_t)topic.len);
    sl_be32_put(hdr, (uint32_t)partition);
    sl_buf_append(&key, hdr, 4);
    uint8_t attr = 0;
    sl_buf_append(&rec, &attr, 1);
    brk__put_varint(&rec, 0);
    brk__put_varint(&rec, ob->count);
    brk__put_varint(&rec, (int64_t)key.len);
    sl_buf_append(&rec, key.data, key.len);
    if (val) {
        size_t mlen = strlen(val->metadata);
        uint8_t v[22];
        sl_be64_put(v, (uint64_t)val->offset);
        sl_be32_put(v + 8, (uint32_t)val->leader_epoch);
        sl_be64_put(v + 12, (uint64_t)val->commit_ms);
        sl_be16_put(v + 20, (uint16_t)mlen);
        brk__put_varint(&rec, 22 + (int64_t)mlen);
        sl_buf_append(&rec, v, 22);
        sl_buf_append(&rec, val->metadata, mlen);
    } else {
        brk__put_varint(&rec, -1);
    }
    brk__put_varint(&rec, 0); /* headers */
    brk__put_varint(&ob->recs, (int64_t)rec.len);
    sl_buf_append(&ob->recs, rec.data, rec.len);
    ob->count++;
    sl_buf_deinit(&key);
    sl_buf_deinit(&rec);
}

/* Frames the records as one v2 batch into out. */
static void brk__obatch_finish(brk_obatch_t *ob, sl_buf_t *out)
{
    size_t total = SLOG_BATCH_HEADER_BYTES + ob->recs.len;
    uint8_t *p = sl_buf_reserve(out, total);
    memset(p, 0, SLOG_BATCH_HEADER_BYTES);
    sl_be32_put(p + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    p[16] = 2;
    sl_be32_put(p + 23, (uint32_t)(ob->count - 1));
    sl_be64_put(p + 27, (uint64_t)ob->now);
    sl_be64_put(p + 35, (uint64_t)ob->now);
    sl_be64_put(p + 43, (uint64_t)-1);
    sl_be16_put(p + 51, (uint16_t)-1);
    sl_be32_put(p + 53, (uint32_t)-1);
    sl_be32_put(p + 57, (uint32_t)ob->count);
    memcpy(p + SLOG_BATCH_HEADER_BYTES, ob->recs.data, ob->recs.len);
    sl_be32_put(p + 17, sl_crc32c(0, p + 21, total - 21));
    out->len += total;
    sl_buf_deinit(&ob->recs);
}

/* Appends tombstones/values without waiting (deletions are idempotent on replay). */
static void brk__obatch_append(brk_t *brk, brk_obatch_t *ob)
{
    if (ob->count == 0) {
        sl_buf_deinit(&ob->recs);
        return;
    }
    sl_buf_t out;
    sl_buf_init(&out);
    brk__obatch_finish(ob, &out);
    slog_append_t info;
    int rc = slog_part_append(brk->groups->part.log, out.data, out.len, sl_time_wall_ms(), &info);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write to the offsets log: %s", sl_strerror(rc));
    } else {
        brk_flush_kick(brk, &brk->groups->part);
    }
    sl_buf_deinit(&out);
}

/* Tombstones for every offset of grp (optionally only of one topic), removed from memory. */
static void brk__offsets_drop(brk_t *brk, brk_group_t *grp, const char *topic)
{
    brk_obatch_t ob = {.now = sl_time_wall_ms()};
    sl_buf_init(&ob.recs);
    brk_offsets_t *offs = brk__grp_offsets(grp);
    for (int32_t i = 0; i < offs->n;) {
        brk_offset_t *o = &offs->items[i];
        if (topic && strcmp(o->topic, topic) != 0) {
            i++;
            continue;
        }
        brk__obatch_add(&ob, brk__grp_id(grp), kproto_str(o->topic), o->partition, NULL);
        brk__off_remove(offs, o);
        brk->groups->live--;
    }
    brk__obatch_append(brk, &ob);
}

/* ---- replay ---- */

static int64_t brk__rd_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int i = 0; i < 10 && *p < end; i++) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
        }
    }
    return INT64_MIN;
}

/* Applies one record of the offsets log to memory; false when malformed. */
static bool brk__replay_record(brk_t *brk, const uint8_t *k, int64_t klen, const uint8_t *v,
                               int64_t vlen)
{
    if (klen < 9 || k[0] != 'o') {
        return false;
    }
    uint16_t glen = sl_be16_get(k + 1);
    if (3 + glen + 2 > klen) {
        return false;
    }
    kproto_str_t group = {(const char *)k + 3, glen};
    uint16_t tlen = sl_be16_get(k + 3 + glen);
    if (5 + glen + tlen + 4 != klen) {
        return false;
    }
    kproto_str_t topic = {(const char *)k + 5 + glen, tlen};
    int32_t partition = (int32_t)sl_be32_get(k + 5 + glen + tlen);
    brk_group_t *grp = vlen >= 0 ? brk__grp_get(brk, group) : brk__grp_find(brk, group);
    if (!grp) {
        return vlen < 0;
    }
    brk_offsets_t *offs = brk__grp_offsets(grp);
    if (vlen < 0) {
        brk_offset_t *o = brk__off_find(offs, topic, partition);
        if (o) {
            brk__off_remove(offs, o);
        }
        return true;
    }
    if (vlen < 22 || 22 + sl_be16_get(v + 20) != vlen) {
        return false;
    }
    kproto_str_t meta = {(const char *)v + 22, sl_be16_get(v + 20)};
    brk__off_set(offs, topic, partition, (int64_t)sl_be64_get(v), (int32_t)sl_be32_get(v + 8), meta,
                 (int64_t)sl_be64_get(v + 12));
    return true;
}

/* One record's fields, each checked against the record's end (the batch's CRC matched, but
 * its bytes are still not trusted: a bug or an edit could have written them). */
static bool brk__replay_one(brk_t *brk, const uint8_t **q, const uint8_t *end)
{
    int64_t rlen = brk__rd_varint(q, end);
    if (rlen < 1 || rlen > end - *q) {
        return false;
    }
    const uint8_t *rend = *q + rlen;
    (*q)++; /* attributes */
    if (brk__rd_varint(q, rend) == INT64_MIN || brk__rd_varint(q, rend) == INT64_MIN) {
        return false; /* timestamp delta, offset delta */
    }
    int64_t klen = brk__rd_varint(q, rend);
    if (klen < 0 || klen > rend - *q) {
        return false;
    }
    const uint8_t *k = *q;
    *q += klen;
    int64_t vlen = brk__rd_varint(q, rend);
    if (vlen == INT64_MIN || vlen < -1 || vlen > rend - *q) {
        return false;
    }
    bool ok = brk__replay_record(brk, k, klen, *q, vlen);
    *q = rend;
    return ok;
}

static bool brk__replay_batch(brk_t *brk, const uint8_t *p, size_t len)
{
    slog_batch_hdr_t hdr;
    if (slog_batch_validate(p, len, &hdr) != 0 || (hdr.attributes & 7) != 0) {
        return false;
    }
    const uint8_t *q = p + SLOG_BATCH_HEADER_BYTES, *end = p + len;
    for (int32_t i = 0; i < hdr.record_count; i++) {
        if (!brk__replay_one(brk, &q, end)) {
            return false;
        }
    }
    return true;
}

/* Replays the offsets log into memory. A batch that does not replay is skipped with one log
 * line naming the log and its offset (the commits in it are lost, nothing else); only an
 * unreadable log is an error. */
static int brk__replay(brk_t *brk, slog_part_t *log, const char *dir)
{
    int64_t off = slog_part_start_offset(log);
    int64_t end = slog_part_end_offset(log);
    uint8_t *buf = NULL;
    int rc = 0;
    sl_load_t ld = {.path = dir, .unit = "offset"};
    while (off < end && rc == 0) {
        slog_read_t rd;
        rc = slog_part_read(log, off, end, 1 << 20, true, &rd);
        if (rc != 0 || rd.len == 0) {
            break;
        }
        buf = sl_xrealloc(buf, (size_t)rd.len);
        if (pread(slog_file_fd(rd.file), buf, (size_t)rd.len, rd.pos) != rd.len) {
            rc = -EIO;
        }
        int64_t next = off;
        for (int64_t pos = 0; rc == 0 && rd.len - pos >= SLOG_BATCH_HEADER_BYTES;) {
            slog_batch_hdr_t hdr;
            slog_batch_hdr_decode(buf + pos, &hdr);
            int64_t total = slog_batch_total(&hdr);
            if (hdr.batch_length <= 0 || total > rd.len - pos) {
                break; /* recovery served whole batches only: not reached */
            }
            if (!brk__replay_batch(brk, buf + pos, (size_t)total)) {
                char why[96];
                snprintf(why, sizeof why, "a commit batch that does not replay (its "
                         "commits are lost)");
                sl_load_skip(&ld, (long)hdr.base_offset, why);
            }
            next = hdr.base_offset + hdr.last_offset_delta + 1;
            pos += total;
        }
        slog_file_unref(rd.file);
        if (next <= off) {
            break; /* no progress: nothing more to read */
        }
        off = next;
    }
    sl_load_done(&ld);
    free(buf);
    return rc;
}

/* ---- open / compact / close ---- */

/* Whether the offsets log holds mostly superseded commits. */
static bool brk__offsets_bloated(const brk_groups_t *groups)
{
    int64_t size = slog_part_size_bytes(groups->part.log);
    return size > BRK_OFFSETS_LOG_COMPACT_BYTES && size > 4 * 64 * (groups->live + 1);
}


static int64_t brk__count_live(brk_t *brk)
{
    int64_t n = 0;
    for (brk_group_t *grp = brk->groups_list; grp; grp = brk__grp_next(grp)) {
        n += brk__grp_offsets(grp)->n;
    }
    return n;
}

/* Compaction without ever moving offsets: roll a new segment, append a snapshot of every live
 * offset to it, and once the snapshot is durable delete the segments before it. Replay from
 * the snapshot gives the same state as replay of everything; a crash before the snapshot is
 * durable leaves the old segments in place (and a partial snapshot is a torn tail). */
static int brk__offsets_snapshot(brk_t *brk)
{
    brk_groups_t *groups = brk->groups;
    slog_part_t *log = groups->part.log;
    int rc = slog_part_roll(log);
    int64_t from = slog_part_end_offset(log);
    for (brk_group_t *grp = brk->groups_list; rc == 0 && grp; grp = brk__grp_next(grp)) {
        brk_offsets_t *offs = brk__grp_offsets(grp);
        for (int32_t i = 0; rc == 0 && i < offs->n; i += 1000) {
            brk_obatch_t ob = {.now = sl_time_wall_ms()};
            sl_buf_init(&ob.recs);
            for (int32_t j = i; j < SL_MIN(offs->n, i + 1000); j++) {
                brk__obatch_add(&ob, brk__grp_id(grp), kproto_str(offs->items[j].topic),
                                offs->items[j].partition, &offs->items[j]);
            }
            sl_buf_t out;
            sl_buf_init(&out);
            brk__obatch_finish(&ob, &out);
            slog_append_t info;
            rc = slog_part_append(log, out.data, out.len, sl_time_wall_ms(), &info);
            sl_buf_deinit(&out);
        }
    }
    if (rc == 0) {
        groups->snap_from = from;
        groups->snap_end = slog_part_end_offset(log);
    }
    return rc;
}

/* Deletes what a durable snapshot supersedes. */
static void brk__offsets_snapshot_done(brk_groups_t *groups)
{
    slog_part_t *log = groups->part.log;
    if (groups->snap_from < 0 || slog_part_durable_offset(log) < groups->snap_end) {
        return;
    }
    int64_t before = slog_part_size_bytes(log);
    slog_part_delete_before(log, groups->snap_from);
    SL_LOGI("offsets", "compacted the offsets log from %lld to %lld bytes", (long long)before,
            (long long)slog_part_size_bytes(log));
    groups->snap_from = -1;
}

int brk_groups_open(brk_t *brk, brk_groups_t **out, char *err, size_t err_len)
{
    char dir[BRK_PATH_BUF];
    snprintf(dir, sizeof dir, "%s/internal/offsets", brk->conf.data_dir);
    brk_groups_t *groups = sl_xcalloc(1, sizeof *groups);
    groups->snap_from = -1;
    groups->brk = brk;
    groups->topic.name = "__consumer_offsets";
    groups->topic.npart = 1;
    groups->topic.parts = groups->parts;
    groups->parts[0] = &groups->part;
    groups->part.topic = &groups->topic;
    slog_conf_default(&groups->topic.log);
    groups->topic.log.retention_ms = -1;
    groups->topic.log.segment_bytes = 100 << 20;
    groups->topic.log.max_message_bytes = 64 << 20;
    brk->groups = groups;
    int rc = slog_part_open(dir, &groups->topic.log, &groups->part.log);
    if (rc == 0) {
        rc = brk__replay(brk, groups->part.log, dir);
    }
    if (rc == 0) {
        groups->live = brk__count_live(brk);
        if (brk__offsets_bloated(groups)) {
            rc = brk__offsets_snapshot(brk);
            rc = rc == 0 ? slog_part_sync_now(groups->part.log) : rc;
            brk__offsets_snapshot_done(groups);
        }
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot load committed offsets: %s", dir, sl_strerror(rc));
        if (groups->part.log) {
            slog_part_abandon(groups->part.log);
        }
        brk->groups = NULL;
        free(groups);
        return rc;
    }
    SL_LOGI("offsets", "loaded %lld committed offset(s) of %d group(s)", (long long)groups->live,
            brk->ngroups);
    *out = groups;
    return 0;
}

void brk_groups_close(brk_groups_t *groups)
{
    if (!groups) {
        return;
    }
    brk_t *brk = groups->brk;
    brk_flush_drain(brk, &groups->part);
    brk_part_fail_waiters(&groups->part, SL_ECLOSED);
    slog_part_close(groups->part.log);
    brk_groups_free_all(brk);
    brk->groups = NULL;
    free(groups);
}

void brk_groups_topic_deleted(brk_t *brk, const char *topic)
{
    for (brk_group_t *grp = brk->groups_list; grp; grp = brk__grp_next(grp)) {
        brk__offsets_drop(brk, grp, topic);
    }
}

/* While the broker runs: a snapshot when the log has grown, its cleanup once durable. Commits
 * go on meanwhile (offsets only grow, so waiters are unaffected). */
static void brk__offsets_maybe_compact(brk_t *brk)
{
    brk_groups_t *groups = brk->groups;
    if (groups->snap_from >= 0) {
        brk__offsets_snapshot_done(groups);
        return;
    }
    if (!brk__offsets_bloated(groups)) {
        return;
    }
    int rc = brk__offsets_snapshot(brk);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write a snapshot of the offsets log: %s", sl_strerror(rc));
        return;
    }
    brk_flush_kick(brk, &groups->part); /* whatever the policy: the cleanup waits for it */
}

void brk_groups_housekeep(brk_t *brk, int64_t now_ms)
{
    brk__offsets_maybe_compact(brk);
    brk_group_t *grp = brk->groups_list;
    while (grp) {
        brk_group_t *next = brk__grp_next(grp);
        if (brk__grp_is_empty(grp) && now_ms - brk__grp_empty_since(grp) > brk->conf.offsets_retention_ms) {
            SL_LOGI("offsets", "group %s: empty for longer than offsets.retention.minutes; "
                    "dropping its offsets", brk__grp_id(grp));
            brk__offsets_drop(brk, grp, NULL);
            brk__grp_delete(brk, grp);
        }
        grp = next;
    }
}

/* ---- OffsetCommit ---- */

typedef struct {
    brk_wait_t wait;
    brk_req_t *req;
    kmsg_offset_commit_resp_t resp;
} brk_commit_t;

/* Applies the accepted partitions of a commit to memory and answers it. */
static void brk__commit_apply(brk_req_t *req, kmsg_offset_commit_resp_t *resp, int64_t now)
{
    kmsg_offset_commit_req_t *body = req->body;
    brk_group_t *grp = brk__grp_get(req->brk, body->group_id);
    for (int32_t t = 0; grp && t < body->topics_count; t++) {
        for (int32_t p = 0; p < body->topics[t].partitions_count; p++) {
            kmsg_offset_commit_req_offset_commit_request_partition_t *rp = &body->topics[t].partitions[p];
            if (resp->topics[t].partitions[p].error_code != KERR_NONE) {
                continue;
            }
            brk_offsets_t *offs = brk__grp_offsets(grp);
            int32_t before = offs->n;
            brk__off_set(offs, body->topics[t].name, rp->partition_index, rp->committed_offset,
                         rp->committed_leader_epoch, rp->committed_metadata, now);
            req->brk->groups->live += offs->n - before;
        }
    }
}

static void brk__commit_durable(brk_wait_t *w, int err)
{
    brk_commit_t *c = (brk_commit_t *)w;
    kmsg_offset_commit_resp_t *resp = &c->resp;
    if (err == 0) {
        brk__commit_apply(c->req, resp, sl_time_wall_ms());
    }
    for (int32_t t = 0; err != 0 && t < resp->topics_count; t++) {
        for (int32_t p = 0; p < resp->topics[t].partitions_count; p++) {
            if (resp->topics[t].partitions[p].error_code == KERR_NONE) {
                resp->topics[t].partitions[p].error_code = KERR_COORDINATOR_NOT_AVAILABLE;
            }
        }
    }
    brk_respond(c->req, resp);
    free(c);
}

/* Error for one committed partition, or KERR_NONE. */
static kerr_t brk__commit_check_part(brk_t *brk, kproto_str_t topic,
                                     const kmsg_offset_commit_req_offset_commit_request_partition_t *rp)
{
    if (!brk_part_find(brk, topic, rp->partition_index)) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (rp->committed_metadata.len > brk->conf.offset_metadata_max_bytes) {
        return KERR_OFFSET_METADATA_TOO_LARGE;
    }
    return KERR_NONE;
}

void brk_handle_offset_commit(brk_req_t *req)
{
    kmsg_offset_commit_req_t *body = req->body;
    brk_t *brk = req->brk;
    brk_commit_t *c = sl_xcalloc(1, sizeof *c);
    c->req = req;
    kmsg_offset_commit_resp_t *resp = &c->resp;
    kmsg_offset_commit_resp_init(resp);
    kerr_t gerr = KERR_NONE;
    brk_group_t *grp = NULL;
    if (body->group_id.len <= 0) {
        gerr = KERR_INVALID_GROUP_ID;
    } else if ((gerr = brk_authz_req_group(req, body->group_id)) != KERR_NONE) {
        /* denied before the group is created */
    } else if (!(grp = brk__grp_get(brk, body->group_id))) {
        gerr = KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        gerr = brk__grp_check_commit(grp, body->generation_id_or_member_epoch, body->member_id,
                                     body->group_instance_id);
    }
    brk_obatch_t ob = {.now = sl_time_wall_ms()};
    sl_buf_init(&ob.recs);
    resp->topics_count = SL_MAX(body->topics_count, 0);
    resp->topics = brk_alloc(req, resp->topics_count, sizeof *resp->topics);
    for (int32_t t = 0; t < resp->topics_count; t++) {
        kmsg_offset_commit_req_offset_commit_request_topic_t *rt = &body->topics[t];
        kmsg_offset_commit_resp_offset_commit_response_topic_t *tr = &resp->topics[t];
        kmsg_offset_commit_resp_offset_commit_response_topic_init(tr);
        tr->name = rt->name;
        tr->partitions_count = SL_MAX(rt->partitions_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        kerr_t terr = gerr != KERR_NONE ? gerr : brk_authz_req_topic(req, rt->name);
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            kmsg_offset_commit_req_offset_commit_request_partition_t *rp = &rt->partitions[p];
            kmsg_offset_commit_resp_offset_commit_response_partition_init(&tr->partitions[p]);
            tr->partitions[p].partition_index = rp->partition_index;
            kerr_t e = terr != KERR_NONE ? terr : brk__commit_check_part(brk, rt->name, rp);
            tr->partitions[p].error_code = (int16_t)e;
            if (e == KERR_NONE) {
                brk_offset_t v = {NULL, rp->partition_index, rp->committed_offset,
                                  rp->committed_leader_epoch,
                                  kproto_str_dup(req->arena, rp->committed_metadata.len >= 0
                                                                 ? rp->committed_metadata
                                                                 : kproto_str("")),
                                  ob.now};
                brk__obatch_add(&ob, grp ? brk__grp_id(grp) : "", rt->name, rp->partition_index, &v);
            }
        }
    }
    if (ob.count == 0) {
        sl_buf_deinit(&ob.recs);
        brk_respond(req, resp);
        free(c);
        return;
    }
    sl_buf_t out;
    sl_buf_init(&out);
    brk__obatch_finish(&ob, &out);
    slog_append_t info;
    brk_part_t *part = &brk->groups->part;
    int rc = slog_part_append(part->log, out.data, out.len, ob.now, &info);
    sl_buf_deinit(&out);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write a commit: %s", sl_strerror(rc));
        brk__commit_durable(&c->wait, rc);
        return;
    }
    if (brk->conf.flush_policy != BRK_FLUSH_ALWAYS) {
        brk__commit_durable(&c->wait, 0);
        return;
    }
    c->wait.target = info.last_offset + 1;
    c->wait.done = brk__commit_durable;
    brk_flush_wait(brk, part, &c->wait);
}

/* ---- OffsetFetch ---- */

static void brk__fetch_part(brk_group_t *grp, kproto_str_t topic, int32_t partition,
                            int64_t *offset, int32_t *epoch, kproto_str_t *meta)
{
    brk_offset_t *o = grp ? brk__off_find(brk__grp_offsets(grp), topic, partition) : NULL;
    *offset = o ? o->offset : -1;
    *epoch = o ? o->leader_epoch : -1;
    *meta = kproto_str(o ? o->metadata : "");
}

/* Fills one group's topics for v0-7 (topics) or v8 (groups[].topics); the two response
 * shapes differ only in struct names, so this builds the v8 shape and the caller copies. */
typedef kmsg_offset_fetch_resp_offset_fetch_response_topics_t brk_oft_t;

static int32_t brk__offset_fetch_group(brk_req_t *req, brk_group_t *grp, kerr_t gerr,
                                       kproto_str_t *names, int32_t **parts, int32_t *nparts,
                                       int32_t ntopics, brk_oft_t **out)
{
    if (ntopics < 0 && gerr != KERR_NONE) {
        *out = NULL;
        return 0;
    }
    if (ntopics < 0) { /* all committed topics of the group */
        brk_offsets_t *offs = grp ? brk__grp_offsets(grp) : NULL;
        int32_t n = offs ? offs->n : 0;
        brk_oft_t *tops = brk_alloc(req, n, sizeof *tops);
        int32_t kept = 0;
        for (int32_t j = 0; j < n; j++) {
            /* Only topics the principal may describe, silently (Kafka's way). */
            if (brk_authz_req_topic(req, kproto_str(offs->items[j].topic)) !=
                KERR_NONE) {
                continue;
            }
            int32_t i = kept++;
            kmsg_offset_fetch_resp_offset_fetch_response_topics_init(&tops[i]);
            tops[i].name = kproto_str(offs->items[j].topic);
            tops[i].partitions_count = 1;
            tops[i].partitions = brk_alloc(req, 1, sizeof *tops[i].partitions);
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_init(tops[i].partitions);
            tops[i].partitions->partition_index = offs->items[j].partition;
            tops[i].partitions->committed_offset = offs->items[j].offset;
            tops[i].partitions->committed_leader_epoch = offs->items[j].leader_epoch;
            tops[i].partitions->metadata = kproto_str(offs->items[j].metadata);
        }
        *out = tops;
        return kept;
    }
    brk_oft_t *tops = brk_alloc(req, ntopics, sizeof *tops);
    for (int32_t t = 0; t < ntopics; t++) {
        kmsg_offset_fetch_resp_offset_fetch_response_topics_init(&tops[t]);
        tops[t].name = names[t];
        tops[t].partitions_count = SL_MAX(nparts[t], 0);
        tops[t].partitions = brk_alloc(req, tops[t].partitions_count, sizeof *tops[t].partitions);
        kerr_t denied = gerr != KERR_NONE ? gerr
                                          : brk_authz_req_topic(req, names[t]);
        for (int32_t p = 0; p < tops[t].partitions_count; p++) {
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_t *pr = &tops[t].partitions[p];
            kmsg_offset_fetch_resp_offset_fetch_response_partitions_init(pr);
            pr->partition_index = parts[t][p];
            if (denied != KERR_NONE) {
                pr->committed_offset = -1;
                pr->committed_leader_epoch = -1;
                pr->metadata = kproto_str("");
                pr->error_code = (int16_t)denied;
                continue;
            }
            brk__fetch_part(grp, names[t], parts[t][p], &pr->committed_offset,
                            &pr->committed_leader_epoch, &pr->metadata);
        }
    }
    *out = tops;
    return ntopics;
}

/* gerr: the group's authorization error (every listed partition carries it, as v0-1 clients
 * read it there). */
static int32_t brk__offset_fetch_collect(brk_req_t *req, brk_group_t *grp, kerr_t gerr,
                                         int32_t ntopics, const void *topics, size_t stride,
                                         brk_oft_t **out)
{
    /* Both request topic shapes start with {name, partition_indexes, count}. */
    kproto_str_t *names = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *names);
    int32_t **parts = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *parts);
    int32_t *nparts = brk_alloc(req, SL_MAX(ntopics, 0), sizeof *nparts);
    for (int32_t t = 0; t < ntopics; t++) {
        const kmsg_offset_fetch_req_offset_fetch_request_topic_t *rt =
            (const void *)((const char *)topics + (size_t)t * stride);
        names[t] = rt->name;
        parts[t] = rt->partition_indexes;
        nparts[t] = rt->partition_indexes_count;
    }
    return brk__offset_fetch_group(req, grp, gerr, names, parts, nparts, ntopics, out);
}

SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_req_offset_fetch_request_topic_t) ==
                     sizeof(kmsg_offset_fetch_req_offset_fetch_request_topics_t),
                 "the two request topic shapes agree");
SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_resp_offset_fetch_response_topic_t) ==
                     sizeof(kmsg_offset_fetch_resp_offset_fetch_response_topics_t),
                 "the two response topic shapes agree");
SL_STATIC_ASSERT(sizeof(kmsg_offset_fetch_resp_offset_fetch_response_partition_t) ==
                     sizeof(kmsg_offset_fetch_resp_offset_fetch_response_partitions_t),
                 "the two response partition shapes agree");

void brk_handle_offset_fetch(brk_req_t *req)
{
    kmsg_offset_fetch_req_t *body = req->body;
    kmsg_offset_fetch_resp_t resp;
    kmsg_offset_fetch_resp_init(&resp);
    if (req->api_version < 8) {
        kerr_t denied = brk_authz_req_group(req, body->group_id);
        brk_group_t *grp = denied == KERR_NONE ? brk__grp_find(req->brk, body->group_id) : NULL;
        brk_oft_t *tops;
        resp.error_code = body->group_id.len <= 0 ? KERR_INVALID_GROUP_ID : (int16_t)denied;
        int32_t n = brk__offset_fetch_collect(req, grp, denied, body->topics_count, body->topics,
                                              sizeof *body->topics, &tops);
        /* Same layout (asserted above): the v0-7 topic array is the v8 one. */
        resp.topics = (kmsg_offset_fetch_resp_offset_fetch_response_topic_t *)(void *)tops;
        resp.topics_count = n;
        brk_respond(req, &resp);
        return;
    }
    resp.groups_count = SL_MAX(body->groups_count, 0);
    resp.groups = brk_alloc(req, resp.groups_count, sizeof *resp.groups);
    for (int32_t g = 0; g < resp.groups_count; g++) {
        kmsg_offset_fetch_req_offset_fetch_request_group_t *rg = &body->groups[g];
        kmsg_offset_fetch_resp_offset_fetch_response_group_t *og = &resp.groups[g];
        kmsg_offset_fetch_resp_offset_fetch_response_group_init(og);
        og->group_id = rg->group_id;
        kerr_t denied = brk_authz_req_group(req, rg->group_id);
        og->error_code = rg->group_id.len <= 0 ? KERR_INVALID_GROUP_ID : (int16_t)denied;
        if (denied != KERR_NONE) {
            og->topics_count = 0; /* v8 carries the group's error alone */
            continue;
        }
        og->topics_count = brk__offset_fetch_collect(req, brk__grp_find(req->brk, rg->group_id),
                                                     KERR_NONE, rg->topics_count, rg->topics,
                                                     sizeof *rg->topics, &og->topics);
    }
    brk_respond(req, &resp);
}

/* ---- DeleteGroups, OffsetDelete ---- */

void brk_handle_delete_groups(brk_req_t *req)
{
    kmsg_delete_groups_req_t *body = req->body;
    kmsg_delete_groups_resp_t resp;
    kmsg_delete_groups_resp_init(&resp);
    /* One result per distinct group (Kafka deletes a set of groups). */
    int32_t n = SL_MAX(body->groups_names_count, 0);
    int32_t *first = brk_dups(req, body->groups_names, n, brk__group_key, NULL);
    resp.results = brk_alloc(req, n, sizeof *resp.results);
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i) {
            continue;
        }
        kmsg_delete_groups_resp_deletable_group_result_t *r = &resp.results[resp.results_count++];
        kmsg_delete_groups_resp_deletable_group_result_init(r);
        r->group_id = body->groups_names[i];
        kerr_t denied = brk_authz_req_group(req, body->groups_names[i]);
        brk_group_t *grp = denied == KERR_NONE ? brk__grp_find(req->brk, body->groups_names[i])
                                               : NULL;
        if (denied != KERR_NONE) {
            r->error_code = (int16_t)denied;
        } else if (!grp) {
            r->error_code = body->groups_names[i].len <= 0 ? KERR_INVALID_GROUP_ID
                                                          : KERR_GROUP_ID_NOT_FOUND;
        } else if (!brk__grp_is_empty(grp)) {
            r->error_code = KERR_NON_EMPTY_GROUP;
        } else {
            brk__offsets_drop(req->brk, grp, NULL);
            SL_LOGI("group", "%s: deleted", brk__grp_id(grp));
            brk__grp_delete(req->brk, grp);
        }
    }
    brk_respond(req, &resp);
}

void brk_handle_offset_delete(brk_req_t *req)
{
    kmsg_offset_delete_req_t *body = req->body;
    brk_t *brk = req->brk;
    kmsg_offset_delete_resp_t resp;
    kmsg_offset_delete_resp_init(&resp);
    kerr_t denied = brk_authz_req_group(req, body->group_id);
    brk_group_t *grp = denied == KERR_NONE ? brk__grp_find(brk, body->group_id) : NULL;
    if (!grp) {
        resp.error_code = denied != KERR_NONE          ? (int16_t)denied
                          : body->group_id.len <= 0 ? KERR_INVALID_GROUP_ID
                                                    : KERR_GROUP_ID_NOT_FOUND;
        brk_respond(req, &resp);
        return;
    }
    brk_obatch_t ob = {.now = sl_time_wall_ms()};
    sl_buf_init(&ob.recs);
    brk_offsets_t *offs = brk__grp_offsets(grp);
    bool *gone = brk_alloc(req, offs->n, sizeof *gone); /* items to remove */
    resp.topics_count = SL_MAX(body->topics_count, 0);
    resp.topics = brk_alloc(req, resp.topics_count, sizeof *resp.topics);
    for (int32_t t = 0; t < resp.topics_count; t++) {
        kmsg_offset_delete_req_offset_delete_request_topic_t *rt = &body->topics[t];
        kmsg_offset_delete_resp_offset_delete_response_topic_t *tr = &resp.topics[t];
        kmsg_offset_delete_resp_offset_delete_response_topic_init(tr);
        tr->name = rt->name;
        tr->partitions_count = SL_MAX(rt->partitions_count, 0);
        tr->partitions = brk_alloc(req, tr->partitions_count, sizeof *tr->partitions);
        bool subscribed = !brk__grp_is_empty(grp) && brk__grp_subscribed(grp, rt->name);
        kerr_t terr = brk_authz_req_topic(req, rt->name);
        for (int32_t p = 0; p < tr->partitions_count; p++) {
            kmsg_offset_delete_resp_offset_delete_response_partition_init(&tr->partitions[p]);
            int32_t idx = rt->partitions[p].partition_index;
            tr->partitions[p].partition_index = idx;
            if (terr != KERR_NONE) {
                tr->partitions[p].error_code = (int16_t)terr;
                continue;
            }
            if (subscribed) {
                tr->partitions[p].error_code = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
                continue;
            }
            brk_offset_t *o = brk__off_find(offs, rt->name, idx);
            if (!brk_part_find(brk, rt->name, idx)) {
                tr->partitions[p].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            }
            if (o && !gone[o - offs->items]) { /* removed below, in one pass */
                gone[o - offs->items] = true;
                brk__obatch_add(&ob, brk__grp_id(grp), rt->name, idx, NULL);
                brk->groups->live--;
            }
        }
    }
    brk__off_remove_marked(offs, gone);
    brk__obatch_append(brk, &ob);
    brk_respond(req, &resp);
}

/* ---- transactional offset commits (txn.c) ---- */

int brk_offsets_txn_apply(brk_t *brk, const char *group, int32_t n, const brk_offset_t *offs,
                          int64_t *target)
{
    brk_group_t *grp = brk__grp_get(brk, kproto_str(group));
    if (!grp || n <= 0) {
        *target = -1;
        return grp ? 0 : SL_ELIMIT;
    }
    int64_t now = sl_time_wall_ms();
    brk_obatch_t ob = {.now = now};
    sl_buf_init(&ob.recs);
    for (int32_t i = 0; i < n; i++) {
        brk_offset_t val = offs[i];
        val.commit_ms = now;
        brk__obatch_add(&ob, group, kproto_str(offs[i].topic), offs[i].partition, &val);
    }
    sl_buf_t out;
    sl_buf_init(&out);
    brk__obatch_finish(&ob, &out);
    slog_append_t info;
    int rc = slog_part_append(brk->groups->part.log, out.data, out.len, now, &info);
    sl_buf_deinit(&out);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write transactional offsets of group %s: %s", group,
                sl_strerror(rc));
        return rc;
    }
    brk_offsets_t *mem = brk__grp_offsets(grp);
    for (int32_t i = 0; i < n; i++) {
        int32_t before = mem->n;
        brk__off_set(mem, kproto_str(offs[i].topic), offs[i].partition, offs[i].offset,
                     offs[i].leader_epoch, kproto_str(offs[i].metadata), now);
        brk->groups->live += mem->n - before;
    }
    *target = info.last_offset + 1;
    return 0;
}
