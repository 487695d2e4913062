/* Broker internals shared by its files: configuration, topic registry, request context,
 * flusher. Thread: loop for everything unless a comment says otherwise. */
#ifndef BRK_INTERNAL_H
#define BRK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "brk.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_users.h"
#include "kerr.h"
#include "kmsg.h"
#include "kproto.h"
#include "sl_arena.h"
#include "sl_buf.h"
#include "sl_props.h"
#include "slog.h"
#include "snet.h"

typedef enum { BRK_FLUSH_ALWAYS, BRK_FLUSH_INTERVAL, BRK_FLUSH_NEVER } brk_flush_policy_t;

/* Kafka's security protocols of a listener. */
typedef enum {
    BRK_PROTO_PLAINTEXT,
    BRK_PROTO_SSL,
    BRK_PROTO_SASL_PLAINTEXT,
    BRK_PROTO_SASL_SSL,
} brk_secproto_t;

/* One entry of `listeners` with its protocol (listener.security.protocol.map) and its
 * advertised address (advertised.listeners; empty host / port 0: the bound one). */
typedef struct {
    char name[BRK_LISTENER_NAME_BYTES_MAX + 1];
    brk_secproto_t proto;
    char host[256];
    int port;
    char adv_host[256];
    int adv_port;
} brk_listener_conf_t;

/* Broker configuration, from Kafka's property names (conf.c). */
typedef struct {
    char data_dir[BRK_PATH_BYTES_MAX];
    char listen_host[256];
    int listen_port;
    char advertised_host[256];
    int advertised_port; /* 0: the bound port */
    int32_t node_id;
    int32_t num_partitions;
    bool auto_create_topics;
    int64_t socket_request_max_bytes;
    char local_cc[SNET_CC_NAME_MAX]; /* socket.local.congestion.control; "": system default */
    int64_t message_max_bytes;
    brk_flush_policy_t flush_policy;
    int64_t flush_interval_ms;
    int flush_threads;
    int64_t retention_check_interval_ms;
    slog_conf_t log; /* broker-wide defaults for topic configs */
    char cleanup_policy[32];
    bool delete_topic_enable;
    int32_t group_min_session_ms;
    int32_t group_max_session_ms;
    int32_t group_max_size;
    int64_t offsets_retention_ms;
    int32_t offset_metadata_max_bytes;
    int32_t txn_max_timeout_ms;    /* transaction.max.timeout.ms */
    int32_t txn_abort_interval_ms; /* ...abort.timed.out.transaction.cleanup.interval.ms */
    bool authorizer;       /* authorizer.class.name set: ACLs are enforced */
    bool allow_if_no_acl;  /* allow.everyone.if.no.acl.found */
    char super_users[4096]; /* super.users, ";"-separated principals */
    /* security and connection limits (conf_sec.c) */
    brk_listener_conf_t listeners[BRK_LISTENERS_MAX];
    int nlisteners;
    uint32_t sasl_mechs; /* bit (1 << snet_mech_t) per enabled mechanism */
    char *ssl_keystore_location; /* PEM with certificate chain and key */
    char *ssl_keystore_chain;    /* ssl.keystore.certificate.chain (path or PEM text) */
    char *ssl_keystore_key;      /* ssl.keystore.key (path or PEM text) */
    char *ssl_key_password;
    char *ssl_truststore;        /* ssl.truststore.location or .certificates */
    int ssl_client_auth;         /* snet_client_auth_t */
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t connections_max_idle_ms;
    int64_t authn_timeout_ms;        /* connections.max.authentication.ms */
    int64_t authn_fail_delay_ms;     /* connection.failed.authentication.delay.ms */
    int64_t authn_fail_limit;        /* sasl.failed.authentication.limit.per.ip; 0: none */
    int64_t authn_fail_window_ms;    /* sasl.failed.authentication.window.ms */
    int64_t queued_max_request_bytes; /* -1: unbounded */
    unsigned dir_mode;          /* log.dir.mode: dirs created; files without exec bits */
    int64_t fd_cache_max;       /* log.segment.fd.cache.max: closed segment fds kept open */
    int64_t disk_reserve_bytes; /* log.disk.reserve.bytes: produce refused below it; 0 off */
    /* The log cleaner (compaction), Kafka's log.cleaner.* names. */
    bool cleaner_enable;
    int32_t cleaner_threads;            /* 1: one cleaner thread */
    int64_t cleaner_dedupe_bytes;       /* offset map size */
    int64_t cleaner_io_bytes_per_sec;   /* -1: unthrottled */
    int64_t cleaner_backoff_ms;         /* sleep when there is nothing to clean */
    bool config_strict; /* config.strict: unknown keys stop the start */
} brk_conf_t;

