/* Group commit. The loop hands sync jobs (slog_part_sync_begin) to a few flusher threads
 * through a bounded queue; a thread takes every job queued (a round: many partitions' files
 * synced together on several threads, slog_sync_run_many, so that under load one journal
 * commit serves them all rather than each waiting for its own); the loop learns of the
 * completion through an eventfd, ends the job (the durable offset advances) and tells the
 * partition's owner (synced: part.c answers the waiters whose records are now durable). While a job is out, new
 * appends accumulate and the next job covers them all: one fdatasync per partition covers
 * every batch that arrived meanwhile.
 *
 * Under flush policy always, a finished sync job may be followed by a zero-ahead job for its
 * partition (slog_part_zero_begin: zeroed space past the active segment's end, so the next
 * fdatasyncs skip the journal commit). Zero jobs wait in their own queue: a thread takes a
 * sync job first, and at most nthreads - 1 threads (one when there is one) zero at a time,
 * so a sync job never waits behind zeroing with more than one thread. */
#include "brk_conf.h"
#include "brk_flush.h"
#include "brk_internal.h"
#include "brk_mon.h"
#include "sl_time.h"
#include "brk_limits.h"
#include "brk_part.h"
#include "brk_topics.h"
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
    slog_sync_job_t *job;  /* a sync job, or */
    slog_zero_job_t *zjob; /* a zero-ahead job */
    int rc;
    int64_t us; /* how long the job ran (monitoring) */
} brk_fjob_t;

struct brk_flusher {
    brk_t *brk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    brk_fjob_t *todo, *todo_tail;
    brk_fjob_t *ztodo, *ztodo_tail;
    brk_fjob_t *done;
    size_t queued;    /* sync jobs out (loop only) */
    int zrunning, zmax; /* zero jobs running, and the most at a time */
    bool stop;
    int efd;
    int nthreads;
    pthread_t threads[BRK_FLUSH_THREADS_MAX];
    brk_synced_fn synced;
};

static void brk__fq_push(brk_fjob_t **head, brk_fjob_t **tail, brk_fjob_t *fj)
{
    if (*tail) {
        (*tail)->next = fj;
    } else {
        *head = fj;
    }
    *tail = fj;
}

static brk_fjob_t *brk__fq_pop(brk_fjob_t **head, brk_fjob_t **tail)
{
    brk_fjob_t *fj = *head;
    *head = fj->next;
    if (!*head) {
        *tail = NULL;
    }
    fj->next = NULL;
    return fj;
}

/* The next work for a thread (fl->mu held), into round: every queued sync job up to
 * BRK_FLUSH_ROUND_JOBS_MAX (one round), else one zero job when allowed. Returns the count. */
static size_t brk__flush_take(brk_flusher_t *fl, brk_fjob_t **round)
{
    size_t n = 0;
    while (fl->todo && n < BRK_FLUSH_ROUND_JOBS_MAX) {
        round[n++] = brk__fq_pop(&fl->todo, &fl->todo_tail);
    }
    if (n == 0 && fl->ztodo && fl->zrunning < fl->zmax) {
        fl->zrunning++;
        round[n++] = brk__fq_pop(&fl->ztodo, &fl->ztodo_tail);
    }
    return n;
}

/* A thread's buffers for one round. */
typedef struct {
    brk_fjob_t *fjobs[BRK_FLUSH_ROUND_JOBS_MAX];
    slog_sync_job_t *jobs[BRK_FLUSH_ROUND_JOBS_MAX];
    int rcs[BRK_FLUSH_ROUND_JOBS_MAX];
} brk_fround_t;

/* Runs one zero job, or n sync jobs together (slog_sync_run_many). */
static void brk__flush_run(brk_fround_t *r, size_t n)
{
    if (r->fjobs[0]->zjob) {
        r->fjobs[0]->rc = slog_zero_run(r->fjobs[0]->zjob);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        r->jobs[i] = r->fjobs[i]->job;
    }
    slog_sync_run_many(r->jobs, n, r->rcs);
    for (size_t i = 0; i < n; i++) {
        r->fjobs[i]->rc = r->rcs[i];
    }
}

static void *brk__flush_thread(void *arg)
{
    brk_flusher_t *fl = arg;
    brk_fround_t *r = sl_xmalloc(sizeof *r);
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        size_t n = brk__flush_take(fl, r->fjobs);
        if (n == 0) {
            if (fl->stop && !fl->todo && !fl->ztodo) {
                break;
            }
            pthread_cond_wait(&fl->cv, &fl->mu);
            continue;
        }
        pthread_mutex_unlock(&fl->mu);
        int64_t t0 = sl_time_mono_us();
        brk__flush_run(r, n);
        int64_t us = sl_time_mono_us() - t0; /* each job of a round waited for all of it */
        for (size_t i = 0; i < n; i++) {
            r->fjobs[i]->us = us;
        }
        pthread_mutex_lock(&fl->mu);
        if (r->fjobs[0]->zjob) {
            fl->zrunning--;
            pthread_cond_broadcast(&fl->cv); /* a queued zero job may start now */
        }
        for (size_t i = 0; i < n; i++) {
            r->fjobs[i]->next = fl->done;
            fl->done = r->fjobs[i];
        }
        uint64_t one = 1;
        ssize_t w = write(fl->efd, &one, sizeof one);
        SL_UNUSED(w);
    }
    pthread_mutex_unlock(&fl->mu);
    free(r);
    return NULL;
}

