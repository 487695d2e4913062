/* Limits of the broker layer. */
#ifndef BRK_LIMITS_H
#define BRK_LIMITS_H

#include "sl_common.h"

#define BRK_PATH_BYTES_MAX 1024
/* Buffers for paths under the data dir (data dir + topic + partition + file name). */
#define BRK_PATH_BUF 4096
/* Topics on one broker. */
#define BRK_TOPICS_MAX 10000
/* Partitions of one topic (Kafka has no hard limit; each is a directory, and its files share
 * the segment fd cache). Equal to BRK_FETCH_PARTITIONS_MAX: one fetch can ask for all. */
#define BRK_PARTITIONS_MAX 50000
/* Topics and partitions are created off the loop (create.c): partitions one request may create
 * (CreateTopics, CreatePartitions, a Metadata's auto-creation; more: POLICY_VIOLATION for the
 * topics past it), partitions being created at once by all requests (more:
 * THROTTLING_QUOTA_EXCEEDED, retriable), and batches queued for the creation worker. */
#define BRK_CREATE_PARTITIONS_REQUEST_MAX 50000
#define BRK_CREATE_PARTITIONS_INFLIGHT_MAX 100000
#define BRK_CREATE_JOBS_MAX 256
SL_STATIC_ASSERT(BRK_CREATE_PARTITIONS_REQUEST_MAX >= BRK_PARTITIONS_MAX &&
                     BRK_CREATE_PARTITIONS_INFLIGHT_MAX >= BRK_CREATE_PARTITIONS_REQUEST_MAX,
                 "one topic of the largest size can be created");
/* Partitions in one DescribeTopicPartitions answer (Kafka's max.request.partition.size.limit,
 * default 2000): a larger response_partition_limit is cut to it; the cursor pages on. */
#define BRK_DTP_PARTITIONS_MAX 2000
SL_STATIC_ASSERT(BRK_DTP_PARTITIONS_MAX > 0 && BRK_DTP_PARTITIONS_MAX <= BRK_PARTITIONS_MAX,
                 "a page holds at least one partition and at most one whole topic");
/* Topic name length (Kafka: 249). */
#define BRK_TOPIC_NAME_BYTES_MAX 249
/* Topic config overrides in one topic. */
#define BRK_TOPIC_CONFIGS_MAX 64
/* Bytes of one topic.properties file. */
#define BRK_TOPIC_FILE_BYTES_MAX 65536
/* Ceiling of offset.metadata.max.bytes: the offsets log stores a commit's metadata length in
 * 16 bits (Kafka's own offsets topic uses a 16-bit string length too). */
#define BRK_OFFSET_METADATA_BYTES_MAX 65535
SL_STATIC_ASSERT(BRK_OFFSET_METADATA_BYTES_MAX <= UINT16_MAX, "fits the log's u16 length");
/* Longest fetch long-poll accepted (Kafka clients use <= 500 ms by default). */
#define BRK_FETCH_WAIT_MS_MAX 60000
/* Distinct partitions in one fetch (Kafka has no limit; a consumer names the partitions it
 * is assigned on this broker). More: every partition is answered INVALID_REQUEST. */
#define BRK_FETCH_PARTITIONS_MAX 50000
/* Partitions answered with records in one fetch response (each is one file range); the
 * rest are answered without records, as past max_bytes, and the consumer asks again. */
#define BRK_FETCH_RANGES_MAX 60000
/* Long-poll fetches one connection may have parked at once (Kafka consumers keep one per
 * connection); a fetch past it is answered at once with what there is. */
#define BRK_CONN_FETCHES_PARKED_MAX 4
/* Fetch responses: bytes of records in one response, whatever the client asks for. */
#define BRK_FETCH_BYTES_MAX ((int64_t)64 << 20)
/* Bytes of one encoded response (file ranges included). Larger answers are not sent: the
 * connection is closed with one log line (dispatch.c). Above the largest fetch answer. */
#define BRK_RESPONSE_BYTES_MAX ((int64_t)256 << 20)
SL_STATIC_ASSERT(BRK_RESPONSE_BYTES_MAX > BRK_FETCH_BYTES_MAX * 2 &&
                     BRK_RESPONSE_BYTES_MAX < INT32_MAX / 2, "response bound");
/* Arena chunk for decoded requests. */
#define BRK_ARENA_CHUNK_BYTES 16384
/* Sync jobs queued for the flusher threads: at most one per partition, of every topic and the
 * committed-offsets log (it was BRK_PARTITIONS_MAX, one topic's worth, which two topics of
 * 10,000 partitions written at once went past). */
