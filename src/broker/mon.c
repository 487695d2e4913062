/* Monitoring: the request path's counters (relaxed atomics), the loop's snapshot of its own
 * state (partitions, groups and their lag, transactions, connections) copied when the admin
 * thread asks through an eventfd, and what the admin endpoint serves from them: Prometheus
 * text, readiness and status. The snapshot is a copy made in one pass on the loop; formatting
 * (the slow part) runs on the admin thread. Names and meanings: docs/broker.md. */
#include "brk_group.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_mon.h"
#include "brk_offsets.h"
#include "brk_topics.h"
#include "brk_txn.h"
#include "kmsg.h"
#include "sl_log.h"
#include "sl_prom.h"
#include "sl_time.h"
#include "snet_sasl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BRK_MON_APIS (KMSG_API_KEY_MAX + 1)
#define BRK_MON_MECHS (SNET_MECH_COUNT + 1) /* the last: a failure without a SASL mechanism */

typedef atomic_uint_fast64_t brk_ctr_t;

static const double brk__lat_bounds[] = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,    0.25,  0.5,    1,     2.5,   5,
                                         10,     30};
#define BRK_LAT_N ((int)SL_ARRAY_LEN(brk__lat_bounds))
SL_STATIC_ASSERT(SL_ARRAY_LEN(brk__lat_bounds) <= SL_HIST_BUCKETS_MAX, "buckets fit");

typedef struct {
    brk_ctr_t requests[BRK_MON_VERSIONS_MAX];
    sl_hist_t queue[BRK_MON_VERSIONS_MAX], handle[BRK_MON_VERSIONS_MAX],
        send[BRK_MON_VERSIONS_MAX];
    brk_ctr_t errors[BRK_MON_VERSIONS_MAX][BRK_MON_ERRCODES_MAX]; /* [version][code + 1] */
} brk_mon_api_t;

/* One partition as the snapshot has it. */
typedef struct {
    int32_t topic; /* index into snap->topics */
    int32_t index;
    uint64_t records_in, bytes_in, bytes_out;
    int64_t hw, start, size;
    int32_t segments;
    bool offline;
    double dirty; /* compacted topics: dirty ratio; else -1 */
} brk_mon_part_t;

typedef struct {
    char *id;
    const char *state; /* static */
    int32_t members;
    uint64_t rebalances;
} brk_mon_group_t;

typedef struct {
    int32_t group; /* index into snap->groups */
    char *topic;
    int32_t partition;
    int64_t lag;
} brk_mon_lag_t;

/* What the loop copies for one scrape (or one status/readiness question). */
typedef struct {
    char **topics;
    int32_t ntopics;
    brk_mon_part_t *parts;
    int64_t nparts, offline;
    brk_mon_group_t *groups;
    int32_t ngroups;
    brk_mon_lag_t *lags;
    int64_t nlags, lags_omitted;
    int64_t txns_open;
    int64_t conns_open[BRK_LISTENERS_MAX];
    int listener_ports[BRK_LISTENERS_MAX]; /* bound (a stopping broker's: advertised) */
    int64_t log_bytes;
} brk_mon_snap_t;

SL_STATIC_ASSERT(BRK_STATUS_LISTENERS_MAX == BRK_LISTENERS_MAX, "every listener in a status");

struct brk_mon {
    brk_t *brk;
    int64_t start_wall_ms, start_mono_us;
    brk_mon_api_t api[BRK_MON_APIS];
    sl_hist_t fsync;
    brk_ctr_t fsync_records;
    brk_ctr_t conns_opened[BRK_LISTENERS_MAX], conns_closed[BRK_LISTENERS_MAX];
    brk_ctr_t auth_failed[BRK_MON_MECHS];
    brk_ctr_t txn_committed, txn_aborted;
    brk_ctr_t clean_runs, clean_bytes;
    /* the snapshot hand-over: the admin thread bumps want and writes efd; the loop copies,
     * publishes snap with done = the want it served, and broadcasts */
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t want, done;
    brk_mon_snap_t *snap;
    bool closed;
};

