/* Log compaction on a cleaner thread (cleaner.c). */
#ifndef BRK_CLEANER_H
#define BRK_CLEANER_H

#include "brk_part.h"

typedef struct brk_cleaner brk_cleaner_t;
int brk_cleaner_new(brk_t *brk, brk_cleaner_t **out);
/* Cancels and waits for the job out (shutdown), then frees. */
void brk_cleaner_free(brk_cleaner_t *cl);
/* Before part's log is closed or deleted: cancels its clean if one is out and waits for the
 * thread to let go of it (the loop blocks briefly). */
void brk_cleaner_forget(brk_t *brk, brk_part_t *part);

#endif
