/* Fault injection (slog_fault.h) and the two system-call wrappers it can fail: every segment
 * write and every segment fdatasync of the storage layer goes through them. */
#include "sl_common.h"
#include "slog_fault.h"
#include "slog_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int slog__fault_nth[SLOG_FAULT__COUNT];
static atomic_int slog__fault_err[SLOG_FAULT__COUNT];

void slog_fault_set(slog_fault_op_t op, int nth, int err)
{
    SL_ASSERT(op >= 0 && op < SLOG_FAULT__COUNT && nth >= 0);
    atomic_store(&slog__fault_err[op], err);
    atomic_store(&slog__fault_nth[op], nth);
}

int slog_fault_hit(slog_fault_op_t op)
{
    if (atomic_load_explicit(&slog__fault_nth[op], memory_order_relaxed) == 0) {
        return 0;
    }
    return atomic_fetch_sub(&slog__fault_nth[op], 1) == 1 ? atomic_load(&slog__fault_err[op]) : 0;
}

int slog__pwrite_raw(int fd, const uint8_t *p, size_t len, int64_t pos)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        pos += n;
        len -= (size_t)n;
    }
    return 0;
}

int slog__pwrite_all(int fd, const uint8_t *p, size_t len, int64_t pos)
{
    int err = slog_fault_hit(SLOG_FAULT_WRITE);
    if (err) {
        return -err;
    }
    err = slog_fault_hit(SLOG_FAULT_WRITE_TORN);
    if (err) {
        int rc = slog__pwrite_raw(fd, p, len / 2, pos);
        return rc != 0 ? rc : -err;
    }
    return slog__pwrite_raw(fd, p, len, pos);
}

int slog__fdatasync(int fd)
{
    int err = slog_fault_hit(SLOG_FAULT_SYNC);
    if (err) {
        return -err;
    }
    return fdatasync(fd) < 0 ? -errno : 0;
}
