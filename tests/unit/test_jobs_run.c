/* Unit tests for src/services/jobs/jrun.c: one-shot commands and persistent workers, run as
 * small /bin/sh and python3 scripts written into a temporary directory by each test. */
#include "jrun.h"
#include "sl_common.h"
#include "sl_test.h"
#include "sl_time.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[256];

/* Writes an executable script into tmp_dir; returns its path (static storage per slot). */
static const char *script(const char *name, const char *body)
{
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    SL_ASSERT(f);
    fputs(body, f);
    fclose(f);
    chmod(path, 0755);
    return path;
}

static jrun_cmd_t cmd_of(const char *const *argv)
{
    return (jrun_cmd_t){.argv = argv, .grace_ms = 300};
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

/* A process is gone when it no longer exists or is a zombie waiting for init. */
static bool pid_gone(pid_t pid)
{
    for (int i = 0; i < 100; i++) {
        char path[64], stat[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) {
            return true;
        }
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        char *rp = strrchr(stat, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z') {
            return true;
        }
        usleep(20000);
    }
    return false;
}

TEST(test_json_validator_accepts_values_and_rejects_garbage)
{
    const char *good[] = {"0", "-1.5e+3", " {\"a\":[1,true,null,\"x\\u00e9\\n\"]} ", "\"\"",
                          "[]", "{}", "[[{}]]", "false"};
    const char *bad[] = {"", " ", "{", "[1,]", "{\"a\"}", "01", "1.", "tru", "\"a", "1 2",
                         "{\"a\":1,}", "\"\\x\"", "\"a\nb\"", "{a:1}", "[1] x", "-"};
    for (size_t i = 0; i < SL_ARRAY_LEN(good); i++) {
        ASSERT_TRUE(jrun_json_valid(good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        if (jrun_json_valid(bad[i], strlen(bad[i]))) {
            SL_TEST_FAIL_("accepted bad JSON: %s", bad[i]);
        }
    }
    char deep[2 * JRUN_JSON_DEPTH_MAX + 2];
    for (int depth = JRUN_JSON_DEPTH_MAX; depth <= JRUN_JSON_DEPTH_MAX + 1; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        ASSERT_EQ(jrun_json_valid(deep, 2 * (size_t)depth), depth == JRUN_JSON_DEPTH_MAX);
    }
}

TEST(test_oneshot_success_returns_stdout_json)
{
    const char *argv[] = {script("ok.sh", "#!/bin/sh\nread x\necho log line >&2\n"
                                          "echo \"{\\\"got\\\":$x}\"\n"),
                          NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "42\n", 3, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    ASSERT_STREQ(res.result, "{\"got\":42}\n");
    ASSERT_STREQ(res.log, "log line\n");
    ASSERT_STREQ(res.reason, "");
    jrun_result_deinit(&res);
}

TEST(test_oneshot_nonzero_exit_keeps_stderr_tail)
{
    const char *argv[] = {script("exit3.sh", "#!/bin/sh\necho boom >&2\nexit 3\n"), NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_EXIT);
    ASSERT_EQ(res.code, 3);
    ASSERT_STREQ(res.reason, "exited with code 3: boom"); /* issue 25: its last words */
    ASSERT_STREQ(res.log, "boom\n");
    ASSERT_TRUE(res.result == NULL);
    jrun_result_deinit(&res);
}

/* Issue 25: the reason quotes the last non-empty stderr line, escaped and bounded. */
TEST(test_failed_command_reason_quotes_its_last_stderr_line)
{
    const char *argv[] = {script("lastline.sh",
                                 "#!/bin/sh\n"
                                 "echo first >&2\n"
                                 "printf 'tab\\there \\\\ \\033[31m caf\\303\\251 \\377\\n' >&2\n"
                                 "printf '   \\n\\n' >&2\n"
                                 "exit 3\n"),
                          NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_EXIT);
    ASSERT_STREQ(res.reason,
                 "exited with code 3: tab\\x09here \\\\ \\x1b[31m caf\xc3\xa9 \\xff");
    jrun_result_deinit(&res);
    /* a line longer than the bound is cut and says so */
    const char *argv2[] = {script("longline.sh", "#!/bin/sh\n"
                                                 "head -c 5000 /dev/zero | tr '\\0' x >&2\n"
                                                 "exit 4\n"),
                           NULL};
    cmd = cmd_of(argv2);
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    const char *line = strstr(res.reason, ": ");
    ASSERT_TRUE(line != NULL);
    ASSERT_EQ(strlen(line + 2), JRUN_REASON_LINE_BYTES_MAX);
    ASSERT_STREQ(line + 2 + JRUN_REASON_LINE_BYTES_MAX - 3, "...");
    jrun_result_deinit(&res);
    /* nothing on stderr: the reason as before */
    const char *argv3[] = {script("silent.sh", "#!/bin/sh\nexit 5\n"), NULL};
    cmd = cmd_of(argv3);
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_STREQ(res.reason, "exited with code 5");
    jrun_result_deinit(&res);
}

TEST(test_oneshot_killed_by_signal)
{
    const char *argv[] = {script("sig.sh", "#!/bin/sh\nkill -USR1 $$\nsleep 5\n"), NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_SIGNAL);
    ASSERT_EQ(res.code, SIGUSR1);
    ASSERT_STREQ(res.reason, "killed by signal 10 (SIGUSR1)");
    jrun_result_deinit(&res);
}

TEST(test_oneshot_hang_is_killed_at_limit_with_its_children)
{
    char body[512];
    snprintf(body, sizeof body, "#!/bin/sh\nsleep 30 &\necho $! > %s/child.pid\nwait\n", tmp_dir);
    const char *argv[] = {script("hang.sh", body), NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    cmd.grace_ms = 5000; /* SIGTERM is enough: the run must not wait out the grace */
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 300, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_TIMEOUT);
    ASSERT_EQ(res.code, 300);
    ASSERT_STREQ(res.reason, "timed out after 0.3 s");
    ASSERT_TRUE(res.elapsed_ms >= 300 && res.elapsed_ms < 300 + 5000);
    char path[512];
    snprintf(path, sizeof path, "%s/child.pid", tmp_dir);
    FILE *f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    int pid = 0;
    ASSERT_EQ(fscanf(f, "%d", &pid), 1);
    fclose(f);
    ASSERT_TRUE(pid > 0 && pid_gone(pid));
    jrun_result_deinit(&res);
}

TEST(test_oneshot_ignoring_sigterm_gets_sigkill_after_grace)
{
    const char *argv[] = {script("stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho armed >&2\n"
                                                "while :; do sleep 0.05; done\n"),
                          NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 200, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_TIMEOUT);
    ASSERT_TRUE(res.elapsed_ms >= 200 + 300);
    ASSERT_TRUE(res.elapsed_ms < 200 + 300 + 5000);
    ASSERT_STREQ(res.log, "armed\n");
    jrun_result_deinit(&res);
}

TEST(test_oneshot_stdout_at_limit_ok_and_over_limit_too_large)
{
    const char *argv[] = {script("big.py", "#!/usr/bin/python3\nimport sys\n"
                                           "n = int(sys.stdin.read())\n"
                                           "sys.stdout.write('\"' + 'a' * (n - 2) + '\"')\n"),
                          NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    for (unsigned n = JRUN_STDOUT_BYTES_MAX; n <= JRUN_STDOUT_BYTES_MAX + 1; n++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "%u", n);
        jrun_result_t res;
        ASSERT_EQ(jrun_oneshot(&cmd, payload, (size_t)len, 10000, NULL, &res), 0);
        if (n == JRUN_STDOUT_BYTES_MAX) {
            ASSERT_EQ(res.status, JRUN_OK);
            ASSERT_EQ(res.result_len, JRUN_STDOUT_BYTES_MAX);
        } else {
            ASSERT_EQ(res.status, JRUN_TOO_LARGE);
            ASSERT_TRUE(strstr(res.reason, "result too large") != NULL);
        }
        jrun_result_deinit(&res);
    }
}

TEST(test_oneshot_bad_json_fails)
{
    const char *argv[] = {script("bad.sh", "#!/bin/sh\necho '{\"a\":'\n"), NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_BAD_JSON);
    ASSERT_TRUE(strstr(res.reason, "bad JSON on stdout") != NULL);
    jrun_result_deinit(&res);
}

TEST(test_oneshot_missing_program_could_not_start)
{
    const char *argv[] = {"/nonexistent/worker", NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_START);
    ASSERT_EQ(res.code, ENOENT);
    ASSERT_STREQ(res.reason, "could not start /nonexistent/worker: No such file or directory");
    ASSERT_STREQ(res.log, "");
    jrun_result_deinit(&res);
}

TEST(test_oneshot_large_payload_echoed_without_deadlock)
{
    size_t n = 3u << 20;
    char *payload = sl_xmalloc(n);
    memset(payload, 'x', n);
    payload[0] = '"';
    payload[n - 1] = '"';
    const char *argv[] = {"cat", NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, payload, n, 10000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    ASSERT_EQ(res.result_len, n);
    ASSERT_MEMEQ(res.result, payload, n);
    jrun_result_deinit(&res);
    free(payload);
}

TEST(test_oneshot_stderr_tail_keeps_last_bytes)
{
    const char *argv[] = {script("noisy.py", "#!/usr/bin/python3\nimport sys\n"
                                             "sys.stderr.write('x' * 100000 + 'END')\n"
                                             "print('1')\n"),
                          NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "", 0, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    ASSERT_EQ(res.log_len, JRUN_STDERR_TAIL_BYTES);
    ASSERT_TRUE(res.log_truncated);
    ASSERT_STREQ(res.log + res.log_len - 4, "xEND");
    jrun_result_deinit(&res);
}

typedef struct {
    jrun_ctl_t *ctl;
    int delay_ms;
} canceller_t;

static void *cancel_later(void *arg)
{
    canceller_t *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    jrun_cancel(c->ctl);
    return NULL;
}

TEST(test_oneshot_cancel_from_another_thread)
{
    const char *argv[] = {"sleep", "30", NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_ctl_t *ctl;
    ASSERT_EQ(jrun_ctl_new(&ctl), 0);
    canceller_t c = {ctl, 200};
    pthread_t thr;
    pthread_create(&thr, NULL, cancel_later, &c);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 10000, ctl, &res), 0);
    pthread_join(thr, NULL);
    ASSERT_EQ(res.status, JRUN_CANCELLED);
    ASSERT_STREQ(res.reason, "cancelled");
    ASSERT_TRUE(res.elapsed_ms < 5000);
    jrun_result_deinit(&res);
    /* Pending until reset: the next run is cancelled at once; after reset it runs. */
    const char *ok_argv[] = {"echo", "1", NULL};
    jrun_cmd_t ok_cmd = cmd_of(ok_argv);
    ASSERT_EQ(jrun_oneshot(&ok_cmd, "", 0, 5000, ctl, &res), 0);
    ASSERT_EQ(res.status, JRUN_CANCELLED);
    jrun_result_deinit(&res);
    jrun_ctl_reset(ctl);
    ASSERT_EQ(jrun_oneshot(&ok_cmd, "", 0, 5000, ctl, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    jrun_result_deinit(&res);
    jrun_ctl_free(ctl);
}

TEST(test_oneshot_rejects_bad_arguments)
{
    const char *argv[] = {"cat", NULL};
    const char *empty[] = {NULL};
    jrun_cmd_t cmd = cmd_of(argv), none = cmd_of(empty);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&none, "{}", 2, 1000, NULL, &res), SL_EINVAL);
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", 2, 0, NULL, &res), SL_EINVAL);
    ASSERT_EQ(jrun_oneshot(&cmd, "{}", JRUN_PAYLOAD_BYTES_MAX + 1, 1000, NULL, &res),
              SL_ELIMIT);
}

/* Persistent worker used by the tests below: appends to argv[1] once at start, then serves
 * request lines; the payload's "act" picks a misbehaviour. */
static const char *const WORKER_PY =
    "#!/usr/bin/python3\n"
    "import sys, json, os, time\n"
    "with open(sys.argv[1], 'a') as f: f.write('start\\n')\n"
    "for line in sys.stdin:\n"
    "    req = json.loads(line)\n"
    "    p = req['payload']\n"
    "    act = p.get('act') if isinstance(p, dict) else None\n"
    "    sys.stderr.write('job %s\\n' % req['id']); sys.stderr.flush()\n"
    "    if act == 'hang': time.sleep(60)\n"
    "    if act == 'crash': os._exit(7)\n"
    "    if act == 'garbage':\n"
    "        sys.stdout.write('not json\\n'); sys.stdout.flush(); continue\n"
    "    if act == 'big':\n"
    "        base = json.dumps({'id': req['id'], 'ok': True, 'result': ''})\n"
    "        s = 'a' * (p['n'] - len(base) - 1)\n"
    "        reply = {'id': req['id'], 'ok': True, 'result': s}\n"
    "    elif act == 'fail': reply = {'id': req['id'], 'ok': False, 'error': 'no such page'}\n"
    "    elif act == 'wrongid': reply = {'id': 'other', 'ok': True, 'result': 1}\n"
    "    else: reply = {'id': req['id'], 'ok': True, 'result': {'echo': p, 'a': req['attempt']}}\n"
    "    sys.stdout.write(json.dumps(reply) + '\\n'); sys.stdout.flush()\n";

typedef struct {
    jrun_worker_t *worker;
    char init_path[512];
} wfix_t;

static void wfix_new(wfix_t *fix, const char *name)
{
    snprintf(fix->init_path, sizeof fix->init_path, "%s/%s.init", tmp_dir, name);
    const char *argv[] = {script("worker.py", WORKER_PY), fix->init_path, NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    SL_ASSERT(jrun_worker_new(&cmd, &fix->worker) == 0);
}

static jrun_status_t wrun(wfix_t *fix, const char *id, const char *payload, int64_t timeout_ms,
                          jrun_result_t *res)
{
    int rc = jrun_worker_run(fix->worker, id, 1, payload, strlen(payload), timeout_ms, NULL, res);
    SL_ASSERT(rc == 0);
    return res->status;
}

static jrun_worker_stats_t wstats(wfix_t *fix)
{
    jrun_worker_stats_t st;
    jrun_worker_stats(fix->worker, &st);
    return st;
}

TEST(test_worker_initialises_once_across_20_jobs)
{
    wfix_t fix;
    wfix_new(&fix, "twenty");
    for (int i = 0; i < 20; i++) {
        char id[32], payload[64], want[128];
        snprintf(id, sizeof id, "job-%d", i);
        snprintf(payload, sizeof payload, "{\"n\":\n%d}", i);
        snprintf(want, sizeof want, "{\"echo\": {\"n\": %d}, \"a\": 1}", i);
        jrun_result_t res;
        ASSERT_EQ(wrun(&fix, id, payload, 5000, &res), JRUN_OK);
        ASSERT_STREQ(res.result, want);
        char log[64];
        snprintf(log, sizeof log, "job %s\n", id);
        ASSERT_STREQ(res.log, log);
        jrun_result_deinit(&res);
    }
    jrun_worker_stats_t st = wstats(&fix);
    ASSERT_EQ(st.starts, 1);
    ASSERT_EQ(st.jobs_served, 20);
    ASSERT_EQ(st.jobs_failed, 0);
    ASSERT_EQ(count_lines(fix.init_path), 1);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_hang_is_killed_and_next_job_succeeds_on_restarted_worker)
{
    wfix_t fix;
    wfix_new(&fix, "hang");
    jrun_result_t res;
    ASSERT_EQ(wrun(&fix, "a", "1", 5000, &res), JRUN_OK);
    int first_pid = wstats(&fix).pid;
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "b", "{\"act\":\"hang\"}", 300, &res), JRUN_TIMEOUT);
    ASSERT_STREQ(res.reason, "timed out after 0.3 s");
    ASSERT_STREQ(res.log, "job b\n");
    ASSERT_TRUE(res.elapsed_ms < 300 + 300 + 5000);
    jrun_result_deinit(&res);
    ASSERT_EQ(wstats(&fix).pid, 0);
    ASSERT_TRUE(pid_gone(first_pid));
    ASSERT_EQ(wrun(&fix, "c", "2", 5000, &res), JRUN_OK);
    ASSERT_STREQ(res.result, "{\"echo\": 2, \"a\": 1}");
    jrun_result_deinit(&res);
    jrun_worker_stats_t st = wstats(&fix);
    ASSERT_EQ(st.starts, 2);
    ASSERT_EQ(st.jobs_served, 2);
    ASSERT_EQ(st.jobs_failed, 1);
    ASSERT_EQ(count_lines(fix.init_path), 2);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_crash_mid_job_fails_and_restarts)
{
    wfix_t fix;
    wfix_new(&fix, "crash");
    jrun_result_t res;
    ASSERT_EQ(wrun(&fix, "a", "{\"act\":\"crash\"}", 5000, &res), JRUN_PROTOCOL);
    ASSERT_EQ(res.code, 7);
    ASSERT_STREQ(res.reason, "worker exited with code 7 mid-job: job a");
    ASSERT_STREQ(res.log, "job a\n");
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "b", "[]", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(wstats(&fix).starts, 2);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_wrong_id_and_garbage_fail_and_restart)
{
    wfix_t fix;
    wfix_new(&fix, "garbage");
    jrun_result_t res;
    ASSERT_EQ(wrun(&fix, "a", "{\"act\":\"wrongid\"}", 5000, &res), JRUN_PROTOCOL);
    ASSERT_STREQ(res.reason, "reply for another job id");
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "b", "1", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "c", "{\"act\":\"garbage\"}", 5000, &res), JRUN_PROTOCOL);
    ASSERT_TRUE(strstr(res.reason, "bad reply line") != NULL);
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "d", "1", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(wstats(&fix).starts, 3);
    ASSERT_EQ(count_lines(fix.init_path), 3);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_job_error_keeps_the_worker)
{
    wfix_t fix;
    wfix_new(&fix, "fail");
    jrun_result_t res;
    ASSERT_EQ(wrun(&fix, "a", "{\"act\":\"fail\"}", 5000, &res), JRUN_JOB_ERROR);
    ASSERT_STREQ(res.reason, "worker error: no such page");
    jrun_result_deinit(&res);
    ASSERT_EQ(wrun(&fix, "b", "1", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    jrun_worker_stats_t st = wstats(&fix);
    ASSERT_EQ(st.starts, 1);
    ASSERT_EQ(st.jobs_served, 2);
    ASSERT_EQ(st.jobs_failed, 1);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_id_is_escaped_and_matched_decoded)
{
    wfix_t fix;
    wfix_new(&fix, "escape");
    jrun_result_t res;
    const char *id = "job \"7\"\\\t\xc3\xa9\xf0\x9f\x98\x80"; /* python replies \u00e9, \ud83d.. */
    ASSERT_EQ(wrun(&fix, id, "null", 5000, &res), JRUN_OK);
    ASSERT_STREQ(res.result, "{\"echo\": null, \"a\": 1}");
    jrun_result_deinit(&res);
    char long_id[JRUN_ID_BYTES_MAX + 2];
    memset(long_id, 'i', sizeof long_id - 1);
    long_id[JRUN_ID_BYTES_MAX + 1] = '\0';
    ASSERT_EQ(jrun_worker_run(fix.worker, long_id, 1, "1", 1, 1000, NULL, &res), SL_EINVAL);
    long_id[JRUN_ID_BYTES_MAX] = '\0';
    ASSERT_EQ(wrun(&fix, long_id, "1", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(jrun_worker_run(fix.worker, "x", 1, "{bad", 4, 1000, NULL, &res), SL_EINVAL);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_cancel_from_another_thread_then_next_job_succeeds)
{
    wfix_t fix;
    wfix_new(&fix, "cancel");
    jrun_ctl_t *ctl;
    ASSERT_EQ(jrun_ctl_new(&ctl), 0);
    canceller_t c = {ctl, 300};
    pthread_t thr;
    pthread_create(&thr, NULL, cancel_later, &c);
    jrun_result_t res;
    const char *hang = "{\"act\":\"hang\"}";
    ASSERT_EQ(jrun_worker_run(fix.worker, "a", 1, hang, strlen(hang), 10000, ctl, &res), 0);
    pthread_join(thr, NULL);
    ASSERT_EQ(res.status, JRUN_CANCELLED);
    ASSERT_TRUE(res.elapsed_ms < 5000);
    jrun_result_deinit(&res);
    jrun_ctl_reset(ctl);
    ASSERT_EQ(jrun_worker_run(fix.worker, "b", 2, "5", 1, 5000, ctl, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    ASSERT_STREQ(res.result, "{\"echo\": 5, \"a\": 2}");
    jrun_result_deinit(&res);
    ASSERT_EQ(wstats(&fix).starts, 2);
    jrun_ctl_free(ctl);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_missing_program_could_not_start)
{
    const char *argv[] = {"/nonexistent/engine", NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_worker_t *worker;
    ASSERT_EQ(jrun_worker_new(&cmd, &worker), 0);
    jrun_result_t res;
    ASSERT_EQ(jrun_worker_run(worker, "a", 1, "1", 1, 1000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_START);
    ASSERT_EQ(res.code, ENOENT);
    jrun_result_deinit(&res);
    jrun_worker_stats_t st;
    jrun_worker_stats(worker, &st);
    ASSERT_EQ(st.starts, 0);
    ASSERT_EQ(st.jobs_failed, 1);
    jrun_worker_free(worker);
}

TEST(test_worker_reply_line_at_limit_ok_and_over_limit_too_large)
{
    wfix_t fix;
    wfix_new(&fix, "bigline");
    for (unsigned n = JRUN_LINE_BYTES_MAX; n <= JRUN_LINE_BYTES_MAX + 1; n++) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"act\":\"big\",\"n\":%u}", n);
        jrun_result_t res;
        jrun_status_t status = wrun(&fix, "a", payload, 10000, &res);
        if (n == JRUN_LINE_BYTES_MAX) {
            ASSERT_EQ(status, JRUN_OK);
            ASSERT_EQ(res.result_len, n - strlen("{\"id\": \"a\", \"ok\": true, \"result\": }\n"));
        } else {
            ASSERT_EQ(status, JRUN_TOO_LARGE);
            ASSERT_EQ(wstats(&fix).pid, 0);
        }
        jrun_result_deinit(&res);
    }
    jrun_result_t res;
    ASSERT_EQ(wrun(&fix, "b", "1", 5000, &res), JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(wstats(&fix).starts, 2);
    jrun_worker_free(fix.worker);
}

TEST(test_worker_start_timeout_extends_only_the_first_job)
{
    const char *argv[] = {script("slow.py", "#!/usr/bin/python3\nimport sys, json, time\n"
                                            "time.sleep(0.4)\n"
                                            "for line in sys.stdin:\n"
                                            "    r = json.loads(line)\n"
                                            "    print(json.dumps({'id': r['id'], 'ok': True, "
                                            "'result': 1}), flush=True)\n"),
                          NULL};
    for (int64_t start_ms = 0; start_ms <= 2000; start_ms += 2000) {
        jrun_cmd_t cmd = cmd_of(argv);
        cmd.start_timeout_ms = start_ms;
        jrun_worker_t *worker;
        ASSERT_EQ(jrun_worker_new(&cmd, &worker), 0);
        jrun_result_t res;
        ASSERT_EQ(jrun_worker_run(worker, "a", 1, "1", 1, 200, NULL, &res), 0);
        ASSERT_EQ(res.status, start_ms ? JRUN_OK : JRUN_TIMEOUT);
        jrun_result_deinit(&res);
        if (start_ms) {
            ASSERT_EQ(jrun_worker_run(worker, "b", 1, "1", 1, 200, NULL, &res), 0);
            ASSERT_EQ(res.status, JRUN_OK);
            jrun_result_deinit(&res);
        }
        jrun_worker_free(worker);
    }
}

TEST(test_argv_at_limit_ok_and_over_limit_rejected)
{
    const char *argv[JRUN_ARGV_MAX + 2];
    argv[0] = "true";
    for (int i = 1; i <= JRUN_ARGV_MAX; i++) {
        argv[i] = "x";
    }
    argv[JRUN_ARGV_MAX + 1] = NULL;
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_worker_t *worker;
    ASSERT_EQ(jrun_worker_new(&cmd, &worker), SL_EINVAL); /* JRUN_ARGV_MAX + 1 */
    argv[JRUN_ARGV_MAX] = NULL;
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "", 0, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_BAD_JSON); /* ran: empty stdout */
    jrun_result_deinit(&res);
}

TEST(test_oneshot_child_not_reading_stdin_does_not_raise_sigpipe)
{
    size_t n = 1u << 20;
    char *payload = sl_xcalloc(1, n);
    const char *argv[] = {"echo", "7", NULL};
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, payload, n, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    ASSERT_STREQ(res.result, "7\n");
    jrun_result_deinit(&res);
    free(payload);
}

static void *run_one_job_thread(void *arg)
{
    wfix_t *fix = arg;
    jrun_result_t res;
    SL_ASSERT(wrun(fix, "t", "1", 5000, &res) == JRUN_OK);
    jrun_result_deinit(&res);
    return NULL;
}

/* PR_SET_PDEATHSIG: the worker's process dies with the thread that started it (in the
 * service, a slot thread that lives as long as the pool; a crashed service kills them all). */
TEST(test_worker_process_dies_with_the_thread_that_started_it)
{
    wfix_t fix;
    wfix_new(&fix, "deathsig");
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, run_one_job_thread, &fix), 0);
    pthread_join(th, NULL);
    pid_t pid = (pid_t)wstats(&fix).pid;
    ASSERT_TRUE(pid > 0);
    ASSERT_TRUE(pid_gone(pid));
    jrun_worker_free(fix.worker);
}

typedef struct {
    int starts, ends, pid;
    int64_t ticks;
    bool ran_before_start; /* the marker file existed when on_start ran */
    char marker[512];
} hook_log_t;

static void hook_start(void *arg, int pid, int64_t ticks)
{
    hook_log_t *log = arg;
    log->starts++;
    log->pid = pid;
    log->ticks = ticks;
    log->ran_before_start = access(log->marker, F_OK) == 0;
}

static void hook_end(void *arg, int pid, int64_t ticks)
{
    hook_log_t *log = arg;
    log->ends += pid == log->pid && ticks == log->ticks;
}

/* The start hook runs before the job gets its input, with the leader's pid and real start
 * time (so the group can be recorded and told apart from a reused pid); the end hook once
 * the group is reaped. */
TEST(test_hooks_see_the_group_at_start_and_after_reaping)
{
    hook_log_t log = {0};
    snprintf(log.marker, sizeof log.marker, "%s/hook.marker", tmp_dir);
    char body[700];
    snprintf(body, sizeof body, "#!/bin/sh\nread line\ntouch %s\necho 1\n", log.marker);
    const char *argv[] = {script("hook.sh", body), NULL};
    jrun_hooks_t hooks = {hook_start, hook_end, &log};
    jrun_cmd_t cmd = cmd_of(argv);
    cmd.hooks = &hooks;
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "go\n", 3, 5000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    jrun_result_deinit(&res);
    ASSERT_EQ(log.starts, 1);
    ASSERT_EQ(log.ends, 1);
    ASSERT_TRUE(!log.ran_before_start);
    ASSERT_TRUE(log.ticks > 0);
    jrun_proc_stat_t self;
    ASSERT_EQ(jrun_proc_stat(getpid(), &self), 0);
    ASSERT_TRUE(log.ticks >= self.start_ticks);
    ASSERT_EQ(jrun_proc_stat(log.pid, &self), -ENOENT);
}

/* A job that leaves a daemon in another process group (setsid): as subreaper the service
 * adopts it, and the orphan reaper kills and reaps it; a running job's own group is spared. */
TEST(test_subreaper_kills_and_reaps_orphans_outside_running_jobs)
{
    char pidfile[300], body[2400];
    snprintf(pidfile, sizeof pidfile, "%s/orphan.pid", tmp_dir);
    snprintf(body, sizeof body,
             "#!/usr/bin/python3\n"
             "import os, time\n"
             "if os.fork() == 0:\n"
             "    os.setsid()\n"
             "    if os.fork() == 0:\n"
             "        open('%s.tmp', 'w').write(str(os.getpid())); os.rename('%s.tmp', '%s')\n"
             "        time.sleep(60)\n"
             "    os._exit(0)\n"
             "os.wait()\n"
             "while not os.path.exists('%s'): time.sleep(0.01)\n"
             "print(1)\n",
             pidfile, pidfile, pidfile, pidfile);
    const char *argv[] = {script("daemon.py", body), NULL};
    ASSERT_EQ(jrun_set_subreaper(), 0);
    jrun_cmd_t cmd = cmd_of(argv);
    jrun_result_t res;
    ASSERT_EQ(jrun_oneshot(&cmd, "", 0, 10000, NULL, &res), 0);
    ASSERT_EQ(res.status, JRUN_OK);
    jrun_result_deinit(&res);
    FILE *f = fopen(pidfile, "r");
    ASSERT_TRUE(f != NULL);
    int pid = 0;
    ASSERT_EQ(fscanf(f, "%d", &pid), 1);
    fclose(f);
    jrun_proc_stat_t ps;
    ASSERT_EQ(jrun_proc_stat(pid, &ps), 0);
    ASSERT_EQ(ps.ppid, getpid()); /* adopted */
    for (int i = 0; i < 200 && jrun_proc_stat(pid, &ps) == 0; i++) {
        jrun_reap_orphans(false);
        usleep(10000);
    }
    ASSERT_EQ(jrun_proc_stat(pid, &ps), -ENOENT); /* killed and reaped by us */
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sluice_jrun_XXXXXX");
    SL_ASSERT(mkdtemp(tmp_dir) != NULL);
    int64_t start_ms = sl_time_mono_ms();
    RUN(test_json_validator_accepts_values_and_rejects_garbage);
    RUN(test_oneshot_success_returns_stdout_json);
    RUN(test_oneshot_nonzero_exit_keeps_stderr_tail);
    RUN(test_failed_command_reason_quotes_its_last_stderr_line);
    RUN(test_oneshot_killed_by_signal);
    RUN(test_oneshot_hang_is_killed_at_limit_with_its_children);
    RUN(test_oneshot_ignoring_sigterm_gets_sigkill_after_grace);
    RUN(test_oneshot_stdout_at_limit_ok_and_over_limit_too_large);
    RUN(test_oneshot_bad_json_fails);
    RUN(test_oneshot_missing_program_could_not_start);
    RUN(test_oneshot_large_payload_echoed_without_deadlock);
    RUN(test_oneshot_stderr_tail_keeps_last_bytes);
    RUN(test_oneshot_cancel_from_another_thread);
    RUN(test_oneshot_rejects_bad_arguments);
    RUN(test_worker_initialises_once_across_20_jobs);
    RUN(test_worker_hang_is_killed_and_next_job_succeeds_on_restarted_worker);
    RUN(test_worker_crash_mid_job_fails_and_restarts);
    RUN(test_worker_wrong_id_and_garbage_fail_and_restart);
    RUN(test_worker_job_error_keeps_the_worker);
    RUN(test_worker_id_is_escaped_and_matched_decoded);
    RUN(test_worker_cancel_from_another_thread_then_next_job_succeeds);
    RUN(test_worker_missing_program_could_not_start);
    RUN(test_worker_reply_line_at_limit_ok_and_over_limit_too_large);
    RUN(test_worker_start_timeout_extends_only_the_first_job);
    RUN(test_argv_at_limit_ok_and_over_limit_rejected);
    RUN(test_oneshot_child_not_reading_stdin_does_not_raise_sigpipe);
    RUN(test_worker_process_dies_with_the_thread_that_started_it);
    RUN(test_hooks_see_the_group_at_start_and_after_reaping);
    RUN(test_subreaper_kills_and_reaps_orphans_outside_running_jobs);
    fprintf(stderr, "took %lld ms\n", (long long)(sl_time_mono_ms() - start_ms));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    SL_ASSERT(system(cmd) == 0);
    TEST_MAIN_END();
}