/* ---- counters ---- */

static brk_mon_api_t *brk__mon_api(brk_mon_t *mon, int16_t api)
{
    return mon && api >= 0 && api < BRK_MON_APIS ? &mon->api[api] : NULL;
}

static int brk__mon_ver(int16_t ver)
{
    return ver < 0 ? 0 : SL_MIN((int)ver, BRK_MON_VERSIONS_MAX - 1);
}

void brk_mon_request(brk_mon_t *mon, int16_t api, int16_t ver, int64_t queue_us,
                     int64_t handle_us)
{
    brk_mon_api_t *a = brk__mon_api(mon, api);
    if (!a) {
        return;
    }
    int v = brk__mon_ver(ver);
    atomic_fetch_add_explicit(&a->requests[v], 1, memory_order_relaxed);
    sl_hist_observe(&a->queue[v], brk__lat_bounds, BRK_LAT_N, queue_us);
    sl_hist_observe(&a->handle[v], brk__lat_bounds, BRK_LAT_N, handle_us);
}

void brk_mon_sent(brk_mon_t *mon, int16_t api, int16_t ver, int64_t send_us)
{
    brk_mon_api_t *a = brk__mon_api(mon, api);
    if (a) {
        sl_hist_observe(&a->send[brk__mon_ver(ver)], brk__lat_bounds, BRK_LAT_N, send_us);
    }
}

void brk_mon_error(brk_mon_t *mon, int16_t api, int16_t ver, int16_t code)
{
    brk_mon_api_t *a = brk__mon_api(mon, api);
    if (a) {
        int i = code + 1 >= 0 && code + 1 < BRK_MON_ERRCODES_MAX ? code + 1 : 0;
        atomic_fetch_add_explicit(&a->errors[brk__mon_ver(ver)][i], 1, memory_order_relaxed);
    }
}

void brk_mon_fsync(brk_mon_t *mon, int64_t us, int64_t records)
{
    if (!mon) {
        return;
    }
    sl_hist_observe(&mon->fsync, brk__lat_bounds, BRK_LAT_N, us);
    atomic_fetch_add_explicit(&mon->fsync_records, (uint64_t)SL_MAX(records, 0),
                              memory_order_relaxed);
}

