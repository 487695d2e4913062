/* A worker thread with a bounded queue: expensive work off the loop (workq.c). */
#ifndef BRK_WORKQ_H
#define BRK_WORKQ_H

#include <stdbool.h>
#include <stdint.h>

#include "snet.h"

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
/* Items submitted and not yet done. Thread: loop. */
int32_t brk_workq_out(brk_workq_t *q);
/* Stops the thread and calls done for every item left, run or not. Thread: loop. */
void brk_workq_free(brk_workq_t *q);

#endif
