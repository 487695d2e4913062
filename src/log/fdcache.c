/* The segment fd cache: a bound on the .log files kept open at once, so a broker with many
 * segments or many partitions stays under RLIMIT_NOFILE. Every segment's file (closed or
 * active) is on one process-wide LRU list; past the bound the least recently used file that
 * nothing but its segment holds (refs == 1) has its fd closed, files with unsynced data last;
 * the next use reopens it from its path (slog__file_use). A reference (append, fetch response,
 * sync, zero or clean job) is only taken on an open file and keeps it open: a queued sendfile
 * never loses its fd, a write never has its fd closed under it.
 *
 * Closing a file with unsynced data loses nothing: the data is in the page cache (the inode's,
 * not the fd's), and the sync job reopens the file by path and fdatasyncs it, which writes
 * and waits for every dirty page of the inode. A writeback error that happened while no fd was
 * open is still reported: Linux (since 4.14, errseq) reports an error nobody has seen to the
 * next fsync through any fd, so the sync fails and the partition goes offline as before. */
#include "sl_common.h"
#include "sl_log.h"
#include "slog_internal.h"
#include "slog_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static pthread_mutex_t slog__fdc_mu = PTHREAD_MUTEX_INITIALIZER;
static slog_file_t *slog__fdc_head, *slog__fdc_tail; /* most recently used first */
static int64_t slog__fdc_open;                        /* cached files with an open fd */
static _Atomic int64_t slog__fdc_max = SLOG_FD_CACHE_DEFAULT;
static _Atomic int64_t slog__fdc_reopens;

void slog_fd_cache_set_max(int64_t max)
{
    atomic_store(&slog__fdc_max, SL_MIN(SL_MAX(max, (int64_t)SLOG_FD_CACHE_MIN),
                                        (int64_t)SLOG_FD_CACHE_MAX));
}

int64_t slog_fd_cache_max(void) { return atomic_load(&slog__fdc_max); }
int64_t slog_fd_cache_reopens(void) { return atomic_load(&slog__fdc_reopens); }

int64_t slog_fd_cache_open_count(void)
{
    pthread_mutex_lock(&slog__fdc_mu);
    int64_t n = slog__fdc_open;
    pthread_mutex_unlock(&slog__fdc_mu);
    return n;
}

static void slog__fdc_unlink(slog_file_t *file)
{
    if (file->lru_prev) {
        file->lru_prev->lru_next = file->lru_next;
    } else {
        slog__fdc_head = file->lru_next;
    }
    if (file->lru_next) {
        file->lru_next->lru_prev = file->lru_prev;
    } else {
        slog__fdc_tail = file->lru_prev;
    }
    file->lru_prev = file->lru_next = NULL;
}

static void slog__fdc_push_front(slog_file_t *file)
{
    file->lru_prev = NULL;
    file->lru_next = slog__fdc_head;
    if (slog__fdc_head) {
        slog__fdc_head->lru_prev = file;
    }
    slog__fdc_head = file;
    if (!slog__fdc_tail) {
        slog__fdc_tail = file;
    }
}

/* Closes idle fds from the least recently used end until at most keep are open (lock held),
 * never except's (the file about to be used) nor one in use (refs > 1). Files without unsynced
 * data go first; files with some (dirty) only when that is not enough: their data is in the
 * page cache and the sync job reopens them by path. Returns how many it closed. */
static int64_t slog__fdc_trim(int64_t keep, const slog_file_t *except)
{
    int64_t closed = 0;
    for (int pass = 0; pass < 2 && slog__fdc_open > keep; pass++) {
        for (slog_file_t *f = slog__fdc_tail; f && slog__fdc_open > keep; f = f->lru_prev) {
            if (f == except || f->fd < 0 || (f->dirty && pass == 0) ||
                atomic_load(&f->refs) != 1) {
                continue;
            }
            close(f->fd);
            f->fd = -1;
            slog__fdc_open--;
            closed++;
        }
    }
    return closed;
}