/* Parses props into conf; err gets "key: reason". Unknown keys are warned about once each
 * with the nearest known name; under config.strict=true they are an error (SL_EINVAL).
 * Free conf's strings with brk_conf_deinit. */
int brk_conf_parse(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len);
void brk_conf_deinit(brk_conf_t *conf);
/* conf_sec.c: listeners, listener.security.protocol.map, advertised.listeners,
 * sasl.enabled.mechanisms, ssl.*, connection limits. */
void brk__conf_security_defaults(brk_conf_t *conf);
int brk__conf_security(const sl_props_t *props, brk_conf_t *conf, char *err, size_t err_len);
const char *brk_proto_name(brk_secproto_t proto);

typedef struct brk_req brk_req_t;
typedef struct brk_flusher brk_flusher_t;
typedef struct brk_cleaner brk_cleaner_t;

struct brk_topic {
    char *name;
    kproto_uuid_t id;
    int32_t npart;
    brk_part_t **parts;
    sl_props_t *overrides; /* topic-level configs set by users */
    slog_conf_t log;       /* effective log settings */
    char cleanup_policy[32];
    bool adding;           /* partitions are being created for it off the loop (create.c) */
    brk_topic_t *next;
};

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
    brk_flusher_t *flusher;
    brk_cleaner_t *cleaner;
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
};

/* ---- storage.c ---- */
/* Retries offline partitions whose backoff has passed (the timer calls it every 250 ms;
 * tests call it directly). */
void brk_storage_tick(brk_t *brk);
void brk_storage_start(brk_t *brk);
void brk_storage_stop(brk_t *brk);
/* Whether free space on the data dir's filesystem is under log.disk.reserve.bytes: measured
 * (statvfs) at most every BRK_DISK_CHECK_MS or after BRK_DISK_CHECK_BYTES appended; the
 * change of verdict is logged once. */
bool brk_disk_low(brk_t *brk);
void brk_disk_appended(brk_t *brk, int64_t bytes);

/* ---- topics.c ---- */
int brk_topics_load(brk_t *brk, char *err, size_t err_len);
void brk_topics_close(brk_t *brk);
brk_topic_t *brk_topic_find(brk_t *brk, kproto_str_t name);
brk_topic_t *brk_topic_find_id(brk_t *brk, kproto_uuid_t id);
/* Kafka's topic-name rules: 1-249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool brk_topic_name_valid(kproto_str_t name, const char **why);
/* Creation in two halves: the files off the loop (a worker thread), the registry on it.
 * Checks a new topic (name, existence or creation in flight, partitions; -1 becomes
 * num.partitions, topic count, overrides) without creating anything. Returns a Kafka error
 * with msg. */
kerr_t brk_topic_check_new(brk_t *brk, kproto_str_t name, int32_t *npart,
                           const sl_props_t *overrides, const char **msg);
/* Creates topic name's directory, npart partition logs and topic.properties (last): a topic
 * not yet in the registry; NULL with *rc on failure (nothing left on disk). Thread: any. */
brk_topic_t *brk_topic_build(brk_t *brk, const char *name, int32_t npart,
                             const sl_props_t *overrides, int *rc);