void brk_mon_conn(brk_mon_t *mon, int listener, bool open)
{
    if (!mon || listener < 0 || listener >= BRK_LISTENERS_MAX) {
        return;
    }
    brk_ctr_t *c = open ? &mon->conns_opened[listener] : &mon->conns_closed[listener];
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void brk_mon_auth_failed(brk_mon_t *mon, int mech)
{
    if (!mon) {
        return;
    }
    int i = mech >= 0 && mech < SNET_MECH_COUNT ? mech : SNET_MECH_COUNT;
    atomic_fetch_add_explicit(&mon->auth_failed[i], 1, memory_order_relaxed);
}

void brk_mon_txn_done(brk_mon_t *mon, bool committed)
{
    if (!mon) {
        return;
    }
    atomic_fetch_add_explicit(committed ? &mon->txn_committed : &mon->txn_aborted, 1,
                              memory_order_relaxed);
}

void brk_mon_cleaned(brk_mon_t *mon, int64_t bytes)
{
    if (!mon) {
        return;
    }
    atomic_fetch_add_explicit(&mon->clean_runs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mon->clean_bytes, (uint64_t)SL_MAX(bytes, 0),
                              memory_order_relaxed);
}

static uint64_t brk__ld(brk_ctr_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the snapshot (Thread: loop) ---- */

static void brk__snap_free(brk_mon_snap_t *snap)
{
    if (!snap) {
        return;
    }
    for (int32_t i = 0; i < snap->ntopics; i++) {
        free(snap->topics[i]);
    }
    for (int32_t i = 0; i < snap->ngroups; i++) {
        free(snap->groups[i].id);
    }
    for (int64_t i = 0; i < snap->nlags; i++) {
        free(snap->lags[i].topic);
    }
    free(snap->topics);
    free(snap->parts);
    free(snap->groups);
    free(snap->lags);
    free(snap);
}

static void brk__snap_parts(brk_t *brk, brk_mon_snap_t *snap, int64_t now_ms)
{
    int64_t nparts = 0;
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        nparts += t->npart;
    }
    snap->topics = sl_xcalloc((size_t)brk->ntopics + 1, sizeof *snap->topics);
    snap->parts = sl_xcalloc((size_t)nparts + 1, sizeof *snap->parts);
    for (brk_topic_t *t = brk->topics; t && snap->ntopics < brk->ntopics; t = t->next) {
        int32_t ti = snap->ntopics++;
        snap->topics[ti] = sl_xstrdup(t->name);
        for (int32_t p = 0; p < t->npart && snap->nparts < nparts; p++) {
            brk_part_t *part = t->parts[p];
            brk_mon_part_t *mp = &snap->parts[snap->nparts++];
            mp->topic = ti;
            mp->index = part->index;
            mp->records_in = part->mon_records_in;
            mp->bytes_in = part->mon_bytes_in;
            mp->bytes_out = part->mon_bytes_out;
            mp->hw = brk_part_hw(brk, part);
            mp->start = slog_part_start_offset(part->log);
            mp->size = slog_part_size_bytes(part->log);
            mp->segments = slog_part_segment_count(part->log);
            mp->offline = slog_part_failed(part->log) != 0;
            mp->dirty = t->log.cleanup_compact ? slog_part_dirty_ratio(part->log, now_ms) : -1;
            snap->offline += mp->offline;
            snap->log_bytes += mp->size;
        }
    }
}

/* Groups, and the lag of each committed offset (high watermark minus the offset). */
static void brk__snap_groups(brk_t *brk, brk_mon_snap_t *snap)
{
    snap->groups = sl_xcalloc((size_t)brk->ngroups + 1, sizeof *snap->groups);
    int64_t cap = 0;
    for (brk_group_t *grp = brk->groups_list; grp && snap->ngroups < brk->ngroups;
         grp = brk_group_next(grp)) {
        int32_t gi = snap->ngroups++;
        brk_mon_group_t *mg = &snap->groups[gi];
        brk_group_mon(grp, &mg->state, &mg->members, &mg->rebalances);
        mg->id = sl_xstrdup(brk_group_id(grp));
        brk_otab_t *tab = brk_offsets_of(brk, kproto_str(mg->id));
        for (int32_t i = 0; tab && i < tab->n; i++) {
            const brk_offset_t *o = &tab->items[i];
            brk_part_t *part = brk_part_find(brk, kproto_str(o->topic), o->partition);
            if (!part) {
                continue;
            }
            if (snap->nlags >= BRK_MON_LAGS_MAX) {
                snap->lags_omitted++;
                continue;
            }
            if (snap->nlags == cap) {
                cap = cap ? cap * 2 : 64;
                snap->lags = sl_xrealloc(snap->lags, (size_t)cap * sizeof *snap->lags);
            }
            brk_mon_lag_t *l = &snap->lags[snap->nlags++];
            l->group = gi;
            l->topic = sl_xstrdup(o->topic);
            l->partition = o->partition;
            l->lag = SL_MAX(brk_part_hw(brk, part) - o->offset, (int64_t)0);
        }
    }
}

static brk_mon_snap_t *brk__snap_take(brk_t *brk)
{
    brk_mon_snap_t *snap = sl_xcalloc(1, sizeof *snap);
    brk__snap_parts(brk, snap, snet_loop_now_ms(brk->loop));
    brk__snap_groups(brk, snap);
    snap->txns_open = brk_txns_open_count(brk);
    for (int i = 0; i < BRK_LISTENERS_MAX; i++) {
        snap->conns_open[i] = (int64_t)(brk__ld(&brk->mon->conns_opened[i]) -
                                        brk__ld(&brk->mon->conns_closed[i]));
    }
    for (int i = 0; i < brk->nlsts; i++) { /* the listener may close at stop: copy its port */
        const char *name, *proto, *host;
        brk_listener_addr(brk, i, &name, &proto, &host, &snap->listener_ports[i]);
    }
    return snap;
}

static void brk__mon_on_efd(void *ctx)
{
    brk_mon_t *mon = ctx;
    uint64_t n;
    ssize_t r = read(mon->efd, &n, sizeof n);
    SL_UNUSED(r);
    pthread_mutex_lock(&mon->mu);
    uint64_t want = mon->want;
    bool serve = want != mon->done;
    pthread_mutex_unlock(&mon->mu);
    if (!serve) {
        return;
    }
    int64_t t0 = sl_time_mono_us();
    brk_mon_snap_t *snap = brk__snap_take(mon->brk);
    int64_t took = sl_time_mono_us() - t0, nparts = snap->nparts;
    pthread_mutex_lock(&mon->mu);
    brk_mon_snap_t *old = mon->snap;
    mon->snap = snap;
    mon->done = want;
    pthread_cond_broadcast(&mon->cv);
    pthread_mutex_unlock(&mon->mu);
    brk__snap_free(old); /* nobody took it (its asker gave up) */
    /* snap is the admin thread's from here on */
    SL_LOGD("admin", "metrics snapshot of %lld partitions copied on the loop in %.2f ms",
            (long long)nparts, (double)took / 1000.0);
}

/* Asks the loop for a snapshot and waits for it (BRK_MON_SNAP_WAIT_MS at most). The caller
 * owns the result; NULL when the loop did not answer or is stopping. Thread: not loop. */
static brk_mon_snap_t *brk__snap_get(brk_mon_t *mon)
{
    pthread_mutex_lock(&mon->mu);
    uint64_t want = ++mon->want;
    uint64_t one = 1;
    ssize_t w = write(mon->efd, &one, sizeof one);
    SL_UNUSED(w);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BRK_MON_SNAP_WAIT_MS / 1000;
    int rc = 0;
    while (!mon->closed && mon->done < want && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&mon->cv, &mon->mu, &until);
    }
    brk_mon_snap_t *snap = NULL;
    if (!mon->closed && mon->done >= want) {
        snap = mon->snap;
        mon->snap = NULL;
    }
    pthread_mutex_unlock(&mon->mu);
    return snap;
}

