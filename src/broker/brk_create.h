/* Topics and partitions created off the loop (create.c). Thread: loop. */
#ifndef BRK_CREATE_H
#define BRK_CREATE_H

#include <stdbool.h>
#include <stdint.h>

#include "brk_topics.h"

/* A batch of creations for one request (or for a Metadata's auto-creation, without one): the
 * names are reserved at once (brk_create_pending), the files are made on the creation worker,
 * and done runs on the loop once every item is installed in the registry (or failed). At most
 * BRK_CREATE_PARTITIONS_REQUEST_MAX partitions per batch and BRK_CREATE_PARTITIONS_INFLIGHT_MAX
 * in all batches out. */
typedef struct brk_create brk_create_t;

/* Checks a new topic (name, existence or creation in flight, partitions: -1 becomes
 * num.partitions, topic count, overrides) without creating anything. Returns a Kafka error
 * with msg. */
kerr_t brk_create_check_topic(brk_t *brk, kproto_str_t name, int32_t *npart,
                              const sl_props_t *overrides, const char **msg);

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
/* Adds a checked new topic (brk_create_check_topic) or partitions [npart, count) of topic
 * (brk_topic_check_partitions) to the batch; returns the item's index. */
int32_t brk_create_topic(brk_create_t *c, kproto_str_t name, int32_t npart,
                         const sl_props_t *overrides);
int32_t brk_create_parts(brk_create_t *c, brk_topic_t *topic, int32_t count);
/* After done: item i's result, its topic on success, a message on failure. */
kerr_t brk_create_result(const brk_create_t *c, int32_t i, brk_topic_t **topic, const char **msg);
/* Submits the batch (done runs later on the loop), or calls done at once when it is empty or
 * the worker's queue is full (every item then THROTTLING_QUOTA_EXCEEDED). The batch is freed
 * after done returns. */
void brk_create_submit(brk_create_t *c);

#endif
