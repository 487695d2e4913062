/* Producer state of a partition (slog_pstate.h): a table of producers sorted by id, each with
 * its epoch and last SLOG_PSTATE_BATCHES batches, an undo journal for multi-batch appends,
 * snapshot files, and the rebuild when a partition opens (newest good snapshot at or below the
 * log end, then a replay of the batch headers after it). The rules follow Kafka 3.x's
 * ProducerAppendInfo for client appends. Snapshot layout, big-endian:
 *   +--------+---------+------------+---------+----------------------+------------------+
 *   | "SLPS" | u16 ver | i64 offset | u32 cnt | cnt x producer       | u32 CRC32C of    |
 *   +--------+---------+------------+---------+----------------------+ all bytes before |
 *   producer: i64 id | i16 epoch | u8 n | n x {i32 first seq, i32 last seq, i64 last offset,
 *             i32 offset delta, i64 timestamp}   (oldest batch first)                    */
#include "slog_pstate.h"

#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "slog_internal.h"
#include "slog_txn.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOG_PS_MAGIC "SLPS"
#define SLOG_PS_VERSION 1
#define SLOG_PS_HEAD_BYTES 18
#define SLOG_PS_PROD_BYTES 11
#define SLOG_PS_BATCH_BYTES 28

typedef struct {
    int64_t pid;
    int16_t epoch;
    uint8_t n; /* cached batches (>= 1), oldest first */
    uint32_t gen; /* journal generation that last saved it: saved once per journal */
    slog_pbatch_t b[SLOG_PSTATE_BATCHES];
} slog__prod_t;

typedef struct {
    int64_t pid;
    bool present; /* the producer existed before: old holds it */
    slog__prod_t old;
} slog__undo_t;

struct slog_pstate {
    slog__prod_t *prods; /* sorted by pid */
    int32_t n, cap;
    int32_t max;
    int64_t expiry_ms;
    bool journaling;
    uint32_t gen; /* current journal generation */
    uint64_t evictions; /* producers forgotten because the table was full */
    slog__undo_t *undo;
    size_t nundo, undo_cap;
};

int32_t slog_pstate_seq_add(int32_t seq, int32_t delta)
{
    int64_t s = (int64_t)seq + delta;
    return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

static bool slog__in_seq(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

slog_pstate_t *slog_pstate_new(int32_t producers_max, int64_t expiry_ms)
{
    slog_pstate_t *ps = sl_xcalloc(1, sizeof *ps);
    slog_pstate_set_limits(ps, producers_max, expiry_ms);
    return ps;
}

void slog_pstate_free(slog_pstate_t *ps)
{
    if (ps) {
        free(ps->prods);
        free(ps->undo);
        free(ps);
    }
}

void slog_pstate_set_limits(slog_pstate_t *ps, int32_t producers_max, int64_t expiry_ms)
{
    ps->max = SL_MIN(SL_MAX(producers_max, 1), SLOG_PRODUCERS_PER_PARTITION_MAX);
    ps->expiry_ms = expiry_ms;
}

void slog_pstate_clear(slog_pstate_t *ps)
{
    SL_ASSERT(!ps->journaling);
    ps->n = 0;
}

int32_t slog_pstate_count(const slog_pstate_t *ps) { return ps->n; }

/* Binary search: true when found, *at is its index or where it would go. */
static bool slog__find(const slog_pstate_t *ps, int64_t pid, int32_t *at)
{
    int32_t lo = 0, hi = ps->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ps->prods[mid].pid < pid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *at = lo;
    return lo < ps->n && ps->prods[lo].pid == pid;
}

/* Saves what abort needs to restore pid: its state before this journal (once) or its absence. */
static void slog__journal(slog_pstate_t *ps, int64_t pid, const slog__prod_t *old)
{
    if (!ps->journaling || (old && old->gen == ps->gen)) {
        return; /* already saved (or created) in this journal */
    }
    if (ps->nundo == ps->undo_cap) {
        ps->undo_cap = ps->undo_cap ? ps->undo_cap * 2 : 8;
        ps->undo = sl_xrealloc(ps->undo, ps->undo_cap * sizeof *ps->undo);
    }
    slog__undo_t *u = &ps->undo[ps->nundo++];
    u->pid = pid;
    u->present = old != NULL;
    if (old) {
        u->old = *old;
    }
}

static void slog__remove_at(slog_pstate_t *ps, int32_t i)
{
    slog__journal(ps, ps->prods[i].pid, &ps->prods[i]);
    memmove(ps->prods + i, ps->prods + i + 1, (size_t)(ps->n - i - 1) * sizeof *ps->prods);
    ps->n--;
}

/* Inserts prod at index at (no journal). */
static void slog__insert_at(slog_pstate_t *ps, int32_t at, const slog__prod_t *prod)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 4;
        ps->prods = sl_xrealloc(ps->prods, (size_t)ps->cap * sizeof *ps->prods);
    }
    memmove(ps->prods + at + 1, ps->prods + at, (size_t)(ps->n - at) * sizeof *ps->prods);
    ps->prods[at] = *prod;
    ps->n++;
}