int brk_mon_new(brk_t *brk, snet_loop_t *loop, brk_mon_t **out)
{
    brk_mon_t *mon = sl_xcalloc(1, sizeof *mon);
    mon->brk = brk;
    mon->start_wall_ms = sl_time_wall_ms();
    mon->start_mono_us = sl_time_mono_us();
    pthread_mutex_init(&mon->mu, NULL);
    pthread_cond_init(&mon->cv, NULL);
    mon->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = mon->efd < 0 ? -errno : snet_loop_watch(loop, mon->efd, brk__mon_on_efd, mon);
    if (rc != 0) {
        if (mon->efd >= 0) {
            close(mon->efd);
        }
        free(mon);
        return rc;
    }
    *out = mon;
    return 0;
}

void brk_mon_close(brk_mon_t *mon)
{
    if (!mon) {
        return;
    }
    pthread_mutex_lock(&mon->mu);
    mon->closed = true;
    pthread_cond_broadcast(&mon->cv);
    pthread_mutex_unlock(&mon->mu);
}

void brk_mon_free(brk_mon_t *mon)
{
    if (!mon) {
        return;
    }
    close(mon->efd);
    brk__snap_free(mon->snap);
    pthread_cond_destroy(&mon->cv);
    pthread_mutex_destroy(&mon->mu);
    free(mon);
}

/* ---- Prometheus text (Thread: admin) ---- */

/* Resident set size in bytes (/proc/self/statm) and open descriptors (/proc/self/fd). */
static void brk__proc_stats(int64_t *rss, int64_t *fds)
{
    *rss = *fds = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long long size = 0, res = 0;
        if (fscanf(f, "%lld %lld", &size, &res) == 2) {
            *rss = res * sysconf(_SC_PAGESIZE);
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *de; (de = readdir(d));) {
            *fds += de->d_name[0] != '.';
        }
        closedir(d);
        *fds -= 1; /* the directory's own descriptor */
    }
}

