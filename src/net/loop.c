/* The event loop: epoll readiness, a min-heap of one-shot timers, watched fds, and frees
 * deferred to the end of each iteration. */
#include "snet_internal.h"
#include "sl_common.h"
#include "sl_log.h"
#include "sl_time.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct snet_timer {
    int64_t deadline_ms;
    uint64_t seq; /* ties fire in start order */
    size_t heap_idx;
    snet_timer_cb cb;
    void *ctx;
};

typedef struct {
    snet_io_t io;
    snet_fd_cb cb;
    void *ctx;
} snet_watch_t;

struct snet_loop {
    int epfd;
    bool stop;
    int64_t now_ms;
    snet_timer_t **heap;
    size_t nheap, heap_cap;
    uint64_t timer_seq;
    snet_watch_t **watches;
    size_t nwatches;
    void **deferred;
    size_t ndeferred, deferred_cap;
    snet_conn_t *conns;
    size_t nconns;
    snet_clock_fn clock;
    void *clock_ctx;
    snet_reqmem_t reqmem;
};

static int64_t snet__mono_clock(void *ctx)
{
    SL_UNUSED(ctx);
    return sl_time_mono_ms();
}

static int64_t snet__clock(const snet_loop_t *loop)
{
    return loop->clock(loop->clock_ctx);
}

void snet_loop_set_clock(snet_loop_t *loop, snet_clock_fn clock, void *ctx)
{
    loop->clock = clock;
    loop->clock_ctx = ctx;
    loop->now_ms = snet__clock(loop);
}

snet_loop_t *snet_loop_new(void)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        return NULL;
    }
    snet_loop_t *loop = sl_xcalloc(1, sizeof *loop);
    loop->epfd = epfd;
    loop->clock = snet__mono_clock;
    loop->now_ms = snet__clock(loop);
    return loop;
}

void snet_loop_free(snet_loop_t *loop)
{
    if (!loop) {
        return;
    }
    for (size_t i = 0; i < loop->nheap; i++) {
        free(loop->heap[i]);
    }
    for (size_t i = 0; i < loop->nwatches; i++) {
        free(loop->watches[i]);
    }
    for (size_t i = 0; i < loop->ndeferred; i++) {
        free(loop->deferred[i]);
    }
    free(loop->heap);
    free(loop->watches);
    free(loop->deferred);
    close(loop->epfd);
    free(loop);
}

int64_t snet_loop_now_ms(const snet_loop_t *loop)
{
    return loop->now_ms;
}

void snet_loop_stop(snet_loop_t *loop)
{
    loop->stop = true;
}