static int64_t slog__last_offset(const slog__prod_t *p) { return p->b[p->n - 1].last_offset; }

/* Makes room for one more producer by forgetting the one with the oldest last offset. */
static void slog__evict_oldest(slog_pstate_t *ps)
{
    int32_t old = 0;
    for (int32_t i = 1; i < ps->n; i++) {
        if (slog__last_offset(&ps->prods[i]) < slog__last_offset(&ps->prods[old])) {
            old = i;
        }
    }
    if (ps->evictions++ % 1000 == 0) { /* a flood of new producers logs now and then */
        SL_LOGW("log", "producer state full (%d producers): forgetting producer %" PRId64
                " (last offset %" PRId64 "), %" PRIu64 " forgotten so far", (int)ps->max,
                ps->prods[old].pid, slog__last_offset(&ps->prods[old]), ps->evictions);
    }
    slog__remove_at(ps, old);
}

/* Records batch nb of (pid, epoch): a new producer, a new epoch (cache restarts), or one
 * more batch of the current epoch (the oldest cached one drops out). */
static void slog__record(slog_pstate_t *ps, int64_t pid, int16_t epoch, const slog_pbatch_t *nb)
{
    int32_t at;
    if (!slog__find(ps, pid, &at)) {
        if (ps->n >= ps->max) {
            while (ps->n >= ps->max) {
                slog__evict_oldest(ps);
            }
            slog__find(ps, pid, &at);
        }
        slog__journal(ps, pid, NULL);
        slog__prod_t prod = {.pid = pid, .epoch = epoch, .n = 1, .gen = ps->gen, .b = {*nb}};
        slog__insert_at(ps, at, &prod);
        return;
    }
    slog__prod_t *p = &ps->prods[at];
    slog__journal(ps, pid, p);
    p->gen = ps->gen;
    if (p->epoch != epoch) {
        p->epoch = epoch;
        p->n = 0;
    }
    if (p->n == SLOG_PSTATE_BATCHES) {
        memmove(p->b, p->b + 1, (SLOG_PSTATE_BATCHES - 1) * sizeof *p->b);
        p->n--;
    }
    p->b[p->n++] = *nb;
}

static slog_pbatch_t slog__pbatch(const slog_batch_hdr_t *hdr, int64_t base_offset)
{
    slog_pbatch_t nb = {
        .first_seq = hdr->base_sequence,
        .last_seq = slog_pstate_seq_add(hdr->base_sequence, hdr->last_offset_delta),
        .last_offset = base_offset + hdr->last_offset_delta,
        .offset_delta = hdr->last_offset_delta,
        .timestamp = hdr->max_timestamp,
    };
    return nb;
}

