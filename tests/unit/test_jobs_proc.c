/* Unit tests for src/services/jobs/jproc.c: a restarted service ends the worker process groups
 * a crashed incarnation left (recorded in the store), and never a reused pid's. */
#include "jsvc_int.h"
#include "sl_common.h"
#include "sl_test.h"
#include "sl_time.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_dir[256];

static jstore_t *store_new(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s.db", tmp_dir, name);
    jstore_t *st = NULL;
    SL_ASSERT(jstore_open(path, &st) == 0);
    return st;
}

/* A child in its own process group, sleeping (pgid == pid). */
static pid_t sleeper(void)
{
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execlp("sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* A pid that no process has now (a child that exited and was reaped). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return pid;
}

static void record(jstore_t *st, pid_t pgid, int64_t ticks, pid_t svc_pid, int64_t svc_ticks)
{
    jstore_proc_t rec = {.pgid = pgid, .start_ticks = ticks, .svc_pid = svc_pid,
                         .svc_start_ticks = svc_ticks};
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    ssize_t n = read(fd, rec.boot_id, sizeof rec.boot_id - 1);
    close(fd);
    rec.boot_id[n > 0 ? n - 1 : 0] = '\0';
    SL_ASSERT(jstore_proc_add(st, &rec, sl_time_wall_ms()) == 0);
}

static int64_t ticks_of(pid_t pid)
{
    jrun_proc_stat_t ps = {0};
    SL_ASSERT(jrun_proc_stat(pid, &ps) == 0);
    return ps.start_ticks;
}

static size_t records(jstore_t *st)
{
    jstore_proc_t recs[8];
    size_t n = 0;
    SL_ASSERT(jstore_proc_list(st, recs, 8, &n) == 0);
    return n;
}

/* true when pid ended by SIGKILL within 5 s (reaped here). */
static bool killed(pid_t pid)
{
    for (int i = 0; i < 500; i++) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        }
        usleep(10000);
    }
    return false;
}

TEST(test_sweep_kills_a_group_left_by_a_dead_service_and_forgets_it)
{
    jstore_t *st = store_new("dead");
    pid_t pid = sleeper();
    record(st, pid, ticks_of(pid), dead_pid(), 12345);
    int ended = -1;
    ASSERT_EQ(jproc_sweep(st, &ended), 0);
    ASSERT_EQ(ended, 1);
    ASSERT_TRUE(killed(pid));
    ASSERT_EQ(records(st), 0);
    jstore_close(st);
}

TEST(test_sweep_spares_a_pid_with_another_start_time)
{
    jstore_t *st = store_new("reused");
    pid_t pid = sleeper();
    record(st, pid, ticks_of(pid) - 1, dead_pid(), 12345); /* the recorded one was older */
    int ended = -1;
    ASSERT_EQ(jproc_sweep(st, &ended), 0);
    ASSERT_EQ(records(st), 0);
    usleep(100000);
    ASSERT_EQ(waitpid(pid, NULL, WNOHANG), 0); /* still running */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    jstore_close(st);
}

TEST(test_sweep_leaves_the_groups_of_a_live_service_alone)
{
    jstore_t *st = store_new("live");
    pid_t pid = sleeper();
    record(st, pid, ticks_of(pid), getpid(), ticks_of(getpid()));
    int ended = -1;
    ASSERT_EQ(jproc_sweep(st, &ended), 0);
    ASSERT_EQ(ended, 0);
    ASSERT_EQ(records(st), 1);
    usleep(100000);
    ASSERT_EQ(waitpid(pid, NULL, WNOHANG), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    jstore_close(st);
}

/* The leader died (as a worker does with its service) but a grandchild it started, like the
 * inspect worker's browser, still runs in the group: it is ended too. */
TEST(test_sweep_ends_members_that_outlived_their_leader)
{
    jstore_t *st = store_new("orphans");
    int fds[2];
    SL_ASSERT(pipe(fds) == 0);
    pid_t leader = fork();
    SL_ASSERT(leader >= 0);
    if (leader == 0) {
        setpgid(0, 0);
        pid_t g = fork();
        if (g == 0) {
            execlp("sleep", "sleep", "60", (char *)NULL);
            _exit(127);
        }
        ssize_t w = write(fds[1], &g, sizeof g);
        _exit(w == sizeof g ? 0 : 1);
    }
    setpgid(leader, leader);
    int64_t leader_ticks = ticks_of(leader);
    pid_t grandchild = 0;
    ASSERT_EQ(read(fds[0], &grandchild, sizeof grandchild), (ssize_t)sizeof grandchild);
    close(fds[0]);
    close(fds[1]);
    waitpid(leader, NULL, 0);
    record(st, leader, leader_ticks, dead_pid(), 12345);
    jrun_proc_stat_t ps;
    ASSERT_EQ(jrun_proc_stat(grandchild, &ps), 0);
    ASSERT_EQ(ps.pgid, leader);
    int ended = -1;
    ASSERT_EQ(jproc_sweep(st, &ended), 0);
    ASSERT_EQ(ended, 1);
    bool gone = jrun_proc_stat(grandchild, &ps) != 0 || ps.state == 'Z';
    ASSERT_TRUE(gone);
    ASSERT_EQ(records(st), 0);
    jstore_close(st);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sluice_jproc_XXXXXX");
    SL_ASSERT(mkdtemp(tmp_dir) != NULL);
    RUN(test_sweep_kills_a_group_left_by_a_dead_service_and_forgets_it);
    RUN(test_sweep_spares_a_pid_with_another_start_time);
    RUN(test_sweep_leaves_the_groups_of_a_live_service_alone);
    RUN(test_sweep_ends_members_that_outlived_their_leader);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    SL_ASSERT(system(cmd) == 0);
    TEST_MAIN_END();
}
