/* Broker lifecycle: configuration, the data dir (lock, meta.properties with the cluster id),
 * topic recovery, the listener and the flusher; periodic retention and interval flushes; and
 * a graceful stop: stop accepting, answer waiting fetches, let in-flight produces become
 * durable and be answered, then close every log cleanly. */
#include "brk_auth.h"
#include "brk_authz.h"
#include "brk_cleaner.h"
#include "brk_conf.h"
#include "brk_create.h"
#include "brk_fetch.h"
#include "brk_flush.h"
#include "brk_group.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_mon.h"
#include "brk_offsets.h"
#include "brk_part.h"
#include "brk_storage.h"
#include "brk_topics.h"
#include "brk_txn.h"
#include "brk_users.h"
#include "brk_workq.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#define BRK_SHUTDOWN_GRACE_MS 5000


/* Reads or creates <data>/meta.properties (cluster.id, node.id), as Kafka keeps them. */
static int brk__meta(brk_t *brk, char *err, size_t err_len)
{
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/meta.properties", brk->conf.data_dir);
    sl_props_t *props = sl_props_new();
    int rc = sl_props_load(props, path, err, err_len);
    if (rc != 0 && rc != -ENOENT) {
        size_t n = strlen(err);
        snprintf(err + n, err_len - n, " (%s: restore it, or remove it to start with a new "
                 "cluster id)", path);
    }
    if (rc == 0) {
        const char *id = sl_props_get(props, "cluster.id");
        if (!id || strlen(id) >= sizeof brk->cluster_id) {
            snprintf(err, err_len, "%s: missing or bad cluster.id (restore the file, or remove "
                     "it to start with a new cluster id)", path);
            rc = SL_ECORRUPT;
        } else {
            snprintf(brk->cluster_id, sizeof brk->cluster_id, "%s", id);
        }
    } else if (rc == -ENOENT) {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t raw[22];
        rc = getrandom(raw, sizeof raw, 0) == (ssize_t)sizeof raw ? 0 : -EIO;
        for (size_t i = 0; i < sizeof raw; i++) {
            brk->cluster_id[i] = b64[raw[i] & 63];
        }
        brk->cluster_id[22] = '\0';
        char text[256];
        int n = snprintf(text, sizeof text, "version=1\ncluster.id=%s\nnode.id=%d\n",
                         brk->cluster_id, (int)brk->conf.node_id);
        if (rc == 0) {
            rc = sl_fs_write_atomic(path, text, (size_t)n);
        }
        if (rc != 0) {
            snprintf(err, err_len, "%s: %s", path, sl_strerror(rc));
        }
    }
    sl_props_free(props);
    return rc;
}

/* Takes an exclusive lock on <data>/.lock so two brokers never share a data dir. */
static int brk__lock(brk_t *brk, char *err, size_t err_len)
{
    int rc = sl_fs_mkdirs(brk->conf.data_dir);
    if (rc != 0) {
        snprintf(err, err_len, "cannot create data dir %s: %s", brk->conf.data_dir, sl_strerror(rc));
        return rc;
    }
    char path[BRK_PATH_BUF];
    snprintf(path, sizeof path, "%s/.lock", brk->conf.data_dir);
    brk->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 
                  (mode_t)sl_fs_file_mode());
    if (brk->lock_fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "cannot open %s: %s", path, sl_strerror(rc));
        return rc;
    }
    if (flock(brk->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = -errno;
        snprintf(err, err_len, "data dir %s is in use by another broker (%s is locked)",
                 brk->conf.data_dir, path);
        return rc;
    }
    return 0;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit (logged): every partition's active segment,
 * every connection and the fd cache need descriptors, and the default soft limit (1024) is
 * sized for programs that open few files. Then bounds the segment fd cache
 * (log.segment.fd.cache.max) to half of the limit, so connections keep the other half. */
static void brk__fd_limits(brk_t *brk)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = was;
        }
    }
    int64_t limit = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
    int64_t cache = SL_MIN(brk->conf.fd_cache_max, SL_MAX(limit / 2, (int64_t)SLOG_FD_CACHE_MIN));
    slog_fd_cache_set_max(cache);
    SL_LOGI("broker", "open files limit %lld (soft limit was %lld); segment fd cache %lld "
            "(log.segment.fd.cache.max %lld)", (long long)limit, (long long)was,
            (long long)cache, (long long)brk->conf.fd_cache_max);
}