int slog_pstate_check(slog_pstate_t *ps, const slog_batch_hdr_t *hdr, int64_t base_offset,
                      slog_pbatch_t *dup)
{
    SL_ASSERT(hdr->producer_id >= 0);
    slog_pbatch_t nb = slog__pbatch(hdr, base_offset);
    int32_t at;
    if (slog__find(ps, hdr->producer_id, &at)) {
        const slog__prod_t *p = &ps->prods[at];
        if (hdr->producer_epoch < p->epoch) {
            return SLOG_EPRODUCER_EPOCH;
        }
        if (hdr->producer_epoch == p->epoch) {
            for (int i = 0; i < p->n; i++) {
                if (p->b[i].first_seq == nb.first_seq && p->b[i].last_seq == nb.last_seq) {
                    *dup = p->b[i];
                    return SLOG_PSTATE_DUPLICATE;
                }
            }
            if (!slog__in_seq(p->b[p->n - 1].last_seq, nb.first_seq)) {
                return SLOG_ESEQUENCE;
            }
        } else if (nb.first_seq != 0) {
            return SLOG_ESEQUENCE; /* a new epoch starts at sequence 0 */
        }
    }
    slog__record(ps, hdr->producer_id, hdr->producer_epoch, &nb);
    return 0;
}

void slog_pstate_replay(slog_pstate_t *ps, const slog_batch_hdr_t *hdr)
{
    int32_t at;
    if (hdr->producer_id < 0) {
        return;
    }
    if (slog__find(ps, hdr->producer_id, &at) && hdr->producer_epoch < ps->prods[at].epoch) {
        return; /* cannot be in a log we wrote; keep the newer epoch */
    }
    slog_pbatch_t nb = slog__pbatch(hdr, hdr->base_offset);
    slog__record(ps, hdr->producer_id, hdr->producer_epoch, &nb);
}

void slog_pstate_begin(slog_pstate_t *ps)
{
    SL_ASSERT(!ps->journaling);
    ps->journaling = true;
    ps->nundo = 0;
    if (++ps->gen == 0) { /* wrapped: no entry may look saved already */
        for (int32_t i = 0; i < ps->n; i++) {
            ps->prods[i].gen = 0;
        }
        ps->gen = 1;
    }
}

/* A journal as large as one huge append is not kept for the next one. */
static void slog__journal_end(slog_pstate_t *ps)
{
    ps->journaling = false;
    ps->nundo = 0;
    if (ps->undo_cap > 64) {
        free(ps->undo);
        ps->undo = NULL;
        ps->undo_cap = 0;
    }
}

void slog_pstate_commit(slog_pstate_t *ps)
{
    slog__journal_end(ps);
}

void slog_pstate_abort(slog_pstate_t *ps)
{
    ps->journaling = false;
    while (ps->nundo > 0) {
        const slog__undo_t *u = &ps->undo[--ps->nundo];
        int32_t at;
        bool found = slog__find(ps, u->pid, &at);
        if (found && u->present) {
            ps->prods[at] = u->old;
        } else if (found) {
            slog__remove_at(ps, at);
        } else if (u->present) {
            slog__insert_at(ps, at, &u->old);
        }
    }
    slog__journal_end(ps);
}

int slog_pstate_expire(slog_pstate_t *ps, int64_t now_ms)
{
    SL_ASSERT(!ps->journaling);
    int32_t kept = 0;
    for (int32_t i = 0; i < ps->n; i++) {
        const slog__prod_t *p = &ps->prods[i];
        if (now_ms - p->b[p->n - 1].timestamp < ps->expiry_ms) {
            ps->prods[kept++] = *p;
        }
    }
    int dropped = (int)(ps->n - kept);
    ps->n = kept;
    return dropped;
}

static void slog__describe(const slog__prod_t *p, slog_producer_t *out)
{
    out->producer_id = p->pid;
    out->epoch = p->epoch;
    out->last_seq = p->b[p->n - 1].last_seq;
    out->last_offset = p->b[p->n - 1].last_offset;
    out->last_timestamp = p->b[p->n - 1].timestamp;
    out->batch_count = p->n;
}

