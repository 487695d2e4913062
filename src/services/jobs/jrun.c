/* Worker process runner (see jrun.h): spawns a child in its own process group with three
 * non-blocking pipes, pumps stdin/stdout/stderr with poll() alongside a pidfd (child exit) and
 * a cancel pipe, and enforces the time limit with SIGTERM, a grace period, then SIGKILL to the
 * group. The persistent-worker line protocol is described in jrun.h and issue 4. */
#include "jrun.h"

#include "kit_json.h"
#include "sl_buf.h"
#include "sl_common.h"
#include "sl_log.h"
#include "sl_time.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

SL_STATIC_ASSERT(JRUN_STDERR_TAIL_BYTES >= 1024 && JRUN_STDERR_TAIL_BYTES <= (1u << 20),
                 "stderr tail between 1 KiB and 1 MiB");
SL_STATIC_ASSERT(JRUN_STDOUT_BYTES_MAX <= (256u << 20), "stdout bound must stay in memory");
SL_STATIC_ASSERT(JRUN_LINE_BYTES_MAX > JRUN_STDOUT_BYTES_MAX, "reply line holds a full result");
SL_STATIC_ASSERT(JRUN_GRACE_MS_DEFAULT <= JRUN_GRACE_MS_MAX, "default grace under ceiling");
SL_STATIC_ASSERT(JRUN_JSON_DEPTH_MAX >= 8 && JRUN_JSON_DEPTH_MAX <= 512, "JSON depth");

#define JRUN_READ_CHUNK_BYTES (64u << 10)

extern char **environ;

/* ---------------------------------------------------------------- JSON (kit_json) */

bool jrun_json_valid(const char *p, size_t len)
{
    return p && kit_json_valid(p, len, JRUN_JSON_DEPTH_MAX);
}

/* ---------------------------------------------------------------- cancel handle */

struct jrun_ctl {
    atomic_bool cancelled;
    int rfd;
    int wfd;
};

int jrun_ctl_new(jrun_ctl_t **out)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        return -errno;
    }
    jrun_ctl_t *ctl = sl_xcalloc(1, sizeof *ctl);
    atomic_init(&ctl->cancelled, false);
    ctl->rfd = fds[0];
    ctl->wfd = fds[1];
    *out = ctl;
    return 0;
}

void jrun_ctl_free(jrun_ctl_t *ctl)
{
    if (ctl) {
        close(ctl->rfd);
        close(ctl->wfd);
        free(ctl);
    }
}

void jrun_cancel(jrun_ctl_t *ctl)
{
    atomic_store(&ctl->cancelled, true);
    ssize_t n = write(ctl->wfd, "c", 1); /* a full pipe already wakes the run: ignore */
    SL_UNUSED(n);
}

void jrun_ctl_reset(jrun_ctl_t *ctl)
{
    char drain[64];
    while (read(ctl->rfd, drain, sizeof drain) > 0) {
    }
    atomic_store(&ctl->cancelled, false);
}

static bool ctl_cancelled(jrun_ctl_t *ctl)
{
    return ctl && atomic_load(&ctl->cancelled);
}

/* ---------------------------------------------------------------- results */

void jrun_result_deinit(jrun_result_t *res)
{
    free(res->result);
    free(res->log);
    memset(res, 0, sizeof *res);
}

const char *jrun_status_name(jrun_status_t status)
{
    static const char *const names[] = {
        [JRUN_OK] = "ok",           [JRUN_EXIT] = "exit",          [JRUN_SIGNAL] = "signal",
        [JRUN_TIMEOUT] = "timeout", [JRUN_CANCELLED] = "cancelled", [JRUN_BAD_JSON] = "bad_json",
        [JRUN_TOO_LARGE] = "too_large", [JRUN_START] = "start",    [JRUN_PROTOCOL] = "protocol",
        [JRUN_JOB_ERROR] = "job_error",
    };
    return (unsigned)status < SL_ARRAY_LEN(names) ? names[status] : "?";
}

