/* Partitions: finding one, its high watermark, the produces waiting for its durable offset,
 * the readers parked on it, and the one event of the module: "the high watermark moved" (and
 * "the partition is gone"), which fetch.c subscribes to. Thread: loop. */
#ifndef BRK_PART_H
#define BRK_PART_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"
#include "kerr.h"
#include "kproto.h"
#include "slog.h"

typedef struct brk_topic brk_topic_t;
typedef struct brk_part brk_part_t;

/* A waiter on a partition's durable offset (a produce with acks != 0, a commit). */
typedef struct brk_wait {
    struct brk_wait *next;
    int64_t target; /* exclusive end offset that must be durable */
    void (*done)(struct brk_wait *w, int err);
} brk_wait_t;

/* A parked reader's interest in one partition, embedded in the reader's own record: on the
 * partition's watch list from brk_part_watch until brk_part_unwatch. */
typedef struct brk_part_watch {
    struct brk_part_watch *next, *prev;
    brk_part_t *part;
} brk_part_watch_t;

struct brk_part {
    brk_topic_t *topic;
    int32_t index;
    slog_part_t *log;
    bool sync_inflight;
    bool closing;              /* brk_flush_drain has begun: no new zero-ahead job */
    slog_zero_job_t *zero_job; /* out on a flusher thread, or NULL */
    brk_wait_t *waiters, *waiters_tail; /* FIFO by target */
    int64_t resume_backoff_ms; /* offline: the current retry pause (storage.c); 0 online */
    int64_t resume_at_ms;      /* loop time of the next retry */
    brk_part_watch_t *watches; /* parked readers of this partition */
    /* monitoring (mon.c copies them on the loop): Produce's records and bytes appended, and
     * Fetch's bytes served */
    uint64_t mon_records_in, mon_bytes_in, mon_bytes_out;
};

/* The partition of a registered topic, or NULL. */
brk_part_t *brk_part_find(brk_t *brk, kproto_str_t topic, int32_t partition);
/* The high watermark: what consumers may read (durable under flush policy always). */
int64_t brk_part_hw(brk_t *brk, const brk_part_t *part);

/* Leader epochs (epoch.c; docs/broker.md "Leader epochs"): every partition is led by this node
 * at BRK_LEADER_EPOCH from its creation on, the epoch its batches carry on disk. */
#define BRK_LEADER_EPOCH SLOG_LEADER_EPOCH
/* A client's current leader epoch checked as Kafka's leader does: -1 (unset) or ours passes
 * (KERR_NONE), an older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH. */
kerr_t brk_part_check_epoch(int32_t current_leader_epoch);
/* The end offset of leader epoch `epoch` in part (Kafka's LeaderEpochFileCache.endOffsetFor):
 * for our epoch the log end offset; for an epoch below -1 (before ours) itself and the log
 * start offset; for -1 or an epoch above ours the undefined answer (*end_epoch and
 * *end_offset -1): no other epoch ever had records here. */
void brk_part_epoch_end(const brk_part_t *part, int32_t epoch, int32_t *end_epoch,
                        int64_t *end_offset);
/* Queues w for part's durable offset to reach w->target (targets never decrease) and starts a
 * sync (brk_flush_kick). */
void brk_part_wait(brk_t *brk, brk_part_t *part, brk_wait_t *w);
/* A sync job of part ended (the flusher's synced callback): completes the waiters now durable,
 * or all of them with err != 0, and publishes the moved high watermark. */
void brk_part_synced(brk_t *brk, brk_part_t *part, int err);
/* Fails every waiter of part (partition deleted or offline). */
void brk_part_fail_waiters(brk_part_t *part, int err);

/* Links w (its part set) into w->part's watch list; unlinks it. */
void brk_part_watch(brk_part_watch_t *w);
void brk_part_unwatch(brk_part_watch_t *w);

typedef enum {
    BRK_PART_HW_MOVED, /* an append, a sync, a marker, the partition back online */
    BRK_PART_GONE,     /* about to be freed (topic deleted): let go of its watches */
} brk_part_event_t;
/* The subscriber of partition events; it finds the readers to tell on part->watches. */
typedef void (*brk_part_listener_t)(brk_t *brk, brk_part_t *part, brk_part_event_t ev);
void brk_part_subscribe(brk_t *brk, brk_part_listener_t fn);
/* Publishes an event of part to the subscriber. */
void brk_part_hw_moved(brk_t *brk, brk_part_t *part);
void brk_part_gone(brk_t *brk, brk_part_t *part);

#endif
