"""The examples behave like tools: every script answers --help with a description of each
option and exits 0, refuses an unknown argument with a message and exit 2 (before starting
anything), and its README names its options (ports included). The emergency-alert statistics
fail fast without a broker and draw a real chart; the search page says how many of the
matching products it shows. Pictures are taken and checked not to be blank."""

import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, T, create_topic, producer, sluice_bin, unique_topic, wait_for
from screenshots import assert_not_blank, keep, screenshot

EX = os.path.join(REPO, "examples")

# (script, the options its README must name)
SCRIPTS = [
    ("search-merge/run", ["--check", "--search-port", "--join-port", "SEARCH_PORT",
                          "JOIN_PORT"]),
    ("search-merge/generator.py", ["--brokers", "--products", "--updates-per-s", "--seconds"]),
    ("search-merge/indexer.py", ["--brokers", "--db", "--http"]),
    ("emergency-alert/run", ["--http", "--kafka", "--data"]),
    ("emergency-alert/stats", ["--brokers", "--out", "--timeout", "--connect-timeout"]),
    ("ocr-inspection/run", ["--pages", "--slots", "--out"]),
    ("ocr-inspection/shop.py", ["generate", "serve", "--pages", "--port"]),
]

# Required arguments, so that the unknown one is what is refused (nothing is started).
REQUIRED = {"search-merge/generator.py": ["--brokers", "127.0.0.1:1"],
            "search-merge/indexer.py": ["--brokers", "127.0.0.1:1", "--db", "/nonexistent/x"],
            "ocr-inspection/shop.py": ["generate", "/nonexistent/x"]}


def script_cmd(rel):
    path = os.path.join(EX, rel)
    return ["/usr/bin/python3", path] if rel.endswith(".py") else [path]


def run_script(rel, *args, timeout_s=None):
    p = subprocess.run(script_cmd(rel) + list(args), capture_output=True, text=True,
                       timeout=timeout_s or T(20), stdin=subprocess.DEVNULL,
                       env=dict(os.environ, SLUICE_BIN=sluice_bin()))
    return p.returncode, p.stdout, p.stderr


def test_every_example_script_is_listed_here():
    found = set()
    for d in os.listdir(EX):
        if not os.path.isdir(os.path.join(EX, d)):
            continue
        for f in os.listdir(os.path.join(EX, d)):
            path = os.path.join(EX, d, f)
            if os.path.isfile(path) and (f.endswith(".py") or os.access(path, os.X_OK)):
                found.add("%s/%s" % (d, f))
    assert found == {s for s, _ in SCRIPTS}, found


def undescribed_options(text):
    """Option lines of a usage text with no description on the line or the next one."""
    lines = text.splitlines()
    bad = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s+)(-\w, )?--[\w-]+( [A-Z_:.|\[\],]+)?\s*$", line)
        if m:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            indent = len(nxt) - len(nxt.lstrip())
            if not nxt.strip() or indent <= len(m.group(1)):
                bad.append(line.strip())
    return bad


