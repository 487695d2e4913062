/* Committed offsets: a store keyed by group id, kept in memory and made durable in an internal
 * log, <data>/internal/offsets, with the same flush guarantees as records (a commit is answered
 * once durable under flush policy always). Each write is one record batch; a record
 *   key   = 'o' | u16 group len | group | u16 topic len | topic | i32 partition
 *   value = i64 offset | i32 leader epoch | i64 commit ms | u16 metadata len | metadata
 * and a null value deletes (group deleted, topic deleted, offsets expired). The log is
 * replayed at start and rewritten with only live offsets when it has grown large. */
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_topics.h"
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

/* One group's offsets. */
typedef struct brk_ogroup {
    struct brk_ogroup *next, *prev; /* newest first */
    char *id;
    brk_otab_t tab;
} brk_ogroup_t;

struct brk_offsets {
    brk_t *brk;
    brk_offsets_admit_t admit;
    brk_ogroup_t *list;
    int32_t ngroups;
    struct sl_hset *idx; /* group id -> brk_ogroup_t */
    brk_topic_t topic; /* internal, not in the registry */
    brk_part_t *parts[1];
    brk_part_t part;
    int64_t live;      /* offsets held in memory (to judge when to compact) */
    int64_t snap_from; /* a snapshot starts here: older segments go once it is durable; -1 */
    int64_t snap_end;  /* exclusive end offset of that snapshot */
};

brk_part_t *brk_offsets_log(brk_t *brk)
{
    return &brk->offsets->part;
}

/* ---- offset tables ---- */

void brk_otab_clear(brk_otab_t *offs)
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

static void brk__off_index_add(brk_otab_t *offs, int32_t i)
{
    const brk_offset_t *o = &offs->items[i];
    sl_hset_put(offs->idx, o->topic, strlen(o->topic), o->partition, i, NULL);
}

static brk_offset_t *brk__off_find(brk_otab_t *offs, kproto_str_t topic, int32_t partition)
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

const brk_offset_t *brk_otab_find(brk_otab_t *tab, kproto_str_t topic, int32_t partition)
{
    return brk__off_find(tab, topic, partition);
}

/* Removes the items marked in gone[] (one per item) in one pass, keeping the others' order. */
static void brk__off_remove_marked(brk_otab_t *offs, const bool *gone)
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
static void brk__off_remove(brk_otab_t *offs, brk_offset_t *o)
{
    free(o->topic);
    free(o->metadata);
    *o = offs->items[--offs->n];
    sl_hset_free(offs->idx);
    offs->idx = NULL;
}

void brk_otab_set(brk_otab_t *offs, kproto_str_t topic, int32_t partition, int64_t offset,
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
    /* Binary-safe (Kafka's metadata is any string, NULs included): copied by length. */
    o->metadata_len = SL_MAX(meta.len, 0);
    o->metadata = sl_xmalloc((size_t)o->metadata_len + 1);
    if (o->metadata_len > 0) {
        memcpy(o->metadata, meta.ptr, (size_t)o->metadata_len);
    }
    o->metadata[o->metadata_len] = '\0';
    o->offset = offset;
    o->leader_epoch = epoch;
    o->commit_ms = commit_ms;
}

/* ---- groups ---- */

static brk_ogroup_t *brk__og_find(brk_offsets_t *st, kproto_str_t id)
{
    int64_t v;
    if (id.len < 0 || !sl_hset_get(st->idx, id.ptr, (size_t)id.len, 0, &v)) {
        return NULL;
    }
    return (brk_ogroup_t *)(intptr_t)v;
}

/* The group's entry, made when the coordinator admits a new id; NULL when it does not. */
static brk_ogroup_t *brk__og_get(brk_offsets_t *st, kproto_str_t id)
{
    brk_ogroup_t *og = brk__og_find(st, id);
    if (og || !st->admit(st->brk, id)) {
        return og;
    }
    og = sl_xcalloc(1, sizeof *og);
    og->id = sl_xstrndup(id.ptr, (size_t)id.len);
    og->next = st->list;
    if (og->next) {
        og->next->prev = og;
    }
    st->list = og;
    st->ngroups++;
    sl_hset_put(st->idx, og->id, (size_t)id.len, 0, (int64_t)(intptr_t)og, NULL);
    return og;
}