#define BRK_FLUSH_QUEUE_MAX ((int64_t)BRK_TOPICS_MAX * BRK_PARTITIONS_MAX + 1)
/* Consumer groups on one broker. */
#define BRK_GROUPS_MAX 100000
/* What one group member may store from its JoinGroup: protocols, and bytes of protocol names
 * and metadata (Kafka bounds these only by the request size, but fails to store a group
 * whose metadata exceeds message.max.bytes, 1 MiB). More: INVALID_REQUEST. */
#define BRK_GROUP_MEMBER_PROTOCOLS_MAX 64
#define BRK_GROUP_MEMBER_METADATA_BYTES_MAX ((int64_t)1 << 20)
/* Bytes of protocol names and metadata of all members of one group, so that a DescribeGroups
 * or the leader's JoinGroup answer stays far below BRK_RESPONSE_BYTES_MAX. A join past it:
 * GROUP_MAX_SIZE_REACHED. */
#define BRK_GROUP_METADATA_BYTES_MAX ((int64_t)64 << 20)
SL_STATIC_ASSERT(BRK_GROUP_MEMBER_METADATA_BYTES_MAX <= BRK_GROUP_METADATA_BYTES_MAX &&
                     BRK_GROUP_METADATA_BYTES_MAX * 2 < BRK_RESPONSE_BYTES_MAX,
                 "a member fits its group, a group fits a response");
/* Bytes of the offsets log beyond which start-up rewrites it with only live commits. */
#define BRK_OFFSETS_LOG_COMPACT_BYTES ((int64_t)1 << 20)
/* Flusher threads. */
#define BRK_FLUSH_THREADS_MAX 16
/* Sync jobs one flusher thread takes at once (one round: their fdatasyncs started together and
 * waited for on several threads, slog_sync_run_many); more queued wait for the next round. */
#define BRK_FLUSH_ROUND_JOBS_MAX 4096
SL_STATIC_ASSERT(BRK_FLUSH_ROUND_JOBS_MAX >= 1 && BRK_FLUSH_ROUND_JOBS_MAX <= 65536,
                 "a round's arrays are allocated once per thread");
/* log.zero.ahead.bytes default: zeroed space kept ahead of each active segment under flush
 * policy always (slog.h, zero.c); a job zeroes half of it at a time. */
#define BRK_ZERO_AHEAD_BYTES_DEFAULT ((int64_t)4 << 20)

/* queued.max.request.bytes default: request bytes read and not yet answered, all
 * connections together (Kafka's default is -1, unbounded; one client pipelining large frames
 * could then hold gigabytes). Equal to socket.request.max.bytes' default, so the largest
 * frame is admitted alone. */
#define BRK_QUEUED_REQUEST_BYTES_DEFAULT ((int64_t)100 << 20)
/* log.disk.reserve.bytes default: free bytes kept on the data dir's filesystem for the
 * cleaner, committed offsets and state files; produce is refused below it. */
#define BRK_DISK_RESERVE_BYTES_DEFAULT ((int64_t)64 << 20)
/* How often the free space of the data dir is measured (statvfs) at most, and after how
 * many bytes appended it is measured again whatever the time. */
#define BRK_DISK_CHECK_MS 100
#define BRK_DISK_CHECK_BYTES ((int64_t)4 << 20)
/* Offline partitions (a failed write or sync) are retried after this pause, doubling per
 * failed attempt up to the last. */
#define BRK_RESUME_BACKOFF_MS_MIN 1000
#define BRK_RESUME_BACKOFF_MS_MAX 30000
SL_STATIC_ASSERT(BRK_RESUME_BACKOFF_MS_MIN > 0 && BRK_RESUME_BACKOFF_MS_MIN <=
                 BRK_RESUME_BACKOFF_MS_MAX, "resume backoff bounds");

/* Producer ids reserved on disk at a time (Kafka's ProducerIdManager blocks: 1000). A crash
 * skips at most the rest of a block; ids are never reused. */
#define BRK_PRODUCER_ID_BLOCK 1000
/* Bytes of the producer-ids file (one decimal number). */
#define BRK_PRODUCER_ID_FILE_BYTES_MAX 64

/* Transaction coordinator (txn.c): transactional ids remembered (each costs a line of the
 * state file, rewritten at every change), partitions (and pending offsets) in one
 * transaction, and the state file's size. */
#define BRK_TXN_IDS_MAX 10000
#define BRK_TXN_ID_BYTES_MAX 512
#define BRK_TXN_PARTITIONS_MAX 10000
#define BRK_TXN_FILE_BYTES_MAX ((int64_t)256 << 20)
/* SASL password checks (PBKDF2, a few ms each) queued for or running on the verifier thread;
 * beyond, an attempt fails at once ("busy"), costing the loop nothing. */
#define BRK_SASL_VERIFY_QUEUE_MAX 64
/* Addresses whose failed authentications are counted (sasl.failed.authentication.limit.per.ip);
 * beyond, the one whose window started first is forgotten. */