static void result_fail(jrun_result_t *out, jrun_status_t status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void result_fail(jrun_result_t *out, jrun_status_t status, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out->status = status;
    out->code = code;
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
}

/* Stderr tail: keeps the last JRUN_STDERR_TAIL_BYTES in a buffer twice that size. */
typedef struct {
    char *data;
    size_t len;
    bool truncated;
} tail_t;

static void tail_append(tail_t *tail, const char *p, size_t n)
{
    const size_t keep = JRUN_STDERR_TAIL_BYTES;
    if (n > keep) { /* only the last keep bytes of this piece can survive */
        p += n - keep;
        n = keep;
        tail->truncated = true;
    }
    if (tail->len + n > 2 * keep) {
        memmove(tail->data, tail->data + tail->len - (keep - n), keep - n);
        tail->len = keep - n;
        tail->truncated = true;
    }
    memcpy(tail->data + tail->len, p, n);
    tail->len += n;
}

static void tail_to_result(const tail_t *tail, jrun_result_t *out)
{
    size_t off = tail->len > JRUN_STDERR_TAIL_BYTES ? tail->len - JRUN_STDERR_TAIL_BYTES : 0;
    out->log_len = tail->len - off;
    out->log = sl_xmalloc(out->log_len + 1);
    memcpy(out->log, tail->data + off, out->log_len);
    out->log[out->log_len] = '\0';
    out->log_truncated = tail->truncated || off > 0;
}

/* Appends ": <the last non-empty line of log>" to a failed run's reason (escaped, bounded). */
static void result_add_last_line(jrun_result_t *out, const char *log, size_t len)
{
    size_t end = len;
    for (;;) {
        while (end > 0 && (log[end - 1] == '\n' || log[end - 1] == '\r' ||
                           log[end - 1] == ' ' || log[end - 1] == '\t')) {
            end--;
        }
        size_t start = end;
        while (start > 0 && log[start - 1] != '\n') {
            start--;
        }
        if (end == 0 || start < end) {
            log += start;
            len = end - start;
            break;
        }
    }
    if (len == 0) {
        return;
    }
    char line[JRUN_REASON_LINE_BYTES_MAX + 8];
    size_t n = 0, i = 0;
    const unsigned char *p = (const unsigned char *)log;
    while (i < len) {
        char unit[8];
        size_t ulen = 0, take = 1;
        size_t seq = p[i] >= 0x80 ? kit_json_utf8_len(p + i, len - i) : 0;
        if (seq > 0) {
            memcpy(unit, p + i, seq);
            ulen = take = seq;
        } else if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\') {
            ulen = (size_t)snprintf(unit, sizeof unit, p[i] == '\\' ? "\\\\" : "\\x%02x", p[i]);
        } else {
            unit[0] = (char)p[i];
            ulen = 1;
        }
        if (n + ulen > JRUN_REASON_LINE_BYTES_MAX - 3) {
            memcpy(line + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(line + n, unit, ulen);
        n += ulen;
        i += take;
    }
    size_t r = strlen(out->reason);
    snprintf(out->reason + r, sizeof out->reason - r, ": %.*s", (int)n, line);
}

/* ---------------------------------------------------------------- processes */

typedef struct {
    pid_t pid; /* 0: none. Unreaped until proc_reap, so pid and pgid stay ours to signal. */
    int pidfd;
    int in_fd;
    int out_fd;
    int err_fd;
    int start_err; /* errno from a failed start */
    int64_t start_ticks;          /* the leader's start time (/proc/<pid>/stat field 22) */
    const jrun_hooks_t *hooks;    /* told of the start and of the end */
} proc_t;

static void proc_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void proc_init(proc_t *proc)
{
    *proc = (proc_t){.pid = 0, .pidfd = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
}

static int proc_reap(proc_t *proc);

static void close_pairs(int pipes[3][2])
{
    for (int i = 0; i < 3; i++) {
        proc_close_fd(&pipes[i][0]);
        proc_close_fd(&pipes[i][1]);
    }
}

/* ---- live leaders: every child this process started and has not reaped yet. The orphan
 * reaper leaves these alone (they belong to a running call), and a leader's pid is its
 * group's id, so a process in one of these groups belongs to a running job. */
static pthread_mutex_t jrun__live_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t jrun__live[JRUN_PROCS_MAX];
static size_t jrun__nlive;

static bool jrun__live_has(pid_t pid) /* under jrun__live_mu */
{
    for (size_t i = 0; i < jrun__nlive; i++) {
        if (jrun__live[i] == pid) {
            return true;
        }
    }
    return false;
}

static void jrun__live_remove(pid_t pid)
{
    pthread_mutex_lock(&jrun__live_mu);
    for (size_t i = 0; i < jrun__nlive; i++) {
        if (jrun__live[i] == pid) {
            jrun__live[i] = jrun__live[--jrun__nlive];
            break;
        }
    }
    pthread_mutex_unlock(&jrun__live_mu);
}

int jrun_proc_stat(int pid, jrun_proc_stat_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (n <= 0) {
        return err ? err : SL_ENOTFOUND;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ') {
        return SL_EINVAL;
    }
    p += 2; /* field 3, the state */
    out->state = *p;
    unsigned long long v = 0;
    for (int field = 3; field <= 22 && *p; field++) {
        char *end = strchr(p, ' ');
        if (field == 4 || field == 5 || field == 22) {
            v = strtoull(p, NULL, 10);
            if (field == 4) {
                out->ppid = (int)v;
            } else if (field == 5) {
                out->pgid = (int)v;
            } else {
                out->start_ticks = (int64_t)v;
                return 0;
            }
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return SL_EINVAL;
}

/* The child between fork and exec: only async-signal-safe calls. It dies with the thread that
 * forked it (PR_SET_PDEATHSIG; that thread lives as long as the call or worker), checks the
 * parent did not die before the request took effect, and execs at once (the parent's memory is
 * copy-on-write until then); an exec failure is reported as errno on err_fd. */
_Noreturn static void proc_child(const jrun_cmd_t *cmd, int pipes[3][2], int err_fd,
                                 pid_t parent)
{
    static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGQUIT, SIGHUP,
                               SIGCHLD, SIGUSR1, SIGUSR2};
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        _exit(127);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(sigs); i++) {
        signal(sigs[i], SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int child_fds[3] = {pipes[0][0], pipes[1][1], pipes[2][1]};
    for (int i = 0; i < 3; i++) {
        int rc = child_fds[i] == i ? fcntl(i, F_SETFD, 0) : dup2(child_fds[i], i);
        if (rc < 0) {
            goto out_fail;
        }
    }
    if (cmd->cwd && chdir(cmd->cwd) != 0) {
        goto out_fail;
    }
    execvp(cmd->argv[0], (char *const *)cmd->argv);
out_fail:;
    int e = errno;
    ssize_t w = write(err_fd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Forks the child (registered as live before anyone can see it), waits for the exec's outcome,
 * then runs the start hook (after the exec: a hook that waits, e.g. for a store lock, must not
 * keep a forked copy of this process alive, whose every page write would be copied). Returns
 * 0 or an errno value. */
static int proc_fork(proc_t *proc, const jrun_cmd_t *cmd, int pipes[3][2])
{
    int ex[2] = {-1, -1};
    if (pipe2(ex, O_CLOEXEC) != 0) {
        return errno;
    }
    pid_t parent = getpid(), pid = -1;
    int e = EAGAIN; /* JRUN_PROCS_MAX children already */
    pthread_mutex_lock(&jrun__live_mu); /* registered before the reaper can see it */
    if (jrun__nlive < JRUN_PROCS_MAX) {
        pid = fork();
        e = errno;
    }
    if (pid == 0) {
        close(ex[0]);
        proc_child(cmd, pipes, ex[1], parent);
    }
    if (pid > 0) {
        jrun__live[jrun__nlive++] = pid;
    }
    pthread_mutex_unlock(&jrun__live_mu);
    proc_close_fd(&ex[1]);
    if (pid < 0) {
        proc_close_fd(&ex[0]);
        return e;
    }
    setpgid(pid, pid); /* also here, so the group exists whichever side runs first */
    jrun_proc_stat_t ps = {0};
    jrun_proc_stat(pid, &ps); /* the start time does not change at exec */
    proc->pid = pid;
    proc->start_ticks = ps.start_ticks;
    proc->hooks = cmd->hooks;
    int child_err = 0;
    ssize_t n;
    while ((n = read(ex[0], &child_err, sizeof child_err)) < 0 && errno == EINTR) {
    }
    proc_close_fd(&ex[0]);
    if (proc->hooks && proc->hooks->on_start) {
        proc->hooks->on_start(proc->hooks->arg, pid, ps.start_ticks);
    }
    if (n > 0) {
        return child_err ? child_err : EIO;
    }
    return 0;
}

/* Starts cmd with parent-side pipe ends non-blocking. Returns 0 or -errno (start_err set). */
static int proc_start(proc_t *proc, const jrun_cmd_t *cmd)
{
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    proc_init(proc);
    for (int i = 0; i < 3; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) != 0) {
            proc->start_err = errno;
            goto out_close_pipes;
        }
    }
    int err = proc_fork(proc, cmd, pipes);
    if (err != 0) {
        if (proc->pid > 0) {
            proc_reap(proc); /* the child exited (exec failed) or is killed now */
        }
        proc->pid = 0;
        proc->start_err = err;
        goto out_close_pipes;
    }
    proc->pidfd = pidfd_open(proc->pid, 0);
    SL_ASSERT(proc->pidfd >= 0); /* our unreaped child: only fd exhaustion fails, then abort */
    proc->in_fd = pipes[0][1], pipes[0][1] = -1;
    proc->out_fd = pipes[1][0], pipes[1][0] = -1;
    proc->err_fd = pipes[2][0], pipes[2][0] = -1;
    int fds[3] = {proc->in_fd, proc->out_fd, proc->err_fd};
    for (int i = 0; i < 3; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
out_close_pipes:
    close_pairs(pipes);
    return proc->start_err ? -proc->start_err : 0;
}

/* Calls fn(pid) for each child of this process (every thread's children), at most
 * JRUN_PROCS_MAX. */
static void jrun__each_child(void (*fn)(pid_t pid, bool kill_all, size_t *left), bool kill_all,
                             size_t *left)
{
    DIR *dir = opendir("/proc/self/task");
    size_t seen = 0;
    for (struct dirent *de; dir && (de = readdir(dir)) && seen < JRUN_PROCS_MAX;) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        char path[320], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) {
            close(fd);
        }
        buf[n > 0 ? n : 0] = '\0';
        for (char *p = buf, *end; *p && seen < JRUN_PROCS_MAX; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p) {
                break;
            }
            seen++;
            fn((pid_t)pid, kill_all, left);
        }
    }
    if (dir) {
        closedir(dir);
    }
}

static void jrun__orphan(pid_t pid, bool kill_all, size_t *left)
{
    jrun_proc_stat_t ps = {0};
    pthread_mutex_lock(&jrun__live_mu);
    bool mine = jrun__live_has(pid); /* a running call's leader: it reaps it */
    if (!mine && jrun_proc_stat(pid, &ps) == 0) {
        if (ps.state == 'Z' || ps.state == 'X') {
            waitpid(pid, NULL, WNOHANG);
        } else {
            if (kill_all || !jrun__live_has(ps.pgid)) {
                kill(pid, SIGKILL); /* reaped on a later call */
            }
            (*left)++;
        }
    }
    pthread_mutex_unlock(&jrun__live_mu);
}

size_t jrun_reap_orphans(bool kill_all)
{
    size_t left = 0;
    jrun__each_child(jrun__orphan, kill_all, &left);
    return left;
}

int jrun_set_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : -errno;
}

/* Waits until the leader has exited (without reaping it) or deadline; true if it exited. */
static bool proc_wait_exit(proc_t *proc, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - sl_time_mono_ms();
        struct pollfd pfd = {.fd = proc->pidfd, .events = POLLIN};
        int n = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (n == 0) {
            return false;
        }
        if (n > 0 || errno != EINTR) {
            return true;
        }
    }
}

/* Kills whatever is left of the group, reaps the leader and closes the pipes. Returns the
 * leader's wait status. */
static int proc_reap(proc_t *proc)
{
    int status = 0;
    if (proc->pid > 0) {
        kill(-proc->pid, SIGKILL); /* leader unreaped: the pgid cannot have been reused */
        while (waitpid(proc->pid, &status, 0) < 0 && errno == EINTR) {
        }
        jrun__live_remove(proc->pid);
        if (proc->hooks && proc->hooks->on_end) {
            proc->hooks->on_end(proc->hooks->arg, proc->pid, proc->start_ticks);
        }
    }
    proc_close_fd(&proc->pidfd);
    proc_close_fd(&proc->in_fd);
    proc_close_fd(&proc->out_fd);
    proc_close_fd(&proc->err_fd);
    proc->pid = 0;
    return status;
}

/* SIGTERM to the group, up to grace_ms for the leader to exit, then SIGKILL and reap. */
static int proc_stop(proc_t *proc, int64_t grace_ms)
{
    if (proc->pid > 0) {
        kill(-proc->pid, SIGTERM);
        proc_wait_exit(proc, sl_time_mono_ms() + grace_ms);
    }
    return proc_reap(proc);
}

static int64_t cmd_grace_ms(const jrun_cmd_t *cmd)
{
    int64_t grace = cmd->grace_ms > 0 ? cmd->grace_ms : JRUN_GRACE_MS_DEFAULT;
    return SL_MIN(grace, (int64_t)JRUN_GRACE_MS_MAX);
}

static bool cmd_valid(const jrun_cmd_t *cmd)
{
    if (!cmd || !cmd->argv || !cmd->argv[0] || !cmd->argv[0][0]) {
        return false;
    }
    size_t n = 0;
    while (cmd->argv[n] && n <= JRUN_ARGV_MAX) {
        n++;
    }
    return n <= JRUN_ARGV_MAX;
}

/* ---------------------------------------------------------------- the I/O pump */

typedef enum {
    PUMP_EXITED,    /* leader exited and output drained (or JRUN_DRAIN_MS passed) */
    PUMP_LINE,      /* line mode: out holds a full line */
    PUMP_TIMEOUT,
    PUMP_CANCELLED,
    PUMP_TOO_LARGE, /* out reached out_max */
} pump_ev_t;

typedef struct {
    proc_t *proc;
    const char *in;   /* bytes to write to stdin */
    size_t in_len;
    size_t in_off;
    bool close_in;    /* one-shot: close stdin once written (the child sees EOF) */
    bool line_mode;   /* persistent: stop at the first '\n' in out */
    sl_buf_t *out;
    size_t out_max;
    tail_t *tail;
    int64_t deadline_ms;
    jrun_ctl_t *ctl;
    bool exited;
    int64_t drain_deadline_ms;
} pump_t;

static void pump_write(pump_t *pump)
{
    ssize_t n = write(pump->proc->in_fd, pump->in + pump->in_off,
                      SL_MIN(pump->in_len - pump->in_off, (size_t)JRUN_READ_CHUNK_BYTES));
    if (n > 0) {
        pump->in_off += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        pump->in_off = pump->in_len; /* EPIPE: the child stopped reading; its exit tells why */
    }
    if (pump->in_off == pump->in_len && pump->close_in) {
        proc_close_fd(&pump->proc->in_fd);
    }
}

/* Reads once from fd; returns false at EOF or error (the caller closes it). */
static bool pump_read_out(pump_t *pump)
{
    uint8_t *dst = sl_buf_reserve(pump->out, JRUN_READ_CHUNK_BYTES);
    ssize_t n = read(pump->proc->out_fd, dst, JRUN_READ_CHUNK_BYTES);
    if (n > 0) {
        pump->out->len += (size_t)n;
    }
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

static bool pump_read_err(pump_t *pump)
{
    char chunk[JRUN_STDERR_TAIL_BYTES];
    ssize_t n = read(pump->proc->err_fd, chunk, sizeof chunk);
    if (n > 0) {
        tail_append(pump->tail, chunk, (size_t)n);
    }
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

static int pump_fds(pump_t *pump, struct pollfd pfd[5])
{
    proc_t *proc = pump->proc;
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = proc->out_fd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = proc->err_fd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = pump->exited ? -1 : proc->pidfd, .events = POLLIN};
    bool writing = proc->in_fd >= 0 && pump->in_off < pump->in_len;
    pfd[n++] = (struct pollfd){.fd = writing ? proc->in_fd : -1, .events = POLLOUT};
    pfd[n++] = (struct pollfd){.fd = pump->ctl ? pump->ctl->rfd : -1, .events = POLLIN};
    return n;
}

/* Checks the stop conditions; returns -1 to keep pumping. */
static int pump_check(pump_t *pump, int64_t now)
{
    if (ctl_cancelled(pump->ctl)) {
        return PUMP_CANCELLED;
    }
    size_t len = pump->out->len;
    if (pump->line_mode) { /* a line, newline included, may be out_max bytes long */
        size_t scan = SL_MIN(len, pump->out_max);
        if (scan > 0 && memchr(pump->out->data, '\n', scan)) {
            return PUMP_LINE;
        }
        if (len >= pump->out_max) {
            return PUMP_TOO_LARGE;
        }
    } else if (len > pump->out_max) {
        return PUMP_TOO_LARGE;
    }
    bool out_open = pump->proc->out_fd >= 0, err_open = pump->proc->err_fd >= 0;
    if (pump->line_mode && !out_open) {
        return PUMP_EXITED; /* EOF on stdout mid-job */
    }
    if (pump->exited && ((!out_open && !err_open) || now >= pump->drain_deadline_ms)) {
        return PUMP_EXITED;
    }
    if (now >= pump->deadline_ms) {
        return PUMP_TIMEOUT;
    }
    return -1;
}

static pump_ev_t pump_run(pump_t *pump)
{
    for (;;) {
        int64_t now = sl_time_mono_ms();
        int ev = pump_check(pump, now);
        if (ev >= 0) {
            return (pump_ev_t)ev;
        }
        struct pollfd pfd[5];
        int nfds = pump_fds(pump, pfd);
        int64_t until = pump->exited ? SL_MIN(pump->deadline_ms, pump->drain_deadline_ms)
                                     : pump->deadline_ms;
        if (poll(pfd, (nfds_t)nfds, (int)SL_MIN(until - now, 60000)) <= 0) {
            continue; /* timeout or EINTR: pump_check decides */
        }
        if (pfd[0].revents && !pump_read_out(pump)) {
            proc_close_fd(&pump->proc->out_fd);
        }
        if (pfd[1].revents && !pump_read_err(pump)) {
            proc_close_fd(&pump->proc->err_fd);
        }
        if (pfd[2].revents) {
            pump->exited = true;
            pump->drain_deadline_ms = now + JRUN_DRAIN_MS;
        }
        if (pfd[3].revents) {
            pump_write(pump);
        }
        if (pfd[4].revents && !ctl_cancelled(pump->ctl)) {
            char drain[64]; /* a stale wake-up from a cancel raced by jrun_ctl_reset */
            while (read(pump->ctl->rfd, drain, sizeof drain) > 0) {
            }
        }
    }
}

/* Classifies how a leader ended from its wait status. */
static void result_from_status(jrun_result_t *out, int status, const char *what)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        result_fail(out, JRUN_SIGNAL, sig, "%skilled by signal %d (SIG%s)", what, sig,
                    abbrev ? abbrev : "?");
    } else {
        result_fail(out, JRUN_EXIT, WEXITSTATUS(status), "%sexited with code %d", what,
                    WEXITSTATUS(status));
    }
}