static void brk__prom_process(brk_mon_t *mon, sl_text_t *t, const brk_mon_snap_t *snap)
{
    int64_t rss, fds;
    brk__proc_stats(&rss, &fds);
    sl_prom_metric(t, "gauge", "sluice_process_resident_memory_bytes",
                   "Resident set size of the broker process.", "", (uint64_t)rss);
    sl_prom_metric(t, "gauge", "sluice_process_open_fds", "Open file descriptors.", "",
                   (uint64_t)SL_MAX(fds, 0));
    sl_prom_head(t, "gauge", "sluice_uptime_seconds", "Seconds since the broker started.");
    sl_prom_f64(t, "sluice_uptime_seconds", "",
                (double)(sl_time_mono_us() - mon->start_mono_us) / 1e6);
    sl_prom_metric(t, "gauge", "sluice_partitions", "Partitions of every topic.", "",
                   (uint64_t)snap->nparts);
    sl_prom_metric(t, "gauge", "sluice_offline_partitions",
                   "Partitions taken offline by an I/O error (reads go on, writes are refused).",
                   "", (uint64_t)snap->offline);
    sl_prom_metric(t, "gauge", "sluice_log_size_bytes", "Bytes of every partition log.", "",
                   (uint64_t)snap->log_bytes);
}

/* One per-partition family: HELP/TYPE, then a sample per partition (at most max). */
static void brk__prom_part_family(sl_text_t *t, const brk_mon_snap_t *snap, int64_t max,
                                  const char *type, const char *name, const char *help, int which)
{
    sl_prom_head(t, type, name, help);
    for (int64_t i = 0; i < snap->nparts && i < max; i++) {
        const brk_mon_part_t *mp = &snap->parts[i];
        char labels[512];
        snprintf(labels, sizeof labels, "{topic=\"%s\",partition=\"%d\"}",
                 snap->topics[mp->topic], (int)mp->index);
        if (which == 7) {
            if (mp->dirty >= 0) {
                sl_prom_f64(t, name, labels, mp->dirty);
            }
            continue;
        }
        uint64_t v = which == 0   ? mp->records_in
                     : which == 1 ? mp->bytes_in
                     : which == 2 ? mp->bytes_out
                     : which == 3 ? (uint64_t)mp->hw
                     : which == 4 ? (uint64_t)mp->start
                     : which == 5 ? (uint64_t)mp->size
                                  : (uint64_t)mp->segments;
        sl_prom_u64(t, name, labels, v);
    }
}

static void brk__prom_parts(sl_text_t *t, const brk_mon_snap_t *snap, int64_t max)
{
    static const struct {
        const char *type, *name, *help;
    } fams[] = {
        {"counter", "sluice_partition_records_in_total", "Records appended by Produce."},
        {"counter", "sluice_partition_bytes_in_total", "Record batch bytes appended by Produce."},
        {"counter", "sluice_partition_bytes_out_total", "Record batch bytes served by Fetch."},
        {"gauge", "sluice_partition_high_watermark", "High watermark (next offset readable)."},
        {"gauge", "sluice_partition_log_start_offset", "First offset of the log."},
        {"gauge", "sluice_partition_size_bytes", "Bytes of the partition's segment files."},
        {"gauge", "sluice_partition_segments", "Segment files of the partition."},
        {"gauge", "sluice_partition_dirty_ratio",
         "Compacted topics: share of the log not yet cleaned (0 to 1)."},
    };
    for (int f = 0; f < (int)SL_ARRAY_LEN(fams); f++) {
        brk__prom_part_family(t, snap, max, fams[f].type, fams[f].name, fams[f].help, f);
    }
    sl_prom_metric(t, "gauge", "sluice_metrics_partitions_omitted",
                   "Partitions whose series were left out (admin.metrics.partitions.max).", "",
                   (uint64_t)SL_MAX(snap->nparts - max, (int64_t)0));
}