void slog__fdc_add(slog_file_t *file)
{
    if (!file->path || file->cached) {
        return;
    }
    pthread_mutex_lock(&slog__fdc_mu);
    file->cached = true;
    slog__fdc_push_front(file);
    slog__fdc_open += file->fd >= 0;
    slog__fdc_trim(atomic_load(&slog__fdc_max), NULL);
    pthread_mutex_unlock(&slog__fdc_mu);
}

void slog__fdc_remove(slog_file_t *file)
{
    if (!file || !file->cached) {
        return;
    }
    pthread_mutex_lock(&slog__fdc_mu);
    slog__fdc_unlink(file);
    file->cached = false;
    slog__fdc_open -= file->fd >= 0;
    pthread_mutex_unlock(&slog__fdc_mu);
}

void slog__fdc_dirty(slog_file_t *file, bool dirty)
{
    if (file->dirty == dirty) {
        return;
    }
    pthread_mutex_lock(&slog__fdc_mu);
    file->dirty = dirty;
    if (!dirty && file->cached) {
        slog__fdc_trim(atomic_load(&slog__fdc_max), NULL);
    }
    pthread_mutex_unlock(&slog__fdc_mu);
}

/* Reopens a file the cache closed (lock held); out of descriptors, idle cached ones are
 * closed (half the bound) and the open is tried once more. */
static int slog__fdc_reopen(slog_file_t *file)
{
    int fd = open(file->path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        int64_t freed = slog__fdc_trim(atomic_load(&slog__fdc_max) / 2, file);
        fd = freed > 0 ? open(file->path, O_RDWR | O_CLOEXEC) : -1;
        if (freed == 0) {
            errno = EMFILE;
        }
    }
    if (fd < 0) {
        return -errno;
    }
    file->fd = fd;
    slog__fdc_open++;
    atomic_fetch_add(&slog__fdc_reopens, 1);
    return 0;
}

int slog__file_use(slog_file_t *file)
{
    if (!file->cached) {
        return file->fd;
    }
    pthread_mutex_lock(&slog__fdc_mu);
    int rc = file->fd >= 0 ? 0 : slog__fdc_reopen(file);
    if (rc == 0) {
        if (slog__fdc_head != file) {
            slog__fdc_unlink(file);
            slog__fdc_push_front(file);
        }
        slog__fdc_trim(atomic_load(&slog__fdc_max), file);
        rc = file->fd;
    }
    pthread_mutex_unlock(&slog__fdc_mu);
    return rc;
}

int slog__file_ref_open(slog_file_t *file)
{
    if (!file->cached) {
        slog_file_ref(file);
        return 0;
    }
    pthread_mutex_lock(&slog__fdc_mu);
    int rc = file->fd >= 0 ? 0 : slog__fdc_reopen(file);
    if (rc == 0) {
        atomic_fetch_add(&file->refs, 1); /* under the lock: trim never sees it idle now */
        if (slog__fdc_head != file) {
            slog__fdc_unlink(file);
            slog__fdc_push_front(file);
        }
        slog__fdc_trim(atomic_load(&slog__fdc_max), file);
    }
    pthread_mutex_unlock(&slog__fdc_mu);
    return rc;
}

void slog__fdc_trim_now(void)
{
    pthread_mutex_lock(&slog__fdc_mu);
    slog__fdc_trim(atomic_load(&slog__fdc_max), NULL);
    pthread_mutex_unlock(&slog__fdc_mu);
}

int64_t slog__fdc_relieve(void)
{
    pthread_mutex_lock(&slog__fdc_mu);
    int64_t closed = slog__fdc_trim(atomic_load(&slog__fdc_max) / 2, NULL);
    pthread_mutex_unlock(&slog__fdc_mu);
    return closed;
}

int slog__open_retry(const char *path, int flags, unsigned mode)
{
    int fd = open(path, flags, (mode_t)mode);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && slog__fdc_relieve() > 0) {
        fd = open(path, flags, (mode_t)mode);
    }
    return fd;
}