/* Fills out for the pump events every kind shares (timeout, cancel, too large). */
static void result_from_ev(jrun_result_t *out, pump_ev_t ev, int64_t timeout_ms,
                           size_t limit_bytes)
{
    if (ev == PUMP_TIMEOUT) {
        result_fail(out, JRUN_TIMEOUT, (int)SL_MIN(timeout_ms, INT32_MAX),
                    "timed out after %.1f s", (double)timeout_ms / 1000.0);
    } else if (ev == PUMP_CANCELLED) {
        result_fail(out, JRUN_CANCELLED, 0, "cancelled");
    } else {
        SL_ASSERT(ev == PUMP_TOO_LARGE);
        result_fail(out, JRUN_TOO_LARGE, 0, "result too large (over %zu bytes)", limit_bytes);
    }
}

/* SIGPIPE from writing to a child that exited must not kill us: block it in this thread for
 * the call, then discard one that became pending during it. */
typedef struct {
    sigset_t old;
    bool was_pending;
} sigpipe_guard_t;

static void sigpipe_block(sigpipe_guard_t *guard)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    guard->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &guard->old);
}

static void sigpipe_restore(sigpipe_guard_t *guard)
{
    if (!guard->was_pending) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) > 0) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &guard->old, NULL);
}

/* ---------------------------------------------------------------- one-shot */

