/* Monitoring (mon.c): the counters the request path bumps and what the admin endpoint reads.
 * The loop and the flusher threads only add to relaxed atomics (or to plain fields of loop
 * state, such as a partition's byte counts); the admin thread reads the atomics directly and
 * gets the loop's state as a snapshot the loop copies when asked (an eventfd), never holding a
 * lock longer than the hand-over of one pointer. Metric names and meanings: docs/broker.md,
 * "Admin endpoint". */
#ifndef BRK_MON_H
#define BRK_MON_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"
#include "snet.h"

typedef struct brk_mon brk_mon_t;

/* Allocates the counters and watches the snapshot eventfd on loop. Returns 0 or -errno. */
int brk_mon_new(brk_t *brk, snet_loop_t *loop, brk_mon_t **out);
/* Wakes and refuses every snapshot request from now on (the loop is going away). Thread: loop. */
void brk_mon_close(brk_mon_t *mon);
/* After the loop is freed (answers freed with it still count). NULL: nothing. */
void brk_mon_free(brk_mon_t *mon);

/* ---- counters (Thread: any; relaxed atomics; mon NULL: nothing) ---- */

/* A request was decoded (queue_us: from its frame read to its handler) and answered or
 * completed (handle_us: handler to answer queued). */
void brk_mon_request(brk_mon_t *mon, int16_t api, int16_t ver, int64_t queue_us,
                     int64_t handle_us);
/* The answer's last byte left (send_us: queued to written, behind earlier answers too). */
void brk_mon_sent(brk_mon_t *mon, int16_t api, int16_t ver, int64_t send_us);
/* A non-zero ErrorCode in an answer of api version ver (each place it appears counts). */
void brk_mon_error(brk_mon_t *mon, int16_t api, int16_t ver, int16_t code);
/* One group-commit sync job: its time and the records it made durable. */
void brk_mon_fsync(brk_mon_t *mon, int64_t us, int64_t records);
/* A connection opened or closed on listener i (brk->lsts[i]). */
void brk_mon_conn(brk_mon_t *mon, int listener, bool open);
/* An authentication failed with mechanism mech (snet_mech_t, or -1: TLS/unknown). */
void brk_mon_auth_failed(brk_mon_t *mon, int mech);
/* A transaction completed (committed or aborted). */
void brk_mon_txn_done(brk_mon_t *mon, bool committed);
/* A cleaner pass ended; bytes read from the dirty segments. */
void brk_mon_cleaned(brk_mon_t *mon, int64_t bytes);

#endif
