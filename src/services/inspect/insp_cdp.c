/* CDP client over Chromium's --remote-debugging-pipe (NUL-delimited JSON on fds 3 and 4),
 * see insp_cdp.h. Replies are matched by id; events are queued in a bounded ring. */
#include "insp_cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl_common.h"
#include "sl_time.h"

struct insp_cdp {
    int wfd, rfd;
    pid_t pid; /* 0 when not launched by us */
    char *buf; /* bytes read, not yet a whole frame */
    size_t len, cap;
    int64_t next_id;
    json_t *events[INSP_CDP_EVENTS_MAX];
    size_t ev_head, ev_count;
    insp_cdp_hook_fn hook;
    void *hook_arg;
};

ssize_t insp_cdp_frame_len(const char *buf, size_t len)
{
    const char *nul = memchr(buf, 0, len);
    return nul ? (ssize_t)(nul - buf) : -1;
}

insp_cdp_t *insp_cdp_open_fds(int wfd, int rfd)
{
    insp_cdp_t *cdp = sl_xcalloc(1, sizeof(*cdp));
    cdp->wfd = wfd;
    cdp->rfd = rfd;
    cdp->cap = 1 << 16;
    cdp->buf = sl_xmalloc(cdp->cap);
    cdp->next_id = 1;
    return cdp;
}

/* Everything the child needs, prepared before fork: after it only async-signal-safe calls. */
typedef struct {
    char path[4096];
    char user_dir[4200], proxy[160], home[4200];
    const char *argv[32];
    const char *envp[8];
} insp__exec_t;

static int insp__find_binary(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return access(out, X_OK) == 0 ? 0 : SL_EINVAL;
    }
    const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        int len = snprintf(out, cap, "%.*s/%s", (int)n, p, name);
        if (n > 0 && len > 0 && (size_t)len < cap && access(out, X_OK) == 0) {
            return 0;
        }
        p += n + (p[n] == ':');
    }
    return SL_EINVAL;
}

static int insp__exec_prepare(const insp_cdp_launch_t *o, insp__exec_t *x)
{
    memset(x, 0, sizeof(*x));
    if (insp__find_binary(o->chromium, x->path, sizeof(x->path)) != 0) {
        return SL_EINVAL;
    }
    snprintf(x->user_dir, sizeof(x->user_dir), "--user-data-dir=%s", o->profile_dir);
    snprintf(x->home, sizeof(x->home), "HOME=%s", o->profile_dir);
    size_t n = 0;
    static const char *const flags[] = {
        "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--disable-dev-shm-usage",
        "--remote-debugging-pipe", "--no-pings", "--disable-domain-reliability",
        /* WebRTC may not send UDP around the proxy (insp_proxy.h) */
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp"};
    x->argv[n++] = o->chromium;
    for (size_t i = 0; i < SL_ARRAY_LEN(flags); i++) {
        x->argv[n++] = flags[i];
    }
    if (o->no_sandbox) {
        x->argv[n++] = "--no-sandbox";
    }
    if (o->proxy) {
        snprintf(x->proxy, sizeof(x->proxy), "--proxy-server=http://%s", o->proxy);
        x->argv[n++] = x->proxy;
        x->argv[n++] = "--proxy-bypass-list=<-loopback>"; /* loopback too goes through it */
    }
    x->argv[n++] = x->user_dir;
    SL_ASSERT(n < SL_ARRAY_LEN(x->argv));
    size_t e = 0;
    x->envp[e++] = x->home;
    x->envp[e++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    x->envp[e++] = "LANG=C.UTF-8";
    return 0;
}

static void insp__limit(int res, uint64_t max)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)max, .rlim_max = (rlim_t)max};
    if (max > 0 && setrlimit(res, &rl) != 0) {
        _exit(126);
    }
}