void slog_pstate_at(const slog_pstate_t *ps, int32_t i, slog_producer_t *out)
{
    SL_ASSERT(i >= 0 && i < ps->n);
    slog__describe(&ps->prods[i], out);
}

bool slog_pstate_get(const slog_pstate_t *ps, int64_t producer_id, slog_producer_t *out)
{
    int32_t at;
    if (!slog__find(ps, producer_id, &at)) {
        return false;
    }
    slog__describe(&ps->prods[at], out);
    return true;
}

/* ---- snapshots ---- */

void slog_pstate_encode(const slog_pstate_t *ps, int64_t offset, sl_buf_t *out)
{
    size_t start = out->len;
    uint8_t *h = sl_buf_reserve(out, SLOG_PS_HEAD_BYTES);
    memcpy(h, SLOG_PS_MAGIC, 4);
    sl_be16_put(h + 4, SLOG_PS_VERSION);
    sl_be64_put(h + 6, (uint64_t)offset);
    sl_be32_put(h + 14, (uint32_t)ps->n);
    out->len += SLOG_PS_HEAD_BYTES;
    for (int32_t i = 0; i < ps->n; i++) {
        const slog__prod_t *p = &ps->prods[i];
        size_t sz = SLOG_PS_PROD_BYTES + (size_t)p->n * SLOG_PS_BATCH_BYTES;
        uint8_t *q = sl_buf_reserve(out, sz);
        sl_be64_put(q, (uint64_t)p->pid);
        sl_be16_put(q + 8, (uint16_t)p->epoch);
        q[10] = p->n;
        q += SLOG_PS_PROD_BYTES;
        for (int k = 0; k < p->n; k++, q += SLOG_PS_BATCH_BYTES) {
            sl_be32_put(q, (uint32_t)p->b[k].first_seq);
            sl_be32_put(q + 4, (uint32_t)p->b[k].last_seq);
            sl_be64_put(q + 8, (uint64_t)p->b[k].last_offset);
            sl_be32_put(q + 16, (uint32_t)p->b[k].offset_delta);
            sl_be64_put(q + 20, (uint64_t)p->b[k].timestamp);
        }
        out->len += sz;
    }
    uint32_t crc = sl_crc32c(0, out->data + start, out->len - start);
    sl_be32_put(sl_buf_reserve(out, 4), crc);
    out->len += 4;
}

/* Decodes one producer at *p (bounds checked); false when it does not hold up. */
static bool slog__decode_prod(const uint8_t **pp, const uint8_t *end, int64_t offset,
                              slog__prod_t *prod)
{
    const uint8_t *p = *pp;
    if (end - p < SLOG_PS_PROD_BYTES) {
        return false;
    }
    prod->pid = (int64_t)sl_be64_get(p);
    prod->epoch = (int16_t)sl_be16_get(p + 8);
    prod->n = p[10];
    prod->gen = 0;
    p += SLOG_PS_PROD_BYTES;
    if (prod->pid < 0 || prod->n < 1 || prod->n > SLOG_PSTATE_BATCHES ||
        end - p < (ptrdiff_t)prod->n * SLOG_PS_BATCH_BYTES) {
        return false;
    }
    int64_t prev = -1;
    for (int k = 0; k < prod->n; k++, p += SLOG_PS_BATCH_BYTES) {
        slog_pbatch_t *b = &prod->b[k];
        b->first_seq = (int32_t)sl_be32_get(p);
        b->last_seq = (int32_t)sl_be32_get(p + 4);
        b->last_offset = (int64_t)sl_be64_get(p + 8);
        b->offset_delta = (int32_t)sl_be32_get(p + 16);
        b->timestamp = (int64_t)sl_be64_get(p + 20);
        if (b->last_offset <= prev || b->last_offset >= offset || b->offset_delta < 0 ||
            b->offset_delta > b->last_offset) {
            return false;
        }
        prev = b->last_offset;
    }
    *pp = p;
    return true;
}

