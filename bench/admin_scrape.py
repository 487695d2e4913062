#!/usr/bin/python3
"""The broker admin endpoint under many partitions: a fresh broker, T topics of P partitions
each (created with `sluice topics create`), then K scrapes of GET /metrics with and without the
per-partition bound (admin.metrics.partitions.max), and K produce round trips (acks=all, one
record each) measured while a scraper loops, against the same round trips with no scraper.

With --nofile the broker runs under prlimit (util-linux). Prints one JSON line per
case: partitions, bound, answer bytes, scrape seconds (median and max), the broker's RSS before
and after the scrapes, and the loop's snapshot copy time (from its debug log line). Every wait
is bounded."""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "build", "sluice"))
LIMIT_S = 900


def rss_bytes(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_for(pred, what, limit_s=LIMIT_S):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    sys.exit("timed out waiting for " + what)


def scrape(port):
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        sys.exit("GET /metrics: %d %s" % (resp.status, body[:300]))
    return time.monotonic() - t0, len(body)


def produce_rtts(bootstrap, topic, n):
    """Median and max seconds of n sequential acks=all produces of one small record, each
    flushed before the next (a round trip each, fsync included)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    rtts = []
    for i in range(n):
        t0 = time.monotonic()
        p.produce(topic, b"r%d" % i, partition=0)
        if p.flush(30) != 0:
            sys.exit("produce: not delivered in 30 s")
        rtts.append(time.monotonic() - t0)
    return round(statistics.median(rtts) * 1000, 2), round(max(rtts) * 1000, 2)


def run(args, bound):
    work = tempfile.mkdtemp(prefix="sluice-admin-bench-")
    err_path = os.path.join(work, "broker.err")
    ready = os.path.join(work, "ready")
    # each partition keeps files open (2 descriptors here): past the open-files limit
    # (ulimit -n) --nofile raises it (prlimit; raising the hard limit needs CAP_SYS_RESOURCE)
    pre = ["prlimit", "--nofile=%d:%d" % (args.nofile, args.nofile)] if args.nofile else []
    cmd = pre + [SLUICE, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(work, "data"),
           "--ready-file", ready, "--log-level", "debug",
           "--set", "admin.listen=127.0.0.1:0", "--set", "log.zero.ahead.bytes=0",
           "--set", "admin.metrics.partitions.max=%d" % bound]
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        def started():
            if proc.poll() is not None:
                sys.exit("the broker exited: " + open(err_path).read()[-2000:])
            return os.path.exists(ready) and open(ready).read().endswith("\n")
        wait_for(started, "ready")
        bootstrap = open(ready).read().splitlines()[0]
        port = int(re.search(r"admin endpoint on [^:]+:(\d+)", open(err_path).read()).group(1))
        t0 = time.monotonic()
        for t in range(args.topics):
            p = subprocess.run([SLUICE, "topics", "create", "bench-%d" % t, "--partitions",
                                str(args.partitions), "--brokers", bootstrap,
                                "--timeout-ms", "300000"],
                               capture_output=True, text=True, timeout=LIMIT_S)
            if p.returncode != 0:
                sys.exit("topics create: " + p.stderr[-500:])
        created_s = time.monotonic() - t0
        rss0 = rss_bytes(proc.pid)
        times, size = [], 0
        for _ in range(args.scrapes):
            dt, size = scrape(port)
            times.append(dt)
        rss1 = rss_bytes(proc.pid)
        copies = [float(x) for x in re.findall(r"copied on the loop in ([0-9.]+) ms",
                                                open(err_path).read())]
        quiet = produce_rtts(bootstrap, "bench-0", args.produces)
        stop = threading.Event()

        def scraper():
            while not stop.is_set():
                scrape(port)
        th = threading.Thread(target=scraper)
        th.start()
        busy = produce_rtts(bootstrap, "bench-0", args.produces)
        stop.set()
        th.join(LIMIT_S)
        return {"partitions": args.topics * args.partitions, "bound": bound,
                "create_s": round(created_s, 1), "bytes": size,
                "scrape_median_s": round(statistics.median(times), 3),
                "scrape_max_s": round(max(times), 3),
                "loop_copy_median_ms": round(statistics.median(copies), 2) if copies else None,
                "loop_copy_max_ms": round(max(copies), 2) if copies else None,
                "rss_before_mb": round(rss0 / 2**20, 1), "rss_after_mb": round(rss1 / 2**20, 1),
                "produce_ms_median_max_quiet": quiet,
                "produce_ms_median_max_while_scraping": busy}
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=int, default=5)
    ap.add_argument("--partitions", type=int, default=10000)
    ap.add_argument("--sizes", default="",
                    help="instead of --topics: total partitions per run, comma-separated, "
                         "in topics of at most --partitions")
    ap.add_argument("--scrapes", type=int, default=5)
    ap.add_argument("--produces", type=int, default=200)
    ap.add_argument("--nofile", type=int, default=0,
                    help="open-files limit of the broker (0: the inherited one)")
    ap.add_argument("--bounds", default="1000000,10000",
                    help="admin.metrics.partitions.max values, one run each")
    args = ap.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else \
        [args.topics * args.partitions]
    per_topic = args.partitions
    for total in sizes:
        args.topics = -(-total // per_topic)
        args.partitions = total // args.topics
        for bound in [int(b) for b in args.bounds.split(",")]:
            print(json.dumps(run(args, bound)), flush=True)


if __name__ == "__main__":
    main()