static void oneshot_finish(const jrun_cmd_t *cmd, pump_t *pump, pump_ev_t ev, int64_t timeout_ms,
                           jrun_result_t *out)
{
    if (ev != PUMP_EXITED) {
        proc_stop(pump->proc, cmd_grace_ms(cmd));
        result_from_ev(out, ev, timeout_ms, JRUN_STDOUT_BYTES_MAX);
        return;
    }
    int status = proc_reap(pump->proc);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        result_from_status(out, status, "");
        return;
    }
    if (!jrun_json_valid((const char *)pump->out->data, pump->out->len)) {
        result_fail(out, JRUN_BAD_JSON, 0, "bad JSON on stdout (%zu bytes)", pump->out->len);
        return;
    }
    out->status = JRUN_OK;
    sl_buf_append(pump->out, "", 1);
    out->result = (char *)sl_buf_steal(pump->out, &out->result_len);
    out->result_len--;
}

int jrun_oneshot(const jrun_cmd_t *cmd, const void *payload, size_t len, int64_t timeout_ms,
                 jrun_ctl_t *ctl, jrun_result_t *out)
{
    if (!cmd_valid(cmd) || (!payload && len > 0) || timeout_ms <= 0) {
        return SL_EINVAL;
    }
    if (len > JRUN_PAYLOAD_BYTES_MAX) {
        return SL_ELIMIT;
    }
    int64_t start_ms = sl_time_mono_ms();
    memset(out, 0, sizeof *out);
    tail_t tail = {.data = sl_xmalloc(2 * JRUN_STDERR_TAIL_BYTES)};
    sl_buf_t buf;
    sl_buf_init(&buf);
    proc_t proc;
    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    if (ctl_cancelled(ctl)) {
        result_from_ev(out, PUMP_CANCELLED, timeout_ms, 0);
    } else if (proc_start(&proc, cmd) != 0) {
        result_fail(out, JRUN_START, proc.start_err, "could not start %s: %s", cmd->argv[0],
                    strerror(proc.start_err));
    } else {
        pump_t pump = {.proc = &proc, .in = payload, .in_len = len, .close_in = true,
                       .out = &buf, .out_max = JRUN_STDOUT_BYTES_MAX, .tail = &tail,
                       .deadline_ms = start_ms + timeout_ms, .ctl = ctl};
        if (len == 0) {
            proc_close_fd(&proc.in_fd);
        }
        oneshot_finish(cmd, &pump, pump_run(&pump), timeout_ms, out);
    }
    sigpipe_restore(&guard);
    tail_to_result(&tail, out);
    if (out->status == JRUN_EXIT || out->status == JRUN_SIGNAL) {
        result_add_last_line(out, out->log, out->log_len);
    }
    free(tail.data);
    sl_buf_deinit(&buf);
    out->elapsed_ms = sl_time_mono_ms() - start_ms;
    return 0;
}

