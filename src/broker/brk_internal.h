/* The broker: the state that ties its modules together (each module's API is in its own
 * brk_<concern>.h). Thread: loop for everything unless a comment says otherwise. */
#ifndef BRK_INTERNAL_H
#define BRK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"
#include "brk_conf.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_users.h"
#include "snet.h"

typedef struct brk_topic brk_topic_t;

/* A bound listener: its settings, socket and advertised address. */
typedef struct brk_lst {
    brk_t *brk;
    const brk_listener_conf_t *conf;
    snet_listener_t *lst;
    char adv_host[256];
    int adv_port;
} brk_lst_t;

typedef struct brk_conn brk_conn_t;

struct brk {
    brk_conf_t conf;
    snet_loop_t *loop;
    brk_lst_t lsts[BRK_LISTENERS_MAX];
    int nlsts;
    struct snet_tls *tls;   /* shared by SSL and SASL_SSL listeners */
    brk_conn_t *conns;      /* every open connection (auth.c) */
    size_t nconns;
    snet_timer_t *conn_timer;
    brk_users_t *users;     /* SASL credentials (users.c) */
    struct brk_flusher *flusher;
    struct brk_cleaner *cleaner;
    struct brk_workq *sasl_workq; /* SASL password checks (auth.c) */
    struct brk_workq *create_workq; /* topics and partitions being created (create.c) */
    struct sl_hset *creating;       /* names of the topics being created (create.c) */
    int32_t creating_topics;        /* their count */
    int64_t creating_parts;         /* partitions being created, all jobs together */
    _Atomic bool creating_stop;     /* shutdown: the worker gives up what it has not made */
    struct brk_authfail *authfail; /* failed authentications per address (auth.c) */
    struct brk_authjob *authjobs;  /* SASL failures waiting out their delay (auth.c) */
    int32_t nauthfail;
    brk_topic_t *topics;
    int ntopics;
    struct sl_hset *topic_names, *topic_ids; /* indexes of topics (topics.c) */
    char cluster_id[32];
    int lock_fd;
    int stop_fd; /* eventfd written by brk_stop_async */
    snet_timer_t *housekeep_timer;
    snet_timer_t *flush_timer;
    brk_part_listener_t part_listener; /* partition events' subscriber (part.c) */
    struct brk_fetch *fetch_waiters; /* parked long-poll fetches */
    struct brk_fetch *fetch_ready, *fetch_ready_tail; /* woken, to be answered in order */
    struct brk_group *groups_list;
    int ngroups;
    struct sl_hset *groups_idx; /* group id -> group (group.c) */
    struct brk_offsets *offsets; /* the committed-offsets store (offsets.c) */
    bool fetch_waking;     /* the ready queue is being answered */
    char advertised_host[256];
    int advertised_port;
    bool stopping;
    int64_t pid_next;      /* next producer id to hand out (pid.c) */
    int64_t pid_block_end; /* end of the block reserved on disk; 0 before the first use */
    struct brk_txns *txns; /* the transaction coordinator (txn.c) */
    struct brk_acl *acl; /* NULL when no authorizer is configured */
    /* storage.c: offline partitions' retries, and the free-space reserve */
    snet_timer_t *resume_timer;
    int64_t disk_checked_ms; /* when free space was last measured (0: never) */
    int64_t disk_appended;   /* bytes appended since */
    bool disk_low;           /* under log.disk.reserve.bytes at the last measure */
    struct brk_mon *mon;     /* monitoring counters and snapshots (mon.c) */
};

#endif