static void brk__housekeep(void *ctx)
{
    brk_t *brk = ctx;
    int64_t now = sl_time_wall_ms();
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        for (int32_t p = 0; p < t->npart; p++) {
            int n = slog_part_housekeep(t->parts[p]->log, now);
            if (n > 0) {
                SL_LOGI("retention", "%s-%d: deleted %d segment(s); log starts at %lld", t->name,
                        (int)p, n, (long long)slog_part_start_offset(t->parts[p]->log));
            }
        }
    }
    brk_groups_housekeep(brk, now);
    int64_t every = SL_MIN(brk->conf.retention_check_interval_ms, (int64_t)60000);
    brk->housekeep_timer = snet_timer_start(brk->loop, every, brk__housekeep, brk);
}

static void brk__kick_all(brk_t *brk)
{
    if (brk->offsets) {
        brk_flush_kick(brk, brk_offsets_log(brk));
    }
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        for (int32_t p = 0; p < t->npart; p++) {
            brk_flush_kick(brk, t->parts[p]);
        }
    }
}

static void brk__flush_tick(void *ctx)
{
    brk_t *brk = ctx;
    brk__kick_all(brk);
    brk->flush_timer = snet_timer_start(brk->loop, brk->conf.flush_interval_ms, brk__flush_tick, brk);
}

bool brk_off_loop_busy(brk_t *brk)
{
    return brk_create_busy(brk) || brk_flush_busy(brk) ||
           (brk->offsets && brk_offsets_log(brk)->sync_inflight) ||
           (brk->sasl_workq && brk_workq_out(brk->sasl_workq) > 0);
}

static bool brk__drained(brk_t *brk)
{
    if (brk_create_busy(brk)) {
        return false;
    }
    if (brk->offsets && (brk_offsets_log(brk)->sync_inflight || brk_offsets_log(brk)->waiters)) {
        return false;
    }
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        for (int32_t p = 0; p < t->npart; p++) {
            if (t->parts[p]->sync_inflight || t->parts[p]->waiters) {
                return false;
            }
        }
    }
    return true;
}

static int64_t brk__stop_deadline;

static void brk__shutdown_poll(void *ctx)
{
    brk_t *brk = ctx;
    if (brk__drained(brk) || sl_time_mono_ms() > brk__stop_deadline) {
        snet_loop_stop(brk->loop);
        return;
    }
    snet_timer_start(brk->loop, 5, brk__shutdown_poll, brk);
}

static void brk__on_stop(void *ctx)
{
    brk_t *brk = ctx;
    uint64_t n;
    ssize_t r = read(brk->stop_fd, &n, sizeof n);
    SL_UNUSED(r);
    if (brk->stopping) {
        return;
    }
    SL_LOGI("broker", "stopping: no new connections; finishing in-flight requests");
    brk->stopping = true;
    for (int i = 0; i < brk->nlsts; i++) {
        snet_listener_close(brk->lsts[i].lst);
        brk->lsts[i].lst = NULL;
    }
    brk_fetch_flush_all(brk);
    brk_groups_fail_all(brk);
    brk__kick_all(brk);
    brk__stop_deadline = sl_time_mono_ms() + BRK_SHUTDOWN_GRACE_MS;
    brk__shutdown_poll(brk);
}

/* The TLS context shared by SSL and SASL_SSL listeners, when there is one. */
static int brk__tls(brk_t *brk, char *err, size_t err_len)
{
    bool need = false;
    for (int i = 0; i < brk->conf.nlisteners; i++) {
        brk_secproto_t p = brk->conf.listeners[i].proto;
        need |= p == BRK_PROTO_SSL || p == BRK_PROTO_SASL_SSL;
    }
    if (!need) {
        return 0;
    }
    snet_tls_conf_t tc = {
        .cert_chain = brk->conf.ssl_keystore_location ? brk->conf.ssl_keystore_location
                                                      : brk->conf.ssl_keystore_chain,
        .key = brk->conf.ssl_keystore_location ? NULL : brk->conf.ssl_keystore_key,
        .key_password = brk->conf.ssl_key_password,
        .ca = brk->conf.ssl_truststore,
        .client_auth = (snet_client_auth_t)brk->conf.ssl_client_auth,
    };
    return snet_tls_new(&tc, &brk->tls, err, err_len);
}

