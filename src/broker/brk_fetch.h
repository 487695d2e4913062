/* Fetch and its long-poll (fetch.c). Thread: loop. */
#ifndef BRK_FETCH_H
#define BRK_FETCH_H

#include "brk_req.h"

/* Subscribes to partition events: a moved high watermark re-examines the fetches parked on
 * that partition (work in proportion to them) and answers the ready ones; a partition gone
 * answers every fetch that watches it. */
void brk_fetch_start(brk_t *brk);
/* Answers every waiting fetch now (shutdown). */
void brk_fetch_flush_all(brk_t *brk);
void brk_handle_fetch(brk_req_t *req);

#endif
