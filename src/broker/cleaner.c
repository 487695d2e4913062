/* The log cleaner (compaction) of the broker: one cleaner thread (log.cleaner.threads = 1)
 * and at most one clean job out at a time. On the loop a timer picks the dirtiest partition
 * of a compacted topic whose dirty ratio reaches its min.cleanable.dirty.ratio (Kafka's
 * choice), prepares the job (slog_part_clean_begin) and hands it to the thread; the thread
 * runs it (reads closed segments, writes and syncs the cleaned files, throttled); an eventfd
 * brings the result back to the loop, which swaps it in (slog_part_clean_end) and looks for
 * the next clean at once (a log with more keys than the map takes several passes). Topic
 * deletion and shutdown cancel the job out and wait for the thread to let go of it. */
#include "brk_cleaner.h"
#include "brk_internal.h"
#include "brk_mon.h"
#include "brk_part.h"
#include "brk_topics.h"
#include "sl_log.h"
#include "sl_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct brk_cleaner {
    brk_t *brk;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slog_clean_job_t *job; /* handed to the thread; NULL when none is out */
    brk_part_t *part;      /* its partition (loop's) */
    bool running;          /* the thread has the job */
    bool done;             /* ... and finished it: rc is its result */
    bool stop;
    int rc;
    int efd;
    snet_timer_t *timer;
};

static void *brk__clean_thread(void *arg)
{
    brk_cleaner_t *cl = arg;
    pthread_mutex_lock(&cl->mu);
    for (;;) {
        while (!cl->stop && (!cl->job || cl->done)) {
            pthread_cond_wait(&cl->cv, &cl->mu);
        }
        if (cl->stop) {
            break;
        }
        slog_clean_job_t *job = cl->job;
        cl->running = true;
        pthread_mutex_unlock(&cl->mu);
        int rc = slog_clean_run(job);
        pthread_mutex_lock(&cl->mu);
        cl->running = false;
        cl->done = true;
        cl->rc = rc;
        pthread_cond_broadcast(&cl->cv);
        uint64_t one = 1;
        ssize_t w = write(cl->efd, &one, sizeof one);
        SL_UNUSED(w);
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

/* Ends the finished job on the loop. */
static void brk__clean_reap(brk_cleaner_t *cl)
{
    pthread_mutex_lock(&cl->mu);
    bool done = cl->job && cl->done;
    slog_clean_job_t *job = cl->job;
    int rc = cl->rc;
    if (done) {
        cl->job = NULL;
        cl->done = false;
    }
    pthread_mutex_unlock(&cl->mu);
    if (!done) {
        return;
    }
    brk_part_t *part = cl->part;
    cl->part = NULL;
    slog_clean_stats_t st;
    memset(&st, 0, sizeof st);
    rc = slog_part_clean_end(part->log, job, rc, &st);
    if (rc == 0) {
        brk_mon_cleaned(cl->brk->mon, st.bytes_read);
    }
    if (rc != 0 && rc != SL_EAGAIN && rc != SL_ECLOSED) {
        SL_LOGW("clean", "%s-%d: clean failed: %s", part->topic->name, (int)part->index,
                sl_strerror(rc));
    }
}

static void brk__clean_tick(void *ctx);

static void brk__clean_arm(brk_cleaner_t *cl, int64_t delay_ms)
{
    if (cl->timer) {
        snet_timer_cancel(cl->brk->loop, cl->timer);
    }
    cl->timer = snet_timer_start(cl->brk->loop, delay_ms, brk__clean_tick, cl);
}

static void brk__clean_efd(void *ctx)
{
    brk_cleaner_t *cl = ctx;
    uint64_t n;
    ssize_t r = read(cl->efd, &n, sizeof n);
    SL_UNUSED(r);
    brk__clean_reap(cl);
    brk__clean_arm(cl, 0); /* more passes or more logs may be waiting */
}

/* The partition of a compacted topic with the highest dirty ratio at or above its minimum;
 * one whose max.compaction.lag.ms has passed goes first. */
static brk_part_t *brk__clean_pick(brk_t *brk, int64_t now_ms)
{
    brk_part_t *best = NULL;
    double best_ratio = -1;
    for (brk_topic_t *t = brk->topics; t; t = t->next) {
        if (!t->log.cleanup_compact) {
            continue;
        }
        for (int32_t p = 0; p < t->npart; p++) {
            double r = slog_part_dirty_ratio(t->parts[p]->log, now_ms);
            bool due = slog_part_clean_due(t->parts[p]->log, now_ms);
            r = due ? 2.0 : r;
            if (r > 0 && (due || r >= t->log.min_cleanable_dirty_ratio) && r > best_ratio) {
                best = t->parts[p];
                best_ratio = r;
            }
        }
    }
    return best;
}

static void brk__clean_tick(void *ctx)
{
    brk_cleaner_t *cl = ctx;
    brk_t *brk = cl->brk;
    cl->timer = NULL;
    if (cl->job || brk->stopping) {
        return; /* the reap re-arms */
    }
    int64_t now = sl_time_wall_ms();
    brk_part_t *part = brk__clean_pick(brk, now);
    slog_clean_opts_t opts = {brk->conf.cleaner_dedupe_bytes, brk->conf.cleaner_io_bytes_per_sec};
    slog_clean_job_t *job = part ? slog_part_clean_begin(part->log, now, &opts, false) : NULL;
    if (!job) {
        brk__clean_arm(cl, brk->conf.cleaner_backoff_ms);
        return;
    }
    cl->part = part;
    pthread_mutex_lock(&cl->mu);
    cl->job = job;
    cl->done = false;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
}

int brk_cleaner_new(brk_t *brk, brk_cleaner_t **out)
{
    brk_cleaner_t *cl = sl_xcalloc(1, sizeof *cl);
    cl->brk = brk;
    cl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cl->efd < 0) {
        int rc = -errno;
        free(cl);
        return rc;
    }
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv, NULL);
    int rc = pthread_create(&cl->thread, NULL, brk__clean_thread, cl);
    SL_ASSERT(rc == 0);
    rc = snet_loop_watch(brk->loop, cl->efd, brk__clean_efd, cl);
    SL_ASSERT(rc == 0);
    brk__clean_arm(cl, SL_MIN(brk->conf.cleaner_backoff_ms, (int64_t)1000));
    *out = cl;
    return 0;
}

/* Cancels the job out and waits until the thread is done with it, then ends it. */
static void brk__clean_abort(brk_cleaner_t *cl)
{
    pthread_mutex_lock(&cl->mu);
    if (cl->job) {
        slog_clean_cancel(cl->job);
        while (!cl->done) { /* the thread takes it if it has not yet, and stops soon */
            pthread_cond_wait(&cl->cv, &cl->mu);
        }
    }
    pthread_mutex_unlock(&cl->mu);
    brk__clean_reap(cl);
}

void brk_cleaner_forget(brk_t *brk, brk_part_t *part)
{
    brk_cleaner_t *cl = brk->cleaner;
    if (cl && cl->part == part) {
        brk__clean_abort(cl);
    }
}

void brk_cleaner_free(brk_cleaner_t *cl)
{
    if (!cl) {
        return;
    }
    brk__clean_abort(cl);
    pthread_mutex_lock(&cl->mu);
    cl->stop = true;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
    pthread_join(cl->thread, NULL);
    if (cl->timer) {
        snet_timer_cancel(cl->brk->loop, cl->timer);
    }
    snet_loop_unwatch(cl->brk->loop, cl->efd);
    close(cl->efd);
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->cv);
    free(cl);
}
