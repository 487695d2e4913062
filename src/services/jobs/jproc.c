/* jproc: worker processes die with their service (issue 20). Every process group the worker
 * pool starts is recorded in the store (pgid, its leader's start time, the boot, and which
 * service incarnation started it) as soon as it has exec'd, before it gets its job
 * (milliseconds after the fork; the process itself carries a death signal meanwhile), and
 * forgotten when it is reaped. A service that starts, and the lease reaper before it takes
 * over expired leases, sweep the records: a group left by an incarnation that is gone is killed (SIGKILL) only if
 * its leader still has the recorded start time, or, the leader being gone, only the members
 * started after it (a reused pid is never killed), and the record is dropped once they are
 * gone. While the service runs, the children themselves carry PR_SET_PDEATHSIG (jrun.c). */
#include "jsvc_int.h"

#include "jrun.h"
#include "sl_log.h"
#include "sl_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JPROC_LOG "jobs"
#define JPROC_SWEEP_MAX 1000     /* records handled per sweep (the rest on the next one) */
#define JPROC_GONE_WAIT_MS 5000  /* a killed group gets this long to disappear */
#define JPROC_SCAN_PIDS_MAX 65536 /* /proc entries looked at per group */
SL_STATIC_ASSERT(JPROC_SWEEP_MAX <= JSTORE_PAGE_MAX, "one page per sweep");

struct jproc {
    pthread_mutex_t mu; /* st is shared by the slot threads */
    jstore_t *st;
    jstore_proc_t self; /* boot id and this incarnation; pgid/start_ticks per call */
    jrun_hooks_t hooks;
};

static int jproc__boot_id(char *out, size_t cap)
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, cap - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }
    if (n <= 0) {
        snprintf(out, cap, "unknown");
        return SL_EINVAL;
    }
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

static void jproc__on_start(void *arg, int pid, int64_t start_ticks)
{
    jproc_t *jp = arg;
    jstore_proc_t rec = jp->self;
    rec.pgid = pid;
    rec.start_ticks = start_ticks;
    pthread_mutex_lock(&jp->mu);
    int rc = jstore_proc_add(jp->st, &rec, sl_time_wall_ms());
    pthread_mutex_unlock(&jp->mu);
    if (rc != 0) {
        SL_LOGW(JPROC_LOG, "recording worker group %d: %s", pid, sl_strerror(rc));
    }
}

static void jproc__on_end(void *arg, int pid, int64_t start_ticks)
{
    jproc_t *jp = arg;
    pthread_mutex_lock(&jp->mu);
    int rc = jstore_proc_remove(jp->st, pid, start_ticks);
    pthread_mutex_unlock(&jp->mu);
    if (rc != 0) {
        SL_LOGW(JPROC_LOG, "forgetting worker group %d: %s", pid, sl_strerror(rc));
    }
}

int jproc_new(const char *store_path, jproc_t **out)
{
    jproc_t *jp = sl_xcalloc(1, sizeof *jp);
    int rc = jstore_open(store_path, &jp->st);
    rc = rc ? rc : jstore_set_durable(jp->st, false); /* the groups die with the machine */
    jrun_proc_stat_t ps = {0};
    rc = rc ? rc : jrun_proc_stat(getpid(), &ps);
    if (rc != 0) {
        jstore_close(jp->st);
        free(jp);
        return rc;
    }
    jproc__boot_id(jp->self.boot_id, sizeof jp->self.boot_id);
    jp->self.svc_pid = getpid();
    jp->self.svc_start_ticks = ps.start_ticks;
    pthread_mutex_init(&jp->mu, NULL);
    jp->hooks = (jrun_hooks_t){jproc__on_start, jproc__on_end, jp};
    *out = jp;
    return 0;
}

const jrun_hooks_t *jproc_hooks(jproc_t *jp)
{
    return jp ? &jp->hooks : NULL;
}

void jproc_free(jproc_t *jp)
{
    if (!jp) {
        return;
    }
    jstore_close(jp->st);
    pthread_mutex_destroy(&jp->mu);
    free(jp);
}

/* A process is alive as `pid` with this start time (zombies count as gone). */
static bool jproc__same(int pid, int64_t start_ticks)
{
    jrun_proc_stat_t ps;
    return jrun_proc_stat(pid, &ps) == 0 && ps.start_ticks == start_ticks && ps.state != 'Z' &&
           ps.state != 'X';
}

/* Kills (kill) or counts the running members of group rec->pgid that are the recorded leader
 * or were started after it (the leader being gone, a later pid reuse cannot have made a group
 * with this id while any member lived). Returns how many there were. */
static int jproc__members(const jstore_proc_t *rec, bool kill_them)
{
    DIR *dir = opendir("/proc");
    int found = 0, seen = 0;
    for (struct dirent *de; dir && (de = readdir(dir)) && seen < JPROC_SCAN_PIDS_MAX;) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0) {
            continue;
        }
        seen++;
        jrun_proc_stat_t ps;
        if (jrun_proc_stat((int)pid, &ps) != 0 || ps.pgid != rec->pgid || ps.state == 'Z' ||
            ps.state == 'X' || ps.start_ticks < rec->start_ticks) {
            continue;
        }
        found++;
        if (kill_them) {
            kill((pid_t)pid, SIGKILL);
        }
    }
    if (dir) {
        closedir(dir);
    }
    return found;
}

/* Ends one group left by a gone incarnation; true when nothing of it runs any more. */
static bool jproc__end_group(const jstore_proc_t *rec)
{
    jrun_proc_stat_t ps;
    bool leader = jrun_proc_stat(rec->pgid, &ps) == 0;
    if (leader && ps.start_ticks != rec->start_ticks) {
        return true; /* the pid was reused: the recorded group is long gone */
    }
    int n = jproc__members(rec, true);
    if (n > 0) {
        SL_LOGW(JPROC_LOG, "ending %d process(es) of worker group %d left by service pid %d",
                n, (int)rec->pgid, (int)rec->svc_pid);
    }
    int64_t deadline = sl_time_mono_ms() + JPROC_GONE_WAIT_MS;
    while (n > 0 && sl_time_mono_ms() < deadline) {
        usleep(10 * 1000);
        n = jproc__members(rec, true);
    }
    return n == 0;
}

int jproc_sweep(jstore_t *st, int *ended)
{
    static __thread jstore_proc_t recs[JPROC_SWEEP_MAX];
    char boot[40];
    jproc__boot_id(boot, sizeof boot);
    size_t n = 0;
    *ended = 0;
    int rc = jstore_proc_list(st, recs, JPROC_SWEEP_MAX, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const jstore_proc_t *rec = &recs[i];
        bool same_boot = strcmp(rec->boot_id, boot) == 0;
        if (same_boot && jproc__same(rec->svc_pid, rec->svc_start_ticks)) {
            continue; /* its service is alive: its own business */
        }
        if (same_boot && !jproc__end_group(rec)) {
            SL_LOGE(JPROC_LOG, "worker group %d survives SIGKILL; keeping its record",
                    (int)rec->pgid);
            rc = SL_EAGAIN;
            break;
        }
        *ended += same_boot;
        rc = jstore_proc_remove(st, rec->pgid, rec->start_ticks);
    }
    return rc;
}