static int brk__listen_one(brk_t *brk, brk_lst_t *l, const brk_listener_conf_t *lc, char *err,
                           size_t err_len)
{
    l->brk = brk;
    l->conf = lc;
    int rc = snet_listen(brk->loop, lc->host, lc->port, &brk_conn_handler,
                         (size_t)brk->conf.socket_request_max_bytes, l, &l->lst);
    if (rc != 0) {
        snprintf(err, err_len, "cannot listen on %s:%d (listener %s): %s", lc->host, lc->port,
                 lc->name,
                 rc == SL_ENOTFOUND ? "the host name does not resolve (give an IP address or "
                                      "a name in /etc/hosts or DNS)"
                                    : sl_strerror(rc));
        return rc;
    }
    if (lc->proto == BRK_PROTO_SSL || lc->proto == BRK_PROTO_SASL_SSL) {
        snet_listener_set_tls(l->lst, brk->tls);
    }
    rc = snet_listener_set_local_cc(l->lst, brk->conf.local_cc);
    if (rc != 0) {
        snprintf(err, err_len, "socket.local.congestion.control=%s: %s (see "
                 "/proc/sys/net/ipv4/tcp_available_congestion_control and "
                 "tcp_allowed_congestion_control); empty keeps the system's default",
                 brk->conf.local_cc,
                 rc == -ENOENT  ? "not available in this kernel"
                 : rc == -EPERM ? "not allowed for a process without CAP_NET_ADMIN"
                                : sl_strerror(rc));
        snet_listener_close(l->lst);
        l->lst = NULL;
        return rc;
    }
    const char *host = lc->adv_host[0] ? lc->adv_host : lc->host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
        if (gethostname(l->adv_host, sizeof l->adv_host) != 0) {
            snprintf(l->adv_host, sizeof l->adv_host, "127.0.0.1");
        }
    } else {
        snprintf(l->adv_host, sizeof l->adv_host, "%s", host);
    }
    l->adv_port = lc->adv_port ? lc->adv_port : snet_listener_port(l->lst);
    return 0;
}

static int brk__listen(brk_t *brk, char *err, size_t err_len)
{
    int rc = brk__tls(brk, err, err_len);
    for (int i = 0; rc == 0 && i < brk->conf.nlisteners; i++) {
        rc = brk__listen_one(brk, &brk->lsts[i], &brk->conf.listeners[i], err, err_len);
        brk->nlsts += rc == 0;
    }
    if (rc != 0) {
        return rc;
    }
    snprintf(brk->advertised_host, sizeof brk->advertised_host, "%s", brk->lsts[0].adv_host);
    brk->advertised_port = brk->lsts[0].adv_port;
    if (brk->conf.queued_max_request_bytes > 0) {
        snet_loop_set_request_bytes_max(brk->loop, (size_t)brk->conf.queued_max_request_bytes);
    }
    return 0;
}

int brk_new(const sl_props_t *props, brk_t **out, char *err, size_t err_len)
{
    brk_t *brk = sl_xcalloc(1, sizeof *brk);
    brk->lock_fd = -1;
    brk->stop_fd = -1;
    int rc = brk_conf_parse(props, &brk->conf, err, err_len);
    if (rc == 0) {
        sl_fs_set_dir_mode(brk->conf.dir_mode);
        brk__fd_limits(brk);
        rc = brk__lock(brk, err, err_len);
    }
    if (rc == 0) {
        rc = brk__meta(brk, err, err_len);
    }
    if (rc == 0) {
        brk->loop = snet_loop_new();
        rc = brk->loop ? brk_mon_new(brk, brk->loop, &brk->mon) : -ENOMEM;
    }
    if (rc == 0) {
        rc = brk_flusher_new(brk, brk->conf.flush_threads, brk_part_synced, &brk->flusher);
    }
    if (rc == 0) {
        brk_fetch_start(brk);
    }
    if (rc == 0) {
        rc = brk_sasl_start(brk);
        if (rc != 0) {
            snprintf(err, err_len, "cannot start the SASL verifier thread: %s", sl_strerror(rc));
        }
    }
    if (rc == 0) {
        rc = brk_create_start(brk);
        if (rc != 0) {
            snprintf(err, err_len, "cannot start the topic creation thread: %s", sl_strerror(rc));
        }
    }
    if (rc == 0 && brk->conf.cleaner_enable) {
        rc = brk_cleaner_new(brk, &brk->cleaner);
    }
    if (rc == 0) {
        int64_t t0 = sl_time_mono_us();
        rc = brk_topics_load(brk, err, err_len);
        if (rc == 0) {
            rc = brk_groups_open(brk, err, err_len);
        }
        if (rc == 0) {
            rc = brk_authz_open(brk, err, err_len);
        }
        if (rc == 0) {
            rc = brk_txns_open(brk, err, err_len);
        }
        if (rc == 0) {
            SL_LOGI("broker", "loaded %d topic(s) from %s in %.1f ms", brk->ntopics,
                    brk->conf.data_dir, (double)(sl_time_mono_us() - t0) / 1000.0);
        }
    }
    if (rc == 0) {
        rc = brk_users_open(brk->conf.data_dir, &brk->users, err, err_len);
    }
    if (rc == 0) {
        rc = brk__listen(brk, err, err_len);
    }
    if (rc == 0) {
        brk->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rc = brk->stop_fd < 0 ? -errno : snet_loop_watch(brk->loop, brk->stop_fd, brk__on_stop, brk);
    }
    if (rc != 0) {
        brk_free(brk);
        return rc;
    }
    /* What an unclean stop left past a partition's recovery point (verified, maybe only in the
     * page cache) becomes durable in the background: opening did not wait for it. */
    brk__kick_all(brk);
    *out = brk;
    return 0;
}

