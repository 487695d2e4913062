/* Log compaction (the contract is in slog.h): Kafka's LogCleaner for one partition.
 *   1. map:   the dirty section [cleaned_to, first uncleanable offset) is read batch by batch
 *             and every keyed record's offset goes into a fixed-size offset map (128-bit key
 *             hash -> latest offset). When the map is full the pass ends at a batch boundary
 *             (map_end) and the next pass continues from there.
 *   2. clean: segments from the log start up to map_end are grouped (input bytes up to
 *             segment.bytes) and each group is rewritten into <base>.log.cleaned, keeping a
 *             record unless the map holds a later offset for its key, or it is a tombstone
 *             whose first clean is older than delete.retention.ms.
 *   3. swap:  on the loop, after checking that the inputs are still the partition's (see the
 *             steps in slog.h); slog__clean_recover finishes or discards it at open. The
 *             swap, its recovery and the checkpoint file are in clean_swap.c.
 * A record inside a batch (uncompressed, or the decompressed payload):
 *   length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headers... */
#include "sl_common.h"
#include "sl_crc32c.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_props.h"
#include "sl_siphash.h"
#include "sl_time.h"
#include "slog_clean.h"
#include "slog_codec.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes written to a .cleaned file at once, and read from an input at once. */
#define SLOG_CLEAN_IO_BYTES ((size_t)1 << 20)
/* Longest single throttle sleep (the cancel flag is checked in between). */
#define SLOG_CLEAN_SLEEP_MS_MAX 100
/* Offset map fill ratio (Kafka's log.cleaner.io.buffer.load.factor). */
#define SLOG_CLEAN_LOAD_PERCENT 90

/* ---- offset map ---- */

/* Two SipHash-2-4 values under the map's random keys: 128 bits an attacker who writes keys
 * cannot aim at (an unkeyed hash would let crafted keys collide, and compaction would then drop
 * another key's latest value). */
static void slog__hash(const slog_omap_t *map, const uint8_t *p, size_t n, uint64_t *h1,
                       uint64_t *h2)
{
    *h1 = sl_siphash(&map->key1, p, n);
    *h2 = sl_siphash(&map->key2, p, n);
}

static void slog__omap_init(slog_omap_t *map, int64_t bytes)
{
    map->cap = (size_t)(SL_MAX(bytes, SLOG_CLEAN_MAP_BYTES_MIN) / (int64_t)sizeof(slog_omap_slot_t));
    map->slots = sl_xmalloc(map->cap * sizeof *map->slots);
    for (size_t i = 0; i < map->cap; i++) {
        map->slots[i].offset = -1;
    }
    map->used = 0;
    map->max_used = map->cap * SLOG_CLEAN_LOAD_PERCENT / 100;
    map->key1 = sl_siphash_key_random();
    map->key2 = sl_siphash_key_random();
}

static slog_omap_slot_t *slog__omap_slot(const slog_omap_t *map, uint64_t h1, uint64_t h2)
{
    for (size_t i = h1 % map->cap;; i = (i + 1) % map->cap) { /* never full: max_used < cap */
        slog_omap_slot_t *s = &map->slots[i];
        if (s->offset < 0 || (s->h1 == h1 && s->h2 == h2)) {
            return s;
        }
    }
}

static void slog__omap_put(slog_omap_t *map, const uint8_t *key, size_t n, int64_t offset)
{
    uint64_t h1, h2;
    slog__hash(map, key, n, &h1, &h2);
    slog_omap_slot_t *s = slog__omap_slot(map, h1, h2);
    if (s->offset < 0) {
        SL_ASSERT(map->used < map->max_used);
        map->used++;
        s->h1 = h1;
        s->h2 = h2;
    }
    s->offset = offset;
}

static int64_t slog__omap_get(const slog_omap_t *map, const uint8_t *key, size_t n)
{
    uint64_t h1, h2;
    slog__hash(map, key, n, &h1, &h2);
    return slog__omap_slot(map, h1, h2)->offset;
}

