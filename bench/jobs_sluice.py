#!/usr/bin/python3
"""Sluice side of the jobs benchmark: a fresh broker and `sluice jobs` per run, N jobs in one
HTTP request, W worker slots running a trivial persistent worker (bench/jobs_worker.py).

Measures: accept_s (the POST of N jobs until its 202, which comes after every request event is
acknowledged by the broker with acks=all and fsync), throughput_jobs_s (N / time from the POST
to the last success, counted by the service's own metrics), overhead_ms (W / throughput).
Prints one JSON line per run and one with the medians. Every wait is bounded."""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "build", "sluice")
WORKER = os.path.join(ROOT, "bench", "jobs_worker.py")
LIMIT_S = 300


def wait_line(path, pattern, proc, limit_s=20):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("process exited: %s" % open(path.replace(".out", ".err")).read()[-2000:])
        if os.path.exists(path):
            m = re.search(pattern, open(path).read())
            if m:
                return m
        time.sleep(0.02)
    sys.exit("timed out waiting for %s in %s" % (pattern, path))


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/jobs", body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 202:
        sys.exit("POST /jobs: %d %s" % (resp.status, data[:300]))
    return json.loads(data)


def one_run(args, k):
    tmp = tempfile.mkdtemp(prefix="sluice-jobs-bench-")
    procs = []
    try:
        bout, berr = os.path.join(tmp, "broker.out"), os.path.join(tmp, "broker.err")
        ready = os.path.join(tmp, "ready")
        b = subprocess.Popen([SLUICE, "serve", "--listen", "127.0.0.1:0", "--data",
                              os.path.join(tmp, "data"), "--ready-file", ready],
                             stdout=open(bout, "w"), stderr=open(berr, "w"))
        procs.append(b)
        deadline = time.monotonic() + 20
        while not (os.path.exists(ready) and open(ready).read().endswith("\n")):
            if time.monotonic() > deadline or b.poll() is not None:
                sys.exit("broker did not start")
            time.sleep(0.02)
        bootstrap = open(ready).read().strip()
        jout, jerr = os.path.join(tmp, "jobs.out"), os.path.join(tmp, "jobs.err")
        j = subprocess.Popen([SLUICE, "jobs", "serve", "--brokers", bootstrap, "--http",
                              "127.0.0.1:0", "--store", os.path.join(tmp, "jobs.db"),
                              "--set", "workers.slots=%d" % args.workers,
                              "--set", "topics.partitions=%d" % max(args.workers, 4),
                              "--set", "type.noop.command=%s" % WORKER,
                              "--set", "type.noop.mode=persistent"],
                             stdout=open(jout, "w"), stderr=open(jerr, "w"))
        procs.append(j)
        port = int(wait_line(jout, r"listening on http://[0-9.]+:(\d+)", j).group(1))
        warm = json.dumps([{"type": "noop", "payload": {"n": i}} for i in range(100)])
        post(port, warm)
        deadline = time.monotonic() + LIMIT_S
        while metric(port, 'sluice_jobs_finished_total{outcome="succeeded"}') < 100:
            if time.monotonic() > deadline:
                sys.exit("warm-up did not finish")
            time.sleep(0.02)
        body = json.dumps([{"type": "noop", "payload": {"n": i}} for i in range(args.jobs)])
        t0 = time.monotonic()
        ids = post(port, body)["ids"]
        accept_s = time.monotonic() - t0
        assert len(ids) == args.jobs
        target = 100 + args.jobs
        while metric(port, 'sluice_jobs_finished_total{outcome="succeeded"}') < target:
            if time.monotonic() - t0 > LIMIT_S:
                sys.exit("run %d did not finish in %d s" % (k, LIMIT_S))
            time.sleep(0.01)
        total_s = time.monotonic() - t0
        tput = args.jobs / total_s
        return {"system": "sluice", "durable": True, "run": k, "accept_s": round(accept_s, 3),
                "throughput_jobs_s": round(tput, 1),
                "overhead_ms": round(args.workers / tput * 1000, 3)}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for k in range(1, args.runs + 1):
        r = one_run(args, k)
        rows.append(r)
        print(json.dumps(r), flush=True)
    med = {"system": "sluice", "durable": True, "median": True}
    for key in ("accept_s", "throughput_jobs_s", "overhead_ms"):
        med[key] = statistics.median(r[key] for r in rows)
    print(json.dumps(med), flush=True)


if __name__ == "__main__":
    main()