/* ---------------------------------------------------------------- persistent worker */

struct jrun_worker {
    jrun_cmd_t cmd; /* argv and cwd point into owned copies below */
    char **argv;
    char *cwd;
    proc_t proc;
    bool restart;   /* the process may be in a bad state: replace it before the next job */
    sl_buf_t req;   /* the request line being sent */
    sl_buf_t out;   /* stdout bytes not yet consumed */
    tail_t tail;
    jrun_worker_stats_t stats;
};

int jrun_worker_new(const jrun_cmd_t *cmd, jrun_worker_t **out)
{
    if (!cmd_valid(cmd)) {
        return SL_EINVAL;
    }
    jrun_worker_t *worker = sl_xcalloc(1, sizeof *worker);
    size_t argc = 0;
    while (cmd->argv[argc]) {
        argc++;
    }
    worker->argv = sl_xcalloc(argc + 1, sizeof *worker->argv);
    for (size_t i = 0; i < argc; i++) {
        worker->argv[i] = sl_xstrdup(cmd->argv[i]);
    }
    worker->cwd = cmd->cwd ? sl_xstrdup(cmd->cwd) : NULL;
    worker->cmd = *cmd;
    worker->cmd.argv = (const char *const *)worker->argv;
    worker->cmd.cwd = worker->cwd;
    proc_init(&worker->proc);
    sl_buf_init(&worker->req);
    sl_buf_init(&worker->out);
    worker->tail.data = sl_xmalloc(2 * JRUN_STDERR_TAIL_BYTES);
    *out = worker;
    return 0;
}

