/* Worker process runner for `sluice jobs` (issue 4, stage 3): runs one job in a one-shot
 * command (payload on stdin, result JSON on stdout, log on stderr) or on a persistent worker
 * process over a line protocol (one request line in, one reply line out). Every child runs in
 * its own process group; a time limit or a cancel sends SIGTERM to the group, then SIGKILL
 * after a grace period. All output is bounded (limits below).
 *
 * Caller must know: the process must not set SIGCHLD to SIG_IGN nor reap children it did not
 * start (waitpid(-1)); SIGPIPE is handled per call (blocked in the calling thread while it
 * runs), so the caller need not ignore it. A persistent worker's stderr is read only while a
 * job runs: output written while idle waits in the pipe (a worker that writes more than a pipe
 * holds while idle blocks until its next job) and is discarded. A job's child processes are
 * killed with its group when it ends. Every child is started with PR_SET_PDEATHSIG(SIGKILL):
 * it dies with the thread that started it, so call from threads that live as long as the run
 * or the persistent worker (the worker's process dies when its starting thread exits).
 * Threads: one run per handle (worker, ctl) at a time; any
 * number of handles may run in parallel from different threads. */
#ifndef JRUN_H
#define JRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (units last in the names). */
/* Result bytes a one-shot job may write to stdout; more fails the job as "result too large". */
#define JRUN_STDOUT_BYTES_MAX (4u << 20)
/* Bytes of stderr kept per job (the last ones: the end of a log says why it failed). */
#define JRUN_STDERR_TAIL_BYTES (16u << 10)
/* Longest reply line (with its newline) from a persistent worker; more fails the job as
 * "result too large" and restarts the worker. */
#define JRUN_LINE_BYTES_MAX (JRUN_STDOUT_BYTES_MAX + 1024u)
/* Payload bytes accepted for one job. */
#define JRUN_PAYLOAD_BYTES_MAX (16u << 20)
/* SIGTERM-to-SIGKILL grace: default and ceiling. */
#define JRUN_GRACE_MS_DEFAULT 2000
#define JRUN_GRACE_MS_MAX 60000
/* Time to wait for output pipes to close after the leader exited (a background child may hold
 * them open); then the group is killed. */
#define JRUN_DRAIN_MS 500
/* Arguments in a command, including argv[0]. */
#define JRUN_ARGV_MAX 64
/* Nesting depth accepted by the JSON validator. */
#define JRUN_JSON_DEPTH_MAX 64
/* Job id length for persistent workers. */
#define JRUN_ID_BYTES_MAX 256
#define JRUN_REASON_BYTES 512
/* Bytes of the last stderr line a failed command's reason quotes (escaped; longer lines are cut
 * and end in "..."). */
#define JRUN_REASON_LINE_BYTES_MAX 200
/* Children of this process started and not yet reaped, at once (one per running job and per
 * persistent worker); a start past it fails with EAGAIN. Also bounds an orphan scan. */
#define JRUN_PROCS_MAX 16384

/* Told of every process a run starts and ends (leader of its own process group, pgid = pid).
 * on_start runs in the calling thread right after the exec (or its failure), before the run
 * hands the job any input; on_end after the group was killed and the leader reaped (also for
 * a failed exec). start_ticks: /proc/<pid>/stat field 22. */
typedef struct {
    void (*on_start)(void *arg, int pid, int64_t start_ticks);
    void (*on_end)(void *arg, int pid, int64_t start_ticks);
    void *arg;
} jrun_hooks_t;

/* A command to run (caller's storage; copied by jrun_worker_new, read only during a call by
 * jrun_oneshot). argv is NULL-terminated; argv[0] without '/' is searched in PATH. */
typedef struct {
    const char *const *argv;
    const char *cwd;          /* NULL: inherit */
    int64_t grace_ms;         /* SIGTERM to SIGKILL; 0 means JRUN_GRACE_MS_DEFAULT */
    int64_t start_timeout_ms; /* persistent only: extra time for the job that starts a worker */
    const jrun_hooks_t *hooks; /* NULL: none; must outlive the run (or the worker) */
} jrun_cmd_t;

typedef enum {
    JRUN_OK = 0,
    JRUN_EXIT,      /* non-zero exit; code = exit status */
    JRUN_SIGNAL,    /* killed by a signal we did not send; code = signal */
    JRUN_TIMEOUT,   /* time limit expired; code = limit in ms */
    JRUN_CANCELLED, /* jrun_cancel */
    JRUN_BAD_JSON,  /* stdout (one-shot) or the reply's result is not one JSON value */
    JRUN_TOO_LARGE, /* stdout over JRUN_STDOUT_BYTES_MAX or reply line over JRUN_LINE_BYTES_MAX */
    JRUN_START,     /* could not start; code = errno */
    JRUN_PROTOCOL,  /* persistent: garbage reply, wrong id, EOF or crash mid-job */
    JRUN_JOB_ERROR, /* persistent: the worker replied {"ok":false,"error":...} */
} jrun_status_t;