#define BRK_AUTHFAIL_ADDRS_MAX 4096
SL_STATIC_ASSERT(BRK_SASL_VERIFY_QUEUE_MAX > 0 && BRK_SASL_VERIFY_QUEUE_MAX <= 4096, "queue");
SL_STATIC_ASSERT(BRK_AUTHFAIL_ADDRS_MAX > 0 && BRK_AUTHFAIL_ADDRS_MAX <= 65536, "addresses");
/* Bytes of the group id AddOffsetsToTxn names (kept hex-encoded in the state file). */
#define BRK_TXN_GROUP_ID_BYTES_MAX 1024
/* Aborted transactions listed in one partition of a read_committed fetch answer. */
#define BRK_FETCH_ABORTED_MAX 10000

SL_STATIC_ASSERT(BRK_TXN_ID_BYTES_MAX * 2 < 4096, "a hex id fits a state-file field");
SL_STATIC_ASSERT(BRK_FETCH_ABORTED_MAX > 0, "aborted list");
SL_STATIC_ASSERT(BRK_GROUP_MEMBER_PROTOCOLS_MAX >= 8 && BRK_GROUP_MEMBER_PROTOCOLS_MAX <= 256, "protocols");
SL_STATIC_ASSERT(BRK_PRODUCER_ID_BLOCK > 0 && BRK_PRODUCER_ID_BLOCK < (1 << 20), "id block");
/* ACL bindings on one broker (Kafka has no limit; each is checked only against requests on
 * its own resource, so this bounds memory and the acls.txt file, not request cost). */
#define BRK_ACLS_MAX 100000
/* Bytes of one ACL resource name, principal or host. */
#define BRK_ACL_FIELD_BYTES_MAX 1024
/* Bytes of the acls.txt file: every binding at its longest, %-escaped, plus framing. */
#define BRK_ACL_FILE_BYTES_MAX ((size_t)256 << 20)
/* super.users entries. */
#define BRK_ACL_SUPER_USERS_MAX 64

SL_STATIC_ASSERT(BRK_ACL_FILE_BYTES_MAX >= (size_t)BRK_ACLS_MAX * 3 * 64,
                 "a full store of typical bindings fits the file");
/* Listeners of one broker (`listeners`), and a listener name's length. */
#define BRK_LISTENERS_MAX 8
#define BRK_LISTENER_NAME_BYTES_MAX 63
/* Largest frame accepted on a SASL listener before authentication (Kafka's
 * sasl.server.max.receive.size default). */
#define BRK_SASL_RECEIVE_BYTES_MAX 524288
/* "User:" + a user name or a certificate subject. */
#define BRK_PRINCIPAL_BYTES_MAX 1024
/* Bytes of the credentials file (sluice users). */
#define BRK_USERS_FILE_BYTES_MAX ((size_t)16 << 20)
/* Users in the credentials file. */
#define BRK_USERS_MAX 100000
/* Period of the connection sweep (idle and authentication time limits), at most. */
#define BRK_CONN_SWEEP_MS_MAX 1000

SL_STATIC_ASSERT(BRK_LISTENERS_MAX >= 4, "one listener per security protocol fits");
SL_STATIC_ASSERT(BRK_SASL_RECEIVE_BYTES_MAX >= 8192, "a SASL token fits before authentication");
SL_STATIC_ASSERT(BRK_TOPIC_NAME_BYTES_MAX < BRK_PATH_BYTES_MAX / 2, "topic dir fits a path");


/* Monitoring (mon.c). API versions counted per API key; a higher version counts in the last
 * slot (no API has that many versions yet). */
#define BRK_MON_VERSIONS_MAX 32
/* Error codes counted per API key: -1 (UNKNOWN_SERVER_ERROR) to BRK_MON_ERRCODES_MAX - 2; a
 * higher code counts as -1. Kafka 3.7 defines codes up to about 120. */
#define BRK_MON_ERRCODES_MAX 160
/* Per-partition series in one /metrics answer (admin.metrics.partitions.max): the default and
 * the ceiling. Past it the partitions' series are left out and counted in
 * sluice_metrics_partitions_omitted; topic totals stay. */
#define BRK_MON_PARTS_DEFAULT 10000
#define BRK_MON_PARTS_MAX 1000000
/* Committed offsets whose lag is exposed in one /metrics answer (all groups together). */
#define BRK_MON_LAGS_MAX 100000
/* How long the admin thread waits for the loop to copy a snapshot before it answers 503. */
#define BRK_MON_SNAP_WAIT_MS 5000

SL_STATIC_ASSERT(BRK_MON_VERSIONS_MAX >= 16, "every API version Kafka 3.7 has fits");
SL_STATIC_ASSERT(BRK_MON_PARTS_DEFAULT <= BRK_MON_PARTS_MAX, "the default is allowed");

#endif
