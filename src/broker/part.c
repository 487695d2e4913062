/* Partitions: lookup, high watermark, durable-offset waiters, watches and their event. */
#include "brk_conf.h"
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_part.h"
#include "brk_topics.h"

brk_part_t *brk_part_find(brk_t *brk, kproto_str_t topic_name, int32_t partition)
{
    brk_topic_t *topic = brk_topic_find(brk, topic_name);
    if (!topic || partition < 0 || partition >= topic->npart) {
        return NULL;
    }
    return topic->parts[partition];
}

int64_t brk_part_hw(brk_t *brk, const brk_part_t *part)
{
    if (brk->conf.flush_policy == BRK_FLUSH_ALWAYS) {
        return slog_part_durable_offset(part->log);
    }
    return slog_part_end_offset(part->log);
}

void brk_part_wait(brk_t *brk, brk_part_t *part, brk_wait_t *w)
{
    w->next = NULL;
    SL_ASSERT(!part->waiters_tail || part->waiters_tail->target <= w->target);
    if (part->waiters_tail) {
        part->waiters_tail->next = w;
    } else {
        part->waiters = w;
    }
    part->waiters_tail = w;
    brk_flush_kick(brk, part);
}

/* Completes the waiters whose target is at most durable, or all of them with err != 0. */
static void brk__part_complete_waiters(brk_part_t *part, int err, int64_t durable)
{
    while (part->waiters && (err != 0 || part->waiters->target <= durable)) {
        brk_wait_t *w = part->waiters;
        part->waiters = w->next;
        if (!part->waiters) {
            part->waiters_tail = NULL;
        }
        w->done(w, err);
    }
}

void brk_part_fail_waiters(brk_part_t *part, int err)
{
    brk__part_complete_waiters(part, err, INT64_MIN);
}

void brk_part_synced(brk_t *brk, brk_part_t *part, int err)
{
    brk__part_complete_waiters(part, err, slog_part_durable_offset(part->log));
    brk_part_hw_moved(brk, part);
}

void brk_part_watch(brk_part_watch_t *w)
{
    w->prev = NULL;
    w->next = w->part->watches;
    if (w->next) {
        w->next->prev = w;
    }
    w->part->watches = w;
}

void brk_part_unwatch(brk_part_watch_t *w)
{
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        w->part->watches = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    }
    w->next = w->prev = NULL;
}

void brk_part_subscribe(brk_t *brk, brk_part_listener_t fn)
{
    brk->part_listener = fn;
}

void brk_part_hw_moved(brk_t *brk, brk_part_t *part)
{
    if (brk->part_listener) {
        brk->part_listener(brk, part, BRK_PART_HW_MOVED);
    }
}

void brk_part_gone(brk_t *brk, brk_part_t *part)
{
    if (brk->part_listener) {
        brk->part_listener(brk, part, BRK_PART_GONE);
    }
}
