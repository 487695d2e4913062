"""Harness for `sluice join` tests: the service process (started on 127.0.0.1 with an ephemeral
HTTP port, stopped by PID), its /health and /metrics, and helpers to feed inputs one record at
a time (each processed before the next is produced, so cross-topic order is deterministic) and
to read the output topic."""

import json
import os
import time
import uuid

from conftest import T, consumer, wait_for
from service_harness import ServiceProcess


class JoinService(ServiceProcess):
    """A `sluice join` process; settings override the defaults below."""

    ARGS = ["join"]

    def __init__(self, tmp_path, brokers, settings, name="join"):
        defaults = {
            "brokers": brokers,
            "http.listen": "127.0.0.1:0",
            "state.dir": os.path.join(str(tmp_path), name + "-state"),
            "broker.timeout.ms": "5000",
            "broker.unreachable.ms": "3000",
            "error.linger.ms": "3000",
        }
        defaults.update(settings)
        super().__init__(tmp_path, name, defaults)

    @property
    def state_dir(self):
        return self.settings["state.dir"]

    def start(self, wait_running=True):
        super().start()
        if wait_running:
            self.wait_state("RUNNING", T(30))
        return self

    def get(self, path):
        return self.http("GET", path, timeout_s=T(10))

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
