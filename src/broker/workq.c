/* A worker thread with a bounded queue for expensive work that must not run on the loop
 * (SASL password checks: PBKDF2). The loop submits an item; the thread runs item->run; an
 * eventfd brings it back and the loop calls item->done. Free stops the thread and calls done
 * for every item left (run or not), so no request is left unanswered. */
#include "brk_workq.h"
#include "sl_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct brk_workq {
    snet_loop_t *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    brk_work_t *todo, *todo_tail; /* submitted, not yet run (FIFO) */
    brk_work_t *done;             /* run, not yet reaped */
    int32_t n;                    /* items out (todo + running + done) */
    int32_t max;
    bool stop;
    int efd;
};

static void *brk__workq_thread(void *arg)
{
    brk_workq_t *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && !q->todo) {
            pthread_cond_wait(&q->cv, &q->mu);
        }
        if (q->stop) {
            break;
        }
        brk_work_t *w = q->todo;
        q->todo = w->next;
        if (!q->todo) {
            q->todo_tail = NULL;
        }
        pthread_mutex_unlock(&q->mu);
        w->run(w);
        pthread_mutex_lock(&q->mu);
        w->next = q->done;
        q->done = w;
        uint64_t one = 1;
        ssize_t wr = write(q->efd, &one, sizeof one);
        SL_UNUSED(wr);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Calls done for every finished item (oldest first). Thread: loop. */
static void brk__workq_reap(void *ctx)
{
    brk_workq_t *q = ctx;
    uint64_t v;
    ssize_t r = read(q->efd, &v, sizeof v);
    SL_UNUSED(r);
    pthread_mutex_lock(&q->mu);
    brk_work_t *list = q->done;
    q->done = NULL;
    pthread_mutex_unlock(&q->mu);
    brk_work_t *rev = NULL;
    while (list) {
        brk_work_t *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        brk_work_t *next = rev->next;
        pthread_mutex_lock(&q->mu);
        q->n--;
        pthread_mutex_unlock(&q->mu);
        rev->done(rev);
        rev = next;
    }
}

int brk_workq_new(snet_loop_t *loop, int32_t max, brk_workq_t **out)
{
    brk_workq_t *q = sl_xcalloc(1, sizeof *q);
    q->loop = loop;
    q->max = max;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        int rc = -errno;
        free(q);
        return rc;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    int rc = pthread_create(&q->thread, NULL, brk__workq_thread, q);
    if (rc == 0) {
        rc = snet_loop_watch(loop, q->efd, brk__workq_reap, q);
        if (rc != 0) {
            pthread_mutex_lock(&q->mu);
            q->stop = true;
            pthread_cond_broadcast(&q->cv);
            pthread_mutex_unlock(&q->mu);
            pthread_join(q->thread, NULL);
        }
    } else {
        rc = -rc;
    }
    if (rc != 0) {
        close(q->efd);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int32_t brk_workq_out(brk_workq_t *q)
{
    pthread_mutex_lock(&q->mu);
    int32_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

bool brk_workq_submit(brk_workq_t *q, brk_work_t *w)
{
    pthread_mutex_lock(&q->mu);
    bool ok = q->n < q->max;
    if (ok) {
        q->n++;
        w->next = NULL;
        if (q->todo_tail) {
            q->todo_tail->next = w;
        } else {
            q->todo = w;
        }
        q->todo_tail = w;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void brk_workq_free(brk_workq_t *q)
{
    if (!q) {
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL); /* it finishes the item it runs, if any */
    snet_loop_unwatch(q->loop, q->efd);
    brk__workq_reap(q);
    for (brk_work_t *w = q->todo, *next; w; w = next) { /* never run: done all the same */
        next = w->next;
        w->done(w);
    }
    close(q->efd);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}