/* Adds a built topic to the registry (log: one INFO line for it). */
void brk_topic_install(brk_t *brk, brk_topic_t *topic, bool log);
kerr_t brk_topic_delete(brk_t *brk, brk_topic_t *topic);
/* Checks growing topic to count partitions (not while partitions are being added to it). */
kerr_t brk_topic_check_partitions(const brk_topic_t *topic, int32_t count, const char **msg);
/* Opens (creates) partitions [from, to) of topic with log settings conf into parts. Reads only
 * topic->name. Returns 0 or an error (nothing left open). Thread: any. */
int brk_parts_build(brk_t *brk, brk_topic_t *topic, const slog_conf_t *conf, int32_t from,
                    int32_t to, brk_part_t **parts);
/* Appends the built partitions [npart, count) and saves topic.properties; on a storage error
 * closes them and leaves the topic as it was. */
kerr_t brk_topic_install_parts(brk_t *brk, brk_topic_t *topic, brk_part_t **parts, int32_t count,
                               const char **msg);
/* Validates and applies a set of topic config overrides (full replacement). */
kerr_t brk_topic_set_configs(brk_t *brk, brk_topic_t *topic, sl_props_t *overrides,
                             bool validate_only, const char **msg);
/* Topic-level config definitions, for validation and DescribeConfigs. */
typedef struct {
    const char *name;
    int8_t type; /* Kafka ConfigType: 1 BOOLEAN 2 STRING 3 INT 4 SHORT 5 LONG 6 DOUBLE 7 LIST */
    const char *doc;
} brk_tconf_def_t;
const brk_tconf_def_t *brk_tconf_defs(size_t *n);
/* Effective value of a topic config as a string, and whether it is a topic override. */
void brk_tconf_value(brk_t *brk, const brk_topic_t *topic, const char *name, char *buf,
                     size_t len, bool *is_override);
/* Validates name=value for topics: KERR_NONE or KERR_INVALID_CONFIG with msg. */
kerr_t brk_tconf_check(const char *name, const char *value, const char **msg);

/* ---- request context (dispatch.c) ---- */
struct brk_req {
    brk_t *brk;
    snet_slot_t *slot;
    uint8_t *frame;
    sl_arena_t *arena;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    kproto_str_t client_id;
    bool flex;
    void *body; /* decoded request, in the arena */
    const char *peer;
    const char *principal; /* "User:name", in the arena; NULL without an authorizer */
    const char *host;      /* the peer's IP, in the arena; NULL without an authorizer */
    const char *adv_host; /* the address of the listener the request came through */
    int adv_port;
};

/* Sends resp (a kmsg_<api>_resp_t) for req and frees req. */
void brk_respond(brk_req_t *req, const void *resp);
/* Completes req with no response (acks=0) and frees it. */
void brk_respond_none(brk_req_t *req);
/* Allocates n zeroed elements from the request's arena. */
void *brk_alloc(brk_req_t *req, int32_t n, size_t size);

/* A request entry's identity for duplicate checks: bytes (a name, an id) and a tag (a
 * partition number, a resource type). */
typedef struct {
    const void *ptr;
    size_t len;
    int64_t tag;
} brk_key_t;
typedef brk_key_t (*brk_key_fn)(const void *entries, int32_t i);
/* Duplicate check of n request entries in one pass (a keyed hash set): returns first[], in the
 * arena, with first[i] the index of the first entry equal to entry i (i itself for a first
 * mention); *repeated (may be NULL) gets an arena array, true for every entry whose key
 * occurs more than once. NULL when n <= 0. */
int32_t *brk_dups(brk_req_t *req, const void *entries, int32_t n, brk_key_fn key,
                  bool **repeated);
static inline brk_key_t brk_key_str(kproto_str_t s, int64_t tag)
{
    return (brk_key_t){s.ptr, (size_t)(s.len > 0 ? s.len : 0), s.len < 0 ? tag - 1 : tag};
}

