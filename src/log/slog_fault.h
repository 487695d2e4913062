/* Fault injection for tests (house style 17): make the nth future write or fsync of the
 * storage layer fail with an errno, or make the nth write torn (half of it reaches the file,
 * then it fails). Compiled in always; cheap when unused: one relaxed load per call.
 * Thread: any. */
#ifndef SLOG_FAULT_H
#define SLOG_FAULT_H

typedef enum {
    SLOG_FAULT_WRITE,      /* segment write fails before writing anything */
    SLOG_FAULT_WRITE_TORN, /* segment write stores its first half, then fails */
    SLOG_FAULT_SYNC,       /* fdatasync of a segment fails */
    SLOG_FAULT_CLEAN_STOP, /* the cleaner's swap stops after its nth step, as a crash would:
                            * files stay as they are (err unused; test then abandons) */
    SLOG_FAULT__COUNT
} slog_fault_op_t;

/* The nth (1 = next) call of op fails with err; nth 0 clears. */
void slog_fault_set(slog_fault_op_t op, int nth, int err);
/* Returns 0 or the errno to fail with for this call of op. */
int slog_fault_hit(slog_fault_op_t op);

#endif
