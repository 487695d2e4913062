"""Harness for `sluice jobs` tests: the service process, HTTP helpers and a webhook receiver
that checks Standard Webhooks signatures. Processes are started on 127.0.0.1 with ephemeral
ports and stopped by PID."""

import base64
import hashlib
import hmac
import http.server
import os
import threading
import time

from conftest import T, consumer, wait_for
from service_harness import ServiceProcess

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "tools", "job_worker.py")
SECRET_KEY = b"sluice-test-secret-0123456789abc"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()
# Bearer tokens of the service (api.token, operator.token); requests carry the operator's
# unless a test passes its own authorization header (None: send none).
API_TOKEN = "api-" + os.urandom(16).hex()
OPERATOR_TOKEN = "op-" + os.urandom(16).hex()


class JobsService(ServiceProcess):
    """A `sluice jobs serve` process; settings override the defaults below (None unsets)."""

    ARGS = ["jobs", "serve"]

    def __init__(self, tmp_path, brokers, settings=None, name="jobs"):
        self.work_dir = os.path.join(str(tmp_path), name + "-work")
        os.makedirs(self.work_dir, exist_ok=True)
        defaults = {
            "brokers": brokers,
            "http.listen": "127.0.0.1:0",
            "store.path": os.path.join(str(tmp_path), name + ".db"),
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
            "api.token": API_TOKEN,
            "operator.token": OPERATOR_TOKEN,
            "webhook.retries": "200ms,200ms,200ms",
            "webhook.timeout.ms": "2000",
            # the receivers listen on loopback, which the outbound policy refuses by default
            "egress.allow.cidrs": "127.0.0.1/32",
            "broker.timeout.ms": "5000",
            "type.echo.command": WORKER,
            "type.pecho.command": WORKER + " --persistent",
            "type.pecho.mode": "persistent",
        }
        defaults.update(settings or {})
        super().__init__(tmp_path, name, defaults)

    def env(self):
        return dict(os.environ, JOBS_TEST_DIR=self.work_dir)

    # ---- HTTP ----

    def http(self, method, path, body=None, raw=None, headers=None, timeout_s=None):
        headers = dict(headers or {})
        if not any(k.lower() == "authorization" for k in headers):
            headers["authorization"] = "Bearer " + OPERATOR_TOKEN
        headers = {k: v for k, v in headers.items() if v is not None}
        return super().http(method, path, body, raw, headers, timeout_s)

    def as_token(self, token):
        """Headers that authenticate with token (None: no authorization header)."""
        return {"authorization": None if token is None else "Bearer " + token}

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