/* Handlers: each takes ownership of req and completes it exactly once. */
void brk_handle_api_versions(brk_req_t *req);
void brk_handle_metadata(brk_req_t *req);
void brk_handle_produce(brk_req_t *req);
void brk_handle_fetch(brk_req_t *req);
void brk_handle_list_offsets(brk_req_t *req);
void brk_handle_create_topics(brk_req_t *req);
void brk_handle_delete_topics(brk_req_t *req);
void brk_handle_create_partitions(brk_req_t *req);
void brk_handle_describe_configs(brk_req_t *req);
void brk_handle_incremental_alter_configs(brk_req_t *req);
void brk_handle_alter_configs(brk_req_t *req);
void brk_handle_init_producer_id(brk_req_t *req);
void brk_handle_describe_producers(brk_req_t *req);

/* ---- workq.c: a worker thread with a bounded queue (expensive work off the loop) ---- */
typedef struct brk_work brk_work_t;
struct brk_work {
    brk_work_t *next;               /* the queue's */
    void (*run)(brk_work_t *work);  /* Thread: the worker */
    void (*done)(brk_work_t *work); /* Thread: loop; after run (or instead, at free) */
};
typedef struct brk_workq brk_workq_t;
/* Starts the thread; at most max items out at once. Returns 0 or -errno. Thread: loop. */
int brk_workq_new(snet_loop_t *loop, int32_t max, brk_workq_t **out);
/* Queues work; false when max items are out (the caller answers "busy"). Thread: loop. */
bool brk_workq_submit(brk_workq_t *q, brk_work_t *work);
/* Stops the thread and calls done for every item left, run or not. Thread: loop. */
void brk_workq_free(brk_workq_t *q);

/* ---- create.c: topics and partitions created off the loop ---- */
/* A batch of creations for one request (or for a Metadata's auto-creation, without one): the
 * names are reserved at once (brk_create_pending), the files are made on the creation worker,
 * and done runs on the loop once every item is installed in the registry (or failed). At most
 * BRK_CREATE_PARTITIONS_REQUEST_MAX partitions per batch and BRK_CREATE_PARTITIONS_INFLIGHT_MAX
 * in all batches out. */
typedef struct brk_create brk_create_t;
int brk_create_start(brk_t *brk);
/* Waits for the batch being built, installs what is built, calls every done left (the
 * requests' connections are closed by then). Before brk_topics_close. */
void brk_create_stop(brk_t *brk);
/* Whether a topic of that name is being created; topics being created (for the topic count);
 * whether any batch is out (shutdown waits for them). */
bool brk_create_pending(brk_t *brk, kproto_str_t name);
int32_t brk_create_pending_topics(const brk_t *brk);
bool brk_create_busy(const brk_t *brk);
brk_create_t *brk_create_new(brk_t *brk, void (*done)(brk_create_t *c, void *ctx), void *ctx);
/* Whether the batch may take npart more partitions: KERR_NONE, POLICY_VIOLATION past the
 * request's bound, THROTTLING_QUOTA_EXCEEDED past what may be out at once (msg says). */
kerr_t brk_create_admit(const brk_create_t *c, int64_t npart, const char **msg);
/* Adds a checked new topic (brk_topic_check_new) or partitions [npart, count) of topic
 * (brk_topic_check_partitions) to the batch; returns the item's index. */
int32_t brk_create_topic(brk_create_t *c, kproto_str_t name, int32_t npart,
                         const sl_props_t *overrides);
int32_t brk_create_parts(brk_create_t *c, brk_topic_t *topic, int32_t count);
int32_t brk_create_count(const brk_create_t *c);
/* After done: item i's result, its topic on success, a message on failure. */
kerr_t brk_create_result(const brk_create_t *c, int32_t i, brk_topic_t **topic, const char **msg);
/* Submits the batch (done runs later on the loop), or calls done at once when it is empty or
 * the worker's queue is full (every item then THROTTLING_QUOTA_EXCEEDED). The batch is freed
 * after done returns. */
void brk_create_submit(brk_create_t *c);