static void brk__prom_api_hist(sl_text_t *t, brk_mon_t *mon, const char *name, const char *help,
                               int which)
{
    sl_prom_head(t, "histogram", name, help);
    for (int k = 0; k < BRK_MON_APIS; k++) {
        for (int v = 0; v < BRK_MON_VERSIONS_MAX; v++) {
            brk_mon_api_t *a = &mon->api[k];
            sl_hist_t *h = which == 0 ? &a->queue[v] : which == 1 ? &a->handle[v] : &a->send[v];
            if (kmsg_apis[k].name && sl_hist_any(h, BRK_LAT_N)) {
                char labels[128];
                snprintf(labels, sizeof labels, "api=\"%s\",version=\"%d\"", kmsg_apis[k].name,
                         v);
                sl_prom_hist_series(t, name, labels, h, brk__lat_bounds, BRK_LAT_N);
            }
        }
    }
}

static void brk__prom_apis(sl_text_t *t, brk_mon_t *mon)
{
    sl_prom_head(t, "counter", "sluice_requests_total", "Requests decoded, by API and version.");
    for (int k = 0; k < BRK_MON_APIS; k++) {
        for (int v = 0; v < BRK_MON_VERSIONS_MAX; v++) {
            uint64_t n = brk__ld(&mon->api[k].requests[v]);
            if (n && kmsg_apis[k].name) {
                char labels[128];
                snprintf(labels, sizeof labels, "{api=\"%s\",version=\"%d\"}",
                         kmsg_apis[k].name, v);
                sl_prom_u64(t, "sluice_requests_total", labels, n);
            }
        }
    }
    sl_prom_head(t, "counter", "sluice_request_errors_total",
                 "Non-zero error codes in answers, by API, version and Kafka error code (each "
                 "place one appears counts: a partition, a topic, the whole answer).");
    for (int k = 0; k < BRK_MON_APIS; k++) {
        for (int v = 0; v < BRK_MON_VERSIONS_MAX && kmsg_apis[k].name; v++) {
            for (int c = 0; c < BRK_MON_ERRCODES_MAX; c++) {
                uint64_t n = brk__ld(&mon->api[k].errors[v][c]);
                if (n) {
                    char labels[128];
                    snprintf(labels, sizeof labels, "{api=\"%s\",version=\"%d\",code=\"%d\"}",
                             kmsg_apis[k].name, v, c - 1);
                    sl_prom_u64(t, "sluice_request_errors_total", labels, n);
                }
            }
        }
    }
    brk__prom_api_hist(t, mon, "sluice_request_queue_seconds",
                       "From a request's frame read to its handler (decoding, checks).", 0);
    brk__prom_api_hist(t, mon, "sluice_request_handle_seconds",
                       "From the handler to the answer queued (long-poll and fsync waits "
                       "included).", 1);
    brk__prom_api_hist(t, mon, "sluice_request_send_seconds",
                       "From the answer queued to its last byte written (behind earlier "
                       "answers on the connection too).", 2);
}

static void brk__prom_net(sl_text_t *t, brk_mon_t *mon, const brk_mon_snap_t *snap)
{
    brk_t *brk = mon->brk;
    sl_prom_head(t, "gauge", "sluice_connections", "Open client connections, by listener.");
    for (int i = 0; i < brk->nlsts; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "{listener=\"%s\"}", brk->lsts[i].conf->name);
        sl_prom_u64(t, "sluice_connections", labels, (uint64_t)SL_MAX(snap->conns_open[i], 0));
    }
    sl_prom_head(t, "counter", "sluice_connections_accepted_total",
                 "Connections accepted, by listener.");
    for (int i = 0; i < brk->nlsts; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "{listener=\"%s\"}", brk->lsts[i].conf->name);
        sl_prom_u64(t, "sluice_connections_accepted_total", labels,
                    brk__ld(&mon->conns_opened[i]));
    }
    sl_prom_head(t, "counter", "sluice_authentication_failures_total",
                 "Failed SASL authentications, by mechanism.");
    for (int m = 0; m < BRK_MON_MECHS; m++) {
        char labels[128];
        snprintf(labels, sizeof labels, "{mechanism=\"%s\"}",
                 m < SNET_MECH_COUNT ? snet_mech_name((snet_mech_t)m) : "unknown");
        sl_prom_u64(t, "sluice_authentication_failures_total", labels,
                    brk__ld(&mon->auth_failed[m]));
    }
}