/* ---- the job ---- */

int64_t slog_clean_throttle_ms(int64_t rate, int64_t start_ms, int64_t bytes, int64_t now_ms)
{
    if (rate <= 0) {
        return 0;
    }
    int64_t due = start_ms + (int64_t)((double)bytes * 1000.0 / (double)rate);
    return due > now_ms ? due - now_ms : 0;
}

/* Counts bytes of I/O and sleeps while over the rate; SL_ECLOSED when cancelled. */
static int slog__clean_io(slog_clean_job_t *job, int64_t bytes)
{
    job->io_bytes += bytes;
    for (;;) {
        if (atomic_load(&job->cancel)) {
            return SL_ECLOSED;
        }
        int64_t ms = slog_clean_throttle_ms(job->opts.io_bytes_per_sec, job->io_start_ms,
                                            job->io_bytes, sl_time_mono_ms());
        if (ms == 0) {
            return 0;
        }
        ms = SL_MIN(ms, SLOG_CLEAN_SLEEP_MS_MAX);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

double slog_part_dirty_ratio(const slog_part_t *part, int64_t now_ms)
{
    int64_t dirty = 0, total = 0;
    for (size_t i = 0; i + 1 < part->nsegs; i++) {
        const slog_seg_t *seg = part->segs[i];
        if (part->conf.min_compaction_lag_ms > 0 && seg->max_ts >= 0 &&
            seg->max_ts > now_ms - part->conf.min_compaction_lag_ms) {
            break; /* the first uncleanable segment */
        }
        total += seg->size;
        dirty += seg->next > part->cleaned_to ? seg->size : 0;
    }
    return total > 0 ? (double)dirty / (double)total : 0.0;
}

/* Index of the first uncleanable segment (the active one at the latest). */
static size_t slog__first_uncleanable(const slog_part_t *part, int64_t now_ms)
{
    size_t i = 0;
    for (; i + 1 < part->nsegs; i++) {
        const slog_seg_t *seg = part->segs[i];
        if (part->conf.min_compaction_lag_ms > 0 && seg->max_ts >= 0 &&
            seg->max_ts > now_ms - part->conf.min_compaction_lag_ms) {
            break;
        }
    }
    return i;
}

bool slog_part_clean_due(const slog_part_t *part, int64_t now_ms)
{
    if (!part->conf.cleanup_compact || part->conf.max_compaction_lag_ms == INT64_MAX) {
        return false;
    }
    size_t u = slog__first_uncleanable(part, now_ms);
    for (size_t i = 0; i < u; i++) {
        const slog_seg_t *seg = part->segs[i];
        slog_batch_hdr_t hdr;
        if (seg->next <= part->cleaned_to || seg->size == 0) {
            continue;
        }
        /* the first dirty segment: its first batch's timestamp is its oldest record's */
        return slog__seg_header(seg, 0, &hdr) == 0 &&
               hdr.base_timestamp <= now_ms - part->conf.max_compaction_lag_ms;
    }
    return false;
}

slog_clean_job_t *slog_part_clean_begin(slog_part_t *part, int64_t now_ms,
                                        const slog_clean_opts_t *opts, bool force)
{
    if (part->failed || part->clean_out || !part->conf.cleanup_compact) {
        return NULL;
    }
    size_t u = slog__first_uncleanable(part, now_ms);
    int64_t cleaned_to = SL_MAX(part->cleaned_to, part->start);
    if (u == 0 || part->segs[u]->base <= cleaned_to) {
        return NULL; /* nothing dirty */
    }
    double ratio = slog_part_dirty_ratio(part, now_ms);
    if (!force && ratio < part->conf.min_cleanable_dirty_ratio &&
        !slog_part_clean_due(part, now_ms)) {
        return NULL;
    }
    slog_clean_job_t *job = sl_xcalloc(1, sizeof *job);
    job->dir = sl_xstrdup(part->dir);
    job->conf = part->conf;
    job->opts = *opts;
    job->now_ms = now_ms;
    atomic_init(&job->cancel, false);
    job->in = sl_xcalloc(u, sizeof *job->in);
    for (size_t i = 0; i < u; i++) {
        slog_seg_t *seg = part->segs[i];
        int rc = slog__file_ref_open(seg->file); /* the cleaner thread reads it */
        if (rc != 0) {
            SL_LOGW("log", "%s: clean postponed: cannot open segment %lld: %s", part->dir,
                    (long long)seg->base, sl_strerror(rc));
            for (size_t k = 0; k < i; k++) {
                slog_file_unref(job->in[k].file);
            }
            free(job->in);
            free(job->dir);
            free(job);
            return NULL;
        }
        job->in[i] = (slog_clean_in_t){seg->base, seg->next, seg->size, seg->file};
    }
    job->nin = u;
    job->cleaned_to = cleaned_to;
    job->dirty_end = part->segs[u]->base;
    memcpy(job->marks, part->marks, sizeof job->marks);
    job->nmarks = part->nmarks;
    sl_buf_init(&job->batch);
    sl_buf_init(&job->inflated);
    sl_buf_init(&job->kept);
    sl_buf_init(&job->deflated);
    part->clean_out = true;
    return job;
}

void slog_clean_cancel(slog_clean_job_t *job)
{
    atomic_store(&job->cancel, true);
}

/* Removes the files the job wrote and frees it. */
void slog_clean_job_free(slog_clean_job_t *job)
{
    if (!job) {
        return;
    }
    static const char *exts[] = {"log", "index", "timeindex"};
    char path[4096];
    for (size_t g = 0; g < job->ngroups; g++) {
        for (size_t i = 0; job->groups[g].written && i < SL_ARRAY_LEN(exts); i++) {
            slog__clean_path(job->dir, job->groups[g].base, exts[i], ".cleaned", path, sizeof path);
            unlink(path);
        }
    }
    for (size_t i = 0; i < job->nin; i++) {
        slog_file_unref(job->in[i].file);
    }
    if (job->nin > 0) {
        slog__fdc_trim_now(); /* the inputs may leave the fd cache now */
    }
    free(job->in);
    free(job->groups);
    free(job->map.slots);
    sl_buf_deinit(&job->batch);
    sl_buf_deinit(&job->inflated);
    sl_buf_deinit(&job->kept);
    sl_buf_deinit(&job->deflated);
    free(job->dir);
    free(job);
}

/* ---- reading batches ---- */

/* Reads the batch at pos of input in into job->batch; returns its total bytes, 0 at the end
 * of the input, or an error (a closed segment was verified at open: damage is an error). */
static int64_t slog__clean_read(slog_clean_job_t *job, const slog_clean_in_t *in, int64_t pos,
                                slog_batch_hdr_t *hdr)
{
    if (pos >= in->size) {
        return 0;
    }
    uint8_t h[SLOG_BATCH_HEADER_BYTES];
    ssize_t n = pread(in->file->fd, h, sizeof h, pos);
    if (n != (ssize_t)sizeof h) {
        return n < 0 ? -errno : SL_ECORRUPT;
    }
    slog_batch_hdr_decode(h, hdr);
    int64_t total = slog_batch_total(hdr);
    if (hdr->batch_length < SLOG_BATCH_HEADER_BYTES - SLOG_BATCH_LOG_OVERHEAD ||
        total > SLOG_BATCH_BYTES_MAX || pos + total > in->size) {
        return SL_ECORRUPT;
    }
    job->batch.len = 0;
    uint8_t *p = sl_buf_reserve(&job->batch, (size_t)total);
    n = pread(in->file->fd, p, (size_t)total, pos);
    if (n != (ssize_t)total) {
        return n < 0 ? -errno : SL_ECORRUPT;
    }
    job->batch.len = (size_t)total;
    if (slog__batch_check(p, (size_t)total, hdr, true) != 0) {
        return SL_ECORRUPT;
    }
    int rc = slog__clean_io(job, total);
    return rc != 0 ? rc : total;
}

/* The records of the batch in job->batch: the payload itself, or decompressed into
 * job->inflated. false when it cannot be opened (then it is kept whole, keys unmapped). */
static bool slog__clean_records(slog_clean_job_t *job, const slog_batch_hdr_t *hdr,
                                const uint8_t **p, const uint8_t **end)
{
    const uint8_t *payload = job->batch.data + SLOG_BATCH_HEADER_BYTES;
    size_t len = job->batch.len - SLOG_BATCH_HEADER_BYTES;
    int codec = hdr->attributes & SLOG_BATCH_COMPRESSION_MASK;
    if (codec == SLOG_CODEC_NONE) {
        *p = payload;
        *end = payload + len;
        return true;
    }
    job->inflated.len = 0;
    int rc = slog_codec_decompress(codec, payload, len, SLOG_CLEAN_INFLATE_BYTES_MAX,
                                 &job->inflated);
    if (rc != 0) {
        SL_LOGW("clean", "%s: batch at offset %" PRId64 " cannot be decompressed (%s): kept "
                "whole", job->dir, hdr->base_offset, sl_strerror(rc));
        return false;
    }
    static const uint8_t none[1];
    *p = job->inflated.len ? job->inflated.data : none; /* never arithmetic on NULL */
    *end = *p + job->inflated.len;
    return true;
}

typedef struct {
    const uint8_t *start; /* the record's bytes, length varint included */
    size_t len;
    int64_t offset_delta;
    const uint8_t *key;   /* NULL: null key */
    size_t key_len;
    bool null_value;
} slog_rec_t;

/* Parses the record at *pp (framing only); false when malformed. */
static bool slog__rec_next(const uint8_t **pp, const uint8_t *end, slog_rec_t *rec)
{
    const uint8_t *p = *pp;
    int64_t len, ts, klen, vlen;
    if (!slog__varint(&p, end, false, &len) || len < 1 || len > end - p) {
        return false;
    }
    const uint8_t *rend = p + len;
    p++;
    if (!slog__varint(&p, rend, true, &ts) || !slog__varint(&p, rend, false, &rec->offset_delta) ||
        !slog__varint(&p, rend, false, &klen) || klen < -1 || klen > rend - p) {
        return false;
    }
    rec->key = klen < 0 ? NULL : p;
    rec->key_len = klen < 0 ? 0 : (size_t)klen;
    p += rec->key_len;
    if (!slog__varint(&p, rend, false, &vlen) || vlen < -1 || vlen > rend - p) {
        return false;
    }
    rec->null_value = vlen < 0;
    rec->start = *pp;
    rec->len = (size_t)(rend - *pp);
    *pp = rend;
    return true;
}

/* Batches the cleaner never opens: transaction markers and transactional records (whose
 * fate depends on their transaction, which the cleaner does not track). */
static bool slog__clean_opaque(const slog_batch_hdr_t *hdr)
{
    return (hdr->attributes & (SLOG_BATCH_CONTROL | SLOG_BATCH_TRANSACTIONAL)) != 0;
}

/* ---- pass 1: the offset map ---- */

static void slog__producer_note(slog_clean_job_t *job, int64_t pid, int64_t base)
{
    for (size_t i = 0; i < job->nproducers; i++) {
        if (job->producers[i].pid == pid) {
            job->producers[i].last_base = base;
            return;
        }
    }
    if (job->nproducers == SLOG_CLEAN_PRODUCERS_MAX) {
        job->producers_full = true;
        return;
    }
    job->producers[job->nproducers++] = (slog_clean_producer_t){pid, base};
}

/* Puts the keys of the batch in job->batch into the map (all or none). Returns 1 when the
 * map has no room for it, 0, or an error. */
static int slog__map_batch(slog_clean_job_t *job, const slog_batch_hdr_t *hdr)
{
    if (job->map.used + (size_t)hdr->record_count > job->map.max_used) {
        return 1;
    }
    if (hdr->producer_id >= 0) {
        slog__producer_note(job, hdr->producer_id, hdr->base_offset);
    }
    const uint8_t *p, *end;
    if (slog__clean_opaque(hdr) || !slog__clean_records(job, hdr, &p, &end)) {
        return 0;
    }
    slog_rec_t rec;
    for (int32_t i = 0; i < hdr->record_count; i++) {
        if (!slog__rec_next(&p, end, &rec)) {
            return SL_ECORRUPT;
        }
        if (rec.key) {
            slog__omap_put(&job->map, rec.key, rec.key_len, hdr->base_offset + rec.offset_delta);
        }
    }
    return 0;
}

/* Maps the dirty section from cleaned_to until the map is full or the section ends. */
static int slog__build_map(slog_clean_job_t *job)
{
    slog__omap_init(&job->map, job->opts.map_bytes);
    job->map_end = job->dirty_end;
    for (size_t i = 0; i < job->nin; i++) {
        const slog_clean_in_t *in = &job->in[i];
        if (in->next <= job->cleaned_to) {
            continue;
        }
        slog_batch_hdr_t hdr;
        for (int64_t pos = 0, total; (total = slog__clean_read(job, in, pos, &hdr)) != 0;
             pos += total) {
            if (total < 0) {
                return (int)total;
            }
            if (hdr.base_offset < job->cleaned_to) {
                continue;
            }
            int rc = slog__map_batch(job, &hdr);
            if (rc == 1 && hdr.base_offset == job->cleaned_to) {
                SL_LOGE("clean", "%s: a batch of %d records does not fit the offset map "
                        "(log.cleaner.dedupe.buffer.size)", job->dir, (int)hdr.record_count);
                return SL_ELIMIT;
            }
            if (rc == 1) {
                job->map_end = hdr.base_offset;
                return 0;
            }
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- pass 2: rewriting ---- */

/* Whether the tombstone at offset has outlived delete.retention.ms since its first clean. */
static bool slog__tombstone_expired(const slog_clean_job_t *job, int64_t offset)
{
    if (offset >= job->cleaned_to) {
        return false; /* being cleaned for the first time */
    }
    for (int i = 0; i < job->nmarks; i++) {
        if (offset < job->marks[i].offset) {
            return job->marks[i].time_ms + job->conf.delete_retention_ms <= job->now_ms;
        }
    }
    return false;
}

static bool slog__record_kept(const slog_clean_job_t *job, int64_t offset, const slog_rec_t *rec)
{
    if (!rec->key) {
        return true;
    }
    int64_t latest = slog__omap_get(&job->map, rec->key, rec->key_len);
    if (latest > offset) {
        return false;
    }
    return !rec->null_value || !slog__tombstone_expired(job, offset);
}

/* Whether an emptied batch of this producer keeps its header (its last batch: the
 * producer's sequence state replays from it, as in Kafka). */
static bool slog__producer_keeps(const slog_clean_job_t *job, const slog_batch_hdr_t *hdr)
{
    if (hdr->producer_id < 0) {
        return false;
    }
    if (job->producers_full) {
        return true;
    }
    for (size_t i = 0; i < job->nproducers; i++) {
        if (job->producers[i].pid == hdr->producer_id) {
            return job->producers[i].last_base == hdr->base_offset;
        }
    }
    return hdr->base_offset < job->cleaned_to; /* its last batch from an earlier pass */
}

/* Rewrites job->batch with the n records in job->kept (header fields kept, CRC new). */
static int slog__rebuild_batch(slog_clean_job_t *job, const slog_batch_hdr_t *hdr, int32_t n)
{
    int codec = hdr->attributes & SLOG_BATCH_COMPRESSION_MASK;
    const sl_buf_t *payload = &job->kept;
    if (n == 0) {
        codec = SLOG_CODEC_NONE; /* an empty batch has nothing to compress */
    } else if (codec != SLOG_CODEC_NONE) {
        bool xerial = slog_codec_snappy_is_xerial(job->batch.data + SLOG_BATCH_HEADER_BYTES,
                                                job->batch.len - SLOG_BATCH_HEADER_BYTES);
        job->deflated.len = 0;
        int rc = slog_codec_compress(codec, job->kept.data, job->kept.len, xerial, &job->deflated);
        if (rc != 0) {
            return rc;
        }
        payload = &job->deflated;
    }
    size_t total = SLOG_BATCH_HEADER_BYTES + payload->len;
    job->batch.len = SLOG_BATCH_HEADER_BYTES;
    sl_buf_append(&job->batch, payload->data, payload->len);
    uint8_t *p = job->batch.data;
    sl_be32_put(p + 8, (uint32_t)(total - SLOG_BATCH_LOG_OVERHEAD));
    uint16_t attrs = (uint16_t)((hdr->attributes & ~SLOG_BATCH_COMPRESSION_MASK) | codec);
    sl_be16_put(p + 21, attrs);
    sl_be32_put(p + 57, (uint32_t)n);
    sl_be32_put(p + 17, sl_crc32c(0, p + 21, total - 21));
    return 0;
}

/* Filters the batch in job->batch in place. *keep: 0 drop, 1 write job->batch. */
static int slog__filter_batch(slog_clean_job_t *job, const slog_batch_hdr_t *hdr, bool *keep)
{
    const uint8_t *p, *end;
    *keep = true;
    if (hdr->base_offset >= job->map_end || slog__clean_opaque(hdr) ||
        !slog__clean_records(job, hdr, &p, &end)) {
        return 0; /* above the map nothing is superseded: copied as it is */
    }
    job->kept.len = 0;
    int32_t n = 0;
    slog_rec_t rec;
    for (int32_t i = 0; i < hdr->record_count; i++) {
        if (!slog__rec_next(&p, end, &rec)) {
            return SL_ECORRUPT;
        }
        if (slog__record_kept(job, hdr->base_offset + rec.offset_delta, &rec)) {
            sl_buf_append(&job->kept, rec.start, rec.len);
            n++;
        }
    }
    job->stats.records_removed += hdr->record_count - n;
    if (n == hdr->record_count) {
        return 0;
    }
    if (n == 0 && !slog__producer_keeps(job, hdr)) {
        *keep = false;
        return 0;
    }
    return slog__rebuild_batch(job, hdr, n);
}

/* Output of one group: the .cleaned log file being written and its indexes. */
typedef struct {
    slog_seg_t *seg; /* wraps the .cleaned file: offsets, indexes */
    sl_buf_t out;    /* bytes not yet written */
    int64_t written; /* bytes in the file */
} slog_clean_out_t;

static int slog__out_flush(slog_clean_job_t *job, slog_clean_out_t *o)
{
    if (o->out.len == 0) {
        return 0;
    }
    int rc = slog__pwrite_all(o->seg->file->fd, o->out.data, o->out.len, o->written);
    if (rc == 0) {
        o->written += (int64_t)o->out.len;
        rc = slog__clean_io(job, (int64_t)o->out.len);
    }
    o->out.len = 0;
    return rc;
}

static int slog__out_batch(slog_clean_job_t *job, slog_clean_out_t *o)
{
    slog_batch_hdr_t hdr;
    slog_batch_hdr_decode(job->batch.data, &hdr);
    slog__seg_note_batch(o->seg, &hdr, o->seg->size, job->conf.index_interval_bytes);
    sl_buf_append(&o->out, job->batch.data, job->batch.len);
    return o->out.len >= SLOG_CLEAN_IO_BYTES ? slog__out_flush(job, o) : 0;
}

/* Copies the inputs of group g through the filter into the group's .cleaned files. */
static int slog__clean_group(slog_clean_job_t *job, slog_clean_group_t *g)
{
    char path[4096];
    slog__clean_path(job->dir, g->base, "log", ".cleaned", path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  (mode_t)sl_fs_file_mode());
    if (fd < 0) {
        return -errno;
    }
    g->written = true;
    slog_clean_out_t o = {slog__seg_wrap(g->base, fd, 0), {0}, 0};
    o.seg->gaps = true;
    sl_buf_init(&o.out);
    int rc = 0;
    for (size_t i = g->first; rc == 0 && i < g->first + g->n; i++) {
        slog_batch_hdr_t hdr;
        int64_t total;
        for (int64_t pos = 0; rc == 0 && (total = slog__clean_read(job, &job->in[i], pos, &hdr)) != 0;
             pos += total) {
            bool keep;
            rc = total < 0 ? (int)total : slog__filter_batch(job, &hdr, &keep);
            if (rc == 0 && keep) {
                rc = slog__out_batch(job, &o);
            }
        }
    }
    if (rc == 0) {
        rc = slog__out_flush(job, &o);
    }
    if (rc == 0) {
        rc = slog__fdatasync(fd);
    }
    if (rc == 0) {
        slog__seg_seal(o.seg);
        slog__clean_path(job->dir, g->base, "index", ".cleaned", path, sizeof path);
        rc = slog__idx_write(&o.seg->oidx, path, true);
    }
    if (rc == 0) {
        slog__clean_path(job->dir, g->base, "timeindex", ".cleaned", path, sizeof path);
        rc = slog__idx_write(&o.seg->tidx, path, true);
    }
    g->size = o.written;
    job->stats.bytes_written += o.written;
    sl_buf_deinit(&o.out);
    slog__seg_free(o.seg);
    return rc;
}

/* Groups the inputs below map_end: consecutive segments up to segment.bytes of input and a
 * 32-bit offset span each (Kafka's groupSegmentsBySize). */
static void slog__make_groups(slog_clean_job_t *job)
{
    job->groups = sl_xcalloc(job->nin, sizeof *job->groups);
    for (size_t i = 0; i < job->nin && job->in[i].base < job->map_end;) {
        slog_clean_group_t *g = &job->groups[job->ngroups++];
        g->base = job->in[i].base;
        g->first = i;
        int64_t bytes = 0;
        while (i < job->nin && job->in[i].base < job->map_end &&
               (g->n == 0 || (bytes + job->in[i].size <= job->conf.segment_bytes &&
                              job->in[i].next - g->base <= INT32_MAX))) {
            bytes += job->in[i].size;
            g->n++;
            i++;
        }
        g->end = i < job->nin ? job->in[i].base : job->dirty_end;
    }
}

int slog_clean_run(slog_clean_job_t *job)
{
    job->io_start_ms = sl_time_mono_ms();
    int rc = slog__build_map(job);
    if (rc == 0) {
        slog__make_groups(job);
    }
    for (size_t g = 0; rc == 0 && g < job->ngroups; g++) {
        rc = slog__clean_group(job, &job->groups[g]);
    }
    job->stats.bytes_read = job->io_bytes - job->stats.bytes_written;
    return rc;
}

int slog_part_clean_now(slog_part_t *part, int64_t now_ms, const slog_clean_opts_t *opts,
                        bool force, slog_clean_stats_t *stats)
{
    slog_clean_job_t *job = slog_part_clean_begin(part, now_ms, opts, force);
    if (!job) {
        return SL_EAGAIN;
    }
    int rc = slog_clean_run(job);
    return slog_part_clean_end(part, job, rc, stats);
}