@pytest.mark.parametrize("rel,options", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_every_example_script_answers_help_with_described_options(rel, options):
    rc, out, err = run_script(rel, "--help")
    assert rc == 0, (rc, out, err)
    assert out.startswith("usage:"), out
    assert not undescribed_options(out), undescribed_options(out)
    for opt in options:
        if opt.startswith("--"):
            assert opt in out, (opt, out)


@pytest.mark.parametrize("rel,options", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_every_example_script_rejects_an_unknown_argument_with_exit_2(rel, options):
    start = time.monotonic()
    rc, out, err = run_script(rel, *REQUIRED.get(rel, []), "--no-such-option")
    assert rc == 2, (rc, out, err)
    assert "--no-such-option" in err or "unrecognized arguments" in err, err
    assert time.monotonic() - start < T(10), "it started something first"


@pytest.mark.parametrize("rel,options", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_every_example_readme_names_its_scripts_options(rel, options):
    readme = open(os.path.join(EX, rel.split("/")[0], "README.md"), encoding="utf-8").read()
    missing = [o for o in options if o not in readme]
    assert not missing, "%s/README.md does not name %s" % (rel.split("/")[0], missing)


# ---- emergency-alert/stats ---------------------------------------------------------------

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_stats_without_a_broker_fails_fast_with_a_clear_message(tmp_path):
    start = time.monotonic()
    addr = "127.0.0.1:%d" % closed_port()
    rc, out, err = run_script("emergency-alert/stats", "--brokers", addr, "--out",
                              str(tmp_path / "a.png"), timeout_s=T(30))
    took = time.monotonic() - start
    assert rc == 1, (rc, out, err)
    assert "cannot reach the broker at %s" % addr in err, err
    assert "Traceback" not in err and "%3|" not in err, err
    assert took < T(12), "took %.1f s" % took
    assert not (tmp_path / "a.png").exists()


def test_stats_draws_a_chart_with_the_counts_per_line_and_hour(broker, tmp_path):
    p = producer(broker.bootstrap)
    counts = {"1": (3, 2), "2": (5, 1), "7": (1, 1)}
    hour_ms = (int(time.time()) // 3600 - 1) * 3600 * 1000  # the previous full hour
    for line, (alerts, accepts) in counts.items():
        for i in range(alerts):
            p.produce("an-alert", key=line, timestamp=hour_ms + 60000 * i,
                      value=json.dumps({"line": line, "location": "%s-10%d" % (line, i)}))
        for i in range(accepts):
            p.produce("an-accept", key=line,
                      value=json.dumps({"line": line, "alert": "an-alert:0:%d" % i, "by": "x"}))
    assert p.flush(T(30)) == 0
    out_png = tmp_path / "charts" / "alerts.png"
    rc, out, err = run_script("emergency-alert/stats", "--brokers", broker.bootstrap, "--out",
                              str(out_png), timeout_s=T(60))
    assert rc == 0, (out, err)
    table = {m[0]: (int(m[1]), int(m[2]))
             for m in re.findall(r"^(\d+)\s+(\d+)\s+(\d+)$", out, re.M)}
    assert table == counts, out
    assert re.search(r"^total\s+9\s+4$", out, re.M), out
    assert "chart: %s" % out_png in out
    w, h = assert_not_blank(str(out_png))
    assert w >= 800 and h >= 600, (w, h)
    keep(str(out_png))


def test_stats_writes_its_chart_into_the_examples_data_dir_by_default():
    rc, out, err = run_script("emergency-alert/stats", "--help")
    assert "data/emergency-alert/alerts.png" in out, out


# ---- search-merge: the search page -------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_the_search_page_says_how_many_of_the_matches_it_shows(broker, tmp_path):
    create_topic(broker.bootstrap, "products.merged")
    p = producer(broker.bootstrap)
    for i in range(46):
        doc = {"id": "k%02d" % i, "name": "Kettle %d, %s" % (i, ["steel", "glass"][i % 2]),
               "brand": ["Brewmaster", "Aqua", "Hearth"][i % 3], "description": "a kettle",
               "price": round(19.5 + i * 1.25, 2), "currency": "EUR", "stock": i * 3 % 17}
        if i % 9 == 4:
            del doc["price"]
        p.produce("products.merged", key=doc["id"], value=json.dumps(doc))
    p.produce("products.merged", key="t1", value=json.dumps({"name": "Toaster", "brand": "B"}))
    assert p.flush(T(30)) == 0
    port = free_port()
    log = open(tmp_path / "indexer.log", "wb")
    idx = subprocess.Popen(["/usr/bin/python3", os.path.join(EX, "search-merge", "indexer.py"),
                            "--brokers", broker.bootstrap, "--db", str(tmp_path / "s.db"),
                            "--http", str(port)], stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % port

    def total():
        try:
            with urllib.request.urlopen(base + "/search?q=kettle", timeout=5) as r:
                return json.load(r)["total"] == 46
        except OSError:
            return False
    try:
        wait_for(total, T(60), "46 kettles indexed")
        with urllib.request.urlopen(base + "/search?q=kettle", timeout=5) as r:
            body = json.load(r)
        assert len(body["hits"]) == 10 and body["total"] == 46, body
        with urllib.request.urlopen(base + "/?q=kettle", timeout=5) as r:
            page = r.read().decode()
        assert "showing 10 of 46 products" in page, page
        with urllib.request.urlopen(base + "/?q=toaster", timeout=5) as r:
            assert "1 product matching" in r.read().decode()
        shot = screenshot(base + "/?q=kettle", str(tmp_path / "search-page.png"), 1000, 760)
        assert_not_blank(shot)
    finally:
        idx.terminate()
        idx.wait(T(10))


# ---- Ctrl-C: the services stop before the broker ------------------------------------------

def processes_naming(text):
    """PIDs of this user's processes whose command line contains text (a test's own temp
    dir, so only processes the test started)."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if d.isdigit() and text.encode() in f.read():
                    pids.append(int(d))
        except OSError:
            continue
    return pids


def test_ctrl_c_on_emergency_alert_run_stops_the_gateway_before_the_broker(tmp_path):
    """Ctrl-C in a terminal signals the whole foreground process group: the script's children
    run in their own sessions, so only the script sees it and stops them in order."""
    import signal
    web = os.path.join(EX, "emergency-alert", "web", "node_modules", "@stomp", "stompjs")
    if not os.path.isdir(web):
        pytest.skip("examples/emergency-alert/web has no node_modules (test_gateway_browser "
                    "installs them)")
    http, kafka = free_port(), free_port()
    log = open(tmp_path / "run.log", "wb")
    p = subprocess.Popen([os.path.join(EX, "emergency-alert", "run"), "--http",
                          "127.0.0.1:%d" % http, "--kafka", "127.0.0.1:%d" % kafka, "--data",
                          str(tmp_path / "data")], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True,
                         env=dict(os.environ, SLUICE_BIN=sluice_bin()),
                         # a terminal's shell has SIGINT at its default; a test suite started in
                         # the background inherits it ignored, and bash cannot trap an ignored one
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def up():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/app/" % http, timeout=2):
                return True
        except OSError:
            return False
    try:
        wait_for(up, T(30), "the gateway of emergency-alert/run")
        time.sleep(1)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        t0 = time.monotonic()
        try:
            p.wait(T(60))
        except subprocess.TimeoutExpired:
            pass
        stopped_s = time.monotonic() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            # the broker and the gateway run in sessions of their own: by their data dir
            for pid in processes_naming(str(tmp_path)):
                os.kill(pid, signal.SIGKILL)
    text = open(tmp_path / "run.log", encoding="utf-8", errors="replace").read()
    assert p.returncode != -signal.SIGKILL, "still running %.0f s after Ctrl-C:\n%s" % (
        stopped_s, text[-4000:])
    gw = text.find("[gateway] signal received; stopping")
    brk = text.find("[broker] stopping")
    assert 0 <= gw < brk, text[-3000:]
    assert "brokers are down" not in text and "Connection refused" not in text, text[-3000:]
    for port in (http, kafka):
        s = socket.socket()
        assert s.connect_ex(("127.0.0.1", port)) != 0, "port %d still served" % port
        s.close()


def test_search_merge_check_passes_and_stops_the_services_before_the_broker():
    p = subprocess.run([os.path.join(EX, "search-merge", "run"), "--check", "--search-port",
                        str(free_port()), "--join-port", str(free_port())],
                       capture_output=True, text=True, timeout=T(300), stdin=subprocess.DEVNULL,
                       env=dict(os.environ, SLUICE_BIN=sluice_bin()))
    assert p.returncode == 0 and "check: ok" in p.stdout, p.stdout + p.stderr
    logs = re.search(r"run: stopped; logs in (\S+)", p.stdout).group(1)
    try:
        join_log = open(os.path.join(logs, "join.log"), errors="replace").read()
        broker_log = open(os.path.join(logs, "broker.log"), errors="replace").read()
        assert "brokers are down" not in join_log, join_log[-2000:]
        assert "stopped; logs closed cleanly" in broker_log, broker_log[-2000:]
    finally:
        import shutil
        shutil.rmtree(logs, ignore_errors=True)
