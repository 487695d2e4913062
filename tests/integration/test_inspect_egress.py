"""The inspect worker cannot be turned against its own network (issue 20): server-side request
forgery attempts through the real `sluice inspect-worker` (headless Chromium) - the internal URL
directly, under other spellings, through a redirect from an allowed page, through a name that
resolves to loopback, and through sub-resources (image, iframe, fetch, WebSocket) of an allowed
page - all fail with the outbound policy's sentence and nothing of the internal page reaches
the result; the internal server sees no request at all. Chromium runs with its sandbox, as an
unprivileged user when the worker is root, with limits, in a private profile."""

import json
import os
import pwd
import subprocess
import threading
import http.server
import time

import pytest

from conftest import REPO, T, sluice_bin, wait_for

RULES = os.path.join(REPO, "examples", "ocr-inspection", "rules.txt")
SECRET = "TOPSECRET internal admin page"
LOOPBACK_REFUSAL = ("refused: 127.0.0.1 is a loopback address; allow it with "
                    "egress.allow.cidrs=127.0.0.1/32")
pytestmark = pytest.mark.own_broker  # chromium and tesseract come from scripts/setup


class Server:
    """ThreadingHTTPServer on 127.0.0.1:0 answering from routes {path: (status, headers, body)}
    (a callable body gets the server); counts requests."""

    def __init__(self, routes):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                status, headers, body = routes.get(self.path.split("?")[0],
                                                   (404, {}, "not here"))
                if callable(body):
                    body = body()
                data = body.encode()
                self.send_response(status)
                for k, v in dict({"content-type": "text/html; charset=utf-8"}, **headers).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def page(title, extra=""):
    return ("<!doctype html><html><head><meta charset=utf-8><style>body{font:32px sans-serif}"
            "</style></head><body><h1>%s</h1><p>Gentle on sensitive skin</p>%s</body></html>"
            % (title, extra))


@pytest.fixture
def servers():
    internal = Server({"/secret.html": (200, {}, page(SECRET)),
                       "/secret.png": (200, {"content-type": "image/png"}, "x"),
                       "/frame.html": (200, {}, page(SECRET)),
                       "/api": (200, {"content-type": "application/json"}, '{"secret":1}')})
    ib = internal.base
    sub = ('<img src="%s/secret.png"><iframe src="%s/frame.html"></iframe>'
           '<script>fetch("%s/api").catch(function(){});'
           'try { new WebSocket("ws://127.0.0.1:%d/ws"); } catch (e) {}</script>'
           % (ib, ib, ib, internal.port))
    site = Server({"/page.html": (200, {}, page("Public page", sub)),
                   "/redirect": (302, {"location": ib + "/secret.html"}, ""),
                   "/redirect-name": (302, {"location": "http://localhost:%d/secret.html"
                                            % internal.port}, ""),
                   "/plain.html": (200, {}, page("Plain public page"))})
    yield site, internal
    site.close()
    internal.close()


def run_worker(tmp_path, allow, payloads, *extra):
    lines = "".join(json.dumps({"id": "j%d" % i, "attempt": 0, "payload": p}) + "\n"
                    for i, p in enumerate(payloads))
    # The first page of a fresh browser is slow on a loaded machine: a generous load limit.
    cmd = [sluice_bin(), "inspect-worker", "--rules", RULES, "--artifacts",
           str(tmp_path / "artifacts"), "--load-timeout-ms", str(int(T(20) * 1000))]
    if allow:
        cmd += ["--set", "egress.allow.cidrs=" + allow]
    out = subprocess.run(cmd + list(extra), input=lines, capture_output=True, text=True,
                         timeout=T(300))
    assert out.returncode == 0, out.stderr
    replies = [json.loads(l) for l in out.stdout.splitlines()]
    assert [r["id"] for r in replies] == ["j%d" % i for i in range(len(payloads))], out.stdout
    return replies, out.stderr