int brk_run(brk_t *brk)
{
    static const char *policies[] = {"always", "interval", "never"};
    for (int i = 0; i < brk->nlsts; i++) {
        const brk_lst_t *l = &brk->lsts[i];
        SL_LOGI("broker", "listener %s (%s) on %s:%d (advertised %s:%d)", l->conf->name,
                brk_proto_name(l->conf->proto), l->conf->host, snet_listener_port(l->lst),
                l->adv_host, l->adv_port);
    }
    SL_LOGI("broker", "listening on %s:%d (advertised %s:%d), cluster %s, flush policy %s",
            brk->conf.listen_host, snet_listener_port(brk->lsts[0].lst), brk->advertised_host,
            brk->advertised_port, brk->cluster_id, policies[brk->conf.flush_policy]);
    brk__housekeep(brk);
    brk_conns_start(brk);
    brk_txns_start(brk);
    brk_storage_start(brk);
    if (brk->conf.flush_policy == BRK_FLUSH_INTERVAL) {
        brk->flush_timer = snet_timer_start(brk->loop, brk->conf.flush_interval_ms,
                                            brk__flush_tick, brk);
    }
    int rc = snet_loop_run(brk->loop);
    brk_mon_close(brk->mon); /* the admin endpoint's questions get no snapshot from now on */
    brk_conns_stop(brk);
    brk_storage_stop(brk);
    snet_timer_cancel(brk->loop, brk->housekeep_timer);
    brk->housekeep_timer = NULL;
    snet_timer_cancel(brk->loop, brk->flush_timer);
    brk->flush_timer = NULL;
    snet_loop_close_all(brk->loop);
    return rc;
}

void brk_stop_async(brk_t *brk)
{
    uint64_t one = 1;
    ssize_t w = write(brk->stop_fd, &one, sizeof one);
    SL_UNUSED(w);
}

void brk_free(brk_t *brk)
{
    if (!brk) {
        return;
    }
    if (brk->loop) {
        brk_fetch_flush_all(brk);
        snet_loop_close_all(brk->loop);
        brk_sasl_stop(brk);
        brk_create_stop(brk); /* topics being created: installed before the logs close */
    }
    if (brk->flusher) {
        brk_groups_close(brk);
        brk_cleaner_free(brk->cleaner);
        brk_topics_close(brk);
        brk_txns_close(brk);
        brk_flusher_free(brk->flusher);
        SL_LOGI("broker", "stopped; logs closed cleanly");
    }
    for (int i = 0; i < brk->nlsts; i++) {
        if (brk->lsts[i].lst) {
            snet_listener_close(brk->lsts[i].lst);
        }
    }
    snet_tls_free(brk->tls);
    brk_users_free(brk->users);
    brk_conf_deinit(&brk->conf);
    if (brk->stop_fd >= 0) {
        close(brk->stop_fd);
    }
    brk_mon_close(brk->mon);
    snet_loop_free(brk->loop);
    brk_mon_free(brk->mon); /* after the loop: answers freed with it count their send time */
    brk_authz_close(brk);
    if (brk->lock_fd >= 0) {
        close(brk->lock_fd);
    }
    free(brk);
}

void brk_set_clock(brk_t *brk, int64_t (*clock)(void *ctx), void *ctx)
{
    snet_loop_set_clock(brk->loop, clock, ctx);
}

int brk_poll(brk_t *brk, int timeout_ms)
{
    return snet_loop_run_once(brk->loop, timeout_ms);
}

int brk_port(const brk_t *brk)
{
    return brk->nlsts > 0 && brk->lsts[0].lst ? snet_listener_port(brk->lsts[0].lst)
                                              : brk->advertised_port;
}

const char *brk_host(const brk_t *brk)
{
    return brk->conf.listen_host;
}

int brk_listener_count(const brk_t *brk)
{
    return brk->nlsts;
}

void brk_listener_addr(const brk_t *brk, int i, const char **name, const char **proto,
                       const char **host, int *port)
{
    const brk_lst_t *l = &brk->lsts[i];
    *name = l->conf->name;
    *proto = brk_proto_name(l->conf->proto);
    *host = l->conf->host;
    *port = l->lst ? snet_listener_port(l->lst) : l->adv_port;
}
