#!/usr/bin/python3
"""Celery peer of bench/jobs (same workload as bench/jobs_sluice.py):
    /usr/bin/python3 bench/jobs_celery.py [--jobs N] [--workers W] [--runs R] [--durable]
                                          [--submit loop|group] [--redis-port PORT]

Each run gets a fresh redis-server (own temp dir, free port; --durable adds --appendonly yes
--appendfsync always), or FLUSHALL on --redis-port's server, used as it is configured. One
`celery worker --pool prefork --concurrency W` (tasks in bench/jobs_celery_tasks.py) runs the
trivial task `noop(payload) -> payload`, results in the Redis result backend (db 1).
Measures, after a 100-job warm-up that is not counted (so the worker's and its pool's start-up
is excluded):
  accept_s           submitting N jobs {"n": i}: a loop of task.apply_async (default, what a
                     user writes), or --submit group: group(...).apply_async(); each call
                     returns only after Redis has acknowledged its LPUSH
  throughput_jobs_s  N / (first submit -> N-th result stored, polled every 10 ms via DBSIZE
                     of the result db); afterwards every result is checked to be SUCCESS
  overhead_ms        W / throughput * 1000 (time one worker slot spends per job)
One JSON line per run and one with the medians go to stdout; logs go to stderr. Every wait is
bounded (300 s); only processes started here are stopped, by PID (the worker by its group)."""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIMIT_S = 300

try:
    import redis
    from celery import group
    sys.path.insert(0, HERE)
    import jobs_celery_tasks
except ImportError as e:
    sys.exit("jobs_celery: %s (run bench/jobs_peers_setup: python3-celery, python3-redis)" % e)


def log(msg):
    print("jobs_celery: " + msg, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, sig=signal.SIGTERM, grace=30, group_kill=False):
    """Stop a process we started; SIGKILL (its process group when group_kill) after grace s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            if group_kill:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(timeout=10)


def start_redis(tmp, durable):
    if not shutil.which("redis-server"):
        raise Fail("redis-server not found (run bench/jobs_peers_setup)")
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
            "--save", "", "--daemonize", "no", "--logfile", os.path.join(tmp, "redis.log")]
    args += ["--appendonly", "yes", "--appendfsync", "always"] if durable else \
        ["--appendonly", "no"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis(port=port, socket_timeout=1).ping()
            return proc, port
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise Fail("redis-server did not start: %s" %
                           open(os.path.join(tmp, "redis.log")).read()[-1000:])
            time.sleep(0.02)


def wait_results(rdb, target, t0, what, worker):
    """Bounded wait until the result db holds `target` results (one key per finished task)."""
    while rdb.dbsize() < target:
        if worker.poll() is not None:
            raise Fail("%s: the celery worker exited (code %s)" % (what, worker.returncode))
        if time.monotonic() - t0 > LIMIT_S:
            raise Fail("%s: not done in %d s (%d of %d)" % (what, LIMIT_S, rdb.dbsize(), target))
        time.sleep(0.01)


def check_results(rdb, ids, payloads):
    """Every task of the timed batch succeeded and returned its payload (not timed)."""
    for i in range(0, len(ids), 1000):
        keys = ["celery-task-meta-" + t for t in ids[i:i + 1000]]
        for j, raw in enumerate(rdb.mget(keys)):
            meta = json.loads(raw) if raw else {}
            if meta.get("status") != "SUCCESS" or meta.get("result") != payloads[i + j]:
                raise Fail("task %s: %s" % (ids[i + j], str(meta)[:300]))


def submit(noop, payloads, how):
    if how == "group":
        return [r.id for r in group(noop.s(p) for p in payloads).apply_async().results]
    return [noop.apply_async((p,)).id for p in payloads]


def one_run(args, k, started):
    tmp = tempfile.mkdtemp(prefix="jobs-celery-bench-")
    server = worker = app = None
    try:
        durable = args.durable
        if args.redis_port:
            port = args.redis_port
            r0 = redis.Redis(port=port)
            r0.flushall()
            cfg = r0.config_get("append*")
            durable = cfg.get("appendonly") == "yes" and cfg.get("appendfsync") == "always"
        else:
            server, port = start_redis(tmp, args.durable)
            started.append(server)
        rdb = redis.Redis(port=port, db=1)
        env = dict(os.environ, JOBS_CELERY_REDIS_PORT=str(port), PYTHONPATH=HERE)
        # Gossip, mingle and heartbeat only talk to other workers; off, as there is one.
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "jobs_celery_tasks", "worker",
             "--pool", "prefork", "--concurrency", str(args.workers), "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr,
            stderr=open(os.path.join(tmp, "worker.err"), "w"), start_new_session=True)
        started.append(worker)
        app = jobs_celery_tasks.make_app(port)
        noop = app.tasks["noop"]

        tw = time.monotonic()
        submit(noop, [{"n": i} for i in range(100)], args.submit)
        wait_results(rdb, 100, tw, "warm-up", worker)

        payloads = [{"n": i} for i in range(args.jobs)]  # built before the clock starts
        t0 = time.monotonic()
        ids = submit(noop, payloads, args.submit)
        accept_s = time.monotonic() - t0
        wait_results(rdb, 100 + args.jobs, t0, "run %d" % k, worker)
        total_s = time.monotonic() - t0
        check_results(rdb, ids, payloads)
        tput = args.jobs / total_s
        return {"system": "celery", "durable": durable, "run": k, "accept_s": round(accept_s, 3),
                "throughput_jobs_s": round(tput, 1),
                "overhead_ms": round(args.workers / tput * 1000, 3)}
    except Fail:
        if worker is not None:
            log("worker stderr: " + open(os.path.join(tmp, "worker.err")).read()[-2000:])
        raise
    finally:
        if app is not None:
            app.close()
        if worker is not None:
            stop(worker, grace=30, group_kill=True)  # warm shutdown; its pool goes with it
            started.remove(worker)
        if server is not None:
            stop(server)
            started.remove(server)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--durable", action="store_true")
    ap.add_argument("--submit", choices=("loop", "group"), default="loop")
    ap.add_argument("--redis-port", type=int, default=0)
    args = ap.parse_args()
    if min(args.jobs, args.workers, args.runs) < 1:
        ap.error("--jobs, --workers and --runs must be >= 1")
    started = []  # processes this script started and has not stopped yet

    def on_signal(signum, _frame):
        raise Fail("interrupted by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("jobs=%d workers=%d runs=%d durable=%s submit=%s" %
        (args.jobs, args.workers, args.runs, args.durable, args.submit))
    rows = []
    try:
        for k in range(1, args.runs + 1):
            r = one_run(args, k, started)
            rows.append(r)
            print(json.dumps(r), flush=True)
    except (Fail, redis.RedisError) as e:
        log("error: %s" % e)
        for p in reversed(started):
            stop(p, grace=5, group_kill=p.args[0] == sys.executable)
        sys.exit(1)
    med = {"system": "celery", "durable": rows[0]["durable"], "median": True}
    for key in ("accept_s", "throughput_jobs_s", "overhead_ms"):
        med[key] = round(statistics.median(r[key] for r in rows), 3)
    print(json.dumps(med), flush=True)


if __name__ == "__main__":
    main()
