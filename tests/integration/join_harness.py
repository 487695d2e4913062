"""Harness for `sluice join` tests: the service process (started on 127.0.0.1 with an ephemeral
HTTP port, stopped by PID), its /health and /metrics, and helpers to feed inputs one record at
a time (each processed before the next is produced, so cross-topic order is deterministic) and
to read the output topic."""

import http.client
import json
import os
import re
import signal
import subprocess
import time
import uuid

from conftest import T, consumer, sluice_bin, wait_for


class JoinService:
    """A `sluice join` process; settings override the defaults below."""

    def __init__(self, tmp_path, brokers, settings, name="join"):
        self.tmp = str(tmp_path)
        self.name = name
        self.settings = {
            "brokers": brokers,
            "http.listen": "127.0.0.1:0",
            "state.dir": os.path.join(self.tmp, name + "-state"),
            "broker.timeout.ms": "5000",
            "broker.unreachable.ms": "3000",
            "error.linger.ms": "3000",
        }
        self.settings.update(settings)
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.tmp, name + ".stderr")
        self.out_path = os.path.join(self.tmp, name + ".stdout")

    @property
    def state_dir(self):
        return self.settings["state.dir"]

    def command(self):
        cmd = [sluice_bin(), "join"]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def start(self, wait_running=True):
        with open(self.stderr_path, "ab") as err, open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=self.tmp)
        deadline = time.monotonic() + T(20)
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                m = re.search(r"listening on http://[0-9.]+:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise AssertionError("join exited %d:\n%s" % (self.proc.returncode,
                                                              self.stderr_tail()))
            time.sleep(0.05)
        else:
            self.kill9()
            raise AssertionError("join not listening in time:\n" + self.stderr_tail())
        if wait_running:
            self.wait_state("RUNNING", T(30))
        return self

    def stop(self, timeout_s=None):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout_s or T(30))
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("join ignored SIGTERM")
        self.proc = None
        return rc

    def kill9(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=T(10))
            self.proc = None

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n=40):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=T(10))
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp.status, text

    def health(self):
        status, text = self.get("/health")
        return status, json.loads(text)

    def wait_state(self, state, timeout_s, status=None):
        last = {}

        def ok():
            last["h"] = self.health()
            return last["h"][1]["state"] == state and (status is None or last["h"][0] == status)
        try:
            wait_for(ok, timeout_s, "join state %s" % state)
        except AssertionError:
            raise AssertionError("state never %s (last %r):\n%s" % (state, last.get("h"),
                                                                   self.stderr_tail()))
        return last["h"]

    def metrics(self):
        status, text = self.get("/metrics")
        assert status == 200
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def processed(self):
        m = self.metrics()
        return int(m['sluice_join_records_total{side="left"}']
                   + m['sluice_join_records_total{side="right"}'])


def topics_for(prefix="j"):
    u = uuid.uuid4().hex[:8]
    return {"left": "%s-left-%s" % (prefix, u), "right": "%s-right-%s" % (prefix, u),
            "out": "%s-out-%s" % (prefix, u), "app": "%s-app-%s" % (prefix, u)}


def feed(svc, prod, records):
    """records: (side, key, value-or-None) with side 'L' or 'R'; each is produced and processed
    by svc before the next (so the order across the two topics is the given one)."""
    for side, key, value in records:
        before = svc.processed()
        topic = svc.settings["left.topic" if side == "L" else "right.topic"]
        prod.produce(topic, value=None if value is None else json.dumps(value).encode(),
                     key=key.encode())
        assert prod.flush(T(10)) == 0
        wait_for(lambda: svc.processed() >= before + 1, T(15),
                 "record %s %s processed" % (side, key))


def read_output(bootstrap, topic, want, grace_s=1.0, timeout_s=None):
    """Reads the output topic from the start until `want` records arrived, then `grace_s`
    more to catch extras. Returns [(key, parsed value or None)]."""
    c = consumer(bootstrap, **{"group.id": "reader-" + uuid.uuid4().hex[:6]})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + (timeout_s or T(30))
    extra_until = None
    while time.monotonic() < deadline:
        if len(out) >= want and extra_until is None:
            extra_until = time.monotonic() + grace_s
        if extra_until is not None and time.monotonic() > extra_until:
            break
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        v = m.value()
        out.append((m.key().decode(), None if v is None else json.loads(v)))
    c.close()
    return out