/* Outcome of one job (caller's storage: filled by a run, freed with jrun_result_deinit). */
typedef struct {
    jrun_status_t status;
    int code;                      /* exit status, signal, errno or limit: see jrun_status_t */
    char *result;                  /* JSON text, NUL-terminated; only when status == JRUN_OK */
    size_t result_len;
    char *log;                     /* stderr tail, NUL-terminated, never NULL after a run */
    size_t log_len;
    bool log_truncated;            /* earlier stderr bytes were dropped */
    int64_t elapsed_ms;
    /* "" on success, else e.g. "timed out after 5.0 s"; a command that exited non-zero or was
     * killed by a signal (a persistent worker: died mid-job) adds ": " and its last non-empty
     * stderr line, escaped (control bytes, '\\' and bytes that are not UTF-8 as \xNN) and
     * cut to JRUN_REASON_LINE_BYTES_MAX. */
    char reason[JRUN_REASON_BYTES];
} jrun_result_t;

void jrun_result_deinit(jrun_result_t *res);
const char *jrun_status_name(jrun_status_t status);

/* Cancel handle: one per job slot. jrun_cancel may be called from any thread; it stops the run
 * using this ctl (which then returns JRUN_CANCELLED) or, if none is running, the next one.
 * The cancel stays pending until jrun_ctl_reset (call it before handing the slot a new job). */
typedef struct jrun_ctl jrun_ctl_t;
/* The ctl must outlive every run and jrun_cancel that uses it. Returns 0 or -errno. */
int jrun_ctl_new(jrun_ctl_t **out);
void jrun_ctl_free(jrun_ctl_t *ctl);
void jrun_cancel(jrun_ctl_t *ctl);
void jrun_ctl_reset(jrun_ctl_t *ctl);

/* Runs cmd once with payload on stdin; blocks until it ends (at most timeout_ms plus the grace
 * plus JRUN_DRAIN_MS). ctl may be NULL. Returns 0 with the outcome in out (a failed job is
 * still 0), or SL_EINVAL / SL_ELIMIT for bad arguments / -errno for pipe failures (out is
 * then untouched). Thread: any (the caller's worker thread). */
int jrun_oneshot(const jrun_cmd_t *cmd, const void *payload, size_t len, int64_t timeout_ms,
                 jrun_ctl_t *ctl, jrun_result_t *out);

/* Persistent worker. Started lazily by the first run and after any failure that may have
 * left it in a bad state (timeout, cancel, crash, garbage). Copies cmd. */
typedef struct jrun_worker jrun_worker_t;
int jrun_worker_new(const jrun_cmd_t *cmd, jrun_worker_t **out);
/* Stops the process (SIGTERM, grace, SIGKILL to the group), then frees. */
void jrun_worker_free(jrun_worker_t *worker);

/* Sends {"id":id,"attempt":attempt,"payload":payload}\n and waits for the reply line.
 * payload must be one JSON value (newlines are sent as spaces). Same return convention as
 * jrun_oneshot. Thread: one caller at a time per worker. */
int jrun_worker_run(jrun_worker_t *worker, const char *id, int attempt, const void *payload,
                    size_t len, int64_t timeout_ms, jrun_ctl_t *ctl, jrun_result_t *out);

typedef struct {
    uint64_t starts;      /* processes started (restarts = starts - 1 when > 0) */
    uint64_t jobs_served; /* runs that got a reply (ok or error) */
    uint64_t jobs_failed; /* runs ending in anything but JRUN_OK */
    int pid;              /* current process, 0 when none */
} jrun_worker_stats_t;
void jrun_worker_stats(const jrun_worker_t *worker, jrun_worker_stats_t *out);

/* One process as /proc/<pid>/stat tells it. */
typedef struct {
    char state;          /* R, S, D, Z, ... */
    int ppid, pgid;
    int64_t start_ticks; /* field 22: clock ticks after boot */
} jrun_proc_stat_t;
/* Reads /proc/<pid>/stat. Returns 0, -ENOENT when no such process, SL_EINVAL if unparsable. */
int jrun_proc_stat(int pid, jrun_proc_stat_t *out);

/* Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): processes orphaned by a
 * job's process tree re-parent to it instead of init, so they can be found and ended.
 * Whoever calls it must then call jrun_reap_orphans regularly. Returns 0 or -errno. */
int jrun_set_subreaper(void);
/* Reaps exited orphans (children this module did not start itself) and SIGKILLs live ones
 * whose process group is not a running job's (kill_all: every one). Never touches the
 * leaders of running calls. Returns how many orphans were still alive. Thread: any. */
size_t jrun_reap_orphans(bool kill_all);

/* Validates that [p, p+len) is exactly one JSON value (surrounding whitespace allowed), nested
 * at most JRUN_JSON_DEPTH_MAX deep: kit_json_valid, which also checks UTF-8. */
bool jrun_json_valid(const char *p, size_t len);

#endif