static void insp__child(const insp_cdp_launch_t *o, const insp__exec_t *x, pid_t parent,
                        int cmd_rd, int ev_wr)
{
    /* Move both ends above 4 first: either may already sit on fd 3 or 4. dup2 to a new number
     * clears close-on-exec. */
    int rd = fcntl(cmd_rd, F_DUPFD, 10), wr = fcntl(ev_wr, F_DUPFD, 10);
    if (rd < 0 || wr < 0 || dup2(rd, 3) < 0 || dup2(wr, 4) < 0) {
        _exit(127);
    }
    for (int fd = 5; fd < 1024; fd++) {
        close(fd);
    }
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2); /* Chromium's own log would fill the job log */
    }
    insp__limit(RLIMIT_NOFILE, o->nofile_max);
    insp__limit(RLIMIT_NPROC, o->nproc_max);
    insp__limit(RLIMIT_CORE, 0);
    if (o->uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)o->gid) != 0 ||
                        setuid((uid_t)o->uid) != 0 || getuid() != (uid_t)o->uid ||
                        geteuid() != (uid_t)o->uid || setuid(0) == 0)) {
        _exit(125); /* never run the browser with more than asked */
    }
    /* After the credentials change: changing them clears the parent-death signal. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(124); /* the parent died before the signal was armed */
    }
    execve(x->path, (char *const *)x->argv, (char *const *)x->envp);
    _exit(127);
}

int insp_cdp_launch(const insp_cdp_launch_t *opts, insp_cdp_t **out)
{
    insp__exec_t *x = sl_xmalloc(sizeof(*x));
    int rc = insp__exec_prepare(opts, x);
    int to[2] = {-1, -1}, from[2] = {-1, -1};
    if (rc == 0 && (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)) {
        rc = -errno;
    }
    pid_t parent = getpid();
    pid_t pid = rc == 0 ? fork() : -1;
    if (rc == 0 && pid < 0) {
        rc = -errno;
    }
    if (pid == 0) {
        insp__child(opts, x, parent, to[0], from[1]);
    }
    free(x);
    if (rc != 0) {
        for (int i = 0; i < 2; i++) {
            if (to[i] >= 0) {
                close(to[i]);
            }
            if (from[i] >= 0) {
                close(from[i]);
            }
        }
        return rc;
    }
    close(to[0]);
    close(from[1]);
    insp_cdp_t *cdp = insp_cdp_open_fds(to[1], from[0]);
    cdp->pid = pid;
    *out = cdp;
    return 0;
}

pid_t insp_cdp_pid(const insp_cdp_t *cdp)
{
    return cdp ? cdp->pid : 0;
}

void insp_cdp_set_hook(insp_cdp_t *cdp, insp_cdp_hook_fn fn, void *arg)
{
    cdp->hook = fn;
    cdp->hook_arg = arg;
}

void insp_cdp_free(insp_cdp_t *cdp)
{
    if (!cdp) {
        return;
    }
    close(cdp->wfd);
    close(cdp->rfd);
    if (cdp->pid > 0) {
        /* Closing the pipe asks Chromium to quit; give it a moment, then make sure. */
        int64_t deadline = sl_time_mono_ms() + 2000;
        while (waitpid(cdp->pid, NULL, WNOHANG) == 0) {
            if (sl_time_mono_ms() > deadline) {
                kill(cdp->pid, SIGKILL);
                waitpid(cdp->pid, NULL, 0);
                break;
            }
            usleep(20000);
        }
    }
    for (size_t i = 0; i < cdp->ev_count; i++) {
        json_decref(cdp->events[(cdp->ev_head + i) % INSP_CDP_EVENTS_MAX]);
    }
    free(cdp->buf);
    free(cdp);
}

static int insp__write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno == EPIPE ? SL_ECLOSED : -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until the buffer holds a whole frame; returns it parsed (NULL for unparsable). */
static int insp__read_msg(insp_cdp_t *cdp, int64_t deadline_ms, json_t **msg)
{
    for (;;) {
        ssize_t flen = insp_cdp_frame_len(cdp->buf, cdp->len);
        if (flen >= 0) {
            *msg = json_loadb(cdp->buf, (size_t)flen, JSON_ALLOW_NUL, NULL);
            memmove(cdp->buf, cdp->buf + flen + 1, cdp->len - (size_t)flen - 1);
            cdp->len -= (size_t)flen + 1;
            return 0;
        }
        if (cdp->len == INSP_CDP_MSG_BYTES_MAX) {
            return SL_ELIMIT;
        }
        int64_t left = deadline_ms - sl_time_mono_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = cdp->rfd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)SL_MIN(left, 1000));
        if (pr < 0 && errno != EINTR) {
            return -errno;
        }
        if (pr <= 0) {
            continue;
        }
        if (cdp->cap - cdp->len < 65536 && cdp->cap < INSP_CDP_MSG_BYTES_MAX) {
            cdp->cap = SL_MIN(cdp->cap * 2, (size_t)INSP_CDP_MSG_BYTES_MAX);
            cdp->buf = sl_xrealloc(cdp->buf, cdp->cap);
        }
        ssize_t n = read(cdp->rfd, cdp->buf + cdp->len, cdp->cap - cdp->len);
        if (n == 0) {
            return SL_ECLOSED;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return -errno;
        }
        cdp->len += n > 0 ? (size_t)n : 0;
    }
}