int slog_pstate_decode(slog_pstate_t *ps, const uint8_t *p, size_t len, int64_t *offset)
{
    SL_ASSERT(!ps->journaling);
    ps->n = 0;
    if (len < SLOG_PS_HEAD_BYTES + 4 || memcmp(p, SLOG_PS_MAGIC, 4) != 0 ||
        sl_be16_get(p + 4) != SLOG_PS_VERSION ||
        sl_be32_get(p + len - 4) != sl_crc32c(0, p, len - 4)) {
        return SL_ECORRUPT;
    }
    int64_t off = (int64_t)sl_be64_get(p + 6);
    uint32_t cnt = sl_be32_get(p + 14);
    const uint8_t *q = p + SLOG_PS_HEAD_BYTES, *end = p + len - 4;
    if (off < 0 || cnt > SLOG_PRODUCERS_PER_PARTITION_MAX ||
        (size_t)(end - q) / SLOG_PS_PROD_BYTES < cnt) {
        return SL_ECORRUPT;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        slog__prod_t prod;
        if (!slog__decode_prod(&q, end, off, &prod) ||
            (ps->n > 0 && prod.pid <= ps->prods[ps->n - 1].pid)) {
            ps->n = 0;
            return SL_ECORRUPT;
        }
        slog__insert_at(ps, ps->n, &prod);
    }
    if (q != end) {
        ps->n = 0;
        return SL_ECORRUPT;
    }
    while (ps->n > ps->max) { /* the limit was lowered since */
        slog__evict_oldest(ps);
    }
    *offset = off;
    return 0;
}

/* Offset of a snapshot file name "<20 digits>.snapshot", or -1. */
static int64_t slog__snap_name_offset(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strcmp(dot, ".snapshot") != 0 || dot - name != 20) {
        return -1;
    }
    int64_t off = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || off > (INT64_MAX - 9) / 10) {
            return -1;
        }
        off = off * 10 + (name[i] - '0');
    }
    return off;
}

static int slog__cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x > y ? -1 : x < y;
}

/* Snapshot offsets in dir, newest first (at most SLOG_SEGMENTS_MAX). Caller frees *offs. */
static int slog__snap_list(const char *dir, int64_t **offs, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    size_t cap = 8;
    *offs = sl_xmalloc(cap * sizeof **offs);
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && *n < SLOG_SEGMENTS_MAX) {
        int64_t off = slog__snap_name_offset(de->d_name);
        if (off < 0) {
            continue;
        }
        if (*n == cap) {
            cap *= 2;
            *offs = sl_xrealloc(*offs, cap * sizeof **offs);
        }
        (*offs)[(*n)++] = off;
    }
    closedir(d);
    qsort(*offs, *n, sizeof **offs, slog__cmp_desc);
    return 0;
}

static void slog__snap_path(const char *dir, int64_t off, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020" PRId64 ".snapshot", dir, off);
}

int slog_pstate_save(const slog_pstate_t *ps, const char *dir, int64_t offset)
{
    return slog__pstate_save(ps, dir, offset, true);
}

int slog__pstate_save(const slog_pstate_t *ps, const char *dir, int64_t offset, bool sync)
{
    sl_buf_t buf;
    sl_buf_init(&buf);
    slog_pstate_encode(ps, offset, &buf);
    char path[4096];
    slog__snap_path(dir, offset, path, sizeof path);
    int rc = sync ? sl_fs_write_atomic(path, buf.data, buf.len)
                  : sl_fs_write_replace(path, buf.data, buf.len);
    sl_buf_deinit(&buf);
    int64_t *offs = NULL;
    size_t n = 0;
    if (rc == 0 && slog__snap_list(dir, &offs, &n) == 0) {
        for (size_t i = SLOG_PSTATE_SNAPSHOTS_KEPT; i < n; i++) {
            slog__snap_path(dir, offs[i], path, sizeof path);
            unlink(path);
        }
    }
    free(offs);
    return rc;
}