static void worker_stop(jrun_worker_t *worker)
{
    if (worker->proc.pid > 0) {
        proc_stop(&worker->proc, cmd_grace_ms(&worker->cmd));
    }
    worker->out.len = 0;
    worker->restart = false;
    worker->stats.pid = 0;
}

void jrun_worker_free(jrun_worker_t *worker)
{
    if (!worker) {
        return;
    }
    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    worker_stop(worker);
    sigpipe_restore(&guard);
    for (size_t i = 0; worker->argv[i]; i++) {
        free(worker->argv[i]);
    }
    free(worker->argv);
    free(worker->cwd);
    sl_buf_deinit(&worker->req);
    sl_buf_deinit(&worker->out);
    free(worker->tail.data);
    free(worker);
}

void jrun_worker_stats(const jrun_worker_t *worker, jrun_worker_stats_t *out)
{
    *out = worker->stats;
}

/* Appends s as a JSON string token. */
static void json_put_string(sl_buf_t *buf, const char *s)
{
    sl_buf_append(buf, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sl_buf_append(buf, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sl_buf_append(buf, esc, 6);
        } else {
            sl_buf_append(buf, s, 1);
        }
    }
    sl_buf_append(buf, "\"", 1);
}

static void worker_build_req(jrun_worker_t *worker, const char *id, int attempt,
                             const char *payload, size_t len)
{
    sl_buf_t *req = &worker->req;
    req->len = 0;
    sl_buf_append(req, "{\"id\":", 6);
    json_put_string(req, id);
    char num[48];
    int n = snprintf(num, sizeof num, ",\"attempt\":%d,\"payload\":", attempt);
    sl_buf_append(req, num, (size_t)n);
    uint8_t *dst = sl_buf_reserve(req, len);
    for (size_t i = 0; i < len; i++) { /* a newline in valid JSON is whitespace */
        dst[i] = payload[i] == '\n' || payload[i] == '\r' ? ' ' : (uint8_t)payload[i];
    }
    req->len += len;
    sl_buf_append(req, "}\n", 2);
}

