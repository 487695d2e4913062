/* Topics and partitions created off the loop. Creating a partition is file-system work
 * (directories, the first segment and index files, the producer and transaction state, their
 * syncs, topic.properties): a few hundred microseconds each, so thousands of them would hold
 * the loop for seconds. A request's creations form one batch: the loop checks every entry and
 * reserves the new names (brk_create_pending), the creation worker makes the files, and the
 * loop installs the results in the registry and calls the batch's done (which answers the
 * parked request; the connection's later answers wait behind it, in order). Meanwhile the
 * broker serves everyone else: a Metadata naming a topic being created answers
 * LEADER_NOT_AVAILABLE (Kafka's answer while it creates a topic), CreateTopics
 * TOPIC_ALREADY_EXISTS, CreatePartitions and DeleteTopics of a topic that is growing
 * REASSIGNMENT_IN_PROGRESS. */
#include "brk_create.h"
#include "brk_internal.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_topics.h"
#include "brk_workq.h"
#include "kerr.h"
#include "sl_hset.h"
#include "sl_log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;            /* new topic: its name (the key in brk->creating) */
    sl_props_t *overrides; /* new topic: its configs (may be NULL) */
    brk_topic_t *topic;    /* new topic: built by the worker; else the growing topic */
    int32_t from, to;      /* partitions [from, to) */
    slog_conf_t conf;      /* growing topic: its log settings when the batch was made */
    brk_part_t **parts;    /* growing topic: the opened partitions (to - from) */
    int rc;                /* the worker's result */
    kerr_t err;            /* the result after install */
    const char *msg;
} brk_create_item_t;

struct brk_create {
    brk_work_t work; /* first */
    brk_t *brk;
    brk_create_item_t *items;
    int32_t n, cap;
    int64_t nparts;
    bool ran;  /* the worker ran it */
    bool busy; /* refused: the worker's queue was full */
    void (*done)(brk_create_t *c, void *ctx);
    void *ctx;
};

int brk_create_start(brk_t *brk)
{
    brk->creating = sl_hset_new(64);
    return brk_workq_new(brk->loop, BRK_CREATE_JOBS_MAX, &brk->create_workq);
}

void brk_create_stop(brk_t *brk)
{
    atomic_store(&brk->creating_stop, true); /* the batch being built stops at its next partition */
    brk_workq_free(brk->create_workq); /* batches: installed (built or not) and done */
    brk->create_workq = NULL;
    sl_hset_free(brk->creating);
    brk->creating = NULL;
}

bool brk_create_pending(brk_t *brk, kproto_str_t name)
{
    return brk->creating && name.len > 0 &&
           sl_hset_get(brk->creating, name.ptr, (size_t)name.len, 0, NULL);
}

int32_t brk_create_pending_topics(const brk_t *brk)
{
    return brk->creating_topics;
}

bool brk_create_busy(const brk_t *brk)
{
    return brk->creating_parts > 0;
}

brk_create_t *brk_create_new(brk_t *brk, void (*done)(brk_create_t *c, void *ctx), void *ctx)
{
    brk_create_t *c = sl_xcalloc(1, sizeof *c);
    c->brk = brk;
    c->done = done;
    c->ctx = ctx;
    return c;
}

kerr_t brk_create_admit(const brk_create_t *c, int64_t npart, const char **msg)
{
    if (c->nparts + npart > BRK_CREATE_PARTITIONS_REQUEST_MAX) {
        *msg = "one request may create at most 50000 partitions";
        return KERR_POLICY_VIOLATION;
    }
    if (c->brk->creating_parts + c->nparts + npart > BRK_CREATE_PARTITIONS_INFLIGHT_MAX) {
        *msg = "too many partitions are being created; retry later";
        return KERR_THROTTLING_QUOTA_EXCEEDED;
    }
    return KERR_NONE;
}

static brk_create_item_t *brk__create_add(brk_create_t *c)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->items = sl_xrealloc(c->items, (size_t)c->cap * sizeof *c->items);
    }
    brk_create_item_t *it = &c->items[c->n++];
    memset(it, 0, sizeof *it);
    return it;
}

int32_t brk_create_topic(brk_create_t *c, kproto_str_t name, int32_t npart,
                         const sl_props_t *overrides)
{
    brk_create_item_t *it = brk__create_add(c);
    it->name = sl_xstrndup(name.ptr, (size_t)name.len);
    if (overrides && sl_props_count(overrides) > 0) {
        it->overrides = sl_props_new();
        for (size_t i = 0; i < sl_props_count(overrides); i++) {
            const char *k, *v;
            sl_props_at(overrides, i, &k, &v);
            sl_props_set(it->overrides, k, v);
        }
    }
    it->to = npart;
    c->nparts += npart;
    sl_hset_put(c->brk->creating, it->name, (size_t)name.len, 0, 0, NULL);
    c->brk->creating_topics++;
    return c->n - 1;
}