@pytest.mark.long
def test_ssrf_attempts_fail_with_the_policy_message_and_nothing_internal_in_the_result(
        tmp_path, servers):
    site, internal = servers
    ip = internal.port
    payloads = [
        {"url": internal.base + "/secret.html"},                      # 0 direct
        {"url": "http://localhost:%d/secret.html" % ip},              # 1 a name for loopback
        {"url": "http://[::ffff:127.0.0.1]:%d/secret.html" % ip},     # 2 IPv4-mapped
        {"url": "http://2130706433:%d/secret.html" % ip},             # 3 decimal IPv4
        {"url": "http://0.0.0.0:%d/secret.html" % ip},                # 4 this host
        {"url": site.base + "/redirect"},                             # 5 redirect from allowed
        {"url": site.base + "/redirect-name"},                        # 6 ... to a loopback name
        {"url": site.base + "/page.html"},                            # 7 sub-resources
        {"url": site.base + "/plain.html"},                           # 8 the allowed page
    ]
    # Exactly the site's port is allowed: the internal server, another port, stays refused.
    replies, log = run_worker(tmp_path, "127.0.0.1:%d" % site.port, payloads)
    text = json.dumps(replies)
    assert SECRET not in text and "TOPSECRET" not in text, text
    err = [r.get("error", "") for r in replies]
    assert err[0] == "cannot load %s/secret.html: %s" % (internal.base, LOOPBACK_REFUSAL), err[0]
    assert ("refused: localhost (127.0.0.1) is a loopback address; allow it with "
            "egress.allow.hosts=localhost or egress.allow.cidrs=127.0.0.1/32") in err[1], err[1]
    for i in (2, 3, 4):
        assert not replies[i]["ok"] and "refused: " in err[i], (i, err[i])
    assert "cannot load %s/redirect: " % site.base in err[5] and LOOPBACK_REFUSAL in err[5], err[5]
    assert "refused: localhost (127.0.0.1)" in err[6], err[6]
    sub = replies[7]
    assert sub["ok"], sub
    assert sub["result"]["blocked_requests"] >= 3, sub["result"]  # img, iframe, fetch (+ ws)
    assert "Public page" in sub["result"]["text"]
    assert replies[8]["ok"] and replies[8]["result"]["blocked_requests"] == 0, replies[8]
    assert "blocked Image %s/secret.png: %s" % (internal.base, LOOPBACK_REFUSAL) in log, log
    # Nothing, not even the WebSocket handshake, reached the internal server.
    assert internal.requests == [], internal.requests
    assert "/redirect" in site.requests and "/page.html" in site.requests


def chromium_of(worker_pid):
    """(pid, argv, uid) of the browser process the worker started, or None."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != worker_pid:
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
            with open("/proc/%s/status" % d) as f:
                uid = int(next(l for l in f if l.startswith("Uid:")).split()[1])
            with open("/proc/%s/limits" % d) as f:
                limits = f.read()
            return int(d), argv, uid, limits
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return None


def test_chromium_runs_sandboxed_as_an_unprivileged_user_with_limits(tmp_path, servers):
    site, _ = servers
    cmd = [sluice_bin(), "inspect-worker", "--rules", RULES, "--artifacts",
           str(tmp_path / "artifacts"), "--set", "egress.allow.cidrs=127.0.0.1:%d" % site.port,
           "--set", "inspect.browser.nofile.max=2048"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(json.dumps({"id": "s1", "attempt": 0,
                                     "payload": {"url": site.base + "/plain.html"}}) + "\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        assert reply["ok"], reply
        found = chromium_of(proc.pid)  # the browser stays up for the next job
        assert found, "no browser process under the worker"
        pid, argv, uid, limits = found
        assert "--no-sandbox" not in argv, argv
        assert any(a.startswith("--proxy-server=http://127.0.0.1:") for a in argv), argv
        assert "--proxy-bypass-list=<-loopback>" in argv, argv
        if os.geteuid() == 0:
            assert uid == pwd.getpwnam("nobody").pw_uid, uid
        else:
            assert uid == os.getuid()
        assert [l for l in limits.splitlines() if l.startswith("Max open files")][0].split()[3:5] \
            == ["2048", "2048"], limits
        profile = next(a.split("=", 1)[1] for a in argv if a.startswith("--user-data-dir="))
        st = os.stat(profile)
        assert st.st_mode & 0o777 == 0o700 and st.st_uid == uid, oct(st.st_mode)
        name = os.path.basename(profile)
        assert name.startswith("sluice-inspect-%d-" % proc.pid) and len(name) > len(
            "sluice-inspect-%d-" % proc.pid), name  # mkdtemp, not a predictable name
        proc.stdin.close()
        assert proc.wait(timeout=T(30)) == 0
        assert not os.path.exists(profile), "the profile is removed at exit"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_no_sandbox_only_when_asked_and_then_with_a_warning(tmp_path):
    out = subprocess.run([sluice_bin(), "inspect-worker", "--rules", RULES, "--artifacts",
                          str(tmp_path / "a"), "--set", "inspect.browser.no_sandbox=true"],
                         input="", capture_output=True, text=True, timeout=T(60))
    assert out.returncode == 0, out.stderr
    assert "WARN inspect-worker: inspect.browser.no_sandbox=true" in out.stderr, out.stderr
    out = subprocess.run([sluice_bin(), "inspect-worker", "--rules", RULES, "--artifacts",
                          str(tmp_path / "a")], input="", capture_output=True, text=True,
                         timeout=T(60))
    assert out.returncode == 0 and "WARN" not in out.stderr, out.stderr
    for bad in ("egress.allow.cidrs=127.0.0.1/33", "inspect.browser.user=no-such-user-x",
                "inspect.browser.nproc.max=-1", "egress.allow.everything=true"):
        out = subprocess.run([sluice_bin(), "inspect-worker", "--rules", RULES, "--set", bad],
                             input="", capture_output=True, text=True, timeout=T(60))
        assert out.returncode != 0 and bad.split("=")[0] in out.stderr, (bad, out.stderr)
