/* The broker: owns the loop, the topic registry, the flusher and the listener.
 * Thread: loop (the thread that calls brk_run), except brk_stop_async. */
#ifndef BRK_H
#define BRK_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_props.h"

typedef struct brk brk_t;

/* Builds a broker from Kafka-named properties (defaults for what is absent). Validates every
 * known key; warns once about unknown ones. On error writes a message to err and returns
 * SL_EINVAL, or -errno when the data dir or port cannot be used. Opens and recovers the log.
 * The process must ignore SIGPIPE (sluice serve does): a client that closes while its answer is
 * written (writev, sendfile) would otherwise kill it. */
int brk_new(const sl_props_t *props, brk_t **out, char *err, size_t err_len);
/* Counts the keys of props that are no broker setting; for each, logs a warning when warn
 * and appends "'key' (did you mean known.key?)" (the hint when one is near) to out, comma
 * separated, truncated to out_len (out may be NULL when out_len is 0). */
int brk_conf_unknown_keys(const sl_props_t *props, bool warn, char *out, size_t out_len);
/* Serves until brk_stop_async; then stops accepting, finishes in-flight work, flushes and
 * closes. Returns 0 or -errno. */
int brk_run(brk_t *brk);
/* Async-signal-safe request to stop. Thread: any. */
void brk_stop_async(brk_t *brk);
void brk_free(brk_t *brk);
/* For tests and embedding: replace the monotonic clock that drives every broker timer
 * (sessions, rebalances, long polls), and run one loop iteration of at most timeout_ms. */
void brk_set_clock(brk_t *brk, int64_t (*clock)(void *ctx), void *ctx);
int brk_poll(brk_t *brk, int timeout_ms);
/* True while requests wait on work that runs on other threads: partitions being created,
 * sync jobs of partitions or of the offsets log, password checks. Tests that move a fake
 * clock give such work real time instead. Thread: loop. */
bool brk_off_loop_busy(brk_t *brk);
/* The bound port (useful with port 0). */
int brk_port(const brk_t *brk);
const char *brk_host(const brk_t *brk);
/* The listeners (`listeners`), in order: name, security protocol, host and bound port. */
int brk_listener_count(const brk_t *brk);
void brk_listener_addr(const brk_t *brk, int i, const char **name, const char **proto,
                       const char **host, int *port);

/* ---- the admin endpoint (sluice serve serves it over HTTP; mon.c) ----
 * Thread: any but the loop; each asks the loop for a snapshot of its state and waits for it
 * (BRK_MON_SNAP_WAIT_MS at most), so the loop only copies; the formatting runs here. */

/* Every metric in Prometheus text format (malloc'ed; the caller frees), or NULL when the loop
 * did not answer in time or is stopping. */
char *brk_admin_metrics(brk_t *brk);
/* Whether the broker is ready: its loop answers, no partition is offline and the data dir
 * takes a write and a sync (a 4 KiB probe file, removed). why gets "ready" or every reason
 * ("; " between them). */
bool brk_admin_ready(brk_t *brk, char *why, size_t len);

#define BRK_STATUS_LISTENERS_MAX 8 /* = BRK_LISTENERS_MAX (mon.c checks) */

typedef struct {
    double uptime_s;
    const char *data_dir; /* the broker's; valid while brk lives */
    int64_t log_bytes;    /* every partition log's segment files */
    int64_t fs_total_bytes, fs_free_bytes; /* the data dir's filesystem (statvfs) */
    int32_t topics, groups;
    int64_t partitions, offline;
    int nlisteners; /* as brk_listener_addr says, copied on the loop; strings live with brk */
    struct {
        const char *name, *proto, *host;
        int port;
    } listeners[BRK_STATUS_LISTENERS_MAX];
} brk_status_t;
/* Fills st. 0, or SL_EAGAIN when the loop did not answer in time. */
int brk_admin_status(brk_t *brk, brk_status_t *st);

#endif