static void insp__queue_event(insp_cdp_t *cdp, json_t *ev)
{
    if (cdp->ev_count == INSP_CDP_EVENTS_MAX) {
        json_decref(cdp->events[cdp->ev_head]);
        cdp->ev_head = (cdp->ev_head + 1) % INSP_CDP_EVENTS_MAX;
        cdp->ev_count--;
    }
    cdp->events[(cdp->ev_head + cdp->ev_count) % INSP_CDP_EVENTS_MAX] = ev;
    cdp->ev_count++;
}

static int insp__send(insp_cdp_t *cdp, int64_t id, const char *session, const char *method,
                      json_t *params)
{
    json_t *req = json_pack("{sIss}", "id", (json_int_t)id, "method", method);
    json_object_set_new(req, "params", params ? params : json_object());
    if (session) {
        json_object_set_new(req, "sessionId", json_string(session));
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = insp__write_all(cdp->wfd, text, strlen(text) + 1); /* the NUL ends the frame */
    free(text);
    return rc;
}

int insp_cdp_send(insp_cdp_t *cdp, const char *session, const char *method, json_t *params)
{
    return insp__send(cdp, cdp->next_id++, session, method, params);
}

/* An event for the hook; true when it took it. */
static bool insp__hooked(insp_cdp_t *cdp, json_t *msg)
{
    if (cdp->hook && cdp->hook(cdp->hook_arg, msg)) {
        json_decref(msg);
        return true;
    }
    return false;
}

int insp_cdp_call(insp_cdp_t *cdp, const char *session, const char *method, json_t *params,
                  int64_t deadline_ms, json_t **result, char *err, size_t errlen)
{
    int64_t id = cdp->next_id++;
    int rc = insp__send(cdp, id, session, method, params);
    while (rc == 0) {
        json_t *msg = NULL;
        rc = insp__read_msg(cdp, deadline_ms, &msg);
        if (rc != 0 || !msg) {
            continue;
        }
        json_t *jid = json_object_get(msg, "id");
        if (!jid) {
            if (!insp__hooked(cdp, msg)) {
                insp__queue_event(cdp, msg);
            }
            continue;
        }
        if (json_integer_value(jid) != id) {
            json_decref(msg); /* a reply to a call that already timed out */
            continue;
        }
        json_t *jerr = json_object_get(msg, "error");
        if (jerr) {
            snprintf(err, errlen, "%s: %s", method,
                     json_string_value(json_object_get(jerr, "message")) ?: "error");
            json_decref(msg);
            return SL_EINVAL;
        }
        *result = json_incref(json_object_get(msg, "result") ?: json_object());
        json_decref(msg);
        return 0;
    }
    snprintf(err, errlen, "%s: %s", method, rc == -ETIMEDOUT ? "timed out" : sl_strerror(rc));
    return rc;
}

int insp_cdp_event(insp_cdp_t *cdp, int64_t deadline_ms, json_t **event)
{
    if (cdp->ev_count > 0) {
        *event = cdp->events[cdp->ev_head];
        cdp->ev_head = (cdp->ev_head + 1) % INSP_CDP_EVENTS_MAX;
        cdp->ev_count--;
        return 0;
    }
    for (;;) {
        json_t *msg = NULL;
        int rc = insp__read_msg(cdp, deadline_ms, &msg);
        if (rc != 0) {
            return rc;
        }
        if (msg && json_object_get(msg, "method")) {
            if (insp__hooked(cdp, msg)) {
                continue;
            }
            *event = msg;
            return 0;
        }
        json_decref(msg); /* a late reply */
    }
}