int snet__io_add(snet_loop_t *loop, snet_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int snet__io_mod(snet_loop_t *loop, snet_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void snet__io_del(snet_loop_t *loop, snet_io_t *io)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void snet__defer_free(snet_loop_t *loop, void *p)
{
    if (loop->ndeferred == loop->deferred_cap) {
        loop->deferred_cap = loop->deferred_cap ? loop->deferred_cap * 2 : 64;
        loop->deferred = sl_xrealloc(loop->deferred, loop->deferred_cap * sizeof(void *));
    }
    loop->deferred[loop->ndeferred++] = p;
}

static void snet__watch_cb(snet_io_t *io, uint32_t events)
{
    SL_UNUSED(events);
    snet_watch_t *w = (snet_watch_t *)io;
    w->cb(w->ctx);
}

int snet_loop_watch(snet_loop_t *loop, int fd, snet_fd_cb cb, void *ctx)
{
    snet_watch_t *w = sl_xcalloc(1, sizeof *w);
    w->io.fd = fd;
    w->io.cb = snet__watch_cb;
    w->cb = cb;
    w->ctx = ctx;
    int rc = snet__io_add(loop, &w->io, EPOLLIN);
    if (rc != 0) {
        free(w);
        return rc;
    }
    loop->watches = sl_xrealloc(loop->watches, (loop->nwatches + 1) * sizeof(void *));
    loop->watches[loop->nwatches++] = w;
    return 0;
}

void snet_loop_unwatch(snet_loop_t *loop, int fd)
{
    for (size_t i = 0; i < loop->nwatches; i++) {
        if (loop->watches[i]->io.fd == fd) {
            snet__io_del(loop, &loop->watches[i]->io);
            snet__defer_free(loop, loop->watches[i]);
            loop->watches[i] = loop->watches[--loop->nwatches];
            return;
        }
    }
}

/* Timer heap ordered by (deadline, seq). */
static bool snet__timer_less(const snet_timer_t *a, const snet_timer_t *b)
{
    return a->deadline_ms < b->deadline_ms ||
           (a->deadline_ms == b->deadline_ms && a->seq < b->seq);
}

static void snet__heap_swap(snet_loop_t *loop, size_t i, size_t j)
{
    snet_timer_t *t = loop->heap[i];
    loop->heap[i] = loop->heap[j];
    loop->heap[j] = t;
    loop->heap[i]->heap_idx = i;
    loop->heap[j]->heap_idx = j;
}

static void snet__heap_up(snet_loop_t *loop, size_t i)
{
    while (i > 0 && snet__timer_less(loop->heap[i], loop->heap[(i - 1) / 2])) {
        snet__heap_swap(loop, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void snet__heap_down(snet_loop_t *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->nheap && snet__timer_less(loop->heap[l], loop->heap[m])) {
            m = l;
        }
        if (r < loop->nheap && snet__timer_less(loop->heap[r], loop->heap[m])) {
            m = r;
        }
        if (m == i) {
            return;
        }
        snet__heap_swap(loop, i, m);
        i = m;
    }
}

snet_timer_t *snet_timer_start(snet_loop_t *loop, int64_t delay_ms, snet_timer_cb cb, void *ctx)
{
    snet_timer_t *timer = sl_xcalloc(1, sizeof *timer);
    timer->deadline_ms = snet__clock(loop) + (delay_ms < 0 ? 0 : delay_ms);
    timer->seq = loop->timer_seq++;
    timer->cb = cb;
    timer->ctx = ctx;
    if (loop->nheap == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = sl_xrealloc(loop->heap, loop->heap_cap * sizeof(void *));
    }
    timer->heap_idx = loop->nheap;
    loop->heap[loop->nheap++] = timer;
    snet__heap_up(loop, timer->heap_idx);
    return timer;
}

static void snet__heap_remove(snet_loop_t *loop, snet_timer_t *timer)
{
    size_t i = timer->heap_idx;
    SL_ASSERT(i < loop->nheap && loop->heap[i] == timer);
    loop->nheap--;
    if (i != loop->nheap) {
        loop->heap[i] = loop->heap[loop->nheap];
        loop->heap[i]->heap_idx = i;
        snet__heap_down(loop, i);
        snet__heap_up(loop, i);
    }
}

void snet_timer_cancel(snet_loop_t *loop, snet_timer_t *timer)
{
    if (!timer) {
        return;
    }
    snet__heap_remove(loop, timer);
    free(timer);
}

/* Fires due timers; returns ms until the next one (-1: none). */
static int snet__run_timers(snet_loop_t *loop)
{
    loop->now_ms = snet__clock(loop);
    while (loop->nheap > 0 && loop->heap[0]->deadline_ms <= loop->now_ms) {
        snet_timer_t *timer = loop->heap[0];
        snet__heap_remove(loop, timer);
        snet_timer_cb cb = timer->cb;
        void *ctx = timer->ctx;
        free(timer);
        cb(ctx);
    }
    if (loop->nheap == 0) {
        return -1;
    }
    int64_t wait = loop->heap[0]->deadline_ms - loop->now_ms;
    return (int)SL_MIN(wait, 60000);
}

int snet_loop_run_once(snet_loop_t *loop, int timeout_ms)
{
    struct epoll_event events[SNET_EVENTS_MAX];
    int timeout = snet__run_timers(loop);
    if (loop->stop) {
        return 0;
    }
    if (timeout < 0 || (timeout_ms >= 0 && timeout_ms < timeout)) {
        timeout = timeout_ms;
    }
    int n = epoll_wait(loop->epfd, events, SNET_EVENTS_MAX, timeout);
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    loop->now_ms = snet__clock(loop);
    for (int i = 0; i < n; i++) {
        snet_io_t *io = events[i].data.ptr;
        io->cb(io, events[i].events);
    }
    for (size_t i = 0; i < loop->ndeferred; i++) {
        free(loop->deferred[i]);
    }
    loop->ndeferred = 0;
    return 0;
}

int snet_loop_run(snet_loop_t *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int rc = snet_loop_run_once(loop, -1);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

snet_conn_t **snet__loop_conn_head(snet_loop_t *loop)
{
    return &loop->conns;
}

size_t *snet__loop_nconns(snet_loop_t *loop)
{
    return &loop->nconns;
}

size_t snet_conn_count(const snet_loop_t *loop)
{
    return loop->nconns;
}

snet_reqmem_t *snet__loop_reqmem(snet_loop_t *loop)
{
    return &loop->reqmem;
}

void snet_loop_set_request_bytes_max(snet_loop_t *loop, size_t bytes)
{
    loop->reqmem.max = bytes;
}

size_t snet_loop_request_bytes(const snet_loop_t *loop)
{
    return loop->reqmem.bytes;
}