static void brk__prom_groups(sl_text_t *t, const brk_mon_snap_t *snap)
{
    static const char *states[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                   "Stable", "Dead"};
    char id[512], topic[512], labels[1200];
    sl_prom_head(t, "gauge", "sluice_group_state",
                 "1 for the consumer group's current state, 0 for the others.");
    for (int32_t g = 0; g < snap->ngroups; g++) {
        sl_prom_esc(id, sizeof id, snap->groups[g].id, strlen(snap->groups[g].id));
        for (size_t s = 0; s < SL_ARRAY_LEN(states); s++) {
            snprintf(labels, sizeof labels, "{group=\"%s\",state=\"%s\"}", id, states[s]);
            sl_prom_u64(t, "sluice_group_state", labels,
                        strcmp(states[s], snap->groups[g].state) == 0);
        }
    }
    sl_prom_head(t, "gauge", "sluice_group_members", "Members of the consumer group.");
    for (int32_t g = 0; g < snap->ngroups; g++) {
        sl_prom_esc(id, sizeof id, snap->groups[g].id, strlen(snap->groups[g].id));
        snprintf(labels, sizeof labels, "{group=\"%s\"}", id);
        sl_prom_u64(t, "sluice_group_members", labels, (uint64_t)snap->groups[g].members);
    }
    sl_prom_head(t, "counter", "sluice_group_rebalances_total",
                 "Rebalances the group completed since the broker started.");
    for (int32_t g = 0; g < snap->ngroups; g++) {
        sl_prom_esc(id, sizeof id, snap->groups[g].id, strlen(snap->groups[g].id));
        snprintf(labels, sizeof labels, "{group=\"%s\"}", id);
        sl_prom_u64(t, "sluice_group_rebalances_total", labels, snap->groups[g].rebalances);
    }
    sl_prom_head(t, "gauge", "sluice_group_lag",
                 "High watermark minus the group's committed offset, per partition.");
    for (int64_t i = 0; i < snap->nlags; i++) {
        const brk_mon_lag_t *l = &snap->lags[i];
        const char *gid = snap->groups[l->group].id;
        sl_prom_esc(id, sizeof id, gid, strlen(gid));
        sl_prom_esc(topic, sizeof topic, l->topic, strlen(l->topic));
        snprintf(labels, sizeof labels, "{group=\"%s\",topic=\"%s\",partition=\"%d\"}", id,
                 topic, (int)l->partition);
        sl_prom_u64(t, "sluice_group_lag", labels, (uint64_t)l->lag);
    }
    sl_prom_metric(t, "gauge", "sluice_group_lag_omitted",
                   "Committed offsets whose lag was left out (over the bound).", "",
                   (uint64_t)snap->lags_omitted);
}

static void brk__prom_log(sl_text_t *t, brk_mon_t *mon, const brk_mon_snap_t *snap)
{
    sl_prom_hist(t, "sluice_log_fsync_seconds",
                 "Group-commit sync jobs (fdatasync of a partition's unsynced segment files).",
                 &mon->fsync, brk__lat_bounds, BRK_LAT_N);
    sl_prom_metric(t, "counter", "sluice_log_fsync_records_total",
                   "Records made durable by sync jobs (divide by sluice_log_fsync_seconds_count "
                   "for records per fsync).", "", brk__ld(&mon->fsync_records));
    sl_prom_metric(t, "gauge", "sluice_transactions_open",
                   "Transactions ongoing or being completed.", "", (uint64_t)snap->txns_open);
    sl_prom_metric(t, "counter", "sluice_transactions_committed_total",
                   "Transactions committed.", "", brk__ld(&mon->txn_committed));
    sl_prom_metric(t, "counter", "sluice_transactions_aborted_total",
                   "Transactions aborted (by the producer or timed out).", "",
                   brk__ld(&mon->txn_aborted));
    sl_prom_metric(t, "counter", "sluice_cleaner_runs_total", "Log cleaner passes completed.",
                   "", brk__ld(&mon->clean_runs));
    sl_prom_metric(t, "counter", "sluice_cleaner_bytes_total",
                   "Bytes read by the log cleaner's passes.", "", brk__ld(&mon->clean_bytes));
}