/* ---- txn.c: the transaction coordinator ---- */
/* Loads <data>/transactions and completes transactions left in PrepareCommit/PrepareAbort. */
int brk_txns_open(brk_t *brk, char *err, size_t err_len);
void brk_txns_start(brk_t *brk); /* starts the timeout timer (Thread: loop, in brk_run) */
void brk_txns_close(brk_t *brk);
/* InitProducerId with a transactional id (pid.c hands the request over). */
void brk_txn_init_producer_id(brk_req_t *req);
/* Produce: KERR_NONE when a transactional batch of producer_id/epoch may go to topic-partition
 * (its transaction is ongoing and holds the partition). */
kerr_t brk_txn_check_produce(brk_t *brk, int64_t producer_id, int16_t epoch, kproto_str_t topic,
                             int32_t partition);
/* pid.c: a new producer id, or a negative error. */
int64_t brk_pid_next(brk_t *brk);
void brk_handle_add_partitions_to_txn(brk_req_t *req);
void brk_handle_add_offsets_to_txn(brk_req_t *req);
void brk_handle_end_txn(brk_req_t *req);
void brk_handle_txn_offset_commit(brk_req_t *req);
/* Loads the text of a transactions file into the state (damaged lines skipped and logged
 * naming path and line). Takes ownership of text (len bytes, NUL-terminated). Returns 0. */
int brk__txn_load_text(brk_t *brk, const char *path, char *text, size_t len);
/* Tests and fuzzing only: loads text (len bytes, anything) into a fresh coordinator state and
 * appends the state file it would write to out (sl_buf_t). Returns 0. */
int brk__txn_check_text(const char *text, size_t len, sl_buf_t *out);

/* ---- fetch.c: long-poll ---- */
/* Subscribes to partition events: a moved high watermark re-examines the fetches parked on
 * that partition (work in proportion to them) and answers the ready ones; a partition gone
 * answers every fetch that watches it. */
void brk_fetch_start(brk_t *brk);
/* Answers every waiting fetch now (shutdown). */
void brk_fetch_flush_all(brk_t *brk);

/* ---- flush.c: group commit ---- */
int brk_flusher_new(brk_t *brk, int threads, brk_flusher_t **out);
void brk_flusher_free(brk_flusher_t *flusher);
/* Starts a sync job for part if it has unsynced data and none is out. */
void brk_flush_kick(brk_t *brk, brk_part_t *part);
/* Waits for part's in-flight sync job and stops and waits for its zero-ahead job (topic
 * deletion, shutdown). Blocks the loop briefly. */
void brk_flush_drain(brk_t *brk, brk_part_t *part);
/* Queues w for part's durable offset to reach w->target (brk_part_wait) and starts a sync. */
void brk_flush_wait(brk_t *brk, brk_part_t *part, brk_wait_t *w);

/* ---- authz.c: ACL checks for the handlers (KafkaApis' operation per API, docs/broker.md) ---- */
/* Opens <data>/acls.txt when an authorizer is configured (brk->acl), else leaves it NULL. */
int brk_authz_open(brk_t *brk, char *err, size_t err_len);
void brk_authz_close(brk_t *brk);
/* Records req's principal and host (only when an authorizer is configured). */
void brk_authz_init(brk_req_t *req, snet_conn_t *conn);
/* Whether req's principal may do op (a brk_acl_op_t) on the resource (a brk_acl_res_t);
 * always true without an authorizer. */
bool brk_authz(brk_req_t *req, int op, int res_type, kproto_str_t name);
/* The same as a Kafka error: KERR_NONE, or TOPIC_/GROUP_/CLUSTER_AUTHORIZATION_FAILED. */
kerr_t brk_authz_topic(brk_req_t *req, int op, kproto_str_t topic);
kerr_t brk_authz_group(brk_req_t *req, int op, kproto_str_t group);
kerr_t brk_authz_cluster(brk_req_t *req, int op);
/* The same with the operation req's API needs (authz.c's table of KafkaApis' rules). */
kerr_t brk_authz_req_topic(brk_req_t *req, kproto_str_t topic);
kerr_t brk_authz_req_group(brk_req_t *req, kproto_str_t group);
/* InitProducerId without a transactional id (Kafka 3, KIP-679): IDEMPOTENT_WRITE on the
 * cluster or WRITE on some topic; else CLUSTER_AUTHORIZATION_FAILED. Produce itself needs
 * only WRITE on its topics, idempotent or not. */