int32_t brk_create_parts(brk_create_t *c, brk_topic_t *topic, int32_t count)
{
    brk_create_item_t *it = brk__create_add(c);
    it->topic = topic;
    it->from = topic->npart;
    it->to = count;
    it->conf = topic->log;
    c->nparts += count - topic->npart;
    topic->adding = true;
    return c->n - 1;
}

kerr_t brk_create_result(const brk_create_t *c, int32_t i, brk_topic_t **topic, const char **msg)
{
    *topic = c->items[i].topic;
    *msg = c->items[i].msg;
    return c->items[i].err;
}

/* Thread: the creation worker. Touches only the batch (and, for a growing topic, its name). */
static void brk__create_run(brk_work_t *work)
{
    brk_create_t *c = (brk_create_t *)work;
    for (int32_t i = 0; i < c->n; i++) {
        brk_create_item_t *it = &c->items[i];
        if (atomic_load(&c->brk->creating_stop)) {
            it->rc = SL_ECLOSED;
        } else if (it->name) {
            it->topic = brk_topic_build(c->brk, it->name, it->to, it->overrides, &it->rc);
        } else {
            it->parts = sl_xcalloc((size_t)(it->to - it->from), sizeof *it->parts);
            it->rc = brk_parts_build(c->brk, it->topic, &it->conf, it->from, it->to, it->parts);
        }
    }
    c->ran = true;
}

/* Thread: loop. Installs what the worker built, releases the names, calls done, frees. */
static void brk__create_done(brk_work_t *work)
{
    brk_create_t *c = (brk_create_t *)work;
    brk_t *brk = c->brk;
    int32_t created = 0;
    const char *one = NULL; /* a topic created, for the batch's log line */
    for (int32_t i = 0; i < c->n; i++) {
        brk_create_item_t *it = &c->items[i];
        if (it->name) {
            sl_hset_del(brk->creating, it->name, strlen(it->name), 0);
            brk->creating_topics--;
        } else {
            it->topic->adding = false;
        }
        if (c->busy) {
            it->err = KERR_THROTTLING_QUOTA_EXCEEDED;
            it->msg = "too many creations are queued; retry later";
            it->topic = it->name ? NULL : it->topic;
        } else if (!c->ran) { /* shutdown before the worker reached it */
            it->err = KERR_REQUEST_TIMED_OUT;
            it->msg = "the broker is shutting down";
            it->topic = it->name ? NULL : it->topic;
        } else if (it->rc == SL_ECLOSED) {
            it->err = KERR_REQUEST_TIMED_OUT;
            it->msg = "the broker is shutting down";
            it->topic = it->name ? NULL : it->topic;
        } else if (it->rc != 0) {
            it->err = KERR_KAFKA_STORAGE_ERROR;
            it->msg = it->name ? "storage error while creating the topic"
                               : "storage error while adding partitions";
            it->topic = it->name ? NULL : it->topic;
        } else if (it->name) {
            /* One line per topic for small batches, one for the batch beyond. */
            brk_topic_install(brk, it->topic, c->n <= 8);
            one = it->topic->name;
            created++;
        } else {
            it->err = brk_topic_install_parts(brk, it->topic, it->parts, it->to, &it->msg);
        }
        free(it->parts);
        it->parts = NULL;
    }
    if (c->n > 8 && created > 0) {
        SL_LOGI("topics", "created %d topics in one request, e.g. %s", (int)created, one);
    }
    brk->creating_parts -= c->nparts;
    if (c->done) {
        c->done(c, c->ctx);
    }
    for (int32_t i = 0; i < c->n; i++) {
        free(c->items[i].name);
        sl_props_free(c->items[i].overrides);
    }
    free(c->items);
    free(c);
}

void brk_create_submit(brk_create_t *c)
{
    c->work.run = brk__create_run;
    c->work.done = brk__create_done;
    c->brk->creating_parts += c->nparts;
    if (c->n == 0 || !brk_workq_submit(c->brk->create_workq, &c->work)) {
        c->busy = c->n > 0; /* the worker's queue is full */
        brk__create_done(&c->work);
    }
}

kerr_t brk_create_check_topic(brk_t *brk, kproto_str_t name, int32_t *npart,
                              const sl_props_t *overrides, const char **msg)
{
    const char *why = NULL;
    if (!brk_topic_name_valid(name, &why)) {
        *msg = why;
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (brk_topic_find(brk, name)) {
        *msg = "topic already exists";
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    if (brk_create_pending(brk, name)) {
        *msg = "topic is being created";
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    if (*npart == -1) {
        *npart = brk->conf.num_partitions;
    }
    if (*npart <= 0 || *npart > BRK_PARTITIONS_MAX) {
        *msg = "number of partitions must be between 1 and 50000";
        return KERR_INVALID_PARTITIONS;
    }
    if (brk->ntopics + brk_create_pending_topics(brk) >= BRK_TOPICS_MAX) {
        *msg = "too many topics on this broker";
        return KERR_POLICY_VIOLATION;
    }
    return brk_topic_check_overrides(overrides, msg);
}