char *brk_admin_metrics(brk_t *brk)
{
    brk_mon_snap_t *snap = brk__snap_get(brk->mon);
    if (!snap) {
        return NULL;
    }
    sl_text_t t;
    sl_text_init(&t);
    brk__prom_process(brk->mon, &t, snap);
    brk__prom_parts(&t, snap, brk->conf.mon_parts_max);
    brk__prom_apis(&t, brk->mon);
    brk__prom_net(&t, brk->mon, snap);
    brk__prom_groups(&t, snap);
    brk__prom_log(&t, brk->mon, snap);
    brk__snap_free(snap);
    return t.p;
}

/* ---- readiness and status (Thread: admin) ---- */

/* Whether a file can be created, written and synced in the data dir (then removed). */
static int brk__dir_writable(const char *dir)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/.admin-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    char block[4096];
    memset(block, 0, sizeof block);
    int rc = write(fd, block, sizeof block) == (ssize_t)sizeof block ? 0 : -(errno ? errno : EIO);
    if (rc == 0 && fdatasync(fd) != 0) {
        rc = -errno;
    }
    close(fd);
    unlink(path);
    return rc;
}

bool brk_admin_ready(brk_t *brk, char *why, size_t len)
{
    brk_mon_snap_t *snap = brk__snap_get(brk->mon);
    if (!snap) {
        snprintf(why, len, "the broker's loop did not answer within %d ms (stopping or busy)",
                 BRK_MON_SNAP_WAIT_MS);
        return false;
    }
    int64_t offline = snap->offline;
    brk__snap_free(snap);
    int rc = brk__dir_writable(brk->conf.data_dir);
    int n = 0;
    why[0] = '\0';
    if (rc != 0) {
        n = snprintf(why, len, "the data dir %s is not writable: %s", brk->conf.data_dir,
                     sl_strerror(rc));
    }
    if (offline > 0 && n >= 0 && (size_t)n < len) {
        snprintf(why + n, len - (size_t)n, "%s%lld partition(s) offline", n ? "; " : "",
                 (long long)offline);
    }
    if (!why[0]) {
        snprintf(why, len, "ready");
    }
    return rc == 0 && offline == 0;
}

int brk_admin_status(brk_t *brk, brk_status_t *st)
{
    brk_mon_snap_t *snap = brk__snap_get(brk->mon);
    if (!snap) {
        return SL_EAGAIN;
    }
    memset(st, 0, sizeof *st);
    st->uptime_s = (double)(sl_time_mono_us() - brk->mon->start_mono_us) / 1e6;
    st->data_dir = brk->conf.data_dir;
    st->log_bytes = snap->log_bytes;
    st->topics = snap->ntopics;
    st->partitions = snap->nparts;
    st->offline = snap->offline;
    st->groups = snap->ngroups;
    st->nlisteners = brk->nlsts;
    for (int i = 0; i < brk->nlsts; i++) {
        const brk_lst_t *l = &brk->lsts[i];
        st->listeners[i].name = l->conf->name;
        st->listeners[i].proto = brk_proto_name(l->conf->proto);
        st->listeners[i].host = l->conf->host;
        st->listeners[i].port = snap->listener_ports[i];
    }
    struct statvfs vfs;
    if (statvfs(brk->conf.data_dir, &vfs) == 0) {
        st->fs_total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
        st->fs_free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    }
    brk__snap_free(snap);
    return 0;
}
