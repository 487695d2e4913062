/* Chrome DevTools Protocol over --remote-debugging-pipe: Chromium reads commands on its fd 3
 * and writes replies and events on its fd 4, each one JSON message ended by a NUL byte. One
 * connection drives one browser; events that arrive while a call waits are queued (bounded)
 * for insp_cdp_event. Thread: one caller at a time. */
#ifndef INSP_CDP_H
#define INSP_CDP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest message read (a screenshot part arrives as one base64 message). */
#define INSP_CDP_MSG_BYTES_MAX (96u << 20)
/* Events kept while waiting for a reply; older ones are dropped. */
#define INSP_CDP_EVENTS_MAX 1024
#define INSP_CDP_ERR_BYTES 256

typedef struct insp_cdp insp_cdp_t;

/* How the browser is started (insp_cdp_launch). */
typedef struct {
    const char *chromium;    /* binary: a path, or a name looked up in PATH */
    const char *profile_dir; /* --user-data-dir and $HOME of the browser */
    const char *proxy;       /* "127.0.0.1:port": every request goes through it; NULL none */
    bool no_sandbox;         /* --no-sandbox: only when the operator asked for it */
    int uid, gid;            /* >= 0: the browser runs as this user (we are root); -1: as we */
    uint64_t nofile_max;     /* RLIMIT_NOFILE of the browser's tree; 0 leaves it */
    uint64_t nproc_max;      /* RLIMIT_NPROC (tasks of its user); 0 leaves it */
} insp_cdp_launch_t;

/* Starts the browser headless with opts (credentials dropped, limits set and the parent-death
 * signal armed in the child before exec), in this process group and killed if this process
 * dies. Returns 0 or -errno (SL_EINVAL: the binary is not found). */
int insp_cdp_launch(const insp_cdp_launch_t *opts, insp_cdp_t **out);
/* The browser's pid (0 when not launched). */
pid_t insp_cdp_pid(const insp_cdp_t *cdp);

/* Called with each event as it is read, before it is queued; returns true when it handled the
 * event (it is then not queued). It may send with insp_cdp_send but never wait. NULL: none. */
typedef bool (*insp_cdp_hook_fn)(void *arg, const json_t *event);
void insp_cdp_set_hook(insp_cdp_t *cdp, insp_cdp_hook_fn fn, void *arg);
/* Sends a command without waiting for its reply (the reply is dropped when read). Takes
 * ownership of params. Returns 0, or SL_ECLOSED/-errno. */
int insp_cdp_send(insp_cdp_t *cdp, const char *session, const char *method, json_t *params);
/* Wraps two fds (wfd: to the browser, rfd: from it); takes ownership of both. For tests. */
insp_cdp_t *insp_cdp_open_fds(int wfd, int rfd);
/* Closes the pipes, then terminates and reaps the browser if launched. */
void insp_cdp_free(insp_cdp_t *cdp);

/* Sends {id, method, params, sessionId?} (takes ownership of params, may be NULL) and waits
 * until the monotonic deadline_ms for its reply. Returns 0 with *result (caller decrefs),
 * SL_EINVAL with the protocol's error message in err, -ETIMEDOUT, or SL_ECLOSED/-errno when
 * the browser is gone. */
int insp_cdp_call(insp_cdp_t *cdp, const char *session, const char *method, json_t *params,
                  int64_t deadline_ms, json_t **result, char *err, size_t errlen);
/* Next queued or arriving event {method, params, sessionId?} (caller decrefs), waiting until
 * deadline_ms. Returns 0, -ETIMEDOUT, or SL_ECLOSED/-errno. */
int insp_cdp_event(insp_cdp_t *cdp, int64_t deadline_ms, json_t **event);

/* Splits one NUL-terminated frame off [buf, buf+len): its length without the NUL, or -1 when
 * the buffer holds no whole frame yet. */
ssize_t insp_cdp_frame_len(const char *buf, size_t len);

#endif