/* Reads and decodes one snapshot file; SL_ECORRUPT when it does not hold up. */
static int slog__snap_read(slog_pstate_t *ps, const char *path, int64_t name_off)
{
    char *text = NULL;
    size_t len = 0;
    int64_t off = -1;
    int rc = sl_fs_read_all(path, (size_t)SLOG_PSTATE_SNAPSHOT_BYTES_MAX, &text, &len);
    if (rc == 0) {
        rc = slog_pstate_decode(ps, (const uint8_t *)text, len, &off);
    }
    if (rc == 0 && off != name_off) {
        ps->n = 0;
        rc = SL_ECORRUPT;
    }
    free(text);
    return rc;
}

int slog_pstate_load(slog_pstate_t *ps, const char *dir, int64_t max_offset, int64_t *offset)
{
    int64_t *offs = NULL;
    size_t n = 0;
    int rc = slog__snap_list(dir, &offs, &n);
    char path[4096];
    *offset = -1;
    ps->n = 0;
    for (size_t i = 0; rc == 0 && i < n && *offset < 0; i++) {
        slog__snap_path(dir, offs[i], path, sizeof path);
        if (offs[i] > max_offset) {
            SL_LOGW("log", "%s: removing producer snapshot %" PRId64 ", past the log end %" PRId64,
                    dir, offs[i], max_offset);
            unlink(path);
            continue;
        }
        int src = slog__snap_read(ps, path, offs[i]);
        if (src == 0) {
            *offset = offs[i];
        } else {
            SL_LOGW("log", "%s: ignoring damaged producer snapshot %" PRId64 " (%s): an older one "
                    "or the log rebuilds the state", dir, offs[i], sl_strerror(src));
            unlink(path);
        }
    }
    free(offs);
    return rc;
}

/* ---- the partition's producer state (slog_internal.h) ---- */

/* Sequential reader of batch headers through one buffer (one pread per buffer, not per
 * batch: a replay after kill -9 may cover a whole segment of small batches). */
typedef struct {
    uint8_t *buf;
    int64_t at;  /* file position of buf[0] */
    int64_t len; /* valid bytes in buf */
} slog__hdr_reader_t;

static int slog__hdr_read(slog__hdr_reader_t *rd, const slog_seg_t *seg, int64_t pos,
                          slog_batch_hdr_t *hdr)
{
    if (pos < rd->at || pos + SLOG_BATCH_HEADER_BYTES > rd->at + rd->len) {
        int fd = slog__file_use(seg->file);
        if (fd < 0) {
            return fd;
        }
        ssize_t n = pread(fd, rd->buf, SLOG_PSTATE_REPLAY_BUF_BYTES, pos);
        if (n < 0) {
            return -errno;
        }
        rd->at = pos;
        rd->len = n;
        if (n < SLOG_BATCH_HEADER_BYTES) {
            return SL_ECORRUPT;
        }
    }
    slog_batch_hdr_decode(rd->buf + (pos - rd->at), hdr);
    bool ok = hdr->batch_length >= SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD &&
              hdr->last_offset_delta >= 0;
    return ok ? 0 : SL_ECORRUPT;
}

/* Replays the producer ids of every batch of seg from offset from on. */
static int slog__replay_seg(slog_part_t *part, const slog_seg_t *seg, int64_t from,
                            slog__hdr_reader_t *rd)
{
    slog_batch_hdr_t hdr;
    int64_t pos = slog__seg_find(seg, from, &hdr);
    rd->at = rd->len = 0;
    while (pos >= 0 && pos < seg->size) {
        int rc = slog__hdr_read(rd, seg, pos, &hdr);
        if (rc != 0) {
            return rc;
        }
        if (!(hdr.attributes & SLOG_BATCH_CONTROL)) { /* markers carry no sequence */
            slog_pstate_replay(part->pstate, &hdr);
        }
        pos += slog_batch_total(&hdr);
    }
    return pos < 0 ? (int)pos : 0;
}