kerr_t brk_authz_idempotent_write(brk_req_t *req);
/* Kafka's authorized-operations bit set of a topic or the cluster (Metadata, DescribeGroups):
 * bit n set when operation n is allowed. */
int32_t brk_authz_ops(brk_req_t *req, int res_type, kproto_str_t name);
void brk_handle_describe_acls(brk_req_t *req);
void brk_handle_create_acls(brk_req_t *req);
void brk_handle_delete_acls(brk_req_t *req);

/* ---- auth.c: per-connection state, SASL, connection limits ---- */
/* The connection's authenticated principal in Kafka's form: "User:ANONYMOUS" on PLAINTEXT
 * (and SSL without a client certificate), "User:" + the certificate subject DN on SSL with a
 * client certificate, "User:" + the SASL user name on SASL listeners once authenticated.
 * Valid while conn is open. */
const char *brk_conn_principal(const snet_conn_t *conn);
/* The listener the connection came through: its name and security protocol. */
const char *brk_conn_listener(const snet_conn_t *conn);
brk_secproto_t brk_conn_protocol(const snet_conn_t *conn);
brk_t *brk_conn_brk(const snet_conn_t *conn);
/* The count of long-poll fetches parked by the connection (fetch.c keeps it). */
int32_t *brk_conn_fetches_parked(const snet_conn_t *conn);
/* The advertised address of the connection's listener (Metadata, FindCoordinator). */
void brk_conn_adv(const snet_conn_t *conn, const char **host, int *port);
/* The connection handler of every listener (dispatch.c): auth.c's open and close, then
 * brk_conn_on_frame before each request is dispatched. */
extern const snet_handler_t brk_conn_handler;
/* A new connection (per-address and total limits, its state); false refuses it. */
bool brk_conn_open(snet_conn_t *conn);
/* A closed connection: its state freed, a SASL check in flight told. */
void brk_conn_close(snet_conn_t *conn);
/* Frames of a connection, before dispatch: false when auth.c consumed the frame (a raw
 * SASL v0 token), true when it is a Kafka request to dispatch. */
bool brk_conn_on_frame(snet_conn_t *conn, snet_slot_t *slot, uint8_t *frame, size_t len);
/* Whether a request of api_key may be served on conn now (SASL listeners serve only
 * ApiVersions and SASL requests until authenticated). */
bool brk_conn_may_serve(const snet_conn_t *conn, int16_t api_key);
/* Starts the sweep of idle and unauthenticated connections. */
void brk_conns_start(brk_t *brk);
/* The SASL verifier thread (PBKDF2 off the loop). Stop answers every exchange in flight
 * (delayed failures and queued checks) and must run before the loop is freed. */
int brk_sasl_start(brk_t *brk);
void brk_sasl_stop(brk_t *brk);
void brk_conns_stop(brk_t *brk);
void brk_handle_sasl_handshake(brk_req_t *req);
void brk_handle_sasl_authenticate(brk_req_t *req);
/* ---- cleaner.c: log compaction on a cleaner thread ---- */
int brk_cleaner_new(brk_t *brk, brk_cleaner_t **out);
/* Cancels and waits for the job out (shutdown), then frees. */
void brk_cleaner_free(brk_cleaner_t *cl);
/* Before part's log is closed or deleted: cancels its clean if one is out and waits for the
 * thread to let go of it (the loop blocks briefly). */
void brk_cleaner_forget(brk_t *brk, brk_part_t *part);

#endif