/* Replaces a worker in a bad state and starts one when none runs. Returns 0, or -errno when
 * the start failed; *started tells whether this job pays the start-up time. */
static int worker_ensure(jrun_worker_t *worker, bool *started)
{
    *started = false;
    if (worker->proc.pid > 0 && worker->restart) {
        SL_LOGW("jobs", "restarting worker %s (pid %d)", worker->argv[0], (int)worker->proc.pid);
        worker_stop(worker);
    }
    if (worker->proc.pid > 0) {
        return 0;
    }
    worker->out.len = 0;
    worker->tail.len = 0;
    int err = proc_start(&worker->proc, &worker->cmd);
    if (err != 0) {
        return err;
    }
    worker->stats.starts++;
    worker->stats.pid = (int)worker->proc.pid;
    *started = true;
    return 0;
}

/* Before a job: stderr written while idle is discarded; stdout written while idle means the
 * worker is out of step with the protocol, so it is replaced. */
static void worker_idle_check(jrun_worker_t *worker)
{
    if (worker->proc.pid <= 0) {
        return;
    }
    char chunk[4096];
    for (int i = 0; i < 64 && read(worker->proc.err_fd, chunk, sizeof chunk) > 0; i++) {
    }
    ssize_t n = read(worker->proc.out_fd, chunk, sizeof chunk);
    if (n != 0 && !(n < 0 && errno == EAGAIN)) {
        worker->restart = true; /* unsolicited output, EOF or error */
    }
    struct pollfd pfd = {.fd = worker->proc.pidfd, .events = POLLIN};
    if (poll(&pfd, 1, 0) > 0) {
        worker->restart = true; /* exited while idle */
    }
}

typedef struct {
    const kit_json_member_t *id, *result, *error; /* NULL: absent (or not a string) */
    int ok; /* -1 absent, 0 false, 1 true */
} reply_t;

