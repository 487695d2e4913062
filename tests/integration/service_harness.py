"""The process side shared by the service harnesses (jobs, gateway, join): a `sluice ...`
service started on 127.0.0.1 with HTTP port 0 (the port is read back from its stdout line
"listening on http://HOST:PORT"), stopped by PID, its stderr kept for failure messages, and a
small JSON-over-HTTP client."""

import http.client
import json
import os
import re
import signal
import subprocess
import time

from conftest import T, sluice_bin, thread_stacks


class ServiceProcess:
    """Subclasses give the subcommand (ARGS, e.g. ["jobs", "serve"]) and fill self.settings;
    every setting is passed as --set key=value."""

    ARGS = []

    def __init__(self, tmp_path, name, settings):
        self.tmp = str(tmp_path)
        self.name = name
        self.settings = {k: v for k, v in settings.items() if v is not None}  # None: unset
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.tmp, name + ".stderr")
        self.out_path = os.path.join(self.tmp, name + ".stdout")

    def command(self):
        cmd = [sluice_bin()] + self.ARGS
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def env(self):
        return None

    def start(self):
        """Starts the process and waits until it listens; fails with its stderr otherwise."""
        with open(self.stderr_path, "ab") as err, open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env(), cwd=self.tmp)
        deadline = time.monotonic() + T(20)
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                m = re.search(r"listening on http://[0-9.]+:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("%s exited %d:\n%s" % (self.name, self.proc.returncode,
                                                            self.stderr_tail()))
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("%s not listening in time:\n%s" % (self.name, self.stderr_tail()))

    def stop(self, timeout_s=None):
        """SIGTERM and the exit code (None when not running); fails if SIGTERM is ignored."""
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout_s or T(30))
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(self.proc.pid)
            self.kill9()
            raise AssertionError("%s ignored SIGTERM\n%s\n%s" % (self.name, self.stderr_tail(),
                                                                  stacks))
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

    def http(self, method, path, body=None, raw=None, headers=None, timeout_s=None):
        """Returns (status, body text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s or T(60))
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp.status, text

    def request(self, method, path, body=None, raw=None, headers=None, timeout_s=None):
        """Returns (status, parsed JSON or text)."""
        status, text = self.http(method, path, body, raw, headers, timeout_s)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text
