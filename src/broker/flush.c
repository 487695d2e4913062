/* Group commit. The loop hands sync jobs (slog_part_sync_begin) to a few flusher threads
 * through a bounded queue; a thread runs fdatasync on the job's files; the loop learns of the
 * completion through an eventfd, ends the job (the durable offset advances) and answers every
 * produce waiting on that partition whose records are now durable. While a job is out, new
 * appends accumulate and the next job covers them all: one fdatasync per partition covers
 * every batch that arrived meanwhile. */
#include "brk_internal.h"
#include "sl_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct brk_fjob {
    struct brk_fjob *next;
    brk_part_t *part;
    slog_sync_job_t *job;
    int rc;
} brk_fjob_t;

struct brk_flusher {
    brk_t *brk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    brk_fjob_t *todo, *todo_tail;
    brk_fjob_t *done;
    size_t queued;
    bool stop;
    int efd;
    int nthreads;
    pthread_t threads[BRK_FLUSH_THREADS_MAX];
};

static void *brk__flush_thread(void *arg)
{
    brk_flusher_t *fl = arg;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (!fl->todo && !fl->stop) {
            pthread_cond_wait(&fl->cv, &fl->mu);
        }
        if (!fl->todo) {
            break;
        }
        brk_fjob_t *fj = fl->todo;
        fl->todo = fj->next;
        if (!fl->todo) {
            fl->todo_tail = NULL;
        }
        pthread_mutex_unlock(&fl->mu);
        fj->rc = slog_sync_run(fj->job);
        pthread_mutex_lock(&fl->mu);
        fj->next = fl->done;
        fl->done = fj;
        uint64_t one = 1;
        ssize_t w = write(fl->efd, &one, sizeof one);
        SL_UNUSED(w);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

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

/* Ends finished jobs on the loop. */
static void brk__flush_reap(brk_flusher_t *fl)
{
    pthread_mutex_lock(&fl->mu);
    brk_fjob_t *done = fl->done;
    fl->done = NULL;
    pthread_mutex_unlock(&fl->mu);
    while (done) {
        brk_fjob_t *fj = done;
        done = fj->next;
        brk_part_t *part = fj->part;
        slog_part_sync_end(part->log, fj->job, fj->rc);
        part->sync_inflight = false;
        fl->queued--;
        if (fj->rc != 0) {
            SL_LOGE("flush", "%s-%d: fdatasync failed: %s; partition is offline",
                    part->topic->name, (int)part->index, sl_strerror(fj->rc));
        }
        brk__part_complete_waiters(part, fj->rc, slog_part_durable_offset(part->log));
        free(fj);
        brk_fetch_wake(fl->brk, part);
        if (fl->brk->conf.flush_policy == BRK_FLUSH_ALWAYS || part->waiters) {
            brk_flush_kick(fl->brk, part);
        }
    }
}

static void brk__flush_efd(void *ctx)
{
    brk_flusher_t *fl = ctx;
    uint64_t n;
    ssize_t r = read(fl->efd, &n, sizeof n);
    SL_UNUSED(r);
    brk__flush_reap(fl);
}

int brk_flusher_new(brk_t *brk, int threads, brk_flusher_t **out)
{
    brk_flusher_t *fl = sl_xcalloc(1, sizeof *fl);
    fl->brk = brk;
    fl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fl->efd < 0) {
        int rc = -errno;
        free(fl);
        return rc;
    }
    pthread_mutex_init(&fl->mu, NULL);
    pthread_cond_init(&fl->cv, NULL);
    fl->nthreads = SL_MIN(SL_MAX(threads, 1), BRK_FLUSH_THREADS_MAX);
    for (int i = 0; i < fl->nthreads; i++) {
        int rc = pthread_create(&fl->threads[i], NULL, brk__flush_thread, fl);
        SL_ASSERT(rc == 0);
    }
    int rc = snet_loop_watch(brk->loop, fl->efd, brk__flush_efd, fl);
    SL_ASSERT(rc == 0);
    *out = fl;
    return 0;
}

void brk_flusher_free(brk_flusher_t *fl)
{
    if (!fl) {
        return;
    }
    pthread_mutex_lock(&fl->mu);
    fl->stop = true;
    pthread_cond_broadcast(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
    for (int i = 0; i < fl->nthreads; i++) {
        pthread_join(fl->threads[i], NULL);
    }
    SL_ASSERT(!fl->todo);
    brk__flush_reap(fl);
    snet_loop_unwatch(fl->brk->loop, fl->efd);
    close(fl->efd);
    pthread_mutex_destroy(&fl->mu);
    pthread_cond_destroy(&fl->cv);
    free(fl);
}

void brk_flush_kick(brk_t *brk, brk_part_t *part)
{
    brk_flusher_t *fl = brk->flusher;
    if (part->sync_inflight || !slog_part_sync_needed(part->log)) {
        return;
    }
    SL_ASSERT(fl->queued < BRK_FLUSH_QUEUE_MAX + 1);
    slog_sync_job_t *job = slog_part_sync_begin(part->log);
    if (!job) {
        return;
    }
    brk_fjob_t *fj = sl_xcalloc(1, sizeof *fj);
    fj->part = part;
    fj->job = job;
    part->sync_inflight = true;
    fl->queued++;
    pthread_mutex_lock(&fl->mu);
    if (fl->todo_tail) {
        fl->todo_tail->next = fj;
    } else {
        fl->todo = fj;
    }
    fl->todo_tail = fj;
    pthread_cond_signal(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
}

void brk_flush_drain(brk_t *brk, brk_part_t *part)
{
    brk_flusher_t *fl = brk->flusher;
    while (part->sync_inflight) {
        uint64_t n;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        ssize_t r = read(fl->efd, &n, sizeof n);
        SL_UNUSED(r);
        brk__flush_reap(fl);
    }
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

void brk_part_fail_waiters(brk_part_t *part, int err)
{
    brk__part_complete_waiters(part, err, INT64_MIN);
}