static bool reply_key_is(const kit_json_member_t *m, const char *key)
{
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

/* Parses one reply line: a JSON object whose members we pick by name (the raw key, so an
 * escaped key is not one of ours; of a repeated key the last counts; of more than
 * KIT_JSON_MEMBERS_MAX members the first ones). members holds what reply points to. */
static bool reply_parse(const char *p, const char *end, kit_json_member_t *members,
                        reply_t *reply)
{
    *reply = (reply_t){.ok = -1};
    size_t n = 0;
    kit_json_rc_t rc = kit_json_object(p, (size_t)(end - p), JRUN_JSON_DEPTH_MAX, members, &n);
    if (rc != KIT_JSON_OK && rc != KIT_JSON_COMPLEX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const kit_json_member_t *m = &members[i];
        if (reply_key_is(m, "id") && m->val[0] == '"') {
            reply->id = m;
        } else if (reply_key_is(m, "ok") && (m->val[0] == 't' || m->val[0] == 'f')) {
            reply->ok = m->val[0] == 't';
        } else if (reply_key_is(m, "result")) {
            reply->result = m;
        } else if (reply_key_is(m, "error") && m->val[0] == '"') {
            reply->error = m;
        }
    }
    return true;
}

static bool reply_id_matches(const reply_t *reply, const char *id)
{
    if (!reply->id) {
        return false;
    }
    char buf[JRUN_ID_BYTES_MAX + 1];
    long n = kit_json_unescape(reply->id->val, reply->id->val_len, buf, sizeof buf);
    return n >= 0 && (size_t)n == strlen(id) && memcmp(buf, id, (size_t)n) == 0;
}

/* Turns the reply line in worker->out into the job's outcome. */
static void worker_reply(jrun_worker_t *worker, const char *id, jrun_result_t *out)
{
    char *line = (char *)worker->out.data;
    char *nl = memchr(line, '\n', worker->out.len);
    size_t used = (size_t)(nl - line) + 1;
    kit_json_member_t members[KIT_JSON_MEMBERS_MAX];
    reply_t reply;
    if (used < worker->out.len) {
        worker->restart = true; /* more than one line per job: out of step */
    }
    worker->out.len = 0;
    if (!reply_parse(line, nl, members, &reply)) {
        worker->restart = true;
        result_fail(out, JRUN_PROTOCOL, 0, "bad reply line from worker (%zu bytes)", used);
    } else if (!reply_id_matches(&reply, id)) {
        worker->restart = true;
        result_fail(out, JRUN_PROTOCOL, 0, "reply for another job id");
    } else if (reply.ok == 1 && reply.result) {
        worker->stats.jobs_served++;
        out->status = JRUN_OK;
        out->result_len = reply.result->val_len;
        out->result = sl_xstrndup(reply.result->val, out->result_len);
    } else if (reply.ok == 0) {
        worker->stats.jobs_served++;
        char msg[JRUN_REASON_BYTES - 16];
        if (reply.error) {
            kit_json_unescape(reply.error->val, reply.error->val_len, msg, sizeof msg);
        } else {
            msg[0] = '\0';
        }
        result_fail(out, JRUN_JOB_ERROR, 0, "worker error: %s", reply.error ? msg : "(none)");
    } else {
        worker->restart = true;
        result_fail(out, JRUN_PROTOCOL, 0, "reply without ok/result");
    }
}

/* Reads what stderr holds now into the tail; bounded, so a chatty worker cannot keep us. */
static void worker_drain_err(jrun_worker_t *worker)
{
    char chunk[4096];
    ssize_t n;
    for (int i = 0; i < 16 && (n = read(worker->proc.err_fd, chunk, sizeof chunk)) > 0; i++) {
        tail_append(&worker->tail, chunk, (size_t)n);
    }
}

/* The worker died or closed stdout mid-job (its exit may trail the EOF by a moment). */
static void worker_lost(jrun_worker_t *worker, jrun_result_t *out)
{
    worker_drain_err(worker); /* its last words say why */
    bool exited = proc_wait_exit(&worker->proc, sl_time_mono_ms() + JRUN_DRAIN_MS);
    int status = proc_stop(&worker->proc, cmd_grace_ms(&worker->cmd));
    worker_stop(worker);
    if (!exited) {
        result_fail(out, JRUN_PROTOCOL, 0, "worker closed stdout mid-job");
        return;
    }
    result_from_status(out, status, "worker ");
    size_t n = strlen(out->reason);
    snprintf(out->reason + n, sizeof out->reason - n, " mid-job");
    out->status = JRUN_PROTOCOL;
}

/* Runs the request; returns true when the worker died (or closed stdout) mid-job. */
static bool worker_job(jrun_worker_t *worker, const char *id, int64_t timeout_ms, bool started,
                       jrun_ctl_t *ctl, jrun_result_t *out)
{
    int64_t start_ms = sl_time_mono_ms();
    int64_t limit_ms = timeout_ms + (started ? SL_MAX(worker->cmd.start_timeout_ms, 0) : 0);
    pump_t pump = {.proc = &worker->proc, .in = (const char *)worker->req.data,
                   .in_len = worker->req.len, .line_mode = true, .out = &worker->out,
                   .out_max = JRUN_LINE_BYTES_MAX, .tail = &worker->tail,
                   .deadline_ms = start_ms + limit_ms, .ctl = ctl};
    pump_ev_t ev = pump_run(&pump);
    if (ev == PUMP_LINE) {
        worker_drain_err(worker); /* stderr written just before the reply is this job's */
        worker_reply(worker, id, out);
    } else if (ev == PUMP_EXITED) {
        worker_lost(worker, out);
        return true;
    } else {
        worker_stop(worker);
        result_from_ev(out, ev, timeout_ms, JRUN_LINE_BYTES_MAX - 1);
    }
    return false;
}

int jrun_worker_run(jrun_worker_t *worker, const char *id, int attempt, const void *payload,
                    size_t len, int64_t timeout_ms, jrun_ctl_t *ctl, jrun_result_t *out)
{
    if (!id || strlen(id) > JRUN_ID_BYTES_MAX || !payload || timeout_ms <= 0) {
        return SL_EINVAL;
    }
    if (len > JRUN_PAYLOAD_BYTES_MAX) {
        return SL_ELIMIT;
    }
    if (!jrun_json_valid(payload, len)) {
        return SL_EINVAL;
    }
    int64_t start_ms = sl_time_mono_ms();
    memset(out, 0, sizeof *out);
    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    worker_idle_check(worker);
    worker->tail.len = 0;
    worker->tail.truncated = false;
    bool started = false, lost = false;
    if (ctl_cancelled(ctl)) {
        result_from_ev(out, PUMP_CANCELLED, timeout_ms, 0);
    } else if (worker_ensure(worker, &started) != 0) {
        int err = worker->proc.start_err;
        result_fail(out, JRUN_START, err, "could not start %s: %s", worker->argv[0],
                    strerror(err));
    } else {
        worker_build_req(worker, id, attempt, payload, len);
        lost = worker_job(worker, id, timeout_ms, started, ctl, out);
    }
    sigpipe_restore(&guard);
    worker->stats.jobs_failed += out->status != JRUN_OK;
    tail_to_result(&worker->tail, out);
    if (lost) {
        result_add_last_line(out, out->log, out->log_len);
    }
    out->elapsed_ms = sl_time_mono_ms() - start_ms;
    return 0;
}