static void brk__og_free(brk_offsets_t *st, brk_ogroup_t *og)
{
    if (og->prev) {
        og->prev->next = og->next;
    } else {
        st->list = og->next;
    }
    if (og->next) {
        og->next->prev = og->prev;
    }
    sl_hset_del(st->idx, og->id, strlen(og->id), 0);
    st->ngroups--;
    st->live -= og->tab.n;
    brk_otab_clear(&og->tab);
    free(og->id);
    free(og);
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

/* Adds a record: the value of val committed at commit_ms, or a tombstone when val is NULL. */
static void brk__obatch_add(brk_obatch_t *ob, kproto_str_t group, kproto_str_t topic,
                            int32_t partition, const brk_oput_t *val, int64_t commit_ms)
{
    sl_buf_t key, rec;
    sl_buf_init(&key);
    sl_buf_init(&rec);
    uint8_t hdr[4];
    size_t glen = (size_t)group.len;
    sl_buf_append(&key, "o", 1);
    sl_be16_put(hdr, (uint16_t)glen);
    sl_buf_append(&key, hdr, 2);
    sl_buf_append(&key, group.ptr, glen);
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
        /* Every byte of the metadata, NULs included (its length is in the record). */
        const char *meta = val->metadata.len > 0 ? val->metadata.ptr : "";
        size_t mlen = (size_t)SL_MAX(val->metadata.len, 0);
        uint8_t v[22];
        sl_be64_put(v, (uint64_t)val->offset);
        sl_be32_put(v + 8, (uint32_t)val->leader_epoch);
        sl_be64_put(v + 12, (uint64_t)commit_ms);
        sl_be16_put(v + 20, (uint16_t)mlen);
        brk__put_varint(&rec, 22 + (int64_t)mlen);
        sl_buf_append(&rec, v, 22);
        sl_buf_append(&rec, meta, mlen);
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

/* Appends the batch to the log: 0 or the log's error; *target gets the end offset. */
static int brk__obatch_write(brk_offsets_t *st, brk_obatch_t *ob, int64_t *target)
{
    sl_buf_t out;
    sl_buf_init(&out);
    brk__obatch_finish(ob, &out);
    slog_append_t info;
    int rc = slog_part_append(st->part.log, out.data, out.len, ob->now, &info);
    sl_buf_deinit(&out);
    *target = rc == 0 ? info.last_offset + 1 : -1;
    return rc;
}

/* Appends tombstones without waiting (deletions are idempotent on replay). */
static void brk__obatch_append(brk_offsets_t *st, brk_obatch_t *ob)
{
    if (ob->count == 0) {
        sl_buf_deinit(&ob->recs);
        return;
    }
    int64_t target;
    int rc = brk__obatch_write(st, ob, &target);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write to the offsets log: %s", sl_strerror(rc));
    } else {
        brk_flush_kick(st->brk, &st->part);
    }
}

/* Tombstones for every offset of og (optionally only of one topic), removed from memory. */
static void brk__offsets_drop(brk_offsets_t *st, brk_ogroup_t *og, const char *topic)
{
    brk_obatch_t ob = {.now = sl_time_wall_ms()};
    sl_buf_init(&ob.recs);
    brk_otab_t *offs = &og->tab;
    for (int32_t i = 0; i < offs->n;) {
        brk_offset_t *o = &offs->items[i];
        if (topic && strcmp(o->topic, topic) != 0) {
            i++;
            continue;
        }
        brk__obatch_add(&ob, kproto_str(og->id), kproto_str(o->topic), o->partition, NULL, 0);
        brk__off_remove(offs, o);
        st->live--;
    }
    brk__obatch_append(st, &ob);
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
static bool brk__replay_record(brk_offsets_t *st, const uint8_t *k, int64_t klen, const uint8_t *v,
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
    brk_ogroup_t *og = vlen >= 0 ? brk__og_get(st, group) : brk__og_find(st, group);
    if (!og) {
        return vlen < 0;
    }
    brk_otab_t *offs = &og->tab;
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
    brk_otab_set(offs, topic, partition, (int64_t)sl_be64_get(v), (int32_t)sl_be32_get(v + 8), meta,
                 (int64_t)sl_be64_get(v + 12));
    return true;
}

/* One record's fields, each checked against the record's end (the batch's CRC matched, but
 * its bytes are still not trusted: a bug or an edit could have written them). */
static bool brk__replay_one(brk_offsets_t *st, const uint8_t **q, const uint8_t *end)
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
    bool ok = brk__replay_record(st, k, klen, *q, vlen);
    *q = rend;
    return ok;
}

static bool brk__replay_batch(brk_offsets_t *st, const uint8_t *p, size_t len)
{
    slog_batch_hdr_t hdr;
    if (slog_batch_validate(p, len, &hdr) != 0 || (hdr.attributes & 7) != 0) {
        return false;
    }
    const uint8_t *q = p + SLOG_BATCH_HEADER_BYTES, *end = p + len;
    for (int32_t i = 0; i < hdr.record_count; i++) {
        if (!brk__replay_one(st, &q, end)) {
            return false;
        }
    }
    return true;
}

/* Replays the offsets log into memory. A batch that does not replay is skipped with one log
 * line naming the log and its offset (the commits in it are lost, nothing else); only an
 * unreadable log is an error. */
static int brk__replay(brk_offsets_t *st, slog_part_t *log, const char *dir)
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
            if (!brk__replay_batch(st, buf + pos, (size_t)total)) {
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
static bool brk__offsets_bloated(const brk_offsets_t *st)
{
    int64_t size = slog_part_size_bytes(st->part.log);
    return size > BRK_OFFSETS_LOG_COMPACT_BYTES && size > 4 * 64 * (st->live + 1);
}

static int64_t brk__count_live(const brk_offsets_t *st)
{
    int64_t n = 0;
    for (const brk_ogroup_t *og = st->list; og; og = og->next) {
        n += og->tab.n;
    }
    return n;
}

/* Compaction without ever moving offsets: roll a new segment, append a snapshot of every live
 * offset to it, and once the snapshot is durable delete the segments before it. Replay from
 * the snapshot gives the same state as replay of everything; a crash before the snapshot is
 * durable leaves the old segments in place (and a partial snapshot is a torn tail). */
static int brk__offsets_snapshot(brk_offsets_t *st)
{
    slog_part_t *log = st->part.log;
    int rc = slog_part_roll(log);
    int64_t from = slog_part_end_offset(log);
    for (brk_ogroup_t *og = st->list; rc == 0 && og; og = og->next) {
        brk_otab_t *offs = &og->tab;
        for (int32_t i = 0; rc == 0 && i < offs->n; i += 1000) {
            brk_obatch_t ob = {.now = sl_time_wall_ms()};
            sl_buf_init(&ob.recs);
            for (int32_t j = i; j < SL_MIN(offs->n, i + 1000); j++) {
                const brk_offset_t *o = &offs->items[j];
                brk_oput_t v = {kproto_str(o->topic), o->partition, o->offset, o->leader_epoch,
                                brk_offset_metadata(o)};
                brk__obatch_add(&ob, kproto_str(og->id), v.topic, v.partition, &v, o->commit_ms);
            }
            int64_t end;
            rc = brk__obatch_write(st, &ob, &end);
        }
    }
    if (rc == 0) {
        st->snap_from = from;
        st->snap_end = slog_part_end_offset(log);
    }
    return rc;
}

/* Deletes what a durable snapshot supersedes. */
static void brk__offsets_snapshot_done(brk_offsets_t *st)
{
    slog_part_t *log = st->part.log;
    if (st->snap_from < 0 || slog_part_durable_offset(log) < st->snap_end) {
        return;
    }
    int64_t before = slog_part_size_bytes(log);
    slog_part_delete_before(log, st->snap_from);
    SL_LOGI("offsets", "compacted the offsets log from %lld to %lld bytes", (long long)before,
            (long long)slog_part_size_bytes(log));
    st->snap_from = -1;
}

static brk_offsets_t *brk__offsets_new(brk_t *brk, brk_offsets_admit_t admit)
{
    brk_offsets_t *st = sl_xcalloc(1, sizeof *st);
    st->snap_from = -1;
    st->brk = brk;
    st->admit = admit;
    st->idx = sl_hset_new(64);
    st->topic.name = "__consumer_offsets";
    st->topic.npart = 1;
    st->topic.parts = st->parts;
    st->parts[0] = &st->part;
    st->part.topic = &st->topic;
    slog_conf_default(&st->topic.log);
    st->topic.log.retention_ms = -1;
    st->topic.log.segment_bytes = 100 << 20;
    st->topic.log.max_message_bytes = 64 << 20;
    return st;
}

static void brk__offsets_free(brk_offsets_t *st)
{
    while (st->list) {
        brk__og_free(st, st->list);
    }
    sl_hset_free(st->idx);
    free(st);
}

int brk_offsets_open(brk_t *brk, brk_offsets_admit_t admit, char *err, size_t err_len)
{
    char dir[BRK_PATH_BUF];
    snprintf(dir, sizeof dir, "%s/internal/offsets", brk->conf.data_dir);
    brk_offsets_t *st = brk__offsets_new(brk, admit);
    brk->offsets = st;
    int rc = slog_part_open(dir, &st->topic.log, &st->part.log);
    if (rc == 0) {
        rc = brk__replay(st, st->part.log, dir);
    }
    if (rc == 0) {
        st->live = brk__count_live(st);
        if (brk__offsets_bloated(st)) {
            rc = brk__offsets_snapshot(st);
            rc = rc == 0 ? slog_part_sync_now(st->part.log) : rc;
            brk__offsets_snapshot_done(st);
        }
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot load committed offsets: %s", dir, sl_strerror(rc));
        if (st->part.log) {
            slog_part_abandon(st->part.log);
        }
        brk->offsets = NULL;
        brk__offsets_free(st);
        return rc;
    }
    SL_LOGI("offsets", "loaded %lld committed offset(s) of %d group(s)", (long long)st->live,
            (int)st->ngroups);
    return 0;
}

void brk_offsets_close(brk_t *brk)
{
    brk_offsets_t *st = brk->offsets;
    if (!st) {
        return;
    }
    brk_flush_drain(brk, &st->part);
    brk_part_fail_waiters(&st->part, SL_ECLOSED);
    slog_part_close(st->part.log);
    brk->offsets = NULL;
    brk__offsets_free(st);
}

/* While the broker runs: a snapshot when the log has grown, its cleanup once durable. Commits
 * go on meanwhile (offsets only grow, so waiters are unaffected). */
void brk_offsets_housekeep(brk_t *brk)
{
    brk_offsets_t *st = brk->offsets;
    if (st->snap_from >= 0) {
        brk__offsets_snapshot_done(st);
        return;
    }
    if (!brk__offsets_bloated(st)) {
        return;
    }
    int rc = brk__offsets_snapshot(st);
    if (rc != 0) {
        SL_LOGE("offsets", "cannot write a snapshot of the offsets log: %s", sl_strerror(rc));
        return;
    }
    brk_flush_kick(brk, &st->part); /* whatever the policy: the cleanup waits for it */
}

/* ---- the store's API ---- */

brk_otab_t *brk_offsets_of(brk_t *brk, kproto_str_t group)
{
    brk_ogroup_t *og = brk__og_find(brk->offsets, group);
    return og ? &og->tab : NULL;
}

int brk_offsets_write(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *offs,
                      int64_t now, int64_t *target)
{
    brk_offsets_t *st = brk->offsets;
    *target = -1;
    if (!brk__og_get(st, group)) {
        return SL_ELIMIT;
    }
    if (n <= 0) {
        return 0;
    }
    brk_obatch_t ob = {.now = now};
    sl_buf_init(&ob.recs);
    for (int32_t i = 0; i < n; i++) {
        brk__obatch_add(&ob, group, offs[i].topic, offs[i].partition, &offs[i], now);
    }
    return brk__obatch_write(st, &ob, target);
}

void brk_offsets_apply(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *offs,
                       int64_t now)
{
    brk_offsets_t *st = brk->offsets;
    brk_ogroup_t *og = brk__og_get(st, group);
    for (int32_t i = 0; og && i < n; i++) {
        int32_t before = og->tab.n;
        brk_otab_set(&og->tab, offs[i].topic, offs[i].partition, offs[i].offset,
                     offs[i].leader_epoch, offs[i].metadata, now);
        st->live += og->tab.n - before;
    }
}

void brk_offsets_delete(brk_t *brk, kproto_str_t group, int32_t n, const brk_oput_t *keys)
{
    brk_offsets_t *st = brk->offsets;
    brk_ogroup_t *og = brk__og_find(st, group);
    if (!og || og->tab.n == 0) {
        return;
    }
    brk_otab_t *offs = &og->tab;
    bool *gone = sl_xcalloc((size_t)offs->n, sizeof *gone); /* removed below, in one pass */
    brk_obatch_t ob = {.now = sl_time_wall_ms()};
    sl_buf_init(&ob.recs);
    for (int32_t i = 0; i < n; i++) {
        brk_offset_t *o = brk__off_find(offs, keys[i].topic, keys[i].partition);
        if (o && !gone[o - offs->items]) {
            gone[o - offs->items] = true;
            brk__obatch_add(&ob, group, keys[i].topic, keys[i].partition, NULL, 0);
            st->live--;
        }
    }
    brk__off_remove_marked(offs, gone);
    free(gone);
    brk__obatch_append(st, &ob);
}

void brk_offsets_drop_group(brk_t *brk, const char *group)
{
    brk_offsets_t *st = brk->offsets;
    brk_ogroup_t *og = brk__og_find(st, kproto_str(group));
    if (og) {
        brk__offsets_drop(st, og, NULL);
        brk__og_free(st, og);
    }
}

void brk_offsets_topic_deleted(brk_t *brk, kproto_str_t topic)
{
    brk_offsets_t *st = brk->offsets;
    char *name = sl_xstrndup(topic.ptr, (size_t)SL_MAX(topic.len, 0));
    for (brk_ogroup_t *og = st->list; og; og = og->next) {
        brk__offsets_drop(st, og, name);
    }
    free(name);
}