/* Replays the producer ids of every batch from offset from to the end of the log. */
static int slog__pstate_replay(slog_part_t *part, int64_t from)
{
    slog__hdr_reader_t rd = {.buf = sl_xmalloc(SLOG_PSTATE_REPLAY_BUF_BYTES)};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < part->nsegs; i++) {
        if (part->segs[i]->next > from) {
            rc = slog__replay_seg(part, part->segs[i], from, &rd);
        }
    }
    free(rd.buf);
    return rc;
}

const slog_pstate_t *slog_part_producers(const slog_part_t *part) { return part->pstate; }

int slog__pstate_open(slog_part_t *part)
{
    part->pstate = slog_pstate_new(part->conf.producers_max, part->conf.producer_expiry_ms);
    int64_t end = slog_part_end_offset(part), snap = -1;
    int rc = slog_pstate_load(part->pstate, part->dir, end, &snap);
    if (rc == 0) {
        rc = slog__pstate_replay(part, SL_MAX(snap, part->start));
    }
    if (rc == 0 && snap != end && slog_pstate_count(part->pstate) > 0) {
        SL_LOGI("log", "%s: producer state of %d producers rebuilt from %s%" PRId64 " to %" PRId64,
                part->dir, (int)slog_pstate_count(part->pstate), snap < 0 ? "the log start " : "",
                SL_MAX(snap, part->start), end);
    }
    return rc;
}

void slog__pstate_snapshot(slog_part_t *part, bool sync)
{
    int rc = slog__pstate_save(part->pstate, part->dir, slog_part_end_offset(part), sync);
    if (rc != 0) {
        SL_LOGW("log", "%s: cannot write the producer snapshot (%s): the next open replays more",
                part->dir, sl_strerror(rc));
    }
}

/* The control type of the marker batch at pos (one small pread: markers are rare). */
static int slog__marker_type(const slog_seg_t *seg, int64_t pos, const slog_batch_hdr_t *hdr)
{
    uint8_t rec[32];
    int64_t len = SL_MIN(slog_batch_total(hdr) - SLOG_BATCH_HEADER_BYTES, (int64_t)sizeof rec);
    if (len <= 0) {
        return -1;
    }
    int fd = slog__file_use(seg->file);
    ssize_t n = fd < 0 ? -1 : pread(fd, rec, (size_t)len, pos + SLOG_BATCH_HEADER_BYTES);
    return n == len ? slog_txn_control_type(rec, (size_t)len) : -1;
}

int slog__txn_open(slog_part_t *part)
{
    part->txn = slog_txn_new();
    char path[4096];
    snprintf(path, sizeof path, "%s/.txn", part->dir);
    part->txn_seen = access(path, F_OK) == 0;
    if (!part->txn_seen) {
        return 0;
    }
    slog__hdr_reader_t rd = {.buf = sl_xmalloc(SLOG_PSTATE_REPLAY_BUF_BYTES)};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < part->nsegs; i++) {
        const slog_seg_t *seg = part->segs[i];
        rd.at = rd.len = 0;
        for (int64_t pos = 0; rc == 0 && pos < seg->size;) {
            slog_batch_hdr_t hdr;
            rc = slog__hdr_read(&rd, seg, pos, &hdr);
            if (rc == 0 && (hdr.attributes & SLOG_BATCH_TRANSACTIONAL)) {
                bool ctl = hdr.attributes & SLOG_BATCH_CONTROL;
                slog_txn_note(part->txn, &hdr, ctl ? slog__marker_type(seg, pos, &hdr) : -1);
            }
            pos += rc == 0 ? slog_batch_total(&hdr) : 0;
        }
    }
    free(rd.buf);
    if (rc == 0 && slog_txn_open_count(part->txn) > 0) {
        SL_LOGI("log", "%s: %d open transaction(s) found in the log", part->dir,
                (int)slog_txn_open_count(part->txn));
    }
    return rc;
}