/* Hands a sync job or a zero job (exactly one of them) of part to the threads. */
static void brk__flush_submit(brk_flusher_t *fl, brk_part_t *part, slog_sync_job_t *job,
                              slog_zero_job_t *zjob)
{
    SL_ASSERT(!job != !zjob);
    brk_fjob_t *fj = sl_xcalloc(1, sizeof *fj);
    fj->part = part;
    fj->job = job;
    fj->zjob = zjob;
    pthread_mutex_lock(&fl->mu);
    if (job) {
        brk__fq_push(&fl->todo, &fl->todo_tail, fj);
    } else {
        brk__fq_push(&fl->ztodo, &fl->ztodo_tail, fj);
    }
    pthread_cond_signal(&fl->cv);
    pthread_mutex_unlock(&fl->mu);
}

/* Queues a zero-ahead job for part when its log wants one (slog_part_zero_begin). */
static void brk__zero_kick(brk_flusher_t *fl, brk_part_t *part)
{
    if (part->zero_job || part->closing) {
        return;
    }
    slog_zero_job_t *z = slog_part_zero_begin(part->log);
    if (!z) {
        return;
    }
    part->zero_job = z;
    brk__flush_submit(fl, part, NULL, z);
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
        if (fj->zjob) {
            SL_ASSERT(part->zero_job == fj->zjob);
            slog_part_zero_end(part->log, fj->zjob, fj->rc);
            part->zero_job = NULL;
            /* An append that overtook the job stopped it. A sync that finished meanwhile found
             * the job still out and queued none, so queue the next one here; a sync in flight
             * will do it when it ends. */
            if (fj->rc == 0 && !part->sync_inflight &&
                fl->brk->conf.flush_policy == BRK_FLUSH_ALWAYS) {
                brk__zero_kick(fl, part);
            }
            free(fj);
            continue;
        }
        int64_t durable = slog_part_durable_offset(part->log);
        slog_part_sync_end(part->log, fj->job, fj->rc);
        part->sync_inflight = false;
        if (fj->rc == 0 && part->topic) {
            brk_mon_fsync(fl->brk->mon, fj->us, slog_part_durable_offset(part->log) - durable);
        }
        fl->queued--;
        if (fj->rc != 0) {
            SL_LOGE("flush", "%s-%d: fdatasync failed: %s; partition is offline",
                    part->topic->name, (int)part->index, sl_strerror(fj->rc));
        }
        int rc = fj->rc;
        free(fj);
        fl->synced(fl->brk, part, rc);
        if (fl->brk->conf.flush_policy == BRK_FLUSH_ALWAYS || part->waiters) {
            brk_flush_kick(fl->brk, part);
        }
        if (fl->brk->conf.flush_policy == BRK_FLUSH_ALWAYS) {
            brk__zero_kick(fl, part);
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

int brk_flusher_new(brk_t *brk, int threads, brk_synced_fn synced, brk_flusher_t **out)
{
    brk_flusher_t *fl = sl_xcalloc(1, sizeof *fl);
    fl->brk = brk;
    fl->synced = synced;
    fl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fl->efd < 0) {
        int rc = -errno;
        free(fl);
        return rc;
    }
    pthread_mutex_init(&fl->mu, NULL);
    pthread_cond_init(&fl->cv, NULL);
    fl->nthreads = SL_MIN(SL_MAX(threads, 1), BRK_FLUSH_THREADS_MAX);
    fl->zmax = SL_MAX(fl->nthreads - 1, 1);
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
    SL_ASSERT(!fl->todo && !fl->ztodo);
    brk__flush_reap(fl);
    snet_loop_unwatch(fl->brk->loop, fl->efd);
    close(fl->efd);
    pthread_mutex_destroy(&fl->mu);
    pthread_cond_destroy(&fl->cv);
    free(fl);
}

bool brk_flush_busy(const brk_t *brk)
{
    return brk->flusher && brk->flusher->queued > 0;
}

void brk_flush_kick(brk_t *brk, brk_part_t *part)
{
    brk_flusher_t *fl = brk->flusher;
    if (part->sync_inflight || !slog_part_sync_needed(part->log)) {
        return;
    }
    SL_ASSERT((int64_t)fl->queued < BRK_FLUSH_QUEUE_MAX); /* one per partition: !sync_inflight */
    slog_sync_job_t *job = slog_part_sync_begin(part->log);
    if (!job) {
        return;
    }
    part->sync_inflight = true;
    fl->queued++;
    brk__flush_submit(fl, part, job, NULL);
}

void brk_flush_quiesce(brk_part_t *part)
{
    part->closing = true;
    if (part->zero_job) {
        slog_zero_cancel(part->zero_job);
    }
}

void brk_flush_drain(brk_t *brk, brk_part_t *part)
{
    brk_flusher_t *fl = brk->flusher;
    part->closing = true;
    while (part->sync_inflight || part->zero_job) {
        if (part->zero_job) {
            slog_zero_cancel(part->zero_job);
        }
        uint64_t n;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        ssize_t r = read(fl->efd, &n, sizeof n);
        SL_UNUSED(r);
        brk__flush_reap(fl);
    }
}
