"""Harness for `sluice jobs` tests: the service process, HTTP helpers and a webhook receiver
that checks Standard Webhooks signatures. Processes are started on 127.0.0.1 with ephemeral
ports and stopped by PID."""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time

from conftest import T, consumer, sluice_bin, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "tools", "job_worker.py")
SECRET_KEY = b"sluice-test-secret-0123456789abc"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()


class JobsService:
    """A `sluice jobs serve` process; settings override the defaults below."""

    def __init__(self, tmp_path, brokers, settings=None, name="jobs"):
        self.tmp = str(tmp_path)
        self.name = name
        self.work_dir = os.path.join(self.tmp, name + "-work")
        os.makedirs(self.work_dir, exist_ok=True)
        self.settings = {
            "brokers": brokers,
            "http.listen": "127.0.0.1:0",
            "store.path": os.path.join(self.tmp, name + ".db"),
            "topics.prefix": "jobs",
            "topics.partitions": "2",
            "workers.slots": "4",
            "lease.ms": "3000",
            "retry.backoff.base.ms": "100",
            "retry.backoff.max.ms": "400",
            "retry.republish.ms": "2000",
            "kill.grace.ms": "500",
            "worker.id": name,
            "webhook.secret": SECRET,
            "webhook.retries": "200ms,200ms,200ms",
            "webhook.timeout.ms": "2000",
            "broker.timeout.ms": "5000",
            "type.echo.command": WORKER,
            "type.pecho.command": WORKER + " --persistent",
            "type.pecho.mode": "persistent",
        }
        self.settings.update(settings or {})
        self.settings = {k: v for k, v in self.settings.items() if v is not None}  # None: unset
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.tmp, name + ".stderr")

    def start(self):
        cmd = [sluice_bin(), "jobs", "serve"]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        env = dict(os.environ, JOBS_TEST_DIR=self.work_dir)
        out_path = os.path.join(self.tmp, self.name + ".stdout")
        with open(self.stderr_path, "ab") as err, open(out_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env, cwd=self.tmp)
        deadline = time.monotonic() + T(20)
        while time.monotonic() < deadline:
            with open(out_path) as f:
                m = re.search(r"listening on http://[0-9.]+:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("jobs exited %d:\n%s" % (self.proc.returncode,
                                                              self.stderr_tail()))
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("jobs not listening within the time limit:\n" + self.stderr_tail())

    def stop(self, timeout_s=None):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout_s or T(30))
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("jobs ignored SIGTERM")
        self.proc = None
        return rc

    def kill9(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=T(10))
            self.proc = None

    def stderr_tail(self, n=40):
        try:
            with open(self.stderr_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    # ---- HTTP ----

    def request(self, method, path, body=None, raw=None, headers=None):
        """Returns (status, parsed JSON or text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=T(60))
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def submit(self, jobs):
        status, body = self.request("POST", "/jobs", jobs)
        assert status == 202, (status, body)
        return body["id"] if isinstance(jobs, dict) else body["ids"]

    def job(self, job_id):
        status, body = self.request("GET", "/jobs/" + job_id)
        assert status == 200, (status, body)
        return body

    def wait_state(self, job_id, states, timeout_s=20):
        states = (states,) if isinstance(states, str) else states
        last = {}

        def done():
            last["job"] = self.job(job_id)
            return last["job"]["state"] in states
        try:
            wait_for(done, T(timeout_s), "job %s in %s" % (job_id, states))
        except AssertionError:
            raise AssertionError("job %s never reached %s: %s\n%s" % (
                job_id, states, last.get("job"), self.stderr_tail()))
        return last["job"]

    def count(self, state, jtype=None):
        """Jobs in state (counted by paging the list API)."""
        n, after = 0, None
        while True:
            q = "/jobs?state=%s&limit=1000" % state + ("&type=" + jtype if jtype else "")
            if after:
                q += "&after=" + after
            status, body = self.request("GET", q)
            assert status == 200, body
            n += len(body["jobs"])
            after = body.get("next_after")
            if not after:
                return n

    def runs(self):
        """Lines of the workers' run log: (id, attempt, start|end, time)."""
        path = os.path.join(self.work_dir, "runs")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [l.split() for l in f if l.strip()]


class WebhookReceiver:
    """HTTP receiver on 127.0.0.1:0 that verifies signatures; fail_first answers 500 that many
    times before answering 204."""

    def __init__(self, fail_first=0):
        self.fail_left = fail_first
        self.calls = []  # (status answered, headers, body, signature ok)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                wid = self.headers.get("webhook-id", "")
                ts = self.headers.get("webhook-timestamp", "")
                sig = self.headers.get("webhook-signature", "")
                mac = hmac.new(SECRET_KEY, ("%s.%s." % (wid, ts)).encode() + body,
                               hashlib.sha256).digest()
                good = sig == "v1," + base64.b64encode(mac).decode()
                with outer.lock:
                    status = 500 if outer.fail_left > 0 else 204
                    outer.fail_left -= 1 if outer.fail_left > 0 else 0
                    outer.calls.append((status, dict(self.headers), body, good))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dead_letters(bootstrap, n, timeout_s, topic="jobs.dead"):
    """The first n records of the jobs' error topic, read with a group of their own."""
    c = consumer(bootstrap, **{"group.id": "dlt-reader"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    c.close()
    return got
