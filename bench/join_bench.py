#!/usr/bin/python3
"""`sluice join` benchmark: a fresh broker and join service per run (stream-table-left, JSON
merge, acks=all with the broker's default fsync policy).

Per run:
  restore_s      state restore of TABLE keys from the changelog alone (state dir deleted)
  join_rec_s     joined records/s over a backlog of STREAM records (values VALUE bytes)
                 against TABLE keys: time from the service reaching RUNNING to its last output
                 acknowledged, counted by its own metrics
  lat_p50/p99_ms stream record (CreateTime) to its merged output read by a consumer, at a
                 modest rate (1,000 records/s for 3 s) with the service caught up
  peak_rss_mib   the join process's peak resident set (VmHWM) over the backlog phase, and the
                 largest anonymous (heap) and file-backed (LMDB map) parts seen by sampling
                 /proc/PID/status every 0.1 s (anon_mib, file_mib)
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

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.environ.get("SLUICE_BIN") or os.path.join(ROOT, "build", "sluice")
LIMIT_S = 900


def wait(pred, limit_s, what):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    sys.exit("timed out waiting for " + what)


def metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


WORDS = ("kettle lamp chair steel oak linen cotton brass walnut copper compact portable silent "
         "wireless organic vintage foldable ergonomic waterproof smart heavy duty blue green red "
         "black white grey small large medium premium classic modern rustic garden kitchen "
         "office outdoor travel sport studio home").split()
_TEXT = None


def value_of(i, size, tag):
    """A JSON object of about `size` bytes: words drawn at random, so it compresses about as
    well as product text does (lz4 ~2x), not like a run of one letter."""
    global _TEXT
    if _TEXT is None:
        import random
        rnd = random.Random(1)
        _TEXT = " ".join(rnd.choice(WORDS) if rnd.random() < 0.6 else
                         "%x" % rnd.getrandbits(rnd.choice((16, 24, 32)))
                         for _ in range(200000))
    head = '{"id":%d,"%s":"' % (i, tag)
    n = max(0, size - len(head) - 2)
    start = (i * 7919) % (len(_TEXT) - n - 1)
    return (head + _TEXT[start:start + n] + '"}').encode()


def status_kib(pid):
    """VmHWM, RssAnon and RssFile of pid in KiB (0 when unreadable)."""
    out = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
    try:
        for line in open("/proc/%d/status" % pid):
            k, _, v = line.partition(":")
            if k in out:
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def produce(bootstrap, topic, n, size, tag, keys):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                  "batch.num.messages": 10000, "queue.buffering.max.kbytes": 1048576})
    for i in range(n):
        k = ("k%d" % (i % keys)).encode()
        while True:
            try:
                p.produce(topic, key=k, value=value_of(i, size, tag))
                break
            except BufferError:
                p.poll(0.01)
    if p.flush(LIMIT_S) != 0:
        sys.exit("produce to %s not acknowledged" % topic)


class Run:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="sluice-join-bench-")
        self.procs = []
        ready = os.path.join(self.tmp, "ready")
        b = subprocess.Popen([SLUICE, "serve", "--listen", "127.0.0.1:0", "--data",
                              os.path.join(self.tmp, "data"), "--ready-file", ready],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, "broker.err"), "w"))
        self.procs.append(b)
        wait(lambda: os.path.exists(ready) and open(ready).read().endswith("\n"), 20, "broker")
        self.bootstrap = open(ready).read().strip()
        adm = AdminClient({"bootstrap.servers": self.bootstrap})
        fs = adm.create_topics([NewTopic(t, num_partitions=args.partitions, replication_factor=1)
                                for t in ("stream", "table")])
        for f in fs.values():
            f.result(30)
        self.join = None

    def start_join(self):
        out = os.path.join(self.tmp, "join.out")
        self.join = subprocess.Popen(
            [SLUICE, "join", "--brokers", self.bootstrap, "--app-id", "bench", "--type",
             "stream-table-left", "--left", "stream", "--right", "table", "--output", "merged",
             "--state-dir", os.path.join(self.tmp, "state"), "--http", "127.0.0.1:0"]
            + [a for kv in self.args.set for a in ("--set", kv)],
            stdout=open(out, "w"), stderr=open(os.path.join(self.tmp, "join.err"), "a"))
        m = wait(lambda: re.search(r":(\d+)\n", open(out).read()), 20, "join http")
        self.port = int(m.group(1))
        wait(lambda: metrics(self.port)['sluice_join_state{state="RUNNING"}'] == 1, LIMIT_S,
             "join RUNNING")
        return time.monotonic()

    def stop_join(self):
        self.join.send_signal(signal.SIGTERM)
        if self.join.wait(60) != 0:
            sys.exit("join exited non-zero")

    def latency(self):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "lat",
                      "auto.offset.reset": "latest", "fetch.wait.max.ms": 5})
        c.subscribe(["merged"])
        wait(lambda: c.poll(0.1) is None and c.assignment(), 30, "latency consumer assigned")
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0})
        # Warm-up: one record through the join before the clock starts, so that the clients'
        # start (a new producer's first metadata, the consumer's first fetch position) is not
        # counted: without it about half of the runs showed a p99 of ~1 s, the input records
        # themselves reaching a consumer of `stream` 1 s late.
        p.produce("stream", key=b"warm-up", value=value_of(0, self.args.value_bytes, "lat"))
        p.flush(30)
        wait(lambda: any(m is not None and not m.error() and m.key() == b"warm-up"
                         for m in [c.poll(0.05)]), 30, "latency warm-up output")
        n, lats = self.args.lat_rate * 3, []
        t0 = time.monotonic()
        for i in range(n):
            p.produce("stream", key=("k%d" % (i % self.args.table)).encode(),
                      value=value_of(i, self.args.value_bytes, "lat"))
            p.poll(0)
            while time.monotonic() < t0 + (i + 1) / self.args.lat_rate:
                m = c.poll(0.0005)
                if m is not None and not m.error():
                    lats.append(time.time() * 1000 - m.timestamp()[1])
        p.flush(30)
        deadline = time.monotonic() + 30
        while len(lats) < n and time.monotonic() < deadline:
            m = c.poll(0.05)
            if m is not None and not m.error():
                lats.append(time.time() * 1000 - m.timestamp()[1])
        c.close()
        if len(lats) < n:
            sys.exit("latency: %d of %d outputs" % (len(lats), n))
        lats.sort()
        return lats[len(lats) // 2], lats[int(len(lats) * 0.99)]

    def close(self):
        for p in [self.join] + self.procs:
            if p and p.poll() is None:
                p.kill()
                p.wait(30)
        shutil.rmtree(self.tmp, ignore_errors=True)


def one_run(args):
    r = Run(args)
    try:
        produce(r.bootstrap, "table", args.table, args.value_bytes, "price", args.table)
        r.start_join()
        wait(lambda: metrics(r.port)['sluice_join_records_total{side="right"}'] >= args.table,
             LIMIT_S, "table consumed")
        r.stop_join()
        shutil.rmtree(os.path.join(r.tmp, "state"))
        r.start_join()
        m = metrics(r.port)
        restore_s = m["sluice_join_restore_seconds_total"]
        assert m["sluice_join_restored_records_total"] == args.table
        r.stop_join()
        produce(r.bootstrap, "stream", args.stream, args.value_bytes, "name", args.table)
        t0 = r.start_join()
        peak = {"RssAnon": 0, "RssFile": 0}
        deadline = time.monotonic() + LIMIT_S
        while metrics(r.port)['sluice_join_output_total{kind="value"}'] < args.stream:
            if time.monotonic() > deadline:
                sys.exit("timed out waiting for joined output")
            st = status_kib(r.join.pid)
            for k in peak:
                peak[k] = max(peak[k], st[k])
            time.sleep(0.1)
        secs = time.monotonic() - t0
        hwm = status_kib(r.join.pid)["VmHWM"]
        p50, p99 = r.latency()
        r.stop_join()
        return {"restore_s": restore_s, "join_rec_s": args.stream / secs,
                "lat_p50_ms": p50, "lat_p99_ms": p99, "peak_rss_mib": hwm / 1024,
                "anon_mib": peak["RssAnon"] / 1024, "file_mib": peak["RssFile"] / 1024}
    finally:
        r.close()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups (finally)
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", type=int, default=100000)
    ap.add_argument("--table", type=int, default=10000)
    ap.add_argument("--value-bytes", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lat-rate", type=int, default=1000)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a `sluice join` setting for every run (repeatable)")
    args = ap.parse_args()
    rows = []
    for k in range(args.runs):
        row = one_run(args)
        row.update(run=k + 1, stream=args.stream, table=args.table)
        print(json.dumps(row), flush=True)
        rows.append(row)
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("restore_s", "join_rec_s", "lat_p50_ms", "lat_p99_ms", "peak_rss_mib",
                     "anon_mib", "file_mib")}
    med.update(median=True, stream=args.stream, table=args.table, runs=args.runs)
    print(json.dumps(med), flush=True)


if __name__ == "__main__":
    main()
